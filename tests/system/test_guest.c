/* System test of the netns provider, cgroups and links (root only; skipped otherwise).
 *
 * With its own manifest in a temporary directory and its own host namespace sfct-guest-PID, it
 * starts three guests, wires g1<->g2 with a veth pair between their namespaces and g3 to the host
 * namespace, pings across with guest_exec(), reads cgroup limits back, pauses and resumes g1,
 * stops g3 politely, destroys everything and checks that no process, cgroup directory or network
 * namespace is left. The tests run in order and share the guests. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testbed/infra/cgroup.h"
#include "testbed/infra/link.h"
#include "testbed/infra/manifest.h"
#include "testbed/infra/netns.h"
#include "testbed/infra/provider.h"
#include "vnfs/lib/util.h"

#define N_GUESTS 3

static struct {
    char tmpdir[64];
    char instance[32];
    char *sfcd;
    struct manifest *manifest;
    char *host_ns_path;
    int host_ns_fd;
    struct link_ns *host;
    struct guest *g[N_GUESTS];
    /* What must be gone at the end. */
    pid_t pids[N_GUESTS];
    uint64_t starts[N_GUESTS];
    ino_t netns_inos[N_GUESTS];
    char *cgroup_dirs[N_GUESTS][CGROUP_N_CONTROLLERS];
    char *cgroup_parent;
} t;

static const double cpus[N_GUESTS] = { 0.5, 1.25, 2 };
/* 0: the kernel's 100 ms. */
static const uint64_t period_us[N_GUESTS] = { 0, 25000, 1000 };
static const uint64_t memory[N_GUESTS] = { 64 << 20, 96 << 20, 128 << 20 };

static void
sleep_ms(unsigned int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Runs argv in 'g' and returns its exit code (128+N for signal N), or -errno. */
static int
run_in(struct guest *g, char *out, size_t out_size, const char *arg0, ...)
{
    char *argv[16];
    struct guest_exec_opts opts = { -1, -1, -1 };
    int pipefd[2] = { -1, -1 };
    va_list args;
    int n = 0, status, error;

    argv[n++] = (char *) arg0;
    va_start(args, arg0);
    while (n < 15 && (argv[n] = va_arg(args, char *)) != NULL) {
        n++;
    }
    va_end(args);
    argv[n] = NULL;
    if (out) {
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        opts.stdout_fd = pipefd[1];
    } else {
        opts.stdout_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    }
    error = guest_exec_wait(g, argv, &opts, &status);
    if (out) {
        close(pipefd[1]);
        ssize_t len = read(pipefd[0], out, out_size - 1);
        out[len > 0 ? len : 0] = '\0';
        close(pipefd[0]);
    } else {
        close(opts.stdout_fd);
    }
    if (error) {
        return -error;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The cgroups of a netns guest, found by name as `sfclab` in another process would. */
static int
guest_cgroup(const struct guest *g, struct cgroup **cgp)
{
    char *parent = xasprintf("sfclab-%s", g->instance);
    int error = cgroup_open(parent, g->name, cgp);

    free(parent);
    return error;
}

static int
setup(void **state)
{
    char name[16];

    if (geteuid()) {
        fprintf(stderr, "test_guest: needs root\n");
        return -1;
    }
    t.sfcd = realpath(getenv("SFCD") ? getenv("SFCD") : "bin/sfcd", NULL);
    if (!t.sfcd || access(t.sfcd, X_OK)) {
        fprintf(stderr, "test_guest: no bin/sfcd (run from the top directory after make)\n");
        return -1;
    }
    snprintf(t.tmpdir, sizeof t.tmpdir, "/tmp/sfct-guest-%ld", (long) getpid());
    snprintf(t.instance, sizeof t.instance, "sfct-guest-%ld", (long) getpid());
    if (manifest_open(t.tmpdir, &t.manifest)) {
        return -1;
    }
    if (netns_create(t.manifest, t.instance, &t.host_ns_path)) {
        return -1;
    }
    t.host_ns_fd = open(t.host_ns_path, O_RDONLY | O_CLOEXEC);
    if (t.host_ns_fd < 0 || link_ns_open(t.host_ns_fd, &t.host)) {
        return -1;
    }
    for (int i = 0; i < N_GUESTS; i++) {
        snprintf(name, sizeof name, "g%d", i + 1);
        /* g3's init runs a program of its own, which a polite stop must end too. */
        static char *const sleeper[] = { "/bin/sleep", "600", NULL };
        struct guest_config cfg = {
            .name = name, .hostname = NULL, .cpus = cpus[i], .cpu_period_us = period_us[i],
            .memory = memory[i], .instance = t.instance, .sfcd = t.sfcd, .run_dir = t.tmpdir,
            .init_args = i == 2 ? sleeper : NULL,
        };
        if (guest_create("netns", &cfg, t.manifest, &t.g[i])) {
            return -1;
        }
        /* The provider keeps its cgroups to itself: find them as another process would. */
        struct cgroup *cg;
        if (guest_cgroup(t.g[i], &cg)) {
            return -1;
        }
        for (int c = 0; c < CGROUP_N_CONTROLLERS; c++) {
            t.cgroup_dirs[i][c] = xstrdup(cg->dirs[c]);
        }
        if (!i) {
            t.cgroup_parent = xstrdup(cg->parents[CGROUP_MEMORY]);
        }
        cgroup_free(cg);
    }
    return 0;
}

static int
teardown(void **state)
{
    for (int i = 0; i < N_GUESTS; i++) {
        guest_destroy(t.g[i]);
        t.g[i] = NULL;
    }
    link_ns_close(t.host);
    if (t.host_ns_fd > 0) {
        close(t.host_ns_fd);
    }
    for (int i = 0; i < N_GUESTS; i++) {
        char *log = xasprintf("%s/g%d.log", t.tmpdir, i + 1);
        unlink(log);            /* The guests' logs, not recorded: they are results. */
        free(log);
    }
    if (t.manifest) {
        manifest_close(t.manifest);
        manifest_undo(t.tmpdir, false);
    }
    return 0;
}

static void
test_start(void **state)
{
    char out[256];

    assert_int_equal(guest_state(t.g[0]), GUEST_STOPPED);
    for (int i = 0; i < N_GUESTS; i++) {
        assert_int_equal(guest_start(t.g[i]), 0);
        assert_int_equal(guest_state(t.g[i]), GUEST_RUNNING);
        /* The netns provider's handle is "PID STARTTIME". */
        char *handle = guest_handle(t.g[i]);
        long long pid = 0;
        unsigned long long start = 0;
        assert_non_null(handle);
        assert_int_equal(sscanf(handle, "%lld %llu", &pid, &start), 2);
        free(handle);
        t.pids[i] = pid;
        t.starts[i] = start;
        int fd;
        struct stat st;
        assert_int_equal(guest_netns_fd(t.g[i], &fd), 0);
        assert_int_equal(fstat(fd, &st), 0);
        t.netns_inos[i] = st.st_ino;
        close(fd);
    }
    assert_int_equal(guest_start(t.g[0]), EBUSY);
    /* Each guest has its own network namespace. */
    assert_true(t.netns_inos[0] != t.netns_inos[1]);

    /* UTS namespace: the hostname is the guest's. */
    assert_int_equal(run_in(t.g[1], out, sizeof out, "hostname", NULL), 0);
    assert_string_equal(out, "g2\n");
    /* PID namespace and its own /proc: PID 1 is sfcd init. */
    assert_int_equal(run_in(t.g[1], out, sizeof out, "readlink", "/proc/1/exe", NULL), 0);
    out[strcspn(out, "\n")] = '\0';
    assert_string_equal(out, t.sfcd);
    assert_int_equal(run_in(t.g[1], out, sizeof out, "cat", "/proc/1/cmdline", NULL), 0);
    assert_string_equal(out + strlen(out) + 1, "init");
}

static void
test_exec_errors(void **state)
{
    char *argv[] = { "/nonexistent/sfct-guest-program", NULL };
    char *empty[] = { NULL };
    pid_t pid = 0;

    assert_int_equal(guest_exec(t.g[0], argv, NULL, &pid), ENOENT);
    assert_int_equal(pid, 0);
    assert_int_equal(guest_exec(t.g[0], empty, NULL, &pid), EINVAL);
    /* argv is passed untouched, no shell: a ';' is just an argument. */
    char out[64];
    assert_int_equal(run_in(t.g[0], out, sizeof out, "echo", "a;b", "$HOME", NULL), 0);
    assert_string_equal(out, "a;b $HOME\n");
}

static void
test_links_and_ping(void **state)
{
    static const uint8_t mac1[6] = { 0x02, 0x5f, 0, 0, 0, 1 };
    static const uint8_t mac2[6] = { 0x02, 0x5f, 0, 0, 0, 2 };
    struct link_ns *ns[N_GUESTS];
    uint8_t mac[6];
    int fd;

    for (int i = 0; i < N_GUESTS; i++) {
        assert_int_equal(guest_netns_fd(t.g[i], &fd), 0);
        assert_int_equal(link_ns_open(fd, &ns[i]), 0);
        close(fd);
    }
    /* g1 <-> g2 directly between the two guests' namespaces. */
    struct link_veth v12 = { "eth0", "eth0", mac1, mac2, 1400 };
    assert_int_equal(link_veth_add(ns[0], ns[1], &v12), 0);
    assert_true(link_exists(ns[0], "eth0"));
    assert_true(link_exists(ns[1], "eth0"));
    assert_int_equal(link_get_mac(ns[1], "eth0", mac), 0);
    assert_memory_equal(mac, mac2, 6);
    /* g3's eth0 with its other end in the instance's host namespace. */
    struct link_veth v3 = { "sfct-g3h", "eth0", NULL, NULL, 0 };
    assert_int_equal(link_veth_add(t.host, ns[2], &v3), 0);
    assert_true(link_exists(t.host, "sfct-g3h"));
    assert_false(link_exists(t.host, "eth0"));
    assert_int_equal(link_veth_add(t.host, ns[2], &v3), EEXIST);

    assert_int_equal(link_addr_add(ns[0], "eth0", "10.77.0.1/24"), 0);
    assert_int_equal(link_addr_add(ns[1], "eth0", "10.77.0.2/24"), 0);
    assert_int_equal(link_addr_add(ns[2], "eth0", "10.78.0.3/24"), 0);
    assert_int_equal(link_addr_add(t.host, "sfct-g3h", "10.78.0.254/24"), 0);
    assert_int_equal(link_addr_add(ns[0], "eth0", "not-an-address"), EINVAL);
    for (int i = 0; i < N_GUESTS; i++) {
        assert_int_equal(link_offload_off(ns[i], "eth0"), 0);
        assert_int_equal(link_set_up(ns[i], "eth0", true), 0);
    }
    assert_int_equal(link_set_up(t.host, "sfct-g3h", true), 0);
    assert_int_equal(link_set_up(ns[0], "eth9", true), ENODEV);

    /* Static ARP on g1, a route on g3. */
    assert_int_equal(link_neigh_add(ns[0], "eth0", "10.77.0.2", mac2), 0);
    assert_int_equal(link_route_add(ns[2], "default", "10.78.0.254", NULL), 0);

    /* The links came up just now: the kernel starts a veth's queue from its link-watch work,
     * which runs at most once a second and later on a busy host (a CI run saw a single echo
     * go unanswered), so each ping probes every 0.2 s until one reply, for at most 5 s. */
    assert_int_equal(run_in(t.g[0], NULL, 0, "ping", "-n", "-c", "1", "-i", "0.2", "-w", "5",
                            "10.77.0.2", NULL), 0);
    assert_int_equal(run_in(t.g[1], NULL, 0, "ping", "-n", "-c", "1", "-i", "0.2", "-w", "5",
                            "10.77.0.1", NULL), 0);
    assert_int_equal(run_in(t.g[2], NULL, 0, "ping", "-n", "-c", "1", "-i", "0.2", "-w", "5",
                            "10.78.0.254", NULL), 0);
    /* Isolation: g3 reaches its gateway but not g2's separate wire. */
    assert_int_not_equal(run_in(t.g[2], NULL, 0, "ping", "-n", "-c", "1", "-W", "1",
                                "10.77.0.2", NULL), 0);

    /* Rate limit with tbf, read back, then removed. */
    uint64_t rate = 0;
    assert_int_equal(link_set_rate(t.host, "sfct-g3h", 100000000), 0);
    assert_int_equal(link_get_rate(t.host, "sfct-g3h", &rate), 0);
    assert_int_equal(rate, 100000000);
    assert_int_equal(link_set_rate(t.host, "sfct-g3h", 0), 0);
    assert_int_equal(link_get_rate(t.host, "sfct-g3h", &rate), 0);
    assert_int_equal(rate, 0);

    for (int i = 0; i < N_GUESTS; i++) {
        link_ns_close(ns[i]);
    }
}

static int
has_eth0_here(void *aux)
{
    struct link_ns *ns;
    int error = link_ns_open(-1, &ns);
    if (!error) {
        *(bool *) aux = link_exists(ns, "eth0");
        link_ns_close(ns);
    }
    return error;
}

static void
test_run_in_netns(void **state)
{
    bool has_eth0 = false;
    struct link_ns *own;

    assert_int_equal(guest_run_in_netns(t.g[1], has_eth0_here, &has_eth0), 0);
    assert_true(has_eth0);
    /* And we are back in our own namespace, which has no sfct-g3h. */
    assert_int_equal(link_ns_open(-1, &own), 0);
    assert_false(link_exists(own, "sfct-g3h"));
    link_ns_close(own);
}

static void
test_cgroup_limits(void **state)
{
    for (int i = 0; i < N_GUESTS; i++) {
        struct cgroup_limits l;
        struct cgroup *cg;
        assert_int_equal(guest_cgroup(t.g[i], &cg), 0);
        assert_int_equal(cgroup_read_limits(cg, &l), 0);
        cgroup_free(cg);
        assert_true(l.cpus > cpus[i] - 1e-6 && l.cpus < cpus[i] + 1e-6);
        assert_int_equal(l.period_us, period_us[i] ? period_us[i] : 100000);
        assert_int_equal(l.memory, memory[i]);
    }
    uint64_t cpu_ns = 0, mem = 0;
    assert_int_equal(run_in(t.g[0], NULL, 0, "ping", "-n", "-c", "1", "-W", "2", "10.77.0.2",
                            NULL), 0);
    assert_int_equal(guest_read_stats(t.g[0], &cpu_ns, &mem), 0);
    assert_true(cpu_ns > 0);
    assert_true(mem > 0);
    assert_true(mem <= memory[0]);
}

static void
test_pause_resume(void **state)
{
    char *argv[] = { "ping", "-n", "-q", "-c", "1", "-W", "5", "10.77.0.2", NULL };
    struct guest_exec_opts opts = { -1, -1, -1 };
    int status = 0;
    pid_t pid;

    opts.stdout_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    assert_int_equal(guest_pause(t.g[0]), 0);
    assert_int_equal(guest_state(t.g[0]), GUEST_PAUSED);
    /* Another guest is not affected. */
    assert_int_equal(guest_state(t.g[1]), GUEST_RUNNING);
    assert_int_equal(guest_exec(t.g[0], argv, &opts, &pid), 0);
    /* A running ping of a reachable peer ends in milliseconds; a frozen one never does. */
    sleep_ms(500);
    assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
    assert_int_equal(guest_resume(t.g[0]), 0);
    assert_int_equal(guest_state(t.g[0]), GUEST_RUNNING);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(opts.stdout_fd);
    assert_int_equal(run_in(t.g[0], NULL, 0, "ping", "-n", "-c", "1", "-W", "2", "10.77.0.2",
                            NULL), 0);
}

static void
test_stop_politely(void **state)
{
    char out[64];

    /* init started its program as PID 2 of the guest. */
    assert_int_equal(run_in(t.g[2], out, sizeof out, "cat", "/proc/2/cmdline", NULL), 0);
    assert_string_equal(out, "/bin/sleep");
    /* sfcd init handles SIGTERM: it stops its program and exits 0 by itself, well within a
     * minute's grace (a SIGKILL after the grace would show as WIFSIGNALED). */
    assert_int_equal(guest_stop(t.g[2], 60ULL * 1000000000), 0);
    assert_true(WIFEXITED(t.g[2]->exit_status));
    assert_int_equal(WEXITSTATUS(t.g[2]->exit_status), 0);
    assert_int_equal(guest_state(t.g[2]), GUEST_STOPPED);
    assert_false(proc_is(t.pids[2], t.starts[2]));
    /* Its namespace goes with it, and so does the veth end in the host namespace; the kernel
     * tears a namespace down in a work queue, behind every other namespace being torn down
     * (a CI run saw it take more than five seconds), so give it at most twenty. */
    for (int tries = 0; tries < 2000 && link_exists(t.host, "sfct-g3h"); tries++) {
        sleep_ms(10);
    }
    assert_false(link_exists(t.host, "sfct-g3h"));
}

static bool
netns_in_use(ino_t ino)
{
    bool found = false;
    struct dirent *de;
    DIR *d = opendir("/proc");

    while (d && !found && (de = readdir(d))) {
        char path[300];
        struct stat st;
        if (de->d_name[0] < '0' || de->d_name[0] > '9') {
            continue;
        }
        snprintf(path, sizeof path, "/proc/%s/ns/net", de->d_name);
        found = !stat(path, &st) && st.st_ino == ino;
    }
    if (d) {
        closedir(d);
    }
    return found;
}

static void
test_destroy_leaves_nothing(void **state)
{
    for (int i = 0; i < N_GUESTS; i++) {
        assert_int_equal(guest_destroy(t.g[i]), 0);
        t.g[i] = NULL;
    }
    for (int i = 0; i < N_GUESTS; i++) {
        assert_false(proc_is(t.pids[i], t.starts[i]));
        for (int c = 0; c < CGROUP_N_CONTROLLERS; c++) {
            assert_false(cgroup_dir_exists(t.cgroup_dirs[i][c]));
        }
        assert_false(netns_in_use(t.netns_inos[i]));
    }
    assert_false(cgroup_dir_exists(t.cgroup_parent));
}

int
main(void)
{
    if (geteuid()) {
        printf("test_guest: skipped (needs root)\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start),
        cmocka_unit_test(test_exec_errors),
        cmocka_unit_test(test_links_and_ping),
        cmocka_unit_test(test_run_in_netns),
        cmocka_unit_test(test_cgroup_limits),
        cmocka_unit_test(test_pause_resume),
        cmocka_unit_test(test_stop_politely),
        cmocka_unit_test(test_destroy_leaves_nothing),
    };
    return cmocka_run_group_tests_name("guest", tests, setup, teardown);
}
