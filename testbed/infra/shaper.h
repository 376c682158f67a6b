/* shaper — realises a link's impairments (testbed/model/impair.h) on the host, choosing per
 * impairment the mechanism this kernel offers, and says which it chose.
 *
 * With `tc netem` (detected by adding one and removing it), the egress direction is one netem
 * qdisc on the guest's interface (with a tbf under it for a rate). Without it, as on this
 * project's reference host:
 *   rate      tbf: egress on the guest's interface; ingress on the stage's guest-side interface
 *   loss      a 7-instruction eBPF classifier (bpf_get_prandom_u32) on clsact of the guest's
 *             interface, egress and ingress hooks, in direct-action mode
 *   delay, jitter, duplicate, reorder (and ingress rate)
 *             the stage: `sfcd link`, a userspace delay line between the guest's veth and the
 *             switch port (the guest's veth peer is renamed, a second veth pair made to carry
 *             the switch port's name), pinned to the instance's CPU.
 * Nothing is added for an impairment that is zero, and a link without impairments is the bare
 * veth it always was (an explicit `queue:` asks for the stage, so that its delay can change at
 * run time). What a link has is kept in DIR/links/GUEST-IFNAME for shaper_update(). Every process is started through the manifest; filters and qdiscs live on
 * veths that die with their namespaces. It never touches the switch: the OVS port keeps its name.
 * Main types: struct shaper_env, struct shaper_port. */
#ifndef SFC_SHAPER_H
#define SFC_SHAPER_H 1

#include <stdbool.h>
#include <stdint.h>

struct buf;
struct impair;
struct impair_dir;
struct instance;
struct link_ns;
struct manifest;
struct topology;

struct shaper_env {
    struct manifest *manifest;
    const char *netns_path;     /* The instance's host namespace: where the stage runs. */
    const char *sfcd;
    const char *dir;            /* The instance's directory: logs, and the 'shaping' record. */
    int pin_cpu;                /* -1: not pinned. */
};

struct shaper_port {
    const char *guest;          /* Guest name, for messages. */
    const char *ifname;         /* The guest's end, in 'gns'. */
    const char *port;           /* The switch's end, in 'host' (an OVS port once wired). */
    unsigned int id;            /* Unique in the instance: names the stage's interfaces. */
    bool by_destination;        /* A PoP's guest: its stage tells WAN traffic apart. */
};

/* Applies 'imp' to a link that was just made and is up (before the switch opens its port).
 * Appends one line per direction to DIR/shaping ("h1 eth1 egress delay=10ms: stage") and, if
 * 'mech' is not NULL, the same text to it. Returns 0 or an errno, with a message logged. */
int shaper_apply(const struct shaper_env *, struct link_ns *host, struct link_ns *gns,
                 const struct shaper_port *, const struct impair *, struct buf *mech);

/* Once every guest of 'topo' is made: tells the stage of each PoP guest's link the MACs of
 * the guests of each PoP its own is joined to by a WAN link, and that WAN's impairment for
 * frames to them (DIR/links/GUEST-IFNAME.classes, read by the stage). Records one line per
 * link and WAN direction. */
int shaper_apply_pops(const struct shaper_env *, const struct instance *,
                      const struct topology *);

/* Changes a running link made by shaper_apply() by "key=value" assignments (impair_set_kv()
 * syntax: "delay=10ms", "egress.loss=1%", "rate=0"): tbf and filters are replaced in place and
 * the stage re-reads its specs (SIGHUP); a link without a stage can change only its rate
 * (egress) and loss. Records the change like shaper_apply(). Returns 0 or an errno with a
 * message logged (EINVAL: a bad assignment; ENOTSUP: needs a stage the link does not have). */
int shaper_update(const struct shaper_env *, struct link_ns *host, struct link_ns *gns,
                  const struct shaper_port *, char *const assignments[], int n,
                  struct buf *mech);

/* The same on interface 'ifname' (NULL: the first data interface) of 'guest' of a running
 * instance: opens what shaper_update() needs (the namespaces, the manifest). */
int shaper_update_instance(struct instance *, const char *guest, const char *ifname,
                           char *const assignments[], int n, struct buf *mech);
/* What a link of a running instance has now (all zero for a bare link). */
int shaper_read(const struct instance *, const char *guest, const char *ifname,
                struct impair *);

/* A loaded random-loss classifier dropping 'loss' of the packets (BPF_PROG_TYPE_SCHED_CLS,
 * direct action): 0 and '*fdp', or an errno (EPERM without CAP_BPF). */
int shaper_loss_prog(double loss, int *fdp);

/* True if the host's kernel has netem (probed once per process on 'ifname' in 'ns'). */
bool shaper_has_netem(struct link_ns *, const char *ifname);

/* The stage's argument for one direction ("delay=10ms,jitter=1ms,duplicate=1%"), or "" when
 * the direction needs nothing of it. Caller frees. */
char *shaper_stage_spec(const struct impair_dir *);

#endif
