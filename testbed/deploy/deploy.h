/* deploy — places a chain's components on an instance's guests through their agents and
 * installs the OpenFlow steering that sends client traffic into the chain.
 *
 * One guest per component: a scheme (testbed/schemes/) builds the topology of a point with
 * deploy_chain_topology(), the runner brings it up, then the scheme's deploy calls
 * deploy_chain(), which starts every component with `start_role` on the guest's agent (JSON-RPC
 * over the management network), server side first, classifier and client last. A replicated
 * chain (deploy_chain_opts.replicas > 1) puts each replica of each VNF on its own guest and
 * lets the SFF vote on their copies with a protocol core, under a per-instance key.
 * deploy_chain() never starts the workload: the runner does, so that faults and workload share
 * one clock. Components are named by role and index as the schemes and injectors name them:
 * "classifier[0]", "sff[0]", "vnf[2]", "vnf[2].replica[1]", "client[0]", "server[0]".
 *
 * Main types: struct deployment, struct deploy_component. */
#ifndef SFC_DEPLOY_H
#define SFC_DEPLOY_H 1

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/util.h"

struct buf;
struct exp_point;
struct instance;
struct instance_guest;
struct topology;

struct deploy_component {
    char *role;                 /* "client", "classifier", "sff", "vnf", "server", ... */
    int index;                  /* Position among components of its role (vnf: in the chain). */
    int replica;                /* -1 when the component is not replicated. */
    char *name;                 /* "vnf[2]" or "vnf[2].replica[1]". */
    char *guest;                /* Guest it runs on. */
    struct instance_guest *ig;  /* Same, resolved. */
    int agent_fd;               /* Connection to that guest's agent; -1 when closed. */
    int role_id;                /* The agent's id of the running role; -1 when not started. */
    char *fn;                   /* vnf: its network function. */
    uint32_t id;                /* Its id in NSH timestamps (0: it stamps nothing). */
    int nspid;                  /* Its role's pid in its guest (0: unknown). */
    bool idle;                  /* A copy that carries no traffic now (a standby, a slave), as
                                 * its scheme says; atomic: a controller changes it while faults
                                 * are picked (deploy_set_idle()). */
};

/* A guest of a scheme's own beside the chain's (FTvNF's loggers, manager): on the data
 * bridge, and a component "ROLE[0]" with no role started by deploy_chain(). Two components
 * may name one guest (FTvNF's sequencer runs in its packet logger's process). */
struct deploy_extra {
    const char *role;           /* "sequencer" */
    const char *guest;          /* "seq" */
};

struct deployment;

/* How a scheme wants its chain placed. */
/* The sff_window parameter's default (none, ftc, ftmb, nham). A flat-out client on one shared
 * CPU otherwise fills the queues between VNFs (frames lost there wasted the hops before them);
 * well under a guest socket's queue, and the size of FTC's own forwarder window
 * (vnfs/sfc/vnf_ftc.c). */
#define DEPLOY_SFF_WINDOW "256"
#define DEPLOY_SFF_WINDOW_MIN 64    /* sfcd sff --window's least. */

/* A scheme's sff_window parameter as deployed: 0 stays (no admission), else at least
 * DEPLOY_SFF_WINDOW_MIN. */
static inline unsigned
deploy_sff_window(uint64_t w)
{
    return !w ? 0 : w < DEPLOY_SFF_WINDOW_MIN ? DEPLOY_SFF_WINDOW_MIN : w > 65536 ? 65536 : w;
}

#define DEPLOY_FTC_MAX_VNFS 16

struct deploy_chain_opts {
    unsigned replicas;          /* Per VNF, each on its own guest; 1: not replicated. */
    const char *vote_core;      /* With replicas > 1: the SFF's protocol core (vnfs/ft). */
    unsigned f;                 /* The core's fault bound. */
    const char *vote_timeout;   /* The core's 'timeout' parameter; NULL: its default. */
    /* The SFF's admission (sfcd sff --window): new frames only while fewer than this many are
     * in the chain, and after the frames already on the path; 0: none. The schemes of issue
     * 14's bench (none, ftc, ftmb) take it as their sff_window parameter (default
     * DEPLOY_SFF_WINDOW), so that they compare on one SFF; the bench sets it alike for all. */
    unsigned sff_window;
    /* FTC (testbed/schemes/ftc.c): every VNF runs its function behind FTC's ring member
     * (vnfs/sfc/vnf_ftc.h), all under one per-instance key; 'f' is FTC's. */
    bool ftc;
    unsigned ftc_partitions;    /* 0: the VNF's default (1). */
    /* Per VNF (p->n_vnfs entries, at most DEPLOY_FTC_MAX_VNFS): the threads of its head's
     * transactions; 0: the VNF's default (1). */
    unsigned ftc_threads[DEPLOY_FTC_MAX_VNFS];
    const char *ftc_tick;       /* NULL: the VNF's default. */
    /* A veth straight between the first and the last VNF's guests for the buffer's and the
     * commits' peer messages (the paper's state link); where a provider cannot (a VM), or
     * false: through the switch. */
    bool ftc_link;
    /* The forwarder (on the first VNF's guest) and the buffer (on the last one's) each get a
     * middlebox's CPU quota of their own on top of that guest's (the paper runs them on
     * cores of their own on the first and last middleboxes' servers); false: they share it. */
    bool ftc_end_cpus;
    /* FTMB (testbed/schemes/ftmb.c): loggers run FTMB's logger (vnfs/sfc/ftmb.h) and every
     * VNF stalls for 'ftmb_stall' every 'ftmb_snapshot' (NULL: the VNF's defaults). In line:
     * VNF i's own logger on guest "l<i>" (component logger[i]), its IL and OL, is the path's
     * hop for it (IL -> M -> OL). Else one "logger" guest (logger[0]) beside the path, where
     * every VNF logs each packet and its access log and holds its output until logged. */
    bool ftmb;
    bool ftmb_in_line;
    const char *ftmb_snapshot, *ftmb_stall;
    /* Copies of each VNF (p->n_vnfs entries), each on its own guest "v<i>r<r>" and named
     * "vnf[i].replica[r]"; NULL: 'replicas' for every VNF. With start_middle too, a component
     * "vnf[i]" (no role of its own) names the copy the scheme says is active: its guest and
     * ig are the scheme's to move (deploy_set_guest()). */
    const unsigned *copies;
    /* A scheme that runs its own SFF and VNF roles: called instead of starting `vnf` and
     * `sff` (after the server, before the classifier, which sends to the SFF's data MAC).
     * NULL: the chain of `sff` and `vnf` roles (voting when replicas > 1). */
    int (*start_middle)(struct deployment *, const struct deploy_chain_opts *);
    void *aux;                  /* For start_middle. */
    const struct deploy_extra *extra;   /* The scheme's own guests (start_middle starts them). */
    size_t n_extra;
};

struct deployment {
    struct instance *inst;
    const struct exp_point *point;
    struct deploy_component *comps;
    size_t n_comps;
    uint32_t spi;
    struct in_addr service_addr;    /* Where the client sends: virtual, or the server's. */
    uint8_t service_mac[6];
    char *work_dir;                 /* The caller's, for its own files. */
    struct deploy_chain_opts opts;  /* As deployed (strings borrowed from the point). */
    char *ftc_key;                  /* FTC's key file (one for every VNF guest). */
    char *ftc_ring;                 /* "MAC,MAC,..." of the VNF guests, in chain order. */
    char *ftmb_logger;              /* FTMB's logger's data MAC. */
    void *scheme_data;              /* The scheme's own (deploy_chain_opts.start_middle). */
    /* Where the classifier sends the chain's packets: the SFF (NULL), or a component
     * start_middle names (FTvNF's sequencer, the only hop of its path: a visit fewer). */
    const struct deploy_component *entry;
    char **old_names;               /* deploy_set_guest()'s, freed with the deployment. */
    size_t n_old_names;
    int *old_fds;                   /* deploy_replace_agent_fd()'s, closed with it. */
    size_t n_old_fds;
    void (*scheme_data_free)(void *);
};

/* Points component 'c' at guest 'guest' (another thread may be reading it: the old name
 * stays allocated until the deployment is freed). */
void deploy_set_guest(struct deployment *, struct deploy_component *c, const char *guest);
/* Component 'c''s agent is reached on 'fd' from now on (its guest was restored from an image:
 * the old connection's TCP state is not the guest's any more). The old one is closed with the
 * deployment: another thread may be in a call on it. The caller serializes calls, as for
 * deploy_set_guest(). */
void deploy_replace_agent_fd(struct deployment *, struct deploy_component *c, int fd);

/* The guest's interface on the data bridge (NULL: none). */
struct instance_iface *deploy_data_iface(struct instance_guest *);
/* 'key' (32 bytes: the protocol cores' peer messages, shared by the components that talk)
 * written for the guest of 'c', a file of mode 0600 in its agent directory recorded in the
 * manifest first; '*pathp' gets its path. */
int deploy_write_key(struct deployment *, const struct deploy_component *,
                     const uint8_t key[32], char **pathp);

/* The topology of a point's chain: client, classifier, SFF, server, each VNF (replica), and
 * an attacker guest when a fault needs one, on the data bridge. */
int deploy_chain_topology(const struct exp_point *, const struct deploy_chain_opts *,
                          struct topology **, char **errp);

/* Starts the chain of 'point' on 'inst'. Roles write their files in their guest's agent
 * directory, INSTANCE_DIR/guests/GUEST/ (per-hop traces: hops.tsv). On failure stops what it
 * started. */
int deploy_chain(struct instance *, const struct exp_point *, const struct deploy_chain_opts *,
                 const char *work_dir, struct deployment **);
/* (Re)starts VNF component 'c' as incarnation 'incarnation' (> 0: under FTC, a replacement
 * that fetches its groups' state from the survivors). */
int deploy_start_vnf(struct deployment *, struct deploy_component *c, uint32_t incarnation);
/* Recovery into a new guest: component 'c''s guest (dead, or what is left of it destroyed)
 * is replaced by a new guest 'new_guest' in its place (instance_replace_guest(): the same MACs
 * and addresses, so peers that know it by MAC need no news), 'c' points at it with a fresh
 * agent connection (the old one goes to '*old_fdp', for the caller to close when nobody can
 * be in a call on it), the chain's key (FTC) is written for it, and the switch's L2 flows
 * for its MACs lead to its new ports (the rerouting). No role is started. A classifier's or
 * client's own steering (by port) is not redone. */
int deploy_replace_guest(struct deployment *, struct deploy_component *c,
                         const char *new_guest, int *old_fdp);
/* FIT-SFC (testbed/schemes/fitsfc.c): the client's guest (the workload and FIT-SFC's wrapper,
 * component "wrapper[0]", which owns the service address), and 3f+1 guests each for the
 * classifier ("classifier[0].replica[M]"), the SFF ("sff[0].replica[M]") and every VNF
 * ("vnf[N].replica[M]"), every arrow between stages all-to-all, a `bft_voter` in every SFF
 * (entry and return votes) and VNF replica and in the wrapper (f+1). The replicas of each VNF
 * share a key: a globally stateful function orders its requests by PBFT among them
 * ('order_timeout': PBFT's view change timeout, NULL: the core's default). The point's chain
 * must end in a function that replies (dns, or lb with answer=1): the replies come back
 * through the replicas. */
int deploy_fitsfc_topology(const struct exp_point *, unsigned f, struct topology **,
                           char **errp);
int deploy_fitsfc(struct instance *, const struct exp_point *, unsigned f,
                  const char *vote_timeout,
                  const char *order_timeout, const char *work_dir, struct deployment **);
/* How deploy_fitsfc() started replica 'c' (classifier, SFF or VNF): its role and arguments,
 * without the trace file (so that a restart leaves the trace the run reads alone). False for
 * any other component or deployment. Valid while 'd' is. */
bool deploy_fitsfc_role_args(const struct deployment *, const struct deploy_component *c,
                             const char **role, char *const **argv);
/* Stops every component (reverse order) and frees 'd'. */
void deploy_stop(struct deployment *);

/* "vnf[1]", "sff[0]", "vnf[2].replica[3]", "random(vnf)" (seeded by *rng), or a component's
 * own name ("vnf[0].master": a scheme may name its copies so) -> component. */
struct deploy_component *deploy_find(struct deployment *, const char *target, uint64_t *rng);
/* The same, where random(ROLE) passes over idle copies when 'busy_only': a fault that acts on
 * a component's traffic (a man in the middle) finds nothing to act on in a standby. */
struct deploy_component *deploy_find_busy(struct deployment *, const char *target,
                                          uint64_t *rng, bool busy_only);
/* Copy 'c' carries no traffic now ('idle'), or does again (a standby that took over). */
void deploy_set_idle(struct deploy_component *c, bool idle);
bool deploy_is_idle(const struct deploy_component *c);
/* The component whose NSH timestamps carry 'id', or NULL. */
const struct deploy_component *deploy_find_id(const struct deployment *, uint32_t id);

/* An argument vector built as it grows (NULL-terminated 'v'). */
struct deploy_args {
    char **v;
    size_t n, cap;
};
void deploy_args_add(struct deploy_args *, const char *fmt, ...) PRINTF_FORMAT(2, 3);
void deploy_args_free(struct deploy_args *);

/* Starts the role of 'c' with 'args' on its guest's agent; sets c->role_id and c->nspid. */
int deploy_start_role(struct deploy_component *c, const char *role, char *const args[]);
/* The counters of the running role of 'c' (a new JSON object, name -> integer): asked of the
 * role itself on its control socket where the provider's guests have their sockets on the
 * host (each tick through the agent cost a TCP round trip over the management bridge, Open
 * vSwitch's main thread, and the agent's wake-up in the guest, for every component: more for
 * schemes with more copies), else through its guest's agent. ESRCH when it runs no more. */
int deploy_role_counters(struct deployment *, struct deploy_component *c, json_t **countersp);
/* "02:00:..." of 'mac' in 's'; returns 's'. */
const char *deploy_mac_string(const uint8_t mac[6], char s[18]);
/* The host's pid of process 'nspid' of guest 'guest' (0: not found, e.g. in a VM): the process
 * in the guest's network namespace whose innermost pid is 'nspid'. Its pidfd is the provider's
 * notice of its death, at once (the schemes' controllers watch it). */
int deploy_host_pid(struct instance *, const char *guest, int nspid);
/* The path at which the host reaches the control socket of role 'role_id' on 'guest' (the
 * agent's DIR/role-ID.sock), if the guest's provider shares the host's kernel and shows the
 * guest its directory at its host path (netns); NULL otherwise (a VM: through its agent), or if
 * the path does not fit a socket address. free() it. */
char *deploy_role_ctl_path(struct instance *, const char *guest, int role_id);
/* A connection in '*fdp' to that control socket, within 'timeout_ms'; ENOTSUP when the host
 * cannot reach it (deploy_role_ctl_path() NULL: through the agent then). */
int deploy_role_ctl_connect(struct instance *, const char *guest, int role_id, int timeout_ms,
                            int *fdp);
/* Waits for a role that ends by itself (a client) for at most 'timeout_ms'. */
int deploy_wait_role(struct deploy_component *c, int timeout_ms, int *exit_codep);

#endif
