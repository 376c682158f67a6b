/* none — the chain with no fault tolerance: one guest per component, the baseline every figure
 * compares against. Its fault targets are the chain's own components; it has no replicas. Its
 * one parameter is the SFF's admission (sff_window), so that FTC's bench can compare the two
 * with and without it. */
#include <string.h>

#include "testbed/deploy/deploy.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/lib/util.h"

static const struct scheme_param none_params[] = {
    { "sff_window", SCHEME_PARAM_UINT, DEPLOY_SFF_WINDOW, 0, 65536, NULL,
      "the SFF's admission: new frames only while fewer are in the chain (0: none; else at "
      "least 64)" },
};

extern const struct scheme_class scheme_none;

static void
none_opts(const struct exp_point *p, struct deploy_chain_opts *o)
{
    *o = (struct deploy_chain_opts) {
        .replicas = 1,
        .sff_window = deploy_sff_window(scheme_param_uint(&scheme_none, p, "sff_window")),
    };
}

static const struct scheme_target none_targets[] = {
    { "classifier[0]", "the classifier" },
    { "sff[0]", "the service function forwarder" },
    { "vnf[N]", "the N-th VNF of the chain (from 0)" },
    { "client[0]", "the workload's client" },
    { "server[0]", "the echo server at the chain's end" },
};

static bool
none_has_target(const struct exp_point *p, const char *role, int index, int replica)
{
    return replica < 0 && scheme_chain_has_target(p, role, index);
}

static int
none_topology(const struct exp_point *p, struct topology **topop, char **errp)
{
    struct deploy_chain_opts o;

    none_opts(p, &o);
    return deploy_chain_topology(p, &o, topop, errp);
}

static int
none_deploy(struct instance *inst, const struct exp_point *p, const char *work_dir,
            struct deployment **dp)
{
    struct deploy_chain_opts o;

    none_opts(p, &o);
    return deploy_chain(inst, p, &o, work_dir, dp);
}

const struct scheme_class scheme_none = {
    .name = "none",
    .summary = "the chain without fault tolerance: one guest per component (the baseline)",
    .guests = "client, classifier, SFF, server, one per VNF (and an attacker for mitm faults)",
    .params = none_params,
    .n_params = ARRAY_SIZE(none_params),
    .targets = none_targets,
    .n_targets = ARRAY_SIZE(none_targets),
    .has_target = none_has_target,
    .topology = none_topology,
    .deploy = none_deploy,
    .stop = deploy_stop,
};
