/* Fuzz target for FTMB's wire format (vnfs/sfc/ftmb.c): whatever the bytes, the parser stays
 * in bounds, an ack is exactly its 11 bytes, and a record's access log and packet lie inside
 * the input and cover it to its end. */
#include <stdint.h>
#include <stdlib.h>

#include "vnfs/sfc/ftmb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ftmb_msg m;

    if (!ftmb_msg_parse(data, size, &m)) {
        return 0;
    }
    if (m.type == FTMB_MSG_ACK) {
        if (size != 11) {
            abort();
        }
        return 0;
    }
    if (m.type != FTMB_MSG_RECORD || m.pal < data || m.pal + m.pal_len > data + size
        || m.packet != m.pal + m.pal_len || m.packet + m.packet_len != data + size) {
        abort();
    }
    return 0;
}
