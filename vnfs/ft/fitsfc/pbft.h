/* pbft — the wire format of FIT-SFC's PBFT replicas (vnfs/ft/fitsfc/pbft.c, class "pbft").
 *
 * The replicas of a globally stateful VNF order the requests their voters decided before the
 * service sees them (FIT-SFC §III-C, Castro and Liskov's PBFT). This header exposes only the
 * parsers of the peer messages, so that the fuzz target (tests/fuzz/fuzz_pbft.c) and the core
 * share one copy; it must not hold protocol logic. Parsing checks every length and range, never
 * allocates except pbft_vc_parse()'s entry arrays, and points into the caller's bytes.
 *
 * Every message starts with a 24-byte header, big-endian:
 *   0 magic "PBF1" | 4 type (u8) | 5 zero (3) | 8 view (u64) | 16 seq (u64)
 * then, by type:
 *   PRE_PREPARE  digest (16) | request (the rest; empty for the null request, digest zero)
 *   PREPARE, COMMIT, CHECKPOINT   digest (16)
 *   FETCH        last (u64): the replica asks for committed seq .. last
 *   COMMITTED    digest (16) | request: seq was committed (view: the sender's last installed
 *                view, which a restarted replica learns its view from)
 *   VIEW_CHANGE  (view: the new view, seq: the stable checkpoint h) low (u64) | nP (u32) |
 *                nP x { seq u64, view u64, digest 16, len u32, request } | nQ (u32) |
 *                nQ x { seq u64, view u64, digest 16 }: prepared (P) and pre-prepared (Q)
 *                entries above 'low', seqs strictly increasing, each request matching its digest
 *   VC_RELAY     origin (u32) | a VIEW_CHANGE of 'view' as 'origin' sent it
 *   NEW_VIEW     n (u32) | n x { sender u32, digest 16 of its VIEW_CHANGE }, senders increasing
 * Authenticity of the sender is the driver's (ftstage seals with a MAC; the simulator's
 * links are authenticated). Main types: struct pbft_msg, struct pbft_vc, struct pbft_vc_entry. */
#ifndef SFC_FT_PBFT_H
#define SFC_FT_PBFT_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PBFT_MAGIC 0x50424631u          /* "PBF1" */
#define PBFT_HDR_LEN 24
#define PBFT_DIGEST_LEN 16
#define PBFT_MAX_GROUP 64             /* 3f+1 replicas at most; vote sets are 64-bit masks. */

enum pbft_type {
    PBFT_PRE_PREPARE = 1,
    PBFT_PREPARE,
    PBFT_COMMIT,
    PBFT_CHECKPOINT,
    PBFT_VIEW_CHANGE,
    PBFT_VC_RELAY,
    PBFT_NEW_VIEW,
    PBFT_FETCH,
    PBFT_COMMITTED,
    PBFT_N_TYPES
};

struct pbft_msg {
    enum pbft_type type;
    uint64_t view, seq;
    uint8_t digest[PBFT_DIGEST_LEN];
    const uint8_t *req;                 /* PRE_PREPARE, COMMITTED. */
    size_t req_len;
    uint64_t last;                      /* FETCH. */
    uint32_t origin;                    /* VC_RELAY. */
    const uint8_t *body;                /* VIEW_CHANGE: from 'low' on; VC_RELAY: the inner
                                         * message; NEW_VIEW: the n entries. */
    size_t body_len;
    uint32_t n_entries;                 /* NEW_VIEW. */
};

struct pbft_vc_entry {
    uint64_t seq, view;
    uint8_t digest[PBFT_DIGEST_LEN];
    const uint8_t *req;                 /* P only. */
    size_t req_len;
};

struct pbft_vc {
    uint64_t view, h, low;
    struct pbft_vc_entry *p, *q;
    size_t n_p, n_q;
};

/* The digest of a request: demo_msg_digest() (BLAKE2b-128 of all but the per-replica origin);
 * all zero for the null request (empty). */
void pbft_request_digest(const uint8_t *req, size_t len, uint8_t digest[PBFT_DIGEST_LEN]);

/* Parses a peer message; false if malformed (a PRE_PREPARE or COMMITTED whose request does not
 * match its digest is malformed). A VIEW_CHANGE is only framed here: pbft_vc_parse() reads it. */
bool pbft_msg_parse(const uint8_t *, size_t, struct pbft_msg *);
/* Parses a whole VIEW_CHANGE message; entries must lie in (low, h + window]. Allocates the
 * entry arrays (pbft_vc_uninit() frees them); false and nothing allocated if malformed. */
bool pbft_vc_parse(const uint8_t *, size_t, uint64_t window, struct pbft_vc *);
void pbft_vc_uninit(struct pbft_vc *);
/* NEW_VIEW entry i (i < n_entries of a parsed message). */
void pbft_nv_entry(const struct pbft_msg *, uint32_t i, uint32_t *sender,
                   uint8_t digest[PBFT_DIGEST_LEN]);

#endif
