/* demo — the packet layout the demonstration cores (none, voter) and the simulator share.
 *
 * Stands in for what a real chain carries in NSH context headers (DESIGN §4): the client's
 * request id and the client, a per-replica field that differs between correct replicas (so a
 * voter must not digest it), then the semantic content.
 *
 *   0       8        12       16
 *   | req_id | client | origin | body...      (big-endian)
 *
 * Parsing checks lengths only and never allocates; the body points into the caller's bytes.
 * Main type: struct demo_msg. */
#ifndef SFC_FT_DEMO_H
#define SFC_FT_DEMO_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/buf.h"

#define DEMO_HDR_LEN 16
#define DEMO_ORIGIN_OFS 12

struct demo_msg {
    uint64_t req_id;
    uint32_t client;
    uint32_t origin;            /* Per-replica: not part of the semantic content. */
    const uint8_t *body;
    size_t body_len;
};

bool demo_msg_parse(const uint8_t *, size_t, struct demo_msg *);
void demo_msg_put(struct buf *, const struct demo_msg *);
/* Digest of the semantic content (everything but 'origin'): BLAKE2b-128 through libsodium. */
void demo_msg_digest(const uint8_t *, size_t, uint8_t digest[16]);

#endif
