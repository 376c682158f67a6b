/* ftc — FTC's protocol cores (SIGCOMM'20, papers/003): in-chain replication of middlebox state
 * carried on the packets themselves.
 *
 * The chain's replicas r_0 .. r_{R-1} form a logical ring (R = max(n, f+1): extra replicas that
 * host no middlebox are added when the chain has fewer than f+1 middleboxes). Middlebox m_i is
 * co-located with r_i, its head; its replication group is r_i and the f replicas after it on the
 * ring, the last of which is the tail. Three core classes (vnfs/ft/registry.c):
 *  - ftc_forwarder: at the ingress. Wraps each packet from outside as an FTC packet carrying the
 *                   latest piggyback message the buffer sent it (the logs of the groups that wrap
 *                   around the ring, and every group's last commit vector); when no packet came
 *                   for a while it sends a propagating packet with that message alone.
 *                   Admission control (parameters window, max_backlog; 0: none): it sheds new
 *                   packets, before they write any state, while 'window' are on the way to the
 *                   buffer or the buffer holds more than 'max_backlog', and then carries the
 *                   buffer's logs on propagating packets. A packet on the way for 'lost'
 *                   (default 16 ticks) counts as lost: it must be longer than the chain may
 *                   hold one, or the window admits more than the chain holds. When it keeps
 *                   too many of the buffer's logs, a propagating packet carries them at once
 *                   (a log thrown out is a gap at its tail).
 *                   next = [r_0]; peers = [buffer].
 *  - ftc_replica:   one ring member. Applies the piggyback logs of the groups it replicates in
 *                   dependency order (a middle replica holds a packet whose logs are out of
 *                   order, a tail keeps such logs aside and lets the packet go on; both ask the
 *                   predecessor to retransmit), runs its middlebox's packet transaction over the
 *                   partitioned state store and appends the transaction's log, strips the logs of
 *                   the groups it is the tail of and attaches their commit vectors, prunes logs
 *                   that commits cover. After a restart (incarnation > 0) it fetches each group's
 *                   state: its own group from the first live successor (opening a new epoch of the
 *                   group there), the others from the nearest live predecessor. With commit_to
 *                   (the buffer), a tail sends the wrapped groups' commits there at once, and a
 *                   propagating packet that carries no log any more ends where it is, its
 *                   commit vectors sent there in its place.
 *                   group = the ring in order; next = [next replica or the buffer].
 *                   Parameters: n (middleboxes), partitions, mbox (the middlebox: ftc_mbox_find),
 *                   tick (retransmission / recovery retry period), commit_to (0: none),
 *                   threads (1: default; > 1: the multithreaded head below).
 *  - ftc_buffer:    at the egress. Holds each packet until the commit vectors of the groups its
 *                   logs belong to show them replicated f+1 times, releases it to next, drops it
 *                   if its log died with a failed head (in arrival order: the first that must
 *                   wait stops the ones behind it); sends the piggyback message to the
 *                   forwarder (and resends held logs on its tick, so a lost message costs only
 *                   time; with no data packet for a tick, the newest log of each group and
 *                   partition first: the chain propagates state when traffic stops, every
 *                   member catching up to the newest held packet in one lap).
 *                   next = [outside] or [outside, reverse] (where a middlebox's reply,
 *                   FTC_PKT_REPLY, is released: back toward the client); peers = [forwarder].
 *                   Parameters: n, tick.
 *
 * Packet transactions and dependency vectors. The store of a group is split into 'partitions'
 * by the hash of the key. The head keeps one sequence number per partition. A transaction that
 * wrote increments the number of every partition it read or wrote; its log names each such
 * partition with the number before the increment, and carries the written records (a bare
 * delta: vnfs/lib/state.h's records without the export header). A read-only transaction changes
 * no number; its log names the partitions it read with their current numbers, so a replica
 * forwards and the buffer releases the packet only once every write it read is replicated. A
 * replica applies a log when its MAX vector equals the log's numbers on every partition the log
 * wrote ("don't care" on the others), so independent transactions may be applied in another
 * order than the head's.
 *
 * Epochs. Sequence numbers restart from the successor's MAX when a head is replaced, so a log of
 * the dead head that never reached the successor must never be mistaken for the new head's log
 * with the same numbers. Each group's numbers live in an epoch (the head's incarnation); the
 * member that serves a new head's state request opens the new epoch with start = its MAX, and a
 * log of an older epoch counts only if it lies before the start of the epoch that followed it.
 * Commit vectors carry their epoch, the previous epoch and its start, so the buffer can tell.
 *
 * What the cores do not do: detect failures (a failure notice is FT_EV_PEER_DOWN; the driver
 * tells a restarted replica which peers are still down, as the paper's orchestrator does), start
 * replacement guests, or reroute.
 *
 * The multithreaded head (threads > 1, the paper's §4.2). With one thread a transaction runs
 * to completion inside one step and takes no lock. With more, the packets that come in one
 * batch (those in hand when the core's batch timer, armed at "now", fires; at most 64) are
 * first prepared one by one on the core's thread (the logs they carry applied, held or dropped
 * as above), then their transactions run on 'threads' threads at once over the head's store:
 * each takes its partitions' locks as it reads and writes (struct ftc_txcc: strict two-phase
 * locking with wound-wait, vnfs/ft/ftc/txlock.h), a wounded one undoes its writes and runs
 * again, and a committing one numbers its log from the dependency vector while it still holds
 * the locks (ftc_tx_commit_cc). The packets then leave in commit order. Everything but the
 * transactions (other groups' logs, commits, retransmission, state transfer, sends) stays on
 * the core's thread, between batches. Only middleboxes whose class says 'concurrent' run so:
 * 'stamp', 'monitor' (the paper's Monitor), 'simplenat' and 'mazunat' (its NATs,
 * vnfs/fn/txnat.h); 'nf' (any vnfs/fn function, which writes its store directly) runs on one
 * thread.
 *
 * Wire format (big-endian; parsers take untrusted bytes, tests/fuzz/fuzz_ftc.c). Every packet
 * carries a log and a commit vector per group it passes, so their forms leave out what is usual,
 * a flags byte saying what is there:
 *   packet:  u8 type (1 data, 2 propagating, 3 reply) | message | inner packet (not propagating)
 *   message: u8 n_logs | n_logs x log | u8 n_commits | n_commits x commit
 *   log:     u8 group | u8 flags (bits 0-4 n, 5 EPOCH, 6 WIDE, 7 LONG) | EPOCH: u32 epoch
 *            | n x { u8 partition | write << 7, WIDE ? u64 : u32 seq } | LONG ? u32 : u16 len
 *            | len bytes of bare state delta (vnfs/lib/state.h's records alone; 0: read-only)
 *   commit:  u8 group | u8 flags (bits 0-3 n_parts - 1, 4 EPOCH, 5 PREV, 6 START, 7 WIDE)
 *            | EPOCH: u32 epoch | PREV: u32 prev_epoch | START: n_parts x u64 start
 *            | n_parts x (WIDE ? u64 : u32) max
 *   Without EPOCH the epoch is 0, without PREV prev_epoch = epoch, without START start is 0;
 *   WIDE: a number needs 8 bytes, LONG: the delta 4. A flag is set exactly when what it adds
 *   is needed (the parsers reject any other form, so what a replica parsed re-encodes to the
 *   same bytes). A chain without a recovery sends 6-byte commits (P = 1; 26 in the fixed form
 *   before) and 9 bytes of log before the delta (21): at length 5 with a Monitor's 64-byte
 *   delta, 106 bytes of FTC a packet instead of 246 (bench/ftc_chain.c). The form depends on
 *   the log or commit alone, never on an earlier frame: a frame lost or reordered leaves
 *   nothing for a later one to be misread against.
 * Peer messages: u8 type (FTC_MSG_*) then as described at enum ftc_msg_type.
 *
 * Main types: struct ftc_log, struct ftc_commit, struct ftc_message, struct ftc_refs (a
 * replica's output by parts), struct ftc_mbox_class, struct ftc_tx. */
#ifndef SFC_FT_FTC_H
#define SFC_FT_FTC_H 1

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/cursor.h"

struct nf_state;
struct ftc_locks;

#define FTC_MAX_PARTS 16
/* The forwarder's largest 'window'. */
#define FTC_FWD_MAX_WINDOW 4096
#define FTC_MAX_GROUPS 32
#define FTC_MAX_LOGS 64
#define FTC_MAX_COMMITS FTC_MAX_GROUPS

enum ftc_packet_type {
    FTC_PKT_DATA = 1,
    FTC_PKT_PROPAGATE = 2,
    /* A data packet a middlebox turned into a reply to its sender (e.g. dns): later
     * middleboxes pass it on unprocessed (their functions are for the request's direction), and
     * the buffer releases it, once its logs are replicated as any packet's, to its reverse
     * endpoint (back toward the client) instead of on toward the chain's egress. */
    FTC_PKT_REPLY = 3,
};

enum ftc_msg_type {
    FTC_MSG_PIGGYBACK = 10,     /* buffer -> forwarder: u32 backlog (packets held) | u32 arrived
                                 * (data packets received, wrapping) | message. */
    FTC_MSG_RETX_REQ = 11,      /* replica -> predecessor: u8 group | u32 epoch | u8 n | n x u64
                                 * MAX [| n x u64 UPTO]. Send me the logs of 'group' I lack
                                 * (only those writing below UPTO: a tail has the rest). */
    FTC_MSG_RETX = 12,          /* predecessor -> replica: u8 group | u8 flags (FTC_RETX_GAP,
                                 * FTC_RETX_MORE) | history | u8 n_logs | logs. One request
                                 * is answered with up to 16 of them. */
    FTC_MSG_STATE_REQ = 13,     /* recovering replica -> member: u8 group | u32 epoch (the new
                                 * head's incarnation; 0 when the asker is not the head). */
    FTC_MSG_STATE = 14,         /* member -> recovering: u8 group | u8 ready | (ready:) image:
                                 * history | u8 n | n x u64 MAX | u32 len | full store export |
                                 * u16 n_logs | logs */
    FTC_MSG_COMMIT = 15,        /* tail -> buffer: message (no logs; the commit vectors of the
                                 * groups whose head comes after this tail in the chain). A
                                 * packet-borne commit of such a group reaches the buffer only
                                 * on a later packet, behind whatever queues the chain has.
                                 * Also where a propagating packet ends once it carries no log
                                 * (with every commit it carried). */
};
/* The predecessor no longer has the logs asked for: take its state (STATE_REQ, epoch 0). */
#define FTC_RETX_GAP 1
/* More messages of this answer follow: the asker waits for them before asking again. */
#define FTC_RETX_MORE 2
/* history: u8 n_epochs | n_epochs x { u32 epoch | u8 n | n x u64 start } */

struct ftc_entry {
    uint16_t part;
    bool write;
    uint64_t seq;               /* The partition's number before the transaction. */
};

struct ftc_log {
    uint8_t group;
    uint32_t epoch;
    uint8_t n_ent;
    struct ftc_entry ent[FTC_MAX_PARTS];
    const uint8_t *upd;         /* Bare state delta (vnfs/lib/state.h); into the parsed bytes. */
    uint32_t upd_len;
    /* The bytes ftc_log_read() read it from (NULL for a log built otherwise): what
     * ftc_log_put_wire() copies instead of encoding the fields. */
    const uint8_t *wire;
    uint32_t wire_len;
};

struct ftc_commit {
    uint8_t group;
    uint32_t epoch, prev_epoch;
    uint8_t n_parts;
    uint64_t start[FTC_MAX_PARTS];  /* Where 'epoch' began (after prev_epoch's logs). */
    uint64_t max[FTC_MAX_PARTS];    /* The tail's MAX: logs below it are replicated f+1 times. */
    const uint8_t *wire;            /* As struct ftc_log's: from ftc_commit_read() (or
                                     * _frame(), or _seal()), or NULL. */
    uint32_t wire_len;
};

struct ftc_message {
    size_t n_logs;
    struct ftc_log logs[FTC_MAX_LOGS];
    size_t n_commits;
    struct ftc_commit commits[FTC_MAX_COMMITS];
};

/* Parsers of untrusted bytes read with a struct cursor (vnfs/lib/cursor.h): each returns
 * false, the cursor bad, on a short read or a field out of range. */
bool ftc_log_read(struct cursor *, struct ftc_log *);
void ftc_log_put(struct buf *, const struct ftc_log *);
size_t ftc_log_wire_len(const struct ftc_log *);
bool ftc_commit_read(struct cursor *, struct ftc_commit *);
void ftc_commit_put(struct buf *, const struct ftc_commit *);
size_t ftc_commit_wire_len(const struct ftc_commit *);
bool ftc_message_read(struct cursor *, struct ftc_message *);
void ftc_message_put(struct buf *, const struct ftc_message *);

/* A whole packet: type, message, inner (points into 'data'). False if malformed. */
bool ftc_packet_parse(const uint8_t *data, size_t len, enum ftc_packet_type *,
                      struct ftc_message *, const uint8_t **inner, size_t *inner_len);
void ftc_packet_put(struct buf *, enum ftc_packet_type, const struct ftc_message *,
                    const uint8_t *inner, size_t inner_len);

/* The same with each commit framed, not decoded: ftc_commit_frame() accepts exactly what
 * ftc_commit_read() does, but sets only the commit's group, n_parts and bytes ('wire',
 * 'wire_len'); ftc_commit_decode() completes the rest. A replica decodes the commits it prunes
 * with and copies the others on as they came, so its parse of a packet does not grow with the
 * chain's length (a packet carries a commit per middlebox). */
bool ftc_commit_frame(struct cursor *, struct ftc_commit *);
void ftc_commit_decode(struct ftc_commit *);
bool ftc_message_read_framed(struct cursor *, struct ftc_message *);
/* Encodes a commit built (not parsed) at 'p', room for FTC_COMMIT_MAX_WIRE bytes, and makes
 * that its wire form: a replica's own commit, sized and then written into its output, encoded
 * once. It must not change afterwards (or must have 'wire' cleared). */
#define FTC_COMMIT_MAX_WIRE FTC_COMMIT_WIRE_MAX(FTC_MAX_PARTS)
/* A commit vector's widest wire form over 'parts' partitions: group and flags, an epoch and
 * the one before, and a start and a 64-bit MAX in each partition. */
#define FTC_COMMIT_WIRE_MAX(PARTS) (2 + 4 + 4 + 16 * (PARTS))
void ftc_commit_seal(struct ftc_commit *, uint8_t *p);
bool ftc_packet_parse_framed(const uint8_t *data, size_t len, enum ftc_packet_type *,
                             struct ftc_message *, const uint8_t **inner, size_t *inner_len);

/* A log parsed from a packet goes on as it came (a replica copies most of what it passes on):
 * 'l' copied from the bytes it was read from ('wire', set by the parsers and by nothing else)
 * when it has them, else encoded. A log changed after parsing must have 'wire' cleared: its
 * wire form is copied, not checked against its fields. */
void ftc_log_put_wire(struct buf *, const struct ftc_log *);
/* The same at 'p', which has room for FTC_LOG_MAX_WIRE() bytes (its form unknown until it is
 * written: one pass over the entries, not one to size it and one to write it); returns the
 * end. */
#define FTC_LOG_MAX_WIRE(n_ent, upd_len) (2 + 4 + 9 * (size_t) (n_ent) + 4 + (size_t) (upd_len))
uint8_t *ftc_log_place(uint8_t *p, const struct ftc_log *);

/* A message given by its parts: what a replica keeps of the packet it parsed, unchanged, and
 * what it adds, in order, each written as ftc_log_put_wire() writes it (those that came
 * adjacent in one copy), without copying the parsed structs into a message of their own. It
 * keeps their length on the wire as they are added (ftc_refs_add_*()), so that a packet's
 * length is known before it is written (straight into the step's actions) without a walk over
 * its parts. */
struct ftc_refs {
    const struct ftc_log *logs[FTC_MAX_LOGS];
    size_t n_logs;
    const struct ftc_commit *commits[FTC_MAX_COMMITS];
    size_t n_commits;
    size_t len;                 /* The logs' and commits' bytes. */
};

static inline void
ftc_refs_clear(struct ftc_refs *o)
{
    o->n_logs = o->n_commits = o->len = 0;
}

/* The caller checks that there is room (FTC_MAX_LOGS, FTC_MAX_COMMITS). */
static inline void
ftc_refs_add_log(struct ftc_refs *o, const struct ftc_log *l)
{
    o->logs[o->n_logs++] = l;
    o->len += l->wire ? l->wire_len : ftc_log_wire_len(l);
}

static inline void
ftc_refs_add_commit(struct ftc_refs *o, const struct ftc_commit *c)
{
    o->commits[o->n_commits++] = c;
    o->len += c->wire ? c->wire_len : ftc_commit_wire_len(c);
}

void ftc_message_put_refs(struct buf *, const struct ftc_refs *);
void ftc_packet_put_refs(struct buf *, enum ftc_packet_type, const struct ftc_refs *,
                         const uint8_t *inner, size_t inner_len);
/* ftc_packet_put_refs() in two halves, for a packet written where its length must be known
 * first (straight into the step's actions, ft_emit_forward_space()). */
size_t ftc_packet_refs_len(enum ftc_packet_type, const struct ftc_refs *, size_t inner_len);
void ftc_packet_refs_place(uint8_t *, enum ftc_packet_type, const struct ftc_refs *,
                           const uint8_t *inner, size_t inner_len);
/* The same packet with its logs given as their encodings (ftc_log_put()'s bytes, one buf
 * each) and 'm''s logs ignored: the forwarder keeps the buffer's logs so, and copies them onto
 * each packet instead of decoding and encoding them again. */
void ftc_packet_put_encoded(struct buf *, enum ftc_packet_type, const struct buf *logs,
                            size_t n_logs, const struct ftc_message *m, const uint8_t *inner,
                            size_t inner_len);

/* A packet transaction over one group's store, as the head runs it: which partitions it read
 * and wrote, and the store's change mark when it began (the delta is what changed since).
 *
 * With 'cc' (a head running transactions on several threads, ftc_replica's 'threads'), the
 * transaction is one of several at once on the store: ftc_tx_get() and ftc_tx_put() first take
 * the partition's lock (shared, exclusive) and keep it to the transaction's end (strict
 * two-phase locking, wound-wait: vnfs/ft/ftc/txlock.h); the store's own operations are
 * serialized by 'store_mutex' (its hash map is not thread-safe); each write keeps the value it
 * replaced, so a wounded transaction undoes its writes; its delta is the current values of the
 * keys it wrote (no change mark: other transactions change the store meanwhile). Once wounded
 * ('aborted') every get misses and every put fails: the middlebox finishes its run on nothing,
 * and the caller undoes and runs the packet again. */
struct ftc_txcc {
    struct ftc_locks *locks;
    pthread_mutex_t *store_mutex;
    int slot;
    bool aborted;
    struct buf val;             /* A copy of the value the last get found. */
    struct buf undo;            /* Per write: u16 key_len | key | u8 had | u32 len | value. */
    struct buf keys;            /* Per write: u16 key_len | key. */
};

struct ftc_tx {
    struct nf_state *store;
    unsigned n_parts;
    uint32_t read_mask, write_mask;
    uint64_t mark;
    struct ftc_txcc *cc;        /* NULL: the only transaction on the store. */
    unsigned thread;            /* The head's thread running it (0 with one thread). */
};

unsigned ftc_partition_of(const void *key, size_t key_len, unsigned n_parts);
void ftc_tx_begin(struct ftc_tx *, struct nf_state *, unsigned n_parts);
/* Starts (retry: runs again, with the age it had) a concurrent transaction in 'cc''s slot. */
void ftc_tx_begin_cc(struct ftc_tx *, struct nf_state *, unsigned n_parts, struct ftc_txcc *,
                     bool retry);
void ftc_txcc_init(struct ftc_txcc *, struct ftc_locks *, pthread_mutex_t *store_mutex,
                   int slot);
void ftc_txcc_uninit(struct ftc_txcc *);
/* A wounded concurrent transaction: puts back what it wrote and releases its locks. */
void ftc_tx_abort(struct ftc_tx *);
/* Reads 'key' (NULL value and false if absent); marks its partition read. */
bool ftc_tx_get(struct ftc_tx *, const void *key, size_t key_len, const uint8_t **valuep,
                size_t *value_lenp);
/* The same for a key the transaction will write: its partition is locked exclusively at
 * once (a shared lock then an upgrade would make two readers of one partition wound each
 * other's upgrade, every time). */
bool ftc_tx_get_for_write(struct ftc_tx *, const void *key, size_t key_len,
                          const uint8_t **valuep, size_t *value_lenp);
int ftc_tx_put(struct ftc_tx *, const void *key, size_t key_len, const void *value,
               size_t value_len);
/* For middleboxes that do not say what they read (a vnfs/fn function on its nf_state): every
 * partition read, so the log depends on everything before it (conservative, still correct). */
void ftc_tx_read_all(struct ftc_tx *);
/* Ends the transaction: fills 'log' (group, epoch set by the caller) from the head's vector
 * 'v' (incremented when the transaction wrote) and appends the delta to 'upd' (the log points
 * into it). False if the transaction touched nothing (no log). */
bool ftc_tx_commit(struct ftc_tx *, uint64_t v[FTC_MAX_PARTS], struct buf *upd,
                   struct ftc_log *log);
/* The same for a concurrent transaction that was not wounded, with its locks still held (so
 * each partition's numbers follow the order its writers committed in, and a read names the
 * number of the write it saw): only the partitions it wrote are incremented (entries of those
 * only read are reads); '*ticket' gets the commit's place in the head's total order (packets
 * sent in that order reach the successor with each partition's logs in order). Then the
 * locks are released. 'late_seq' (tests only) numbers after the release instead: the bug the
 * locks exist to prevent. */
bool ftc_tx_commit_cc(struct ftc_tx *, uint64_t v[FTC_MAX_PARTS], uint64_t *ticket_counter,
                      uint64_t *ticket, struct buf *upd, struct ftc_log *log, bool late_seq);

/* A middlebox behind the FTC head: processes the inner packet in a transaction. */
enum ftc_verdict {
    FTC_FORWARD,
    FTC_FILTER,                 /* Dropped by the middlebox: its logs still propagate. */
    FTC_REPLY,                  /* Turned into a reply to its sender (FTC_PKT_REPLY). */
};

struct ftc_mbox_class {
    const char *name;
    const char *summary;
    /* Its process() touches state only through ftc_tx_get()/ftc_tx_put() and is otherwise
     * reentrant: it may run on several threads at once (ftc_replica's 'threads'). */
    bool concurrent;
    /* 'index' is the middlebox's position in the chain. */
    int (*create)(unsigned index, const char *params, void **privp, char **errp);
    void (*destroy)(void *priv);
    /* May rewrite 'pkt' (a buf holding the inner packet). */
    enum ftc_verdict (*process)(void *priv, struct ftc_tx *, struct buf *pkt);
};

const struct ftc_mbox_class *ftc_mbox_find(const char *name);

/* Read-only views of an ftc_replica core (for its host's control socket): the store of
 * 'group' and its MAX vector, or NULL when this replica is not in the group or has not
 * recovered it; and whether every group is recovered. */
struct ft_core;
const struct nf_state *ftc_replica_store(const struct ft_core *, unsigned group,
                                         uint64_t max[FTC_MAX_PARTS], uint32_t *epoch);
bool ftc_replica_ready(const struct ft_core *);
/* What a replica did (for its host's counters): packets held behind a missing log, held now,
 * dropped because too many were held, retransmissions asked and answered, state images taken
 * to fill a gap its predecessor no longer had the logs for. */
struct ftc_replica_stats {
    uint64_t held, held_now, held_dropped, retx_asked, retx_answered, retx_got, resyncs;
    uint64_t held_us, held_us_max;      /* Time held, total and longest, of those released. */
    uint64_t ticks, retx_limited;
    uint64_t retx_parsed;       /* Retained logs read to answer retransmission requests. */
    uint64_t stashed, stash_dropped;    /* Out-of-order logs a tail kept (its packet went on). */
    uint64_t stash_reads;       /* Stashed logs read again to see whether they apply now. */
    uint64_t propagate_ended;   /* Propagating packets ended here, their commits sent on. */
    uint64_t log_allocs;        /* Buffers allocated for retained logs (pruned ones are reused). */
    uint64_t retained_now;      /* Logs retained now, all groups. */
    /* threads > 1: transactions committed, tries that a wound aborted, times a lock request
     * found the lock taken and waited, wounds given, batches run, and worker threads woken for
     * them (at most one fewer than a batch's transactions). */
    uint64_t txs, tx_aborts, tx_waits, tx_wounds, batches, tx_wakeups;
};
const struct ftc_replica_stats *ftc_replica_stats(const struct ft_core *);
/* A forwarder's admission: new packets shed because the buffer held too many, or too many
 * were on the way; propagating packets sent at once for the buffer's logs. */
struct ftc_forwarder_stats {
    uint64_t closed_backlog, closed_window, propagated;
    uint64_t propagated_idle;   /* Of those, at once for an idle or empty chain. */
    uint64_t propagated_carry;  /* Of those, after waiting for a data packet in vain. */
    uint64_t propagated_full;   /* Of those, for more logs than data packets took. */
    uint64_t counted_lost;      /* Data packets counted lost: sent long ago, not arrived. */
    uint64_t logs_dropped;      /* The buffer's logs thrown out (too many waiting, too big):
                                 * each a gap its tail repairs by retransmission. */
};
const struct ftc_forwarder_stats *ftc_forwarder_stats(const struct ft_core *);
/* New packets the forwarder would admit now, none shed (UINT64_MAX: no limit): a driver that
 * can leave packets where they came from (a socket's queue) reads no more than this, so the
 * core's shedding is only the fallback. Ages packets lost on the way, as admission does. */
uint64_t ftc_forwarder_room(struct ft_core *, uint64_t now);
/* How long the buffer held the packets it released, in total and at most. */
struct ftc_buffer_stats {
    uint64_t held_us, held_us_max;
    uint64_t commits_in;        /* FTC_MSG_COMMIT messages from tails. */
    uint64_t held_now;          /* Packets held now. */
};
const struct ftc_buffer_stats *ftc_buffer_stats(const struct ft_core *);

/* The 'stamp' middlebox (a Monitor whose counters can be audited from the packets alone): key
 * k = body[0] % keys of the demo message's body; a packet increments counter k and extends its
 * digest chain with the request id (read-only when body[1] % 8 == 0), filters when
 * (body[2] + index) % 13 == 0, and appends a stamp (index, k, write, count, digest before,
 * digest after) to the packet: inner = demo message | stamps | u8 n_stamps. */
#define FTC_STAMP_LEN 27
struct ftc_stamp {
    uint8_t mbox, key;
    bool write;
    uint64_t count, before, after;
};
/* Splits an inner packet of the stamp middlebox: false if malformed. */
bool ftc_stamps_parse(const uint8_t *inner, size_t len, size_t *demo_len,
                      struct ftc_stamp *stamps, size_t max, size_t *n);
uint64_t ftc_stamp_chain(uint64_t before, uint64_t req_id);

#endif
