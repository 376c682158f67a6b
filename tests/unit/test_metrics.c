/* Golden tests of testbed/stats over hand-made histories in tests/fixtures/metrics/.
 *
 * Each <case>.hist is a history in a line format (window, hold, interval, probe, event, sample;
 * see the files); every metric it allows is computed and printed, and the text must equal
 * <case>.expected, whose numbers were worked out by hand (the .hist comments show how).
 * REGENERATE=1 rewrites the .expected files from the code, for review with git diff. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/stats/metrics.h"
#include "testbed/stats/stats.h"
#include "tests/unit/golden.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

struct series {
    char *metric;
    struct metrics_point *pts;
    size_t n, cap;
};

struct history {
    int64_t t0, t1, hold, interval;
    bool has_window;
    struct metrics_probe *probes;
    size_t n_probes, cap_probes;
    struct metrics_event *events;
    size_t n_events, cap_events;
    struct series *series;
    size_t n_series, cap_series;
};

static struct series *
history_series(struct history *h, const char *metric)
{
    for (size_t i = 0; i < h->n_series; i++) {
        if (!strcmp(h->series[i].metric, metric)) {
            return &h->series[i];
        }
    }
    return NULL;
}

static void
history_parse(const char *path, struct history *h)
{
    FILE *f = fopen(path, "r");
    char line[512], a[128], b[128];
    long long t, u;
    double v;
    int lineno = 0;

    if (!f) {
        fail_msg("%s: %s", path, strerror(errno));
    }
    memset(h, 0, sizeof *h);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        if (sscanf(line, "window %lld %lld", &t, &u) == 2) {
            h->t0 = t;
            h->t1 = u;
            h->has_window = true;
        } else if (sscanf(line, "hold %lld", &t) == 1) {
            h->hold = t;
        } else if (sscanf(line, "interval %lld", &t) == 1) {
            h->interval = t;
        } else if (sscanf(line, "probe %lld %127s", &t, a) == 2) {
            if (h->n_probes >= h->cap_probes) {
                h->probes = x2nrealloc(h->probes, &h->cap_probes, sizeof *h->probes);
            }
            h->probes[h->n_probes++] = (struct metrics_probe) { t, !strcmp(a, "ok") };
        } else if (sscanf(line, "event %lld %127s %127s", &t, a, b) == 3) {
            if (h->n_events >= h->cap_events) {
                h->events = x2nrealloc(h->events, &h->cap_events, sizeof *h->events);
            }
            h->events[h->n_events++] = (struct metrics_event) { t, xstrdup(a), xstrdup(b) };
        } else if (sscanf(line, "sample %127s %lld %lf", a, &t, &v) == 3) {
            struct series *s = history_series(h, a);
            if (!s) {
                if (h->n_series >= h->cap_series) {
                    h->series = x2nrealloc(h->series, &h->cap_series, sizeof *h->series);
                }
                s = &h->series[h->n_series++];
                memset(s, 0, sizeof *s);
                s->metric = xstrdup(a);
            }
            if (s->n >= s->cap) {
                s->pts = x2nrealloc(s->pts, &s->cap, sizeof *s->pts);
            }
            s->pts[s->n++] = (struct metrics_point) { t, v };
        } else {
            fail_msg("%s:%d: cannot parse: %s", path, lineno, line);
        }
    }
    fclose(f);
}

static void
history_free(struct history *h)
{
    for (size_t i = 0; i < h->n_events; i++) {
        free((char *) h->events[i].kind);
        free((char *) h->events[i].target);
    }
    for (size_t i = 0; i < h->n_series; i++) {
        free(h->series[i].metric);
        free(h->series[i].pts);
    }
    free(h->probes);
    free(h->events);
    free(h->series);
}

static int
cmp_series(const void *a_, const void *b_)
{
    const struct series *a = a_, *b = b_;
    return strcmp(a->metric, b->metric);
}

static bool
is_resource(const char *metric)
{
    return !strcmp(metric, "cpu_usage_usec") || !strcmp(metric, "memory_current");
}

static bool
is_counter(const char *metric)
{
    return !strcmp(metric, "rx_bytes") || !strcmp(metric, "rx_packets");
}

/* Everything the history allows, one line per result, in a fixed order. */
static void
history_compute(struct history *h, struct buf *out)
{
    struct series *cpu, *mem;

    if (h->n_series) {
        qsort(h->series, h->n_series, sizeof *h->series, cmp_series);
    }
    for (size_t i = 0; i < h->n_series; i++) {
        struct series *s = &h->series[i];
        struct stats_summary sum;
        double *values;

        if (is_resource(s->metric) || is_counter(s->metric)) {
            continue;
        }
        values = xmalloc(s->n * sizeof *values);
        for (size_t j = 0; j < s->n; j++) {
            values[j] = s->pts[j].value;
        }
        assert_int_equal(stats_summarize(values, s->n, &sum), 0);
        free(values);
        buf_printf(out, "summary %s n=%zu mean=%f sd=%f ci95=%f p50=%f p99=%f min=%f max=%f\n",
                   s->metric, sum.n, sum.mean, sum.sd, sum.ci95, sum.p50, sum.p99, sum.min,
                   sum.max);
    }
    if (h->n_probes) {
        struct metrics_availability a;

        assert_true(h->has_window);
        assert_int_equal(metrics_availability(h->probes, h->n_probes, h->t0, h->t1, h->hold, &a),
                         0);
        buf_printf(out, "availability ratio=%f up_ns=%" PRId64 " total_ns=%" PRId64
                   " uncovered_ns=%" PRId64 " outages=%zu longest_outage_ns=%" PRId64 "\n",
                   a.ratio, a.up_ns, a.total_ns, a.uncovered_ns, a.outages,
                   a.longest_outage_ns);
    }
    if (h->n_events) {
        struct metrics_recovery *eps;
        size_t n;

        assert_int_equal(metrics_recovery(h->events, h->n_events, &eps, &n), 0);
        for (size_t i = 0; i < n; i++) {
            buf_printf(out, "recovery %s injected=%" PRId64 " suspected=%" PRId64
                       " recovered=%" PRId64 " detect=%" PRId64 " repair=%" PRId64
                       " total=%" PRId64 "\n", eps[i].target, eps[i].injected_ns,
                       eps[i].suspected_ns, eps[i].recovered_ns, eps[i].detect_ns,
                       eps[i].repair_ns, eps[i].total_ns);
        }
        free(eps);
    }
    cpu = history_series(h, "cpu_usage_usec");
    mem = history_series(h, "memory_current");
    if (cpu || mem) {
        struct metrics_resource r;

        assert_int_equal(metrics_resource(cpu ? cpu->pts : NULL, cpu ? cpu->n : 0,
                                          mem ? mem->pts : NULL, mem ? mem->n : 0, &r), 0);
        buf_printf(out, "resource mean_cpu_pct=%f peak_cpu_pct=%f mean_mem_bytes=%f "
                   "peak_mem_bytes=%f\n", r.mean_cpu_pct, r.peak_cpu_pct, r.mean_mem_bytes,
                   r.peak_mem_bytes);
    }
    for (size_t i = 0; i < h->n_series; i++) {
        struct series *s = &h->series[i];
        double *rates;
        size_t n;

        if (!is_counter(s->metric)) {
            continue;
        }
        assert_true(h->has_window && h->interval > 0);
        assert_int_equal(metrics_throughput(s->pts, s->n, h->t0, h->t1, h->interval,
                                            &rates, &n), 0);
        buf_printf(out, "throughput %s intervals=%zu", s->metric, n);
        for (size_t j = 0; j < n; j++) {
            buf_printf(out, " %f", rates[j]);
        }
        buf_printf(out, "\n");
        free(rates);
    }
}

static void
run_golden(const char *name)
{
    const char *dir = getenv("SFC_FIXTURES") ? getenv("SFC_FIXTURES") : "tests/fixtures";
    char *hist = xasprintf("%s/metrics/%s.hist", dir, name);
    char *expected_path = xasprintf("%s/metrics/%s.expected", dir, name);
    struct buf out = BUF_INITIALIZER;
    struct history h;

    history_parse(hist, &h);
    history_compute(&h, &out);
    buf_put_u8(&out, 0);
    assert_true(golden_check(hist, expected_path, (char *) out.data));
    buf_uninit(&out);
    history_free(&h);
    free(hist);
    free(expected_path);
}

static void
test_golden_ci_known(void **state)
{
    run_golden("ci-known");
}

static void
test_golden_availability_gaps(void **state)
{
    run_golden("availability-gaps");
}

static void
test_golden_availability_late_start(void **state)
{
    run_golden("availability-late-start");
}

static void
test_golden_recovery_events(void **state)
{
    run_golden("recovery-events");
}

/* 'steered' and 'resumed' are timed from the suspicion, never below 0 (a switch that moved
 * the traffic before the suspicion took no time after it), and only within their episode. */
static void
test_recovery_steer_resume(void **state)
{
    (void) state;
    const struct metrics_event ev[] = {
        { 1000, "fault-injected", "vnf[0]" }, { 1400, "suspected", "vnf[0]" },
        { 1650, "steered", "vnf[0]" }, { 3000, "recovered", "vnf[0]" },
        { 4000, "resumed", "vnf[0]" }, { 5000, "steered", "vnf[0]" },
        { 9000, "fault-injected", "vnf[0]" }, { 9100, "steered", "vnf[0]" },
        { 9500, "suspected", "vnf[0]" }, { 9900, "recovered", "vnf[0]" },
        { 9950, "resumed", "vnf[1]" },
    };
    struct metrics_recovery *eps;
    size_t n;

    assert_int_equal(metrics_recovery(ev, ARRAY_SIZE(ev), &eps, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(eps[0].repair_ns, 1600);
    assert_int_equal(eps[0].steered_ns, 1650);
    assert_int_equal(eps[0].steer_ns, 250);
    assert_int_equal(eps[0].resume_ns, 2600);
    assert_int_equal(eps[1].steered_ns, 9100);
    assert_int_equal(eps[1].steer_ns, 0);
    assert_int_equal(eps[1].resumed_ns, -1);     /* Another target's. */
    assert_int_equal(eps[1].resume_ns, -1);
    free(eps);
}

/* A standby's crash: suspected, recovered (a standby again) within 30; the copy fails later as
 * the active one (the fault aimed at the VNF's own name), steered and resumed then: those
 * steps are that failure's, not the standby's (they gave it a steer time of seconds). */
static void
test_recovery_ends_at_next_failure(void **state)
{
    (void) state;
    const struct metrics_event ev[] = {
        { 1000, "fault-injected", "vnf[0].replica[1]" },
        { 1001, "suspected", "vnf[0].replica[1]" }, { 1030, "recovered", "vnf[0].replica[1]" },
        { 5000, "fault-injected", "vnf[0]" }, { 5001, "suspected", "vnf[0].replica[1]" },
        { 5002, "steered", "vnf[0].replica[1]" }, { 5010, "recovered", "vnf[0].replica[1]" },
        { 5015, "resumed", "vnf[0].replica[1]" },
    };
    struct metrics_recovery *eps;
    size_t n;

    assert_int_equal(metrics_recovery(ev, ARRAY_SIZE(ev), &eps, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(eps[0].total_ns, 30);
    assert_int_equal(eps[0].steered_ns, -1);
    assert_int_equal(eps[0].steer_ns, -1);
    assert_int_equal(eps[0].resumed_ns, -1);
    free(eps);
}

static void
test_golden_throughput_resources(void **state)
{
    run_golden("throughput-resources");
}

/* Nearest rank never interpolates: p50 of {1,2,3,4} is 2, not 2.5. */
static void
test_percentile_definition(void **state)
{
    const double four[] = { 1, 2, 3, 4 };
    double hundred[100];

    assert_true(stats_percentile_sorted(four, 4, 50) == 2);
    assert_true(stats_percentile_sorted(four, 4, 51) == 3);
    assert_true(stats_percentile_sorted(four, 4, 99) == 4);
    assert_true(stats_percentile_sorted(four, 4, 100) == 4);
    assert_true(stats_percentile_sorted(four, 1, 99) == 1);
    for (int i = 0; i < 100; i++) {
        hundred[i] = i + 1;
    }
    assert_true(stats_percentile_sorted(hundred, 100, 99) == 99);
    assert_true(stats_percentile_sorted(hundred, 100, 99.5) == 100);
    assert_true(stats_percentile_sorted(hundred, 100, 1) == 1);
}

/* The t quantile joins its table smoothly and tends to the normal one. */
static void
test_t95(void **state)
{
    assert_true(fabs(stats_t95(30) - 2.042272) < 1e-6);
    assert_true(fabs(stats_t95(31) - 2.039513) < 1e-5);
    assert_true(fabs(stats_t95(60) - 2.000298) < 1e-5);
    assert_true(fabs(stats_t95(120) - 1.979930) < 1e-5);
    assert_true(fabs(stats_t95(100000) - 1.959964) < 1e-4);
    assert_true(isnan(stats_t95(0)));
    for (size_t df = 1; df < 200; df++) {
        assert_true(stats_t95(df + 1) < stats_t95(df));
    }
}

static void
test_bad_input(void **state)
{
    const double with_nan[] = { 1, NAN };
    struct stats_summary sum = { .n = 77 };
    struct metrics_availability a = { .outages = 77 };
    struct metrics_resource r = { .peak_cpu_pct = 77 };
    double *rates = NULL;
    size_t n = 77;

    assert_int_equal(stats_summarize(with_nan, 0, &sum), EINVAL);
    assert_int_equal(stats_summarize(with_nan, 2, &sum), EINVAL);
    assert_int_equal(sum.n, 77);
    assert_int_equal(metrics_availability(NULL, 0, 10, 10, 0, &a), EINVAL);
    assert_int_equal(a.outages, 77);
    assert_int_equal(metrics_throughput(NULL, 0, 0, 10, 0, &rates, &n), EINVAL);
    assert_int_equal(n, 77);
    assert_null(rates);
    assert_int_equal(metrics_resource(NULL, 0, NULL, 0, &r), EINVAL);
    assert_true(r.peak_cpu_pct == 77);

    /* No probe at all: nothing shows the service up. */
    assert_int_equal(metrics_availability(NULL, 0, 0, 10, 0, &a), 0);
    assert_true(a.ratio == 0 && a.outages == 1 && a.uncovered_ns == 10);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_ci_known),
        cmocka_unit_test(test_golden_availability_gaps),
        cmocka_unit_test(test_golden_availability_late_start),
        cmocka_unit_test(test_golden_recovery_events),
        cmocka_unit_test(test_recovery_steer_resume),
        cmocka_unit_test(test_recovery_ends_at_next_failure),
        cmocka_unit_test(test_golden_throughput_resources),
        cmocka_unit_test(test_percentile_definition),
        cmocka_unit_test(test_t95),
        cmocka_unit_test(test_bad_input),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
