/* mitm — a man in the middle: the target's output is steered by OpenFlow to an attacker guest
 * on the same bridge, where `sfcd mitm` (libpcap, vnfs/sfc/mitm.c) rewrites it and sends it on.
 *
 * Rules, all with the fault's cookie so heal removes exactly them, sent over the bridge's
 * persistent OpenFlow connection (a run-time steering change, not an ovs-ofctl fork):
 *   in_port=TARGET                              -> output:ATTACKER
 *   in_port=ATTACKER, dl_src=TARGET, dl_dst=MAC -> output:port of MAC (each guest on the bridge)
 *   in_port=ATTACKER, dl_src=TARGET             -> output:every other port (broadcast, unknown),
 *                                                  below the schemes' steering (inject.h)
 * The re-injected frames never reach NORMAL, so MAC learning cannot move the target's MAC to
 * the attacker's port whether or not the deployment installed static L2 flows. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "injectors/inject.h"
#include "testbed/infra/instance.h"
#include "testbed/infra/openflow.h"
#include "vnfs/lib/util.h"
#include "vnfs/sfc/mitm.h"


uint64_t
inject_cookie(struct inject_fault *f)
{
    struct instance_iface *t = inject_data_iface(f->ig);

    return INJECT_COOKIE_BASE | (uint64_t) (t ? t->ofport : 0);
}

int
inject_flows_del(struct inject_fault *f)
{
    struct instance_iface *t = inject_data_iface(f->ig);
    struct of_flow del = { .table_id = OF_TABLE_ALL, .cookie_mask = UINT64_MAX };
    int error, error2;

    if (!t) {
        return 0;
    }
    del.cookie = inject_cookie(f);
    error = instance_flow_delete(f->inst, t->bridge, &del, false);
    /* Also after a refusal: what was queued goes now. */
    error2 = instance_flow_barrier(f->inst, t->bridge);
    return error ? error : error2;
}

static struct instance_iface *
iface_on_bridge(struct instance_guest *ig, const char *bridge)
{
    for (size_t i = 1; i < ig->n_ifaces; i++) {
        if (!strcmp(ig->ifaces[i].bridge, bridge)) {
            return &ig->ifaces[i];
        }
    }
    return NULL;
}

static void
mac_string(const uint8_t m[6], char s[18])
{
    snprintf(s, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

int
inject_steer_check(struct inject_fault *f)
{
    struct instance_iface *t = inject_data_iface(f->ig);
    struct instance_guest *a = instance_find_guest(f->inst, f->attacker);
    struct in_addr ip;

    if (!t) {
        log_err("%s: guest %s has no data interface to steer", f->target, f->guest);
        return EINVAL;
    }
    if (!a) {
        log_err("%s: no attacker guest '%s' in instance '%s' (add one to the topology, or "
                "name one with --attacker)", f->target, f->attacker, f->inst->name);
        return ENOENT;
    }
    if (a == f->ig) {
        log_err("%s: the attacker cannot be the target itself", f->target);
        return EINVAL;
    }
    if (!iface_on_bridge(a, t->bridge)) {
        log_err("%s: attacker %s has no interface on bridge %s", f->target, f->attacker,
                t->bridge);
        return EINVAL;
    }
    if (!inet_aton(f->spoof_ip, &ip)) {
        log_err("spoofed address '%s' is not an IPv4 address", f->spoof_ip);
        return EINVAL;
    }
    return 0;
}

/* The rules of the file's comment, through the instance's switch (over the bridge's
 * persistent OpenFlow connection): a steering change at run time, confirmed by one barrier. */
static int
steering_flows(struct inject_fault *f, struct instance_iface *t, struct instance_iface *a)
{
    struct of_flow steer = { .priority = INJECT_PRIORITY, .cookie = inject_cookie(f) };
    struct of_flow rest = { .priority = INJECT_PRIORITY_REST, .cookie = inject_cookie(f) };
    int error, error2;

    of_match_in_port(&steer.match, t->ofport);
    of_actions_output(&steer.actions, a->ofport);
    error = instance_flow_add(f->inst, t->bridge, &steer);
    of_match_in_port(&rest.match, a->ofport);
    of_match_eth_src(&rest.match, t->mac);
    for (size_t i = 0; !error && i < f->inst->n_guests; i++) {
        struct instance_guest *g = &f->inst->guests[i];
        struct instance_iface *gi = iface_on_bridge(g, t->bridge);
        struct of_flow one = { .priority = INJECT_PRIORITY - 10, .cookie = inject_cookie(f) };

        if (!gi || gi == t || gi == a) {
            continue;
        }
        of_match_in_port(&one.match, a->ofport);
        of_match_eth_src(&one.match, t->mac);
        of_match_eth_dst(&one.match, gi->mac);
        of_actions_output(&one.actions, gi->ofport);
        error = instance_flow_add(f->inst, t->bridge, &one);
        if (of_actions_full(&rest.actions)) {
            log_err("%s: more than %d guests on bridge %s to re-send broadcasts to", f->target,
                    OF_MAX_ACTIONS, t->bridge);
            error = E2BIG;
        } else {
            of_actions_output(&rest.actions, gi->ofport);
        }
    }
    if (!error) {
        error = instance_flow_add(f->inst, t->bridge, &rest);  /* No other guest: a drop. */
    }
    /* Also after a refusal: what was queued goes now. */
    error2 = instance_flow_barrier(f->inst, t->bridge);
    return error ? error : error2;
}

int
inject_steer_start(struct inject_fault *f, const char *mode)
{
    struct instance_iface *t = inject_data_iface(f->ig);
    struct instance_guest *ag = instance_find_guest(f->inst, f->attacker);
    struct instance_iface *a = iface_on_bridge(ag, t->bridge);
    json_t *params, *result = NULL;
    char tmac[18], fraction[32];
    int error;

    mac_string(t->mac, tmac);
    snprintf(fraction, sizeof fraction, "%g", f->fraction);
    params = json_pack("{s:s, s:[s,s, s,s, s,s, s,s, s,s]}", "role", "mitm", "args",
                       "--iface", a->ifname, "--victim-mac", tmac, "--mode", mode,
                       "--fraction", fraction, "--spoof-ip", f->spoof_ip);
    error = inject_agent_call(f, ag, "start_role", params, &result);
    json_decref(params);
    if (error) {
        goto out;
    }
    json_object_set(f->saved, "attacker_role", json_object_get(result, "id"));
    error = steering_flows(f, t, a);
    if (error) {
        inject_steer_stop(f);
    }
out:
    json_decref(result);
    return error;
}

int
inject_steer_stop(struct inject_fault *f)
{
    struct instance_guest *ag = instance_find_guest(f->inst, f->attacker);
    json_t *id = json_object_get(f->saved, "attacker_role"), *params, *result = NULL;
    int error, error2 = 0;

    /* The attacker first: a frame it re-injected after its rules were gone would take the
     * switch's NORMAL path and teach it the target's MAC on the attacker's port, a black hole
     * for the target's traffic until the entry ages out. Then the rules (traffic flows again
     * from then on), then the learned addresses, in case one slipped through anyway. */
    if (ag && json_is_integer(id)) {
        params = json_pack("{s:O}", "id", id);
        error2 = inject_agent_call(f, ag, "stop_role", params, &result);
        json_decref(params);
        json_decref(result);
    }
    error = inject_flows_del(f);
    if (!error) {
        error = instance_fdb_flush(f->inst, inject_data_iface(f->ig)->bridge);
    }
    return error ? error : error2;
}

static int
mitm_apply(struct inject_fault *f)
{
    return inject_steer_start(f, f->mode);
}

const struct inject_kind inject_mitm = {
    .name = "mitm",
    .modes = mitm_mode_names,      /* sfcd mitm's own list (vnfs/sfc/mitm.h). */
    .has_fraction = true,
    .on_traffic = true,
    .check = inject_steer_check,
    .apply = mitm_apply,
    .heal = inject_steer_stop,
};
