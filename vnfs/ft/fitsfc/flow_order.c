/* flow_order — FIT-SFC's consistency for per-flow stateful VNFs (§III-C, the authenticated DNS
 * service): each replica hands its function a flow's packets in the order of the client's
 * counter, whatever order its voter decided them in. It sits behind the replica's bft_voter,
 * which delivers each decided packet once (FT_EV_PACKET, a demo_msg whose req_id is the
 * wrapper's (client id << 32 | counter), vnfs/sfc/wrap.h), and delivers them per client in
 * counter order, from 1. Since every correct replica's voter decides the same packets, every
 * correct replica applies a flow's packets in the same order and keeps the same per-flow state.
 *
 * A packet ahead of its turn waits, at most 'max_held' per client (more: dropped as overload).
 * A packet that never comes (halted by the voters, lost by a faulty stage) would stop its flow
 * for good, so once the oldest waiting packet waited 'timeout' the gap is skipped (noted) and
 * the flow goes on from the first waiting counter. A packet whose turn has passed is dropped as
 * stale: running it late would break the order the other replicas kept. Clients are bounded by
 * 'max_clients' (a new one past it is dropped as overload).
 *
 * Parameters: timeout (duration, default 20ms), max_held (default 256), max_clients (default
 * 4096). No group, no peer messages, no state image. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/ft/core.h"
#include "vnfs/ft/demo/demo.h"
#include "vnfs/ft/u64map.h"

struct fo_held {
    uint64_t counter;
    uint64_t since;
    uint8_t *msg;
    size_t len;
};

struct fo_client {
    uint32_t client;
    uint64_t next;              /* The counter whose turn it is. */
    struct fo_held *held;       /* Sorted by counter. */
    size_t n_held;
    bool timer;
};

struct flow_order {
    struct ft_core up;
    uint64_t timeout_ns, max_held, max_clients;
    struct u64map clients;      /* client -> struct fo_client *. */
};

static struct flow_order *
flow_order_cast(const struct ft_core *core)
{
    return (struct flow_order *) core;
}

static int
flow_order_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    uint64_t timeout, max_held, max_clients;
    struct flow_order *o;
    int error;

    error = ft_config_duration(cfg, "timeout", 20 * 1000 * 1000, &timeout, errp);
    error = error ? error : ft_config_u64(cfg, "max_held", 256, &max_held, errp);
    error = error ? error : ft_config_u64(cfg, "max_clients", 4096, &max_clients, errp);
    if (!error && (!timeout || !max_held || !max_clients || max_held > (1u << 20))) {
        if (errp) {
            *errp = xasprintf("flow_order: timeout, max_held and max_clients must be > 0, "
                              "max_held at most 2^20");
        }
        error = EINVAL;
    }
    if (error) {
        return error;
    }
    o = xzalloc(sizeof *o);
    o->timeout_ns = timeout;
    o->max_held = max_held;
    o->max_clients = max_clients;
    u64map_init(&o->clients);
    *corep = &o->up;
    return 0;
}

static void
flow_order_destroy(struct ft_core *core)
{
    struct flow_order *o = flow_order_cast(core);
    const struct u64map_slot *slot;

    for (size_t pos = 0; u64map_next(&o->clients, &pos, &slot);) {
        struct fo_client *c = (struct fo_client *) (uintptr_t) slot->value;

        for (size_t i = 0; i < c->n_held; i++) {
            free(c->held[i].msg);
        }
        free(c->held);
        free(c);
    }
    u64map_destroy(&o->clients);
    free(o);
}

/* Delivers the waiting packets whose turn has come. */
static void
flow_order_drain(struct fo_client *c, struct ft_actions *out)
{
    size_t k = 0;

    while (k < c->n_held && c->held[k].counter == c->next) {
        ft_emit_deliver(out, c->held[k].msg, c->held[k].len);
        free(c->held[k].msg);
        c->next++;
        k++;
    }
    if (k) {
        memmove(c->held, c->held + k, (c->n_held - k) * sizeof *c->held);
        c->n_held -= k;
    }
}

static void
flow_order_arm(const struct flow_order *o, struct fo_client *c, struct ft_actions *out)
{
    uint64_t oldest = UINT64_MAX;

    for (size_t i = 0; i < c->n_held; i++) {
        oldest = MIN(oldest, c->held[i].since);
    }
    if (oldest != UINT64_MAX) {
        ft_emit_timer(out, c->client, oldest + o->timeout_ns);
        c->timer = true;
    } else if (c->timer) {
        ft_emit_cancel(out, c->client);
        c->timer = false;
    }
}

static void
flow_order_on_packet(struct flow_order *o, const struct ft_event *ev, struct ft_actions *out)
{
    struct fo_client *c;
    struct demo_msg m;
    uint64_t counter, value;
    size_t pos;

    if (!demo_msg_parse(ev->data, ev->len, &m)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        return;
    }
    counter = m.req_id & 0xffffffffu;
    if (u64map_get(&o->clients, m.client, &value)) {
        c = (struct fo_client *) (uintptr_t) value;
    } else if (u64map_count(&o->clients) >= o->max_clients) {
        ft_emit_drop(out, FT_DROP_OVERLOAD, ev->data, ev->len);
        return;
    } else {
        c = xzalloc(sizeof *c);
        c->client = m.client;
        c->next = 1;
        u64map_put(&o->clients, m.client, (uintptr_t) c);
    }
    if (counter < c->next) {
        ft_emit_drop(out, FT_DROP_STALE, ev->data, ev->len);
        return;
    }
    if (counter == c->next) {
        ft_emit_deliver(out, ev->data, ev->len);
        c->next++;
        flow_order_drain(c, out);
        flow_order_arm(o, c, out);
        return;
    }
    for (pos = 0; pos < c->n_held && c->held[pos].counter < counter; pos++) {
        continue;
    }
    if (pos < c->n_held && c->held[pos].counter == counter) {
        ft_emit_drop(out, FT_DROP_DUPLICATE, ev->data, ev->len);
        return;
    }
    if (c->n_held >= o->max_held) {
        ft_emit_drop(out, FT_DROP_OVERLOAD, ev->data, ev->len);
        return;
    }
    c->held = xrealloc(c->held, (c->n_held + 1) * sizeof *c->held);
    memmove(c->held + pos + 1, c->held + pos, (c->n_held - pos) * sizeof *c->held);
    c->held[pos] = (struct fo_held) {
        .counter = counter, .since = ev->now_ns, .msg = xmalloc(ev->len), .len = ev->len,
    };
    memcpy(c->held[pos].msg, ev->data, ev->len);
    c->n_held++;
    if (!c->timer) {
        flow_order_arm(o, c, out);
    }
}

static void
flow_order_on_timer(struct flow_order *o, const struct ft_event *ev, struct ft_actions *out)
{
    struct fo_client *c;
    uint64_t value;

    if (!u64map_get(&o->clients, ev->timer, &value)) {
        return;
    }
    c = (struct fo_client *) (uintptr_t) value;
    c->timer = false;
    if (c->n_held) {
        uint64_t oldest = UINT64_MAX;

        for (size_t i = 0; i < c->n_held; i++) {
            oldest = MIN(oldest, c->held[i].since);
        }
        if (ev->now_ns >= oldest + o->timeout_ns) {
            ft_emit_note(out, "flow_order: client %u skips counters %llu..%llu (never came)",
                         c->client, (unsigned long long) c->next,
                         (unsigned long long) c->held[0].counter - 1);
            c->next = c->held[0].counter;
            flow_order_drain(c, out);
        }
    }
    flow_order_arm(o, c, out);
}

static int
flow_order_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct flow_order *o = flow_order_cast(core);

    if (ev->kind == FT_EV_PACKET) {
        flow_order_on_packet(o, ev, out);
    } else if (ev->kind == FT_EV_TIMER) {
        flow_order_on_timer(o, ev, out);
    }
    return 0;
}

const struct ft_core_class ft_flow_order_class = {
    .name = "flow_order",
    .summary = "FIT-SFC per-flow consistency: a client's packets to the function in counter "
               "order, gaps skipped after a timeout",
    .create = flow_order_create,
    .destroy = flow_order_destroy,
    .step = flow_order_step,
};
