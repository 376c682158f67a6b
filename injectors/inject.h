/* inject — faults applied to, and healed on, a running testbed instance: crash, omission,
 * man-in-the-middle and pause, each a kind behind a struct of function pointers (one file per
 * kind: crash.c, omission.c, mitm.c, pause.c; one line in the table of inject.c).
 *
 * inject_fault_create() resolves the target and checks everything the fault needs (the kind,
 * its mode, the target's interfaces, the attacker guest, a fraction in (0, 1]) and touches
 * nothing: a target that does not exist is an error before anything runs. Targets are
 * component names of the deployment ("vnf[1]", "sff[0]", "vnf[2].replica[3]", "classifier[0]",
 * "logger", read from the instance's deploy.json), "random(ROLE)" (drawn from a seeded
 * generator), or plain guest names ("h2") when nothing is deployed.
 *
 * inject_apply() acts and records what heal needs in STATE/NAME/faults/TARGET.KIND.json, so a
 * fault injected by one `sfclab inject` can be healed by another (inject_fault_load()).
 * Both apply and heal report when the fault took effect (wall and monotonic clocks, taken right
 * after the last action that made it real), for the runner's fault-injected / healed events.
 *
 * Kinds and modes (the first is the default):
 *   crash     kill     SIGKILL the component's processes (the agent's roles; --role-id one);
 *                      heal: nothing (recovery is the scheme's job).
 *             links    every data interface of the guest set down, as NHAM's experiments did;
 *                      heal: set up again.
 *             destroy  the guest destroyed through its provider; heal: nothing (recreating a
 *                      guest and its wiring is instance_up's work, not an injector's).
 *   omission  drop     an OpenFlow rule drops everything the target sends (a window, healed by
 *                      removing the rule); with a fraction below 1 the target's traffic is sent
 *                      through the attacker guest, which drops that fraction (sfcd mitm).
 *   mitm      dns-spoof|flip|replay|drop|equivocate
 *                      the target's output is steered by OpenFlow to the attacker guest, where
 *                      `sfcd mitm` (libpcap) rewrites and re-injects it; heal removes the rules
 *                      and stops the attacker.
 *   pause     freeze   the guest's cgroup freezer (a slow replica); heal: thaw.
 *   degrade   lossy|wan|congested|slow
 *                      a named impairment profile over the target's data link (injectors/
 *                      degrade.c); heal: the link's impairments as they were.
 * Never forks except through the provider (guest exec) and ovs-ofctl. Main types: struct
 * inject_kind, struct inject_fault, struct inject_params, struct inject_time. */
#ifndef SFC_INJECT_H
#define SFC_INJECT_H 1

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct instance;
struct instance_guest;
struct instance_iface;

/* Flows of injectors carry this cookie (plus the target's OpenFlow port), so heal removes
 * exactly ours. Priority above the deployment's steering (200) and static L2 flows (50). */
#define INJECT_COOKIE_BASE 0x5fc1000000000000ull
#define INJECT_PRIORITY 300
/* mitm: what the attacker re-injects with a destination that is no guest's MAC (a broadcast,
 * or a virtual MAC a scheme steers: NHAM's and FTvNF's hops, priority 100) goes on below the
 * schemes' steering, so that it reaches the copy the scheme points the address at, as the
 * target's own frame would. Above it, the frames were flooded to every port with that
 * address unchanged, and no guest took them: NHAM's chain stopped at the attack. */
#define INJECT_PRIORITY_REST 90

struct inject_params {
    const char *mode;           /* NULL: the kind's default. */
    double fraction;            /* omission/mitm: share of packets attacked; 0: all. */
    const char *attacker;       /* mitm: guest that rewrites; NULL: "attacker". */
    const char *spoof_ip;       /* mitm dns-spoof: the forged A record; NULL: 6.6.6.6. */
    int role_id;                /* crash kill: one role of the guest's agent; -1: all. */
};

struct inject_time {
    uint64_t wall_ns;
    uint64_t mono_ns;
};

struct inject_fault {
    const struct inject_kind *kind;
    struct instance *inst;
    char *target;               /* As resolved: "vnf[1]", or a guest name. */
    char *guest;
    struct instance_guest *ig;
    char *mode;
    double fraction;
    char *attacker;
    char *spoof_ip;
    int role_id;
    bool active;                /* Applied and not healed. */
    bool has_at;                /* apply() took the time of the action that made the fault */
    struct inject_time at;      /* real ('at'), past its preparations (a crash's look-ups). */
    json_t *saved;              /* What heal needs (the kind's keys), saved with the record. */
};

struct inject_kind {
    const char *name;
    const char *const *modes;   /* NULL-terminated; [0] is the default. */
    bool has_fraction;          /* Takes a 'fraction' of the target's traffic. */
    bool on_traffic;            /* Acts on the target's traffic, not its process: random(ROLE)
                                 * passes over copies that carry none (deploy_find_busy()). */
    /* Checks what apply needs, logging what is wrong; touches nothing. */
    int (*check)(struct inject_fault *);
    int (*apply)(struct inject_fault *);
    int (*heal)(struct inject_fault *);
    /* Modes whose heal restores nothing (a killed process stays dead: recovering it is the
     * scheme's job), NULL-terminated; NULL: every mode's heal restores. */
    const char *const *lasting_modes;
};

extern const struct inject_kind inject_crash;
extern const struct inject_kind inject_omission;
extern const struct inject_kind inject_mitm;
extern const struct inject_kind inject_pause;
extern const struct inject_kind inject_degrade;

const struct inject_kind *inject_kind_find(const char *name);
/* "crash, omission, mitm, pause", for messages (from the table). */
const char *inject_kind_names(void);
/* The kinds in table order, for whoever lists them; NULL past the end. */
const struct inject_kind *inject_kind_at(size_t i);
/* "kill, destroy, links" (static). */
const char *inject_mode_names(const struct inject_kind *);

/* Resolves 'target' on 'inst' (rng: for random(ROLE); may be NULL otherwise) and checks the
 * fault. Returns 0, ENOENT (no such target), EINVAL (bad kind, mode or parameter), or the
 * error of a check; logs why. Nothing on the instance is touched. */
int inject_fault_create(struct instance *, const char *target, const char *kind,
                        const struct inject_params *, uint64_t *rng, struct inject_fault **);
/* The same for a target its caller resolved already (the runner, from the deployment it holds:
 * one target map, no deploy.json round trip): component 'name' on guest 'guest'. */
int inject_fault_create_resolved(struct instance *, const char *name, const char *guest,
                                 const char *kind, const struct inject_params *,
                                 struct inject_fault **);
void inject_fault_free(struct inject_fault *);

int inject_apply(struct inject_fault *, struct inject_time *);
int inject_heal(struct inject_fault *, struct inject_time *);
/* Whether healing 'f' restores the target (false for a lasting mode such as crash kill): only
 * then is its end a recovery in the run's history. */
bool inject_heal_restores(const struct inject_fault *);

/* The fault of 'kind' applied to 'target' by an earlier process, from its record; ENOENT if
 * there is none. */
int inject_fault_load(struct instance *, const char *target, const char *kind,
                      struct inject_fault **);

/* Helpers for kinds. */
/* The guest's first data interface (ifaces[1..]), or NULL. */
struct instance_iface *inject_data_iface(struct instance_guest *);
/* Calls 'method' on the agent of 'ig' (2 s timeout); '*resultp' a new reference. */
int inject_agent_call(struct inject_fault *, struct instance_guest *, const char *method,
                      json_t *params, json_t **resultp);
/* The steering through the attacker guest that mitm and partial omission share: check, then
 * start `sfcd mitm --mode MODE` on the attacker and install the rules; stop undoes both. */
int inject_steer_check(struct inject_fault *);
int inject_steer_start(struct inject_fault *, const char *mode);
int inject_steer_stop(struct inject_fault *);
/* Removes the flows of 'f' (its cookie) from the bridge of its data interface. */
int inject_flows_del(struct inject_fault *);
uint64_t inject_cookie(struct inject_fault *);

#endif
