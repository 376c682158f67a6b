/* adapter — runs one protocol core (vnfs/ft/core.h) for real inside sfcd: the driver that
 * tests/sim/sim.c is in virtual time, with a UDP socket, the monotonic clock and the event loop.
 *
 * Every endpoint id the core names is mapped to an IPv4 address and UDP port (a table from the
 * command line); the adapter binds its own entry. Actions map to syscalls one for one:
 *   FORWARD, SEND, STATE, REQUEST_STATE -> one datagram to the endpoint's address, framed by the
 *       wire header below, arriving there as PACKET, PEER_MSG, STATE, STATE_REQUEST;
 *   DELIVER          -> the local consumer: a raw UDP datagram to an address, or a line
 *                       "deliver LEN HEX" appended to a file (flushed per line);
 *   TIMER_ARM/CANCEL -> a deadline in the adapter's own min-heap (re-arming replaces; one loop
 *                       timer follows its earliest entry), fired as FT_EV_TIMER;
 *   DROP, NOTE, SUSPECT -> counters (per drop reason) and log lines.
 * now_ns of every event is time_mono_ns() read when the event is handed to the core.
 *
 * Wire header (12 bytes, big-endian), followed by exactly 'len' bytes of payload:
 *   0 version (1) | 1 kind (enum ft_event_kind: PACKET, PEER_MSG, STATE_REQUEST, STATE)
 *   2 flags (0)   | 4 from (endpoint id) | 8 len
 * A datagram is rejected (counted, never given to the core) when it is shorter than the header,
 * has another version, kind or non-zero flags, when len is not the datagram's length less the
 * header, when a STATE_REQUEST carries a payload, or when it does not come from the address the
 * table gives for 'from'.
 *
 * Authentication of 'from': the adapter trusts the source address mapping and nothing else. No
 * MAC is computed: a guest that can spoof another guest's IP address and port on the bridge can
 * speak for it. That holds on the testbed's private bridges with honest guest kernels; cores
 * that need authenticated senders (the voter) are only as safe as that.
 *
 * What the simulator assumes that UDP does not give, or gives differently:
 *  - Failure notices: the simulator's perfect detector sends FT_EV_PEER_DOWN/UP; here they come
 *    only from whoever calls ft_adapter_notify() (sfcd's control socket: peer_down/peer_up).
 *  - Forged senders: the simulator's authenticated links drop them; here only the address check.
 *  - Size: the simulator carries any length; a datagram carries FT_WIRE_MAX_PAYLOAD at most, and
 *    larger actions are counted as tx_errors (lost, as the network may lose anything).
 *  - Timers fire late by up to the loop's millisecond granularity plus scheduling, never early;
 *    the simulator fires them exactly. Both fire a deadline already past at once.
 *  - Loss, reordering and duplication happen in both, so cores already tolerate them; but UDP
 *    has no GST: loss under overload (full socket buffers) can go on as long as the overload.
 *  - Send errors (no route, full buffer) are counted and otherwise ignored, as a loss.
 *  - Restarts: the incarnation of FT_EV_START comes from the caller (sfcd ft --incarnation).
 *  - Persistence (FTvNF's loggers): with a journal, every datagram handed to the core is first
 *    appended to an append-only file (as received: header and payload) and, with journal_sync,
 *    fdatasync'ed, so whatever the core acknowledges is on stable storage before the
 *    acknowledgement leaves; a restarted adapter steps the core through the journal first
 *    (actions discarded), cutting a torn last record. Without sync a crash of the process
 *    loses nothing (the page cache has it), a crash of the host may lose the tail. The
 *    journal is never compacted here: it grows with the run.
 *
 * Must not: block (the socket is non-blocking), own the loop, or interpret payloads (except the
 * optional Byzantine corruption knob, which flips one byte of outgoing data for fault tests).
 * Main types: struct ft_adapter, struct ft_adapter_config, struct ft_endpoint_addr,
 * struct ft_wire_hdr, struct ft_adapter_stats. */
#ifndef SFC_FT_ADAPTER_H
#define SFC_FT_ADAPTER_H 1

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/buf.h"
#include "vnfs/ft/core.h"

struct loop;
struct ft_adapter;

#define FT_WIRE_VERSION 1
#define FT_WIRE_HDR_LEN 12
#define FT_WIRE_MAX_PAYLOAD (65507 - FT_WIRE_HDR_LEN)

struct ft_wire_hdr {
    enum ft_event_kind kind;
    uint32_t from;
    uint32_t len;
};

/* Appends header and payload to 'b'. 'kind' must be one that travels. */
void ft_wire_encode(struct buf *b, enum ft_event_kind kind, uint32_t from, const void *payload,
                    size_t len);
/* Parses one datagram. Returns 0 with '*hdr' and '*payload' (pointing into 'data') set, or
 * EINVAL for anything malformed (outputs untouched). */
int ft_wire_decode(const uint8_t *data, size_t len, struct ft_wire_hdr *hdr,
                   const uint8_t **payload);
/* Whether events of 'kind' travel on the wire. */
bool ft_wire_kind_valid(enum ft_event_kind kind);

struct ft_endpoint_addr {
    uint32_t id;
    struct sockaddr_in addr;
};

/* Parses "ID=IP:PORT". Returns 0 or EINVAL ('*errp' gets a message to free). */
int ft_endpoint_parse(const char *, struct ft_endpoint_addr *, char **errp);

/* Where FT_ACT_DELIVER goes. */
enum ft_deliver_kind {
    FT_DELIVER_NONE,            /* Counted only. */
    FT_DELIVER_UDP,             /* Raw payload, one datagram each, to 'deliver_addr'. */
    FT_DELIVER_FILE,            /* "deliver LEN HEX\n" appended to 'deliver_path'. */
};

struct ft_adapter_config {
    const struct ft_core_class *class;
    struct ft_config core;              /* self, f, group, next, peers, params, rng. */
    const struct ft_endpoint_addr *endpoints;   /* Must include 'core.self' (bound). */
    size_t n_endpoints;
    enum ft_deliver_kind deliver;
    struct sockaddr_in deliver_addr;
    const char *deliver_path;
    uint32_t incarnation;               /* Of FT_EV_START. */
    bool byzantine_corrupt;             /* Fault injection: xor the last byte of every outgoing
                                         * FORWARD/SEND payload with a value derived from self. */
    const char *journal_path;           /* NULL: no journal. */
    bool journal_sync;                  /* fdatasync each record before the core sees it. */
};

struct ft_adapter_stats {
    uint64_t rx;                        /* Datagrams handed to the core. */
    uint64_t rx_malformed;              /* Failed ft_wire_decode(). */
    uint64_t rx_unknown_source;         /* From an address not in the table. */
    uint64_t rx_spoofed;                /* 'from' is not the id of the source address. */
    uint64_t tx;
    uint64_t tx_errors;                 /* sendto() failed or payload too large. */
    uint64_t tx_unknown_dest;           /* Action to an id not in the table. */
    uint64_t delivered;
    uint64_t deliver_errors;
    uint64_t timers_fired;
    uint64_t suspects;
    uint64_t notes;
    uint64_t steps;
    uint64_t step_errors;               /* A core's step() returned an errno (a bug). */
    uint64_t drops[FT_DROP_N_REASONS];
    uint64_t journal_records, journal_replayed, journal_errors;
};

/* Creates the core and binds its socket, watched on 'loop'. Returns 0 or an errno; on error
 * '*errp' (if not NULL) gets a message to free. Does not start the core. */
int ft_adapter_create(struct loop *, const struct ft_adapter_config *, struct ft_adapter **,
                      char **errp);
/* Hands FT_EV_START to the core. */
int ft_adapter_start(struct ft_adapter *);
void ft_adapter_destroy(struct ft_adapter *);

/* Injects a failure notice (FT_EV_PEER_DOWN or FT_EV_PEER_UP) about 'peer'. */
int ft_adapter_notify(struct ft_adapter *, enum ft_event_kind, uint32_t peer);
/* Exports the core's state into 'b' (appended). */
int ft_adapter_export_state(const struct ft_adapter *, struct buf *b);

const struct ft_adapter_stats *ft_adapter_stats(const struct ft_adapter *);
/* The bound port (useful with port 0 in tests). */
uint16_t ft_adapter_port(const struct ft_adapter *);
/* Number of armed timers (tests). */
size_t ft_adapter_n_timers(const struct ft_adapter *);

#endif
