/* ftmb — FTMB (SIGCOMM'15), the fault-tolerance baseline of FTC's evaluation (vnfs/sfc/ftmb.h),
 * each VNF stalling for 'stall' every 'snapshot' (the paper's simulated snapshot: 6 ms every
 * 50 ms; snapshot=0 runs FTMB without them). Parameter 'logger':
 *  - in-line (the default): FTMB as FTC's paper built it, "Packets go through IL, M, then OL":
 *    each middlebox M gets a logger guest of its own, "l<i>", its input and output logger,
 *    which is the chain's hop for it; M sends each packet's access log (PAL) to the OL in a
 *    message of its own, and the OL releases the output once its PAL is in. Three extra frames
 *    per packet and middlebox (IL -> M, the PAL, M -> OL), as the paper's two servers per
 *    middlebox had.
 *  - shared: one "logger" guest beside the path for the whole chain: each VNF sends it every
 *    packet with its PAL and releases the output once the logger acknowledged it (cumulative
 *    acks, one per logger wake-up). One extra frame per packet and middlebox: cheaper than the
 *    paper's FTMB (what this scheme was before the in-line layout).
 * Recovery (replaying the log into a restored snapshot) is not built: the scheme is the
 * failure-free cost FTC is compared with, and its fault targets are the chain's components. */
#include <string.h>

#include "testbed/deploy/deploy.h"
#include "testbed/model/experiment.h"
#include "testbed/model/yaml.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/lib/util.h"

static const char *const ftmb_logger_choices[] = { "in-line", "shared", NULL };

static const struct scheme_param ftmb_params[] = {
    { "logger", SCHEME_PARAM_STRING, "in-line", 0, 0, ftmb_logger_choices,
      "in-line: a logger guest per middlebox, its IL and OL on the path (IL -> M -> OL, a PAL "
      "message per packet: FTC's paper's FTMB); shared: one logger beside the path, output "
      "held until it acknowledges" },
    { "snapshot", SCHEME_PARAM_DURATION, "50ms", 0, 10000000000ull, NULL,
      "period of the simulated snapshot (0: none)" },
    { "stall", SCHEME_PARAM_DURATION, "6ms", 0, 1000000000ull, NULL,
      "how long each snapshot stalls the VNF (shorter than the period)" },
    { "sff_window", SCHEME_PARAM_UINT, DEPLOY_SFF_WINDOW, 0, 65536, NULL,
      "the SFF's admission: new frames only while fewer are in the chain (0: none; else at "
      "least 64), as none's and ftc's (FTC's bench sets all three alike)" },
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
        .replicas = 1, .ftmb = true,
        .sff_window = deploy_sff_window(scheme_param_uint(&scheme_ftmb, p, "sff_window")),
        .ftmb_in_line = !strcmp(scheme_param_value(&scheme_ftmb, p, "logger"), "in-line"),
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
    .summary = "FTMB: each packet through an input logger, the VNF, and an output logger that "
               "releases it once the VNF's access log is in; simulated snapshots stall the VNF "
               "(6 ms every 50 ms)",
    .guests = "client, classifier, SFF, server, one per VNF, and a logger per VNF (in-line) "
              "or one (shared)",
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
