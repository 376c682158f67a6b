/* planned — the schemes of the papers that are known but not deployable yet: FTvNF
 * (FIT-SFC and NHAM have their own files, fitsfc.c and nham.c; no deploy either; FTC has
 * ftc.c). Their
 * protocol cores are written against vnfs/ft/core.h and checked in tests/sim; on the host side each is a class with its parameters and fault targets and no
 * deploy(), so an experiment naming one is validated like any other and refused by `sfclab run`
 * (exit 2) before anything is created, never run as another scheme. Each moves to a file of its
 * own when it gets a deploy(). */
#include "testbed/schemes/scheme.h"
#include "vnfs/core/util.h"

static const struct scheme_param ftvnf_params[] = {
    { "f", SCHEME_PARAM_UINT, "1", 0, 8, NULL, "slave copies per VNF" },
};
static const struct scheme_target ftvnf_targets[] = {
    { "vnf[N].replica[M]", "master (0) or slave copies of the N-th VNF" },
    { "sequencer[0]", "the ID sequencer" },
    { "packet-logger[0]", "the packet logger" },
    { "dp-logger[0]", "the D&P logger" },
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
