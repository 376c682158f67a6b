/* FIT-SFC's wire glue on the guest side: the replica groups of the command lines
 * (path_parse_group), the wrap header between the client's wrapper and the classifier replicas
 * (vnfs/sfc/wrap.h), and a vote copy made of an NSH frame and back (vnfs/sfc/nshvote.h): two
 * replicas' copies of one packet that differ only in their own timestamp must be identical
 * votes, and a copy that differs anywhere else must not. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/nsh.h"
#include "vnfs/ft/demo/demo.h"
#include "vnfs/sfc/hop.h"
#include "vnfs/sfc/nshvote.h"
#include "vnfs/sfc/path.h"
#include "vnfs/sfc/wrap.h"

static void
test_group_parse(void **state)
{
    uint8_t macs[PATH_MAX_REPLICAS][6];
    const uint8_t b[6] = { 2, 0, 0, 0, 0, 0xb };
    char *err = NULL;
    size_t n = 0;

    assert_int_equal(path_parse_group("02:00:00:00:00:0a+02:00:00:00:00:0b", macs, 17, &n,
                                      &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(path_group_find((const uint8_t (*)[6]) macs, n, b), 1);
    assert_int_equal(path_parse_group("02:00:00:00:00:0a+02:00:00:00:00:0a", macs, 17, &n,
                                      &err), EINVAL);
    assert_non_null(strstr(err, "twice"));
    free(err);
    err = NULL;
    assert_int_equal(path_parse_group("02:00:00:00:00:0a+nope", macs, 17, &n, &err), EINVAL);
    free(err);
    err = NULL;
    assert_int_equal(path_parse_group("02:00:00:00:00:0a+02:00:00:00:00:0b", macs, 1, &n,
                                      &err), EINVAL);
    free(err);
    err = NULL;
    assert_int_equal(path_parse_group("+", macs, 17, &n, &err), EINVAL);
    free(err);
}

static void
test_wrap(void **state)
{
    const uint8_t dst[6] = { 2, 0, 0, 0, 0, 1 }, src[6] = { 2, 0, 0, 0, 0, 2 };
    uint8_t frame[HOP_ETH_LEN + WRAP_HDR_LEN + 64];
    struct wrap_hdr w;

    memset(frame, 0x5a, sizeof frame);
    wrap_put(frame, dst, src, 7, 0x100000005ull);
    assert_true(wrap_parse(frame, sizeof frame, &w));
    assert_int_equal(w.client, 7);
    assert_int_equal(w.counter, 0x100000005ull);
    assert_ptr_equal(w.inner, frame + HOP_ETH_LEN + WRAP_HDR_LEN);
    assert_int_equal(w.inner_len, 64);
    /* The request id keeps the client and the counter's low 32 bits. */
    assert_int_equal(wrap_request_id(&w), (7ull << 32) | 5);
    assert_false(wrap_parse(frame, HOP_ETH_LEN + WRAP_HDR_LEN + WRAP_MIN_INNER - 1, &w));
    frame[HOP_ETH_LEN] ^= 1;
    assert_false(wrap_parse(frame, sizeof frame, &w));
    frame[HOP_ETH_LEN] ^= 1;
    frame[12] = 0x08;
    assert_false(wrap_parse(frame, sizeof frame, &w));
}

/* An NSH frame of request 'rid', stamped by 'component' (0: not stamped), inner byte 'x'. */
static size_t
make_frame(uint8_t *out, size_t cap, uint64_t rid, uint32_t component, uint8_t x)
{
    uint8_t value[8], ts[NSH_TIMESTAMP_LEN];
    struct nsh_tlv tlvs[2] = { { NSH_CLASS_SFCLAB, NSH_TLV_REQUEST_ID, 8, value } };
    struct nsh_timestamp t = { component, 1000 + component, 2000 + component };
    struct buf b = { out + HOP_ETH_LEN, 0, cap - HOP_ETH_LEN };
    size_t n_tlvs = 1;

    nsh_request_id_put(value, rid);
    if (component) {
        nsh_timestamp_put(ts, &t);
        tlvs[n_tlvs++] = (struct nsh_tlv) { NSH_CLASS_SFCLAB, NSH_TLV_TIMESTAMP,
                                            NSH_TIMESTAMP_LEN, ts };
    }
    memset(out, 0, HOP_ETH_LEN);
    out[12] = NSH_ETHERTYPE >> 8;
    out[13] = NSH_ETHERTYPE & 0xff;
    assert_int_equal(nsh_encode(&b, 1, 255, 63, NSH_NP_ETHERNET, tlvs, n_tlvs), 0);
    memset(out + HOP_ETH_LEN + b.len, x, 60);
    return HOP_ETH_LEN + b.len + 60;
}

static void
copy_of(const uint8_t *frame, size_t len, uint32_t origin, struct buf *out, bool *has_ts,
        struct nsh_timestamp *ts)
{
    struct nsh_hdr hdr;

    assert_int_equal(nsh_decode(frame + HOP_ETH_LEN, len - HOP_ETH_LEN, &hdr, NULL), 0);
    out->len = 0;
    assert_int_equal(nshvote_copy(frame + HOP_ETH_LEN, len - HOP_ETH_LEN, &hdr, origin, out, ts,
                                  has_ts), 0);
}

static void
test_vote_copies(void **state)
{
    uint8_t f1[512], f2[512], f3[512], scratch[2048];
    struct buf c1 = BUF_INITIALIZER, c2 = BUF_INITIALIZER, c3 = BUF_INITIALIZER;
    uint8_t d1[16], d2[16], d3[16];
    struct nsh_timestamp ts;
    struct pktio_pkt pkt;
    struct nsh_hdr hdr;
    struct demo_msg m;
    uint64_t rid;
    bool has_ts;
    size_t l1 = make_frame(f1, sizeof f1, (3ull << 32) | 9, 2001, 0x11);
    size_t l2 = make_frame(f2, sizeof f2, (3ull << 32) | 9, 2002, 0x11);
    size_t l3 = make_frame(f3, sizeof f3, (3ull << 32) | 9, 2003, 0x12);

    copy_of(f1, l1, 0, &c1, &has_ts, &ts);
    assert_true(has_ts);
    assert_int_equal(ts.component, 2001);
    copy_of(f2, l2, 1, &c2, &has_ts, &ts);
    copy_of(f3, l3, 2, &c3, &has_ts, &ts);
    assert_true(demo_msg_parse(c1.data, c1.len, &m));
    assert_int_equal(m.client, 3);
    assert_int_equal(m.req_id, (3ull << 32) | 9);
    demo_msg_digest(c1.data, c1.len, d1);
    demo_msg_digest(c2.data, c2.len, d2);
    demo_msg_digest(c3.data, c3.len, d3);
    assert_memory_equal(d1, d2, 16);            /* Only their own timestamps differ. */
    assert_memory_not_equal(d1, d3, 16);        /* The inner frame differs. */

    /* Back to a frame: the same request, without the sender's stamp. */
    assert_int_equal(nshvote_frame(c1.data, c1.len, scratch, sizeof scratch, &pkt, &hdr), 0);
    assert_true(nsh_request_id_get(&hdr, &rid));
    assert_int_equal(rid, (3ull << 32) | 9);
    assert_int_equal(nsh_tlv_count(&hdr, NSH_CLASS_SFCLAB, NSH_TLV_TIMESTAMP), 0);
    assert_int_equal(pkt.len, l1 - nsh_tlv_wire_len(NSH_TIMESTAMP_LEN));
    assert_memory_equal(pkt.data + pkt.len - 60, f1 + l1 - 60, 60);
    assert_true(pkt.room >= NSH_MAX_LEN);

    /* A frame without a request id cannot be voted on. */
    {
        uint8_t f4[512];
        struct buf b = { f4 + HOP_ETH_LEN, 0, sizeof f4 - HOP_ETH_LEN };
        struct buf c4 = BUF_INITIALIZER;
        struct nsh_hdr h4;

        assert_int_equal(nsh_encode(&b, 1, 255, 63, NSH_NP_ETHERNET, NULL, 0), 0);
        assert_int_equal(nsh_decode(f4 + HOP_ETH_LEN, b.len, &h4, NULL), 0);
        assert_int_equal(nshvote_copy(f4 + HOP_ETH_LEN, b.len, &h4, 0, &c4, &ts, &has_ts),
                         EINVAL);
        buf_uninit(&c4);
    }
    buf_uninit(&c1);
    buf_uninit(&c2);
    buf_uninit(&c3);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_parse),
        cmocka_unit_test(test_wrap),
        cmocka_unit_test(test_vote_copies),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
