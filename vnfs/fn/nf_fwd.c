/* fwd — forwards every frame unchanged, after touching some state and doing some work: the
 * stand-in VNF of the chain-length benchmarks.
 *
 * Params: state_size=N (bytes, default 0): one shared entry "fwd" of N bytes is read and
 * rewritten per packet. work=T (a duration, default 0) or iterations=K: busy processing per
 * packet, a deterministic spin computing a hash over the packet's bytes K times. 'work' is
 * converted to iterations once, at create, by timing the spin (the only clock this function
 * reads, and never per packet), so processing stays deterministic given the parameters and a
 * replay does the same work; 'iterations' fixes K exactly. The hash's last value is kept, so
 * the spin cannot be optimised away: in the state as "fwd.digest" when the function keeps
 * state (state_size > 0), so a replica's work can be checked; otherwise in the function's own
 * configuration, so that work alone leaves it stateless (FTvNF's masters then forward at once,
 * the paper's rule for packets that touch no state).
 *
 * forwarder_state=N (bytes, default 0: off): NHAM's VNF without NHAM, for the baseline of its
 * overhead. Per packet exactly the work of NHAM's VNF core (ft_forwarder_absorb(),
 * vnfs/ft/rng.h): the count goes up, a digest absorbs every byte of the packet in order, and one
 * byte of an N-byte state (the paper's ~512 KB) chosen by the digest is rewritten. The state is
 * the function's own, outside the state store: NHAM's VNF holds it the same way, and nothing
 * checkpoints it without NHAM. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/ft/rng.h"
#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf-provider.h"

struct fwd_conf {
    size_t state_size;
    uint64_t iterations;
    uint64_t last_digest;       /* The spin's last hash when there is no state to keep it. */
    struct ft_forwarder fw;     /* forwarder_state: NHAM's VNF's work; state NULL when off. */
};

/* FNV-1a-like mixing over the packet, 'iterations' bytes in total (wrapping over it). Not
 * inlined, so calibration times the very code packets run, not a copy the compiler specialised
 * for its sample. */
static uint64_t __attribute__((noinline))
spin(const uint8_t *data, size_t len, uint64_t iterations, uint64_t h)
{
    if (!len) {
        data = (const uint8_t *) "";
        len = 1;
    }
    for (uint64_t i = 0, j = 0; i < iterations; i++) {
        h = (h ^ data[j]) * 0x100000001b3ull;
        if (++j == len) {
            j = 0;
        }
    }
    return h;
}

/* Iterations per millisecond, measured once per process: the fastest of many short spins.
 * Guests start together on a loaded host, and a spin of 200 us was preempted often enough
 * that the best of 5 ran at a fraction of the CPU's speed: that process then did a fraction
 * of its work per packet (a "95us" fwd's p50 hop went from 25 to 137 us across the processes
 * of bench/ftvnf.sh's runs at load 8-15, none's and ftvnf's alike, which made their ratio
 * noise; 96-197 us with this calibration at load 14-21: never short, longer only where the
 * packet's own spin was preempted). A spin of ~10 us is rarely cut by a time slice of
 * milliseconds: the best of 100 is the CPU's speed. */
static uint64_t
calibrate(uint64_t work_ns)
{
    static uint64_t per_ms;
    static uint8_t sample[64];

    if (!per_ms) {
        for (size_t i = 0; i < sizeof sample; i++) {
            sample[i] = i * 37;
        }
        uint64_t best = UINT64_MAX;
        const uint64_t n = 10000;
        for (int i = 0; i < 100; i++) {
            uint64_t t0 = time_mono_ns();
            volatile uint64_t sink = spin(sample, sizeof sample, n, i);
            (void) sink;
            uint64_t dt = time_mono_ns() - t0;
            best = MIN(best, dt ? dt : 1);
        }
        per_ms = MAX(1, n * 1000000 / best);
    }
    return work_ns * per_ms / 1000000;
}

static int
fwd_create(const struct nf_param *params, size_t n, struct nf **nfp, char **errp)
{
    static const char *const known[] = { "state_size", "work", "iterations",
                                         "forwarder_state", NULL };
    uint64_t size = 0, iterations = 0, fw_size = 0;
    int error = nf_params_check(params, n, known, errp);

    if (!error) {
        error = nf_param_size(params, n, "state_size", 1 << 20, &size, errp);
    }
    if (!error) {
        error = nf_param_uint(params, n, "iterations", 0, UINT32_MAX, &iterations, errp);
    }
    if (!error) {
        error = nf_param_size(params, n, "forwarder_state", 64 << 20, &fw_size, errp);
    }
    const char *work = nf_param_find(params, n, "work");
    if (!error && work) {
        uint64_t ns;
        if (nf_param_find(params, n, "iterations")) {
            *errp = xasprintf("work: give either work or iterations, not both");
            error = EINVAL;
        } else if (!parse_duration(work, &ns) || ns > 1000000000ull) {
            *errp = xasprintf("work: '%s' is not a duration of at most 1s (e.g. 10us)", work);
            error = EINVAL;
        } else {
            iterations = calibrate(ns);
        }
    }
    if (error) {
        return error;
    }
    struct fwd_conf *c = xzalloc(sizeof *c);
    c->state_size = size;
    c->iterations = iterations;
    if (fw_size) {
        c->fw.state = xzalloc(fw_size);
        c->fw.state_len = fw_size;
    }
    *nfp = nf_alloc(&nf_fwd_class, c);
    return 0;
}

static void
fwd_destroy(struct nf *nf)
{
    struct fwd_conf *c = nf->priv;

    free(c->fw.state);
    free(c);
    nf_free(nf);
}

static enum nf_verdict
fwd_process(struct nf *nf, struct nf_packet *pkt)
{
    struct fwd_conf *c = nf->priv;
    uint8_t *v;

    if (c->state_size && !state_write(nf->state, "fwd", 3, c->state_size, &v)) {
        for (size_t i = 0; i < c->state_size; i++) {
            v[i]++;
        }
    }
    if (c->fw.state) {
        ft_forwarder_absorb(&c->fw, pkt->data, pkt->len);
    }
    if (c->iterations) {
        uint64_t h = spin(pkt->data, pkt->len, c->iterations, 0xcbf29ce484222325ull);
        if (!c->state_size) {
            c->last_digest = h;
        } else if (!state_write(nf->state, "fwd.digest", 10, 8, &v)) {
            memcpy(v, &h, 8);
        }
    }
    return NF_FORWARD;
}

const struct nf_class nf_fwd_class = {
    .name = "fwd",
    .create = fwd_create,
    .destroy = fwd_destroy,
    .process = fwd_process,
};

/* forwarder_state's count and digest (0 without it), for tests. */
void
nf_fwd_forwarder(const struct nf *nf, uint64_t *count, uint64_t *digest)
{
    const struct fwd_conf *c = nf->class == &nf_fwd_class ? nf->priv : NULL;

    *count = c ? c->fw.count : 0;
    *digest = c ? c->fw.digest : 0;
}

uint64_t
nf_fwd_iterations(const struct nf *nf)
{
    return nf->class == &nf_fwd_class ? ((const struct fwd_conf *) nf->priv)->iterations : 0;
}
