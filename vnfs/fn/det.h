/* det — the determinant interface: how a network function reads what is not a function of its
 * state and its input (a clock, a random number, a variable other packets or threads share),
 * so that FTvNF can log the reads of a master copy and replay them in its slave.
 *
 * Every such read or write is a packet access datum (PAD, the paper's term; FTMB calls them
 * PALs): a getter (GPAD: variable id, per-variable sequence number, the value read) or a setter
 * (SPAD: variable id, sequence number, no value: it is recomputed from the reads). Modes:
 *  - LIVE: reads are real (the packet's arrival time, the seeded generator, the variable's
 *    value); nothing is kept. What every function runs in without a scheme.
 *  - RECORD (master): as LIVE, and each PAD is appended to the current packet's list, which
 *    the caller sends to the D&P logger before forwarding the packet.
 *  - REPLAY (slave): each read returns the value of the next PAD of the list the caller set;
 *    a setter is applied only if its sequence number is above the last one applied for that
 *    variable, so a packet replayed twice changes nothing twice. A PAD that does not match
 *    the read (another kind or variable, or none left) marks the replay diverged and the live
 *    value is used: the caller reports it.
 * Variable ids are the function's own constants (a complex variable adds its index).
 *
 * Never does I/O and never reads a clock or a random source itself: time comes in the packet,
 * randomness from a generator the caller seeds. Main types: struct nf_det, struct nf_pad. */
#ifndef SFC_NF_DET_H
#define SFC_NF_DET_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/buf.h"
#include "vnfs/ft/rng.h"
#include "vnfs/ft/u64map.h"

struct nf;
struct nf_packet;

enum nf_det_mode {
    NF_DET_LIVE,
    NF_DET_RECORD,
    NF_DET_REPLAY,
};

enum nf_pad_kind {
    NF_PAD_CLOCK = 1,           /* GPAD: a clock read (value: ns). */
    NF_PAD_RANDOM = 2,          /* GPAD: a random draw (value: the draw). */
    NF_PAD_GET = 3,             /* GPAD: a shared variable read (value: what was read). */
    NF_PAD_SET = 4,             /* SPAD: a shared variable update (no value). */
};

#define NF_PAD_WIRE_LEN 21      /* kind(1) var(4) seq(8) value(8), big-endian. */

struct nf_pad {
    uint8_t kind;
    uint32_t var;
    uint64_t seq;
    uint64_t value;
};

struct nf_det {
    enum nf_det_mode mode;
    struct ft_rng rng;          /* LIVE and RECORD draws. */
    struct u64map seqs;         /* var -> last sequence number used (or applied). */
    struct nf_pad *log;         /* RECORD: this packet's PADs. */
    size_t n_log, cap_log;
    const struct nf_pad *replay;/* REPLAY: this packet's PADs (the caller's memory). */
    size_t n_replay, pos;
    bool diverged;
    uint64_t n_pads;            /* Recorded or replayed, over the function's life. */
};

void nf_det_init(struct nf_det *, uint64_t seed);
void nf_det_uninit(struct nf_det *);
void nf_det_set_mode(struct nf_det *, enum nf_det_mode);
/* Before each packet: RECORD empties the log; REPLAY takes 'pads' (may be NULL with n 0). */
void nf_det_begin(struct nf_det *, const struct nf_pad *pads, size_t n);
/* After each packet, in REPLAY: true if every PAD was consumed and none mismatched. */
bool nf_det_end_ok(const struct nf_det *);

/* What functions call (through their struct nf's det). */
uint64_t nf_det_clock(struct nf *, const struct nf_packet *);
uint64_t nf_det_random(struct nf *, uint32_t var, uint64_t bound);
uint64_t nf_det_get(struct nf *, uint32_t var, uint64_t live_value);
bool nf_det_set(struct nf *, uint32_t var);

/* PAD lists on the wire: n(2) then n x NF_PAD_WIRE_LEN bytes. */
void nf_pads_put(struct buf *, const struct nf_pad *, size_t n);
/* Parses a list from 'data'; returns bytes consumed (0 on malformed), '*pads' malloc'd. */
size_t nf_pads_parse(const uint8_t *data, size_t len, struct nf_pad **pads, size_t *n);

#endif
