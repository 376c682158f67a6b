/* Tests of testbed/plot: every kind writes a real PNG and SVG; bad requests are refused.
 * PLOT_KEEP=DIR keeps the files there, to look at them. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testbed/plot/plot.h"
#include "vnfs/lib/util.h"

static char dir[64];

/* libplot's PNG driver keeps a few blocks per plot (its libpng info struct and some label
 * buffers) past pl_deletepl_r(); they are the library's, not ours. */
const char *__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
    return "leak:libplot.so\nleak:libpng16.so\n";
}

static const struct plot_frame frame = {
    .title = "DNS RTT by scheme", .xlabel = "scheme", .ylabel = "RTT (ms)",
};

static char *
out_path(const char *name)
{
    const char *keep = getenv("PLOT_KEEP");
    return xasprintf("%s/%s", keep ? keep : dir, name);
}

/* A PNG begins with its 8-byte signature and ends with an IEND chunk; an SVG is XML with an
 * <svg> element that is closed. Both must hold more than an empty canvas would. */
static void
check_file(const char *path)
{
    static const unsigned char png_magic[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    char *data;
    size_t len;

    assert_int_equal(read_file(path, &data, &len), 0);
    if (strstr(path, ".png")) {
        assert_true(len > 2000);
        assert_memory_equal(data, png_magic, sizeof png_magic);
        assert_memory_equal(data + len - 8, "IEND", 4);
    } else {
        assert_true(len > 2000);
        assert_non_null(strstr(data, "<svg"));
        assert_non_null(strstr(data, "</svg>"));
    }
    free(data);
    if (!getenv("PLOT_KEEP")) {
        unlink(path);
    }
}

static void
test_bars(void **state)
{
    const struct plot_bar bars[] = {
        { "none", 3.1, 0.2 }, { "fitsfc f=1", 17.9, 0.9 }, { "nham-1r-aa", 4.2, 0.3 },
        { "ftc", 5.0, NAN },
    };
    const char *names[] = { "bars.png", "bars.svg" };

    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char *path = out_path(names[i]);
        assert_int_equal(plot_bars(path, &frame, bars, ARRAY_SIZE(bars)), 0);
        check_file(path);
        free(path);
    }
}

/* A frame bounded to 0..100 (a percentage) keeps a whisker's t-interval from drawing the axis
 * below 0: no tick label of the SVG may be negative, for single and grouped bars alike. */
static void
test_bounded_frame(void **state)
{
    struct plot_frame bounded = frame;
    const struct plot_bar bars[] = { { "nmr", 10.0, 60.0 }, { "none", 50.0, 5.0 } };
    const char *groups[] = { "a" };
    const char *series[] = { "nmr", "none" };
    const double values[] = { 10.0, 50.0 }, ci[] = { 60.0, 5.0 };

    (void) state;
    bounded.bounded = true;
    bounded.y_min = 0;
    bounded.y_max = 100;
    for (int grouped = 0; grouped < 2; grouped++) {
        char *path = out_path(grouped ? "bounded-grouped.svg" : "bounded.svg");
        char *data;
        size_t len;

        assert_int_equal(grouped
                         ? plot_grouped_bars(path, &bounded, groups, 1, series, 2, values, ci)
                         : plot_bars(path, &bounded, bars, ARRAY_SIZE(bars)), 0);
        assert_int_equal(read_file(path, &data, &len), 0);
        assert_null(strstr(data, ">-"));
        assert_non_null(strstr(data, ">0<"));
        free(data);
        check_file(path);
        free(path);
    }
}

/* A group per fault-model point, a bar per scheme; a missing value leaves a gap. */
static void
test_grouped_bars(void **state)
{
    const char *groups[] = { "mtbf=5s", "mtbf=60s" };
    const char *series[] = { "none", "nmr", "fitsfc" };
    const double values[] = { 41.2, 88.4, NAN, 93.0, 99.96, 99.97 };
    const double ci[] = { 9.5, 3.1, NAN, 4.1, NAN, 0.01 };
    const char *names[] = { "grouped.png", "grouped.svg" };

    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char *path = out_path(names[i]);
        assert_int_equal(plot_grouped_bars(path, &frame, groups, 2, series, 3, values, ci), 0);
        check_file(path);
        free(path);
    }
    assert_int_equal(plot_grouped_bars("x.png", &frame, groups, 0, series, 3, values, ci),
                     EINVAL);
}

static void
test_stacked(void **state)
{
    const char *components[] = { "classifier", "SFF", "VNF" };
    const double f0[] = { 0.65, 0.175, 0.175 }, f1[] = { 2.10, 1.60, 1.01 };
    const struct plot_stack stacks[] = { { "f=0", f0 }, { "f=1", f1 } };
    const struct plot_frame split = {
        .title = "Latency split per component (DNS)", .xlabel = "fault tolerance",
        .ylabel = "time (ms)",
    };
    const char *names[] = { "stacked.png", "stacked.svg" };

    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char *path = out_path(names[i]);
        assert_int_equal(plot_stacked_bars(path, &split, components, 3, stacks, 2), 0);
        check_file(path);
        free(path);
    }
}

static void
test_lines(void **state)
{
    const double x[] = { 1, 2, 4, 8 };
    const double none[] = { 0.31, 0.42, 0.66, 1.12 }, none_ci[] = { 0.02, 0.03, 0.04, 0.05 };
    const double ftc[] = { 0.43, 0.60, 0.94, 1.60 }, ftc_ci[] = { 0.03, 0.03, 0.05, 0.09 };
    const struct plot_series series[] = {
        { "none", x, none, none_ci, 4 }, { "ftc", x, ftc, ftc_ci, 4 },
    };
    const struct plot_frame over = {
        .title = "RTT vs chain length", .xlabel = "chain length (VNFs)", .ylabel = "RTT (ms)",
    };
    const char *names[] = { "lines.png", "lines.svg" };

    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char *path = out_path(names[i]);
        assert_int_equal(plot_lines(path, &over, series, ARRAY_SIZE(series)), 0);
        check_file(path);
        free(path);
    }
}

static void
test_timeseries(void **state)
{
    double t[300], thr[300];
    const struct plot_window faults[] = { { 30, 33.5 }, { 60, 60.4 } };
    const struct plot_series series[] = { { "nham-0r", t, thr, NULL, 300 } };
    const struct plot_frame over = {
        .title = "Throughput with a failure every 30 s", .xlabel = "time (s)",
        .ylabel = "throughput (Mbit/s)",
    };
    const char *names[] = { "timeseries.png", "timeseries.svg" };

    for (int i = 0; i < 300; i++) {
        t[i] = i * 0.3;
        thr[i] = 900 + 40 * sin(i / 7.0);
        if ((t[i] >= 30 && t[i] < 33.5) || (t[i] >= 60 && t[i] < 60.4)) {
            thr[i] = 0;
        }
    }
    thr[150] = NAN;             /* A missing interval breaks the line. */
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        char *path = out_path(names[i]);
        assert_int_equal(plot_timeseries(path, &over, series, 1, faults, 2), 0);
        check_file(path);
        free(path);
    }
}

static void
test_refusals(void **state)
{
    const struct plot_bar bar = { "a", 1, 0 };
    const double nan_y[] = { NAN };
    const struct plot_series empty = { "x", nan_y, nan_y, NULL, 1 };
    char *path = out_path("bars.pdf");
    struct stat st;

    assert_int_equal(plot_bars(path, &frame, &bar, 1), EINVAL);
    assert_int_not_equal(stat(path, &st), 0);
    free(path);
    path = out_path("none.png");
    assert_int_equal(plot_bars(path, &frame, &bar, 0), EINVAL);
    assert_int_equal(plot_lines(path, &frame, &empty, 1), EINVAL);
    assert_int_not_equal(stat(path, &st), 0);
    free(path);
    assert_int_equal(plot_bars("/nonexistent-dir/x.png", &frame, &bar, 1), ENOENT);
}

static int
setup(void **state)
{
    strcpy(dir, "/tmp/sfct-store-plot-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
    return rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bars),
        cmocka_unit_test(test_bounded_frame),
        cmocka_unit_test(test_grouped_bars),
        cmocka_unit_test(test_stacked),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_timeseries),
        cmocka_unit_test(test_refusals),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
