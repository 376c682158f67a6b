#include "injectors/inject.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testbed/infra/instance.h"
#include "testbed/infra/manifest.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/rng.h"

static const struct inject_kind *const kinds[] = {
    &inject_crash,
    &inject_omission,
    &inject_mitm,
    &inject_pause,
    &inject_degrade,
};

const struct inject_kind *
inject_kind_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (!strcmp(kinds[i]->name, name)) {
            return kinds[i];
        }
    }
    return NULL;
}

const char *
inject_kind_names(void)
{
    static char names[128];

    if (!names[0]) {
        for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     kinds[i]->name);
        }
    }
    return names;
}

const struct inject_kind *
inject_kind_at(size_t i)
{
    return i < ARRAY_SIZE(kinds) ? kinds[i] : NULL;
}

const char *
inject_mode_names(const struct inject_kind *kind)
{
    static char names[ARRAY_SIZE(kinds)][128];

    for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
        if (kinds[k] != kind) {
            continue;
        }
        if (!names[k][0]) {
            for (size_t i = 0; kind->modes[i]; i++) {
                snprintf(names[k] + strlen(names[k]), sizeof names[k] - strlen(names[k]),
                         "%s%s", i ? ", " : "", kind->modes[i]);
            }
        }
        return names[k];
    }
    return "";
}

struct instance_iface *
inject_data_iface(struct instance_guest *ig)
{
    return ig->n_ifaces > 1 ? &ig->ifaces[1] : NULL;
}

int
inject_agent_call(struct inject_fault *f, struct instance_guest *ig, const char *method,
                  json_t *params, json_t **resultp)
{
    char *errmsg = NULL;
    int fd = -1, error;

    error = instance_mgmt_connect(f->inst, ig->mgmt_addr, INSTANCE_AGENT_PORT, 2000, &fd);
    if (error) {
        log_err("%s: cannot reach the agent (%s)", ig->name, strerror(error));
        goto out;
    }
    error = rpc_call_err(fd, method, params, resultp, 5000, &errmsg);
    if (error) {
        log_err("%s: agent %s: %s", ig->name, method, errmsg ? errmsg : strerror(error));
    }
out:
    free(errmsg);
    if (fd >= 0) {
        close(fd);
    }
    return error;
}

/* Component names from deploy.json; NULL if nothing is deployed. */
static json_t *
load_components(struct instance *inst)
{
    char *path = xasprintf("%s/deploy.json", inst->dir);
    json_t *root = json_load_file(path, 0, NULL), *comps = NULL;

    if (root && json_is_array(json_object_get(root, "components"))) {
        comps = json_incref(json_object_get(root, "components"));
    }
    json_decref(root);
    free(path);
    return comps;
}

static void
list_targets(struct instance *inst, json_t *comps, struct buf *b)
{
    size_t i;
    json_t *c;

    json_array_foreach (comps, i, c) {
        buf_printf(b, "%s%s", b->len ? ", " : "",
                   json_string_value(json_object_get(c, "name")));
    }
    for (i = 0; i < inst->n_guests; i++) {
        buf_printf(b, "%s%s", b->len ? ", " : "", inst->guests[i].name);
    }
    buf_put_u8(b, 0);
}

/* Finds the component or guest 'target' names: sets '*namep' and '*guestp' (malloc'd). */
static int
resolve_target(struct instance *inst, const char *target, uint64_t *rng, char **namep,
               char **guestp)
{
    json_t *comps = load_components(inst), *c, *match = NULL;
    char role[32];
    size_t i;
    int error = 0;

    if (sscanf(target, "random(%31[a-z_-])", role) == 1) {
        size_t n = 0;

        json_array_foreach (comps, i, c) {
            n += !strcmp(json_string_value(json_object_get(c, "role")) ?: "", role);
        }
        if (n && rng) {
            size_t pick = ft_splitmix64(rng) % n;
            json_array_foreach (comps, i, c) {
                if (!strcmp(json_string_value(json_object_get(c, "role")) ?: "", role)
                    && !pick--) {
                    match = c;
                    break;
                }
            }
        }
        if (!match) {
            log_err("target '%s': no deployed component has role '%s'%s", target, role,
                    comps ? "" : " (nothing is deployed on this instance)");
            error = ENOENT;
            goto out;
        }
    } else {
        json_array_foreach (comps, i, c) {
            if (!strcmp(json_string_value(json_object_get(c, "name")) ?: "", target)) {
                match = c;
                break;
            }
        }
    }
    if (match) {
        const char *guest = json_string_value(json_object_get(match, "guest"));

        if (!guest || !instance_find_guest(inst, guest)) {
            log_err("target '%s': its guest '%s' is not in instance '%s'", target,
                    guest ? guest : "?", inst->name);
            error = ENOENT;
            goto out;
        }
        *namep = xstrdup(json_string_value(json_object_get(match, "name")));
        *guestp = xstrdup(guest);
    } else if (instance_find_guest(inst, target)) {
        *namep = xstrdup(target);
        *guestp = xstrdup(target);
    } else {
        struct buf b = BUF_INITIALIZER;

        list_targets(inst, comps, &b);
        log_err("target '%s' does not exist in instance '%s' (targets: %s)", target,
                inst->name, (char *) b.data);
        buf_uninit(&b);
        error = ENOENT;
    }
out:
    json_decref(comps);
    return error;
}

void
inject_fault_free(struct inject_fault *f)
{
    if (f) {
        free(f->target);
        free(f->guest);
        free(f->mode);
        free(f->attacker);
        free(f->spoof_ip);
        json_decref(f->saved);
        free(f);
    }
}

static int
fill_fault(struct instance *inst, const char *target, const char *guest,
           const struct inject_kind *kind, const struct inject_params *p,
           struct inject_fault **fp)
{
    struct inject_fault *f = xzalloc(sizeof *f);
    const char *mode = p->mode ? p->mode : kind->modes[0];
    bool known = false;
    int error;

    for (size_t i = 0; kind->modes[i]; i++) {
        known |= !strcmp(kind->modes[i], mode);
    }
    if (!known) {
        struct buf b = BUF_INITIALIZER;

        for (size_t i = 0; kind->modes[i]; i++) {
            buf_printf(&b, "%s%s", i ? ", " : "", kind->modes[i]);
        }
        buf_put_u8(&b, 0);
        log_err("%s has no mode '%s' (modes: %s)", kind->name, mode, (char *) b.data);
        buf_uninit(&b);
        free(f);
        return EINVAL;
    }
    if (!(p->fraction >= 0 && p->fraction <= 1)) {
        log_err("fraction %g is not within [0, 1]", p->fraction);
        free(f);
        return EINVAL;
    }
    f->kind = kind;
    f->inst = inst;
    f->target = xstrdup(target);
    f->guest = xstrdup(guest);
    f->ig = instance_find_guest(inst, guest);
    f->mode = xstrdup(mode);
    f->fraction = p->fraction > 0 ? p->fraction : 1.0;
    f->attacker = xstrdup(p->attacker ? p->attacker : "attacker");
    f->spoof_ip = xstrdup(p->spoof_ip ? p->spoof_ip : "6.6.6.6");
    f->role_id = p->role_id;
    f->saved = json_object();
    error = kind->check(f);
    if (error) {
        inject_fault_free(f);
        return error;
    }
    *fp = f;
    return 0;
}

int
inject_fault_create(struct instance *inst, const char *target, const char *kind_name,
                    const struct inject_params *p, uint64_t *rng, struct inject_fault **fp)
{
    const struct inject_kind *kind = inject_kind_find(kind_name);
    char *name = NULL, *guest = NULL;
    int error;

    if (!kind) {
        log_err("unknown fault kind '%s' (kinds: %s)", kind_name, inject_kind_names());
        return EINVAL;
    }
    /* deploy.json and the guests as of one moment: a controller's replacement changes both. */
    instance_changes_lock(inst);
    error = resolve_target(inst, target, rng, &name, &guest);
    instance_changes_unlock(inst);
    if (!error) {
        error = fill_fault(inst, name, guest, kind, p, fp);
    }
    free(name);
    free(guest);
    return error;
}

int
inject_fault_create_resolved(struct instance *inst, const char *name, const char *guest,
                             const char *kind_name, const struct inject_params *p,
                             struct inject_fault **fp)
{
    const struct inject_kind *kind = inject_kind_find(kind_name);

    if (!kind) {
        log_err("unknown fault kind '%s' (kinds: %s)", kind_name, inject_kind_names());
        return EINVAL;
    }
    if (!instance_find_guest(inst, guest)) {
        log_err("target '%s': its guest '%s' is not in instance '%s'", name, guest, inst->name);
        return ENOENT;
    }
    return fill_fault(inst, name, guest, kind, p, fp);
}

/* STATE/NAME/faults/TARGET.KIND.json; '/' cannot occur in targets we resolved. */
static char *
record_path(const struct instance *inst, const char *target, const char *kind)
{
    return xasprintf("%s/faults/%s.%s.json", inst->dir, target, kind);
}

static int
save_record(struct inject_fault *f)
{
    char *dir = xasprintf("%s/faults", f->inst->dir);
    char *path = record_path(f->inst, f->target, f->kind->name);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:f, s:s, s:s, s:i, s:O}",
                            "target", f->target, "guest", f->guest, "kind", f->kind->name,
                            "mode", f->mode, "fraction", f->fraction, "attacker", f->attacker,
                            "spoof_ip", f->spoof_ip, "role_id", f->role_id, "saved", f->saved);
    int error = 0;

    /* Recorded before made, so `sfclab down` and `clean` remove them with the instance. */
    if (access(dir, F_OK)) {
        error = manifest_record_dir(f->inst->manifest, dir);
        if (!error && mkdir(dir, 0755) && errno != EEXIST) {
            error = errno;
        }
    }
    if (!error && access(path, F_OK)) {
        error = manifest_record_file(f->inst->manifest, path);
    }
    if (!error && (!rec || json_dump_file(rec, path, JSON_INDENT(2)))) {
        error = EIO;
    }
    if (error) {
        log_err("%s: cannot record the fault (%s)", path, strerror(error));
    }
    json_decref(rec);
    free(path);
    free(dir);
    return error;
}

int
inject_fault_load(struct instance *inst, const char *target, const char *kind_name,
                  struct inject_fault **fp)
{
    const struct inject_kind *kind = inject_kind_find(kind_name);
    char *path = NULL;
    json_t *rec = NULL;
    struct inject_fault *f;
    int error = 0;

    if (!kind) {
        log_err("unknown fault kind '%s' (kinds: %s)", kind_name, inject_kind_names());
        return EINVAL;
    }
    path = record_path(inst, target, kind_name);
    rec = json_load_file(path, 0, NULL);
    if (!rec) {
        log_err("no %s fault is active on '%s' in instance '%s'", kind_name, target, inst->name);
        error = ENOENT;
        goto out;
    }
    f = xzalloc(sizeof *f);
    f->kind = kind;
    f->inst = inst;
    f->target = xstrdup(json_string_value(json_object_get(rec, "target")) ?: target);
    f->guest = xstrdup(json_string_value(json_object_get(rec, "guest")) ?: "");
    f->ig = instance_find_guest(inst, f->guest);
    f->mode = xstrdup(json_string_value(json_object_get(rec, "mode")) ?: kind->modes[0]);
    f->fraction = json_number_value(json_object_get(rec, "fraction"));
    f->attacker = xstrdup(json_string_value(json_object_get(rec, "attacker")) ?: "attacker");
    f->spoof_ip = xstrdup(json_string_value(json_object_get(rec, "spoof_ip")) ?: "6.6.6.6");
    f->role_id = json_integer_value(json_object_get(rec, "role_id"));
    f->saved = json_incref(json_object_get(rec, "saved"));
    if (!f->saved) {
        f->saved = json_object();
    }
    f->active = true;
    *fp = f;
out:
    json_decref(rec);
    free(path);
    return error;
}

static void
time_now(struct inject_time *t)
{
    if (t) {
        t->mono_ns = time_mono_ns();
        t->wall_ns = time_wall_ns();
    }
}

int
inject_apply(struct inject_fault *f, struct inject_time *t)
{
    struct inject_time start;
    int error;

    /* The fault's time is when its injection began (a crash through an exec in the guest
     * kills the process before apply() returns, and a detector may see it first), or the
     * time the kind took just before its decisive action. */
    time_now(&start);
    f->has_at = false;
    /* A fault's steering (flows, then their barrier) is one change of the instance, never
     * mixed with a controller's recovery (testbed/infra/instance.h). */
    instance_changes_lock(f->inst);
    error = f->kind->apply(f);
    instance_changes_unlock(f->inst);
    if (error) {
        return error;
    }
    if (t) {
        *t = f->has_at ? f->at : start;
    }
    f->active = true;
    return save_record(f);
}

bool
inject_heal_restores(const struct inject_fault *f)
{
    for (size_t i = 0; f->kind->lasting_modes && f->kind->lasting_modes[i]; i++) {
        if (f->mode && !strcmp(f->mode, f->kind->lasting_modes[i])) {
            return false;
        }
    }
    return true;
}

int
inject_heal(struct inject_fault *f, struct inject_time *t)
{
    char *path;
    int error;

    if (!f->active) {
        log_err("%s: no %s fault to heal", f->target, f->kind->name);
        return ENOENT;
    }
    instance_changes_lock(f->inst);
    error = f->kind->heal(f);
    instance_changes_unlock(f->inst);
    if (error) {
        return error;
    }
    time_now(t);
    f->active = false;
    path = record_path(f->inst, f->target, f->kind->name);
    unlink(path);
    free(path);
    return 0;
}
