/* Fuzz target: the DNS codec (vnfs/lib/dns.h) on untrusted messages.
 *
 * Every input goes through both parsers. A query that parses must yield an answer that our
 * own response parser accepts with the same id and question: the dns function and the dns
 * client must agree on every message the function can build. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dns_query q;
    struct dns_response r;
    char name[4 * DNS_MAX_NAME + 1];

    if (!dns_parse_query(data, size, &q)) {
        uint8_t answer[DNS_HEADER_LEN + DNS_MAX_NAME + 4 + 4 * 16 + DNS_OPT_LEN];
        uint32_t addrs[4] = { 0x0100000a, 0x0200000a, 0x0300000a, 0x0400000a };
        size_t len;

        dns_name_to_str(q.qname, q.qname_len, name, sizeof name);
        if (dns_build_answer(&q, DNS_RCODE_NOERROR, addrs, 4, 60, answer, sizeof answer, &len)
            || dns_parse_response(answer, len, &r)
            || r.id != q.id || r.n_addrs != 4
            || !dns_name_equal(r.qname, r.qname_len, q.qname, q.qname_len)) {
            abort();
        }
    }
    if (!dns_parse_response(data, size, &r)) {
        dns_name_to_str(r.qname, r.qname_len, name, sizeof name);
        if (r.n_addrs > DNS_MAX_ADDRS) {
            abort();
        }
    }
    return 0;
}
