#include "testbed/plot/figures.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testbed/model/diag.h"
#include "testbed/model/experiment.h"
#include "testbed/plot/plot.h"
#include "testbed/report/report.h"
#include "testbed/report/results.h"
#include "testbed/stats/metrics.h"
#include "testbed/store/store.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

static const char *const aliases[][2] = {
    { "rtt", "rtt_us" }, { "throughput", "rx_pps" }, { "availability", "availability_ratio" },
    { "rtt.split", "hop_us" }, { "latency", "rtt_us" },
};

const char *
figures_metric(const char *y)
{
    for (size_t i = 0; i < ARRAY_SIZE(aliases); i++) {
        if (!strcmp(aliases[i][0], y)) {
            return aliases[i][1];
        }
    }
    return y;
}

/* "scheme" then every axis of the run's point but 'skip', as "none f=1,chain_len=2". */
static char *
run_key(const struct store_run *r, const char *skip)
{
    json_t *p = json_loads(r->point, 0, NULL), *v;
    struct buf b = BUF_INITIALIZER;
    const char *k;
    bool first = true;
    char *s;

    buf_printf(&b, "%s", r->scheme);
    json_object_foreach(p, k, v) {
        if ((skip && !strcmp(k, skip)) || !strcmp(k, "scheme")) {
            continue;
        }
        char *text = json_is_string(v) ? xstrdup(json_string_value(v))
                     : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        buf_printf(&b, "%s%s=%s", first ? " " : ",", k, text);
        free(text);
        first = false;
    }
    json_decref(p);
    buf_put_u8(&b, '\0');
    s = xstrdup((char *) b.data);
    buf_uninit(&b);
    return s;
}

static double
run_x(const struct store_run *r, const char *axis)
{
    json_t *p = json_loads(r->point, 0, NULL), *v = json_object_get(p, axis);
    double x = json_is_number(v) ? json_number_value(v)
               : json_is_string(v) ? strtod(json_string_value(v), NULL) : NAN;

    json_decref(p);
    return x;
}

/* The pooled (metric, labels) of the runs whose key is 'key' (and x is 'x', unless NaN). */
static bool
pool_where(struct store *s, const struct results_runs *rr, char **keys, const char *key,
           const char *axis, double x, const char *metric, const char *labels,
           struct results_pooled *p)
{
    struct store_summary *sums = xcalloc(rr->n + 1, sizeof *sums);
    size_t m = 0;
    bool ok;

    for (size_t i = 0; i < rr->n; i++) {
        if (strcmp(keys[i], key) || (axis && run_x(&rr->runs[i], axis) != x)) {
            continue;
        }
        if (!store_summary_get(s, rr->runs[i].id, metric, labels, &sums[m])) {
            m++;
        }
    }
    ok = results_pool(sums, m, p);
    free(sums);
    return ok;
}

/* Distinct strings of 'v' in order of first appearance (pointers into 'v'). */
static size_t
distinct(char **v, size_t n, const char ***out)
{
    const char **d = xcalloc(n + 1, sizeof *d);
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t j = 0; j < k && !seen; j++) {
            seen = !strcmp(d[j], v[i]);
        }
        if (!seen) {
            d[k++] = v[i];
        }
    }
    *out = d;
    return k;
}

static char *
ylabel_of(const char *metric)
{
    const char *unit = report_metric_unit(metric);

    return unit[0] ? xasprintf("%.*s (%s)", (int) (strlen(metric) - strlen(unit) - 1), metric,
                               unit)
                   : xstrdup(metric);
}

static int
draw_both(FILE *log, const char *base, int (*draw)(const char *path, void *), void *aux)
{
    static const char *const exts[] = { "png", "svg" };
    int error = 0;

    for (size_t i = 0; i < ARRAY_SIZE(exts) && !error; i++) {
        char *path = xasprintf("%s.%s", base, exts[i]);
        error = draw(path, aux);
        if (!error) {
            fprintf(log, "wrote %s\n", path);
        }
        free(path);
    }
    return error;
}

struct bars_aux { const struct plot_frame *frame; const struct plot_bar *bars; size_t n; };
static int
draw_bars(const char *path, void *a_)
{
    struct bars_aux *a = a_;
    return plot_bars(path, a->frame, a->bars, a->n);
}

struct lines_aux { const struct plot_frame *frame; const struct plot_series *s; size_t n; };
static int
draw_lines(const char *path, void *a_)
{
    struct lines_aux *a = a_;
    return plot_lines(path, a->frame, a->s, a->n);
}

struct stack_aux {
    const struct plot_frame *frame;
    const char *const *comps;
    size_t n_comps;
    const struct plot_stack *stacks;
    size_t n;
};
static int
draw_stacks(const char *path, void *a_)
{
    struct stack_aux *a = a_;
    return plot_stacked_bars(path, a->frame, a->comps, a->n_comps, a->stacks, a->n);
}

/* A bar per scheme and point. */
static int
figure_bar(FILE *log, struct store *s, const struct results_runs *rr, char **keys,
           const char *metric, const struct plot_frame *frame, const char *base)
{
    const char **d;
    size_t n = distinct(keys, rr->n, &d), n_bars = 0;
    struct plot_bar *bars = xcalloc(n + 1, sizeof *bars);
    int error = 0;

    for (size_t i = 0; i < n; i++) {
        struct results_pooled p;
        if (pool_where(s, rr, keys, d[i], NULL, NAN, metric, "", &p)) {
            bars[n_bars++] = (struct plot_bar) { d[i], p.mean, p.ci95 };
        }
    }
    fprintf(log, "bar %s: %zu bars\n", metric, n_bars);
    if (n_bars) {
        struct bars_aux a = { frame, bars, n_bars };
        error = draw_both(log, base, draw_bars, &a);
    }
    free(bars);
    free(d);
    return error;
}

/* A line per scheme and other axes, over 'x'. */
static int
figure_line(FILE *log, struct store *s, const struct results_runs *rr, const char *x,
            const char *metric, const struct plot_frame *frame, const char *base)
{
    char **keys = xcalloc(rr->n + 1, sizeof *keys);
    double *xs = xcalloc(rr->n + 1, sizeof *xs);
    const char **d;
    size_t n_x = 0, n, n_series = 0;
    struct plot_series *series;
    int error = 0;

    for (size_t i = 0; i < rr->n; i++) {
        double v = run_x(&rr->runs[i], x);
        size_t j = 0;

        keys[i] = run_key(&rr->runs[i], x);
        if (isnan(v)) {
            continue;
        }
        while (j < n_x && xs[j] < v) {
            j++;
        }
        if (j == n_x || xs[j] != v) {
            memmove(xs + j + 1, xs + j, (n_x - j) * sizeof *xs);
            xs[j] = v;
            n_x++;
        }
    }
    n = distinct(keys, rr->n, &d);
    series = xcalloc(n + 1, sizeof *series);
    for (size_t i = 0; i < n; i++) {
        double *y = xcalloc(n_x + 1, sizeof *y), *ci = xcalloc(n_x + 1, sizeof *ci);
        bool any = false;

        for (size_t j = 0; j < n_x; j++) {
            struct results_pooled p;
            bool ok = pool_where(s, rr, keys, d[i], x, xs[j], metric, "", &p);
            y[j] = ok ? p.mean : NAN;
            ci[j] = ok ? p.ci95 : NAN;
            any |= ok;
        }
        if (any) {
            series[n_series++] = (struct plot_series) { d[i], xs, y, ci, n_x };
        } else {
            free(y);
            free(ci);
        }
    }
    fprintf(log, "line %s over %s: %zu lines of %zu points\n", metric, x, n_series, n_x);
    if (n_series) {
        struct lines_aux a = { frame, series, n_series };
        error = draw_both(log, base, draw_lines, &a);
    }
    for (size_t i = 0; i < n_series; i++) {
        free((double *) series[i].y);
        free((double *) series[i].ci95);
    }
    free(series);
    free(d);
    for (size_t i = 0; i < rr->n; i++) {
        free(keys[i]);
    }
    free(keys);
    free(xs);
    return error;
}

/* A bar per point and scheme, split per component of 'metric'. */
static int
figure_stacked(FILE *log, struct store *s, const struct results_runs *rr, char **keys,
               const char *metric, const struct plot_frame *frame, const char *base)
{
    char **comps = NULL, **comp_labels = NULL;
    size_t n_comps = 0, n_stacks = 0, n;
    const char **d;
    struct plot_stack *stacks;
    int error = 0;

    for (size_t i = 0; i < rr->n; i++) {
        struct store_series_name *names;
        size_t k;

        if (store_series_list(s, rr->runs[i].id, true, &names, &k)) {
            continue;
        }
        for (size_t j = 0; j < k; j++) {
            json_t *l = json_loads(names[j].labels, 0, NULL);
            const char *c = json_string_value(json_object_get(l, "component"));
            bool seen = false;

            for (size_t m = 0; c && m < n_comps && !seen; m++) {
                seen = !strcmp(comp_labels[m], names[j].labels);
            }
            if (c && !seen && !strcmp(names[j].metric, metric)) {
                comps = xrealloc(comps, (n_comps + 1) * sizeof *comps);
                comp_labels = xrealloc(comp_labels, (n_comps + 1) * sizeof *comp_labels);
                comps[n_comps] = xstrdup(c);
                comp_labels[n_comps++] = xstrdup(names[j].labels);
            }
            json_decref(l);
        }
        store_series_names_free(names, k);
    }
    n = distinct(keys, rr->n, &d);
    stacks = xcalloc(n + 1, sizeof *stacks);
    for (size_t i = 0; i < n && n_comps; i++) {
        double *parts = xcalloc(n_comps, sizeof *parts);
        bool any = false;

        for (size_t c = 0; c < n_comps; c++) {
            struct results_pooled p;
            bool ok = pool_where(s, rr, keys, d[i], NULL, NAN, metric, comp_labels[c], &p);
            parts[c] = ok ? p.mean : NAN;
            any |= ok;
        }
        if (any) {
            stacks[n_stacks++] = (struct plot_stack) { d[i], parts };
        } else {
            free(parts);
        }
    }
    fprintf(log, "stacked %s: %zu bars (one per point and scheme):", metric, n_stacks);
    for (size_t i = 0; i < n_stacks; i++) {
        fprintf(log, "%s %s", i ? " |" : "", stacks[i].label);
    }
    fprintf(log, "; %zu components\n", n_comps);
    if (n_stacks) {
        struct stack_aux a = { frame, (const char *const *) comps, n_comps, stacks, n_stacks };
        error = draw_both(log, base, draw_stacks, &a);
    }
    for (size_t i = 0; i < n_stacks; i++) {
        free((double *) stacks[i].parts);
    }
    for (size_t i = 0; i < n_comps; i++) {
        free(comps[i]);
        free(comp_labels[i]);
    }
    free(comps);
    free(comp_labels);
    free(stacks);
    free(d);
    return error;
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

/* mkdir -p: every missing directory of 'path', said on stderr when one cannot be made. */
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

char *
figures_dir(const char *db_path, const char *experiment)
{
    char *db = xstrdup(db_path);
    char *safe = file_safe(experiment);
    char *dir = xasprintf("%s/plots/%s", dirname(db), safe);

    free(db);
    free(safe);
    return dir;
}

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

struct ts_aux {
    const struct plot_frame *frame;
    const struct plot_series *series;
    const struct plot_window *windows;
    size_t n_windows;
};

static int
draw_ts(const char *path, void *a_)
{
    struct ts_aux *a = a_;
    return plot_timeseries(path, a->frame, a->series, 1, a->windows, a->n_windows);
}

int
figures_draw_run(FILE *log, struct store *s, const struct store_run *run, const char *dir)
{
    struct store_series_name *names;
    struct store_event *events;
    size_t n_names, n_events;
    int error = 0;

    error = mkdir_p(dir);
    if (error) {
        return error;
    }
    if (store_series_list(s, run->id, false, &names, &n_names)) {
        return EIO;
    }
    if (store_events_read(s, run->id, &events, &n_events)) {
        store_series_names_free(names, n_names);
        return EIO;
    }
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
        ylabel = ylabel_of(names[i].metric);
        safe = file_safe(names[i].labels[0] ? names[i].labels : "");
        base = xasprintf("%s/run-%" PRId64 "-%s%s%s", dir, run->id, names[i].metric,
                         safe[0] ? "-" : "", safe);
        struct plot_frame frame = { .title = title, .xlabel = "time since run start (s)",
                                    .ylabel = ylabel };
        struct plot_series series = { run->scheme, x, y, NULL, bins };
        struct ts_aux a = { &frame, &series, windows, n_windows };
        error = draw_both(log, base, draw_ts, &a);
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
        fprintf(log, "run %" PRId64 " has no samples to plot\n", run->id);
    }
    store_events_free(events, n_events);
    store_series_names_free(names, n_names);
    return error;
}

int
figures_draw(FILE *log, struct store *s, const char *experiment, const char *dir,
             size_t *n_drawn)
{
    struct experiment *e = NULL;
    struct results_runs rr;
    struct diag diag;
    char **keys = NULL;
    int error;

    *n_drawn = 0;
    error = mkdir_p(dir);
    if (error) {
        return error;
    }
    error = results_runs_load(s, experiment, NULL, &rr);
    if (error) {
        return error;
    }
    diag_init(&diag);
    if (!rr.n || !rr.runs[rr.n - 1].experiment_file
        || experiment_load_string(experiment, rr.runs[rr.n - 1].experiment_file,
                                  strlen(rr.runs[rr.n - 1].experiment_file), &diag, &e)
        || !e->n_plots) {
        error = ENOENT;
        goto out;
    }
    keys = xcalloc(rr.n + 1, sizeof *keys);
    for (size_t i = 0; i < rr.n; i++) {
        keys[i] = run_key(&rr.runs[i], NULL);
    }
    fprintf(log, "plots of %s (variant %s, %zu runs)\n", experiment, rr.variant, rr.n);
    for (size_t i = 0; i < e->n_plots && !error; i++) {
        const struct exp_plot *pl = &e->plots[i];
        const char *metric = figures_metric(pl->y);
        char *ylabel = ylabel_of(metric);
        char *title = pl->title ? xstrdup(pl->title) : xasprintf("%s: %s", experiment, ylabel);
        char *base = xasprintf("%s/plot%zu-%s-%s", dir, i + 1, pl->kind, metric);
        struct plot_frame frame = {
            .title = title, .ylabel = ylabel,
            .xlabel = pl->x && strcmp(pl->kind, "bar") ? pl->x : "scheme and point",
        };

        if (!strcmp(pl->kind, "line") && pl->x) {
            error = figure_line(log, s, &rr, pl->x, metric, &frame, base);
        } else if (!strcmp(pl->kind, "stacked")) {
            frame.xlabel = "point and scheme";
            error = figure_stacked(log, s, &rr, keys, metric, &frame, base);
        } else if (!strcmp(pl->kind, "bar")) {
            error = figure_bar(log, s, &rr, keys, metric, &frame, base);
        } else {
            fprintf(log, "%s %s: one per run (sfclab plot RUN)\n", pl->kind, metric);
        }
        *n_drawn += !error;
        free(base);
        free(title);
        free(ylabel);
    }

out:
    for (size_t i = 0; keys && i < rr.n; i++) {
        free(keys[i]);
    }
    free(keys);
    experiment_free(e);
    diag_uninit(&diag);
    results_runs_uninit(&rr);
    return error;
}
