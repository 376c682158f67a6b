#include "vnfs/ft/rng.h"

#include <string.h>

void
ft_rng_init(struct ft_rng *r, uint64_t seed)
{
    uint64_t sm = seed;

    for (int i = 0; i < 4; i++) {
        r->s[i] = ft_splitmix64(&sm);
    }
    /* xoshiro's all-zero state is a fixed point; splitmix64 cannot produce four zeros from one
     * seed, but stay safe if someone copies a zeroed struct in. */
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3])) {
        r->s[0] = 1;
    }
}

void
ft_rng_fork(struct ft_rng *parent, struct ft_rng *child)
{
    ft_rng_init(child, ft_rng_u64(parent));
}

uint64_t
ft_rng_below(struct ft_rng *r, uint64_t bound)
{
    unsigned __int128 m = (unsigned __int128) ft_rng_u64(r) * bound;
    uint64_t low = (uint64_t) m;

    if (low < bound) {
        uint64_t threshold = -bound % bound;
        while (low < threshold) {
            m = (unsigned __int128) ft_rng_u64(r) * bound;
            low = (uint64_t) m;
        }
    }
    return (uint64_t) (m >> 64);
}

uint64_t
ft_rng_range(struct ft_rng *r, uint64_t lo, uint64_t hi)
{
    if (hi - lo == UINT64_MAX) {
        return ft_rng_u64(r);
    }
    return lo + ft_rng_below(r, hi - lo + 1);
}

double
ft_rng_unit(struct ft_rng *r)
{
    return (ft_rng_u64(r) >> 11) * 0x1.0p-53;
}

bool
ft_rng_chance(struct ft_rng *r, double p)
{
    double u = ft_rng_unit(r);
    return u < p;
}

uint64_t
ft_hash_bytes(const void *data_, size_t len, uint64_t basis)
{
    const uint8_t *p = data_;
    uint64_t h = basis ^ (len * 0x9e3779b97f4a7c15ull);

    /* Eight bytes at a time through splitmix's finaliser: fast, and good enough to tell apart
     * the values a simulated history holds. */
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h ^= w;
        h = ft_splitmix64(&h);
        p += 8;
        len -= 8;
    }
    if (len) {
        uint64_t w = 0;
        memcpy(&w, p, len);
        h ^= w ^ ((uint64_t) len << 56);
        h = ft_splitmix64(&h);
    }
    return h;
}

/* Four words at a time in four independent lanes (ft_hash_bytes()' one chain of splitmix
 * rounds per word was 9% of NHAM's VNF's CPU at flat out, for a 1024-byte payload), mixed at
 * the end. */
uint64_t
ft_digest_bytes(const void *data, size_t len, uint64_t basis)
{
    static const uint64_t k = 0x9e3779b97f4a7c15ull;
    const uint8_t *p = data;
    uint64_t a[4] = { basis, basis ^ len, basis + k, basis - k }, h;

    for (; len >= 32; p += 32, len -= 32) {
        for (int i = 0; i < 4; i++) {
            uint64_t w;

            memcpy(&w, p + 8 * i, 8);
            a[i] = (a[i] ^ w) * k;
            a[i] ^= a[i] >> 29;
        }
    }
    h = a[0] ^ (a[1] << 1 | a[1] >> 63) ^ (a[2] << 2 | a[2] >> 62) ^ (a[3] << 3 | a[3] >> 61);
    h = ft_hash_bytes(p, len, h);            /* The tail, */
    return ft_splitmix64(&h);                /* and a full mix of the lanes. */
}

void
ft_forwarder_absorb(struct ft_forwarder *f, const void *data, size_t len)
{
    f->count++;
    f->digest = ft_digest_bytes(data, len, f->digest ^ f->count);
    if (f->state_len) {
        f->state[f->digest % f->state_len] ^= (uint8_t) f->count;
    }
}
