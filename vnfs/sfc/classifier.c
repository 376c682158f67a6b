/* classifier — the chain's entry: matches client frames against 5-tuple rules and sends each
 * match to the SFF inside NSH (MD type 2: SPI of the rule, SI 255, a request-id TLV and, with
 * --timestamps, this hop's timestamp TLV). Frames that match no rule are dropped and counted.
 *
 * FIT-SFC (--wrapped): the classifier is one of 3f+1 replicas. It takes only requests its
 * client's wrapper sent it (vnfs/sfc/wrap.h), names each by the wrapper's (client, counter)
 * rather than a counter of its own, so that every correct replica names it alike, and sends a
 * copy to every SFF replica (--sff-mac MAC+MAC+...). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/loop.h"
#include "vnfs/lib/nsh.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/pktio.h"
#include "vnfs/lib/util.h"
#include "vnfs/sfc/hop.h"
#include "vnfs/sfc/role.h"
#include "vnfs/sfc/roles.h"
#include "vnfs/sfc/path.h"
#include "vnfs/sfc/rule.h"
#include "vnfs/sfc/wrap.h"

struct classifier {
    struct role role;
    uint8_t sff_macs[PATH_MAX_REPLICAS][6];
    size_t n_sffs;
    bool wrapped;
    uint32_t spi;
    uint8_t ttl;
    bool promisc;
    bool timestamps;
    struct rule *rules;
    size_t n_rules;
    uint64_t next_request;
    uint64_t n_classified, n_unmatched, n_not_ip, n_ignored, n_errors, n_unwrapped;
};

static void
classify(void *c_, struct pktio_pkt *pkt, uint64_t t_in)
{
    struct classifier *c = c_;
    const uint8_t *own = pktio_mac(c->role.io);
    struct packet_info info;
    uint8_t hdr[HOP_ETH_LEN + NSH_BASE_LEN + NSH_TLV_HDR_LEN + 8];
    uint8_t rid[8];
    struct nsh_tlv tlv = { NSH_CLASS_SFCLAB, NSH_TLV_REQUEST_ID, 8, rid };
    struct buf b = { hdr + HOP_ETH_LEN, 0, sizeof hdr - HOP_ETH_LEN };
    uint32_t spi = 0;
    uint64_t request_id;

    if (c->wrapped) {
        struct wrap_hdr w;
        size_t strip = HOP_ETH_LEN + WRAP_HDR_LEN;

        if (pkt->len < HOP_ETH_LEN || memcmp(pkt->data, own, 6)) {
            c->n_ignored++;
            return;
        }
        if (!wrap_parse(pkt->data, pkt->len, &w)) {
            c->n_unwrapped++;
            return;
        }
        /* The inner frame is the request; the outer and wrap headers become headroom. */
        pkt->data += strip;
        pkt->len -= strip;
        pkt->room += strip;
        pkt->cap -= strip;
        request_id = wrap_request_id(&w);
    } else if (pkt->len < HOP_ETH_LEN || hop_ethertype(pkt->data) == NSH_ETHERTYPE
               || (!c->promisc && memcmp(pkt->data, own, 6))
               || !memcmp(pkt->data + 6, c->sff_macs[0], 6)) {
        /* The last test keeps a promiscuous classifier from classifying again what the SFF
         * decapsulated toward the destination. */
        c->n_ignored++;
        return;
    } else {
        request_id = (uint64_t) c->role.id << 40 | ++c->next_request;
    }
    if (packet_parse(pkt->data, pkt->len, &info)) {
        c->n_not_ip++;
        return;
    }
    for (size_t i = 0; i < c->n_rules; i++) {
        if (rule_match(&c->rules[i], &info.flow)) {
            spi = c->rules[i].spi ? c->rules[i].spi : c->spi;
            break;
        }
    }
    if (!spi) {
        c->n_unmatched++;
        return;
    }
    nsh_request_id_put(rid, request_id);
    /* 'b' is a view on the stack array, large enough: nsh_encode never reallocates it. */
    if (nsh_encode(&b, spi, NSH_SI_START, c->ttl, NSH_NP_ETHERNET, &tlv, 1)
        || HOP_ETH_LEN + b.len > pkt->room) {
        c->n_errors++;
        return;
    }
    pkt->data -= HOP_ETH_LEN + b.len;
    pkt->room -= HOP_ETH_LEN + b.len;
    pkt->len += HOP_ETH_LEN + b.len;
    hop_set_header(hdr, c->sff_macs[0], own, NSH_ETHERTYPE);
    memcpy(pkt->data, hdr, HOP_ETH_LEN + b.len);
    if (c->timestamps && hop_stamp(pkt, c->role.id, t_in)) {
        c->n_errors++;
    }
    c->n_classified++;
    if (c->n_sffs == 1) {
        pktio_queue(c->role.io, pkt->data, pkt->len);
        return;
    }
    /* A copy to every SFF replica, identical but for the destination. */
    for (size_t i = 0; i < c->n_sffs; i++) {
        memcpy(pkt->data, c->sff_macs[i], 6);
        pktio_queue_copy(c->role.io, pkt->data, pkt->len);      /* Refused: tx_errors. */
    }
    pktio_flush(c->role.io);
}

static void
usage(void)
{
    printf("usage: sfcd classifier --iface IF --sff-mac MAC --spi N --rule RULE [--rule ...]\n"
           "  --sff-mac MAC   the SFF that receives classified frames (MAC+MAC+...: a copy to\n"
           "                  each SFF replica)\n"
           "  --wrapped       FIT-SFC: take only requests of a client's wrapper, named by it\n"
           "  --spi N         service path of matching flows (1..%u)\n"
           "  --rule RULE     e.g. 'udp,dport=53' (see vnfs/sfc/rule.h); first match wins\n"
           "  --promisc       classify frames sent to any MAC, not only ours\n"
           "  --timestamps    add a per-hop timestamp TLV (every later hop adds its own)\n"
           "  --ttl N         NSH TTL (1..63, default 63)\n"
           ROLE_COMMON_USAGE, NSH_SPI_MAX & ~NSH_SPI_REVERSE);
}

int
role_classifier(int argc, char *argv[])
{
    static const struct option options[] = {
        { "sff-mac", required_argument, NULL, 'm' },
        { "spi", required_argument, NULL, 's' },
        { "rule", required_argument, NULL, 'r' },
        { "promisc", no_argument, NULL, 'p' },
        { "timestamps", no_argument, NULL, 't' },
        { "ttl", required_argument, NULL, 'T' },
        { "wrapped", no_argument, NULL, 'W' },
        { "help", no_argument, NULL, 'h' },
        ROLE_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    struct classifier c;
    bool have_mac = false;
    char *errmsg = NULL;
    int opt, rc = 2;

    memset(&c, 0, sizeof c);
    role_init_common(&c.role, "classifier");
    c.role.aux = &c;
    c.ttl = NSH_TTL_DEFAULT;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        unsigned long v;
        char *end;

        switch (opt) {
        case 'm':
            if (path_parse_group(optarg, c.sff_macs, PATH_MAX_REPLICAS, &c.n_sffs, &errmsg)) {
                fprintf(stderr, "sfcd classifier: --sff-mac: %s\n", errmsg);
                goto out;
            }
            have_mac = true;
            break;
        case 's':
            v = strtoul(optarg, &end, 0);
            if (*end || !v || v > (NSH_SPI_MAX & ~NSH_SPI_REVERSE)) {
                fprintf(stderr, "sfcd classifier: --spi: '%s' is not in 1..%u\n", optarg,
                        NSH_SPI_MAX & ~NSH_SPI_REVERSE);
                goto out;
            }
            c.spi = v;
            break;
        case 'r':
            c.rules = xrealloc(c.rules, (c.n_rules + 1) * sizeof *c.rules);
            if (rule_parse(optarg, &c.rules[c.n_rules], &errmsg)) {
                fprintf(stderr, "sfcd classifier: %s\n", errmsg);
                goto out;
            }
            c.n_rules++;
            break;
        case 'p':
            c.promisc = true;
            break;
        case 'W':
            c.wrapped = true;
            break;
        case 't':
            c.timestamps = true;
            break;
        case 'T':
            v = strtoul(optarg, &end, 10);
            if (*end || !v || v > NSH_TTL_MAX) {
                fprintf(stderr, "sfcd classifier: --ttl: '%s' is not in 1..63\n", optarg);
                goto out;
            }
            c.ttl = v;
            break;
        default:
            if (role_parse_option(&c.role, opt, optarg, usage, &rc)) {
                goto out;
            }
        }
    }
    if (!c.role.iface || !have_mac || !c.n_rules || optind != argc) {
        fprintf(stderr, "sfcd classifier: --iface, --sff-mac and at least one --rule are "
                "required\n");
        goto out;
    }
    for (size_t i = 0; i < c.n_rules; i++) {
        if (!c.rules[i].spi && !c.spi) {
            fprintf(stderr, "sfcd classifier: rule %zu has no spi= and there is no --spi\n",
                    i + 1);
            goto out;
        }
    }
    rc = 1;
    if (role_open_pktio(&c.role, c.promisc)) {
        goto out;
    }
    role_add_counter(&c.role, "classified", &c.n_classified);
    role_add_counter(&c.role, "unmatched", &c.n_unmatched);
    role_add_counter(&c.role, "not_ip", &c.n_not_ip);
    role_add_counter(&c.role, "ignored", &c.n_ignored);
    role_add_counter(&c.role, "errors", &c.n_errors);
    if (c.wrapped) {
        role_add_counter(&c.role, "unwrapped", &c.n_unwrapped);
    }
    rc = role_serve_pktio(&c.role, classify, NULL);
out:
    role_finish(&c.role);
    free(c.rules);
    free(errmsg);
    return rc;
}
