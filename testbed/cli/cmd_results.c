/* cmd_results — the commands that read the results database: runs, export, plot, report.
 *
 * They read only the database (ctx->db_path), so any past run can be listed, exported, redrawn
 * or compared later, on another machine. Repetitions of one sweep point are pooled: the mean of
 * their means (weighted by sample count) with a CI over the repetitions' means when there are
 * two or more, else the one run's own CI. */

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testbed/cli/commands.h"
#include "testbed/plot/figures.h"
#include "testbed/plot/plot.h"
#include "testbed/report/report.h"
#include "testbed/report/results.h"
#include "testbed/stats/metrics.h"
#include "testbed/stats/stats.h"
#include "testbed/store/store.h"
#include "vnfs/core/buf.h"
#include "vnfs/core/util.h"

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

static void
format_wall(int64_t ns, char *buf, size_t size)
{
    time_t secs = ns / 1000000000;
    struct tm tm;

    if (!ns || !localtime_r(&secs, &tm)) {
        snprintf(buf, size, "-");
    } else {
        strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm);
    }
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
        printf("%5s  %-20s %-14s %-28s %3s  %-11s %-19s %9s\n", "id", "experiment", "scheme",
               "point", "rep", "status", "started", "samples");
    }
    for (size_t i = 0; i < n; i++) {
        char started[32];

        format_wall(runs[i].started_ns, started, sizeof started);
        printf("%5" PRId64 "  %-20.20s %-14.14s %-28.28s %3d  %-11s %-19s %9" PRId64 "\n",
               runs[i].id, runs[i].experiment, runs[i].scheme, runs[i].point,
               runs[i].repetition, store_status_to_string(runs[i].status), started,
               runs[i].n_samples);
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

/* "rtt_us" -> "rtt (us)". */
static char *
axis_label(const char *metric)
{
    const char *unit = report_metric_unit(metric);

    if (!unit[0]) {
        return xstrdup(metric);
    }
    return xasprintf("%.*s (%s)", (int) (strlen(metric) - strlen(unit) - 1), metric, unit);
}

static char *
file_safe(const char *s)
{
    char *out = xstrdup(s);

    for (char *p = out; *p; p++) {
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9')
            && *p != '-' && *p != '_' && *p != '.') {
            *p = '_';
        }
    }
    return out;
}

static int
mkdir_p(const char *path)
{
    char *copy = xstrdup(path);
    int error = 0;

    for (char *p = copy + 1; ; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = '\0';
            if (mkdir(copy, 0755) && errno != EEXIST) {
                error = errno;
                fprintf(stderr, "sfclab: %s: %s\n", copy, strerror(error));
                break;
            }
            *p = c;
            if (!c) {
                break;
            }
        }
    }
    free(copy);
    return error;
}

/* results/plots/<experiment>, beside the database. */
static char *
plots_dir(const struct cli_ctx *ctx, const char *experiment)
{
    char *db = xstrdup(ctx->db_path);
    char *safe = file_safe(experiment);
    char *dir = xasprintf("%s/plots/%s", dirname(db), safe);

    free(db);
    free(safe);
    return dir;
}

/* Draws one chart as PNG and SVG; 'draw' gets each path. */
#define DRAW_BOTH(ERROR, BASE, CALL)                                        \
    do {                                                                    \
        const char *exts_[] = { "png", "svg" };                             \
        for (size_t e_ = 0; e_ < 2 && !(ERROR); e_++) {                     \
            char *path = xasprintf("%s.%s", (BASE), exts_[e_]);             \
            (ERROR) = (CALL);                                               \
            if (!(ERROR)) {                                                 \
                printf("wrote %s\n", path);                                 \
            }                                                               \
            free(path);                                                     \
        }                                                                   \
    } while (0)

/* Fault windows: each fault's injection to its recovery (or the end of the history). */
static void
fault_windows(const struct store_event *events, size_t n, double t_end_s,
              struct plot_window **windowsp, size_t *np)
{
    struct metrics_event *ev = xmalloc((n ? n : 1) * sizeof *ev);
    struct metrics_recovery *eps = NULL;
    struct plot_window *w;
    size_t n_eps = 0;

    for (size_t i = 0; i < n; i++) {
        ev[i] = (struct metrics_event) { events[i].t_ns, events[i].kind, events[i].target };
    }
    metrics_recovery(ev, n, &eps, &n_eps);
    w = xmalloc((n_eps ? n_eps : 1) * sizeof *w);
    for (size_t i = 0; i < n_eps; i++) {
        w[i].start = eps[i].injected_ns / 1e9;
        w[i].end = eps[i].recovered_ns >= 0 ? eps[i].recovered_ns / 1e9 : t_end_s;
    }
    free(eps);
    free(ev);
    *windowsp = w;
    *np = n_eps;
}

#define MAX_POINTS 600

static int
plot_run(const struct cli_ctx *ctx, struct store *s, const struct store_run *run)
{
    struct store_series_name *names;
    struct store_event *events;
    size_t n_names, n_events;
    char *dir;
    int error;

    if (store_series_list(s, run->id, false, &names, &n_names)) {
        return 1;
    }
    if (store_events_read(s, run->id, &events, &n_events)) {
        store_series_names_free(names, n_names);
        return 1;
    }
    dir = plots_dir(ctx, run->experiment);
    error = mkdir_p(dir);
    for (size_t i = 0; i < n_names && !error; i++) {
        struct store_point *pts;
        struct plot_window *windows;
        size_t n_pts, n_windows, bins;
        double *x, *y, *count, t0, t1;
        char *title, *ylabel, *safe, *base;

        if (store_samples_read(s, run->id, names[i].metric, names[i].labels, &pts, &n_pts)) {
            error = EIO;
            break;
        }
        if (!n_pts) {
            free(pts);
            continue;
        }
        /* Mean per bin: a long run's million RTTs would make an unreadable line and a huge
         * SVG; a bin keeps what can be seen at this width. */
        t0 = pts[0].t_ns / 1e9;
        t1 = pts[n_pts - 1].t_ns / 1e9;
        bins = MIN(n_pts, MAX_POINTS);
        x = xcalloc(bins, sizeof *x);
        y = xcalloc(bins, sizeof *y);
        count = xcalloc(bins, sizeof *count);
        for (size_t j = 0; j < n_pts; j++) {
            double t = pts[j].t_ns / 1e9;
            size_t b = t1 > t0 ? MIN(bins - 1, (size_t) ((t - t0) / (t1 - t0) * bins)) : 0;
            x[b] += t;
            y[b] += pts[j].value;
            count[b]++;
        }
        for (size_t b = 0; b < bins; b++) {
            x[b] = count[b] ? x[b] / count[b] : NAN;
            y[b] = count[b] ? y[b] / count[b] : NAN;
        }
        fault_windows(events, n_events, t1, &windows, &n_windows);
        title = xasprintf("%s run %" PRId64 " (%s): %s%s%s", run->experiment, run->id,
                          run->scheme, names[i].metric, names[i].labels[0] ? " " : "",
                          names[i].labels);
        ylabel = axis_label(names[i].metric);
        safe = file_safe(names[i].labels[0] ? names[i].labels : "");
        base = xasprintf("%s/run-%" PRId64 "-%s%s%s", dir, run->id, names[i].metric,
                         safe[0] ? "-" : "", safe);
        struct plot_frame frame = { .title = title, .xlabel = "time since run start (s)",
                                    .ylabel = ylabel };
        struct plot_series series = { run->scheme, x, y, NULL, bins };
        DRAW_BOTH(error, base, plot_timeseries(path, &frame, &series, 1, windows, n_windows));
        free(base);
        free(safe);
        free(ylabel);
        free(title);
        free(windows);
        free(count);
        free(y);
        free(x);
        free(pts);
    }
    if (!n_names) {
        printf("run %" PRId64 " has no samples to plot\n", run->id);
    }
    free(dir);
    store_events_free(events, n_events);
    store_series_names_free(names, n_names);
    return error ? 1 : 0;
}

/* What an experiment's complete runs vary over. */
struct sweep {
    struct store_run *runs;     /* Complete ones only. */
    size_t n;
    char *axis;                 /* The one numeric axis that varies, or NULL. */
    char **schemes;
    size_t n_schemes;
    char *variant;              /* Of every run above (results.h). */
};

static void
sweep_uninit(struct sweep *sw)
{
    store_runs_free(sw->runs, sw->n);
    free(sw->variant);
    free(sw->axis);
    free(sw->schemes);
}

static int
sweep_load(struct store *s, const char *experiment, struct sweep *sw)
{
    struct results_runs rr;
    json_t *first = NULL;
    const char *key;
    json_t *value;

    memset(sw, 0, sizeof *sw);
    /* One variant only (results.h): a quick run is never drawn as the full point. */
    if (results_runs_load(s, experiment, NULL, &rr)) {
        return EIO;
    }
    sw->runs = rr.runs;
    sw->n = rr.n;
    sw->variant = rr.variant;
    rr.runs = NULL;
    rr.n = 0;
    rr.variant = NULL;
    results_runs_uninit(&rr);
    sw->schemes = xmalloc((sw->n ? sw->n : 1) * sizeof *sw->schemes);
    for (size_t i = 0; i < sw->n; i++) {
        bool seen = false;
        for (size_t j = 0; j < sw->n_schemes && !seen; j++) {
            seen = !strcmp(sw->schemes[j], sw->runs[i].scheme);
        }
        if (!seen) {
            sw->schemes[sw->n_schemes++] = sw->runs[i].scheme;
        }
    }
    if (sw->n) {
        first = json_loads(sw->runs[0].point, 0, NULL);
    }
    json_object_foreach(first, key, value) {
        bool varies = false, numeric = json_is_number(value);

        for (size_t i = 1; i < sw->n && numeric; i++) {
            json_t *p = json_loads(sw->runs[i].point, 0, NULL);
            json_t *v = json_object_get(p, key);
            numeric = json_is_number(v);
            varies |= numeric && json_number_value(v) != json_number_value(value);
            json_decref(p);
        }
        if (varies && numeric && strcmp(key, "scheme")) {
            if (sw->axis) {         /* Two axes vary: no single line plot. */
                free(sw->axis);
                sw->axis = NULL;
                break;
            }
            sw->axis = xstrdup(key);
        }
    }
    json_decref(first);
    return 0;
}

static double
point_axis_value(const struct store_run *run, const char *axis)
{
    json_t *p = json_loads(run->point, 0, NULL);
    double v = json_number_value(json_object_get(p, axis));

    json_decref(p);
    return v;
}

/* The pooled summary of (metric, labels) over the runs of 'sw' with this scheme and point
 * (point NULL: any; axis value NaN: any). */
static bool
pool_runs(struct store *s, const struct sweep *sw, const char *metric, const char *labels,
          const char *scheme, const char *point, double axis_value, struct results_pooled *p)
{
    struct store_summary *sums = xmalloc((sw->n ? sw->n : 1) * sizeof *sums);
    size_t m = 0;
    bool ok;

    for (size_t i = 0; i < sw->n; i++) {
        const struct store_run *r = &sw->runs[i];
        if (strcmp(r->scheme, scheme) || (point && strcmp(r->point, point))
            || (!isnan(axis_value) && point_axis_value(r, sw->axis) != axis_value)) {
            continue;
        }
        if (!store_summary_get(s, r->id, metric, labels, &sums[m])) {
            m++;
        }
    }
    ok = results_pool(sums, m, p);
    free(sums);
    return ok;
}

/* Every distinct (metric, labels) summarised in any run of the sweep. */
static void
sweep_metrics(struct store *s, const struct sweep *sw, struct store_series_name **namesp,
              size_t *np)
{
    struct store_series_name *all = NULL;
    size_t n = 0, cap = 0;

    for (size_t i = 0; i < sw->n; i++) {
        struct store_series_name *names;
        size_t k;

        if (store_series_list(s, sw->runs[i].id, true, &names, &k)) {
            continue;
        }
        for (size_t j = 0; j < k; j++) {
            bool seen = false;
            for (size_t m = 0; m < n && !seen; m++) {
                seen = !strcmp(all[m].metric, names[j].metric)
                       && !strcmp(all[m].labels, names[j].labels);
            }
            if (seen) {
                continue;
            }
            if (n >= cap) {
                all = x2nrealloc(all, &cap, sizeof *all);
            }
            all[n].metric = xstrdup(names[j].metric);
            all[n].labels = xstrdup(names[j].labels);
            n++;
        }
        store_series_names_free(names, k);
    }
    *namesp = all;
    *np = n;
}

/* Distinct values of the sweep's axis, sorted. */
static double *
axis_values(const struct sweep *sw, size_t *np)
{
    double *v = xmalloc((sw->n ? sw->n : 1) * sizeof *v);
    size_t n = 0;

    for (size_t i = 0; i < sw->n; i++) {
        double x = point_axis_value(&sw->runs[i], sw->axis);
        size_t j = 0;
        while (j < n && v[j] < x) {
            j++;
        }
        if (j < n && v[j] == x) {
            continue;
        }
        memmove(v + j + 1, v + j, (n - j) * sizeof *v);
        v[j] = x;
        n++;
    }
    *np = n;
    return v;
}

/* Lines over the axis (one per scheme), or bars (one per scheme and point). */
static int
plot_experiment_metric(struct store *s, const struct sweep *sw, const char *experiment,
                       const char *metric, const char *dir)
{
    char *ylabel = axis_label(metric), *safe = file_safe(metric);
    char *title, *base = xasprintf("%s/%s", dir, safe);
    int error = 0;

    if (sw->axis) {
        size_t n_x;
        double *xs = axis_values(sw, &n_x);
        struct plot_series *series = xcalloc(sw->n_schemes, sizeof *series);

        for (size_t i = 0; i < sw->n_schemes; i++) {
            double *y = xcalloc(n_x, sizeof *y), *ci = xcalloc(n_x, sizeof *ci);
            for (size_t j = 0; j < n_x; j++) {
                struct results_pooled p;
                if (pool_runs(s, sw, metric, "", sw->schemes[i], NULL, xs[j], &p)) {
                    y[j] = p.mean;
                    ci[j] = p.ci95;
                } else {
                    y[j] = ci[j] = NAN;
                }
            }
            series[i] = (struct plot_series) { sw->schemes[i], xs, y, ci, n_x };
        }
        title = xasprintf("%s: %s vs %s", experiment, ylabel, sw->axis);
        struct plot_frame frame = { .title = title, .xlabel = sw->axis, .ylabel = ylabel };
        DRAW_BOTH(error, base, plot_lines(path, &frame, series, sw->n_schemes));
        for (size_t i = 0; i < sw->n_schemes; i++) {
            free((double *) series[i].y);
            free((double *) series[i].ci95);
        }
        free(series);
        free(xs);
    } else {
        struct plot_bar *bars = xcalloc(sw->n ? sw->n : 1, sizeof *bars);
        char **labels = xcalloc(sw->n ? sw->n : 1, sizeof *labels);
        size_t n_bars = 0;

        for (size_t i = 0; i < sw->n; i++) {
            const struct store_run *r = &sw->runs[i];
            struct results_pooled p;
            bool seen = false;

            for (size_t j = 0; j < i && !seen; j++) {
                seen = !strcmp(sw->runs[j].scheme, r->scheme)
                       && !strcmp(sw->runs[j].point, r->point);
            }
            if (seen || !pool_runs(s, sw, metric, "", r->scheme, r->point, NAN, &p)) {
                continue;
            }
            labels[n_bars] = strcmp(r->point, "{}") ? xasprintf("%s %s", r->scheme, r->point)
                                                     : xstrdup(r->scheme);
            bars[n_bars] = (struct plot_bar) { labels[n_bars], p.mean, p.ci95 };
            n_bars++;
        }
        title = xasprintf("%s: %s (mean, 95%% CI)", experiment, ylabel);
        struct plot_frame frame = { .title = title, .xlabel = "scheme and point",
                                    .ylabel = ylabel };
        if (n_bars) {
            DRAW_BOTH(error, base, plot_bars(path, &frame, bars, n_bars));
        }
        for (size_t i = 0; i < n_bars; i++) {
            free(labels[i]);
        }
        free(labels);
        free(bars);
    }
    free(title);
    free(base);
    free(safe);
    free(ylabel);
    return error;
}

/* Stacked bars of a metric split by {"component": ...} labels, one bar per scheme. */
static int
plot_experiment_split(struct store *s, const struct sweep *sw, const char *experiment,
                      const char *metric, const struct store_series_name *names, size_t n,
                      const char *dir)
{
    const char **components = xcalloc(n, sizeof *components);
    const char **component_labels = xcalloc(n, sizeof *component_labels);
    struct plot_stack *stacks = xcalloc(sw->n_schemes, sizeof *stacks);
    size_t n_comp = 0;
    char *ylabel = axis_label(metric), *safe = file_safe(metric);
    char *base = xasprintf("%s/%s-split", dir, safe);
    char *title = xasprintf("%s: %s split per component", experiment, ylabel);
    json_t **parsed = xcalloc(n, sizeof *parsed);
    int error = 0;

    for (size_t i = 0; i < n; i++) {
        const char *c;
        if (strcmp(names[i].metric, metric)) {
            continue;
        }
        parsed[i] = json_loads(names[i].labels, 0, NULL);
        c = json_string_value(json_object_get(parsed[i], "component"));
        if (c) {
            components[n_comp] = c;
            component_labels[n_comp++] = names[i].labels;
        }
    }
    for (size_t k = 0; k < sw->n_schemes && n_comp; k++) {
        double *parts = xcalloc(n_comp, sizeof *parts);
        for (size_t j = 0; j < n_comp; j++) {
            struct results_pooled p;
            parts[j] = pool_runs(s, sw, metric, component_labels[j], sw->schemes[k], NULL, NAN,
                                 &p) ? p.mean : NAN;
        }
        stacks[k] = (struct plot_stack) { sw->schemes[k], parts };
    }
    if (n_comp) {
        struct plot_frame frame = { .title = title, .xlabel = "scheme", .ylabel = ylabel };
        DRAW_BOTH(error, base, plot_stacked_bars(path, &frame, components, n_comp, stacks,
                                                 sw->n_schemes));
        for (size_t k = 0; k < sw->n_schemes; k++) {
            free((double *) stacks[k].parts);
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_decref(parsed[i]);
    }
    free(parsed);
    free(title);
    free(base);
    free(safe);
    free(ylabel);
    free(stacks);
    free(component_labels);
    free(components);
    return error;
}

static int
plot_experiment(const struct cli_ctx *ctx, struct store *s, const char *experiment)
{
    struct store_series_name *names;
    struct sweep sw;
    size_t n_names;
    char *dir;
    int error;

    if (sweep_load(s, experiment, &sw)) {
        return 1;
    }
    if (!sw.n) {
        fprintf(stderr, "sfclab: no complete run of '%s' in %s\n", experiment, ctx->db_path);
        sweep_uninit(&sw);
        return 2;
    }
    dir = plots_dir(ctx, experiment);
    error = mkdir_p(dir);
    if (!error) {
        /* The charts the experiment's `plots:` asks for (figures.h); every metric only for a
         * file that asks for none. */
        size_t n_drawn;
        int e2 = figures_draw(stdout, s, experiment, dir, &n_drawn);

        if (e2 != ENOENT) {
            free(dir);
            sweep_uninit(&sw);
            return e2 ? 1 : 0;
        }
    }
    sweep_metrics(s, &sw, &names, &n_names);
    for (size_t i = 0; i < n_names && !error; i++) {
        bool first_split = true;

        if (!names[i].labels[0]) {
            error = plot_experiment_metric(s, &sw, experiment, names[i].metric, dir);
            continue;
        }
        for (size_t j = 0; j < i && first_split; j++) {
            first_split = strcmp(names[j].metric, names[i].metric) || !names[j].labels[0];
        }
        if (first_split && strstr(names[i].labels, "\"component\"")) {
            error = plot_experiment_split(s, &sw, experiment, names[i].metric, names, n_names,
                                          dir);
        }
    }
    if (!n_names) {
        printf("no summaries to plot for '%s'\n", experiment);
    }
    free(dir);
    store_series_names_free(names, n_names);
    sweep_uninit(&sw);
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
            rc = plot_run(ctx, s, &run);
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

static void
report_run_markdown(struct store *s, const struct store_run *run)
{
    struct store_series_name *names;
    struct store_event *events;
    struct store_point *pts;
    size_t n_names = 0, n_events = 0, n_pts;
    char started[32];

    format_wall(run->started_ns, started, sizeof started);
    printf("# Run %" PRId64 ": %s\n\n", run->id, run->experiment);
    printf("- scheme: %s; point: %s; repetition %d; seed %" PRIu64 "\n", run->scheme,
           run->point, run->repetition, run->seed);
    printf("- status: %s; started %s; git %s\n", store_status_to_string(run->status), started,
           run->git_rev[0] ? run->git_rev : "-");
    printf("- host: %s\n\n", run->host);

    if (!store_series_list(s, run->id, true, &names, &n_names) && n_names) {
        printf("| metric | labels | n | mean | ± 95%% CI | p50 | p99 | min | max |\n");
        printf("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for (size_t i = 0; i < n_names; i++) {
            struct store_summary m;
            if (store_summary_get(s, run->id, names[i].metric, names[i].labels, &m)) {
                continue;
            }
            const double cols[] = { m.mean, m.ci95, m.p50, m.p99, m.min, m.max };
            printf("| %s | %s | %" PRIu64 " |", names[i].metric, names[i].labels, m.n);
            for (size_t k = 0; k < ARRAY_SIZE(cols); k++) {
                printf(isfinite(cols[k]) ? " %.4g |" : " — |", cols[k]);
            }
            printf("\n");
        }
        printf("\n");
    } else {
        printf("No summaries stored for this run.\n\n");
    }
    store_series_names_free(names, n_names);

    if (!store_events_read(s, run->id, &events, &n_events) && n_events) {
        struct metrics_event *ev = xmalloc(n_events * sizeof *ev);
        struct metrics_recovery *eps;
        size_t n_eps;

        for (size_t i = 0; i < n_events; i++) {
            ev[i] = (struct metrics_event) { events[i].t_ns, events[i].kind, events[i].target };
        }
        metrics_recovery(ev, n_events, &eps, &n_eps);
        if (n_eps) {
            printf("| fault on | injected (s) | detected after (ms) | recovered after (ms) |"
                   " total (ms) |\n|---|---:|---:|---:|---:|\n");
        }
        for (size_t i = 0; i < n_eps; i++) {
            printf("| %s | %.3f |", eps[i].target, eps[i].injected_ns / 1e9);
            int64_t steps[] = { eps[i].detect_ns, eps[i].repair_ns, eps[i].total_ns };
            for (size_t k = 0; k < ARRAY_SIZE(steps); k++) {
                if (steps[k] < 0) {
                    printf(" never |");
                } else {
                    printf(" %.3f |", steps[k] / 1e6);
                }
            }
            printf("\n");
        }
        if (n_eps) {
            printf("\n");
        }
        free(eps);
        free(ev);
    }
    store_events_free(events, n_events);

    if (!store_samples_read(s, run->id, "probe_ok", "", &pts, &n_pts) && n_pts > 1) {
        struct metrics_probe *probes = xmalloc(n_pts * sizeof *probes);
        struct metrics_availability a;

        for (size_t i = 0; i < n_pts; i++) {
            probes[i] = (struct metrics_probe) { pts[i].t_ns, pts[i].value != 0 };
        }
        if (!metrics_availability(probes, n_pts, pts[0].t_ns, pts[n_pts - 1].t_ns, 0, &a)) {
            printf("Availability over the probe stream (%zu probes, %.3f s): %.5f%% "
                   "(%zu outages, longest %.3f s)\n\n", n_pts, a.total_ns / 1e9,
                   100 * a.ratio, a.outages, a.longest_outage_ns / 1e9);
        }
        free(probes);
    }
    if (n_pts) {
        free(pts);
    }
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
            report_run_markdown(s, &run);
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
