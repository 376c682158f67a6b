/* System test of the instance's OpenFlow groups (instance_group_add(), root only; exit 77
 * otherwise): the switch fails over by itself.
 *
 * An instance of its own (sfct-ffg-PID, netns guests a, p and s on one data bridge, the real
 * private Open vSwitch, data ports as AF_PACKET and then as AF_XDP) gets a fast-failover group
 * over p's and s's ports (p first) and a flow sending a's packets for 10.0.0.99 to it. a pings
 * that address (a static neighbour, so every echo request is one frame); p's and s's interface
 * counters say who got them. Then p's link goes down from inside p (`ip link set down`, as
 * when a guest dies): with no message from us to the switch, a's packets must reach s; and
 * they must come back to p when its link is up again. A control flow for 10.0.0.98 outputs to
 * p directly: while p is down, its packets must not reach s, which is what a failover without
 * the group would look like. No timing is asserted: each move is waited for (up to 20 s). */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testbed/infra/instance.h"
#include "testbed/infra/openflow.h"
#include "testbed/infra/provider.h"
#include "testbed/model/diag.h"
#include "testbed/model/topology.h"
#include "vnfs/lib/util.h"

static const char topology_yaml[] =
    "name: ffg\n"
    "provider: netns\n"
    "bridges:\n"
    "  - name: data\n"
    "guests:\n"
    "  - name: a\n"
    "  - name: p\n"
    "  - name: s\n"
    "links:\n"
    "  - {guest: a, bridge: data, address: 10.0.0.1/24}\n"
    "  - {guest: p, bridge: data, address: 10.0.0.2/24}\n"
    "  - {guest: s, bridge: data, address: 10.0.0.3/24}\n";

#define GROUP_ID 41
#define BURST 50
#define WAIT_MS 20000

static int failures;

static void
ok(const char *what)
{
    printf("ok: %s\n", what);
}

static void PRINTF_FORMAT(1, 2)
fail(const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    printf("FAIL: ");
    vprintf(fmt, args);
    printf("\n");
    va_end(args);
    failures++;
}

/* Runs argv in guest 'name'; its standard output (up to size - 1 bytes) in 'out' if not NULL.
 * Returns its exit status, or -1. */
static int
run_in(struct instance *inst, const char *name, char *const argv[], char *out, size_t size)
{
    struct instance_guest *ig = instance_find_guest(inst, name);
    struct guest_exec_opts io = { .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 };
    int p[2] = { -1, -1 };
    int null = -1;
    int status = -1;
    size_t len = 0;

    if (!ig || (out && pipe(p))) {
        return -1;
    }
    if (!out) {
        null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    }
    io.stdout_fd = out ? p[1] : null;
    if (guest_exec_wait(ig->guest, argv, &io, &status)) {
        status = -1;
    }
    if (out) {
        ssize_t n;
        close(p[1]);
        while (len + 1 < size && (n = read(p[0], out + len, size - 1 - len)) > 0) {
            len += n;
        }
        out[len] = '\0';
        close(p[0]);
    }
    if (null >= 0) {
        close(null);
    }
    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const struct instance_iface *
data_iface(struct instance *inst, const char *guest)
{
    struct instance_guest *ig = instance_find_guest(inst, guest);

    for (size_t j = 0; ig && j < ig->n_ifaces; j++) {
        if (!strcmp(ig->ifaces[j].bridge, "data")) {
            return &ig->ifaces[j];
        }
    }
    sfc_abort("guest %s has no data interface", guest);
}

static const char *
data_ifname(struct instance *inst, const char *guest)
{
    return data_iface(inst, guest)->ifname;
}

/* Frames guest 'name' received on its data interface so far. */
static long long
rx_packets(struct instance *inst, const char *name)
{
    char path[96], out[64];
    char *argv[] = { "cat", path, NULL };

    snprintf(path, sizeof path, "/sys/class/net/%s/statistics/rx_packets",
             data_ifname(inst, name));
    return run_in(inst, name, argv, out, sizeof out) ? -1 : atoll(out);
}

/* a sends 'n' echo requests to 'dst' (nobody answers: ping's exit status says nothing). */
static void
send_burst(struct instance *inst, const char *dst, int n)
{
    char count[16];
    char *argv[] = { "ping", "-q", "-n", "-c", count, "-i", "0.002", "-W", "1", (char *) dst,
                     NULL };

    snprintf(count, sizeof count, "%d", n);
    run_in(inst, "a", argv, NULL, 0);
}

/* Sends bursts to 'dst' until 'to' has received a whole one (true), or WAIT_MS passes. */
static bool
wait_until_received(struct instance *inst, const char *dst, const char *to)
{
    uint64_t deadline = time_mono_ns() + WAIT_MS * 1000000ull;

    do {
        long long before = rx_packets(inst, to);
        send_burst(inst, dst, BURST);
        if (rx_packets(inst, to) - before >= BURST) {
            return true;
        }
        usleep(100 * 1000);
    } while (time_mono_ns() < deadline);
    return false;
}

/* One burst to 'dst': what p and s received of it. */
static void
burst_counts(struct instance *inst, const char *dst, long long *to_p, long long *to_s)
{
    long long p0 = rx_packets(inst, "p"), s0 = rx_packets(inst, "s");

    send_burst(inst, dst, BURST);
    *to_p = rx_packets(inst, "p") - p0;
    *to_s = rx_packets(inst, "s") - s0;
}

static int
set_link(struct instance *inst, const char *guest, bool up)
{
    char *argv[] = { "ip", "link", "set", (char *) data_ifname(inst, guest),
                     up ? "up" : "down", NULL };

    return run_in(inst, guest, argv, NULL, 0);
}

static void
run_mode(const struct topology *topo, const char *sfcd, bool afxdp)
{
    const char *mode = afxdp ? "afxdp" : "system";
    /* The PMD sleeps when idle: it does not hold a CPU of a shared machine for the test. */
    struct instance_opts opts = { .sfcd = sfcd, .afxdp = afxdp, .pmd_cpu = 1,
                                  .pmd_sleep_us = 1000 };
    struct of_group *g = xzalloc(sizeof *g);
    struct of_flow via_group = { .priority = 500 }, direct = { .priority = 500 };
    struct instance *inst = NULL;
    uint32_t ports[2], a_port;
    long long to_p, to_s;
    char name[40];
    int error;

    snprintf(name, sizeof name, "sfct-ffg-%d", (int) getpid());
    opts.name = name;
    error = instance_up(&opts, topo, &inst);
    if (error) {
        fail("%s: up: %s", mode, strerror(error));
        free(g);
        return;
    }
    a_port = instance_ofport(inst, "a", "data");
    ports[0] = instance_ofport(inst, "p", "data");
    ports[1] = instance_ofport(inst, "s", "data");

    /* Every echo request is one frame to p's MAC: no ARP to go astray. */
    {
        char mac[18];
        const uint8_t *m = data_iface(inst, "p")->mac;
        snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
                 m[5]);
        for (int i = 0; i < 2; i++) {
            char *argv[] = { "ip", "neigh", "replace", i ? "10.0.0.98" : "10.0.0.99", "lladdr",
                             mac, "nud", "permanent", "dev",
                             (char *) data_ifname(inst, "a"), NULL };
            if (run_in(inst, "a", argv, NULL, 0)) {
                fail("%s: static neighbour in a", mode);
            }
        }
    }
    of_group_fast_failover(g, GROUP_ID, ports, 2);
    of_match_in_port(&via_group.match, a_port);
    of_match_ipv4_dst(&via_group.match, inet_addr("10.0.0.99"), 32);
    of_actions_group(&via_group.actions, GROUP_ID);
    of_match_in_port(&direct.match, a_port);
    of_match_ipv4_dst(&direct.match, inet_addr("10.0.0.98"), 32);
    of_actions_output(&direct.actions, ports[0]);
    error = instance_group_add(inst, "data", g);
    error = error ? error : instance_flow_add(inst, "data", &via_group);
    error = error ? error : instance_flow_add(inst, "data", &direct);
    error = error ? error : instance_flow_barrier(inst, "data");
    if (error) {
        fail("%s: group and flows: %s", mode, strerror(error));
        goto out;
    }
    /* The switch refuses a second group of the same id, through the same API. */
    if (instance_group_add(inst, "data", g) || instance_flow_barrier(inst, "data") != EEXIST) {
        fail("%s: a second group %d was not refused with EEXIST", mode, GROUP_ID);
    }

    if (wait_until_received(inst, "10.0.0.99", "p")) {
        ok(afxdp ? "afxdp: the group sends to p while its link is up"
           : "system: the group sends to p while its link is up");
    } else {
        fail("%s: p never received a's packets through the group", mode);
        goto out;
    }
    burst_counts(inst, "10.0.0.99", &to_p, &to_s);
    if (to_s >= BURST / 5) {
        fail("%s: s received %lld of %d while p was up", mode, to_s, BURST);
    }

    if (set_link(inst, "p", false)) {
        fail("%s: cannot take p's link down", mode);
        goto out;
    }
    /* Nothing is sent to the switch from here on: the switch alone moves the traffic. */
    if (wait_until_received(inst, "10.0.0.99", "s")) {
        ok(afxdp ? "afxdp: p's link down: the switch moved the group's traffic to s by itself"
           : "system: p's link down: the switch moved the group's traffic to s by itself");
    } else {
        fail("%s: p's link down, and s never received the group's traffic", mode);
    }
    burst_counts(inst, "10.0.0.98", &to_p, &to_s);
    if (to_s >= BURST / 5) {
        fail("%s: the control flow (output to p, no group) reached s: %lld of %d", mode, to_s,
             BURST);
    } else {
        ok(afxdp ? "afxdp: control: without the group, p's traffic is lost, not moved"
           : "system: control: without the group, p's traffic is lost, not moved");
    }

    if (set_link(inst, "p", true)) {
        fail("%s: cannot bring p's link up", mode);
        goto out;
    }
    if (wait_until_received(inst, "10.0.0.99", "p")) {
        ok(afxdp ? "afxdp: p's link up: the traffic is back on p"
           : "system: p's link up: the traffic is back on p");
    } else {
        fail("%s: p's link up again, and p never received the group's traffic", mode);
    }

    /* Deleting the group takes its flow with it (OpenFlow's rule): a flow to it again is
     * refused, since the group is gone (the switch's refusal is logged: it is expected). */
    error = instance_group_delete(inst, "data", GROUP_ID);
    error = error ? error : instance_flow_barrier(inst, "data");
    if (error) {
        fail("%s: group delete: %s", mode, strerror(error));
    } else if (instance_flow_add(inst, "data", &via_group)
               || instance_flow_barrier(inst, "data") != ENOENT) {
        fail("%s: a flow to the deleted group was not refused with ENOENT", mode);
    }

out:
    free(g);
    error = instance_down(inst);
    if (error) {
        fail("%s: down: %s", mode, strerror(error));
    }
}

int
main(void)
{
    struct topology *topo = NULL;
    char sfcd[PATH_MAX];
    struct diag diag;

    log_set_program("ff-group");
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (geteuid()) {
        printf("skip: needs root\n");
        return 77;
    }
    if (!realpath(getenv("SFCD") ? getenv("SFCD") : "bin/sfcd", sfcd)) {
        printf("FAIL: no sfcd (run from the repository after make, or set SFCD)\n");
        return 1;
    }
    diag_init(&diag);
    if (topology_load_string("ffg.yaml", topology_yaml, strlen(topology_yaml), &diag, &topo)) {
        printf("FAIL: topology\n");
        return 1;
    }
    diag_uninit(&diag);
    run_mode(topo, sfcd, false);
    run_mode(topo, sfcd, true);
    topology_free(topo);
    printf("%s\n", failures ? "FAILED" : "PASSED");
    return failures ? 1 : 0;
}
