/* history — what a simulated run recorded, and the invariant checkers that judge it.
 *
 * Jepsen-style: clients record each operation they sent (with the hash of the reply a correct
 * service would give) and every reply they accepted; cores record the sequence of what they
 * delivered (the order their consumer applied). Checkers read only this record, never the
 * simulator's internals, so they can be tested on hand-made histories and reused by every
 * scheme's scenario. Each checker returns true when the invariant holds; otherwise it appends one
 * line saying what broke, with request ids and times, to 'why'.
 *
 * Main types: struct sim_history, struct sim_op, struct sim_accept, struct sim_seq. */
#ifndef SFC_SIM_HISTORY_H
#define SFC_SIM_HISTORY_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/buf.h"

struct sim_op {
    uint64_t req_id;            /* 1-based, equal to its index + 1. */
    uint32_t client;
    bool sent;                  /* False if the client was down at its time. */
    uint64_t sent_ns;
    uint64_t expect_hash;       /* Hash of the reply a correct service gives. */
};

struct sim_accept {
    uint32_t client;
    uint64_t req_id;            /* As carried by the reply: may name no operation at all. */
    uint64_t at_ns;
    uint64_t value_hash;        /* Hash of the reply's semantic content. */
};

/* The order in which one endpoint delivered; endpoints with the same 'group' (> 0) promise to
 * apply the same sequence (replicas of a totally ordered state machine). */
struct sim_seq {
    uint32_t endpoint;
    const char *name;
    uint32_t group;             /* 0: no agreement promised. */
    bool correct;               /* Never crashed nor Byzantine: bound by agreement. */
    uint64_t *items;
    size_t n, cap;
};

/* One voter's decision on one packet (client, req_id) of its stage: the semantic hash of what
 * it delivered. Voters of one stage promise never to decide two values for one packet. */
struct sim_decision {
    uint32_t stage;
    uint32_t endpoint;
    uint32_t client;
    uint64_t req_id;
    uint64_t value_hash;
};

struct sim_history {
    struct sim_op *ops;
    size_t n_ops, cap_ops;
    struct sim_accept *accepts;
    size_t n_accepts, cap_accepts;
    struct sim_seq *seqs;
    size_t n_seqs;
    struct sim_decision *decisions;
    size_t n_decisions, cap_decisions;
};

void sim_history_init(struct sim_history *);
void sim_history_uninit(struct sim_history *);
/* Returns the new operation, numbered n_ops. */
struct sim_op *sim_history_add_op(struct sim_history *, uint32_t client, uint64_t expect_hash);
void sim_history_add_accept(struct sim_history *, uint32_t client, uint64_t req_id,
                            uint64_t at_ns, uint64_t value_hash);
/* Returns the sequence of 'endpoint', creating it (and those before it) on first use. */
struct sim_seq *sim_history_seq(struct sim_history *, uint32_t endpoint);
void sim_seq_append(struct sim_seq *, uint64_t item);
void sim_history_add_decision(struct sim_history *, const struct sim_decision *);

/* No reply accepted that a correct service would not give: every accept names an operation
 * of the same client and carries its expected value. */
bool sim_check_valid(const struct sim_history *, struct buf *why);
/* Nothing accepted twice (exactly-once at the client). */
bool sim_check_no_duplicates(const struct sim_history *, struct buf *why);
/* Nothing lost: every operation sent was accepted. */
bool sim_check_no_loss(const struct sim_history *, struct buf *why);
/* Liveness once stable: every operation sent at or after 'stable_ns' was accepted. */
bool sim_check_live_after(const struct sim_history *, uint64_t stable_ns, struct buf *why);
/* The same for the operations of correct clients only (a malicious client's may halt). */
bool sim_check_correct_clients_live_after(const struct sim_history *, uint64_t stable_ns,
                                          struct buf *why);
/* Exactly-once application: no correct endpoint delivered the same item twice. */
bool sim_check_seq_unique(const struct sim_history *, struct buf *why);
/* Agreement: in each group, the delivery sequences of correct members are prefixes of one
 * another; with 'complete', they are all equal. */
bool sim_check_agreement(const struct sim_history *, bool complete, struct buf *why);
/* Stage agreement: no two correct endpoints of one stage decided different values for the
 * same (client, req_id), and none decided one twice. */
bool sim_check_stage_agreement(const struct sim_history *, struct buf *why);

#endif
