/* Fuzz target for NHAM's wire format (vnfs/ft/nham/wire.c, take.c) and its cores: whatever the
 * bytes, the DATA, control, image, ACK and TAKE parsers stay in bounds; what DATA, control, ACK
 * and TAKE accept re-encodes to the same bytes; and the bytes, as a packet, a peer message and
 * a state from every endpoint, go through fresh nham_sff, nham_vnf and nham_vsm cores, which
 * must not fail. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/nham/nham.h"
#include "vnfs/ft/nham/take.h"
#include "tests/fuzz/fuzz-core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Endpoints: 0 client, 1 sff, 2 vsm, 3 egress, 4-5 vnfs. */
static struct ft_core *
fuzz_core(const char *name)
{
    static const uint32_t vnfs[2] = { 4, 5 }, sff_peers[2] = { 2, 3 }, vnf_peers[2] = { 1, 2 };
    static const uint32_t vsm_peers[1] = { 1 };
    static const struct ft_param small[] = { { "state_bytes", "16" } };
    struct ft_config cfg = { .self = 1 };
    struct ft_core *core = NULL;

    if (!strcmp(name, "nham_sff")) {
        cfg.next = vnfs, cfg.n_next = 2, cfg.peers = sff_peers, cfg.n_peers = 2;
    } else if (!strcmp(name, "nham_vnf")) {
        cfg.self = 4, cfg.peers = vnf_peers, cfg.n_peers = 2, cfg.params = small, cfg.n_params = 1;
    } else {
        cfg.self = 2, cfg.group = vnfs, cfg.n_group = 2, cfg.peers = vsm_peers, cfg.n_peers = 1;
    }
    ft_rng_init(&cfg.rng, 1);
    if (ft_core_create(ft_core_class_find(name), &cfg, &core, NULL)) {
        abort();
    }
    return core;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = { "nham_sff", "nham_vnf", "nham_vsm" };
    static const enum ft_event_kind kinds[] = { FT_EV_PACKET, FT_EV_PEER_MSG, FT_EV_STATE };
    struct buf b = BUF_INITIALIZER;
    struct nham_data d;
    struct nham_ctl c;
    struct nham_image im;
    struct nham_take_ack ack = { .seq = 0 };
    struct nham_take_msg t;

    if (nham_data_parse(data, size, &d)) {
        nham_data_put(&b, &d);
        if (b.len != size || memcmp(b.data, data, size)) {
            abort();
        }
    }
    buf_clear(&b);
    if (nham_ctl_parse(data, size, &c)) {
        nham_ctl_put(&b, &c);
        if (b.len != size || memcmp(b.data, data, size)) {
            abort();
        }
    }
    buf_clear(&b);
    if (nham_take_ack_update(&ack, 1, data, size)) {
        nham_take_ack_put(&b, ack.nonce, ack.id, ack.len);
        if (b.len != size || memcmp(b.data, data, size)) {
            abort();
        }
    }
    buf_clear(&b);
    if (nham_take_parse(data, size, &t)) {
        struct nham_take_ack held = { .valid = true, .nonce = t.nonce, .len = t.len };
        struct nham_take_hop hop = { .acks = &held, .n_copies = 1 };

        memcpy(held.id, t.id, NHAM_TAKE_ID);
        nham_take_put(&b, &hop, 0, t.inc, t.mac);
        if (b.len != size || memcmp(b.data, data, size)
            || (t.inc && t.inc != UINT32_MAX
                && nham_take_judge(&t, true, t.nonce, t.mac, NULL, 0, NULL, 0)
                   != NHAM_TAKE_ACTIVATE)) {
            abort();
        }
    }
    buf_uninit(&b);
    if (nham_image_parse(data, size, &im) && 32 + (size_t) im.state_len != size) {
        abort();
    }

    for (size_t n = 0; n < 3; n++) {
        struct ft_core *core = fuzz_core(names[n]);

        fuzz_core_feed(core, size & 1, 6, kinds, 3, data, size);
        ft_core_import_state(core, data, size);
        ft_core_destroy(core);
    }
    return 0;
}
