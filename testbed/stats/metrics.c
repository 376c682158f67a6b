#include "testbed/stats/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/util.h"

int
metrics_throughput(const struct metrics_point *pts, size_t n, int64_t t0, int64_t t1,
                   int64_t interval_ns, double **ratesp, size_t *n_ratesp)
{
    size_t n_rates;
    double *rates;

    if (t1 <= t0 || interval_ns <= 0) {
        return EINVAL;
    }
    n_rates = (size_t) ((t1 - t0 + interval_ns - 1) / interval_ns);
    rates = xcalloc(n_rates, sizeof *rates);
    for (size_t i = 0; i < n; i++) {
        if (pts[i].t_ns >= t0 && pts[i].t_ns < t1) {
            rates[(pts[i].t_ns - t0) / interval_ns] += pts[i].value;
        }
    }
    for (size_t i = 0; i < n_rates; i++) {
        int64_t start = t0 + (int64_t) i * interval_ns;
        int64_t len = MIN(interval_ns, t1 - start);
        rates[i] /= len / 1e9;
    }
    *ratesp = rates;
    *n_ratesp = n_rates;
    return 0;
}

static int
cmp_probe(const void *a_, const void *b_)
{
    const struct metrics_probe *a = a_, *b = b_;
    return a->t_ns < b->t_ns ? -1 : a->t_ns > b->t_ns;
}

/* Accumulates down time into outages: consecutive down stretches merge. */
struct outage_tracker {
    int64_t current;            /* Length of the outage under way; 0 when up. */
    size_t count;
    int64_t longest;
};

static void
outage_add_down(struct outage_tracker *o, int64_t len)
{
    if (len <= 0) {
        return;
    }
    if (!o->current) {
        o->count++;
    }
    o->current += len;
    o->longest = MAX(o->longest, o->current);
}

static void
outage_add_up(struct outage_tracker *o, int64_t len)
{
    if (len > 0) {
        o->current = 0;
    }
}

int
metrics_availability(const struct metrics_probe *probes, size_t n, int64_t t0, int64_t t1,
                     int64_t hold_ns, struct metrics_availability *out)
{
    struct outage_tracker o = { 0, 0, 0 };
    struct metrics_probe *p;
    int64_t up = 0, uncovered = 0, cursor = t0;
    size_t m = 0;

    if (t1 <= t0 || hold_ns < 0) {
        return EINVAL;
    }
    p = xmalloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) {
        if (probes[i].t_ns >= t0 && probes[i].t_ns < t1) {
            p[m++] = probes[i];
        }
    }
    qsort(p, m, sizeof *p, cmp_probe);
    for (size_t i = 0; i < m; i++) {
        int64_t end = i + 1 < m ? p[i + 1].t_ns : t1;

        if (hold_ns) {
            end = MIN(end, p[i].t_ns + hold_ns);
        }
        /* 'cursor' is where the previous probe's cover stopped. */
        uncovered += p[i].t_ns - cursor;
        outage_add_down(&o, p[i].t_ns - cursor);
        if (p[i].ok) {
            up += end - p[i].t_ns;
            outage_add_up(&o, end - p[i].t_ns);
        } else {
            outage_add_down(&o, end - p[i].t_ns);
        }
        cursor = end;
    }
    uncovered += t1 - cursor;
    outage_add_down(&o, t1 - cursor);
    free(p);

    out->total_ns = t1 - t0;
    out->up_ns = up;
    out->ratio = (double) up / (t1 - t0);
    out->uncovered_ns = uncovered;
    out->outages = o.count;
    out->longest_outage_ns = o.longest;
    return 0;
}

static int
cmp_event(const void *a_, const void *b_)
{
    const struct metrics_event *a = a_, *b = b_;
    return a->t_ns < b->t_ns ? -1 : a->t_ns > b->t_ns;
}

static bool
is_kind(const struct metrics_event *e, const char *kind)
{
    return e->kind && !strcmp(e->kind, kind);
}

int
metrics_recovery(const struct metrics_event *events, size_t n,
                 struct metrics_recovery **episodesp, size_t *np)
{
    struct metrics_event *ev = xmalloc((n ? n : 1) * sizeof *ev);
    struct metrics_recovery *eps = NULL;
    size_t n_eps = 0, cap = 0;

    if (n) {
        memcpy(ev, events, n * sizeof *ev);
    }
    /* Steps are matched by kind, not position, so the order qsort leaves among events of
     * equal times does not change the episodes. */
    qsort(ev, n, sizeof *ev, cmp_event);
    for (size_t i = 0; i < n; i++) {
        struct metrics_recovery *r;

        if (!is_kind(&ev[i], "fault-injected")) {
            continue;
        }
        if (n_eps >= cap) {
            eps = x2nrealloc(eps, &cap, sizeof *eps);
        }
        r = &eps[n_eps++];
        *r = (struct metrics_recovery) {
            .target = ev[i].target ? ev[i].target : "", .injected_ns = ev[i].t_ns,
            .suspected_ns = -1, .recovered_ns = -1,
            .detect_ns = -1, .repair_ns = -1, .total_ns = -1,
            .steered_ns = -1, .resumed_ns = -1, .steer_ns = -1, .resume_ns = -1,
        };
        for (size_t j = 0; j < n; j++) {
            const char *target = ev[j].target ? ev[j].target : "";

            if (j == i || ev[j].t_ns < r->injected_ns || strcmp(target, r->target)) {
                continue;
            }
            if (is_kind(&ev[j], "fault-injected")) {
                if (ev[j].t_ns > r->injected_ns || j > i) {
                    break;      /* The target's next fault ends this episode. */
                }
                continue;
            }
            if (is_kind(&ev[j], "suspected") && r->recovered_ns >= 0) {
                break;          /* Recovered, then suspected again: a later failure's steps
                                 * (a standby's, say, once it took over) are not this one's. */
            }
            if (is_kind(&ev[j], "suspected") && r->suspected_ns < 0 && r->recovered_ns < 0) {
                r->suspected_ns = ev[j].t_ns;
            } else if ((is_kind(&ev[j], "recovered") || is_kind(&ev[j], "healed"))
                       && r->recovered_ns < 0) {
                r->recovered_ns = ev[j].t_ns;
            } else if (is_kind(&ev[j], "steered") && r->steered_ns < 0) {
                r->steered_ns = ev[j].t_ns;
            } else if (is_kind(&ev[j], "resumed") && r->resumed_ns < 0) {
                r->resumed_ns = ev[j].t_ns;
            }
        }
        if (r->suspected_ns >= 0 && r->steered_ns >= 0) {
            r->steer_ns = MAX(r->steered_ns - r->suspected_ns, 0);
        }
        if (r->suspected_ns >= 0 && r->resumed_ns >= 0) {
            r->resume_ns = MAX(r->resumed_ns - r->suspected_ns, 0);
        }
        if (r->suspected_ns >= 0) {
            r->detect_ns = r->suspected_ns - r->injected_ns;
        }
        if (r->recovered_ns >= 0) {
            r->total_ns = r->recovered_ns - r->injected_ns;
            if (r->suspected_ns >= 0) {
                r->repair_ns = r->recovered_ns - r->suspected_ns;
            }
        }
    }
    free(ev);
    *episodesp = eps;
    *np = n_eps;
    return 0;
}

static int
cmp_point(const void *a_, const void *b_)
{
    const struct metrics_point *a = a_, *b = b_;
    return a->t_ns < b->t_ns ? -1 : a->t_ns > b->t_ns;
}

int
metrics_resource(const struct metrics_point *cpu, size_t n_cpu,
                 const struct metrics_point *mem, size_t n_mem, struct metrics_resource *out)
{
    struct metrics_resource r = { NAN, NAN, NAN, NAN };

    if (!n_cpu && !n_mem) {
        return EINVAL;
    }
    if (n_cpu > 1) {
        struct metrics_point *c = xmalloc(n_cpu * sizeof *c);
        double busy_us = 0, span_us = 0;

        memcpy(c, cpu, n_cpu * sizeof *c);
        qsort(c, n_cpu, sizeof *c, cmp_point);
        for (size_t i = 1; i < n_cpu; i++) {
            double dt_us = (c[i].t_ns - c[i - 1].t_ns) / 1e3;
            double du = c[i].value - c[i - 1].value;

            if (dt_us <= 0 || du < 0) {
                continue;
            }
            busy_us += du;
            span_us += dt_us;
            r.peak_cpu_pct = isnan(r.peak_cpu_pct) ? 100 * du / dt_us
                                                   : MAX(r.peak_cpu_pct, 100 * du / dt_us);
        }
        if (span_us > 0) {
            r.mean_cpu_pct = 100 * busy_us / span_us;
        }
        free(c);
    }
    if (n_mem) {
        double sum = 0;

        r.peak_mem_bytes = mem[0].value;
        for (size_t i = 0; i < n_mem; i++) {
            sum += mem[i].value;
            r.peak_mem_bytes = MAX(r.peak_mem_bytes, mem[i].value);
        }
        r.mean_mem_bytes = sum / n_mem;
    }
    *out = r;
    return 0;
}
