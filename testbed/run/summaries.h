/* summaries — what one run's stored history comes to: the answer ratios (wrong, forged,
 * corrupted, error, timeout; 0 included), the RTT of answered requests after the warm-up,
 * availability and the longest outage from the probe stream (metrics.h), throughput and the
 * numbered datagrams' losses, recovery times from the fault and recovery events, CPU and
 * memory per component, and each component's time per hop. Each goes into the store as a
 * summary of the run (or, for recoveries, as samples and their summary), and one line each
 * is printed under the run's progress line.
 *
 * Reads only the store, never the workload's own report or a guest's files, so what a run
 * says is what its history holds. Private to testbed/run. */
#ifndef SFC_SUMMARIES_H
#define SFC_SUMMARIES_H 1

struct run_ctx;

/* Summarises the run 'rc->run' of 'rc->point' over the components of 'rc->dep'. What cannot
 * be summarised (no sample of a metric) is left out, not stored as 0. */
void summaries_write(struct run_ctx *);

#endif
