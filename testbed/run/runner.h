/* runner — runs an experiment: expands its sweep into points x repetitions and, for each, builds
 * the infrastructure, deploys the chain, drives the workload, collects the history into the
 * results database, summarises it and tears everything down.
 *
 * The history is Jepsen-style: the client's operations, per-hop timings, resource usage and
 * fault events all land in one run on one clock (the run's monotonic origin). Summaries are
 * computed from the stored samples, never taken from the workload's own report. A point whose
 * repetition is already complete in the database in the same variant is skipped unless
 * 'fresh'. Progress and an ETA are printed between runs and every 10 s of a workload; no
 * workload is cut short by a limit of the runner's own. SIGINT/SIGTERM stop
 * at the next step: the current run is marked interrupted and the instance is torn down.
 *
 * runner.c holds the sweep and one repetition's life (infrastructure, deploy, teardown); the
 * workload with its sampling and ingest is workload.h, the fault schedule fault_plan.h, the
 * summaries summaries.h, all sharing struct run_ctx (run_ctx.h, private to testbed/run).
 * Main type: struct runner_opts. */
#ifndef SFC_RUNNER_H
#define SFC_RUNNER_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct experiment;

struct runner_opts {
    const char *instance;       /* Instance name for the runs' infrastructure. */
    const char *state_dir;
    const char *db_path;
    bool fresh;                 /* Re-run points already complete. */
    bool keep;                  /* Leave the last point's chain up (for poking at it). */
    bool pin;                   /* Switch and guests on CPU 'pin_cpu' (see instance.h). */
    int pin_cpu;
    bool afxdp;                 /* AF_XDP data ports polled on 'pmd_cpu' (see instance.h). */
    int pmd_cpu;
    unsigned int pmd_sleep_us;  /* See instance.h (0: busy-polling). */
    /* The PMD's sleep while the workload runs (workload.c), when no other instance's PMD
     * shares its CPU; == pmd_sleep_us: the same throughout. */
    unsigned int pmd_sleep_workload_us;
    unsigned int halt_poll_us;  /* See instance.h (0: the host's idle as it is). */
    bool switch_rx;             /* The VNFs' frames received on 'pmd_cpu' (instance.h). */
    bool verbose;
    /* A comparison (`sfclab compare`): a point whose scheme cannot be deployed yet is left out
     * (said, and shown as such by the comparison), and a failed run does not stop the sweep:
     * what a scheme does under a fault model, failing included, is the result. */
    bool keep_going;
    /* What the command line changed, recorded with every run (params.variant) and compared
     * on resume: "full" (NULL), "quick", and " --set K=V" for each single-value --set. */
    const char *variant;
    /* Out: the ids of the runs this call made, in order (caller frees). */
    int64_t *run_ids;
    size_t n_run_ids;
};

/* Returns 0 if every point ran (or was already complete), EINTR if interrupted, else the
 * first error. */
int runner_run(struct runner_opts *, struct experiment *);

#endif
