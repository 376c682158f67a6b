/* provider — guests and the providers that make them (netns, test; lxc and kvm later).
 *
 * A provider is a struct of function pointers, as OVS's netdev_class or a libvirt driver: one
 * file per provider (provider_netns.c, provider_test.c, ...) and its name in the registry of
 * provider.c. Callers use the guest_*() wrappers only and never look inside a provider: what a
 * provider needs to find its guest again (a pid, a domain name) is in its private data, and
 * leaves the process only as the opaque string of guest_handle(), which guest_attach() takes
 * back. Everything a provider creates on the host is recorded in the manifest it is given
 * before it is created, so a crashed run is undone by manifest_undo().
 *
 * A provider never touches the instance's switch: guest_plug_iface() makes the guest's end of a
 * link and its host end, named as asked, in the instance's host namespace (a veth for netns; a
 * tap or libvirt's type='ethernet' for VMs and containers); the caller adds that host end to
 * its bridge.
 *
 * The life of a guest: guest_create() (its limits, nothing runs) -> guest_start() (its init
 * runs) -> guest_plug_iface() -> guest_pause()/guest_resume() -> guest_stop()
 * -> guest_destroy().
 * Main types: struct guest_provider, struct guest_config, struct guest, struct guest_iface,
 * struct guest_stats. */
#ifndef SFC_PROVIDER_H
#define SFC_PROVIDER_H 1

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct guest_iface;
struct link_ns;
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
    uint64_t cpu_period_us;     /* The quota's period (cgroup.h's range); 0: 100 ms. */
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
    /* The interfaces guest_plug_iface() will be asked for after start, in that order, when
     * the caller knows them at create (NULL: unknown). A provider may make them at start: a
     * VM then boots with its NICs (no PCI hot-plug, which cost seconds each under TCG) and
     * plug_iface only configures them. Copied: the array need not outlive create. */
    const struct guest_iface *ifaces;
    size_t n_ifaces;
    /* The guest will be saved whole (guest_checkpoint(), NHAM's `vm` backend): nothing of the
     * host is shared into it that would stop a save (a VM's 9p export of its directory; its
     * roles' files then stay inside, keys come through put_file). */
    bool savable;
};

#define GUEST_SECRET_BYTES 32
/* The largest file guest_put_file() hands over (keys are 32 bytes). */
#define GUEST_FILE_MAX_BYTES 64

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
    uint64_t cpu_period_us;
    uint64_t memory;
    char *sfcd;
    char *run_dir;
    char **init_args;
    bool init_restart;
    bool has_init_secret;
    uint8_t init_secret[GUEST_SECRET_BYTES];
    bool savable;               /* guest_config.savable. */
    char *private_dir;          /* Confined when not NULL. */
    char *staging_dir;
    struct manifest *manifest;
    uint64_t started_ns;        /* time_mono_ns() when it started. */
    int exit_status;            /* init's wait status once stopped or destroyed; -1 before (or
                                 * when the provider cannot know it). */
    void *priv;                 /* The provider's own: never read outside it. */
};

/* One interface of a guest, as guest_plug_iface() makes it. */
struct guest_iface {
    const char *ifname;         /* In the guest: eth0, eth1, ... */
    const char *port;           /* The host end, at most 15 bytes. */
    const uint8_t *mac;         /* The guest end's MAC (6 bytes), or NULL. */
    bool has_addr;              /* Else the interface carries only Ethernet. */
    struct in_addr addr;
    int prefix_len;
};

struct guest_stats {
    uint64_t cpu_ns;            /* CPU time used by everything in the guest so far. */
    uint64_t mem_bytes;         /* Memory charged to the guest now. */
};

struct guest_provider {
    const char *name;
    /* True if guests exist only inside this process (the test provider): an instance of such
     * guests needs no host namespace and no switch, and no root. */
    bool in_memory;
    /* True if a guest shares the host's kernel and sees its directory (the instance's
     * guests/NAME) at its host path: a Unix socket bound there by the orchestrator is one the
     * guest can reach (netns). Else what a guest sends the host goes over the management
     * network. */
    bool local_sockets;
    /* How long its agent may take to answer at deploy, in ms (0: 5000). A VM under TCG on a
     * loaded host (load 30) missed 5 s. */
    int agent_timeout_ms;

    /* Makes a guest that does not run yet. 'manifest' outlives the guest. */
    int (*create)(const struct guest_config *, struct manifest *, struct guest **);
    /* A string, free()d by the caller, from which attach() in another process finds this guest
     * again (for netns "PID STARTTIME"); NULL while it does not run. */
    char *(*handle)(const struct guest *);
    /* Finds a running guest that another process made, from its config and handle(); ESRCH if
     * it is gone. The guest is not recorded again. */
    int (*attach)(const struct guest_config *, const char *handle, struct guest **);
    /* Frees 'g' and leaves the guest as it is. */
    void (*release)(struct guest *);
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

    /* Makes interface 'iface' in the running guest, with its address, and its host end
     * iface->port in the namespace of 'host' (NULL for in-memory providers), both up. */
    int (*plug_iface)(struct guest *, struct link_ns *host, const struct guest_iface *);
    /* Sets the guest's interface 'ifname' up or down (a cut link). NULL: through link_ns. */
    int (*set_link)(struct guest *, const char *ifname, bool up);
    /* A permanent neighbour entry ip -> mac on the guest's 'ifname' (static ARP). NULL:
     * through link_ns. */
    int (*neigh_add)(struct guest *, const char *ifname, struct in_addr ip,
                     const uint8_t mac[6]);
    /* For guests whose network namespace netlink reaches from here (netns, lxc): netlink in
     * it, kept by the guest (the caller does not close it). Required where set_link or
     * neigh_add is NULL. */
    int (*link_ns)(struct guest *, struct link_ns **);
    /* Runs everything in the guest, now and later, on CPU 'cpu' only; cpu < 0: on every CPU. */
    int (*pin)(struct guest *, int cpu);
    int (*stats)(const struct guest *, struct guest_stats *);
    /* Optional: lets the guest's processes run at a real-time priority for at most
     * 'runtime_us' per real-time period (1 s) of each CPU (guest_set_rt_runtime()). */
    int (*set_rt_runtime)(struct guest *, uint64_t runtime_us);
    /* Optional: a CPU quota of 'cpus' cores per 'period_us' for the threads of host process
     * 'pid' named 'thread', and one more for its other threads (guest_split_threads()). */
    int (*split_threads)(struct guest *, pid_t pid, const char *thread, double cpus,
                         uint64_t period_us);

    /* Optional (NULL: ENOTSUP). */
    /* Opens the guest's Linux network namespace (O_CLOEXEC); the caller closes the fd. */
    int (*netns_fd)(const struct guest *, int *fdp);
    /* Checkpoints the whole guest to 'path' and stops it / starts it again from 'path' (NHAM's
     * `vm` backend: virDomainSave/Restore). After restore the host ends of its interfaces are
     * back in the host namespace and up, but as new devices: the caller adds them to its
     * switch again. */
    int (*save)(struct guest *, const char *path);
    /* A guest that still runs is destroyed first: its image replaces it (a recovery). */
    int (*restore)(struct guest *, const char *path);
    /* Optional: writes the whole guest to a new file 'path', as save does, and the guest goes
     * on running (kvm: a live external memory snapshot, whose file restore takes). */
    int (*checkpoint)(struct guest *, const char *path);
    /* Writes 'len' bytes (at most GUEST_FILE_MAX_BYTES) as a new file 'path', in the guest's
     * own directory (guest_config.private_dir), that the guest's roles read and nobody else
     * (a key). For guests that do not see host files as root wrote them: a VM's directory is
     * shared through its emulator's user, or not at all. NULL: the host writes it, mode 0600
     * (the guest's root is the host's). */
    int (*put_file)(struct guest *, const char *path, const void *data, size_t len);
    /* For in-memory providers (the test provider), which have no management network: a
     * stream connected to the guest's agent, which the caller closes (the agent speaks
     * vnfs/lib/rpc.h, unkeyed: nothing leaves the process). NULL: the agent is reached over
     * the instance's management network. */
    int (*agent_connect)(struct guest *, int *fdp);
    /* Whether this host can run the provider's guests (kernel features, daemons), without
     * touching anything; false with why in '*whyp' (caller frees). NULL: always. */
    bool (*usable)(char **whyp);
    /* Optional: a fact of this host that changes every number its guests give (kvm: KVM or
     * TCG, and why), recorded with each run's host facts under 'host_fact_name'. */
    const char *host_fact_name;
    const char *(*host_fact)(void);
};

/* The provider of a guest that names none (topologies, experiments, instance.json). */
#define GUEST_PROVIDER_DEFAULT "netns"

/* The provider called 'name', or NULL. */
const struct guest_provider *guest_provider_find(const char *name);
/* Whether provider 'name' is built into this sfclab and this host can run it; false with why
 * in '*whyp' (caller frees). What `sfclab check` and the runner ask before any run row. */
bool guest_provider_usable(const char *name, char **whyp);
/* Whether provider 'name' saves and restores whole guests (guest_can_save() of its guests). */
bool guest_provider_can_save(const char *name);
/* Provider 'name''s host fact (see struct guest_provider): false if it has none. */
bool guest_provider_host_fact(const char *name, const char **keyp, const char **valuep);
/* Writes the names of all providers, comma-separated, for error messages. */
const char *guest_provider_names(void);

int guest_create(const char *provider, const struct guest_config *, struct manifest *,
                 struct guest **);
/* guest_handle() is NULL while the guest does not run; free() it. */
char *guest_handle(const struct guest *);
int guest_attach(const char *provider, const struct guest_config *, const char *handle,
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
int guest_plug_iface(struct guest *, struct link_ns *host, const struct guest_iface *);
int guest_set_link(struct guest *, const char *ifname, bool up);
int guest_neigh_add(struct guest *, const char *ifname, struct in_addr ip, const uint8_t mac[6]);
int guest_pin(struct guest *, int cpu);
int guest_stats(const struct guest *, struct guest_stats *);
/* Lets the guest's processes be made real-time (SCHED_FIFO) for at most 'runtime_us' of CPU
 * per real-time period; beyond it the kernel stops them until the next period. Where the
 * host's cgroups give a group no real-time time unless asked (RT group scheduling, cgroup
 * v1), sched_setscheduler() of a guest's process is refused without it. ENOTSUP when the
 * provider cannot (a VM's processes are its own kernel's). */
int guest_set_rt_runtime(struct guest *, uint64_t runtime_us);
/* Gives the threads named 'thread' of the guest's process 'pid' (the host's pid) a CPU quota
 * of 'cpus' cores of their own, and its other threads another as large, within the guest's
 * (e.g. FTC's forwarder beside its middlebox, vnfs/sfc/vnf_ftc.h). ENOENT while the process
 * has no such thread; ENOTSUP when the provider cannot: a VM's threads are its own kernel's
 * (kvm), lxc's groups are lxc's, and cgroup v2 (cgroup.h). The guest's quota is then the
 * threads' together, as it was. */
int guest_split_threads(struct guest *, pid_t pid, const char *thread, double cpus,
                        uint64_t period_us);
/* The same as two numbers. */
int guest_read_stats(const struct guest *, uint64_t *cpu_ns, uint64_t *mem_bytes);
/* ENOTSUP when the provider has no such hook. */
int guest_netns_fd(const struct guest *, int *fdp);
/* The host's pid of process 'nspid' of the guest's PID namespace (as its agent reports it),
 * for a guest that shares the host's kernel: the process in the guest's network namespace
 * whose innermost pid is 'nspid'. ESRCH if there is none (gone), ENOTSUP for a VM. */
int guest_host_pid(const struct guest *, pid_t nspid, pid_t *pidp);
/* A new file 'path' (in the guest's directory) holding 'data', readable by the guest's
 * roles and no other user: through the provider's put_file, else written here, mode 0600.
 * 'g' NULL: written here. An existing file is replaced. */
int guest_put_file(struct guest *, const char *path, const void *data, size_t len);
int guest_save(struct guest *, const char *path);
/* ENOTSUP when the provider cannot checkpoint a running guest. */
int guest_checkpoint(struct guest *, const char *path);
int guest_restore(struct guest *, const char *path);
bool guest_can_save(const struct guest *);
/* ENOTSUP when the provider's agents are reached over the management network. */
int guest_agent_connect(struct guest *, int *fdp);
/* Calls fn(aux) with the calling thread inside the guest's network namespace only, and
 * returns what it returns (or an errno if the namespace cannot be entered): sockets and
 * netlink sockets made by 'fn' stay bound to the guest's namespace. */
int guest_run_in_netns(const struct guest *, int (*fn)(void *aux), void *aux);

/* For providers: fills the common fields of 'g' from 'cfg'. */
int guest_init_common(struct guest *, const struct guest_provider *, const struct guest_config *,
                      struct manifest *);
void guest_free_common(struct guest *);
/* A pipe holding 'secret' (init reads its key from it to EOF: the write end is closed), its
 * read end, O_CLOEXEC, in '*fdp'. */
int guest_secret_pipe(const uint8_t secret[GUEST_SECRET_BYTES], int *fdp);
/* Pins every thread of process 'pid' to 'cpu' (< 0: every CPU). */
int guest_pin_process(pid_t, int cpu);
/* For providers with netns_fd: netlink in the guest's network namespace, opened the first time
 * into '*cache' (the provider closes it with the guest) and returned in '*nsp'. */
int guest_link_ns_open(struct guest *, struct link_ns **cache, struct link_ns **nsp);
/* The end of plug_iface, once both ends exist: in 'gns' (NULL: done inside the guest some
 * other way) the guest end f->ifname gets TX checksum offload off (or its TCP and UDP
 * checksums arrive broken), its address if any, and goes up; in 'host' the host end f->port
 * gets offload off and goes up. */
int guest_iface_up(struct link_ns *gns, struct link_ns *host, const struct guest_iface *f);

#endif
