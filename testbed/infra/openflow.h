/* openflow — one persistent OpenFlow 1.3 connection to a bridge of our private Open vSwitch
 * (ovs-vswitchd's unix socket RUN_DIR/BRIDGE.mgmt), so that steering changes at run time cost
 * a message and a barrier round trip (tens of microseconds) instead of an `ovs-ofctl` fork
 * (milliseconds).
 *
 * The few messages sfclab needs are encoded here by hand (OpenFlow 1.3.5, ONF TS-023): HELLO,
 * FEATURES, ECHO, FLOW_MOD (add, modify, delete) with the matches and actions deploy and the
 * schemes use, GROUP_MOD (all, select, indirect, fast failover), BARRIER and ERROR. Chosen over
 * linking libopenvswitch (measured side by side by bench/openflow.sh, that route in
 * bench/openflow_libovs.c): the same cost per change (about 20 us on a quiet machine, both
 * bounded by vswitchd's main loop), 22 kB of code instead of 2.2 MB linked out of a 28 MB
 * static library that takes over a minute to build, and no tie to OVS's internal API (Debian
 * ships no -dev package; it has no stable ABI). What we encode is checked by OVS's own decoder
 * (`ovs-ofctl ofp-print`, tests/unit/test_openflow.c) and by the switch (tests/system/).
 *
 * Requests are queued and go out with the next of_barrier() (or once 64 kB are queued), in one
 * write, so the switch reads a change and its barrier together. The switch answers only
 * failures: of_barrier() is where a caller learns whether everything since the last barrier
 * was applied (0) or the first failure (its errno, and its text in of_conn_error(), e.g.
 * "FLOW_MOD (xid 9): OFPBAC_BAD_OUT_GROUP: output to a group that does not exist").
 * Every wait is bounded by the connection's timeout. While waiting, the connection answers the
 * switch's ECHO requests and skips asynchronous messages (PORT_STATUS, PACKET_IN...). A
 * connection vswitchd closed while we were idle (it probes after 60 s of silence) is reopened
 * before the next request, never in the middle of a batch.
 *
 * Never forks, never parses ovs-ofctl syntax, never dumps tables (ovs.h's ovs-ofctl wrappers do
 * that for debugging). A connection is not thread-safe: one per thread, or a lock around it. The parser of the switch's bytes (of_msg_frame(), of_msg_parse()) reads
 * untrusted input and is fuzzed (tests/fuzz/fuzz_openflow.c).
 *
 * Main types: struct of_conn (a connection), struct of_match (the fields a flow matches or an
 * action sets), struct of_actions (an action list), struct of_flow, struct of_group. */
#ifndef SFC_OPENFLOW_H
#define SFC_OPENFLOW_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct of_conn;

#define OF_VERSION 0x04                 /* OpenFlow 1.3. */

/* Reserved port numbers (ofp_port_no). */
#define OF_PORT_MAX        0xffffff00u
#define OF_PORT_IN_PORT    0xfffffff8u
#define OF_PORT_TABLE      0xfffffff9u
#define OF_PORT_NORMAL     0xfffffffau
#define OF_PORT_FLOOD      0xfffffffbu
#define OF_PORT_ALL        0xfffffffcu
#define OF_PORT_CONTROLLER 0xfffffffdu
#define OF_PORT_LOCAL      0xfffffffeu
#define OF_PORT_ANY        0xffffffffu

#define OF_GROUP_MAX       0xffffff00u
#define OF_GROUP_ALL       0xfffffffcu  /* of_group_delete(): every group. */
#define OF_GROUP_ANY       0xffffffffu
#define OF_TABLE_ALL       0xff         /* of_flow_delete(): every table. */

/* Message types we send or read (enum ofp_type). */
enum of_msg_type {
    OF_HELLO = 0, OF_ERROR = 1, OF_ECHO_REQUEST = 2, OF_ECHO_REPLY = 3, OF_EXPERIMENTER = 4,
    OF_FEATURES_REQUEST = 5, OF_FEATURES_REPLY = 6, OF_PACKET_IN = 10, OF_FLOW_REMOVED = 11,
    OF_PORT_STATUS = 12, OF_FLOW_MOD = 14, OF_GROUP_MOD = 15, OF_MULTIPART_REQUEST = 18,
    OF_MULTIPART_REPLY = 19, OF_BARRIER_REQUEST = 20, OF_BARRIER_REPLY = 21,
};

/* Match fields (and, for set_field, fields to write). A field takes part when its bit is in
 * 'fields'; use the of_match_*() setters, which also add the prerequisites OpenFlow demands
 * (eth_type for IPv4 and NSH fields, ip_proto for UDP ports). Addresses are in network byte
 * order, everything else in host order. */
enum of_field_bit {
    OF_F_IN_PORT   = 1 << 0,
    OF_F_ETH_DST   = 1 << 1,
    OF_F_ETH_SRC   = 1 << 2,
    OF_F_ETH_TYPE  = 1 << 3,
    OF_F_IP_PROTO  = 1 << 4,
    OF_F_IPV4_SRC  = 1 << 5,
    OF_F_IPV4_DST  = 1 << 6,
    OF_F_UDP_SRC   = 1 << 7,
    OF_F_UDP_DST   = 1 << 8,
    OF_F_NSH_SPI   = 1 << 9,            /* Nicira's NXOXM_NSH experimenter class (OVS >= 2.8). */
    OF_F_NSH_SI    = 1 << 10,
    OF_F_ARP_SPA   = 1 << 11,           /* ARP's sender and target protocol addresses. */
    OF_F_ARP_TPA   = 1 << 12,
};

struct of_match {
    uint32_t fields;                    /* OF_F_* */
    uint32_t implied;                   /* Those only added as prerequisites. */
    uint32_t in_port;
    uint8_t eth_dst[6], eth_src[6];
    uint16_t eth_type;
    uint8_t ip_proto;
    uint32_t ipv4_src, ipv4_src_mask;   /* Network byte order; mask all-ones: exact. */
    uint32_t ipv4_dst, ipv4_dst_mask;
    uint16_t udp_src, udp_dst;
    uint32_t nsh_spi;                   /* 24 bits. */
    uint8_t nsh_si;
    uint32_t arp_spa, arp_tpa;          /* Network byte order; exact. */
};

void of_match_in_port(struct of_match *, uint32_t port);
void of_match_eth_dst(struct of_match *, const uint8_t mac[6]);
void of_match_eth_src(struct of_match *, const uint8_t mac[6]);
void of_match_eth_type(struct of_match *, uint16_t eth_type);
void of_match_ip_proto(struct of_match *, uint8_t proto);
/* 'prefix_len' 32 is an exact match; 'addr' in network byte order. */
void of_match_ipv4_src(struct of_match *, uint32_t addr, int prefix_len);
void of_match_ipv4_dst(struct of_match *, uint32_t addr, int prefix_len);
void of_match_udp_src(struct of_match *, uint16_t port);
void of_match_udp_dst(struct of_match *, uint16_t port);
void of_match_nsh_spi(struct of_match *, uint32_t spi);
void of_match_nsh_si(struct of_match *, uint8_t si);
/* 'addr' in network byte order; eth_type 0x0806 is implied. */
void of_match_arp_spa(struct of_match *, uint32_t addr);
void of_match_arp_tpa(struct of_match *, uint32_t addr);

enum of_action_type {
    OF_ACTION_OUTPUT,                   /* 'arg': a port number or OF_PORT_*. */
    OF_ACTION_GROUP,                    /* 'arg': a group id. */
    OF_ACTION_SET_FIELD,                /* 'set': every field present is written, in order. */
};

struct of_action {
    enum of_action_type type;
    uint32_t arg;
    struct of_match set;
};

/* Enough for an output to every guest of a star32 topology in one flow (a man in the middle
 * re-sending the target's broadcasts): 4 kB per list. */
#define OF_MAX_ACTIONS 64

/* An action list in the order the switch applies it; empty drops. */
struct of_actions {
    size_t n;
    struct of_action a[OF_MAX_ACTIONS];
};

/* Adders abort on more than OF_MAX_ACTIONS actions: a programming error, not an input.
 * of_actions_full() says whether one more fits. */
bool of_actions_full(const struct of_actions *);
void of_actions_output(struct of_actions *, uint32_t port);
void of_actions_group(struct of_actions *, uint32_t group_id);
/* Appends a set_field action and returns the match to fill with the fields it writes, e.g.
 * of_match_eth_dst(of_actions_set_field(&flow.actions), mac). */
struct of_match *of_actions_set_field(struct of_actions *);

struct of_flow {
    uint8_t table_id;                   /* of_flow_delete() also takes OF_TABLE_ALL. */
    uint16_t priority;
    uint64_t cookie;                    /* Add: the flow's cookie. */
    uint64_t cookie_mask;               /* Modify/delete: only flows whose cookie matches. */
    uint16_t idle_timeout, hard_timeout;    /* Seconds; 0: never. */
    struct of_match match;
    struct of_actions actions;          /* Applied at once (OFPIT_APPLY_ACTIONS). */
};

enum of_group_type {
    OF_GROUP_TYPE_ALL = 0,              /* Every bucket (flooding, multicast). */
    OF_GROUP_TYPE_SELECT = 1,           /* One bucket per flow, by hash, weighted. */
    OF_GROUP_TYPE_INDIRECT = 2,         /* Exactly one bucket. */
    OF_GROUP_TYPE_FAST_FAILOVER = 3,    /* The first bucket whose watched port is live. */
};

struct of_bucket {
    uint16_t weight;                    /* Select groups (0 is taken as 1). */
    uint32_t watch_port;                /* Fast failover: a port, or OF_PORT_ANY. */
    uint32_t watch_group;               /* Fast failover: a group, or OF_GROUP_ANY. */
    struct of_actions actions;
};

#define OF_MAX_BUCKETS 16              /* struct of_group is then 66 kB: not for small stacks. */

struct of_group {
    uint32_t group_id;
    enum of_group_type type;
    size_t n_buckets;
    struct of_bucket buckets[OF_MAX_BUCKETS];
};

/* Appends a bucket (weight 1, watching nothing) and returns it; aborts past OF_MAX_BUCKETS. */
struct of_bucket *of_group_add_bucket(struct of_group *);
/* The two groups a replicated hop needs, over 'ports' (at most OF_MAX_BUCKETS): fast failover,
 * where the switch itself moves traffic to the next port whose link is up (ports in order of
 * preference); select, one port per flow by hash. Fill 'g' from scratch. */
void of_group_fast_failover(struct of_group *g, uint32_t group_id, const uint32_t ports[],
                            size_t n);
void of_group_select(struct of_group *g, uint32_t group_id, const uint32_t ports[], size_t n);

/* Connections. */
/* Connects to the switch's unix socket 'path' (e.g. RUN_DIR/data.mgmt), negotiates OpenFlow 1.3
 * and reads the datapath id, all within 'timeout_ms', which then bounds every later wait. */
int of_conn_open(const char *path, int timeout_ms, struct of_conn **);
/* The same over a connected stream 'fd', which the connection takes (tests: a socketpair). */
int of_conn_open_fd(int fd, int timeout_ms, struct of_conn **);
void of_conn_close(struct of_conn *);
const char *of_conn_error(const struct of_conn *);     /* Text of the last failure, or "". */
uint64_t of_conn_datapath_id(const struct of_conn *);
/* For event loops: the socket to poll for input, and the work to do when it is readable
 * (sends what is queued, answers ECHO requests, skips asynchronous messages). Returns 0, or
 * ECONNRESET if the switch closed the connection (the next request reopens it). */
int of_conn_fd(const struct of_conn *);
int of_conn_run(struct of_conn *);

/* Requests: each returns 0 once the message is queued, or an error if it cannot be (a closed
 * connection, a flow the encoder refuses: EINVAL, its reason in the debug log). They are sent,
 * and whether the switch accepted them known, at the next of_barrier(). */
int of_flow_add(struct of_conn *, const struct of_flow *);
/* Replaces the actions of the flows 'flow' matches (strict: same match and priority only). */
int of_flow_modify(struct of_conn *, const struct of_flow *, bool strict);
/* Deletes the flows 'flow' matches (every flow for an empty match and OF_TABLE_ALL). */
int of_flow_delete(struct of_conn *, const struct of_flow *, bool strict);
int of_group_add(struct of_conn *, const struct of_group *);
int of_group_modify(struct of_conn *, const struct of_group *);
int of_group_delete(struct of_conn *, uint32_t group_id);
/* Waits until the switch has processed everything sent before it. Returns 0, or the errno of
 * the first request it refused since the previous barrier (EEXIST, ENOENT, ENOSPC, EPERM,
 * EINVAL...), or ETIMEDOUT, ECONNRESET. */
int of_barrier(struct of_conn *);

/* Encoders, for the connection and the unit tests: each appends one message with 'xid'. */
int of_encode_flow_mod(struct buf *, uint32_t xid, const struct of_flow *, int command);
int of_encode_group_mod(struct buf *, uint32_t xid, const struct of_group *, int command);
void of_encode_simple(struct buf *, uint32_t xid, enum of_msg_type, const void *body,
                      size_t body_len);

/* FLOW_MOD and GROUP_MOD commands (ofp_flow_mod_command, ofp_group_mod_command). */
enum { OF_FC_ADD = 0, OF_FC_MODIFY = 1, OF_FC_MODIFY_STRICT = 2, OF_FC_DELETE = 3,
       OF_FC_DELETE_STRICT = 4 };
enum { OF_GC_ADD = 0, OF_GC_MODIFY = 1, OF_GC_DELETE = 2 };

/* Parsing the switch's bytes. */
/* Finds the length of the first message in 'data': 0 with *lenp set, EAGAIN if more bytes are
 * needed, EPROTO if the header cannot be one (length below 8). */
int of_msg_frame(const void *data, size_t len, size_t *lenp);

struct of_error {
    uint16_t type, code;                /* ofp_error_type and its code; EXPERIMENTER: */
    uint32_t experimenter;              /* the experimenter id, 'code' its exp_type. */
    int failed_type;                    /* Type of the refused request, -1 if not echoed. */
    uint32_t failed_xid;
};

/* One message from the switch, decoded as far as sfclab needs it. */
struct of_msg {
    uint8_t version, type;
    uint32_t xid;
    const uint8_t *body;                /* Into the caller's bytes. */
    size_t body_len;
    union {
        uint32_t hello_versions;        /* HELLO: bit n: version n offered (bitmap or header). */
        struct of_error error;
        struct {
            uint64_t datapath_id;
            uint8_t n_tables;
        } features;
        struct {
            uint8_t reason;             /* 0 add, 1 delete, 2 modify. */
            uint32_t port_no;
            char name[16];
            bool link_down;             /* OFPPS_LINK_DOWN in 'state'. */
        } port_status;
    } u;
};

/* Decodes the single message in 'data' ('len' as of_msg_frame() gave it). EPROTO when a length
 * inside disagrees or a body is too short for its type. */
int of_msg_parse(const void *data, size_t len, struct of_msg *);
/* "OFPBAC_BAD_OUT_PORT: output to a port that does not exist" and the like; returns the errno
 * that best says what happened (see of_barrier()). */
int of_error_describe(const struct of_error *, char *text, size_t size);
const char *of_msg_type_name(int type);

#endif
