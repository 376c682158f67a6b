/* ftstage — a protocol core (vnfs/ft/core.h) on the NSH path of an sfcd role: the same core code
 * tests/sim runs, fed with the frames the role sees and acting through the role's own output.
 *
 * The hosting role (today the SFF; the classifier, a VNF or a client host it the same way: it
 * needs only a loop and a way to send a frame to an endpoint) maps what it receives to events:
 *   an NSH frame (or the part of it the scheme votes on) -> FT_EV_PACKET from an endpoint id,
 *   an authenticated peer message (ethertype FTSTAGE_ETHERTYPE) -> FT_EV_PEER_MSG / STATE /
 *       STATE_REQUEST,
 * and the core's actions go back through 'struct ftstage_ops': FORWARD and DELIVER as frames
 * the role builds, SEND / STATE / REQUEST_STATE as sealed peer messages, timers on the role's
 * loop (one loop timer follows the earliest deadline), DROP / NOTE / SUSPECT as counters and
 * the note callback.
 *
 * Peer messages are authenticated with keyed BLAKE2b (libsodium crypto_generichash, a 32-byte
 * tag; about twice as fast as HMAC-SHA-512-256 on short messages) under a per-instance key the
 * orchestrator hands each guest at deploy (a file of mode 0600). Wire
 * layout, big-endian, FTSTAGE_MSG_HDR_LEN bytes of header:
 *   0 magic "FTPM" | 4 from | 8 to | 12 seq (u64) | 20 kind (u8) | 21 zero (3) | 24 len (u32)
 *   28 payload (len bytes) | tag (FTSTAGE_TAG_LEN) over header and payload.
 * A message whose tag does not verify is counted as forged; one whose (from, seq) was seen or
 * fell behind the 64-message window of its sender is counted as replayed; both are dropped
 * before the core sees them. Never allocates per frame except what the core's actions need;
 * never blocks. Main types: struct ftstage, struct ftstage_config, struct ftstage_ops,
 * struct ftstage_stats, struct ftstage_msg. */
#ifndef SFC_FTSTAGE_H
#define SFC_FTSTAGE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/buf.h"
#include "vnfs/ft/core.h"

struct loop;
struct ftstage;

#define FTSTAGE_ETHERTYPE 0x88B5        /* IEEE 802 local experimental ethertype 1. */
#define FTSTAGE_MSG_MAGIC 0x4654504du   /* "FTPM" */
#define FTSTAGE_MSG_HDR_LEN 28
#define FTSTAGE_KEY_LEN 32              /* crypto_generichash_KEYBYTES */
#define FTSTAGE_TAG_LEN 32              /* crypto_generichash_BYTES */
#define FTSTAGE_MAX_PAYLOAD 9000

struct ftstage_msg {
    uint32_t from, to;
    uint64_t seq;
    enum ft_event_kind kind;            /* PEER_MSG, STATE, STATE_REQUEST. */
    const uint8_t *payload;             /* Points into the caller's bytes. */
    size_t len;
};

/* Appends a sealed message to 'b'. */
void ftstage_msg_seal(struct buf *b, const uint8_t key[FTSTAGE_KEY_LEN],
                      const struct ftstage_msg *);
/* Checks and parses a sealed message: 0, EINVAL (malformed) or EBADMSG (tag does not verify);
 * '*m' is set only on 0. */
int ftstage_msg_open(const uint8_t *data, size_t len, const uint8_t key[FTSTAGE_KEY_LEN],
                     struct ftstage_msg *m);
/* The same with another bound on the payload (a role that carries large messages in several
 * frames, e.g. NHAM's checkpoint images). */
int ftstage_msg_open_max(const uint8_t *data, size_t len, const uint8_t key[FTSTAGE_KEY_LEN],
                         size_t max_payload, struct ftstage_msg *m);

/* Reads a key file: exactly FTSTAGE_KEY_LEN bytes, owned by us, readable by nobody else.
 * Returns 0, EPERM (group or world may read it) or an errno; '*errp' says why. */
int ftstage_key_load(const char *path, uint8_t key[FTSTAGE_KEY_LEN], char **errp);

struct ftstage_ops {
    /* FT_ACT_FORWARD and FT_ACT_DELIVER: data the core decided on. */
    void (*forward)(void *aux, uint32_t to, const uint8_t *data, size_t len);
    void (*deliver)(void *aux, const uint8_t *data, size_t len);
    /* A sealed peer message for endpoint 'to': the role puts it in a frame to that endpoint.
     * Returns false if it knows no such endpoint. */
    bool (*send)(void *aux, uint32_t to, const uint8_t *msg, size_t len);
    /* FT_ACT_NOTE (may be NULL). */
    void (*note)(void *aux, const char *text);
    /* May be NULL. A peer message before it is sealed, with its sequence number: true if the
     * role took it as it is (it never crosses a link: a stage of the same process gets it
     * through ftstage_peer_message_opened()), or sent something else in its place, sealed
     * itself (e.g. only what changed since its last image); false: it is sealed and goes to
     * 'send' as usual. A seal and its check cost two passes of the MAC over the payload, which
     * for NHAM's 512 KB checkpoint images was most of the SFF's CPU. */
    bool (*send_unsealed)(void *aux, const struct ftstage_msg *);
    /* May be NULL, as may what it returns. Room for a FORWARD of 'len' bytes that the core
     * builds in place (ft_emit_forward_space()): where the role will send it from, e.g. a
     * frame of its batch past the link header, so that 'forward' gets it there. */
    uint8_t *(*forward_space)(void *aux, uint32_t to, size_t len);
};

struct ftstage_config {
    const struct ft_core_class *class;
    struct ft_config core;
    const uint8_t *key;                 /* FTSTAGE_KEY_LEN bytes; NULL: no peer messages. */
    struct loop *loop;
    /* FT_EV_START's incarnation: 0 the first time, n after the core's n-th restart. */
    uint32_t incarnation;
    /* The first sequence number of this stage's peer messages, minus one. A restarted core
     * keeps its endpoint id, and its peers' replay windows remember the last incarnation's
     * numbers: a restart must start above them (time_mono_ns() at start does, since no stage
     * sends a message per nanosecond). */
    uint64_t seq_base;
    /* The largest payload of a peer message, sent or accepted; 0: FTSTAGE_MAX_PAYLOAD (one
     * jumbo frame). A role that fragments its messages may allow more. */
    size_t max_payload;
};

struct ftstage_stats {
    uint64_t packets, steps, step_errors, forwarded, delivered, sent, send_errors;
    uint64_t notes, suspects, timers_fired;
    uint64_t peer_rx, peer_malformed, peer_forged, peer_replayed, peer_misaddressed;
    uint64_t peer_impersonated;
    uint64_t drops[FT_DROP_N_REASONS];
};

int ftstage_create(const struct ftstage_config *, const struct ftstage_ops *, void *aux,
                   struct ftstage **, char **errp);
void ftstage_destroy(struct ftstage *);
/* Hands FT_EV_START to the core. */
int ftstage_start(struct ftstage *, uint64_t now_ns);
/* The same for a restarted component: 'incarnation' > 0 (the core then fetches its state). */
int ftstage_start_incarnation(struct ftstage *, uint64_t now_ns, uint32_t incarnation);
/* A failure notice about endpoint 'from' (FT_EV_PEER_DOWN), from whoever detects failures. */
int ftstage_peer_down(struct ftstage *, uint32_t from, uint64_t now_ns);
/* FT_EV_PEER_UP: 'from' is back (a new process in its place). */
int ftstage_peer_up(struct ftstage *, uint32_t from, uint64_t now_ns);
/* FT_EV_STATE: state for the core (e.g. a new FTvNF slave's image), from 'from'. */
int ftstage_state(struct ftstage *, uint32_t from, const uint8_t *, size_t, uint64_t now_ns);
/* A data-plane packet from endpoint 'from'. */
int ftstage_packet(struct ftstage *, uint32_t from, const uint8_t *, size_t, uint64_t now_ns);
/* A sealed peer message as it arrived (after the Ethernet header). Forged, replayed and
 * malformed messages are counted and dropped (returns 0 then too: the network's fault). */
int ftstage_peer_message(struct ftstage *, const uint8_t *, size_t, uint64_t now_ns);
/* The same for a role whose link layer names the sender ('sender': the endpoint whose source
 * address the frame carries, which the switch does not let one guest forge for another). The
 * key is the instance's, so any replica holding it could seal a message as another replica;
 * one whose sealed 'from' is not 'sender' is counted as impersonated and dropped. */
int ftstage_peer_message_from(struct ftstage *, const uint8_t *, size_t, uint32_t sender,
                              uint64_t now_ns);
/* The same for a message the caller opened (its tag checked) or built in this process from
 * authenticated bytes: the address, sender and replay checks, not the tag. */
int ftstage_peer_message_opened(struct ftstage *, const struct ftstage_msg *, uint32_t sender,
                                uint64_t now_ns);
/* Numbers the stage's next peer messages above 'seq': a stage made ahead of its start, whose
 * peers' replay windows may have moved past its 'seq_base' meanwhile. */
void ftstage_seq_above(struct ftstage *, uint64_t seq);
/* A peer message 'from' that the role itself vouches for, from no wire (so no replay
 * window: its sequence number would be the role's, not the sender's, and could shut out the
 * sender's own later messages). E.g. NHAM's SFF stating a standby's READY for it at a
 * takeover, the standby's checkpoint known to it from the standby's authenticated word. */
int ftstage_local_message(struct ftstage *, uint32_t from, const uint8_t *, size_t,
                          uint64_t now_ns);
/* Which endpoint a sealed message is for, without checking it (to pick the stage);
 * false if it is too short to say. */
bool ftstage_msg_peek_to(const uint8_t *, size_t, uint32_t *to);

/* Quiet: the core's steps act on nothing outside it (no frame, no peer message; its timers
 * and counters still run), for a role rebuilding a core from its own journal. */
void ftstage_set_quiet(struct ftstage *, bool quiet);

const struct ftstage_stats *ftstage_stats(const struct ftstage *);
uint32_t ftstage_self(const struct ftstage *);
/* The core it runs (for a role's own read-only queries, e.g. FTC's group stores). */
struct ft_core *ftstage_core(const struct ftstage *);

#endif
