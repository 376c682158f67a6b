#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "vnfs/lib/packet.h"

static const uint8_t mac_a[6] = { 2, 0, 0, 0, 0, 0xa };
static const uint8_t mac_b[6] = { 2, 0, 0, 0, 0, 0xb };

static size_t
udp(uint8_t *f, size_t cap, const char *payload)
{
    size_t len;
    assert_int_equal(packet_build_udp(f, cap, mac_a, mac_b, 0x0a000001, 0x0a000002, 1234, 53,
                                      payload, strlen(payload), &len), 0);
    return len;
}

static void
test_parse_udp(void **state)
{
    uint8_t f[128];
    size_t len = udp(f, sizeof f, "hello");
    struct packet_info info;

    assert_int_equal(len, PACKET_UDP_HLEN + 5);
    assert_int_equal(packet_parse(f, len, &info), 0);
    assert_true(info.has_ports);
    assert_false(info.fragment);
    assert_int_equal(info.l3_ofs, 14);
    assert_int_equal(info.l4_ofs, 34);
    assert_int_equal(info.l7_ofs, 42);
    assert_int_equal(info.l7_len, 5);
    assert_int_equal(info.flow.proto, IPPROTO_UDP);
    assert_int_equal(info.flow.src_ip, htonl(0x0a000001));
    assert_int_equal(ntohs(info.flow.dst_port), 53);
    assert_true(packet_l4_csum_ok(f, &info));

    /* Ethernet padding after the IP packet is allowed. */
    memset(f + len, 0, 60 - len);
    assert_int_equal(packet_parse(f, 60, &info), 0);
    assert_int_equal(info.l7_len, 5);

    /* A payload byte flipped: the UDP checksum notices. */
    f[len - 1] ^= 0xff;
    assert_false(packet_l4_csum_ok(f, &info));
}

static void
test_parse_malformed(void **state)
{
    uint8_t f[128], g[128];
    size_t len = udp(f, sizeof f, "hello");
    struct packet_info info;

    for (size_t n = 0; n < len; n++) {
        assert_int_not_equal(packet_parse(f, n, &info), 0);
    }
    memcpy(g, f, len);
    g[14] = 0x44;               /* IHL 4 */
    assert_int_equal(packet_parse(g, len, &info), EINVAL);
    memcpy(g, f, len);
    g[14] = 0x65;               /* Version 6 in an IPv4 ethertype */
    assert_int_equal(packet_parse(g, len, &info), EINVAL);
    memcpy(g, f, len);
    g[14 + 8] = 1;              /* TTL changed without the checksum */
    assert_int_equal(packet_parse(g, len, &info), EINVAL);
    memcpy(g, f, len);
    g[34 + 5] += 1;             /* UDP length past the IP payload */
    assert_int_equal(packet_parse(g, len, &info), EINVAL);
    memcpy(g, f, len);
    g[12] = 0x86;               /* IPv6 */
    g[13] = 0xdd;
    assert_int_equal(packet_parse(g, len, &info), EPROTONOSUPPORT);
}

static void
test_vlan_and_fragment(void **state)
{
    uint8_t f[128], v[132];
    size_t len = udp(f, sizeof f, "hello");
    struct packet_info info;

    memcpy(v, f, 12);
    memcpy(v + 12, "\x81\x00\x00\x0a", 4);
    memcpy(v + 16, f + 12, len - 12);
    assert_int_equal(packet_parse(v, len + 4, &info), 0);
    assert_int_equal(info.l3_ofs, 18);
    assert_true(info.has_ports);
    assert_true(packet_l4_csum_ok(v, &info));

    /* Second fragment: no ports, no L4 parse. */
    f[14 + 6] = 0x00;
    f[14 + 7] = 0x10;
    struct packet_info fix = { .l3_ofs = 14 };
    packet_fix_csums(f, &fix);
    assert_int_equal(packet_parse(f, len, &info), 0);
    assert_true(info.fragment);
    assert_false(info.has_ports);
    assert_int_equal(info.flow.src_port, 0);
}

static void
test_rewrites_keep_checksums(void **state)
{
    uint8_t f[128];
    size_t len = udp(f, sizeof f, "some payload");
    struct packet_info info;
    uint32_t x = 12345;

    assert_int_equal(packet_parse(f, len, &info), 0);
    for (int i = 0; i < 500; i++) {
        x = x * 1103515245 + 12345;        /* Deterministic addresses and ports. */
        packet_set_ipv4(f, &info, i & 1, htonl(x));
        assert_int_equal(packet_set_port(f, &info, i & 2, htons(x >> 16)), 0);
        struct packet_info again;
        assert_int_equal(packet_parse(f, len, &again), 0);     /* IP checksum right */
        assert_true(packet_l4_csum_ok(f, &again));
        assert_memory_equal(&again.flow, &info.flow, sizeof info.flow);
    }

    packet_swap_endpoints(f, &info);
    assert_int_equal(packet_parse(f, len, &info), 0);
    assert_true(packet_l4_csum_ok(f, &info));
    assert_memory_equal(f, mac_a, 6);

    /* Growing and shrinking the payload. */
    memset(f + info.l7_ofs, 'z', 40);
    assert_int_equal(packet_set_udp_payload_len(f, sizeof f, &info, 40, &len), 0);
    assert_int_equal(len, PACKET_UDP_HLEN + 40);
    assert_int_equal(packet_parse(f, len, &info), 0);
    assert_true(packet_l4_csum_ok(f, &info));
    assert_int_equal(packet_set_udp_payload_len(f, sizeof f, &info, 200, &len), ENOSPC);
}

static void
test_flow_hash(void **state)
{
    struct packet_flow a, b, r;

    packet_flow_init(&a, 0x0a000001, 0x0a000002, 1000, 53, IPPROTO_UDP);
    packet_flow_init(&b, 0x0a000001, 0x0a000002, 1001, 53, IPPROTO_UDP);
    assert_int_not_equal(packet_flow_hash(&a), 0);
    assert_int_not_equal(packet_flow_hash(&a), packet_flow_hash(&b));
    packet_flow_reverse(&a, &r);
    assert_int_equal(r.src_ip, a.dst_ip);
    assert_int_equal(r.dst_port, a.src_port);
    packet_flow_reverse(&r, &r);
    assert_memory_equal(&r, &a, sizeof a);

    uint8_t mac[6];
    uint32_t ip;
    assert_true(packet_parse_mac("02:00:0a:0B:00:ff", mac));
    assert_int_equal(mac[3], 0x0b);
    assert_false(packet_parse_mac("02:00:0a:0b:00", mac));
    assert_false(packet_parse_mac("02:00:0a:0b:00:ff:", mac));
    assert_true(packet_parse_ipv4("10.0.0.1", &ip));
    assert_false(packet_parse_ipv4("10.0.0.256", &ip));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_udp),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_vlan_and_fragment),
        cmocka_unit_test(test_rewrites_keep_checksums),
        cmocka_unit_test(test_flow_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
