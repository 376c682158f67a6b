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
#include "vnfs/lib/util.h"

#define NMR_MAX_F 8             /* 2f+1 guests per VNF: 17 at most, as the SFF's path allows. */

/* majority: the demo `voter`, f+1 identical of 2f+1 replicas (faulty replicas may lie, but every
 * correct one must answer). bft: FIT-SFC's `bft_voter` (vnfs/ft/fitsfc/), 2f+1 identical of
 * 3f+1, which also outlasts f replicas that omit or halt: FIT-SFC's VNF stage on its own. */
static const char *const nmr_voters[] = { "majority", "bft", NULL };

static const struct scheme_param nmr_params[] = {
    { "f", SCHEME_PARAM_UINT, "1", 1, NMR_MAX_F, NULL,
      "faulty replicas tolerated per VNF; each VNF gets 2f+1 replicas" },
    /* Long by default: on shared CPUs a guest may not run for tens of milliseconds, and a
     * request halted early is lost although its copies were on their way. */
    { "timeout", SCHEME_PARAM_DURATION, "1s", 1000000, 60000000000ull, NULL,
      "the voter halts a request that has no quorum of identical copies by then" },
    { "voter", SCHEME_PARAM_STRING, "majority", 0, 0, nmr_voters,
      "majority: f+1 of 2f+1 replicas; bft: 2f+1 of 3f+1 replicas (FIT-SFC's voter)" },
};

static const struct scheme_target nmr_targets[] = {
    { "vnf[N].replica[M]", "replica M (0..2f; 0..3f with voter bft) of the N-th VNF" },
    { "classifier[0]", "the classifier (not replicated)" },
    { "sff[0]", "the SFF and its voter (not replicated)" },
    { "client[0]", "the workload's client" },
    { "server[0]", "the echo server at the chain's end" },
};

static bool
nmr_bft(const struct exp_point *p)
{
    extern const struct scheme_class scheme_nmr;

    return !strcmp(scheme_param_value(&scheme_nmr, p, "voter"), "bft");
}

/* Replicas per VNF: 2f+1, or 3f+1 with the bft voter. */
static unsigned
nmr_replicas(const struct exp_point *p)
{
    extern const struct scheme_class scheme_nmr;
    unsigned f = scheme_param_uint(&scheme_nmr, p, "f");

    return (nmr_bft(p) ? 3 : 2) * f + 1;
}

static void
nmr_opts(const struct exp_point *p, struct deploy_chain_opts *o)
{
    extern const struct scheme_class scheme_nmr;
    unsigned f = scheme_param_uint(&scheme_nmr, p, "f");

    *o = (struct deploy_chain_opts) {
        .replicas = nmr_replicas(p), .vote_core = nmr_bft(p) ? "bft_voter" : "voter", .f = f,
        .vote_timeout = scheme_param_value(&scheme_nmr, p, "timeout"),
    };
}

static void
nmr_check(struct yaml_doc *doc, struct fy_node *root, struct fy_node *params,
          const struct exp_point *p)
{
    uint64_t n = nmr_replicas(p);

    /* Every guest needs an address on the data bridge below the service address. */
    if (p->vnfs && 4 + p->n_vnfs * n >= 250) {
        yaml_error(doc, params ? params : root, "nmr: %zu VNFs x %llu replicas need more than "
                   "the 245 guest addresses of the data subnet", p->n_vnfs,
                   (unsigned long long) n);
    }
    /* The SFF's path holds at most PATH_MAX_REPLICAS (17) replicas per hop. */
    if (n > 17) {
        yaml_error(doc, params ? params : root, "nmr: %llu replicas per VNF, at most 17 "
                   "(f <= 5 with voter bft)", (unsigned long long) n);
    }
}

static bool
nmr_has_target(const struct exp_point *p, const char *role, int index, int replica)
{
    if (!strcmp(role, "vnf")) {
        return replica >= 0 && replica < (int) nmr_replicas(p)
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
    .summary = "N-modular redundancy: 2f+1 replicas of each VNF, a majority voter in the SFF "
               "(or 3f+1 and FIT-SFC's 2f+1 voter)",
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
