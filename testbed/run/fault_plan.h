/* fault_plan — one run's fault schedule: every fault line of the point expanded by
 * injectors/schedule.h over the workload's duration, merged into one timeline of inject and
 * heal steps, and run against the deployment as the steps fall due. Targets resolve in the
 * deployment the runner holds (deploy_find(): "vnf[1].replica[2]", random(ROLE), count: N
 * distinct components); each applied and healed fault is an event of the run.
 *
 * Never sleeps and never reads the clock on its own: the workload loop (workload.c) says what
 * time it is and waits until fault_plan_next() says. Private to testbed/run.
 * Main types: struct fault_plan, struct fault_step, struct fault_live. */
#ifndef SFC_FAULT_PLAN_H
#define SFC_FAULT_PLAN_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "injectors/schedule.h"

struct inject_fault;
struct run_ctx;

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

/* Every fault line's schedule over 'duration_ns' of workload, merged into one timeline.
 * Seeded by the point's seed and the repetition. */
int fault_plan_build(const struct run_ctx *, uint64_t duration_ns, struct fault_plan *);

/* Runs every step due at 'now_ns', for a workload started at 'start_ns' (both
 * time_mono_ns()). A step that fails is logged and skipped: the run goes on. */
void fault_plan_run_due(struct run_ctx *, struct fault_plan *, uint64_t start_ns,
                        uint64_t now_ns);

/* True, with its time in '*at_ns' (time_mono_ns()), if a step is still to come. */
bool fault_plan_next(const struct fault_plan *, uint64_t start_ns, uint64_t *at_ns);

/* Heals what is still applied when the workload ends, so that the history says when, and
 * frees the plan. */
void fault_plan_finish(struct run_ctx *, struct fault_plan *);

#endif
