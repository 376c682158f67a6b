/* The table of scenarios: a scheme adds its file and one line here. */
#include "tests/sim/scenario.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/util.h"

const struct sim_scenario *const sim_scenarios[] = {
    &sim_scenario_none,
    &sim_scenario_voter,
    &sim_scenario_sequencer,
    &sim_scenario_nham,
    &sim_scenario_nham_gbn,
    &sim_scenario_nham_take,
    &sim_scenario_fitsfc_f1,
    &sim_scenario_fitsfc_f2,
    &sim_scenario_pbft_f1,
    &sim_scenario_pbft_f2,
    &sim_scenario_pbft_recover_f1,
    &sim_scenario_pbft_recover_f2,
    &sim_scenario_ftc,
    &sim_scenario_ftc_idle,
    &sim_scenario_ftvnf,
};
const size_t sim_n_scenarios = ARRAY_SIZE(sim_scenarios);

void
sim_register_broken_cores(void)
{
    ft_core_class_register(&ft_voter_broken_class);
    ft_core_class_register(&ft_sequencer_broken_class);
    ft_core_class_register(&ft_seq_replica_broken_class);
    ft_core_class_register(&ft_nham_sff_broken_class);
    ft_core_class_register(&ft_bft_voter_broken_class);
    ft_core_class_register(&ft_pbft_broken_class);
    ft_core_class_register(&ft_ftc_buffer_broken_class);
}

const struct sim_scenario *
sim_scenario_find(const char *name)
{
    for (size_t i = 0; i < sim_n_scenarios; i++) {
        if (!strcmp(sim_scenarios[i]->name, name)) {
            return sim_scenarios[i];
        }
    }
    return NULL;
}

bool
sim_scenario_run(const struct sim_scenario *scn, uint64_t seed, bool broken,
                 struct buf *trace, struct sim_stats *stats, struct buf *why)
{
    struct sim *sim = sim_create(seed, trace);
    uint64_t end_ns;
    bool ok;
    int error;

    if (trace) {
        buf_printf(trace, "# scenario %s seed %"PRIu64"%s\n", scn->name, seed,
                   broken ? " broken" : "");
    }
    end_ns = scn->setup(sim, broken);
    error = sim_run(sim, end_ns);
    if (error) {
        buf_printf(why, "a core's step failed: %s\n", strerror(error));
        ok = false;
    } else {
        ok = scn->check(sim, why);
    }
    if (trace) {
        const struct sim_stats *s = sim_stats(sim);
        buf_printf(trace, "# end at %"PRIu64" ns: %"PRIu64" packets, %"PRIu64" lost, %"PRIu64
                   " steps, %"PRIu64" timers: %s\n", s->end_ns, s->messages, s->lost, s->steps,
                   s->timers, ok ? "invariants hold" : "INVARIANT BROKEN");
    }
    if (stats) {
        *stats = *sim_stats(sim);
    }
    sim_destroy(sim);
    return ok;
}

void
sim_scenario_run_seeds(const struct sim_scenario *scn, uint64_t first, uint64_t n,
                       bool broken, struct sim_batch *batch)
{
    memset(batch, 0, sizeof *batch);
    buf_init(&batch->why);
    for (uint64_t i = 0; i < n; i++) {
        struct sim_stats stats;
        bool ok = sim_scenario_run(scn, first + i, broken, NULL, &stats, &batch->why);

        batch->seeds_run++;
        batch->messages += stats.messages;
        if (!ok) {
            batch->failed = true;
            batch->failed_seed = first + i;
            break;
        }
    }
}

void
sim_batch_uninit(struct sim_batch *batch)
{
    buf_uninit(&batch->why);
}

void
sim_replay_command(struct buf *b, const char *program, const struct sim_scenario *scn,
                   uint64_t seed, bool broken)
{
    buf_printf(b, "replay: %s --scenario %s --seed %"PRIu64"%s --trace /tmp/sim-%s-%"PRIu64
               ".trace\n", program, scn->name, seed, broken ? " --broken" : "", scn->name, seed);
}

uint64_t
sim_scenario_requests(struct sim *sim, uint32_t client, size_t n, size_t max_len,
                      uint64_t gap_below_ns)
{
    struct ft_rng *rng = sim_rng(sim);
    uint64_t t = 0;

    max_len = MIN(MAX(max_len, 1), SIM_SCENARIO_BODY_MAX);
    for (size_t i = 0; i < n; i++) {
        uint8_t body[SIM_SCENARIO_BODY_MAX];
        size_t len = ft_rng_range(rng, 1, max_len);

        for (size_t k = 0; k < len; k++) {
            body[k] = ft_rng_u64(rng);
        }
        t += ft_rng_below(rng, gap_below_ns);
        sim_request_at(sim, client, t, body, len);
    }
    return t;
}

void
sim_scenario_shuffle(struct sim *sim, uint32_t *ids, size_t n)
{
    struct ft_rng *rng = sim_rng(sim);

    for (size_t i = n; i-- > 1;) {
        size_t j = ft_rng_below(rng, i + 1);
        uint32_t tmp = ids[i];

        ids[i] = ids[j];
        ids[j] = tmp;
    }
}

void
sim_scenario_order(struct sim *sim, uint32_t *order, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
    }
    sim_scenario_shuffle(sim, order, n);
}

void
sim_scenario_add_endpoints(struct sim *sim, const char *prefix, uint32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char name[48];

        snprintf(name, sizeof name, "%s%zu", prefix, i);
        ids[i] = sim_add_endpoint(sim, name);
    }
}

void
sim_scenario_forward_spoiled(struct ft_actions *out, uint32_t to, const uint8_t *data, size_t len)
{
    uint8_t *p = xmalloc(len);

    memcpy(p, data, len);
    p[len - 1] ^= 0xff;
    ft_emit_forward(out, to, p, len);
    free(p);
}
