#include "testbed/run/ctl_workers.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vnfs/lib/util.h"

struct ctl_worker {
    struct ctl_workers *pool;
    size_t idx;
    pthread_t thread;
    bool started;
    char *jobs;                 /* n * job_size bytes, oldest first. */
    size_t n, cap;
};

struct ctl_workers {
    pthread_mutex_t mutex;
    pthread_cond_t cond;        /* On CLOCK_MONOTONIC: a clock step does not stretch a wait. */
    atomic_bool stopping;
    size_t job_size;
    ctl_job_fn *run;
    ctl_idle_fn *idle;
    void *aux;
    struct ctl_worker *w;
    size_t n_workers;
    int rt_priority;            /* SCHED_FIFO priority of the threads; 0: normal ones. */
};

struct ctl_workers *
ctl_workers_create(size_t n_workers, size_t job_size, ctl_job_fn *run, ctl_idle_fn *idle,
                   void *aux)
{
    struct ctl_workers *p = xzalloc(sizeof *p);
    pthread_condattr_t attr;

    pthread_mutex_init(&p->mutex, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cond, &attr);
    pthread_condattr_destroy(&attr);
    atomic_init(&p->stopping, false);
    p->job_size = job_size;
    p->run = run;
    p->idle = idle;
    p->aux = aux;
    p->n_workers = n_workers;
    p->w = xcalloc(n_workers ? n_workers : 1, sizeof *p->w);
    for (size_t i = 0; i < n_workers; i++) {
        p->w[i] = (struct ctl_worker) { .pool = p, .idx = i };
    }
    return p;
}

static void *
ctl_worker_main(void *w_)
{
    struct ctl_worker *w = w_;
    struct ctl_workers *p = w->pool;
    void *job = xzalloc(p->job_size ? p->job_size : 1);

    pthread_mutex_lock(&p->mutex);
    while (!ctl_workers_stopping(p)) {
        uint64_t wait_ns;

        if (w->n) {
            memcpy(job, w->jobs, p->job_size);
            memmove(w->jobs, w->jobs + p->job_size, --w->n * p->job_size);
            p->run(p->aux, w->idx, job);
            continue;
        }
        wait_ns = p->idle ? p->idle(p->aux, w->idx) : 0;
        if (!w->n && !ctl_workers_stopping(p)) {
            ctl_workers_wait(p, wait_ns);
        }
    }
    pthread_mutex_unlock(&p->mutex);
    free(job);
    return NULL;
}

void
ctl_workers_set_realtime(struct ctl_workers *p, int priority)
{
    p->rt_priority = priority;
}

int
ctl_workers_start(struct ctl_workers *p)
{
    struct sched_param sp = { .sched_priority = p->rt_priority };
    pthread_attr_t attr;
    int error = 0;

    pthread_attr_init(&attr);
    if (p->rt_priority > 0) {
        pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
        pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
        pthread_attr_setschedparam(&attr, &sp);
    }
    for (size_t i = 0; !error && i < p->n_workers; i++) {
        error = pthread_create(&p->w[i].thread, &attr, ctl_worker_main, &p->w[i]);
        if (error == EPERM && p->rt_priority > 0) {
            /* Without the privilege: a normal thread. */
            error = pthread_create(&p->w[i].thread, NULL, ctl_worker_main, &p->w[i]);
        }
        p->w[i].started = !error;
    }
    pthread_attr_destroy(&attr);
    return error;
}

void
ctl_workers_stop(struct ctl_workers *p)
{
    pthread_mutex_lock(&p->mutex);
    atomic_store(&p->stopping, true);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mutex);
}

void
ctl_workers_destroy(struct ctl_workers *p)
{
    if (!p) {
        return;
    }
    ctl_workers_stop(p);
    for (size_t i = 0; i < p->n_workers; i++) {
        if (p->w[i].started) {
            pthread_join(p->w[i].thread, NULL);
        }
        free(p->w[i].jobs);
    }
    free(p->w);
    pthread_mutex_destroy(&p->mutex);
    pthread_cond_destroy(&p->cond);
    free(p);
}

void
ctl_workers_lock(struct ctl_workers *p)
{
    pthread_mutex_lock(&p->mutex);
}

void
ctl_workers_unlock(struct ctl_workers *p)
{
    pthread_mutex_unlock(&p->mutex);
}

bool
ctl_workers_stopping(const struct ctl_workers *p)
{
    return atomic_load(&((struct ctl_workers *) p)->stopping);
}

void
ctl_workers_push(struct ctl_workers *p, size_t worker, const void *job)
{
    struct ctl_worker *w = &p->w[worker];

    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 4;
        w->jobs = xrealloc(w->jobs, w->cap * p->job_size);
    }
    memcpy(w->jobs + w->n++ * p->job_size, job, p->job_size);
    pthread_cond_broadcast(&p->cond);
}

void *
ctl_workers_jobs(struct ctl_workers *p, size_t worker, size_t *n)
{
    *n = p->w[worker].n;
    return p->w[worker].jobs;
}

void
ctl_workers_wait(struct ctl_workers *p, uint64_t ns)
{
    struct timespec ts;
    uint64_t t;

    if (!ns) {
        pthread_cond_wait(&p->cond, &p->mutex);
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t = (uint64_t) ts.tv_sec * 1000000000ull + ts.tv_nsec + ns;
    ts.tv_sec = t / 1000000000ull;
    ts.tv_nsec = t % 1000000000ull;
    pthread_cond_timedwait(&p->cond, &p->mutex, &ts);
}
