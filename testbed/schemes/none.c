/* none — the chain with no fault tolerance: one guest per component, the baseline every figure
 * compares against. Its fault targets are the chain's own components; it has no replicas and
 * no parameters. */
#include <string.h>

#include "testbed/deploy/deploy.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/lib/util.h"

static const struct deploy_chain_opts none_opts = {
    .replicas = 1, .sff_window = DEPLOY_SFF_WINDOW,
};

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
    return deploy_chain_topology(p, &none_opts, topop, errp);
}

static int
none_deploy(struct instance *inst, const struct exp_point *p, const char *work_dir,
            struct deployment **dp)
{
    return deploy_chain(inst, p, &none_opts, work_dir, dp);
}

const struct scheme_class scheme_none = {
    .name = "none",
    .summary = "the chain without fault tolerance: one guest per component (the baseline)",
    .guests = "client, classifier, SFF, server, one per VNF (and an attacker for mitm faults)",
    .targets = none_targets,
    .n_targets = ARRAY_SIZE(none_targets),
    .has_target = none_has_target,
    .topology = none_topology,
    .deploy = none_deploy,
    .stop = deploy_stop,
};
