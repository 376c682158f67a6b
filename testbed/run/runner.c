#include "testbed/run/runner.h"

#include <errno.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testbed/deploy/deploy.h"
#include "testbed/infra/instance.h"
#include "testbed/infra/provider.h"
#include "testbed/model/experiment.h"
#include "testbed/model/topology.h"
#include "testbed/stats/stats.h"
#include "testbed/store/store.h"
#include "vnfs/core/buf.h"
#include "vnfs/core/util.h"

/* How often the runner looks up from waiting on the workload: to sample the guests' cgroups
 * and to notice Ctrl-C. */
#define RUNNER_TICK_MS 500

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
params_json(const struct exp_point *p)
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
    store_event_add(rc->store, rc->run, run_time(rc, time_mono_ns()), kind, target, detail);
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
            /* Timestamp ids back to component names (see deploy.c). */
            int id = atoi(eq + 1);
            const char *name = id == 1 ? "classifier[0]" : id == 2 ? "sff[0]" : NULL;
            char vnf[32];
            if (!name && id >= 10 && d && (size_t) (id - 10) < d->point->n_vnfs) {
                snprintf(vnf, sizeof vnf, "vnf[%d]", id - 10);
                name = vnf;
            }
            json_object_set_new(o, kv, json_string(name ? name : eq + 1));
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
    FILE *f = fopen(path, "r");
    int error = 0;

    if (!f) {
        return errno;
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
        labels_js = labels_from_tsv(labels, rc->dep);
        error = store_sample_add(rc->store, rc->run, metric, labels_js, run_time(rc, t), value);
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
    char **argv = xcalloc(32, sizeof *argv);
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
    argv[n++] = xstrdup("--dst");
    argv[n++] = xstrdup(inet_ntoa(rc->dep->service_addr));
    argv[n++] = xstrdup("--iface");
    argv[n++] = xstrdup("eth1");
    argv[n++] = xstrdup("--count");
    argv[n++] = xasprintf("%llu", (unsigned long long) (w->count + rc->point->warmup));
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

/* Drives the workload to its end, sampling resources as it goes. */
static int
run_workload(struct run_ctx *rc)
{
    const struct exp_workload *w = &rc->point->workload;
    struct deploy_component *client = deploy_find(rc->dep, "client[0]", NULL);
    char *out = xasprintf("%s/guests/%s/samples.tsv", rc->inst->dir, client->guest);
    uint64_t budget_ns, deadline;
    char **argv = NULL;
    int exit_code = -1;
    int error;

    /* Every request may time out, and a duration bounds the rest: never wait longer. */
    budget_ns = w->duration_ns + (w->count + rc->point->warmup) * w->timeout_ns;
    budget_ns = MIN(budget_ns, 3600ull * 1000000000ull) + 10ull * 1000000000ull;
    deadline = time_mono_ns() + budget_ns;
    client_args(rc, out, &argv);
    event(rc, "phase-start", "client[0]", "workload");
    error = deploy_start_role(client, "client", argv);
    while (!error) {
        if (instance_interrupted()) {
            error = EINTR;
            break;
        }
        sample_resources(rc);
        error = deploy_wait_role(client, RUNNER_TICK_MS, &exit_code);
        if (error == ETIMEDOUT) {
            error = time_mono_ns() > deadline ? ETIMEDOUT : 0;
            continue;
        }
        break;
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
        char *hops = xasprintf("%s/guests/sff/hops.tsv", rc->inst->dir);
        ingest_tsv(rc, hops, NULL);     /* Absent when the chain has no timestamps. */
        free(hops);
    }
    free_argv(argv);
    free(out);
    return error;
}

static void
report_point(struct run_ctx *rc)
{
    struct stats_summary s;
    char *ok = labels_json(json_pack("{s:s}", "outcome", "ok"));
    char *timeout = labels_json(json_pack("{s:s}", "outcome", "timeout"));
    char *wrong = labels_json(json_pack("{s:s}", "outcome", "wrong"));
    struct store_point *pts = NULL;
    size_t n_timeout = 0, n_wrong = 0;

    if (!store_samples_read(rc->store, rc->run, "rtt_us", timeout, &pts, &n_timeout)) {
        free(pts);
    }
    if (!store_samples_read(rc->store, rc->run, "rtt_us", wrong, &pts, &n_wrong)) {
        free(pts);
    }
    /* The RTT of a run is that of its answered requests: its summary carries no label. */
    if (!summarize(rc, "rtt_us", ok, rc->point->warmup, NULL, &s)) {
        printf("    rtt: mean %.1f us ± %.1f (95%% CI), p50 %.1f us, p99 %.1f us, n=%zu; "
               "%zu timeouts, %zu wrong answers\n", s.mean, isnan(s.ci95) ? 0.0 : s.ci95,
               s.p50, s.p99, s.n, n_timeout, n_wrong);
    } else {
        printf("    rtt: no answered request (%zu timeouts, %zu wrong answers)\n",
               n_timeout, n_wrong);
    }
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
    free(timeout);
    free(wrong);
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
    struct buf yaml = BUF_INITIALIZER;
    struct diag diag;
    char *host = store_host_facts(rc->point->provider);
    int64_t now;
    int error;

    info.host = host;
    diag_init(&diag);
    deploy_topology(rc->point, &yaml);
    error = topology_load_string("<chain>", (char *) yaml.data, yaml.len, &diag, &topo);
    if (error) {
        diag_print(&diag, stderr);
        goto out;
    }
    error = store_run_begin(rc->store, &info, &rc->run);
    if (error) {
        goto out;
    }
    store_run_clock(rc->store, rc->run, &now);
    rc->mono_origin = time_mono_ns() - now;

    event(rc, "phase-start", NULL, "infrastructure");
    error = instance_up(&iopts, topo, &rc->inst);
    if (error) {
        goto end;
    }
    event(rc, "phase-start", NULL, "deploy");
    error = deploy_chain(rc->inst, rc->point, rc->inst->dir, &rc->dep);
    if (error) {
        goto end;
    }
    error = run_workload(rc);
    store_flush(rc->store);
    if (!error) {
        report_point(rc);
    }

end:
    store_flush(rc->store);
    store_run_end(rc->store, rc->run,
                  !error ? STORE_COMPLETE : error == EINTR ? STORE_INTERRUPTED : STORE_FAILED);
    if (rc->opts->keep && !error) {
        printf("    chain left up in instance '%s' (service %s); `sfclab down` removes it\n",
               rc->inst->name, inet_ntoa(rc->dep->service_addr));
        for (size_t i = 0; i < rc->dep->n_comps; i++) {
            rc->dep->comps[i].role_id = -1;     /* Leave the roles running. */
        }
        deploy_stop(rc->dep);
        instance_close(rc->inst);
    } else {
        deploy_stop(rc->dep);
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
    diag_uninit(&diag);
    topology_free(topo);
    buf_uninit(&yaml);
    free(host);
    return error;
}

/* True if the database holds a complete run of this point and repetition. */
static bool
already_done(struct store *store, const char *experiment, const char *point_js, int rep)
{
    struct store_run *runs = NULL;
    size_t n = 0;
    bool done = false;

    if (store_runs_list(store, experiment, &runs, &n)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        done |= runs[i].status == STORE_COMPLETE && runs[i].repetition == rep
                && runs[i].point && !strcmp(runs[i].point, point_js);
    }
    store_runs_free(runs, n);
    return done;
}

static void
save_references(struct store *store, const struct experiment *exp)
{
    for (size_t i = 0; i < exp->n_refs; i++) {
        const struct exp_reference *r = &exp->refs[i];
        struct store_reference sr = {
            .experiment = exp->name,
            .figure = r->source ? r->source : r->label,
            .metric = r->metric,
            .unit = r->unit,
            .value = r->value,
            .axis = r->n_where ? r->where[0].key : NULL,
            .x = r->n_where ? r->where[0].value : NULL,
        };
        store_reference_put(store, &sr);
    }
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
runner_run(const struct runner_opts *opts, struct experiment *exp)
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
    mkdir_parent(opts->db_path);
    error = store_open(opts->db_path, false, &store);
    if (error) {
        goto out;
    }
    store_reap(store, NULL);
    save_references(store, exp);
    for (size_t i = 0; i < n_points; i++) {
        total += points[i].repetitions;
    }
    printf("%s: %s\n  %zu point%s, %zu run%s, results in %s\n", exp->name,
           exp->title ? exp->title : "", n_points, n_points == 1 ? "" : "s", total,
           total == 1 ? "" : "s", opts->db_path);
    for (size_t i = 0; i < n_points && !error; i++) {
        char *point_js = point_json(&points[i]);
        char *params_js = params_json(&points[i]);

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
            if (!opts->fresh && already_done(store, exp->name, point_js, rep)) {
                printf(": already complete, skipped (--fresh re-runs it)\n");
                continue;
            }
            printf("\n");
            fflush(stdout);
            error = run_repetition(&rc, point_js, params_js, git_rev);
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
