/* Fuzz target for the NSH decoder (vnfs/lib/nsh.c): whatever the bytes, decoding must stay in
 * bounds, and a header it accepts must survive re-encoding its context headers unchanged, and
 * growing by one TLV in place. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/nsh.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nsh_tlv tlvs[64];
    struct nsh_timestamp ts[8];
    struct buf b = BUF_INITIALIZER;
    struct nsh_hdr hdr, again;
    enum nsh_field bad;
    size_t ofs = 0, n = 0;
    uint64_t rid;

    if (nsh_decode(data, size, &hdr, &bad)) {
        if (bad == NSH_FIELD_NONE) {
            abort();
        }
        return 0;
    }
    if (hdr.len > size || hdr.len > NSH_MAX_LEN || hdr.len < NSH_BASE_LEN) {
        abort();
    }
    nsh_request_id_get(&hdr, &rid);
    nsh_timestamps_get(&hdr, ts, 8);
    while (n < 64 && nsh_tlv_next(&hdr, &ofs, &tlvs[n])) {
        if (tlvs[n].value + tlvs[n].len > data + hdr.len) {
            abort();
        }
        n++;
    }
    if (hdr.md_type != NSH_MD_TYPE_2 || n == 64) {
        return 0;
    }
    if (nsh_encode(&b, hdr.spi, hdr.si, hdr.ttl, hdr.next_proto, tlvs, n)
        || nsh_decode(b.data, b.len, &again, NULL) || again.len != hdr.len
        || again.spi != hdr.spi || again.si != hdr.si) {
        abort();
    }
    /* Grow the re-encoded header by a TLV, as the chain components do, after 14 bytes. */
    {
        uint8_t *frame = malloc(NSH_MAX_LEN + 14 + 64), *start = frame + 64;
        uint8_t v[4] = { 1, 2, 3, 4 };
        memset(start, 0, 14);
        memcpy(start + 14, b.data, b.len);
        if (!nsh_push_tlv(&start, 14, 64, 1, 2, v, sizeof v)
            && (nsh_decode(start + 14, b.len + 8, &again, NULL) || again.len != b.len + 8)) {
            abort();
        }
        free(frame);
    }
    buf_uninit(&b);
    return 0;
}
