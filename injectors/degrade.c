/* degrade — a partial network fault: a named impairment profile (testbed/model/impair.h:
 * lossy, wan, congested, slow) laid over the target's data link on top of what it has, through
 * the link's shaper (testbed/infra/shaper.h); heal puts back exactly what the link had. Loss and
 * an egress rate work on any link; delay, jitter and an ingress rate need the link's stage (a
 * link that had an impairment or a `queue:` at up; the runner gives every chain link one when an
 * experiment schedules a degrade fault). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "injectors/inject.h"
#include "testbed/infra/instance.h"
#include "testbed/infra/shaper.h"
#include "testbed/model/impair.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

static const char *const degrade_modes[] = { IMPAIR_BUILTIN_NAMES, NULL };

static int
degrade_check(struct inject_fault *f)
{
    struct instance_iface *iface = inject_data_iface(f->ig);
    struct impair now;

    if (!iface) {
        log_err("%s: guest %s has no data interface to degrade", f->target, f->guest);
        return ENOENT;
    }
    return shaper_read(f->inst, f->guest, iface->ifname, &now);
}

static int
run_assignments(struct inject_fault *f, char **kv, int n)
{
    struct instance_iface *iface = inject_data_iface(f->ig);
    struct buf mech = BUF_INITIALIZER;
    int error;

    error = shaper_update_instance(f->inst, f->guest, iface->ifname, kv, n, &mech);
    if (!error) {
        log_debug("%s: %.*s", f->target, (int) mech.len, (char *) mech.data);
    }
    buf_uninit(&mech);
    return error;
}

/* Every key of both directions back to 'imp' (the queue never changes). */
static int
restore(struct inject_fault *f, const struct impair *imp)
{
    char *kv[2 * 6];
    int n = 0, error;

    for (int d = 0; d < 2; d++) {
        const struct impair_dir *x = d ? &imp->ingress : &imp->egress;
        const char *dir = d ? "ingress" : "egress";

        kv[n++] = xasprintf("%s.rate=%llubit", dir, (unsigned long long) x->rate_bps);
        if (!x->rate_bps) {
            free(kv[n - 1]);
            kv[n - 1] = xasprintf("%s.rate=0", dir);
        }
        kv[n++] = xasprintf("%s.delay=%lluns", dir, (unsigned long long) x->delay_ns);
        kv[n++] = xasprintf("%s.jitter=%lluns", dir, (unsigned long long) x->jitter_ns);
        kv[n++] = xasprintf("%s.loss=%.9g%%", dir, x->loss * 100);
        kv[n++] = xasprintf("%s.duplicate=%.9g%%", dir, x->duplicate * 100);
        kv[n++] = xasprintf("%s.reorder=%.9g%%", dir, x->reorder * 100);
    }
    /* One update: the set is checked as a whole, so no order of keys is ever invalid. */
    error = run_assignments(f, kv, n);
    for (int i = 0; i < n; i++) {
        free(kv[i]);
    }
    return error;
}

static int
degrade_apply(struct inject_fault *f)
{
    const char *const *profile = impair_builtin(f->mode);
    struct instance_iface *iface = inject_data_iface(f->ig);
    struct impair before;
    int n = 0, error;

    error = shaper_read(f->inst, f->guest, iface->ifname, &before);
    if (error) {
        return error;
    }
    while (profile[n]) {
        n++;
    }
    error = run_assignments(f, (char **) profile, n);
    if (!error) {
        /* What heal restores, kept with the fault's record. */
        json_t *o = json_object();
        json_object_set_new(o, "egress_rate", json_integer(before.egress.rate_bps));
        json_object_set_new(o, "egress_delay", json_integer(before.egress.delay_ns));
        json_object_set_new(o, "egress_jitter", json_integer(before.egress.jitter_ns));
        json_object_set_new(o, "egress_loss", json_real(before.egress.loss));
        json_object_set_new(o, "egress_duplicate", json_real(before.egress.duplicate));
        json_object_set_new(o, "egress_reorder", json_real(before.egress.reorder));
        json_object_set_new(o, "ingress_rate", json_integer(before.ingress.rate_bps));
        json_object_set_new(o, "ingress_delay", json_integer(before.ingress.delay_ns));
        json_object_set_new(o, "ingress_jitter", json_integer(before.ingress.jitter_ns));
        json_object_set_new(o, "ingress_loss", json_real(before.ingress.loss));
        json_object_set_new(o, "ingress_duplicate", json_real(before.ingress.duplicate));
        json_object_set_new(o, "ingress_reorder", json_real(before.ingress.reorder));
        json_decref(f->saved);
        f->saved = o;
    }
    return error;
}

static int
degrade_heal(struct inject_fault *f)
{
    struct impair imp = { 0 };
    json_t *o = f->saved;

    if (!o) {
        log_err("%s: nothing recorded to restore", f->target);
        return ENOENT;
    }
    imp.egress.rate_bps = json_integer_value(json_object_get(o, "egress_rate"));
    imp.egress.delay_ns = json_integer_value(json_object_get(o, "egress_delay"));
    imp.egress.jitter_ns = json_integer_value(json_object_get(o, "egress_jitter"));
    imp.egress.loss = json_number_value(json_object_get(o, "egress_loss"));
    imp.egress.duplicate = json_number_value(json_object_get(o, "egress_duplicate"));
    imp.egress.reorder = json_number_value(json_object_get(o, "egress_reorder"));
    imp.ingress.rate_bps = json_integer_value(json_object_get(o, "ingress_rate"));
    imp.ingress.delay_ns = json_integer_value(json_object_get(o, "ingress_delay"));
    imp.ingress.jitter_ns = json_integer_value(json_object_get(o, "ingress_jitter"));
    imp.ingress.loss = json_number_value(json_object_get(o, "ingress_loss"));
    imp.ingress.duplicate = json_number_value(json_object_get(o, "ingress_duplicate"));
    imp.ingress.reorder = json_number_value(json_object_get(o, "ingress_reorder"));
    return restore(f, &imp);
}

const struct inject_kind inject_degrade = {
    .name = "degrade",
    .modes = degrade_modes,
    .on_traffic = true,
    .check = degrade_check,
    .apply = degrade_apply,
    .heal = degrade_heal,
};
