/* Fuzz target: FTvNF's log carriers in the attacker's hands (vnfs/sfc/mitm.h): the frame-level
 * carrier parser (NSH next protocol 0xFF, the carrier's first word in NSH_TLV_PACKET_ID, its
 * records, the carried packet), the packet its last logger would send on (the LOG_PKT
 * record's delta applied), and the rewrites of that packet. On every input (abort() is a
 * finding):
 *  - a rewrite refused leaves the frame and its length exactly as they were;
 *  - a rewrite accepted leaves a carrier that still parses, with the Ethernet and NSH headers,
 *    the id, the destinations, every record but the LOG_PKT one and, when there is a LOG_PKT
 *    record, the carried packet (what the slave replays) as they were;
 *  - flip: the packet that goes on differs in one byte of its UDP/TCP payload, inverted, and
 *    in its checksums (right if they were);
 *  - dns-spoof: the packet that goes on is a DNS response whose every A record is the forged
 *    address.
 * Frames that are no carrier are fuzz_mitm's. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/dns.h"
#include "vnfs/lib/packet.h"
#include "vnfs/ft/rng.h"
#include "vnfs/sfc/mitm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SPOOF_IP 0x06060606u
#define GROWTH 256

#define CHECK(cond) do { if (!(cond)) { abort(); } } while (0)

static bool
csums_ok(const uint8_t *frame, const struct packet_info *pi)
{
    const uint8_t *ip = frame + pi->l3_ofs;
    size_t ihl = (ip[0] & 0x0f) * 4;

    return packet_csum_fold(packet_csum_add(0, ip, ihl)) == 0xffff
           && (!pi->has_ports || packet_l4_csum_ok(frame, pi));
}

static bool
is_csum_byte(size_t i, const struct packet_info *pi)
{
    size_t ip_csum = pi->l3_ofs + 10;
    size_t l4_csum = pi->l4_ofs + (pi->flow.proto == 6 ? 16 : 6);

    return i == ip_csum || i == ip_csum + 1
           || (pi->has_ports && (i == l4_csum || i == l4_csum + 1));
}

/* What must not change in an accepted carrier: everything but the LOG_PKT record (and the
 * carried packet when there is none: it is the packet that goes on). */
static void
check_same_carrier(const uint8_t *data, size_t size, const uint8_t *frame, size_t len)
{
    struct buf b1 = BUF_INITIALIZER, b2 = BUF_INITIALIZER;
    struct mitm_carrier m1, m2;

    CHECK(!mitm_carrier_parse(data, size, &b1, &m1));
    CHECK(!mitm_carrier_parse(frame, len, &b2, &m2));
    CHECK(m1.rest_ofs == m2.rest_ofs && !memcmp(data, frame, m1.rest_ofs));
    CHECK(m1.c.id == m2.c.id && m1.c.to == m2.c.to && m1.c.sync == m2.c.sync);
    CHECK(m1.c.n_recs == m2.c.n_recs && !m1.delta == !m2.delta);
    for (size_t i = 0; i < m1.c.n_recs; i++) {
        const struct ftvnf_carry_rec *r1 = &m1.c.recs[i], *r2 = &m2.c.recs[i];

        CHECK(r1->logger == r2->logger && r1->type == r2->type);
        if (r1 == m1.delta) {
            CHECK(r2 == m2.delta && !memcmp(r1->body, r2->body, 9));
        } else {
            CHECK(r1->len == r2->len && !memcmp(r1->body, r2->body, r1->len));
        }
    }
    if (m1.delta) {
        CHECK(m1.c.len == m2.c.len && !memcmp(m1.c.payload, m2.c.payload, m1.c.len));
    } else {
        CHECK(len == size);
    }
    buf_uninit(&b1);
    buf_uninit(&b2);
}

static void
check_flip(const uint8_t *data, size_t size, uint8_t *frame, const struct buf *before)
{
    struct packet_info pi_before, pi_after;
    struct buf after = BUF_INITIALIZER;
    struct ft_rng rng;
    size_t len = size, changed = 0;
    int error;

    memcpy(frame, data, size);
    ft_rng_init(&rng, size);
    error = mitm_flip(frame, &len, size + GROWTH, &rng);
    if (error) {
        CHECK(len == size && !memcmp(frame, data, size));
        return;
    }
    check_same_carrier(data, size, frame, len);
    CHECK(!mitm_carrier_output(frame, len, &after));
    CHECK(after.len == before->len);
    CHECK(!packet_parse(before->data, before->len, &pi_before));
    CHECK(!packet_parse(after.data, after.len, &pi_after));
    CHECK(!csums_ok(before->data, &pi_before) || csums_ok(after.data, &pi_after));
    for (size_t i = 0; i < after.len; i++) {
        if (after.data[i] == before->data[i] || is_csum_byte(i, &pi_before)) {
            continue;
        }
        changed++;
        CHECK((after.data[i] ^ before->data[i]) == 0xff);
        CHECK(i >= pi_before.l7_ofs && i < pi_before.l7_ofs + pi_before.l7_len);
    }
    CHECK(changed == 1);
    buf_uninit(&after);
}

static void
check_spoof(const uint8_t *data, size_t size, uint8_t *frame, const struct buf *before)
{
    struct buf after = BUF_INITIALIZER;
    struct packet_info pi;
    struct dns_response r;
    size_t len = size, n = 0;
    int error;

    memcpy(frame, data, size);
    error = mitm_dns_spoof(frame, &len, size + GROWTH, SPOOF_IP, &n);
    if (error) {
        CHECK(len == size && !memcmp(frame, data, size));
        return;
    }
    CHECK(n >= 1);
    check_same_carrier(data, size, frame, len);
    CHECK(!mitm_carrier_output(frame, len, &after));
    CHECK(after.len == before->len);
    CHECK(!packet_parse(after.data, after.len, &pi) && pi.has_ports);
    CHECK(!dns_parse_response(after.data + pi.l7_ofs, pi.l7_len, &r));
    CHECK(r.n_addrs >= 1);
    for (size_t i = 0; i < r.n_addrs && i < DNS_MAX_ADDRS; i++) {
        CHECK(r.addrs[i] == SPOOF_IP);
    }
    buf_uninit(&after);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf bytes = BUF_INITIALIZER, before = BUF_INITIALIZER;
    struct mitm_carrier mc;
    uint8_t *frame;
    int error;

    if (size > 65535) {
        return 0;
    }
    error = mitm_carrier_parse(data, size, &bytes, &mc);
    if (!error) {
        CHECK(mc.payload_ofs + mc.c.len == size && mc.rest_ofs <= mc.payload_ofs);
        CHECK(!memcmp(data + mc.payload_ofs, mc.c.payload, mc.c.len));
    }
    if (!error && !mitm_carrier_output(data, size, &before)) {
        frame = malloc(size + GROWTH);
        check_flip(data, size, frame, &before);
        check_spoof(data, size, frame, &before);
        free(frame);
    } else if (error != ENOENT) {
        /* A malformed carrier: every rewrite refuses it untouched. */
        struct ft_rng rng;
        size_t len = size;

        frame = malloc(size ? size : 1);
        memcpy(frame, data, size);
        ft_rng_init(&rng, 1);
        CHECK(mitm_flip(frame, &len, size, &rng) && len == size && !memcmp(frame, data, size));
        CHECK(mitm_dns_spoof(frame, &len, size, SPOOF_IP, NULL) && len == size
              && !memcmp(frame, data, size));
        free(frame);
    }
    buf_uninit(&bytes);
    buf_uninit(&before);
    return 0;
}
