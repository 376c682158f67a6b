/* Fuzz target for what FIT-SFC's hops take from the wire before a vote: the classifier's wrap
 * header (vnfs/sfc/wrap.h: a client's request, any client may be malicious) and an NSH frame
 * turned into a vote copy and back (vnfs/sfc/nshvote.h: what any replica, faulty or not, sends
 * the SFF, a VNF replica or the wrapper). Whatever the bytes: no crash; a wrapped request's
 * inner frame lies inside the input; a copy made of a frame that decodes turns back into a
 * frame that decodes, with the same request id, SPI and SI, and a header no longer than the
 * original. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/nsh.h"
#include "vnfs/sfc/hop.h"
#include "vnfs/sfc/nshvote.h"
#include "vnfs/sfc/wrap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t scratch[9216];
    struct wrap_hdr w;
    struct nsh_hdr hdr, back;
    struct nsh_timestamp ts;
    struct pktio_pkt pkt;
    struct buf copy = BUF_INITIALIZER;
    uint64_t rid, rid2;
    bool has_ts;

    if (wrap_parse(data, size, &w)
        && (w.inner < data || w.inner + w.inner_len != data + size
            || w.inner_len < WRAP_MIN_INNER)) {
        abort();
    }
    if (size < HOP_ETH_LEN || nsh_decode(data + HOP_ETH_LEN, size - HOP_ETH_LEN, &hdr, NULL)) {
        return 0;
    }
    if (nshvote_copy(data + HOP_ETH_LEN, size - HOP_ETH_LEN, &hdr, 3, &copy, &ts, &has_ts)) {
        if (nsh_request_id_get(&hdr, &rid)) {
            abort();
        }
        goto out;
    }
    if (copy.len > sizeof scratch - NSH_MAX_LEN - HOP_ETH_LEN) {
        goto out;
    }
    if (nshvote_frame(copy.data, copy.len, scratch, sizeof scratch, &pkt, &back)
        || !nsh_request_id_get(&hdr, &rid) || !nsh_request_id_get(&back, &rid2) || rid != rid2
        || back.spi != hdr.spi || back.si != hdr.si || back.len > hdr.len) {
        abort();
    }
out:
    buf_uninit(&copy);
    return 0;
}
