#include "vnfs/sfc/wrap.h"

#include <string.h>

#include "vnfs/sfc/hop.h"

bool
wrap_parse(const uint8_t *frame, size_t len, struct wrap_hdr *w)
{
    const uint8_t *p = frame + HOP_ETH_LEN;
    uint64_t counter = 0;

    if (len < HOP_ETH_LEN + WRAP_HDR_LEN + WRAP_MIN_INNER
        || hop_ethertype(frame) != WRAP_ETHERTYPE
        || ((uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3])
           != WRAP_MAGIC) {
        return false;
    }
    for (int i = 0; i < 8; i++) {
        counter = counter << 8 | p[8 + i];
    }
    w->client = (uint32_t) p[4] << 24 | (uint32_t) p[5] << 16 | (uint32_t) p[6] << 8 | p[7];
    w->counter = counter;
    w->inner = p + WRAP_HDR_LEN;
    w->inner_len = len - HOP_ETH_LEN - WRAP_HDR_LEN;
    return true;
}

void
wrap_put(uint8_t *p, const uint8_t dst[6], const uint8_t src[6], uint32_t client,
         uint64_t counter)
{
    hop_set_macs(p, dst, src);
    p[12] = WRAP_ETHERTYPE >> 8;
    p[13] = WRAP_ETHERTYPE & 0xff;
    p += HOP_ETH_LEN;
    for (int i = 0; i < 4; i++) {
        p[i] = WRAP_MAGIC >> (24 - 8 * i);
        p[4 + i] = client >> (24 - 8 * i);
    }
    for (int i = 0; i < 8; i++) {
        p[8 + i] = counter >> (56 - 8 * i);
    }
}
