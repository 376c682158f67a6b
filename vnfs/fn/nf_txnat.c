/* simplenat, mazunat — the FTC paper's SimpleNAT and MazuNAT (vnfs/fn/txnat.h) as network
 * functions on their own store: what schemes without packet transactions run (none is the
 * paper's NF, ftmb logs what they write). Under FTC the same code runs as a transaction of the
 * head's threads (vnfs/ft/ftc/mbox.c), so both translate a flow to the same port. Their
 * shared records (SimpleNAT's cursor, MazuNAT's table size) are read and written in the store
 * like the mappings: one order for all packets (NF_GLOBAL). */
#include <errno.h>
#include <stdlib.h>

#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf-provider.h"
#include "vnfs/fn/txnat.h"

static bool
nf_txnat_get(void *aux, const void *key, size_t key_len, bool for_write,
             const uint8_t **valuep, size_t *value_lenp)
{
    struct nf *nf = aux;

    return state_get(nf->state, key, key_len, valuep, value_lenp);
}

static int
nf_txnat_put(void *aux, const void *key, size_t key_len, const void *value, size_t value_len)
{
    struct nf *nf = aux;

    return state_put(nf->state, key, key_len, value, value_len);
}

static int
nf_txnat_create(const struct nf_class *class, enum txnat_kind kind,
                const struct nf_param *params, size_t n, struct nf **nfp, char **errp)
{
    struct txnat_conf *c = xmalloc(sizeof *c);
    int error = txnat_conf_parse(kind, params, n, c, errp);

    if (error) {
        free(c);
        return error;
    }
    *nfp = nf_alloc(class, c);
    return 0;
}

static int
simplenat_create(const struct nf_param *params, size_t n, struct nf **nfp, char **errp)
{
    return nf_txnat_create(&nf_simplenat_class, TXNAT_SIMPLE, params, n, nfp, errp);
}

static int
mazunat_create(const struct nf_param *params, size_t n, struct nf **nfp, char **errp)
{
    return nf_txnat_create(&nf_mazunat_class, TXNAT_MAZU, params, n, nfp, errp);
}

static void
nf_txnat_destroy(struct nf *nf)
{
    free(nf->priv);
    nf_free(nf);
}

static enum nf_verdict
nf_txnat_process(struct nf *nf, struct nf_packet *pkt)
{
    const struct txnat_store s = { nf_txnat_get, nf_txnat_put, nf };

    return txnat_process(nf->priv, &s, pkt->data, pkt->len);
}

const struct nf_class nf_simplenat_class = {
    .name = "simplenat",
    .consistency = NF_GLOBAL,
    .create = simplenat_create,
    .destroy = nf_txnat_destroy,
    .process = nf_txnat_process,
};

const struct nf_class nf_mazunat_class = {
    .name = "mazunat",
    .consistency = NF_GLOBAL,
    .create = mazunat_create,
    .destroy = nf_txnat_destroy,
    .process = nf_txnat_process,
};
