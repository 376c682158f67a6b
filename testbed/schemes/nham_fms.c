/* NHAM's failure detector: pidfd death notices and adaptive heartbeat timeouts (nham_fms.h). */
#include "testbed/schemes/nham_fms.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "vnfs/lib/util.h"

void
fms_estimator_init(struct fms_estimator *e)
{
    memset(e, 0, sizeof *e);
}

void
fms_estimator_beat(struct fms_estimator *e, const struct fms_config *cfg, uint64_t now_ns)
{
    if (e->last_ns && now_ns > e->last_ns) {
        double sample = now_ns - e->last_ns;

        if (e->beats == 1) {
            e->mean_ns = sample;
            e->dev_ns = sample / 2;
        } else {
            double err = sample - e->mean_ns;
            e->mean_ns += err / 8;
            e->dev_ns += (fabs(err) - e->dev_ns) / 4;
        }
    }
    /* A false suspicion's penalty fades over about a thousand beats (50 s at the default
     * 50 ms beat): a copy that was slow once keeps its longer timeout a while. */
    e->penalty_ns -= e->penalty_ns / 1024;
    e->last_ns = now_ns;
    e->beats++;
    (void) cfg;
}

void
fms_estimator_false_suspicion(struct fms_estimator *e, uint64_t gap_ns)
{
    e->false_suspicions++;
    e->penalty_ns = MAX(2 * e->penalty_ns, (double) gap_ns);
}

uint64_t
fms_estimator_timeout(const struct fms_estimator *e, const struct fms_config *cfg)
{
    double t = e->beats >= 2 ? e->mean_ns + cfg->k * e->dev_ns : cfg->max_timeout_ns;

    t += e->penalty_ns;
    if (t < cfg->min_timeout_ns) {
        t = cfg->min_timeout_ns;
    }
    if (t > cfg->max_timeout_ns) {
        t = cfg->max_timeout_ns;
    }
    return t;
}

const char *
fms_event_kind_name(enum fms_event_kind k)
{
    switch (k) {
    case FMS_EV_SUSPECTED:
        return "suspected";
    case FMS_EV_DEAD:
        return "dead";
    case FMS_EV_RECOVERED:
        return "recovered";
    }
    return "?";
}

enum fms_state { FMS_ALIVE, FMS_SUSPECT, FMS_GONE };

struct fms_target {
    char *name;
    int pidfd;                  /* -1: none, or closed after the death notice. */
    pid_t pid;                  /* The process watched (0: none known). */
    int hb_fd;
    bool listening;             /* 'hb_fd' listens for the copy's stream (SOCK_SEQPACKET). */
    int conn_fd;                /* That stream, accepted (-1: none). */
    pid_t conn_pid;             /* Its peer's process (SO_PEERCRED), 0 unknown. */
    bool stamped;               /* Its beats carry their arrival time (SO_TIMESTAMPNS): they
                                 * are read when a deadline is checked, not as they come. */
    enum fms_state state;
    struct fms_estimator est;
    bool reset;                 /* fms_reset_target() asked; under the mutex. */
    pid_t reset_pid;            /* Its new process (0: none). */
    bool reset_expect;
    uint64_t armed_ns;          /* A process was started then and has not beaten yet (0: none
                                 * expected). */
};

struct fms {
    struct fms_config cfg;
    fms_event_cb *cb;
    void *aux;
    struct fms_target *targets;
    size_t n_targets;
    int epfd, stopfd, wakefd;
    pthread_t thread;
    bool started;
    bool stopping;              /* Under the mutex: no reset will be applied any more. */
    pthread_mutex_t mutex;      /* Guards the estimators against fms_get_estimator(). */
    pthread_cond_t applied;     /* Signalled when resets were applied. */
    bool shared_silence;        /* Every target fell silent at once (the host's stall), */
    uint64_t resumed_ns;        /* and the first beat after it came then, */
    bool resuming;              /* read in this wake-up (an earlier one read later lowers it). */
};

static uint64_t
fms_now(void)
{
    return time_mono_ns();
}

int
fms_create(const struct fms_config *cfg, fms_event_cb *cb, void *aux, struct fms **fmsp)
{
    struct fms *f = xzalloc(sizeof *f);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
    int error = 0;

    f->cfg = *cfg;
    f->cb = cb;
    f->aux = aux;
    f->epfd = epoll_create1(EPOLL_CLOEXEC);
    f->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    f->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&f->mutex, NULL);
    pthread_cond_init(&f->applied, NULL);
    if (f->epfd < 0 || f->stopfd < 0 || f->wakefd < 0
        || epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->stopfd, &ev)
        || epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->wakefd,
                     &(struct epoll_event) { .events = EPOLLIN, .data.u64 = UINT64_MAX - 1 })) {
        error = errno;
        fms_destroy(f);
        goto out;
    }
    *fmsp = f;
out:
    return error;
}

/* Epoll data: target index * 4 + 0 for its pidfd, + 1 for its heartbeat fd (a datagram
 * socket or pipe, or a listening stream socket), + 2 for the stream accepted on it.
 *
 * A socket's beats wake nobody: each carries its arrival time (SO_TIMESTAMPNS) and the
 * monitor reads them all when it checks the deadlines (at the next deadline, at least every
 * FMS_DRAIN_NS), so a beat that came before a deadline counts and the estimator sees every
 * beat's true time. A wake-up per beat of every copy (4-8 copies every 5 ms) preempted the
 * guests for nothing. What must be seen at once still wakes it: a stream's end (EPOLLRDHUP),
 * a suspected target's beats (its recovery), a pipe's beats (no time stamps: read as they
 * come, as before). */
#define FMS_EV_PIDFD 0
#define FMS_EV_HB 1
#define FMS_EV_CONN 2

/* The longest the beats wait unread: a stream holds ~270 one-byte beats (its sender's
 * SO_SNDBUF), and a beat refused for room would be a gap to the estimator. */
#define FMS_DRAIN_NS 100000000ull

/* Epoll events for the beats of target 't' on its stream (or datagram socket, pipe). */
static uint32_t
fms_beat_events(const struct fms_target *t, bool stream)
{
    return (stream ? EPOLLRDHUP : 0) | (!t->stamped || t->state == FMS_SUSPECT ? EPOLLIN : 0);
}

/* Epoll events for target 't''s heartbeat fd itself: a listening socket wakes for connections. */
static uint32_t
fms_hb_fd_events(const struct fms_target *t)
{
    return t->listening ? EPOLLIN : fms_beat_events(t, false);
}

/* The fd target 't''s beats come on: its accepted stream, or the heartbeat fd itself. */
static int
fms_beat_fd(const struct fms_target *t)
{
    return t->listening ? t->conn_fd : t->hb_fd;
}

/* Asks the kernel to stamp the beats on 'fd' with their arrival time. */
static bool
fms_stamp(int fd)
{
    int on = 1;

    return !setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
}

/* Target 'i''s state changed: wake for its beats as that state asks. */
static void
fms_watch_beats(struct fms *f, size_t i)
{
    struct fms_target *t = &f->targets[i];
    int fd = fms_beat_fd(t);
    struct epoll_event ev = { .events = fms_beat_events(t, t->listening),
                              .data.u64 = i * 4 + (t->listening ? FMS_EV_CONN : FMS_EV_HB) };

    if (fd >= 0 && t->state != FMS_GONE) {
        epoll_ctl(f->epfd, EPOLL_CTL_MOD, fd, &ev);
    }
}
int
fms_add_target(struct fms *f, const char *name, pid_t pid, int hb_fd, size_t *idxp)
{
    struct fms_target *t;
    size_t idx = f->n_targets;
    struct epoll_event ev = { .events = EPOLLIN };
    int error = 0;

    if (f->started) {
        return EBUSY;
    }
    f->targets = xrealloc(f->targets, (idx + 1) * sizeof *f->targets);
    t = &f->targets[idx];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(name);
    t->pidfd = -1;
    t->pid = pid > 0 ? pid : 0;
    t->hb_fd = hb_fd;
    t->conn_fd = -1;
    if (hb_fd >= 0) {
        int on = 0;
        socklen_t len = sizeof on;
        t->listening = !getsockopt(hb_fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) && on;
        t->stamped = !t->listening && fms_stamp(hb_fd);
    }
    fms_estimator_init(&t->est);
    t->armed_ns = pid > 0 && hb_fd >= 0 ? fms_now() : 0;
    f->n_targets++;
    if (pid > 0) {
        t->pidfd = syscall(SYS_pidfd_open, pid, 0);
        ev.data.u64 = idx * 4 + FMS_EV_PIDFD;
        if (t->pidfd < 0 || epoll_ctl(f->epfd, EPOLL_CTL_ADD, t->pidfd, &ev)) {
            error = errno;
            goto out;
        }
    }
    if (hb_fd >= 0) {
        ev.events = fms_hb_fd_events(t);
        ev.data.u64 = idx * 4 + FMS_EV_HB;
        if (fcntl(hb_fd, F_SETFL, fcntl(hb_fd, F_GETFL) | O_NONBLOCK)
            || epoll_ctl(f->epfd, EPOLL_CTL_ADD, hb_fd, &ev)) {
            error = errno;
            goto out;
        }
    }
    if (idxp) {
        *idxp = idx;
    }
out:
    return error;
}

static void fms_gone(struct fms *, size_t i, uint64_t now);

static void
fms_close_conn(struct fms *f, struct fms_target *t)
{
    if (t->conn_fd >= 0) {
        epoll_ctl(f->epfd, EPOLL_CTL_DEL, t->conn_fd, NULL);
        close(t->conn_fd);
        t->conn_fd = -1;
        t->conn_pid = 0;
    }
}

/* A copy connected its beat stream: the newest connection is the one that counts. */
static void
fms_on_accept(struct fms *f, size_t i)
{
    struct fms_target *t = &f->targets[i];

    for (;;) {
        int fd = accept4(t->hb_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct ucred cred = { 0 };
        socklen_t len = sizeof cred;

        if (fd < 0) {
            break;
        }
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len);
        fms_close_conn(f, t);
        t->conn_fd = fd;
        t->conn_pid = cred.pid;
        /* Beats sent before this are stamped when read: moments later, in this wake-up. */
        t->stamped = fms_stamp(fd);
        if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd,
                      &(struct epoll_event) { .events = fms_beat_events(t, true),
                                              .data.u64 = i * 4 + FMS_EV_CONN })) {
            fms_close_conn(f, t);
        }
    }
}

/* One beat of target 'i' that arrived at 'at' (monotonic). */
static void
fms_beat(struct fms *f, size_t i, uint64_t at)
{
    struct fms_target *t = &f->targets[i];
    uint64_t gap;

    if (f->shared_silence) {
        f->shared_silence = false;
        f->resumed_ns = at;
        f->resuming = true;
    } else if (f->resuming) {
        f->resumed_ns = MIN(f->resumed_ns, at);
    }
    pthread_mutex_lock(&f->mutex);
    /* Queued beats come in order; beats of one instant are one beat (a pipe's, unstamped,
     * read together). */
    at = MAX(at, t->est.last_ns);
    gap = t->est.last_ns ? at - t->est.last_ns : 0;
    t->armed_ns = 0;
    if (t->state == FMS_SUSPECT) {
        fms_estimator_false_suspicion(&t->est, gap);
    }
    if (at > t->est.last_ns || !t->est.last_ns) {
        fms_estimator_beat(&t->est, &f->cfg, at);
    }
    pthread_mutex_unlock(&f->mutex);
    if (t->state == FMS_SUSPECT) {
        t->state = FMS_ALIVE;
        fms_watch_beats(f, i);
        f->cb(f->aux, i, t->name, FMS_EV_RECOVERED, at, gap);
    }
}

/* Reads the beats queued on 'fd' (the datagram socket or pipe, or the accepted stream), each
 * at its arrival time when stamped, else now. */
static void
fms_on_beats(struct fms *f, size_t i, int fd)
{
    struct fms_target *t = &f->targets[i];
    struct timespec real;
    uint64_t now = fms_now(), real_ns, recovered_at = 0;
    bool closed = false;

    clock_gettime(CLOCK_REALTIME, &real);
    real_ns = real.tv_sec * 1000000000ull + real.tv_nsec;
    for (;;) {
        char buf[256];
        union {
            char buf[CMSG_SPACE(sizeof(struct timespec))];
            struct cmsghdr align;
        } cmsg;
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cmsg.buf,
                              .msg_controllen = sizeof cmsg.buf };
        struct cmsghdr *c;
        uint64_t at = now;
        ssize_t n = t->stamped ? recvmsg(fd, &msg, MSG_DONTWAIT) : read(fd, buf, sizeof buf);

        if (n <= 0) {
            if (!n || (errno != EAGAIN && errno != EINTR)) {
                /* The other end closed: no beat will come again. On a stream, the copy's
                 * process is gone: its socket closes as it exits, before the rest of its
                 * exit (a packet socket's release waits for an RCU grace period, 10 ms on a
                 * loaded machine, and its pidfd with it). */
                closed = true;
            }
            break;
        }
        for (c = t->stamped ? CMSG_FIRSTHDR(&msg) : NULL; c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                struct timespec ts;
                uint64_t ts_ns;

                memcpy(&ts, CMSG_DATA(c), sizeof ts);
                ts_ns = ts.tv_sec * 1000000000ull + ts.tv_nsec;
                /* The stamp is CLOCK_REALTIME: moved onto the monotonic clock by their
                 * difference now (never later than now, whatever the wall clock did). */
                at = ts_ns < real_ns ? now - MIN(now, real_ns - ts_ns) : now;
            }
        }
        if (t->state == FMS_SUSPECT) {
            /* Beats again, unless the stream ends here: a death is no false suspicion. */
            recovered_at = recovered_at ? recovered_at : at;
        } else if (t->state != FMS_GONE) {
            fms_beat(f, i, at);
        }
    }
    if (closed && fd == t->conn_fd) {
        /* Only the stream of the process watched (or of one unknown) tells of a death. */
        if (!t->pid || !t->conn_pid || t->conn_pid == t->pid) {
            fms_gone(f, i, fms_now());    /* Closes the stream, after the notice. */
            return;
        }
        fms_close_conn(f, t);
    } else if (closed) {
        epoll_ctl(f->epfd, EPOLL_CTL_DEL, fd, NULL);
    }
    if (recovered_at) {
        fms_beat(f, i, recovered_at);
    }
}

/* Reads every target's queued beats, before the deadlines are checked. */
static void
fms_drain_beats(struct fms *f)
{
    for (size_t i = 0; i < f->n_targets; i++) {
        struct fms_target *t = &f->targets[i];
        int fd = fms_beat_fd(t);

        if (fd >= 0 && t->stamped && t->state != FMS_GONE) {
            fms_on_beats(f, i, fd);
        }
    }
}

/* Target 'i''s process is gone (its pidfd, or its beat stream closed): one notice. */
static void
fms_gone(struct fms *f, size_t i, uint64_t now)
{
    struct fms_target *t = &f->targets[i];

    /* The notice first: a takeover starts from it (nham_ctl.c), and these sockets' removal
     * took 20-30 us, a third of the SFF's takeover. */
    if (t->state != FMS_GONE) {
        uint64_t gap = t->est.last_ns ? now - t->est.last_ns : 0;
        t->state = FMS_GONE;
        f->cb(f->aux, i, t->name, FMS_EV_DEAD, now, gap);
    }
    if (t->hb_fd >= 0) {
        epoll_ctl(f->epfd, EPOLL_CTL_DEL, t->hb_fd, NULL);
    }
    fms_close_conn(f, t);
}

static void
fms_on_death(struct fms *f, size_t i, uint64_t now)
{
    struct fms_target *t = &f->targets[i];
    struct pollfd p = { .fd = t->pidfd, .events = POLLIN };

    /* An event of a pidfd a reset replaced in the same wake-up: the new one says nothing. */
    if (t->pidfd < 0 || poll(&p, 1, 0) <= 0) {
        return;
    }
    fms_gone(f, i, now);
    epoll_ctl(f->epfd, EPOLL_CTL_DEL, t->pidfd, NULL);
    close(t->pidfd);
    t->pidfd = -1;
}

/* Targets whose copy was restarted start over: no beat yet, nothing suspected, and the
 * silence of the restart is no false suspicion. */
static void
fms_apply_resets(struct fms *f)
{
    pthread_mutex_lock(&f->mutex);
    for (size_t i = 0; i < f->n_targets; i++) {
        struct fms_target *t = &f->targets[i];

        if (!t->reset) {
            continue;
        }
        t->reset = false;
        if (t->state == FMS_GONE && t->hb_fd >= 0) {
            t->state = FMS_ALIVE;
            epoll_ctl(f->epfd, EPOLL_CTL_ADD, t->hb_fd,
                      &(struct epoll_event) { .events = fms_hb_fd_events(t),
                                              .data.u64 = i * 4 + FMS_EV_HB });
        }
        t->pid = t->reset_pid > 0 ? t->reset_pid : 0;
        if (t->conn_fd >= 0 && (!t->pid || (t->conn_pid && t->conn_pid != t->pid))) {
            /* The old process's stream: its end (it is being stopped) is no news. The new
             * process's, accepted already, stays. */
            fms_close_conn(f, t);
        }
        if (t->pidfd >= 0) {
            epoll_ctl(f->epfd, EPOLL_CTL_DEL, t->pidfd, NULL);
            close(t->pidfd);
            t->pidfd = -1;
        }
        if (t->reset_pid > 0) {
            t->pidfd = syscall(SYS_pidfd_open, t->reset_pid, 0);
            if (t->pidfd >= 0
                && epoll_ctl(f->epfd, EPOLL_CTL_ADD, t->pidfd,
                             &(struct epoll_event) { .events = EPOLLIN,
                                                     .data.u64 = i * 4 + FMS_EV_PIDFD })) {
                close(t->pidfd);
                t->pidfd = -1;
            }
        }
        t->state = FMS_ALIVE;
        fms_watch_beats(f, i);      /* No longer suspected: its beats wait for a deadline. */
        t->armed_ns = t->reset_expect && t->hb_fd >= 0 ? fms_now() : 0;
        fms_estimator_init(&t->est);
    }
    pthread_cond_broadcast(&f->applied);
    pthread_mutex_unlock(&f->mutex);
}

/* The latest beat of any target but the one at index 'skip', and how many targets beat at all. */
static uint64_t
fms_latest_beat(const struct fms *f, size_t skip, size_t *n_beatingp)
{
    uint64_t latest = 0;
    size_t n = 0;

    for (size_t i = 0; i < f->n_targets; i++) {
        const struct fms_target *t = &f->targets[i];

        if (t->hb_fd >= 0 && t->state != FMS_GONE && t->est.last_ns) {
            n++;
            if (i != skip) {
                latest = MAX(latest, t->est.last_ns);
            }
        }
    }
    *n_beatingp = n;
    return latest;
}

/* A target silent past its timeout is suspected only if the others were heard since: when
 * every target falls silent at once, the silence is the host's (it stalled for seconds on a
 * loaded machine: every guest starved, no process dead), and suspecting each copy then
 * started failovers to standbys as frozen as they were, seconds of outage on top of the
 * stall. Once the others beat again, a target whose deadline fell within that silence gets a
 * whole timeout ('timeout', its own) from their first beat, as if it had beaten then: a host
 * thaws its guests one by one, and each works off a second's backlog of frames before its
 * next beat (a tenth of the least timeout after the first, as before, was too short for one
 * in a run of CI: 4 copies frozen for a second, 1 suspected after the thaw). A death (pidfd,
 * the beat stream's end) is no silence: it is known at once. With a single target beating,
 * nothing tells the host's silence from the target's: as before. */
#define FMS_RECHECK_NS 5000000ull

static bool
fms_heard_others_since(struct fms *f, size_t i, uint64_t deadline, uint64_t timeout,
                       uint64_t now, uint64_t *nextp)
{
    size_t n_beating;
    uint64_t latest = fms_latest_beat(f, i, &n_beating);

    if (n_beating < 2) {
        return true;
    }
    if (latest < deadline) {
        /* Nobody heard since: look again once beats may have come back. */
        f->shared_silence = true;
        *nextp = MIN(*nextp, now + MAX(f->cfg.min_timeout_ns / 10, FMS_RECHECK_NS));
        return false;
    }
    if (f->resumed_ns > deadline && now < f->resumed_ns + timeout) {
        *nextp = MIN(*nextp, f->resumed_ns + timeout);
        return false;
    }
    return true;
}

/* Suspects whoever missed its deadline; returns the next deadline (UINT64_MAX: none). */
static uint64_t
fms_check_deadlines(struct fms *f, uint64_t now)
{
    uint64_t next = UINT64_MAX;

    for (size_t i = 0; i < f->n_targets; i++) {
        struct fms_target *t = &f->targets[i];
        uint64_t since, deadline, timeout;

        if (t->stamped && t->state == FMS_ALIVE) {
            next = MIN(next, now + FMS_DRAIN_NS);
        }
        if (t->hb_fd < 0 || t->state != FMS_ALIVE || (!t->est.last_ns && !t->armed_ns)) {
            continue;
        }
        pthread_mutex_lock(&f->mutex);
        /* Never beaten since it started: the largest timeout (a start takes a while). */
        timeout = t->est.last_ns ? fms_estimator_timeout(&t->est, &f->cfg)
                                 : f->cfg.max_timeout_ns;
        pthread_mutex_unlock(&f->mutex);
        since = t->est.last_ns ? t->est.last_ns : t->armed_ns;
        deadline = since + timeout;
        if (now >= deadline && fms_heard_others_since(f, i, deadline, timeout, now, &next)) {
            t->state = FMS_SUSPECT;
            t->armed_ns = 0;
            fms_watch_beats(f, i);  /* Its recovery is news at once. */
            f->cb(f->aux, i, t->name, FMS_EV_SUSPECTED, now, now - since);
        } else if (now < deadline) {
            next = MIN(next, deadline);
        }
    }
    return next;
}

static void *
fms_main(void *f_)
{
    struct fms *f = f_;
    uint64_t next = 0;          /* A first look at once: the deadlines and when to read. */

    for (;;) {
        struct epoll_event evs[16];
        struct timespec ts, *tsp = NULL;
        uint64_t now = fms_now();
        int n;

        if (next != UINT64_MAX) {
            uint64_t wait = next > now ? next - now : 0;
            ts.tv_sec = wait / 1000000000ull;
            ts.tv_nsec = wait % 1000000000ull;
            tsp = &ts;
        }
        n = epoll_pwait2(f->epfd, evs, ARRAY_SIZE(evs), tsp, NULL);
        if (n < 0 && errno != EINTR) {
            break;
        }
        now = fms_now();
        f->resuming = false;
        fms_apply_resets(f);
        for (int i = 0; i < n; i++) {
            uint64_t d = evs[i].data.u64;
            if (d == UINT64_MAX) {
                return NULL;
            } else if (d == UINT64_MAX - 1) {
                uint64_t v;
                if (read(f->wakefd, &v, sizeof v) < 0) {
                    /* Nothing to read: another wake-up took it. */
                }
            } else if (d % 4 == FMS_EV_HB) {
                struct fms_target *t = &f->targets[d / 4];
                if (t->listening) {
                    fms_on_accept(f, d / 4);
                } else {
                    fms_on_beats(f, d / 4, t->hb_fd);
                }
            } else if (d % 4 == FMS_EV_CONN) {
                if (f->targets[d / 4].conn_fd >= 0) {
                    fms_on_beats(f, d / 4, f->targets[d / 4].conn_fd);
                }
            } else {
                fms_on_death(f, d / 4, now);
            }
        }
        /* Every beat that came before 'now' is counted before a deadline is checked. */
        fms_drain_beats(f);
        next = fms_check_deadlines(f, now);
    }
    return NULL;
}

int
fms_start(struct fms *f)
{
    struct sched_param sp = { .sched_priority = 1 };
    pthread_attr_t attr;
    int error;

    /* The monitor sleeps in epoll and runs for microseconds per event: at the lowest
     * real-time priority it takes no CPU from anyone for long, and a death is seen at once
     * however loaded the machine is. Without the privilege, a normal thread. */
    pthread_attr_init(&attr);
    pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
    pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
    pthread_attr_setschedparam(&attr, &sp);
    error = pthread_create(&f->thread, &attr, fms_main, f);
    if (error == EPERM) {
        error = pthread_create(&f->thread, NULL, fms_main, f);
    }
    pthread_attr_destroy(&attr);
    f->started = !error;
    return error;
}

void
fms_destroy(struct fms *f)
{
    if (!f) {
        return;
    }
    pthread_mutex_lock(&f->mutex);
    f->stopping = true;
    pthread_cond_broadcast(&f->applied);
    pthread_mutex_unlock(&f->mutex);
    if (f->started) {
        uint64_t one = 1;
        if (write(f->stopfd, &one, sizeof one) != sizeof one) {
            /* The thread would never stop: nothing sane is left to do. */
            abort();
        }
        pthread_join(f->thread, NULL);
    }
    for (size_t i = 0; i < f->n_targets; i++) {
        if (f->targets[i].pidfd >= 0) {
            close(f->targets[i].pidfd);
        }
        if (f->targets[i].conn_fd >= 0) {
            close(f->targets[i].conn_fd);
        }
        free(f->targets[i].name);
    }
    free(f->targets);
    if (f->epfd >= 0) {
        close(f->epfd);
    }
    if (f->stopfd >= 0) {
        close(f->stopfd);
    }
    if (f->wakefd >= 0) {
        close(f->wakefd);
    }
    pthread_mutex_destroy(&f->mutex);
    pthread_cond_destroy(&f->applied);
    free(f);
}

void
fms_reset_target(struct fms *f, size_t idx, pid_t pid, bool expect_beats)
{
    uint64_t one = 1;

    pthread_mutex_lock(&f->mutex);
    if (idx < f->n_targets) {
        f->targets[idx].reset = true;
        f->targets[idx].reset_pid = pid;
        f->targets[idx].reset_expect = expect_beats;
    }
    pthread_mutex_unlock(&f->mutex);
    if (!f->started) {
        fms_apply_resets(f);
        return;
    }
    if (write(f->wakefd, &one, sizeof one) != sizeof one) {
        /* The counter is full: a wake-up is pending anyway. */
    }
    /* Applied by the monitor before it looks at any event again: once this returns, the old
     * process's death is no news. */
    pthread_mutex_lock(&f->mutex);
    while (idx < f->n_targets && f->targets[idx].reset && !f->stopping) {
        pthread_cond_wait(&f->applied, &f->mutex);
    }
    pthread_mutex_unlock(&f->mutex);
}

void
fms_get_estimator(struct fms *f, size_t idx, struct fms_estimator *out)
{
    pthread_mutex_lock(&f->mutex);
    *out = f->targets[idx].est;
    pthread_mutex_unlock(&f->mutex);
}
