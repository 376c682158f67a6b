/* take — the SFF's takeover of an active-active hop (take.h). */
#include "vnfs/ft/nham/take.h"

#include <errno.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"

#define NHAM_TAKE_ACK_MAGIC "NHAMWACK"
#define NHAM_TAKE_TAKE_MAGIC "NHAMTAKE"

void
nham_take_ack_put(struct buf *b, uint64_t nonce, const uint8_t *image, size_t len)
{
    buf_put(b, NHAM_TAKE_ACK_MAGIC, NHAM_TAKE_MAGIC_LEN);
    buf_put_be64(b, nonce);
    buf_put(b, image, NHAM_TAKE_ID);
    buf_put_be32(b, len);
}

bool
nham_take_is_ack(const uint8_t *p, size_t len)
{
    return len == NHAM_ACK_LEN && !memcmp(p, NHAM_TAKE_ACK_MAGIC, NHAM_TAKE_MAGIC_LEN);
}

bool
nham_take_ack_update(struct nham_take_ack *a, uint64_t seq, const uint8_t *p, size_t len)
{
    if (!nham_take_is_ack(p, len) || seq <= a->seq
        || (a->active && get_be64(p + NHAM_TAKE_MAGIC_LEN) == a->active_nonce)) {
        return false;
    }
    p += NHAM_TAKE_MAGIC_LEN;
    a->seq = seq;
    a->valid = true;
    a->nonce = get_be64(p);
    memcpy(a->id, p + 8, NHAM_TAKE_ID);
    a->len = get_be32(p + 8 + NHAM_TAKE_ID);
    return true;
}

void
nham_take_ack_active(struct nham_take_ack *a)
{
    if (a->valid) {
        a->active = true;
        a->active_nonce = a->nonce;
        a->valid = false;
    }
}

bool
nham_take_ack_names(const struct nham_take_ack *a, const uint8_t *image, size_t len)
{
    return a->valid && image && len >= NHAM_TAKE_ID && a->len == len
           && !memcmp(a->id, image, NHAM_TAKE_ID);
}

bool
nham_take_defer(const struct nham_take_ack *acks, size_t n_copies, size_t active,
                const uint8_t *warmed, size_t warmed_len)
{
    bool standby = false;

#ifdef NHAM_BROKEN_TAKE
    return false;               /* Released at once, */
#endif
    for (size_t k = 0; k < n_copies; k++) {
        if (k != active && acks[k].valid) {
            if (nham_take_ack_names(&acks[k], warmed, warmed_len)) {
                return false;
            }
            standby = true;
        }
    }
    return standby;
}

/* The image's counter, if it can be taken over from: buffer_rx holds every packet after it. */
static bool
nham_take_usable(const uint8_t *image, size_t len, uint64_t saved, uint64_t *counterp)
{
    if (!image || len < NHAM_TAKE_ID || get_be64(image + 4) < saved) {
        return false;
    }
    *counterp = get_be64(image + 4);
    return true;
}

int
nham_take_choose(const struct nham_take_hop *hop, long long inc, uint64_t mask,
                 size_t *copyp, uint64_t *counterp, const char **why)
{
    uint64_t cw = 0, cp = 0;
    bool w, p;

    if (inc < 1 || inc >= UINT32_MAX) {
        *why = "the incarnation is out of range";
        return EINVAL;
    }
    if (hop->addressed && (uint64_t) inc <= hop->addressed_epoch) {
        *why = "the incarnation is not above the hop's";
        return ESTALE;
    }
    /* The replay starts after the image's counter: buffer_rx holds nothing at or below the
     * saved checkpoint's and everything above it. */
    w = nham_take_usable(hop->warmed, hop->warmed_len, hop->saved, &cw);
    p = nham_take_usable(hop->prev, hop->prev_len, hop->saved, &cp);
#ifdef NHAM_BROKEN_TAKE
    /* and the image before the last taken over from all the same. */
    p = nham_take_usable(hop->prev, hop->prev_len, 0, &cp);
#endif
    if (!w && !p) {
        *why = "the standbys were not given the last saved checkpoint";
        return ENOENT;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < hop->n_copies && k < 64; k++) {
            const struct nham_take_ack *a = &hop->acks[k];

            if (!(mask >> k & 1) || !a->valid) {
                continue;
            }
            if (!pass && w && nham_take_ack_names(a, hop->warmed, hop->warmed_len)) {
                *copyp = k;
                *counterp = cw;
                return 0;
            }
            if (pass && p && nham_take_ack_names(a, hop->prev, hop->prev_len)) {
                *copyp = k;
                *counterp = cp;
                return 0;
            }
        }
    }
    *why = "no standby said it holds the last saved checkpoint";
    return ENOENT;
}

void
nham_take_put(struct buf *b, const struct nham_take_hop *hop, size_t copy, uint32_t inc,
              const uint8_t mac[6])
{
    const struct nham_take_ack *a = &hop->acks[copy];

    buf_put(b, NHAM_TAKE_TAKE_MAGIC, NHAM_TAKE_MAGIC_LEN);
    buf_put_be64(b, a->nonce);
    buf_put_be32(b, inc);
    buf_put(b, mac, 6);
    /* The image the standby said it holds: nham_take_choose() took it only if the replay
     * after it loses nothing. */
    buf_put(b, a->id, NHAM_TAKE_ID);
    buf_put_be32(b, a->len);
}

bool
nham_take_parse(const uint8_t *p, size_t len, struct nham_take_msg *t)
{
    if (len != NHAM_TAKE_LEN || memcmp(p, NHAM_TAKE_TAKE_MAGIC, NHAM_TAKE_MAGIC_LEN)) {
        return false;
    }
    p += NHAM_TAKE_MAGIC_LEN;
    t->nonce = get_be64(p);
    t->inc = get_be32(p + 8);
    memcpy(t->mac, p + 12, 6);
    t->id = p + 18;
    t->len = get_be32(p + 18 + NHAM_TAKE_ID);
    return true;
}

static bool
nham_take_names(const struct nham_take_msg *t, const uint8_t *image, size_t len)
{
    return image && len >= NHAM_TAKE_ID && t->len == len && !memcmp(t->id, image, NHAM_TAKE_ID);
}

enum nham_take_verdict
nham_take_judge(const struct nham_take_msg *t, bool standby, uint64_t nonce,
                const uint8_t mac[6], const uint8_t *held, size_t held_len,
                const uint8_t *prev, size_t prev_len)
{
    if (!standby || t->nonce != nonce || memcmp(t->mac, mac, 6) || !t->inc
        || t->inc == UINT32_MAX) {
        return NHAM_TAKE_NOT_MINE;
    }
    return nham_take_names(t, held, held_len) ? NHAM_TAKE_FROM_IMAGE
           : nham_take_names(t, prev, prev_len) ? NHAM_TAKE_FROM_PREV
           : NHAM_TAKE_ACTIVATE;
}

bool
nham_take_keeps_ready(uint32_t inc, uint32_t dropped_epoch)
{
    return dropped_epoch != inc;
}
