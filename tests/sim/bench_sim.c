/* bench_sim — simulated packets per second of wall time, per scenario (optimised build).
 *
 * Each scenario runs a fixed range of seeds three times; the median is reported, with its ratio
 * to the `none` scenario measured in the same run (the cheapest core: what the engine itself
 * costs) and to the 1,000,000 packets/s target. Bounded: at most 3 x 4000 seeds per scenario. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "tests/sim/scenario.h"
#include "vnfs/lib/util.h"

#define BENCH_SEEDS 4000
#define BENCH_REPS 3
#define BENCH_TARGET 1e6

static int
cmp_double(const void *a_, const void *b_)
{
    double a = *(const double *) a_, b = *(const double *) b_;
    return a < b ? -1 : a > b;
}

int
main(void)
{
    double baseline = 0;
    int rc = 0;

    sim_register_broken_cores();
    printf("%-10s %12s %14s %9s %9s\n", "scenario", "packets", "packets/s", "vs none",
           "vs 1M/s");
    for (size_t i = 0; i < sim_n_scenarios; i++) {
        const struct sim_scenario *scn = sim_scenarios[i];
        double rates[BENCH_REPS];
        uint64_t packets = 0;

        for (int r = 0; r < BENCH_REPS; r++) {
            struct sim_batch batch;
            uint64_t start = time_mono_ns();

            sim_scenario_run_seeds(scn, 1, BENCH_SEEDS, false, &batch);
            rates[r] = batch.messages / ((time_mono_ns() - start) / 1e9);
            packets = batch.messages;
            if (batch.failed) {
                printf("%s: seed %"PRIu64" failed: %.*s", scn->name, batch.failed_seed,
                       (int) batch.why.len, (const char *) batch.why.data);
                rc = 1;
            }
            sim_batch_uninit(&batch);
        }
        qsort(rates, BENCH_REPS, sizeof *rates, cmp_double);
        if (!baseline) {
            baseline = rates[BENCH_REPS / 2];
        }
        printf("%-10s %12"PRIu64" %14.0f %8.2fx %8.2fx\n", scn->name, packets,
               rates[BENCH_REPS / 2], rates[BENCH_REPS / 2] / baseline,
               rates[BENCH_REPS / 2] / BENCH_TARGET);
    }
    return rc;
}
