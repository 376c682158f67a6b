/* txnat — the FTC paper's two NATs (SIGCOMM'20, Table 1: "read per packet, write per flow"),
 * written once over a key-value accessor so that the same code is a vnfs/fn function (schemes
 * none, ftmb, ...: the accessor is the function's store, vnfs/fn/nf_txnat.c) and FTC's
 * concurrent packet transaction (the accessor is a struct ftc_tx, vnfs/ft/ftc/mbox.c: every get
 * and put takes its partition's lock first). Both translate UDP and TCP sources to one
 * external address; other IPv4 protocols and fragments are dropped, non-IPv4 forwarded.
 * Mappings never expire (the paper's runs are shorter than any timeout; no clock is read, so a
 * replica or a recovered head that holds the state translates exactly as the head did).
 *
 *  - SimpleNAT ("basic NAT functionalities"): network address and port translation with an
 *    endpoint-independent mapping. State: "So" + proto + inside IP + port -> external port
 *    (2 bytes), "Si" + proto + external port -> inside IP + port (6 bytes), and the allocator
 *    every new flow shares, "Sn" -> the next port offset (u64 counter): the first free port
 *    from it is the new flow's. So every packet reads one mapping, and every new flow writes
 *    the shared cursor: new flows on different threads serialize on it.
 *  - MazuNAT (the core of Click's mazu-nat.click, FTC's [2]: an IPRewriter with the pattern
 *    "EXTERNAL LOW-HIGH - -"): per-connection mappings, as IPRewriter's flow table keeps them.
 *    State: "Zf" + proto + source IP, port + destination IP, port -> external port; "Zr" +
 *    proto + external port + remote IP, port -> inside IP + port (an external port is taken
 *    per remote endpoint, so one port serves many connections); the table's size "Zs" (u64
 *    counter), shared by every new connection and bounded by 'capacity' (IPRewriter's mapping
 *    capacity: a full table drops new connections). The port pool is the reverse table: a new
 *    connection tries its own source port first when it lies in the range (IPRewriterPattern's
 *    same-first), else a start drawn from a keyed hash of its 5-tuple (where Click draws at
 *    random: the hash gives every scheme and every replica the same port), then the ports
 *    after it. Only a new connection writes (its two mappings and the shared size); every
 *    later packet of it reads one record. Not built: mazu-nat.click's ICMP rewriters, its FTP
 *    helper and TCP's connection-end cleanup.
 *
 * Both give up after TXNAT_MAX_PROBES taken ports (the pool is then "exhausted" for that flow:
 * its packet is dropped and nothing is written). Parameters: external=IP (required),
 * ports=LOW-HIGH (SimpleNAT 1024-65535; MazuNAT 50000-65535 as mazu-nat.click), MazuNAT also
 * capacity=N (1..4294967295, default 65536) and seed=N (the start hash's key, default 0). */
#ifndef SFC_FN_TXNAT_H
#define SFC_FN_TXNAT_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/fn/nf.h"

#define TXNAT_MAX_PROBES 1024

enum txnat_kind {
    TXNAT_SIMPLE,
    TXNAT_MAZU,
};

struct txnat_conf {
    enum txnat_kind kind;
    uint32_t external;          /* Network byte order. */
    uint16_t port_min, port_max;
    uint64_t capacity;          /* MazuNAT: mappings at most. */
    uint64_t seed;              /* MazuNAT: the start hash's key. */
};

/* The state a NAT runs on. get(): the value of 'key' (false if absent, or if the transaction
 * behind it was wounded), valid until the next call; 'for_write': the caller means to write
 * the key (a transaction locks it exclusively at once). put(): 0 or a positive errno (a
 * wounded transaction's is ECANCELED). */
struct txnat_store {
    bool (*get)(void *aux, const void *key, size_t key_len, bool for_write,
                const uint8_t **valuep, size_t *value_lenp);
    int (*put)(void *aux, const void *key, size_t key_len, const void *value,
               size_t value_len);
    void *aux;
};

/* Parses the parameters of a NAT of 'kind'; EINVAL with a message naming the bad key. */
int txnat_conf_parse(enum txnat_kind, const struct nf_param *, size_t n, struct txnat_conf *,
                     char **errp);
/* Translates the Ethernet frame 'frame' in place: NF_FORWARD or NF_DROP. */
enum nf_verdict txnat_process(const struct txnat_conf *, const struct txnat_store *,
                              uint8_t *frame, size_t len);

#endif
