/* nham — NHAM's protocol cores (vnfs/ft/nham) on real guests, as two sfcd roles. The cores are
 * the ones tests/sim checks; these roles only carry their events and actions over Ethernet
 * (through ftstage, vnfs/sfc/ftstage.h), so nothing of Hold/Release is written twice.
 *
 * `sfcd nham-sff` hosts the SFF's Hold/Release core (nham_sff) and the State Synchronizer with
 * its state database (nham_vsm) in one process on the SFF's guest: the VSM must see every
 * image before the SFF releases, and keeping it beside the SFF makes that a function call
 * instead of a network hop that could fail alone (the paper's VSM is one service too). An NSH
 * frame from the classifier enters the chain: the core stamps its counter id and holds it in
 * the first VNF's buffer_rx; DATA frames (ethertype NHAM_ETHERTYPE) go to the copy of each
 * VNF hop that said READY last, at its own MAC (before any READY, to the hop's *virtual* MAC,
 * which the orchestrator's OpenFlow rule maps to the port of its first copy). Not through the
 * virtual MAC after a failover: the switch acknowledges the FMS's change of that rule before
 * its datapath follows (OVS revalidates its cached flows on threads of its own, later), and
 * the replay after READY went to the failed copy for ~10 ms. The copy that said READY is the
 * one the core replays to: a READY of an earlier incarnation than the hop's is stale to the
 * core and moves nothing here either. The switch's rules stay for fencing (a falsely
 * suspected copy's frames are dropped at its port). What comes back from any copy of hop i
 * (known by its source MAC) is hop i's output. At the
 * end of the chain the DATA's payload, the NSH frame, is decapsulated toward --egress-mac; an
 * in-place reply (reverse path, NSH_SPI_REVERSE, see nsh.h: the last VNF answered, e.g. dns)
 * is decapsulated back toward its own destination, the client, as the plain SFF does, and a
 * frame its function dropped (SI 0, below) is released but not sent.
 * Control methods: nham_down {vnf} (the FMS's failure notice: hold everything for that hop
 * until its READY), nham_saved {vnf, epoch, counter} (backend vm: the host saved the hop's
 * whole guest with every packet up to 'counter' output; the VSM stores that as its checkpoint
 * and the SFF releases up to it) and nham_addressed {vnf} (the copy the hop's data goes to,
 * the incarnation whose READY chose it and when: the FMS times a takeover's steering by it).
 *
 * `sfcd nham-vnf` is one copy of the paper's VNF (the nham_vnf core: a stateful forwarder with
 * 'state_bytes' of state). Started active (incarnation 0), restarted (--incarnation N: it asks
 * the VSM for its last checkpoint, imports it and tells the SFF READY) or as a warm standby
 * (--standby: the process runs, the core does not until nham_activate {incarnation}). With
 * backend vm its guest is saved whole by the host and restored from that image: the process
 * comes back as it was then and nham_restored {incarnation} makes it the new incarnation, its
 * own state the checkpoint it restores (counter `last_counter`: what it has output, read by
 * the host before a save). It
 * beats every --beat-interval to the FMS (one message on a stream to the FMS's socket in its
 * guest's own directory, whose end tells the FMS of its death first; a datagram there if the
 * socket takes datagrams; or one UDP datagram from port 7071 of its management address) while
 * its data interface is up: a killed, frozen or cut-off VNF falls silent.
 * Counters `ready` (READYs sent) and `ready_ns` (CLOCK_MONOTONIC, which the host shares: its
 * first READY of its incarnation, the end of a recovery; a retry is not) say when it sent
 * READY; `data_first_ns`, when the first DATA frame reached it (the SFF sends the hop to it),
 * and `out_first_ns`, when it output its first packet (the hop
 * serves again): what the FMS records of a copy that took over; a standby's `activated_ns`
 * (nham_activate handled) and `hit_ns` (the SFF's HIT taken: its checkpoint confirmed) split
 * its takeover. With --fn it also runs the chain's function (vnfs/fn/nf.h) on
 * the inner frame of each output of its core: a reply (NF_REPLY) goes back on the reverse path
 * (SPI | NSH_SPI_REVERSE, SI 255), a drop keeps its DATA (the SFF must see the hop's output
 * to release it) with SI 0. A replayed output runs the function again (deterministic ones,
 * dns, give the same frame).
 *
 * Between the roles, below the cores (they do not see it): checkpoints travel as the changes
 * since the last image (CKDL), a hop's running standbys (--warm) get every stored image (WARM,
 * DELTA), and a restore they ask for is answered by a HIT instead of the image (see "Warm
 * standbys" below).
 *
 * Must not: decide anything the cores decide, or parse a DATA frame beyond what routing needs. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/loop.h"
#include "vnfs/lib/nsh.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/pktio.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf.h"
#include "vnfs/ft/nham/nham.h"
#include "vnfs/ft/nham/take.h"
#include "vnfs/sfc/ftstage.h"
#include "vnfs/sfc/nhamfrag.h"
#include "vnfs/sfc/hop.h"
#include "vnfs/sfc/role.h"
#include "vnfs/sfc/roles.h"

#define NHAM_ID_SFF 1
#define NHAM_ID_VSM 2
#define NHAM_ID_EGRESS 3
#define NHAM_ID_INGRESS 4
#define NHAM_ID_VNF(I) (100u + (uint32_t) (I))
#define NHAM_MAX_HOPS 64
#define NHAM_MAX_COPIES 16
#define NHAM_MAX_PARAMS 16
#define NHAM_FRAME_MAX 9216
#define NHAM_BEAT_PORT 7071
#define NHAM_BEAT_FD_MIN 512
struct nham_params {
    struct ft_param v[NHAM_MAX_PARAMS];
    size_t n;
};

static int
nham_param_add(struct nham_params *p, char *arg, const char *who)
{
    char *eq = strchr(arg, '=');

    if (!eq || eq == arg || p->n >= NHAM_MAX_PARAMS) {
        fprintf(stderr, "sfcd %s: --param: '%s' is not KEY=VALUE (at most %d)\n", who, arg,
                NHAM_MAX_PARAMS);
        return EINVAL;
    }
    *eq = '\0';                 /* argv outlives the role. */
    p->v[p->n++] = (struct ft_param) { arg, eq + 1 };
    return 0;
}

/* Builds a frame to 'dst' of 'ethertype' carrying 'data' into 'out' (NHAM_FRAME_MAX). */
static size_t
nham_frame(uint8_t *out, const uint8_t dst[6], const uint8_t src[6], uint16_t ethertype,
           const uint8_t *data, size_t len)
{
    if (HOP_ETH_LEN + len > NHAM_FRAME_MAX) {
        return 0;
    }
    hop_set_header(out, dst, src, ethertype);
    memcpy(out + HOP_ETH_LEN, data, len);
    return HOP_ETH_LEN + len;
}

/* Frames built while a batch is handled are queued (one sendmmsg per batch, as the other
 * roles send) from slots that stay put until the queue is flushed: pktio_queue() keeps the
 * pointer. A frame too long for a slot, or one built outside a batch, goes at once. */
#define NHAM_TX_SLOTS 256
#define NHAM_TX_SLOT 2048

struct nham_tx {
    uint8_t slots[NHAM_TX_SLOTS][NHAM_TX_SLOT];
    size_t used;
    bool in_batch;
};

/* The next free slot of a pool of 'n' slots of 'size' bytes at 'slots', '*used' of them
 * taken; NULL if they all are. */
static uint8_t *
nham_slot_try(uint8_t *slots, size_t size, size_t n, size_t *used)
{
    return *used < n ? slots + (*used)++ * size : NULL;
}

/* The same, but never NULL: a full pool's queue is flushed first. */
static uint8_t *
nham_slot_take(struct pktio *io, uint8_t *slots, size_t size, size_t n, size_t *used)
{
    if (*used == n) {
        pktio_flush(io);
        *used = 0;
    }
    return slots + (*used)++ * size;
}

/* The slot of that pool that 'p' points 'offset' bytes into, or NULL if none does. Compared
 * as addresses: 'p' may point into another object. */
static uint8_t *
nham_slot_of(uint8_t *slots, size_t size, size_t n, const uint8_t *p, size_t offset)
{
    uintptr_t at = (uintptr_t) p - (uintptr_t) slots;

    return ((uintptr_t) p >= (uintptr_t) slots && at < n * size && at % size == offset
            ? slots + (at - offset) : NULL);
}

/* The batch's next free slot. */
static uint8_t *
nham_tx_slot(struct pktio *io, struct nham_tx *tx)
{
    return nham_slot_take(io, tx->slots[0], NHAM_TX_SLOT, NHAM_TX_SLOTS, &tx->used);
}

/* Sends 'frame' ('len' bytes; 0: it could not be built). False on an error. */
static bool
nham_tx_out(struct pktio *io, struct nham_tx *tx, const uint8_t *frame, size_t len)
{
    uint8_t *slot;

    if (!len) {
        return false;
    }
    if (!tx->in_batch || len > NHAM_TX_SLOT) {
        return !pktio_send(io, frame, len);
    }
    slot = nham_tx_slot(io, tx);
    memcpy(slot, frame, len);
    pktio_queue(io, slot, len);
    return true;
}

/* A DATA frame to 'dst': built straight in the batch's next slot when it fits, not in
 * 'frame' first and then copied there (one copy of every packet at every hop less, on both
 * sides of each hop). False on an error. */
static bool
nham_tx_data(struct pktio *io, struct nham_tx *tx, uint8_t *frame, const uint8_t dst[6],
             const uint8_t *data, size_t len)
{
    uint8_t *slot;

    if (!tx->in_batch || HOP_ETH_LEN + len > NHAM_TX_SLOT) {
        return nham_tx_out(io, tx, frame, nham_frame(frame, dst, pktio_mac(io),
                                                      NHAM_ETHERTYPE, data, len));
    }
    slot = nham_tx_slot(io, tx);
    pktio_queue(io, slot, nham_frame(slot, dst, pktio_mac(io), NHAM_ETHERTYPE, data, len));
    return true;
}

/* The role flushed its queue after the wake-up's batches (role_serve_pktio()'s 'done'). */
static void
nham_tx_done(struct pktio *io, struct nham_tx *tx)
{
    pktio_flush(io);
    tx->used = 0;
}

/* Sends a sealed peer message to 'dst', in one frame or in fragments. What was queued goes
 * first: an image must arrive behind the output it includes. Returns false on a send error. */
static bool
nham_send_msg(struct pktio *io, struct nham_tx *tx, struct nham_frags *fr, uint8_t *frame,
              const uint8_t dst[6], const uint8_t *msg, size_t len)
{
    const uint8_t *src = pktio_mac(io);
    uint64_t id = ++fr->next_id;
    bool ok = true;

    nham_tx_done(io, tx);
    if (len <= NHAM_SINGLE_MAX) {
        return !pktio_send(io, frame, nham_frame(frame, dst, src, FTSTAGE_ETHERTYPE, msg, len));
    }
    for (size_t off = 0; off < len; off += NHAM_FRAG_CHUNK) {
        size_t n = MIN((size_t) NHAM_FRAG_CHUNK, len - off);

        hop_set_header(frame, dst, src, NHAM_FRAG_ETHERTYPE);
        nham_frag_header(frame + HOP_ETH_LEN, id, len, off);
        memcpy(frame + HOP_ETH_LEN + NHAM_FRAG_HDR, msg + off, n);
        ok &= !pktio_send(io, frame, HOP_ETH_LEN + NHAM_FRAG_HDR + n);
    }
    return ok;
}

/* Warm standbys (1R-AA, MR-AA): the SFF's role hands each image the VSM stored to the hop's
 * running copies other than the active one (WARM), so that a standby taking over has its
 * checkpoint already; when it asks the VSM for it, the role answers with a short HIT
 * instead of the image, and the standby's role rebuilds the VSM's very answer (the same
 * sealed message: key, sender, sequence number, epoch, image) from what it holds. The cores
 * are untouched: this only saves the transfer of the image at failover, the part of a
 * recovery that took 40-140 ms (hundreds of frames, one lost at a loaded switch port and the
 * whole image asked again). A standby that lacks the image ignores the HIT; its core asks
 * again and the role then sends the image itself. Both messages are sealed with the
 * instance's key (ftstage), from the VSM to the hop:
 *   WARM: "NHAMWARM" then the image, as the VSM stored it;
 *   DELTA: "NHAMDLTA" then the first NHAM_IMAGE_ID bytes of the image it applies to, the new
 *         image's length(4) and first NHAM_IMAGE_ID bytes, then runs (nham_delta_encode(): a
 *         packet changes a few bytes of a VNF's state, and a whole image per standby per
 *         checkpoint was the largest cost of MR-AA); a standby without that image, or whose
 *         result does not begin with the new one's id, drops what it held and asks for a
 *         whole one (WANT, below): the only whole images after the first. (The id names the
 *         state: nham_vnf's digest covers every packet it absorbed, in order, and its state
 *         bytes follow from them; a hash of each image cost more CPU than the images saved.);
 *   HIT:  "NHAMHIT!" seq(8) epoch(4) then the image's first NHAM_IMAGE_ID bytes (epoch,
 *         counter, count, digest: they name the state) and its length(4).
 * Checkpoints themselves travel the same way (incremental checkpoints): a copy's role sends
 * its core's image as CKDL, the changes since its last one, and the SFF's role rebuilds the
 * core's very message (sealed as the copy sealed it, with its sequence number) from the image
 * it got before; whole when the copy has none before, or when the SFF said it lacks the base
 * (BASE, below). Images of the paper's 512 KB, whole, of every VNF at 4 Hz, were what the
 * chain's packets queued behind (probes past a 50 ms deadline with no fault at all); one
 * whole in four still was 375 frames per VNF a second through the switch and two MAC passes
 * over 512 KB, for a base the SFF had. One the SFF cannot rebuild (its base was lost) is
 * dropped: that checkpoint is lost, Hold/Release keeps holding until the next, and the SFF
 * says BASE to the copy that sent it, whose next checkpoint goes whole (a BASE lost: the next
 * CKDL misses too, and the SFF says it again).
 *   CKDL: "NHAMCKDL" seq(8) of the core's message, then as DELTA.
 *   BASE: "NHAMBASE", from the SFF to the copy.
 * A standby with no image (just started, or a DELTA it could not apply) asks for a whole one:
 *   WANT: "NHAMWANT", from the hop to the SFF.
 * WARM and DELTA are sealed with no sequence number a receiver could order: what orders them
 * is the image they carry, named by its epoch and counter (nham_image_cmp()). A standby keeps
 * none older than the one it holds (nham_warm_take(): a replayed old WARM replaced its image,
 * a replayed old DELTA emptied it), nor does the SFF take a hop's checkpoint image or CKDL
 * older than the last one (nham_sff_stale()). */

/* The SFF's takeover (1R-AA, MR-AA; the paper's "no reconfiguration is required after a
 * failure, as users can simply access any replica in the group"): each standby keeps the
 * hop's last checkpoint applied as it arrives (the WARM and DELTA above) and says which one
 * it holds (ACK, sealed, vnfs/ft/nham/take.h, whose decisions the simulator checks: scenario
 * nham-take). On the FMS's word that the active copy's process died ("takeover VNF
 * INCARNATION MASK" on the SFF's control socket: the host's, no network peer can send it; MASK
 * the copies the FMS knows to run as standbys) the SFF itself picks one of them whose last ACK
 * names an image from which the replay of buffer_rx loses nothing (nham_take_choose(): the
 * hop's last saved checkpoint, or while the standbys' ACKs of that one are on their way, the
 * one before), and sends it, first and alone, a TAKE (sealed, to that standby's MAC), then,
 * behind it on the same socket, buffer_rx after that checkpoint, as to the hop's new
 * incarnation: the SFF's stage takes the standby's READY (that incarnation, the image's counter)
 * from the SFF's role itself, since the standby's ACK already said what READY would. No round trip
 * through the FMS, the VSM or the standby is on the way to the hop's first frame. The standby
 * takes a TAKE only as a standby, for its own MAC and nonce (a replayed one, or one from before
 * its process started, is nothing); if it holds that very image (or held it until the image
 * after it came) it becomes the incarnation at once from it, its core's READY kept to itself
 * (the SFF has stated it); if not (a newer image on its way, or an old one replayed to it), it
 * activates as the FMS would have it do, asks the VSM, and its own READY replays again from what
 * it restored (what the SFF sent before reached a recovering core, which dropped it). A standby
 * that never got the TAKE (lost) is activated by the FMS after a while, the same way. */
_Static_assert(NHAM_TAKE_ID == NHAM_IMAGE_ID, "a TAKE and an ACK name an image by its id");
#define NHAM_WANT_MAGIC "NHAMWANT"
#define NHAM_CKPT_DELTA_MAGIC "NHAMCKDL"
#define NHAM_BASE_MAGIC "NHAMBASE"
#define NHAM_HIT_MAGIC "NHAMHIT!"

/* The FMS's fast control path: a datagram socket bound at --control PATH (in the guest's own
 * directory, which only this guest and the host see), read by the role's loop. The host's
 * controller sends one-line commands there ("down I" and "takeover I N MASK" to the SFF,
 * "activate N" to a standby) instead of a call through the agent over the management
 * network: a recovery waits for no TCP round trip and no third process. No network peer can
 * send one (a man in the middle included). A command may carry more numbers (a sequence
 * number);
 * the answer, "ok REQUEST" (then " -> " and what the handler tells, if anything) or "error
 * REQUEST: why", goes back to the sender's address when it has one. The agent's methods stay
 * (the same handlers). */
struct nham_command_req {
    char cmd[32];
    long long args[4];          /* The numbers after the command (at least one). */
    int n_args;
    char info[96];              /* The handler's answer beyond "ok" ("": none). */
};

typedef int nham_control_cb(void *aux, struct nham_command_req *, char **errmsg);

struct nham_control {
    int fd;
    nham_control_cb *cb;
    void (*done)(void *aux);    /* Optional: after the commands of a wake-up were answered. */
    void *aux;
    char *path;
};

static void
nham_control_readable(struct loop *loop, int fd, uint32_t events, void *c_)
{
    struct nham_control *c = c_;

    for (int i = 0; i < 16; i++) {
        struct sockaddr_un from;
        socklen_t flen = sizeof from;
        char buf[128], reply[320];
        struct nham_command_req req = { .n_args = 0 };
        char *errmsg = NULL;
        ssize_t n = recvfrom(fd, buf, sizeof buf - 1, MSG_DONTWAIT, (struct sockaddr *) &from,
                             &flen);
        int error;

        if (n < 0) {
            break;
        }
        buf[n] = '\0';
        req.n_args = sscanf(buf, "%31s %lld %lld %lld %lld", req.cmd, &req.args[0],
                            &req.args[1], &req.args[2], &req.args[3]) - 1;
        if (req.n_args < 1) {
            error = EINVAL;
            errmsg = xstrdup("not COMMAND NUMBER...");
        } else {
            error = c->cb(c->aux, &req, &errmsg);
        }
        /* The request comes back in the answer: a late answer is not taken for the next. */
        if (error) {
            snprintf(reply, sizeof reply, "error %s: %s", buf, errmsg ? errmsg : strerror(error));
        } else {
            snprintf(reply, sizeof reply, "ok %s%s%s", buf, req.info[0] ? " -> " : "",
                     req.info);
        }
        free(errmsg);
        if (flen > sizeof(sa_family_t)) {
            sendto(fd, reply, strlen(reply), MSG_DONTWAIT, (struct sockaddr *) &from, flen);
        }
    }
    if (c->done) {
        c->done(c->aux);
    }
}

static int
nham_control_open(struct role *role, struct nham_control *c)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };

    if (!c->path) {
        return 0;
    }
    if (strlen(c->path) >= sizeof sun.sun_path) {
        log_err("%s: --control %s: path too long", role->name, c->path);
        return ENAMETOOLONG;
    }
    strcpy(sun.sun_path, c->path);
    unlink(c->path);
    c->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->fd < 0 || bind(c->fd, (struct sockaddr *) &sun, sizeof sun)
        || loop_add_fd(role->loop, c->fd, EPOLLIN, nham_control_readable, c)) {
        int error = errno;
        log_err("%s: --control %s: %s", role->name, c->path, strerror(error));
        return error;
    }
    return 0;
}

static void
nham_control_close(struct nham_control *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        if (c->path) {
            unlink(c->path);
        }
    }
}

/* ---- nham-sff ---- */

struct nham_hop_macs {
    uint8_t vmac[6];                    /* Where the SFF sends before any READY: OpenFlow
                                         * picks the copy. */
    uint8_t copies[NHAM_MAX_COPIES][6]; /* Whose output is this hop's. */
    size_t n_copies;
    bool addressed;                     /* A READY came: the hop's frames go to */
    size_t addressed_copy;              /* this copy, */
    uint32_t addressed_epoch;           /* which said READY as this incarnation, */
    uint64_t addressed_ns;              /* at this time (its first READY of it). */
    uint64_t sent_max;                  /* The highest counter id sent to it. */
    /* Warm standbys (--warm I): */
    bool warm;
    size_t active;                      /* The copy whose output came last. */
    struct buf stored;                  /* The image on its way to the VSM, */
    uint64_t stored_counter;
    bool has_stored;
    struct buf warmed;                  /* and the one the standbys were given last, */
    bool has_warmed;
    struct buf prev;                    /* and the one before (the SFF's takeover, below). */
    bool has_prev;
    size_t warm_active;                 /* The active copy then. */
    uint32_t hit_epoch;                 /* A HIT went to this incarnation (0: none), */
    unsigned n_hit_tries;               /* this many times. */
    struct buf vnf_last;                /* The last checkpoint image from the hop (CKDL's base). */
    struct buf vnf_delta;               /* The CKDL that made it, as a DELTA after its magic
                                         * (empty: none did): the standbys' DELTA when it
                                         * turns the image they hold into the one saved. */
    size_t src;                         /* The copy the message being handled came from. */
    bool has_src;
    size_t asker;                       /* The copy whose request the VSM answers. */
    bool has_asker;
    /* The SFF's takeover (above): */
    uint64_t saved;                     /* The last saved checkpoint the SFF's stage was told
                                         * of (its counter): buffer_rx is released up to it. */
    struct ftstage_msg deferred;        /* The VSM's word that 'warmed' is saved, kept from the
                                         * stage until a standby says it holds it
                                         * (nham_take_defer()); 'payload' is ours. */
    bool has_deferred;
    uint64_t saved_deferred;            /* Its counter, */
    uint64_t deferred_ns;               /* and since when. */
    struct nham_take_ack acks[NHAM_MAX_COPIES];     /* Per copy: the image it said it holds. */
};

/* A peer message between the two local stages, handed over after the step that made it (a
 * stage must not be re-entered while it runs its actions). */
struct nham_local_msg {
    struct ftstage_msg m;       /* Unsealed: it never leaves the process. 'payload' is ours. */
};

struct nham_sff_role {
    struct role role;
    struct nham_hop_macs hops[NHAM_MAX_HOPS];
    size_t n_hops;
    uint8_t egress_mac[6];
    uint8_t key[FTSTAGE_KEY_LEN];
    struct nham_params params;
    struct ftstage *sff, *vsm;
    struct nham_local_msg *local;
    size_t n_local, cap_local;
    bool draining;
    struct nham_tx tx;
    struct nham_frags frags;
    struct nham_control control;
    uint8_t frame[NHAM_FRAME_MAX];
    uint64_t n_ingress, n_egress, n_from_vnfs, n_peer, n_malformed, n_ignored, n_unknown_src;
    uint64_t n_stamp_mismatch, n_send_errors, n_downs, n_reverse, n_replies, n_fn_drops;
    uint64_t n_warm_sent, n_warm_deltas, n_hits, n_misses, n_ckpt_deltas, n_ckpt_delta_misses;
    uint64_t n_resent, n_readdressed, n_stale_images;
    uint64_t peer_usec, peer_max_us;    /* Wall time in peer messages' steps (checkpoints). */
    uint64_t n_acks, n_takeovers, n_takeovers_refused, n_unaddressed, n_realtime;
    uint64_t take_seq;                  /* The last TAKE's sequence number. */
    size_t n_deferred;                  /* Hops with a word kept from the stage. */
    bool raised;                        /* A takeover came: the FMS may have made this
                                         * process real-time for it. */
    struct buf warm_msg;
    bool any_warm;
    /* Admission (--window): see nham_sff_entry_readable(). */
    unsigned window;
    struct pktio *entry_io;
    bool entry_open;
    uint64_t n_left, n_window_closed;
};

static void
nham_sff_out(struct nham_sff_role *s, size_t len)
{
    if (!nham_tx_out(s->role.io, &s->tx, s->frame, len)) {
        s->n_send_errors++;
    }
}

/* The end of the chain: the NSH frame the DATA carries, decapsulated toward the egress. */
static void
nham_sff_egress(struct nham_sff_role *s, const uint8_t *data, size_t len)
{
    struct nham_data d;
    struct nsh_hdr hdr;
    size_t inner_len;
    uint8_t *out;

    if (!nham_data_parse(data, len, &d)
        || nsh_decode(d.payload, d.payload_len, &hdr, NULL)
        || hdr.next_proto != NSH_NP_ETHERNET || d.payload_len < hdr.len + HOP_ETH_LEN) {
        s->n_malformed++;
        return;
    }
    /* Every VNF stamps its packet count: in a chain that lost and repeated nothing, each
     * equals the counter id (a state that skipped or replayed a packet shows here). */
    for (size_t i = 0; i < d.n_stamps; i++) {
        if (d.stamps[i] != d.counter) {
            s->n_stamp_mismatch++;
            break;
        }
    }
    inner_len = d.payload_len - hdr.len;
    if (inner_len > NHAM_FRAME_MAX) {
        s->n_malformed++;
        return;
    }
    if (hdr.si == 0) {
        s->n_fn_drops++;            /* The VNF's function dropped it (nham-vnf --fn). */
        return;
    }
    /* Built where it is queued when it fits a slot (one copy of every packet less). */
    out = s->tx.in_batch && inner_len <= NHAM_TX_SLOT ? nham_tx_slot(s->role.io, &s->tx)
                                                      : s->frame;
    memcpy(out, d.payload + hdr.len, inner_len);
    if (hdr.spi & NSH_SPI_REVERSE) {
        /* An in-place reply: its function turned the addresses around, back to the client. */
        hop_set_macs(out, out, pktio_mac(s->role.io));
        s->n_replies++;
    } else {
        hop_set_macs(out, s->egress_mac, pktio_mac(s->role.io));
        s->n_egress++;
    }
    if (out != s->frame) {
        pktio_queue(s->role.io, out, inner_len);
    } else {
        nham_sff_out(s, inner_len);
    }
}

static void nham_sff_window_update(struct nham_sff_role *);

/* Where the SFF sends hop 'h''s frames: the copy that said READY last, else the virtual MAC. */
static const uint8_t *
nham_sff_hop_dst(const struct nham_hop_macs *h)
{
    return h->addressed ? h->copies[h->addressed_copy] : h->vmac;
}

static void
nham_sff_forward(void *s_, uint32_t to, const uint8_t *data, size_t len)
{
    struct nham_sff_role *s = s_;

    if (to == NHAM_ID_EGRESS) {
        /* The core passes each counter id to the egress exactly once: it left the chain. */
        s->n_left++;
        nham_sff_egress(s, data, len);
        nham_sff_window_update(s);
    } else if (to >= NHAM_ID_VNF(0) && to < NHAM_ID_VNF(s->n_hops)) {
        struct nham_hop_macs *h = &s->hops[to - NHAM_ID_VNF(0)];

        /* A counter id sent to the hop before: a replay after a recovery, or go-back-N. */
        if (len >= 13 && data[0] == NHAM_DATA) {
            uint64_t counter = get_be64(data + 5);

            if (counter <= h->sent_max) {
                s->n_resent++;
            } else {
                h->sent_max = counter;
            }
        }
        if (!nham_tx_data(s->role.io, &s->tx, s->frame, nham_sff_hop_dst(h), data, len)) {
            s->n_send_errors++;
        }
    } else {
        s->n_send_errors++;
    }
}

static void nham_sff_drain(struct nham_sff_role *);

/* Seals 'payload' (after 'magic') as a message of the VSM to hop 'i', in s->warm_msg. */
static void
nham_sff_seal(struct nham_sff_role *s, size_t i, uint64_t seq, enum ft_event_kind kind,
              const uint8_t *payload, size_t len)
{
    struct ftstage_msg m = { .from = NHAM_ID_VSM, .to = NHAM_ID_VNF(i), .seq = seq,
                             .kind = kind, .payload = payload, .len = len };

    buf_clear(&s->warm_msg);
    ftstage_msg_seal(&s->warm_msg, s->key, &m);
}

static void nham_sff_local(struct nham_sff_role *, const struct ftstage_msg *, bool copy);

/* True when the CKDL that made hop 'h''s last image turns the image its standbys hold into the
 * one stored (both named by their first NHAM_IMAGE_ID bytes, which name a state: nhamfrag.h). */
static bool
nham_sff_delta_fits(const struct nham_hop_macs *h)
{
    const uint8_t *d = h->vnf_delta.data;

    return h->vnf_delta.len >= 2 * NHAM_IMAGE_ID + 4
           && !memcmp(d, h->warmed.data, NHAM_IMAGE_ID)
           && get_be32(d + NHAM_IMAGE_ID) == h->stored.len
           && !memcmp(d + NHAM_IMAGE_ID + 4, h->stored.data, NHAM_IMAGE_ID);
}

/* The VSM's word that hop 'i''s checkpoint is saved, kept from the SFF's stage (nham_sff_watch()),
 * goes to it now: buffer_rx is released up to it once the stage has it (nham_sff_drain()). */
static void
nham_sff_undefer(struct nham_sff_role *s, size_t i)
{
    struct nham_hop_macs *h = &s->hops[i];
    struct nham_ctl c;

    if (!h->has_deferred) {
        return;
    }
    if (nham_ctl_parse(h->deferred.payload, h->deferred.len, &c)) {
        h->saved = c.counter;
    }
    h->has_deferred = false;
    s->n_deferred--;
    nham_sff_local(s, &h->deferred, false);
}

/* A message between the local stages: an image on its way to the VSM is kept, and once the
 * VSM says it stored it, it goes to the hop's standbys. That word is kept from the SFF's stage
 * while no standby said it holds the image (nham_take_defer(); see "The SFF's takeover"): true
 * then, and the caller does not hand it over. */
static bool
nham_sff_watch(struct nham_sff_role *s, const struct ftstage_msg *mp)
{
    struct ftstage_msg m = *mp;
    struct nham_ctl c;
    struct nham_hop_macs *h;

    /* Only the VSM's small messages: the image it saved is the hop's last one
     * (nham_sff_from_hop() keeps it), when its counter is the one saved. */
    if (!s->any_warm || m.len > NHAM_SINGLE_MAX
        || m.kind != FT_EV_PEER_MSG || m.from != NHAM_ID_VSM
        || !nham_ctl_parse(m.payload, m.len, &c) || c.type != NHAM_CKPT_SAVED
        || c.vnf >= s->n_hops || !s->hops[c.vnf].warm) {
        return false;
    }
    h = &s->hops[c.vnf];
    nham_sff_undefer(s, c.vnf);         /* The one before goes first. */
    if (h->vnf_last.len >= 12 && get_be64(h->vnf_last.data + 4) == c.counter) {
        buf_clear(&h->stored);
        buf_put(&h->stored, h->vnf_last.data, h->vnf_last.len);
        h->has_stored = true;
        h->stored_counter = c.counter;
    }
    if (h->has_stored && c.counter == h->stored_counter) {
        struct buf b = BUF_INITIALIZER;

        bool delta = false;

        /* A failover since the last image: the failed copy comes back as a standby with
         * nothing; it gets a whole one. */
        if (h->has_warmed && h->warmed.len == h->stored.len && h->stored.len >= NHAM_IMAGE_ID
            && h->warm_active == h->active) {
            buf_put(&b, NHAM_DELTA_MAGIC, NHAM_MAGIC_LEN);
            if (nham_sff_delta_fits(h)) {
                /* The checkpoint's own CKDL: the copy that took it found its runs, and a
                 * second search here read 1 MB per hop and checkpoint in the SFF. */
                buf_put(&b, h->vnf_delta.data, h->vnf_delta.len);
                delta = true;
            } else {
                buf_put(&b, h->warmed.data, NHAM_IMAGE_ID);
                buf_put_be32(&b, h->stored.len);
                buf_put(&b, h->stored.data, NHAM_IMAGE_ID);
                delta = nham_delta_encode(h->warmed.data, h->stored.data, h->stored.len,
                                          h->stored.len / 4, &b) > 0;
            }
        }
        if (delta) {
            s->n_warm_deltas++;
        } else {
            buf_clear(&b);
            buf_put(&b, NHAM_WARM_MAGIC, NHAM_MAGIC_LEN);
            buf_put(&b, h->stored.data, h->stored.len);
        }
        /* The stored image is the standbys' now, and the one they had is kept as the one
         * before: handed over, not copied (512 KB per hop and checkpoint, in the SFF, the
         * chain's busiest process). */
        struct buf t = h->prev;
        h->prev = h->warmed;
        h->has_prev = h->has_warmed;
        h->warmed = h->stored;
        h->stored = t;
        buf_clear(&h->stored);
        h->warm_active = h->active;
        h->has_warmed = true;
        h->has_stored = false;
        nham_sff_seal(s, c.vnf, 0, FT_EV_PEER_MSG, b.data, b.len);
        buf_uninit(&b);
        for (size_t k = 0; k < h->n_copies; k++) {
            if (k != h->active) {
                s->n_warm_sent++;
                if (!nham_send_msg(s->role.io, &s->tx, &s->frags, s->frame, h->copies[k],
                                   s->warm_msg.data, s->warm_msg.len)) {
                    s->n_send_errors++;
                }
            }
        }
        if (nham_take_defer(h->acks, h->n_copies, h->active, h->warmed.data,
                            h->warmed.len)) {
            uint8_t *copy = xmalloc(m.len ? m.len : 1);

            memcpy(copy, m.payload, m.len);
            h->deferred = m;
            h->deferred.payload = copy;
            h->has_deferred = true;
            h->saved_deferred = c.counter;
            h->deferred_ns = time_mono_ns();
            s->n_deferred++;
            return true;
        }
    }
    h->saved = c.counter;       /* buffer_rx is released up to it (at most). */
    return false;
}

/* Where the VSM's answers to hop 'h' go: the copy that asked, straight to its MAC. Not through
 * the hop's virtual MAC: for a while after the FMS re-points it (tens of milliseconds on a
 * loaded machine), the switch's cached datapath flows still send it to the failed copy, and
 * an answer lost there cost a retry. */
static const uint8_t *
nham_sff_asker(const struct nham_hop_macs *h)
{
    return h->has_asker ? h->copies[h->asker] : h->vmac;
}

/* The VSM's answer to hop 'i''s restore request: a HIT instead, up to twice per incarnation, when
 * the image is the one its standbys were given. True when sent so. */
static bool
nham_sff_hit(struct nham_sff_role *s, size_t i, const uint8_t *msg, size_t len)
{
    struct nham_hop_macs *h = &s->hops[i];
    uint8_t hit[NHAM_MAGIC_LEN + 8 + 4 + NHAM_IMAGE_ID + 4];
    struct ftstage_msg m;
    uint32_t epoch;

    if (!h->warm || !h->has_warmed
        || ftstage_msg_open_max(msg, len, s->key, NHAM_MAX_MESSAGE, &m)
        || m.kind != FT_EV_STATE || m.from != NHAM_ID_VSM || m.len < 4 + NHAM_IMAGE_ID) {
        return false;
    }
    epoch = get_be32(m.payload);
    if ((epoch == h->hit_epoch && h->n_hit_tries >= 2) || m.len - 4 != h->warmed.len
        || memcmp(m.payload + 4, h->warmed.data, h->warmed.len)) {
        /* Asked a third time after HITs (the standby lacks the image; one HIT may be lost or
         * late on a loaded machine), or another image. */
        s->n_misses += epoch == h->hit_epoch;
        return false;
    }
    h->n_hit_tries = epoch == h->hit_epoch ? h->n_hit_tries + 1 : 1;
    h->hit_epoch = epoch;
    memcpy(hit, NHAM_HIT_MAGIC, NHAM_MAGIC_LEN);
    put_be64(hit + NHAM_MAGIC_LEN, m.seq);
    put_be32(hit + NHAM_MAGIC_LEN + 8, epoch);
    memcpy(hit + NHAM_MAGIC_LEN + 12, m.payload + 4, NHAM_IMAGE_ID);
    put_be32(hit + NHAM_MAGIC_LEN + 12 + NHAM_IMAGE_ID, h->warmed.len);
    nham_sff_seal(s, i, 0, FT_EV_PEER_MSG, hit, sizeof hit);
    s->n_hits++;
    if (!nham_send_msg(s->role.io, &s->tx, &s->frags, s->frame, nham_sff_asker(h),
                       s->warm_msg.data, s->warm_msg.len)) {
        s->n_send_errors++;
    }
    return true;
}

/* Queues 'msg' between the local stages, its payload copied ('copy') or handed over. */
static void
nham_sff_local(struct nham_sff_role *s, const struct ftstage_msg *msg, bool copy)
{
    struct nham_local_msg *m;

    if (s->n_local >= s->cap_local) {
        s->local = x2nrealloc(s->local, &s->cap_local, sizeof *s->local);
    }
    m = &s->local[s->n_local++];
    m->m = *msg;
    if (copy) {
        uint8_t *p = xmalloc(msg->len ? msg->len : 1);

        memcpy(p, msg->payload, msg->len);
        m->m.payload = p;
    }
}

/* A message between the two local stages (SFF and VSM), unsealed: queued, handed over after
 * the step that made it. Others are sealed and go on the wire. */
static bool
nham_sff_send_unsealed(void *s_, const struct ftstage_msg *msg)
{
    struct nham_sff_role *s = s_;

    if (msg->to != NHAM_ID_SFF && msg->to != NHAM_ID_VSM) {
        return false;
    }
    if (!nham_sff_watch(s, msg)) {
        nham_sff_local(s, msg, true);
    }
    return true;
}

static bool
nham_sff_send(void *s_, uint32_t to, const uint8_t *msg, size_t len)
{
    struct nham_sff_role *s = s_;

    if (to == NHAM_ID_SFF || to == NHAM_ID_VSM) {
        /* Sealed although local (no send_unsealed): opened here once. */
        struct ftstage_msg m;

        return !ftstage_msg_open_max(msg, len, s->key, NHAM_MAX_MESSAGE, &m)
               && nham_sff_send_unsealed(s, &m);
    }
    if (to < NHAM_ID_VNF(0) || to >= NHAM_ID_VNF(s->n_hops)) {
        return false;
    }
    if (!nham_send_msg(s->role.io, &s->tx, &s->frags, s->frame,
                       nham_sff_hop_dst(&s->hops[to - NHAM_ID_VNF(0)]), msg, len)) {
        s->n_send_errors++;
    }
    return true;
}

/* The VSM stage's messages: to a VNF, an answer to its restore request (to the copy that
 * asked); to the SFF, local. */
static bool
nham_vsm_send(void *s_, uint32_t to, const uint8_t *msg, size_t len)
{
    struct nham_sff_role *s = s_;
    size_t i = to - NHAM_ID_VNF(0);

    if (to < NHAM_ID_VNF(0) || to >= NHAM_ID_VNF(s->n_hops)) {
        return nham_sff_send(s_, to, msg, len);
    }
    if (len > NHAM_SINGLE_MAX && nham_sff_hit(s, i, msg, len)) {
        return true;
    }
    if (!nham_send_msg(s->role.io, &s->tx, &s->frags, s->frame, nham_sff_asker(&s->hops[i]),
                       msg, len)) {
        s->n_send_errors++;
    }
    return true;
}

static void
nham_sff_note(void *s_, const char *text)
{
    log_info("nham-sff: %s", text);
}

/* A CKDL of hop 'i' could not be rebuilt: BASE to the copy that sent it, so that its next
 * checkpoint comes whole. */
static void
nham_sff_base_lost(struct nham_sff_role *s, size_t i)
{
    struct nham_hop_macs *h = &s->hops[i];
    struct ftstage_msg m = { .from = NHAM_ID_SFF, .to = NHAM_ID_VNF(i), .kind = FT_EV_PEER_MSG,
                             .payload = (const uint8_t *) NHAM_BASE_MAGIC,
                             .len = NHAM_MAGIC_LEN };

    s->n_ckpt_delta_misses++;
    buf_clear(&s->warm_msg);
    ftstage_msg_seal(&s->warm_msg, s->key, &m);
    if (!nham_send_msg(s->role.io, &s->tx, &s->frags, s->frame,
                       h->has_src ? h->copies[h->src] : h->vmac,
                       s->warm_msg.data, s->warm_msg.len)) {
        s->n_send_errors++;
    }
}

/* Copy 'copy' of hop 'i' said READY as incarnation 'epoch' (its message authentic): the
 * hop's frames go to it from now on, before its READY reaches the SFF's stage, whose replay
 * must go there too. One of an earlier incarnation than the hop's is stale to the stage, and
 * moves nothing; nor does the hop's own READY from another copy's MAC (one incarnation is one
 * copy: a frame replayed with a forged source). */
static void
nham_sff_address(struct nham_sff_role *s, size_t i, size_t copy, uint32_t epoch, uint64_t now)
{
    struct nham_hop_macs *h = &s->hops[i];

    if (h->addressed && (epoch < h->addressed_epoch
                         || (epoch == h->addressed_epoch && copy != h->addressed_copy))) {
        return;
    }
    if (!h->addressed || epoch != h->addressed_epoch) {
        h->addressed_ns = now;      /* Its READY again (a retry) is not a new steering. */
        s->n_readdressed++;
    }
    nham_take_ack_active(&h->acks[copy]);
    h->addressed = true;
    h->addressed_copy = copy;
    h->addressed_epoch = epoch;
}

/* True when 'image' (its first 'len' bytes) is older than the hop's last checkpoint image (an
 * authentic message replayed, or a failed incarnation's late one): it must not become the base
 * of the hop's next CKDL, and the stage has a newer one. */
static bool
nham_sff_stale(struct nham_sff_role *s, const struct nham_hop_macs *h, const uint8_t *image,
               size_t len)
{
    if (len < NHAM_IMAGE_ID || h->vnf_last.len < NHAM_IMAGE_ID
        || nham_image_cmp(image, h->vnf_last.data) >= 0) {
        return false;
    }
    s->n_stale_images++;
    return true;
}

/* A message of copy 'copy' of hop 'i' to the SFF, opened once here: a whole checkpoint image
 * is kept (the base of the next CKDL) and handed to the SFF's stage as opened (true); a READY
 * addresses the hop to that copy, before the stage takes it (false); a WANT is answered
 * (true); a CKDL is rebuilt into the copy's image message and handed to the stage, or dropped
 * when its base is not the one kept (true); anything else goes on (false). */
static bool
nham_sff_from_hop(struct nham_sff_role *s, size_t i, size_t copy, const uint8_t *msg,
                  size_t len, uint64_t t_in)
{
    struct nham_hop_macs *h = &s->hops[i];
    const size_t hdr = 8 + NHAM_IMAGE_ID + 4 + NHAM_IMAGE_ID;
    struct ftstage_msg m;
    struct nham_ctl c;
    const uint8_t *p;

    if (ftstage_msg_open_max(msg, len, s->key, NHAM_MAX_MESSAGE, &m)
        || m.from != NHAM_ID_VNF(i)) {
        return false;
    }
    if (m.kind == FT_EV_STATE) {
        if (nham_sff_stale(s, h, m.payload, m.len)) {
            return true;
        }
        /* Opened once: the stage takes it as it is. */
        buf_clear(&h->vnf_last);
        buf_put(&h->vnf_last, m.payload, m.len);
        buf_clear(&h->vnf_delta);
        ftstage_peer_message_opened(s->sff, &m, FT_ENDPOINT_NONE, t_in);
        return true;
    }
    if (m.kind == FT_EV_PEER_MSG && nham_ctl_parse(m.payload, m.len, &c)
        && c.type == NHAM_READY) {
        nham_sff_address(s, i, copy, c.epoch, t_in);
        return false;
    }
    if (m.kind == FT_EV_PEER_MSG && nham_take_is_ack(m.payload, m.len)) {
        /* A standby holds this image now (the SFF's takeover, above); not one older than the
         * last it said (a replayed one, which would name an image it no longer holds). */
        if (nham_take_ack_update(&h->acks[copy], m.seq, m.payload, m.len)) {
            s->n_acks++;
            if (h->has_deferred
                && nham_take_ack_names(&h->acks[copy], h->warmed.data, h->warmed.len)) {
                nham_sff_undefer(s, i);     /* Handed over by the caller's drain. */
            }
        }
        return true;
    }
    if (m.kind == FT_EV_PEER_MSG && m.len == NHAM_MAGIC_LEN
        && !memcmp(m.payload, NHAM_WANT_MAGIC, NHAM_MAGIC_LEN)) {
        /* A standby without an image: the last one it should hold, whole, to it alone. */
        h->acks[copy].valid = false;
        if (h->warm && h->has_warmed && h->has_src) {
            struct buf b = BUF_INITIALIZER;

            buf_put(&b, NHAM_WARM_MAGIC, NHAM_MAGIC_LEN);
            buf_put(&b, h->warmed.data, h->warmed.len);
            nham_sff_seal(s, i, 0, FT_EV_PEER_MSG, b.data, b.len);
            buf_uninit(&b);
            s->n_warm_sent++;
            if (!nham_send_msg(s->role.io, &s->tx, &s->frags, s->frame, h->copies[h->src],
                               s->warm_msg.data, s->warm_msg.len)) {
                s->n_send_errors++;
            }
        }
        return true;
    }
    if (m.kind != FT_EV_PEER_MSG || m.len < NHAM_MAGIC_LEN
        || memcmp(m.payload, NHAM_CKPT_DELTA_MAGIC, NHAM_MAGIC_LEN)) {
        return false;
    }
    p = m.payload + NHAM_MAGIC_LEN;
    if (m.len - NHAM_MAGIC_LEN >= hdr
        && nham_sff_stale(s, h, p + 8 + NHAM_IMAGE_ID + 4, NHAM_IMAGE_ID)) {
        return true;
    }
    if (m.len - NHAM_MAGIC_LEN >= hdr && h->has_warmed && h->warmed.len >= NHAM_IMAGE_ID
        && (h->vnf_last.len < NHAM_IMAGE_ID
            || memcmp(p + 8, h->vnf_last.data, NHAM_IMAGE_ID))
        && !memcmp(p + 8, h->warmed.data, NHAM_IMAGE_ID)) {
        /* A standby that took over: its first checkpoint is the change since the image it
         * was given (and restored), not since the failed copy's last. */
        buf_clear(&h->vnf_last);
        buf_put(&h->vnf_last, h->warmed.data, h->warmed.len);
    } else if (m.len - NHAM_MAGIC_LEN >= hdr && h->has_prev && h->prev.len >= NHAM_IMAGE_ID
               && (h->vnf_last.len < NHAM_IMAGE_ID
                   || memcmp(p + 8, h->vnf_last.data, NHAM_IMAGE_ID))
               && !memcmp(p + 8, h->prev.data, NHAM_IMAGE_ID)) {
        /* One that took over from the image before (its ACK of the last was on its way). */
        buf_clear(&h->vnf_last);
        buf_put(&h->vnf_last, h->prev.data, h->prev.len);
    }
    if (m.len - NHAM_MAGIC_LEN < hdr || h->vnf_last.len < NHAM_IMAGE_ID
        || get_be32(p + 8 + NHAM_IMAGE_ID) != h->vnf_last.len
        || memcmp(p + 8, h->vnf_last.data, NHAM_IMAGE_ID)) {
        /* Not the base it applies to (a whole one was lost): this checkpoint is lost. */
        nham_sff_base_lost(s, i);
        return true;
    }
    if (!nham_delta_apply(h->vnf_last.data, h->vnf_last.len, p + hdr,
                          m.len - NHAM_MAGIC_LEN - hdr)
        || memcmp(h->vnf_last.data, p + 8 + NHAM_IMAGE_ID + 4, NHAM_IMAGE_ID)) {
        /* It did not rebuild the image it claims: the base is spoiled, and so is this. */
        buf_clear(&h->vnf_last);
        nham_sff_base_lost(s, i);
        return true;
    }
    buf_clear(&h->vnf_delta);
    if (h->warm) {
        buf_put(&h->vnf_delta, p + 8, m.len - NHAM_MAGIC_LEN - 8);
    }
    /* The copy's very message, rebuilt from what its authenticated CKDL says: handed to the
     * stage as opened (sealing it only to check the seal again cost two MAC passes over the
     * whole image). The step does not touch vnf_last. */
    struct ftstage_msg im = { .from = m.from, .to = NHAM_ID_SFF, .seq = get_be64(p),
                              .kind = FT_EV_STATE, .payload = h->vnf_last.data,
                              .len = h->vnf_last.len };
    s->n_ckpt_deltas++;
    ftstage_peer_message_opened(s->sff, &im, FT_ENDPOINT_NONE, t_in);
    return true;
}

/* Hands the local messages over, oldest first, until none is left. */
static void
nham_sff_drain(struct nham_sff_role *s)
{
    size_t i = 0;

    if (s->draining) {
        return;
    }
    s->draining = true;
    for (i = 0; i < s->n_local; i++) {
        struct nham_local_msg m = s->local[i];
        struct ftstage *st = m.m.to == NHAM_ID_SFF ? s->sff : s->vsm;

        ftstage_peer_message_opened(st, &m.m, FT_ENDPOINT_NONE, time_mono_ns());
        free((uint8_t *) m.m.payload);
    }
    s->n_local = 0;
    s->draining = false;
}

static int
nham_sff_hop_of_src(const struct nham_sff_role *s, const uint8_t *src, size_t *copyp)
{
    for (size_t i = 0; i < s->n_hops; i++) {
        for (size_t c = 0; c < s->hops[i].n_copies; c++) {
            if (!memcmp(s->hops[i].copies[c], src, 6)) {
                if (copyp) {
                    *copyp = c;
                }
                return i;
            }
        }
    }
    return -1;
}

static void
nham_sff_frame(void *s_, struct pktio_pkt *pkt, uint64_t t_in)
{
    struct nham_sff_role *s = s_;
    const uint8_t *own = pktio_mac(s->role.io);
    const uint8_t *body = pkt->data + HOP_ETH_LEN;
    size_t len = pkt->len - HOP_ETH_LEN;
    uint64_t t_peer = 0;
    uint16_t type;
    int hop;

    if (pkt->len < HOP_ETH_LEN || memcmp(pkt->data, own, 6)) {
        s->n_ignored++;
        return;
    }
    s->tx.in_batch = true;
    type = hop_ethertype(pkt->data);
    if (type == NSH_ETHERTYPE) {
        struct nsh_hdr hdr;

        if (nsh_decode(body, len, &hdr, NULL)) {
            s->n_malformed++;
        } else if (hdr.spi & NSH_SPI_REVERSE) {
            s->n_reverse++;         /* Nothing of this chain answers on the reverse path. */
        } else {
            s->n_ingress++;
            ftstage_packet(s->sff, NHAM_ID_INGRESS, body, len, t_in);
        }
    } else if (type == NHAM_ETHERTYPE) {
        size_t copy = 0;

        hop = nham_sff_hop_of_src(s, pkt->data + 6, &copy);
        if (hop < 0) {
            s->n_unknown_src++;
        } else if (s->hops[hop].addressed && copy != s->hops[hop].addressed_copy) {
            /* Not the copy the hop's frames go to: a replaced one (a falsely suspected copy
             * that woke up, before its fence) has no say in the hop's output. */
            s->n_unaddressed++;
        } else {
            s->hops[hop].active = copy;     /* Its output: the warm images go elsewhere. */
            s->n_from_vnfs++;
            ftstage_packet(s->sff, NHAM_ID_VNF(hop), body, len, t_in);
        }
    } else if (type == FTSTAGE_ETHERTYPE || type == NHAM_FRAG_ETHERTYPE) {
        uint32_t to;

        t_peer = time_mono_ns();

        if (type == NHAM_FRAG_ETHERTYPE) {
            body = nham_frag_add(&s->frags, pkt->data + 6, body, len, &len);
            if (!body) {
                goto done;
            }
        }
        s->n_peer++;
        if (!ftstage_msg_peek_to(body, len, &to)) {
            s->n_malformed++;
        } else {
            size_t copy;
            int from_hop = nham_sff_hop_of_src(s, pkt->data + 6, &copy);

            if (to == NHAM_ID_VSM && from_hop >= 0) {
                /* A restore request: the answer goes back to this copy. */
                s->hops[from_hop].asker = copy;
                s->hops[from_hop].has_asker = true;
            }
            if (to == NHAM_ID_SFF && from_hop >= 0) {
                s->hops[from_hop].src = copy;
                s->hops[from_hop].has_src = true;
                if (nham_sff_from_hop(s, from_hop, copy, body, len, t_in)) {
                    goto done;
                }
            }
            ftstage_peer_message(to == NHAM_ID_VSM ? s->vsm : s->sff, body, len, t_in);
        }
    } else {
        s->n_ignored++;
    }
done:
    nham_sff_drain(s);
    if (t_peer) {
        t_peer = (time_mono_ns() - t_peer) / 1000;
        s->peer_usec += t_peer;
        s->peer_max_us = MAX(s->peer_max_us, t_peer);
    }
}

static void
nham_sff_frames_done(void *s_)
{
    struct nham_sff_role *s = s_;

    if (s->n_deferred) {
        /* A word kept from the stage no longer than NHAM_TAKE_DEFER_NS: a standby that died
         * does not answer, and buffer_rx holds on meanwhile. */
        uint64_t now = time_mono_ns();

        for (size_t i = 0; i < s->n_hops; i++) {
            if (s->hops[i].has_deferred && now - s->hops[i].deferred_ns >= NHAM_TAKE_DEFER_NS) {
                nham_sff_undefer(s, i);
            }
        }
        nham_sff_drain(s);
    }
    nham_tx_done(s->role.io, &s->tx);
    s->tx.in_batch = false;
}

/* Admission (--window N), as the plain SFF's (sfcd sff --window): with the sender flat out on
 * one shared CPU, the client's flood and the chain's own frames (the VNFs' outputs, their
 * checkpoint images) shared one socket queue, and its overflow dropped both alike. Each lost
 * output stalled its hop until the go-back-N timer, each lost fragment lost a checkpoint (and
 * buffer_rx stayed held until the next one), and buffer_rx filled up with new packets the
 * chain had no time for. So new packets (NSH frames at a path's entry) arrive on a socket of
 * their own, read after the chain's socket is drained and only while fewer than N packets
 * are in the chain (given a counter id and not yet out of it). The excess waits, and is
 * dropped, in that socket's queue: before it has a counter id, a loss at the chain's door
 * like the core's own overload drop. Nothing Hold/Release does changes: an admitted packet
 * is held and released as before. */
#define NHAM_WINDOW_HYSTERESIS PKTIO_BATCH

/* Packets with a counter id that have not left the chain. */
static uint64_t
nham_sff_in_chain(const struct nham_sff_role *s)
{
    uint64_t refused = s->sff ? ftstage_stats(s->sff)->drops[FT_DROP_OVERLOAD] : 0;
    uint64_t admitted = s->n_ingress - refused;

    return admitted > s->n_left ? admitted - s->n_left : 0;
}

static void
nham_sff_window_set_open(struct nham_sff_role *s, bool open)
{
    if (s->entry_open != open
        && !loop_mod_fd(s->role.loop, pktio_fd(s->entry_io), open ? EPOLLIN : 0)) {
        s->entry_open = open;
        s->n_window_closed += !open;
    }
}

/* A packet left the chain: the entry socket is read again once there is room for a batch. */
static void
nham_sff_window_update(struct nham_sff_role *s)
{
    if (s->entry_io && !s->entry_open
        && nham_sff_in_chain(s) + NHAM_WINDOW_HYSTERESIS <= s->window) {
        nham_sff_window_set_open(s, true);
    }
}

/* The entry socket: the chain's own frames first (role->io drained), then as many new ones
 * as the window has room for, a batch at most. */
static void
nham_sff_entry_readable(struct loop *loop, int fd, uint32_t events, void *s_)
{
    struct nham_sff_role *s = s_;
    struct pktio_pkt pkts[PKTIO_BATCH];
    uint64_t in_chain;
    size_t n = 0;

    role_drain_pktio(&s->role, 8);
    in_chain = nham_sff_in_chain(s);
    if (in_chain < s->window
        && !pktio_recv_batch(s->entry_io, pkts, MIN(s->window - in_chain, PKTIO_BATCH), &n)) {
        uint64_t t_in = time_mono_ns();

        for (size_t i = 0; i < n; i++) {
            nham_sff_frame(s, &pkts[i], t_in);
        }
    }
    nham_sff_frames_done(s);
    if (nham_sff_in_chain(s) >= s->window) {
        nham_sff_window_set_open(s, false);
    }
}

static int
nham_sff_window_create(struct nham_sff_role *s)
{
    int error;

    error = pktio_open_entries(s->role.io, &s->entry_io);
    if (!error) {
        error = loop_add_fd(s->role.loop, pktio_fd(s->entry_io), EPOLLIN,
                            nham_sff_entry_readable, s);
    }
    if (error) {
        log_err("nham-sff: entry socket on %s: %s", pktio_name(s->role.io), strerror(error));
        return error;
    }
    s->entry_open = true;
    role_add_drops_counter(&s->role, "entry_rx_dropped", s->entry_io);
    role_add_counter(&s->role, "window_closed", &s->n_window_closed);
    return 0;
}

/* The FMS's failure notice for hop 'vnf': hold everything for it until its READY. */
static int
nham_sff_down(struct nham_sff_role *s, long long vnf, char **errmsg)
{
    if (vnf < 0 || (size_t) vnf >= s->n_hops) {
        *errmsg = xasprintf("nham_down: params need \"vnf\" in 0..%zu", s->n_hops - 1);
        return EINVAL;
    }
    s->n_downs++;
    ftstage_peer_down(s->sff, NHAM_ID_VNF(vnf), time_mono_ns());
    nham_sff_drain(s);
    return 0;
}

static int
nham_sff_ctl_down(void *role_, json_t *params, json_t **result, char **errmsg)
{
    struct nham_sff_role *s = ((struct role *) role_)->aux;
    json_t *vnf = json_object_get(params, "vnf");
    int error;

    error = nham_sff_down(s, json_is_integer(vnf) ? json_integer_value(vnf) : -1, errmsg);
    if (!error) {
        *result = json_pack("{s:b}", "ok", 1);
    }
    return error;
}

/* Backend vm: the host saved hop 'vnf''s whole guest when its VNF, incarnation 'epoch', had
 * output every packet up to 'counter'. The VSM stores that as the hop's checkpoint (an image
 * with no state: the state is the guest's, on the host) and says so to the SFF, which
 * releases buffer_rx up to it, as for an image the VNF sent. */
static int
nham_sff_saved(struct nham_sff_role *s, long long vnf, long long epoch, long long counter,
               char **errmsg)
{
    uint8_t image[32];
    struct buf b = BUF_INITIALIZER;
    uint64_t saved0 = ftstage_stats(s->vsm)->sent;
    int error;

    if (vnf < 0 || (size_t) vnf >= s->n_hops || epoch < 0 || epoch >= UINT32_MAX
        || counter < 0) {
        *errmsg = xasprintf("nham_saved: params need \"vnf\" in 0..%zu, \"epoch\" and "
                            "\"counter\" >= 0", s->n_hops - 1);
        return EINVAL;
    }
    memset(image, 0, sizeof image);
    put_be32(image, epoch);
    put_be64(image + 4, counter);
    nham_ctl_put(&b, &(struct nham_ctl) { .type = NHAM_CKPT_STORE, .vnf = vnf, .epoch = epoch,
                                          .counter = counter, .image = image,
                                          .image_len = sizeof image });
    error = ftstage_state(s->vsm, NHAM_ID_SFF, b.data, b.len, time_mono_ns());
    buf_uninit(&b);
    nham_sff_drain(s);
    if (error) {
        *errmsg = xasprintf("nham_saved: %s", strerror(error));
    } else if (ftstage_stats(s->vsm)->sent == saved0) {
        /* Refused as stale: an older incarnation's, or below what is stored. */
        *errmsg = xasprintf("nham_saved: the VSM did not store it (stale)");
        error = ESTALE;
    }
    return error;
}

static int
nham_sff_ctl_saved(void *role_, json_t *params, json_t **result, char **errmsg)
{
    struct nham_sff_role *s = ((struct role *) role_)->aux;
    json_t *vnf = json_object_get(params, "vnf"), *epoch = json_object_get(params, "epoch");
    json_t *counter = json_object_get(params, "counter");
    int error;

    error = nham_sff_saved(s, json_is_integer(vnf) ? json_integer_value(vnf) : -1,
                           json_is_integer(epoch) ? json_integer_value(epoch) : -1,
                           json_is_integer(counter) ? json_integer_value(counter) : -1, errmsg);
    if (!error) {
        *result = json_pack("{s:b}", "ok", 1);
    }
    return error;
}

/* Where hop 'vnf''s frames go: {addressed: false} before any READY (its virtual MAC), else
 * {addressed: true, copy, epoch, ns}: the copy (its index in --hop), the incarnation whose
 * READY chose it and when that READY arrived (CLOCK_MONOTONIC). */
static int
nham_sff_ctl_addressed(void *role_, json_t *params, json_t **result, char **errmsg)
{
    struct nham_sff_role *s = ((struct role *) role_)->aux;
    json_t *vnf = json_object_get(params, "vnf");
    const struct nham_hop_macs *h;
    json_int_t i = json_is_integer(vnf) ? json_integer_value(vnf) : -1;

    if (i < 0 || (size_t) i >= s->n_hops) {
        *errmsg = xasprintf("nham_addressed: params need \"vnf\" in 0..%zu", s->n_hops - 1);
        return EINVAL;
    }
    h = &s->hops[i];
    *result = h->addressed ? json_pack("{s:b, s:I, s:I, s:I}", "addressed", 1,
                                       "copy", (json_int_t) h->addressed_copy,
                                       "epoch", (json_int_t) h->addressed_epoch,
                                       "ns", (json_int_t) h->addressed_ns)
                           : json_pack("{s:b}", "addressed", 0);
    return 0;
}

/* The FMS raises the SFF and the standbys it may choose just before it sends a takeover
 * (testbed/schemes/nham_ctl.c, nham_rt_raise()): their wake-ups then wait for no normal
 * process. Once its part is done (the SFF: the takeover answered; the standby: its
 * TAKE handled) each is a normal process again, its data path and the rest of its work as
 * before (counted in 'n': the takeovers handled so). A process the FMS did not raise stays
 * as it is. */
static void
nham_realtime_drop(uint64_t *n)
{
    if (sched_getscheduler(0) != SCHED_FIFO) {
        return;
    }
    if (sched_setscheduler(0, SCHED_OTHER, &(struct sched_param) { 0 })) {
        log_err("nham: cannot drop the real-time priority: %s", strerror(errno));
    } else {
        (*n)++;
    }
}

/* The SFF, raised by the FMS for a takeover, moves itself within its real-time priorities
 * (vnfs/ft/nham/take.h): up to the standbys' while it handles the command, and back down to
 * its own once its TAKE is out, for the replay behind it, which the standby that got the
 * TAKE, on the same CPU, preempts (nham_rt_raise() says why). A normal process stays one. */
static void
nham_realtime_move(int priority)
{
    if (sched_getscheduler(0) == SCHED_FIFO) {
        sched_setscheduler(0, SCHED_FIFO, &(struct sched_param) { .sched_priority = priority });
    }
}

/* The SFF's takeover of hop 'vnf' (see "The SFF's takeover" above): its active copy died,
 * one of the standbys in 'mask' becomes incarnation 'inc' at the hop's last saved checkpoint
 * and the replay of buffer_rx after it goes to it at once. Tells "copy K ns T rx R replayed P"
 * in 'info' (R: when it began to handle the command): the copy chosen, when its TAKE was
 * handed to the socket (T, CLOCK_MONOTONIC as the send begins: the send itself carries the
 * frame through the host's veth and may be preempted, and a copy was seen to act on its TAKE
 * before the send returned) and when the replay behind it was (P). T is the paper's update of
 * the group: from then on the hop's frames go to that copy. ENOENT when no standby is known
 * to hold that checkpoint (none acknowledged it yet, or the last saved one never reached the
 * standbys): the FMS activates one itself then, as before. */
static int
nham_sff_takeover(struct nham_sff_role *s, long long vnf, long long inc, long long mask,
                  char *info, size_t info_len, char **errmsg)
{
    struct nham_hop_macs *h;
    struct nham_take_hop th;
    struct buf ready = BUF_INITIALIZER, take = BUF_INITIALIZER;
    uint64_t counter, sent_ns, replayed_ns, rx_ns = time_mono_ns();
    const char *why;
    size_t k;
    int error;

    if (vnf < 0 || (size_t) vnf >= s->n_hops) {
        *errmsg = xasprintf("takeover: needs VNF in 0..%zu", s->n_hops - 1);
        return EINVAL;
    }
    h = &s->hops[vnf];
    th = (struct nham_take_hop) {
        .warmed = h->warm && h->has_warmed ? h->warmed.data : NULL,
        .warmed_len = h->warmed.len,
        .prev = h->warm && h->has_prev ? h->prev.data : NULL, .prev_len = h->prev.len,
        .saved = h->saved,
        .addressed = h->addressed, .addressed_epoch = h->addressed_epoch,
        .acks = h->acks, .n_copies = h->n_copies,
    };
    error = nham_take_choose(&th, inc, mask, &k, &counter, &why);
    if (error) {
        s->n_takeovers_refused += error == ENOENT;
        *errmsg = xasprintf("takeover: incarnation %lld: %s", inc, why);
        return error;
    }
    nham_take_put(&take, &th, k, inc, h->copies[k]);
    if (h->has_deferred && counter < h->saved_deferred) {
        /* From the image before: the stage must not release what the new incarnation has
         * still to process (a frame of the replay lost on the way is sent again from
         * buffer_rx); its own checkpoints release. */
        free((uint8_t *) h->deferred.payload);
        h->has_deferred = false;
        s->n_deferred--;
    }
    s->take_seq = MAX(time_mono_ns(), s->take_seq + 1);
    buf_clear(&s->warm_msg);
    ftstage_msg_seal(&s->warm_msg, s->key, &(struct ftstage_msg) {
        .from = NHAM_ID_SFF, .to = NHAM_ID_VNF(vnf), .seq = s->take_seq,
        .kind = FT_EV_PEER_MSG, .payload = take.data, .len = take.len });
    buf_uninit(&take);
    /* The TAKE goes to the socket alone and first, then the replay the stage sends once it
     * has the copy's READY (to the copy addressed), in batches behind it on the same socket:
     * the standby wakes while the replay is queued. In one batch with the replay, the TAKE
     * waited in the queue until the first PKTIO_BATCH frames were there, and the batch's
     * handing took 0.25-1.7 ms once the replay was a checkpoint interval of packets (~120 of
     * 1 KB at 500/s: how many depends on when in the interval the copy died). */
    sent_ns = time_mono_ns();
    if (pktio_send(s->role.io, s->frame,
                   nham_frame(s->frame, h->copies[k], pktio_mac(s->role.io), FTSTAGE_ETHERTYPE,
                              s->warm_msg.data, s->warm_msg.len))) {
        s->n_send_errors++;
    }
    nham_realtime_move(NHAM_RT_SFF);
    s->tx.in_batch = true;
    nham_sff_address(s, vnf, k, inc, sent_ns);
    h->active = k;              /* Not a standby now: no warm image goes to it. */
    nham_ctl_put(&ready, &(struct nham_ctl) { .type = NHAM_READY, .epoch = inc,
                                              .counter = counter });
    ftstage_local_message(s->sff, NHAM_ID_VNF(vnf), ready.data, ready.len, time_mono_ns());
    buf_uninit(&ready);
    nham_sff_drain(s);
    nham_sff_frames_done(s);
    replayed_ns = time_mono_ns();
    h->addressed_ns = sent_ns;
    s->n_takeovers++;
    snprintf(info, info_len, "copy %zu ns %"PRIu64" rx %"PRIu64" replayed %"PRIu64, k, sent_ns,
             rx_ns, replayed_ns);
    return 0;
}

static void
nham_sff_control_done(void *s_)
{
    struct nham_sff_role *s = s_;

    if (s->raised) {
        s->raised = false;
        nham_realtime_drop(&s->n_realtime);
    }
}

static int
nham_sff_control(void *s_, struct nham_command_req *req, char **errmsg)
{
    struct nham_sff_role *s = s_;

    if (!strcmp(req->cmd, "takeover")) {
        s->raised = true;
        nham_realtime_move(NHAM_RT_STANDBY);
    }
    if (!strcmp(req->cmd, "takeover") && req->n_args >= 3) {
        return nham_sff_takeover(s_, req->args[0], req->args[1], req->args[2], req->info,
                                 sizeof req->info, errmsg);
    }
    if (strcmp(req->cmd, "down")) {
        *errmsg = xasprintf("unknown command '%s'", req->cmd);
        return EINVAL;
    }
    return nham_sff_down(s_, req->args[0], errmsg);
}

/* The stages exist once the loop does (their timers live on it). */
static int
nham_sff_on_start(struct role *role)
{
    static const struct ftstage_ops ops = {
        .forward = nham_sff_forward, .send = nham_sff_send, .note = nham_sff_note,
        .send_unsealed = nham_sff_send_unsealed,
    };
    static const struct ftstage_ops vsm_ops = {
        .forward = nham_sff_forward, .send = nham_vsm_send, .note = nham_sff_note,
        .send_unsealed = nham_sff_send_unsealed,
    };
    struct nham_sff_role *s = role->aux;
    uint32_t next[NHAM_MAX_HOPS], peers[2] = { NHAM_ID_VSM, NHAM_ID_EGRESS }, sff = NHAM_ID_SFF;
    uint64_t base = time_mono_ns();
    char *errmsg = NULL;
    int error;

    for (size_t i = 0; i < s->n_hops; i++) {
        next[i] = NHAM_ID_VNF(i);
    }
    struct ftstage_config c_sff = {
        .class = ft_core_class_find("nham_sff"),
        .core = { .self = NHAM_ID_SFF, .next = next, .n_next = s->n_hops, .peers = peers,
                  .n_peers = 2, .params = s->params.v, .n_params = s->params.n },
        .key = s->key, .loop = role->loop, .seq_base = base, .max_payload = NHAM_MAX_MESSAGE,
    };
    struct ftstage_config c_vsm = {
        .class = ft_core_class_find("nham_vsm"),
        .core = { .self = NHAM_ID_VSM, .group = next, .n_group = s->n_hops, .peers = &sff,
                  .n_peers = 1, .params = s->params.v, .n_params = s->params.n },
        .key = s->key, .loop = role->loop, .seq_base = base, .max_payload = NHAM_MAX_MESSAGE,
    };
    error = ftstage_create(&c_sff, &ops, s, &s->sff, &errmsg);
    if (!error) {
        error = ftstage_create(&c_vsm, &vsm_ops, s, &s->vsm, &errmsg);
    }
    if (error) {
        log_err("nham-sff: %s", errmsg ? errmsg : strerror(error));
        free(errmsg);
        return error;
    }
    ftstage_start(s->sff, base);
    ftstage_start(s->vsm, base);
    nham_sff_drain(s);
    error = nham_control_open(role, &s->control);
    if (!error && s->window) {
        error = nham_sff_window_create(s);
    }
    if (error) {
        return error;
    }
    /* Names live as long as the process. */
    const struct ftstage_stats *st = ftstage_stats(s->sff);
    role_add_counter(role, "held_overflow", &st->drops[FT_DROP_OVERLOAD]);
    role_add_counter(role, "duplicates_suppressed", &st->drops[FT_DROP_DUPLICATE]);
    role_add_counter(role, "stale", &st->drops[FT_DROP_STALE]);
    role_add_counter(role, "peer_forged", &st->peer_forged);
    role_add_counter(role, "notes", &st->notes);
    role_add_counter(role, "checkpoints_saved", &ftstage_stats(s->vsm)->sent);
    return 0;
}

/* "VMAC=MAC+MAC+..." */
static bool
nham_parse_hop(char *arg, struct nham_hop_macs *h)
{
    char *eq = strchr(arg, '='), *save = NULL, *tok;

    if (!eq) {
        return false;
    }
    *eq = '\0';
    if (!pktio_parse_mac(arg, h->vmac)) {
        return false;
    }
    for (tok = strtok_r(eq + 1, "+", &save); tok; tok = strtok_r(NULL, "+", &save)) {
        if (h->n_copies >= NHAM_MAX_COPIES || !pktio_parse_mac(tok, h->copies[h->n_copies])) {
            return false;
        }
        h->n_copies++;
    }
    return h->n_copies > 0;
}

static void
nham_sff_usage(void)
{
    printf("usage: sfcd nham-sff --iface IF --key FILE --hop VMAC=MAC+MAC... [--hop ...]\n"
           "                     --egress-mac MAC [--param K=V...]\n"
           "  --hop VMAC=MACS  a VNF of the chain, in order: the virtual MAC the SFF sends to\n"
           "                   until a copy says READY, and the MACs of its copies (whose\n"
           "                   output is this hop's; the one that said READY last gets its\n"
           "                   frames)\n"
           "  --egress-mac MAC destination of decapsulated frames at the chain's end\n"
           "  --key FILE       the instance's key for peer messages (mode 0600)\n"
           "  --param K=V      a parameter of nham_sff and nham_vsm (buffer_bytes,\n"
           "                   checkpoint, checkpoint.<i>)\n"
           "  --control PATH   the FMS's fast path: a datagram socket for \"down I\"\n"
           "  --warm I         hop I's standbys run (1R-AA, MR-AA): give them each stored\n"
           "                   image, so that a failover needs no transfer of it\n"
           "  --window N       admit new packets only while fewer than N are in the chain,\n"
           "                   after the chain's own frames (0: no admission, the default)\n"
           ROLE_COMMON_USAGE);
}

int
role_nham_sff(int argc, char *argv[])
{
    static const struct option options[] = {
        { "hop", required_argument, NULL, 'H' },
        { "egress-mac", required_argument, NULL, 'e' },
        { "key", required_argument, NULL, 'K' },
        { "param", required_argument, NULL, 'P' },
        { "control", required_argument, NULL, 'C' },
        { "warm", required_argument, NULL, 'W' },
        { "window", required_argument, NULL, 'w' },
        { "help", no_argument, NULL, 'h' },
        ROLE_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    static struct nham_sff_role s;     /* Large: not on the stack. */
    long warm[NHAM_MAX_HOPS];
    size_t n_warm = 0;
    bool have_key = false, have_egress = false;
    char *errmsg = NULL;
    int opt, rc = 2;

    memset(&s, 0, sizeof s);
    role_init_common(&s.role, "nham-sff");
    s.role.aux = &s;
    s.control = (struct nham_control) { .fd = -1, .cb = nham_sff_control,
                                         .done = nham_sff_control_done, .aux = &s };
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'H':
            if (s.n_hops >= NHAM_MAX_HOPS || !nham_parse_hop(optarg, &s.hops[s.n_hops])) {
                fprintf(stderr, "sfcd nham-sff: --hop: not VMAC=MAC+MAC... (at most %d hops "
                        "of %d copies)\n", NHAM_MAX_HOPS, NHAM_MAX_COPIES);
                goto out;
            }
            s.n_hops++;
            break;
        case 'e':
            if (!pktio_parse_mac(optarg, s.egress_mac)) {
                fprintf(stderr, "sfcd nham-sff: --egress-mac: '%s' is not a MAC\n", optarg);
                goto out;
            }
            have_egress = true;
            break;
        case 'K':
            if (ftstage_key_load(optarg, s.key, &errmsg)) {
                fprintf(stderr, "sfcd nham-sff: --key: %s\n", errmsg);
                goto out;
            }
            have_key = true;
            break;
        case 'P':
            if (nham_param_add(&s.params, optarg, "nham-sff")) {
                goto out;
            }
            break;
        case 'C':
            s.control.path = optarg;
            break;
        case 'W': {
            char *end;
            long i = strtol(optarg, &end, 10);
            if (!*optarg || *end || i < 0 || i >= NHAM_MAX_HOPS || n_warm >= NHAM_MAX_HOPS) {
                fprintf(stderr, "sfcd nham-sff: --warm: '%s' is not a hop index\n", optarg);
                goto out;
            }
            warm[n_warm++] = i;
            break;
        }
        case 'w': {
            char *end;
            unsigned long w = strtoul(optarg, &end, 10);
            if (!*optarg || *end || (w && w < NHAM_WINDOW_HYSTERESIS * 2) || w > 65536) {
                fprintf(stderr, "sfcd nham-sff: --window: '%s' is not 0 or %d..65536\n",
                        optarg, NHAM_WINDOW_HYSTERESIS * 2);
                goto out;
            }
            s.window = w;
            break;
        }
        default:
            if (role_parse_option(&s.role, opt, optarg, nham_sff_usage, &rc)) {
                goto out;
            }
        }
    }
    if (!s.role.iface || !s.n_hops || !have_key || !have_egress || optind != argc) {
        fprintf(stderr, "sfcd nham-sff: --iface, --key, --egress-mac and at least one --hop "
                "are required\n");
        goto out;
    }
    for (size_t k = 0; k < n_warm; k++) {
        if ((size_t) warm[k] >= s.n_hops) {
            fprintf(stderr, "sfcd nham-sff: --warm %ld: the chain has %zu hops\n", warm[k],
                    s.n_hops);
            goto out;
        }
        s.hops[warm[k]].warm = true;
        s.any_warm = true;
    }
    rc = 1;
    if (role_open_pktio(&s.role, false)) {
        goto out;
    }
    role_add_counter(&s.role, "warm_images_sent", &s.n_warm_sent);
    role_add_counter(&s.role, "stale_images", &s.n_stale_images);
    role_add_counter(&s.role, "warm_deltas", &s.n_warm_deltas);
    role_add_counter(&s.role, "checkpoint_deltas", &s.n_ckpt_deltas);
    role_add_counter(&s.role, "checkpoint_delta_misses", &s.n_ckpt_delta_misses);
    role_add_counter(&s.role, "warm_hits", &s.n_hits);
    role_add_counter(&s.role, "warm_misses", &s.n_misses);
    role_add_counter(&s.role, "resent", &s.n_resent);
    role_add_counter(&s.role, "readdressed", &s.n_readdressed);
    role_add_counter(&s.role, "standby_acks", &s.n_acks);
    role_add_counter(&s.role, "takeovers", &s.n_takeovers);
    role_add_counter(&s.role, "takeovers_refused", &s.n_takeovers_refused);
    role_add_counter(&s.role, "takeovers_realtime", &s.n_realtime);
    role_add_counter(&s.role, "unaddressed_outputs", &s.n_unaddressed);
    role_add_counter(&s.role, "ingress", &s.n_ingress);
    role_add_counter(&s.role, "egress", &s.n_egress);
    role_add_counter(&s.role, "replies", &s.n_replies);
    role_add_counter(&s.role, "fn_drops", &s.n_fn_drops);
    role_add_counter(&s.role, "from_vnfs", &s.n_from_vnfs);
    role_add_counter(&s.role, "peer_frames", &s.n_peer);
    role_add_counter(&s.role, "malformed", &s.n_malformed);
    role_add_counter(&s.role, "ignored", &s.n_ignored);
    role_add_counter(&s.role, "unknown_source", &s.n_unknown_src);
    role_add_counter(&s.role, "stamp_mismatch", &s.n_stamp_mismatch);
    role_add_counter(&s.role, "send_errors", &s.n_send_errors);
    role_add_counter(&s.role, "failure_notices", &s.n_downs);
    role_add_counter(&s.role, "messages_lost", &s.frags.n_lost);
    role_add_counter(&s.role, "peer_usec", &s.peer_usec);
    role_add_counter(&s.role, "peer_step_max_us", &s.peer_max_us);
    role_add_method(&s.role, "nham_down", nham_sff_ctl_down);
    role_add_method(&s.role, "nham_saved", nham_sff_ctl_saved);
    role_add_method(&s.role, "nham_addressed", nham_sff_ctl_addressed);
    s.role.on_start = nham_sff_on_start;
    rc = role_serve_pktio(&s.role, nham_sff_frame, nham_sff_frames_done);
out:
    nham_control_close(&s.control);
    ftstage_destroy(s.sff);
    ftstage_destroy(s.vsm);
    for (size_t i = 0; i < s.n_local; i++) {
        free((uint8_t *) s.local[i].m.payload);
    }
    free(s.local);
    for (size_t i = 0; i < s.n_hops; i++) {
        buf_uninit(&s.hops[i].stored);
        buf_uninit(&s.hops[i].warmed);
        buf_uninit(&s.hops[i].prev);
        buf_uninit(&s.hops[i].vnf_last);
        buf_uninit(&s.hops[i].vnf_delta);
        if (s.hops[i].has_deferred) {
            free((uint8_t *) s.hops[i].deferred.payload);
        }
    }
    buf_uninit(&s.warm_msg);
    nham_frags_free(&s.frags);
    if (s.entry_io) {
        if (s.role.loop) {
            loop_del_fd(s.role.loop, pktio_fd(s.entry_io));
        }
        pktio_close(s.entry_io);
    }
    role_finish(&s.role);
    free(errmsg);
    return rc;
}

/* ---- nham-vnf ---- */

struct nham_vnf_role {
    struct role role;
    uint8_t sff_mac[6];
    uint8_t key[FTSTAGE_KEY_LEN];
    uint32_t hop;
    uint32_t incarnation;
    struct nham_params params;
    struct ftstage *stage;          /* NULL while a standby waits. */
    struct nham_tx tx;
    int beat_fd;
    const char *beat_arg;           /* --heartbeat, to connect again. */
    uint64_t n_beat_reconnects;
    int ioctl_fd;
    struct nham_frags frags;
    struct nham_control control;
    uint64_t beat_interval_ns;
    uint64_t beat_timer;            /* 0: no beats. */
    uint8_t frame[NHAM_FRAME_MAX];
    uint64_t n_processed, n_peer, n_ignored, n_standby_drops, n_send_errors;
    uint64_t n_beats, n_ready, ready_ns, ready_counter, n_activations;
    uint32_t ready_epoch;           /* The incarnation 'ready_ns' is of. */
    uint64_t data_first_ns;         /* The first DATA frame that reached this process (a
                                     * standby's too: the switch sends the hop to it). */
    uint64_t out_first_ns;          /* Its first output: the hop serves again. */
    uint64_t activated_ns;          /* A standby's takeover, split: nham_activate handled, */
    uint64_t hit_ns;                /* and the SFF's HIT (its checkpoint confirmed) taken. */
    uint64_t last_counter;          /* The highest SFF counter it has output (backend vm: the
                                     * host reads it before it saves the guest). */
    uint64_t n_restored;            /* Times its guest was restored from an image (vm). */
    struct buf restored;            /* nham_restored: the image its core restores, at once. */
    struct nf *nf;                  /* --fn: the chain's function, NULL: forward as is. */
    uint8_t (*fn_slots)[NHAM_FRAME_MAX];    /* --fn: the batch's frames (nham_vnf_forward_fn()), */
    size_t fn_used;                 /* of which this many are queued. */
    const uint8_t *rx_data;         /* The DATA being handled, where it was received, and */
    size_t rx_len;
    const uint8_t *rx_room;         /* the room before it that the core was given for its
                                     * output (nham_vnf_forward_space()), if it was. */
    uint64_t t_in;                  /* When the frame being handled came in. */
    struct buf warm;                /* The last image the SFF gave this standby (WARM), */
    struct buf warm_prev;           /* the one before (a TAKE may name it), */
    struct buf warm_next;           /* and nham_warm_keep()'s scratch and runs. */
    struct buf warm_runs;
    struct buf last_export;         /* The core's last checkpoint image, sent. */
    struct buf ckdl_msg;
    uint64_t n_ckpt_delta_sent, n_base_lost;
    struct buf warm_msg;
    uint64_t n_warm, n_hits, n_hit_misses, n_delta_misses, n_warm_stale;
    uint64_t nonce;                 /* Names this process in its ACKs; a TAKE must carry it. */
    uint32_t took_epoch;            /* Became this incarnation at a TAKE from the image it
                                     * held (0: not so): its READY stays here. */
    uint64_t n_takes, n_take_misses, n_realtime;
    uint32_t dropped_epoch;         /* The latest incarnation of a DATA dropped as a standby. */
    struct ftstage *spare;          /* A standby's core made ahead, not started: a TAKE starts
                                     * it. Made and first touched at a TAKE, its memory (the
                                     * state, the output log) took most of the 0.3-1 ms from
                                     * the TAKE to READY. */
    uint64_t n_fn_forward, n_fn_replies, n_fn_drops, n_fn_errors;
};

#define NHAM_VNF_FN_SLOTS 64

/* Sends the core's output 'data' to the SFF with the chain's function run on its inner frame:
 * the frame built once, in one of the batch's full-size frames (the function may lengthen it,
 * as a plain VNF's may within its receive buffer; outside a batch in v->frame), by the core
 * itself when 'frame' is the one around 'data' (nham_vnf_forward_space(); NULL: copied here),
 * and the function run on it where it lies. A reply (NF_REPLY) goes back on the reverse path (SPI |
 * NSH_SPI_REVERSE, SI 255); a drop keeps its DATA (the SFF must see the hop's output to release
 * it) with SI 0. False, and nothing sent: not an NSH frame the function can run on. (The
 * function ran on a copy of the inner frame before, which was then encoded again and copied into
 * the batch: three copies of every packet and a clock read, where a plain VNF makes none.) */
static bool
nham_vnf_forward_fn(struct nham_vnf_role *v, const uint8_t *data, size_t len, uint8_t *frame)
{
    struct pktio *io = v->role.io;
    struct packet_info info;
    struct nham_data d;
    struct nsh_hdr hdr;
    struct nf_packet np;
    uint8_t *nsh;
    size_t head;

    if (!nham_data_parse(data, len, &d)
        || nsh_decode(d.payload, d.payload_len, &hdr, NULL)
        || hdr.next_proto != NSH_NP_ETHERNET || d.payload_len < hdr.len + HOP_ETH_LEN
        || HOP_ETH_LEN + len > NHAM_FRAME_MAX) {
        v->n_fn_errors++;
        return false;
    }
    head = len - d.payload_len;
    if (frame) {
        hop_set_header(frame, v->sff_mac, pktio_mac(io), NHAM_ETHERTYPE);
    } else {
        /* Full-size slots: the function may grow the frame up to NHAM_FRAME_MAX. */
        frame = !v->tx.in_batch ? v->frame
                                : nham_slot_take(io, v->fn_slots[0], NHAM_FRAME_MAX,
                                                 NHAM_VNF_FN_SLOTS, &v->fn_used);
        nham_frame(frame, v->sff_mac, pktio_mac(io), NHAM_ETHERTYPE, data, len);
    }
    nsh = frame + HOP_ETH_LEN + head;
    np.data = nsh + hdr.len;
    np.len = d.payload_len - hdr.len;
    np.cap = NHAM_FRAME_MAX - (HOP_ETH_LEN + head + hdr.len);
    np.now_ns = v->t_in;
    np.flow_hash = packet_parse(np.data, np.len, &info) ? 0 : packet_flow_hash(&info.flow);
    switch (nf_process(v->nf, &np)) {
    case NF_FORWARD:
        v->n_fn_forward++;
        break;
    case NF_REPLY:
        nsh_set_spi_si(nsh, hdr.spi | NSH_SPI_REVERSE, NSH_SI_START);
        v->n_fn_replies++;
        break;
    case NF_DROP:
    default:
        nsh_set_spi_si(nsh, hdr.spi, 0);
        v->n_fn_drops++;
        break;
    }
    len = HOP_ETH_LEN + head + hdr.len + np.len;
    if (v->tx.in_batch) {
        pktio_queue(io, frame, len);
    } else if (pktio_send(io, frame, len)) {
        v->n_send_errors++;
    }
    return true;
}

/* Room for the core's output (ftstage_ops.forward_space): over the DATA it answers, in its
 * receive slot; else in the batch's next frame (a
 * full-size one with --fn), past its Ethernet header, which nham_vnf_forward() then writes
 * in front: the packet is written once, by the core, where it is sent from. None when the
 * batch's frames are all queued: a frame taken then would flush the queue, and a room given
 * out earlier in the step but not queued yet could be taken again before it is sent. */
static uint8_t *
nham_vnf_forward_space(void *v_, uint32_t to, size_t len)
{
    struct nham_vnf_role *v = v_;
    uint8_t *slot = NULL;

    if (!v->tx.in_batch) {
        return NULL;
    }
    if (v->rx_data && !v->rx_room && len == v->rx_len + 8) {
        /* The DATA it answers with its stamp added: 8 bytes before it in its receive slot
         * (PKTIO_HEADROOM), where nham_data_stamp() moves only the header. A frame of 1 KB
         * less copied per packet; the slot is sent before it is received into again
         * (role_drain_pktio() flushes every batch). */
        v->rx_room = v->rx_data - 8;
        return (uint8_t *) v->rx_room;
    }
    if (v->nf && HOP_ETH_LEN + len <= NHAM_FRAME_MAX) {
        slot = nham_slot_try(v->fn_slots[0], NHAM_FRAME_MAX, NHAM_VNF_FN_SLOTS, &v->fn_used);
    } else if (!v->nf && HOP_ETH_LEN + len <= NHAM_TX_SLOT) {
        slot = nham_slot_try(v->tx.slots[0], NHAM_TX_SLOT, NHAM_TX_SLOTS, &v->tx.used);
    }
    return slot ? slot + HOP_ETH_LEN : NULL;
}

/* The frame around 'data' if nham_vnf_forward_space() gave it, else NULL. */
static uint8_t *
nham_vnf_room_frame(struct nham_vnf_role *v, const uint8_t *data)
{
    if (data && data == v->rx_room) {
        return (uint8_t *) data - HOP_ETH_LEN;
    }
    return (v->nf ? nham_slot_of(v->fn_slots[0], NHAM_FRAME_MAX, NHAM_VNF_FN_SLOTS, data,
                                 HOP_ETH_LEN)
                  : nham_slot_of(v->tx.slots[0], NHAM_TX_SLOT, NHAM_TX_SLOTS, data,
                                 HOP_ETH_LEN));
}

static void
nham_vnf_forward(void *v_, uint32_t to, const uint8_t *data, size_t len)
{
    struct nham_vnf_role *v = v_;
    uint8_t *frame = nham_vnf_room_frame(v, data);

    if (!v->n_processed++) {
        v->out_first_ns = time_mono_ns();
    }
    if (len >= 13 && data[0] == NHAM_DATA && get_be64(data + 5) > v->last_counter) {
        v->last_counter = get_be64(data + 5);
    }
    if (v->nf && nham_vnf_forward_fn(v, data, len, frame)) {
        return;
    }
    if (frame) {
        hop_set_header(frame, v->sff_mac, pktio_mac(v->role.io), NHAM_ETHERTYPE);
        pktio_queue(v->role.io, frame, HOP_ETH_LEN + len);
    } else if (!nham_tx_data(v->role.io, &v->tx, v->frame, v->sff_mac, data, len)) {
        v->n_send_errors++;
    }
}

/* The core's checkpoint image 'm', on its way to the SFF: in v->ckdl_msg, sealed, the CKDL of
 * its changes since the last one (true), or nothing (false: send it whole). The image becomes
 * the base of the next CKDL: by its runs, which change what the checkpoint's packets touched,
 * not by a copy of the whole image (512 KB per checkpoint of every active copy). */
static bool
nham_vnf_ckpt_delta(struct nham_vnf_role *v, const struct ftstage_msg *m)
{
    bool delta = false;

    if (v->last_export.len == m->len) {
        uint8_t seq[8];
        struct buf b = BUF_INITIALIZER;
        struct ftstage_msg dm = { .from = m->from, .to = m->to, .kind = FT_EV_PEER_MSG };
        size_t runs;

        put_be64(seq, m->seq);
        buf_put(&b, NHAM_CKPT_DELTA_MAGIC, NHAM_MAGIC_LEN);
        buf_put(&b, seq, 8);
        buf_put(&b, v->last_export.data, NHAM_IMAGE_ID);
        buf_put_be32(&b, m->len);
        buf_put(&b, m->payload, NHAM_IMAGE_ID);
        runs = b.len;
        delta = nham_delta_encode(v->last_export.data, m->payload, m->len, m->len / 4, &b) > 0;
        if (delta) {
            dm.payload = b.data;
            dm.len = b.len;
            buf_clear(&v->ckdl_msg);
            ftstage_msg_seal(&v->ckdl_msg, v->key, &dm);
            delta = nham_delta_apply(v->last_export.data, v->last_export.len, b.data + runs,
                                     b.len - runs);
        }
        buf_uninit(&b);
    }
    v->n_ckpt_delta_sent += delta;
    if (!delta) {
        buf_clear(&v->last_export);
        buf_put(&v->last_export, m->payload, m->len);
    }
    return delta;
}

/* The core's messages before they are sealed (the stage seals what this returns false for,
 * then nham_vnf_send() sends it). A READY is the end of a recovery: its time is what the FMS
 * records. A checkpoint image goes as its changes (CKDL) when it can: sealed here, and the
 * whole image is then neither sealed nor checked again (two MAC passes over 512 KB). */
static bool
nham_vnf_send_unsealed(void *v_, const struct ftstage_msg *m)
{
    struct nham_vnf_role *v = v_;
    struct nham_ctl c;

    if (m->kind == FT_EV_PEER_MSG && v->restored.len
        && nham_ctl_parse(m->payload, m->len, &c) && c.type == NHAM_RESTORE_REQ) {
        return true;                /* nham_restored answers it from the guest's own image. */
    }
    if (m->kind == FT_EV_PEER_MSG
        && nham_ctl_parse(m->payload, m->len, &c) && c.type == NHAM_READY) {
        v->n_ready++;
        if (!v->ready_ns || c.epoch != v->ready_epoch) {
            /* Its first: a retry read as the end of the recovery added its 10 ms period to
             * 9 of 42 failovers (the FMS reads this after it sees 'ready' grow). */
            v->ready_ns = time_mono_ns();
            v->ready_epoch = c.epoch;
        }
        v->ready_counter = c.counter;
        if (c.epoch == v->took_epoch) {
            return true;            /* The SFF stated it at the TAKE (nham_vnf_take()). */
        }
    }
    if (m->kind == FT_EV_STATE && m->to == NHAM_ID_SFF && m->len >= NHAM_IMAGE_ID
        && nham_vnf_ckpt_delta(v, m)) {
        if (!nham_send_msg(v->role.io, &v->tx, &v->frags, v->frame, v->sff_mac,
                           v->ckdl_msg.data, v->ckdl_msg.len)) {
            v->n_send_errors++;
        }
        return true;
    }
    return false;
}

/* Both peers (SFF and VSM) live behind the SFF's MAC. */
static bool
nham_vnf_send(void *v_, uint32_t to, const uint8_t *msg, size_t len)
{
    struct nham_vnf_role *v = v_;

    if (!nham_send_msg(v->role.io, &v->tx, &v->frags, v->frame, v->sff_mac, msg, len)) {
        v->n_send_errors++;
    }
    return true;
}

static void
nham_vnf_note(void *v_, const char *text)
{
    log_info("nham-vnf: %s", text);
}

/* Makes the core of incarnation v->incarnation in '*stagep', not started. */
static int
nham_vnf_make_core(struct nham_vnf_role *v, uint64_t seq_base, struct ftstage **stagep)
{
    static const struct ftstage_ops ops = {
        .forward = nham_vnf_forward, .send = nham_vnf_send, .note = nham_vnf_note,
        .send_unsealed = nham_vnf_send_unsealed, .forward_space = nham_vnf_forward_space,
    };
    uint32_t peers[2] = { NHAM_ID_SFF, NHAM_ID_VSM };
    char *errmsg = NULL;
    struct ftstage_config c = {
        .class = ft_core_class_find("nham_vnf"),
        .core = { .self = NHAM_ID_VNF(v->hop), .peers = peers, .n_peers = 2,
                  .params = v->params.v, .n_params = v->params.n },
        .key = v->key, .loop = v->role.loop, .incarnation = v->incarnation,
        .seq_base = seq_base, .max_payload = NHAM_MAX_MESSAGE,
    };
    int error = ftstage_create(&c, &ops, v, stagep, &errmsg);

    if (error) {
        log_err("nham-vnf: %s", errmsg ? errmsg : strerror(error));
        free(errmsg);
    }
    return error;
}

/* Starts the core as v->incarnation, its peer messages numbered above 'seq_min' (0: none). */
static int
nham_vnf_start_core_after(struct nham_vnf_role *v, uint64_t seq_min)
{
    uint64_t now = time_mono_ns(), seq_base = now;
    int error;

    if (v->spare) {
        ftstage_destroy(v->spare);      /* Not a TAKE's: its memory goes. */
        v->spare = NULL;
    }
    if (seq_min) {
        seq_base = MAX(now, seq_min);
    } else if (v->restored.len) {
        /* A guest restored from an image runs on the image's clock: restored twice from the
         * same image, its second core's time-based numbers could fall below what the first
         * one sent, and the SFF would take its READY for a replay. The incarnation, which
         * only grows, goes above the time (2^48 ns: 3 days of a guest's uptime). */
        seq_base = ((uint64_t) v->incarnation << 48) + (now & ((1ull << 48) - 1));
    }
    error = nham_vnf_make_core(v, seq_base, &v->stage);
    if (error) {
        return error;
    }
    v->n_activations++;
    return ftstage_start(v->stage, now);
}

static int
nham_vnf_start_core(struct nham_vnf_role *v)
{
    return nham_vnf_start_core_after(v, 0);
}

/* Tells the SFF which image this standby holds now (ACK: the SFF's takeover). */
static void
nham_vnf_ack(struct nham_vnf_role *v)
{
    struct ftstage_msg m = { .from = NHAM_ID_VNF(v->hop), .to = NHAM_ID_SFF,
                             .seq = time_mono_ns(), .kind = FT_EV_PEER_MSG };
    struct buf ack = BUF_INITIALIZER, b = BUF_INITIALIZER;

    if (v->stage || v->warm.len < NHAM_IMAGE_ID) {
        return;
    }
    nham_take_ack_put(&ack, v->nonce, v->warm.data, v->warm.len);
    m.payload = ack.data;
    m.len = ack.len;
    ftstage_msg_seal(&b, v->key, &m);
    buf_uninit(&ack);
    if (!nham_send_msg(v->role.io, &v->tx, &v->frags, v->frame, v->sff_mac, b.data, b.len)) {
        v->n_send_errors++;
    }
    buf_uninit(&b);
    if (!v->spare && !nham_vnf_make_core(v, time_mono_ns(), &v->spare)) {
        /* Its memory touched now, not at the TAKE: the state (with the image, which the
         * TAKE's import overwrites), and the buffer the TAKE rebuilds the VSM's answer in. */
        ft_core_import_state(ftstage_core(v->spare), v->warm.data, v->warm.len);
        buf_put(&v->restored, v->warm.data, v->warm.len);
        buf_put(&v->restored, "tail", 4);
        buf_clear(&v->restored);
    }
}

/* The SFF's TAKE 't' (sealed, 'seq' its number): this standby becomes incarnation 't->inc'
 * now, as nham_take_judge() says (see "The SFF's takeover" above). With the very image it
 * holds (or the one before, which it keeps): its core starts from it (the VSM's answer to
 * its request rebuilt here, as a HIT would have it) and its READY, which the SFF has stated
 * already, stays here; else it activates as the FMS would have it do (its core asks the VSM;
 * its READY replays again). */
static void
nham_vnf_take(struct nham_vnf_role *v, const struct nham_take_msg *t, uint64_t seq)
{
    uint32_t inc = t->inc;
    enum nham_take_verdict verdict;
    int error;

    verdict = nham_take_judge(t, !v->stage, v->nonce, pktio_mac(v->role.io), v->warm.data,
                              v->warm.len, v->warm_prev.data, v->warm_prev.len);
    if (verdict == NHAM_TAKE_NOT_MINE) {
        v->n_take_misses++;
        return;
    }
    v->incarnation = inc;
    v->activated_ns = time_mono_ns();
    if (verdict == NHAM_TAKE_ACTIVATE) {
        v->n_take_misses++;
        error = nham_vnf_start_core(v);
    } else {
        /* The image named: the one it holds, or the one before. */
        const struct buf *img = verdict == NHAM_TAKE_FROM_PREV ? &v->warm_prev : &v->warm;
        uint8_t epoch[4];

        buf_clear(&v->restored);
        put_be32(epoch, inc);
        buf_put(&v->restored, epoch, 4);
        buf_put(&v->restored, img->data, img->len);
        /* Its READY stays here unless a frame of the replay came before the TAKE and was
         * dropped: the switch does not keep the order of frames of different kinds (the
         * first DATA to a copy's MAC misses OVS's flow cache and took the slow path ahead
         * of the TAKE in 2 of 6 takeovers), and its READY then replays again at once, not
         * at the SFF's go-back-N 200 ms later. */
        v->took_epoch = nham_take_keeps_ready(inc, v->dropped_epoch) ? inc : 0;
        /* Its checkpoints' numbers above the TAKE's: one of another clock (a VM's) must not
         * fall behind what the SFF has seen of the hop. */
        if (v->spare) {
            uint64_t now = time_mono_ns();

            v->stage = v->spare;
            v->spare = NULL;
            ftstage_seq_above(v->stage, MAX(now, seq));
            v->n_activations++;
            error = ftstage_start_incarnation(v->stage, now, inc);
        } else {
            error = nham_vnf_start_core_after(v, seq);
        }
        if (!error) {
            /* The base of its first checkpoint: the SFF holds this image too. */
            buf_clear(&v->last_export);
            buf_put(&v->last_export, img->data, img->len);
            error = ftstage_state(v->stage, NHAM_ID_VSM, v->restored.data, v->restored.len,
                                  time_mono_ns());
        }
        buf_clear(&v->restored);
        v->n_takes++;
    }
    nham_realtime_drop(&v->n_realtime);     /* Its READY said, or asked of the VSM. */
    if (error) {
        log_err("nham-vnf: TAKE as incarnation %"PRIu32": %s", inc, strerror(error));
    }
}

/* Asks the SFF for a whole image of the hop's last checkpoint (a standby that holds none). */
static void
nham_vnf_want(struct nham_vnf_role *v)
{
    struct ftstage_msg m = { .from = NHAM_ID_VNF(v->hop), .to = NHAM_ID_SFF,
                             .kind = FT_EV_PEER_MSG, .payload = (const uint8_t *) NHAM_WANT_MAGIC,
                             .len = NHAM_MAGIC_LEN };
    struct buf b = BUF_INITIALIZER;

    ftstage_msg_seal(&b, v->key, &m);
    if (!nham_send_msg(v->role.io, &v->tx, &v->frags, v->frame, v->sff_mac, b.data, b.len)) {
        v->n_send_errors++;
    }
    buf_uninit(&b);
}

/* The SFF's WARM (an image to keep), HIT (take the one kept: the VSM's answer rebuilt,
 * sealed as the VSM sealed it, handed to the core) and BASE (the SFF could not rebuild our
 * last CKDL: the next checkpoint goes whole). True when 'msg' was one of them. */
static bool
nham_vnf_warm(struct nham_vnf_role *v, const uint8_t *msg, size_t len)
{
    struct ftstage_msg m;
    const uint8_t *p;

    if (ftstage_msg_open_max(msg, len, v->key, NHAM_MAX_MESSAGE, &m)
        || m.kind != FT_EV_PEER_MSG || m.to != NHAM_ID_VNF(v->hop)
        || m.len < NHAM_MAGIC_LEN) {
        return false;
    }
    if (m.from == NHAM_ID_SFF) {
        struct nham_take_msg t;

        if (nham_take_parse(m.payload, m.len, &t)) {
            v->tx.in_batch = true;
            nham_vnf_take(v, &t, m.seq);
            return true;
        }
        if (m.len != NHAM_MAGIC_LEN || memcmp(m.payload, NHAM_BASE_MAGIC, NHAM_MAGIC_LEN)) {
            return false;
        }
        buf_clear(&v->last_export);
        v->n_base_lost++;
        return true;
    }
    if (m.from != NHAM_ID_VSM) {
        return false;
    }
    p = m.payload + NHAM_MAGIC_LEN;
    /* The image held is kept as the one before when a newer one replaces it: the SFF may have
     * chosen this standby on its ACK of it, the ACK of the newer one on its way. */
    switch (nham_warm_keep(&v->warm, &v->warm_prev, &v->warm_runs, &v->warm_next, m.payload,
                           m.len)) {
    case NHAM_WARM_KEPT:
        v->n_warm++;
        nham_vnf_ack(v);
        return true;
    case NHAM_WARM_STALE:
        v->n_warm_stale++;          /* A replay: what it holds is newer. */
        return true;
    case NHAM_WARM_MISS:
        v->n_delta_misses++;        /* Not the image it applies to: a whole one, please. */
        nham_vnf_want(v);
        return true;
    case NHAM_WARM_OTHER:
        break;
    }
    if (memcmp(m.payload, NHAM_HIT_MAGIC, NHAM_MAGIC_LEN)) {
        return false;
    }
    if (m.len == NHAM_MAGIC_LEN + 12 + NHAM_IMAGE_ID + 4 && v->stage
        && v->warm.len >= NHAM_IMAGE_ID
        && get_be32(p + 12 + NHAM_IMAGE_ID) == v->warm.len
        && !memcmp(p + 12, v->warm.data, NHAM_IMAGE_ID)) {
        struct ftstage_msg ans = { .from = NHAM_ID_VSM, .to = NHAM_ID_VNF(v->hop),
                                   .seq = get_be64(p), .kind = FT_EV_STATE };
        struct buf b = BUF_INITIALIZER;

        buf_put(&b, p + 8, 4);                  /* The epoch it answers. */
        buf_put(&b, v->warm.data, v->warm.len);
        ans.payload = b.data;
        ans.len = b.len;
        /* The base of its first checkpoint: the SFF holds this image too. */
        buf_clear(&v->last_export);
        buf_put(&v->last_export, v->warm.data, v->warm.len);
        buf_clear(&v->warm_msg);
        ftstage_msg_seal(&v->warm_msg, v->key, &ans);
        buf_uninit(&b);
        v->n_hits++;
        if (!v->hit_ns) {
            v->hit_ns = time_mono_ns();
        }
        v->tx.in_batch = true;
        ftstage_peer_message(v->stage, v->warm_msg.data, v->warm_msg.len, time_mono_ns());
    } else {
        v->n_hit_misses++;          /* Not the image we hold: the core asks again. */
    }
    return true;
}

static void
nham_vnf_frame(void *v_, struct pktio_pkt *pkt, uint64_t t_in)
{
    struct nham_vnf_role *v = v_;
    const uint8_t *body = pkt->data + HOP_ETH_LEN;
    size_t len = pkt->len - HOP_ETH_LEN;
    uint16_t type;

    v->t_in = t_in;
    if (pkt->len < HOP_ETH_LEN || memcmp(pkt->data, pktio_mac(v->role.io), 6)
        || memcmp(pkt->data + 6, v->sff_mac, 6)) {
        v->n_ignored++;
        return;
    }
    type = hop_ethertype(pkt->data);
    if (type != NHAM_ETHERTYPE && type != FTSTAGE_ETHERTYPE && type != NHAM_FRAG_ETHERTYPE) {
        v->n_ignored++;
        return;
    }
    if (type == NHAM_FRAG_ETHERTYPE) {
        /* Reassembled even by a standby: an activation's image may be on its way. */
        body = nham_frag_add(&v->frags, pkt->data + 6, body, len, &len);
        if (!body) {
            return;
        }
        type = FTSTAGE_ETHERTYPE;
    }
    if (type == FTSTAGE_ETHERTYPE && nham_vnf_warm(v, body, len)) {
        return;
    }
    if (type == NHAM_ETHERTYPE && !v->data_first_ns) {
        v->data_first_ns = time_mono_ns();
    }
    if (!v->stage) {
        v->n_standby_drops++;
        if (type == NHAM_ETHERTYPE && len >= 5) {
            /* The incarnation it was sent to: a TAKE's replay that overtook the TAKE. */
            v->dropped_epoch = MAX(v->dropped_epoch, get_be32(body + 1));
        }
        return;
    }
    v->tx.in_batch = true;
    if (type == NHAM_ETHERTYPE) {
        if (pkt->room >= 8 && pkt->cap + 8 >= NHAM_FRAME_MAX) {
            v->rx_data = body;
            v->rx_len = len;
        }
        ftstage_packet(v->stage, NHAM_ID_SFF, body, len, t_in);
        v->rx_data = v->rx_room = NULL;
    } else {
        v->n_peer++;
        ftstage_peer_message(v->stage, body, len, t_in);
    }
}

static void
nham_vnf_frames_done(void *v_)
{
    struct nham_vnf_role *v = v_;

    nham_tx_done(v->role.io, &v->tx);
    v->tx.in_batch = false;
    v->fn_used = 0;
}

/* A standby becomes the active copy as incarnation 'inc': its core starts, restores the last
 * checkpoint and says READY. */
static int
nham_vnf_activate(struct nham_vnf_role *v, long long inc, char **errmsg)
{
    int error;

    if (inc < 1 || inc >= UINT32_MAX) {
        *errmsg = xstrdup("nham_activate: params need \"incarnation\" >= 1");
        return EINVAL;
    }
    if (v->stage) {
        *errmsg = xstrdup("nham_activate: this copy is active already");
        return EBUSY;
    }
    v->incarnation = inc;
    v->activated_ns = time_mono_ns();
    error = nham_vnf_start_core(v);
    if (error) {
        *errmsg = xasprintf("nham_activate: %s", strerror(error));
    }
    return error;
}

static int
nham_vnf_ctl_activate(void *role_, json_t *params, json_t **result, char **errmsg)
{
    struct nham_vnf_role *v = ((struct role *) role_)->aux;
    json_t *inc = json_object_get(params, "incarnation");
    int error;

    error = nham_vnf_activate(v, json_is_integer(inc) ? json_integer_value(inc) : -1, errmsg);
    if (!error) {
        *result = json_pack("{s:b}", "ok", 1);
    }
    return error;
}

/* Backend vm: the host restored this copy's whole guest from the image it saved, so this
 * process runs on with the state it had then (its core's epoch an earlier incarnation's). It
 * becomes incarnation 'inc' as a restarted VNF does, with the state it holds as the image it
 * restores: a new core starts as 'inc', its request for the last checkpoint is answered here
 * with the old core's own export (the VSM holds no state of a VNF the host saves), and it
 * says READY(inc, the last packet that state includes). The SFF replays what it held after
 * that; what the restored process output again at or below it is suppressed there. */
static int
nham_vnf_restored(struct nham_vnf_role *v, long long inc, char **errmsg)
{
    struct ft_core *core;
    uint8_t epoch[4];
    int error;

    if (inc < 1 || inc >= UINT32_MAX || (uint64_t) inc <= v->incarnation) {
        *errmsg = xasprintf("nham_restored: \"incarnation\" must be above this copy's (%u)",
                            v->incarnation);
        return EINVAL;
    }
    if (!v->stage) {
        *errmsg = xstrdup("nham_restored: a standby (no core) was not checkpointed");
        return EBUSY;
    }
    core = ftstage_core(v->stage);
    buf_clear(&v->restored);
    put_be32(epoch, inc);
    buf_put(&v->restored, epoch, 4);
    error = ft_core_export_state(core, &v->restored);
    if (error) {
        *errmsg = xasprintf("nham_restored: export: %s", strerror(error));
        buf_clear(&v->restored);
        return error;
    }
    ftstage_destroy(v->stage);
    v->stage = NULL;
    v->incarnation = inc;
    error = nham_vnf_start_core(v);         /* Its RESTORE_REQ stays here (nham_vnf_send). */
    if (!error) {
        error = ftstage_state(v->stage, NHAM_ID_VSM, v->restored.data, v->restored.len,
                              time_mono_ns());
    }
    buf_clear(&v->restored);
    if (error) {
        *errmsg = xasprintf("nham_restored: %s", strerror(error));
    } else {
        v->n_restored++;
    }
    return error;
}

static int
nham_vnf_ctl_restored(void *role_, json_t *params, json_t **result, char **errmsg)
{
    struct nham_vnf_role *v = ((struct role *) role_)->aux;
    json_t *inc = json_object_get(params, "incarnation");
    int error;

    error = nham_vnf_restored(v, json_is_integer(inc) ? json_integer_value(inc) : -1, errmsg);
    if (!error) {
        *result = json_pack("{s:b}", "ok", 1);
    }
    return error;
}

static int
nham_vnf_control(void *v_, struct nham_command_req *req, char **errmsg)
{
    if (!strcmp(req->cmd, "restored")) {
        return nham_vnf_restored(v_, req->args[0], errmsg);
    }
    if (strcmp(req->cmd, "activate")) {
        *errmsg = xasprintf("unknown command '%s'", req->cmd);
        return EINVAL;
    }
    return nham_vnf_activate(v_, req->args[0], errmsg);
}

static int nham_beat_open(const char *arg, int *fdp);

/* One beat per interval while the data interface is up and running. */
static void
nham_vnf_beat(struct loop *loop, uint64_t timer, void *v_)
{
    struct nham_vnf_role *v = v_;
    struct ifreq ifr;

    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", v->role.iface);
    if (ioctl(v->ioctl_fd, SIOCGIFFLAGS, &ifr)
        || (ifr.ifr_flags & (IFF_UP | IFF_RUNNING)) != (IFF_UP | IFF_RUNNING)) {
        return;
    }
    if (send(v->beat_fd, "b", 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1) {
        v->n_beats++;
    } else if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN) {
        /* The FMS dropped our stream (it took us for an old process): connect again. */
        int fd = -1;

        if (v->beat_arg && !nham_beat_open(v->beat_arg, &fd)) {
            int high = fcntl(fd, F_DUPFD_CLOEXEC, NHAM_BEAT_FD_MIN);

            if (high >= 0) {
                close(fd);
                fd = high;
            }
            close(v->beat_fd);
            v->beat_fd = fd;
            v->n_beat_reconnects++;
        }
    }
}

static int
nham_vnf_on_start(struct role *role)
{
    struct nham_vnf_role *v = role->aux;

    int error = nham_control_open(role, &v->control);

    if (error) {
        return error;
    }
    if (v->beat_fd >= 0) {
        /* Above every other descriptor, the packet socket's included: an exiting process's
         * files are released last-closed first, so the beat stream ends (the FMS's first
         * death notice) before the packet socket's release waits out an RCU grace period
         * (measured: 0.3 ms instead of 8-14 ms on this loaded machine). */
        int high = fcntl(v->beat_fd, F_DUPFD_CLOEXEC, NHAM_BEAT_FD_MIN);

        if (high >= 0) {
            close(v->beat_fd);
            v->beat_fd = high;
        }
        v->beat_timer = loop_add_timer(v->role.loop, 0, v->beat_interval_ns, nham_vnf_beat, v);
    }
    if (!v->stage && v->incarnation == UINT32_MAX) {
        nham_vnf_want(v);           /* A standby: the image its SFF holds, at once. */
        return 0;
    }
    return v->stage ? 0 : nham_vnf_start_core(v);
}

/* The beat socket for 'arg': "unix:PATH", a datagram socket connected to the FMS's socket in
 * this guest's own directory (a guest that shares the host's kernel: the beats do not depend
 * on the management network), or "IP:PORT", a UDP socket from port NHAM_BEAT_PORT. */
static int
nham_beat_open(const char *arg, int *fdp)
{
    struct sockaddr_in to = { .sin_family = AF_INET }, from = { .sin_family = AF_INET };
    char ip[INET_ADDRSTRLEN + 1];
    unsigned port;
    int fd, one = 1;

    if (!strncmp(arg, "unix:", 5)) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        int error = 0;

        if (!arg[5] || strlen(arg + 5) >= sizeof sun.sun_path) {
            return EINVAL;
        }
        strcpy(sun.sun_path, arg + 5);
        /* A stream where the FMS listens (its end is our death notice), else datagrams. */
        for (int k = 0; k < 2; k++) {
            fd = socket(AF_UNIX, (k ? SOCK_DGRAM : SOCK_SEQPACKET) | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                return errno;
            }
            if (!connect(fd, (struct sockaddr *) &sun, sizeof sun)) {
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                *fdp = fd;
                return 0;
            }
            error = errno;
            close(fd);
        }
        return error;
    }
    if (sscanf(arg, "%16[0-9.]:%u", ip, &port) != 2 || port < 1 || port > 65535
        || !inet_aton(ip, &to.sin_addr)) {
        return EINVAL;
    }
    to.sin_port = htons(port);
    from.sin_port = htons(NHAM_BEAT_PORT);
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return errno;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *) &from, sizeof from)
        || connect(fd, (struct sockaddr *) &to, sizeof to)) {
        int error = errno;
        close(fd);
        return error;
    }
    *fdp = fd;
    return 0;
}

static void
nham_vnf_usage(void)
{
    printf("usage: sfcd nham-vnf --iface IF --key FILE --sff-mac MAC --hop I [OPTION...]\n"
           "  --hop I            its place in the chain (0-based)\n"
           "  --sff-mac MAC      the SFF (and the VSM beside it)\n"
           "  --key FILE         the instance's key for peer messages (mode 0600)\n"
           "  --incarnation N    a restart: ask the VSM for the last checkpoint first\n"
           "  --standby          run warm, the core idle until nham_activate {incarnation}\n"
           "  --heartbeat unix:PATH|IP:PORT  beat to the FMS's socket, or from UDP port 7071\n"
           "  --beat-interval NS   between beats (default 1000000)\n"
           "  --param K=V        a parameter of nham_vnf (state_bytes)\n"
           "  --fn NAME          also run the chain's function on each output (one of: %s)\n"
           "  --fn-param K=V     a parameter of that function\n"
           "  --control PATH     the FMS's fast path: a datagram socket for \"activate N\"\n"
           ROLE_COMMON_USAGE, nf_class_names());
}

int
role_nham_vnf(int argc, char *argv[])
{
    static const struct option options[] = {
        { "hop", required_argument, NULL, 'H' },
        { "sff-mac", required_argument, NULL, 'S' },
        { "key", required_argument, NULL, 'K' },
        { "incarnation", required_argument, NULL, 'I' },
        { "standby", no_argument, NULL, 's' },
        { "heartbeat", required_argument, NULL, 'B' },
        { "beat-interval", required_argument, NULL, 'b' },
        { "param", required_argument, NULL, 'P' },
        { "control", required_argument, NULL, 'C' },
        { "fn", required_argument, NULL, 'F' },
        { "fn-param", required_argument, NULL, 'Q' },
        { "help", no_argument, NULL, 'h' },
        ROLE_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    static struct nham_vnf_role v;
    struct nf_param *fn_params = NULL;
    size_t n_fn_params = 0;
    const char *fn = NULL;
    bool have_key = false, have_sff = false, have_hop = false;
    char *errmsg = NULL, *end;
    unsigned long long u;
    int opt, rc = 2, error;

    memset(&v, 0, sizeof v);
    v.beat_fd = v.ioctl_fd = -1;
    v.control = (struct nham_control) { .fd = -1, .cb = nham_vnf_control, .aux = &v };
    v.beat_interval_ns = 1000000;
    role_init_common(&v.role, "nham-vnf");
    v.role.aux = &v;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'H':
            u = strtoull(optarg, &end, 10);
            if (!*optarg || *end || u >= NHAM_MAX_HOPS) {
                fprintf(stderr, "sfcd nham-vnf: --hop: '%s' is not 0..%d\n", optarg,
                        NHAM_MAX_HOPS - 1);
                goto out;
            }
            v.hop = u;
            have_hop = true;
            break;
        case 'S':
            if (!pktio_parse_mac(optarg, v.sff_mac)) {
                fprintf(stderr, "sfcd nham-vnf: --sff-mac: '%s' is not a MAC\n", optarg);
                goto out;
            }
            have_sff = true;
            break;
        case 'K':
            if (ftstage_key_load(optarg, v.key, &errmsg)) {
                fprintf(stderr, "sfcd nham-vnf: --key: %s\n", errmsg);
                goto out;
            }
            have_key = true;
            break;
        case 'I':
            u = strtoull(optarg, &end, 10);
            if (!*optarg || *end || u >= UINT32_MAX) {
                fprintf(stderr, "sfcd nham-vnf: --incarnation: '%s' is not a number\n",
                        optarg);
                goto out;
            }
            v.incarnation = u;
            break;
        case 's':
            v.incarnation = UINT32_MAX;     /* Set by nham_activate. */
            break;
        case 'B':
            error = nham_beat_open(optarg, &v.beat_fd);
            v.beat_arg = optarg;
            if (error) {
                fprintf(stderr, "sfcd nham-vnf: --heartbeat %s: %s\n", optarg,
                        error == EINVAL ? "not unix:PATH or IP:PORT" : strerror(error));
                goto out;
            }
            break;
        case 'b':
            u = strtoull(optarg, &end, 10);
            if (!*optarg || *end || u < 100000 || u > 10000000000ull) {
                fprintf(stderr, "sfcd nham-vnf: --beat-interval: '%s' is not 100000.."
                        "10000000000 ns\n", optarg);
                goto out;
            }
            v.beat_interval_ns = u;
            break;
        case 'P':
            if (nham_param_add(&v.params, optarg, "nham-vnf")) {
                goto out;
            }
            break;
        case 'C':
            v.control.path = optarg;
            break;
        case 'F':
            fn = optarg;
            break;
        case 'Q':
            fn_params = xrealloc(fn_params, (n_fn_params + 1) * sizeof *fn_params);
            /* nf_param_parse() points into optarg, which lives as long as argv. */
            if (!nf_param_parse(optarg, &fn_params[n_fn_params])) {
                fprintf(stderr, "sfcd nham-vnf: --fn-param: '%s' is not KEY=VALUE\n", optarg);
                goto out;
            }
            n_fn_params++;
            break;
        default:
            if (role_parse_option(&v.role, opt, optarg, nham_vnf_usage, &rc)) {
                goto out;
            }
        }
    }
    if (!v.role.iface || !have_key || !have_sff || !have_hop || optind != argc) {
        fprintf(stderr, "sfcd nham-vnf: --iface, --key, --sff-mac and --hop are required\n");
        goto out;
    }
    /* Unpredictable, so that no TAKE sealed before this process existed names it. */
    if (getrandom(&v.nonce, sizeof v.nonce, 0) != sizeof v.nonce) {
        fprintf(stderr, "sfcd nham-vnf: no random nonce: %s\n", strerror(errno));
        goto out;
    }
    if (fn && nf_create(fn, fn_params, n_fn_params, &v.nf, &errmsg)) {
        fprintf(stderr, "sfcd nham-vnf: --fn %s: %s\n", fn, errmsg);
        goto out;
    }
    if (v.nf) {
        v.fn_slots = xmalloc(NHAM_VNF_FN_SLOTS * sizeof *v.fn_slots);
    }
    rc = 1;
    v.ioctl_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (v.ioctl_fd < 0 || role_open_pktio(&v.role, false)) {
        goto out;
    }
    role_add_counter(&v.role, "processed", &v.n_processed);
    role_add_counter(&v.role, "peer_frames", &v.n_peer);
    role_add_counter(&v.role, "ignored", &v.n_ignored);
    role_add_counter(&v.role, "standby_drops", &v.n_standby_drops);
    role_add_counter(&v.role, "beat_reconnects", &v.n_beat_reconnects);
    role_add_counter(&v.role, "warm_images", &v.n_warm);
    role_add_counter(&v.role, "warm_hits", &v.n_hits);
    role_add_counter(&v.role, "warm_hit_misses", &v.n_hit_misses);
    role_add_counter(&v.role, "warm_delta_misses", &v.n_delta_misses);
    role_add_counter(&v.role, "warm_stale", &v.n_warm_stale);
    role_add_counter(&v.role, "takes", &v.n_takes);
    role_add_counter(&v.role, "take_misses", &v.n_take_misses);
    role_add_counter(&v.role, "takes_realtime", &v.n_realtime);
    role_add_counter(&v.role, "checkpoint_deltas", &v.n_ckpt_delta_sent);
    role_add_counter(&v.role, "checkpoint_base_lost", &v.n_base_lost);
    role_add_counter(&v.role, "send_errors", &v.n_send_errors);
    role_add_counter(&v.role, "beats", &v.n_beats);
    role_add_counter(&v.role, "ready", &v.n_ready);
    role_add_counter(&v.role, "ready_ns", &v.ready_ns);
    role_add_counter(&v.role, "ready_counter", &v.ready_counter);
    role_add_counter(&v.role, "last_counter", &v.last_counter);
    role_add_counter(&v.role, "restored", &v.n_restored);
    role_add_counter(&v.role, "activations", &v.n_activations);
    role_add_counter(&v.role, "data_first_ns", &v.data_first_ns);
    role_add_counter(&v.role, "out_first_ns", &v.out_first_ns);
    role_add_counter(&v.role, "activated_ns", &v.activated_ns);
    role_add_counter(&v.role, "hit_ns", &v.hit_ns);
    role_add_counter(&v.role, "fn_forward", &v.n_fn_forward);
    role_add_counter(&v.role, "fn_replies", &v.n_fn_replies);
    role_add_counter(&v.role, "fn_drops", &v.n_fn_drops);
    role_add_counter(&v.role, "fn_errors", &v.n_fn_errors);
    role_add_counter(&v.role, "messages_lost", &v.frags.n_lost);
    role_add_method(&v.role, "nham_activate", nham_vnf_ctl_activate);
    role_add_method(&v.role, "nham_restored", nham_vnf_ctl_restored);
    v.role.on_start = nham_vnf_on_start;
    rc = role_serve_pktio(&v.role, nham_vnf_frame, nham_vnf_frames_done);
out:
    nham_control_close(&v.control);
    ftstage_destroy(v.stage);
    ftstage_destroy(v.spare);
    if (v.beat_fd >= 0) {
        close(v.beat_fd);
    }
    if (v.ioctl_fd >= 0) {
        close(v.ioctl_fd);
    }
    nham_frags_free(&v.frags);
    if (v.nf) {
        nf_destroy(v.nf);
    }
    free(v.fn_slots);
    buf_uninit(&v.warm);
    buf_uninit(&v.warm_prev);
    buf_uninit(&v.warm_next);
    buf_uninit(&v.warm_runs);
    buf_uninit(&v.last_export);
    buf_uninit(&v.ckdl_msg);
    buf_uninit(&v.warm_msg);
    buf_uninit(&v.restored);
    free(fn_params);
    role_finish(&v.role);
    free(errmsg);
    return rc;
}
