/* Fuzz target for sealed peer messages (vnfs/sfc/ftstage.c), which arrive from the data network:
 * whatever the bytes, opening stays in bounds and never accepts what the key did not seal; and
 * the same bytes handed to a stage with a voter core are counted, never crash it. The bytes as
 * text also go through the SFF's --path parser (replicated hops). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/util.h"
#include "vnfs/sfc/ftstage.h"
#include "vnfs/sfc/path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[FTSTAGE_KEY_LEN] = { 0x5f };
    static const uint32_t group[3] = { 1, 2, 3 };
    static const struct ftstage_ops ops = { 0 };
    struct ftstage_config cfg = {
        .class = ft_core_class_find("voter"),
        .core = { .self = 9, .f = 1, .group = group, .n_group = 3 },
        .key = key,
    };
    struct ftstage_msg m;
    struct ftstage *st;
    struct path *p = malloc(sizeof *p);
    char *text, *err = NULL;
    uint32_t to;

    if (!ftstage_msg_open(data, size, key, &m)) {
        /* Only a sealed message opens: with a fixed key that means the fuzzer forged a tag. */
        if (m.len > size) {
            abort();
        }
    }
    ftstage_msg_peek_to(data, size, &to);
    ft_rng_init(&cfg.core.rng, 1);
    if (ftstage_create(&cfg, &ops, NULL, &st, &err)) {
        abort();
    }
    ftstage_peer_message(st, data, size, 0);
    ftstage_packet(st, size ? data[0] % 4 : 1, data, size, 0);
    ftstage_destroy(st);

    text = xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    if (!path_parse(text, p, &err) && p->n_hops > PATH_MAX_HOPS) {
        abort();
    }
    free(err);
    free(text);
    free(p);
    return 0;
}
