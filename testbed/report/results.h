/* results — an experiment's numbers read back from the results database, for `sfclab report`,
 * `plot` and `compare`: which runs are shown, how their repetitions are pooled, and the report
 * that sets them beside the published values.
 *
 * One rule everywhere: only complete runs of one variant (store_run_variant(): a --quick run
 * is never pooled with a full one), and repetitions of one point pooled by results_pool().
 * The published values are those of the experiment file recorded with the newest run shown,
 * matched to runs by their scheme, labels and `where`, never by position.
 *
 * Reads the database only; writes only to the FILE it is given. Main types: struct
 * results_runs, struct results_pooled. */
#ifndef SFC_RESULTS_H
#define SFC_RESULTS_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct json_t;
struct store;
struct store_run;
struct store_summary;

/* Repetitions pooled: the mean of their means weighted by sample count; the CI over the
 * repetitions' means when there are two or more, else the one run's own CI. */
struct results_pooled {
    double mean, ci95;
    size_t reps;
    uint64_t n;
};

/* False (and 'p' untouched) when no summary has a finite mean. */
bool results_pool(const struct store_summary *, size_t n, struct results_pooled *p);

/* The complete runs of an experiment in one variant. */
struct results_runs {
    struct store_run *runs;
    size_t n;
    char *variant;              /* The variant shown ("full", "quick", ...), or NULL: none. */
    size_t n_other;             /* Complete runs of other variants, not shown. */
    char *others;               /* Their variants, "quick: 2, full: 1", or NULL. */
};

/* Loads the complete runs of 'experiment' in 'variant', or (NULL) in the variant of the newest
 * complete run. */
int results_runs_load(struct store *, const char *experiment, const char *variant,
                      struct results_runs *);
void results_runs_uninit(struct results_runs *);
/* One line saying which runs are shown and which are not. */
void results_runs_describe(FILE *, const struct results_runs *);

/* The pooled summary of (metric, labels) over the runs with this scheme and point (NULL:
 * any). */
bool results_pool_runs(struct store *, const struct results_runs *, const char *metric,
                       const char *labels, const char *scheme, const char *point,
                       struct results_pooled *);

/* The Markdown report of an experiment: which runs it shows, the published values beside
 * ours (each marked printed or derived, with its source), the shape, and every measurement.
 * Returns 0, or ENOENT when the experiment has no complete run. */
int results_report(FILE *, struct store *, const char *experiment);

/* One line per run of 'runs' (`sfclab runs`): id, experiment, scheme, point, repetition,
 * status, when it started (local time) and how many samples it holds, under a header. */
void results_list_runs(FILE *, const struct store_run *runs, size_t n);

/* The Markdown report of one run: what it was, every summary, its fault episodes and the
 * availability of its probe stream. */
void results_report_run(FILE *, struct store *, const struct store_run *);

/* Whether a run's point (its JSON object) holds axis 'key' with the value written 'value' (a
 * number matches its value written any way: "1" and "1.0"). What report and compare match
 * runs to a point or a published value with. */
bool results_point_has(struct json_t *point, const char *key, const char *value);

#endif
