/* Scenario "voter": a client sends each request to 2f+1 service replicas (f = 1 or 2); each
 * replica answers the client, whose `voter` core decides. Up to f replicas are faulty, each in
 * one way: crash (and maybe restart), Byzantine (any strategy of byzantine.h), a lossy link,
 * or a partition from the client. The network delays, reorders, duplicates, and loses messages
 * on every link until it stabilises; links are authenticated (FIT-SFC signs its messages).
 * Invariants: the client never accepts a value no correct replica computes, never accepts a
 * request twice, and accepts every request sent once the network is stable. */
#include "tests/sim/scenario.h"

#include <stdio.h>

#include "vnfs/lib/util.h"
#include "vnfs/ft/demo/demo.h"

/* What each correct replica computes: a function of the body alone. */
static void
voter_service_body(const uint8_t *body, size_t len, struct buf *out)
{
    uint8_t *p = buf_put_uninit(out, len);

    for (size_t i = 0; i < len; i++) {
        p[i] = body[len - 1 - i] * 7 + i + 1;
    }
}

static void
voter_service(uint32_t self, const uint8_t *req, size_t len, struct buf *reply)
{
    struct buf body = BUF_INITIALIZER;
    struct demo_msg m;

    if (demo_msg_parse(req, len, &m)) {
        voter_service_body(m.body, m.body_len, &body);
        m.origin = self;
        m.body = body.data;
        m.body_len = body.len;
        demo_msg_put(reply, &m);
    }
    buf_uninit(&body);
}

static uint64_t
voter_setup(struct sim *sim, bool broken)
{
    struct ft_rng *rng = sim_rng(sim);
    struct sim_net_config net = *sim_net(sim);
    uint32_t f = ft_rng_range(rng, 1, 2);
    size_t n = 2 * f + 1, n_faulty = ft_rng_below(rng, f + 1);
    uint32_t client, replicas[5], order[5];
    struct ft_param timeout = { "timeout", "50ms" };
    uint64_t end;
    size_t n_requests;

    net.delay_min_ns = ft_rng_range(rng, 20, 200) * SIM_US;
    net.delay_max_ns = net.delay_min_ns + ft_rng_below(rng, SIM_MS);
    net.spike_prob = ft_rng_unit(rng) * 0.05;
    net.spike_max_ns = 5 * SIM_MS;
    net.dup_prob = ft_rng_unit(rng) * 0.2;
    net.loss_prob = ft_rng_unit(rng) * 0.05;
    net.stable_ns = ft_rng_below(rng, 30 * SIM_MS);
    net.authenticated = true;
    net.detect_ns = 5 * SIM_MS;
    sim_set_net(sim, &net);

    client = sim_add_endpoint(sim, "client");
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "r%zu", i);
        replicas[i] = sim_add_endpoint(sim, name);
        sim_make_service(sim, replicas[i], voter_service, &client, 1);
        order[i] = replicas[i];
    }
    struct sim_core_spec spec = {
        .class = broken ? &ft_voter_broken_class : ft_core_class_find("voter"),
        .f = f, .group = replicas, .n_group = n, .params = &timeout, .n_params = 1,
    };
    sim_make_core(sim, client, &spec);
    sim_make_client(sim, client, replicas, n);
    sim_set_expect(sim, voter_service_body);

    n_requests = ft_rng_range(rng, 20, 150);
    end = n_requests * 200 * SIM_US;

    /* Choose the faulty replicas: a seeded shuffle, then take the first n_faulty. */
    sim_scenario_shuffle(sim, order, n);
    for (size_t i = 0; i < n_faulty; i++) {
        uint32_t r = order[i];
        uint64_t at = ft_rng_below(rng, end);

        switch (ft_rng_below(rng, 4)) {
        case 0:
            sim_crash_at(sim, r, at);
            if (ft_rng_chance(rng, 0.5)) {
                sim_restart_at(sim, r, at + ft_rng_range(rng, 1, 20) * SIM_MS);
            }
            break;
        case 1:
            sim_set_byzantine(sim, r, sim_byzantine_pick(rng));
            break;
        case 2:
            sim_link_loss(sim, r, client, 0.2 + 0.8 * ft_rng_unit(rng), UINT64_MAX);
            break;
        default:
            sim_partition(sim, r, client, at, at + ft_rng_range(rng, 1, 50) * SIM_MS);
            break;
        }
    }

    sim_scenario_requests(sim, client, n_requests, 48, 400 * SIM_US);
    return 60 * SIM_S;
}

static bool
voter_check(const struct sim *sim, struct buf *why)
{
    const struct sim_history *h = sim_history(sim);

    return sim_check_valid(h, why) && sim_check_no_duplicates(h, why)
           && sim_check_live_after(h, sim_net(sim)->stable_ns, why);
}

const struct sim_scenario sim_scenario_voter = {
    .name = "voter",
    .summary = "2f+1 replicas, at most f faulty (crash, Byzantine, lossy, partitioned), "
               "client-side majority voter",
    .broken = "the voter counts every copy, so a duplicated lie counts twice",
    .setup = voter_setup,
    .check = voter_check,
};
