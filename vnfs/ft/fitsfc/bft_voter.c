/* bft_voter — FIT-SFC's voter: the input of every SFF, VNF and client replica.
 *
 * Input: copies of one packet from the 3f+1 replicas of the stage before ('group'), at most f of
 * them faulty in any way (crashed, omitting, Byzantine; the client itself may be malicious).
 * Rule (FIT-SFC §III-A/B): a packet is decided once 'quorum' replicas of the group, each counted
 * once, sent copies with the same digest of the semantic content (demo_msg_digest(): the
 * per-replica 'origin' is left out). The quorum is 2f+1 by default:
 *  - safety: f liars cannot reach 2f+1 alone, so f+1 correct replicas sent the decided value;
 *  - agreement (Figure 2, a client that tells half the classifiers one thing and half another):
 *    two quorums of 2f+1 out of 3f+1 share f+1 senders, one of them correct, and a correct
 *    replica sends the same copy to every replica of the next stage; so no two correct voters
 *    of one stage decide different values for one packet (with f+1 they can);
 *  - liveness: 3f+1 - f = 2f+1 correct replicas remain, so a packet every correct replica of
 *    the stage before sent is decided once their copies arrive.
 * The client wrapper's voter runs with quorum=f+1 (see tests/sim/scenario_fitsfc.c): it is the
 * last decider, nobody after it must agree with anyone, and each correct SFF replica sends a
 * reply only after its own 2f+1 vote; f+1 identical replies from distinct SFF replicas include
 * one from a correct replica, which is the correct reply.
 *
 * Copies that disagree with the decision are counted (FT_DROP_OUTVOTED), whether they were in
 * the vote or came after it: a finished packet keeps its decided digest and the set of senders
 * heard for as long as its name stays in the history, so a faulty replica whose copy is slower
 * than the quorum (a man in the middle's detour does that) is still seen lying. A sender's first
 * late copy is compared; a late copy that agrees, any copy of a sender already heard, and every
 * copy of a halted packet are duplicates.
 *
 * A packet is named by (client, req_id): the client's identity and its per-client counter. It
 * is delivered at most once; later copies are dropped as duplicates. If no value can reach the
 * quorum any more (too many distinct values among the copies heard), or none has by 'timeout'
 * after the first copy, the packet is halted: dropped as FT_DROP_NO_QUORUM with a note, and
 * never delivered later (FIT-SFC interrupts the flow). Memory is bounded: each sender may hold
 * at most 'max_pending' copies in undecided packets (so a Byzantine sender that floods fills only
 * its own share: a copy past it is dropped as FT_DROP_OVERLOAD), and the set of finished
 * packets keeps the last 'history' names (a copy of an older one may open a new vote, which
 * needs a quorum again, so it is never delivered twice by fewer than 'quorum' fresh senders).
 *
 * Needs authenticated senders: a forged 'from' would let one liar vote twice.
 *
 * Parameters: quorum (default 2f+1; between f+1 and 2f+1), timeout (duration, default 50ms),
 * max_pending (copies per sender, default 1024), history (finished names kept, default 65536),
 * own_only (1: only packets whose client field is this endpoint, as a client's voter wants).
 * Config: f, group (exactly 3f+1 replicas). State exported: the finished names. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/demo/demo.h"
#include "vnfs/ft/u64map.h"

/* tests/sim/broken_bft_voter.c compiles this file again with BFT_VOTER_BROKEN defined: that
 * voter decides on f+1 identical copies, the rule Figure 2 shows wrong. Test binaries only. */
#ifdef BFT_VOTER_BROKEN
#define BFT_VOTER_CLASS ft_bft_voter_broken_class
#define BFT_VOTER_NAME "bft_voter-broken"
#define BFT_VOTER_DEFAULT_QUORUM(f) ((f) + 1)
#else
#define BFT_VOTER_CLASS ft_bft_voter_class
#define BFT_VOTER_NAME "bft_voter"
#define BFT_VOTER_DEFAULT_QUORUM(f) (2 * (f) + 1)
#endif

#define BFT_VOTER_MAGIC 0x42465632u  /* "BFV2" */
#define BFT_VOTER_MAX_GROUP 64          /* Senders heard are a 64-bit set. */
#define BFT_VOTER_RECORD 33             /* Image record: name, how, heard, digest. */

struct bft_vote {
    size_t sender;              /* Index in the group. */
    uint8_t digest[16];
    uint8_t *msg;
    size_t len;
};

struct bft_pending {
    uint64_t name;              /* bft_voter_name(client, req_id). */
    uint64_t req_id;
    uint32_t client;
    size_t n_votes;
    struct bft_vote votes[];    /* At most one per sender: n_group. */
};

/* A finished packet: what late copies are compared with. */
struct bft_done {
    uint64_t name;
    uint64_t heard;             /* Senders (bits by group index) whose copy came. */
    uint8_t digest[16];         /* The decided digest (BFT_DECIDED only). */
    uint8_t how;                /* BFT_DECIDED or BFT_HALTED. */
};

struct bft_voter {
    struct ft_core up;
    uint32_t self;
    uint32_t f;
    uint32_t *group;
    size_t n_group;
    uint64_t quorum;
    uint64_t timeout_ns;
    uint64_t max_pending;
    uint64_t n_history;
    bool own_only;
    uint64_t *held;             /* Per sender: copies it holds in undecided packets. */
    struct u64map pending;      /* name -> struct bft_pending *. */
    struct u64map finished;     /* name -> its index in 'ring'. */
    struct bft_done *ring;      /* Finished packets in the order they finished, for eviction. */
    size_t ring_head, ring_n;
};

enum { BFT_DECIDED = 1, BFT_HALTED = 2 };

static struct bft_voter *
bft_voter_cast(const struct ft_core *core)
{
    return (struct bft_voter *) core;
}

/* One 64-bit name per (client, counter): the key of both maps and of the timer. A collision
 * between two live names (probability about n^2 / 2^64) would merge their votes: the digests
 * still differ, so it costs liveness, never safety. */
static uint64_t
bft_voter_name(uint32_t client, uint64_t req_id)
{
    uint8_t key[12];

    for (int i = 0; i < 4; i++) {
        key[i] = client >> (24 - 8 * i);
    }
    for (int i = 0; i < 8; i++) {
        key[4 + i] = req_id >> (56 - 8 * i);
    }
    return ft_hash_bytes(key, sizeof key, 0x62667631);
}

static int
bft_voter_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    uint64_t quorum, timeout, max_pending, history, own_only;
    struct bft_voter *v;
    int error;

    if (cfg->n_group != 3 * (size_t) cfg->f + 1 || cfg->n_group > BFT_VOTER_MAX_GROUP) {
        if (errp) {
            *errp = xasprintf("bft_voter: needs 3f+1 = %u replicas in its group (at most %d), "
                              "got %zu", 3 * cfg->f + 1, BFT_VOTER_MAX_GROUP, cfg->n_group);
        }
        return EINVAL;
    }
    error = ft_config_u64(cfg, "quorum", BFT_VOTER_DEFAULT_QUORUM(cfg->f), &quorum, errp);
    if (!error && (quorum < cfg->f + 1 || quorum > 2 * (uint64_t) cfg->f + 1)) {
        if (errp) {
            *errp = xasprintf("bft_voter: quorum %llu out of range (f+1 = %u .. 2f+1 = %u)",
                              (unsigned long long) quorum, cfg->f + 1, 2 * cfg->f + 1);
        }
        error = EINVAL;
    }
    error = error ? error : ft_config_duration(cfg, "timeout", 50 * 1000 * 1000, &timeout, errp);
    error = error ? error : ft_config_u64(cfg, "max_pending", 1024, &max_pending, errp);
    error = error ? error : ft_config_u64(cfg, "history", 65536, &history, errp);
    error = error ? error : ft_config_u64(cfg, "own_only", 0, &own_only, errp);
    if (!error && (!max_pending || !history || history > (1u << 24) || own_only > 1)) {
        if (errp) {
            *errp = xasprintf("bft_voter: max_pending and history must be > 0, history at most "
                              "2^24, own_only 0 or 1");
        }
        error = EINVAL;
    }
    if (error) {
        return error;
    }
    v = xzalloc(sizeof *v);
    v->self = cfg->self;
    v->f = cfg->f;
    v->n_group = cfg->n_group;
    v->group = xmalloc(cfg->n_group * sizeof *v->group);
    memcpy(v->group, cfg->group, cfg->n_group * sizeof *v->group);
    v->quorum = quorum;
    v->timeout_ns = timeout;
    v->max_pending = max_pending;
    v->n_history = history;
    v->own_only = own_only;
    v->held = xcalloc(cfg->n_group, sizeof *v->held);
    v->ring = xmalloc(history * sizeof *v->ring);
    u64map_init(&v->pending);
    u64map_init(&v->finished);
    *corep = &v->up;
    return 0;
}

static void
bft_pending_free(struct bft_voter *v, struct bft_pending *p)
{
    for (size_t i = 0; i < p->n_votes; i++) {
        v->held[p->votes[i].sender]--;
        free(p->votes[i].msg);
    }
    free(p);
}

static void
bft_voter_destroy(struct ft_core *core)
{
    struct bft_voter *v = bft_voter_cast(core);
    const struct u64map_slot *slot;

    for (size_t pos = 0; u64map_next(&v->pending, &pos, &slot);) {
        bft_pending_free(v, (struct bft_pending *) (uintptr_t) slot->value);
    }
    u64map_destroy(&v->pending);
    u64map_destroy(&v->finished);
    free(v->held);
    free(v->ring);
    free(v->group);
    free(v);
}

/* The sender's index in the group, or -1. */
static long
bft_voter_sender(const struct bft_voter *v, uint32_t from)
{
    for (size_t i = 0; i < v->n_group; i++) {
        if (v->group[i] == from) {
            return i;
        }
    }
    return -1;
}

/* Appends 'd' to the history, evicting the oldest when it is full. */
static void
bft_voter_remember(struct bft_voter *v, const struct bft_done *d)
{
    size_t slot;
    uint64_t at;

    if (v->ring_n == v->n_history) {
        /* An imported image may name a packet twice: only the newest entry owns the name. */
        const struct bft_done *old = &v->ring[v->ring_head];
        if (u64map_get(&v->finished, old->name, &at) && at == v->ring_head) {
            u64map_remove(&v->finished, old->name, NULL);
        }
        v->ring_head = (v->ring_head + 1) % v->n_history;
        v->ring_n--;
    }
    slot = (v->ring_head + v->ring_n++) % v->n_history;
    v->ring[slot] = *d;
    u64map_put(&v->finished, d->name, slot);
}

/* Ends the vote on 'p': decided with 'winner' (its digest kept for late copies), or halted
 * when 'winner' is NULL. */
static void
bft_voter_finish(struct bft_voter *v, struct bft_pending *p, const struct bft_vote *winner)
{
    struct bft_done d = { .name = p->name, .how = winner ? BFT_DECIDED : BFT_HALTED };

    for (size_t i = 0; i < p->n_votes; i++) {
        d.heard |= UINT64_C(1) << p->votes[i].sender;
    }
    if (winner) {
        memcpy(d.digest, winner->digest, 16);
    }
    u64map_remove(&v->pending, p->name, NULL);
    bft_voter_remember(v, &d);
    bft_pending_free(v, p);
}

/* A copy of a finished packet: a sender's first one that disagrees with the decided digest is
 * outvoted, anything else a duplicate. */
static void
bft_voter_late(struct bft_voter *v, struct bft_done *d, size_t sender, const struct ft_event *ev,
               struct ft_actions *out)
{
    uint64_t bit = UINT64_C(1) << sender;
    uint8_t digest[16];

    if (d->how == BFT_DECIDED && !(d->heard & bit)) {
        demo_msg_digest(ev->data, ev->len, digest);
        d->heard |= bit;
        if (memcmp(digest, d->digest, 16)) {
            ft_emit_drop(out, FT_DROP_OUTVOTED, ev->data, ev->len);
            return;
        }
    }
    d->heard |= bit;
    ft_emit_drop(out, FT_DROP_DUPLICATE, ev->data, ev->len);
}

/* Counts the copies per digest: '*best' gets the largest count and '*winner' its first vote. */
static void
bft_voter_tally(const struct bft_pending *p, size_t *best, const struct bft_vote **winner)
{
    *best = 0;
    *winner = NULL;
    for (size_t i = 0; i < p->n_votes; i++) {
        size_t count = 0;
        for (size_t k = 0; k < p->n_votes; k++) {
            count += !memcmp(p->votes[i].digest, p->votes[k].digest, 16);
        }
        if (count > *best) {
            *best = count;
            *winner = &p->votes[i];
        }
    }
}

static void
bft_voter_on_copy(struct bft_voter *v, const struct ft_event *ev, struct ft_actions *out)
{
    const struct bft_vote *winner;
    struct bft_pending *p;
    struct bft_vote *vote;
    struct demo_msg m;
    uint64_t name, value, at;
    size_t best;
    long sender;

    sender = bft_voter_sender(v, ev->from);
    if (sender < 0) {
        ft_emit_drop(out, FT_DROP_UNKNOWN_SENDER, ev->data, ev->len);
        return;
    }
    if (!demo_msg_parse(ev->data, ev->len, &m)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        return;
    }
    if (v->own_only && m.client != v->self) {
        ft_emit_drop(out, FT_DROP_UNKNOWN_SENDER, ev->data, ev->len);
        return;
    }
    name = bft_voter_name(m.client, m.req_id);
    if (u64map_get(&v->finished, name, &at)) {
        bft_voter_late(v, &v->ring[at], sender, ev, out);
        return;
    }
    p = u64map_get(&v->pending, name, &value) ? (struct bft_pending *) (uintptr_t) value : NULL;
    if (p) {
        for (size_t i = 0; i < p->n_votes; i++) {
            if (p->votes[i].sender == (size_t) sender) {
                ft_emit_drop(out, FT_DROP_DUPLICATE, ev->data, ev->len);
                return;
            }
        }
    }
    if (v->held[sender] >= v->max_pending) {
        ft_emit_drop(out, FT_DROP_OVERLOAD, ev->data, ev->len);
        return;
    }
    if (!p) {
        p = xzalloc(sizeof *p + v->n_group * sizeof p->votes[0]);
        p->name = name;
        p->req_id = m.req_id;
        p->client = m.client;
        u64map_put(&v->pending, name, (uintptr_t) p);
        ft_emit_timer(out, name, ev->now_ns + v->timeout_ns);
    }
    vote = &p->votes[p->n_votes++];
    vote->sender = sender;
    demo_msg_digest(ev->data, ev->len, vote->digest);
    vote->msg = xmalloc(ev->len);
    memcpy(vote->msg, ev->data, ev->len);
    vote->len = ev->len;
    v->held[sender]++;

    bft_voter_tally(p, &best, &winner);
    if (best >= v->quorum) {
        /* The copies that disagree with the decision: what a faulty replica tried. */
        for (size_t i = 0; i < p->n_votes; i++) {
            if (memcmp(p->votes[i].digest, winner->digest, 16)) {
                ft_emit_drop(out, FT_DROP_OUTVOTED, NULL, 0);
            }
        }
        ft_emit_deliver(out, winner->msg, winner->len);
        ft_emit_cancel(out, name);
        bft_voter_finish(v, p, winner);
    } else if (best + (v->n_group - p->n_votes) < v->quorum) {
        /* Even if every replica not heard yet agreed with the largest group, no quorum. */
        ft_emit_drop(out, FT_DROP_NO_QUORUM, NULL, 0);
        ft_emit_note(out, "halt client %u request %llu: %zu copies, at most %zu identical "
                     "of %llu needed", p->client, (unsigned long long) p->req_id, p->n_votes,
                     best + (v->n_group - p->n_votes), (unsigned long long) v->quorum);
        ft_emit_cancel(out, name);
        bft_voter_finish(v, p, NULL);
    }
}

static int
bft_voter_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct bft_voter *v = bft_voter_cast(core);
    uint64_t value;

    switch (ev->kind) {
    case FT_EV_PACKET:
        bft_voter_on_copy(v, ev, out);
        break;
    case FT_EV_TIMER:
        if (u64map_get(&v->pending, ev->timer, &value)) {
            struct bft_pending *p = (struct bft_pending *) (uintptr_t) value;
            ft_emit_drop(out, FT_DROP_NO_QUORUM, NULL, 0);
            ft_emit_note(out, "halt client %u request %llu: timeout with %zu copies",
                         p->client, (unsigned long long) p->req_id, p->n_votes);
            bft_voter_finish(v, p, NULL);
        }
        break;
    case FT_EV_STATE_REQUEST:
    case FT_EV_STATE:
        ft_core_state_event(core, ev, out);
        break;
    default:
        break;
    }
    return 0;
}

/* Image: magic, count, then per finished packet (name, how, heard, digest) in the order they
 * finished (oldest first), so the eviction order and the late-copy verdicts survive an import. */
static int
bft_voter_export_state(const struct ft_core *core, struct buf *b)
{
    const struct bft_voter *v = bft_voter_cast(core);

    buf_put_be32(b, BFT_VOTER_MAGIC);
    buf_put_be64(b, v->ring_n);
    for (size_t i = 0; i < v->ring_n; i++) {
        const struct bft_done *d = &v->ring[(v->ring_head + i) % v->n_history];

        buf_put_be64(b, d->name);
        buf_put_u8(b, d->how);
        buf_put_be64(b, d->heard);
        buf_put(b, d->digest, 16);
    }
    return 0;
}

static int
bft_voter_import_state(struct ft_core *core, const uint8_t *data, size_t len)
{
    struct bft_voter *v = bft_voter_cast(core);
    uint64_t members = v->n_group == 64 ? UINT64_MAX : (UINT64_C(1) << v->n_group) - 1;
    uint64_t n;

    if (len < 12 || get_be32(data) != BFT_VOTER_MAGIC) {
        return EINVAL;
    }
    n = get_be64(data + 4);
    if (n > (len - 12) / BFT_VOTER_RECORD || len - 12 != n * BFT_VOTER_RECORD) {
        return EINVAL;
    }
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *rec = data + 12 + BFT_VOTER_RECORD * i;

        if ((rec[8] != BFT_DECIDED && rec[8] != BFT_HALTED) || (get_be64(rec + 9) & ~members)) {
            return EINVAL;
        }
    }
    u64map_clear(&v->finished);
    v->ring_head = v->ring_n = 0;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *rec = data + 12 + BFT_VOTER_RECORD * i;
        struct bft_done d = { .name = get_be64(rec), .how = rec[8], .heard = get_be64(rec + 9) };

        memcpy(d.digest, rec + 17, 16);
        bft_voter_remember(v, &d);
    }
    /* A vote in progress on a name the image says is finished must not decide it again. Its
     * timer, if it fires, finds nothing pending. */
    for (bool again = true; again;) {
        const struct u64map_slot *slot;

        again = false;
        for (size_t pos = 0; u64map_next(&v->pending, &pos, &slot);) {
            if (u64map_get(&v->finished, slot->key, NULL)) {
                struct bft_pending *p = (struct bft_pending *) (uintptr_t) slot->value;

                u64map_remove(&v->pending, p->name, NULL);
                bft_pending_free(v, p);
                again = true;
                break;
            }
        }
    }
    return 0;
}

const struct ft_core_class BFT_VOTER_CLASS = {
    .name = BFT_VOTER_NAME,
    .summary = "FIT-SFC voter: decides on a quorum (2f+1) of identical digests from distinct "
               "replicas of the 3f+1 before it, halts otherwise",
    .create = bft_voter_create,
    .destroy = bft_voter_destroy,
    .step = bft_voter_step,
    .export_state = bft_voter_export_state,
    .import_state = bft_voter_import_state,
};
