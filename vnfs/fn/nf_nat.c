/* nat — source NAT with port translation (NAPT, endpoint-independent mapping, RFC 4787).
 *
 * Params: external=IP (required), ports=LOW-HIGH (1024-65535), alloc=sequential|random
 * (sequential), timeout=DURATION (0: mappings never expire). A UDP/TCP packet whose
 * destination is not 'external' is outbound: its (proto, source IP, source port) gets an
 * external port (on first sight: the next of the range, or a random one with alloc=random)
 * and its source is rewritten to external:port. With a timeout, each outbound packet stamps
 * its mapping with the time, and a mapping idle longer than the timeout is expired: its port
 * is freed and the flow gets a new one; an inbound packet to an expired mapping is dropped.
 *
 * Non-determinism goes through the determinant interface (vnfs/fn/det.h), as FTvNF needs:
 * the clock (NAT_VAR_CLOCK), the random draws (NAT_VAR_RANDOM), and the allocator position
 * "nat.next", a variable all flows share (NAT_VAR_NEXT: a getter and a setter per allocation). A packet to 'external' is inbound: its destination port is looked
 * up and the destination rewritten back to the inside endpoint; unknown ports are dropped.
 * Other IPv4 protocols and fragments are dropped (they have no ports to translate), non-IPv4
 * forwarded.
 *
 * State, so a replica that imports it translates identically: "No" + proto + IP + port ->
 * external port (2 bytes), "Ni" + proto + external port -> IP + port (6 bytes), with a timeout
 * "Nt" + proto + external port -> last use (8 bytes, ns), and the allocator's position
 * "nat.next". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "vnfs/lib/packet.h"
#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf-provider.h"

/* An allocation gives up after this many taken ports, so a full table costs bounded work. */
#define NAT_MAX_PROBES 1024

/* Determinant variable ids. */
enum {
    NAT_VAR_NEXT = 1,
    NAT_VAR_RANDOM = 2,
};

struct nat_conf {
    uint32_t external;          /* Network byte order. */
    uint16_t port_min, port_max;
    bool random;                /* alloc=random */
    uint64_t timeout_ns;        /* 0: never expire. */
};

static int
nat_create(const struct nf_param *params, size_t n, struct nf **nfp, char **errp)
{
    static const char *const known[] = { "external", "ports", "alloc", "timeout", NULL };
    struct nat_conf c = { .port_min = 1024, .port_max = 65535 };
    int error = nf_params_check(params, n, known, errp);

    if (error) {
        return error;
    }
    const char *ext = nf_param_find(params, n, "external");
    if (!ext || !packet_parse_ipv4(ext, &c.external)) {
        *errp = xasprintf("external: %s (expected external=IPv4 address)",
                          ext ? "malformed" : "missing");
        return EINVAL;
    }
    const char *ports = nf_param_find(params, n, "ports");
    if (ports) {
        unsigned int lo, hi;
        char end;
        if (sscanf(ports, "%u-%u%c", &lo, &hi, &end) != 2 || !lo || lo > hi || hi > 65535) {
            *errp = xasprintf("ports: '%s' is not LOW-HIGH within 1-65535", ports);
            return EINVAL;
        }
        c.port_min = lo;
        c.port_max = hi;
    }
    const char *alloc = nf_param_find(params, n, "alloc");
    if (alloc && strcmp(alloc, "sequential") && strcmp(alloc, "random")) {
        *errp = xasprintf("alloc: '%s' (expected sequential or random)", alloc);
        return EINVAL;
    }
    c.random = alloc && !strcmp(alloc, "random");
    const char *timeout = nf_param_find(params, n, "timeout");
    if (timeout && !parse_duration(timeout, &c.timeout_ns)) {
        *errp = xasprintf("timeout: '%s' is not a duration (expected e.g. 30s, 500ms, 0)",
                          timeout);
        return EINVAL;
    }
    struct nat_conf *priv = xmalloc(sizeof *priv);
    *priv = c;
    *nfp = nf_alloc(&nf_nat_class, priv);
    return 0;
}

static void
nat_destroy(struct nf *nf)
{
    free(nf->priv);
    nf_free(nf);
}

static void
outbound_key(uint8_t key[9], uint8_t proto, uint32_t ip, uint16_t port)
{
    key[0] = 'N';
    key[1] = 'o';
    key[2] = proto;
    memcpy(key + 3, &ip, 4);
    memcpy(key + 7, &port, 2);
}

static void
inbound_key(uint8_t key[5], uint8_t proto, uint16_t port)
{
    key[0] = 'N';
    key[1] = 'i';
    key[2] = proto;
    memcpy(key + 3, &port, 2);
}

static void
stamp_key(uint8_t key[5], uint8_t proto, uint16_t ext)
{
    key[0] = 'N';
    key[1] = 't';
    key[2] = proto;
    memcpy(key + 3, &ext, 2);
}

/* Whether the mapping of external port 'ext' has been idle longer than the timeout. */
static bool
nat_expired(const struct nat_conf *c, const struct nf *nf, uint8_t proto, uint16_t ext,
            uint64_t now)
{
    uint8_t tkey[5];

    if (!c->timeout_ns) {
        return false;
    }
    stamp_key(tkey, proto, ext);
    uint64_t last = state_counter_get(nf->state, tkey, sizeof tkey);
    return now > last && now - last > c->timeout_ns;
}

static void
nat_stamp(const struct nat_conf *c, struct nf *nf, uint8_t proto, uint16_t ext, uint64_t now)
{
    uint8_t tkey[5], v[8];

    if (!c->timeout_ns) {
        return;
    }
    stamp_key(tkey, proto, ext);
    for (int i = 0; i < 8; i++) {
        v[i] = now >> (56 - 8 * i);
    }
    state_put(nf->state, tkey, sizeof tkey, v, sizeof v);
}

/* Forgets the mapping of 'ext' (both directions and its stamp). */
static void
nat_expire(struct nf *nf, uint8_t proto, uint16_t ext, const uint8_t okey[9])
{
    uint8_t ikey[5], tkey[5];

    inbound_key(ikey, proto, ext);
    stamp_key(tkey, proto, ext);
    state_delete(nf->state, ikey, sizeof ikey);
    state_delete(nf->state, tkey, sizeof tkey);
    state_delete(nf->state, okey, 9);
}

/* The next candidate port: the shared allocator's position (a getter and a setter on
 * NAT_VAR_NEXT), or a random draw. */
static uint16_t
nat_candidate(struct nf *nf, const struct nat_conf *c, size_t range)
{
    uint64_t next;

    if (c->random) {
        next = nf_det_random(nf, NAT_VAR_RANDOM, range);
    } else {
        uint64_t live = state_counter_get(nf->state, "nat.next", 8);
        next = nf_det_get(nf, NAT_VAR_NEXT, live);
        if (nf_det_set(nf, NAT_VAR_NEXT)) {
            state_counter_add(nf->state, "nat.next", 8, next + 1 - live);
        }
    }
    return htons(c->port_min + next % range);
}

/* Finds or makes the external port of an inside endpoint; 0 if none is free. */
static uint16_t
nat_map(struct nf *nf, const struct nat_conf *c, uint8_t proto, uint32_t ip, uint16_t port,
        uint64_t now)
{
    uint8_t okey[9], ikey[5];
    const uint8_t *v;
    size_t len;

    outbound_key(okey, proto, ip, port);
    if (state_get(nf->state, okey, sizeof okey, &v, &len) && len == 2) {
        uint16_t ext;
        memcpy(&ext, v, 2);
        if (!nat_expired(c, nf, proto, ext, now)) {
            nat_stamp(c, nf, proto, ext, now);
            return ext;
        }
        nat_expire(nf, proto, ext, okey);
    }

    size_t range = (size_t) c->port_max - c->port_min + 1;
    for (size_t probe = 0; probe < MIN(range, NAT_MAX_PROBES); probe++) {
        uint16_t ext = nat_candidate(nf, c, range);
        inbound_key(ikey, proto, ext);
        if (state_get(nf->state, ikey, sizeof ikey, &v, &len)) {
            continue;
        }
        uint8_t inside[6];
        memcpy(inside, &ip, 4);
        memcpy(inside + 4, &port, 2);
        if (state_put(nf->state, ikey, sizeof ikey, inside, sizeof inside)) {
            return 0;
        }
        if (state_put(nf->state, okey, sizeof okey, &ext, 2)) {
            state_delete(nf->state, ikey, sizeof ikey);
            return 0;
        }
        nat_stamp(c, nf, proto, ext, now);
        return ext;
    }
    return 0;
}

static enum nf_verdict
nat_process(struct nf *nf, struct nf_packet *pkt)
{
    const struct nat_conf *c = nf->priv;
    struct packet_info info;
    int error = packet_parse(pkt->data, pkt->len, &info);

    if (error == EPROTONOSUPPORT) {
        return NF_FORWARD;
    } else if (error || !info.has_ports) {
        return NF_DROP;
    }

    uint8_t proto = info.flow.proto;
    /* One clock read per packet, and only when the function uses time. */
    uint64_t now = c->timeout_ns ? nf_det_clock(nf, pkt) : 0;
    if (info.flow.dst_ip == c->external) {
        uint8_t ikey[5];
        const uint8_t *v;
        size_t len;
        inbound_key(ikey, proto, info.flow.dst_port);
        if (!state_get(nf->state, ikey, sizeof ikey, &v, &len) || len != 6
            || nat_expired(c, nf, proto, info.flow.dst_port, now)) {
            return NF_DROP;
        }
        uint32_t ip;
        uint16_t port;
        memcpy(&ip, v, 4);
        memcpy(&port, v + 4, 2);
        packet_set_ipv4(pkt->data, &info, true, ip);
        packet_set_port(pkt->data, &info, true, port);
        return NF_FORWARD;
    }

    uint16_t ext = nat_map(nf, c, proto, info.flow.src_ip, info.flow.src_port, now);
    if (!ext) {
        return NF_DROP;
    }
    packet_set_ipv4(pkt->data, &info, false, c->external);
    packet_set_port(pkt->data, &info, false, ext);
    return NF_FORWARD;
}

const struct nf_class nf_nat_class = {
    .name = "nat",
    .consistency = NF_GLOBAL,
    .create = nat_create,
    .destroy = nat_destroy,
    .process = nat_process,
};
