/* ftvnf — FTvNF's protocol cores (Harchol, Hay, Orenstein, ANCS'18): an ID sequencer at the
 * chain's ingress, a packet logger, a determinant-and-progress (D&P) logger, a slaves'
 * progress logger, master and slave copies of every VNF, and the manager.
 *
 * Classes (vnfs/ft/registry.c; named ftvnf_* so they never clash with the demo `sequencer`):
 *  - ftvnf_sequencer: tags each packet from the client with a fresh 36-bit id (sequencer id 3
 *    bits | sequence 28 bits | version 5 bits; no 12-bit third is 0 or 4095, the VLAN
 *    reserved values the paper avoided), stores it in the packet logger and forwards it to the
 *    first master only once the logger acknowledged. A restarted sequencer (incarnation n)
 *    takes sequencer id base+n, so its ids never collide with the ones it gave before.
 *    next = [first master]; peers = [packet logger]. Params: sequencer_id, log.
 *
 * Logging on the path (param log=path, the default of the sequencer and the masters). What
 * must be logged before a packet goes on travels with the packet, through the loggers, as a
 * log carrier (below): the sequencer sends the packet to the packet logger, which stores it
 * and sends it on to the first master; a master sends its output to the D&P logger with its
 * D&P record (and, if it changed the packet, to the packet logger after it with the delta),
 * and the last logger sends it on to the next master. Storing is the acknowledgement: the
 * paper's rule (nothing goes on before the loggers have it) holds with one logger hop
 * instead of a round trip and a second wake-up of the sender. The last logger also feeds the
 * master's slave at once (param sync of the master): the slave replays within a hop of its
 * master, so M\S at a failure is what was in flight, whatever the manager's period. log=
 * messages is the paper's round trip (LOG_PKT / LOG_DP, ACK_PKT / ACK_DP); a packet whose
 * carrier would exceed 'carry_max' bytes goes that way too.
 *
 * Packets that touch no state. A master whose function read nothing non-deterministic,
 * wrote no state and left the packet as it was (the paper: "if no PADs were generated, the VNF
 * can forward the packet immediately") forwards it at once and logs its D&P record off the
 * path, as a message it sends again until acknowledged: the record is the packet's progress
 * (the manager's cleanup and resends need it), marked stateless, without an order number; a
 * slave needs nothing from it.
 *
 * Order numbers. Each D&P record has the master's order number (1, 2, ... per stage, kept by
 * a slave that takes over): a slave replays in that order whatever way each packet reached
 * it (fed on the path by either logger, or by the manager), holding what comes early. At a
 * takeover, gaps no record will fill (a record lost with its master) are skipped.
 *
 * Quick takeover. At a master's failure notice the manager, beside its round (poll the
 * loggers, send M\S and TAKEOVER), asks the D&P logger to tell the slave the highest order
 * number it logged for the stage (UPTO). A slave fed on the path that has replayed that far
 * (nothing held) takes over at once, a round trip sooner; otherwise the TAKEOVER decides.
 * Only with reforward 0 (masters logging on the path, whose loggers sent on all they logged).
 *  - ftvnf_packet_logger: base packets (version 0) and per-version deltas; acknowledges each;
 *    on the manager's order sends a stage's slave a packet at the version that stage received,
 *    with the PADs the manager took from the D&P logger; deletes what the manager says.
 *  - ftvnf_dp_logger: each master's record per packet: stage, id in, id out (version), the
 *    verdict, the order number and its PADs (vnfs/fn/det.h), in arrival order, which is also
 *    the packets' progress along the chain; acknowledges each; lists them; deletes what the
 *    manager says.
 *  - ftvnf_progress_logger: which packets each slave finished.
 *  - ftvnf_vnf: one copy of a VNF (a struct nf: nat, lb, fwd, ...), param role=master|slave.
 *    A master records its function's determinants, logs them (and the packet's delta if it
 *    changed the packet) and forwards only when both loggers acknowledged. A slave replays the
 *    packets the packet logger sends it with their PADs, forwards nothing, and reports each to
 *    the progress logger. On TAKEOVER it becomes master once it processed every packet its
 *    master finished (M\S), re-forwarding what it was told to.
 *    Unacknowledged log records are sent again every log_retry (50ms); re-forwarding after a
 *    takeover is paced (1 per ms). next = [next master or egress]; peers = [packet logger,
 *    D&P logger, progress logger, manager]. Params: role, stage, fn, fn.KEY=VALUE for the
 *    function, frame_offset (where the Ethernet frame starts in the payload), log_retry,
 *    report (tests: who gets the state digest after each packet), broken (tests), reply
 *    (where a reply goes, e.g. the SFF's reverse path; default: next), log (path|messages),
 *    sync (the slave the last logger feeds at once; none by default), order (a master's last
 *    order number given so far: one started in place of a master that died alone), carry_max, last (1:
 *    the chain's last stage).
 *  - ftvnf_manager: every 'manager_period' reads the loggers' new records, has the packet
 *    logger send each slave what its master finished (tracking what is in the air), deletes
 *    packets every master and slave finished. On a master's failure notice: the slave
 *    catches up on M\S and takes over; the upstream hop is rerouted to it; packets the dead
 *    master had received but not logged are resent to the new master from the packet logger.
 *    Datagrams get lost, so: a packet that reached a stage's input (the packet logger, or the
 *    previous stage's log) but not its log for 'resend' (100ms) is sent to the stage's master
 *    again from the packet logger (2000/s at most; masters drop copies by id); polls, TAKEOVER
 *    and ROUTE unanswered for 20 periods are redone. Stateless: a restarted manager rebuilds
 *    everything from the loggers.
 *    group = [sequencer, master 0..n-1, slave 0..n-1]; peers = [packet logger, D&P logger,
 *    progress logger]. Params: stages, manager_period, sync (1: masters feed their slaves on the
 *    path; a new slave is named to its master), retain (how long a finished packet
 *    stays, so a takeover can re-forward what a dead last master logged but never sent),
 *    reforward (1s: a takeover re-forwards records read that long before the failure notice
 *    or later; must exceed detection plus a period; 0: none, for masters that log on the
 *    path, whose loggers send on everything logged), resend (100ms), feed_after (0: a record
 *    is fed to the slave from the first round that reads it; with slaves fed on the path,
 *    only one that is still unfinished this long after it was read).
 *
 * A new slave (after a takeover, or in place of a dead slave; the paper's "lazily, another
 * slave VNF is launched"). The stage runs alone until the driver starts a copy with param
 * join=1 at one of the stage's two endpoints and gives the manager FT_EV_PEER_UP from it: the
 * manager stops deleting (so every record after the image stays) and feeds nobody. The driver
 * takes the master's image (ftvnf_vnf_image: the function's state, the determinants' sequence
 * numbers and the master's order number k, all at one packet boundary) and gives it to the
 * new slave as FT_EV_STATE; the slave imports it, counts every record of order <= k as done
 * (the image has it), replays the rest in order, and says JOINED to the manager (again every
 * log_retry until it is fed). The manager then feeds it like any slave and tells the master
 * (SYNC, param sync of the manager) to have its last logger feed it on the path. A second
 * failure of the master is then survived like the first. The paper has the manager save each
 * variable's last value as it deletes packets and set them in the new slave; the master's
 * image stands for that here (one export at a packet boundary, once per new slave, off the
 * packets' path).
 *
 * A master that dies with no slave (the stage alone, or its new slave still joining): no copy
 * holds the stage's state. The manager, told of it (FT_EV_PEER_DOWN from the master while
 * alone or joining), drops the joining slave and keeps the stage alone at the same endpoint;
 * the driver starts a master there with empty state (param order: the last order number the
 * manager read for the stage, so a later new slave's image skips every older record), and a
 * new slave after it. The function's state is lost (the paper saves each variable's last
 * value in the manager for this; not done here); the service goes on, and the packets the
 * dead master received but never logged are resent to the new one (the manager's repair).
 *
 * What is not here: heartbeats (failure notices are FT_EV_PEER_DOWN, from the driver's
 * detector). A packet that touches no state still gets a
 * D&P record, off its path (it is the packet's progress). With masters logging by messages,
 * nothing is logged after the last stage, so a takeover of the last stage re-forwards every
 * record not yet deleted and the egress drops copies by id. Loggers are assumed not to fail
 * (the paper's assumption); their persistence is the driver's (sfcd ftvnf --journal, sfcd
 * ft --journal): restarted, a logger rebuilds its core from its journal.
 *
 * Wire format, big-endian. A data packet between stages: id(8) payload. A log carrier: the
 * word FTVNF_CARRY | id(8), to(4) (where the last logger sends the packet; FT_ENDPOINT_NONE
 * for a dropped one), sync(4) (the slave the last logger feeds, or FT_ENDPOINT_NONE), n(1),
 * n x { logger(4) type(1) len(2) body } (LOG_BASE: id(8), the carried packet is the base;
 * LOG_PKT and LOG_DP as the messages' bodies), then id(8) payload: the packet as the master
 * received it (what its slave replays). Each logger stores the records for it (consecutive)
 * and sends the whole carrier to the next record's logger. The last sends on id(8) payload as
 * it is, or, with a LOG_PKT record, the payload with its delta applied at its id. A LOG_PKT
 * record for logger FT_ENDPOINT_NONE is applied, not stored: a version that leaves the chain
 * (a reply, or the last stage's output) is never replayed to anyone, so a master does not
 * wait for the packet logger to store it. Peer messages start with their type (enum
 * ftvnf_msg_type). The parsers take untrusted bytes. */
#ifndef SFC_FT_FTVNF_H
#define SFC_FT_FTVNF_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/cursor.h"
#include "vnfs/fn/det.h"

struct ft_core;

/* The 36-bit packet id. */
#define FTVNF_SEQUENCER_BITS 3
#define FTVNF_SEQUENCE_BITS 28
#define FTVNF_VERSION_BITS 5
#define FTVNF_ID_BITS 36
#define FTVNF_MAX_VERSION ((1u << FTVNF_VERSION_BITS) - 1)
#define FTVNF_MAX_STAGES 16
/* Unacknowledged log records sent again per retry tick, at most: a stall (a guest that did
 * not run for a while) must not turn every record in flight into a retry each tick, which
 * would swamp the loggers and lose more acknowledgements still. The rest go on later ticks
 * (each tick goes on where the last one stopped). */
#define FTVNF_RETRY_BATCH 64

static inline uint64_t
ftvnf_id_make(unsigned sequencer, uint32_t sequence, unsigned version)
{
    return ((uint64_t) (sequencer & 7) << 33) | ((uint64_t) (sequence & 0xfffffff) << 5)
           | (version & 31);
}
static inline unsigned ftvnf_id_sequencer(uint64_t id) { return (id >> 33) & 7; }
static inline uint32_t ftvnf_id_sequence(uint64_t id) { return (id >> 5) & 0xfffffff; }
static inline unsigned ftvnf_id_version(uint64_t id) { return id & 31; }
static inline uint64_t ftvnf_id_base(uint64_t id) { return id & ~(uint64_t) 31; }
/* Whether every 12-bit third (the paper's three VLAN ids) avoids 0 and 4095 at 'version'. */
bool ftvnf_id_vlan_ok(uint64_t id);

enum ftvnf_verdict {
    FTVNF_FORWARD = 0,
    FTVNF_DROPPED = 1,
    FTVNF_REPLY = 2,        /* Turned into a reply to its sender (dns): leaves to 'reply'. */
};

enum ftvnf_msg_type {
    FTVNF_LOG_PKT = 1,      /* -> packet logger: id(8) delta(1: 0 base, 1 delta) bytes. */
    FTVNF_ACK_PKT = 2,      /* packet logger ->: id(8). */
    FTVNF_LOG_DP = 3,       /* master -> D&P logger: record (see ftvnf_dp_put). */
    FTVNF_ACK_DP = 4,       /* D&P logger -> master: stage(1) id_in(8). */
    FTVNF_PROGRESS = 5,     /* slave -> progress logger: stage(1) id_in(8). */
    FTVNF_LIST_REQ = 6,     /* manager -> logger: cursor(8). */
    FTVNF_LIST = 7,         /* logger -> manager: cursor(8) next(8) more(1) n(2) records. */
    FTVNF_REPLAY = 8,       /* manager -> packet logger: to(4) stage(1) flags(1) n(2)
                             * n x { id_in(8) order(8) pads }. */
    FTVNF_SLAVE_PKT = 9,    /* logger -> slave: stage(1) flags(1) id_in(8) order(8) pads
                             * bytes. */
    FTVNF_DELETE = 10,      /* manager -> loggers: n(2) n x base id(8). */
    FTVNF_TAKEOVER = 11,    /* manager -> slave: stage(1) part(2) parts(2) n(2)
                             * n x { id_in(8) forward(1) }: one takeover in 'parts'
                             * messages (each within a frame); the slave takes over once it
                             * has every part and replayed what they list. */
    FTVNF_PROMOTED = 12,    /* slave -> manager: stage(1) when(8, ns): it took over. */
    FTVNF_ROUTE = 13,       /* manager -> upstream: stage(1) endpoint(4). */
    FTVNF_ROUTED = 14,      /* upstream -> manager: stage(1) endpoint(4). */
    FTVNF_LOG_BASE = 15,    /* Carrier record only: id(8); the carried packet is its base. */
    FTVNF_UPTO_REQ = 16,    /* manager -> D&P logger: stage(1) slave(4). */
    FTVNF_UPTO = 17,        /* D&P logger -> slave: stage(1) order(8): the highest order
                             * number it logged for the stage. */
    FTVNF_JOINED = 18,      /* new slave -> manager: stage(1) order(8): it imported its
                             * master's image taken at that order number. */
    FTVNF_SYNC = 19,        /* manager -> master: stage(1) slave(4): the slave its last
                             * logger feeds from now on (param sync). */
};

/* A new slave's image (ftvnf_vnf_image): "FVIM" stage(1) order(8): the master's order number
 * when it was taken, n(4) n x { var(8) seq(8) }: the determinants' last sequence number per
 * variable, then the function's state (state_export). */
#define FTVNF_IMAGE_MAGIC 0x4656494du
/* The image of master 'core' for a new slave into 'b'. EINVAL if 'core' is no ftvnf_vnf
 * master. */
int ftvnf_vnf_image(const struct ft_core *core, struct buf *b);

/* The log carrier (see the wire format above). */
#define FTVNF_CARRY (1ull << 56)
#define FTVNF_CARRY_MAX_RECS 4
/* A carrier's largest size by default: within one frame of a 1500-byte MTU with its NSH
 * header (sfcd ftvnf). Larger packets are logged by messages. */
#define FTVNF_CARRY_MAX_DEFAULT 1450

struct ftvnf_carry_rec {
    uint32_t logger;
    uint8_t type;           /* FTVNF_LOG_BASE, FTVNF_LOG_PKT or FTVNF_LOG_DP. */
    const uint8_t *body;    /* Points into the carrier. */
    size_t len;
};

struct ftvnf_carry {
    uint64_t id;            /* The packet's (without FTVNF_CARRY). */
    uint32_t to, sync;
    struct ftvnf_carry_rec recs[FTVNF_CARRY_MAX_RECS];
    size_t n_recs;
    const uint8_t *payload; /* Parsed: points into the carrier. */
    size_t len;
    size_t plain_ofs;       /* Parsed: where id(8) payload starts. */
};

void ftvnf_carry_put(struct buf *, const struct ftvnf_carry *);
/* False if malformed. */
bool ftvnf_carry_parse(const uint8_t *, size_t, struct ftvnf_carry *);

/* FTVNF_REPLAY / FTVNF_SLAVE_PKT flags. */
#define FTVNF_F_LIVE 1      /* Process as master (a packet in flight to a dead master). */

/* Records of a list, by logger. */
enum ftvnf_list_kind {
    FTVNF_LIST_PKT = 1,     /* base id(8) */
    FTVNF_LIST_DP = 2,      /* a D&P record */
    FTVNF_LIST_PROGRESS = 3,/* stage(1) id_in(8) */
};

/* A D&P record: stage(1) id_in(8) id_out(8) verdict(1) order(8) pads. The verdict's top bit
 * says the packet touched no state (FTVNF_DP_STATELESS). */
#define FTVNF_DP_HDR_LEN 26
#define FTVNF_DP_STATELESS 0x80

struct ftvnf_dp {
    uint8_t stage;
    uint64_t id_in, id_out;
    uint8_t verdict;
    uint64_t order;         /* The master's order number for the stage (0: none). */
    bool stateless;         /* No PADs, no state written, the packet left as it came: the
                             * master forwarded it at once and its slave never replays it. */
    struct nf_pad *pads;    /* Owned (malloc) when parsed. */
    size_t n_pads;
};

void ftvnf_dp_put(struct buf *, const struct ftvnf_dp *);
/* Bytes consumed, 0 if malformed. */
size_t ftvnf_dp_parse(const uint8_t *, size_t, struct ftvnf_dp *);

/* The manager's view of one stage, for the driver's controller (sfcd ftvnf's status). */
struct ftvnf_stage_info {
    const char *state;      /* "normal", "failing", "catchup", "routing", "inflight", "alone". */
    uint32_t master, slave; /* Endpoint ids (slave FT_ENDPOINT_NONE once promoted). */
    uint64_t failed_ns;     /* The failure notice's time (0: none). */
    uint64_t promoted_ns;   /* When the slave said it caught up and took over (0: not yet). */
    uint64_t catchup;       /* Packets in its last TAKEOVER (M\S and re-forwards). */
    uint64_t records;       /* D&P records the manager holds for it (its M). */
    uint64_t last_order;    /* The highest order number read from the stage's log. */
    uint64_t lost_ns;       /* When its master last died with no slave (0: never). */
};
/* False if 'core' is no ftvnf_manager or has no stage 'i'. */
bool ftvnf_manager_stage(const struct ft_core *core, size_t i, struct ftvnf_stage_info *);

/* Deltas between versions of a packet: newlen(4) n(2) n x { ofs(4) len(2) bytes }. */
void ftvnf_delta_make(struct buf *, const uint8_t *old, size_t old_len, const uint8_t *new_,
                      size_t new_len);
/* Applies 'delta' to 'b' in place. EINVAL if malformed or out of bounds. */
int ftvnf_delta_apply(struct buf *b, const uint8_t *delta, size_t len);

#endif
