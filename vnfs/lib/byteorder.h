/* byteorder — big-endian (network order) integers read from and written to byte arrays, with
 * no alignment assumption: the one copy every wire format of sfclab uses (NSH, DNS, OpenFlow,
 * the schemes' peer messages and exported states, the ft stage's sealed messages).
 *
 * Pure and inline: no bounds checks (the caller has checked the length it parses, as every
 * parser here must), no allocation, no I/O. struct buf appends with buf_put_be16/32/64()
 * (buf.h); this header is for fixed offsets in a buffer already sized. */
#ifndef SFC_BYTEORDER_H
#define SFC_BYTEORDER_H 1

#include <stdint.h>

static inline uint16_t
get_be16(const uint8_t *p)
{
    return (uint16_t) (p[0] << 8 | p[1]);
}

static inline uint32_t
get_be32(const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static inline uint64_t
get_be64(const uint8_t *p)
{
    return (uint64_t) get_be32(p) << 32 | get_be32(p + 4);
}

static inline void
put_be16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static inline void
put_be32(uint8_t *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static inline void
put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, v >> 32);
    put_be32(p + 4, v);
}

#endif
