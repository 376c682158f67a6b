/* core — the contract between a fault-tolerance scheme's protocol core and whatever runs it.
 *
 * A protocol core (a voter, a PBFT replica, a sequencer, a piggyback log, a failure detector...)
 * is a state machine with no I/O of its own. It consumes one event at a time (a data packet, a
 * peer's message, a timer it armed, a failure notice, a request for its state, a state it asked
 * for) and answers with a list of actions (forward a packet, send a peer a message, deliver to the
 * local consumer, drop, arm or cancel a timer, send its state, ask for a peer's state, suspect a
 * peer, note an event). Two drivers bind it to the world: the adapter in sfcd (sockets, NSH,
 * the monotonic clock) and the deterministic simulator in tests/sim/ (an in-memory network with
 * virtual time, seeded faults and Byzantine peers).
 *
 * What a core must never do, so the simulator can replay any run from one seed:
 *  - read a clock: the time is ev->now_ns, and timers fire as FT_EV_TIMER events;
 *  - read a random source: its only generator is the seeded ft_rng in its config;
 *  - touch a socket, a file, a global or a thread: everything it knows came in an event;
 *  - keep pointers into an event's data after step() returns (the driver reuses the memory).
 * A core must be deterministic: the same config and the same events give the same actions.
 *
 * Endpoints are named by small integers (uint32_t) that the driver maps to addresses: replicas
 * of the core's own group, the next hops of the chain, clients, managers. Failure notices and
 * 'from' fields carry the same ids. A driver authenticates 'from' (MACs on the wire, the
 * simulator's authenticated links) or says it does not; cores that need authenticity document it.
 *
 * Main types: struct ft_core_class (one per component kind, found by name with
 * ft_core_class_find()), struct ft_core (the base every core embeds first), struct ft_config,
 * struct ft_event, struct ft_action and struct ft_actions (what step() fills). */
#ifndef SFC_FT_CORE_H
#define SFC_FT_CORE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/rng.h"

#define FT_ENDPOINT_NONE UINT32_MAX

enum ft_event_kind {
    FT_EV_START,            /* First event after create(): arm initial timers. 'incarnation'
                             * says whether this is a restart (state lost: ask for it). */
    FT_EV_PACKET,           /* A data-plane packet from upstream endpoint 'from'. */
    FT_EV_PEER_MSG,         /* A protocol message from peer 'from'. */
    FT_EV_TIMER,            /* Timer 'timer' armed earlier fired. */
    FT_EV_PEER_DOWN,        /* Failure notice: endpoint 'from' is believed crashed. */
    FT_EV_PEER_UP,          /* Endpoint 'from' is back (restarted, empty unless it imports). */
    FT_EV_STATE_REQUEST,    /* 'from' asks for this core's state (answer with ft_emit_state). */
    FT_EV_STATE,            /* State sent by 'from' (an answer, or a push by a manager). */
    FT_EV_N_KINDS
};

enum ft_action_kind {
    FT_ACT_FORWARD,         /* Data packet to endpoint 'to' (arrives there as FT_EV_PACKET). */
    FT_ACT_SEND,            /* Protocol message to peer 'to' (arrives as FT_EV_PEER_MSG). */
    FT_ACT_DELIVER,         /* Hand the data to the local consumer: the VNF, the client, the
                             * replicated state machine. The order of delivers is the order in
                             * which the consumer applies them. */
    FT_ACT_DROP,            /* Discard a packet, for accounting ('reason', data optional). */
    FT_ACT_TIMER_ARM,       /* Fire FT_EV_TIMER 'timer' at 'at_ns'; re-arming replaces. */
    FT_ACT_TIMER_CANCEL,    /* Forget timer 'timer' (no-op if not armed). */
    FT_ACT_STATE,           /* This core's state to 'to' (arrives as FT_EV_STATE). */
    FT_ACT_REQUEST_STATE,   /* Ask 'to' for its state (arrives as FT_EV_STATE_REQUEST). */
    FT_ACT_SUSPECT,         /* This core believes endpoint 'to' failed (failure detectors). */
    FT_ACT_NOTE,            /* A human-readable event (view change, halt): data is the text. */
    FT_ACT_N_KINDS
};

/* Why a core dropped something; drivers count them per reason. */
enum ft_drop_reason {
    FT_DROP_MALFORMED,      /* Failed to parse. */
    FT_DROP_UNKNOWN_SENDER, /* 'from' is not someone this core takes input from. */
    FT_DROP_DUPLICATE,      /* Already seen or already decided. */
    FT_DROP_NO_QUORUM,      /* Voting gave up: no value reached its quorum. */
    FT_DROP_STALE,          /* From an old view, epoch or version. */
    FT_DROP_OVERLOAD,       /* A bounded buffer was full. */
    FT_DROP_OUTVOTED,       /* A copy that lost a vote: its content differs from the decided. */
    FT_DROP_N_REASONS
};

struct ft_event {
    enum ft_event_kind kind;
    uint64_t now_ns;            /* Driver's time: virtual in the simulator, monotonic in sfcd. */
    uint32_t from;              /* Sender, or the endpoint a failure notice is about. */
    const uint8_t *data;        /* Payload; valid only during step(). */
    size_t len;
    uint64_t timer;             /* FT_EV_TIMER: the id given to ft_emit_timer(). */
    uint32_t incarnation;       /* FT_EV_START: 0 the first time, n after the n-th restart. */
};

struct ft_action {
    enum ft_action_kind kind;
    uint32_t to;                /* FORWARD, SEND, STATE, REQUEST_STATE, SUSPECT. */
    uint32_t reason;            /* DROP: an enum ft_drop_reason. */
    const uint8_t *data;        /* Valid until ft_actions_clear() (the _ref emits: until
                                 * the core's next step too); NULL when len is 0. */
    size_t len;
    uint64_t timer;             /* TIMER_ARM, TIMER_CANCEL. */
    uint64_t at_ns;             /* TIMER_ARM: absolute time, same clock as now_ns. */
    size_t data_ofs_;           /* Private: offset of the data in the arena until sealed. */
};

/* The actions one step() produced, in order. Data is copied into one arena, so a core may emit
 * from stack buffers; drivers read action data only after ft_core_step() returns. */
struct ft_actions {
    struct ft_action *v;
    size_t n, cap;
    size_t n_sealed;
    struct buf arena;
    /* Set by a driver that sends forwards from room of its own (NULL, or NULL returned: the
     * arena): ft_emit_forward_space() then builds the packet in the frame it leaves in, not
     * in the arena to be copied into one. The room stays the driver's: the action refers to
     * it, as ft_emit_forward_ref()'s do. */
    uint8_t *(*space)(void *aux, uint32_t to, size_t len);
    void *space_aux;
};

/* A configuration parameter, e.g. {"timeout", "50ms"}, from the scheme's descriptor. */
struct ft_param {
    const char *key;
    const char *value;
};

/* What a core is told at create(). Nothing in it may be retained by pointer: copy what you keep. */
struct ft_config {
    uint32_t self;              /* This core's endpoint id. */
    uint32_t f;                 /* Fault bound the scheme is configured for. */
    const uint32_t *group;      /* Members of this core's replication group (may include self). */
    size_t n_group;
    const uint32_t *next;       /* Downstream endpoints (next hop(s) of the chain). */
    size_t n_next;
    const uint32_t *peers;      /* Other endpoints the core talks to (manager, logger, ...). */
    size_t n_peers;
    const struct ft_param *params;
    size_t n_params;
    struct ft_rng rng;          /* The core's only source of randomness, seeded by the driver. */
};

struct ft_core {
    const struct ft_core_class *class;
};

struct ft_core_class {
    const char *name;           /* "none", "voter", "pbft_replica", "sequencer", ... */
    const char *summary;        /* One line for --help and traces. */
    /* Validates the config. On EINVAL '*errp' (if not NULL) gets a message to free. */
    int (*create)(const struct ft_config *, struct ft_core **, char **errp);
    void (*destroy)(struct ft_core *);
    /* Consumes one event; appends actions to 'out'. Returns 0, or an errno for a bug-class
     * failure the driver should report (bad input from the network is a DROP, not an error). */
    int (*step)(struct ft_core *, const struct ft_event *, struct ft_actions *out);
    /* Appends a self-contained image of the state (NHAM's export_vnf_state, checkpoints). */
    int (*export_state)(const struct ft_core *, struct buf *);
    /* Replaces the state with an image from export_state(); EINVAL on a malformed image, and
     * then the core is unchanged. */
    int (*import_state)(struct ft_core *, const uint8_t *, size_t);
};

/* Registry (vnfs/ft/registry.c holds the table; a scheme adds its class there). */
const struct ft_core_class *ft_core_class_find(const char *name);
/* For test-only classes (deliberately broken variants): looked up after the table. */
void ft_core_class_register(const struct ft_core_class *);
/* Calls 'cb' for every class, built-in then registered. */
void ft_core_class_for_each(void (*cb)(const struct ft_core_class *, void *aux), void *aux);

/* Drivers call these, not the class members directly. */
int ft_core_create(const struct ft_core_class *, const struct ft_config *, struct ft_core **,
                   char **errp);
void ft_core_destroy(struct ft_core *);
int ft_core_step(struct ft_core *, const struct ft_event *, struct ft_actions *);
int ft_core_export_state(const struct ft_core *, struct buf *);
int ft_core_import_state(struct ft_core *, const uint8_t *, size_t);

void ft_actions_init(struct ft_actions *);
void ft_actions_uninit(struct ft_actions *);
void ft_actions_clear(struct ft_actions *);

/* What cores call to emit actions. Data is copied. */
void ft_emit_forward(struct ft_actions *, uint32_t to, const void *, size_t);
/* The same, not copied: the data must stay as it is until the driver has read the step's
 * actions (every driver does before the core's next step). For bytes the core keeps anyway,
 * e.g. NHAM's buffer_rx, which the SFF sends on from there. */
void ft_emit_forward_ref(struct ft_actions *, uint32_t to, const void *, size_t);
void ft_emit_send(struct ft_actions *, uint32_t to, const void *, size_t);
void ft_emit_deliver(struct ft_actions *, const void *, size_t);
void ft_emit_drop(struct ft_actions *, enum ft_drop_reason, const void *, size_t);
void ft_emit_timer(struct ft_actions *, uint64_t timer, uint64_t at_ns);
void ft_emit_cancel(struct ft_actions *, uint64_t timer);
void ft_emit_state(struct ft_actions *, uint32_t to, const void *, size_t);
/* The same, not copied (as ft_emit_forward_ref()): NHAM's VNF's checkpoint image, 512 KB four
 * times a second, exported into the core's own buffer once. */
void ft_emit_state_ref(struct ft_actions *, uint32_t to, const void *, size_t);
void ft_emit_request_state(struct ft_actions *, uint32_t to);
void ft_emit_suspect(struct ft_actions *, uint32_t peer);
void ft_emit_note(struct ft_actions *, const char *fmt, ...) PRINTF_FORMAT(2, 3);
/* A forward of 'len' bytes that the core writes at the pointer returned, before it emits
 * anything else (the arena may move then): a packet built in place, not built elsewhere and
 * copied (NHAM's VNF: one copy of every packet less; two where the driver gives the room). */
uint8_t *ft_emit_forward_space(struct ft_actions *, uint32_t to, size_t len);

/* State transfer as most cores do it, for their step(): FT_EV_STATE_REQUEST is answered with
 * the core's export_state() image, sent to the asker; FT_EV_STATE is imported whole with
 * import_state(), or dropped as malformed. Returns false (and does nothing) for any other
 * event. Cores whose transfer has conditions (a stale answer, a recovery epoch) do their own. */
bool ft_core_state_event(struct ft_core *, const struct ft_event *, struct ft_actions *);

/* Config helpers. */
const char *ft_config_param(const struct ft_config *, const char *key);
/* Parse a parameter with util.h's parsers, or take 'dflt' if absent. EINVAL (with '*errp' set,
 * if not NULL) if present and malformed; '*out' untouched then. */
int ft_config_u64(const struct ft_config *, const char *key, uint64_t dflt, uint64_t *out,
                  char **errp);
int ft_config_duration(const struct ft_config *, const char *key, uint64_t dflt,
                       uint64_t *out, char **errp);
bool ft_config_in_group(const struct ft_config *, uint32_t endpoint);

const char *ft_event_kind_name(enum ft_event_kind);
const char *ft_action_kind_name(enum ft_action_kind);
const char *ft_drop_reason_name(enum ft_drop_reason);

#endif
