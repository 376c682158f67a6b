#include "vnfs/fn/nf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf-provider.h"

static const struct nf_class *const nf_classes[] = {
    &nf_dns_class,
    &nf_auth_class,
    &nf_lb_class,
    &nf_nat_class,
    &nf_simplenat_class,
    &nf_mazunat_class,
    &nf_monitor_class,
    &nf_firewall_class,
    &nf_gen_class,
    &nf_fwd_class,
};

const struct nf_class *
nf_class_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(nf_classes); i++) {
        if (!strcmp(nf_classes[i]->name, name)) {
            return nf_classes[i];
        }
    }
    return NULL;
}

const char *
nf_class_names(void)
{
    return "dns, auth, lb, nat, simplenat, mazunat, monitor, firewall, gen, fwd";
}

const char *
nf_verdict_name(enum nf_verdict v)
{
    switch (v) {
    case NF_FORWARD: return "forward";
    case NF_REPLY: return "reply";
    case NF_DROP: return "drop";
    }
    return "?";
}

enum nf_verdict
nf_process(struct nf *nf, struct nf_packet *pkt)
{
    enum nf_verdict v = nf->class->process(nf, pkt);

    nf->n_in++;
    switch (v) {
    case NF_FORWARD: nf->n_forward++; break;
    case NF_REPLY: nf->n_reply++; break;
    case NF_DROP: nf->n_drop++; break;
    }
    return v;
}

int
nf_create(const char *name, const struct nf_param *params, size_t n_params, struct nf **nfp,
          char **errp)
{
    const struct nf_class *class = nf_class_find(name);

    *errp = NULL;
    if (!class) {
        *errp = xasprintf("unknown network function '%s' (expected one of: %s)",
                          name, nf_class_names());
        return ENOENT;
    }
    int error = class->create(params, n_params, nfp, errp);
    if (error && !*errp) {
        *errp = xasprintf("%s: %s", name, strerror(error));
    }
    return error;
}

void
nf_destroy(struct nf *nf)
{
    if (nf) {
        nf->class->destroy(nf);
    }
}

bool
nf_param_parse(char *arg, struct nf_param *p)
{
    char *eq = strchr(arg, '=');

    if (!eq || eq == arg) {
        return false;
    }
    *eq = '\0';
    p->key = arg;
    p->value = eq + 1;
    return true;
}

struct nf *
nf_alloc(const struct nf_class *class, void *priv)
{
    struct nf *nf = xzalloc(sizeof *nf);

    nf->class = class;
    nf->state = state_create();
    nf->priv = priv;
    nf_det_init(&nf->det, 0);
    return nf;
}

void
nf_free(struct nf *nf)
{
    state_destroy(nf->state);
    nf_det_uninit(&nf->det);
    free(nf);
}

int
nf_params_check(const struct nf_param *params, size_t n, const char *const known[], char **errp)
{
    for (size_t i = 0; i < n; i++) {
        bool ok = false;
        for (size_t j = 0; known[j]; j++) {
            ok = ok || !strcmp(params[i].key, known[j]);
        }
        if (!ok) {
            struct buf b = BUF_INITIALIZER;
            for (size_t j = 0; known[j]; j++) {
                buf_printf(&b, "%s%s", j ? ", " : "", known[j]);
            }
            buf_put_u8(&b, 0);
            *errp = xasprintf("unknown parameter '%s' (expected one of: %s)",
                              params[i].key, b.len > 1 ? (char *) b.data : "none");
            buf_uninit(&b);
            return EINVAL;
        }
    }
    return 0;
}

const char *
nf_param_find(const struct nf_param *params, size_t n, const char *key)
{
    const char *value = NULL;

    for (size_t i = 0; i < n; i++) {
        if (!strcmp(params[i].key, key)) {
            value = params[i].value;
        }
    }
    return value;
}

int
nf_param_uint(const struct nf_param *params, size_t n, const char *key, uint64_t min,
              uint64_t max, uint64_t *valuep, char **errp)
{
    const char *s = nf_param_find(params, n, key);
    char *end;

    if (!s) {
        return 0;
    }
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-' || v < min || v > max) {
        *errp = xasprintf("%s: '%s' is not an integer in [%" PRIu64 ", %" PRIu64 "]",
                          key, s, min, max);
        return EINVAL;
    }
    *valuep = v;
    return 0;
}

int
nf_param_size(const struct nf_param *params, size_t n, const char *key, uint64_t max,
              uint64_t *valuep, char **errp)
{
    const char *s = nf_param_find(params, n, key);
    uint64_t v;

    if (!s) {
        return 0;
    }
    if (!parse_size(s, &v) || v > max) {
        *errp = xasprintf("%s: '%s' is not a size of at most %" PRIu64 " bytes", key, s, max);
        return EINVAL;
    }
    *valuep = v;
    return 0;
}

const char *
nf_consistency_name(enum nf_consistency c)
{
    switch (c) {
    case NF_STATELESS:
        return "stateless";
    case NF_PER_FLOW:
        return "per-flow";
    case NF_GLOBAL:
        return "global";
    }
    return "?";
}
