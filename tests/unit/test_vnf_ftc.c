/* Unit test of vnf_ftc (vnfs/sfc/vnf_ftc.h) on the loopback of a network namespace of the
 * test's own (root only; skipped otherwise): a chain of one VNF, whose forwarder and buffer run
 * on the end's thread and its ring member on the test's (the role's). Every packet crosses
 * between the two threads twice: the end's thread reads it from the data socket (the role's
 * loop must not), its forwarder hands it to the ring member, which hands it back to the buffer,
 * which releases it from the end's socket once committed. Each of a few streams' packets must
 * come out released, exactly once, and each thread must have handed the other something. And
 * what the end's thread counts must reach the counters the role reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/loopback.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/loop.h"
#include "vnfs/lib/nsh.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/pktio.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/ftc/ftc.h"
#include "vnfs/sfc/ftstage.h"
#include "vnfs/sfc/hop.h"
#include "vnfs/sfc/role.h"
#include "vnfs/sfc/vnf_ftc.h"

#define N_PACKETS 200

/* The "SFF": sends the classifier's frames, counts the buffer's releases. */
static const uint8_t sff_mac[6] = { 2, 0, 0, 0, 0, 1 };

struct driver {
    struct pktio *sff;
    struct role *role;
    size_t n_released, n_other;
    uint64_t deadline;
};

static uint64_t
counter(const struct role *role, const char *name)
{
    for (size_t i = 0; i < role->n_counters; i++) {
        if (!strcmp(role->counters[i].name, name)) {
            return *role->counters[i].value;
        }
    }
    fail_msg("no counter %s", name);
    return 0;
}

/* An NSH frame (SI 'si', next protocol Ethernet) from the SFF to the VNF (lo's MAC), around a
 * UDP packet of flow 'flow'. */
static void
send_packet(struct pktio *sff, const uint8_t *vnf_mac, uint8_t si, unsigned flow)
{
    uint8_t inner[128];
    size_t inner_len;
    struct buf b = BUF_INITIALIZER;
    uint8_t eth[HOP_ETH_LEN];

    assert_int_equal(packet_build_udp(inner, sizeof inner, sff_mac, vnf_mac, 0x0a000001,
                                      0x0a000002, 40000 + flow, 9, "payload", 7, &inner_len),
                     0);
    hop_set_header(eth, vnf_mac, sff_mac, NSH_ETHERTYPE);
    buf_put(&b, eth, sizeof eth);
    assert_int_equal(nsh_encode(&b, 1, si, 63, NSH_NP_ETHERNET, NULL, 0), 0);
    buf_put(&b, inner, inner_len);
    assert_int_equal(pktio_send(sff, b.data, b.len), 0);
    buf_uninit(&b);
}

/* Every 2 ms on the role's loop: counts what the buffer released toward the SFF (the
 * frames the SFF itself sent come back too, on a loopback). */
static void
poll_released(struct loop *loop, uint64_t id, void *d_)
{
    struct driver *d = d_;
    struct pktio_pkt pkts[PKTIO_BATCH];
    size_t n;

    while (!pktio_recv_batch(d->sff, pkts, PKTIO_BATCH, &n) && n) {
        for (size_t i = 0; i < n; i++) {
            struct nsh_hdr hdr;

            if (hop_is_nsh_for(pkts[i].data, pkts[i].len, sff_mac)
                && !nsh_decode(pkts[i].data + HOP_ETH_LEN, pkts[i].len - HOP_ETH_LEN, &hdr,
                               NULL)
                && hdr.next_proto == NSH_NP_ETHERNET && hdr.si == NSH_SI_START - 1) {
                d->n_released++;
            } else if (!hop_is_nsh_for(pkts[i].data, pkts[i].len, pktio_mac(d->sff))) {
                d->n_other++;
            }
        }
    }
    if (d->n_released >= N_PACKETS || counter(d->role, "ftc_no_path") >= N_PACKETS
        || time_mono_ns() > d->deadline) {
        loop_stop(loop);
    }
}

/* Runs N_PACKETS packets of SI 'si' through a chain of one VNF on lo, until the buffer
 * released them all, or counted them all without a path, or 5 s passed. */
static void
run_one_vnf(uint8_t si, struct role *role, struct vnf_ftc **vp, struct driver *d)
{
    static const uint8_t key[FTSTAGE_KEY_LEN] = { 1 };
    struct vnf_ftc_config cfg = {
        .index = 0, .n = 1, .f = 0, .partitions = 1, .threads = 1, .tick_ns = 1000000,
        .mbox_params = "monitor sharing=1", .key = key,
    };
    char *errmsg = NULL;

    role_init_common(role, "vnf");
    role->iface = xstrdup("lo");
    assert_int_equal(role_open_pktio(role, false), 0);
    assert_int_equal(pktio_open("lo", false, &d->sff), 0);
    assert_int_equal(role_start(role), 0);
    assert_int_equal(vnf_ftc_create(&cfg, role, vp, &errmsg), 0);
    vnf_ftc_register(*vp, role);
    vnf_ftc_rx_backpressure(*vp);
    /* The end's thread reads the data socket: the role's loop leaves it. */
    assert_true(role->rx_elsewhere);

    for (unsigned i = 0; i < N_PACKETS; i++) {
        send_packet(d->sff, pktio_mac(role->io), si, i % 8);
    }
    d->role = role;
    d->deadline = time_mono_ns() + 5000000000ull;
    loop_add_timer(role->loop, 2000000, 2000000, poll_released, d);
    assert_int_equal(loop_run(role->loop), 0);
}

static void
finish_one_vnf(struct role *role, struct vnf_ftc *v, struct driver *d)
{
    vnf_ftc_destroy(v);
    pktio_close(d->sff);
    role_finish(role);
}

static void
test_one_vnf_two_threads(void **state)
{
    struct driver d = { 0 };
    struct vnf_ftc *v = NULL;
    struct role role;

    if (!own_loopback()) {
        skip();
    }
    run_one_vnf(NSH_SI_START, &role, &v, &d);
    assert_int_equal(d.n_released, N_PACKETS);
    assert_int_equal(counter(&role, "ftc_released"), N_PACKETS);
    assert_int_equal(counter(&role, "ftc_in"), N_PACKETS);
    assert_true(counter(&role, "ftc_handoffs") > 0);
    assert_true(counter(&role, "ftc_end_handoffs") > 0);
    /* A batch a handoff, not a packet: the packets were all waiting when the loop began. */
    assert_true(counter(&role, "ftc_end_handoffs") < N_PACKETS);
    finish_one_vnf(&role, v, &d);
    (void) state;
}

/* Packets whose path has ended (SI 0): the buffer, on the end's thread, has nowhere to
 * release them, and counts each on the counter the role reports (the role's half's). */
static void
test_end_counts_reach_role(void **state)
{
    struct driver d = { 0 };
    struct vnf_ftc *v = NULL;
    struct role role;

    if (!own_loopback()) {
        skip();
    }
    run_one_vnf(0, &role, &v, &d);
    assert_int_equal(d.n_released, 0);
    assert_int_equal(counter(&role, "ftc_no_path"), N_PACKETS);
    assert_int_equal(counter(&role, "ftc_released"), N_PACKETS);
    finish_one_vnf(&role, v, &d);
    (void) state;
}

/* The buffer's largest message to the forwarder fits a peer message: its counts, the logs it
 * may take (vnf_ftc_buffer_max_logs()) and every group's commit vector in its widest form
 * (an epoch after another, a start and a 64-bit MAX in every partition), as the buffer lays
 * it out (ends.c: type, backlog and arrivals, then ftc_message_put()). Past it, the link's
 * 1500-byte MTU refuses the frame. Wherever the buffer's least (512) is left. */
static void
test_buffer_message_fits(void **state)
{
    static const unsigned parts[] = { 1, 2, 4, 16 };
    struct ftc_message *m = xzalloc(sizeof *m);
    struct buf b = BUF_INITIALIZER;
    unsigned checked = 0;

    for (unsigned n = 1; n <= VNF_FTC_MAX_RING; n++) {
        for (size_t k = 0; k < ARRAY_SIZE(parts); k++) {
            size_t logs = vnf_ftc_buffer_max_logs(n, parts[k]);

            if (logs < 512) {
                continue;
            }
            m->n_logs = 0;
            m->n_commits = n;
            for (unsigned g = 0; g < n; g++) {
                struct ftc_commit *c = &m->commits[g];

                *c = (struct ftc_commit) { .group = g, .epoch = 3, .prev_epoch = 2,
                                           .n_parts = parts[k] };
                for (unsigned i = 0; i < parts[k]; i++) {
                    c->start[i] = UINT64_MAX - 1;
                    c->max[i] = UINT64_MAX;
                }
            }
            buf_clear(&b);
            buf_put_u8(&b, FTC_MSG_PIGGYBACK);
            buf_put_be32(&b, 0);
            buf_put_be32(&b, 0);
            ftc_message_put(&b, m);
            assert_true(b.len + logs <= VNF_FTC_MAX_MSG_LEN);
            checked++;
        }
    }
    assert_true(checked >= VNF_FTC_MAX_RING);
    buf_uninit(&b);
    free(m);
    (void) state;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_vnf_two_threads),
        cmocka_unit_test(test_end_counts_reach_role),
        cmocka_unit_test(test_buffer_message_fits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
