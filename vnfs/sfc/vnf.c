/* vnf — a service function: takes NSH frames addressed to it, runs the network function
 * (vnfs/fn/nf.h) on the inner frame, decrements SI and returns the frame to the SFF that sent
 * it. A reply (NF_REPLY, e.g. dns) goes back on the reverse path (SPI | NSH_SPI_REVERSE, SI 255,
 * see nsh.h); NF_DROP drops. The control socket adds export_state / import_state (the state
 * store's binary export, base64) for the schemes and NHAM's app-level checkpoints.
 *
 * FIT-SFC (--vote CORE --from MAC+MAC+...): the VNF is one of 3f+1 replicas, and what the SFF
 * replicas send it goes through a voter first (vnfs/ft/fitsfc/bft_voter.c: 2f+1 identical
 * copies from distinct SFF replicas, on the stage of vnfs/sfc/ftstage.h, copies made by
 * vnfs/sfc/nshvote.h, the SFF's code). Only a decided frame reaches the function, once; what
 * it gives goes to every SFF replica. A frame from anyone outside the group is dropped. The
 * sender's timestamp, stripped for the vote, goes to --trace.
 *
 * A globally stateful function (nf_class consistency NF_GLOBAL: lb, nat) needs more: replicas
 * whose voters decided two requests in different orders would answer differently. With
 * --order-group MAC+MAC+... (the replicas of this VNF, in index order) and --order-index, the
 * decided requests go through PBFT among the replicas first (vnfs/ft/fitsfc/pbft.c, on a second
 * stage: peer messages sealed with the instance's --key, ethertype FTSTAGE_ETHERTYPE, a long one
 * such as a VIEW_CHANGE in nhamfrag.h's fragments), and the function sees them in the agreed
 * order. A per-flow stateful function (NF_PER_FLOW: auth) gets each client's requests in the
 * order of the wrapper's counter instead (vnfs/ft/fitsfc/flow_order.c, each replica alone).
 * --order pbft|flow_order|none overrides what the function's consistency asks for. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>

#include "vnfs/lib/loop.h"
#include "vnfs/lib/nsh.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/pktio.h"
#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf.h"
#include "vnfs/sfc/ftmb.h"
#include "vnfs/sfc/ftstage.h"
#include "vnfs/sfc/hop.h"
#include "vnfs/sfc/nhamfrag.h"
#include "vnfs/sfc/nshvote.h"
#include "vnfs/sfc/path.h"
#include "vnfs/sfc/role.h"
#include "vnfs/sfc/roles.h"
#include "vnfs/sfc/vnf_ftc.h"

#define VNF_MAX_PARAMS 8
#define VNF_SCRATCH 9216
#define VNF_VOTER_ID 0xffff
#define VNF_ORDER_ID(I) (0x10000 + (I))     /* PBFT replica I of this VNF. */
#define VNF_ORDER_INPUT 0xfffe              /* What the voter decided, into PBFT. */

/* FTC's long options (no short form). */
enum {
    VNF_OPT_FTC_RING = 1000,
    VNF_OPT_FTC_INDEX,
    VNF_OPT_FTC_F,
    VNF_OPT_FTC_PARTITIONS,
    VNF_OPT_FTC_THREADS,
    VNF_OPT_FTC_TICK,
    VNF_OPT_FTC_INCARNATION,
    VNF_OPT_FTC_LINK,
    VNF_OPT_FTMB_IN_LINE,
    VNF_OPT_ORDER_INCARNATION,
    VNF_OPT_FTMB_LOGGER,
    VNF_OPT_FTMB_SNAPSHOT,
    VNF_OPT_FTMB_STALL,
    VNF_OPT_FTMB_STALL_CPUS,
};

struct vnf {
    struct role role;
    struct nf *nf;
    struct vnf_ftc *ftc;            /* --ftc-*: the function runs behind FTC's head. */
    struct vnf_ftc_config ftc_cfg;
    bool ftc_on;
    struct buf ftc_mbox;
    struct ftmb_vnf *ftmb;          /* --ftmb-logger: FTMB's logging and output commit. */
    struct ftmb_vnf_config ftmb_cfg;
    bool ftmb_on;
    uint8_t ftmb_in[VNF_SCRATCH];   /* The input packet, for its record. */
    /* FIT-SFC: the voter over the SFF replicas ('from'), NULL without --vote. */
    const struct ft_core_class *vote_class;
    uint32_t f;
    struct ft_param params[VNF_MAX_PARAMS];
    size_t n_params;
    bool has_key;
    uint8_t key[FTSTAGE_KEY_LEN];
    uint8_t from[PATH_MAX_REPLICAS][6];
    size_t n_from;
    struct ftstage *stage;
    uint64_t vote_t_in;
    /* Ordering among the replicas (globally stateful functions), NULL if none. */
    const char *order_name;                     /* --order: NULL = by consistency. */
    const struct ft_core_class *order_class;
    uint8_t order_group[PATH_MAX_REPLICAS][6];
    size_t n_order;
    size_t order_index;
    struct ft_param order_params[VNF_MAX_PARAMS];
    size_t n_order_params;
    struct ftstage *order;
    uint32_t order_incarnation;                 /* > 0: restarted, catches up first. */
    bool order_peers;                           /* The core talks to the other replicas. */
    struct nham_frags frags;
    uint8_t tx[NHAM_SINGLE_MAX + HOP_ETH_LEN];
    uint64_t n_ordered, n_order_peer, n_order_unknown;
    bool timestamps;
    FILE *trace;
    struct buf copy;
    uint8_t scratch[VNF_SCRATCH];
    uint64_t n_forwarded, n_replies, n_dropped, n_malformed, n_ignored, n_si_exhausted;
    uint64_t n_stamp_full, n_imports, n_unvoted, n_copies_in, n_voted, n_vote_errors;
};

static void serve(struct vnf *, struct pktio_pkt *, const struct nsh_hdr *, uint64_t t_in,
                  bool queue);

static void
process(void *v_, struct pktio_pkt *pkt, uint64_t t_in)
{
    struct vnf *v = v_;
    const uint8_t *own = pktio_mac(v->role.io);
    uint8_t *nsh = pkt->data + HOP_ETH_LEN;
    struct nsh_hdr hdr;

    if (v->ftc) {
        if (!vnf_ftc_frame(v->ftc, pkt, t_in)) {
            v->n_ignored++;
        }
        return;
    }
    if (v->ftmb && ftmb_vnf_frame(v->ftmb, pkt)) {
        return;
    }
    if (v->order_peers && pkt->len >= HOP_ETH_LEN && !memcmp(pkt->data, own, 6)
        && (hop_ethertype(pkt->data) == FTSTAGE_ETHERTYPE
            || hop_ethertype(pkt->data) == NHAM_FRAG_ETHERTYPE)) {
        const uint8_t *body = pkt->data + HOP_ETH_LEN;
        size_t len = pkt->len - HOP_ETH_LEN;

        long from = path_group_find((const uint8_t (*)[6]) v->order_group, v->n_order,
                                    pkt->data + 6);
        if (from < 0) {
            v->n_order_unknown++;
            return;
        }
        if (hop_ethertype(pkt->data) == NHAM_FRAG_ETHERTYPE) {
            body = nham_frag_add(&v->frags, pkt->data + 6, body, len, &len);
            if (!body) {
                return;
            }
        }
        v->n_order_peer++;
        ftstage_peer_message_from(v->order, body, len, VNF_ORDER_ID(from), t_in);
        return;
    }
    if (!hop_is_nsh_for(pkt->data, pkt->len, own)) {
        v->n_ignored++;
        return;
    }
    if (nsh_decode(nsh, pkt->len - HOP_ETH_LEN, &hdr, NULL)
        || hdr.next_proto != NSH_NP_ETHERNET) {
        v->n_malformed++;
        return;
    }
    if (v->stage) {
        int r = path_group_find((const uint8_t (*)[6]) v->from, v->n_from, pkt->data + 6);
        struct nsh_timestamp ts;
        bool has_ts;
        uint64_t rid = 0;

        v->copy.len = 0;
        if (r < 0) {
            v->n_unvoted++;
            return;
        }
        if (nshvote_copy(nsh, pkt->len - HOP_ETH_LEN, &hdr, r, &v->copy, &ts, &has_ts)) {
            v->n_malformed++;
            return;
        }
        nsh_request_id_get(&hdr, &rid);
        if (has_ts) {
            nshvote_trace(v->trace, &ts, rid, t_in);
        }
        v->n_copies_in++;
        v->vote_t_in = t_in;
        if (ftstage_packet(v->stage, r + 1, v->copy.data, v->copy.len, t_in)) {
            v->n_vote_errors++;
        }
        return;
    }
    serve(v, pkt, &hdr, t_in, true);
}

/* What the voter decided: a frame as if one SFF had sent it. */
static void
vote_deliver(void *v_, const uint8_t *data, size_t len)
{
    struct vnf *v = v_;
    struct pktio_pkt pkt;
    struct nsh_hdr hdr;

    if (v->order) {
        /* Decided here; the function sees it once the replicas agreed on its place. */
        v->n_voted++;
        if (ftstage_packet(v->order, VNF_ORDER_INPUT, data, len, v->vote_t_in)) {
            v->n_vote_errors++;
        }
        return;
    }
    if (nshvote_frame(data, len, v->scratch, sizeof v->scratch, &pkt, &hdr)
        || hdr.next_proto != NSH_NP_ETHERNET) {
        v->n_vote_errors++;
        return;
    }
    v->n_voted++;
    serve(v, &pkt, &hdr, v->vote_t_in, false);
}

/* What PBFT ordered: the decided copy, in the place every correct replica gives it. */
static void
order_deliver(void *v_, const uint8_t *data, size_t len)
{
    struct vnf *v = v_;
    struct pktio_pkt pkt;
    struct nsh_hdr hdr;

    if (nshvote_frame(data, len, v->scratch, sizeof v->scratch, &pkt, &hdr)
        || hdr.next_proto != NSH_NP_ETHERNET) {
        v->n_vote_errors++;
        return;
    }
    v->n_ordered++;
    serve(v, &pkt, &hdr, v->vote_t_in, false);
}

/* A sealed PBFT message to replica 'to': one frame, or nhamfrag's fragments when longer. */
static bool
order_send(void *v_, uint32_t to, const uint8_t *msg, size_t len)
{
    struct vnf *v = v_;
    const uint8_t *own = pktio_mac(v->role.io);
    size_t i = to - VNF_ORDER_ID(0);
    bool ok = true;

    if (to < VNF_ORDER_ID(0) || i >= v->n_order) {
        return false;
    }
    if (len <= NHAM_SINGLE_MAX) {
        hop_set_header(v->tx, v->order_group[i], own, FTSTAGE_ETHERTYPE);
        memcpy(v->tx + HOP_ETH_LEN, msg, len);
        return !pktio_send(v->role.io, v->tx, HOP_ETH_LEN + len);
    }
    uint64_t id = ++v->frags.next_id;
    for (size_t off = 0; off < len; off += NHAM_FRAG_CHUNK) {
        size_t n = MIN((size_t) NHAM_FRAG_CHUNK, len - off);

        hop_set_header(v->tx, v->order_group[i], own, NHAM_FRAG_ETHERTYPE);
        nham_frag_header(v->tx + HOP_ETH_LEN, id, len, off);
        memcpy(v->tx + HOP_ETH_LEN + NHAM_FRAG_HDR, msg + off, n);
        ok &= !pktio_send(v->role.io, v->tx, HOP_ETH_LEN + NHAM_FRAG_HDR + n);
    }
    return ok;
}

static void
vote_note(void *v_, const char *text)
{
    log_info("vnf: %s", text);
}

/* The function on a frame; what it gives goes back to the SFF that sent it, or to every SFF
 * replica of the group. 'queue': the frame's bytes live until the batch is flushed. */
static void
serve(struct vnf *v, struct pktio_pkt *pkt, const struct nsh_hdr *hdrp, uint64_t t_in,
      bool queue)
{
    const uint8_t *own = pktio_mac(v->role.io);
    uint8_t *nsh = pkt->data + HOP_ETH_LEN;
    struct nsh_hdr hdr = *hdrp;
    struct packet_info info;
    struct nf_packet np;
    uint64_t mark = 0;
    size_t in_len = 0;
    bool stamp;

    stamp = v->timestamps || nsh_tlv_count(&hdr, NSH_CLASS_SFCLAB, NSH_TLV_TIMESTAMP) > 0;
    np.data = nsh + hdr.len;
    np.len = pkt->len - HOP_ETH_LEN - hdr.len;
    np.cap = pkt->cap - HOP_ETH_LEN - hdr.len;
    np.now_ns = t_in;
    np.flow_hash = packet_parse(np.data, np.len, &info) ? 0 : packet_flow_hash(&info.flow);
    if (v->ftmb) {
        /* FTMB's input log: the packet as it came, with what the function wrote (its PAL). */
        mark = ftmb_vnf_begin(v->ftmb, v->nf->state);
        in_len = MIN(np.len, sizeof v->ftmb_in);
        memcpy(v->ftmb_in, np.data, in_len);
    }
    switch (nf_process(v->nf, &np)) {
    case NF_FORWARD:
        if (!nsh_dec_si(nsh)) {
            v->n_si_exhausted++;
            return;
        }
        v->n_forwarded++;
        break;
    case NF_REPLY:
        nsh_set_spi_si(nsh, hdr.spi | NSH_SPI_REVERSE, NSH_SI_START);
        v->n_replies++;
        break;
    case NF_DROP:
    default:
        v->n_dropped++;
        return;
    }
    pkt->len = HOP_ETH_LEN + hdr.len + np.len;
    /* Back to the SFF that sent it (a decided frame: to every SFF replica). */
    hop_set_macs(pkt->data, v->stage ? v->from[0] : pkt->data + 6, own);
    if (stamp && hop_stamp(pkt, v->role.id, t_in)) {
        v->n_stamp_full++;
    }
    if (v->ftmb) {
        /* Output commit: held until the logger has the record. */
        ftmb_vnf_output(v->ftmb, v->nf->state, mark, v->ftmb_in, in_len, pkt->data, pkt->len);
        return;
    }
    if (!v->stage && queue) {
        pktio_queue(v->role.io, pkt->data, pkt->len);
        return;
    }
    for (size_t i = 0; i < (v->stage ? v->n_from : 1); i++) {
        if (v->stage) {
            memcpy(pkt->data, v->from[i], 6);
        }
        pktio_queue_copy(v->role.io, pkt->data, pkt->len);
    }
    pktio_flush(v->role.io);       /* The copies to every SFF replica in one sendmmsg(). */
}

/* The voter over the SFF replicas (role->on_start: the loop exists). */
static int
vote_create(struct role *role)
{
    static const struct ftstage_ops ops = { .deliver = vote_deliver, .note = vote_note };
    struct vnf *v = role->aux;
    uint32_t group[PATH_MAX_REPLICAS];
    char *errmsg = NULL;
    int error;

    for (size_t i = 0; i < v->n_from; i++) {
        group[i] = i + 1;
    }
    struct ftstage_config cfg = {
        .class = v->vote_class,
        .core = {
            .self = VNF_VOTER_ID, .f = v->f, .group = group, .n_group = v->n_from,
            .params = v->params, .n_params = v->n_params,
        },
        .key = v->has_key ? v->key : NULL,
        .loop = role->loop,
    };
    ft_rng_init(&cfg.core.rng, role->id);
    error = ftstage_create(&cfg, &ops, v, &v->stage, &errmsg);
    if (error) {
        log_err("vnf: --vote: %s", errmsg);
        free(errmsg);
        return error;
    }
    ftstage_start(v->stage, time_mono_ns());
    if (v->order_class) {
        static const struct ftstage_ops order_ops = {
            .deliver = order_deliver, .send = order_send, .note = vote_note,
        };
        uint32_t ogroup[PATH_MAX_REPLICAS];

        for (size_t i = 0; i < v->n_order; i++) {
            ogroup[i] = VNF_ORDER_ID(i);
        }
        struct ftstage_config ocfg = {
            .class = v->order_class,
            .core = {
                .self = VNF_ORDER_ID(v->order_index), .f = v->f, .group = ogroup,
                .n_group = v->order_peers ? v->n_order : 0, .params = v->order_params,
                .n_params = v->n_order_params,
            },
            .key = v->order_peers ? v->key : NULL,
            .loop = role->loop,
            /* Above what a previous incarnation's peers remember. */
            .seq_base = time_mono_ns(),
            .max_payload = 1u << 20,
            .incarnation = v->order_incarnation,
        };
        ft_rng_init(&ocfg.core.rng, role->id ^ 0x6f72646572ull);
        error = ftstage_create(&ocfg, &order_ops, v, &v->order, &errmsg);
        if (error) {
            log_err("vnf: --order %s: %s", v->order_class->name, errmsg);
            free(errmsg);
            return error;
        }
        ftstage_start(v->order, time_mono_ns());
        const struct ftstage_stats *ost = ftstage_stats(v->order);
        role_add_counter(role, "order_forged", &ost->peer_forged);
        role_add_counter(role, "order_impersonated", &ost->peer_impersonated);
        role_add_counter(role, "order_replayed", &ost->peer_replayed);
        role_add_counter(role, "order_notes", &ost->notes);
        log_info("vnf: %s consistency: requests ordered by %s among %zu replicas (index %zu)",
                 nf_consistency_name(v->nf->class->consistency), v->order_class->name,
                 v->n_order, v->order_index);
    }
    const struct ftstage_stats *st = ftstage_stats(v->stage);
    role_add_counter(role, "vote_no_quorum", &st->drops[FT_DROP_NO_QUORUM]);
    role_add_counter(role, "vote_overload", &st->drops[FT_DROP_OVERLOAD]);
    role_add_counter(role, "vote_outvoted", &st->drops[FT_DROP_OUTVOTED]);
    role_add_counter(role, "vote_late_copies", &st->drops[FT_DROP_DUPLICATE]);
    return 0;
}

static void
flush_trace(void *v_)
{
    struct vnf *v = v_;

    fflush(v->trace);
}

/* order_peer_down {index}: the scheme's controller saw replica 'index' of this VNF die (its
 * process): the ordering core takes it as a failure notice (PBFT: a dead primary is changed at
 * once, not after its timeout). */
static int
ctl_order_peer_down(void *role_, json_t *params, json_t **result, char **errmsg)
{
    struct vnf *v = ((struct role *) role_)->aux;
    json_int_t index;
    int error;

    if (!v->order) {
        *errmsg = xstrdup("this VNF orders nothing among replicas");
        return ENOENT;
    }
    error = role_param_index(params, "index", v->n_order,
                             "expected {\"index\": REPLICA} within --order-group", &index, errmsg);
    if (error) {
        return error;
    }
    error = ftstage_peer_down(v->order, VNF_ORDER_ID(index), time_mono_ns());
    if (!error) {
        *result = json_true();
    }
    return error;
}

static int
ctl_export_state(void *role_, json_t *params, json_t **result, char **errmsg)
{
    struct vnf *v = ((struct role *) role_)->aux;
    struct buf b = BUF_INITIALIZER;
    uint8_t digest[STATE_DIGEST_LEN];
    char *state, *hex;

    state_export(v->nf->state, &b);
    state_digest(v->nf->state, digest);
    state = rpc_base64_encode(b.data, b.len);
    hex = xmalloc(2 * sizeof digest + 1);
    for (size_t i = 0; i < sizeof digest; i++) {
        sprintf(hex + 2 * i, "%02x", digest[i]);
    }
    *result = json_pack("{s:s, s:s, s:I, s:I, s:s}", "fn", v->nf->class->name, "state", state,
                        "bytes", (json_int_t) b.len,
                        "entries", (json_int_t) state_count(v->nf->state), "digest", hex);
    free(state);
    free(hex);
    buf_uninit(&b);
    return 0;
}

static int
ctl_import_state(void *role_, json_t *params, json_t **result, char **errmsg)
{
    struct vnf *v = ((struct role *) role_)->aux;
    const char *state = json_string_value(json_object_get(params, "state"));
    struct buf b = BUF_INITIALIZER;
    int error;

    if (!state) {
        *errmsg = xstrdup("import_state: params need \"state\" (base64)");
        return EINVAL;
    }
    error = rpc_base64_decode(state, &b);
    if (error) {
        *errmsg = xstrdup("import_state: \"state\" is not base64");
        goto out;
    }
    error = state_import(v->nf->state, b.data, b.len);
    if (error) {
        *errmsg = xasprintf("import_state: the state export is malformed (%s)", strerror(error));
        goto out;
    }
    v->n_imports++;
    *result = json_pack("{s:I}", "entries", (json_int_t) state_count(v->nf->state));
out:
    buf_uninit(&b);
    return error;
}

static int
ctl_ftc_state(void *role_, json_t *params, json_t **result, char **errmsg)
{
    struct vnf *v = ((struct role *) role_)->aux;

    if (!v->ftc) {
        *errmsg = xstrdup("ftc_state: this VNF runs without FTC");
        return EINVAL;
    }
    *result = vnf_ftc_state(v->ftc);
    return 0;
}

/* role->on_start for FTMB: its snapshot timer goes on the loop. */
static int
ftmb_start(struct role *role)
{
    struct vnf *v = role->aux;
    int error = ftmb_vnf_create(&v->ftmb_cfg, role, &v->ftmb);

    if (!error) {
        ftmb_vnf_register(v->ftmb, role);
    }
    return error;
}

/* role->on_start: the loop exists, the stages can put their timers on it. */
static int
ftc_start(struct role *role)
{
    struct vnf *v = role->aux;
    char *errmsg = NULL;
    int error = vnf_ftc_create(&v->ftc_cfg, role, &v->ftc, &errmsg);

    if (error) {
        log_err("vnf: %s", errmsg);
        free(errmsg);
        return error;
    }
    vnf_ftc_register(v->ftc, role);
    vnf_ftc_rx_backpressure(v->ftc);
    return 0;
}

static bool
parse_ring(const char *s, struct vnf_ftc_config *c)
{
    char *copy = xstrdup(s), *save = NULL;
    bool ok = true;

    c->n = 0;
    for (char *t = strtok_r(copy, ",", &save); t && ok; t = strtok_r(NULL, ",", &save)) {
        ok = c->n < VNF_FTC_MAX_RING && pktio_parse_mac(t, c->ring[c->n]);
        c->n++;
    }
    free(copy);
    return ok && c->n;
}

static void
usage(void)
{
    printf("usage: sfcd vnf --iface IF --fn NAME [--param KEY=VALUE ...] [FTC options]\n"
           "  --fn NAME          one of: %s\n"
           "  --param KEY=VALUE  the function's parameters (see vnfs/fn/)\n"
           "  --vote CORE        FIT-SFC: vote on the copies of the SFF replicas (--from) with\n"
           "                     this protocol core (vnfs/ft: bft_voter) before the function\n"
           "  --from MAC+MAC     the SFF replicas: senders of the vote, receivers of the output\n"
           "  --f N              the core's fault bound (default 1)\n"
           "  --vote-param K=V   a parameter of the core (repeat)\n"
           "  --key FILE         the instance's key for peer messages (mode 0600)\n"
           "  --order-group MAC+MAC  the replicas of this VNF, in index order (FIT-SFC: a\n"
           "                     globally stateful function orders its requests among them)\n"
           "  --order-index I    this replica's index in --order-group\n"
           "  --order CORE       pbft, flow_order or none; default: pbft if the function is\n"
           "                     globally stateful (lb, nat), flow_order if per-flow (auth)\n"
           "  --order-param K=V  a parameter of the ordering core (repeat)\n"
           "  --order-incarnation N  > 0: a restarted replica; its ordering core catches up\n"
           "                     on what the others ordered meanwhile (PBFT: FETCH)\n"
           "  --timestamps       stamp every frame sent on\n"
           "  --trace FILE       the senders' timestamps of voted copies (TSV)\n"
           "FTC (the function runs behind FTC's head replica, vnfs/sfc/vnf_ftc.h):\n"
           "  --ftc-ring MAC,... data MACs of the chain's VNF guests, in order\n"
           "  --ftc-index N      this VNF's position in the ring\n"
           "  --ftc-f F          failures tolerated (groups of f+1)\n"
           "  --ftc-partitions P state partitions (default 1)\n"
           "  --ftc-threads N    threads running the head's packet transactions (default 1;\n"
           "                     > 1 needs a transactional middlebox: monitor)\n"
           "  --ftc-tick DUR     retransmission / propagation period (default 2ms)\n"
           "  --ftc-incarnation N  > 0: a replacement, fetches its groups' state first\n"
           "  --ftc-link IFACE   the chain's first and last VNF: a link straight to the other\n"
           "                     one, for the buffer's and the commits' peer messages (the\n"
           "                     data interface while it is missing)\n"
           "FTMB (vnfs/sfc/ftmb.h: each packet and its access log to a logger, output held\n"
           "until it is logged, and a simulated snapshot):\n"
           "  --ftmb-logger MAC  the logger guest's data MAC\n"
           "  --ftmb-in-line     the logger is this VNF's own IL and OL, the path's hop for it:\n"
           "                     each PAL goes there in a message of its own, then the output\n"
           "                     (the OL releases it); else a record with the input, and the\n"
           "                     output held until the logger acknowledges it\n"
           "  --ftmb-snapshot DUR  stall every DUR (default 50ms; 0: never)\n"
           "  --ftmb-stall DUR   for this long (default 6ms)\n"
           "  --ftmb-stall-cpus N  this VNF's CPU quota, a server of its own: each stall\n"
           "                     also spends the CPU time the server would have had\n"
           "                     meanwhile (default 0: none, it sleeps)\n"
           ROLE_COMMON_USAGE, nf_class_names());
}

int
role_vnf(int argc, char *argv[])
{
    static const struct option options[] = {
        { "fn", required_argument, NULL, 'f' },
        { "param", required_argument, NULL, 'p' },
        { "vote", required_argument, NULL, 'V' },
        { "from", required_argument, NULL, 'F' },
        { "f", required_argument, NULL, 'N' },
        { "vote-param", required_argument, NULL, 'P' },
        { "key", required_argument, NULL, 'K' },
        { "timestamps", no_argument, NULL, 'T' },
        { "trace", required_argument, NULL, 't' },
        { "order", required_argument, NULL, 'O' },
        { "order-group", required_argument, NULL, 'G' },
        { "order-index", required_argument, NULL, 'I' },
        { "order-param", required_argument, NULL, 'Q' },
        { "ftc-ring", required_argument, NULL, VNF_OPT_FTC_RING },
        { "ftc-index", required_argument, NULL, VNF_OPT_FTC_INDEX },
        { "ftc-f", required_argument, NULL, VNF_OPT_FTC_F },
        { "ftc-partitions", required_argument, NULL, VNF_OPT_FTC_PARTITIONS },
        { "ftc-threads", required_argument, NULL, VNF_OPT_FTC_THREADS },
        { "ftc-tick", required_argument, NULL, VNF_OPT_FTC_TICK },
        { "ftc-incarnation", required_argument, NULL, VNF_OPT_FTC_INCARNATION },
        { "ftc-link", required_argument, NULL, VNF_OPT_FTC_LINK },
        { "order-incarnation", required_argument, NULL, VNF_OPT_ORDER_INCARNATION },
        { "ftmb-logger", required_argument, NULL, VNF_OPT_FTMB_LOGGER },
        { "ftmb-snapshot", required_argument, NULL, VNF_OPT_FTMB_SNAPSHOT },
        { "ftmb-stall", required_argument, NULL, VNF_OPT_FTMB_STALL },
        { "ftmb-stall-cpus", required_argument, NULL, VNF_OPT_FTMB_STALL_CPUS },
        { "ftmb-in-line", no_argument, NULL, VNF_OPT_FTMB_IN_LINE },
        { "help", no_argument, NULL, 'h' },
        ROLE_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    struct nf_param *params = NULL;
    size_t n_params = 0;
    const char *fn = NULL;
    char *errmsg = NULL, *eq;
    static struct vnf v;        /* Large (scratch): not on the stack. */
    uint64_t u;
    int opt, rc = 2;

    memset(&v, 0, sizeof v);
    v.ftc_cfg.tick_ns = 2000000;
    v.ftc_cfg.partitions = 1;
    v.ftmb_cfg.snapshot_ns = 50000000;
    v.ftmb_cfg.stall_ns = 6000000;
    buf_init(&v.ftc_mbox);
    v.f = 1;
    role_init_common(&v.role, "vnf");
    v.role.aux = &v;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'f':
            fn = optarg;
            break;
        case 'p':
            params = xrealloc(params, (n_params + 1) * sizeof *params);
            /* nf_param_parse() points into optarg, which lives as long as argv. */
            if (!nf_param_parse(optarg, &params[n_params])) {
                fprintf(stderr, "sfcd vnf: --param: '%s' is not KEY=VALUE\n", optarg);
                goto out;
            }
            n_params++;
            break;
        case VNF_OPT_FTC_RING:
            if (!parse_ring(optarg, &v.ftc_cfg)) {
                fprintf(stderr, "sfcd vnf: --ftc-ring: '%s' is not a list of up to %d MACs\n",
                        optarg, VNF_FTC_MAX_RING);
                goto out;
            }
            v.ftc_on = true;
            break;
        case VNF_OPT_FTC_INDEX:
        case VNF_OPT_FTC_F:
        case VNF_OPT_FTC_PARTITIONS:
        case VNF_OPT_FTC_THREADS:
        case VNF_OPT_FTC_INCARNATION:
        case VNF_OPT_ORDER_INCARNATION: {
            unsigned long long x;
            char *end;

            errno = 0;
            x = strtoull(optarg, &end, 10);
            if (!*optarg || *end || errno || x > 1000000) {
                fprintf(stderr, "sfcd vnf: '%s' is not a count\n", optarg);
                goto out;
            }
            if (opt == VNF_OPT_FTC_INDEX) {
                v.ftc_cfg.index = x;
            } else if (opt == VNF_OPT_FTC_F) {
                v.ftc_cfg.f = x;
            } else if (opt == VNF_OPT_FTC_PARTITIONS) {
                v.ftc_cfg.partitions = x;
            } else if (opt == VNF_OPT_FTC_THREADS) {
                v.ftc_cfg.threads = x;
            } else if (opt == VNF_OPT_ORDER_INCARNATION) {
                v.order_incarnation = x;
            } else {
                v.ftc_cfg.incarnation = x;
            }
            break;
        }
        case VNF_OPT_FTMB_LOGGER:
            if (!pktio_parse_mac(optarg, v.ftmb_cfg.logger)) {
                fprintf(stderr, "sfcd vnf: --ftmb-logger: '%s' is not a MAC\n", optarg);
                goto out;
            }
            v.ftmb_on = true;
            break;
        case VNF_OPT_FTMB_SNAPSHOT:
        case VNF_OPT_FTMB_STALL:
            if (!parse_duration(optarg, opt == VNF_OPT_FTMB_STALL ? &v.ftmb_cfg.stall_ns
                                                                    : &v.ftmb_cfg.snapshot_ns)) {
                fprintf(stderr, "sfcd vnf: '%s' is not a duration\n", optarg);
                goto out;
            }
            break;
        case VNF_OPT_FTMB_STALL_CPUS: {
            char *end;

            v.ftmb_cfg.stall_cpus = strtod(optarg, &end);
            if (end == optarg || *end || !(v.ftmb_cfg.stall_cpus >= 0)) {
                fprintf(stderr, "sfcd vnf: --ftmb-stall-cpus: '%s' is not a CPU count\n",
                        optarg);
                goto out;
            }
            break;
        }
        case VNF_OPT_FTMB_IN_LINE:
            v.ftmb_cfg.in_line = true;
            break;
        case VNF_OPT_FTC_LINK:
            v.ftc_cfg.link = optarg;
            break;
        case VNF_OPT_FTC_TICK:
            if (!parse_duration(optarg, &v.ftc_cfg.tick_ns) || !v.ftc_cfg.tick_ns) {
                fprintf(stderr, "sfcd vnf: --ftc-tick: '%s' is not a duration\n", optarg);
                goto out;
            }
            break;
        case 'V':
            v.vote_class = ft_core_class_find(optarg);
            if (!v.vote_class) {
                fprintf(stderr, "sfcd vnf: --vote: no protocol core '%s'\n", optarg);
                goto out;
            }
            break;
        case 'F':
            if (path_parse_group(optarg, v.from, PATH_MAX_REPLICAS, &v.n_from, &errmsg)) {
                fprintf(stderr, "sfcd vnf: --from: %s\n", errmsg);
                goto out;
            }
            break;
        case 'N':
            u = strtoull(optarg, &eq, 10);
            if (!*optarg || *eq || u > 8) {
                fprintf(stderr, "sfcd vnf: --f: '%s' is not 0..8\n", optarg);
                goto out;
            }
            v.f = u;
            break;
        case 'P':
            eq = strchr(optarg, '=');
            if (!eq || eq == optarg || v.n_params >= VNF_MAX_PARAMS) {
                fprintf(stderr, "sfcd vnf: --vote-param: '%s' is not KEY=VALUE (at most %d)\n",
                        optarg, VNF_MAX_PARAMS);
                goto out;
            }
            *eq = '\0';    /* argv outlives the role. */
            v.params[v.n_params++] = (struct ft_param) { optarg, eq + 1 };
            break;
        case 'K':
            if (ftstage_key_load(optarg, v.key, &errmsg)) {
                fprintf(stderr, "sfcd vnf: --key: %s\n", errmsg);
                goto out;
            }
            v.ftc_cfg.key = v.key;
            v.has_key = true;
            break;
        case 'T':
            v.timestamps = true;
            break;
        case 'O':
            v.order_name = optarg;
            break;
        case 'G':
            if (path_parse_group(optarg, v.order_group, PATH_MAX_REPLICAS, &v.n_order,
                                 &errmsg)) {
                fprintf(stderr, "sfcd vnf: --order-group: %s\n", errmsg);
                goto out;
            }
            break;
        case 'I':
            u = strtoull(optarg, &eq, 10);
            if (!*optarg || *eq || u >= PATH_MAX_REPLICAS) {
                fprintf(stderr, "sfcd vnf: --order-index: '%s' is not 0..%d\n", optarg,
                        PATH_MAX_REPLICAS - 1);
                goto out;
            }
            v.order_index = u;
            break;
        case 'Q':
            eq = strchr(optarg, '=');
            if (!eq || eq == optarg || v.n_order_params >= VNF_MAX_PARAMS) {
                fprintf(stderr, "sfcd vnf: --order-param: '%s' is not KEY=VALUE (at most %d)\n",
                        optarg, VNF_MAX_PARAMS);
                goto out;
            }
            *eq = '\0';
            v.order_params[v.n_order_params++] = (struct ft_param) { optarg, eq + 1 };
            break;
        case 't':
            if (v.trace) {
                fclose(v.trace);
            }
            v.trace = fopen(optarg, "w");
            if (!v.trace) {
                fprintf(stderr, "sfcd vnf: %s: %s\n", optarg, strerror(errno));
                goto out;
            }
            break;
        default:
            if (role_parse_option(&v.role, opt, optarg, usage, &rc)) {
                goto out;
            }
        }
    }
    if (!v.role.iface || !fn || optind != argc) {
        fprintf(stderr, "sfcd vnf: --iface and --fn are required\n");
        goto out;
    }
    if (!v.vote_class != !v.n_from) {
        fprintf(stderr, "sfcd vnf: --vote and --from go together\n");
        goto out;
    }
    if (nf_create(fn, params, n_params, &v.nf, &errmsg)) {
        fprintf(stderr, "sfcd vnf: %s\n", errmsg);
        goto out;
    }
    if (v.vote_class && (!v.order_name || strcmp(v.order_name, "none"))) {
        /* By the function's consistency: one order for all (PBFT among the replicas, which
         * needs them), or each flow in its counter's order (each replica alone). */
        enum nf_consistency cons = v.nf->class->consistency;
        const char *name = v.order_name ? v.order_name
                           : cons == NF_GLOBAL && v.n_order ? "pbft"
                           : cons == NF_PER_FLOW ? "flow_order" : NULL;

        v.order_class = name ? ft_core_class_find(name) : NULL;
        if (name && !v.order_class) {
            fprintf(stderr, "sfcd vnf: --order: no protocol core '%s'\n", name);
            goto out;
        }
        v.order_peers = v.order_class && strcmp(v.order_class->name, "flow_order");
        if (v.order_peers && (!v.has_key || v.order_index >= v.n_order)) {
            fprintf(stderr, "sfcd vnf: --order %s needs --key and an --order-index inside "
                    "--order-group\n", v.order_class->name);
            goto out;
        }
    } else if (v.order_name && strcmp(v.order_name, "none")) {
        fprintf(stderr, "sfcd vnf: --order needs --vote\n");
        goto out;
    }
    if (v.ftc_on) {
        if (!v.ftc_cfg.key) {
            fprintf(stderr, "sfcd vnf: FTC needs --key\n");
            goto out;
        }
        /* The middlebox behind the head: the same function and parameters. */
        buf_printf(&v.ftc_mbox, "%s", fn);
        for (size_t i = 0; i < n_params; i++) {
            buf_printf(&v.ftc_mbox, " %s=%s", params[i].key, params[i].value);
        }
        buf_put_u8(&v.ftc_mbox, 0);
        v.ftc_cfg.mbox_params = (const char *) v.ftc_mbox.data;
        v.role.on_start = ftc_start;
        role_add_method(&v.role, "ftc_state", ctl_ftc_state);
    }
    if (v.ftmb_on) {
        if (v.ftc_on || v.vote_class) {
            fprintf(stderr, "sfcd vnf: FTMB goes with neither FTC nor a vote\n");
            goto out;
        }
        if (v.ftmb_cfg.stall_ns >= v.ftmb_cfg.snapshot_ns && v.ftmb_cfg.snapshot_ns) {
            fprintf(stderr, "sfcd vnf: --ftmb-stall must be shorter than --ftmb-snapshot\n");
            goto out;
        }
        v.ftmb_cfg.vnf = v.role.id_set ? v.role.id : 0;
        v.role.on_start = ftmb_start;
    }
    /* The function's random draws (lb choice=random, nat alloc=random) are real here. */
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed) {
        seed = time_mono_ns() ^ ((uint64_t) getpid() << 32);
    }
    ft_rng_init(&v.nf->det.rng, seed);
    rc = 1;
    if (role_open_pktio(&v.role, false)) {
        goto out;
    }
    role_add_counter(&v.role, "nf_in", &v.nf->n_in);
    role_add_counter(&v.role, "forwarded", &v.n_forwarded);
    role_add_counter(&v.role, "replies", &v.n_replies);
    role_add_counter(&v.role, "dropped", &v.n_dropped);
    role_add_counter(&v.role, "malformed", &v.n_malformed);
    role_add_counter(&v.role, "ignored", &v.n_ignored);
    role_add_counter(&v.role, "si_exhausted", &v.n_si_exhausted);
    role_add_counter(&v.role, "stamp_full", &v.n_stamp_full);
    role_add_counter(&v.role, "state_imports", &v.n_imports);
    role_add_method(&v.role, "export_state", ctl_export_state);
    role_add_method(&v.role, "order_peer_down", ctl_order_peer_down);
    role_add_method(&v.role, "import_state", ctl_import_state);
    if (v.vote_class) {
        v.role.on_start = vote_create;
        role_add_counter(&v.role, "copies_in", &v.n_copies_in);
        role_add_counter(&v.role, "voted", &v.n_voted);
        role_add_counter(&v.role, "unvoted", &v.n_unvoted);
        role_add_counter(&v.role, "vote_errors", &v.n_vote_errors);
    }
    if (v.order_class) {
        role_add_counter(&v.role, "ordered", &v.n_ordered);
        role_add_counter(&v.role, "order_peer", &v.n_order_peer);
        role_add_counter(&v.role, "order_unknown", &v.n_order_unknown);
    }
    rc = role_serve_pktio(&v.role, process, v.trace ? flush_trace : NULL);
out:
    vnf_ftc_destroy(v.ftc);
    ftmb_vnf_destroy(v.ftmb);
    ftstage_destroy(v.order);
    ftstage_destroy(v.stage);
    nham_frags_free(&v.frags);
    buf_uninit(&v.copy);
    if (v.trace) {
        fclose(v.trace);
    }
    role_finish(&v.role);
    nf_destroy(v.nf);
    buf_uninit(&v.ftc_mbox);
    free(params);
    free(errmsg);
    return rc;
}
