#include "vnfs/lib/loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "vnfs/lib/util.h"

struct loop_fd {
    loop_fd_cb *cb;
    void *aux;
    bool used;
};

struct loop_timer {
    uint64_t id;
    uint64_t deadline;
    uint64_t period;
    loop_timer_cb *cb;
    void *aux;
};

struct loop {
    int epfd;
    struct loop_fd *fds;            /* Indexed by fd. */
    size_t n_fds;
    struct loop_timer *timers;
    size_t n_timers, allocated_timers;
    uint64_t next_timer_id;
    int sigfd;
    /* Ends a wait at the next timer's deadline (loop_arm()), armed for 'tfd_at'; -1: none
     * (epoll's timeout instead). */
    int tfd;
    uint64_t tfd_at;
    loop_signal_cb *signal_cb;
    void *signal_aux;
    bool stop;
    struct loop_stats stats;
};

int
loop_create(struct loop **loopp)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    struct loop *loop;

    if (epfd < 0) {
        return errno;
    }
    loop = xzalloc(sizeof *loop);
    loop->epfd = epfd;
    loop->sigfd = -1;
    loop->next_timer_id = 1;
    /* Edge-triggered and never read: each expiry is one event, and re-arming clears its count. */
    loop->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (loop->tfd >= 0
        && epoll_ctl(epfd, EPOLL_CTL_ADD, loop->tfd,
                     &(struct epoll_event) { .events = EPOLLIN | EPOLLET, .data.fd = loop->tfd })) {
        close(loop->tfd);
        loop->tfd = -1;
    }
    *loopp = loop;
    return 0;
}

void
loop_destroy(struct loop *loop)
{
    if (loop) {
        close(loop->epfd);
        if (loop->tfd >= 0) {
            close(loop->tfd);
        }
        if (loop->sigfd >= 0) {
            close(loop->sigfd);
        }
        free(loop->fds);
        free(loop->timers);
        free(loop);
    }
}

int
loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_cb *cb, void *aux)
{
    struct epoll_event ev = { .events = events, .data.fd = fd };

    if (fd < 0) {
        return EBADF;
    }
    if ((size_t) fd >= loop->n_fds) {
        size_t n = MAX((size_t) fd + 1, loop->n_fds * 2);
        loop->fds = xrealloc(loop->fds, n * sizeof *loop->fds);
        memset(loop->fds + loop->n_fds, 0, (n - loop->n_fds) * sizeof *loop->fds);
        loop->n_fds = n;
    }
    if (loop->fds[fd].used) {
        return EEXIST;
    }
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        return errno;
    }
    loop->fds[fd] = (struct loop_fd) { .cb = cb, .aux = aux, .used = true };
    return 0;
}

int
loop_mod_fd(struct loop *loop, int fd, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.fd = fd };

    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? errno : 0;
}

void
loop_del_fd(struct loop *loop, int fd)
{
    if (fd >= 0 && (size_t) fd < loop->n_fds && loop->fds[fd].used) {
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
        loop->fds[fd].used = false;
    }
}

uint64_t
loop_add_timer(struct loop *loop, uint64_t delay_ns, uint64_t period_ns,
               loop_timer_cb *cb, void *aux)
{
    struct loop_timer *t;

    if (loop->n_timers >= loop->allocated_timers) {
        loop->timers = x2nrealloc(loop->timers, &loop->allocated_timers, sizeof *loop->timers);
    }
    t = &loop->timers[loop->n_timers++];
    t->id = loop->next_timer_id++;
    t->deadline = time_mono_ns() + delay_ns;
    t->period = period_ns;
    t->cb = cb;
    t->aux = aux;
    return t->id;
}

void
loop_cancel_timer(struct loop *loop, uint64_t id)
{
    for (size_t i = 0; i < loop->n_timers; i++) {
        if (loop->timers[i].id == id) {
            loop->timers[i] = loop->timers[--loop->n_timers];
            return;
        }
    }
}

static void
signal_ready(struct loop *loop, int fd, uint32_t events, void *aux)
{
    struct signalfd_siginfo si;

    while (read(fd, &si, sizeof si) == sizeof si) {
        loop->signal_cb(loop, si.ssi_signo, loop->signal_aux);
    }
}

int
loop_add_signals(struct loop *loop, const int *signals, size_t n, loop_signal_cb *cb, void *aux)
{
    sigset_t set;
    int error;

    sigemptyset(&set);
    for (size_t i = 0; i < n; i++) {
        sigaddset(&set, signals[i]);
    }
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
        return errno;
    }
    loop->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (loop->sigfd < 0) {
        return errno;
    }
    loop->signal_cb = cb;
    loop->signal_aux = aux;
    error = loop_add_fd(loop, loop->sigfd, EPOLLIN, signal_ready, NULL);
    return error;
}

/* Runs due timers; returns the next one's deadline (UINT64_MAX: none). */
static uint64_t
run_timers(struct loop *loop)
{
    uint64_t now = time_mono_ns(), next = UINT64_MAX;

    for (size_t i = 0; i < loop->n_timers && !loop->stop; ) {
        struct loop_timer *t = &loop->timers[i];
        if (t->deadline <= now) {
            uint64_t id = t->id;
            loop_timer_cb *cb = t->cb;
            void *aux = t->aux;
            if (t->period) {
                t->deadline += t->period;
                if (t->deadline <= now) {
                    t->deadline = now + t->period;
                }
            } else {
                loop->timers[i] = loop->timers[--loop->n_timers];
            }
            cb(loop, id, aux);
            /* The callback may have changed the array: rescan from the start. */
            i = 0;
            now = time_mono_ns();
            next = UINT64_MAX;
            continue;
        }
        next = MIN(next, t->deadline);
        i++;
    }
    return next;
}

struct timespec *
loop_wait_time(uint64_t deadline_ns, uint64_t now_ns, struct timespec *ts)
{
    uint64_t wait = deadline_ns > now_ns ? deadline_ns - now_ns : 0;

    if (deadline_ns == UINT64_MAX) {
        return NULL;
    }
    ts->tv_sec = wait / 1000000000;
    ts->tv_nsec = wait % 1000000000;
    return ts;
}

/* A deadline this little before the one the timerfd holds keeps it: a timer re-added for the
 * same deadline as a delay (ftstage.c) lands a few clock reads off, sooner half the time, and
 * re-arming cost 8-16 us here. As the kernel's slack, which role.c sets to 1 us. */
#define LOOP_ARM_SLACK_NS 1000

/* True if the timerfd ends a wait for 'deadline_ns' (later than 'now_ns') by then: armed for
 * it now, or for an earlier deadline (a cancelled timer's: one wake-up early). A wait with a
 * timeout arms and cancels a kernel timer each time, and in a guest whose timer
 * reprogramming leaves to the hypervisor that cost ~5 us a wake-up (a round trip of two
 * wake-ups on one CPU took 23 us with a 1 ms timeout, 13 us without); every wake-up of a
 * role with any timer (FTC's ticks) paid it, where its deadline changes far more rarely. */
static bool
loop_arm(struct loop *loop, uint64_t deadline_ns, uint64_t now_ns)
{
    struct itimerspec its = {
        .it_value = { .tv_sec = deadline_ns / 1000000000, .tv_nsec = deadline_ns % 1000000000 },
    };

    if (loop->tfd < 0) {
        return false;
    }
    if (loop->tfd_at > now_ns && loop->tfd_at <= deadline_ns + LOOP_ARM_SLACK_NS) {
        return true;
    }
    if (timerfd_settime(loop->tfd, TFD_TIMER_ABSTIME, &its, NULL)) {
        return false;
    }
    loop->tfd_at = deadline_ns;
    return true;
}

/* Accounts the step begun at 't0'; returns the time it ended. */
static uint64_t
step_done(struct loop *loop, uint64_t t0)
{
    uint64_t now = time_mono_ns();
    uint64_t ns = now - t0;

    loop->stats.step_max_us = MAX(loop->stats.step_max_us, ns / 1000);
    loop->stats.n_slow += ns > LOOP_SLOW_NS;
    return now;
}

int
loop_run(struct loop *loop)
{
    struct epoll_event events[64];

    loop->stop = false;
    while (!loop->stop) {
        uint64_t t0 = time_mono_ns();
        uint64_t next = run_timers(loop);
        uint64_t now = step_done(loop, t0);
        struct timespec ts, *wait;
        int n;

        if (loop->stop) {
            break;
        }
        /* In nanoseconds: a sub-millisecond timer (e.g. FTC's 125 us carry) waits its own time,
         * not a whole millisecond. The kernel counts from the call, after 'now': never early. */
        wait = loop_wait_time(next, now, &ts);
        if (wait && (ts.tv_sec || ts.tv_nsec) && loop_arm(loop, next, now)) {
            wait = NULL;
        }
        n = epoll_pwait2(loop->epfd, events, ARRAY_SIZE(events), wait, NULL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        for (int i = 0; i < n && !loop->stop; i++) {
            int fd = events[i].data.fd;
            if (fd != loop->tfd && (size_t) fd < loop->n_fds && loop->fds[fd].used) {
                t0 = time_mono_ns();
                loop->fds[fd].cb(loop, fd, events[i].events, loop->fds[fd].aux);
                step_done(loop, t0);
            }
        }
    }
    return 0;
}

const struct loop_stats *
loop_stats(const struct loop *loop)
{
    return &loop->stats;
}

void
loop_stop(struct loop *loop)
{
    loop->stop = true;
}

bool
loop_stopping(const struct loop *loop)
{
    return loop->stop;
}
