/* mitm — the attacker's rewrites, as pure functions on one captured frame, for the `sfcd mitm`
 * role (vnfs/sfc/mitm.c) and its unit test.
 *
 * A frame is plain Ethernet/IPv4, an NSH frame (ethertype 0x894F) carrying an inner Ethernet
 * frame, or a FIT-SFC wrapper's request (ethertype 0x88B6, vnfs/sfc/wrap.h) carrying one; the rewrites act on the innermost UDP (or TCP) packet and leave every checksum right
 * (IPv4 header and UDP/TCP), so the receiver cannot tell the frame was touched. Frames are
 * untrusted: nothing is written unless the whole frame parsed strictly (packet_parse, nsh_decode,
 * dns_parse_response); a frame that does not parse is left as it was. Never allocates, never
 * does I/O. */
#ifndef SFC_MITM_H
#define SFC_MITM_H 1

#include <stddef.h>
#include <stdint.h>

struct ft_rng;

/* Rewrites every A record (class IN) in the answer section of a DNS response from port 53 to
 * 'spoof_ip_be'. Returns 0 if at least one record was rewritten (the count in '*np' if not
 * NULL), ENOENT if the frame is not a DNS answer with an A record, EINVAL if malformed. */
int mitm_dns_spoof(uint8_t *frame, size_t len, uint32_t spoof_ip_be, size_t *np);

/* Inverts one byte, drawn from 'rng', of the UDP/TCP payload. Returns 0, ENOENT if there is no
 * payload, or EINVAL if malformed. */
int mitm_flip(uint8_t *frame, size_t len, struct ft_rng *);

/* The attacker's modes, in the order of its enum, NULL-terminated: the one list that `sfcd
 * mitm --mode`, the mitm injector and the experiment model take. */
extern const char *const mitm_mode_names[];

#endif
