/* none — the chain without fault tolerance: a forwarder that passes every packet to its next
 * hop (or delivers it, at the end of the chain). The baseline every scheme is compared with, and
 * the simplest core the simulator runs: on a reliable network it must neither lose nor
 * duplicate. Its only state is a counter, exported so checkpoint backends have something to
 * carry. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/ft/core.h"

struct none {
    struct ft_core up;
    uint32_t next;              /* FT_ENDPOINT_NONE: deliver locally. */
    uint64_t n_forwarded;
};

static struct none *
none_cast(const struct ft_core *core)
{
    return (struct none *) core;
}

static int
none_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct none *n;

    if (cfg->n_next > 1) {
        if (errp) {
            *errp = xasprintf("none: a forwarder has at most one next hop (got %zu)", cfg->n_next);
        }
        return EINVAL;
    }
    n = xzalloc(sizeof *n);
    n->next = cfg->n_next ? cfg->next[0] : FT_ENDPOINT_NONE;
    *corep = &n->up;
    return 0;
}

static void
none_destroy(struct ft_core *core)
{
    free(none_cast(core));
}

static int
none_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct none *n = none_cast(core);

    if (ev->kind == FT_EV_STATE_REQUEST) {
        uint8_t image[8];
        for (int i = 0; i < 8; i++) {
            image[i] = n->n_forwarded >> (56 - 8 * i);
        }
        ft_emit_state(out, ev->from, image, sizeof image);
    } else if (ev->kind == FT_EV_PACKET) {
        n->n_forwarded++;
        if (n->next == FT_ENDPOINT_NONE) {
            ft_emit_deliver(out, ev->data, ev->len);
        } else {
            ft_emit_forward(out, n->next, ev->data, ev->len);
        }
    }
    return 0;
}

static int
none_export_state(const struct ft_core *core, struct buf *b)
{
    buf_put_be64(b, none_cast(core)->n_forwarded);
    return 0;
}

static int
none_import_state(struct ft_core *core, const uint8_t *data, size_t len)
{
    if (len != 8) {
        return EINVAL;
    }
    none_cast(core)->n_forwarded = get_be64(data);
    return 0;
}

const struct ft_core_class ft_none_class = {
    .name = "none",
    .summary = "forwarder without fault tolerance (the baseline chain)",
    .create = none_create,
    .destroy = none_destroy,
    .step = none_step,
    .export_state = none_export_state,
    .import_state = none_import_state,
};
