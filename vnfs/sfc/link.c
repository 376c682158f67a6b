/* `sfcd link`: the userspace stage of an impaired link (testbed/infra/shaper.h). It bridges
 * two interfaces of the instance's host namespace, the guest's side and the switch's side,
 * through one linkstage delay line per direction. Frames are read with AF_PACKET (recvmmsg)
 * and written back through the kernel's qdisc, not around it, so a tbf on the guest side
 * shapes the ingress rate after the delay line. It sleeps in ppoll() until shortly before the
 * next frame is due (timer slack 1 ns: the default 50 us would be added to every delay; how
 * early: struct link_timer), prints its counters and how late frames left against their due
 * time when it is stopped, and stops by itself when either interface goes away (the guest
 * was destroyed). */

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vnfs/lib/util.h"
#include "vnfs/sfc/linkstage.h"
#include "vnfs/sfc/roles.h"

#define LINK_BATCH 32

static volatile sig_atomic_t stop, reload;

static void
on_signal(int sig)
{
    stop = sig;
}

static void
on_hup(int sig)
{
    reload = 1;
}

/* Traffic told apart by destination MAC (a point of presence's WAN): its own delay line. */
struct link_class {
    uint8_t (*macs)[6];
    size_t n_macs;
    struct linkstage_dir *dir;
};

static struct link_class *classes;
static size_t n_classes;

static void
classes_free(struct link_class *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].macs);
        linkstage_dir_destroy(c[i].dir);
    }
    free(c);
}

/* Reads "SPEC MAC MAC ..." lines (the egress spec for frames to those MACs). Returns false if
 * the file is not there yet. */
static bool
load_classes(const char *path, uint64_t seed)
{
    char *text = NULL, *save = NULL;
    struct link_class *c = NULL;
    size_t n = 0;
    bool ok = true;

    if (read_file(path, &text, NULL)) {
        return false;
    }
    for (char *line = strtok_r(text, "\n", &save); line && ok;
         line = strtok_r(NULL, "\n", &save)) {
        char *save2 = NULL, *spec_text = strtok_r(line, " ", &save2), *mac;
        struct linkstage_spec spec;

        if (!spec_text || !linkstage_parse_spec(spec_text, &spec)) {
            ok = false;
            break;
        }
        c = xrealloc(c, (n + 1) * sizeof *c);
        c[n] = (struct link_class) { NULL, 0, linkstage_dir_create(&spec, seed + 7 * (n + 1)) };
        while ((mac = strtok_r(NULL, " ", &save2)) != NULL) {
            c[n].macs = xrealloc(c[n].macs, (c[n].n_macs + 1) * sizeof *c[n].macs);
            if (sscanf(mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &c[n].macs[c[n].n_macs][0],
                       &c[n].macs[c[n].n_macs][1], &c[n].macs[c[n].n_macs][2],
                       &c[n].macs[c[n].n_macs][3], &c[n].macs[c[n].n_macs][4],
                       &c[n].macs[c[n].n_macs][5]) != 6) {
                ok = false;
                break;
            }
            c[n].n_macs++;
        }
        n++;
        log_info("frames to %zu MAC(s): '%s'", c[n - 1].n_macs, spec_text);
    }
    free(text);
    if (!ok) {
        log_err("%s: bad line: keeping the classes", path);
        classes_free(c, n);
        return true;
    }
    classes_free(classes, n_classes);
    classes = c;
    n_classes = n;
    return true;
}

static struct linkstage_dir *
egress_dir(const uint8_t *frame, size_t len, struct linkstage_dir *dflt)
{
    for (size_t i = 0; len >= 6 && i < n_classes; i++) {
        for (size_t j = 0; j < classes[i].n_macs; j++) {
            if (!memcmp(frame, classes[i].macs[j], 6)) {
                return classes[i].dir;
            }
        }
    }
    return dflt;
}

/* Re-reads the two specs (egress, ingress: one line each) that `sfclab link set` wrote. */
static void
reload_specs(const char *path, struct linkstage_dir *dir[2])
{
    char *text = NULL;
    struct linkstage_spec spec[2];

    if (read_file(path, &text, NULL)) {
        log_err("%s: cannot read (%s): keeping the specs", path, strerror(errno));
        return;
    }
    {
        char *nl = strchr(text, '\n'), *second = nl ? nl + 1 : NULL, *nl2;
        if (!nl) {
            log_err("%s: expected two lines: keeping the specs", path);
            free(text);
            return;
        }
        *nl = '\0';
        nl2 = strchr(second, '\n');
        if (nl2) {
            *nl2 = '\0';
        }
        if (!linkstage_parse_spec(text, &spec[0]) || !linkstage_parse_spec(second, &spec[1])) {
            log_err("%s: bad spec: keeping the specs", path);
        } else {
            linkstage_dir_set_spec(dir[0], &spec[0]);
            linkstage_dir_set_spec(dir[1], &spec[1]);
            log_info("egress '%s', ingress '%s'", text, second);
        }
    }
    free(text);
}

static int
open_side(const char *ifname, int *fdp)
{
    struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
    struct packet_mreq mr = { .mr_type = PACKET_MR_PROMISC };
    int one = 1, fd, error = 0;

    sll.sll_ifindex = if_nametoindex(ifname);
    if (!sll.sll_ifindex) {
        return errno ? errno : ENODEV;
    }
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0) {
        return errno;
    }
    mr.mr_ifindex = sll.sll_ifindex;
    /* Room for bursts while the stage waits for a CPU it shares with the guests. */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &(int) { 8 << 20 }, sizeof(int));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &(int) { 8 << 20 }, sizeof(int));
    /* Frames we send must not come back to us; frames for any MAC must reach us. */
    if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one)
        || setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr)
        || setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one)
        || bind(fd, (struct sockaddr *) &sll, sizeof sll)) {
        error = errno;
        close(fd);
        return error;
    }
    *fdp = fd;
    return 0;
}

/* Reads what is waiting on 'fd' into 'd'. A frame's delay counts from the kernel's receive
 * timestamp, not from when this process got to read it: the wait for a CPU is then not added
 * to the delay. */
static void
receive(int fd, struct linkstage_dir *d, uint8_t (*bufs)[LINKSTAGE_SLOT + 1], bool classify)
{
    struct mmsghdr msgs[LINK_BATCH];
    struct iovec iov[LINK_BATCH];
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(struct timespec))];
    } ctl[LINK_BATCH];
    struct timespec real, mono;
    int64_t real_minus_mono;
    uint64_t now;
    int n;

    for (int i = 0; i < LINK_BATCH; i++) {
        iov[i] = (struct iovec) { bufs[i], LINKSTAGE_SLOT + 1 };
        msgs[i] = (struct mmsghdr) { .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1,
                                                  .msg_control = ctl[i].buf,
                                                  .msg_controllen = sizeof ctl[i].buf } };
    }
    n = recvmmsg(fd, msgs, LINK_BATCH, MSG_DONTWAIT, NULL);
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    now = mono.tv_sec * 1000000000ull + mono.tv_nsec;
    real_minus_mono = (int64_t) (real.tv_sec * 1000000000ll + real.tv_nsec) - (int64_t) now;
    for (int i = 0; i < n; i++) {
        uint64_t at = now;
        struct cmsghdr *c;

        for (c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                struct timespec ts;
                int64_t t;
                memcpy(&ts, CMSG_DATA(c), sizeof ts);
                t = ts.tv_sec * 1000000000ll + ts.tv_nsec - real_minus_mono;
                if (t > 0 && (uint64_t) t < now) {
                    at = t;
                }
            }
        }
        linkstage_push(classify ? egress_dir(bufs[i], msgs[i].msg_len, d) : d, bufs[i],
                       msgs[i].msg_len, at);
    }
}

/* How late frames left, against their due time: what the stage adds to a delay. */
static uint64_t late_sum_ns, late_max_ns, late_n;

/* Sends every frame of 'd' that is due; returns how many the kernel refused (a full tbf). */
static uint64_t
transmit(int fd, struct linkstage_dir *d)
{
    uint64_t now = time_mono_ns(), refused = 0;
    const uint8_t *frame;
    size_t len;

    for (uint64_t due; (due = linkstage_next_due(d)) <= now
                       && (frame = linkstage_pop(d, now, &len)) != NULL; ) {
        late_sum_ns += now - due;
        late_max_ns = MAX(late_max_ns, now - due);
        late_n++;
        if (send(fd, frame, len, 0) < 0) {
            refused++;
        }
    }
    return refused;
}

/* The timer wakes this process late even on an idle host: tens of microseconds here, a
 * virtual machine's timer (60 us at p50 for a 1 ms ppoll() at real-time priority, measured
 * while nothing else ran), and every link adds it to its delay: the ten links a query and its
 * answer cross put 1.1 ms on the 10 ms link-sweep asks for. So the stage asks to be woken that
 * much early, learned from its own timed wake-ups, and spins what is left until the frame is
 * due. Spinning is held to a tenth of the time (a token bucket), so that a stream of frames
 * due every few microseconds does not turn a real-time process into a busy loop on a CPU it
 * shares with the guests: past it, frames leave late as they did before. */
struct link_timer {
    uint64_t early_ns;          /* How late a timed wake-up was (moving average). */
    uint64_t budget_ns;         /* How long it may spin now. */
    uint64_t refilled;          /* When 'budget_ns' was last topped up. */
    uint64_t spun_ns, spins;    /* For the counters printed at the end. */
};

#define LINK_EARLY_MAX_NS 500000ull
#define LINK_SPIN_BURST_NS 2000000ull

/* When to ask the timer for, to leave at 'due'. */
static uint64_t
link_timer_target(const struct link_timer *t, uint64_t due)
{
    return due > t->early_ns ? due - t->early_ns : 0;
}

/* Learns from a timed wake-up that was asked for 'target' and came at 'now'. */
static void
link_timer_woke(struct link_timer *t, uint64_t target, uint64_t now)
{
    uint64_t late = MIN(now - MIN(target, now), LINK_EARLY_MAX_NS);

    t->early_ns = t->early_ns - t->early_ns / 8 + late / 8;
}

/* Waits, spinning, until 'due' if it is near and the budget has room for it. */
static void
link_timer_spin(struct link_timer *t, uint64_t due)
{
    uint64_t now = time_mono_ns();

    t->budget_ns = MIN(t->budget_ns + (now - t->refilled) / 10, LINK_SPIN_BURST_NS);
    t->refilled = now;
    if (due <= now || due - now > t->early_ns || due - now > t->budget_ns) {
        return;
    }
    while ((now = time_mono_ns()) < due) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    t->budget_ns -= MIN(now - t->refilled, t->budget_ns);
    t->spun_ns += now - t->refilled;
    t->spins++;
    t->refilled = now;
}

static void
print_stats(const char *name, const struct linkstage_dir *d, uint64_t refused)
{
    const struct linkstage_stats *s = linkstage_stats(d);

    printf("%s: in %llu out %llu lost %llu duplicated %llu reordered %llu overflow %llu "
           "oversize %llu refused %llu\n", name, (unsigned long long) s->in,
           (unsigned long long) s->out, (unsigned long long) s->lost,
           (unsigned long long) s->duplicated, (unsigned long long) s->reordered,
           (unsigned long long) s->overflow, (unsigned long long) s->oversize,
           (unsigned long long) refused);
    fflush(stdout);
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: sfcd link --guest-side IF --switch-side IF [--egress SPEC] "
            "[--ingress SPEC] [--seed N] [--control FILE] [--classes FILE]\n"
            "SPEC: delay=10ms,jitter=1ms,duplicate=1%%,reorder=10%%,queue=1000 (\"\": none)\n");
}

int
role_link(int argc, char *argv[])
{
    static const struct option opts[] = {
        { "guest-side", required_argument, NULL, 'g' },
        { "switch-side", required_argument, NULL, 's' },
        { "egress", required_argument, NULL, 'e' },
        { "ingress", required_argument, NULL, 'i' },
        { "seed", required_argument, NULL, 'S' },
        { "control", required_argument, NULL, 'c' },
        { "classes", required_argument, NULL, 'C' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *side_name[2] = { NULL, NULL };
    const char *spec_text[2] = { "", "" };
    const char *control = NULL, *classes_path = NULL;
    bool classes_loaded = false;        /* The orchestrator writes them once every guest is */
    uint64_t classes_check = 0;         /* made: until then, look every 100 ms. */
    struct linkstage_spec spec[2];
    struct linkstage_dir *dir[2] = { NULL, NULL };      /* [0] egress, [1] ingress. */
    uint8_t (*bufs)[LINKSTAGE_SLOT + 1] = NULL;
    uint64_t seed = 1, refused[2] = { 0, 0 };
    int fd[2] = { -1, -1 };     /* [0] guest side, [1] switch side. */
    struct link_timer timer = { .refilled = time_mono_ns() };
    int c, status = 1, error;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'g': side_name[0] = optarg; break;
        case 's': side_name[1] = optarg; break;
        case 'e': spec_text[0] = optarg; break;
        case 'i': spec_text[1] = optarg; break;
        case 'S': seed = strtoull(optarg, NULL, 10); break;
        case 'c': control = optarg; break;
        case 'C': classes_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!side_name[0] || !side_name[1] || optind != argc) {
        usage(stderr);
        return 2;
    }
    for (int d = 0; d < 2; d++) {
        if (!linkstage_parse_spec(spec_text[d], &spec[d])) {
            log_err("bad %s spec '%s'", d ? "ingress" : "egress", spec_text[d]);
            return 2;
        }
        dir[d] = linkstage_dir_create(&spec[d], seed * 2 + d);
    }
    for (int s = 0; s < 2; s++) {
        error = open_side(side_name[s], &fd[s]);
        if (error) {
            log_err("%s: %s", side_name[s], strerror(error));
            goto out;
        }
    }
    prctl(PR_SET_TIMERSLACK, 1UL);
    /* A frame leaves when this process wakes: on a busy host an ordinary task wakes
     * milliseconds late (measured: 0.36 ms on average, 17 ms at most, under a load of 10 on
     * 2 cores), which adds to every delay and widens every jitter. netem runs in softirq,
     * ahead of any task; the lowest real-time priority is the nearest a process gets. The
     * stage sleeps in ppoll() between frames, and the kernel's real-time throttling keeps 5%
     * of a CPU for others. Without the privilege it runs as an ordinary task. */
    if (sched_setscheduler(0, SCHED_FIFO, &(struct sched_param) { .sched_priority = 1 })) {
        log_info("no real-time priority (%s): delays will be late on a busy host",
                 strerror(errno));
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGHUP, control ? on_hup : SIG_IGN);
    bufs = xmalloc(LINK_BATCH * sizeof *bufs);
    log_info("%s <-> %s, egress '%s', ingress '%s'", side_name[0], side_name[1], spec_text[0],
             spec_text[1]);

    while (!stop) {
        if (reload) {
            reload = 0;
            reload_specs(control, dir);
            if (classes_path) {
                classes_loaded = load_classes(classes_path, seed);
            }
        }
        if (classes_path && !classes_loaded && time_mono_ns() >= classes_check) {
            classes_loaded = load_classes(classes_path, seed);
            classes_check = time_mono_ns() + 100000000ull;
        }
        struct pollfd pfd[2] = { { fd[0], POLLIN, 0 }, { fd[1], POLLIN, 0 } };
        uint64_t due = MIN(linkstage_next_due(dir[0]), linkstage_next_due(dir[1]));
        struct timespec ts, *tsp = NULL;
        uint64_t target = 0;
        int ready;

        for (size_t i = 0; i < n_classes; i++) {
            due = MIN(due, linkstage_next_due(classes[i].dir));
        }
        if (classes_path && !classes_loaded) {
            due = MIN(due, classes_check);
        }
        if (due != UINT64_MAX) {
            uint64_t now = time_mono_ns(), wait;
            target = link_timer_target(&timer, due);
            wait = target > now ? target - now : 0;
            ts.tv_sec = wait / 1000000000ull;
            ts.tv_nsec = wait % 1000000000ull;
            tsp = &ts;
        }
        ready = ppoll(pfd, 2, tsp, NULL);
        if (ready < 0 && errno != EINTR) {
            log_err("ppoll: %s", strerror(errno));
            goto out;
        }
        if (!ready && tsp && (ts.tv_sec || ts.tv_nsec)) {
            link_timer_woke(&timer, target, time_mono_ns());
        }
        if ((pfd[0].revents | pfd[1].revents) & (POLLERR | POLLHUP | POLLNVAL)) {
            int e = 0;
            socklen_t len = sizeof e;
            getsockopt(pfd[0].revents & POLLIN ? fd[1] : fd[0], SOL_SOCKET, SO_ERROR, &e, &len);
            log_info("an interface went away (%s): stopping", strerror(e));
            break;
        }
        /* Guest side feeds egress, switch side ingress. */
        if (pfd[0].revents & POLLIN) {
            receive(fd[0], dir[0], bufs, n_classes > 0);
        }
        if (pfd[1].revents & POLLIN) {
            receive(fd[1], dir[1], bufs, false);
        }
        link_timer_spin(&timer, due);
        refused[0] += transmit(fd[1], dir[0]);
        for (size_t i = 0; i < n_classes; i++) {
            refused[0] += transmit(fd[1], classes[i].dir);
        }
        refused[1] += transmit(fd[0], dir[1]);
    }
    status = 0;
out:
    if (stop) {
        log_info("stopped by signal %d", (int) stop);
    }
    for (int d = 0; d < 2; d++) {
        print_stats(d ? "ingress" : "egress", dir[d], refused[d]);
        linkstage_dir_destroy(dir[d]);
    }
    for (size_t i = 0; i < n_classes; i++) {
        print_stats("egress by destination", classes[i].dir, 0);
    }
    classes_free(classes, n_classes);
    printf("sent %llu frames late by %.1f us on average, %.1f us at most; woken %.1f us "
           "early, spun %llu times, %.1f us in all\n",
           (unsigned long long) late_n, late_n ? late_sum_ns / 1e3 / late_n : 0.0,
           late_max_ns / 1e3, timer.early_ns / 1e3, (unsigned long long) timer.spins,
           timer.spun_ns / 1e3);
    fflush(stdout);
    for (int s = 0; s < 2; s++) {
        if (fd[s] >= 0) {
            close(fd[s]);
        }
    }
    free(bufs);
    return status;
}
