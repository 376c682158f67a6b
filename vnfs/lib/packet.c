#include "vnfs/lib/packet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"

int
packet_parse(const uint8_t *frame, size_t len, struct packet_info *info)
{
    struct packet_info pi;
    size_t ofs = PACKET_ETH_HLEN;

    if (len < PACKET_ETH_HLEN) {
        return EINVAL;
    }
    uint16_t type = get_be16(frame + 12);
    if (type == PACKET_ETHTYPE_VLAN) {
        if (len < PACKET_ETH_HLEN + 4) {
            return EINVAL;
        }
        type = get_be16(frame + 16);
        ofs += 4;
    }
    if (type != PACKET_ETHTYPE_IPV4) {
        return EPROTONOSUPPORT;
    }

    memset(&pi, 0, sizeof pi);
    const uint8_t *ip = frame + ofs;
    if (len - ofs < 20 || ip[0] >> 4 != 4) {
        return EINVAL;
    }
    size_t ihl = (ip[0] & 0xf) * 4;
    size_t ip_len = get_be16(ip + 2);
    if (ihl < 20 || ip_len < ihl || ip_len > len - ofs
        || packet_csum_fold(packet_csum_add(0, ip, ihl)) != 0xffff) {
        return EINVAL;
    }
    pi.l3_ofs = ofs;
    pi.ip_len = ip_len;
    pi.flow.proto = ip[9];
    memcpy(&pi.flow.src_ip, ip + 12, 4);
    memcpy(&pi.flow.dst_ip, ip + 16, 4);

    uint16_t frag = get_be16(ip + 6);
    pi.fragment = (frag & 0x2000) || (frag & 0x1fff);
    pi.l4_ofs = ofs + ihl;
    if (frag & 0x1fff) {
        goto done;              /* Not the first fragment: no L4 header here. */
    }
    pi.l4_len = ip_len - ihl;
    if (pi.fragment) {
        goto done;
    }

    const uint8_t *l4 = frame + pi.l4_ofs;
    if (pi.flow.proto == IPPROTO_UDP) {
        if (pi.l4_len < 8 || get_be16(l4 + 4) != pi.l4_len) {
            return EINVAL;
        }
        pi.l7_ofs = pi.l4_ofs + 8;
        pi.l7_len = pi.l4_len - 8;
    } else if (pi.flow.proto == IPPROTO_TCP) {
        size_t doff = (l4[12] >> 4) * 4;
        if (pi.l4_len < 20 || doff < 20 || doff > pi.l4_len) {
            return EINVAL;
        }
        pi.l7_ofs = pi.l4_ofs + doff;
        pi.l7_len = pi.l4_len - doff;
    } else {
        goto done;
    }
    pi.has_ports = true;
    memcpy(&pi.flow.src_port, l4, 2);
    memcpy(&pi.flow.dst_port, l4 + 2, 2);

done:
    *info = pi;
    return 0;
}

void
packet_flow_init(struct packet_flow *flow, uint32_t src_ip, uint32_t dst_ip,
                 uint16_t src_port, uint16_t dst_port, uint8_t proto)
{
    memset(flow, 0, sizeof *flow);
    flow->src_ip = htonl(src_ip);
    flow->dst_ip = htonl(dst_ip);
    flow->src_port = htons(src_port);
    flow->dst_port = htons(dst_port);
    flow->proto = proto;
}

void
packet_flow_reverse(const struct packet_flow *f, struct packet_flow *r)
{
    struct packet_flow tmp = *f;

    tmp.src_ip = f->dst_ip;
    tmp.dst_ip = f->src_ip;
    tmp.src_port = f->dst_port;
    tmp.dst_port = f->src_port;
    *r = tmp;
}

uint32_t
packet_flow_hash(const struct packet_flow *f)
{
    uint64_t a, b;

    memcpy(&a, f, 8);
    memcpy(&b, (const uint8_t *) f + 8, 8);
    uint64_t h = (a ^ 0x9e3779b97f4a7c15ull) * 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h = (h ^ b) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    uint32_t r = h ^ (h >> 32);
    return r ? r : 1;
}

uint32_t
packet_csum_add(uint32_t sum, const void *data_, size_t len)
{
    const uint8_t *p = data_;
    uint64_t s = sum;

    for (; len >= 2; p += 2, len -= 2) {
        s += (p[0] << 8) | p[1];
    }
    if (len) {
        s += p[0] << 8;
    }
    while (s >> 32) {
        s = (s & 0xffffffff) + (s >> 32);
    }
    return s;
}

uint16_t
packet_csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum;
}

/* Fields are taken as stored (network order) and so is the result. */
uint16_t
packet_csum_update16(uint16_t csum, uint16_t old, uint16_t new_)
{
    /* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). */
    uint32_t s = (uint16_t) ~ntohs(csum) + (uint32_t) (uint16_t) ~ntohs(old) + ntohs(new_);
    return htons(~packet_csum_fold(s));
}

uint16_t
packet_csum_update32(uint16_t csum, uint32_t old, uint32_t new_)
{
    csum = packet_csum_update16(csum, old & 0xffff, new_ & 0xffff);
    return packet_csum_update16(csum, old >> 16, new_ >> 16);
}

static uint32_t
pseudo_header_sum(const uint8_t *ip, uint8_t proto, uint16_t l4_len)
{
    uint8_t ph[4] = { 0, proto, l4_len >> 8, l4_len };
    uint32_t sum = packet_csum_add(0, ip + 12, 8);
    return packet_csum_add(sum, ph, 4);
}

static size_t
l4_csum_ofs(uint8_t proto)
{
    return proto == IPPROTO_UDP ? 6 : 16;
}

bool
packet_l4_csum_ok(const uint8_t *frame, const struct packet_info *info)
{
    if (!info->has_ports) {
        return true;
    }
    const uint8_t *l4 = frame + info->l4_ofs;
    if (info->flow.proto == IPPROTO_UDP && !get_be16(l4 + 6)) {
        return true;
    }
    uint32_t sum = pseudo_header_sum(frame + info->l3_ofs, info->flow.proto, info->l4_len);
    return packet_csum_fold(packet_csum_add(sum, l4, info->l4_len)) == 0xffff;
}

void
packet_fix_csums(uint8_t *frame, const struct packet_info *info)
{
    uint8_t *ip = frame + info->l3_ofs;
    size_t ihl = (ip[0] & 0xf) * 4;

    put_be16(ip + 10, 0);
    put_be16(ip + 10, ~packet_csum_fold(packet_csum_add(0, ip, ihl)));
    if (!info->has_ports) {
        return;
    }
    uint8_t *l4 = frame + info->l4_ofs;
    uint8_t *csum = l4 + l4_csum_ofs(info->flow.proto);
    put_be16(csum, 0);
    uint32_t sum = pseudo_header_sum(ip, info->flow.proto, info->l4_len);
    uint16_t c = ~packet_csum_fold(packet_csum_add(sum, l4, info->l4_len));
    if (!c && info->flow.proto == IPPROTO_UDP) {
        c = 0xffff;             /* 0 would mean "no checksum" (RFC 768). */
    }
    put_be16(csum, c);
}

static void
update_l4_csum32(uint8_t *frame, const struct packet_info *info, uint32_t old, uint32_t new_)
{
    if (!info->has_ports) {
        return;
    }
    uint8_t *p = frame + info->l4_ofs + l4_csum_ofs(info->flow.proto);
    uint16_t csum;
    memcpy(&csum, p, 2);
    if (info->flow.proto == IPPROTO_UDP && !csum) {
        return;
    }
    csum = packet_csum_update32(csum, old, new_);
    if (info->flow.proto == IPPROTO_UDP && !csum) {
        csum = 0xffff;
    }
    memcpy(p, &csum, 2);
}

void
packet_set_ipv4(uint8_t *frame, struct packet_info *info, bool dst, uint32_t ip_be)
{
    uint8_t *ip = frame + info->l3_ofs;
    uint8_t *field = ip + (dst ? 16 : 12);
    uint32_t old;
    uint16_t csum;

    memcpy(&old, field, 4);
    memcpy(field, &ip_be, 4);
    memcpy(&csum, ip + 10, 2);
    csum = packet_csum_update32(csum, old, ip_be);
    memcpy(ip + 10, &csum, 2);
    update_l4_csum32(frame, info, old, ip_be);   /* The pseudo-header covers addresses. */
    if (dst) {
        info->flow.dst_ip = ip_be;
    } else {
        info->flow.src_ip = ip_be;
    }
}

int
packet_set_port(uint8_t *frame, struct packet_info *info, bool dst, uint16_t port_be)
{
    if (!info->has_ports) {
        return EINVAL;
    }
    uint8_t *field = frame + info->l4_ofs + (dst ? 2 : 0);
    uint16_t old;
    memcpy(&old, field, 2);
    memcpy(field, &port_be, 2);
    update_l4_csum32(frame, info, old, port_be);
    if (dst) {
        info->flow.dst_port = port_be;
    } else {
        info->flow.src_port = port_be;
    }
    return 0;
}

void
packet_set_eth(uint8_t *frame, bool dst, const uint8_t mac[ETH_ADDR_LEN])
{
    memcpy(frame + (dst ? 0 : ETH_ADDR_LEN), mac, ETH_ADDR_LEN);
}

static void
swap_bytes(uint8_t *a, uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
}

void
packet_swap_endpoints(uint8_t *frame, struct packet_info *info)
{
    swap_bytes(frame, frame + ETH_ADDR_LEN, ETH_ADDR_LEN);
    swap_bytes(frame + info->l3_ofs + 12, frame + info->l3_ofs + 16, 4);
    if (info->has_ports) {
        swap_bytes(frame + info->l4_ofs, frame + info->l4_ofs + 2, 2);
    }
    packet_flow_reverse(&info->flow, &info->flow);
}

int
packet_set_udp_payload_len(uint8_t *frame, size_t cap, struct packet_info *info,
                           size_t l7_len, size_t *frame_lenp)
{
    if (!info->has_ports || info->flow.proto != IPPROTO_UDP) {
        return EINVAL;
    }
    size_t ihl = info->l4_ofs - info->l3_ofs;
    if (l7_len > 65535 - 8 - ihl || info->l7_ofs + l7_len > cap) {
        return ENOSPC;
    }
    uint8_t *ip = frame + info->l3_ofs;
    info->l7_len = l7_len;
    info->l4_len = l7_len + 8;
    info->ip_len = info->l4_len + ihl;
    put_be16(ip + 2, info->ip_len);
    put_be16(frame + info->l4_ofs + 4, info->l4_len);
    packet_fix_csums(frame, info);
    *frame_lenp = info->l7_ofs + l7_len;
    return 0;
}

int
packet_build_udp(uint8_t *out, size_t cap,
                 const uint8_t src_mac[ETH_ADDR_LEN], const uint8_t dst_mac[ETH_ADDR_LEN],
                 uint32_t src_ip, uint32_t dst_ip, uint16_t src_port, uint16_t dst_port,
                 const void *payload, size_t payload_len, size_t *lenp)
{
    struct packet_info info;

    if (payload_len > 65535 - 28 || cap < PACKET_UDP_HLEN + payload_len) {
        return ENOSPC;
    }
    memset(out, 0, PACKET_UDP_HLEN);
    memcpy(out, dst_mac, ETH_ADDR_LEN);
    memcpy(out + 6, src_mac, ETH_ADDR_LEN);
    put_be16(out + 12, PACKET_ETHTYPE_IPV4);

    uint8_t *ip = out + PACKET_ETH_HLEN;
    ip[0] = 0x45;
    put_be16(ip + 6, 0x4000);      /* DF */
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    uint32_t s = htonl(src_ip), d = htonl(dst_ip);
    memcpy(ip + 12, &s, 4);
    memcpy(ip + 16, &d, 4);

    uint8_t *udp = ip + 20;
    put_be16(udp, src_port);
    put_be16(udp + 2, dst_port);
    if (payload_len) {
        memcpy(udp + 8, payload, payload_len);
    }

    memset(&info, 0, sizeof info);
    info.l3_ofs = PACKET_ETH_HLEN;
    info.l4_ofs = PACKET_ETH_HLEN + 20;
    info.l7_ofs = PACKET_UDP_HLEN;
    info.has_ports = true;
    info.flow.proto = IPPROTO_UDP;
    return packet_set_udp_payload_len(out, cap, &info, payload_len, lenp);
}

bool
packet_parse_ipv4(const char *s, uint32_t *ip_be)
{
    struct in_addr a;

    if (inet_pton(AF_INET, s, &a) != 1) {
        return false;
    }
    *ip_be = a.s_addr;
    return true;
}

bool
packet_parse_mac(const char *s, uint8_t mac[ETH_ADDR_LEN])
{
    unsigned int b[ETH_ADDR_LEN];
    char end;

    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
               &end) != ETH_ADDR_LEN) {
        return false;
    }
    for (int i = 0; i < ETH_ADDR_LEN; i++) {
        mac[i] = b[i];
    }
    return true;
}
