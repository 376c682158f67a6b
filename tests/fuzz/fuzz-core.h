/* fuzz-core — what the fuzz targets of protocol cores (fuzz_ftc, fuzz_ftvnf, fuzz_nham) share:
 * feeding the fuzzer's bytes to one fresh core as every kind of event from every endpoint.
 *
 * A core must take any bytes from the network or a peer without failing: step() returning an
 * error, or anything ASan/UBSan sees, is a finding. Included by each target (each fuzz_*.c is
 * its own program: nothing here is linked), so it is all static inline. Never destroys the
 * core: the caller may feed it more (an image to import) first. */
#ifndef SFC_FUZZ_CORE_H
#define SFC_FUZZ_CORE_H 1

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "vnfs/ft/core.h"

/* Starts 'core' as incarnation 'incarnation', then steps it with 'data' as each of the
 * 'n_kinds' event 'kinds' from each endpoint 0 .. n_from - 1. Aborts if a step fails. */
static inline void
fuzz_core_feed(struct ft_core *core, uint32_t incarnation, uint32_t n_from,
               const enum ft_event_kind *kinds, size_t n_kinds, const uint8_t *data,
               size_t size)
{
    struct ft_event start = { .kind = FT_EV_START, .incarnation = incarnation };
    struct ft_actions actions;

    ft_actions_init(&actions);
    if (ft_core_step(core, &start, &actions)) {
        abort();
    }
    for (uint32_t from = 0; from < n_from; from++) {
        for (size_t k = 0; k < n_kinds; k++) {
            struct ft_event ev = { .kind = kinds[k], .now_ns = 1000, .from = from,
                                   .data = size ? data : NULL, .len = size };
            ft_actions_clear(&actions);
            if (ft_core_step(core, &ev, &actions)) {
                abort();
            }
        }
    }
    ft_actions_uninit(&actions);
}

#endif
