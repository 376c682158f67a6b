/* Unit tests of the FTC paper's SimpleNAT and MazuNAT (vnfs/fn/txnat.h): as vnfs/fn functions
 * (scheme none's) and as FTC packet transactions behind a head (vnfs/ft/ftc/mbox.c).
 *  - a flow keeps its port, replies are translated back, unknown inbound ports dropped;
 *    SimpleNAT maps an inside endpoint once for every destination, MazuNAT each connection
 *    (same-first, then the next free port toward that remote endpoint);
 *  - a full pool (or MazuNAT's table at capacity) drops the new flow and writes nothing;
 *  - the function and the one-thread head translate the same packets to the same frames;
 *  - wound-wait on SimpleNAT's shared cursor, step by step: a younger transaction that took
 *    the cursor and wrote is wounded by an older new flow, undone, and retried after it (the
 *    older one gets the first port, both logs numbered in that order);
 *  - 4 threads of new flows on the shared allocator: every flow one port of its own, the
 *    shared record counts them, and two tails applying the logs in sent and in reverse order
 *    per batch end with the head's store and MAX vector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf.h"
#include "vnfs/ft/core.h"
#include "vnfs/fn/txnat.h"
#include "vnfs/ft/ftc/ftc.h"
#include "tests/unit/sent.h"
#include "vnfs/ft/ftc/txlock.h"

#define T_PARTS 8
#define T_BATCH_TIMER 3         /* FTC_REPLICA_TIMER_BATCH. */
#define EXT 0xc0000201u         /* 192.0.2.1 */
#define INSIDE(i) (0x0a000000u + (i))
#define REMOTE(i) (0xc6336400u + (i))

static const uint8_t mac_a[ETH_ADDR_LEN] = { 2, 0, 0, 0, 0, 1 };
static const uint8_t mac_b[ETH_ADDR_LEN] = { 2, 0, 0, 0, 0, 2 };

struct frame {
    uint8_t data[256];
    size_t len;
};

/* A UDP frame; addresses and ports in host order. */
static void
frame_udp(struct frame *f, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
    static const char payload[] = "nat";

    assert_int_equal(packet_build_udp(f->data, sizeof f->data, mac_a, mac_b, src, dst, sport,
                                      dport, payload, sizeof payload, &f->len), 0);
}

static struct packet_info
frame_info(const struct frame *f)
{
    struct packet_info info;

    assert_int_equal(packet_parse(f->data, f->len, &info), 0);
    assert_true(packet_l4_csum_ok(f->data, &info));
    return info;
}

static struct nf *
make_nf(const char *fn, const char *const args[])
{
    struct nf_param params[8];
    char copies[8][64];
    size_t n = 0;
    struct nf *nf = NULL;
    char *err = NULL;

    for (; args[n]; n++) {
        snprintf(copies[n], sizeof copies[n], "%s", args[n]);
        assert_true(nf_param_parse(copies[n], &params[n]));
    }
    if (nf_create(fn, params, n, &nf, &err)) {
        fail_msg("%s: %s", fn, err);
    }
    return nf;
}

static enum nf_verdict
nf_run(struct nf *nf, struct frame *f)
{
    struct nf_packet p = { .data = f->data, .len = f->len, .cap = sizeof f->data };
    enum nf_verdict v = nf_process(nf, &p);

    f->len = p.len;
    return v;
}

/* Sends a flow's packet out, returns its external port (host order; 0 if dropped). */
static uint16_t
out_port(struct nf *nf, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport)
{
    struct frame f;
    struct packet_info info;

    frame_udp(&f, src, sport, dst, dport);
    if (nf_run(nf, &f) != NF_FORWARD) {
        return 0;
    }
    info = frame_info(&f);
    assert_int_equal(info.flow.src_ip, htonl(EXT));
    assert_int_equal(info.flow.dst_ip, htonl(dst));
    return ntohs(info.flow.src_port);
}

/* A reply from dst:dport to the external port: the inside endpoint it goes to, or 0. */
static uint32_t
in_addr(struct nf *nf, uint32_t dst, uint16_t dport, uint16_t ext, uint16_t *portp)
{
    struct frame f;
    struct packet_info info;

    frame_udp(&f, dst, dport, EXT, ext);
    if (nf_run(nf, &f) != NF_FORWARD) {
        return 0;
    }
    info = frame_info(&f);
    *portp = ntohs(info.flow.dst_port);
    return ntohl(info.flow.dst_ip);
}

static void
test_simplenat_mapping(void **state)
{
    static const char *const args[] = { "external=192.0.2.1", "ports=2000-2999", NULL };
    struct nf *nf = make_nf("simplenat", args);
    uint16_t p1 = out_port(nf, INSIDE(1), 5000, REMOTE(1), 53);
    uint16_t p2 = out_port(nf, INSIDE(2), 5000, REMOTE(1), 53);
    uint16_t port;

    /* Sequential from the shared cursor. */
    assert_int_equal(p1, 2000);
    assert_int_equal(p2, 2001);
    /* Stable, and endpoint-independent: the same inside endpoint to another destination. */
    assert_int_equal(out_port(nf, INSIDE(1), 5000, REMOTE(1), 53), p1);
    assert_int_equal(out_port(nf, INSIDE(1), 5000, REMOTE(9), 80), p1);
    assert_int_equal(in_addr(nf, REMOTE(1), 53, p2, &port), INSIDE(2));
    assert_int_equal(port, 5000);
    assert_int_equal(in_addr(nf, REMOTE(1), 53, 2500, &port), 0);
    assert_int_equal(state_counter_get(nf->state, "Sn", 2), 2);
    nf_destroy(nf);
}

static void
test_mazunat_mapping(void **state)
{
    static const char *const args[] = { "external=192.0.2.1", "ports=50000-50999", NULL };
    struct nf *nf = make_nf("mazunat", args);
    uint16_t same = out_port(nf, INSIDE(1), 50007, REMOTE(1), 53);
    uint16_t clash = out_port(nf, INSIDE(2), 50007, REMOTE(1), 53);
    uint16_t other = out_port(nf, INSIDE(2), 50007, REMOTE(2), 53);
    uint16_t hashed = out_port(nf, INSIDE(3), 4000, REMOTE(1), 53);
    uint16_t port;

    /* Same-first: a source port within the range is kept while it is free toward the remote
     * endpoint; else the next one; toward another remote endpoint the port is free again. */
    assert_int_equal(same, 50007);
    assert_int_equal(clash, 50008);
    assert_int_equal(other, 50007);
    assert_true(hashed >= 50000 && hashed <= 50999);
    assert_int_equal(out_port(nf, INSIDE(2), 50007, REMOTE(1), 53), clash);
    assert_int_equal(in_addr(nf, REMOTE(1), 53, clash, &port), INSIDE(2));
    assert_int_equal(in_addr(nf, REMOTE(2), 53, other, &port), INSIDE(2));
    assert_int_equal(in_addr(nf, REMOTE(1), 53, same, &port), INSIDE(1));
    /* Per connection: another remote endpoint has no mapping of that port. */
    assert_int_equal(in_addr(nf, REMOTE(3), 53, same, &port), 0);
    assert_int_equal(state_counter_get(nf->state, "Zs", 2), 4);
    nf_destroy(nf);
}

/* A pool of 4 ports: the fifth flow is dropped and writes nothing; MazuNAT's table at its
 * capacity the same. */
static void
test_nat_exhaustion(void **state)
{
    static const char *const simple[] = { "external=192.0.2.1", "ports=3000-3003", NULL };
    static const char *const mazu[] = { "external=192.0.2.1", "ports=3000-3003", NULL };
    static const char *const cap[] = { "external=192.0.2.1", "capacity=2", NULL };
    const char *const *cases[] = { simple, mazu };
    const char *fns[] = { "simplenat", "mazunat" };

    for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
        struct nf *nf = make_nf(fns[c], cases[c]);
        uint8_t before[STATE_DIGEST_LEN], after[STATE_DIGEST_LEN];
        bool seen[4] = { false };

        for (uint32_t i = 0; i < 4; i++) {
            uint16_t p = out_port(nf, INSIDE(i), 6000, REMOTE(1), 53);

            assert_true(p >= 3000 && p <= 3003);
            assert_false(seen[p - 3000]);
            seen[p - 3000] = true;
        }
        state_digest(nf->state, before);
        assert_int_equal(out_port(nf, INSIDE(9), 6000, REMOTE(1), 53), 0);
        state_digest(nf->state, after);
        assert_memory_equal(before, after, sizeof before);
        /* Known flows still pass. */
        assert_int_not_equal(out_port(nf, INSIDE(2), 6000, REMOTE(1), 53), 0);
        nf_destroy(nf);
    }
    {
        struct nf *nf = make_nf("mazunat", cap);

        assert_int_not_equal(out_port(nf, INSIDE(1), 1, REMOTE(1), 53), 0);
        assert_int_not_equal(out_port(nf, INSIDE(2), 1, REMOTE(1), 53), 0);
        assert_int_equal(out_port(nf, INSIDE(3), 1, REMOTE(1), 53), 0);
        assert_int_equal(state_counter_get(nf->state, "Zs", 2), 2);
        nf_destroy(nf);
    }
}

/* FTC heads. */

static struct ft_core *
make_head(uint32_t self, const char *mbox, const char *mbox_params, unsigned threads)
{
    static const uint32_t ring[2] = { 1, 2 };
    uint32_t next = self == 1 ? 2 : 100;
    char threads_s[8], parts_s[8];
    struct ft_param params[] = {
        { "n", "2" }, { "partitions", parts_s }, { "mbox", mbox },
        { "mbox_params", mbox_params }, { "threads", threads_s },
    };
    struct ft_config cfg = {
        .self = self, .f = 1, .group = ring, .n_group = 2, .next = &next, .n_next = 1,
        .params = params, .n_params = ARRAY_SIZE(params),
    };
    struct ft_core *core = NULL;
    struct ft_actions out;
    struct ft_event start = { .kind = FT_EV_START };
    char *err = NULL;

    snprintf(threads_s, sizeof threads_s, "%u", threads);
    snprintf(parts_s, sizeof parts_s, "%u", T_PARTS);
    if (ft_core_create(ft_core_class_find("ftc_replica"), &cfg, &core, &err)) {
        fail_msg("ftc_replica: %s", err);
    }
    ft_actions_init(&out);
    assert_int_equal(ft_core_step(core, &start, &out), 0);
    ft_actions_uninit(&out);
    return core;
}

/* Feeds 'n' frames to 'head' as FTC data packets in batches ('batch' frames, then the batch
 * timer); what it sent is appended to 's'. */
static void
feed(struct ft_core *head, const struct frame *frames, size_t n, unsigned batch,
     struct sent *s, uint64_t *now)
{
    struct ftc_message empty = { 0 };
    struct ft_actions out;
    struct buf pkt;

    ft_actions_init(&out);
    buf_init(&pkt);
    for (size_t i = 0; i < n; i++) {
        struct ft_event ev = { .kind = FT_EV_PACKET, .now_ns = ++*now, .from = 0 };

        buf_clear(&pkt);
        ftc_packet_put(&pkt, FTC_PKT_DATA, &empty, frames[i].data, frames[i].len);
        ev.data = pkt.data;
        ev.len = pkt.len;
        assert_int_equal(ft_core_step(head, &ev, &out), 0);
        collect(s, &out);
        if ((i + 1) % batch == 0 || i + 1 == n) {
            struct ft_event tev = { .kind = FT_EV_TIMER, .now_ns = *now,
                                    .timer = T_BATCH_TIMER };

            assert_int_equal(ft_core_step(head, &tev, &out), 0);
            collect(s, &out);
        }
    }
    buf_uninit(&pkt);
    ft_actions_uninit(&out);
}

/* The inner frame of a sent packet: false for a propagating packet (the logs of a filtered
 * one go on without it). */
static bool
inner_of(const struct buf *b, struct frame *f)
{
    struct ftc_message *msg = xzalloc(sizeof *msg);
    enum ftc_packet_type type;
    const uint8_t *inner;
    size_t len;

    assert_true(ftc_packet_parse(b->data, b->len, &type, msg, &inner, &len));
    free(msg);
    if (type != FTC_PKT_DATA) {
        return false;
    }
    assert_true(len <= sizeof f->data);
    memcpy(f->data, inner, len);
    f->len = len;
    return true;
}

/* The function and the one-thread head see the same packets (new flows, repeats, replies,
 * an unknown port, a full pool): the head sends on exactly the frames the function forwards. */
static void
test_nat_nf_equals_ftc(void **state)
{
    static const char *const fns[] = { "simplenat", "mazunat" };

    for (size_t c = 0; c < ARRAY_SIZE(fns); c++) {
        static const char *const args[] = { "external=192.0.2.1", "ports=50000-50015", NULL };
        struct nf *nf = make_nf(fns[c], args);
        struct ft_core *head = make_head(1, fns[c], "external=192.0.2.1 ports=50000-50015", 1);
        struct frame in[64], want[64];
        struct sent s = { 0 };
        size_t n = 0, n_want = 0;
        uint64_t now = 0;

        for (uint32_t i = 0; i < 20; i++) {
            frame_udp(&in[n++], INSIDE(i % 24), 50000 + i % 3, REMOTE(i % 2), 53);
        }
        for (uint32_t i = 0; i < 20; i++) {
            frame_udp(&in[n++], REMOTE(i % 2), 53, EXT, 50000 + i);
        }
        for (uint32_t i = 0; i < 10; i++) {
            frame_udp(&in[n++], INSIDE(i), 50000 + i % 3, REMOTE(i % 2), 53);
        }
        for (size_t i = 0; i < n; i++) {
            want[n_want] = in[i];
            if (nf_run(nf, &want[n_want]) == NF_FORWARD) {
                n_want++;
            }
        }
        assert_true(n_want > 20 && n_want < n);
        feed(head, in, n, 1, &s, &now);
        for (size_t i = 0, k = 0; i < s.n; i++) {
            struct frame got;

            if (inner_of(&s.v[i], &got)) {
                assert_true(k < n_want);
                assert_int_equal(got.len, want[k].len);
                assert_memory_equal(got.data, want[k].data, got.len);
                k++;
            }
            if (i + 1 == s.n) {
                assert_int_equal(k, n_want);
            }
        }
        {
            uint64_t max[FTC_MAX_PARTS];
            uint32_t epoch;
            uint8_t hd[STATE_DIGEST_LEN], nd[STATE_DIGEST_LEN];

            state_digest(ftc_replica_store(head, 0, max, &epoch), hd);
            state_digest(nf->state, nd);
            assert_memory_equal(hd, nd, sizeof hd);
        }
        sent_free(&s);
        ft_core_destroy(head);
        nf_destroy(nf);
    }
}

/* Wound-wait on the shared cursor. */
struct wound_ctx {
    struct ftc_tx *tx;
    struct ftc_locks *locks;
    bool pause;                 /* After the first put: tell the other, wait to be wounded. */
    int puts;
    volatile int *holds;
};

static bool
wound_get(void *aux, const void *key, size_t key_len, bool for_write, const uint8_t **valuep,
          size_t *value_lenp)
{
    struct wound_ctx *w = aux;

    return (for_write ? ftc_tx_get_for_write : ftc_tx_get)(w->tx, key, key_len, valuep,
                                                           value_lenp);
}

static int
wound_put(void *aux, const void *key, size_t key_len, const void *value, size_t value_len)
{
    struct wound_ctx *w = aux;
    int error = ftc_tx_put(w->tx, key, key_len, value, value_len);

    if (w->pause && ++w->puts == 1) {
        uint64_t wounds = 0;

        __atomic_store_n(w->holds, 1, __ATOMIC_SEQ_CST);
        for (int i = 0; i < 5000 && !wounds; i++) {
            usleep(1000);
            pthread_mutex_lock(&w->locks->mutex);
            wounds = w->locks->n_wounds;
            pthread_mutex_unlock(&w->locks->mutex);
        }
        assert_int_equal(wounds, 1);
    }
    return error;
}

struct older {
    struct txnat_conf *conf;
    struct ftc_tx *tx;
    struct ftc_locks *locks;
    struct frame *f;
    volatile int *holds;
    enum nf_verdict verdict;
};

static void *
older_main(void *aux)
{
    struct older *o = aux;
    struct wound_ctx w = { .tx = o->tx, .locks = o->locks };
    const struct txnat_store s = { wound_get, wound_put, &w };

    for (int i = 0; i < 5000 && !__atomic_load_n(o->holds, __ATOMIC_SEQ_CST); i++) {
        usleep(1000);
    }
    o->verdict = txnat_process(o->conf, &s, o->f->data, o->f->len);
    return NULL;
}

static void
test_simplenat_wound_wait(void **state)
{
    static const char *const args[] = { "external=192.0.2.1", "ports=7000-7099", NULL };
    struct nf_param params[2];
    char copies[2][64];
    struct txnat_conf conf;
    struct nf_state *store = state_create();
    pthread_mutex_t store_mutex = PTHREAD_MUTEX_INITIALIZER;
    struct ftc_locks locks;
    struct ftc_txcc cc[2];
    struct ftc_tx ta, tb;
    struct frame fa, fb;
    volatile int holds = 0;
    struct older o = { &conf, &ta, &locks, &fa, &holds, NF_DROP };
    struct wound_ctx w = { .tx = &tb, .locks = &locks, .pause = true, .holds = &holds };
    const struct txnat_store sb = { wound_get, wound_put, &w };
    uint64_t v[FTC_MAX_PARTS] = { 0 }, tickets = 0, ticket_a, ticket_b;
    struct ftc_log la, lb;
    struct buf upd;
    pthread_t thread;
    char *err = NULL;
    unsigned cursor_part = ftc_partition_of("Sn", 2, T_PARTS);
    bool found_a = false, found_b = false;

    for (size_t i = 0; i < 2; i++) {
        snprintf(copies[i], sizeof copies[i], "%s", args[i]);
        assert_true(nf_param_parse(copies[i], &params[i]));
    }
    assert_int_equal(txnat_conf_parse(TXNAT_SIMPLE, params, 2, &conf, &err), 0);
    ftc_locks_init(&locks, T_PARTS);
    ftc_txcc_init(&cc[0], &locks, &store_mutex, 0);
    ftc_txcc_init(&cc[1], &locks, &store_mutex, 1);
    buf_init(&upd);
    buf_reserve(&upd, 4096);
    frame_udp(&fa, INSIDE(1), 1111, REMOTE(1), 53);
    frame_udp(&fb, INSIDE(2), 2222, REMOTE(1), 53);

    /* A begins first (older), B second; B runs first, takes the cursor and writes the port it
     * chose, then A asks for the cursor: it wounds B and waits for it. */
    ftc_tx_begin_cc(&ta, store, T_PARTS, &cc[0], false);
    ftc_tx_begin_cc(&tb, store, T_PARTS, &cc[1], false);
    assert_int_equal(pthread_create(&thread, NULL, older_main, &o), 0);
    assert_int_equal(txnat_process(&conf, &sb, fb.data, fb.len), NF_DROP);
    assert_true(cc[1].aborted);
    ftc_tx_abort(&tb);                      /* Undoes B's write; A may go on. */
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(o.verdict, NF_FORWARD);
    assert_true(ftc_tx_commit_cc(&ta, v, &tickets, &ticket_a, &upd, &la, false));
    /* B again, with its age: the next port. */
    ftc_tx_begin_cc(&tb, store, T_PARTS, &cc[1], true);
    w.pause = false;
    frame_udp(&fb, INSIDE(2), 2222, REMOTE(1), 53);
    assert_int_equal(txnat_process(&conf, &sb, fb.data, fb.len), NF_FORWARD);
    assert_true(ftc_tx_commit_cc(&tb, v, &tickets, &ticket_b, &upd, &lb, false));

    assert_int_equal(ntohs(frame_info(&fa).flow.src_port), 7000);
    assert_int_equal(ntohs(frame_info(&fb).flow.src_port), 7001);
    assert_int_equal(state_counter_get(store, "Sn", 2), 2);
    assert_int_equal(locks.n_wounds, 1);
    assert_true(ticket_a < ticket_b);
    /* Each log wrote the cursor's partition, A's before B's. */
    for (size_t i = 0; i < la.n_ent; i++) {
        if (la.ent[i].part == cursor_part) {
            found_a = la.ent[i].write && la.ent[i].seq == 0;
        }
    }
    for (size_t i = 0; i < lb.n_ent; i++) {
        if (lb.ent[i].part == cursor_part) {
            found_b = lb.ent[i].write && lb.ent[i].seq == 1;
        }
    }
    assert_true(found_a && found_b);
    buf_uninit(&upd);
    ftc_txcc_uninit(&cc[0]);
    ftc_txcc_uninit(&cc[1]);
    ftc_locks_destroy(&locks);
    state_destroy(store);
}

/* Counts a store's records by their two-byte prefix. */
static int
count_prefix(const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
             void *aux)
{
    size_t *counts = aux;

    if (key_len >= 2 && key[0] < 128 && key[1] < 128) {
        counts[key[0] * 128 + key[1]]++;
    }
    return 0;
}

/* 4 threads, 400 new flows (every one writing the shared allocator record) mixed with 600
 * packets of flows already mapped, in batches of 32: every flow got a port of its own (as many
 * inbound as outbound mappings, the shared record counting them), and both tails end with the
 * head's state and vector. (Whether the threads met on a lock depends on the host's
 * scheduling: printed, not asserted.) */
static void
test_nat_threads_replicate(void **state)
{
    static const struct { const char *mbox, *params; char out, in, shared; } cases[] = {
        { "simplenat", "external=192.0.2.1 ports=40000-40999", 'o', 'i', 'n' },
        { "mazunat", "external=192.0.2.1 ports=40000-40999 seed=7", 'f', 'r', 's' },
    };
    enum { FLOWS = 400, ROUNDS = 4 };

    for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
        struct ft_core *head = make_head(1, cases[c].mbox, cases[c].params, 4);
        struct ft_core *tail = make_head(2, cases[c].mbox, cases[c].params, 1);
        struct ft_core *rtail = make_head(2, cases[c].mbox, cases[c].params, 1);
        struct frame *in = xcalloc(FLOWS * ROUNDS, sizeof *in);
        const struct ftc_replica_stats *st;
        struct sent s = { 0 };
        struct ft_actions tout;
        size_t n = 0, *counts = xcalloc(128 * 128, sizeof *counts);
        char key[2] = { cases[c].mbox[0] == 's' ? 'S' : 'Z', cases[c].shared };
        uint64_t now = 0, hmax[FTC_MAX_PARTS], tmax[FTC_MAX_PARTS];
        uint8_t hd[STATE_DIGEST_LEN], td[STATE_DIGEST_LEN];
        const struct nf_state *hs;
        uint32_t epoch;

        /* Round r: flows r*100 .. r*100+99 new, after every earlier flow again. */
        for (uint32_t r = 0; r < ROUNDS; r++) {
            for (uint32_t i = 0; i < (r + 1) * FLOWS / ROUNDS && n < FLOWS * ROUNDS; i++) {
                frame_udp(&in[n++], INSIDE(i), 1000 + i % 7, REMOTE(i % 3), 53);
            }
        }
        feed(head, in, n, 32, &s, &now);
        st = ftc_replica_stats(head);
        assert_int_equal(st->txs, n);
        ft_actions_init(&tout);
        for (size_t b = 0; b < s.n; b += 32) {
            size_t e = MIN(s.n, b + 32);

            for (size_t i = b; i < e; i++) {
                struct ft_event ev = { .kind = FT_EV_PACKET, .now_ns = now, .from = 1,
                                       .data = s.v[i].data, .len = s.v[i].len };
                struct ft_event rev = { .kind = FT_EV_PACKET, .now_ns = now, .from = 1,
                                        .data = s.v[e - 1 - (i - b)].data,
                                        .len = s.v[e - 1 - (i - b)].len };

                assert_int_equal(ft_core_step(tail, &ev, &tout), 0);
                ft_actions_clear(&tout);
                assert_int_equal(ft_core_step(rtail, &rev, &tout), 0);
                ft_actions_clear(&tout);
            }
        }
        ft_actions_uninit(&tout);
        hs = ftc_replica_store(head, 0, hmax, &epoch);
        state_foreach(hs, count_prefix, counts);
        assert_int_equal(counts[key[0] * 128 + cases[c].out], FLOWS);
        assert_int_equal(counts[key[0] * 128 + cases[c].in], FLOWS);
        /* SimpleNAT's cursor moved one port per flow (none taken twice), MazuNAT's table
         * counts every connection once. */
        assert_int_equal(state_counter_get(hs, key, 2), FLOWS);
        state_digest(hs, hd);
        state_digest(ftc_replica_store(tail, 0, tmax, &epoch), td);
        assert_memory_equal(hd, td, sizeof hd);
        assert_memory_equal(hmax, tmax, T_PARTS * sizeof *hmax);
        state_digest(ftc_replica_store(rtail, 0, tmax, &epoch), td);
        assert_memory_equal(hd, td, sizeof hd);
        assert_memory_equal(hmax, tmax, T_PARTS * sizeof *hmax);
        assert_true(ftc_replica_stats(rtail)->stashed > 0);
        printf("# %s on 4 threads: %"PRIu64" transactions, %"PRIu64" lock waits, %"PRIu64
               " wounds, %"PRIu64" tries wounded\n", cases[c].mbox, st->txs, st->tx_waits,
               st->tx_wounds, st->tx_aborts);
        free(counts);
        free(in);
        sent_free(&s);
        ft_core_destroy(head);
        ft_core_destroy(tail);
        ft_core_destroy(rtail);
    }
}

/* Bad parameters are refused by both faces. */
static void
test_nat_params(void **state)
{
    static const char *const bads[] = { "", "external=1.2.3", "external=192.0.2.1 ports=9-3",
                                        "external=192.0.2.1 capacity=0", "external=192.0.2.1 x=1" };
    static const char *const mboxes[] = { "simplenat", "mazunat" };

    for (size_t m = 0; m < ARRAY_SIZE(mboxes); m++) {
        const struct ftc_mbox_class *c = ftc_mbox_find(mboxes[m]);

        assert_non_null(c);
        assert_true(c->concurrent);
        for (size_t i = 0; i < ARRAY_SIZE(bads); i++) {
            void *priv = NULL;
            char *err = NULL;

            assert_int_equal(c->create(0, bads[i], &priv, &err), EINVAL);
            assert_non_null(strstr(err, mboxes[m]));
            free(err);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simplenat_mapping),
        cmocka_unit_test(test_mazunat_mapping),
        cmocka_unit_test(test_nat_exhaustion),
        cmocka_unit_test(test_nat_nf_equals_ftc),
        cmocka_unit_test(test_simplenat_wound_wait),
        cmocka_unit_test(test_nat_threads_replicate),
        cmocka_unit_test(test_nat_params),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
