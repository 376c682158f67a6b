/* sent — what a core under test sent on, for the unit tests that drive FT cores by hand: the
 * frames of its FT_ACT_FORWARD actions, each a copy in arrival order.
 *
 * Header-only, every function static, as golden.h: each tests/unit/test_*.c is a binary of its
 * own. Main type: struct sent. */
#ifndef TESTS_UNIT_SENT_H
#define TESTS_UNIT_SENT_H 1

#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/core.h"

struct sent {
    struct buf *v;
    size_t n, cap;
};

/* Keeps a copy of each frame 'out' forwards, then clears 'out'. */
static void
collect(struct sent *s, struct ft_actions *out)
{
    for (size_t i = 0; i < out->n; i++) {
        if (out->v[i].kind == FT_ACT_FORWARD) {
            if (s->n == s->cap) {
                s->v = x2nrealloc(s->v, &s->cap, sizeof *s->v);
            }
            buf_init(&s->v[s->n]);
            buf_put(&s->v[s->n], out->v[i].data, out->v[i].len);
            s->n++;
        }
    }
    ft_actions_clear(out);
}

/* Frees what 's' holds; 's' is then empty again. */
static void
sent_free(struct sent *s)
{
    for (size_t i = 0; i < s->n; i++) {
        buf_uninit(&s->v[i]);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}

#endif
