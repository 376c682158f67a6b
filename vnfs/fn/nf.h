/* nf — the network functions a VNF guest runs, behind one class (like OVS's netdev_class).
 *
 * A function sees one inner packet at a time (the Ethernet frame the chain carries, NSH already
 * stripped by the caller) and answers with a verdict. Functions never do I/O and never read a
 * clock or a random source on their own: they read them through their determinant interface
 * (nf->det, vnfs/fn/det.h), fed by the caller (the packet's time, a generator the caller
 * seeds), so FTvNF's masters can log the reads and its slaves replay them, and the simulator
 * can replay any run. All state a function keeps lives in its struct
 * nf_state (vnfs/lib/state.h), which the schemes read, write, export and import; a function is
 * deterministic given its state, its input and its determinants.
 *
 * Main types: struct nf_class, struct nf, struct nf_packet, enum nf_verdict. */
#ifndef SFC_NF_H
#define SFC_NF_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/buf.h"
#include "vnfs/fn/det.h"

struct nf_state;                /* vnfs/lib/state.h */

enum nf_verdict {
    NF_FORWARD,                 /* Continue along the chain (packet possibly rewritten). */
    NF_REPLY,                   /* The packet was turned into a reply to its sender (e.g. dns). */
    NF_DROP,                    /* Drop it (firewall deny, auth failure, malformed). */
};

/* One inner frame. The function may rewrite it in place or change its length within 'cap'. */
struct nf_packet {
    uint8_t *data;              /* Ethernet frame. */
    size_t len;
    size_t cap;                 /* Bytes available at 'data'. */
    uint64_t now_ns;            /* Time of arrival, from the caller. */
    uint32_t flow_hash;         /* Of the 5-tuple, computed by the caller (0 if none). */
};

/* Parameters as key=value strings, from the chain descriptor. */
struct nf_param {
    const char *key;
    const char *value;
};

struct nf {
    const struct nf_class *class;
    struct nf_state *state;
    void *priv;                 /* The class's own configuration. */
    struct nf_det det;          /* Clocks, random draws, shared variables (vnfs/fn/det.h):
                                 * LIVE unless a scheme records or replays them. */
    uint64_t n_in, n_forward, n_reply, n_drop;
};

/* What a replicated copy of the function needs to stay consistent with the others (FIT-SFC
 * §III-C): nothing (its output depends on the packet alone), a flow's packets in the client's
 * order, or one order of all packets of all flows (PBFT among the replicas). */
enum nf_consistency {
    NF_STATELESS,
    NF_PER_FLOW,                /* auth: a flow's token; its packets in counter order. */
    NF_GLOBAL,                  /* lb's rotation, nat's port allocator: one order for all. */
};

struct nf_class {
    const char *name;           /* "dns", "auth", "lb", "nat", "monitor", "firewall", "gen", "fwd" */
    enum nf_consistency consistency;
    /* Parses parameters; on error returns EINVAL and writes a message naming the bad key. */
    int (*create)(const struct nf_param *, size_t n_params, struct nf **, char **errp);
    void (*destroy)(struct nf *);
    enum nf_verdict (*process)(struct nf *, struct nf_packet *);
};

const struct nf_class *nf_class_find(const char *name);
/* Runs 'pkt' through 'nf', keeping the counters. */
enum nf_verdict nf_process(struct nf *, struct nf_packet *);

/* Finds the class and creates an instance: ENOENT (with a message listing the classes) for an
 * unknown name, else what the class's create returns. '*errp' is set (and must be freed) on
 * every error. */
int nf_create(const char *name, const struct nf_param *, size_t n_params, struct nf **,
              char **errp);
void nf_destroy(struct nf *);
/* Parses "k=v" into a parameter pointing into 'arg' (which it modifies); false without '='. */
bool nf_param_parse(char *arg, struct nf_param *);
/* The names of all classes, for usage messages: "dns, auth, ..." (static storage). */
const char *nf_class_names(void);
const char *nf_verdict_name(enum nf_verdict);
const char *nf_consistency_name(enum nf_consistency);

#endif
