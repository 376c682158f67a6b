/* rng — the seeded pseudo-random generator of protocol cores and the simulator.
 *
 * xoshiro256** (Blackman and Vigna) seeded through splitmix64, so one 64-bit seed fixes every
 * draw. It is not cryptographic and must never be used for keys or nonces; it exists so that
 * anything random in a core or a simulated run (jitter, backoff, a Byzantine strategy's choice)
 * can be replayed exactly. Nothing here reads the clock or /dev/urandom.
 *
 * Main type: struct ft_rng (plain value: copy it to fork a stream, or use ft_rng_fork()). */
#ifndef SFC_FT_RNG_H
#define SFC_FT_RNG_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ft_rng {
    uint64_t s[4];
};

/* One step of splitmix64: advances '*state' and returns a well-mixed value. */
static inline uint64_t
ft_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t
ft_rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t
ft_rng_u64(struct ft_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = ft_rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = ft_rng_rotl(s[3], 45);
    return result;
}

void ft_rng_init(struct ft_rng *, uint64_t seed);
/* Seeds 'child' from the next draw of 'parent': independent streams from one seed, so adding a
 * draw to one component does not shift every other component's choices. */
void ft_rng_fork(struct ft_rng *parent, struct ft_rng *child);
/* Uniform in [0, bound); 'bound' must be > 0. Unbiased (Lemire's method). */
uint64_t ft_rng_below(struct ft_rng *, uint64_t bound);
/* Uniform in [lo, hi], inclusive; lo <= hi. */
uint64_t ft_rng_range(struct ft_rng *, uint64_t lo, uint64_t hi);
/* Uniform in [0, 1). */
double ft_rng_unit(struct ft_rng *);
/* True with probability 'p' (p <= 0 never draws true, p >= 1 always). Always consumes one draw,
 * so the stream does not depend on 'p'. */
bool ft_rng_chance(struct ft_rng *, double p);

/* A 64-bit hash of bytes (not cryptographic): for traces, histories and hash tables. */
uint64_t ft_hash_bytes(const void *, size_t len, uint64_t basis);
/* A 64-bit digest of bytes in which every byte counts, in order: ft_hash_bytes()' result
 * quality at a fraction of its cost on long inputs (packets). */
uint64_t ft_digest_bytes(const void *, size_t len, uint64_t basis);

/* The paper's VNF for NHAM: a stateful forwarder whose state is a packet count, a digest of
 * every packet it took, in order, and 'state_len' bytes of which each packet rewrites one (a
 * state that skipped or repeated a packet differs from the fault-free one). NHAM's VNF core
 * (vnfs/ft/nham/vnf.c) and fwd's 'forwarder_state' (vnfs/fn/nf_fwd.c, the same VNF without
 * NHAM) do exactly this per packet. */
struct ft_forwarder {
    uint64_t count;
    uint64_t digest;
    uint8_t *state;
    size_t state_len;
};

void ft_forwarder_absorb(struct ft_forwarder *, const void *, size_t len);

#endif
