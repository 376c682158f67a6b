/* dns — DNS messages (RFC 1035) for the dns network function and the dns client: parse a query
 * (header, one question, an EDNS0 OPT record, RFC 6891), build an A answer, build a query of a
 * requested size (EDNS0 padding, RFC 7830), parse an answer and extract its A records.
 *
 * Hand-written rather than ldns because it is measurably faster for the one job a VNF does per
 * packet: `make bench` (bench/dns.c) parses a 512-byte padded query and builds the A answer,
 * median of 5 runs of 200,000, gcc -O2, this machine: ldns (ldns_wire2pkt, a new ldns_pkt,
 * ldns_pkt2wire) 3.1 µs per message, this codec 65 ns, 48 times less, with no allocation (on
 * a loaded machine 8.9 µs vs 0.24 µs, 37 times).
 * ldns stays the reference: the unit tests check that it reads our messages and we read its.
 *
 * Strict: every length is checked against the bytes, names are at most 255 bytes with labels of
 * at most 63, compression pointers must point strictly backwards (so no loop can exist) and at
 * least past the header, extended label types are refused, counts must match the records
 * present, and trailing bytes are an error. The messages are untrusted: tests/fuzz/fuzz_dns.c.
 *
 * Never allocates, never does I/O; parsed structures point into the caller's message where
 * they say so. Names are kept in wire form (uncompressed), compared without regard to ASCII
 * case.
 *
 * Main types: struct dns_query (a parsed question), struct dns_query_spec (what to ask),
 * struct dns_response (a parsed answer). */
#ifndef SFC_DNS_H
#define SFC_DNS_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HEADER_LEN 12
#define DNS_MAX_NAME 255        /* Wire form, including the root label. */
#define DNS_MAX_ADDRS 32        /* A records kept from one answer. */
#define DNS_PORT 53

#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_AAAA 28
#define DNS_TYPE_OPT 41
#define DNS_CLASS_IN 1

#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_FORMERR 1
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3
#define DNS_RCODE_NOTIMP 4
#define DNS_RCODE_REFUSED 5

#define DNS_FLAG_QR 0x8000
#define DNS_FLAG_AA 0x0400
#define DNS_FLAG_TC 0x0200
#define DNS_FLAG_RD 0x0100
#define DNS_FLAG_RA 0x0080

#define DNS_EDNS_PADDING 12     /* RFC 7830 */
/* The auth function's per-flow token: an option code from the range RFC 6891 leaves for local
 * and experimental use. */
#define DNS_EDNS_TOKEN 65001
#define DNS_EDNS_UDP_SIZE 1232  /* What we advertise (DNS flag day 2020). */
/* Header + OPT record + option header: the least a padded query adds to its question. */
#define DNS_OPT_LEN 11

struct dns_query {
    uint16_t id;
    uint16_t flags;             /* As received (QR clear). */
    uint8_t qname[DNS_MAX_NAME];
    uint8_t qname_len;          /* Wire form, with the root label. */
    uint16_t qtype;
    uint16_t qclass;
    bool edns;                  /* An OPT record was present. */
    bool edns_do;
    uint8_t edns_version;
    uint16_t edns_udp_size;
    bool padded;
    uint16_t padding_len;       /* Bytes of padding option content. */
    const uint8_t *token;       /* Into the message; NULL if no token option. */
    uint16_t token_len;
};

struct dns_query_spec {
    uint16_t id;
    const char *name;           /* "www.example.com" (a trailing dot is allowed). */
    uint16_t qtype;
    bool rd;
    bool edns;                  /* Add an OPT record (implied by 'size' or 'token'). */
    size_t size;                /* Total message bytes, reached with padding; 0: no padding. */
    const uint8_t *token;       /* Optional DNS_EDNS_TOKEN option. */
    size_t token_len;
};

struct dns_response {
    uint16_t id;
    uint16_t flags;
    uint16_t rcode;             /* With the EDNS extended bits. */
    uint8_t qname[DNS_MAX_NAME];
    uint8_t qname_len;          /* 0 if the response has no question. */
    uint16_t qtype;
    uint16_t ancount;
    size_t n_addrs;             /* A records of class IN in the answer section (at most
                                 * DNS_MAX_ADDRS kept). */
    uint32_t addrs[DNS_MAX_ADDRS];  /* Network byte order. */
    uint32_t ttls[DNS_MAX_ADDRS];
    bool edns;
};

/* Parses a query: QR clear, exactly one question, no answer or authority records, at most one
 * additional record which must be OPT. Returns 0 or EINVAL. */
int dns_parse_query(const uint8_t *msg, size_t len, struct dns_query *);

/* Builds the response to 'q': the question echoed, 'n_addrs' A records (network order) with
 * 'ttl' owned by the question's name (a compression pointer), AA set, RD copied, and an OPT
 * record if the query had one. Returns 0 and sets '*lenp', or ENOSPC. */
int dns_build_answer(const struct dns_query *q, uint8_t rcode, const uint32_t *addrs,
                     size_t n_addrs, uint32_t ttl, uint8_t *out, size_t cap, size_t *lenp);

/* Builds a query. With 'size', the message is exactly 'size' bytes, padded by an EDNS0
 * padding option; EINVAL if 'size' is below what the name and options need (or over 65535)
 * or the name is not a valid name; ENOSPC if 'cap' is too small. */
int dns_build_query(const struct dns_query_spec *, uint8_t *out, size_t cap, size_t *lenp);
/* The smallest 'size' dns_build_query() accepts for 'spec' (its own size ignored). */
int dns_query_min_size(const struct dns_query_spec *, size_t *sizep);

/* Parses a response: QR set, at most one question, every record of every section checked.
 * Returns 0 or EINVAL. */
int dns_parse_response(const uint8_t *msg, size_t len, struct dns_response *);

/* Converts "www.example.com" to wire form. Returns 0 or EINVAL (empty label, label over 63,
 * name over 255, backslash escapes which are not supported). */
int dns_name_from_str(const char *, uint8_t out[DNS_MAX_NAME], size_t *lenp);
/* Writes the presentation form ("www.example.com.") of a wire name, truncated to 'cap'; bytes
 * other than letters, digits, '-' and '_' are written as \DDD (so 4 * DNS_MAX_NAME + 1 bytes
 * always suffice). */
void dns_name_to_str(const uint8_t *name, size_t len, char *out, size_t cap);
/* Whether two wire names are equal ignoring ASCII case. */
bool dns_name_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);

#endif
