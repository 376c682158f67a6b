#include "tests/sim/sim.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/byzantine.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/demo/demo.h"
#include "vnfs/ft/u64map.h"

enum sim_item_type {
    SIM_IT_MSG,
    SIM_IT_TIMER,
    SIM_IT_NOTICE,
    SIM_IT_CRASH,
    SIM_IT_RESTART,
    SIM_IT_REQUEST,
};

/* One pending event. Ordered by (at, seq): 'seq' is the order of scheduling, so ties between
 * events at the same virtual time break the same way in every replay. */
struct sim_item {
    uint64_t at;
    uint64_t seq;
    uint8_t type;
    uint8_t kind;               /* MSG, NOTICE: enum ft_event_kind. */
    uint32_t dst;
    uint32_t src;               /* As claimed by the sender. */
    uint32_t true_src;
    uint32_t epoch;             /* TIMER: the destination's epoch when armed. */
    uint32_t len;
    uint8_t *data;
    uint64_t aux;               /* TIMER: timer id; REQUEST: request id; CRASH: 1 silent. */
    uint64_t gen;               /* TIMER: generation, to ignore re-armed or cancelled timers. */
};

enum sim_role { SIM_EP_PLAIN, SIM_EP_CORE, SIM_EP_SERVICE };

struct sim_endpoint {
    uint32_t id;
    char *name;
    enum sim_role role;
    bool client;
    bool up;
    bool faulty;
    uint32_t epoch;             /* Bumped by crash and restart: stale timers die with it. */
    uint32_t incarnation;       /* Restarts so far. */

    /* Core. */
    const struct ft_core_class *class;
    struct ft_core *core;
    uint32_t f;
    uint32_t *group, *next, *peers;
    size_t n_group, n_next, n_peers;
    struct ft_param *params;
    size_t n_params;
    uint64_t timer_gen;
    struct u64map timers;       /* timer id -> generation of the armed one. */

    /* Service (uses 'next' too); on a core, the consumer of its delivers. */
    sim_service_fn *service;
    uint32_t decision_stage;

    /* Client. */
    uint32_t *targets;
    size_t n_targets;

    const struct sim_byzantine *byz;
    struct sim_byz_state byz_state;
};

struct sim_partition {
    uint32_t a, b;
    uint64_t from, until;
};

struct sim_link_loss {
    uint32_t from, to;
    double p;
    uint64_t until;
};

struct sim {
    uint64_t seed;
    struct ft_rng master;       /* Seeds cores and Byzantine strategies, in creation order. */
    struct ft_rng scenario_rng;
    struct ft_rng net_rng;
    uint64_t now;
    uint64_t seq;
    bool started;

    struct sim_item *heap;
    size_t n_heap, cap_heap;

    struct sim_endpoint *eps;
    size_t n_eps, cap_eps;

    struct sim_net_config net;
    struct sim_partition *parts;
    size_t n_parts, cap_parts;
    struct sim_link_loss *losses;
    size_t n_losses, cap_losses;
    sim_expect_fn *expect;

    struct sim_history history;
    struct sim_stats stats;
    struct buf *trace;
    struct ft_actions actions;
    struct buf scratch;
    struct buf consumed;        /* A core's consumer output (scratch may be in use). */
};

static const struct sim_net_config sim_default_net = {
    .delay_min_ns = 50 * SIM_US,
    .delay_max_ns = 500 * SIM_US,
    .detect_ns = 10 * SIM_MS,
    .authenticated = true,
};

struct sim *
sim_create(uint64_t seed, struct buf *trace)
{
    struct sim *sim = xzalloc(sizeof *sim);

    sim->seed = seed;
    ft_rng_init(&sim->master, seed);
    ft_rng_fork(&sim->master, &sim->scenario_rng);
    ft_rng_fork(&sim->master, &sim->net_rng);
    sim->net = sim_default_net;
    sim->trace = trace;
    sim_history_init(&sim->history);
    ft_actions_init(&sim->actions);
    buf_init(&sim->scratch);
    buf_init(&sim->consumed);
    return sim;
}

void
sim_destroy(struct sim *sim)
{
    if (!sim) {
        return;
    }
    for (size_t i = 0; i < sim->n_heap; i++) {
        free(sim->heap[i].data);
    }
    free(sim->heap);
    for (size_t i = 0; i < sim->n_eps; i++) {
        struct sim_endpoint *e = &sim->eps[i];
        ft_core_destroy(e->core);
        u64map_destroy(&e->timers);
        for (size_t j = 0; j < e->n_params; j++) {
            free((char *) e->params[j].key);
            free((char *) e->params[j].value);
        }
        free(e->params);
        free(e->group);
        free(e->next);
        free(e->peers);
        free(e->targets);
        free(e->name);
        sim_byz_state_uninit(&e->byz_state);
    }
    free(sim->eps);
    free(sim->parts);
    free(sim->losses);
    sim_history_uninit(&sim->history);
    ft_actions_uninit(&sim->actions);
    buf_uninit(&sim->scratch);
    buf_uninit(&sim->consumed);
    free(sim);
}

uint64_t
sim_seed(const struct sim *sim)
{
    return sim->seed;
}

struct ft_rng *
sim_rng(struct sim *sim)
{
    return &sim->scenario_rng;
}

uint64_t
sim_now(const struct sim *sim)
{
    return sim->now;
}

void
sim_set_net(struct sim *sim, const struct sim_net_config *net)
{
    sim->net = *net;
    if (sim->net.delay_max_ns < sim->net.delay_min_ns) {
        sim->net.delay_max_ns = sim->net.delay_min_ns;
    }
}

const struct sim_net_config *
sim_net(const struct sim *sim)
{
    return &sim->net;
}

void
sim_set_expect(struct sim *sim, sim_expect_fn *expect)
{
    sim->expect = expect;
}

const struct sim_history *
sim_history(const struct sim *sim)
{
    return &sim->history;
}

const struct sim_stats *
sim_stats(const struct sim *sim)
{
    return &sim->stats;
}

bool
sim_tracing(const struct sim *sim)
{
    return sim->trace != NULL;
}

size_t
sim_n_endpoints(const struct sim *sim)
{
    return sim->n_eps;
}

const char *
sim_endpoint_name(const struct sim *sim, uint32_t id)
{
    return id < sim->n_eps ? sim->eps[id].name : "?";
}

static struct sim_endpoint *
sim_ep(struct sim *sim, uint32_t id)
{
    if (id >= sim->n_eps) {
        sfc_abort("sim: no endpoint %"PRIu32" (have %zu)", id, sim->n_eps);
    }
    return &sim->eps[id];
}

void
sim_trace(struct sim *sim, uint32_t endpoint, const char *fmt, ...)
{
    va_list args;
    char *s;

    if (!sim->trace) {
        return;
    }
    va_start(args, fmt);
    s = xvasprintf(fmt, args);
    va_end(args);
    buf_printf(sim->trace, "%12"PRIu64" %-10s %s\n", sim->now,
               endpoint == FT_ENDPOINT_NONE ? "-" : sim_endpoint_name(sim, endpoint), s);
    free(s);
}

/* "len 24 0000000000000003000000070000000a..." */
static char *
sim_hex(const uint8_t *data, size_t len)
{
    size_t n = MIN(len, 20);
    char *s = xmalloc(2 * n + 32);
    int k = sprintf(s, "len %zu ", len);

    for (size_t i = 0; i < n; i++) {
        k += sprintf(s + k, "%02x", data[i]);
    }
    strcpy(s + k, len > n ? ".." : "");
    return s;
}

/* The event queue: a binary min-heap on (at, seq). */
static bool
sim_item_before(const struct sim_item *a, const struct sim_item *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void
sim_push(struct sim *sim, struct sim_item *it)
{
    size_t i;

    it->seq = sim->seq++;
    if (sim->n_heap >= sim->cap_heap) {
        sim->heap = x2nrealloc(sim->heap, &sim->cap_heap, sizeof *sim->heap);
    }
    for (i = sim->n_heap++; i > 0; i = (i - 1) / 2) {
        struct sim_item *parent = &sim->heap[(i - 1) / 2];
        if (!sim_item_before(it, parent)) {
            break;
        }
        sim->heap[i] = *parent;
    }
    sim->heap[i] = *it;
}

static void
sim_pop(struct sim *sim, struct sim_item *out)
{
    struct sim_item last;
    size_t i = 0, n;

    *out = sim->heap[0];
    last = sim->heap[--sim->n_heap];
    n = sim->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) {
            break;
        }
        if (c + 1 < n && sim_item_before(&sim->heap[c + 1], &sim->heap[c])) {
            c++;
        }
        if (!sim_item_before(&sim->heap[c], &last)) {
            break;
        }
        sim->heap[i] = sim->heap[c];
        i = c;
    }
    if (n) {
        sim->heap[i] = last;
    }
}

static uint8_t *
sim_copy(const void *data, size_t len)
{
    uint8_t *p = len ? xmalloc(len) : NULL;
    if (len) {
        memcpy(p, data, len);
    }
    return p;
}

uint32_t
sim_add_endpoint(struct sim *sim, const char *name)
{
    struct sim_endpoint *e;
    struct sim_seq *seq;

    if (sim->started) {
        sfc_abort("sim: endpoints must be added before sim_run()");
    }
    if (sim->n_eps >= sim->cap_eps) {
        sim->eps = x2nrealloc(sim->eps, &sim->cap_eps, sizeof *sim->eps);
    }
    e = &sim->eps[sim->n_eps];
    memset(e, 0, sizeof *e);
    e->id = sim->n_eps++;
    e->name = xstrdup(name);
    e->up = true;
    u64map_init(&e->timers);
    seq = sim_history_seq(&sim->history, e->id);
    seq->name = e->name;
    return e->id;
}

static uint32_t *
sim_copy_ids(const struct sim *sim, const uint32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] >= sim->n_eps) {
            sfc_abort("sim: endpoint id %"PRIu32" referenced before it was added", ids[i]);
        }
    }
    return (uint32_t *) sim_copy(ids, n * sizeof *ids);
}

static void
sim_core_start(struct sim *sim, struct sim_endpoint *e)
{
    struct ft_config cfg = {
        .self = e->id, .f = e->f,
        .group = e->group, .n_group = e->n_group,
        .next = e->next, .n_next = e->n_next,
        .peers = e->peers, .n_peers = e->n_peers,
        .params = e->params, .n_params = e->n_params,
    };
    char *err = NULL;
    int error;

    ft_rng_fork(&sim->master, &cfg.rng);
    error = ft_core_create(e->class, &cfg, &e->core, &err);
    if (error) {
        sfc_abort("sim: cannot create core '%s' for %s: %s", e->class->name, e->name,
                  err ? err : strerror(error));
    }
}

void
sim_make_core(struct sim *sim, uint32_t id, const struct sim_core_spec *spec)
{
    struct sim_endpoint *e = sim_ep(sim, id);

    e->role = SIM_EP_CORE;
    e->class = spec->class;
    e->f = spec->f;
    e->group = sim_copy_ids(sim, spec->group, spec->n_group);
    e->n_group = spec->n_group;
    e->next = sim_copy_ids(sim, spec->next, spec->n_next);
    e->n_next = spec->n_next;
    e->peers = sim_copy_ids(sim, spec->peers, spec->n_peers);
    e->n_peers = spec->n_peers;
    e->params = xcalloc(spec->n_params, sizeof *e->params);
    for (size_t i = 0; i < spec->n_params; i++) {
        e->params[i].key = xstrdup(spec->params[i].key);
        e->params[i].value = xstrdup(spec->params[i].value);
    }
    e->n_params = spec->n_params;
    sim_history_seq(&sim->history, id)->group = spec->agreement_group;
    e->service = spec->consumer;
    e->decision_stage = spec->decision_stage;
    /* Created now so a bad spec fails at setup, not in the middle of a run. */
    sim_core_start(sim, e);
}

void
sim_make_service(struct sim *sim, uint32_t id, sim_service_fn *fn, const uint32_t *next,
                 size_t n_next)
{
    struct sim_endpoint *e = sim_ep(sim, id);

    e->role = SIM_EP_SERVICE;
    e->service = fn;
    e->next = sim_copy_ids(sim, next, n_next);
    e->n_next = n_next;
}

void
sim_make_client(struct sim *sim, uint32_t id, const uint32_t *targets, size_t n_targets)
{
    struct sim_endpoint *e = sim_ep(sim, id);

    e->client = true;
    e->targets = sim_copy_ids(sim, targets, n_targets);
    e->n_targets = n_targets;
}

void
sim_mark_faulty(struct sim *sim, uint32_t id)
{
    sim_ep(sim, id)->faulty = true;
    sim_history_seq(&sim->history, id)->correct = false;
}

bool
sim_is_faulty(const struct sim *sim, uint32_t id)
{
    return id < sim->n_eps && sim->eps[id].faulty;
}

void
sim_crash_at(struct sim *sim, uint32_t id, uint64_t at_ns)
{
    struct sim_item it = { .at = at_ns, .type = SIM_IT_CRASH, .dst = id };

    sim_mark_faulty(sim, id);
    sim_push(sim, &it);
}

void
sim_crash_silent_at(struct sim *sim, uint32_t id, uint64_t at_ns)
{
    struct sim_item it = { .at = at_ns, .type = SIM_IT_CRASH, .dst = id, .aux = 1 };

    sim_mark_faulty(sim, id);
    sim_push(sim, &it);
}

void
sim_restart_at(struct sim *sim, uint32_t id, uint64_t at_ns)
{
    struct sim_item it = { .at = at_ns, .type = SIM_IT_RESTART, .dst = id };

    sim_mark_faulty(sim, id);
    sim_push(sim, &it);
}

void
sim_set_byzantine(struct sim *sim, uint32_t id, const struct sim_byzantine *byz)
{
    struct sim_endpoint *e = sim_ep(sim, id);
    uint64_t seed = ft_rng_u64(&sim->master);
    /* The identity a forger steals: the next endpoint, which scenarios place in the same group. */
    uint32_t victim = (id + 1) % sim->n_eps;

    sim_mark_faulty(sim, id);
    sim_byz_state_uninit(&e->byz_state);
    e->byz = byz;
    sim_byz_state_init(&e->byz_state, seed, victim);
}

void
sim_link_loss(struct sim *sim, uint32_t from, uint32_t to, double p, uint64_t until_ns)
{
    if (sim->n_losses >= sim->cap_losses) {
        sim->losses = x2nrealloc(sim->losses, &sim->cap_losses, sizeof *sim->losses);
    }
    sim->losses[sim->n_losses++] = (struct sim_link_loss) { from, to, p, until_ns };
}

void
sim_partition(struct sim *sim, uint32_t a, uint32_t b, uint64_t from_ns, uint64_t until_ns)
{
    if (sim->n_parts >= sim->cap_parts) {
        sim->parts = x2nrealloc(sim->parts, &sim->cap_parts, sizeof *sim->parts);
    }
    sim->parts[sim->n_parts++] = (struct sim_partition) { a, b, from_ns, until_ns };
}

static void
sim_body_hash(uint64_t *hash, uint32_t client, const uint8_t *body, size_t len)
{
    *hash = ft_hash_bytes(body, len, client);
}

uint64_t
sim_request_at(struct sim *sim, uint32_t client, uint64_t at_ns, const void *body, size_t len)
{
    struct sim_item it = {
        .at = at_ns, .type = SIM_IT_REQUEST, .dst = client,
        .data = sim_copy(body, len), .len = len,
    };
    struct buf expect = BUF_INITIALIZER;
    uint64_t hash;
    struct sim_op *op;

    if (sim->expect) {
        sim->expect(body, len, &expect);
        sim_body_hash(&hash, client, expect.data, expect.len);
    } else {
        sim_body_hash(&hash, client, body, len);
    }
    buf_uninit(&expect);
    op = sim_history_add_op(&sim->history, client, hash);
    it.aux = op->req_id;
    sim_push(sim, &it);
    return op->req_id;
}

/* Is from -> to cut or lossy now? Draws from the network's stream in a fixed order. */
static bool
sim_net_drops(struct sim *sim, uint32_t from, uint32_t to, const char **why)
{
    bool lost = ft_rng_chance(&sim->net_rng, sim->now < sim->net.stable_ns
                              ? sim->net.loss_prob : 0);

    if (lost) {
        *why = "lost";
        return true;
    }
    for (size_t i = 0; i < sim->n_losses; i++) {
        const struct sim_link_loss *l = &sim->losses[i];
        if (l->from == from && l->to == to && sim->now < l->until
            && ft_rng_chance(&sim->net_rng, l->p)) {
            *why = "lost on lossy link";
            return true;
        }
    }
    for (size_t i = 0; i < sim->n_parts; i++) {
        const struct sim_partition *p = &sim->parts[i];
        if (((p->a == from && p->b == to) || (p->a == to && p->b == from))
            && sim->now >= p->from && sim->now < p->until) {
            *why = "cut by partition";
            return true;
        }
    }
    return false;
}

void
sim_net_send(struct sim *sim, uint32_t true_src, uint32_t claimed_src, uint32_t dst,
             enum ft_event_kind kind, const uint8_t *data, size_t len)
{
    const char *why = NULL;
    int copies;

    if (dst >= sim->n_eps) {
        sim->stats.lost++;
        sim_trace(sim, true_src, "send to unknown endpoint %"PRIu32": dropped", dst);
        return;
    }
    if (sim_net_drops(sim, true_src, dst, &why)) {
        sim->stats.lost++;
        sim_trace(sim, true_src, "%s to %s: %s", ft_event_kind_name(kind),
                  sim->eps[dst].name, why);
        return;
    }
    copies = ft_rng_chance(&sim->net_rng, sim->net.dup_prob) ? 2 : 1;
    for (int c = 0; c < copies; c++) {
        uint64_t delay = ft_rng_range(&sim->net_rng, sim->net.delay_min_ns,
                                      sim->net.delay_max_ns);
        struct sim_item it = {
            .type = SIM_IT_MSG, .kind = kind, .dst = dst, .src = claimed_src,
            .true_src = true_src, .len = len, .data = sim_copy(data, len),
        };
        if (ft_rng_chance(&sim->net_rng, sim->net.spike_prob)) {
            delay += ft_rng_below(&sim->net_rng, sim->net.spike_max_ns + 1);
        }
        it.at = sim->now + delay;
        sim_push(sim, &it);
        if (c) {
            sim_trace(sim, true_src, "network duplicates %s to %s", ft_event_kind_name(kind),
                      sim->eps[dst].name);
        }
    }
}

static void
sim_endpoint_send(struct sim *sim, struct sim_endpoint *e, uint32_t dst,
                  enum ft_event_kind kind, const uint8_t *data, size_t len)
{
    if (e->byz) {
        e->byz->on_send(sim, e->id, &e->byz_state, dst, kind, data, len);
    } else {
        sim_net_send(sim, e->id, e->id, dst, kind, data, len);
    }
}

static void
sim_client_accept(struct sim *sim, struct sim_endpoint *e, const uint8_t *data, size_t len)
{
    struct demo_msg m;
    uint64_t hash = 0, req_id = 0;

    if (demo_msg_parse(data, len, &m)) {
        req_id = m.req_id;
        sim_body_hash(&hash, m.client, m.body, m.body_len);
    }
    sim_history_add_accept(&sim->history, e->id, req_id, sim->now, hash);
    sim_trace(sim, e->id, "accept request %"PRIu64" value %016"PRIx64, req_id, hash);
}

static void
sim_record_decision(struct sim *sim, const struct sim_endpoint *e, const uint8_t *data,
                    size_t len)
{
    struct sim_decision d = { .stage = e->decision_stage, .endpoint = e->id };
    struct demo_msg m;

    if (demo_msg_parse(data, len, &m)) {
        d.client = m.client;
        d.req_id = m.req_id;
        sim_body_hash(&d.value_hash, m.client, m.body, m.body_len);
        sim_history_add_decision(&sim->history, &d);
    }
}

static void
sim_apply_actions(struct sim *sim, struct sim_endpoint *e)
{
    static const enum ft_event_kind arrives_as[FT_ACT_N_KINDS] = {
        [FT_ACT_FORWARD] = FT_EV_PACKET, [FT_ACT_SEND] = FT_EV_PEER_MSG,
        [FT_ACT_STATE] = FT_EV_STATE, [FT_ACT_REQUEST_STATE] = FT_EV_STATE_REQUEST,
    };

    for (size_t i = 0; i < sim->actions.n; i++) {
        const struct ft_action *a = &sim->actions.v[i];
        struct sim_item it;
        char *hex;

        switch (a->kind) {
        case FT_ACT_FORWARD:
        case FT_ACT_SEND:
        case FT_ACT_STATE:
        case FT_ACT_REQUEST_STATE:
            if (sim->trace) {
                hex = sim_hex(a->data, a->len);
                sim_trace(sim, e->id, "%s -> %s %s", ft_action_kind_name(a->kind),
                          sim_endpoint_name(sim, a->to), hex);
                free(hex);
            }
            sim_endpoint_send(sim, e, a->to, arrives_as[a->kind], a->data, a->len);
            break;
        case FT_ACT_DELIVER:
            sim_seq_append(sim_history_seq(&sim->history, e->id),
                           ft_hash_bytes(a->data, a->len, 0));
            if (sim->trace) {
                hex = sim_hex(a->data, a->len);
                sim_trace(sim, e->id, "deliver %s", hex);
                free(hex);
            }
            if (e->client) {
                sim_client_accept(sim, e, a->data, a->len);
            }
            if (e->decision_stage) {
                sim_record_decision(sim, e, a->data, a->len);
            }
            if (e->service) {
                buf_clear(&sim->consumed);
                e->service(e->id, a->data, a->len, &sim->consumed);
                for (size_t k = 0; sim->consumed.len && k < e->n_next; k++) {
                    sim_endpoint_send(sim, e, e->next[k], FT_EV_PACKET, sim->consumed.data,
                                      sim->consumed.len);
                }
            }
            break;
        case FT_ACT_DROP:
            sim->stats.drops[a->reason < FT_DROP_N_REASONS ? a->reason : 0]++;
            sim_trace(sim, e->id, "drop (%s)", ft_drop_reason_name(a->reason));
            break;
        case FT_ACT_TIMER_ARM:
            memset(&it, 0, sizeof it);
            it.type = SIM_IT_TIMER;
            it.at = MAX(a->at_ns, sim->now);
            it.dst = e->id;
            it.epoch = e->epoch;
            it.aux = a->timer;
            it.gen = ++e->timer_gen;
            u64map_put(&e->timers, a->timer, it.gen);
            sim_push(sim, &it);
            sim_trace(sim, e->id, "arm timer %"PRIu64" at %"PRIu64, a->timer, it.at);
            break;
        case FT_ACT_TIMER_CANCEL:
            u64map_remove(&e->timers, a->timer, NULL);
            break;
        case FT_ACT_SUSPECT:
            sim_trace(sim, e->id, "suspects %s", sim_endpoint_name(sim, a->to));
            break;
        case FT_ACT_NOTE:
            sim_trace(sim, e->id, "note: %.*s", (int) a->len, (const char *) a->data);
            break;
        case FT_ACT_N_KINDS:
            break;
        }
    }
}

static int
sim_step(struct sim *sim, struct sim_endpoint *e, const struct ft_event *ev)
{
    int error;

    ft_actions_clear(&sim->actions);
    error = ft_core_step(e->core, ev, &sim->actions);
    sim->stats.steps++;
    if (error) {
        sim_trace(sim, e->id, "core step failed: %s", strerror(error));
        return error;
    }
    sim_apply_actions(sim, e);
    return 0;
}

static int
sim_on_message(struct sim *sim, const struct sim_item *it)
{
    struct sim_endpoint *e = &sim->eps[it->dst];
    char *hex;

    if (!e->up) {
        sim->stats.lost++;
        sim_trace(sim, e->id, "down: drops %s from %s", ft_event_kind_name(it->kind),
                  sim_endpoint_name(sim, it->src));
        return 0;
    }
    if (it->src != it->true_src && sim->net.authenticated) {
        sim->stats.forged_dropped++;
        sim_trace(sim, e->id, "drops %s claiming to be from %s (sent by %s): fails "
                  "authentication", ft_event_kind_name(it->kind),
                  sim_endpoint_name(sim, it->src), sim_endpoint_name(sim, it->true_src));
        return 0;
    }
    sim->stats.messages++;
    if (sim->trace) {
        hex = sim_hex(it->data, it->len);
        sim_trace(sim, e->id, "<- %s from %s %s", ft_event_kind_name(it->kind),
                  sim_endpoint_name(sim, it->src), hex);
        free(hex);
    }
    if (e->role == SIM_EP_CORE) {
        struct ft_event ev = {
            .kind = it->kind, .now_ns = sim->now, .from = it->src,
            .data = it->data, .len = it->len,
        };
        return sim_step(sim, e, &ev);
    } else if (e->role == SIM_EP_SERVICE) {
        if (it->kind == FT_EV_PACKET) {
            buf_clear(&sim->scratch);
            e->service(e->id, it->data, it->len, &sim->scratch);
            for (size_t i = 0; sim->scratch.len && i < e->n_next; i++) {
                sim_endpoint_send(sim, e, e->next[i], FT_EV_PACKET, sim->scratch.data,
                                  sim->scratch.len);
            }
        }
    } else if (e->client && it->kind == FT_EV_PACKET) {
        sim_client_accept(sim, e, it->data, it->len);
    }
    return 0;
}

static int
sim_on_timer(struct sim *sim, const struct sim_item *it)
{
    struct sim_endpoint *e = &sim->eps[it->dst];
    uint64_t gen;
    struct ft_event ev = {
        .kind = FT_EV_TIMER, .now_ns = sim->now, .from = e->id, .timer = it->aux,
    };

    if (!e->up || e->epoch != it->epoch || !u64map_get(&e->timers, it->aux, &gen)
        || gen != it->gen) {
        return 0;
    }
    u64map_remove(&e->timers, it->aux, NULL);
    sim->stats.timers++;
    sim_trace(sim, e->id, "timer %"PRIu64" fires", it->aux);
    return sim_step(sim, e, &ev);
}

static bool
sim_ids_contain(const uint32_t *ids, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

/* The failure detector the simulator plays: perfect, after 'detect_ns', told to every core
 * that has the endpoint in its group, next hops or peers. */
static void
sim_notify(struct sim *sim, uint32_t subject, enum ft_event_kind kind)
{
    for (size_t i = 0; i < sim->n_eps; i++) {
        struct sim_endpoint *w = &sim->eps[i];
        if (w->id != subject && w->role == SIM_EP_CORE
            && (sim_ids_contain(w->group, w->n_group, subject)
                || sim_ids_contain(w->next, w->n_next, subject)
                || sim_ids_contain(w->peers, w->n_peers, subject))) {
            struct sim_item it = {
                .at = sim->now + sim->net.detect_ns, .type = SIM_IT_NOTICE, .kind = kind,
                .dst = w->id, .src = subject, .true_src = subject,
            };
            sim_push(sim, &it);
        }
    }
}

static int
sim_on_notice(struct sim *sim, const struct sim_item *it)
{
    struct sim_endpoint *e = &sim->eps[it->dst];
    struct ft_event ev = { .kind = it->kind, .now_ns = sim->now, .from = it->src };

    if (!e->up || !e->core) {
        return 0;
    }
    sim_trace(sim, e->id, "notice: %s %s", sim_endpoint_name(sim, it->src),
              ft_event_kind_name(it->kind));
    return sim_step(sim, e, &ev);
}

static void
sim_on_crash(struct sim *sim, const struct sim_item *it)
{
    struct sim_endpoint *e = &sim->eps[it->dst];

    if (!e->up) {
        return;
    }
    sim_trace(sim, e->id, "crashes");
    e->up = false;
    e->epoch++;
    ft_core_destroy(e->core);
    e->core = NULL;
    u64map_clear(&e->timers);
    if (!it->aux) {
        sim_notify(sim, e->id, FT_EV_PEER_DOWN);
    }
}

static int
sim_on_restart(struct sim *sim, const struct sim_item *it)
{
    struct sim_endpoint *e = &sim->eps[it->dst];
    struct ft_event ev = { .kind = FT_EV_START, .now_ns = sim->now, .from = e->id };

    if (e->up) {
        return 0;
    }
    sim_trace(sim, e->id, "restarts");
    e->up = true;
    e->epoch++;
    ev.incarnation = ++e->incarnation;
    sim_notify(sim, e->id, FT_EV_PEER_UP);
    if (e->role == SIM_EP_CORE) {
        int error;

        sim_core_start(sim, e);
        error = sim_step(sim, e, &ev);
        for (size_t i = 0; !error && sim->net.tell_restarted && i < sim->n_eps; i++) {
            const struct sim_endpoint *w = &sim->eps[i];

            if (w->id != e->id && !w->up
                && (sim_ids_contain(e->group, e->n_group, w->id)
                    || sim_ids_contain(e->next, e->n_next, w->id)
                    || sim_ids_contain(e->peers, e->n_peers, w->id))) {
                struct ft_event down = { .kind = FT_EV_PEER_DOWN, .now_ns = sim->now,
                                         .from = w->id };

                error = sim_step(sim, e, &down);
            }
        }
        return error;
    }
    return 0;
}

static void
sim_on_request(struct sim *sim, const struct sim_item *it)
{
    struct sim_endpoint *e = &sim->eps[it->dst];
    struct sim_op *op = &sim->history.ops[it->aux - 1];
    struct demo_msg m = {
        .req_id = it->aux, .client = e->id, .origin = e->id,
        .body = it->data, .body_len = it->len,
    };

    if (!e->up) {
        sim_trace(sim, e->id, "down: request %"PRIu64" not sent", it->aux);
        return;
    }
    op->sent = true;
    op->sent_ns = sim->now;
    sim_trace(sim, e->id, "sends request %"PRIu64" to %zu target(s)", it->aux, e->n_targets);
    buf_clear(&sim->scratch);
    demo_msg_put(&sim->scratch, &m);
    for (size_t i = 0; i < e->n_targets; i++) {
        sim_endpoint_send(sim, e, e->targets[i], FT_EV_PACKET, sim->scratch.data,
                          sim->scratch.len);
    }
}

static int
sim_start(struct sim *sim)
{
    sim->started = true;
    for (size_t i = 0; i < sim->n_eps; i++) {
        struct sim_endpoint *e = &sim->eps[i];
        if (e->role == SIM_EP_CORE) {
            struct ft_event ev = { .kind = FT_EV_START, .now_ns = sim->now, .from = e->id };
            int error = sim_step(sim, e, &ev);
            if (error) {
                return error;
            }
        }
    }
    return 0;
}

int
sim_run(struct sim *sim, uint64_t end_ns)
{
    int error = 0;

    if (!sim->started) {
        error = sim_start(sim);
    }
    while (!error && sim->n_heap && sim->heap[0].at <= end_ns) {
        struct sim_item it;

        sim_pop(sim, &it);
        sim->now = it.at;
        switch ((enum sim_item_type) it.type) {
        case SIM_IT_MSG:
            error = sim_on_message(sim, &it);
            break;
        case SIM_IT_TIMER:
            error = sim_on_timer(sim, &it);
            break;
        case SIM_IT_NOTICE:
            error = sim_on_notice(sim, &it);
            break;
        case SIM_IT_CRASH:
            sim_on_crash(sim, &it);
            break;
        case SIM_IT_RESTART:
            error = sim_on_restart(sim, &it);
            break;
        case SIM_IT_REQUEST:
            sim_on_request(sim, &it);
            break;
        }
        free(it.data);
    }
    sim->stats.end_ns = sim->now;
    return error;
}
