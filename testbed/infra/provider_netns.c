/* The `netns` provider: a guest is a process tree in its own network, mount, PID, UTS and IPC
 * namespaces, made with clone() (not `ip netns`, whose shared mounts CRIU cannot dump), inside
 * its own cgroups. Its PID 1 is `sfcd init`; killing it ends the PID namespace, and with the
 * last process the network namespace and every interface in it. Its init's pid and start time
 * and its cgroups stay in its private data (struct netns_guest); its handle for another sfclab
 * process is "PID STARTTIME". Interfaces are veth pairs made straight into the guest's
 * namespace through a netlink socket opened there once per guest. A guest given a private
 * directory is confined (testbed/infra/confine.h): its own root, fewer capabilities, a seccomp
 * filter, for init and for everything exec() starts in it; its init gets its secret on fd 3. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testbed/infra/cgroup.h"
#include "testbed/infra/confine.h"
#include "testbed/infra/link.h"
#include "testbed/infra/manifest.h"
#include "testbed/infra/provider.h"
#include "vnfs/lib/util.h"

/* Registered in provider.c. */
extern const struct guest_provider guest_provider_netns;

#define GUEST_NS_FLAGS (CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC)

/* What only this provider knows of a guest: its guest.priv. */
struct netns_guest {
    pid_t init_pid;             /* In our PID namespace; 0 while not running. */
    uint64_t init_start;        /* Start time of init (clock ticks since boot), for proc_is(). */
    struct cgroup *cgroup;
    enum guest_state stopped_state;   /* What state() says once init is gone. */
    struct link_ns *ns;         /* Netlink in the guest's namespace, opened by the first plug. */
};

static struct netns_guest *
ng(const struct guest *g)
{
    return g->priv;
}

/* How long destroy waits for a killed init before giving up on it (the manifest still has it). */
#define DESTROY_WAIT_MS 10000

/* What a child reports through its error pipe before it execs; EOF means exec succeeded. */
struct child_report {
    int32_t kind;               /* REPORT_*. */
    int32_t value;              /* An errno, or a pid. */
};

enum {
    REPORT_PID,                 /* exec: the pid of the process that will exec. */
    REPORT_CGROUP,
    REPORT_MOUNT_PRIVATE,
    REPORT_MOUNT_PROC,
    REPORT_HOSTNAME,
    REPORT_LOOPBACK,
    REPORT_STDIO,
    REPORT_SETNS,
    REPORT_FORK,
    REPORT_EXEC,
    REPORT_CONFINE,
    REPORT_CAPS,
    REPORT_SECRET,
    REPORT_IPV6,
};

static const char *
report_step(int32_t kind)
{
    switch (kind) {
    case REPORT_CGROUP: return "join cgroups";
    case REPORT_MOUNT_PRIVATE: return "make mounts private";
    case REPORT_MOUNT_PROC: return "mount /proc";
    case REPORT_HOSTNAME: return "set hostname";
    case REPORT_LOOPBACK: return "bring lo up";
    case REPORT_STDIO: return "open standard streams";
    case REPORT_SETNS: return "enter namespaces";
    case REPORT_FORK: return "fork";
    case REPORT_EXEC: return "exec";
    case REPORT_CONFINE: return "build its root filesystem";
    case REPORT_CAPS: return "drop capabilities";
    case REPORT_SECRET: return "hand its key over";
    case REPORT_IPV6: return "turn IPv6 off";
    }
    return "start";
}

/* Async-signal-safe: runs in children between fork and exec. */
static void
child_report(int fd, int32_t kind, int32_t value)
{
    struct child_report r = { kind, value };
    if (write(fd, &r, sizeof r) != sizeof r) {
        /* Nobody is left to tell. */
    }
}

/* Everything init's child needs, computed before clone so that the child allocates nothing. */
struct init_ctx {
    int procs_fds[CGROUP_N_CONTROLLERS];
    int report_fd;
    const char *hostname;
    const char *sfcd;
    char **argv;
    const char *log_path;       /* NULL: inherit stdout and stderr. */
    const struct confine_plan *confine;     /* NULL: the host's filesystem, all capabilities. */
    int secret_fd;              /* -1, or the pipe init reads its key from, as fd 3. */
};

#define INIT_SECRET_FD 3

static int
loopback_up(void)
{
    struct ifreq ifr;
    int error = 0;
    int fd;

    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return errno;
    }
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
        error = errno;
    } else {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
            error = errno;
        }
    }
    close(fd);
    return error;
}

static int
redirect_stdio(const char *log_path)
{
    int in = open("/dev/null", O_RDONLY);
    if (in < 0 || dup2(in, 0) < 0) {
        return errno;
    }
    if (in > 2) {
        close(in);
    }
    if (log_path) {
        int out = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (out < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) {
            return errno;
        }
        if (out > 2) {
            close(out);
        }
    }
    return 0;
}

/* Turns IPv6 off in the new network namespace before any of its interfaces exists: sfclab's
 * guests speak IPv4 and NSH only, and each interface coming up with IPv6 sends router
 * solicitations, neighbour solicitations and MLD reports, which the switch floods to every port
 * of the bridge (in `up` of star32, about 6,000 copies made by vswitchd while it is busiest).
 * A kernel without IPv6 has nothing to turn off. Async-signal-safe. */
static int
ipv6_off(void)
{
    static const char *const paths[] = {
        "/proc/sys/net/ipv6/conf/default/disable_ipv6",
        "/proc/sys/net/ipv6/conf/all/disable_ipv6",
    };

    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        int fd = open(paths[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            if (errno == ENOENT) {
                return 0;
            }
            return errno;
        }
        if (write(fd, "1", 1) != 1) {
            int error = errno;
            close(fd);
            return error;
        }
        close(fd);
    }
    return 0;
}

/* PID 1 of the new namespaces, until it becomes `sfcd init`. */
static int
init_child(void *ctx_)
{
    struct init_ctx *ctx = ctx_;
    int fd = ctx->report_fd;
    int error;

    /* First, so that everything from here on is charged to the guest. */
    error = cgroup_join_fds(ctx->procs_fds);
    if (error) {
        child_report(fd, REPORT_CGROUP, error);
        return 127;
    }
    /* A session of its own: a Ctrl-C at the terminal is the orchestrator's to act on (it
     * undoes what it made, guests included), not a signal to every guest behind its back. */
    setsid();
    /* Otherwise our /proc mount would propagate back into the host's mount namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
        child_report(fd, REPORT_MOUNT_PRIVATE, errno);
        return 127;
    }
    /* Before the root changes: the log is the host's file. */
    error = redirect_stdio(ctx->log_path);
    if (error) {
        child_report(fd, REPORT_STDIO, error);
        return 127;
    }
    if (ctx->confine) {
        error = confine_apply(ctx->confine);
        if (error) {
            child_report(fd, REPORT_CONFINE, error);
            return 127;
        }
    } else if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
        child_report(fd, REPORT_MOUNT_PROC, errno);
        return 127;
    }
    if (sethostname(ctx->hostname, strlen(ctx->hostname))) {
        child_report(fd, REPORT_HOSTNAME, errno);
        return 127;
    }
    error = loopback_up();
    if (error) {
        child_report(fd, REPORT_LOOPBACK, error);
        return 127;
    }
    error = ipv6_off();
    if (error) {
        child_report(fd, REPORT_IPV6, error);
        return 127;
    }
    /* Nothing of ours leaks into the guest but its key, on fd 3. */
    close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
    if (ctx->secret_fd >= 0 && dup2(ctx->secret_fd, INIT_SECRET_FD) < 0) {
        child_report(fd, REPORT_SECRET, errno);
        return 127;
    }
    if (ctx->confine) {
        error = confine_caps(confine_default_caps());
        if (error) {
            child_report(fd, REPORT_CAPS, error);
            return 127;
        }
    }
    execv(ctx->sfcd, ctx->argv);
    child_report(fd, REPORT_EXEC, errno);
    return 127;
}

/* Reads the reports of a child until EOF. Returns 0, or the errno of the first failure and
 * its step in *stepp. Sets *pidp from a REPORT_PID; stops after it if 'pid_only'. */
static int
read_reports(int fd, bool pid_only, pid_t *pidp, int32_t *stepp)
{
    struct child_report r;
    ssize_t n;

    for (;;) {
        n = read(fd, &r, sizeof r);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return 0;
        }
        if (n != sizeof r) {
            *stepp = REPORT_FORK;
            return EPROTO;
        }
        if (r.kind == REPORT_PID) {
            *pidp = r.value;
            if (pid_only) {
                return 0;
            }
        } else {
            *stepp = r.kind;
            return r.value ? r.value : EIO;
        }
    }
}

/* Waits until 'pid' (our child) exits, for at most 'timeout_ms'; reaps it and stores its wait
 * status in *statusp (if not NULL and we were the ones to reap it). */
static int
wait_exit(pid_t pid, int timeout_ms, int *statusp)
{
    int status;
    int pidfd = syscall(SYS_pidfd_open, pid, 0);
    int error = 0;

    if (pidfd >= 0) {
        struct pollfd pfd = { .fd = pidfd, .events = POLLIN };
        int n;
        while ((n = poll(&pfd, 1, timeout_ms)) < 0 && errno == EINTR) {
            continue;
        }
        close(pidfd);
        if (n == 0) {
            return ETIMEDOUT;
        }
    }
    for (;;) {
        if (waitpid(pid, &status, 0) == pid) {
            if (statusp) {
                *statusp = status;
            }
            break;
        }
        if (errno != EINTR) {
            error = errno == ECHILD ? 0 : errno;
            break;
        }
    }
    return error;
}

/* Frees our memory of 'g' and leaves the guest as it is. */
static void
netns_free(struct guest *g)
{
    if (ng(g)->cgroup) {
        cgroup_free(ng(g)->cgroup);
    }
    link_ns_close(ng(g)->ns);
    free(g->priv);
    guest_free_common(g);
    free(g);
}

static int
netns_create(const struct guest_config *cfg, struct manifest *manifest, struct guest **gp)
{
    struct guest *g = xzalloc(sizeof *g);
    struct cgroup_limits limits = {
        .cpus = cfg->cpus, .period_us = cfg->cpu_period_us, .memory = cfg->memory,
    };
    char *parent = NULL;
    int error;

    error = guest_init_common(g, &guest_provider_netns, cfg, manifest);
    if (error) {
        free(g);
        return error;
    }
    g->priv = xzalloc(sizeof (struct netns_guest));
    ng(g)->stopped_state = GUEST_STOPPED;
    parent = cfg->cgroup_parent ? xstrdup(cfg->cgroup_parent)
             : xasprintf("sfclab-%s", cfg->instance);
    error = cgroup_create(manifest, parent, g->name, &limits, &ng(g)->cgroup);
    if (error) {
        log_err("guest %s: cannot make its cgroups: %s", g->name, strerror(error));
        netns_free(g);
        goto out;
    }
    *gp = g;
out:
    free(parent);
    return error;
}

static bool
is_running(struct guest *g)
{
    return ng(g)->init_pid > 0 && proc_is(ng(g)->init_pid, ng(g)->init_start);
}

/* Moves '*fdp' to a number above INIT_SECRET_FD (keeping O_CLOEXEC). */
static int
fd_above(int *fdp)
{
    int fd;

    if (*fdp > INIT_SECRET_FD) {
        return 0;
    }
    fd = fcntl(*fdp, F_DUPFD_CLOEXEC, INIT_SECRET_FD + 1);
    if (fd < 0) {
        return errno;
    }
    close(*fdp);
    *fdp = fd;
    return 0;
}

/* The key's pipe (guest_secret_pipe), its read end above fd 3: init reads its key from fd 3. */
static int
secret_pipe(const uint8_t secret[GUEST_SECRET_BYTES], int *fdp)
{
    int error = guest_secret_pipe(secret, fdp);

    if (!error) {
        error = fd_above(fdp);
        if (error) {
            close(*fdp);
        }
    }
    return error;
}

static int
netns_start(struct guest *g)
{
    struct confine_plan *plan = NULL;
    struct init_ctx ctx;
    int report[2] = { -1, -1 };
    size_t n_args = 0, i = 0;
    int32_t step = 0;
    pid_t pid = 0;
    int error;

    if (ng(g)->init_pid) {
        return EBUSY;
    }
    memset(&ctx, 0, sizeof ctx);
    for (int c = 0; c < CGROUP_N_CONTROLLERS; c++) {
        ctx.procs_fds[c] = -1;
    }
    while (g->init_args && g->init_args[n_args]) {
        n_args++;
    }
    ctx.argv = xcalloc(n_args + 8, sizeof *ctx.argv);
    ctx.argv[i++] = g->sfcd;
    ctx.argv[i++] = "init";
    ctx.secret_fd = -1;
    if (g->has_init_secret) {
        ctx.argv[i++] = "--key-fd";
        ctx.argv[i++] = "3";
    }
    if (g->init_restart) {
        ctx.argv[i++] = "--restart";
    }
    if (n_args) {
        ctx.argv[i++] = "--";
        for (size_t j = 0; j < n_args; j++) {
            ctx.argv[i++] = g->init_args[j];
        }
    }
    ctx.hostname = g->hostname;
    ctx.sfcd = g->sfcd;
    ctx.log_path = g->run_dir ? xasprintf("%s/%s.log", g->run_dir, g->name) : NULL;

    error = cgroup_open_procs(ng(g)->cgroup, ctx.procs_fds);
    if (error) {
        log_err("guest %s: cannot open its cgroups: %s", g->name, strerror(error));
        goto out;
    }
    if (g->private_dir) {
        error = confine_plan_create(g->staging_dir, g->sfcd, g->private_dir, &plan);
        if (error) {
            log_err("guest %s: cannot plan its confinement: %s", g->name, strerror(error));
            goto out;
        }
        ctx.confine = plan;
    }
    if (g->has_init_secret) {
        error = secret_pipe(g->init_secret, &ctx.secret_fd);
        if (error) {
            goto out;
        }
    }
    if (pipe2(report, O_CLOEXEC)) {
        error = errno;
        goto out;
    }
    /* Above fd 3, which the child overwrites with the key. */
    error = fd_above(&report[0]);
    if (!error) {
        error = fd_above(&report[1]);
    }
    if (error) {
        goto out;
    }
    ctx.report_fd = report[1];
    error = manifest_spawn(g->manifest, "guest", g->name, GUEST_NS_FLAGS, init_child, &ctx,
                           &pid);
    if (error) {
        log_err("guest %s: cannot start: %s", g->name, strerror(error));
        goto out;
    }
    close(report[1]);
    report[1] = -1;
    error = read_reports(report[0], false, &pid, &step);
    if (error) {
        log_err("guest %s: %s: %s", g->name, report_step(step), strerror(error));
        wait_exit(pid, DESTROY_WAIT_MS, NULL);
        goto out;
    }
    ng(g)->init_pid = pid;
    ng(g)->init_start = proc_starttime(pid);
    g->exit_status = -1;
    g->started_ns = time_mono_ns();
    ng(g)->stopped_state = GUEST_STOPPED;

out:
    cgroup_close_fds(ctx.procs_fds);
    if (report[0] >= 0) {
        close(report[0]);
    }
    if (report[1] >= 0) {
        close(report[1]);
    }
    if (ctx.secret_fd >= 0) {
        close(ctx.secret_fd);
    }
    confine_plan_free(plan);
    free(ctx.argv);
    free((char *) ctx.log_path);
    return error;
}

static int
netns_stop(struct guest *g, uint64_t grace_ns)
{
    int error;

    /* Our netlink sockets would keep the guest's namespace, and its links, alive. */
    link_ns_close(ng(g)->ns);
    ng(g)->ns = NULL;
    if (!ng(g)->init_pid) {
        return 0;
    }
    if (is_running(g)) {
        /* A frozen init cannot act on SIGTERM. */
        if (cgroup_is_frozen(ng(g)->cgroup)) {
            cgroup_freeze(ng(g)->cgroup, false);
        }
        kill(ng(g)->init_pid, SIGTERM);
        error = wait_exit(ng(g)->init_pid, (int) MIN(grace_ns / 1000000, INT32_MAX),
                          &g->exit_status);
        if (error == ETIMEDOUT) {
            kill(ng(g)->init_pid, SIGKILL);
        }
    }
    error = wait_exit(ng(g)->init_pid, DESTROY_WAIT_MS, &g->exit_status);
    if (error) {
        log_warn("guest %s: init %ld did not exit (were processes from guest_exec() left "
                 "unwaited?): %s", g->name, (long) ng(g)->init_pid, strerror(error));
        return error;
    }
    ng(g)->init_pid = 0;
    ng(g)->stopped_state = GUEST_STOPPED;
    return 0;
}

static int
netns_destroy(struct guest *g)
{
    int error = 0;

    if (ng(g)->init_pid) {
        if (is_running(g)) {
            kill(ng(g)->init_pid, SIGKILL);
            /* A task frozen by the v1 freezer dies only once thawed. */
            if (cgroup_is_frozen(ng(g)->cgroup)) {
                cgroup_freeze(ng(g)->cgroup, false);
            }
        }
        error = wait_exit(ng(g)->init_pid, DESTROY_WAIT_MS, &g->exit_status);
        if (error) {
            log_warn("guest %s: init %ld did not exit: %s", g->name, (long) ng(g)->init_pid,
                     strerror(error));
        }
    }
    if (!error) {
        error = cgroup_destroy(ng(g)->cgroup);
        ng(g)->cgroup = NULL;
    }
    /* On failure the cgroups stay for manifest_undo(); our memory goes either way. */
    netns_free(g);
    return error;
}

static int
open_ns(const struct guest *g, const char *ns, int *fdp)
{
    char path[64];
    int fd;

    snprintf(path, sizeof path, "/proc/%ld/ns/%s", (long) ng(g)->init_pid, ns);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? ESRCH : errno;
    }
    /* The pid might have been recycled between our last look and the open. */
    if (!proc_is(ng(g)->init_pid, ng(g)->init_start)) {
        close(fd);
        return ESRCH;
    }
    *fdp = fd;
    return 0;
}

static int
netns_exec(struct guest *g, char *const argv[], const struct guest_exec_opts *opts,
           pid_t *pidp)
{
    /* The mount namespace last: entering it changes what paths mean. */
    static const char *const ns_names[] = { "ipc", "uts", "net", "pid", "mnt" };
    int ns_fds[ARRAY_SIZE(ns_names)];
    int procs_fds[CGROUP_N_CONTROLLERS];
    int stdio[3] = { -1, -1, -1 };
    int report[2] = { -1, -1 };
    pid_t middle, pid = 0;
    uint64_t caps = 0;
    int32_t step = 0;
    int error = 0;
    bool paused;

    for (size_t i = 0; i < ARRAY_SIZE(ns_fds); i++) {
        ns_fds[i] = -1;
    }
    for (int c = 0; c < CGROUP_N_CONTROLLERS; c++) {
        procs_fds[c] = -1;
    }
    if (!ng(g)->init_pid) {
        return ESRCH;
    }
    if (opts) {
        stdio[0] = opts->stdin_fd;
        stdio[1] = opts->stdout_fd;
        stdio[2] = opts->stderr_fd;
    }
    for (size_t i = 0; i < ARRAY_SIZE(ns_fds); i++) {
        error = open_ns(g, ns_names[i], &ns_fds[i]);
        if (error) {
            goto out;
        }
    }
    error = cgroup_open_procs(ng(g)->cgroup, procs_fds);
    if (error) {
        goto out;
    }
    if (pipe2(report, O_CLOEXEC)) {
        error = errno;
        goto out;
    }
    paused = cgroup_is_frozen(ng(g)->cgroup);
    /* What runs in a confined guest has no more capabilities than its init. */
    if (g->private_dir) {
        error = confine_read_bounding(ng(g)->init_pid, &caps);
        if (error) {
            goto out;
        }
    }

    middle = fork();
    if (middle < 0) {
        error = errno;
        goto out;
    }
    if (!middle) {
        /* Entering a PID namespace only places our future children in it: the process that
         * execs is a child of the middle one, made a child of our caller with CLONE_PARENT
         * so that the caller can wait for it. */
        for (size_t i = 0; i < ARRAY_SIZE(ns_fds); i++) {
            if (setns(ns_fds[i], 0)) {
                child_report(report[1], REPORT_SETNS, errno);
                _exit(127);
            }
        }
        long child = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, 0);
        if (child < 0) {
            child_report(report[1], REPORT_FORK, errno);
            _exit(127);
        }
        if (child) {
            child_report(report[1], REPORT_PID, (int32_t) child);
            _exit(0);
        }
        int e = cgroup_join_fds(procs_fds);
        if (e) {
            child_report(report[1], REPORT_CGROUP, e);
            _exit(127);
        }
        for (int i = 0; i < 3; i++) {
            if (stdio[i] >= 0 && stdio[i] != i && dup2(stdio[i], i) < 0) {
                child_report(report[1], REPORT_STDIO, errno);
                _exit(127);
            }
        }
        /* Our own descriptors (the manifest, OVSDB...) do not follow into the guest. */
        close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
        if (g->private_dir && (e = confine_caps(caps))) {
            child_report(report[1], REPORT_CAPS, e);
            _exit(127);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        child_report(report[1], REPORT_EXEC, errno);
        _exit(127);
    }
    close(report[1]);
    report[1] = -1;
    /* A paused guest's process freezes before it execs, holding the pipe open: all we can
     * learn then is its pid. */
    error = read_reports(report[0], paused, &pid, &step);
    while (waitpid(middle, NULL, 0) < 0 && errno == EINTR) {
        continue;
    }
    if (error) {
        log_err("guest %s: %s %s: %s", g->name, report_step(step), argv[0], strerror(error));
        if (pid > 0) {
            wait_exit(pid, DESTROY_WAIT_MS, NULL);
        }
        goto out;
    }
    if (pid <= 0) {
        error = EPROTO;
        goto out;
    }
    *pidp = pid;

out:
    for (size_t i = 0; i < ARRAY_SIZE(ns_fds); i++) {
        if (ns_fds[i] >= 0) {
            close(ns_fds[i]);
        }
    }
    cgroup_close_fds(procs_fds);
    if (report[0] >= 0) {
        close(report[0]);
    }
    if (report[1] >= 0) {
        close(report[1]);
    }
    return error;
}

static int
netns_pause(struct guest *g)
{
    if (!is_running(g)) {
        return ESRCH;
    }
    return cgroup_freeze(ng(g)->cgroup, true);
}

static int
netns_resume(struct guest *g)
{
    if (!is_running(g)) {
        return ESRCH;
    }
    return cgroup_freeze(ng(g)->cgroup, false);
}

static enum guest_state
netns_state(struct guest *g)
{
    if (!ng(g)->init_pid) {
        return ng(g)->stopped_state;
    }
    if (!is_running(g)) {
        /* Nobody asked it to go: a crash. Reap it so the pid is not held, and let its
         * namespace go, which our netlink sockets would keep alive. */
        waitpid(ng(g)->init_pid, NULL, WNOHANG);
        link_ns_close(ng(g)->ns);
        ng(g)->ns = NULL;
        return GUEST_GONE;
    }
    return cgroup_is_frozen(ng(g)->cgroup) ? GUEST_PAUSED : GUEST_RUNNING;
}

static int
netns_netns_fd(const struct guest *g, int *fdp)
{
    if (!ng(g)->init_pid) {
        return ESRCH;
    }
    return open_ns(g, "net", fdp);
}

static int
netns_stats(const struct guest *g, struct guest_stats *st)
{
    return cgroup_read_stats(ng(g)->cgroup, &st->cpu_ns, &st->mem_bytes);
}

/* Another sfclab process made this guest: find its cgroups and check that its init is the
 * process that was recorded, not a recycled pid. */
static int
netns_attach(const struct guest_config *cfg, const char *handle, struct guest **gp)
{
    struct guest *g = xzalloc(sizeof *g);
    char *parent = NULL;
    long long pid;
    unsigned long long start;
    int error;

    if (sscanf(handle, "%lld %llu", &pid, &start) != 2 || pid <= 0 || pid > INT32_MAX) {
        log_err("guest %s: '%s' is not a netns guest handle (PID STARTTIME)",
                cfg->name ? cfg->name : "", handle);
        free(g);
        return EINVAL;
    }
    error = guest_init_common(g, &guest_provider_netns, cfg, NULL);
    if (error) {
        free(g);
        return error;
    }
    g->priv = xzalloc(sizeof (struct netns_guest));
    parent = cfg->cgroup_parent ? xstrdup(cfg->cgroup_parent)
             : xasprintf("sfclab-%s", cfg->instance);
    error = cgroup_open(parent, g->name, &ng(g)->cgroup);
    if (!error && !proc_is(pid, start)) {
        error = ESRCH;
    }
    if (error) {
        netns_free(g);
    } else {
        ng(g)->init_pid = pid;
        ng(g)->init_start = start;
        g->exit_status = -1;
        ng(g)->stopped_state = GUEST_GONE;
        *gp = g;
    }
    free(parent);
    return error;
}

static char *
netns_handle(const struct guest *g)
{
    if (!ng(g)->init_pid) {
        return NULL;
    }
    return xasprintf("%ld %llu", (long) ng(g)->init_pid,
                     (unsigned long long) ng(g)->init_start);
}

/* Netlink in the guest's namespace, kept for the guest's later interfaces. */
static int
netns_link_ns(struct guest *g, struct link_ns **nsp)
{
    return guest_link_ns_open(g, &ng(g)->ns, nsp);
}

/* A veth pair: the guest's end made directly in its namespace, the host end in 'host'. */
static int
netns_plug_iface(struct guest *g, struct link_ns *host, const struct guest_iface *f)
{
    struct link_veth veth = { .name = f->port, .peer_name = f->ifname, .peer_mac = f->mac };
    struct link_ns *gns;
    int error;

    if (!host) {
        return EINVAL;
    }
    error = netns_link_ns(g, &gns);
    if (!error) {
        error = link_veth_add(host, gns, &veth);
    }
    return error ? error : guest_iface_up(gns, host, f);
}

/* The guest's own cpu group: where the kernel groups real-time time (RT group scheduling),
 * a new group has none. A cgroup v2 host has no such knob, and nothing to do: ENOTSUP. */
static int
netns_set_rt_runtime(struct guest *g, uint64_t runtime_us)
{
    return ng(g)->cgroup ? cgroup_set_rt_runtime(ng(g)->cgroup, runtime_us) : ESRCH;
}

static int
netns_split_threads(struct guest *g, pid_t pid, const char *thread, double cpus,
                    uint64_t period_us)
{
    struct cgroup_limits limits = { .cpus = cpus, .period_us = period_us };

    return ng(g)->cgroup ? cgroup_split_threads(ng(g)->cgroup, g->manifest, pid, thread,
                                                &limits)
                         : ESRCH;
}

/* Every process of the guest's cgroup (init, the agent, roles, exec'd tools): what a process
 * starts later inherits the mask. On this kind of machine (a VM with 2 vCPUs) a packet that
 * crosses from one CPU to the other pays a wake-up each time: one CPU for the switch and the
 * guests halves the latency of a hop through OVS (measured: 90 vs 154 us p50 for a UDP echo). */
static int
netns_pin(struct guest *g, int cpu)
{
    pid_t *pids = NULL;
    size_t n = 0;
    int error;

    if (!is_running(g)) {
        return ESRCH;
    }
    error = cgroup_read_pids(ng(g)->cgroup, &pids, &n);
    if (error) {
        return error;
    }
    for (size_t i = 0; i < n; i++) {
        int e = guest_pin_process(pids[i], cpu);
        if (e && e != ESRCH && !error) {
            error = e;
        }
    }
    free(pids);
    return error;
}

/* A guest is a process tree in new network, mount, PID, UTS and IPC namespaces: the kernel
 * must offer all of them. (Its cgroup works on v1 and v2: cgroup.c says when it cannot.) */
static bool
netns_usable(char **whyp)
{
    static const char *const needs[][2] = {
        { "/proc/self/ns/net", "network namespaces" },
        { "/proc/self/ns/mnt", "mount namespaces" },
        { "/proc/self/ns/pid", "PID namespaces" },
        { "/proc/self/ns/uts", "UTS namespaces" },
        { "/proc/self/ns/ipc", "IPC namespaces" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(needs); i++) {
        if (access(needs[i][0], F_OK)) {
            *whyp = xasprintf("provider 'netns' needs %s, and this host has none (%s: %s)",
                              needs[i][1], needs[i][0], strerror(errno));
            return false;
        }
    }
    return true;
}

const struct guest_provider guest_provider_netns = {
    .usable = netns_usable,
    .name = "netns",
    .local_sockets = true,
    .create = netns_create,
    .handle = netns_handle,
    .attach = netns_attach,
    .release = netns_free,
    .start = netns_start,
    .stop = netns_stop,
    .destroy = netns_destroy,
    .exec = netns_exec,
    .pause = netns_pause,
    .resume = netns_resume,
    .state = netns_state,
    .plug_iface = netns_plug_iface,
    .link_ns = netns_link_ns,
    .pin = netns_pin,
    .set_rt_runtime = netns_set_rt_runtime,
    .split_threads = netns_split_threads,
    .stats = netns_stats,
    .netns_fd = netns_netns_fd,
};
