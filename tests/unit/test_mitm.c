/* Unit tests of the attacker's rewrites (vnfs/sfc/mitm.h) on frames built here: a DNS answer
 * plain and inside NSH gets forged A records with right checksums; frames that are not DNS
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
#include "vnfs/ft/rng.h"
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
    assert_int_equal(mitm_dns_spoof(frame, len, spoof, &n), 0);
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
    assert_int_equal(mitm_dns_spoof(b.data, b.len, spoof, NULL), 0);
    assert_spoofed(b.data + sizeof eth + nsh_len, inner_len, spoof);
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
    assert_int_equal(mitm_dns_spoof(frame, len, spoof, NULL), ENOENT);
    assert_memory_equal(frame, copy, len);

    /* Truncated anywhere: refused, untouched. */
    len = dns_answer_frame(frame, sizeof frame, 53);
    memcpy(copy, frame, len);
    for (size_t cut = 0; cut < len; cut++) {
        int error = mitm_dns_spoof(frame, cut, spoof, NULL);
        assert_true(error == EINVAL || error == ENOENT);
        assert_memory_equal(frame, copy, len);
    }
    /* A query (QR clear) from port 53 is not an answer. */
    frame[PACKET_UDP_HLEN + 2] &= 0x7f;
    memcpy(copy, frame, len);
    assert_int_not_equal(mitm_dns_spoof(frame, len, spoof, NULL), 0);
    assert_memory_equal(frame, copy, len);
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
    assert_int_equal(mitm_flip(frame, len, &rng), 0);
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
    assert_int_equal(mitm_flip(frame, 60, &rng), ENOENT);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dns_spoof_plain),
        cmocka_unit_test(test_dns_spoof_in_nsh),
        cmocka_unit_test(test_not_dns_answers_untouched),
        cmocka_unit_test(test_flip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
