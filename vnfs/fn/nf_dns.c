/* dns — an authoritative server for A records, answering in place.
 *
 * Params: zone=NAME=IP[,NAME=IP...] (repeat a name for several addresses; several zone=
 * params add up), ttl=SECONDS (300), port=N (53). Queries for names in the zone get their A
 * records (or an empty NOERROR for other types), others NXDOMAIN; opcodes other than QUERY get
 * NOTIMP and classes other than IN REFUSED. An answer bigger than the client takes over UDP
 * (512 bytes, or its EDNS0 size up to 1232) keeps the records that fit and sets TC. The reply
 * replaces the query in the same frame: MACs, IPs and ports swapped, lengths and checksums
 * fixed. Other traffic is forwarded; a malformed DNS query is dropped. State: counters
 * dns.queries, dns.nxdomain, dns.malformed. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "vnfs/lib/dns.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf-provider.h"

struct zone_record {
    uint8_t name[DNS_MAX_NAME];
    size_t name_len;
    uint32_t addr;              /* Network byte order. */
};

struct dns_conf {
    struct zone_record *records;
    size_t n_records, allocated;
    uint32_t ttl;
    uint16_t port;
};

static int
parse_zone(struct dns_conf *c, const char *value, char **errp)
{
    char *copy = xstrdup(value), *save = NULL;
    int error = 0;

    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strrchr(item, '=');
        struct zone_record r;
        if (!eq) {
            *errp = xasprintf("zone: '%s' is not NAME=IP", item);
            error = EINVAL;
            goto out;
        }
        *eq = '\0';
        if (dns_name_from_str(item, r.name, &r.name_len)) {
            *errp = xasprintf("zone: '%s' is not a domain name", item);
            error = EINVAL;
            goto out;
        }
        if (!packet_parse_ipv4(eq + 1, &r.addr)) {
            *errp = xasprintf("zone: '%s' is not an IPv4 address", eq + 1);
            error = EINVAL;
            goto out;
        }
        if (c->n_records >= c->allocated) {
            c->records = x2nrealloc(c->records, &c->allocated, sizeof *c->records);
        }
        c->records[c->n_records++] = r;
    }
out:
    free(copy);
    return error;
}

static int
dns_create(const struct nf_param *params, size_t n, struct nf **nfp, char **errp)
{
    static const char *const known[] = { "zone", "ttl", "port", NULL };
    struct dns_conf *c = xzalloc(sizeof *c);
    uint64_t ttl = 300, port = DNS_PORT;
    int error = nf_params_check(params, n, known, errp);

    if (!error) {
        error = nf_param_uint(params, n, "ttl", 0, INT32_MAX, &ttl, errp);
    }
    if (!error) {
        error = nf_param_uint(params, n, "port", 1, 65535, &port, errp);
    }
    for (size_t i = 0; !error && i < n; i++) {
        if (!strcmp(params[i].key, "zone")) {
            error = parse_zone(c, params[i].value, errp);
        }
    }
    if (error) {
        free(c->records);
        free(c);
        return error;
    }
    c->ttl = ttl;
    c->port = port;
    *nfp = nf_alloc(&nf_dns_class, c);
    return 0;
}

static void
dns_destroy(struct nf *nf)
{
    struct dns_conf *c = nf->priv;

    free(c->records);
    free(c);
    nf_free(nf);
}

static enum nf_verdict
dns_process(struct nf *nf, struct nf_packet *pkt)
{
    const struct dns_conf *c = nf->priv;
    struct packet_info info;
    struct dns_query q;

    if (packet_parse(pkt->data, pkt->len, &info) || !info.has_ports
        || info.flow.proto != IPPROTO_UDP || ntohs(info.flow.dst_port) != c->port) {
        return NF_FORWARD;
    }
    if (dns_parse_query(pkt->data + info.l7_ofs, info.l7_len, &q)) {
        state_counter_add(nf->state, "dns.malformed", 13, 1);
        return NF_DROP;
    }
    state_counter_add(nf->state, "dns.queries", 11, 1);

    uint32_t addrs[DNS_MAX_ADDRS];
    size_t n_addrs = 0;
    uint8_t rcode = DNS_RCODE_NXDOMAIN;
    if (q.flags & 0x7800) {
        rcode = DNS_RCODE_NOTIMP;
    } else if (q.qclass != DNS_CLASS_IN) {
        rcode = DNS_RCODE_REFUSED;
    } else {
        for (size_t i = 0; i < c->n_records; i++) {
            const struct zone_record *r = &c->records[i];
            if (dns_name_equal(r->name, r->name_len, q.qname, q.qname_len)) {
                rcode = DNS_RCODE_NOERROR;
                if (q.qtype == DNS_TYPE_A && n_addrs < DNS_MAX_ADDRS) {
                    addrs[n_addrs++] = r->addr;
                }
            }
        }
    }
    if (rcode == DNS_RCODE_NXDOMAIN) {
        state_counter_add(nf->state, "dns.nxdomain", 12, 1);
    }

    /* RFC 1035 4.2.1 / RFC 6891 6.2.5: an answer bigger than the client can take over UDP
     * is cut to the records that fit, with TC set. */
    size_t limit = q.edns ? MAX(512, MIN(q.edns_udp_size, DNS_EDNS_UDP_SIZE)) : 512;
    size_t fixed = DNS_HEADER_LEN + q.qname_len + 4 + (q.edns ? DNS_OPT_LEN : 0);
    bool truncated = fixed + n_addrs * 16 > limit;
    if (truncated) {
        n_addrs = limit > fixed ? (limit - fixed) / 16 : 0;
    }

    /* Built aside first: the answer's question overlaps the query's bytes. */
    uint8_t answer[DNS_HEADER_LEN + DNS_MAX_NAME + 4 + DNS_MAX_ADDRS * 16 + DNS_OPT_LEN];
    size_t answer_len;
    if (dns_build_answer(&q, rcode, addrs, n_addrs, c->ttl, answer, sizeof answer,
                         &answer_len)
        || info.l7_ofs + answer_len > pkt->cap) {
        return NF_DROP;
    }
    if (truncated) {
        answer[2] |= DNS_FLAG_TC >> 8;
    }
    memcpy(pkt->data + info.l7_ofs, answer, answer_len);
    packet_swap_endpoints(pkt->data, &info);
    size_t len;
    if (packet_set_udp_payload_len(pkt->data, pkt->cap, &info, answer_len, &len)) {
        return NF_DROP;
    }
    pkt->len = len;
    return NF_REPLY;
}

const struct nf_class nf_dns_class = {
    .name = "dns",
    .create = dns_create,
    .destroy = dns_destroy,
    .process = dns_process,
};
