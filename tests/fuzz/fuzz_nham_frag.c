/* Fuzz target for NHAM's fragments (vnfs/sfc/nhamfrag.c): the input is a sequence of
 * fragments, each [sender(1) len(2) payload(len)], from up to 4 senders; whatever they say,
 * reassembly stays in bounds, allocates at most one message per sender, and a message it
 * returns has the length its fragments announced. A message cut by the fuzzer's own
 * fragmentation comes back whole. The same bytes as delta runs, and as a warm standby's
 * WARM or DELTA. */
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "vnfs/sfc/nhamfrag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* nham_delta_encode() as it was, a byte at a time: the one that passes equal words eight bytes
 * at a time must make the very same runs. */
static void
delta_encode_bytewise(const uint8_t *old, const uint8_t *new, size_t len, struct buf *out)
{
    size_t i = 0;

    while (i < len) {
        size_t j, end, same;

        if (old[i] == new[i]) {
            i++;
            continue;
        }
        for (end = j = i + 1, same = 0; j < len && same < 16 && j - i < 65535; j++) {
            if (old[j] == new[j]) {
                same++;
            } else {
                same = 0;
                end = j + 1;
            }
        }
        buf_put_be32(out, i);
        buf_put_be16(out, end - i);
        buf_put(out, new + i, end - i);
        i = end;
    }
    if (!out->len) {
        buf_put_be32(out, 0);
        buf_put_be16(out, 0);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nham_frags fr = { 0 };
    uint8_t frag[NHAM_FRAG_HDR + NHAM_FRAG_CHUNK];
    const uint8_t *msg;
    size_t off = 0, n;

    while (off + 3 <= size) {
        uint8_t mac[6] = { 2, 0, 0, 0, 0, data[off] & 3 };
        size_t len = (size_t) data[off + 1] << 8 | data[off + 2];

        off += 3;
        len = len < size - off ? len : size - off;
        msg = nham_frag_add(&fr, mac, data + off, len, &n);
        if (msg && (n == 0 || n > NHAM_MAX_MESSAGE)) {
            abort();
        }
        if (msg) {
            volatile uint8_t sink = msg[0] ^ msg[n - 1];
            (void) sink;
        }
        off += len;
    }
    if (fr.n > 4) {
        abort();
    }
    nham_frags_free(&fr);

    /* The input itself, cut as a sender cuts it, comes back whole. */
    if (size) {
        const uint8_t mac[6] = { 2, 0, 0, 0, 0, 9 };
        const uint8_t *whole = NULL;
        for (size_t o = 0; o < size; o += NHAM_FRAG_CHUNK) {
            size_t c = size - o < NHAM_FRAG_CHUNK ? size - o : NHAM_FRAG_CHUNK;
            nham_frag_header(frag, 7, size, o);
            memcpy(frag + NHAM_FRAG_HDR, data + o, c);
            whole = nham_frag_add(&fr, mac, frag, NHAM_FRAG_HDR + c, &n);
            if (whole && o + c != size) {
                abort();
            }
        }
        if (!whole || n != size || memcmp(whole, data, size)) {
            abort();
        }
        nham_frags_free(&fr);
    }

    /* The input as runs of a delta, applied to an image of 64 bytes: in bounds, whatever they
     * say; and a delta made from the input (old) to its reverse (new) turns one into the
     * other. */
    {
        uint8_t img[64] = { 0 };
        struct buf b = BUF_INITIALIZER;
        uint8_t *old = malloc(size ? size : 1), *rev = malloc(size ? size : 1);

        nham_delta_apply(img, sizeof img, data, size);
        for (size_t i = 0; i < size; i++) {
            old[i] = data[i];
            rev[i] = data[size - 1 - i];
        }
        if (nham_delta_encode(old, rev, size, SIZE_MAX, &b) == 0
            || !nham_delta_apply(old, size, b.data, b.len) || memcmp(old, rev, size)) {
            abort();
        }
        /* A few bytes changed in the input, where its own bytes say (a packet rewrites one
         * byte of a VNF's state): the same runs as byte by byte, and they apply. */
        struct buf ref = BUF_INITIALIZER;
        for (size_t i = 0; i < size; i++) {
            rev[i] = data[i] ^ (i % 61 == data[0] % 61 || i % 29 == data[i] % 29 ? 0x5a : 0);
        }
        memcpy(old, data, size);
        buf_clear(&b);
        delta_encode_bytewise(old, rev, size, &ref);
        if (nham_delta_encode(old, rev, size, SIZE_MAX, &b) != ref.len || b.len != ref.len
            || memcmp(b.data, ref.data, ref.len)
            || !nham_delta_apply(old, size, b.data, b.len) || memcmp(old, rev, size)) {
            abort();
        }
        buf_uninit(&ref);
        buf_uninit(&b);
        free(old);
        free(rev);
    }

    /* The input as a standby's WARM or DELTA (nham_warm_take()), on a held image of 64 bytes
     * and on none: in bounds; what it holds afterwards is empty, as it was, or not older. */
    for (int k = 0; k < 2; k++) {
        struct buf held = BUF_INITIALIZER, before = BUF_INITIALIZER;
        enum nham_warm_result r;

        if (k) {
            for (int i = 0; i < 64; i++) {
                buf_put(&held, &(uint8_t) { i < 12 ? 0x40 : i }, 1);
            }
        }
        buf_put(&before, held.data, held.len);
        r = nham_warm_take(&held, data, size);
        if ((r == NHAM_WARM_OTHER || r == NHAM_WARM_STALE)
            && (held.len != before.len
                || (held.len && memcmp(held.data, before.data, held.len)))) {
            abort();
        }
        if (r == NHAM_WARM_KEPT && before.len >= NHAM_IMAGE_ID && held.len >= NHAM_IMAGE_ID
            && nham_image_cmp(held.data, before.data) < 0) {
            abort();
        }
        buf_uninit(&held);
        buf_uninit(&before);
    }
    return 0;
}
