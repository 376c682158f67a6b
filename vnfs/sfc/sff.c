/* sff — the service function forwarder: takes NSH frames, decrements TTL, and by (SPI, SI)
 * sends each to the next VNF of its path (rewriting the outer MACs) or, when the path is done,
 * strips NSH and sends the inner frame toward its destination. Reverse-path frames (a VNF's
 * reply, see nsh.h) without a configured path are decapsulated at once, toward the client.
 *
 * A decapsulated frame leaves with our MAC as its source, so the switch never learns an end
 * host's MAC on our port; its destination MAC is --egress-mac when given (the classifier was
 * the client's next hop, so the inner frame is still addressed to the classifier), else kept. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/core/loop.h"
#include "vnfs/core/nsh.h"
#include "vnfs/core/pktio.h"
#include "vnfs/core/util.h"
#include "vnfs/sfc/hop.h"
#include "vnfs/sfc/path.h"
#include "vnfs/sfc/role.h"
#include "vnfs/sfc/roles.h"

struct sff {
    struct role role;
    struct path_table paths;
    uint8_t egress_mac[6];
    bool have_egress;
    FILE *trace;
    uint64_t n_forwarded, n_decap, n_replies, n_malformed, n_ttl_expired;
    uint64_t n_unknown_spi, n_bad_si, n_ignored, n_stamp_full;
};

/* Writes the per-hop timestamps of a finished request as samples (see client.c's TSV). */
static void
trace_timestamps(struct sff *s, const struct nsh_hdr *nsh, uint64_t t_in)
{
    struct nsh_timestamp ts[16];
    size_t n = MIN(nsh_timestamps_get(nsh, ts, ARRAY_SIZE(ts)), ARRAY_SIZE(ts));
    uint64_t rid = 0;

    if (!n) {
        return;
    }
    nsh_request_id_get(nsh, &rid);
    for (size_t i = 0; i < n; i++) {
        fprintf(s->trace, "%llu\thop_ns\t%llu\treq=%llu,hop=%zu,component=%u\n",
                (unsigned long long) ts[i].t_in,
                (unsigned long long) (ts[i].t_out - ts[i].t_in), (unsigned long long) rid,
                i, ts[i].component);
        uint64_t next_in = i + 1 < n ? ts[i + 1].t_in : t_in;
        fprintf(s->trace, "%llu\tlink_ns\t%llu\treq=%llu,hop=%zu,component=%u\n",
                (unsigned long long) ts[i].t_out,
                (unsigned long long) (next_in - ts[i].t_out), (unsigned long long) rid,
                i, ts[i].component);
    }
}

static void
forward(void *s_, struct pktio_pkt *pkt, uint64_t t_in)
{
    struct sff *s = s_;
    const uint8_t *own = pktio_mac(s->role.io);
    const uint8_t *next_mac = NULL;
    uint8_t *nsh = pkt->data + HOP_ETH_LEN;
    struct nsh_hdr hdr;
    uint8_t *inner;
    size_t inner_len;

    if (!hop_is_nsh_for(pkt->data, pkt->len, own)) {
        s->n_ignored++;
        return;
    }
    if (nsh_decode(nsh, pkt->len - HOP_ETH_LEN, &hdr, NULL)) {
        s->n_malformed++;
        return;
    }
    if (!nsh_dec_ttl(nsh)) {
        s->n_ttl_expired++;
        return;
    }
    switch (path_lookup(&s->paths, hdr.spi, hdr.si, &next_mac)) {
    case PATH_FORWARD:
        hop_set_macs(pkt->data, next_mac, own);
        if (nsh_tlv_count(&hdr, NSH_CLASS_SFCLAB, NSH_TLV_TIMESTAMP)
            && hop_stamp(pkt, s->role.id, t_in)) {
            s->n_stamp_full++;
        }
        s->n_forwarded++;
        pktio_queue(s->role.io, pkt->data, pkt->len);
        return;
    case PATH_END:
        break;
    case PATH_UNKNOWN_SPI:
        s->n_unknown_spi++;
        return;
    case PATH_BAD_SI:
        s->n_bad_si++;
        return;
    }
    inner = nsh + hdr.len;
    inner_len = pkt->len - HOP_ETH_LEN - hdr.len;
    if (hdr.next_proto != NSH_NP_ETHERNET || inner_len < HOP_ETH_LEN) {
        s->n_malformed++;
        return;
    }
    if (s->trace) {
        trace_timestamps(s, &hdr, t_in);
    }
    if (hdr.spi & NSH_SPI_REVERSE) {
        hop_set_macs(inner, inner, own);
        s->n_replies++;
    } else {
        hop_set_macs(inner, s->have_egress ? s->egress_mac : inner, own);
        s->n_decap++;
    }
    pktio_queue(s->role.io, inner, inner_len);
}

/* Once a wake-up, not a frame: the trace is for reading afterwards. */
static void
flush_trace(void *s_)
{
    struct sff *s = s_;

    fflush(s->trace);
}

static void
usage(void)
{
    printf("usage: sfcd sff --iface IF --path SPI:MAC,MAC,... [--path ...] [--egress-mac MAC]\n"
           "  --path SPI:MACS  the VNFs of service path SPI, in order\n"
           "  --egress-mac MAC destination MAC of decapsulated forward-path frames\n"
           "  --trace FILE     per-hop timestamp splits of finished requests (TSV)\n"
           ROLE_COMMON_USAGE);
}

int
role_sff(int argc, char *argv[])
{
    static const struct option options[] = {
        { "path", required_argument, NULL, 'p' },
        { "egress-mac", required_argument, NULL, 'e' },
        { "trace", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        ROLE_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    struct sff s;
    char *errmsg = NULL;
    int opt, rc = 2;

    memset(&s, 0, sizeof s);
    role_init_common(&s.role, "sff");
    s.role.aux = &s;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        struct path p;

        switch (opt) {
        case 'p':
            if (path_parse(optarg, &p, &errmsg)) {
                fprintf(stderr, "sfcd sff: %s\n", errmsg);
                goto out;
            }
            if (path_table_add(&s.paths, &p)) {
                fprintf(stderr, "sfcd sff: SPI %u given twice\n", p.spi);
                goto out;
            }
            break;
        case 'e':
            if (!pktio_parse_mac(optarg, s.egress_mac)) {
                fprintf(stderr, "sfcd sff: --egress-mac: '%s' is not a MAC address\n", optarg);
                goto out;
            }
            s.have_egress = true;
            break;
        case 't':
            if (s.trace) {
                fclose(s.trace);
            }
            s.trace = fopen(optarg, "w");
            if (!s.trace) {
                fprintf(stderr, "sfcd sff: %s: %s\n", optarg, strerror(errno));
                goto out;
            }
            break;
        default:
            if (role_parse_option(&s.role, opt, optarg, usage, &rc)) {
                goto out;
            }
        }
    }
    if (!s.role.iface || !s.paths.n || optind != argc) {
        fprintf(stderr, "sfcd sff: --iface and at least one --path are required\n");
        goto out;
    }
    rc = 1;
    if (role_open_pktio(&s.role, false)) {
        goto out;
    }
    role_add_counter(&s.role, "forwarded", &s.n_forwarded);
    role_add_counter(&s.role, "decapsulated", &s.n_decap);
    role_add_counter(&s.role, "replies", &s.n_replies);
    role_add_counter(&s.role, "malformed", &s.n_malformed);
    role_add_counter(&s.role, "ttl_expired", &s.n_ttl_expired);
    role_add_counter(&s.role, "unknown_spi", &s.n_unknown_spi);
    role_add_counter(&s.role, "bad_si", &s.n_bad_si);
    role_add_counter(&s.role, "ignored", &s.n_ignored);
    role_add_counter(&s.role, "stamp_full", &s.n_stamp_full);
    rc = role_serve_pktio(&s.role, forward, s.trace ? flush_trace : NULL);
out:
    role_finish(&s.role);
    path_table_destroy(&s.paths);
    if (s.trace) {
        fclose(s.trace);
    }
    free(errmsg);
    return rc;
}
