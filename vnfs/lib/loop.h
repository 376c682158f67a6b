/* loop — a single-threaded epoll event loop with file descriptors, monotonic timers and signals
 * (through a signalfd), on which every sfcd role runs.
 *
 * Callbacks run on the loop's thread, one at a time, and may add or remove fds and timers
 * (including their own). The loop never owns the fds it watches: removing one does not close
 * it. Timers are few per role (stats, timeouts), so they live in a small array scanned on each
 * iteration rather than a heap. Main type: struct loop. */
#ifndef SFC_LOOP_H
#define SFC_LOOP_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <time.h>

struct loop;

/* How long the loop's steps ran (a step: one fd's callback, or one pass over the due timers),
 * which is how long the role left its sockets unread: the longest, and how many took over
 * LOOP_SLOW_NS. Wall time (two vDSO clock reads a step): a step the scheduler preempted counts
 * whole. (The thread's CPU time beside it costs a system call a step, several a datagram.) */
#define LOOP_SLOW_NS 2000000
struct loop_stats {
    uint64_t step_max_us;
    uint64_t n_slow;
};

typedef void loop_fd_cb(struct loop *, int fd, uint32_t events, void *aux);
typedef void loop_timer_cb(struct loop *, uint64_t timer_id, void *aux);
typedef void loop_signal_cb(struct loop *, int signo, void *aux);

int loop_create(struct loop **);
void loop_destroy(struct loop *);

/* Watches 'fd' for 'events' (EPOLLIN, EPOLLOUT...). Returns 0, EEXIST or an epoll errno. */
int loop_add_fd(struct loop *, int fd, uint32_t events, loop_fd_cb *, void *aux);
int loop_mod_fd(struct loop *, int fd, uint32_t events);
void loop_del_fd(struct loop *, int fd);

/* Arms a timer that fires 'delay_ns' from now and then every 'period_ns' (0: once). Returns its
 * id, never 0. */
uint64_t loop_add_timer(struct loop *, uint64_t delay_ns, uint64_t period_ns,
                        loop_timer_cb *, void *aux);
void loop_cancel_timer(struct loop *, uint64_t timer_id);

/* Blocks 'signals' in the calling thread and delivers them through the loop. Call once. */
int loop_add_signals(struct loop *, const int *signals, size_t n, loop_signal_cb *, void *aux);

/* How long the loop sleeps, from 'now_ns' to the next timer's 'deadline_ns' (UINT64_MAX:
 * none), to the nanosecond: '*ts', or NULL to wait for events only. A deadline already past
 * is a zero wait. */
struct timespec *loop_wait_time(uint64_t deadline_ns, uint64_t now_ns, struct timespec *);

/* Runs until loop_stop(). Returns 0 or the errno of a failed epoll_pwait2. */
int loop_run(struct loop *);
void loop_stop(struct loop *);
const struct loop_stats *loop_stats(const struct loop *);
bool loop_stopping(const struct loop *);

#endif
