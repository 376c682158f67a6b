/* Fuzz target for the link stage's delay line (vnfs/sfc/linkstage.c): the first line of the
 * input is a spec for linkstage_parse_spec(); the rest drives the line with frames of any
 * length (the stage copies whatever arrives on a veth) at times that move forward. Everything
 * due must be handed out, never more frames than went in (plus duplicates), never longer than a
 * slot. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/sfc/linkstage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t spec_len = nl ? (size_t) (nl - data) : size;
    struct linkstage_spec spec;
    struct linkstage_dir *d;
    uint64_t now = 0;
    char text[256];
    size_t pos;

    if (spec_len >= sizeof text) {
        return 0;
    }
    memcpy(text, data, spec_len);
    text[spec_len] = '\0';
    if (!linkstage_parse_spec(text, &spec)) {
        return 0;
    }
    if (spec.queue > 4096) {
        spec.queue = 4096;      /* Memory, not logic: a slot is 2 KB. */
    }
    d = linkstage_dir_create(&spec, size);
    for (pos = nl ? spec_len + 1 : size; pos + 2 <= size; ) {
        size_t len = data[pos] | (data[pos + 1] & 0x0f) << 8;   /* Up to 4095 bytes. */
        uint8_t op = data[pos + 1] >> 4;
        const uint8_t *frame;
        size_t out_len;

        pos += 2;
        now += (uint64_t) op * 997;
        if (op & 1) {
            size_t take = len <= size - pos ? len : size - pos;
            linkstage_push(d, data + pos, take, now);
            pos += take;
        }
        while ((frame = linkstage_pop(d, now, &out_len)) != NULL) {
            if (out_len > LINKSTAGE_SLOT) {
                abort();
            }
            (void) frame[out_len ? out_len - 1 : 0];
        }
        if (linkstage_next_due(d) <= now) {
            abort();            /* Everything due was handed out. */
        }
    }
    {
        const struct linkstage_stats *st = linkstage_stats(d);
        if (st->out > st->in + st->duplicated) {
            abort();
        }
    }
    linkstage_dir_destroy(d);
    return 0;
}
