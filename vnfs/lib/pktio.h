/* pktio — raw Ethernet frames on one guest interface through an AF_PACKET socket (SOCK_RAW,
 * bound to the interface's index), received and sent in batches with recvmmsg/sendmmsg.
 *
 * Every received frame sits in its own slot with PKTIO_HEADROOM free bytes before it, so a
 * role can prepend an outer Ethernet + NSH header, or grow the NSH header, without copying the
 * inner packet. Frames this socket sent are not received back (PACKET_IGNORE_OUTGOING). The
 * kernel's qdisc is bypassed on transmit. pktio never parses what it carries and never spawns
 * anything; it is not thread-safe. Main types: struct pktio, struct pktio_pkt. */
#ifndef SFC_PKTIO_H
#define SFC_PKTIO_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKTIO_HEADROOM  320         /* > outer Ethernet (14) + the largest NSH header (252). */
#define PKTIO_FRAME_MAX 9216        /* Longer frames are dropped and counted as truncated. */
#define PKTIO_BATCH     32

struct pktio;

/* A received frame: 'data' may be moved down by up to 'room' bytes and the frame grown up to
 * 'cap' bytes from 'data'. Valid until the next pktio_recv_batch() on the same socket. */
struct pktio_pkt {
    uint8_t *data;
    size_t len;
    size_t room;
    size_t cap;
};

struct pktio_stats {
    uint64_t rx_packets, rx_bytes;
    uint64_t tx_packets, tx_bytes;
    uint64_t rx_truncated;          /* Frames longer than PKTIO_FRAME_MAX. */
    uint64_t tx_errors;             /* Frames the kernel refused (e.g. ENOBUFS). */
    uint64_t rx_dropped;            /* Frames the kernel dropped on a full receive queue
                                     * (PACKET_STATISTICS: read when a backlog of full batches
                                     * ends, every 64 receives and by pktio_read_drops()). */
    uint64_t rx_calls;              /* recvmmsg calls, the dry ones too. */
};

/* Opens 'ifname' in the current network namespace; 'promisc' also receives frames addressed to
 * other MACs. Returns 0 or an errno (ENODEV if there is no such interface). */
int pktio_open(const char *ifname, bool promisc, struct pktio **);
/* The same, receiving only frames of Ethernet type 'ethertype' (for example a protocol's
 * control messages, on a queue of their own beside the data's). */
int pktio_open_ethertype(const char *ifname, bool promisc, uint16_t ethertype,
                         struct pktio **);
void pktio_close(struct pktio *);

int pktio_fd(const struct pktio *);
/* Has the kernel drop frames of Ethernet type 'ethertype' before they reach this socket's
 * queue (a classic BPF filter). Returns 0 or an errno. */
int pktio_drop_ethertype(struct pktio *, uint16_t ethertype);
/* Opens '*entriesp', a second socket on the interface of 'io' that keeps only the entries of
 * paths, and leaves 'io' everything else (an SFF's admission window, sfcd sff --window: the
 * frames already in the chain are read first). An entry is an NSH frame (Ethernet type
 * 0x894F) at service index 255 on a forward path (the reverse bit of the SPI clear), i.e. what
 * a classifier sends. Returns 0 or an errno; on error nothing is left open. */
int pktio_open_entries(struct pktio *io, struct pktio **entriesp);
const uint8_t *pktio_mac(const struct pktio *);
const char *pktio_name(const struct pktio *);
const struct pktio_stats *pktio_stats(const struct pktio *);
/* Adds the frames the kernel dropped since the last look to rx_dropped: before the counters
 * are read, so they are exact then (the receive path reads them only now and then). */
void pktio_read_drops(struct pktio *);

/* Receives up to 'max' (<= PKTIO_BATCH) frames without blocking into 'pkts'; '*n' is 0 when
 * none is waiting. Returns 0 or an errno. */
int pktio_recv_batch(struct pktio *, struct pktio_pkt *pkts, size_t max, size_t *n);

/* Queues one frame for transmission; the bytes must stay valid until pktio_flush(). A full
 * queue is flushed first. */
void pktio_queue(struct pktio *, const void *frame, size_t len);
/* The same for bytes the caller reuses at once: they are copied into one of the socket's own
 * PKTIO_BATCH slots. For fan-outs, where one buffer becomes n frames that differ in their
 * destination: n frames go in one sendmmsg() instead of n sendto() calls. */
void pktio_queue_copy(struct pktio *, const void *frame, size_t len);
/* Sends what is queued. Frames the kernel refuses are counted in tx_errors and dropped. */
void pktio_flush(struct pktio *);
/* Sends one frame now. Returns 0 or an errno. */
int pktio_send(struct pktio *, const void *frame, size_t len);

/* Switches transmit checksum offload of 'ifname' on or off (SIOCETHTOOL). Through a userspace
 * switch a frame whose checksum was left to the (virtual) NIC arrives broken, so every guest
 * interface of the data network has it off. Returns 0 or an errno. */
int pktio_set_tx_csum(const char *ifname, bool on);

/* Reads the MAC address of 'ifname'. Returns 0 or an errno. */
int pktio_get_mac(const char *ifname, uint8_t mac[6]);

/* Parses "aa:bb:cc:dd:ee:ff". */
bool pktio_parse_mac(const char *, uint8_t mac[6]);
/* Formats into 'out' (18 bytes) and returns it. */
char *pktio_format_mac(const uint8_t mac[6], char out[18]);

#endif
