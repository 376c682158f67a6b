#include "tests/sim/byzantine.h"

#include <stdlib.h>
#include <string.h>

#include "tests/sim/sim.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/demo/demo.h"

void
sim_byz_state_init(struct sim_byz_state *st, uint64_t seed, uint32_t forge_as)
{
    memset(st, 0, sizeof *st);
    ft_rng_init(&st->rng, seed);
    st->forge_as = forge_as;
}

void
sim_byz_state_uninit(struct sim_byz_state *st)
{
    for (size_t i = 0; i < st->ring_n; i++) {
        free(st->ring[i].data);
    }
    st->ring_n = 0;
}

/* Flips one byte chosen from (salt, content), so the same message to the same place always
 * carries the same lie. */
static void
byz_lie(uint8_t *data, size_t len, uint64_t salt)
{
    uint64_t h;

    if (!len) {
        return;
    }
    h = ft_hash_bytes(data, len, salt);
    data[h % len] ^= (uint8_t) (1 + (h >> 32) % 255);
}

static void
byz_send_lie(struct sim *sim, uint32_t self, uint32_t claimed, uint32_t dst,
             enum ft_event_kind kind, const uint8_t *data, size_t len, uint64_t salt)
{
    uint8_t *copy = xmalloc(len ? len : 1);

    memcpy(copy, data, len);
    byz_lie(copy, len, salt);
    sim_net_send(sim, self, claimed, dst, kind, copy, len);
    free(copy);
}

static void
byz_silent(struct sim *sim, uint32_t self, struct sim_byz_state *st, uint32_t dst,
           enum ft_event_kind kind, const uint8_t *data, size_t len)
{
    st->n_sent++;
    sim_trace(sim, self, "byzantine silent: withholds %s to %s", ft_event_kind_name(kind),
              sim_endpoint_name(sim, dst));
}

static void
byz_corrupt(struct sim *sim, uint32_t self, struct sim_byz_state *st, uint32_t dst,
            enum ft_event_kind kind, const uint8_t *data, size_t len)
{
    st->n_sent++;
    sim_trace(sim, self, "byzantine corrupt: lies to %s", sim_endpoint_name(sim, dst));
    byz_send_lie(sim, self, self, dst, kind, data, len, 0x6c6965);
}

static void
byz_equivocate(struct sim *sim, uint32_t self, struct sim_byz_state *st, uint32_t dst,
               enum ft_event_kind kind, const uint8_t *data, size_t len)
{
    st->n_sent++;
    /* Even destinations hear the truth, odd ones a lie that depends on who they are. */
    if (dst % 2 == 0 && ft_rng_chance(&st->rng, 0.5)) {
        sim_net_send(sim, self, self, dst, kind, data, len);
    } else {
        sim_trace(sim, self, "byzantine equivocate: tells %s its own story",
                  sim_endpoint_name(sim, dst));
        byz_send_lie(sim, self, self, dst, kind, data, len, 0x6571 + dst);
    }
}

static void
byz_replay(struct sim *sim, uint32_t self, struct sim_byz_state *st, uint32_t dst,
           enum ft_event_kind kind, const uint8_t *data, size_t len)
{
    struct sim_byz_msg *slot;

    st->n_sent++;
    sim_net_send(sim, self, self, dst, kind, data, len);
    if (st->ring_n && ft_rng_chance(&st->rng, 0.5)) {
        const struct sim_byz_msg *old = &st->ring[ft_rng_below(&st->rng, st->ring_n)];
        sim_trace(sim, self, "byzantine replay: old %s to %s", ft_event_kind_name(old->kind),
                  sim_endpoint_name(sim, old->dst));
        sim_net_send(sim, self, self, old->dst, old->kind, old->data, old->len);
    }
    if (st->ring_n < SIM_BYZ_RING) {
        slot = &st->ring[st->ring_n++];
    } else {
        slot = &st->ring[ft_rng_below(&st->rng, SIM_BYZ_RING)];
        free(slot->data);
    }
    slot->dst = dst;
    slot->kind = kind;
    slot->data = xmalloc(len ? len : 1);
    memcpy(slot->data, data, len);
    slot->len = len;
}

static void
byz_forge(struct sim *sim, uint32_t self, struct sim_byz_state *st, uint32_t dst,
          enum ft_event_kind kind, const uint8_t *data, size_t len)
{
    st->n_sent++;
    byz_send_lie(sim, self, self, dst, kind, data, len, 0x666f);
    if (st->forge_as != self && st->forge_as != FT_ENDPOINT_NONE) {
        sim_trace(sim, self, "byzantine forge: lies to %s as %s", sim_endpoint_name(sim, dst),
                  sim_endpoint_name(sim, st->forge_as));
        byz_send_lie(sim, self, st->forge_as, dst, kind, data, len, 0x666f);
    }
}

const struct sim_byzantine sim_byz_silent = {
    "silent", "sends nothing at all", byz_silent,
};
const struct sim_byzantine sim_byz_corrupt = {
    "corrupt", "flips a byte of every message, consistently", byz_corrupt,
};
const struct sim_byzantine sim_byz_equivocate = {
    "equivocate", "tells different destinations different things", byz_equivocate,
};
const struct sim_byzantine sim_byz_replay = {
    "replay", "sends every message, and old ones again", byz_replay,
};
const struct sim_byzantine sim_byz_forge = {
    "forge", "lies, and lies again under another endpoint's identity", byz_forge,
};

/* The same lie for every replica that tells it: a body byte flipped, the rest (name, origin)
 * kept, so colluding liars of one stage send identical semantic content. */
static void
byz_send_common_lie(struct sim *sim, uint32_t self, uint32_t dst, enum ft_event_kind kind,
                    const uint8_t *data, size_t len)
{
    uint8_t *copy = xmalloc(len ? len : 1);

    memcpy(copy, data, len);
    if (len) {
        copy[len > DEMO_HDR_LEN ? DEMO_HDR_LEN : 0] ^= 0x5a;
    }
    sim_net_send(sim, self, self, dst, kind, copy, len);
    free(copy);
}

static void
byz_collude(struct sim *sim, uint32_t self, struct sim_byz_state *st, uint32_t dst,
            enum ft_event_kind kind, const uint8_t *data, size_t len)
{
    st->n_sent++;
    sim_trace(sim, self, "byzantine collude: tells %s the agreed lie",
              sim_endpoint_name(sim, dst));
    byz_send_common_lie(sim, self, dst, kind, data, len);
}

const struct sim_byzantine sim_byz_collude = {
    "collude", "every colluder tells everyone the same lie (same name, other content)",
    byz_collude,
};

static void
byz_split(struct sim *sim, uint32_t self, struct sim_byz_state *st, uint32_t dst,
          enum ft_event_kind kind, const uint8_t *data, size_t len)
{
    st->n_sent++;
    if (dst % 2 == 0) {
        sim_net_send(sim, self, self, dst, kind, data, len);
    } else {
        /* Packet #2 of Figure 2: same name (the demo header), other content. */
        sim_trace(sim, self, "byzantine split: tells %s the other story",
                  sim_endpoint_name(sim, dst));
        byz_send_common_lie(sim, self, dst, kind, data, len);
    }
}

const struct sim_byzantine sim_byz_split = {
    "split", "the truth to even destinations, one lie to odd ones (FIT-SFC Figure 2)",
    byz_split,
};

static const struct sim_byzantine *const sim_byzantines[] = {
    &sim_byz_silent, &sim_byz_corrupt, &sim_byz_equivocate, &sim_byz_replay, &sim_byz_forge,
};

const struct sim_byzantine *
sim_byzantine_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(sim_byzantines); i++) {
        if (!strcmp(sim_byzantines[i]->name, name)) {
            return sim_byzantines[i];
        }
    }
    return NULL;
}

const struct sim_byzantine *
sim_byzantine_pick(struct ft_rng *rng)
{
    return sim_byzantines[ft_rng_below(rng, ARRAY_SIZE(sim_byzantines))];
}
