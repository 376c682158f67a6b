/* metrics — measurements computed from a run's history (samples and events), never by the
 * workload: throughput per interval, recovery times, availability, CPU and memory.
 *
 * Times are t_ns on the run's clock (see results/schema.sql). Metric names the history uses
 * (the unit is the suffix): rtt_us (one per request), probe_ok (1 answered, 0 not, one per
 * probe), rx_bytes / rx_packets (amount received since the previous sample of that series),
 * cpu_usage_usec (cgroup cpu.stat usage_usec, cumulative), memory_current (cgroup
 * memory.current, bytes). Event kinds: fault-injected, suspected, recovered, healed.
 *
 * Pure functions over arrays: no I/O, no database (the caller reads the history through
 * testbed/store). Outputs are untouched on error. Main types: struct metrics_point,
 * struct metrics_probe, struct metrics_event, struct metrics_recovery,
 * struct metrics_availability, struct metrics_resource. */
#ifndef SFC_METRICS_H
#define SFC_METRICS_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct metrics_point {
    int64_t t_ns;
    double value;
};

/* Throughput per interval. The window [t0, t1) is cut into intervals of 'interval_ns' (the last
 * may be shorter); each sample's amount counts in the interval holding its t_ns (samples outside
 * the window are ignored), and each interval's rate is its total amount / its length in seconds
 * (amount per second). '*rates' gets ceil((t1 - t0) / interval_ns) values; caller frees.
 * EINVAL when t1 <= t0 or interval_ns <= 0. */
int metrics_throughput(const struct metrics_point *, size_t n, int64_t t0, int64_t t1,
                       int64_t interval_ns, double **rates, size_t *n_rates);

/* Availability, the fraction of the window [t0, t1) during which the probe stream succeeds:
 *  - probes are taken in time order (the input need not be sorted); those outside the window
 *    are ignored;
 *  - a probe at t covers [t, next) where next is the next probe's time, capped at t + hold_ns
 *    (hold_ns 0: no cap) and at t1; a successful probe's cover counts as up, a failed one's as
 *    down;
 *  - time covered by no probe (before the first one, or past a cap: the stream fell silent)
 *    counts as down, since nothing shows the service answered then;
 *  - availability = up / (t1 - t0).
 * An outage is a maximal stretch of down time; 'outages' counts them. */
struct metrics_probe {
    int64_t t_ns;
    bool ok;
};

struct metrics_availability {
    double ratio;               /* up / total, in [0, 1]. */
    int64_t up_ns;
    int64_t total_ns;
    int64_t uncovered_ns;       /* Part of the down time that no probe covered. */
    size_t outages;
    int64_t longest_outage_ns;
};

int metrics_availability(const struct metrics_probe *, size_t n, int64_t t0, int64_t t1,
                         int64_t hold_ns, struct metrics_availability *);

/* Recovery time from events. Each fault-injected event on a target starts an episode; the
 * episode's detection is the first 'suspected' and its recovery the first 'recovered' (or
 * 'healed') event on the same target after it and before the target's next fault. Steps:
 * detect = suspected - injected, repair = recovered - suspected, total = recovered - injected;
 * a step whose end never came is -1. Two optional steps a scheme may report between them,
 * the first 'steered' (the target's traffic goes to the copy that took over, no longer to the
 * failed one: the update of a group of replicas, what NHAM's paper times for MR-AA; NHAM's SFF
 * does it at the new copy's READY) and the first 'resumed'
 * (the copy that took over output its first packet: the hop serves again): steer = steered -
 * suspected and resume = resumed - suspected, each at least 0 (a step done before the
 * suspicion took no time after it), -1 when absent. Events are taken in time order (input
 * need not be sorted); kinds other than these are ignored. '*episodes' is in fault order;
 * caller frees it. */
struct metrics_event {
    int64_t t_ns;
    const char *kind;
    const char *target;
};

struct metrics_recovery {
    const char *target;         /* Points into the input events. */
    int64_t injected_ns;
    int64_t suspected_ns;       /* -1: never suspected. */
    int64_t recovered_ns;       /* -1: never recovered. */
    int64_t detect_ns;          /* -1 when unknown. */
    int64_t repair_ns;
    int64_t total_ns;
    int64_t steered_ns, resumed_ns;     /* -1: not reported. */
    int64_t steer_ns, resume_ns;        /* From the suspicion; -1 when unknown. */
};

int metrics_recovery(const struct metrics_event *, size_t n,
                     struct metrics_recovery **episodes, size_t *n_episodes);

/* CPU and memory of one component from its cgroup samples (in time order or not).
 * CPU: from cumulative cpu_usage_usec samples, utilisation in percent of one core over each
 * pair of consecutive samples, 100 * d(usage_us) / d(t_us); mean_cpu_pct is the total usage
 * over the total time of the pairs kept, peak the largest pair. A counter going backwards (the
 * cgroup was recreated) makes its pair meaningless: that pair is skipped. Memory: mean and peak of memory_current.
 * Either input may be empty (its outputs are then NaN); EINVAL when both are. */
struct metrics_resource {
    double mean_cpu_pct, peak_cpu_pct;
    double mean_mem_bytes, peak_mem_bytes;
};

int metrics_resource(const struct metrics_point *cpu_usage_usec, size_t n_cpu,
                     const struct metrics_point *memory_current, size_t n_mem,
                     struct metrics_resource *);

#endif
