/* Tests of the comparison of schemes (testbed/report/compare): the scorecards and summary that
 * `sfclab compare --from` renders from the golden fixtures of tests/fixtures/compare/ (a .tsv
 * table, its .expected text; REGENERATE=1 rewrites them for review), bad tables refused at
 * their line, and a table built from a database made here: repetitions pooled with a CI, a
 * failed run counted and not pooled (a repetition run again after it counts once), percentiles pooled per repetition, a set-up whose scheme
 * cannot be deployed kept as a column, and the TSV written and read back rendering the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testbed/model/experiment.h"
#include "testbed/report/compare.h"
#include "testbed/schemes/scheme.h"
#include "testbed/store/store.h"
#include "tests/unit/golden.h"
#include "vnfs/lib/util.h"

#define FIXTURES "tests/fixtures/compare"

/* What 'path' renders to: the scorecards and summary, or the reader's complaint. */
static char *
render_file(const char *path)
{
    struct compare_table t;
    char *text = NULL;
    size_t len;
    FILE *out = open_memstream(&text, &len);
    FILE *in = fopen(path, "r");

    assert_non_null(in);
    if (!compare_table_read(in, path, out, &t)) {
        compare_render_scorecards(out, &t);
        compare_render_summary(out, &t);
        compare_table_uninit(&t);
    }
    fclose(in);
    fclose(out);
    return text;
}

static void
test_fixtures(void **state)
{
    size_t n_failed = 0;
    glob_t g;

    assert_int_equal(glob(FIXTURES "/*.tsv", 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 3);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *path = g.gl_pathv[i];
        char *expected_path = xasprintf("%.*s.expected", (int) (strlen(path) - 4), path);
        char *actual = render_file(path);

        n_failed += !golden_check(path, expected_path, actual);
        free(actual);
        free(expected_path);
    }
    globfree(&g);
    assert_int_equal(n_failed, 0);
}

/* The summary's verdicts follow the numbers, not the column names: a fixture where the
 * intrusion-tolerant column accepted forgeries says so. */
static void
test_summary_follows_numbers(void **state)
{
    char *text = render_file(FIXTURES "/intrusion.tsv");

    assert_non_null(strstr(text, "- **scenario=spoof-vnf**: correct: `nmr`, `fitsfc`;"));
    assert_non_null(strstr(text, "- **scenario=flip-sff**: correct: `fitsfc`;"));
    free(text);
}

/* A database made here. */
static const char experiment_yaml[] =
    "experiment: cmp\n"
    "chain:\n  vnfs: [{fn: dns}]\n  rules: [\"udp,dport=53\"]\n"
    "workload: {kind: probe, duration: 2s}\n"
    "faults:\n  - {kind: crash, target: \"random(vnf)\", mtbf: 10s}\n"
    "setups:\n"
    "  plain: {scheme: none}\n"
    "  voted: {scheme: nmr, params: {f: 1}}\n"
    "  later: {scheme: ftvnf}\n"
    "sweep:\n  setup: [plain, voted, later]\n  mtbf: [5s, 20s]\n";

static int64_t
add_run(struct store *s, const char *setup, const char *scheme, const char *mtbf, int rep,
        enum store_status status, double avail, double p50_us)
{
    char *point = xasprintf("{\"mtbf\":\"%s\",\"setup\":\"%s\"}", mtbf, setup);
    struct store_run_info info = {
        .experiment = "cmp", .scheme = scheme, .point = point, .repetition = rep,
        .params = "{\"variant\":\"quick\"}", .experiment_file = experiment_yaml,
        .host = "{}", .seed = 1,
    };
    struct store_summary a = { 200, avail, NAN, avail, avail, avail, avail };
    struct store_summary rtt = { 190, p50_us * 1.5, 10, p50_us, p50_us * 4, 1, 1e6 };
    struct store_summary zero = { 200, 0, NAN, 0, 0, 0, 0 };
    int64_t run;

    assert_int_equal(store_run_begin(s, &info, &run), 0);
    if (avail >= 0) {
        /* It got as far as deploying its scheme (a negative 'avail': its host did not). */
        assert_int_equal(store_event_add(s, run, 1000, "phase-start", NULL, "deploy"), 0);
    }
    if (status == STORE_COMPLETE) {
        assert_int_equal(store_summary_put(s, run, "availability_ratio", "", &a), 0);
        assert_int_equal(store_summary_put(s, run, "rtt_us", "", &rtt), 0);
        assert_int_equal(store_summary_put(s, run, "wrong_answer_ratio", "", &zero), 0);
    }
    assert_int_equal(store_run_end(s, run, status), 0);
    free(point);
    return run;
}

static void
test_build_from_database(void **state)
{
    char dir[] = "/tmp/sfct-compare-XXXXXX";
    struct experiment *exp = NULL;
    struct compare_table t, back;
    struct store *s;
    struct diag diag;
    char *path, *tsv = NULL, *one = NULL, *two = NULL;
    size_t len;
    FILE *f;

    assert_non_null(mkdtemp(dir));
    path = xasprintf("%s/db", dir);
    assert_int_equal(store_open(path, false, &s), 0);
    diag_init(&diag);
    assert_int_equal(experiment_load_string("cmp.yaml", experiment_yaml, strlen(experiment_yaml),
                                            &diag, &exp), 0);
    diag_uninit(&diag);
    add_run(s, "plain", "none", "5s", 0, STORE_COMPLETE, 0.5, 3000);
    add_run(s, "plain", "none", "5s", 1, STORE_COMPLETE, 0.7, 5000);
    add_run(s, "voted", "nmr", "5s", 0, STORE_COMPLETE, 0.999, 4000);
    add_run(s, "voted", "nmr", "5s", 1, STORE_FAILED, 0, 0);
    /* Its infrastructure did not come up, then the repetition ran again: not a failure. */
    add_run(s, "plain", "none", "20s", 0, STORE_FAILED, -1, 0);
    add_run(s, "plain", "none", "20s", 0, STORE_COMPLETE, 0.9, 3000);

    assert_int_equal(compare_table_build(s, exp, "quick", &t), 0);
    assert_string_equal(t.axis, "setup");
    assert_int_equal(t.n_columns, 3);
    assert_int_equal(t.n_rows, 2);
    assert_string_equal(t.columns[2], "later");
    /* A note only for a scheme the registry cannot deploy (the fixtures show one). */
    assert_true(!t.notes[2] == scheme_deployable(scheme_find("ftvnf")));
    assert_null(t.notes[0]);
    assert_string_equal(t.rows[0], "mtbf=5s");
    /* plain at 5s: (50 + 70) / 2 %, a CI over two repetitions; p50 (3 + 5) / 2 ms. */
    const struct compare_cell *avail = &t.entries[0].cells[0];
    assert_true(avail->have);
    assert_int_equal(avail->reps, 2);
    assert_true(fabs(avail->mean - 60) < 1e-9);
    assert_true(isfinite(avail->ci95) && avail->ci95 > 0);
    assert_true(fabs(t.entries[0].cells[2].mean - 4) < 1e-9);
    /* voted at 5s: two runs, one failed and left out of the pool. */
    assert_int_equal(t.entries[1].runs, 2);
    assert_int_equal(t.entries[1].failed, 1);
    assert_int_equal(t.entries[1].cells[0].reps, 1);
    assert_true(isnan(t.entries[1].cells[0].ci95));
    assert_int_equal(t.entries[3 + 0].runs, 1);
    assert_int_equal(t.entries[3 + 0].failed, 0);
    assert_int_equal(t.entries[1].infra_failed, 0);
    /* voted at 20s: its host never brought the switch up. */
    add_run(s, "voted", "nmr", "20s", 0, STORE_FAILED, -1, 0);
    compare_table_uninit(&t);
    assert_int_equal(compare_table_build(s, exp, "quick", &t), 0);
    assert_int_equal(t.entries[3 + 1].runs, 1);
    assert_int_equal(t.entries[3 + 1].infra_failed, 1);
    /* later: never run. */
    assert_int_equal(t.entries[3 + 2].runs, 0);

    /* Written and read back, it renders the same. */
    f = open_memstream(&tsv, &len);
    assert_int_equal(compare_table_write(f, &t), 0);
    fclose(f);
    f = fmemopen(tsv, len, "r");
    assert_int_equal(compare_table_read(f, "mem", stderr, &back), 0);
    fclose(f);
    f = open_memstream(&one, &len);
    compare_render_scorecards(f, &t);
    compare_render_summary(f, &t);
    fclose(f);
    f = open_memstream(&two, &len);
    compare_render_scorecards(f, &back);
    compare_render_summary(f, &back);
    fclose(f);
    assert_string_equal(one, two);
    assert_non_null(strstr(one, "| availability (%) | 60 ± "));
    assert_non_null(strstr(one, " 99.9 (1 of 2 runs failed) |"));
    assert_non_null(strstr(one, scheme_deployable(scheme_find("ftvnf")) ? " not run |"
                                                                         : " not deployable yet |"));
    assert_non_null(strstr(one, " infrastructure did not come up |"));

    free(one);
    free(two);
    free(tsv);
    compare_table_uninit(&back);
    compare_table_uninit(&t);
    experiment_free(exp);
    store_close(s);
    char *cmd = xasprintf("rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_summary_follows_numbers),
        cmocka_unit_test(test_build_from_database),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
