/* Tests of testbed/report: the shape comparison finds what differs, and units convert. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/report/report.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

static char *
notes_of(const struct report_table *t, struct report_shape *shape)
{
    struct buf notes = BUF_INITIALIZER;

    report_shape(t, shape, &notes);
    buf_put_u8(&notes, 0);
    return (char *) buf_steal(&notes, NULL);
}

/* NHAM N10-like: recovery times, lower is better; ours agree on order and trend. */
static void
test_shape_matches(void **state)
{
    const struct report_row rows[] = {
        { "0R, len=1", "0R", 3.6, 2.9, 0.1, "s", NULL, false, { 0 }, NULL },
        { "0R, len=8", "0R", 3.6, 3.0, 0.1, "s", NULL, false, { 0 }, NULL },
        { "1R-AA, len=1", "1R-AA", 0.05, 0.04, NAN, "s", NULL, false, { 0 }, NULL },
        { "1R-AA, len=8", "1R-AA", 0.05, 0.041, NAN, "s", NULL, false, { 0 }, NULL },
    };
    const struct report_table t = { "N10", "recovery", false, rows, ARRAY_SIZE(rows) };
    struct report_shape shape;
    char *notes = notes_of(&t, &shape);

    assert_int_equal(shape.compared, 4);
    assert_string_equal(shape.best_published, "1R-AA, len=1");
    assert_string_equal(shape.best_measured, "1R-AA, len=1");
    assert_int_equal(shape.inversions, 0);
    assert_int_equal(shape.pairs, 4);   /* 0R vs 1R-AA pairs; within-scheme pairs are ties. */
    assert_int_equal(shape.groups, 2);
    assert_int_equal(shape.trends_differ, 0);
    assert_non_null(strstr(notes, "ordering matches"));
    assert_null(strstr(notes, "differs"));
    free(notes);
}

/* Ours has the schemes the other way round and a rising trend where the paper is flat. */
static void
test_shape_differs(void **state)
{
    const struct report_row rows[] = {
        { "A, len=1", "A", 10, 30, NAN, "ms", NULL, false, { 0 }, NULL },
        { "A, len=4", "A", 10.5, 60, NAN, "ms", NULL, false, { 0 }, NULL },
        { "B, len=1", "B", 20, 15, NAN, "ms", NULL, false, { 0 }, NULL },
        { "B, len=4", "B", 40, 28, NAN, "ms", NULL, false, { 0 }, NULL },
        { "C", NULL, 5, NAN, NAN, "ms", NULL, false, { 0 }, NULL },
    };
    const struct report_table t = { "X1", "rtt", false, rows, ARRAY_SIZE(rows) };
    struct report_shape shape;
    char *notes = notes_of(&t, &shape);

    assert_int_equal(shape.compared, 4);
    assert_string_equal(shape.best_published, "A, len=1");
    assert_string_equal(shape.best_measured, "B, len=1");
    assert_true(shape.inversions >= 2);
    assert_int_equal(shape.groups, 2);
    assert_int_equal(shape.trends_differ, 1);
    assert_non_null(strstr(notes, "best differs"));
    assert_non_null(strstr(notes, "A: trend differs**: published stays flat, ours rises"));
    assert_non_null(strstr(notes, "B: trend matches (rises"));
    free(notes);
}

static void
test_markdown(void **state)
{
    const struct report_row rows[] = {
        { "none", NULL, 977, 950, 12, "Mbps", NULL, false, { 0 }, NULL },
        { "MR-AA", NULL, 841, NAN, NAN, "Mbps", "874 - 33", false, { 0 }, NULL },
    };
    const struct report_table t = { "N14", "throughput", true, rows, ARRAY_SIZE(rows) };
    char *text = NULL;
    size_t len;
    FILE *f = open_memstream(&text, &len);

    report_write_markdown(f, &t, 1);
    fclose(f);
    assert_non_null(strstr(text, "## N14 — throughput\n"));
    assert_non_null(strstr(text, "| none | 977 Mbps | printed | 950 Mbps | 12 | 0.97 |\n"));
    assert_non_null(strstr(text, "| MR-AA | 841 Mbps | derived | — | — | — |\n"));
    free(text);
}

/* FIT-SFC Fig. 4-like: a failed order check is followed by its why; a share's value that fails
 * without one says so; a passing check's why is never printed, and no why changes a verdict. */
static void
test_shape_why(void **state)
{
    const struct report_row rows[] = {
        { "A", NULL, 17.9, 1.17, NAN, "ms", NULL, false, { 0 }, NULL },
        { "D", NULL, 15.9, 2.03, NAN, "ms", NULL, false,
          { .order = "waits for the slowest copy", .best = "waits for the slowest copy",
            .value = "NEVER: a time's value is no check" }, NULL },
    };
    const struct report_row shares[] = {
        { "SC", NULL, 65, 32.3, NAN, "%", NULL, true, { .value = "C, not Python" }, NULL },
        { "SFF", NULL, 17.5, 33.2, NAN, "%", NULL, true, { 0 }, NULL },
        { "VNF", NULL, 34, 34.5, NAN, "%", NULL, true, { .value = "NEVER: it matches" }, NULL },
    };
    const struct report_table t = { "F4", "rtt", false, rows, ARRAY_SIZE(rows) };
    const struct report_table ts = { "F5", "shares", true, shares, ARRAY_SIZE(shares) };
    struct report_shape shape;
    char *notes = notes_of(&t, &shape), *at;

    (void) state;
    assert_int_equal(shape.inversions, 1);
    assert_int_equal(shape.failed, 2);          /* The best and the order. */
    assert_int_equal(shape.explained, 2);
    at = strstr(notes, "- **order differs**: published A > D (17.9 > 15.9 ms), ours A < D "
                       "(1.17 < 2.03 ms)\n  - why (experiment file): waits for the slowest copy\n");
    assert_non_null(at);
    assert_non_null(strstr(notes, "- **best differs**: published lowest is D (15.9 ms), ours is "
                                  "A (1.17 ms)\n  - why (experiment file): waits"));
    assert_null(strstr(notes, "NEVER"));
    assert_non_null(strstr(notes, "- 2 of 2 shape checks differ from the paper: 2 explained by "
                                  "the experiment file, 0 not\n"));
    free(notes);

    notes = notes_of(&ts, &shape);
    assert_int_equal(shape.values, 3);
    assert_int_equal(shape.values_differ, 2);
    assert_non_null(strstr(notes, "- **SC: value differs**: ours 32.3 %, published 65 %\n"
                                  "  - why (experiment file): C, not Python\n"));
    assert_non_null(strstr(notes, "- **SFF: value differs**: ours 33.2 %, published 17.5 %\n"
                                  "  - why: not explained"));
    assert_non_null(strstr(notes, "- VNF: ours is within 10% of the published value"));
    assert_null(strstr(notes, "NEVER"));
    assert_null(strstr(notes, "beats"));        /* A smaller share is not better. */
    free(notes);
}

/* FIT-SFC Fig. 5-like: a row's 'ratio_to' is a check of its own, ours this/that against the
 * published this/that, within REPORT_FLAT; a failed ratio prints its why, a passing one never;
 * a ratio whose rows lack a number or are not in the table is said and not counted. */
static void
test_shape_ratio(void **state)
{
    const struct report_row rows[] = {
        { "f=0", NULL, 3.74, 0.91, NAN, "ms", NULL, false, { 0 }, NULL },
        { "f=1", NULL, 17.9, 1.18, NAN, "ms", NULL, false,
          { .ratio = "C, not Python", .order = "NEVER: the order matches" }, "f=0" },
        { "f=2", NULL, 30, 1.98, NAN, "ms", NULL, false, { .ratio = "NEVER: it matches" },
          "f=1" },
        { "f=3", NULL, 40, NAN, NAN, "ms", NULL, false, { 0 }, "f=0" },
        { "f=4", NULL, 50, NAN, NAN, "ms", NULL, false, { 0 }, "f=9" },
    };
    const struct report_table t = { "F5", "rtt", false, rows, ARRAY_SIZE(rows) };
    struct report_shape shape;
    char *notes = notes_of(&t, &shape);

    (void) state;
    assert_int_equal(shape.ratios, 2);
    assert_int_equal(shape.ratios_differ, 1);
    assert_int_equal(shape.pairs, 3);
    assert_int_equal(shape.inversions, 0);
    assert_int_equal(shape.checks, 6);          /* 2 ratios, the best, 3 pairs. */
    assert_int_equal(shape.failed, 1);
    assert_int_equal(shape.explained, 1);
    assert_non_null(strstr(notes, "- **ratio differs**: f=1 / f=0 is 1.3x in ours, 4.79x "
                                  "published\n  - why (experiment file): C, not Python\n"));
    assert_non_null(strstr(notes, "- ratio f=2 / f=1: ours is within 10% of the published ratio "
                                  "(1.68x vs 1.68x)\n"));
    assert_non_null(strstr(notes, "- ratio f=3 / f=0: not compared (a row without both "
                                  "numbers)\n"));
    assert_non_null(strstr(notes, "- ratio f=4 / f=9: not compared (no such row in the runs "
                                  "shown)\n"));
    assert_non_null(strstr(notes, "- 1 of 6 shape checks differ from the paper: 1 explained by "
                                  "the experiment file, 0 not\n"));
    assert_null(strstr(notes, "NEVER"));
    free(notes);
}

static void
test_units(void **state)
{
    double v = 0;

    assert_true(report_convert(1500, "us", "ms", &v));
    assert_true(fabs(v - 1.5) < 1e-12);
    assert_true(report_convert(0.99999, "ratio", "%", &v));
    assert_true(fabs(v - 99.999) < 1e-9);
    assert_true(report_convert(2, "min", "s", &v));
    assert_true(v == 120);
    assert_true(report_convert(7, "", "", &v) && v == 7);
    v = -1;
    assert_false(report_convert(1, "ms", "%", &v));
    assert_false(report_convert(1, "furlong", "s", &v));
    assert_true(v == -1);
    assert_string_equal(report_metric_unit("rtt_us"), "us");
    assert_string_equal(report_metric_unit("recovery_s"), "s");
    assert_string_equal(report_metric_unit("probe_ok"), "");
    assert_string_equal(report_metric_unit("rtt"), "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shape_matches),
        cmocka_unit_test(test_shape_differs),
        cmocka_unit_test(test_markdown),
        cmocka_unit_test(test_shape_why),
        cmocka_unit_test(test_shape_ratio),
        cmocka_unit_test(test_units),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
