/* sim — deterministic discrete-event simulation of protocol cores (vnfs/ft/core.h).
 *
 * One run is fixed by one 64-bit seed: the network's delays, reordering, duplication, loss and
 * partitions, the fault schedule, the Byzantine strategies' choices and each core's ft_rng all
 * derive from it, and virtual time advances only by events, so replaying a seed replays the run
 * exactly (the trace is byte-identical). Nothing here reads the wall clock or the environment.
 *
 * Endpoints are named and numbered in the order they are added. Each is one of:
 *  - a core: an ft_core_class instance; its actions go to the network, its delivers to the
 *    history (and count as accepts if the endpoint is also a client: a client-side voter);
 *  - a service: a stateless function standing in for a VNF replica (request -> reply to 'next');
 *  - a client: sends requests at scheduled times to its targets and accepts replies.
 * Any endpoint may be crashed and restarted (a restarted core starts empty, with a fresh
 * generator) or made Byzantine: its outgoing messages then pass through a strategy
 * (tests/sim/byzantine.h) that may drop, corrupt, equivocate, replay or forge them.
 *
 * Not thread-safe; one struct sim per run. Main types: struct sim, struct sim_net_config,
 * struct sim_core_spec, struct sim_stats. */
#ifndef SFC_SIM_H
#define SFC_SIM_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/sim/history.h"
#include "vnfs/lib/buf.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/rng.h"

#define SIM_US 1000ull
#define SIM_MS 1000000ull
#define SIM_S 1000000000ull

struct sim;
struct sim_byzantine;

/* The network between endpoints. Delays are uniform in [delay_min, delay_max] per message, so
 * messages reorder whenever their windows overlap; a 'spike' adds up to spike_max_ns more. */
struct sim_net_config {
    uint64_t delay_min_ns, delay_max_ns;
    double spike_prob;
    uint64_t spike_max_ns;
    double dup_prob;            /* A message is delivered twice. */
    double loss_prob;           /* Lost, on every link, before 'stable_ns' only. */
    uint64_t stable_ns;         /* From here on no global loss (GST); link faults and
                                 * partitions keep their own windows. */
    bool authenticated;         /* Forged senders are dropped on arrival, as a MAC check would. */
    uint64_t detect_ns;         /* Crash -> failure notice to the endpoints that know it. */
    bool tell_restarted;        /* A restarted core gets, right after its START, a failure
                                 * notice for each endpoint it knows that is still down (what
                                 * an orchestrator tells a replacement, e.g. FTC's). */
};

/* A service's reply to one request: writes the reply into 'reply' (left empty: no reply). */
typedef void sim_service_fn(uint32_t self, const uint8_t *req, size_t len, struct buf *reply);

/* How to build a core endpoint; arrays are copied. */
struct sim_core_spec {
    const struct ft_core_class *class;
    uint32_t f;
    const uint32_t *group;
    size_t n_group;
    const uint32_t *next;
    size_t n_next;
    const uint32_t *peers;
    size_t n_peers;
    const struct ft_param *params;
    size_t n_params;
    uint32_t agreement_group;   /* > 0: its delivers must agree with the group's (total order). */
    /* Optional: what the endpoint's local consumer does with each deliver (a VNF behind its
     * voter, an SFF forwarding on): its output, if any, goes to every 'next'. */
    sim_service_fn *consumer;
    /* > 0: each deliver (a demo_msg) is recorded as this stage's decision on (client, req_id),
     * for sim_check_stage_agreement(). */
    uint32_t decision_stage;
};

/* The reply body a correct service chain gives for a request body (identity if NULL). */
typedef void sim_expect_fn(const uint8_t *body, size_t len, struct buf *reply_body);

struct sim_stats {
    uint64_t messages;          /* Delivered to an endpoint (the simulated packets). */
    uint64_t lost;              /* Dropped by the network: loss, partition, endpoint down. */
    uint64_t forged_dropped;
    uint64_t steps;             /* Core steps. */
    uint64_t timers;
    uint64_t drops[FT_DROP_N_REASONS];
    uint64_t end_ns;            /* Virtual time of the last event. */
};

struct sim *sim_create(uint64_t seed, struct buf *trace);
void sim_destroy(struct sim *);
uint64_t sim_seed(const struct sim *);
/* The scenario's own stream (fault schedule, workload), separate from the network's. */
struct ft_rng *sim_rng(struct sim *);
uint64_t sim_now(const struct sim *);

void sim_set_net(struct sim *, const struct sim_net_config *);
const struct sim_net_config *sim_net(const struct sim *);
void sim_set_expect(struct sim *, sim_expect_fn *);

uint32_t sim_add_endpoint(struct sim *, const char *name);
const char *sim_endpoint_name(const struct sim *, uint32_t id);
size_t sim_n_endpoints(const struct sim *);
/* Aborts on an invalid spec: scenarios are code, a bad one is a bug. */
void sim_make_core(struct sim *, uint32_t id, const struct sim_core_spec *);
void sim_make_service(struct sim *, uint32_t id, sim_service_fn *, const uint32_t *next,
                      size_t n_next);
void sim_make_client(struct sim *, uint32_t id, const uint32_t *targets, size_t n_targets);

/* Faults. Each one marks the endpoint faulty (outside agreement), except link faults. */
void sim_crash_at(struct sim *, uint32_t id, uint64_t at_ns);
/* A crash nobody is told of (no failure notice): its peers learn of it only from what its
 * replacement says (e.g. NHAM's SFF from a READY, when the FMS skips its hold). */
void sim_crash_silent_at(struct sim *, uint32_t id, uint64_t at_ns);
void sim_restart_at(struct sim *, uint32_t id, uint64_t at_ns);
void sim_set_byzantine(struct sim *, uint32_t id, const struct sim_byzantine *);
/* Directional loss on from -> to with probability 'p' until 'until_ns'. */
void sim_link_loss(struct sim *, uint32_t from, uint32_t to, double p, uint64_t until_ns);
/* Cuts a <-> b in both directions during [from_ns, until_ns). */
void sim_partition(struct sim *, uint32_t a, uint32_t b, uint64_t from_ns, uint64_t until_ns);
/* Counts 'id' as one of the f faulty endpoints (outside agreement and liveness) when the
 * scenario makes it faulty with link faults alone (omission, partition). */
void sim_mark_faulty(struct sim *, uint32_t id);
bool sim_is_faulty(const struct sim *, uint32_t id);

/* Schedules a request from 'client' at 'at_ns' with 'body'. Returns its request id. */
uint64_t sim_request_at(struct sim *, uint32_t client, uint64_t at_ns, const void *body,
                        size_t len);

/* Runs until no event is left or virtual time passes 'end_ns'. Returns 0, or the errno a core's
 * step returned (the run stops; the trace says where). */
int sim_run(struct sim *, uint64_t end_ns);
const struct sim_history *sim_history(const struct sim *);
const struct sim_stats *sim_stats(const struct sim *);

/* For Byzantine strategies: puts a message on the wire claiming to come from 'claimed'. */
void sim_net_send(struct sim *, uint32_t true_src, uint32_t claimed_src, uint32_t dst,
                  enum ft_event_kind, const uint8_t *, size_t);
/* Appends a trace line (with time and endpoint) when tracing. */
void sim_trace(struct sim *, uint32_t endpoint, const char *fmt, ...) PRINTF_FORMAT(3, 4);
bool sim_tracing(const struct sim *);

#endif
