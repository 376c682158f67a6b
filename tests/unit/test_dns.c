#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <string.h>

#include "vnfs/lib/dns.h"

/* A query dig 9.18 sent for "www.example.com" (EDNS0 with a cookie option). */
static const uint8_t dig_query[] = {
    0xb4, 0x8a, 0x01, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x03, 0x77, 0x77, 0x77, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65,
    0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x29,
    0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x08,
    0xd1, 0x8a, 0xc3, 0xe5, 0x1e, 0xda, 0xdb, 0xb0,
};

static void
test_parse_dig_query(void **state)
{
    struct dns_query q;
    uint8_t name[DNS_MAX_NAME];
    size_t name_len;

    assert_int_equal(dns_parse_query(dig_query, sizeof dig_query, &q), 0);
    assert_int_equal(q.id, 0xb48a);
    assert_int_equal(q.qtype, DNS_TYPE_A);
    assert_int_equal(q.qclass, DNS_CLASS_IN);
    assert_true(q.edns);
    assert_int_equal(q.edns_udp_size, 1232);
    assert_false(q.padded);
    assert_null(q.token);
    assert_int_equal(dns_name_from_str("www.example.com", name, &name_len), 0);
    assert_true(dns_name_equal(q.qname, q.qname_len, name, name_len));
}

static void
test_query_of_requested_size(void **state)
{
    static const size_t sizes[] = { 64, 100, 512, 1232, 4096 };
    uint8_t buf[4096];
    size_t len, min;
    struct dns_query_spec spec = { .id = 7, .name = "www.example.com", .qtype = DNS_TYPE_A,
                                   .rd = true };

    assert_int_equal(dns_query_min_size(&spec, &min), 0);
    assert_int_equal(min, 12 + 17 + 4 + 11 + 4);
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        struct dns_query q;
        spec.size = sizes[i];
        assert_int_equal(dns_build_query(&spec, buf, sizeof buf, &len), 0);
        assert_int_equal(len, sizes[i]);
        assert_int_equal(dns_parse_query(buf, len, &q), 0);
        assert_true(q.padded);
        assert_int_equal(q.padding_len, sizes[i] - min);
        assert_int_equal(q.id, 7);
        assert_true(q.flags & DNS_FLAG_RD);

        /* ldns, the reference, reads it too. */
        ldns_pkt *pkt = NULL;
        assert_int_equal(ldns_wire2pkt(&pkt, buf, len), LDNS_STATUS_OK);
        assert_int_equal(ldns_pkt_qdcount(pkt), 1);
        assert_int_equal(ldns_pkt_id(pkt), 7);
        ldns_pkt_free(pkt);
    }
    spec.size = min - 1;
    assert_int_equal(dns_build_query(&spec, buf, sizeof buf, &len), EINVAL);
    spec.size = 70000;
    assert_int_equal(dns_build_query(&spec, buf, sizeof buf, &len), EINVAL);
    spec.size = 512;
    assert_int_equal(dns_build_query(&spec, buf, 511, &len), ENOSPC);
}

static void
test_query_with_token(void **state)
{
    static const uint8_t token[16] = "0123456789abcdef";
    struct dns_query_spec spec = { .id = 9, .name = "example.com.", .qtype = DNS_TYPE_A,
                                   .token = token, .token_len = sizeof token, .size = 200 };
    uint8_t buf[512];
    size_t len;
    struct dns_query q;

    assert_int_equal(dns_build_query(&spec, buf, sizeof buf, &len), 0);
    assert_int_equal(len, 200);
    assert_int_equal(dns_parse_query(buf, len, &q), 0);
    assert_int_equal(q.token_len, 16);
    assert_memory_equal(q.token, token, 16);
    assert_true(q.padded);
}

static void
test_answer_round_trip(void **state)
{
    struct dns_query q;
    struct dns_response r;
    uint8_t buf[512];
    size_t len;
    uint32_t addrs[2] = { htonl(0x0a000050), htonl(0x0a000051) };

    assert_int_equal(dns_parse_query(dig_query, sizeof dig_query, &q), 0);
    assert_int_equal(dns_build_answer(&q, DNS_RCODE_NOERROR, addrs, 2, 300, buf, sizeof buf,
                                      &len), 0);
    assert_int_equal(dns_parse_response(buf, len, &r), 0);
    assert_int_equal(r.id, 0xb48a);
    assert_int_equal(r.rcode, DNS_RCODE_NOERROR);
    assert_true(r.flags & DNS_FLAG_AA);
    assert_true(r.flags & DNS_FLAG_RD);
    assert_int_equal(r.n_addrs, 2);
    assert_int_equal(r.addrs[0], addrs[0]);
    assert_int_equal(r.addrs[1], addrs[1]);
    assert_int_equal(r.ttls[1], 300);
    assert_true(r.edns);
    assert_true(dns_name_equal(r.qname, r.qname_len, q.qname, q.qname_len));

    ldns_pkt *pkt = NULL;
    assert_int_equal(ldns_wire2pkt(&pkt, buf, len), LDNS_STATUS_OK);
    assert_int_equal(ldns_pkt_ancount(pkt), 2);
    ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(pkt), 1);
    assert_int_equal(ldns_rr_get_type(rr), LDNS_RR_TYPE_A);
    assert_memory_equal(ldns_rdf_data(ldns_rr_rdf(rr, 0)), &addrs[1], 4);
    ldns_pkt_free(pkt);

    assert_int_equal(dns_build_answer(&q, DNS_RCODE_NXDOMAIN, NULL, 0, 0, buf, sizeof buf,
                                      &len), 0);
    assert_int_equal(dns_parse_response(buf, len, &r), 0);
    assert_int_equal(r.rcode, DNS_RCODE_NXDOMAIN);
    assert_int_equal(r.n_addrs, 0);
    assert_int_equal(dns_build_answer(&q, 0, addrs, 2, 0, buf, 40, &len), ENOSPC);
}

static void
test_ldns_answer_parsed(void **state)
{
    /* An answer ldns builds (compressed names, CNAME then A) reads the same through ours. */
    ldns_pkt *pkt = ldns_pkt_new();
    ldns_rr *qrr, *cname, *a;
    uint8_t *wire;
    size_t len;
    struct dns_response r;

    ldns_pkt_set_id(pkt, 4242);
    ldns_pkt_set_qr(pkt, true);
    assert_int_equal(ldns_rr_new_question_frm_str(&qrr, "www.example.com. IN A", NULL, NULL),
                     LDNS_STATUS_OK);
    assert_int_equal(ldns_rr_new_frm_str(&cname, "www.example.com. 60 IN CNAME web.example.com.",
                                         0, NULL, NULL), LDNS_STATUS_OK);
    assert_int_equal(ldns_rr_new_frm_str(&a, "web.example.com. 60 IN A 192.0.2.7", 0, NULL,
                                         NULL), LDNS_STATUS_OK);
    ldns_pkt_push_rr(pkt, LDNS_SECTION_QUESTION, qrr);
    ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, cname);
    ldns_pkt_push_rr(pkt, LDNS_SECTION_ANSWER, a);
    assert_int_equal(ldns_pkt2wire(&wire, pkt, &len), LDNS_STATUS_OK);
    assert_int_equal(dns_parse_response(wire, len, &r), 0);
    assert_int_equal(r.id, 4242);
    assert_int_equal(r.ancount, 2);
    assert_int_equal(r.n_addrs, 1);
    assert_int_equal(r.addrs[0], htonl(0xc0000207));
    free(wire);
    ldns_pkt_free(pkt);
}

static void
test_every_truncation_rejected(void **state)
{
    struct dns_query q;
    struct dns_response r;
    uint8_t buf[512];
    size_t len;
    uint32_t addr = htonl(0x0a000001);

    for (size_t n = 0; n < sizeof dig_query; n++) {
        assert_int_equal(dns_parse_query(dig_query, n, &q), EINVAL);
    }
    assert_int_equal(dns_parse_query(dig_query, sizeof dig_query, &q), 0);
    assert_int_equal(dns_build_answer(&q, 0, &addr, 1, 5, buf, sizeof buf, &len), 0);
    for (size_t n = 0; n < len; n++) {
        assert_int_equal(dns_parse_response(buf, n, &r), EINVAL);
    }
    /* And a trailing byte is rejected too. */
    uint8_t longer[sizeof dig_query + 1];
    memcpy(longer, dig_query, sizeof dig_query);
    longer[sizeof dig_query] = 0;
    assert_int_equal(dns_parse_query(longer, sizeof longer, &q), EINVAL);
}

/* Header + a question built by hand: 'name' is raw wire bytes. */
static size_t
make_query(uint8_t *buf, const uint8_t *name, size_t name_len, uint16_t arcount)
{
    static const uint8_t hdr[12] = { 0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };
    memcpy(buf, hdr, 12);
    buf[11] = arcount;
    memcpy(buf + 12, name, name_len);
    memcpy(buf + 12 + name_len, "\x00\x01\x00\x01", 4);
    return 12 + name_len + 4;
}

static void
test_malformed_names(void **state)
{
    uint8_t buf[1024];
    struct dns_query q;
    size_t len;

    /* Good: a one-label name. */
    len = make_query(buf, (const uint8_t *) "\x01" "a\x00", 3, 0);
    assert_int_equal(dns_parse_query(buf, len, &q), 0);

    /* Pointer to itself (a loop). */
    len = make_query(buf, (const uint8_t *) "\xc0\x0c", 2, 0);
    assert_int_equal(dns_parse_query(buf, len, &q), EINVAL);
    /* Pointer forwards. */
    len = make_query(buf, (const uint8_t *) "\xc0\x0e\x01" "a\x00", 5, 0);
    assert_int_equal(dns_parse_query(buf, len, &q), EINVAL);
    /* Pointer into the header. */
    len = make_query(buf, (const uint8_t *) "\xc0\x02", 2, 0);
    assert_int_equal(dns_parse_query(buf, len, &q), EINVAL);
    /* Extended (0x40) and reserved (0x80) label types. */
    len = make_query(buf, (const uint8_t *) "\x41" "a\x00", 3, 0);
    assert_int_equal(dns_parse_query(buf, len, &q), EINVAL);
    len = make_query(buf, (const uint8_t *) "\x81" "a\x00", 3, 0);
    assert_int_equal(dns_parse_query(buf, len, &q), EINVAL);
    /* A label running past the end. */
    len = make_query(buf, (const uint8_t *) "\x3f" "abc", 4, 0);
    assert_int_equal(dns_parse_query(buf, len - 4, &q), EINVAL);

    /* A name of 256 bytes: 4 labels of 63 plus root = 257 > 255. */
    uint8_t name[300];
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        name[n++] = 63;
        memset(name + n, 'x', 63);
        n += 63;
    }
    name[n++] = 0;
    len = make_query(buf, name, n, 0);
    assert_int_equal(dns_parse_query(buf, len, &q), EINVAL);
    /* 3 x 63 + 61 + root = 255: the longest legal name. */
    name[3 * 64] = 61;
    name[3 * 64 + 62] = 0;
    len = make_query(buf, name, 3 * 64 + 63, 0);
    assert_int_equal(dns_parse_query(buf, len, &q), 0);
    assert_int_equal(q.qname_len, 255);
}

static void
test_malformed_structure(void **state)
{
    uint8_t buf[256];
    struct dns_query q;
    size_t len;

    /* QR set: a response is not a query. */
    len = make_query(buf, (const uint8_t *) "\x00", 1, 0);
    buf[2] |= 0x80;
    assert_int_equal(dns_parse_query(buf, len, &q), EINVAL);
    /* Two questions. */
    len = make_query(buf, (const uint8_t *) "\x00", 1, 0);
    buf[5] = 2;
    assert_int_equal(dns_parse_query(buf, len, &q), EINVAL);
    /* An answer record in a query. */
    len = make_query(buf, (const uint8_t *) "\x00", 1, 0);
    buf[7] = 1;
    assert_int_equal(dns_parse_query(buf, len, &q), EINVAL);
    /* ARCOUNT 1 but no record. */
    len = make_query(buf, (const uint8_t *) "\x00", 1, 1);
    assert_int_equal(dns_parse_query(buf, len, &q), EINVAL);
    /* An additional record that is not OPT. */
    len = make_query(buf, (const uint8_t *) "\x00", 1, 1);
    memcpy(buf + len, "\x00\x00\x01\x00\x01\x00\x00\x00\x00\x00\x00", 11);
    assert_int_equal(dns_parse_query(buf, len + 11, &q), EINVAL);
    /* OPT with rdlength past the end. */
    memcpy(buf + len, "\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x08", 11);
    assert_int_equal(dns_parse_query(buf, len + 11, &q), EINVAL);
    /* OPT whose option overruns its rdata. */
    memcpy(buf + len, "\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x04\x00\x0c\x00\x05", 15);
    assert_int_equal(dns_parse_query(buf, len + 15, &q), EINVAL);
    /* A half option header. */
    memcpy(buf + len, "\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x02\x00\x0c", 13);
    assert_int_equal(dns_parse_query(buf, len + 13, &q), EINVAL);
    /* Two token options. */
    memcpy(buf + len, "\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x0a"
           "\xfd\xe9\x00\x01" "a" "\xfd\xe9\x00\x01" "b", 21);
    assert_int_equal(dns_parse_query(buf, len + 21, &q), EINVAL);
    /* One is fine. */
    buf[len + 10] = 5;
    assert_int_equal(dns_parse_query(buf, len + 16, &q), 0);
    assert_int_equal(q.token_len, 1);
    assert_int_equal(q.token[0], 'a');
}

static void
test_malformed_response(void **state)
{
    uint8_t buf[256];
    struct dns_response r;
    size_t len = make_query(buf, (const uint8_t *) "\x01" "a\x00", 3, 0);

    buf[2] |= 0x80;
    buf[7] = 1;                 /* ANCOUNT 1 */
    /* A record with rdlength 5. */
    memcpy(buf + len, "\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x05\x0a\x00\x00\x01\x02",
           17);
    assert_int_equal(dns_parse_response(buf, len + 17, &r), EINVAL);
    buf[len + 11] = 4;
    assert_int_equal(dns_parse_response(buf, len + 16, &r), 0);
    assert_int_equal(r.n_addrs, 1);
    /* ANCOUNT says 2. */
    buf[7] = 2;
    assert_int_equal(dns_parse_response(buf, len + 16, &r), EINVAL);
    buf[7] = 1;
    /* QR clear. */
    buf[2] &= ~0x80;
    assert_int_equal(dns_parse_response(buf, len + 16, &r), EINVAL);
    buf[2] |= 0x80;
    /* The answer's owner is a pointer to itself. */
    buf[len + 1] = len;
    assert_int_equal(dns_parse_response(buf, len + 16, &r), EINVAL);
    buf[len + 1] = 12;
    /* An OPT in the answer section. */
    buf[len + 3] = 41;
    assert_int_equal(dns_parse_response(buf, len + 16, &r), EINVAL);
}

static void
test_names(void **state)
{
    uint8_t a[DNS_MAX_NAME], b[DNS_MAX_NAME];
    size_t alen, blen;
    char s[4 * DNS_MAX_NAME + 1];
    char longlabel[80];

    assert_int_equal(dns_name_from_str("WWW.Example.COM.", a, &alen), 0);
    assert_int_equal(dns_name_from_str("www.example.com", b, &blen), 0);
    assert_true(dns_name_equal(a, alen, b, blen));
    assert_int_equal(dns_name_from_str("www.example.org", b, &blen), 0);
    assert_false(dns_name_equal(a, alen, b, blen));
    dns_name_to_str(a, alen, s, sizeof s);
    assert_string_equal(s, "WWW.Example.COM.");
    assert_int_equal(dns_name_from_str(".", a, &alen), 0);
    assert_int_equal(alen, 1);
    dns_name_to_str(a, alen, s, sizeof s);
    assert_string_equal(s, ".");

    assert_int_equal(dns_name_from_str("a..b", a, &alen), EINVAL);
    assert_int_equal(dns_name_from_str("", a, &alen), 0);
    assert_int_equal(dns_name_from_str("a\\.b", a, &alen), EINVAL);
    memset(longlabel, 'x', 64);
    longlabel[64] = '\0';
    assert_int_equal(dns_name_from_str(longlabel, a, &alen), EINVAL);
    longlabel[63] = '\0';
    assert_int_equal(dns_name_from_str(longlabel, a, &alen), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_dig_query),
        cmocka_unit_test(test_query_of_requested_size),
        cmocka_unit_test(test_query_with_token),
        cmocka_unit_test(test_answer_round_trip),
        cmocka_unit_test(test_ldns_answer_parsed),
        cmocka_unit_test(test_every_truncation_rejected),
        cmocka_unit_test(test_malformed_names),
        cmocka_unit_test(test_malformed_structure),
        cmocka_unit_test(test_malformed_response),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
