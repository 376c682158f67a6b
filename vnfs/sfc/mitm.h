/* mitm — the attacker's rewrites, as pure functions on one captured frame, for the `sfcd mitm`
 * role (vnfs/sfc/mitm.c) and its unit test.
 *
 * A frame is plain Ethernet/IPv4, an NSH frame (ethertype 0x894F) carrying an inner Ethernet
 * frame, a FIT-SFC wrapper's request (ethertype 0x88B6, vnfs/sfc/wrap.h) carrying one, or an
 * FTvNF log carrier (NSH, next protocol NSH_NP_EXPERIMENT2: a packet on its way through the
 * loggers with their records, vnfs/ft/ftvnf/ftvnf.h, vnfs/sfc/ftvnf.c). The rewrites act on the
 * innermost UDP (or TCP) packet and leave every checksum right (IPv4 header and UDP/TCP), so
 * the receiver cannot tell the frame was touched. In a carrier that packet is the one its last
 * logger sends on: the carried packet, or, if the carrier has a LOG_PKT record, the carried
 * packet with that record's delta applied; then the attacker rewrites the delta (the frame may
 * change length, never beyond 'cap') and leaves the carried packet, what the slave replays, as
 * it was. Frames are untrusted: nothing is written unless the whole frame parsed strictly
 * (packet_parse, nsh_decode, ftvnf_carry_parse, ftvnf_delta_apply, dns_parse_response); a frame
 * that does not parse is left as it was, '*lenp' too. Allocates scratch buffers for carriers
 * only; never does I/O. */
#ifndef SFC_MITM_H
#define SFC_MITM_H 1

#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/buf.h"
#include "vnfs/ft/ftvnf/ftvnf.h"

struct ft_rng;

/* Rewrites every A record (class IN) in the answer section of a DNS response from port 53 to
 * 'spoof_ip_be'. Returns 0 if at least one record was rewritten (the count in '*np' if not
 * NULL), ENOENT if the frame is not a DNS answer with an A record, EINVAL if malformed. */
int mitm_dns_spoof(uint8_t *frame, size_t *lenp, size_t cap, uint32_t spoof_ip_be, size_t *np);

/* Inverts one byte, drawn from 'rng', of the UDP/TCP payload. Returns 0, ENOENT if there is no
 * payload, EINVAL if malformed, or E2BIG if a carrier would outgrow 'cap'. */
int mitm_flip(uint8_t *frame, size_t *lenp, size_t cap, struct ft_rng *);

/* An FTvNF log carrier found in a frame. */
struct mitm_carrier {
    struct ftvnf_carry c;                   /* Points into the caller's 'bytes'. */
    const struct ftvnf_carry_rec *delta;    /* The LOG_PKT record (id(8) flag(1) delta), or
                                             * NULL: the carried packet goes on as it is. */
    size_t rest_ofs;        /* Where the carrier's bytes after its first word start. */
    size_t payload_ofs;     /* Where the carried packet starts in the frame. */
};

/* Parses 'frame' as an FTvNF log carrier; 'bytes' (the caller's) gets the carrier as
 * ftvnf_carry_parse takes it. Returns 0, ENOENT if the frame is no NSH frame with next
 * protocol NSH_NP_EXPERIMENT2, EINVAL if it is one but malformed. */
int mitm_carrier_parse(const uint8_t *frame, size_t len, struct buf *bytes,
                       struct mitm_carrier *);
/* The packet a carrier's last logger sends on, into 'out' (cleared first). Returns 0, ENOENT
 * or EINVAL as mitm_carrier_parse, EINVAL also if the delta does not apply. */
int mitm_carrier_output(const uint8_t *frame, size_t len, struct buf *out);

/* The attacker's modes, in the order of its enum, NULL-terminated: the one list that `sfcd
 * mitm --mode`, the mitm injector and the experiment model take. */
extern const char *const mitm_mode_names[];

#endif
