/* nmr — N-modular redundancy: 2f+1 replicas of each VNF, each on its own guest. The SFF sends
 * a copy of every packet to each replica of the current VNF, and a majority voter in the SFF
 * (the demo `voter` core of vnfs/ft/demo/voter.c, run on the NSH path by vnfs/sfc/ftstage.c)
 * lets through what f+1 replicas sent identically, to the next VNF or back to the client. At
 * most f faulty replicas of a VNF (crashed, omitting, or rewriting what they send) change
 * nothing the client sees; f+1 identical lies would. The simplest replicated baseline. */
#include <string.h>

#include "testbed/deploy/deploy.h"
#include "testbed/model/experiment.h"
#include "testbed/model/yaml.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/core/util.h"

#define NMR_MAX_F 8             /* 2f+1 guests per VNF: 17 at most, as the SFF's path allows. */

static const struct scheme_param nmr_params[] = {
    { "f", SCHEME_PARAM_UINT, "1", 1, NMR_MAX_F, NULL,
      "faulty replicas tolerated per VNF; each VNF gets 2f+1 replicas" },
    /* Long by default: on shared CPUs a guest may not run for tens of milliseconds, and a
     * request halted early is lost although its copies were on their way. */
    { "timeout", SCHEME_PARAM_DURATION, "1s", 1000000, 60000000000ull, NULL,
      "the voter halts a request that has no f+1 identical copies by then" },
};

static const struct scheme_target nmr_targets[] = {
    { "vnf[N].replica[M]", "replica M (0..2f) of the N-th VNF" },
    { "classifier[0]", "the classifier (not replicated)" },
    { "sff[0]", "the SFF and its voter (not replicated)" },
    { "client[0]", "the workload's client" },
    { "server[0]", "the echo server at the chain's end" },
};

static void
nmr_opts(const struct exp_point *p, struct deploy_chain_opts *o)
{
    extern const struct scheme_class scheme_nmr;
    unsigned f = scheme_param_uint(&scheme_nmr, p, "f");

    *o = (struct deploy_chain_opts) {
        .replicas = 2 * f + 1, .vote_core = "voter", .f = f,
        .vote_timeout = scheme_param_value(&scheme_nmr, p, "timeout"),
    };
}

static void
nmr_check(struct yaml_doc *doc, struct fy_node *root, struct fy_node *params,
          const struct exp_point *p)
{
    extern const struct scheme_class scheme_nmr;
    uint64_t f = scheme_param_uint(&scheme_nmr, p, "f");

    /* Every guest needs an address on the data bridge below the service address. */
    if (p->vnfs && 4 + p->n_vnfs * (2 * f + 1) >= 250) {
        yaml_error(doc, params ? params : root, "nmr: %zu VNFs x %llu replicas need more than "
                   "the 245 guest addresses of the data subnet", p->n_vnfs,
                   (unsigned long long) (2 * f + 1));
    }
}

static bool
nmr_has_target(const struct exp_point *p, const char *role, int index, int replica)
{
    extern const struct scheme_class scheme_nmr;

    if (!strcmp(role, "vnf")) {
        return replica >= 0 && replica <= 2 * (int) scheme_param_uint(&scheme_nmr, p, "f")
               && scheme_chain_has_target(p, role, index);
    }
    return replica < 0 && scheme_chain_has_target(p, role, index);
}

static int
nmr_topology(const struct exp_point *p, struct topology **topop, char **errp)
{
    struct deploy_chain_opts o;

    nmr_opts(p, &o);
    return deploy_chain_topology(p, &o, topop, errp);
}

static int
nmr_deploy(struct instance *inst, const struct exp_point *p, const char *work_dir,
           struct deployment **dp)
{
    struct deploy_chain_opts o;

    nmr_opts(p, &o);
    return deploy_chain(inst, p, &o, work_dir, dp);
}

const struct scheme_class scheme_nmr = {
    .name = "nmr",
    .summary = "N-modular redundancy: 2f+1 replicas of each VNF, a majority voter in the SFF",
    .guests = "client, classifier, SFF (and its voters), server, 2f+1 per VNF (and an attacker "
              "for mitm faults)",
    .params = nmr_params,
    .n_params = ARRAY_SIZE(nmr_params),
    .targets = nmr_targets,
    .n_targets = ARRAY_SIZE(nmr_targets),
    .check = nmr_check,
    .has_target = nmr_has_target,
    .topology = nmr_topology,
    .deploy = nmr_deploy,
    .stop = deploy_stop,
};
