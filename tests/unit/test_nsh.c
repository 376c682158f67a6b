/* Unit tests of vnfs/lib/nsh: round trips, in-place edits, and every malformed field. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/nsh.h"

/* A valid MD2 header with one request-id TLV: 20 bytes. */
static void
build_basic(struct buf *b)
{
    uint8_t rid[8];
    struct nsh_tlv tlv = { NSH_CLASS_SFCLAB, NSH_TLV_REQUEST_ID, 8, rid };

    nsh_request_id_put(rid, 0x0102030405060708ull);
    assert_int_equal(nsh_encode(b, 0x123456, 255, 63, NSH_NP_ETHERNET, &tlv, 1), 0);
}

static enum nsh_field
decode_bad(const uint8_t *p, size_t len)
{
    enum nsh_field bad = NSH_FIELD_NONE;
    struct nsh_hdr hdr;

    memset(&hdr, 0xee, sizeof hdr);
    assert_int_equal(nsh_decode(p, len, &hdr, &bad), EINVAL);
    assert_int_equal(hdr.spi, 0xeeeeeeee);      /* Untouched on failure. */
    return bad;
}

static void
test_round_trip(void **state)
{
    struct buf b = BUF_INITIALIZER;
    struct nsh_hdr hdr;
    uint64_t rid = 0;

    build_basic(&b);
    assert_int_equal(b.len, 20);
    /* Base header as RFC 8300 §2.2 lays it out: TTL 63, Length 5 words, MD type 2, NP 3. */
    assert_int_equal(b.data[0], 0x0f);
    assert_int_equal(b.data[1], 0xc5);
    assert_int_equal(b.data[2], 0x02);
    assert_int_equal(b.data[3], 0x03);
    /* Context header: class 0xFFF6, type 1, length 8 BYTES (not words). */
    assert_int_equal(b.data[8], 0xff);
    assert_int_equal(b.data[9], 0xf6);
    assert_int_equal(b.data[10], 1);
    assert_int_equal(b.data[11], 8);
    assert_int_equal(nsh_decode(b.data, b.len, &hdr, NULL), 0);
    assert_int_equal(hdr.spi, 0x123456);
    assert_int_equal(hdr.si, 255);
    assert_int_equal(hdr.ttl, 63);
    assert_int_equal(hdr.len, 20);
    assert_int_equal(hdr.md_type, NSH_MD_TYPE_2);
    assert_int_equal(hdr.next_proto, NSH_NP_ETHERNET);
    assert_false(hdr.oam);
    assert_true(nsh_request_id_get(&hdr, &rid));
    assert_true(rid == 0x0102030405060708ull);
    buf_uninit(&b);
}

static void
test_tlv_padding(void **state)
{
    struct buf b = BUF_INITIALIZER;
    uint8_t v5[5] = { 1, 2, 3, 4, 5 };
    struct nsh_tlv tlvs[] = {
        { 0x0001, 7, 5, v5 },
        { 0x0002, 8, 0, NULL },
        { NSH_CLASS_SFCLAB, NSH_TLV_COMMIT_VECTOR, 1, v5 },
    };
    struct nsh_hdr hdr;
    struct nsh_tlv t;
    size_t ofs = 0;

    assert_int_equal(nsh_encode(&b, 1, 254, 10, NSH_NP_IPV4, tlvs, 3), 0);
    /* 8 + (4 + 8) + 4 + (4 + 4) */
    assert_int_equal(b.len, 32);
    assert_int_equal(b.data[8 + 4 + 5], 0);     /* Padding is zero. */
    assert_int_equal(nsh_decode(b.data, b.len, &hdr, NULL), 0);
    assert_true(nsh_tlv_next(&hdr, &ofs, &t));
    assert_int_equal(t.md_class, 1);
    assert_int_equal(t.len, 5);
    assert_memory_equal(t.value, v5, 5);
    assert_true(nsh_tlv_next(&hdr, &ofs, &t));
    assert_int_equal(t.type, 8);
    assert_int_equal(t.len, 0);
    assert_true(nsh_tlv_next(&hdr, &ofs, &t));
    assert_int_equal(t.type, NSH_TLV_COMMIT_VECTOR);
    assert_false(nsh_tlv_next(&hdr, &ofs, &t));
    assert_int_equal(nsh_tlv_count(&hdr, NSH_CLASS_SFCLAB, NSH_TLV_COMMIT_VECTOR), 1);
    assert_false(nsh_tlv_find(&hdr, NSH_CLASS_SFCLAB, NSH_TLV_REQUEST_ID, &t));
    buf_uninit(&b);
}

static void
test_encode_limits(void **state)
{
    uint8_t big[128] = { 0 };
    struct nsh_tlv too_long = { 1, 1, 128, big };
    struct nsh_tlv max = { 1, 1, 120, big };
    struct nsh_tlv two[] = { max, max };
    struct buf b = BUF_INITIALIZER;

    assert_int_equal(nsh_encode(&b, 1, 255, 63, 3, &too_long, 1), EINVAL);
    assert_int_equal(nsh_encode(&b, 0x1000000, 255, 63, 3, NULL, 0), EINVAL);
    assert_int_equal(nsh_encode(&b, 1, 255, 0, 3, NULL, 0), EINVAL);
    assert_int_equal(nsh_encode(&b, 1, 255, 64, 3, NULL, 0), EINVAL);
    assert_int_equal(nsh_encode(&b, 1, 255, 63, 9, NULL, 0), EINVAL);
    /* 8 + 2 * 124 = 256 > 252 */
    assert_int_equal(nsh_encode(&b, 1, 255, 63, 3, two, 2), EMSGSIZE);
    assert_int_equal(b.len, 0);
    assert_int_equal(nsh_encode(&b, 1, 255, 63, 3, &max, 1), 0);
    assert_int_equal(b.len, 132);
    buf_uninit(&b);
}

static void
test_malformed(void **state)
{
    struct buf b = BUF_INITIALIZER;
    uint8_t p[64];

    build_basic(&b);
    /* Every truncation of a valid header is rejected. */
    for (size_t len = 0; len < b.len; len++) {
        assert_int_equal(decode_bad(b.data, len), NSH_FIELD_TRUNCATED);
    }
#define RESET() memcpy(p, b.data, b.len)
    RESET(); p[0] |= 0x40;                           /* Version 1. */
    assert_int_equal(decode_bad(p, b.len), NSH_FIELD_VERSION);
    RESET(); p[0] &= ~0x0f; p[1] &= 0x3f;            /* TTL 0. */
    assert_int_equal(decode_bad(p, b.len), NSH_FIELD_TTL);
    RESET(); p[2] = 0x00;                            /* MD type 0 (reserved). */
    assert_int_equal(decode_bad(p, b.len), NSH_FIELD_MD_TYPE);
    RESET(); p[2] = 0x0f;                            /* MD type 0xF (experimental). */
    assert_int_equal(decode_bad(p, b.len), NSH_FIELD_MD_TYPE);
    RESET(); p[2] = 0x01;                            /* MD type 1 needs Length 6. */
    assert_int_equal(decode_bad(p, b.len), NSH_FIELD_LENGTH);
    RESET(); p[1] = (p[1] & ~0x3f) | 1;              /* Length 1 word < base header. */
    assert_int_equal(decode_bad(p, b.len), NSH_FIELD_LENGTH);
    RESET(); p[1] = (p[1] & ~0x3f) | 6;              /* Length beyond the bytes. */
    assert_int_equal(decode_bad(p, b.len), NSH_FIELD_TRUNCATED);
    RESET(); p[3] = 0;                               /* Next protocol 0. */
    assert_int_equal(decode_bad(p, b.len), NSH_FIELD_NEXT_PROTO);
    RESET(); p[11] = 9;                              /* TLV says 9 bytes, 8 are there. */
    assert_int_equal(decode_bad(p, b.len), NSH_FIELD_TLV_LENGTH);
    RESET(); p[11] = 0x7f;                           /* TLV length 127. */
    assert_int_equal(decode_bad(p, b.len), NSH_FIELD_TLV_LENGTH);
    /* Length 3 words: 4 bytes of context, a TLV header announcing 8 bytes. */
    RESET(); p[1] = (p[1] & ~0x3f) | 3;
    assert_int_equal(decode_bad(p, b.len), NSH_FIELD_TLV_LENGTH);
    /* Length 3 words with a 0-length TLV is fine; 'U' bit of the TLV is ignored. */
    RESET(); p[1] = (p[1] & ~0x3f) | 3; p[11] = 0x80;
    {
        struct nsh_hdr hdr;
        struct nsh_tlv t;
        size_t ofs = 0;
        assert_int_equal(nsh_decode(p, 12, &hdr, NULL), 0);
        assert_true(nsh_tlv_next(&hdr, &ofs, &t));
        assert_int_equal(t.len, 0);
    }
    /* A context header without value, built by hand (Length 3 words). */
    {
        uint8_t q[12] = { 0x0f, 0xc3, 0x02, 0x03, 0, 0, 1, 255, 0xff, 0xf6, 1, 0 };
        struct nsh_hdr hdr;
        assert_int_equal(nsh_decode(q, sizeof q, &hdr, NULL), 0);
    }
    assert_string_equal(nsh_field_name(NSH_FIELD_TLV_LENGTH), "context header length");
#undef RESET
    buf_uninit(&b);
}

static void
test_md_type1(void **state)
{
    uint8_t p[24] = { 0x0f, 0xc6, 0x01, 0x01, 0x00, 0x00, 0x07, 0xfe };
    struct nsh_hdr hdr;
    struct nsh_tlv t;
    size_t ofs = 0;

    assert_int_equal(nsh_decode(p, sizeof p, &hdr, NULL), 0);
    assert_int_equal(hdr.spi, 7);
    assert_int_equal(hdr.si, 254);
    assert_int_equal(hdr.md_len, 16);
    assert_false(nsh_tlv_next(&hdr, &ofs, &t));
}

static void
test_si_ttl(void **state)
{
    struct buf b = BUF_INITIALIZER;
    struct nsh_hdr hdr;

    build_basic(&b);
    assert_true(nsh_dec_si(b.data));
    assert_true(nsh_dec_ttl(b.data));
    assert_int_equal(nsh_decode(b.data, b.len, &hdr, NULL), 0);
    assert_int_equal(hdr.si, 254);
    assert_int_equal(hdr.ttl, 62);
    assert_int_equal(hdr.len, 20);               /* Length untouched by the TTL edit. */
    nsh_set_spi_si(b.data, 0x123456 | NSH_SPI_REVERSE, 0);
    assert_false(nsh_dec_si(b.data));
    assert_int_equal(nsh_decode(b.data, b.len, &hdr, NULL), 0);
    assert_int_equal(hdr.spi, 0x923456);
    assert_int_equal(hdr.si, 0);
    /* TTL 1: the next SFF must drop. */
    b.data[0] = (b.data[0] & ~0x0f);
    b.data[1] = (b.data[1] & 0x3f) | 0x40;
    assert_false(nsh_dec_ttl(b.data));
    buf_uninit(&b);
}

static void
test_push_timestamps(void **state)
{
    uint8_t frame[512], *start = frame + 300;
    uint8_t inner[] = { 0xde, 0xad, 0xbe, 0xef };
    struct buf b = BUF_INITIALIZER;
    struct nsh_timestamp ts[16], one = { 42, 1000, 2500 };
    uint8_t value[NSH_TIMESTAMP_LEN];
    struct nsh_hdr hdr;
    size_t len, n_pushed = 0;
    int error;

    build_basic(&b);
    memset(start, 0xaa, 14);                    /* Outer Ethernet. */
    memcpy(start + 14, b.data, b.len);
    memcpy(start + 14 + b.len, inner, sizeof inner);
    len = 14 + b.len + sizeof inner;
    for (;;) {
        one.component = n_pushed;
        nsh_timestamp_put(value, &one);
        error = nsh_push_tlv(&start, 14, start - frame, NSH_CLASS_SFCLAB, NSH_TLV_TIMESTAMP,
                             value, sizeof value);
        if (error) {
            break;
        }
        len += nsh_tlv_wire_len(sizeof value);
        n_pushed++;
    }
    /* (252 - 20) / 24 = 9 timestamps fit, then the header is full. */
    assert_int_equal(error, EMSGSIZE);
    assert_int_equal(n_pushed, 9);
    assert_int_equal(start[0], 0xaa);
    assert_int_equal(nsh_decode(start + 14, len - 14, &hdr, NULL), 0);
    assert_int_equal(hdr.len, 20 + 9 * 24);
    assert_memory_equal(start + 14 + hdr.len, inner, sizeof inner);   /* Inner in place. */
    assert_int_equal(nsh_timestamps_get(&hdr, ts, 16), 9);
    assert_int_equal(ts[0].component, 0);
    assert_int_equal(ts[8].component, 8);
    assert_true(ts[3].t_in == 1000 && ts[3].t_out == 2500);
    /* Not enough room before the frame. */
    assert_int_equal(nsh_push_tlv(&start, 14, 10, 1, 1, value, 8), ENOBUFS);
    assert_int_equal(nsh_push_tlv(&start, 14, 100, 1, 1, value, 200), EINVAL);
    buf_uninit(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tlv_padding),
        cmocka_unit_test(test_encode_limits),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_md_type1),
        cmocka_unit_test(test_si_ttl),
        cmocka_unit_test(test_push_timestamps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
