#include "testbed/infra/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testbed/infra/ovs.h"
#include "testbed/infra/libvirtd.h"
#include "vnfs/lib/util.h"

struct manifest {
    char *dir;
    int fd;
};

/* Grace a daemon gets between SIGTERM and SIGKILL. */
#define MANIFEST_TERM_GRACE_MS 1000

static int
manifest_append(struct manifest *m, const char *fmt, ...) PRINTF_FORMAT(2, 3);

static int
manifest_append(struct manifest *m, const char *fmt, ...)
{
    va_list args;
    char *line;
    int error;

    va_start(args, fmt);
    line = xvasprintf(fmt, args);
    va_end(args);
    /* No fsync: what undo must find is what a later process reads, and a write() is that
     * once it returns, SIGKILL or not. Only a reboot would lose it, and a reboot takes every
     * process, namespace, cgroup and mount recorded here with it. An fsync per line cost a
     * star32 `up` (some 330 lines) about 0.4 ms each on this host's ext4 /run. */
    error = write_fully(m->fd, line, strlen(line));
    free(line);
    return error;
}

static bool
path_is_recordable(const char *path)
{
    return path[0] == '/' && !strpbrk(path, " \t\n");
}

static int
manifest_record_path(struct manifest *m, const char *kind, const char *path)
{
    if (!path_is_recordable(path)) {
        return EINVAL;
    }
    return manifest_append(m, "%s %s\n", kind, path);
}

static int
mkdir_p(const char *path, mode_t mode)
{
    char *copy = xstrdup(path);
    int error = 0;

    for (char *p = copy + 1; ; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = '\0';
            if (mkdir(copy, mode) && errno != EEXIST) {
                error = errno;
                break;
            }
            *p = c;
            if (!c) {
                break;
            }
        }
    }
    free(copy);
    return error;
}

int
manifest_open(const char *dir, struct manifest **mp)
{
    struct manifest *m;
    char *path = NULL;
    bool existed;
    int error;
    int fd;

    if (!path_is_recordable(dir)) {
        return EINVAL;
    }
    existed = !access(dir, F_OK);
    error = mkdir_p(dir, 0755);
    if (error) {
        return error;
    }
    path = xasprintf("%s/manifest", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        error = errno;
        goto out;
    }
    m = xzalloc(sizeof *m);
    m->dir = xstrdup(dir);
    m->fd = fd;
    /* The directory goes first, so that it is undone last. */
    if (!existed) {
        error = manifest_record_dir(m, dir);
        if (error) {
            manifest_close(m);
            goto out;
        }
    }
    *mp = m;
out:
    free(path);
    return error;
}

void
manifest_close(struct manifest *m)
{
    if (m) {
        close(m->fd);
        free(m->dir);
        free(m);
    }
}

int
manifest_record_netns(struct manifest *m, const char *path)
{
    return manifest_record_path(m, "netns", path);
}

int
manifest_record_mirror(struct manifest *m, const char *run_dir, const char *bridge,
                       const char *mirror, const char *port)
{
    const char *const parts[] = { run_dir, bridge, mirror, port };

    for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
        if (!*parts[i] || strpbrk(parts[i], " \t\n")) {
            return EINVAL;
        }
    }
    return manifest_append(m, "mirror %s %s %s %s\n", run_dir, bridge, mirror, port);
}

int
manifest_record_cgroup(struct manifest *m, const char *path)
{
    return manifest_record_path(m, "cgroup", path);
}

int
manifest_record_mount(struct manifest *m, const char *path)
{
    return manifest_record_path(m, "mount", path);
}

int
manifest_make_tree(struct manifest *m, const char *path)
{
    int error;

    if (!access(path, F_OK)) {
        return EEXIST;
    }
    error = manifest_record_path(m, "tree", path);
    if (!error && mkdir(path, 0755)) {
        error = errno;
    }
    return error;
}

int
manifest_record_dir(struct manifest *m, const char *path)
{
    return manifest_record_path(m, "dir", path);
}

int
manifest_record_file(struct manifest *m, const char *path)
{
    return manifest_record_path(m, "file", path);
}

int
manifest_record_domain(struct manifest *m, const char *uri, const char *name)
{
    if (!*uri || !*name || strpbrk(uri, " \t\n") || strpbrk(name, " \t\n")) {
        return EINVAL;
    }
    return manifest_append(m, "domain %s %s\n", uri, name);
}

static int
manifest_record_pid(struct manifest *m, const char *kind, pid_t pid, const char *name)
{
    uint64_t start = proc_starttime(pid);

    if (!start) {
        return ESRCH;
    }
    if (strpbrk(name, " \t\n")) {
        return EINVAL;
    }
    return manifest_append(m, "%s %ld %llu %s\n", kind, (long) pid,
                           (unsigned long long) start, name);
}

int
manifest_record_process(struct manifest *m, pid_t pid, const char *name)
{
    return manifest_record_pid(m, "process", pid, name);
}

int
manifest_record_guest(struct manifest *m, pid_t pid, const char *name)
{
    return manifest_record_pid(m, "guest", pid, name);
}

uint64_t
proc_starttime(pid_t pid)
{
    unsigned long long start = 0;
    char path[64], *contents, *p;

    snprintf(path, sizeof path, "/proc/%ld/stat", (long) pid);
    if (read_file(path, &contents, NULL)) {
        return 0;
    }
    /* The command name may hold spaces and parentheses: fields resume after the last ')'. */
    p = strrchr(contents, ')');
    if (p) {
        char state;
        /* After ')': state is field 3; starttime is field 22, i.e. the 20th after state. */
        if (sscanf(p + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d"
                   " %*d %*d %llu", &state, &start) != 2 || state == 'Z' || state == 'X') {
            start = 0;
        }
    }
    free(contents);
    return start;
}

bool
proc_is(pid_t pid, uint64_t starttime)
{
    return pid > 0 && starttime && proc_starttime(pid) == starttime;
}

struct spawn_ctx {
    int gate[2];                /* The child reads one byte: 1 = go, EOF = give up. */
    int parent;                 /* A pidfd of the spawning process: readable once it died. */
    int (*child)(void *);
    void *aux;
};

static int
spawn_trampoline(void *ctx_)
{
    struct spawn_ctx *ctx = ctx_;
    struct pollfd p[2] = {
        { .fd = ctx->gate[0], .events = POLLIN }, { .fd = ctx->parent, .events = POLLIN },
    };
    char go = 0;

    close(ctx->gate[1]);
    /* The gate's EOF is not enough: guests spawned at the same time from other threads hold
     * copies of each other's gates (no exec closes them yet), so after a SIGKILL of ours two
     * of them could wait for each other forever, recorded nowhere (seen in infra-kill.sh). */
    while (poll(p, ctx->parent >= 0 ? 2 : 1, -1) < 0 && errno == EINTR) {
        continue;
    }
    if (p[0].revents) {
        while (read(ctx->gate[0], &go, 1) < 0 && errno == EINTR) {
            continue;
        }
    }
    close(ctx->gate[0]);
    if (ctx->parent >= 0) {
        close(ctx->parent);
    }
    if (go != 1) {
        _exit(127);
    }
    _exit(ctx->child(ctx->aux));
}

int
manifest_spawn(struct manifest *m, const char *kind, const char *name, int flags,
               int (*child)(void *), void *aux, pid_t *pidp)
{
    struct spawn_ctx ctx = { .child = child, .aux = aux };
    size_t stack_size = 256 * 1024;
    char *stack = NULL;
    pid_t pid;
    int error;

    if (strcmp(kind, "process") && strcmp(kind, "guest")) {
        return EINVAL;
    }
    if (pipe2(ctx.gate, O_CLOEXEC)) {
        return errno;
    }
    ctx.parent = syscall(SYS_pidfd_open, getpid(), 0);
    /* The child waits at its gate until its record is on disk; if we die first, the gate's
     * write end closes with us and the child exits without having done anything. */
    stack = xmalloc(stack_size);
    pid = clone(spawn_trampoline, stack + stack_size, flags | SIGCHLD, &ctx);
    if (pid < 0) {
        error = errno;
        goto out;
    }
    error = manifest_record_pid(m, kind, pid, name);
    if (error) {
        /* The child never ran anything: closing the gate makes it exit. */
        close(ctx.gate[1]);
        ctx.gate[1] = -1;
        waitpid(pid, NULL, 0);
        goto out;
    }
    if (write(ctx.gate[1], "\1", 1) != 1) {
        error = errno;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        goto out;
    }
    *pidp = pid;
out:
    close(ctx.gate[0]);
    if (ctx.gate[1] >= 0) {
        close(ctx.gate[1]);
    }
    if (ctx.parent >= 0) {
        close(ctx.parent);
    }
    /* The child has its own copy of the address space (no CLONE_VM): the stack is ours. */
    free(stack);
    return error;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path) && errno != ENOENT ? errno : 0;
}

/* Removes a recorded tree; nftw with FTW_PHYS never follows a symlink out of it. */
static int
undo_tree(const char *path)
{
    int error = nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);

    if (error < 0) {
        return errno == ENOENT ? 0 : errno;
    }
    return error;
}

int
manifest_remove_tree(const char *path)
{
    return undo_tree(path);
}

/* Reaps 'pid' if it is our child; harmless otherwise. */
static void
reap(pid_t pid)
{
    waitpid(pid, NULL, WNOHANG);
}

static bool
wait_gone(pid_t pid, uint64_t start, int timeout_ms)
{
    for (int waited = 0; ; waited += 10) {
        reap(pid);
        if (!proc_is(pid, start)) {
            /* It may have become a zombie after the reap above: a zombie is gone to
             * proc_is(), but a child of ours must not be left one. */
            reap(pid);
            return true;
        }
        if (waited >= timeout_ms) {
            return false;
        }
        nanosleep(&(struct timespec) { 0, 10 * 1000 * 1000 }, NULL);
    }
}

static int
undo_process(pid_t pid, uint64_t start, bool gracefully)
{
    if (!proc_is(pid, start)) {
        return 0;
    }
    if (gracefully) {
        kill(pid, SIGTERM);
        if (wait_gone(pid, start, MANIFEST_TERM_GRACE_MS)) {
            return 0;
        }
    }
    kill(pid, SIGKILL);
    return wait_gone(pid, start, 5000) ? 0 : EBUSY;
}

static int
undo_cgroup(const char *path)
{
    /* Processes leave a cgroup a moment after they die: retry briefly. */
    for (int i = 0; i < 100; i++) {
        if (!rmdir(path) || errno == ENOENT) {
            return 0;
        }
        if (errno != EBUSY) {
            return errno;
        }
        nanosleep(&(struct timespec) { 0, 10 * 1000 * 1000 }, NULL);
    }
    return EBUSY;
}

static int
undo_mount(const char *path)
{
    if (umount2(path, MNT_DETACH) && errno != EINVAL && errno != ENOENT) {
        return errno;
    }
    if (unlink(path) && errno != ENOENT && errno != EISDIR) {
        if (errno == EPERM || errno == EISDIR) {
            if (rmdir(path) && errno != ENOENT) {
                return errno;
            }
            return 0;
        }
        return errno;
    }
    return 0;
}

/* A parameter file's value, its trailing newline dropped. */
static int
param_read(int fd, char *buf, size_t size)
{
    ssize_t n = pread(fd, buf, size - 1, 0);

    if (n < 0) {
        return errno;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return 0;
}

static int
param_write(int fd, const char *value)
{
    size_t len = strlen(value);
    struct stat st;

    if (pwrite(fd, value, len, 0) < 0) {
        return errno;
    }
    /* A parameter file takes the whole value at each write; a regular file (the tests') is
     * cut to it. */
    return !fstat(fd, &st) && S_ISREG(st.st_mode) && ftruncate(fd, len) ? errno : 0;
}

/* Looks for a 'param PATH SET ORIG' line in the manifests of the other instances beside
 * 'dir' (its siblings in the state directory). Returns true if one lists 'path', with its
 * SET and ORIG in 'set' and 'orig' (each 64 bytes). */
static bool
param_held_elsewhere(const char *dir, const char *path, char *set, char *orig)
{
    /* 'dir' is absolute (path_is_recordable()). */
    char *parent = xasprintf("%.*s", (int) (strrchr(dir, '/') - dir), dir);
    DIR *d = opendir(parent);
    bool found = false;

    for (struct dirent *de; d && !found && (de = readdir(d)); ) {
        char *other = xasprintf("%s/%s", parent, de->d_name);
        char *file = xasprintf("%s/manifest", other);
        char *contents = NULL;

        if (de->d_name[0] != '.' && strcmp(other, dir) && !read_file(file, &contents, NULL)) {
            for (char *save = NULL, *line = strtok_r(contents, "\n", &save); line && !found;
                 line = strtok_r(NULL, "\n", &save)) {
                char kind[16], arg[4096];

                found = sscanf(line, "%15s %4095s %63s %63s", kind, arg, set, orig) == 4
                        && !strcmp(kind, "param") && !strcmp(arg, path);
            }
        }
        free(contents);
        free(file);
        free(other);
    }
    if (d) {
        closedir(d);
    }
    free(parent);
    return found;
}

int
manifest_set_param(struct manifest *m, const char *path, const char *value)
{
    char cur[64], set[64], orig[64];
    int fd = -1, error;

    if (!path_is_recordable(path) || !*value || strlen(value) >= sizeof cur
        || strpbrk(value, " \t\n")) {
        return EINVAL;
    }
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    /* Two instances setting or undoing at once see each other's lines. */
    if (flock(fd, LOCK_EX) < 0) {
        error = errno;
        goto out;
    }
    error = param_read(fd, cur, sizeof cur);
    if (error) {
        goto out;
    }
    if (param_held_elsewhere(m->dir, path, set, orig)) {
        /* One value for all that hold it; the value before the first is what the last
         * restores. */
        if (strcmp(set, value)) {
            error = EBUSY;
            goto out;
        }
    } else {
        strcpy(orig, cur);
    }
    error = manifest_append(m, "param %s %s %s\n", path, value, orig);
    if (!error && strcmp(cur, value)) {
        error = param_write(fd, value);
    }
out:
    close(fd);
    return error;
}

/* The last instance to let go of a parameter writes back the value from before the first,
 * unless someone else changed it since. Its own line, at 'offset' in 'manifest', is marked
 * undone first ('#'), under the parameter's lock: of two instances undone at once, the second
 * then finds no other claim and restores it. */
static int
undo_param(const char *dir, off_t offset, const char *path, const char *set, const char *orig)
{
    char cur[64], other_set[64], other_orig[64];
    char *manifest = xasprintf("%s/manifest", dir);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    int mfd = -1, error = 0;

    if (fd < 0) {
        error = errno == ENOENT ? 0 : errno;
        goto out;
    }
    mfd = open(manifest, O_WRONLY | O_CLOEXEC);
    if (mfd < 0 || flock(fd, LOCK_EX) < 0 || pwrite(mfd, "#", 1, offset) != 1) {
        error = errno;
    } else if (!param_held_elsewhere(dir, path, other_set, other_orig)) {
        error = param_read(fd, cur, sizeof cur);
        if (!error && !strcmp(cur, set) && strcmp(cur, orig)) {
            error = param_write(fd, orig);
        }
    }
out:
    if (mfd >= 0) {
        close(mfd);
    }
    if (fd >= 0) {
        close(fd);
    }
    free(manifest);
    return error;
}

/* Undoes one line of 'dir''s manifest, 'offset' bytes into it. */
static int
undo_line(const char *dir, char *line, off_t offset, bool verbose)
{
    char kind[16], arg[4096], name[256] = "";
    unsigned long long start = 0;
    long pid = 0;
    int error = 0;

    if (sscanf(line, "%15s %4095s", kind, arg) != 2 || kind[0] == '#') {
        return 0;               /* A torn last line (nothing was created after it), or one
                                 * undone already. */
    }
    if (!strcmp(kind, "process") || !strcmp(kind, "guest")) {
        if (sscanf(line, "%*s %ld %llu %255s", &pid, &start, name) < 2 || pid <= 0) {
            return 0;
        }
        error = undo_process(pid, start, !strcmp(kind, "process"));
    } else if (!strcmp(kind, "netns") || !strcmp(kind, "mount")) {
        error = undo_mount(arg);
    } else if (!strcmp(kind, "cgroup")) {
        error = undo_cgroup(arg);
    } else if (!strcmp(kind, "mirror")) {
        char bridge[64], port[64];
        if (sscanf(line, "%*s %*s %63s %255s %63s", bridge, name, port) != 3) {
            return 0;
        }
        error = ovs_mirror_undo(arg, bridge, name, port);
    } else if (!strcmp(kind, "tree")) {
        error = undo_tree(arg);
    } else if (!strcmp(kind, "dir")) {
        if (rmdir(arg) && errno != ENOENT) {
            error = errno;
        }
    } else if (!strcmp(kind, "file")) {
        if (unlink(arg) && errno != ENOENT) {
            error = errno;
        }
    } else if (!strcmp(kind, "domain")) {
        if (sscanf(line, "%*s %*s %255s", name) != 1) {
            return 0;
        }
        error = libvirtd_undo_domain(arg, name);
    } else if (!strcmp(kind, "param")) {
        char set[64], orig[64];

        if (sscanf(line, "%*s %*s %63s %63s", set, orig) != 2) {
            return 0;
        }
        error = undo_param(dir, offset, arg, set, orig);
    } else {
        log_warn("manifest: unknown entry '%s', left alone", kind);
        return 0;
    }
    if (error) {
        log_warn("manifest: could not undo %s %s%s%s (%s)", kind, arg, *name ? " " : "", name,
                 strerror(error));
    } else if (verbose) {
        log_info("removed %s %s%s%s", kind, arg, *name ? " " : "", name);
    }
    return error;
}

int
manifest_undo(const char *dir, bool verbose)
{
    char *path = xasprintf("%s/manifest", dir);
    char *contents = NULL;
    char **lines = NULL;
    size_t n_lines = 0, cap = 0;
    bool own_dir = false;
    int error, first_error = 0;

    error = read_file(path, &contents, NULL);
    if (error) {
        first_error = error == ENOENT ? 0 : error;
        goto out;
    }
    for (char *save = NULL, *line = strtok_r(contents, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (n_lines >= cap) {
            lines = x2nrealloc(lines, &cap, sizeof *lines);
        }
        lines[n_lines++] = line;
    }
    /* Newest first, but the manifest itself and its directory go last. */
    for (size_t i = n_lines; i-- > 0; ) {
        char kind[16], arg[4096];

        if (sscanf(lines[i], "%15s %4095s", kind, arg) == 2
            && !strcmp(kind, "dir") && !strcmp(arg, dir)) {
            own_dir = true;
            continue;
        }
        error = undo_line(dir, lines[i], lines[i] - contents, verbose);
        if (error && !first_error) {
            first_error = error;
        }
    }
    if (!first_error) {
        unlink(path);
        if (own_dir && rmdir(dir) && errno != ENOENT) {
            first_error = errno;
            log_warn("manifest: could not remove %s (%s)", dir, strerror(errno));
        }
    }
out:
    free(lines);
    free(contents);
    free(path);
    return first_error;
}
