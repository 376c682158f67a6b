#include "testbed/run/runner.h"

#include <errno.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testbed/deploy/deploy.h"
#include "testbed/infra/instance.h"
#include "testbed/infra/provider.h"
#include "testbed/model/experiment.h"
#include "testbed/model/topology.h"
#include "testbed/run/events.h"
#include "testbed/run/run_ctx.h"
#include "testbed/run/summaries.h"
#include "testbed/run/workload.h"
#include "testbed/schemes/scheme.h"
#include "testbed/store/store.h"
#include "vnfs/lib/util.h"

char *
run_ctx_labels(json_t *obj)
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
    json_object_set_new(o, "cpu_period_us", json_integer((json_int_t) p->cpu_period_us));
    if (p->vnf_cpus > 0) {
        json_object_set_new(o, "vnf_cpus", json_real(p->vnf_cpus));
    }
    if (p->vnf_cpu_period_us) {
        json_object_set_new(o, "vnf_cpu_period_us",
                            json_integer((json_int_t) p->vnf_cpu_period_us));
    }
    json_object_set_new(o, "memory", json_integer(p->memory));
    json_object_set_new(o, "warmup", json_integer(p->warmup));
    json_object_set_new(o, "pin_cpu", opts->pin ? json_integer(opts->pin_cpu) : json_null());
    json_object_set_new(o, "datapath", json_string(opts->afxdp ? "afxdp" : "system"));
    if (opts->afxdp) {
        json_object_set_new(o, "pmd_sleep_us", json_integer(opts->pmd_sleep_us));
        if (opts->pmd_sleep_workload_us != opts->pmd_sleep_us) {
            /* Asked for; the run's "pmd-sleep" event says what the workload got. */
            json_object_set_new(o, "pmd_sleep_workload_us",
                                json_integer(opts->pmd_sleep_workload_us));
        }
    }
    if (opts->halt_poll_us) {
        json_object_set_new(o, "halt_poll_us", json_integer(opts->halt_poll_us));
    }
    if (opts->afxdp && opts->switch_rx) {
        json_object_set_new(o, "switch_rx_cpu", json_integer(opts->pmd_cpu));
    }
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

int64_t
run_ctx_time(const struct run_ctx *rc, uint64_t mono_ns)
{
    return (int64_t) (mono_ns - rc->mono_origin);
}

void
run_ctx_event(struct run_ctx *rc, const char *kind, const char *target, const char *detail)
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
                run_ctx_event(rc, "link-shaped", line, sp + 1);
            }
        }
    }
    free(text);
    free(path);
}

/* The host's idle polling as this run found it once its instance was up (its own --halt-poll,
 * another instance's, or the host's own): it changes every round trip across CPUs. */
static void
record_halt_poll(struct run_ctx *rc)
{
    char *text = NULL;

    if (!read_file(INSTANCE_HALT_POLL_PARAM, &text, NULL)) {
        char *detail = xasprintf("%.*s ns", (int) strcspn(text, "\n"), text);

        run_ctx_event(rc, "halt-poll", NULL, detail);
        free(detail);
    }
    free(text);
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
            run_ctx_event(rc, "agent-down", ig->name, detail);
            free(detail);
        } else if (restarts) {
            char *detail = xasprintf("restarted %d time%s", restarts, restarts == 1 ? "" : "s");
            run_ctx_event(rc, "agent-restarted", ig->name, detail);
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
        .pmd_sleep_us = rc->opts->pmd_sleep_us,
        .halt_poll_us = rc->opts->halt_poll_us,
        .switch_rx = rc->opts->switch_rx,
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

    const char *fact_name, *fact;
    if (guest_provider_host_fact(rc->point->provider, &fact_name, &fact)) {
        /* A fact of this host that changes every number the provider's guests give. */
        json_t *facts = json_loads(host, 0, NULL);
        if (facts) {
            json_object_set_new(facts, fact_name, json_string(fact));
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

    run_ctx_event(rc, "phase-start", NULL, "infrastructure");
    error = instance_up(&iopts, topo, &rc->inst);
    if (error) {
        rc->infra_failed = true;
        goto end;
    }
    record_shaping(rc);
    record_halt_poll(rc);
    run_ctx_event(rc, "phase-start", NULL, "deploy");
    error = rc->scheme->deploy(rc->inst, rc->point, rc->inst->dir, &rc->dep);
    if (!error && instance_interrupted()) {
        error = EINTR;
    }
    if (error) {
        goto end;
    }
    error = workload_run(rc);
    store_flush(rc->store);
    note_agent_restarts(rc);
    /* A Ctrl-C at any moment up to here makes the run interrupted, not complete. */
    if (!error && instance_interrupted()) {
        error = EINTR;
    }
    if (!error) {
        summaries_write(rc);
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
        if (!scheme_deployable(scheme_find(points[i].scheme)) && opts->keep_going) {
            continue;           /* Said when the point's turn comes. */
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
            if (!scheme_deployable(scheme_find(points[i].scheme))) {
                /* keep_going only (refused above otherwise): no run row, as nothing ran. */
                printf(": not run: scheme '%s' cannot be deployed yet\n", points[i].scheme);
                continue;
            }
            if (!opts->fresh
                && already_done(store, exp->name, point_js, rep, opts->variant)) {
                printf(": already complete, skipped (--fresh re-runs it)\n");
                continue;
            }
            printf("\n");
            fflush(stdout);
            error = run_repetition(&rc, point_js, params_js, git_rev);
            if (error && error != EINTR && rc.infra_failed && opts->keep_going) {
                /* Nothing of the scheme ran: once more, so that a loaded host's slow switch is
                 * not taken for the scheme's failure (the failed row stays, marked failed). */
                printf("    the infrastructure did not come up (%s): once more\n",
                       strerror(error));
                if (rc.run) {
                    opts->run_ids = xrealloc(opts->run_ids,
                                             (opts->n_run_ids + 1) * sizeof *opts->run_ids);
                    opts->run_ids[opts->n_run_ids++] = rc.run;
                }
                rc.run = 0;
                rc.infra_failed = false;
                error = run_repetition(&rc, point_js, params_js, git_rev);
            }
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
            if (error && error != EINTR && opts->keep_going && rc.run) {
                /* Recorded as failed; the comparison shows it. An error before the run row
                 * (the instance is up, a bad topology) still stops the sweep. */
                error = 0;
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
