/* The probe of NHAM's criu backend (nham_criu.h). */
#include "testbed/schemes/nham_criu.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

static char *
nham_criu_find(void)
{
    const char *env = getenv("SFCLAB_CRIU");
    char *path = NULL;
    glob_t g;

    if (env && *env) {
        return access(env, X_OK) ? NULL : xstrdup(env);
    }
    if (!glob("build/criu/criu-*/criu/criu", 0, NULL, &g)) {
        /* The newest version (glob's order is lexical: 4.10 before 4.2). */
        const char *best = NULL;
        for (size_t i = 0; i < g.gl_pathc; i++) {
            if (!access(g.gl_pathv[i], X_OK) && (!best || strverscmp(g.gl_pathv[i], best) > 0)) {
                best = g.gl_pathv[i];
            }
        }
        path = best ? xstrdup(best) : NULL;
        globfree(&g);
    }
    return path;
}

/* Runs 'path arg'; its output (stdout and stderr) into 'out'. Returns the exit status or -1. */
static int
nham_criu_run(const char *path, const char *arg, struct buf *out)
{
    int pipefd[2], status = -1;
    char chunk[512];
    ssize_t n;
    pid_t pid;

    if (pipe2(pipefd, O_CLOEXEC)) {
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (!pid) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        execl(path, path, arg, (char *) NULL);
        _exit(127);
    }
    close(pipefd[1]);
    while ((n = read(pipefd[0], chunk, sizeof chunk)) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0) {
            buf_put(out, chunk, n);
        }
    }
    close(pipefd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        continue;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The version `criu --version` prints ("Version: 4.2.1"), malloc'd, or NULL. */
static char *
nham_criu_version(const char *path)
{
    struct buf out = BUF_INITIALIZER;
    char *version = NULL, *at;

    if (!nham_criu_run(path, "--version", &out)) {
        buf_put_u8(&out, '\0');
        at = strstr((char *) out.data, "Version: ");
        if (at) {
            at += strlen("Version: ");
            version = xasprintf("%.*s", (int) strcspn(at, " \n"), at);
        }
    }
    buf_uninit(&out);
    return version;
}

int
nham_criu_probe(const char **pathp, const char **whyp)
{
    static int error = -1;
    static char *path, *why, *version;

    if (error < 0) {
        path = nham_criu_find();
        if (!path) {
            error = ENOENT;
            why = xstrdup("no CRIU >= " NHAM_CRIU_MIN_VERSION " built here (run `make criu`; "
                          "Debian 12's criu 3.17 fails on this kernel with a vDSO error)");
        } else if (!(version = nham_criu_version(path))
                   || strverscmp(version, NHAM_CRIU_MIN_VERSION) < 0) {
            /* `criu check` of 4.1 passes here, but its dump fails on the first socket. */
            error = ENOTSUP;
            why = xasprintf("%s is CRIU %s, older than " NHAM_CRIU_MIN_VERSION " (before 4.2 a "
                            "dump reads SO_PASSCRED of every socket, which Linux >= 6.16 "
                            "refuses for inet and packet sockets; run `make criu`)", path,
                            version ? version : "of an unknown version");
        } else {
            struct buf out = BUF_INITIALIZER;
            int rc = nham_criu_run(path, "check", &out);

            buf_put_u8(&out, '\0');
            if (!rc && strstr((char *) out.data, "Looks good.")) {
                error = 0;
            } else {
                /* The last line of `criu check` says what is missing. */
                char *text = (char *) out.data, *last = text, *nl;
                while ((nl = strchr(last, '\n')) && nl[1]) {
                    last = nl + 1;
                }
                last[strcspn(last, "\n")] = '\0';
                error = ENOTSUP;
                why = xasprintf("`%s check` failed (exit %d): %s", path, rc,
                                *last ? last : "no output");
            }
            buf_uninit(&out);
        }
    }
    if (pathp) {
        *pathp = path;
    }
    if (whyp) {
        *whyp = why;
    }
    return error;
}

/* ---- Dump and restore through libcriu, in a guest's namespaces ----
 *
 * libcriu is dlopen()ed from the same build as the binary (lib/c/libcriu.so beside criu/criu):
 * linking it would make every build of sfclab need CRIU built first. Its swrk mode forks the
 * criu binary and talks to it over a socketpair; criu resolves the images directory as
 * /proc/<its caller>/fd/N, so the caller must be visible in the guest's /proc: a child enters
 * the guest's IPC, UTS, network, PID and mount namespaces and forks the caller, which is then
 * a process of the guest's PID namespace. Sharing every namespace with the VNF, criu dumps
 * none of them: the guest's mount tree (a read-only tmpfs with binds of host files, which
 * criu cannot restore) stays out of the image. The criu binary must be reachable inside the
 * guest: the caller gives a path there. */

typedef struct criu_opts criu_opts;
static struct {
    int (*init_opts)(criu_opts **);
    void (*free_opts)(criu_opts *);
    int (*set_service_binary)(criu_opts *, const char *);
    void (*set_pid)(criu_opts *, int);
    void (*set_images_dir_fd)(criu_opts *, int);
    void (*set_leave_running)(criu_opts *, bool);
    void (*set_shell_job)(criu_opts *, bool);
    void (*set_log_level)(criu_opts *, int);
    int (*set_log_file)(criu_opts *, const char *);
    int (*add_external)(criu_opts *, const char *);
    int (*add_inherit_fd)(criu_opts *, int, const char *);
    void (*set_manage_cgroups_mode)(criu_opts *, int);
    int (*dump)(criu_opts *);
    int (*restore)(criu_opts *);
} lc;

/* Loads libcriu from the build of the probed binary. Returns 0 or an errno, '*whyp' set. */
static int
nham_criu_load(const char **whyp)
{
    static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
    static int error = -1;
    static char *why;

    pthread_mutex_lock(&mutex);
    if (error < 0) {
        const char *bin = NULL;
        char *so = NULL;
        void *h = NULL;

        error = nham_criu_probe(&bin, (const char **) &why);
        if (!error) {
            /* .../criu/criu -> .../lib/c/libcriu.so */
            size_t n = strlen(bin) - strlen("criu/criu");
            so = xasprintf("%.*slib/c/libcriu.so", (int) n, bin);
            h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
            if (!h) {
                error = ELIBACC;
                why = xasprintf("cannot load %s: %s", so, dlerror());
            }
        }
#define NHAM_CRIU_SYM(member, name)                                         \
        if (!error && !(*(void **) &lc.member = dlsym(h, name))) {          \
            error = ENOENT;                                                 \
            why = xasprintf("%s has no %s", so, name);                      \
        }
        NHAM_CRIU_SYM(init_opts, "criu_local_init_opts")
        NHAM_CRIU_SYM(free_opts, "criu_local_free_opts")
        NHAM_CRIU_SYM(set_service_binary, "criu_local_set_service_binary")
        NHAM_CRIU_SYM(set_pid, "criu_local_set_pid")
        NHAM_CRIU_SYM(set_images_dir_fd, "criu_local_set_images_dir_fd")
        NHAM_CRIU_SYM(set_leave_running, "criu_local_set_leave_running")
        NHAM_CRIU_SYM(set_shell_job, "criu_local_set_shell_job")
        NHAM_CRIU_SYM(set_log_level, "criu_local_set_log_level")
        NHAM_CRIU_SYM(set_log_file, "criu_local_set_log_file")
        NHAM_CRIU_SYM(add_external, "criu_local_add_external")
        NHAM_CRIU_SYM(add_inherit_fd, "criu_local_add_inherit_fd")
        NHAM_CRIU_SYM(set_manage_cgroups_mode, "criu_local_set_manage_cgroups_mode")
        NHAM_CRIU_SYM(dump, "criu_local_dump")
        NHAM_CRIU_SYM(restore, "criu_local_restore")
#undef NHAM_CRIU_SYM
        free(so);
    }
    pthread_mutex_unlock(&mutex);
    *whyp = why;
    return error;
}

int
nham_criu_install(const char *dst)
{
    const char *bin = NULL, *why;
    char *text = NULL;
    size_t len = 0;
    int error = nham_criu_probe(&bin, &why);

    if (!error && access(dst, X_OK)) {
        char *tmp = xasprintf("%s.new", dst);

        error = read_file(bin, &text, &len);
        if (!error) {
            int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
            if (fd < 0 || write(fd, text, len) != (ssize_t) len || close(fd)) {
                error = errno ? errno : EIO;
            } else if (rename(tmp, dst)) {
                error = errno;
            }
        }
        if (error) {
            unlink(tmp);
        }
        free(tmp);
        free(text);
    }
    return error;
}

/* What the caller in the guest answers through its pipe. */
struct nham_criu_answer {
    int rc;                     /* libcriu's: 0 or a pid (restore), or < 0. */
};

/* In the caller (a process of the guest's PID namespace): one libcriu call. Returns its rc. */
static int
nham_criu_call(const struct nham_criu_req *req)
{
    criu_opts *o = NULL;
    char key[64];
    sigset_t chld;
    int rc;

    /* libcriu wants SIGCHLD blocked in its caller (it reaps criu itself). */
    signal(SIGCHLD, SIG_DFL);
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    if (lc.init_opts(&o) < 0) {
        return -ENOMEM;
    }
    lc.set_service_binary(o, req->service);
    lc.set_images_dir_fd(o, req->dir_fd);
    lc.set_shell_job(o, true);
    lc.set_log_level(o, req->restore ? 4 : 2);     /* A restore's log says where it stops. */
    lc.set_log_file(o, req->restore ? "restore.log" : "dump.log");
    /* Not CRIU_CG_MODE_DEFAULT: its restore mounts a cgroup yard in its work directory (the
     * images directory, a host one the guest's mount namespace lacks: EINVAL). */
    lc.set_manage_cgroups_mode(o, 0 /* CRIU_CG_MODE_IGNORE */);
    for (size_t i = 0; i < req->n_ext; i++) {
        snprintf(key, sizeof key, req->restore ? "socket:[%lu]" : "unix[%lu]",
                 req->ext_inos[i]);
        if (req->restore) {
            fcntl(req->ext_fds[i], F_SETFD, 0);     /* criu swrk inherits it. */
            lc.add_inherit_fd(o, req->ext_fds[i], key);
        } else {
            lc.add_external(o, key);
        }
    }
    if (req->restore) {
        rc = lc.restore(o);
    } else {
        lc.set_pid(o, req->nspid);
        lc.set_leave_running(o, req->leave_running);
        rc = lc.dump(o);
    }
    lc.free_opts(o);
    return rc;
}

/* The last "Error" lines of criu's log in 'dir_fd', or a generic reason. */
static char *
nham_criu_log_errors(int dir_fd, const char *log, int rc)
{
    char *text = NULL, *why = NULL;
    size_t len = 0;
    int fd = openat(dir_fd, log, O_RDONLY | O_CLOEXEC);
    struct buf b = BUF_INITIALIZER;

    if (fd >= 0) {
        char chunk[4096];
        ssize_t n;
        while ((n = read(fd, chunk, sizeof chunk)) > 0) {
            buf_put(&b, chunk, n);
        }
        close(fd);
        buf_put_u8(&b, '\0');
        text = (char *) b.data;
        /* The errors that say why, past the harmless RLIMIT_NOFILE one (a guest's limit). */
        for (char *line = text; line && *line; ) {
            char *nl = strchr(line, '\n');
            if (nl) {
                *nl = '\0';
            }
            if (strstr(line, "Error") && !strstr(line, "RLIMIT_NOFILE")) {
                char *old = why;
                why = old ? xasprintf("%s; %s", old, line) : xstrdup(line);
                free(old);
                if (strlen(why) > 600) {
                    break;
                }
            }
            line = nl ? nl + 1 : NULL;
        }
    }
    buf_uninit(&b);
    (void) len;
    return why ? why : xasprintf("libcriu returned %d (no error in %s)", rc, log);
}

/* Reads 'len' bytes from pipe 'fd' by 'deadline' (CLOCK_MONOTONIC). Returns 'len' or less. */
static ssize_t
nham_criu_read(int fd, void *p, size_t len, uint64_t deadline)
{
    size_t got = 0;

    while (got < len) {
        uint64_t now = time_mono_ns();
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (now >= deadline || poll(&pfd, 1, (deadline - now) / 1000000 + 1) <= 0) {
            break;
        }
        n = read(fd, (char *) p + got, len - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            break;
        }
        got += n;
    }
    return got;
}

/* The cgroup.procs of process 'pid''s cgroup (v2), open for writing, or -1. */
static int
nham_criu_open_cgroup(pid_t pid)
{
    char path[64], *text = NULL, *at;
    size_t len = 0;
    int fd = -1;

    snprintf(path, sizeof path, "/proc/%d/cgroup", (int) pid);
    if (!read_file(path, &text, &len) && (at = strstr(text, "0::/"))) {
        char *procs;
        at += strlen("0::");
        at[strcspn(at, "\n")] = '\0';
        procs = xasprintf("/sys/fs/cgroup%s/cgroup.procs", at);
        fd = open(procs, O_WRONLY | O_CLOEXEC);
        free(procs);
    }
    free(text);
    return fd;
}

/* The last lines of criu's log in 'dir_fd' (where it stopped), malloc'd. */
static char *
nham_criu_log_tail(int dir_fd, const char *log)
{
    int fd = openat(dir_fd, log, O_RDONLY | O_CLOEXEC);
    char tail[400];
    ssize_t n = 0;
    off_t size;

    if (fd < 0) {
        return xasprintf("no %s", log);
    }
    size = lseek(fd, 0, SEEK_END);
    if (size > 0 && lseek(fd, size > (off_t) sizeof tail - 1 ? size - (off_t) sizeof tail + 1
                                                             : 0, SEEK_SET) >= 0) {
        n = read(fd, tail, sizeof tail - 1);
    }
    close(fd);
    tail[n > 0 ? n : 0] = '\0';
    for (char *c = tail; *c; c++) {
        *c = *c == '\n' ? '|' : *c;
    }
    return xasprintf("the end of %s: %s", log, n > 0 ? tail : "(empty)");
}

int
nham_criu_run_req(const struct nham_criu_req *req, int *rcp, char **whyp)
{
    static const char *const nss[] = { "ipc", "uts", "net", "pid", "mnt" };
    int ns_fds[ARRAY_SIZE(nss)], pipefd[2] = { -1, -1 }, status, error = 0;
    struct nham_criu_answer ans = { .rc = -1 };
    const char *why = NULL;
    int cg_fd = -1;
    pid_t child;

    *whyp = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(nss); i++) {
        ns_fds[i] = -1;
    }
    error = nham_criu_load(&why);
    if (error) {
        *whyp = xstrdup(why);
        return error;
    }
    for (size_t i = 0; i < ARRAY_SIZE(nss) && !error; i++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/ns/%s", (int) req->guest_init, nss[i]);
        ns_fds[i] = open(path, O_RDONLY | O_CLOEXEC);
        error = ns_fds[i] < 0 ? errno : 0;
    }
    if (!error && pipe2(pipefd, O_CLOEXEC)) {
        error = errno;
    }
    if (error) {
        *whyp = xasprintf("cannot open the guest's namespaces: %s", strerror(error));
        goto out;
    }
    cg_fd = nham_criu_open_cgroup(req->guest_init);
    child = fork();
    if (child < 0) {
        error = errno;
        goto out;
    }
    if (!child) {
        pid_t caller;

        if (cg_fd >= 0) {
            /* In the guest's cgroup: a restored process is its restorer's child there. */
            char pid_text[16];
            int n = snprintf(pid_text, sizeof pid_text, "%d", (int) getpid());
            if (write(cg_fd, pid_text, n) != n) {
                _exit(99);
            }
        }
        for (size_t i = 0; i < ARRAY_SIZE(nss); i++) {
            if (setns(ns_fds[i], 0)) {
                _exit(100 + i);
            }
        }
        if (chdir("/")) {
            _exit(110);
        }
        caller = fork();        /* In the guest's PID namespace. */
        if (caller > 0) {
            /* Its host pid first: on a timeout the host kills its session, criu's too. */
            if (write(pipefd[1], &caller, sizeof caller) != sizeof caller) {
                kill(caller, SIGKILL);
            }
        }
        if (!caller) {
            /* A session of the guest: a restored process joins its restorer's (shell job),
             * and a session whose leader the guest cannot see fails its next dump ("A
             * session leader ... is outside of its pid namespace"). */
            setsid();
            ans.rc = nham_criu_call(req);
            _exit(write(pipefd[1], &ans, sizeof ans) == sizeof ans ? 0 : 111);
        }
        while (caller > 0 && waitpid(caller, &status, 0) < 0 && errno == EINTR) {
            continue;
        }
        _exit(caller > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : 112);
    }
    close(pipefd[1]);
    pipefd[1] = -1;
    {
        uint64_t deadline = time_mono_ns() + NHAM_CRIU_TIMEOUT_MS * 1000000ull;
        pid_t caller = 0;
        ssize_t n = 0;

        if (nham_criu_read(pipefd[0], &caller, sizeof caller, deadline)) {
            n = nham_criu_read(pipefd[0], &ans, sizeof ans, deadline);
        }
        if (n != sizeof ans) {
            if (caller > 0) {
                kill(-caller, SIGKILL);     /* Its session: criu swrk and what it forked. */
            }
            kill(child, SIGKILL);
        }
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
            continue;
        }
        if (n != sizeof ans) {
            char *log = nham_criu_log_tail(req->dir_fd, req->restore ? "restore.log"
                                           : "dump.log");
            error = ETIMEDOUT;
            *whyp = xasprintf("no answer from the criu caller in the guest within %d ms "
                              "(exit status %d): %s", NHAM_CRIU_TIMEOUT_MS,
                              WIFEXITED(status) ? WEXITSTATUS(status) : -1, log);
            free(log);
            goto out;
        }
    }
    *rcp = ans.rc;
    if (ans.rc < 0 || (req->restore && ans.rc == 0)) {
        error = EIO;
        *whyp = nham_criu_log_errors(req->dir_fd, req->restore ? "restore.log" : "dump.log",
                                     ans.rc);
    }
out:
    for (size_t i = 0; i < ARRAY_SIZE(nss); i++) {
        if (ns_fds[i] >= 0) {
            close(ns_fds[i]);
        }
    }
    if (pipefd[0] >= 0) {
        close(pipefd[0]);
    }
    if (cg_fd >= 0) {
        close(cg_fd);
    }
    if (pipefd[1] >= 0) {
        close(pipefd[1]);
    }
    return error;
}
