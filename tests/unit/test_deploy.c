/* Unit tests of deploy (testbed/deploy) and the schemes' deploy (testbed/schemes) on the `test`
 * provider: in-memory guests whose agents record the roles they are asked to run, and the
 * `memory` switch, which keeps the flows it is given. No root, no namespaces, no daemons. For
 * each deployable scheme the test builds the scheme's topology for a point, brings it up,
 * deploys, and checks the guests, the roles each agent was asked to start (with their main
 * arguments, in the order that leaves no hole in the chain), the steering flows and the keys;
 * then that deploy_stop() stops every role, and that a deploy that fails half-way stops what
 * it started. test_deploy_every_scheme() deploys each scheme of the registry, so a new one is
 * covered without a test of its own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "injectors/inject.h"
#include "testbed/deploy/deploy.h"
#include "testbed/infra/instance.h"
#include "testbed/infra/openflow.h"
#include "testbed/infra/provider.h"
#include "testbed/infra/provider_test.h"
#include "testbed/model/diag.h"
#include "testbed/model/experiment.h"
#include "testbed/model/topology.h"
#include "testbed/run/events.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/lib/util.h"

static char state_dir[64];
static int counter;
static char current[32];        /* The instance of the test in progress: a failed assertion
                                 * leaves it up, and the test's teardown cleans it. */

/* One scheme's point, up and deployed on the test provider. */
struct fixture {
    struct experiment *e;
    struct exp_point *pts;
    size_t n_pts;
    const struct scheme_class *scheme;
    struct topology *topo;
    struct instance *inst;
    struct deployment *dep;
    char name[32];
};

static int
setup_state(void **state)
{
    snprintf(state_dir, sizeof state_dir, "/tmp/sfct-deploy-%d", (int) getpid());
    return mkdir(state_dir, 0700) ? -1 : 0;
}

static int
teardown_state(void **state)
{
    return rmdir(state_dir) ? -1 : 0;
}

static int
teardown_test(void **state)
{
    if (current[0]) {
        instance_clean(state_dir, current, false);
        current[0] = '\0';
    }
    return 0;
}

/* Loads 'yaml' (provider: test), builds its scheme's topology and brings it up. */
static void
fixture_up(struct fixture *fx, const char *yaml)
{
    struct instance_opts opts = { .state_dir = state_dir, .agents = true };
    struct diag diag;
    char *err = NULL;

    memset(fx, 0, sizeof *fx);
    diag_init(&diag);
    experiment_load_string("t.yaml", yaml, strlen(yaml), &diag, &fx->e);
    for (size_t i = 0; i < diag.n; i++) {
        print_message("%s\n", diag.msgs[i]);
    }
    assert_non_null(fx->e);
    assert_int_equal(experiment_points(fx->e, &diag, &fx->pts, &fx->n_pts), 0);
    diag_uninit(&diag);
    fx->scheme = scheme_find(fx->pts[0].scheme);
    assert_non_null(fx->scheme);
    assert_int_equal(fx->scheme->topology(&fx->pts[0], &fx->topo, &err), 0);
    snprintf(fx->name, sizeof fx->name, "d%d", counter++);
    opts.name = fx->name;
    snprintf(current, sizeof current, "%s", fx->name);
    assert_int_equal(instance_up(&opts, fx->topo, &fx->inst), 0);
    assert_string_equal(instance_switch_name(fx->inst), "memory");
}

static int
fixture_deploy(struct fixture *fx)
{
    char *work_dir = xasprintf("%s/%s", state_dir, fx->name);
    int error = fx->scheme->deploy(fx->inst, &fx->pts[0], work_dir, &fx->dep);

    free(work_dir);
    return error;
}

static void
fixture_down(struct fixture *fx)
{
    char **names = xcalloc(fx->inst->n_guests, sizeof *names);
    size_t n = fx->inst->n_guests;

    if (fx->dep) {
        fx->scheme->stop(fx->dep);
    }
    for (size_t i = 0; i < n; i++) {
        names[i] = xstrdup(fx->inst->guests[i].name);
    }
    assert_int_equal(instance_down(fx->inst), 0);
    current[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        assert_null(provider_test_find(fx->name, names[i]));
        free(names[i]);
    }
    free(names);
    topology_free(fx->topo);
    exp_points_free(fx->pts, fx->n_pts);
    experiment_free(fx->e);
}

static struct test_guest *
guest_of(struct fixture *fx, const char *name)
{
    struct test_guest *t = provider_test_find(fx->name, name);

    if (!t) {
        fail_msg("no test guest %s", name);
    }
    return t;
}

/* The role guest 'guest' was asked to start whose argv begins with 'prefix' (fails if none). */
static const struct test_role *
role_of(struct fixture *fx, const char *guest, const char *prefix)
{
    const struct test_role *r = provider_test_find_role(guest_of(fx, guest), prefix);

    if (!r) {
        fail_msg("%s ran no role '%s...'", guest, prefix);
    }
    return r;
}

static void
assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle)) {
        fail_msg("'%s' lacks '%s'", haystack, needle);
    }
}

/* "02:..." of guest 'name''s data interface. */
static void
data_mac(struct fixture *fx, const char *name, char s[18])
{
    struct instance_iface *f = deploy_data_iface(instance_find_guest(fx->inst, name));

    assert_non_null(f);
    snprintf(s, 18, "%02x:%02x:%02x:%02x:%02x:%02x",
             f->mac[0], f->mac[1], f->mac[2], f->mac[3], f->mac[4], f->mac[5]);
}

/* PRE, the data MAC of guest 'g0', SEP, that of 'g1', POST: into 'want'. */
static void
two_macs(struct fixture *fx, const char *g0, const char *g1, const char *pre, const char *sep,
         const char *post, char want[128])
{
    char mac0[18], mac1[18];

    data_mac(fx, g0, mac0);
    data_mac(fx, g1, mac1);
    snprintf(want, 128, "%s%s%s%s%s", pre, mac0, sep, mac1, post);
}

static int
data_ofport(struct fixture *fx, const char *name)
{
    return deploy_data_iface(instance_find_guest(fx->inst, name))->ofport;
}

/* How many flows of priority 'priority' the data bridge has. */
static size_t
count_flows(struct fixture *fx, uint16_t priority)
{
    size_t n, count = 0;
    const struct instance_flow *flows = instance_memory_flows(fx->inst, &n);

    for (size_t i = 0; i < n; i++) {
        count += !strcmp(flows[i].bridge, "data") && flows[i].flow->priority == priority;
    }
    return count;
}

/* Every role of every guest of the instance has been stopped. */
static void
assert_all_roles_stopped(struct fixture *fx)
{
    for (size_t i = 0; i < fx->inst->n_guests; i++) {
        struct test_guest *t = guest_of(fx, fx->inst->guests[i].name);
        for (size_t j = 0; j < t->n_roles; j++) {
            if (t->roles[j].running) {
                fail_msg("%s: '%s' still runs", t->name, t->roles[j].argv);
            }
        }
    }
}

static size_t
count_roles(struct fixture *fx)
{
    size_t n = 0;

    for (size_t i = 0; i < fx->inst->n_guests; i++) {
        n += guest_of(fx, fx->inst->guests[i].name)->n_roles;
    }
    return n;
}

static void
assert_key_file(struct fixture *fx, const char *guest)
{
    char *path = xasprintf("%s/%s/guests/%s/ft.key", state_dir, fx->name, guest);
    struct stat st;

    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    free(path);
}

/* The chain without fault tolerance: one guest per component, the server first and the
 * classifier last, the SFF's path through the VNFs' MACs, and the client's requests for the
 * service address steered to the classifier. */
static void
test_deploy_none(void **state)
{
    static const char yaml[] =
        "experiment: t\nprovider: test\nscheme: none\n"
        "chain: {vnfs: [{fn: fwd}, {fn: dns, params: {zone: \"a=10.0.0.1\"}}], rules: [udp]}\n"
        "workload: {kind: dns, count: 10}\n";
    static const char *const guests[] = { "client", "sc", "sff", "server", "v0", "v1" };
    const struct test_role *echo, *v0, *v1, *sff, *sc;
    const struct instance_flow *flows;
    char want[128];
    struct fixture fx;
    size_t n;

    fixture_up(&fx, yaml);
    assert_int_equal(fx.inst->n_guests, ARRAY_SIZE(guests));
    for (size_t i = 0; i < ARRAY_SIZE(guests); i++) {
        assert_non_null(instance_find_guest(fx.inst, guests[i]));
    }
    assert_int_equal(fixture_deploy(&fx), 0);

    echo = role_of(&fx, "server", "echo --iface eth1 --port 7");
    v0 = role_of(&fx, "v0", "vnf --iface eth1 --fn fwd --id 10");
    v1 = role_of(&fx, "v1", "vnf --iface eth1 --fn dns --id 11 --param zone=a=10.0.0.1");
    sff = role_of(&fx, "sff", "sff --iface eth1 --id 2 --path 1:");
    sc = role_of(&fx, "sc", "classifier --iface eth1 --id 1 --sff-mac ");
    assert_true(echo->seq < v0->seq && v0->seq < v1->seq && v1->seq < sff->seq
                && sff->seq < sc->seq);
    two_macs(&fx, "v0", "v1", "--path 1:", ",", " ", want);
    assert_contains(sff->argv, want);
    assert_null(strstr(sff->argv, "--vote"));
    assert_contains(sc->argv, "--rule udp");
    /* The workload is the runner's: nothing runs on the client yet. */
    assert_int_equal(guest_of(&fx, "client")->n_roles, 0);
    assert_int_equal(count_roles(&fx), 5);
    /* The chain ends in dns: the client reaches the virtual service address by a neighbour
     * entry deploy set. */
    assert_int_equal(guest_of(&fx, "client")->n_neighbours, 1);

    /* An L2 flow per data port, and one steering flow: client -> classifier. */
    assert_int_equal(count_flows(&fx, 50), ARRAY_SIZE(guests));
    assert_int_equal(count_flows(&fx, 55) + count_flows(&fx, 60), 0);
    assert_int_equal(count_flows(&fx, 200), 1);
    flows = instance_memory_flows(fx.inst, &n);
    for (size_t i = 0; i < n; i++) {
        const struct of_flow *f = flows[i].flow;
        if (f->priority == 200) {
            assert_true(f->match.fields & OF_F_IN_PORT);
            assert_int_equal(f->match.in_port, data_ofport(&fx, "client"));
            assert_true(f->match.fields & OF_F_IPV4_DST);
            assert_int_equal(f->match.ipv4_dst, fx.dep->service_addr.s_addr);
            assert_int_equal(f->actions.n, 1);
            assert_int_equal(f->actions.a[0].type, OF_ACTION_OUTPUT);
            assert_int_equal(f->actions.a[0].arg, data_ofport(&fx, "sc"));
        }
    }
    assert_non_null(deploy_find(fx.dep, "vnf[1]", NULL));
    assert_null(deploy_find(fx.dep, "vnf[2]", NULL));

    fx.scheme->stop(fx.dep);
    fx.dep = NULL;
    assert_all_roles_stopped(&fx);
    fixture_down(&fx);
}

/* NMR, f=1: three replicas of each VNF on their own guests, one hop "MAC+MAC+MAC" each, and
 * a voter in the SFF under a key file only its owner reads. */
static void
test_deploy_nmr(void **state)
{
    static const char yaml[] =
        "experiment: t\nprovider: test\nscheme: nmr\nparams: {f: 1, timeout: 300ms}\n"
        "chain: {vnfs: [{fn: fwd}, {fn: fwd}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    const struct test_role *sff;
    char mac[3][18], want[256], *key;
    struct fixture fx;

    fixture_up(&fx, yaml);
    /* client, sc, sff, server and 2 x 3 replicas. */
    assert_int_equal(fx.inst->n_guests, 4 + 6);
    assert_int_equal(fixture_deploy(&fx), 0);
    for (int i = 0; i < 2; i++) {
        for (int r = 0; r < 3; r++) {
            char guest[16], prefix[64];

            snprintf(guest, sizeof guest, "v%dr%d", i, r);
            snprintf(prefix, sizeof prefix, "vnf --iface eth1 --fn fwd --id %d",
                     1000 + i * 100 + r);
            role_of(&fx, guest, prefix);
        }
    }
    sff = role_of(&fx, "sff", "sff --iface eth1 --id 2 --path 1:");
    for (int r = 0; r < 3; r++) {
        char guest[16];
        snprintf(guest, sizeof guest, "v0r%d", r);
        data_mac(&fx, guest, mac[r]);
    }
    snprintf(want, sizeof want, "--path 1:%s+%s+%s,", mac[0], mac[1], mac[2]);
    assert_contains(sff->argv, want);
    key = xasprintf("--vote voter --f 1 --vote-param timeout=300ms --key %s/%s/guests/sff/"
                    "ft.key", state_dir, fx.name);
    assert_contains(sff->argv, key);
    free(key);
    assert_key_file(&fx, "sff");
    assert_int_equal(count_roles(&fx), 1 + 6 + 1 + 1);
    assert_int_equal(count_flows(&fx, 50), 10);
    assert_int_equal(count_flows(&fx, 200), 1);
    assert_non_null(deploy_find(fx.dep, "vnf[1].replica[2]", NULL));
    assert_null(deploy_find(fx.dep, "vnf[1].replica[3]", NULL));
    fixture_down(&fx);
}

/* FIT-SFC, f=1: 3f+1 = 4 replicas of the classifier, the SFF and each VNF, a bft_voter in each
 * VNF and SFF replica and the wrapper on the client's guest; no steering flow (the wrapper
 * sends to each classifier itself) but no port may send as another. */
static void
test_deploy_fitsfc(void **state)
{
    static const char yaml[] =
        "experiment: t\nprovider: test\nscheme: fitsfc\nparams: {f: 1}\n"
        "chain: {vnfs: [{fn: dns, params: {zone: \"a=10.0.0.1\"}}], rules: [udp]}\n"
        "workload: {kind: dns, count: 10}\n";
    const struct test_role *wrapper, *vnf, *sff, *sc;
    struct fixture fx;
    size_t n_data;

    fixture_up(&fx, yaml);
    n_data = fx.inst->n_guests;
    assert_true(n_data >= 1 + 3 * 4);
    assert_int_equal(fixture_deploy(&fx), 0);
    for (int r = 0; r < 4; r++) {
        char guest[16];

        snprintf(guest, sizeof guest, "v0r%d", r);
        vnf = role_of(&fx, guest, "vnf --iface eth1 --fn dns --id ");
        assert_contains(vnf->argv, "--param zone=a=10.0.0.1 ");
        assert_contains(vnf->argv, "--vote bft_voter --f 1");
        snprintf(guest, sizeof guest, "sffr%d", r);
        sff = role_of(&fx, guest, "sff --iface eth1 --id ");
        assert_contains(sff->argv, "--vote bft_voter --f 1");
        assert_true(vnf->seq < sff->seq);
        snprintf(guest, sizeof guest, "scr%d", r);
        sc = role_of(&fx, guest, "classifier --iface eth1 --id ");
        assert_contains(sc->argv, "--wrapped");
        assert_true(sff->seq < sc->seq);
    }
    wrapper = role_of(&fx, "client", "wrapper --iface eth1 --id 4000 --listen 10.0.0.250:53");
    assert_contains(wrapper->argv, "--f 1");
    assert_true(sc->seq < wrapper->seq);
    assert_int_equal(count_roles(&fx), 1 + 3 * 4);
    assert_int_equal(count_flows(&fx, 200), 0);
    assert_int_equal(count_flows(&fx, 50), n_data);
    /* Each port may send to every other one with its own MAC, and nothing else. */
    assert_int_equal(count_flows(&fx, 60), n_data * (n_data - 1));
    assert_int_equal(count_flows(&fx, 55), n_data);
    assert_non_null(deploy_find(fx.dep, "sff[0].replica[3]", NULL));
    fixture_down(&fx);
}

/* FTC, f=1: every VNF runs its function behind FTC's ring member, the ring the VNFs' MACs in
 * chain order, under one key written into each VNF guest. */
static void
test_deploy_ftc(void **state)
{
    static const char yaml[] =
        "experiment: t\nprovider: test\nscheme: ftc\nparams: {f: 1}\n"
        "chain: {vnfs: [{fn: monitor}, {fn: monitor}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    char want[128];
    const struct test_role *v0, *v1;
    struct fixture fx;

    fixture_up(&fx, yaml);
    assert_int_equal(fixture_deploy(&fx), 0);
    two_macs(&fx, "v0", "v1", "--ftc-ring ", ",", " --ftc-index ", want);
    v0 = role_of(&fx, "v0", "vnf --iface eth1 --fn monitor --id 10");
    v1 = role_of(&fx, "v1", "vnf --iface eth1 --fn monitor --id 11");
    assert_contains(v0->argv, want);
    assert_contains(v0->argv, "--ftc-index 0 --ftc-f 1 --ftc-incarnation 0 --key ");
    assert_contains(v1->argv, "--ftc-index 1 --ftc-f 1 --ftc-incarnation 0 --key ");
    assert_key_file(&fx, "v0");
    assert_key_file(&fx, "v1");
    assert_null(strstr(role_of(&fx, "sff", "sff ")->argv, "--vote"));
    assert_int_equal(count_flows(&fx, 200), 1);
    fixture_down(&fx);
}

static const struct guest *
running_guest(struct fixture *fx, const char *name)
{
    struct instance_guest *ig = instance_find_guest(fx->inst, name);

    assert_non_null(ig);
    assert_non_null(ig->guest);
    return ig->guest;
}

/* The CPU quota of guest 'name', and its period (microseconds). */
static double
guest_cpus(struct fixture *fx, const char *name)
{
    return running_guest(fx, name)->cpus;
}

static uint64_t
guest_period(struct fixture *fx, const char *name)
{
    return running_guest(fx, name)->cpu_period_us;
}

/* resources.vnf.cpus: each middlebox's own guests (its VNF's, an in-line FTMB logger's) get
 * it, the client, classifier, SFF and server keep resources.cpus; under FTC the first and the
 * last VNF's guests get one more for the forwarder and the buffer (ends: own, the default; not
 * with ends: shared); a VNF's guest replaced in recovery gets its quota again. The same for
 * the quotas' periods (resources.vnf.period, else resources.period, else 100 ms). */
static void
test_deploy_vnf_cpus(void **state)
{
    static const char ftmb[] =
        "experiment: t\nprovider: test\nscheme: ftmb\n"
        "resources: {cpus: 0.5, vnf: {cpus: 0.25}}\n"
        "chain: {vnfs: [{fn: monitor}, {fn: monitor}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    static const char ftc[] =
        "experiment: t\nprovider: test\nscheme: ftc\nparams: {f: 1}\n"
        "resources: {cpus: 0.5, period: 50ms, vnf: {cpus: 0.25, period: 25ms}}\n"
        "chain: {vnfs: [{fn: monitor}, {fn: monitor}, {fn: monitor}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    static const char ftc_shared[] =
        "experiment: t\nprovider: test\nscheme: ftc\nparams: {f: 1, ends: shared}\n"
        "resources: {cpus: 0.5, period: 20ms, vnf: {cpus: 0.25}}\n"
        "chain: {vnfs: [{fn: monitor}, {fn: monitor}, {fn: monitor}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    static const char *const middleboxes[] = { "v0", "v1", "l0", "l1" };
    static const char *const others[] = { "client", "sc", "sff", "server" };
    struct deploy_component *c = NULL;
    struct fixture fx;
    int old_fd = -1;

    fixture_up(&fx, ftmb);
    for (size_t i = 0; i < ARRAY_SIZE(middleboxes); i++) {
        assert_true(guest_cpus(&fx, middleboxes[i]) == 0.25);
        assert_int_equal(guest_period(&fx, middleboxes[i]), 100000);
    }
    for (size_t i = 0; i < ARRAY_SIZE(others); i++) {
        assert_true(guest_cpus(&fx, others[i]) == 0.5);
        assert_int_equal(guest_period(&fx, others[i]), 100000);
    }
    /* Its snapshots' stalls spend the middlebox's own quota (vnfs/sfc/ftmb.h). */
    assert_int_equal(fixture_deploy(&fx), 0);
    assert_contains(role_of(&fx, "v0", "vnf --iface eth1")->argv, "--ftmb-stall-cpus 0.25");
    fixture_down(&fx);

    fixture_up(&fx, ftc);
    assert_true(guest_cpus(&fx, "v0") == 0.5);      /* Middlebox and forwarder. */
    assert_true(guest_cpus(&fx, "v1") == 0.25);
    assert_true(guest_cpus(&fx, "v2") == 0.5);      /* Middlebox and buffer. */
    assert_int_equal(guest_period(&fx, "v0"), 25000);
    assert_int_equal(guest_period(&fx, "v1"), 25000);
    assert_int_equal(guest_period(&fx, "sff"), 50000);
    assert_int_equal(fixture_deploy(&fx), 0);
    for (size_t i = 0; i < fx.dep->n_comps; i++) {
        if (!strcmp(fx.dep->comps[i].name, "vnf[0]")) {
            c = &fx.dep->comps[i];
        }
    }
    assert_non_null(c);
    assert_int_equal(deploy_replace_guest(fx.dep, c, "v0-1", &old_fd), 0);
    if (old_fd >= 0) {
        close(old_fd);
    }
    assert_true(guest_cpus(&fx, "v0-1") == 0.5);
    assert_int_equal(guest_period(&fx, "v0-1"), 25000);
    assert_true(guest_cpus(&fx, "sff") == 0.5);
    fixture_down(&fx);

    fixture_up(&fx, ftc_shared);
    assert_true(guest_cpus(&fx, "v0") == 0.25);
    assert_true(guest_cpus(&fx, "v1") == 0.25);
    assert_true(guest_cpus(&fx, "v2") == 0.25);
    assert_int_equal(guest_period(&fx, "v1"), 20000);      /* resources.period, inherited. */
    assert_int_equal(guest_period(&fx, "server"), 20000);
    fixture_down(&fx);
}

/* The SFF's admission (sff_window) of the schemes of FTC's bench, none, ftc and ftmb: each
 * takes the parameter, 256 by default, and 0 deploys no window, so that the bench runs all
 * three alike with it off (bench/ftc.sh: under per-middlebox quotas the window made none
 * itself slower at length 5 than at 2). */
static void
test_deploy_sff_window(void **state)
{
    static const char *const schemes[] = { "none", "ftc", "ftmb" };
    static const char *const params[] = { "", "params: {sff_window: 0}\n",
                                          "params: {sff_window: 100}\n" };
    static const char *const want[] = { "--window 256", NULL, "--window 100" };

    for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
        for (size_t j = 0; j < ARRAY_SIZE(params); j++) {
            char *yaml = xasprintf("experiment: t\nprovider: test\nscheme: %s\n%s"
                                   "chain: {vnfs: [{fn: monitor}, {fn: monitor}], "
                                   "rules: [udp]}\nworkload: {kind: udp, count: 10}\n",
                                   schemes[i], params[j]);
            struct fixture fx;
            const char *argv;

            fixture_up(&fx, yaml);
            assert_int_equal(fixture_deploy(&fx), 0);
            argv = role_of(&fx, "sff", "sff ")->argv;
            if (want[j]) {
                assert_contains(argv, want[j]);
            } else {
                assert_null(strstr(argv, "--window"));
            }
            fixture_down(&fx);
            free(yaml);
        }
    }
}

/* NHAM, 1R-AS: each VNF an active copy and a standby guest that runs nothing yet, the SFF
 * NHAM's with Hold/Release, every copy beating into a Unix socket the orchestrator bound in
 * its guest's directory (the FMS's end), and steering to the active copies. */
static void
test_deploy_nham(void **state)
{
    static const char yaml[] =
        "experiment: t\nprovider: test\nscheme: nham\nparams: {mechanism: 1R-AS}\n"
        "chain: {vnfs: [{fn: monitor}, {fn: monitor}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    char want[128];
    const struct test_role *sff;
    struct fixture fx;
    struct stat st;

    fixture_up(&fx, yaml);
    assert_int_equal(fixture_deploy(&fx), 0);
    two_macs(&fx, "v0r0", "v0r1", "=", "+", " --param checkpoint.0=", want);
    sff = role_of(&fx, "sff", "nham-sff --hop 02:4e:48:00:00:00=");
    assert_contains(sff->argv, want);
    assert_contains(sff->argv, "--hop 02:4e:48:00:00:01=");
    assert_contains(sff->argv, " --control ");
    for (int i = 0; i < 2; i++) {
        char guest[8], prefix[64];
        const struct test_role *r;

        snprintf(guest, sizeof guest, "v%dr0", i);
        snprintf(prefix, sizeof prefix, "nham-vnf --iface eth1 --hop %d ", i);
        r = role_of(&fx, guest, prefix);
        assert_contains(r->argv, "--fn monitor");
        assert_key_file(&fx, guest);
        /* Its beats go to a socket of ours in its guest's directory. */
        char *beat = strstr(r->argv, "--heartbeat unix:");
        assert_non_null(beat);
        char *path = xstrdup(beat + strlen("--heartbeat unix:"));
        *strchr(path, ' ') = '\0';
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        free(path);
        /* Every 50 ms: heartbeat 5 ms x 10, suspect_min 500 ms / 10 (beats only catch a hang,
         * never sooner than suspect_min after the last one). */
        assert_contains(r->argv, " --beat-interval 50000000 ");
        /* The standby guest runs nothing until it takes over. */
        snprintf(guest, sizeof guest, "v%dr1", i);
        assert_int_equal(guest_of(&fx, guest)->n_roles, 0);
    }
    assert_int_equal(count_flows(&fx, 100), 2);     /* Each hop's MAC to its active copy. */
    /* A fault on the traffic (a man in the middle) aimed at random(vnf[1]) finds the active
     * copy or the VNF's own name for it, never the standby; a crash may hit either. */
    uint64_t rng = 1;
    bool standby_hit = false;
    for (int k = 0; k < 200; k++) {
        const struct deploy_component *c = deploy_find_busy(fx.dep, "random(vnf[1])", &rng,
                                                             true);
        assert_non_null(c);
        assert_string_not_equal(c->name, "vnf[1].replica[1]");
        c = deploy_find_busy(fx.dep, "random(vnf[1])", &rng, false);
        standby_hit |= !strcmp(c->name, "vnf[1].replica[1]");
    }
    assert_true(standby_hit);
    fx.scheme->stop(fx.dep);
    fx.dep = NULL;
    assert_all_roles_stopped(&fx);
    fixture_down(&fx);
}

/* Every scheme of the registry deploys a two-VNF chain that answers (a monitor, then a DNS
 * server: what every scheme takes) on the test provider with its default parameters, starts roles, and stops every one of them: a new scheme is covered here without
 * a line of its own (the tests above check what each one starts). */
static void
test_deploy_every_scheme(void **state)
{
    for (size_t i = 0; i < scheme_count(); i++) {
        char *yaml = xasprintf("experiment: t\nprovider: test\nscheme: %s\n"
                               "chain: {vnfs: [{fn: monitor}, {fn: dns, params: {zone: "
                               "\"a=10.0.0.1\"}}], rules: [udp]}\n"
                               "workload: {kind: dns, count: 10}\n", scheme_at(i)->name);
        struct fixture fx;

        print_message("%s\n", scheme_at(i)->name);
        fixture_up(&fx, yaml);
        assert_int_equal(fixture_deploy(&fx), 0);
        assert_true(count_roles(&fx) >= 4);     /* Client, classifier, SFF, server at least. */
        fx.scheme->stop(fx.dep);
        fx.dep = NULL;
        assert_all_roles_stopped(&fx);
        fixture_down(&fx);
        free(yaml);
    }
}

/* A role's control socket as the host reaches it: the agent's DIR/role-ID.sock, DIR the
 * instance's guests/NAME, on a provider whose guests see their directory at its host path
 * (FTvNF's controller gives the manager its failure notices there); none for a role not
 * started or a guest not in the instance. */
static void
test_role_ctl_path(void **state)
{
    static const char yaml[] =
        "experiment: t\nprovider: test\nscheme: none\n"
        "chain: {vnfs: [{fn: monitor}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    struct fixture fx;
    const char *guest;
    char *path, *want;

    fixture_up(&fx, yaml);
    assert_true(fx.inst->n_guests > 0);
    guest = fx.inst->guests[0].name;
    assert_true(instance_find_guest(fx.inst, guest)->guest->provider->local_sockets);
    path = deploy_role_ctl_path(fx.inst, guest, 7);
    want = xasprintf("%s/%s/guests/%s/role-7.sock", state_dir, fx.name, guest);
    assert_non_null(path);
    assert_string_equal(path, want);
    free(path);
    free(want);
    assert_null(deploy_role_ctl_path(fx.inst, guest, -1));
    assert_null(deploy_role_ctl_path(fx.inst, "no-such-guest", 7));
    fixture_down(&fx);
}

/* FTC's controller: a VNF whose role ends is started again on its guest, as the next
 * incarnation (which fetches its state from the ring); the other VNF is left alone. */
static void
test_ftc_controller_recovers(void **state)
{
    static const char yaml[] =
        "experiment: t\nprovider: test\nscheme: ftc\nparams: {f: 1}\n"
        "chain: {vnfs: [{fn: monitor}, {fn: monitor}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    struct scheme_controller_ctx ctx;
    struct test_guest *v0;
    void *ctl = NULL;
    struct fixture fx;

    fixture_up(&fx, yaml);
    assert_int_equal(fixture_deploy(&fx), 0);
    ctx = (struct scheme_controller_ctx) {
        .inst = fx.inst, .dep = fx.dep, .point = &fx.pts[0],
        .events = run_events_create(time_mono_ns()),
    };
    assert_int_equal(fx.scheme->controller_start(&ctx, &ctl), 0);
    v0 = guest_of(&fx, "v0");
    provider_test_end_role(v0, role_of(&fx, "v0", "vnf ")->id);
    /* Bounded, not timed: the controller looks every 20 ms. */
    for (int i = 0; i < 1000 && v0->n_roles < 2; i++) {
        usleep(10000);
    }
    fx.scheme->controller_stop(ctl);
    assert_int_equal(v0->n_roles, 2);
    assert_true(v0->roles[1].running);
    assert_contains(v0->roles[1].argv, "--ftc-index 0 --ftc-f 1 --ftc-incarnation 1 --key ");
    assert_int_equal(guest_of(&fx, "v1")->n_roles, 1);
    run_events_destroy(ctx.events);
    fixture_down(&fx);
}

/* FTC's controller replacing a destroyed guest (a new guest, the flows to its new ports) while
 * the fault plan's thread injects and heals a mitm on another VNF (its steering flows): each
 * is one change of the instance (instance_changes_lock()), so neither's flows land in the
 * other's batch, and the mitm's flows are whole every time. The memory switch counts a change
 * of one thread between another's change and its barrier, and a batch of changes still open
 * when the lock is let go of (fails, e.g., if inject_apply() did not hold it across a
 * fault's steering). Three recoveries in a row. */
static void
test_ftc_recovery_beside_mitm(void **state)
{
    static const char yaml[] =
        "experiment: t\nprovider: test\nscheme: ftc\nparams: {f: 1}\n"
        "chain: {vnfs: [{fn: monitor}, {fn: monitor}, {fn: monitor}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n"
        "faults: [{kind: mitm, target: \"vnf[2]\", mode: flip, at: 1s}]\n";
    struct inject_params mp = { .mode = "flip", .role_id = -1, .fraction = 1 };
    struct inject_params cp = { .mode = "destroy", .role_id = -1, .fraction = 1 };
    struct scheme_controller_ctx ctx;
    size_t n_before, n, n_guests, rounds = 0;
    void *ctl = NULL;
    struct fixture fx;

    fixture_up(&fx, yaml);
    n_guests = fx.inst->n_guests;
    assert_int_equal(fixture_deploy(&fx), 0);
    instance_memory_flows(fx.inst, &n_before);
    ctx = (struct scheme_controller_ctx) {
        .inst = fx.inst, .dep = fx.dep, .point = &fx.pts[0],
        .events = run_events_create(time_mono_ns()),
    };
    assert_int_equal(fx.scheme->controller_start(&ctx, &ctl), 0);
    for (int k = 1; k <= 3; k++) {
        char name[16];
        struct inject_fault *crash = NULL;
        bool replaced = false;

        snprintf(name, sizeof name, "v0-%d", k);
        assert_int_equal(inject_fault_create(fx.inst, "vnf[0]", "crash", &cp, NULL, &crash), 0);
        assert_int_equal(inject_apply(crash, NULL), 0);
        inject_fault_free(crash);
        /* Bounded, not timed: mitm after mitm until the controller has put v0 back. */
        for (int i = 0; i < 20000 && !replaced; i++) {
            struct inject_fault *f = NULL;

            assert_int_equal(inject_fault_create(fx.inst, "vnf[2]", "mitm", &mp, NULL, &f), 0);
            assert_int_equal(inject_apply(f, NULL), 0);
            instance_changes_lock(fx.inst);
            assert_int_equal(count_flows(&fx, INJECT_PRIORITY), 1);
            assert_int_equal(count_flows(&fx, INJECT_PRIORITY - 10), n_guests - 2);
            assert_int_equal(count_flows(&fx, INJECT_PRIORITY_REST), 1);
            replaced = instance_find_guest(fx.inst, name)
                       && provider_test_find(fx.name, name)
                       && provider_test_find(fx.name, name)->n_roles > 0;
            instance_changes_unlock(fx.inst);
            assert_int_equal(inject_heal(f, NULL), 0);
            inject_fault_free(f);
            rounds++;
            usleep(1000);       /* The bound is then at least 20 s, however fast a round. */
        }
        assert_true(replaced);
    }
    fx.scheme->controller_stop(ctl);
    print_message("%zu mitm injections beside 3 recoveries\n", rounds);
    assert_int_equal(count_flows(&fx, INJECT_PRIORITY), 0);
    instance_memory_flows(fx.inst, &n);
    assert_int_equal(n, n_before);      /* The reroutes replaced v0's flows; the mitm's gone. */
    assert_int_equal(instance_memory_unserialized(fx.inst), 0);
    run_events_destroy(ctx.events);
    fixture_down(&fx);
}

/* The injectors on a deployed chain: a mitm on vnf[0] starts `sfcd mitm` on the attacker and
 * steers vnf[0]'s frames to it (and the attacker's, as vnf[0]'s, to every other guest); heal
 * stops it and takes exactly those flows away. A whole omission is one drop flow. */
static void
test_inject_on_chain(void **state)
{
    static const char yaml[] =
        "experiment: t\nprovider: test\nscheme: none\n"
        "chain: {vnfs: [{fn: fwd}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n"
        "faults: [{kind: mitm, target: \"vnf[0]\", mode: flip, at: 1s}]\n";
    struct inject_params p = { .mode = "flip", .role_id = -1, .fraction = 1 };
    const struct instance_flow *flows;
    const struct test_role *mitm;
    struct inject_fault *f = NULL;
    size_t n_before, n, n_guests;
    struct fixture fx;

    fixture_up(&fx, yaml);
    n_guests = fx.inst->n_guests;       /* client, sc, sff, server, v0, attacker */
    assert_non_null(instance_find_guest(fx.inst, "attacker"));
    assert_int_equal(fixture_deploy(&fx), 0);
    instance_memory_flows(fx.inst, &n_before);

    assert_int_equal(inject_fault_create(fx.inst, "vnf[0]", "mitm", &p, NULL, &f), 0);
    assert_int_equal(inject_apply(f, NULL), 0);
    mitm = role_of(&fx, "attacker", "mitm --iface eth1 --victim-mac ");
    assert_true(mitm->running);
    assert_contains(mitm->argv, "--mode flip");
    /* To the attacker; from it as v0 to each of the other 4 guests; the rest dropped. */
    assert_int_equal(count_flows(&fx, INJECT_PRIORITY), 1);
    assert_int_equal(count_flows(&fx, INJECT_PRIORITY - 10), n_guests - 2);
    assert_int_equal(count_flows(&fx, INJECT_PRIORITY_REST), 1);
    flows = instance_memory_flows(fx.inst, &n);
    for (size_t i = 0; i < n; i++) {
        const struct of_flow *fl = flows[i].flow;
        if (fl->priority == INJECT_PRIORITY) {
            assert_int_equal(fl->match.in_port, data_ofport(&fx, "v0"));
            assert_int_equal(fl->actions.a[0].arg, data_ofport(&fx, "attacker"));
        }
    }
    assert_int_equal(inject_heal(f, NULL), 0);
    assert_false(mitm->running);
    instance_memory_flows(fx.inst, &n);
    assert_int_equal(n, n_before);
    inject_fault_free(f);

    p.mode = NULL;
    assert_int_equal(inject_fault_create(fx.inst, "vnf[0]", "omission", &p, NULL, &f), 0);
    assert_int_equal(inject_apply(f, NULL), 0);
    assert_int_equal(count_flows(&fx, INJECT_PRIORITY), 1);
    flows = instance_memory_flows(fx.inst, &n);
    assert_int_equal(n, n_before + 1);
    assert_int_equal(flows[n - 1].flow->actions.n, 0);
    assert_int_equal(flows[n - 1].flow->match.in_port, data_ofport(&fx, "v0"));
    assert_int_equal(inject_heal(f, NULL), 0);
    instance_memory_flows(fx.inst, &n);
    assert_int_equal(n, n_before);
    inject_fault_free(f);
    fixture_down(&fx);
}

/* The flow of the data bridge a frame from port 'in_port', 'src' -> 'dst', takes: the highest
 * priority one whose match covers it (the switch's choice; NULL: none, a drop). */
static const struct of_flow *
lookup_flow(struct fixture *fx, uint32_t in_port, const uint8_t src[6], const uint8_t dst[6])
{
    const struct instance_flow *flows;
    const struct of_flow *best = NULL;
    size_t n;

    flows = instance_memory_flows(fx->inst, &n);
    for (size_t i = 0; i < n; i++) {
        const struct of_flow *f = flows[i].flow;
        const struct of_match *m = &f->match;

        if (strcmp(flows[i].bridge, "data") || f->table_id
            || (m->fields & ~(OF_F_IN_PORT | OF_F_ETH_SRC | OF_F_ETH_DST))
            || ((m->fields & OF_F_IN_PORT) && m->in_port != in_port)
            || ((m->fields & OF_F_ETH_SRC) && memcmp(m->eth_src, src, 6))
            || ((m->fields & OF_F_ETH_DST) && memcmp(m->eth_dst, dst, 6))) {
            continue;
        }
        if (!best || f->priority > best->priority) {
            best = f;
        }
    }
    return best;
}

/* A man in the middle on NHAM's SFF: the SFF sends its DATA to each hop's virtual MAC, which
 * the scheme's flow (priority 100) maps to the active copy. What the attacker sends on as the
 * SFF must take that flow too; the mitm's catch-all for unknown destinations once outranked
 * it and flooded the frames, address unchanged, to ports where no guest took them: the chain
 * stopped when the attack began (compare-intrusion, replay-sff: 10.5% available). After a
 * failover the SFF sends to the copy that said READY at its own MAC (vnfs/sfc/nham.c): the
 * deployment's static L2 rules must take that to the copy, with or without the attacker. */
static void
test_mitm_on_nham_sff(void **state)
{
    static const char yaml[] =
        "experiment: t\nprovider: test\nscheme: nham\nparams: {mechanism: 1R-AA}\n"
        "chain: {vnfs: [{fn: monitor}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n"
        "faults: [{kind: mitm, target: \"sff[0]\", mode: replay, at: 1s}]\n";
    static const uint8_t vmac[6] = { 0x02, 0x4e, 0x48, 0, 0, 0 };
    struct inject_params p = { .mode = "replay", .role_id = -1, .fraction = 1 };
    const struct instance_iface *sff, *copy, *standby;
    struct inject_fault *f = NULL;
    const struct of_flow *fl;
    struct fixture fx;

    fixture_up(&fx, yaml);
    assert_int_equal(fixture_deploy(&fx), 0);
    sff = deploy_data_iface(instance_find_guest(fx.inst, "sff"));
    copy = deploy_data_iface(instance_find_guest(fx.inst, "v0r0"));
    standby = deploy_data_iface(instance_find_guest(fx.inst, "v0r1"));
    /* Before the attack: the SFF's frame to the hop goes to the active copy, and one to the
     * standby's own MAC (after it took over) to the standby, by no rule of the scheme's. */
    fl = lookup_flow(&fx, sff->ofport, sff->mac, vmac);
    assert_non_null(fl);
    assert_int_equal(fl->actions.a[fl->actions.n - 1].arg, copy->ofport);
    fl = lookup_flow(&fx, sff->ofport, sff->mac, standby->mac);
    assert_non_null(fl);
    assert_true(fl->priority < 100);
    assert_int_equal(fl->actions.n, 1);
    assert_int_equal(fl->actions.a[0].arg, standby->ofport);

    assert_int_equal(inject_fault_create(fx.inst, "sff[0]", "mitm", &p, NULL, &f), 0);
    assert_int_equal(inject_apply(f, NULL), 0);
    /* The SFF's frame goes to the attacker, and the attacker's copy of it to the copy. */
    fl = lookup_flow(&fx, sff->ofport, sff->mac, vmac);
    assert_int_equal(fl->priority, INJECT_PRIORITY);
    assert_int_equal(fl->actions.a[0].arg, data_ofport(&fx, "attacker"));
    fl = lookup_flow(&fx, data_ofport(&fx, "attacker"), sff->mac, vmac);
    assert_non_null(fl);
    assert_int_equal(fl->actions.n, 2);
    assert_int_equal(fl->actions.a[0].type, OF_ACTION_SET_FIELD);
    assert_memory_equal(fl->actions.a[0].set.eth_dst, copy->mac, 6);
    assert_int_equal(fl->actions.a[1].arg, copy->ofport);
    /* And the attacker's copy of a frame to the standby's own MAC to the standby. */
    fl = lookup_flow(&fx, data_ofport(&fx, "attacker"), sff->mac, standby->mac);
    assert_non_null(fl);
    assert_int_equal(fl->actions.n, 1);
    assert_int_equal(fl->actions.a[0].arg, standby->ofport);
    /* A broadcast of the SFF still goes to every other guest. */
    fl = lookup_flow(&fx, data_ofport(&fx, "attacker"), sff->mac,
                     (const uint8_t[6]) { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff });
    assert_non_null(fl);
    assert_int_equal(fl->priority, INJECT_PRIORITY_REST);
    assert_int_equal(fl->actions.n, fx.inst->n_guests - 2);
    assert_int_equal(inject_heal(f, NULL), 0);
    inject_fault_free(f);
    fixture_down(&fx);
}

/* A deploy that fails half-way stops what it started: no role is left running. And one
 * whose guest's agent does not answer starts nothing. */
static void
test_deploy_fails_cleanly(void **state)
{
    static const char yaml[] =
        "experiment: t\nprovider: test\nscheme: none\n"
        "chain: {vnfs: [{fn: fwd}, {fn: fwd}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    struct fixture fx;

    fixture_up(&fx, yaml);
    /* The server's echo and v0's vnf have started by then. */
    guest_of(&fx, "v1")->refuse_roles = true;
    assert_int_equal(fixture_deploy(&fx), EREMOTEIO);
    assert_null(fx.dep);
    assert_int_equal(count_roles(&fx), 2);
    assert_all_roles_stopped(&fx);
    guest_of(&fx, "v1")->refuse_roles = false;

    provider_test_crash(guest_of(&fx, "v1"));
    assert_int_equal(fixture_deploy(&fx), ECONNREFUSED);
    assert_int_equal(count_roles(&fx), 2);
    fixture_down(&fx);
}

/* The memory switch's tables behave as OpenFlow's: an add of the same match and priority
 * replaces, a strict delete takes only that flow, a loose one everything it covers. */
static void
test_memory_switch_flows(void **state)
{
    static const char yaml[] =
        "experiment: t\nprovider: test\nscheme: none\n"
        "chain: {vnfs: [{fn: fwd}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
    struct of_flow a = { .priority = 300 }, b = { .priority = 301 }, del = { .priority = 300 };
    struct fixture fx;
    size_t n;

    fixture_up(&fx, yaml);
    of_match_in_port(&a.match, 3);
    of_match_eth_dst(&a.match, mac);
    of_actions_output(&a.actions, 4);
    b.match = a.match;
    assert_int_equal(instance_flow_add(fx.inst, "data", &a), 0);
    of_actions_output(&a.actions, 5);
    assert_int_equal(instance_flow_add(fx.inst, "data", &a), 0);
    assert_int_equal(instance_flow_add(fx.inst, "data", &b), 0);
    assert_int_equal(instance_flow_barrier(fx.inst, "data"), 0);
    assert_int_equal(count_flows(&fx, 300), 1);
    assert_int_equal(instance_memory_flows(fx.inst, &n)[0].flow->actions.n, 2);
    assert_int_equal(n, 2);
    assert_int_equal(instance_flow_add(fx.inst, "nosuch", &a), ENOENT);

    of_match_in_port(&del.match, 3);
    assert_int_equal(instance_flow_delete(fx.inst, "data", &del, true), 0);
    instance_memory_flows(fx.inst, &n);
    assert_int_equal(n, 2);             /* Strict: not the same match. */
    assert_int_equal(instance_flow_delete(fx.inst, "data", &del, false), 0);
    instance_memory_flows(fx.inst, &n);
    assert_int_equal(n, 0);
    fixture_down(&fx);
}

/* The memory switch's groups behave as OpenFlow's: an id in use is refused, a flow may output
 * only to a group that exists, a modify replaces the buckets, and a delete takes the flows
 * that output to the group; the ports come from the instance (instance_ofport()). */
static void
test_memory_switch_groups(void **state)
{
    static const char yaml[] =
        "experiment: t\nprovider: test\nscheme: none\n"
        "chain: {vnfs: [{fn: fwd}], rules: [udp]}\n"
        "workload: {kind: udp, count: 10}\n";
    struct of_group *g = xzalloc(sizeof *g);
    struct of_flow to_group = { .priority = 400 }, other = { .priority = 401 };
    const struct instance_group *groups;
    uint32_t ports[2];
    struct fixture fx;
    size_t n;

    fixture_up(&fx, yaml);
    ports[0] = instance_ofport(fx.inst, fx.inst->guests[0].name, "data");
    ports[1] = instance_ofport(fx.inst, fx.inst->guests[1].name, "data");
    assert_true(ports[0] > 0 && ports[1] > 0 && ports[0] != ports[1]);
    assert_int_equal(instance_ofport(fx.inst, "nosuch", "data"), 0);
    assert_int_equal(instance_ofport(fx.inst, fx.inst->guests[0].name, "nosuch"), 0);

    of_match_in_port(&to_group.match, 3);
    of_actions_group(&to_group.actions, 7);
    assert_int_equal(instance_flow_add(fx.inst, "data", &to_group), ENOENT);

    of_group_fast_failover(g, 7, ports, 2);
    assert_int_equal(instance_group_add(fx.inst, "data", g), 0);
    assert_int_equal(instance_group_add(fx.inst, "data", g), EEXIST);
    assert_int_equal(instance_group_add(fx.inst, "nosuch", g), ENOENT);
    assert_int_equal(instance_flow_add(fx.inst, "data", &to_group), 0);
    of_match_in_port(&other.match, 4);
    of_actions_output(&other.actions, ports[0]);
    assert_int_equal(instance_flow_add(fx.inst, "data", &other), 0);
    assert_int_equal(instance_flow_barrier(fx.inst, "data"), 0);
    groups = instance_memory_groups(fx.inst, &n);
    assert_int_equal(n, 1);
    assert_int_equal(groups[0].group->type, OF_GROUP_TYPE_FAST_FAILOVER);
    assert_int_equal(groups[0].group->n_buckets, 2);
    assert_int_equal(groups[0].group->buckets[0].watch_port, ports[0]);
    assert_int_equal(groups[0].group->buckets[1].watch_port, ports[1]);

    of_group_select(g, 7, ports, 2);
    assert_int_equal(instance_group_modify(fx.inst, "data", g), 0);
    assert_int_equal(instance_memory_groups(fx.inst, &n)[0].group->type, OF_GROUP_TYPE_SELECT);
    g->group_id = 8;
    assert_int_equal(instance_group_modify(fx.inst, "data", g), ENOENT);

    assert_int_equal(instance_group_delete(fx.inst, "data", 7), 0);
    instance_memory_groups(fx.inst, &n);
    assert_int_equal(n, 0);
    assert_int_equal(count_flows(&fx, 400), 0);     /* It went with its group. */
    assert_int_equal(count_flows(&fx, 401), 1);     /* Not this one. */

    assert_int_equal(instance_group_add(fx.inst, "data", g), 0);
    g->group_id = 9;
    assert_int_equal(instance_group_add(fx.inst, "data", g), 0);
    assert_int_equal(instance_group_delete(fx.inst, "data", OF_GROUP_ALL), 0);
    instance_memory_groups(fx.inst, &n);
    assert_int_equal(n, 0);
    free(g);
    fixture_down(&fx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_deploy_none, teardown_test),
        cmocka_unit_test_teardown(test_deploy_nmr, teardown_test),
        cmocka_unit_test_teardown(test_deploy_fitsfc, teardown_test),
        cmocka_unit_test_teardown(test_deploy_ftc, teardown_test),
        cmocka_unit_test_teardown(test_deploy_vnf_cpus, teardown_test),
        cmocka_unit_test_teardown(test_deploy_sff_window, teardown_test),
        cmocka_unit_test_teardown(test_role_ctl_path, teardown_test),
        cmocka_unit_test_teardown(test_ftc_controller_recovers, teardown_test),
        cmocka_unit_test_teardown(test_ftc_recovery_beside_mitm, teardown_test),
        cmocka_unit_test_teardown(test_deploy_nham, teardown_test),
        cmocka_unit_test_teardown(test_deploy_every_scheme, teardown_test),
        cmocka_unit_test_teardown(test_inject_on_chain, teardown_test),
        cmocka_unit_test_teardown(test_mitm_on_nham_sff, teardown_test),
        cmocka_unit_test_teardown(test_deploy_fails_cleanly, teardown_test),
        cmocka_unit_test_teardown(test_memory_switch_flows, teardown_test),
        cmocka_unit_test_teardown(test_memory_switch_groups, teardown_test),
    };

    return cmocka_run_group_tests(tests, setup_state, teardown_state);
}
