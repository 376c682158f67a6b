/* wrapper — FIT-SFC's client wrapper (§III-B), run as a local proxy in the client's guest so
 * that unmodified clients (`dig`, `dnsperf`, `sfcd client`) get their answers through the
 * replicated chain.
 *
 * It owns the service address: --listen IP:PORT is added to --iface as a /32 of its own (so the
 * guest's kernel delivers what a client sends there to us, even from a socket bound to that
 * interface) and bound as a UDP socket. Each datagram a local client sends becomes the frame
 * the client would have sent (Ethernet/IPv4/UDP from the client's address and port, as its
 * socket sees them, so that a per-flow token it computed still matches, to the service), named by this client's id (--client-id) and a counter, and goes to
 * every classifier replica (--classifiers MAC+MAC+...) inside the wrap header of
 * vnfs/sfc/wrap.h. What comes back are NSH frames from the SFF replicas (--sffs MAC+MAC+...,
 * which end the path toward us with --egress-nsh): each is one vote, made by vnfs/sfc/nshvote.h
 * as in the SFF and the VNF replicas, in a `bft_voter` (vnfs/ft/fitsfc/bft_voter.c, the same
 * core tests/sim proves) with quorum f+1 and own_only: a reply is accepted once f+1 SFF
 * replicas sent it identically. Why f+1 and not 2f+1: each correct SFF replica sends a reply
 * only after its own 2f+1 vote, so f+1 identical replies include a correct one; the client is
 * the last decider and no stage after it must agree (tests/sim/scenario_fitsfc.c shows that f
 * accepts forged replies). The accepted reply's UDP payload goes to the local client whose
 * port the reply is addressed to; other copies of it are late (counted) and dropped.
 *
 * Never forwards anything it did not vote on; never blocks. Main type: struct wrapper. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vnfs/lib/loop.h"
#include "vnfs/lib/nsh.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/pktio.h"
#include "vnfs/lib/util.h"
#include "vnfs/sfc/ftstage.h"
#include "vnfs/sfc/hop.h"
#include "vnfs/sfc/nshvote.h"
#include "vnfs/sfc/path.h"
#include "vnfs/sfc/role.h"
#include "vnfs/sfc/roles.h"
#include "vnfs/sfc/wrap.h"

#define WRAPPER_SCRATCH 9216
#define WRAPPER_MAX_PARAMS 8
#define WRAPPER_RCVBUF (4 << 20)

struct wrapper {
    struct role role;
    int fd;                                 /* The UDP socket of the service address. */
    struct sockaddr_in listen;
    uint8_t service_mac[6];
    uint32_t client;
    uint64_t counter;
    uint8_t classifiers[PATH_MAX_REPLICAS][6];
    size_t n_classifiers;
    uint8_t sffs[PATH_MAX_REPLICAS][6];
    size_t n_sffs;
    uint32_t f;
    struct ft_param params[WRAPPER_MAX_PARAMS];
    size_t n_params;
    struct ftstage *stage;
    FILE *trace;
    struct sockaddr_in peers[65536];        /* Local client by its port: where replies go. */
    struct buf copy;
    uint8_t scratch[WRAPPER_SCRATCH];
    uint8_t frame[WRAPPER_SCRATCH];
    uint64_t n_requests, n_sent, n_send_errors, n_too_big, n_copies_in, n_accepted;
    uint64_t n_unvoted, n_malformed, n_ignored, n_no_peer, n_vote_errors;
};

/* A datagram of a local client: the frame it would have sent, to every classifier. */
static void
on_request(struct wrapper *w, const uint8_t *payload, size_t len,
           const struct sockaddr_in *peer)
{
    const uint8_t *own = pktio_mac(w->role.io);
    size_t hdr = HOP_ETH_LEN + WRAP_HDR_LEN, inner_len;
    uint64_t counter = ++w->counter;

    w->n_requests++;
    if (packet_build_udp(w->frame + hdr, sizeof w->frame - hdr, own, w->service_mac,
                         ntohl(peer->sin_addr.s_addr), ntohl(w->listen.sin_addr.s_addr),
                         ntohs(peer->sin_port), ntohs(w->listen.sin_port), payload, len,
                         &inner_len)) {
        w->n_too_big++;
        return;
    }
    w->peers[ntohs(peer->sin_port)] = *peer;
    for (size_t i = 0; i < w->n_classifiers; i++) {
        wrap_put(w->frame, w->classifiers[i], own, w->client, counter);
        if (pktio_send(w->role.io, w->frame, hdr + inner_len)) {
            w->n_send_errors++;
        } else {
            w->n_sent++;
        }
    }
}

static void
on_socket(struct loop *loop, int fd, uint32_t events, void *w_)
{
    struct wrapper *w = w_;

    for (int i = 0; i < 64; i++) {
        struct sockaddr_in peer;
        socklen_t plen = sizeof peer;
        ssize_t n = recvfrom(fd, w->scratch, sizeof w->scratch, MSG_DONTWAIT,
                             (struct sockaddr *) &peer, &plen);
        if (n < 0) {
            break;
        }
        on_request(w, w->scratch, n, &peer);
    }
}

/* A reply the voter accepted: its UDP payload to the local client it is addressed to. */
static void
vote_deliver(void *w_, const uint8_t *data, size_t len)
{
    struct wrapper *w = w_;
    struct packet_info info;
    struct pktio_pkt pkt;
    struct nsh_hdr hdr;
    const uint8_t *inner;
    size_t inner_len;
    struct sockaddr_in *peer;

    if (nshvote_frame(data, len, w->scratch, sizeof w->scratch, &pkt, &hdr)
        || hdr.next_proto != NSH_NP_ETHERNET) {
        w->n_vote_errors++;
        return;
    }
    inner = pkt.data + HOP_ETH_LEN + hdr.len;
    inner_len = pkt.len - HOP_ETH_LEN - hdr.len;
    if (packet_parse(inner, inner_len, &info) || !info.has_ports
        || info.flow.proto != IPPROTO_UDP) {
        w->n_malformed++;
        return;
    }
    peer = &w->peers[ntohs(info.flow.dst_port)];
    if (!peer->sin_port) {
        w->n_no_peer++;
        return;
    }
    w->n_accepted++;
    sendto(w->fd, inner + info.l7_ofs, info.l7_len, MSG_DONTWAIT, (struct sockaddr *) peer,
           sizeof *peer);
}

static void
vote_note(void *w_, const char *text)
{
    log_info("wrapper: %s", text);
}

/* NSH frames from the SFF replicas: votes. */
static void
on_frame(void *w_, struct pktio_pkt *pkt, uint64_t t_in)
{
    struct wrapper *w = w_;
    const uint8_t *own = pktio_mac(w->role.io);
    uint8_t *nsh = pkt->data + HOP_ETH_LEN;
    struct nsh_timestamp ts;
    struct nsh_hdr hdr;
    uint64_t rid = 0;
    bool has_ts;
    int r;

    if (!hop_is_nsh_for(pkt->data, pkt->len, own)) {
        w->n_ignored++;
        return;
    }
    r = path_group_find((const uint8_t (*)[6]) w->sffs, w->n_sffs, pkt->data + 6);
    if (r < 0) {
        w->n_unvoted++;
        return;
    }
    if (nsh_decode(nsh, pkt->len - HOP_ETH_LEN, &hdr, NULL)) {
        w->n_malformed++;
        return;
    }
    w->copy.len = 0;
    if (nshvote_copy(nsh, pkt->len - HOP_ETH_LEN, &hdr, r, &w->copy, &ts, &has_ts)) {
        w->n_malformed++;
        return;
    }
    nsh_request_id_get(&hdr, &rid);
    if (has_ts) {
        nshvote_trace(w->trace, &ts, rid, t_in);
    }
    w->n_copies_in++;
    if (ftstage_packet(w->stage, r + 1, w->copy.data, w->copy.len, t_in)) {
        w->n_vote_errors++;
    }
}

static int
on_start(struct role *role)
{
    static const struct ftstage_ops ops = { .deliver = vote_deliver, .note = vote_note };
    struct wrapper *w = role->aux;
    uint32_t group[PATH_MAX_REPLICAS];
    char quorum[16], *errmsg = NULL;
    int error;

    for (size_t i = 0; i < w->n_sffs; i++) {
        group[i] = i + 1;
    }
    /* The client's rule: f+1 identical replies, only for our own requests. */
    snprintf(quorum, sizeof quorum, "%u", w->f + 1);
    w->params[w->n_params++] = (struct ft_param) { "quorum", quorum };
    w->params[w->n_params++] = (struct ft_param) { "own_only", "1" };
    struct ftstage_config cfg = {
        .class = ft_core_class_find("bft_voter"),
        .core = {
            .self = w->client, .f = w->f, .group = group, .n_group = w->n_sffs,
            .params = w->params, .n_params = w->n_params,
        },
        .loop = role->loop,
    };
    ft_rng_init(&cfg.core.rng, w->client);
    error = ftstage_create(&cfg, &ops, w, &w->stage, &errmsg);
    if (error) {
        log_err("wrapper: %s", errmsg);
        free(errmsg);
        return error;
    }
    ftstage_start(w->stage, time_mono_ns());
    const struct ftstage_stats *st = ftstage_stats(w->stage);
    role_add_counter(role, "vote_no_quorum", &st->drops[FT_DROP_NO_QUORUM]);
    role_add_counter(role, "vote_late_copies", &st->drops[FT_DROP_DUPLICATE]);
    role_add_counter(role, "vote_overload", &st->drops[FT_DROP_OVERLOAD]);
    role_add_counter(role, "vote_outvoted", &st->drops[FT_DROP_OUTVOTED]);
    return loop_add_fd(role->loop, w->fd, EPOLLIN, on_socket, w);
}

/* The service address as a /32 of its own on the interface ("IF:fs"), unless the guest has
 * it already. */
static int
own_addresses(struct wrapper *w)
{
    struct ifreq ifr;
    struct sockaddr_in *sin = (struct sockaddr_in *) &ifr.ifr_addr;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), error = 0;

    if (s < 0) {
        return errno;
    }
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%.10s:fs", w->role.iface);
    sin->sin_family = AF_INET;
    sin->sin_addr = w->listen.sin_addr;
    if (ioctl(s, SIOCSIFADDR, &ifr) && errno != EEXIST) {
        error = errno;
        log_err("cannot add %s to %s (%s)", inet_ntoa(w->listen.sin_addr), w->role.iface,
                strerror(error));
        goto out;
    }
    sin->sin_addr.s_addr = htonl(0xffffffffu);
    if (ioctl(s, SIOCSIFNETMASK, &ifr)) {
        error = errno;
        log_err("cannot set the mask of %s (%s)", ifr.ifr_name, strerror(error));
    }
out:
    close(s);
    return error;
}

static void
usage(void)
{
    printf("usage: sfcd wrapper --iface IF --listen IP[:PORT] --classifiers MAC+MAC+...\n"
           "                    --sffs MAC+MAC+... --service-mac MAC [OPTION...]\n"
           "  --listen IP:PORT   the service address local clients ask (default port 53)\n"
           "  --classifiers M+M  the classifier replicas: each gets every request\n"
           "  --sffs M+M         the SFF replicas: their replies are voted on (f+1 identical)\n"
           "  --service-mac MAC  destination MAC of the requests' inner frames\n"
           "  --client-id N      this client's id in request names (1..2^32-1, default 1)\n"
           "  --f N              faults tolerated per component (default 1)\n"
           "  --vote-param K=V   a parameter of the voter (e.g. timeout=1s; repeat)\n"
           "  --trace FILE       the SFF replicas' timestamps of voted replies (TSV)\n"
           ROLE_COMMON_USAGE);
}

static void
flush_trace(void *w_)
{
    struct wrapper *w = w_;

    fflush(w->trace);
}

int
role_wrapper(int argc, char *argv[])
{
    static const struct option options[] = {
        { "listen", required_argument, NULL, 'l' },
        { "classifiers", required_argument, NULL, 'c' },
        { "sffs", required_argument, NULL, 's' },
        { "service-mac", required_argument, NULL, 'm' },
        { "client-id", required_argument, NULL, 'C' },
        { "f", required_argument, NULL, 'F' },
        { "vote-param", required_argument, NULL, 'P' },
        { "trace", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        ROLE_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    static struct wrapper w;    /* Large (peers, scratch): not on the stack. */
    bool have_listen = false, have_mac = false;
    char *errmsg = NULL, *end, *colon;
    unsigned long long u;
    int opt, one = 1, rc = 2;

    memset(&w, 0, sizeof w);
    w.fd = -1;
    w.f = 1;
    w.client = 1;
    role_init_common(&w.role, "wrapper");
    w.role.aux = &w;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'l':
            colon = strchr(optarg, ':');
            w.listen.sin_family = AF_INET;
            w.listen.sin_port = htons(53);
            if (colon) {
                *colon = '\0';
                u = strtoull(colon + 1, &end, 10);
                if (!colon[1] || *end || !u || u > 65535) {
                    fprintf(stderr, "sfcd wrapper: --listen: bad port '%s'\n", colon + 1);
                    goto out;
                }
                w.listen.sin_port = htons(u);
            }
            if (inet_pton(AF_INET, optarg, &w.listen.sin_addr) != 1) {
                fprintf(stderr, "sfcd wrapper: --listen: '%s' is not an IPv4 address\n",
                        optarg);
                goto out;
            }
            have_listen = true;
            break;
        case 'c':
            if (path_parse_group(optarg, w.classifiers, PATH_MAX_REPLICAS, &w.n_classifiers,
                                 &errmsg)) {
                fprintf(stderr, "sfcd wrapper: --classifiers: %s\n", errmsg);
                goto out;
            }
            break;
        case 's':
            if (path_parse_group(optarg, w.sffs, PATH_MAX_REPLICAS, &w.n_sffs, &errmsg)) {
                fprintf(stderr, "sfcd wrapper: --sffs: %s\n", errmsg);
                goto out;
            }
            break;
        case 'm':
            if (!pktio_parse_mac(optarg, w.service_mac)) {
                fprintf(stderr, "sfcd wrapper: --service-mac: '%s' is not a MAC address\n",
                        optarg);
                goto out;
            }
            have_mac = true;
            break;
        case 'C':
            u = strtoull(optarg, &end, 10);
            if (!*optarg || *end || !u || u > UINT32_MAX) {
                fprintf(stderr, "sfcd wrapper: --client-id: '%s' is not 1..2^32-1\n", optarg);
                goto out;
            }
            w.client = u;
            break;
        case 'F':
            u = strtoull(optarg, &end, 10);
            if (!*optarg || *end || u > 8) {
                fprintf(stderr, "sfcd wrapper: --f: '%s' is not 0..8\n", optarg);
                goto out;
            }
            w.f = u;
            break;
        case 'P':
            end = strchr(optarg, '=');
            if (!end || end == optarg || w.n_params + 2 >= WRAPPER_MAX_PARAMS) {
                fprintf(stderr, "sfcd wrapper: --vote-param: '%s' is not KEY=VALUE (at most "
                        "%d)\n", optarg, WRAPPER_MAX_PARAMS - 2);
                goto out;
            }
            *end = '\0';    /* argv outlives the role. */
            w.params[w.n_params++] = (struct ft_param) { optarg, end + 1 };
            break;
        case 't':
            if (w.trace) {
                fclose(w.trace);
            }
            w.trace = fopen(optarg, "w");
            if (!w.trace) {
                fprintf(stderr, "sfcd wrapper: %s: %s\n", optarg, strerror(errno));
                goto out;
            }
            break;
        default:
            if (role_parse_option(&w.role, opt, optarg, usage, &rc)) {
                goto out;
            }
        }
    }
    if (!w.role.iface || !have_listen || !have_mac || !w.n_classifiers || !w.n_sffs
        || optind != argc) {
        fprintf(stderr, "sfcd wrapper: --iface, --listen, --classifiers, --sffs and "
                "--service-mac are required\n");
        goto out;
    }
    if (w.n_sffs != 3 * w.f + 1) {
        fprintf(stderr, "sfcd wrapper: --sffs: f=%u needs 3f+1 = %u SFF replicas, got %zu\n",
                w.f, 3 * w.f + 1, w.n_sffs);
        goto out;
    }
    rc = 1;
    if (role_open_pktio(&w.role, false) || own_addresses(&w)) {
        goto out;
    }
    w.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (w.fd < 0) {
        log_err("socket: %s", strerror(errno));
        goto out;
    }
    setsockopt(w.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* A local client such as dnsperf sends in bursts, and on a shared CPU this process may wait
     * milliseconds for its turn: the default 208 KiB (about 270 small datagrams) overflowed at
     * 3000 q/s offered (4360 RcvbufErrors in 10 s, most of what dnsperf counted lost). Root
     * may go past rmem_max. */
    if (setsockopt(w.fd, SOL_SOCKET, SO_RCVBUFFORCE, &(int) { WRAPPER_RCVBUF }, sizeof(int))) {
        setsockopt(w.fd, SOL_SOCKET, SO_RCVBUF, &(int) { WRAPPER_RCVBUF }, sizeof(int));
    }
    if (bind(w.fd, (struct sockaddr *) &w.listen, sizeof w.listen)) {
        log_err("bind %s:%u: %s", inet_ntoa(w.listen.sin_addr), ntohs(w.listen.sin_port),
                strerror(errno));
        goto out;
    }
    role_add_counter(&w.role, "requests", &w.n_requests);
    role_add_counter(&w.role, "sent", &w.n_sent);
    role_add_counter(&w.role, "send_errors", &w.n_send_errors);
    role_add_counter(&w.role, "too_big", &w.n_too_big);
    role_add_counter(&w.role, "copies_in", &w.n_copies_in);
    role_add_counter(&w.role, "accepted", &w.n_accepted);
    role_add_counter(&w.role, "unvoted", &w.n_unvoted);
    role_add_counter(&w.role, "malformed", &w.n_malformed);
    role_add_counter(&w.role, "ignored", &w.n_ignored);
    role_add_counter(&w.role, "no_peer", &w.n_no_peer);
    role_add_counter(&w.role, "vote_errors", &w.n_vote_errors);
    w.role.on_start = on_start;
    rc = role_serve_pktio(&w.role, on_frame, w.trace ? flush_trace : NULL);
out:
    ftstage_destroy(w.stage);
    buf_uninit(&w.copy);
    if (w.fd >= 0) {
        close(w.fd);
    }
    if (w.trace) {
        fclose(w.trace);
    }
    role_finish(&w.role);
    free(errmsg);
    return rc;
}
