/* byzantine — strategies that drive a Byzantine endpoint of the simulator.
 *
 * A strategy sees every message its endpoint would send (after the core or service produced
 * it) and decides what really goes on the wire through sim_net_send(): nothing (silent), a
 * corrupted copy (corrupt), a different lie per destination (equivocate), the message plus old
 * ones sent again (replay), or copies claiming another endpoint's identity (forge). Its choices
 * come from its own seeded generator; it never looks at the clock. Lies are consistent for a
 * given (destination, message): a retransmitted or duplicated lie says the same thing, which is
 * what a voter that counts a sender twice must be caught by.
 *
 * Main types: struct sim_byzantine (a strategy), struct sim_byz_state (per endpoint). */
#ifndef SFC_SIM_BYZANTINE_H
#define SFC_SIM_BYZANTINE_H 1

#include <stddef.h>
#include <stdint.h>

#include "vnfs/ft/core.h"
#include "vnfs/ft/rng.h"

struct sim;

#define SIM_BYZ_RING 16

struct sim_byz_msg {
    uint32_t dst;
    enum ft_event_kind kind;
    uint8_t *data;
    size_t len;
};

struct sim_byz_state {
    struct ft_rng rng;
    uint32_t forge_as;                  /* Whose identity 'forge' claims. */
    uint64_t n_sent;
    struct sim_byz_msg ring[SIM_BYZ_RING];  /* Last messages sent, for 'replay'. */
    size_t ring_n;
};

struct sim_byzantine {
    const char *name;
    const char *summary;
    void (*on_send)(struct sim *, uint32_t self, struct sim_byz_state *, uint32_t dst,
                    enum ft_event_kind, const uint8_t *, size_t);
};

extern const struct sim_byzantine sim_byz_silent;
extern const struct sim_byzantine sim_byz_corrupt;
extern const struct sim_byzantine sim_byz_equivocate;
extern const struct sim_byzantine sim_byz_replay;
extern const struct sim_byzantine sim_byz_forge;
/* Figure 2 of FIT-SFC: even destinations hear the truth, odd ones one and the same lie. Not in
 * sim_byzantine_pick()'s table (that would change every existing seed): scenarios name it. */
extern const struct sim_byzantine sim_byz_split;
/* Liars of one stage that agree on their lie, to test quorums against f identical lies. Not in
 * the table either, for the same reason. */
extern const struct sim_byzantine sim_byz_collude;

const struct sim_byzantine *sim_byzantine_find(const char *name);
/* One of the strategies, uniformly. */
const struct sim_byzantine *sim_byzantine_pick(struct ft_rng *);
void sim_byz_state_init(struct sim_byz_state *, uint64_t seed, uint32_t forge_as);
void sim_byz_state_uninit(struct sim_byz_state *);

#endif
