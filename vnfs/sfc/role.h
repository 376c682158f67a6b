/* role — what every sfcd role shares: the common options (--iface, --cpu, --ctl, --stats,
 * --id), CPU pinning, the event loop with SIGTERM/SIGINT (stop) and SIGUSR1 (print counters),
 * and a control socket answering JSON-RPC `stats` (plus the role's own methods, e.g. a VNF's
 * export_state/import_state), through which the agent reads counters. A role on raw frames
 * (classifier, SFF, VNF) opens its interface with role_open_pktio() and hands its per-frame
 * function to role_serve_pktio(), which owns the receive loop: one batching and one timestamp
 * discipline for every hop. role never looks inside a frame.
 *
 * A role registers pointers to its counters once; they are read, never copied, so reporting
 * costs the data path nothing. Roles are single-threaded, but for FTC's forwarder and buffer
 * (vnf_ftc.h), whose thread may read role->io (rx_elsewhere). Main type: struct role. */
#ifndef SFC_ROLE_H
#define SFC_ROLE_H 1

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "vnfs/lib/loop.h"
#include "vnfs/lib/rpc.h"

struct pktio;
struct pktio_pkt;

#define ROLE_MAX_COUNTERS 80
#define ROLE_MAX_METHODS 8

/* getopt_long values of the common options; roles use values below 0x100 for theirs. */
enum {
    ROLE_OPT_IFACE = 0x100,
    ROLE_OPT_CPU,
    ROLE_OPT_CTL,
    ROLE_OPT_STATS,
    ROLE_OPT_ID,
};
#define ROLE_COMMON_LONGOPTS                                \
    { "iface", required_argument, NULL, ROLE_OPT_IFACE },   \
    { "cpu", required_argument, NULL, ROLE_OPT_CPU },       \
    { "ctl", required_argument, NULL, ROLE_OPT_CTL },       \
    { "stats", required_argument, NULL, ROLE_OPT_STATS },   \
    { "id", required_argument, NULL, ROLE_OPT_ID }
#define ROLE_COMMON_USAGE \
    "  --iface IF      data interface\n" \
    "  --cpu N         pin to CPU N\n" \
    "  --ctl PATH      control socket (JSON-RPC: stats, ...)\n" \
    "  --stats FILE    write counters as JSON here at exit\n" \
    "  --id N          component id in timestamps (default: from the MAC)\n"

/* What a role does with one received frame: 't_in' is when its batch arrived, the same for
 * every frame of the batch. Frames to send go out with pktio_queue() on role->io. */
typedef void role_frame_cb(void *aux, struct pktio_pkt *, uint64_t t_in);

struct role_counter {
    const char *name;
    const uint64_t *value;
};

struct role {
    const char *name;
    char *iface;
    int cpu;                        /* -1: not pinned. */
    char *ctl_path;
    char *stats_path;
    uint32_t id;
    bool id_set;
    struct loop *loop;
    struct rpc_server *ctl;
    uint64_t started_ns;
    struct role_counter counters[ROLE_MAX_COUNTERS];
    size_t n_counters;
    struct rpc_method methods[ROLE_MAX_METHODS];
    size_t n_methods;
    void *aux;                      /* The role's own state: its methods and callbacks'. */
    struct pktio *io;               /* From role_open_pktio(); closed by role_finish(). */
    role_frame_cb *frame_cb;        /* role_serve_pktio()'s. */
    /* Called once the loop exists, before the first frame (e.g. to put a protocol core's
     * timers on it); a non-zero errno stops the role. May be NULL. */
    int (*on_start)(struct role *);
    void (*frames_done)(void *aux);
    /* role->io is read by a thread of the role's own (FTC's end, on the first VNF): the loop
     * does not watch it. Set in on_start. */
    bool rx_elsewhere;
    struct pktio *drop_ios[4];      /* role_add_drops_counter()'s. */
    size_t n_drop_ios;
};

void role_init_common(struct role *, const char *name);
/* Handles a common option; returns 0 if handled, ENOENT if 'opt' is not common, EINVAL (after
 * printing why) if its argument is bad. */
int role_parse_common(struct role *, int opt, const char *arg);
/* The default: branch of a role's getopt loop: 'h' (--help) prints 'usage' to stdout, a common
 * option is taken, an unknown one prints 'usage' too. Returns true if parsing ends here and the
 * role must return '*rc' (0 after --help, 2 after a bad or unknown option). */
bool role_parse_option(struct role *, int opt, const char *arg, void (*usage)(void), int *rc);

void role_add_counter(struct role *, const char *name, const uint64_t *value);
void role_add_method(struct role *, const char *name, rpc_method_cb *);
/* Counts the frames the kernel dropped on 'io''s receive queue as 'name', read afresh whenever
 * the counters are (the stats method, SIGUSR1, the exit). 'io' must outlive the role's loop. */
void role_add_drops_counter(struct role *, const char *name, struct pktio *io);

/* Pins the CPU, creates the loop, the signal handling and the control socket. */
int role_start(struct role *);
/* Runs the loop until SIGTERM/SIGINT, then writes --stats and prints the summary line. Returns
 * the exit code. */
int role_run(struct role *);
void role_finish(struct role *);

/* Opens --iface for raw frames into role->io ('promisc': frames to any MAC too), with transmit
 * checksum offload off, and takes --id from its MAC unless it was given. Logs why it failed.
 * Returns 0 or an errno. */
int role_open_pktio(struct role *, bool promisc);
/* role_start(), then watches 'fd' with 'cb' (given role->aux) and runs until stopped. Returns
 * the exit code: 1 if the role could not start (logged), else role_run()'s. */
int role_serve_fd(struct role *, int fd, loop_fd_cb *);
/* role_serve_fd() on role->io, after registering its rx_packets, tx_packets, tx_errors and
 * rx_dropped counters (behind the role's own). Each wake-up receives up to 8 batches (until a
 * short one), calls 'cb' on every frame and flushes after each batch, then calls 'done' (if
 * not NULL) once. */
int role_serve_pktio(struct role *, role_frame_cb *cb, void (*done)(void *aux));
/* What role_serve_pktio() does on a wake-up, up to 'rounds' batches from role->io (fewer when
 * one is short: the queue ran dry), without 'done': for a role that serves a second socket
 * and wants role->io's frames first. Returns the number of frames handled. */
size_t role_drain_pktio(struct role *, int rounds);

/* Counters as a JSON object (new reference). */
json_t *role_counters_json(const struct role *);

/* A control call's parameter 'key', an integer in [0, 'limit'), into '*v'; else EINVAL with
 * 'expected' as the call's error. */
int role_param_index(const json_t *params, const char *key, json_int_t limit,
                     const char *expected, json_int_t *v, char **errmsg);

/* Pins the calling process to 'cpu'. Returns 0 or an errno. */
int role_pin_cpu(int cpu);

#endif
