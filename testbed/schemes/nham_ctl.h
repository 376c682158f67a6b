/* nham_ctl — NHAM on an instance's guests: the deployment of the chain (`sfcd nham-sff` with
 * the VSM beside it, and per VNF the copies its mechanism keeps, `sfcd nham-vnf`) and the FMS
 * that runs beside the workload as the scheme's host-side controller.
 *
 * Deploy: per VNF i, a virtual MAC the SFF sends to until a copy says READY (then to that
 * copy's own MAC, which the deployment's static L2 rules take to its port) and one OpenFlow
 * rule (eth_dst=VMAC_i -> eth_dst=MAC of the active copy, output to its port); the copies
 * start per mechanism: 0R one copy; 1R-AS an active copy and a standby guest with no process;
 * 1R-AA and MR-AA an active copy and running standbys whose core waits (`--standby`), which
 * the SFF gives every stored checkpoint (`--warm`: a failover transfers no image). Every
 * running copy beats to its own socket of the orchestrator: on netns guests a stream socket
 * (SOCK_SEQPACKET) in the guest's own directory (no other guest sees it; the beats do not
 * cross the management network, whose stalls on a loaded machine silenced every copy at once;
 * the stream's end is the first death notice), elsewhere a UDP socket connected to the copy's
 * management address (another guest cannot beat for it).
 *
 * Controller (the FMS): the failure detector of nham_fms.h watches the active copies; on a
 * death or a suspicion of VNF i's active copy it records `suspected` and, on a thread of that
 * VNF's own (several VNFs recover in parallel), recovers: the SFF's failure notice (it holds
 * hop i's packets), then per mechanism: 0R restarts the VNF's process on its guest, 1R-AS
 * starts it on the standby guest, 1R-AA and MR-AA activate a running standby; the new copy
 * restores the VSM's last checkpoint and sends READY, and the SFF sends the hop's frames to
 * that copy from then on, its replay of what it held since first. The switch's change (the old
 * copy fenced: a falsely suspected copy that wakes up can send nothing; the rule re-pointed at
 * the new copy), over the controller's own persistent OpenFlow connection, is on no data
 * path: it comes before the new copy starts when the old one may wake up, after when it is
 * dead. When a running standby replaces a copy known dead (failover: fast), the SFF is not
 * told first: the READY alone moves it to the new incarnation and copy. So no round trip to
 * the switch or the SFF precedes the activation.
 * `recovered` is recorded at the READY's time (the copy's CLOCK_MONOTONIC, the host's too),
 * `steered` when that READY reached the SFF, which sends the hop to the new copy and no longer
 * to the failed one from then on (another copy took over), `resumed` at the new copy's first
 * output.
 * The VNF's name ("vnf[i]", which faults target) follows the new copy at once. A copy that
 * fails while it takes over interrupts that recovery (`recovery-interrupted`) and is
 * recovered in turn; a recovery that fails (an agent did not answer) is tried again.
 * Afterwards the failed copy's slot becomes a standby again (restarted when its guest answers),
 * so a VNF survives failure after failure. A suspicion whose beats come back (a pause) was
 * false: recorded as `false-suspicion`, the copy already replaced is retired to standby.
 *
 * Backend vm (0R and 1R-AS on guests that save, kvm): the VSM asks no checkpoint of the VNF;
 * the VNF's worker checkpoints its active copy's whole guest every interval (a live snapshot,
 * guest_checkpoint()) and tells the VSM what the image includes, so that the SFF releases on
 * the VSM's word as for app; a recovery restores the guest from its image in place and the
 * restored process becomes the new incarnation (nham_ctl.c, "Backend vm"). Events
 * `vm-checkpoint` and `vm-restore` carry each one's cost (summaries vm_checkpoint_ms and
 * vm_restore_ms).
 * Backend criu (0R and 1R-AS on netns guests): the same with the active copy's process alone,
 * dumped by libcriu from inside its guest's namespaces and restored there in place; its agent
 * adopts the restored process (nham_ctl.c, "Backend criu"). Events `criu-checkpoint` and
 * `criu-restore` (summaries criu_checkpoint_ms and criu_restore_ms).
 *
 * Must not: touch the runner's agent connections (but replace a restored guest's with new
 * ones, deploy_replace_agent_fd(): its TCP state is the image's) or its OpenFlow connection
 * (it has its own),
 * or judge packets (the cores do). Main types: struct nham_ctl, struct nham_dep. */
#ifndef SFC_NHAM_CTL_H
#define SFC_NHAM_CTL_H 1

#include "testbed/deploy/deploy.h"

struct scheme_controller_ctx;

enum nham_mechanism { NHAM_0R, NHAM_1R_AS, NHAM_1R_AA, NHAM_MR_AA };

/* What one VNF of a point takes, from the scheme's parameters. */
struct nham_vnf_conf {
    enum nham_mechanism mechanism;
    unsigned copies;
    const char *checkpoint;     /* "250ms" */
};

/* The point's settings (the scheme's parameters, resolved). */
struct nham_conf {
    struct nham_vnf_conf *vnfs;
    size_t n_vnfs;
    uint64_t beat_ns;           /* Heartbeat interval of the copies. */
    uint64_t suspect_min_ns;    /* The detector's least timeout. */
    uint64_t state_bytes;       /* Of each VNF (the paper's 512 KB). */
    uint64_t buffer_bytes;      /* Of each buffer_rx. */
    unsigned hop_window;        /* Packets in flight to a hop (the SFF core's 'window'). */
    unsigned sff_window;        /* The SFF's admission (sfcd nham-sff --window; 0: none). */
    uint64_t sff_realtime_ns;   /* The SFF's real-time CPU per second for its takeovers. */
    const char *backend;        /* Checkpoint backend: "app" or "vm". */
    bool fast_failover;         /* A running standby replaces a dead copy with no hold. */
};

/* Starts the SFF and every VNF copy (deploy_chain_opts.start_middle; 'o->aux' is a
 * struct nham_conf, copied). */
int nham_start_middle(struct deployment *, const struct deploy_chain_opts *);

int nham_ctl_start(const struct scheme_controller_ctx *, void **statep);
void nham_ctl_stop(void *state);

const char *nham_mechanism_name(enum nham_mechanism);

#endif
