/* fuzz-core — what the fuzz targets of protocol cores share: feeding the fuzzer's bytes to one
 * fresh core as every kind of event from every endpoint (fuzz_ftc, fuzz_ftvnf, fuzz_nham), or
 * reading them as a script of records [op, sender, len, bytes...] that a target turns into
 * events of a core of a four-member group (fuzz_pbft, fuzz_bft_voter).
 *
 * A core must take any bytes from the network or a peer without failing: step() returning an
 * error, or anything ASan/UBSan sees, is a finding. Included by each target (each fuzz_*.c is
 * its own program: nothing here is linked), so it is all static inline. Never destroys the
 * core: the caller may feed it more (an image to import) first. */
#ifndef SFC_FUZZ_CORE_H
#define SFC_FUZZ_CORE_H 1

#include <stdbool.h>
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

/* Core 'name' as member 'self' (of the group 0..3 when 'self' is one of them), f = 1, with
 * 'params'. Aborts if it cannot be made. */
static inline struct ft_core *
fuzz_core_create(const char *name, uint32_t self, const struct ft_param *params,
                 size_t n_params)
{
    static const uint32_t group[4] = { 0, 1, 2, 3 };
    struct ft_config cfg = {
        .self = self, .f = 1, .group = group, .n_group = 4, .params = params,
        .n_params = n_params,
    };
    struct ft_core *core = NULL;

    ft_rng_init(&cfg.rng, 1);
    if (ft_core_create(ft_core_class_find(name), &cfg, &core, NULL)) {
        abort();
    }
    return core;
}

/* One record of a script: [op, sender, len, bytes...], 'len' cut to what is left. */
struct fuzz_record {
    uint8_t op;                 /* data[0] % n_ops */
    uint8_t sender;             /* data[1] % n_senders */
    const uint8_t *bytes;
    size_t len;
};

/* Takes the next record off '*datap' ('*sizep' bytes); false once fewer than 3 bytes are left. */
static inline bool
fuzz_record_next(const uint8_t **datap, size_t *sizep, uint8_t n_ops, uint8_t n_senders,
                 struct fuzz_record *r)
{
    const uint8_t *data = *datap;
    size_t size = *sizep;

    if (size < 3) {
        return false;
    }
    r->op = data[0] % n_ops;
    r->sender = data[1] % n_senders;
    r->len = data[2] < size - 3 ? data[2] : size - 3;
    r->bytes = data + 3;
    *datap = data + 3 + r->len;
    *sizep = size - 3 - r->len;
    return true;
}

/* Steps 'core' with 'ev' into 'out' (cleared first). Aborts if the step fails. */
static inline void
fuzz_core_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    ft_actions_clear(out);
    if (ft_core_step(core, ev, out)) {
        abort();
    }
}

#endif
