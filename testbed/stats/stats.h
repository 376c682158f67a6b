/* stats — descriptive statistics of a sample: n, mean, 95% confidence interval, percentiles.
 *
 * Definitions (what every table and plot of sfclab means by these words):
 *  - mean: arithmetic mean; sd: sample standard deviation (n - 1 in the denominator).
 *  - ci95: half-width of the two-sided 95% confidence interval of the mean, t * sd / sqrt(n),
 *    with Student's t quantile for n - 1 degrees of freedom (exact table up to 30, then a
 *    Cornish-Fisher expansion that tends to the normal 1.95996 as n grows). NaN when n < 2.
 *  - percentiles: nearest rank. pP is the smallest sample x such that at least P% of the
 *    samples are <= x, i.e. the ceil(P/100 * n)-th smallest: always a value that was observed
 *    (p99 of 100 samples is the 99th smallest, p50 of 4 samples the 2nd).
 *
 * Pure functions: no I/O, no global state; inputs are never modified (a sorted copy is made).
 * Main type: struct stats_summary. */
#ifndef SFC_STATS_H
#define SFC_STATS_H 1

#include <stddef.h>

struct stats_summary {
    size_t n;
    double mean;
    double sd;
    double ci95;                /* Half-width; NaN when n < 2. */
    double p50, p99;
    double min, max;
};

/* Summarises 'n' values. EINVAL when n is 0 or a value is not finite. */
int stats_summarize(const double *values, size_t n, struct stats_summary *);

/* The nearest-rank 'p'-th percentile (0 < p <= 100) of 'n' sorted values (n > 0). */
double stats_percentile_sorted(const double *sorted, size_t n, double p);

/* Student's t quantile for a two-sided 95% interval with 'df' degrees of freedom (df >= 1). */
double stats_t95(size_t df);

#endif
