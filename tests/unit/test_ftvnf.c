/* FTvNF's wire formats and the sequencer's ids (vnfs/ft/ftvnf): the 36-bit layout, the VLAN
 * reserved values avoided, a fresh sequencer id after a restart, deltas between versions, log
 * carriers, a slave replaying in its master's order whatever order its packets come in, and a
 * new slave joining from its master's image. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/state.h"
#include "vnfs/fn/det.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/ftvnf/ftvnf.h"

static void
test_id_layout(void **state)
{
    uint64_t id = ftvnf_id_make(5, 0xabcdef1, 17);

    assert_true(id < (1ull << FTVNF_ID_BITS));
    assert_int_equal(ftvnf_id_sequencer(id), 5);
    assert_int_equal(ftvnf_id_sequence(id), 0xabcdef1);
    assert_int_equal(ftvnf_id_version(id), 17);
    assert_int_equal(ftvnf_id_base(id), ftvnf_id_make(5, 0xabcdef1, 0));
    /* Thirds of 0 or 4095 are the VLAN ids the paper could not use. */
    assert_false(ftvnf_id_vlan_ok(ftvnf_id_make(1, 1 << 7, 0)));
    assert_false(ftvnf_id_vlan_ok(0xfff));
    assert_false(ftvnf_id_vlan_ok(ftvnf_id_make(1, 1, 0)));   /* middle third 0 */
    assert_true(ftvnf_id_vlan_ok(ftvnf_id_make(1, 129, 0)));
}

/* The ids a sequencer (incarnation 'inc') gives its first 'n' packets. */
static void
sequencer_ids(uint32_t inc, uint64_t *ids, size_t n)
{
    static const uint32_t next = 6, peers[2] = { 2, 5 };
    /* Odd incarnations log by messages, even ones on the path. */
    struct ft_param log = { "log", inc % 2 ? "messages" : "path" };
    struct ft_config cfg = { .self = 1, .next = &next, .n_next = 1, .peers = peers,
                             .n_peers = 2, .params = &log, .n_params = 1 };
    struct ft_core *core;
    struct ft_actions out;
    struct ft_event start = { .kind = FT_EV_START, .incarnation = inc };

    ft_rng_init(&cfg.rng, 1);
    assert_int_equal(ft_core_create(ft_core_class_find("ftvnf_sequencer"), &cfg, &core, NULL),
                     0);
    ft_actions_init(&out);
    assert_int_equal(ft_core_step(core, &start, &out), 0);
    for (size_t i = 0; i < n; i++) {
        struct ft_event ev = { .kind = FT_EV_PACKET, .from = 0, .data = (const uint8_t *) "p",
                               .len = 1 };
        ft_actions_clear(&out);
        assert_int_equal(ft_core_step(core, &ev, &out), 0);
        assert_int_equal(out.n, 1);
        assert_int_equal(out.v[0].to, 2);
        if (inc % 2) {
            /* One LOG_PKT to the packet logger, nothing forwarded before its ack. */
            assert_int_equal(out.v[0].kind, FT_ACT_SEND);
            assert_int_equal(out.v[0].data[0], FTVNF_LOG_PKT);
            ids[i] = 0;
            for (int k = 1; k <= 8; k++) {
                ids[i] = ids[i] << 8 | out.v[0].data[k];
            }
        } else {
            /* On the path: through the packet logger, which stores its base and sends it on
             * to the first master. */
            struct ftvnf_carry c;
            assert_int_equal(out.v[0].kind, FT_ACT_FORWARD);
            assert_true(ftvnf_carry_parse(out.v[0].data, out.v[0].len, &c));
            assert_int_equal(c.to, 6);
            assert_int_equal(c.n_recs, 1);
            assert_int_equal(c.recs[0].logger, 2);
            assert_int_equal(c.recs[0].type, FTVNF_LOG_BASE);
            assert_int_equal(c.len, 1);
            ids[i] = c.id;
        }
        assert_true(ftvnf_id_vlan_ok(ids[i]));
    }
    ft_actions_uninit(&out);
    ft_core_destroy(core);
}

static void
test_sequencer_fresh_id_after_restart(void **state)
{
    uint64_t a[300], b[300];

    sequencer_ids(0, a, 300);
    sequencer_ids(1, b, 300);
    for (size_t i = 0; i < 300; i++) {
        assert_int_equal(ftvnf_id_sequencer(a[i]), 0);
        assert_int_equal(ftvnf_id_sequencer(b[i]), 1);
        assert_int_equal(ftvnf_id_version(a[i]), 0);
        for (size_t j = 0; j < 300; j++) {
            assert_true(a[i] != b[j]);
        }
        assert_true(i == 0 || a[i] > a[i - 1]);
    }
}

static void
test_delta_roundtrip(void **state)
{
    uint8_t old[200], new_[230];
    struct buf d = BUF_INITIALIZER, pkt = BUF_INITIALIZER;

    for (size_t i = 0; i < sizeof old; i++) {
        old[i] = i * 7;
    }
    memcpy(new_, old, sizeof old);
    new_[3] ^= 1;               /* a header field */
    new_[20] ^= 0xff;           /* two bytes close together: one range */
    new_[24] ^= 0xff;
    memset(new_ + 200, 0x5a, 30);
    ftvnf_delta_make(&d, old, sizeof old, new_, sizeof new_);
    assert_true(d.len <= 64);   /* 3 ranges, far less than the packet */
    buf_put(&pkt, old, sizeof old);
    assert_int_equal(ftvnf_delta_apply(&pkt, d.data, d.len), 0);
    assert_int_equal(pkt.len, sizeof new_);
    assert_memory_equal(pkt.data, new_, sizeof new_);
    /* Shorter again. */
    buf_clear(&d);
    ftvnf_delta_make(&d, new_, sizeof new_, old, 100);
    assert_int_equal(ftvnf_delta_apply(&pkt, d.data, d.len), 0);
    assert_int_equal(pkt.len, 100);
    assert_memory_equal(pkt.data, old, 100);
    /* A range past its declared length is refused and changes nothing. */
    d.data[3] = 10;
    assert_int_not_equal(ftvnf_delta_apply(&pkt, d.data, d.len), 0);
    assert_int_equal(pkt.len, 100);
    buf_uninit(&d);
    buf_uninit(&pkt);
}

static void
test_dp_roundtrip(void **state)
{
    struct nf_pad pads[2] = { { NF_PAD_CLOCK, 0, 1, 123456789 }, { NF_PAD_SET, 7, 9, 0 } };
    struct ftvnf_dp dp = { .stage = 2, .id_in = ftvnf_id_make(1, 5, 1),
                           .id_out = ftvnf_id_make(1, 5, 2), .verdict = FTVNF_FORWARD,
                           .order = 0x0102030405060708ull, .pads = pads, .n_pads = 2 }, back;
    struct buf b = BUF_INITIALIZER;

    ftvnf_dp_put(&b, &dp);
    assert_int_equal(ftvnf_dp_parse(b.data, b.len, &back), b.len);
    assert_int_equal(back.stage, 2);
    assert_int_equal(back.id_out, dp.id_out);
    assert_int_equal(back.order, dp.order);
    assert_int_equal(b.len, FTVNF_DP_HDR_LEN + 2 + 2 * NF_PAD_WIRE_LEN);
    assert_int_equal(back.n_pads, 2);
    assert_int_equal(back.pads[0].value, 123456789);
    assert_int_equal(back.pads[1].var, 7);
    free(back.pads);
    /* Truncated anywhere: refused. */
    for (size_t n = 0; n < b.len; n++) {
        assert_int_equal(ftvnf_dp_parse(b.data, n, &back), 0);
    }
    buf_uninit(&b);
}

/* A log carrier: what is put is parsed back, the last logger's plain packet (id, payload)
 * starts at plain_ofs, and every truncation or a foreign record type is refused. */
static void
test_carry_roundtrip(void **state)
{
    static const uint8_t dp[5] = { 1, 2, 3, 4, 5 }, delta[3] = { 9, 8, 7 }, pl[6] = "frame";
    uint64_t id = ftvnf_id_make(2, 77, 3);
    struct ftvnf_carry c = {
        .id = id, .to = 11, .sync = 31, .n_recs = 2,
        .recs = { { 3, FTVNF_LOG_DP, dp, sizeof dp }, { 2, FTVNF_LOG_PKT, delta, sizeof delta } },
        .payload = pl, .len = sizeof pl,
    }, back;
    struct buf b = BUF_INITIALIZER;

    ftvnf_carry_put(&b, &c);
    assert_int_equal(b.data[0], 1);             /* FTVNF_CARRY: never a plain id. */
    assert_true(ftvnf_carry_parse(b.data, b.len, &back));
    assert_int_equal(back.id, id);
    assert_int_equal(back.to, 11);
    assert_int_equal(back.sync, 31);
    assert_int_equal(back.n_recs, 2);
    assert_int_equal(back.recs[0].logger, 3);
    assert_int_equal(back.recs[1].type, FTVNF_LOG_PKT);
    assert_memory_equal(back.recs[1].body, delta, sizeof delta);
    assert_int_equal(back.len, sizeof pl);
    assert_memory_equal(back.payload, pl, sizeof pl);
    assert_int_equal(b.len - back.plain_ofs, 8 + sizeof pl);
    assert_int_equal(b.data[back.plain_ofs + 7], id & 0xff);
    for (size_t n = 0; n < back.plain_ofs + 8; n++) {
        assert_false(ftvnf_carry_parse(b.data, n, &back));
    }
    b.data[8 + 4 + 4 + 1 + 4] = FTVNF_ACK_DP;  /* The first record's type. */
    assert_false(ftvnf_carry_parse(b.data, b.len, &back));
    buf_uninit(&b);
}

/* A slave fed packets by order number 3, 1, 2 (fed on the path by either logger, they may
 * come in any order) replays them 1, 2, 3: its reports (one per replay) say so. */
static void
test_slave_replays_in_order(void **state)
{
    static const uint32_t next = 9, peers[4] = { 2, 3, 4, 5 };
    struct ft_param p[5] = {
        { "role", "slave" }, { "fn", "fwd" }, { "fn.state_size", "8" }, { "report", "8" },
        { "stage", "0" },
    };
    struct ft_config cfg = { .self = 31, .next = &next, .n_next = 1, .peers = peers,
                             .n_peers = 4, .params = p, .n_params = 5 };
    static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
    static const uint64_t orders[3] = { 3, 1, 2 };
    struct ft_core *core;
    struct ft_actions out;
    uint8_t frame[128];
    size_t flen;
    uint64_t reported[3];
    size_t n_reported = 0;

    ft_rng_init(&cfg.rng, 1);
    assert_int_equal(ft_core_create(ft_core_class_find("ftvnf_vnf"), &cfg, &core, NULL), 0);
    ft_actions_init(&out);
    assert_int_equal(packet_build_udp(frame, sizeof frame, mac, mac, 0x0a000001, 0x0a000002,
                                      1000, 53, (const uint8_t *) "q", 1, &flen), 0);
    for (size_t k = 0; k < 3; k++) {
        struct buf msg = BUF_INITIALIZER;
        uint64_t id = ftvnf_id_make(1, 10 + orders[k], 0);

        buf_put_u8(&msg, FTVNF_SLAVE_PKT);
        buf_put_u8(&msg, 0);
        buf_put_u8(&msg, 0);
        buf_put_be64(&msg, id);
        buf_put_be64(&msg, orders[k]);
        buf_put_be16(&msg, 0);                  /* no PADs */
        buf_put(&msg, frame, flen);
        struct ft_event ev = { .kind = FT_EV_PEER_MSG, .from = k % 2 ? 2 : 3,
                               .data = msg.data, .len = msg.len };
        ft_actions_clear(&out);
        assert_int_equal(ft_core_step(core, &ev, &out), 0);
        for (size_t i = 0; i < out.n; i++) {
            if (out.v[i].kind == FT_ACT_SEND && out.v[i].to == 8) {
                assert_true(n_reported < 3);
                reported[n_reported] = 0;
                for (int b = 2; b < 10; b++) {
                    reported[n_reported] = reported[n_reported] << 8 | out.v[i].data[b];
                }
                n_reported++;
            }
        }
        /* Order 3 waits for 1 and 2. */
        assert_int_equal(n_reported, k == 0 ? 0 : k == 1 ? 1 : 3);
        buf_uninit(&msg);
    }
    for (size_t k = 0; k < 3; k++) {
        assert_int_equal(reported[k], ftvnf_id_make(1, 11 + k, 0));
    }
    ft_actions_uninit(&out);
    ft_core_destroy(core);
}

/* One step of 'core'; returns the actions (cleared first). */
static struct ft_actions *
step(struct ft_core *core, struct ft_actions *out, enum ft_event_kind kind, uint32_t from,
     const uint8_t *data, size_t len, uint64_t now)
{
    struct ft_event ev = { .kind = kind, .from = from, .data = data, .len = len,
                           .now_ns = now };

    ft_actions_clear(out);
    assert_int_equal(ft_core_step(core, &ev, out), 0);
    return out;
}

static struct ft_core *
nat_copy(const char *role, const char *join, uint64_t seed)
{
    static const uint32_t next = 9, peers[4] = { 2, 3, 4, 5 };
    struct ft_param p[8] = {
        { "role", role }, { "fn", "nat" }, { "fn.external", "192.0.2.1" },
        { "fn.alloc", "random" }, { "fn.timeout", "60s" }, { "stage", "0" }, { "join", join },
        { "sync", "31" },
    };
    struct ft_config cfg = { .self = 10, .next = &next, .n_next = 1, .peers = peers,
                             .n_peers = 4, .params = p, .n_params = 8 };
    struct ft_core *core;

    ft_rng_init(&cfg.rng, seed);
    assert_int_equal(ft_core_create(ft_core_class_find("ftvnf_vnf"), &cfg, &core, NULL), 0);
    return core;
}

/* Two state exports hold the same entries (in whatever order). */
static void
assert_state_equal(const struct buf *a, const struct buf *b)
{
    struct nf_state *sa = state_create(), *sb = state_create();
    uint8_t da[STATE_DIGEST_LEN], db[STATE_DIGEST_LEN];

    assert_int_equal(state_import(sa, a->data, a->len), 0);
    assert_int_equal(state_import(sb, b->data, b->len), 0);
    state_digest(sa, da);
    state_digest(sb, db);
    assert_memory_equal(da, db, sizeof da);
    assert_true(state_count(sa) > 0);
    state_destroy(sa);
    state_destroy(sb);
}

/* A new slave (param join) takes its master's image in the middle of the traffic (the nat's
 * mappings, random ports: the determinants' sequence numbers, the order number), then the
 * manager's feed of every record, old and new: the ones the image holds are counted done and
 * not replayed again (a second replay would diverge from its determinants: the mapping is
 * there already), the rest are replayed in order, and its state is its master's, entry for
 * entry. A copy without join refuses an image. */
static void
test_new_slave_joins(void **state)
{
    enum { N = 40, K = 25 };
    static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
    struct ft_core *master = nat_copy("master", "0", 1), *slave = nat_copy("slave", "1", 2);
    struct ft_core *plain = nat_copy("slave", "0", 3);
    struct buf feed[N], image = BUF_INITIALIZER, a = BUF_INITIALIZER, b = BUF_INITIALIZER;
    struct ft_actions out;
    bool joined = false;

    ft_actions_init(&out);
    step(master, &out, FT_EV_START, FT_ENDPOINT_NONE, NULL, 0, 1);
    step(slave, &out, FT_EV_START, FT_ENDPOINT_NONE, NULL, 0, 1);
    for (size_t k = 0; k < N; k++) {
        struct buf pkt = BUF_INITIALIZER;
        uint64_t id = ftvnf_id_make(1, 100 + k, 0);
        uint8_t frame[128];
        size_t flen;

        assert_int_equal(packet_build_udp(frame, sizeof frame, mac, mac, 0x0a000001,
                                          0x0a000002, 2000 + k, 53, (const uint8_t *) "q", 1,
                                          &flen), 0);
        buf_put_be64(&pkt, id);
        buf_put(&pkt, frame, flen);
        step(master, &out, FT_EV_PACKET, FT_ENDPOINT_NONE, pkt.data, pkt.len, 1000 + k);
        /* Its carrier to the D&P logger (3): what the manager would feed the slave. */
        buf_init(&feed[k]);
        for (size_t i = 0; i < out.n; i++) {
            struct ftvnf_carry c;
            struct ftvnf_dp dp;

            if (out.v[i].kind != FT_ACT_FORWARD || out.v[i].to != 3) {
                continue;
            }
            assert_true(ftvnf_carry_parse(out.v[i].data, out.v[i].len, &c));
            assert_int_equal(c.recs[0].type, FTVNF_LOG_DP);
            assert_int_equal(ftvnf_dp_parse(c.recs[0].body, c.recs[0].len, &dp),
                             c.recs[0].len);
            assert_int_equal(dp.order, k + 1);
            assert_true(dp.n_pads > 0);
            buf_put_u8(&feed[k], FTVNF_SLAVE_PKT);
            buf_put_u8(&feed[k], 0);
            buf_put_u8(&feed[k], 0);
            buf_put_be64(&feed[k], dp.id_in);
            buf_put_be64(&feed[k], dp.order);
            nf_pads_put(&feed[k], dp.pads, dp.n_pads);
            buf_put(&feed[k], c.payload, c.len);
            free(dp.pads);
        }
        assert_true(feed[k].len > 0);
        buf_uninit(&pkt);
        if (k + 1 == K) {
            assert_int_equal(ftvnf_vnf_image(master, &image), 0);
        }
    }
    assert_int_not_equal(ftvnf_vnf_image(slave, &a), 0);    /* Not a master. */

    step(plain, &out, FT_EV_STATE, FT_ENDPOINT_NONE, image.data, image.len, 2000);
    assert_true(out.n == 1 && out.v[0].kind == FT_ACT_DROP);
    /* A cut image is refused, whole. */
    step(slave, &out, FT_EV_STATE, FT_ENDPOINT_NONE, image.data, image.len - 1, 2000);
    assert_true(out.n == 1 && out.v[0].kind == FT_ACT_DROP);
    step(slave, &out, FT_EV_STATE, FT_ENDPOINT_NONE, image.data, image.len, 2000);
    for (size_t i = 0; i < out.n; i++) {
        joined |= out.v[i].kind == FT_ACT_SEND && out.v[i].to == 5
                  && out.v[i].data[0] == FTVNF_JOINED;
    }
    assert_true(joined);
    /* The image's state is its master's at packet K: the records up to K change nothing. */
    ft_core_export_state(slave, &a);
    for (size_t k = 0; k < K; k++) {
        step(slave, &out, FT_EV_PEER_MSG, 2, feed[k].data, feed[k].len, 3000 + k);
        for (size_t i = 0; i < out.n; i++) {
            assert_int_not_equal(out.v[i].kind, FT_ACT_NOTE);     /* Not replayed. */
        }
    }
    ft_core_export_state(slave, &b);
    assert_state_equal(&a, &b);
    for (size_t k = N; k-- > K;) {          /* Backwards: held, then replayed in order. */
        step(slave, &out, FT_EV_PEER_MSG, 3, feed[k].data, feed[k].len, 4000 + k);
        for (size_t i = 0; i < out.n; i++) {
            assert_int_not_equal(out.v[i].kind, FT_ACT_NOTE);     /* No divergence. */
        }
    }
    buf_clear(&a);
    buf_clear(&b);
    ft_core_export_state(master, &a);
    ft_core_export_state(slave, &b);
    assert_state_equal(&a, &b);

    for (size_t k = 0; k < N; k++) {
        buf_uninit(&feed[k]);
    }
    buf_uninit(&image);
    buf_uninit(&a);
    buf_uninit(&b);
    ft_actions_uninit(&out);
    ft_core_destroy(master);
    ft_core_destroy(slave);
    ft_core_destroy(plain);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_layout),
        cmocka_unit_test(test_carry_roundtrip),
        cmocka_unit_test(test_slave_replays_in_order),
        cmocka_unit_test(test_sequencer_fresh_id_after_restart),
        cmocka_unit_test(test_delta_roundtrip),
        cmocka_unit_test(test_dp_roundtrip),
        cmocka_unit_test(test_new_slave_joins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
