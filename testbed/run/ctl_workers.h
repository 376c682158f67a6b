/* ctl_workers — the threads of a scheme's host-side controller: a number of workers, each with
 * its own queue of fixed-size jobs, all under one lock the controller also takes for its own
 * state, and one stop sequence. A failure detector's callback queues a job (under the lock);
 * the worker's handler runs it, with the lock held, and may drop it around slow work. It
 * records nothing itself (that is run_events) and never touches the store.
 *
 * Stopping: ctl_workers_stop() raises the flag and wakes every worker (the caller may then stop
 * whatever feeds the queues, e.g. its failure detector, without holding the lock);
 * ctl_workers_destroy() stops, joins and frees.
 *
 * Main type: struct ctl_workers. */
#ifndef SFC_RUN_CTL_WORKERS_H
#define SFC_RUN_CTL_WORKERS_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ctl_workers;

/* Runs 'job' (a copy, owned by the worker) on worker 'worker'. Called with the lock held. */
typedef void ctl_job_fn(void *aux, size_t worker, void *job);
/* Called with the lock held when worker 'worker' has no job: returns how long to wait for one
 * (0: until one comes or the workers stop). May be NULL. */
typedef uint64_t ctl_idle_fn(void *aux, size_t worker);

struct ctl_workers *ctl_workers_create(size_t n_workers, size_t job_size, ctl_job_fn *,
                                       ctl_idle_fn *, void *aux);
/* Before ctl_workers_start(): the threads run at SCHED_FIFO 'priority' (0, the default: normal
 * threads; without the privilege they are normal ones too). A job then starts the moment it
 * is queued, however loaded the machine: for handlers that block (calls, waits) and run for
 * microseconds at a time, never for ones that compute. */
void ctl_workers_set_realtime(struct ctl_workers *, int priority);
/* Starts the threads. On failure, those started are stopped by ctl_workers_destroy(). */
int ctl_workers_start(struct ctl_workers *);
void ctl_workers_stop(struct ctl_workers *);
void ctl_workers_destroy(struct ctl_workers *);

/* The lock of the queues, which the controller also takes for its own state. */
void ctl_workers_lock(struct ctl_workers *);
void ctl_workers_unlock(struct ctl_workers *);
/* Whether ctl_workers_stop() was called (any thread, with or without the lock). */
bool ctl_workers_stopping(const struct ctl_workers *);

/* Under the lock: queues a copy of 'job' for 'worker' and wakes it. */
void ctl_workers_push(struct ctl_workers *, size_t worker, const void *job);
/* Under the lock: the jobs queued for 'worker', oldest first ('*n' of them). */
void *ctl_workers_jobs(struct ctl_workers *, size_t worker, size_t *n);
/* Under the lock: waits up to 'ns' (0: without limit) for a job, a stop or a wake-up. */
void ctl_workers_wait(struct ctl_workers *, uint64_t ns);

#endif
