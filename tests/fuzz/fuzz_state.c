/* Fuzz target: state_import() (vnfs/lib/state.h) on untrusted exports.
 *
 * An input is imported both into an empty store and, as a delta would be, onto a populated
 * one. A failed import must leave the store exactly as it was (same digest); a successful one,
 * exported and imported again, must give the same digest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct nf_state *a = state_create(), *b = state_create(), *c = state_create();
    uint8_t d1[STATE_DIGEST_LEN], d2[STATE_DIGEST_LEN];
    struct buf out = BUF_INITIALIZER;

    state_set_limit(a, 4096);
    state_set_limit(b, 4096);
    state_put(b, "k", 1, "v", 1);
    state_counter_add(b, "n", 1, 7);
    state_digest(b, d1);

    int va = state_validate(data, size);
    int ea = state_import(a, data, size);
    if (va && !ea) {
        abort();                /* Validation must not be laxer than import. */
    }
    if (state_import(b, data, size)) {
        state_digest(b, d2);
        if (memcmp(d1, d2, sizeof d1)) {
            abort();            /* A failed import changed the store. */
        }
    }
    if (!ea) {
        state_export(a, &out);
        if (state_import(c, out.data, out.len)) {
            abort();
        }
        state_digest(a, d1);
        state_digest(c, d2);
        if (memcmp(d1, d2, sizeof d1)) {
            abort();
        }
    }
    buf_uninit(&out);
    state_destroy(a);
    state_destroy(b);
    state_destroy(c);
    return 0;
}
