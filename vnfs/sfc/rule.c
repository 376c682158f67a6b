#include "vnfs/sfc/rule.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/nsh.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/util.h"

static bool
parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    char *end;
    unsigned long v;

    if (!*s || *s == '-' || *s == '+') {
        return false;
    }
    errno = 0;
    v = strtoul(s, &end, 10);
    if (*end || errno || v > max) {
        return false;
    }
    *out = v;
    return true;
}

static bool
parse_prefix(const char *s, uint32_t *addr, uint32_t *mask)
{
    const char *slash = strchr(s, '/');
    char ip[INET_ADDRSTRLEN];
    struct in_addr in;
    uint32_t len = 32;

    if ((slash ? (size_t) (slash - s) : strlen(s)) >= sizeof ip) {
        return false;
    }
    memcpy(ip, s, slash ? (size_t) (slash - s) : strlen(s) + 1);
    ip[slash ? slash - s : (long) strlen(s)] = '\0';
    if (inet_pton(AF_INET, ip, &in) != 1 || (slash && !parse_u32(slash + 1, 32, &len))) {
        return false;
    }
    *mask = len ? ~(uint32_t) 0 << (32 - len) : 0;
    *addr = ntohl(in.s_addr) & *mask;
    return true;
}

static bool
parse_range(const char *s, uint16_t *lo, uint16_t *hi)
{
    const char *dash = strchr(s, '-');
    uint32_t a, b;
    char first[8];

    if (!dash) {
        if (!parse_u32(s, 65535, &a)) {
            return false;
        }
        *lo = *hi = a;
        return true;
    }
    if ((size_t) (dash - s) >= sizeof first) {
        return false;
    }
    memcpy(first, s, dash - s);
    first[dash - s] = '\0';
    if (!parse_u32(first, 65535, &a) || !parse_u32(dash + 1, 65535, &b) || a > b) {
        return false;
    }
    *lo = a;
    *hi = b;
    return true;
}

int
rule_parse(const char *text, struct rule *out, char **errp)
{
    struct rule r = { .sport_hi = 65535, .dport_hi = 65535 };
    char *copy = xstrdup(text), *save = NULL;
    int error = 0;

    for (char *term = strtok_r(copy, ",", &save); term; term = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(term, '=');
        const char *value = eq ? eq + 1 : NULL;
        uint32_t v;
        bool ok;

        if (eq) {
            *eq = '\0';
        }
        if (!eq && (!strcmp(term, "udp") || !strcmp(term, "tcp") || !strcmp(term, "icmp"))) {
            r.proto = !strcmp(term, "udp") ? IPPROTO_UDP
                      : !strcmp(term, "tcp") ? IPPROTO_TCP : IPPROTO_ICMP;
            ok = true;
        } else if (!eq) {
            ok = false;
        } else if (!strcmp(term, "proto")) {
            ok = parse_u32(value, 255, &v) && v;
            r.proto = v;
        } else if (!strcmp(term, "src")) {
            ok = parse_prefix(value, &r.src, &r.src_mask);
        } else if (!strcmp(term, "dst")) {
            ok = parse_prefix(value, &r.dst, &r.dst_mask);
        } else if (!strcmp(term, "sport")) {
            ok = parse_range(value, &r.sport_lo, &r.sport_hi);
            r.has_ports = true;
        } else if (!strcmp(term, "dport")) {
            ok = parse_range(value, &r.dport_lo, &r.dport_hi);
            r.has_ports = true;
        } else if (!strcmp(term, "spi")) {
            ok = parse_u32(value, NSH_SPI_MAX & ~NSH_SPI_REVERSE, &v) && v;
            r.spi = v;
        } else {
            ok = false;
        }
        if (!ok) {
            *errp = value
                ? xasprintf("rule '%s': bad value '%s' for '%s'", text, value, term)
                : xasprintf("rule '%s': unknown term '%s' (expected udp, tcp, icmp, proto=, "
                            "src=, dst=, sport=, dport=, spi=)", text, term);
            error = EINVAL;
            goto out;
        }
    }
    if (r.has_ports && r.proto && r.proto != IPPROTO_UDP && r.proto != IPPROTO_TCP) {
        *errp = xasprintf("rule '%s': ports need udp or tcp", text);
        error = EINVAL;
        goto out;
    }
    *out = r;
out:
    free(copy);
    return error;
}

bool
rule_match(const struct rule *r, const struct packet_flow *flow)
{
    uint16_t sport, dport;

    if (r->proto && r->proto != flow->proto) {
        return false;
    }
    if ((ntohl(flow->src_ip) & r->src_mask) != r->src
        || (ntohl(flow->dst_ip) & r->dst_mask) != r->dst) {
        return false;
    }
    if (!r->has_ports) {
        return true;
    }
    if (flow->proto != IPPROTO_UDP && flow->proto != IPPROTO_TCP) {
        return false;
    }
    sport = ntohs(flow->src_port);
    dport = ntohs(flow->dst_port);
    return sport >= r->sport_lo && sport <= r->sport_hi
           && dport >= r->dport_lo && dport <= r->dport_hi;
}
