/* cursor — a bounded reader over untrusted bytes: the one copy the schemes' wire parsers (ftc,
 * ftvnf) use to walk a message field by field. Every get checks the length left first; the
 * first short read (or cursor_fail()) marks the cursor bad, and a bad cursor stays bad: every
 * later get returns 0 (or NULL) and consumes nothing. So a parser reads all its fields and
 * checks once, with cursor_ok() or cursor_done() (ok and nothing trailing), before it uses any.
 *
 * Pure and inline, built on byteorder.h: no allocation, no copy (cursor_bytes() points into the
 * caller's bytes, which must outlive the cursor), no I/O. It must not guess at lengths: a field
 * that does not fit is an error, never truncated. Main type: struct cursor. */
#ifndef SFC_CURSOR_H
#define SFC_CURSOR_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/byteorder.h"

struct cursor {
    const uint8_t *p;           /* Next byte to read. */
    size_t left;                /* Bytes left after 'p'. */
    bool bad;                   /* A read fell short: sticky. */
};

static inline void
cursor_init(struct cursor *c, const uint8_t *p, size_t len)
{
    c->p = p;
    c->left = len;
    c->bad = false;
}

/* Marks 'c' bad (a field was out of range, say) and returns false, for 'return cursor_fail()'. */
static inline bool
cursor_fail(struct cursor *c)
{
    c->bad = true;
    return false;
}

static inline bool
cursor_ok(const struct cursor *c)
{
    return !c->bad;
}

/* True if every read succeeded and the bytes are used up: no trailing garbage. */
static inline bool
cursor_done(const struct cursor *c)
{
    return !c->bad && !c->left;
}

/* The next 'n' bytes, consumed, or NULL (and 'c' bad) if fewer are left. */
static inline const uint8_t *
cursor_bytes(struct cursor *c, size_t n)
{
    const uint8_t *p;

    if (c->bad || c->left < n) {
        c->bad = true;
        return NULL;
    }
    p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

static inline uint8_t
cursor_u8(struct cursor *c)
{
    const uint8_t *p = cursor_bytes(c, 1);

    return p ? p[0] : 0;
}

static inline uint16_t
cursor_be16(struct cursor *c)
{
    const uint8_t *p = cursor_bytes(c, 2);

    return p ? get_be16(p) : 0;
}

static inline uint32_t
cursor_be32(struct cursor *c)
{
    const uint8_t *p = cursor_bytes(c, 4);

    return p ? get_be32(p) : 0;
}

static inline uint64_t
cursor_be64(struct cursor *c)
{
    const uint8_t *p = cursor_bytes(c, 8);

    return p ? get_be64(p) : 0;
}

#endif
