/* Tests of experiment descriptors: the golden fixtures of tests/fixtures/experiment/ (run from
 * the repository root; REGENERATE=1 rewrites the .expected files for review: diagnostics for a
 * malformed file, the expanded points for a valid one), the shipped experiments, sweep
 * expansion, --set and --quick overrides. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "injectors/inject.h"
#include "testbed/infra/provider.h"
#include "testbed/model/experiment.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/fn/nf.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"
#include "tests/unit/golden.h"

#define FIXTURES "tests/fixtures/experiment"

static struct experiment *const untouched = (struct experiment *) (uintptr_t) 0x5afe;

static char *
diag_to_string(const struct diag *diag)
{
    struct buf out = BUF_INITIALIZER;

    for (size_t i = 0; i < diag->n; i++) {
        buf_printf(&out, "%s\n", diag->msgs[i]);
    }
    return golden_buf_string(&out);
}

/* What a fixture must produce: its diagnostics, or the dump of its points when it is valid. */
static char *
fixture_output(const char *path, bool *validp)
{
    struct experiment *e = untouched;
    struct buf out = BUF_INITIALIZER;
    struct exp_point *pts;
    struct diag diag;
    size_t n;
    int error;

    diag_init(&diag);
    error = experiment_load(path, &diag, &e);
    if (error) {
        char *msgs;

        assert_int_equal(error, EINVAL);
        assert_ptr_equal(e, untouched);         /* Nothing handed out on failure. */
        assert_true(diag_has_errors(&diag));
        msgs = diag_to_string(&diag);
        buf_printf(&out, "%s", msgs);
        free(msgs);
        *validp = false;
    } else {
        assert_false(diag_has_errors(&diag));
        assert_int_equal(experiment_points(e, &diag, &pts, &n), 0);
        assert_false(diag_has_errors(&diag));
        experiment_format_points(e, pts, n, &out);
        exp_points_free(pts, n);
        experiment_free(e);
        *validp = true;
    }
    diag_uninit(&diag);
    return golden_buf_string(&out);
}

static void
test_fixtures(void **state)
{
    const struct golden_list lists[] = {
        { "PROVIDERS", guest_provider_names() }, { "SCHEMES", scheme_names() },
        { "ROLES", scheme_role_names() }, { "FAULT_KINDS", inject_kind_names() },
        { "NFS", nf_class_names() }, { "METRICS", experiment_metric_names() },
    };
    size_t n_valid, n_invalid;

    golden_set_lists(lists, ARRAY_SIZE(lists));
    golden_run(FIXTURES, fixture_output, true, &n_valid, &n_invalid);
    golden_set_lists(NULL, 0);
    assert_true(n_invalid >= 20);
    assert_true(n_valid >= 3);
}

static struct experiment *
load_ok(const char *path)
{
    struct experiment *e = NULL;
    struct diag diag;

    diag_init(&diag);
    if (experiment_load(path, &diag, &e)) {
        diag_print(&diag, stderr);
        fail_msg("%s does not load", path);
    }
    diag_uninit(&diag);
    return e;
}

static struct experiment *
load_text(const char *text)
{
    struct experiment *e = NULL;
    struct diag diag;

    diag_init(&diag);
    if (experiment_load_string("t.yaml", text, strlen(text), &diag, &e)) {
        diag_print(&diag, stderr);
        fail_msg("text does not load");
    }
    diag_uninit(&diag);
    return e;
}

static void
points_ok(struct experiment *e, struct exp_point **pts, size_t *n)
{
    struct diag diag;

    diag_init(&diag);
    if (experiment_points(e, &diag, pts, n)) {
        diag_print(&diag, stderr);
        fail_msg("points do not expand");
    }
    diag_uninit(&diag);
}

/* Every shipped experiment loads, expands, and survives --quick. */
static void
test_shipped(void **state)
{
    size_t n_files = 0;
    glob_t g;

    assert_int_equal(glob("experiments/*.yaml", 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct experiment *e = load_ok(g.gl_pathv[i]);
        struct exp_point *pts;
        struct diag diag;
        size_t n;

        points_ok(e, &pts, &n);
        assert_true(n >= 1);
        exp_points_free(pts, n);
        diag_init(&diag);
        assert_int_equal(experiment_quick(e, &diag), 0);
        diag_uninit(&diag);
        points_ok(e, &pts, &n);
        exp_points_free(pts, n);
        assert_non_null(strstr(e->text, "experiment:"));
        experiment_free(e);
        n_files++;
    }
    globfree(&g);
    assert_true(n_files >= 1);
}

/* A reference's `why`: the map form and the string form reach the report's checks; a `why`
 * naming a check that does not exist for its reference is an error at that key. */
static void
test_reference_why(void **state)
{
    static const char head[] =
        "experiment: t\nscheme: fitsfc\nchain: {vnfs: [{fn: dns}], rules: [\"udp\"]}\n"
        "workload: {kind: dns, count: 100}\nsweep: {f: [0, 1]}\nreference:\n"
        "  - {label: a, metric: rtt_us, value: 3, unit: ms, where: {f: 0}, source: s}\n";
    char *good = xasprintf("%s  - {label: b, metric: rtt_us, value: 9, unit: ms, where: {f: 1},"
                           " source: s, why: {order: slower}}\n"
                           "  - {label: c, metric: component_share_pct, value: 65, unit: \"%%\","
                           " labels: {component: \"sff[0]\"}, where: {f: 1}, source: s,"
                           " why: one for all}\n", head);
    char *bad = xasprintf("%s  - {label: b, metric: rtt_us, value: 9, unit: ms, where: {f: 1},"
                          " source: s, why: {ordre: x, value: y}}\n", head);
    struct experiment *e = NULL;
    struct diag diag;

    (void) state;
    diag_init(&diag);
    if (experiment_load_string("good.yaml", good, strlen(good), &diag, &e)) {
        diag_print(&diag, stderr);
        fail_msg("a valid why does not load");
    }
    assert_int_equal(e->n_refs, 3);
    assert_null(experiment_reference_why(&e->refs[0], "order"));
    assert_string_equal(experiment_reference_why(&e->refs[1], "order"), "slower");
    assert_null(experiment_reference_why(&e->refs[1], "best"));
    /* The string form explains every check of its reference. */
    assert_string_equal(experiment_reference_why(&e->refs[2], "value"), "one for all");
    assert_string_equal(experiment_reference_why(&e->refs[2], "best"), "one for all");
    assert_false(experiment_reference_value_checked(&e->refs[0]));
    assert_true(experiment_reference_value_checked(&e->refs[2]));
    assert_true(experiment_references_share_table(&e->refs[0], &e->refs[1]));
    assert_false(experiment_references_share_table(&e->refs[1], &e->refs[2]));
    experiment_free(e);
    diag_uninit(&diag);

    diag_init(&diag);
    e = NULL;
    assert_int_equal(experiment_load_string("bad.yaml", bad, strlen(bad), &diag, &e), EINVAL);
    assert_null(e);
    assert_int_equal(diag.n, 2);
    assert_string_equal(diag.msgs[0], "bad.yaml:8:84: unknown shape check in 'why' 'ordre' "
                                      "(expected one of: value, order, best, ratio)");
    assert_non_null(strstr(diag.msgs[1], "bad.yaml:8:94: reference 'b': no 'value' check to "
                                         "explain: a value in ms is shown beside ours but not "
                                         "compared"));
    diag_uninit(&diag);
    free(good);
    free(bad);
}

static void
test_baseline_dns(void **state)
{
    struct experiment *e = load_ok("experiments/baseline-dns.yaml");
    struct exp_point *pts;
    struct diag diag;
    size_t n;

    assert_string_equal(e->name, "baseline-dns");
    assert_int_equal(e->n_refs, 1);
    assert_string_equal(e->refs[0].metric, "rtt_us");
    assert_true(e->refs[0].value == 3.74);
    assert_string_equal(e->refs[0].unit, "ms");
    assert_int_equal(e->n_plots, 1);
    assert_string_equal(e->plots[0].x, "chain_len");

    points_ok(e, &pts, &n);
    assert_int_equal(n, 1);
    assert_string_equal(pts[0].label, "chain_len=1");
    assert_string_equal(pts[0].scheme, "none");
    assert_string_equal(pts[0].provider, "netns");
    assert_int_equal(pts[0].n_vnfs, 1);
    assert_string_equal(pts[0].vnfs[0].fn, "dns");
    assert_string_equal(pts[0].vnfs[0].params[0].key, "zone");
    assert_string_equal(pts[0].vnfs[0].params[0].value, "www.example.com=10.0.0.80");
    assert_int_equal(pts[0].n_rules, 1);
    assert_string_equal(pts[0].rules[0], "udp,dport=53");
    assert_int_equal(pts[0].workload.kind, EXP_WL_DNS);
    assert_int_equal(pts[0].workload.count, 10000);
    assert_int_equal(pts[0].workload.size, 512);
    assert_int_equal(pts[0].workload.timeout_ns, 1000000000ull);
    assert_int_equal(pts[0].warmup, 100);
    assert_int_equal(pts[0].repetitions, 1);
    assert_int_equal(pts[0].seed, 1);
    exp_points_free(pts, n);

    diag_init(&diag);
    assert_int_equal(experiment_quick(e, &diag), 0);
    diag_uninit(&diag);
    points_ok(e, &pts, &n);
    assert_int_equal(pts[0].workload.count, 300);
    assert_int_equal(pts[0].workload.size, 512);        /* Merged, not replaced. */
    exp_points_free(pts, n);
    experiment_free(e);
}

static const char sweep_text[] =
    "experiment: t\n"
    "chain:\n"
    "  fill: {fn: fwd}\n"
    "  vnfs: [{fn: dns, params: {zone: \"a=10.0.0.1\"}}]\n"
    "  rules: [udp]\n"
    "workload: {kind: dns, count: 100, size: 512}\n"
    "faults: [{kind: crash, target: \"vnf[0]\", at: 1s}, {kind: pause, target: \"sff[0]\", at: 2s}]\n"
    "sweep:\n"
    "  chain_len: [1, 2, 4]\n"
    "  scheme: [none, ftvnf]\n"
    "quick:\n"
    "  sweep: {chain_len: [2]}\n"
    "  workload: {count: 10}\n";

/* Cross product in file order, last axis fastest; fill VNFs first. */
static void
test_points_cross_product(void **state)
{
    static const char *const labels[] = {
        "chain_len=1,scheme=none", "chain_len=1,scheme=ftvnf", "chain_len=2,scheme=none",
        "chain_len=2,scheme=ftvnf", "chain_len=4,scheme=none", "chain_len=4,scheme=ftvnf",
    };
    struct experiment *e = load_text(sweep_text);
    struct exp_point *pts;
    size_t n;

    points_ok(e, &pts, &n);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pts[i].index, i);
        assert_string_equal(pts[i].label, labels[i]);
        assert_int_equal(pts[i].n_axes, 2);
        assert_string_equal(pts[i].axes[0].key, "chain_len");
        assert_string_equal(pts[i].axes[1].key, "scheme");
        assert_string_equal(pts[i].scheme, i % 2 ? "ftvnf" : "none");
    }
    assert_int_equal(pts[4].n_vnfs, 4);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(pts[4].vnfs[i].fn, "fwd");
        assert_int_equal(pts[4].vnfs[i].n_params, 0);
    }
    assert_string_equal(pts[4].vnfs[3].fn, "dns");
    assert_string_equal(pts[4].axes[0].value, "4");
    exp_points_free(pts, n);
    experiment_free(e);
}

static void
test_set(void **state)
{
    struct experiment *e = load_text(sweep_text);
    struct exp_point *pts;
    struct diag diag;
    size_t n;

    diag_init(&diag);
    /* A single value drops the axis. */
    assert_int_equal(experiment_set(e, "chain_len=3", &diag), 0);
    /* A list makes a new axis, after the file's. */
    assert_int_equal(experiment_set(e, "workload.size=64,128", &diag), 0);
    /* The alias's path replaces the alias's axis. */
    assert_int_equal(experiment_set(e, "scheme=ftc", &diag), 0);
    assert_int_equal(experiment_set(e, "mtbf=1m,5m,10m", &diag), 0);
    assert_int_equal(experiment_set(e, "f=1", &diag), 0);
    assert_false(diag_has_errors(&diag));
    points_ok(e, &pts, &n);
    assert_int_equal(n, 6);
    assert_string_equal(pts[0].label, "workload.size=64,mtbf=1m");
    assert_string_equal(pts[5].label, "workload.size=128,mtbf=10m");
    assert_int_equal(pts[5].workload.size, 128);
    assert_string_equal(pts[5].scheme, "ftc");
    assert_int_equal(pts[5].n_vnfs, 3);
    assert_int_equal(pts[5].n_faults, 2);
    assert_int_equal(pts[5].faults[0].mtbf_ns, 600000000000ull);
    assert_int_equal(pts[5].faults[1].mtbf_ns, 600000000000ull);
    assert_int_equal(pts[5].n_params, 1);
    assert_string_equal(pts[5].params[0].key, "f");
    assert_string_equal(pts[5].params[0].value, "1");
    exp_points_free(pts, n);

    /* Errors name the assignment and leave the experiment as it was. */
    assert_int_equal(experiment_set(e, "chain_len=x", &diag), EINVAL);
    assert_int_equal(experiment_set(e, "chain_len=0,1", &diag), EINVAL);
    assert_int_equal(experiment_set(e, "scheme=pbft", &diag), EINVAL);
    assert_int_equal(experiment_set(e, "bogus=1", &diag), EINVAL);
    assert_int_equal(experiment_set(e, "noequals", &diag), EINVAL);
    assert_int_equal(experiment_set(e, "workload.kind.x=1", &diag), EINVAL);
    assert_int_equal(experiment_set(e, "workload.sise=1", &diag), EINVAL);
    {
        /* The schemes as the registry lists them: a new scheme changes no test. */
        char *unknown_scheme = xasprintf("--set scheme=pbft: unknown scheme 'pbft' (expected "
                                         "one of: %s)", scheme_names());
        const char *const expected[] = {
            "--set chain_len=x: 'length' must be a non-negative integer, not 'x'",
            /* The point's scheme is ftc (set above): it checks its chain has f+1 VNFs. */
            "--set chain_len=x: ftc: f=1 needs a chain of at least 2 VNFs (it has 0): each "
            "VNF's group is f+1 VNF guests",
            "--set chain_len=0,1: chain length must be 1 to 64, not 0",
            "--set chain_len=0,1: ftc: f=1 needs a chain of at least 2 VNFs (it has 0): each "
            "VNF's group is f+1 VNF guests",
            "--set chain_len=0,1: ftc: f=1 needs a chain of at least 2 VNFs (it has 1): each "
            "VNF's group is f+1 VNF guests",
            unknown_scheme,
            "--set bogus=1: sweep key 'bogus' must start with one of: provider, scheme, params, "
            "resources, chain, network, workload, faults, warmup, repetitions, seed",
            "--set noequals: expected KEY=VALUE or KEY=V1,V2,...",
            "--set workload.kind.x=1: 'workload.kind.x': cannot set 'x' inside a string",
            "--set workload.sise=1: unknown key 'sise' (expected one of: kind, count, size, "
            "rate, duration, timeout, interval, source_port, capacity, window)",
        };
        char *all = diag_to_string(&diag);

        if (diag.n != ARRAY_SIZE(expected)) {
            fail_msg("got:\n%s", all);
        }
        for (size_t i = 0; i < ARRAY_SIZE(expected); i++) {
            assert_string_equal(diag.msgs[i], expected[i]);
        }
        free(all);
        free(unknown_scheme);
    }
    points_ok(e, &pts, &n);
    assert_int_equal(n, 6);
    assert_string_equal(pts[0].scheme, "ftc");
    exp_points_free(pts, n);
    diag_uninit(&diag);
    experiment_free(e);
}

static void
test_quick(void **state)
{
    struct experiment *e = load_text(sweep_text);
    struct exp_point *pts;
    struct diag diag;
    size_t n;

    diag_init(&diag);
    assert_int_equal(experiment_quick(e, &diag), 0);
    assert_false(diag_has_errors(&diag));
    points_ok(e, &pts, &n);
    assert_int_equal(n, 2);                     /* chain_len replaced, scheme kept. */
    assert_string_equal(pts[0].label, "chain_len=2,scheme=none");
    assert_string_equal(pts[1].label, "chain_len=2,scheme=ftvnf");
    assert_int_equal(pts[1].workload.count, 10);
    assert_int_equal(pts[1].workload.size, 512);
    assert_int_equal(pts[1].n_faults, 2);
    exp_points_free(pts, n);

    /* The command line wins over quick. */
    assert_int_equal(experiment_set(e, "workload.count=50", &diag), 0);
    points_ok(e, &pts, &n);
    assert_int_equal(pts[0].workload.count, 50);
    exp_points_free(pts, n);
    diag_uninit(&diag);
    experiment_free(e);
}

/* A value wrong at one point only is reported once, at the axis value. */
static void
test_point_error_location(void **state)
{
    static const char text[] =
        "experiment: t\n"
        "chain: {vnfs: [{fn: fwd}, {fn: fwd}], fill: {fn: fwd}, rules: [udp]}\n"
        "workload: {kind: udp, count: 100}\n"
        "sweep:\n"
        "  chain_len: [2, 1, 3]\n"
        "  seed: [1, 2]\n";
    struct experiment *e = untouched;
    struct diag diag;

    diag_init(&diag);
    assert_int_equal(experiment_load_string("s.yaml", text, strlen(text), &diag, &e), EINVAL);
    assert_ptr_equal(e, untouched);
    assert_int_equal(diag.n, 1);
    assert_string_equal(diag.msgs[0],
                        "s.yaml:5:18: chain length 1 is shorter than its 2 VNFs in 'vnfs'");
    diag_uninit(&diag);
}

static void
test_unreadable(void **state)
{
    struct experiment *e = untouched;
    struct diag diag;

    diag_init(&diag);
    assert_int_equal(experiment_load(FIXTURES "/no-such-file.yaml", &diag, &e), ENOENT);
    assert_ptr_equal(e, untouched);
    assert_int_equal(diag.n, 1);
    diag_uninit(&diag);
}

/* Hostile input, made here rather than committed: each is refused with one message saying
 * what is wrong, before the work it would cost (the big file is not even read; the huge sweep
 * is not checked value by value, which was quadratic: 44 s and 99,999 messages). */
static char *
hostile_file(const char *name, const char *head, const char *item, size_t n, const char *tail)
{
    char *path = xasprintf("build/hostile-%s.yaml", name);
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(head, f);
    for (size_t i = 0; i < n; i++) {
        fputs(item, f);
        if (i + 1 < n && tail[0] == ']') {
            fputc(',', f);
        }
    }
    fputs(tail, f);
    fclose(f);
    return path;
}

/* The load fails with 'n' messages kept and 'dropped' past DIAG_MAX_MSGS, the first being
 * PATH + 'message'. */
static void
expect_errors(const char *path, size_t n, size_t dropped, const char *message)
{
    struct experiment *e = untouched;
    struct diag diag;
    char *want = xasprintf("%s%s", path, message);

    diag_init(&diag);
    assert_int_equal(experiment_load(path, &diag, &e), EINVAL);
    assert_ptr_equal(e, untouched);
    assert_int_equal(diag.n, n);
    assert_int_equal(diag.n_dropped, dropped);
    if (strncmp(diag.msgs[0], want, strlen(want))) {
        assert_string_equal(diag.msgs[0], want);       /* Prints both. */
    }
    diag_uninit(&diag);
    unlink(path);
    free(want);
}

static void
expect_one_error(const char *path, const char *message)
{
    expect_errors(path, 1, 0, message);
}

static void
test_hostile(void **state)
{
    static const char head[] = "experiment: t\nchain:\n  vnfs: [{fn: fwd}]\n  rules: [\"udp\"]\n"
                               "workload: {kind: udp, duration: 1s}\n";
    char *path;

    path = hostile_file("big", head, "# padding padding padding padding padding padding\n",
                        22000, "");
    expect_one_error(path, ": 1100094 bytes: a descriptor may have at most 1048576 (1 MiB)");
    free(path);

    /* Each repeat is reported (the first 1000 kept, the rest counted), in linear time:
     * libfyaml's own check was quadratic (20,000 keys: 55 s). */
    path = hostile_file("repeat", head, "seed: 1\n", 10000, "");
    expect_errors(path, DIAG_MAX_MSGS, 10000 - 1 - DIAG_MAX_MSGS,
                  ":7:1: duplicate key 'seed' (first at line 6)");
    free(path);

    path = hostile_file("many-keys", head, "k: 1\n", 1, "");
    {
        FILE *f = fopen(path, "a");
        for (int i = 0; i < 100000; i++) {
            fprintf(f, "k%d: 1\n", i);
        }
        fclose(f);
    }
    expect_errors(path, DIAG_MAX_MSGS, 100001 - DIAG_MAX_MSGS,
                  ":6:1: unknown key 'k' (expected one of: experiment, title, ");
    free(path);

    path = hostile_file("list", head, "1", 100000, "]\n");
    {
        char *text;
        size_t len;
        FILE *f;

        assert_int_equal(read_file(path, &text, &len), 0);
        f = fopen(path, "w");
        fprintf(f, "%sfaults: [%.*s", head, (int) (len - strlen(head)), text + strlen(head));
        fclose(f);
        free(text);
    }
    expect_one_error(path, ":6:10: 'faults' has 100000 items: a descriptor's list may have at "
                     "most 4096");
    free(path);

    path = hostile_file("flow", head, "1", 100000, "]\n");
    /* hostile_file() joins items with commas when the tail closes a flow sequence. */
    {
        char *text;
        size_t len;
        FILE *f;

        assert_int_equal(read_file(path, &text, &len), 0);
        f = fopen(path, "w");
        fprintf(f, "%ssweep:\n  chain_len: [%.*s", head,
                (int) (len - strlen(head)), text + strlen(head));
        fclose(f);
        free(text);
    }
    expect_one_error(path, ":7:14: sweep 'chain_len' has 100000 values: a sweep may have at "
                     "most 4096 points");
    free(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_reference_why),
        cmocka_unit_test(test_shipped),
        cmocka_unit_test(test_baseline_dns),
        cmocka_unit_test(test_points_cross_product),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_quick),
        cmocka_unit_test(test_point_error_location),
        cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
