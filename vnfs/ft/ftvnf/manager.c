/* ftvnf_manager — FTvNF's manager (ftvnf.h): feeds slaves, cleans the loggers, and runs a
 * master's recovery. Stateless: everything it knows it reads back from the loggers. */
#include "vnfs/ft/ftvnf/ftvnf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/util.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/u64map.h"

#define MGR_TIMER_PERIOD 1
/* Per REPLAY / DELETE message: with its seal and Ethernet header within a 1500-byte MTU
 * (sfcd ftvnf carries peer messages in single frames). */
#define MGR_BATCH_BYTES 1200
#define MGR_AIR_PERIODS 8       /* A replay not reported after this many periods is resent, */
#define MGR_AIR_MIN_NS 250000000ull /* and not sooner: a slave that did not run for a while
                                     * must not be sent everything it owes again each round. */
#define MGR_RETRY_PERIODS 20    /* A poll, TAKEOVER or ROUTE unanswered this long is redone. */
/* Packets resent to a master per second, spread over the rounds: a burst would be lost in
 * the switch's queues on the way back out, where nobody can resend it. */
#define MGR_LIVE_PER_SEC 2000

enum mgr_logger { MGR_PLOG, MGR_DPLOG, MGR_PROGLOG, MGR_N_LOGGERS };

enum mgr_stage_state {
    STAGE_NORMAL,               /* Master and slave; slave fed every period. */
    STAGE_FAILING,              /* Master down: next round sends M\S and TAKEOVER. */
    STAGE_CATCHUP,              /* Waiting for the slave's PROMOTED. */
    STAGE_ROUTING,              /* Waiting for the upstream's ROUTED. */
    STAGE_INFLIGHT,             /* Next round resends what the dead master never logged. */
    STAGE_ALONE,                /* A master, no slave (until the driver makes a new one). */
    STAGE_JOINING,              /* A new slave imports its master's image: nothing is deleted
                                 * (every record after the image must stay), nobody fed. */
};

struct mgr_rec {
    struct ftvnf_dp dp;
    uint64_t seen_ns;           /* When the manager first read it. */
    bool deleted;
};

struct mgr_stage {
    uint32_t master, slave;
    uint32_t copies[2];         /* The stage's two endpoints (group): either may be either. */
    enum mgr_stage_state state;
    struct mgr_rec *recs;       /* D&P records in the master's order. */
    size_t n_recs, cap_recs;
    struct u64map rec_idx;      /* base -> index + 1 */
    struct u64map progress;     /* base -> 1: the slave finished it. */
    struct u64map air;          /* base -> time sent to the slave. */
    struct u64map live_air;     /* base -> time resent to the master. */
    uint64_t failed_at;
    uint64_t promoted_at;
    uint64_t catchup;
    uint64_t asked_at;          /* When TAKEOVER or ROUTE was last sent. */
    uint64_t progress_at;       /* When the slave last reported a packet done. */
    uint64_t last_order;        /* The highest order number read from the stage's log. */
    uint64_t lost_at;           /* When its master died with no slave (0: never). */
};

struct ftvnf_manager {
    struct ft_core up;
    size_t n_stages;
    uint64_t period;
    uint64_t retain;            /* How long a finished packet is kept before it is deleted. */
    uint64_t resend;            /* A packet that reached no log of a stage this long is resent. */
    uint64_t reforward;         /* Takeover re-forwards what was read this long before the
                                 * failure notice or later (0: nothing). */
    uint64_t feed_after;        /* A record is fed to the slave once read this long ago. */
    bool sync;                  /* Masters feed their slaves on the path: name a new one. */
    uint64_t poll_at;
    uint32_t sequencer;
    uint32_t loggers[MGR_N_LOGGERS];
    uint64_t cursor[MGR_N_LOGGERS];
    bool waiting[MGR_N_LOGGERS];
    bool polling, poll_again;
    uint64_t now;
    struct u64map pkts;         /* base -> when first read from the packet logger. */
    struct u64map done_since;   /* base -> when it was first seen finished. */
    struct mgr_stage stages[FTVNF_MAX_STAGES];
};

static int
mgr_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct ftvnf_manager *m;
    uint64_t n, period, retain, resend, reforward, feed_after, sync;
    int error;

    if ((error = ft_config_u64(cfg, "stages", 1, &n, errp))
        || (error = ft_config_duration(cfg, "manager_period", 1000000, &period, errp))
        || (error = ft_config_duration(cfg, "retain", 50000000, &retain, errp))
        || (error = ft_config_duration(cfg, "resend", 100000000, &resend, errp))
        || (error = ft_config_duration(cfg, "reforward", 1000000000, &reforward, errp))
        || (error = ft_config_duration(cfg, "feed_after", 0, &feed_after, errp))
        || (error = ft_config_u64(cfg, "sync", 0, &sync, errp))) {
        return error;
    }
    if (!n || n > FTVNF_MAX_STAGES || !period || cfg->n_group != 1 + 2 * n
        || cfg->n_peers != MGR_N_LOGGERS) {
        if (errp) {
            *errp = xasprintf("ftvnf_manager: stages 1-%d, group = [sequencer, masters, "
                              "slaves], peers = [packet, D&P, progress loggers]",
                              FTVNF_MAX_STAGES);
        }
        return EINVAL;
    }
    m = xzalloc(sizeof *m);
    m->n_stages = n;
    m->period = period;
    m->retain = retain;
    m->resend = resend;
    m->reforward = reforward;
    m->feed_after = feed_after;
    m->sync = sync;
    m->sequencer = cfg->group[0];
    for (size_t i = 0; i < MGR_N_LOGGERS; i++) {
        m->loggers[i] = cfg->peers[i];
    }
    u64map_init(&m->pkts);
    u64map_init(&m->done_since);
    for (size_t i = 0; i < n; i++) {
        struct mgr_stage *s = &m->stages[i];
        s->master = cfg->group[1 + i];
        s->slave = cfg->group[1 + n + i];
        s->copies[0] = s->master;
        s->copies[1] = s->slave;
        u64map_init(&s->rec_idx);
        u64map_init(&s->progress);
        u64map_init(&s->air);
        u64map_init(&s->live_air);
    }
    *corep = &m->up;
    return 0;
}

static void
mgr_destroy(struct ft_core *core)
{
    struct ftvnf_manager *m = (struct ftvnf_manager *) core;

    for (size_t i = 0; i < m->n_stages; i++) {
        struct mgr_stage *s = &m->stages[i];
        for (size_t k = 0; k < s->n_recs; k++) {
            free(s->recs[k].dp.pads);
        }
        free(s->recs);
        u64map_destroy(&s->rec_idx);
        u64map_destroy(&s->progress);
        u64map_destroy(&s->air);
        u64map_destroy(&s->live_air);
    }
    u64map_destroy(&m->pkts);
    u64map_destroy(&m->done_since);
    free(m);
}

static const struct ftvnf_dp *
mgr_rec(const struct mgr_stage *s, uint64_t base)
{
    uint64_t idx;

    return u64map_get(&s->rec_idx, base, &idx) ? &s->recs[idx - 1].dp : NULL;
}

static void
mgr_poll(struct ftvnf_manager *m, struct ft_actions *out)
{
    if (m->polling) {
        m->poll_again = true;
        return;
    }
    m->polling = true;
    m->poll_at = m->now;
    for (size_t i = 0; i < MGR_N_LOGGERS; i++) {
        uint8_t msg[9] = { FTVNF_LIST_REQ };

        for (int k = 0; k < 8; k++) {
            msg[1 + k] = m->cursor[i] >> (56 - 8 * k);
        }
        m->waiting[i] = true;
        ft_emit_send(out, m->loggers[i], msg, sizeof msg);
    }
}

/* Sends 'n' REPLAY entries of 'ids' (with their D&P records' PADs, or none) in batches. */
static void
mgr_replay(struct ftvnf_manager *m, struct mgr_stage *s, uint8_t stage, uint32_t to,
           uint8_t flags, const uint64_t *ids, const struct ftvnf_dp *const *dps, size_t n,
           struct ft_actions *out)
{
    struct buf msg = BUF_INITIALIZER;
    size_t i = 0;

    while (i < n) {
        size_t n_ofs, k = 0;

        buf_clear(&msg);
        buf_put_u8(&msg, FTVNF_REPLAY);
        buf_put_be32(&msg, to);
        buf_put_u8(&msg, stage);
        buf_put_u8(&msg, flags);
        n_ofs = msg.len;
        buf_put_be16(&msg, 0);
        for (; i < n && (k == 0 || msg.len < MGR_BATCH_BYTES); i++, k++) {
            buf_put_be64(&msg, ids[i]);
            buf_put_be64(&msg, dps && dps[i] ? dps[i]->order : 0);
            if (dps && dps[i]) {
                nf_pads_put(&msg, dps[i]->pads, dps[i]->n_pads);
            } else {
                nf_pads_put(&msg, NULL, 0);
            }
            if (s && !flags) {
                u64map_put(&s->air, ftvnf_id_base(ids[i]), m->now);
            }
        }
        msg.data[n_ofs] = k >> 8;
        msg.data[n_ofs + 1] = k;
        ft_emit_send(out, m->loggers[MGR_PLOG], msg.data, msg.len);
    }
    buf_uninit(&msg);
}

/* What the slave of 's' has not finished and is not in the air: M\S, in the master's order.
 * In normal operation ('fresh' false) only records read 'feed_after' ago or more: the loggers
 * feed slaves on the path, and what they fed is done by then. */
static void
mgr_feed_slave(struct ftvnf_manager *m, size_t i, bool include_air, struct ft_actions *out)
{
    struct mgr_stage *s = &m->stages[i];
    uint64_t *ids = xmalloc((s->n_recs + 1) * sizeof *ids);
    const struct ftvnf_dp **dps = xmalloc((s->n_recs + 1) * sizeof *dps);
    size_t n = 0;

    for (size_t k = 0; k < s->n_recs; k++) {
        const struct mgr_rec *r = &s->recs[k];
        uint64_t base = ftvnf_id_base(r->dp.id_in), sent;

        if (r->deleted || r->dp.stateless || u64map_get(&s->progress, base, NULL)
            || (!include_air && s->state == STAGE_NORMAL
                && m->now - r->seen_ns < m->feed_after)) {
            continue;
        }
        if (!include_air && u64map_get(&s->air, base, &sent)
            && m->now - sent < MAX(MGR_AIR_PERIODS * m->period, MGR_AIR_MIN_NS)) {
            continue;
        }
        ids[n] = r->dp.id_in;
        dps[n++] = &r->dp;
    }
    mgr_replay(m, s, i, s->slave, 0, ids, dps, n, out);
    free(ids);
    free(dps);
}

/* The master of stage i failed: its slave catches up on M\S, then takes over. The list
 * goes in parts of MGR_BATCH_BYTES, each numbered, so every message fits in a frame. */
static void
mgr_takeover(struct ftvnf_manager *m, size_t i, struct ft_actions *out)
{
    struct mgr_stage *s = &m->stages[i];
    struct buf *parts = NULL;
    size_t n_parts = 0, cap_parts = 0, n = 0, n_ofs = 0, k_part = 0;

    mgr_feed_slave(m, i, false, out);
    for (size_t k = 0; k <= s->n_recs; k++) {
        const struct mgr_rec *r = k < s->n_recs ? &s->recs[k] : NULL;
        uint64_t base = r ? ftvnf_id_base(r->dp.id_in) : 0;
        struct buf *b;
        bool fwd = false;

        if (r) {
            /* Re-forward what may not have left the dead master: not yet seen downstream
             * (after the last stage nothing is logged: the egress drops copies by id). A
             * master forwards as soon as both loggers acknowledged, so only records logged
             * just before the crash are at risk: those read after failed_at - reforward
             * (which must exceed the failure detection time plus a period). */
            fwd = r->dp.verdict != FTVNF_DROPPED && m->reforward
                  && r->seen_ns + m->reforward >= s->failed_at
                  && (i + 1 >= m->n_stages || !mgr_rec(&m->stages[i + 1], base));
            if (r->deleted
                || ((r->dp.stateless || u64map_get(&s->progress, base, NULL)) && !fwd)) {
                continue;
            }
        }
        if (!n_parts || (r && parts[n_parts - 1].len >= MGR_BATCH_BYTES)) {
            if (n_parts) {
                b = &parts[n_parts - 1];
                b->data[n_ofs] = k_part >> 8;
                b->data[n_ofs + 1] = k_part;
            }
            if (n_parts >= cap_parts) {
                parts = x2nrealloc(parts, &cap_parts, sizeof *parts);
            }
            b = &parts[n_parts++];
            buf_init(b);
            buf_put_u8(b, FTVNF_TAKEOVER);
            buf_put_u8(b, i);
            buf_put_be16(b, n_parts - 1);
            buf_put_be16(b, 0);             /* parts: below */
            n_ofs = b->len;
            buf_put_be16(b, 0);
            k_part = 0;
        }
        b = &parts[n_parts - 1];
        if (!r) {
            b->data[n_ofs] = k_part >> 8;
            b->data[n_ofs + 1] = k_part;
            break;
        }
        buf_put_be64(b, r->dp.id_in);
        buf_put_u8(b, fwd);
        k_part++;
        n++;
    }
    for (size_t p = 0; p < n_parts; p++) {
        parts[p].data[4] = n_parts >> 8;
        parts[p].data[5] = n_parts;
        ft_emit_send(out, s->slave, parts[p].data, parts[p].len);
        buf_uninit(&parts[p]);
    }
    free(parts);
    s->catchup = n;
    ft_emit_note(out, "stage %zu: master failed; slave replays M\\S = %zu packets and takes "
                 "over", i, n);
    s->state = STAGE_CATCHUP;
    s->asked_at = m->now;
}

/* Packets that reached stage i's input (the packet logger for stage 0, stage i-1's log
 * otherwise) but not stage i's log for 'age' or longer are (re)sent to stage i's master from
 * the packet logger, at most MGR_LIVE_PER_SEC (spread over the rounds), oldest first by id. After a takeover
 * (age 0) these are the packets the dead master had received but never logged; in normal
 * operation, packets lost on the way (UDP may lose anything). Masters drop copies by id. */
static void
mgr_repair(struct ftvnf_manager *m, size_t i, uint64_t age, struct ft_actions *out)
{
    struct mgr_stage *s = &m->stages[i];
    uint64_t *ids = NULL, sent;
    size_t n = 0, cap = 0;

#define MGR_CANDIDATE(BASE, ID, SEEN)                                               \
    if (!mgr_rec(s, BASE) && m->now - (SEEN) >= age                               \
        && !(u64map_get(&s->live_air, BASE, &sent) && m->now - sent < m->resend)) { \
        if (n >= cap) {                                                             \
            ids = x2nrealloc(ids, &cap, sizeof *ids);                               \
        }                                                                           \
        ids[n++] = (ID);                                                            \
    }
    if (i == 0) {
        const struct u64map_slot *slot;
        size_t pos = 0;
        while (u64map_next(&m->pkts, &pos, &slot)) {
            MGR_CANDIDATE(slot->key, slot->key, slot->value);
        }
    } else {
        const struct mgr_stage *up = &m->stages[i - 1];
        for (size_t k = 0; k < up->n_recs; k++) {
            const struct mgr_rec *r = &up->recs[k];
            if (!r->deleted && r->dp.verdict == FTVNF_FORWARD) {
                MGR_CANDIDATE(ftvnf_id_base(r->dp.id_in), r->dp.id_out, r->seen_ns);
            }
        }
    }
#undef MGR_CANDIDATE
    /* Sequence order, so a flow's packets keep their order (ids grow per sequencer). */
    for (size_t a = 1; a < n; a++) {
        for (size_t b = a; b > 0 && ids[b - 1] > ids[b]; b--) {
            uint64_t t = ids[b];
            ids[b] = ids[b - 1];
            ids[b - 1] = t;
        }
    }
    n = MIN(n, MAX(1, MGR_LIVE_PER_SEC * m->period / 1000000000));
    for (size_t k = 0; k < n; k++) {
        u64map_put(&s->live_air, ftvnf_id_base(ids[k]), m->now);
    }
    mgr_replay(m, NULL, i, s->master, FTVNF_F_LIVE, ids, NULL, n, out);
    if (n && !age) {
        ft_emit_note(out, "stage %zu: resending packets in flight to the dead master", i);
    }
    free(ids);
}

/* Packets every master and every slave finished: deleted from all loggers. */
static void
mgr_cleanup(struct ftvnf_manager *m, struct ft_actions *out)
{
    const struct u64map_slot *slot;
    size_t pos = 0;
    uint64_t *del = NULL;
    size_t n = 0, cap = 0;

    for (size_t i = 0; i < m->n_stages; i++) {
        if (m->stages[i].state != STAGE_NORMAL && m->stages[i].state != STAGE_ALONE) {
            return;             /* A recovery still needs everything. */
        }
    }
    while (u64map_next(&m->pkts, &pos, &slot)) {
        bool done = true;

        for (size_t i = 0; i < m->n_stages && done; i++) {
            const struct mgr_stage *s = &m->stages[i];
            const struct ftvnf_dp *dp = mgr_rec(s, slot->key);

            done = dp && (s->state == STAGE_ALONE || dp->stateless
                          || u64map_get(&s->progress, slot->key, NULL));
            if (done && dp->verdict != FTVNF_FORWARD) {
                break;          /* Dropped or answered: later stages never see it. */
            }
        }
        /* A last master may have logged a packet and died before forwarding it: keep a
         * finished packet for 'retain' (longer than failure detection plus a period), so
         * a takeover can still re-forward it. */
        uint64_t since;
        if (!done) {
            continue;
        } else if (!u64map_get(&m->done_since, slot->key, &since)) {
            u64map_put(&m->done_since, slot->key, m->now);
        } else if (m->now - since >= m->retain) {
            if (n >= cap) {
                del = x2nrealloc(del, &cap, sizeof *del);
            }
            del[n++] = slot->key;
        }
    }
    for (size_t k = 0; k < n; k++) {
        u64map_remove(&m->pkts, del[k], NULL);
        u64map_remove(&m->done_since, del[k], NULL);
        for (size_t i = 0; i < m->n_stages; i++) {
            struct mgr_stage *s = &m->stages[i];
            uint64_t idx;
            if (u64map_remove(&s->rec_idx, del[k], &idx)) {
                s->recs[idx - 1].deleted = true;
                free(s->recs[idx - 1].dp.pads);
                s->recs[idx - 1].dp.pads = NULL;
            }
            u64map_remove(&s->progress, del[k], NULL);
            u64map_remove(&s->air, del[k], NULL);
            u64map_remove(&s->live_air, del[k], NULL);
        }
    }
    for (size_t i = 0; i < m->n_stages; i++) {
        struct mgr_stage *s = &m->stages[i];
        size_t skip = 0;
        while (skip < s->n_recs && s->recs[skip].deleted) {
            skip++;
        }
        if (skip) {
            memmove(s->recs, s->recs + skip, (s->n_recs - skip) * sizeof *s->recs);
            s->n_recs -= skip;
            u64map_clear(&s->rec_idx);
            for (size_t k = 0; k < s->n_recs; k++) {
                if (!s->recs[k].deleted) {
                    u64map_put(&s->rec_idx, ftvnf_id_base(s->recs[k].dp.id_in), k + 1);
                }
            }
        }
    }
    /* The loggers save each variable's last value before they forget a packet. */
    for (size_t k = 0; k < n;) {
        struct buf msg = BUF_INITIALIZER;
        size_t batch = MIN(n - k, MGR_BATCH_BYTES / 8);
        buf_put_u8(&msg, FTVNF_DELETE);
        buf_put_be16(&msg, batch);
        for (size_t j = 0; j < batch; j++) {
            buf_put_be64(&msg, del[k + j]);
        }
        for (size_t l = 0; l < MGR_N_LOGGERS; l++) {
            ft_emit_send(out, m->loggers[l], msg.data, msg.len);
        }
        buf_uninit(&msg);
        k += batch;
    }
    free(del);
}

/* One polling round has completed: act on the loggers' picture. */
static void
mgr_act(struct ftvnf_manager *m, struct ft_actions *out)
{
    for (size_t i = 0; i < m->n_stages; i++) {
        struct mgr_stage *s = &m->stages[i];

        switch (s->state) {
        case STAGE_NORMAL:
            mgr_feed_slave(m, i, false, out);
            mgr_repair(m, i, m->resend, out);
            break;
        case STAGE_FAILING:
            mgr_takeover(m, i, out);
            break;
        case STAGE_INFLIGHT:
            mgr_repair(m, i, 0, out);
            s->state = STAGE_ALONE;
            break;
        case STAGE_ALONE:
        case STAGE_JOINING:
            mgr_repair(m, i, m->resend, out);
            break;
        default:
            break;
        }
    }
    mgr_cleanup(m, out);
}

static void
mgr_list(struct ftvnf_manager *m, uint32_t from, struct cursor *rd, struct ft_actions *out)
{
    size_t l;
    uint64_t cursor, next;
    size_t n;
    bool more;

    for (l = 0; l < MGR_N_LOGGERS && m->loggers[l] != from; l++) {
        continue;
    }
    cursor = cursor_be64(rd);
    next = cursor_be64(rd);
    more = cursor_u8(rd);
    n = cursor_be16(rd);
    if (l == MGR_N_LOGGERS || !cursor_ok(rd) || !m->waiting[l] || cursor != m->cursor[l]) {
        ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        return;
    }
    for (size_t k = 0; k < n && cursor_ok(rd); k++) {
        if (l == MGR_PLOG) {
            uint64_t base = cursor_be64(rd);
            if (cursor_ok(rd) && !u64map_get(&m->pkts, ftvnf_id_base(base), NULL)) {
                u64map_put(&m->pkts, ftvnf_id_base(base), m->now);
            }
        } else if (l == MGR_PROGLOG) {
            uint8_t stage = cursor_u8(rd);
            uint64_t id = cursor_be64(rd);
            if (cursor_ok(rd) && stage < m->n_stages) {
                m->stages[stage].progress_at = m->now;
                u64map_put(&m->stages[stage].progress, ftvnf_id_base(id), 1);
                u64map_remove(&m->stages[stage].air, ftvnf_id_base(id), NULL);
            }
        } else {
            struct ftvnf_dp dp;
            size_t used = ftvnf_dp_parse(rd->p, rd->left, &dp);
            if (!used) {
                cursor_fail(rd);
                break;
            }
            cursor_bytes(rd, used);
            struct mgr_stage *s = dp.stage < m->n_stages ? &m->stages[dp.stage] : NULL;
            if (!s || mgr_rec(s, ftvnf_id_base(dp.id_in))) {
                free(dp.pads);
                continue;
            }
            if (s->n_recs >= s->cap_recs) {
                s->recs = x2nrealloc(s->recs, &s->cap_recs, sizeof *s->recs);
            }
            s->recs[s->n_recs] = (struct mgr_rec) { .dp = dp, .seen_ns = m->now };
            s->last_order = MAX(s->last_order, dp.order);
            u64map_put(&s->rec_idx, ftvnf_id_base(dp.id_in), ++s->n_recs);
        }
    }
    if (!cursor_ok(rd)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
    }
    m->cursor[l] = next;
    if (more) {
        uint8_t msg[9] = { FTVNF_LIST_REQ };
        for (int k = 0; k < 8; k++) {
            msg[1 + k] = next >> (56 - 8 * k);
        }
        ft_emit_send(out, from, msg, sizeof msg);
        return;
    }
    m->waiting[l] = false;
    for (size_t k = 0; k < MGR_N_LOGGERS; k++) {
        if (m->waiting[k]) {
            return;
        }
    }
    m->polling = false;
    mgr_act(m, out);
    if (m->poll_again) {
        m->poll_again = false;
        mgr_poll(m, out);
    }
}

/* Points stage i's upstream (the sequencer, or stage i-1's master) at stage i's master. */
static void
mgr_route(struct ftvnf_manager *m, uint8_t i, struct ft_actions *out)
{
    struct mgr_stage *s = &m->stages[i];
    uint8_t msg[6] = { FTVNF_ROUTE, i, s->master >> 24, s->master >> 16, s->master >> 8,
                       s->master };

    s->asked_at = m->now;
    ft_emit_send(out, i ? m->stages[i - 1].master : m->sequencer, msg, sizeof msg);
}

/* Whatever went unanswered for MGR_RETRY_PERIODS is asked again (datagrams get lost). */
static void
mgr_retry(struct ftvnf_manager *m, struct ft_actions *out)
{
    uint64_t late = MGR_RETRY_PERIODS * m->period;

    if (m->polling && m->now - m->poll_at >= late) {
        m->polling = false;
    }
    for (size_t i = 0; i < m->n_stages; i++) {
        struct mgr_stage *s = &m->stages[i];
        /* A slave that replays a long M\S on a loaded host takes its time: the TAKEOVER is
         * redone only when it also stopped reporting progress. */
        if (s->state == STAGE_CATCHUP && m->now - s->asked_at >= late
            && m->now - s->progress_at >= late) {
            s->state = STAGE_FAILING;   /* the next round sends M\S and TAKEOVER again */
        } else if (s->state == STAGE_ROUTING && m->now - s->asked_at >= late) {
            mgr_route(m, i, out);
        }
    }
}

static int
mgr_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct ftvnf_manager *m = (struct ftvnf_manager *) core;
    struct cursor rd;

    m->now = ev->now_ns;
    switch (ev->kind) {
    case FT_EV_START:
        ft_emit_timer(out, MGR_TIMER_PERIOD, ev->now_ns + m->period);
        if (ev->incarnation) {
            ft_emit_note(out, "manager restarted: rebuilding from the loggers");
        }
        mgr_poll(m, out);
        break;
    case FT_EV_TIMER:
        ft_emit_timer(out, MGR_TIMER_PERIOD, ev->now_ns + m->period);
        mgr_retry(m, out);
        mgr_poll(m, out);
        break;
    case FT_EV_PEER_UP:
        /* The driver made a new slave (ftvnf.h, "A new slave") at one of a stage's two
         * endpoints, the one its master is not. */
        for (size_t i = 0; i < m->n_stages; i++) {
            struct mgr_stage *s = &m->stages[i];
            if ((ev->from == s->copies[0] || ev->from == s->copies[1])
                && ev->from != s->master
                && (s->state == STAGE_ALONE || s->state == STAGE_JOINING)) {
                s->slave = ev->from;
                s->state = STAGE_JOINING;
                u64map_clear(&s->progress);
                u64map_clear(&s->air);
                ft_emit_note(out, "stage %zu: new slave %"PRIu32" joining", i, s->slave);
            }
        }
        break;
    case FT_EV_PEER_DOWN:
        for (size_t i = 0; i < m->n_stages; i++) {
            struct mgr_stage *s = &m->stages[i];
            if (ev->from == s->slave
                && (s->state == STAGE_NORMAL || s->state == STAGE_JOINING)) {
                /* The slave died (or a new one before it joined): the stage runs alone
                 * until a new one joins. */
                uint8_t msg[6] = { FTVNF_SYNC, i, 0xff, 0xff, 0xff, 0xff };

                s->slave = FT_ENDPOINT_NONE;
                s->state = STAGE_ALONE;
                if (m->sync) {
                    ft_emit_send(out, s->master, msg, sizeof msg);
                }
                ft_emit_note(out, "stage %zu: slave failed; the master runs alone", i);
            }
            if (ev->from == s->master
                && (s->state == STAGE_ALONE || s->state == STAGE_JOINING)) {
                /* No slave holds the stage's state (ftvnf.h, "A master that dies with no
                 * slave"): the driver starts a master with empty state at the same
                 * endpoint; a joining slave waits for an image that will never come. */
                s->slave = FT_ENDPOINT_NONE;
                s->state = STAGE_ALONE;
                s->lost_at = ev->now_ns;
                u64map_clear(&s->progress);
                u64map_clear(&s->air);
                ft_emit_note(out, "stage %zu: master failed with no slave: its state is lost",
                             i);
            } else if (ev->from == s->master && s->state == STAGE_NORMAL) {
                uint8_t msg[6] = { FTVNF_UPTO_REQ, i, s->slave >> 24, s->slave >> 16,
                                   s->slave >> 8, s->slave };

                s->state = STAGE_FAILING;
                s->failed_at = ev->now_ns;
                /* The quick takeover (ftvnf.h): a slave a hop behind its master needs only
                 * the D&P log's last order number for the stage. Not when a takeover must
                 * re-forward (masters logging by messages may die between the loggers'
                 * acknowledgements and their own forwarding): the TAKEOVER lists what. */
                if (!m->reforward) {
                    ft_emit_send(out, m->loggers[MGR_DPLOG], msg, sizeof msg);
                }
                mgr_poll(m, out);
            }
        }
        break;
    case FT_EV_PEER_MSG:
        cursor_init(&rd, ev->data, ev->len);
        switch (cursor_u8(&rd)) {
        case FTVNF_LIST:
            mgr_list(m, ev->from, &rd, out);
            break;
        case FTVNF_PROMOTED: {
            uint8_t i = cursor_u8(&rd);
            uint64_t at = cursor_be64(&rd);
            struct mgr_stage *s = i < m->n_stages ? &m->stages[i] : NULL;
            if (!cursor_ok(&rd) || !s || (s->state != STAGE_CATCHUP && s->state != STAGE_FAILING)
                || ev->from != s->slave) {
                ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
                break;
            }
            s->master = s->slave;
            s->slave = FT_ENDPOINT_NONE;
            /* The slave's own time of its takeover (every guest reads the host's monotonic
             * clock), not this message's arrival a hop later; bounded by both ends. */
            s->promoted_at = at >= s->failed_at && at <= ev->now_ns ? at : ev->now_ns;
            s->state = STAGE_ROUTING;
            ft_emit_note(out, "stage %u: recovered: slave is master %"PRIu64" us after the "
                         "failure notice", i, (s->promoted_at - s->failed_at) / 1000);
            mgr_route(m, i, out);
            break;
        }
        case FTVNF_JOINED: {
            uint8_t i = cursor_u8(&rd);
            uint64_t order = cursor_be64(&rd);
            struct mgr_stage *s = i < m->n_stages ? &m->stages[i] : NULL;
            if (!cursor_done(&rd) || !s || s->state != STAGE_JOINING || ev->from != s->slave) {
                ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
                break;
            }
            s->state = STAGE_NORMAL;
            if (m->sync) {
                uint8_t msg[6] = { FTVNF_SYNC, i, s->slave >> 24, s->slave >> 16,
                                   s->slave >> 8, s->slave };
                ft_emit_send(out, s->master, msg, sizeof msg);
            }
            ft_emit_note(out, "stage %u: new slave %"PRIu32" joined at order %"PRIu64, i,
                         s->slave, order);
            mgr_poll(m, out);
            break;
        }
        case FTVNF_ROUTED: {
            uint8_t i = cursor_u8(&rd);
            struct mgr_stage *s = i < m->n_stages ? &m->stages[i] : NULL;
            if (!cursor_ok(&rd) || !s || s->state != STAGE_ROUTING) {
                ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
                break;
            }
            s->state = STAGE_INFLIGHT;
            mgr_poll(m, out);
            break;
        }
        default:
            ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
            break;
        }
        break;
    default:
        break;
    }
    return 0;
}

extern const struct ft_core_class ft_ftvnf_manager_class;

bool
ftvnf_manager_stage(const struct ft_core *core, size_t i, struct ftvnf_stage_info *info)
{
    static const char *const names[] = {
        [STAGE_NORMAL] = "normal", [STAGE_FAILING] = "failing", [STAGE_CATCHUP] = "catchup",
        [STAGE_ROUTING] = "routing", [STAGE_INFLIGHT] = "inflight", [STAGE_ALONE] = "alone",
        [STAGE_JOINING] = "joining",
    };
    const struct ftvnf_manager *m = (const struct ftvnf_manager *) core;
    const struct mgr_stage *s;

    if (!core || core->class != &ft_ftvnf_manager_class || i >= m->n_stages) {
        return false;
    }
    s = &m->stages[i];
    *info = (struct ftvnf_stage_info) {
        .state = names[s->state], .master = s->master, .slave = s->slave,
        .failed_ns = s->failed_at, .promoted_ns = s->promoted_at, .catchup = s->catchup,
        .records = s->n_recs, .last_order = s->last_order, .lost_ns = s->lost_at,
    };
    return true;
}

const struct ft_core_class ft_ftvnf_manager_class = {
    .name = "ftvnf_manager",
    .summary = "FTvNF manager: feeds slaves, deletes finished packets, runs recovery",
    .create = mgr_create,
    .destroy = mgr_destroy,
    .step = mgr_step,
};
