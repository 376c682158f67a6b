/* hop — the few frame operations the chain components (classifier, sff, vnf) share: is this an
 * NSH frame for me, rewrite the outer MACs, stamp this hop's timestamp TLV.
 *
 * Operates on frames in pktio slots (struct pktio_pkt: headroom before 'data'). Never parses
 * more than the outer Ethernet header; NSH checks are nsh_decode()'s. */
#ifndef SFC_HOP_H
#define SFC_HOP_H 1

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "vnfs/lib/nsh.h"
#include "vnfs/lib/pktio.h"

#define HOP_ETH_LEN 14

static inline bool
hop_is_multicast(const uint8_t *frame)
{
    return frame[0] & 1;
}

static inline uint16_t
hop_ethertype(const uint8_t *frame)
{
    return (uint16_t) (frame[12] << 8 | frame[13]);
}

static inline void
hop_set_macs(uint8_t *frame, const uint8_t dst[6], const uint8_t src[6])
{
    memmove(frame, dst, 6);
    memmove(frame + 6, src, 6);
}

/* The Ethernet header of a frame from 'src' to 'dst' carrying 'ethertype'. */
static inline void
hop_set_header(uint8_t *frame, const uint8_t dst[6], const uint8_t src[6], uint16_t ethertype)
{
    hop_set_macs(frame, dst, src);
    frame[12] = ethertype >> 8;
    frame[13] = ethertype & 0xff;
}

/* True if 'frame' is an NSH frame sent to 'mac'. */
static inline bool
hop_is_nsh_for(const uint8_t *frame, size_t len, const uint8_t mac[6])
{
    return len >= HOP_ETH_LEN + NSH_BASE_LEN && !memcmp(frame, mac, 6)
           && hop_ethertype(frame) == NSH_ETHERTYPE;
}

/* Appends a timestamp TLV (component 'id', t_in, t_out = now) to the NSH frame in 'pkt'.
 * Returns 0 or what nsh_push_tlv() returns (EMSGSIZE when the header is full). */
int hop_stamp(struct pktio_pkt *pkt, uint32_t id, uint64_t t_in);

/* Which finished requests a hop trace records: all of the first HOP_TRACE_ALL, then every 2nd
 * until twice as many were seen, every 4th until four times, and so on: N/2 more lines' worth
 * for each doubling of the run, spread over all of it. A trace is written to the instance's
 * directory on tmpfs, charged to the writing guest's memory limit: traced in full, a plain
 * SFF's grew 7 MB/s at 12,000 datagrams/s until its guest reached its 256 MiB and the SFF
 * stopped reading (session 16). At 4,096, about 1 KB a request for a chain of 4, an hour at
 * 12,000/s leaves ~31k requests, ~35 MB. */
#define HOP_TRACE_ALL 4096

struct hop_sampler {
    uint64_t seen, every, until;
};

static inline bool
hop_sampler_take(struct hop_sampler *s)
{
    if (!s->every) {
        s->every = 1;
        s->until = HOP_TRACE_ALL;
    }
    if (s->seen == s->until) {
        s->every *= 2;
        s->until *= 2;
    }
    return s->seen++ % s->every == 0;
}

/* A default component id from a MAC: its low 24 bits. */
uint32_t hop_default_id(const uint8_t mac[6]);

#endif
