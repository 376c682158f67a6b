#include "vnfs/sfc/path.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/nsh.h"
#include "vnfs/lib/pktio.h"
#include "vnfs/lib/util.h"

int
path_parse(const char *text, struct path *out, char **errp)
{
    const char *colon = strchr(text, ':');
    char *copy = NULL, *save = NULL, *end;
    struct path p;
    unsigned long spi;
    int error = 0;

    memset(&p, 0, sizeof p);
    spi = colon ? strtoul(text, &end, 0) : 0;
    if (!colon || end != colon || colon == text || spi == 0 || spi > NSH_SPI_MAX) {
        *errp = xasprintf("path '%s': expected SPI:MAC,MAC,... with SPI in 1..%u",
                          text, NSH_SPI_MAX);
        return EINVAL;
    }
    p.spi = spi;
    copy = xstrdup(colon + 1);
    for (char *mac = strtok_r(copy, ",", &save); mac; mac = strtok_r(NULL, ",", &save)) {
        if (p.n_hops >= PATH_MAX_HOPS) {
            *errp = xasprintf("path '%s': more than %d hops", text, PATH_MAX_HOPS);
            error = EINVAL;
            goto out;
        }
        char *save2 = NULL;
        size_t n = 0;

        for (char *r = strtok_r(mac, "+", &save2); r; r = strtok_r(NULL, "+", &save2)) {
            if (n >= PATH_MAX_REPLICAS) {
                *errp = xasprintf("path '%s': more than %d replicas in one hop", text,
                                  PATH_MAX_REPLICAS);
                error = EINVAL;
                goto out;
            }
            if (!pktio_parse_mac(r, p.replicas[p.n_hops][n])) {
                *errp = xasprintf("path '%s': '%s' is not a MAC address", text, r);
                error = EINVAL;
                goto out;
            }
            n++;
        }
        if (!n) {
            *errp = xasprintf("path '%s': an empty hop", text);
            error = EINVAL;
            goto out;
        }
        memcpy(p.hops[p.n_hops], p.replicas[p.n_hops][0], 6);
        p.n_replicas[p.n_hops] = n;
        p.n_hops++;
    }
    *out = p;
out:
    free(copy);
    return error;
}

int
path_parse_group(const char *text, uint8_t macs[][6], size_t max, size_t *np, char **errp)
{
    char *copy = xstrdup(text), *save = NULL;
    size_t n = 0;
    int error = 0;

    for (char *r = strtok_r(copy, "+", &save); r; r = strtok_r(NULL, "+", &save)) {
        if (n >= max) {
            *errp = xasprintf("group '%s': more than %zu replicas", text, max);
            error = EINVAL;
            goto out;
        }
        if (!pktio_parse_mac(r, macs[n])) {
            *errp = xasprintf("group '%s': '%s' is not a MAC address", text, r);
            error = EINVAL;
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            if (!memcmp(macs[i], macs[n], 6)) {
                *errp = xasprintf("group '%s': '%s' is there twice", text, r);
                error = EINVAL;
                goto out;
            }
        }
        n++;
    }
    if (!n) {
        *errp = xasprintf("group '%s': no MAC address", text);
        error = EINVAL;
        goto out;
    }
    *np = n;
out:
    free(copy);
    return error;
}

int
path_group_find(const uint8_t macs[][6], size_t n, const uint8_t mac[6])
{
    for (size_t i = 0; i < n; i++) {
        if (!memcmp(macs[i], mac, 6)) {
            return i;
        }
    }
    return -1;
}

int
path_table_add(struct path_table *t, const struct path *p)
{
    if (path_table_find(t, p->spi)) {
        return EEXIST;
    }
    t->paths = xrealloc(t->paths, (t->n + 1) * sizeof *t->paths);
    t->paths[t->n++] = *p;
    return 0;
}

void
path_table_destroy(struct path_table *t)
{
    free(t->paths);
    t->paths = NULL;
    t->n = 0;
}

const struct path *
path_table_find(const struct path_table *t, uint32_t spi)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->paths[i].spi == spi) {
            return &t->paths[i];
        }
    }
    return NULL;
}

enum path_action
path_lookup_hop(const struct path_table *t, uint32_t spi, uint8_t si, const struct path **pathp,
                size_t *hopp)
{
    const struct path *p = path_table_find(t, spi);
    size_t k = NSH_SI_START - si;

    if (!p) {
        return spi & NSH_SPI_REVERSE && si == NSH_SI_START ? PATH_END : PATH_UNKNOWN_SPI;
    }
    if (k < p->n_hops) {
        *pathp = p;
        *hopp = k;
        return PATH_FORWARD;
    }
    return k == p->n_hops ? PATH_END : PATH_BAD_SI;
}

enum path_action
path_lookup(const struct path_table *t, uint32_t spi, uint8_t si, const uint8_t **next_mac)
{
    const struct path *p;
    size_t k;
    enum path_action a = path_lookup_hop(t, spi, si, &p, &k);

    if (a == PATH_FORWARD) {
        *next_mac = p->hops[k];
    }
    return a;
}

bool
path_find_replica(const struct path_table *t, const uint8_t mac[6], const struct path **pathp,
                  size_t *hopp, size_t *replicap)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct path *p = &t->paths[i];
        for (size_t k = 0; k < p->n_hops; k++) {
            for (size_t r = 0; r < p->n_replicas[k]; r++) {
                if (!memcmp(p->replicas[k][r], mac, 6)) {
                    *pathp = p;
                    *hopp = k;
                    *replicap = r;
                    return true;
                }
            }
        }
    }
    return false;
}
