#include "testbed/model/impair.h"

#include <errno.h>
#include <libfyaml.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/model/yaml.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

static const char *const dir_keys[] = { IMPAIR_DIR_KEYS, NULL };

enum { D_EGRESS, D_INGRESS, D_N };

/* Where the values that later checks depend on came from, per direction, so a problem found
 * after merging is reported where the user wrote it. */
struct origin {
    struct fy_node *jitter[D_N];
    struct fy_node *reorder[D_N];
    bool delay_bad[D_N];        /* Already reported: say nothing more about it. */
};

bool
impair_dir_is_zero(const struct impair_dir *d)
{
    return !d->rate_bps && !d->delay_ns && !d->jitter_ns && !d->loss && !d->duplicate
           && !d->reorder && !d->queue;
}

bool
impair_is_zero(const struct impair *imp)
{
    return impair_dir_is_zero(&imp->egress) && impair_dir_is_zero(&imp->ingress);
}

bool
impair_dir_needs_stage(const struct impair_dir *d)
{
    return d->delay_ns || d->jitter_ns || d->duplicate || d->reorder;
}

static void
check_fraction(struct yaml_doc *doc, struct fy_node *map, const char *key, double v)
{
    if (!(v >= 0 && v <= 1)) {
        yaml_error(doc, yaml_map_get(map, key), "%s must be between 0%% and 100%%, not %s", key,
                   fy_node_get_scalar0(yaml_map_get(map, key)));
    }
}

/* Reads the direction keys of 'map' into the directions 'mask' selects. */
static int
parse_dir_keys(struct yaml_doc *doc, struct fy_node *map, struct impair *imp, unsigned mask,
               struct origin *o)
{
    struct impair_dir v = { 0 };
    size_t errs = doc->diag->n;
    int delay_err;

    if (!yaml_get_rate(doc, map, "rate", YAML_OPTIONAL, &v.rate_bps)
        && yaml_map_get(map, "rate") && !v.rate_bps) {
        yaml_error(doc, yaml_map_get(map, "rate"),
                   "rate must be greater than 0 (leave it out for no limit)");
    }
    delay_err = yaml_get_duration(doc, map, "delay", YAML_OPTIONAL, &v.delay_ns);
    if (!delay_err && v.delay_ns > IMPAIR_DELAY_MAX) {
        yaml_error(doc, yaml_map_get(map, "delay"), "delay must be at most 10s, not %s",
                   fy_node_get_scalar0(yaml_map_get(map, "delay")));
        delay_err = EINVAL;
    }
    yaml_get_duration(doc, map, "jitter", YAML_OPTIONAL, &v.jitter_ns);
    if (!yaml_get_percent(doc, map, "loss", YAML_OPTIONAL, &v.loss)) {
        check_fraction(doc, map, "loss", v.loss);
    }
    if (!yaml_get_percent(doc, map, "duplicate", YAML_OPTIONAL, &v.duplicate)) {
        check_fraction(doc, map, "duplicate", v.duplicate);
    }
    if (!yaml_get_percent(doc, map, "reorder", YAML_OPTIONAL, &v.reorder)) {
        check_fraction(doc, map, "reorder", v.reorder);
    }
    {
        uint64_t q = 0;
        if (!yaml_get_uint(doc, map, "queue", YAML_OPTIONAL, &q) && yaml_map_get(map, "queue")) {
            if (q < 1 || q > IMPAIR_QUEUE_MAX) {
                yaml_error(doc, yaml_map_get(map, "queue"),
                           "queue must be 1 to %d packets, not %llu", IMPAIR_QUEUE_MAX,
                           (unsigned long long) q);
            } else {
                v.queue = q;
            }
        }
    }

    for (int d = 0; d < D_N; d++) {
        struct impair_dir *dir = d == D_EGRESS ? &imp->egress : &imp->ingress;

        if (!(mask & (1u << d))) {
            continue;
        }
        if (yaml_map_get(map, "rate")) {
            dir->rate_bps = v.rate_bps;
        }
        if (yaml_map_has(map, "delay")) {
            dir->delay_ns = v.delay_ns;
            o->delay_bad[d] = delay_err != 0;
        }
        if (yaml_map_get(map, "jitter")) {
            dir->jitter_ns = v.jitter_ns;
            o->jitter[d] = yaml_map_get(map, "jitter");
        }
        if (yaml_map_get(map, "loss")) {
            dir->loss = v.loss;
        }
        if (yaml_map_get(map, "duplicate")) {
            dir->duplicate = v.duplicate;
        }
        if (yaml_map_get(map, "reorder")) {
            dir->reorder = v.reorder;
            o->reorder[d] = yaml_map_get(map, "reorder");
        }
        if (v.queue) {
            dir->queue = v.queue;
        }
    }
    return doc->diag->n > errs ? EINVAL : 0;
}

/* The rules across keys, once a direction is complete. */
static void
check_dir(struct yaml_doc *doc, const struct impair_dir *d, struct fy_node *map,
          const struct origin *o, int di, const char *what)
{
    if (o->delay_bad[di]) {
        return;
    }
    if (d->jitter_ns && !d->delay_ns) {
        yaml_error(doc, o->jitter[di] ? o->jitter[di] : map, "%sjitter needs a delay", what);
    } else if (d->jitter_ns > d->delay_ns) {
        yaml_error(doc, o->jitter[di] ? o->jitter[di] : map,
                   "%sjitter must not exceed the delay (a packet cannot leave before it came)",
                   what);
    }
    if (d->reorder && !d->delay_ns) {
        yaml_error(doc, o->reorder[di] ? o->reorder[di] : map,
                   "%sreorder needs a delay (reordered packets are the ones sent without it)",
                   what);
    }
}

static const struct impair_profile *
find_profile(const struct impair_profile *profiles, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (profiles[i].name && !strcmp(profiles[i].name, name)) {
            return &profiles[i];
        }
    }
    return NULL;
}

int
impair_parse(struct yaml_doc *doc, struct fy_node *map, const struct impair_profile *profiles,
             size_t n_profiles, struct impair *out)
{
    static const char *const dir_names[D_N] = { "egress", "ingress" };
    struct origin o = { 0 };
    size_t errs = doc->diag->n;
    const char *name = NULL;

    if (profiles && !yaml_get_string(doc, map, "profile", YAML_OPTIONAL, &name) && name) {
        const struct impair_profile *p = find_profile(profiles, n_profiles, name);

        if (p) {
            *out = p->impair;
        } else if (!n_profiles) {
            yaml_error(doc, yaml_map_get(map, "profile"),
                       "unknown profile '%s' (no profiles are defined before it)", name);
        } else {
            struct buf known = BUF_INITIALIZER;
            for (size_t i = 0; i < n_profiles; i++) {
                buf_printf(&known, "%s%s", i ? ", " : "", profiles[i].name);
            }
            buf_put_u8(&known, '\0');
            yaml_error(doc, yaml_map_get(map, "profile"),
                       "unknown profile '%s' (expected one of: %s)", name, (char *) known.data);
            buf_uninit(&known);
        }
    }
    parse_dir_keys(doc, map, out, 1u << D_EGRESS | 1u << D_INGRESS, &o);
    for (int d = 0; d < D_N; d++) {
        struct fy_node *sub = NULL;

        if (!yaml_get_map(doc, map, dir_names[d], YAML_OPTIONAL, &sub) && sub) {
            yaml_map_check_keys(doc, sub, dir_keys);
            parse_dir_keys(doc, sub, out, 1u << d, &o);
        }
    }
    /* One message for both directions when they are the same and came from the same keys. */
    if (!memcmp(&out->egress, &out->ingress, sizeof out->egress)
        && o.jitter[0] == o.jitter[1] && o.reorder[0] == o.reorder[1]) {
        check_dir(doc, &out->egress, map, &o, D_EGRESS, "");
    } else {
        check_dir(doc, &out->egress, map, &o, D_EGRESS, "egress ");
        check_dir(doc, &out->ingress, map, &o, D_INGRESS, "ingress ");
    }
    return doc->diag->n > errs ? EINVAL : 0;
}

int
impair_parse_profiles(struct yaml_doc *doc, struct fy_node *map,
                      struct impair_profile **profilesp, size_t *np)
{
    static const char *const keys[] = { IMPAIR_MAP_KEYS, NULL };
    struct impair_profile *profiles;
    size_t errs = doc->diag->n, n = 0;
    struct fy_node_pair *pair;
    void *iter = NULL;

    profiles = xcalloc(fy_node_mapping_item_count(map) + 1, sizeof *profiles);
    while ((pair = fy_node_mapping_iterate(map, &iter)) != NULL) {
        struct fy_node *key = fy_node_pair_key(pair);
        struct fy_node *value = fy_node_pair_value(pair);
        struct impair_profile *p = &profiles[n];
        const char *name = yaml_scalar(doc, key, "a profile name");
        char what[80];

        if (!name) {
            continue;
        }
        yaml_node_loc(doc, key, &p->loc);
        if (!*name || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(name)) {
            yaml_error(doc, key, "profile name '%s' is invalid (use a-z, 0-9, '_' and '-')",
                       name);
            continue;
        }
        snprintf(what, sizeof what, "profile '%s'", name);
        if (!yaml_expect_map(doc, value, what)) {
            continue;
        }
        yaml_map_check_keys(doc, value, keys);
        /* Earlier profiles only: a profile cannot name itself, directly or not. */
        impair_parse(doc, value, profiles, n, &p->impair);
        p->name = xstrdup(name);
        n++;
    }
    /* The good ones are kept even on error, so links naming them add no misleading
     * "unknown profile". */
    *profilesp = profiles;
    *np = n;
    return doc->diag->n > errs ? EINVAL : 0;
}

void
impair_profiles_free(struct impair_profile *profiles, size_t n)
{
    for (size_t i = 0; profiles && i < n; i++) {
        free(profiles[i].name);
    }
    free(profiles);
}

/* Appends "key: value" members of one direction, each between 'sep' and 'end'. */
static void
format_dir_members(const struct impair_dir *d, const char *sep, const char *end, struct buf *b)
{
    if (d->rate_bps) {
        buf_printf(b, "%srate: ", sep);
        yaml_format_rate(b, d->rate_bps);
        buf_printf(b, "%s", end);
    }
    if (d->delay_ns) {
        buf_printf(b, "%sdelay: ", sep);
        yaml_format_duration(b, d->delay_ns);
        buf_printf(b, "%s", end);
    }
    if (d->jitter_ns) {
        buf_printf(b, "%sjitter: ", sep);
        yaml_format_duration(b, d->jitter_ns);
        buf_printf(b, "%s", end);
    }
    if (d->loss) {
        buf_printf(b, "%sloss: ", sep);
        yaml_format_percent(b, d->loss);
        buf_printf(b, "%s", end);
    }
    if (d->duplicate) {
        buf_printf(b, "%sduplicate: ", sep);
        yaml_format_percent(b, d->duplicate);
        buf_printf(b, "%s", end);
    }
    if (d->reorder) {
        buf_printf(b, "%sreorder: ", sep);
        yaml_format_percent(b, d->reorder);
        buf_printf(b, "%s", end);
    }
    if (d->queue) {
        buf_printf(b, "%squeue: %u%s", sep, d->queue, end);
    }
}

static bool
dir_equal(const struct impair_dir *a, const struct impair_dir *b)
{
    return a->rate_bps == b->rate_bps && a->delay_ns == b->delay_ns
           && a->jitter_ns == b->jitter_ns && a->loss == b->loss
           && a->duplicate == b->duplicate && a->reorder == b->reorder && a->queue == b->queue;
}

/* Flow style: ", egress: {rate: 1mbit, delay: 1ms}" (the first member has no comma). */
static void
format_dir_flow(const char *name, const struct impair_dir *d, struct buf *b)
{
    struct buf inner = BUF_INITIALIZER;

    format_dir_members(d, ", ", "", &inner);
    if (inner.len) {
        buf_printf(b, ", %s: {%.*s}", name, (int) inner.len - 2, (char *) inner.data + 2);
    }
    buf_uninit(&inner);
}

void
impair_format_flow(const struct impair *imp, struct buf *b)
{
    if (dir_equal(&imp->egress, &imp->ingress)) {
        format_dir_members(&imp->egress, ", ", "", b);
        return;
    }
    format_dir_flow("egress", &imp->egress, b);
    format_dir_flow("ingress", &imp->ingress, b);
}

void
impair_format_block(const struct impair *imp, int indent, struct buf *b)
{
    char *sep = xasprintf("%*s", indent, "");

    if (dir_equal(&imp->egress, &imp->ingress)) {
        format_dir_members(&imp->egress, sep, "\n", b);
    } else {
        char *sub = xasprintf("%*s", indent + 2, "");

        if (!impair_dir_is_zero(&imp->egress) || imp->egress.queue) {
            buf_printf(b, "%segress:\n", sep);
            format_dir_members(&imp->egress, sub, "\n", b);
        }
        if (!impair_dir_is_zero(&imp->ingress) || imp->ingress.queue) {
            buf_printf(b, "%singress:\n", sep);
            format_dir_members(&imp->ingress, sub, "\n", b);
        }
        free(sub);
    }
    free(sep);
}

void
impair_format_dir(const struct impair_dir *d, struct buf *b)
{
    struct buf inner = BUF_INITIALIZER;

    format_dir_members(d, " ", "", &inner);
    if (!inner.len) {
        buf_printf(b, "none");
    } else {
        /* "rate: 1mbit" -> "rate=1mbit". */
        for (size_t i = 1; i < inner.len; i++) {
            uint8_t c = inner.data[i];
            if (c == ':' && i + 1 < inner.len && inner.data[i + 1] == ' ') {
                buf_put_u8(b, '=');
                i++;
            } else {
                buf_put_u8(b, c);
            }
        }
    }
    buf_uninit(&inner);
}

static bool
parse_fraction(const char *s, double *out)
{
    char *end;
    double v;

    if (!*s) {
        return false;
    }
    v = strtod(s, &end);
    if (end == s || strcmp(end, "%") || !(v >= 0 && v <= 100)) {
        return false;
    }
    *out = v / 100.0;
    return true;
}

int
impair_set_kv(struct impair *imp, const char *assignment, char **errp)
{
    const char *eq = strchr(assignment, '=');
    char *key = eq ? xasprintf("%.*s", (int) (eq - assignment), assignment) : NULL;
    const char *k = key, *value = eq ? eq + 1 : NULL;
    bool dirs[D_N] = { true, true };
    struct impair_dir v = { 0 };
    bool ok = true;
    int error = 0;

    if (!key) {
        *errp = xasprintf("'%s' is not KEY=VALUE", assignment);
        return EINVAL;
    }
    if (!strncmp(k, "egress.", 7)) {
        k += 7;
        dirs[D_INGRESS] = false;
    } else if (!strncmp(k, "ingress.", 8)) {
        k += 8;
        dirs[D_EGRESS] = false;
    }
    if (!strcmp(k, "rate")) {
        ok = !strcmp(value, "0") || (parse_rate(value, &v.rate_bps) && v.rate_bps);
    } else if (!strcmp(k, "delay")) {
        ok = parse_duration(value, &v.delay_ns) && v.delay_ns <= IMPAIR_DELAY_MAX;
    } else if (!strcmp(k, "jitter")) {
        ok = parse_duration(value, &v.jitter_ns);
    } else if (!strcmp(k, "loss")) {
        ok = parse_fraction(value, &v.loss);
    } else if (!strcmp(k, "duplicate")) {
        ok = parse_fraction(value, &v.duplicate);
    } else if (!strcmp(k, "reorder")) {
        ok = parse_fraction(value, &v.reorder);
    } else if (!strcmp(k, "queue")) {
        uint64_t q;
        char *end;
        q = strtoull(value, &end, 10);
        ok = *value && !*end && q >= 1 && q <= IMPAIR_QUEUE_MAX;
        v.queue = ok ? q : 0;
    } else {
        *errp = xasprintf("unknown key '%s' (expected one of: rate, delay, jitter, loss, "
                          "duplicate, reorder, queue, optionally prefixed by egress. or "
                          "ingress.)", key);
        error = EINVAL;
        goto out;
    }
    if (!ok) {
        *errp = xasprintf("%s: bad value '%s'", key, value);
        error = EINVAL;
        goto out;
    }
    for (int d = 0; d < D_N; d++) {
        struct impair_dir *dir = d == D_EGRESS ? &imp->egress : &imp->ingress;
        if (!dirs[d]) {
            continue;
        }
        if (!strcmp(k, "rate")) dir->rate_bps = v.rate_bps;
        if (!strcmp(k, "delay")) dir->delay_ns = v.delay_ns;
        if (!strcmp(k, "jitter")) dir->jitter_ns = v.jitter_ns;
        if (!strcmp(k, "loss")) dir->loss = v.loss;
        if (!strcmp(k, "duplicate")) dir->duplicate = v.duplicate;
        if (!strcmp(k, "reorder")) dir->reorder = v.reorder;
        if (!strcmp(k, "queue")) dir->queue = v.queue;
    }
out:
    free(key);
    return error;
}

int
impair_check(const struct impair *imp, char **errp)
{
    for (int d = 0; d < D_N; d++) {
        const struct impair_dir *x = d == D_EGRESS ? &imp->egress : &imp->ingress;
        const char *name = d == D_EGRESS ? "egress" : "ingress";

        if (x->jitter_ns && !x->delay_ns) {
            *errp = xasprintf("%s jitter needs a delay", name);
        } else if (x->jitter_ns > x->delay_ns) {
            *errp = xasprintf("%s jitter must not exceed the delay", name);
        } else if (x->reorder && !x->delay_ns) {
            *errp = xasprintf("%s reorder needs a delay", name);
        } else {
            continue;
        }
        return EINVAL;
    }
    return 0;
}

const char *const *
impair_builtin(const char *name)
{
    static const char *const lossy[] = { "loss=5%", NULL };
    static const char *const wan[] = { "delay=20ms", "jitter=2ms", "rate=100mbit", NULL };
    static const char *const congested[] = { "delay=50ms", "jitter=10ms", "loss=1%", NULL };
    static const char *const slow[] = { "rate=10mbit", NULL };
    static const struct { const char *name; const char *const *kv; } builtins[] = {
        { "lossy", lossy }, { "wan", wan }, { "congested", congested }, { "slow", slow },
    };

    for (size_t i = 0; i < ARRAY_SIZE(builtins); i++) {
        if (!strcmp(builtins[i].name, name)) {
            return builtins[i].kv;
        }
    }
    return NULL;
}
