/* cgroup — the control groups of one guest: CPU quota, memory limit, freezer, usage counters.
 *
 * Works on cgroup v1 (one hierarchy per controller: cpu, cpuacct, memory, freezer, wherever
 * they are mounted, possibly co-mounted) and on cgroup v2 (one directory with cpu.max,
 * memory.max, cgroup.freeze), chosen at run time from the filesystem at /sys/fs/cgroup.
 * A guest's groups are made under the caller's own group of each hierarchy (read from
 * /proc/self/cgroup), as PARENT/NAME, so sfclab works when it is itself confined.
 *
 * Every directory is recorded in the manifest before it is made. This module never kills
 * anything: cgroup_destroy() only removes directories whose processes are gone. It does not
 * fork and allocates nothing in cgroup_join_fds(), so a freshly forked child may use that.
 * Main types: struct cgroup, struct cgroup_limits. */
#ifndef SFC_CGROUP_H
#define SFC_CGROUP_H 1

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct manifest;

enum cgroup_version { CGROUP_V1 = 1, CGROUP_V2 = 2 };

/* The controllers a guest uses. In v2 they all share one directory. */
enum cgroup_controller {
    CGROUP_CPU,
    CGROUP_CPUACCT,
    CGROUP_MEMORY,
    CGROUP_FREEZER,
    CGROUP_N_CONTROLLERS
};

/* The CFS period a CPU quota is given per (v2's cpu.max, v1's cpu.cfs_period_us, libvirt's
 * <cputune>): the kernel takes 1 ms to 1 s, and no quota under 1 ms. The default is the
 * kernel's own. */
#define CGROUP_PERIOD_DEFAULT_US 100000
#define CGROUP_PERIOD_MIN_US 1000
#define CGROUP_PERIOD_MAX_US 1000000
#define CGROUP_QUOTA_MIN_US 1000

static inline bool
cgroup_period_ok(uint64_t period_us)
{
    return period_us >= CGROUP_PERIOD_MIN_US && period_us <= CGROUP_PERIOD_MAX_US;
}

/* The quota of 'cpus' cores per 'period_us' (0: the default), in microseconds; the kernel
 * refuses one under CGROUP_QUOTA_MIN_US. */
static inline uint64_t
cgroup_quota_us(double cpus, uint64_t period_us)
{
    return llround(cpus * (double) (period_us ? period_us : CGROUP_PERIOD_DEFAULT_US));
}

struct cgroup_limits {
    double cpus;                /* Cores of CPU time per period; 0: unlimited. */
    uint64_t period_us;         /* The quota's period; 0: CGROUP_PERIOD_DEFAULT_US. */
    uint64_t memory;            /* Bytes; 0: unlimited. */
};

/* One guest's groups: each controller's directory. Controllers that share a hierarchy (v2, or
 * co-mounted v1 controllers such as cpu,cpuacct) share a directory, joined and removed once. */
struct cgroup {
    enum cgroup_version version;
    char *dirs[CGROUP_N_CONTROLLERS];
    char *parents[CGROUP_N_CONTROLLERS];   /* PARENT directories (shared by an instance). */
};

/* The cgroup version of this host. */
enum cgroup_version cgroup_detect(void);

/* Makes PARENT/NAME in every hierarchy, records them in 'manifest' (may be NULL) first, and
 * applies 'limits'. On failure removes what it made and returns an errno. */
int cgroup_create(struct manifest *, const char *parent, const char *name,
                  const struct cgroup_limits *, struct cgroup **);
/* Finds the groups PARENT/NAME of a guest made earlier (by another sfclab process); ENOENT if
 * they are gone. Makes and records nothing. */
int cgroup_open(const char *parent, const char *name, struct cgroup **);
/* Frees 'cg' and leaves the groups as they are. */
void cgroup_free(struct cgroup *);
/* Removes the groups (retrying briefly while the kernel finishes exiting their tasks), then the
 * PARENT directories if they have become empty. Frees 'cg'. Returns 0 or the first errno; the
 * struct is freed either way. */
int cgroup_destroy(struct cgroup *);

/* Moves 'pid' (0: the caller) into every group of 'cg'. */
int cgroup_join(const struct cgroup *, pid_t pid);
/* For a child between fork and exec: opens each cgroup.procs for writing into 'fds' (at least
 * CGROUP_N_CONTROLLERS entries, -1 when unused) in the parent ... */
int cgroup_open_procs(const struct cgroup *, int fds[]);
/* ... and, in the child, writes "0" (itself) into each. Async-signal-safe. Returns 0 or errno. */
int cgroup_join_fds(const int fds[]);
void cgroup_close_fds(int fds[]);

/* The processes in the group now (malloc'd array). */
int cgroup_read_pids(const struct cgroup *, pid_t **pidsp, size_t *np);

/* Freezes or thaws every task of the group and waits (bounded, 2 s) until the kernel says the
 * whole group is frozen. */
int cgroup_freeze(const struct cgroup *, bool frozen);
/* Answers whether the group is frozen (or freezing). */
bool cgroup_is_frozen(const struct cgroup *);

/* Reads the limits back from the kernel, as configured (cpus = quota / period, and the period
 * when there is a quota). */
int cgroup_read_limits(const struct cgroup *, struct cgroup_limits *);
/* CPU time used by the group's tasks so far, and memory charged to it now. */
int cgroup_read_stats(const struct cgroup *, uint64_t *cpu_ns, uint64_t *mem_bytes);

/* Lets the group's tasks run at a real-time priority (SCHED_FIFO, SCHED_RR) for at most
 * 'runtime_us' of each real-time period of a CPU (cgroup v1's cpu.rt_runtime_us, with the
 * kernel's RT group scheduling). A new group has none: sched_setscheduler() of its tasks to a
 * real-time policy is refused (EPERM). The PARENT gets that much more than it had. ENOTSUP
 * when the hierarchy has no such knob (v2, or no RT group scheduling: a task may then be made
 * real-time anyway, bounded only by the kernel's global throttling). */
int cgroup_set_rt_runtime(const struct cgroup *, uint64_t runtime_us);

/* Splits process 'pid' of the group by its threads, in the cpu and cpuacct hierarchies: the
 * threads named 'thread' (their comm) into the child CGROUP_THREADS_OWN, the others into
 * CGROUP_THREADS_REST, each child with 'limits''s CPU quota, made (and recorded in 'manifest')
 * unless they exist. The group keeps its own quota, over both. A thread the process starts
 * later stays with the thread that started it. ENOENT while 'pid' has no such thread; ENOTSUP
 * on cgroup v2 (the cpu controller would need the group a threaded subtree). */
#define CGROUP_THREADS_OWN "own"
#define CGROUP_THREADS_REST "rest"
int cgroup_split_threads(const struct cgroup *, struct manifest *, pid_t pid,
                         const char *thread, const struct cgroup_limits *);
/* True if directory 'path' exists. */
bool cgroup_dir_exists(const char *path);

#endif
