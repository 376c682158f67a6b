/* fault_plan — one run's fault schedule: every fault line of the point expanded by
 * injectors/schedule.h over the workload's duration, merged into one timeline of inject and
 * heal steps, and run against the deployment as the steps fall due. Targets resolve in the
 * deployment the runner holds (deploy_find(): "vnf[1].replica[2]", random(ROLE), count: N
 * distinct components); each applied and healed fault is an event of the run.
 *
 * The steps run on a thread of their own, each at its time: nothing the workload loop does
 * (asking every agent for counters can stall for seconds on a loaded host) makes a fault late,
 * or folds an inject and its heal into one instant. The thread touches the run only through
 * the event API (events.h) and its own agent connections (injectors/); the store stays the
 * workload loop's. Private to testbed/run.
 * Main types: struct fault_plan, struct fault_step, struct fault_live. */
#ifndef SFC_FAULT_PLAN_H
#define SFC_FAULT_PLAN_H 1

#include <pthread.h>
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

    /* The thread that runs the steps (fault_plan_start()). */
    struct run_ctx *rc;
    uint64_t start_ns;
    pthread_t thread;
    bool started;
    bool stop;                  /* Under 'mutex'. */
    pthread_mutex_t mutex;
    pthread_cond_t cond;        /* On CLOCK_MONOTONIC. */
};

/* Every fault line's schedule over 'duration_ns' of workload, merged into one timeline.
 * Seeded by the point's seed and the repetition. */
int fault_plan_build(const struct run_ctx *, uint64_t duration_ns, struct fault_plan *);

/* Starts the thread that runs each step when it falls due, for a workload started at
 * 'start_ns' (time_mono_ns()). A step that fails is stored as a `fault-not-injected` event and
 * skipped: the run goes on. */
int fault_plan_start(struct run_ctx *, struct fault_plan *, uint64_t start_ns);

/* Stops that thread (a step under way ends first; steps not yet due are not taken), heals
 * what is still applied when the workload ends, so that the history says when, and frees the
 * plan. Also for a plan never started. */
void fault_plan_finish(struct run_ctx *, struct fault_plan *);

#endif
