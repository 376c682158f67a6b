/* workload — one run's workload, from the client's first request to the last sample in the
 * history: starts the client role with the point's arguments, runs the fault plan
 * (fault_plan.h) and the scheme's controller beside it, samples the guests' cgroups and the
 * roles' counters every tick, prints progress with an ETA every 10 s, and when the client
 * ends ingests its samples and every component's hop timings into the run. With
 * `capture: true` the data bridge's traffic goes to a pcap beside the database meanwhile.
 *
 * It computes no summary (summaries.h) and builds no infrastructure (runner.c): it runs on
 * the instance and deployment in struct run_ctx. No limit of its own cuts a workload short:
 * only the client's own bound (every request timed out, plus the duration) and Ctrl-C.
 * Private to testbed/run. */
#ifndef SFC_WORKLOAD_H
#define SFC_WORKLOAD_H 1

struct run_ctx;

/* Returns 0 if the client ran to its end and its samples are stored, EINTR on Ctrl-C (what
 * was sampled is still stored), ETIMEDOUT past the bound, EIO if the client failed. */
int workload_run(struct run_ctx *);

#endif
