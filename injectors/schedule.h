/* schedule — when faults happen: turns one fault line of an experiment (struct exp_fault: at,
 * every, mtbf, count, heal_after) and a seed into the list of injections and heals over a run
 * of a given duration.
 *
 * Pure: no clock, no I/O, no global state. Randomness comes only from the seed (vnfs/ft/rng.h),
 * so the seed recorded with a run reproduces its schedule exactly. Shapes:
 *   at T                one injection at T (at 0 when nothing else is given);
 *   every P             injections at P, 2P, ... (or at T, T+P, ... when `at` is also given);
 *   mtbf M              a Poisson process: exponential inter-arrival times of mean M, drawn by
 *                       inverse transform, measured failure to failure, starting at `at`;
 *   count N             each injection is N simultaneous ones (slots 0..N-1), e.g. N targets
 *                       drawn by random(role) at once;
 *   heal_after H        each injection is healed H later, if that is still within the run
 *                       (the runner heals what is left when the run ends).
 * Injections that fall while an earlier one is still unhealed are kept: MTBF is the mean time
 * between failures whatever their repair takes, and re-applying a fault to a target already
 * faulty is harmless for every kind. Events are sorted by time; at equal times heals come
 * before injections, so a period equal to heal_after never stacks two faults.
 *
 * Main types: struct sched_event (one injection or heal), enum sched_action. */
#ifndef SFC_INJECT_SCHEDULE_H
#define SFC_INJECT_SCHEDULE_H 1

#include <stddef.h>
#include <stdint.h>

struct exp_fault;
struct ft_rng;

/* At most this many events in one schedule: E2BIG past it (a tiny MTBF over a long run). */
#define SCHED_MAX_EVENTS 1000000

enum sched_action {
    SCHED_HEAL,                 /* Sorted before injections at the same time. */
    SCHED_INJECT,
};

struct sched_event {
    uint64_t at_ns;             /* From the start of the run (end of warm-up). */
    enum sched_action action;
    uint32_t fault;             /* Ordinal of the injection; a heal carries its injection's. */
    uint32_t slot;              /* 0..count-1 among simultaneous injections. */
};

/* Builds the schedule of 'f' over [0, duration_ns). Returns 0 and a malloc'd array in
 * '*eventsp' (NULL when empty) with its length in '*np'; EINVAL if 'f' asks for both every and
 * mtbf, or for count 0 (logged); E2BIG past SCHED_MAX_EVENTS. Outputs untouched on failure. */
int schedule_build(const struct exp_fault *f, uint64_t seed, uint64_t duration_ns,
                   struct sched_event **eventsp, size_t *np);

/* One draw of an exponential variable of mean 'mean_ns' (inverse transform: -mean ln(1-U)). */
uint64_t schedule_exp_draw(struct ft_rng *, uint64_t mean_ns);

/* The seed of fault line 'index' of a run seeded with 'run_seed': lines get independent
 * streams, so adding a fault line does not move the others. */
uint64_t schedule_fault_seed(uint64_t run_seed, size_t index);

const char *schedule_action_name(enum sched_action);

#endif
