/* FTvNF's wire formats and the sequencer's ids (vnfs/ft/ftvnf): the 36-bit layout, the VLAN
 * reserved values avoided, a fresh sequencer id after a restart, deltas between versions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_layout),
        cmocka_unit_test(test_carry_roundtrip),
        cmocka_unit_test(test_sequencer_fresh_id_after_restart),
        cmocka_unit_test(test_delta_roundtrip),
        cmocka_unit_test(test_dp_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
