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
#include "testbed/plot/figures.h"
#include "testbed/report/compare.h"
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
     * CPUs are shared, a busy-polling PMD adds milliseconds per switch traversal. A frame
     * waits for the PMD's next wake-up, and a closed loop keeps in step with it: each
     * traversal costs a whole sleep and its wake-up (about 30 us on this VM), 160 us at 100
     * us, 70-80 us at 20 (a DNS query through `none` crosses the switch 5 times). So while
     * the workload runs the PMD sleeps 20 us at most, for about a third of its CPU idle
     * (5% at 100): 100 again after, and throughout when the CPU has no time to spare:
     * another instance's PMD shares it (their real-time polls would add up past the kernel's
     * throttling) or it was less than half idle just before (busy guests need that time:
     * fitsfc f=1 at load 12 got slower). --pmd-sleep fixes one value for the whole run. */
    ro->pmd_sleep_us = 100;
    ro->pmd_sleep_workload_us = 20;
}

/* The value of option 'opt' that is one of two words: '*value' true for 'yes', false for
 * 'no'; anything else is said and false returned. */
static bool
parse_either(const char *opt, const char *arg, const char *yes, const char *no, bool *value)
{
    if (strcmp(arg, yes) && strcmp(arg, no)) {
        fprintf(stderr, "sfclab: %s %s: expected %s or %s\n", opt, arg, yes, no);
        return false;
    }
    *value = !strcmp(arg, yes);
    return true;
}

/* Parses EXPERIMENT [--set K=V]... [--quick] [--fresh] [--keep]; loads and adjusts the
 * experiment. Returns an exit code, 0 with '*expp' set on success. */
/* What `sfclab compare` takes beyond the run options. */
struct compare_opts {
    bool no_run;                /* --no-run: the table of the runs already in the database. */
    const char *tsv;            /* --tsv FILE: the table written there too. */
};

static int
load_experiment(struct cli_ctx *ctx, int argc, char *argv[], struct runner_opts *ro,
                struct compare_opts *co, struct experiment **expp)
{
    static const struct option options[] = {
        { "no-run", no_argument, NULL, 'n' },
        { "tsv", required_argument, NULL, 't' },
        { "set", required_argument, NULL, 's' },
        { "quick", no_argument, NULL, 'q' },
        { "fresh", no_argument, NULL, 'f' },
        { "keep", no_argument, NULL, 'k' },
        { "pin", required_argument, NULL, 'p' },
        { "no-pin", no_argument, NULL, 'P' },
        { "datapath", required_argument, NULL, 'd' },
        { "pmd-sleep", required_argument, NULL, 'S' },
        { "halt-poll", required_argument, NULL, 'H' },
        { "switch-rx", required_argument, NULL, 'R' },
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
            if (!parse_either("--datapath", optarg, "afxdp", "system", &ro->afxdp)) {
                free(sets);
                return 2;
            }
            break;
        case 'n':
        case 't':
            if (!co) {
                fprintf(stderr, "sfclab: --%s is an option of `sfclab compare`\n",
                        c == 'n' ? "no-run" : "tsv");
                free(sets);
                return 2;
            }
            if (c == 'n') {
                co->no_run = true;
            } else {
                co->tsv = optarg;
            }
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
            ro->pmd_sleep_workload_us = us;
            break;
        }
        case 'H': {
            char *end;
            unsigned long us = strtoul(optarg, &end, 10);
            if (end == optarg || *end || !us || us > 10000) {
                fprintf(stderr, "sfclab: --halt-poll %s: expected microseconds, 1 to 10000\n",
                        optarg);
                free(sets);
                return 2;
            }
            ro->halt_poll_us = us;
            break;
        }
        case 'R':
            if (!parse_either("--switch-rx", optarg, "on", "off", &ro->switch_rx)) {
                free(sets);
                return 2;
            }
            break;
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
    int rc = load_experiment(ctx, argc, argv, &ro, NULL, &exp);

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

/* Prints the comparison of 'table' and draws its charts beside the database. */
static int
compare_print(struct cli_ctx *ctx, const struct compare_table *t, bool draw)
{
    int rc = 0;

    printf("# %s: schemes side by side (variant %s)\n", t->experiment, t->variant);
    compare_render_scorecards(stdout, t);
    compare_render_summary(stdout, t);
    if (draw) {
        char *dir = figures_dir(ctx->db_path, t->experiment);

        printf("\n");
        if (compare_draw(stdout, t, dir)) {
            fprintf(stderr, "sfclab: cannot draw the comparison's charts in %s\n", dir);
            rc = 1;
        }
        free(dir);
    }
    return rc;
}

static int
compare_write_tsv(const struct compare_table *t, const char *path)
{
    FILE *f = fopen(path, "w");
    int error;

    if (!f) {
        fprintf(stderr, "sfclab: %s: %s\n", path, strerror(errno));
        return 1;
    }
    error = compare_table_write(f, t);
    if (fclose(f) || error) {
        fprintf(stderr, "sfclab: %s: cannot write\n", path);
        return 1;
    }
    printf("\n(table: %s)\n", path);
    return 0;
}

/* `sfclab compare --from FILE.tsv [--no-plots]`: a table written before, rendered again
 * without a database (the README's section is made so). */
static int
compare_from(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct compare_table t;
    bool draw = true;
    const char *path = NULL;
    FILE *f;
    int rc;

    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--from") && i + 1 < argc && !path) {
            path = argv[++i];
        } else if (!strcmp(argv[i], "--no-plots")) {
            draw = false;
        } else {
            fprintf(stderr, "usage: sfclab compare --from FILE.tsv [--no-plots]\n");
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: sfclab compare --from FILE.tsv [--no-plots]\n");
        return 2;
    }
    f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "sfclab: %s: %s\n", path, strerror(errno));
        return 2;
    }
    rc = compare_table_read(f, path, stderr, &t) ? 2 : 0;
    fclose(f);
    if (!rc) {
        rc = compare_print(ctx, &t, draw);
        compare_table_uninit(&t);
    }
    return rc;
}

/* The same workload over several schemes (the file's `setup` or `scheme` axis) on the same
 * infrastructure shape: every point is run (a failed run is a result, a scheme that cannot be
 * deployed yet is said and shown), then a scorecard per fault-model point, a summary and
 * charts from the database (compare.h). */
int
cmd_compare(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct runner_opts ro = {
        .instance = ctx->instance, .state_dir = ctx->state_dir, .db_path = ctx->db_path,
        .verbose = ctx->verbose, .keep_going = true,
    };
    struct compare_opts co = { 0 };
    struct compare_table table;
    struct experiment *exp = NULL;
    struct store *store = NULL;
    int rc, error;

    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--from")) {
            return compare_from(ctx, argc, argv);
        }
    }
    rc = load_experiment(ctx, argc, argv, &ro, &co, &exp);
    if (rc) {
        return rc;
    }
    if (!co.no_run) {
        instance_catch_interrupts();
        error = runner_run(&ro, exp);
        rc = error == EINTR ? 130 : error == ENOTSUP ? 2 : error ? 1 : 0;
    } else if (access(ctx->db_path, F_OK)) {
        fprintf(stderr, "sfclab: no results database at %s\n", ctx->db_path);
        rc = 2;
    }
    if (!rc) {
        error = store_open(ctx->db_path, true, &store);
        if (!error) {
            error = compare_table_build(store, exp, co.no_run ? NULL : ro.variant, &table);
        }
        if (error == ENOENT) {
            fprintf(stderr, "sfclab: no run of '%s' to compare\n", exp->name);
            rc = 1;
        } else if (error) {
            rc = 1;
        } else {
            rc = compare_print(ctx, &table, true);
            if (!rc && co.tsv) {
                rc = compare_write_tsv(&table, co.tsv);
            }
            compare_table_uninit(&table);
        }
        store_close(store);
    }
    free(ro.run_ids);
    free((char *) ro.variant);
    experiment_free(exp);
    return rc;
}
