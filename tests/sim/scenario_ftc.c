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
#define FTC_SIM_MAX_RING 4

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
    struct ftc_stamp st[FTC_SIM_MAX_MBOX + 1];
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

static uint64_t
ftc_setup(struct sim *sim, bool broken)
{
    struct ft_rng *rng = sim_rng(sim);
    struct sim_net_config net = *sim_net(sim);
    unsigned n = ft_rng_range(rng, 1, FTC_SIM_MAX_MBOX);
    unsigned f = ft_rng_range(rng, 1, 3);
    unsigned R = MAX(n, f + 1), P = ft_rng_range(rng, 1, 4), keys = ft_rng_range(rng, 1, 6);
    uint64_t tick = ft_rng_range(rng, 200, 1000) * SIM_US;
    size_t n_requests = ft_rng_range(rng, 100, 300);
    uint64_t traffic_end = n_requests * 150 * SIM_US, t, last = 0, probes;
    uint32_t client, in, fwd, buffer, check, ring[FTC_SIM_MAX_RING], order[FTC_SIM_MAX_RING];
    char n_s[8], p_s[8], tick_s[32], keys_s[16], msg_s[16];
    size_t n_rounds;

    net.delay_min_ns = ft_rng_range(rng, 10, 50) * SIM_US;
    net.delay_max_ns = net.delay_min_ns + ft_rng_below(rng, 300) * SIM_US;
    net.spike_prob = 0.02;
    net.spike_max_ns = SIM_MS;
    net.dup_prob = 0;
    net.loss_prob = ft_rng_below(rng, 6) / 100.0;
    net.authenticated = true;
    net.detect_ns = ft_rng_range(rng, 50, 2000) * SIM_US;
    net.tell_restarted = true;

    ft_core_class_register(&ftc_in_class);
    ft_core_class_register(&ftc_check_class);
    client = sim_add_endpoint(sim, "client");
    in = sim_add_endpoint(sim, "in");
    fwd = sim_add_endpoint(sim, "forwarder");
    sim_scenario_add_endpoints(sim, "r", ring, R);
    buffer = sim_add_endpoint(sim, "buffer");
    check = sim_add_endpoint(sim, "check");

    snprintf(n_s, sizeof n_s, "%u", n);
    snprintf(p_s, sizeof p_s, "%u", P);
    snprintf(tick_s, sizeof tick_s, "%"PRIu64"us", (uint64_t) (tick / SIM_US));
    snprintf(keys_s, sizeof keys_s, "keys=%u", keys);
    /* Sometimes messages as small as a guest's MTU allows: retransmissions, state images and
     * the forwarder's attachments then come in parts. */
    snprintf(msg_s, sizeof msg_s, "%"PRIu64,
             ft_rng_chance(rng, 0.5) ? ft_rng_range(rng, 512, 1400) : (uint64_t) 60000);
    {
        /* Half the runs, tails also send the wrapped groups' commits straight to the buffer
         * (as on guests): both ways must keep every invariant. */
        char commit_s[16];
        snprintf(commit_s, sizeof commit_s, "%"PRIu32,
                 ft_rng_chance(rng, 0.5) ? buffer : (uint32_t) 0);
        struct ft_param rparams[] = {
            { "n", n_s }, { "partitions", p_s }, { "tick", tick_s }, { "mbox", "stamp" },
            { "mbox_params", keys_s }, { "max_msg", msg_s }, { "commit_to", commit_s },
        };
        struct ft_param eparams[] = { { "tick", tick_s }, { "max_msg", msg_s } };
        struct ft_param cparams[] = { { "n", n_s } };
        struct sim_core_spec in_spec = { .class = &ftc_in_class, .next = &fwd, .n_next = 1 };
        struct sim_core_spec fwd_spec = {
            .class = ft_core_class_find("ftc_forwarder"), .next = &ring[0], .n_next = 1,
            .peers = &buffer, .n_peers = 1, .params = eparams, .n_params = 2,
        };
        struct sim_core_spec buf_spec = {
            .class = ft_core_class_find(broken ? "ftc_buffer-broken" : "ftc_buffer"),
            .next = &check, .n_next = 1, .peers = &fwd, .n_peers = 1, .params = eparams,
            .n_params = 2,
        };
        struct sim_core_spec check_spec = {
            .class = &ftc_check_class, .next = &client, .n_next = 1, .params = cparams,
            .n_params = 1,
        };

        sim_make_core(sim, in, &in_spec);
        sim_make_core(sim, fwd, &fwd_spec);
        sim_make_core(sim, buffer, &buf_spec);
        sim_make_core(sim, check, &check_spec);
        for (unsigned i = 0; i < R; i++) {
            struct sim_core_spec r_spec = {
                .class = ft_core_class_find("ftc_replica"), .f = f, .group = ring,
                .n_group = R, .next = i + 1 < R ? &ring[i + 1] : &buffer, .n_next = 1,
                .params = rparams, .n_params = ARRAY_SIZE(rparams),
            };
            sim_make_core(sim, ring[i], &r_spec);
        }
    }
    sim_make_client(sim, client, &in, 1);

    /* Rounds of up to f simultaneous failures, each after the previous one recovered. */
    n_rounds = ft_rng_range(rng, 1, 3);
    t = ft_rng_range(rng, 2, MAX(3, traffic_end / SIM_MS / 2)) * SIM_MS;
    for (size_t round = 0; round < n_rounds; round++) {
        unsigned k = ft_rng_range(rng, 1, f);
        uint64_t round_last = t;

        sim_scenario_order(sim, order, R);
        if (ft_rng_chance(rng, 0.5)) {
            /* The last middlebox: its group wraps around the ring. */
            for (unsigned i = 0; i < R; i++) {
                if (order[i] == n - 1) {
                    order[i] = order[0];
                    order[0] = n - 1;
                }
            }
        }
        for (unsigned i = 0; i < k; i++) {
            uint64_t crash = t + ft_rng_below(rng, 100) * SIM_US;
            uint64_t restart = crash + net.detect_ns + ft_rng_below(rng, 3 * SIM_MS);

            sim_crash_at(sim, ring[order[i]], crash);
            sim_restart_at(sim, ring[order[i]], restart);
            round_last = MAX(round_last, restart);
        }
        last = round_last;
        t = round_last + ft_rng_range(rng, 20, 40) * SIM_MS;
    }
    net.stable_ns = MAX(last, traffic_end) + 30 * SIM_MS;
    sim_set_net(sim, &net);

    sim_scenario_requests(sim, client, n_requests, 48, 300 * SIM_US);
    probes = net.stable_ns + 10 * SIM_MS;
    for (unsigned k = 0; k < keys; k++) {
        for (int i = 0; i < 2; i++) {
            uint8_t body[3] = { k, 1, 1 };

            sim_request_at(sim, client, probes + (2 * k + i) * 300 * SIM_US, body, sizeof body);
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
