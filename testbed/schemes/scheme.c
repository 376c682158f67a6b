/* The registry of schemes: a new scheme is one file in this folder and one line here. */
#include "testbed/schemes/scheme.h"

#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/model/experiment.h"
#include "testbed/model/yaml.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

extern const struct scheme_class scheme_none, scheme_nmr;
extern const struct scheme_class scheme_fitsfc, scheme_nham, scheme_ftvnf, scheme_ftc;
extern const struct scheme_class scheme_ftmb;

static const struct scheme_class *const schemes[] = {
    &scheme_none,
    &scheme_nmr,
    &scheme_fitsfc,
    &scheme_ftc,
    &scheme_ftmb,
    &scheme_nham,
    &scheme_ftvnf,
};

const struct scheme_class *
scheme_find(const char *name)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(schemes); i++) {
        if (!strcmp(schemes[i]->name, name)) {
            return schemes[i];
        }
    }
    return NULL;
}

size_t
scheme_count(void)
{
    return ARRAY_SIZE(schemes);
}

const struct scheme_class *
scheme_at(size_t i)
{
    return i < ARRAY_SIZE(schemes) ? schemes[i] : NULL;
}

bool
scheme_deployable(const struct scheme_class *c)
{
    return c && c->deploy && c->topology;
}

static const char *
names(bool deployable_only)
{
    static char *cache[2];
    struct buf b = BUF_INITIALIZER;

    if (cache[deployable_only]) {
        return cache[deployable_only];
    }
    for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
        if (!deployable_only || scheme_deployable(schemes[i])) {
            buf_printf(&b, "%s%s", b.len ? ", " : "", schemes[i]->name);
        }
    }
    buf_put_u8(&b, '\0');
    cache[deployable_only] = (char *) buf_steal(&b, NULL);
    return cache[deployable_only];
}

const char *
scheme_names(void)
{
    return names(false);
}

const char *
scheme_deployable_names(void)
{
    return names(true);
}

/* The role of a target pattern: "vnf[N].replica[M]" -> "vnf". */
static size_t
pattern_role(const char *pattern, char role[32])
{
    size_t n = strcspn(pattern, "[(");

    n = MIN(n, 31);
    memcpy(role, pattern, n);
    role[n] = '\0';
    return n;
}

/* Every role named by a scheme's targets, first appearance first. */
static size_t
collect_roles(char roles[][32], size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
        for (size_t j = 0; j < schemes[i]->n_targets; j++) {
            char role[32];
            bool seen = false;

            pattern_role(schemes[i]->targets[j].pattern, role);
            for (size_t k = 0; k < n; k++) {
                seen |= !strcmp(roles[k], role);
            }
            if (!seen && n < max) {
                strcpy(roles[n++], role);
            }
        }
    }
    return n;
}

const char *
scheme_role_names(void)
{
    static char *cache;

    if (!cache) {
        char roles[64][32];
        size_t n = collect_roles(roles, ARRAY_SIZE(roles));
        struct buf b = BUF_INITIALIZER;

        for (size_t i = 0; i < n; i++) {
            buf_printf(&b, "%s%s", i ? ", " : "", roles[i]);
        }
        buf_put_u8(&b, '\0');
        cache = (char *) buf_steal(&b, NULL);
    }
    return cache;
}

bool
scheme_role_known(const char *role)
{
    char roles[64][32];
    size_t n = collect_roles(roles, ARRAY_SIZE(roles));

    for (size_t i = 0; i < n; i++) {
        if (!strcmp(roles[i], role)) {
            return true;
        }
    }
    return false;
}

bool
scheme_chain_has_target(const struct exp_point *p, const char *role, int index)
{
    if (!strcmp(role, "vnf")) {
        return index >= 0 && (!p->vnfs || (size_t) index < p->n_vnfs);
    }
    return index == 0 && (!strcmp(role, "classifier") || !strcmp(role, "sff")
                          || !strcmp(role, "client") || !strcmp(role, "server"));
}

static const struct scheme_param *
param_find_in(const struct scheme_param *table, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(table[i].name, name)) {
            return &table[i];
        }
    }
    return NULL;
}

static const struct scheme_param *
param_find(const struct scheme_class *c, const char *name)
{
    return param_find_in(c->params, c->n_params, name);
}

static void
format_range(struct buf *b, const struct scheme_param *sp)
{
    switch (sp->type) {
    case SCHEME_PARAM_UINT:
        buf_printf(b, "%llu..%llu", (unsigned long long) sp->min, (unsigned long long) sp->max);
        break;
    case SCHEME_PARAM_DURATION:
        yaml_format_duration(b, sp->min);
        buf_printf(b, "..");
        yaml_format_duration(b, sp->max);
        break;
    case SCHEME_PARAM_STRING:
        for (size_t i = 0; sp->choices && sp->choices[i]; i++) {
            buf_printf(b, "%s%s", i ? " / " : "", sp->choices[i]);
        }
        if (!sp->choices) {
            buf_printf(b, "any");
        }
        break;
    }
}

static char *
range_string(const struct scheme_param *sp)
{
    struct buf b = BUF_INITIALIZER;

    format_range(&b, sp);
    buf_put_u8(&b, '\0');
    return (char *) buf_steal(&b, NULL);
}

static void
check_param(const struct scheme_class *c, const struct scheme_param *sp, struct yaml_doc *doc,
            struct fy_node *map)
{
    struct fy_node *node = yaml_map_get(map, sp->name);
    const char *s = NULL;
    uint64_t v = 0;
    bool bad = false;

    if (!node) {
        return;
    }
    switch (sp->type) {
    case SCHEME_PARAM_UINT:
        bad = !yaml_get_uint(doc, map, sp->name, YAML_OPTIONAL, &v)
              && (v < sp->min || v > sp->max);
        break;
    case SCHEME_PARAM_DURATION:
        bad = !yaml_get_duration(doc, map, sp->name, YAML_OPTIONAL, &v)
              && (v < sp->min || v > sp->max);
        break;
    case SCHEME_PARAM_STRING:
        if (!yaml_get_string(doc, map, sp->name, YAML_OPTIONAL, &s) && s && sp->choices) {
            bad = true;
            for (size_t i = 0; sp->choices[i]; i++) {
                bad &= strcmp(sp->choices[i], s) != 0;
            }
        }
        break;
    }
    if (bad) {
        char *range = range_string(sp);
        const char *text = fy_node_get_scalar0(node);
        yaml_error(doc, node, "%s: %s must be %s, not %s", c->name, sp->name, range,
                   text ? text : "that");
        free(range);
    }
}

/* Checks the keys and values of 'map' (a mapping) against 'table'; 'what' names the map in
 * messages ("parameter", "resiliency setting"). */
static void
check_map(const struct scheme_class *c, const struct scheme_param *table, size_t n,
          struct yaml_doc *doc, struct fy_node *map, const char *what)
{
    struct fy_node_pair *pair;
    void *iter = NULL;

    while ((pair = fy_node_mapping_iterate(map, &iter)) != NULL) {
        struct fy_node *key = fy_node_pair_key(pair);
        const char *k = fy_node_get_scalar0(key);
        struct buf expected = BUF_INITIALIZER;

        if (!k || param_find_in(table, n, k)) {
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            buf_printf(&expected, "%s%s", i ? ", " : "", table[i].name);
        }
        buf_put_u8(&expected, '\0');
        if (n) {
            yaml_error(doc, key, "scheme '%s' has no %s '%s' (expected one of: %s)",
                       c->name, what, k, (char *) expected.data);
        } else {
            yaml_error(doc, key, "scheme '%s' takes no %ss (got '%s')", c->name, what, k);
        }
        buf_uninit(&expected);
    }
    for (size_t i = 0; i < n; i++) {
        check_param(c, &table[i], doc, map);
    }
}

/* A VNF descriptor's 'resiliency' map, if it has one. */
static void
check_vnf_resiliency(const struct scheme_class *c, struct yaml_doc *doc, struct fy_node *vnf)
{
    struct fy_node *map = vnf && fy_node_is_mapping(vnf) ? yaml_map_get(vnf, "resiliency")
                                                         : NULL;

    if (!map || !fy_node_is_mapping(map)) {
        return;
    }
    if (!c->n_vnf_params) {
        yaml_error(doc, yaml_map_get_key(vnf, "resiliency"), "scheme '%s' takes no per-VNF "
                   "'resiliency' (a setting of schemes nham and ftc)", c->name);
        return;
    }
    check_map(c, c->vnf_params, c->n_vnf_params, doc, map, "resiliency setting");
}

void
scheme_params_check(const struct scheme_class *c, struct yaml_doc *doc, struct fy_node *root,
                    struct fy_node *params, const struct exp_point *p)
{
    struct fy_node *chain = root && fy_node_is_mapping(root) ? yaml_map_get(root, "chain")
                                                             : NULL;

    if (params && fy_node_is_mapping(params)) {
        if (c->n_params) {
            check_map(c, c->params, c->n_params, doc, params, "parameter");
        } else {
            /* Kept word for word: "takes no parameters (got 'x')". */
            struct fy_node_pair *pair;
            void *iter = NULL;

            while ((pair = fy_node_mapping_iterate(params, &iter)) != NULL) {
                struct fy_node *key = fy_node_pair_key(pair);
                const char *k = fy_node_get_scalar0(key);
                if (k) {
                    yaml_error(doc, key, "scheme '%s' takes no parameters (got '%s')",
                               c->name, k);
                }
            }
        }
    }
    if (chain && fy_node_is_mapping(chain)) {
        struct fy_node *list = yaml_map_get(chain, "vnfs"), *item = NULL;
        void *iter;

        check_vnf_resiliency(c, doc, yaml_map_get(chain, "fill"));
        if (list && fy_node_is_sequence(list)) {
            while ((item = yaml_list_next(list, item, &iter)) != NULL) {
                check_vnf_resiliency(c, doc, item);
            }
        }
    }
    if (c->check) {
        c->check(doc, root, params, p);
    }
}

const char *
scheme_param_value(const struct scheme_class *c, const struct exp_point *p, const char *name)
{
    const struct scheme_param *sp = param_find(c, name);

    for (size_t i = 0; p && i < p->n_params; i++) {
        if (!strcmp(p->params[i].key, name)) {
            return p->params[i].value;
        }
    }
    return sp ? sp->dflt : NULL;
}

const char *
scheme_vnf_param_value(const struct scheme_class *c, const struct exp_point *p, size_t vnf,
                       const char *name)
{
    if (p && vnf < p->n_vnfs) {
        const struct exp_vnf *v = &p->vnfs[vnf];
        for (size_t i = 0; i < v->n_resiliency; i++) {
            if (!strcmp(v->resiliency[i].key, name)) {
                return v->resiliency[i].value;
            }
        }
    }
    return scheme_param_value(c, p, name);
}

uint64_t
scheme_param_uint(const struct scheme_class *c, const struct exp_point *p, const char *name)
{
    const char *s = scheme_param_value(c, p, name);

    return s ? strtoull(s, NULL, 0) : 0;
}

static void
format_class(struct buf *b, const struct scheme_class *c)
{
    buf_printf(b, "%s%s\n  %s\n", c->name, scheme_deployable(c) ? "" : " (not deployable yet)",
               c->summary);
    if (c->guests) {
        buf_printf(b, "  guests: %s\n", c->guests);
    }
    if (c->n_params) {
        buf_printf(b, "  parameters:\n");
    }
    for (size_t i = 0; i < c->n_params; i++) {
        const struct scheme_param *sp = &c->params[i];
        buf_printf(b, "    %-20s %s (default %s; ", sp->name, sp->help, sp->dflt);
        format_range(b, sp);
        buf_printf(b, ")\n");
    }
    if (c->n_vnf_params) {
        buf_printf(b, "  per VNF (chain.vnfs[].resiliency; default: the parameter):\n");
    }
    for (size_t i = 0; i < c->n_vnf_params; i++) {
        const struct scheme_param *sp = &c->vnf_params[i];
        buf_printf(b, "    %-20s %s (", sp->name, sp->help);
        format_range(b, sp);
        buf_printf(b, ")\n");
    }
    buf_printf(b, "  fault targets:\n");
    for (size_t i = 0; i < c->n_targets; i++) {
        buf_printf(b, "    %-24s %s\n", c->targets[i].pattern, c->targets[i].help);
    }
}

void
scheme_format_list(struct buf *b, bool all)
{
    for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
        if (all || scheme_deployable(schemes[i])) {
            format_class(b, schemes[i]);
        }
    }
    if (!all) {
        size_t n = 0;
        for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
            n += !scheme_deployable(schemes[i]);
        }
        if (n) {
            buf_printf(b, "(%zu more known but not deployable yet: --all lists them)\n", n);
        }
    }
}

void
scheme_format_markdown(struct buf *b)
{
    buf_printf(b, "| scheme | what | parameters (default; range) | fault targets |\n"
               "|---|---|---|---|\n");
    size_t n_planned = 0;

    for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
        n_planned += !scheme_deployable(schemes[i]);
    }
    for (int pass = 0; pass < (n_planned ? 2 : 1); pass++) {
        if (pass) {
            buf_printf(b, "\nKnown but not deployable yet (`sfclab run` refuses them with exit 2 "
                       "before anything is created; `sfclab check` validates them):\n\n"
                       "| scheme | what | parameters (default; range) | fault targets |\n"
                       "|---|---|---|---|\n");
        }
        for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
            const struct scheme_class *c = schemes[i];
            if (scheme_deployable(c) == (pass == 1)) {
                continue;
            }
            buf_printf(b, "| `%s` | %s | ", c->name, c->summary);
            for (size_t j = 0; j < c->n_params; j++) {
                buf_printf(b, "%s`%s` (%s; ", j ? ", " : "", c->params[j].name,
                           c->params[j].dflt);
                format_range(b, &c->params[j]);
                buf_printf(b, ")");
            }
            for (size_t j = 0; j < c->n_vnf_params; j++) {
                buf_printf(b, "%s`%s`", j ? ", " : "; per VNF in `resiliency`: ",
                           c->vnf_params[j].name);
            }
            buf_printf(b, "%s | ", c->n_params ? "" : "none");
            for (size_t j = 0; j < c->n_targets; j++) {
                buf_printf(b, "%s`%s`", j ? ", " : "", c->targets[j].pattern);
            }
            buf_printf(b, " |\n");
        }
    }
}
