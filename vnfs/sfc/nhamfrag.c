/* NHAM's fragments (nhamfrag.h). */
#include "vnfs/sfc/nhamfrag.h"

#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/util.h"

static uint64_t
get_be(const uint8_t *p, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

static void
put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = v;
        v >>= 8;
    }
}

void
nham_frag_header(uint8_t *out, uint64_t id, uint32_t total, uint32_t offset)
{
    put_be(out, id, 8);
    put_be(out + 8, total, 4);
    put_be(out + 12, offset, 4);
}

const uint8_t *
nham_frag_add(struct nham_frags *fr, const uint8_t src[6], const uint8_t *body, size_t len,
              size_t *msg_len)
{
    struct nham_reasm *r = NULL;
    uint64_t id;
    uint32_t total, off;

    if (len < NHAM_FRAG_HDR) {
        fr->n_malformed++;
        return NULL;
    }
    id = get_be(body, 8);
    total = get_be(body + 8, 4);
    off = get_be(body + 12, 4);
    body += NHAM_FRAG_HDR;
    len -= NHAM_FRAG_HDR;
    if (!total || total > NHAM_MAX_MESSAGE || (uint64_t) off + len > total || !len) {
        fr->n_malformed++;
        return NULL;
    }
    for (size_t i = 0; i < fr->n; i++) {
        if (!memcmp(fr->r[i].mac, src, 6)) {
            r = &fr->r[i];
        }
    }
    if (!r) {
        if (fr->n >= NHAM_FRAG_MAX_SENDERS) {
            fr->n_malformed++;
            return NULL;
        }
        fr->r = xrealloc(fr->r, (fr->n + 1) * sizeof *fr->r);
        r = &fr->r[fr->n++];
        memset(r, 0, sizeof *r);
        memcpy(r->mac, src, 6);
    }
    if (r->id != id || r->total != total || !r->buf) {
        if (r->buf && r->got < r->total) {
            fr->n_lost++;
        }
        /* A message only starts at its first byte: no memory for a stray fragment. */
        free(r->buf);
        r->buf = NULL;
        r->id = id;
        r->total = total;
        r->got = 0;
        if (off) {
            r->got = total;         /* Nothing to wait for until the next message starts. */
            fr->n_lost++;
            return NULL;
        }
        r->buf = xmalloc(total);
    }
    if (off != r->got) {
        if (r->got < r->total) {
            fr->n_lost++;
        }
        r->got = r->total;          /* A fragment went missing: wait for the next message. */
        return NULL;
    }
    memcpy(r->buf + off, body, len);
    r->got += len;
    if (r->got != r->total) {
        return NULL;
    }
    *msg_len = r->total;
    return r->buf;
}

void
nham_frags_free(struct nham_frags *fr)
{
    for (size_t i = 0; i < fr->n; i++) {
        free(fr->r[i].buf);
    }
    free(fr->r);
    memset(fr, 0, sizeof *fr);
}

/* Changed bytes closer than this are sent as one run (a run's header costs 6 bytes). */
#define NHAM_DELTA_GAP 16
#define NHAM_DELTA_RUN_MAX 65535

/* True when the 64 bytes at 'a' and 'b' are the same (compared a word at a time, which the
 * compiler turns into a few vector compares). */
static bool
nham_delta_line_same(const uint8_t *a, const uint8_t *b)
{
    uint64_t x = 0;

    for (size_t k = 0; k < 64; k += 8) {
        uint64_t u, v;

        memcpy(&u, a + k, 8);
        memcpy(&v, b + k, 8);
        x |= u ^ v;
    }
    return !x;
}

/* The first index in [p, lim) where 'old' and 'new' differ, else lim. Most of an image is as
 * it was (a packet rewrites one byte of the paper's 512 KB): equal lines are passed 64 bytes at
 * a time, then words eight at a time, and the differing byte is found in its word. */
static size_t
nham_delta_next(const uint8_t *old, const uint8_t *new, size_t p, size_t lim)
{
    while (lim - p >= 64 && nham_delta_line_same(old + p, new + p)) {
        p += 64;
    }
    for (; lim - p >= 8; p += 8) {
        uint64_t u, v;

        memcpy(&u, old + p, 8);
        memcpy(&v, new + p, 8);
        if (u != v) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return p + __builtin_ctzll(u ^ v) / 8;
#else
            break;
#endif
        }
    }
    while (p < lim && old[p] == new[p]) {
        p++;
    }
    return p;
}

/* A run goes from a changed byte to the last one before NHAM_DELTA_GAP equal bytes, found a
 * word at a time, not a byte at a time: a checkpoint of a VNF at 10,000 datagrams/s has ~2,500
 * changes, and the bytes took 1.5-2 times as long. */
size_t
nham_delta_encode(const uint8_t *old, const uint8_t *new, size_t len, size_t max,
                  struct buf *out)
{
    size_t start = out->len, i = nham_delta_next(old, new, 0, len);

    while (i < len) {
        size_t end = i + 1, lim = MIN(len, i + NHAM_DELTA_RUN_MAX), q;

        while (end < lim
               && (q = nham_delta_next(old, new, end, MIN(lim, end + NHAM_DELTA_GAP)))
                  < MIN(lim, end + NHAM_DELTA_GAP)) {
            end = q + 1;
        }
        if (out->len - start + 6 + (end - i) > max || i > UINT32_MAX) {
            out->len = start;
            return 0;
        }
        buf_put_be32(out, i);
        buf_put_be16(out, end - i);
        buf_put(out, new + i, end - i);
        i = nham_delta_next(old, new, end, len);
    }
    if (out->len == start && max >= 6) {
        /* Nothing changed: one empty run, so that a delta is never empty. */
        buf_put_be32(out, 0);
        buf_put_be16(out, 0);
    }
    return out->len - start;
}

bool
nham_delta_apply(uint8_t *img, size_t len, const uint8_t *runs, size_t n)
{
    while (n) {
        size_t off, rl;

        if (n < 6) {
            return false;
        }
        off = get_be(runs, 4);
        rl = get_be(runs + 4, 2);
        if (n - 6 < rl || off > len || len - off < rl) {
            return false;
        }
        memcpy(img + off, runs + 6, rl);
        runs += 6 + rl;
        n -= 6 + rl;
    }
    return true;
}

int
nham_image_cmp(const uint8_t *a, const uint8_t *b)
{
    uint64_t ea = get_be(a, 4), eb = get_be(b, 4), ca = get_be(a + 4, 8), cb = get_be(b + 4, 8);

    return ea != eb ? (ea < eb ? -1 : 1) : ca != cb ? (ca < cb ? -1 : 1) : 0;
}

enum nham_warm_result
nham_warm_take(struct buf *held, const uint8_t *p, size_t len)
{
    const size_t hdr = NHAM_IMAGE_ID + 4 + NHAM_IMAGE_ID;
    bool holds = held->len >= NHAM_IMAGE_ID;

    if (len < NHAM_MAGIC_LEN) {
        return NHAM_WARM_OTHER;
    }
    if (!memcmp(p, NHAM_WARM_MAGIC, NHAM_MAGIC_LEN)) {
        p += NHAM_MAGIC_LEN;
        len -= NHAM_MAGIC_LEN;
        if (holds && len >= NHAM_IMAGE_ID && nham_image_cmp(p, held->data) < 0) {
            return NHAM_WARM_STALE;
        }
        buf_clear(held);
        buf_put(held, p, len);
        return NHAM_WARM_KEPT;
    }
    if (memcmp(p, NHAM_DELTA_MAGIC, NHAM_MAGIC_LEN)) {
        return NHAM_WARM_OTHER;
    }
    p += NHAM_MAGIC_LEN;
    len -= NHAM_MAGIC_LEN;
    if (holds && len >= hdr && nham_image_cmp(p + NHAM_IMAGE_ID + 4, held->data) <= 0) {
        /* Before this check, a replayed old DELTA missed the base and emptied 'held'. */
        return NHAM_WARM_STALE;
    }
    if (len < hdr || !holds || get_be(p + NHAM_IMAGE_ID, 4) != held->len
        || memcmp(p, held->data, NHAM_IMAGE_ID)
        || !nham_delta_apply(held->data, held->len, p + hdr, len - hdr)
        || memcmp(held->data, p + NHAM_IMAGE_ID + 4, NHAM_IMAGE_ID)) {
        /* Not the image it applies to (one was missed), or it spoiled it. */
        buf_clear(held);
        return NHAM_WARM_MISS;
    }
    return NHAM_WARM_KEPT;
}

enum nham_warm_result
nham_warm_keep(struct buf *held, struct buf *prev, struct buf *runs, struct buf *scratch,
               const uint8_t *p, size_t len)
{
    const size_t hdr = NHAM_MAGIC_LEN + NHAM_IMAGE_ID + 4 + NHAM_IMAGE_ID;
    bool delta = len >= NHAM_MAGIC_LEN && !memcmp(p, NHAM_DELTA_MAGIC, NHAM_MAGIC_LEN);
    bool by_runs = delta && runs->len && prev->len == held->len;
    enum nham_warm_result r;

    buf_clear(scratch);
    if (!by_runs && len >= NHAM_MAGIC_LEN
        && (delta || !memcmp(p, NHAM_WARM_MAGIC, NHAM_MAGIC_LEN))) {
        buf_put(scratch, held->data, held->len);
    }
    r = nham_warm_take(held, p, len);
    if (r == NHAM_WARM_KEPT) {
        if (!by_runs) {
            struct buf t = *prev;

            *prev = *scratch;
            *scratch = t;
        } else if (!nham_delta_apply(prev->data, prev->len, runs->data, runs->len)) {
            buf_clear(prev);        /* Cannot be: they changed 'held' as long. */
        }
        buf_clear(runs);
        if (delta) {
            buf_put(runs, p + hdr, len - hdr);
        }
    } else if (r == NHAM_WARM_MISS) {
        buf_clear(runs);
    }
    return r;
}
