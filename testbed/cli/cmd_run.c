/* The experiment commands: run, compare. */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/cli/commands.h"
#include "testbed/infra/instance.h"
#include "testbed/model/experiment.h"
#include "testbed/run/runner.h"
#include "vnfs/core/util.h"

static void
on_interrupt(int sig)
{
    instance_interrupt();
}

/* Parses EXPERIMENT [--set K=V]... [--quick] [--fresh] [--keep]; loads and adjusts the
 * experiment. Returns an exit code, 0 with '*expp' set on success. */
static int
load_experiment(struct cli_ctx *ctx, int argc, char *argv[], const char *extra_set,
                struct runner_opts *ro, struct experiment **expp)
{
    static const struct option options[] = {
        { "set", required_argument, NULL, 's' },
        { "quick", no_argument, NULL, 'q' },
        { "fresh", no_argument, NULL, 'f' },
        { "keep", no_argument, NULL, 'k' },
        { NULL, 0, NULL, 0 },
    };
    struct experiment *exp = NULL;
    const char *file = NULL;
    char **sets = xcalloc(argc + 2, sizeof *sets);
    size_t n_sets = 0;
    bool quick = false;
    struct diag diag;
    int c, rc = 0;

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
    if (extra_set) {
        sets[n_sets++] = (char *) extra_set;
    }
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
    struct sigaction sa = { .sa_handler = on_interrupt };
    bool timeseries = false;
    int error, rc;

    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
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

int
cmd_run(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct runner_opts ro = {
        .instance = ctx->instance, .state_dir = ctx->state_dir, .db_path = ctx->db_path,
        .verbose = ctx->verbose,
    };
    struct experiment *exp;
    char *name;
    int rc = load_experiment(ctx, argc, argv, NULL, &ro, &exp);

    if (rc) {
        return rc;
    }
    /* Every run ends with its plots and its table beside the published numbers, both drawn
     * from the database alone, as `sfclab plot` and `sfclab report` would. */
    name = xstrdup(exp->name);
    rc = run_loaded(ctx, &ro, exp);
    if (!rc) {
        char *args[] = { name, NULL };
        rc = cmd_report(ctx, 1, args) ? 1 : 0;
    }
    free(name);
    return rc;
}

/* The same workload over several schemes (the file's or --set's `scheme` axis) on the same
 * infrastructure shape, then one table with a column per scheme from the database. */
int
cmd_compare(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct runner_opts ro = {
        .instance = ctx->instance, .state_dir = ctx->state_dir, .db_path = ctx->db_path,
        .verbose = ctx->verbose,
    };
    struct experiment *exp;
    char *name;
    int rc = load_experiment(ctx, argc, argv, NULL, &ro, &exp);

    if (rc) {
        return rc;
    }
    name = xstrdup(exp->name);
    rc = run_loaded(ctx, &ro, exp);
    if (!rc) {
        char *args[] = { name, NULL };
        rc = cmd_report(ctx, 1, args) ? 1 : 0;
    }
    free(name);
    return rc;
}
