/* sequencer, seq_replica — total order for a replicated state machine (the rule of FTvNF's ID
 * sequencer, reduced): one sequencer numbers requests 1, 2, 3... and sends them to every
 * replica; replicas apply in number order, whatever order the network delivers in, and the
 * sequencer retransmits what a replica has not acknowledged, so no request is lost once the
 * network is stable. Crash-recovery model: replicas may crash and restart empty; a restarted
 * replica asks a peer for its state (applied count and the state machine's hash chain) and
 * continues from there. The sequencer itself is assumed correct (replicating it is the scheme's
 * business, not this demo's), and so are the peers a replica takes state from.
 *
 * Messages (peer messages, big-endian):  ORDER = 1, seq(8), request   ACK = 2, applied(8)
 * State image of a replica: applied(8), chain(8).
 *
 * sequencer:   group = the replicas; parameters rto (retransmission timeout, default 5ms),
 *              window (entries per retransmission round, default 64).
 * seq_replica: group = [sequencer, replicas...]; parameters respond (1: forward each applied
 *              request back to its client), state_timeout (default 20ms). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/demo/demo.h"
#include "vnfs/ft/u64map.h"

#ifdef SEQ_BROKEN
/* tests/sim/broken_sequencer.c: a replica that applies whatever arrives next. */
#define SEQ_SEQUENCER_CLASS ft_sequencer_broken_class
#define SEQ_REPLICA_CLASS ft_seq_replica_broken_class
#define SEQ_SUFFIX "-broken"
#else
#define SEQ_SEQUENCER_CLASS ft_sequencer_class
#define SEQ_REPLICA_CLASS ft_seq_replica_class
#define SEQ_SUFFIX ""
#endif

enum { SEQ_ORDER = 1, SEQ_ACK = 2 };
enum { SEQ_TIMER_RETRANSMIT = 1, SEQ_TIMER_STATE = 2 };
#define SEQ_MAX_AHEAD 65536     /* A replica buffers at most this far past what it applied. */

static void
seq_send_order(struct ft_actions *out, uint32_t to, uint64_t seq, const uint8_t *msg,
               size_t len)
{
    uint8_t *m = xmalloc(9 + len);

    m[0] = SEQ_ORDER;
    put_be64(m + 1, seq);
    memcpy(m + 9, msg, len);
    ft_emit_send(out, to, m, 9 + len);
    free(m);
}

/* The sequencer. */

struct seq_entry {
    uint8_t *msg;
    size_t len;
};

struct sequencer {
    struct ft_core up;
    uint32_t *replicas;
    uint64_t *acked;            /* Per replica: what it last said it applied. */
    bool *down;
    size_t n_replicas;
    struct seq_entry *log;      /* log[i] is number i + 1. */
    size_t n_log, cap_log;
    struct u64map numbered;     /* Hash of (client, request id) -> number: no request twice. */
    uint64_t rto_ns, window;
    bool armed;
};

static struct sequencer *
sequencer_cast(const struct ft_core *core)
{
    return (struct sequencer *) core;
}

static int
sequencer_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct sequencer *s;
    uint64_t rto, window;
    int error;

    if (!cfg->n_group) {
        if (errp) {
            *errp = xasprintf("sequencer: needs its replicas as its group");
        }
        return EINVAL;
    }
    error = ft_config_duration(cfg, "rto", 5 * 1000 * 1000, &rto, errp);
    if (!error) {
        error = ft_config_u64(cfg, "window", 64, &window, errp);
    }
    if (error) {
        return error;
    }
    s = xzalloc(sizeof *s);
    s->n_replicas = cfg->n_group;
    s->replicas = xmalloc(cfg->n_group * sizeof *s->replicas);
    memcpy(s->replicas, cfg->group, cfg->n_group * sizeof *s->replicas);
    s->acked = xcalloc(cfg->n_group, sizeof *s->acked);
    s->down = xcalloc(cfg->n_group, sizeof *s->down);
    s->rto_ns = rto;
    s->window = window ? window : 1;
    u64map_init(&s->numbered);
    *corep = &s->up;
    return 0;
}

static void
sequencer_destroy(struct ft_core *core)
{
    struct sequencer *s = sequencer_cast(core);

    for (size_t i = 0; i < s->n_log; i++) {
        free(s->log[i].msg);
    }
    free(s->log);
    free(s->replicas);
    free(s->acked);
    free(s->down);
    u64map_destroy(&s->numbered);
    free(s);
}

static ssize_t
sequencer_replica_index(const struct sequencer *s, uint32_t id)
{
    for (size_t i = 0; i < s->n_replicas; i++) {
        if (s->replicas[i] == id) {
            return i;
        }
    }
    return -1;
}

static void
sequencer_arm(struct sequencer *s, uint64_t now, struct ft_actions *out)
{
    if (!s->armed) {
        s->armed = true;
        ft_emit_timer(out, SEQ_TIMER_RETRANSMIT, now + s->rto_ns);
    }
}

static void
sequencer_on_request(struct sequencer *s, const struct ft_event *ev, struct ft_actions *out)
{
    struct demo_msg m;
    uint8_t key[12];
    uint64_t hash;

    if (!demo_msg_parse(ev->data, ev->len, &m)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        return;
    }
    memcpy(key, ev->data, 12);  /* req_id and client */
    hash = ft_hash_bytes(key, sizeof key, 0);
    if (u64map_get(&s->numbered, hash, NULL)) {
        ft_emit_drop(out, FT_DROP_DUPLICATE, ev->data, ev->len);
        return;
    }
    if (s->n_log >= s->cap_log) {
        s->log = x2nrealloc(s->log, &s->cap_log, sizeof *s->log);
    }
    s->log[s->n_log].msg = xmalloc(ev->len);
    memcpy(s->log[s->n_log].msg, ev->data, ev->len);
    s->log[s->n_log].len = ev->len;
    s->n_log++;
    u64map_put(&s->numbered, hash, s->n_log);
    for (size_t i = 0; i < s->n_replicas; i++) {
        if (!s->down[i]) {
            seq_send_order(out, s->replicas[i], s->n_log, ev->data, ev->len);
        }
    }
    sequencer_arm(s, ev->now_ns, out);
}

static void
sequencer_on_retransmit(struct sequencer *s, const struct ft_event *ev, struct ft_actions *out)
{
    bool behind = false;

    s->armed = false;
    for (size_t i = 0; i < s->n_replicas; i++) {
        uint64_t from = s->acked[i], to = MIN(s->n_log, from + s->window);
        if (s->down[i] || from >= s->n_log) {
            continue;
        }
        behind = true;
        for (uint64_t n = from + 1; n <= to; n++) {
            seq_send_order(out, s->replicas[i], n, s->log[n - 1].msg, s->log[n - 1].len);
        }
    }
    if (behind) {
        sequencer_arm(s, ev->now_ns, out);
    }
}

static int
sequencer_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct sequencer *s = sequencer_cast(core);
    ssize_t r = sequencer_replica_index(s, ev->from);

    switch (ev->kind) {
    case FT_EV_PACKET:
        sequencer_on_request(s, ev, out);
        break;
    case FT_EV_PEER_MSG:
        if (r < 0 || ev->len != 9 || ev->data[0] != SEQ_ACK) {
            ft_emit_drop(out, r < 0 ? FT_DROP_UNKNOWN_SENDER : FT_DROP_MALFORMED,
                         ev->data, ev->len);
            break;
        }
        /* The latest word of the replica: after a restart it may go down, not only up. */
        s->acked[r] = MIN(get_be64(ev->data + 1), s->n_log);
        if (s->acked[r] < s->n_log) {
            sequencer_arm(s, ev->now_ns, out);
        }
        break;
    case FT_EV_TIMER:
        sequencer_on_retransmit(s, ev, out);
        break;
    case FT_EV_PEER_DOWN:
    case FT_EV_PEER_UP:
        if (r >= 0) {
            s->down[r] = ev->kind == FT_EV_PEER_DOWN;
            s->acked[r] = 0;
            if (!s->down[r]) {
                sequencer_arm(s, ev->now_ns, out);
            }
        }
        break;
    default:
        break;
    }
    return 0;
}

/* Image: count, then (len(4), bytes) per entry. */
static int
sequencer_export_state(const struct ft_core *core, struct buf *b)
{
    const struct sequencer *s = sequencer_cast(core);

    buf_put_be64(b, s->n_log);
    for (size_t i = 0; i < s->n_log; i++) {
        buf_put_be32(b, s->log[i].len);
        buf_put(b, s->log[i].msg, s->log[i].len);
    }
    return 0;
}

static int
sequencer_import_state(struct ft_core *core, const uint8_t *data, size_t len)
{
    struct sequencer *s = sequencer_cast(core);
    size_t pos = 8, n_entries = 0;
    uint64_t n;

    if (len < 8) {
        return EINVAL;
    }
    n = get_be64(data);
    /* Validate everything before touching the state. */
    for (uint64_t i = 0; i < n; i++) {
        size_t l;
        if (len - pos < 4) {
            return EINVAL;
        }
        l = get_be32(data + pos);
        if (l < DEMO_HDR_LEN || len - pos - 4 < l) {
            return EINVAL;
        }
        pos += 4 + l;
        n_entries++;
    }
    if (pos != len) {
        return EINVAL;
    }
    for (size_t i = 0; i < s->n_log; i++) {
        free(s->log[i].msg);
    }
    s->n_log = 0;
    u64map_clear(&s->numbered);
    for (pos = 8; s->n_log < n_entries;) {
        size_t l = get_be32(data + pos);
        if (s->n_log >= s->cap_log) {
            s->log = x2nrealloc(s->log, &s->cap_log, sizeof *s->log);
        }
        s->log[s->n_log].msg = xmalloc(l);
        memcpy(s->log[s->n_log].msg, data + pos + 4, l);
        s->log[s->n_log].len = l;
        s->n_log++;
        u64map_put(&s->numbered, ft_hash_bytes(data + pos + 4, 12, 0), s->n_log);
        pos += 4 + l;
    }
    return 0;
}

const struct ft_core_class SEQ_SEQUENCER_CLASS = {
    .name = "sequencer" SEQ_SUFFIX,
    .summary = "numbers requests for total order; retransmits until replicas acknowledge",
    .create = sequencer_create,
    .destroy = sequencer_destroy,
    .step = sequencer_step,
    .export_state = sequencer_export_state,
    .import_state = sequencer_import_state,
};

/* The replica. */

struct seq_replica {
    struct ft_core up;
    uint32_t self;
    uint32_t sequencer;
    uint32_t *peers;            /* Other replicas: where state comes from after a restart. */
    size_t n_peers;
    bool respond;
    uint64_t state_timeout_ns;
    uint64_t applied;           /* Numbers 1..applied are applied. */
    uint64_t chain;             /* The state machine: a hash over everything applied, in order. */
    struct u64map ahead;        /* number -> buffered request (struct seq_entry *). */
    bool awaiting_state;
    size_t state_tries;
};

static struct seq_replica *
seq_replica_cast(const struct ft_core *core)
{
    return (struct seq_replica *) core;
}

static int
seq_replica_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct seq_replica *r;
    uint64_t respond, timeout;
    int error;

    if (cfg->n_group < 2 || !ft_config_in_group(cfg, cfg->self) || cfg->group[0] == cfg->self) {
        if (errp) {
            *errp = xasprintf("seq_replica: group must be [sequencer, replicas...] with "
                              "this replica among the replicas");
        }
        return EINVAL;
    }
    error = ft_config_u64(cfg, "respond", 0, &respond, errp);
    if (!error) {
        error = ft_config_duration(cfg, "state_timeout", 20 * 1000 * 1000, &timeout, errp);
    }
    if (error) {
        return error;
    }
    r = xzalloc(sizeof *r);
    r->self = cfg->self;
    r->sequencer = cfg->group[0];
    r->peers = xmalloc(cfg->n_group * sizeof *r->peers);
    for (size_t i = 1; i < cfg->n_group; i++) {
        if (cfg->group[i] != cfg->self) {
            r->peers[r->n_peers++] = cfg->group[i];
        }
    }
    r->respond = respond != 0;
    r->state_timeout_ns = timeout;
    u64map_init(&r->ahead);
    *corep = &r->up;
    return 0;
}

static void
seq_replica_forget(struct seq_replica *r, uint64_t n)
{
    uint64_t v;

    if (u64map_remove(&r->ahead, n, &v)) {
        struct seq_entry *e = (struct seq_entry *) (uintptr_t) v;
        free(e->msg);
        free(e);
    }
}

static void
seq_replica_destroy(struct ft_core *core)
{
    struct seq_replica *r = seq_replica_cast(core);
    const struct u64map_slot *slot;

    for (size_t pos = 0; u64map_next(&r->ahead, &pos, &slot);) {
        struct seq_entry *e = (struct seq_entry *) (uintptr_t) slot->value;
        free(e->msg);
        free(e);
    }
    u64map_destroy(&r->ahead);
    free(r->peers);
    free(r);
}

static void
seq_replica_apply(struct seq_replica *r, uint64_t n, const uint8_t *msg, size_t len,
                  struct ft_actions *out)
{
    struct demo_msg m;

    r->applied = n;
    r->chain = ft_hash_bytes(msg, len, r->chain);
    ft_emit_deliver(out, msg, len);
    if (r->respond && demo_msg_parse(msg, len, &m)) {
        uint8_t *reply = xmalloc(len);
        memcpy(reply, msg, len);
        for (int i = 0; i < 4; i++) {
            reply[DEMO_ORIGIN_OFS + i] = r->self >> (24 - 8 * i);
        }
        ft_emit_forward(out, m.client, reply, len);
        free(reply);
    }
}

static void
seq_replica_drain(struct seq_replica *r, struct ft_actions *out)
{
    uint64_t v;

    while (u64map_get(&r->ahead, r->applied + 1, &v)) {
        struct seq_entry *e = (struct seq_entry *) (uintptr_t) v;
        seq_replica_apply(r, r->applied + 1, e->msg, e->len, out);
        seq_replica_forget(r, r->applied);
    }
}

static void
seq_replica_ack(struct seq_replica *r, struct ft_actions *out)
{
    uint8_t ack[9];

    ack[0] = SEQ_ACK;
    put_be64(ack + 1, r->applied);
    ft_emit_send(out, r->sequencer, ack, sizeof ack);
}

static void
seq_replica_on_order(struct seq_replica *r, const struct ft_event *ev, struct ft_actions *out)
{
    uint64_t n;
    struct demo_msg m;

    if (ev->from != r->sequencer) {
        ft_emit_drop(out, FT_DROP_UNKNOWN_SENDER, ev->data, ev->len);
        return;
    }
    if (ev->len < 9 || ev->data[0] != SEQ_ORDER || !demo_msg_parse(ev->data + 9, ev->len - 9, &m)
        || !(n = get_be64(ev->data + 1))) {
        ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        return;
    }
#ifdef SEQ_BROKEN
    if (n > r->applied) {
        seq_replica_apply(r, n, ev->data + 9, ev->len - 9, out);
    }
#else
    if (n <= r->applied || u64map_get(&r->ahead, n, NULL)) {
        ft_emit_drop(out, FT_DROP_DUPLICATE, NULL, 0);
    } else if (n - r->applied > SEQ_MAX_AHEAD) {
        ft_emit_drop(out, FT_DROP_OVERLOAD, NULL, 0);
    } else {
        struct seq_entry *e = xmalloc(sizeof *e);
        e->len = ev->len - 9;
        e->msg = xmalloc(e->len);
        memcpy(e->msg, ev->data + 9, e->len);
        u64map_put(&r->ahead, n, (uintptr_t) e);
        seq_replica_drain(r, out);
    }
#endif
    seq_replica_ack(r, out);
}

static void
seq_replica_request_state(struct seq_replica *r, uint64_t now, struct ft_actions *out)
{
    /* Every peer tried three times: give up and let the sequencer's retransmissions
     * rebuild everything from number 1. */
    if (!r->n_peers || r->state_tries >= 3 * r->n_peers) {
        r->awaiting_state = false;
        seq_replica_ack(r, out);
        return;
    }
    ft_emit_request_state(out, r->peers[r->state_tries++ % r->n_peers]);
    ft_emit_timer(out, SEQ_TIMER_STATE, now + r->state_timeout_ns);
}

static int
seq_replica_import(struct seq_replica *r, const uint8_t *data, size_t len)
{
    uint64_t n, chain;

    if (len != 16) {
        return EINVAL;
    }
    n = get_be64(data);
    chain = get_be64(data + 8);
    if (n > r->applied) {
        /* Walk the buffer, not the numbers: an image may claim any n. */
        uint64_t *stale = xmalloc((u64map_count(&r->ahead) + 1) * sizeof *stale);
        const struct u64map_slot *slot;
        size_t n_stale = 0;

        for (size_t pos = 0; u64map_next(&r->ahead, &pos, &slot);) {
            if (slot->key <= n) {
                stale[n_stale++] = slot->key;
            }
        }
        for (size_t i = 0; i < n_stale; i++) {
            seq_replica_forget(r, stale[i]);
        }
        free(stale);
        r->applied = n;
        r->chain = chain;
    }
    return 0;
}

static int
seq_replica_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct seq_replica *r = seq_replica_cast(core);
    uint8_t image[16];

    switch (ev->kind) {
    case FT_EV_START:
        if (ev->incarnation) {
            r->awaiting_state = true;
            seq_replica_request_state(r, ev->now_ns, out);
        }
        break;
    case FT_EV_PEER_MSG:
        seq_replica_on_order(r, ev, out);
        break;
    case FT_EV_STATE_REQUEST:
        put_be64(image, r->applied);
        put_be64(image + 8, r->chain);
        ft_emit_state(out, ev->from, image, sizeof image);
        break;
    case FT_EV_STATE:
        if (!r->awaiting_state) {
            ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        } else if (seq_replica_import(r, ev->data, ev->len)) {
            ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        } else {
            r->awaiting_state = false;
            ft_emit_cancel(out, SEQ_TIMER_STATE);
            ft_emit_note(out, "state from peer: continue after %llu",
                         (unsigned long long) r->applied);
            seq_replica_drain(r, out);
            seq_replica_ack(r, out);
        }
        break;
    case FT_EV_TIMER:
        if (ev->timer == SEQ_TIMER_STATE && r->awaiting_state) {
            seq_replica_request_state(r, ev->now_ns, out);
        }
        break;
    default:
        break;
    }
    return 0;
}

static int
seq_replica_export_state(const struct ft_core *core, struct buf *b)
{
    const struct seq_replica *r = seq_replica_cast(core);

    buf_put_be64(b, r->applied);
    buf_put_be64(b, r->chain);
    return 0;
}

static int
seq_replica_import_state(struct ft_core *core, const uint8_t *data, size_t len)
{
    return seq_replica_import(seq_replica_cast(core), data, len);
}

const struct ft_core_class SEQ_REPLICA_CLASS = {
    .name = "seq_replica" SEQ_SUFFIX,
    .summary = "applies requests in the sequencer's order; takes state from a peer on restart",
    .create = seq_replica_create,
    .destroy = seq_replica_destroy,
    .step = seq_replica_step,
    .export_state = seq_replica_export_state,
    .import_state = seq_replica_import_state,
};
