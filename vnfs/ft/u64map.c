#include "vnfs/ft/u64map.h"

#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/util.h"
#include "vnfs/ft/rng.h"

static inline size_t
u64map_hash(uint64_t key)
{
    uint64_t k = key;
    return (size_t) ft_splitmix64(&k);
}

void
u64map_init(struct u64map *m)
{
    memset(m, 0, sizeof *m);
}

void
u64map_destroy(struct u64map *m)
{
    free(m->slots);
    free(m->used);
    u64map_init(m);
}

void
u64map_clear(struct u64map *m)
{
    if (m->used) {
        memset(m->used, 0, m->mask + 1);
    }
    m->n = 0;
}

static void
u64map_grow(struct u64map *m)
{
    struct u64map old = *m;
    size_t cap = old.slots ? (old.mask + 1) * 2 : 16;

    m->slots = xmalloc(cap * sizeof *m->slots);
    m->used = xzalloc(cap);
    m->mask = cap - 1;
    m->n = 0;
    for (size_t i = 0; old.slots && i <= old.mask; i++) {
        if (old.used[i]) {
            u64map_put(m, old.slots[i].key, old.slots[i].value);
        }
    }
    free(old.slots);
    free(old.used);
}

void
u64map_put(struct u64map *m, uint64_t key, uint64_t value)
{
    size_t i;

    /* Load factor at most 1/2 keeps probe sequences short. */
    if (!m->slots || (m->n + 1) * 2 > m->mask + 1) {
        u64map_grow(m);
    }
    for (i = u64map_hash(key) & m->mask; m->used[i]; i = (i + 1) & m->mask) {
        if (m->slots[i].key == key) {
            m->slots[i].value = value;
            return;
        }
    }
    m->used[i] = 1;
    m->slots[i].key = key;
    m->slots[i].value = value;
    m->n++;
}

static bool
u64map_find(const struct u64map *m, uint64_t key, size_t *posp)
{
    if (!m->slots) {
        return false;
    }
    for (size_t i = u64map_hash(key) & m->mask; m->used[i]; i = (i + 1) & m->mask) {
        if (m->slots[i].key == key) {
            *posp = i;
            return true;
        }
    }
    return false;
}

bool
u64map_get(const struct u64map *m, uint64_t key, uint64_t *value)
{
    size_t i;

    if (!u64map_find(m, key, &i)) {
        return false;
    }
    if (value) {
        *value = m->slots[i].value;
    }
    return true;
}

bool
u64map_remove(struct u64map *m, uint64_t key, uint64_t *value)
{
    size_t i, j;

    if (!u64map_find(m, key, &i)) {
        return false;
    }
    if (value) {
        *value = m->slots[i].value;
    }
    /* Backward shift: pull later members of the probe run into the hole when their home slot
     * does not lie cyclically in (hole, their position]. */
    for (j = (i + 1) & m->mask; m->used[j]; j = (j + 1) & m->mask) {
        size_t home = u64map_hash(m->slots[j].key) & m->mask;
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!stays) {
            m->slots[i] = m->slots[j];
            i = j;
        }
    }
    m->used[i] = 0;
    m->n--;
    return true;
}

bool
u64map_next(const struct u64map *m, size_t *pos, const struct u64map_slot **slotp)
{
    for (size_t i = *pos; m->slots && i <= m->mask; i++) {
        if (m->used[i]) {
            *slotp = &m->slots[i];
            *pos = i + 1;
            return true;
        }
    }
    return false;
}
