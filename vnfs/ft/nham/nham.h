/* nham — NHAM's protocol cores: Hold/Release in the SFF, the paper's stateful VNF, and the
 * State Synchronizer (VSM) with its state database.
 *
 * Three core classes (vnfs/ft/registry.c):
 *  - nham_sff:  the SFF's Hold/Release. It stamps a counter id on every packet it encapsulates,
 *               keeps per VNF a buffer_rx (packets sent to the VNF and not yet included in a
 *               saved checkpoint) and a buffer_tx mark (the last counter the VNF output, passed
 *               on toward the next VNF), releases buffer_rx only after the VSM has saved a
 *               checkpoint that includes its packets, replays buffer_rx to a VNF that recovered
 *               from its last checkpoint, and suppresses what the recovered VNF outputs again
 *               toward the next VNF. A VNF is 'recovering' between the failure notice and its
 *               READY: nothing is sent to it, packets wait in its buffer_rx.
 *               next = the chain's VNFs in order; peers = [vsm, egress].
 *  - nham_vnf:  a stateful forwarder (a packet count, a digest and 'state_bytes' of state touched
 *               per packet, the paper's ~512 KB VNF). It stamps its own count on each packet it
 *               processes, so whoever reads the end of the chain can tell a state that skipped
 *               or repeated a packet. After a restart (incarnation n > 0) it asks the VSM for its
 *               last checkpoint, imports it and tells the SFF READY(n, counter in checkpoint).
 *               peers = [sff, vsm].
 *  - nham_vsm:  checkpoints each VNF at its interval (parameter 'checkpoint', per VNF
 *               'checkpoint.<i>'), keeps the latest image per VNF (the state database: one image
 *               per VNF in memory, replaced only by a newer one, because Hold/Release needs the
 *               latest image only and the SFF's buffer_rx keeps everything after it), answers a
 *               restarted VNF with it, and never accepts an image from an incarnation older than
 *               one it already restored (that image's packets may have been replayed since).
 *               group = the chain's VNFs in order; peers = [sff].
 *
 * What the cores do not do: detect failures (the FMS does, host side; here a failure notice is
 * FT_EV_PEER_DOWN) nor start replacement guests. Links SFF <-> VNF are assumed FIFO and
 * lossless while both ends live (a veth pair through the switch); a crash loses what the dead
 * VNF held, which is exactly what buffer_rx is for.
 *
 * Wire format (big-endian; first byte the type). The parsers here take untrusted bytes
 * (tests/fuzz/fuzz_nham.c). */
#ifndef SFC_FT_NHAM_H
#define SFC_FT_NHAM_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/buf.h"

enum nham_msg_type {
    NHAM_DATA = 1,          /* SFF <-> VNF, SFF -> egress: epoch(4) counter(8) n(1) stamps(8n)
                             * payload. */
    NHAM_CKPT_REQ = 2,      /* VSM -> SFF: vnf(4). Take a checkpoint of VNF 'vnf' now. */
    NHAM_CKPT_STORE = 3,    /* SFF -> VSM: vnf(4) epoch(4) counter(8) image. */
    NHAM_CKPT_SAVED = 4,    /* VSM -> SFF: vnf(4) counter(8). Stored: release up to counter. */
    NHAM_READY = 5,         /* VNF -> SFF: epoch(4) counter(8). Restored; replay after counter. */
    NHAM_RESTORE_REQ = 6,   /* VNF -> VSM: epoch(4). Send me my last checkpoint; the answer
                             * is a state message: epoch(4) of the request, then the image
                             * (none: no checkpoint yet). */
};

#define NHAM_MAX_STAMPS 64

struct nham_data {
    uint32_t epoch;             /* The VNF incarnation the SFF sent it to (stale ones dropped). */
    uint64_t counter;           /* Stamped once by the SFF at encapsulation. */
    uint8_t n_stamps;           /* One per VNF passed: its packet count after processing. */
    uint64_t stamps[NHAM_MAX_STAMPS];
    const uint8_t *payload;
    size_t payload_len;
};

/* A DATA's fixed header: type(1) epoch(4) counter(8) n(1); then its stamps and payload. */
#define NHAM_DATA_HDR 14
/* Writes to 'out' (nham_data_len(d) + 8 bytes) the DATA 'data' that 'd' was parsed from with
 * 'stamp' added after its stamps (d->n_stamps < NHAM_MAX_STAMPS): what nham_data_put() gives
 * for 'd' with that stamp appended, in one copy. 'out' may be 'data' - 8, in the room before
 * it: only the header moves then, the payload stays where it was received. */
void nham_data_stamp(uint8_t *out, const uint8_t *data, const struct nham_data *,
                     uint64_t stamp);
bool nham_data_parse(const uint8_t *, size_t, struct nham_data *);
void nham_data_put(struct buf *, const struct nham_data *);
/* The encoded length of 'd', and its encoding written to that many bytes at 'p'. */
size_t nham_data_len(const struct nham_data *);
void nham_data_write(uint8_t *p, const struct nham_data *);

/* The fixed-size messages. */
struct nham_ctl {
    enum nham_msg_type type;
    uint32_t vnf;               /* CKPT_REQ, CKPT_STORE, CKPT_SAVED. */
    uint32_t epoch;             /* CKPT_STORE, READY, RESTORE_REQ. */
    uint64_t counter;           /* CKPT_STORE, CKPT_SAVED, READY. */
    const uint8_t *image;       /* CKPT_STORE. */
    size_t image_len;
};

bool nham_ctl_parse(const uint8_t *, size_t, struct nham_ctl *);
void nham_ctl_put(struct buf *, const struct nham_ctl *);

/* A nham_vnf state image: epoch(4) counter(8) count(8) digest(8) n(4) state(n). */
struct nham_image {
    uint32_t epoch;
    uint64_t counter;           /* The last packet (SFF counter) the checkpoint includes. */
    uint64_t count;             /* Packets the VNF's state has absorbed. */
    uint64_t digest;
    const uint8_t *state;
    uint32_t state_len;
};

bool nham_image_parse(const uint8_t *, size_t, struct nham_image *);

#endif
