/* omission — a component's output lost: all of it while the fault lasts (an OpenFlow drop rule
 * on its port: the switch never forwards what it sends), or a random fraction of it (steered
 * through the attacker guest, whose `sfcd mitm --mode drop` drops that share per packet: OVS
 * select groups hash per flow, so they cannot drop a fraction of one flow). */
#include <errno.h>
#include <string.h>

#include "injectors/inject.h"
#include "testbed/infra/instance.h"
#include "testbed/infra/openflow.h"
#include "vnfs/lib/util.h"

static const char *const omission_modes[] = { "drop", NULL };

static int
omission_check(struct inject_fault *f)
{
    if (f->fraction < 1) {
        return inject_steer_check(f);
    }
    if (!inject_data_iface(f->ig)) {
        log_err("%s: guest %s has no data interface", f->target, f->guest);
        return EINVAL;
    }
    return 0;
}

static int
omission_apply(struct inject_fault *f)
{
    struct instance_iface *t = inject_data_iface(f->ig);
    struct of_flow drop = { .priority = INJECT_PRIORITY };   /* No actions: a drop. */
    int error, error2;

    if (f->fraction < 1) {
        return inject_steer_start(f, "drop");
    }
    drop.cookie = inject_cookie(f);
    of_match_in_port(&drop.match, t->ofport);
    error = instance_flow_add(f->inst, t->bridge, &drop);
    /* Also after a refusal: what was queued goes now. */
    error2 = instance_flow_barrier(f->inst, t->bridge);
    return error ? error : error2;
}

static int
omission_heal(struct inject_fault *f)
{
    return f->fraction < 1 ? inject_steer_stop(f) : inject_flows_del(f);
}

const struct inject_kind inject_omission = {
    .name = "omission",
    .modes = omission_modes,
    .has_fraction = true,
    .on_traffic = true,
    .check = omission_check,
    .apply = omission_apply,
    .heal = omission_heal,
};
