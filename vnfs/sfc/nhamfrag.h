/* nhamfrag — NHAM's peer messages longer than a frame (a checkpoint image: 512 KB in the
 * paper) cut into fragments and put together again. A fragment is an Ethernet frame of
 * ethertype NHAM_FRAG_ETHERTYPE whose payload is id(8) total(4) offset(4) then bytes
 * (big-endian); a sender's fragments travel in order on the FIFO path between two guests. The
 * reassembled bytes are a sealed ftstage message, checked whole by its receiver: this layer
 * authenticates nothing. A fragment that does not follow the last one of its message (one was
 * lost) abandons the message (the cores ask again).
 *
 * Parses untrusted bytes (tests/fuzz/fuzz_nham_frag.c); never allocates more than
 * NHAM_MAX_MESSAGE per sender; never does I/O. Main types: struct nham_frags (per receiver:
 * one message in progress per sender MAC; and the sender's message ids). Also the deltas
 * between two images that keep warm standbys in sync cheaply (nham_delta_*). */
#ifndef SFC_NHAMFRAG_H
#define SFC_NHAMFRAG_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/buf.h"

#define NHAM_ETHERTYPE 0x88B6           /* A DATA message (vnfs/ft/nham/nham.h) in one frame:
                                         * IEEE 802 local experimental ethertype 2. */
#define NHAM_FRAG_ETHERTYPE 0x88B7      /* IEEE 802a OUI-extended: unused on our bridges. */
#define NHAM_FRAG_HDR 16
#define NHAM_FRAG_CHUNK 1400
#define NHAM_MAX_MESSAGE (65u << 20)
#define NHAM_SINGLE_MAX 1500            /* Ethernet payload of one frame at MTU 1500. */
#define NHAM_FRAG_MAX_SENDERS 256

struct nham_reasm {
    uint8_t mac[6];
    uint64_t id;
    uint32_t total, got;
    uint8_t *buf;
};

struct nham_frags {
    uint64_t next_id;
    struct nham_reasm *r;
    size_t n;
    uint64_t n_lost;            /* Messages abandoned for a missing fragment. */
    uint64_t n_malformed;       /* Fragments that could be no part of a message. */
};

/* The header of the fragment of message 'id' ('total' bytes) at 'offset': NHAM_FRAG_HDR bytes
 * into 'out'. */
void nham_frag_header(uint8_t *out, uint64_t id, uint32_t total, uint32_t offset);
/* A fragment's payload (after its Ethernet header) from sender 'src': returns the whole
 * message (valid until the next call for the same sender) once its last fragment arrived,
 * else NULL. */
const uint8_t *nham_frag_add(struct nham_frags *, const uint8_t src[6], const uint8_t *body,
                             size_t len, size_t *msg_len);
void nham_frags_free(struct nham_frags *);

/* Deltas between two images of one length: what a standby already holding the older one needs
 * to have the newer. Runs of changed bytes, each off(4) len(2) bytes (big-endian), in order.
 * nham_delta_encode() appends the runs turning 'old' into 'new' to 'out' and returns their
 * size, or 0 when they would be longer than 'max' (send the image whole then).
 * nham_delta_apply() applies runs to 'img' ('len' bytes); false (and 'img' partly changed)
 * when they do not fit it. It parses bytes from the network (after their seal is checked):
 * tests/fuzz/fuzz_nham_frag.c. */
size_t nham_delta_encode(const uint8_t *old, const uint8_t *new, size_t len, size_t max,
                         struct buf *out);
bool nham_delta_apply(uint8_t *img, size_t len, const uint8_t *runs, size_t n);

/* A warm standby's image (vnfs/sfc/nham.c, "Warm standbys"): what it keeps from the VSM's
 * WARM (magic, then an image whole) and DELTA (magic, the first NHAM_IMAGE_ID bytes of the
 * image it applies to, the new image's length(4) and first NHAM_IMAGE_ID bytes, then runs).
 * An image's first NHAM_IMAGE_ID bytes name its state: epoch(4) counter(8) count(8)
 * digest(8) (vnfs/ft/nham/nham.h). Images are ordered by epoch, then counter: the VSM stores
 * none older than one it stored, so the images a standby is given only grow, and one older
 * than what it holds is a replay (authentic, sealed by the instance's key, but old: sealed
 * with no sequence number a receiver could order) or one overtaken on the way.
 * nham_image_cmp() compares two images' names that way (<0: 'a' is older). nham_warm_take()
 * takes the payload 'p' ('len' bytes, its seal checked) into 'held'. */
#define NHAM_MAGIC_LEN 8
#define NHAM_IMAGE_ID 28
#define NHAM_WARM_MAGIC "NHAMWARM"
#define NHAM_DELTA_MAGIC "NHAMDLTA"

enum nham_warm_result {
    NHAM_WARM_OTHER,    /* Neither a WARM nor a DELTA: 'held' untouched. */
    NHAM_WARM_KEPT,     /* 'held' is now the image it carries. */
    NHAM_WARM_STALE,    /* It carries an image older than 'held' (a DELTA: not newer, i.e.
                         * also 'held' itself): ignored, 'held' untouched. */
    NHAM_WARM_MISS,     /* A DELTA of another image than 'held', or one that does not rebuild
                         * the image it names: 'held' emptied, a whole one must be asked. */
};

int nham_image_cmp(const uint8_t *a, const uint8_t *b);
enum nham_warm_result nham_warm_take(struct buf *held, const uint8_t *p, size_t len);

/* nham_warm_take() into 'held' that keeps in 'prev' the image a KEPT one replaces (a TAKE may
 * name it: nham.c, "The SFF's takeover"); 'held' emptied (MISS) or untouched, 'prev' is too.
 * 'runs' (the last DELTA's, which turn 'prev' into 'held'; empty: unknown) and 'scratch' are
 * the caller's, for the next call: after a DELTA, 'prev' becomes what 'held' was by those
 * runs, not by a copy of the whole image (512 KB per standby and checkpoint). */
enum nham_warm_result nham_warm_keep(struct buf *held, struct buf *prev, struct buf *runs,
                                     struct buf *scratch, const uint8_t *p, size_t len);

#endif
