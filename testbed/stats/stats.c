#include "testbed/stats/stats.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/util.h"

/* t(0.975, df) for df = 1..30. */
static const double t95_table[] = {
    12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004,
    2.262157, 2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450, 2.119905,
    2.109816, 2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658, 2.063899,
    2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272,
};

double
stats_t95(size_t df)
{
    const double z = 1.959963984540054;
    double z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
    double d = df;

    if (df == 0) {
        return NAN;
    }
    if (df <= ARRAY_SIZE(t95_table)) {
        return t95_table[df - 1];
    }
    /* Cornish-Fisher: error below 1e-5 from df = 31 on (t(31) = 2.039513). */
    return z + (z3 + z) / (4 * d) + (5 * z5 + 16 * z3 + 3 * z) / (96 * d * d)
           + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * d * d * d);
}

double
stats_percentile_sorted(const double *sorted, size_t n, double p)
{
    /* The small epsilon keeps exact products (99/100 * 100) from rounding up a rank. */
    double rank = ceil(p / 100.0 * n - 1e-9);
    size_t i = rank < 1 ? 0 : (size_t) rank - 1;

    return sorted[MIN(i, n - 1)];
}

static int
cmp_double(const void *a_, const void *b_)
{
    double a = *(const double *) a_, b = *(const double *) b_;
    return a < b ? -1 : a > b;
}

int
stats_summarize(const double *values, size_t n, struct stats_summary *out)
{
    double *sorted;
    double mean = 0, m2 = 0;

    if (!n) {
        return EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(values[i])) {
            return EINVAL;
        }
    }
    /* Welford: no catastrophic cancellation with large means (RTTs in ns). */
    for (size_t i = 0; i < n; i++) {
        double delta = values[i] - mean;
        mean += delta / (i + 1);
        m2 += delta * (values[i] - mean);
    }
    sorted = xmalloc(n * sizeof *sorted);
    memcpy(sorted, values, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_double);

    out->n = n;
    out->mean = mean;
    out->sd = n > 1 ? sqrt(m2 / (n - 1)) : NAN;
    out->ci95 = n > 1 ? stats_t95(n - 1) * out->sd / sqrt(n) : NAN;
    out->p50 = stats_percentile_sorted(sorted, n, 50);
    out->p99 = stats_percentile_sorted(sorted, n, 99);
    out->min = sorted[0];
    out->max = sorted[n - 1];
    free(sorted);
    return 0;
}
