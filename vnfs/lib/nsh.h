/* nsh — the Network Service Header (RFC 8300) as sfclab carries it over Ethernet (ethertype
 * 0x894F): decode with strict checks, encode, the service-path logic (SI decrement, TTL) and the
 * MD type 2 context headers (TLVs) the schemes put their metadata in.
 *
 * Wire format (RFC 8300 §2):
 *   base header     Ver(2)=0 O(1) U(1) TTL(6) Length(6, 4-byte words, whole NSH) U(4)
 *                   MDType(4) NextProtocol(8)
 *   service path    SPI(24) SI(8)
 *   MD type 2       zero or more context headers, each: MetadataClass(16) Type(8) U(1)
 *                   Length(7) then Length BYTES of value, zero-padded to a 4-byte boundary.
 *                   (The TLV length is in bytes, unlike the base header's, which is in words.)
 * So an NSH header is 8..252 bytes, and one TLV value at most 127 bytes.
 *
 * sfclab's TLVs use the experimental metadata class NSH_CLASS_SFCLAB (0xFFF6, RFC 8300 §9.1.4
 * experimental range). Types and value layouts (all integers big-endian):
 *   NSH_TLV_REQUEST_ID     8 bytes: u64 request id given by the classifier (FIT-SFC ordering).
 *   NSH_TLV_TIMESTAMP     20 bytes: u32 component id, u64 t_in, u64 t_out, CLOCK_MONOTONIC ns.
 *                         One per hop, in path order; every guest shares the host's monotonic
 *                         clock, so differences between hops are exact latency splits.
 *   NSH_TLV_PACKET_ID      FTvNF sequencer's packet id and version (layout is the scheme's).
 *   NSH_TLV_PIGGYBACK_LOG  FTC piggyback log fragment (layout is the scheme's).
 *   NSH_TLV_COMMIT_VECTOR  FTC commit vector (layout is the scheme's).
 * A scheme that needs more than 127 bytes carries several TLVs of the same type, in order.
 *
 * Reply-path convention: a VNF that answers a request itself (verdict NF_REPLY, e.g. dns) sends
 * the reply back to the SFF on the *reverse path*, SPI | NSH_SPI_REVERSE, with SI reset to 255.
 * An SFF forwards a reverse-path frame like any other if it has a path configured for that SPI
 * (a symmetric chain with functions on the way back); otherwise the reverse path is empty and
 * the SFF decapsulates at once and sends the inner frame to its own destination (the client).
 * Forward SPIs are therefore limited to 23 bits (0..0x7FFFFF).
 *
 * Decoding never copies: struct nsh_hdr points into the caller's bytes. It never allocates.
 * Main types: struct nsh_hdr, struct nsh_tlv, enum nsh_field. */
#ifndef SFC_NSH_H
#define SFC_NSH_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/buf.h"

#define NSH_ETHERTYPE       0x894F
#define NSH_BASE_LEN        8           /* Base header + service path header. */
#define NSH_MAX_LEN         252         /* 63 words. */
#define NSH_TLV_HDR_LEN     4
#define NSH_TLV_MAX_VALUE   127
#define NSH_TTL_DEFAULT     63
#define NSH_TTL_MAX         63
#define NSH_SI_START        255
#define NSH_SPI_MAX         0xFFFFFF
#define NSH_SPI_REVERSE     0x800000    /* Marks the reverse (reply) path; see above. */

enum nsh_next_proto {
    NSH_NP_IPV4 = 1,
    NSH_NP_IPV6 = 2,
    NSH_NP_ETHERNET = 3,
    NSH_NP_NSH = 4,
    NSH_NP_MPLS = 5,
    NSH_NP_EXPERIMENT1 = 0xFE,          /* RFC 8300 9.1: for experimentation. sfclab: an
                                         * FTC packet (vnfs/ft/ftc/ftc.h) whose piggyback
                                         * message precedes the inner Ethernet frame. */
    NSH_NP_EXPERIMENT2 = 0xFF,          /* sfclab: an FTvNF log carrier (vnfs/ft/ftvnf/
                                         * ftvnf.h): the log records a packet goes through
                                         * the loggers with, then the inner frame. */
};

enum nsh_md_type {
    NSH_MD_TYPE_1 = 1,                  /* Fixed 16 bytes of context: decoded but never built. */
    NSH_MD_TYPE_2 = 2,
};

#define NSH_CLASS_SFCLAB    0xFFF6

enum nsh_tlv_type {
    NSH_TLV_REQUEST_ID = 1,
    NSH_TLV_TIMESTAMP = 2,
    NSH_TLV_PACKET_ID = 3,
    NSH_TLV_PIGGYBACK_LOG = 4,
    NSH_TLV_COMMIT_VECTOR = 5,
};
#define NSH_TIMESTAMP_LEN   20

/* Which field made a header invalid. */
enum nsh_field {
    NSH_FIELD_NONE,
    NSH_FIELD_TRUNCATED,                /* Fewer bytes than a base header, or than Length says. */
    NSH_FIELD_VERSION,                  /* Version is not 0. */
    NSH_FIELD_TTL,                      /* TTL is 0: must have been dropped by the sender. */
    NSH_FIELD_LENGTH,                   /* Length impossible for the MD type. */
    NSH_FIELD_MD_TYPE,                  /* Reserved (0) or experimental (0xF) MD type. */
    NSH_FIELD_NEXT_PROTO,               /* Not a protocol sfclab carries. */
    NSH_FIELD_TLV_HEADER,               /* Bytes left that cannot hold a context header. */
    NSH_FIELD_TLV_LENGTH,               /* A context header runs past the end of the NSH. */
};
const char *nsh_field_name(enum nsh_field);

struct nsh_hdr {
    bool oam;
    uint8_t ttl;
    uint8_t md_type;
    uint8_t next_proto;
    uint32_t spi;
    uint8_t si;
    size_t len;                         /* Whole NSH header, bytes. */
    const uint8_t *md;                  /* Context headers (MD type 1: 16 fixed bytes). */
    size_t md_len;
};

/* A context header. 'value' points into the packet (decode) or the caller's bytes (encode). */
struct nsh_tlv {
    uint16_t md_class;
    uint8_t type;
    uint8_t len;                        /* Bytes of value, 0..127, before padding. */
    const uint8_t *value;
};

/* Decodes the NSH header at the start of 'data' (the bytes after the outer Ethernet header).
 * Returns 0, or EINVAL with '*badp' naming the bad field ('*hdr' untouched). On success every
 * context header was checked, so nsh_tlv_next() cannot fail on it. */
int nsh_decode(const uint8_t *data, size_t len, struct nsh_hdr *hdr, enum nsh_field *badp);

/* Iterates over the MD type 2 context headers: start with '*ofs' = 0. */
bool nsh_tlv_next(const struct nsh_hdr *, size_t *ofs, struct nsh_tlv *);
/* Finds the first context header of ('md_class', 'type'). */
bool nsh_tlv_find(const struct nsh_hdr *, uint16_t md_class, uint8_t type, struct nsh_tlv *);
/* Counts the context headers of ('md_class', 'type'). */
size_t nsh_tlv_count(const struct nsh_hdr *, uint16_t md_class, uint8_t type);

/* Appends an MD type 2 NSH header to 'b'. Returns 0, EINVAL (spi, ttl or a TLV length out of
 * range) or EMSGSIZE (the header would exceed 252 bytes); 'b' is untouched on failure. */
int nsh_encode(struct buf *b, uint32_t spi, uint8_t si, uint8_t ttl, uint8_t next_proto,
               const struct nsh_tlv *tlvs, size_t n_tlvs);

/* Bytes a context header of 'value_len' bytes takes on the wire. */
static inline size_t
nsh_tlv_wire_len(size_t value_len)
{
    return NSH_TLV_HDR_LEN + ((value_len + 3) & ~(size_t) 3);
}

/* In-place edits of a header already checked by nsh_decode(), for the hot path. */
void nsh_set_spi_si(uint8_t *nsh, uint32_t spi, uint8_t si);
/* Decrements SI. Returns false (header untouched) if SI is already 0: the path is exhausted. */
bool nsh_dec_si(uint8_t *nsh);
/* Decrements TTL. Returns false if the packet must be dropped (TTL reached 0, RFC 8300 §2.2). */
bool nsh_dec_ttl(uint8_t *nsh);

/* Grows the NSH header of a frame by one context header without moving the inner packet: the
 * 'prefix' bytes before the NSH header (the outer Ethernet header) and the NSH header itself
 * move down into the 'room' free bytes before '*framep'. On success '*framep' points to the new
 * start of the frame and the frame is nsh_tlv_wire_len(len) bytes longer. Returns 0, EINVAL
 * (value too long), EMSGSIZE (NSH would exceed 252 bytes) or ENOBUFS (not enough room). */
int nsh_push_tlv(uint8_t **framep, size_t prefix, size_t room,
                 uint16_t md_class, uint8_t type, const void *value, size_t len);

/* Ready-made sfclab TLVs. */
void nsh_request_id_put(uint8_t value[8], uint64_t request_id);
bool nsh_request_id_get(const struct nsh_hdr *, uint64_t *request_id);

struct nsh_timestamp {
    uint32_t component;
    uint64_t t_in;
    uint64_t t_out;
};
void nsh_timestamp_put(uint8_t value[NSH_TIMESTAMP_LEN], const struct nsh_timestamp *);
/* Returns the number of timestamp TLVs, filling up to 'max' of them into 'ts' in path order. */
size_t nsh_timestamps_get(const struct nsh_hdr *, struct nsh_timestamp *ts, size_t max);

#endif
