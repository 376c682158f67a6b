/* sff — the service function forwarder: takes NSH frames, decrements TTL, and by (SPI, SI)
 * sends each to the next VNF of its path (rewriting the outer MACs) or, when the path is done,
 * strips NSH and sends the inner frame toward its destination. Reverse-path frames (a VNF's
 * reply, see nsh.h) without a configured path are decapsulated at once, toward the client.
 *
 * A decapsulated frame leaves with our MAC as its source, so the switch never learns an end
 * host's MAC on our port; its destination MAC is --egress-mac when given (the classifier was
 * the client's next hop, so the inner frame is still addressed to the classifier), else kept.
 *
 * Replicated hops (N-modular redundancy, --vote CORE): a hop written "MACa+MACb+MACc" in --path
 * gets a copy of each frame, stamped once so the copies are identical, and what its replicas
 * send back goes through a protocol core (vnfs/ft/core.h, e.g. the demo `voter`) on the stage
 * of vnfs/sfc/ftstage.h, one core per replicated hop. The core sees each copy as a demo message
 * (vnfs/ft/demo/demo.h): the request id of the NSH header, the replica as 'origin', and as body
 * the NSH header (without the replica's own timestamp, which differs) and the inner frame. What
 * it delivers continues on the path as if one VNF had sent it. A frame from a replicated hop's
 * position on the path that comes from no replica of it is dropped (counted): nothing bypasses
 * the vote. Each replica's own timestamp goes to --trace at once, labelled with its id.
 *
 * FIT-SFC (--entry, --egress-nsh): the SFF is one of 3f+1 replicas. What the classifier
 * replicas (--entry MAC+MAC+...) send goes through an entry vote (FIT-SFC's `bft_voter`: 2f+1
 * identical copies from distinct classifiers) before the path starts; a frame at a path's
 * entry from anyone else is dropped. At the end of the path the frame is not decapsulated but
 * sent, NSH and all, to the client's wrapper (--egress-nsh MAC), which votes on the replies of
 * the SFF replicas by their request id. Copies are turned into votes by vnfs/sfc/nshvote.h,
 * shared with the VNF replicas and the wrapper. --timestamps stamps every frame we send on
 * (a vote strips the sender's stamp, so nothing else would carry one on).
 *
 * Admission (--window N): on one shared CPU a flat-out client fills every queue, and a frame
 * lost between two VNFs wasted the work of the hops before it (for FTC, a lost piggyback log
 * is also repair work for the replicas after it). So new frames (a path's entries: SI 255,
 * forward, what the classifier sends) arrive on a socket of their own, and are read only when
 * the frames already on a path are (their socket is drained first) and while fewer than N
 * admitted frames have not yet left the chain (decapsulated at its end, or answered by a VNF
 * on the reverse path). The excess waits, and is dropped, in the entry socket's queue, before
 * any VNF worked on it. A frame that never leaves (a VNF filtered it, it was lost) stops
 * counting after --window-timeout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/loop.h"
#include "vnfs/lib/nsh.h"
#include "vnfs/lib/pktio.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/demo/demo.h"
#include "vnfs/ft/u64map.h"
#include "vnfs/sfc/ftstage.h"
#include "vnfs/sfc/hop.h"
#include "vnfs/sfc/nshvote.h"
#include "vnfs/sfc/path.h"
#include "vnfs/sfc/role.h"
#include "vnfs/sfc/roles.h"

#define SFF_MAX_PARAMS 8
#define SFF_SCRATCH 9216

/* The voting stage of one replicated hop of one path. */
struct sff_vote {
    struct sff *sff;
    const struct path *path;
    size_t hop;
    struct ftstage *stage;
    uint64_t t_in;              /* Of the copy being handed to the stage. */
};

struct sff {
    struct role role;
    struct path_table paths;
    uint8_t egress_mac[6];
    bool have_egress;
    FILE *trace;
    struct hop_sampler trace_sampler;
    const struct ft_core_class *vote_class;
    uint32_t f;
    struct ft_param params[SFF_MAX_PARAMS];
    size_t n_params;
    bool has_key;
    uint8_t key[FTSTAGE_KEY_LEN];
    struct sff_vote *votes;
    size_t n_votes;
    uint8_t entry[PATH_MAX_REPLICAS][6];    /* FIT-SFC: the classifier replicas. */
    size_t n_entry;
    struct sff_vote *entry_vote;
    uint8_t egress_nsh[6];                  /* FIT-SFC: the client's wrapper. */
    bool have_egress_nsh;
    bool timestamps;
    uint8_t scratch[SFF_SCRATCH];
    struct buf copy;
    uint64_t n_forwarded, n_decap, n_replies, n_malformed, n_ttl_expired;
    uint64_t n_unknown_spi, n_bad_si, n_ignored, n_stamp_full, n_untraced;
    uint64_t n_copies_out, n_copies_in, n_unvoted, n_voted, n_vote_errors, n_egress_nsh;
    /* --drop-copies N: the packet ids (NSH_TLV_PACKET_ID) of the last N frames that left
     * the chain, and the ring that forgets the oldest. */
    size_t drop_window;
    struct u64map left_ids;
    uint64_t *left_ring;
    size_t left_pos;
    uint64_t n_copies_dropped;
    /* --window: the entry socket, the admission times of the frames in the chain (a ring,
     * oldest first), and whether the entry socket is read. */
    size_t window;
    uint64_t window_timeout_ns;
    struct pktio *entry_io;
    uint64_t *admitted;
    size_t adm_head, adm_count;
    bool entry_open;
    uint64_t window_timer;
    uint64_t n_admitted, n_window_expired, n_window_closed;
};

/* The window opens again when this many slots are free (not on every frame that leaves). */
#define SFF_WINDOW_HYSTERESIS PKTIO_BATCH

/* The hop number of the entry vote's endpoints (classifier replicas). */
#define SFF_ENTRY_HOP 0xfe

/* Endpoint ids on a voting stage: replica r of hop k, and the stage itself. */
#define SFF_REPLICA_ID(HOP, R) ((uint32_t) ((HOP) + 1) << 8 | (uint32_t) (R))
#define SFF_VOTER_ID(HOP) ((uint32_t) ((HOP) + 1) << 8 | 0xff)

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
    if (!hop_sampler_take(&s->trace_sampler)) {
        s->n_untraced++;
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

/* Sends the frame to every replica of hop 'k': stamped once, so the copies are identical. They
 * leave in one sendmmsg() (3f+1 sendto() calls before); a copy the kernel refuses is counted
 * in the socket's tx_errors, not here. */
static void
fan_out(struct sff *s, struct pktio_pkt *pkt, const struct path *p, size_t k)
{
    for (size_t r = 0; r < p->n_replicas[k]; r++) {
        memcpy(pkt->data, p->replicas[k][r], 6);
        pktio_queue_copy(s->role.io, pkt->data, pkt->len);    /* Refused: tx_errors. */
        s->n_copies_out++;
    }
    pktio_flush(s->role.io);
}

/* FTvNF: a master that takes over re-forwards what its dead predecessor may not have sent;
 * the copies are dropped here, at the chain's end, by their packet id. Whether 'hdr''s id
 * left the chain among the last drop_window frames (and it is remembered if not). */
static bool
seen_before(struct sff *s, const struct nsh_hdr *hdr)
{
    struct nsh_tlv tlv;
    uint64_t id = 0;

    if (!nsh_tlv_find(hdr, NSH_CLASS_SFCLAB, NSH_TLV_PACKET_ID, &tlv) || tlv.len != 8) {
        return false;
    }
    for (size_t i = 0; i < 8; i++) {
        id = id << 8 | tlv.value[i];
    }
    /* A reply and the packet it answers are told apart by direction. */
    id ^= (uint64_t) !!(hdr->spi & NSH_SPI_REVERSE) << 63;
    if (u64map_get(&s->left_ids, id, NULL)) {
        return true;
    }
    if (u64map_count(&s->left_ids) >= s->drop_window) {
        u64map_remove(&s->left_ids, s->left_ring[s->left_pos], NULL);
    }
    s->left_ring[s->left_pos] = id;
    s->left_pos = (s->left_pos + 1) % s->drop_window;
    u64map_put(&s->left_ids, id, 1);
    return false;
}

/* Reads the entry socket again, or stops reading it (its frames wait in its queue). */
static void
window_set_open(struct sff *s, bool open)
{
    if (s->entry_open != open
        && !loop_mod_fd(s->role.loop, pktio_fd(s->entry_io), open ? EPOLLIN : 0)) {
        s->entry_open = open;
        s->n_window_closed += !open;
    }
}

/* Forgets admissions older than the timeout (their frames left the chain unseen). */
static void
window_expire(struct sff *s, uint64_t now)
{
    while (s->adm_count && now - s->admitted[s->adm_head] > s->window_timeout_ns) {
        s->adm_head = (s->adm_head + 1) % s->window;
        s->adm_count--;
        s->n_window_expired++;
    }
}

/* A frame left the chain: the oldest admission is done (which frame it was does not matter
 * to a count). */
static void
window_leave(struct sff *s)
{
    if (!s->window || !s->adm_count) {
        return;
    }
    s->adm_head = (s->adm_head + 1) % s->window;
    s->adm_count--;
    if (!s->entry_open && s->adm_count + SFF_WINDOW_HYSTERESIS <= s->window) {
        window_set_open(s, true);
    }
}

static void
window_tick(struct loop *loop, uint64_t id, void *s_)
{
    struct sff *s = s_;

    window_expire(s, time_mono_ns());
    if (!s->entry_open && s->adm_count + SFF_WINDOW_HYSTERESIS <= s->window) {
        window_set_open(s, true);
    }
}

/* Takes a frame for us whose NSH header decoded as 'hdr' along its path. 'queue': the frame's
 * bytes stay valid until the batch is flushed (a received frame), else it is sent at once. */
static void
route(struct sff *s, struct pktio_pkt *pkt, struct nsh_hdr hdr, uint64_t t_in, bool queue)
{
    const uint8_t *own = pktio_mac(s->role.io);
    uint8_t *nsh = pkt->data + HOP_ETH_LEN;
    const struct path *p = NULL;
    size_t k = 0;
    uint8_t *inner;
    size_t inner_len;

    if (!nsh_dec_ttl(nsh)) {
        s->n_ttl_expired++;
        return;
    }
    switch (path_lookup_hop(&s->paths, hdr.spi, hdr.si, &p, &k)) {
    case PATH_FORWARD:
        hop_set_macs(pkt->data, p->hops[k], own);
        if ((s->timestamps || nsh_tlv_count(&hdr, NSH_CLASS_SFCLAB, NSH_TLV_TIMESTAMP))
            && hop_stamp(pkt, s->role.id, t_in)) {
            s->n_stamp_full++;
        }
        s->n_forwarded++;
        if (p->n_replicas[k] > 1) {
            fan_out(s, pkt, p, k);
        } else if (queue) {
            pktio_queue(s->role.io, pkt->data, pkt->len);
        } else {
            pktio_send(s->role.io, pkt->data, pkt->len);
        }
        return;
    case PATH_END:
        if (s->have_egress_nsh) {
            /* FIT-SFC: the wrapper votes on what the SFF replicas send, by request id. */
            if (s->trace) {
                trace_timestamps(s, &hdr, t_in);
            }
            hop_set_macs(pkt->data, s->egress_nsh, own);
            if (s->timestamps && hop_stamp(pkt, s->role.id, t_in)) {
                s->n_stamp_full++;
            }
            s->n_egress_nsh++;
            if (queue) {
                pktio_queue(s->role.io, pkt->data, pkt->len);
            } else {
                pktio_send(s->role.io, pkt->data, pkt->len);
            }
            return;
        }
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
    if (s->drop_window && seen_before(s, &hdr)) {
        s->n_copies_dropped++;
        return;
    }
    if (s->trace) {
        trace_timestamps(s, &hdr, t_in);
    }
    if (hdr.spi & NSH_SPI_REVERSE) {
        /* A VNF's answer (dns) ends its request's path here as surely as a decapsulation at
         * the path's end: it leaves the window too. Left to the timeout, every answered
         * query held its slot for 20 ms and `none` topped out at the window over the
         * timeout, 256 / 20 ms (dnsperf: 10.9k q/s). */
        hop_set_macs(inner, inner, own);
        s->n_replies++;
        window_leave(s);
    } else {
        hop_set_macs(inner, s->have_egress ? s->egress_mac : inner, own);
        s->n_decap++;
        window_leave(s);
    }
    if (queue) {
        pktio_queue(s->role.io, inner, inner_len);
    } else {
        pktio_send(s->role.io, inner, inner_len);
    }
}

static struct sff_vote *
find_vote(struct sff *s, const struct path *p, size_t k)
{
    for (size_t i = 0; i < s->n_votes; i++) {
        if (s->votes[i].path == p && s->votes[i].hop == k) {
            return &s->votes[i];
        }
    }
    return NULL;
}

/* A copy from replica 'r' of hop 'k' (or of the entry group): its own timestamp goes to the
 * trace and out of the copy (nshvote.h), the rest to the hop's core. */
static void
vote_copy(struct sff *s, struct sff_vote *v, size_t r, struct pktio_pkt *pkt,
          const struct nsh_hdr *hdr, uint64_t t_in)
{
    struct nsh_timestamp ts;
    bool has_ts;
    uint64_t rid = 0;

    s->copy.len = 0;
    if (nshvote_copy(pkt->data + HOP_ETH_LEN, pkt->len - HOP_ETH_LEN, hdr, r, &s->copy, &ts,
                     &has_ts)) {
        s->n_malformed++;
        return;
    }
    nsh_request_id_get(hdr, &rid);
    if (has_ts) {
        nshvote_trace(s->trace, &ts, rid, t_in);
    }
    s->n_copies_in++;
    v->t_in = t_in;
    if (ftstage_packet(v->stage, SFF_REPLICA_ID(v->hop, r), s->copy.data, s->copy.len, t_in)) {
        s->n_vote_errors++;
    }
}

/* What a hop's core decided: one frame, as if one VNF had sent it. */
static void
vote_deliver(void *v_, const uint8_t *data, size_t len)
{
    struct sff_vote *v = v_;
    struct sff *s = v->sff;
    struct pktio_pkt pkt;
    struct nsh_hdr hdr;

    if (nshvote_frame(data, len, s->scratch, sizeof s->scratch, &pkt, &hdr)) {
        s->n_vote_errors++;
        return;
    }
    s->n_voted++;
    route(s, &pkt, hdr, v->t_in, false);
}

static void
vote_note(void *v_, const char *text)
{
    log_info("sff: hop %zu: %s", ((struct sff_vote *) v_)->hop, text);
}

/* A peer message for one of our stages (ethertype FTSTAGE_ETHERTYPE). */
static void
peer_frame(struct sff *s, struct pktio_pkt *pkt, uint64_t t_in)
{
    const uint8_t *msg = pkt->data + HOP_ETH_LEN;
    size_t len = pkt->len - HOP_ETH_LEN;
    uint32_t to;

    if (!ftstage_msg_peek_to(msg, len, &to)) {
        s->n_malformed++;
        return;
    }
    for (size_t i = 0; i < s->n_votes; i++) {
        if (ftstage_self(s->votes[i].stage) == to) {
            ftstage_peer_message(s->votes[i].stage, msg, len, t_in);
            return;
        }
    }
    s->n_ignored++;
}

/* FT_ACT_FORWARD: the core sends data (a demo message, as it was given) to a replica of its
 * hop as an NSH frame from us, e.g. to bring a replica that missed a request up to date. */
static void
vote_forward(void *v_, uint32_t to, const uint8_t *data, size_t len)
{
    struct sff_vote *v = v_;
    struct sff *s = v->sff;
    size_t r = to & 0xff;
    struct demo_msg m;

    if (!v->path || to >> 8 != v->hop + 1 || r >= v->path->n_replicas[v->hop]
        || !demo_msg_parse(data, len, &m) || HOP_ETH_LEN + m.body_len > sizeof s->scratch) {
        s->n_vote_errors++;
        return;
    }
    hop_set_header(s->scratch, v->path->replicas[v->hop][r], pktio_mac(s->role.io),
                   NSH_ETHERTYPE);
    memcpy(s->scratch + HOP_ETH_LEN, m.body, m.body_len);
    if (!pktio_send(s->role.io, s->scratch, HOP_ETH_LEN + m.body_len)) {
        s->n_copies_out++;
    }
}

/* A sealed peer message from a stage to a replica of its hop. */
static bool
vote_send(void *v_, uint32_t to, const uint8_t *msg, size_t len)
{
    struct sff_vote *v = v_;
    struct sff *s = v->sff;
    size_t r = to & 0xff;

    if (!v->path || to >> 8 != v->hop + 1 || r >= v->path->n_replicas[v->hop]
        || HOP_ETH_LEN + len > sizeof s->scratch) {
        return false;
    }
    hop_set_header(s->scratch, v->path->replicas[v->hop][r], pktio_mac(s->role.io),
                   FTSTAGE_ETHERTYPE);
    memcpy(s->scratch + HOP_ETH_LEN, msg, len);
    return !pktio_send(s->role.io, s->scratch, HOP_ETH_LEN + len);
}

static void
forward(void *s_, struct pktio_pkt *pkt, uint64_t t_in)
{
    struct sff *s = s_;
    const uint8_t *own = pktio_mac(s->role.io);
    uint8_t *nsh = pkt->data + HOP_ETH_LEN;
    const struct path *p;
    struct nsh_hdr hdr;
    size_t k, r;

    if (s->n_votes && pkt->len >= HOP_ETH_LEN && !memcmp(pkt->data, own, 6)
        && hop_ethertype(pkt->data) == FTSTAGE_ETHERTYPE) {
        peer_frame(s, pkt, t_in);
        return;
    }
    if (!hop_is_nsh_for(pkt->data, pkt->len, own)) {
        s->n_ignored++;
        return;
    }
    if (nsh_decode(nsh, pkt->len - HOP_ETH_LEN, &hdr, NULL)) {
        s->n_malformed++;
        return;
    }
    if (s->n_votes) {
        /* With replicated hops on our paths, a frame from a VNF of a path must be at its own
         * place on it (SI 255 - k - 1 after hop k, or a reply), and a replica's goes through
         * its hop's vote; anything else must be a path's entry (SI 255, the classifier's).
         * Nothing bypasses a vote by claiming another hop's place. */
        bool known = path_find_replica(&s->paths, pkt->data + 6, &p, &k, &r);
        bool entry = hdr.si == NSH_SI_START && !(hdr.spi & NSH_SPI_REVERSE);
        bool in_place = known && (hdr.spi & NSH_SPI_REVERSE
                                  ? hdr.si == NSH_SI_START
                                    && (hdr.spi & ~NSH_SPI_REVERSE) == p->spi
                                  : hdr.spi == p->spi && hdr.si == NSH_SI_START - k - 1);
        if (known ? !in_place : !entry) {
            s->n_unvoted++;
            return;
        }
        if (!known && s->entry_vote) {
            /* FIT-SFC: a path's entry only through the vote on the classifier replicas. */
            int e = path_group_find((const uint8_t (*)[6]) s->entry, s->n_entry,
                                    pkt->data + 6);
            if (e < 0) {
                s->n_unvoted++;
                return;
            }
            vote_copy(s, s->entry_vote, e, pkt, &hdr, t_in);
            return;
        }
        if (known && p->n_replicas[k] > 1) {
            struct sff_vote *v = find_vote(s, p, k);
            if (!v) {
                s->n_unvoted++;
                return;
            }
            vote_copy(s, v, r, pkt, &hdr, t_in);
            return;
        }
    }
    route(s, pkt, hdr, t_in, true);
}

/* The voting stage 'v' (its path and hop set) over a group of 'n' senders. */
static int
vote_stage_create(struct sff *s, struct sff_vote *v, size_t n)
{
    static const struct ftstage_ops ops = {
        .forward = vote_forward, .deliver = vote_deliver, .send = vote_send, .note = vote_note,
    };
    uint32_t group[PATH_MAX_REPLICAS];
    struct role *role = &s->role;
    size_t k = v->hop;
    char *errmsg = NULL;
    int error;

    for (size_t r = 0; r < n; r++) {
        group[r] = SFF_REPLICA_ID(k, r);
    }
    struct ftstage_config cfg = {
        .class = s->vote_class,
        .core = {
            .self = SFF_VOTER_ID(k), .f = s->f, .group = group, .n_group = n,
            .params = s->params, .n_params = s->n_params,
        },
        .key = s->has_key ? s->key : NULL,
        .loop = s->role.loop,
    };
    ft_rng_init(&cfg.core.rng, (uint64_t) (v->path ? v->path->spi : 0) << 8 | k);
    v->sff = s;
    error = ftstage_create(&cfg, &ops, v, &v->stage, &errmsg);
    if (error) {
        log_err("sff: %s%zu: %s", v->path ? "hop " : "entry ", k, errmsg);
        free(errmsg);
        return error;
    }
    s->n_votes++;
    ftstage_start(v->stage, time_mono_ns());
    if (role->n_counters + 7 <= ROLE_MAX_COUNTERS) {
        /* Names live as long as the process. */
        const struct ftstage_stats *st = ftstage_stats(v->stage);
        char *what = v->path ? xasprintf("hop%zu", k) : xstrdup("entry");

        role_add_counter(role, xasprintf("%s_no_quorum", what), &st->drops[FT_DROP_NO_QUORUM]);
        /* Copies a bounded voter had no room for (bft_voter's per-sender share). */
        role_add_counter(role, xasprintf("%s_overload", what), &st->drops[FT_DROP_OVERLOAD]);
        role_add_counter(role, xasprintf("%s_outvoted", what), &st->drops[FT_DROP_OUTVOTED]);
        role_add_counter(role, xasprintf("%s_late_copies", what),
                         &st->drops[FT_DROP_DUPLICATE]);
        role_add_counter(role, xasprintf("%s_peer_ok", what), &st->peer_rx);
        role_add_counter(role, xasprintf("%s_peer_forged", what), &st->peer_forged);
        role_add_counter(role, xasprintf("%s_peer_replayed", what), &st->peer_replayed);
        free(what);
    }
    return 0;
}

/* One voting stage per replicated hop of every path, and the entry vote of FIT-SFC
 * (role->on_start: the loop exists). */
static int
votes_create(struct role *role)
{
    struct sff *s = role->aux;
    size_t n = s->n_entry ? 1 : 0;
    int error;

    for (size_t i = 0; i < s->paths.n; i++) {
        for (size_t k = 0; k < s->paths.paths[i].n_hops; k++) {
            n += s->paths.paths[i].n_replicas[k] > 1;
        }
    }
    s->votes = xcalloc(n ? n : 1, sizeof *s->votes);
    if (s->n_entry) {
        s->entry_vote = &s->votes[0];
        s->entry_vote->hop = SFF_ENTRY_HOP;
        error = vote_stage_create(s, s->entry_vote, s->n_entry);
        if (error) {
            return error;
        }
    }
    for (size_t i = 0; i < s->paths.n; i++) {
        const struct path *p = &s->paths.paths[i];
        for (size_t k = 0; k < p->n_hops; k++) {
            struct sff_vote *v = &s->votes[s->n_votes];

            if (p->n_replicas[k] < 2) {
                continue;
            }
            v->path = p;
            v->hop = k;
            error = vote_stage_create(s, v, p->n_replicas[k]);
            if (error) {
                return error;
            }
        }
    }
    return 0;
}

/* The entry socket: the frames on a path first (role->io drained), then as many new ones as
 * the window has room for, a batch at most. */
static void
entry_readable(struct loop *loop, int fd, uint32_t events, void *s_)
{
    struct sff *s = s_;
    struct pktio_pkt pkts[PKTIO_BATCH];
    uint64_t now;
    size_t n;

    role_drain_pktio(&s->role, 8);
    now = time_mono_ns();
    window_expire(s, now);
    if (s->adm_count >= s->window) {
        window_set_open(s, false);
        return;
    }
    if (pktio_recv_batch(s->entry_io, pkts, MIN(s->window - s->adm_count, PKTIO_BATCH), &n)
        || !n) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        s->admitted[(s->adm_head + s->adm_count++) % s->window] = now;
        s->n_admitted++;
        forward(s, &pkts[i], now);
    }
    pktio_flush(s->role.io);
    if (s->adm_count >= s->window) {
        window_set_open(s, false);
    }
}

/* --window: the entry socket beside role->io, each keeping only its own frames. */
static int
window_create(struct sff *s)
{
    int error;

    error = pktio_open_entries(s->role.io, &s->entry_io);
    if (!error) {
        error = loop_add_fd(s->role.loop, pktio_fd(s->entry_io), EPOLLIN, entry_readable, s);
    }
    if (error) {
        log_err("sff: entry socket on %s: %s", pktio_name(s->role.io), strerror(error));
        return error;
    }
    s->entry_open = true;
    role_add_drops_counter(&s->role, "entry_rx_dropped", s->entry_io);
    s->admitted = xcalloc(s->window, sizeof *s->admitted);
    s->window_timer = loop_add_timer(s->role.loop, s->window_timeout_ns / 4,
                                     s->window_timeout_ns / 4, window_tick, s);
    return 0;
}

/* role->on_start: the loop exists. */
static int
sff_start(struct role *role)
{
    struct sff *s = role->aux;
    int error = 0;

    if (s->vote_class) {
        error = votes_create(role);
    }
    if (!error && s->window) {
        error = window_create(s);
    }
    return error;
}

static void
print_vote_stats(const struct sff *s)
{
    for (size_t i = 0; i < s->n_votes; i++) {
        const struct ftstage_stats *st = ftstage_stats(s->votes[i].stage);
        fprintf(stderr, "sff: %s %zu (%s): %llu copies, %llu decided, %llu without quorum, "
                "%llu late or duplicate, peer messages %llu ok %llu forged %llu replayed\n",
                s->votes[i].path ? "hop" : "entry", s->votes[i].hop, s->vote_class->name,
                (unsigned long long) st->packets,
                (unsigned long long) st->delivered,
                (unsigned long long) st->drops[FT_DROP_NO_QUORUM],
                (unsigned long long) st->drops[FT_DROP_DUPLICATE],
                (unsigned long long) st->peer_rx, (unsigned long long) st->peer_forged,
                (unsigned long long) st->peer_replayed);
    }
}

static void
votes_destroy(struct sff *s)
{
    for (size_t i = 0; i < s->n_votes; i++) {
        ftstage_destroy(s->votes[i].stage);
    }
    free(s->votes);
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
           "  --trace FILE     per-hop timestamp splits of finished requests (TSV; past the first\n"
           "                   4096, a thinning sample: see hop.h)\n"
           "  --vote CORE      vote on what replicated hops (MAC+MAC+MAC) send back with this\n"
           "                   protocol core (vnfs/ft: e.g. voter)\n"
           "  --f N            the core's fault bound (default 1)\n"
           "  --vote-param K=V a parameter of the core (repeat)\n"
           "  --key FILE       the instance's key for peer messages (mode 0600)\n"
           "  --entry MAC+MAC  FIT-SFC: the classifier replicas; a path starts only on a vote\n"
           "                   of --vote over their copies\n"
           "  --egress-nsh MAC FIT-SFC: at a path's end send the NSH frame to this MAC (the\n"
           "                   client's wrapper) instead of decapsulating\n"
           "  --timestamps     stamp every frame sent on (not only those that carry stamps)\n"
           "  --drop-copies N  at a path's end, drop a frame whose packet id (FTvNF's) was\n"
           "                   among the last N to leave\n"
           "  --window N       admit a new frame (a path's entry) only while fewer than N\n"
           "                   admitted frames are in the chain, and only once the frames on\n"
           "                   a path are handled (64..65536)\n"
           "  --window-timeout DUR  an admitted frame not seen leaving stops counting after\n"
           "                   DUR (default 20ms)\n"
           ROLE_COMMON_USAGE);
}

int
role_sff(int argc, char *argv[])
{
    static const struct option options[] = {
        { "path", required_argument, NULL, 'p' },
        { "egress-mac", required_argument, NULL, 'e' },
        { "trace", required_argument, NULL, 't' },
        { "vote", required_argument, NULL, 'V' },
        { "f", required_argument, NULL, 'F' },
        { "vote-param", required_argument, NULL, 'P' },
        { "key", required_argument, NULL, 'K' },
        { "entry", required_argument, NULL, 'E' },
        { "egress-nsh", required_argument, NULL, 'N' },
        { "timestamps", no_argument, NULL, 'T' },
        { "drop-copies", required_argument, NULL, 'D' },
        { "window", required_argument, NULL, 'W' },
        { "window-timeout", required_argument, NULL, 'w' },
        { "help", no_argument, NULL, 'h' },
        ROLE_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    static struct sff s;        /* Large (paths, scratch): not on the stack. */
    char *errmsg = NULL;
    uint64_t u;
    int opt, rc = 2;

    memset(&s, 0, sizeof s);
    u64map_init(&s.left_ids);
    s.f = 1;
    s.window_timeout_ns = 20000000;
    role_init_common(&s.role, "sff");
    s.role.aux = &s;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        static struct path p;
        char *eq;

        switch (opt) {
        case 'V':
            s.vote_class = ft_core_class_find(optarg);
            if (!s.vote_class) {
                fprintf(stderr, "sfcd sff: --vote: no protocol core '%s'\n", optarg);
                goto out;
            }
            break;
        case 'F':
            u = strtoull(optarg, &eq, 10);
            if (!*optarg || *eq || u > 8) {
                fprintf(stderr, "sfcd sff: --f: '%s' is not 0..8\n", optarg);
                goto out;
            }
            s.f = u;
            break;
        case 'P':
            eq = strchr(optarg, '=');
            if (!eq || eq == optarg || s.n_params >= SFF_MAX_PARAMS) {
                fprintf(stderr, "sfcd sff: --vote-param: '%s' is not KEY=VALUE (at most %d)\n",
                        optarg, SFF_MAX_PARAMS);
                goto out;
            }
            *eq = '\0';    /* argv outlives the role. */
            s.params[s.n_params++] = (struct ft_param) { optarg, eq + 1 };
            break;
        case 'E':
            if (path_parse_group(optarg, s.entry, PATH_MAX_REPLICAS, &s.n_entry, &errmsg)) {
                fprintf(stderr, "sfcd sff: --entry: %s\n", errmsg);
                goto out;
            }
            break;
        case 'N':
            if (!pktio_parse_mac(optarg, s.egress_nsh)) {
                fprintf(stderr, "sfcd sff: --egress-nsh: '%s' is not a MAC address\n", optarg);
                goto out;
            }
            s.have_egress_nsh = true;
            break;
        case 'T':
            s.timestamps = true;
            break;
        case 'K':
            if (ftstage_key_load(optarg, s.key, &errmsg)) {
                fprintf(stderr, "sfcd sff: --key: %s\n", errmsg);
                goto out;
            }
            s.has_key = true;
            break;
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
        case 'D': {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (!*optarg || *end || !n || n > (1u << 24)) {
                fprintf(stderr, "sfcd sff: --drop-copies: '%s' is not 1..16777216\n", optarg);
                goto out;
            }
            s.drop_window = n;
            break;
        }
        case 'W': {
            char *end;
            unsigned long n = strtoul(optarg, &end, 10);
            if (!*optarg || *end || n < 2 * SFF_WINDOW_HYSTERESIS || n > 65536) {
                fprintf(stderr, "sfcd sff: --window: '%s' is not %d..65536\n", optarg,
                        2 * SFF_WINDOW_HYSTERESIS);
                goto out;
            }
            s.window = n;
            break;
        }
        case 'w':
            if (!parse_duration(optarg, &s.window_timeout_ns) || s.window_timeout_ns < 1000000) {
                fprintf(stderr, "sfcd sff: --window-timeout: '%s' is not a duration of 1ms or "
                        "more\n", optarg);
                goto out;
            }
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
    if (s.n_entry && !s.vote_class) {
        fprintf(stderr, "sfcd sff: --entry needs --vote\n");
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
    role_add_counter(&s.role, "untraced", &s.n_untraced);
    s.role.on_start = sff_start;
    if (s.window) {
        role_add_counter(&s.role, "admitted", &s.n_admitted);
        role_add_counter(&s.role, "window_expired", &s.n_window_expired);
        role_add_counter(&s.role, "window_closed", &s.n_window_closed);
    }
    if (s.vote_class) {
        role_add_counter(&s.role, "copies_out", &s.n_copies_out);
        role_add_counter(&s.role, "copies_in", &s.n_copies_in);
        role_add_counter(&s.role, "voted", &s.n_voted);
        role_add_counter(&s.role, "unvoted", &s.n_unvoted);
        role_add_counter(&s.role, "vote_errors", &s.n_vote_errors);
    }
    if (s.have_egress_nsh) {
        role_add_counter(&s.role, "egress_nsh", &s.n_egress_nsh);
    }
    if (s.drop_window) {
        s.left_ring = xcalloc(s.drop_window, sizeof *s.left_ring);
        role_add_counter(&s.role, "copies_dropped", &s.n_copies_dropped);
    }
    rc = role_serve_pktio(&s.role, forward, s.trace ? flush_trace : NULL);
out:
    if (s.vote_class) {
        print_vote_stats(&s);
    }
    votes_destroy(&s);
    if (s.entry_io) {
        if (s.role.loop) {
            loop_del_fd(s.role.loop, pktio_fd(s.entry_io));
        }
        pktio_close(s.entry_io);
    }
    free(s.admitted);
    u64map_destroy(&s.left_ids);
    free(s.left_ring);
    buf_uninit(&s.copy);
    role_finish(&s.role);
    path_table_destroy(&s.paths);
    if (s.trace) {
        fclose(s.trace);
    }
    free(errmsg);
    return rc;
}
