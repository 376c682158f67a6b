/* fitsfc — FIT-SFC (papers/000): every component of the IETF SFC architecture replicated 3f+1
 * times on distinct guests, a `bft_voter` (vnfs/ft/fitsfc/bft_voter.c) in front of every SFF,
 * VNF and client input that decides on 2f+1 identical copies from distinct replicas of the
 * stage before (the client: f+1), deployed by deploy_fitsfc() (testbed/deploy/deploy.h):
 *
 *   client --(wrapper: every request to every classifier)--> classifier[3f+1]
 *     --all to all--> sff[3f+1] (entry vote) --all to all--> vnf[N][3f+1] (vote, function)
 *     --all to all--> sff[3f+1] (return vote) --all to all--> wrapper (f+1) --> client
 *
 * The same voter core runs in tests/sim (scenarios fitsfc-f1, fitsfc-f2), which proves the
 * rules below over 1,000 seeds each with up to f faulty replicas per component.
 *
 * Decisions:
 *  - The client wrapper's acceptance rule is f+1 identical replies from distinct SFF replicas
 *    (bft_voter quorum=f+1, own_only=1). Each correct SFF replica sends the final destination
 *    only what its own 2f+1 vote decided, so f+1 identical replies include a correct one; the
 *    2f+1 rule of the inner voters exists for agreement among the replicas of the next stage
 *    (Figure 2), and the client has no next stage. Proved by the fitsfc-f1/f2 scenarios (with f
 *    colluding liars); with quorum f the client accepts forged replies (measured: fitsfc-f1
 *    seed 8, fitsfc-f2 seed 33).
 *  - The counter's carrier (vnfs/sfc/wrap.h): the wrapper sends each classifier replica the
 *    client's own frame behind a wrap header (client id, counter); the classifiers put
 *    (client id << 32 | counter) in NSH_TLV_REQUEST_ID and strip the header, so the inner
 *    packet reaches the VNFs unchanged (dig's and dnsperf's DNS ids are theirs, 16 bits and
 *    reused, so they cannot name a request), and every correct classifier names a request the
 *    same way, which is what lets the SFF voters compare copies from different classifiers.
 *  - Copies are compared on everything but the sender's own timestamp (vnfs/sfc/nshvote.h).
 *  - f = 0 deploys the same chain with one replica each and quorum-1 voters: FIT-SFC's code
 *    path without replication, Figure 5's baseline.
 *
 *  - Consistency by service type, chosen by the function (nf_class.consistency): a globally
 *    stateful VNF (lb, nat) orders what its replicas' voters decided by PBFT among its 3f+1
 *    replicas (vnfs/ft/fitsfc/pbft.c; tests/sim scenarios pbft-f1/f2) before the function
 *    runs; each VNF's replicas get one instance key for those messages (crypto_auth).
 *    view_change_timeout is PBFT's request/view-change timeout.
 *  - A chain must end in a function that answers: dns, or lb with answer=1 (the lb answers
 *    the request itself, naming the backend it chose): replies come back through the replicas.
 *    A per-flow stateful VNF (auth) hands its function each client's requests in counter
 *    order (vnfs/ft/fitsfc/flow_order.c, each replica on its own, behind its voter). */
#include <libfyaml.h>
#include <string.h>

#include "testbed/deploy/deploy.h"
#include "testbed/model/experiment.h"
#include "testbed/model/yaml.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/lib/util.h"

#define FITSFC_MAX_F 8

static const struct scheme_param fitsfc_params[] = {
    { "f", SCHEME_PARAM_UINT, "1", 0, FITSFC_MAX_F, NULL,
      "faults or intrusions tolerated per component: 3f+1 replicas of each" },
    { "timeout", SCHEME_PARAM_DURATION, "1s", 1000000, 60000000000ull, NULL,
      "a voter halts a packet that has no 2f+1 identical copies by then" },
    { "view_change_timeout", SCHEME_PARAM_DURATION, "500ms", 1000000, 60000000000ull, NULL,
      "PBFT's view change timeout (the replicas of globally stateful VNFs: lb, nat)" },
};

static const struct scheme_target fitsfc_targets[] = {
    { "classifier[0].replica[M]", "replica M (0..3f) of the classifier" },
    { "sff[0].replica[M]", "replica M (0..3f) of the SFF and its voters" },
    { "vnf[N].replica[M]", "replica M (0..3f) of the N-th VNF and its voter" },
    { "client[0]", "the workload's client (and its wrapper)" },
};

static unsigned
fitsfc_f(const struct exp_point *p)
{
    extern const struct scheme_class scheme_fitsfc;

    return scheme_param_uint(&scheme_fitsfc, p, "f");
}

/* Whether the chain's last function turns requests into answers. */
static bool
fitsfc_answers(const struct exp_vnf *v)
{
    if (!strcmp(v->fn, "dns")) {
        return true;
    }
    for (size_t i = 0; !strcmp(v->fn, "lb") && i < v->n_params; i++) {
        if (!strcmp(v->params[i].key, "answer") && !strcmp(v->params[i].value, "1")) {
            return true;
        }
    }
    return false;
}

static void
fitsfc_check(struct yaml_doc *doc, struct fy_node *root, struct fy_node *params,
             const struct exp_point *p)
{
    uint64_t n = 3 * (uint64_t) fitsfc_f(p) + 1;

    /* Client, server and the replicas of classifier, SFF and each VNF need data addresses
     * below the service address. */
    if (2 + n * (2 + p->n_vnfs) >= 250) {
        yaml_error(doc, params ? params : root, "fitsfc: %zu VNFs with 3f+1 = %llu replicas of "
                   "every component need more than the 245 guest addresses of the data subnet",
                   p->n_vnfs, (unsigned long long) n);
    }
    if (n > 17) {
        yaml_error(doc, params ? params : root, "fitsfc: 3f+1 = %llu replicas, at most 17 "
                   "(f <= 5)", (unsigned long long) n);
    }
    if (p->vnfs && (!p->n_vnfs || !fitsfc_answers(&p->vnfs[p->n_vnfs - 1]))) {
        struct fy_node *chain = root && fy_node_is_mapping(root) ? yaml_map_get(root, "chain")
                                                                 : NULL;
        struct fy_node *vnfs = chain && fy_node_is_mapping(chain) ? yaml_map_get(chain, "vnfs")
                                                                  : NULL;

        yaml_error(doc, vnfs ? vnfs : chain ? chain : root, "fitsfc: the chain must end in a "
                   "function that answers (dns, or lb with answer=1): replies come back "
                   "through the replicas");
    }
}

static bool
fitsfc_has_target(const struct exp_point *p, const char *role, int index, int replica)
{
    int n = 3 * (int) fitsfc_f(p) + 1;

    if (!strcmp(role, "classifier") || !strcmp(role, "sff") || !strcmp(role, "vnf")) {
        return replica >= 0 && replica < n && scheme_chain_has_target(p, role, index);
    }
    return replica < 0 && !strcmp(role, "client") && index == 0;
}

static int
fitsfc_topology(const struct exp_point *p, struct topology **topop, char **errp)
{
    return deploy_fitsfc_topology(p, fitsfc_f(p), topop, errp);
}

static int
fitsfc_deploy(struct instance *inst, const struct exp_point *p, const char *work_dir,
              struct deployment **dp)
{
    extern const struct scheme_class scheme_fitsfc;

    return deploy_fitsfc(inst, p, fitsfc_f(p), scheme_param_value(&scheme_fitsfc, p, "timeout"),
                         scheme_param_value(&scheme_fitsfc, p, "view_change_timeout"),
                         work_dir, dp);
}

const struct scheme_class scheme_fitsfc = {
    .name = "fitsfc",
    .summary = "FIT-SFC: 3f+1 replicas of classifier, SFF and VNFs, 2f+1 voters, a client "
               "wrapper accepting f+1 identical replies, PBFT among the replicas of globally "
               "stateful VNFs",
    .guests = "client (and its wrapper), 3f+1 each of classifier, SFF and every VNF (and an "
              "attacker for mitm faults)",
    .params = fitsfc_params,
    .n_params = ARRAY_SIZE(fitsfc_params),
    .targets = fitsfc_targets,
    .n_targets = ARRAY_SIZE(fitsfc_targets),
    .check = fitsfc_check,
    .has_target = fitsfc_has_target,
    .topology = fitsfc_topology,
    .deploy = fitsfc_deploy,
    .stop = deploy_stop,
};
