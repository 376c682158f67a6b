/* path — the SFF's table of service paths: for each SPI, the ordered MAC addresses of the
 * service functions (VNFs) the path visits, and the forwarding decision for an (SPI, SI).
 * A hop may be a replicated group (N-modular redundancy): every replica gets a copy, and the
 * SFF votes on what the replicas send back (see sff.c); path_find_replica() says which hop and
 * replica a returning frame's source MAC belongs to.
 *
 * A path of n hops starts at SI 255: SI 255 - k (k < n) goes to hop k; SI 255 - n means every
 * function has run and the SFF decapsulates; a lower SI is an error. A reverse-path SPI
 * (NSH_SPI_REVERSE set, see nsh.h) without a path of its own is an empty path: decapsulate at
 * once. Text form (the sff's --path): "SPI:MAC1,MAC2,..." (no MACs: "SPI:"), a replicated hop
 * written "MACa+MACb+MACc". Main types: struct path, struct path_table. */
#ifndef SFC_PATH_H
#define SFC_PATH_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PATH_MAX_HOPS 64
#define PATH_MAX_REPLICAS 17        /* 2f+1 with f up to 8. */

struct path {
    uint32_t spi;
    size_t n_hops;
    uint8_t hops[PATH_MAX_HOPS][6];                     /* The first replica of each hop. */
    uint8_t n_replicas[PATH_MAX_HOPS];                  /* 1 for a hop that is not replicated. */
    uint8_t replicas[PATH_MAX_HOPS][PATH_MAX_REPLICAS][6];
};

struct path_table {
    struct path *paths;
    size_t n;
};

enum path_action {
    PATH_FORWARD,                   /* Send to '*next_mac'. */
    PATH_END,                       /* Decapsulate toward the inner destination. */
    PATH_UNKNOWN_SPI,
    PATH_BAD_SI,
};

/* Returns 0, or EINVAL with a malloc'd message in '*errp'. */
int path_parse(const char *, struct path *, char **errp);
/* A group of replicas written "MACa+MACb+MACc" (FIT-SFC's --sff-mac, --entry, --from):
 * up to 'max' MACs into 'macs', their number in '*np'. Returns 0, or EINVAL with a malloc'd
 * message in '*errp'. */
int path_parse_group(const char *, uint8_t macs[][6], size_t max, size_t *np, char **errp);
/* The index of 'mac' in a group, or -1. */
int path_group_find(const uint8_t macs[][6], size_t n, const uint8_t mac[6]);
/* Adds a copy of 'path'. Returns 0 or EEXIST if its SPI is there already. */
int path_table_add(struct path_table *, const struct path *);
void path_table_destroy(struct path_table *);
const struct path *path_table_find(const struct path_table *, uint32_t spi);

enum path_action path_lookup(const struct path_table *, uint32_t spi, uint8_t si,
                             const uint8_t **next_mac);
/* The same, giving the whole group of the next hop ('*pathp', '*hopp' set on PATH_FORWARD). */
enum path_action path_lookup_hop(const struct path_table *, uint32_t spi, uint8_t si,
                                 const struct path **pathp, size_t *hopp);
/* The forward path, hop and replica whose replica has 'mac'; false if none has. */
bool path_find_replica(const struct path_table *, const uint8_t mac[6],
                       const struct path **pathp, size_t *hopp, size_t *replicap);

#endif
