/* Tests of what reads results back (testbed/report/results, testbed/plot/figures) on a
 * database made here: the report's "ours" is the pooled stored summary in the reference's
 * unit, a reference's labels and scheme pick its row, quick runs are never pooled with full
 * ones, every answer ratio shows as a number, a stacked plot has one bar per point and
 * scheme, and (golden fixtures of tests/fixtures/report/) a failed shape check is followed by
 * the experiment file's `why` or by "not explained", a passing one never by its `why`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testbed/model/experiment.h"
#include "testbed/plot/figures.h"
#include "testbed/report/results.h"
#include "testbed/store/store.h"
#include "vnfs/lib/util.h"
#include "tests/unit/golden.h"

#define REPORT_FIXTURES "tests/fixtures/report"

/* libplot's PNG driver keeps a few blocks per plot past pl_deletepl_r() (see test_plot.c). */
const char *__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
    return "leak:libplot.so\nleak:libpng16.so\n";
}

static const char experiment_file[] =
    "experiment: t\n"
    "scheme: nmr\n"
    "chain:\n  vnfs: [{fn: fwd}]\n  rules: [\"udp\"]\n"
    "workload: {kind: dns, count: 100}\n"
    "sweep:\n  f: [1, 2]\n"
    "plots:\n  - {kind: stacked, x: f, y: rtt.split}\n"
    "reference:\n"
    "  - {label: \"RTT f=1\", metric: rtt_us, value: 2, unit: ms, where: {f: 1},\n"
    "     source: \"Fig. 5\", derived: \"17.9 x 0.1\"}\n"
    "  - {label: \"VNF hop f=2\", metric: hop_us, value: 50, unit: us, where: {f: 2},\n"
    "     labels: {component: \"vnf[0]\"}, source: \"Fig. 5 split\"}\n"
    "  - {label: \"wrong f=2\", metric: wrong_answer_ratio, value: 0, unit: ratio,\n"
    "     where: {f: 2}, source: \"Fig. 4\"}\n";

struct fixture {
    char dir[64];
    char *path;
    struct store *s;
};

static int
setup(void **state)
{
    struct fixture *f = xzalloc(sizeof *f);

    strcpy(f->dir, "/tmp/sfct-results-XXXXXX");
    if (!mkdtemp(f->dir)) {
        return -1;
    }
    f->path = xasprintf("%s/results.db", f->dir);
    if (store_open(f->path, false, &f->s)) {
        return -1;
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    char *cmd = xasprintf("rm -rf '%s'", f->dir);

    store_close(f->s);
    if (system(cmd)) {
        /* Left in /tmp: harmless. */
    }
    free(cmd);
    free(f->path);
    free(f);
    return 0;
}

static void
summary(struct store *s, int64_t run, const char *metric, const char *labels, uint64_t n,
        double mean)
{
    struct store_summary sum = { n, mean, NAN, mean, mean, mean, mean };

    assert_int_equal(store_summary_put(s, run, metric, labels, &sum), 0);
}

/* A complete run of point f=F in 'variant' with an RTT of 'rtt_us' and hop times. */
static int64_t
add_run(struct fixture *f, int fval, int rep, const char *variant, double rtt_us)
{
    char *point = xasprintf("{\"f\":%d}", fval);
    char *params = xasprintf("{\"variant\":\"%s\"}", variant);
    struct store_run_info info = {
        .experiment = "t", .scheme = "nmr", .point = point, .repetition = rep,
        .params = params, .experiment_file = experiment_file, .host = "{}", .seed = 1,
    };
    int64_t run;

    assert_int_equal(store_run_begin(f->s, &info, &run), 0);
    summary(f->s, run, "rtt_us", "", 100, rtt_us);
    summary(f->s, run, "wrong_answer_ratio", "", 100, 0);
    summary(f->s, run, "hop_us", "{\"component\":\"classifier[0]\"}", 100, 10 + fval);
    summary(f->s, run, "hop_us", "{\"component\":\"sff[0]\"}", 100, 20 + fval);
    summary(f->s, run, "hop_us", "{\"component\":\"vnf[0]\"}", 100, 30 + fval);
    assert_int_equal(store_run_end(f->s, run, STORE_COMPLETE), 0);
    free(point);
    free(params);
    return run;
}

static char *
report_text(struct fixture *f)
{
    char *text = NULL;
    size_t len;
    FILE *out = open_memstream(&text, &len);

    assert_int_equal(results_report(out, f->s, "t"), 0);
    fclose(out);
    return text;
}

static void
test_report_ours_is_the_stored_summary(void **state)
{
    struct fixture *f = *state;
    char *text;

    add_run(f, 2, 0, "full", 1000);
    add_run(f, 1, 0, "full", 3000);
    add_run(f, 1, 1, "full", 5000);     /* Pooled with the one above: (3000 + 5000) / 2. */
    text = report_text(f);
    /* 4000 us in ms, beside the published 2 ms marked derived. */
    assert_non_null(strstr(text, "| RTT f=1 | 2 ms | derived | 4 ms |"));
    /* The labels pick the VNF's hop at f=2, not the classifier's or f=1's. */
    assert_non_null(strstr(text, "| VNF hop f=2 | 50 us | printed | 32 us |"));
    /* A perfect run's wrong-answer ratio is a number, beside the published 0. */
    assert_non_null(strstr(text, "| wrong f=2 | 0 ratio | printed | 0 ratio |"));
    assert_non_null(strstr(text, "Runs shown: 3 complete runs of variant `full`."));
    assert_non_null(strstr(text, "\nShape:\n- "));
    assert_non_null(strstr(text, "- RTT f=1: Fig. 5; derived: 17.9 x 0.1"));
    free(text);
}

static void
test_quick_never_pooled_with_full(void **state)
{
    struct fixture *f = *state;
    char *text;

    add_run(f, 1, 0, "full", 3000);
    add_run(f, 1, 0, "quick", 9000);    /* Newest: the report shows quick runs alone. */
    text = report_text(f);
    assert_non_null(strstr(text, "| RTT f=1 | 2 ms | derived | 9 ms |"));
    assert_non_null(strstr(text, "variant `quick` (the --quick profile"));
    assert_non_null(strstr(text, "Not pooled with them: 1 complete run of other variants "
                                 "(full: 1)."));
    free(text);
}

static void
test_stacked_one_bar_per_point_and_scheme(void **state)
{
    struct fixture *f = *state;
    char *text = NULL;
    size_t len, n_drawn;
    FILE *log;

    add_run(f, 2, 0, "full", 1000);
    add_run(f, 1, 0, "full", 3000);
    log = open_memstream(&text, &len);
    assert_int_equal(figures_draw(log, f->s, "t", f->dir, &n_drawn), 0);
    fclose(log);
    assert_int_equal(n_drawn, 1);
    /* f=1 and f=2 are two bars, never merged into one per scheme. */
    assert_non_null(strstr(text, "stacked hop_us: 2 bars (one per point and scheme): "
                                 "nmr f=2 | nmr f=1; 3 components"));
    assert_non_null(strstr(text, "/plot1-stacked-hop_us.png"));
    free(text);
}

/* Adds the runs of a fixture's NAME.runs to 's': one line per stored summary, "scheme TAB
 * point TAB metric TAB labels TAB n TAB mean" ('#' starts a comment, "-" is no labels), one
 * complete run (variant full) per distinct scheme and point, in order of first appearance. */
static void
add_fixture_runs(struct store *s, const char *runs_path, const char *name, const char *file)
{
    char *text = NULL, *save = NULL;
    int64_t ids[64];
    char *keys[64];
    size_t n_runs = 0;

    assert_int_equal(read_file(runs_path, &text, NULL), 0);
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *f[6], *fs = NULL, *key;
        size_t nf = 0, r;

        if (line[0] == '#' || !line[0]) {
            continue;
        }
        for (char *x = strtok_r(line, "\t", &fs); x && nf < 6; x = strtok_r(NULL, "\t", &fs)) {
            f[nf++] = x;
        }
        assert_int_equal(nf, 6);
        key = xasprintf("%s %s", f[0], f[1]);
        for (r = 0; r < n_runs && strcmp(keys[r], key); r++) {
            continue;
        }
        if (r == n_runs) {
            struct store_run_info info = {
                .experiment = name, .scheme = f[0], .point = f[1], .repetition = 0,
                .params = "{\"variant\":\"full\"}", .experiment_file = file, .host = "{}",
                .seed = 1,
            };
            assert_true(n_runs < ARRAY_SIZE(ids));
            assert_int_equal(store_run_begin(s, &info, &ids[n_runs]), 0);
            keys[n_runs++] = key;
        } else {
            free(key);
        }
        summary(s, ids[r], f[2], strcmp(f[3], "-") ? f[3] : "", strtoull(f[4], NULL, 10),
                strtod(f[5], NULL));
    }
    for (size_t r = 0; r < n_runs; r++) {
        assert_int_equal(store_run_end(s, ids[r], STORE_COMPLETE), 0);
        free(keys[r]);
    }
    free(text);
}

/* The report of fixture 'path' (an experiment file) over the runs of its .runs file. */
static char *
report_fixture_output(const char *path, bool *validp)
{
    char dir[] = "/tmp/sfct-report-XXXXXX";
    char *file = NULL, *runs_path, *db, *text = NULL, *cmd;
    struct experiment *e = NULL;
    struct store *s = NULL;
    struct diag diag;
    size_t len;
    FILE *out;

    assert_int_equal(read_file(path, &file, NULL), 0);
    diag_init(&diag);
    /* The fixture must be a valid experiment file: the report reads it back as recorded. */
    if (experiment_load_string(path, file, strlen(file), &diag, &e)) {
        diag_print(&diag, stderr);
        fail_msg("%s does not load", path);
    }
    diag_uninit(&diag);
    assert_non_null(mkdtemp(dir));
    db = xasprintf("%s/results.db", dir);
    assert_int_equal(store_open(db, false, &s), 0);
    runs_path = xasprintf("%.*s.runs", (int) (strlen(path) - 5), path);
    add_fixture_runs(s, runs_path, e->name, file);
    out = open_memstream(&text, &len);
    *validp = !results_report(out, s, e->name);
    fclose(out);
    store_close(s);
    cmd = xasprintf("rm -rf '%s'", dir);
    if (system(cmd)) {
        /* Left in /tmp: harmless. */
    }
    free(cmd);
    free(runs_path);
    free(db);
    experiment_free(e);
    free(file);
    return text;
}

static void
test_report_fixtures(void **state)
{
    size_t n_valid, n_invalid;

    (void) state;
    golden_run(REPORT_FIXTURES, report_fixture_output, false, &n_valid, &n_invalid);
    assert_int_equal(n_invalid, 0);
    assert_true(n_valid >= 3);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_report_ours_is_the_stored_summary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quick_never_pooled_with_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stacked_one_bar_per_point_and_scheme, setup,
                                        teardown),
        cmocka_unit_test(test_report_fixtures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
