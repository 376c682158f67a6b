/* provider — guests and the providers that make them (netns today; lxc and kvm later).
 *
 * A provider is a struct of function pointers, as OVS's netdev_class: one file per provider
 * (provider_netns.c, ...) and one line in the table of provider.c. Callers use the guest_*()
 * wrappers and never look inside a provider. Everything a provider creates on the host is
 * recorded in the manifest it is given before it is created, so a crashed run is undone by
 * manifest_undo(). A provider never touches the instance's host network namespace: wiring
 * links is the caller's job, with guest_netns_fd() and the link module.
 *
 * The life of a guest: guest_create() (cgroups and limits, nothing runs) -> guest_start() (its
 * init runs) -> guest_pause()/guest_resume() -> guest_stop() -> guest_destroy().
 * Main types: struct guest_provider, struct guest_config, struct guest. */
#ifndef SFC_PROVIDER_H
#define SFC_PROVIDER_H 1

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct cgroup;
struct manifest;

enum guest_state {
    GUEST_STOPPED,              /* Created, or stopped on purpose. */
    GUEST_RUNNING,
    GUEST_PAUSED,               /* Frozen: its processes get no CPU, its kernel stack works. */
    GUEST_GONE,                 /* Its init died without being asked to (a crash). */
};

const char *guest_state_name(enum guest_state);

struct guest_config {
    const char *name;           /* Unique in the instance; [A-Za-z0-9_.-], at most 63 bytes. */
    const char *hostname;       /* NULL: the name. */
    double cpus;                /* CPU quota in cores; 0: unlimited. */
    uint64_t memory;            /* Bytes; 0: unlimited. */
    const char *instance;       /* The testbed instance's name. */
    const char *cgroup_parent;  /* NULL: "sfclab-<instance>". */
    const char *sfcd;           /* Path of the sfcd binary, run as the guest's init. */
    const char *run_dir;        /* Where the guest's log goes (<run_dir>/<name>.log); NULL:
                                 * init inherits our stdout and stderr. */
    char *const *init_args;     /* NULL, or arguments given to `sfcd init -- ...` (e.g. the
                                 * agent's role and options). */
    bool init_restart;          /* init restarts that program when it dies. */
    const uint8_t *init_secret; /* NULL, or GUEST_SECRET_BYTES that init gets on a pipe and
                                 * hands to its program on fd 3: never in a file. */
    const char *private_dir;    /* Non-NULL: the guest is confined (testbed/infra/confine.h), */
    const char *staging_dir;    /* this host directory its only writable one, its root built
                                 * on the empty directory 'staging_dir'. */
};

#define GUEST_SECRET_BYTES 32

/* Standard streams of a process started in a guest; -1 inherits the caller's. */
struct guest_exec_opts {
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
};

struct guest {
    const struct guest_provider *provider;
    char *name;
    char *hostname;
    char *instance;
    double cpus;
    uint64_t memory;
    char *sfcd;
    char *run_dir;
    char **init_args;
    bool init_restart;
    bool has_init_secret;
    uint8_t init_secret[GUEST_SECRET_BYTES];
    char *private_dir;          /* Confined when not NULL. */
    char *staging_dir;
    struct manifest *manifest;
    pid_t init_pid;             /* In our PID namespace; 0 while not running. */
    uint64_t init_start;        /* Start time of init (clock ticks since boot), for proc_is(). */
    uint64_t started_ns;        /* time_mono_ns() when it started. */
    struct cgroup *cgroup;
    enum guest_state stopped_state;   /* What state() says once init is gone. */
    int exit_status;            /* init's wait status once stopped or destroyed; -1 before. */
    void *priv;                 /* The provider's own. */
};

struct guest_provider {
    const char *name;

    /* Makes a guest that does not run yet. 'manifest' outlives the guest. */
    int (*create)(const struct guest_config *, struct manifest *, struct guest **);
    /* Finds a running guest that another process made, from its config and the init pid and
     * start time recorded then; ESRCH if that init is gone. The guest is not recorded again. */
    int (*attach)(const struct guest_config *, pid_t, uint64_t start, struct guest **);
    int (*start)(struct guest *);
    /* Asks init to stop (SIGTERM), SIGKILLs it after 'grace_ns', waits until it is gone. */
    int (*stop)(struct guest *, uint64_t grace_ns);
    /* Kills what still runs, removes what create made, frees the guest. */
    int (*destroy)(struct guest *);

    /* Starts argv (argv[0] looked up in the guest's PATH) inside every namespace and group of
     * the guest; no shell is involved. Sets *pidp to the process, a child of the caller, which
     * the caller must wait for. Returns ENOENT etc. when exec fails (not reported while the
     * guest is paused: the process then starts frozen). */
    int (*exec)(struct guest *, char *const argv[], const struct guest_exec_opts *,
                pid_t *pidp);
    int (*pause)(struct guest *);
    int (*resume)(struct guest *);
    enum guest_state (*state)(struct guest *);

    /* Opens the guest's network namespace (O_CLOEXEC); the caller closes the fd. */
    int (*netns_fd)(const struct guest *, int *fdp);
    /* CPU time and memory used by the guest. */
    int (*read_stats)(const struct guest *, uint64_t *cpu_ns, uint64_t *mem_bytes);
};

extern const struct guest_provider guest_provider_netns;

/* The provider called 'name', or NULL. */
const struct guest_provider *guest_provider_find(const char *name);
/* Writes the names of all providers, comma-separated, for error messages. */
const char *guest_provider_names(void);

int guest_create(const char *provider, const struct guest_config *, struct manifest *,
                 struct guest **);
int guest_attach(const char *provider, const struct guest_config *, pid_t, uint64_t start,
                 struct guest **);
/* Frees 'g' and leaves the guest running (the counterpart of attach and create+start). */
void guest_release(struct guest *);
int guest_start(struct guest *);
int guest_stop(struct guest *, uint64_t grace_ns);
int guest_destroy(struct guest *);
int guest_exec(struct guest *, char *const argv[], const struct guest_exec_opts *, pid_t *);
/* Runs argv in the guest and waits for it; *statusp is as from waitpid(). */
int guest_exec_wait(struct guest *, char *const argv[], const struct guest_exec_opts *,
                    int *statusp);
int guest_pause(struct guest *);
int guest_resume(struct guest *);
enum guest_state guest_state(struct guest *);
int guest_netns_fd(const struct guest *, int *fdp);
int guest_read_stats(const struct guest *, uint64_t *cpu_ns, uint64_t *mem_bytes);
/* Calls fn(aux) with the calling thread inside the guest's network namespace only, and
 * returns what it returns (or an errno if the namespace cannot be entered): sockets and
 * netlink sockets made by 'fn' stay bound to the guest's namespace. */
int guest_run_in_netns(const struct guest *, int (*fn)(void *aux), void *aux);

/* For providers: fills the common fields of 'g' from 'cfg'. */
int guest_init_common(struct guest *, const struct guest_provider *, const struct guest_config *,
                      struct manifest *);
void guest_free_common(struct guest *);

#endif
