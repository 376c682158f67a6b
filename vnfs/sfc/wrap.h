/* wrap — how FIT-SFC's client wrapper hands a request to each classifier replica.
 *
 * The wrapper names every request by its client's id and a per-client counter (the flow's
 * order key, FIT-SFC §III-B's "local timestamp"), and every correct classifier replica must
 * name it the same way, so that the SFF replicas can vote on the copies the classifiers send.
 * The carrier: the wrapper sends each classifier the client's very Ethernet frame behind a
 * small header of its own (ethertype WRAP_ETHERTYPE), and the classifier moves the name into
 * NSH (NSH_TLV_REQUEST_ID = client << 32 | counter) and strips the header. Why not the inner
 * packet's own fields: a DNS id is 16 bits, chosen by dig or dnsperf and reused, and the
 * inner frame must reach the VNFs unchanged (no checksum to redo, nothing for the service to
 * see). Why not NSH from the wrapper: the classifier is the chain's entry (RFC 7665); the
 * wrapper is not trusted to classify.
 *
 *   Ethernet (dst classifier, src client, type 0x88B6) | magic "FITW" | client id (u32) |
 *   counter (u64) | the inner Ethernet frame              (big-endian)
 *
 * wrap_parse() checks lengths and the magic only; it never allocates. Main type:
 * struct wrap_hdr. */
#ifndef SFC_WRAP_H
#define SFC_WRAP_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WRAP_ETHERTYPE 0x88B6           /* IEEE 802 local experimental ethertype 2. */
#define WRAP_MAGIC 0x46495457u          /* "FITW" */
#define WRAP_HDR_LEN 16                 /* After the outer Ethernet header. */
#define WRAP_MIN_INNER 34               /* Ethernet + IPv4 header, at least. */

struct wrap_hdr {
    uint32_t client;
    uint64_t counter;
    const uint8_t *inner;               /* Points into the caller's bytes. */
    size_t inner_len;
};

/* Parses a whole frame (outer Ethernet header included). False if it is not a wrapped
 * request: wrong ethertype or magic, or too short to hold one. */
bool wrap_parse(const uint8_t *frame, size_t len, struct wrap_hdr *);
/* Writes the outer Ethernet header and the wrap header (14 + WRAP_HDR_LEN bytes) at 'p'. */
void wrap_put(uint8_t *p, const uint8_t dst[6], const uint8_t src[6], uint32_t client,
              uint64_t counter);
/* The NSH request id of a wrapped request. */
static inline uint64_t
wrap_request_id(const struct wrap_hdr *w)
{
    return (uint64_t) w->client << 32 | (w->counter & 0xffffffffu);
}

#endif
