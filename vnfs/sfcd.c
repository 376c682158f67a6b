/* sfcd — the guest binary: one program, its role chosen on the command line (`sfcd ROLE ...`).
 *
 * The role table is the one place that lists what a guest can be; each role lives in its own
 * file under vnfs/sfc/ (or vnfs/ft/<scheme>/ for a scheme's components) and is a main() of its
 * own: it parses its options, runs, and returns an exit code. */

#include <stdio.h>
#include <string.h>

#include "vnfs/lib/util.h"
#include "vnfs/sfc/roles.h"

struct sfcd_role {
    const char *name;
    int (*main)(int argc, char *argv[]);
    const char *help;
};

static const struct sfcd_role roles[] = {
    { "init", role_init, "PID 1 of a guest: reaps, forwards SIGTERM" },
    { "agent", role_agent, "JSON-RPC agent: starts/stops roles, stats, VNF state" },
    { "classifier", role_classifier, "matches flows, encapsulates them in NSH to the SFF" },
    { "sff", role_sff, "forwards NSH frames along their service path" },
    { "nham-sff", role_nham_sff, "NHAM's SFF: Hold/Release and the State Synchronizer" },
    { "nham-vnf", role_nham_vnf, "NHAM's VNF: a checkpointable stateful forwarder copy" },
    { "vnf", role_vnf, "runs a network function on NSH frames (--fn NAME)" },
    { "client", role_client, "workloads: dns, echo, udp, probe" },
    { "wrapper", role_wrapper, "FIT-SFC's client wrapper: a local proxy to the replicated chain" },
    { "echo", role_echo, "UDP echo server (the bare-path baseline)" },
    { "mitm", role_mitm, "attacker: rewrites steered frames with libpcap (--mode)" },
    { "ftmb-logger", role_ftmb_logger, "FTMB's input/output logger: logs VNFs' records, acks" },
    { "ft", role_ft, "runs a fault-tolerance protocol core over UDP (--core NAME)" },
    { "ftvnf", role_ftvnf, "runs one of FTvNF's cores on the NSH path (--core NAME)" },
    { "link", role_link, "impaired link stage: delay, jitter, duplicate, reorder (host side)" },
    { "vminit", role_vminit, "first process of a kvm guest: mounts, modules, control channel" },
};

static void
usage(FILE *stream)
{
    fprintf(stream, "usage: sfcd ROLE [OPTION...]\nroles:\n");
    for (size_t i = 0; i < ARRAY_SIZE(roles); i++) {
        fprintf(stream, "  %-12s %s\n", roles[i].name, roles[i].help);
    }
}

/* `sfcd ROLE ARG...`: argv[0] is sfcd, argv[1] the role. */
static int
run_role(int argc, char *argv[])
{
    for (size_t i = 0; i < ARRAY_SIZE(roles); i++) {
        if (!strcmp(roles[i].name, argv[1])) {
            char *name = xasprintf("sfcd-%s", roles[i].name);
            log_set_program(name);
            return roles[i].main(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "sfcd: unknown role '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

int
main(int argc, char *argv[])
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    sfcd_role_main = run_role;
    return run_role(argc, argv);
}
