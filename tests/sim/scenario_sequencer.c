/* Scenario "sequencer": a client sends requests to a sequencer that numbers them for 3-5
 * replicas of a state machine; one replica (never faulty) answers the client, whose voter with
 * f = 0 gives exactly-once acceptance. All other replicas may be faulty in the crash-recovery
 * model: crash (maybe restart, taking state from a peer), a lossy link from the sequencer, or a
 * partition from it. The network delays, reorders, duplicates and loses until it stabilises.
 * Invariants: correct replicas apply the same sequence, all of it (agreement, complete), none
 * applies anything twice, the client accepts only what it sent, once, and everything sent after
 * the network stabilised. */
#include "tests/sim/scenario.h"

#include <stdio.h>

#include "vnfs/lib/util.h"

static uint64_t
sequencer_setup(struct sim *sim, bool broken)
{
    struct ft_rng *rng = sim_rng(sim);
    struct sim_net_config net = *sim_net(sim);
    size_t n = ft_rng_range(rng, 3, 5), n_faulty = ft_rng_below(rng, n);
    uint32_t client, seq, group[6], order[5];
    struct ft_param respond[] = { { "respond", "1" } };
    struct ft_param quiet[] = { { "respond", "0" } };
    uint64_t end;
    size_t n_requests;

    net.delay_min_ns = ft_rng_range(rng, 20, 200) * SIM_US;
    net.delay_max_ns = net.delay_min_ns + ft_rng_below(rng, 2 * SIM_MS);
    net.spike_prob = ft_rng_unit(rng) * 0.05;
    net.spike_max_ns = 5 * SIM_MS;
    net.dup_prob = ft_rng_unit(rng) * 0.1;
    net.loss_prob = ft_rng_unit(rng) * 0.1;
    net.stable_ns = ft_rng_below(rng, 50 * SIM_MS);
    net.authenticated = true;
    net.detect_ns = ft_rng_range(rng, 1, 20) * SIM_MS;
    sim_set_net(sim, &net);

    client = sim_add_endpoint(sim, "client");
    seq = sim_add_endpoint(sim, "seq");
    group[0] = seq;
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "r%zu", i);
        group[i + 1] = sim_add_endpoint(sim, name);
    }
    struct sim_core_spec s_spec = {
        .class = ft_core_class_find(broken ? "sequencer-broken" : "sequencer"),
        .group = group + 1, .n_group = n,
    };
    sim_make_core(sim, seq, &s_spec);
    for (size_t i = 0; i < n; i++) {
        struct sim_core_spec r_spec = {
            .class = ft_core_class_find(broken ? "seq_replica-broken" : "seq_replica"),
            .group = group, .n_group = n + 1,
            .params = i == 0 ? respond : quiet, .n_params = 1, .agreement_group = 1,
        };
        sim_make_core(sim, group[i + 1], &r_spec);
    }
    struct sim_core_spec c_spec = {
        .class = ft_core_class_find("voter"), .f = 0, .group = &group[1], .n_group = 1,
    };
    sim_make_core(sim, client, &c_spec);
    sim_make_client(sim, client, &seq, 1);

    n_requests = ft_rng_range(rng, 20, 200);
    end = n_requests * 200 * SIM_US;

    /* r0 answers the client and stays correct; any of the others may fail. */
    for (size_t i = 0; i + 1 < n; i++) {
        order[i] = group[i + 2];
    }
    sim_scenario_shuffle(sim, order, n - 1);
    for (size_t i = 0; i < n_faulty; i++) {
        uint32_t r = order[i];
        uint64_t at = ft_rng_below(rng, end);

        switch (ft_rng_below(rng, 3)) {
        case 0:
            sim_crash_at(sim, r, at);
            if (ft_rng_chance(rng, 0.7)) {
                sim_restart_at(sim, r, at + ft_rng_range(rng, 1, 30) * SIM_MS);
            }
            break;
        case 1:
            sim_link_loss(sim, seq, r, 0.2 + 0.7 * ft_rng_unit(rng), UINT64_MAX);
            break;
        default:
            sim_partition(sim, seq, r, at, at + ft_rng_range(rng, 1, 50) * SIM_MS);
            break;
        }
    }

    sim_scenario_requests(sim, client, n_requests, 32, 400 * SIM_US);
    return 60 * SIM_S;
}

static bool
sequencer_check(const struct sim *sim, struct buf *why)
{
    const struct sim_history *h = sim_history(sim);

    return sim_check_valid(h, why) && sim_check_no_duplicates(h, why)
           && sim_check_seq_unique(h, why) && sim_check_agreement(h, true, why)
           && sim_check_live_after(h, sim_net(sim)->stable_ns, why);
}

const struct sim_scenario sim_scenario_sequencer = {
    .name = "sequencer",
    .summary = "sequencer + 3-5 replicas, crash-recovery with state transfer, lossy network: "
               "total order",
    .broken = "replicas apply whatever number arrives next, skipping holes",
    .setup = sequencer_setup,
    .check = sequencer_check,
};
