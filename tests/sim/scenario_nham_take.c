/* Scenario "nham-take": the SFF's takeover of active-active VNFs (1R-AA, MR-AA), as it runs on
 * real guests (vnfs/sfc/nham.c, "The SFF's takeover"): a stateful chain of 1-4 hops of 2 (1R-AA)
 * or 3-4 (MR-AA) copies each, one active, the others warm standbys; the VSM checkpoints every
 * 1-20 ms. The decisions are the real ones: the Hold/Release cores (nham_sff, nham_vsm,
 * nham_vnf), the SFF's choice of standby and the standby's judgement of a TAKE
 * (vnfs/ft/nham/take.h), a standby's keeping of images (nham_warm_take()). What carries them is
 * this file's, in the roles' place, as thin as they are:
 *  - "nham-take-sff" hosts the SFF's and the VSM's cores, as the SFF's guest does; it sends a
 *    hop's frames to the copy that said READY last (or took a TAKE), hands every saved image to
 *    the hop's other copies (WARM), keeps their ACKs, and on the FMS's "takeover" chooses a
 *    standby, sends it a TAKE, then gives its core the READY the TAKE stated (the replay);
 *  - "nham-take-copy" is one copy: a standby keeps the images it is given and ACKs them, and a
 *    TAKE or the FMS's activation starts its nham_vnf core (from its image, its READY kept, or
 *    from the VSM's answer);
 *  - "nham-take-fms" is the FMS: on a copy's death notice it asks the SFF to take over when
 *    the copy was the hop's active one, activates a standby itself when the SFF refuses, when
 *    no TAKE took effect within 'take_timeout' (lost), or when no standby ran (then on the
 *    next copy that restarts).
 * Copies crash in 1-4 rounds, in one to all hops at once, often while a checkpoint is in flight,
 * one to all copies of a hop a few milliseconds apart (the copy chosen dies after its TAKE, a
 * second copy dies while the first is taken over), and restart as standbys with nothing. Half
 * the standbys acknowledge an image up to 2 ms late (a standby's wake-up on a loaded host), so
 * that deaths fall between a checkpoint's save and its ACK, where the SFF takes over from the
 * image before (nham_take_defer()). Links are FIFO as the guests' veths are; in some runs the
 * TAKE reaches the standby after the replay it heads (the switch does not keep the order of
 * frames of different kinds), and in half of them the links between the SFF and some copies
 * lose frames for a while (a loaded guest's socket overflows): a TAKE, an image, an ACK, a
 * READY, frames of the replay. Invariants at the client, as in "nham": every
 * reply one a correct chain gives (no VNF's state lost or repeated a packet), none lost, none
 * twice. */
#include "tests/sim/scenario.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/nham/nham.h"
#include "vnfs/ft/nham/take.h"
#include "vnfs/sfc/nhamfrag.h"

#define TAKE_MAX_HOPS 4
#define TAKE_MAX_COPIES 4

/* The inner cores' endpoint ids, above any of the simulator's. */
#define TAKE_IN_VSM 0x7000u
#define TAKE_IN_SFF 0x7001u
#define TAKE_IN_HOP(I) (0x7100u + (uint32_t) (I))

/* The first byte of every message between this file's endpoints says what it carries. */
enum {
    TAKE_TAG_SFF = 'S',         /* A message of or to the SFF's core. */
    TAKE_TAG_VSM = 'V',         /* Of or to the VSM's core. */
    TAKE_TAG_WARM = 'W',        /* SFF -> standby: a WARM (magic, image). */
    TAKE_TAG_ACK = 'A',         /* Standby -> SFF: seq(8) then an ACK. */
    TAKE_TAG_WANT = 'N',        /* Standby -> SFF: it holds no image. */
    TAKE_TAG_TAKE = 'T',        /* SFF -> standby: a TAKE. */
    TAKE_TAG_CMD = 'K',         /* FMS -> SFF: takeover hop(1) inc(4) mask(8). */
    TAKE_TAG_TOOK = 'k',        /* SFF -> FMS: hop(1) inc(4) copy(1). */
    TAKE_TAG_REFUSED = 'r',     /* SFF -> FMS: hop(1) inc(4). */
    TAKE_TAG_ACTIVATE = 'a',    /* FMS -> copy: inc(4). */
    TAKE_TAG_UP = 'u',          /* Copy -> FMS: hop(1) inc(4): its core started. */
};

/* The broken variant's choice (tests/sim/broken_nham_take.c). */
int nham_take_choose_broken(const struct nham_take_hop *, long long inc, uint64_t mask,
                            size_t *copyp, uint64_t *counterp, const char **why);
bool nham_take_defer_broken(const struct nham_take_ack *, size_t n_copies, size_t active,
                            const uint8_t *warmed, size_t warmed_len);

static void
take_mac(uint32_t endpoint, uint8_t mac[6])
{
    mac[0] = mac[1] = 0;
    put_be32(mac + 2, endpoint);
}

static void
take_send(struct ft_actions *out, uint32_t to, uint8_t tag, const void *p, size_t len)
{
    struct buf b = BUF_INITIALIZER;

    buf_put_u8(&b, tag);
    buf_put(&b, p, len);
    ft_emit_send(out, to, b.data, b.len);
    buf_uninit(&b);
}

/* ---- The SFF's guest: nham_sff and nham_vsm, and the takeover. ---- */

struct take_hop {
    uint32_t copies[TAKE_MAX_COPIES];
    size_t n_copies;
    bool addressed;             /* A READY or a TAKE chose a copy: the hop's frames go to */
    size_t addressed_copy;      /* this one (before: copy 0, the first active), */
    uint32_t addressed_epoch;   /* as this incarnation. */
    size_t active;              /* The copy whose output came last: no WARM to it. */
    size_t asker;               /* The copy whose restore request the VSM answers. */
    struct buf vnf_last;        /* The hop's last checkpoint image. */
    struct buf warmed;          /* The image the standbys were given last, */
    bool has_warmed;
    struct buf prev;            /* and the one before, */
    bool has_prev;
    uint64_t saved;             /* and the last saved checkpoint the SFF's core was told of. */
    struct buf deferred;        /* The VSM's word that 'warmed' is saved, kept from the core */
    bool has_deferred;          /* until a standby says it holds it (nham_take_defer()), */
    uint64_t deferred_counter;  /* and its counter. */
    struct nham_take_ack acks[TAKE_MAX_COPIES];
};

struct take_local {
    bool to_vsm;
    uint32_t from;
    struct buf data;
};

struct take_sff {
    struct ft_core up;
    struct ft_core *sff, *vsm;
    uint32_t fms, egress;
    bool broken, take_late;
    struct take_hop hops[TAKE_MAX_HOPS];
    size_t n_hops;
    struct take_local *local;   /* Messages between the two cores, handed over after a step. */
    size_t n_local, cap_local;
    bool draining;
};

#define TAKE_DEFER_TIMER (1u << 20)     /* + hop: NHAM_TAKE_DEFER_NS after a deferral. */

static void take_sff_run(struct take_sff *, bool vsm, const struct ft_event *,
                         struct ft_actions *);

static int
take_sff_hop_of(const struct take_sff *s, uint32_t endpoint, size_t *copyp)
{
    for (size_t i = 0; i < s->n_hops; i++) {
        for (size_t c = 0; c < s->hops[i].n_copies; c++) {
            if (s->hops[i].copies[c] == endpoint) {
                *copyp = c;
                return i;
            }
        }
    }
    return -1;
}

static uint32_t
take_sff_dst(const struct take_hop *h)
{
    return h->copies[h->addressed ? h->addressed_copy : 0];
}

/* As nham_sff_address(): a READY of an earlier incarnation, or of the same from another copy,
 * moves nothing. */
static void
take_sff_address(struct take_hop *h, size_t copy, uint32_t epoch)
{
    if (h->addressed && (epoch < h->addressed_epoch
                         || (epoch == h->addressed_epoch && copy != h->addressed_copy))) {
        return;
    }
    nham_take_ack_active(&h->acks[copy]);
    h->addressed = true;
    h->addressed_copy = copy;
    h->addressed_epoch = epoch;
}

static void
take_sff_queue(struct take_sff *s, bool to_vsm, uint32_t from, struct buf *data)
{
    struct take_local *m;

    if (s->n_local >= s->cap_local) {
        s->local = x2nrealloc(s->local, &s->cap_local, sizeof *s->local);
    }
    m = &s->local[s->n_local++];
    m->to_vsm = to_vsm;
    m->from = from;
    m->data = *data;
    buf_init(data);
}

/* The word kept from the core that hop 'i''s checkpoint is saved goes to it now. */
static void
take_sff_undefer(struct take_sff *s, size_t i)
{
    struct take_hop *h = &s->hops[i];

    if (h->has_deferred) {
        h->has_deferred = false;
        h->saved = h->deferred_counter;
        take_sff_queue(s, false, TAKE_IN_VSM, &h->deferred);
    }
}

/* The VSM saved hop 'i''s checkpoint at 'counter' (its message 'data', 'len'): the standbys get
 * its image, as nham_sff_watch() hands it to them. True when the word is kept from the SFF's
 * core until a standby says it holds the image (nham_take_defer()). */
static bool
take_sff_saved(struct take_sff *s, size_t i, uint64_t counter, const uint8_t *data, size_t len,
               uint64_t now, struct ft_actions *out)
{
    struct take_hop *h = &s->hops[i];
    struct buf b = BUF_INITIALIZER, t;

    take_sff_undefer(s, i);             /* The older first. */
    if (h->vnf_last.len < NHAM_TAKE_ID || get_be64(h->vnf_last.data + 4) != counter) {
        h->saved = counter;
        return false;
    }
    t = h->prev;
    h->prev = h->warmed;
    h->has_prev = h->has_warmed;
    h->warmed = t;
    buf_clear(&h->warmed);
    buf_put(&h->warmed, h->vnf_last.data, h->vnf_last.len);
    h->has_warmed = true;
    buf_put(&b, NHAM_WARM_MAGIC, NHAM_MAGIC_LEN);
    buf_put(&b, h->warmed.data, h->warmed.len);
    for (size_t k = 0; k < h->n_copies; k++) {
        if (k != h->active) {
            take_send(out, h->copies[k], TAKE_TAG_WARM, b.data, b.len);
        }
    }
    buf_uninit(&b);
    if ((s->broken ? nham_take_defer_broken : nham_take_defer)(h->acks, h->n_copies, h->active,
                                                               h->warmed.data, h->warmed.len)) {
        buf_clear(&h->deferred);
        buf_put(&h->deferred, data, len);
        h->has_deferred = true;
        h->deferred_counter = counter;
        ft_emit_timer(out, TAKE_DEFER_TIMER + i, now + NHAM_TAKE_DEFER_NS);
        return true;
    }
    h->saved = counter;
    return false;
}

/* The actions of an inner core, to the world. */
static void
take_sff_actions(struct take_sff *s, bool vsm, const struct ft_actions *in, uint64_t now,
                 struct ft_actions *out)
{
    for (size_t j = 0; j < in->n; j++) {
        const struct ft_action *a = &in->v[j];
        size_t hop = a->to - TAKE_IN_HOP(0);
        bool to_hop = a->to >= TAKE_IN_HOP(0) && hop < s->n_hops;
        struct nham_ctl c;

        switch (a->kind) {
        case FT_ACT_FORWARD:
            ft_emit_forward(out, to_hop ? take_sff_dst(&s->hops[hop]) : a->to, a->data, a->len);
            break;
        case FT_ACT_SEND:
            if (a->to == TAKE_IN_VSM || a->to == TAKE_IN_SFF) {
                struct buf b = BUF_INITIALIZER;

                if (vsm && nham_ctl_parse(a->data, a->len, &c) && c.type == NHAM_CKPT_SAVED
                    && c.vnf < s->n_hops
                    && take_sff_saved(s, c.vnf, c.counter, a->data, a->len, now, out)) {
                    break;
                }
                buf_put(&b, a->data, a->len);
                take_sff_queue(s, a->to == TAKE_IN_VSM, vsm ? TAKE_IN_VSM : TAKE_IN_SFF, &b);
            } else if (to_hop) {
                take_send(out, take_sff_dst(&s->hops[hop]), vsm ? TAKE_TAG_VSM : TAKE_TAG_SFF,
                          a->data, a->len);
            }
            break;
        case FT_ACT_STATE:
            /* The VSM's answer to a restore request: to the copy that asked. */
            if (to_hop) {
                ft_emit_state(out, s->hops[hop].copies[s->hops[hop].asker], a->data, a->len);
            }
            break;
        case FT_ACT_REQUEST_STATE:
            if (to_hop) {
                ft_emit_request_state(out, take_sff_dst(&s->hops[hop]));
            }
            break;
        case FT_ACT_TIMER_ARM:
            ft_emit_timer(out, a->timer * 2 + vsm, a->at_ns);
            break;
        case FT_ACT_TIMER_CANCEL:
            ft_emit_cancel(out, a->timer * 2 + vsm);
            break;
        case FT_ACT_DROP:
            ft_emit_drop(out, a->reason, a->data, a->len);
            break;
        case FT_ACT_NOTE:
            ft_emit_note(out, "%s: %.*s", vsm ? "vsm" : "sff", (int) a->len,
                         (const char *) a->data);
            break;
        case FT_ACT_DELIVER:
        case FT_ACT_SUSPECT:
        case FT_ACT_N_KINDS:
            break;
        }
    }
}

/* Hands over the messages between the two cores, oldest first, until none is left. */
static void
take_sff_drain(struct take_sff *s, uint64_t now, struct ft_actions *out)
{
    if (s->draining) {
        return;
    }
    s->draining = true;
    for (size_t i = 0; i < s->n_local; i++) {
        struct buf data = s->local[i].data;
        struct ft_event lev = { .kind = FT_EV_PEER_MSG, .now_ns = now, .from = s->local[i].from,
                                .data = data.data, .len = data.len };
        struct ft_actions in;

        ft_actions_init(&in);
        ft_core_step(s->local[i].to_vsm ? s->vsm : s->sff, &lev, &in);
        take_sff_actions(s, s->local[i].to_vsm, &in, now, out);
        ft_actions_uninit(&in);
        buf_uninit(&data);      /* 'local' may have moved. */
    }
    s->n_local = 0;
    s->draining = false;
}

/* Steps an inner core with 'ev', then hands over the messages between the two. */
static void
take_sff_run(struct take_sff *s, bool vsm, const struct ft_event *ev, struct ft_actions *out)
{
    struct ft_actions in;

    ft_actions_init(&in);
    ft_core_step(vsm ? s->vsm : s->sff, ev, &in);
    take_sff_actions(s, vsm, &in, ev->now_ns, out);
    ft_actions_uninit(&in);
    take_sff_drain(s, ev->now_ns, out);
}

/* The FMS's "takeover HOP INC MASK" (nham_sff_takeover()). */
static void
take_sff_takeover(struct take_sff *s, const struct ft_event *ev, struct ft_actions *out)
{
    const uint8_t *p = ev->data + 1;
    size_t i = p[0], k;
    uint32_t inc = get_be32(p + 1);
    uint64_t mask = get_be64(p + 5), counter;
    struct take_hop *h = &s->hops[i];
    struct nham_take_hop th = {
        .warmed = h->has_warmed ? h->warmed.data : NULL, .warmed_len = h->warmed.len,
        .prev = h->has_prev ? h->prev.data : NULL, .prev_len = h->prev.len, .saved = h->saved,
        .addressed = h->addressed, .addressed_epoch = h->addressed_epoch,
        .acks = h->acks, .n_copies = h->n_copies,
    };
    struct buf take = BUF_INITIALIZER, ready = BUF_INITIALIZER;
    uint8_t answer[6], mac[6];
    const char *why;
    int error;

    error = (s->broken ? nham_take_choose_broken : nham_take_choose)(&th, inc, mask, &k,
                                                                    &counter, &why);
    answer[0] = i;
    put_be32(answer + 1, inc);
    if (error) {
        ft_emit_note(out, "takeover of hop %zu as %"PRIu32" refused: %s", i, inc, why);
        take_send(out, s->fms, TAKE_TAG_REFUSED, answer, 5);
        return;
    }
    take_mac(h->copies[k], mac);
    nham_take_put(&take, &th, k, inc, mac);
    if (h->has_deferred && counter < h->deferred_counter) {
        /* From the image before: the core must not release what the new incarnation has
         * still to process (a frame of the replay lost on the way is sent again from
         * buffer_rx); its own checkpoints release. */
        h->has_deferred = false;
    }
    if (!s->take_late) {
        take_send(out, h->copies[k], TAKE_TAG_TAKE, take.data, take.len);
    }
    take_sff_address(h, k, inc);
    h->active = k;
    nham_ctl_put(&ready, &(struct nham_ctl) { .type = NHAM_READY, .epoch = inc,
                                              .counter = counter });
    take_sff_run(s, false, &(struct ft_event) { .kind = FT_EV_PEER_MSG, .now_ns = ev->now_ns,
                                                .from = TAKE_IN_HOP(i), .data = ready.data,
                                                .len = ready.len }, out);
    if (s->take_late) {
        take_send(out, h->copies[k], TAKE_TAG_TAKE, take.data, take.len);
    }
    answer[5] = k;
    take_send(out, s->fms, TAKE_TAG_TOOK, answer, 6);
    ft_emit_note(out, "hop %zu taken over by copy %zu as %"PRIu32" at checkpoint %"PRIu64"%s", i,
                 k, inc, counter, h->warmed.len >= NHAM_TAKE_ID
                 && counter < get_be64(h->warmed.data + 4) ? " (the one before the last)" : "");
    buf_uninit(&take);
    buf_uninit(&ready);
}

/* A message of copy 'copy' of hop 'i'. */
static void
take_sff_from_copy(struct take_sff *s, size_t i, size_t copy, const struct ft_event *ev,
                   struct ft_actions *out)
{
    struct take_hop *h = &s->hops[i];
    struct ft_event in = *ev;
    struct nham_ctl c;

    in.from = TAKE_IN_HOP(i);
    in.data = ev->data + 1;
    in.len = ev->len - 1;
    switch (ev->data[0]) {
    case TAKE_TAG_SFF:
        if (nham_ctl_parse(in.data, in.len, &c) && c.type == NHAM_READY) {
            take_sff_address(h, copy, c.epoch);
        }
        take_sff_run(s, false, &in, out);
        break;
    case TAKE_TAG_VSM:
        h->asker = copy;
        take_sff_run(s, true, &in, out);
        break;
    case TAKE_TAG_ACK:
        if (in.len >= 8
            && nham_take_ack_update(&h->acks[copy], get_be64(in.data), in.data + 8, in.len - 8)
            && h->has_deferred
            && nham_take_ack_names(&h->acks[copy], h->warmed.data, h->warmed.len)) {
            take_sff_undefer(s, i);
            take_sff_drain(s, ev->now_ns, out);
        }
        break;
    case TAKE_TAG_WANT:
        h->acks[copy].valid = false;
        if (h->has_warmed) {
            struct buf b = BUF_INITIALIZER;

            buf_put(&b, NHAM_WARM_MAGIC, NHAM_MAGIC_LEN);
            buf_put(&b, h->warmed.data, h->warmed.len);
            take_send(out, h->copies[copy], TAKE_TAG_WARM, b.data, b.len);
            buf_uninit(&b);
        }
        break;
    default:
        ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        break;
    }
}

/* next = the copies, hop by hop; peers = [fms, egress]; parameters 'copies' (per hop),
 * 'take_late' (1: the TAKE goes after the replay it heads), 'checkpoint' (the VSM's). */
static int
take_sff_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    uint32_t in_next[TAKE_MAX_HOPS], in_sff_peers[2] = { TAKE_IN_VSM, 0 };
    uint64_t n_copies, late;
    const char *interval = ft_config_param(cfg, "checkpoint");
    struct ft_param sff_params[] = { { "retransmit", "20ms" } };
    struct ft_param vsm_params[] = { { "checkpoint", interval ? interval : "10ms" } };
    struct ft_config c;
    struct take_sff *s;
    size_t n_hops;
    int error;

    error = ft_config_u64(cfg, "copies", 2, &n_copies, errp);
    if (!error) {
        error = ft_config_u64(cfg, "take_late", 0, &late, errp);
    }
    if (error) {
        return error;
    }
    n_hops = n_copies ? cfg->n_next / n_copies : 0;
    if (cfg->n_peers != 2 || n_copies < 1 || n_copies > TAKE_MAX_COPIES || !n_hops
        || n_hops > TAKE_MAX_HOPS || n_hops * n_copies != cfg->n_next) {
        return EINVAL;
    }
    s = xzalloc(sizeof *s);
    s->fms = cfg->peers[0];
    s->egress = cfg->peers[1];
    s->broken = ft_config_param(cfg, "broken") != NULL;
    s->take_late = late;
    s->n_hops = n_hops;
    for (size_t i = 0; i < n_hops; i++) {
        s->hops[i].n_copies = n_copies;
        memcpy(s->hops[i].copies, cfg->next + i * n_copies, n_copies * sizeof *cfg->next);
        in_next[i] = TAKE_IN_HOP(i);
    }
    in_sff_peers[1] = s->egress;
    c = (struct ft_config) { .self = TAKE_IN_SFF, .next = in_next, .n_next = n_hops,
                             .peers = in_sff_peers, .n_peers = 2, .params = sff_params,
                             .n_params = 1, .rng = cfg->rng };
    error = ft_core_create(ft_core_class_find("nham_sff"), &c, &s->sff, errp);
    if (!error) {
        uint32_t in_sff = TAKE_IN_SFF;

        c = (struct ft_config) { .self = TAKE_IN_VSM, .group = in_next, .n_group = n_hops,
                                 .peers = &in_sff, .n_peers = 1, .params = vsm_params,
                                 .n_params = 1, .rng = cfg->rng };
        error = ft_core_create(ft_core_class_find("nham_vsm"), &c, &s->vsm, errp);
    }
    if (error) {
        ft_core_destroy(s->sff);
        free(s);
        return error;
    }
    *corep = &s->up;
    return 0;
}

static void
take_sff_destroy(struct ft_core *core)
{
    struct take_sff *s = (struct take_sff *) core;

    ft_core_destroy(s->sff);
    ft_core_destroy(s->vsm);
    for (size_t i = 0; i < s->n_hops; i++) {
        buf_uninit(&s->hops[i].vnf_last);
        buf_uninit(&s->hops[i].warmed);
        buf_uninit(&s->hops[i].prev);
        buf_uninit(&s->hops[i].deferred);
    }
    for (size_t i = 0; i < s->n_local; i++) {
        buf_uninit(&s->local[i].data);
    }
    free(s->local);
    free(s);
}

static int
take_sff_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct take_sff *s = (struct take_sff *) core;
    struct ft_event in = *ev;
    size_t copy = 0;
    int hop = take_sff_hop_of(s, ev->from, &copy);

    switch (ev->kind) {
    case FT_EV_START:
        take_sff_run(s, false, ev, out);
        take_sff_run(s, true, ev, out);
        break;
    case FT_EV_TIMER:
        if (ev->timer >= TAKE_DEFER_TIMER) {
            if (ev->timer - TAKE_DEFER_TIMER < s->n_hops) {
                take_sff_undefer(s, ev->timer - TAKE_DEFER_TIMER);
                take_sff_drain(s, ev->now_ns, out);
            }
            break;
        }
        in.timer = ev->timer / 2;
        take_sff_run(s, ev->timer & 1, &in, out);
        break;
    case FT_EV_PACKET:
        if (hop >= 0) {
            struct take_hop *h = &s->hops[hop];

            if (h->addressed && copy != h->addressed_copy) {
                /* Not the copy the hop's frames go to: no say in its output. */
                ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
                break;
            }
            h->active = copy;
            in.from = TAKE_IN_HOP(hop);
        }
        take_sff_run(s, false, &in, out);
        break;
    case FT_EV_STATE:
        /* A checkpoint image of the hop: not one older than its last (nham_sff_stale()). */
        if (hop >= 0) {
            struct take_hop *h = &s->hops[hop];

            if (ev->len >= NHAM_TAKE_ID && h->vnf_last.len >= NHAM_TAKE_ID
                && nham_image_cmp(ev->data, h->vnf_last.data) < 0) {
                ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
                break;
            }
            buf_clear(&h->vnf_last);
            buf_put(&h->vnf_last, ev->data, ev->len);
            in.from = TAKE_IN_HOP(hop);
            take_sff_run(s, false, &in, out);
        }
        break;
    case FT_EV_PEER_MSG:
        if (!ev->len) {
            ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        } else if (hop >= 0) {
            take_sff_from_copy(s, hop, copy, ev, out);
        } else if (ev->from == s->fms && ev->data[0] == TAKE_TAG_CMD && ev->len == 14
                   && ev->data[1] < s->n_hops) {
            take_sff_takeover(s, ev, out);
        } else {
            ft_emit_drop(out, FT_DROP_UNKNOWN_SENDER, ev->data, ev->len);
        }
        break;
    case FT_EV_PEER_DOWN:
    case FT_EV_PEER_UP:
        /* On the takeover's path the SFF hears of a death from the FMS's command alone. */
    case FT_EV_STATE_REQUEST:
    case FT_EV_N_KINDS:
        break;
    }
    return 0;
}

static const struct ft_core_class take_sff_class = {
    .name = "nham-take-sff",
    .summary = "test: the SFF's guest of NHAM's takeover (nham_sff, nham_vsm, TAKE)",
    .create = take_sff_create,
    .destroy = take_sff_destroy,
    .step = take_sff_step,
};

/* ---- One copy of a hop: a standby, or the hop's nham_vnf. ---- */

struct take_copy {
    struct ft_core up;
    uint32_t self, sff, fms;
    uint8_t hop;
    bool first_active;
    struct ft_rng rng;
    char state_bytes[24];
    struct ft_core *vnf;        /* NULL: a standby. */
    uint64_t nonce;             /* This process's. */
    struct buf held;            /* The image a standby keeps, */
    struct buf held_prev;       /* and the one before. */
    uint64_t ack_seq;
    uint64_t wake_ns;           /* How late it answers an image: a standby's wake-up. */
    bool ack_due;
    uint32_t dropped_epoch;     /* The latest incarnation of a DATA dropped as a standby. */
    uint32_t took_epoch;        /* Took over at a TAKE from its image: its READY stays here. */
    bool from_image;            /* Starting from its image: its restore request stays here. */
};

static void
take_copy_actions(struct take_copy *v, const struct ft_actions *in, struct ft_actions *out)
{
    for (size_t j = 0; j < in->n; j++) {
        const struct ft_action *a = &in->v[j];
        struct nham_ctl c;

        switch (a->kind) {
        case FT_ACT_FORWARD:
            ft_emit_forward(out, v->sff, a->data, a->len);
            break;
        case FT_ACT_SEND:
            if (nham_ctl_parse(a->data, a->len, &c)
                && ((c.type == NHAM_READY && c.epoch == v->took_epoch)
                    || (c.type == NHAM_RESTORE_REQ && v->from_image))) {
                break;          /* The SFF stated it at the TAKE (nham_vnf_take()). */
            }
            take_send(out, v->sff, a->to == TAKE_IN_VSM ? TAKE_TAG_VSM : TAKE_TAG_SFF,
                      a->data, a->len);
            break;
        case FT_ACT_STATE:
            ft_emit_state(out, v->sff, a->data, a->len);
            break;
        case FT_ACT_TIMER_ARM:
            ft_emit_timer(out, a->timer, a->at_ns);
            break;
        case FT_ACT_TIMER_CANCEL:
            ft_emit_cancel(out, a->timer);
            break;
        case FT_ACT_DROP:
            ft_emit_drop(out, a->reason, a->data, a->len);
            break;
        case FT_ACT_NOTE:
            ft_emit_note(out, "vnf: %.*s", (int) a->len, (const char *) a->data);
            break;
        case FT_ACT_REQUEST_STATE:
        case FT_ACT_DELIVER:
        case FT_ACT_SUSPECT:
        case FT_ACT_N_KINDS:
            break;
        }
    }
}

static void
take_copy_run(struct take_copy *v, const struct ft_event *ev, struct ft_actions *out)
{
    struct ft_actions in;

    ft_actions_init(&in);
    ft_core_step(v->vnf, ev, &in);
    take_copy_actions(v, &in, out);
    ft_actions_uninit(&in);
}

/* Starts the copy's core as incarnation 'inc' (0: the first active copy), from the image it
 * holds when 'from_image' (the VSM's answer rebuilt, as nham_vnf_take() does). */
static void
take_copy_start(struct take_copy *v, uint32_t inc, bool from_image, uint64_t now,
                struct ft_actions *out)
{
    uint32_t peers[2] = { TAKE_IN_SFF, TAKE_IN_VSM };
    struct ft_param params[] = { { "state_bytes", v->state_bytes } };
    struct ft_config c = { .self = TAKE_IN_HOP(v->hop), .peers = peers, .n_peers = 2,
                           .params = params, .n_params = 1, .rng = v->rng };
    uint8_t answer[5];

    if (ft_core_create(ft_core_class_find("nham_vnf"), &c, &v->vnf, NULL)) {
        return;
    }
    v->from_image = from_image;
    take_copy_run(v, &(struct ft_event) { .kind = FT_EV_START, .now_ns = now,
                                          .incarnation = inc }, out);
    if (from_image) {
        struct buf b = BUF_INITIALIZER;

        buf_put_be32(&b, inc);
        buf_put(&b, v->held.data, v->held.len);
        take_copy_run(v, &(struct ft_event) { .kind = FT_EV_STATE, .now_ns = now,
                                              .from = TAKE_IN_VSM, .data = b.data,
                                              .len = b.len }, out);
        buf_uninit(&b);
    }
    v->from_image = false;
    if (inc) {
        answer[0] = v->hop;
        put_be32(answer + 1, inc);
        take_send(out, v->fms, TAKE_TAG_UP, answer, 5);
    }
}

/* The SFF's TAKE (nham_vnf_take()). */
static void
take_copy_take(struct take_copy *v, const uint8_t *p, size_t len, uint64_t now,
               struct ft_actions *out)
{
    enum nham_take_verdict verdict;
    struct nham_take_msg t;
    uint8_t mac[6];

    take_mac(v->self, mac);
    if (!nham_take_parse(p, len, &t)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, p, len);
        return;
    }
    verdict = nham_take_judge(&t, !v->vnf, v->nonce, mac, v->held.data, v->held.len,
                              v->held_prev.data, v->held_prev.len);
    switch (verdict) {
    case NHAM_TAKE_NOT_MINE:
        ft_emit_note(out, "TAKE as %"PRIu32": not for this copy", t.inc);
        ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        break;
    case NHAM_TAKE_FROM_PREV:
    case NHAM_TAKE_FROM_IMAGE:
        if (verdict == NHAM_TAKE_FROM_PREV) {
            /* The image before is the one the start takes. */
            buf_uninit(&v->held);
            v->held = v->held_prev;
            buf_init(&v->held_prev);
        }
        v->took_epoch = nham_take_keeps_ready(t.inc, v->dropped_epoch) ? t.inc : 0;
        ft_emit_note(out, "TAKE as %"PRIu32": from its %s image, READY %s", t.inc,
                     verdict == NHAM_TAKE_FROM_PREV ? "previous" : "last",
                     v->took_epoch ? "kept" : "sent (the replay came first)");
        take_copy_start(v, t.inc, true, now, out);
        break;
    case NHAM_TAKE_ACTIVATE:
        ft_emit_note(out, "TAKE as %"PRIu32": holds another image, activates", t.inc);
        take_copy_start(v, t.inc, false, now, out);
        break;
    }
}

#define TAKE_ACK_TIMER (1u << 20)

/* A standby's ACK of the image it holds. */
static void
take_copy_ack(struct take_copy *v, uint64_t now, struct ft_actions *out)
{
    struct buf b = BUF_INITIALIZER;

    v->ack_due = false;
    if (v->vnf || v->held.len < NHAM_TAKE_ID) {
        return;
    }
    v->ack_seq = MAX(now, v->ack_seq + 1);
    buf_put_be64(&b, v->ack_seq);
    nham_take_ack_put(&b, v->nonce, v->held.data, v->held.len);
    take_send(out, v->sff, TAKE_TAG_ACK, b.data, b.len);
    buf_uninit(&b);
}

/* A standby's image from the SFF (WARM): its ACK goes once the standby wakes up. */
static void
take_copy_warm(struct take_copy *v, const uint8_t *p, size_t len, uint64_t now,
               struct ft_actions *out)
{
    struct buf before = BUF_INITIALIZER;

    buf_put(&before, v->held.data, v->held.len);
    if (nham_warm_take(&v->held, p, len) != NHAM_WARM_KEPT || v->vnf) {
        buf_uninit(&before);
        return;
    }
    buf_uninit(&v->held_prev);
    v->held_prev = before;
    if (!v->wake_ns) {
        take_copy_ack(v, now, out);
    } else if (!v->ack_due) {
        v->ack_due = true;
        ft_emit_timer(out, TAKE_ACK_TIMER, now + v->wake_ns);
    }
}

/* peers = [sff, fms]; parameters 'hop', 'active' (1: the hop's first active copy),
 * 'state_bytes'. */
static int
take_copy_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    const char *state = ft_config_param(cfg, "state_bytes");
    uint64_t hop, active;
    struct take_copy *v;
    int error;

    error = ft_config_u64(cfg, "hop", 0, &hop, errp);
    if (!error) {
        error = ft_config_u64(cfg, "active", 0, &active, errp);
    }
    if (error || cfg->n_peers != 2 || hop >= TAKE_MAX_HOPS) {
        return error ? error : EINVAL;
    }
    v = xzalloc(sizeof *v);
    v->self = cfg->self;
    v->sff = cfg->peers[0];
    v->fms = cfg->peers[1];
    v->hop = hop;
    v->first_active = active;
    v->rng = cfg->rng;
    v->nonce = ft_rng_u64(&v->rng);     /* Drawn once per process. */
    /* Half the copies answer at once, the others after a wake-up of up to 2 ms (a standby,
     * an idle process on a loaded host: session 12's one fallback in 201 MR-AA kills). */
    v->wake_ns = ft_rng_chance(&v->rng, 0.5) ? 0 : ft_rng_below(&v->rng, 2 * SIM_MS);
    snprintf(v->state_bytes, sizeof v->state_bytes, "%s", state ? state : "64");
    *corep = &v->up;
    return 0;
}

static void
take_copy_destroy(struct ft_core *core)
{
    struct take_copy *v = (struct take_copy *) core;

    ft_core_destroy(v->vnf);
    buf_uninit(&v->held);
    buf_uninit(&v->held_prev);
    free(v);
}

static int
take_copy_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct take_copy *v = (struct take_copy *) core;
    struct ft_event in = *ev;

    switch (ev->kind) {
    case FT_EV_START:
        if (!ev->incarnation && v->first_active) {
            take_copy_start(v, 0, false, ev->now_ns, out);
        } else if (ev->incarnation) {
            take_send(out, v->sff, TAKE_TAG_WANT, NULL, 0);   /* Restarted with nothing. */
        }
        break;
    case FT_EV_PACKET:
        if (!v->vnf) {
            /* A standby's: the replay that overtook its TAKE, or frames for a dead copy. */
            if (ev->len >= 5 && ev->data[0] == NHAM_DATA) {
                v->dropped_epoch = MAX(v->dropped_epoch, get_be32(ev->data + 1));
            }
            ft_emit_drop(out, FT_DROP_STALE, NULL, 0);
        } else {
            in.from = TAKE_IN_SFF;
            take_copy_run(v, &in, out);
        }
        break;
    case FT_EV_STATE_REQUEST:
    case FT_EV_STATE:
        if (v->vnf) {
            in.from = ev->kind == FT_EV_STATE ? TAKE_IN_VSM : TAKE_IN_SFF;
            take_copy_run(v, &in, out);
        }
        break;
    case FT_EV_TIMER:
        if (ev->timer == TAKE_ACK_TIMER) {
            take_copy_ack(v, ev->now_ns, out);
        } else if (v->vnf) {
            take_copy_run(v, ev, out);
        }
        break;
    case FT_EV_PEER_MSG:
        if (!ev->len) {
            break;
        }
        if (ev->from == v->fms && ev->data[0] == TAKE_TAG_ACTIVATE && ev->len == 5) {
            if (!v->vnf) {
                take_copy_start(v, get_be32(ev->data + 1), false, ev->now_ns, out);
            }
        } else if (ev->from == v->sff && ev->data[0] == TAKE_TAG_WARM) {
            take_copy_warm(v, ev->data + 1, ev->len - 1, ev->now_ns, out);
        } else if (ev->from == v->sff && ev->data[0] == TAKE_TAG_TAKE) {
            take_copy_take(v, ev->data + 1, ev->len - 1, ev->now_ns, out);
        } else if (ev->from == v->sff && v->vnf
                   && (ev->data[0] == TAKE_TAG_SFF || ev->data[0] == TAKE_TAG_VSM)) {
            in.from = ev->data[0] == TAKE_TAG_SFF ? TAKE_IN_SFF : TAKE_IN_VSM;
            in.data = ev->data + 1;
            in.len = ev->len - 1;
            take_copy_run(v, &in, out);
        }
        break;
    case FT_EV_PEER_DOWN:
    case FT_EV_PEER_UP:
    case FT_EV_N_KINDS:
        break;
    }
    return 0;
}

static const struct ft_core_class take_copy_class = {
    .name = "nham-take-copy",
    .summary = "test: one copy of an active-active NHAM hop (standby or nham_vnf)",
    .create = take_copy_create,
    .destroy = take_copy_destroy,
    .step = take_copy_step,
};

/* ---- The FMS (testbed/schemes/nham_ctl.c, nham_take() and nham_recover()). ---- */

struct take_fms_hop {
    uint32_t inc;
    size_t active;
    bool live[TAKE_MAX_COPIES];
    bool waiting;               /* No standby ran: the next copy that restarts. */
};

struct take_fms {
    struct ft_core up;
    uint32_t sff;
    uint32_t copies[TAKE_MAX_HOPS * TAKE_MAX_COPIES];
    size_t n_hops, n_copies;
    uint64_t take_timeout_ns;
    struct take_fms_hop hops[TAKE_MAX_HOPS];
};

static void
take_fms_activate(struct take_fms *f, size_t i, size_t k, uint64_t now, struct ft_actions *out)
{
    uint8_t inc[4];

    put_be32(inc, f->hops[i].inc);
    f->hops[i].active = k;
    take_send(out, f->copies[i * f->n_copies + k], TAKE_TAG_ACTIVATE, inc, 4);
    ft_emit_note(out, "fms: hop %zu: copy %zu activated as %"PRIu32, i, k, f->hops[i].inc);
}

/* Hop 'i''s active copy died: the SFF is asked to take over, as a new incarnation. */
static void
take_fms_recover(struct take_fms *f, size_t i, uint64_t now, struct ft_actions *out)
{
    struct take_fms_hop *h = &f->hops[i];
    uint8_t cmd[13];
    uint64_t mask = 0;

    for (size_t k = 0; k < f->n_copies; k++) {
        if (k != h->active && h->live[k]) {
            mask |= 1ull << k;
        }
    }
    h->waiting = !mask;
    if (!mask) {
        return;
    }
    h->inc++;
    cmd[0] = i;
    put_be32(cmd + 1, h->inc);
    put_be64(cmd + 5, mask);
    take_send(out, f->sff, TAKE_TAG_CMD, cmd, 13);
    /* A TAKE lost on the way: the standby is activated after a while. */
    ft_emit_timer(out, i + 1, now + f->take_timeout_ns);
}

static int
take_fms_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    uint64_t n_copies, timeout;
    struct take_fms *f;
    int error;

    error = ft_config_u64(cfg, "copies", 2, &n_copies, errp);
    if (!error) {
        error = ft_config_duration(cfg, "take_timeout", 100 * SIM_MS, &timeout, errp);
    }
    if (error || cfg->n_peers != 1 || !n_copies || n_copies > TAKE_MAX_COPIES
        || cfg->n_group % n_copies || cfg->n_group / n_copies > TAKE_MAX_HOPS
        || !cfg->n_group) {
        return error ? error : EINVAL;
    }
    f = xzalloc(sizeof *f);
    f->sff = cfg->peers[0];
    f->n_copies = n_copies;
    f->n_hops = cfg->n_group / n_copies;
    f->take_timeout_ns = timeout;
    memcpy(f->copies, cfg->group, cfg->n_group * sizeof *cfg->group);
    for (size_t i = 0; i < f->n_hops; i++) {
        for (size_t k = 0; k < n_copies; k++) {
            f->hops[i].live[k] = true;
        }
    }
    *corep = &f->up;
    return 0;
}

static void
take_fms_destroy(struct ft_core *core)
{
    free(core);
}

static int
take_fms_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct take_fms *f = (struct take_fms *) core;
    size_t x = SIZE_MAX, i, k;
    struct take_fms_hop *h;

    for (size_t j = 0; j < f->n_hops * f->n_copies; j++) {
        if (f->copies[j] == ev->from) {
            x = j;
        }
    }
    switch (ev->kind) {
    case FT_EV_PEER_DOWN:
    case FT_EV_PEER_UP:
        if (x == SIZE_MAX) {
            break;
        }
        i = x / f->n_copies;
        k = x % f->n_copies;
        h = &f->hops[i];
        h->live[k] = ev->kind == FT_EV_PEER_UP;
        if (ev->kind == FT_EV_PEER_DOWN ? k == h->active : h->waiting) {
            take_fms_recover(f, i, ev->now_ns, out);
        }
        break;
    case FT_EV_PEER_MSG:
        if (ev->len < 6 || ev->data[1] >= f->n_hops) {
            break;
        }
        i = ev->data[1];
        h = &f->hops[i];
        if (get_be32(ev->data + 2) != h->inc) {
            break;                  /* About an earlier incarnation. */
        }
        if (ev->data[0] == TAKE_TAG_UP) {
            ft_emit_cancel(out, i + 1);
        } else if (ev->data[0] == TAKE_TAG_TOOK && ev->len == 7 && ev->data[6] < f->n_copies) {
            h->active = ev->data[6];
            if (!h->live[h->active]) {
                take_fms_recover(f, i, ev->now_ns, out);   /* It died meanwhile. */
            }
        } else if (ev->data[0] == TAKE_TAG_REFUSED) {
            /* The old way: a standby of the FMS's choice, from the VSM's image. */
            ft_emit_cancel(out, i + 1);
            for (k = 0; k < f->n_copies && (k == h->active || !h->live[k]); k++) {
                continue;
            }
            if (k < f->n_copies) {
                take_fms_activate(f, i, k, ev->now_ns, out);
            } else {
                h->waiting = true;
            }
        }
        break;
    case FT_EV_TIMER:
        /* No TAKE took effect: the chosen copy is activated by the FMS. */
        i = ev->timer - 1;
        if (i < f->n_hops && f->hops[i].live[f->hops[i].active]) {
            take_fms_activate(f, i, f->hops[i].active, ev->now_ns, out);
        }
        break;
    case FT_EV_START:
    case FT_EV_PACKET:
    case FT_EV_STATE_REQUEST:
    case FT_EV_STATE:
    case FT_EV_N_KINDS:
        break;
    }
    return 0;
}

static const struct ft_core_class take_fms_class = {
    .name = "nham-take-fms",
    .summary = "test: NHAM's FMS on the takeover path (takeover, fallback activation)",
    .create = take_fms_create,
    .destroy = take_fms_destroy,
    .step = take_fms_step,
};

/* ---- The scenario. ---- */

static uint64_t
nham_take_setup(struct sim *sim, bool broken)
{
    struct ft_rng *rng = sim_rng(sim);
    struct sim_net_config net = *sim_net(sim);
    size_t n = ft_rng_range(rng, 1, TAKE_MAX_HOPS);
    size_t n_copies = ft_rng_chance(rng, 0.5) ? 2 : ft_rng_range(rng, 3, TAKE_MAX_COPIES);
    size_t n_all = n * n_copies, n_requests, n_rounds;
    uint64_t interval = ft_rng_range(rng, 1, 20) * SIM_MS, t, end, last = 0;
    uint64_t busy_until[TAKE_MAX_HOPS * TAKE_MAX_COPIES] = { 0 };
    uint32_t client, sff, fms, egress, copies[TAKE_MAX_HOPS * TAKE_MAX_COPIES];
    char interval_s[32], n_s[24], copies_s[24], state_s[24], hop_s[TAKE_MAX_HOPS][24];
    bool late = ft_rng_chance(rng, 0.3);

    /* FIFO, as a guest's veth: one fixed delay per message. */
    net.delay_min_ns = net.delay_max_ns = ft_rng_range(rng, 10, 300) * SIM_US;
    net.spike_prob = 0;
    net.dup_prob = 0;
    net.loss_prob = 0;
    net.authenticated = true;
    net.detect_ns = ft_rng_range(rng, 50, 5000) * SIM_US;
    sim_set_net(sim, &net);

    ft_core_class_register(&sim_nham_check_class);
    ft_core_class_register(&take_sff_class);
    ft_core_class_register(&take_copy_class);
    ft_core_class_register(&take_fms_class);
    client = sim_add_endpoint(sim, "client");
    sff = sim_add_endpoint(sim, "sff");
    fms = sim_add_endpoint(sim, "fms");
    egress = sim_add_endpoint(sim, "egress");
    sim_scenario_add_endpoints(sim, "copy", copies, n_all);

    snprintf(interval_s, sizeof interval_s, "%"PRIu64"us", (uint64_t) (interval / SIM_US));
    snprintf(n_s, sizeof n_s, "%zu", n);
    snprintf(copies_s, sizeof copies_s, "%zu", n_copies);
    snprintf(state_s, sizeof state_s, "%"PRIu64, (uint64_t) ft_rng_below(rng, 257));
    {
        uint32_t sff_peers[2] = { fms, egress };
        struct ft_param sff_params[] = {
            { "copies", copies_s }, { "checkpoint", interval_s },
            { "take_late", late ? "1" : "0" }, { "broken", "1" },
        };
        struct ft_param fms_params[] = { { "copies", copies_s } };
        struct ft_param check_params[] = { { "vnfs", n_s } };
        struct sim_core_spec sff_spec = {
            .class = &take_sff_class, .next = copies, .n_next = n_all, .peers = sff_peers,
            .n_peers = 2, .params = sff_params, .n_params = broken ? 4 : 3,
        };
        struct sim_core_spec fms_spec = {
            .class = &take_fms_class, .group = copies, .n_group = n_all, .peers = &sff,
            .n_peers = 1, .params = fms_params, .n_params = 1,
        };
        struct sim_core_spec check_spec = {
            .class = &sim_nham_check_class, .next = &client, .n_next = 1,
            .params = check_params, .n_params = 1,
        };

        sim_make_core(sim, sff, &sff_spec);
        sim_make_core(sim, fms, &fms_spec);
        sim_make_core(sim, egress, &check_spec);
        for (size_t x = 0; x < n_all; x++) {
            uint32_t peers[2] = { sff, fms };
            struct ft_param params[] = {
                { "hop", hop_s[x / n_copies] }, { "active", x % n_copies ? "0" : "1" },
                { "state_bytes", state_s },
            };
            struct sim_core_spec spec = {
                .class = &take_copy_class, .peers = peers, .n_peers = 2, .params = params,
                .n_params = 3,
            };

            snprintf(hop_s[x / n_copies], sizeof hop_s[0], "%zu", x / n_copies);
            sim_make_core(sim, copies[x], &spec);
        }
    }
    sim_make_client(sim, client, &sff, 1);

    n_requests = ft_rng_range(rng, 50, 400);
    end = n_requests * 150 * SIM_US;

    /* Rounds of failures: in each, one to all hops lose one to all of their copies, the first
     * at the same instant, often while a checkpoint is in flight, the others a few
     * milliseconds later (the copy just chosen, a second standby); each restarts as a standby
     * with nothing. */
    n_rounds = ft_rng_range(rng, 1, 4);
    t = ft_rng_below(rng, end / 2);
    for (size_t r = 0; r < n_rounds; r++) {
        uint32_t hops[TAKE_MAX_HOPS], order[TAKE_MAX_COPIES];
        size_t k = ft_rng_range(rng, 1, n);
        uint64_t at = t;

        if (ft_rng_chance(rng, 0.5)) {
            /* During a checkpoint: just after a tick, before the image is back and saved. */
            at = (t / interval + 1) * interval + ft_rng_below(rng, 4 * net.delay_min_ns + 1);
        }
        sim_scenario_order(sim, hops, n);
        for (size_t i = 0; i < k; i++) {
            size_t m = ft_rng_chance(rng, 0.6) ? 1 : ft_rng_range(rng, 2, n_copies);

            sim_scenario_order(sim, order, n_copies);
            for (size_t j = 0; j < m; j++) {
                size_t x = hops[i] * n_copies + order[j];
                uint64_t crash = MAX(at + (j ? ft_rng_below(rng, 3 * SIM_MS) : 0),
                                     busy_until[x]);
                uint64_t restart = crash + net.detect_ns + SIM_MS
                                   + ft_rng_below(rng, 10 * SIM_MS);

                sim_crash_at(sim, copies[x], crash);
                sim_restart_at(sim, copies[x], restart);
                busy_until[x] = restart + 1;
                last = MAX(last, restart);
            }
        }
        t = ft_rng_chance(rng, 0.3) ? at + net.detect_ns + ft_rng_below(rng, 12 * SIM_MS)
                                    : at + ft_rng_range(rng, 1, 40) * SIM_MS;
    }
    if (ft_rng_chance(rng, 0.5)) {
        /* Some copies' links lose frames for a while: TAKEs, images, ACKs, READYs too. */
        size_t k = ft_rng_range(rng, 1, n_all);
        uint32_t order[TAKE_MAX_HOPS * TAKE_MAX_COPIES];

        sim_scenario_order(sim, order, n_all);
        for (size_t i = 0; i < k; i++) {
            double p = ft_rng_range(rng, 1, 20) / 100.0;

            sim_link_loss(sim, sff, copies[order[i]], p, MAX(end, last) / 2);
            sim_link_loss(sim, copies[order[i]], sff, p, MAX(end, last) / 2);
        }
    }

    sim_scenario_requests(sim, client, n_requests, 48, 300 * SIM_US);
    return MAX(end, last) + 500 * SIM_MS;
}

const struct sim_scenario sim_scenario_nham_take = {
    .name = "nham-take",
    .summary = "NHAM's takeover by the SFF (1R-AA, MR-AA): active and standby copies crash, "
               "also during checkpoints and takeovers, TAKEs late or lost, the FMS's fallback: "
               "no loss, no duplicate, states consistent",
    .broken = "the SFF releases buffer_rx at once when a checkpoint is saved, yet takes over "
              "from the image before it, which a standby still holds",
    .setup = nham_take_setup,
    .check = sim_nham_check,
};
