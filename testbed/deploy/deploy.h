/* deploy — places a chain's components on an instance's guests through their agents and
 * installs the OpenFlow steering that sends client traffic into the chain.
 *
 * One guest per component: the runner builds the topology from the chain (deploy_topology()),
 * brings it up, then deploy_chain() starts every component with `start_role` on the guest's
 * agent (JSON-RPC over the management network), server side first, classifier and client last.
 * deploy_chain() never starts the workload: the runner does, so that faults and workload share
 * one clock. Components are named by role and index as the schemes and injectors name them:
 * "classifier[0]", "sff[0]", "vnf[2]", "vnf[2].replica[1]", "client[0]", "server[0]".
 *
 * Main types: struct deployment, struct deploy_component. */
#ifndef SFC_DEPLOY_H
#define SFC_DEPLOY_H 1

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct exp_point;
struct instance;
struct instance_guest;

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
};

/* The schemes deploy knows how to place, as a table (like OVS's netdev classes): a scheme adds
 * its own placement here. Only `none` (the chain with no fault tolerance, the baseline every
 * figure compares against) exists yet; the others are refused before anything is created. */
struct deploy_scheme {
    const char *name;
    int (*deploy)(struct instance *, const struct exp_point *, const char *work_dir,
                  struct deployment **);
};
const struct deploy_scheme *deploy_scheme_find(const char *name);

/* The topology text (YAML, validated by the caller with topology_load_string) that gives each
 * component of 'point' its own guest on the data bridge. */
void deploy_topology(const struct exp_point *, struct buf *yaml);

/* Starts the chain of 'point' on 'inst'. Roles write their files in their guest's agent
 * directory, INSTANCE_DIR/guests/GUEST/ (the SFF's per-hop trace: hops.tsv). On failure stops
 * what it started. */
int deploy_chain(struct instance *, const struct exp_point *, const char *work_dir,
                 struct deployment **);
/* Stops every component (reverse order) and frees 'd'. */
void deploy_stop(struct deployment *);

/* "vnf[1]", "sff[0]", "vnf[2].replica[3]", "random(vnf)" (seeded by *rng) -> component. */
struct deploy_component *deploy_find(struct deployment *, const char *target, uint64_t *rng);

/* Starts the role of 'c' with 'args' on its guest's agent; sets c->role_id. */
int deploy_start_role(struct deploy_component *c, const char *role, char *const args[]);
/* Waits for a role that ends by itself (a client) for at most 'timeout_ms'. */
int deploy_wait_role(struct deploy_component *c, int timeout_ms, int *exit_codep);

#endif
