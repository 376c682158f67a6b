/* sim — runs scenarios over seeds; prints a replay line for the first failing seed.
 *
 *   sim [--scenario NAME] [--seeds N] [--seed S] [--trace FILE] [--broken] [--list]
 *
 * Exit: 0 every seed held its invariants, 1 a seed failed, 2 bad usage. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/sim/scenario.h"
#include "vnfs/lib/util.h"

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: sim [--scenario NAME] [--seeds N] [--seed S] [--trace FILE] [--broken]\n"
            "       sim --list\n"
            "Runs each scenario (or NAME) over seeds S, S+1, ..., S+N-1 (S = 1, N = 1000 by\n"
            "default; N = 1 when only --seed is given). --trace writes the trace of the run\n"
            "that failed first, or of the only run. --broken runs the scenario's deliberately\n"
            "broken variant, which should fail.\n");
}

static bool
parse_u64(const char *s, uint64_t *v)
{
    char *end;

    errno = 0;
    *v = strtoull(s, &end, 0);
    return *s && *s != '-' && !*end && !errno;
}

static int
write_trace(const char *path, const struct buf *trace)
{
    FILE *f = fopen(path, "w");
    int error = 0;

    if (!f) {
        return errno;
    }
    if (trace->len && fwrite(trace->data, 1, trace->len, f) != trace->len) {
        error = EIO;
    }
    if (fclose(f) && !error) {
        error = errno;
    }
    return error;
}

/* Runs 'scn'; returns 0 if all seeds passed, 1 if one failed. */
static int
run_scenario(const char *program, const struct sim_scenario *scn, uint64_t first, uint64_t n,
             bool broken, const char *trace_path)
{
    struct sim_batch batch;
    uint64_t start = time_mono_ns();
    double secs;
    int rc = 0;

    sim_scenario_run_seeds(scn, first, n, broken, &batch);
    secs = (time_mono_ns() - start) / 1e9;
    if (!batch.failed) {
        printf("%-9s %"PRIu64" seed(s) from %"PRIu64" passed%s: %"PRIu64" packets in %.2f s "
               "(%.0f packets/s)\n", scn->name, batch.seeds_run, first,
               broken ? " (broken variant NOT caught)" : "", batch.messages, secs,
               secs > 0 ? batch.messages / secs : 0.0);
    } else {
        struct buf line = BUF_INITIALIZER;
        printf("%-9s seed %"PRIu64" FAILED after %"PRIu64" seed(s)%s: %.*s", scn->name,
               batch.failed_seed, batch.seeds_run, broken ? " (broken variant caught)" : "",
               (int) batch.why.len, (const char *) batch.why.data);
        sim_replay_command(&line, program, scn, batch.failed_seed, broken);
        printf("%.*s", (int) line.len, (const char *) line.data);
        buf_uninit(&line);
        rc = 1;
    }
    if (trace_path && (batch.failed || n == 1)) {
        struct buf trace = BUF_INITIALIZER;
        struct buf why = BUF_INITIALIZER;
        uint64_t seed = batch.failed ? batch.failed_seed : first;
        int error;

        sim_scenario_run(scn, seed, broken, &trace, NULL, &why);
        error = write_trace(trace_path, &trace);
        if (error) {
            fprintf(stderr, "sim: %s: %s\n", trace_path, strerror(error));
            rc = rc ? rc : 2;
        } else {
            printf("trace of seed %"PRIu64": %s (%zu bytes)\n", seed, trace_path, trace.len);
        }
        buf_uninit(&trace);
        buf_uninit(&why);
    }
    sim_batch_uninit(&batch);
    fflush(stdout);
    return rc;
}

int
main(int argc, char *argv[])
{
    static const struct option options[] = {
        { "scenario", required_argument, NULL, 'c' },
        { "seeds", required_argument, NULL, 'n' },
        { "seed", required_argument, NULL, 's' },
        { "trace", required_argument, NULL, 't' },
        { "broken", no_argument, NULL, 'b' },
        { "list", no_argument, NULL, 'l' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *scenario = NULL, *trace = NULL;
    uint64_t first = 1, n = 0;
    bool broken = false, have_seed = false;
    int opt, rc = 0;

    log_set_program("sim");
    sim_register_broken_cores();
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            scenario = optarg;
            break;
        case 'n':
            if (!parse_u64(optarg, &n) || !n) {
                fprintf(stderr, "sim: --seeds wants a positive count, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 's':
            if (!parse_u64(optarg, &first)) {
                fprintf(stderr, "sim: --seed wants a 64-bit number, not '%s'\n", optarg);
                return 2;
            }
            have_seed = true;
            break;
        case 't':
            trace = optarg;
            break;
        case 'b':
            broken = true;
            break;
        case 'l':
            for (size_t i = 0; i < sim_n_scenarios; i++) {
                printf("%-10s %s\n", sim_scenarios[i]->name, sim_scenarios[i]->summary);
                if (sim_scenarios[i]->broken) {
                    printf("%-10s --broken: %s\n", "", sim_scenarios[i]->broken);
                }
            }
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sim: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!n) {
        n = have_seed ? 1 : 1000;
    }
    if (scenario) {
        const struct sim_scenario *scn = sim_scenario_find(scenario);
        if (!scn) {
            fprintf(stderr, "sim: unknown scenario '%s' (try --list)\n", scenario);
            return 2;
        }
        if (broken && !scn->broken) {
            fprintf(stderr, "sim: scenario '%s' has no broken variant\n", scenario);
            return 2;
        }
        return run_scenario(argv[0], scn, first, n, broken, trace);
    }
    if (trace && n != 1) {
        fprintf(stderr, "sim: --trace over many seeds needs --scenario\n");
        return 2;
    }
    for (size_t i = 0; i < sim_n_scenarios; i++) {
        if (!broken || sim_scenarios[i]->broken) {
            rc |= run_scenario(argv[0], sim_scenarios[i], first, n, broken, trace);
        }
    }
    return rc;
}
