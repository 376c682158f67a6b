/* OpenFlow 1.3 by hand: the few messages sfclab sends, and a strict reader of what the switch
 * sends back. Layouts are those of ONF TS-023 (OpenFlow 1.3.5) section 7; the NSH match fields
 * are Open vSwitch's NXOXM_NSH experimenter OXMs (lib/nx-match.inc in OVS). */
#include "testbed/infra/openflow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/util.h"

#define OF_HEADER_LEN 8
#define OF_NO_BUFFER 0xffffffffu
#define OF_TX_QUEUE_MAX 65536   /* Bytes of requests queued before they are sent anyway. */

/* OXM classes and fields (ofp_oxm_class, oxm_ofb_match_fields). */
#define OXM_CLASS_BASIC 0x8000
#define OXM_CLASS_EXPERIMENTER 0xffff
#define NXOXM_NSH_EXPERIMENTER 0x005ad650
enum {
    OFB_IN_PORT = 0, OFB_ETH_DST = 3, OFB_ETH_SRC = 4, OFB_ETH_TYPE = 5, OFB_IP_PROTO = 10,
    OFB_IPV4_SRC = 11, OFB_IPV4_DST = 12, OFB_UDP_SRC = 15, OFB_UDP_DST = 16,
    OFB_ARP_SPA = 22, OFB_ARP_TPA = 23,
};
enum { NXOXM_NSH_SPI = 4, NXOXM_NSH_SI = 5 };

/* Action and instruction types. */
enum { OFPAT_OUTPUT = 0, OFPAT_GROUP = 22, OFPAT_SET_FIELD = 25 };
enum { OFPIT_APPLY_ACTIONS = 4 };
#define OFPCML_NO_BUFFER 0xffff
#define OFPHET_VERSIONBITMAP 1
#define OFPPS_LINK_DOWN 1
#define OFPET_EXPERIMENTER 0xffff

#define ETH_TYPE_IP 0x0800
#define ETH_TYPE_NSH 0x894f
#define ETH_TYPE_ARP 0x0806
#define IP_PROTO_UDP 17

static void
put_be16_at(struct buf *b, size_t ofs, uint16_t v)
{
    b->data[ofs] = v >> 8;
    b->data[ofs + 1] = v;
}

static void
put_zeros(struct buf *b, size_t n)
{
    memset(buf_put_uninit(b, n), 0, n);
}

static void
pad_to_8(struct buf *b, size_t start)
{
    put_zeros(b, (8 - (b->len - start) % 8) % 8);
}

/* Matches. */

static void
match_imply(struct of_match *m, uint32_t bit)
{
    if (!(m->fields & bit)) {
        m->fields |= bit;
        m->implied |= bit;
    }
}

static void
match_set(struct of_match *m, uint32_t bit)
{
    m->fields |= bit;
    m->implied &= ~bit;
}

void
of_match_in_port(struct of_match *m, uint32_t port)
{
    match_set(m, OF_F_IN_PORT);
    m->in_port = port;
}

void
of_match_eth_dst(struct of_match *m, const uint8_t mac[6])
{
    match_set(m, OF_F_ETH_DST);
    memcpy(m->eth_dst, mac, 6);
}

void
of_match_eth_src(struct of_match *m, const uint8_t mac[6])
{
    match_set(m, OF_F_ETH_SRC);
    memcpy(m->eth_src, mac, 6);
}

void
of_match_eth_type(struct of_match *m, uint16_t eth_type)
{
    match_set(m, OF_F_ETH_TYPE);
    m->eth_type = eth_type;
}

/* A prerequisite the caller did not give is added; one the caller gave differently stays, and
 * the encoder refuses the contradiction. */
static void
imply_eth_type(struct of_match *m, uint16_t eth_type)
{
    if (!(m->fields & OF_F_ETH_TYPE)) {
        match_imply(m, OF_F_ETH_TYPE);
        m->eth_type = eth_type;
    }
}

void
of_match_ip_proto(struct of_match *m, uint8_t proto)
{
    imply_eth_type(m, ETH_TYPE_IP);
    match_set(m, OF_F_IP_PROTO);
    m->ip_proto = proto;
}

static uint32_t
prefix_mask(int prefix_len)
{
    uint32_t mask = prefix_len <= 0 ? 0 : prefix_len >= 32 ? 0xffffffffu
                                                          : ~((1u << (32 - prefix_len)) - 1);
    return htonl(mask);
}

void
of_match_ipv4_src(struct of_match *m, uint32_t addr, int prefix_len)
{
    imply_eth_type(m, ETH_TYPE_IP);
    match_set(m, OF_F_IPV4_SRC);
    m->ipv4_src_mask = prefix_mask(prefix_len);
    m->ipv4_src = addr & m->ipv4_src_mask;
}

void
of_match_ipv4_dst(struct of_match *m, uint32_t addr, int prefix_len)
{
    imply_eth_type(m, ETH_TYPE_IP);
    match_set(m, OF_F_IPV4_DST);
    m->ipv4_dst_mask = prefix_mask(prefix_len);
    m->ipv4_dst = addr & m->ipv4_dst_mask;
}

static void
imply_udp(struct of_match *m)
{
    imply_eth_type(m, ETH_TYPE_IP);
    if (!(m->fields & OF_F_IP_PROTO)) {
        match_imply(m, OF_F_IP_PROTO);
        m->ip_proto = IP_PROTO_UDP;
    }
}

void
of_match_udp_src(struct of_match *m, uint16_t port)
{
    imply_udp(m);
    match_set(m, OF_F_UDP_SRC);
    m->udp_src = port;
}

void
of_match_udp_dst(struct of_match *m, uint16_t port)
{
    imply_udp(m);
    match_set(m, OF_F_UDP_DST);
    m->udp_dst = port;
}

void
of_match_nsh_spi(struct of_match *m, uint32_t spi)
{
    imply_eth_type(m, ETH_TYPE_NSH);
    match_set(m, OF_F_NSH_SPI);
    m->nsh_spi = spi;
}

void
of_match_arp_spa(struct of_match *m, uint32_t addr)
{
    imply_eth_type(m, ETH_TYPE_ARP);
    match_set(m, OF_F_ARP_SPA);
    m->arp_spa = addr;
}

void
of_match_arp_tpa(struct of_match *m, uint32_t addr)
{
    imply_eth_type(m, ETH_TYPE_ARP);
    match_set(m, OF_F_ARP_TPA);
    m->arp_tpa = addr;
}

void
of_match_nsh_si(struct of_match *m, uint8_t si)
{
    imply_eth_type(m, ETH_TYPE_NSH);
    match_set(m, OF_F_NSH_SI);
    m->nsh_si = si;
}

/* Actions. */

static struct of_action *
actions_append(struct of_actions *acts, enum of_action_type type)
{
    struct of_action *a;

    if (acts->n >= OF_MAX_ACTIONS) {
        sfc_abort("openflow: more than %d actions", OF_MAX_ACTIONS);
    }
    a = &acts->a[acts->n++];
    memset(a, 0, sizeof *a);
    a->type = type;
    return a;
}

bool
of_actions_full(const struct of_actions *acts)
{
    return acts->n >= OF_MAX_ACTIONS;
}

void
of_actions_output(struct of_actions *acts, uint32_t port)
{
    actions_append(acts, OF_ACTION_OUTPUT)->arg = port;
}

void
of_actions_group(struct of_actions *acts, uint32_t group_id)
{
    actions_append(acts, OF_ACTION_GROUP)->arg = group_id;
}

struct of_match *
of_actions_set_field(struct of_actions *acts)
{
    return &actions_append(acts, OF_ACTION_SET_FIELD)->set;
}

struct of_bucket *
of_group_add_bucket(struct of_group *g)
{
    struct of_bucket *b;

    if (g->n_buckets >= OF_MAX_BUCKETS) {
        sfc_abort("openflow: more than %d buckets", OF_MAX_BUCKETS);
    }
    b = &g->buckets[g->n_buckets++];
    memset(b, 0, sizeof *b);
    b->weight = 1;
    b->watch_port = OF_PORT_ANY;
    b->watch_group = OF_GROUP_ANY;
    return b;
}

void
of_group_fast_failover(struct of_group *g, uint32_t group_id, const uint32_t ports[], size_t n)
{
    memset(g, 0, sizeof *g);
    g->group_id = group_id;
    g->type = OF_GROUP_TYPE_FAST_FAILOVER;
    for (size_t i = 0; i < n; i++) {
        struct of_bucket *b = of_group_add_bucket(g);
        b->watch_port = ports[i];
        of_actions_output(&b->actions, ports[i]);
    }
}

void
of_group_select(struct of_group *g, uint32_t group_id, const uint32_t ports[], size_t n)
{
    memset(g, 0, sizeof *g);
    g->group_id = group_id;
    g->type = OF_GROUP_TYPE_SELECT;
    for (size_t i = 0; i < n; i++) {
        of_actions_output(&of_group_add_bucket(g)->actions, ports[i]);
    }
}

/* Encoding. */

static size_t
start_msg(struct buf *b, uint32_t xid, enum of_msg_type type)
{
    size_t start = b->len;

    buf_put_u8(b, OF_VERSION);
    buf_put_u8(b, type);
    buf_put_be16(b, 0);         /* Length, set by end_msg(). */
    buf_put_be32(b, xid);
    return start;
}

static int
end_msg(struct buf *b, size_t start)
{
    size_t len = b->len - start;

    if (len > UINT16_MAX) {
        b->len = start;
        return EMSGSIZE;
    }
    put_be16_at(b, start + 2, len);
    return 0;
}

void
of_encode_simple(struct buf *b, uint32_t xid, enum of_msg_type type, const void *body,
                 size_t body_len)
{
    size_t start = start_msg(b, xid, type);

    if (body_len) {
        buf_put(b, body, body_len);
    }
    end_msg(b, start);
}

static void
put_oxm(struct buf *b, int field, bool has_mask, const void *value, const void *mask,
        size_t len)
{
    size_t total = has_mask ? 2 * len : len;

    buf_put_be32(b, (uint32_t) OXM_CLASS_BASIC << 16 | field << 9 | has_mask << 8 | total);
    buf_put(b, value, len);
    if (has_mask) {
        buf_put(b, mask, len);
    }
}

static void
put_oxm_nsh(struct buf *b, int field, const void *value, size_t len)
{
    buf_put_be32(b, (uint32_t) OXM_CLASS_EXPERIMENTER << 16 | field << 9 | (4 + len));
    buf_put_be32(b, NXOXM_NSH_EXPERIMENTER);
    buf_put(b, value, len);
}

/* The OXM TLVs of the fields in 'which', prerequisites first (the bit order), as OpenFlow asks. */
static void
put_oxms(struct buf *b, const struct of_match *m, uint32_t which)
{
    if (which & OF_F_IN_PORT) {
        uint32_t v = htonl(m->in_port);
        put_oxm(b, OFB_IN_PORT, false, &v, NULL, 4);
    }
    if (which & OF_F_ETH_DST) {
        put_oxm(b, OFB_ETH_DST, false, m->eth_dst, NULL, 6);
    }
    if (which & OF_F_ETH_SRC) {
        put_oxm(b, OFB_ETH_SRC, false, m->eth_src, NULL, 6);
    }
    if (which & OF_F_ETH_TYPE) {
        uint16_t v = htons(m->eth_type);
        put_oxm(b, OFB_ETH_TYPE, false, &v, NULL, 2);
    }
    if (which & OF_F_IP_PROTO) {
        put_oxm(b, OFB_IP_PROTO, false, &m->ip_proto, NULL, 1);
    }
    if (which & OF_F_IPV4_SRC) {
        bool masked = m->ipv4_src_mask != 0xffffffffu;
        put_oxm(b, OFB_IPV4_SRC, masked, &m->ipv4_src, &m->ipv4_src_mask, 4);
    }
    if (which & OF_F_IPV4_DST) {
        bool masked = m->ipv4_dst_mask != 0xffffffffu;
        put_oxm(b, OFB_IPV4_DST, masked, &m->ipv4_dst, &m->ipv4_dst_mask, 4);
    }
    if (which & OF_F_ARP_SPA) {
        put_oxm(b, OFB_ARP_SPA, false, &m->arp_spa, NULL, 4);
    }
    if (which & OF_F_ARP_TPA) {
        put_oxm(b, OFB_ARP_TPA, false, &m->arp_tpa, NULL, 4);
    }
    if (which & OF_F_UDP_SRC) {
        uint16_t v = htons(m->udp_src);
        put_oxm(b, OFB_UDP_SRC, false, &v, NULL, 2);
    }
    if (which & OF_F_UDP_DST) {
        uint16_t v = htons(m->udp_dst);
        put_oxm(b, OFB_UDP_DST, false, &v, NULL, 2);
    }
    if (which & OF_F_NSH_SPI) {
        uint32_t v = htonl(m->nsh_spi);
        put_oxm_nsh(b, NXOXM_NSH_SPI, &v, 4);
    }
    if (which & OF_F_NSH_SI) {
        put_oxm_nsh(b, NXOXM_NSH_SI, &m->nsh_si, 1);
    }
}

/* What the switch would refuse with a less helpful message, refused here with ours. */
static int
check_match(const struct of_match *m, const char **whyp)
{
    bool ip = m->fields & OF_F_ETH_TYPE && m->eth_type == ETH_TYPE_IP;

    if (m->fields & (OF_F_IP_PROTO | OF_F_IPV4_SRC | OF_F_IPV4_DST) && !ip) {
        *whyp = "an IPv4 field needs eth_type 0x0800";
        return EINVAL;
    }
    if (m->fields & (OF_F_ARP_SPA | OF_F_ARP_TPA)
        && (!(m->fields & OF_F_ETH_TYPE) || m->eth_type != ETH_TYPE_ARP)) {
        *whyp = "an ARP field needs eth_type 0x0806";
        return EINVAL;
    }
    if (m->fields & (OF_F_UDP_SRC | OF_F_UDP_DST)
        && (!ip || !(m->fields & OF_F_IP_PROTO) || m->ip_proto != IP_PROTO_UDP)) {
        *whyp = "a UDP port needs eth_type 0x0800 and ip_proto 17";
        return EINVAL;
    }
    if (m->fields & (OF_F_NSH_SPI | OF_F_NSH_SI)
        && (!(m->fields & OF_F_ETH_TYPE) || m->eth_type != ETH_TYPE_NSH)) {
        *whyp = "an NSH field needs eth_type 0x894f";
        return EINVAL;
    }
    if (m->fields & OF_F_NSH_SPI && m->nsh_spi > 0xffffff) {
        *whyp = "nsh_spi has 24 bits";
        return EINVAL;
    }
    return 0;
}

static void
put_match(struct buf *b, const struct of_match *m)
{
    size_t start = b->len;

    buf_put_be16(b, 1);         /* OFPMT_OXM. */
    buf_put_be16(b, 0);
    put_oxms(b, m, m->fields);
    put_be16_at(b, start + 2, b->len - start);  /* Without the padding. */
    pad_to_8(b, start);
}

static int
put_actions(struct buf *b, const struct of_actions *acts, const char **whyp)
{
    for (size_t i = 0; i < acts->n; i++) {
        const struct of_action *a = &acts->a[i];
        uint32_t fields;

        switch (a->type) {
        case OF_ACTION_OUTPUT:
            buf_put_be16(b, OFPAT_OUTPUT);
            buf_put_be16(b, 16);
            buf_put_be32(b, a->arg);
            buf_put_be16(b, a->arg == OF_PORT_CONTROLLER ? OFPCML_NO_BUFFER : 0);
            put_zeros(b, 6);
            break;
        case OF_ACTION_GROUP:
            buf_put_be16(b, OFPAT_GROUP);
            buf_put_be16(b, 8);
            buf_put_be32(b, a->arg);
            break;
        case OF_ACTION_SET_FIELD:
            /* Prerequisites the setters implied are for a match, not fields to write: the
             * flow's own match must provide them (the switch checks). */
            fields = a->set.fields & ~a->set.implied;
            if (!fields || check_match(&a->set, whyp)) {
                *whyp = !fields ? "set_field with no field" : *whyp;
                return EINVAL;
            }
            if (fields & OF_F_IN_PORT) {
                *whyp = "in_port cannot be set";
                return EINVAL;
            }
            for (uint32_t bit = 1; bit <= OF_F_NSH_SI; bit <<= 1) {
                if (fields & bit) {
                    size_t start = b->len;
                    buf_put_be16(b, OFPAT_SET_FIELD);
                    buf_put_be16(b, 0);
                    put_oxms(b, &a->set, bit);
                    pad_to_8(b, start);
                    put_be16_at(b, start + 2, b->len - start);
                }
            }
            break;
        default:
            *whyp = "unknown action type";
            return EINVAL;
        }
    }
    return 0;
}

static int
encode_fail(struct buf *b, size_t start, const char *why, const char *what)
{
    b->len = start;
    log_debug("openflow: %s refused: %s", what, why);
    return EINVAL;
}

int
of_encode_flow_mod(struct buf *b, uint32_t xid, const struct of_flow *f, int command)
{
    size_t start = start_msg(b, xid, OF_FLOW_MOD);
    bool del = command == OF_FC_DELETE || command == OF_FC_DELETE_STRICT;
    const char *why = NULL;
    uint64_t cookie_mask = command == OF_FC_ADD ? 0 : f->cookie_mask;

    if (command < OF_FC_ADD || command > OF_FC_DELETE_STRICT) {
        return encode_fail(b, start, "bad command", "flow_mod");
    }
    if (f->table_id == OF_TABLE_ALL && !del) {
        return encode_fail(b, start, "table 255 is only for delete", "flow_mod");
    }
    if (check_match(&f->match, &why)) {
        return encode_fail(b, start, why, "flow_mod");
    }
    buf_put_be64(b, f->cookie);
    buf_put_be64(b, cookie_mask);
    buf_put_u8(b, f->table_id);
    buf_put_u8(b, command);
    buf_put_be16(b, f->idle_timeout);
    buf_put_be16(b, f->hard_timeout);
    buf_put_be16(b, f->priority);
    buf_put_be32(b, OF_NO_BUFFER);
    buf_put_be32(b, OF_PORT_ANY);       /* out_port, out_group: no filter on delete. */
    buf_put_be32(b, OF_GROUP_ANY);
    buf_put_be16(b, 0);                 /* Flags. */
    buf_put_be16(b, 0);
    put_match(b, &f->match);
    if (!del && f->actions.n) {
        size_t inst = b->len;
        buf_put_be16(b, OFPIT_APPLY_ACTIONS);
        buf_put_be16(b, 0);
        put_zeros(b, 4);
        if (put_actions(b, &f->actions, &why)) {
            return encode_fail(b, start, why, "flow_mod");
        }
        put_be16_at(b, inst + 2, b->len - inst);
    }
    if (end_msg(b, start)) {
        return encode_fail(b, start, "message too long", "flow_mod");
    }
    return 0;
}

int
of_encode_group_mod(struct buf *b, uint32_t xid, const struct of_group *g, int command)
{
    size_t start = start_msg(b, xid, OF_GROUP_MOD);
    const char *why = NULL;

    if (command < OF_GC_ADD || command > OF_GC_DELETE) {
        return encode_fail(b, start, "bad command", "group_mod");
    }
    if (g->type > OF_GROUP_TYPE_FAST_FAILOVER) {
        return encode_fail(b, start, "bad group type", "group_mod");
    }
    if (command != OF_GC_DELETE && g->group_id > OF_GROUP_MAX) {
        return encode_fail(b, start, "group id above 0xffffff00", "group_mod");
    }
    if (g->n_buckets > OF_MAX_BUCKETS
        || (g->type == OF_GROUP_TYPE_INDIRECT && g->n_buckets != 1
            && command != OF_GC_DELETE)) {
        return encode_fail(b, start, "bad number of buckets", "group_mod");
    }
    buf_put_be16(b, command);
    buf_put_u8(b, command == OF_GC_DELETE ? 0 : g->type);
    buf_put_u8(b, 0);
    buf_put_be32(b, g->group_id);
    for (size_t i = 0; command != OF_GC_DELETE && i < g->n_buckets; i++) {
        const struct of_bucket *bk = &g->buckets[i];
        bool ff = g->type == OF_GROUP_TYPE_FAST_FAILOVER;
        size_t bstart = b->len;

        if (ff && bk->watch_port == OF_PORT_ANY && bk->watch_group == OF_GROUP_ANY) {
            return encode_fail(b, start, "a fast-failover bucket watches nothing", "group_mod");
        }
        buf_put_be16(b, 0);
        buf_put_be16(b, g->type == OF_GROUP_TYPE_SELECT ? MAX(bk->weight, 1) : 0);
        buf_put_be32(b, ff ? bk->watch_port : OF_PORT_ANY);
        buf_put_be32(b, ff ? bk->watch_group : OF_GROUP_ANY);
        put_zeros(b, 4);
        if (put_actions(b, &bk->actions, &why)) {
            return encode_fail(b, start, why, "group_mod");
        }
        put_be16_at(b, bstart, b->len - bstart);
    }
    if (end_msg(b, start)) {
        return encode_fail(b, start, "message too long", "group_mod");
    }
    return 0;
}

/* Parsing. */

int
of_msg_frame(const void *data_, size_t len, size_t *lenp)
{
    const uint8_t *data = data_;
    size_t msg_len;

    if (len < 4) {
        return EAGAIN;
    }
    msg_len = get_be16(data + 2);
    if (msg_len < OF_HEADER_LEN) {
        return EPROTO;
    }
    if (len < msg_len) {
        return EAGAIN;
    }
    *lenp = msg_len;
    return 0;
}

static int
parse_hello(struct of_msg *msg)
{
    const uint8_t *p = msg->body;
    size_t left = msg->body_len;

    /* Without a bitmap, the header's version is the highest offered and all below it too. */
    msg->u.hello_versions = msg->version < 32 ? (2u << msg->version) - 2 : 0;
    while (left >= 4) {
        uint16_t type = get_be16(p), len = get_be16(p + 2);
        size_t padded = (len + 7) / 8 * 8;

        if (len < 4 || len > left) {
            return EPROTO;
        }
        if (type == OFPHET_VERSIONBITMAP) {
            if (len < 8) {
                return EPROTO;
            }
            msg->u.hello_versions = get_be32(p + 4);
        }
        if (padded >= left) {
            break;
        }
        p += padded;
        left -= padded;
    }
    return 0;
}

static int
parse_error(struct of_msg *msg)
{
    struct of_error *e = &msg->u.error;
    const uint8_t *data;
    size_t data_len;

    if (msg->body_len < 4) {
        return EPROTO;
    }
    e->type = get_be16(msg->body);
    e->code = get_be16(msg->body + 2);
    e->experimenter = 0;
    data = msg->body + 4;
    data_len = msg->body_len - 4;
    if (e->type == OFPET_EXPERIMENTER) {
        if (msg->body_len < 8) {
            return EPROTO;
        }
        e->experimenter = get_be32(msg->body + 4);
        data += 4;
        data_len -= 4;
    }
    e->failed_xid = msg->xid;
    /* Most errors echo the start of the refused request (at least its header). */
    e->failed_type = data_len >= OF_HEADER_LEN ? data[1] : -1;
    if (data_len >= OF_HEADER_LEN) {
        e->failed_xid = get_be32(data + 4);
    }
    return 0;
}

int
of_msg_parse(const void *data_, size_t len, struct of_msg *msg)
{
    const uint8_t *data = data_;

    memset(msg, 0, sizeof *msg);
    if (len < OF_HEADER_LEN || get_be16(data + 2) != len) {
        return EPROTO;
    }
    msg->version = data[0];
    msg->type = data[1];
    msg->xid = get_be32(data + 4);
    msg->body = data + OF_HEADER_LEN;
    msg->body_len = len - OF_HEADER_LEN;

    switch (msg->type) {
    case OF_HELLO:
        return parse_hello(msg);
    case OF_ERROR:
        return parse_error(msg);
    case OF_FEATURES_REPLY:
        if (msg->body_len < 24) {
            return EPROTO;
        }
        msg->u.features.datapath_id = get_be64(msg->body);
        msg->u.features.n_tables = msg->body[12];
        return 0;
    case OF_PORT_STATUS:
        /* reason, pad[7], then ofp_port: port_no, pad[4], hw_addr, pad[2], name[16],
         * config, state, ... (64 bytes). */
        if (msg->body_len < 8 + 64) {
            return EPROTO;
        }
        msg->u.port_status.reason = msg->body[0];
        msg->u.port_status.port_no = get_be32(msg->body + 8);
        memcpy(msg->u.port_status.name, msg->body + 24, 16);
        msg->u.port_status.name[15] = '\0';
        msg->u.port_status.link_down = get_be32(msg->body + 44) & OFPPS_LINK_DOWN;
        return 0;
    default:
        return 0;
    }
}

const char *
of_msg_type_name(int type)
{
    static const char *const names[] = {
        [OF_HELLO] = "HELLO", [OF_ERROR] = "ERROR", [OF_ECHO_REQUEST] = "ECHO_REQUEST",
        [OF_ECHO_REPLY] = "ECHO_REPLY", [OF_EXPERIMENTER] = "EXPERIMENTER",
        [OF_FEATURES_REQUEST] = "FEATURES_REQUEST", [OF_FEATURES_REPLY] = "FEATURES_REPLY",
        [7] = "GET_CONFIG_REQUEST", [8] = "GET_CONFIG_REPLY", [9] = "SET_CONFIG",
        [OF_PACKET_IN] = "PACKET_IN", [OF_FLOW_REMOVED] = "FLOW_REMOVED",
        [OF_PORT_STATUS] = "PORT_STATUS", [13] = "PACKET_OUT", [OF_FLOW_MOD] = "FLOW_MOD",
        [OF_GROUP_MOD] = "GROUP_MOD", [16] = "PORT_MOD", [17] = "TABLE_MOD",
        [OF_MULTIPART_REQUEST] = "MULTIPART_REQUEST", [OF_MULTIPART_REPLY] = "MULTIPART_REPLY",
        [OF_BARRIER_REQUEST] = "BARRIER_REQUEST", [OF_BARRIER_REPLY] = "BARRIER_REPLY",
        [29] = "METER_MOD",
    };
    return type >= 0 && (size_t) type < ARRAY_SIZE(names) && names[type] ? names[type] : NULL;
}

/* The error codes of OpenFlow 1.3 (ofp_error_type and its enums), each with what it means and
 * the errno that says it best. */
struct of_error_code {
    const char *name, *text;
    int error;
};

#define C(NAME, TEXT, ERR) { NAME, TEXT, ERR }
static const struct of_error_code hello_failed[] = {
    C("OFPHFC_INCOMPATIBLE", "no common OpenFlow version", EPROTONOSUPPORT),
    C("OFPHFC_EPERM", "permissions error", EPERM),
};
static const struct of_error_code bad_request[] = {
    C("OFPBRC_BAD_VERSION", "version not supported", EPROTONOSUPPORT),
    C("OFPBRC_BAD_TYPE", "message type not supported", EOPNOTSUPP),
    C("OFPBRC_BAD_MULTIPART", "multipart type not supported", EOPNOTSUPP),
    C("OFPBRC_BAD_EXPERIMENTER", "experimenter id not supported", EOPNOTSUPP),
    C("OFPBRC_BAD_EXP_TYPE", "experimenter type not supported", EOPNOTSUPP),
    C("OFPBRC_EPERM", "permissions error", EPERM),
    C("OFPBRC_BAD_LEN", "wrong request length", EINVAL),
    C("OFPBRC_BUFFER_EMPTY", "buffer already used", EINVAL),
    C("OFPBRC_BUFFER_UNKNOWN", "buffer does not exist", EINVAL),
    C("OFPBRC_BAD_TABLE_ID", "table does not exist", EINVAL),
    C("OFPBRC_IS_SLAVE", "the connection is a slave", EPERM),
    C("OFPBRC_BAD_PORT", "port does not exist", ENOENT),
    C("OFPBRC_BAD_PACKET", "invalid packet in packet-out", EINVAL),
    C("OFPBRC_MULTIPART_BUFFER_OVERFLOW", "multipart request overflowed the buffer", ENOSPC),
};
static const struct of_error_code bad_action[] = {
    C("OFPBAC_BAD_TYPE", "unknown action type", EINVAL),
    C("OFPBAC_BAD_LEN", "wrong action length", EINVAL),
    C("OFPBAC_BAD_EXPERIMENTER", "unknown experimenter id", EINVAL),
    C("OFPBAC_BAD_EXP_TYPE", "unknown experimenter action", EINVAL),
    C("OFPBAC_BAD_OUT_PORT", "output to a port that does not exist", EINVAL),
    C("OFPBAC_BAD_ARGUMENT", "bad action argument", EINVAL),
    C("OFPBAC_EPERM", "permissions error", EPERM),
    C("OFPBAC_TOO_MANY", "too many actions", ENOSPC),
    C("OFPBAC_BAD_QUEUE", "queue does not exist", EINVAL),
    C("OFPBAC_BAD_OUT_GROUP", "output to a group that does not exist", ENOENT),
    C("OFPBAC_MATCH_INCONSISTENT", "action does not fit the match (missing prerequisite?)",
      EINVAL),
    C("OFPBAC_UNSUPPORTED_ORDER", "action order not supported", EINVAL),
    C("OFPBAC_BAD_TAG", "bad tag", EINVAL),
    C("OFPBAC_BAD_SET_TYPE", "set_field of a field that cannot be set", EINVAL),
    C("OFPBAC_BAD_SET_LEN", "wrong set_field length", EINVAL),
    C("OFPBAC_BAD_SET_ARGUMENT", "bad set_field value", EINVAL),
};
static const struct of_error_code bad_instruction[] = {
    C("OFPBIC_UNKNOWN_INST", "unknown instruction", EINVAL),
    C("OFPBIC_UNSUP_INST", "instruction not supported", EINVAL),
    C("OFPBIC_BAD_TABLE_ID", "goto a table that does not exist", EINVAL),
    C("OFPBIC_UNSUP_METADATA", "metadata value not supported", EINVAL),
    C("OFPBIC_UNSUP_METADATA_MASK", "metadata mask not supported", EINVAL),
    C("OFPBIC_BAD_EXPERIMENTER", "unknown experimenter id", EINVAL),
    C("OFPBIC_BAD_EXP_TYPE", "unknown experimenter instruction", EINVAL),
    C("OFPBIC_BAD_LEN", "wrong instruction length", EINVAL),
    C("OFPBIC_EPERM", "permissions error", EPERM),
};
static const struct of_error_code bad_match[] = {
    C("OFPBMC_BAD_TYPE", "match type not supported", EINVAL),
    C("OFPBMC_BAD_LEN", "wrong match length", EINVAL),
    C("OFPBMC_BAD_TAG", "bad tag", EINVAL),
    C("OFPBMC_BAD_DL_ADDR_MASK", "Ethernet address mask not supported", EINVAL),
    C("OFPBMC_BAD_NW_ADDR_MASK", "IP address mask not supported", EINVAL),
    C("OFPBMC_BAD_WILDCARDS", "wildcards not supported", EINVAL),
    C("OFPBMC_BAD_FIELD", "match field not supported", EINVAL),
    C("OFPBMC_BAD_VALUE", "match value not supported", EINVAL),
    C("OFPBMC_BAD_MASK", "match mask not supported", EINVAL),
    C("OFPBMC_BAD_PREREQ", "a field's prerequisite is missing", EINVAL),
    C("OFPBMC_DUP_FIELD", "field given twice", EINVAL),
    C("OFPBMC_EPERM", "permissions error", EPERM),
};
static const struct of_error_code flow_mod_failed[] = {
    C("OFPFMFC_UNKNOWN", "unknown failure", EINVAL),
    C("OFPFMFC_TABLE_FULL", "table full", ENOSPC),
    C("OFPFMFC_BAD_TABLE_ID", "table does not exist", EINVAL),
    C("OFPFMFC_OVERLAP", "overlapping flow", EEXIST),
    C("OFPFMFC_EPERM", "permissions error", EPERM),
    C("OFPFMFC_BAD_TIMEOUT", "timeout not supported", EINVAL),
    C("OFPFMFC_BAD_COMMAND", "unknown command", EINVAL),
    C("OFPFMFC_BAD_FLAGS", "flags not supported", EINVAL),
};
static const struct of_error_code group_mod_failed[] = {
    C("OFPGMFC_GROUP_EXISTS", "group already exists", EEXIST),
    C("OFPGMFC_INVALID_GROUP", "invalid group", EINVAL),
    C("OFPGMFC_WEIGHT_UNSUPPORTED", "unequal weights not supported", EINVAL),
    C("OFPGMFC_OUT_OF_GROUPS", "group table full", ENOSPC),
    C("OFPGMFC_OUT_OF_BUCKETS", "too many buckets", ENOSPC),
    C("OFPGMFC_CHAINING_UNSUPPORTED", "chaining groups not supported", EINVAL),
    C("OFPGMFC_WATCH_UNSUPPORTED", "watching not supported", EINVAL),
    C("OFPGMFC_LOOP", "group would loop", EINVAL),
    C("OFPGMFC_UNKNOWN_GROUP", "group does not exist", ENOENT),
    C("OFPGMFC_CHAINED_GROUP", "group is chained to another", EBUSY),
    C("OFPGMFC_BAD_TYPE", "group type not supported", EINVAL),
    C("OFPGMFC_BAD_COMMAND", "unknown command", EINVAL),
    C("OFPGMFC_BAD_BUCKET", "bad bucket", EINVAL),
    C("OFPGMFC_BAD_WATCH", "bad watch port or group", EINVAL),
    C("OFPGMFC_EPERM", "permissions error", EPERM),
};
static const struct of_error_code port_mod_failed[] = {
    C("OFPPMFC_BAD_PORT", "port does not exist", ENOENT),
    C("OFPPMFC_BAD_HW_ADDR", "wrong hardware address", EINVAL),
    C("OFPPMFC_BAD_CONFIG", "bad configuration", EINVAL),
    C("OFPPMFC_BAD_ADVERTISE", "bad advertise", EINVAL),
    C("OFPPMFC_EPERM", "permissions error", EPERM),
};
static const struct of_error_code table_mod_failed[] = {
    C("OFPTMFC_BAD_TABLE", "table does not exist", EINVAL),
    C("OFPTMFC_BAD_CONFIG", "bad configuration", EINVAL),
    C("OFPTMFC_EPERM", "permissions error", EPERM),
};
static const struct of_error_code queue_op_failed[] = {
    C("OFPQOFC_BAD_PORT", "port does not exist", ENOENT),
    C("OFPQOFC_BAD_QUEUE", "queue does not exist", ENOENT),
    C("OFPQOFC_EPERM", "permissions error", EPERM),
};
static const struct of_error_code switch_config_failed[] = {
    C("OFPSCFC_BAD_FLAGS", "bad flags", EINVAL),
    C("OFPSCFC_BAD_LEN", "bad miss_send_len", EINVAL),
    C("OFPSCFC_EPERM", "permissions error", EPERM),
};
static const struct of_error_code role_request_failed[] = {
    C("OFPRRFC_STALE", "stale generation id", EINVAL),
    C("OFPRRFC_UNSUP", "role change not supported", EOPNOTSUPP),
    C("OFPRRFC_BAD_ROLE", "invalid role", EINVAL),
};
static const struct of_error_code meter_mod_failed[] = {
    C("OFPMMFC_UNKNOWN", "unknown failure", EINVAL),
    C("OFPMMFC_METER_EXISTS", "meter already exists", EEXIST),
    C("OFPMMFC_INVALID_METER", "invalid meter", EINVAL),
    C("OFPMMFC_UNKNOWN_METER", "meter does not exist", ENOENT),
    C("OFPMMFC_BAD_COMMAND", "unknown command", EINVAL),
    C("OFPMMFC_BAD_FLAGS", "flags not supported", EINVAL),
    C("OFPMMFC_BAD_RATE", "rate not supported", EINVAL),
    C("OFPMMFC_BAD_BURST", "burst not supported", EINVAL),
    C("OFPMMFC_BAD_BAND", "band not supported", EINVAL),
    C("OFPMMFC_BAD_BAND_VALUE", "band value not supported", EINVAL),
    C("OFPMMFC_OUT_OF_METERS", "no more meters", ENOSPC),
    C("OFPMMFC_OUT_OF_BANDS", "too many bands", ENOSPC),
};
static const struct of_error_code table_features_failed[] = {
    C("OFPTFFC_BAD_TABLE", "table does not exist", EINVAL),
    C("OFPTFFC_BAD_METADATA", "bad metadata", EINVAL),
    C("OFPTFFC_BAD_TYPE", "bad property type", EINVAL),
    C("OFPTFFC_BAD_LEN", "bad length", EINVAL),
    C("OFPTFFC_BAD_ARGUMENT", "bad argument", EINVAL),
    C("OFPTFFC_EPERM", "permissions error", EPERM),
};
#undef C

static const struct {
    const char *name;
    const struct of_error_code *codes;
    size_t n;
} error_types[] = {
#define T(NAME, CODES) { NAME, CODES, ARRAY_SIZE(CODES) }
    T("OFPET_HELLO_FAILED", hello_failed),
    T("OFPET_BAD_REQUEST", bad_request),
    T("OFPET_BAD_ACTION", bad_action),
    T("OFPET_BAD_INSTRUCTION", bad_instruction),
    T("OFPET_BAD_MATCH", bad_match),
    T("OFPET_FLOW_MOD_FAILED", flow_mod_failed),
    T("OFPET_GROUP_MOD_FAILED", group_mod_failed),
    T("OFPET_PORT_MOD_FAILED", port_mod_failed),
    T("OFPET_TABLE_MOD_FAILED", table_mod_failed),
    T("OFPET_QUEUE_OP_FAILED", queue_op_failed),
    T("OFPET_SWITCH_CONFIG_FAILED", switch_config_failed),
    T("OFPET_ROLE_REQUEST_FAILED", role_request_failed),
    T("OFPET_METER_MOD_FAILED", meter_mod_failed),
    T("OFPET_TABLE_FEATURES_FAILED", table_features_failed),
#undef T
};

int
of_error_describe(const struct of_error *e, char *text, size_t size)
{
    if (e->type == OFPET_EXPERIMENTER) {
        /* Open vSwitch's own errors (NX_VENDOR_ID 0x2320, ONF 0x4f4e4600): their names live
         * in its lib/ofp-errors.h, which we do not copy; the numbers find them. */
        snprintf(text, size, "experimenter error: experimenter 0x%08x, type %u",
                 e->experimenter, e->code);
        return EINVAL;
    }
    if (e->type < ARRAY_SIZE(error_types)) {
        if (e->code < error_types[e->type].n) {
            const struct of_error_code *c = &error_types[e->type].codes[e->code];
            snprintf(text, size, "%s: %s", c->name, c->text);
            return c->error;
        }
        snprintf(text, size, "%s, unknown code %u", error_types[e->type].name, e->code);
        return EINVAL;
    }
    snprintf(text, size, "unknown error type %u, code %u", e->type, e->code);
    return EINVAL;
}

/* The connection. */

struct of_conn {
    int fd;
    char *path;                 /* NULL: opened on a caller's fd, cannot be reopened. */
    int timeout_ms;
    uint32_t next_xid;
    uint64_t datapath_id;
    struct buf tx;              /* One message being sent. */
    uint8_t *rx;                /* Bytes read and not yet handled. */
    size_t rx_len, rx_cap;
    bool dead;                  /* The switch closed it or it broke: reopen before use. */
    size_t n_unconfirmed;       /* Requests sent since the last barrier. */
    int pending_error;          /* The first refusal since the last barrier, 0 if none. */
    char error[256];
};

static int PRINTF_FORMAT(3, 4)
conn_fail(struct of_conn *c, int error, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
    return error;
}

static int
send_bytes(struct of_conn *c, const void *data_, size_t len)
{
    const uint8_t *data = data_;

    while (len) {
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN) {
                struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
                if (poll(&pfd, 1, c->timeout_ms) <= 0) {
                    c->dead = true;
                    return conn_fail(c, ETIMEDOUT, "the switch stopped reading");
                }
                continue;
            }
            c->dead = true;
            return conn_fail(c, errno == EPIPE ? ECONNRESET : errno, "send: %s",
                             strerror(errno));
        }
        data += n;
        len -= n;
    }
    return 0;
}

/* Sends what is queued. Requests wait in the queue for the barrier that confirms them, so the
 * switch reads a change and its barrier in one go: one wake-up of its main loop, not two (a
 * third off each change, measured with bench/openflow.sh). */
static int
flush_tx(struct of_conn *c)
{
    int error = c->tx.len ? send_bytes(c, c->tx.data, c->tx.len) : 0;

    buf_clear(&c->tx);
    return error;
}

static uint32_t
new_xid(struct of_conn *c)
{
    /* 0 is left out so that a zeroed header never passes for one of our replies. */
    if (!++c->next_xid) {
        c->next_xid = 1;
    }
    return c->next_xid;
}

/* A message that needs no answer from the waiter: answers ECHO, records refusals. */
static int
handle_async(struct of_conn *c, const struct of_msg *msg)
{
    char text[160];

    switch (msg->type) {
    case OF_ECHO_REQUEST:
        of_encode_simple(&c->tx, msg->xid, OF_ECHO_REPLY, msg->body, msg->body_len);
        return flush_tx(c);
    case OF_ERROR: {
        int error = of_error_describe(&msg->u.error, text, sizeof text);
        const char *type = of_msg_type_name(msg->u.error.failed_type);
        if (!c->pending_error) {
            c->pending_error = error;
            conn_fail(c, error, "%s (xid %u): %s", type ? type : "request",
                      msg->u.error.failed_xid, text);
        }
        return 0;
    }
    default:
        return 0;               /* PORT_STATUS, PACKET_IN, FLOW_REMOVED...: not ours. */
    }
}

/* Reads and handles messages until one of 'type' with 'xid' arrives (copied to *msg, its bytes
 * valid until the next read) or, with 'xid' 0, until nothing more is readable now. */
static int
conn_read(struct of_conn *c, enum of_msg_type type, uint32_t xid, struct of_msg *msgp,
          uint8_t **bytesp)
{
    uint64_t deadline = time_mono_ns() + (uint64_t) c->timeout_ms * 1000000;

    for (;;) {
        size_t len;
        int error;

        while (!(error = of_msg_frame(c->rx, c->rx_len, &len))) {
            struct of_msg msg;
            uint8_t *bytes = xmalloc(len);

            memcpy(bytes, c->rx, len);
            memmove(c->rx, c->rx + len, c->rx_len - len);
            c->rx_len -= len;
            error = of_msg_parse(bytes, len, &msg);
            if (error) {
                const char *name = of_msg_type_name(bytes[1]);
                conn_fail(c, EPROTO, "malformed %s message from the switch",
                          name ? name : "unknown");
                free(bytes);
                c->dead = true;
                return EPROTO;
            }
            if (xid && msg.type == type && msg.xid == xid) {
                *msgp = msg;
                *bytesp = bytes;
                return 0;
            }
            /* The request we wait for refused (FEATURES by a switch that did not like our
             * HELLO): no reply of 'type' will come. */
            if (xid && msg.type == OF_ERROR && msg.xid == xid && type != OF_BARRIER_REPLY) {
                handle_async(c, &msg);
                free(bytes);
                return c->pending_error ? c->pending_error : EPROTO;
            }
            error = handle_async(c, &msg);
            free(bytes);
            if (error) {
                return error;
            }
        }
        if (error == EPROTO) {
            c->dead = true;
            return conn_fail(c, EPROTO, "the switch sent a message shorter than its header");
        }

        int wait_ms = 0;
        if (xid) {
            uint64_t now = time_mono_ns();
            if (now >= deadline) {
                return conn_fail(c, ETIMEDOUT, "no %s from the switch within %d ms",
                                 of_msg_type_name(type), c->timeout_ms);
            }
            wait_ms = (deadline - now + 999999) / 1000000;
        }
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int n = poll(&pfd, 1, wait_ms);
        if (n < 0 && errno != EINTR) {
            return conn_fail(c, errno, "poll: %s", strerror(errno));
        }
        if (n <= 0) {
            if (!xid) {
                return 0;
            }
            continue;
        }
        if (c->rx_cap - c->rx_len < 4096) {
            c->rx_cap = MAX(2 * c->rx_cap, 65536 + 4096);
            c->rx = xrealloc(c->rx, c->rx_cap);
        }
        ssize_t got = recv(c->fd, c->rx + c->rx_len, c->rx_cap - c->rx_len, MSG_DONTWAIT);
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (got <= 0) {
            c->dead = true;
            return conn_fail(c, ECONNRESET, "the switch closed the connection%s%s",
                             got < 0 ? ": " : "", got < 0 ? strerror(errno) : "");
        }
        c->rx_len += got;
    }
}

static int
handshake(struct of_conn *c)
{
    uint8_t bitmap[8] = { 0, OFPHET_VERSIONBITMAP, 0, 8, 0, 0, 0, 1u << OF_VERSION };
    struct of_msg msg;
    uint8_t *bytes = NULL;
    uint64_t deadline;
    uint32_t xid;
    int error;

    of_encode_simple(&c->tx, new_xid(c), OF_HELLO, bitmap, sizeof bitmap);
    error = flush_tx(c);
    /* The switch's HELLO carries an xid of its choosing: take the first HELLO whatever it is. */
    deadline = time_mono_ns() + (uint64_t) c->timeout_ms * 1000000;
    while (!error) {
        size_t len;

        if (!of_msg_frame(c->rx, c->rx_len, &len)) {
            if (c->rx[1] == OF_HELLO) {
                error = of_msg_parse(c->rx, len, &msg);
                if (!error && !(msg.u.hello_versions & (1u << OF_VERSION))) {
                    error = conn_fail(c, EPROTONOSUPPORT, "the switch does not speak OpenFlow "
                                      "1.3 (versions offered: 0x%x; see the bridge's "
                                      "'protocols')", msg.u.hello_versions);
                } else if (error) {
                    error = conn_fail(c, EPROTO, "malformed HELLO from the switch");
                }
                memmove(c->rx, c->rx + len, c->rx_len - len);
                c->rx_len -= len;
                break;
            }
            error = conn_fail(c, EPROTO, "the switch sent %s before HELLO",
                              of_msg_type_name(c->rx[1]) ? of_msg_type_name(c->rx[1]) : "junk");
            break;
        }
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        uint64_t now = time_mono_ns();
        if (now >= deadline || poll(&pfd, 1, (deadline - now) / 1000000 + 1) == 0) {
            error = conn_fail(c, ETIMEDOUT, "no HELLO from the switch within %d ms",
                              c->timeout_ms);
            break;
        }
        if (c->rx_cap - c->rx_len < 4096) {
            c->rx_cap = MAX(2 * c->rx_cap, 65536 + 4096);
            c->rx = xrealloc(c->rx, c->rx_cap);
        }
        ssize_t got = recv(c->fd, c->rx + c->rx_len, c->rx_cap - c->rx_len, MSG_DONTWAIT);
        if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
            error = conn_fail(c, ECONNRESET, "the switch closed the connection during HELLO");
        } else if (got > 0) {
            c->rx_len += got;
        }
    }
    if (error) {
        return error;
    }

    xid = new_xid(c);
    of_encode_simple(&c->tx, xid, OF_FEATURES_REQUEST, NULL, 0);
    error = flush_tx(c);
    if (!error) {
        error = conn_read(c, OF_FEATURES_REPLY, xid, &msg, &bytes);
    }
    if (!error) {
        c->datapath_id = msg.u.features.datapath_id;
    }
    free(bytes);
    c->pending_error = 0;
    return error;
}

static struct of_conn *
conn_new(int fd, int timeout_ms)
{
    struct of_conn *c = xzalloc(sizeof *c);

    c->fd = fd;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    c->next_xid = 0;           /* Deterministic: the fuzzer can answer our xids. */
    buf_init(&c->tx);
    return c;
}

static int
connect_unix(const char *path, int *fdp, char *error_text, size_t size)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof sun.sun_path) {
        snprintf(error_text, size, "%s: socket path too long", path);
        return ENAMETOOLONG;
    }
    strcpy(sun.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(error_text, size, "socket: %s", strerror(errno));
        return errno;
    }
    if (connect(fd, (struct sockaddr *) &sun, sizeof sun)) {
        int error = errno;
        snprintf(error_text, size, "%s: %s", path, strerror(error));
        close(fd);
        return error;
    }
    *fdp = fd;
    return 0;
}

int
of_conn_open_fd(int fd, int timeout_ms, struct of_conn **connp)
{
    struct of_conn *c = conn_new(fd, timeout_ms);
    int error = handshake(c);

    if (error) {
        log_err("openflow: %s", c->error);
        of_conn_close(c);
        return error;
    }
    *connp = c;
    return 0;
}

int
of_conn_open(const char *path, int timeout_ms, struct of_conn **connp)
{
    struct of_conn *c;
    char text[256];
    int fd, error;

    error = connect_unix(path, &fd, text, sizeof text);
    if (error) {
        log_err("openflow: cannot connect to %s", text);
        return error;
    }
    error = of_conn_open_fd(fd, timeout_ms, &c);
    if (!error) {
        c->path = xstrdup(path);
        *connp = c;
    }
    return error;
}

void
of_conn_close(struct of_conn *c)
{
    if (c) {
        if (c->fd >= 0 && !c->dead) {
            flush_tx(c);        /* Best effort: requests nobody waited for still go. */
        }
        if (c->fd >= 0) {
            close(c->fd);
        }
        buf_uninit(&c->tx);
        free(c->rx);
        free(c->path);
        free(c);
    }
}

const char *
of_conn_error(const struct of_conn *c)
{
    return c->error;
}

uint64_t
of_conn_datapath_id(const struct of_conn *c)
{
    return c->datapath_id;
}

int
of_conn_fd(const struct of_conn *c)
{
    return c->fd;
}

int
of_conn_run(struct of_conn *c)
{
    int error = c->dead ? ECONNRESET : flush_tx(c);

    return error ? error : conn_read(c, OF_BARRIER_REPLY, 0, NULL, NULL);
}

/* Before the first request of a batch: answer what came while we were idle, and reopen a
 * connection the switch dropped (it probes after 60 s of silence and gives up after 120 s). */
static int
conn_prepare(struct of_conn *c)
{
    int error;

    if (c->n_unconfirmed) {
        return c->dead ? ECONNRESET : 0;
    }
    if (!c->dead) {
        conn_read(c, OF_BARRIER_REPLY, 0, NULL, NULL);
    }
    if (!c->dead) {
        return 0;
    }
    if (!c->path) {
        return ECONNRESET;
    }
    close(c->fd);
    c->fd = -1;
    c->rx_len = 0;
    buf_clear(&c->tx);
    c->pending_error = 0;
    error = connect_unix(c->path, &c->fd, c->error, sizeof c->error);
    if (!error) {
        c->dead = false;
        error = handshake(c);
        c->dead = error != 0;
    }
    if (error) {
        log_err("openflow: reconnecting to %s: %s", c->path, c->error);
    }
    return error;
}

static int
send_request(struct of_conn *c, int (*encode)(struct buf *, uint32_t, const void *, int),
             const void *obj, int command)
{
    int error = conn_prepare(c);

    if (!error) {
        /* A refused encoding leaves the queue as it was. */
        error = encode(&c->tx, new_xid(c), obj, command);
        if (error) {
            conn_fail(c, error, "request refused before sending (see the debug log)");
        }
    }
    if (!error && c->tx.len >= OF_TX_QUEUE_MAX) {
        error = flush_tx(c);
    }
    if (!error) {
        c->n_unconfirmed++;
    }
    return error;
}

static int
encode_flow(struct buf *b, uint32_t xid, const void *f, int command)
{
    return of_encode_flow_mod(b, xid, f, command);
}

static int
encode_group(struct buf *b, uint32_t xid, const void *g, int command)
{
    return of_encode_group_mod(b, xid, g, command);
}

int
of_flow_add(struct of_conn *c, const struct of_flow *f)
{
    return send_request(c, encode_flow, f, OF_FC_ADD);
}

int
of_flow_modify(struct of_conn *c, const struct of_flow *f, bool strict)
{
    return send_request(c, encode_flow, f, strict ? OF_FC_MODIFY_STRICT : OF_FC_MODIFY);
}

int
of_flow_delete(struct of_conn *c, const struct of_flow *f, bool strict)
{
    return send_request(c, encode_flow, f, strict ? OF_FC_DELETE_STRICT : OF_FC_DELETE);
}

int
of_group_add(struct of_conn *c, const struct of_group *g)
{
    return send_request(c, encode_group, g, OF_GC_ADD);
}

int
of_group_modify(struct of_conn *c, const struct of_group *g)
{
    return send_request(c, encode_group, g, OF_GC_MODIFY);
}

int
of_group_delete(struct of_conn *c, uint32_t group_id)
{
    struct of_group g = { .group_id = group_id };

    return send_request(c, encode_group, &g, OF_GC_DELETE);
}

int
of_barrier(struct of_conn *c)
{
    struct of_msg msg;
    uint8_t *bytes = NULL;
    uint32_t xid;
    int error = c->dead ? ECONNRESET : 0;

    if (!error && !c->n_unconfirmed) {
        error = conn_prepare(c);
    }
    if (!error) {
        xid = new_xid(c);
        of_encode_simple(&c->tx, xid, OF_BARRIER_REQUEST, NULL, 0);
        error = flush_tx(c);
    }
    if (!error) {
        error = conn_read(c, OF_BARRIER_REPLY, xid, &msg, &bytes);
    }
    free(bytes);
    if (!error && c->pending_error) {
        error = c->pending_error;
        log_err("openflow: the switch refused %s", c->error);
    } else if (error) {
        log_err("openflow: barrier: %s", c->error);
    }
    c->pending_error = 0;
    c->n_unconfirmed = 0;
    return error;
}
