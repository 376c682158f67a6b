/* Fuzz target: state_import() (vnfs/lib/state.h) on untrusted exports, and the same bytes to
 * state_import_records() as a bare delta.
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

/* The same bytes as a bare delta (FTC's logs): a failed import changes nothing; what a
 * successful one changed, exported bare, applies the same to the store as it was. */
static void
bare(const uint8_t *data, size_t size)
{
    struct nf_state *x = state_create(), *y = state_create();
    uint8_t d1[STATE_DIGEST_LEN], d2[STATE_DIGEST_LEN];
    struct buf out = BUF_INITIALIZER;
    uint64_t mark;

    state_set_limit(x, 4096);
    state_put(x, "k", 1, "v", 1);
    state_put(y, "k", 1, "v", 1);
    mark = state_mark(x);
    state_digest(x, d1);
    if (state_import_records(x, data, size)) {
        state_digest(x, d2);
        if (memcmp(d1, d2, sizeof d1)) {
            abort();
        }
    } else {
        state_export_records_since(x, mark, &out);
        if (state_import_records(y, out.data, out.len)) {
            abort();
        }
        state_digest(x, d1);
        state_digest(y, d2);
        if (memcmp(d1, d2, sizeof d1)) {
            abort();
        }
    }
    buf_uninit(&out);
    state_destroy(x);
    state_destroy(y);
}

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
    bare(data, size);
    state_destroy(a);
    state_destroy(b);
    state_destroy(c);
    return 0;
}
