/* nham_fms — NHAM's failure detector (the detection half of its FMS), on the host.
 *
 * It watches targets (a VNF copy: the pid of its guest and a heartbeat channel from its agent)
 * and combines two sources, as NHAM's FMS combines the infrastructure's view with its own:
 *  - the provider's death notice: a pidfd becomes readable the moment the guest's process dies,
 *    so a crash is known without waiting for any timeout (FMS_EV_DEAD); sooner still, the
 *    end of the copy's beat stream, when its beats come on one (its socket closes early in
 *    its exit);
 *  - heartbeats at millisecond intervals with an adaptive timeout (Jacobson's estimator of
 *    the inter-arrival mean and deviation, plus a penalty that grows on each false suspicion
 *    and decays with every beat), for what kills no process: cut links, a hung or paused
 *    guest (FMS_EV_SUSPECTED), once other targets were heard since: a silence of every
 *    target at once is the host's stall, not theirs. A suspected target whose beats come back
 *    was falsely suspected (a pause): FMS_EV_RECOVERED, and its timeout grows, as the
 *    paper's FMS does with a slow VNF rather than recovering it again and again.
 * Events go to a callback from the monitor's thread (a scheme controller records them with
 * run_events_add(), which is thread-safe). The estimator (struct fms_estimator) is pure and
 * tested alone.
 *
 * Must not: kill, restart or steer anything (recovery is the replica manager's), or read a
 * heartbeat's content (one datagram = one beat; the channel's owner authenticates it).
 * Main types: struct fms (the monitor), struct fms_estimator, struct fms_config. */
#ifndef SFC_NHAM_FMS_H
#define SFC_NHAM_FMS_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct fms_config {
    uint64_t min_timeout_ns;    /* Never suspect sooner than this after a beat. */
    uint64_t max_timeout_ns;
    double k;                   /* Deviations above the mean inter-arrival (4: Jacobson). */
};

#define FMS_CONFIG_DEFAULT { 3000000, 2000000000ull, 4.0 }

struct fms_estimator {
    uint64_t last_ns;           /* Last beat; 0: none yet. */
    double mean_ns, dev_ns;
    double penalty_ns;          /* Grown by false suspicions, decays with beats. */
    uint64_t beats, false_suspicions;
};

void fms_estimator_init(struct fms_estimator *);
/* A beat at 'now_ns'. */
void fms_estimator_beat(struct fms_estimator *, const struct fms_config *, uint64_t now_ns);
/* A suspicion turned out false: the gap was 'gap_ns' and not a failure. */
void fms_estimator_false_suspicion(struct fms_estimator *, uint64_t gap_ns);
/* Current timeout after the last beat. */
uint64_t fms_estimator_timeout(const struct fms_estimator *, const struct fms_config *);

enum fms_event_kind {
    FMS_EV_SUSPECTED,           /* Heartbeat timeout: 'gap_ns' since the last beat. */
    FMS_EV_DEAD,                /* The provider's notice: the process is gone. */
    FMS_EV_RECOVERED,           /* Beats again after a suspicion (a false one). */
};

const char *fms_event_kind_name(enum fms_event_kind);

/* Called from the monitor's thread. 'at_ns' is CLOCK_MONOTONIC when it was seen. */
typedef void fms_event_cb(void *aux, size_t target, const char *name, enum fms_event_kind,
                          uint64_t at_ns, uint64_t gap_ns);

struct fms;

int fms_create(const struct fms_config *, fms_event_cb *, void *aux, struct fms **);
/* Before fms_start(): watch 'pid' (0: no death notice) and heartbeats read from 'hb_fd'
 * (a datagram socket or pipe, -1: none; made nonblocking; the monitor does not close it;
 * a socket's beats are stamped by the kernel (SO_TIMESTAMPNS) and read at deadlines).
 * 'hb_fd' may also be a listening SOCK_SEQPACKET socket: the copy connects and beats on its
 * stream, and the stream's end is a death notice too, the earliest one (the socket closes
 * as the process exits, before its pidfd says so). Only the stream of the process watched
 * (SO_PEERCRED) counts; a reset drops the old process's. */
int fms_add_target(struct fms *, const char *name, pid_t pid, int hb_fd, size_t *idxp);
/* Starts the monitor's thread, at a real-time priority when the system allows it (a crash is
 * known through a pidfd the moment the process dies: only the monitor's wake-up may delay it,
 * and a loaded machine delays a normal thread by tens of milliseconds). */
int fms_start(struct fms *);
/* Stops the thread (if started) and frees. */
void fms_destroy(struct fms *);
/* Target 'idx' was restarted (a new process beats on the same channel): forget its beats and
 * its suspicion, without counting a false one, and watch 'pid' (0: no death notice) instead
 * of its old process. With 'expect_beats', a process was started: if it never beats within
 * the largest timeout (it died before its pid could be watched, or hangs at start), it is
 * suspected like one that fell silent; without, nothing runs there until the next reset.
 * Thread-safe; once it returns, no event about the old process is delivered any more. */
void fms_reset_target(struct fms *, size_t idx, pid_t pid, bool expect_beats);
/* A copy of target 'idx''s estimator (thread-safe), as of the monitor's last reading of the
 * beats: a socket's beats are read at the deadline checks, at least every 100 ms. */
void fms_get_estimator(struct fms *, size_t idx, struct fms_estimator *);

#endif
