/* pbft — FIT-SFC's ordering core for globally stateful VNFs: Castro and Liskov's PBFT among the
 * 3f+1 replicas of one VNF (FIT-SFC §III-C). Each replica's voter hands it the requests it
 * decided (FT_EV_PACKET, a demo_msg); the replicas agree on one sequence and each delivers it in
 * that order to its service (FT_ACT_DELIVER), so correct replicas of, say, a round-robin load
 * balancer give the same answers and those answers win the next vote.
 *
 * Normal case, in view v with primary group[v mod n]: the primary gives a request the next
 * sequence number and sends PRE_PREPARE(v, n, d, request); a backup that holds the same request
 * itself (from its own voter: a faulty primary cannot make it order a request no client sent)
 * sends PREPARE(v, n, d) to all; 'prepared' is the pre-prepare plus 2f matching prepares of
 * distinct backups; a prepared replica sends COMMIT(v, n, d); 'committed' is 2f+1 matching
 * commits. Committed requests execute in sequence order, each (client, counter) at most once.
 *
 * Checkpoints: every 'checkpoint' executions a replica sends CHECKPOINT(n, digest of the executed
 * sequence); 2f+1 matching ones make n stable. Garbage collection: the votes of seqs up to the
 * stable checkpoint are freed, and whole entries once 'keep' seqs below it (they stay that long
 * to answer a lagging replica's FETCH). Pre-prepares are accepted only in (stable, stable +
 * 'window'], which bounds the log. A replica that sees f+1 checkpoints above what it executed,
 * or times out, asks for the committed entries (FETCH); it takes an entry on f+1 identical
 * COMMITTED answers (one is from a correct replica, which committed it).
 *
 * View change: a backup whose oldest pending request waited 'timeout' (after one FETCH, in case
 * it only lagged), or told its primary is down, moves to v+1 and sends VIEW_CHANGE(v+1, h, low,
 * P, Q) to all: P its latest prepared entry per seq (with the request), Q its latest
 * pre-prepared one. Messages carry no signatures (only the link's MAC, which a third party
 * cannot check), so PBFT's MAC variant is used: every replica relays each VIEW_CHANGE it got
 * directly (VC_RELAY); a replica holds a VIEW_CHANGE of j as authentic if j sent it directly or
 * f+1 others relayed the same bytes. The new primary uses j's message once 2f+1 replicas vouch
 * for it (itself, j, relayers), so that every correct replica will also hold it as authentic,
 * and sends NEW_VIEW: only the senders and digests of the set S it chose. Every replica then
 * computes the new view's pre-prepares from S itself, by the same deterministic rule:
 *  - h' = the (f+1)-th largest h in S (some correct replica's stable checkpoint is at least h':
 *    everything up to h' is committed; a replica behind fetches it);
 *  - seq n above h' gets digest d of a P entry (n, d, v) when (A1) 2f+1 messages of S have
 *    low < n and no P entry for n that contradicts (one of a higher view, or of view v with
 *    another digest), and (A2) f+1 messages of S have a Q entry (n, d, v' >= v); it gets the null
 *    request when (B) 2f+1 messages have low < n and no P entry for n; if neither holds the
 *    primary waits for more messages (a backup rejects the NEW_VIEW and its timer moves on).
 * A1 keeps a committed request (its 2f+1 preparers meet any 2f+1 in a correct one, which never
 * prepared anything else for n later); A2 keeps a liar's invented entry out (a correct replica
 * must have seen it pre-prepared). Timeouts double with each view change in a row (liveness);
 * f+1 VIEW_CHANGEs for higher views make a replica join the smallest.
 *
 * Needs authenticated senders (ftstage seals peer messages with a MAC under the
 * instance's key; the simulator's links are authenticated). Requests and replies are not
 * signed: requests come from the replica's own voter, and the replies are voted on downstream.
 *
 * Parameters: timeout (duration, default 50ms), checkpoint (default 16), window (default 64,
 * a multiple of checkpoint), keep (executed seqs kept below the stable checkpoint, default 64),
 * max_pending (requests waiting, default 4096), history (executed (client, counter) names
 * remembered, default 65536). Config: f and group (exactly 3f+1 replicas, self among them, at
 * most 64).
 *
 * Recovery (FT_EV_START with an incarnation: the replica was restarted empty, e.g. by FIT-SFC's
 * controller): it fetches the committed log from 1, window after window, taking each entry on
 * f+1 identical COMMITTED answers, and counts the checkpoints it so executed as stable; each
 * answer names its sender's last installed view, and the (f+1)-th highest of those (one correct
 * replica installed it) becomes its view. Until then it proposes nothing as primary and starts
 * no view change of its own. No state image is transferred: what the others collected (older
 * than 'keep' below their stable checkpoint) cannot be had, and such a replica stays behind
 * (tests/sim pbft-recover-f1/f2). */
#include "vnfs/ft/fitsfc/pbft.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/cursor.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/demo/demo.h"
#include "vnfs/ft/u64map.h"

/* tests/sim/broken_pbft.c compiles this file again with PBFT_BROKEN defined: that replica is
 * prepared on f prepares and commits on f+1 commits, quorums that two disjoint sets of correct
 * replicas can each reach with the same liar. Test binaries only. */
#ifdef PBFT_BROKEN
#define PBFT_CLASS ft_pbft_broken_class
#define PBFT_NAME "pbft-broken"
#define PBFT_PREPARE_QUORUM(f) (f)
#define PBFT_COMMIT_QUORUM(f) ((f) + 1)
#else
#define PBFT_CLASS ft_pbft_class
#define PBFT_NAME "pbft"
#define PBFT_PREPARE_QUORUM(f) (2 * (f))
#define PBFT_COMMIT_QUORUM(f) (2 * (f) + 1)
#endif

#define PBFT_TIMER_REQUEST 1
#define PBFT_TIMER_VIEW 2

static const uint8_t pbft_null_digest[PBFT_DIGEST_LEN];

static void
pbft_put_hdr(struct buf *b, enum pbft_type type, uint64_t view, uint64_t seq)
{
    buf_put_be32(b, PBFT_MAGIC);
    buf_put_u8(b, type);
    buf_put_u8(b, 0);
    buf_put_u8(b, 0);
    buf_put_u8(b, 0);
    buf_put_be64(b, view);
    buf_put_be64(b, seq);
}

/* ---- The core. ---- */

struct pbft_vote {
    uint8_t type;               /* PBFT_PREPARE, PBFT_COMMIT, PBFT_COMMITTED. */
    uint8_t idx;
    uint64_t view;
    uint8_t digest[PBFT_DIGEST_LEN];
    uint8_t *req;               /* COMMITTED only. */
    size_t req_len;
};

struct pbft_entry {
    uint64_t seq;
    /* The pre-prepare of the current view. */
    bool has_pp, prepare_sent, prepared_now;
    uint64_t pp_view;
    uint8_t pp_digest[PBFT_DIGEST_LEN];
    uint8_t *pp_req;
    size_t pp_len;
    /* The latest prepared (or committed) value: P of a VIEW_CHANGE, and what executes. */
    bool has_prep;
    uint64_t prep_view;
    uint8_t prep_digest[PBFT_DIGEST_LEN];
    uint8_t *prep_req;
    size_t prep_len;
    /* The latest pre-prepared: Q. */
    bool has_q;
    uint64_t q_view;
    uint8_t q_digest[PBFT_DIGEST_LEN];
    bool committed, executed;
    struct pbft_vote *votes;
    size_t n_votes, cap_votes;
};

struct pbft_req {
    uint64_t name;
    uint8_t *data;              /* Origin zeroed: the same bytes at every replica. */
    size_t len;
    uint8_t digest[PBFT_DIGEST_LEN];
    uint64_t since;
    uint64_t proposed_in;       /* View + 1 the primary proposed it in; 0: not. */
};

struct pbft_ckpt {
    uint64_t seq;
    uint64_t have;              /* Bit per replica index. */
    uint8_t digest[PBFT_MAX_GROUP][PBFT_DIGEST_LEN];
    bool own;
};

/* A VIEW_CHANGE of 'sender' for 'view', with who vouches for these exact bytes. */
struct pbft_vcrec {
    uint64_t view;
    uint32_t sender;            /* Index. */
    uint8_t digest[PBFT_DIGEST_LEN];
    uint8_t *data;
    size_t len;
    bool direct;
    uint64_t relayers;          /* Bit per index: relayed it to us. */
};

struct pbft_future {
    uint32_t idx;
    uint64_t view;
    uint8_t *data;
    size_t len;
};

struct pbft {
    struct ft_core up;
    uint32_t self;
    size_t me;
    uint32_t f;
    uint32_t *group;
    size_t n;
    uint64_t timeout_ns, interval, window, keep, max_pending, n_history;

    uint64_t view;
    uint64_t installed;         /* The last view installed (or learnt, recovering). */
    bool in_vc;
    unsigned vc_round;          /* View changes in a row without progress: timeout doubles. */
    uint64_t stable;            /* Stable checkpoint. */
    uint64_t base;              /* Low watermark: max(stable, the last new view's h'). */
    uint64_t last_exec;
    uint8_t chain[PBFT_DIGEST_LEN];     /* Digest of the executed sequence. */
    uint64_t next_seq;          /* Primary: the next number to assign. */
    uint64_t fetched_to;        /* Highest seq asked for after seeing f+1 checkpoints. */
    uint64_t fetch_mark;        /* last_exec + 1 when a timeout last fetched. */
    bool req_timer;
    /* A restarted replica catching up: it fetches window after window until answers stop,
     * and learns the view from the COMMITTED answers (view_seen: per replica, the highest
     * installed view its answers named). */
    bool catching_up;
    /* Restarted, and no view installed or learnt since: it proposes nothing as primary (it
     * does not know the numbers it gave before) and starts no view change of its own (it
     * missed the messages of any view change under way, and alone it would only climb
     * views the others never join); it still joins one that f+1 others started. */
    bool recovering;
    uint64_t catchup_to;
    uint64_t view_seen[PBFT_MAX_GROUP];

    struct u64map log;          /* seq -> struct pbft_entry *. */
    struct u64map ckpts;        /* seq -> struct pbft_ckpt *. */
    struct u64map executed;     /* name -> seq. */
    uint64_t *ring;
    size_t ring_head, ring_n;
    struct pbft_req **pending;  /* In arrival order. */
    size_t n_pending, cap_pending;
    struct pbft_vcrec *vcs;
    size_t n_vcs, cap_vcs;
    uint8_t *nv;                /* A NEW_VIEW waiting for the VIEW_CHANGEs it names. */
    size_t nv_len;
    uint64_t nv_sent;           /* Primary: view + 1 of the last NEW_VIEW it sent. */
    struct pbft_future *future;
    size_t n_future, cap_future;
    struct buf msg;
};

static struct pbft *
pbft_cast(const struct ft_core *core)
{
    return (struct pbft *) core;
}

static uint64_t
pbft_name(const uint8_t *req, size_t len)
{
    struct demo_msg m;
    uint8_t key[12];

    if (!demo_msg_parse(req, len, &m)) {
        return 0;
    }
    for (int i = 0; i < 4; i++) {
        key[i] = m.client >> (24 - 8 * i);
    }
    for (int i = 0; i < 8; i++) {
        key[4 + i] = m.req_id >> (56 - 8 * i);
    }
    return ft_hash_bytes(key, sizeof key, 0x70626674);
}

static size_t
pbft_primary(const struct pbft *p, uint64_t view)
{
    return view % p->n;
}

static long
pbft_index(const struct pbft *p, uint32_t endpoint)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->group[i] == endpoint) {
            return i;
        }
    }
    return -1;
}

static uint8_t *
pbft_dup(const uint8_t *data, size_t len)
{
    uint8_t *copy = xmalloc(len ? len : 1);

    if (len) {
        memcpy(copy, data, len);
    }
    return copy;
}

static int
pbft_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    uint64_t timeout, interval, window, keep, max_pending, history;
    struct pbft *p;
    long me = -1;
    int error;

    if (cfg->n_group != 3 * (size_t) cfg->f + 1 || cfg->n_group > PBFT_MAX_GROUP) {
        if (errp) {
            *errp = xasprintf("pbft: needs 3f+1 = %u replicas (at most %d), got %zu",
                              3 * cfg->f + 1, PBFT_MAX_GROUP, cfg->n_group);
        }
        return EINVAL;
    }
    for (size_t i = 0; i < cfg->n_group; i++) {
        if (cfg->group[i] == cfg->self) {
            me = i;
        }
    }
    if (me < 0) {
        if (errp) {
            *errp = xasprintf("pbft: endpoint %u is not in its group", cfg->self);
        }
        return EINVAL;
    }
    error = ft_config_duration(cfg, "timeout", 50 * 1000 * 1000, &timeout, errp);
    error = error ? error : ft_config_u64(cfg, "checkpoint", 16, &interval, errp);
    error = error ? error : ft_config_u64(cfg, "window", 4 * interval, &window, errp);
    error = error ? error : ft_config_u64(cfg, "keep", 64, &keep, errp);
    error = error ? error : ft_config_u64(cfg, "max_pending", 4096, &max_pending, errp);
    error = error ? error : ft_config_u64(cfg, "history", 65536, &history, errp);
    if (!error && (!timeout || !interval || window < interval || window % interval
                   || window > (1u << 20) || keep < interval || keep > (1u << 24)
                   || !max_pending || !history || history > (1u << 24))) {
        if (errp) {
            *errp = xasprintf("pbft: timeout, checkpoint, max_pending and history must be > 0, "
                              "window a multiple of checkpoint (at most 2^20), keep at least "
                              "checkpoint, history and keep at most 2^24");
        }
        error = EINVAL;
    }
    if (error) {
        return error;
    }
    p = xzalloc(sizeof *p);
    p->self = cfg->self;
    p->me = me;
    p->f = cfg->f;
    p->n = cfg->n_group;
    p->group = xmalloc(p->n * sizeof *p->group);
    memcpy(p->group, cfg->group, p->n * sizeof *p->group);
    p->timeout_ns = timeout;
    p->interval = interval;
    p->window = window;
    p->keep = keep;
    p->max_pending = max_pending;
    p->n_history = history;
    p->next_seq = 1;
    p->ring = xmalloc(history * sizeof *p->ring);
    u64map_init(&p->log);
    u64map_init(&p->ckpts);
    u64map_init(&p->executed);
    buf_init(&p->msg);
    *corep = &p->up;
    return 0;
}

static void
pbft_entry_free(struct pbft_entry *e)
{
    for (size_t i = 0; i < e->n_votes; i++) {
        free(e->votes[i].req);
    }
    free(e->votes);
    free(e->pp_req);
    free(e->prep_req);
    free(e);
}

static void
pbft_req_free(struct pbft_req *r)
{
    free(r->data);
    free(r);
}

static void
pbft_destroy(struct ft_core *core)
{
    struct pbft *p = pbft_cast(core);
    const struct u64map_slot *slot;

    for (size_t pos = 0; u64map_next(&p->log, &pos, &slot);) {
        pbft_entry_free((struct pbft_entry *) (uintptr_t) slot->value);
    }
    for (size_t pos = 0; u64map_next(&p->ckpts, &pos, &slot);) {
        free((void *) (uintptr_t) slot->value);
    }
    for (size_t i = 0; i < p->n_pending; i++) {
        pbft_req_free(p->pending[i]);
    }
    for (size_t i = 0; i < p->n_vcs; i++) {
        free(p->vcs[i].data);
    }
    for (size_t i = 0; i < p->n_future; i++) {
        free(p->future[i].data);
    }
    u64map_destroy(&p->log);
    u64map_destroy(&p->ckpts);
    u64map_destroy(&p->executed);
    free(p->pending);
    free(p->vcs);
    free(p->future);
    free(p->nv);
    free(p->ring);
    free(p->group);
    buf_uninit(&p->msg);
    free(p);
}

static void
pbft_send_all(struct pbft *p, struct ft_actions *out)
{
    for (size_t i = 0; i < p->n; i++) {
        if (i != p->me) {
            ft_emit_send(out, p->group[i], p->msg.data, p->msg.len);
        }
    }
}

static struct pbft_entry *
pbft_entry_find(const struct pbft *p, uint64_t seq)
{
    uint64_t value;

    return u64map_get(&p->log, seq, &value) ? (struct pbft_entry *) (uintptr_t) value : NULL;
}

static struct pbft_entry *
pbft_entry_get(struct pbft *p, uint64_t seq)
{
    struct pbft_entry *e = pbft_entry_find(p, seq);

    if (!e) {
        e = xzalloc(sizeof *e);
        e->seq = seq;
        u64map_put(&p->log, seq, (uintptr_t) e);
    }
    return e;
}

static struct pbft_req *
pbft_pending_find(const struct pbft *p, uint64_t name, size_t *posp)
{
    for (size_t i = 0; i < p->n_pending; i++) {
        if (p->pending[i]->name == name) {
            if (posp) {
                *posp = i;
            }
            return p->pending[i];
        }
    }
    return NULL;
}

static void
pbft_pending_remove(struct pbft *p, uint64_t name)
{
    size_t pos;
    struct pbft_req *r = pbft_pending_find(p, name, &pos);

    if (r) {
        memmove(&p->pending[pos], &p->pending[pos + 1],
                (p->n_pending - pos - 1) * sizeof *p->pending);
        p->n_pending--;
        pbft_req_free(r);
    }
}

/* Adds a vote unless this replica already cast one of this type in this view. */
static bool
pbft_vote_add(struct pbft_entry *e, uint8_t type, size_t idx, uint64_t view,
              const uint8_t digest[PBFT_DIGEST_LEN], const uint8_t *req, size_t req_len)
{
    struct pbft_vote *v;

    for (size_t i = 0; i < e->n_votes; i++) {
        if (e->votes[i].type == type && e->votes[i].idx == idx
            && (type == PBFT_COMMITTED || e->votes[i].view == view)) {
            return false;
        }
    }
    if (e->n_votes == e->cap_votes) {
        e->votes = x2nrealloc(e->votes, &e->cap_votes, sizeof *e->votes);
    }
    v = &e->votes[e->n_votes++];
    memset(v, 0, sizeof *v);
    v->type = type;
    v->idx = idx;
    v->view = view;
    memcpy(v->digest, digest, PBFT_DIGEST_LEN);
    if (req) {
        v->req = pbft_dup(req, req_len);
        v->req_len = req_len;
    }
    return true;
}

static size_t
pbft_vote_count(const struct pbft_entry *e, uint8_t type, uint64_t view,
                const uint8_t digest[PBFT_DIGEST_LEN], long exclude)
{
    size_t n = 0;

    for (size_t i = 0; i < e->n_votes; i++) {
        const struct pbft_vote *v = &e->votes[i];
        n += v->type == type && (type == PBFT_COMMITTED || v->view == view)
             && v->idx != exclude && !memcmp(v->digest, digest, PBFT_DIGEST_LEN);
    }
    return n;
}

/* Drops votes of views before 'view' (their quorums can no longer form). */
static void
pbft_votes_prune(struct pbft_entry *e, uint64_t view)
{
    size_t k = 0;

    for (size_t i = 0; i < e->n_votes; i++) {
        if (e->votes[i].type == PBFT_COMMITTED || e->votes[i].view >= view) {
            e->votes[k++] = e->votes[i];
        } else {
            free(e->votes[i].req);
        }
    }
    e->n_votes = k;
}

static void
pbft_set_pp(struct pbft_entry *e, uint64_t view, const uint8_t digest[PBFT_DIGEST_LEN],
            const uint8_t *req, size_t len)
{
    free(e->pp_req);
    e->has_pp = true;
    e->prepare_sent = e->prepared_now = false;
    e->pp_view = view;
    memcpy(e->pp_digest, digest, PBFT_DIGEST_LEN);
    e->pp_req = pbft_dup(req, len);
    e->pp_len = len;
    e->has_q = true;
    e->q_view = view;
    memcpy(e->q_digest, digest, PBFT_DIGEST_LEN);
}

static void
pbft_set_prep(struct pbft_entry *e, uint64_t view, const uint8_t digest[PBFT_DIGEST_LEN],
              const uint8_t *req, size_t len)
{
    uint8_t *copy = pbft_dup(req, len);

    free(e->prep_req);
    e->has_prep = true;
    e->prep_view = view;
    memcpy(e->prep_digest, digest, PBFT_DIGEST_LEN);
    e->prep_req = copy;
    e->prep_len = len;
}

static void
pbft_remember(struct pbft *p, uint64_t name, uint64_t seq)
{
    if (p->ring_n == p->n_history) {
        u64map_remove(&p->executed, p->ring[p->ring_head], NULL);
        p->ring_head = (p->ring_head + 1) % p->n_history;
        p->ring_n--;
    }
    p->ring[(p->ring_head + p->ring_n++) % p->n_history] = name;
    u64map_put(&p->executed, name, seq);
}

static void pbft_check_progress(struct pbft *, struct pbft_entry *, struct ft_actions *);
static void pbft_propose_pending(struct pbft *, struct ft_actions *);

static void
pbft_send_fetch(struct pbft *p, uint64_t first, uint64_t last, struct ft_actions *out)
{
    if (last < first) {
        return;
    }
    last = MIN(last, first + p->window - 1);
    buf_clear(&p->msg);
    pbft_put_hdr(&p->msg, PBFT_FETCH, p->view, first);
    buf_put_be64(&p->msg, last);
    pbft_send_all(p, out);
}

static void
pbft_arm_request_timer(struct pbft *p, uint64_t at, struct ft_actions *out)
{
    ft_emit_timer(out, PBFT_TIMER_REQUEST, at);
    p->req_timer = true;
}

/* Frees what the stable checkpoint made useless. */
static void
pbft_collect(struct pbft *p)
{
    uint64_t low = p->stable > p->keep ? p->stable - p->keep : 0;
    const struct u64map_slot *slot;
    uint64_t *doomed;
    size_t n = 0;

    doomed = xmalloc((u64map_count(&p->ckpts) + u64map_count(&p->log) + 1) * sizeof *doomed);
    for (size_t pos = 0; u64map_next(&p->ckpts, &pos, &slot);) {
        if (slot->key <= p->stable) {
            doomed[n++] = slot->key;
        }
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t value;

        u64map_remove(&p->ckpts, doomed[i], &value);
        free((void *) (uintptr_t) value);
    }
    n = 0;
    for (size_t pos = 0; u64map_next(&p->log, &pos, &slot);) {
        struct pbft_entry *e = (struct pbft_entry *) (uintptr_t) slot->value;

        if (e->seq <= low && e->executed) {
            doomed[n++] = e->seq;
        } else if (e->seq <= p->stable && e->n_votes) {
            for (size_t i = 0; i < e->n_votes; i++) {
                free(e->votes[i].req);
            }
            e->n_votes = 0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t value;

        u64map_remove(&p->log, doomed[i], &value);
        pbft_entry_free((struct pbft_entry *) (uintptr_t) value);
    }
    free(doomed);
}

static void
pbft_check_stable(struct pbft *p, uint64_t seq, struct ft_actions *out)
{
    struct pbft_ckpt *c;
    uint64_t value;
    size_t match = 0;

    if (seq <= p->stable || !u64map_get(&p->ckpts, seq, &value)) {
        return;
    }
    c = (struct pbft_ckpt *) (uintptr_t) value;
    if (!c->own) {
        return;
    }
    for (size_t i = 0; i < p->n; i++) {
        match += (c->have >> i & 1) && !memcmp(c->digest[i], c->digest[p->me], PBFT_DIGEST_LEN);
    }
    if (match >= 2 * (size_t) p->f + 1) {
        p->stable = seq;
        p->base = MAX(p->base, seq);
        pbft_collect(p);
        pbft_propose_pending(p, out);
    }
}

static struct pbft_ckpt *
pbft_ckpt_get(struct pbft *p, uint64_t seq)
{
    uint64_t value;
    struct pbft_ckpt *c;

    if (u64map_get(&p->ckpts, seq, &value)) {
        return (struct pbft_ckpt *) (uintptr_t) value;
    }
    c = xzalloc(sizeof *c);
    c->seq = seq;
    u64map_put(&p->ckpts, seq, (uintptr_t) c);
    return c;
}

static void
pbft_execute(struct pbft *p, struct ft_actions *out)
{
    struct pbft_entry *e;
    bool progress = false;

    while ((e = pbft_entry_find(p, p->last_exec + 1)) && e->committed && !e->executed) {
        crypto_generichash_state st;

        if (e->prep_len) {
            uint64_t name = pbft_name(e->prep_req, e->prep_len);

            if (!u64map_get(&p->executed, name, NULL)) {
                ft_emit_deliver(out, e->prep_req, e->prep_len);
                pbft_remember(p, name, e->seq);
            } else {
                ft_emit_drop(out, FT_DROP_DUPLICATE, NULL, 0);
            }
            pbft_pending_remove(p, name);
        }
        crypto_generichash_init(&st, NULL, 0, PBFT_DIGEST_LEN);
        crypto_generichash_update(&st, p->chain, PBFT_DIGEST_LEN);
        crypto_generichash_update(&st, e->prep_digest, PBFT_DIGEST_LEN);
        crypto_generichash_final(&st, p->chain, PBFT_DIGEST_LEN);
        e->executed = true;
        p->last_exec = e->seq;
        progress = true;
        if (e->seq % p->interval == 0) {
            struct pbft_ckpt *c = pbft_ckpt_get(p, e->seq);

            c->own = true;
            c->have |= 1ull << p->me;
            memcpy(c->digest[p->me], p->chain, PBFT_DIGEST_LEN);
            buf_clear(&p->msg);
            pbft_put_hdr(&p->msg, PBFT_CHECKPOINT, 0, e->seq);
            buf_put(&p->msg, p->chain, PBFT_DIGEST_LEN);
            pbft_send_all(p, out);
            pbft_check_stable(p, e->seq, out);
        }
    }
    if (progress) {
        p->vc_round = 0;
        if (!p->n_pending && p->req_timer) {
            ft_emit_cancel(out, PBFT_TIMER_REQUEST);
            p->req_timer = false;
        }
    }
}

/* A backup prepares only a request it holds itself (or the null request, or one it already
 * executed, which runs as a no-op): a faulty primary cannot slip in a request no voter passed. */
static bool
pbft_can_prepare(const struct pbft *p, const struct pbft_entry *e)
{
    uint64_t name;
    const struct pbft_req *r;

    if (!e->pp_len) {
        return true;
    }
    name = pbft_name(e->pp_req, e->pp_len);
    if (u64map_get(&p->executed, name, NULL)) {
        return true;
    }
    r = pbft_pending_find(p, name, NULL);
    return r && !memcmp(r->digest, e->pp_digest, PBFT_DIGEST_LEN);
}

static void
pbft_try_prepare(struct pbft *p, struct pbft_entry *e, struct ft_actions *out)
{
    if (!e->has_pp || e->pp_view != p->view || p->in_vc || e->prepare_sent
        || p->me == pbft_primary(p, p->view) || !pbft_can_prepare(p, e)) {
        return;
    }
    e->prepare_sent = true;
    pbft_vote_add(e, PBFT_PREPARE, p->me, p->view, e->pp_digest, NULL, 0);
    buf_clear(&p->msg);
    pbft_put_hdr(&p->msg, PBFT_PREPARE, p->view, e->seq);
    buf_put(&p->msg, e->pp_digest, PBFT_DIGEST_LEN);
    pbft_send_all(p, out);
}

static void
pbft_check_progress(struct pbft *p, struct pbft_entry *e, struct ft_actions *out)
{
    if (!e->has_pp || e->pp_view != p->view || p->in_vc) {
        return;
    }
    if (!e->prepared_now
        && pbft_vote_count(e, PBFT_PREPARE, p->view, e->pp_digest, pbft_primary(p, p->view))
           >= PBFT_PREPARE_QUORUM(p->f)) {
        e->prepared_now = true;
        if (e->committed && memcmp(e->prep_digest, e->pp_digest, PBFT_DIGEST_LEN)) {
            ft_emit_note(out, "pbft: seq %llu prepared with another digest than committed",
                         (unsigned long long) e->seq);
        } else {
            pbft_set_prep(e, p->view, e->pp_digest, e->pp_req, e->pp_len);
        }
        pbft_vote_add(e, PBFT_COMMIT, p->me, p->view, e->pp_digest, NULL, 0);
        buf_clear(&p->msg);
        pbft_put_hdr(&p->msg, PBFT_COMMIT, p->view, e->seq);
        buf_put(&p->msg, e->pp_digest, PBFT_DIGEST_LEN);
        pbft_send_all(p, out);
    }
    if (e->prepared_now && !e->committed
        && pbft_vote_count(e, PBFT_COMMIT, p->view, e->pp_digest, -1)
           >= PBFT_COMMIT_QUORUM(p->f)) {
        e->committed = true;
        pbft_execute(p, out);
    }
}

static void
pbft_propose_pending(struct pbft *p, struct ft_actions *out)
{
    /* A restarted primary does not know which numbers it gave before its crash: it would
     * give them again to other requests. The backups change the view away from it. */
    if (p->in_vc || p->me != pbft_primary(p, p->view) || p->recovering) {
        return;
    }
    for (size_t i = 0; i < p->n_pending; i++) {
        struct pbft_req *r = p->pending[i];
        struct pbft_entry *e;

        if (r->proposed_in == p->view + 1) {
            continue;
        }
        if (p->next_seq <= p->base) {
            p->next_seq = p->base + 1;
        }
        if (p->next_seq > p->base + p->window) {
            break;
        }
        e = pbft_entry_get(p, p->next_seq++);
        if (e->has_pp && e->pp_view == p->view) {
            continue;               /* Taken by the new view's set: try the next number. */
        }
        r->proposed_in = p->view + 1;
        pbft_set_pp(e, p->view, r->digest, r->data, r->len);
        buf_clear(&p->msg);
        pbft_put_hdr(&p->msg, PBFT_PRE_PREPARE, p->view, e->seq);
        buf_put(&p->msg, r->digest, PBFT_DIGEST_LEN);
        buf_put(&p->msg, r->data, r->len);
        pbft_send_all(p, out);
        pbft_check_progress(p, e, out);
    }
}

static void
pbft_on_request(struct pbft *p, const struct ft_event *ev, struct ft_actions *out)
{
    struct demo_msg m;
    struct pbft_req *r;
    uint64_t name;

    if (!demo_msg_parse(ev->data, ev->len, &m)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        return;
    }
    name = pbft_name(ev->data, ev->len);
    if (u64map_get(&p->executed, name, NULL) || pbft_pending_find(p, name, NULL)) {
        ft_emit_drop(out, FT_DROP_DUPLICATE, ev->data, ev->len);
        return;
    }
    if (p->n_pending >= p->max_pending) {
        ft_emit_drop(out, FT_DROP_OVERLOAD, ev->data, ev->len);
        return;
    }
    r = xzalloc(sizeof *r);
    r->name = name;
    r->len = ev->len;
    r->data = pbft_dup(ev->data, ev->len);
    memset(r->data + DEMO_ORIGIN_OFS, 0, 4);
    pbft_request_digest(r->data, r->len, r->digest);
    r->since = ev->now_ns;
    if (p->n_pending == p->cap_pending) {
        p->pending = x2nrealloc(p->pending, &p->cap_pending, sizeof *p->pending);
    }
    p->pending[p->n_pending++] = r;
    if (!p->req_timer) {
        pbft_arm_request_timer(p, ev->now_ns + (p->timeout_ns << MIN(p->vc_round, 10)), out);
    }
    /* A pre-prepare that waited for this request may now be prepared. */
    for (uint64_t s = p->base + 1; s <= p->base + p->window; s++) {
        struct pbft_entry *e = pbft_entry_find(p, s);

        if (e && e->has_pp && !e->prepare_sent && !memcmp(e->pp_digest, r->digest, 16)) {
            pbft_try_prepare(p, e, out);
            pbft_check_progress(p, e, out);
        }
    }
    pbft_propose_pending(p, out);
}

static void
pbft_on_pre_prepare(struct pbft *p, size_t idx, const struct pbft_msg *m,
                    const struct ft_event *ev, struct ft_actions *out)
{
    struct pbft_entry *e;

    if (m->view < p->view) {
        ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        return;
    }
    if (m->view > p->view || p->in_vc) {
        /* For a view not installed yet: kept until its NEW_VIEW arrives. */
        if (m->view > p->view + p->n || p->n_future >= 2 * p->window) {
            ft_emit_drop(out, FT_DROP_OVERLOAD, NULL, 0);
            return;
        }
        if (p->n_future == p->cap_future) {
            p->future = x2nrealloc(p->future, &p->cap_future, sizeof *p->future);
        }
        p->future[p->n_future++] = (struct pbft_future) {
            .idx = idx, .view = m->view, .data = pbft_dup(ev->data, ev->len), .len = ev->len,
        };
        return;
    }
    if (idx != pbft_primary(p, m->view)) {
        ft_emit_drop(out, FT_DROP_UNKNOWN_SENDER, NULL, 0);
        return;
    }
    if (m->seq <= p->base || m->seq > p->base + p->window) {
        ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        return;
    }
    e = pbft_entry_get(p, m->seq);
    if (e->has_pp && e->pp_view == m->view) {
        ft_emit_drop(out, FT_DROP_DUPLICATE, NULL, 0);
        if (memcmp(e->pp_digest, m->digest, PBFT_DIGEST_LEN)) {
            ft_emit_note(out, "pbft: primary %u sent two pre-prepares for view %llu seq %llu",
                         p->group[idx], (unsigned long long) m->view,
                         (unsigned long long) m->seq);
        }
        return;
    }
    pbft_set_pp(e, m->view, m->digest, m->req, m->req_len);
    pbft_try_prepare(p, e, out);
    pbft_check_progress(p, e, out);
}

static void
pbft_on_vote(struct pbft *p, size_t idx, const struct pbft_msg *m, struct ft_actions *out)
{
    struct pbft_entry *e;

    if (m->view < p->view || m->seq <= p->base) {
        ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        return;
    }
    if (m->view > p->view + p->n || m->seq > p->base + 4 * p->window) {
        ft_emit_drop(out, FT_DROP_OVERLOAD, NULL, 0);
        return;
    }
    if (m->type == PBFT_PREPARE && idx == pbft_primary(p, m->view)) {
        ft_emit_drop(out, FT_DROP_UNKNOWN_SENDER, NULL, 0);
        return;
    }
    e = pbft_entry_get(p, m->seq);
    if (!pbft_vote_add(e, m->type, idx, m->view, m->digest, NULL, 0)) {
        ft_emit_drop(out, FT_DROP_DUPLICATE, NULL, 0);
        return;
    }
    pbft_check_progress(p, e, out);
}

static void
pbft_on_checkpoint(struct pbft *p, size_t idx, const struct pbft_msg *m,
                   struct ft_actions *out)
{
    struct pbft_ckpt *c;
    size_t heard = 0;

    if (m->seq <= p->stable || m->seq % p->interval) {
        ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        return;
    }
    if (m->seq > p->stable + 4 * p->window) {
        ft_emit_drop(out, FT_DROP_OVERLOAD, NULL, 0);
        return;
    }
    c = pbft_ckpt_get(p, m->seq);
    if (c->have >> idx & 1) {
        ft_emit_drop(out, FT_DROP_DUPLICATE, NULL, 0);
        return;
    }
    c->have |= 1ull << idx;
    memcpy(c->digest[idx], m->digest, PBFT_DIGEST_LEN);
    for (size_t i = 0; i < p->n; i++) {
        heard += (c->have >> i & 1) && i != p->me;
    }
    /* f+1 replicas say they executed past us: one is correct, so we lag. */
    if (heard >= p->f + 1 && m->seq > p->last_exec && m->seq > p->fetched_to) {
        pbft_send_fetch(p, p->last_exec + 1, m->seq, out);
        p->fetched_to = m->seq;
    }
    pbft_check_stable(p, m->seq, out);
}

static void
pbft_on_fetch(struct pbft *p, size_t idx, const struct pbft_msg *m, struct ft_actions *out)
{
    uint64_t last = MIN(m->last, m->seq + p->window - 1);

    for (uint64_t s = m->seq; s <= last && s <= p->last_exec; s++) {
        struct pbft_entry *e = pbft_entry_find(p, s);

        if (e && e->executed) {
            buf_clear(&p->msg);
            pbft_put_hdr(&p->msg, PBFT_COMMITTED, p->installed, s);
            buf_put(&p->msg, e->prep_digest, PBFT_DIGEST_LEN);
            buf_put(&p->msg, e->prep_req, e->prep_len);
            ft_emit_send(out, p->group[idx], p->msg.data, p->msg.len);
        }
    }
}

static uint64_t pbft_u64_desc_nth(uint64_t *v, size_t n, size_t k);
static void pbft_vc_prune(struct pbft *);

/* A restarted replica took entries on f+1 identical COMMITTED answers (each a prefix some
 * correct replica executed):
 *  - its checkpoints up to there are stable (it will hear no CHECKPOINT of them again, and
 *    without a stable checkpoint near the others' it would refuse their new pre-prepares as
 *    out of its window, and their checkpoints as too far ahead);
 *  - the view: each answer carries its sender's last installed view; f+1 replicas answered
 *    with views >= v, so a correct replica installed v. It joins v as a backup (as primary
 *    it would not know the next number: it waits for the others' view change instead). Its
 *    empty log takes v's pre-prepares as they come; any it prepares still needs 2f matching
 *    PREPAREs, so it cannot make a conflicting value prepared.
 *  - once it executed all it asked for, it asks for the next window; when the answers stop,
 *    it has caught up, and takes part like the others. */
static void
pbft_catch_up(struct pbft *p, struct ft_actions *out)
{
    uint64_t views[PBFT_MAX_GROUP], v, c = p->last_exec - p->last_exec % p->interval;

    if (c > p->stable) {
        p->stable = c;
        p->base = MAX(p->base, c);
        pbft_collect(p);
    }
    memcpy(views, p->view_seen, p->n * sizeof *views);
    v = pbft_u64_desc_nth(views, p->n, p->f);
    if (p->recovering && v >= p->view && pbft_primary(p, v) != p->me) {
        p->recovering = false;
        p->view = v;
        p->installed = v;
        p->in_vc = false;
        p->vc_round = 0;
        ft_emit_cancel(out, PBFT_TIMER_VIEW);
        pbft_vc_prune(p);
        ft_emit_note(out, "pbft: caught up in view %llu", (unsigned long long) v);
    }
    if (p->last_exec >= p->catchup_to) {
        p->catchup_to = p->last_exec + p->window;
        pbft_send_fetch(p, p->last_exec + 1, p->catchup_to, out);
    }
}

static void
pbft_on_committed(struct pbft *p, size_t idx, const struct pbft_msg *m, struct ft_actions *out)
{
    struct pbft_entry *e;

    if (m->seq <= p->last_exec) {
        ft_emit_drop(out, FT_DROP_DUPLICATE, NULL, 0);
        return;
    }
    if (m->seq > p->last_exec + 4 * p->window) {
        ft_emit_drop(out, FT_DROP_OVERLOAD, NULL, 0);
        return;
    }
    e = pbft_entry_get(p, m->seq);
    if (e->committed || !pbft_vote_add(e, PBFT_COMMITTED, idx, 0, m->digest, m->req,
                                       m->req_len)) {
        ft_emit_drop(out, FT_DROP_DUPLICATE, NULL, 0);
        return;
    }
    p->view_seen[idx] = MAX(p->view_seen[idx], m->view);
    /* f+1 identical answers: one is from a correct replica, which committed it. */
    if (pbft_vote_count(e, PBFT_COMMITTED, 0, m->digest, -1) >= p->f + 1) {
        if (!e->has_prep || memcmp(e->prep_digest, m->digest, PBFT_DIGEST_LEN)) {
            pbft_set_prep(e, 0, m->digest, m->req, m->req_len);
        }
        e->committed = true;
        pbft_execute(p, out);
        if (p->catching_up) {
            pbft_catch_up(p, out);
        }
    }
}

/* ---- View change. ---- */

static struct pbft_vcrec *
pbft_vc_find(struct pbft *p, uint64_t view, uint32_t sender, const uint8_t *digest)
{
    for (size_t i = 0; i < p->n_vcs; i++) {
        struct pbft_vcrec *r = &p->vcs[i];

        if (r->view == view && r->sender == sender
            && (!digest || !memcmp(r->digest, digest, PBFT_DIGEST_LEN))) {
            return r;
        }
    }
    return NULL;
}

static bool
pbft_vc_authentic(const struct pbft *p, const struct pbft_vcrec *r)
{
    return r->direct || (size_t) __builtin_popcountll(r->relayers) >= p->f + 1;
}

static void
pbft_vc_prune(struct pbft *p)
{
    size_t k = 0;

    for (size_t i = 0; i < p->n_vcs; i++) {
        if (p->vcs[i].view >= p->view) {
            p->vcs[k++] = p->vcs[i];
        } else {
            free(p->vcs[i].data);
        }
    }
    p->n_vcs = k;
}

static struct pbft_vcrec *
pbft_vc_add(struct pbft *p, uint64_t view, uint32_t sender, const uint8_t *data, size_t len)
{
    struct pbft_vcrec *r;

    if (p->n_vcs >= 4 * p->n * p->n * (p->n + 1)) {
        return NULL;
    }
    if (p->n_vcs == p->cap_vcs) {
        p->vcs = x2nrealloc(p->vcs, &p->cap_vcs, sizeof *p->vcs);
    }
    r = &p->vcs[p->n_vcs++];
    memset(r, 0, sizeof *r);
    r->view = view;
    r->sender = sender;
    r->data = pbft_dup(data, len);
    r->len = len;
    crypto_generichash(r->digest, PBFT_DIGEST_LEN, data, len, NULL, 0);
    return r;
}

static int
pbft_seq_cmp(const void *a_, const void *b_)
{
    uint64_t a = *(const uint64_t *) a_, b = *(const uint64_t *) b_;

    return a < b ? -1 : a > b;
}

static void
pbft_build_vc(struct pbft *p, struct buf *b)
{
    uint64_t low = p->stable > p->keep ? p->stable - p->keep : 0;
    const struct u64map_slot *slot;
    uint64_t *seqs = xmalloc((u64map_count(&p->log) + 1) * sizeof *seqs);
    size_t n = 0, np = 0, nq = 0, count_ofs;

    for (size_t pos = 0; u64map_next(&p->log, &pos, &slot);) {
        const struct pbft_entry *e = (const struct pbft_entry *) (uintptr_t) slot->value;

        if (e->seq > low && e->seq <= p->stable + 4 * p->window && (e->has_prep || e->has_q)) {
            seqs[n++] = e->seq;
        }
    }
    qsort(seqs, n, sizeof *seqs, pbft_seq_cmp);
    pbft_put_hdr(b, PBFT_VIEW_CHANGE, p->view, p->stable);
    buf_put_be64(b, low);
    count_ofs = b->len;
    buf_put_be32(b, 0);
    for (size_t i = 0; i < n; i++) {
        const struct pbft_entry *e = pbft_entry_find(p, seqs[i]);

        if (e->has_prep) {
            buf_put_be64(b, e->seq);
            buf_put_be64(b, e->prep_view);
            buf_put(b, e->prep_digest, PBFT_DIGEST_LEN);
            buf_put_be32(b, e->prep_len);
            buf_put(b, e->prep_req, e->prep_len);
            np++;
        }
    }
    put_be32(b->data + count_ofs, np);
    count_ofs = b->len;
    buf_put_be32(b, 0);
    for (size_t i = 0; i < n; i++) {
        const struct pbft_entry *e = pbft_entry_find(p, seqs[i]);

        if (e->has_q) {
            buf_put_be64(b, e->seq);
            buf_put_be64(b, e->q_view);
            buf_put(b, e->q_digest, PBFT_DIGEST_LEN);
            nq++;
        }
    }
    put_be32(b->data + count_ofs, nq);
    free(seqs);
}

static const struct pbft_vc_entry *
pbft_vc_lookup(const struct pbft_vc_entry *v, size_t n, uint64_t seq)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;

        if (v[mid].seq == seq) {
            return &v[mid];
        } else if (v[mid].seq < seq) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* What the new view pre-prepares, computed from S alike by every replica. */
struct pbft_decision {
    uint64_t h, max_s;
    const struct pbft_vc_entry **pick;  /* [s - h - 1]; NULL: the null request. */
};

static int pbft_u64_desc(const void *a_, const void *b_);

/* The (k+1)-th largest of v[0..n) (v is sorted in place). */
static uint64_t
pbft_u64_desc_nth(uint64_t *v, size_t n, size_t k)
{
    qsort(v, n, sizeof *v, pbft_u64_desc);
    return k < n ? v[k] : 0;
}

static int
pbft_u64_desc(const void *a_, const void *b_)
{
    return -pbft_seq_cmp(a_, b_);
}

static bool
pbft_decide(const struct pbft *p, const struct pbft_vc *s, size_t n_s, struct pbft_decision *d)
{
    uint64_t hs[PBFT_MAX_GROUP];
    size_t q2 = 2 * (size_t) p->f + 1;

    memset(d, 0, sizeof *d);
    if (n_s < q2) {
        return false;
    }
    for (size_t i = 0; i < n_s; i++) {
        hs[i] = s[i].h;
    }
    qsort(hs, n_s, sizeof *hs, pbft_u64_desc);
    d->h = hs[p->f];
    d->max_s = d->h;
    for (size_t i = 0; i < n_s; i++) {
        for (size_t k = 0; k < s[i].n_p; k++) {
            if (s[i].p[k].seq <= d->h + 2 * p->window) {
                d->max_s = MAX(d->max_s, s[i].p[k].seq);
            }
        }
    }
    d->pick = xcalloc(d->max_s - d->h + 1, sizeof *d->pick);
    for (uint64_t n = d->h + 1; n <= d->max_s; n++) {
        const struct pbft_vc_entry *best = NULL;
        size_t empty = 0;

        for (size_t i = 0; i < n_s; i++) {
            const struct pbft_vc_entry *c = pbft_vc_lookup(s[i].p, s[i].n_p, n);
            size_t a1 = 0, a2 = 0;

            empty += s[i].low < n && !c;
            if (!c || (best && (c->view < best->view
                                || (c->view == best->view
                                    && memcmp(c->digest, best->digest, 16) >= 0)))) {
                continue;
            }
            for (size_t k = 0; k < n_s; k++) {
                const struct pbft_vc_entry *o = pbft_vc_lookup(s[k].p, s[k].n_p, n);
                const struct pbft_vc_entry *q = pbft_vc_lookup(s[k].q, s[k].n_q, n);

                a1 += s[k].low < n
                      && (!o || o->view < c->view
                          || (o->view == c->view && !memcmp(o->digest, c->digest, 16)));
                a2 += q && q->view >= c->view && !memcmp(q->digest, c->digest, 16);
            }
            if (a1 >= q2 && a2 >= p->f + 1) {
                best = c;
            }
        }
        if (best) {
            d->pick[n - d->h - 1] = best;
        } else if (empty < q2) {
            free(d->pick);
            d->pick = NULL;
            return false;
        }
    }
    return true;
}

static void pbft_try_new_view(struct pbft *, struct ft_actions *);
static void pbft_try_install(struct pbft *, uint64_t now, struct ft_actions *);

static void
pbft_start_view_change(struct pbft *p, uint64_t view, uint64_t now, struct ft_actions *out)
{
    struct pbft_vcrec *r;
    const struct u64map_slot *slot;

    if (view <= p->view) {
        return;
    }
    p->view = view;
    p->in_vc = true;
    if (p->vc_round < 16) {
        p->vc_round++;
    }
    for (size_t pos = 0; u64map_next(&p->log, &pos, &slot);) {
        pbft_votes_prune((struct pbft_entry *) (uintptr_t) slot->value, view);
    }
    pbft_vc_prune(p);
    ft_emit_note(out, "pbft: view change to %llu", (unsigned long long) view);
    buf_clear(&p->msg);
    pbft_build_vc(p, &p->msg);
    r = pbft_vc_find(p, view, p->me, NULL);
    if (!r) {
        r = pbft_vc_add(p, view, p->me, p->msg.data, p->msg.len);
    }
    if (r) {
        r->direct = true;
    }
    pbft_send_all(p, out);
    ft_emit_timer(out, PBFT_TIMER_VIEW, now + (p->timeout_ns << MIN(p->vc_round, 10)));
    pbft_try_new_view(p, out);
    pbft_try_install(p, now, out);
}

/* PBFT's liveness rule: f+1 replicas moved past our view, so at least one correct did. */
static void
pbft_join_check(struct pbft *p, uint64_t now, struct ft_actions *out)
{
    uint64_t senders = 0, target = UINT64_MAX;

    for (size_t i = 0; i < p->n_vcs; i++) {
        const struct pbft_vcrec *r = &p->vcs[i];

        if (r->direct && r->sender != p->me && r->view > p->view) {
            senders |= 1ull << r->sender;
            target = MIN(target, r->view);
        }
    }
    if ((size_t) __builtin_popcountll(senders) >= p->f + 1) {
        pbft_start_view_change(p, target, now, out);
    }
}

/* Parses the records of S into 'vcs' (sorted by sender as given). */
static bool
pbft_parse_set(const struct pbft *p, struct pbft_vcrec *const *recs, size_t n,
               struct pbft_vc *vcs)
{
    for (size_t i = 0; i < n; i++) {
        if (!pbft_vc_parse(recs[i]->data, recs[i]->len, 4 * p->window, &vcs[i])) {
            for (size_t k = 0; k < i; k++) {
                pbft_vc_uninit(&vcs[k]);
            }
            return false;
        }
    }
    return true;
}

static void
pbft_install(struct pbft *p, uint64_t view, const struct pbft_decision *d, uint64_t now,
             struct ft_actions *out)
{
    const struct u64map_slot *slot;
    bool primary = p->me == pbft_primary(p, view);

    p->view = view;
    p->installed = view;
    p->in_vc = false;
    p->recovering = false;
    ft_emit_cancel(out, PBFT_TIMER_VIEW);
    pbft_vc_prune(p);
    for (size_t pos = 0; u64map_next(&p->log, &pos, &slot);) {
        struct pbft_entry *e = (struct pbft_entry *) (uintptr_t) slot->value;

        pbft_votes_prune(e, view);
        if (e->has_pp && e->pp_view < view) {
            e->has_pp = e->prepare_sent = e->prepared_now = false;
        }
    }
    p->base = MAX(p->base, d->h);
    for (uint64_t s = d->h + 1; s <= d->max_s; s++) {
        const struct pbft_vc_entry *c = d->pick[s - d->h - 1];
        struct pbft_entry *e = pbft_entry_get(p, s);

        if (c) {
            pbft_set_pp(e, view, c->digest, c->req, c->req_len);
        } else {
            pbft_set_pp(e, view, pbft_null_digest, NULL, 0);
        }
        if (e->committed && memcmp(e->prep_digest, e->pp_digest, PBFT_DIGEST_LEN)) {
            ft_emit_note(out, "pbft: new view %llu changes committed seq %llu",
                         (unsigned long long) view, (unsigned long long) s);
        }
        if (primary && e->pp_len) {
            struct pbft_req *r = pbft_pending_find(p, pbft_name(e->pp_req, e->pp_len), NULL);

            if (r) {
                r->proposed_in = view + 1;
            }
        }
    }
    if (primary) {
        p->next_seq = MAX(d->max_s, p->base) + 1;
    }
    for (size_t i = 0; i < p->n_pending; i++) {
        p->pending[i]->since = now;
    }
    if (p->last_exec < d->h) {
        pbft_send_fetch(p, p->last_exec + 1, d->h, out);
    }
    ft_emit_note(out, "pbft: new view %llu, h %llu, re-proposed %llu..%llu",
                 (unsigned long long) view, (unsigned long long) d->h,
                 (unsigned long long) d->h + 1, (unsigned long long) d->max_s);
    for (uint64_t s = d->h + 1; s <= d->max_s; s++) {
        struct pbft_entry *e = pbft_entry_get(p, s);

        pbft_try_prepare(p, e, out);
        pbft_check_progress(p, e, out);
    }
    /* Pre-prepares of this view that came before its NEW_VIEW. */
    for (size_t i = 0; i < p->n_future;) {
        struct pbft_future fu = p->future[i];

        if (fu.view <= view) {
            struct pbft_msg m;

            memmove(&p->future[i], &p->future[i + 1],
                    (p->n_future - i - 1) * sizeof *p->future);
            p->n_future--;
            if (fu.view == view && pbft_msg_parse(fu.data, fu.len, &m)) {
                struct ft_event ev = { .kind = FT_EV_PEER_MSG, .now_ns = now,
                                       .data = fu.data, .len = fu.len };
                pbft_on_pre_prepare(p, fu.idx, &m, &ev, out);
            }
            free(fu.data);
        } else {
            i++;
        }
    }
    pbft_propose_pending(p, out);
    if (p->n_pending) {
        pbft_arm_request_timer(p, now + (p->timeout_ns << MIN(p->vc_round, 10)), out);
    }
}

static void
pbft_try_new_view(struct pbft *p, struct ft_actions *out)
{
    struct pbft_vcrec *set[PBFT_MAX_GROUP];
    struct pbft_vc vcs[PBFT_MAX_GROUP];
    struct pbft_decision d;
    size_t n = 0;

    if (!p->in_vc || p->me != pbft_primary(p, p->view) || p->nv_sent == p->view + 1) {
        return;
    }
    for (uint32_t j = 0; j < p->n; j++) {
        for (size_t i = 0; i < p->n_vcs; i++) {
            struct pbft_vcrec *r = &p->vcs[i];
            uint64_t vouch = r->relayers;

            if (r->view != p->view || r->sender != j) {
                continue;
            }
            if (r->direct) {
                vouch |= 1ull << p->me | 1ull << j;
            }
            /* Our own went to every replica directly: each holds it as authentic. */
            if (j == p->me || (size_t) __builtin_popcountll(vouch) >= 2 * (size_t) p->f + 1) {
                set[n++] = r;
                break;
            }
        }
    }
    if (n < 2 * (size_t) p->f + 1 || !pbft_parse_set(p, set, n, vcs)) {
        return;
    }
    if (pbft_decide(p, vcs, n, &d)) {
        free(d.pick);
        buf_clear(&p->msg);
        pbft_put_hdr(&p->msg, PBFT_NEW_VIEW, p->view, 0);
        buf_put_be32(&p->msg, n);
        for (size_t i = 0; i < n; i++) {
            buf_put_be32(&p->msg, set[i]->sender);
            buf_put(&p->msg, set[i]->digest, PBFT_DIGEST_LEN);
        }
        pbft_send_all(p, out);
        p->nv_sent = p->view + 1;
        free(p->nv);
        p->nv = buf_steal(&p->msg, &p->nv_len);
    }
    for (size_t i = 0; i < n; i++) {
        pbft_vc_uninit(&vcs[i]);
    }
}

static void
pbft_try_install(struct pbft *p, uint64_t now, struct ft_actions *out)
{
    struct pbft_vcrec *set[PBFT_MAX_GROUP];
    struct pbft_vc vcs[PBFT_MAX_GROUP];
    struct pbft_decision d;
    struct pbft_msg m;
    bool ok;

    if (!p->nv || !pbft_msg_parse(p->nv, p->nv_len, &m)) {
        return;
    }
    if (m.view < p->view || (m.view == p->view && !p->in_vc)) {
        free(p->nv);
        p->nv = NULL;
        return;
    }
    if (m.n_entries < 2 * p->f + 1) {
        goto reject;
    }
    for (uint32_t i = 0; i < m.n_entries; i++) {
        uint8_t digest[PBFT_DIGEST_LEN];
        uint32_t sender;

        pbft_nv_entry(&m, i, &sender, digest);
        set[i] = sender < p->n ? pbft_vc_find(p, m.view, sender, digest) : NULL;
        if (sender >= p->n) {
            goto reject;
        }
        if (!set[i] || !pbft_vc_authentic(p, set[i])) {
            return;                 /* Not all of S here yet: wait for more relays. */
        }
    }
    if (!pbft_parse_set(p, set, m.n_entries, vcs)) {
        goto reject;
    }
    ok = pbft_decide(p, vcs, m.n_entries, &d);
    if (ok) {
        pbft_install(p, m.view, &d, now, out);
        free(d.pick);
    }
    for (size_t i = 0; i < m.n_entries; i++) {
        pbft_vc_uninit(&vcs[i]);
    }
    if (ok) {
        free(p->nv);
        p->nv = NULL;
        return;
    }
reject:
    ft_emit_note(out, "pbft: NEW_VIEW %llu rejected", (unsigned long long) m.view);
    free(p->nv);
    p->nv = NULL;
}

static void
pbft_on_view_change(struct pbft *p, size_t idx, const struct ft_event *ev,
                    const uint8_t *data, size_t len, uint32_t relayer, struct ft_actions *out)
{
    struct pbft_vcrec *r;
    struct pbft_vc vc;

    if (!pbft_vc_parse(data, len, 4 * p->window, &vc)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        return;
    }
    pbft_vc_uninit(&vc);
    if (vc.view < p->view || (vc.view == p->view && !p->in_vc) || vc.view == 0) {
        ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        return;
    }
    if (vc.view > p->view + p->n) {
        ft_emit_drop(out, FT_DROP_OVERLOAD, NULL, 0);
        return;
    }
    if (relayer == UINT32_MAX) {
        uint8_t digest[PBFT_DIGEST_LEN];

        /* Direct: the first VIEW_CHANGE of a sender for a view is the one it is held to. */
        for (size_t i = 0; i < p->n_vcs; i++) {
            if (p->vcs[i].view == vc.view && p->vcs[i].sender == idx && p->vcs[i].direct) {
                ft_emit_drop(out, FT_DROP_DUPLICATE, NULL, 0);
                return;
            }
        }
        crypto_generichash(digest, PBFT_DIGEST_LEN, data, len, NULL, 0);
        r = pbft_vc_find(p, vc.view, idx, digest);
        r = r ? r : pbft_vc_add(p, vc.view, idx, data, len);
        if (!r) {
            ft_emit_drop(out, FT_DROP_OVERLOAD, NULL, 0);
            return;
        }
        r->direct = true;
        buf_clear(&p->msg);
        pbft_put_hdr(&p->msg, PBFT_VC_RELAY, vc.view, 0);
        buf_put_be32(&p->msg, idx);
        buf_put(&p->msg, data, len);
        for (size_t i = 0; i < p->n; i++) {
            if (i != p->me && i != idx) {
                ft_emit_send(out, p->group[i], p->msg.data, p->msg.len);
            }
        }
        pbft_join_check(p, ev->now_ns, out);
    } else {
        uint8_t digest[PBFT_DIGEST_LEN];

        crypto_generichash(digest, PBFT_DIGEST_LEN, data, len, NULL, 0);
        r = pbft_vc_find(p, vc.view, idx, digest);
        r = r ? r : pbft_vc_add(p, vc.view, idx, data, len);
        if (!r || (r->relayers >> relayer & 1)) {
            ft_emit_drop(out, r ? FT_DROP_DUPLICATE : FT_DROP_OVERLOAD, NULL, 0);
            return;
        }
        r->relayers |= 1ull << relayer;
    }
    pbft_try_new_view(p, out);
    pbft_try_install(p, ev->now_ns, out);
}

static void
pbft_on_peer(struct pbft *p, const struct ft_event *ev, struct ft_actions *out)
{
    struct pbft_msg m;
    long idx = pbft_index(p, ev->from);

    if (idx < 0 || (size_t) idx == p->me) {
        ft_emit_drop(out, FT_DROP_UNKNOWN_SENDER, NULL, 0);
        return;
    }
    if (!pbft_msg_parse(ev->data, ev->len, &m)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        return;
    }
    switch (m.type) {
    case PBFT_PRE_PREPARE:
        pbft_on_pre_prepare(p, idx, &m, ev, out);
        break;
    case PBFT_PREPARE:
    case PBFT_COMMIT:
        pbft_on_vote(p, idx, &m, out);
        break;
    case PBFT_CHECKPOINT:
        pbft_on_checkpoint(p, idx, &m, out);
        break;
    case PBFT_FETCH:
        pbft_on_fetch(p, idx, &m, out);
        break;
    case PBFT_COMMITTED:
        pbft_on_committed(p, idx, &m, out);
        break;
    case PBFT_VIEW_CHANGE:
        pbft_on_view_change(p, idx, ev, ev->data, ev->len, UINT32_MAX, out);
        break;
    case PBFT_VC_RELAY:
        if (m.origin >= p->n || m.origin == (uint32_t) idx || m.origin == p->me
            || get_be64(m.body + 8) != m.view) {
            ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
            break;
        }
        pbft_on_view_change(p, m.origin, ev, m.body, m.body_len, idx, out);
        break;
    case PBFT_NEW_VIEW:
        if ((size_t) idx != pbft_primary(p, m.view) || m.view < p->view
            || (m.view == p->view && !p->in_vc) || m.view > p->view + p->n) {
            ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
            break;
        }
        free(p->nv);
        p->nv = pbft_dup(ev->data, ev->len);
        p->nv_len = ev->len;
        pbft_try_install(p, ev->now_ns, out);
        break;
    default:
        ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        break;
    }
}

static void
pbft_on_request_timer(struct pbft *p, uint64_t now, struct ft_actions *out)
{
    uint64_t oldest = UINT64_MAX, timeout = p->timeout_ns << MIN(p->vc_round, 10);

    p->req_timer = false;
    for (size_t i = 0; i < p->n_pending; i++) {
        oldest = MIN(oldest, p->pending[i]->since);
    }
    if (oldest == UINT64_MAX) {
        return;
    }
    if (now < oldest + timeout) {
        pbft_arm_request_timer(p, oldest + timeout, out);
        return;
    }
    /* Maybe only we lag (a liar withheld our commits, or the others decided while we were
     * away): ask each time, and accuse the primary only when a fetch brought nothing. */
    pbft_send_fetch(p, p->last_exec + 1, p->last_exec + p->window, out);
    if (!p->in_vc && p->fetch_mark == p->last_exec + 1 && !p->recovering) {
        pbft_start_view_change(p, p->view + 1, now, out);
    }
    p->fetch_mark = p->last_exec + 1;
    pbft_arm_request_timer(p, now + timeout, out);
}

static int
pbft_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct pbft *p = pbft_cast(core);

    switch (ev->kind) {
    case FT_EV_PACKET:
        pbft_on_request(p, ev, out);
        break;
    case FT_EV_PEER_MSG:
        pbft_on_peer(p, ev, out);
        break;
    case FT_EV_TIMER:
        if (ev->timer == PBFT_TIMER_REQUEST) {
            pbft_on_request_timer(p, ev->now_ns, out);
        } else if (ev->timer == PBFT_TIMER_VIEW && p->in_vc && !p->recovering) {
            pbft_start_view_change(p, p->view + 1, ev->now_ns, out);
        }
        break;
    case FT_EV_PEER_DOWN:
        if (!p->in_vc && ev->from == p->group[pbft_primary(p, p->view)]
            && ev->from != p->self && !p->recovering) {
            pbft_start_view_change(p, p->view + 1, ev->now_ns, out);
        }
        break;
    case FT_EV_START:
        if (ev->incarnation) {
            /* Restarted empty: learn what was committed from the others, window after
             * window (pbft_catch_up()). Only what the others still keep can be had: a
             * replica restarted after 'keep' executions past the oldest entry stays behind
             * (no state image is transferred). */
            p->catching_up = true;
            p->recovering = true;
            p->catchup_to = p->window;
            pbft_send_fetch(p, 1, p->window, out);
        }
        break;
    default:
        break;
    }
    return 0;
}

const struct ft_core_class PBFT_CLASS = {
    .name = PBFT_NAME,
    .summary = "FIT-SFC PBFT replica: orders the requests of a globally stateful VNF among its "
               "3f+1 replicas (pre-prepare/prepare/commit, checkpoints, view change)",
    .create = pbft_create,
    .destroy = pbft_destroy,
    .step = pbft_step,
};
