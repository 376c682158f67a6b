#include "testbed/run/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "injectors/inject.h"
#include "injectors/schedule.h"
#include "testbed/deploy/deploy.h"
#include "testbed/infra/capture.h"
#include "testbed/infra/instance.h"
#include "testbed/infra/libvirtd.h"
#include "testbed/infra/provider.h"
#include "testbed/model/experiment.h"
#include "testbed/model/topology.h"
#include "testbed/run/events.h"
#include "testbed/schemes/scheme.h"
#include "testbed/stats/metrics.h"
#include "testbed/stats/stats.h"
#include "testbed/store/store.h"
#include "vnfs/core/buf.h"
#include "vnfs/core/util.h"
#include "vnfs/ft/rng.h"

/* How often the runner looks up from waiting on the workload: to sample the guests' cgroups
 * and to notice Ctrl-C. */
#define RUNNER_TICK_MS 500
#define RUNNER_PROGRESS_NS (10ull * 1000000000ull)     /* A progress line this often. */

struct run_ctx {
    const struct runner_opts *opts;
    struct experiment *exp;
    const struct exp_point *point;
    int repetition;
    struct store *store;
    int64_t run;
    uint64_t mono_origin;       /* time_mono_ns() at the run's t_ns 0. */
    struct instance *inst;
    struct deployment *dep;
    const struct scheme_class *scheme;
    struct run_events *events;  /* The event API: the runner's and the controller's events. */
};

/* Labels as the store keeps them: compact JSON with sorted keys, or NULL for none. */
static char *
labels_json(json_t *obj)
{
    char *s = NULL;

    if (obj && json_object_size(obj)) {
        s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    }
    json_decref(obj);
    return s;
}

static json_t *
scalar_json(const char *value)
{
    char *end;
    double d;

    errno = 0;
    d = strtod(value, &end);
    if (*value && !*end && !errno && isfinite(d)) {
        return d == floor(d) && fabs(d) < 9e15 ? json_integer((json_int_t) d) : json_real(d);
    }
    return json_string(value);
}

static char *
point_json(const struct exp_point *p)
{
    json_t *o = json_object();

    for (size_t i = 0; i < p->n_axes; i++) {
        json_object_set_new(o, p->axes[i].key, scalar_json(p->axes[i].value));
    }
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

static char *
params_json(const struct exp_point *p, const struct runner_opts *opts)
{
    static const char *const wl[] = { "dns", "udp", "probe" };
    json_t *o = json_object(), *params = json_object(), *chain = json_array();

    for (size_t i = 0; i < p->n_params; i++) {
        json_object_set_new(params, p->params[i].key, scalar_json(p->params[i].value));
    }
    for (size_t i = 0; i < p->n_vnfs; i++) {
        json_array_append_new(chain, json_string(p->vnfs[i].fn));
    }
    json_object_set_new(o, "scheme", json_string(p->scheme));
    json_object_set_new(o, "provider", json_string(p->provider));
    json_object_set_new(o, "params", params);
    json_object_set_new(o, "chain", chain);
    json_object_set_new(o, "workload", json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I}", "kind", wl[p->workload.kind],
        "count", (json_int_t) p->workload.count, "size", (json_int_t) p->workload.size,
        "rate", (json_int_t) p->workload.rate,
        "duration_ns", (json_int_t) p->workload.duration_ns,
        "timeout_ns", (json_int_t) p->workload.timeout_ns));
    json_object_set_new(o, "cpus", json_real(p->cpus));
    json_object_set_new(o, "memory", json_integer(p->memory));
    json_object_set_new(o, "warmup", json_integer(p->warmup));
    json_object_set_new(o, "pin_cpu", opts->pin ? json_integer(opts->pin_cpu) : json_null());
    json_object_set_new(o, "datapath", json_string(opts->afxdp ? "afxdp" : "system"));
    /* What the command line changed: a quick run is never the full point (store.h). */
    json_object_set_new(o, "variant", json_string(opts->variant ? opts->variant : "full"));
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

static char *
git_revision(void)
{
    char line[128] = "";
    FILE *f = popen("git rev-parse --short HEAD 2>/dev/null", "r");

    if (f) {
        if (!fgets(line, sizeof line, f)) {
            line[0] = '\0';
        }
        pclose(f);
    }
    line[strcspn(line, "\n")] = '\0';
    return xstrdup(*line ? line : "unknown");
}

static int64_t
run_time(const struct run_ctx *rc, uint64_t mono_ns)
{
    return (int64_t) (mono_ns - rc->mono_origin);
}

static void
event(struct run_ctx *rc, const char *kind, const char *target, const char *detail)
{
    run_events_add(rc->events, 0, kind, target, detail);
    run_events_drain(rc->events, rc->store, rc->run);
}

/* One "link-shaped" event per impaired link and direction: what was asked and which mechanism
 * (tbf, bpf, stage, netem) realised it, as the instance recorded them (testbed/infra/shaper.h). */
static void
record_shaping(struct run_ctx *rc)
{
    char *path = xasprintf("%s/shaping", rc->inst->dir), *text = NULL, *save = NULL;

    if (!read_file(path, &text, NULL)) {
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *sp = strchr(line, ' ');
            if (sp) {
                *sp = '\0';
                event(rc, "link-shaped", line, sp + 1);
            }
        }
    }
    free(text);
    free(path);
}

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
    return labels_json(o);
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
        error = store_sample_add(rc->store, rc->run, metric, labels_js, run_time(rc, t), value);
        const char *outcome = strstr(labels, "outcome=");
        if (!error && !strcmp(metric, "probe_ok") && outcome && strncmp(outcome, "outcome=ok", 10)) {
            /* A failed probe is one of several things (client.c): keep which, as a series
             * of its own (answer_forged, answer_corrupted, answer_error, answer_timeout). */
            char what[48];
            if (sscanf(outcome, "outcome=%31[a-z]", what + 7) == 1) {
                memcpy(what, "answer_", 7);
                error = store_sample_add(rc->store, rc->run, what, NULL, run_time(rc, t), 1);
            }
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

static void
sample_resources(struct run_ctx *rc)
{
    int64_t t = run_time(rc, time_mono_ns());

    for (size_t i = 0; i < rc->dep->n_comps; i++) {
        const struct deploy_component *c = &rc->dep->comps[i];
        uint64_t cpu_ns, mem;
        char *labels;

        if (!c->ig || guest_read_stats(c->ig->guest, &cpu_ns, &mem)) {
            continue;
        }
        labels = labels_json(json_pack("{s:s}", "component", c->name));
        store_sample_add(rc->store, rc->run, "cpu_usage_usec", labels, t, cpu_ns / 1000.0);
        store_sample_add(rc->store, rc->run, "memory_current", labels, t, mem);
        free(labels);
    }
}

/* The running roles' own counters (forwarded, voted, no quorum, ...) as samples of metric
 * "role_counter", labelled by component and counter: what each component did, in the history
 * beside what the client saw. A component that runs no more (crashed) is skipped. */
static void
sample_counters(struct run_ctx *rc)
{
    int64_t t = run_time(rc, time_mono_ns());

    for (size_t i = 0; i < rc->dep->n_comps; i++) {
        struct deploy_component *c = &rc->dep->comps[i];
        json_t *counters = NULL, *value;
        const char *name;

        if (!strcmp(c->role, "client") || deploy_role_counters(c, &counters)) {
            continue;
        }
        json_object_foreach(counters, name, value) {
            char *labels = labels_json(json_pack("{s:s, s:s}", "component", c->name,
                                                 "counter", name));
            if (json_is_integer(value)) {
                store_sample_add(rc->store, rc->run, "role_counter", labels, t,
                                 json_integer_value(value));
            }
            free(labels);
        }
        json_decref(counters);
    }
}

/* Summarises one series of the stored history, skipping its first 'skip' samples, and stores
 * the summary under 'summary_labels'. */
static int
summarize(struct run_ctx *rc, const char *metric, const char *labels, size_t skip,
          const char *summary_labels, struct stats_summary *sum)
{
    struct store_point *pts = NULL;
    size_t n = 0;
    double *v = NULL;
    int error;

    error = store_samples_read(rc->store, rc->run, metric, labels, &pts, &n);
    if (error) {
        return error;
    }
    if (n <= skip) {
        free(pts);
        return ENOENT;
    }
    v = xcalloc(n - skip, sizeof *v);
    for (size_t i = skip; i < n; i++) {
        v[i - skip] = pts[i].value;
    }
    error = stats_summarize(v, n - skip, sum);
    if (!error) {
        struct store_summary s = {
            .n = sum->n, .mean = sum->mean, .ci95 = sum->ci95, .p50 = sum->p50,
            .p99 = sum->p99, .min = sum->min, .max = sum->max,
        };
        error = store_summary_put(rc->store, rc->run, metric, summary_labels, &s);
    }
    free(v);
    free(pts);
    return error;
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
    if (w->duration_ns) {
        argv[n++] = xstrdup("--duration");
        argv[n++] = xasprintf("%lluus", (unsigned long long) (w->duration_ns / 1000));
    }
    if (w->interval_ns) {
        argv[n++] = xstrdup("--interval");
        argv[n++] = xasprintf("%lluus", (unsigned long long) (w->interval_ns / 1000));
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

/* One scheduled action of one fault line. */
struct fault_step {
    uint64_t at_ns;             /* From the start of the workload. */
    enum sched_action action;
    size_t line;                /* Index in point->faults. */
    uint32_t fault, slot;
};

/* A fault applied and not yet healed. */
struct fault_live {
    size_t line;
    uint32_t fault, slot;
    struct inject_fault *f;
};

struct fault_plan {
    struct fault_step *steps;
    size_t n, next;
    struct fault_live *live;
    size_t n_live;
    uint64_t rng;               /* For random(ROLE) targets. */
};

static int
compare_steps(const void *a_, const void *b_)
{
    const struct fault_step *a = a_, *b = b_;

    if (a->at_ns != b->at_ns) {
        return a->at_ns < b->at_ns ? -1 : 1;
    }
    return (int) a->action - (int) b->action;   /* Heals first, as schedule.h orders them. */
}

/* Every fault line's schedule over the workload's duration, merged into one timeline. */
static int
fault_plan_build(const struct run_ctx *rc, uint64_t duration_ns, struct fault_plan *plan)
{
    uint64_t seed = rc->point->seed + rc->repetition;

    memset(plan, 0, sizeof *plan);
    plan->rng = seed ^ 0x5fc1ab5ull;
    for (size_t i = 0; i < rc->point->n_faults; i++) {
        struct sched_event *ev = NULL;
        size_t n = 0;
        int error = schedule_build(&rc->point->faults[i], schedule_fault_seed(seed, i),
                                   duration_ns, &ev, &n);
        if (error) {
            free(plan->steps);
            return error;
        }
        plan->steps = xrealloc(plan->steps, (plan->n + n + 1) * sizeof *plan->steps);
        for (size_t j = 0; j < n; j++) {
            plan->steps[plan->n++] = (struct fault_step) {
                ev[j].at_ns, ev[j].action, i, ev[j].fault, ev[j].slot,
            };
        }
        free(ev);
    }
    if (plan->n) {
        qsort(plan->steps, plan->n, sizeof *plan->steps, compare_steps);
    }
    return 0;
}

static void
fault_event(struct run_ctx *rc, const char *kind, const struct inject_fault *f,
            const struct inject_time *t)
{
    char *detail = xasprintf("%s %s", f->kind->name, f->mode ? f->mode : "");

    store_event_add(rc->store, rc->run, run_time(rc, t->mono_ns), kind, f->target, detail);
    free(detail);
}

/* The component a fault step hits. random(ROLE) picks among the deployed components of that
 * role those not already hit by another slot of the same fault (count: N means N distinct
 * components), and refuses when none is left. */
static int
pick_target(struct run_ctx *rc, struct fault_plan *plan, const struct fault_step *st,
            char **targetp)
{
    const struct exp_fault *ef = &rc->point->faults[st->line];
    const struct deploy_component **free_comps;
    size_t n_free = 0, n_role = 0;
    char role[32];

    if (sscanf(ef->target, "random(%31[a-z-])", role) != 1) {
        *targetp = xstrdup(ef->target);
        return 0;
    }
    free_comps = xcalloc(rc->dep->n_comps + 1, sizeof *free_comps);
    for (size_t i = 0; i < rc->dep->n_comps; i++) {
        const struct deploy_component *c = &rc->dep->comps[i];
        bool taken = false;

        if (strcmp(c->role, role)) {
            continue;
        }
        n_role++;
        for (size_t k = 0; k < plan->n_live && !taken; k++) {
            const struct fault_live *l = &plan->live[k];
            taken = l->line == st->line && l->fault == st->fault
                    && !strcmp(l->f->target, c->name);
        }
        if (!taken) {
            free_comps[n_free++] = c;
        }
    }
    if (!n_free) {
        log_err("fault %s on %s: count %llu needs %llu distinct '%s' components, the chain "
                "has %zu", ef->kind, ef->target, (unsigned long long) ef->count,
                (unsigned long long) ef->count, role, n_role);
        free(free_comps);
        return ENOENT;
    }
    *targetp = xstrdup(free_comps[ft_splitmix64(&plan->rng) % n_free]->name);
    free(free_comps);
    return 0;
}

static int
fault_step_run(struct run_ctx *rc, struct fault_plan *plan, const struct fault_step *st)
{
    const struct exp_fault *ef = &rc->point->faults[st->line];
    struct inject_time t;
    int error = 0;

    if (st->action == SCHED_INJECT) {
        struct inject_params params = {
            .mode = ef->mode, .fraction = ef->fraction < 1 ? ef->fraction : 0, .role_id = -1,
        };
        struct inject_fault *f;
        char *target = NULL;

        /* The deployment is the target map: "vnf[1].replica[2]" and random(ROLE) resolve
         * here, on the same seeded generator as before; count: N > 1 of random(ROLE) picks
         * N distinct components (pick_target()). */
        const struct deploy_component *c = NULL;

        error = ef->count > 1 ? pick_target(rc, plan, st, &target) : 0;
        if (!error) {
            c = deploy_find(rc->dep, target ? target : ef->target, &plan->rng);
            if (!c) {
                log_err("fault %s: target '%s' is not deployed", ef->kind,
                        target ? target : ef->target);
                error = ENOENT;
            }
        }
        free(target);
        if (!error) {
            error = inject_fault_create_resolved(rc->inst, c->name, c->guest, ef->kind,
                                                 &params, &f);
        }
        if (!error) {
            error = inject_apply(f, &t);
            if (error) {
                inject_fault_free(f);
            }
        }
        if (error) {
            log_err("fault %s %s on %s: %s", ef->kind, ef->mode ? ef->mode : "", ef->target,
                    strerror(error));
            return error;
        }
        fault_event(rc, "fault-injected", f, &t);
        plan->live = xrealloc(plan->live, (plan->n_live + 1) * sizeof *plan->live);
        plan->live[plan->n_live++] = (struct fault_live) { st->line, st->fault, st->slot, f };
        return 0;
    }
    for (size_t i = 0; i < plan->n_live; i++) {
        struct fault_live *l = &plan->live[i];
        if (l->line == st->line && l->fault == st->fault && l->slot == st->slot) {
            error = inject_heal(l->f, &t);
            if (!error) {
                fault_event(rc, "healed", l->f, &t);
            }
            inject_fault_free(l->f);
            *l = plan->live[--plan->n_live];
            break;
        }
    }
    return error;
}

/* Heals what is still applied when the workload ends, so that the history says when. */
static void
fault_plan_finish(struct run_ctx *rc, struct fault_plan *plan)
{
    for (size_t i = 0; i < plan->n_live; i++) {
        struct inject_time t;
        if (!inject_heal(plan->live[i].f, &t)) {
            fault_event(rc, "healed", plan->live[i].f, &t);
        }
        inject_fault_free(plan->live[i].f);
    }
    free(plan->live);
    free(plan->steps);
    memset(plan, 0, sizeof *plan);
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
run_workload(struct run_ctx *rc)
{
    const struct exp_workload *w = &rc->point->workload;
    struct deploy_component *client = deploy_find(rc->dep, "client[0]", NULL);
    char *out = xasprintf("%s/guests/%s/samples.tsv", rc->inst->dir, client->guest);
    uint64_t budget_ns, deadline, start, next_progress;
    struct workload_progress progress = { 0 };
    struct fault_plan plan;
    char **argv = NULL;
    void *controller = NULL;
    int exit_code = -1;
    int error;

    /* Every request may time out, and a duration bounds the rest: never wait longer. No cap
     * of our own: NHAM's Table 2 needs 3 h per point. */
    budget_ns = w->duration_ns + (w->count + rc->point->warmup) * w->timeout_ns
                + 10ull * 1000000000ull;
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
    event(rc, "phase-start", "client[0]", "workload");
    start = time_mono_ns();
    deadline = start + budget_ns;
    next_progress = start + RUNNER_PROGRESS_NS;
    error = deploy_start_role(client, "client", argv);
    while (!error) {
        uint64_t now = time_mono_ns();
        int tick = RUNNER_TICK_MS;

        if (instance_interrupted()) {
            error = EINTR;
            break;
        }
        while (plan.next < plan.n && start + plan.steps[plan.next].at_ns <= now) {
            fault_step_run(rc, &plan, &plan.steps[plan.next++]);
        }
        if (plan.next < plan.n) {
            uint64_t wait_ns = start + plan.steps[plan.next].at_ns - time_mono_ns();
            tick = MAX(1, MIN((uint64_t) tick, wait_ns / 1000000));
        }
        sample_resources(rc);
        sample_counters(rc);
        run_events_drain(rc->events, rc->store, rc->run);
        if (now >= next_progress) {
            workload_progress_show(rc, &progress, out, now - start);
            next_progress = now + RUNNER_PROGRESS_NS;
        }
        error = deploy_wait_role(client, tick, &exit_code);
        if (error == ETIMEDOUT) {
            error = time_mono_ns() > deadline ? ETIMEDOUT : 0;
            continue;
        }
        break;
    }
    sample_counters(rc);
    fault_plan_finish(rc, &plan);
    if (rc->scheme->controller_stop && controller) {
        rc->scheme->controller_stop(controller);
    }
    event(rc, "phase-end", "client[0]", "workload");
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

/* The workload, with a pcap of the data bridge kept beside the database when the experiment
 * asks for one (`capture: true`). */
static int
run_workload_captured(struct run_ctx *rc)
{
    struct capture *cap = NULL;
    int error = 0, error2;

    if (rc->exp->capture) {
        error = capture_start_run(rc->inst, rc->opts->db_path, rc->exp->name, rc->run, &cap);
        event(rc, "capture", NULL, error ? strerror(error) : capture_path(cap));
    }
    error = error ? error : run_workload(rc);
    error2 = cap ? capture_stop(cap, NULL) : 0;
    return error ? error : error2;
}

/* Availability from the probe stream, as metrics.h defines it: each probe covers the time up
 * to the next one (at most two probe intervals), failures and silence count as down. */
static void
report_availability(struct run_ctx *rc)
{
    struct store_point *pts = NULL;
    struct metrics_probe *probes;
    struct metrics_availability a;
    uint64_t interval = rc->point->workload.interval_ns ? rc->point->workload.interval_ns
                                                         : 10000000;
    size_t n = 0;

    if (store_samples_read(rc->store, rc->run, "probe_ok", NULL, &pts, &n) || !n) {
        free(pts);
        return;
    }
    probes = xcalloc(n, sizeof *probes);
    for (size_t i = 0; i < n; i++) {
        probes[i] = (struct metrics_probe) { pts[i].t_ns, pts[i].value > 0.5 };
    }
    if (!metrics_availability(probes, n, pts[0].t_ns, pts[n - 1].t_ns + interval,
                              2 * interval, &a)) {
        struct store_summary s = {
            .n = n, .mean = a.ratio, .ci95 = NAN, .p50 = a.ratio, .p99 = a.ratio,
            .min = a.ratio, .max = a.ratio,
        };
        struct store_summary o = {
            .n = a.outages, .mean = a.longest_outage_ns / 1e6, .ci95 = NAN,
            .p50 = NAN, .p99 = NAN, .min = NAN, .max = a.longest_outage_ns / 1e6,
        };
        store_summary_put(rc->store, rc->run, "availability_ratio", NULL, &s);
        store_summary_put(rc->store, rc->run, "longest_outage_ms", NULL, &o);
        printf("    availability %.3f%% over %.1f s of probes (%zu outage%s, longest %.1f ms)\n",
               a.ratio * 100, a.total_ns / 1e9, a.outages, a.outages == 1 ? "" : "s",
               a.longest_outage_ns / 1e6);
    }
    free(probes);
    free(pts);
}

static void
put_single(struct run_ctx *rc, const char *metric, const char *labels, size_t n, double v)
{
    struct store_summary s = {
        .n = n, .mean = v, .ci95 = NAN, .p50 = NAN, .p99 = NAN, .min = NAN, .max = NAN,
    };
    store_summary_put(rc->store, rc->run, metric, labels, &s);
}

static struct metrics_point *
to_metrics_points(const struct store_point *p, size_t n)
{
    struct metrics_point *m = xcalloc(n ? n : 1, sizeof *m);

    for (size_t i = 0; i < n; i++) {
        m[i] = (struct metrics_point) { p[i].t_ns, p[i].value };
    }
    return m;
}

/* CPU and memory of every component from its cgroup samples (metrics_resource()). */
static void
report_resources(struct run_ctx *rc)
{
    printf("    cpu/memory:");
    for (size_t i = 0; i < rc->dep->n_comps; i++) {
        const struct deploy_component *c = &rc->dep->comps[i];
        char *labels = labels_json(json_pack("{s:s}", "component", c->name));
        struct store_point *cpu = NULL, *mem = NULL;
        size_t n_cpu = 0, n_mem = 0;
        struct metrics_resource r;

        store_samples_read(rc->store, rc->run, "cpu_usage_usec", labels, &cpu, &n_cpu);
        store_samples_read(rc->store, rc->run, "memory_current", labels, &mem, &n_mem);
        struct metrics_point *mcpu = to_metrics_points(cpu, n_cpu);
        struct metrics_point *mmem = to_metrics_points(mem, n_mem);
        int error = metrics_resource(mcpu, n_cpu, mmem, n_mem, &r);
        free(mcpu);
        free(mmem);
        if (!error) {
            put_single(rc, "cpu_pct", labels, n_cpu, r.mean_cpu_pct);
            put_single(rc, "memory_bytes", labels, n_mem, r.mean_mem_bytes);
            printf(" %s %.0f%%/%.1fMiB", c->name, isnan(r.mean_cpu_pct) ? 0 : r.mean_cpu_pct,
                   r.mean_mem_bytes / 1048576.0);
        }
        free(cpu);
        free(mem);
        free(labels);
    }
    printf("\n");
}

/* Fault injected -> suspected -> recovered, from the events a scheme reported. */
static void
report_recovery(struct run_ctx *rc)
{
    struct store_event *events = NULL;
    struct metrics_event *mev;
    struct metrics_recovery *eps = NULL;
    size_t n = 0, n_eps = 0;

    if (store_events_read(rc->store, rc->run, &events, &n) || !n) {
        store_events_free(events, n);
        return;
    }
    mev = xcalloc(n, sizeof *mev);
    for (size_t i = 0; i < n; i++) {
        mev[i] = (struct metrics_event) { events[i].t_ns, events[i].kind,
                                          events[i].target ? events[i].target : "" };
    }
    if (!metrics_recovery(mev, n, &eps, &n_eps)) {
        for (size_t i = 0; i < n_eps; i++) {
            if (eps[i].recovered_ns < 0) {
                continue;
            }
            char *labels = labels_json(json_pack("{s:s}", "target", eps[i].target));
            /* Per target, and once more in one unlabelled series: the run's summary (a
             * summary reads one series). */
            for (int k = 0; k < 2; k++) {
                const char *l = k ? NULL : labels;
                store_sample_add(rc->store, rc->run, "recovery_total_ms", l,
                                 eps[i].injected_ns, eps[i].total_ns / 1e6);
                if (eps[i].detect_ns >= 0) {
                    store_sample_add(rc->store, rc->run, "recovery_detect_ms", l,
                                     eps[i].injected_ns, eps[i].detect_ns / 1e6);
                }
                /* Detection to recovered: what NHAM's paper calls the recovery time. */
                if (eps[i].repair_ns >= 0) {
                    store_sample_add(rc->store, rc->run, "recovery_repair_ms", l,
                                     eps[i].injected_ns, eps[i].repair_ns / 1e6);
                }
            }
            printf("    recovery of %s: %.3f ms (detected after %.3f ms)\n", eps[i].target,
                   eps[i].total_ns / 1e6, eps[i].detect_ns / 1e6);
            free(labels);
        }
        store_flush(rc->store);
        struct stats_summary s;
        summarize(rc, "recovery_total_ms", NULL, 0, NULL, &s);
        summarize(rc, "recovery_detect_ms", NULL, 0, NULL, &s);
        summarize(rc, "recovery_repair_ms", NULL, 0, NULL, &s);
    }
    free(eps);
    free(mev);
    store_events_free(events, n);
}

static void
report_throughput(struct run_ctx *rc)
{
    struct stats_summary rx, tx, bps;

    if (!summarize(rc, "rx_pps", NULL, 0, NULL, &rx) && !summarize(rc, "tx_pps", NULL, 0, NULL, &tx)
        && !summarize(rc, "rx_bps", NULL, 0, NULL, &bps)) {
        printf("    throughput: %.0f pps received of %.0f sent (%.1f Mbit/s), mean of %zu "
               "intervals\n", rx.mean, tx.mean, bps.mean / 1e6, rx.n);
    }
    /* The udp client numbers its datagrams: what the chain lost, duplicated or reordered end
     * to end, one count each per run (stored when 0 too: a run that lost nothing says so). */
    struct stats_summary lost, dup, reo;
    if (!summarize(rc, "lost_packets", NULL, 0, NULL, &lost)
        && !summarize(rc, "duplicate_packets", NULL, 0, NULL, &dup)
        && !summarize(rc, "reordered_packets", NULL, 0, NULL, &reo)) {
        printf("    numbered datagrams: %.0f lost, %.0f duplicated, %.0f reordered\n",
               lost.mean, dup.mean, reo.mean);
    }
}

/* What came back for the requests of a run (vnfs/sfc/client.c's outcomes), counted from the
 * history: the rtt_us series by outcome label (dns), the answer_* series (probe). */
enum answer_kind { ANSWER_OK, ANSWER_TIMEOUT, ANSWER_FORGED, ANSWER_CORRUPTED, ANSWER_ERROR,
                   N_ANSWER_KINDS };
static const char *const answer_names[N_ANSWER_KINDS] = {
    "ok", "timeout", "forged", "corrupted", "error",
};

static size_t
count_samples(struct run_ctx *rc, const char *metric, const char *labels)
{
    struct store_point *pts = NULL;
    size_t n = 0;

    if (store_samples_read(rc->store, rc->run, metric, labels, &pts, &n)) {
        return 0;
    }
    free(pts);
    return n;
}

/* Stores every answer ratio of a run with requests, 0 included: a perfect run says 0, not
 * nothing. wrong = forged + corrupted; an error rcode is what the service said. */
static void
report_answers(struct run_ctx *rc, size_t counts[N_ANSWER_KINDS])
{
    static const struct { const char *metric; unsigned kinds; } ratios[] = {
        { "wrong_answer_ratio", 1u << ANSWER_FORGED | 1u << ANSWER_CORRUPTED },
        { "forged_answer_ratio", 1u << ANSWER_FORGED },
        { "corrupted_answer_ratio", 1u << ANSWER_CORRUPTED },
        { "error_answer_ratio", 1u << ANSWER_ERROR },
        { "timeout_ratio", 1u << ANSWER_TIMEOUT },
    };
    size_t total = 0;

    memset(counts, 0, N_ANSWER_KINDS * sizeof *counts);
    if (rc->point->workload.kind == EXP_WL_UDP) {
        return;
    }
    for (int k = 0; k < N_ANSWER_KINDS; k++) {
        if (rc->point->workload.kind == EXP_WL_PROBE) {
            char *metric = xasprintf("answer_%s", answer_names[k]);
            counts[k] = k == ANSWER_OK ? 0 : count_samples(rc, metric, NULL);
            free(metric);
        } else {
            char *labels = labels_json(json_pack("{s:s}", "outcome", answer_names[k]));
            counts[k] = count_samples(rc, "rtt_us", labels);
            free(labels);
        }
    }
    if (rc->point->workload.kind == EXP_WL_PROBE) {
        size_t failed = 0, probes = count_samples(rc, "probe_ok", NULL);
        for (int k = 1; k < N_ANSWER_KINDS; k++) {
            failed += counts[k];
        }
        counts[ANSWER_OK] = probes - MIN(probes, failed);
    }
    for (int k = 0; k < N_ANSWER_KINDS; k++) {
        total += counts[k];
    }
    if (!total) {
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(ratios); i++) {
        size_t n = 0;
        for (int k = 0; k < N_ANSWER_KINDS; k++) {
            n += ratios[i].kinds & (1u << k) ? counts[k] : 0;
        }
        put_single(rc, ratios[i].metric, NULL, total, (double) n / total);
    }
    printf("    requests: %zu; %zu ok, %zu forged, %zu corrupted, %zu error rcodes, "
           "%zu unanswered\n", total, counts[ANSWER_OK], counts[ANSWER_FORGED],
           counts[ANSWER_CORRUPTED], counts[ANSWER_ERROR], counts[ANSWER_TIMEOUT]);
}

static void
report_point(struct run_ctx *rc)
{
    struct stats_summary s;
    char *ok = labels_json(json_pack("{s:s}", "outcome", "ok"));
    size_t counts[N_ANSWER_KINDS];

    report_answers(rc, counts);
    /* The RTT of a run is that of its answered requests: its summary carries no label. */
    if (rc->point->workload.kind != EXP_WL_DNS) {
        /* A probe's RTT is not a request's (its outcome goes to availability), and a
         * throughput workload has no requests. */
    } else if (!summarize(rc, "rtt_us", ok, rc->point->warmup, NULL, &s)) {
        printf("    rtt: mean %.1f us ± %.1f (95%% CI), p50 %.1f us, p99 %.1f us, n=%zu\n",
               s.mean, isnan(s.ci95) ? 0.0 : s.ci95, s.p50, s.p99, s.n);
    } else {
        printf("    rtt: no answered request\n");
    }
    report_availability(rc);
    report_throughput(rc);
    report_recovery(rc);
    report_resources(rc);
    /* Per-component time of each hop, for the latency split. */
    for (size_t i = 0; i < rc->dep->n_comps; i++) {
        const struct deploy_component *c = &rc->dep->comps[i];
        char *labels;

        if (strcmp(c->role, "classifier") && strcmp(c->role, "sff") && strcmp(c->role, "vnf")) {
            continue;
        }
        labels = labels_json(json_pack("{s:s}", "component", c->name));
        if (!summarize(rc, "hop_us", labels, 0, labels, &s)) {
            printf("    %-12s %.1f us per pass (p50 %.1f)\n", c->name, s.mean, s.p50);
        }
        summarize(rc, "link_us", labels, 0, labels, &s);
        free(labels);
    }
    free(ok);
}

/* An agent that died during the run (its init restarts it) is part of the history. */
static void
note_agent_restarts(struct run_ctx *rc)
{
    for (size_t i = 0; i < rc->inst->n_guests; i++) {
        struct instance_guest *ig = &rc->inst->guests[i];
        int restarts = 0;

        if (!ig->guest || guest_state(ig->guest) != GUEST_RUNNING) {
            continue;
        }
        if (instance_agent_ping(rc->inst, ig, 1000, &restarts)) {
            char *detail = xasprintf("the agent of %s does not answer", ig->name);
            event(rc, "agent-down", ig->name, detail);
            free(detail);
        } else if (restarts) {
            char *detail = xasprintf("restarted %d time%s", restarts, restarts == 1 ? "" : "s");
            event(rc, "agent-restarted", ig->name, detail);
            log_warn("the agent of %s was restarted %d time%s", ig->name, restarts,
                     restarts == 1 ? "" : "s");
            free(detail);
        }
    }
}

static int
run_repetition(struct run_ctx *rc, const char *point_js, const char *params_js,
               const char *git_rev)
{
    struct instance_opts iopts = {
        .name = rc->opts->instance,
        .state_dir = rc->opts->state_dir,
        .agents = true,
        .verbose = rc->opts->verbose,
        .pin = rc->opts->pin,
        .pin_cpu = rc->opts->pin_cpu,
        .afxdp = rc->opts->afxdp,
        .pmd_cpu = rc->opts->pmd_cpu,
    };
    struct store_run_info info = {
        .experiment = rc->exp->name,
        .title = rc->exp->title,
        .scheme = rc->point->scheme,
        .point = point_js,
        .repetition = rc->repetition,
        .params = params_js,
        .experiment_file = rc->exp->text,
        .git_rev = git_rev,
        .seed = rc->point->seed + rc->repetition,
    };
    struct topology *topo = NULL;
    char *host = store_host_facts(rc->point->provider);
    char *errmsg = NULL;
    int64_t now;
    int error;

    if (!strcmp(rc->point->provider, "kvm")) {
        /* KVM or TCG changes every number a VM gives: the run says which, and why. */
        json_t *facts = json_loads(host, 0, NULL);
        const char *why;
        if (facts) {
            libvirtd_kvm_accel(&why);
            json_object_set_new(facts, "kvm_accel", json_string(why));
            free(host);
            host = json_dumps(facts, JSON_COMPACT | JSON_SORT_KEYS);
            json_decref(facts);
        }
    }

    info.host = host;
    rc->scheme = scheme_find(rc->point->scheme);
    error = rc->scheme->topology(rc->point, &topo, &errmsg);
    if (error) {
        log_err("%s: %s", rc->scheme->name, errmsg);
        free(errmsg);
        goto out;
    }
    /* Refused before anything is recorded: a run row says a run was attempted. */
    if (instance_exists(rc->opts->state_dir, rc->opts->instance)) {
        log_err("instance '%s' is already up (sfclab down -i %s, or run with another -i)",
                rc->opts->instance, rc->opts->instance);
        error = EEXIST;
        goto out;
    }
    if (instance_interrupted()) {
        error = EINTR;
        goto out;
    }
    error = store_run_begin(rc->store, &info, &rc->run);
    if (error) {
        goto out;
    }
    store_run_clock(rc->store, rc->run, &now);
    rc->mono_origin = time_mono_ns() - now;
    rc->events = run_events_create(rc->mono_origin);

    event(rc, "phase-start", NULL, "infrastructure");
    error = instance_up(&iopts, topo, &rc->inst);
    if (error) {
        goto end;
    }
    record_shaping(rc);
    event(rc, "phase-start", NULL, "deploy");
    error = rc->scheme->deploy(rc->inst, rc->point, rc->inst->dir, &rc->dep);
    if (!error && instance_interrupted()) {
        error = EINTR;
    }
    if (error) {
        goto end;
    }
    error = run_workload_captured(rc);
    store_flush(rc->store);
    note_agent_restarts(rc);
    /* A Ctrl-C at any moment up to here makes the run interrupted, not complete. */
    if (!error && instance_interrupted()) {
        error = EINTR;
    }
    if (!error) {
        report_point(rc);
    }

end:
    if (!error && instance_interrupted()) {
        error = EINTR;
    }
    run_events_drain(rc->events, rc->store, rc->run);
    store_flush(rc->store);
    store_run_end(rc->store, rc->run,
                  !error ? STORE_COMPLETE : error == EINTR ? STORE_INTERRUPTED : STORE_FAILED);
    if (rc->opts->keep && !error) {
        printf("    chain left up in instance '%s' (service %s); `sfclab down` removes it\n",
               rc->inst->name, inet_ntoa(rc->dep->service_addr));
        for (size_t i = 0; i < rc->dep->n_comps; i++) {
            rc->dep->comps[i].role_id = -1;     /* Leave the roles running. */
        }
        rc->scheme->stop(rc->dep);
        instance_close(rc->inst);
    } else {
        if (rc->dep) {
            rc->scheme->stop(rc->dep);
        }
        if (rc->inst) {
            int e2 = instance_down(rc->inst);
            if (e2) {
                log_err("teardown failed (%s): run `sfclab clean -i %s`", strerror(e2),
                        rc->opts->instance);
            }
        }
    }
    rc->dep = NULL;
    rc->inst = NULL;
out:
    if (rc->events) {
        run_events_drain(rc->events, rc->store, rc->run);
        run_events_destroy(rc->events);
        rc->events = NULL;
    }
    topology_free(topo);
    free(host);
    return error;
}

/* True if the database holds a complete run of this point and repetition, made in the same
 * variant (a --quick run is not the full point, nor one whose --set changed it). */
static bool
already_done(struct store *store, const char *experiment, const char *point_js, int rep,
             const char *variant)
{
    struct store_run *runs = NULL;
    size_t n = 0;
    bool done = false;

    if (store_runs_list(store, experiment, &runs, &n)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char *v = store_run_variant(&runs[i]);

        done |= runs[i].status == STORE_COMPLETE && runs[i].repetition == rep
                && runs[i].point && !strcmp(runs[i].point, point_js)
                && !strcmp(v, variant ? variant : "full");
        free(v);
    }
    store_runs_free(runs, n);
    return done;
}

static int
mkdir_parent(const char *path)
{
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    int error = 0;

    if (slash && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0755) && errno != EEXIST) {
            error = errno;
        }
    }
    free(dir);
    return error;
}

int
runner_run(struct runner_opts *opts, struct experiment *exp)
{
    struct exp_point *points = NULL;
    size_t n_points = 0, total = 0, done = 0;
    struct store *store = NULL;
    char *git_rev = git_revision();
    uint64_t t0 = time_mono_ns();
    struct diag diag;
    int error;

    diag_init(&diag);
    error = experiment_points(exp, &diag, &points, &n_points);
    if (error) {
        diag_print(&diag, stderr);
        goto out;
    }
    for (size_t i = 0; i < n_points; i++) {
        char *why = NULL;

        if (!guest_provider_usable(points[i].provider, &why)) {
            /* Said before any run row is written: a row would record a run that never was. */
            log_err("%s: %s cannot run here: %s", exp->file,
                    points[i].label[0] ? points[i].label : "this experiment", why);
            free(why);
            error = ENOTSUP;
            goto out;
        }
        if (!scheme_deployable(scheme_find(points[i].scheme))) {
            /* Running the bare chain under another scheme's name would record a lie. */
            log_err("%s: scheme '%s' cannot be deployed yet (deployable: %s; `sfclab schemes "
                    "--all` lists them all)", exp->file, points[i].scheme,
                    scheme_deployable_names());
            error = ENOTSUP;
            goto out;
        }
    }
    mkdir_parent(opts->db_path);
    error = store_open(opts->db_path, false, &store);
    if (error) {
        goto out;
    }
    store_reap(store, NULL);
    for (size_t i = 0; i < n_points; i++) {
        total += points[i].repetitions;
    }
    printf("%s: %s\n  %zu point%s, %zu run%s (%s), results in %s\n", exp->name,
           exp->title ? exp->title : "", n_points, n_points == 1 ? "" : "s", total,
           total == 1 ? "" : "s", opts->variant ? opts->variant : "full", opts->db_path);
    for (size_t i = 0; i < n_points && !error; i++) {
        char *point_js = point_json(&points[i]);
        char *params_js = params_json(&points[i], opts);

        for (uint64_t rep = 0; rep < points[i].repetitions && !error; rep++) {
            struct run_ctx rc = {
                .opts = opts, .exp = exp, .point = &points[i], .repetition = rep,
                .store = store,
            };
            double elapsed = (time_mono_ns() - t0) / 1e9;

            done++;
            printf("[%zu/%zu] %s rep %llu/%llu", done, total, points[i].label,
                   (unsigned long long) rep + 1, (unsigned long long) points[i].repetitions);
            if (done > 1) {
                printf(" (elapsed %.0f s, ETA %.0f s)", elapsed,
                       elapsed / (done - 1) * (total - done + 1));
            }
            if (!opts->fresh
                && already_done(store, exp->name, point_js, rep, opts->variant)) {
                printf(": already complete, skipped (--fresh re-runs it)\n");
                continue;
            }
            printf("\n");
            fflush(stdout);
            error = run_repetition(&rc, point_js, params_js, git_rev);
            if (rc.run) {
                opts->run_ids = xrealloc(opts->run_ids,
                                         (opts->n_run_ids + 1) * sizeof *opts->run_ids);
                opts->run_ids[opts->n_run_ids++] = rc.run;
            }
            if (error == EINTR) {
                printf("interrupted: run marked interrupted, infrastructure removed\n");
            } else if (error) {
                printf("    failed: %s\n", strerror(error));
            }
        }
        free(point_js);
        free(params_js);
    }
out:
    store_close(store);
    exp_points_free(points, n_points);
    diag_uninit(&diag);
    free(git_rev);
    return error;
}
