/* FTvNF's loggers (ftvnf.h): packet logger, D&P logger, slaves' progress logger. One core
 * each, sharing the append-only record list the manager reads with a cursor.
 *
 * A logger keeps its records in memory; making them survive the logger's own crash is the
 * driver's job (sfcd appends every record it acknowledges to a file first). Everything is
 * idempotent: a record sent twice is stored once and acknowledged twice. */
#include "vnfs/ft/ftvnf/ftvnf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/util.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/u64map.h"

/* Bytes of records per LIST answer: one peer message in one frame of a 1500-byte MTU (sfcd
 * ftvnf), with its seal and Ethernet header. */
#define FTVNF_LIST_BUDGET 1200

enum ftvnf_logger_kind { LOGGER_PKT, LOGGER_DP, LOGGER_PROGRESS };

struct logger_rec {
    uint64_t base;              /* Base id of the packet it is about. */
    uint8_t stage;
    bool deleted;
    struct buf bytes;           /* As listed. */
};

struct logger_pkt {
    struct buf versions[FTVNF_MAX_VERSION + 1];     /* [0] the base packet, [v] v's delta. */
    uint32_t have;              /* Bit v: version v stored. */
};

struct ftvnf_logger {
    struct ft_core up;
    enum ftvnf_logger_kind kind;
    uint32_t self;
    uint32_t manager;
    uint32_t *writers;          /* Who may log: the config's group. */
    size_t n_writers;
    struct logger_rec *recs;    /* recs[i] has cursor first + i. */
    size_t n_recs, cap_recs;
    uint64_t first;
    struct u64map seen;         /* (base id | stage << 40) -> 1: stored once. */
    struct u64map pkts;         /* Packet logger: base id -> struct logger_pkt *. */
    /* D&P logger: each variable's last value, saved from the PADs of deleted records:
     * (stage << 32 | var) -> index into 'last'. */
    uint64_t max_order[FTVNF_MAX_STAGES];  /* D&P logger: the highest order logged. */
    struct u64map last_idx;
    struct nf_pad *last;
    size_t n_last, cap_last;
};

static int
logger_create(const struct ft_config *cfg, struct ft_core **corep, char **errp,
              enum ftvnf_logger_kind kind)
{
    struct ftvnf_logger *l;

    if (cfg->n_peers != 1 || !cfg->n_group) {
        if (errp) {
            *errp = xasprintf("ftvnf loggers: peers = [manager], group = who logs");
        }
        return EINVAL;
    }
    l = xzalloc(sizeof *l);
    l->kind = kind;
    l->self = cfg->self;
    l->manager = cfg->peers[0];
    l->writers = xmalloc(cfg->n_group * sizeof *cfg->group);
    memcpy(l->writers, cfg->group, cfg->n_group * sizeof *cfg->group);
    l->n_writers = cfg->n_group;
    u64map_init(&l->seen);
    u64map_init(&l->pkts);
    u64map_init(&l->last_idx);
    *corep = &l->up;
    return 0;
}

static int
plog_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    return logger_create(cfg, corep, errp, LOGGER_PKT);
}

static int
dplog_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    return logger_create(cfg, corep, errp, LOGGER_DP);
}

static int
proglog_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    return logger_create(cfg, corep, errp, LOGGER_PROGRESS);
}

static void
logger_pkt_free(struct logger_pkt *p)
{
    for (size_t v = 0; v <= FTVNF_MAX_VERSION; v++) {
        buf_uninit(&p->versions[v]);
    }
    free(p);
}

static void
logger_destroy(struct ft_core *core)
{
    struct ftvnf_logger *l = (struct ftvnf_logger *) core;
    const struct u64map_slot *slot;
    size_t pos = 0;

    while (u64map_next(&l->pkts, &pos, &slot)) {
        logger_pkt_free((struct logger_pkt *) (uintptr_t) slot->value);
    }
    for (size_t i = 0; i < l->n_recs; i++) {
        buf_uninit(&l->recs[i].bytes);
    }
    free(l->recs);
    free(l->writers);
    free(l->last);
    u64map_destroy(&l->seen);
    u64map_destroy(&l->pkts);
    u64map_destroy(&l->last_idx);
    free(l);
}

static bool
logger_writer(const struct ftvnf_logger *l, uint32_t from)
{
    for (size_t i = 0; i < l->n_writers; i++) {
        if (l->writers[i] == from) {
            return true;
        }
    }
    return false;
}

/* Appends a record unless (base, stage) is already stored; true if new. */
static bool
logger_append(struct ftvnf_logger *l, uint64_t base, uint8_t stage, const uint8_t *bytes,
              size_t len)
{
    uint64_t key = base | (uint64_t) stage << 40;
    struct logger_rec *r;

    if (u64map_get(&l->seen, key, NULL)) {
        return false;
    }
    u64map_put(&l->seen, key, 1);
    if (l->n_recs >= l->cap_recs) {
        l->recs = x2nrealloc(l->recs, &l->cap_recs, sizeof *l->recs);
    }
    r = &l->recs[l->n_recs++];
    r->base = base;
    r->stage = stage;
    r->deleted = false;
    buf_init(&r->bytes);
    buf_put(&r->bytes, bytes, len);
    return true;
}

/* Saves the last value of each variable a deleted D&P record read (the highest sequence). */
static void
logger_save_last(struct ftvnf_logger *l, const struct logger_rec *r)
{
    struct ftvnf_dp dp;

    if (l->kind != LOGGER_DP || !ftvnf_dp_parse(r->bytes.data, r->bytes.len, &dp)) {
        return;
    }
    for (size_t i = 0; i < dp.n_pads; i++) {
        const struct nf_pad *pad = &dp.pads[i];
        uint64_t key = (uint64_t) dp.stage << 32 | pad->var, idx;

        if (!u64map_get(&l->last_idx, key, &idx)) {
            if (l->n_last >= l->cap_last) {
                l->last = x2nrealloc(l->last, &l->cap_last, sizeof *l->last);
            }
            idx = l->n_last++;
            l->last[idx] = (struct nf_pad) { .var = pad->var };
            u64map_put(&l->last_idx, key, idx);
        }
        if (pad->seq > l->last[idx].seq) {
            l->last[idx].seq = pad->seq;
            if (pad->kind != NF_PAD_SET) {
                l->last[idx].kind = pad->kind;
                l->last[idx].value = pad->value;
            }
        }
    }
    free(dp.pads);
}

static void
logger_delete(struct ftvnf_logger *l, uint64_t base)
{
    uint64_t v;

    if (u64map_remove(&l->pkts, base, &v)) {
        logger_pkt_free((struct logger_pkt *) (uintptr_t) v);
    }
    /* Records of one packet are few and recent: scan from the end of the live window. */
    for (size_t i = l->n_recs; i-- > 0;) {
        struct logger_rec *r = &l->recs[i];

        if (r->base == base && !r->deleted) {
            logger_save_last(l, r);
            r->deleted = true;
            buf_uninit(&r->bytes);
            u64map_remove(&l->seen, base | (uint64_t) r->stage << 40, NULL);
        }
    }
    /* Drop the deleted prefix, keeping cursors stable. */
    size_t k = 0;
    while (k < l->n_recs && l->recs[k].deleted) {
        k++;
    }
    if (k) {
        memmove(l->recs, l->recs + k, (l->n_recs - k) * sizeof *l->recs);
        l->n_recs -= k;
        l->first += k;
    }
}

static void
logger_list(struct ftvnf_logger *l, uint64_t cursor, struct ft_actions *out)
{
    struct buf msg = BUF_INITIALIZER;
    size_t n_ofs, n = 0;
    uint64_t i = MAX(cursor, l->first);

    buf_put_u8(&msg, FTVNF_LIST);
    buf_put_be64(&msg, cursor);
    buf_put_be64(&msg, 0);              /* next: filled below */
    buf_put_u8(&msg, 0);                /* more */
    n_ofs = msg.len;
    buf_put_be16(&msg, 0);
    for (; i < l->first + l->n_recs; i++) {
        const struct logger_rec *r = &l->recs[i - l->first];

        if (r->deleted) {
            continue;
        }
        if (msg.len + r->bytes.len > FTVNF_LIST_BUDGET || n == UINT16_MAX) {
            msg.data[17] = 1;
            break;
        }
        buf_put(&msg, r->bytes.data, r->bytes.len);
        n++;
    }
    for (int k = 0; k < 8; k++) {
        msg.data[9 + k] = i >> (56 - 8 * k);
    }
    msg.data[n_ofs] = n >> 8;
    msg.data[n_ofs + 1] = n;
    ft_emit_send(out, l->manager, msg.data, msg.len);
    buf_uninit(&msg);
}

/* Appends the packet at version 'v' to 'out': the base and deltas 1..v. False if some part
 * is missing or a delta does not apply. */
static bool
plog_build(struct ftvnf_logger *l, uint64_t id, struct buf *out)
{
    struct buf pkt = BUF_INITIALIZER;
    struct logger_pkt *p;
    bool ok = false;
    uint64_t v;

    if (!u64map_get(&l->pkts, ftvnf_id_base(id), &v)) {
        goto out;
    }
    p = (struct logger_pkt *) (uintptr_t) v;
    if (!(p->have & 1)) {
        goto out;
    }
    buf_put(&pkt, p->versions[0].data, p->versions[0].len);
    for (unsigned ver = 1; ver <= ftvnf_id_version(id); ver++) {
        if (!(p->have & (1u << ver))
            || ftvnf_delta_apply(&pkt, p->versions[ver].data, p->versions[ver].len)) {
            goto out;
        }
    }
    buf_put(out, pkt.data, pkt.len);
    ok = true;
out:
    buf_uninit(&pkt);
    return ok;
}

static void
plog_store(struct ftvnf_logger *l, uint64_t id, const uint8_t *bytes, size_t len)
{
    uint64_t base = ftvnf_id_base(id), v;
    unsigned ver = ftvnf_id_version(id);
    struct logger_pkt *p;
    uint8_t rec[8];

    if (u64map_get(&l->pkts, base, &v)) {
        p = (struct logger_pkt *) (uintptr_t) v;
    } else {
        p = xzalloc(sizeof *p);
        u64map_put(&l->pkts, base, (uintptr_t) p);
        for (int k = 0; k < 8; k++) {
            rec[k] = base >> (56 - 8 * k);
        }
        logger_append(l, base, 0, rec, sizeof rec);
    }
    if (!(p->have & (1u << ver))) {
        buf_put(&p->versions[ver], bytes, len);
        p->have |= 1u << ver;
    }
}

static void
plog_replay(struct ftvnf_logger *l, struct cursor *rd, struct ft_actions *out)
{
    uint32_t to = cursor_be32(rd);
    uint8_t stage = cursor_u8(rd), flags = cursor_u8(rd);
    size_t n = cursor_be16(rd);
    struct buf msg = BUF_INITIALIZER;

    for (size_t i = 0; i < n && cursor_ok(rd); i++) {
        uint64_t id = cursor_be64(rd), order = cursor_be64(rd);
        const uint8_t *pads = rd->p;
        struct nf_pad *parsed;
        size_t n_pads, used = nf_pads_parse(rd->p, rd->left, &parsed, &n_pads);

        if (!used || !cursor_ok(rd)) {
            break;
        }
        free(parsed);
        cursor_bytes(rd, used);
        buf_clear(&msg);
        buf_put_u8(&msg, FTVNF_SLAVE_PKT);
        buf_put_u8(&msg, stage);
        buf_put_u8(&msg, flags);
        buf_put_be64(&msg, id);
        buf_put_be64(&msg, order);
        buf_put(&msg, pads, used);
        if (plog_build(l, id, &msg)) {
            ft_emit_send(out, to, msg.data, msg.len);
        } else {
            ft_emit_note(out, "packet logger: no packet %#"PRIx64" to replay", id);
        }
    }
    buf_uninit(&msg);
}

/* A LOG_PKT body, id(8) delta(1) bytes: stored (a version above 0 is a delta). */
static bool
plog_store_rec(struct ftvnf_logger *l, const uint8_t *body, size_t len, uint64_t *idp)
{
    struct cursor rd;
    uint64_t id;
    uint8_t delta;

    cursor_init(&rd, body, len);
    id = cursor_be64(&rd);
    delta = cursor_u8(&rd);
    if (!cursor_ok(&rd) || id >> FTVNF_ID_BITS
        || (delta != 0) != (ftvnf_id_version(id) != 0)) {
        return false;
    }
    plog_store(l, id, rd.p, rd.left);
    *idp = id;
    return true;
}

/* A D&P record: stored once; '*dp' gets its header (no PADs). */
static bool
dplog_store_rec(struct ftvnf_logger *l, const uint8_t *body, size_t len, struct ftvnf_dp *dp)
{
    size_t used = ftvnf_dp_parse(body, len, dp);

    if (used) {
        free(dp->pads);
        dp->pads = NULL;
    }
    if (used != len) {
        return false;
    }
    l->max_order[dp->stage] = MAX(l->max_order[dp->stage], dp->order);
    logger_append(l, ftvnf_id_base(dp->id_in), dp->stage, body, len);
    return true;
}

/* The last logger of a carrier feeds the master's slave at once: the carried packet (the
 * version the master received) with the master's PADs and order number. */
static void
logger_sync(const struct ftvnf_carry *c, struct ft_actions *out)
{
    const struct ftvnf_carry_rec *rec = NULL;
    struct buf msg = BUF_INITIALIZER;
    struct ftvnf_dp dp;

    for (size_t i = 0; i < c->n_recs && !rec; i++) {
        rec = c->recs[i].type == FTVNF_LOG_DP ? &c->recs[i] : NULL;
    }
    if (c->sync == FT_ENDPOINT_NONE || !rec || !ftvnf_dp_parse(rec->body, rec->len, &dp)) {
        return;
    }
    free(dp.pads);
    if (dp.id_in == c->id) {
        buf_put_u8(&msg, FTVNF_SLAVE_PKT);
        buf_put_u8(&msg, dp.stage);
        buf_put_u8(&msg, 0);
        buf_put_be64(&msg, dp.id_in);
        buf_put_be64(&msg, dp.order);
        buf_put(&msg, rec->body + FTVNF_DP_HDR_LEN, rec->len - FTVNF_DP_HDR_LEN);
        buf_put(&msg, c->payload, c->len);
        ft_emit_send(out, c->sync, msg.data, msg.len);
    }
    buf_uninit(&msg);
}

/* The packet a carrier's last logger sends on: the carried one as it is (no copy), or, if the
 * master changed it, with the LOG_PKT record's delta applied, at that record's id. */
static void
logger_send_on(const struct ftvnf_carry *c, const uint8_t *data, size_t len,
               struct ft_actions *out)
{
    const struct ftvnf_carry_rec *rec = NULL;
    struct buf pkt = BUF_INITIALIZER, body = BUF_INITIALIZER;
    struct cursor rd;
    uint64_t id;

    for (size_t i = 0; i < c->n_recs && !rec; i++) {
        rec = c->recs[i].type == FTVNF_LOG_PKT ? &c->recs[i] : NULL;
    }
    if (!rec) {
        ft_emit_forward(out, c->to, data + c->plain_ofs, len - c->plain_ofs);
        return;
    }
    cursor_init(&rd, rec->body, rec->len);
    id = cursor_be64(&rd);
    cursor_u8(&rd);
    buf_put(&body, c->payload, c->len);
    if (!cursor_ok(&rd) || ftvnf_delta_apply(&body, rd.p, rd.left)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
    } else {
        buf_put_be64(&pkt, id);
        buf_put(&pkt, body.data, body.len);
        ft_emit_forward(out, c->to, pkt.data, pkt.len);
    }
    buf_uninit(&body);
    buf_uninit(&pkt);
}

/* A log carrier on the data path: the records for us are stored, then the carrier goes to
 * the next record's logger, or (we are the last) the packet goes on and the slave is fed.
 * A record for no logger (FT_ENDPOINT_NONE) is not stored: the delta of a version nobody
 * will replay (the chain's last stage's output), which the last logger applies. Idempotent
 * like every store: a carrier sent twice is stored once and sent on twice. */
static void
logger_carry(struct ftvnf_logger *l, const struct ft_event *ev, struct ft_actions *out)
{
    struct ftvnf_carry c;
    size_t k = 0, next;

    if (!ftvnf_carry_parse(ev->data, ev->len, &c)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        return;
    }
    while (k < c.n_recs && c.recs[k].logger != l->self) {
        k++;
    }
    if (k == c.n_recs) {
        ft_emit_drop(out, FT_DROP_UNKNOWN_SENDER, NULL, 0);
        return;
    }
    for (next = k; next < c.n_recs && (c.recs[next].logger == l->self
                                       || c.recs[next].logger == FT_ENDPOINT_NONE); next++) {
        const struct ftvnf_carry_rec *r = &c.recs[next];
        struct ftvnf_dp dp;
        uint64_t id;
        bool ok;

        if (r->logger == FT_ENDPOINT_NONE) {
            ok = r->type == FTVNF_LOG_PKT;
        } else if (r->type == FTVNF_LOG_BASE && l->kind == LOGGER_PKT) {
            struct cursor rd;
            cursor_init(&rd, r->body, r->len);
            id = cursor_be64(&rd);
            ok = cursor_done(&rd) && id == c.id && !ftvnf_id_version(id);
            if (ok) {
                plog_store(l, id, c.payload, c.len);
            }
        } else if (r->type == FTVNF_LOG_PKT && l->kind == LOGGER_PKT) {
            ok = plog_store_rec(l, r->body, r->len, &id);
        } else if (r->type == FTVNF_LOG_DP && l->kind == LOGGER_DP) {
            ok = dplog_store_rec(l, r->body, r->len, &dp);
        } else {
            ok = false;
        }
        if (!ok) {
            ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
            return;
        }
    }
    if (next < c.n_recs) {
        ft_emit_forward(out, c.recs[next].logger, ev->data, ev->len);
        return;
    }
    /* The packet first, then the slave's copy: the frame on the packet's path leaves (and is
     * in the switch's queue) before we seal and send the one off it. */
    if (c.to != FT_ENDPOINT_NONE) {
        logger_send_on(&c, ev->data, ev->len, out);
    }
    logger_sync(&c, out);
}

static int
logger_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct ftvnf_logger *l = (struct ftvnf_logger *) core;
    struct cursor rd;
    struct buf ack = BUF_INITIALIZER;
    uint8_t type;

    if (ev->kind != FT_EV_PEER_MSG && ev->kind != FT_EV_PACKET) {
        return 0;
    }
    cursor_init(&rd, ev->data, ev->len);
    type = cursor_u8(&rd);
    bool from_manager = ev->from == l->manager;
    bool from_writer = logger_writer(l, ev->from);

    if (ev->kind == FT_EV_PACKET) {
        logger_carry(l, ev, out);
        return 0;
    }
    if (type == FTVNF_LOG_PKT && l->kind == LOGGER_PKT && from_writer) {
        uint64_t id;

        if (!plog_store_rec(l, rd.p, rd.left, &id)) {
            goto malformed;
        }
        buf_put_u8(&ack, FTVNF_ACK_PKT);
        buf_put_be64(&ack, id);
        ft_emit_send(out, ev->from, ack.data, ack.len);
    } else if (type == FTVNF_LOG_DP && l->kind == LOGGER_DP && from_writer) {
        struct ftvnf_dp dp;

        if (!dplog_store_rec(l, rd.p, rd.left, &dp)) {
            goto malformed;
        }
        buf_put_u8(&ack, FTVNF_ACK_DP);
        buf_put_u8(&ack, dp.stage);
        buf_put_be64(&ack, dp.id_in);
        ft_emit_send(out, ev->from, ack.data, ack.len);
    } else if (type == FTVNF_PROGRESS && l->kind == LOGGER_PROGRESS && from_writer) {
        uint8_t stage = cursor_u8(&rd);
        uint64_t id = cursor_be64(&rd);

        if (!cursor_done(&rd) || stage >= FTVNF_MAX_STAGES) {
            goto malformed;
        }
        logger_append(l, ftvnf_id_base(id), stage, ev->data + 1, 9);
    } else if (type == FTVNF_LIST_REQ && from_manager) {
        uint64_t cursor = cursor_be64(&rd);

        if (!cursor_ok(&rd)) {
            goto malformed;
        }
        logger_list(l, cursor, out);
    } else if (type == FTVNF_UPTO_REQ && l->kind == LOGGER_DP && from_manager) {
        uint8_t stage = cursor_u8(&rd);
        uint32_t slave = cursor_be32(&rd);

        if (!cursor_done(&rd) || stage >= FTVNF_MAX_STAGES || slave == FT_ENDPOINT_NONE) {
            goto malformed;
        }
        buf_put_u8(&ack, FTVNF_UPTO);
        buf_put_u8(&ack, stage);
        buf_put_be64(&ack, l->max_order[stage]);
        ft_emit_send(out, slave, ack.data, ack.len);
    } else if (type == FTVNF_REPLAY && l->kind == LOGGER_PKT && from_manager) {
        plog_replay(l, &rd, out);
    } else if (type == FTVNF_DELETE && from_manager) {
        size_t n = cursor_be16(&rd);

        for (size_t i = 0; i < n && cursor_ok(&rd); i++) {
            uint64_t base = cursor_be64(&rd);
            if (cursor_ok(&rd)) {
                logger_delete(l, ftvnf_id_base(base));
            }
        }
    } else if (!from_manager && !from_writer) {
        ft_emit_drop(out, FT_DROP_UNKNOWN_SENDER, NULL, 0);
    } else {
        goto malformed;
    }
    buf_uninit(&ack);
    return 0;

malformed:
    ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
    buf_uninit(&ack);
    return 0;
}

/* State export for tests and `sfcd` persistence checks: record count and live cursor. */
static int
logger_export(const struct ft_core *core, struct buf *b)
{
    const struct ftvnf_logger *l = (const struct ftvnf_logger *) core;

    buf_put_be64(b, l->first);
    buf_put_be64(b, l->n_recs);
    buf_put_be64(b, u64map_count(&l->pkts));
    buf_put_be64(b, l->n_last);
    return 0;
}

const struct ft_core_class ft_ftvnf_packet_logger_class = {
    .name = "ftvnf_packet_logger",
    .summary = "FTvNF packet logger: base packets and per-version deltas",
    .create = plog_create, .destroy = logger_destroy, .step = logger_step,
    .export_state = logger_export,
};

const struct ft_core_class ft_ftvnf_dp_logger_class = {
    .name = "ftvnf_dp_logger",
    .summary = "FTvNF D&P logger: masters' determinants and the packets' progress",
    .create = dplog_create, .destroy = logger_destroy, .step = logger_step,
    .export_state = logger_export,
};

const struct ft_core_class ft_ftvnf_progress_logger_class = {
    .name = "ftvnf_progress_logger",
    .summary = "FTvNF slaves' progress logger",
    .create = proglog_create, .destroy = logger_destroy, .step = logger_step,
    .export_state = logger_export,
};
