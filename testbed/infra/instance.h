/* instance — one running testbed: a host network namespace, a private Open vSwitch with a
 * management bridge and the topology's data bridges, and the topology's guests wired to them.
 *
 * instance_up() builds it from a validated topology and leaves it running (the daemons and
 * guests outlive the sfclab process); instance_open() finds it again from its state directory
 * for exec, status, deploy and down. Everything is created through the instance's manifest, so
 * instance_down() and instance_clean() undo exactly what was made, whether `up` finished,
 * failed half-way, was interrupted or was killed. On any failure instance_up() undoes what it
 * made before returning.
 *
 * Guests can also be added and removed while the instance runs (instance_add_guest(), e.g. a
 * scheme's recovery starting a new VNF guest): each is recorded in the manifest before it is
 * made, like everything `up` makes, so `down` and `clean` still undo everything.
 *
 * The instance never looks inside a guest: it goes through the provider's guest_*() hooks. Its
 * switch is a small backend of its own: `ovs` (a host network namespace and a private Open
 * vSwitch in it) for real guests, or `memory` when every guest is in-memory (the test
 * provider), which needs no root and makes nothing on the host but the state directory; its
 * agents are reached through the provider (guest_agent_connect()) and its flows are kept in
 * memory for tests to read (instance_memory_flows()).
 *
 * Layout, for an instance NAME under STATE (default /run/sfclab):
 *   STATE/NAME/manifest        the ledger (testbed/infra/manifest.h)
 *   STATE/NAME/key             the instance's secret (0600): the agents' keys derive from it
 *   STATE/NAME/root            empty: where each confined guest builds its root
 *   STATE/NAME/guests/GUEST/   the guest's agent directory: the one host directory it sees
 *                              and may write (bound at the same path in the guest)
 *   STATE/NAME/instance.json   guests, pids, interfaces, addresses: what instance_open reads
 *   STATE/NAME/topology.yaml   the topology it was built from
 *   STATE/NAME/ovs/            the private OVS's database, sockets and logs
 *   STATE/NAME/guests/         guests' logs and agent directories, on a tmpfs (noexec)
 *   /run/netns/sfclab-NAME     the host-side network namespace
 * Main types: struct instance, struct instance_guest. */
#ifndef SFC_INSTANCE_H
#define SFC_INSTANCE_H 1

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct guest;
struct impair;
struct instance_switch;
struct link_ns;
struct manifest;
struct of_flow;
struct ovs;
struct topology;

struct instance_opts {
    const char *name;           /* Instance name: [a-z0-9_-], at most 32 bytes. */
    const char *state_dir;      /* Default /run/sfclab. */
    const char *sfcd;           /* Path of sfcd; NULL: bin/sfcd beside the running sfclab. */
    bool agents;                /* Start `sfcd agent` in every guest. */
    bool pin;                   /* Run the switch and every guest (and all they start) on */
    int pin_cpu;                /* this one CPU only. */
    bool afxdp;                 /* Data ports as AF_XDP, polled by a PMD thread on 'pmd_cpu' */
    int pmd_cpu;                /* (busy: that CPU is the switch's); else AF_PACKET ports. */
    /* 0: the PMD busy-polls at normal priority. Else it sleeps up to this many microseconds
     * when idle (OVS's pmd-maxsleep) and runs at the lowest real-time priority: on a CPU
     * shared with other busy threads a frame then waits for the next poll (< this), not for
     * the PMD's next scheduler slice (milliseconds). See ovs_switch_pmd_realtime(). */
    unsigned int pmd_sleep_us;
    /* 0: the host's idle as it is. Else, on a KVM guest whose idle driver is haltpoll, an idle
     * CPU polls up to this many microseconds before it halts, for as long as the instance
     * lives (INSTANCE_HALT_POLL_PARAM; the manifest restores it): a wake-up from the other
     * CPU then needs no interrupt to a halted virtual CPU (on this VM a cross-CPU wake-up
     * costs ~20 us halted, ~3 us polling). */
    unsigned int halt_poll_us;
    /* With 'afxdp': the frames that guests held to less than a CPU send to the switch are
     * received on 'pmd_cpu' (RPS on their data ports, link_set_rps()). Else a frame's way
     * into the switch (the veth's receive, the generic XDP program, the copy into vswitchd's
     * AF_XDP buffers: ~60% of a forwarding VNF's CPU by perf) runs in the sending guest's
     * time, and a guest held to a CPU quota pays the switch's work out of it; a hypervisor's
     * switch does it on its own CPUs. Guests with a CPU or more (the client, classifier, SFF
     * and server by default) are left as they are: the receive on the PMD's CPU preempts the
     * PMD thread, and the SFF's bursts (a window of thousands of frames) overflowed the
     * AF_XDP ring of its port (2048 frames, fixed in OVS's build) before the thread could
     * drain it, losing frames that NHAM sent again, go-back-N. The host's receive backlog is
     * raised for as long as the instance lives (INSTANCE_BACKLOG_PARAM; the manifest
     * restores it): at the default 1000 it dropped a chain's bursts. */
    bool switch_rx;
    bool verbose;
};

#define INSTANCE_HALT_POLL_PARAM "/sys/module/haltpoll/parameters/guest_halt_poll_ns"
/* With switch_rx, the host's per-CPU receive backlog (frames) while the instance lives. */
#define INSTANCE_BACKLOG_PARAM "/proc/sys/net/core/netdev_max_backlog"
#define INSTANCE_SWITCH_RX_BACKLOG "16384"

struct instance_iface {
    char *ifname;               /* In the guest: eth0 (management), eth1, ... */
    char *port;                 /* Host end, an OVS port in the instance's namespace. */
    char *bridge;
    uint8_t mac[6];
    bool has_addr;
    struct in_addr addr;
    int prefix_len;
    int ofport;
};

struct instance_guest {
    char *name;
    char *provider;
    struct guest *guest;
    struct in_addr mgmt_addr;
    struct instance_iface *ifaces;      /* [0] is the management interface. */
    size_t n_ifaces;
};

struct instance {
    char *name;
    char *dir;                  /* STATE/NAME */
    const struct instance_switch *sw;
    char *netns_path;           /* The host namespace; NULL on the `memory` switch. */
    struct link_ns *host;       /* Netlink there, opened when first needed. */
    bool agents;                /* Guests run `sfcd agent` (instance_opts.agents). */
    int pin_cpu;                /* -1: guests are not pinned. */
    bool afxdp;
    unsigned int pmd_sleep_us;  /* instance_opts.pmd_sleep_us. */
    int pmd_cpu;                /* instance_opts.pmd_cpu. */
    bool pmd_realtime;          /* The PMD thread got SCHED_FIFO. */
    int switch_rx_cpu;          /* instance_opts.switch_rx: that CPU; else -1. */
    int mgmt_prefix_len;
    char *sfcd;
    struct in_addr orchestrator_addr;
    struct manifest *manifest;
    struct ovs *ovs;
    struct instance_switch_start *sw_start;    /* `up`: the switch starting beside the guests. */
    struct instance_guest *guests;
    size_t n_guests;
    struct instance_guest *replaced;    /* What instance_replace_guest() took out of their */
    size_t n_replaced;                  /* places: others may still read it. */
    char **bridges;             /* Data bridges, then "mgmt". */
    size_t n_bridges;
    double up_ms;               /* How long instance_up() took. */
    bool has_key;
    uint8_t key[32];            /* STATE/NAME/key: the agents' keys derive from it. */
    struct instance_flow *flows;    /* The `memory` switch's flow tables. */
    size_t n_flows;
    struct instance_group *groups;  /* The `memory` switch's group tables. */
    size_t n_groups;
    bool batch_open;                /* The `memory` switch: changes since the last barrier, */
    pthread_t batch_owner;          /* from this thread; */
    uint64_t n_interleaved;         /* instance_memory_unserialized(). */
    pthread_mutex_t changes;        /* instance_changes_lock(), */
    unsigned changes_depth;         /* held this many times (by its holder). */
};

/* A flow in the `memory` switch's tables (instance_memory_flows()). */
struct instance_flow {
    char *bridge;
    struct of_flow *flow;
};

/* A group in the `memory` switch's tables (instance_memory_groups()). */
struct instance_group {
    char *bridge;
    struct of_group *group;
};

#define INSTANCE_KEY_BYTES 32   /* RPC_KEY_BYTES */

#define INSTANCE_AGENT_PORT 7070

int instance_up(const struct instance_opts *, const struct topology *, struct instance **);

/* A guest added to a running instance: what a topology's guest and its links say. */
struct instance_link_spec {
    const char *bridge;         /* A data bridge of the instance. */
    bool has_addr;
    struct in_addr addr;
    int prefix_len;
    const struct impair *impair;    /* NULL: a bare link (testbed/model/impair.h). */
    bool pop_wan;               /* Its guest is in a PoP with a WAN link to another. */
};

struct instance_guest_spec {
    const char *name;
    const char *provider;       /* NULL: "netns". */
    double cpus;                /* 0: unlimited. */
    uint64_t cpu_period_us;     /* The quota's period; 0: 100 ms. */
    uint64_t memory;            /* 0: unlimited. */
    struct in_addr mgmt_addr;   /* 0.0.0.0: the next free address of the management subnet. */
    const struct instance_link_spec *links;
    size_t n_links;
    bool savable;               /* guest_config.savable. */
};

/* Creates, starts and wires a guest on the running instance 'inst' (from instance_open() or
 * instance_up()), records it in the manifest first and in instance.json after; on failure
 * removes what it made of it. EEXIST if the name is taken, ENOENT for an unknown bridge. */
int instance_add_guest(struct instance *, const struct instance_guest_spec *);
/* Destroys guest 'name' (whatever its state, also a guest destroyed by a crash injection) and
 * takes its ports off the switch. ENOENT if there is no such guest. */
int instance_remove_guest(struct instance *, const char *name);
/* Guest 'name' (running or not) replaced by its image at 'path' (guest_restore()), and its
 * ports put on the switch again under the OpenFlow numbers they had, so that every rule that
 * names them still holds. ENOENT if there is no such guest. */
int instance_restore_guest(struct instance *, const char *name, const char *path);
/* Replaces guest 'name' (dead or alive: what is left of it is destroyed first) by a new guest
 * 'new_name' in its place: the same entry of inst->guests (pointers to it stay valid, and it
 * never moves, so another thread may keep reading it), the same index and so the same MACs,
 * the same provider, management address, bridges and data addresses, on new switch ports;
 * with 'cpus' per 'cpu_period_us' (0: 100 ms) and 'memory' (0: unlimited) and an agent like
 * every guest's. The old links' impairments are not made again. Steering that named the old
 * ports (flows with their numbers) is the caller's to redo. ENOENT: no such guest; EEXIST:
 * 'new_name' is taken. */
int instance_replace_guest(struct instance *, const char *name, const char *new_name,
                           double cpus, uint64_t cpu_period_us, uint64_t memory);
int instance_open(const struct instance_opts *, struct instance **);
/* Stops the guests and OVS gracefully, then undoes the manifest. Frees 'inst'. */
int instance_down(struct instance *);
/* Undoes whatever the manifest of instance 'name' lists, without reading anything else. */
int instance_clean(const char *state_dir, const char *name, bool verbose);
void instance_close(struct instance *);

struct instance_guest *instance_find_guest(struct instance *, const char *name);
/* "ovs" or "memory". */
const char *instance_switch_name(const struct instance *);
/* Runs argv inside guest 'name' with our standard streams and waits; *statusp as waitpid's. */
int instance_exec(struct instance *, const char *guest, char *const argv[], int *statusp);
/* The key of guest 'guest''s agent (a keyed hash of its name under the instance's key). */
void instance_guest_key(const struct instance *, const char *guest,
                        uint8_t key[INSTANCE_KEY_BYTES]);
/* A TCP connection from the orchestrator to 'addr':'port' on the management network,
 * authenticated to the agent of the guest that has 'addr' (rpc_client_auth()): rpc_call() on
 * it signs every request. */
int instance_mgmt_connect(struct instance *, struct in_addr addr, uint16_t port,
                          int timeout_ms, int *fdp);

/* Changes to a running instance come from more than one thread: a scheme's controller replaces
 * a guest and reroutes to it (OVSDB ports, OpenFlow, the manifest, instance.json) while the
 * runner's fault plan injects (a mitm's steering flows). Every function here that changes the
 * instance (guests added, removed or replaced; flows, barriers, the fdb) takes this lock; a
 * caller whose change has several steps (flows and their barrier; a guest replaced and the
 * flows to its new ports) holds it across them, so that no other change lands in between
 * (on the `ovs` switch a barrier answers for everything queued on the bridge's connection).
 * Recursive. Readers of inst->guests are not serialized by it. */
void instance_changes_lock(struct instance *);
void instance_changes_unlock(struct instance *);

/* Steering on the instance's switch, through its backend: the `ovs` switch sends each change
 * over the bridge's persistent OpenFlow connection (ovs_openflow(), testbed/infra/openflow.h),
 * the `memory` switch keeps it in tables a test reads. Changes are queued; the barrier sends
 * them and returns 0 or the first refusal since the last barrier (as of_barrier()). */
/* Sets the PMD's sleep (OVS's pmd-maxsleep, see instance_opts.pmd_sleep_us) to 'us' from now
 * on; the instance keeps its own 'pmd_sleep_us' for what it was made with. Returns 0 or an
 * errno (ENOTSUP without AF_XDP ports). */
int instance_set_pmd_sleep(struct instance *, unsigned int us);
/* Whether another Open vSwitch's PMD thread (another instance on this host) polls on this
 * instance's PMD CPU. */
bool instance_pmd_cpu_shared(const struct instance *);

int instance_flow_add(struct instance *, const char *bridge, const struct of_flow *);
int instance_flow_delete(struct instance *, const char *bridge, const struct of_flow *,
                         bool strict);
int instance_flow_barrier(struct instance *, const char *bridge);
/* Groups, where the switch picks the bucket for each packet by itself: a fast-failover group
 * (of_group_fast_failover()) sends to the first bucket whose watched port's link is up, so
 * traffic moves to a backup the moment a primary's link goes down, with no message from us; a
 * select group spreads flows over its buckets. A flow reaches one with of_actions_group().
 * Queued like flows (instance_flow_barrier() sends them and says whether the switch took
 * them: EEXIST for an id in use, ENOENT to modify a group that does not exist). Deleting a
 * group deletes the flows that output to it, as OpenFlow does; OF_GROUP_ALL deletes every
 * group of the bridge. Groups live on the bridge: they go with the instance at `down`. */
int instance_group_add(struct instance *, const char *bridge, const struct of_group *);
int instance_group_modify(struct instance *, const char *bridge, const struct of_group *);
int instance_group_delete(struct instance *, const char *bridge, uint32_t group_id);
/* The OpenFlow port of guest 'guest''s interface on 'bridge', for a flow or a bucket: 0 if
 * the guest has none there. */
uint32_t instance_ofport(const struct instance *, const char *guest, const char *bridge);
/* Forgets the MAC addresses 'bridge' learned (its NORMAL path's table). */
int instance_fdb_flush(struct instance *, const char *bridge);
/* The `memory` switch: how often a change was not one: a change or barrier of one thread landed
 * in another thread's open batch (changes since its last barrier), or a batch was still open
 * when instance_changes_lock() was let go of (its caller did not hold it across its steps). */
uint64_t instance_memory_unserialized(const struct instance *);
/* The `memory` switch's flows, in the order they were added (none on the `ovs` switch). */
const struct instance_flow *instance_memory_flows(const struct instance *, size_t *n);
/* The `memory` switch's groups, in the order they were added. */
const struct instance_group *instance_memory_groups(const struct instance *, size_t *n);

/* Whether instance 'name' exists (up, being brought up, or left by a crash). */
bool instance_exists(const char *state_dir, const char *name);
/* Pings the agent of 'ig'; on an answer, '*restarts' is how often its init restarted it. */
int instance_agent_ping(struct instance *, const struct instance_guest *, int timeout_ms,
                        int *restarts);

/* Asks to stop at the next step: set from a SIGINT/SIGTERM handler. */
void instance_interrupt(void);
bool instance_interrupted(void);
/* Makes SIGINT, SIGTERM and SIGHUP call instance_interrupt(), so that the command in progress
 * stops at its next step and undoes what it made. */
void instance_catch_interrupts(void);

#endif
