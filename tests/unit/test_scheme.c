/* Unit tests of the scheme registry (testbed/schemes): every class is complete, names and roles
 * come from the table, nmr builds 2f+1 guests per VNF as a struct topology, parameters and
 * fault targets are checked by the scheme with file:line:col, every scheme is deployable; and
 * the runner's event API (testbed/run/events.h) keeps events from other threads on the run's
 * clock in microseconds. No root. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "testbed/model/experiment.h"
#include "testbed/model/topology.h"
#include "testbed/run/events.h"
#include "testbed/schemes/scheme.h"
#include "testbed/store/store.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

static void
test_registry_complete(void **state)
{
    size_t n_deployable = 0;

    assert_true(scheme_count() >= 6);
    for (size_t i = 0; i < scheme_count(); i++) {
        const struct scheme_class *c = scheme_at(i);
        assert_non_null(c->name);
        assert_non_null(c->summary);
        assert_true(c->n_targets > 0);
        assert_ptr_equal(scheme_find(c->name), c);
        for (size_t j = 0; j < c->n_params; j++) {
            assert_non_null(c->params[j].dflt);
            assert_non_null(c->params[j].help);
        }
        if (scheme_deployable(c)) {
            assert_non_null(c->stop);
            assert_non_null(c->has_target);
            n_deployable++;
        }
    }
    /* Every registered scheme deploys, and the names come from the registry in its order:
     * a new scheme is its file and its registry line, not a line here. */
    assert_int_equal(n_deployable, scheme_count());
    {
        struct buf names = BUF_INITIALIZER;

        for (size_t i = 0; i < scheme_count(); i++) {
            buf_printf(&names, "%s%s", i ? ", " : "", scheme_at(i)->name);
        }
        buf_put_u8(&names, '\0');
        assert_string_equal(scheme_deployable_names(), (char *) names.data);
        buf_uninit(&names);
    }
    assert_true(scheme_deployable(scheme_find("none")));
    assert_null(scheme_find("pbft"));    /* A protocol core, not a scheme. */
    assert_true(scheme_role_known("vnf"));
    assert_true(scheme_role_known("packet-logger"));
    assert_false(scheme_role_known("router"));
}

static struct experiment *
load(const char *text, struct diag *diag)
{
    struct experiment *e = NULL;

    diag_init(diag);
    experiment_load_string("t.yaml", text, strlen(text), diag, &e);
    return e;
}

static void
test_nmr_topology(void **state)
{
    static const char text[] =
        "experiment: t\nscheme: nmr\nparams: {f: 2}\n"
        "chain: {vnfs: [{fn: fwd}, {fn: dns, params: {zone: \"a=10.0.0.1\"}}], rules: [udp]}\n"
        "workload: {kind: dns, count: 10}\n"
        "faults: [{kind: mitm, target: \"vnf[1].replica[4]\", mode: flip, at: 1s}]\n";
    const struct scheme_class *nmr = scheme_find("nmr");
    struct topology *topo = NULL;
    struct exp_point *pts;
    struct diag diag;
    struct experiment *e = load(text, &diag);
    char *err = NULL;
    size_t n;

    assert_non_null(e);
    assert_int_equal(experiment_points(e, &diag, &pts, &n), 0);
    assert_int_equal(scheme_param_uint(nmr, &pts[0], "f"), 2);
    assert_string_equal(scheme_param_value(nmr, &pts[0], "timeout"), "1s");
    assert_int_equal(nmr->topology(&pts[0], &topo, &err), 0);
    /* client, sc, sff, server, 2 VNFs x 5 replicas, the attacker the mitm needs. */
    assert_int_equal(topo->n_guests, 4 + 10 + 1);
    assert_int_not_equal(topology_find_guest(topo, "v1r4"), SIZE_MAX);
    assert_int_equal(topology_find_guest(topo, "v1r5"), SIZE_MAX);
    assert_int_not_equal(topology_find_guest(topo, "attacker"), SIZE_MAX);
    assert_int_equal(topo->n_links, topo->n_guests);
    assert_true(nmr->has_target(&pts[0], "vnf", 1, 4));
    assert_false(nmr->has_target(&pts[0], "vnf", 1, 5));
    assert_false(nmr->has_target(&pts[0], "vnf", 1, -1));
    assert_false(nmr->has_target(&pts[0], "vnf", 2, 0));
    topology_free(topo);
    assert_int_equal(scheme_find("none")->topology(&pts[0], &topo, &err), 0);
    assert_int_equal(topo->n_guests, 4 + 2 + 1);
    topology_free(topo);
    exp_points_free(pts, n);
    experiment_free(e);
    diag_uninit(&diag);
}

static void
test_params_and_targets_checked(void **state)
{
    static const char text[] =
        "experiment: t\nscheme: nmr\nparams: {f: 0, timeout: 2h, colour: red}\n"
        "chain: {vnfs: [{fn: fwd}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n"
        "faults: [{kind: crash, target: \"vnf[0]\", at: 1s}]\n";
    static const char *const expected[] = {
        "t.yaml:3:13: nmr: f must be 1..8, not 0",
        "t.yaml:3:25: nmr: timeout must be 1ms..60s, not 2h",
        "t.yaml:3:29: scheme 'nmr' has no parameter 'colour' (expected one of: f, timeout, voter)",
        "t.yaml:6:33: target 'vnf[0]': scheme 'nmr' has no such component (its targets: "
        "vnf[N].replica[M], classifier[0], sff[0], client[0], server[0])",
    };
    struct diag diag;
    struct experiment *e = load(text, &diag);

    assert_null(e);
    assert_int_equal(diag.n, ARRAY_SIZE(expected));
    for (size_t i = 0; i < diag.n; i++) {
        assert_string_equal(diag.msgs[i], expected[i]);
    }
    diag_uninit(&diag);
}

/* NHAM: a mechanism per VNF in its descriptor, checked where it is written; the scheme-wide
 * default in params; replicas only for MR-AA; targets follow each VNF's mechanism. */
static void
test_nham_resiliency_checked(void **state)
{
    static const char bad[] =
        "experiment: t\nscheme: nham\nparams: {mechanism: 2R}\n"
        "chain:\n"
        "  vnfs:\n"
        "    - {fn: fwd, resiliency: {mechanism: 1R-XX, checkpoint: 0s}}\n"
        "    - {fn: fwd, resiliency: {mechanism: 1R-AA, replicas: 3, colour: red}}\n"
        "  rules: [udp]\n"
        "workload: {kind: udp, count: 10}\n";
    static const char *const expected[] = {
        "t.yaml:3:21: nham: mechanism must be 0R / 1R-AS / 1R-AA / MR-AA, not 2R",
        "t.yaml:6:41: nham: mechanism must be 0R / 1R-AS / 1R-AA / MR-AA, not 1R-XX",
        "t.yaml:6:60: nham: checkpoint must be 1ms..60s, not 0s",
        "t.yaml:7:48: nham: 'replicas' applies to mechanism MR-AA only (this VNF's is 1R-AA)",
        "t.yaml:7:61: scheme 'nham' has no resiliency setting 'colour' (expected one of: "
        "mechanism, checkpoint, replicas)",
    };
    static const char criu[] =
        "experiment: t\nscheme: nham\nparams: {checkpoint_backend: criu}\n"
        "chain: {vnfs: [{fn: fwd}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    static const char vm[] =
        "experiment: t\nscheme: nham\nparams: {checkpoint_backend: vm}\n"
        "chain: {vnfs: [{fn: fwd}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    static const char vm_kvm[] =
        "experiment: t\nscheme: nham\nprovider: kvm\nparams: {checkpoint_backend: vm}\n"
        "chain: {vnfs: [{fn: fwd}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    static const char vm_kvm_0r[] =
        "experiment: t\nscheme: nham\nprovider: kvm\n"
        "params: {checkpoint_backend: vm, mechanism: 0R}\n"
        "chain: {vnfs: [{fn: fwd}, {fn: fwd, resiliency: {checkpoint: 3s}}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    static const char vm_kvm_good[] =
        "experiment: t\nscheme: nham\nprovider: kvm\n"
        "params: {checkpoint_backend: vm, mechanism: 1R-AS, checkpoint: 2s}\n"
        "chain: {vnfs: [{fn: fwd}, {fn: fwd, resiliency: {mechanism: 0R}}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    static const char other[] =
        "experiment: t\nscheme: nmr\n"
        "chain: {vnfs: [{fn: fwd, resiliency: {mechanism: 0R}}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    static const char good[] =
        "experiment: t\nscheme: nham\nparams: {mechanism: 0R, replicas: 4}\n"
        "chain:\n"
        "  vnfs:\n"
        "    - {fn: fwd}\n"
        "    - {fn: fwd, resiliency: {mechanism: MR-AA, checkpoint: 100ms}}\n"
        "    - {fn: fwd, resiliency: {mechanism: 1R-AS}}\n"
        "  rules: [udp]\n"
        "workload: {kind: udp, count: 10}\n"
        "sweep: {mechanism: [0R, 1R-AA]}\n";
    const struct scheme_class *nham = scheme_find("nham");
    struct exp_point *pts = NULL;
    struct experiment *e;
    struct diag diag;
    size_t n = 0;

    e = load(bad, &diag);
    assert_null(e);
    assert_int_equal(diag.n, ARRAY_SIZE(expected));
    for (size_t i = 0; i < diag.n; i++) {
        assert_string_equal(diag.msgs[i], expected[i]);
    }
    diag_uninit(&diag);

    /* The criu backend is probed (`criu check`), and refused with the reason when absent. */
    setenv("SFCLAB_CRIU", "/nonexistent/criu", 1);
    e = load(criu, &diag);
    assert_null(e);
    assert_int_equal(diag.n, 1);
    assert_string_equal(diag.msgs[0], "t.yaml:3:30: nham: checkpoint_backend criu is "
                        "unavailable here: no CRIU >= 4.2 built here (run `make criu`; Debian "
                        "12's criu 3.17 fails on this kernel with a vDSO error)");
    diag_uninit(&diag);
    e = load(vm, &diag);
    assert_null(e);
    assert_int_equal(diag.n, 1);
    assert_string_equal(diag.msgs[0], "t.yaml:3:30: nham: checkpoint_backend vm saves and "
                        "restores whole guests; this point's provider, netns, cannot");
    diag_uninit(&diag);
    /* On kvm: vm restores a whole guest, the recovery of 0R and 1R-AS only (the default
     * mechanism is 1R-AA), and not more often than a save can be taken. */
    e = load(vm_kvm, &diag);
    assert_null(e);
    assert_int_equal(diag.n, 1);
    assert_non_null(strstr(diag.msgs[0], "t.yaml:4:30: nham: vnf[0]: checkpoint_backend vm "
                           "restores a VNF's whole guest from its last image, the recovery of "
                           "0R and 1R-AS; 1R-AA keeps running replicas"));
    diag_uninit(&diag);
    e = load(vm_kvm_0r, &diag);
    assert_null(e);
    assert_int_equal(diag.n, 1);
    assert_non_null(strstr(diag.msgs[0], "t.yaml:4:30: nham: vnf[0]: checkpoint 250ms is "
                           "shorter than a whole-guest checkpoint takes here"));
    diag_uninit(&diag);
    e = load(vm_kvm_good, &diag);
    assert_non_null(e);
    assert_int_equal(diag.n, 0);
    diag_uninit(&diag);
    experiment_free(e);

    e = load(other, &diag);
    assert_null(e);
    assert_int_equal(diag.n, 1);
    assert_string_equal(diag.msgs[0], "t.yaml:3:26: scheme 'nmr' takes no per-VNF 'resiliency' "
                        "(a setting of schemes nham and ftc)");
    diag_uninit(&diag);

    e = load(good, &diag);
    assert_non_null(e);
    assert_int_equal(experiment_points(e, &diag, &pts, &n), 0);
    assert_int_equal(n, 2);
    assert_true(scheme_deployable(nham));
    /* Point 1: default 0R for vnf 0, MR-AA with 4 replicas for vnf 1, 1R-AS for vnf 2. */
    assert_string_equal(scheme_vnf_param_value(nham, &pts[0], 0, "mechanism"), "0R");
    assert_string_equal(scheme_vnf_param_value(nham, &pts[0], 1, "mechanism"), "MR-AA");
    assert_string_equal(scheme_vnf_param_value(nham, &pts[0], 1, "checkpoint"), "100ms");
    assert_string_equal(scheme_vnf_param_value(nham, &pts[0], 0, "checkpoint"), "250ms");
    assert_true(nham->has_target(&pts[0], "vnf", 0, 0));
    assert_true(nham->has_target(&pts[0], "vnf", 0, -1));      /* Its active copy. */
    assert_false(nham->has_target(&pts[0], "vnf", 0, 1));
    assert_true(nham->has_target(&pts[0], "vnf", 1, 3));
    assert_false(nham->has_target(&pts[0], "vnf", 1, 4));
    assert_true(nham->has_target(&pts[0], "vnf", 2, 1));
    assert_false(nham->has_target(&pts[0], "vnf", 2, 2));
    /* Point 2: the sweep's mechanism is the default of vnf 0 only. */
    assert_string_equal(scheme_vnf_param_value(nham, &pts[1], 0, "mechanism"), "1R-AA");
    assert_true(nham->has_target(&pts[1], "vnf", 0, 1));
    assert_string_equal(scheme_vnf_param_value(nham, &pts[1], 2, "mechanism"), "1R-AS");
    exp_points_free(pts, n);
    experiment_free(e);
    diag_uninit(&diag);
}

/* ftc's threads, scheme-wide or per VNF (resiliency: {threads: N}): in range, and above 1
 * only where the VNF's middlebox is a packet transaction (monitor and the two NATs), each error
 * at its place. */
static void
test_ftc_threads_checked(void **state)
{
    static const char bad[] =
        "experiment: t\nscheme: ftc\nparams: {threads: 65}\n"
        "chain: {vnfs: [{fn: monitor}, {fn: monitor, resiliency: {threads: 0}}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    static const char firewall[] =
        "experiment: t\nscheme: ftc\nparams: {threads: 2}\n"
        "chain: {vnfs: [{fn: monitor}, {fn: firewall}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    static const char good[] =
        "experiment: t\nscheme: ftc\nparams: {partitions: 16}\n"
        "chain: {vnfs: [{fn: firewall}, {fn: monitor, resiliency: {threads: 4}},\n"
        "               {fn: simplenat, params: {external: 10.0.0.200},\n"
        "                resiliency: {threads: 2}},\n"
        "               {fn: mazunat, params: {external: 10.0.0.201},\n"
        "                resiliency: {threads: 3}}, {fn: fwd}],\n"
        "        rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    static const char sweep[] =
        "experiment: t\nscheme: ftc\n"
        "chain: {length: 2, fill: {fn: monitor, params: {sharing: 8}}, rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n"
        "sweep: {params.threads: [1, 2, 4]}\n";
    struct diag diag;
    struct experiment *e;

    e = load(bad, &diag);
    assert_null(e);
    assert_int_equal(diag.n, 2);
    assert_non_null(strstr(diag.msgs[0], "t.yaml:3:19: "));
    assert_non_null(strstr(diag.msgs[0], "threads must be 1..64, not 65"));
    assert_non_null(strstr(diag.msgs[1], "t.yaml:4:67: ftc: threads must be 1..64, not 0"));
    diag_uninit(&diag);
    e = load(firewall, &diag);
    assert_null(e);
    assert_int_equal(diag.n, 1);
    assert_non_null(strstr(diag.msgs[0], "t.yaml:3:19: ftc: threads > 1 needs the VNF's "
                           "middlebox to be a packet transaction (monitor, simplenat, "
                           "mazunat); vnf[1] is firewall"));
    diag_uninit(&diag);
    e = load(good, &diag);
    for (size_t i = 0; i < diag.n; i++) {
        print_message("%s\n", diag.msgs[i]);
    }
    assert_non_null(e);
    assert_int_equal(diag.n, 0);
    diag_uninit(&diag);
    experiment_free(e);
    e = load(sweep, &diag);
    assert_non_null(e);
    assert_int_equal(diag.n, 0);
    diag_uninit(&diag);
    experiment_free(e);
}

static void
test_markdown_lists_every_scheme(void **state)
{
    struct buf b = BUF_INITIALIZER;

    scheme_format_markdown(&b);
    buf_put_u8(&b, '\0');
    for (size_t i = 0; i < scheme_count(); i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "| `%s` |", scheme_at(i)->name);
        assert_non_null(strstr((char *) b.data, needle));
    }
    /* Every scheme is deployable now: no heading for the others. */
    assert_null(strstr((char *) b.data, "not deployable yet"));
    buf_uninit(&b);
}

struct adder {
    struct run_events *ev;
    int id;
};

static void *
add_events(void *a_)
{
    struct adder *a = a_;

    for (int i = 0; i < 500; i++) {
        char detail[32];
        snprintf(detail, sizeof detail, "%d.%d", a->id, i);
        run_events_add(a->ev, 0, "suspected", "vnf[0].replica[1]", detail);
    }
    return NULL;
}

static void
test_events_from_threads(void **state)
{
    char dir[] = "/tmp/sfct-events-XXXXXX";
    struct store_run_info info = { .experiment = "t", .scheme = "nmr" };
    struct store_event *events = NULL;
    struct store *store = NULL;
    struct run_events *ev;
    struct adder adders[3];
    pthread_t threads[3];
    int64_t run, now;
    uint64_t origin;
    size_t n = 0;
    char *path;

    assert_non_null(mkdtemp(dir));
    path = xasprintf("%s/r.db", dir);
    assert_int_equal(store_open(path, false, &store), 0);
    assert_int_equal(store_run_begin(store, &info, &run), 0);
    store_run_clock(store, run, &now);
    origin = time_mono_ns() - now;
    ev = run_events_create(origin);
    /* An event at a given monotonic time keeps microseconds on the run's clock. */
    assert_int_equal(run_events_time_us(ev, origin + 1234567), 1234);
    run_events_add(ev, origin + 1234567, "fault-injected", "vnf[0].replica[0]", "crash kill");
    for (int i = 0; i < 3; i++) {
        adders[i] = (struct adder) { ev, i };
        pthread_create(&threads[i], NULL, add_events, &adders[i]);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(threads[i], NULL);
    }
    assert_int_equal(run_events_drain(ev, store, run), 1501);
    assert_int_equal(run_events_drain(ev, store, run), 0);
    store_flush(store);
    assert_int_equal(store_events_read(store, run, &events, &n), 0);
    assert_int_equal(n, 1501);
    for (size_t i = 0, found = 0; i < n; i++) {
        assert_int_equal(events[i].t_ns % 1000, 0);
        if (!strcmp(events[i].kind, "fault-injected")) {
            assert_int_equal(events[i].t_ns, 1234000);
            assert_int_equal(++found, 1);
        }
    }
    store_events_free(events, n);
    run_events_destroy(ev);
    store_close(store);
    unlink(path);
    free(path);
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_complete),
        cmocka_unit_test(test_nmr_topology),
        cmocka_unit_test(test_params_and_targets_checked),
        cmocka_unit_test(test_nham_resiliency_checked),
        cmocka_unit_test(test_ftc_threads_checked),
        cmocka_unit_test(test_markdown_lists_every_scheme),
        cmocka_unit_test(test_events_from_threads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
