/* bench_dns — the DNS codec the dns function runs per packet, against ldns doing the same job:
 * parse a 512-byte padded query and build the A answer. Median of 5 runs of N messages each;
 * prints ns per message for both and their ratio (ldns / ours). Both answers are checked to
 * carry the same address, so the two do the same work. */
#include <arpa/inet.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/dns.h"
#include "vnfs/lib/util.h"

#define RUNS 5
#define N 200000

static uint8_t query[512];
static size_t query_len;
static const uint32_t addr_be = 0x5000000a;     /* 10.0.0.80 */

static size_t
ours_once(uint8_t *out, size_t cap)
{
    struct dns_query q;
    size_t len;

    if (dns_parse_query(query, query_len, &q)
        || dns_build_answer(&q, DNS_RCODE_NOERROR, &addr_be, 1, 300, out, cap, &len)) {
        sfc_abort("ours failed");
    }
    return len;
}

static size_t
ldns_once(uint8_t *out, size_t cap)
{
    ldns_pkt *q = NULL;
    uint8_t *wire;
    size_t len;

    if (ldns_wire2pkt(&q, query, query_len) != LDNS_STATUS_OK) {
        sfc_abort("ldns parse failed");
    }
    ldns_pkt *a = ldns_pkt_new();
    ldns_pkt_set_id(a, ldns_pkt_id(q));
    ldns_pkt_set_qr(a, true);
    ldns_pkt_set_aa(a, true);
    ldns_pkt_set_rd(a, ldns_pkt_rd(q));
    ldns_rr *question = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q), 0));
    ldns_pkt_push_rr(a, LDNS_SECTION_QUESTION, question);
    ldns_rr *rr = ldns_rr_new();
    ldns_rr_set_owner(rr, ldns_rdf_clone(ldns_rr_owner(question)));
    ldns_rr_set_type(rr, LDNS_RR_TYPE_A);
    ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
    ldns_rr_set_ttl(rr, 300);
    ldns_rr_push_rdf(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, &addr_be));
    ldns_pkt_push_rr(a, LDNS_SECTION_ANSWER, rr);
    ldns_pkt_set_edns_udp_size(a, DNS_EDNS_UDP_SIZE);
    if (ldns_pkt2wire(&wire, a, &len) != LDNS_STATUS_OK || len > cap) {
        sfc_abort("ldns build failed");
    }
    memcpy(out, wire, len);
    free(wire);
    ldns_pkt_free(a);
    ldns_pkt_free(q);
    return len;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return (x > y) - (x < y);
}

static double
median_ns(size_t (*once)(uint8_t *, size_t))
{
    uint64_t t[RUNS];
    uint8_t out[1024];

    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = time_mono_ns();
        for (int i = 0; i < N; i++) {
            once(out, sizeof out);
        }
        t[r] = time_mono_ns() - t0;
    }
    qsort(t, RUNS, sizeof *t, cmp_u64);
    return (double) t[RUNS / 2] / N;
}

int
main(void)
{
    struct dns_query_spec spec = { .id = 1, .name = "www.example.com", .qtype = DNS_TYPE_A,
                                   .rd = true, .size = sizeof query };
    uint8_t a[1024], b[1024];
    struct dns_response ra, rb;

    if (dns_build_query(&spec, query, sizeof query, &query_len)) {
        sfc_abort("cannot build the query");
    }
    size_t la = ours_once(a, sizeof a), lb = ldns_once(b, sizeof b);
    if (dns_parse_response(a, la, &ra) || dns_parse_response(b, lb, &rb)
        || ra.n_addrs != 1 || rb.n_addrs != 1 || ra.addrs[0] != rb.addrs[0]) {
        sfc_abort("the two codecs disagree");
    }

    double ldns = median_ns(ldns_once);
    double ours = median_ns(ours_once);
    printf("dns codec, parse a %zu-byte query + build the A answer, median of %d x %d:\n",
           query_len, RUNS, N);
    printf("  ldns   %8.1f ns/message\n", ldns);
    printf("  sfclab %8.1f ns/message  (ldns / sfclab = %.1fx)\n", ours, ldns / ours);
    return 0;
}
