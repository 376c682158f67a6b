/* Fuzz target for FTC's wire format (vnfs/ft/ftc/wire.c) and its cores: whatever the bytes,
 * the packet parser stays in bounds and what it accepts re-encodes to the same bytes, the
 * replicas' framing parser accepts the same; and the bytes, as a packet and as a peer message
 * from every endpoint (ring members, forwarder, buffer), go through fresh ftc_forwarder,
 * ftc_replica (head, middle, tail; recovering or not) and ftc_buffer cores, which must not
 * fail. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/ftc/ftc.h"
#include "tests/fuzz/fuzz-core.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Endpoints: 0 outside, 1 forwarder, 2-4 ring, 5 buffer. */
static struct ft_core *
fuzz_core(const char *name, uint32_t self)
{
    static const uint32_t ring[3] = { 2, 3, 4 }, fwd = 1, buffer = 5, outside = 0;
    static const struct ft_param rparams[] = {
        { "n", "3" }, { "partitions", "3" }, { "mbox", "stamp" }, { "mbox_params", "keys=3" },
    };
    struct ft_config cfg = { .self = self, .f = 1 };
    struct ft_core *core = NULL;
    uint32_t next = self == 4 ? buffer : self + 1;

    if (!strcmp(name, "ftc_forwarder")) {
        cfg.next = &ring[0], cfg.n_next = 1, cfg.peers = &buffer, cfg.n_peers = 1;
    } else if (!strcmp(name, "ftc_buffer")) {
        cfg.next = &outside, cfg.n_next = 1, cfg.peers = &fwd, cfg.n_peers = 1;
    } else {
        cfg.group = ring, cfg.n_group = 3, cfg.next = &next, cfg.n_next = 1;
        cfg.params = rparams, cfg.n_params = 4;
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
    static const struct { const char *name; uint32_t self; } cores[] = {
        { "ftc_forwarder", 1 }, { "ftc_replica", 2 }, { "ftc_replica", 3 },
        { "ftc_replica", 4 }, { "ftc_buffer", 5 },
    };
    static const enum ft_event_kind kinds[] = { FT_EV_PACKET, FT_EV_PEER_MSG };
    static struct ftc_message m, mf;
    static struct ftc_refs refs;
    struct buf b = BUF_INITIALIZER;
    enum ftc_packet_type type;
    const uint8_t *inner;
    size_t inner_len;
    bool parsed;

    parsed = ftc_packet_parse(data, size, &type, &m, &inner, &inner_len);
    if (parsed) {
        ftc_packet_put(&b, type, &m, inner, inner_len);
        if (b.len != size || memcmp(b.data, data, size)) {
            abort();
        }
        /* Copying the parsed logs' and commits' own bytes gives the same packet. */
        ftc_refs_clear(&refs);
        for (size_t i = 0; i < m.n_logs; i++) {
            ftc_refs_add_log(&refs, &m.logs[i]);
        }
        for (size_t i = 0; i < m.n_commits; i++) {
            ftc_refs_add_commit(&refs, &m.commits[i]);
        }
        buf_clear(&b);
        ftc_packet_put_refs(&b, type, &refs, inner, inner_len);
        if (b.len != size || memcmp(b.data, data, size)) {
            abort();
        }
    }
    /* Framing accepts exactly what parsing does, and a framed commit decodes to what its
     * bytes say. */
    if (ftc_packet_parse_framed(data, size, &type, &mf, &inner, &inner_len) != parsed) {
        abort();
    }
    for (size_t i = 0; parsed && i < mf.n_commits; i++) {
        ftc_commit_decode(&mf.commits[i]);
        buf_clear(&b);
        ftc_commit_put(&b, &mf.commits[i]);
        if (b.len != mf.commits[i].wire_len || memcmp(b.data, mf.commits[i].wire, b.len)) {
            abort();
        }
    }
    buf_uninit(&b);

    for (size_t n = 0; n < sizeof cores / sizeof *cores; n++) {
        for (uint32_t incarnation = 0; incarnation < 2; incarnation++) {
            struct ft_core *core = fuzz_core(cores[n].name, cores[n].self);

            fuzz_core_feed(core, incarnation, 6, kinds, 2, data, size);
            ft_core_destroy(core);
        }
    }
    return 0;
}
