#include "vnfs/sfc/wrap.h"

#include <string.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/sfc/hop.h"

bool
wrap_parse(const uint8_t *frame, size_t len, struct wrap_hdr *w)
{
    const uint8_t *p = frame + HOP_ETH_LEN;

    if (len < HOP_ETH_LEN + WRAP_HDR_LEN + WRAP_MIN_INNER
        || hop_ethertype(frame) != WRAP_ETHERTYPE
        || get_be32(p) != WRAP_MAGIC) {
        return false;
    }
    w->client = get_be32(p + 4);
    w->counter = get_be64(p + 8);
    w->inner = p + WRAP_HDR_LEN;
    w->inner_len = len - HOP_ETH_LEN - WRAP_HDR_LEN;
    return true;
}

void
wrap_put(uint8_t *p, const uint8_t dst[6], const uint8_t src[6], uint32_t client,
         uint64_t counter)
{
    hop_set_macs(p, dst, src);
    put_be16(p + 12, WRAP_ETHERTYPE);
    p += HOP_ETH_LEN;
    put_be32(p, WRAP_MAGIC);
    put_be32(p + 4, client);
    put_be64(p + 8, counter);
}
