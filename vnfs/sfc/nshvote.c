#include "vnfs/sfc/nshvote.h"

#include <errno.h>
#include <string.h>

#include "vnfs/ft/demo/demo.h"
#include "vnfs/sfc/hop.h"

int
nshvote_copy(const uint8_t *nsh, size_t len, const struct nsh_hdr *hdr, uint32_t origin,
             struct buf *out, struct nsh_timestamp *own_ts, bool *has_ts)
{
    struct demo_msg m = { .origin = origin, .body = (const uint8_t *) "" };
    size_t hlen = hdr->len, inner_len = len - hdr->len, ofs = 0, last = SIZE_MAX;
    struct nsh_tlv tlv, last_tlv = { 0 };
    uint8_t *body;

    if (!nsh_request_id_get(hdr, &m.req_id)) {
        return EINVAL;
    }
    m.client = m.req_id >> 32;
    *has_ts = false;
    for (size_t at = 0; nsh_tlv_next(hdr, &ofs, &tlv); at = ofs) {
        last = at;
        last_tlv = tlv;
    }
    if (last != SIZE_MAX && last_tlv.md_class == NSH_CLASS_SFCLAB
        && last_tlv.type == NSH_TLV_TIMESTAMP && last_tlv.len == NSH_TIMESTAMP_LEN) {
        struct nsh_timestamp ts[16];
        size_t n = nsh_timestamps_get(hdr, ts, 16);

        /* The last context header is the sender's timestamp: it ends the header. */
        if (n && n <= 16) {
            *own_ts = ts[n - 1];
            *has_ts = true;
        }
        hlen -= nsh_tlv_wire_len(NSH_TIMESTAMP_LEN);
    }
    demo_msg_put(out, &m);
    body = buf_put_uninit(out, hlen + inner_len);
    memcpy(body, nsh, hlen);
    memcpy(body + hlen, nsh + hdr->len, inner_len);
    if (hlen != hdr->len) {
        /* The header's length field, in 4-byte words, without the timestamp. */
        body[1] = (body[1] & ~0x3f) | (uint8_t) (hlen / 4);
    }
    return 0;
}

int
nshvote_frame(const uint8_t *msg, size_t len, uint8_t *scratch, size_t cap,
              struct pktio_pkt *pkt, struct nsh_hdr *hdr)
{
    size_t room = NSH_MAX_LEN;
    struct demo_msg m;

    if (!demo_msg_parse(msg, len, &m)) {
        return EINVAL;
    }
    if (room + HOP_ETH_LEN + m.body_len > cap) {
        return EMSGSIZE;
    }
    pkt->data = scratch + room;
    pkt->len = HOP_ETH_LEN + m.body_len;
    pkt->room = room;
    pkt->cap = cap - room;
    memset(pkt->data, 0, 12);
    pkt->data[12] = NSH_ETHERTYPE >> 8;
    pkt->data[13] = NSH_ETHERTYPE & 0xff;
    memcpy(pkt->data + HOP_ETH_LEN, m.body, m.body_len);
    return nsh_decode(pkt->data + HOP_ETH_LEN, m.body_len, hdr, NULL) ? EINVAL : 0;
}

void
nshvote_trace(FILE *f, const struct nsh_timestamp *ts, uint64_t req, uint64_t t_in)
{
    if (!f) {
        return;
    }
    fprintf(f, "%llu\thop_ns\t%llu\treq=%llu,component=%u\n", (unsigned long long) ts->t_in,
            (unsigned long long) (ts->t_out - ts->t_in), (unsigned long long) req,
            ts->component);
    fprintf(f, "%llu\tlink_ns\t%llu\treq=%llu,component=%u\n", (unsigned long long) ts->t_out,
            (unsigned long long) (t_in > ts->t_out ? t_in - ts->t_out : 0),
            (unsigned long long) req, ts->component);
}
