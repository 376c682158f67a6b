/* nham_sff — Hold/Release in the SFF (NHAM, section 4.2 of the paper; nham.h).
 *
 * Per VNF i of the chain:
 *   buffer_rx[i]  every packet sent (or to be sent) to VNF i that no saved checkpoint of VNF i
 *                 includes yet: Hold. A CKPT_SAVED(i, c) from the VSM releases those <= c.
 *   tx_last[i]    the last counter VNF i output (its buffer_tx, drained in the same step into
 *                 buffer_rx[i+1] or to the egress): anything it outputs again at or below it,
 *                 after a rollback, is a duplicate and goes no further.
 * A checkpoint goes SFF -> VNF (state request) -> SFF (image, on the same FIFO link as the
 * VNF's output, so every packet the image includes is already in buffer_tx) -> VSM (stored)
 * -> SFF (saved: release). An image claiming a packet the SFF never saw come out is refused:
 * releasing it would lose that packet's output for good.
 *
 * Links may lose frames (a loaded guest's socket overflows): every hop sees every counter id
 * in order, so a hop takes only the next one, and whatever it has not output is sent again
 * (go-back-N from buffer_rx, which still holds it: no checkpoint includes a packet whose
 * output has not come back) once the first of them has waited a whole 'retransmit' period
 * with no progress: since the hop's last progress, or since it was sent if the hop was idle
 * then. Not since the hop's last output alone: a hop idle for a period took the first
 * packets of a burst (every run's first ones) for lost at once, resent them before their
 * output could come back, and the VNF answered each twice. Checked every quarter period,
 * so a loss is repaired 1-1.25 periods after it. An output that skips a counter waits for
 * the one it skipped; one already passed on is a duplicate.
 *
 * Parameters: buffer_bytes (per buffer_rx, default 8M: one checkpoint interval of traffic
 * must fit, 250 ms at the paper's rate; a packet that would overflow any of them is dropped at
 * the ingress, before it has a counter id: an FT_DROP_OVERLOAD, a counted loss);
 * retransmit (default 200ms without progress; at most a window is sent again); window (default
 * 1024 packets in flight to a hop beyond what it has output: a guest's socket takes that many,
 * and a VNF held to a CPU quota is served a period's packets in one wake-up, not in several
 * round trips with the SFF). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/ft/core.h"
#include "vnfs/ft/nham/nham.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define NHAM_POISON(P, N) ASAN_POISON_MEMORY_REGION(P, N)
#define NHAM_UNPOISON(P, N) ASAN_UNPOISON_MEMORY_REGION(P, N)
#else
#define NHAM_POISON(P, N) ((void) (P), (void) (N))
#define NHAM_UNPOISON(P, N) ((void) (P), (void) (N))
#endif

#ifdef NHAM_BROKEN_RELEASE
/* tests/sim/broken_nham.c: releases buffer_rx when a checkpoint is asked for, before it is
 * saved: the bug Hold/Release exists to avoid. */
#define NHAM_SFF_CLASS ft_nham_sff_broken_class
#define NHAM_SFF_NAME "nham_sff-broken"
#else
#define NHAM_SFF_CLASS ft_nham_sff_class
#define NHAM_SFF_NAME "nham_sff"
#endif

#define NHAM_SFF_RETRANSMIT_TIMER 1

/* Held frames live in blocks of NHAM_HELD_BLOCK bytes that a release gives back to the core
 * and the next hold takes again: buffer_rx takes and gives up every packet at every hop, and
 * malloc() and free() of a frame of a 1 KB datagram (past glibc's per-thread cache) were a
 * quarter of the SFF's user time. Blocks are allocated NHAM_HELD_SLAB at a time and kept until
 * the core goes: never more than were held at once, which buffer_bytes bounds. A longer frame
 * is allocated alone. */
#define NHAM_HELD_BLOCK 2048
#define NHAM_HELD_SLAB 32

struct nham_held {
    uint64_t counter;
    uint8_t *frame;             /* The DATA frame, epoch field rewritten at each send. */
    size_t len;
};

struct nham_hop {
    uint32_t endpoint;
    bool up;                    /* False from the failure notice until READY. */
    uint32_t epoch;             /* The VNF's incarnation, from its READY. */
    bool ckpt_pending;          /* A state request is out; its image is awaited. */
    uint64_t sent_upto;         /* Highest counter sent to it in this epoch. */
    uint64_t tx_last;           /* buffer_tx mark: highest counter it output. */
    uint64_t released_upto;     /* Highest counter a saved checkpoint covers. */
    uint64_t progress;          /* Highest counter it output in this epoch (duplicates too). */
    uint64_t waiting_since;     /* When the first packet not output yet began to wait: its
                                 * send, the last progress or go-back-N, the latest. */
    struct nham_held *rx;       /* buffer_rx: rx[head..n) in counter order. */
    size_t head, n, cap;
    size_t rx_bytes;
};

struct nham_sff {
    struct ft_core up;
    uint32_t vsm, egress;
    uint64_t counter;           /* Last counter stamped. */
    uint64_t buffer_bytes;
    uint64_t retransmit_ns;
    uint64_t tick_ns;           /* A quarter of it: when go-back-N looks. */
    uint64_t window;            /* Packets sent to a hop beyond its progress. */
    uint64_t now;               /* The event being handled's time. */
    struct nham_hop *hops;
    size_t n_hops;
    struct buf scratch;
    struct buf egress_frame;    /* The step's output to the egress (sent as a reference). */
    uint8_t **free_blocks;      /* Free blocks, the last given back on top. Not a list
                                 * through the blocks: taking one would read it first, from
                                 * memory, as it was given back a checkpoint interval ago. */
    size_t n_free, cap_free;
    uint8_t **slabs;            /* What they were allocated in. */
    size_t n_slabs, cap_slabs;
};

static struct nham_sff *
nham_sff_cast(const struct ft_core *core)
{
    return (struct nham_sff *) core;
}

static int
nham_sff_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct nham_sff *s;
    uint64_t buffer_bytes, retransmit, window;
    int error;

    if (!cfg->n_next || cfg->n_next > NHAM_MAX_STAMPS || cfg->n_peers != 2) {
        if (errp) {
            *errp = xasprintf("nham_sff: needs 1-%d VNFs as next hops (got %zu) and peers "
                              "[vsm, egress] (got %zu)", NHAM_MAX_STAMPS, cfg->n_next,
                              cfg->n_peers);
        }
        return EINVAL;
    }
    error = ft_config_u64(cfg, "buffer_bytes", 8 << 20, &buffer_bytes, errp);
    if (!error) {
        error = ft_config_duration(cfg, "retransmit", 200 * 1000 * 1000ull, &retransmit, errp);
    }
    if (!error) {
        error = ft_config_u64(cfg, "window", 1024, &window, errp);
    }
    if (error) {
        return error;
    }
    s = xzalloc(sizeof *s);
    s->vsm = cfg->peers[0];
    s->egress = cfg->peers[1];
    s->buffer_bytes = buffer_bytes;
    s->retransmit_ns = retransmit ? retransmit : 1;
    s->tick_ns = MAX(s->retransmit_ns / 4, 1);
    s->window = window ? window : 1;
    s->n_hops = cfg->n_next;
    s->hops = xcalloc(s->n_hops, sizeof *s->hops);
    for (size_t i = 0; i < s->n_hops; i++) {
        s->hops[i].endpoint = cfg->next[i];
        s->hops[i].up = true;
    }
    *corep = &s->up;
    return 0;
}

/* Gives back a held frame of 'len' bytes. Its block is poisoned for ASan until it is taken
 * again, so that a frame used after its release is still caught. */
static void
nham_sff_frame_free(struct nham_sff *s, uint8_t *frame, size_t len)
{
    if (len > NHAM_HELD_BLOCK) {
        free(frame);
        return;
    }
    if (s->n_free >= s->cap_free) {
        s->free_blocks = x2nrealloc(s->free_blocks, &s->cap_free, sizeof *s->free_blocks);
    }
    s->free_blocks[s->n_free++] = frame;
    NHAM_POISON(frame, NHAM_HELD_BLOCK);
}

/* Room for a held frame of 'len' bytes. */
static uint8_t *
nham_sff_frame_alloc(struct nham_sff *s, size_t len)
{
    uint8_t *b;

    if (len > NHAM_HELD_BLOCK) {
        return xmalloc(len);
    }
    if (!s->n_free) {
        uint8_t *slab = xmalloc((size_t) NHAM_HELD_BLOCK * NHAM_HELD_SLAB);

        if (s->n_slabs >= s->cap_slabs) {
            s->slabs = x2nrealloc(s->slabs, &s->cap_slabs, sizeof *s->slabs);
        }
        s->slabs[s->n_slabs++] = slab;
        for (size_t k = NHAM_HELD_SLAB; k-- > 0; ) {
            nham_sff_frame_free(s, slab + k * NHAM_HELD_BLOCK, NHAM_HELD_BLOCK);
        }
    }
    b = s->free_blocks[--s->n_free];
    NHAM_UNPOISON(b, NHAM_HELD_BLOCK);
    if (s->n_free) {
        /* The next hold's block, for writing: it was given back a checkpoint interval ago and
         * is in no cache (buffer_rx holds tens of MB); writing a frame into it stalled on
         * every line, a fifth of the SFF's user time at 18,000 datagrams/s. */
        const uint8_t *next = s->free_blocks[s->n_free - 1];

        for (size_t off = 0; off < len; off += 64) {
            __builtin_prefetch(next + off, 1, 3);
        }
    }
    return b;
}

static void
nham_sff_destroy(struct ft_core *core)
{
    struct nham_sff *s = nham_sff_cast(core);

    for (size_t i = 0; i < s->n_hops; i++) {
        struct nham_hop *h = &s->hops[i];
        for (size_t j = h->head; j < h->n; j++) {
            nham_sff_frame_free(s, h->rx[j].frame, h->rx[j].len);
        }
        free(h->rx);
    }
    for (size_t k = 0; k < s->n_slabs; k++) {
        NHAM_UNPOISON(s->slabs[k], (size_t) NHAM_HELD_BLOCK * NHAM_HELD_SLAB);
        free(s->slabs[k]);
    }
    free(s->slabs);
    free(s->free_blocks);
    free(s->hops);
    buf_uninit(&s->scratch);
    buf_uninit(&s->egress_frame);
    free(s);
}

static int
nham_sff_hop_of(const struct nham_sff *s, uint32_t endpoint)
{
    for (size_t i = 0; i < s->n_hops; i++) {
        if (s->hops[i].endpoint == endpoint) {
            return i;
        }
    }
    return -1;
}

/* Sends one held packet to its VNF, stamped with the VNF's current epoch. */
static void
nham_sff_send(struct nham_hop *h, struct nham_held *p, struct ft_actions *out)
{
    p->frame[1] = h->epoch >> 24;
    p->frame[2] = h->epoch >> 16;
    p->frame[3] = h->epoch >> 8;
    p->frame[4] = h->epoch;
    /* Not copied: buffer_rx keeps it past the step (a release comes in a step of its own). */
    ft_emit_forward_ref(out, h->endpoint, p->frame, p->len);
    h->sent_upto = p->counter;
}

/* Sends what buffer_rx holds beyond what was sent, up to 'window' packets past what the hop
 * has output: a burst larger than a guest's socket can take (a replay after a recovery, a
 * backlog) would be dropped there and sent again and again. */
static void
nham_sff_fill(struct nham_sff *s, struct nham_hop *h, struct ft_actions *out)
{
    bool idle = h->sent_upto <= h->progress;
    size_t j;

    /* Called for every packet held and every output: a hop that keeps up has sent all of
     * buffer_rx, which holds a whole checkpoint interval (thousands of packets). */
    if (!h->up || h->head >= h->n || h->rx[h->n - 1].counter <= h->sent_upto) {
        return;
    }
    /* Counters in buffer_rx are consecutive unless an overflow dropped some: guess, check,
     * else search (they are in order): a scan from the head cost 16% of the SFF's CPU. */
    j = h->head + (h->sent_upto >= h->rx[h->head].counter
                   ? h->sent_upto + 1 - h->rx[h->head].counter : 0);
    if (j >= h->n || (j > h->head && h->rx[j - 1].counter != h->sent_upto)) {
        size_t lo = h->head, hi = h->n - 1;

        while (lo < hi) {       /* The first one above sent_upto: rx[n - 1] is. */
            size_t mid = lo + (hi - lo) / 2;

            if (h->rx[mid].counter <= h->sent_upto) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        j = lo;
    }
    for (; j < h->n && h->rx[j].counter <= h->progress + s->window; j++) {
        nham_sff_send(h, &h->rx[j], out);
        if (idle) {
            h->waiting_since = s->now;      /* The first packet due since it was idle. */
            idle = false;
        }
    }
}

/* Hold: into buffer_rx of hop 'h', and on to the VNF unless it is recovering. Never refused
 * here: a packet with a counter id must reach every hop (a hop takes only the next counter, and
 * one dropped here would stall it for good); the ingress admits only what every buffer_rx has
 * room for, which bounds them all (past it, a hop gets at most what was in flight upstream). */
static void
nham_sff_hold(struct nham_sff *s, struct nham_hop *h, const struct nham_data *d,
              struct ft_actions *out)
{
    size_t len = nham_data_len(d);
    struct nham_held *p;

    if (h->head && h->head == h->n) {
        h->head = h->n = 0;
    }
    if (h->n >= h->cap) {
        if (h->head > h->cap / 2) {
            memmove(h->rx, h->rx + h->head, (h->n - h->head) * sizeof *h->rx);
            h->n -= h->head;
            h->head = 0;
        } else {
            h->rx = x2nrealloc(h->rx, &h->cap, sizeof *h->rx);
        }
    }
    p = &h->rx[h->n++];
    p->counter = d->counter;
    p->len = len;
    /* Encoded where it is held, not in a scratch buffer first (one copy of every packet at
     * every hop less). Given back by nham_sff_release(). */
    p->frame = nham_sff_frame_alloc(s, len);
    nham_data_write(p->frame, d);
    h->rx_bytes += p->len;
    nham_sff_fill(s, h, out);
}

/* Release: the VSM saved a checkpoint of this VNF that includes every packet up to 'upto'. */
static void
nham_sff_release(struct nham_sff *s, struct nham_hop *h, uint64_t upto)
{
    while (h->head < h->n && h->rx[h->head].counter <= upto) {
        h->rx_bytes -= h->rx[h->head].len;
        nham_sff_frame_free(s, h->rx[h->head].frame, h->rx[h->head].len);
        h->head++;
    }
    if (upto > h->released_upto) {
        h->released_upto = upto;
    }
}

/* Output of VNF 'i' (its buffer_tx): on to the next VNF's buffer_rx, or out of the chain. */
static void
nham_sff_on_output(struct nham_sff *s, size_t i, struct nham_data *d, struct ft_actions *out)
{
    struct nham_hop *h = &s->hops[i];

    /* Progress is what came back in order (a replay's duplicates included): an output past
     * a lost one is no progress, so that the lost one is sent again. */
    if (d->counter > h->progress && d->counter <= h->sent_upto
        && d->counter <= h->tx_last + 1) {
        h->progress = d->counter;
        h->waiting_since = s->now;
        nham_sff_fill(s, h, out);
    }
    if (d->counter <= h->tx_last) {
        /* Output again after a rollback or a retransmission: already passed on. */
        buf_clear(&s->scratch);
        nham_data_put(&s->scratch, d);
        ft_emit_drop(out, FT_DROP_DUPLICATE, s->scratch.data, s->scratch.len);
        return;
    }
    if (d->counter != h->tx_last + 1) {
        /* The output before it was lost on the way: it comes again after a retransmission. */
        ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        return;
    }
    h->tx_last = d->counter;
    d->epoch = 0;
    if (i + 1 < s->n_hops) {
        nham_sff_hold(s, &s->hops[i + 1], d, out);
    } else {
        buf_clear(&s->egress_frame);
        nham_data_put(&s->egress_frame, d);
        ft_emit_forward_ref(out, s->egress, s->egress_frame.data, s->egress_frame.len);
    }
}

/* A packet entering the chain: encapsulated with the next counter id, if every buffer_rx has
 * room for it; else dropped before it has a counter id (an overload is a loss at the chain's
 * door, counted, never a gap in the counters that a hop would wait for). */
static void
nham_sff_on_ingress(struct nham_sff *s, const struct ft_event *ev, struct ft_actions *out)
{
    struct nham_data d = {
        .counter = s->counter + 1, .payload = ev->data, .payload_len = ev->len,
    };
    size_t len = nham_data_len(&d);

    for (size_t i = 0; i < s->n_hops; i++) {
        /* Each hop adds a stamp of 8 bytes. */
        if (s->hops[i].rx_bytes + len + 8 * i > s->buffer_bytes) {
            ft_emit_drop(out, FT_DROP_OVERLOAD, ev->data, ev->len);
            return;
        }
    }
    s->counter++;
    nham_sff_hold(s, &s->hops[0], &d, out);
}

static void
nham_sff_on_vsm(struct nham_sff *s, const struct ft_event *ev, struct ft_actions *out)
{
    struct nham_ctl c;
    struct nham_hop *h;

    if (!nham_ctl_parse(ev->data, ev->len, &c) || c.vnf >= s->n_hops
        || (c.type != NHAM_CKPT_REQ && c.type != NHAM_CKPT_SAVED)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        return;
    }
    h = &s->hops[c.vnf];
    if (c.type == NHAM_CKPT_REQ) {
        /* Asked again even while an image is awaited: on real links an image can be lost,
         * and the hop would never be checkpointed again. The first image that arrives is
         * taken; a later one finds nothing pending and is stale. */
        if (h->up) {
            h->ckpt_pending = true;
            ft_emit_request_state(out, h->endpoint);
#ifdef NHAM_BROKEN_RELEASE
            nham_sff_release(s, h, h->sent_upto);
#endif
        }
    } else {
        /* Never past what the hop has output: a packet released before its output came back
         * could not be sent again. An image the VNF sent is checked on arrival (below); a
         * whole guest the host saved (backend vm) is known only by the counter the host read
         * before the save, whose output may still be on its way. */
        nham_sff_release(s, h, c.counter < h->tx_last ? c.counter : h->tx_last);
    }
}

/* The image of a checkpoint, back from VNF 'i': to the VSM to be stored. */
static void
nham_sff_on_image(struct nham_sff *s, size_t i, const struct ft_event *ev,
                  struct ft_actions *out)
{
    struct nham_hop *h = &s->hops[i];
    struct nham_image im;
    struct nham_ctl c;

    if (!nham_image_parse(ev->data, ev->len, &im)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        return;
    }
    if (!h->ckpt_pending || !h->up || im.epoch != h->epoch) {
        ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        return;
    }
    h->ckpt_pending = false;
    if (im.counter > h->tx_last) {
        ft_emit_note(out, "nham: checkpoint of vnf %zu includes packet %"PRIu64" whose output "
                     "never arrived (last %"PRIu64"): not stored", i, im.counter, h->tx_last);
        return;
    }
    c = (struct nham_ctl) {
        .type = NHAM_CKPT_STORE, .vnf = i, .epoch = im.epoch, .counter = im.counter,
        .image = ev->data, .image_len = ev->len,
    };
    buf_clear(&s->scratch);
    nham_ctl_put(&s->scratch, &c);
    ft_emit_send(out, s->vsm, s->scratch.data, s->scratch.len);
}

/* VNF 'i' restored its last checkpoint (which includes packets up to c.counter): Release
 * resumes with the replay of buffer_rx after it. */
static void
nham_sff_on_ready(struct nham_sff *s, size_t i, const struct nham_ctl *c,
                  struct ft_actions *out)
{
    struct nham_hop *h = &s->hops[i];

    if (c->epoch < h->epoch) {
        ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        return;
    }
    h->up = true;
    h->epoch = c->epoch;
    h->ckpt_pending = false;
    h->sent_upto = c->counter;
    h->progress = c->counter;
    h->waiting_since = s->now;
    if (h->head < h->n && h->rx[h->head].counter > c->counter + 1) {
        ft_emit_note(out, "nham: vnf %zu restored at packet %"PRIu64" but buffer_rx starts at "
                     "%"PRIu64": released too early", i, c->counter, h->rx[h->head].counter);
    }
    nham_sff_fill(s, h, out);
}

/* Go-back-N: a hop whose first packet not output yet has waited a whole period with no
 * progress gets everything sent to it again, from that one on. */
static void
nham_sff_retransmit(struct nham_sff *s, struct ft_actions *out)
{
    for (size_t i = 0; i < s->n_hops; i++) {
        struct nham_hop *h = &s->hops[i];
        uint64_t upto = h->sent_upto;
        size_t n = 0;

        if (!h->up || upto <= h->progress || s->now < h->waiting_since + s->retransmit_ns) {
            continue;
        }
        for (size_t j = h->head; j < h->n && h->rx[j].counter <= upto; j++) {
            if (h->rx[j].counter > h->progress) {
                nham_sff_send(h, &h->rx[j], out);
                n++;
            }
        }
        h->waiting_since = s->now;
        ft_emit_note(out, "nham: vnf %zu output nothing for a period after packet %"PRIu64": "
                     "%zu sent again (go-back-N)", i, h->progress, n);
    }
}

static int
nham_sff_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct nham_sff *s = nham_sff_cast(core);
    int i = nham_sff_hop_of(s, ev->from);
    struct nham_data d;
    struct nham_ctl c;

    s->now = ev->now_ns;
    switch (ev->kind) {
    case FT_EV_PACKET:
        if (i < 0) {
            nham_sff_on_ingress(s, ev, out);
        } else if (nham_data_parse(ev->data, ev->len, &d)) {
            nham_sff_on_output(s, i, &d, out);
        } else {
            ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        }
        break;
    case FT_EV_PEER_MSG:
        if (ev->from == s->vsm) {
            nham_sff_on_vsm(s, ev, out);
        } else if (i >= 0 && nham_ctl_parse(ev->data, ev->len, &c) && c.type == NHAM_READY) {
            nham_sff_on_ready(s, i, &c, out);
        } else {
            ft_emit_drop(out, i < 0 ? FT_DROP_UNKNOWN_SENDER : FT_DROP_MALFORMED,
                         ev->data, ev->len);
        }
        break;
    case FT_EV_STATE:
        if (i >= 0) {
            nham_sff_on_image(s, i, ev, out);
        }
        break;
    case FT_EV_PEER_DOWN:
        /* Recovering: hold everything for it until its READY. */
        if (i >= 0) {
            s->hops[i].up = false;
            s->hops[i].ckpt_pending = false;
        }
        break;
    case FT_EV_START:
        ft_emit_timer(out, NHAM_SFF_RETRANSMIT_TIMER, ev->now_ns + s->tick_ns);
        break;
    case FT_EV_TIMER:
        if (ev->timer == NHAM_SFF_RETRANSMIT_TIMER) {
            nham_sff_retransmit(s, out);
            ft_emit_timer(out, NHAM_SFF_RETRANSMIT_TIMER, ev->now_ns + s->tick_ns);
        }
        break;
    case FT_EV_PEER_UP:
    case FT_EV_STATE_REQUEST:
    case FT_EV_N_KINDS:
        break;
    }
    return 0;
}

const struct ft_core_class NHAM_SFF_CLASS = {
    .name = NHAM_SFF_NAME,
    .summary = "NHAM SFF: Hold/Release buffers per VNF, counter ids, replay, duplicate "
               "suppression",
    .create = nham_sff_create,
    .destroy = nham_sff_destroy,
    .step = nham_sff_step,
};
