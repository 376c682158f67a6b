/* voter — a 2f+1 majority voter (the heart of FIT-SFC's voters, reduced to its rule).
 *
 * Input: copies of one request's result from the 2f+1 replicas of the stage before ('group'),
 * at most f of them Byzantine. Rule: a value is decided once f+1 replicas sent copies with the
 * same digest of the semantic content (demo_msg_digest(): the per-replica 'origin' field is left
 * out). At most f liars cannot reach f+1, so the decided value is one a correct replica
 * produced; 2f+1 replicas leave f+1 correct ones, so the vote ends when they are heard.
 * Each request id is delivered at most once; later copies are dropped as duplicates. Only the
 * first copy from each sender counts (a Byzantine replica that changes its mind or a network
 * that duplicates gains nothing). A request that reaches no quorum by 'timeout' after its first
 * copy is halted (FIT-SFC halts the flow) and never delivered later.
 *
 * Needs authenticated senders: a forged 'from' would let one liar vote twice.
 *
 * Parameters: timeout (duration, default 50ms). Config: f, group (2f+1 replicas).
 * State exported: the set of finished request ids (decided or halted). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/demo/demo.h"
#include "vnfs/ft/u64map.h"

/* tests/sim/broken_voter.c compiles this file again with VOTER_BROKEN defined: that voter
 * counts every copy, so a duplicated lie counts twice. It must exist only in test binaries. */
#ifdef VOTER_BROKEN
#define VOTER_CLASS ft_voter_broken_class
#define VOTER_NAME "voter-broken"
#else
#define VOTER_CLASS ft_voter_class
#define VOTER_NAME "voter"
#endif

#define VOTER_MAGIC 0x564f5431u  /* "VOT1" */

struct voter_vote {
    uint32_t sender;
    uint8_t digest[16];
    uint8_t *msg;
    size_t len;
};

struct voter_pending {
    uint64_t req_id;
    size_t n_votes;
    struct voter_vote votes[];  /* Up to voter->max_votes. */
};

struct voter {
    struct ft_core up;
    uint32_t f;
    uint32_t *group;
    size_t n_group;
    size_t max_votes;
    uint64_t timeout_ns;
    struct u64map pending;      /* req_id -> struct voter_pending *. */
    struct u64map finished;     /* req_id -> 1 decided, 2 halted. */
};

enum { VOTER_DECIDED = 1, VOTER_HALTED = 2 };

static struct voter *
voter_cast(const struct ft_core *core)
{
    return (struct voter *) core;
}

static int
voter_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct voter *v;
    uint64_t timeout;
    int error;

    if (cfg->n_group != 2 * (size_t) cfg->f + 1) {
        if (errp) {
            *errp = xasprintf("voter: needs 2f+1 = %u replicas in its group, got %zu",
                              2 * cfg->f + 1, cfg->n_group);
        }
        return EINVAL;
    }
    error = ft_config_duration(cfg, "timeout", 50 * 1000 * 1000, &timeout, errp);
    if (error) {
        return error;
    }
    v = xzalloc(sizeof *v);
    v->f = cfg->f;
    v->n_group = cfg->n_group;
    v->group = xmalloc(cfg->n_group * sizeof *v->group);
    memcpy(v->group, cfg->group, cfg->n_group * sizeof *v->group);
    v->max_votes = 2 * cfg->n_group;
    v->timeout_ns = timeout;
    u64map_init(&v->pending);
    u64map_init(&v->finished);
    *corep = &v->up;
    return 0;
}

static void
voter_pending_free(struct voter_pending *p)
{
    for (size_t i = 0; i < p->n_votes; i++) {
        free(p->votes[i].msg);
    }
    free(p);
}

static void
voter_destroy(struct ft_core *core)
{
    struct voter *v = voter_cast(core);
    const struct u64map_slot *slot;

    for (size_t pos = 0; u64map_next(&v->pending, &pos, &slot);) {
        voter_pending_free((struct voter_pending *) (uintptr_t) slot->value);
    }
    u64map_destroy(&v->pending);
    u64map_destroy(&v->finished);
    free(v->group);
    free(v);
}

static bool
voter_is_replica(const struct voter *v, uint32_t sender)
{
    for (size_t i = 0; i < v->n_group; i++) {
        if (v->group[i] == sender) {
            return true;
        }
    }
    return false;
}

static void
voter_finish(struct voter *v, struct voter_pending *p, int how)
{
    u64map_remove(&v->pending, p->req_id, NULL);
    u64map_put(&v->finished, p->req_id, how);
    voter_pending_free(p);
}

/* Returns the vote whose digest has reached f+1 copies, or NULL. */
static const struct voter_vote *
voter_decide(const struct voter *v, const struct voter_pending *p, const uint8_t digest[16])
{
    const struct voter_vote *first = NULL;
    size_t count = 0;

    for (size_t i = 0; i < p->n_votes; i++) {
        if (!memcmp(p->votes[i].digest, digest, 16)) {
            first = first ? first : &p->votes[i];
            count++;
        }
    }
    return count >= v->f + 1 ? first : NULL;
}

static void
voter_on_copy(struct voter *v, const struct ft_event *ev, struct ft_actions *out)
{
    struct voter_pending *p;
    struct voter_vote *vote;
    const struct voter_vote *winner;
    struct demo_msg m;
    uint64_t value;

    if (!voter_is_replica(v, ev->from)) {
        ft_emit_drop(out, FT_DROP_UNKNOWN_SENDER, ev->data, ev->len);
        return;
    }
    if (!demo_msg_parse(ev->data, ev->len, &m)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        return;
    }
    if (u64map_get(&v->finished, m.req_id, NULL)) {
        ft_emit_drop(out, FT_DROP_DUPLICATE, ev->data, ev->len);
        return;
    }
    if (u64map_get(&v->pending, m.req_id, &value)) {
        p = (struct voter_pending *) (uintptr_t) value;
    } else {
        p = xzalloc(sizeof *p + v->max_votes * sizeof p->votes[0]);
        p->req_id = m.req_id;
        u64map_put(&v->pending, m.req_id, (uintptr_t) p);
        ft_emit_timer(out, m.req_id, ev->now_ns + v->timeout_ns);
    }
#ifndef VOTER_BROKEN
    for (size_t i = 0; i < p->n_votes; i++) {
        if (p->votes[i].sender == ev->from) {
            ft_emit_drop(out, FT_DROP_DUPLICATE, ev->data, ev->len);
            return;
        }
    }
#endif
    if (p->n_votes >= v->max_votes) {
        ft_emit_drop(out, FT_DROP_OVERLOAD, ev->data, ev->len);
        return;
    }
    vote = &p->votes[p->n_votes++];
    vote->sender = ev->from;
    demo_msg_digest(ev->data, ev->len, vote->digest);
    vote->msg = xmalloc(ev->len);
    memcpy(vote->msg, ev->data, ev->len);
    vote->len = ev->len;

    winner = voter_decide(v, p, vote->digest);
    if (winner) {
        ft_emit_deliver(out, winner->msg, winner->len);
        ft_emit_cancel(out, p->req_id);
        voter_finish(v, p, VOTER_DECIDED);
    } else if (p->n_votes >= v->n_group) {
        /* Every replica has spoken and no value has f+1: more than f are faulty. */
        ft_emit_drop(out, FT_DROP_NO_QUORUM, NULL, 0);
        ft_emit_note(out, "halt request %llu: %zu copies, no %u identical",
                     (unsigned long long) p->req_id, p->n_votes, v->f + 1);
        ft_emit_cancel(out, p->req_id);
        voter_finish(v, p, VOTER_HALTED);
    }
}

static int
voter_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct voter *v = voter_cast(core);
    uint64_t value;

    switch (ev->kind) {
    case FT_EV_PACKET:
        voter_on_copy(v, ev, out);
        break;
    case FT_EV_TIMER:
        if (u64map_get(&v->pending, ev->timer, &value)) {
            struct voter_pending *p = (struct voter_pending *) (uintptr_t) value;
            ft_emit_drop(out, FT_DROP_NO_QUORUM, NULL, 0);
            ft_emit_note(out, "halt request %llu: timeout with %zu copies",
                         (unsigned long long) p->req_id, p->n_votes);
            voter_finish(v, p, VOTER_HALTED);
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

static int
voter_cmp_u64(const void *a_, const void *b_)
{
    uint64_t a = *(const uint64_t *) a_, b = *(const uint64_t *) b_;
    return a < b ? -1 : a > b;
}

/* Image: magic, count, then (req_id, how) pairs sorted by id, so equal states give equal bytes. */
static int
voter_export_state(const struct ft_core *core, struct buf *b)
{
    const struct voter *v = voter_cast(core);
    size_t n = u64map_count(&v->finished), i = 0;
    uint64_t *ids = xmalloc((n ? n : 1) * sizeof *ids);
    const struct u64map_slot *slot;

    for (size_t pos = 0; u64map_next(&v->finished, &pos, &slot);) {
        ids[i++] = slot->key << 2 | slot->value;
    }
    qsort(ids, n, sizeof *ids, voter_cmp_u64);
    buf_put_be32(b, VOTER_MAGIC);
    buf_put_be64(b, n);
    for (i = 0; i < n; i++) {
        buf_put_be64(b, ids[i]);
    }
    free(ids);
    return 0;
}

static int
voter_import_state(struct ft_core *core, const uint8_t *data, size_t len)
{
    struct voter *v = voter_cast(core);
    uint64_t n;

    if (len < 12 || get_be32(data) != VOTER_MAGIC) {
        return EINVAL;
    }
    n = get_be64(data + 4);
    if (n > (len - 12) / 8 || len - 12 != n * 8) {
        return EINVAL;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t w = get_be64(data + 12 + 8 * i);
        if ((w & 3) != VOTER_DECIDED && (w & 3) != VOTER_HALTED) {
            return EINVAL;
        }
    }
    u64map_clear(&v->finished);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t w = get_be64(data + 12 + 8 * i);
        u64map_put(&v->finished, w >> 2, w & 3);
    }
    return 0;
}

const struct ft_core_class VOTER_CLASS = {
    .name = VOTER_NAME,
    .summary = "2f+1 majority voter: decides on f+1 identical digests, exactly once per request",
    .create = voter_create,
    .destroy = voter_destroy,
    .step = voter_step,
    .export_state = voter_export_state,
    .import_state = voter_import_state,
};
