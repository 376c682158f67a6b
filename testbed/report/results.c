#include "testbed/report/results.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testbed/model/diag.h"
#include "testbed/model/experiment.h"
#include "testbed/report/report.h"
#include "testbed/stats/metrics.h"
#include "testbed/stats/stats.h"
#include "testbed/store/store.h"
#include "vnfs/lib/util.h"

bool
results_pool(const struct store_summary *sums, size_t n, struct results_pooled *p)
{
    double weighted = 0, *means;
    uint64_t total = 0;
    size_t m = 0;
    double ci = NAN;

    means = xmalloc((n ? n : 1) * sizeof *means);
    for (size_t i = 0; i < n; i++) {
        if (isfinite(sums[i].mean) && sums[i].n) {
            weighted += sums[i].mean * sums[i].n;
            total += sums[i].n;
            means[m++] = sums[i].mean;
            ci = sums[i].ci95;
        }
    }
    if (!m) {
        free(means);
        return false;
    }
    if (m >= 2) {
        struct stats_summary across;
        stats_summarize(means, m, &across);
        ci = across.ci95;
    }
    p->mean = weighted / total;
    p->n = total;
    p->reps = m;
    p->ci95 = ci;
    free(means);
    return true;
}

int
results_runs_load(struct store *s, const char *experiment, const char *variant,
                  struct results_runs *rr)
{
    struct store_run *all;
    char **variants;
    size_t n_all;
    int error;

    memset(rr, 0, sizeof *rr);
    error = store_runs_list(s, experiment, &all, &n_all);
    if (error) {
        return error;
    }
    variants = xcalloc(n_all + 1, sizeof *variants);
    for (size_t i = 0; i < n_all; i++) {
        if (all[i].status == STORE_COMPLETE) {
            variants[i] = store_run_variant(&all[i]);
        }
    }
    for (size_t i = n_all; !variant && i-- > 0;) {
        variant = variants[i];          /* The newest complete run's. */
    }
    rr->variant = variant ? xstrdup(variant) : NULL;
    rr->runs = xcalloc(n_all + 1, sizeof *rr->runs);
    for (size_t i = 0; i < n_all; i++) {
        if (variants[i] && !strcmp(variants[i], rr->variant)) {
            rr->runs[rr->n++] = all[i];
            continue;
        }
        if (variants[i]) {
            /* Counted per variant, in order of first appearance. */
            size_t same = 0;
            bool first = true;
            for (size_t j = 0; j < n_all; j++) {
                if (variants[j] && !strcmp(variants[j], variants[i])) {
                    same++;
                    first &= j >= i;
                }
            }
            if (first) {
                char *more = xasprintf("%s%s%s: %zu", rr->others ? rr->others : "",
                                       rr->others ? ", " : "", variants[i], same);
                free(rr->others);
                rr->others = more;
            }
            rr->n_other++;
        }
        store_run_uninit(&all[i]);
    }
    for (size_t i = 0; i < n_all; i++) {
        free(variants[i]);
    }
    free(variants);
    free(all);
    return 0;
}

void
results_runs_uninit(struct results_runs *rr)
{
    store_runs_free(rr->runs, rr->n);
    free(rr->variant);
    free(rr->others);
    memset(rr, 0, sizeof *rr);
}

void
results_runs_describe(FILE *f, const struct results_runs *rr)
{
    if (!rr->n) {
        fprintf(f, "Runs shown: none (no complete run).\n\n");
        return;
    }
    fprintf(f, "Runs shown: %zu complete run%s of variant `%s`%s.", rr->n, rr->n == 1 ? "" : "s",
            rr->variant, !strncmp(rr->variant, "quick", 5) ? " (the --quick profile: a smoke "
            "test, not the experiment's full point)" : "");
    if (rr->n_other) {
        fprintf(f, " Not pooled with them: %zu complete run%s of other variants (%s).",
                rr->n_other, rr->n_other == 1 ? "" : "s", rr->others);
    }
    fprintf(f, "\n\n");
}

bool
results_pool_runs(struct store *s, const struct results_runs *rr, const char *metric,
                  const char *labels, const char *scheme, const char *point,
                  struct results_pooled *p)
{
    struct store_summary *sums = xcalloc(rr->n + 1, sizeof *sums);
    size_t m = 0;
    bool ok;

    for (size_t i = 0; i < rr->n; i++) {
        const struct store_run *r = &rr->runs[i];
        if ((scheme && strcmp(r->scheme, scheme)) || (point && strcmp(r->point, point))) {
            continue;
        }
        if (!store_summary_get(s, r->id, metric, labels ? labels : "", &sums[m])) {
            m++;
        }
    }
    ok = results_pool(sums, m, p);
    free(sums);
    return ok;
}

bool
results_point_has(json_t *point, const char *key, const char *value)
{
    json_t *v = json_object_get(point, key);
    char *end;
    double d;

    if (json_is_string(v)) {
        return !strcmp(json_string_value(v), value);
    }
    if (json_is_number(v)) {
        d = strtod(value, &end);
        return *value && !*end && d == json_number_value(v);
    }
    return false;
}

static bool
reference_matches_run(const struct exp_reference *r, const struct store_run *run)
{
    json_t *point;
    bool ok = true;

    if (r->scheme && strcmp(r->scheme, run->scheme)) {
        return false;
    }
    point = json_loads(run->point, 0, NULL);
    for (size_t i = 0; i < r->n_where && ok; i++) {
        ok = results_point_has(point, r->where[i].key, r->where[i].value);
    }
    json_decref(point);
    return ok;
}

/* The labels of a reference as the store keeps them (compact JSON, sorted keys), or "". */
static char *
reference_labels(const struct exp_reference *r)
{
    json_t *o = json_object();
    char *s;

    for (size_t i = 0; i < r->n_labels; i++) {
        json_object_set_new(o, r->labels[i].key, json_string(r->labels[i].value));
    }
    s = json_object_size(o) ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : xstrdup("");
    json_decref(o);
    return s;
}

/* Which row of a table is "best". A share has no better direction: its "best" is the largest,
 * the component that takes the most time (before, the smallest share was called best). */
static bool
higher_is_better(const char *metric)
{
    return (strstr(metric, "availability") || strstr(metric, "rx_") || strstr(metric, "tx_")
            || strstr(metric, "share"));
}

/* A table's heading: its metric, and the point and scheme of a table of components. */
static char *
table_figure(const struct exp_reference *r)
{
    struct buf b = BUF_INITIALIZER;

    buf_printf(&b, "%s", r->metric);
    if (r->n_labels && (r->n_where || r->scheme)) {
        buf_printf(&b, " at ");
        for (size_t i = 0; i < r->n_where; i++) {
            buf_printf(&b, "%s%s=%s", i ? "," : "", r->where[i].key, r->where[i].value);
        }
        if (r->scheme) {
            buf_printf(&b, "%sscheme %s", r->n_where ? ", " : "", r->scheme);
        }
    }
    buf_put_u8(&b, 0);
    return (char *) buf_steal(&b, NULL);
}

/* The published values of the recorded file beside ours: one table per metric. */
static void
report_references(FILE *f, struct store *s, const struct results_runs *rr,
                  const struct experiment *e)
{
    struct report_row *rows = xcalloc(e->n_refs + 1, sizeof *rows);
    bool *done = xcalloc(e->n_refs + 1, sizeof *done);

    for (size_t i = 0; i < e->n_refs; i++) {
        struct report_table table;
        size_t n_rows = 0;

        if (done[i]) {
            continue;
        }
        for (size_t j = i; j < e->n_refs; j++) {
            const struct exp_reference *r = &e->refs[j];
            struct store_summary *sums = xcalloc(rr->n + 1, sizeof *sums);
            char *labels = reference_labels(r);
            struct results_pooled p;
            double mean = NAN, ci = NAN;
            size_t m = 0;

            if (done[j] || !experiment_references_share_table(r, &e->refs[i])) {
                free(labels);
                free(sums);
                continue;
            }
            done[j] = true;
            size_t matching = 0;
            for (size_t k = 0; k < rr->n; k++) {
                if (reference_matches_run(r, &rr->runs[k])) {
                    matching++;
                    m += !store_summary_get(s, rr->runs[k].id, r->metric, labels, &sums[m]);
                }
            }
            if (!matching) {
                /* No run of the variant shown is at its point (a --quick sweep is shorter):
                 * said below the table, not shown as a row without a number. */
                fprintf(f, "(not in the runs shown: '%s', no run at its point)\n\n", r->label);
                free(labels);
                free(sums);
                continue;
            }
            if (results_pool(sums, m, &p)) {
                const char *from = report_metric_unit(r->metric);
                if (!report_convert(p.mean, from, r->unit, &mean)
                    || (isfinite(p.ci95) && !report_convert(p.ci95, from, r->unit, &ci))) {
                    fprintf(f, "(cannot convert %s of '%s' to %s)\n\n", from, r->metric, r->unit);
                    mean = ci = NAN;
                }
            }
            rows[n_rows++] = (struct report_row) {
                .label = r->label, .group = NULL, .published = r->value, .measured = mean,
                .ci95 = ci, .unit = r->unit, .derived = r->derived,
                .value_checked = experiment_reference_value_checked(r),
                .why = {
                    .value = experiment_reference_why(r, "value"),
                    .order = experiment_reference_why(r, "order"),
                    .best = experiment_reference_why(r, "best"),
                    .ratio = experiment_reference_why(r, "ratio"),
                },
                .ratio_to = r->ratio_to,
            };
            free(labels);
            free(sums);
        }
        char *figure = table_figure(&e->refs[i]);
        table = (struct report_table) {
            .figure = figure, .title = "published beside ours",
            .higher_is_better = higher_is_better(e->refs[i].metric), .rows = rows,
            .n = n_rows,
        };
        report_write_markdown(f, &table, 1);
        free(figure);
    }
    fprintf(f, "Sources:\n");
    for (size_t i = 0; i < e->n_refs; i++) {
        const struct exp_reference *r = &e->refs[i];
        fprintf(f, "- %s: %s; %s%s\n", r->label, r->source ? r->source : "(no source)",
                r->derived ? "derived: " : "printed in the paper",
                r->derived ? r->derived : "");
    }
    fprintf(f, "\n");
    free(done);
    free(rows);
}

/* Every distinct (metric, labels) summarised in the runs shown. */
static void
all_metrics(struct store *s, const struct results_runs *rr, struct store_series_name **namesp,
            size_t *np)
{
    struct store_series_name *all = NULL;
    size_t n = 0, cap = 0;

    for (size_t i = 0; i < rr->n; i++) {
        struct store_series_name *names;
        size_t k;

        if (store_series_list(s, rr->runs[i].id, true, &names, &k)) {
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

int
results_report(FILE *f, struct store *s, const char *experiment)
{
    struct store_series_name *names = NULL;
    struct experiment *e = NULL;
    struct results_runs rr;
    size_t n_names = 0;
    struct diag diag;
    int error;

    error = results_runs_load(s, experiment, NULL, &rr);
    if (error) {
        return error;
    }
    fprintf(f, "# %s\n\n", experiment);
    results_runs_describe(f, &rr);
    if (!rr.n) {
        results_runs_uninit(&rr);
        return ENOENT;
    }
    /* The file as the newest run shown recorded it: its references are what it set ours
     * against, whatever the file says today. */
    diag_init(&diag);
    const struct store_run *newest = &rr.runs[rr.n - 1];
    char *what = xasprintf("(experiment file recorded with run %" PRId64 ")", newest->id);
    if (!newest->experiment_file
        || experiment_load_string(what, newest->experiment_file,
                                  strlen(newest->experiment_file), &diag, &e)) {
        fprintf(f, "The experiment file recorded with run %" PRId64 " does not load today, so "
                "its published values cannot be shown:\n\n", newest->id);
        diag_print(&diag, f);
        fprintf(f, "\nShape:\n- not compared: no published values could be read\n\n");
    } else if (!e->n_refs) {
        fprintf(f, "## Published values\n\nNone: the experiment file sets no published value "
                "beside this run (its comments say why).\n\nShape:\n- not compared: nothing "
                "published is like this run\n\n");
    } else {
        report_references(f, s, &rr, e);
    }
    free(what);
    diag_uninit(&diag);
    experiment_free(e);

    /* Everything measured, per scheme and point, pooled over repetitions. */
    all_metrics(s, &rr, &names, &n_names);
    if (n_names) {
        fprintf(f, "## All measurements\n\n| scheme | point | metric | labels | reps | n | mean |"
                " ± 95%% CI |\n|---|---|---|---|---:|---:|---:|---:|\n");
    }
    for (size_t m = 0; m < n_names; m++) {
        for (size_t i = 0; i < rr.n; i++) {
            const struct store_run *r = &rr.runs[i];
            struct results_pooled p;
            bool seen = false;

            for (size_t j = 0; j < i && !seen; j++) {
                seen = !strcmp(rr.runs[j].scheme, r->scheme)
                       && !strcmp(rr.runs[j].point, r->point);
            }
            if (seen || !results_pool_runs(s, &rr, names[m].metric, names[m].labels, r->scheme,
                                           r->point, &p)) {
                continue;
            }
            fprintf(f, "| %s | %s | %s | %s | %zu | %" PRIu64 " | %.4g |", r->scheme, r->point,
                    names[m].metric, names[m].labels, p.reps, p.n, p.mean);
            fprintf(f, isfinite(p.ci95) ? " %.3g |\n" : " — |\n", p.ci95);
        }
    }
    store_series_names_free(names, n_names);
    results_runs_uninit(&rr);
    return 0;
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

void
results_list_runs(FILE *f, const struct store_run *runs, size_t n)
{
    fprintf(f, "%5s  %-20s %-14s %-28s %3s  %-11s %-19s %9s\n", "id", "experiment", "scheme",
            "point", "rep", "status", "started", "samples");
    for (size_t i = 0; i < n; i++) {
        char started[32];

        format_wall(runs[i].started_ns, started, sizeof started);
        fprintf(f, "%5" PRId64 "  %-20.20s %-14.14s %-28.28s %3d  %-11s %-19s %9" PRId64 "\n",
                runs[i].id, runs[i].experiment, runs[i].scheme, runs[i].point,
                runs[i].repetition, store_status_to_string(runs[i].status), started,
                runs[i].n_samples);
    }
}

void
results_report_run(FILE *f, struct store *s, const struct store_run *run)
{
    struct store_series_name *names;
    struct store_event *events;
    struct store_point *pts;
    size_t n_names = 0, n_events = 0, n_pts;
    char started[32];

    format_wall(run->started_ns, started, sizeof started);
    fprintf(f, "# Run %" PRId64 ": %s\n\n", run->id, run->experiment);
    fprintf(f, "- scheme: %s; point: %s; repetition %d; seed %" PRIu64 "\n", run->scheme,
           run->point, run->repetition, run->seed);
    fprintf(f, "- status: %s; started %s; git %s\n", store_status_to_string(run->status), started,
           run->git_rev[0] ? run->git_rev : "-");
    fprintf(f, "- host: %s\n\n", run->host);

    if (!store_series_list(s, run->id, true, &names, &n_names) && n_names) {
        fprintf(f, "| metric | labels | n | mean | ± 95%% CI | p50 | p99 | min | max |\n");
        fprintf(f, "|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for (size_t i = 0; i < n_names; i++) {
            struct store_summary m;
            if (store_summary_get(s, run->id, names[i].metric, names[i].labels, &m)) {
                continue;
            }
            const double cols[] = { m.mean, m.ci95, m.p50, m.p99, m.min, m.max };
            fprintf(f, "| %s | %s | %" PRIu64 " |", names[i].metric, names[i].labels, m.n);
            for (size_t k = 0; k < ARRAY_SIZE(cols); k++) {
                fprintf(f, isfinite(cols[k]) ? " %.4g |" : " — |", cols[k]);
            }
            fprintf(f, "\n");
        }
        fprintf(f, "\n");
    } else {
        fprintf(f, "No summaries stored for this run.\n\n");
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
            fprintf(f, "| fault on | injected (s) | detected after (ms) | recovered after (ms) |"
                   " total (ms) |\n|---|---:|---:|---:|---:|\n");
        }
        for (size_t i = 0; i < n_eps; i++) {
            fprintf(f, "| %s | %.3f |", eps[i].target, eps[i].injected_ns / 1e9);
            int64_t steps[] = { eps[i].detect_ns, eps[i].repair_ns, eps[i].total_ns };
            for (size_t k = 0; k < ARRAY_SIZE(steps); k++) {
                if (steps[k] < 0) {
                    fprintf(f, " never |");
                } else {
                    fprintf(f, " %.3f |", steps[k] / 1e6);
                }
            }
            fprintf(f, "\n");
        }
        if (n_eps) {
            fprintf(f, "\n");
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
            fprintf(f, "Availability over the probe stream (%zu probes, %.3f s): %.5f%% "
                   "(%zu outages, longest %.3f s)\n\n", n_pts, a.total_ns / 1e9,
                   100 * a.ratio, a.outages, a.longest_outage_ns / 1e9);
        }
        free(probes);
    }
    if (n_pts) {
        free(pts);
    }
}
