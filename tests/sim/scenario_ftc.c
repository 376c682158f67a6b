/* Scenario "ftc": FTC (vnfs/ft/ftc) on a chain of 1-4 'stamp' middleboxes (Monitors whose
 * counters can be audited from the packets), f = 1-3 (extra replicas when the chain is shorter
 * than f+1), 1-4 state partitions, 1-6 keys. The network between every pair reorders (overlapping
 * delay windows and spikes) and loses messages until the last failure has recovered. Up to
 * three rounds of failures; in each, 1..f ring members crash at (nearly) the same instant, often
 * including the last middlebox, whose group wraps around through the buffer and the forwarder;
 * each restarts empty after the failure notice plus a delay and fetches its groups' state from
 * the survivors. When everything has recovered, every key gets probe packets.
 *
 * The checker after the buffer sees exactly the released packets. Each carries, per middlebox,
 * the count its counter reached and its digest chain before and after the packet. Invariants:
 * no two released packets claim different states for the same count of a middlebox's key (a
 * released packet's update that recovery lost shows up as its count reused with another
 * digest), every update stamp extends the digest it read, and the probes sent once all is stable
 * are all released (liveness: the recovered state passes the same audit). A violation corrupts
 * the reply, which sim_check_valid() reports. */
#include "tests/sim/scenario.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/util.h"
#include "vnfs/ft/demo/demo.h"
#include "vnfs/ft/ftc/ftc.h"
#include "vnfs/ft/u64map.h"

#define FTC_SIM_MAX_MBOX 4
#define FTC_SIM_MAX_RING 5

/* Ingress: the client's demo message plus an empty stamp trailer. next = [forwarder]. */
struct ftc_in {
    struct ft_core up;
    uint32_t next;
};

static int
ftc_in_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct ftc_in *c;

    if (cfg->n_next != 1) {
        return EINVAL;
    }
    c = xzalloc(sizeof *c);
    c->next = cfg->next[0];
    *corep = &c->up;
    (void) errp;
    return 0;
}

static void
ftc_sim_destroy(struct ft_core *core)
{
    free(core);
}

static int
ftc_in_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct ftc_in *c = (struct ftc_in *) core;
    uint8_t *p;

    if (ev->kind == FT_EV_PACKET) {
        p = xmalloc(ev->len + 1);
        memcpy(p, ev->data, ev->len);
        p[ev->len] = 0;
        ft_emit_forward(out, c->next, p, ev->len + 1);
        free(p);
    }
    return 0;
}

static const struct ft_core_class ftc_in_class = {
    .name = "ftc-stamp-in",
    .summary = "test: adds the stamp trailer to client packets",
    .create = ftc_in_create,
    .destroy = ftc_sim_destroy,
    .step = ftc_in_step,
};

/* Egress checker: next = [client]; parameter 'n' (middleboxes). */
struct ftc_check {
    struct ft_core up;
    uint32_t client;
    uint64_t n;
    struct u64map digests;      /* (mbox, key, count) -> digest after. */
};

static int
ftc_check_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct ftc_check *c;
    uint64_t n;
    int error = ft_config_u64(cfg, "n", 1, &n, errp);

    if (error) {
        return error;
    }
    if (cfg->n_next != 1) {
        return EINVAL;
    }
    c = xzalloc(sizeof *c);
    c->client = cfg->next[0];
    c->n = n;
    u64map_init(&c->digests);
    *corep = &c->up;
    return 0;
}

static void
ftc_check_destroy(struct ft_core *core)
{
    struct ftc_check *c = (struct ftc_check *) core;

    u64map_destroy(&c->digests);
    free(c);
}

/* Records that (mbox, key) had 'digest' at 'count'; false if another was recorded. */
static bool
ftc_check_state(struct ftc_check *c, uint8_t mbox, uint8_t key, uint64_t count, uint64_t digest)
{
    uint64_t k = (uint64_t) mbox << 56 | (uint64_t) key << 48 | count, d;

    if (!count) {
        return digest == 0;
    }
    if (u64map_get(&c->digests, k, &d)) {
        return d == digest;
    }
    u64map_put(&c->digests, k, digest);
    return true;
}

static int
ftc_check_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct ftc_check *c = (struct ftc_check *) core;
    struct ftc_stamp st[FTC_SIM_MAX_RING + 1];
    size_t demo_len, n;
    struct demo_msg m;
    const char *bad = NULL;

    if (ev->kind != FT_EV_PACKET) {
        return 0;
    }
    if (!ftc_stamps_parse(ev->data, ev->len, &demo_len, st, ARRAY_SIZE(st), &n)
        || !demo_msg_parse(ev->data, demo_len, &m)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        return 0;
    }
    if (n != c->n) {
        bad = "not stamped by every middlebox";
    }
    for (size_t i = 0; !bad && i < n; i++) {
        const struct ftc_stamp *s = &st[i];

        if (s->mbox != i) {
            bad = "stamps out of chain order";
        } else if (s->write) {
            if (!s->count || s->after != ftc_stamp_chain(s->before, m.req_id)) {
                bad = "an update that does not extend the digest it read";
            } else if (!ftc_check_state(c, s->mbox, s->key, s->count - 1, s->before)
                       || !ftc_check_state(c, s->mbox, s->key, s->count, s->after)) {
                bad = "a count released with two different states (a released update lost)";
            }
        } else if (s->after != s->before
                   || !ftc_check_state(c, s->mbox, s->key, s->count, s->after)) {
            bad = "a read of a state no released packet had";
        }
    }
    if (!bad) {
        ft_emit_forward(out, c->client, ev->data, demo_len);
    } else {
        ft_emit_note(out, "request %"PRIu64": %s", m.req_id, bad);
        sim_scenario_forward_spoiled(out, c->client, ev->data, demo_len);
    }
    return 0;
}

static const struct ft_core_class ftc_check_class = {
    .name = "ftc-check",
    .summary = "test: audits the stamps of released packets",
    .create = ftc_check_create,
    .destroy = ftc_check_destroy,
    .step = ftc_check_step,
};

/* Before the buffer: records (delivers) the request id of each data packet that reaches the
 * buffer before 'until' (ns), as the client records each one the buffer releases.
 * next = [buffer]. */
struct ftc_tap {
    struct ft_core up;
    uint32_t next;
    uint64_t until;
    struct ftc_message *m;
};

static int
ftc_tap_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct ftc_tap *c;
    uint64_t until;
    int error = ft_config_u64(cfg, "until", UINT64_MAX, &until, errp);

    if (error) {
        return error;
    }
    if (cfg->n_next != 1) {
        return EINVAL;
    }
    c = xzalloc(sizeof *c);
    c->next = cfg->next[0];
    c->until = until;
    c->m = xmalloc(sizeof *c->m);
    *corep = &c->up;
    return 0;
}

static void
ftc_tap_destroy(struct ft_core *core)
{
    struct ftc_tap *c = (struct ftc_tap *) core;

    free(c->m);
    free(c);
}

static int
ftc_tap_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct ftc_tap *c = (struct ftc_tap *) core;
    struct ftc_stamp st[FTC_SIM_MAX_RING + 1];
    enum ftc_packet_type type;
    const uint8_t *inner;
    size_t inner_len, demo_len, n;
    struct demo_msg m;

    if (ev->kind != FT_EV_PACKET) {
        return 0;
    }
    if (ev->now_ns < c->until
        && ftc_packet_parse(ev->data, ev->len, &type, c->m, &inner, &inner_len)
        && type != FTC_PKT_PROPAGATE
        && ftc_stamps_parse(inner, inner_len, &demo_len, st, ARRAY_SIZE(st), &n)
        && demo_msg_parse(inner, demo_len, &m)) {
        ft_emit_deliver(out, &m.req_id, sizeof m.req_id);
    }
    ft_emit_forward(out, c->next, ev->data, ev->len);
    return 0;
}

static const struct ft_core_class ftc_tap_class = {
    .name = "ftc-tap",
    .summary = "test: records the data packets that reach the buffer",
    .create = ftc_tap_create,
    .destroy = ftc_tap_destroy,
    .step = ftc_tap_step,
};

/* One chain: the draws its parts make, and its endpoints. */
struct ftc_chain {
    unsigned n, f, R, P, keys;
    uint64_t tick;
    bool tap;                   /* An ftc-tap in front of the buffer, */
    uint64_t tap_until;         /* recording the packets that come before this. */
    uint64_t window, max_backlog;       /* The forwarder's admission (0: none). */
    uint32_t client, in, fwd, tap_id, buffer, check, ring[FTC_SIM_MAX_RING];
};

/* Adds the chain's endpoints and cores as drawn in 'c' (the message size and where tails send
 * commits are drawn here). */
static void
ftc_build(struct sim *sim, bool broken, struct ftc_chain *c)
{
    struct ft_rng *rng = sim_rng(sim);
    char n_s[8], p_s[8], tick_s[32], keys_s[16], msg_s[16], commit_s[16], window_s[24];
    char backlog_s[24], until_s[24];
    uint32_t to_buffer;

    ft_core_class_register(&ftc_in_class);
    ft_core_class_register(&ftc_check_class);
    ft_core_class_register(&ftc_tap_class);
    c->R = MAX(c->n, c->f + 1);
    c->client = sim_add_endpoint(sim, "client");
    c->in = sim_add_endpoint(sim, "in");
    c->fwd = sim_add_endpoint(sim, "forwarder");
    sim_scenario_add_endpoints(sim, "r", c->ring, c->R);
    c->tap_id = c->tap ? sim_add_endpoint(sim, "tap") : 0;
    c->buffer = sim_add_endpoint(sim, "buffer");
    c->check = sim_add_endpoint(sim, "check");
    to_buffer = c->tap ? c->tap_id : c->buffer;

    snprintf(n_s, sizeof n_s, "%u", c->n);
    snprintf(p_s, sizeof p_s, "%u", c->P);
    snprintf(tick_s, sizeof tick_s, "%"PRIu64"us", (uint64_t) (c->tick / SIM_US));
    snprintf(keys_s, sizeof keys_s, "keys=%u", c->keys);
    snprintf(window_s, sizeof window_s, "%"PRIu64, c->window);
    snprintf(backlog_s, sizeof backlog_s, "%"PRIu64, c->max_backlog);
    snprintf(until_s, sizeof until_s, "%"PRIu64, c->tap_until);
    /* Sometimes messages as small as a guest's MTU allows: retransmissions, state images and
     * the forwarder's attachments then come in parts. */
    snprintf(msg_s, sizeof msg_s, "%"PRIu64,
             ft_rng_chance(rng, 0.5) ? ft_rng_range(rng, 512, 1400) : (uint64_t) 60000);
    /* Half the runs, tails also send the wrapped groups' commits straight to the buffer (as on
     * guests): both ways must keep every invariant. */
    snprintf(commit_s, sizeof commit_s, "%"PRIu32,
             ft_rng_chance(rng, 0.5) ? c->buffer : (uint32_t) 0);
    struct ft_param rparams[] = {
        { "n", n_s }, { "partitions", p_s }, { "tick", tick_s }, { "mbox", "stamp" },
        { "mbox_params", keys_s }, { "max_msg", msg_s }, { "commit_to", commit_s },
    };
    struct ft_param eparams[] = {
        { "tick", tick_s }, { "max_msg", msg_s }, { "window", window_s },
        { "max_backlog", backlog_s },
    };
    struct ft_param cparams[] = { { "n", n_s } };
    struct sim_core_spec in_spec = { .class = &ftc_in_class, .next = &c->fwd, .n_next = 1 };
    struct ft_param tparams[] = { { "until", until_s } };
    struct sim_core_spec tap_spec = {
        .class = &ftc_tap_class, .next = &c->buffer, .n_next = 1, .params = tparams,
        .n_params = 1,
    };
    struct sim_core_spec fwd_spec = {
        .class = ft_core_class_find("ftc_forwarder"), .next = &c->ring[0], .n_next = 1,
        .peers = &c->buffer, .n_peers = 1, .params = eparams, .n_params = 4,
    };
    struct sim_core_spec buf_spec = {
        .class = ft_core_class_find(broken ? "ftc_buffer-broken" : "ftc_buffer"),
        .next = &c->check, .n_next = 1, .peers = &c->fwd, .n_peers = 1, .params = eparams,
        .n_params = 2,
    };
    struct sim_core_spec check_spec = {
        .class = &ftc_check_class, .next = &c->client, .n_next = 1, .params = cparams,
        .n_params = 1,
    };

    sim_make_core(sim, c->in, &in_spec);
    sim_make_core(sim, c->fwd, &fwd_spec);
    if (c->tap) {
        sim_make_core(sim, c->tap_id, &tap_spec);
    }
    sim_make_core(sim, c->buffer, &buf_spec);
    sim_make_core(sim, c->check, &check_spec);
    for (unsigned i = 0; i < c->R; i++) {
        struct sim_core_spec r_spec = {
            .class = ft_core_class_find("ftc_replica"), .f = c->f, .group = c->ring,
            .n_group = c->R, .next = i + 1 < c->R ? &c->ring[i + 1] : &to_buffer, .n_next = 1,
            .params = rparams, .n_params = ARRAY_SIZE(rparams),
        };
        sim_make_core(sim, c->ring[i], &r_spec);
    }
    sim_make_client(sim, c->client, &c->in, 1);
}

static uint64_t
ftc_setup(struct sim *sim, bool broken)
{
    struct ft_rng *rng = sim_rng(sim);
    struct sim_net_config net = *sim_net(sim);
    struct ftc_chain c = { .n = ft_rng_range(rng, 1, FTC_SIM_MAX_MBOX) };
    uint32_t order[FTC_SIM_MAX_RING];
    size_t n_requests, n_rounds;
    uint64_t traffic_end, t, last = 0, probes;

    c.f = ft_rng_range(rng, 1, 3);
    c.P = ft_rng_range(rng, 1, 4);
    c.keys = ft_rng_range(rng, 1, 6);
    c.tick = ft_rng_range(rng, 200, 1000) * SIM_US;
    n_requests = ft_rng_range(rng, 100, 300);
    traffic_end = n_requests * 150 * SIM_US;

    net.delay_min_ns = ft_rng_range(rng, 10, 50) * SIM_US;
    net.delay_max_ns = net.delay_min_ns + ft_rng_below(rng, 300) * SIM_US;
    net.spike_prob = 0.02;
    net.spike_max_ns = SIM_MS;
    net.dup_prob = 0;
    net.loss_prob = ft_rng_below(rng, 6) / 100.0;
    net.authenticated = true;
    net.detect_ns = ft_rng_range(rng, 50, 2000) * SIM_US;
    net.tell_restarted = true;
    ftc_build(sim, broken, &c);

    /* Rounds of up to f simultaneous failures, each after the previous one recovered. */
    n_rounds = ft_rng_range(rng, 1, 3);
    t = ft_rng_range(rng, 2, MAX(3, traffic_end / SIM_MS / 2)) * SIM_MS;
    for (size_t round = 0; round < n_rounds; round++) {
        unsigned k = ft_rng_range(rng, 1, c.f);
        uint64_t round_last = t;

        sim_scenario_order(sim, order, c.R);
        if (ft_rng_chance(rng, 0.5)) {
            /* The last middlebox: its group wraps around the ring. */
            for (unsigned i = 0; i < c.R; i++) {
                if (order[i] == c.n - 1) {
                    order[i] = order[0];
                    order[0] = c.n - 1;
                }
            }
        }
        for (unsigned i = 0; i < k; i++) {
            uint64_t crash = t + ft_rng_below(rng, 100) * SIM_US;
            uint64_t restart = crash + net.detect_ns + ft_rng_below(rng, 3 * SIM_MS);

            sim_crash_at(sim, c.ring[order[i]], crash);
            sim_restart_at(sim, c.ring[order[i]], restart);
            round_last = MAX(round_last, restart);
        }
        last = round_last;
        t = round_last + ft_rng_range(rng, 20, 40) * SIM_MS;
    }
    net.stable_ns = MAX(last, traffic_end) + 30 * SIM_MS;
    sim_set_net(sim, &net);

    sim_scenario_requests(sim, c.client, n_requests, 48, 300 * SIM_US);
    probes = net.stable_ns + 10 * SIM_MS;
    for (unsigned k = 0; k < c.keys; k++) {
        for (int i = 0; i < 2; i++) {
            uint8_t body[3] = { k, 1, 1 };

            sim_request_at(sim, c.client, probes + (2 * k + i) * 300 * SIM_US, body,
                           sizeof body);
        }
    }
    return probes + 200 * SIM_MS;
}

static bool
ftc_check(const struct sim *sim, struct buf *why)
{
    const struct sim_history *h = sim_history(sim);

    return sim_check_valid(h, why) && sim_check_no_duplicates(h, why)
           && sim_check_live_after(h, sim_net(sim)->stable_ns, why);
}

/* Scenario "ftc-idle": no failure; a burst of traffic with losses and cuts between the
 * chain's members, ending with the buffer cut off from the forwarder (the last logs of the
 * groups that wrap around never reach their tails, and no later log will tell them), then no
 * traffic at all. The chain must propagate state when traffic stops: every data packet that
 * reached the buffer up to FTC_IDLE_SETTLE after the last request is released
 * FTC_IDLE_BOUND_TICKS ticks later. */
#define FTC_IDLE_SETTLE (20 * SIM_MS)
#define FTC_IDLE_BOUND_TICKS 100

static uint64_t
ftc_idle_setup(struct sim *sim, bool broken)
{
    struct ft_rng *rng = sim_rng(sim);
    struct sim_net_config net = *sim_net(sim);
    struct ftc_chain c = { .n = ft_rng_range(rng, 1, FTC_SIM_MAX_RING), .tap = true };
    uint32_t chain[FTC_SIM_MAX_RING + 2];
    size_t n_requests, n_chain = 0;
    uint64_t gap, last, cut;
    double loss;

    c.f = ft_rng_range(rng, 1, 3);
    c.P = ft_rng_range(rng, 1, 4);
    c.keys = ft_rng_range(rng, 1, 6);
    c.tick = ft_rng_range(rng, 200, 1000) * SIM_US;
    n_requests = ft_rng_range(rng, 200, 2000);
    gap = ft_rng_range(rng, 2, 30) * SIM_US;
    if (ft_rng_chance(rng, 0.5)) {
        /* Admission as on guests (vnf_ftc.c), or smaller. */
        c.window = ft_rng_range(rng, 8, 256);
        c.max_backlog = 2 * c.window;
    }
    net.delay_min_ns = ft_rng_range(rng, 10, 50) * SIM_US;
    net.delay_max_ns = net.delay_min_ns + ft_rng_below(rng, 300) * SIM_US;
    net.spike_prob = 0.02;
    net.spike_max_ns = ft_rng_range(rng, 1, 5) * SIM_MS;
    net.dup_prob = 0;
    net.authenticated = true;
    loss = ft_rng_below(rng, 11) / 100.0;
    cut = ft_rng_range(rng, 10, 40) * SIM_MS;
    last = sim_scenario_requests(sim, c.client, n_requests, 48, gap);
    c.tap_until = last + FTC_IDLE_SETTLE;
    ftc_build(sim, broken, &c);

    /* Losses between the chain's members only (the tap must see what the buffer gets, the
     * client what it releases), while traffic lasts. */
    chain[n_chain++] = c.fwd;
    chain[n_chain++] = c.buffer;
    for (unsigned i = 0; i < c.R; i++) {
        chain[n_chain++] = c.ring[i];
    }
    for (size_t a = 0; a < n_chain; a++) {
        for (size_t b = 0; b < n_chain; b++) {
            if (a != b) {
                sim_link_loss(sim, chain[a], chain[b], loss, last);
            }
        }
    }
    sim_link_loss(sim, c.ring[c.R - 1], c.tap_id, loss, last);
    /* Bursts: a member cut off from the rest for a while (a stalled guest, a full queue). */
    for (size_t k = ft_rng_below(rng, 20); k > 0; k--) {
        size_t x = ft_rng_below(rng, n_chain);
        uint64_t from = ft_rng_below(rng, last), until = from + ft_rng_range(rng, 1, 30) * SIM_MS;

        for (size_t y = 0; y < n_chain; y++) {
            if (y != x) {
                sim_partition(sim, chain[x], chain[y], from, MIN(until, last));
            }
        }
    }
    /* Until the last packet is in (FTC_IDLE_SETTLE is many round trips of the chain). */
    sim_partition(sim, c.buffer, c.fwd, last > cut ? last - cut : 0, last + FTC_IDLE_SETTLE / 2);
    sim_set_net(sim, &net);
    return c.tap_until + FTC_IDLE_BOUND_TICKS * c.tick;
}

/* Every data packet the tap saw reach the buffer was released to the client. */
static bool
ftc_idle_check(const struct sim *sim, struct buf *why)
{
    const struct sim_history *h = sim_history(sim);
    const struct sim_seq *tap = NULL;
    struct u64map released;
    size_t missing = 0;

    if (!sim_check_valid(h, why) || !sim_check_no_duplicates(h, why)) {
        return false;
    }
    for (size_t i = 0; i < h->n_seqs; i++) {
        if (h->seqs[i].name && !strcmp(h->seqs[i].name, "tap")) {
            tap = &h->seqs[i];
        }
    }
    u64map_init(&released);
    for (size_t i = 0; i < h->n_accepts; i++) {
        u64map_put(&released, ft_hash_bytes(&h->accepts[i].req_id, sizeof h->accepts[i].req_id,
                                             0), 1);
    }
    for (size_t i = 0; tap && i < tap->n; i++) {
        uint64_t v;

        missing += !u64map_get(&released, tap->items[i], &v);
    }
    u64map_destroy(&released);
    if (missing) {
        buf_printf(why, "%zu of the %zu data packets that reached the buffer by %"PRIu64
                   " ms after the last request were not released %d ticks later\n", missing,
                   tap->n, (uint64_t) (FTC_IDLE_SETTLE / SIM_MS), FTC_IDLE_BOUND_TICKS);
    }
    return !missing;
}

const struct sim_scenario sim_scenario_ftc_idle = {
    .name = "ftc-idle",
    .summary = "FTC when traffic stops: a burst with losses between replicas, then none: "
               "every packet that reached the buffer is released",
    .setup = ftc_idle_setup,
    .check = ftc_idle_check,
    .check_seeds = 1000,
};

const struct sim_scenario sim_scenario_ftc = {
    .name = "ftc",
    .summary = "FTC in-chain replication: 1-4 middleboxes, f = 1-3, reordering and loss "
               "between replicas, rounds of up to f simultaneous failures: every released "
               "packet's effect survives recovery, probes after recovery are released",
    .broken = "the buffer releases packets before their state is replicated f+1 times",
    .setup = ftc_setup,
    .check = ftc_check,
    .check_seeds = 1000,
};
