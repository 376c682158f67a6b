/* ftc_forwarder and ftc_buffer — the ingress and egress of an FTC chain (ftc.h). Both hold only
 * soft state: a new one restores the chain (packets the buffer held are lost, never released).
 *
 * The buffer's release rule, for each log a held packet still carries (its group's tail is
 * after the buffer on the ring, so only a later packet's commit vector can say it is replicated
 * f+1 times), against the latest commit vector of that group:
 *   same epoch:              released once MAX covers it;
 *   the epoch before:        released once covered if it lies before the commit's start,
 *                            dropped otherwise (it died with the head);
 *   older, unknown:          dropped (it cannot be told from a dead log);
 *   newer than the commit:   wait. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/util.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/ftc/ftc.h"
#include "vnfs/ft/ftc/ftc-private.h"

#ifdef FTC_BROKEN_BUFFER
/* tests/sim/broken_ftc.c: releases every packet as it arrives, before its state is replicated
 * f+1 times: the bug the buffer exists to avoid. */
#define FTC_BUFFER_CLASS ft_ftc_buffer_broken_class
#define FTC_BUFFER_NAME "ftc_buffer-broken"
#else
#define FTC_BUFFER_CLASS ft_ftc_buffer_class
#define FTC_BUFFER_NAME "ftc_buffer"
#endif

#ifdef FTC_BROKEN_BUFFER
#define FTC_UNUSED_IF_BROKEN __attribute__((unused))
#else
#define FTC_UNUSED_IF_BROKEN
#endif

/* Logs the forwarder keeps for the next packets. Generous: a log thrown out here leaves a gap
 * at its tail that only a retransmission (or the buffer's resend a tick later) repairs, and
 * every packet behind it waits; so under load the forwarder sends propagating packets rather
 * than let this fill. */
#define FTC_FWD_MAX_PENDING 1024
/* Propagating packets one piggyback message may trigger while admission is closed. */
#define FTC_FWD_MAX_PROPAGATE 4
#define FTC_FWD_RECENT 256
/* The forwarder's window (at most FTC_FWD_MAX_WINDOW): data packets sent that the buffer has
 * not said arrived. One lost on the way never arrives: a packet sent 'lost' ago (default this
 * many ticks) no longer counts. */
#define FTC_FWD_LOST_TICKS 16
#define FTC_BUF_MAX_HELD 4096
/* The forwarder's timers: its tick, and the wait for a data packet to carry the buffer's logs
 * (a tick / FTC_FWD_CARRY_DIV) before a propagating packet does. */
#define FTC_FWD_TIMER_TICK 1
#define FTC_FWD_TIMER_CARRY 2
#define FTC_FWD_TIMER_EMPTY 3
#define FTC_FWD_TIMER_FULL 4
#define FTC_FWD_CARRY_DIV 16

/* The newer of two commit vectors of one group. */
static bool
ftc_commit_newer(const struct ftc_commit *a, const struct ftc_commit *b)
{
    uint64_t sa = 0, sb = 0;

    if (a->epoch != b->epoch) {
        return a->epoch > b->epoch;
    }
    for (size_t p = 0; p < a->n_parts && p < b->n_parts; p++) {
        sa += a->max[p];
        sb += b->max[p];
    }
    return sa > sb;
}

struct ftc_commits {
    bool have[FTC_MAX_GROUPS];
    struct ftc_commit c[FTC_MAX_GROUPS];
};

/* Merges; true if something changed. */
static bool
ftc_commits_merge(struct ftc_commits *cs, const struct ftc_message *m)
{
    bool changed = false;

    for (size_t i = 0; i < m->n_commits; i++) {
        const struct ftc_commit *c = &m->commits[i];

        if (c->group < FTC_MAX_GROUPS
            && (!cs->have[c->group] || ftc_commit_newer(c, &cs->c[c->group]))) {
            cs->have[c->group] = true;
            cs->c[c->group] = *c;
            changed = true;
        }
    }
    return changed;
}

static void
ftc_commits_put(const struct ftc_commits *cs, struct ftc_message *m)
{
    m->n_commits = 0;
    for (size_t g = 0; g < FTC_MAX_GROUPS; g++) {
        if (cs->have[g]) {
            m->commits[m->n_commits++] = cs->c[g];
        }
    }
}

/* The forwarder (once: the broken buffer's build of this file leaves it out). */
#ifndef FTC_BROKEN_BUFFER

struct ftc_forwarder {
    struct ft_core up;
    uint32_t next, buffer;
    uint64_t tick_ns, last_ns;
    uint64_t lost_ns;           /* A packet on the way this long counts as lost. */
    uint64_t max_logs_bytes;    /* Logs one packet may carry (its frame must fit the MTU). */
    uint64_t max_backlog;       /* Shed new packets while the buffer holds more (0: never). */
    uint32_t backlog;           /* Packets the buffer last said it holds. */
    uint64_t window;            /* Shed new packets while this many are on the way (0: never). */
    uint32_t sent, arrived;     /* Data packets sent; the buffer's count of those arrived. */
    uint32_t aged;              /* Packets sent more than 'lost_ns' ago. */
    uint32_t lost;              /* Counted lost (sent long ago, never arrived). */
    uint64_t *sent_ns;          /* When packet k (mod FTC_FWD_MAX_WINDOW) was sent. */
    struct ftc_forwarder_stats stats;
    struct buf pending[FTC_FWD_MAX_PENDING];    /* Encoded logs from the buffer. */
    uint64_t pending_hash[FTC_FWD_MAX_PENDING]; /* Of each one's bytes (duplicate check). */
    uint64_t sent_hash[FTC_FWD_RECENT];         /* Logs sent lately, and when: the buffer's */
    uint64_t sent_hash_ns[FTC_FWD_RECENT];      /* repeats of them are not sent again within */
    size_t sent_hash_next;                      /* a tick (its resends after a tick are). */
    size_t n_pending, pending_bytes;
    struct ftc_commits commits;
    bool commits_dirty;
    bool carry_armed;           /* FTC_FWD_TIMER_CARRY is armed. */
    bool full_armed;            /* FTC_FWD_TIMER_FULL is armed. */
    struct ftc_message *m;
    struct buf pkt;
};

static int
ftc_forwarder_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct ftc_forwarder *w;
    uint64_t tick, max_msg;
    int error = ft_config_duration(cfg, "tick", 1000000, &tick, errp);

    uint64_t max_backlog, window, lost;

    if (error || (error = ft_config_u64(cfg, "max_msg", 60000, &max_msg, errp))
        || (error = ft_config_u64(cfg, "max_backlog", 0, &max_backlog, errp))
        || (error = ft_config_u64(cfg, "window", 0, &window, errp))
        || (error = ft_config_duration(cfg, "lost", FTC_FWD_LOST_TICKS * tick, &lost, errp))) {
        return error;
    }
    if (cfg->n_next != 1 || cfg->n_peers != 1 || !tick || window > FTC_FWD_MAX_WINDOW) {
        if (errp) {
            *errp = xasprintf("ftc_forwarder: needs next [r_0] and peers [buffer] (got %zu, "
                              "%zu), a tick > 0 and a window of at most %d", cfg->n_next,
                              cfg->n_peers, FTC_FWD_MAX_WINDOW);
        }
        return EINVAL;
    }
    w = xzalloc(sizeof *w);
    w->next = cfg->next[0];
    w->buffer = cfg->peers[0];
    w->tick_ns = tick;
    w->lost_ns = lost;
    w->max_logs_bytes = MAX(max_msg, 256);
    w->max_backlog = max_backlog;
    w->window = window;
    w->sent_ns = xcalloc(FTC_FWD_MAX_WINDOW, sizeof *w->sent_ns);
    for (size_t i = 0; i < FTC_FWD_MAX_PENDING; i++) {
        buf_init(&w->pending[i]);
    }
    w->m = xzalloc(sizeof *w->m);
    buf_init(&w->pkt);
    *corep = &w->up;
    return 0;
}

static void
ftc_forwarder_destroy(struct ft_core *core)
{
    struct ftc_forwarder *w = (struct ftc_forwarder *) core;

    for (size_t i = 0; i < FTC_FWD_MAX_PENDING; i++) {
        buf_uninit(&w->pending[i]);
    }
    free(w->m);
    free(w->sent_ns);
    buf_uninit(&w->pkt);
    free(w);
}

/* FNV-1a over 8-byte words (then the last bytes): a log's bytes a byte at a time were half
 * of the forwarder's own CPU time per piggyback message. Only compared within this process. */
static uint64_t
ftc_hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t w;

        memcpy(&w, p + i, sizeof w);
        h = (h ^ w) * 1099511628211ull;
        h ^= h >> 29;
    }
    for (; i < n; i++) {
        h = (h ^ p[i]) * 1099511628211ull;
    }
    return h ^ n;
}

/* Drops the first 'k' pending logs, keeping their bufs (at the end) for reuse. */
static void
ftc_forwarder_shift(struct ftc_forwarder *w, size_t k)
{
    struct buf spare[FTC_FWD_MAX_PENDING];

    if (!k) {
        return;
    }
    for (size_t i = 0; i < k; i++) {
        w->pending_bytes -= w->pending[i].len;
    }
    memcpy(spare, w->pending, k * sizeof *spare);
    memmove(w->pending, w->pending + k, (w->n_pending - k) * sizeof *w->pending);
    memmove(w->pending_hash, w->pending_hash + k, (w->n_pending - k) * sizeof *w->pending_hash);
    memcpy(w->pending + w->n_pending - k, spare, k * sizeof *spare);
    w->n_pending -= k;
}

static void
ftc_forwarder_send(struct ftc_forwarder *w, enum ftc_packet_type type, const uint8_t *inner,
                   size_t len, uint64_t now, struct ft_actions *out)
{
    struct ftc_message *m = w->m;

    size_t taken = 0, bytes = 0;

    while (w->n_pending && w->pending[0].len > w->max_logs_bytes) {
        /* No packet can carry it (a log larger than the MTU allows): its tail repairs the gap
         * from its predecessor's retransmission. */
        ftc_forwarder_shift(w, 1);
        w->stats.logs_dropped++;
    }
    for (; taken < w->n_pending && taken < FTC_MAX_LOGS
           && bytes + w->pending[taken].len <= w->max_logs_bytes; taken++) {
        bytes += w->pending[taken].len;
        w->sent_hash[w->sent_hash_next] = w->pending_hash[taken];
        w->sent_hash_ns[w->sent_hash_next] = now;
        w->sent_hash_next = (w->sent_hash_next + 1) % FTC_FWD_RECENT;
    }
    /* The commit vectors ride the first packet after they changed, as the logs do: they are
     * only for the heads to prune what their tails have (the buffer gave them to us), and a
     * copy on every packet cost each replica of the chain a parse per vector per packet. */
    if (w->commits_dirty) {
        ftc_commits_put(&w->commits, m);
    } else {
        m->n_commits = 0;
    }
    buf_clear(&w->pkt);
    /* The pending logs are ftc_log_put()'s encodings of logs read from the buffer's message:
     * copied as they are. */
    ftc_packet_put_encoded(&w->pkt, type, w->pending, taken, m, inner, len);
    ft_emit_forward(out, w->next, w->pkt.data, w->pkt.len);
    /* What did not fit goes on the next packets. */
    ftc_forwarder_shift(w, taken);
    w->commits_dirty = false;
    w->last_ns = now;
}

/* Packets on the way: sent, not arrived at the buffer. The buffer counts arrivals; a packet
 * lost on the way never arrives, so once the packets sent a few ticks ago are more than those
 * arrived, the difference counts as lost from then on ('lost'). */
static uint32_t
ftc_forwarder_in_flight(struct ftc_forwarder *w, uint64_t now)
{
    uint32_t done;

    if (w->sent - w->aged > FTC_FWD_MAX_WINDOW) {
        w->aged = w->sent - FTC_FWD_MAX_WINDOW;
    }
    while (w->aged != w->sent
           && now - w->sent_ns[w->aged % FTC_FWD_MAX_WINDOW] > w->lost_ns) {
        w->aged++;
    }
    done = w->arrived + w->lost;
    if ((int32_t) (w->aged - done) > 0) {
        w->stats.counted_lost += w->aged - done;
        w->lost += w->aged - done;
    } else if ((int32_t) (done - w->sent) > 0) {
        w->lost = w->sent - w->arrived;     /* Counted lost, arrived after all. */
    }
    return w->sent - w->arrived - w->lost;
}

static bool
ftc_forwarder_over_backlog(const struct ftc_forwarder *w)
{
    return w->max_backlog && w->backlog > w->max_backlog;
}

uint64_t
ftc_forwarder_room(struct ft_core *core, uint64_t now)
{
    struct ftc_forwarder *w = (struct ftc_forwarder *) core;
    uint32_t in_flight;

    if (ftc_forwarder_over_backlog(w)) {
        return 0;
    }
    if (!w->window) {
        return UINT64_MAX;
    }
    in_flight = ftc_forwarder_in_flight(w, now);
    return in_flight < w->window ? w->window - in_flight : 0;
}

/* Admission control: the chain holds as much as it may. A packet dropped here wrote no state;
 * one lost further on leaves a gap that every replica after it must repair before it forwards
 * anything, so the chain is kept from queueing more than it releases. */
static bool
ftc_forwarder_closed(struct ftc_forwarder *w, uint64_t now)
{
    if (ftc_forwarder_room(&w->up, now)) {
        return false;
    }
    if (ftc_forwarder_over_backlog(w)) {
        w->stats.closed_backlog++;
    } else {
        w->stats.closed_window++;
    }
    return true;
}

static void
ftc_forwarder_on_piggyback(struct ftc_forwarder *w, const uint8_t *data, size_t len,
                           uint64_t now, struct ft_actions *out)
{
    struct cursor r;
    uint32_t backlog, arrived;

    cursor_init(&r, data + 1, len - 1);
    backlog = cursor_be32(&r);
    arrived = cursor_be32(&r);
    if (!ftc_message_read(&r, w->m) || r.left) {
        ft_emit_drop(out, FT_DROP_MALFORMED, data, len);
        return;
    }
    /* First: a propagating packet sent below puts the commits into 'w->m'. */
    w->commits_dirty |= ftc_commits_merge(&w->commits, w->m);
    for (size_t i = 0; i < w->m->n_logs; i++) {
        /* As ftc_log_put() would encode it: the parser takes only a log's own encoding. */
        const uint8_t *wire = w->m->logs[i].wire;
        size_t wire_len = w->m->logs[i].wire_len;
        uint64_t h = ftc_hash_bytes(wire, wire_len);
        bool dup = false;

        for (size_t k = 0; k < FTC_FWD_RECENT && !dup; k++) {
            dup = w->sent_hash[k] == h && w->sent_hash_ns[k]
                  && now - w->sent_hash_ns[k] < 8 * w->tick_ns;
        }
        for (size_t k = 0; k < w->n_pending && !dup; k++) {
            dup = w->pending_hash[k] == h && w->pending[k].len == wire_len
                  && !memcmp(w->pending[k].data, wire, wire_len);
        }
        if (!dup) {
            if (w->n_pending == FTC_FWD_MAX_PENDING) {
                /* Carried now rather than thrown out: a log thrown out is a gap at its tail,
                 * and every packet after it waits there for a retransmission (or the tail
                 * takes a state image). This many come at once when this guest was stopped
                 * (at its CPU quota) while the buffer's guest ran: thrown out, they cost the
                 * tail far more than the packet (Ch-2 at 0.08 cores: ~11k a run, and its
                 * goodput halved). */
                ftc_forwarder_send(w, FTC_PKT_PROPAGATE, NULL, 0, now, out);
                w->stats.propagated++;
                w->stats.propagated_full++;
            }
            if (w->n_pending == FTC_FWD_MAX_PENDING) {
                /* Oldest first out: the buffer resends what is still held. */
                ftc_forwarder_shift(w, 1);
                w->stats.logs_dropped++;
            }
            buf_clear(&w->pending[w->n_pending]);
            buf_put(&w->pending[w->n_pending], wire, wire_len);
            w->pending_hash[w->n_pending] = h;
            w->pending_bytes += wire_len;
            w->n_pending++;
        }
    }
    w->backlog = backlog;
    if ((int32_t) (arrived - w->arrived) > 0) {
        w->arrived = arrived;
    } else if (w->arrived - arrived > FTC_FWD_MAX_WINDOW) {
        /* Far behind: a new buffer, counting from 0 (a live one's count only grows; its
         * messages pass each other by far less). What was on the way to the old one is lost;
         * waiting for the new count to pass the old one, the window would admit only what
         * ages out, 'window' packets per 'lost'. */
        w->arrived = arrived;
        w->lost = w->sent - arrived;
    }
    /* Idle (no data packet for a quarter tick): the held packets' commits would wait for a
     * data packet that may never come (a closed-loop client's next request comes only once
     * the buffer released its last one): a propagating packet goes now. Empty (every data
     * packet sent has reached the buffer): the same, once the data packets that came in with
     * this message had their turn (FTC_FWD_TIMER_EMPTY, at "now": after the batch in hand):
     * a chain whose ingress is its bottleneck is empty behind it, and propagating packets
     * there would only add to the ingress's work. Else a data packet may come to carry them
     * soon: if none has in FTC_FWD_CARRY_DIV of a tick, a propagating packet does. */
    if (w->n_pending && now - w->last_ns >= w->tick_ns / 4) {
        ftc_forwarder_send(w, FTC_PKT_PROPAGATE, NULL, 0, now, out);
        w->stats.propagated++;
        w->stats.propagated_idle++;
    } else if (w->n_pending && !ftc_forwarder_in_flight(w, now)) {
        ft_emit_timer(out, FTC_FWD_TIMER_EMPTY, now);
    } else if (w->n_pending && !w->carry_armed) {
        ft_emit_timer(out, FTC_FWD_TIMER_CARRY, now + w->tick_ns / FTC_FWD_CARRY_DIV);
        w->carry_armed = true;
    }
    /* Too much to wait for: decided after the batch in hand (FTC_FWD_TIMER_FULL at "now"),
     * whose data packets carry what they can first. Decided here, the buffer's messages read
     * in one wake-up (a guest the shared CPU left waiting) went out as propagating packets
     * while the data packets of that same wake-up were in line behind them: a sixth of the
     * packets' worth of propagating packets (Ch-2 flat out), each a pass through the first
     * replica and a commit message to the buffer. */
    if (w->pending_bytes >= w->max_logs_bytes && !w->full_armed) {
        ft_emit_timer(out, FTC_FWD_TIMER_FULL, now);
        w->full_armed = true;
    }
}

/* Carries the buffer's logs now if more are waiting than the next packets take, or admission
 * is closed (no data packet will take them soon, and the held packets wait for exactly them:
 * their tails are at the front of the chain), a full packet's worth at a time (one each would
 * double the chain's traffic when it can least take it; the tick carries the rest). */
static void
ftc_forwarder_carry_full(struct ftc_forwarder *w, uint64_t now, struct ft_actions *out)
{
    for (int k = 0; k < FTC_FWD_MAX_PROPAGATE && w->pending_bytes >= w->max_logs_bytes
                    && (ftc_forwarder_closed(w, now) || w->pending_bytes > 4 * w->max_logs_bytes); k++) {
        ftc_forwarder_send(w, FTC_PKT_PROPAGATE, NULL, 0, now, out);
        w->stats.propagated++;
        w->stats.propagated_full++;
    }
}

static int
ftc_forwarder_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct ftc_forwarder *w = (struct ftc_forwarder *) core;

    switch (ev->kind) {
    case FT_EV_START:
        ft_emit_timer(out, 1, ev->now_ns + w->tick_ns);
        break;
    case FT_EV_PACKET:
        if (ftc_forwarder_closed(w, ev->now_ns)) {
            ft_emit_drop(out, FT_DROP_OVERLOAD, ev->data, ev->len);
            break;
        }
        w->sent_ns[w->sent % FTC_FWD_MAX_WINDOW] = ev->now_ns;
        w->sent++;
        ftc_forwarder_send(w, FTC_PKT_DATA, ev->data, ev->len, ev->now_ns, out);
        break;
    case FT_EV_PEER_MSG:
        if (ev->from != w->buffer || !ev->len || ev->data[0] != FTC_MSG_PIGGYBACK) {
            ft_emit_drop(out, ev->from != w->buffer ? FT_DROP_UNKNOWN_SENDER
                                                    : FT_DROP_MALFORMED, ev->data, ev->len);
            break;
        }
        ftc_forwarder_on_piggyback(w, ev->data, ev->len, ev->now_ns, out);
        break;
    case FT_EV_TIMER:
        if (ev->timer == FTC_FWD_TIMER_FULL) {
            w->full_armed = false;
            ftc_forwarder_carry_full(w, ev->now_ns, out);
            break;
        }
        if (ev->timer == FTC_FWD_TIMER_EMPTY) {
            if (w->n_pending && !ftc_forwarder_in_flight(w, ev->now_ns)) {
                ftc_forwarder_send(w, FTC_PKT_PROPAGATE, NULL, 0, ev->now_ns, out);
                w->stats.propagated++;
                w->stats.propagated_idle++;
            } else if (w->n_pending && !w->carry_armed) {
                ft_emit_timer(out, FTC_FWD_TIMER_CARRY,
                              ev->now_ns + w->tick_ns / FTC_FWD_CARRY_DIV);
                w->carry_armed = true;
            }
            break;
        }
        if (ev->timer == FTC_FWD_TIMER_CARRY) {
            w->carry_armed = false;
            if (w->n_pending && ev->now_ns - w->last_ns >= w->tick_ns / FTC_FWD_CARRY_DIV) {
                ftc_forwarder_send(w, FTC_PKT_PROPAGATE, NULL, 0, ev->now_ns, out);
                w->stats.propagated++;
                w->stats.propagated_carry++;
            }
            break;
        }
        /* No traffic for a tick: a propagating packet carries the state on. */
        if ((w->n_pending || w->commits_dirty)
            && (ev->now_ns - w->last_ns >= w->tick_ns || ftc_forwarder_closed(w, ev->now_ns))) {
            ftc_forwarder_send(w, FTC_PKT_PROPAGATE, NULL, 0, ev->now_ns, out);
        }
        ft_emit_timer(out, 1, ev->now_ns + w->tick_ns);
        break;
    default:
        break;
    }
    return 0;
}

const struct ftc_forwarder_stats *
ftc_forwarder_stats(const struct ft_core *core)
{
    return &((const struct ftc_forwarder *) core)->stats;
}

const struct ft_core_class ft_ftc_forwarder_class = {
    .name = "ftc_forwarder",
    .summary = "FTC: ingress, adds the buffer's piggyback message to incoming packets",
    .create = ftc_forwarder_create,
    .destroy = ftc_forwarder_destroy,
    .step = ftc_forwarder_step,
};
#endif

/* The buffer. */

struct ftc_held_pkt {
    uint8_t *data;              /* The whole FTC packet as it arrived. */
    size_t len;
    uint64_t since_ns, resent_ns;
    /* What the release rule reads, kept from the parse at arrival: judging the packet at the
     * front again (at every packet and commit that comes while it waits) parsed it whole each
     * time, its commits and the inner frame's bounds included. The logs' 'upd' are not kept
     * (the rule reads none; a resend parses 'data' again). */
    enum ftc_packet_type type;
    size_t inner_ofs, inner_len;
    size_t n_logs;
    struct ftc_log *logs;
};

struct ftc_buffer {
    struct ft_core up;
    uint32_t next, forwarder;
    uint32_t reverse;           /* Where replies go (FTC_PKT_REPLY): next[1], else 'next'. */
    uint64_t tick_ns;
    uint64_t max_msg;
    uint32_t reported;          /* The backlog the forwarder was last told. */
    uint32_t arrived;           /* Data packets received (the forwarder's window). */
    uint64_t arrived_ns;        /* When the last one came. */
    size_t newest_turn;         /* ftc_buffer_add_newest()'s first (group, partition). */
    /* ftc_buffer_add_newest()'s pick per (group, partition): of the held packets, the one whose
     * log needs the most, by arrival number ('held_gone' + its place). It runs on every tick
     * once data stopped coming, and finding it meant a pass over every log of every packet
     * held: with thousands held behind a closed forwarder, a buffer at its CPU quota spent
     * much of it there each tick. With no packet added since, the pick holds until one of
     * its own packets leaves the front. */
    struct ftc_newest {
        uint32_t epoch;
        uint64_t need;
        uint64_t pkt;
        size_t log;
        bool have;
    } newest[FTC_MAX_GROUPS * FTC_MAX_PARTS];
    bool newest_valid;
    uint64_t newest_first;      /* The lowest 'pkt' of the pick. */
    uint64_t held_gone;         /* Packets that left the front of 'held', in all. */
    uint32_t reported_arrived;  /* The 'arrived' the forwarder was last told. */
    struct ftc_commits commits;
    /* Held, in the order they came: 'n_held' from 'held', which lies 'held - held_base'
     * entries into an allocation of 'cap_held'. Releasing the oldest advances 'held'; the rest
     * moves down once as many were released as are left. Moving the thousands held behind a
     * released few each time (a buffer whose guest is at its quota, its chain behind a gap)
     * cost more than the packets' own work. */
    struct ftc_held_pkt *held, *held_base;
    size_t n_held, cap_held;
    struct ftc_message *m, *s;
    struct buf msg;
    /* Logs for the forwarder not sent yet: the packets of one receive batch share a message
     * (the flush timer, armed at "now", fires once the batch is handled), or one goes as soon
     * as the next log would not fit in 'max_msg'. One message per packet cost as much as the
     * packet.
     * Busy (FTC_BUF_BUSY packets held: the chain is saturated, and they wait for CPU, not for
     * this message), a message waits for the tick, or until it is nearly full: the messages
     * and commits answering them were over a third of a frame per packet at each end of the
     * link (Ch-2 flat out), each a wake-up of both guests. Waiting a quarter tick after the
     * last one instead, they armed a timer of their own after most batches handed to the
     * buffer's thread, at its CPU quota: re-arming its loop's timer was 5-6% of its time
     * (perf, session 23), 1.6% with the tick. */
    struct buf pending;
    size_t n_pending;
    bool flush_armed;
    uint64_t released, dropped;
    uint64_t now_ns;
    struct ftc_buffer_stats stats;
};

#define FTC_BUF_TIMER_TICK 1
#define FTC_BUF_TIMER_FLUSH 2
#define FTC_BUF_BUSY 16

static int
ftc_buffer_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct ftc_buffer *b;
    uint64_t tick, max_msg;
    int error = ft_config_duration(cfg, "tick", 1000000, &tick, errp);

    if (error || (error = ft_config_u64(cfg, "max_msg", 60000, &max_msg, errp))) {
        return error;
    }
    if (cfg->n_next < 1 || cfg->n_next > 2 || cfg->n_peers != 1 || !tick) {
        if (errp) {
            *errp = xasprintf("ftc_buffer: needs next [outside] or [outside, reverse] and "
                              "peers [forwarder] (got %zu, %zu) and a tick > 0", cfg->n_next,
                              cfg->n_peers);
        }
        return EINVAL;
    }
    b = xzalloc(sizeof *b);
    b->next = cfg->next[0];
    b->reverse = cfg->next[cfg->n_next - 1];
    b->forwarder = cfg->peers[0];
    b->tick_ns = tick;
    b->max_msg = MAX(max_msg, 512);
    b->m = xzalloc(sizeof *b->m);
    b->s = xzalloc(sizeof *b->s);
    buf_init(&b->msg);
    buf_init(&b->pending);
    *corep = &b->up;
    return 0;
}

static void
ftc_buffer_destroy(struct ft_core *core)
{
    struct ftc_buffer *b = (struct ftc_buffer *) core;

    buf_uninit(&b->pending);
    for (size_t i = 0; i < b->n_held; i++) {
        free(b->held[i].data);
        free(b->held[i].logs);
    }
    free(b->held_base);
    free(b->m);
    free(b->s);
    buf_uninit(&b->msg);
    free(b);
}

enum ftc_release { FTC_WAIT, FTC_RELEASE, FTC_DROP };

static enum ftc_release FTC_UNUSED_IF_BROKEN
ftc_buffer_judge_log(const struct ftc_buffer *b, const struct ftc_log *l)
{
    const struct ftc_commit *c;
    struct ftc_epoch hist[2];
    size_t n_hist = 0;
    enum ftc_class cls;

    if (l->group >= FTC_MAX_GROUPS || !b->commits.have[l->group]) {
        return FTC_WAIT;
    }
    c = &b->commits.c[l->group];
    if (l->epoch > c->epoch) {
        return FTC_WAIT;
    }
    if (l->epoch < c->epoch) {
        if (l->epoch != c->prev_epoch) {
            return FTC_DROP;
        }
        hist[n_hist].epoch = c->prev_epoch;
        memset(hist[n_hist].start, 0, sizeof hist[n_hist].start);
        n_hist++;
    }
    hist[n_hist].epoch = c->epoch;
    memcpy(hist[n_hist].start, c->start, sizeof c->start);
    n_hist++;
    cls = ftc_log_classify(hist, n_hist, c->epoch, c->max, l);
    return cls == FTC_LOG_APPLIED ? FTC_RELEASE : cls == FTC_LOG_DEAD ? FTC_DROP : FTC_WAIT;
}

static enum ftc_release
ftc_buffer_judge(const struct ftc_buffer *b, const struct ftc_held_pkt *h)
{
    enum ftc_release verdict = FTC_RELEASE;

#ifndef FTC_BROKEN_BUFFER
    for (size_t i = 0; i < h->n_logs; i++) {
        enum ftc_release v = ftc_buffer_judge_log(b, &h->logs[i]);

        if (v == FTC_DROP) {
            return FTC_DROP;
        }
        if (v == FTC_WAIT) {
            verdict = FTC_WAIT;
        }
    }
#else
    (void) b;
    (void) h;
#endif
    return verdict;
}

/* Releases (or drops) held packets in the order they came, up to the first that must wait:
 * commits advance in that order, so a later one is rarely ready before, and judging only the
 * front keeps a long backlog from costing a pass over all of it per packet. */
static void
ftc_buffer_release_ready(struct ftc_buffer *b, struct ft_actions *out)
{
    size_t k = 0;

    for (; k < b->n_held; k++) {
        const struct ftc_held_pkt *h = &b->held[k];
        enum ftc_release v = ftc_buffer_judge(b, h);

        if (v == FTC_RELEASE) {
            uint64_t us = (b->now_ns - h->since_ns) / 1000;

            /* A reply goes back toward its sender, released under the same rule. */
            ft_emit_forward(out, h->type == FTC_PKT_REPLY ? b->reverse : b->next,
                            h->data + h->inner_ofs, h->inner_len);
            b->released++;
            b->stats.held_us += us;
            b->stats.held_us_max = MAX(b->stats.held_us_max, us);
        } else if (v == FTC_DROP) {
            ft_emit_drop(out, FT_DROP_STALE, b->held[k].data, b->held[k].len);
            b->dropped++;
        } else {
            break;
        }
        free(b->held[k].data);
        free(b->held[k].logs);
    }
    if (!k) {
        return;                 /* (NULL + 0 is undefined: a buffer that never held.) */
    }
    b->held += k;
    b->n_held -= k;
    b->held_gone += k;
    if ((size_t) (b->held - b->held_base) > b->n_held) {
        memmove(b->held_base, b->held, b->n_held * sizeof *b->held);
        b->held = b->held_base;
    }
}

/* Sends the forwarder the logs in 'm' (may be NULL) and every commit vector known. */
static void
ftc_buffer_to_forwarder(struct ftc_buffer *b, const struct ftc_message *logs,
                        struct ft_actions *out)
{
    struct ftc_message *m = b->m;

    if (logs != m) {
        m->n_logs = 0;
    }
    if (logs && logs != m) {
        memcpy(m->logs, logs->logs, logs->n_logs * sizeof *m->logs);
        m->n_logs = logs->n_logs;
    }
    ftc_commits_put(&b->commits, m);
    buf_clear(&b->msg);
    buf_put_u8(&b->msg, FTC_MSG_PIGGYBACK);
    buf_put_be32(&b->msg, b->n_held);
    buf_put_be32(&b->msg, b->arrived);
    b->reported = b->n_held;
    b->reported_arrived = b->arrived;
    ftc_message_put(&b->msg, m);
    ft_emit_send(out, b->forwarder, b->msg.data, b->msg.len);
}

/* The logs pending for the forwarder into 'm' (pointing into 'pending'). */
static void
ftc_buffer_read_pending(struct ftc_buffer *b, struct ftc_message *m)
{
    struct cursor r;

    cursor_init(&r, b->pending.data, b->pending.len);
    m->n_logs = 0;
    while (m->n_logs < b->n_pending && ftc_log_read(&r, &m->logs[m->n_logs])) {
        m->n_logs++;
    }
}

/* Sends what is pending (and the commits, the backlog and the arrivals) to the forwarder. */
static void
ftc_buffer_flush(struct ftc_buffer *b, struct ft_actions *out)
{
    ftc_buffer_read_pending(b, b->m);
    ftc_buffer_to_forwarder(b, b->m, out);
    buf_clear(&b->pending);
    b->n_pending = 0;
}

/* The logs a packet still carries go around to their tails at the front of the chain: with
 * the batch's others (busy: with the tick's), or at once when the message is full. A message
 * went out as soon as half of one was waiting: with the Monitor's logs, one message per 4
 * packets at Ch-5 flat out, each a send and a wake-up of the forwarder's guest, both at their
 * CPU quota. */
static void
ftc_buffer_queue_logs(struct ftc_buffer *b, const struct ftc_message *s, uint64_t now,
                      struct ft_actions *out)
{
    bool busy = b->n_held >= FTC_BUF_BUSY;

    for (size_t i = 0; i < s->n_logs; i++) {
        if (b->n_pending == FTC_MAX_LOGS
            || (b->n_pending && b->pending.len + ftc_log_wire_len(&s->logs[i]) > b->max_msg)) {
            ftc_buffer_flush(b, out);
        }
        ftc_log_put_wire(&b->pending, &s->logs[i]);
        b->n_pending++;
    }
    if (!b->flush_armed && !busy) {
        ft_emit_timer(out, FTC_BUF_TIMER_FLUSH, now);
        b->flush_armed = true;
    }
}

static void
ftc_buffer_on_packet(struct ftc_buffer *b, const struct ft_event *ev, struct ft_actions *out)
{
    enum ftc_packet_type type;
    const uint8_t *inner;
    size_t inner_len;

    if (!ftc_packet_parse(ev->data, ev->len, &type, b->s, &inner, &inner_len)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        return;
    }
    ftc_commits_merge(&b->commits, b->s);
    if (type != FTC_PKT_PROPAGATE) {
        b->arrived++;
        b->arrived_ns = ev->now_ns;
    }
    ftc_buffer_queue_logs(b, b->s, ev->now_ns, out);
    if (type != FTC_PKT_PROPAGATE) {
        if (b->n_held >= FTC_BUF_MAX_HELD) {
            ft_emit_drop(out, FT_DROP_OVERLOAD, ev->data, ev->len);
        } else {
            struct ftc_held_pkt *h;

            if ((size_t) (b->held - b->held_base) + b->n_held >= b->cap_held) {
                size_t front = b->held - b->held_base;

                b->held_base = x2nrealloc(b->held_base, &b->cap_held, sizeof *b->held);
                b->held = b->held_base + front;
            }
            h = &b->held[b->n_held++];
            b->newest_valid = false;
            *h = (struct ftc_held_pkt) {
                .data = xmalloc(ev->len), .len = ev->len,
                .since_ns = b->now_ns, .resent_ns = ev->now_ns,
                .type = type, .inner_ofs = inner - ev->data, .inner_len = inner_len,
                .n_logs = b->s->n_logs,
            };
            memcpy(h->data, ev->data, ev->len);
            if (h->n_logs) {
                h->logs = xmalloc(h->n_logs * sizeof *h->logs);
                memcpy(h->logs, b->s->logs, h->n_logs * sizeof *h->logs);
                for (size_t i = 0; i < h->n_logs; i++) {
                    h->logs[i].upd = NULL;
                }
            }
        }
    }
    ftc_buffer_release_ready(b, out);
}

/* Finds ftc_buffer_add_newest()'s pick ('newest') again. */
static void
ftc_buffer_find_newest(struct ftc_buffer *b)
{
    struct ftc_newest *top = b->newest;

    memset(b->newest, 0, sizeof b->newest);
    b->newest_first = UINT64_MAX;
    for (size_t i = 0; i < b->n_held; i++) {
        const struct ftc_held_pkt *h = &b->held[i];

        for (size_t k = 0; k < h->n_logs; k++) {
            const struct ftc_log *l = &h->logs[k];

            for (size_t e = 0; e < l->n_ent && l->group < FTC_MAX_GROUPS; e++) {
                const struct ftc_entry *en = &l->ent[e];
                uint64_t need = en->seq + en->write;
                size_t j = l->group * FTC_MAX_PARTS + en->part;

                if (en->part < FTC_MAX_PARTS
                    && (!top[j].have || l->epoch > top[j].epoch
                        || (l->epoch == top[j].epoch && need > top[j].need))) {
                    top[j].have = true;
                    top[j].epoch = l->epoch;
                    top[j].need = need;
                    top[j].pkt = b->held_gone + i;
                    top[j].log = k;
                }
            }
        }
    }
    for (size_t j = 0; j < ARRAY_SIZE(b->newest); j++) {
        if (top[j].have) {
            b->newest_first = MIN(b->newest_first, top[j].pkt);
        }
    }
    b->newest_valid = true;
}

/* Adds to 'acc', within 'max' bytes ('*bytes' so far), for each group and partition the held
 * packets' logs name, the log that needs the most of it (the highest number, in the newest
 * epoch). A member that lacks such a log asks its predecessor for every one before it (a tail
 * for the gap below its stash, a middle replica for all that apply), so one lap brings each
 * group's members up to every held packet, and the tails' commits release them all. Resending
 * the front packets' logs alone released about one packet per lap once traffic stopped: a
 * replica learns of a log lost on the way only from a later one, and after the last data
 * packet no later one comes (Ch-5 after an overload: thousands of packets held for tens of
 * seconds, until new traffic came). Packets arrive out of the heads' order (a tail's stashed
 * log rides a later packet), so the newest is found by number, not by place; what does not fit
 * goes first on the next tick. */
static bool
ftc_buffer_add_newest(struct ftc_buffer *b, struct ftc_message *acc, size_t *bytes, size_t max)
{
    enum { N = ARRAY_SIZE(b->newest) };
    const struct ftc_newest *top = b->newest;
    bool any = false;

    if (!b->newest_valid || b->newest_first < b->held_gone) {
        ftc_buffer_find_newest(b);
    }
    for (size_t n = 0; n < N && acc->n_logs < FTC_MAX_LOGS; n++) {
        size_t j = (b->newest_turn + n) % N;
        const struct ftc_held_pkt *h;
        enum ftc_packet_type type;
        const uint8_t *inner;
        size_t inner_len, len;
        const struct ftc_log *l;
        bool dup = false;

        if (!top[j].have) {
            continue;
        }
        h = &b->held[top[j].pkt - b->held_gone];
        if (!ftc_packet_parse(h->data, h->len, &type, b->m, &inner, &inner_len)) {
            continue;
        }
        l = &b->m->logs[top[j].log];
        for (size_t x = 0; x < acc->n_logs && !dup; x++) {
            dup = acc->logs[x].wire == l->wire;
        }
        len = ftc_log_wire_len(l);
        if (dup) {
            continue;
        } else if (*bytes + len > max) {
            b->newest_turn = j;
            break;
        }
        acc->logs[acc->n_logs++] = *l;
        *bytes += len;
        any = true;
    }
    return any;
}

/* Sends the logs that waited for the tick (ftc_buffer_queue_logs()) and resends those of
 * packets held for a tick (their message to the forwarder, or a packet carrying them, may have
 * been lost); with no data packet for a tick, the newest of each group and partition first
 * (ftc_buffer_add_newest()). */
static void
ftc_buffer_on_tick(struct ftc_buffer *b, const struct ft_event *ev, struct ft_actions *out)
{
    struct ftc_message *acc = b->s;
    bool any = b->n_pending > 0;
    size_t bytes = b->pending.len;

    ftc_buffer_read_pending(b, acc);
    if (ev->now_ns - b->arrived_ns >= b->tick_ns) {
        any |= ftc_buffer_add_newest(b, acc, &bytes, b->max_msg);
    }
    for (size_t i = 0; i < b->n_held && acc->n_logs < FTC_MAX_LOGS && bytes < b->max_msg / 2;
         i++) {
        struct ftc_held_pkt *h = &b->held[i];
        enum ftc_packet_type type;
        const uint8_t *inner;
        size_t inner_len;

        if (ev->now_ns - h->resent_ns < b->tick_ns
            || !ftc_packet_parse(h->data, h->len, &type, b->m, &inner, &inner_len)
            || acc->n_logs + b->m->n_logs > FTC_MAX_LOGS) {
            continue;
        }
        size_t add = 0;

        for (size_t k = 0; k < b->m->n_logs; k++) {
            add += ftc_log_wire_len(&b->m->logs[k]);
        }
        if (acc->n_logs && bytes + add > b->max_msg / 2) {
            break;
        }
        memcpy(&acc->logs[acc->n_logs], b->m->logs, b->m->n_logs * sizeof *acc->logs);
        acc->n_logs += b->m->n_logs;
        bytes += add;
        h->resent_ns = ev->now_ns;
        any = true;
    }
    if (any || b->reported != b->n_held || b->reported_arrived != b->arrived) {
        /* 'acc' points into 'pending' and the held packets' bytes, which stay put during the
         * send. */
        ftc_buffer_to_forwarder(b, acc, out);
    }
    buf_clear(&b->pending);
    b->n_pending = 0;
    ft_emit_timer(out, FTC_BUF_TIMER_TICK, ev->now_ns + b->tick_ns);
}

/* A tail's commit vectors, straight (FTC_MSG_COMMIT): what held packets may wait for. */
static void
ftc_buffer_on_commit(struct ftc_buffer *b, const struct ft_event *ev, struct ft_actions *out)
{
    struct cursor r;

    if (!ev->len || ev->data[0] != FTC_MSG_COMMIT) {
        ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        return;
    }
    cursor_init(&r, ev->data + 1, ev->len - 1);
    if (!ftc_message_read(&r, b->m) || r.left || b->m->n_logs) {
        ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        return;
    }
    b->stats.commits_in++;
    if (ftc_commits_merge(&b->commits, b->m)) {
        ftc_buffer_release_ready(b, out);
    }
}

static int
ftc_buffer_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct ftc_buffer *b = (struct ftc_buffer *) core;

    if (ev->now_ns > b->now_ns) {
        b->now_ns = ev->now_ns;
    }
    switch (ev->kind) {
    case FT_EV_START:
        ft_emit_timer(out, FTC_BUF_TIMER_TICK, ev->now_ns + b->tick_ns);
        break;
    case FT_EV_PACKET:
        ftc_buffer_on_packet(b, ev, out);
        break;
    case FT_EV_PEER_MSG:
        ftc_buffer_on_commit(b, ev, out);
        break;
    case FT_EV_TIMER:
        if (ev->timer == FTC_BUF_TIMER_FLUSH) {
            b->flush_armed = false;
            if (b->n_pending || b->reported != b->n_held || b->reported_arrived != b->arrived) {
                ftc_buffer_flush(b, out);   /* Else a full message already took them. */
            }
        } else {
            ftc_buffer_on_tick(b, ev, out);
        }
        break;
    default:
        break;
    }
    b->stats.held_now = b->n_held;
    return 0;
}

#ifndef FTC_BROKEN_BUFFER
const struct ftc_buffer_stats *
ftc_buffer_stats(const struct ft_core *core)
{
    return &((const struct ftc_buffer *) core)->stats;
}
#endif

const struct ft_core_class FTC_BUFFER_CLASS = {
    .name = FTC_BUFFER_NAME,
    .summary = "FTC: egress, holds packets until their state is replicated f+1 times",
    .create = ftc_buffer_create,
    .destroy = ftc_buffer_destroy,
    .step = ftc_buffer_step,
};
