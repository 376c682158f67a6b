/* buf — a growable byte buffer (like OVS's ofpbuf, without headroom tricks).
 *
 * Used to build messages, export state and collect actions. Never shrinks; buf_uninit() frees.
 * Readers take (data, len) pairs, never a struct buf, so parsers stay independent of it. */
#ifndef SFC_BUF_H
#define SFC_BUF_H 1

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

#define BUF_INITIALIZER { NULL, 0, 0 }

void buf_init(struct buf *);
void buf_uninit(struct buf *);
void buf_grow(struct buf *, size_t extra);

/* Inline: FTC's replicas reserve and clear a few buffers per packet, where the calls cost more
 * than the work. */
static inline void
buf_clear(struct buf *b)
{
    b->len = 0;
}

static inline void
buf_reserve(struct buf *b, size_t extra)
{
    if (b->cap - b->len < extra) {
        buf_grow(b, extra);
    }
}

static inline void *
buf_put_uninit(struct buf *b, size_t len)
{
    void *p;

    buf_reserve(b, len);
    p = b->data + b->len;
    b->len += len;
    return p;
}

void buf_put(struct buf *, const void *, size_t len);
void buf_put_u8(struct buf *, uint8_t);
void buf_put_be16(struct buf *, uint16_t);
void buf_put_be32(struct buf *, uint32_t);
void buf_put_be64(struct buf *, uint64_t);
void buf_printf(struct buf *, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Takes ownership of the bytes; 'b' is left empty. */
uint8_t *buf_steal(struct buf *, size_t *lenp);

#endif
