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

int
nham_take_choose(const struct nham_take_hop *hop, long long inc, uint64_t mask,
                 size_t *copyp, uint64_t *counterp, const char **why)
{
    size_t k;

    if (inc < 1 || inc >= UINT32_MAX) {
        *why = "the incarnation is out of range";
        return EINVAL;
    }
    if (hop->addressed && (uint64_t) inc <= hop->addressed_epoch) {
        *why = "the incarnation is not above the hop's";
        return ESTALE;
    }
    /* The replay starts after the image's counter: from the saved checkpoint, and no other,
     * since buffer_rx holds nothing at or below it and everything above it. */
    if (!hop->warmed || hop->warmed_len < NHAM_TAKE_ID
        || get_be64(hop->warmed + 4) != hop->saved) {
        *why = "the standbys were not given the last saved checkpoint";
        return ENOENT;
    }
    for (k = 0; k < hop->n_copies && k < 64; k++) {
        const struct nham_take_ack *a = &hop->acks[k];

        if ((mask >> k & 1) && a->valid
#ifndef NHAM_BROKEN_TAKE
            && a->len == hop->warmed_len && !memcmp(a->id, hop->warmed, NHAM_TAKE_ID)
#endif
            ) {
            break;
        }
    }
    if (k == hop->n_copies || k == 64) {
        *why = "no standby said it holds the last saved checkpoint";
        return ENOENT;
    }
    *copyp = k;
    *counterp = hop->saved;
    return 0;
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
    /* The image the standby said it holds: nham_take_choose() took it only if it is the
     * saved one. */
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

enum nham_take_verdict
nham_take_judge(const struct nham_take_msg *t, bool standby, uint64_t nonce,
                const uint8_t mac[6], const uint8_t *held, size_t held_len)
{
    if (!standby || t->nonce != nonce || memcmp(t->mac, mac, 6) || !t->inc
        || t->inc == UINT32_MAX) {
        return NHAM_TAKE_NOT_MINE;
    }
    if (held_len < NHAM_TAKE_ID || t->len != held_len || memcmp(t->id, held, NHAM_TAKE_ID)) {
        return NHAM_TAKE_ACTIVATE;
    }
    return NHAM_TAKE_FROM_IMAGE;
}

bool
nham_take_keeps_ready(uint32_t inc, uint32_t dropped_epoch)
{
    return dropped_epoch != inc;
}
