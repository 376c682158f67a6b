#include "testbed/model/experiment.h"

#include <errno.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "injectors/inject.h"
#include "testbed/infra/cgroup.h"
#include "testbed/infra/provider.h"
#include "testbed/model/topology.h"
#include "testbed/model/yaml.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf.h"
#include "vnfs/sfc/rule.h"

#define EXP_DEFAULT_PROVIDER GUEST_PROVIDER_DEFAULT
#define EXP_DEFAULT_SCHEME "none"
#define EXP_DEFAULT_CPUS 1.0
#define EXP_DEFAULT_PERIOD_US CGROUP_PERIOD_DEFAULT_US
#define EXP_DEFAULT_MEMORY (256ull << 20)
#define EXP_MIN_MEMORY (16ull << 20)
#define EXP_MAX_CPUS 64.0
#define EXP_MAX_REPETITIONS 10000
#define EXP_MAX_INDEX 9999
#define EXP_MAX_UDP_PAYLOAD 65507
#define EXP_MIN_DNS_QUERY 17    /* Header and a question for the root name. */

static const char *const top_keys[] = {
    "experiment", "title", "reproduces", "provider", "scheme", "params", "resources", "chain",
    "network", "workload", "faults", "warmup", "repetitions", "seed", "sweep", "quick", "plots",
    "reference", "capture", "scenarios", "setups", NULL
};
/* What a sweep axis may set (first component of a dotted path). */
static const char *const point_keys[] = {
    "provider", "scheme", "params", "resources", "chain", "network", "workload", "faults", "warmup",
    "repetitions", "seed", NULL
};
static const char *const quick_keys[] = {
    "provider", "scheme", "params", "resources", "chain", "network", "workload", "faults", "warmup",
    "repetitions", "seed", "sweep", NULL
};
static const char *const resources_keys[] = { "cpus", "period", "memory", "vnf", NULL };
static const char *const resources_vnf_keys[] = { "cpus", "period", NULL };
static const char *const chain_keys[] = { "length", "fill", "vnfs", "rules", NULL };
static const char *const vnf_keys[] = { "fn", "params", "resiliency", NULL };
/* Impairments of every data link of the chain (testbed/model/impair.h). */
static const char *const network_keys[] = { IMPAIR_DIR_KEYS, "egress", "ingress", NULL };
static const char *const workload_keys[] = {
    "kind", "count", "size", "rate", "duration", "timeout", "interval", "source_port",
    "capacity", "window", NULL
};
static const char *const fault_keys[] = {
    "kind", "target", "mode", "at", "every", "mtbf", "count", "heal_after", "fraction", NULL
};
static const char *const plot_keys[] = { "kind", "x", "y", "title", NULL };
static const char *const reference_keys[] = {
    "label", "metric", "value", "unit", "source", "derived", "scheme", "labels", "where",
    "ratio_to", "why", NULL
};
static const char *const why_checks[] = { EXP_WHY_CHECKS, NULL };
static const char *const workload_kinds[] = { "dns", "udp", "probe", NULL };
static const char *const plot_kinds[] = { "bar", "stacked", "line", "timeseries", NULL };
/* Sweep keys that are not dotted paths. */
struct axis_alias {
    const char *key;
    const char *path;           /* NULL: every fault's 'mtbf'. */
};
static const struct axis_alias axis_aliases[] = {
    { "chain_len", "chain.length" },
    { "scheme", "scheme" },
    { "f", "params.f" },
    { "mechanism", "params.mechanism" },
    { "mtbf", NULL },
    { "link.rate", "network.rate" },
    { "link.delay", "network.delay" },
    { "link.jitter", "network.jitter" },
    { "link.loss", "network.loss" },
    { "link.duplicate", "network.duplicate" },
    { "link.reorder", "network.reorder" },
    { "link.queue", "network.queue" },
    /* Named fault sets: the point's 'faults' become 'scenarios.NAME' (Figure 4's A-D). */
    { "scenario", "scenario" },
    /* Named scheme set-ups: the point's keys in 'setups.NAME' (scheme, params, ...) replace
     * its own, so one axis compares schemes with their own parameters (issue 18). */
    { "setup", "setup" },
};

static char *
join_list(const char *const list[])
{
    struct buf b = BUF_INITIALIZER;

    for (size_t i = 0; list[i]; i++) {
        buf_printf(&b, "%s%s", i ? ", " : "", list[i]);
    }
    buf_put_u8(&b, '\0');
    return (char *) buf_steal(&b, NULL);
}

static bool
in_list(const char *const list[], const char *s)
{
    for (size_t i = 0; list[i]; i++) {
        if (!strcmp(list[i], s)) {
            return true;
        }
    }
    return false;
}

/* Reports "unknown WHAT 'value' (expected one of: ...)" unless 'value' is in 'list'. */
static bool
check_one_of(struct yaml_doc *doc, struct fy_node *node, const char *what, const char *value,
             const char *const list[])
{
    char *expected;

    if (in_list(list, value)) {
        return true;
    }
    expected = join_list(list);
    yaml_error(doc, node, "unknown %s '%s' (expected one of: %s)", what, value, expected);
    free(expected);
    return false;
}

static bool
valid_name(const char *name, size_t max)
{
    size_t len = strlen(name);

    return (len && len <= max && strchr("abcdefghijklmnopqrstuvwxyz0123456789", name[0])
            && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len);
}

static const char *
scalar_text(struct fy_node *node)
{
    const char *s = node ? fy_node_get_scalar0(node) : NULL;

    return s ? s : "";
}

static void
kv_free(struct exp_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static void
kv_append(struct exp_kv **kv, size_t *n, size_t *cap, const char *key, const char *value)
{
    if (*n >= *cap) {
        *kv = x2nrealloc(*kv, cap, sizeof **kv);
    }
    (*kv)[*n].key = xstrdup(key);
    (*kv)[*n].value = xstrdup(value);
    (*n)++;
}

/* A scalar value that is neither null nor a collection, reported as "WHAT must be ...". */
static const char *
plain_scalar(struct yaml_doc *doc, struct fy_node *node, const char *what)
{
    if (yaml_node_is_null(node)) {
        yaml_error(doc, node, "%s has no value", what);
        return NULL;
    }
    if (!fy_node_is_scalar(node)) {
        yaml_error(doc, node, "%s must be a single value, not %s", what, yaml_node_kind(node));
        return NULL;
    }
    return yaml_scalar(doc, node, what);
}

/* A mapping of scalars (or, with 'lists', lists of scalars: the key repeated) into key/value
 * pairs. 'map' may be NULL: no parameters. */
static bool
parse_kv_map(struct yaml_doc *doc, struct fy_node *map, const char *what, bool lists,
             struct exp_kv **kvp, size_t *np)
{
    struct exp_kv *kv = NULL;
    size_t n = 0, cap = 0;
    struct fy_node_pair *pair;
    void *iter = NULL;
    bool ok = true;

    if (!map) {
        *kvp = NULL;
        *np = 0;
        return true;
    }
    if (!yaml_expect_map(doc, map, what)) {
        return false;
    }
    while ((pair = fy_node_mapping_iterate(map, &iter)) != NULL) {
        struct fy_node *key = fy_node_pair_key(pair), *value = fy_node_pair_value(pair);
        const char *k = yaml_node_is_null(key) ? NULL : yaml_scalar(doc, key, "a key");
        char *item_what;

        if (!k) {
            if (yaml_node_is_null(key)) {
                yaml_error(doc, map, "keys of %s must be strings, not nothing", what);
            }
            ok = false;
            continue;
        }
        item_what = xasprintf("%s '%s'", what, k);
        if (lists && value && fy_node_is_sequence(value)) {
            struct fy_node *item = NULL;
            void *it;

            while ((item = yaml_list_next(value, item, &it)) != NULL) {
                const char *v = plain_scalar(doc, item, item_what);

                if (v) {
                    kv_append(&kv, &n, &cap, k, v);
                } else {
                    ok = false;
                }
            }
        } else {
            const char *v = plain_scalar(doc, value ? value : key, item_what);

            if (v) {
                kv_append(&kv, &n, &cap, k, v);
            } else {
                ok = false;
            }
        }
        free(item_what);
    }
    if (!ok) {
        kv_free(kv, n);
        return false;
    }
    *kvp = kv;
    *np = n;
    return true;
}

static void
vnf_free(struct exp_vnf *vnf)
{
    free(vnf->fn);
    kv_free(vnf->params, vnf->n_params);
    kv_free(vnf->resiliency, vnf->n_resiliency);
}

static void
vnf_copy(struct exp_vnf *dst, const struct exp_vnf *src)
{
    dst->fn = xstrdup(src->fn);
    dst->n_params = src->n_params;
    dst->params = xcalloc(src->n_params ? src->n_params : 1, sizeof *dst->params);
    for (size_t i = 0; i < src->n_params; i++) {
        dst->params[i].key = xstrdup(src->params[i].key);
        dst->params[i].value = xstrdup(src->params[i].value);
    }
    dst->n_resiliency = src->n_resiliency;
    dst->resiliency = src->n_resiliency ? xcalloc(src->n_resiliency, sizeof *dst->resiliency)
                                        : NULL;
    for (size_t i = 0; i < src->n_resiliency; i++) {
        dst->resiliency[i].key = xstrdup(src->resiliency[i].key);
        dst->resiliency[i].value = xstrdup(src->resiliency[i].value);
    }
}

/* Asks the network function itself whether it takes these parameters: its create parses them
 * (and only allocates memory), so the descriptor and the guest can never disagree. */
static bool
check_vnf_params(struct yaml_doc *doc, struct fy_node *at, const char *what,
                 const struct exp_vnf *vnf)
{
    struct nf_param *params = xcalloc(vnf->n_params ? vnf->n_params : 1, sizeof *params);
    struct nf *nf = NULL;
    char *err = NULL;
    int error;

    for (size_t i = 0; i < vnf->n_params; i++) {
        params[i].key = vnf->params[i].key;
        params[i].value = vnf->params[i].value;
    }
    error = nf_create(vnf->fn, params, vnf->n_params, &nf, &err);
    if (error) {
        yaml_error(doc, at, "%s (%s): %s", what, vnf->fn, err ? err : strerror(error));
    } else {
        nf_destroy(nf);
    }
    free(err);
    free(params);
    return !error;
}

static bool
parse_vnf(struct yaml_doc *doc, struct fy_node *node, const char *what, struct exp_vnf *out)
{
    struct exp_vnf vnf = { NULL, NULL, 0, NULL, 0 };
    struct fy_node *params = NULL, *resiliency = NULL;
    const char *fn = NULL;
    bool ok = true;

    if (!yaml_expect_map(doc, node, what)) {
        return false;
    }
    ok &= yaml_map_check_keys(doc, node, vnf_keys);
    if (yaml_get_string(doc, node, "fn", YAML_REQUIRED, &fn) || !fn) {
        ok = false;
    } else if (!nf_class_find(fn)) {
        yaml_error(doc, yaml_map_get(node, "fn"),
                   "unknown network function '%s' (expected one of: %s)", fn,
                   nf_class_names());
        ok = false;
    }
    if (yaml_get_map(doc, node, "params", YAML_OPTIONAL, &params)) {
        ok = false;
    } else if (!parse_kv_map(doc, params, "parameter", true, &vnf.params, &vnf.n_params)) {
        ok = false;
    }
    /* Its keys and values are the scheme's to check (scheme_params_check()). */
    if (yaml_get_map(doc, node, "resiliency", YAML_OPTIONAL, &resiliency)
        || !parse_kv_map(doc, resiliency, "resiliency setting", false, &vnf.resiliency,
                         &vnf.n_resiliency)) {
        ok = false;
    }
    if (ok) {
        vnf.fn = xstrdup(fn);
        ok = check_vnf_params(doc, params ? params : yaml_map_get(node, "fn"), what, &vnf);
    }
    if (!ok) {
        vnf_free(&vnf);
        return false;
    }
    *out = vnf;
    return true;
}

static void
parse_chain(struct yaml_doc *doc, struct fy_node *root, struct exp_point *pt)
{
    struct fy_node *chain = NULL, *fill_node = NULL, *list = NULL, *rules = NULL, *item = NULL;
    struct exp_vnf fill = { NULL, NULL, 0, NULL, 0 };
    struct exp_vnf *tail = NULL;
    size_t n_tail = 0, i = 0;
    uint64_t length = 0;
    bool has_fill = false, has_length, ok = true;
    void *iter;

    if (yaml_get_map(doc, root, "chain", YAML_REQUIRED, &chain)) {
        return;
    }
    yaml_map_check_keys(doc, chain, chain_keys);

    if (!yaml_get_map(doc, chain, "fill", YAML_OPTIONAL, &fill_node) && fill_node) {
        has_fill = parse_vnf(doc, fill_node, "fill", &fill);
        ok &= has_fill;
    } else if (yaml_map_get(chain, "fill")) {
        ok = false;
    }
    if (!yaml_get_list(doc, chain, "vnfs", YAML_OPTIONAL, &list)) {
        tail = xcalloc(yaml_list_count(list) + 1, sizeof *tail);
        while ((item = yaml_list_next(list, item, &iter)) != NULL) {
            char what[32];

            snprintf(what, sizeof what, "vnf %zu", i + 1);
            if (parse_vnf(doc, item, what, &tail[n_tail])) {
                n_tail++;
            } else {
                ok = false;
            }
            i++;
        }
    } else {
        ok = false;
    }

    has_length = yaml_map_get(chain, "length") != NULL;
    if (yaml_get_uint(doc, chain, "length", YAML_OPTIONAL, &length)) {
        ok = false;
    } else if (has_length) {
        struct fy_node *node = yaml_map_get(chain, "length");

        if (length < 1 || length > EXP_MAX_CHAIN) {
            yaml_error(doc, node, "chain length must be 1 to %d, not %llu", EXP_MAX_CHAIN,
                       (unsigned long long) length);
            ok = false;
        } else if (ok && length < n_tail) {
            yaml_error(doc, node, "chain length %llu is shorter than its %zu VNFs in 'vnfs'",
                       (unsigned long long) length, n_tail);
            ok = false;
        } else if (ok && length > n_tail && !has_fill) {
            yaml_error(doc, node, "chain length %llu needs a 'fill' VNF ('vnfs' has %zu)",
                       (unsigned long long) length, n_tail);
            ok = false;
        }
    } else if (ok) {
        length = n_tail;
        if (!length) {
            yaml_error(doc, chain, has_fill ? "a chain with only 'fill' needs a 'length'"
                       : "a chain needs at least one VNF in 'vnfs'");
            ok = false;
        }
    }

    if (ok) {
        pt->n_vnfs = length;
        pt->vnfs = xcalloc(length, sizeof *pt->vnfs);
        for (i = 0; i < length - n_tail; i++) {
            vnf_copy(&pt->vnfs[i], &fill);
        }
        for (size_t j = 0; j < n_tail; j++) {
            pt->vnfs[i + j] = tail[j];
        }
        n_tail = 0;             /* Moved into the point. */
    }

    if (!yaml_get_list(doc, chain, "rules", YAML_REQUIRED, &rules)) {
        size_t n = yaml_list_count(rules);

        if (!n) {
            yaml_error(doc, yaml_map_get_key(chain, "rules"),
                       "'rules' must hold at least one classifier rule");
        }
        pt->rules = xcalloc(n + 1, sizeof *pt->rules);
        item = NULL;
        i = 0;
        while ((item = yaml_list_next(rules, item, &iter)) != NULL) {
            char what[32];
            const char *text;

            snprintf(what, sizeof what, "rule %zu", ++i);
            text = plain_scalar(doc, item, what);
            if (text) {
                struct rule rule;
                char *err = NULL;

                if (rule_parse(text, &rule, &err)) {
                    yaml_error(doc, item, "rule %zu: %s", i, err ? err : "invalid rule");
                }
                free(err);
                pt->rules[pt->n_rules++] = xstrdup(text);
            }
        }
    }

    for (i = 0; i < n_tail; i++) {
        vnf_free(&tail[i]);
    }
    free(tail);
    if (has_fill) {
        vnf_free(&fill);
    }
}

static void
parse_workload(struct yaml_doc *doc, struct fy_node *root, struct exp_workload *wl)
{
    struct fy_node *map = NULL, *node;
    const char *kind = NULL;
    size_t k;

    if (yaml_get_map(doc, root, "workload", YAML_REQUIRED, &map)) {
        return;
    }
    yaml_map_check_keys(doc, map, workload_keys);
    if (yaml_get_string(doc, map, "kind", YAML_REQUIRED, &kind) || !kind
        || !check_one_of(doc, yaml_map_get(map, "kind"), "workload kind", kind,
                         workload_kinds)) {
        return;
    }
    for (k = 0; strcmp(workload_kinds[k], kind); k++) {
        continue;
    }
    wl->kind = k == 0 ? EXP_WL_DNS : k == 1 ? EXP_WL_UDP : EXP_WL_PROBE;
    wl->kind_name = workload_kinds[k];
    wl->size = wl->kind == EXP_WL_DNS ? 512 : 64;
    wl->timeout_ns = 1000000000ull;
    wl->interval_ns = wl->kind == EXP_WL_PROBE ? 10000000ull : 0;

    bool amount_ok = !yaml_get_uint(doc, map, "count", YAML_OPTIONAL, &wl->count);
    if (!yaml_get_size(doc, map, "size", YAML_OPTIONAL, &wl->size)) {
        uint64_t min = wl->kind == EXP_WL_DNS ? EXP_MIN_DNS_QUERY : 1;

        if (wl->size < min || wl->size > EXP_MAX_UDP_PAYLOAD) {
            yaml_error(doc, yaml_map_get(map, "size"),
                       "a %s workload's size must be %llu to %d bytes, not %llu", kind,
                       (unsigned long long) min, EXP_MAX_UDP_PAYLOAD,
                       (unsigned long long) wl->size);
        }
    }
    yaml_get_uint(doc, map, "rate", YAML_OPTIONAL, &wl->rate);
    amount_ok &= !yaml_get_duration(doc, map, "duration", YAML_OPTIONAL, &wl->duration_ns);
    if (!yaml_get_duration(doc, map, "timeout", YAML_OPTIONAL, &wl->timeout_ns)
        && !wl->timeout_ns) {
        yaml_error(doc, yaml_map_get(map, "timeout"), "timeout must be greater than 0");
    }
    node = yaml_map_get(map, "interval");
    if (node && wl->kind != EXP_WL_PROBE) {
        yaml_error(doc, node, "'interval' only applies to probe workloads");
    } else if (!yaml_get_duration(doc, map, "interval", YAML_OPTIONAL, &wl->interval_ns)
               && node && !wl->interval_ns) {
        yaml_error(doc, node, "interval must be greater than 0");
    }
    /* Capacity: the client searches the highest paced rate the chain carries within the loss
     * (vnfs/sfc/client.c), instead of sending at one rate or flat out, which measures what
     * gets through a flood, beside the flood's own cost. */
    node = yaml_map_get(map, "capacity");
    wl->capacity = node != NULL;
    if (node && wl->kind != EXP_WL_UDP) {
        yaml_error(doc, node, "'capacity' only applies to udp workloads");
    } else if (node && !yaml_get_percent(doc, map, "capacity", YAML_REQUIRED, &wl->capacity_loss)
               && (wl->capacity_loss < 0 || wl->capacity_loss >= 1)) {
        yaml_error(doc, node, "capacity is a loss from 0%% to under 100%%");
    } else if (node && !wl->rate) {
        yaml_error(doc, node, "a capacity search starts from the workload's 'rate', which "
                   "must be greater than 0");
    }
    node = yaml_map_get(map, "window");
    if (node && !wl->capacity) {
        yaml_error(doc, node, "'window' only applies to a udp workload with a 'capacity'");
    } else if (!yaml_get_duration(doc, map, "window", YAML_OPTIONAL, &wl->window_ns) && node
               && !wl->window_ns) {
        yaml_error(doc, node, "window must be greater than 0");
    }
    node = yaml_map_get(map, "source_port");
    if (!yaml_get_uint(doc, map, "source_port", YAML_OPTIONAL, &wl->source_port) && node
        && (wl->source_port < 1024 || wl->source_port > 65535)) {
        yaml_error(doc, node, "source_port must be 1024 to 65535, not %llu",
                   (unsigned long long) wl->source_port);
    }
    if (!wl->count && !wl->duration_ns
        && !(yaml_map_get(map, "count") || yaml_map_get(map, "duration"))) {
        yaml_error(doc, map, "a workload needs a 'count' or a 'duration'");
    } else if (amount_ok && !wl->count && !wl->duration_ns) {
        yaml_error(doc, yaml_map_get(map, "count") ? yaml_map_get(map, "count")
                   : yaml_map_get(map, "duration"),
                   "a workload needs a 'count' or a 'duration' greater than 0");
    }
}

/* Parses "N" (digits, at most EXP_MAX_INDEX) at '*s', advancing it. */
static bool
parse_index(const char **s, unsigned *out)
{
    size_t n = strspn(*s, "0123456789");
    unsigned v = 0;

    if (!n || n > 4) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *out = v;
    return true;
}

/* "role[N]", "role[N].replica[M]" or "random(role)", checked against the point's chain. */
static void
check_target(struct yaml_doc *doc, struct fy_node *node, const char *target,
             const struct exp_point *pt)
{
    const char *s = target;
    size_t role_len;
    char role[32];
    unsigned index, replica;
    const struct scheme_class *sc;
    bool random = !strncmp(s, "random(", 7);

    if (random) {
        s += 7;
    }
    role_len = strspn(s, "abcdefghijklmnopqrstuvwxyz-");
    if (!role_len || role_len >= sizeof role) {
        goto syntax;
    }
    memcpy(role, s, role_len);
    role[role_len] = '\0';
    s += role_len;
    if (!scheme_role_known(role)) {
        yaml_error(doc, node, "target '%s': unknown role '%s' (expected one of: %s)", target,
                   role, scheme_role_names());
        return;
    }
    if (random) {
        /* random(ROLE) or random(ROLE[N]): one of ROLE's components (of index N). */
        if (!strcmp(s, ")")) {
            return;
        }
        if (*s++ != '[' || !parse_index(&s, &index) || strcmp(s, "])")) {
            goto syntax;
        }
        if (!strcmp(role, "vnf") && pt->vnfs && index >= pt->n_vnfs) {
            yaml_error(doc, node, "target '%s' is past the end of the chain (%zu VNFs)",
                       target, pt->n_vnfs);
        }
        return;
    }
    if (*s++ != '[' || !parse_index(&s, &index) || *s++ != ']') {
        goto syntax;
    }
    if (!strcmp(s, ".master") || !strcmp(s, ".slave")) {
        /* A master/slave scheme's copies (FTvNF) by their names: copy 0 and copy 1. */
        replica = !strcmp(s, ".slave");
    } else if (*s) {
        if (strncmp(s, ".replica[", 9)) {
            goto syntax;
        }
        s += 9;
        if (!parse_index(&s, &replica) || strcmp(s, "]")) {
            goto syntax;
        }
    } else {
        replica = -1;
    }
    if (!strcmp(role, "vnf") && pt->vnfs && index >= pt->n_vnfs) {
        yaml_error(doc, node, "target '%s' is past the end of the chain (%zu VNFs)", target,
                   pt->n_vnfs);
        return;
    }
    sc = scheme_find(pt->scheme);
    if (sc && sc->has_target && !sc->has_target(pt, role, index, (int) replica)) {
        struct buf b = BUF_INITIALIZER;

        for (size_t i = 0; i < sc->n_targets; i++) {
            buf_printf(&b, "%s%s", i ? ", " : "", sc->targets[i].pattern);
        }
        buf_put_u8(&b, '\0');
        yaml_error(doc, node, "target '%s': scheme '%s' has no such component (its targets: "
                   "%s)", target, sc->name, (char *) b.data);
        buf_uninit(&b);
    }
    return;

syntax:
    yaml_error(doc, node, "target '%s' must be ROLE[N], ROLE[N].replica[M], ROLE[N].master, "
               "ROLE[N].slave, random(ROLE) or random(ROLE[N])", target);
}

/* 'count' simultaneous targets are N distinct components: that needs random(ROLE) (a fixed
 * target is one component) and, where the point says how many ROLE components it has (scheme
 * none: one classifier, one sff, a vnf per chain entry, one client, one server; a replicated
 * scheme's replicas are known only once it is deployed, and the runner refuses there), at
 * least N of them. */
static void
check_count(struct yaml_doc *doc, struct fy_node *node, const struct exp_fault *fault,
            const struct exp_point *pt)
{
    char role[32];
    size_t have;

    if (sscanf(fault->target, "random(%31[a-z-])", role) != 1) {
        yaml_error(doc, node, "count %llu needs a target random(ROLE): '%s' is one component",
                   (unsigned long long) fault->count, fault->target);
        return;
    }
    if (!pt->scheme || strcmp(pt->scheme, "none")) {
        return;
    }
    have = !strcmp(role, "vnf") ? pt->n_vnfs
           : !strcmp(role, "classifier") || !strcmp(role, "sff") || !strcmp(role, "client")
             || !strcmp(role, "server") ? 1 : 0;
    if (fault->count > have) {
        yaml_error(doc, node, "count %llu: random(%s) has %zu distinct %s component%s to pick "
                   "from at this point", (unsigned long long) fault->count, role, have, role,
                   have == 1 ? "" : "s");
    }
}

static void
parse_fault(struct yaml_doc *doc, struct fy_node *item, size_t idx, const struct exp_point *pt,
            struct exp_fault *fault)
{
    const struct inject_kind *kind = NULL;
    const char *s = NULL;
    struct fy_node *node;
    char what[32];

    snprintf(what, sizeof what, "fault %zu", idx + 1);
    if (!yaml_expect_map(doc, item, what)) {
        return;
    }
    yaml_map_check_keys(doc, item, fault_keys);
    fault->count = 1;
    fault->fraction = 1.0;
    if (!yaml_get_string(doc, item, "kind", YAML_REQUIRED, &s) && s) {
        kind = inject_kind_find(s);
        if (!kind) {
            yaml_error(doc, yaml_map_get(item, "kind"),
                       "unknown fault kind '%s' (expected one of: %s)", s, inject_kind_names());
        } else {
            fault->kind = xstrdup(s);
        }
    }
    s = NULL;
    if (!yaml_get_string(doc, item, "target", YAML_REQUIRED, &s) && s) {
        check_target(doc, yaml_map_get(item, "target"), s, pt);
        fault->target = xstrdup(s);
    }
    s = NULL;
    if (!yaml_get_string(doc, item, "mode", YAML_OPTIONAL, &s) && s && kind) {
        char *what_mode = xasprintf("%s mode", kind->name);

        check_one_of(doc, yaml_map_get(item, "mode"), what_mode, s, kind->modes);
        free(what_mode);
    }
    if (kind) {
        fault->mode = xstrdup(s ? s : kind->modes[0]);
    }

    yaml_get_duration(doc, item, "at", YAML_OPTIONAL, &fault->at_ns);
    if (!yaml_get_duration(doc, item, "every", YAML_OPTIONAL, &fault->every_ns)
        && yaml_map_get(item, "every") && !fault->every_ns) {
        yaml_error(doc, yaml_map_get(item, "every"), "every must be greater than 0");
    }
    if (!yaml_get_duration(doc, item, "mtbf", YAML_OPTIONAL, &fault->mtbf_ns)
        && (node = yaml_map_get(item, "mtbf")) != NULL) {
        if (!fault->mtbf_ns) {
            yaml_error(doc, node, "mtbf must be greater than 0");
        } else if (yaml_map_get(item, "every")) {
            yaml_error(doc, node, "give 'every' or 'mtbf', not both");
        }
    }
    if (!yaml_map_get(item, "at") && !yaml_map_get(item, "every")
        && !yaml_map_get(item, "mtbf")) {
        yaml_error(doc, item, "%s needs a schedule: 'at', 'every' or 'mtbf'", what);
    }
    if (!yaml_get_uint(doc, item, "count", YAML_OPTIONAL, &fault->count)
        && (fault->count < 1 || fault->count > EXP_MAX_CHAIN)) {
        yaml_error(doc, yaml_map_get(item, "count"), "count must be 1 to %d, not %llu",
                   EXP_MAX_CHAIN, (unsigned long long) fault->count);
    }
    if (fault->count > 1 && fault->target) {
        check_count(doc, yaml_map_get(item, "count"), fault, pt);
    }
    yaml_get_duration(doc, item, "heal_after", YAML_OPTIONAL, &fault->heal_after_ns);
    node = yaml_map_get(item, "fraction");
    if (node && kind && !kind->has_fraction) {
        yaml_error(doc, node, "'fraction' only applies to omission and mitm faults");
    } else if (!yaml_get_number(doc, item, "fraction", YAML_OPTIONAL, &fault->fraction)
               && !(fault->fraction > 0 && fault->fraction <= 1)) {
        yaml_error(doc, node, "fraction must be greater than 0 and at most 1, not %s",
                   scalar_text(node));
    }
}

static void
parse_scheme_params(struct yaml_doc *doc, struct fy_node *root, struct exp_point *pt)
{
    struct fy_node *map = NULL;

    if (yaml_get_map(doc, root, "params", YAML_OPTIONAL, &map) || !map) {
        return;
    }
    /* The values are checked by the scheme, once the whole point is known. */
    parse_kv_map(doc, map, "scheme parameter", false, &pt->params, &pt->n_params);
}

/* Reads and checks everything a point is made of from 'root' (a whole resolved document). */
static void
parse_point(struct yaml_doc *doc, struct fy_node *root, struct exp_point *pt)
{
    struct fy_node *map = NULL, *list = NULL, *item = NULL;
    const char *s;
    void *iter;

    s = EXP_DEFAULT_PROVIDER;
    if (!yaml_get_string(doc, root, "provider", YAML_OPTIONAL, &s) && !guest_provider_find(s)) {
        yaml_error(doc, yaml_map_get(root, "provider"),
                   "unknown provider '%s' (expected one of: %s)", s, guest_provider_names());
    }
    pt->provider = xstrdup(s);
    s = EXP_DEFAULT_SCHEME;
    if (!yaml_get_string(doc, root, "scheme", YAML_OPTIONAL, &s) && !scheme_find(s)) {
        yaml_error(doc, yaml_map_get(root, "scheme"),
                   "unknown scheme '%s' (expected one of: %s)", s, scheme_names());
    }
    pt->scheme = xstrdup(s);
    parse_scheme_params(doc, root, pt);

    pt->cpus = EXP_DEFAULT_CPUS;
    pt->cpu_period_us = EXP_DEFAULT_PERIOD_US;
    pt->memory = EXP_DEFAULT_MEMORY;
    if (!yaml_get_map(doc, root, "resources", YAML_OPTIONAL, &map) && map) {
        yaml_map_check_keys(doc, map, resources_keys);
        bool cpus_ok = !yaml_get_number(doc, map, "cpus", YAML_OPTIONAL, &pt->cpus);
        if (cpus_ok && !(pt->cpus > 0 && pt->cpus <= EXP_MAX_CPUS)) {
            yaml_error(doc, yaml_map_get(map, "cpus"),
                       "cpus must be greater than 0 and at most 64, not %s",
                       scalar_text(yaml_map_get(map, "cpus")));
            cpus_ok = false;
        }
        bool period_ok = !topology_get_period(doc, map, "period", &pt->cpu_period_us);
        struct fy_node *at = yaml_map_get(map, yaml_map_get(map, "period") ? "period" : "cpus");
        if (cpus_ok && period_ok) {
            topology_check_quota(doc, at, pt->cpus, pt->cpu_period_us);
        }
        if (!yaml_get_size(doc, map, "memory", YAML_OPTIONAL, &pt->memory)
            && pt->memory < EXP_MIN_MEMORY) {
            yaml_error(doc, yaml_map_get(map, "memory"), "memory must be at least 16M, not %s",
                       scalar_text(yaml_map_get(map, "memory")));
        }
        struct fy_node *vnf = NULL;
        if (!yaml_get_map(doc, map, "vnf", YAML_OPTIONAL, &vnf) && vnf) {
            yaml_map_check_keys(doc, vnf, resources_vnf_keys);
            struct fy_node *vcpus = yaml_map_get(vnf, "cpus"), *vperiod;
            bool vnf_ok = !yaml_get_number(doc, vnf, "cpus", YAML_OPTIONAL, &pt->vnf_cpus);
            if (vnf_ok && vcpus && !(pt->vnf_cpus > 0 && pt->vnf_cpus <= EXP_MAX_CPUS)) {
                yaml_error(doc, vcpus, "vnf cpus must be greater than 0 and at most 64, not %s",
                           scalar_text(vcpus));
                vnf_ok = false;
            }
            vnf_ok &= !topology_get_period(doc, vnf, "period", &pt->vnf_cpu_period_us);
            vperiod = yaml_map_get(vnf, "period");
            /* The middleboxes' own quota, reported at what set it last: a small one may need
             * a longer period than the one it inherits. */
            if (vnf_ok && (vcpus || vperiod) && (vcpus || cpus_ok) && (vperiod || period_ok)) {
                topology_check_quota(doc, vperiod ? vperiod : vcpus ? vcpus : at,
                                     exp_point_vnf_cpus(pt), exp_point_vnf_period(pt));
            }
        }
    }

    parse_chain(doc, root, pt);
    map = NULL;
    if (!yaml_get_map(doc, root, "network", YAML_OPTIONAL, &map) && map) {
        yaml_map_check_keys(doc, map, network_keys);
        impair_parse(doc, map, NULL, 0, &pt->network);
    }
    parse_workload(doc, root, &pt->workload);
    if (scheme_find(pt->scheme)) {
        /* The scheme checks its own parameters, knowing the chain; the faults' targets are
         * then checked against the components it deploys. */
        map = NULL;
        yaml_get_map(doc, root, "params", YAML_OPTIONAL, &map);
        scheme_params_check(scheme_find(pt->scheme), doc, root, map, pt);
    }

    if (!yaml_get_list(doc, root, "faults", YAML_OPTIONAL, &list) && list) {
        pt->faults = xcalloc(yaml_list_count(list), sizeof *pt->faults);
        while ((item = yaml_list_next(list, item, &iter)) != NULL) {
            parse_fault(doc, item, pt->n_faults, pt, &pt->faults[pt->n_faults]);
            pt->n_faults++;
        }
    }

    yaml_get_uint(doc, root, "warmup", YAML_OPTIONAL, &pt->warmup);
    pt->repetitions = 1;
    if (!yaml_get_uint(doc, root, "repetitions", YAML_OPTIONAL, &pt->repetitions)
        && (pt->repetitions < 1 || pt->repetitions > EXP_MAX_REPETITIONS)) {
        yaml_error(doc, yaml_map_get(root, "repetitions"),
                   "repetitions must be 1 to %d, not %llu", EXP_MAX_REPETITIONS,
                   (unsigned long long) pt->repetitions);
    }
    pt->seed = 1;
    yaml_get_uint(doc, root, "seed", YAML_OPTIONAL, &pt->seed);
    if (pt->workload.count && pt->warmup >= pt->workload.count) {
        yaml_error(doc, yaml_map_get(root, "warmup"),
                   "warmup (%llu) must be less than the workload's count (%llu)",
                   (unsigned long long) pt->warmup, (unsigned long long) pt->workload.count);
    }
}

static void
point_uninit(struct exp_point *pt)
{
    free(pt->label);
    kv_free(pt->axes, pt->n_axes);
    free(pt->provider);
    free(pt->scheme);
    kv_free(pt->params, pt->n_params);
    for (size_t i = 0; i < pt->n_vnfs; i++) {
        vnf_free(&pt->vnfs[i]);
    }
    free(pt->vnfs);
    for (size_t i = 0; i < pt->n_rules; i++) {
        free(pt->rules[i]);
    }
    free(pt->rules);
    for (size_t i = 0; i < pt->n_faults; i++) {
        free(pt->faults[i].kind);
        free(pt->faults[i].target);
        free(pt->faults[i].mode);
    }
    free(pt->faults);
}

void
exp_points_free(struct exp_point *pts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        point_uninit(&pts[i]);
    }
    free(pts);
}

/* Sweep keys and the paths they set. */

static const struct axis_alias *
find_alias(const char *key)
{
    for (size_t i = 0; i < ARRAY_SIZE(axis_aliases); i++) {
        if (!strcmp(axis_aliases[i].key, key)) {
            return &axis_aliases[i];
        }
    }
    return NULL;
}

/* The dotted path 'key' sets ("mtbf" for the alias that sets every fault's), or NULL with a
 * message in '*errp' when 'key' is neither an alias nor a path into a point's keys. */
static const char *
axis_path(const char *key, char **errp)
{
    const struct axis_alias *alias = find_alias(key);
    size_t first;
    char *head;
    bool known;

    if (alias) {
        return alias->path ? alias->path : "mtbf";
    }
    for (const char *c = key; ; ) {
        size_t n = strspn(c, "abcdefghijklmnopqrstuvwxyz0123456789_");

        if (!n || (c[n] && c[n] != '.')) {
            *errp = xasprintf("sweep key '%s' must be chain_len, scheme, f, mtbf, scenario, "
                              "setup or a dotted path such as workload.size", key);
            return NULL;
        }
        if (!c[n]) {
            break;
        }
        c += n + 1;
    }
    first = strcspn(key, ".");
    head = xasprintf("%.*s", (int) first, key);
    known = in_list(point_keys, head);
    free(head);
    if (!known) {
        char *expected = join_list(point_keys);

        *errp = xasprintf("sweep key '%s' must start with one of: %s", key, expected);
        free(expected);
        return NULL;
    }
    return key;
}

/* Nodes made here are parsed from text, not created bare: libfyaml can only locate (and report
 * on) a node that came from an input. A double-quoted scalar takes any text as it is. */
static struct fy_node *
new_node(struct fy_document *fyd, const char *yaml)
{
    struct fy_node *node = fy_node_build_from_string(fyd, yaml, FY_NT);

    if (!node) {
        sfc_abort("libfyaml: cannot build a node");
    }
    return node;
}

/* libfyaml keeps pointing into the text a node was built from, in every copy of the node, so
 * the text lives as long as the experiment. */
static const char *
intern(struct experiment *e, char *text)
{
    if (e->n_texts >= e->cap_texts) {
        e->texts = x2nrealloc(e->texts, &e->cap_texts, sizeof *e->texts);
    }
    e->texts[e->n_texts++] = text;
    return text;
}

static struct fy_node *
new_scalar(struct experiment *e, struct fy_document *fyd, const char *s)
{
    struct buf b = BUF_INITIALIZER;
    struct fy_node *node;

    buf_put_u8(&b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            buf_printf(&b, "\\%c", *s);
        } else if ((unsigned char) *s < 0x20) {
            buf_printf(&b, "\\x%02x", (unsigned char) *s);
        } else {
            buf_put_u8(&b, *s);
        }
    }
    buf_printf(&b, "\"");
    buf_put_u8(&b, '\0');
    node = new_node(fyd, intern(e, (char *) buf_steal(&b, NULL)));
    return node;
}

/* Puts 'value' (a node of 'fyd') at map[key], replacing what was there. */
static void
map_put(struct experiment *e, struct fy_document *fyd, struct fy_node *map, const char *key, struct fy_node *value)
{
    struct fy_node_pair *pair = fy_node_mapping_lookup_pair_by_string(map, key, FY_NT);

    if (pair) {
        if (fy_node_pair_set_value(pair, value)) {
            sfc_abort("libfyaml: cannot set a value");
        }
    } else if (fy_node_mapping_append(map, new_scalar(e, fyd, key), value)) {
        sfc_abort("libfyaml: cannot append to a mapping");
    }
}

/* Removes a pair from a mapping (libfyaml's own remove keeps the pair's memory). */
static void
drop_pair(struct fy_node *map, struct fy_node_pair *pair)
{
    struct fy_node *key = fy_node_copy(fy_node_document(map), fy_node_pair_key(pair));

    /* It frees the pair, its key and the key it was given, and hands back the value. */
    fy_node_free(fy_node_mapping_remove_by_key(map, key));
}

/* Sets the dotted 'path' under 'root' (of 'fyd') to a copy of 'value', making the mappings on
 * the way. Returns NULL, or a message saying why the path cannot be set. */
static char *
set_path(struct experiment *e, struct fy_document *fyd, struct fy_node *root, const char *path, struct fy_node *value)
{
    struct fy_node *cur = root;
    char *copy = xstrdup(path), *save = NULL, *comp, *next;
    char *err = NULL;

    if (!strcmp(path, "scenario")) {    /* The alias: a named fault set. */
        struct fy_node *sets = yaml_map_get(root, "scenarios"), *faults;
        const char *name = fy_node_is_scalar(value) ? fy_node_get_scalar0(value) : NULL;

        if (!sets || !fy_node_is_mapping(sets)) {
            err = xstrdup("'scenario' names a fault set of 'scenarios', but there is no "
                          "'scenarios' map");
            goto out;
        }
        faults = name ? yaml_map_get(sets, name) : NULL;
        if (!faults) {
            struct buf names = BUF_INITIALIZER;
            struct fy_node_pair *pair;
            void *iter = NULL;

            while ((pair = fy_node_mapping_iterate(sets, &iter)) != NULL) {
                const char *k = fy_node_get_scalar0(fy_node_pair_key(pair));
                buf_printf(&names, "%s%s", names.len ? ", " : "", k ? k : "?");
            }
            buf_put_u8(&names, '\0');
            err = xasprintf("scenario '%s' is not one of 'scenarios': %s", name ? name : "?",
                            (char *) names.data);
            buf_uninit(&names);
            goto out;
        }
        if (!fy_node_is_sequence(faults)) {
            err = xasprintf("scenarios.%s must be a list of faults (%s)", name,
                            yaml_node_kind(faults));
            goto out;
        }
        map_put(e, fyd, root, "faults", fy_node_copy(fyd, faults));
        goto out;
    }
    if (!strcmp(path, "setup")) {       /* The alias: a named scheme set-up. */
        struct fy_node *sets = yaml_map_get(root, "setups"), *setup;
        const char *name = fy_node_is_scalar(value) ? fy_node_get_scalar0(value) : NULL;
        struct fy_node_pair *pair;
        void *iter = NULL;

        if (!sets || !fy_node_is_mapping(sets)) {
            err = xstrdup("'setup' names a set-up of 'setups', but there is no 'setups' map");
            goto out;
        }
        setup = name ? yaml_map_get(sets, name) : NULL;
        if (!setup) {
            struct buf names = BUF_INITIALIZER;

            while ((pair = fy_node_mapping_iterate(sets, &iter)) != NULL) {
                const char *k = fy_node_get_scalar0(fy_node_pair_key(pair));
                buf_printf(&names, "%s%s", names.len ? ", " : "", k ? k : "?");
            }
            buf_put_u8(&names, '\0');
            err = xasprintf("setup '%s' is not one of 'setups': %s", name ? name : "?",
                            (char *) names.data);
            buf_uninit(&names);
            goto out;
        }
        if (!fy_node_is_mapping(setup)) {
            err = xasprintf("setups.%s must be a mapping of point keys such as scheme and "
                            "params (%s)", name, yaml_node_kind(setup));
            goto out;
        }
        /* Checked before anything is set: a set-up is applied whole or not at all. */
        while ((pair = fy_node_mapping_iterate(setup, &iter)) != NULL) {
            const char *k = fy_node_get_scalar0(fy_node_pair_key(pair));
            if (!k || !in_list(point_keys, k)) {
                char *expected = join_list(point_keys);
                err = xasprintf("setups.%s: key '%s' is not a point key (expected one of: %s)",
                                name, k ? k : "?", expected);
                free(expected);
                goto out;
            }
        }
        iter = NULL;
        while ((pair = fy_node_mapping_iterate(setup, &iter)) != NULL) {
            map_put(e, fyd, root, fy_node_get_scalar0(fy_node_pair_key(pair)),
                    fy_node_copy(fyd, fy_node_pair_value(pair)));
        }
        goto out;
    }
    if (!strcmp(path, "mtbf")) {        /* The alias: every fault's. */
        struct fy_node *faults = yaml_map_get(root, "faults"), *item = NULL;
        void *iter;

        if (!yaml_list_count(faults)) {
            err = xstrdup("'mtbf' sets every fault's mtbf, but there are no 'faults'");
            goto out;
        }
        while ((item = yaml_list_next(faults, item, &iter)) != NULL) {
            if (fy_node_is_mapping(item)) {
                map_put(e, fyd, item, "mtbf", fy_node_copy(fyd, value));
            }
        }
        goto out;
    }

    comp = strtok_r(copy, ".", &save);
    for (; comp; comp = next) {
        struct fy_node *child;

        next = strtok_r(NULL, ".", &save);
        if (cur && fy_node_is_sequence(cur)) {
            size_t n = yaml_list_count(cur);
            char *end;
            unsigned long i = strtoul(comp, &end, 10);

            if (*end || !*comp || i >= n) {
                err = xasprintf("'%s': '%s' is not an item of a list of %zu", path, comp, n);
                goto out;
            }
            child = fy_node_sequence_get_by_index(cur, i);
            if (!next) {
                struct fy_node *v = fy_node_copy(fyd, value);

                fy_node_sequence_insert_after(cur, child, v);
                fy_node_free(fy_node_sequence_remove(cur, child));
                goto out;
            }
        } else if (cur && fy_node_is_mapping(cur)) {
            if (!next) {
                map_put(e, fyd, cur, comp, fy_node_copy(fyd, value));
                goto out;
            }
            child = yaml_map_get(cur, comp);
            if (!child) {
                child = new_node(fyd, "{}");
                map_put(e, fyd, cur, comp, child);
            }
        } else {
            err = xasprintf("'%s': cannot set '%s' inside %s", path, comp,
                            yaml_node_kind(cur));
            goto out;
        }
        cur = child;
    }

out:
    free(copy);
    return err;
}

/* One sweep axis of a document. */
struct axis {
    const char *key;
    const char *path;
    struct fy_node *key_node;
    struct fy_node *list;
    size_t n;
};

/* Checks a `sweep:` mapping (reported at its nodes); fills 'axes' (may be NULL) when it is
 * valid. */
static bool
check_sweep(struct yaml_doc *doc, struct fy_node *sweep, struct axis **axesp, size_t *np)
{
    struct axis *axes = NULL;
    size_t n = 0, total = 1;
    struct fy_node_pair *pair;
    void *iter = NULL;
    bool ok = true;

    if (!sweep) {
        goto out;
    }
    if (!yaml_expect_map(doc, sweep, "'sweep'")) {
        return false;
    }
    axes = xcalloc(fy_node_mapping_item_count(sweep) + 1, sizeof *axes);
    while ((pair = fy_node_mapping_iterate(sweep, &iter)) != NULL) {
        struct fy_node *key = fy_node_pair_key(pair), *list = fy_node_pair_value(pair);
        struct fy_node *item = NULL;
        const char *k = yaml_node_is_null(key) ? NULL : yaml_scalar(doc, key, "a sweep key");
        const char *path;
        char *err = NULL;
        size_t count, i = 0;
        void *it;

        if (!k) {
            if (yaml_node_is_null(key)) {
                yaml_error(doc, sweep, "sweep keys must be strings, not nothing");
            }
            ok = false;
            continue;
        }
        path = axis_path(k, &err);
        if (!path) {
            yaml_error(doc, key, "%s", err);
            free(err);
            ok = false;
            continue;
        }
        for (size_t j = 0; j < n; j++) {
            if (!strcmp(axes[j].path, path)) {
                yaml_error(doc, key, "sweep '%s' sets what sweep '%s' sets", k, axes[j].key);
                ok = false;
            }
        }
        if (!list || !fy_node_is_sequence(list)) {
            yaml_error(doc, list ? list : key, "sweep '%s' must be a list of values, not %s",
                       k, yaml_node_kind(list));
            ok = false;
            continue;
        }
        count = yaml_list_count(list);
        if (!count) {
            yaml_error(doc, list, "sweep '%s' has no values", k);
            ok = false;
            continue;
        }
        if (count > EXP_MAX_POINTS) {
            /* Said once, before looking at each value (twice-checks are quadratic). */
            yaml_error(doc, list, "sweep '%s' has %zu values: a sweep may have at most %d "
                       "points", k, count, EXP_MAX_POINTS);
            ok = false;
            continue;
        }
        while ((item = yaml_list_next(list, item, &it)) != NULL) {
            struct fy_node *prev = NULL;
            char what[64];
            void *it2;

            snprintf(what, sizeof what, "value %zu of sweep '%.30s'", ++i, k);
            if (!plain_scalar(doc, item, what)) {
                ok = false;
                continue;
            }
            while ((prev = yaml_list_next(list, prev, &it2)) != NULL && prev != item) {
                if (fy_node_is_scalar(prev)
                    && !strcmp(scalar_text(prev), scalar_text(item))) {
                    yaml_error(doc, item, "sweep '%s' has '%s' twice", k, scalar_text(item));
                    ok = false;
                    break;
                }
            }
        }
        axes[n++] = (struct axis) { k, path, key, list, count };
        total = total > EXP_MAX_POINTS ? total : total * count;
    }
    if (ok && total > EXP_MAX_POINTS) {
        yaml_error(doc, sweep, "the sweep has %zu points (at most %d)", total, EXP_MAX_POINTS);
        ok = false;
    }

out:
    if (ok && axesp) {
        *axesp = axes;
        *np = n;
    } else {
        free(axes);
    }
    return ok;
}

/* A document over 'fyd' that reports like 'proto' (same file, same diag). */
static struct yaml_doc
doc_over(const struct yaml_doc *proto, struct fy_document *fyd, struct diag *diag)
{
    struct yaml_doc doc = *proto;

    doc.fyd = fyd;
    doc.root = fy_document_root(fyd);
    doc.diag = diag;
    return doc;
}

static struct fy_document *
clone_document(struct fy_document *fyd)
{
    struct fy_document *copy = fy_document_clone(fyd);

    if (!copy) {
        sfc_abort("libfyaml: cannot copy a document");
    }
    return copy;
}

/* Removes messages from 'from' on that repeat an earlier one: every point of a sweep reports
 * the problems it shares with the others. */
static void
diag_unique(struct diag *d, size_t from)
{
    size_t out = from;

    for (size_t i = from; i < d->n; i++) {
        bool seen = false;

        for (size_t j = from; j < out && !seen; j++) {
            seen = !strcmp(d->msgs[j], d->msgs[i]);
        }
        if (seen) {
            free(d->msgs[i]);
        } else {
            d->msgs[out] = d->msgs[i];
            d->pos[out++] = d->pos[i];
        }
    }
    d->n = out;
}

/* Expands and validates every point of the document 'fyd' (reporting as 'proto' does, into
 * 'diag'); hands out the points when 'ptsp' is not NULL. */
static int
expand_points(struct experiment *e, const struct yaml_doc *proto, struct fy_document *fyd, struct diag *diag,
              struct exp_point **ptsp, size_t *np)
{
    struct yaml_doc doc = doc_over(proto, fyd, diag);
    struct exp_point *pts = NULL;
    struct axis *axes = NULL;
    size_t n_axes = 0, n_points = 1, n_before = diag->n;
    size_t *idx = NULL;
    int error = 0;

    if (!check_sweep(&doc, yaml_map_get(doc.root, "sweep"), &axes, &n_axes)) {
        error = EINVAL;
        goto out;
    }
    for (size_t a = 0; a < n_axes; a++) {
        n_points *= axes[a].n;
    }
    pts = xcalloc(n_points, sizeof *pts);
    idx = xcalloc(n_axes + 1, sizeof *idx);
    for (size_t p = 0; p < n_points; p++) {
        struct fy_document *point_fyd = clone_document(fyd);
        struct yaml_doc pd = doc_over(proto, point_fyd, diag);
        struct exp_point *pt = &pts[p];
        struct buf label = BUF_INITIALIZER;

        pt->index = p;
        pt->axes = xcalloc(n_axes + 1, sizeof *pt->axes);
        for (size_t a = 0; a < n_axes; a++) {
            struct fy_node *value = fy_node_sequence_get_by_index(axes[a].list, idx[a]);
            char *err = set_path(e, point_fyd, pd.root, axes[a].path, value);

            if (err) {
                yaml_error(&doc, axes[a].key_node, "sweep %s", err);
                free(err);
            }
            pt->axes[a].key = xstrdup(axes[a].key);
            pt->axes[a].value = xstrdup(scalar_text(value));
            pt->n_axes++;
            buf_printf(&label, "%s%s=%s", a ? "," : "", axes[a].key, scalar_text(value));
        }
        buf_put_u8(&label, '\0');
        pt->label = (char *) buf_steal(&label, NULL);
        parse_point(&pd, pd.root, pt);
        fy_document_destroy(point_fyd);

        /* The next point: the last axis varies fastest. */
        for (size_t a = n_axes; a-- > 0; ) {
            if (++idx[a] < axes[a].n) {
                break;
            }
            idx[a] = 0;
        }
    }
    if (diag->n != n_before) {
        diag_unique(diag, n_before);
        error = EINVAL;
    }

out:
    if (!error && ptsp) {
        *ptsp = pts;
        *np = n_points;
    } else if (pts) {
        exp_points_free(pts, n_points);
    }
    free(idx);
    free(axes);
    return error;
}

/* Merges the mapping 'from' into the mapping 'into' (of 'fyd'): mappings merge, anything else
 * replaces. */
static void
deep_merge(struct experiment *e, struct fy_document *fyd, struct fy_node *into, struct fy_node *from)
{
    struct fy_node_pair *pair;
    void *iter = NULL;

    while ((pair = fy_node_mapping_iterate(from, &iter)) != NULL) {
        struct fy_node *value = fy_node_pair_value(pair);
        const char *key = scalar_text(fy_node_pair_key(pair));
        struct fy_node *old = yaml_map_get(into, key);

        if (old && value && fy_node_is_mapping(old) && fy_node_is_mapping(value)) {
            deep_merge(e, fyd, old, value);
        } else {
            map_put(e, fyd, into, key, value ? fy_node_copy(fyd, value) : new_node(fyd, "~"));
        }
    }
}

/* The working document with `quick:` merged in, or NULL when there is none. */
static struct fy_document *
quick_document(struct experiment *e, struct fy_document *work)
{
    struct fy_node *quick = yaml_map_get(fy_document_root(work), "quick");
    struct fy_document *fyd;

    if (!quick || !fy_node_is_mapping(quick)) {
        return NULL;
    }
    fyd = clone_document(work);
    deep_merge(e, fyd, fy_document_root(fyd), quick);
    return fyd;
}

static void
check_quick(struct yaml_doc *doc, struct fy_node *quick)
{
    if (!quick || !yaml_expect_map(doc, quick, "'quick'")) {
        return;
    }
    yaml_map_check_keys(doc, quick, quick_keys);
}

static bool
is_axis(struct axis *axes, size_t n, const char *key, size_t *idx)
{
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(axes[i].key, key)) {
            *idx = i;
            return true;
        }
    }
    return false;
}

static char *
axis_names(struct axis *axes, size_t n)
{
    struct buf b = BUF_INITIALIZER;

    for (size_t i = 0; i < n; i++) {
        buf_printf(&b, "%s%s", i ? ", " : "", axes[i].key);
    }
    if (!n) {
        buf_printf(&b, "none");
    }
    buf_put_u8(&b, '\0');
    return (char *) buf_steal(&b, NULL);
}

static void
parse_plots(struct yaml_doc *doc, struct fy_node *root, struct experiment *e,
            struct axis *axes, size_t n_axes, bool axes_known)
{
    struct fy_node *list = NULL, *item = NULL;
    void *iter;

    if (yaml_get_list(doc, root, "plots", YAML_OPTIONAL, &list) || !list) {
        return;
    }
    e->plots = xcalloc(yaml_list_count(list), sizeof *e->plots);
    while ((item = yaml_list_next(list, item, &iter)) != NULL) {
        struct exp_plot *plot = &e->plots[e->n_plots];
        const char *kind = NULL, *x = NULL, *y = NULL, *title = NULL;
        char what[32];
        size_t a;

        snprintf(what, sizeof what, "plot %zu", ++e->n_plots);
        if (!yaml_expect_map(doc, item, what)) {
            continue;
        }
        yaml_map_check_keys(doc, item, plot_keys);
        if (!yaml_get_string(doc, item, "kind", YAML_REQUIRED, &kind) && kind) {
            check_one_of(doc, yaml_map_get(item, "kind"), "plot kind", kind, plot_kinds);
            plot->kind = xstrdup(kind);
        }
        yaml_get_string(doc, item, "x", kind && !strcmp(kind, "line") ? YAML_REQUIRED
                        : YAML_OPTIONAL, &x);
        if (x && kind && !strcmp(kind, "timeseries")) {
            if (strcmp(x, "time")) {
                yaml_error(doc, yaml_map_get(item, "x"),
                           "a timeseries plot's x is 'time', not '%s'", x);
            }
        } else if (x && axes_known && !is_axis(axes, n_axes, x, &a)) {
            char *names = axis_names(axes, n_axes);

            yaml_error(doc, yaml_map_get(item, "x"), "plot x '%s' is not a sweep axis "
                       "(axes: %s)", x, names);
            free(names);
        }
        plot->x = x ? xstrdup(x) : NULL;
        if (!yaml_get_string(doc, item, "y", YAML_REQUIRED, &y) && y) {
            if (!*y) {
                yaml_error(doc, yaml_map_get(item, "y"), "plot y (a metric) is empty");
            }
            plot->y = xstrdup(y);
        }
        if (!yaml_get_string(doc, item, "title", YAML_OPTIONAL, &title) && title) {
            plot->title = xstrdup(title);
        }
    }
}

/* Reports a reference's 'where' key or value that names no sweep point. */
static void
check_where(struct yaml_doc *doc, struct fy_node *where, struct axis *axes, size_t n_axes)
{
    struct fy_node_pair *pair;
    void *iter = NULL;

    while ((pair = fy_node_mapping_iterate(where, &iter)) != NULL) {
        struct fy_node *key = fy_node_pair_key(pair), *value = fy_node_pair_value(pair);
        const char *k = scalar_text(key), *v = scalar_text(value);
        struct fy_node *item = NULL;
        bool found = false;
        void *it;
        size_t a;

        if (!is_axis(axes, n_axes, k, &a)) {
            char *names = axis_names(axes, n_axes);

            yaml_error(doc, key, "'where' key '%s' is not a sweep axis (axes: %s)", k, names);
            free(names);
            continue;
        }
        while ((item = yaml_list_next(axes[a].list, item, &it)) != NULL && !found) {
            found = !strcmp(scalar_text(item), v);
        }
        if (!found) {
            yaml_error(doc, value, "'where' %s=%s is not a point of the sweep", k, v);
        }
    }
}

static void
parse_references(struct yaml_doc *doc, struct fy_node *root, struct experiment *e,
                 struct axis *axes, size_t n_axes, bool axes_known)
{
    struct fy_node *list = NULL, *item = NULL;
    void *iter;

    if (yaml_get_list(doc, root, "reference", YAML_OPTIONAL, &list) || !list) {
        return;
    }
    e->refs = xcalloc(yaml_list_count(list), sizeof *e->refs);
    while ((item = yaml_list_next(list, item, &iter)) != NULL) {
        struct exp_reference *ref = &e->refs[e->n_refs];
        const char *label = NULL, *metric = NULL, *unit = NULL, *source = NULL;
        const char *derived = NULL, *scheme = NULL, *ratio_to = NULL;
        struct fy_node *where = NULL, *labels = NULL, *why = NULL;
        char what[32];

        snprintf(what, sizeof what, "reference %zu", ++e->n_refs);
        if (!yaml_expect_map(doc, item, what)) {
            continue;
        }
        yaml_map_check_keys(doc, item, reference_keys);
        if (!yaml_get_string(doc, item, "label", YAML_REQUIRED, &label) && label) {
            ref->label = xstrdup(label);
            /* Rows are matched by label: two of one name would show one number twice. */
            for (size_t i = 0; i + 1 < e->n_refs; i++) {
                if (e->refs[i].label && !strcmp(e->refs[i].label, label)) {
                    yaml_error(doc, yaml_map_get(item, "label"), "reference label '%s' is "
                               "already used by reference %zu", label, i + 1);
                }
            }
        }
        if (!yaml_get_string(doc, item, "metric", YAML_REQUIRED, &metric) && metric) {
            ref->metric = xstrdup(metric);
        }
        yaml_get_number(doc, item, "value", YAML_REQUIRED, &ref->value);
        if (!yaml_get_string(doc, item, "unit", YAML_REQUIRED, &unit) && unit) {
            ref->unit = xstrdup(unit);
        }
        /* A published number is worth what its citation is: the figure, table or sentence
         * that prints it, or that prints what 'derived' computes it from. */
        if (!yaml_get_string(doc, item, "source", YAML_REQUIRED, &source) && source) {
            ref->source = xstrdup(source);
        }
        if (!yaml_get_string(doc, item, "derived", YAML_OPTIONAL, &derived) && derived) {
            ref->derived = xstrdup(derived);
        }
        if (!yaml_get_string(doc, item, "scheme", YAML_OPTIONAL, &scheme) && scheme) {
            ref->scheme = xstrdup(scheme);
        }
        if (!yaml_get_map(doc, item, "labels", YAML_OPTIONAL, &labels) && labels) {
            parse_kv_map(doc, labels, "'labels'", false, &ref->labels, &ref->n_labels);
        }
        if (!yaml_get_map(doc, item, "where", YAML_OPTIONAL, &where) && where
            && parse_kv_map(doc, where, "'where'", false, &ref->where, &ref->n_where)
            && axes_known) {
            check_where(doc, where, axes, n_axes);
        }
        /* Whether it names a reference of its table is check_ratios()'s, once all are read. */
        if (!yaml_get_string(doc, item, "ratio_to", YAML_OPTIONAL, &ratio_to) && ratio_to) {
            ref->ratio_to = xstrdup(ratio_to);
        }
        /* A map names the checks it explains; a string explains every check the reference
         * has. Whether each exists is check_whys()'s: that needs every reference. */
        why = yaml_map_get(item, "why");
        if (why && fy_node_is_scalar(why)) {
            const char *text = yaml_scalar(doc, why, "'why'");

            if (text) {
                ref->why = xcalloc(1, sizeof *ref->why);
                ref->why[0].key = xstrdup("*");
                ref->why[0].value = xstrdup(text);
                ref->n_why = 1;
            }
        } else if (why && !fy_node_is_mapping(why)) {
            yaml_error(doc, why, "'why' must be a string or a map of check: text, not %s",
                       yaml_node_kind(why));
        } else if (why) {
            parse_kv_map(doc, why, "'why'", false, &ref->why, &ref->n_why);
        }
    }
}

bool
experiment_reference_value_checked(const struct exp_reference *r)
{
    static const char *const shape_units[] = { "", "%", "pct", "ratio", NULL };

    return r->unit && in_list(shape_units, r->unit);
}

/* Whether 'a' names every axis=value 'b' names, and no other. */
static bool
same_kvs(const struct exp_kv *a, size_t n_a, const struct exp_kv *b, size_t n_b)
{
    if (n_a != n_b) {
        return false;
    }
    for (size_t i = 0; i < n_a; i++) {
        bool found = false;

        for (size_t j = 0; j < n_b && !found; j++) {
            found = !strcmp(a[i].key, b[j].key) && !strcmp(a[i].value, b[j].value);
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

bool
experiment_references_share_table(const struct exp_reference *a, const struct exp_reference *b)
{
    if (!a->metric || !b->metric || strcmp(a->metric, b->metric)) {
        return false;
    }
    if (!a->n_labels && !b->n_labels) {
        return true;
    }
    return (!a->scheme == !b->scheme && (!a->scheme || !strcmp(a->scheme, b->scheme))
            && same_kvs(a->where, a->n_where, b->where, b->n_where));
}

const char *
experiment_reference_why(const struct exp_reference *r, const char *check)
{
    for (size_t i = 0; i < r->n_why; i++) {
        if (!strcmp(r->why[i].key, check) || !strcmp(r->why[i].key, "*")) {
            return r->why[i].value;
        }
    }
    return NULL;
}

/* Reports each 'why' that explains a check the report never makes for its reference: an
 * unknown check, a 'value' of a time or a rate, an 'order' or 'best' of a reference alone in
 * its table, a 'ratio' without 'ratio_to'; and an empty explanation. */
static void
check_whys(struct yaml_doc *doc, struct fy_node *root, const struct experiment *e)
{
    struct fy_node *list = yaml_map_get(root, "reference"), *item = NULL;
    size_t i = 0;
    void *iter;

    while (list && fy_node_is_sequence(list)
           && (item = yaml_list_next(list, item, &iter)) != NULL && i < e->n_refs) {
        const struct exp_reference *r = &e->refs[i++];
        struct fy_node *why = fy_node_is_mapping(item) ? yaml_map_get(item, "why") : NULL;
        const char *label = r->label ? r->label : "";
        struct fy_node_pair *pair;
        size_t others = 0;
        void *it = NULL;

        if (!r->n_why || !why) {
            continue;
        }
        for (size_t j = 0; j < e->n_refs; j++) {
            others += j != i - 1 && experiment_references_share_table(r, &e->refs[j]);
        }
        if (fy_node_is_scalar(why)) {
            const char *v = r->why[0].value;

            if (!*v || strspn(v, " \t\n") == strlen(v)) {
                yaml_error(doc, why, "reference '%s': 'why' is empty: say why, or leave its "
                           "checks unexplained", label);
            } else if (r->metric && r->unit && !others && !experiment_reference_value_checked(r)) {
                yaml_error(doc, why, "reference '%s': 'why' explains no check: its value in %s "
                           "is not compared (times and rates come from other machines) and no "
                           "other reference of %s is in its table", label, r->unit, r->metric);
            }
            continue;
        }
        if (!fy_node_is_mapping(why)) {
            continue;
        }
        while ((pair = fy_node_mapping_iterate(why, &it)) != NULL) {
            struct fy_node *key = fy_node_pair_key(pair), *value = fy_node_pair_value(pair);
            const char *k = scalar_text(key), *v = scalar_text(value);

            if (!check_one_of(doc, key, "shape check in 'why'", k, why_checks)) {
                continue;
            }
            if (!*v || strspn(v, " \t\n") == strlen(v)) {
                yaml_error(doc, value, "reference '%s': 'why' %s is empty: say why, or leave "
                           "the check unexplained", label, k);
            } else if (!strcmp(k, "value") && r->unit && !experiment_reference_value_checked(r)) {
                yaml_error(doc, key, "reference '%s': no 'value' check to explain: a value in "
                           "%s is shown beside ours but not compared (times and rates come from "
                           "other machines; only %%, pct, ratio and counts are)", label, r->unit);
            } else if (!strcmp(k, "ratio") && !r->ratio_to) {
                yaml_error(doc, key, "reference '%s': no 'ratio' check to explain: it has no "
                           "'ratio_to' naming the reference it is divided by", label);
            } else if (!strcmp(k, "order") || !strcmp(k, "best")) {
                if (r->metric && !others) {
                    yaml_error(doc, key, "reference '%s': no '%s' check to explain: no other "
                               "reference of %s%s is in its table", label, k, r->metric,
                               r->n_labels ? " at the same point and scheme" : "");
                }
            }
        }
    }
}

/* Reports each 'ratio_to' the report could not divide by: a label no reference has, the
 * reference itself, one in another table or of another unit (a ratio of two rows of one
 * table is unitless; of a share and a time it means nothing), or a published 0. */
static void
check_ratios(struct yaml_doc *doc, struct fy_node *root, const struct experiment *e)
{
    struct fy_node *list = yaml_map_get(root, "reference"), *item = NULL;
    size_t i = 0;
    void *iter;

    while (list && fy_node_is_sequence(list)
           && (item = yaml_list_next(list, item, &iter)) != NULL && i < e->n_refs) {
        const struct exp_reference *r = &e->refs[i++], *to = NULL;
        struct fy_node *node = fy_node_is_mapping(item) ? yaml_map_get(item, "ratio_to") : NULL;
        const char *label = r->label ? r->label : "";

        if (!r->ratio_to || !node) {
            continue;
        }
        for (size_t j = 0; j < e->n_refs && !to; j++) {
            if (e->refs[j].label && !strcmp(e->refs[j].label, r->ratio_to)) {
                to = &e->refs[j];
            }
        }
        if (!to) {
            yaml_error(doc, node, "reference '%s': 'ratio_to' '%s' names no reference of this "
                       "file", label, r->ratio_to);
        } else if (to == r) {
            yaml_error(doc, node, "reference '%s': 'ratio_to' names the reference itself",
                       label);
        } else if (r->metric && to->metric && !experiment_references_share_table(r, to)) {
            if (strcmp(r->metric, to->metric)) {
                yaml_error(doc, node, "reference '%s': 'ratio_to' '%s' is in another table (of "
                           "%s, this one of %s): a ratio divides two rows of one table", label,
                           r->ratio_to, to->metric, r->metric);
            } else {
                yaml_error(doc, node, "reference '%s': 'ratio_to' '%s' is in another table (%s "
                           "is compared per point and scheme): a ratio divides two rows of one "
                           "table", label, r->ratio_to, r->metric);
            }
        } else if (r->unit && to->unit && strcmp(r->unit, to->unit)) {
            yaml_error(doc, node, "reference '%s': 'ratio_to' '%s' is in %s, this one in %s: "
                       "give both in one unit", label, r->ratio_to, to->unit, r->unit);
        } else if (to->value == 0) {
            yaml_error(doc, node, "reference '%s': 'ratio_to' '%s' has a published value of 0: "
                       "no ratio to compare", label, r->ratio_to);
        }
    }
}

double
exp_point_vnf_cpus(const struct exp_point *p)
{
    return p->vnf_cpus > 0 ? p->vnf_cpus : p->cpus;
}

uint64_t
exp_point_vnf_period(const struct exp_point *p)
{
    return p->vnf_cpu_period_us ? p->vnf_cpu_period_us : p->cpu_period_us;
}

bool
experiment_reference_applies(const struct exp_reference *r, const struct exp_point *p)
{
    if (r->scheme && strcmp(r->scheme, p->scheme)) {
        return false;
    }
    for (size_t i = 0; i < r->n_where; i++) {
        bool found = false;

        for (size_t a = 0; a < p->n_axes && !found; a++) {
            found = !strcmp(p->axes[a].key, r->where[i].key)
                    && !strcmp(p->axes[a].value, r->where[i].value);
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

/* The summaries the runner stores (testbed/run/runner.c, report_point()): which workloads
 * make each, and whether it is one per component. Keep the two in step. */
enum { WL_DNS = 1 << EXP_WL_DNS, WL_UDP = 1 << EXP_WL_UDP, WL_PROBE = 1 << EXP_WL_PROBE };
struct stored_metric {
    const char *name;
    unsigned workloads;
    bool per_component;         /* labels {component: NAME}; else no labels. */
    bool hops_only;             /* Only classifier, sff and vnf components. */
    bool needs_faults;          /* Made from fault and recovery events. */
};
static const struct stored_metric stored_metrics[] = {
    { "rtt_us", WL_DNS, false, false, false },
    { "wrong_answer_ratio", WL_DNS | WL_PROBE, false, false, false },
    { "forged_answer_ratio", WL_DNS | WL_PROBE, false, false, false },
    { "corrupted_answer_ratio", WL_DNS | WL_PROBE, false, false, false },
    { "error_answer_ratio", WL_DNS | WL_PROBE, false, false, false },
    { "timeout_ratio", WL_DNS | WL_PROBE, false, false, false },
    { "availability_ratio", WL_PROBE, false, false, false },
    { "longest_outage_ms", WL_PROBE, false, false, false },
    { "rx_pps", WL_UDP, false, false, false },
    { "tx_pps", WL_UDP, false, false, false },
    { "rx_bps", WL_UDP, false, false, false },
    { "lost_packets", WL_UDP, false, false, false },
    /* A udp workload with a 'capacity' only. */
    { "capacity_pps", WL_UDP, false, false, false },
    { "capacity_bps", WL_UDP, false, false, false },
    { "duplicate_packets", WL_UDP, false, false, false },
    { "reordered_packets", WL_UDP, false, false, false },
    { "recovery_total_ms", WL_DNS | WL_UDP | WL_PROBE, false, false, true },
    { "recovery_detect_ms", WL_DNS | WL_UDP | WL_PROBE, false, false, true },
    { "recovery_repair_ms", WL_DNS | WL_UDP | WL_PROBE, false, false, true },
    { "recovery_steer_ms", WL_DNS | WL_UDP | WL_PROBE, false, false, true },
    { "recovery_resume_ms", WL_DNS | WL_UDP | WL_PROBE, false, false, true },
    /* NHAM's backends vm and criu (a scheme parameter, not known here: a run without it has
     * none). */
    { "vm_checkpoint_ms", WL_DNS | WL_UDP | WL_PROBE, false, false, false },
    { "vm_restore_ms", WL_DNS | WL_UDP | WL_PROBE, false, false, true },
    { "criu_checkpoint_ms", WL_DNS | WL_UDP | WL_PROBE, false, false, false },
    { "criu_restore_ms", WL_DNS | WL_UDP | WL_PROBE, false, false, true },
    { "hop_us", WL_DNS | WL_UDP | WL_PROBE, true, true, false },
    { "link_us", WL_DNS | WL_UDP | WL_PROBE, true, true, false },
    { "cpu_pct", WL_DNS | WL_UDP | WL_PROBE, true, false, false },
    { "memory_bytes", WL_DNS | WL_UDP | WL_PROBE, true, false, false },
    /* Per component, replicas pooled (classifier[0], sff[0], vnf[N]): the latency split. */
    { "component_us", WL_DNS | WL_UDP | WL_PROBE, true, true, false },
    { "component_share_pct", WL_DNS | WL_UDP | WL_PROBE, true, true, false },
};

/* Whether 'name' is a component a run of 'p' has (deploy's names: classifier[0], sff[0],
 * vnf[N] for each VNF of the chain, client[0], server[0]). */
static bool
point_has_component(const struct exp_point *p, const char *name, bool hops_only)
{
    unsigned idx;
    char role[16];
    int end = -1;

    if (sscanf(name, "%15[a-z][%u]%n", role, &idx, &end) != 2 || end < 0 || name[end]) {
        return false;
    }
    if (!strcmp(role, "vnf")) {
        return idx < p->n_vnfs;
    }
    if (!strcmp(role, "classifier") || !strcmp(role, "sff")) {
        return idx == 0;
    }
    return !hops_only && idx == 0 && (!strcmp(role, "client") || !strcmp(role, "server"));
}

const char *
experiment_metric_names(void)
{
    static char *names;

    if (!names) {
        struct buf b = BUF_INITIALIZER;

        for (size_t i = 0; i < ARRAY_SIZE(stored_metrics); i++) {
            buf_printf(&b, "%s%s", i ? ", " : "", stored_metrics[i].name);
        }
        buf_put_u8(&b, '\0');
        names = (char *) buf_steal(&b, NULL);
    }
    return names;
}

bool
experiment_point_stores(const struct exp_point *p, const char *metric,
                        const struct exp_kv *labels, size_t n_labels, struct buf *why)
{
    const struct stored_metric *m = NULL;

    for (size_t i = 0; i < ARRAY_SIZE(stored_metrics) && !m; i++) {
        if (!strcmp(stored_metrics[i].name, metric)) {
            m = &stored_metrics[i];
        }
    }
    if (!m) {
        if (why) {
            buf_printf(why, "no run stores a metric '%s' (expected one of: %s)", metric,
                       experiment_metric_names());
        }
        return false;
    }
    if (!(m->workloads & (1u << p->workload.kind))) {
        if (why) {
            buf_printf(why, "a %s workload stores no '%s'", p->workload.kind_name, metric);
        }
        return false;
    }
    if (!strncmp(metric, "capacity_", 9) && !p->workload.capacity) {
        if (why) {
            buf_printf(why, "'%s' comes from a capacity search, and this point's workload has "
                       "no 'capacity'", metric);
        }
        return false;
    }
    if (m->needs_faults && !p->n_faults && !strcmp(p->scheme, "none")) {
        if (why) {
            buf_printf(why, "'%s' comes from faults and recoveries, and this point has none",
                       metric);
        }
        return false;
    }
    if (m->per_component) {
        if (n_labels != 1 || strcmp(labels[0].key, "component")) {
            if (why) {
                buf_printf(why, "'%s' is stored per component: it needs labels "
                           "{component: NAME} and nothing else", metric);
            }
            return false;
        }
        if (!point_has_component(p, labels[0].value, m->hops_only)) {
            if (why) {
                buf_printf(why, "this point has no component '%s' that stores '%s' (a chain "
                           "of %zu: classifier[0], sff[0], vnf[0..%zu]%s)", labels[0].value,
                           metric, p->n_vnfs, p->n_vnfs ? p->n_vnfs - 1 : 0,
                           m->hops_only ? "" : ", client[0], server[0]");
            }
            return false;
        }
    } else if (n_labels) {
        if (why) {
            buf_printf(why, "'%s' is stored without labels", metric);
        }
        return false;
    }
    return true;
}

/* Reports each reference that no point of the file can fill: its scheme or 'where' names no
 * point, or no point it names stores its metric with its labels. */
static void
check_references(struct yaml_doc *doc, struct fy_node *root, const struct experiment *e,
                 const struct exp_point *pts, size_t n_pts)
{
    struct fy_node *list = yaml_map_get(root, "reference"), *item = NULL;
    size_t i = 0;
    void *iter;

    while (list && fy_node_is_sequence(list)
           && (item = yaml_list_next(list, item, &iter)) != NULL && i < e->n_refs) {
        const struct exp_reference *r = &e->refs[i++];
        struct buf why = BUF_INITIALIZER;
        size_t applies = 0;
        bool stored = false;

        if (!r->metric || !fy_node_is_mapping(item)) {
            continue;
        }
        for (size_t p = 0; p < n_pts && !stored; p++) {
            if (experiment_reference_applies(r, &pts[p])) {
                applies++;
                why.len = 0;
                stored = experiment_point_stores(&pts[p], r->metric, r->labels, r->n_labels,
                                                 &why);
            }
        }
        if (!applies && r->scheme) {
            yaml_error(doc, yaml_map_get(item, "scheme"), "reference '%s': no point of this "
                       "file runs scheme '%s'%s", r->label ? r->label : "", r->scheme,
                       r->n_where ? " where it says" : "");
        } else if (applies && !stored) {
            struct fy_node *at = yaml_map_get(item, r->n_labels && strstr(
                                     (char *) why.data, "component") ? "labels" : "metric");
            yaml_error(doc, at, "reference '%s' can never be filled: %.*s",
                       r->label ? r->label : "", (int) why.len, (char *) why.data);
        }
        buf_uninit(&why);
    }
}

void
experiment_free(struct experiment *e)
{
    if (!e) {
        return;
    }
    free(e->file);
    free(e->text);
    free(e->name);
    free(e->title);
    free(e->reproduces);
    for (size_t i = 0; i < e->n_plots; i++) {
        free(e->plots[i].kind);
        free(e->plots[i].x);
        free(e->plots[i].y);
        free(e->plots[i].title);
    }
    free(e->plots);
    for (size_t i = 0; i < e->n_refs; i++) {
        free(e->refs[i].label);
        free(e->refs[i].metric);
        free(e->refs[i].unit);
        free(e->refs[i].source);
        free(e->refs[i].derived);
        free(e->refs[i].scheme);
        kv_free(e->refs[i].labels, e->refs[i].n_labels);
        kv_free(e->refs[i].where, e->refs[i].n_where);
        free(e->refs[i].ratio_to);
        kv_free(e->refs[i].why, e->refs[i].n_why);
    }
    free(e->refs);
    if (e->work) {
        fy_document_destroy(e->work);
    }
    yaml_doc_free(e->yd);
    for (size_t i = 0; i < e->n_texts; i++) {
        free(e->texts[i]);
    }
    free(e->texts);
    free(e);
}

int
experiment_parse(struct yaml_doc **docp, struct experiment **expp)
{
    struct yaml_doc *doc = *docp;
    struct fy_node *root = doc->root;
    struct diag *diag = doc->diag;
    struct experiment *e = xzalloc(sizeof *e);
    struct fy_document *quick = NULL;
    struct axis *axes = NULL;
    size_t n_axes = 0, n_before = diag->n;
    bool axes_ok;
    const char *s;
    int error = 0;

    e->file = xstrdup(doc->file);
    if (yaml_node_is_null(root)) {
        yaml_error(doc, NULL, "empty file (an experiment needs at least 'experiment', "
                   "'chain' and 'workload')");
        error = EINVAL;
        goto out;
    }
    if (!yaml_expect_map(doc, root, "the top level of an experiment")) {
        error = EINVAL;
        goto out;
    }
    yaml_map_check_keys(doc, root, top_keys);
    s = NULL;
    if (!yaml_get_string(doc, root, "experiment", YAML_REQUIRED, &s) && s) {
        if (!valid_name(s, EXP_NAME_MAX)) {
            yaml_error(doc, yaml_map_get(root, "experiment"), "experiment name '%s' is invalid "
                       "(1 to %d of a-z, 0-9, '_' and '-', starting with a letter or digit)",
                       s, EXP_NAME_MAX);
        }
        e->name = xstrdup(s);
    }
    s = NULL;
    if (!yaml_get_string(doc, root, "title", YAML_OPTIONAL, &s) && s) {
        e->title = xstrdup(s);
    }
    s = NULL;
    if (!yaml_get_string(doc, root, "reproduces", YAML_OPTIONAL, &s) && s) {
        e->reproduces = xstrdup(s);
    }
    yaml_get_bool(doc, root, "capture", YAML_OPTIONAL, &e->capture);
    check_quick(doc, yaml_map_get(root, "quick"));
    axes_ok = check_sweep(doc, yaml_map_get(root, "sweep"), &axes, &n_axes);
    parse_plots(doc, root, e, axes, n_axes, axes_ok);
    parse_references(doc, root, e, axes, n_axes, axes_ok);
    check_whys(doc, root, e);
    check_ratios(doc, root, e);

    /* The points, as written and as --quick makes them; a broken sweep was reported above. */
    if (axes_ok) {
        struct exp_point *pts = NULL;
        size_t n_pts = 0;

        e->work = clone_document(doc->fyd);
        if (!expand_points(e, doc, e->work, diag, &pts, &n_pts)) {
            check_references(doc, root, e, pts, n_pts);
            exp_points_free(pts, n_pts);
        }
        quick = quick_document(e, e->work);
        if (quick && diag->n == n_before) {
            expand_points(e, doc, quick, diag, NULL, NULL);
        }
    }
    if (diag->n != n_before) {
        diag_unique(diag, n_before);
        diag_sort(diag, n_before);
        error = EINVAL;
    }

out:
    if (quick) {
        fy_document_destroy(quick);
    }
    free(axes);
    if (error) {
        experiment_free(e);
        return error;
    }
    e->text = xstrdup(doc->text ? doc->text : "");
    e->yd = doc;
    *docp = NULL;
    *expp = e;
    return 0;
}

int
experiment_load_string(const char *name, const char *yaml, size_t len, struct diag *diag,
                       struct experiment **expp)
{
    struct yaml_doc *doc;
    int error;

    error = yaml_doc_load_string(name, yaml, len, diag, &doc);
    if (!error) {
        error = experiment_parse(&doc, expp);
        yaml_doc_free(doc);
    }
    return error;
}

int
experiment_load(const char *file, struct diag *diag, struct experiment **expp)
{
    struct yaml_doc *doc;
    int error;

    error = yaml_doc_load(file, diag, &doc);
    if (!error) {
        error = experiment_parse(&doc, expp);
        yaml_doc_free(doc);
    }
    return error;
}

int
experiment_points(struct experiment *e, struct diag *diag, struct exp_point **ptsp,
                  size_t *np)
{
    size_t n_before = diag->n;
    int error = expand_points(e, e->yd, e->work, diag, ptsp, np);

    diag_sort(diag, n_before);
    return error;
}

/* Validates 'candidate' and makes it the working document, or reports its problems as
 * "WHO: message" (the location of a command-line value means nothing to the user) and drops
 * it. */
static int
adopt_document(struct experiment *e, struct fy_document *candidate, const char *who,
               struct diag *diag)
{
    struct diag found;
    int error;

    diag_init(&found);
    error = expand_points(e, e->yd, candidate, &found, NULL, NULL);
    if (error) {
        size_t file_len = strlen(e->file);
        size_t n_before = diag->n;

        for (size_t i = 0; i < found.n; i++) {
            const char *msg = found.msgs[i];

            /* "file:line:col: message" -> "message" */
            if (!strncmp(msg, e->file, file_len) && msg[file_len] == ':') {
                msg += file_len + 1;
                msg += strspn(msg, "0123456789:");
                msg += strspn(msg, " ");
            }
            diag_error(diag, &(struct loc) { who, 0, 0 }, "%s", msg);
        }
        diag_unique(diag, n_before);
        fy_document_destroy(candidate);
    } else {
        fy_document_destroy(e->work);
        e->work = candidate;
    }
    diag_uninit(&found);
    return error;
}

int
experiment_quick(struct experiment *e, struct diag *diag)
{
    struct fy_document *quick = quick_document(e, e->work);

    return quick ? adopt_document(e, quick, "quick", diag) : 0;
}

int
experiment_set(struct experiment *e, const char *assignment, struct diag *diag)
{
    char *who = xasprintf("--set %s", assignment);
    const char *eq = strchr(assignment, '=');
    struct fy_document *fyd = NULL;
    struct fy_node *root, *sweep;
    char *key = NULL, *err = NULL;
    const char *path;
    int error = 0;

    if (!eq || eq == assignment) {
        diag_error(diag, &(struct loc) { who, 0, 0 }, "expected KEY=VALUE or KEY=V1,V2,...");
        error = EINVAL;
        goto out;
    }
    key = xasprintf("%.*s", (int) (eq - assignment), assignment);
    path = axis_path(key, &err);
    if (!path) {
        diag_error(diag, &(struct loc) { who, 0, 0 }, "%s", err);
        error = EINVAL;
        goto out;
    }

    fyd = clone_document(e->work);
    root = fy_document_root(fyd);
    sweep = yaml_map_get(root, "sweep");
    if (strchr(eq + 1, ',')) {
        struct fy_node *list = new_node(fyd, "[]");
        char *values = xstrdup(eq + 1), *save = NULL;

        for (char *v = strtok_r(values, ",", &save); v; v = strtok_r(NULL, ",", &save)) {
            fy_node_sequence_append(list, new_scalar(e, fyd, v));
        }
        free(values);
        if (!sweep || !fy_node_is_mapping(sweep)) {
            sweep = new_node(fyd, "{}");
            map_put(e, fyd, root, "sweep", sweep);
        }
        /* An alias and its path are one axis: replace whichever spelling the file used. */
        for (size_t i = 0; i < ARRAY_SIZE(axis_aliases); i++) {
            const char *other = NULL;

            if (!strcmp(axis_aliases[i].key, key) && axis_aliases[i].path) {
                other = axis_aliases[i].path;
            } else if (axis_aliases[i].path && !strcmp(axis_aliases[i].path, key)) {
                other = axis_aliases[i].key;
            }
            if (other && strcmp(other, key)) {
                struct fy_node_pair *pair = fy_node_mapping_lookup_pair_by_string(sweep, other,
                                                                                  FY_NT);
                if (pair) {
                    drop_pair(sweep, pair);
                }
            }
        }
        map_put(e, fyd, sweep, key, list);
    } else {
        struct fy_node *value = new_scalar(e, fyd, eq + 1);

        if (sweep && fy_node_is_mapping(sweep)) {
            struct fy_node_pair *pair = fy_node_mapping_lookup_pair_by_string(sweep, key, FY_NT);

            if (pair) {
                drop_pair(sweep, pair);
            }
        }
        err = set_path(e, fyd, root, path, value);
        fy_node_free(value);
        if (err) {
            diag_error(diag, &(struct loc) { who, 0, 0 }, "%s", err);
            fy_document_destroy(fyd);
            error = EINVAL;
            goto out;
        }
    }
    error = adopt_document(e, fyd, who, diag);

out:
    free(err);
    free(key);
    free(who);
    return error;
}

/* Dumping. */

static void
format_string(struct buf *b, const char *s)
{
    bool plain = *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              "0123456789_-./[]()") == strlen(s)
                 && !strchr("-[]()", s[0]);

    if (plain) {
        buf_printf(b, "%s", s);
        return;
    }
    buf_put_u8(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            buf_printf(b, "\\%c", *s);
        } else if ((unsigned char) *s < 0x20) {
            buf_printf(b, "\\x%02x", (unsigned char) *s);
        } else {
            buf_put_u8(b, *s);
        }
    }
    buf_put_u8(b, '"');
}

static void
format_kv(struct buf *b, const struct exp_kv *kv, size_t n)
{
    buf_printf(b, "{");
    for (size_t i = 0; i < n; i++) {
        buf_printf(b, "%s", i ? ", " : "");
        format_string(b, kv[i].key);
        buf_printf(b, ": ");
        format_string(b, kv[i].value);
    }
    buf_printf(b, "}");
}

static void
format_point(struct buf *b, const struct exp_point *pt)
{
    const struct exp_workload *wl = &pt->workload;

    buf_printf(b, "  - point: %zu\n    label: ", pt->index + 1);
    format_string(b, pt->label);
    buf_printf(b, "\n    axes: ");
    format_kv(b, pt->axes, pt->n_axes);
    buf_printf(b, "\n    provider: %s\n    scheme: %s\n    params: ", pt->provider, pt->scheme);
    format_kv(b, pt->params, pt->n_params);
    buf_printf(b, "\n    resources: {cpus: ");
    yaml_format_number(b, pt->cpus);
    /* The default period left out, as the runs before it had it. */
    if (pt->cpu_period_us != EXP_DEFAULT_PERIOD_US) {
        buf_printf(b, ", period: ");
        yaml_format_duration(b, pt->cpu_period_us * 1000);
    }
    if (pt->vnf_cpus > 0 || pt->vnf_cpu_period_us) {
        buf_printf(b, ", vnf: {");
        if (pt->vnf_cpus > 0) {
            buf_printf(b, "cpus: ");
            yaml_format_number(b, pt->vnf_cpus);
        }
        if (pt->vnf_cpu_period_us) {
            buf_printf(b, "%speriod: ", pt->vnf_cpus > 0 ? ", " : "");
            yaml_format_duration(b, pt->vnf_cpu_period_us * 1000);
        }
        buf_printf(b, "}");
    }
    buf_printf(b, ", memory: ");
    yaml_format_size(b, pt->memory);
    buf_printf(b, "}\n    chain:\n");
    for (size_t i = 0; i < pt->n_vnfs; i++) {
        buf_printf(b, "      - {fn: %s, params: ", pt->vnfs[i].fn);
        format_kv(b, pt->vnfs[i].params, pt->vnfs[i].n_params);
        if (pt->vnfs[i].n_resiliency) {
            buf_printf(b, ", resiliency: ");
            format_kv(b, pt->vnfs[i].resiliency, pt->vnfs[i].n_resiliency);
        }
        buf_printf(b, "}\n");
    }
    buf_printf(b, "    rules: [");
    for (size_t i = 0; i < pt->n_rules; i++) {
        buf_printf(b, "%s", i ? ", " : "");
        format_string(b, pt->rules[i]);
    }
    buf_printf(b, "]\n    workload: {kind: %s, count: %llu, size: ", wl->kind_name,
               (unsigned long long) wl->count);
    yaml_format_size(b, wl->size);
    buf_printf(b, ", rate: %llu, duration: ", (unsigned long long) wl->rate);
    yaml_format_duration(b, wl->duration_ns);
    buf_printf(b, ", timeout: ");
    yaml_format_duration(b, wl->timeout_ns);
    if (wl->kind == EXP_WL_PROBE) {
        buf_printf(b, ", interval: ");
        yaml_format_duration(b, wl->interval_ns);
    }
    if (wl->source_port) {
        buf_printf(b, ", source_port: %llu", (unsigned long long) wl->source_port);
    }
    if (wl->capacity) {
        buf_printf(b, ", capacity: %g%%, window: ", wl->capacity_loss * 100);
        yaml_format_duration(b, wl->window_ns ? wl->window_ns : 2000000000ull);
    }
    buf_printf(b, "}\n    faults:%s\n", pt->n_faults ? "" : " []");
    for (size_t i = 0; i < pt->n_faults; i++) {
        const struct exp_fault *f = &pt->faults[i];

        buf_printf(b, "      - {kind: %s, target: ", f->kind);
        format_string(b, f->target);
        buf_printf(b, ", mode: %s, at: ", f->mode);
        yaml_format_duration(b, f->at_ns);
        buf_printf(b, ", every: ");
        yaml_format_duration(b, f->every_ns);
        buf_printf(b, ", mtbf: ");
        yaml_format_duration(b, f->mtbf_ns);
        buf_printf(b, ", count: %llu, heal_after: ", (unsigned long long) f->count);
        yaml_format_duration(b, f->heal_after_ns);
        buf_printf(b, ", fraction: ");
        yaml_format_number(b, f->fraction);
        buf_printf(b, "}\n");
    }
    if (!impair_is_zero(&pt->network)) {
        struct buf net = BUF_INITIALIZER;
        impair_format_flow(&pt->network, &net);
        buf_printf(b, "    network: {%.*s}\n", (int) net.len - 2, (char *) net.data + 2);
        buf_uninit(&net);
    }
    buf_printf(b, "    warmup: %llu\n    repetitions: %llu\n    seed: %llu\n",
               (unsigned long long) pt->warmup, (unsigned long long) pt->repetitions,
               (unsigned long long) pt->seed);
}

void
experiment_format_points(const struct experiment *e, const struct exp_point *pts, size_t n,
                         struct buf *b)
{
    buf_printf(b, "experiment: %s\n", e->name);
    if (e->title) {
        buf_printf(b, "title: ");
        format_string(b, e->title);
        buf_printf(b, "\n");
    }
    if (e->reproduces) {
        buf_printf(b, "reproduces: ");
        format_string(b, e->reproduces);
        buf_printf(b, "\n");
    }
    buf_printf(b, "points:\n");
    for (size_t i = 0; i < n; i++) {
        format_point(b, &pts[i]);
    }
    buf_printf(b, "plots:%s\n", e->n_plots ? "" : " []");
    for (size_t i = 0; i < e->n_plots; i++) {
        const struct exp_plot *p = &e->plots[i];

        buf_printf(b, "  - {kind: %s", p->kind);
        if (p->x) {
            buf_printf(b, ", x: ");
            format_string(b, p->x);
        }
        buf_printf(b, ", y: ");
        format_string(b, p->y);
        if (p->title) {
            buf_printf(b, ", title: ");
            format_string(b, p->title);
        }
        buf_printf(b, "}\n");
    }
    buf_printf(b, "reference:%s\n", e->n_refs ? "" : " []");
    for (size_t i = 0; i < e->n_refs; i++) {
        const struct exp_reference *r = &e->refs[i];

        buf_printf(b, "  - {label: ");
        format_string(b, r->label);
        buf_printf(b, ", metric: ");
        format_string(b, r->metric);
        buf_printf(b, ", value: ");
        yaml_format_number(b, r->value);
        buf_printf(b, ", unit: ");
        format_string(b, r->unit);
        if (r->source) {
            buf_printf(b, ", source: ");
            format_string(b, r->source);
        }
        if (r->derived) {
            buf_printf(b, ", derived: ");
            format_string(b, r->derived);
        }
        if (r->scheme) {
            buf_printf(b, ", scheme: ");
            format_string(b, r->scheme);
        }
        if (r->n_labels) {
            buf_printf(b, ", labels: ");
            format_kv(b, r->labels, r->n_labels);
        }
        if (r->n_where) {
            buf_printf(b, ", where: ");
            format_kv(b, r->where, r->n_where);
        }
        if (r->ratio_to) {
            buf_printf(b, ", ratio_to: ");
            format_string(b, r->ratio_to);
        }
        if (r->n_why == 1 && !strcmp(r->why[0].key, "*")) {
            buf_printf(b, ", why: ");
            format_string(b, r->why[0].value);
        } else if (r->n_why) {
            buf_printf(b, ", why: ");
            format_kv(b, r->why, r->n_why);
        }
        buf_printf(b, "}\n");
    }
}
