/* run_ctx — what the runner's pieces share while one repetition of one point runs: the
 * experiment and point, the open store and run row, the run's clock origin, the instance, the
 * deployment (the one target map of deploy and the injectors) and the event API.
 *
 * Private to testbed/run: runner.c fills it and owns everything it points to; workload.c,
 * fault_plan.c and summaries.c only read it and add to the run's history. Nothing outside
 * testbed/run includes this header (schemes get struct scheme_controller_ctx instead).
 * Main type: struct run_ctx. */
#ifndef SFC_RUN_CTX_H
#define SFC_RUN_CTX_H 1

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct deployment;
struct exp_point;
struct experiment;
struct instance;
struct run_events;
struct runner_opts;
struct scheme_class;
struct store;

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
    bool infra_failed;          /* The run failed bringing up its infrastructure, before any
                                 * scheme ran (the switch missed its deadline on a loaded host). */
};

/* A monotonic time (time_mono_ns()) on the run's clock. */
int64_t run_ctx_time(const struct run_ctx *, uint64_t mono_ns);

/* Records an event of the runner's own now, and writes out what the event API holds. */
void run_ctx_event(struct run_ctx *, const char *kind, const char *target, const char *detail);

/* Labels as the store keeps them: compact JSON with sorted keys, or NULL for none. Takes
 * 'obj' (may be NULL); the caller frees the result. */
char *run_ctx_labels(json_t *obj);

#endif
