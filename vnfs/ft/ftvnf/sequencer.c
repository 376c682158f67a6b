/* ftvnf_sequencer — FTvNF's ID sequencer at the chain's ingress (ftvnf.h). */
#include "vnfs/ft/ftvnf/ftvnf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/util.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/u64map.h"

struct ftvnf_seq {
    struct ft_core up;
    uint64_t base_id;           /* Param sequencer_id. */
    unsigned sequencer;         /* base_id + incarnation, mod 8. */
    uint32_t next_seq;
    uint32_t first_master;      /* Where tagged packets go (rerouted by the manager). */
    uint32_t plog, manager;
    struct u64map pending;      /* id -> struct buf * waiting for the logger's ack. */
    struct u64map sent;         /* id -> when its LOG_PKT was last sent. */
    uint64_t log_retry;
    size_t retry_pos;           /* Where the last retry tick stopped in 'pending'. */
    bool on_path;               /* log=path: the packet goes through the packet logger. */
    uint64_t carry_max;
    struct buf carrier;
};

#define SEQ_TIMER_RETRY 1

static void
seq_log(struct ftvnf_seq *s, uint64_t id, const struct buf *held, struct ft_actions *out)
{
    struct buf msg = BUF_INITIALIZER;

    buf_put_u8(&msg, FTVNF_LOG_PKT);
    buf_put_be64(&msg, id);
    buf_put_u8(&msg, 0);
    buf_put(&msg, held->data + 8, held->len - 8);
    ft_emit_send(out, s->plog, msg.data, msg.len);
    buf_uninit(&msg);
}

static int
seq_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct ftvnf_seq *s;
    uint64_t sid, retry;
    int error = ft_config_u64(cfg, "sequencer_id", 0, &sid, errp);

    const char *log = ft_config_param(cfg, "log");
    uint64_t carry_max;

    if (error || (error = ft_config_duration(cfg, "log_retry", 50000000, &retry, errp))
        || (error = ft_config_u64(cfg, "carry_max", FTVNF_CARRY_MAX_DEFAULT, &carry_max,
                                  errp))) {
        return error;
    }
    if (sid > 7 || cfg->n_next != 1 || cfg->n_peers != 2
        || (log && strcmp(log, "path") && strcmp(log, "messages"))) {
        if (errp) {
            *errp = xasprintf("ftvnf_sequencer: sequencer_id 0-7, log=path|messages, next = "
                              "[first master], peers = [packet logger, manager]");
        }
        return EINVAL;
    }
    s = xzalloc(sizeof *s);
    s->base_id = sid;
    s->sequencer = sid;
    s->next_seq = 1;
    s->first_master = cfg->next[0];
    s->plog = cfg->peers[0];
    s->manager = cfg->peers[1];
    u64map_init(&s->pending);
    u64map_init(&s->sent);
    s->log_retry = retry ? retry : 1;
    s->on_path = !log || !strcmp(log, "path");
    s->carry_max = carry_max;
    buf_init(&s->carrier);
    *corep = &s->up;
    return 0;
}

static void
seq_destroy(struct ft_core *core)
{
    struct ftvnf_seq *s = (struct ftvnf_seq *) core;
    const struct u64map_slot *slot;
    size_t pos = 0;

    while (u64map_next(&s->pending, &pos, &slot)) {
        struct buf *b = (struct buf *) (uintptr_t) slot->value;
        buf_uninit(b);
        free(b);
    }
    u64map_destroy(&s->pending);
    u64map_destroy(&s->sent);
    buf_uninit(&s->carrier);
    free(s);
}

/* The next id whose VLAN thirds avoid the reserved values at every version. */
static uint64_t
seq_next_id(struct ftvnf_seq *s)
{
    for (;;) {
        uint64_t id = ftvnf_id_make(s->sequencer, s->next_seq, 0);

        s->next_seq = (s->next_seq + 1) & 0xfffffff;
        if (ftvnf_id_vlan_ok(id) && ftvnf_id_vlan_ok(id | FTVNF_MAX_VERSION)) {
            return id;
        }
    }
}

static int
seq_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct ftvnf_seq *s = (struct ftvnf_seq *) core;
    struct cursor rd;
    uint64_t id, v;
    struct buf msg = BUF_INITIALIZER;

    switch (ev->kind) {
    case FT_EV_START:
        /* A restarted sequencer takes a fresh sequencer id: its ids never repeat old ones. */
        s->sequencer = (s->base_id + ev->incarnation) & 7;
        if (ev->incarnation) {
            ft_emit_note(out, "sequencer restarted as sequencer id %u", s->sequencer);
        }
        ft_emit_timer(out, SEQ_TIMER_RETRY, ev->now_ns + s->log_retry);
        break;
    case FT_EV_TIMER: {
        const struct u64map_slot *slot;
        size_t pos = s->retry_pos, n = 0;
        bool wrapped = false;

        while (n < FTVNF_RETRY_BATCH) {
            if (!u64map_next(&s->pending, &pos, &slot)) {
                if (wrapped || !s->retry_pos) {
                    pos = 0;
                    break;
                }
                wrapped = true;
                pos = 0;
                continue;
            }
            if (wrapped && pos > s->retry_pos) {
                break;
            }
            uint64_t at = 0;
            u64map_get(&s->sent, slot->key, &at);
            if (ev->now_ns - at >= s->log_retry) {
                /* Unacknowledged: the record or its ack was lost. */
                u64map_put(&s->sent, slot->key, ev->now_ns);
                seq_log(s, slot->key, (struct buf *) (uintptr_t) slot->value, out);
                n++;
            }
        }
        s->retry_pos = pos;
        ft_emit_timer(out, SEQ_TIMER_RETRY, ev->now_ns + s->log_retry);
        break;
    }
    case FT_EV_PACKET: {
        struct buf *held;
        uint8_t body[8];

        id = seq_next_id(s);
        if (s->on_path && ev->len + 64 <= s->carry_max) {
            /* Stored by the packet logger, which sends it on to the first master. */
            struct ftvnf_carry c = {
                .id = id, .to = s->first_master, .sync = FT_ENDPOINT_NONE, .n_recs = 1,
                .recs = { { .logger = s->plog, .type = FTVNF_LOG_BASE, .body = body,
                            .len = 8 } },
                .payload = ev->data, .len = ev->len,
            };
            for (int k = 0; k < 8; k++) {
                body[k] = id >> (56 - 8 * k);
            }
            buf_clear(&s->carrier);
            ftvnf_carry_put(&s->carrier, &c);
            ft_emit_forward(out, s->plog, s->carrier.data, s->carrier.len);
            break;
        }
        held = xmalloc(sizeof *held);
        buf_init(held);
        buf_put_be64(held, id);
        buf_put(held, ev->data, ev->len);
        u64map_put(&s->pending, id, (uintptr_t) held);
        u64map_put(&s->sent, id, ev->now_ns);
        seq_log(s, id, held, out);
        break;
    }
    case FT_EV_PEER_MSG:
        cursor_init(&rd, ev->data, ev->len);
        switch (cursor_u8(&rd)) {
        case FTVNF_ACK_PKT:
            id = cursor_be64(&rd);
            if (ev->from != s->plog || !cursor_ok(&rd) || !u64map_remove(&s->pending, id, &v)) {
                ft_emit_drop(out, FT_DROP_DUPLICATE, NULL, 0);
                break;
            }
            /* Stored: only now may the packet enter the chain. */
            struct buf *held = (struct buf *) (uintptr_t) v;
            u64map_remove(&s->sent, id, NULL);
            ft_emit_forward(out, s->first_master, held->data, held->len);
            buf_uninit(held);
            free(held);
            break;
        case FTVNF_ROUTE: {
            uint8_t stage = cursor_u8(&rd);
            uint32_t to = cursor_be32(&rd);

            if (ev->from != s->manager || !cursor_ok(&rd) || stage != 0) {
                ft_emit_drop(out, FT_DROP_UNKNOWN_SENDER, NULL, 0);
                break;
            }
            s->first_master = to;
            buf_put_u8(&msg, FTVNF_ROUTED);
            buf_put_u8(&msg, 0);
            buf_put_be32(&msg, to);
            ft_emit_send(out, s->manager, msg.data, msg.len);
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
    buf_uninit(&msg);
    return 0;
}

const struct ft_core_class ft_ftvnf_sequencer_class = {
    .name = "ftvnf_sequencer",
    .summary = "FTvNF ID sequencer: 36-bit packet ids, logged before the chain",
    .create = seq_create,
    .destroy = seq_destroy,
    .step = seq_step,
};
