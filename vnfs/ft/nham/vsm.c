/* nham_vsm — NHAM's State Synchronizer and state database (nham.h).
 *
 * One timer per VNF fires at its checkpoint interval and asks the SFF to take a checkpoint
 * (the SFF, not the VSM, talks to the VNF: the image must travel behind the VNF's output on
 * the same link for Hold/Release to know what it includes). Stored images are kept one per VNF,
 * the latest: a restore always wants the latest, and everything after it is still in the SFF's
 * buffer_rx. A restore raises the VNF's floor of incarnations: an image taken by an older
 * incarnation that arrives afterwards is refused, since the packets after the image the VNF
 * restored may already be replayed, and the SFF must not release them on an older word.
 *
 * Parameters: checkpoint (default 250ms), checkpoint.<i> for VNF i; 0 for a VNF whose
 * checkpoints are not asked by the VSM: the host saves its whole guest (backend `vm`,
 * testbed/schemes/nham_ctl.c) and tells the state database so through the SFF's role, as an
 * FT_EV_STATE from the SFF's endpoint carrying a CKPT_STORE (vnf, epoch, counter, and an image
 * with no state: the state is in the guest's image on the host). It is stored and answered
 * with CKPT_SAVED as any image, so that the SFF releases on the VSM's word alone.
 * group = the VNFs in chain order; peers = [sff]. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/ft/core.h"
#include "vnfs/ft/nham/nham.h"

struct nham_slot {
    uint32_t endpoint;
    uint64_t interval_ns;
    uint32_t floor;             /* Lowest incarnation whose images are still accepted. */
    bool stored;
    uint64_t counter;           /* What the stored image includes. */
    struct buf image;
};

struct nham_vsm {
    struct ft_core up;
    uint32_t sff;
    struct nham_slot *slots;
    size_t n_slots;
    uint64_t n_saved;
    struct buf scratch;
};

static struct nham_vsm *
nham_vsm_cast(const struct ft_core *core)
{
    return (struct nham_vsm *) core;
}

static void
nham_vsm_destroy(struct ft_core *core)
{
    struct nham_vsm *m = nham_vsm_cast(core);

    for (size_t i = 0; i < m->n_slots; i++) {
        buf_uninit(&m->slots[i].image);
    }
    free(m->slots);
    buf_uninit(&m->scratch);
    free(m);
}

static int
nham_vsm_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct nham_vsm *m;
    uint64_t dflt;
    int error;

    if (!cfg->n_group || cfg->n_peers != 1) {
        if (errp) {
            *errp = xasprintf("nham_vsm: group must be the VNFs (got %zu) and peers [sff] "
                              "(got %zu)", cfg->n_group, cfg->n_peers);
        }
        return EINVAL;
    }
    error = ft_config_duration(cfg, "checkpoint", 250 * 1000 * 1000ull, &dflt, errp);
    if (error) {
        return error;
    }
    m = xzalloc(sizeof *m);
    m->sff = cfg->peers[0];
    m->n_slots = cfg->n_group;
    m->slots = xcalloc(m->n_slots, sizeof *m->slots);
    for (size_t i = 0; i < m->n_slots; i++) {
        char key[32];

        snprintf(key, sizeof key, "checkpoint.%zu", i);
        m->slots[i].endpoint = cfg->group[i];
        /* 0: checkpointed by the host (backend vm), never asked here. */
        error = ft_config_duration(cfg, key, dflt, &m->slots[i].interval_ns, errp);
        if (error) {
            nham_vsm_destroy(&m->up);
            return error;
        }
    }
    *corep = &m->up;
    return 0;
}

static int
nham_vsm_slot_of(const struct nham_vsm *m, uint32_t endpoint)
{
    for (size_t i = 0; i < m->n_slots; i++) {
        if (m->slots[i].endpoint == endpoint) {
            return i;
        }
    }
    return -1;
}

static void
nham_vsm_send(struct nham_vsm *m, const struct nham_ctl *c, struct ft_actions *out)
{
    buf_clear(&m->scratch);
    nham_ctl_put(&m->scratch, c);
    ft_emit_send(out, m->sff, m->scratch.data, m->scratch.len);
}

/* An image to store, from the SFF. */
static void
nham_vsm_on_store(struct nham_vsm *m, const struct nham_ctl *c, struct ft_actions *out)
{
    struct nham_slot *s = &m->slots[c->vnf];
    struct nham_image im;

    if (!nham_image_parse(c->image, c->image_len, &im) || im.epoch != c->epoch
        || im.counter != c->counter) {
        ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        return;
    }
    if (c->epoch < s->floor || (s->stored && c->counter < s->counter)) {
        ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        return;
    }
    buf_clear(&s->image);
    buf_put(&s->image, c->image, c->image_len);
    s->stored = true;
    s->counter = c->counter;
    m->n_saved++;
    nham_vsm_send(m, &(struct nham_ctl) { .type = NHAM_CKPT_SAVED, .vnf = c->vnf,
                                          .counter = c->counter }, out);
}

static int
nham_vsm_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct nham_vsm *m = nham_vsm_cast(core);
    int i = nham_vsm_slot_of(m, ev->from);
    struct nham_ctl c;

    switch (ev->kind) {
    case FT_EV_START:
        /* Spread over the interval: VNF j's first checkpoint at (j + 1) / n of its own.
         * Taken together, the images of a chain (512 KB each in the paper) crossed the
         * switch in one burst that every packet of the chain queued behind, interval after
         * interval (measured: a 50 ms probe deadline missed by 38% of probes, no fault). */
        for (size_t j = 0; j < m->n_slots; j++) {
            if (m->slots[j].interval_ns) {
                ft_emit_timer(out, j + 1,
                              ev->now_ns + m->slots[j].interval_ns / m->n_slots * (j + 1));
            }
        }
        break;
    case FT_EV_TIMER:
        if (ev->timer >= 1 && ev->timer <= m->n_slots) {
            size_t j = ev->timer - 1;
            nham_vsm_send(m, &(struct nham_ctl) { .type = NHAM_CKPT_REQ, .vnf = j }, out);
            ft_emit_timer(out, ev->timer, ev->now_ns + m->slots[j].interval_ns);
        }
        break;
    case FT_EV_PEER_MSG:
        if (!nham_ctl_parse(ev->data, ev->len, &c)) {
            ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        } else if (ev->from == m->sff && c.type == NHAM_CKPT_STORE && c.vnf < m->n_slots) {
            nham_vsm_on_store(m, &c, out);
        } else if (i >= 0 && c.type == NHAM_RESTORE_REQ) {
            struct nham_slot *s = &m->slots[i];
            if (c.epoch > s->floor) {
                s->floor = c.epoch;
            }
            /* The answer names the incarnation it is for: on real links an answer to an
             * earlier incarnation's request can reach the copy that replaced it. */
            buf_clear(&m->scratch);
            buf_put_be32(&m->scratch, c.epoch);
            if (s->stored) {
                buf_put(&m->scratch, s->image.data, s->image.len);
            }
            ft_emit_state(out, ev->from, m->scratch.data, m->scratch.len);
        } else {
            ft_emit_drop(out, FT_DROP_UNKNOWN_SENDER, ev->data, ev->len);
        }
        break;
    case FT_EV_STATE:
        /* A checkpoint the host took of a whole guest (backend vm), through the SFF's role:
         * a CKPT_STORE whose image holds no state. */
        if (ev->from == m->sff && nham_ctl_parse(ev->data, ev->len, &c)
            && c.type == NHAM_CKPT_STORE && c.vnf < m->n_slots && !m->slots[c.vnf].interval_ns) {
            nham_vsm_on_store(m, &c, out);
        } else {
            ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        }
        break;
    case FT_EV_PACKET:
    case FT_EV_PEER_DOWN:
    case FT_EV_PEER_UP:
    case FT_EV_STATE_REQUEST:
    case FT_EV_N_KINDS:
        break;
    }
    return 0;
}

/* The state database, as one image: n(4), then per VNF floor(4) stored(1) counter(8) len(4)
 * image. */
static int
nham_vsm_export_state(const struct ft_core *core, struct buf *b)
{
    const struct nham_vsm *m = nham_vsm_cast(core);

    buf_put_be32(b, m->n_slots);
    for (size_t i = 0; i < m->n_slots; i++) {
        const struct nham_slot *s = &m->slots[i];
        buf_put_be32(b, s->floor);
        buf_put_u8(b, s->stored);
        buf_put_be64(b, s->counter);
        buf_put_be32(b, s->image.len);
        buf_put(b, s->image.data, s->image.len);
    }
    return 0;
}

const struct ft_core_class ft_nham_vsm_class = {
    .name = "nham_vsm",
    .summary = "NHAM's State Synchronizer: checkpoints per VNF interval, state database",
    .create = nham_vsm_create,
    .destroy = nham_vsm_destroy,
    .step = nham_vsm_step,
    .export_state = nham_vsm_export_state,
};
