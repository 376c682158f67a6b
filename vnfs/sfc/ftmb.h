/* ftmb — FTMB (SIGCOMM'15), the baseline of FTC's evaluation, on the NSH path: each VNF sends
 * every packet it processes, with the packet access log (PAL: the state its function wrote,
 * a vnfs/lib/state.h delta) to a logger guest, and holds the packet's output until the logger
 * says it has logged it (the input logger and the output logger's rule in one process: output
 * leaves only once what produced it is stable). A VNF also stalls every --ftmb-snapshot period
 * for --ftmb-stall (the paper's simulated snapshot: 6 ms every 50 ms), during which it reads
 * nothing and keeps its CPU busy (a snapshot's work; ftmb.c says why). The logger keeps the records in a bounded in-memory ring (a real FTMB replays them
 * on recovery; recovery is not built here) and acknowledges each VNF's highest record number
 * after every receive batch.
 *
 * Wire (raw Ethernet frames, ethertype FTMB_ETHERTYPE, big-endian; parsed from untrusted
 * bytes, tests/fuzz/fuzz_ftmb.c):
 *   record: u8 FTMB_MSG_RECORD | u16 vnf | u64 seq | u32 pal_len | pal | the input packet
 *   ack:    u8 FTMB_MSG_ACK | u16 vnf | u64 seq (every record up to seq is logged)
 * Must not: block the data path (holding is a queue, never a wait), or release a held packet
 * before its record is acknowledged. Main types: struct ftmb_vnf, struct ftmb_msg. */
#ifndef SFC_FTMB_H
#define SFC_FTMB_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct role;
struct pktio_pkt;
struct nf_state;

#define FTMB_ETHERTYPE 0x88B6   /* IEEE 802 local experimental ethertype 2. */
#define FTMB_MAX_HELD 8192

enum ftmb_msg_type { FTMB_MSG_RECORD = 1, FTMB_MSG_ACK = 2 };

struct ftmb_msg {
    enum ftmb_msg_type type;
    uint16_t vnf;
    uint64_t seq;
    const uint8_t *pal, *packet;    /* Records only; into the parsed bytes. */
    size_t pal_len, packet_len;
};

/* Parses the payload after the Ethernet header; false if malformed. */
bool ftmb_msg_parse(const uint8_t *data, size_t len, struct ftmb_msg *);

/* The VNF side. */
struct ftmb_vnf_config {
    uint8_t logger[6];
    uint16_t vnf;
    uint64_t snapshot_ns, stall_ns;     /* 0: no snapshots. */
};

struct ftmb_vnf;

int ftmb_vnf_create(const struct ftmb_vnf_config *, struct role *, struct ftmb_vnf **);
void ftmb_vnf_destroy(struct ftmb_vnf *);
/* Before the function runs on a packet: the store's mark, for its PAL. */
uint64_t ftmb_vnf_begin(const struct ftmb_vnf *, const struct nf_state *);
/* After: sends the record (PAL since 'mark', the input packet 'in') and holds 'frame' (the
 * output, copied) until the logger acknowledges it. */
void ftmb_vnf_output(struct ftmb_vnf *, const struct nf_state *, uint64_t mark,
                     const uint8_t *in, size_t in_len, const uint8_t *frame, size_t len);
/* A frame for us from the logger (an ack): releases what it covers. False if not ours. */
bool ftmb_vnf_frame(struct ftmb_vnf *, const struct pktio_pkt *);
void ftmb_vnf_register(struct ftmb_vnf *, struct role *);

#endif
