/* The determinant interface (det.h): PADs recorded by masters, replayed by slaves. */
#include "vnfs/fn/det.h"

#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/util.h"
#include "vnfs/fn/nf.h"

void
nf_det_init(struct nf_det *d, uint64_t seed)
{
    memset(d, 0, sizeof *d);
    d->mode = NF_DET_LIVE;
    ft_rng_init(&d->rng, seed);
    u64map_init(&d->seqs);
}

void
nf_det_uninit(struct nf_det *d)
{
    u64map_destroy(&d->seqs);
    free(d->log);
    d->log = NULL;
}

void
nf_det_set_mode(struct nf_det *d, enum nf_det_mode mode)
{
    d->mode = mode;
}

void
nf_det_begin(struct nf_det *d, const struct nf_pad *pads, size_t n)
{
    d->n_log = 0;
    d->replay = pads;
    d->n_replay = pads ? n : 0;
    d->pos = 0;
    d->diverged = false;
}

bool
nf_det_end_ok(const struct nf_det *d)
{
    return d->mode != NF_DET_REPLAY || (!d->diverged && d->pos == d->n_replay);
}

static uint64_t
det_next_seq(struct nf_det *d, uint32_t var)
{
    uint64_t seq = 0;

    u64map_get(&d->seqs, var, &seq);
    u64map_put(&d->seqs, var, seq + 1);
    return seq + 1;
}

static void
det_record(struct nf_det *d, uint8_t kind, uint32_t var, uint64_t seq, uint64_t value)
{
    if (d->n_log >= d->cap_log) {
        d->log = x2nrealloc(d->log, &d->cap_log, sizeof *d->log);
    }
    d->log[d->n_log++] = (struct nf_pad) { .kind = kind, .var = var, .seq = seq,
                                           .value = value };
    d->n_pads++;
}

/* REPLAY: the next PAD if it is the read being made; NULL (and diverged) otherwise. */
static const struct nf_pad *
det_take(struct nf_det *d, uint8_t kind, uint32_t var)
{
    if (d->pos < d->n_replay && d->replay[d->pos].kind == kind
        && d->replay[d->pos].var == var) {
        d->n_pads++;
        return &d->replay[d->pos++];
    }
    d->diverged = true;
    return NULL;
}

/* A getter: 'live' in LIVE and RECORD (recorded), the logged value in REPLAY. */
static uint64_t
det_get(struct nf_det *d, uint8_t kind, uint32_t var, uint64_t live)
{
    const struct nf_pad *pad;

    switch (d->mode) {
    case NF_DET_RECORD:
        det_record(d, kind, var, det_next_seq(d, var), live);
        return live;
    case NF_DET_REPLAY:
        pad = det_take(d, kind, var);
        if (pad) {
            u64map_put(&d->seqs, var, pad->seq);
            return pad->value;
        }
        return live;
    case NF_DET_LIVE:
    default:
        return live;
    }
}

uint64_t
nf_det_clock(struct nf *nf, const struct nf_packet *pkt)
{
    return det_get(&nf->det, NF_PAD_CLOCK, 0, pkt->now_ns);
}

uint64_t
nf_det_random(struct nf *nf, uint32_t var, uint64_t bound)
{
    struct nf_det *d = &nf->det;
    /* Only a live or recording read draws: a replay must not advance the generator either,
     * or a slave that later becomes master would draw what its master drew. */
    uint64_t live = d->mode == NF_DET_REPLAY ? 0 : ft_rng_below(&d->rng, bound ? bound : 1);
    uint64_t v = det_get(d, NF_PAD_RANDOM, var, live);

    return bound ? v % bound : 0;
}

uint64_t
nf_det_get(struct nf *nf, uint32_t var, uint64_t live_value)
{
    return det_get(&nf->det, NF_PAD_GET, var, live_value);
}

bool
nf_det_set(struct nf *nf, uint32_t var)
{
    struct nf_det *d = &nf->det;
    const struct nf_pad *pad;
    uint64_t last = 0;

    switch (d->mode) {
    case NF_DET_RECORD:
        det_record(d, NF_PAD_SET, var, det_next_seq(d, var), 0);
        return true;
    case NF_DET_REPLAY:
        pad = det_take(d, NF_PAD_SET, var);
        if (!pad) {
            return true;
        }
        /* The getter before this setter already moved the variable's mark to its own seq;
         * compare with the mark before the packet started: an update is applied only once. */
        u64map_get(&d->seqs, var | (1ull << 32), &last);
        if (pad->seq <= last) {
            return false;
        }
        u64map_put(&d->seqs, var | (1ull << 32), pad->seq);
        u64map_put(&d->seqs, var, pad->seq);
        return true;
    case NF_DET_LIVE:
    default:
        return true;
    }
}

void
nf_pads_put(struct buf *b, const struct nf_pad *pads, size_t n)
{
    buf_put_be16(b, n);
    for (size_t i = 0; i < n; i++) {
        buf_put_u8(b, pads[i].kind);
        buf_put_be32(b, pads[i].var);
        buf_put_be64(b, pads[i].seq);
        buf_put_be64(b, pads[i].value);
    }
}

static uint64_t
det_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

size_t
nf_pads_parse(const uint8_t *data, size_t len, struct nf_pad **padsp, size_t *np)
{
    size_t n, need;
    struct nf_pad *pads;

    if (len < 2) {
        return 0;
    }
    n = det_be(data, 2);
    need = 2 + n * NF_PAD_WIRE_LEN;
    if (len < need) {
        return 0;
    }
    pads = xcalloc(n ? n : 1, sizeof *pads);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *p = data + 2 + i * NF_PAD_WIRE_LEN;

        pads[i].kind = p[0];
        pads[i].var = det_be(p + 1, 4);
        pads[i].seq = det_be(p + 5, 8);
        pads[i].value = det_be(p + 13, 8);
        if (pads[i].kind < NF_PAD_CLOCK || pads[i].kind > NF_PAD_SET) {
            free(pads);
            return 0;
        }
    }
    *padsp = pads;
    *np = n;
    return need;
}
