/* ftvnf_vnf — one copy of a VNF under FTvNF, master or slave (ftvnf.h). */
#include "vnfs/ft/ftvnf/ftvnf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/cursor.h"
#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/u64map.h"

/* A slave keeps the outputs of its last replays, so that on takeover it can re-forward the
 * ones its dead master may have logged without forwarding. */
#define FTVNF_KEEP_OUTPUTS 4096
#define FTVNF_MAX_FN_PARAMS 16

/* A master's packet waiting for its loggers. */
struct vnf_pending {
    struct buf out;             /* id_out(8) payload, or empty if dropped. */
    bool reply;                 /* 'out' is a reply: it leaves to 'reply_to'. */
    struct buf log_dp, log_pkt; /* What was sent to the loggers, to send again. */
    uint64_t sent_ns;
    bool need_pkt, need_dp;
};

#define VNF_TIMER_RETRY 1
#define VNF_TIMER_DRAIN 2
/* Re-forwarding after a takeover is paced: a burst of hundreds of datagrams would be lost in
 * the switch's queues, and these are exactly the packets nobody else can send again. */
#define VNF_DRAIN_BATCH 1
#define VNF_DRAIN_NS 1000000
/* Packets a slave holds that came before their turn (their order number is ahead). When
 * this many wait, the gap before them is skipped. */
#define VNF_HOLD_MAX 512

/* A slave's packet waiting for its turn. */
struct vnf_held {
    uint64_t id_in, order;
    struct nf_pad *pads;
    size_t n_pads;
    struct buf payload;
};

struct ftvnf_vnf {
    struct ft_core up;
    bool master;
    bool broken;                /* Test: a slave that replays without its determinants. */
    uint8_t stage;
    size_t frame_ofs;           /* Where the Ethernet frame starts in the payload. */
    struct nf *nf;
    uint32_t next, plog, dplog, proglog, manager;
    uint32_t reply_to;          /* Where replies (FTVNF_REPLY) go. */
    uint32_t report;            /* FT_ENDPOINT_NONE, or who gets a digest per packet (tests). */
    uint64_t log_retry;         /* Unacknowledged log records are sent again after this. */
    size_t retry_pos;           /* Where the last retry tick stopped in 'pending'. */
    struct u64map seen;         /* base id -> 1: processed (either role). */
    struct u64map pending;      /* Master: id_in -> struct vnf_pending *. */
    /* Slave: outputs of recent replays (ring), base id -> ring index + 1. */
    struct buf outputs[FTVNF_KEEP_OUTPUTS];
    uint64_t output_ids[FTVNF_KEEP_OUTPUTS];
    bool output_reply[FTVNF_KEEP_OUTPUTS];
    size_t output_pos;
    struct u64map output_idx;
    /* Takeover: base id -> forward flag, for ids still to replay. */
    bool taking_over;
    struct u64map takeover;
    struct u64map takeover_parts;   /* Parts of the TAKEOVER list received. */
    uint64_t takeover_n_parts;
    struct u64map takeover_fwd; /* base ids whose output to forward on promotion. */
    struct buf *drain;          /* Outputs still to re-forward after the takeover. */
    bool *drain_reply;
    size_t n_drain, drain_pos;
    uint64_t n_diverged;
    bool on_path;               /* log=path: the output goes on through the loggers. */
    uint32_t sync;              /* The slave the last logger feeds (FT_ENDPOINT_NONE: none). */
    bool last;                  /* The chain's last stage: its outputs leave the chain. */
    uint64_t promoted_ns;       /* When this slave took over (its PROMOTED says). */
    bool upto_set;              /* The quick takeover: take over once replayed up to 'upto'. */
    uint64_t upto;
    uint64_t carry_max;
    uint64_t order;             /* Master: the last order number given; slave: replayed. */
    bool output_carrier[FTVNF_KEEP_OUTPUTS];    /* outputs[i] is a master's carrier. */
    struct vnf_held held[VNF_HOLD_MAX];
    size_t n_held;
    struct u64map held_ids;     /* base id -> 1 for what 'held' has. */
    bool joining;               /* A new slave (param join) that has no image yet. */
    bool join_fed;              /* Fed since it joined: its JOINED arrived. */
    bool joined;
    uint64_t joined_order;      /* The image's order number: records up to it are done. */
};

static int
vnf_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct nf_param fp[FTVNF_MAX_FN_PARAMS];
    size_t n_fp = 0;
    const char *role = ft_config_param(cfg, "role"), *fn = ft_config_param(cfg, "fn");
    uint64_t stage, ofs, report, broken, log_retry, reply, sync, carry_max, last, join,
             order;
    const char *log = ft_config_param(cfg, "log");
    struct ftvnf_vnf *v;
    struct nf *nf;
    char *nf_err = NULL;
    int error;

    if ((error = ft_config_u64(cfg, "stage", 0, &stage, errp))
        || (error = ft_config_u64(cfg, "frame_offset", 0, &ofs, errp))
        || (error = ft_config_u64(cfg, "report", FT_ENDPOINT_NONE, &report, errp))
        || (error = ft_config_u64(cfg, "broken", 0, &broken, errp))
        || (error = ft_config_u64(cfg, "reply", cfg->n_next ? cfg->next[0] : 0, &reply, errp))
        || (error = ft_config_duration(cfg, "log_retry", 50000000, &log_retry, errp))
        || (error = ft_config_u64(cfg, "sync", FT_ENDPOINT_NONE, &sync, errp))
        || (error = ft_config_u64(cfg, "last", 0, &last, errp))
        || (error = ft_config_u64(cfg, "join", 0, &join, errp))
        || (error = ft_config_u64(cfg, "order", 0, &order, errp))
        || (error = ft_config_u64(cfg, "carry_max", FTVNF_CARRY_MAX_DEFAULT, &carry_max,
                                  errp))) {
        return error;
    }
    if (!role || (strcmp(role, "master") && strcmp(role, "slave")) || !fn
        || (log && strcmp(log, "path") && strcmp(log, "messages")) || sync > FT_ENDPOINT_NONE
        || stage >= FTVNF_MAX_STAGES || cfg->n_next != 1 || cfg->n_peers != 4) {
        if (errp) {
            *errp = xasprintf("ftvnf_vnf: role=master|slave, fn=NAME, log=path|messages, "
                              "stage < %d, next = "
                              "[downstream], peers = [packet logger, D&P logger, progress "
                              "logger, manager]", FTVNF_MAX_STAGES);
        }
        return EINVAL;
    }
    for (size_t i = 0; i < cfg->n_params; i++) {
        if (!strncmp(cfg->params[i].key, "fn.", 3) && n_fp < FTVNF_MAX_FN_PARAMS) {
            fp[n_fp].key = cfg->params[i].key + 3;
            fp[n_fp++].value = cfg->params[i].value;
        }
    }
    error = nf_create(fn, fp, n_fp, &nf, &nf_err);
    if (error) {
        if (errp) {
            *errp = xasprintf("ftvnf_vnf: fn %s: %s", fn, nf_err ? nf_err : strerror(error));
        }
        free(nf_err);
        return error;
    }
    v = xzalloc(sizeof *v);
    v->master = !strcmp(role, "master");
    v->broken = broken;
    v->stage = stage;
    v->frame_ofs = ofs;
    v->nf = nf;
    /* The function's random draws come from the core's seeded generator. */
    struct ft_rng rng = cfg->rng;
    ft_rng_init(&nf->det.rng, ft_rng_u64(&rng));
    nf_det_set_mode(&nf->det, v->master ? NF_DET_RECORD
                              : broken ? NF_DET_LIVE : NF_DET_REPLAY);
    v->next = cfg->next[0];
    v->reply_to = reply;
    v->plog = cfg->peers[0];
    v->dplog = cfg->peers[1];
    v->proglog = cfg->peers[2];
    v->manager = cfg->peers[3];
    v->report = report;
    v->log_retry = log_retry ? log_retry : 1;
    v->on_path = !log || !strcmp(log, "path");
    v->sync = sync;
    v->last = last;
    v->carry_max = carry_max;
    v->joining = join && !v->master;
    /* A master started in place of one that died with no slave: its order numbers go on
     * after the dead one's, so that a new slave's image (order k) never counts a record of
     * the dead master's as its own. */
    v->order = v->master ? order : 0;
    u64map_init(&v->held_ids);
    u64map_init(&v->seen);
    u64map_init(&v->pending);
    u64map_init(&v->output_idx);
    u64map_init(&v->takeover);
    u64map_init(&v->takeover_fwd);
    u64map_init(&v->takeover_parts);
    *corep = &v->up;
    return 0;
}

static void
vnf_destroy(struct ft_core *core)
{
    struct ftvnf_vnf *v = (struct ftvnf_vnf *) core;
    const struct u64map_slot *slot;
    size_t pos = 0;

    while (u64map_next(&v->pending, &pos, &slot)) {
        struct vnf_pending *p = (struct vnf_pending *) (uintptr_t) slot->value;
        buf_uninit(&p->out);
        buf_uninit(&p->log_dp);
        buf_uninit(&p->log_pkt);
        free(p);
    }
    for (size_t i = 0; i < FTVNF_KEEP_OUTPUTS; i++) {
        buf_uninit(&v->outputs[i]);
    }
    u64map_destroy(&v->seen);
    u64map_destroy(&v->pending);
    u64map_destroy(&v->output_idx);
    u64map_destroy(&v->takeover);
    u64map_destroy(&v->takeover_fwd);
    u64map_destroy(&v->takeover_parts);
    for (size_t i = 0; i < v->n_drain; i++) {
        buf_uninit(&v->drain[i]);
    }
    free(v->drain);
    free(v->drain_reply);
    for (size_t i = 0; i < v->n_held; i++) {
        free(v->held[i].pads);
        buf_uninit(&v->held[i].payload);
    }
    u64map_destroy(&v->held_ids);
    nf_destroy(v->nf);
    free(v);
}

/* Runs the function on 'payload'. Returns the verdict; 'out' gets id_out and the processed
 * payload when it is forwarded. */
static enum ftvnf_verdict
vnf_run(struct ftvnf_vnf *v, uint64_t id_in, const uint8_t *payload, size_t len,
        uint64_t now, struct buf *out, uint64_t *id_outp)
{
    struct buf pkt = BUF_INITIALIZER;
    enum nf_verdict verdict = NF_FORWARD;
    uint64_t id_out = id_in;

    buf_reserve(&pkt, len + 64);
    buf_put(&pkt, payload, len);
    if (len > v->frame_ofs) {
        struct nf_packet p = {
            .data = pkt.data + v->frame_ofs, .len = len - v->frame_ofs,
            .cap = pkt.cap - v->frame_ofs, .now_ns = now,
        };
        verdict = nf_process(v->nf, &p);
        pkt.len = v->frame_ofs + p.len;
    }
    bool changed = pkt.len != len || memcmp(pkt.data, payload, len);
    if (changed && verdict != NF_DROP && ftvnf_id_version(id_in) < FTVNF_MAX_VERSION) {
        id_out = id_in + 1;
    }
    *id_outp = id_out;
    if (verdict != NF_DROP) {
        buf_put_be64(out, id_out);
        buf_put(out, pkt.data, pkt.len);
    }
    buf_uninit(&pkt);
    return verdict == NF_DROP ? FTVNF_DROPPED : verdict == NF_REPLY ? FTVNF_REPLY
                                                                    : FTVNF_FORWARD;
}

/* Tests: the state's digest after this packet, to whoever checks masters against slaves. */
static void
vnf_report(struct ftvnf_vnf *v, uint64_t id_in, struct ft_actions *out)
{
    uint8_t digest[STATE_DIGEST_LEN];
    struct buf msg = BUF_INITIALIZER;

    if (v->report == FT_ENDPOINT_NONE) {
        return;
    }
    state_digest(v->nf->state, digest);
    buf_put_u8(&msg, v->master ? 'M' : 'S');
    buf_put_u8(&msg, v->stage);
    buf_put_be64(&msg, ftvnf_id_base(id_in));
    buf_put(&msg, digest, sizeof digest);
    ft_emit_send(out, v->report, msg.data, msg.len);
    buf_uninit(&msg);
}

/* Keeps 'b' as the output of 'base' in the ring (a carrier, or a replay's output). */
static size_t
vnf_keep(struct ftvnf_vnf *v, uint64_t base, bool carrier)
{
    size_t slot = v->output_pos;
    uint64_t old;

    if (u64map_get(&v->output_idx, v->output_ids[slot], &old) && old == slot + 1) {
        u64map_remove(&v->output_idx, v->output_ids[slot], NULL);
    }
    buf_clear(&v->outputs[slot]);
    v->output_ids[slot] = base;
    v->output_carrier[slot] = carrier;
    v->output_reply[slot] = false;
    u64map_put(&v->output_idx, base, slot + 1);
    v->output_pos = (slot + 1) % FTVNF_KEEP_OUTPUTS;
    return slot;
}

/* A master's output goes on through its loggers (ftvnf.h, "Logging on the path"): the D&P
 * logger first, so that its log has the stage's packets in the order the master processed
 * them, then the packet logger with the delta if the packet changed. The carrier holds the
 * packet as it came (what the slave replays); the last logger applies the delta. False if the
 * carrier would be too big: logged by messages. */
static bool
vnf_carry(struct ftvnf_vnf *v, const struct ftvnf_dp *dp, const uint8_t *in, size_t in_len,
          const struct vnf_pending *p, struct ft_actions *out)
{
    struct buf dpb = BUF_INITIALIZER, delta = BUF_INITIALIZER;
    struct ftvnf_carry c = {
        .id = dp->id_out, .sync = v->sync,
        .to = dp->verdict == FTVNF_DROPPED ? FT_ENDPOINT_NONE
              : dp->verdict == FTVNF_REPLY ? v->reply_to : v->next,
    };
    bool ok = false;
    size_t slot;

    ftvnf_dp_put(&dpb, dp);
    c.recs[c.n_recs++] = (struct ftvnf_carry_rec) {
        .logger = v->dplog, .type = FTVNF_LOG_DP, .body = dpb.data, .len = dpb.len,
    };
    /* The packet as it came, which the slave replays; the last logger applies the delta. */
    c.id = dp->id_in;
    c.payload = in;
    c.len = in_len;
    if (dp->id_out != dp->id_in && p->out.len >= 8) {
        /* A version nobody replays (it leaves the chain) is not stored. */
        bool leaves = dp->verdict == FTVNF_REPLY || v->last;
        buf_put_be64(&delta, dp->id_out);
        buf_put_u8(&delta, 1);
        ftvnf_delta_make(&delta, in, in_len, p->out.data + 8, p->out.len - 8);
        c.recs[c.n_recs++] = (struct ftvnf_carry_rec) {
            .logger = leaves ? FT_ENDPOINT_NONE : v->plog, .type = FTVNF_LOG_PKT,
            .body = delta.data, .len = delta.len,
        };
    }
    if (dpb.len + delta.len + c.len + 64 <= v->carry_max && dpb.len <= UINT16_MAX
        && delta.len <= UINT16_MAX) {
        slot = vnf_keep(v, ftvnf_id_base(dp->id_in), true);
        ftvnf_carry_put(&v->outputs[slot], &c);
        ft_emit_forward(out, v->dplog, v->outputs[slot].data, v->outputs[slot].len);
        ok = true;
    }
    buf_uninit(&dpb);
    buf_uninit(&delta);
    return ok;
}

/* A copy of a packet this copy already processed (the manager's resend, after a loss on the
 * way to or from the loggers): what it sent for it goes again, a carrier to its first logger
 * (who store once) or a replay's output downstream (who drop copies by id). */
static bool
vnf_resend(struct ftvnf_vnf *v, uint64_t base, struct ft_actions *out)
{
    struct ftvnf_carry c;
    uint64_t idx;

    if (!u64map_get(&v->output_idx, base, &idx) || !v->outputs[idx - 1].len) {
        return false;
    }
    const struct buf *b = &v->outputs[idx - 1];
    if (!v->output_carrier[idx - 1]) {
        ft_emit_forward(out, v->output_reply[idx - 1] ? v->reply_to : v->next, b->data, b->len);
    } else if (ftvnf_carry_parse(b->data, b->len, &c) && c.n_recs) {
        ft_emit_forward(out, c.recs[0].logger, b->data, b->len);
    } else {
        return false;
    }
    return true;
}

/* A master's packet: record determinants, log, hold until both loggers acknowledged. */
static void
vnf_master_packet(struct ftvnf_vnf *v, uint64_t id_in, const uint8_t *payload, size_t len,
                  uint64_t now, struct ft_actions *out)
{
    struct vnf_pending *p;
    struct buf msg = BUF_INITIALIZER;

    if (u64map_get(&v->seen, ftvnf_id_base(id_in), NULL)) {
        if (!v->on_path || !vnf_resend(v, ftvnf_id_base(id_in), out)) {
            ft_emit_drop(out, FT_DROP_DUPLICATE, NULL, 0);
        }
        return;
    }
    u64map_put(&v->seen, ftvnf_id_base(id_in), 1);
    p = xzalloc(sizeof *p);
    buf_init(&p->out);
    buf_init(&p->log_dp);
    buf_init(&p->log_pkt);
    p->sent_ns = now;
    nf_det_begin(&v->nf->det, NULL, 0);
    uint64_t mark = state_mark(v->nf->state);
    struct ftvnf_dp dp = { .stage = v->stage, .id_in = id_in };
    dp.verdict = vnf_run(v, id_in, payload, len, now, &p->out, &dp.id_out);
    p->reply = dp.verdict == FTVNF_REPLY;
    dp.pads = v->nf->det.log;
    dp.n_pads = v->nf->det.n_log;
    /* Every write bumps the state's sequence number: O(1), where counting the entries
     * changed since the mark walked the whole table for each packet (a nat's flows). */
    dp.stateless = v->on_path && !dp.n_pads && state_mark(v->nf->state) == mark
                   && dp.id_out == id_in && dp.verdict != FTVNF_REPLY;
    dp.order = dp.stateless ? 0 : ++v->order;
    vnf_report(v, id_in, out);
    if (dp.stateless) {
        /* Nothing to log before it goes on (ftvnf.h): forwarded now, its progress logged
         * off the path (below, as a message, sent again until acknowledged). */
        if (p->out.len) {
            ft_emit_forward(out, v->next, p->out.data, p->out.len);
        }
        buf_clear(&p->out);
    } else if (v->on_path && vnf_carry(v, &dp, payload, len, p, out)) {
        buf_uninit(&p->out);
        buf_uninit(&p->log_dp);
        buf_uninit(&p->log_pkt);
        free(p);
        return;
    }

    buf_put_u8(&p->log_dp, FTVNF_LOG_DP);
    ftvnf_dp_put(&p->log_dp, &dp);
    ft_emit_send(out, v->dplog, p->log_dp.data, p->log_dp.len);
    p->need_dp = true;
    if (dp.id_out != id_in && p->out.len >= 8) {
        /* A new version: its delta from the one received. */
        buf_put_u8(&p->log_pkt, FTVNF_LOG_PKT);
        buf_put_be64(&p->log_pkt, dp.id_out);
        buf_put_u8(&p->log_pkt, 1);
        ftvnf_delta_make(&p->log_pkt, payload, len, p->out.data + 8, p->out.len - 8);
        ft_emit_send(out, v->plog, p->log_pkt.data, p->log_pkt.len);
        p->need_pkt = true;
    }
    u64map_put(&v->pending, dp.id_out != id_in ? dp.id_out : id_in, (uintptr_t) p);
    buf_uninit(&msg);
}

static void
vnf_release(struct ftvnf_vnf *v, uint64_t key, bool pkt_ack, struct ft_actions *out)
{
    uint64_t val;
    struct vnf_pending *p;

    if (!u64map_get(&v->pending, key, &val)) {
        ft_emit_drop(out, FT_DROP_DUPLICATE, NULL, 0);
        return;
    }
    p = (struct vnf_pending *) (uintptr_t) val;
    if (pkt_ack) {
        p->need_pkt = false;
    } else {
        p->need_dp = false;
    }
    if (p->need_pkt || p->need_dp) {
        return;
    }
    /* Both loggers have it: only now does the packet go on. */
    if (p->out.len) {
        ft_emit_forward(out, p->reply ? v->reply_to : v->next, p->out.data, p->out.len);
    }
    u64map_remove(&v->pending, key, NULL);
    buf_uninit(&p->out);
    buf_uninit(&p->log_dp);
    buf_uninit(&p->log_pkt);
    free(p);
}

/* A message to the manager about this stage: 'type', the stage, 'value' (JOINED: the order
 * number joined at; PROMOTED: when). */
static void
vnf_tell_manager(const struct ftvnf_vnf *v, uint8_t type, uint64_t value,
                 struct ft_actions *out)
{
    struct buf msg = BUF_INITIALIZER;

    buf_put_u8(&msg, type);
    buf_put_u8(&msg, v->stage);
    buf_put_be64(&msg, value);
    ft_emit_send(out, v->manager, msg.data, msg.len);
    buf_uninit(&msg);
}

/* Log records whose acknowledgement did not come (a datagram lost either way) go again; the
 * loggers store a record once and acknowledge every copy. */
static void
vnf_retry(struct ftvnf_vnf *v, uint64_t now, struct ft_actions *out)
{
    const struct u64map_slot *slot;
    size_t pos = v->retry_pos, n = 0;
    bool wrapped = false;

    while (n < FTVNF_RETRY_BATCH) {
        if (!u64map_next(&v->pending, &pos, &slot)) {
            if (wrapped || !v->retry_pos) {
                pos = 0;
                break;
            }
            wrapped = true;
            pos = 0;
            continue;
        }
        if (wrapped && pos > v->retry_pos) {
            break;
        }
        struct vnf_pending *p = (struct vnf_pending *) (uintptr_t) slot->value;

        if (now - p->sent_ns < v->log_retry) {
            continue;
        }
        n++;
        p->sent_ns = now;
        if (p->need_dp) {
            ft_emit_send(out, v->dplog, p->log_dp.data, p->log_dp.len);
        }
        if (p->need_pkt) {
            ft_emit_send(out, v->plog, p->log_pkt.data, p->log_pkt.len);
        }
    }
    v->retry_pos = pos;
    if (v->joined && !v->join_fed && !v->master) {
        vnf_tell_manager(v, FTVNF_JOINED, v->joined_order, out);
    }
    ft_emit_timer(out, VNF_TIMER_RETRY, now + v->log_retry);
}

static void
vnf_drain(struct ftvnf_vnf *v, uint64_t now, struct ft_actions *out)
{
    for (size_t k = 0; k < VNF_DRAIN_BATCH && v->drain_pos < v->n_drain; k++) {
        bool reply = v->drain_reply[v->drain_pos];
        struct buf *b = &v->drain[v->drain_pos++];
        ft_emit_forward(out, reply ? v->reply_to : v->next, b->data, b->len);
        buf_uninit(b);
    }
    if (v->drain_pos < v->n_drain) {
        ft_emit_timer(out, VNF_TIMER_DRAIN, now + VNF_DRAIN_NS);
    } else {
        free(v->drain);
        free(v->drain_reply);
        v->drain = NULL;
        v->drain_reply = NULL;
        v->n_drain = v->drain_pos = 0;
    }
}

/* A slave's replay: the function runs on its master's determinants. */
static void
vnf_replay(struct ftvnf_vnf *v, uint64_t id_in, uint64_t order, const struct nf_pad *pads,
           size_t n_pads, const uint8_t *payload, size_t len, uint64_t now,
           struct ft_actions *out)
{
    uint64_t base = ftvnf_id_base(id_in), id_out;
    size_t slot;

    u64map_put(&v->seen, base, 1);
    nf_det_begin(&v->nf->det, pads, n_pads);
    slot = vnf_keep(v, base, false);
    v->output_reply[slot] = vnf_run(v, id_in, payload, len, now, &v->outputs[slot], &id_out)
                            == FTVNF_REPLY;
    if (order > v->order) {
        v->order = order;
    }
    if (!nf_det_end_ok(&v->nf->det)) {
        v->n_diverged++;
        ft_emit_note(out, "stage %u: replay of %#"PRIx64" diverged from its determinants",
                     v->stage, id_in);
    }
    vnf_report(v, id_in, out);
}

static void
vnf_progress(struct ftvnf_vnf *v, uint64_t id_in, struct ft_actions *out)
{
    uint8_t msg[10] = { FTVNF_PROGRESS, v->stage };

    for (int k = 0; k < 8; k++) {
        msg[2 + k] = id_in >> (56 - 8 * k);
    }
    ft_emit_send(out, v->proglog, msg, sizeof msg);
    u64map_remove(&v->takeover, ftvnf_id_base(id_in), NULL);
}

/* Replays held packets while the next one in order is there; with 'skip_gaps' (a takeover
 * whose list is all here), every held one, in order, over gaps no record will fill. */
static void
vnf_replay_held(struct ftvnf_vnf *v, bool skip_gaps, uint64_t now, struct ft_actions *out)
{
    for (;;) {
        size_t best = v->n_held;

        for (size_t i = 0; i < v->n_held; i++) {
            if ((skip_gaps || v->held[i].order == v->order + 1)
                && (best == v->n_held || v->held[i].order < v->held[best].order)) {
                best = i;
            }
        }
        if (best == v->n_held) {
            return;
        }
        struct vnf_held h = v->held[best];
        v->held[best] = v->held[--v->n_held];
        u64map_remove(&v->held_ids, ftvnf_id_base(h.id_in), NULL);
        if (!u64map_get(&v->seen, ftvnf_id_base(h.id_in), NULL)) {
            vnf_replay(v, h.id_in, h.order, h.pads, h.n_pads, h.payload.data, h.payload.len,
                       now, out);
        }
        vnf_progress(v, h.id_in, out);
        free(h.pads);
        buf_uninit(&h.payload);
    }
}

static void
vnf_promote_if_ready(struct ftvnf_vnf *v, uint64_t now, struct ft_actions *out)
{
    const struct u64map_slot *slot;
    size_t pos = 0;
    uint64_t idx;

    if (v->master) {
        return;
    }
    if (v->upto_set && v->order >= v->upto && !v->n_held) {
        /* The quick takeover: every order the D&P log has for the stage is replayed. What a
         * TAKEOVER may list too is, then, replayed or stateless. */
        u64map_clear(&v->takeover);
    } else if (!v->taking_over || u64map_count(&v->takeover_parts) < v->takeover_n_parts) {
        return;
    } else {
        /* Every packet the list names is replayed, or held behind a gap that only a record
         * lost with the master would fill: those go now, in order. */
        while (u64map_next(&v->takeover, &pos, &slot)) {
            if (!u64map_get(&v->held_ids, slot->key, NULL)) {
                return;
            }
        }
        vnf_replay_held(v, true, now, out);
        if (u64map_count(&v->takeover)) {
            return;
        }
    }
    pos = 0;
    v->taking_over = false;
    v->master = true;
    nf_det_set_mode(&v->nf->det, NF_DET_RECORD);
    /* What the dead master logged but may not have forwarded: downstream drops copies. */
    v->drain = xcalloc(u64map_count(&v->takeover_fwd) + 1, sizeof *v->drain);
    v->drain_reply = xcalloc(u64map_count(&v->takeover_fwd) + 1, sizeof *v->drain_reply);
    while (u64map_next(&v->takeover_fwd, &pos, &slot)) {
        if (u64map_get(&v->output_idx, slot->key, &idx) && v->outputs[idx - 1].len
            && !v->output_carrier[idx - 1]) {
            v->drain_reply[v->n_drain] = v->output_reply[idx - 1];
            buf_init(&v->drain[v->n_drain]);
            buf_put(&v->drain[v->n_drain++], v->outputs[idx - 1].data,
                    v->outputs[idx - 1].len);
        }
    }
    u64map_clear(&v->takeover_fwd);
    vnf_drain(v, now, out);
    ft_emit_note(out, "stage %u: slave caught up and took over as master", v->stage);
    v->promoted_ns = now;
    vnf_tell_manager(v, FTVNF_PROMOTED, v->promoted_ns, out);
}

/* A packet for the slave (fed by a logger): replayed in its master's order; one that comes
 * before its turn waits for the ones before it. */
static void
vnf_slave_packet(struct ftvnf_vnf *v, uint64_t id_in, uint64_t order, const struct nf_pad *pads,
                 size_t n_pads, const uint8_t *payload, size_t len, uint64_t now,
                 struct ft_actions *out)
{
    uint64_t base = ftvnf_id_base(id_in);

    v->join_fed = true;
    if (u64map_get(&v->seen, base, NULL)) {
        ft_emit_drop(out, FT_DROP_DUPLICATE, NULL, 0);
        vnf_progress(v, id_in, out);
    } else if (v->joined && order && order <= v->joined_order) {
        /* A new slave's image holds this packet's effect already: done, not replayed. */
        u64map_put(&v->seen, base, 1);
        ft_emit_drop(out, FT_DROP_DUPLICATE, NULL, 0);
        vnf_progress(v, id_in, out);
    } else if (u64map_get(&v->held_ids, base, NULL)) {
        ft_emit_drop(out, FT_DROP_DUPLICATE, NULL, 0);
    } else if (order > v->order + 1) {
        if (v->n_held == VNF_HOLD_MAX) {
            /* A gap nothing filled for VNF_HOLD_MAX packets (a record lost for good): past
             * it, in order, rather than stall the slave. */
            ft_emit_note(out, "stage %u: slave skips a gap after order %"PRIu64, v->stage,
                         v->order);
            vnf_replay_held(v, true, now, out);
        }
        if (order <= v->order + 1) {
            vnf_replay(v, id_in, order, pads, n_pads, payload, len, now, out);
            vnf_progress(v, id_in, out);
            vnf_replay_held(v, false, now, out);
        } else {
            struct vnf_held *h = &v->held[v->n_held++];
            h->id_in = id_in;
            h->order = order;
            h->pads = n_pads ? xmalloc(n_pads * sizeof *pads) : NULL;
            if (n_pads) {
                memcpy(h->pads, pads, n_pads * sizeof *pads);
            }
            h->n_pads = n_pads;
            buf_init(&h->payload);
            buf_put(&h->payload, payload, len);
            u64map_put(&v->held_ids, base, 1);
        }
    } else {
        vnf_replay(v, id_in, order, pads, n_pads, payload, len, now, out);
        vnf_progress(v, id_in, out);
        vnf_replay_held(v, false, now, out);
    }
    vnf_promote_if_ready(v, now, out);
}

static void
vnf_peer(struct ftvnf_vnf *v, const struct ft_event *ev, struct ft_actions *out)
{
    struct cursor rd;
    uint8_t type;

    cursor_init(&rd, ev->data, ev->len);
    type = cursor_u8(&rd);
    if (type == FTVNF_ACK_PKT && ev->from == v->plog) {
        uint64_t id = cursor_be64(&rd);
        if (cursor_ok(&rd)) {
            vnf_release(v, id, true, out);
        }
    } else if (type == FTVNF_ACK_DP && ev->from == v->dplog) {
        uint8_t stage = cursor_u8(&rd);
        uint64_t id_in = cursor_be64(&rd), key = id_in, val;
        /* Pending entries are keyed by the id they leave with. */
        if (cursor_ok(&rd) && stage == v->stage) {
            if (!u64map_get(&v->pending, key, &val)) {
                key = id_in + 1;
            }
            vnf_release(v, key, false, out);
        }
    } else if (type == FTVNF_SLAVE_PKT && (ev->from == v->plog || ev->from == v->dplog)) {
        uint8_t stage = cursor_u8(&rd), flags = cursor_u8(&rd);
        uint64_t id_in = cursor_be64(&rd), order = cursor_be64(&rd);
        struct nf_pad *pads = NULL;
        size_t n_pads = 0, used = cursor_ok(&rd) ? nf_pads_parse(rd.p, rd.left, &pads, &n_pads) : 0;

        if (!used || stage != v->stage || id_in >> FTVNF_ID_BITS) {
            ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        } else if (v->joining) {
            ft_emit_drop(out, FT_DROP_STALE, NULL, 0);     /* No image yet: fed again later. */
        } else if (flags & FTVNF_F_LIVE) {
            if (v->master) {
                vnf_master_packet(v, id_in, rd.p + used, rd.left - used, ev->now_ns, out);
            } else {
                ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
            }
        } else if (v->master && !v->taking_over) {
            ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        } else {
            vnf_slave_packet(v, id_in, order, pads, n_pads, rd.p + used, rd.left - used,
                             ev->now_ns, out);
        }
        free(pads);
    } else if (type == FTVNF_TAKEOVER && ev->from == v->manager && v->master
               && !v->taking_over) {
        /* Already promoted: our PROMOTED was lost. */
        vnf_tell_manager(v, FTVNF_PROMOTED, v->promoted_ns, out);
    } else if ((type == FTVNF_TAKEOVER || type == FTVNF_UPTO) && v->joining) {
        ft_emit_drop(out, FT_DROP_STALE, NULL, 0);         /* Nothing to take over with. */
    } else if (type == FTVNF_SYNC && ev->from == v->manager) {
        uint8_t stage = cursor_u8(&rd);
        uint32_t slave = cursor_be32(&rd);

        if (!cursor_done(&rd) || stage != v->stage) {
            ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        } else if (v->master) {
            v->sync = slave;
        }
    } else if (type == FTVNF_TAKEOVER && ev->from == v->manager && !v->master) {
        uint8_t stage = cursor_u8(&rd);
        size_t part = cursor_be16(&rd), parts = cursor_be16(&rd);
        size_t n = cursor_be16(&rd);

        if (!cursor_ok(&rd) || stage != v->stage || part >= parts) {
            ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
            return;
        }
        if (!v->taking_over || parts != v->takeover_n_parts) {
            /* A new list (or the manager's retry, cut otherwise): count its parts anew. */
            u64map_clear(&v->takeover_parts);
            v->takeover_n_parts = parts;
        }
        u64map_put(&v->takeover_parts, part, 1);
        v->taking_over = true;
        for (size_t i = 0; i < n && cursor_ok(&rd); i++) {
            uint64_t base = ftvnf_id_base(cursor_be64(&rd));
            uint8_t fwd = cursor_u8(&rd);
            if (cursor_ok(&rd) && fwd) {
                u64map_put(&v->takeover_fwd, base, 1);
            }
            if (cursor_ok(&rd) && !u64map_get(&v->seen, base, NULL)) {
                u64map_put(&v->takeover, base, 1);
            }
        }
        vnf_promote_if_ready(v, ev->now_ns, out);
    } else if (type == FTVNF_UPTO && ev->from == v->dplog) {
        uint8_t stage = cursor_u8(&rd);
        uint64_t order = cursor_be64(&rd);

        if (!cursor_done(&rd) || stage != v->stage) {
            ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        } else if (!v->master) {
            v->upto_set = true;
            v->upto = order;
            vnf_promote_if_ready(v, ev->now_ns, out);
        }
    } else if (type == FTVNF_ROUTE && ev->from == v->manager) {
        uint8_t stage = cursor_u8(&rd);
        uint32_t to = cursor_be32(&rd);
        struct buf msg = BUF_INITIALIZER;

        if (!cursor_ok(&rd) || stage != v->stage + 1) {
            ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
            return;
        }
        v->next = to;
        buf_put_u8(&msg, FTVNF_ROUTED);
        buf_put_u8(&msg, stage);
        buf_put_be32(&msg, to);
        ft_emit_send(out, v->manager, msg.data, msg.len);
        buf_uninit(&msg);
    } else {
        ft_emit_drop(out, FT_DROP_UNKNOWN_SENDER, NULL, 0);
    }
}

extern const struct ft_core_class ft_ftvnf_vnf_class;

/* A new slave takes its master's image (ftvnf.h: FTVNF_IMAGE_MAGIC): untrusted bytes, checked
 * whole before anything changes. */
static int
vnf_join(struct ftvnf_vnf *v, const uint8_t *data, size_t len)
{
    struct cursor rd, seqs;
    uint64_t order;
    size_t n;
    int error;

    cursor_init(&rd, data, len);
    if (cursor_be32(&rd) != FTVNF_IMAGE_MAGIC || cursor_u8(&rd) != v->stage) {
        return EINVAL;
    }
    order = cursor_be64(&rd);
    n = cursor_be32(&rd);
    seqs = rd;
    if (!cursor_ok(&rd) || n > rd.left / 16 || !cursor_bytes(&rd, n * 16)) {
        return EINVAL;
    }
    error = state_validate(rd.p, rd.left);
    if (error) {
        return error;
    }
    error = state_import(v->nf->state, rd.p, rd.left);
    if (error) {
        return error;
    }
    u64map_clear(&v->nf->det.seqs);
    for (size_t i = 0; i < n; i++) {
        uint64_t var = cursor_be64(&seqs);
        u64map_put(&v->nf->det.seqs, var, cursor_be64(&seqs));
    }
    v->order = v->joined_order = order;
    v->joining = false;
    v->joined = true;
    return 0;
}

int
ftvnf_vnf_image(const struct ft_core *core, struct buf *b)
{
    const struct ftvnf_vnf *v = (const struct ftvnf_vnf *) core;
    const struct u64map_slot *slot;
    size_t pos = 0, n_ofs;
    uint32_t n = 0;

    if (!core || core->class != &ft_ftvnf_vnf_class || !v->master || v->taking_over) {
        return EINVAL;
    }
    buf_put_be32(b, FTVNF_IMAGE_MAGIC);
    buf_put_u8(b, v->stage);
    buf_put_be64(b, v->order);
    n_ofs = b->len;
    buf_put_be32(b, 0);
    while (u64map_next(&v->nf->det.seqs, &pos, &slot)) {
        buf_put_be64(b, slot->key);
        buf_put_be64(b, slot->value);
        n++;
    }
    put_be32(b->data + n_ofs, n);
    state_export(v->nf->state, b);
    return 0;
}

static int
vnf_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct ftvnf_vnf *v = (struct ftvnf_vnf *) core;

    switch (ev->kind) {
    case FT_EV_START:
        vnf_retry(v, ev->now_ns, out);
        break;
    case FT_EV_TIMER:
        if (ev->timer == VNF_TIMER_DRAIN) {
            vnf_drain(v, ev->now_ns, out);
        } else {
            vnf_retry(v, ev->now_ns, out);
        }
        break;
    case FT_EV_PACKET:
        if (ev->len < 8 || (ev->data[0] & 0xf0)) {
            ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        } else if (!v->master) {
            ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        } else {
            uint64_t id = 0;
            for (int i = 0; i < 8; i++) {
                id = id << 8 | ev->data[i];
            }
            if (id >> FTVNF_ID_BITS) {
                ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
            } else {
                vnf_master_packet(v, id, ev->data + 8, ev->len - 8, ev->now_ns, out);
            }
        }
        break;
    case FT_EV_PEER_MSG:
        vnf_peer(v, ev, out);
        break;
    case FT_EV_STATE:
        if (!v->joining || vnf_join(v, ev->data, ev->len)) {
            ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        } else {
            ft_emit_note(out, "stage %u: new slave imported its master's image at order %"PRIu64,
                         v->stage, v->joined_order);
            vnf_tell_manager(v, FTVNF_JOINED, v->joined_order, out);
        }
        break;
    default:
        break;
    }
    return 0;
}

/* The function's state (FTvNF compares a slave's with its master's). */
static int
vnf_export(const struct ft_core *core, struct buf *b)
{
    const struct ftvnf_vnf *v = (const struct ftvnf_vnf *) core;

    state_export(v->nf->state, b);
    return 0;
}

const struct ft_core_class ft_ftvnf_vnf_class = {
    .name = "ftvnf_vnf",
    .summary = "FTvNF master or slave copy of a VNF (determinants logged or replayed)",
    .create = vnf_create,
    .destroy = vnf_destroy,
    .step = vnf_step,
    .export_state = vnf_export,
};
