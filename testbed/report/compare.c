#include "testbed/report/compare.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testbed/model/experiment.h"
#include "testbed/plot/plot.h"
#include "testbed/report/results.h"
#include "testbed/schemes/scheme.h"
#include "testbed/store/store.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

/* What a reader asks of a scheme under a fault model, in the order the scorecard shows it. Lost
 * requests are those never answered in time (a probe's timeout is its interval). Capacity is
 * not a cell: over a `workload.rate` axis the summary derives it from the lost cells. */
const struct compare_metric compare_metrics[] = {
    { "availability", "availability (%)", "availability_ratio", COMPARE_MEAN, 100 },
    { "longest_outage", "longest outage (ms)", "longest_outage_ms", COMPARE_MEAN, 1 },
    { "rtt_p50", "RTT p50 (ms)", "rtt_us", COMPARE_P50, 1e-3 },
    { "rtt_p99", "RTT p99 (ms)", "rtt_us", COMPARE_P99, 1e-3 },
    { "lost", "lost: unanswered (%)", "timeout_ratio", COMPARE_MEAN, 100 },
    { "duplicated", "duplicated answers", "duplicate_answers", COMPARE_MEAN, 1 },
    { "wrong", "wrong answers (%)", "wrong_answer_ratio", COMPARE_MEAN, 100 },
    { "recovery", "recovery by the scheme (ms)", "recovery_scheme_ms", COMPARE_MEAN, 1 },
    { "guests", "price: guests", "guests_total", COMPARE_MEAN, 1 },
    { "cpu", "price: CPU (% of a core)", "cpu_pct_total", COMPARE_MEAN, 1 },
    { "memory", "price: memory (MiB)", "memory_bytes_total", COMPARE_MEAN, 1.0 / 1048576 },
};
const size_t compare_n_metrics = ARRAY_SIZE(compare_metrics);

/* The thresholds of the summary. */
#define COMPARE_AVAILABLE_PCT 99.9

static size_t
metric_index(const char *key)
{
    for (size_t m = 0; m < compare_n_metrics; m++) {
        if (!strcmp(compare_metrics[m].key, key)) {
            return m;
        }
    }
    return SIZE_MAX;
}

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

static struct compare_entry *
entry(const struct compare_table *t, size_t row, size_t column)
{
    return &t->entries[row * t->n_columns + column];
}

static void
table_alloc_entries(struct compare_table *t)
{
    t->entries = xcalloc(t->n_rows * t->n_columns + 1, sizeof *t->entries);
    for (size_t i = 0; i < t->n_rows * t->n_columns; i++) {
        t->entries[i].cells = xcalloc(compare_n_metrics, sizeof *t->entries[i].cells);
    }
}

void
compare_table_uninit(struct compare_table *t)
{
    for (size_t i = 0; t->entries && i < t->n_rows * t->n_columns; i++) {
        free(t->entries[i].cells);
    }
    free(t->entries);
    for (size_t i = 0; i < t->n_rows; i++) {
        free(t->rows[i]);
    }
    for (size_t i = 0; i < t->n_columns; i++) {
        free(t->columns[i]);
        free(t->schemes[i]);
        free(t->notes[i]);
    }
    free(t->rows);
    free(t->columns);
    free(t->schemes);
    free(t->notes);
    free(t->experiment);
    free(t->variant);
    free(t->axis);
    memset(t, 0, sizeof *t);
}

/* Building from the database. */

static bool
run_matches(const struct store_run *r, const struct exp_point *p)
{
    json_t *point = json_loads(r->point ? r->point : "{}", 0, NULL);
    bool ok = point != NULL;

    for (size_t i = 0; ok && i < p->n_axes; i++) {
        ok = results_point_has(point, p->axes[i].key, p->axes[i].value);
    }
    /* A run of another sweep (more axes) is not this point's. */
    ok = ok && json_object_size(point) == p->n_axes;
    json_decref(point);
    return ok;
}

/* The row label of a point: its axes but the column axis, "k=v,k=v". */
static char *
row_label(const struct exp_point *p, const char *axis)
{
    struct buf b = BUF_INITIALIZER;

    for (size_t i = 0; i < p->n_axes; i++) {
        if (strcmp(p->axes[i].key, axis)) {
            buf_printf(&b, "%s%s=%s", b.len ? "," : "", p->axes[i].key, p->axes[i].value);
        }
    }
    buf_put_u8(&b, '\0');
    return (char *) buf_steal(&b, NULL);
}

static const char *
column_value(const struct exp_point *p, const char *axis)
{
    for (size_t i = 0; i < p->n_axes; i++) {
        if (!strcmp(p->axes[i].key, axis)) {
            return p->axes[i].value;
        }
    }
    return p->scheme;
}

/* Whether a run got as far as deploying its scheme (its "phase-start deploy" event). */
static bool
run_reached_deploy(struct store *s, int64_t run)
{
    struct store_event *events = NULL;
    size_t n = 0;
    bool reached = false;

    if (!store_events_read(s, run, &events, &n)) {
        for (size_t i = 0; i < n && !reached; i++) {
            reached = !strcmp(events[i].kind, "phase-start") && events[i].detail
                      && !strcmp(events[i].detail, "deploy");
        }
    }
    store_events_free(events, n);
    return reached;
}

/* Pools one metric of one cell over the runs that stored it, as results.h pools: the mean of
 * the repetitions' values, the CI over them when there are two or more. */
static void
pool_cell(struct store *s, int64_t *runs, size_t n_runs, const struct compare_metric *m,
          struct compare_cell *cell)
{
    struct store_summary *sums = xcalloc(n_runs + 1, sizeof *sums);
    struct results_pooled pooled;
    size_t k = 0;

    for (size_t i = 0; i < n_runs; i++) {
        struct store_summary sum;

        if (store_summary_get(s, runs[i], m->summary, "", &sum)) {
            continue;
        }
        if (m->stat != COMPARE_MEAN) {
            /* A percentile pools like a mean: one value per repetition. */
            sum.mean = m->stat == COMPARE_P50 ? sum.p50 : sum.p99;
            sum.ci95 = NAN;
            sum.n = 1;
        }
        sums[k++] = sum;
    }
    if (k && results_pool(sums, k, &pooled)) {
        cell->have = true;
        cell->mean = pooled.mean * m->scale;
        cell->ci95 = pooled.reps > 1 ? pooled.ci95 * m->scale : NAN;
        cell->reps = pooled.reps;
    }
    free(sums);
}

int
compare_table_build(struct store *s, const struct experiment *exp_, const char *variant,
                    struct compare_table *t)
{
    struct experiment *exp = (struct experiment *) exp_;
    struct results_runs rr = { 0 };
    struct store_run *runs = NULL;
    struct exp_point *points = NULL;
    size_t n_runs = 0, n_points = 0;
    struct diag diag;
    bool have_setup = false;
    int error;

    memset(t, 0, sizeof *t);
    diag_init(&diag);
    error = experiment_points(exp, &diag, &points, &n_points);
    diag_uninit(&diag);
    if (error) {
        return error;
    }
    if (!variant) {
        error = results_runs_load(s, exp->name, NULL, &rr);
        if (error || !rr.variant) {
            error = error ? error : ENOENT;
            goto out;
        }
        variant = rr.variant;
    }
    error = store_runs_list(s, exp->name, &runs, &n_runs);
    if (error) {
        goto out;
    }
    for (size_t i = 0; n_points && i < points[0].n_axes; i++) {
        have_setup |= !strcmp(points[0].axes[i].key, "setup");
    }
    t->experiment = xstrdup(exp->name);
    t->variant = xstrdup(variant);
    t->axis = xstrdup(have_setup ? "setup" : "scheme");
    for (size_t p = 0; p < n_points; p++) {
        char *row = row_label(&points[p], t->axis);
        size_t before = t->n_columns;
        size_t c = intern(&t->columns, &t->n_columns, column_value(&points[p], t->axis));

        if (c == before) {
            const struct scheme_class *sc = scheme_find(points[p].scheme);

            t->schemes = xrealloc(t->schemes, t->n_columns * sizeof *t->schemes);
            t->notes = xrealloc(t->notes, t->n_columns * sizeof *t->notes);
            t->schemes[c] = xstrdup(points[p].scheme);
            t->notes[c] = sc && scheme_deployable(sc) ? NULL : xstrdup("not deployable yet");
        }
        intern(&t->rows, &t->n_rows, row);
        free(row);
    }
    table_alloc_entries(t);
    for (size_t p = 0; p < n_points; p++) {
        char *row = row_label(&points[p], t->axis);
        size_t r = intern(&t->rows, &t->n_rows, row);
        size_t c = intern(&t->columns, &t->n_columns, column_value(&points[p], t->axis));
        struct compare_entry *e = entry(t, r, c);
        int64_t *ids = xcalloc(n_runs + 1, sizeof *ids);
        size_t n_ids = 0;

        /* One count per repetition: a repetition failed when none of its runs completed (a
         * run whose infrastructure did not come up is tried again, see runner.h). */
        bool *seen = xcalloc(points[p].repetitions + 1, sizeof *seen);
        bool *done = xcalloc(points[p].repetitions + 1, sizeof *done);
        bool *deployed = xcalloc(points[p].repetitions + 1, sizeof *deployed);
        for (size_t i = 0; i < n_runs; i++) {
            char *v = store_run_variant(&runs[i]);
            bool mine = !strcmp(v, variant) && runs[i].status != STORE_RUNNING
                        && run_matches(&runs[i], &points[p]);
            size_t rep = runs[i].repetition >= 0
                         && (uint64_t) runs[i].repetition < points[p].repetitions
                         ? (size_t) runs[i].repetition : points[p].repetitions;

            free(v);
            if (!mine) {
                continue;
            }
            seen[rep] = true;
            deployed[rep] |= run_reached_deploy(s, runs[i].id);
            if (runs[i].status == STORE_COMPLETE && !done[rep]) {
                done[rep] = true;
                ids[n_ids++] = runs[i].id;
            }
        }
        for (size_t k = 0; k <= points[p].repetitions; k++) {
            e->runs += seen[k];
            e->failed += seen[k] && !done[k];
            e->infra_failed += seen[k] && !done[k] && !deployed[k];
        }
        free(seen);
        free(done);
        free(deployed);
        for (size_t m = 0; m < compare_n_metrics; m++) {
            pool_cell(s, ids, n_ids, &compare_metrics[m], &e->cells[m]);
        }
        free(ids);
        free(row);
    }

out:
    store_runs_free(runs, n_runs);
    results_runs_uninit(&rr);
    exp_points_free(points, n_points);
    if (error) {
        compare_table_uninit(t);
    }
    return error;
}

/* The TSV file. Fields are tab-separated; names never hold a tab or a newline (experiment
 * names, sweep values and scheme names are checked identifiers or scalars). */

static void
tsv_number(FILE *f, double v)
{
    if (isfinite(v)) {
        fprintf(f, "\t%.6g", v);
    } else {
        fputs("\t-", f);
    }
}

int
compare_table_write(FILE *f, const struct compare_table *t)
{
    fprintf(f, "# sfclab compare v1: %s, variant %s, columns by %s\n", t->experiment,
            t->variant, t->axis);
    fprintf(f, "# experiment\tvariant\taxis\n%s\t%s\t%s\n", t->experiment, t->variant, t->axis);
    fprintf(f, "# column\tscheme\tnote\n");
    for (size_t c = 0; c < t->n_columns; c++) {
        fprintf(f, "column\t%s\t%s\t%s\n", t->columns[c], t->schemes[c],
                t->notes[c] ? t->notes[c] : "-");
    }
    fprintf(f, "# row\tcolumn\truns\tfailed\tinfra_failed\tmetric\tmean\tci95\treps\n");
    for (size_t r = 0; r < t->n_rows; r++) {
        for (size_t c = 0; c < t->n_columns; c++) {
            const struct compare_entry *e = entry(t, r, c);

            for (size_t m = 0; m < compare_n_metrics; m++) {
                const struct compare_cell *cell = &e->cells[m];

                if (!cell->have) {
                    continue;
                }
                fprintf(f, "cell\t%s\t%s\t%zu\t%zu\t%zu\t%s", t->rows[r][0] ? t->rows[r] : "-",
                        t->columns[c], e->runs, e->failed, e->infra_failed,
                        compare_metrics[m].key);
                tsv_number(f, cell->mean);
                tsv_number(f, cell->ci95);
                fprintf(f, "\t%zu\n", cell->reps);
            }
            if (!e->cells[0].have || e->runs == 0) {
                /* The entry itself, so runs and failures without any metric are kept. */
                fprintf(f, "entry\t%s\t%s\t%zu\t%zu\t%zu\n", t->rows[r][0] ? t->rows[r] : "-",
                        t->columns[c], e->runs, e->failed, e->infra_failed);
            }
        }
    }
    return ferror(f) ? EIO : 0;
}

static size_t
split_tabs(char *line, char **fields, size_t max)
{
    size_t n = 0;

    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line; n < max; ) {
        fields[n++] = p;
        p = strchr(p, '\t');
        if (!p) {
            break;
        }
        *p++ = '\0';
    }
    return n;
}

static bool
parse_number(const char *s, double *v)
{
    char *end;

    if (!strcmp(s, "-")) {
        *v = NAN;
        return true;
    }
    *v = strtod(s, &end);
    return *s && !*end;
}

static bool
parse_count(const char *s, size_t *v)
{
    char *end;
    unsigned long long x;

    if (!*s || strspn(s, "0123456789") != strlen(s)) {
        return false;
    }
    x = strtoull(s, &end, 10);
    *v = x;
    return true;
}

int
compare_table_read(FILE *f, const char *name, FILE *err, struct compare_table *t)
{
    struct lines {
        char *row, *column, *metric;
        size_t runs, failed, infra_failed, reps;
        double mean, ci95;
    } *cells = NULL;
    size_t n_cells = 0, lineno = 0;
    char *line = NULL;
    size_t cap = 0;
    int error = 0;
    bool header = false;

    memset(t, 0, sizeof *t);
    while (getline(&line, &cap, f) > 0) {
        char *fld[11];
        size_t n;

        lineno++;
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        n = split_tabs(line, fld, ARRAY_SIZE(fld));
        if (!header) {
            if (n != 3) {
                fprintf(err, "%s:%zu: expected 'EXPERIMENT<TAB>VARIANT<TAB>AXIS'\n", name,
                        lineno);
                error = EINVAL;
                break;
            }
            t->experiment = xstrdup(fld[0]);
            t->variant = xstrdup(fld[1]);
            t->axis = xstrdup(fld[2]);
            header = true;
        } else if (!strcmp(fld[0], "column") && n == 4) {
            size_t before = t->n_columns, c = intern(&t->columns, &t->n_columns, fld[1]);

            if (c != before) {
                fprintf(err, "%s:%zu: column '%s' given twice\n", name, lineno, fld[1]);
                error = EINVAL;
                break;
            }
            t->schemes = xrealloc(t->schemes, t->n_columns * sizeof *t->schemes);
            t->notes = xrealloc(t->notes, t->n_columns * sizeof *t->notes);
            t->schemes[c] = xstrdup(fld[2]);
            t->notes[c] = strcmp(fld[3], "-") ? xstrdup(fld[3]) : NULL;
        } else if ((!strcmp(fld[0], "cell") && n == 10) || (!strcmp(fld[0], "entry") && n == 6)) {
            struct lines l = { .mean = NAN, .ci95 = NAN };
            bool is_cell = !strcmp(fld[0], "cell");
            bool ok = parse_count(fld[3], &l.runs) && parse_count(fld[4], &l.failed)
                      && parse_count(fld[5], &l.infra_failed)
                      && l.infra_failed <= l.failed && l.failed <= l.runs;

            if (ok && is_cell) {
                ok = metric_index(fld[6]) != SIZE_MAX && parse_number(fld[7], &l.mean)
                     && parse_number(fld[8], &l.ci95) && parse_count(fld[9], &l.reps);
            }
            if (!ok) {
                fprintf(err, "%s:%zu: a bad %s line (an unknown metric, a count or number that "
                        "is not one, or more failed runs than runs)\n", name, lineno, fld[0]);
                error = EINVAL;
                break;
            }
            l.row = xstrdup(strcmp(fld[1], "-") ? fld[1] : "");
            l.column = xstrdup(fld[2]);
            l.metric = is_cell ? xstrdup(fld[6]) : NULL;
            cells = xrealloc(cells, (n_cells + 1) * sizeof *cells);
            cells[n_cells++] = l;
            intern(&t->rows, &t->n_rows, l.row);
        } else {
            fprintf(err, "%s:%zu: expected a 'column', 'cell' or 'entry' line\n", name, lineno);
            error = EINVAL;
            break;
        }
    }
    if (!error && !header) {
        fprintf(err, "%s: no header line\n", name);
        error = EINVAL;
    }
    if (!error) {
        table_alloc_entries(t);
        for (size_t i = 0; i < n_cells && !error; i++) {
            size_t before = t->n_columns;
            size_t c = intern(&t->columns, &t->n_columns, cells[i].column);
            size_t r = intern(&t->rows, &t->n_rows, cells[i].row);
            struct compare_entry *e;

            if (c == before) {
                fprintf(err, "%s: column '%s' has cells but no 'column' line\n", name,
                        cells[i].column);
                t->n_columns--;
                free(t->columns[c]);
                error = EINVAL;
                break;
            }
            e = entry(t, r, c);
            e->runs = cells[i].runs;
            e->failed = cells[i].failed;
            e->infra_failed = cells[i].infra_failed;
            if (cells[i].metric) {
                struct compare_cell *cell = &e->cells[metric_index(cells[i].metric)];
                cell->have = true;
                cell->mean = cells[i].mean;
                cell->ci95 = cells[i].ci95;
                cell->reps = cells[i].reps;
            }
        }
    }
    for (size_t i = 0; i < n_cells; i++) {
        free(cells[i].row);
        free(cells[i].column);
        free(cells[i].metric);
    }
    free(cells);
    free(line);
    if (error) {
        compare_table_uninit(t);
    }
    return error;
}

/* Rendering. */

static void
format_value(char *buf, size_t size, double v)
{
    if (!isfinite(v)) {
        snprintf(buf, size, "—");
    } else if (v != 0 && fabs(v) < 0.01) {
        snprintf(buf, size, "%.2g", v);
    } else if (fabs(v) >= 100) {
        snprintf(buf, size, "%.0f", v);
    } else {
        snprintf(buf, size, "%.3g", v);
    }
}

static size_t
baseline_column(const struct compare_table *t)
{
    for (size_t c = 0; c < t->n_columns; c++) {
        if (!strcmp(t->schemes[c], "none")) {
            return c;
        }
    }
    return SIZE_MAX;
}

/* What a cell says: the value with its CI, the price against `none`, or why it has none. */
static void
format_cell(const struct compare_table *t, size_t r, size_t c, size_t m, struct buf *b)
{
    const struct compare_entry *e = entry(t, r, c);
    const struct compare_cell *cell = &e->cells[m];
    size_t base = baseline_column(t);
    char v[32], ci[32];

    if (!cell->have) {
        if (t->notes[c]) {
            buf_printf(b, "%s", m ? "·" : t->notes[c]);
        } else if (!e->runs) {
            buf_printf(b, "%s", m ? "·" : "not run");
        } else if (e->failed == e->runs && e->infra_failed == e->failed) {
            buf_printf(b, "%s", m ? "·" : "infrastructure did not come up");
        } else if (e->failed == e->runs) {
            buf_printf(b, "%s", m ? "·" : "run failed");
        } else {
            buf_printf(b, "—");
        }
        return;
    }
    if (!strcmp(compare_metrics[m].key, "availability") && isfinite(cell->mean)) {
        /* 99.95 is not 100: the digits that decide against 99.9% are kept. */
        snprintf(v, sizeof v, "%.5g", cell->mean);
    } else {
        format_value(v, sizeof v, cell->mean);
    }
    buf_printf(b, "%s", v);
    if (isfinite(cell->ci95)) {
        format_value(ci, sizeof ci, cell->ci95);
        buf_printf(b, " ± %s", ci);
    }
    if (!strcmp(compare_metrics[m].key, "cpu") || !strcmp(compare_metrics[m].key, "memory")
        || !strcmp(compare_metrics[m].key, "guests")) {
        const struct compare_cell *bc = base != SIZE_MAX ? &entry(t, r, base)->cells[m] : NULL;
        if (bc && bc->have && bc->mean > 0 && c != base) {
            buf_printf(b, " (%.1f×)", cell->mean / bc->mean);
        }
    }
    if (m == 0 && e->failed) {
        buf_printf(b, " (%zu of %zu runs failed%s)", e->failed, e->runs,
                   e->infra_failed ? ", some before deploying" : "");
    }
}

void
compare_render_scorecards(FILE *f, const struct compare_table *t)
{
    struct buf b = BUF_INITIALIZER;

    for (size_t r = 0; r < t->n_rows; r++) {
        fprintf(f, "\n### %s: %s\n\n| metric |", t->experiment,
                t->rows[r][0] ? t->rows[r] : "the one fault model");
        for (size_t c = 0; c < t->n_columns; c++) {
            fprintf(f, " %s |", t->columns[c]);
        }
        fprintf(f, "\n|---|");
        for (size_t c = 0; c < t->n_columns; c++) {
            fprintf(f, "---:|");
        }
        fprintf(f, "\n");
        for (size_t m = 0; m < compare_n_metrics; m++) {
            fprintf(f, "| %s |", compare_metrics[m].title);
            for (size_t c = 0; c < t->n_columns; c++) {
                b.len = 0;
                format_cell(t, r, c, m, &b);
                fprintf(f, " %.*s |", (int) b.len, (char *) b.data);
            }
            fprintf(f, "\n");
        }
    }
    buf_uninit(&b);
}

static const struct compare_cell *
cell_of(const struct compare_table *t, size_t r, size_t c, const char *key)
{
    const struct compare_cell *cell = &entry(t, r, c)->cells[metric_index(key)];
    return cell->have ? cell : NULL;
}

static void
list_columns(FILE *f, const struct compare_table *t, const bool *which)
{
    bool any = false;

    for (size_t c = 0; c < t->n_columns; c++) {
        if (which[c]) {
            fprintf(f, "%s`%s`", any ? ", " : "", t->columns[c]);
            any = true;
        }
    }
    if (!any) {
        fprintf(f, "none of them");
    }
}

/* The offered rate of a row "workload.rate=N" (requests per second); false otherwise. */
static bool
row_rate(const char *row, double *rate)
{
    char *end;

    if (strncmp(row, "workload.rate=", 14) || strchr(row, ',')) {
        return false;
    }
    *rate = strtod(row + 14, &end);
    return end != row + 14 && !*end && *rate > 0;
}

/* Over a rate axis: each column's capacity, the highest offered rate at which it lost less
 * than 1% of its requests (and answered none wrong), every lower rate passing too. */
static void
compare_render_capacity(FILE *f, const struct compare_table *t)
{
    double rate;

    for (size_t r = 0; r < t->n_rows; r++) {
        if (!row_rate(t->rows[r], &rate)) {
            return;
        }
    }
    if (!t->n_rows) {
        return;
    }
    fprintf(f, "\nCapacity (the highest offered rate with < 1%% of requests lost and none "
            "wrong, every lower rate passing too; offered: ");
    for (size_t r = 0; r < t->n_rows; r++) {
        fprintf(f, "%s%s", r ? ", " : "", t->rows[r] + 14);
    }
    fprintf(f, " requests/s):");
    for (size_t c = 0; c < t->n_columns; c++) {
        double best = -1;
        bool ran = false;

        for (size_t r = 0; r < t->n_rows; r++) {
            const struct compare_cell *l = cell_of(t, r, c, "lost");
            const struct compare_cell *w = cell_of(t, r, c, "wrong");

            ran |= l != NULL;
            if (!l || !w || l->mean >= 1 || w->mean > 0) {
                break;
            }
            row_rate(t->rows[r], &best);
        }
        fprintf(f, "%s `%s` ", c ? ";" : "", t->columns[c]);
        if (t->notes[c]) {
            fprintf(f, "%s", t->notes[c]);
        } else if (!ran) {
            fprintf(f, "no numbers");
        } else if (best < 0) {
            fprintf(f, "below the lowest");
        } else {
            fprintf(f, "%g/s", best);
        }
    }
    fprintf(f, ".\n");
}

void
compare_render_summary(FILE *f, const struct compare_table *t)
{
    bool *correct = xcalloc(t->n_columns + 1, sizeof *correct);
    bool *available = xcalloc(t->n_columns + 1, sizeof *available);
    size_t base = baseline_column(t);

    fprintf(f, "\n### Summary (%s, variant %s)\n\n", t->experiment, t->variant);
    fprintf(f, "Correct: 0 wrong answers in every run, and some right ones. Available: "
            "availability ≥ %.1f%%. "
            "Price: guests, CPU and memory in total against `none` at the same point.\n\n",
            COMPARE_AVAILABLE_PCT);
    for (size_t r = 0; r < t->n_rows; r++) {
        bool any_missing = false, any_availability = false;

        for (size_t c = 0; c < t->n_columns; c++) {
            any_availability |= cell_of(t, r, c, "availability") != NULL;
        }
        for (size_t c = 0; c < t->n_columns; c++) {
            const struct compare_cell *w = cell_of(t, r, c, "wrong");
            const struct compare_cell *a = cell_of(t, r, c, "availability");
            const struct compare_cell *l = cell_of(t, r, c, "lost");

            /* Correct is more than silent: no wrong answer, and some right ones. */
            correct[c] = w && w->mean == 0 && (any_availability ? a && a->mean > 0
                                                                 : l && l->mean < 100);
            available[c] = a && a->mean >= COMPARE_AVAILABLE_PCT;
            any_missing |= any_availability ? !a : !w;
        }
        fprintf(f, "- **%s**: correct: ", t->rows[r][0] ? t->rows[r] : "every point");
        list_columns(f, t, correct);
        if (any_availability) {
            fprintf(f, "; available: ");
            list_columns(f, t, available);
        }
        fprintf(f, ".");
        for (size_t c = 0; c < t->n_columns; c++) {
            const struct compare_cell *g = cell_of(t, r, c, "guests");
            const struct compare_cell *cpu = cell_of(t, r, c, "cpu");
            const struct compare_cell *mem = cell_of(t, r, c, "memory");
            const struct compare_cell *bg = base != SIZE_MAX ? cell_of(t, r, base, "guests") : NULL;
            const struct compare_cell *bcpu = base != SIZE_MAX ? cell_of(t, r, base, "cpu") : NULL;
            const struct compare_cell *bmem = base != SIZE_MAX ? cell_of(t, r, base, "memory")
                                                               : NULL;

            if (!(correct[c] && (available[c] || !any_availability)) || c == base || !g || !bg) {
                continue;
            }
            fprintf(f, " `%s` is %s, at %.0f guests against %.0f", t->columns[c],
                    any_availability ? "both" : "correct", g->mean, bg->mean);
            if (cpu && bcpu && bcpu->mean > 0) {
                fprintf(f, ", %.1f× the CPU", cpu->mean / bcpu->mean);
            }
            if (mem && bmem && bmem->mean > 0) {
                fprintf(f, ", %.1f× the memory", mem->mean / bmem->mean);
            }
            fprintf(f, ".");
        }
        if (any_missing) {
            fprintf(f, " No numbers: ");
            bool first = true;
            for (size_t c = 0; c < t->n_columns; c++) {
                if (!cell_of(t, r, c, any_availability ? "availability" : "wrong")) {
                    const struct compare_entry *e = entry(t, r, c);
                    fprintf(f, "%s`%s` (%s)", first ? "" : ", ", t->columns[c],
                            t->notes[c] ? t->notes[c] : !e->runs ? "not run"
                            : e->infra_failed == e->failed && e->failed
                              ? "the infrastructure did not come up"
                            : e->failed ? "its runs failed" : "no availability stored");
                    first = false;
                }
            }
            fprintf(f, ".");
        }
        fprintf(f, "\n");
    }
    compare_render_capacity(f, t);
    free(correct);
    free(available);
}

/* Charts. */

/* The seconds an "mtbf=5s" row stands for; false when the row is not one mtbf value. */
static bool
row_mtbf_seconds(const char *row, double *secs)
{
    char *end;
    double v;

    if (strncmp(row, "mtbf=", 5) || strchr(row, ',')) {
        return false;
    }
    v = strtod(row + 5, &end);
    if (end == row + 5) {
        return false;
    }
    *secs = !strcmp(end, "ms") ? v / 1e3 : !strcmp(end, "s") ? v : !strcmp(end, "m") ? v * 60
            : !strcmp(end, "h") ? v * 3600 : NAN;
    return isfinite(*secs);
}

int
compare_draw(FILE *log, const struct compare_table *t, const char *dir)
{
    const char **groups = xcalloc(t->n_rows + 1, sizeof *groups);
    const char **series = xcalloc(t->n_columns + 1, sizeof *series);
    size_t n = t->n_rows * t->n_columns;
    double *values = xcalloc(n + 1, sizeof *values), *ci = xcalloc(n + 1, sizeof *ci);
    bool lines = t->n_rows > 1;
    int error = 0;

    /* DB_DIR/plots/EXPERIMENT: the parent too, on a database's first charts. */
    char *parent = xstrdup(dir), *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        mkdir(parent, 0755);
    }
    free(parent);
    if (mkdir(dir, 0755) && errno != EEXIST) {
        error = errno;
        goto out;
    }
    for (size_t r = 0; r < t->n_rows; r++) {
        double s;
        groups[r] = t->rows[r][0] ? t->rows[r] : t->experiment;
        lines &= row_mtbf_seconds(t->rows[r], &s);
    }
    for (size_t c = 0; c < t->n_columns; c++) {
        series[c] = t->columns[c];
    }
    for (size_t m = 0; m < compare_n_metrics && !error; m++) {
        bool any = false;
        char *path, *title;

        for (size_t r = 0; r < t->n_rows; r++) {
            for (size_t c = 0; c < t->n_columns; c++) {
                const struct compare_cell *cell = &entry(t, r, c)->cells[m];
                values[r * t->n_columns + c] = cell->have ? cell->mean : NAN;
                ci[r * t->n_columns + c] = cell->have ? cell->ci95 : NAN;
                any |= cell->have;
            }
        }
        if (!any) {
            continue;
        }
        path = xasprintf("%s/compare-%s.png", dir, compare_metrics[m].key);
        title = xasprintf("%s: %s", t->experiment, compare_metrics[m].title);
        /* Every metric is a count, a time or (stored as a ratio) a percentage. */
        struct plot_frame frame = {
            .title = title, .xlabel = "fault-model point", .ylabel = compare_metrics[m].title,
            .width = 1000, .height = 560, .bounded = true, .y_min = 0,
            .y_max = compare_metrics[m].scale == 100 ? 100 : INFINITY,
        };
        error = plot_grouped_bars(path, &frame, groups, t->n_rows, series, t->n_columns,
                                  values, ci);
        if (!error) {
            fprintf(log, "grouped bars %s: %s\n", compare_metrics[m].key, path);
        }
        free(path);
        free(title);
    }
    if (!error && lines) {
        struct plot_series *ls = xcalloc(t->n_columns, sizeof *ls);
        double *x = xcalloc(t->n_rows, sizeof *x);
        size_t m = metric_index("availability");
        char *path = xasprintf("%s/compare-availability-vs-mtbf.png", dir);
        struct plot_frame frame = {
            .title = "Availability vs MTBF, a line per scheme", .xlabel = "MTBF (s)",
            .ylabel = "availability (%)", .bounded = true, .y_min = 0, .y_max = 100,
        };

        for (size_t r = 0; r < t->n_rows; r++) {
            row_mtbf_seconds(t->rows[r], &x[r]);
        }
        for (size_t c = 0; c < t->n_columns; c++) {
            double *y = xcalloc(t->n_rows, sizeof *y), *yc = xcalloc(t->n_rows, sizeof *yc);
            for (size_t r = 0; r < t->n_rows; r++) {
                const struct compare_cell *cell = &entry(t, r, c)->cells[m];
                y[r] = cell->have ? cell->mean : NAN;
                yc[r] = cell->have ? cell->ci95 : NAN;
            }
            ls[c] = (struct plot_series) { t->columns[c], x, y, yc, t->n_rows };
        }
        error = plot_lines(path, &frame, ls, t->n_columns);
        if (!error) {
            fprintf(log, "lines availability vs mtbf: %s\n", path);
        }
        for (size_t c = 0; c < t->n_columns; c++) {
            free((double *) ls[c].y);
            free((double *) ls[c].ci95);
        }
        free(ls);
        free(x);
        free(path);
    }
out:
    free(groups);
    free(series);
    free(values);
    free(ci);
    return error;
}
