#include "testbed/run/workload.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testbed/deploy/deploy.h"
#include "testbed/infra/capture.h"
#include "testbed/infra/instance.h"
#include "testbed/infra/ovs.h"
#include "testbed/infra/provider.h"
#include "testbed/model/experiment.h"
#include "testbed/run/events.h"
#include "testbed/run/fault_plan.h"
#include "testbed/run/run_ctx.h"
#include "testbed/run/runner.h"
#include "testbed/schemes/scheme.h"
#include "testbed/store/store.h"
#include "vnfs/lib/util.h"

/* How often the runner looks up from waiting on the workload: to sample the guests' cgroups
 * and to notice Ctrl-C. */
#define WORKLOAD_TICK_MS 500
#define WORKLOAD_PROGRESS_NS (10ull * 1000000000ull)     /* A progress line this often. */

/* "req=3,outcome=ok,component=10" -> {"outcome":"ok", ...}, without the keys that name one
 * request or one interval: those would make a series per request. */
static char *
labels_from_tsv(const char *text, const struct deployment *d)
{
    static const char *const per_sample[] = { "req", "seq", "rtt_ns", "interval_ns", "hop" };
    json_t *o = json_object();
    char *copy = xstrdup(text), *save = NULL;

    for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        bool skip = false;

        if (!eq) {
            continue;
        }
        *eq = '\0';
        for (size_t i = 0; i < ARRAY_SIZE(per_sample); i++) {
            skip |= !strcmp(kv, per_sample[i]);
        }
        if (skip) {
            continue;
        }
        if (!strcmp(kv, "component")) {
            /* Timestamp ids back to component names: "vnf[0].replica[2]". */
            const struct deploy_component *c = deploy_find_id(d, strtoul(eq + 1, NULL, 10));
            json_object_set_new(o, kv, json_string(c ? c->name : eq + 1));
        } else {
            json_object_set_new(o, kv, json_string(eq + 1));
        }
    }
    free(copy);
    return run_ctx_labels(o);
}

/* Ingests a role's TSV samples ("t_ns metric value labels", t_ns monotonic) into the run.
 * Nanosecond metrics become microseconds, the unit the store's metrics use. */
static int
ingest_tsv(struct run_ctx *rc, const char *path, size_t *np)
{
    char *line = NULL;
    size_t cap = 0, n = 0;
    /* The file is in a guest's directory: a symlink planted there must not make us read a
     * host file into the history. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    FILE *f = NULL;
    int error = 0;

    /* ...nor a FIFO or a device hang us: a regular file or nothing. */
    if (fd >= 0 && (fstat(fd, &st) || !S_ISREG(st.st_mode))) {
        close(fd);
        fd = -1;
        errno = EINVAL;
    }
    f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (!f) {
        error = errno;
        if (fd >= 0) {
            close(fd);
        }
        return error;
    }
    while (getline(&line, &cap, f) > 0) {
        char metric[64], labels[512] = "";
        unsigned long long t;
        double value;
        char *labels_js;

        if (sscanf(line, "%llu\t%63s\t%lf\t%511[^\n]", &t, metric, &value, labels) < 3) {
            continue;
        }
        size_t len = strlen(metric);
        if (len > 3 && !strcmp(metric + len - 3, "_ns")) {
            strcpy(metric + len - 3, "_us");
            value /= 1000.0;
        }
        if (!strcmp(metric, "probe")) {
            strcpy(metric, "probe_ok");
        }
        /* A probe's value is its outcome: one series, whatever the outcome label says. */
        labels_js = strcmp(metric, "probe_ok") ? labels_from_tsv(labels, rc->dep) : NULL;
        error = store_sample_add(rc->store, rc->run, metric, labels_js, run_ctx_time(rc, t), value);
        const char *outcome = strstr(labels, "outcome=");

        if (!error && !strcmp(metric, "probe_ok") && outcome && strncmp(outcome, "outcome=ok", 10)) {
            /* A failed probe is one of several things (client.c): keep which, as a series
             * of its own (answer_forged, answer_corrupted, answer_error, answer_timeout). */
            char what[48];
            if (sscanf(outcome, "outcome=%31[a-z]", what + 7) == 1) {
                memcpy(what, "answer_", 7);
                error = store_sample_add(rc->store, rc->run, what, NULL, run_ctx_time(rc, t), 1);
            }
        }
        const char *rtt = strstr(labels, "rtt_ns=");
        if (!error && !strcmp(metric, "probe_ok") && rtt) {
            /* A probe's round trip, as a request's: the RTT of a probe stream (its p50 and
             * p99 beside its availability), labelled by outcome like a dns request's. */
            char what[32] = "";
            char *rtt_labels;

            if (outcome) {
                sscanf(outcome, "outcome=%31[a-z]", what);
            }
            rtt_labels = run_ctx_labels(json_pack("{s:s}", "outcome", what));
            error = store_sample_add(rc->store, rc->run, "rtt_us", rtt_labels,
                                     run_ctx_time(rc, t), strtod(rtt + 7, NULL) / 1000.0);
            free(rtt_labels);
        }
        free(labels_js);
        if (error) {
            break;
        }
        n++;
    }
    free(line);
    fclose(f);
    if (np) {
        *np = n;
    }
    return error;
}

/* The CPU time, in microseconds, process 'pid' ("self": the runner; "PID/task/TID": a thread)
 * has used so far, its threads together (utime and stime of /proc/PID/stat); 0 if it cannot
 * be read. With 'pmd', whether its command name (in the same file) begins with "pmd". */
static uint64_t
process_cpu_usec(const char *pid, bool *pmd)
{
    char path[64], *text = NULL, *p, *comm;
    unsigned long long ut = 0, st = 0;

    if (pmd) {
        *pmd = false;
    }
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    if (read_file(path, &text, NULL)) {
        return 0;
    }
    /* After the command's name, which may hold spaces: state is field 3, utime 14. */
    p = strrchr(text, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                     &ut, &st) != 2) {
        ut = st = 0;
    }
    comm = strchr(text, '(');
    if (pmd && comm) {
        *pmd = !strncmp(comm + 1, "pmd", 3);
    }
    free(text);
    return (ut + st) * 1000000ull / sysconf(_SC_CLK_TCK);
}

/* The CPU time, in microseconds, of process 'pid''s threads but its PMDs (OVS names them
 * "pmd-cNN/id:M"): these poll on a CPU of their own, the switch's other threads (main,
 * handlers, revalidators) take theirs wherever the scheduler puts them, beside the guests.
 * One file a thread: its name is in its stat too (the runner's every tick, on the guests'
 * CPU). */
static uint64_t
process_cpu_usec_but_pmd(pid_t pid)
{
    char path[32];
    struct dirent *de;
    uint64_t usec = 0;
    DIR *d;

    snprintf(path, sizeof path, "/proc/%d/task", (int) pid);
    d = opendir(path);
    while (d && (de = readdir(d)) != NULL) {
        char task[300];
        uint64_t task_usec;
        bool pmd;

        if (atoi(de->d_name) > 0) {
            snprintf(task, sizeof task, "%d/task/%s", (int) pid, de->d_name);
            task_usec = process_cpu_usec(task, &pmd);
            usec += pmd ? 0 : task_usec;
        }
    }
    if (d) {
        closedir(d);
    }
    return usec;
}

/* The host's busy CPU time so far, in microseconds from an arbitrary origin: every CPU's
 * time less its idle and iowait time (/proc/stat), which the kernel measures to the
 * nanosecond, where user and system time are sampled at its tick and missed most of the short
 * runs of guests that wake for every frame (ours came out larger than the host's); 0 if
 * unreadable. */
static uint64_t
host_busy_usec(void)
{
    unsigned long long v[5] = { 0 };
    char *text = NULL;
    uint64_t idle;

    if (read_file("/proc/stat", &text, NULL)) {
        return 0;
    }
    if (sscanf(text, "cpu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4]) != 5) {
        free(text);
        return 0;
    }
    free(text);
    idle = (v[3] + v[4]) * 1000000ull / sysconf(_SC_CLK_TCK);
    return time_mono_ns() / 1000 * sysconf(_SC_NPROCESSORS_ONLN) - idle;
}

static void
sample_resources(struct run_ctx *rc)
{
    int64_t t = run_ctx_time(rc, time_mono_ns());
    uint64_t host = host_busy_usec(), runner = process_cpu_usec("self", NULL), ours = runner;
    pid_t switch_pids[2] = { 0, 0 };
    struct {
        const struct guest *g;      /* NULL: not read. */
        uint64_t cpu_ns, mem;
    } *guests;
    double load;
    FILE *f;

    /* The host's 1-minute load average beside every run's numbers: a shared host's latency
     * and capacity mean little without it. */
    f = fopen("/proc/loadavg", "re");
    if (f) {
        if (fscanf(f, "%lf", &load) == 1) {
            store_sample_add(rc->store, rc->run, "host_load", NULL, t, load);
        }
        fclose(f);
    }

    guests = xcalloc(rc->dep->n_comps, sizeof *guests);
    for (size_t i = 0; i < rc->dep->n_comps; i++) {
        const struct deploy_component *c = &rc->dep->comps[i];
        struct instance_guest *ig = __atomic_load_n(&c->ig, __ATOMIC_ACQUIRE);
        /* NULL once a crash destroyed it (until a scheme puts a new guest in its place). */
        struct guest *g = ig ? __atomic_load_n(&ig->guest, __ATOMIC_ACQUIRE) : NULL;
        size_t k;
        char *labels;

        if (!g) {
            continue;
        }
        /* Components that are one guest (an active copy and its replica[0]) are read and
         * counted once. */
        for (k = 0; k < i && guests[k].g != g; k++) {
            continue;
        }
        if (k == i) {
            if (guest_read_stats(g, &guests[i].cpu_ns, &guests[i].mem)) {
                continue;
            }
            guests[i].g = g;
            ours += guests[i].cpu_ns / 1000;
        }
        labels = run_ctx_labels(json_pack("{s:s}", "component", c->name));
        store_sample_add(rc->store, rc->run, "cpu_usage_usec", labels, t,
                         guests[k].cpu_ns / 1000.0);
        store_sample_add(rc->store, rc->run, "memory_current", labels, t, guests[k].mem);
        free(labels);
    }
    free(guests);
    /* What else the host ran meanwhile: on a shared host a measurement is only the
     * instance's while this stays near 0 (another helper's simulator on the guests' CPU
     * halved a chain's capacity, bench/nham.sh). Cumulative from an arbitrary origin: its
     * differences over a time the instance's guests did not change are the CPU time of
     * everything but the guests, the switch's daemons and this runner. */
    if (rc->inst->ovs) {
        ovs_daemon_pids(rc->inst->ovs, switch_pids);
    }
    for (int i = 0; i < 2; i++) {
        if (switch_pids[i] > 0) {
            char pid[16];

            snprintf(pid, sizeof pid, "%d", (int) switch_pids[i]);
            ours += process_cpu_usec(pid, NULL);
        }
    }
    /* The chain's CPU time outside its guests but the PMD's: the runner (sfclab, with the
     * FMS of schemes that run one) and the switch's other threads, which carry the management
     * network (heartbeats); bench/nham.sh prices a datagram with them. */
    store_sample_add(rc->store, rc->run, "process_cpu_usec", "{\"process\":\"runner\"}", t,
                     runner);
    if (switch_pids[0] > 0 || switch_pids[1] > 0) {
        store_sample_add(rc->store, rc->run, "process_cpu_usec", "{\"process\":\"ovs\"}", t,
                         (switch_pids[0] > 0 ? process_cpu_usec_but_pmd(switch_pids[0]) : 0)
                         + (switch_pids[1] > 0 ? process_cpu_usec_but_pmd(switch_pids[1]) : 0));
    }
    if (host) {
        store_sample_add(rc->store, rc->run, "host_foreign_cpu_usec", NULL, t,
                         (double) host - (double) ours);
    }
}

/* The running roles' own counters (forwarded, voted, no quorum, ...) as samples of metric
 * "role_counter", labelled by component and counter: what each component did, in the history
 * beside what the client saw. A component that runs no more (crashed) is skipped. 'last'
 * holds each component's counters as sampled before: a counter that has not changed since is
 * stored again only at the run's last sample ('all'). Most never change without a fault
 * (NHAM's 1R-AA chain of 4: 89 of 363), and storing every one each tick cost the runner
 * ~0.4 us of CPU per datagram at 8,000/s there, which bench/nham.sh counts as the chain's. */
static void
sample_counters(struct run_ctx *rc, json_t *last, bool all)
{
    int64_t t = run_ctx_time(rc, time_mono_ns());

    for (size_t i = 0; i < rc->dep->n_comps; i++) {
        struct deploy_component *c = &rc->dep->comps[i];
        json_t *counters = NULL, *value;
        const char *name;

        if (!strcmp(c->role, "client") || deploy_role_counters(rc->dep, c, &counters)) {
            continue;
        }
        json_t *before = json_object_get(last, c->name);

        json_object_foreach(counters, name, value) {
            if (!json_is_integer(value)
                || (!all && json_equal(json_object_get(before, name), value))) {
                continue;
            }
            char *labels = run_ctx_labels(json_pack("{s:s, s:s}", "component", c->name,
                                                 "counter", name));
            store_sample_add(rc->store, rc->run, "role_counter", labels, t,
                             json_integer_value(value));
            free(labels);
        }
        json_object_set_new(last, c->name, counters);
    }
}

static void
client_args(const struct run_ctx *rc, const char *out, char ***argvp)
{
    static const char *const kinds[] = { "dns", "udp", "probe" };
    const struct exp_workload *w = &rc->point->workload;
    char **argv = xcalloc(48, sizeof *argv);
    size_t n = 0;

    bool dns_service = rc->point->n_vnfs
                       && !strcmp(rc->point->vnfs[rc->point->n_vnfs - 1].fn, "dns");

    /* Without a dns VNF at its end, the chain leads to the echo server. */
    argv[n++] = xstrdup("--workload");
    argv[n++] = xstrdup(w->kind == EXP_WL_DNS && !dns_service ? "echo" : kinds[w->kind]);
    if (w->kind == EXP_WL_PROBE) {
        argv[n++] = xstrdup("--proto");
        argv[n++] = xstrdup(dns_service ? "dns" : "echo");
    }
    for (size_t i = 0; i < rc->point->n_vnfs; i++) {
        /* An auth VNF in the chain lets through only queries carrying the flow's token. */
        const struct exp_vnf *v = &rc->point->vnfs[i];
        for (size_t j = 0; !strcmp(v->fn, "auth") && j < v->n_params; j++) {
            if (!strcmp(v->params[j].key, "key")) {
                argv[n++] = xstrdup("--auth-key");
                argv[n++] = xstrdup(v->params[j].value);
            }
        }
    }
    if (dns_service) {
        /* Ask for the zone's first name and count any other answer as wrong: that is how a
         * spoofed A record shows in the history. */
        const struct exp_vnf *dns = &rc->point->vnfs[rc->point->n_vnfs - 1];
        for (size_t i = 0; i < dns->n_params; i++) {
            char name[256], ip[64];
            if (!strcmp(dns->params[i].key, "zone")
                && sscanf(dns->params[i].value, "%255[^=]=%63[0-9.]", name, ip) == 2) {
                argv[n++] = xstrdup("--name");
                argv[n++] = xstrdup(name);
                argv[n++] = xstrdup("--expect");
                argv[n++] = xstrdup(ip);
                break;
            }
        }
    }
    argv[n++] = xstrdup("--dst");
    argv[n++] = xstrdup(inet_ntoa(rc->dep->service_addr));
    argv[n++] = xstrdup("--iface");
    argv[n++] = xstrdup("eth1");
    if (w->count) {
        argv[n++] = xstrdup("--count");
        argv[n++] = xasprintf("%llu", (unsigned long long) (w->count + rc->point->warmup));
    }
    argv[n++] = xstrdup("--size");
    argv[n++] = xasprintf("%llu", (unsigned long long) w->size);
    argv[n++] = xstrdup("--timeout");
    argv[n++] = xasprintf("%lluus", (unsigned long long) (w->timeout_ns / 1000));
    if (w->rate) {
        argv[n++] = xstrdup("--rate");
        argv[n++] = xasprintf("%llu", (unsigned long long) w->rate);
    }
    if (w->capacity) {
        argv[n++] = xstrdup("--capacity");
        argv[n++] = xasprintf("%.17g", w->capacity_loss);
        if (w->window_ns) {
            argv[n++] = xstrdup("--window");
            argv[n++] = xasprintf("%lluus", (unsigned long long) (w->window_ns / 1000));
        }
    }
    if (w->duration_ns) {
        argv[n++] = xstrdup("--duration");
        argv[n++] = xasprintf("%lluus", (unsigned long long) (w->duration_ns / 1000));
    }
    if (w->interval_ns) {
        argv[n++] = xstrdup("--interval");
        argv[n++] = xasprintf("%lluus", (unsigned long long) (w->interval_ns / 1000));
    }
    if (w->source_port) {
        argv[n++] = xstrdup("--sport");
        argv[n++] = xasprintf("%llu", (unsigned long long) w->source_port);
    }
    argv[n++] = xstrdup("--out");
    argv[n++] = xstrdup(out);
    argv[n] = NULL;
    *argvp = argv;
}

static void
free_argv(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++) {
        free(argv[i]);
    }
    free(argv);
}

/* How far a running workload is: by the clock for a duration, by the requests answered or
 * timed out (lines of the client's samples file, read as it grows) for a count. */
struct workload_progress {
    off_t offset;
    uint64_t lines;
};

static void
workload_progress_show(const struct run_ctx *rc, struct workload_progress *wp, const char *out,
                       uint64_t elapsed_ns)
{
    const struct exp_workload *w = &rc->point->workload;
    double done = 0;
    FILE *f;

    if (w->duration_ns) {
        done = (double) elapsed_ns / w->duration_ns;
    } else if ((f = fopen(out, "r")) != NULL) {
        int c;

        fseeko(f, wp->offset, SEEK_SET);
        while ((c = getc(f)) != EOF) {
            wp->lines += c == '\n';
            wp->offset++;
        }
        fclose(f);
        done = (double) wp->lines / (w->count + rc->point->warmup);
    }
    done = MIN(done, 1.0);
    printf("    workload: %.0f%% after %.0f s", done * 100, elapsed_ns / 1e9);
    if (done > 0.001) {
        printf(", ETA %.0f s", elapsed_ns / 1e9 * (1 - done) / done);
    }
    printf("\n");
    fflush(stdout);
}

/* Drives the workload to its end, applying the fault schedule and sampling resources. */
static int
workload_drive(struct run_ctx *rc)
{
    const struct exp_workload *w = &rc->point->workload;
    struct deploy_component *client = deploy_find(rc->dep, "client[0]", NULL);
    char *out = xasprintf("%s/guests/%s/samples.tsv", rc->inst->dir, client->guest);
    uint64_t budget_ns, deadline, start, next_progress;
    struct workload_progress progress = { 0 };
    struct fault_plan plan;
    char **argv = NULL;
    void *controller = NULL;
    json_t *counters = NULL;    /* What sample_counters() saw last. */
    int exit_code = -1;
    int error;

    /* Every request may time out, and a duration bounds the rest, after which the client
     * waits one timeout for the stragglers: never wait longer. No cap of our own: NHAM's
     * Table 2 needs 3 h per point. */
    budget_ns = w->duration_ns + (w->duration_ns ? w->timeout_ns : 0)
                + (w->count + rc->point->warmup) * w->timeout_ns + 10ull * 1000000000ull;
    error = fault_plan_build(rc, w->duration_ns ? w->duration_ns : budget_ns, &plan);
    if (error) {
        free(out);
        return error;
    }
    client_args(rc, out, &argv);
    if (rc->scheme->controller_start) {
        struct scheme_controller_ctx ctx = {
            .inst = rc->inst, .dep = rc->dep, .point = rc->point, .events = rc->events,
        };
        error = rc->scheme->controller_start(&ctx, &controller);
        if (error) {
            log_err("%s: the scheme's controller did not start (%s)", rc->scheme->name,
                    strerror(error));
            free_argv(argv);
            free(out);
            fault_plan_finish(rc, &plan);
            return error;
        }
    }
    run_ctx_event(rc, "phase-start", "client[0]", "workload");
    counters = json_object();
    start = time_mono_ns();
    deadline = start + budget_ns;
    next_progress = start + WORKLOAD_PROGRESS_NS;
    error = fault_plan_start(rc, &plan, start);
    error = error ? error : deploy_start_role(client, "client", argv);
    while (!error) {
        uint64_t now = time_mono_ns();

        if (instance_interrupted()) {
            error = EINTR;
            break;
        }
        /* Asking every agent can stall for seconds on a loaded host: the fault plan has its
         * own thread, so that no fault waits for it. */
        sample_resources(rc);
        sample_counters(rc, counters, false);
        run_events_drain(rc->events, rc->store, rc->run);
        if (now >= next_progress) {
            workload_progress_show(rc, &progress, out, now - start);
            next_progress = now + WORKLOAD_PROGRESS_NS;
        }
        error = deploy_wait_role(client, WORKLOAD_TICK_MS, &exit_code);
        if (error == ETIMEDOUT) {
            error = time_mono_ns() > deadline ? ETIMEDOUT : 0;
            continue;
        }
        break;
    }
    /* A last sample: a run shorter than a tick would otherwise have one sample per
     * component, and no CPU time to show (a mean needs two). */
    sample_resources(rc);
    sample_counters(rc, counters, true);
    json_decref(counters);
    fault_plan_finish(rc, &plan);
    if (rc->scheme->controller_stop && controller) {
        rc->scheme->controller_stop(controller);
    }
    run_ctx_event(rc, "phase-end", "client[0]", "workload");
    if (!error && exit_code == 3 && rc->opts->keep_going) {
        /* The client ran and nothing was answered right: in a comparison that is what the
         * scheme did (availability 0), stored like any other run. */
        log_warn("the client got no right answer to any request (its log: %s/guests/%s/)",
                 rc->inst->dir, client->guest);
        exit_code = 0;
    }
    if (!error && exit_code) {
        log_err("the client exited with status %d (its log: %s/guests/%s/)", exit_code,
                rc->inst->dir, client->guest);
        error = EIO;
    }
    if (!error || error == EINTR) {
        size_t n = 0;
        int e2 = ingest_tsv(rc, out, &n);
        if (e2) {
            log_err("%s: %s", out, strerror(e2));
            error = error ? error : e2;
        }
        /* Every component may trace hops (the SFF writes its replicas' too); a guest's file
         * is absent when it traced nothing. */
        for (size_t i = 0; i < rc->dep->n_comps; i++) {
            const struct deploy_component *c = &rc->dep->comps[i];
            bool seen = false;
            for (size_t j = 0; j < i; j++) {
                seen |= !strcmp(rc->dep->comps[j].guest, c->guest);
            }
            if (!seen) {
                char *hops = xasprintf("%s/guests/%s/hops.tsv", rc->inst->dir, c->guest);
                ingest_tsv(rc, hops, NULL);
                free(hops);
            }
        }
    }
    free_argv(argv);
    free(out);
    return error;
}

/* The share of 'ms' milliseconds that 'cpu' spent idle (/proc/stat); 0 if unreadable. */
static double
cpu_idle_share(int cpu, unsigned int ms)
{
    uint64_t total[2] = { 0, 0 }, idle[2] = { 0, 0 };
    char name[16];

    snprintf(name, sizeof name, "cpu%d ", cpu);
    for (int i = 0; i < 2; i++) {
        char *text = NULL, *line;

        if (i) {
            usleep(ms * 1000);
        }
        if (read_file("/proc/stat", &text, NULL)) {
            return 0;
        }
        line = strstr(text, name);
        if (line) {
            unsigned long long v[8] = { 0 };
            sscanf(line + strlen(name), "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
            for (int k = 0; k < 8; k++) {
                total[i] += v[k];
            }
            idle[i] = v[3] + v[4];
        }
        free(text);
    }
    return total[1] > total[0] ? (double) (idle[1] - idle[0]) / (total[1] - total[0]) : 0;
}

/* The PMD's sleep while the workload runs (runner_opts.pmd_sleep_workload_us, cmd_run.c says
 * why): shorter than the idle one when the PMD's CPU has time to spare: no other instance's
 * PMD polls there, and it was at least half idle just before (its polls take CPU time that
 * busy guests would otherwise get: fitsfc f=1 at load 12 was slower with them). Returns
 * whether it was changed (and must be set back). A value of 0 is never taken here: a
 * busy-polling real-time PMD would starve every other one on its CPU. */
static bool
workload_pmd_sleep(struct run_ctx *rc)
{
    unsigned int idle = rc->opts->pmd_sleep_us, busy = rc->opts->pmd_sleep_workload_us;
    char detail[96];
    double spare;

    if (!rc->inst->afxdp || !idle || !busy || busy == idle) {
        return false;
    }
    if (instance_pmd_cpu_shared(rc->inst)) {
        snprintf(detail, sizeof detail, "%u us: another instance's PMD polls on CPU %d", idle,
                 rc->inst->pmd_cpu);
        run_ctx_event(rc, "pmd-sleep", NULL, detail);
        return false;
    }
    spare = cpu_idle_share(rc->inst->pmd_cpu, 250);
    if (spare < 0.5) {
        snprintf(detail, sizeof detail, "%u us: CPU %d was %.0f%% idle", idle,
                 rc->inst->pmd_cpu, spare * 100);
        run_ctx_event(rc, "pmd-sleep", NULL, detail);
        return false;
    }
    if (instance_set_pmd_sleep(rc->inst, busy)) {
        return false;
    }
    snprintf(detail, sizeof detail, "%u us while the workload runs (%u idle; CPU %d %.0f%% idle)",
             busy, idle, rc->inst->pmd_cpu, spare * 100);
    run_ctx_event(rc, "pmd-sleep", NULL, detail);
    return true;
}

/* The workload, with a pcap of the data bridge kept beside the database when the experiment
 * asks for one (`capture: true`). */
int
workload_run(struct run_ctx *rc)
{
    struct capture *cap = NULL;
    bool pmd_changed = workload_pmd_sleep(rc);
    int error = 0, error2;

    if (rc->exp->capture) {
        error = capture_start_run(rc->inst, rc->opts->db_path, rc->exp->name, rc->run, &cap);
        run_ctx_event(rc, "capture", NULL, error ? strerror(error) : capture_path(cap));
    }
    error = error ? error : workload_drive(rc);
    if (pmd_changed) {
        instance_set_pmd_sleep(rc->inst, rc->opts->pmd_sleep_us);
    }
    error2 = cap ? capture_stop(cap, NULL) : 0;
    return error ? error : error2;
}
