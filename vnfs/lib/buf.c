#include "vnfs/lib/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/util.h"

void
buf_init(struct buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void
buf_uninit(struct buf *b)
{
    free(b->data);
    buf_init(b);
}

/* buf_reserve()'s slow path. */
void
buf_grow(struct buf *b, size_t extra)
{
    size_t cap = MAX(b->cap * 2, b->len + extra);

    b->data = xrealloc(b->data, MAX(cap, 64));
    b->cap = MAX(cap, 64);
}

void
buf_put(struct buf *b, const void *data, size_t len)
{
    if (len) {
        memcpy(buf_put_uninit(b, len), data, len);
    }
}

/* The fixed-size puts write their bytes in place: through buf_put() each was a call to
 * memcpy() of a byte or four, and FTC's wire encoders make a dozen of them per log. */
void
buf_put_u8(struct buf *b, uint8_t v)
{
    uint8_t *p = buf_put_uninit(b, 1);

    p[0] = v;
}

void
buf_put_be16(struct buf *b, uint16_t v)
{
    uint8_t *p = buf_put_uninit(b, 2);

    p[0] = v >> 8;
    p[1] = v;
}

void
buf_put_be32(struct buf *b, uint32_t v)
{
    put_be32(buf_put_uninit(b, 4), v);
}

void
buf_put_be64(struct buf *b, uint64_t v)
{
    put_be64(buf_put_uninit(b, 8), v);
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list args;
    int n;

    va_start(args, fmt);
    n = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    buf_reserve(b, n + 1);
    va_start(args, fmt);
    vsnprintf((char *) b->data + b->len, n + 1, fmt, args);
    va_end(args);
    b->len += n;
}

uint8_t *
buf_steal(struct buf *b, size_t *lenp)
{
    uint8_t *data = b->data;

    if (lenp) {
        *lenp = b->len;
    }
    buf_init(b);
    return data;
}
