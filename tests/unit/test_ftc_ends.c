/* FTC's ends (vnfs/ft/ftc/ends.c) under a stream. The forwarder: the buffer's logs that came in
 * one wake-up ride the data packets of that same wake-up, and propagating packets carry only
 * what those left; an idle chain still gets its propagating packet at once; the buffer's commit
 * vectors ride the first packet after they changed. The buffer: one
 * message to the forwarder per receive batch, but once it holds many packets (a saturated
 * chain) one per quarter tick or full message; a lone packet's logs still go at once; within
 * a batch, a message goes only once full. ftc_packet_put_encoded() builds what ftc_packet_put()
 * does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/ftc/ftc.h"

#define R0 1
#define BUFFER 101
#define MS 1000000ull

struct fwd {
    struct ft_core *core;
    struct ft_actions out;
    uint64_t timer_at[8];       /* Armed timers by id (0: not armed). */
};

static void
fwd_step(struct fwd *w, const struct ft_event *ev)
{
    ft_actions_clear(&w->out);
    assert_int_equal(ft_core_step(w->core, ev, &w->out), 0);
    for (size_t i = 0; i < w->out.n; i++) {
        const struct ft_action *a = &w->out.v[i];

        if (a->kind == FT_ACT_TIMER_ARM && a->timer < 8) {
            w->timer_at[a->timer] = a->at_ns;
        }
    }
}

/* 'lost': the forwarder's parameter, or NULL for its default. */
static void
fwd_open_lost(struct fwd *w, const char *lost)
{
    static const uint32_t next = R0, peers = BUFFER;
    const struct ft_param params[] = {
        { "tick", "2ms" }, { "max_msg", "900" }, { "window", "256" }, { "lost", lost },
    };
    struct ft_config cfg = { .self = 100, .next = &next, .n_next = 1, .peers = &peers,
                             .n_peers = 1, .params = params, .n_params = lost ? 4 : 3 };
    struct ft_event start = { .kind = FT_EV_START };

    memset(w, 0, sizeof *w);
    ft_rng_init(&cfg.rng, 1);
    assert_int_equal(ft_core_create(ft_core_class_find("ftc_forwarder"), &cfg, &w->core, NULL),
                     0);
    ft_actions_init(&w->out);
    fwd_step(w, &start);
}

static void
fwd_open(struct fwd *w)
{
    fwd_open_lost(w, NULL);
}

static void
fwd_close(struct fwd *w)
{
    ft_actions_uninit(&w->out);
    ft_core_destroy(w->core);
}

/* Counts what the last step sent on to r_0: data and propagating packets, and the logs they
 * carried. */
static void
fwd_sent(const struct fwd *w, size_t *data, size_t *prop, size_t *logs)
{
    static struct ftc_message m;

    *data = *prop = *logs = 0;
    for (size_t i = 0; i < w->out.n; i++) {
        const struct ft_action *a = &w->out.v[i];
        enum ftc_packet_type type;
        const uint8_t *inner;
        size_t inner_len;

        if (a->kind != FT_ACT_FORWARD) {
            continue;
        }
        assert_int_equal(a->to, R0);
        assert_true(ftc_packet_parse(a->data, a->len, &type, &m, &inner, &inner_len));
        *data += type == FTC_PKT_DATA;
        *prop += type == FTC_PKT_PROPAGATE;
        *logs += m.n_logs;
    }
}

static void
data_packet(struct fwd *w, uint64_t now)
{
    static const uint8_t inner[64];
    struct ft_event ev = { .kind = FT_EV_PACKET, .now_ns = now, .from = 0, .data = inner,
                           .len = sizeof inner };

    fwd_step(w, &ev);
}

static void
data_packets(struct fwd *w, uint64_t now, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        data_packet(w, now);
    }
}

/* The buffer's piggyback message with 'n' logs of group 1 (seq first..first+n-1), each with
 * 'upd' bytes of state delta. */
static void
piggyback(struct fwd *w, uint64_t now, size_t n, uint64_t first, size_t upd)
{
    static struct ftc_message m;
    static uint8_t delta[256];
    struct buf b = BUF_INITIALIZER;
    struct ft_event ev = { .kind = FT_EV_PEER_MSG, .now_ns = now, .from = BUFFER };

    memset(&m, 0, sizeof m);
    for (size_t i = 0; i < n; i++) {
        m.logs[i] = (struct ftc_log) { .group = 1, .epoch = 0, .n_ent = 1, .upd = delta,
                                       .upd_len = upd };
        m.logs[i].ent[0] = (struct ftc_entry) { .part = 0, .write = true, .seq = first + i };
    }
    m.n_logs = n;
    buf_put_u8(&b, FTC_MSG_PIGGYBACK);
    buf_put_be32(&b, 0);
    buf_put_be32(&b, 0);
    ftc_message_put(&b, &m);
    ev.data = b.data;
    ev.len = b.len;
    fwd_step(w, &ev);
    buf_uninit(&b);
}

static void
fire(struct fwd *w, uint64_t id)
{
    struct ft_event ev = { .kind = FT_EV_TIMER, .now_ns = w->timer_at[id], .timer = id };

    w->timer_at[id] = 0;
    fwd_step(w, &ev);
}

/* A stream: a data packet every 50 us. One wake-up brings the buffer's message with more logs
 * than four packets carry (a guest the shared CPU left waiting), then the data packets that
 * queued meanwhile. The logs go on those packets: no propagating packet. */
static void
test_logs_ride_the_batch(void **state)
{
    struct fwd w;
    size_t data, prop, logs, carried = 0;
    uint64_t t = 1 * MS;

    (void) state;
    fwd_open(&w);
    data_packet(&w, t);
    /* 48 logs of 85 bytes (76 of delta): ~4 KB, more than 4 packets' 900 bytes. */
    t += 50000;
    piggyback(&w, t, 48, 1, 76);
    fwd_sent(&w, &data, &prop, &logs);
    assert_int_equal(prop, 0);          /* Not at once: the batch in hand comes first. */
    assert_true(w.timer_at[4] == t);    /* FTC_FWD_TIMER_FULL, after the batch. */
    for (int i = 0; i < 5; i++) {
        data_packet(&w, t);
        fwd_sent(&w, &data, &prop, &logs);
        assert_int_equal(data, 1);
        assert_int_equal(prop, 0);
        carried += logs;
    }
    fire(&w, 4);
    fwd_sent(&w, &data, &prop, &logs);
    carried += logs;
    /* What the five packets left (under four packets' worth) waits for the next ones. */
    assert_int_equal(prop, 0);
    for (int i = 0; carried < 48 && i < 10; i++) {
        data_packet(&w, t + (i + 1) * 50000);
        fwd_sent(&w, &data, &prop, &logs);
        carried += logs;
    }
    assert_int_equal(carried, 48);
    fwd_close(&w);
}

/* When no data packet came in the same wake-up, the timer carries them: propagating packets,
 * at most FTC_FWD_MAX_PROPAGATE, each a full packet's worth. */
static void
test_no_batch_propagates(void **state)
{
    struct fwd w;
    size_t data, prop, logs;
    uint64_t t = 1 * MS;

    (void) state;
    fwd_open(&w);
    data_packet(&w, t);
    piggyback(&w, t + 50000, 48, 1, 76);
    fire(&w, 4);
    fwd_sent(&w, &data, &prop, &logs);
    assert_int_equal(data, 0);
    assert_true(prop >= 1 && prop <= 4);
    assert_true(logs >= 9 * prop);
    fwd_close(&w);
}

/* An idle chain (no data packet for a quarter tick): a propagating packet at once. */
static void
test_idle_propagates_at_once(void **state)
{
    struct fwd w;
    size_t data, prop, logs;

    (void) state;
    fwd_open(&w);
    data_packet(&w, 1 * MS);
    piggyback(&w, 3 * MS, 1, 1, 16);
    fwd_sent(&w, &data, &prop, &logs);
    assert_int_equal(prop, 1);
    assert_int_equal(logs, 1);
    fwd_close(&w);
}

/* The buffer's piggyback message with no log, saying 'arrived' data packets arrived. */
static void
piggyback_arrived(struct fwd *w, uint64_t now, uint32_t arrived)
{
    static struct ftc_message m;
    struct buf b = BUF_INITIALIZER;
    struct ft_event ev = { .kind = FT_EV_PEER_MSG, .now_ns = now, .from = BUFFER };

    memset(&m, 0, sizeof m);
    buf_put_u8(&b, FTC_MSG_PIGGYBACK);
    buf_put_be32(&b, 0);
    buf_put_be32(&b, arrived);
    ftc_message_put(&b, &m);
    ev.data = b.data;
    ev.len = b.len;
    fwd_step(w, &ev);
    buf_uninit(&b);
}

/* The forwarder's room is what its window admits: a driver fed from a socket (vnf_ftc.c)
 * reads only that many, so the forwarder sheds nothing and the rest waits in the socket's
 * queue. It opens as the buffer says packets arrived, and as packets lost on the way age out
 * with no word from the buffer at all. */
static void
test_forwarder_room(void **state)
{
    struct fwd w;
    uint64_t now = 1 * MS;
    size_t shed = 0;

    (void) state;
    fwd_open(&w);
    for (size_t k = 0; k < 256; k++) {
        assert_int_equal(ftc_forwarder_room(w.core, now), 256 - k);
        data_packet(&w, now);
        for (size_t i = 0; i < w.out.n; i++) {
            shed += w.out.v[i].kind == FT_ACT_DROP;
        }
    }
    assert_int_equal(ftc_forwarder_room(w.core, now), 0);
    assert_int_equal(shed, 0);
    assert_int_equal(ftc_forwarder_stats(w.core)->closed_window, 0);
    /* Closed: the fallback still sheds what a driver feeds it anyway. */
    data_packet(&w, now);
    assert_int_equal(w.out.n, 1);
    assert_int_equal(w.out.v[0].kind, FT_ACT_DROP);
    piggyback_arrived(&w, 2 * MS, 100);
    assert_int_equal(ftc_forwarder_room(w.core, 2 * MS), 100);
    /* The other 156 never arrive: 16 ticks (2 ms) after they were sent, they count as lost. */
    assert_int_equal(ftc_forwarder_room(w.core, now + 16 * 2 * MS), 100);
    assert_int_equal(ftc_forwarder_room(w.core, now + 16 * 2 * MS + 1), 256);
    fwd_close(&w);
}

/* A packet on the way counts as lost only after 'lost': one waiting longer than the default
 * 16 ticks (in a chain of guests stopped at their CPU quota) keeps its slot, and the window
 * admits no more than it holds. */
static void
test_forwarder_lost_after(void **state)
{
    struct fwd w;
    uint64_t now = 1 * MS;

    (void) state;
    fwd_open_lost(&w, "200ms");
    data_packets(&w, now, 256);
    assert_int_equal(ftc_forwarder_room(w.core, now + 16 * 2 * MS + 1), 0);
    piggyback_arrived(&w, now + 150 * MS, 56);
    assert_int_equal(ftc_forwarder_room(w.core, now + 200 * MS), 56);
    assert_int_equal(ftc_forwarder_stats(w.core)->counted_lost, 0);
    assert_int_equal(ftc_forwarder_room(w.core, now + 200 * MS + 1), 256);
    assert_int_equal(ftc_forwarder_stats(w.core)->counted_lost, 200);
    fwd_close(&w);
}

/* A new buffer (its guest replaced) counts arrivals from 0 again: the window opens at once,
 * not only as the packets sent to the old one age out ('lost' apart, 'window' at a time). */
static void
test_forwarder_new_buffer(void **state)
{
    struct fwd w;
    uint64_t now = 1 * MS;

    (void) state;
    fwd_open_lost(&w, "1s");
    for (uint32_t k = 1; k <= 20; k++) {
        data_packets(&w, now, 256);
        piggyback_arrived(&w, now, k * 256);
    }
    data_packets(&w, now, 256);
    assert_int_equal(ftc_forwarder_room(w.core, now), 0);
    /* A message of the old buffer that an earlier one passed changes nothing. */
    piggyback_arrived(&w, now, 20 * 256 - 100);
    assert_int_equal(ftc_forwarder_room(w.core, now), 0);
    piggyback_arrived(&w, now + MS, 3);
    assert_int_equal(ftc_forwarder_room(w.core, now + MS), 256);
    data_packet(&w, now + MS);
    piggyback_arrived(&w, now + MS, 4);
    assert_int_equal(ftc_forwarder_room(w.core, now + MS), 256);
    fwd_close(&w);
}

/* More of the buffer's logs at once than the forwarder keeps (its guest was stopped at its CPU
 * quota while the buffer's ran): propagating packets carry the excess at once, and none is
 * thrown out (a gap its tail would repair by retransmission, or by taking a state image). */
static void
test_forwarder_carries_when_full(void **state)
{
    struct fwd w;
    uint64_t now = 1 * MS;
    size_t data, prop, logs, carried = 0, n_prop = 0;

    (void) state;
    fwd_open(&w);
    data_packet(&w, now);
    for (size_t k = 0; k < 20; k++) {
        piggyback(&w, now, FTC_MAX_LOGS, 1 + k * FTC_MAX_LOGS, 8);
        fwd_sent(&w, &data, &prop, &logs);
        carried += logs;
        n_prop += prop;
    }
    assert_true(n_prop > 0);
    assert_int_equal(ftc_forwarder_stats(w.core)->logs_dropped, 0);
    /* The rest ride the next data packets. */
    for (size_t k = 0; k < 200 && carried < 20 * FTC_MAX_LOGS; k++) {
        data_packet(&w, now);
        fwd_sent(&w, &data, &prop, &logs);
        carried += logs;
    }
    assert_int_equal(carried, 20 * FTC_MAX_LOGS);
    fwd_close(&w);
}

/* The commit vectors on what the last step sent on to r_0. */
static size_t
fwd_sent_commits(const struct fwd *w)
{
    static struct ftc_message m;
    size_t n = 0;

    for (size_t i = 0; i < w->out.n; i++) {
        const struct ft_action *a = &w->out.v[i];
        enum ftc_packet_type type;
        const uint8_t *inner;
        size_t inner_len;

        if (a->kind == FT_ACT_FORWARD) {
            assert_true(ftc_packet_parse(a->data, a->len, &type, &m, &inner, &inner_len));
            n += m.n_commits;
        }
    }
    return n;
}

/* The buffer's piggyback message with no log and the commit vectors of groups 0..n-1, each
 * at 'max'. */
static void
piggyback_commits(struct fwd *w, uint64_t now, size_t n, uint64_t max)
{
    static struct ftc_message m;
    struct buf b = BUF_INITIALIZER;
    struct ft_event ev = { .kind = FT_EV_PEER_MSG, .now_ns = now, .from = BUFFER };

    memset(&m, 0, sizeof m);
    for (size_t i = 0; i < n; i++) {
        m.commits[i] = (struct ftc_commit) { .group = i, .epoch = 0, .n_parts = 1 };
        m.commits[i].max[0] = max;
    }
    m.n_commits = n;
    buf_put_u8(&b, FTC_MSG_PIGGYBACK);
    buf_put_be32(&b, 0);
    buf_put_be32(&b, 0);
    ftc_message_put(&b, &m);
    ev.data = b.data;
    ev.len = b.len;
    fwd_step(w, &ev);
    buf_uninit(&b);
}

/* The buffer's commit vectors ride the first data packet after they changed, not every one:
 * they only let the heads prune, and each replica parses every vector a packet carries. The
 * same vectors again change nothing; newer ones ride the next packet. */
static void
test_commits_ride_once(void **state)
{
    struct fwd w;
    uint64_t t = 1 * MS;

    (void) state;
    fwd_open(&w);
    data_packet(&w, t);
    assert_int_equal(fwd_sent_commits(&w), 0);
    piggyback_commits(&w, t + 10000, 5, 7);
    data_packet(&w, t + 20000);
    assert_int_equal(fwd_sent_commits(&w), 5);
    for (int i = 0; i < 3; i++) {
        data_packet(&w, t + 30000 + i * 10000);
        assert_int_equal(fwd_sent_commits(&w), 0);
    }
    piggyback_commits(&w, t + 70000, 5, 7);
    data_packet(&w, t + 80000);
    assert_int_equal(fwd_sent_commits(&w), 0);
    piggyback_commits(&w, t + 90000, 5, 8);
    data_packet(&w, t + 100000);
    assert_int_equal(fwd_sent_commits(&w), 5);
    data_packet(&w, t + 110000);
    assert_int_equal(fwd_sent_commits(&w), 0);
    fwd_close(&w);
}

/* The buffer: 'n' data packets, 'gap' ns apart, each with one log of group 1 (never committed:
 * all stay held), each its own receive batch (a flush timer due by then fires first). Returns
 * the messages it sent the forwarder and the logs they carried; '*armed_at' the flush timer
 * left armed (0: none). */
static size_t
buffer_stream(struct ft_core *core, struct ft_actions *out, uint64_t *t, size_t n, uint64_t gap,
              uint64_t *flush_at, size_t *logs)
{
    static struct ftc_message m, r;
    static const uint8_t inner[64];
    static uint64_t seq = 1;
    size_t msgs = 0;

    for (size_t i = 0; i < n; i++) {
        struct buf b = BUF_INITIALIZER;
        struct ft_event ev = { .kind = FT_EV_PACKET, .from = 2 };

        if (*flush_at && *flush_at <= *t) {
            struct ft_event fire_ev = { .kind = FT_EV_TIMER, .now_ns = *flush_at, .timer = 2 };

            *flush_at = 0;
            ft_actions_clear(out);
            assert_int_equal(ft_core_step(core, &fire_ev, out), 0);
            for (size_t k = 0; k < out->n; k++) {
                if (out->v[k].kind == FT_ACT_SEND) {
                    struct cursor c;

                    cursor_init(&c, out->v[k].data + 9, out->v[k].len - 9);
                    assert_true(ftc_message_read(&c, &r));
                    msgs++;
                    *logs += r.n_logs;
                }
            }
        }
        memset(&m, 0, sizeof m);
        m.logs[0] = (struct ftc_log) { .group = 1, .n_ent = 1 };
        m.logs[0].ent[0] = (struct ftc_entry) { .part = 0, .write = true, .seq = seq++ };
        m.n_logs = 1;
        ftc_packet_put(&b, FTC_PKT_DATA, &m, inner, sizeof inner);
        ev.now_ns = *t;
        ev.data = b.data;
        ev.len = b.len;
        ft_actions_clear(out);
        assert_int_equal(ft_core_step(core, &ev, out), 0);
        for (size_t k = 0; k < out->n; k++) {
            assert_int_not_equal(out->v[k].kind, FT_ACT_FORWARD);  /* Nothing released. */
            assert_int_not_equal(out->v[k].kind, FT_ACT_SEND);
            if (out->v[k].kind == FT_ACT_TIMER_ARM && out->v[k].timer == 2) {
                *flush_at = out->v[k].at_ns;
            }
        }
        buf_uninit(&b);
        *t += gap;
    }
    return msgs;
}

static void
test_buffer_coalesces_when_busy(void **state)
{
    static const uint32_t next = 0, peers = 100;
    static const struct ft_param params[] = { { "tick", "2ms" }, { "max_msg", "900" } };
    struct ft_config cfg = { .self = 101, .next = &next, .n_next = 1, .peers = &peers,
                             .n_peers = 1, .params = params, .n_params = 2 };
    struct ft_event start = { .kind = FT_EV_START };
    struct ft_core *core;
    struct ft_actions out;
    uint64_t t = 1 * MS, flush_at = 0;
    size_t msgs, logs = 0;

    (void) state;
    ft_rng_init(&cfg.rng, 1);
    assert_int_equal(ft_core_create(ft_core_class_find("ftc_buffer"), &cfg, &core, NULL), 0);
    ft_actions_init(&out);
    assert_int_equal(ft_core_step(core, &start, &out), 0);
    /* Few held: each packet's log goes in a message of its own, at once (after its batch). */
    msgs = buffer_stream(core, &out, &t, 16, 20000, &flush_at, &logs);
    assert_int_equal(flush_at, t - 20000);
    assert_int_equal(msgs, 15);
    /* 16 held: the next logs wait for the tick (2 ms, armed at the start), and no timer of
     * their own wakes the buffer: 20 more packets in 400 us send nothing, and then the
     * tick's one message takes them all (none held for a tick yet: no resend). */
    msgs = buffer_stream(core, &out, &t, 20, 20000, &flush_at, &logs);
    assert_int_equal(msgs, 1);          /* The 16th packet's, due before the 17th came. */
    assert_int_equal(logs, 16);
    assert_int_equal(flush_at, 0);
    struct ft_event tick = { .kind = FT_EV_TIMER, .now_ns = 2 * MS, .timer = 1 };
    static struct ftc_message m;

    ft_actions_clear(&out);
    assert_int_equal(ft_core_step(core, &tick, &out), 0);
    msgs = 0;
    for (size_t k = 0; k < out.n; k++) {
        if (out.v[k].kind == FT_ACT_SEND) {
            struct cursor c;

            cursor_init(&c, out.v[k].data + 9, out.v[k].len - 9);
            assert_true(ftc_message_read(&c, &m));
            assert_int_equal(m.n_logs, 20);
            msgs++;
        }
    }
    assert_int_equal(msgs, 1);
    ft_actions_uninit(&out);
    ft_core_destroy(core);
}

/* One receive batch of 40 packets, each with a 101-byte log (92 bytes of delta): the buffer
 * sends a message mid-batch only once the next log would not fit in max_msg (900): 8 logs
 * each, 4 of them, and the batch's timer takes the last 8. A message as soon as half of one
 * was waiting sent 5 logs each, 8 of them: each a send and a wake-up of the forwarder. */
static void
test_buffer_fills_messages(void **state)
{
    static const uint32_t next = 0, peers = 100;
    static const struct ft_param params[] = { { "tick", "2ms" }, { "max_msg", "900" } };
    static const uint8_t inner[64], delta[92];
    struct ft_config cfg = { .self = 101, .next = &next, .n_next = 1, .peers = &peers,
                             .n_peers = 1, .params = params, .n_params = 2 };
    struct ft_event start = { .kind = FT_EV_START };
    static struct ftc_message m, r;
    struct ft_core *core;
    struct ft_actions out;
    uint64_t flush_at = 0;
    size_t msgs = 0;

    (void) state;
    ft_rng_init(&cfg.rng, 1);
    assert_int_equal(ft_core_create(ft_core_class_find("ftc_buffer"), &cfg, &core, NULL), 0);
    ft_actions_init(&out);
    assert_int_equal(ft_core_step(core, &start, &out), 0);
    for (size_t i = 0; i <= 40; i++) {
        struct buf b = BUF_INITIALIZER;
        struct ft_event ev = { .kind = FT_EV_PACKET, .from = 2, .now_ns = 1 * MS };

        if (i == 40) {
            ev = (struct ft_event) { .kind = FT_EV_TIMER, .now_ns = flush_at, .timer = 2 };
        } else {
            memset(&m, 0, sizeof m);
            m.logs[0] = (struct ftc_log) { .group = 1, .n_ent = 1, .upd = delta,
                                           .upd_len = sizeof delta };
            m.logs[0].ent[0] = (struct ftc_entry) { .part = 0, .write = true, .seq = i };
            m.n_logs = 1;
            ftc_packet_put(&b, FTC_PKT_DATA, &m, inner, sizeof inner);
            ev.data = b.data;
            ev.len = b.len;
        }
        ft_actions_clear(&out);
        assert_int_equal(ft_core_step(core, &ev, &out), 0);
        for (size_t k = 0; k < out.n; k++) {
            struct cursor c;

            if (out.v[k].kind == FT_ACT_TIMER_ARM && out.v[k].timer == 2) {
                flush_at = out.v[k].at_ns;
            }
            if (out.v[k].kind != FT_ACT_SEND) {
                continue;
            }
            cursor_init(&c, out.v[k].data + 9, out.v[k].len - 9);
            assert_true(ftc_message_read(&c, &r));
            assert_int_equal(r.n_logs, 8);
            msgs++;
            /* Mid-batch: only once full; the batch's end (its timer) takes the rest. */
            assert_int_equal(msgs, i == 40 ? 5 : (i - 8) / 8 + 1);
        }
        buf_uninit(&b);
    }
    assert_int_equal(msgs, 5);
    ft_actions_uninit(&out);
    ft_core_destroy(core);
}

/* The forwarder's packets with the buffer's logs as their encodings: the same bytes as
 * ftc_packet_put() of the decoded logs, for data and propagating packets. */
static void
test_packet_put_encoded(void **state)
{
    static struct ftc_message m;
    static const uint8_t inner[40] = { 1, 2, 3 }, delta[17] = { 9 };
    struct buf logs[3], a = BUF_INITIALIZER, b = BUF_INITIALIZER;

    (void) state;
    memset(&m, 0, sizeof m);
    for (size_t i = 0; i < 3; i++) {
        m.logs[i] = (struct ftc_log) { .group = i, .epoch = 7, .n_ent = 2, .upd = delta,
                                       .upd_len = i * 5 };
        m.logs[i].ent[0] = (struct ftc_entry) { .part = 0, .write = true, .seq = 100 + i };
        m.logs[i].ent[1] = (struct ftc_entry) { .part = 3, .write = false, .seq = 1ull << 40 };
        buf_init(&logs[i]);
        ftc_log_put(&logs[i], &m.logs[i]);
    }
    m.n_logs = 3;
    m.n_commits = 2;
    for (size_t i = 0; i < 2; i++) {
        m.commits[i] = (struct ftc_commit) { .group = i, .epoch = 3, .prev_epoch = 2,
                                             .n_parts = 1 };
        m.commits[i].start[0] = 5;
        m.commits[i].max[0] = 50 + i;
    }
    for (int type = FTC_PKT_DATA; type <= FTC_PKT_PROPAGATE; type++) {
        buf_clear(&a);
        buf_clear(&b);
        ftc_packet_put(&a, type, &m, inner, sizeof inner);
        ftc_packet_put_encoded(&b, type, logs, 3, &m, inner, sizeof inner);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.data, b.data, a.len);
    }
    for (size_t i = 0; i < 3; i++) {
        buf_uninit(&logs[i]);
    }
    buf_uninit(&a);
    buf_uninit(&b);
}

/* A commit framed (ftc_commit_frame(): as a replica reads those it may pass on) then decoded
 * equals 'want' as read by ftc_commit_read(), and the frame took the same bytes. */
static void
assert_commit_framed(const uint8_t *data, size_t len, const struct ftc_commit *want)
{
    struct ftc_commit f;
    struct cursor rd;

    cursor_init(&rd, data, len);
    assert_true(ftc_commit_frame(&rd, &f) && cursor_done(&rd));
    assert_ptr_equal(f.wire, data);
    assert_int_equal(f.wire_len, len);
    assert_int_equal(f.group, want->group);
    assert_int_equal(f.n_parts, want->n_parts);
    ftc_commit_decode(&f);
    assert_int_equal(f.epoch, want->epoch);
    assert_int_equal(f.prev_epoch, want->prev_epoch);
    for (size_t p = 0; p < want->n_parts; p++) {
        assert_int_equal(f.start[p], want->start[p]);
        assert_int_equal(f.max[p], want->max[p]);
    }
}

/* Commit vectors: the short form of a group's first epoch (no epoch, no history, MAX in 4
 * bytes) and the longer ones after a recovery, each read back as written, framed then decoded
 * alike, and sealed to the same bytes; and the parser takes a commit in its one form only, so what it reads
 * re-encodes to the same bytes, the framing likewise. */
static void
test_commit_forms(void **state)
{
    static const struct {
        uint32_t epoch, prev_epoch;
        uint64_t start, max;
        size_t len;
    } cases[] = {
        { 0, 0, 0, 5, 6 },
        { 0, 0, 0, 20000, 6 },
        { 3, 2, 0, 300, 14 },
        { 3, 3, 77, 300, 18 },
        { 3, 2, 1ull << 40, UINT64_MAX, 26 },
    };
    static const struct {
        uint8_t b[14];
        size_t len;
    } bad[] = {
        { { 4, 0x10, 0, 0, 0, 0, 0, 0, 0, 1 }, 10 },    /* Epoch 0 sent. */
        { { 4, 0x20, 0, 0, 0, 0, 0, 0, 0, 1 }, 10 },    /* prev_epoch = epoch sent. */
        { { 4, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 14 },  /* Start 0 sent. */
        { { 4, 0x80, 0, 0, 0, 0, 0, 0, 0, 1 }, 10 },    /* A small MAX in 8 bytes. */
        { { 4, 0x00, 0, 0, 0 }, 5 },                    /* MAX runs past the end. */
    };
    struct buf b = BUF_INITIALIZER;

    (void) state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ftc_commit c = { .group = 4, .epoch = cases[i].epoch,
                                .prev_epoch = cases[i].prev_epoch, .n_parts = 1 }, r;
        uint8_t sealed[FTC_COMMIT_MAX_WIRE];
        struct cursor rd;

        c.start[0] = cases[i].start;
        c.max[0] = cases[i].max;
        buf_clear(&b);
        ftc_commit_put(&b, &c);
        assert_int_equal(b.len, cases[i].len);
        cursor_init(&rd, b.data, b.len);
        assert_true(ftc_commit_read(&rd, &r) && cursor_done(&rd));
        assert_int_equal(r.group, 4);
        assert_int_equal(r.n_parts, 1);
        assert_int_equal(r.epoch, c.epoch);
        assert_int_equal(r.prev_epoch, c.prev_epoch);
        assert_int_equal(r.start[0], c.start[0]);
        assert_int_equal(r.max[0], c.max[0]);
        assert_commit_framed(b.data, b.len, &c);
        /* Sealed (a replica's own commit, encoded once): the same bytes as its wire form. */
        ftc_commit_seal(&c, sealed);
        assert_ptr_equal(c.wire, sealed);
        assert_int_equal(c.wire_len, b.len);
        assert_memory_equal(sealed, b.data, b.len);
    }
    {
        /* The short form with several partitions: each MAX at its place. */
        struct ftc_commit c = { .group = 7, .n_parts = 3, .max = { 1, 1u << 31, 3 } };

        buf_clear(&b);
        ftc_commit_put(&b, &c);
        assert_int_equal(b.len, 14);
        assert_commit_framed(b.data, b.len, &c);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct ftc_commit r;
        struct cursor rd;

        cursor_init(&rd, bad[i].b, bad[i].len);
        assert_false(ftc_commit_read(&rd, &r));
        cursor_init(&rd, bad[i].b, bad[i].len);
        assert_false(ftc_commit_frame(&rd, &r));
    }
    buf_uninit(&b);
}

/* Logs read back as written, in the short form (epoch 0, 4-byte numbers, a 2-byte length)
 * and the long one; and in their one form only. */
static void
test_log_forms(void **state)
{
    static const uint8_t delta[200] = { 8 };
    static const struct {
        uint8_t b[13];
        size_t len;
    } bad[] = {
        { { 9, 0x20, 0, 0, 0, 0, 0, 0 }, 8 },               /* Epoch 0 sent. */
        { { 9, 0x41, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0 }, 13 },   /* A small number in 8. */
        { { 9, 0x80, 0, 0, 0, 0 }, 6 },                     /* A short length in 4. */
        { { 9, 0x11, 0, 0, 0, 0 }, 6 },                     /* 17 entries. */
        { { 9, 0x01, 0x10, 0, 0, 0, 1, 0, 0 }, 9 },         /* Partition 16. */
    };
    struct ftc_log l = { .group = 9, .n_ent = 1, .upd = delta, .upd_len = sizeof delta }, r;
    struct buf b = BUF_INITIALIZER;

    (void) state;
    l.ent[0] = (struct ftc_entry) { .part = 2, .write = true, .seq = 70000 };
    l.ent[1] = (struct ftc_entry) { .part = 15, .write = false, .seq = 0 };
    for (int form = 0; form < 2; form++) {
        struct cursor rd;

        buf_clear(&b);
        ftc_log_put(&b, &l);
        /* group, flags, epoch, n x (partition, seq), length, delta. */
        assert_int_equal(b.len, form ? 2 + 4 + 2 * 9 + 2 + sizeof delta
                                     : 2 + 5 + 2 + sizeof delta);
        assert_int_equal(b.len, ftc_log_wire_len(&l));
        cursor_init(&rd, b.data, b.len);
        assert_true(ftc_log_read(&rd, &r) && cursor_done(&rd));
        assert_int_equal(r.group, 9);
        assert_int_equal(r.epoch, l.epoch);
        assert_int_equal(r.n_ent, l.n_ent);
        for (size_t i = 0; i < l.n_ent; i++) {
            assert_int_equal(r.ent[i].part, l.ent[i].part);
            assert_int_equal(r.ent[i].write, l.ent[i].write);
            assert_int_equal(r.ent[i].seq, l.ent[i].seq);
        }
        assert_int_equal(r.upd_len, sizeof delta);
        assert_memory_equal(r.upd, delta, sizeof delta);
        l.epoch = 70000;
        l.n_ent = 2;
        l.ent[0].seq = 1ull << 40;
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct cursor rd;

        cursor_init(&rd, bad[i].b, bad[i].len);
        assert_false(ftc_log_read(&rd, &r));
    }
    buf_uninit(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffer_coalesces_when_busy),
        cmocka_unit_test(test_buffer_fills_messages),
        cmocka_unit_test(test_packet_put_encoded),
        cmocka_unit_test(test_commit_forms),
        cmocka_unit_test(test_log_forms),
        cmocka_unit_test(test_logs_ride_the_batch),
        cmocka_unit_test(test_no_batch_propagates),
        cmocka_unit_test(test_idle_propagates_at_once),
        cmocka_unit_test(test_commits_ride_once),
        cmocka_unit_test(test_forwarder_room),
        cmocka_unit_test(test_forwarder_lost_after),
        cmocka_unit_test(test_forwarder_carries_when_full),
        cmocka_unit_test(test_forwarder_new_buffer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
