/* nham_vnf — the paper's VNF: a stateful packet forwarder (nham.h). Its state is a packet
 * count, a digest of every payload in order and 'state_bytes' bytes (default 512K, as in the
 * paper) of which each packet rewrites one byte, so a checkpoint carries a realistic image and
 * a state that skipped or repeated a packet differs from the fault-free one. Each output packet
 * carries the count as a stamp: in a chain that neither lost nor repeated anything, the stamp
 * of every VNF equals the SFF's counter id. The forwarder's work per packet is
 * ft_forwarder_absorb() (vnfs/ft/rng.h), which fwd's 'forwarder_state' does without NHAM: the
 * baseline of NHAM's overhead runs the same VNF.
 *
 * Parameters: state_bytes (default 524288); restore_retry (default 100ms: a restarted VNF asks
 * the VSM again for its checkpoint until one arrives); ready_retry (default restore_retry: it
 * says READY again until a packet of its incarnation comes that it can take, the next one or
 * one it already answered; one that skips a counter is no answer: the READY or the replay's
 * first packets were lost on the way, e.g. a loaded guest's socket overflowed, and a READY
 * again replays from the checkpoint at once instead of at the SFF's next retransmission).
 * peers = [sff, vsm]. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/ft/core.h"
#include "vnfs/ft/nham/nham.h"
#include "vnfs/lib/byteorder.h"

struct nham_vnf {
    struct ft_core up;
    uint32_t sff, vsm;
    uint32_t epoch;             /* This incarnation. */
    bool recovering;            /* Restarted, its checkpoint not imported yet. */
    bool ready_pending;         /* READY sent, no packet of this epoch yet: it may be lost. */
    unsigned ready_retries;
    uint64_t ready_counter;     /* What READY said (the imported image's counter). */
    uint64_t counter;           /* Last SFF counter processed. */
    struct ft_forwarder fw;     /* The VNF itself: count, digest, state (vnfs/ft/rng.h). */
    uint64_t restore_retry_ns;
    uint64_t ready_retry_ns;
    struct nham_out *log;       /* The stamps of recent outputs by counter % n_log, to answer
                                 * a retransmission of a packet already processed (its output
                                 * was lost): the output is the retransmission stamped again. */
    size_t n_log;
    struct buf scratch;
    /* The checkpoint image: its header, then fw.state itself, which lives here. A checkpoint
     * writes the header and hands the image on as it is (the driver reads it before the next
     * packet can change it), not a copy of the state: 512 KB four times a second, through
     * the cache of a VNF held to a few percent of a CPU. */
    uint8_t *image;
};

#define NHAM_VNF_RESTORE_TIMER 1
#define NHAM_VNF_READY_TIMER 2
#define NHAM_VNF_LOG 2048
#define NHAM_IMAGE_HDR 32       /* epoch(4) counter(8) count(8) digest(8) state_len(4) */

/* An output is its input with the VNF's stamp added (nham_data_stamp()), and a retransmission
 * carries the very input (the SFF holds it in buffer_rx): the stamp is all an output needs
 * kept. The whole outputs were one more copy of every packet, and 2048 of them (2.3 MB) went
 * through the cache. */
struct nham_out {
    uint64_t counter;           /* 0: empty. */
    uint64_t stamp;
};

static struct nham_vnf *
nham_vnf_cast(const struct ft_core *core)
{
    return (struct nham_vnf *) core;
}

static int
nham_vnf_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct nham_vnf *v;
    uint64_t state_bytes, retry, ready_retry;
    int error;

    if (cfg->n_peers != 2) {
        if (errp) {
            *errp = xasprintf("nham_vnf: peers must be [sff, vsm] (got %zu)", cfg->n_peers);
        }
        return EINVAL;
    }
    error = ft_config_u64(cfg, "state_bytes", 512 << 10, &state_bytes, errp);
    if (error) {
        return error;
    }
    if (state_bytes > (64u << 20)) {
        if (errp) {
            *errp = xasprintf("nham_vnf: state_bytes at most 64M");
        }
        return EINVAL;
    }
    error = ft_config_duration(cfg, "restore_retry", 100 * 1000 * 1000ull, &retry, errp);
    if (!error) {
        error = ft_config_duration(cfg, "ready_retry", retry, &ready_retry, errp);
    }
    if (error) {
        return error;
    }
    v = xzalloc(sizeof *v);
    v->restore_retry_ns = retry ? retry : 1;
    v->ready_retry_ns = ready_retry ? ready_retry : 1;
    v->sff = cfg->peers[0];
    v->vsm = cfg->peers[1];
    v->fw.state_len = state_bytes;
    v->image = xzalloc(NHAM_IMAGE_HDR + state_bytes);
    v->fw.state = v->image + NHAM_IMAGE_HDR;
    v->n_log = NHAM_VNF_LOG;
    v->log = xcalloc(v->n_log, sizeof *v->log);
    *corep = &v->up;
    return 0;
}

static void
nham_vnf_destroy(struct ft_core *core)
{
    struct nham_vnf *v = nham_vnf_cast(core);

    free(v->image);
    free(v->log);
    buf_uninit(&v->scratch);
    free(v);
}

/* An image's header (nham_image_parse()); its state follows. A checkpoint writes it in front
 * of the state in v->image and gives that image, as export_state() would copy it. */
static void
nham_vnf_header(const struct nham_vnf *v, uint8_t hdr[NHAM_IMAGE_HDR])
{
    put_be32(hdr, v->epoch);
    put_be64(hdr + 4, v->counter);
    put_be64(hdr + 12, v->fw.count);
    put_be64(hdr + 20, v->fw.digest);
    put_be32(hdr + 28, v->fw.state_len);
}

static int
nham_vnf_export_state(const struct ft_core *core, struct buf *b)
{
    const struct nham_vnf *v = nham_vnf_cast(core);
    uint8_t hdr[NHAM_IMAGE_HDR];

    nham_vnf_header(v, hdr);
    buf_put(b, hdr, sizeof hdr);
    buf_put(b, v->fw.state, v->fw.state_len);
    return 0;
}

static int
nham_vnf_import_state(struct ft_core *core, const uint8_t *data, size_t len)
{
    struct nham_vnf *v = nham_vnf_cast(core);
    struct nham_image im;

    if (!nham_image_parse(data, len, &im) || im.state_len != v->fw.state_len) {
        return EINVAL;
    }
    /* The epoch stays this incarnation's: the image's is the one that took it. */
    v->counter = im.counter;
    v->fw.count = im.count;
    v->fw.digest = im.digest;
    memcpy(v->fw.state, im.state, im.state_len);
    return 0;
}

static void
nham_vnf_process(struct nham_vnf *v, const struct ft_event *ev, struct ft_actions *out)
{
    struct nham_out *o;
    struct nham_data d;

    if (!nham_data_parse(ev->data, ev->len, &d) || d.n_stamps >= NHAM_MAX_STAMPS) {
        ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        return;
    }
    if (v->recovering || d.epoch != v->epoch) {
        /* Sent to an earlier incarnation: the SFF replays it after our READY. */
        ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        return;
    }
    if (d.counter <= v->counter + 1) {
        v->ready_pending = false;       /* The SFF has our READY. */
    }
    if (d.counter <= v->counter) {
        /* Sent again: its output was lost on the way back, or the SFF was early. */
        o = &v->log[d.counter % v->n_log];
        if (o->counter == d.counter) {
            nham_data_stamp(ft_emit_forward_space(out, v->sff, nham_data_len(&d) + 8),
                            ev->data, &d, o->stamp);
        } else {
            ft_emit_drop(out, FT_DROP_DUPLICATE, NULL, 0);
        }
        return;
    }
    if (d.counter != v->counter + 1) {
        /* One before it was lost on the link: it comes again (go-back-N), in order. */
        ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        return;
    }
    v->counter = d.counter;
    ft_forwarder_absorb(&v->fw, d.payload, d.payload_len);
    o = &v->log[d.counter % v->n_log];
    o->counter = d.counter;
    o->stamp = v->fw.count;
    /* Encoded where the stage sends it from: one copy of the packet. */
    nham_data_stamp(ft_emit_forward_space(out, v->sff, nham_data_len(&d) + 8), ev->data, &d,
                    o->stamp);
}

static void
nham_vnf_ask_restore(struct nham_vnf *v, uint64_t now_ns, struct ft_actions *out)
{
    struct nham_ctl c = { .type = NHAM_RESTORE_REQ, .epoch = v->epoch };

    buf_clear(&v->scratch);
    nham_ctl_put(&v->scratch, &c);
    ft_emit_send(out, v->vsm, v->scratch.data, v->scratch.len);
    ft_emit_timer(out, NHAM_VNF_RESTORE_TIMER, now_ns + v->restore_retry_ns);
}

static void
nham_vnf_send_ready(struct nham_vnf *v, uint64_t now_ns, struct ft_actions *out)
{
    struct nham_ctl c = { .type = NHAM_READY, .epoch = v->epoch, .counter = v->ready_counter };

    buf_clear(&v->scratch);
    nham_ctl_put(&v->scratch, &c);
    ft_emit_send(out, v->sff, v->scratch.data, v->scratch.len);
    ft_emit_timer(out, NHAM_VNF_READY_TIMER, now_ns + v->ready_retry_ns);
}

static int
nham_vnf_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct nham_vnf *v = nham_vnf_cast(core);

    switch (ev->kind) {
    case FT_EV_START:
        v->epoch = ev->incarnation;
        if (ev->incarnation) {
            /* Restarted empty: ask the state database for the last checkpoint. */
            v->recovering = true;
            nham_vnf_ask_restore(v, ev->now_ns, out);
        }
        break;
    case FT_EV_TIMER:
        /* The answer (or the request) was lost on a real link: ask again. A second answer
         * finds us no longer recovering and is dropped. */
        if (ev->timer == NHAM_VNF_RESTORE_TIMER && v->recovering) {
            nham_vnf_ask_restore(v, ev->now_ns, out);
        } else if (ev->timer == NHAM_VNF_READY_TIMER && v->ready_pending
                   && ++v->ready_retries <= 50) {
            /* The SFF sent nothing since: READY was lost. The same READY again is harmless
             * (the SFF replays after the same counter; what was processed since is answered
             * from the output log). */
            nham_vnf_send_ready(v, ev->now_ns, out);
        }
        break;
    case FT_EV_PACKET:
        if (ev->from == v->sff) {
            nham_vnf_process(v, ev, out);
        } else {
            ft_emit_drop(out, FT_DROP_UNKNOWN_SENDER, ev->data, ev->len);
        }
        break;
    case FT_EV_STATE_REQUEST:
        if (!v->recovering) {
            nham_vnf_header(v, v->image);
            ft_emit_state_ref(out, ev->from, v->image, NHAM_IMAGE_HDR + v->fw.state_len);
        }
        break;
    case FT_EV_STATE:
        if (ev->from != v->vsm || !v->recovering) {
            ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
            break;
        }
        /* epoch(4) image: an answer to another incarnation's request is stale. */
        if (ev->len < 4 || ((uint32_t) ev->data[0] << 24 | (uint32_t) ev->data[1] << 16
                            | (uint32_t) ev->data[2] << 8 | ev->data[3]) != v->epoch) {
            ft_emit_drop(out, ev->len < 4 ? FT_DROP_MALFORMED : FT_DROP_STALE, NULL, 0);
            break;
        }
        /* No image: no checkpoint yet, the initial state is the right one. */
        if (ev->len > 4 && nham_vnf_import_state(core, ev->data + 4, ev->len - 4)) {
            ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
            break;
        }
        v->recovering = false;
        ft_emit_cancel(out, NHAM_VNF_RESTORE_TIMER);
        v->ready_pending = true;
        v->ready_counter = v->counter;
        nham_vnf_send_ready(v, ev->now_ns, out);
        break;
    case FT_EV_PEER_MSG:
    case FT_EV_PEER_DOWN:
    case FT_EV_PEER_UP:
    case FT_EV_N_KINDS:
        break;
    }
    return 0;
}

const struct ft_core_class ft_nham_vnf_class = {
    .name = "nham_vnf",
    .summary = "NHAM's VNF: stateful forwarder (count, digest, state_bytes), checkpointable",
    .create = nham_vnf_create,
    .destroy = nham_vnf_destroy,
    .step = nham_vnf_step,
    .export_state = nham_vnf_export_state,
    .import_state = nham_vnf_import_state,
};
