/* Unit tests of the attacker's rewrites (vnfs/sfc/mitm.h) on frames built here: a DNS answer
 * plain, inside NSH and inside an FTvNF log carrier (as the answer's delta: checked through a
 * real D&P logger core) gets forged A records with right checksums; frames that are not DNS
 * answers, or are malformed, are left exactly as they were. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/dns.h"
#include "vnfs/lib/nsh.h"
#include "vnfs/lib/packet.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/rng.h"
#include "vnfs/ft/ftvnf/ftvnf.h"
#include "vnfs/ft/nham/nham.h"
#include "vnfs/sfc/mitm.h"

static const uint8_t mac_a[6] = { 2, 0, 0, 0, 0, 1 }, mac_b[6] = { 2, 0, 0, 0, 0, 2 };

/* An Ethernet/IPv4/UDP frame from port 'sport' carrying a DNS answer with two A records. */
static size_t
dns_answer_frame(uint8_t *out, size_t cap, uint16_t sport)
{
    struct dns_query_spec spec = { .id = 7, .name = "www.example.com", .qtype = DNS_TYPE_A,
                                   .edns = true };
    uint8_t q[512], a[512];
    uint32_t addrs[2] = { htonl(0x0a090909), htonl(0x0a09090a) };
    struct dns_query query;
    size_t qlen, alen, len;

    assert_int_equal(dns_build_query(&spec, q, sizeof q, &qlen), 0);
    assert_int_equal(dns_parse_query(q, qlen, &query), 0);
    assert_int_equal(dns_build_answer(&query, DNS_RCODE_NOERROR, addrs, 2, 60, a, sizeof a,
                                      &alen), 0);
    assert_int_equal(packet_build_udp(out, cap, mac_b, mac_a, 0x0a000002, 0x0a000001, sport,
                                      40000, a, alen, &len), 0);
    return len;
}

/* An Ethernet/IPv4/UDP DNS query for www.example.com to port 53. */
static size_t
dns_query_frame(uint8_t *out, size_t cap)
{
    struct dns_query_spec spec = { .id = 7, .name = "www.example.com", .qtype = DNS_TYPE_A,
                                   .edns = true };
    uint8_t q[512];
    size_t qlen, len;

    assert_int_equal(dns_build_query(&spec, q, sizeof q, &qlen), 0);
    assert_int_equal(packet_build_udp(out, cap, mac_a, mac_b, 0x0a000001, 0x0a000002, 40000,
                                      53, q, qlen, &len), 0);
    return len;
}

static void
assert_spoofed(const uint8_t *frame, size_t len, uint32_t spoof)
{
    struct packet_info pi;
    struct dns_response r;

    assert_int_equal(packet_parse(frame, len, &pi), 0);
    assert_true(packet_l4_csum_ok(frame, &pi));
    assert_int_equal(dns_parse_response(frame + pi.l7_ofs, pi.l7_len, &r), 0);
    assert_int_equal(r.n_addrs, 2);
    assert_int_equal(r.addrs[0], spoof);
    assert_int_equal(r.addrs[1], spoof);
}

static void
test_dns_spoof_plain(void **state)
{
    uint8_t frame[1500];
    size_t len = dns_answer_frame(frame, sizeof frame, 53), n = 0;
    uint32_t spoof;

    packet_parse_ipv4("6.6.6.6", &spoof);
    assert_int_equal(mitm_dns_spoof(frame, &len, sizeof frame, spoof, &n), 0);
    assert_int_equal(n, 2);
    assert_spoofed(frame, len, spoof);
}

static void
test_dns_spoof_in_nsh(void **state)
{
    struct buf b = BUF_INITIALIZER;
    uint8_t inner[1500], eth[14];
    size_t inner_len = dns_answer_frame(inner, sizeof inner, 53), nsh_len;
    uint32_t spoof;

    memcpy(eth, mac_a, 6);
    memcpy(eth + 6, mac_b, 6);
    eth[12] = 0x89;
    eth[13] = 0x4f;
    buf_put(&b, eth, sizeof eth);
    assert_int_equal(nsh_encode(&b, 5 | NSH_SPI_REVERSE, 255, 63, NSH_NP_ETHERNET, NULL, 0),
                     0);
    nsh_len = b.len - sizeof eth;
    buf_put(&b, inner, inner_len);
    packet_parse_ipv4("6.6.6.6", &spoof);
    assert_int_equal(mitm_dns_spoof(b.data, &b.len, b.len, spoof, NULL), 0);
    assert_spoofed(b.data + sizeof eth + nsh_len, inner_len, spoof);
    buf_uninit(&b);
}

/* NHAM's DATA frame between its SFF and a VNF copy carries the NSH packet after its own
 * header (counter, stamps): the attacker rewrites the answer inside. */
static void
test_dns_spoof_in_nham_data(void **state)
{
    struct buf nsh = BUF_INITIALIZER, b = BUF_INITIALIZER;
    struct nham_data d = { .epoch = 3, .counter = 41, .n_stamps = 2, .stamps = { 40, 41 } };
    uint8_t inner[1500], eth[14];
    size_t inner_len = dns_answer_frame(inner, sizeof inner, 53), hdr_len;
    uint32_t spoof;

    assert_int_equal(nsh_encode(&nsh, 5 | NSH_SPI_REVERSE, 255, 63, NSH_NP_ETHERNET, NULL, 0),
                     0);
    hdr_len = nsh.len;
    buf_put(&nsh, inner, inner_len);
    d.payload = nsh.data;
    d.payload_len = nsh.len;
    memcpy(eth, mac_a, 6);
    memcpy(eth + 6, mac_b, 6);
    eth[12] = 0x88;
    eth[13] = 0xb6;
    buf_put(&b, eth, sizeof eth);
    nham_data_put(&b, &d);
    packet_parse_ipv4("6.6.6.6", &spoof);
    assert_int_equal(mitm_dns_spoof(b.data, &b.len, b.len, spoof, NULL), 0);
    assert_spoofed(b.data + b.len - inner_len, inner_len, spoof);
    /* The DATA header and the NSH header are as they were. */
    assert_true(nham_data_parse(b.data + sizeof eth, b.len - sizeof eth, &d));
    assert_int_equal(d.counter, 41);
    assert_int_equal(d.payload_len, hdr_len + inner_len);
    buf_uninit(&nsh);
    buf_uninit(&b);
}

static void
test_not_dns_answers_untouched(void **state)
{
    uint8_t frame[1500], copy[1500];
    size_t len;
    uint32_t spoof = 0x06060606;

    /* Not from port 53. */
    len = dns_answer_frame(frame, sizeof frame, 5353);
    memcpy(copy, frame, len);
    assert_int_equal(mitm_dns_spoof(frame, &len, sizeof frame, spoof, NULL), ENOENT);
    assert_memory_equal(frame, copy, len);

    /* Truncated anywhere: refused, untouched. */
    len = dns_answer_frame(frame, sizeof frame, 53);
    memcpy(copy, frame, len);
    for (size_t cut = 0; cut < len; cut++) {
        size_t l = cut;
        int error = mitm_dns_spoof(frame, &l, sizeof frame, spoof, NULL);
        assert_true(error == EINVAL || error == ENOENT);
        assert_int_equal(l, cut);
        assert_memory_equal(frame, copy, len);
    }
    /* A query (QR clear) from port 53 is not an answer. */
    frame[PACKET_UDP_HLEN + 2] &= 0x7f;
    memcpy(copy, frame, len);
    assert_int_not_equal(mitm_dns_spoof(frame, &len, sizeof frame, spoof, NULL), 0);
    assert_memory_equal(frame, copy, len);
}

/* A second answer's name points into the first answer's address (found by fuzz_mitm): spoofing
 * the address would change that name, and the message would no longer parse as an answer. */
static void
test_dns_spoof_pointer_into_address(void **state)
{
    static const uint8_t frame0[] = {
        0x02, 0x00, 0x00, 0x3f, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
        0x08, 0x00, 0x45, 0x00, 0x00, 0x5d, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11,
        0x66, 0x8d, 0x0a, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x01, 0x00, 0x35,
        0x9c, 0x40, 0x00, 0x49, 0xc1, 0x40, 0x00, 0x07, 0x81, 0x80, 0x00, 0x01,
        0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x03, 0x77, 0x77, 0x77, 0x07, 0x65,
        0x61, 0x6d, 0x78, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00,
        0x01, 0x00, 0x01, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x73, 0x00, 0x00,
        0x3c, 0x00, 0x04, 0x0a, 0x09, 0x09, 0x09, 0xc0, 0x2f, 0x00, 0x01, 0x00,
        0x60, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 0x0a, 0x09, 0x09, 0x0a,
    };
    uint8_t frame[sizeof frame0];
    size_t len = sizeof frame;

    memcpy(frame, frame0, sizeof frame);
    assert_int_equal(mitm_dns_spoof(frame, &len, sizeof frame, htonl(0x06060606), NULL), EINVAL);
    assert_int_equal(len, sizeof frame0);
    assert_memory_equal(frame, frame0, sizeof frame0);
}

static void
test_flip(void **state)
{
    uint8_t frame[1500], copy[1500];
    size_t len = dns_answer_frame(frame, sizeof frame, 53), diff = 0;
    struct packet_info pi;
    struct ft_rng rng;

    ft_rng_init(&rng, 3);
    memcpy(copy, frame, len);
    assert_int_equal(mitm_flip(frame, &len, sizeof frame, &rng), 0);
    assert_int_equal(packet_parse(frame, len, &pi), 0);
    assert_true(packet_l4_csum_ok(frame, &pi));
    for (size_t i = pi.l7_ofs; i < len; i++) {
        if (frame[i] != copy[i]) {
            assert_int_equal(frame[i], copy[i] ^ 0xff);
            diff++;
        }
    }
    assert_int_equal(diff, 1);
    /* Headers before the payload only differ in the UDP checksum. */
    assert_memory_equal(frame, copy, pi.l4_ofs + 6);

    /* An ARP frame has no payload to flip. */
    memset(frame, 0, 60);
    frame[12] = 0x08;
    frame[13] = 0x06;
    len = 60;
    assert_int_equal(mitm_flip(frame, &len, sizeof frame, &rng), ENOENT);
}

/* Endpoints of the carrier tests: the D&P logger, the master that wrote the carrier, the
 * manager, the reverse path the answer leaves on. */
enum { EP_DPLOG = 3, EP_MASTER = 10, EP_MANAGER = 5, EP_REPLY = 7 };

/* The frame sfcd ftvnf sends for carrier 'c' (vnfs/sfc/ftvnf.c): NSH with the carrier's first
 * word in NSH_TLV_PACKET_ID, next protocol NSH_NP_EXPERIMENT2, then the rest. */
static void
carrier_frame(struct buf *b, const struct ftvnf_carry *c)
{
    struct buf cb = BUF_INITIALIZER;
    uint8_t eth[14];
    struct nsh_tlv tlv = { .md_class = NSH_CLASS_SFCLAB, .type = NSH_TLV_PACKET_ID, .len = 8 };

    ftvnf_carry_put(&cb, c);
    tlv.value = cb.data;
    memcpy(eth, mac_a, 6);
    memcpy(eth + 6, mac_b, 6);
    eth[12] = 0x89;
    eth[13] = 0x4f;
    buf_clear(b);
    buf_put(b, eth, sizeof eth);
    assert_int_equal(nsh_encode(b, 1, 254, 63, NSH_NP_ETHERNET, &tlv, 1), 0);
    b->data[sizeof eth + 3] = NSH_NP_EXPERIMENT2;   /* As sfcd ftvnf does. */
    buf_put(b, cb.data + 8, cb.len - 8);
    buf_uninit(&cb);
}

/* A dns master's carrier as vnf.c makes it: the query it received (what its slave replays),
 * its D&P record for the D&P logger, and the answer as a delta from the query for no logger
 * (a version that leaves the chain, applied by the last logger). */
static void
dns_master_carrier(struct buf *frame, uint8_t *query, size_t *query_lenp)
{
    struct buf dpb = BUF_INITIALIZER, delta = BUF_INITIALIZER;
    uint8_t answer[1500];
    size_t alen = dns_answer_frame(answer, sizeof answer, 53);
    uint64_t id = ftvnf_id_make(1, 77, 0);
    struct ftvnf_dp dp = { .stage = 0, .id_in = id, .id_out = id + 1, .verdict = FTVNF_REPLY,
                           .order = 1 };
    struct ftvnf_carry c = { .id = id, .to = EP_REPLY, .sync = FT_ENDPOINT_NONE };

    *query_lenp = dns_query_frame(query, 1500);
    ftvnf_dp_put(&dpb, &dp);
    buf_put_be64(&delta, id + 1);
    buf_put_u8(&delta, 1);
    ftvnf_delta_make(&delta, query, *query_lenp, answer, alen);
    c.recs[0] = (struct ftvnf_carry_rec) { EP_DPLOG, FTVNF_LOG_DP, dpb.data, dpb.len };
    c.recs[1] = (struct ftvnf_carry_rec) { FT_ENDPOINT_NONE, FTVNF_LOG_PKT, delta.data,
                                           delta.len };
    c.n_recs = 2;
    c.payload = query;
    c.len = *query_lenp;
    carrier_frame(frame, &c);
    buf_uninit(&dpb);
    buf_uninit(&delta);
}

/* What a real D&P logger core (vnfs/ft/ftvnf/logger.c) sends on for the carrier in 'frame',
 * as sfcd ftvnf hands it over: id(8) and the inner frame, into 'out'. */
static void
dp_logger_sends_on(const struct buf *frame, struct buf *out)
{
    static const uint32_t writers[1] = { EP_MASTER }, mgr = EP_MANAGER;
    struct ft_config cfg = { .self = EP_DPLOG, .group = writers, .n_group = 1, .peers = &mgr,
                             .n_peers = 1 };
    struct buf bytes = BUF_INITIALIZER;
    struct ft_actions acts;
    struct mitm_carrier mc;
    struct ft_core *core = NULL;
    size_t n_forward = 0;

    ft_rng_init(&cfg.rng, 1);
    assert_int_equal(ft_core_create(ft_core_class_find("ftvnf_dp_logger"), &cfg, &core, NULL),
                     0);
    assert_int_equal(mitm_carrier_parse(frame->data, frame->len, &bytes, &mc), 0);
    struct ft_event ev = { .kind = FT_EV_PACKET, .now_ns = 1, .from = FT_ENDPOINT_NONE,
                           .data = bytes.data, .len = bytes.len };
    ft_actions_init(&acts);
    assert_int_equal(ft_core_step(core, &ev, &acts), 0);
    for (size_t i = 0; i < acts.n; i++) {
        if (acts.v[i].kind == FT_ACT_FORWARD) {
            assert_int_equal(acts.v[i].to, EP_REPLY);
            buf_clear(out);
            buf_put(out, acts.v[i].data, acts.v[i].len);
            n_forward++;
        }
    }
    assert_int_equal(n_forward, 1);
    ft_actions_uninit(&acts);
    ft_core_destroy(core);
    buf_uninit(&bytes);
}

/* A dns master's answer travels as a delta inside its log carrier: the attacker rewrites the
 * delta, so the answer the real D&P logger sends on has the forged A records, while the
 * carried query (what the slave replays) and the D&P record are as they were. */
static void
test_dns_spoof_in_carrier(void **state)
{
    struct buf frame = BUF_INITIALIZER, out = BUF_INITIALIZER, before = BUF_INITIALIZER;
    struct buf bytes = BUF_INITIALIZER, bytes2 = BUF_INITIALIZER;
    struct mitm_carrier mc, mc2;
    uint8_t query[1500], buf[2048];
    size_t qlen, len, n = 0;
    uint32_t spoof;

    packet_parse_ipv4("6.6.6.6", &spoof);
    dns_master_carrier(&frame, query, &qlen);
    dp_logger_sends_on(&frame, &before);
    assert_int_equal(mitm_carrier_output(frame.data, frame.len, &out), 0);
    assert_int_equal(out.len, before.len - 8);
    assert_memory_equal(out.data, before.data + 8, out.len);

    memcpy(buf, frame.data, frame.len);
    len = frame.len;
    /* No room to grow into: refused, untouched. */
    size_t tight = len;
    buf[len] = 0xaa;
    int error = mitm_dns_spoof(buf, &tight, len - 1, spoof, &n);
    assert_true(error == 0 || error == E2BIG);
    if (error) {
        assert_int_equal(tight, len);
        assert_memory_equal(buf, frame.data, len);
    }
    memcpy(buf, frame.data, frame.len);
    assert_int_equal(mitm_dns_spoof(buf, &len, sizeof buf, spoof, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(mitm_carrier_output(buf, len, &out), 0);
    assert_spoofed(out.data, out.len, spoof);

    struct buf spoofed = { .data = buf, .len = len };
    dp_logger_sends_on(&spoofed, &out);
    assert_int_equal(out.len, before.len);
    assert_memory_equal(out.data, before.data, 8);      /* The answer's id. */
    assert_spoofed(out.data + 8, out.len - 8, spoof);

    assert_int_equal(mitm_carrier_parse(frame.data, frame.len, &bytes, &mc), 0);
    assert_int_equal(mitm_carrier_parse(buf, len, &bytes2, &mc2), 0);
    assert_int_equal(mc2.c.len, qlen);
    assert_memory_equal(mc2.c.payload, query, qlen);
    assert_int_equal(mc2.c.recs[0].len, mc.c.recs[0].len);
    assert_memory_equal(mc2.c.recs[0].body, mc.c.recs[0].body, mc.c.recs[0].len);
    assert_memory_equal(buf, frame.data, mc.rest_ofs);  /* Ethernet and NSH as they were. */
    buf_uninit(&frame);
    buf_uninit(&out);
    buf_uninit(&before);
    buf_uninit(&bytes);
    buf_uninit(&bytes2);
}

/* A carrier without a delta (the master left the packet as it was): the carried packet is the
 * one that goes on, flipped in place as in plain NSH; a malformed carrier is left alone. */
static void
test_flip_in_carrier(void **state)
{
    struct buf frame = BUF_INITIALIZER, out = BUF_INITIALIZER;
    struct buf dpb = BUF_INITIALIZER;
    uint8_t query[1500], buf[2048];
    size_t qlen = dns_query_frame(query, sizeof query), len, diff = 0;
    uint64_t id = ftvnf_id_make(1, 78, 0);
    struct ftvnf_dp dp = { .stage = 0, .id_in = id, .id_out = id, .order = 2 };
    struct ftvnf_carry c = { .id = id, .to = 11, .sync = FT_ENDPOINT_NONE };
    struct packet_info pi;
    struct ft_rng rng;

    ftvnf_dp_put(&dpb, &dp);
    c.recs[0] = (struct ftvnf_carry_rec) { EP_DPLOG, FTVNF_LOG_DP, dpb.data, dpb.len };
    c.n_recs = 1;
    c.payload = query;
    c.len = qlen;
    carrier_frame(&frame, &c);
    memcpy(buf, frame.data, frame.len);
    len = frame.len;
    ft_rng_init(&rng, 5);
    assert_int_equal(mitm_flip(buf, &len, sizeof buf, &rng), 0);
    assert_int_equal(len, frame.len);
    assert_int_equal(mitm_carrier_output(buf, len, &out), 0);
    assert_int_equal(packet_parse(out.data, out.len, &pi), 0);
    assert_true(packet_l4_csum_ok(out.data, &pi));
    for (size_t i = pi.l7_ofs; i < out.len; i++) {
        diff += out.data[i] != query[i];
    }
    assert_int_equal(diff, 1);

    /* Cut anywhere in the carrier's records: refused, untouched. */
    for (size_t cut = 14; cut < frame.len - qlen; cut++) {
        size_t l = cut;
        memcpy(buf, frame.data, frame.len);
        int error = mitm_flip(buf, &l, sizeof buf, &rng);
        assert_true(error == EINVAL || error == ENOENT);
        assert_int_equal(l, cut);
        assert_memory_equal(buf, frame.data, frame.len);
    }
    buf_uninit(&frame);
    buf_uninit(&out);
    buf_uninit(&dpb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns_spoof_plain),
        cmocka_unit_test(test_dns_spoof_in_nsh),
        cmocka_unit_test(test_dns_spoof_in_nham_data),
        cmocka_unit_test(test_not_dns_answers_untouched),
        cmocka_unit_test(test_dns_spoof_pointer_into_address),
        cmocka_unit_test(test_flip),
        cmocka_unit_test(test_dns_spoof_in_carrier),
        cmocka_unit_test(test_flip_in_carrier),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
