/* compare — schemes side by side (`sfclab compare`, issue 18): one experiment's runs turned into
 * a table of cells, one per fault-model point (a row: the sweep point without its scheme axis)
 * and scheme set-up (a column: the values of the file's `setup` axis, else of its `scheme`
 * axis, in file order), each holding the headline metrics pooled over repetitions with their
 * 95% CI; then rendered as a scorecard per fault-model point, a generated summary (which
 * columns kept 0 wrong answers and >= 99.9% availability, at what price against `none`),
 * charts, and a small TSV file that can be committed and rendered again without a database.
 *
 * A column whose scheme cannot be deployed yet is kept, marked so, never dropped; a cell
 * whose runs failed says how many failed. Rendering (compare_render_*) reads only the table,
 * so a fixture TSV gives the same text on any machine (tests/fixtures/compare). Reads the
 * database only through store.h and results.h; writes only to the FILEs and paths it is
 * given. Main types: struct compare_table, struct compare_cell, struct compare_metric. */
#ifndef SFC_COMPARE_H
#define SFC_COMPARE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct experiment;
struct store;

/* A headline metric: which summary, which of its numbers, and how it is shown. */
struct compare_metric {
    const char *key;            /* In the TSV: "availability", "rtt_p50", ... */
    const char *title;          /* In the scorecard: "availability (%)". */
    const char *summary;        /* The run summary it pools: "availability_ratio". */
    int stat;                   /* COMPARE_MEAN, COMPARE_P50 or COMPARE_P99 of that summary. */
    double scale;               /* Shown value = stored value x scale. */
};
enum { COMPARE_MEAN, COMPARE_P50, COMPARE_P99 };

extern const struct compare_metric compare_metrics[];
extern const size_t compare_n_metrics;

struct compare_cell {
    bool have;                  /* False: no run stored this metric. */
    double mean, ci95;          /* Shown units (scaled); ci95 NaN with one repetition. */
    size_t reps;                /* Repetitions pooled. */
};

/* One (row, column): its runs and one cell per metric of compare_metrics[]. */
struct compare_entry {
    size_t runs, failed;        /* Repetitions of the variant shown: all, and those that
                                 * failed (no run of theirs completed)... */
    size_t infra_failed;        /* ...of which before the scheme was deployed: the host's
                                 * infrastructure did not come up (not the scheme's doing). */
    struct compare_cell *cells;
};

struct compare_table {
    char *experiment;
    char *variant;              /* "full", "quick", ... */
    char *axis;                 /* The column axis: "setup" or "scheme". */
    char **rows;                /* "mtbf=5s", "scenario=spoof-vnf", "" (no other axis). */
    size_t n_rows;
    char **columns;             /* "none", "nham-1R-AA", ... */
    char **schemes;             /* Each column's scheme. */
    char **notes;               /* Each column's note ("not deployable yet") or NULL. */
    size_t n_columns;
    struct compare_entry *entries;      /* [row * n_columns + column]. */
};

/* Builds the table of 'exp' (loaded with the variant's overrides) from the runs in 'store' of
 * variant 'variant' (NULL: that of the newest complete run). ENOENT: no run at all. */
int compare_table_build(struct store *, const struct experiment *, const char *variant,
                        struct compare_table *);
void compare_table_uninit(struct compare_table *);

/* The table as TSV, and back: "# sfclab compare v1" header lines, then one line per cell.
 * compare_table_read() reports "FILE:LINE: message" to 'err' and returns EINVAL on a bad
 * line. */
int compare_table_write(FILE *, const struct compare_table *);
int compare_table_read(FILE *, const char *name, FILE *err, struct compare_table *);

/* A Markdown scorecard per row (one column per scheme set-up), then the summary. */
void compare_render_scorecards(FILE *, const struct compare_table *);
void compare_render_summary(FILE *, const struct compare_table *);

/* Charts into 'dir' (made when missing): a grouped bar chart per metric (groups: rows, bars:
 * columns) and, when the rows are an `mtbf` axis, availability vs MTBF with a line per
 * column. One line per chart to 'log'. Returns 0 or the errno of drawing. */
int compare_draw(FILE *log, const struct compare_table *, const char *dir);

#endif
