/* vnf_ftc — FTC (vnfs/ft/ftc) inside a VNF guest: the ring member co-located with its
 * middlebox, plus the forwarder on the chain's first VNF and the buffer on its last, each on the
 * stage of vnfs/sfc/ftstage.h (the same cores tests/sim runs).
 *
 * Carrier on the wire. An FTC packet rides the NSH path between VNFs (through the SFF, which
 * forwards by SPI and SI as for any frame) with next protocol NSH_NP_EXPERIMENT1 (0xFE): the NSH
 * header, then the FTC packet (type, piggyback message, inner Ethernet frame). The piggyback
 * message is self-delimiting (counts and lengths) and may be larger than the 248 bytes of
 * context NSH's own header could hold (NSH_TLV_PIGGYBACK_LOG / NSH_TLV_COMMIT_VECTOR would
 * cap a log at 127 bytes). The first VNF receives plain NSH/Ethernet from the classifier, the
 * buffer on the last one releases NSH/Ethernet toward the SFF's decapsulation, or, for a reply a
 * middlebox made in place (dns; FTC_PKT_REPLY), on the reverse path (SPI | NSH_SPI_REVERSE, SI
 * 255, as vnf.c sends an NF_REPLY) back toward the client. Peer messages
 * (the buffer's piggyback message to the forwarder, retransmissions, state fetches) go straight
 * between guests' data MACs as sealed ftstage messages (ethertype FTSTAGE_ETHERTYPE); those
 * between the first and the last VNF on their own link when there is one (cfg.link: the
 * paper's state link from buffer to forwarder), else through the switch.
 *
 * Endpoints: 0 outside, 1+i the ring member of VNF i, 100 the forwarder, 101 the buffer.
 * Actions between stages of one guest are queued and run from the loop (never re-entering a
 * stage from its own action). The forwarder and the buffer run on a thread of their own
 * (VNF_FTC_THREAD_NAME, its own loop), the ring member on the role's: what one hands the
 * other goes over a batch at a time (a locked queue and an eventfd). Never blocks. Main
 * types: struct vnf_ftc, struct vnf_ftc_config. */
#ifndef SFC_VNF_FTC_H
#define SFC_VNF_FTC_H 1

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "vnfs/lib/pktio.h"

struct role;
struct vnf_ftc;

#define VNF_FTC_MAX_RING 16
/* A peer message's largest payload: sealed (60 bytes more) and behind the Ethernet header, it
 * rides one frame of a 1500-byte MTU. */
#define VNF_FTC_MAX_MSG_LEN 1380
/* The thread of the forwarder and the buffer (on the chain's first and last VNF), by which
 * the host finds it to give it a CPU quota of its own (testbed/deploy/deploy.c). */
#define VNF_FTC_THREAD_NAME "ftc-end"

struct vnf_ftc_config {
    unsigned index;                     /* This VNF's position. */
    unsigned n;                         /* VNFs in the chain (the ring). */
    unsigned f;
    uint8_t ring[VNF_FTC_MAX_RING][6];  /* Data MAC of each VNF's guest. */
    unsigned partitions;
    unsigned threads;                   /* The head's transaction threads (0: 1). */
    uint64_t tick_ns;
    uint32_t incarnation;               /* > 0: a replacement, fetches its groups' state. */
    const char *mbox_params;            /* "FN KEY=VALUE ...": the function's middlebox. */
    const uint8_t *key;                 /* FTSTAGE_KEY_LEN bytes. */
    /* The first and the last VNF: an interface straight to the other one (a veth between the
     * two guests, bypassing the switch), or NULL. The buffer's piggyback messages and the
     * front's commits to the buffer go there: the paper gives this state path a link of its
     * own. While it is missing or broken (the other guest was replaced), the data interface. */
    const char *link;
};

int vnf_ftc_create(const struct vnf_ftc_config *, struct role *, struct vnf_ftc **,
                   char **errp);
void vnf_ftc_destroy(struct vnf_ftc *);
/* The bytes of logs the buffer puts in one message to the forwarder, on a chain of 'n' VNFs of
 * 'partitions' partitions (0: 1): what VNF_FTC_MAX_MSG_LEN leaves beside its counts and a
 * commit vector per group. */
size_t vnf_ftc_buffer_max_logs(unsigned n, unsigned partitions);
/* A frame for us (NSH to our MAC or an ftstage message); false if it is neither. */
bool vnf_ftc_frame(struct vnf_ftc *, struct pktio_pkt *, uint64_t t_in);
/* Adds its counters to the role. */
void vnf_ftc_register(struct vnf_ftc *, struct role *);
/* On the chain's first VNF (the forwarder's): the end's thread reads new packets only while
 * the forwarder's window has room for them, and leaves the rest in the socket's queue.
 * Registers the counter of that. */
void vnf_ftc_rx_backpressure(struct vnf_ftc *);
/* For the control socket's ftc_state: {"ready": bool, "groups": [{"group", "epoch", "max",
 * "entries", "digest", "state" (base64 export)}]}, one per group this member has. */
json_t *vnf_ftc_state(const struct vnf_ftc *);

#endif
