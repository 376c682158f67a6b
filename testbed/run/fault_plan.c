#include "testbed/run/fault_plan.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "injectors/inject.h"
#include "testbed/deploy/deploy.h"
#include "testbed/model/experiment.h"
#include "testbed/run/events.h"
#include "testbed/run/run_ctx.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/rng.h"

static int
compare_steps(const void *a_, const void *b_)
{
    const struct fault_step *a = a_, *b = b_;

    if (a->at_ns != b->at_ns) {
        return a->at_ns < b->at_ns ? -1 : 1;
    }
    return (int) a->action - (int) b->action;   /* Heals first, as schedule.h orders them. */
}

int
fault_plan_build(const struct run_ctx *rc, uint64_t duration_ns, struct fault_plan *plan)
{
    uint64_t seed = rc->point->seed + rc->repetition;

    pthread_condattr_t attr;

    memset(plan, 0, sizeof *plan);
    pthread_mutex_init(&plan->mutex, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&plan->cond, &attr);
    pthread_condattr_destroy(&attr);
    plan->rng = seed ^ 0x5fc1ab5ull;
    for (size_t i = 0; i < rc->point->n_faults; i++) {
        struct sched_event *ev = NULL;
        size_t n = 0;
        int error = schedule_build(&rc->point->faults[i], schedule_fault_seed(seed, i),
                                   duration_ns, &ev, &n);
        if (error) {
            fault_plan_finish((struct run_ctx *) rc, plan);
            return error;
        }
        plan->steps = xrealloc(plan->steps, (plan->n + n + 1) * sizeof *plan->steps);
        for (size_t j = 0; j < n; j++) {
            plan->steps[plan->n++] = (struct fault_step) {
                ev[j].at_ns, ev[j].action, i, ev[j].fault, ev[j].slot,
            };
        }
        free(ev);
    }
    if (plan->n) {
        qsort(plan->steps, plan->n, sizeof *plan->steps, compare_steps);
    }
    return 0;
}

static void
fault_event(struct run_ctx *rc, const char *kind, const struct inject_fault *f,
            const struct inject_time *t)
{
    run_events_addf(rc->events, t->mono_ns ? t->mono_ns : time_mono_ns(), kind, f->target,
                    "%s %s", f->kind->name, f->mode ? f->mode : "");
}

/* Whether the fault acts on its target's traffic: then a copy that carries none (a standby)
 * is no target of random(ROLE). */
static bool
on_traffic(const struct exp_fault *ef)
{
    const struct inject_kind *k = inject_kind_find(ef->kind);

    return k && k->on_traffic;
}

/* The component a fault step hits. random(ROLE) picks among the deployed components of that
 * role those not already hit by another slot of the same fault (count: N means N distinct
 * components), and refuses when none is left. */
static int
pick_target(struct run_ctx *rc, struct fault_plan *plan, const struct fault_step *st,
            char **targetp)
{
    const struct exp_fault *ef = &rc->point->faults[st->line];
    const struct deploy_component **free_comps;
    size_t n_free = 0, n_role = 0;
    char role[32];

    int index = -1;

    if (sscanf(ef->target, "random(%31[a-z-]", role) != 1) {
        *targetp = xstrdup(ef->target);
        return 0;
    }
    sscanf(ef->target + 7 + strlen(role), "[%d]", &index);     /* random(ROLE[N]) */
    free_comps = xcalloc(rc->dep->n_comps + 1, sizeof *free_comps);
    for (size_t i = 0; i < rc->dep->n_comps; i++) {
        const struct deploy_component *c = &rc->dep->comps[i];
        bool taken = false;

        if (strcmp(c->role, role) || (index >= 0 && c->index != index)
            || (on_traffic(ef) && deploy_is_idle(c))) {
            continue;
        }
        n_role++;
        for (size_t k = 0; k < plan->n_live && !taken; k++) {
            const struct fault_live *l = &plan->live[k];
            taken = l->line == st->line && l->fault == st->fault
                    && !strcmp(l->f->target, c->name);
        }
        if (!taken) {
            free_comps[n_free++] = c;
        }
    }
    if (!n_free) {
        log_err("fault %s on %s: count %llu needs %llu distinct '%s' components, the chain "
                "has %zu", ef->kind, ef->target, (unsigned long long) ef->count,
                (unsigned long long) ef->count, role, n_role);
        free(free_comps);
        return ENOENT;
    }
    *targetp = xstrdup(free_comps[ft_splitmix64(&plan->rng) % n_free]->name);
    free(free_comps);
    return 0;
}

static int
fault_step_run(struct run_ctx *rc, struct fault_plan *plan, const struct fault_step *st)
{
    const struct exp_fault *ef = &rc->point->faults[st->line];
    struct inject_time t;
    int error = 0;

    if (st->action == SCHED_INJECT) {
        struct inject_params params = {
            .mode = ef->mode, .fraction = ef->fraction < 1 ? ef->fraction : 0, .role_id = -1,
        };
        struct inject_fault *f;
        char *target = NULL;

        /* The deployment is the target map: "vnf[1].replica[2]" and random(ROLE) resolve
         * here, on the same seeded generator as before; count: N > 1 of random(ROLE) picks
         * N distinct components (pick_target()). */
        const struct deploy_component *c = NULL;

        error = ef->count > 1 ? pick_target(rc, plan, st, &target) : 0;
        if (!error) {
            c = deploy_find_busy(rc->dep, target ? target : ef->target, &plan->rng,
                                 on_traffic(ef));
            if (!c) {
                log_err("fault %s: target '%s' is not deployed", ef->kind,
                        target ? target : ef->target);
                error = ENOENT;
            }
        }
        free(target);
        if (!error) {
            error = inject_fault_create_resolved(rc->inst, c->name, c->guest, ef->kind,
                                                 &params, &f);
        }
        if (!error) {
            error = inject_apply(f, &t);
            if (error) {
                inject_fault_free(f);
            }
        }
        if (error) {
            /* A step not taken is part of the run, said in the history, never silently
             * dropped. EALREADY: the target is down already (its scheme still recovers it
             * from the last fault): no episode of recovery starts here, and the run goes
             * on. */
            bool down = error == EALREADY;
            char *detail = xasprintf("%s %s: %s", ef->kind, ef->mode ? ef->mode : "",
                                     down ? "the target is down already" : strerror(error));

            if (!down) {
                log_err("fault %s %s on %s: %s", ef->kind, ef->mode ? ef->mode : "",
                        ef->target, strerror(error));
            }
            run_events_add(rc->events, 0, "fault-not-injected", c ? c->name : ef->target,
                           detail);
            free(detail);
            return down ? 0 : error;
        }
        fault_event(rc, "fault-injected", f, &t);
        plan->live = xrealloc(plan->live, (plan->n_live + 1) * sizeof *plan->live);
        plan->live[plan->n_live++] = (struct fault_live) { st->line, st->fault, st->slot, f };
        return 0;
    }
    for (size_t i = 0; i < plan->n_live; i++) {
        struct fault_live *l = &plan->live[i];
        if (l->line == st->line && l->fault == st->fault && l->slot == st->slot) {
            error = inject_heal(l->f, &t);
            if (!error) {
                /* A lasting fault's end restored nothing: not a recovery of the target. */
                fault_event(rc, inject_heal_restores(l->f) ? "healed" : "fault-ended", l->f, &t);
            }
            inject_fault_free(l->f);
            *l = plan->live[--plan->n_live];
            break;
        }
    }
    return error;
}

static void *
fault_plan_main(void *plan_)
{
    struct fault_plan *plan = plan_;

    pthread_mutex_lock(&plan->mutex);
    while (!plan->stop && plan->next < plan->n) {
        uint64_t at = plan->start_ns + plan->steps[plan->next].at_ns;

        if (time_mono_ns() < at) {
            struct timespec ts = { .tv_sec = at / 1000000000ull, .tv_nsec = at % 1000000000ull };
            pthread_cond_timedwait(&plan->cond, &plan->mutex, &ts);
            continue;
        }
        const struct fault_step *st = &plan->steps[plan->next++];
        pthread_mutex_unlock(&plan->mutex);
        fault_step_run(plan->rc, plan, st);
        pthread_mutex_lock(&plan->mutex);
    }
    pthread_mutex_unlock(&plan->mutex);
    return NULL;
}

int
fault_plan_start(struct run_ctx *rc, struct fault_plan *plan, uint64_t start_ns)
{
    int error;

    plan->rc = rc;
    plan->start_ns = start_ns;
    if (!plan->n) {
        return 0;
    }
    error = pthread_create(&plan->thread, NULL, fault_plan_main, plan);
    plan->started = !error;
    return error;
}

void
fault_plan_finish(struct run_ctx *rc, struct fault_plan *plan)
{
    if (plan->started) {
        pthread_mutex_lock(&plan->mutex);
        plan->stop = true;
        pthread_cond_signal(&plan->cond);
        pthread_mutex_unlock(&plan->mutex);
        pthread_join(plan->thread, NULL);
    }
    for (size_t i = 0; i < plan->n_live; i++) {
        struct inject_time t;
        if (!inject_heal(plan->live[i].f, &t)) {
            fault_event(rc, inject_heal_restores(plan->live[i].f) ? "healed" : "fault-ended",
                        plan->live[i].f, &t);
        }
        inject_fault_free(plan->live[i].f);
    }
    free(plan->live);
    free(plan->steps);
    pthread_mutex_destroy(&plan->mutex);
    pthread_cond_destroy(&plan->cond);
    memset(plan, 0, sizeof *plan);
}
