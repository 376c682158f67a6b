#include "testbed/run/summaries.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testbed/deploy/deploy.h"
#include "testbed/model/experiment.h"
#include "testbed/run/run_ctx.h"
#include "testbed/stats/metrics.h"
#include "testbed/stats/stats.h"
#include "testbed/store/store.h"
#include "vnfs/lib/util.h"

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

/* Stores 'v' as the run's summary 'metric', a single value. */
static void
summary_put_value(struct run_ctx *rc, const char *metric, double v)
{
    struct store_summary s = {
        .n = 1, .mean = v, .ci95 = NAN, .p50 = v, .p99 = v, .min = v, .max = v,
    };

    store_summary_put(rc->store, rc->run, metric, NULL, &s);
}

/* The host's load average while the workload ran (summary host_load: mean and max), its
 * online CPUs (summary host_cpus) and the CPU quota of each middlebox's own guest (summary
 * mbox_cpus: resources.vnf.cpus, else cpus), the cores a thread-scaling number had. */
static void
report_host_load(struct run_ctx *rc)
{
    /* Beside any thread-scaling result: threads beyond the host's cores only contend. */
    double cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct store_point *p = NULL;
    size_t n = 0;

    if (!store_samples_read(rc->store, rc->run, "host_load", NULL, &p, &n) && n) {
        struct store_summary s = {
            .n = n, .mean = 0, .ci95 = NAN, .p50 = NAN, .p99 = NAN, .min = p[0].value,
            .max = p[0].value,
        };
        for (size_t i = 0; i < n; i++) {
            s.mean += p[i].value / n;
            s.min = MIN(s.min, p[i].value);
            s.max = MAX(s.max, p[i].value);
        }
        store_summary_put(rc->store, rc->run, "host_load", NULL, &s);
        printf("    host load average: mean %.2f, max %.2f, on %.0f CPUs\n", s.mean, s.max,
               cpus);
    }
    summary_put_value(rc, "host_cpus", cpus);
    summary_put_value(rc, "mbox_cpus", exp_point_vnf_cpus(rc->point));
    free(p);
}

/* CPU and memory of every component from its cgroup samples (metrics_resource()), and the
 * price of the whole deployment: guests, and their CPU and memory in total (each guest once:
 * components that share a guest, such as NHAM's active copy and its replica, read the same
 * cgroup). */
static void
report_resources(struct run_ctx *rc)
{
    double cpu_total = 0, mem_total = 0;
    size_t n_guests = 0, n_measured = 0, n_cpu_measured = 0;

    printf("    cpu/memory:");
    for (size_t i = 0; i < rc->dep->n_comps; i++) {
        const struct deploy_component *c = &rc->dep->comps[i];
        char *labels = run_ctx_labels(json_pack("{s:s}", "component", c->name));
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
        bool first = true;
        for (size_t j = 0; j < i; j++) {
            first &= strcmp(rc->dep->comps[j].guest, c->guest) != 0;
        }
        n_guests += first;
        if (!error && first) {
            if (!isnan(r.mean_cpu_pct)) {
                cpu_total += r.mean_cpu_pct;
                n_cpu_measured++;
            }
            mem_total += r.mean_mem_bytes;
            n_measured++;
        }
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
    if (n_measured) {
        put_single(rc, "guests_total", NULL, n_guests, n_guests);
        /* A total of the guests measured: one without a CPU figure (fewer than two samples)
         * would make it a low one, so then there is none. */
        if (n_cpu_measured == n_measured) {
            put_single(rc, "cpu_pct_total", NULL, n_measured, cpu_total);
        }
        put_single(rc, "memory_bytes_total", NULL, n_measured, mem_total);
        printf("    price: %zu guests, %.0f%% CPU%s and %.1f MiB in total\n", n_guests,
               cpu_total, n_cpu_measured == n_measured ? "" : " (not every guest measured)",
               mem_total / 1048576.0);
    }
    report_host_load(rc);
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
            char *labels = run_ctx_labels(json_pack("{s:s}", "target", eps[i].target));
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
                /* Detection to the switch's update (the paper's MR-AA time), and to the
                 * hop's first packet out of the copy that took over. */
                if (eps[i].steer_ns >= 0) {
                    store_sample_add(rc->store, rc->run, "recovery_steer_ms", l,
                                     eps[i].injected_ns, eps[i].steer_ns / 1e6);
                }
                if (eps[i].resume_ns >= 0) {
                    store_sample_add(rc->store, rc->run, "recovery_resume_ms", l,
                                     eps[i].injected_ns, eps[i].resume_ns / 1e6);
                }
            }
            /* A fault the scheme never suspected ended only when the testbed healed it
             * (a man-in-the-middle undone at the end of the run, say). */
            if (eps[i].detect_ns >= 0) {
                printf("    recovery of %s: %.3f ms (detected after %.3f ms)\n",
                       eps[i].target, eps[i].total_ns / 1e6, eps[i].detect_ns / 1e6);
            } else {
                printf("    fault on %s ended after %.3f ms, never detected\n", eps[i].target,
                       eps[i].total_ns / 1e6);
            }
            free(labels);
        }
        store_flush(rc->store);
        /* The recoveries the scheme itself reported ('recovered'), without the faults the
         * testbed healed: what a comparison of schemes calls recovery time. */
        struct metrics_event *own = xcalloc(n, sizeof *own);
        struct metrics_recovery *own_eps = NULL;
        size_t n_own = 0, n_own_eps = 0;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(mev[i].kind, "healed")) {
                own[n_own++] = mev[i];
            }
        }
        if (!metrics_recovery(own, n_own, &own_eps, &n_own_eps)) {
            for (size_t i = 0; i < n_own_eps; i++) {
                if (own_eps[i].recovered_ns >= 0) {
                    store_sample_add(rc->store, rc->run, "recovery_scheme_ms", NULL,
                                     own_eps[i].injected_ns, own_eps[i].total_ns / 1e6);
                }
            }
            store_flush(rc->store);
        }
        free(own_eps);
        free(own);
        /* One summary of each over every recovery of the run, from the unlabelled series. */
        struct stats_summary s;
        summarize(rc, "recovery_total_ms", NULL, 0, NULL, &s);
        summarize(rc, "recovery_detect_ms", NULL, 0, NULL, &s);
        summarize(rc, "recovery_repair_ms", NULL, 0, NULL, &s);
        summarize(rc, "recovery_steer_ms", NULL, 0, NULL, &s);
        summarize(rc, "recovery_resume_ms", NULL, 0, NULL, &s);
        summarize(rc, "recovery_scheme_ms", NULL, 0, NULL, &s);
    }
    free(eps);
    free(mev);
    store_events_free(events, n);
}

/* A scheme that checkpoints whole guests or processes (NHAM's backends vm and criu) reports each
 * checkpoint and each restore as an event whose detail starts with its cost in ms: one series and summary each. */
static void
report_guest_images(struct run_ctx *rc)
{
    static const struct { const char *kind, *metric, *what; } series[] = {
        { "vm-checkpoint", "vm_checkpoint_ms", "checkpoint (a live save of the guest)" },
        { "vm-restore", "vm_restore_ms", "restore (the guest replaced by its image)" },
        { "criu-checkpoint", "criu_checkpoint_ms", "checkpoint (a CRIU dump of the VNF's "
          "running process)" },
        { "criu-restore", "criu_restore_ms", "restore (the VNF's process restored by CRIU)" },
    };
    struct store_event *events = NULL;
    size_t n = 0, found = 0;

    if (store_events_read(rc->store, rc->run, &events, &n) || !n) {
        store_events_free(events, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < ARRAY_SIZE(series); k++) {
            char *end;
            double ms = events[i].detail ? strtod(events[i].detail, &end) : 0;

            if (!strcmp(events[i].kind, series[k].kind) && events[i].detail
                && end != events[i].detail && ms >= 0) {
                store_sample_add(rc->store, rc->run, series[k].metric, NULL, events[i].t_ns,
                                 ms);
                found++;
            }
        }
    }
    store_events_free(events, n);
    if (!found) {
        return;
    }
    store_flush(rc->store);
    for (size_t k = 0; k < ARRAY_SIZE(series); k++) {
        struct stats_summary sum;

        if (!summarize(rc, series[k].metric, NULL, 0, NULL, &sum)) {
            printf("    whole-guest %s: p50 %.1f ms, max %.1f ms, n=%zu\n", series[k].what,
                   sum.p50, sum.max, sum.n);
        }
    }
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
    /* A capacity search: the highest rate that passed, and each rate tried. */
    struct stats_summary cap, capb;
    if (!summarize(rc, "capacity_pps", NULL, 0, NULL, &cap)
        && !summarize(rc, "capacity_bps", NULL, 0, NULL, &capb)) {
        printf("    capacity: %.0f pps (%.1f Mbit/s) at loss <= %g%%\n", cap.mean,
               capb.mean / 1e6, rc->point->workload.capacity_loss * 100);
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
            char *labels = run_ctx_labels(json_pack("{s:s}", "outcome", answer_names[k]));
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
    /* A request answered twice (the client's answer_duplicate samples): a count, 0 included. */
    put_single(rc, "duplicate_answers", NULL, total, count_samples(rc, "answer_duplicate", NULL));
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

/* The mean of every sample of 'metric' over the replicas of component ROLE[INDEX] (or the one
 * component of that name), added to '*sum' and '*n'. */
static void
pool_component(struct run_ctx *rc, const char *role, int index, const char *metric,
               double *sum, size_t *n)
{
    for (size_t i = 0; i < rc->dep->n_comps; i++) {
        const struct deploy_component *c = &rc->dep->comps[i];
        struct store_point *pts = NULL;
        size_t k = 0;
        char *labels;

        if (strcmp(c->role, role) || c->index != index) {
            continue;
        }
        labels = run_ctx_labels(json_pack("{s:s}", "component", c->name));
        if (!store_samples_read(rc->store, rc->run, metric, labels, &pts, &k)) {
            for (size_t j = 0; j < k; j++) {
                *sum += pts[j].value;
            }
            *n += k;
        }
        free(pts);
        free(labels);
    }
}

/* The latency split per component, its replicas pooled (FIT-SFC's Figures 5-7): the mean time
 * in a component and on its way to the next (hop_us + link_us, every replica's samples
 * together), as `component_us` and as a share of their sum, `component_share_pct`, labelled
 * {"component": "classifier[0]"} (sff[0], vnf[N]) whatever the replication. */
static void
report_component_split(struct run_ctx *rc)
{
    struct { char name[32]; const char *role; int index; double us; } comps[66];
    size_t n_comps = 0;
    double total = 0;

    for (size_t i = 0; i < rc->dep->n_comps && n_comps < ARRAY_SIZE(comps); i++) {
        const struct deploy_component *c = &rc->dep->comps[i];
        bool seen = false;

        if (strcmp(c->role, "classifier") && strcmp(c->role, "sff") && strcmp(c->role, "vnf")) {
            continue;
        }
        for (size_t k = 0; k < n_comps; k++) {
            seen |= !strcmp(comps[k].role, c->role) && comps[k].index == c->index;
        }
        if (!seen) {
            snprintf(comps[n_comps].name, sizeof comps[n_comps].name, "%s[%d]", c->role,
                     c->index);
            comps[n_comps].role = c->role;
            comps[n_comps].index = c->index;
            n_comps++;
        }
    }
    for (size_t k = 0; k < n_comps; k++) {
        double hop = 0, link = 0;
        size_t n_hop = 0, n_link = 0;

        pool_component(rc, comps[k].role, comps[k].index, "hop_us", &hop, &n_hop);
        pool_component(rc, comps[k].role, comps[k].index, "link_us", &link, &n_link);
        comps[k].us = (n_hop ? hop / n_hop : 0) + (n_link ? link / n_link : 0);
        total += comps[k].us;
        if (n_hop || n_link) {
            char *labels = run_ctx_labels(json_pack("{s:s}", "component", comps[k].name));
            put_single(rc, "component_us", labels, n_hop + n_link, comps[k].us);
            free(labels);
        }
    }
    if (total <= 0) {
        return;
    }
    printf("    split:");
    for (size_t k = 0; k < n_comps; k++) {
        char *labels = run_ctx_labels(json_pack("{s:s}", "component", comps[k].name));
        put_single(rc, "component_share_pct", labels, 1, 100 * comps[k].us / total);
        printf(" %s %.1f us (%.1f%%)", comps[k].name, comps[k].us, 100 * comps[k].us / total);
        free(labels);
    }
    printf("\n");
}

void
summaries_write(struct run_ctx *rc)
{
    struct stats_summary s;
    char *ok = run_ctx_labels(json_pack("{s:s}", "outcome", "ok"));
    size_t counts[N_ANSWER_KINDS];

    report_answers(rc, counts);
    /* The RTT of a run is that of its answered requests (or probes: availability says how
     * many failed, the RTT how fast the others were): its summary carries no label. */
    if (rc->point->workload.kind == EXP_WL_UDP) {
        /* A throughput workload has no requests. */
    } else if (!summarize(rc, "rtt_us", ok,
                          rc->point->workload.kind == EXP_WL_DNS ? rc->point->warmup : 0,
                          NULL, &s)) {
        printf("    rtt: mean %.1f us ± %.1f (95%% CI), p50 %.1f us, p99 %.1f us, n=%zu\n",
               s.mean, isnan(s.ci95) ? 0.0 : s.ci95, s.p50, s.p99, s.n);
    } else {
        printf("    rtt: no answered request\n");
    }
    report_availability(rc);
    report_throughput(rc);
    report_recovery(rc);
    report_guest_images(rc);
    report_resources(rc);
    /* Per-component time of each hop, for the latency split. */
    for (size_t i = 0; i < rc->dep->n_comps; i++) {
        const struct deploy_component *c = &rc->dep->comps[i];
        char *labels;

        if (strcmp(c->role, "classifier") && strcmp(c->role, "sff") && strcmp(c->role, "vnf")) {
            continue;
        }
        labels = run_ctx_labels(json_pack("{s:s}", "component", c->name));
        if (!summarize(rc, "hop_us", labels, 0, labels, &s)) {
            printf("    %-12s %.1f us per pass (p50 %.1f)\n", c->name, s.mean, s.p50);
        }
        summarize(rc, "link_us", labels, 0, labels, &s);
        free(labels);
    }
    report_component_split(rc);
    free(ok);
}
