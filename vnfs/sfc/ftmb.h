/* ftmb — FTMB (SIGCOMM'15), the baseline of FTC's evaluation, on the NSH path. Two layouts:
 *  - in line (--ftmb-in-line; FTC's evaluation of FTMB, its Sec. 7: "Packets go through IL, M,
 *    then OL"): each middlebox M has a logger guest of its own, which is the chain's hop for
 *    it. Its input logger (IL) logs each packet as it comes from the SFF and passes it to M;
 *    M processes it and sends its packet access log (PAL: the state its function wrote, a
 *    vnfs/lib/state.h delta) in a message of its own, then its output, both back to the
 *    logger; there the output logger (OL) releases each output to the SFF once its PAL is in
 *    (the PAL goes first, so at once: "PALs are delivered on the first attempt, and packets
 *    are released immediately afterwards"; OL keeps only the last PAL).
 *  - shared: one logger guest for the whole chain, beside the path. Each VNF sends it every
 *    packet it processes with its PAL and holds the output until the logger says it logged
 *    it (the logger acknowledges each VNF's highest record number after every receive batch).
 *    Cheaper than the paper's FTMB: one extra frame per packet and middlebox instead of three.
 * Either way a VNF also stalls every --ftmb-snapshot period for --ftmb-stall (the paper's
 * simulated snapshot: 6 ms every 50 ms), during which it reads nothing; under a quota of its
 * own (--ftmb-stall-cpus) the stall also spends the CPU its server would have had
 * (ftmb_stall()). Loggers keep the records in a bounded in-memory ring (a real FTMB replays
 * them on recovery; recovery is not built here).
 *
 * Wire (raw Ethernet frames, ethertype FTMB_ETHERTYPE, big-endian; parsed from untrusted
 * bytes, tests/fuzz/fuzz_ftmb.c):
 *   record: u8 FTMB_MSG_RECORD | u16 vnf | u64 seq | u32 pal_len | pal | the input packet
 *           (in line: none, the IL has it)
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

/* The in-line OL's accounting: which outputs of its middlebox have their PAL in. The middlebox
 * numbers its PALs 1, 2, ... and sends each right before its output; the OL numbers the
 * outputs as they come. PAL k covers every output up to k: counted instead, one PAL lost on
 * the way (the logger's receive queue overflowing) left every later output waiting for the
 * PAL after its own, for good, and a closed loop never sent that one (the paper's FTMB
 * "assumes that PALs are delivered on the first attempt"). Outputs are counted, not numbered
 * from the last PAL: the switch may pass a PAL before the output ahead of it (another flow),
 * and a number too high would hold every later output the same way. */
struct ftmb_ol {
    uint64_t pals;              /* The highest PAL number in. */
    uint64_t outputs;           /* Outputs in so far: the last one's number. */
};

/* PAL 'seq' is in. */
void ftmb_ol_pal(struct ftmb_ol *, uint64_t seq);
/* An output came in: its number, to release once it is at most 'pals'. */
uint64_t ftmb_ol_output(struct ftmb_ol *);

/* The VNF side. */
struct ftmb_vnf_config {
    uint8_t logger[6];
    bool in_line;                       /* The logger is this VNF's IL and OL (see above). */
    uint16_t vnf;
    uint64_t snapshot_ns, stall_ns;     /* 0: no snapshots. */
    double stall_cpus;                  /* The VNF's CPU quota, a server of its own (see
                                         * ftmb_stall()); 0: none, the host's CPUs shared. */
};

struct ftmb_vnf;

/* One simulated snapshot: nothing is read for 'stall_ns', and of a VNF with a quota of
 * 'cpus' (> 0) the stall takes what its server would have done meanwhile, min(cpus, 1) x
 * 'stall_ns' of CPU time, spent spinning; with 0 it sleeps. Returns the CPU time it spent. */
uint64_t ftmb_stall(uint64_t stall_ns, double cpus);

int ftmb_vnf_create(const struct ftmb_vnf_config *, struct role *, struct ftmb_vnf **);
void ftmb_vnf_destroy(struct ftmb_vnf *);
/* Before the function runs on a packet: the store's mark, for its PAL. */
uint64_t ftmb_vnf_begin(const struct ftmb_vnf *, const struct nf_state *);
/* After: sends the record (PAL since 'mark', the input packet 'in') and holds 'frame' (the
 * output, copied) until the logger acknowledges it; in line, queues the PAL and then 'frame'
 * (addressed to the logger, its OL) on the role's socket. */
void ftmb_vnf_output(struct ftmb_vnf *, const struct nf_state *, uint64_t mark,
                     const uint8_t *in, size_t in_len, const uint8_t *frame, size_t len);
/* A frame for us from the logger (an ack): releases what it covers. False if not ours. */
bool ftmb_vnf_frame(struct ftmb_vnf *, const struct pktio_pkt *);
void ftmb_vnf_register(struct ftmb_vnf *, struct role *);

#endif
