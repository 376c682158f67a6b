/* scenario — a scheme's simulation: endpoints, workload, fault schedule and invariants, built
 * from one seed, and the table of all of them (tests/sim/scenarios.c).
 *
 * A scenario's setup() draws everything it chooses (sizes, f, which replicas fail and how, the
 * network's parameters, the requests) from sim_rng(), never from anywhere else, so the seed
 * alone replays it. Its check() reads only sim_history() and sim_stats() and explains a failure
 * in 'why'. A scenario may offer a deliberately broken variant (--broken) that its invariants
 * must catch: proof that the checks can fail.
 *
 * Main types: struct sim_scenario, struct sim_batch. */
#ifndef SFC_SIM_SCENARIO_H
#define SFC_SIM_SCENARIO_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/sim/byzantine.h"
#include "tests/sim/sim.h"
#include "vnfs/lib/buf.h"

/* Where `make` puts the optimised simulator: what replay lines name. */
#define SIM_PROGRAM "build/sim/sim"

struct sim_scenario {
    const char *name;
    const char *summary;
    const char *broken;         /* What --broken changes, or NULL if there is no such variant. */
    /* Builds the run; returns the virtual time to stop at. */
    uint64_t (*setup)(struct sim *, bool broken);
    bool (*check)(const struct sim *, struct buf *why);
    uint64_t check_seeds;       /* Seeds `make check` runs (0: test_sim's default). */
};

extern const struct sim_scenario *const sim_scenarios[];
extern const size_t sim_n_scenarios;
const struct sim_scenario *sim_scenario_find(const char *name);

/* Runs one seed. True if every invariant held; otherwise 'why' says what broke. 'trace' (may be
 * NULL) receives the run's trace; 'stats' (may be NULL) its counters. */
bool sim_scenario_run(const struct sim_scenario *, uint64_t seed, bool broken,
                      struct buf *trace, struct sim_stats *stats, struct buf *why);

struct sim_batch {
    uint64_t seeds_run;
    uint64_t messages;          /* Simulated packets delivered, over all seeds. */
    bool failed;
    uint64_t failed_seed;
    struct buf why;             /* Of the failed seed. */
};

/* Runs seeds first, first+1, ... first+n-1, stopping at the first failure. */
void sim_scenario_run_seeds(const struct sim_scenario *, uint64_t first, uint64_t n,
                            bool broken, struct sim_batch *);
void sim_batch_uninit(struct sim_batch *);
/* Appends "replay: <program> --scenario X --seed S [--broken] --trace /tmp/sim-X-S.trace". */
void sim_replay_command(struct buf *, const char *program, const struct sim_scenario *,
                        uint64_t seed, bool broken);

/* What scenarios draw alike, from sim_rng() in a fixed order (a seed must keep replaying the
 * same run): 'n' requests from 'client', each a body of 1..max_len (at most SIM_SCENARIO_BODY_MAX)
 * random bytes, sent after a random gap in [0, gap_below_ns) from the one before. Returns
 * when the last one is sent. */
#define SIM_SCENARIO_BODY_MAX 64
uint64_t sim_scenario_requests(struct sim *, uint32_t client, size_t n, size_t max_len,
                           uint64_t gap_below_ns);
/* Shuffles 'ids' (Fisher-Yates): the first k are then k distinct ones, e.g. those to fail. */
void sim_scenario_shuffle(struct sim *, uint32_t *ids, size_t n);
/* Sets 'order' to 0..n-1 shuffled (sim_scenario_shuffle): the first k are k distinct indexes. */
void sim_scenario_order(struct sim *, uint32_t *order, size_t n);
/* Adds 'n' endpoints named PREFIX0 .. PREFIX<n-1>, in that order, their ids into 'ids'. */
void sim_scenario_add_endpoints(struct sim *, const char *prefix, uint32_t *ids, size_t n);
/* Forwards to 'to' a copy of 'data' with its last byte flipped: what a checker at the end of a
 * chain sends when it found a fault, so that the client's check of the reply catches it. */
void sim_scenario_forward_spoiled(struct ft_actions *, uint32_t to, const uint8_t *data,
                                  size_t len);

/* The scenarios (one file each). */
extern const struct sim_scenario sim_scenario_none;
extern const struct sim_scenario sim_scenario_voter;
extern const struct sim_scenario sim_scenario_sequencer;
extern const struct sim_scenario sim_scenario_nham;
extern const struct sim_scenario sim_scenario_nham_gbn;
extern const struct sim_scenario sim_scenario_nham_take;
extern const struct sim_scenario sim_scenario_fitsfc_f1;
extern const struct sim_scenario sim_scenario_fitsfc_f2;
extern const struct sim_scenario sim_scenario_pbft_f1;
extern const struct sim_scenario sim_scenario_pbft_f2;
extern const struct sim_scenario sim_scenario_pbft_recover_f1;
extern const struct sim_scenario sim_scenario_pbft_recover_f2;
extern const struct sim_scenario sim_scenario_ftc;
extern const struct sim_scenario sim_scenario_ftc_idle;
extern const struct sim_scenario sim_scenario_ftvnf;

/* NHAM's end-of-chain checker (scenario_nham.c): next = [client], parameter 'vnfs'; it
 * spoils the reply of a packet whose per-VNF stamps disagree with its counter id. And the
 * invariants of every NHAM scenario: replies valid, none twice, none lost. */
extern const struct ft_core_class sim_nham_check_class;
bool sim_nham_check(const struct sim *, struct buf *why);

/* The test-only broken cores (tests/sim/broken_*.c). */
extern const struct ft_core_class ft_voter_broken_class;
extern const struct ft_core_class ft_sequencer_broken_class;
extern const struct ft_core_class ft_seq_replica_broken_class;
extern const struct ft_core_class ft_nham_sff_broken_class;
extern const struct ft_core_class ft_bft_voter_broken_class;
extern const struct ft_core_class ft_pbft_broken_class;
extern const struct ft_core_class ft_ftc_buffer_broken_class;
/* Registers them, so scenarios find them by name. */
void sim_register_broken_cores(void);

#endif
