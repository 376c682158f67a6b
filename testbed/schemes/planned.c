/* planned — the schemes of the papers that are known but not deployable yet: FTvNF
 * (FIT-SFC and NHAM have their own files, fitsfc.c and nham.c; no deploy either; FTC has
 * ftc.c). Their
 * protocol cores are written against vnfs/ft/core.h and checked in tests/sim; on the host side each is a class with its parameters and fault targets and no
 * deploy(), so an experiment naming one is validated like any other and refused by `sfclab run`
 * (exit 2) before anything is created, never run as another scheme. Each moves to a file of its
 * own when it gets a deploy(). */
#include "testbed/schemes/scheme.h"
#include "vnfs/lib/util.h"

/* FTvNF's cores (vnfs/ft/ftvnf) run on guests through `sfcd ft` (tests/system/ftvnf.sh); what
 * is missing for `sfclab run` is the chain's ingress and egress on the NSH path (the sequencer
 * in front of the first master, the last master's output back into the SFF) and the
 * controller that turns a crash into the manager's failure notice. */
static const struct scheme_param ftvnf_params[] = {
    { "manager_period", SCHEME_PARAM_DURATION, "5ms", 100000, 10000000000ull, NULL,
      "how often the manager feeds the slaves and cleans the loggers (bounds M\\S, so the "
      "recovery time)" },
};
static const struct scheme_target ftvnf_targets[] = {
    { "vnf[N].replica[M]", "the N-th VNF's master (M = 0) or slave (M = 1)" },
    { "sequencer[0]", "the ID sequencer" },
    { "packet-logger[0]", "the packet logger" },
    { "dp-logger[0]", "the D&P logger" },
    { "progress-logger[0]", "the slaves' progress logger" },
    { "manager[0]", "the manager" },
};


#define PLANNED(NAME, SUMMARY, PARAMS, TARGETS)                         \
    const struct scheme_class scheme_##NAME = {                         \
        .name = #NAME, .summary = SUMMARY,                              \
        .params = PARAMS, .n_params = ARRAY_SIZE(PARAMS),               \
        .targets = TARGETS, .n_targets = ARRAY_SIZE(TARGETS),           \
    }

PLANNED(ftvnf, "FTvNF: sequencer, packet and D&P loggers, master and slave copies, manager",
        ftvnf_params, ftvnf_targets);
