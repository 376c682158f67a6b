/* Scenario "none": a chain of 1-5 `none` forwarders between a client and itself, on a network
 * that delays and reorders (up to spikes of several milliseconds) but neither loses nor
 * duplicates. No fault tolerance is promised beyond that, so none is injected. Invariants:
 * every reply is the request unchanged, nothing is lost, nothing arrives twice. */
#include "tests/sim/scenario.h"

#include <stdio.h>

#include "vnfs/lib/util.h"

static uint64_t
none_setup(struct sim *sim, bool broken)
{
    struct ft_rng *rng = sim_rng(sim);
    struct sim_net_config net = *sim_net(sim);
    size_t n_hops = ft_rng_range(rng, 1, 5);
    uint32_t client, hops[5];

    net.delay_min_ns = ft_rng_range(rng, 10, 100) * SIM_US;
    net.delay_max_ns = net.delay_min_ns + ft_rng_below(rng, 2 * SIM_MS);
    net.spike_prob = ft_rng_unit(rng) * 0.1;
    net.spike_max_ns = 5 * SIM_MS;
    net.dup_prob = 0;
    net.loss_prob = 0;
    sim_set_net(sim, &net);

    client = sim_add_endpoint(sim, "client");
    for (size_t i = 0; i < n_hops; i++) {
        char name[32];
        snprintf(name, sizeof name, "fwd%zu", i);
        hops[i] = sim_add_endpoint(sim, name);
    }
    for (size_t i = 0; i < n_hops; i++) {
        uint32_t next = i + 1 < n_hops ? hops[i + 1] : client;
        struct sim_core_spec spec = {
            .class = ft_core_class_find("none"), .next = &next, .n_next = 1,
        };
        sim_make_core(sim, hops[i], &spec);
    }
    sim_make_client(sim, client, &hops[0], 1);
    sim_scenario_requests(sim, client, ft_rng_range(rng, 20, 200), 64, 300 * SIM_US + 1);
    return 60 * SIM_S;
}

static bool
none_check(const struct sim *sim, struct buf *why)
{
    const struct sim_history *h = sim_history(sim);

    return sim_check_valid(h, why) && sim_check_no_duplicates(h, why)
           && sim_check_no_loss(h, why);
}

const struct sim_scenario sim_scenario_none = {
    .name = "none",
    .summary = "chain of none forwarders on a reordering network: no loss, no duplicate",
    .broken = NULL,
    .setup = none_setup,
    .check = none_check,
};
