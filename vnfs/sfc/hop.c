#include "vnfs/sfc/hop.h"

#include "vnfs/lib/util.h"

int
hop_stamp(struct pktio_pkt *pkt, uint32_t id, uint64_t t_in)
{
    struct nsh_timestamp ts = { .component = id, .t_in = t_in, .t_out = time_mono_ns() };
    uint8_t value[NSH_TIMESTAMP_LEN];
    uint8_t *frame = pkt->data;
    int error;

    nsh_timestamp_put(value, &ts);
    error = nsh_push_tlv(&frame, HOP_ETH_LEN, pkt->room, NSH_CLASS_SFCLAB, NSH_TLV_TIMESTAMP,
                         value, sizeof value);
    if (!error) {
        size_t grown = pkt->data - frame;
        pkt->data = frame;
        pkt->len += grown;
        pkt->room -= grown;
        pkt->cap += grown;
    }
    return error;
}

uint32_t
hop_default_id(const uint8_t mac[6])
{
    return (uint32_t) mac[3] << 16 | (uint32_t) mac[4] << 8 | mac[5];
}
