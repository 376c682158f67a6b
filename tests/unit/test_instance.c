/* Unit tests of the instance, the guest life cycle and the injectors' target logic on the
 * `test` provider (in-memory guests, the `memory` switch): no root, no namespaces, no daemons.
 * What they check is the orchestration: what `up` makes and records, that `down` and a failed
 * `up` leave nothing (neither state on disk nor guests), guests added and removed at run time,
 * instance.json found again by instance_open(), and faults resolved and applied. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "injectors/inject.h"
#include "testbed/infra/instance.h"
#include "testbed/infra/provider.h"
#include "testbed/infra/provider_test.h"
#include "testbed/model/diag.h"
#include "testbed/model/topology.h"
#include "vnfs/lib/util.h"

static const char line3[] =
    "name: line3\n"
    "provider: test\n"
    "bridges:\n"
    "  - name: data\n"
    "guests:\n"
    "  - name: h1\n"
    "  - name: h2\n"
    "  - name: h3\n"
    "    cpus: 0.5\n"
    "links:\n"
    "  - {guest: h1, bridge: data, address: 10.0.0.1/24}\n"
    "  - {guest: h2, bridge: data, address: 10.0.0.2/24, rate: 10mbit}\n"
    "  - {guest: h3, bridge: data, address: 10.0.0.3/24}\n";

static char state_dir[64];
static int counter;

static struct topology *
load(const char *yaml)
{
    struct topology *topo = NULL;
    struct diag diag;

    diag_init(&diag);
    assert_int_equal(topology_load_string("test.yaml", yaml, strlen(yaml), &diag, &topo), 0);
    diag_uninit(&diag);
    return topo;
}

static struct instance_opts
opts_for(const char *name)
{
    return (struct instance_opts) { .name = name, .state_dir = state_dir, .agents = true };
}

/* STATE/'rel' exists. */
static bool
exists_in_state(const char *rel)
{
    char *path = xasprintf("%s/%s", state_dir, rel);
    bool yes = !access(path, F_OK);

    free(path);
    return yes;
}

/* STATE/'name'/'rel' exists. */
static bool
exists_under(const char *name, const char *rel)
{
    char *path = xasprintf("%s/%s", name, rel);
    bool yes = exists_in_state(path);

    free(path);
    return yes;
}

static int
setup(void **state)
{
    snprintf(state_dir, sizeof state_dir, "/tmp/sfct-unit-inst-%ld", (long) getpid());
    return mkdir(state_dir, 0755) ? -1 : 0;
}

static int
teardown(void **state)
{
    return rmdir(state_dir) ? -1 : 0;
}

/* A name per test, so that one test's leftovers cannot hide another's. */
static const char *
next_name(char buf[32])
{
    snprintf(buf, 32, "ut%d", ++counter);
    return buf;
}

static void
test_up_open_down(void **state)
{
    struct topology *topo = load(line3);
    struct instance_opts opts;
    struct instance *inst = NULL, *again = NULL;
    char name[32];

    opts = opts_for(next_name(name));
    assert_int_equal(instance_up(&opts, topo, &inst), 0);
    assert_string_equal(instance_switch_name(inst), "memory");
    assert_null(inst->netns_path);
    assert_int_equal(inst->n_guests, 3);
    assert_int_equal(provider_test_count(), 3);
    for (size_t i = 0; i < 3; i++) {
        struct instance_guest *ig = &inst->guests[i];
        struct test_guest *tg = provider_test_find(name, ig->name);

        assert_non_null(tg);
        assert_int_equal(tg->state, GUEST_RUNNING);
        assert_true(tg->created_in_manifest);
        /* Management first, then the data link, as the provider was asked to plug them. */
        assert_int_equal(ig->n_ifaces, 2);
        assert_int_equal(tg->n_ifaces, 2);
        assert_string_equal(tg->ifaces[0].ifname, "eth0");
        assert_string_equal(tg->ifaces[1].ifname, "eth1");
        assert_string_equal(tg->ifaces[1].port, ig->ifaces[1].port);
        assert_memory_equal(tg->ifaces[1].mac, ig->ifaces[1].mac, 6);
        assert_true(tg->ifaces[0].has_addr);
        assert_int_equal(tg->ifaces[0].addr.s_addr, ig->mgmt_addr.s_addr);
        assert_int_equal(tg->ifaces[1].prefix_len, 24);
        /* Port numbers per bridge, in order. */
        assert_int_equal(ig->ifaces[0].ofport, (int) i + 1);
        assert_int_equal(ig->ifaces[1].ofport, (int) i + 1);
        assert_int_equal(tg->cpu, -1);
    }
    assert_true(exists_under(name, "instance.json"));
    assert_true(exists_under(name, "guests/h1"));
    instance_close(inst);
    /* Closing releases the guests; they still run. */
    assert_int_equal(provider_test_count(), 3);

    assert_int_equal(instance_open(&opts, &again), 0);
    assert_int_equal(again->n_guests, 3);
    assert_string_equal(instance_switch_name(again), "memory");
    for (size_t i = 0; i < 3; i++) {
        assert_non_null(again->guests[i].guest);
        assert_int_equal(guest_state(again->guests[i].guest), GUEST_RUNNING);
        assert_int_equal(again->guests[i].ifaces[1].ofport, (int) i + 1);
    }
    assert_string_equal(again->guests[2].ifaces[1].bridge, "data");
    /* No management network: the agent is reached through the provider, and nothing else. */
    int fd, restarts = -1;
    assert_int_equal(instance_mgmt_connect(again, again->guests[0].mgmt_addr, 7071, 10, &fd),
                     ENETUNREACH);
    assert_int_equal(instance_agent_ping(again, &again->guests[0], 1000, &restarts), 0);
    assert_int_equal(restarts, 0);
    assert_int_equal(guest_pause(again->guests[1].guest), 0);
    assert_int_equal(instance_agent_ping(again, &again->guests[1], 1000, &restarts),
                     EREMOTEIO);
    assert_int_equal(guest_resume(again->guests[1].guest), 0);

    assert_int_equal(instance_down(again), 0);
    assert_int_equal(provider_test_count(), 0);
    assert_false(exists_in_state(name));
    topology_free(topo);
}

/* A guest that cannot be made half-way through `up`: what was made is undone, also the guests
 * made before it. */
static void
test_up_failure_undoes(void **state)
{
    struct topology *topo = load(line3);
    struct instance_opts opts;
    struct instance *inst = NULL;
    struct guest *squatter = NULL;
    char name[32];
    struct guest_config cfg = { .name = "h3", .instance = NULL, .sfcd = "/bin/true" };

    opts = opts_for(next_name(name));
    cfg.instance = name;
    assert_int_equal(guest_create("test", &cfg, NULL, &squatter), 0);
    assert_int_equal(instance_up(&opts, topo, &inst), EEXIST);
    assert_null(inst);
    assert_false(exists_in_state(name));
    assert_null(provider_test_find(name, "h1"));
    assert_null(provider_test_find(name, "h2"));
    assert_int_equal(provider_test_count(), 1);
    assert_int_equal(guest_destroy(squatter), 0);

    /* And the same name comes up cleanly afterwards. */
    assert_int_equal(instance_up(&opts, topo, &inst), 0);
    /* A second `up` of a running instance is refused and touches nothing. */
    struct instance *second = NULL;
    assert_int_equal(instance_up(&opts, topo, &second), EEXIST);
    assert_int_equal(provider_test_count(), 3);
    assert_int_equal(instance_down(inst), 0);
    assert_int_equal(provider_test_count(), 0);
    topology_free(topo);
}

static void
test_mixed_providers_refused(void **state)
{
    struct topology *topo = load("name: mixed\nprovider: test\nguests:\n  - name: a\n"
                                 "  - name: b\n    provider: netns\n");
    struct instance_opts opts;
    struct instance *inst = NULL;
    char name[32];

    opts = opts_for(next_name(name));
    assert_int_equal(instance_up(&opts, topo, &inst), EINVAL);
    assert_false(exists_in_state(name));
    assert_int_equal(provider_test_count(), 0);
    topology_free(topo);
}

static void
test_add_remove_guest(void **state)
{
    struct topology *topo = load(line3);
    struct instance_opts opts;
    struct instance *inst = NULL;
    struct instance_guest *ig;
    char name[32];
    struct instance_link_spec link = { .bridge = "data", .has_addr = true, .prefix_len = 24 };
    struct instance_guest_spec spec = {
        .name = "spare", .provider = "test", .cpus = 1, .memory = 64 << 20,
        .links = &link, .n_links = 1,
    };
    uint8_t mac_h3[6];

    inet_aton("10.0.0.9", &link.addr);
    opts = opts_for(next_name(name));
    assert_int_equal(instance_up(&opts, topo, &inst), 0);
    memcpy(mac_h3, inst->guests[2].ifaces[1].mac, 6);
    instance_close(inst);

    /* As recovery would: open the running instance and add a guest to it. */
    assert_int_equal(instance_open(&opts, &inst), 0);
    assert_int_equal(instance_add_guest(inst, &spec), 0);
    ig = instance_find_guest(inst, "spare");
    assert_non_null(ig);
    assert_int_equal(guest_state(ig->guest), GUEST_RUNNING);
    assert_int_equal(ig->n_ifaces, 2);
    assert_int_equal(ig->ifaces[1].ofport, 4);
    assert_int_equal(ig->ifaces[0].ofport, 4);
    /* The next management address after h3's, a MAC no other guest has. */
    assert_int_equal(ntohl(ig->mgmt_addr.s_addr), ntohl(inst->guests[2].mgmt_addr.s_addr) + 1);
    assert_memory_not_equal(ig->ifaces[1].mac, mac_h3, 6);
    assert_true(exists_under(name, "guests/spare"));
    /* Taken names, unknown bridges and foreign providers are refused before anything is made. */
    assert_int_equal(instance_add_guest(inst, &spec), EEXIST);
    struct instance_link_spec bad = { .bridge = "nosuch" };
    struct instance_guest_spec bad_spec = { .name = "x", .provider = "test", .links = &bad,
                                            .n_links = 1 };
    assert_int_equal(instance_add_guest(inst, &bad_spec), ENOENT);
    bad_spec = (struct instance_guest_spec) { .name = "y", .provider = "netns" };
    assert_int_equal(instance_add_guest(inst, &bad_spec), EINVAL);
    assert_int_equal(provider_test_count(), 4);
    instance_close(inst);

    /* Recorded: another process finds it, and removes it. */
    assert_int_equal(instance_open(&opts, &inst), 0);
    assert_int_equal(inst->n_guests, 4);
    assert_non_null(instance_find_guest(inst, "spare"));
    assert_int_equal(instance_remove_guest(inst, "spare"), 0);
    assert_int_equal(instance_remove_guest(inst, "spare"), ENOENT);
    assert_null(provider_test_find(name, "spare"));
    assert_false(exists_under(name, "guests/spare"));
    /* The others keep their order. */
    assert_string_equal(inst->guests[0].name, "h1");
    assert_string_equal(inst->guests[2].name, "h3");
    instance_close(inst);
    assert_int_equal(instance_open(&opts, &inst), 0);
    assert_int_equal(inst->n_guests, 3);
    /* The same name again: its agent directory was removed with it. */
    assert_int_equal(instance_add_guest(inst, &spec), 0);
    assert_int_equal(instance_down(inst), 0);
    assert_int_equal(provider_test_count(), 0);
    assert_false(exists_in_state(name));
    topology_free(topo);
}

/* A recovery's new guest in a dead one's place: same entry, same MACs and addresses, a new
 * name and new ports; the old one is gone, and `down` undoes the new one too. */
static void
test_replace_guest(void **state)
{
    struct topology *topo = load(line3);
    struct instance_opts opts;
    struct instance *inst = NULL;
    struct instance_guest *ig, before;
    struct instance_iface data_before;
    char name[32];

    opts = opts_for(next_name(name));
    assert_int_equal(instance_up(&opts, topo, &inst), 0);
    ig = instance_find_guest(inst, "h2");
    assert_non_null(ig);
    before = *ig;
    data_before = ig->ifaces[1];
    assert_int_equal(instance_replace_guest(inst, "h2", "h2-1", 1, 25000, 64 << 20), 0);
    /* The same entry, now the new guest, running, with the old one's identity. */
    assert_ptr_equal(instance_find_guest(inst, "h2-1"), ig);
    assert_null(instance_find_guest(inst, "h2"));
    assert_int_equal(inst->n_guests, 3);
    assert_string_equal(ig->name, "h2-1");
    assert_int_equal(guest_state(ig->guest), GUEST_RUNNING);
    assert_int_equal(ig->guest->cpu_period_us, 25000);
    assert_ptr_not_equal(ig->guest, before.guest);
    assert_null(provider_test_find(name, "h2"));
    assert_non_null(provider_test_find(name, "h2-1"));
    assert_int_equal(ig->n_ifaces, 2);
    assert_memory_equal(ig->ifaces[1].mac, data_before.mac, 6);
    assert_memory_equal(ig->ifaces[0].mac, before.ifaces[0].mac, 6);
    assert_int_equal(ig->mgmt_addr.s_addr, before.mgmt_addr.s_addr);
    assert_int_equal(ig->ifaces[1].addr.s_addr, data_before.addr.s_addr);
    assert_string_equal(ig->ifaces[1].bridge, "data");
    assert_string_not_equal(ig->ifaces[1].port, data_before.port);
    assert_true(ig->ifaces[1].ofport > 0);
    assert_true(exists_under(name, "guests/h2-1"));
    /* Unknown and taken names are refused, and nothing changes. */
    assert_int_equal(instance_replace_guest(inst, "h2", "h2-2", 1, 0, 0), ENOENT);
    assert_int_equal(instance_replace_guest(inst, "h2-1", "h3", 1, 0, 0), EEXIST);
    assert_int_equal(provider_test_count(), 3);
    instance_close(inst);

    /* Recorded: another process finds the new guest in the old one's place. */
    assert_int_equal(instance_open(&opts, &inst), 0);
    assert_int_equal(inst->n_guests, 3);
    assert_string_equal(inst->guests[1].name, "h2-1");
    assert_memory_equal(inst->guests[1].ifaces[1].mac, data_before.mac, 6);
    assert_int_equal(instance_down(inst), 0);
    assert_int_equal(provider_test_count(), 0);
    assert_false(exists_in_state(name));
    topology_free(topo);
}

static void
test_guest_lifecycle(void **state)
{
    struct guest_config cfg = { .name = "g1", .instance = "life", .sfcd = "/bin/true",
                                .cpus = 1, .memory = 32 << 20 };
    struct guest *g = NULL, *g2 = NULL;
    struct test_guest *tg;
    struct guest_stats st;
    char *argv[] = { "dig", "@10.0.0.250", "www.example.com", NULL };
    char *handle;
    int status;
    char path[64];

    assert_int_equal(guest_create("nosuch", &cfg, NULL, &g), EINVAL);
    assert_int_equal(guest_create("test", &cfg, NULL, &g), 0);
    tg = provider_test_find("life", "g1");
    assert_non_null(tg);
    assert_int_equal(guest_state(g), GUEST_STOPPED);
    assert_null(guest_handle(g));
    assert_int_equal(guest_exec_wait(g, argv, NULL, &status), ESRCH);
    assert_int_equal(guest_pause(g), ESRCH);

    assert_int_equal(guest_start(g), 0);
    assert_int_equal(guest_start(g), EBUSY);
    assert_int_equal(guest_state(g), GUEST_RUNNING);
    assert_int_equal(guest_exec_wait(g, argv, NULL, &status), 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tg->exec_status = 3;
    assert_int_equal(guest_exec_wait(g, argv, NULL, &status), 0);
    assert_int_equal(WEXITSTATUS(status), 3);
    assert_int_equal(tg->n_execs, 2);
    assert_string_equal(tg->execs[0], "dig @10.0.0.250 www.example.com");
    char *none[] = { NULL };
    assert_int_equal(guest_exec_wait(g, none, NULL, &status), EINVAL);

    assert_int_equal(guest_pause(g), 0);
    assert_int_equal(guest_state(g), GUEST_PAUSED);
    assert_int_equal(guest_resume(g), 0);
    assert_int_equal(guest_state(g), GUEST_RUNNING);

    /* Stats are deterministic: 10 ms per start and 1 ms per exec; 8 MiB, 1 MiB an iface. */
    assert_int_equal(guest_stats(g, &st), 0);
    assert_int_equal(st.cpu_ns, 12000000);
    assert_int_equal(st.mem_bytes, 8 << 20);
    struct guest_iface f = { .ifname = "eth0", .port = "g1-eth0" };
    assert_int_equal(guest_plug_iface(g, NULL, &f), 0);
    assert_int_equal(guest_plug_iface(g, NULL, &f), EEXIST);
    assert_int_equal(guest_stats(g, &st), 0);
    assert_int_equal(st.mem_bytes, 9 << 20);
    assert_int_equal(guest_set_link(g, "eth0", false), 0);
    assert_false(tg->ifaces[0].up);
    assert_int_equal(guest_set_link(g, "eth7", false), ENODEV);
    struct in_addr ip = { htonl(0x0a0000fa) };
    static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
    assert_int_equal(guest_neigh_add(g, "eth0", ip, mac), 0);
    assert_int_equal(tg->n_neighbours, 1);
    assert_int_equal(guest_pin(g, 1), 0);
    assert_int_equal(tg->cpu, 1);
    int fd;
    assert_int_equal(guest_netns_fd(g, &fd), ENOTSUP);

    /* Reattach from the handle, as another process would; a wrong handle is refused. */
    handle = guest_handle(g);
    assert_non_null(handle);
    assert_int_equal(guest_attach("test", &cfg, "1234 5678", &g2), EINVAL);
    assert_int_equal(guest_attach("test", &cfg, handle, &g2), 0);
    assert_int_equal(guest_state(g2), GUEST_RUNNING);
    guest_release(g2);

    /* Checkpoint: save stops the guest, restore starts it again from the file. */
    assert_true(guest_can_save(g));
    snprintf(path, sizeof path, "/tmp/sfct-unit-save-%ld", (long) getpid());
    assert_int_equal(guest_save(g, path), 0);
    assert_int_equal(guest_state(g), GUEST_STOPPED);
    assert_int_equal(guest_restore(g, path), 0);
    assert_int_equal(guest_state(g), GUEST_RUNNING);
    /* A running guest is replaced by its image (a recovery from a checkpoint). */
    assert_int_equal(guest_restore(g, path), 0);
    assert_int_equal(guest_state(g), GUEST_RUNNING);
    assert_int_equal(guest_checkpoint(g, path), ENOTSUP);
    unlink(path);

    /* A crash: the guest is gone, cannot be reattached, and stop/destroy still work. */
    provider_test_crash(tg);
    assert_int_equal(guest_state(g), GUEST_GONE);
    assert_int_equal(guest_attach("test", &cfg, handle, &g2), ESRCH);
    assert_int_equal(guest_stop(g, 0), 0);
    assert_int_equal(guest_state(g), GUEST_STOPPED);
    assert_int_equal(guest_start(g), 0);
    assert_int_equal(guest_stop(g, 0), 0);
    assert_int_equal(g->exit_status, 0);
    free(handle);
    assert_int_equal(guest_destroy(g), 0);
    assert_null(provider_test_find("life", "g1"));
    assert_int_equal(provider_test_count(), 0);
}

static void
write_deploy_map(struct instance *inst)
{
    char *path = xasprintf("%s/deploy.json", inst->dir);
    json_t *root = json_pack("{s:[{s:s, s:s, s:s}, {s:s, s:s, s:s}]}", "components",
                             "name", "vnf[0]", "role", "vnf", "guest", "h2",
                             "name", "sff[0]", "role", "sff", "guest", "h3");

    assert_int_equal(json_dump_file(root, path, 0), 0);
    json_decref(root);
    free(path);
}

static void
test_inject_targets(void **state)
{
    struct topology *topo = load(line3);
    struct inject_params p = { .role_id = -1 };
    struct inject_fault *f = NULL;
    struct instance_opts opts;
    struct instance *inst = NULL;
    char name[32];
    uint64_t rng = 7;

    opts = opts_for(next_name(name));
    assert_int_equal(instance_up(&opts, topo, &inst), 0);

    /* Nothing deployed: guest names are targets, anything else is refused. */
    assert_int_equal(inject_fault_create(inst, "vnf[0]", "pause", &p, NULL, &f), ENOENT);
    assert_int_equal(inject_fault_create(inst, "h9", "pause", &p, NULL, &f), ENOENT);
    assert_int_equal(inject_fault_create(inst, "h2", "nosuch", &p, NULL, &f), EINVAL);
    p.mode = "thaw";
    assert_int_equal(inject_fault_create(inst, "h2", "pause", &p, NULL, &f), EINVAL);
    p.mode = NULL;
    p.fraction = 2;
    assert_int_equal(inject_fault_create(inst, "h2", "omission", &p, NULL, &f), EINVAL);
    p.fraction = 0;

    /* pause: the provider's pause and resume. */
    assert_int_equal(inject_fault_create(inst, "h2", "pause", &p, NULL, &f), 0);
    assert_int_equal(inject_apply(f, NULL), 0);
    assert_int_equal(provider_test_find(name, "h2")->state, GUEST_PAUSED);
    inject_fault_free(f);
    /* Healed by another "process", from the record. */
    assert_int_equal(inject_fault_load(inst, "h2", "pause", &f), 0);
    assert_int_equal(inject_heal(f, NULL), 0);
    assert_int_equal(provider_test_find(name, "h2")->state, GUEST_RUNNING);
    assert_int_equal(inject_heal(f, NULL), ENOENT);
    inject_fault_free(f);

    /* Component names from the deployment map; random(ROLE) from the seeded generator. */
    write_deploy_map(inst);
    assert_int_equal(inject_fault_create(inst, "vnf[0]", "crash", &(struct inject_params) {
                         .mode = "links", .role_id = -1 }, NULL, &f), 0);
    assert_string_equal(f->guest, "h2");
    assert_int_equal(inject_apply(f, NULL), 0);
    assert_true(provider_test_find(name, "h2")->ifaces[0].up);      /* Management stays. */
    assert_false(provider_test_find(name, "h2")->ifaces[1].up);
    assert_int_equal(inject_heal(f, NULL), 0);
    assert_true(provider_test_find(name, "h2")->ifaces[1].up);
    inject_fault_free(f);
    assert_int_equal(inject_fault_create(inst, "random(sff)", "pause", &p, &rng, &f), 0);
    assert_string_equal(f->target, "sff[0]");
    assert_string_equal(f->guest, "h3");
    inject_fault_free(f);
    assert_int_equal(inject_fault_create(inst, "random(lb)", "pause", &p, &rng, &f), ENOENT);

    /* crash destroy: the guest goes through its provider; a gone guest cannot be paused. */
    assert_int_equal(inject_fault_create(inst, "sff[0]", "crash", &(struct inject_params) {
                         .mode = "destroy", .role_id = -1 }, NULL, &f), 0);
    assert_int_equal(inject_apply(f, NULL), 0);
    assert_null(provider_test_find(name, "h3"));
    inject_fault_free(f);
    assert_int_equal(inject_fault_create(inst, "h3", "pause", &p, NULL, &f), ESRCH);

    char *path = xasprintf("%s/deploy.json", inst->dir);
    unlink(path);
    free(path);
    assert_int_equal(instance_down(inst), 0);
    assert_int_equal(provider_test_count(), 0);
    assert_false(exists_in_state(name));
    topology_free(topo);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guest_lifecycle),
        cmocka_unit_test(test_up_open_down),
        cmocka_unit_test(test_up_failure_undoes),
        cmocka_unit_test(test_mixed_providers_refused),
        cmocka_unit_test(test_add_remove_guest),
        cmocka_unit_test(test_replace_guest),
        cmocka_unit_test(test_inject_targets),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
