/* Tests of NHAM's failure detector (testbed/schemes/nham_fms.c): the adaptive estimator alone,
 * then the monitor on real child processes that beat every millisecond over a socketpair:
 * killed (the pidfd's death notice), silent but alive (a cut link: heartbeat timeout), and
 * paused then resumed (a false suspicion, after which the timeout is longer); and a copy that
 * beats on a stream, whose end is a death notice. Detection times
 * are printed, never asserted: the CPUs are shared. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "testbed/schemes/nham_fms.h"
#include "vnfs/lib/util.h"

static void
test_estimator(void **state)
{
    const struct fms_config cfg = FMS_CONFIG_DEFAULT;
    struct fms_estimator e;
    uint64_t t = 1000000000ull, before, after;

    fms_estimator_init(&e);
    /* Before two beats nothing is known: the longest timeout. */
    assert_int_equal(fms_estimator_timeout(&e, &cfg), cfg.max_timeout_ns);
    for (int i = 0; i < 200; i++) {
        t += 1000000 + (i % 3) * 100000;       /* 1.0-1.2 ms */
        fms_estimator_beat(&e, &cfg, t);
    }
    before = fms_estimator_timeout(&e, &cfg);
    /* About the mean plus 4 deviations, floored at the minimum. */
    assert_true(before >= cfg.min_timeout_ns);
    assert_true(before < 2 * cfg.min_timeout_ns);
    fms_estimator_false_suspicion(&e, 80000000);
    after = fms_estimator_timeout(&e, &cfg);
    assert_true(after >= 80000000 && after > before);
    assert_int_equal(e.false_suspicions, 1);
    /* The penalty fades as beats keep coming. */
    for (int i = 0; i < 5000; i++) {
        t += 1000000;
        fms_estimator_beat(&e, &cfg, t);
    }
    assert_true(fms_estimator_timeout(&e, &cfg) < after / 4);
}

#define SEEN_MAX 1024

struct seen {
    pthread_mutex_t mutex;
    /* Room for a loaded host's false suspicions of a beating child, not only the events a
     * test waits for. */
    enum fms_event_kind kinds[SEEN_MAX];
    uint64_t at[SEEN_MAX], gap[SEEN_MAX];
    size_t targets[SEEN_MAX];
    size_t n;
};

static void
record(void *aux, size_t target, const char *name, enum fms_event_kind kind, uint64_t at,
       uint64_t gap)
{
    struct seen *s = aux;

    pthread_mutex_lock(&s->mutex);
    if (s->n < SEEN_MAX) {
        s->kinds[s->n] = kind;
        s->targets[s->n] = target;
        s->at[s->n] = at;
        s->gap[s->n] = gap;
        s->n++;
    }
    pthread_mutex_unlock(&s->mutex);
}

/* How many events of 'kind' were seen from the 'from'th on. */
static size_t
count_kind(struct seen *s, size_t from, enum fms_event_kind kind)
{
    size_t n = 0;

    pthread_mutex_lock(&s->mutex);
    for (size_t i = from; i < s->n; i++) {
        n += s->kinds[i] == kind;
    }
    pthread_mutex_unlock(&s->mutex);
    return n;
}

/* Waits (at most 3 s) until 'n' events were seen. */
static size_t
wait_events(struct seen *s, size_t n)
{
    for (int i = 0; i < 3000; i++) {
        size_t have;
        pthread_mutex_lock(&s->mutex);
        have = s->n;
        pthread_mutex_unlock(&s->mutex);
        if (have >= n) {
            return have;
        }
        usleep(1000);
    }
    return s->n;
}

/* A child that beats every millisecond, for 'beats' beats (then stays silent but alive). */
static pid_t
beating_child(int *fdp, int beats)
{
    int sv[2];
    pid_t pid;

    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (!pid) {
        /* Never outlive the test, whatever assertion stops it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) {
            _exit(0);
        }
        close(sv[0]);
        for (int i = 0; beats < 0 || i < beats; i++) {
            if (send(sv[1], "b", 1, 0) < 0 && errno != EAGAIN && errno != ENOBUFS) {
                _exit(1);
            }
            usleep(1000);
        }
        for (;;) {
            pause();
        }
    }
    close(sv[1]);
    *fdp = sv[0];
    return pid;
}

static void
test_death_notice(void **state)
{
    const struct fms_config cfg = FMS_CONFIG_DEFAULT;
    struct seen s = { .mutex = PTHREAD_MUTEX_INITIALIZER };
    struct fms *f;
    uint64_t killed, dead = 0;
    size_t first;
    int fd;
    pid_t pid = beating_child(&fd, -1);

    assert_int_equal(fms_create(&cfg, record, &s, &f), 0);
    assert_int_equal(fms_add_target(f, "vnf[0]", pid, fd, NULL), 0);
    assert_int_equal(fms_start(f), 0);
    usleep(100000);
    pthread_mutex_lock(&s.mutex);
    first = s.n;                /* On shared CPUs a late beat may have been suspected already. */
    pthread_mutex_unlock(&s.mutex);
    killed = time_mono_ns();
    kill(pid, SIGKILL);
    for (int i = 0; i < 3000 && !dead; i++) {
        usleep(1000);
        pthread_mutex_lock(&s.mutex);
        for (size_t j = first; j < s.n; j++) {
            if (s.kinds[j] == FMS_EV_DEAD) {
                dead = s.at[j];
            }
        }
        pthread_mutex_unlock(&s.mutex);
    }
    fms_destroy(f);
    waitpid(pid, NULL, 0);
    close(fd);
    assert_true(dead >= killed);
    print_message("fms: death notice %.3f ms after SIGKILL\n", (dead - killed) / 1e6);
}

static void
test_heartbeat_timeout(void **state)
{
    const struct fms_config cfg = FMS_CONFIG_DEFAULT;
    struct seen s = { .mutex = PTHREAD_MUTEX_INITIALIZER };
    struct fms_estimator e;
    struct fms *f;
    size_t last;
    int fd;
    pid_t pid = beating_child(&fd, 150);        /* ~150 ms of beats, then silence. */

    assert_int_equal(fms_create(&cfg, record, &s, &f), 0);
    /* No pid: only the heartbeats can tell (a cut link kills no process). */
    assert_int_equal(fms_add_target(f, "vnf[1]", 0, fd, NULL), 0);
    assert_int_equal(fms_start(f), 0);
    assert_true(wait_events(&s, 1) >= 1);
    usleep(400000);             /* Past the last beat: what is suspected now stays so. */
    fms_get_estimator(f, 0, &e);
    fms_destroy(f);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(fd);
    last = s.n - 1;
    assert_int_equal(s.kinds[last], FMS_EV_SUSPECTED);
    assert_true(s.gap[last] >= cfg.min_timeout_ns);
    print_message("fms: suspected %.3f ms after the last beat (timeout %.3f ms, mean "
                  "inter-arrival %.3f ms over %llu beats)\n", s.gap[last] / 1e6,
                  fms_estimator_timeout(&e, &cfg) / 1e6, e.mean_ns / 1e6,
                  (unsigned long long) e.beats);
}

static void
test_pause_is_a_false_suspicion(void **state)
{
    const struct fms_config cfg = FMS_CONFIG_DEFAULT;
    struct seen s = { .mutex = PTHREAD_MUTEX_INITIALIZER };
    struct fms_estimator e;
    struct fms *f;
    uint64_t t_before;
    size_t pause = 0;
    int fd;
    pid_t pid = beating_child(&fd, -1);

    assert_int_equal(fms_create(&cfg, record, &s, &f), 0);
    assert_int_equal(fms_add_target(f, "vnf[2]", pid, fd, NULL), 0);
    assert_int_equal(fms_start(f), 0);
    usleep(250000);             /* Beats are read at least every 100 ms: two reads of them. */
    fms_get_estimator(f, 0, &e);
    t_before = fms_estimator_timeout(&e, &cfg);
    kill(pid, SIGSTOP);
    usleep(100000);
    kill(pid, SIGCONT);
    assert_true(wait_events(&s, 2) >= 2);
    usleep(20000);
    fms_get_estimator(f, 0, &e);
    fms_destroy(f);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(fd);
    /* The longest gap is the pause: suspected, then beats again (earlier short ones may be
     * false suspicions of a busy CPU, suspected and recovered the same way). */
    for (size_t i = 1; i < s.n; i++) {
        if (s.kinds[i] == FMS_EV_RECOVERED && s.gap[i] > s.gap[pause]) {
            pause = i;
        }
    }
    assert_int_equal(s.kinds[pause], FMS_EV_RECOVERED);
    assert_int_equal(s.kinds[pause - 1], FMS_EV_SUSPECTED);
    assert_true(e.false_suspicions >= 1);
    assert_true(fms_estimator_timeout(&e, &cfg) > t_before);
    print_message("fms: pause suspected after %.3f ms, beats back after %.3f ms; timeout "
                  "%.3f -> %.3f ms\n", s.gap[pause - 1] / 1e6, s.gap[pause] / 1e6,
                  t_before / 1e6,
                  fms_estimator_timeout(&e, &cfg) / 1e6);
}

/* Suspicions of target 'target' (SIZE_MAX: any) seen between 'from' and 'to'. */
static size_t
count_suspected(struct seen *s, size_t target, uint64_t from, uint64_t to)
{
    size_t n = 0;

    pthread_mutex_lock(&s->mutex);
    for (size_t i = 0; i < s->n; i++) {
        n += (s->kinds[i] == FMS_EV_SUSPECTED && s->at[i] >= from && s->at[i] <= to
              && (target == SIZE_MAX || s->targets[i] == target));
    }
    pthread_mutex_unlock(&s->mutex);
    return n;
}

/* Every target silent at once (the host stalled: here both children stopped for 300 ms, three
 * timeouts) is no failure of any: nothing suspected, even when they come back one by one (the
 * second 50 ms after the first: within its timeout from then). One silent while the other
 * beats is. */
static void
test_shared_silence_is_the_hosts(void **state)
{
    struct fms_config cfg = FMS_CONFIG_DEFAULT;
    struct seen s = { .mutex = PTHREAD_MUTEX_INITIALIZER };
    uint64_t t0, t1;
    struct fms *f;
    int fd[2];
    pid_t pid[2];

    cfg.min_timeout_ns = 100000000;     /* 100 ms */
    for (int i = 0; i < 2; i++) {
        pid[i] = beating_child(&fd[i], -1);
    }
    assert_int_equal(fms_create(&cfg, record, &s, &f), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(fms_add_target(f, i ? "vnf[1]" : "vnf[0]", pid[i], fd[i], NULL), 0);
    }
    assert_int_equal(fms_start(f), 0);
    usleep(100000);
    t0 = time_mono_ns();
    kill(pid[0], SIGSTOP);
    kill(pid[1], SIGSTOP);
    usleep(300000);
    kill(pid[0], SIGCONT);
    kill(pid[1], SIGCONT);
    usleep(100000);
    kill(pid[0], SIGSTOP);
    kill(pid[1], SIGSTOP);
    usleep(300000);
    kill(pid[0], SIGCONT);
    usleep(50000);
    kill(pid[1], SIGCONT);
    t1 = time_mono_ns();
    usleep(100000);
    assert_int_equal(count_suspected(&s, SIZE_MAX, t0, t1), 0);

    t0 = time_mono_ns();
    kill(pid[1], SIGSTOP);
    usleep(300000);
    t1 = time_mono_ns();
    kill(pid[1], SIGCONT);
    usleep(50000);
    fms_destroy(f);
    for (int i = 0; i < 2; i++) {
        kill(pid[i], SIGKILL);
        waitpid(pid[i], NULL, 0);
        close(fd[i]);
    }
    assert_int_equal(count_suspected(&s, 1, t0, t1), 1);
}

/* A restarted copy: after fms_reset_target() the old process's death is no news, the new
 * one's is, and the silence of the restart is no false suspicion. */
static void
test_reset_watches_the_new_process(void **state)
{
    const struct fms_config cfg = FMS_CONFIG_DEFAULT;
    struct seen s = { .mutex = PTHREAD_MUTEX_INITIALIZER };
    struct fms_estimator e;
    struct fms *f;
    size_t before, dead = 0;
    int fd_old, fd_new;
    pid_t old = beating_child(&fd_old, -1), nw = beating_child(&fd_new, -1);

    assert_int_equal(fms_create(&cfg, record, &s, &f), 0);
    assert_int_equal(fms_add_target(f, "vnf[3]", old, fd_old, NULL), 0);
    assert_int_equal(fms_start(f), 0);
    usleep(50000);
    fms_reset_target(f, 0, nw, true);
    pthread_mutex_lock(&s.mutex);
    before = s.n;
    pthread_mutex_unlock(&s.mutex);
    kill(old, SIGKILL);
    waitpid(old, NULL, 0);
    usleep(100000);
    pthread_mutex_lock(&s.mutex);
    for (size_t i = before; i < s.n; i++) {
        dead += s.kinds[i] == FMS_EV_DEAD;
    }
    pthread_mutex_unlock(&s.mutex);
    assert_int_equal(dead, 0);
    kill(nw, SIGKILL);
    for (int i = 0; i < 3000 && !dead; i++) {
        usleep(1000);
        pthread_mutex_lock(&s.mutex);
        for (size_t j = before; j < s.n; j++) {
            dead += s.kinds[j] == FMS_EV_DEAD;
        }
        pthread_mutex_unlock(&s.mutex);
    }
    fms_get_estimator(f, 0, &e);
    fms_destroy(f);
    waitpid(nw, NULL, 0);
    close(fd_old);
    close(fd_new);
    assert_int_equal(dead, 1);
    assert_int_equal(e.false_suspicions, 0);
}

/* A child that connects to the listening stream socket at 'path' and beats on it every
 * millisecond, as nham-vnf does where the FMS listens. */
static pid_t
streaming_child(const char *path)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (!pid) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        strcpy(sun.sun_path, path);
        if (getppid() == 1 || connect(fd, (struct sockaddr *) &sun, sizeof sun)) {
            _exit(1);
        }
        for (;;) {
            send(fd, "b", 1, MSG_NOSIGNAL);
            usleep(1000);
        }
    }
    return pid;
}

/* The end of a copy's beat stream is a death notice by itself (no pidfd here), given once
 * even where the pidfd says it too; a reset drops the old process's stream, whose end is then
 * no news. */
static void
test_stream_end_is_a_death_notice(void **state)
{
    const struct fms_config cfg = FMS_CONFIG_DEFAULT;
    struct seen s = { .mutex = PTHREAD_MUTEX_INITIALIZER };
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct fms *f;
    size_t before, dead = 0;
    uint64_t killed;
    int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    pid_t a, b;

    snprintf(sun.sun_path, sizeof sun.sun_path, "/tmp/sfct-fms-%d.sock", (int) getpid());
    unlink(sun.sun_path);
    assert_int_equal(bind(lfd, (struct sockaddr *) &sun, sizeof sun), 0);
    assert_int_equal(listen(lfd, 4), 0);
    a = streaming_child(sun.sun_path);
    assert_int_equal(fms_create(&cfg, record, &s, &f), 0);
    assert_int_equal(fms_add_target(f, "vnf[4]", 0, lfd, NULL), 0);
    assert_int_equal(fms_start(f), 0);
    usleep(100000);
    pthread_mutex_lock(&s.mutex);
    before = s.n;
    pthread_mutex_unlock(&s.mutex);
    killed = time_mono_ns();
    kill(a, SIGKILL);
    /* The first event after the kill may be a suspicion of the child's late beats (a loaded
     * host): wait for the death notice itself. */
    for (int i = 0; i < 3000 && !count_kind(&s, before, FMS_EV_DEAD); i++) {
        usleep(1000);
    }
    pthread_mutex_lock(&s.mutex);
    for (size_t i = before; i < s.n; i++) {
        if (s.kinds[i] == FMS_EV_DEAD) {
            dead++;
            print_message("fms: stream end %.3f ms after SIGKILL\n", (s.at[i] - killed) / 1e6);
        }
    }
    pthread_mutex_unlock(&s.mutex);
    waitpid(a, NULL, 0);
    assert_int_equal(dead, 1);

    /* A new process, watched by its pid too: one notice for its death, not two. */
    b = streaming_child(sun.sun_path);
    fms_reset_target(f, 0, b, true);
    usleep(100000);
    pthread_mutex_lock(&s.mutex);
    before = s.n;
    pthread_mutex_unlock(&s.mutex);
    kill(b, SIGKILL);
    waitpid(b, NULL, 0);
    usleep(200000);
    assert_int_equal(count_kind(&s, before, FMS_EV_DEAD), 1);

    /* Forgotten (a reset with no process) before it stops: its stream's end says nothing. */
    a = streaming_child(sun.sun_path);
    fms_reset_target(f, 0, a, true);
    usleep(100000);
    fms_reset_target(f, 0, 0, false);
    pthread_mutex_lock(&s.mutex);
    before = s.n;
    pthread_mutex_unlock(&s.mutex);
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
    usleep(200000);
    pthread_mutex_lock(&s.mutex);
    dead = s.n - before;
    pthread_mutex_unlock(&s.mutex);
    fms_destroy(f);
    close(lfd);
    unlink(sun.sun_path);
    assert_int_equal(dead, 0);
}

/* A copy started but never heard from (it died before its pid could be watched, or hangs at
 * start) is suspected after the largest timeout; a slot with nothing started is not. */
static void
test_started_but_silent(void **state)
{
    const struct fms_config cfg = { 3000000, 200000000, 4.0 };
    struct seen s = { .mutex = PTHREAD_MUTEX_INITIALIZER };
    struct fms *f;
    int sv[2], sv2[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv2), 0);
    assert_int_equal(fms_create(&cfg, record, &s, &f), 0);
    assert_int_equal(fms_add_target(f, "vnf[4]", 0, sv[0], NULL), 0);
    assert_int_equal(fms_add_target(f, "vnf[5]", 0, sv2[0], NULL), 0);
    assert_int_equal(fms_start(f), 0);
    fms_reset_target(f, 0, 0, true);
    fms_reset_target(f, 1, 0, false);
    assert_true(wait_events(&s, 1) >= 1);
    usleep(300000);
    fms_destroy(f);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.kinds[0], FMS_EV_SUSPECTED);
    assert_true(s.gap[0] >= cfg.max_timeout_ns);
    close(sv[0]);
    close(sv[1]);
    close(sv2[0]);
    close(sv2[1]);
}

/* Beats are read when a deadline is checked, not as they come: a beat that came before the
 * deadline counts, at the time it came (its kernel time stamp), not when it was read. */
static void
test_beat_counts_when_it_came(void **state)
{
    const struct fms_config cfg = { 3000000, 60000000, 4.0 };
    struct seen s = { .mutex = PTHREAD_MUTEX_INITIALIZER };
    struct fms *f;
    uint64_t reset, sent_before, sent_after;
    int sv[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    assert_int_equal(fms_create(&cfg, record, &s, &f), 0);
    assert_int_equal(fms_add_target(f, "vnf[6]", 0, sv[0], NULL), 0);
    assert_int_equal(fms_start(f), 0);
    /* Started: its first beat is due within the largest timeout (60 ms) from here on. The
     * beat comes 20 ms into it and is read no sooner than that deadline (the monitor read
     * the beats as it applied the reset); its own deadline passes 60 ms after it, silent. */
    reset = time_mono_ns();
    fms_reset_target(f, 0, 0, true);
    usleep(20000);
    sent_before = time_mono_ns();
    assert_int_equal(send(sv[1], "b", 1, 0), 1);
    sent_after = time_mono_ns();
    assert_true(wait_events(&s, 1) >= 1);
    usleep(100000);
    fms_destroy(f);
    close(sv[0]);
    close(sv[1]);
    if (sent_after >= reset + cfg.max_timeout_ns) {
        skip();                 /* The CPUs were too busy to send the beat in time. */
    }
    /* One suspicion, counted from the beat (not from the start, not from its reading). */
    assert_int_equal(s.n, 1);
    assert_int_equal(s.kinds[0], FMS_EV_SUSPECTED);
    assert_true(s.at[0] - s.gap[0] + 1000000 >= sent_before);
    assert_true(s.at[0] - s.gap[0] <= sent_after + 1000000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_estimator),
        cmocka_unit_test(test_death_notice),
        cmocka_unit_test(test_heartbeat_timeout),
        cmocka_unit_test(test_pause_is_a_false_suspicion),
        cmocka_unit_test(test_shared_silence_is_the_hosts),
        cmocka_unit_test(test_reset_watches_the_new_process),
        cmocka_unit_test(test_started_but_silent),
        cmocka_unit_test(test_stream_end_is_a_death_notice),
        cmocka_unit_test(test_beat_counts_when_it_came),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
