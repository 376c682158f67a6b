/* The experiment commands: run, compare. */

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testbed/cli/commands.h"
#include "testbed/infra/instance.h"
#include "testbed/model/experiment.h"
#include "testbed/plot/plot.h"
#include "testbed/report/results.h"
#include "testbed/run/runner.h"
#include "testbed/store/store.h"
#include "vnfs/lib/util.h"

/* The defaults of a measurement: guests and the switch's main thread on CPU 0 and, where there
 * is a second CPU, AF_XDP data ports busy-polled there (see instance_wire_ovs()). */
static void
default_placement(struct runner_opts *ro)
{
    bool two = sysconf(_SC_NPROCESSORS_ONLN) >= 2;

    ro->pin = true;
    ro->pin_cpu = 0;
    ro->afxdp = two;
    ro->pmd_cpu = 1;
    /* The PMD sleeps when idle and wakes at real-time priority (instance.h): on a host whose
     * CPUs are shared, a busy-polling PMD adds milliseconds per switch traversal. */
    ro->pmd_sleep_us = 100;
}

/* Parses EXPERIMENT [--set K=V]... [--quick] [--fresh] [--keep]; loads and adjusts the
 * experiment. Returns an exit code, 0 with '*expp' set on success. */
static int
load_experiment(struct cli_ctx *ctx, int argc, char *argv[], struct runner_opts *ro,
                struct experiment **expp)
{
    static const struct option options[] = {
        { "set", required_argument, NULL, 's' },
        { "quick", no_argument, NULL, 'q' },
        { "fresh", no_argument, NULL, 'f' },
        { "keep", no_argument, NULL, 'k' },
        { "pin", required_argument, NULL, 'p' },
        { "no-pin", no_argument, NULL, 'P' },
        { "datapath", required_argument, NULL, 'd' },
        { "pmd-sleep", required_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 },
    };
    struct experiment *exp = NULL;
    const char *file = NULL;
    char **sets = xcalloc(argc + 1, sizeof *sets);
    size_t n_sets = 0;
    bool quick = false;
    struct diag diag;
    int c, rc = 0;

    default_placement(ro);
    /* Options may come before or after the file. */
    optind = 0;
    while ((c = getopt_long(argc + 1, argv - 1, "", options, NULL)) != -1) {
        switch (c) {
        case 's':
            sets[n_sets++] = optarg;
            break;
        case 'q':
            quick = true;
            break;
        case 'f':
            ro->fresh = true;
            break;
        case 'k':
            ro->keep = true;
            break;
        case 'p':
            ro->pin = true;
            ro->pin_cpu = atoi(optarg);
            if (ro->pin_cpu < 0 || ro->pin_cpu >= CPU_SETSIZE) {
                fprintf(stderr, "sfclab: --pin %s: not a CPU number\n", optarg);
                free(sets);
                return 2;
            }
            break;
        case 'P':
            ro->pin = false;
            break;
        case 'd':
            if (strcmp(optarg, "afxdp") && strcmp(optarg, "system")) {
                fprintf(stderr, "sfclab: --datapath %s: expected afxdp or system\n", optarg);
                free(sets);
                return 2;
            }
            ro->afxdp = !strcmp(optarg, "afxdp");
            break;
        case 'S': {
            char *end;
            unsigned long us = strtoul(optarg, &end, 10);
            /* OVS takes 0 to 10,000 us. */
            if (end == optarg || *end || us > 10000) {
                fprintf(stderr, "sfclab: --pmd-sleep %s: expected microseconds, 0 to 10000 "
                        "(0: busy-polling)\n", optarg);
                free(sets);
                return 2;
            }
            ro->pmd_sleep_us = us;
            break;
        }
        default:
            free(sets);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "sfclab: expected one experiment file\n");
        free(sets);
        return 2;
    }
    file = argv[optind - 1];
    diag_init(&diag);
    if (experiment_load(file, &diag, &exp)
        || (quick && experiment_quick(exp, &diag))) {
        rc = 2;
    }
    for (size_t i = 0; !rc && i < n_sets; i++) {
        if (experiment_set(exp, sets[i], &diag)) {
            rc = 2;
        }
    }
    if (!rc) {
        /* The variant recorded with every run: what --quick and single-value --set changed
         * (a --set K=V1,V2 makes sweep points, which the runs' points already record). */
        char *v = xstrdup(quick ? "quick" : "full");

        for (size_t i = 0; i < n_sets; i++) {
            if (!strchr(sets[i], ',')) {
                char *longer = xasprintf("%s --set %s", v, sets[i]);
                free(v);
                v = longer;
            }
        }
        ro->variant = v;
    }
    if (rc) {
        diag_print(&diag, stderr);
        if (!diag_has_errors(&diag)) {
            fprintf(stderr, "%s: cannot load (%s)\n", file, strerror(errno));
        }
        experiment_free(exp);
    } else {
        *expp = exp;
    }
    diag_uninit(&diag);
    free(sets);
    return rc;
}

/* Runs, then draws the experiment's plots from the database: a time series per run when the
 * file asks for one (fault windows shaded), and the sweep's own charts. */
static int
run_loaded(struct cli_ctx *ctx, struct runner_opts *ro, struct experiment *exp)
{
    bool timeseries = false;
    int error, rc;

    instance_catch_interrupts();
    error = runner_run(ro, exp);
    rc = error == EINTR ? 130 : error == ENOTSUP ? 2 : error ? 1 : 0;
    for (size_t i = 0; i < exp->n_plots; i++) {
        timeseries |= !strcmp(exp->plots[i].kind, "timeseries");
    }
    for (size_t i = 0; !rc && timeseries && i < ro->n_run_ids; i++) {
        char id[32];
        char *args[] = { id, NULL };
        snprintf(id, sizeof id, "%lld", (long long) ro->run_ids[i]);
        rc = cmd_plot(ctx, 1, args) ? 1 : 0;
    }
    if (!rc) {
        char *args[] = { exp->name, NULL };
        rc = cmd_plot(ctx, 1, args) ? 1 : 0;
    }
    free(ro->run_ids);
    experiment_free(exp);
    return rc;
}

/* Loads, runs and plots an experiment, then hands its name to 'then' (the report, or the
 * comparison table), which reads the database alone. */
static int
run_then(struct cli_ctx *ctx, int argc, char *argv[],
         int (*then)(struct cli_ctx *, const char *experiment))
{
    struct runner_opts ro = {
        .instance = ctx->instance, .state_dir = ctx->state_dir, .db_path = ctx->db_path,
        .verbose = ctx->verbose,
    };
    struct experiment *exp;
    char *name;
    int rc = load_experiment(ctx, argc, argv, &ro, &exp);

    if (rc) {
        return rc;
    }
    name = xstrdup(exp->name);
    rc = run_loaded(ctx, &ro, exp);
    if (!rc) {
        rc = then(ctx, name);
    }
    free((char *) ro.variant);
    free(name);
    return rc;
}

static int
report_after_run(struct cli_ctx *ctx, const char *experiment)
{
    char *args[] = { (char *) experiment, NULL };
    return cmd_report(ctx, 1, args) ? 1 : 0;
}

int
cmd_run(struct cli_ctx *ctx, int argc, char *argv[])
{
    return run_then(ctx, argc, argv, report_after_run);
}

/* The headline metrics of a comparison: a run's summaries without labels. */
static const char *const compare_metrics[] = {
    "rtt_us", "availability_ratio", "wrong_answer_ratio", "timeout_ratio", "rx_pps",
    "recovery_total_ms",
};

static size_t
intern(char ***names, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++) {
        if (!strcmp((*names)[i], name)) {
            return i;
        }
    }
    *names = xrealloc(*names, (*n + 1) * sizeof **names);
    (*names)[*n] = xstrdup(name);
    return (*n)++;
}

/* One Markdown table per metric, a row per sweep point (without its scheme) and a column per
 * scheme, repetitions pooled as the report pools them (results.h), runs of one variant only;
 * and a bar chart per metric of the first point. */
static int
compare_table(struct cli_ctx *ctx, const char *experiment, const char *plot_dir)
{
    struct store *store = NULL;
    struct results_runs rr = { 0 };
    char **schemes = NULL, **points = NULL;
    size_t n_schemes = 0, n_points = 0;
    int error;

    error = store_open(ctx->db_path, true, &store);
    if (!error) {
        error = results_runs_load(store, experiment, NULL, &rr);
    }
    if (error) {
        store_close(store);
        return 1;
    }
    results_runs_describe(stdout, &rr);
    for (size_t i = 0; i < rr.n; i++) {
        intern(&schemes, &n_schemes, rr.runs[i].scheme);
        intern(&points, &n_points, rr.runs[i].point);
    }
    for (size_t m = 0; m < ARRAY_SIZE(compare_metrics); m++) {
        struct results_pooled *cells = xcalloc(n_schemes * n_points + 1, sizeof *cells);
        bool *have = xcalloc(n_schemes * n_points + 1, sizeof *have);
        bool any = false;

        for (size_t p = 0; p < n_points; p++) {
            for (size_t j = 0; j < n_schemes; j++) {
                have[p * n_schemes + j] = results_pool_runs(store, &rr, compare_metrics[m], NULL,
                                                            schemes[j], points[p],
                                                            &cells[p * n_schemes + j]);
                any |= have[p * n_schemes + j];
            }
        }
        if (any) {
            struct plot_bar *bars = xcalloc(n_schemes, sizeof *bars);
            printf("\n### %s\n\n| point |", compare_metrics[m]);
            for (size_t j = 0; j < n_schemes; j++) {
                printf(" %s |", schemes[j]);
            }
            printf("\n|---|");
            for (size_t j = 0; j < n_schemes; j++) {
                printf("---:|");
            }
            printf("\n");
            for (size_t p = 0; p < n_points; p++) {
                printf("| %s |", points[p]);
                for (size_t j = 0; j < n_schemes; j++) {
                    const struct results_pooled *c = &cells[p * n_schemes + j];
                    bool h = have[p * n_schemes + j];
                    if (!h) {
                        printf(" — |");
                    } else if (isfinite(c->ci95)) {
                        printf(" %.4g ± %.2g |", c->mean, c->ci95);
                    } else {
                        printf(" %.4g |", c->mean);
                    }
                    if (!p) {
                        bars[j] = (struct plot_bar) {
                            schemes[j], h ? c->mean : NAN, h ? c->ci95 : NAN,
                        };
                    }
                }
                printf("\n");
            }
            char *path = xasprintf("%s/compare-%s.png", plot_dir, compare_metrics[m]);
            struct plot_frame frame = {
                .title = experiment, .xlabel = "scheme", .ylabel = compare_metrics[m],
            };
            if (!plot_bars(path, &frame, bars, n_schemes)) {
                printf("\n(plot: %s)\n", path);
            }
            free(path);
            free(bars);
        }
        free(have);
        free(cells);
    }
    for (size_t i = 0; i < n_schemes; i++) {
        free(schemes[i]);
    }
    for (size_t i = 0; i < n_points; i++) {
        free(points[i]);
    }
    free(schemes);
    free(points);
    results_runs_uninit(&rr);
    store_close(store);
    return 0;
}

static int
compare_after_run(struct cli_ctx *ctx, const char *experiment)
{
    char *dir = xstrdup(ctx->db_path), *slash = strrchr(dir, '/');
    char *plot_dir = xasprintf("%s/plots/%s", slash ? (*slash = '\0', dir) : ".", experiment);
    int rc;

    printf("# %s: schemes side by side\n", experiment);
    rc = compare_table(ctx, experiment, plot_dir);
    free(plot_dir);
    free(dir);
    return rc;
}

/* The same workload over several schemes (the file's or --set's `scheme` axis) on the same
 * infrastructure shape, then one table with a column per scheme from the database. */
int
cmd_compare(struct cli_ctx *ctx, int argc, char *argv[])
{
    return run_then(ctx, argc, argv, compare_after_run);
}
