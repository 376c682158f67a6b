/* txnat — SimpleNAT and MazuNAT over a key-value accessor: see txnat.h. */
#include "vnfs/fn/txnat.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf-provider.h"
#include "vnfs/ft/rng.h"

int
txnat_conf_parse(enum txnat_kind kind, const struct nf_param *params, size_t n,
                 struct txnat_conf *c, char **errp)
{
    static const char *const simple_known[] = { "external", "ports", NULL };
    static const char *const mazu_known[] = { "external", "ports", "capacity", "seed", NULL };
    const char *ext, *ports;
    int error;

    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->port_min = kind == TXNAT_MAZU ? 50000 : 1024;
    c->port_max = 65535;
    c->capacity = 65536;
    error = nf_params_check(params, n, kind == TXNAT_MAZU ? mazu_known : simple_known, errp);
    if (error) {
        return error;
    }
    ext = nf_param_find(params, n, "external");
    if (!ext || !packet_parse_ipv4(ext, &c->external)) {
        *errp = xasprintf("external: %s (expected external=IPv4 address)",
                          ext ? "malformed" : "missing");
        return EINVAL;
    }
    ports = nf_param_find(params, n, "ports");
    if (ports) {
        unsigned int lo, hi;
        char end;

        if (sscanf(ports, "%u-%u%c", &lo, &hi, &end) != 2 || !lo || lo > hi || hi > 65535) {
            *errp = xasprintf("ports: '%s' is not LOW-HIGH within 1-65535", ports);
            return EINVAL;
        }
        c->port_min = lo;
        c->port_max = hi;
    }
    if (kind == TXNAT_MAZU) {
        error = nf_param_uint(params, n, "capacity", 1, UINT32_MAX, &c->capacity, errp);
        if (!error) {
            error = nf_param_uint(params, n, "seed", 0, UINT64_MAX, &c->seed, errp);
        }
    }
    return error;
}

/* A u64 counter's value (0 if absent). */
static uint64_t
txnat_get_u64(const struct txnat_store *s, const void *key, size_t key_len, bool for_write)
{
    const uint8_t *v;
    size_t vl;

    return s->get(s->aux, key, key_len, for_write, &v, &vl) && vl == 8 ? get_be64(v) : 0;
}

static int
txnat_put_u64(const struct txnat_store *s, const void *key, size_t key_len, uint64_t value)
{
    uint8_t v[8];

    put_be64(v, value);
    return s->put(s->aux, key, key_len, v, sizeof v);
}

/* Whether 'key' holds 'len' bytes, copied to 'out'. */
static bool
txnat_get_copy(const struct txnat_store *s, const void *key, size_t key_len, bool for_write,
               void *out, size_t len)
{
    const uint8_t *v;
    size_t vl;

    if (!s->get(s->aux, key, key_len, for_write, &v, &vl) || vl != len) {
        return false;
    }
    memcpy(out, v, len);
    return true;
}

/* SimpleNAT. */

static void
simple_out_key(uint8_t key[9], uint8_t proto, uint32_t ip, uint16_t port)
{
    key[0] = 'S';
    key[1] = 'o';
    key[2] = proto;
    memcpy(key + 3, &ip, 4);
    memcpy(key + 7, &port, 2);
}

static void
simple_in_key(uint8_t key[5], uint8_t proto, uint16_t ext)
{
    key[0] = 'S';
    key[1] = 'i';
    key[2] = proto;
    memcpy(key + 3, &ext, 2);
}

/* The external port of an inside endpoint, made from the shared cursor on first sight; 0 if
 * the pool has no free port within TXNAT_MAX_PROBES of the cursor (or a write failed). */
static uint16_t
simple_map(const struct txnat_conf *c, const struct txnat_store *s, uint8_t proto,
           uint32_t ip, uint16_t port)
{
    static const char cursor_key[2] = { 'S', 'n' };
    size_t range = (size_t) c->port_max - c->port_min + 1;
    uint8_t okey[9], ikey[5], inside[6];
    uint64_t cursor;
    uint16_t ext;

    simple_out_key(okey, proto, ip, port);
    if (txnat_get_copy(s, okey, sizeof okey, false, &ext, sizeof ext)) {
        return ext;
    }
    /* A new flow: the shared cursor first, so that allocations take turns on it. */
    cursor = txnat_get_u64(s, cursor_key, sizeof cursor_key, true);
    memcpy(inside, &ip, 4);
    memcpy(inside + 4, &port, 2);
    for (size_t probe = 0; probe < MIN(range, TXNAT_MAX_PROBES); probe++) {
        const uint8_t *v;
        size_t vl;

        ext = htons(c->port_min + (cursor + probe) % range);
        simple_in_key(ikey, proto, ext);
        if (s->get(s->aux, ikey, sizeof ikey, true, &v, &vl)) {
            continue;
        }
        if (s->put(s->aux, ikey, sizeof ikey, inside, sizeof inside)
            || s->put(s->aux, okey, sizeof okey, &ext, sizeof ext)
            || txnat_put_u64(s, cursor_key, sizeof cursor_key, cursor + probe + 1)) {
            /* A wounded transaction is undone by its caller; a full store (ENOSPC) may keep
             * the first write: a port taken by no flow, skipped by the next allocations. */
            return 0;
        }
        return ext;
    }
    return 0;
}

static enum nf_verdict
simple_process(const struct txnat_conf *c, const struct txnat_store *s, uint8_t *frame,
               struct packet_info *info)
{
    uint8_t proto = info->flow.proto;
    uint16_t ext;

    if (info->flow.dst_ip == c->external) {
        uint8_t ikey[5], inside[6];
        uint32_t ip;
        uint16_t port;

        simple_in_key(ikey, proto, info->flow.dst_port);
        if (!txnat_get_copy(s, ikey, sizeof ikey, false, inside, sizeof inside)) {
            return NF_DROP;
        }
        memcpy(&ip, inside, 4);
        memcpy(&port, inside + 4, 2);
        packet_set_ipv4(frame, info, true, ip);
        packet_set_port(frame, info, true, port);
        return NF_FORWARD;
    }
    ext = simple_map(c, s, proto, info->flow.src_ip, info->flow.src_port);
    if (!ext) {
        return NF_DROP;
    }
    packet_set_ipv4(frame, info, false, c->external);
    packet_set_port(frame, info, false, ext);
    return NF_FORWARD;
}

/* MazuNAT. */

#define MAZU_FWD_KEY_LEN 15
#define MAZU_REV_KEY_LEN 11

static void
mazu_fwd_key(uint8_t key[MAZU_FWD_KEY_LEN], const struct packet_flow *f)
{
    key[0] = 'Z';
    key[1] = 'f';
    key[2] = f->proto;
    memcpy(key + 3, &f->src_ip, 4);
    memcpy(key + 7, &f->src_port, 2);
    memcpy(key + 9, &f->dst_ip, 4);
    memcpy(key + 13, &f->dst_port, 2);
}

/* The reverse mapping of external port 'ext' toward the remote endpoint 'ip':'port'. */
static void
mazu_rev_key(uint8_t key[MAZU_REV_KEY_LEN], uint8_t proto, uint16_t ext, uint32_t ip,
             uint16_t port)
{
    key[0] = 'Z';
    key[1] = 'r';
    key[2] = proto;
    memcpy(key + 3, &ext, 2);
    memcpy(key + 5, &ip, 4);
    memcpy(key + 9, &port, 2);
}

/* Where a new connection's search for a port starts: its own source port if the range has it
 * (same-first), else a keyed hash of its 5-tuple. An offset into the range. */
static size_t
mazu_start(const struct txnat_conf *c, const struct packet_flow *f, size_t range)
{
    uint16_t sport = ntohs(f->src_port);

    if (sport >= c->port_min && sport <= c->port_max) {
        return sport - c->port_min;
    }
    return ft_hash_bytes(f, sizeof *f, c->seed) % range;
}

static uint16_t
mazu_map(const struct txnat_conf *c, const struct txnat_store *s, const struct packet_flow *f)
{
    static const char size_key[2] = { 'Z', 's' };
    size_t range = (size_t) c->port_max - c->port_min + 1;
    uint8_t fkey[MAZU_FWD_KEY_LEN], rkey[MAZU_REV_KEY_LEN], inside[6];
    size_t start;
    uint64_t size;
    uint16_t ext;

    mazu_fwd_key(fkey, f);
    if (txnat_get_copy(s, fkey, sizeof fkey, false, &ext, sizeof ext)) {
        return ext;
    }
    /* A new connection: the table's size is the one record all of them write. */
    size = txnat_get_u64(s, size_key, sizeof size_key, true);
    if (size >= c->capacity) {
        return 0;
    }
    start = mazu_start(c, f, range);
    memcpy(inside, &f->src_ip, 4);
    memcpy(inside + 4, &f->src_port, 2);
    for (size_t probe = 0; probe < MIN(range, TXNAT_MAX_PROBES); probe++) {
        const uint8_t *v;
        size_t vl;

        ext = htons(c->port_min + (start + probe) % range);
        mazu_rev_key(rkey, f->proto, ext, f->dst_ip, f->dst_port);
        if (s->get(s->aux, rkey, sizeof rkey, true, &v, &vl)) {
            continue;
        }
        if (s->put(s->aux, rkey, sizeof rkey, inside, sizeof inside)
            || s->put(s->aux, fkey, sizeof fkey, &ext, sizeof ext)
            || txnat_put_u64(s, size_key, sizeof size_key, size + 1)) {
            return 0;
        }
        return ext;
    }
    return 0;
}

static enum nf_verdict
mazu_process(const struct txnat_conf *c, const struct txnat_store *s, uint8_t *frame,
             struct packet_info *info)
{
    uint16_t ext;

    if (info->flow.dst_ip == c->external) {
        uint8_t rkey[MAZU_REV_KEY_LEN], inside[6];
        uint32_t ip;
        uint16_t port;

        mazu_rev_key(rkey, info->flow.proto, info->flow.dst_port, info->flow.src_ip,
                     info->flow.src_port);
        if (!txnat_get_copy(s, rkey, sizeof rkey, false, inside, sizeof inside)) {
            return NF_DROP;
        }
        memcpy(&ip, inside, 4);
        memcpy(&port, inside + 4, 2);
        packet_set_ipv4(frame, info, true, ip);
        packet_set_port(frame, info, true, port);
        return NF_FORWARD;
    }
    ext = mazu_map(c, s, &info->flow);
    if (!ext) {
        return NF_DROP;
    }
    packet_set_ipv4(frame, info, false, c->external);
    packet_set_port(frame, info, false, ext);
    return NF_FORWARD;
}

enum nf_verdict
txnat_process(const struct txnat_conf *c, const struct txnat_store *s, uint8_t *frame,
              size_t len)
{
    struct packet_info info;
    int error = packet_parse(frame, len, &info);

    if (error == EPROTONOSUPPORT) {
        return NF_FORWARD;
    } else if (error || !info.has_ports) {
        return NF_DROP;
    }
    return c->kind == TXNAT_MAZU ? mazu_process(c, s, frame, &info)
                                 : simple_process(c, s, frame, &info);
}
