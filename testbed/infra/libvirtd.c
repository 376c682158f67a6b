#include "testbed/infra/libvirtd.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testbed/infra/dl_virt.h"
#include "testbed/infra/domxml.h"
#include "testbed/infra/link.h"
#include "testbed/infra/manifest.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

#define LIBVIRTD_PROGRAM "/usr/sbin/libvirtd"
/* Measured here: the daemon answers ≈0.3 s after exec with the LXC and QEMU drivers (the
 * QEMU driver probes qemu's capabilities once per host and caches them). Room for a busy CI
 * host and a first probe. */
#define LIBVIRTD_START_TIMEOUT_MS 30000

/* The system directories the daemon gets a private copy of, and the subdirectory of
 * INSTANCE_DIR/libvirt/ that stands in for each. */
static const struct {
    const char *system;
    const char *own;
} own_dirs[] = {
    { "/etc/libvirt", "etc" },
    { "/run/libvirt", "run" },
    { "/var/lib/libvirt", "lib" },
    { "/var/log/libvirt", "log" },
};

bool
libvirtd_answers(const char *socket_path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    bool ok;
    int fd;

    if (strlen(socket_path) >= sizeof sun.sun_path) {
        return false;
    }
    strcpy(sun.sun_path, socket_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    ok = !connect(fd, (struct sockaddr *) &sun, sizeof sun);
    close(fd);
    return ok;
}

char *
libvirtd_own_socket(const char *instance_dir)
{
    return xasprintf("%s/libvirt/sock/libvirt-sock", instance_dir);
}

char *
libvirtd_uri(const char *driver, const char *instance_dir)
{
    char *sock = libvirtd_own_socket(instance_dir);
    char *uri;

    /* The instance's own daemon wins when it exists: it is the one that made its domains. */
    if (!access(sock, F_OK)) {
        uri = xasprintf("%s:///system?socket=%s", driver, sock);
    } else {
        uri = xasprintf("%s:///system", driver);
    }
    free(sock);
    return uri;
}

char *
libvirtd_domain_name(const char *instance, const char *guest)
{
    return xasprintf("sfclab-%s-%s", instance, guest);
}

const char *
libvirtd_last_error(void)
{
    virErrorPtr err = dl_virt_loaded() ? dl_virt.virGetLastError() : NULL;

    return err && err->message ? err->message : "unknown error";
}

/* libvirt prints every error to stderr by default; ours are reported where they matter. */
static void
quiet_errors(void *aux, virErrorPtr err)
{
    (void) aux;
    log_debug("libvirt: %s", err && err->message ? err->message : "?");
}

static void
on_sigpipe(int sig)
{
}

/* Bumped each time this process starts a libvirtd: a connection cached before then may be to
 * a daemon that is gone (a sweep's previous point stopped its instance's), and libvirt's client
 * notices a closed socket only when it writes to it. */
static unsigned int daemon_generation;

virConnectPtr
libvirtd_connect(const char *uri)
{
    /* `up` makes guests from several threads; each finds or opens the connection here. */
    static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
    static struct {
        char *uri;
        virConnectPtr conn;
        unsigned int generation;
    } conns[8];
    static size_t n_conns;
    virConnectPtr conn = NULL;

    pthread_mutex_lock(&mutex);
    if (dl_virt_load()) {
        goto out;
    }
    for (size_t i = 0; i < n_conns; i++) {
        if (!strcmp(conns[i].uri, uri)) {
            if (conns[i].generation == __atomic_load_n(&daemon_generation, __ATOMIC_SEQ_CST)
                && dl_virt.virConnectIsAlive(conns[i].conn) == 1) {
                conn = conns[i].conn;
                goto out;
            }
            /* The daemon went away (a `down` here or in another process): open a new one. */
            dl_virt.virConnectClose(conns[i].conn);
            free(conns[i].uri);
            conns[i] = conns[--n_conns];
            break;
        }
    }
    /* libvirt's client write()s its socket: a daemon that has closed the connection raises
     * SIGPIPE, and libvirt leaves handling it to its callers. Seen once: `sfclab run` of
     * fitsfc-fig5-dns on lxc died with status 141 between two points, at load 20. A handler,
     * not SIG_IGN, so that every program we exec starts with the default again. */
    sigaction(SIGPIPE, &(struct sigaction) { .sa_handler = on_sigpipe, .sa_flags = SA_RESTART },
              NULL);
    dl_virt.virSetErrorFunc(NULL, quiet_errors);
    conn = dl_virt.virConnectOpen(uri);
    if (!conn) {
        log_err("libvirt: cannot connect to %s: %s", uri, libvirtd_last_error());
        goto out;
    }
    if (n_conns < ARRAY_SIZE(conns)) {
        conns[n_conns].uri = xstrdup(uri);
        conns[n_conns].conn = conn;
        conns[n_conns].generation = __atomic_load_n(&daemon_generation, __ATOMIC_SEQ_CST);
        n_conns++;
    }
out:
    pthread_mutex_unlock(&mutex);
    return conn;
}

/* The pid in 'path' if that process's command line names domain 'name', else 0. */
static pid_t
domain_pid(const char *path, const char *name)
{
    char *text = NULL, *cmdline = NULL, proc[64];
    size_t len = 0;
    pid_t pid = 0;

    if (read_file(path, &text, NULL)) {
        return 0;
    }
    pid = atoi(text);
    snprintf(proc, sizeof proc, "/proc/%d/cmdline", (int) pid);
    if (pid <= 0 || read_file(proc, &cmdline, &len)) {
        pid = 0;
    } else {
        bool found = false;
        for (size_t i = 0; i < len; i += strlen(cmdline + i) + 1) {
            /* libvirt_lxc --name NAME; qemu -name guest=NAME,... */
            if (!strcmp(cmdline + i, name) || (!strncmp(cmdline + i, "guest=", 6)
                                               && !strncmp(cmdline + i + 6, name, strlen(name))
                                               && strchr(",", cmdline[i + 6 + strlen(name)]))) {
                found = true;
            }
        }
        pid = found ? pid : 0;
    }
    free(text);
    free(cmdline);
    return pid;
}

/* True while 'pid' runs (a zombie, which its parent has yet to reap, does not). */
static bool
pid_runs(pid_t pid)
{
    char path[64], *stat = NULL, *p;
    bool runs;

    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    if (read_file(path, &stat, NULL)) {
        return false;
    }
    p = strrchr(stat, ')');
    runs = !(p && p[1] == ' ' && p[2] == 'Z');
    free(stat);
    return runs;
}

static void
kill_and_wait(pid_t pid)
{
    kill(pid, SIGKILL);
    for (int i = 0; i < 500 && pid_runs(pid); i++) {
        waitpid(pid, NULL, WNOHANG);
        usleep(10000);
    }
}

/* The domain of a daemon that is gone, found from the pid file the daemon left in its state
 * directory (INSTANCE_DIR/libvirt/run/DRIVER/NAME.pid, its /run/libvirt): a VM is its QEMU
 * process; a container is its init (whose end ends its namespaces) and libvirt's controller,
 * and the cgroups the controller made for it. */
static int
kill_orphan_domain(const char *uri, const char *sock, const char *name)
{
    bool lxc = !strncmp(uri, "lxc:", 4);
    char *top = xstrdup(sock), *slash, *pid_file;
    char *cgroups = NULL;
    pid_t pid;

    for (int i = 0; i < 2 && (slash = strrchr(top, '/')); i++) {
        *slash = '\0';             /* .../libvirt/sock/libvirt-sock -> .../libvirt */
    }
    pid_file = xasprintf("%s/run/%s/%s.pid", top, lxc ? "lxc" : "qemu", name);
    pid = domain_pid(pid_file, name);
    if (pid && lxc) {
        char path[64], *children = NULL;
        pid_t init = 0;
        snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int) pid, (int) pid);
        if (!read_file(path, &children, NULL)) {
            init = atoi(children);
        }
        free(children);
        if (init > 0) {
            snprintf(path, sizeof path, "/proc/%d/cgroup", (int) init);
            read_file(path, &cgroups, NULL);
            kill_and_wait(init);
        }
    }
    if (pid) {
        log_info("libvirt: the daemon of %s is gone: killing %s (pid %d)", name,
                 lxc ? "its container" : "its QEMU", (int) pid);
        kill_and_wait(pid);
    }
    /* Lines "N:CONTROLLERS:/machine/lxc-PID-NAME.libvirt-lxc": rmdir each, once empty. */
    for (char *save = NULL, *line = cgroups ? strtok_r(cgroups, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        char *ctrl = strchr(line, ':'), *group = ctrl ? strchr(ctrl + 1, ':') : NULL;
        if (!group || !strstr(group, name) || !strstr(group, ".libvirt-lxc")) {
            continue;
        }
        *group++ = '\0';
        char *first = strtok(ctrl + 1, ",");
        if (first && *first) {
            char *dir = xasprintf("/sys/fs/cgroup/%s%s", strncmp(first, "name=", 5)
                                  ? first : first + 5, group);
            for (int i = 0; i < 100 && rmdir(dir) && errno == EBUSY; i++) {
                usleep(10000);
            }
            free(dir);
        }
    }
    free(cgroups);
    free(pid_file);
    free(top);
    return 0;
}

int
libvirtd_undo_domain(const char *uri, const char *name)
{
    virConnectPtr conn;
    virDomainPtr dom;
    const char *sock = strstr(uri, "?socket=");
    int error = 0;

    if (sock && !libvirtd_answers(sock + strlen("?socket="))) {
        /* The instance's own daemon is gone (killed): its domains outlive it. */
        return kill_orphan_domain(uri, sock + strlen("?socket="), name);
    }
    conn = libvirtd_connect(uri);
    if (!conn && sock && !libvirtd_answers(sock + strlen("?socket="))) {
        /* It was dying when asked first: a killed daemon's socket takes connections until
         * its process is gone. */
        return kill_orphan_domain(uri, sock + strlen("?socket="), name);
    }
    if (!conn) {
        return ENOTCONN;
    }
    dom = dl_virt.virDomainLookupByName(conn, name);
    if (!dom) {
        return 0;
    }
    if (dl_virt.virDomainIsActive(dom) == 1 && dl_virt.virDomainDestroy(dom) < 0) {
        log_warn("libvirt: cannot destroy %s: %s", name, libvirtd_last_error());
        error = EBUSY;
    }
    if (!error && dl_virt.virDomainIsPersistent(dom) == 1 && dl_virt.virDomainUndefine(dom) < 0) {
        log_warn("libvirt: cannot undefine %s: %s", name, libvirtd_last_error());
        error = EBUSY;
    }
    dl_virt.virDomainFree(dom);
    return error;
}

bool
libvirtd_kvm_accel(const char **whyp)
{
    static const char *why;
    static int result = -1;

    if (result < 0) {
        char *cpuinfo = NULL;
        bool hw = false;
        int fd;

        if (!read_file("/proc/cpuinfo", &cpuinfo, NULL)) {
            hw = strstr(cpuinfo, " vmx") || strstr(cpuinfo, " svm");
        }
        free(cpuinfo);
        fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (fd >= 0) {
            close(fd);
        }
        if (fd < 0) {
            why = "tcg: /dev/kvm cannot be opened";
            result = 0;
        } else if (!access("/sys/module/kvm_pvm", F_OK)) {
            why = "tcg: /dev/kvm is PVM (kvm_pvm), on which a stock kernel hangs";
            result = 0;
        } else if (!hw || (access("/sys/module/kvm_intel", F_OK)
                           && access("/sys/module/kvm_amd", F_OK))) {
            why = "tcg: no hardware virtualization (vmx/svm with kvm_intel or kvm_amd)";
            result = 0;
        } else {
            why = "kvm: hardware virtualization";
            result = 1;
        }
    }
    if (whyp) {
        *whyp = why;
    }
    return result;
}

/* --- Starting a daemon of our own. --- */

static const char libvirtd_conf[] =
    "# Written by sfclab for one testbed instance's own libvirtd.\n"
    "unix_sock_dir = \"%s\"\n"
    "unix_sock_rw_perms = \"0700\"\n"
    "unix_sock_ro_perms = \"0700\"\n"
    "auth_unix_rw = \"none\"\n"
    "auth_unix_ro = \"none\"\n"
    "log_outputs = \"3:file:%s/libvirtd.log\"\n";

/* Guests run as libvirt-qemu. The kernel, initramfs and save files stay owned by whoever made
 * them (no dynamic ownership: they live in the build tree), no AppArmor/SELinux profile (the
 * host has none loaded), and guests' stdio goes to files rather than virtlogd, which would be
 * one more daemon to own. No private /dev per QEMU ("namespaces"): libvirt would copy our
 * /dev/kvm stand-in into it and fail on a mount point. */
static const char qemu_conf[] =
    "# Written by sfclab for one testbed instance's own libvirtd.\n"
    "user = \"libvirt-qemu\"\n"
    "group = \"libvirt-qemu\"\n"
    "dynamic_ownership = 0\n"
    "security_driver = \"none\"\n"
    "stdio_handler = \"file\"\n"
    "namespaces = [ ]\n"
    "cgroup_controllers = [ \"cpu\", \"cpuacct\", \"cpuset\", \"memory\" ]\n";

static const char lxc_conf[] =
    "# Written by sfclab for one testbed instance's own libvirtd.\n"
    "security_driver = \"none\"\n";

struct daemon_ctx {
    const char *own[ARRAY_SIZE(own_dirs)];
    const char *no_kvm;         /* A root-only empty file to hide /dev/kvm behind, or NULL. */
    const char *conf;
    const char *pid_file;
    int netns_fd;
    int log_fd;
};

/* Runs in the child, in a new mount namespace: no allocation, no return on success. */
static int
daemon_child(void *ctx_)
{
    struct daemon_ctx *ctx = ctx_;

    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
        return 126;
    }
    /* Absent on hosts with a pure v1 or pure v2 hierarchy: nothing to hide there. */
    if (umount2("/sys/fs/cgroup/unified", MNT_DETACH) && errno != EINVAL && errno != ENOENT) {
        return 126;
    }
    for (size_t i = 0; i < ARRAY_SIZE(own_dirs); i++) {
        if (mount(ctx->own[i], own_dirs[i].system, NULL, MS_BIND, NULL)) {
            return 126;
        }
    }
    /* On a host where guests run under TCG, libvirt must not see a /dev/kvm its QEMU probe can
     * use while its own check (as libvirt-qemu) says it cannot: it then takes every cached
     * capability set as outdated and re-probes QEMU (4-50 s here) before each domain. */
    if (ctx->no_kvm && !access("/dev/kvm", F_OK)
        && mount(ctx->no_kvm, "/dev/kvm", NULL, MS_BIND, NULL)) {
        return 126;
    }
    if (ctx->netns_fd >= 0 && setns(ctx->netns_fd, CLONE_NEWNET)) {
        return 126;
    }
    /* Its own session: Ctrl-C in our terminal and the end of `sfclab up` leave it running. */
    setsid();
    if (chdir("/")) {
        return 126;
    }
    int null_fd = open("/dev/null", O_RDWR);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(ctx->log_fd, 1) < 0
        || dup2(ctx->log_fd, 2) < 0) {
        return 126;
    }
    close_range(3, ~0U, 0);
    execl(LIBVIRTD_PROGRAM, "libvirtd", "-f", ctx->conf, "-p", ctx->pid_file, (char *) NULL);
    return 127;
}

static int
write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int error;

    if (fd < 0) {
        return errno;
    }
    error = write_fully(fd, text, strlen(text));
    if (close(fd) && !error) {
        error = errno;
    }
    return error;
}

/* The user libvirt's QEMU driver runs guests as; without it the driver, and with it the whole
 * daemon, refuses to start. Made as Debian's libvirt-daemon-system makes it. */
static int
ensure_qemu_user(void)
{
    char *argv[] = { "useradd", "--system", "--user-group", "--no-create-home",
                     "--home-dir", "/var/lib/libvirt", "--shell", "/usr/sbin/nologin",
                     "--comment", "Libvirt Qemu", "libvirt-qemu", NULL };
    int status;
    pid_t pid;

    if (getpwnam("libvirt-qemu")) {
        return 0;
    }
    log_info("libvirt: adding the system user libvirt-qemu (libvirtd's QEMU driver needs it)");
    pid = fork();
    if (pid < 0) {
        return errno;
    }
    if (!pid) {
        execvp(argv[0], argv);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return errno;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status)) {
        log_err("libvirt: useradd libvirt-qemu failed");
        return EPERM;
    }
    return 0;
}

static int
mkdir_system(const char *path)
{
    /* The mount points of the daemon's private directories. An empty directory is what the
     * libvirt packages leave there too; we never remove them. */
    if (mkdir(path, 0755) && errno != EEXIST) {
        return errno;
    }
    return 0;
}

static int
ensure_locked(struct manifest *manifest, const char *instance_dir, const char *netns_path)
{
    char *top = xasprintf("%s/libvirt", instance_dir);
    char *sock_dir = xasprintf("%s/sock", top);
    char *sock = libvirtd_own_socket(instance_dir);
    char *conf = xasprintf("%s/libvirtd.conf", top);
    char *pid_file = xasprintf("%s/libvirtd.pid", top);
    char *log_dir = xasprintf("%s/log", top);
    char *daemon_log = xasprintf("%s/libvirtd.stderr", top);
    char *no_kvm = xasprintf("%s/no-kvm", top);
    char *own[ARRAY_SIZE(own_dirs)] = { NULL };
    struct daemon_ctx ctx = { .netns_fd = -1, .log_fd = -1 };
    uint64_t deadline;
    pid_t pid = 0;
    int error = 0;

    if (libvirtd_answers(sock) || libvirtd_answers(LIBVIRTD_HOST_SOCKET)) {
        goto out;
    }
    if (access(LIBVIRTD_PROGRAM, X_OK)) {
        log_err("libvirt: %s not found (make deps installs libvirt-daemon)", LIBVIRTD_PROGRAM);
        error = ENOENT;
        goto out;
    }
    error = ensure_qemu_user();
    for (size_t i = 0; !error && i < ARRAY_SIZE(own_dirs); i++) {
        error = mkdir_system(own_dirs[i].system);
    }
    if (!error) {
        error = mkdir_system("/var/cache/libvirt");
    }
    if (error) {
        log_err("libvirt: cannot prepare the host for libvirtd: %s", strerror(error));
        goto out;
    }
    /* One tree: `down` removes the daemon's state, sockets and logs with it. */
    error = manifest_make_tree(manifest, top);
    if (error) {
        log_err("libvirt: %s: %s", top, strerror(error));
        goto out;
    }
    if (mkdir(sock_dir, 0700)) {
        error = errno;
        goto out;
    }
    for (size_t i = 0; i < ARRAY_SIZE(own_dirs); i++) {
        own[i] = xasprintf("%s/%s", top, own_dirs[i].own);
        ctx.own[i] = own[i];
        if (mkdir(own[i], 0755)) {
            error = errno;
            goto out;
        }
    }
    {
        char *text = xasprintf(libvirtd_conf, sock_dir, log_dir);
        char *qemu = xasprintf("%s/etc/qemu.conf", top);
        char *lxc = xasprintf("%s/etc/lxc.conf", top);
        error = write_text(conf, text);
        if (!error) {
            error = write_text(qemu, qemu_conf);
        }
        if (!error) {
            error = write_text(lxc, lxc_conf);
        }
        free(text);
        free(qemu);
        free(lxc);
        if (error) {
            log_err("libvirt: cannot write its configuration: %s", strerror(error));
            goto out;
        }
    }
    ctx.conf = conf;
    ctx.pid_file = pid_file;
    if (!libvirtd_kvm_accel(NULL)) {
        error = write_text(no_kvm, "");
        if (error) {
            goto out;
        }
        chmod(no_kvm, 0600);
        ctx.no_kvm = no_kvm;
    }
    if (netns_path) {
        ctx.netns_fd = open(netns_path, O_RDONLY | O_CLOEXEC);
        if (ctx.netns_fd < 0) {
            error = errno;
            log_err("libvirt: %s: %s", netns_path, strerror(error));
            goto out;
        }
    }
    ctx.log_fd = open(daemon_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (ctx.log_fd < 0) {
        error = errno;
        goto out;
    }
    __atomic_add_fetch(&daemon_generation, 1, __ATOMIC_SEQ_CST);
    error = manifest_spawn(manifest, "process", "libvirtd", CLONE_NEWNS, daemon_child, &ctx,
                           &pid);
    if (error) {
        log_err("libvirt: cannot start libvirtd: %s", strerror(error));
        goto out;
    }
    deadline = time_mono_ns() + (uint64_t) LIBVIRTD_START_TIMEOUT_MS * 1000000;
    while (!libvirtd_answers(sock)) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            log_err("libvirt: libvirtd exited at start (status %d): see %s and %s/libvirtd.log",
                    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                    daemon_log, log_dir);
            error = ECHILD;
            goto out;
        }
        if (time_mono_ns() >= deadline) {
            log_err("libvirt: libvirtd did not answer on %s within %d ms", sock,
                    LIBVIRTD_START_TIMEOUT_MS);
            error = ETIMEDOUT;
            goto out;
        }
        usleep(5000);
    }
out:
    if (ctx.netns_fd >= 0) {
        close(ctx.netns_fd);
    }
    if (ctx.log_fd >= 0) {
        close(ctx.log_fd);
    }
    for (size_t i = 0; i < ARRAY_SIZE(own_dirs); i++) {
        free(own[i]);
    }
    free(top);
    free(sock_dir);
    free(sock);
    free(conf);
    free(pid_file);
    free(log_dir);
    free(daemon_log);
    free(no_kvm);
    return error;
}

/* `up` makes guests from several threads: the first to get here starts the daemon, the others
 * find it answering. */
int
libvirtd_ensure(struct manifest *manifest, const char *instance_dir, const char *netns_path)
{
    static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
    int error;

    pthread_mutex_lock(&mutex);
    error = ensure_locked(manifest, instance_dir, netns_path);
    pthread_mutex_unlock(&mutex);
    return error;
}

bool
libvirtd_usable(const char *driver, char **whyp)
{
    char *module = xasprintf("/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/"
                             "libvirt_driver_%s.so", driver);
    bool ok = false;

    if (libvirtd_answers(LIBVIRTD_HOST_SOCKET)) {
        ok = true;
    } else if (access(LIBVIRTD_PROGRAM, X_OK)) {
        *whyp = xasprintf("no libvirtd answers on %s and %s is not installed (make deps)",
                          LIBVIRTD_HOST_SOCKET, LIBVIRTD_PROGRAM);
    } else if (access(module, R_OK)) {
        *whyp = xasprintf("libvirt's %s driver is not installed (%s: %s; make deps)", driver,
                          module, strerror(errno));
    } else {
        ok = true;
    }
    free(module);
    return ok;
}

int
libvirtd_domain_open(struct libvirtd_domain *d, const char *driver,
                     const struct guest_config *cfg, struct manifest *manifest,
                     bool start_daemon)
{
    char *copy = NULL, *netns_path = NULL;
    int error = 0;

    memset(d, 0, sizeof *d);
    d->guest = xstrdup(cfg->name);
    if (!cfg->run_dir) {
        log_err("guest %s: a libvirt guest needs the instance's run directory", cfg->name);
        error = EINVAL;
        goto out;
    }
    copy = xstrdup(cfg->run_dir);
    d->inst_dir = xstrdup(dirname(copy));
    if (start_daemon) {
        netns_path = xasprintf("/run/netns/sfclab-%s", cfg->instance);
        error = libvirtd_ensure(manifest, d->inst_dir, netns_path);
        if (error) {
            goto out;
        }
    }
    d->uri = libvirtd_uri(driver, d->inst_dir);
    d->name = libvirtd_domain_name(cfg->instance, cfg->name);
    d->conn = libvirtd_connect(d->uri);
    if (!d->conn) {
        error = ENOTCONN;
    }
out:
    if (error) {
        libvirtd_domain_close(d);
    }
    free(copy);
    free(netns_path);
    return error;
}

void
libvirtd_domain_close(struct libvirtd_domain *d)
{
    libvirtd_domain_forget(d);
    free(d->guest);
    free(d->inst_dir);
    free(d->uri);
    free(d->name);
    memset(d, 0, sizeof *d);
}

int
libvirtd_domain_unused(const struct libvirtd_domain *d, const char *instance)
{
    virDomainPtr dom = dl_virt.virDomainLookupByName(d->conn, d->name);

    if (!dom) {
        return 0;
    }
    log_err("guest %s: libvirt domain %s already exists (sfclab clean -i %s removes what an "
            "earlier run left)", d->guest, d->name, instance);
    dl_virt.virDomainFree(dom);
    return EEXIST;
}

int
libvirtd_domain_lookup(struct libvirtd_domain *d)
{
    libvirtd_domain_forget(d);
    d->dom = dl_virt.virDomainLookupByName(d->conn, d->name);
    return libvirtd_domain_active(d) ? 0 : ESRCH;
}

void
libvirtd_domain_forget(struct libvirtd_domain *d)
{
    if (d->dom) {
        dl_virt.virDomainFree(d->dom);
        d->dom = NULL;
    }
}

bool
libvirtd_domain_active(const struct libvirtd_domain *d)
{
    return d->dom && dl_virt.virDomainIsActive(d->dom) == 1;
}

bool
libvirtd_domain_wait_inactive(const struct libvirtd_domain *d, uint64_t timeout_ns)
{
    uint64_t deadline = time_mono_ns() + timeout_ns;

    while (libvirtd_domain_active(d)) {
        if (time_mono_ns() >= deadline) {
            return false;
        }
        usleep(5000);
    }
    return true;
}

int
libvirtd_domain_destroy(struct libvirtd_domain *d)
{
    if (libvirtd_domain_active(d) && dl_virt.virDomainDestroy(d->dom) < 0
        && libvirtd_domain_active(d)) {
        log_warn("guest %s: cannot destroy %s: %s", d->guest, d->name, libvirtd_last_error());
        return EBUSY;
    }
    return 0;
}

int
libvirtd_domain_stop(struct libvirtd_domain *d, int (*shutdown)(void *aux), void *aux,
                     uint64_t grace_ns, uint64_t gone_ns)
{
    if (!d->dom) {
        return 0;
    }
    if (libvirtd_domain_active(d)) {
        virDomainState st;
        int reason;

        if (!dl_virt.virDomainGetState(d->dom, (int *) &st, &reason, 0)
            && st == VIR_DOMAIN_PAUSED) {
            dl_virt.virDomainResume(d->dom);
        }
        if (shutdown(aux) || !libvirtd_domain_wait_inactive(d, grace_ns)) {
            int error = libvirtd_domain_destroy(d);
            if (error) {
                return error;
            }
        }
    }
    if (!libvirtd_domain_wait_inactive(d, gone_ns)) {
        return ETIMEDOUT;
    }
    libvirtd_domain_forget(d);
    return 0;
}

int
libvirtd_domain_pause(struct libvirtd_domain *d)
{
    if (!libvirtd_domain_active(d)) {
        return ESRCH;
    }
    if (dl_virt.virDomainSuspend(d->dom) < 0) {
        log_err("guest %s: cannot suspend: %s", d->guest, libvirtd_last_error());
        return EIO;
    }
    return 0;
}

int
libvirtd_domain_resume(struct libvirtd_domain *d)
{
    if (!libvirtd_domain_active(d)) {
        return ESRCH;
    }
    if (dl_virt.virDomainResume(d->dom) < 0) {
        log_err("guest %s: cannot resume: %s", d->guest, libvirtd_last_error());
        return EIO;
    }
    return 0;
}

int
libvirtd_domain_state(const struct libvirtd_domain *d, enum guest_state *statep)
{
    virDomainState st;
    int reason;

    if (!d->dom || dl_virt.virDomainGetState(d->dom, (int *) &st, &reason, 0) < 0) {
        return ESRCH;
    }
    switch (st) {
    case VIR_DOMAIN_RUNNING:
    case VIR_DOMAIN_BLOCKED:
        *statep = GUEST_RUNNING;
        break;
    case VIR_DOMAIN_PAUSED:
        *statep = GUEST_PAUSED;
        break;
    default:
        *statep = GUEST_GONE;
        break;
    }
    return 0;
}

int
libvirtd_domain_plug(struct libvirtd_domain *d, struct link_ns *host,
                     const struct guest_iface *f, bool vm)
{
    struct domxml_iface di = { .port = f->port, .guest_dev = vm ? NULL : f->ifname,
                               .mac = f->mac };
    struct buf xml = BUF_INITIALIZER;
    int error = 0;

    if (!host || !f->mac) {
        return EINVAL;
    }
    if (!libvirtd_domain_active(d)) {
        return ESRCH;
    }
    domxml_iface(&di, vm, &xml);
    buf_put_u8(&xml, '\0');
    if (dl_virt.virDomainAttachDeviceFlags(d->dom, (const char *) xml.data,
                                   VIR_DOMAIN_AFFECT_LIVE) < 0) {
        log_err("guest %s: libvirt cannot attach %s: %s", d->guest, f->ifname,
                libvirtd_last_error());
        error = EIO;
        goto out;
    }
    error = libvirtd_domain_adopt_tap(d, host, f->port);
out:
    buf_uninit(&xml);
    return error;
}

int
libvirtd_domain_adopt_tap(struct libvirtd_domain *d, struct link_ns *host, const char *port)
{
    struct link_ns *here = NULL;
    int error = 0;

    if (!link_exists(host, port)) {
        error = link_ns_open(-1, &here);
        if (!error) {
            error = link_move(here, port, host);
        }
        if (error) {
            log_err("guest %s: cannot move %s to the instance's namespace: %s", d->guest,
                    port, strerror(error));
        }
    }
    link_ns_close(here);
    return error;
}
