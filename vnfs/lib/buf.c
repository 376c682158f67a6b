#include "vnfs/lib/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

void
buf_clear(struct buf *b)
{
    b->len = 0;
}

void
buf_reserve(struct buf *b, size_t extra)
{
    if (b->cap - b->len < extra) {
        size_t cap = MAX(b->cap * 2, b->len + extra);
        b->data = xrealloc(b->data, MAX(cap, 64));
        b->cap = MAX(cap, 64);
    }
}

void *
buf_put_uninit(struct buf *b, size_t len)
{
    void *p;

    buf_reserve(b, len);
    p = b->data + b->len;
    b->len += len;
    return p;
}

void
buf_put(struct buf *b, const void *data, size_t len)
{
    if (len) {
        memcpy(buf_put_uninit(b, len), data, len);
    }
}

void
buf_put_u8(struct buf *b, uint8_t v)
{
    buf_put(b, &v, 1);
}

void
buf_put_be16(struct buf *b, uint16_t v)
{
    uint8_t p[2] = { v >> 8, v };
    buf_put(b, p, sizeof p);
}

void
buf_put_be32(struct buf *b, uint32_t v)
{
    uint8_t p[4] = { v >> 24, v >> 16, v >> 8, v };
    buf_put(b, p, sizeof p);
}

void
buf_put_be64(struct buf *b, uint64_t v)
{
    buf_put_be32(b, v >> 32);
    buf_put_be32(b, v);
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
