/* Unit tests of FTC's multithreaded head (ftc_replica with threads > 1, vnfs/ft/ftc/ftc.h):
 * batches of packets whose transactions run on 4 threads over shared partitions (the 'stamp'
 * middlebox: a counter and a digest chain per key), the head's logs applied by its successor,
 * the group's tail, in the order they left and in reverse order per batch (the tail stashes
 * what does not apply yet). The tail must end with the head's store and MAX vector, and each
 * key's counts, read from the logs in the order of their partition's sequence numbers, must be
 * 1, 2, 3, ...: a partition's numbers follow the order its writers committed in. A head that
 * numbers its logs after releasing the locks (test_late_seq) must be caught by that check.
 * The 'monitor' middlebox's sharing level (threads per counter) on 4 threads, replicated too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/demo/demo.h"
#include "vnfs/ft/ftc/ftc.h"
#include "tests/unit/sent.h"

#define T_KEYS 6
#define T_PARTS 4
#define T_PACKETS 3000
#define T_BATCH_TIMER 3         /* FTC_REPLICA_TIMER_BATCH. */

static struct ft_core *
make_mbox_replica(uint32_t self, unsigned threads, bool late_seq, const char *mbox,
                  const char *mbox_params)
{
    static const uint32_t ring[2] = { 1, 2 };
    uint32_t next = self == 1 ? 2 : 100;
    char threads_s[8];
    struct ft_param params[] = {
        { "n", "2" }, { "partitions", "4" }, { "mbox", mbox }, { "mbox_params", mbox_params },
        { "threads", threads_s }, { "test_late_seq", late_seq ? "1" : "0" },
    };
    struct ft_config cfg = {
        .self = self, .f = 1, .group = ring, .n_group = 2, .next = &next, .n_next = 1,
        .params = params, .n_params = ARRAY_SIZE(params),
    };
    struct ft_core *core = NULL;
    char *err = NULL;

    snprintf(threads_s, sizeof threads_s, "%u", threads);
    if (ft_core_create(ft_core_class_find("ftc_replica"), &cfg, &core, &err)) {
        fail_msg("ftc_replica: %s", err);
    }
    return core;
}

static struct ft_core *
make_replica(uint32_t self, unsigned threads, bool late_seq)
{
    return make_mbox_replica(self, threads, late_seq, "stamp", "keys=6");
}

static void
step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    assert_int_equal(ft_core_step(core, ev, out), 0);
}

/* One stamp packet: an empty message, a demo message of body (key, write, filter) bytes. */
static void
make_packet(struct buf *b, uint64_t id, uint32_t seed)
{
    uint8_t body[3] = { seed % T_KEYS, 1 + (seed >> 8) % 7, 1 + (seed >> 16) % 11 };
    struct demo_msg m = { .req_id = id, .client = 1, .body = body, .body_len = sizeof body };
    struct ftc_message empty = { 0 };
    struct buf inner;

    buf_init(&inner);
    demo_msg_put(&inner, &m);
    buf_put_u8(&inner, 0);              /* No stamps yet. */
    buf_clear(b);
    ftc_packet_put(b, FTC_PKT_DATA, &empty, inner.data, inner.len);
    buf_uninit(&inner);
}

/* A write of one key, as the logs show it. */
struct kwrite {
    uint8_t key;
    uint64_t seq, count;
};

static int
kwrite_cmp(const void *a_, const void *b_)
{
    const struct kwrite *a = a_, *b = b_;

    if (a->key != b->key) {
        return a->key < b->key ? -1 : 1;
    }
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Whether every key's counts, in its partition's number order, are 1, 2, 3, ... in the head's
 * logs of group 0 on 'sent'. */
static bool
counts_in_seq_order(const struct sent *s)
{
    struct ftc_message *msg = xzalloc(sizeof *msg);
    struct kwrite *w = xcalloc(s->n + 1, sizeof *w);
    size_t n = 0;
    bool ok = true;

    for (size_t i = 0; i < s->n; i++) {
        enum ftc_packet_type type;
        const uint8_t *inner;
        size_t inner_len;

        assert_true(ftc_packet_parse(s->v[i].data, s->v[i].len, &type, msg, &inner,
                                     &inner_len));
        for (size_t k = 0; k < msg->n_logs; k++) {
            const struct ftc_log *l = &msg->logs[k];
            struct nf_state *d;

            if (l->group != 0 || !l->upd_len) {
                continue;
            }
            d = state_create();
            assert_int_equal(state_import_records(d, l->upd, l->upd_len), 0);
            for (uint8_t key = 0; key < T_KEYS; key++) {
                uint8_t kb[2] = { 'c', key };
                unsigned part = ftc_partition_of(kb, sizeof kb, T_PARTS);
                const uint8_t *v;
                size_t vlen;

                if (!state_get(d, kb, sizeof kb, &v, &vlen)) {
                    continue;
                }
                for (size_t e = 0; e < l->n_ent; e++) {
                    if (l->ent[e].part == part && l->ent[e].write) {
                        w[n++] = (struct kwrite) { key, l->ent[e].seq, get_be64(v) };
                    }
                }
            }
            state_destroy(d);
        }
    }
    qsort(w, n, sizeof *w, kwrite_cmp);
    for (size_t i = 0; i < n && ok; i++) {
        uint64_t want = i && w[i - 1].key == w[i].key ? w[i - 1].count + 1 : 1;

        ok = w[i].count == want;
    }
    free(w);
    free(msg);
    return ok;
}

static void
same_group0(const struct ft_core *head, const struct ft_core *tail)
{
    uint64_t hmax[FTC_MAX_PARTS], tmax[FTC_MAX_PARTS];
    uint8_t hd[STATE_DIGEST_LEN], td[STATE_DIGEST_LEN];
    uint32_t he, te;
    const struct nf_state *hs = ftc_replica_store(head, 0, hmax, &he);
    const struct nf_state *ts = ftc_replica_store(tail, 0, tmax, &te);

    assert_non_null(hs);
    assert_non_null(ts);
    assert_int_equal(state_count(hs), T_KEYS);
    state_digest(hs, hd);
    state_digest(ts, td);
    assert_memory_equal(hd, td, sizeof hd);
    assert_memory_equal(hmax, tmax, T_PARTS * sizeof *hmax);
}

/* Runs T_PACKETS packets through a head of 'threads' threads in batches of 1..64; the packets
 * it sent are in 's' (and, applied in sent order, in 'tail', in reverse order per batch, in
 * 'rtail', when not NULL). */
static void
run_head(struct ft_core *head, struct ft_core *tail, struct ft_core *rtail, struct sent *s)
{
    struct ft_actions out, tout;
    struct buf pkt;
    uint32_t seed = 12345;
    uint64_t id = 1;
    struct ft_event start = { .kind = FT_EV_START };

    ft_actions_init(&out);
    ft_actions_init(&tout);
    buf_init(&pkt);
    step(head, &start, &out);
    ft_actions_clear(&out);
    if (tail) {
        step(tail, &start, &tout);
        step(rtail, &start, &tout);
        ft_actions_clear(&tout);
    }
    while (id <= T_PACKETS) {
        size_t first = s->n;
        unsigned batch;

        seed = seed * 1103515245 + 12345;
        batch = 1 + (seed >> 16) % 64;
        for (unsigned i = 0; i < batch && id <= T_PACKETS; i++, id++) {
            struct ft_event ev = { .kind = FT_EV_PACKET, .now_ns = id, .from = 0 };

            seed = seed * 1103515245 + 12345;
            make_packet(&pkt, id, seed >> 4);
            ev.data = pkt.data;
            ev.len = pkt.len;
            step(head, &ev, &out);
            collect(s, &out);
        }
        {
            struct ft_event ev = { .kind = FT_EV_TIMER, .now_ns = id, .timer = T_BATCH_TIMER };

            step(head, &ev, &out);
            collect(s, &out);
        }
        for (size_t i = first; tail && i < s->n; i++) {
            struct ft_event ev = { .kind = FT_EV_PACKET, .now_ns = id, .from = 1,
                                   .data = s->v[i].data, .len = s->v[i].len };
            struct ft_event rev = { .kind = FT_EV_PACKET, .now_ns = id, .from = 1,
                                    .data = s->v[s->n - 1 - (i - first)].data,
                                    .len = s->v[s->n - 1 - (i - first)].len };

            step(tail, &ev, &tout);
            ft_actions_clear(&tout);
            step(rtail, &rev, &tout);
            ft_actions_clear(&tout);
        }
    }
    buf_uninit(&pkt);
    ft_actions_uninit(&out);
    ft_actions_uninit(&tout);
}

/* Four threads: every packet went through one transaction (some retried after a wound), the
 * logs are numbered in commit order, and both tails reach the head's state. */
#define T_TICK_TIMER 1          /* FTC_REPLICA_TIMER_TICK. */
#define T_TICK_NS 1000000       /* ftc_replica's default tick. */

static size_t
count_actions(const struct ft_actions *out, enum ft_action_kind kind, uint64_t timer)
{
    size_t n = 0;

    for (size_t i = 0; i < out->n; i++) {
        n += out->v[i].kind == kind && (kind != FT_ACT_TIMER_ARM || out->v[i].timer == timer);
    }
    return n;
}

/* A replica's tick runs only while something waits for it: none after a start, nor while
 * packets come in order (it was a wake-up every tick on every middlebox, for nothing). A tail
 * that stashes a log (the packet before it was lost) asks its predecessor at once and arms the
 * tick, which asks again each tick while the log waits (the request may be lost too), and
 * stops once the missing log came. */
static void
test_tick_only_while_waiting(void **state)
{
    struct ft_core *head = make_replica(1, 1, false);
    struct ft_core *tail = make_replica(2, 1, false);
    struct ft_event start = { .kind = FT_EV_START };
    struct ft_actions out;
    struct sent s = { 0 };
    uint64_t now = 1000;
    struct buf b;

    ft_actions_init(&out);
    buf_init(&b);
    step(head, &start, &out);
    assert_int_equal(count_actions(&out, FT_ACT_TIMER_ARM, T_TICK_TIMER), 0);
    ft_actions_clear(&out);
    step(tail, &start, &out);
    assert_int_equal(count_actions(&out, FT_ACT_TIMER_ARM, T_TICK_TIMER), 0);
    ft_actions_clear(&out);
    for (uint64_t id = 1; id <= 3; id++) {
        /* Seeds 6, 12, 18: each writes key 0, so each log follows the one before. */
        struct ft_event ev = { .kind = FT_EV_PACKET, .now_ns = now++, .from = 0 };

        make_packet(&b, id, 6 * id);
        ev.data = b.data;
        ev.len = b.len;
        step(head, &ev, &out);
        assert_int_equal(count_actions(&out, FT_ACT_TIMER_ARM, T_TICK_TIMER), 0);
        collect(&s, &out);
    }
    assert_int_equal(s.n, 3);

    /* In order: nothing waits. */
    {
        struct ft_event ev = { .kind = FT_EV_PACKET, .now_ns = now++, .from = 1,
                               .data = s.v[0].data, .len = s.v[0].len };

        step(tail, &ev, &out);
        assert_int_equal(count_actions(&out, FT_ACT_TIMER_ARM, T_TICK_TIMER), 0);
        ft_actions_clear(&out);
    }
    /* The second is lost: the third's log waits in the stash; asked for at once. */
    {
        struct ft_event ev = { .kind = FT_EV_PACKET, .now_ns = now, .from = 1,
                               .data = s.v[2].data, .len = s.v[2].len };

        step(tail, &ev, &out);
        assert_int_equal(ftc_replica_stats(tail)->stashed, 1);
        assert_int_equal(count_actions(&out, FT_ACT_SEND, 0), 1);
        assert_int_equal(count_actions(&out, FT_ACT_TIMER_ARM, T_TICK_TIMER), 1);
        ft_actions_clear(&out);
    }
    /* Each tick asks again and stays armed while the log waits. */
    for (int t = 0; t < 2; t++) {
        struct ft_event tick = { .kind = FT_EV_TIMER, .timer = T_TICK_TIMER };

        now += T_TICK_NS;
        tick.now_ns = now;
        step(tail, &tick, &out);
        assert_int_equal(count_actions(&out, FT_ACT_SEND, 0), 1);
        assert_int_equal(count_actions(&out, FT_ACT_TIMER_ARM, T_TICK_TIMER), 1);
        ft_actions_clear(&out);
    }
    /* The lost packet comes: both logs apply, and the next tick is the last. */
    {
        struct ft_event ev = { .kind = FT_EV_PACKET, .now_ns = ++now, .from = 1,
                               .data = s.v[1].data, .len = s.v[1].len };
        struct ft_event tick = { .kind = FT_EV_TIMER, .timer = T_TICK_TIMER };

        step(tail, &ev, &out);
        ft_actions_clear(&out);
        now += T_TICK_NS;
        tick.now_ns = now;
        step(tail, &tick, &out);
        assert_int_equal(count_actions(&out, FT_ACT_SEND, 0), 0);
        assert_int_equal(count_actions(&out, FT_ACT_TIMER_ARM, T_TICK_TIMER), 0);
        ft_actions_clear(&out);
    }
    assert_int_equal(ftc_replica_stats(tail)->held_now, 0);
    {
        uint64_t hmax[FTC_MAX_PARTS], tmax[FTC_MAX_PARTS];
        uint8_t hd[STATE_DIGEST_LEN], td[STATE_DIGEST_LEN];
        uint32_t he, te;

        state_digest(ftc_replica_store(head, 0, hmax, &he), hd);
        state_digest(ftc_replica_store(tail, 0, tmax, &te), td);
        assert_memory_equal(hd, td, sizeof hd);
        assert_memory_equal(hmax, tmax, T_PARTS * sizeof *hmax);
    }
    buf_uninit(&b);
    sent_free(&s);
    ft_actions_uninit(&out);
    ft_core_destroy(head);
    ft_core_destroy(tail);
}

static void
test_threads_replicate(void **state)
{
    struct ft_core *head = make_replica(1, 4, false);
    struct ft_core *tail = make_replica(2, 1, false);
    struct ft_core *rtail = make_replica(2, 1, false);
    struct sent s = { 0 };
    const struct ftc_replica_stats *st;

    run_head(head, tail, rtail, &s);
    st = ftc_replica_stats(head);
    assert_int_equal(st->txs, T_PACKETS);
    assert_true(st->tx_wakeups <= st->txs - st->batches);
    assert_true(counts_in_seq_order(&s));
    same_group0(head, tail);
    same_group0(head, rtail);
    /* In sent order nothing waited; in reverse order the tail kept logs aside. */
    assert_int_equal(ftc_replica_stats(tail)->stashed, 0);
    assert_true(ftc_replica_stats(rtail)->stashed > 0);
    assert_int_equal(ftc_replica_stats(rtail)->held_now, 0);
    printf("# 4 threads: %"PRIu64" transactions, %"PRIu64" tries wounded\n", st->txs,
           st->tx_aborts);
    sent_free(&s);
    ft_core_destroy(head);
    ft_core_destroy(tail);
    ft_core_destroy(rtail);
}

/* A batch wakes no more worker threads than it has transactions beyond the core's thread's
 * own: none for a batch of one (the chain's usual batch below saturation), where waking every
 * worker and waiting for each to check in cost more than the transaction. Batches of one, then
 * of two, on 4 threads; the packets still all go through, in order of their batches. */
static void
test_threads_wake_only_needed(void **state)
{
    struct ft_core *head = make_replica(1, 4, false);
    struct ft_event start = { .kind = FT_EV_START };
    const struct ftc_replica_stats *st;
    struct ft_actions out;
    struct sent s = { 0 };
    uint64_t id = 1;
    struct buf b;

    ft_actions_init(&out);
    buf_init(&b);
    step(head, &start, &out);
    ft_actions_clear(&out);
    for (unsigned per_batch = 1; per_batch <= 2; per_batch++) {
        for (int n = 0; n < 200; n++) {
            struct ft_event tick = { .kind = FT_EV_TIMER, .timer = T_BATCH_TIMER };

            for (unsigned i = 0; i < per_batch; i++, id++) {
                struct ft_event ev = { .kind = FT_EV_PACKET, .now_ns = id, .from = 0 };

                make_packet(&b, id, (uint32_t) id * 2654435761u);
                ev.data = b.data;
                ev.len = b.len;
                step(head, &ev, &out);
                collect(&s, &out);
            }
            tick.now_ns = id;
            step(head, &tick, &out);
            collect(&s, &out);
        }
        st = ftc_replica_stats(head);
        if (per_batch == 1) {
            assert_int_equal(st->batches, 200);
            assert_int_equal(st->tx_wakeups, 0);
        } else {
            assert_int_equal(st->batches, 400);
            assert_in_range(st->tx_wakeups, 1, 200);
        }
    }
    assert_int_equal(st->txs, id - 1);
    assert_int_equal(s.n, id - 1);
    assert_true(counts_in_seq_order(&s));
    buf_uninit(&b);
    sent_free(&s);
    ft_actions_uninit(&out);
    ft_core_destroy(head);
}

/* Numbering after the locks are released lets a partition's later writer take the lower
 * number: some key's counts are then out of order in the logs (a replica would apply an older
 * value over a newer one). Tried a few times: the race needs the threads to interleave. */
static void
test_late_seq_caught(void **state)
{
    bool caught = false;

    for (int attempt = 0; attempt < 10 && !caught; attempt++) {
        struct ft_core *head = make_replica(1, 4, true);
        struct sent s = { 0 };

        run_head(head, NULL, NULL, &s);
        caught = !counts_in_seq_order(&s);
        sent_free(&s);
        ft_core_destroy(head);
    }
    assert_true(caught);
}

/* The 'monitor' middlebox on 4 threads: sharing 1 gives each thread its own counter, sharing
 * 4 one counter all share; either way the counters add up to the packets, and the tail has
 * the head's state. The same on one thread (where it updates its records in place). (The
 * packets are not IPv4: they count under the empty flow.) */
static void
test_threads_monitor_sharing(void **state)
{
    static const struct {
        unsigned threads;
        const char *params;
        size_t max_counters;
    } cases[] = {
        { 4, "sharing=1", 4 }, { 4, "sharing=4", 1 }, { 1, "sharing=1", 1 },
    };

    for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
        struct ft_core *head = make_mbox_replica(1, cases[c].threads, false, "monitor",
                                                 cases[c].params);
        struct ft_core *tail = make_mbox_replica(2, 1, false, "monitor", cases[c].params);
        struct ft_core *rtail = make_mbox_replica(2, 1, false, "monitor", cases[c].params);
        struct sent s = { 0 };
        uint64_t max[FTC_MAX_PARTS], total = 0;
        uint32_t epoch;
        const struct nf_state *st;
        size_t counters = 0;

        run_head(head, tail, rtail, &s);
        st = ftc_replica_store(head, 0, max, &epoch);
        for (unsigned g = 0; g < 8; g++) {
            uint8_t k[4] = { 'M', 's', 0, g };

            if (state_counter_get(st, k, sizeof k)) {
                counters++;
                total += state_counter_get(st, k, sizeof k);
            }
        }
        assert_int_equal(total, T_PACKETS);
        assert_true(counters >= 1 && counters <= cases[c].max_counters);
        {
            uint8_t hd[STATE_DIGEST_LEN], td[STATE_DIGEST_LEN], rd[STATE_DIGEST_LEN];
            uint64_t tmax[FTC_MAX_PARTS];

            state_digest(st, hd);
            state_digest(ftc_replica_store(tail, 0, tmax, &epoch), td);
            state_digest(ftc_replica_store(rtail, 0, tmax, &epoch), rd);
            assert_memory_equal(hd, td, sizeof hd);
            assert_memory_equal(hd, rd, sizeof hd);
        }
        sent_free(&s);
        ft_core_destroy(head);
        ft_core_destroy(tail);
        ft_core_destroy(rtail);
    }
}

/* threads is validated, and a middlebox that is not transactional runs on one thread only. */
static void
test_threads_params(void **state)
{
    static const uint32_t ring[2] = { 1, 2 };
    uint32_t next = 2;
    struct ft_param bad[] = { { "n", "2" }, { "mbox", "stamp" }, { "threads", "65" } };
    struct ft_param nf[] = { { "n", "2" }, { "mbox", "nf" }, { "mbox_params", "monitor" },
                             { "threads", "2" } };
    struct ft_param mon[] = { { "n", "2" }, { "mbox", "monitor" }, { "mbox_params",
                              "sharing=8" }, { "threads", "2" } };
    struct ft_config cfg = { .self = 1, .f = 1, .group = ring, .n_group = 2, .next = &next,
                             .n_next = 1 };
    const struct ft_core_class *c = ft_core_class_find("ftc_replica");
    struct ft_core *core = NULL;
    char *err = NULL;

    cfg.params = bad;
    cfg.n_params = ARRAY_SIZE(bad);
    assert_int_equal(ft_core_create(c, &cfg, &core, &err), EINVAL);
    free(err);
    err = NULL;
    cfg.params = nf;
    cfg.n_params = ARRAY_SIZE(nf);
    assert_int_equal(ft_core_create(c, &cfg, &core, &err), EINVAL);
    assert_non_null(strstr(err, "not transactional"));
    free(err);
    err = NULL;
    cfg.params = mon;
    cfg.n_params = ARRAY_SIZE(mon);
    assert_int_equal(ft_core_create(c, &cfg, &core, &err), 0);
    ft_core_destroy(core);
}

/* Logs in 'sent' of group 'g'. */
static size_t
count_logs(const struct sent *s, unsigned g)
{
    struct ftc_message *msg = xzalloc(sizeof *msg);
    size_t n = 0;

    for (size_t i = 0; i < s->n; i++) {
        enum ftc_packet_type type;
        const uint8_t *inner;
        size_t inner_len;

        assert_true(ftc_packet_parse(s->v[i].data, s->v[i].len, &type, msg, &inner,
                                     &inner_len));
        for (size_t k = 0; k < msg->n_logs; k++) {
            n += msg->logs[k].group == g;
        }
    }
    free(msg);
    return n;
}

/* The group-0 commits of the tail's packet 'tp' to the head on a propagating packet, as the
 * forwarder brings them; what the head sends on goes to 'ps'. Returns the commits. */
static size_t
commit_to_head(struct ft_core *head, const struct buf *tp, uint64_t *now, struct sent *ps)
{
    struct ftc_message *m = xzalloc(sizeof *m), *c = xzalloc(sizeof *c);
    struct ft_event pev = { .kind = FT_EV_PACKET, .now_ns = (*now)++, .from = 0 };
    enum ftc_packet_type type;
    const uint8_t *inner;
    size_t inner_len, n;
    struct ft_actions out;
    struct buf b;

    ft_actions_init(&out);
    buf_init(&b);
    assert_true(ftc_packet_parse(tp->data, tp->len, &type, m, &inner, &inner_len));
    for (size_t k = 0; k < m->n_commits; k++) {
        if (m->commits[k].group == 0) {
            c->commits[c->n_commits++] = m->commits[k];
        }
    }
    ftc_packet_put(&b, FTC_PKT_PROPAGATE, c, NULL, 0);
    pev.data = b.data;
    pev.len = b.len;
    step(head, &pev, &out);
    collect(ps, &out);
    n = c->n_commits;
    free(m);
    free(c);
    buf_uninit(&b);
    ft_actions_uninit(&out);
    return n;
}

/* The head retains each log it writes until a commit vector of its group comes back around the
 * ring (here the tail's, on a propagating packet after each packet, as the forwarder brings
 * them): the buffers of pruned logs are reused, not one malloc and free per log. The tail
 * retains nothing of the group it is the tail of: its own commit vector, on the packet that
 * brought the log, covers it at once. It allocates only for its own logs of group 1 (never
 * pruned here: no commit of group 1 comes back). */
static void
test_retained_logs_reuse(void **state)
{
    struct ft_core *head = make_replica(1, 1, false);
    struct ft_core *tail = make_replica(2, 1, false);
    struct ft_event start = { .kind = FT_EV_START };
    struct ft_actions out;
    struct sent hs = { 0 }, ts = { 0 }, ps = { 0 };
    uint64_t now = 1000;
    size_t g0, own, commits = 0;
    struct buf b;

    ft_actions_init(&out);
    buf_init(&b);
    step(head, &start, &out);
    step(tail, &start, &out);
    ft_actions_clear(&out);
    for (uint64_t id = 1; id <= T_PACKETS; id++) {
        struct ft_event ev = { .kind = FT_EV_PACKET, .now_ns = now++, .from = 0 };
        size_t n0 = hs.n, n1 = ts.n;

        make_packet(&b, id, (uint32_t) (id * 2654435761u));
        ev.data = b.data;
        ev.len = b.len;
        step(head, &ev, &out);
        collect(&hs, &out);
        for (size_t i = n0; i < hs.n; i++) {
            struct ft_event tev = { .kind = FT_EV_PACKET, .now_ns = now++, .from = 1,
                                    .data = hs.v[i].data, .len = hs.v[i].len };

            step(tail, &tev, &out);
            collect(&ts, &out);
        }
        for (size_t i = n1; i < ts.n; i++) {
            commits += commit_to_head(head, &ts.v[i], &now, &ps);
        }
    }
    g0 = count_logs(&hs, 0);
    own = count_logs(&ts, 1);
    assert_true(g0 > T_PACKETS / 2);
    assert_true(commits >= ts.n);
    assert_int_equal(ftc_replica_stats(tail)->stashed, 0);
    assert_true(ftc_replica_stats(head)->log_allocs <= 4);
    assert_int_equal(ftc_replica_stats(tail)->log_allocs, own);
    buf_uninit(&b);
    sent_free(&hs);
    sent_free(&ts);
    sent_free(&ps);
    ft_actions_uninit(&out);
    ft_core_destroy(head);
    ft_core_destroy(tail);
}

/* Commits in bursts, as on a chain of guests at a CPU quota: the head retains T_BURST logs
 * with no commit coming back, then the tail's commit after its T_BURST / 3-th packet prunes
 * exactly the logs it covers (judged by each log's prune key, not by reading it), the one
 * after its last packet all of them; the next T_BURST logs reuse every pruned log's buffer (a
 * fixed number kept, the rest were allocated again). */
#define T_BURST 300

/* The head's packets 'first' .. 'first' + T_BURST - 1 through the tail; the head gets the
 * tail's commit of group 0 after the tail's 'k'-th packet (of 'ts'), then after its last. */
static void
burst_round(struct ft_core *head, struct ft_core *tail, uint64_t first, size_t k,
            uint64_t *now)
{
    struct sent hs = { 0 }, ts = { 0 }, ps = { 0 };
    struct ft_actions out;
    struct buf b;

    ft_actions_init(&out);
    buf_init(&b);
    for (uint64_t id = first; id < first + T_BURST; id++) {
        struct ft_event ev = { .kind = FT_EV_PACKET, .now_ns = (*now)++, .from = 0 };

        make_packet(&b, id, (uint32_t) (id * 2654435761u));
        ev.data = b.data;
        ev.len = b.len;
        step(head, &ev, &out);
        collect(&hs, &out);
    }
    assert_int_equal(hs.n, T_BURST);
    assert_int_equal(ftc_replica_stats(head)->retained_now, T_BURST);
    for (size_t i = 0; i < hs.n; i++) {
        struct ft_event tev = { .kind = FT_EV_PACKET, .now_ns = (*now)++, .from = 1,
                                .data = hs.v[i].data, .len = hs.v[i].len };

        step(tail, &tev, &out);
        collect(&ts, &out);
    }
    assert_int_equal(ts.n, T_BURST);
    assert_int_equal(commit_to_head(head, &ts.v[k - 1], now, &ps), 1);
    assert_int_equal(ftc_replica_stats(head)->retained_now, T_BURST - k);
    assert_int_equal(commit_to_head(head, &ts.v[ts.n - 1], now, &ps), 1);
    assert_int_equal(ftc_replica_stats(head)->retained_now, 0);
    buf_uninit(&b);
    sent_free(&hs);
    sent_free(&ts);
    sent_free(&ps);
    ft_actions_uninit(&out);
}

static void
test_retained_logs_burst(void **state)
{
    struct ft_core *head = make_replica(1, 1, false);
    struct ft_core *tail = make_replica(2, 1, false);
    struct ft_event start = { .kind = FT_EV_START };
    struct ft_actions out;
    uint64_t now = 1000, allocs;

    ft_actions_init(&out);
    step(head, &start, &out);
    step(tail, &start, &out);
    ft_actions_clear(&out);
    burst_round(head, tail, 1, T_BURST / 3, &now);
    allocs = ftc_replica_stats(head)->log_allocs;
    assert_true(allocs >= T_BURST);
    burst_round(head, tail, 1 + T_BURST, T_BURST / 2, &now);
    assert_int_equal(ftc_replica_stats(head)->log_allocs, allocs);
    ft_actions_uninit(&out);
    ft_core_destroy(head);
    ft_core_destroy(tail);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tick_only_while_waiting),
        cmocka_unit_test(test_threads_replicate),
        cmocka_unit_test(test_threads_wake_only_needed),
        cmocka_unit_test(test_late_seq_caught),
        cmocka_unit_test(test_threads_monitor_sharing),
        cmocka_unit_test(test_threads_params),
        cmocka_unit_test(test_retained_logs_reuse),
        cmocka_unit_test(test_retained_logs_burst),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
