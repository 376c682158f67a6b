/* vnf_ftc — FTC's stages in a VNF guest (vnf_ftc.h). */
#include "vnfs/sfc/vnf_ftc.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vnfs/lib/loop.h"
#include "vnfs/lib/nsh.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/ftc/ftc.h"
#include "vnfs/sfc/ftstage.h"
#include "vnfs/sfc/hop.h"
#include "vnfs/sfc/role.h"

#define VNF_FTC_OUTSIDE 0
#define VNF_FTC_RING(i) (1 + (i))
#define VNF_FTC_FORWARDER 100
#define VNF_FTC_BUFFER 101
#define VNF_FTC_REVERSE 102     /* The buffer's second next: a reply, back toward the client. */
#define VNF_FTC_FRAME_MAX 9216
/* A data packet carries the NSH header and the inner frame beside the logs (a peer message,
 * VNF_FTC_MAX_MSG_LEN, must fit one frame too): the forwarder attaches at most this much of
 * the buffer's logs to one. */
#define VNF_FTC_MAX_LOGS "900"
/* The buffer's message to the forwarder: its type, backlog and arrivals, and the message's
 * counts of logs and of commit vectors (then at most FTC_COMMIT_WIRE_MAX a group). */
#define VNF_FTC_BUF_MSG_FIXED 11
/* The forwarder's window: data packets on the way from it to the buffer. Bounds what the
 * replicas and the buffer hold (well under their limits), so an overloaded chain sheds at its
 * ingress, before any state is written, rather than between replicas. A packet counts as lost
 * only after VNF_FTC_LOST: a guest at a CPU quota is stopped for up to 96 ms of each 100 ms
 * period, and a chain of them holds a packet for several. After 32 ms (16 ticks), packets
 * that were only waiting counted lost (~25k of a 5 s run under the bench's quotas), the window
 * opened for as many, and the next guests' receive queues overflowed (session 15). The window
 * is VNF_FTC_WINDOW_HOP per VNF after the first, at least VNF_FTC_WINDOW_MIN (and at most
 * FTC_FWD_MAX_WINDOW): a guest stopped at its quota for most of each period holds on average
 * half a period's packets (~500 at the bench's ~10,000/s under 100 ms) while the one before it
 * works. A flat 1,024 starved Ch-5 (session 17, bench/ftc.sh's point: 2 of 13 runs with its
 * middle guests throttled in only 11-22 of ~56 periods, i.e. waiting, the forwarder's guest
 * below its quota and its queue dropping 45-47k: ~5,000/s); 2,048 and 4,096 did not (0 of 8,
 * 0 of 9; the same median goodput, within the noise of 1,024's other runs; 4,096 with 3-5x the
 * repairs at the last guest). The buffer holds a quota period's worth and
 * more at Ch-2 (the commit waits for the first guest's turn): a backlog of 512 closed
 * admission there. */
#define VNF_FTC_WINDOW_HOP 512
#define VNF_FTC_WINDOW_MIN 1024
#define VNF_FTC_MAX_BACKLOG "2048"
#define VNF_FTC_LOST "1s"

#define VNF_FTC_LINK_RETRY_NS 10000000ull

#define VNF_FTC_TX_SLOT 2048
#define VNF_FTC_TX_SLOTS (2 * PKTIO_BATCH)

enum vnf_ftc_stage { VNF_FTC_REPLICA, VNF_FTC_FWD, VNF_FTC_BUF, VNF_FTC_N_STAGES };

struct vnf_ftc_local {
    int stage;                  /* Where it goes. */
    bool peer;                  /* A sealed peer message, else a packet. */
    uint32_t from;
    size_t ofs, len;            /* Its bytes, in the queue's 'data'. */
};

/* Messages for stages, their bytes in 'data': a message costs no allocation once the buffers
 * have grown. */
struct vnf_ftc_queue {
    struct vnf_ftc_local *items;
    size_t n, cap;
    struct buf data;
};

/* The path's NSH header (from the last frame in), to send on with SI - 1. The path's frames
 * carry hop timestamps (the classifier's) when 'stamp': what we send on gets ours, from when
 * the last NSH frame came in ('t_in': the packet itself for what a replica forwards; for what
 * the buffer releases, the packet when nothing came in while it was held, as for a
 * closed-loop client: the hold is then in our hop). */
struct vnf_ftc_path {
    uint8_t nsh[NSH_MAX_LEN];
    size_t nsh_len;
    uint8_t sff_mac[6];
    uint32_t spi;               /* The path's (forward) SPI. */
    bool have_path;
    bool stamp;
    uint64_t t_in;
};

/* What the other thread hands this one, a batch at a time: 'efd' is written when 'q' turns
 * non-empty, so a wake-up takes all that came meanwhile (not one per packet under load). */
struct vnf_ftc_inbox {
    pthread_mutex_t mutex;
    int efd;
    struct vnf_ftc_queue q;
    struct vnf_ftc_path path;   /* The sender's, as of its last batch. */
    bool stop;                  /* The end's thread: return. */
};

struct vnf_ftc_hook {
    struct vnf_ftc *v;
    enum vnf_ftc_stage kind;
    uint32_t self;
};

/* One thread's stages. On the chain's first and last VNF the forwarder and the buffer run on
 * a thread of their own (VNF_FTC_THREAD_NAME), the end's, beside the role's thread and its
 * ring member, so that the host can give each its own CPU quota (the paper's own cores for
 * them): two of these, 'other' pointing at each other, each with its own loop, sockets to
 * send on, queues and copy of the path. What one's stage sends the other's goes through the
 * other's inbox. Only the role's thread reads the role's data socket, except on the first
 * VNF, where every data frame is the forwarder's: the end's thread reads it there (the role
 * sends on it: pktio's receive and send sides share no field). */
struct vnf_ftc {
    struct role *role;
    struct vnf_ftc_config cfg;
    struct loop *loop;
    struct pktio *io;           /* Sends on the data interface. */
    struct ftstage *stages[VNF_FTC_N_STAGES];
    struct vnf_ftc_hook hooks[VNF_FTC_N_STAGES];
    struct vnf_ftc_path path;
    /* What stages of this thread hand each other (every data packet, on the first and the
     * last VNF), run from the loop: 'queue'. A drain takes them over as 'run' (the two swap),
     * so what a stage queues meanwhile never moves the bytes in hand. */
    struct vnf_ftc_queue queue, run;
    uint64_t drain_timer;
    /* The other thread's: 'out' collects what goes there while a batch is handled, handed
     * over at its end (vnf_ftc_hand_over()); 'inbox' is what it handed us. */
    struct vnf_ftc *other;
    struct vnf_ftc_queue out;
    struct vnf_ftc_inbox inbox;
    bool inbox_ready;
    pthread_t thread;           /* The role's: the end's thread. */
    bool thread_started;
    uint8_t frame[VNF_FTC_FRAME_MAX];
    /* Frames sent while a batch is handled (frames in, or the stages' queue drained) are
     * queued and go in one sendmmsg at its end, each built in its own slot: the socket's
     * queue holds at most PKTIO_BATCH, so a slot is reused only once what it held was sent.
     * A larger frame, or one sent at another time (a tick), goes at once from 'frame'. */
    bool batching;
    uint8_t (*tx)[VNF_FTC_TX_SLOT];
    size_t tx_next;
    /* Peer messages (commits, the buffer's logs, repairs) on a socket of their own: in the
     * data's queue they waited behind every packet an overloaded chain's ingress had queued
     * (hundreds of ms), and the buffer held its packets as long. The role's thread reads it. */
    struct pktio *peer_io;
    /* cfg.link on the first and the last VNF: the other end's peer messages (the buffer's
     * piggyback messages, the front's commits to the buffer) go straight there, not through
     * the switch (two crossings of its main loop per commit round trip). NULL while the
     * interface is missing or broke (the other guest was replaced and its veth died with it):
     * the data interface then, and a try to open it again every VNF_FTC_LINK_RETRY_NS
     * ('link_timer'), sending or not: the other end may already send on the new link its
     * replacement got (its state requests among them). The end's thread receives on it; the
     * role's sends on a socket of its own there that receives nothing ('link_ethertype' 0). */
    struct pktio *link_io;
    uint16_t link_ethertype;
    unsigned link_peer;         /* The VNF at the link's other end. */
    uint64_t link_timer;
    uint64_t n_link_out, n_link_in, n_link_down;
    uint64_t n_link_rx_dropped;     /* The link's receive queue's overflows, closed links' too. */
    uint64_t link_dropped_closed;
    uint64_t n_in, n_carried_out, n_released, n_no_path, n_peer_in, n_peer_out, n_too_big;
    uint64_t n_unknown_to, n_replies;
    uint64_t n_handoffs;        /* Batches handed to the other thread. */
    /* The forwarder's receive admission (vnf_ftc_rx_check()), on the end's thread. */
    struct pktio *rx_io;
    bool rx_paused;
    uint64_t n_rx_paused;
    uint64_t rx_timer;          /* Looks at the forwarder's window again (vnf_ftc_rx_check). */
};

static bool
vnf_ftc_is_end(const struct vnf_ftc *v)
{
    return v->loop != v->role->loop;
}

/* A counter both threads add to: the role's half's, added atomically. */
#define VNF_FTC_COUNT(V, FIELD) \
    __atomic_add_fetch(&(vnf_ftc_is_end(V) ? (V)->other : (V))->FIELD, 1, __ATOMIC_RELAXED)

static const uint8_t *
vnf_ftc_mac_of(const struct vnf_ftc *v, uint32_t endpoint)
{
    if (endpoint == VNF_FTC_FORWARDER) {
        return v->cfg.ring[0];
    }
    if (endpoint == VNF_FTC_BUFFER) {
        return v->cfg.ring[v->cfg.n - 1];
    }
    if (endpoint >= 1 && endpoint <= v->cfg.n) {
        return v->cfg.ring[endpoint - 1];
    }
    return NULL;
}

/* The stage of 'endpoint' in this guest, on this thread or the other's; -1 if none. (Which
 * thread has which stage is set before the end's thread starts, and never changes.) */
static int
vnf_ftc_local_stage(const struct vnf_ftc *v, uint32_t endpoint)
{
    for (int k = 0; k < VNF_FTC_N_STAGES; k++) {
        const struct vnf_ftc *owner = v->stages[k] ? v : v->other;

        if (owner && owner->stages[k] && owner->hooks[k].self == endpoint) {
            return k;
        }
    }
    return -1;
}

static void vnf_ftc_drain(struct vnf_ftc *);
static void vnf_ftc_rx_check(struct vnf_ftc *, uint64_t min_room);
static void vnf_ftc_peer_readable(struct loop *, int fd, uint32_t events, void *v_);

/* Where to build a frame of 'len' bytes (see 'batching'). */
static uint8_t *
vnf_ftc_tx_buf(struct vnf_ftc *v, size_t len)
{
    if (v->batching && len <= VNF_FTC_TX_SLOT) {
        return v->tx[v->tx_next++ % VNF_FTC_TX_SLOTS];
    }
    return v->frame;
}

/* 'base': where vnf_ftc_tx_buf() said to build it ('f' may start a little after). */
static void
vnf_ftc_xmit(struct vnf_ftc *v, const uint8_t *base, const uint8_t *f, size_t len)
{
    if (base != v->frame) {
        pktio_queue(v->io, f, len);
    } else {
        pktio_flush(v->io);             /* What is queued went first. */
        pktio_send(v->io, f, len);
    }
}

static void
vnf_ftc_queue_put(struct vnf_ftc_queue *q, int stage, bool peer, uint32_t from,
                  const uint8_t *data, size_t len)
{
    if (q->n >= q->cap) {
        q->items = x2nrealloc(q->items, &q->cap, sizeof *q->items);
    }
    q->items[q->n++] = (struct vnf_ftc_local) {
        .stage = stage, .peer = peer, .from = from, .ofs = q->data.len, .len = len,
    };
    buf_put(&q->data, data, len);
}

static void
vnf_ftc_queue_swap(struct vnf_ftc_queue *a, struct vnf_ftc_queue *b)
{
    struct vnf_ftc_queue t = *a;

    *a = *b;
    *b = t;
}

static void
vnf_ftc_queue_clear(struct vnf_ftc_queue *q)
{
    q->n = 0;
    buf_clear(&q->data);
}

static void
vnf_ftc_queue_uninit(struct vnf_ftc_queue *q)
{
    free(q->items);
    buf_uninit(&q->data);
}

/* Runs 'q''s messages on this thread's stages, oldest first, and empties it. */
static void
vnf_ftc_queue_run(struct vnf_ftc *v, struct vnf_ftc_queue *q)
{
    for (size_t i = 0; i < q->n; i++) {
        const struct vnf_ftc_local *l = &q->items[i];
        const uint8_t *data = q->data.data + l->ofs;
        uint64_t now = time_mono_ns();

        if (l->peer) {
            ftstage_peer_message(v->stages[l->stage], data, l->len, now);
        } else {
            ftstage_packet(v->stages[l->stage], l->from, data, l->len, now);
        }
    }
    vnf_ftc_queue_clear(q);
}

/* Hands what 'out' collected to the other thread: one lock, and one wake-up unless it has not
 * yet taken the last batch (then this one joins it). */
static void
vnf_ftc_hand_over(struct vnf_ftc *v)
{
    struct vnf_ftc_inbox *in;
    bool wake;

    if (!v->out.n) {
        return;
    }
    in = &v->other->inbox;
    pthread_mutex_lock(&in->mutex);
    wake = !in->q.n;
    if (wake) {
        vnf_ftc_queue_swap(&in->q, &v->out);
    } else {
        for (size_t i = 0; i < v->out.n; i++) {
            const struct vnf_ftc_local *l = &v->out.items[i];

            vnf_ftc_queue_put(&in->q, l->stage, l->peer, l->from, v->out.data.data + l->ofs,
                              l->len);
        }
    }
    if (v->path.have_path) {
        in->path = v->path;
    }
    pthread_mutex_unlock(&in->mutex);
    vnf_ftc_queue_clear(&v->out);
    v->n_handoffs++;
    if (wake) {
        uint64_t one = 1;

        if (write(in->efd, &one, sizeof one) < 0) {
            log_warn("ftc: cannot wake the other thread: %s", strerror(errno));
        }
    }
}

/* The end of a batch: what it sent goes out, what it handed over goes over. */
static void
vnf_ftc_batch_done(struct vnf_ftc *v)
{
    pktio_flush(v->io);
    v->batching = false;
    vnf_ftc_hand_over(v);
}

static void
vnf_ftc_drain_cb(struct loop *loop, uint64_t id, void *v_)
{
    struct vnf_ftc *v = v_;

    v->drain_timer = 0;
    v->batching = true;
    vnf_ftc_drain(v);
    vnf_ftc_batch_done(v);
    (void) loop;
    (void) id;
}

/* A message for stage 'stage' of this guest, run from the loop: on this thread's queue, or
 * the other's (handed over at the end of the batch, or by the drain's timer at the latest). */
static void
vnf_ftc_enqueue(struct vnf_ftc *v, int stage, bool peer, uint32_t from, const uint8_t *data,
                size_t len)
{
    if (v->stages[stage]) {
        vnf_ftc_queue_put(&v->queue, stage, peer, from, data, len);
    } else {
        vnf_ftc_queue_put(&v->out, stage, peer, from, data, len);
    }
    if (!v->drain_timer) {
        v->drain_timer = loop_add_timer(v->loop, 0, 0, vnf_ftc_drain_cb, v);
    }
}

/* A frame's packet or peer message for stage 'stage': at once on this thread, else handed
 * to the other's. */
static void
vnf_ftc_input(struct vnf_ftc *v, int stage, bool peer, uint32_t from, const uint8_t *data,
              size_t len, uint64_t t_in)
{
    if (!v->stages[stage]) {
        vnf_ftc_enqueue(v, stage, peer, from, data, len);
    } else if (peer) {
        ftstage_peer_message(v->stages[stage], data, len, t_in);
    } else {
        ftstage_packet(v->stages[stage], from, data, len, t_in);
    }
}

/* Runs what stages of this thread handed each other, oldest first, until none is left. */
static void
vnf_ftc_drain(struct vnf_ftc *v)
{
    while (v->queue.n) {
        vnf_ftc_queue_swap(&v->queue, &v->run);
        vnf_ftc_queue_run(v, &v->run);
    }
    vnf_ftc_rx_check(v, PKTIO_BATCH);   /* The buffer's message may have opened the window. */
}

/* The other thread's batch. */
static void
vnf_ftc_inbox_readable(struct loop *loop, int fd, uint32_t events, void *v_)
{
    struct vnf_ftc *v = v_;
    uint64_t count;
    bool stop;

    if (read(fd, &count, sizeof count) < 0 && errno != EAGAIN) {
        log_warn("ftc: inbox: %s", strerror(errno));
    }
    pthread_mutex_lock(&v->inbox.mutex);
    vnf_ftc_queue_swap(&v->inbox.q, &v->run);
    if (v->inbox.path.have_path) {
        v->path = v->inbox.path;
    }
    stop = v->inbox.stop;
    pthread_mutex_unlock(&v->inbox.mutex);
    v->batching = true;
    vnf_ftc_queue_run(v, &v->run);
    vnf_ftc_drain(v);
    vnf_ftc_batch_done(v);
    if (stop) {
        loop_stop(loop);
    }
    (void) events;
}

/* Sends 'payload' on along the path: NSH (SI - 1) with next protocol 'np', to the SFF; or, if
 * 'reply', back on the reverse path (SPI | NSH_SPI_REVERSE, SI 255: nsh.h). */
static void
vnf_ftc_send_on(struct vnf_ftc *v, uint8_t np, const uint8_t *payload, size_t len, bool reply)
{
    size_t pad = v->path.stamp ? nsh_tlv_wire_len(NSH_TIMESTAMP_LEN) : 0;
    uint8_t *base, *f;

    if (!v->path.have_path) {
        VNF_FTC_COUNT(v, n_no_path);
        return;
    }
    if (pad + HOP_ETH_LEN + v->path.nsh_len + len > sizeof v->frame) {
        VNF_FTC_COUNT(v, n_too_big);
        return;
    }
    /* Built 'pad' bytes in, so the timestamp can grow the header into them. */
    base = vnf_ftc_tx_buf(v, pad + HOP_ETH_LEN + v->path.nsh_len + len);
    f = base + pad;
    hop_set_header(f, v->path.sff_mac, pktio_mac(v->role->io), NSH_ETHERTYPE);
    memcpy(f + HOP_ETH_LEN, v->path.nsh, v->path.nsh_len);
    f[HOP_ETH_LEN + 3] = np;
    if (reply) {
        nsh_set_spi_si(f + HOP_ETH_LEN, v->path.spi | NSH_SPI_REVERSE, NSH_SI_START);
    }
    memcpy(f + HOP_ETH_LEN + v->path.nsh_len, payload, len);
    len += HOP_ETH_LEN + v->path.nsh_len;
    if (pad) {
        struct nsh_timestamp ts = { .component = v->role->id, .t_in = v->path.t_in,
                                    .t_out = time_mono_ns() };
        uint8_t value[NSH_TIMESTAMP_LEN];
        uint8_t *start = f;

        nsh_timestamp_put(value, &ts);
        if (!nsh_push_tlv(&start, HOP_ETH_LEN, pad, NSH_CLASS_SFCLAB, NSH_TLV_TIMESTAMP, value,
                          sizeof value)) {
            len += f - start;
            f = start;
        }
    }
    vnf_ftc_xmit(v, base, f, len);
}

static void
vnf_ftc_forward(void *h_, uint32_t to, const uint8_t *data, size_t len)
{
    struct vnf_ftc_hook *h = h_;
    struct vnf_ftc *v = h->v;
    int local = vnf_ftc_local_stage(v, to);

    if (local >= 0) {
        vnf_ftc_enqueue(v, local, false, h->self, data, len);
    } else if (to == VNF_FTC_OUTSIDE) {
        /* The buffer releases: the inner frame continues to the SFF's decapsulation. */
        v->n_released++;
        vnf_ftc_send_on(v, NSH_NP_ETHERNET, data, len, false);
    } else if (to == VNF_FTC_REVERSE) {
        /* The buffer releases a middlebox's in-place reply (dns): back on the reverse path,
         * as vnf.c sends an NF_REPLY, which the SFF decapsulates toward the client. */
        v->n_released++;
        v->n_replies++;
        vnf_ftc_send_on(v, NSH_NP_ETHERNET, data, len, true);
    } else if (vnf_ftc_mac_of(v, to)) {
        VNF_FTC_COUNT(v, n_carried_out);
        vnf_ftc_send_on(v, NSH_NP_EXPERIMENT1, data, len, false);
    } else {
        VNF_FTC_COUNT(v, n_unknown_to);
    }
}

static void
vnf_ftc_deliver(void *h_, const uint8_t *data, size_t len)
{
    (void) h_;
    (void) data;
    (void) len;
}

static void vnf_ftc_link_readable(struct loop *, int fd, uint32_t events, void *v_);

static void vnf_ftc_link_retry(struct loop *, uint64_t id, void *v_);

/* Opens cfg.link; while it cannot, tries again every VNF_FTC_LINK_RETRY_NS. */
static void
vnf_ftc_link_open(struct vnf_ftc *v)
{
    if (!pktio_open_ethertype(v->cfg.link, false, v->link_ethertype, &v->link_io)
        && loop_add_fd(v->loop, pktio_fd(v->link_io), EPOLLIN, vnf_ftc_link_readable,
                       v)) {
        pktio_close(v->link_io);
        v->link_io = NULL;
    }
    if (!v->link_io && !v->link_timer) {
        v->link_timer = loop_add_timer(v->loop, VNF_FTC_LINK_RETRY_NS,
                                       VNF_FTC_LINK_RETRY_NS, vnf_ftc_link_retry, v);
    } else if (v->link_io && v->link_timer) {
        loop_cancel_timer(v->loop, v->link_timer);
        v->link_timer = 0;
    }
}

static void
vnf_ftc_link_retry(struct loop *loop, uint64_t id, void *v_)
{
    struct vnf_ftc *v = v_;

    if (!v->link_io) {
        vnf_ftc_link_open(v);
    }
    (void) loop;
    (void) id;
}

static void
vnf_ftc_link_close(struct vnf_ftc *v)
{
    if (v->link_io) {
        pktio_read_drops(v->link_io);
        v->link_dropped_closed += pktio_stats(v->link_io)->rx_dropped;
        loop_del_fd(v->loop, pktio_fd(v->link_io));
        pktio_close(v->link_io);
        v->link_io = NULL;
        VNF_FTC_COUNT(v, n_link_down);
        vnf_ftc_link_open(v);   /* At once: a new link may be there already. */
    }
}

/* Writes into 'f' the frame of peer message 'msg' to the guest of data MAC 'mac' (an ftstage
 * message after an Ethernet header from our data MAC): the same on the link and the switch. */
static void
vnf_ftc_peer_frame(const struct vnf_ftc *v, uint8_t *f, const uint8_t *mac, const uint8_t *msg,
                   size_t len)
{
    hop_set_header(f, mac, pktio_mac(v->role->io), FTSTAGE_ETHERTYPE);
    memcpy(f + HOP_ETH_LEN, msg, len);
}

/* Sends peer message 'msg' for the guest of data MAC 'mac' over the link if it leads there;
 * false if it does not, or is down (the caller sends through the switch). */
static bool
vnf_ftc_link_send(struct vnf_ftc *v, const uint8_t *mac, const uint8_t *msg, size_t len)
{
    uint8_t *f = v->frame;

    if (!v->link_io || memcmp(mac, v->cfg.ring[v->link_peer], 6)) {
        return false;
    }
    vnf_ftc_peer_frame(v, f, mac, msg, len);
    if (pktio_send(v->link_io, f, HOP_ETH_LEN + len)) {
        /* ENXIO: the veth died with the other guest. A full queue (ENOBUFS) too: the
         * switch still takes it. */
        vnf_ftc_link_close(v);
        return false;
    }
    VNF_FTC_COUNT(v, n_link_out);
    VNF_FTC_COUNT(v, n_peer_out);
    return true;
}

static bool
vnf_ftc_send(void *h_, uint32_t to, const uint8_t *msg, size_t len)
{
    struct vnf_ftc_hook *h = h_;
    struct vnf_ftc *v = h->v;
    int local = vnf_ftc_local_stage(v, to);
    const uint8_t *mac = vnf_ftc_mac_of(v, to);
    uint8_t *f;

    if (local >= 0) {
        vnf_ftc_enqueue(v, local, true, h->self, msg, len);
        return true;
    }
    if (!mac || HOP_ETH_LEN + len > sizeof v->frame) {
        return false;
    }
    if (vnf_ftc_link_send(v, mac, msg, len)) {
        return true;
    }
    f = vnf_ftc_tx_buf(v, HOP_ETH_LEN + len);
    vnf_ftc_peer_frame(v, f, mac, msg, len);
    vnf_ftc_xmit(v, f, f, HOP_ETH_LEN + len);
    VNF_FTC_COUNT(v, n_peer_out);
    return true;
}

static void
vnf_ftc_note(void *h_, const char *text)
{
    log_info("ftc: %s", text);
    (void) h_;
}

static int
vnf_ftc_make_stage(struct vnf_ftc *v, enum vnf_ftc_stage kind, const char *class,
                   uint32_t self, const struct ft_config *core, char **errp)
{
    static const struct ftstage_ops ops = {
        .forward = vnf_ftc_forward, .deliver = vnf_ftc_deliver, .send = vnf_ftc_send,
        .note = vnf_ftc_note,
    };
    struct ftstage_config cfg = {
        .class = ft_core_class_find(class), .core = *core, .key = v->cfg.key,
        .loop = v->loop,
    };

    cfg.core.self = self;
    ft_rng_init(&cfg.core.rng, self);
    v->hooks[kind] = (struct vnf_ftc_hook) { .v = v, .kind = kind, .self = self };
    return ftstage_create(&cfg, &ops, &v->hooks[kind], &v->stages[kind], errp);
}

/* The middlebox behind the head for "FN KEY=VALUE ...": FN's own transaction if it has one
 * (its parameters the rest), else 'nf' (the function on the group's store). */
static void
vnf_ftc_mbox(const char *params, char **mboxp, const char **paramsp)
{
    size_t n = strcspn(params, " ");
    char *fn = xasprintf("%.*s", (int) n, params);
    const struct ftc_mbox_class *c = ftc_mbox_find(fn);

    if (c && c->concurrent) {
        *mboxp = fn;
        *paramsp = params + n + strspn(params + n, " ");
    } else {
        free(fn);
        *mboxp = xstrdup("nf");
        *paramsp = params;
    }
}

/* One thread's half: its loop, its socket to send on the data interface. */
static struct vnf_ftc *
vnf_ftc_half(const struct vnf_ftc_config *cfg, struct role *role, struct loop *loop,
             struct pktio *io)
{
    struct vnf_ftc *v = xzalloc(sizeof *v);

    v->role = role;
    v->cfg = *cfg;
    v->loop = loop;
    v->io = io;
    v->tx = xmalloc(VNF_FTC_TX_SLOTS * sizeof *v->tx);
    v->inbox.efd = -1;
    return v;
}

/* Watches the inbox of 'v' on its loop. */
static int
vnf_ftc_inbox_open(struct vnf_ftc *v)
{
    pthread_mutex_init(&v->inbox.mutex, NULL);
    v->inbox_ready = true;
    v->inbox.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (v->inbox.efd < 0) {
        return errno;
    }
    return loop_add_fd(v->loop, v->inbox.efd, EPOLLIN, vnf_ftc_inbox_readable, v);
}

/* The end's half beside 'v' (the role's): its loop, for its thread, and its socket to send on,
 * which receives nothing (ethertype 0). */
static int
vnf_ftc_end_create(struct vnf_ftc *v)
{
    struct loop *loop = NULL;
    struct pktio *io = NULL;
    int error;

    error = loop_create(&loop);
    if (!error) {
        error = pktio_open_ethertype(pktio_name(v->role->io), false, 0, &io);
        if (error) {
            loop_destroy(loop);
        }
    }
    if (error) {
        return error;
    }
    v->other = vnf_ftc_half(&v->cfg, v->role, loop, io);
    v->other->other = v;
    error = vnf_ftc_inbox_open(v);
    return error ? error : vnf_ftc_inbox_open(v->other);
}

/* The end's thread: its loop, until vnf_ftc_destroy() stops it. */
static void *
vnf_ftc_end_main(void *e_)
{
    struct vnf_ftc *e = e_;
    int error = loop_run(e->loop);

    if (error) {
        log_err("ftc: the end's loop: %s", strerror(error));
    }
    return NULL;
}

static void vnf_ftc_data_readable(struct loop *, int fd, uint32_t events, void *e_);

/* Starts the end's thread; on the first VNF it reads the data socket (the forwarder's
 * frames), which the role's loop then leaves alone. Signals stay blocked in it, as in the
 * thread that made it (role_start()): the role's loop takes them. */
static int
vnf_ftc_end_start(struct vnf_ftc *v)
{
    struct vnf_ftc *e = v->other;
    int error = 0;

    if (e->stages[VNF_FTC_FWD]) {
        e->rx_io = v->role->io;
        error = loop_add_fd(e->loop, pktio_fd(e->rx_io), EPOLLIN, vnf_ftc_data_readable, e);
        v->role->rx_elsewhere = !error;
    }
    if (!error) {
        error = pthread_create(&v->thread, NULL, vnf_ftc_end_main, e);
    }
    if (!error) {
        v->thread_started = true;
        pthread_setname_np(v->thread, VNF_FTC_THREAD_NAME);
    }
    return error;
}

/* The buffer's messages to the forwarder fill a peer message with logs: the forwarder spreads
 * them over the packets it sends, VNF_FTC_MAX_LOGS each. Filled only to that (one Monitor log
 * a packet: a message per ~11 packets), the buffer's thread, at its CPU quota, sent 0.086-0.089
 * messages a released packet, each a frame on the link with its own system call, softirq and
 * seal (session 25). Many groups of many partitions leave less than the buffer's least (512). */
size_t
vnf_ftc_buffer_max_logs(unsigned n, unsigned partitions)
{
    size_t room = VNF_FTC_MAX_MSG_LEN - VNF_FTC_BUF_MSG_FIXED;
    size_t commits = (size_t) n * FTC_COMMIT_WIRE_MAX(partitions ? partitions : 1);

    return commits < room ? room - commits : 0;
}

int
vnf_ftc_create(const struct vnf_ftc_config *cfg, struct role *role, struct vnf_ftc **vp,
               char **errp)
{
    struct vnf_ftc *v;
    uint32_t ring[VNF_FTC_MAX_RING], next;
    uint32_t fwd = VNF_FTC_FORWARDER, buf = VNF_FTC_BUFFER, r0 = VNF_FTC_RING(0);
    uint32_t outs[2] = { VNF_FTC_OUTSIDE, VNF_FTC_REVERSE };
    char parts[16], tick[32], commit_to[16], threads[16], window[16], max_msg[16], buf_max[24],
         *mbox;
    const char *mbox_params;
    bool end = cfg->index == 0 || cfg->index + 1 == cfg->n;
    int error;

    snprintf(commit_to, sizeof commit_to, "%d", VNF_FTC_BUFFER);
    if (!cfg->n || cfg->n > VNF_FTC_MAX_RING || cfg->index >= cfg->n || cfg->f + 1 > cfg->n) {
        *errp = xasprintf("ftc: index %u of %u VNFs with f %u (needs f+1 <= VNFs <= %d)",
                          cfg->index, cfg->n, cfg->f, VNF_FTC_MAX_RING);
        return EINVAL;
    }
    v = vnf_ftc_half(cfg, role, role->loop, role->io);
    error = pktio_open_ethertype(pktio_name(role->io), false, FTSTAGE_ETHERTYPE, &v->peer_io);
    if (!error) {
        error = pktio_drop_ethertype(role->io, FTSTAGE_ETHERTYPE);
    }
    if (!error) {
        error = loop_add_fd(role->loop, pktio_fd(v->peer_io), EPOLLIN, vnf_ftc_peer_readable,
                            v);
    }
    if (error) {
        *errp = xasprintf("ftc: peer socket on %s: %s", pktio_name(role->io), strerror(error));
        vnf_ftc_destroy(v);
        return error;
    }
    if (end) {
        error = vnf_ftc_end_create(v);
        if (error) {
            *errp = xasprintf("ftc: the end's thread: %s", strerror(error));
            vnf_ftc_destroy(v);
            return error;
        }
    }
    if (cfg->link && cfg->n >= 2 && end) {
        v->link_peer = v->other->link_peer = cfg->index ? 0 : cfg->n - 1;
        v->other->link_ethertype = FTSTAGE_ETHERTYPE;
        vnf_ftc_link_open(v);   /* Missing: the switch, and later tries. */
        vnf_ftc_link_open(v->other);
    } else {
        v->cfg.link = NULL;
        if (v->other) {
            v->other->cfg.link = NULL;
        }
    }
    for (unsigned i = 0; i < cfg->n; i++) {
        ring[i] = VNF_FTC_RING(i);
    }
    next = cfg->index + 1 < cfg->n ? VNF_FTC_RING(cfg->index + 1) : VNF_FTC_BUFFER;
    snprintf(parts, sizeof parts, "%u", cfg->partitions ? cfg->partitions : 1);
    snprintf(threads, sizeof threads, "%u", cfg->threads ? cfg->threads : 1);
    vnf_ftc_mbox(cfg->mbox_params ? cfg->mbox_params : "", &mbox, &mbox_params);
    snprintf(tick, sizeof tick, "%"PRIu64"us", cfg->tick_ns / 1000);
    snprintf(window, sizeof window, "%u",
             MIN(MAX(VNF_FTC_WINDOW_HOP * (cfg->n - 1), VNF_FTC_WINDOW_MIN), FTC_FWD_MAX_WINDOW));
    snprintf(max_msg, sizeof max_msg, "%d", VNF_FTC_MAX_MSG_LEN);
    snprintf(buf_max, sizeof buf_max, "%zu", vnf_ftc_buffer_max_logs(cfg->n, cfg->partitions));
    {
        char n_s[16];
        snprintf(n_s, sizeof n_s, "%u", cfg->n);
        struct ft_param rparams[] = {
            { "n", n_s }, { "partitions", parts }, { "tick", tick }, { "mbox", mbox },
            { "mbox_params", mbox_params }, { "max_msg", max_msg },
            { "commit_to", commit_to }, { "threads", threads },
        };
        struct ft_param eparams[] = {
            { "tick", tick }, { "max_msg", VNF_FTC_MAX_LOGS },
            { "max_backlog", VNF_FTC_MAX_BACKLOG }, { "window", window },
            { "lost", VNF_FTC_LOST },
        };
        struct ft_param bparams[] = { { "tick", tick }, { "max_msg", buf_max } };
        struct ft_config rc = {
            .f = cfg->f, .group = ring, .n_group = cfg->n, .next = &next, .n_next = 1,
            .params = rparams, .n_params = ARRAY_SIZE(rparams),
        };
        struct ft_config fc = {
            .next = &r0, .n_next = 1, .peers = &buf, .n_peers = 1, .params = eparams,
            .n_params = ARRAY_SIZE(eparams),
        };
        struct ft_config bc = {
            .next = outs, .n_next = 2, .peers = &fwd, .n_peers = 1, .params = bparams,
            .n_params = ARRAY_SIZE(bparams),
        };

        error = vnf_ftc_make_stage(v, VNF_FTC_REPLICA, "ftc_replica", VNF_FTC_RING(cfg->index),
                                   &rc, errp);
        if (!error && cfg->index == 0) {
            error = vnf_ftc_make_stage(v->other, VNF_FTC_FWD, "ftc_forwarder",
                                       VNF_FTC_FORWARDER, &fc, errp);
        }
        if (!error && cfg->index == cfg->n - 1) {
            error = vnf_ftc_make_stage(v->other, VNF_FTC_BUF, "ftc_buffer", VNF_FTC_BUFFER,
                                       &bc, errp);
        }
    }
    free(mbox);
    if (error) {
        vnf_ftc_destroy(v);
        return error;
    }
    /* The replica first: a replacement asks for its state at once. */
    for (int k = 0; k < VNF_FTC_N_STAGES; k++) {
        struct vnf_ftc *owner = v->stages[k] ? v : v->other;

        if (owner && owner->stages[k]) {
            ftstage_start_incarnation(owner->stages[k], time_mono_ns(),
                                      k == VNF_FTC_REPLICA ? cfg->incarnation : 0);
        }
    }
    pktio_flush(v->io);
    if (v->other) {
        pktio_flush(v->other->io);
        error = vnf_ftc_end_start(v);
        if (error) {
            *errp = xasprintf("ftc: the end's thread: %s", strerror(error));
            vnf_ftc_destroy(v);
            return error;
        }
    }
    *vp = v;
    return 0;
}

/* One half's resources (the end's thread has returned). */
static void
vnf_ftc_half_destroy(struct vnf_ftc *v)
{
    for (int k = 0; k < VNF_FTC_N_STAGES; k++) {
        if (v->stages[k]) {
            ftstage_destroy(v->stages[k]);
        }
    }
    vnf_ftc_queue_uninit(&v->queue);
    vnf_ftc_queue_uninit(&v->run);
    vnf_ftc_queue_uninit(&v->out);
    if (v->inbox_ready) {
        vnf_ftc_queue_uninit(&v->inbox.q);
        pthread_mutex_destroy(&v->inbox.mutex);
    }
    if (v->inbox.efd >= 0) {
        loop_del_fd(v->loop, v->inbox.efd);
        close(v->inbox.efd);
    }
    if (v->drain_timer) {
        loop_cancel_timer(v->loop, v->drain_timer);
    }
    if (v->peer_io) {
        loop_del_fd(v->loop, pktio_fd(v->peer_io));
        pktio_close(v->peer_io);
    }
    if (v->link_io) {
        loop_del_fd(v->loop, pktio_fd(v->link_io));
        pktio_close(v->link_io);
    }
    if (v->link_timer) {
        loop_cancel_timer(v->loop, v->link_timer);
    }
    if (v->rx_timer) {
        loop_cancel_timer(v->loop, v->rx_timer);
    }
    if (v->rx_io) {
        loop_del_fd(v->loop, pktio_fd(v->rx_io));
    }
    if (vnf_ftc_is_end(v)) {
        pktio_close(v->io);
        loop_destroy(v->loop);
    }
    free(v->tx);
    free(v);
}

void
vnf_ftc_destroy(struct vnf_ftc *v)
{
    if (!v) {
        return;
    }
    if (v->thread_started) {
        struct vnf_ftc_inbox *in = &v->other->inbox;
        uint64_t one = 1;

        pthread_mutex_lock(&in->mutex);
        in->stop = true;
        pthread_mutex_unlock(&in->mutex);
        if (write(in->efd, &one, sizeof one) < 0) {
            log_err("ftc: cannot stop the end's thread: %s", strerror(errno));
        } else {
            pthread_join(v->thread, NULL);
        }
    }
    if (v->other) {
        vnf_ftc_half_destroy(v->other);
    }
    vnf_ftc_half_destroy(v);
}

static bool vnf_ftc_frame__(struct vnf_ftc *, struct pktio_pkt *, uint64_t t_in);
static size_t vnf_ftc_rx_room(struct vnf_ftc *);

/* A socket: a few batches a wake-up, until a short one, as role.c reads the data's; the data
 * socket (the end's, on the first VNF) no more than the forwarder's window has room for.
 * Returns 0 or the socket's error. */
static int
vnf_ftc_read(struct vnf_ftc *v, struct pktio *io)
{
    struct pktio_pkt pkts[PKTIO_BATCH];
    int error = 0;
    size_t n;

    v->batching = true;
    for (int round = 0; round < 8; round++) {
        size_t room = io == v->rx_io ? vnf_ftc_rx_room(v) : PKTIO_BATCH;

        if (!room) {
            /* Level-triggered: watched, a full queue would wake us for nothing. */
            if (!v->rx_paused && !loop_mod_fd(v->loop, pktio_fd(io), 0)) {
                v->rx_paused = true;
                v->n_rx_paused++;
            }
            break;
        }
        error = pktio_recv_batch(io, pkts, room, &n);
        if (error || !n) {
            break;
        }
        uint64_t t_in = time_mono_ns();
        for (size_t i = 0; i < n; i++) {
            if (io == v->link_io) {
                v->n_link_in++;
            }
            vnf_ftc_frame__(v, &pkts[i], t_in);
        }
        if (n < room) {
            break;                      /* Dry: see role_drain_pktio(). Flushed below. */
        }
        pktio_flush(v->io);
    }
    vnf_ftc_batch_done(v);
    if (io == v->link_io) {
        v->n_link_rx_dropped = v->link_dropped_closed + pktio_stats(io)->rx_dropped;
    }
    return error;
}

static void
vnf_ftc_peer_readable(struct loop *loop, int fd, uint32_t events, void *v_)
{
    vnf_ftc_read(v_, ((struct vnf_ftc *) v_)->peer_io);
    (void) loop;
    (void) fd;
    (void) events;
}

static void
vnf_ftc_data_readable(struct loop *loop, int fd, uint32_t events, void *e_)
{
    vnf_ftc_read(e_, ((struct vnf_ftc *) e_)->rx_io);
    (void) loop;
    (void) fd;
    (void) events;
}

/* The link's socket: an error (its veth died with the other guest) closes it, or epoll would
 * report it forever. */
static void
vnf_ftc_link_readable(struct loop *loop, int fd, uint32_t events, void *v_)
{
    struct vnf_ftc *v = v_;

    if (events & (EPOLLERR | EPOLLHUP) || vnf_ftc_read(v, v->link_io)) {
        vnf_ftc_link_close(v);
    }
    (void) loop;
    (void) fd;
}

/* What it sends waits in the socket's queue for the end of the batch (role.c flushes). */
bool
vnf_ftc_frame(struct vnf_ftc *v, struct pktio_pkt *pkt, uint64_t t_in)
{
    bool ours;

    v->batching = true;
    ours = vnf_ftc_frame__(v, pkt, t_in);
    v->batching = false;
    return ours;
}

static bool
vnf_ftc_frame__(struct vnf_ftc *v, struct pktio_pkt *pkt, uint64_t t_in)
{
    const uint8_t *own = pktio_mac(v->role->io);
    uint8_t *nsh = pkt->data + HOP_ETH_LEN;
    struct nsh_hdr hdr;
    uint32_t to;
    int stage;

    if (pkt->len >= HOP_ETH_LEN && hop_ethertype(pkt->data) == FTSTAGE_ETHERTYPE
        && !memcmp(pkt->data, own, 6)) {
        VNF_FTC_COUNT(v, n_peer_in);
        if (ftstage_msg_peek_to(pkt->data + HOP_ETH_LEN, pkt->len - HOP_ETH_LEN, &to)
            && (stage = vnf_ftc_local_stage(v, to)) >= 0) {
            vnf_ftc_input(v, stage, true, 0, pkt->data + HOP_ETH_LEN, pkt->len - HOP_ETH_LEN,
                          t_in);
        }
        vnf_ftc_drain(v);
        return true;
    }
    if (!hop_is_nsh_for(pkt->data, pkt->len, own)) {
        return false;
    }
    if (nsh_decode(nsh, pkt->len - HOP_ETH_LEN, &hdr, NULL)) {
        return false;
    }
    /* The path's header, SI already one down for what we send on. */
    memcpy(v->path.nsh, nsh, hdr.len);
    v->path.nsh_len = hdr.len;
    memcpy(v->path.sff_mac, pkt->data + 6, 6);
    v->path.spi = hdr.spi & ~NSH_SPI_REVERSE;
    v->path.have_path = nsh_dec_si(v->path.nsh);
    v->path.stamp = nsh_tlv_count(&hdr, NSH_CLASS_SFCLAB, NSH_TLV_TIMESTAMP) > 0;
    v->path.t_in = t_in;
    VNF_FTC_COUNT(v, n_in);
    if (hdr.next_proto == NSH_NP_ETHERNET && vnf_ftc_local_stage(v, VNF_FTC_FORWARDER) >= 0) {
        vnf_ftc_input(v, VNF_FTC_FWD, false, VNF_FTC_OUTSIDE, nsh + hdr.len,
                      pkt->len - HOP_ETH_LEN - hdr.len, t_in);
    } else if (hdr.next_proto == NSH_NP_EXPERIMENT1) {
        uint32_t from = v->cfg.index ? VNF_FTC_RING(v->cfg.index - 1) : VNF_FTC_FORWARDER;

        vnf_ftc_input(v, VNF_FTC_REPLICA, false, from, nsh + hdr.len,
                      pkt->len - HOP_ETH_LEN - hdr.len, t_in);
    }
    vnf_ftc_drain(v);
    return true;
}

json_t *
vnf_ftc_state(const struct vnf_ftc *v)
{
    const struct ft_core *core = ftstage_core(v->stages[VNF_FTC_REPLICA]);
    json_t *groups = json_array();

    for (unsigned d = 0; d <= v->cfg.f; d++) {
        unsigned g = (v->cfg.index + v->cfg.n - d) % v->cfg.n;
        uint64_t max[FTC_MAX_PARTS];
        uint32_t epoch;
        const struct nf_state *st = ftc_replica_store(core, g, max, &epoch);
        uint8_t digest[STATE_DIGEST_LEN];
        struct buf b = BUF_INITIALIZER;
        char hex[2 * STATE_DIGEST_LEN + 1];
        char *state;

        if (!st) {
            continue;
        }
        state_digest(st, digest);
        for (size_t i = 0; i < sizeof digest; i++) {
            sprintf(hex + 2 * i, "%02x", digest[i]);
        }
        state_export(st, &b);
        state = rpc_base64_encode(b.data, b.len);
        json_array_append_new(groups, json_pack("{s:i, s:i, s:I, s:I, s:s, s:s}", "group", g,
                                                "epoch", (int) epoch, "max", (json_int_t) max[0],
                                                "entries", (json_int_t) state_count(st),
                                                "digest", hex, "state", state));
        free(state);
        buf_uninit(&b);
    }
    return json_pack("{s:b, s:o}", "ready", ftc_replica_ready(core), "groups", groups);
}

void
vnf_ftc_register(struct vnf_ftc *v, struct role *role)
{
    const struct ftstage_stats *st = ftstage_stats(v->stages[VNF_FTC_REPLICA]);
    /* What the forwarder and the buffer do is counted on their thread, read racily here as
     * any counter is (whole 64-bit words). */
    const struct vnf_ftc *e = v->other ? v->other : v;

    role_add_counter(role, "ftc_in", &v->n_in);
    role_add_counter(role, "ftc_carried_out", &v->n_carried_out);
    role_add_counter(role, "ftc_released", &e->n_released);
    role_add_counter(role, "ftc_replies", &e->n_replies);
    role_add_counter(role, "ftc_peer_in", &v->n_peer_in);
    role_add_counter(role, "ftc_peer_out", &v->n_peer_out);
    role_add_counter(role, "ftc_no_path", &v->n_no_path);
    role_add_counter(role, "ftc_held_stale", &st->drops[FT_DROP_STALE]);
    role_add_counter(role, "ftc_overload", &st->drops[FT_DROP_OVERLOAD]);
    role_add_counter(role, "ftc_peer_forged", &st->peer_forged);
    role_add_counter(role, "ftc_peer_replayed", &st->peer_replayed);
    role_add_counter(role, "ftc_peer_ok", &st->peer_rx);
    role_add_counter(role, "ftc_malformed", &st->drops[FT_DROP_MALFORMED]);
    role_add_counter(role, "ftc_send_errors", &st->send_errors);
    role_add_counter(role, "ftc_too_big", &v->n_too_big);
    role_add_counter(role, "ftc_link_out", &v->n_link_out);
    role_add_counter(role, "ftc_link_in", &e->n_link_in);
    role_add_counter(role, "ftc_link_down", &v->n_link_down);
    role_add_counter(role, "ftc_link_rx_dropped", &e->n_link_rx_dropped);
    role_add_drops_counter(role, "ftc_peer_rx_dropped", v->peer_io);
    role_add_counter(role, "ftc_handoffs", &v->n_handoffs);
    role_add_counter(role, "ftc_end_handoffs", &e->n_handoffs);
    {
        const struct ftc_replica_stats *rs
            = ftc_replica_stats(ftstage_core(v->stages[VNF_FTC_REPLICA]));

        role_add_counter(role, "ftc_held", &rs->held);
        role_add_counter(role, "ftc_held_dropped", &rs->held_dropped);
        role_add_counter(role, "ftc_retx_asked", &rs->retx_asked);
        role_add_counter(role, "ftc_retx_answered", &rs->retx_answered);
        role_add_counter(role, "ftc_retx_got", &rs->retx_got);
        role_add_counter(role, "ftc_resyncs", &rs->resyncs);
        role_add_counter(role, "ftc_held_us", &rs->held_us);
        role_add_counter(role, "ftc_held_us_max", &rs->held_us_max);
        role_add_counter(role, "ftc_ticks", &rs->ticks);
        role_add_counter(role, "ftc_retx_limited", &rs->retx_limited);
        role_add_counter(role, "ftc_retx_parsed", &rs->retx_parsed);
        role_add_counter(role, "ftc_stashed", &rs->stashed);
        role_add_counter(role, "ftc_stash_dropped", &rs->stash_dropped);
        role_add_counter(role, "ftc_stash_reads", &rs->stash_reads);
        role_add_counter(role, "ftc_propagate_ended", &rs->propagate_ended);
        role_add_counter(role, "ftc_txs", &rs->txs);
        role_add_counter(role, "ftc_tx_aborts", &rs->tx_aborts);
        role_add_counter(role, "ftc_tx_waits", &rs->tx_waits);
        role_add_counter(role, "ftc_tx_wounds", &rs->tx_wounds);
        role_add_counter(role, "ftc_tx_batches", &rs->batches);
        role_add_counter(role, "ftc_tx_wakeups", &rs->tx_wakeups);
    }
    if (e->stages[VNF_FTC_FWD]) {
        const struct ftstage_stats *fs = ftstage_stats(e->stages[VNF_FTC_FWD]);

        /* Packets the forwarder shed at admission (they wrote no state). */
        const struct ftc_forwarder_stats *ws
            = ftc_forwarder_stats(ftstage_core(e->stages[VNF_FTC_FWD]));

        role_add_counter(role, "ftc_fwd_shed", &fs->drops[FT_DROP_OVERLOAD]);
        role_add_counter(role, "ftc_fwd_closed_backlog", &ws->closed_backlog);
        role_add_counter(role, "ftc_fwd_closed_window", &ws->closed_window);
        role_add_counter(role, "ftc_fwd_propagated", &ws->propagated);
        role_add_counter(role, "ftc_fwd_propagated_idle", &ws->propagated_idle);
        role_add_counter(role, "ftc_fwd_propagated_carry", &ws->propagated_carry);
        role_add_counter(role, "ftc_fwd_propagated_full", &ws->propagated_full);
        role_add_counter(role, "ftc_fwd_counted_lost", &ws->counted_lost);
        role_add_counter(role, "ftc_fwd_logs_dropped", &ws->logs_dropped);
    }
    if (e->stages[VNF_FTC_BUF]) {
        const struct ftstage_stats *bs = ftstage_stats(e->stages[VNF_FTC_BUF]);

        role_add_counter(role, "ftc_buf_overload", &bs->drops[FT_DROP_OVERLOAD]);
        role_add_counter(role, "ftc_buf_stale", &bs->drops[FT_DROP_STALE]);
        role_add_counter(role, "ftc_buf_in", &bs->packets);
        {
            const struct ftc_buffer_stats *hs
                = ftc_buffer_stats(ftstage_core(e->stages[VNF_FTC_BUF]));

            role_add_counter(role, "ftc_buf_held_us", &hs->held_us);
            role_add_counter(role, "ftc_buf_held_us_max", &hs->held_us_max);
            role_add_counter(role, "ftc_buf_commits_in", &hs->commits_in);
            role_add_counter(role, "ftc_buf_held_now", &hs->held_now);
        }
    }
}

/* The forwarder's receive admission. While its window is closed, the data socket is not read:
 * new packets wait in the kernel's queue, whose overflow the kernel drops (as it does in front
 * of any middlebox under scheme none), where reading them only for the forwarder to shed them
 * (FT_DROP_OVERLOAD) cost this guest a receive and a parse each, taken from the CPU share the
 * admitted ones need. The forwarder's shedding stays as the fallback; fed only what fits, it
 * sheds nothing. A frame left in the queue is not yet admitted: it wrote no state. */
static void
vnf_ftc_rx_timer_cb(struct loop *loop, uint64_t id, void *v_)
{
    struct vnf_ftc *v = v_;

    v->rx_timer = 0;
    vnf_ftc_rx_check(v, 1);
    (void) loop;
    (void) id;
}

/* In a tick, unless the buffer's message comes first: packets lost on the way age out of the
 * window with no message at all. */
static void
vnf_ftc_rx_recheck_later(struct vnf_ftc *v)
{
    if (!v->rx_timer) {
        v->rx_timer = loop_add_timer(v->loop, v->cfg.tick_ns, 0, vnf_ftc_rx_timer_cb, v);
    }
}

/* What the window has room for, at most a batch (vnf_ftc_read() reads that many). */
static size_t
vnf_ftc_rx_room(struct vnf_ftc *v)
{
    uint64_t room = ftc_forwarder_room(ftstage_core(v->stages[VNF_FTC_FWD]), time_mono_ns());

    if (!room) {
        vnf_ftc_rx_recheck_later(v);
    }
    return MIN(room, PKTIO_BATCH);
}

/* Reads the data socket again once 'min_room' packets fit: a batch on the buffer's messages
 * (reopened for every packet that arrived, a wake-up would read one or two), any on the timer
 * (a window smaller than a batch still opens). */
static void
vnf_ftc_rx_check(struct vnf_ftc *v, uint64_t min_room)
{
    if (v->rx_paused) {
        if (ftc_forwarder_room(ftstage_core(v->stages[VNF_FTC_FWD]), time_mono_ns())
            >= min_room) {
            if (!loop_mod_fd(v->loop, pktio_fd(v->rx_io), EPOLLIN)) {
                v->rx_paused = false;
            }
        } else {
            vnf_ftc_rx_recheck_later(v);
        }
    }
}

void
vnf_ftc_rx_backpressure(struct vnf_ftc *v)
{
    if (v->other && v->other->stages[VNF_FTC_FWD]) {
        role_add_counter(v->role, "ftc_fwd_rx_paused", &v->other->n_rx_paused);
    }
}
