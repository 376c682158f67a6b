/* topology — an infrastructure descriptor (a file under topologies/) as validated structs.
 *
 * topology_load() parses and validates a whole file and either returns a topology every other
 * module may trust (names unique, references resolved, addresses well formed, values in range)
 * or reports every problem through a struct diag and returns EINVAL with nothing allocated. It
 * never creates anything on the host. Main types: struct topology, topo_guest, topo_bridge,
 * topo_link.
 *
 * The file format:
 *
 *   name: line3                  # instance-independent topology name
 *   provider: netns              # default provider of guests (guest_provider_find())
 *   management: 10.254.0.0/16    # optional; subnet of the mgmt bridge, one address per guest
 *   bridges:
 *     - name: data               # "mgmt" is reserved: the management bridge always exists
 *   guests:
 *     - name: h1
 *       cpus: 0.5                # CPU quota in cores (cgroup), default 1
 *       period: 25ms             # the quota's period, default 100ms (1ms-1s)
 *       memory: 128M             # memory limit, default 256M
 *       provider: netns          # optional, overrides the default
 *   links:                       # a guest's interface on a bridge
 *     - guest: h1
 *       bridge: data
 *       address: 10.0.0.1/24     # optional: without it the interface carries only Ethernet
 *       rate: 100mbit            # optional impairments (testbed/model/impair.h): rate,
 *       delay: 1ms               #   delay, jitter, loss, duplicate, reorder, queue, for
 *       jitter: 100us            #   both directions or under egress:/ingress:, and
 *       loss: 0.1%               #   profile: NAME; the '%' is required
 *   profiles:                    # optional named impairments
 *     wan: {delay: 20ms, jitter: 2ms, rate: 100mbit}
 *   pops:                        # optional points of presence (testbed/model/pop.c)
 *     - {name: eu, guests: [h1, h2]}
 *     - {name: us, guests: [h3]}
 *   wan:                         # impaired links between PoPs (egress: first -> second)
 *     - {between: [eu, us], profile: wan}
 *
 * Rules (each broken one is reported at its line and column): known keys only; names match
 * [a-z0-9][a-z0-9_-]* and are at most TOPO_NAME_MAX characters (the topology's own name
 * TOPO_TOPOLOGY_NAME_MAX); guest and bridge names are unique; links name existing guests and
 * bridges; no address twice on one bridge; no guest with two addresses in one subnet; no data
 * address inside the management subnet; 0 < cpus <= 64; 1ms <= period <= 1s, and cpus x period
 * at least the kernel's least quota, 1ms; memory >= 16M; 0% <= loss <= 100%;
 * jitter only with a delay. A guest without links is fine. Guests get management addresses
 * .1, .2, ... of the management subnet in file order; the orchestrator takes the last usable
 * address, so the subnet must hold every guest plus one.
 *
 * Changes to the first draft of this header: topo_link.has_addr (addresses are optional),
 * topology.orchestrator_addr, topology_parse(), topology_load_string(), topology_format(). */
#ifndef SFC_TOPOLOGY_H
#define SFC_TOPOLOGY_H 1

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "testbed/model/diag.h"
#include "testbed/model/impair.h"

#define TOPO_NAME_MAX 15        /* Guest and bridge names become part of interface names. */
#define TOPO_TOPOLOGY_NAME_MAX 63

struct buf;
struct yaml_doc;

struct topo_bridge {
    char *name;
    struct loc loc;
};

struct topo_guest {
    char *name;
    char *provider;             /* A provider of testbed/infra/provider.c's table. */
    double cpus;                /* Cores; 0 < cpus <= 64. */
    uint64_t cpu_period_us;     /* `period`: the quota's; 0: the kernel's 100 ms. */
    uint64_t memory;            /* Bytes; >= 16 MiB. */
    struct in_addr mgmt_addr;   /* Assigned from the management subnet, in guest order. */
    bool savable;               /* Saved whole at run time (guest_config.savable): set by a
                                 * scheme, not in the YAML. */
    struct loc loc;
};

struct topo_link {
    size_t guest;               /* Index into topology.guests. */
    size_t bridge;              /* Index into topology.bridges. */
    bool has_addr;              /* False: no IPv4 address, 'addr' and 'prefix_len' are 0. */
    struct in_addr addr;
    int prefix_len;
    struct impair impair;       /* testbed/model/impair.h; all zero: a bare link. */
    bool pop_wan;               /* Its guest is in a PoP with a WAN link to another. */
    struct loc loc;
};

/* A point of presence: guests in one place. Traffic between guests of two PoPs joined by a
 * `wan:` entry crosses that WAN's impairment once per direction (egress: from 'a' to 'b'). */
struct topo_pop {
    char *name;
    size_t *guests;             /* Indices into topology.guests. */
    size_t n_guests;
    struct loc loc;
};

struct topo_wan {
    size_t a, b;                /* Indices into topology.pops. */
    struct impair impair;
    struct loc loc;
};

struct topology {
    char *file;                 /* The path it was loaded from. */
    char *name;
    char *provider;
    struct in_addr mgmt_net;
    int mgmt_prefix_len;
    struct in_addr orchestrator_addr;   /* The last usable address of the management subnet. */
    struct topo_bridge *bridges;
    size_t n_bridges;
    struct topo_guest *guests;
    size_t n_guests;
    struct topo_link *links;
    size_t n_links;
    struct impair_profile *profiles;    /* `profiles:`, named impairments links refer to. */
    size_t n_profiles;
    struct topo_pop *pops;
    size_t n_pops;
    struct topo_wan *wans;
    size_t n_wans;
};

/* Each returns 0 and a topology the caller frees with topology_free(), or reports every problem
 * through 'diag' (the yaml_doc's own for topology_parse()) and returns EINVAL, or the errno of
 * reading the file, with '*topop' untouched and nothing allocated. */
int topology_load(const char *file, struct diag *, struct topology **topop);
int topology_load_string(const char *name, const char *yaml, size_t len, struct diag *,
                         struct topology **topop);
int topology_parse(struct yaml_doc *, struct topology **topop);
void topology_free(struct topology *);

/* A canonical dump: valid topology YAML with every default spelled out and management
 * addresses as comments; parsing it gives the same dump again. */
void topology_format(const struct topology *, struct buf *);

/* Parses `pops:` and `wan:` (testbed/model/pop.c) into 'topo', whose guests, profiles and
 * links are parsed already, and marks the links of guests that have a WAN; problems go to the
 * document's diag. */
void topology_parse_pops(struct yaml_doc *, struct fy_node *root, struct topology *);
void topology_format_pops(const struct topology *, struct buf *);
void topology_free_pops(struct topology *);
/* The PoP of guest 'gi', or SIZE_MAX. */
size_t topology_guest_pop(const struct topology *, size_t gi);
/* Building a topology in code (a scheme's guests for one point), with the same rules as a file
 * but no locations: topology_new() with the default management subnet, then guests, bridges and
 * links, then topology_finish(), which assigns management addresses and checks what a program
 * could get wrong (duplicate names, names too long, a link to nothing, the subnet too small):
 * EINVAL with a message in '*errp' (to free). The add functions return the new index (a link's
 * impairments are then set on topology->links[i] directly). */
struct topology *topology_new(const char *name, const char *provider);
size_t topology_add_bridge(struct topology *, const char *name);
size_t topology_add_guest(struct topology *, const char *name, double cpus,
                          uint64_t cpu_period_us, uint64_t memory);
size_t topology_add_link(struct topology *, size_t guest, size_t bridge, const char *addr,
                         int prefix_len);
int topology_finish(struct topology *, char **errp);

/* A CPU quota's period, as a guest's `period` and an experiment's resources.period give it:
 * reads duration 'key' of 'map' (absent: '*period_us' untouched) and reports one outside the
 * kernel's 1ms-1s. Returns 0, or EINVAL when reported. */
int topology_get_period(struct yaml_doc *, struct fy_node *map, const char *key,
                        uint64_t *period_us);
/* Reports at 'node' a quota of 'cpus' cores per 'period_us' (0: 100 ms) under the kernel's
 * least, 1 ms (which the cgroup would silently raise to it). */
void topology_check_quota(struct yaml_doc *, struct fy_node *node, double cpus,
                          uint64_t period_us);

/* Lookups; SIZE_MAX when absent. */
size_t topology_find_guest(const struct topology *, const char *name);
size_t topology_find_bridge(const struct topology *, const char *name);

#endif
