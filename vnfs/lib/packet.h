/* packet — Ethernet / IPv4 / UDP / TCP parsing and rewriting for the network functions.
 *
 * packet_parse() reads a frame strictly (lengths against bytes, IPv4 version, IHL and header
 * checksum, UDP length equal to the IP payload, TCP data offset) and says where each layer
 * starts; it never writes. The rewrite helpers change addresses, ports and lengths in place and
 * keep every checksum right (incrementally, RFC 1624, where only a field changes). Frames are
 * untrusted: packet_parse() is fuzzed (tests/fuzz/fuzz_packet.c).
 *
 * Never allocates, never does I/O. Addresses and ports in struct packet_flow are in network byte
 * order, and the struct has no uninitialised padding, so it can be used as a state key as is.
 *
 * Main types: struct packet_info (offsets of a parsed frame), struct packet_flow (5-tuple). */
#ifndef SFC_PACKET_H
#define SFC_PACKET_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETH_ADDR_LEN 6
#define PACKET_ETH_HLEN 14
#define PACKET_ETHTYPE_IPV4 0x0800
#define PACKET_ETHTYPE_VLAN 0x8100
/* Ethernet + IPv4 + UDP headers without options or tags. */
#define PACKET_UDP_HLEN 42

/* A 5-tuple; 16 bytes with explicit zero padding. */
struct packet_flow {
    uint32_t src_ip;            /* Network byte order. */
    uint32_t dst_ip;
    uint16_t src_port;          /* Network byte order; 0 if not UDP/TCP or a fragment. */
    uint16_t dst_port;
    uint8_t proto;
    uint8_t pad[3];             /* Always zero. */
};

struct packet_info {
    uint16_t l3_ofs;            /* IPv4 header. */
    uint16_t l4_ofs;            /* UDP/TCP/... header (valid if l4_len). */
    uint16_t l7_ofs;            /* Payload after UDP/TCP (valid if has_ports). */
    uint16_t l7_len;
    uint16_t ip_len;            /* IPv4 total length: bytes past l3_ofs + ip_len are padding. */
    uint16_t l4_len;            /* ip_len minus the IP header; 0 for non-first fragments. */
    bool fragment;              /* MF set or offset nonzero: no ports. */
    bool has_ports;             /* UDP or TCP header parsed. */
    struct packet_flow flow;
};

/* Parses an Ethernet frame (with at most one 802.1Q tag) carrying IPv4. Returns 0,
 * EPROTONOSUPPORT if it is not IPv4 (ARP, IPv6...), or EINVAL if malformed. */
int packet_parse(const uint8_t *frame, size_t len, struct packet_info *);

/* Fills a flow from its parts (host byte order in, network order stored). */
void packet_flow_init(struct packet_flow *, uint32_t src_ip, uint32_t dst_ip,
                      uint16_t src_port, uint16_t dst_port, uint8_t proto);
/* The flow seen from the other end. */
void packet_flow_reverse(const struct packet_flow *, struct packet_flow *);
/* A 32-bit hash of the 5-tuple, never 0 (nf_packet's flow_hash uses 0 for "none"). */
uint32_t packet_flow_hash(const struct packet_flow *);

/* Internet checksum (RFC 1071) of 'len' bytes, folded, not complemented, added to 'sum'. */
uint32_t packet_csum_add(uint32_t sum, const void *, size_t len);
uint16_t packet_csum_fold(uint32_t sum);
/* RFC 1624 incremental update of checksum field 'csum' (as stored) when a 16/32-bit field
 * changes from 'old' to 'new' (both as stored, network order). */
uint16_t packet_csum_update16(uint16_t csum, uint16_t old, uint16_t new_);
uint16_t packet_csum_update32(uint16_t csum, uint32_t old, uint32_t new_);

/* Whether the UDP/TCP checksum of a parsed frame is right (UDP checksum 0 means none). */
bool packet_l4_csum_ok(const uint8_t *frame, const struct packet_info *);
/* Recomputes the IPv4 header checksum and the UDP/TCP checksum. */
void packet_fix_csums(uint8_t *frame, const struct packet_info *);

/* Rewrites the source or destination address / port, keeping checksums right, and updates
 * 'info->flow'. Ports need info->has_ports (EINVAL otherwise). */
void packet_set_ipv4(uint8_t *frame, struct packet_info *, bool dst, uint32_t ip_be);
int packet_set_port(uint8_t *frame, struct packet_info *, bool dst, uint16_t port_be);
void packet_set_eth(uint8_t *frame, bool dst, const uint8_t mac[ETH_ADDR_LEN]);
/* Turns a UDP/TCP frame around: swaps MACs, IPs and ports (checksums stay valid: a swap
 * does not change a ones-complement sum). */
void packet_swap_endpoints(uint8_t *frame, struct packet_info *);
/* Sets the UDP payload to 'l7_len' bytes (the caller has written or will write them at
 * l7_ofs), fixing IP total length, UDP length, the frame length and checksums. The frame
 * must be UDP; returns 0 and sets '*frame_lenp', or ENOSPC if it would not fit 'cap', EINVAL
 * if not UDP. Payload bytes must already be in place: checksums cover them. */
int packet_set_udp_payload_len(uint8_t *frame, size_t cap, struct packet_info *,
                               size_t l7_len, size_t *frame_lenp);

/* Builds an Ethernet/IPv4/UDP frame (TTL 64, DF, checksums filled). Addresses and ports in
 * host byte order. Returns 0 and sets '*lenp', or ENOSPC. */
int packet_build_udp(uint8_t *out, size_t cap,
                     const uint8_t src_mac[ETH_ADDR_LEN], const uint8_t dst_mac[ETH_ADDR_LEN],
                     uint32_t src_ip, uint32_t dst_ip, uint16_t src_port, uint16_t dst_port,
                     const void *payload, size_t payload_len, size_t *lenp);

/* Parses "10.0.0.1" into network byte order; false on junk. */
bool packet_parse_ipv4(const char *, uint32_t *ip_be);
/* Parses "02:00:00:00:00:01"; false on junk. */
bool packet_parse_mac(const char *, uint8_t mac[ETH_ADDR_LEN]);

#endif
