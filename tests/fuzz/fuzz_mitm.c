/* Fuzz target: the attacker's rewrites (vnfs/sfc/mitm.h) on untrusted frames: plain, NSH, NHAM
 * DATA or FIT-SFC wrapper frames. What mitm.h promises, asserted on every input (abort() is a
 * finding; FTvNF's log carriers are fuzz_mitm_carrier's):
 *  - a frame a rewrite refuses is left exactly as it was;
 *  - a frame it accepts still parses, with right checksums if the input's were;
 *  - dns-spoof: the answer still parses as a DNS response, and every A record it holds is the
 *    spoofed address (as many as it said it rewrote);
 *  - flip: exactly one payload byte differs, inverted; nothing else but the checksums. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/dns.h"
#include "vnfs/lib/nsh.h"
#include "vnfs/lib/packet.h"
#include "vnfs/ft/rng.h"
#include "vnfs/ft/nham/nham.h"
#include "vnfs/sfc/mitm.h"
#include "vnfs/sfc/nhamfrag.h"
#include "vnfs/sfc/wrap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SPOOF_IP 0x06060606u

#define CHECK(cond) do { if (!(cond)) { abort(); } } while (0)

/* The innermost Ethernet frame's offset (after NSH, after NHAM's DATA header and its NSH
 * header, or after a FIT-SFC wrapper's header), as mitm.c finds it; false if none. */
static bool
inner_ofs(const uint8_t *frame, size_t len, size_t *ofs)
{
    struct nsh_hdr hdr;

    if (len < PACKET_ETH_HLEN) {
        return false;
    }
    *ofs = 0;
    if (frame[12] == NHAM_ETHERTYPE >> 8 && frame[13] == (NHAM_ETHERTYPE & 0xff)) {
        struct nham_data d;

        if (nham_data_parse(frame + PACKET_ETH_HLEN, len - PACKET_ETH_HLEN, &d)
            && !nsh_decode(d.payload, d.payload_len, &hdr, NULL)
            && hdr.next_proto == NSH_NP_ETHERNET && d.payload_len >= hdr.len) {
            *ofs = (size_t) (d.payload - frame) + hdr.len;
            return true;
        }
    }
    if (frame[12] == NSH_ETHERTYPE >> 8 && frame[13] == (NSH_ETHERTYPE & 0xff)) {
        if (nsh_decode(frame + PACKET_ETH_HLEN, len - PACKET_ETH_HLEN, &hdr, NULL)
            || hdr.next_proto != NSH_NP_ETHERNET) {
            return false;
        }
        *ofs = PACKET_ETH_HLEN + hdr.len;
        return true;
    }
    if (frame[12] == WRAP_ETHERTYPE >> 8 && frame[13] == (WRAP_ETHERTYPE & 0xff)) {
        struct wrap_hdr w;

        if (!wrap_parse(frame, len, &w)) {
            return false;
        }
        *ofs = (size_t) (w.inner - frame);
    }
    return true;
}

/* Parses the inner frame of 'frame'; false if it does not. */
static bool
parse_inner(const uint8_t *frame, size_t len, size_t *ofs, struct packet_info *pi)
{
    return inner_ofs(frame, len, ofs) && !packet_parse(frame + *ofs, len - *ofs, pi);
}

static bool
csums_ok(const uint8_t *frame, size_t ofs, const struct packet_info *pi)
{
    const uint8_t *ip = frame + ofs + pi->l3_ofs;
    size_t ihl = (ip[0] & 0x0f) * 4;

    return packet_csum_fold(packet_csum_add(0, ip, ihl)) == 0xffff
           && (!pi->has_ports || packet_l4_csum_ok(frame + ofs, pi));
}

/* Whether byte 'i' of the frame is part of a checksum field of the inner packet. */
static bool
is_csum_byte(size_t i, size_t ofs, const struct packet_info *pi)
{
    size_t ip_csum = ofs + pi->l3_ofs + 10;
    size_t l4_csum = ofs + pi->l4_ofs + (pi->flow.proto == 6 ? 16 : 6);

    return i == ip_csum || i == ip_csum + 1
           || (pi->has_ports && (i == l4_csum || i == l4_csum + 1));
}

static void
check_spoof(const uint8_t *data, size_t size, uint8_t *frame)
{
    struct packet_info before, after;
    struct dns_response r;
    size_t ofs, n = 0;
    int error;

    size_t len = size;

    memcpy(frame, data, size);
    error = mitm_dns_spoof(frame, &len, size, SPOOF_IP, &n);
    if (error) {
        CHECK(len == size && !memcmp(frame, data, size));
        return;
    }
    CHECK(n >= 1);
    CHECK(parse_inner(data, size, &ofs, &before));
    CHECK(parse_inner(frame, size, &ofs, &after));
    CHECK(!csums_ok(data, ofs, &before) || csums_ok(frame, ofs, &after));
    CHECK(after.has_ports && after.l7_len == before.l7_len);
    CHECK(!dns_parse_response(frame + ofs + after.l7_ofs, after.l7_len, &r));
    CHECK(r.n_addrs >= 1);
    for (size_t i = 0; i < r.n_addrs && i < DNS_MAX_ADDRS; i++) {
        CHECK(r.addrs[i] == SPOOF_IP);
    }
}

static void
check_flip(const uint8_t *data, size_t size, uint8_t *frame)
{
    struct packet_info before, after;
    struct ft_rng rng;
    size_t ofs, changed = 0;
    int error;

    size_t len = size;

    memcpy(frame, data, size);
    ft_rng_init(&rng, size);
    error = mitm_flip(frame, &len, size, &rng);
    if (error) {
        CHECK(len == size && !memcmp(frame, data, size));
        return;
    }
    CHECK(parse_inner(data, size, &ofs, &before));
    CHECK(parse_inner(frame, size, &ofs, &after));
    CHECK(!csums_ok(data, ofs, &before) || csums_ok(frame, ofs, &after));
    for (size_t i = 0; i < size; i++) {
        if (frame[i] == data[i] || is_csum_byte(i, ofs, &before)) {
            continue;
        }
        changed++;
        CHECK((frame[i] ^ data[i]) == 0xff);
        CHECK(i >= ofs + before.l7_ofs && i < ofs + before.l7_ofs + before.l7_len);
    }
    CHECK(changed == 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf bytes = BUF_INITIALIZER;
    struct mitm_carrier mc;
    uint8_t *frame;
    bool carrier;

    if (size > 65535) {
        return 0;
    }
    carrier = !mitm_carrier_parse(data, size, &bytes, &mc);
    buf_uninit(&bytes);
    if (carrier) {
        return 0;           /* FTvNF's log carriers are fuzz_mitm_carrier's. */
    }
    frame = malloc(size ? size : 1);
    check_spoof(data, size, frame);
    check_flip(data, size, frame);
    free(frame);
    return 0;
}
