/* Tests of the descriptor layer: the golden fixtures of tests/fixtures/topology/ (run from the
 * repository root; REGENERATE=1 rewrites the .expected files for review), the shipped
 * topologies, the canonical dump's round trip, lookups and the yaml layer's getters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/infra/provider.h"
#include "testbed/model/topology.h"
#include "testbed/model/yaml.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"
#include "tests/unit/golden.h"

#define FIXTURES "tests/fixtures/topology"

static struct topology *const untouched = (struct topology *) (uintptr_t) 0x5afe;

/* What a fixture must produce: its diagnostics, or its dump when it is valid. */
static char *
fixture_output(const char *path, bool *validp)
{
    struct topology *topo = untouched;
    struct buf out = BUF_INITIALIZER;
    struct diag diag;
    int error;

    diag_init(&diag);
    error = topology_load(path, &diag, &topo);
    if (error) {
        assert_int_equal(error, EINVAL);
        assert_ptr_equal(topo, untouched);      /* Nothing handed out on failure. */
        assert_true(diag_has_errors(&diag));
        for (size_t i = 0; i < diag.n; i++) {
            buf_printf(&out, "%s\n", diag.msgs[i]);
        }
        *validp = false;
    } else {
        assert_false(diag_has_errors(&diag));
        topology_format(topo, &out);
        topology_free(topo);
        *validp = true;
    }
    diag_uninit(&diag);
    return golden_buf_string(&out);
}

static void
test_fixtures(void **state)
{
    const struct golden_list lists[] = { { "PROVIDERS", guest_provider_names() } };
    size_t n_valid, n_invalid;

    golden_set_lists(lists, ARRAY_SIZE(lists));
    golden_run(FIXTURES, fixture_output, false, &n_valid, &n_invalid);
    golden_set_lists(NULL, 0);
    assert_true(n_invalid >= 25);
    assert_true(n_valid >= 3);
}

static struct topology *
load_ok(const char *path)
{
    struct topology *topo = NULL;
    struct diag diag;

    diag_init(&diag);
    if (topology_load(path, &diag, &topo)) {
        diag_print(&diag, stderr);
        fail_msg("%s does not load", path);
    }
    diag_uninit(&diag);
    return topo;
}

static void
assert_addr(struct in_addr addr, const char *expected)
{
    char s[INET_ADDRSTRLEN];

    assert_string_equal(inet_ntop(AF_INET, &addr, s, sizeof s), expected);
}

static void
test_line3(void **state)
{
    struct topology *topo = load_ok("topologies/line3.yaml");
    const struct topo_link *l;

    assert_string_equal(topo->name, "line3");
    assert_int_equal(topo->n_guests, 3);
    assert_int_equal(topo->n_bridges, 1);
    assert_int_equal(topo->n_links, 3);
    assert_string_equal(topo->bridges[0].name, "data");
    for (size_t i = 0; i < 3; i++) {
        char name[8], mgmt[16];

        snprintf(name, sizeof name, "h%zu", i + 1);
        snprintf(mgmt, sizeof mgmt, "10.254.0.%zu", i + 1);
        assert_string_equal(topo->guests[i].name, name);
        assert_string_equal(topo->guests[i].provider, "netns");
        assert_true(topo->guests[i].cpus == 1.0);
        assert_int_equal(topo->guests[i].memory, 128ull << 20);
        assert_addr(topo->guests[i].mgmt_addr, mgmt);
    }
    l = &topo->links[1];
    assert_int_equal(l->guest, 1);
    assert_int_equal(l->bridge, 0);
    assert_true(l->has_addr);
    assert_addr(l->addr, "10.0.0.2");
    assert_int_equal(l->prefix_len, 24);
    assert_int_equal(l->impair.egress.rate_bps, 0);
    assert_true(l->impair.egress.loss == 0);
    assert_addr(topo->mgmt_net, "10.254.0.0");
    assert_int_equal(topo->mgmt_prefix_len, 16);
    assert_addr(topo->orchestrator_addr, "10.254.255.254");
    /* Locations outlive the document and point into the topology. */
    assert_ptr_equal(topo->guests[0].loc.file, topo->file);
    assert_true(topo->guests[0].loc.line > 0);
    topology_free(topo);
}

static void
test_star32(void **state)
{
    struct topology *topo = load_ok("topologies/star32.yaml");

    assert_int_equal(topo->n_guests, 32);
    assert_int_equal(topo->n_links, 32);
    assert_string_equal(topo->guests[0].name, "g01");
    assert_string_equal(topo->guests[31].name, "g32");
    for (size_t i = 0; i < 32; i++) {
        assert_true(topo->guests[i].cpus == 0.25);
        assert_int_equal(topo->guests[i].memory, 64ull << 20);
        assert_int_equal(topo->links[i].guest, i);
        assert_int_equal(ntohl(topo->links[i].addr.s_addr), 0x0a000000u + i + 1);
    }
    assert_addr(topo->guests[31].mgmt_addr, "10.254.0.32");
    topology_free(topo);
}

/* The dump is itself a topology that dumps the same. */
static void
test_format_round_trip(void **state)
{
    const char *patterns[] = { FIXTURES "/valid-*.yaml", "topologies/*.yaml" };
    size_t n = 0;

    for (size_t p = 0; p < ARRAY_SIZE(patterns); p++) {
        glob_t g;

        assert_int_equal(glob(patterns[p], 0, NULL, &g), 0);
        for (size_t i = 0; i < g.gl_pathc; i++) {
            struct topology *a = load_ok(g.gl_pathv[i]), *b = NULL;
            struct buf dump_a = BUF_INITIALIZER, dump_b = BUF_INITIALIZER;
            struct diag diag;

            topology_format(a, &dump_a);
            diag_init(&diag);
            if (topology_load_string("dump.yaml", (char *) dump_a.data, dump_a.len, &diag, &b)) {
                diag_print(&diag, stderr);
                fail_msg("dump of %s does not load", g.gl_pathv[i]);
            }
            topology_format(b, &dump_b);
            assert_int_equal(dump_a.len, dump_b.len);
            assert_memory_equal(dump_a.data, dump_b.data, dump_a.len);
            buf_uninit(&dump_a);
            buf_uninit(&dump_b);
            diag_uninit(&diag);
            topology_free(a);
            topology_free(b);
            n++;
        }
        globfree(&g);
    }
    assert_true(n >= 5);
}

static void
test_lookups(void **state)
{
    struct topology *topo = load_ok(FIXTURES "/valid-impairments.yaml");

    assert_int_equal(topology_find_guest(topo, "client"), 0);
    assert_int_equal(topology_find_guest(topo, "server"), 2);
    assert_int_equal(topology_find_guest(topo, "serve"), SIZE_MAX);
    assert_int_equal(topology_find_guest(topo, "servers"), SIZE_MAX);
    assert_int_equal(topology_find_guest(topo, ""), SIZE_MAX);
    assert_int_equal(topology_find_guest(topo, "data"), SIZE_MAX);
    assert_int_equal(topology_find_bridge(topo, "l2only"), 1);
    assert_int_equal(topology_find_bridge(topo, "data"), 0);
    assert_int_equal(topology_find_bridge(topo, "mgmt"), SIZE_MAX);
    assert_int_equal(topology_find_bridge(topo, "client"), SIZE_MAX);
    assert_false(topo->links[2].has_addr);
    assert_int_equal(topo->links[0].impair.egress.rate_bps, 100000000ull);
    assert_int_equal(topo->links[0].impair.ingress.delay_ns, 1000000ull);
    assert_int_equal(topo->links[0].impair.egress.jitter_ns, 100000ull);
    assert_true(topo->links[0].impair.ingress.loss > 0.00099
                && topo->links[0].impair.ingress.loss < 0.00101);
    /* Providers come from the provider registry: the guest's own 'provider' and the
     * topology's default are both checked against it. */
    assert_string_equal(topo->guests[1].provider, "netns");
    assert_string_equal(topo->guests[0].provider, "test");
    topology_free(topo);
}

static void
test_unreadable(void **state)
{
    struct topology *topo = untouched;
    struct diag diag;

    diag_init(&diag);
    assert_int_equal(topology_load(FIXTURES "/no-such-file.yaml", &diag, &topo), ENOENT);
    assert_ptr_equal(topo, untouched);
    assert_int_equal(diag.n, 1);
    assert_string_equal(diag.msgs[0],
                        FIXTURES "/no-such-file.yaml: cannot read: No such file or directory");
    diag_uninit(&diag);
}

/* The yaml layer, on documents held in strings. */
static struct yaml_doc *
doc_from(const char *text, struct diag *diag)
{
    struct yaml_doc *doc = NULL;

    diag_init(diag);
    assert_int_equal(yaml_doc_load_string("t.yaml", text, strlen(text), diag, &doc), 0);
    assert_false(diag_has_errors(diag));
    return doc;
}

static void
test_yaml_getters(void **state)
{
    static const char text[] =
        "s: hello\n"
        "n: 2.5\n"
        "u: 42\n"
        "b: true\n"
        "size: 1.5K\n"
        "dur: 250ms\n"
        "rate: 10kbit\n"
        "pct: 12.5%\n"
        "list: [1, 2, 3]\n"
        "empty:\n"
        "map: {a: 1}\n";
    struct diag diag;
    struct yaml_doc *doc = doc_from(text, &diag);
    struct fy_node *root = doc->root, *list = (void *) 1;
    const char *s = NULL;
    double d = 0;
    uint64_t u = 0;
    bool b = false;

    assert_int_equal(yaml_get_string(doc, root, "s", YAML_REQUIRED, &s), 0);
    assert_string_equal(s, "hello");
    assert_int_equal(yaml_get_number(doc, root, "n", YAML_REQUIRED, &d), 0);
    assert_true(d == 2.5);
    assert_int_equal(yaml_get_uint(doc, root, "u", YAML_REQUIRED, &u), 0);
    assert_int_equal(u, 42);
    assert_int_equal(yaml_get_bool(doc, root, "b", YAML_REQUIRED, &b), 0);
    assert_true(b);
    assert_int_equal(yaml_get_size(doc, root, "size", YAML_REQUIRED, &u), 0);
    assert_int_equal(u, 1536);
    assert_int_equal(yaml_get_duration(doc, root, "dur", YAML_REQUIRED, &u), 0);
    assert_int_equal(u, 250000000ull);
    assert_int_equal(yaml_get_rate(doc, root, "rate", YAML_REQUIRED, &u), 0);
    assert_int_equal(u, 10000);
    assert_int_equal(yaml_get_percent(doc, root, "pct", YAML_REQUIRED, &d), 0);
    assert_true(d == 0.125);
    assert_int_equal(yaml_get_list(doc, root, "list", YAML_REQUIRED, &list), 0);
    assert_int_equal(yaml_list_count(list), 3);
    assert_int_equal(yaml_get_list(doc, root, "empty", YAML_REQUIRED, &list), 0);
    assert_null(list);
    assert_int_equal(yaml_list_count(list), 0);
    assert_int_equal(yaml_get_map(doc, root, "map", YAML_REQUIRED, &list), 0);
    assert_true(fy_node_is_mapping(list));

    /* Absent and optional: untouched, no complaint. */
    s = "default";
    assert_int_equal(yaml_get_string(doc, root, "nope", YAML_OPTIONAL, &s), 0);
    assert_string_equal(s, "default");
    assert_int_equal(yaml_get_string(doc, root, "empty", YAML_OPTIONAL, &s), 0);
    assert_string_equal(s, "default");
    assert_false(diag_has_errors(&diag));
    assert_true(yaml_map_has(root, "empty"));
    assert_null(yaml_map_get(root, "empty"));
    yaml_doc_free(doc);
    diag_uninit(&diag);
}

static void
test_yaml_errors(void **state)
{
    static const char text[] =
        "s: [x]\n"
        "n: 1e\n"
        "u: -3\n"
        "b: yes\n"
        "pct: 5\n"
        "list: {a: 1}\n"
        "empty:\n";
    static const char *const expected[] = {
        "t.yaml:1:1: missing required key 'absent'",
        "t.yaml:7:1: missing value for 'empty'",
        "t.yaml:1:4: 's' must be a string, not a list",
        "t.yaml:2:4: 'n' must be a number, not '1e'",
        "t.yaml:3:4: 'u' must be a non-negative integer, not '-3'",
        "t.yaml:4:4: 'b' must be true or false, not 'yes'",
        "t.yaml:5:6: 'pct' must be a percentage such as 0.1%, not '5'",
        "t.yaml:6:7: 'list' must be a list, not a mapping",
        "t.yaml:1:1: unknown key 's' (expected one of: a, b)",
    };
    static const char *const keys[] = { "a", "b", NULL };
    struct diag diag;
    struct yaml_doc *doc = doc_from(text, &diag);
    struct fy_node *root = doc->root, *list = NULL;
    const char *s = "untouched";
    double d = 7;
    uint64_t u = 7;
    bool b = false;

    assert_int_equal(yaml_get_string(doc, root, "absent", YAML_REQUIRED, &s), ENOENT);
    assert_int_equal(yaml_get_string(doc, root, "empty", YAML_REQUIRED, &s), ENOENT);
    assert_int_equal(yaml_get_string(doc, root, "s", YAML_OPTIONAL, &s), EINVAL);
    assert_string_equal(s, "untouched");
    assert_int_equal(yaml_get_number(doc, root, "n", YAML_OPTIONAL, &d), EINVAL);
    assert_true(d == 7);
    assert_int_equal(yaml_get_uint(doc, root, "u", YAML_OPTIONAL, &u), EINVAL);
    assert_int_equal(u, 7);
    assert_int_equal(yaml_get_bool(doc, root, "b", YAML_OPTIONAL, &b), EINVAL);
    assert_int_equal(yaml_get_percent(doc, root, "pct", YAML_OPTIONAL, &d), EINVAL);
    assert_int_equal(yaml_get_list(doc, root, "list", YAML_OPTIONAL, &list), EINVAL);
    assert_null(list);
    assert_false(yaml_map_check_keys(doc, root, keys));

    assert_int_equal(diag.n, ARRAY_SIZE(expected) + 5);    /* check_keys: one per unknown key. */
    for (size_t i = 0; i < ARRAY_SIZE(expected); i++) {
        assert_string_equal(diag.msgs[i], expected[i]);
    }
    yaml_doc_free(doc);
    diag_uninit(&diag);
}

/* libfyaml's own complaints come back located, through diag, never on stderr. */
static void
test_yaml_syntax_errors(void **state)
{
    static const struct {
        const char *text;
        const char *expected;
    } cases[] = {
        { "a: 1\nb: [1, 2\nc: 3\n", "t.yaml:4:1: flow sequence without a closing bracket" },
        { "a: 1\na: 2\n", "t.yaml:2:1: duplicate key" },
        { "a: &x 1\nb: *x\n", "t.yaml:2:4: aliases are not supported" },
        { "a: 1\n---\nb: 2\n", "t.yaml:3:1: only one YAML document per file is allowed" },
        { "\"unterminated\n", "t.yaml:" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct yaml_doc *doc = (void *) 1;
        struct diag diag;

        diag_init(&diag);
        assert_int_equal(yaml_doc_load_string("t.yaml", cases[i].text, strlen(cases[i].text),
                                              &diag, &doc), EINVAL);
        assert_ptr_equal(doc, (void *) 1);
        assert_true(diag.n >= 1);
        if (strncmp(diag.msgs[0], cases[i].expected, strlen(cases[i].expected))) {
            fail_msg("case %zu: got '%s', expected it to start with '%s'", i, diag.msgs[0],
                     cases[i].expected);
        }
        diag_uninit(&diag);
    }
}

static void
test_yaml_format(void **state)
{
    static const struct {
        void (*format)(struct buf *, uint64_t);
        uint64_t value;
        const char *expected;
    } ints[] = {
        { yaml_format_size, 128ull << 20, "128M" },
        { yaml_format_size, 1536ull << 10, "1536K" },
        { yaml_format_size, 2ull << 30, "2G" },
        { yaml_format_size, 1000, "1000" },
        { yaml_format_size, 0, "0" },
        { yaml_format_duration, 1500000000ull, "1500ms" },
        { yaml_format_duration, 3000000000ull, "3s" },
        { yaml_format_duration, 100000, "100us" },
        { yaml_format_duration, 7, "7ns" },
        { yaml_format_duration, 0, "0ns" },
        { yaml_format_rate, 100000000ull, "100mbit" },
        { yaml_format_rate, 1500000000ull, "1500mbit" },
        { yaml_format_rate, 999, "999bit" },
    };
    static const struct {
        void (*format)(struct buf *, double);
        double value;
        const char *expected;
    } reals[] = {
        { yaml_format_number, 0.25, "0.25" },
        { yaml_format_number, 100, "100" },
        { yaml_format_number, 0.1, "0.1" },
        { yaml_format_number, -3.5, "-3.5" },
        { yaml_format_percent, 0.001, "0.1%" },
        { yaml_format_percent, 1, "100%" },
        { yaml_format_percent, 0.125, "12.5%" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(ints); i++) {
        struct buf b = BUF_INITIALIZER;
        char *s;

        ints[i].format(&b, ints[i].value);
        s = golden_buf_string(&b);
        assert_string_equal(s, ints[i].expected);
        free(s);
    }
    for (size_t i = 0; i < ARRAY_SIZE(reals); i++) {
        struct buf b = BUF_INITIALIZER;
        char *s;

        reals[i].format(&b, reals[i].value);
        s = golden_buf_string(&b);
        assert_string_equal(s, reals[i].expected);
        free(s);
    }
}

static void
test_diag_sort(void **state)
{
    struct diag diag;

    diag_init(&diag);
    diag_error(&diag, &(struct loc) { "f", 9, 1 }, "first, untouched");
    diag_error(&diag, &(struct loc) { "f", 5, 3 }, "c");
    diag_error(&diag, &(struct loc) { "f", 2, 1 }, "a");
    diag_error(&diag, &(struct loc) { "f", 5, 3 }, "d");
    diag_error(&diag, &(struct loc) { "f", 0, 0 }, "whole file");
    diag_error(&diag, &(struct loc) { "f", 5, 1 }, "b");
    diag_sort(&diag, 1);
    assert_int_equal(diag.n, 6);
    assert_string_equal(diag.msgs[0], "f:9:1: first, untouched");
    assert_string_equal(diag.msgs[1], "f: whole file");
    assert_string_equal(diag.msgs[2], "f:2:1: a");
    assert_string_equal(diag.msgs[3], "f:5:1: b");
    assert_string_equal(diag.msgs[4], "f:5:3: c");
    assert_string_equal(diag.msgs[5], "f:5:3: d");
    diag_uninit(&diag);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_line3),
        cmocka_unit_test(test_star32),
        cmocka_unit_test(test_format_round_trip),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_yaml_getters),
        cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test(test_yaml_syntax_errors),
        cmocka_unit_test(test_yaml_format),
        cmocka_unit_test(test_diag_sort),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
