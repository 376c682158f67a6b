/* Fuzz target for FIT-SFC's voter (vnfs/ft/fitsfc/bft_voter.c): the bytes of copies that replicas
 * (any of them Byzantine) send it, and the state images a peer hands it, are untrusted. The input
 * is a script of records, each [op, sender, len, bytes...]: op % 4 == 0, 1: a copy from group
 * member sender % 5 (4 is not a member); 2: a state image to import; 3: the timer of the last
 * packet fires. Whatever the bytes: no crash, nothing delivered that fewer than 3 (2f+1) distinct
 * members sent with the same semantic content, an image it accepts exports back to itself, and
 * one it refuses leaves the voter's state unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/demo/demo.h"
#include "tests/fuzz/fuzz-core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_COPIES 256

struct fuzz_copy {
    uint32_t sender;
    uint8_t digest[16];
    uint64_t req_id;
    uint32_t client;
};

/* How many distinct members sent a copy of (client, req_id) with this digest. */
static size_t
fuzz_support(const struct fuzz_copy *copies, size_t n, const struct demo_msg *m,
             const uint8_t digest[16])
{
    uint32_t seen = 0;

    for (size_t i = 0; i < n; i++) {
        if (copies[i].req_id == m->req_id && copies[i].client == m->client
            && !memcmp(copies[i].digest, digest, 16)) {
            seen |= 1u << copies[i].sender;
        }
    }
    return __builtin_popcount(seen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct ft_param params[] = { { "max_pending", "4" }, { "history", "8" } };
    struct fuzz_copy *copies = calloc(FUZZ_MAX_COPIES, sizeof *copies);
    struct buf before = BUF_INITIALIZER, after = BUF_INITIALIZER;
    struct ft_core *core = fuzz_core_create("bft_voter", 9, params,
                                            sizeof params / sizeof params[0]);
    struct fuzz_record r;
    struct ft_actions out;
    uint64_t now = 0, last_timer = 0;
    size_t n_copies = 0;

    if (!copies) {
        abort();
    }
    ft_actions_init(&out);
    while (fuzz_record_next(&data, &size, 4, 5, &r)) {
        const uint8_t *bytes = r.bytes;
        size_t len = r.len;
        uint8_t sender = r.sender;
        struct ft_event ev = { .now_ns = now += 1000, .from = sender, .data = bytes,
                               .len = len };

        if (r.op <= 1) {
            struct demo_msg m;

            ev.kind = FT_EV_PACKET;
            if (sender < 4 && demo_msg_parse(bytes, len, &m) && n_copies < FUZZ_MAX_COPIES) {
                struct fuzz_copy *c = &copies[n_copies++];
                c->sender = sender;
                c->req_id = m.req_id;
                c->client = m.client;
                demo_msg_digest(bytes, len, c->digest);
            }
        } else if (r.op == 2) {
            buf_clear(&before);
            buf_clear(&after);
            ft_core_export_state(core, &before);
            if (ft_core_import_state(core, bytes, len)) {
                ft_core_export_state(core, &after);
                if (before.len != after.len || memcmp(before.data, after.data, before.len)) {
                    abort();        /* A refused image changed the state. */
                }
            } else {
                ft_core_export_state(core, &after);
                if (ft_core_import_state(core, after.data, after.len)) {
                    abort();        /* Its own image refused. */
                }
            }
            continue;
        } else {
            ev.kind = FT_EV_TIMER;
            ev.timer = last_timer;
        }
        fuzz_core_step(core, &ev, &out);
        for (size_t i = 0; i < out.n; i++) {
            const struct ft_action *a = &out.v[i];
            struct demo_msg m;
            uint8_t digest[16];

            if (a->kind == FT_ACT_TIMER_ARM) {
                last_timer = a->timer;
            } else if (a->kind == FT_ACT_DELIVER) {
                if (!demo_msg_parse(a->data, a->len, &m)) {
                    abort();
                }
                demo_msg_digest(a->data, a->len, digest);
                if (fuzz_support(copies, n_copies, &m, digest) < 3) {
                    abort();        /* Decided without 2f+1 distinct members. */
                }
            }
        }
    }
    ft_actions_uninit(&out);
    buf_uninit(&before);
    buf_uninit(&after);
    ft_core_destroy(core);
    free(copies);
    return 0;
}
