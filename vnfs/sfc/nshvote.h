/* nshvote — an NSH frame as one copy in a vote, and the decided copy back as a frame: the glue
 * between the NSH path and the voting cores of vnfs/ft (the demo `voter`, FIT-SFC's
 * `bft_voter`) that every voting hop shares: the SFF (what VNF replicas and, in FIT-SFC,
 * classifier replicas send it), a replicated VNF (what the SFF replicas send it) and FIT-SFC's
 * client wrapper (the replies of the SFF replicas).
 *
 * A copy is a demo message (vnfs/ft/demo/demo.h): req_id is the NSH request id, client its
 * upper 32 bits (FIT-SFC's wrapper puts the client's id there), origin the sender's index in
 * its group, and the body the NSH header without the sender's own timestamp (the last context
 * header when it is a timestamp: the one field in which correct replicas differ) followed by
 * the inner frame. Everything else is compared: a replica that changes any byte of the header
 * or the inner frame is outvoted.
 *
 * Never allocates except in the caller's buffers; never does I/O but the optional trace line.
 * Main type: none (functions on struct nsh_hdr, struct buf and struct pktio_pkt). */
#ifndef SFC_NSHVOTE_H
#define SFC_NSHVOTE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/nsh.h"
#include "vnfs/lib/pktio.h"

/* Appends to 'out' the copy of the NSH frame 'nsh' (its bytes after the outer Ethernet header,
 * 'len' of them, decoded as 'hdr') sent by the group's member 'origin'. '*own_ts' gets the
 * sender's timestamp and '*has_ts' whether there was one. Returns 0, or EINVAL when the
 * header carries no request id (nothing names the packet: it cannot be voted on). */
int nshvote_copy(const uint8_t *nsh, size_t len, const struct nsh_hdr *hdr, uint32_t origin,
                 struct buf *out, struct nsh_timestamp *own_ts, bool *has_ts);

/* Builds in 'scratch' ('cap' bytes) an Ethernet frame (MACs zero, ethertype NSH) around the
 * decided copy 'msg', leaving NSH_MAX_LEN bytes of headroom for timestamps to come. Fills
 * '*pkt' and '*hdr'. Returns 0, EINVAL (not a copy of an NSH frame) or EMSGSIZE. */
int nshvote_frame(const uint8_t *msg, size_t len, uint8_t *scratch, size_t cap,
                  struct pktio_pkt *pkt, struct nsh_hdr *hdr);

/* The sender's timestamp as trace samples (hop_ns inside it, link_ns from it to us at 't_in'),
 * in the TSV of client.c, labelled with the request and the sender's component id. */
void nshvote_trace(FILE *, const struct nsh_timestamp *, uint64_t req, uint64_t t_in);

#endif
