#include "injectors/schedule.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "testbed/model/experiment.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/rng.h"

const char *
schedule_action_name(enum sched_action a)
{
    return a == SCHED_HEAL ? "heal" : "inject";
}

uint64_t
schedule_exp_draw(struct ft_rng *rng, uint64_t mean_ns)
{
    /* U in [0, 1), so 1 - U is in (0, 1] and the log is finite. */
    double x = -log1p(-ft_rng_unit(rng)) * (double) mean_ns;

    return x >= 0x1p63 ? UINT64_MAX / 2 : (uint64_t) x;
}

uint64_t
schedule_fault_seed(uint64_t run_seed, size_t index)
{
    uint64_t state = run_seed ^ (0x5fc1ab00ull + index) * 0x9e3779b97f4a7c15ull;

    return ft_splitmix64(&state);
}

static int
compare_events(const void *a_, const void *b_)
{
    const struct sched_event *a = a_, *b = b_;

    if (a->at_ns != b->at_ns) {
        return a->at_ns < b->at_ns ? -1 : 1;
    }
    if (a->action != b->action) {
        return a->action < b->action ? -1 : 1;
    }
    if (a->fault != b->fault) {
        return a->fault < b->fault ? -1 : 1;
    }
    return a->slot < b->slot ? -1 : a->slot > b->slot;
}

/* Appends the 'count' injections at 't' and their heals. */
static int
add_injection(const struct exp_fault *f, uint64_t t, uint64_t duration_ns, uint32_t fault,
              struct sched_event **evs, size_t *n, size_t *cap)
{
    for (uint32_t slot = 0; slot < f->count; slot++) {
        bool heal = f->heal_after_ns && f->heal_after_ns < duration_ns - t;

        if (*n + 1 + heal > SCHED_MAX_EVENTS) {
            return E2BIG;
        }
        if (*n + 2 > *cap) {
            *evs = x2nrealloc(*evs, cap, sizeof **evs);
        }
        (*evs)[(*n)++] = (struct sched_event) { t, SCHED_INJECT, fault, slot };
        if (heal) {
            (*evs)[(*n)++] = (struct sched_event) { t + f->heal_after_ns, SCHED_HEAL, fault,
                                                    slot };
        }
    }
    return 0;
}

int
schedule_build(const struct exp_fault *f, uint64_t seed, uint64_t duration_ns,
               struct sched_event **eventsp, size_t *np)
{
    struct sched_event *evs = NULL;
    size_t n = 0, cap = 0;
    struct ft_rng rng;
    uint32_t fault = 0;
    int error = 0;

    if (f->every_ns && f->mtbf_ns) {
        log_err("a fault is either periodic (every) or random (mtbf), not both");
        return EINVAL;
    }
    if (!f->count) {
        log_err("a fault's count must be at least 1");
        return EINVAL;
    }
    ft_rng_init(&rng, seed);
    if (f->mtbf_ns) {
        for (uint64_t t = f->at_ns;;) {
            uint64_t gap = schedule_exp_draw(&rng, f->mtbf_ns);

            if (gap >= duration_ns || t >= duration_ns - gap) {
                break;
            }
            t += gap;
            error = add_injection(f, t, duration_ns, fault++, &evs, &n, &cap);
            if (error) {
                goto out;
            }
        }
    } else if (f->every_ns) {
        for (uint64_t t = f->at_ns ? f->at_ns : f->every_ns; t < duration_ns;
             t += f->every_ns) {
            error = add_injection(f, t, duration_ns, fault++, &evs, &n, &cap);
            if (error) {
                goto out;
            }
            if (t > UINT64_MAX - f->every_ns) {
                break;
            }
        }
    } else if (f->at_ns < duration_ns) {
        error = add_injection(f, f->at_ns, duration_ns, fault, &evs, &n, &cap);
        if (error) {
            goto out;
        }
    }
    if (n) {
        qsort(evs, n, sizeof *evs, compare_events);
    }
    *eventsp = evs;
    *np = n;
    evs = NULL;
out:
    free(evs);
    return error;
}
