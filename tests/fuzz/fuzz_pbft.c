/* Fuzz target for FIT-SFC's PBFT replica (vnfs/ft/fitsfc/pbft.c) and its wire parsers
 * (pbft_wire.c): every peer message may come from a Byzantine replica. The input is a script of
 * records, each [op, sender, len, bytes...]: op % 4 == 0: a peer message from group member
 * sender % 5 (4 is not a member; 1 is the replica itself, 0 the primary of view 0); 1: a request
 * from the replica's voter; 2: the bytes through the parsers alone; 3: timer 1 + sender % 2
 * fires. Whatever the bytes: no crash, no request delivered twice (among the last 16, its
 * history), nothing delivered that is not a request with its origin zeroed, and what the
 * parsers accept stays within what they promise (entries inside (low, h + window], strictly
 * increasing, each request matching its digest). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/byteorder.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/demo/demo.h"
#include "vnfs/ft/fitsfc/pbft.h"
#include "tests/fuzz/fuzz-core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_DELIVERED 256
#define FUZZ_WINDOW 16

static void
fuzz_check_entries(const struct pbft_vc *vc, const struct pbft_vc_entry *v, size_t n, bool p)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t digest[PBFT_DIGEST_LEN];

        if (v[i].seq <= vc->low || v[i].seq > vc->h + 4 * FUZZ_WINDOW
            || (i && v[i].seq <= v[i - 1].seq)) {
            abort();
        }
        if (p) {
            pbft_request_digest(v[i].req, v[i].req_len, digest);
            if (memcmp(digest, v[i].digest, PBFT_DIGEST_LEN)) {
                abort();
            }
        }
    }
}

static void
fuzz_parsers(const uint8_t *bytes, size_t len)
{
    struct pbft_msg m;
    struct pbft_vc vc;

    if (pbft_msg_parse(bytes, len, &m)) {
        if (m.type == PBFT_PRE_PREPARE || m.type == PBFT_COMMITTED) {
            uint8_t digest[PBFT_DIGEST_LEN];

            if (m.req + m.req_len != bytes + len) {
                abort();
            }
            pbft_request_digest(m.req, m.req_len, digest);
            if (memcmp(digest, m.digest, PBFT_DIGEST_LEN)) {
                abort();
            }
        } else if (m.type == PBFT_NEW_VIEW) {
            for (uint32_t i = 0; i < m.n_entries; i++) {
                uint8_t digest[PBFT_DIGEST_LEN];
                uint32_t sender;

                pbft_nv_entry(&m, i, &sender, digest);
            }
        }
    }
    if (pbft_vc_parse(bytes, len, 4 * FUZZ_WINDOW, &vc)) {
        fuzz_check_entries(&vc, vc.p, vc.n_p, true);
        fuzz_check_entries(&vc, vc.q, vc.n_q, false);
        pbft_vc_uninit(&vc);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct ft_param params[] = {
        { "checkpoint", "4" }, { "window", "16" }, { "keep", "8" }, { "max_pending", "8" },
        { "history", "16" }, { "timeout", "1ms" },
    };
    uint64_t *delivered = calloc(FUZZ_MAX_DELIVERED, sizeof *delivered);
    struct ft_core *core = fuzz_core_create("pbft", 1, params,
                                            sizeof params / sizeof params[0]);
    struct fuzz_record r;
    struct ft_actions out;
    uint64_t now = 0;
    size_t n_delivered = 0;

    if (!delivered) {
        abort();
    }
    ft_actions_init(&out);
    while (fuzz_record_next(&data, &size, 4, 5, &r)) {
        struct ft_event ev = { .now_ns = now += 1000000, .from = r.sender, .data = r.bytes,
                               .len = r.len };

        if (r.op == 0) {
            ev.kind = FT_EV_PEER_MSG;
        } else if (r.op == 1) {
            ev.kind = FT_EV_PACKET;
        } else if (r.op == 2) {
            fuzz_parsers(r.bytes, r.len);
            continue;
        } else {
            ev.kind = FT_EV_TIMER;
            ev.timer = 1 + r.sender % 2;
        }
        fuzz_core_step(core, &ev, &out);
        for (size_t i = 0; i < out.n; i++) {
            const struct ft_action *a = &out.v[i];
            struct demo_msg m;
            uint64_t name;

            if (a->kind != FT_ACT_DELIVER) {
                continue;
            }
            if (!demo_msg_parse(a->data, a->len, &m) || m.origin) {
                abort();
            }
            /* The replica remembers the last 'history' (16) names it executed. */
            name = ft_hash_bytes(a->data, DEMO_ORIGIN_OFS, 0);
            for (size_t k = n_delivered > 16 ? n_delivered - 16 : 0; k < n_delivered; k++) {
                if (delivered[k % FUZZ_MAX_DELIVERED] == name) {
                    abort();        /* Executed twice. */
                }
            }
            delivered[n_delivered++ % FUZZ_MAX_DELIVERED] = name;
        }
    }
    ft_actions_uninit(&out);
    ft_core_destroy(core);
    free(delivered);
    return 0;
}
