/* rule — the classifier's 5-tuple rules, parsed from the chain descriptor's text form and
 * matched against a parsed flow.
 *
 * Text form: comma-separated terms, all of which must match:
 *   udp | tcp | icmp | proto=N     IP protocol (omitted: any)
 *   src=A.B.C.D[/LEN]  dst=...     IPv4 prefix
 *   sport=N[-M]  dport=N[-M]       port or range (UDP/TCP only)
 *   spi=N                          service path for matching flows (default: the classifier's)
 * e.g. "udp,dport=53" or "tcp,dst=10.0.0.0/24,dport=80-88,spi=7". Matching never allocates.
 * Main type: struct rule. */
#ifndef SFC_RULE_H
#define SFC_RULE_H 1

#include <stdbool.h>
#include <stdint.h>

struct packet_flow;

struct rule {
    uint8_t proto;                  /* 0: any. */
    uint32_t src, src_mask;         /* Host byte order. */
    uint32_t dst, dst_mask;
    uint16_t sport_lo, sport_hi;
    uint16_t dport_lo, dport_hi;
    bool has_ports;                 /* A port term was given: only UDP/TCP can match. */
    uint32_t spi;                   /* 0: the classifier's default. */
};

/* Returns 0, or EINVAL with a malloc'd message naming the bad term in '*errp'. */
int rule_parse(const char *, struct rule *, char **errp);
bool rule_match(const struct rule *, const struct packet_flow *);

#endif
