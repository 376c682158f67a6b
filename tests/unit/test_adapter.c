/* Unit tests of vnfs/ft/adapter: the wire header (round trips and every malformed field), the
 * endpoint table's syntax, and the action -> syscall mapping on loopback UDP in this process:
 * two `none` cores forwarding a packet to a UDP consumer, the sender checks (unknown source,
 * spoofed id, malformed), timers (fire, cancel, re-arm) with a file consumer, and a voter
 * deciding on 2 of 3 copies and halting a request that never reaches its quorum. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/loop.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/adapter.h"
#include "vnfs/ft/demo/demo.h"

/* --- Wire header. */

static void
test_wire_round_trip(void **state)
{
    static const enum ft_event_kind kinds[] = {
        FT_EV_PACKET, FT_EV_PEER_MSG, FT_EV_STATE, FT_EV_STATE_REQUEST,
    };

    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        struct buf b = BUF_INITIALIZER;
        const char *payload = kinds[i] == FT_EV_STATE_REQUEST ? "" : "hello, core";
        size_t plen = strlen(payload);
        struct ft_wire_hdr hdr;
        const uint8_t *p = NULL;

        ft_wire_encode(&b, kinds[i], 0xdeadbe, payload, plen);
        assert_int_equal(b.len, FT_WIRE_HDR_LEN + plen);
        assert_int_equal(ft_wire_decode(b.data, b.len, &hdr, &p), 0);
        assert_int_equal(hdr.kind, kinds[i]);
        assert_int_equal(hdr.from, 0xdeadbe);
        assert_int_equal(hdr.len, plen);
        assert_ptr_equal(p, b.data + FT_WIRE_HDR_LEN);
        assert_memory_equal(p, payload, plen);
        buf_uninit(&b);
    }
}

static void
assert_rejected(const uint8_t *data, size_t len)
{
    struct ft_wire_hdr hdr = { .kind = FT_EV_N_KINDS, .from = 77, .len = 99 };
    const uint8_t *p = (const uint8_t *) "untouched";

    assert_int_equal(ft_wire_decode(data, len, &hdr, &p), EINVAL);
    assert_int_equal(hdr.kind, FT_EV_N_KINDS);
    assert_int_equal(hdr.from, 77);
    assert_int_equal(hdr.len, 99);
    assert_string_equal((const char *) p, "untouched");
}

static void
test_wire_malformed(void **state)
{
    struct buf b = BUF_INITIALIZER;
    uint8_t m[64];

    ft_wire_encode(&b, FT_EV_PEER_MSG, 3, "abcd", 4);
    assert_true(b.len <= sizeof m);

    /* Every truncation, including the empty datagram and a bare header claiming 4 bytes. */
    for (size_t len = 0; len < b.len; len++) {
        assert_rejected(b.data, len);
    }
    /* Trailing garbage: len no longer matches. */
    memcpy(m, b.data, b.len);
    m[b.len] = 0;
    assert_rejected(m, b.len + 1);

    /* Version. */
    memcpy(m, b.data, b.len);
    m[0] = 2;
    assert_rejected(m, b.len);
    m[0] = 0;
    assert_rejected(m, b.len);

    /* Kinds that never travel, and out of range. */
    static const uint8_t bad_kinds[] = {
        FT_EV_START, FT_EV_TIMER, FT_EV_PEER_DOWN, FT_EV_PEER_UP, FT_EV_N_KINDS, 0xff,
    };
    for (size_t i = 0; i < sizeof bad_kinds; i++) {
        memcpy(m, b.data, b.len);
        m[1] = bad_kinds[i];
        assert_rejected(m, b.len);
    }

    /* Flags. */
    memcpy(m, b.data, b.len);
    m[2] = 0x80;
    assert_rejected(m, b.len);
    memcpy(m, b.data, b.len);
    m[3] = 1;
    assert_rejected(m, b.len);

    /* Length field larger, smaller, and huge (would wrap a careless addition). */
    uint32_t lens[] = { 5, 3, 0, 0xffffffffu, 0x80000004u };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        memcpy(m, b.data, b.len);
        m[8] = lens[i] >> 24;
        m[9] = lens[i] >> 16;
        m[10] = lens[i] >> 8;
        m[11] = lens[i];
        assert_rejected(m, b.len);
    }

    /* A state request carries nothing. */
    memcpy(m, b.data, b.len);
    m[1] = FT_EV_STATE_REQUEST;
    assert_rejected(m, b.len);
    buf_uninit(&b);
}

static void
test_endpoint_parse(void **state)
{
    static const char *const bad[] = {
        "", "1", "1=", "=127.0.0.1:5", "1=127.0.0.1", "1=127.0.0.1:", "1=127.0.0.1:0",
        "1=127.0.0.1:65536", "1=127.0.0.1:-5", "x=127.0.0.1:5", "-1=127.0.0.1:5",
        "4294967295=127.0.0.1:5", "1=localhost:5", "1=1.2.3:5", "1=127.0.0.1:5x",
        "1:2=127.0.0.1:5", "99999999999999999999=1.2.3.4:5",
    };
    struct ft_endpoint_addr ep, untouched;
    char *err = NULL;

    assert_int_equal(ft_endpoint_parse("42=10.0.1.2:7000", &ep, NULL), 0);
    assert_int_equal(ep.id, 42);
    assert_int_equal(ntohs(ep.addr.sin_port), 7000);
    assert_int_equal(ntohl(ep.addr.sin_addr.s_addr), 0x0a000102);

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&untouched, 0x5a, sizeof untouched);
        ep = untouched;
        err = NULL;
        if (ft_endpoint_parse(bad[i], &ep, &err) != EINVAL) {
            fail_msg("accepted '%s'", bad[i]);
        }
        assert_non_null(err);
        assert_non_null(strstr(err, "ID=IPV4:PORT"));
        assert_memory_equal(&ep, &untouched, sizeof ep);
        free(err);
    }
}

/* --- Loopback harness. */

/* A free loopback port: bind port 0, read it, close. Another process may take it in between,
 * which only makes the test fail loudly at bind. */
static uint16_t
free_port(void)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    assert_true(fd >= 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sin, sizeof sin), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

static struct ft_endpoint_addr
lo_endpoint(uint32_t id, uint16_t port)
{
    struct ft_endpoint_addr ep = { .id = id };

    ep.addr.sin_family = AF_INET;
    ep.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ep.addr.sin_port = htons(port);
    return ep;
}

/* A plain UDP socket bound to 'ep' (a test-side endpoint: client, replica, consumer). */
static int
lo_socket(const struct ft_endpoint_addr *ep)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (const struct sockaddr *) &ep->addr, sizeof ep->addr), 0);
    return fd;
}

static void
lo_send(int fd, const struct ft_endpoint_addr *to, enum ft_event_kind kind, uint32_t from,
        const void *payload, size_t len)
{
    struct buf b = BUF_INITIALIZER;

    ft_wire_encode(&b, kind, from, payload, len);
    assert_int_equal(sendto(fd, b.data, b.len, 0, (const struct sockaddr *) &to->addr,
                            sizeof to->addr), (ssize_t) b.len);
    buf_uninit(&b);
}

/* Runs 'loop' until 'done(aux)' or 5 s (a bound, not an assertion on speed). */
struct until {
    bool (*done)(void *);
    void *aux;
    uint64_t deadline;
    bool timed_out;
};

static void
until_check(struct loop *loop, uint64_t id, void *u_)
{
    struct until *u = u_;

    if (u->done(u->aux)) {
        loop_stop(loop);
    } else if (time_mono_ns() > u->deadline) {
        u->timed_out = true;
        loop_stop(loop);
    }
}

static bool
run_until(struct loop *loop, bool (*done)(void *), void *aux)
{
    struct until u = { done, aux, time_mono_ns() + 5000000000ull, false };
    uint64_t t = loop_add_timer(loop, 1000000, 1000000, until_check, &u);

    assert_int_equal(loop_run(loop), 0);
    loop_cancel_timer(loop, t);
    return !u.timed_out;
}

static void
stop_cb(struct loop *loop, uint64_t id, void *aux)
{
    loop_stop(loop);
}

/* Runs the loop for 'ms' milliseconds. */
static void
run_for(struct loop *loop, int ms)
{
    loop_add_timer(loop, ms * 1000000ull, 0, stop_cb, NULL);
    assert_int_equal(loop_run(loop), 0);
}

static void
make_config(struct ft_adapter_config *cfg, const char *class, uint32_t self,
            const struct ft_endpoint_addr *eps, size_t n_eps)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->class = ft_core_class_find(class);
    assert_non_null(cfg->class);
    cfg->core.self = self;
    cfg->endpoints = eps;
    cfg->n_endpoints = n_eps;
    ft_rng_init(&cfg->core.rng, 1);
}

/* --- Two `none` forwarders: client(0) -> A(1) -> B(2) -> UDP consumer. */

struct fwd_world {
    int consumer;
    uint8_t got[256];
    ssize_t got_len;
};

static bool
fwd_received(void *w_)
{
    struct fwd_world *w = w_;

    w->got_len = recv(w->consumer, w->got, sizeof w->got, MSG_DONTWAIT);
    return w->got_len >= 0;
}

static bool
stats_moved(void *s_)
{
    const uint64_t *counter = s_;
    return *counter > 0;
}

static void
test_none_forwarding(void **state)
{
    struct ft_endpoint_addr eps[3], consumer_ep = lo_endpoint(0, free_port()), intruder_ep;
    struct ft_adapter_config cfg_a, cfg_b;
    struct ft_adapter *a = NULL, *b = NULL;
    struct fwd_world w = { .consumer = -1 };
    const struct ft_adapter_stats *sa, *sb;
    uint32_t next_b = 2;
    struct loop *loop;
    int client, intruder;
    char *err = NULL;

    for (uint32_t i = 0; i < 3; i++) {
        eps[i] = lo_endpoint(i, free_port());
    }
    intruder_ep = lo_endpoint(9, free_port());
    assert_int_equal(loop_create(&loop), 0);
    client = lo_socket(&eps[0]);
    intruder = lo_socket(&intruder_ep);
    w.consumer = lo_socket(&consumer_ep);

    make_config(&cfg_a, "none", 1, eps, 3);
    cfg_a.core.next = &next_b;
    cfg_a.core.n_next = 1;
    make_config(&cfg_b, "none", 2, eps, 3);
    cfg_b.deliver = FT_DELIVER_UDP;
    cfg_b.deliver_addr = consumer_ep.addr;
    assert_int_equal(ft_adapter_create(loop, &cfg_a, &a, &err), 0);
    assert_int_equal(ft_adapter_create(loop, &cfg_b, &b, &err), 0);
    assert_int_equal(ft_adapter_port(a), ntohs(eps[1].addr.sin_port));
    assert_int_equal(ft_adapter_start(a), 0);
    assert_int_equal(ft_adapter_start(b), 0);
    sa = ft_adapter_stats(a);
    sb = ft_adapter_stats(b);

    /* The packet goes client -> A (FORWARD) -> B (DELIVER) -> consumer, byte for byte. */
    lo_send(client, &eps[1], FT_EV_PACKET, 0, "payload-1", 9);
    assert_true(run_until(loop, fwd_received, &w));
    assert_int_equal(w.got_len, 9);
    assert_memory_equal(w.got, "payload-1", 9);
    assert_int_equal(sa->rx, 1);
    assert_int_equal(sa->tx, 1);
    assert_int_equal(sb->rx, 1);
    assert_int_equal(sb->delivered, 1);
    assert_int_equal(sb->tx, 0);

    /* An address not in the table, and the client claiming to be B: neither reaches a core. */
    lo_send(intruder, &eps[1], FT_EV_PACKET, 9, "x", 1);
    assert_true(run_until(loop, stats_moved, (void *) &sa->rx_unknown_source));
    lo_send(client, &eps[1], FT_EV_PACKET, 2, "x", 1);
    assert_true(run_until(loop, stats_moved, (void *) &sa->rx_spoofed));
    assert_int_equal(sendto(client, "junk", 4, 0, (const struct sockaddr *) &eps[1].addr,
                            sizeof eps[1].addr), 4);
    assert_true(run_until(loop, stats_moved, (void *) &sa->rx_malformed));
    assert_int_equal(sa->rx, 1);
    assert_int_equal(sa->steps, 2);             /* START and the one good packet. */

    /* A state request is answered (none exports its forward count) to the asker. */
    lo_send(client, &eps[2], FT_EV_STATE_REQUEST, 0, NULL, 0);
    uint8_t reply[64];
    ssize_t n = -1;
    for (int i = 0; i < 5000 && n < 0; i++) {
        run_for(loop, 1);
        n = recv(client, reply, sizeof reply, MSG_DONTWAIT);
    }
    struct ft_wire_hdr hdr;
    const uint8_t *p;
    assert_int_equal(n, FT_WIRE_HDR_LEN + 8);
    assert_int_equal(ft_wire_decode(reply, n, &hdr, &p), 0);
    assert_int_equal(hdr.kind, FT_EV_STATE);
    assert_int_equal(hdr.from, 2);
    assert_int_equal(p[7], 1);                  /* B forwarded (delivered) one packet. */

    ft_adapter_destroy(a);
    ft_adapter_destroy(b);
    close(client);
    close(intruder);
    close(w.consumer);
    loop_destroy(loop);
}

static void
test_create_errors(void **state)
{
    struct ft_endpoint_addr eps[2] = { lo_endpoint(1, free_port()), lo_endpoint(1, 9) };
    struct ft_adapter_config cfg;
    struct ft_adapter *a = NULL;
    struct loop *loop;
    uint32_t nexts[2] = { 1, 2 };
    char *err = NULL;

    assert_int_equal(loop_create(&loop), 0);
    make_config(&cfg, "none", 5, eps, 1);
    assert_int_equal(ft_adapter_create(loop, &cfg, &a, &err), EINVAL);
    assert_null(a);
    assert_non_null(strstr(err, "no address for this endpoint (5)"));
    free(err);

    make_config(&cfg, "none", 1, eps, 2);
    err = NULL;
    assert_int_equal(ft_adapter_create(loop, &cfg, &a, &err), EINVAL);
    assert_non_null(strstr(err, "two addresses"));
    free(err);

    /* The core's own validation comes through: none takes at most one next hop. */
    make_config(&cfg, "none", 1, eps, 1);
    cfg.core.next = nexts;
    cfg.core.n_next = 2;
    err = NULL;
    assert_int_equal(ft_adapter_create(loop, &cfg, &a, &err), EINVAL);
    assert_non_null(strstr(err, "at most one next hop"));
    assert_null(a);
    free(err);
    loop_destroy(loop);
}

/* --- Timers through a test core: on START arm 7, 8 and 9, cancel 8, re-arm 9 later; each
 * firing delivers the timer's id. */

static int
tick_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    *corep = xzalloc(sizeof **corep);
    return 0;
}

static void
tick_destroy(struct ft_core *core)
{
    free(core);
}

static int
tick_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    if (ev->kind == FT_EV_START) {
        ft_emit_timer(out, 7, ev->now_ns + 2000000);
        ft_emit_timer(out, 8, ev->now_ns + 1000000);
        ft_emit_timer(out, 9, ev->now_ns);
        ft_emit_cancel(out, 8);
        ft_emit_timer(out, 9, ev->now_ns + 4000000);
        ft_emit_note(out, "armed");
    } else if (ev->kind == FT_EV_TIMER) {
        uint8_t id = ev->timer;
        ft_emit_deliver(out, &id, 1);
        if (ev->timer == 9) {
            ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        }
    }
    return 0;
}

static int
tick_export(const struct ft_core *core, struct buf *b)
{
    return 0;
}

static int
tick_import(struct ft_core *core, const uint8_t *p, size_t n)
{
    return 0;
}

static const struct ft_core_class tick_class = {
    .name = "test-tick", .summary = "test", .create = tick_create, .destroy = tick_destroy,
    .step = tick_step, .export_state = tick_export, .import_state = tick_import,
};

static bool
two_fired(void *a_)
{
    return ft_adapter_stats(a_)->timers_fired >= 2 && !ft_adapter_n_timers(a_);
}

static void
test_timers(void **state)
{
    struct ft_endpoint_addr ep = lo_endpoint(3, free_port());
    char path[] = "/tmp/sfct-adapter-XXXXXX";
    struct ft_adapter_config cfg;
    struct ft_adapter *a = NULL;
    struct loop *loop;
    char *text = NULL;
    size_t len;
    int fd;

    ft_core_class_register(&tick_class);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(loop_create(&loop), 0);
    make_config(&cfg, "test-tick", 3, &ep, 1);
    cfg.deliver = FT_DELIVER_FILE;
    cfg.deliver_path = path;
    assert_int_equal(ft_adapter_create(loop, &cfg, &a, NULL), 0);
    assert_int_equal(ft_adapter_start(a), 0);
    assert_int_equal(ft_adapter_n_timers(a), 2);
    assert_int_equal(ft_adapter_stats(a)->notes, 1);
    assert_true(run_until(loop, two_fired, a));

    /* Let a cancelled or replaced deadline pass too: it must stay silent. */
    run_for(loop, 10);
    assert_int_equal(ft_adapter_stats(a)->timers_fired, 2);
    assert_int_equal(ft_adapter_stats(a)->delivered, 2);
    assert_int_equal(ft_adapter_stats(a)->drops[FT_DROP_STALE], 1);
    ft_adapter_destroy(a);

    assert_int_equal(read_file(path, &text, &len), 0);
    assert_string_equal(text, "deliver 1 07\ndeliver 1 09\n");
    free(text);
    unlink(path);
    loop_destroy(loop);
}

/* --- The voter: replicas 1-3 (test sockets), f = 1, delivers to a UDP consumer. */

struct voter_world {
    int consumer;
    struct ft_adapter *a;
};

static void
demo_put(struct buf *b, uint64_t req, uint32_t origin, const char *body)
{
    struct demo_msg m = { .req_id = req, .client = 0, .origin = origin,
                          .body = (const uint8_t *) body, .body_len = strlen(body) };
    demo_msg_put(b, &m);
}

static bool
voter_halted(void *a_)
{
    return ft_adapter_stats(a_)->drops[FT_DROP_NO_QUORUM] > 0;
}

static void
test_voter_over_udp(void **state)
{
    struct ft_endpoint_addr eps[5], consumer_ep = lo_endpoint(0, free_port());
    struct ft_param timeout = { "timeout", "20ms" };
    uint32_t group[3] = { 1, 2, 3 };
    struct fwd_world w = { .consumer = -1 };
    struct ft_adapter_config cfg;
    struct ft_adapter *a = NULL;
    int replicas[3];
    struct loop *loop;
    struct buf good = BUF_INITIALIZER, bad = BUF_INITIALIZER;
    struct demo_msg m;

    for (uint32_t i = 0; i < 5; i++) {
        eps[i] = lo_endpoint(i, free_port());
    }
    assert_int_equal(loop_create(&loop), 0);
    for (int i = 0; i < 3; i++) {
        replicas[i] = lo_socket(&eps[i + 1]);
    }
    w.consumer = lo_socket(&consumer_ep);
    make_config(&cfg, "voter", 4, eps, 5);
    cfg.core.f = 1;
    cfg.core.group = group;
    cfg.core.n_group = 3;
    cfg.core.params = &timeout;
    cfg.core.n_params = 1;
    cfg.deliver = FT_DELIVER_UDP;
    cfg.deliver_addr = consumer_ep.addr;
    assert_int_equal(ft_adapter_create(loop, &cfg, &a, NULL), 0);
    assert_int_equal(ft_adapter_start(a), 0);

    /* The liar speaks first; two correct copies (different origins) then decide. */
    demo_put(&bad, 1, 1, "wrong");
    lo_send(replicas[0], &eps[4], FT_EV_PACKET, 1, bad.data, bad.len);
    demo_put(&good, 1, 2, "right");
    lo_send(replicas[1], &eps[4], FT_EV_PACKET, 2, good.data, good.len);
    buf_clear(&good);
    demo_put(&good, 1, 3, "right");
    lo_send(replicas[2], &eps[4], FT_EV_PACKET, 3, good.data, good.len);
    assert_true(run_until(loop, fwd_received, &w));
    assert_true(demo_msg_parse(w.got, w.got_len, &m));
    assert_int_equal(m.req_id, 1);
    assert_int_equal(m.body_len, 5);
    assert_memory_equal(m.body, "right", 5);
    assert_int_equal(ft_adapter_stats(a)->delivered, 1);
    assert_int_equal(ft_adapter_n_timers(a), 0);        /* Decided: its timeout cancelled. */

    /* One copy of request 2 only: the adapter's timer fires the voter's timeout, it halts. */
    buf_clear(&good);
    demo_put(&good, 2, 1, "lonely");
    lo_send(replicas[0], &eps[4], FT_EV_PACKET, 1, good.data, good.len);
    assert_true(run_until(loop, voter_halted, a));
    assert_int_equal(ft_adapter_stats(a)->timers_fired, 1);
    assert_int_equal(ft_adapter_stats(a)->notes, 1);
    assert_int_equal(ft_adapter_stats(a)->delivered, 1);
    assert_int_equal(ft_adapter_n_timers(a), 0);
    assert_true(recv(w.consumer, w.got, sizeof w.got, MSG_DONTWAIT) < 0);

    ft_adapter_destroy(a);
    buf_uninit(&good);
    buf_uninit(&bad);
    for (int i = 0; i < 3; i++) {
        close(replicas[i]);
    }
    close(w.consumer);
    loop_destroy(loop);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_round_trip),
        cmocka_unit_test(test_wire_malformed),
        cmocka_unit_test(test_endpoint_parse),
        cmocka_unit_test(test_none_forwarding),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_timers),
        cmocka_unit_test(test_voter_over_udp),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
