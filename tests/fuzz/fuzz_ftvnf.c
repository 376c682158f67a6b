/* Fuzz target for FTvNF's wire formats (vnfs/ft/ftvnf/wire.c, vnfs/fn/nf_det.c) and its cores:
 * whatever the bytes, the PAD list, D&P record and delta parsers stay in bounds, what the PAD
 * and D&P parsers accept re-encodes to the same bytes, a delta applies within its declared
 * length or changes nothing, a log carrier the parser accepts re-encodes to the same bytes;
 * a new slave takes any bytes as its master's image without failing, and takes a real
 * master's image (after the bytes went through the master) exactly once;
 * and the bytes, as a packet and as a peer message from every
 * endpoint, go through fresh sequencer, logger, manager and master/slave cores, which must
 * not fail. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/fn/det.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/ftvnf/ftvnf.h"
#include "tests/fuzz/fuzz-core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Endpoints: 0 client, 1 sequencer, 2-4 loggers, 5 manager, 6 master, 7 slave. */
static struct ft_core *
fuzz_core(const char *name, const char *role)
{
    static const uint32_t writers[3] = { 1, 6, 7 }, mgr = 5, loggers[3] = { 2, 3, 4 };
    static const uint32_t vnf_peers[4] = { 2, 3, 4, 5 }, seq_peers[2] = { 2, 5 };
    static const uint32_t first = 6, egress = 0, mgr_group[3] = { 1, 6, 7 };
    bool join = !strcmp(role, "join");
    struct ft_param p[7] = {
        { "stage", "0" }, { "fn", "nat" }, { "fn.external", "192.0.2.1" },
        { "fn.alloc", "random" }, { "fn.timeout", "1s" }, { "role", join ? "slave" : role },
        { "join", join ? "1" : "0" },
    };
    struct ft_config cfg = { .self = 1 };
    struct ft_core *core = NULL;

    if (!strcmp(name, "ftvnf_sequencer")) {
        cfg.next = &first, cfg.n_next = 1, cfg.peers = seq_peers, cfg.n_peers = 2;
    } else if (!strcmp(name, "ftvnf_manager")) {
        cfg.self = 5, cfg.group = mgr_group, cfg.n_group = 3;
        cfg.peers = loggers, cfg.n_peers = 3;
    } else if (!strcmp(name, "ftvnf_vnf")) {
        cfg.self = 6, cfg.next = &egress, cfg.n_next = 1, cfg.peers = vnf_peers;
        cfg.n_peers = 4, cfg.params = p, cfg.n_params = 7;
    } else {
        cfg.self = 2, cfg.group = writers, cfg.n_group = 3, cfg.peers = &mgr, cfg.n_peers = 1;
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
    static const char *const names[] = {
        "ftvnf_sequencer", "ftvnf_packet_logger", "ftvnf_dp_logger", "ftvnf_progress_logger",
        "ftvnf_manager", "ftvnf_vnf", "ftvnf_vnf", "ftvnf_vnf",
    };
    static const char *const roles[] = { "master", "master", "master", "master", "master",
                                         "master", "slave", "join" };
    static const enum ft_event_kind kinds[] = { FT_EV_PACKET, FT_EV_PEER_MSG, FT_EV_PEER_UP,
                                                FT_EV_STATE };
    struct buf b = BUF_INITIALIZER;
    struct nf_pad *pads;
    struct ftvnf_dp dp;
    size_t n_pads, used;

    used = nf_pads_parse(data, size, &pads, &n_pads);
    if (used) {
        nf_pads_put(&b, pads, n_pads);
        if (b.len != used || memcmp(b.data, data, used)) {
            abort();
        }
        free(pads);
    }
    buf_clear(&b);
    struct ftvnf_carry c;
    if (ftvnf_carry_parse(data, size, &c)) {
        /* What the carrier parser accepts re-encodes to the same bytes. */
        ftvnf_carry_put(&b, &c);
        if (b.len != size || memcmp(b.data, data, size) || c.plain_ofs + 8 + c.len != size) {
            abort();
        }
    }
    buf_clear(&b);
    used = ftvnf_dp_parse(data, size, &dp);
    if (used) {
        ftvnf_dp_put(&b, &dp);
        if (b.len != used || memcmp(b.data, data, used)) {
            abort();
        }
        free(dp.pads);
    }
    buf_clear(&b);
    buf_put(&b, "base packet bytes", 17);
    if (!ftvnf_delta_apply(&b, data, size)) {
        if (size < 4 || b.len != ((size_t) data[0] << 24 | data[1] << 16 | data[2] << 8 | data[3])) {
            abort();
        }
    } else if (b.len != 17 || memcmp(b.data, "base packet bytes", 17)) {
        abort();
    }
    buf_uninit(&b);

    for (size_t n = 0; n < sizeof names / sizeof *names; n++) {
        struct ft_core *core = fuzz_core(names[n], roles[n]);

        fuzz_core_feed(core, 0, 8, kinds, 4, data, size);
        ft_core_destroy(core);
    }

    /* A master's image, after the bytes went through it, is what a new slave takes (and a
     * second one is refused: it joined). */
    struct ft_core *master = fuzz_core("ftvnf_vnf", "master");
    struct ft_core *slave = fuzz_core("ftvnf_vnf", "join");
    struct ft_actions acts;
    struct buf image = BUF_INITIALIZER;

    fuzz_core_feed(master, 0, 8, kinds, 2, data, size);
    if (ftvnf_vnf_image(master, &image) || !ftvnf_vnf_image(slave, &b)) {
        abort();
    }
    ft_actions_init(&acts);
    for (int k = 0; k < 2; k++) {
        struct ft_event ev = { .kind = FT_EV_STATE, .now_ns = 1, .from = FT_ENDPOINT_NONE,
                               .data = image.data, .len = image.len };
        bool refused = false;

        ft_actions_clear(&acts);
        if (ft_core_step(slave, &ev, &acts)) {
            abort();
        }
        for (size_t i = 0; i < acts.n; i++) {
            refused |= acts.v[i].kind == FT_ACT_DROP;
        }
        if (refused != (k == 1)) {
            abort();
        }
    }
    ft_actions_uninit(&acts);
    buf_uninit(&image);
    buf_uninit(&b);
    ft_core_destroy(master);
    ft_core_destroy(slave);
    return 0;
}
