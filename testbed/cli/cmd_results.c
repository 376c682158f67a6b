/* cmd_results — the commands that read the results database: runs, export, plot, report.
 *
 * They read only the database (ctx->db_path), so any past run can be listed, exported, redrawn
 * or compared later, on another machine. What a report and a chart show, and how repetitions
 * are pooled, is testbed/report/results.h and testbed/plot/figures.h (which also says where the
 * charts go): this file only parses the command line. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testbed/cli/commands.h"
#include "testbed/plot/figures.h"
#include "testbed/report/results.h"
#include "testbed/store/store.h"
#include "vnfs/lib/util.h"

/* Opens the database for reading; a missing one is a usage error, never created here. Opened
 * writable when it can be, so runs whose writer died get marked interrupted. */
static int
open_results(const struct cli_ctx *ctx, struct store **s)
{
    if (access(ctx->db_path, F_OK)) {
        fprintf(stderr, "sfclab: no results database at %s (run an experiment first, or "
                "give --db FILE)\n", ctx->db_path);
        return 2;
    }
    if (store_open(ctx->db_path, access(ctx->db_path, W_OK) != 0, s)) {
        return 1;
    }
    return 0;
}

static bool
parse_run_id(const char *s, int64_t *id)
{
    char *end;
    long long v;

    if (!s[0] || strspn(s, "0123456789") != strlen(s)) {
        return false;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || v <= 0) {
        return false;
    }
    *id = v;
    return true;
}

int
cmd_runs(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct store_run *runs;
    struct store *s;
    size_t n;
    int rc = open_results(ctx, &s);

    if (rc) {
        return rc;
    }
    if (store_runs_list(s, argc ? argv[0] : NULL, &runs, &n)) {
        store_close(s);
        return 1;
    }
    if (!n) {
        printf(argc ? "no runs of '%s'\n" : "no runs yet\n", argc ? argv[0] : "");
    } else {
        results_list_runs(stdout, runs, n);
    }
    store_runs_free(runs, n);
    store_close(s);
    return 0;
}

/* RFC 4180: a field with a comma, quote or newline is quoted, its quotes doubled. */
static void
csv_field(FILE *f, const char *s)
{
    if (!s[strcspn(s, ",\"\r\n")]) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') {
            fputc('"', f);
        }
        fputc(*s, f);
    }
    fputc('"', f);
}

struct export_ctx {
    int64_t run;
    FILE *f;
};

static int
export_sample(const struct store_sample *sample, void *aux_)
{
    struct export_ctx *aux = aux_;

    fprintf(aux->f, "%" PRId64 ",%" PRId64 ",", aux->run, sample->t_ns);
    csv_field(aux->f, sample->metric);
    fputc(',', aux->f);
    csv_field(aux->f, sample->labels);
    fprintf(aux->f, ",%.17g\n", sample->value);
    return ferror(aux->f) ? EIO : 0;
}

int
cmd_export(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct export_ctx aux = { .f = stdout };
    struct store_run run;
    struct store *s;
    int rc;

    if (!parse_run_id(argv[0], &aux.run) || (argc > 1 && strcmp(argv[1], "--csv"))) {
        fprintf(stderr, "usage: sfclab export RUN [--csv]   (RUN is a number from "
                "`sfclab runs`)\n");
        return 2;
    }
    rc = open_results(ctx, &s);
    if (rc) {
        return rc;
    }
    if (store_run_get(s, aux.run, &run)) {
        fprintf(stderr, "sfclab: no run %" PRId64 " in %s\n", aux.run, ctx->db_path);
        store_close(s);
        return 2;
    }
    store_run_uninit(&run);
    printf("run,t_ns,metric,labels,value\n");
    rc = store_samples_foreach(s, aux.run, NULL, export_sample, &aux) ? 1 : 0;
    if (fflush(stdout)) {
        rc = 1;
    }
    store_close(s);
    return rc;
}

static int
plot_experiment(const struct cli_ctx *ctx, struct store *s, const char *experiment)
{
    char *dir = figures_dir(ctx->db_path, experiment);
    size_t n_drawn = 0;
    /* Exactly the charts the experiment's `plots:` asks for (figures.h). */
    int error = figures_draw(stdout, s, experiment, dir, &n_drawn);

    if (error == ENOENT) {
        printf("no plots for '%s': no complete run, or its file asks for none (plots:)\n",
               experiment);
        error = 0;
    }
    free(dir);
    return error ? 1 : 0;
}

int
cmd_plot(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct store *s;
    int64_t id;
    int rc = open_results(ctx, &s);

    if (rc) {
        return rc;
    }
    if (parse_run_id(argv[0], &id)) {
        struct store_run run;
        if (store_run_get(s, id, &run)) {
            fprintf(stderr, "sfclab: no run %" PRId64 " in %s\n", id, ctx->db_path);
            rc = 2;
        } else {
            char *dir = figures_dir(ctx->db_path, run.experiment);

            rc = figures_draw_run(stdout, s, &run, dir) ? 1 : 0;
            free(dir);
            store_run_uninit(&run);
        }
    } else {
        rc = plot_experiment(ctx, s, argv[0]);
    }
    store_close(s);
    return rc;
}

/* Reports. */

static int
report_experiment_markdown(struct store *s, const char *experiment)
{
    int error = results_report(stdout, s, experiment);

    if (error == ENOENT) {
        fprintf(stderr, "sfclab: no complete run of '%s'\n", experiment);
        return 1;
    }
    return error ? 1 : 0;
}

int
cmd_report(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct store_run run;
    struct store *s;
    int64_t id;
    int rc = open_results(ctx, &s);

    if (rc) {
        return rc;
    }
    if (argc && parse_run_id(argv[0], &id)) {
        if (store_run_get(s, id, &run)) {
            fprintf(stderr, "sfclab: no run %" PRId64 " in %s\n", id, ctx->db_path);
            rc = 2;
        } else {
            results_report_run(stdout, s, &run);
            store_run_uninit(&run);
        }
    } else if (argc) {
        rc = report_experiment_markdown(s, argv[0]);
    } else {
        /* No argument: the experiment of the latest run. */
        struct store_run *runs;
        size_t n;
        if (store_runs_list(s, NULL, &runs, &n)) {
            rc = 1;
        } else {
            if (!n) {
                printf("no runs yet\n");
            } else {
                rc = report_experiment_markdown(s, runs[n - 1].experiment);
            }
            store_runs_free(runs, n);
        }
    }
    store_close(s);
    return rc;
}
