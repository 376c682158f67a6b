/* Fuzz target for the adapter's wire header (vnfs/ft/adapter.c), the parser every datagram from
 * the network goes through: whatever the bytes, decoding stays in bounds; what it accepts has a
 * kind that travels and a length equal to the rest of the datagram, re-encodes to the same bytes,
 * and is then handed, as the adapter would, to a voter core (which must not crash on it). The
 * same bytes as text go through the endpoint-table parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/ft/adapter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fresh voter per input, so every input replays alone and memory stays flat. */
static struct ft_core *
fuzz_voter(void)
{
    static const uint32_t group[3] = { 1, 2, 3 };
    struct ft_config cfg = { .self = 4, .f = 1, .group = group, .n_group = 3 };
    struct ft_core *core = NULL;

    ft_rng_init(&cfg.rng, 1);
    if (ft_core_create(ft_core_class_find("voter"), &cfg, &core, NULL)) {
        abort();
    }
    return core;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf b = BUF_INITIALIZER;
    struct ft_actions actions;
    struct ft_endpoint_addr ep;
    const uint8_t *payload = NULL;
    struct ft_wire_hdr hdr;
    char *text;

    text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    if (!ft_endpoint_parse(text, &ep, NULL) && (ep.id == FT_ENDPOINT_NONE || !ep.addr.sin_port)) {
        abort();
    }
    free(text);

    if (ft_wire_decode(data, size, &hdr, &payload)) {
        return 0;
    }
    if (!ft_wire_kind_valid(hdr.kind) || hdr.len != size - FT_WIRE_HDR_LEN
        || payload != data + FT_WIRE_HDR_LEN) {
        abort();
    }
    ft_wire_encode(&b, hdr.kind, hdr.from, payload, hdr.len);
    if (b.len != size || memcmp(b.data, data, size)) {
        abort();
    }
    buf_uninit(&b);

    struct ft_event ev = { .kind = hdr.kind, .now_ns = 1000, .from = hdr.from % 5,
                           .data = hdr.len ? payload : NULL, .len = hdr.len };
    struct ft_core *voter = fuzz_voter();
    ft_actions_init(&actions);
    if (ft_core_step(voter, &ev, &actions)) {
        abort();
    }
    ft_actions_uninit(&actions);
    ft_core_destroy(voter);
    return 0;
}
