/* The `lxc` provider: a guest is a container of libvirt's LXC driver (lxc:///), made through
 * the libvirt C API as a transient domain named sfclab-INSTANCE-GUEST. Its init is `sfcd init`,
 * started on the host's root filesystem, in its own PID, mount, UTS, IPC and network namespaces
 * and its own cgroups under /machine (libvirt's); a confined guest's init (`--confine`, when
 * the instance gives the guest a private directory) builds a netns guest's root and pivots into
 * it before it starts anything (testbed/infra/confine.h). The instance's own libvirtd (or the host's) is found
 * or started by libvirtd.c; the domain is recorded in the manifest before it is created.
 *
 * Measured here (libvirt 9.0, 2 shared cores): virDomainCreateXML returns in ≈60-90 ms with
 * init running; destroy ≈200 ms when init handles SIGTERM (sfcd init does); suspend and resume
 * through the freezer ≈20 ms each. */

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testbed/infra/confine.h"
#include "testbed/infra/dl_virt.h"
#include "testbed/infra/domxml.h"
#include "testbed/infra/libvirtd.h"
#include "testbed/infra/link.h"
#include "testbed/infra/manifest.h"
#include "testbed/infra/provider.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

extern const struct guest_provider guest_provider_lxc;

/* How long stop and destroy wait for libvirt to report the domain gone. */
#define LXC_GONE_TIMEOUT_MS 30000

struct lxc_guest {
    struct libvirtd_domain d;
    pid_t init_pid;             /* The container's init, in our PID namespace; 0: none. */
    uint64_t init_start;        /* Its start time, for proc_is(). */
    enum guest_state stopped_state;   /* What state() says once the domain is gone. */
    struct link_ns *ns;         /* Netlink in the container's network namespace, or NULL. */
};

static struct lxc_guest *
lxc_priv(const struct guest *g)
{
    return g->priv;
}

static void
lxc_free(struct guest *g)
{
    struct lxc_guest *lg = lxc_priv(g);

    if (lg) {
        libvirtd_domain_close(&lg->d);
        link_ns_close(lg->ns);
        free(lg);
    }
    guest_free_common(g);
    free(g);
}

/* Common to create and attach: the guest, its libvirt connection and domain name. */
static int
lxc_new(const struct guest_config *cfg, struct manifest *manifest, bool start_daemon,
        struct guest **gp)
{
    struct guest *g = xzalloc(sizeof *g);
    int error;

    error = guest_init_common(g, &guest_provider_lxc, cfg, manifest);
    if (error) {
        free(g);
        return error;
    }
    g->priv = xzalloc(sizeof(struct lxc_guest));
    error = libvirtd_domain_open(&lxc_priv(g)->d, "lxc", cfg, manifest, start_daemon);
    if (error) {
        lxc_free(g);
        return error;
    }
    *gp = g;
    return 0;
}

static int
lxc_create(const struct guest_config *cfg, struct manifest *manifest, struct guest **gp)
{
    struct guest *g;
    int error;

    error = lxc_new(cfg, manifest, true, &g);
    if (error) {
        return error;
    }
    /* Ours only if nobody has it: a leftover of a killed run is `sfclab clean`'s. */
    error = libvirtd_domain_unused(&lxc_priv(g)->d, cfg->instance);
    if (error) {
        lxc_free(g);
        return error;
    }
    *gp = g;
    return 0;
}

/* The container's init: the only child of libvirt's controller, whose pid is the domain's
 * id. */
static pid_t
find_init(virDomainPtr dom)
{
    unsigned int ctrl = dl_virt.virDomainGetID(dom);
    char path[64], *text = NULL;
    pid_t pid = 0;

    if (ctrl == (unsigned int) -1) {
        return 0;
    }
    snprintf(path, sizeof path, "/proc/%u/task/%u/children", ctrl, ctrl);
    if (!read_file(path, &text, NULL)) {
        pid = atoi(text);
    }
    free(text);
    return pid;
}

/* Waits for libvirtd to learn the container's init: ESRCH if the domain stopped, ETIMEDOUT
 * if it runs and libvirtd still does not know its init after 'timeout_ms'. */
static int
wait_init_known(struct lxc_guest *lg, int timeout_ms)
{
    uint64_t deadline = time_mono_ns() + (uint64_t) timeout_ms * 1000000;

    for (;;) {
        int *fds = NULL;
        int n = dl_virt.virDomainLxcOpenNamespace(lg->d.dom, &fds, 0);
        if (n >= 0) {
            for (int i = 0; i < n; i++) {
                close(fds[i]);
            }
            free(fds);
            return 0;
        }
        if (!dl_virt.virDomainIsActive(lg->d.dom)) {
            return ESRCH;
        }
        if (time_mono_ns() >= deadline) {
            return ETIMEDOUT;
        }
        usleep(2000);
    }
}

/* `sfcd init --hostname H --log L [--key-fd 3] [--restart] -- PROGRAM...`: the options of
 * domxml_lxc_init_args(), then those of the instance (the agent's key on fd 3, restarts). */
static char **
lxc_init_args(const struct guest *g, const char *log)
{
    char **base = domxml_lxc_init_args(g->hostname, log, NULL);
    size_t n = 0, n_base = 0, n_prog = 0;
    char **args;

    while (base[n_base]) {
        n_base++;
    }
    while (g->init_args && g->init_args[n_prog]) {
        n_prog++;
    }
    args = xcalloc(n_base + n_prog + 8, sizeof *args);
    for (size_t i = 0; i < n_base; i++) {
        args[n++] = base[i];
    }
    if (g->has_init_secret) {
        args[n++] = "--key-fd";
        args[n++] = "3";
    }
    if (g->init_restart) {
        args[n++] = "--restart";
    }
    /* libvirt starts the container on the host's root filesystem: init confines it to what a
     * netns guest sees before it starts anything (vnfs/sfc/init.c). */
    if (g->private_dir && g->staging_dir) {
        args[n++] = "--confine";
        args[n++] = g->staging_dir;
        args[n++] = g->private_dir;
    }
    if (n_prog) {
        args[n++] = "--";
        for (size_t i = 0; i < n_prog; i++) {
            args[n++] = g->init_args[i];
        }
    }
    free(base);
    return args;
}

/* Why a container died before it could be wired: the last lines of libvirt's log of it (its
 * controller's errors) and of init's own log, into ours. */
static void
log_start_failure(const struct guest *g)
{
    const struct lxc_guest *lg = lxc_priv(g);
    char *paths[3] = { NULL, NULL, NULL };

    if (g->run_dir) {
        bool own = strstr(lg->d.uri, "?socket=");
        char *top = own ? xasprintf("%s/libvirt/log", lg->d.inst_dir)
                        : xstrdup("/var/log/libvirt");

        paths[0] = xasprintf("%s/lxc/%s.log", top, lg->d.name);
        paths[1] = xasprintf("%s/%s.log", g->run_dir, g->name);
        paths[2] = own ? xasprintf("%s/libvirtd.log", top) : NULL;
        free(top);
    }
    for (size_t i = 0; i < ARRAY_SIZE(paths) && paths[i]; i++) {
        char *text = NULL;
        size_t len = 0;

        if (!read_file(paths[i], &text, &len) && len) {
            const char *tail = text + len;
            for (int lines = 0; tail > text && lines < 9; ) {
                tail--;
                lines += *tail == '\n';
            }
            log_err("guest %s: %s ends with:\n%s", g->name, paths[i], tail);
        }
        free(text);
        free(paths[i]);
    }
}

static pthread_mutex_t start_mutex = PTHREAD_MUTEX_INITIALIZER;

/* How long a started container may run before libvirtd knows its init (70 ms here when
 * idle), and how many times a start is tried. */
#define LXC_INIT_TIMEOUT_MS 5000
#define LXC_START_TRIES 3

/* One try at starting the container from 'xml', up to the point where libvirtd knows its
 * init. */
static int
start_once(struct guest *g, const char *xml)
{
    struct lxc_guest *lg = lxc_priv(g);
    int secret_fd = -1;
    int error = 0;

    if (g->has_init_secret) {
        error = guest_secret_pipe(g->init_secret, &secret_fd);
        if (error) {
            log_err("guest %s: cannot make the pipe of its key: %s", g->name, strerror(error));
            return error;
        }
    }
    /* The key's pipe becomes the container init's fd 3 (libvirt hands the files it is given
     * to init from fd 3 on): never in the domain's XML or init's command line, which libvirt
     * keeps in files of its own and any process of the guest can read in /proc/1/cmdline. */
    /* One container starts at a time: `up` makes guests from several threads, and starts
     * that overlapped in libvirt's LXC driver now and then lost a container. */
    pthread_mutex_lock(&start_mutex);
    lg->d.dom = secret_fd >= 0
                ? dl_virt.virDomainCreateXMLWithFiles(lg->d.conn, xml, 1, &secret_fd, 0)
                : dl_virt.virDomainCreateXML(lg->d.conn, xml, 0);
    if (!lg->d.dom) {
        log_err("guest %s: libvirt cannot start %s: %s", g->name, lg->d.name,
                libvirtd_last_error());
        error = EIO;
    } else {
        /* libvirtd learns init's pid from the controller a moment after the domain starts,
         * and refuses to attach interfaces or open namespaces until then: wait for it here,
         * so that a started guest is one that can be wired. */
        error = wait_init_known(lg, LXC_INIT_TIMEOUT_MS);
    }
    pthread_mutex_unlock(&start_mutex);
    if (secret_fd >= 0) {
        close(secret_fd);
    }
    if (error && lg->d.dom) {
        dl_virt.virDomainDestroy(lg->d.dom);
        libvirtd_domain_forget(&lg->d);
    }
    return error;
}

static int
lxc_start(struct guest *g)
{
    struct lxc_guest *lg = lxc_priv(g);
    char *log = g->run_dir ? xasprintf("%s/%s.log", g->run_dir, g->name) : NULL;
    char **args;
    struct buf xml;
    int error;

    buf_init(&xml);
    if (lg->d.dom) {
        free(log);
        return EBUSY;
    }
    args = lxc_init_args(g, log);
    {
        char *title = xasprintf("sfclab instance %s, guest %s", g->instance, g->name);
        struct domxml_guest dg = {
            .name = lg->d.name, .title = title, .cpus = g->cpus,
            .period_us = g->cpu_period_us, .memory = g->memory,
            .init = g->sfcd, .init_args = args,
        };
        error = domxml_lxc(&dg, &xml);
        free(title);
    }
    if (error) {
        goto out;
    }
    buf_put_u8(&xml, '\0');
    error = manifest_record_domain(g->manifest, lg->d.uri, lg->d.name);
    if (error) {
        goto out;
    }
    /* libvirt 9's LXC driver can lose the controller's one "init started" event: its monitor
     * client starts reading the socket before it registers the program the event belongs to,
     * drops the connection on the unknown message, and never learns the init (the
     * controller's log says "End of file while reading data"). The container runs, but
     * cannot be wired: such a start is undone and tried again. */
    for (int try = 1; ; try++) {
        error = start_once(g, (const char *) xml.data);
        if (error != ETIMEDOUT || try == LXC_START_TRIES) {
            break;
        }
        log_warn("guest %s: libvirt lost the init of %s (try %d of %d); starting it again",
                 g->name, lg->d.name, try, LXC_START_TRIES);
    }
    if (error) {
        log_err("guest %s: libvirt never learnt the init of %s: %s", g->name, lg->d.name,
                error == ETIMEDOUT ? "it runs, but libvirtd lost its start event"
                                   : "the container stopped");
        log_start_failure(g);
        goto out;
    }
    lg->init_pid = find_init(lg->d.dom);
    lg->init_start = lg->init_pid ? proc_starttime(lg->init_pid) : 0;
    if (!lg->init_start) {
        log_err("guest %s: cannot find the init of %s", g->name, lg->d.name);
        dl_virt.virDomainDestroy(lg->d.dom);
        libvirtd_domain_forget(&lg->d);
        lg->init_pid = 0;
        error = ESRCH;
        goto out;
    }
    g->exit_status = -1;
    g->started_ns = time_mono_ns();
    lg->stopped_state = GUEST_STOPPED;
out:
    buf_uninit(&xml);
    free(args);
    free(log);
    return error;
}

static void
forget_domain(struct guest *g, enum guest_state state)
{
    struct lxc_guest *lg = lxc_priv(g);

    libvirtd_domain_forget(&lg->d);
    lg->init_pid = 0;
    lg->init_start = 0;
    lg->stopped_state = state;
}

/* SIGTERM to the container's init. */
static int
lxc_shutdown(void *lg_)
{
    struct lxc_guest *lg = lg_;

    return dl_virt.virDomainShutdownFlags(lg->d.dom, VIR_DOMAIN_SHUTDOWN_SIGNAL) < 0 ? EIO : 0;
}

static int
lxc_stop(struct guest *g, uint64_t grace_ns)
{
    struct lxc_guest *lg = lxc_priv(g);
    int error;

    if (!lg->d.dom) {
        return 0;
    }
    error = libvirtd_domain_stop(&lg->d, lxc_shutdown, lg, grace_ns,
                                 (uint64_t) LXC_GONE_TIMEOUT_MS * 1000000);
    if (!error) {
        forget_domain(g, GUEST_STOPPED);
    }
    return error;
}

static int
lxc_destroy(struct guest *g)
{
    int error = libvirtd_domain_destroy(&lxc_priv(g)->d);

    /* On failure the manifest still has the domain for `clean`; our memory goes either way. */
    lxc_free(g);
    return error;
}

struct exec_ctx {
    virDomainPtr dom;
    int *ns_fds;
    int n_ns;
    int stdio[3];
    char *const *argv;
    int report_fd;
    bool confined;              /* The guest's init confined it: exec likewise. */
};

/* What the middle child reports: a pid (kind 0) or a failing step's errno. */
struct exec_report {
    int32_t kind;               /* 0: pid; 1: cgroup; 2: setns; 3: fork; 4: stdio; 5: exec. */
    int32_t value;
};

static void
exec_report(int fd, int32_t kind, int32_t value)
{
    struct exec_report r = { kind, value };
    if (write(fd, &r, sizeof r) != sizeof r) {
        /* Nobody is left to tell. */
    }
}

static const char *
exec_step(int32_t kind)
{
    static const char *const steps[] = {
        "start", "enter the container's cgroups", "enter its namespaces", "fork",
        "open standard streams", "exec",
    };
    return kind >= 0 && kind < (int32_t) ARRAY_SIZE(steps) ? steps[kind] : "start";
}

/* Runs in the middle child: joins the container through libvirt's own helpers, then forks the
 * process that execs (entering a PID namespace only places one's children in it) as a child of
 * our caller. */
static void
exec_middle(struct exec_ctx *ctx)
{
    int fd = ctx->report_fd;

    /* Cgroups first: their paths are the host's, which the container's mounts hide. */
    if (dl_virt.virDomainLxcEnterCGroup(ctx->dom, 0) < 0) {
        exec_report(fd, 1, EPERM);
        _exit(127);
    }
    if (dl_virt.virDomainLxcEnterNamespace(ctx->dom, ctx->n_ns, ctx->ns_fds, NULL, NULL, 0) < 0) {
        exec_report(fd, 2, EPERM);
        _exit(127);
    }
    long child = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, 0);
    if (child < 0) {
        exec_report(fd, 3, errno);
        _exit(127);
    }
    if (child) {
        exec_report(fd, 0, (int32_t) child);
        _exit(0);
    }
    for (int i = 0; i < 3; i++) {
        if (ctx->stdio[i] >= 0 && ctx->stdio[i] != i && dup2(ctx->stdio[i], i) < 0) {
            exec_report(fd, 4, errno);
            _exit(127);
        }
    }
    if (chdir("/")) {
        /* Where the caller was need not exist inside; / always does. */
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    /* Into a confined guest with no more than its init has (libvirt's helpers gave us every
     * capability of the host's root). */
    if (ctx->confined && (errno = confine_caps(confine_default_caps()))) {
        exec_report(fd, 5, errno);
        _exit(127);
    }
    execvp(ctx->argv[0], ctx->argv);
    exec_report(fd, 5, errno);
    _exit(127);
}

static int
lxc_exec(struct guest *g, char *const argv[], const struct guest_exec_opts *opts, pid_t *pidp)
{
    struct lxc_guest *lg = lxc_priv(g);
    struct exec_ctx ctx = { .dom = lg->d.dom, .argv = argv, .stdio = { -1, -1, -1 },
                            .confined = g->private_dir != NULL };
    int report[2] = { -1, -1 };
    struct exec_report r;
    bool paused = false;
    pid_t middle, pid = 0;
    int n, error = 0;

    if (!libvirtd_domain_active(&lg->d)) {
        return ESRCH;
    }
    if (opts) {
        ctx.stdio[0] = opts->stdin_fd;
        ctx.stdio[1] = opts->stdout_fd;
        ctx.stdio[2] = opts->stderr_fd;
    }
    {
        virDomainState st;
        int reason;
        paused = !dl_virt.virDomainGetState(lg->d.dom, (int *) &st, &reason, 0)
                 && st == VIR_DOMAIN_PAUSED;
    }
    n = dl_virt.virDomainLxcOpenNamespace(lg->d.dom, &ctx.ns_fds, 0);
    if (n < 0) {
        log_err("guest %s: cannot open the namespaces of %s: %s", g->name, lg->d.name,
                libvirtd_last_error());
        return ESRCH;
    }
    ctx.n_ns = n;
    if (pipe2(report, O_CLOEXEC)) {
        error = errno;
        goto out;
    }
    ctx.report_fd = report[1];
    middle = fork();
    if (middle < 0) {
        error = errno;
        goto out;
    }
    if (!middle) {
        exec_middle(&ctx);
    }
    close(report[1]);
    report[1] = -1;
    /* The pid first; then EOF (exec succeeded) or a failure. A paused guest's process freezes
     * before it execs, holding the pipe open: all we can learn then is its pid. */
    for (;;) {
        ssize_t len = read(report[0], &r, sizeof r);
        if (len < 0 && errno == EINTR) {
            continue;
        }
        if (len != sizeof r) {
            break;
        }
        if (r.kind == 0) {
            pid = r.value;
            if (paused) {
                break;
            }
        } else {
            log_err("guest %s: %s %s: %s", g->name, exec_step(r.kind), argv[0],
                    strerror(r.value));
            error = r.value ? r.value : EIO;
            break;
        }
    }
    while (waitpid(middle, NULL, 0) < 0 && errno == EINTR) {
        continue;
    }
    if (error) {
        if (pid > 0) {
            waitpid(pid, NULL, 0);
        }
        goto out;
    }
    if (pid <= 0) {
        error = EPROTO;
        goto out;
    }
    *pidp = pid;
out:
    for (int i = 0; i < ctx.n_ns; i++) {
        close(ctx.ns_fds[i]);
    }
    free(ctx.ns_fds);
    if (report[0] >= 0) {
        close(report[0]);
    }
    if (report[1] >= 0) {
        close(report[1]);
    }
    return error;
}

static int
lxc_pause(struct guest *g)
{
    return libvirtd_domain_pause(&lxc_priv(g)->d);
}

static int
lxc_resume(struct guest *g)
{
    return libvirtd_domain_resume(&lxc_priv(g)->d);
}

static enum guest_state
lxc_state(struct guest *g)
{
    struct lxc_guest *lg = lxc_priv(g);
    enum guest_state state;

    if (!lg->d.dom) {
        return lg->stopped_state;
    }
    if (libvirtd_domain_state(&lg->d, &state)) {
        /* A transient domain that nobody stopped is gone: its init died. */
        forget_domain(g, GUEST_GONE);
        return GUEST_GONE;
    }
    return state;
}

static int
lxc_netns_fd(const struct guest *g, int *fdp)
{
    struct lxc_guest *lg = lxc_priv(g);
    char path[64];
    int fd;

    if (!lg->init_pid) {
        return ESRCH;
    }
    snprintf(path, sizeof path, "/proc/%ld/ns/net", (long) lg->init_pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? ESRCH : errno;
    }
    if (!proc_is(lg->init_pid, lg->init_start)) {
        close(fd);
        return ESRCH;
    }
    *fdp = fd;
    return 0;
}

static int
lxc_stats(const struct guest *g, struct guest_stats *st)
{
    struct lxc_guest *lg = lxc_priv(g);
    virDomainInfo info;

    if (!lg->d.dom || dl_virt.virDomainGetInfo(lg->d.dom, &info) < 0) {
        return ESRCH;
    }
    st->cpu_ns = info.cpuTime;
    /* For a container, libvirt's "memory" is what its cgroup is charged now, in KiB. */
    st->mem_bytes = (uint64_t) info.memory * 1024;
    return 0;
}

/* "DOMAIN PID STARTTIME": the domain to look up, and its init to tell a recycled pid apart. */
static char *
lxc_handle(const struct guest *g)
{
    struct lxc_guest *lg = lxc_priv(g);

    if (!lg->d.dom || !lg->init_pid) {
        return NULL;
    }
    return xasprintf("%s %ld %llu", lg->d.name, (long) lg->init_pid,
                     (unsigned long long) lg->init_start);
}

static int
lxc_attach(const struct guest_config *cfg, const char *handle, struct guest **gp)
{
    char dom_name[256];
    long long pid;
    unsigned long long start;
    struct guest *g;
    struct lxc_guest *lg;
    int error;

    if (sscanf(handle, "%255s %lld %llu", dom_name, &pid, &start) != 3 || pid <= 0
        || pid > INT32_MAX) {
        log_err("guest %s: '%s' is not an lxc guest handle (DOMAIN PID STARTTIME)",
                cfg->name ? cfg->name : "", handle);
        return EINVAL;
    }
    error = lxc_new(cfg, NULL, false, &g);
    if (error) {
        return error;
    }
    lg = lxc_priv(g);
    if (strcmp(dom_name, lg->d.name)) {
        log_err("guest %s: handle names domain %s, expected %s", cfg->name, dom_name,
                lg->d.name);
        lxc_free(g);
        return EINVAL;
    }
    if (libvirtd_domain_lookup(&lg->d) || !proc_is(pid, start)) {
        lxc_free(g);
        return ESRCH;
    }
    lg->init_pid = pid;
    lg->init_start = start;
    g->exit_status = -1;
    lg->stopped_state = GUEST_GONE;
    *gp = g;
    return 0;
}

/* Netlink in the container's namespace, kept for its later interfaces. */
static int
lxc_link_ns(struct guest *g, struct link_ns **nsp)
{
    return guest_link_ns_open(g, &lxc_priv(g)->ns, nsp);
}

/* An <interface type='ethernet'> attached to the running container: libvirt makes the veth,
 * its host end named f->port in libvirtd's namespace (the instance's, when the daemon is the
 * instance's own; else libvirtd_domain_plug() moves it there), and moves the other end into the
 * container under a name of its own (it renames only interfaces present at start), which we
 * find by MAC. */
static int
lxc_plug_iface(struct guest *g, struct link_ns *host, const struct guest_iface *f)
{
    struct lxc_guest *lg = lxc_priv(g);
    struct link_ns *gns = NULL;
    char name[16];
    int error;

    error = libvirtd_domain_plug(&lg->d, host, f, false);
    if (!error) {
        error = lxc_link_ns(g, &gns);
    }
    if (!error) {
        error = link_find_by_mac(gns, f->mac, name);
    }
    if (!error && strcmp(name, f->ifname)) {
        error = link_rename(gns, name, f->ifname);
    }
    return error ? error : guest_iface_up(gns, host, f);
}

/* Every process of the container (libvirt's cgroup for it, found from its init): what starts
 * later inherits the mask from its parent. */
static int
lxc_pin(struct guest *g, int cpu)
{
    struct lxc_guest *lg = lxc_priv(g);
    char path[PATH_MAX], *text = NULL, *procs = NULL;
    char *group = NULL;
    int error;

    if (!lg->init_pid || !proc_is(lg->init_pid, lg->init_start)) {
        return ESRCH;
    }
    snprintf(path, sizeof path, "/proc/%ld/cgroup", (long) lg->init_pid);
    error = read_file(path, &text, NULL);
    if (error) {
        return error;
    }
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *ctrl = strchr(line, ':');
        char *p = ctrl ? strchr(ctrl + 1, ':') : NULL;
        if (!p) {
            continue;
        }
        *p = '\0';
        for (char *s2 = NULL, *c = strtok_r(ctrl + 1, ",", &s2); c; c = strtok_r(NULL, ",", &s2)) {
            if (!strcmp(c, "cpu")) {
                group = p + 1;
            }
        }
        if (group) {
            break;
        }
    }
    if (!group) {
        error = ENOENT;
        goto out;
    }
    snprintf(path, sizeof path, "/sys/fs/cgroup/cpu%s/cgroup.procs", group);
    error = read_file(path, &procs, NULL);
    if (error) {
        goto out;
    }
    for (char *save = NULL, *line = strtok_r(procs, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        int e = guest_pin_process(atoi(line), cpu);
        if (e && e != ESRCH && !error) {
            error = e;
        }
    }
out:
    free(text);
    free(procs);
    return error;
}

static void
lxc_release(struct guest *g)
{
    lxc_free(g);
}

static bool
lxc_usable(char **whyp)
{
    return libvirtd_usable("lxc", whyp);
}

const struct guest_provider guest_provider_lxc = {
    .usable = lxc_usable,
    .name = "lxc",
    .create = lxc_create,
    .handle = lxc_handle,
    .attach = lxc_attach,
    .release = lxc_release,
    .start = lxc_start,
    .stop = lxc_stop,
    .destroy = lxc_destroy,
    .exec = lxc_exec,
    .pause = lxc_pause,
    .resume = lxc_resume,
    .state = lxc_state,
    .plug_iface = lxc_plug_iface,
    .link_ns = lxc_link_ns,
    .pin = lxc_pin,
    .stats = lxc_stats,
    .netns_fd = lxc_netns_fd,
};
