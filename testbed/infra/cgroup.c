#include "testbed/infra/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "testbed/infra/manifest.h"
#include "vnfs/lib/util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define CGROUP_ROOT "/sys/fs/cgroup"

/* v1 controller names, as they appear in mount options and /proc/self/cgroup. */
static const char *const controller_names[CGROUP_N_CONTROLLERS] = {
    [CGROUP_CPU] = "cpu",
    [CGROUP_CPUACCT] = "cpuacct",
    [CGROUP_MEMORY] = "memory",
    [CGROUP_FREEZER] = "freezer",
};

static void
sleep_ms(unsigned int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

enum cgroup_version
cgroup_detect(void)
{
    struct statfs sfs;

    if (!statfs(CGROUP_ROOT, &sfs) && sfs.f_type == CGROUP2_SUPER_MAGIC) {
        return CGROUP_V2;
    }
    return CGROUP_V1;
}

bool
cgroup_dir_exists(const char *path)
{
    struct stat st;
    return !stat(path, &st) && S_ISDIR(st.st_mode);
}

/* True if comma-separated 'list' holds 'word' exactly ("cpu" is not in "cpuacct,cpuset"). */
static bool
list_has(const char *list, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = list; p; p = strchr(p, ',')) {
        if (*p == ',') {
            p++;
        }
        if (!strncmp(p, word, n) && (p[n] == ',' || p[n] == '\0')) {
            return true;
        }
    }
    return false;
}

/* The mount point of the v1 hierarchy that holds 'controller'. */
static int
v1_mount_point(const char *controller, char **pathp)
{
    char line[1024];
    int error = ENOENT;
    FILE *f;

    f = fopen("/proc/self/mounts", "re");
    if (!f) {
        return errno;
    }
    while (fgets(line, sizeof line, f)) {
        char dev[256], dir[512], type[64], opts[512];
        if (sscanf(line, "%255s %511s %63s %511s", dev, dir, type, opts) == 4
            && !strcmp(type, "cgroup") && list_has(opts, controller)) {
            *pathp = xstrdup(dir);
            error = 0;
            break;
        }
    }
    fclose(f);
    return error;
}

/* Our own group in the hierarchy of 'controller' (NULL: the v2 hierarchy), e.g. "/" or
 * "/process_api/e276...". */
static int
own_group(const char *controller, char **pathp)
{
    char *contents, *save = NULL;
    int error;

    error = read_file("/proc/self/cgroup", &contents, NULL);
    if (error) {
        return error;
    }
    error = ENOENT;
    for (char *line = strtok_r(contents, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) {
            continue;
        }
        *c2 = '\0';
        if (controller ? list_has(c1 + 1, controller) : c1[1] == '\0') {
            *pathp = xstrdup(c2 + 1);
            error = 0;
            break;
        }
    }
    free(contents);
    return error;
}

/* Where each hierarchy is mounted and our own group in it, read once per process: `up` makes
 * the cgroups of 32 guests one at a time (cgroup_create()), and read /proc/self/mounts and
 * /proc/self/cgroup eight times for each. Neither changes while we run. */
static struct {
    pthread_mutex_t mutex;
    bool done[CGROUP_N_CONTROLLERS + 1];    /* [CGROUP_N_CONTROLLERS]: v2. */
    int error[CGROUP_N_CONTROLLERS + 1];
    char *mount[CGROUP_N_CONTROLLERS + 1];
    char *own[CGROUP_N_CONTROLLERS + 1];
} where = { .mutex = PTHREAD_MUTEX_INITIALIZER };

/* The mount point and our own group of controller 'c' (CGROUP_N_CONTROLLERS: the v2
 * hierarchy), copies for the caller to free. */
static int
cgroup_where(int c, char **mountp, char **ownp)
{
    int error;

    pthread_mutex_lock(&where.mutex);
    if (!where.done[c]) {
        if (c == CGROUP_N_CONTROLLERS) {
            where.mount[c] = xstrdup(CGROUP_ROOT);
            where.error[c] = own_group(NULL, &where.own[c]);
        } else {
            where.error[c] = v1_mount_point(controller_names[c], &where.mount[c]);
            if (where.error[c]) {
                log_err("cgroup: no v1 hierarchy with controller %s is mounted",
                        controller_names[c]);
            } else {
                where.error[c] = own_group(controller_names[c], &where.own[c]);
            }
        }
        if (where.error[c] && where.mount[c]) {
            log_err("cgroup: cannot find our own %s group in /proc/self/cgroup",
                    c == CGROUP_N_CONTROLLERS ? "v2" : controller_names[c]);
        }
        where.done[c] = true;
    }
    error = where.error[c];
    if (!error) {
        *mountp = xstrdup(where.mount[c]);
        *ownp = xstrdup(where.own[c]);
    }
    pthread_mutex_unlock(&where.mutex);
    return error;
}

/* Writes 'value' into DIR/FILE. */
static int
write_knob(const char *dir, const char *file, const char *value)
{
    char *path = xasprintf("%s/%s", dir, file);
    int error = 0;
    int fd;

    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        error = errno;
        goto out;
    }
    error = write_fully(fd, value, strlen(value));
    close(fd);
out:
    free(path);
    return error;
}

/* Reads DIR/FILE, without its trailing newline. */
static int
read_knob(const char *dir, const char *file, char **valuep)
{
    char *path = xasprintf("%s/%s", dir, file);
    char *value;
    size_t len;
    int error;

    error = read_file(path, &value, &len);
    free(path);
    if (error) {
        return error;
    }
    while (len && (value[len - 1] == '\n' || value[len - 1] == ' ')) {
        value[--len] = '\0';
    }
    *valuep = value;
    return 0;
}

static int
read_knob_u64(const char *dir, const char *file, uint64_t *valuep)
{
    char *value, *end;
    int error;

    error = read_knob(dir, file, &value);
    if (error) {
        return error;
    }
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (errno || end == value || *end) {
        error = EPROTO;
    } else {
        *valuep = v;
    }
    free(value);
    return error;
}

/* True if controller 'c' shares its directory with an earlier controller. */
static bool
is_shared(const struct cgroup *cg, int c)
{
    for (int i = 0; i < c; i++) {
        if (cg->dirs[i] && !strcmp(cg->dirs[i], cg->dirs[c])) {
            return true;
        }
    }
    return false;
}

void
cgroup_free(struct cgroup *cg)
{
    for (int c = 0; c < CGROUP_N_CONTROLLERS; c++) {
        free(cg->dirs[c]);
        free(cg->parents[c]);
    }
    free(cg);
}

/* Makes 'dir' unless it exists, recording it first. Sets *madep when this call made it. */
static int
make_dir(struct manifest *manifest, const char *dir, bool *madep)
{
    int error;

    *madep = false;
    if (cgroup_dir_exists(dir)) {
        return 0;
    }
    if (manifest) {
        error = manifest_record_cgroup(manifest, dir);
        if (error) {
            return error;
        }
    }
    if (mkdir(dir, 0755) && errno != EEXIST) {
        return errno;
    }
    *madep = true;
    return 0;
}

static int
apply_limits(const struct cgroup *cg, const struct cgroup_limits *limits)
{
    const char *cpu_dir = cg->dirs[CGROUP_CPU];
    const char *mem_dir = cg->dirs[CGROUP_MEMORY];
    char value[64];
    int error;

    if (limits->cpus > 0) {
        uint64_t period = limits->period_us ? limits->period_us : CGROUP_PERIOD_DEFAULT_US;
        uint64_t quota = MAX(cgroup_quota_us(limits->cpus, period), CGROUP_QUOTA_MIN_US);
        if (cg->version == CGROUP_V1) {
            /* A new group has no quota yet: any period goes with it. */
            snprintf(value, sizeof value, "%" PRIu64, period);
            error = write_knob(cpu_dir, "cpu.cfs_period_us", value);
            if (error) {
                return error;
            }
            snprintf(value, sizeof value, "%" PRIu64, quota);
            error = write_knob(cpu_dir, "cpu.cfs_quota_us", value);
        } else {
            snprintf(value, sizeof value, "%" PRIu64 " %" PRIu64, quota, period);
            error = write_knob(cpu_dir, "cpu.max", value);
        }
        if (error) {
            return error;
        }
    }
    if (limits->memory) {
        snprintf(value, sizeof value, "%" PRIu64, limits->memory);
        error = write_knob(mem_dir, cg->version == CGROUP_V1 ? "memory.limit_in_bytes"
                           : "memory.max", value);
        if (error) {
            return error;
        }
    }
    return 0;
}

/* The instance's group (PARENT) outweighs every other group at its level. The guests share
 * one CPU (pinned), and the instance's group had the weight of any one other process's group
 * (an autogroup): a compiler or a simulator beside a run took half that CPU whenever the
 * guests were runnable (bench/nham.sh: 0.44 of a CPU, capacity -40-55%). At the maximum weight
 * (v1 262144, v2 10000: 256 and 100 times the default) such a process gets what the guests
 * leave. The guests' own weights among themselves stay equal. */
static int
weigh_parent(const struct cgroup *cg)
{
    return cg->version == CGROUP_V1 ? write_knob(cg->parents[CGROUP_CPU], "cpu.shares", "262144")
                                    : write_knob(cg->parents[CGROUP_CPU], "cpu.weight", "10000");
}

/* In v2 a child gets the cpu and memory controllers only if its parent delegates them. */
static int
v2_delegate(const char *dir)
{
    char *controllers;
    int error;

    error = read_knob(dir, "cgroup.subtree_control", &controllers);
    if (error) {
        return error;
    }
    bool has_cpu = strstr(controllers, "cpu") != NULL;
    bool has_mem = strstr(controllers, "memory") != NULL;
    free(controllers);
    if (!has_cpu) {
        error = write_knob(dir, "cgroup.subtree_control", "+cpu");
    }
    if (!error && !has_mem) {
        error = write_knob(dir, "cgroup.subtree_control", "+memory");
    }
    return error;
}

/* Finds PARENT/NAME in every hierarchy and, when 'create', makes them and applies 'limits'. */
static int
cgroup_setup(struct manifest *manifest, const char *parent, const char *name,
             const struct cgroup_limits *limits, bool create, struct cgroup **cgp)
{
    struct cgroup *cg = xzalloc(sizeof *cg);
    bool made[CGROUP_N_CONTROLLERS] = { false };
    char *mount = NULL, *own = NULL;
    int error = 0;

    if (strchr(parent, '/') || strchr(name, '/') || !*name || !*parent) {
        error = EINVAL;
        goto out;
    }
    cg->version = cgroup_detect();
    for (int c = 0; c < CGROUP_N_CONTROLLERS; c++) {
        bool made_parent;
        free(mount);
        free(own);
        mount = own = NULL;
        if (cg->version == CGROUP_V2 && c > 0) {
            cg->dirs[c] = xstrdup(cg->dirs[0]);
            cg->parents[c] = xstrdup(cg->parents[0]);
            continue;
        }
        error = cgroup_where(cg->version == CGROUP_V2 ? CGROUP_N_CONTROLLERS : c, &mount, &own);
        if (error) {
            goto out;
        }
        const char *sep = own[strlen(own) - 1] == '/' ? "" : "/";
        cg->parents[c] = xasprintf("%s%s%s%s", mount, own, sep, parent);
        cg->dirs[c] = xasprintf("%s/%s", cg->parents[c], name);
        if (is_shared(cg, c)) {
            continue;
        }
        if (!create) {
            if (!cgroup_dir_exists(cg->dirs[c])) {
                error = ENOENT;
                goto out;
            }
            continue;
        }
        if (cg->version == CGROUP_V2) {
            char *own_dir = xasprintf("%s%s", mount, own);
            error = v2_delegate(own_dir);
            if (error) {
                log_err("cgroup: cannot delegate cpu and memory below %s: %s", own_dir,
                        strerror(error));
            }
            free(own_dir);
            if (error) {
                goto out;
            }
        }
        error = make_dir(manifest, cg->parents[c], &made_parent);
        if (!error && cg->version == CGROUP_V2) {
            error = v2_delegate(cg->parents[c]);
        }
        if (!error && made_parent && c == CGROUP_CPU) {
            error = weigh_parent(cg);
        }
        if (!error) {
            error = make_dir(manifest, cg->dirs[c], &made[c]);
            if (!error && !made[c]) {
                error = EEXIST;     /* Another guest of this name is alive. */
            }
        }
        if (error) {
            log_err("cgroup: cannot make %s: %s", cg->dirs[c], strerror(error));
            goto out;
        }
    }
    error = create ? apply_limits(cg, limits) : 0;
    if (error) {
        log_err("cgroup: cannot set limits on %s: %s", cg->dirs[CGROUP_CPU], strerror(error));
    }

out:
    free(mount);
    free(own);
    if (error && create) {
        for (int c = CGROUP_N_CONTROLLERS - 1; c >= 0; c--) {
            if (made[c]) {
                rmdir(cg->dirs[c]);
            }
            if (cg->parents[c]) {
                rmdir(cg->parents[c]);  /* Only succeeds if it is empty. */
            }
        }
    }
    if (error) {
        cgroup_free(cg);
    } else {
        *cgp = cg;
    }
    return error;
}

int
cgroup_create(struct manifest *manifest, const char *parent, const char *name,
              const struct cgroup_limits *limits, struct cgroup **cgp)
{
    /* One at a time (`up` makes guests from several threads): a shared PARENT is then recorded
     * once, before any child, so that undo (newest first) never meets it while a child of a
     * thread that recorded it earlier is still there. */
    static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
    int error;

    pthread_mutex_lock(&mutex);
    error = cgroup_setup(manifest, parent, name, limits, true, cgp);
    pthread_mutex_unlock(&mutex);
    return error;
}

int
cgroup_open(const char *parent, const char *name, struct cgroup **cgp)
{
    return cgroup_setup(NULL, parent, name, NULL, false, cgp);
}

int
cgroup_destroy(struct cgroup *cg)
{
    int error = 0;

    if (!cg) {
        return 0;
    }
    for (int c = 0; c < CGROUP_N_CONTROLLERS; c++) {
        if (!cg->dirs[c] || is_shared(cg, c)) {
            continue;
        }
        /* cgroup_split_threads()'s children, if any: the group is removed only without them
         * (their tasks are gone with the group's). */
        for (size_t k = 0; k < 2; k++) {
            char *child = xasprintf("%s/%s", cg->dirs[c],
                                    k ? CGROUP_THREADS_REST : CGROUP_THREADS_OWN);
            for (int tries = 0; rmdir(child) && errno == EBUSY && tries < 1000; tries++) {
                sleep_ms(1);
            }
            free(child);
        }
        /* A task that was just killed leaves its groups a moment after its parent reaps it. */
        for (int tries = 0; ; tries++) {
            if (!rmdir(cg->dirs[c]) || errno == ENOENT) {
                break;
            }
            if (errno != EBUSY || tries >= 1000) {
                error = error ? error : errno;
                log_warn("cgroup: cannot remove %s: %s", cg->dirs[c], strerror(errno));
                break;
            }
            sleep_ms(1);
        }
    }
    for (int c = 0; c < CGROUP_N_CONTROLLERS; c++) {
        if (cg->parents[c] && !is_shared(cg, c)) {
            rmdir(cg->parents[c]);  /* Other guests of the instance may still be in it. */
        }
    }
    cgroup_free(cg);
    return error;
}

int
cgroup_set_rt_runtime(const struct cgroup *cg, uint64_t runtime_us)
{
    const char *dir = cg->dirs[CGROUP_CPU], *parent = cg->parents[CGROUP_CPU];
    uint64_t cur, parent_cur;
    char value[32];
    int error;

    if (cg->version != CGROUP_V1 || !dir || !parent) {
        return ENOTSUP;
    }
    error = read_knob_u64(dir, "cpu.rt_runtime_us", &cur);
    if (error) {
        return error == ENOENT ? ENOTSUP : error;
    }
    if (runtime_us > cur) {
        /* A group's children together get no more than it has (the kernel refuses it). */
        error = read_knob_u64(parent, "cpu.rt_runtime_us", &parent_cur);
        if (!error) {
            snprintf(value, sizeof value, "%" PRIu64, parent_cur + (runtime_us - cur));
            error = write_knob(parent, "cpu.rt_runtime_us", value);
        }
        if (error) {
            return error;
        }
    }
    snprintf(value, sizeof value, "%" PRIu64, runtime_us);
    return write_knob(dir, "cpu.rt_runtime_us", value);
}

int
cgroup_split_threads(const struct cgroup *cg, struct manifest *manifest, pid_t pid,
                     const char *thread, const struct cgroup_limits *limits)
{
    static const char *const children[] = { CGROUP_THREADS_OWN, CGROUP_THREADS_REST };
    static const int controllers[] = { CGROUP_CPU, CGROUP_CPUACCT };
    struct proc_task *tasks = NULL;
    size_t n = 0, named = 0;
    int error;

    if (cg->version != CGROUP_V1) {
        return ENOTSUP;
    }
    /* One look for every hierarchy: a thread named meanwhile would otherwise land in different
     * children of each. */
    error = proc_tasks(pid, &tasks, &n);
    if (error) {
        return error;
    }
    for (size_t t = 0; t < n; t++) {
        named += !strcmp(tasks[t].name, thread);
    }
    if (!named) {
        free(tasks);
        return ENOENT;
    }
    for (size_t i = 0; !error && i < ARRAY_SIZE(controllers); i++) {
        int c = controllers[i];

        if (!cg->dirs[c] || is_shared(cg, c)) {
            continue;
        }
        for (size_t k = 0; !error && k < ARRAY_SIZE(children); k++) {
            struct cgroup child = { .version = cg->version };
            struct cgroup_limits cpu = { .cpus = limits->cpus, .period_us = limits->period_us };
            bool made;

            child.dirs[CGROUP_CPU] = xasprintf("%s/%s", cg->dirs[c], children[k]);
            error = make_dir(manifest, child.dirs[CGROUP_CPU], &made);
            if (!error && c == CGROUP_CPU) {
                error = apply_limits(&child, &cpu);
            }
            for (size_t t = 0; !error && t < n; t++) {
                bool own = !strcmp(tasks[t].name, thread);
                char tid[16];

                if (own != (k == 0)) {
                    continue;
                }
                snprintf(tid, sizeof tid, "%d", (int) tasks[t].tid);
                error = write_knob(child.dirs[CGROUP_CPU], "tasks", tid);
                if (error == ESRCH) {
                    error = 0;          /* It ended meanwhile. */
                }
            }
            if (error) {
                log_err("cgroup: cannot move threads of %d into %s: %s", (int) pid,
                        child.dirs[CGROUP_CPU], strerror(error));
            }
            free(child.dirs[CGROUP_CPU]);
        }
    }
    free(tasks);
    return error;
}

int
cgroup_join(const struct cgroup *cg, pid_t pid)
{
    char value[32];

    snprintf(value, sizeof value, "%ld", (long) pid);
    for (int c = 0; c < CGROUP_N_CONTROLLERS; c++) {
        if (!is_shared(cg, c)) {
            int error = write_knob(cg->dirs[c], "cgroup.procs", value);
            if (error) {
                return error;
            }
        }
    }
    return 0;
}

int
cgroup_open_procs(const struct cgroup *cg, int fds[])
{
    for (int c = 0; c < CGROUP_N_CONTROLLERS; c++) {
        fds[c] = -1;
    }
    for (int c = 0; c < CGROUP_N_CONTROLLERS; c++) {
        if (is_shared(cg, c)) {
            continue;
        }
        char *path = xasprintf("%s/cgroup.procs", cg->dirs[c]);
        fds[c] = open(path, O_WRONLY | O_CLOEXEC);
        free(path);
        if (fds[c] < 0) {
            int error = errno;
            cgroup_close_fds(fds);
            return error;
        }
    }
    return 0;
}

int
cgroup_join_fds(const int fds[])
{
    for (int c = 0; c < CGROUP_N_CONTROLLERS; c++) {
        if (fds[c] >= 0 && write(fds[c], "0", 1) != 1) {
            return errno;
        }
    }
    return 0;
}

void
cgroup_close_fds(int fds[])
{
    for (int c = 0; c < CGROUP_N_CONTROLLERS; c++) {
        if (fds[c] >= 0) {
            close(fds[c]);
            fds[c] = -1;
        }
    }
}

int
cgroup_freeze(const struct cgroup *cg, bool frozen)
{
    const char *dir = cg->dirs[CGROUP_FREEZER];
    const char *file, *want, *value;
    int error;

    if (cg->version == CGROUP_V1) {
        file = "freezer.state";
        value = want = frozen ? "FROZEN" : "THAWED";
    } else {
        file = "cgroup.events";
        value = frozen ? "1" : "0";
        want = frozen ? "frozen 1" : "frozen 0";
    }
    error = write_knob(dir, cg->version == CGROUP_V1 ? "freezer.state" : "cgroup.freeze", value);
    if (error) {
        return error;
    }
    /* Freezing is asynchronous: v1 passes through FREEZING, v2 raises "frozen" in
     * cgroup.events once every task has stopped. */
    for (int tries = 0; tries < 2000; tries++) {
        char *state;
        error = read_knob(dir, file, &state);
        if (error) {
            return error;
        }
        bool done = strstr(state, want) != NULL;
        free(state);
        if (done) {
            return 0;
        }
        if (cg->version == CGROUP_V1 && tries % 100 == 99) {
            /* v1 retries a stuck freeze only when asked again. */
            write_knob(dir, "freezer.state", value);
        }
        sleep_ms(1);
    }
    return ETIMEDOUT;
}

bool
cgroup_is_frozen(const struct cgroup *cg)
{
    const char *dir = cg->dirs[CGROUP_FREEZER];
    bool frozen = false;
    char *state;

    if (cg->version == CGROUP_V1) {
        if (!read_knob(dir, "freezer.state", &state)) {
            frozen = strcmp(state, "THAWED") != 0;
            free(state);
        }
    } else if (!read_knob(dir, "cgroup.freeze", &state)) {
        frozen = !strcmp(state, "1");
        free(state);
    }
    return frozen;
}

int
cgroup_read_limits(const struct cgroup *cg, struct cgroup_limits *limits)
{
    struct cgroup_limits l = { 0 };
    char *value = NULL;
    int error;

    if (cg->version == CGROUP_V1) {
        uint64_t period, memory;
        char *quota;
        error = read_knob_u64(cg->dirs[CGROUP_CPU], "cpu.cfs_period_us", &period);
        if (!error) {
            error = read_knob(cg->dirs[CGROUP_CPU], "cpu.cfs_quota_us", &quota);
        }
        if (error) {
            return error;
        }
        long long q = strtoll(quota, NULL, 10);
        free(quota);
        l.cpus = q > 0 && period ? (double) q / (double) period : 0;
        l.period_us = l.cpus > 0 ? period : 0;
        error = read_knob_u64(cg->dirs[CGROUP_MEMORY], "memory.limit_in_bytes", &memory);
        if (error) {
            return error;
        }
        /* "Unlimited" reads back as the largest page-aligned value. */
        l.memory = memory >= (UINT64_C(1) << 62) ? 0 : memory;
    } else {
        unsigned long long q, p;
        error = read_knob(cg->dirs[CGROUP_CPU], "cpu.max", &value);
        if (error) {
            return error;
        }
        if (sscanf(value, "%llu %llu", &q, &p) == 2 && p) {
            l.cpus = (double) q / (double) p;
            l.period_us = p;
        }
        free(value);
        error = read_knob(cg->dirs[CGROUP_MEMORY], "memory.max", &value);
        if (error) {
            return error;
        }
        l.memory = strcmp(value, "max") ? strtoull(value, NULL, 10) : 0;
        free(value);
    }
    *limits = l;
    return 0;
}

int
cgroup_read_stats(const struct cgroup *cg, uint64_t *cpu_ns, uint64_t *mem_bytes)
{
    uint64_t cpu, mem;
    int error;

    if (cg->version == CGROUP_V1) {
        error = read_knob_u64(cg->dirs[CGROUP_CPUACCT], "cpuacct.usage", &cpu);
        if (!error) {
            error = read_knob_u64(cg->dirs[CGROUP_MEMORY], "memory.usage_in_bytes", &mem);
        }
    } else {
        char *stat;
        error = read_knob(cg->dirs[CGROUP_CPU], "cpu.stat", &stat);
        if (error) {
            return error;
        }
        const char *p = strstr(stat, "usage_usec ");
        unsigned long long usec = 0;
        if (!p || sscanf(p, "usage_usec %llu", &usec) != 1) {
            error = EPROTO;
        }
        free(stat);
        cpu = usec * 1000;
        if (!error) {
            error = read_knob_u64(cg->dirs[CGROUP_MEMORY], "memory.current", &mem);
        }
    }
    if (error) {
        return error;
    }
    *cpu_ns = cpu;
    *mem_bytes = mem;
    return 0;
}

int
cgroup_read_pids(const struct cgroup *cg, pid_t **pidsp, size_t *np)
{
    char *text = NULL, *p, *end;
    pid_t *pids = NULL;
    size_t n = 0, cap = 0;
    int error;

    /* The freezer's group holds every task of the guest, in v1 and v2 alike. */
    error = read_knob(cg->dirs[CGROUP_FREEZER], "cgroup.procs", &text);
    if (error) {
        return error;
    }
    for (p = text; *p; p = end) {
        long v = strtol(p, &end, 10);
        if (end == p) {
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            pids = xrealloc(pids, cap * sizeof *pids);
        }
        pids[n++] = v;
        while (*end == '\n') {
            end++;
        }
    }
    free(text);
    *pidsp = pids;
    *np = n;
    return 0;
}
