/* u64map — a hash map from 64-bit keys to 64-bit values, for protocol cores and the simulator
 * (request ids, sequence numbers, timer ids). Open addressing with linear probing and
 * backward-shift deletion, so there are no tombstones and lookups stay short under churn.
 *
 * Iteration order depends only on the sequence of operations, never on addresses, so a core
 * that iterates stays deterministic. Values that are pointers go through uintptr_t.
 *
 * Main type: struct u64map. */
#ifndef SFC_FT_U64MAP_H
#define SFC_FT_U64MAP_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct u64map_slot {
    uint64_t key;
    uint64_t value;
};

struct u64map {
    struct u64map_slot *slots;
    uint8_t *used;
    size_t mask;                /* capacity - 1; capacity is a power of two, or 0. */
    size_t n;
};

void u64map_init(struct u64map *);
void u64map_destroy(struct u64map *);
void u64map_clear(struct u64map *);
/* Inserts or replaces. */
void u64map_put(struct u64map *, uint64_t key, uint64_t value);
/* True and '*value' set (if not NULL) when present. */
bool u64map_get(const struct u64map *, uint64_t key, uint64_t *value);
/* True and '*value' set (if not NULL) when it was present and is now removed. */
bool u64map_remove(struct u64map *, uint64_t key, uint64_t *value);
static inline size_t u64map_count(const struct u64map *m) { return m->n; }
/* Iteration: for (size_t i = 0; u64map_next(m, &i, &slot);) -- no changes while iterating. */
bool u64map_next(const struct u64map *, size_t *pos, const struct u64map_slot **);

#endif
