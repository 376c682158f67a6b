/* ftmb — FTMB (SIGCOMM'15), the fault-tolerance baseline of FTC's evaluation: each VNF logs
 * every packet with its packet access log (what its function wrote) to a logger guest and
 * releases the packet's output only once the logger acknowledged the record (vnfs/sfc/ftmb.h),
 * and stalls for 'stall' every 'snapshot' (the paper's simulated snapshot: 6 ms every 50 ms;
 * snapshot=0 runs FTMB without them). One extra guest, "logger", for every VNF's records.
 * Recovery (replaying the log into a restored snapshot) is not built: the scheme is the
 * failure-free cost FTC is compared with, and its fault targets are the chain's components. */
#include <string.h>

#include "testbed/deploy/deploy.h"
#include "testbed/model/experiment.h"
#include "testbed/model/yaml.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/lib/util.h"

static const struct scheme_param ftmb_params[] = {
    { "snapshot", SCHEME_PARAM_DURATION, "50ms", 0, 10000000000ull, NULL,
      "period of the simulated snapshot (0: none)" },
    { "stall", SCHEME_PARAM_DURATION, "6ms", 0, 1000000000ull, NULL,
      "how long each snapshot stalls the VNF (shorter than the period)" },
};

static const struct scheme_target ftmb_targets[] = {
    { "classifier[0]", "the classifier" },
    { "sff[0]", "the service function forwarder" },
    { "vnf[N]", "the N-th VNF of the chain (from 0)" },
    { "client[0]", "the workload's client" },
    { "server[0]", "the echo server at the chain's end" },
};

extern const struct scheme_class scheme_ftmb;

static void
ftmb_opts(const struct exp_point *p, struct deploy_chain_opts *o)
{
    *o = (struct deploy_chain_opts) {
        .replicas = 1, .ftmb = true, .sff_window = DEPLOY_SFF_WINDOW,
        .ftmb_snapshot = scheme_param_value(&scheme_ftmb, p, "snapshot"),
        .ftmb_stall = scheme_param_value(&scheme_ftmb, p, "stall"),
    };
}

static void
ftmb_check(struct yaml_doc *doc, struct fy_node *root, struct fy_node *params,
           const struct exp_point *p)
{
    uint64_t snapshot = 0, stall = 0;

    parse_duration(scheme_param_value(&scheme_ftmb, p, "snapshot"), &snapshot);
    parse_duration(scheme_param_value(&scheme_ftmb, p, "stall"), &stall);
    if (snapshot && stall >= snapshot) {
        yaml_error(doc, params ? params : root, "ftmb: the stall (%s) must be shorter than the "
                   "snapshot period (%s)", scheme_param_value(&scheme_ftmb, p, "stall"),
                   scheme_param_value(&scheme_ftmb, p, "snapshot"));
    }
}

static bool
ftmb_has_target(const struct exp_point *p, const char *role, int index, int replica)
{
    return replica < 0 && scheme_chain_has_target(p, role, index);
}

static int
ftmb_topology(const struct exp_point *p, struct topology **topop, char **errp)
{
    struct deploy_chain_opts o;

    ftmb_opts(p, &o);
    return deploy_chain_topology(p, &o, topop, errp);
}

static int
ftmb_deploy(struct instance *inst, const struct exp_point *p, const char *work_dir,
            struct deployment **dp)
{
    struct deploy_chain_opts o;

    ftmb_opts(p, &o);
    return deploy_chain(inst, p, &o, work_dir, dp);
}

const struct scheme_class scheme_ftmb = {
    .name = "ftmb",
    .summary = "FTMB: every VNF logs each packet and its access log to a logger and releases "
               "output once logged; simulated snapshots stall it (6 ms every 50 ms)",
    .guests = "client, classifier, SFF, server, one per VNF, and the logger",
    .params = ftmb_params,
    .n_params = ARRAY_SIZE(ftmb_params),
    .targets = ftmb_targets,
    .n_targets = ARRAY_SIZE(ftmb_targets),
    .check = ftmb_check,
    .has_target = ftmb_has_target,
    .topology = ftmb_topology,
    .deploy = ftmb_deploy,
    .stop = deploy_stop,
};
