/* bench_chain — the data-plane benchmark through the real testbed (issue 3's `make bench`).
 *
 * An instance of the chain shape (client, sc, sff, server, v0..v3 on the private userspace
 * OVS; one per datapath), and on it, in one run: the bare path client -> OVS -> echo server (a bypass flow sends
 * the client's datagrams straight to the server), chains of 1, 2 and 4 fwd VNFs to the same
 * echo server, and the 1-VNF DNS chain (512 B queries), each deployed by testbed/deploy the way
 * `sfclab run` deploys it. For each: p50/p99 RTT of a closed loop after a warm-up, the echoed
 * pps of a 64 B UDP stream both flat out (at saturation the client's stream crowds the chain's
 * inner hops out of the switch, so chains collapse) and at the highest rate that loses < 1%
 * (bisection, trials of 0.5 s), the OVS traversals a request makes (counted
 * from the switch's port counters, not assumed) and the per-hop split the SFF traces. Every
 * number is the median of --reps repetitions, repetitions interleaved over the paths so that a
 * drift of the machine hits every path alike.
 *
 * Three modes, each with its table and verdicts:
 *   afxdp     the headline, what `sfclab run` uses: data ports AF_XDP (generic mode) busy-polled
 *             by a PMD thread on CPU 1, ovs-vswitchd's main thread and the guests on CPU 0;
 *   system    AF_PACKET data ports served by vswitchd's main loop, everything on CPU 0
 *             (`sfclab run --datapath system`);
 *   unpinned  the same, every process on every CPU (a hop across vCPUs pays a wake-up).
 * The other modes only compare with the headline: they skip the rate search and measure with
 * shorter runs (--all-full measures them alike), so that `make bench` stays within minutes. afxdp and system need instances of their own (the port type is
 * chosen when the switch is wired); unpinned reuses system's.
 *
 * Issue 3's targets, checked in every mode: the 1-VNF DNS chain's p50 RTT under 500 us; each
 * extra component under 15 us beyond the OVS traversals it adds; a chain's max pps at least
 * 80% of the bare path's pps over the number of OVS traversals a chain request makes.
 *
 * Needs root (namespaces, OVS); says so and exits 0 otherwise. Creates only instance
 * "sfct-bench-PID" and removes it at the end, on error, and on SIGINT/SIGTERM. */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testbed/deploy/deploy.h"
#include "testbed/infra/instance.h"
#include "testbed/infra/ovs.h"
#include "testbed/infra/provider.h"
#include "testbed/model/diag.h"
#include "testbed/model/experiment.h"
#include "testbed/model/topology.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"

#define DATA_BRIDGE "data"
#define BYPASS_COOKIE "0x5fcbe"
#define MAX_REPS 9
#define MAX_CHAIN 4

enum path_id { P_BARE, P_FWD1, P_FWD2, P_FWD4, P_DNS1, N_PATHS };

static const char *const path_names[N_PATHS] = {
    "bare", "fwd x1", "fwd x2", "fwd x4", "dns x1",
};
static const int path_vnfs[N_PATHS] = { 0, 1, 2, 4, 1 };

/* Component kinds in the SFF's trace (deploy.c's NSH component ids). */
enum hop_kind { HOP_CLASSIFIER, HOP_SFF, HOP_VNF, N_HOP_KINDS };

enum mode_id { M_AFXDP, M_SYSTEM, M_UNPINNED, N_MODES };

struct mode {
    const char *name;
    const char *title;
    bool afxdp;             /* Instance wired with AF_XDP data ports and a PMD thread. */
    bool pinned;            /* Switch and guests on CPU 0 (the PMD thread on CPU 1). */
    bool headline;          /* Rate search by default. */
};

static const struct mode modes[N_MODES] = {
    [M_AFXDP] = { "afxdp", "afxdp (headline, `sfclab run`'s default): AF_XDP data ports polled "
                  "by a PMD thread on CPU 1, ovs-vswitchd main thread and the guests on CPU 0",
                  true, true, true },
    [M_SYSTEM] = { "system", "system: AF_PACKET data ports in ovs-vswitchd's main loop, "
                   "the switch and the guests all on CPU 0", false, true, false },
    [M_UNPINNED] = { "unpinned", "unpinned: AF_PACKET data ports in ovs-vswitchd's main loop, "
                     "every process on every CPU", false, false, false },
};

struct opts {
    const char *sfcd;
    int reps;
    int count;              /* Measured requests per RTT run... */
    int warmup;
    uint64_t duration_ns;   /* ...and length of a pps run, in the headline mode; */
    int side_count;         /* in the others, which only compare with it: shorter runs */
    int side_warmup;        /* keep `make bench` within a few minutes. */
    uint64_t side_duration_ns;
    int size;               /* Echo and UDP payload. */
    int dns_size;
    bool rate_search;       /* Also the highest offered rate with < 1% loss... */
    bool all_full;          /* ...and every mode measured like the headline. */
    bool modes[N_MODES];
};

/* One repetition of one path. */
struct sample {
    bool ok;
    double p50_us, p99_us;
    double sat_pps, sat_loss;   /* Echoed pps of a flat-out stream. */
    double lf_pps;              /* Echoed pps at the highest rate losing < 1%. */
    double trav;            /* OVS traversals per request, measured. */
    double hop_us[N_HOP_KINDS], link_us;
};

struct bench {
    const struct opts *o;
    struct instance *inst;
    /* How the current mode measures. */
    bool rate_search;
    int count, warmup;
    uint64_t duration_ns;
    double load0;           /* 1-minute load average when the mode started. */
    struct sample s[N_PATHS][MAX_REPS];
};

/* What the cross-mode summary shows of each mode that ran. */
struct mode_summary {
    bool ran;
    double bare_p50, fwd1_p50, fwd4_p50, dns_p50, slope, link, bare_sat, fwd1_sat;
};

static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
    (void) sig;
    interrupted = 1;
    instance_interrupt();
}

static int
cmp_double(const void *a_, const void *b_)
{
    double a = *(const double *) a_, b = *(const double *) b_;
    return a < b ? -1 : a > b;
}

static double
median(double *v, size_t n)
{
    if (!n) {
        return NAN;
    }
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* --- Pinning ------------------------------------------------------------------------------ */

/* Sets the affinity of every thread of 'pid'. */
static void
set_threads_affinity(pid_t pid, const cpu_set_t *set)
{
    char dir[64];
    DIR *d;
    struct dirent *de;

    snprintf(dir, sizeof dir, "/proc/%d/task", (int) pid);
    d = opendir(dir);
    if (!d) {
        return;
    }
    while ((de = readdir(d))) {
        if (isdigit((unsigned char) de->d_name[0])) {
            sched_setaffinity(atoi(de->d_name), sizeof *set, set);
        }
    }
    closedir(d);
}

static pid_t
parent_of(pid_t pid)
{
    char path[64], *text = NULL, *rp;
    size_t len;
    int ppid = 0;

    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    if (!read_file(path, &text, &len)) {
        /* The command name may hold spaces and parentheses: fields resume after the last ')'. */
        rp = strrchr(text, ')');
        if (!rp || sscanf(rp + 1, " %*c %d", &ppid) != 1) {
            ppid = 0;
        }
    }
    free(text);
    return ppid;
}

/* Sets the affinity of the process trees rooted at 'roots' (every thread of every
 * descendant). Processes started later inherit the affinity of the agent that forks them. */
static void
set_trees_affinity(const pid_t *roots, size_t n_roots, const cpu_set_t *set)
{
    pid_t *pids = NULL, *ppids = NULL;
    bool *in = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir("/proc");
    struct dirent *de;
    bool grew;

    while (d && (de = readdir(d))) {
        if (!isdigit((unsigned char) de->d_name[0])) {
            continue;
        }
        if (n == cap) {
            pids = x2nrealloc(pids, &cap, sizeof *pids);
            ppids = xrealloc(ppids, cap * sizeof *ppids);
        }
        pids[n] = atoi(de->d_name);
        ppids[n] = parent_of(pids[n]);
        n++;
    }
    if (d) {
        closedir(d);
    }
    in = xcalloc(n ? n : 1, sizeof *in);
    for (size_t i = 0; i < n; i++) {
        for (size_t r = 0; r < n_roots; r++) {
            in[i] |= pids[i] == roots[r];
        }
    }
    do {
        grew = false;
        for (size_t i = 0; i < n; i++) {
            for (size_t j = 0; !in[i] && j < n; j++) {
                if (in[j] && ppids[i] == pids[j]) {
                    in[i] = grew = true;
                }
            }
        }
    } while (grew);
    for (size_t i = 0; i < n; i++) {
        if (in[i]) {
            set_threads_affinity(pids[i], set);
        }
    }
    free(in);
    free(pids);
    free(ppids);
}

/* Undoes the instance's pinning (instance_opts.pin): ovs-vswitchd, every guest and all they
 * started, on every CPU. Only for the system datapath: with AF_XDP it would also move the PMD
 * thread off the CPU it polls on. */
static int
unpin_all(struct instance *inst)
{
    char *path = xasprintf("%s/ovs-vswitchd.pid", ovs_run_dir(inst->ovs)), *text = NULL;
    cpu_set_t set;
    size_t len;
    pid_t ovs_pid = 0;
    int error;

    CPU_ZERO(&set);
    for (int cpu = 0; cpu < CPU_SETSIZE && cpu < sysconf(_SC_NPROCESSORS_ONLN); cpu++) {
        CPU_SET(cpu, &set);
    }
    error = read_file(path, &text, &len);
    if (!error) {
        ovs_pid = atoi(text);
        error = ovs_pid > 0 ? 0 : EINVAL;
    }
    if (error) {
        log_err("%s: cannot read the switch's pid (%s)", path, strerror(error));
        goto out;
    }
    set_trees_affinity(&ovs_pid, 1, &set);
    for (size_t i = 0; i < inst->n_guests && !error; i++) {
        error = guest_pin(inst->guests[i].guest, -1);
    }
out:
    free(text);
    free(path);
    return error;
}

/* The 1-minute load average. The bench itself raises it (a flat-out client, the PMD thread: 3
 * to 4 at the end of a quiet run), so only the value before the first mode tells cleanly
 * whether someone else shares the machine. */
static double
load_average(void)
{
    char *text = NULL;
    size_t len;
    double load = NAN;

    if (!read_file("/proc/loadavg", &text, &len)) {
        load = strtod(text, NULL);
    }
    free(text);
    return load;
}

/* --- Measurements ------------------------------------------------------------------------- */

/* Runs `sfcd client ARGS` on the client guest to its end and returns the last line of its
 * output that starts with 'prefix' (its summary). */
static int
run_client(struct deployment *d, char *const args[], int timeout_ms, const char *prefix,
           char **linep)
{
    struct deploy_component *c = deploy_find(d, "client[0]", NULL);
    json_t *params = NULL, *result = NULL;
    const char *output, *line = NULL;
    size_t plen = strlen(prefix);
    int error;

    error = deploy_start_role(c, "client", args);
    if (error) {
        return error;
    }
    params = json_pack("{s:i, s:i}", "id", c->role_id, "timeout_ms", timeout_ms);
    error = rpc_call(c->agent_fd, "wait_role", params, &result, timeout_ms + 5000);
    if (error) {
        goto out;
    }
    output = json_string_value(json_object_get(result, "output"));
    if (json_is_true(json_object_get(result, "running"))) {
        json_decref(params);
        params = json_pack("{s:i}", "id", c->role_id);
        json_decref(result);
        result = NULL;
        rpc_call(c->agent_fd, "stop_role", params, &result, 5000);
        log_err("client %s did not finish in %d ms", args[1], timeout_ms);
        error = ETIMEDOUT;
        goto out;
    }
    for (const char *p = output; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "") {
        if (!strncmp(p, prefix, plen)) {
            line = p;
        }
    }
    if (!line) {
        log_err("client %s printed no summary: %s", args[1], output ? output : "");
        error = EPROTO;
        goto out;
    }
    *linep = xasprintf("%.*s", (int) strcspn(line, "\n"), line);
out:
    c->role_id = -1;
    json_decref(params);
    json_decref(result);
    return error;
}

/* A "key=value" number from a client's summary line. */
static bool
summary_value(const char *line, const char *key, double *valuep)
{
    size_t klen = strlen(key);

    for (const char *p = strstr(line, key); p; p = strstr(p + 1, key)) {
        if ((p == line || p[-1] == ' ') && p[klen] == '=') {
            char *end;
            double v = strtod(p + klen + 1, &end);
            if (end != p + klen + 1) {
                *valuep = v;
                return true;
            }
        }
    }
    return false;
}

/* Packets the guests sent into the data bridge: one per OVS traversal. */
static int
switch_rx_packets(struct instance *inst, uint64_t *np)
{
    uint64_t n = 0;

    for (size_t i = 0; i < inst->n_guests; i++) {
        struct instance_guest *g = &inst->guests[i];
        for (size_t j = 0; j < g->n_ifaces; j++) {
            struct ovs_port_stats st;
            int error;

            if (strcmp(g->ifaces[j].bridge, DATA_BRIDGE)) {
                continue;
            }
            error = ovs_port_stats(inst->ovs, DATA_BRIDGE, g->ifaces[j].ofport, &st);
            if (error) {
                return error;
            }
            n += st.rx_packets;
        }
    }
    *np = n;
    return 0;
}

static char *
trace_path(struct instance *inst)
{
    return xasprintf("%s/guests/sff/hops.tsv", inst->dir);
}

static off_t
file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) ? 0 : st.st_size;
}

/* Medians of the SFF's per-hop trace between byte offsets 'from' and 'to': time inside each
 * kind of component (hop_ns) and on the wire between components (link_ns: one OVS traversal
 * plus both ends' packet sockets). */
static void
trace_split(const char *path, off_t from, off_t to, struct sample *s)
{
    struct { double *v; size_t n, cap; } kinds[N_HOP_KINDS + 1];
    FILE *f = fopen(path, "r");
    char line[256];

    memset(kinds, 0, sizeof kinds);
    if (f && !fseeko(f, from, SEEK_SET)) {
        while (ftello(f) < to && fgets(line, sizeof line, f)) {
            unsigned long long t, v;
            unsigned int comp;
            char metric[16];
            const char *c = strstr(line, "component=");
            int k;

            if (sscanf(line, "%llu\t%15s\t%llu", &t, metric, &v) != 3 || !c
                || sscanf(c, "component=%u", &comp) != 1) {
                continue;
            }
            if (!strcmp(metric, "link_ns")) {
                k = N_HOP_KINDS;
            } else if (!strcmp(metric, "hop_ns")) {
                k = comp == 1 ? HOP_CLASSIFIER : comp == 2 ? HOP_SFF : HOP_VNF;
            } else {
                continue;
            }
            if (kinds[k].n == kinds[k].cap) {
                kinds[k].v = x2nrealloc(kinds[k].v, &kinds[k].cap, sizeof *kinds[k].v);
            }
            kinds[k].v[kinds[k].n++] = v / 1e3;
        }
    }
    if (f) {
        fclose(f);
    }
    for (int k = 0; k < N_HOP_KINDS; k++) {
        s->hop_us[k] = median(kinds[k].v, kinds[k].n);
        free(kinds[k].v);
    }
    s->link_us = median(kinds[N_HOP_KINDS].v, kinds[N_HOP_KINDS].n);
    free(kinds[N_HOP_KINDS].v);
}

/* Closed-loop RTT after a warm-up, the traversals per request and the per-hop split. */
static int
measure_rtt(struct bench *b, struct deployment *d, enum path_id p, struct sample *s)
{
    const struct opts *o = b->o;
    bool dns = p == P_DNS1;
    char dst[INET_ADDRSTRLEN], count[24], size[24], *line = NULL;
    char *args[] = { "--workload", dns ? "dns" : "echo", "--dst", dst, "--iface", "eth1",
                     "--count", count, "--size", size, "--timeout", "200ms",
                     dns ? "--expect" : NULL, "10.0.0.80", NULL };
    char *trace = trace_path(b->inst);
    uint64_t rx0, rx1;
    off_t t0, t1;
    double sent, timeouts, wrong;
    int error;

    inet_ntop(AF_INET, &d->service_addr, dst, sizeof dst);
    snprintf(size, sizeof size, "%d", dns ? o->dns_size : o->size);
    snprintf(count, sizeof count, "%d", b->warmup);
    error = run_client(d, args, 60000, args[1], &line);
    free(line);
    line = NULL;
    if (!error) {
        snprintf(count, sizeof count, "%d", b->count);
        t0 = file_size(trace);
        error = switch_rx_packets(b->inst, &rx0);
    }
    if (!error) {
        error = run_client(d, args, 120000, args[1], &line);
    }
    if (!error) {
        error = switch_rx_packets(b->inst, &rx1);
    }
    if (error) {
        goto out;
    }
    t1 = file_size(trace);
    if (!summary_value(line, "sent", &sent) || !summary_value(line, "p50", &s->p50_us)
        || !summary_value(line, "p99", &s->p99_us) || !summary_value(line, "timeout", &timeouts)
        || !summary_value(line, "wrong", &wrong) || sent <= 0) {
        log_err("%s: cannot read the client's summary: %s", path_names[p], line);
        error = EPROTO;
        goto out;
    }
    if (timeouts + wrong > sent / 100) {
        log_warn("%s: %g of %g requests timed out or were wrong", path_names[p],
                 timeouts + wrong, sent);
    }
    s->trav = (double) (rx1 - rx0) / sent;
    if (p == P_BARE) {
        for (int k = 0; k < N_HOP_KINDS; k++) {
            s->hop_us[k] = NAN;
        }
        s->link_us = NAN;
    } else {
        trace_split(trace, t0, t1, s);
    }
out:
    free(line);
    free(trace);
    return error;
}

/* Echoed pps of 'size'-byte datagrams at offered 'rate' (0: flat out). */
static int
udp_run(struct bench *b, struct deployment *d, uint64_t duration_ns, uint64_t rate,
        double *ppsp, double *lossp, double *txp)
{
    char dst[INET_ADDRSTRLEN], size[24], dur[32], rate_s[24], *line = NULL;
    char *args[] = { "--workload", "udp", "--dst", dst, "--iface", "eth1", "--size", size,
                     "--duration", dur, rate ? "--rate" : NULL, rate_s, NULL };
    int error;

    inet_ntop(AF_INET, &d->service_addr, dst, sizeof dst);
    snprintf(size, sizeof size, "%d", b->o->size);
    snprintf(dur, sizeof dur, "%lluus", (unsigned long long) (duration_ns / 1000));
    snprintf(rate_s, sizeof rate_s, "%llu", (unsigned long long) rate);
    error = run_client(d, args, (int) (duration_ns / 1000000) + 10000, "udp:", &line);
    if (!error && (!summary_value(line, "rx_pps", ppsp) || !summary_value(line, "loss", lossp)
                   || !summary_value(line, "tx_pps", txp))) {
        log_err("cannot read the client's summary: %s", line);
        error = EPROTO;
    }
    free(line);
    return error;
}

/* Maximum pps: what comes back of a flat-out stream, then (with rate_search) the highest
 * offered rate that loses under 1%: bisection between 0 and the flat-out sending rate, 1/64
 * precision, trials of a quarter of the duration (at least 0.5 s: 1% of 10,000 datagrams and
 * more, still past the switch's queues). */
static int
measure_pps(struct bench *b, struct deployment *d, struct sample *s)
{
    uint64_t trial_ns = MAX(b->duration_ns / 4, 500000000ull);
    double pps, loss, tx, lo = 0, hi;
    int error;

    s->lf_pps = NAN;
    error = udp_run(b, d, b->duration_ns, 0, &s->sat_pps, &s->sat_loss, &tx);
    if (error || !b->rate_search) {
        return error;
    }
    s->lf_pps = 0;
    hi = tx;
    for (int i = 0; i < 6 && !error && !interrupted; i++) {
        double mid = (lo + hi) / 2;
        error = udp_run(b, d, trial_ns, (uint64_t) mid, &pps, &loss, &tx);
        if (!error && loss < 0.01) {
            lo = mid;
            s->lf_pps = pps;
        } else {
            hi = mid;
        }
    }
    return error;
}

static int
add_bypass(struct deployment *d, bool add)
{
    struct instance_guest *client = instance_find_guest(d->inst, "client");
    struct instance_guest *server = instance_find_guest(d->inst, "server");
    char *flow;
    int error;

    if (!add) {
        return ovs_flows_del(d->inst->ovs, DATA_BRIDGE, "cookie=" BYPASS_COOKIE "/-1");
    }
    /* Interface 1 is the data interface: [0] is the management one. */
    flow = xasprintf("cookie=%s,priority=300,in_port=%d,ip,nw_dst=%s,actions=output:%d\n",
                     BYPASS_COOKIE, client->ifaces[1].ofport,
                     inet_ntoa(server->ifaces[1].addr), server->ifaces[1].ofport);
    error = ovs_flows_add(d->inst->ovs, DATA_BRIDGE, flow);
    free(flow);
    return error;
}

/* --- The run ------------------------------------------------------------------------------ */

static struct exp_kv dns_zone[] = { { "zone", "www.example.com=10.0.0.80" } };
static struct exp_vnf fwd_vnfs[MAX_CHAIN] = {
    { .fn = "fwd" }, { .fn = "fwd" }, { .fn = "fwd" }, { .fn = "fwd" },
};
static struct exp_vnf dns_vnfs[] = { { .fn = "dns", .params = dns_zone, .n_params = 1 } };
static char *echo_rules[] = { "udp,dport=7" };
static char *dns_rules[] = { "udp,dport=53" };

static void
make_point(enum path_id p, struct exp_point *pt)
{
    memset(pt, 0, sizeof *pt);
    pt->label = "";
    pt->provider = "netns";
    pt->scheme = "none";
    pt->cpus = 1;
    pt->memory = 256 << 20;
    pt->vnfs = p == P_DNS1 ? dns_vnfs : fwd_vnfs;
    pt->n_vnfs = p == P_BARE ? MAX_CHAIN : (size_t) path_vnfs[p];
    pt->rules = p == P_DNS1 ? dns_rules : echo_rules;
    pt->n_rules = 1;
}

/* The chain as scheme `none` places it: one guest per component. */
static const struct deploy_chain_opts chain_opts = { .replicas = 1 };

/* One repetition of one chain (and of the bare path with the 1-VNF chain deployed). */
static int
measure_chain(struct bench *b, enum path_id p, int rep)
{
    struct exp_point pt;
    struct deployment *d = NULL;
    int error;

    make_point(p, &pt);
    error = deploy_chain(b->inst, &pt, &chain_opts, b->inst->dir, &d);
    if (error) {
        return error;
    }
    if (p == P_FWD1) {
        struct sample *s = &b->s[P_BARE][rep];
        error = add_bypass(d, true);
        if (!error) {
            error = measure_rtt(b, d, P_BARE, s);
        }
        if (!error) {
            error = measure_pps(b, d, s);
        }
        s->ok = !error;
        int error2 = add_bypass(d, false);
        error = error ? error : error2;
    }
    if (!error) {
        struct sample *s = &b->s[p][rep];
        error = measure_rtt(b, d, p, s);
        if (!error && p != P_DNS1) {
            error = measure_pps(b, d, s);
        }
        s->ok = !error;
    }
    deploy_stop(d);
    return error;
}

/* The medians over repetitions of one field of a path's samples. */
static double
med(struct bench *b, enum path_id p, size_t offset)
{
    double v[MAX_REPS];
    size_t n = 0;

    for (int r = 0; r < b->o->reps; r++) {
        if (b->s[p][r].ok) {
            double x = *(const double *) ((const char *) &b->s[p][r] + offset);
            if (!isnan(x)) {
                v[n++] = x;
            }
        }
    }
    return median(v, n);
}
#define MED(B, P, FIELD) med(B, P, offsetof(struct sample, FIELD))

/* One throughput kind's line of verdicts: chain pps against the share of the switch it gets. */
static void
print_pps_bound(struct bench *b, const char *kind, size_t offset)
{
    double bare_pps = med(b, P_BARE, offset), bare_trav = round(MED(b, P_BARE, trav));

    printf("%s: bare %.0f round trips/s x %.0f traversals = %.0f OVS traversals/s (the switch's "
           "capacity; bound = bare pps x %.0f / trav)\n", kind, bare_pps, bare_trav,
           bare_pps * bare_trav, bare_trav);
    for (int p = P_FWD1; p <= P_FWD4; p++) {
        double trav = round(MED(b, p, trav)), pps = med(b, p, offset);
        double frac = pps / (bare_pps * bare_trav / trav);
        printf("   %s: %.0f pps, %.0f traversals: %.2f of the bound (bare pps / trav read "
               "literally: %.2f) [target >= 0.80: %s]\n", path_names[p], pps, trav, frac,
               pps / (bare_pps / trav), frac >= 0.8 ? "met" : "MISSED");
    }
}

static void
print_table(struct bench *b, const struct mode *m, struct mode_summary *sum)
{
    const struct opts *o = b->o;
    double bare50 = MED(b, P_BARE, p50_us), bare99 = MED(b, P_BARE, p99_us);
    double bare_sat = MED(b, P_BARE, sat_pps), bare_lf = MED(b, P_BARE, lf_pps);
    double x[3] = { 1, 2, 4 }, y[3], mx = 7.0 / 3, my, sxy = 0, sxx = 0, slope, link;

    printf("\n== %s; medians of %d repetitions\n", m->title, o->reps);
    printf("   load average %.2f at the start, %.2f at the end (the bench's own included)\n",
           b->load0, load_average());
    printf("   RTT: closed loop, %d requests after %d (echo %d B, dns %d B); pps: %d B UDP, "
           "echoed: sat = flat out for %.1f s, lf = highest rate losing < 1%%%s\n", b->count,
           b->warmup, o->size, o->dns_size, o->size, b->duration_ns / 1e9,
           b->rate_search ? "" : " (not measured in this mode: see --all-full)");
    printf("   trav = OVS traversals per request, counted on the switch's ports; "
           "cls/sff/vnf = time inside (SFF trace p50), link = one hop between them\n");
    printf("%-7s %4s %7s %7s %5s %5s %8s %5s %5s %8s %5s %6s %6s %6s %6s\n",
           "path", "trav", "p50_us", "p99_us", "x50", "x99", "sat_pps", "loss", "xsat",
           "lf_pps", "xlf", "cls_us", "sff_us", "vnf_us", "link");
    for (int p = 0; p < N_PATHS; p++) {
        printf("%-7s %4.0f %7.1f %7.1f %5.2f %5.2f", path_names[p], round(MED(b, p, trav)),
               MED(b, p, p50_us), MED(b, p, p99_us), MED(b, p, p50_us) / bare50,
               MED(b, p, p99_us) / bare99);
        if (p == P_DNS1) {
            printf(" %8s %5s %5s %8s %5s", "-", "-", "-", "-", "-");
        } else {
            printf(" %8.0f %5.3f %5.2f %8.0f %5.2f", MED(b, p, sat_pps), MED(b, p, sat_loss),
                   MED(b, p, sat_pps) / bare_sat, MED(b, p, lf_pps),
                   MED(b, p, lf_pps) / bare_lf);
        }
        printf(" %6.1f %6.1f %6.1f %6.1f\n", MED(b, p, hop_us[HOP_CLASSIFIER]),
               MED(b, p, hop_us[HOP_SFF]), MED(b, p, hop_us[HOP_VNF]), MED(b, p, link_us));
    }

    /* Least-squares slope of p50 over chain lengths 1, 2, 4. */
    y[0] = MED(b, P_FWD1, p50_us);
    y[1] = MED(b, P_FWD2, p50_us);
    y[2] = MED(b, P_FWD4, p50_us);
    my = (y[0] + y[1] + y[2]) / 3;
    for (int i = 0; i < 3; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
    }
    slope = sxy / sxx;
    link = MED(b, P_FWD4, link_us);
    printf("cost per extra fwd VNF (p50 slope over 1->2->4): %.1f us; it adds 2 OVS traversals "
           "(link p50 %.1f us each): %.1f us beyond them [target < 15 us: %s]\n",
           slope, link, slope - 2 * link, slope - 2 * link < 15 ? "met" : "MISSED");
    printf("   from the trace: inside a fwd VNF %.1f us, inside the SFF %.1f us per visit\n",
           MED(b, P_FWD4, hop_us[HOP_VNF]), MED(b, P_FWD4, hop_us[HOP_SFF]));
    printf("dns x1 p50 RTT %.1f us [target < 500 us: %s] (FIT-SFC measured ~3700 us)\n",
           MED(b, P_DNS1, p50_us), MED(b, P_DNS1, p50_us) < 500 ? "met" : "MISSED");
    print_pps_bound(b, "sat", offsetof(struct sample, sat_pps));
    if (b->rate_search) {
        print_pps_bound(b, "lf", offsetof(struct sample, lf_pps));
    }
    fflush(stdout);

    sum->ran = true;
    sum->bare_p50 = bare50;
    sum->fwd1_p50 = y[0];
    sum->fwd4_p50 = y[2];
    sum->dns_p50 = MED(b, P_DNS1, p50_us);
    sum->slope = slope;
    sum->link = link;
    sum->bare_sat = bare_sat;
    sum->fwd1_sat = MED(b, P_FWD1, sat_pps);
}

/* One line per mode that ran, ratios to the headline (the first mode that ran). */
static void
print_summary(const struct mode_summary sums[N_MODES])
{
    const struct mode_summary *ref = NULL;

    printf("\n== modes side by side (p50 in us; x = ratio to %s)\n",
           sums[M_AFXDP].ran ? "afxdp" : "the first mode");
    printf("%-9s %7s %7s %7s %7s %6s %9s %6s %6s %8s %8s\n", "mode", "bare", "fwd x1", "fwd x4",
           "dns x1", "xdns", "per-VNF", "link", "beyond", "bare_sat", "fwd1_sat");
    for (int m = 0; m < N_MODES; m++) {
        const struct mode_summary *s = &sums[m];
        if (!s->ran) {
            continue;
        }
        ref = ref ? ref : s;
        printf("%-9s %7.1f %7.1f %7.1f %7.1f %6.2f %9.1f %6.1f %6.1f %8.0f %8.0f\n",
               modes[m].name, s->bare_p50, s->fwd1_p50, s->fwd4_p50, s->dns_p50,
               s->dns_p50 / ref->dns_p50, s->slope, s->link, s->slope - 2 * s->link,
               s->bare_sat, s->fwd1_sat);
    }
    fflush(stdout);
}

static int
run_mode(struct bench *b, enum mode_id m, struct mode_summary *sum)
{
    static const enum path_id order[] = { P_FWD1, P_FWD2, P_FWD4, P_DNS1 };
    const struct opts *o = b->o;
    bool full = modes[m].headline || o->all_full;
    int error = modes[m].pinned ? 0 : unpin_all(b->inst);

    b->rate_search = o->rate_search && full;
    b->count = full ? o->count : MIN(o->count, o->side_count);
    b->warmup = full ? o->warmup : MIN(o->warmup, o->side_warmup);
    b->duration_ns = full ? o->duration_ns : MIN(o->duration_ns, o->side_duration_ns);
    memset(b->s, 0, sizeof b->s);
    b->load0 = load_average();
    for (int r = 0; !error && r < b->o->reps; r++) {
        for (size_t i = 0; !error && i < ARRAY_SIZE(order); i++) {
            if (interrupted) {
                return EINTR;
            }
            error = measure_chain(b, order[i], r);
            if (error) {
                log_err("%s: %s, repetition %d: %s", modes[m].name, path_names[order[i]],
                        r + 1, strerror(error));
            }
        }
    }
    if (!error) {
        print_table(b, &modes[m], sum);
    }
    return error;
}

/* Brings up an instance of the chain shape wired for mode 'm'. */
static int
bench_up(struct bench *b, enum mode_id m, const struct topology *topo, const char *sfcd)
{
    struct instance_opts io = { .agents = true };
    char name[40];
    int error;

    snprintf(name, sizeof name, "sfct-bench-%d", (int) getpid());
    io.name = name;
    io.sfcd = sfcd;
    io.afxdp = modes[m].afxdp;
    io.pmd_cpu = 1;
    io.pin = modes[m].pinned;
    io.pin_cpu = 0;
    error = instance_up(&io, topo, &b->inst);
    if (error) {
        log_err("instance %s (%s): %s", name, modes[m].name, strerror(error));
        return error;
    }
    printf("bench_chain: instance %s up in %.0f ms (%zu guests on a private userspace OVS, "
           "%s data ports)\n", name, b->inst->up_ms, b->inst->n_guests,
           modes[m].afxdp ? "AF_XDP" : "AF_PACKET");
    return 0;
}

/* Parses a comma-separated list of mode names (or "all") into 'sel'. */
static bool
parse_modes(const char *list, bool sel[N_MODES])
{
    char *copy = xstrdup(list), *save = NULL;
    bool ok = true, any = false;

    memset(sel, 0, N_MODES * sizeof *sel);
    for (char *t = strtok_r(copy, ",", &save); t && ok; t = strtok_r(NULL, ",", &save)) {
        bool found = false;
        for (int m = 0; m < N_MODES; m++) {
            if (!strcmp(t, modes[m].name) || !strcmp(t, "all")) {
                sel[m] = found = any = true;
            }
        }
        ok = found;
    }
    free(copy);
    return ok && any;
}

static void
usage(void)
{
    printf("usage: bench_chain [OPTION...]\n"
           "  --sfcd PATH       sfcd binary (default bin/sfcd)\n"
           "  --mode LIST       comma-separated: afxdp (headline: AF_XDP ports, PMD on CPU 1,\n"
           "                    the rest on CPU 0), system (AF_PACKET ports, all on CPU 0),\n"
           "                    unpinned (AF_PACKET ports, every CPU), all (default)\n"
           "  --reps N          repetitions, median reported (default 3, at most %d)\n"
           "  --count N         measured requests per RTT run (default 5000)\n"
           "  --warmup N        requests before (default 500)\n"
           "  --duration T      of a pps run (default 2s)\n"
           "  --size B          echo/UDP payload (default 64)\n"
           "  --dns-size B      DNS query size (default 512)\n"
           "  --no-rate-search  max pps at saturation only (default: also the highest\n"
           "                    rate losing < 1%%, by bisection, in the headline mode)\n"
           "  --all-full        measure every mode like the headline (default: the others\n"
           "                    without the rate search, at most 2000 requests after 200,\n"
           "                    pps runs of at most 1s)\n"
           "  --quick           --reps 1 --count 1000 --warmup 100 --duration 1s\n", MAX_REPS);
}

int
main(int argc, char *argv[])
{
    static const struct option longopts[] = {
        { "sfcd", required_argument, NULL, 'S' },
        { "mode", required_argument, NULL, 'm' },
        { "reps", required_argument, NULL, 'r' },
        { "count", required_argument, NULL, 'c' },
        { "warmup", required_argument, NULL, 'w' },
        { "duration", required_argument, NULL, 'd' },
        { "size", required_argument, NULL, 's' },
        { "dns-size", required_argument, NULL, 'D' },
        { "no-rate-search", no_argument, NULL, 'R' },
        { "all-full", no_argument, NULL, 'A' },
        { "quick", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct opts o = { .sfcd = "bin/sfcd", .reps = 3, .count = 5000, .warmup = 500,
                      .duration_ns = 2000000000ull, .side_count = 2000, .side_warmup = 200,
                      .side_duration_ns = 1000000000ull, .size = 64, .dns_size = 512,
                      .rate_search = true, .modes = { true, true, true } };
    struct bench b = { .o = &o };
    struct mode_summary sums[N_MODES];
    char *why = NULL;
    struct topology *topo = NULL;
    struct exp_point pt;
    char sfcd[PATH_MAX];
    int opt, error = 0;

    log_set_program("bench_chain");
    memset(sums, 0, sizeof sums);
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'S': o.sfcd = optarg; break;
        case 'm': ok = parse_modes(optarg, o.modes); break;
        case 'r': o.reps = atoi(optarg); ok = o.reps >= 1 && o.reps <= MAX_REPS; break;
        case 'c': o.count = atoi(optarg); ok = o.count > 0; break;
        case 'w': o.warmup = atoi(optarg); ok = o.warmup > 0; break;
        case 'd': ok = parse_duration(optarg, &o.duration_ns) && o.duration_ns >= 100000000; break;
        case 's': o.size = atoi(optarg); ok = o.size >= 16 && o.size <= 1400; break;
        case 'D': o.dns_size = atoi(optarg); ok = o.dns_size >= 64 && o.dns_size <= 1400; break;
        case 'R': o.rate_search = false; break;
        case 'A': o.all_full = true; break;
        case 'q':
            o.reps = 1;
            o.count = 1000;
            o.warmup = 100;
            o.duration_ns = 1000000000ull;
            break;
        case 'h': usage(); return 0;
        default: usage(); return 2;
        }
        if (!ok) {
            fprintf(stderr, "bench_chain: bad value '%s' (see --help)\n", optarg);
            return 2;
        }
    }
    if (geteuid()) {
        printf("bench_chain: needs root (namespaces, Open vSwitch): skipped\n");
        return 0;
    }
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2 && (o.modes[M_AFXDP] || o.modes[M_SYSTEM])) {
        /* The PMD thread needs a CPU of its own, and pinning to one of one proves nothing. */
        printf("bench_chain: one CPU: afxdp and system modes skipped\n");
        o.modes[M_AFXDP] = o.modes[M_SYSTEM] = false;
        o.modes[M_UNPINNED] = true;
    }
    if (!realpath(o.sfcd, sfcd)) {
        fprintf(stderr, "bench_chain: %s: %s (build it with make)\n", o.sfcd, strerror(errno));
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    printf("bench_chain: load average %.2f before starting (1-minute: above ~1, the machine was "
           "busy lately and the numbers may not be clean)\n", load_average());
    make_point(P_BARE, &pt);
    error = deploy_chain_topology(&pt, &chain_opts, &topo, &why);
    if (error) {
        fprintf(stderr, "bench_chain: %s\n", why ? why : strerror(error));
        goto out;
    }
    if (o.modes[M_AFXDP]) {
        error = bench_up(&b, M_AFXDP, topo, sfcd);
        if (!error) {
            error = run_mode(&b, M_AFXDP, &sums[M_AFXDP]);
            instance_down(b.inst);
            b.inst = NULL;
        }
    }
    if (!error && (o.modes[M_SYSTEM] || o.modes[M_UNPINNED])) {
        /* Pinned at start even if only unpinned runs: unpin_all undoes it either way. */
        error = bench_up(&b, M_SYSTEM, topo, sfcd);
        for (int m = M_SYSTEM; !error && m <= M_UNPINNED; m++) {
            if (o.modes[m]) {
                error = run_mode(&b, m, &sums[m]);
            }
        }
        if (b.inst) {
            instance_down(b.inst);
            b.inst = NULL;
        }
    }
    if (!error) {
        print_summary(sums);
    }
out:
    topology_free(topo);
    free(why);
    return error ? 1 : 0;
}
