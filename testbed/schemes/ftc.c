/* ftc — FTC (SIGCOMM'20): each VNF's state replicated along the chain itself. Every VNF guest
 * runs its function behind FTC's ring member (vnfs/sfc/vnf_ftc.h: the cores of vnfs/ft/ftc on
 * the NSH path), the first one also the forwarder, the last one also the buffer; a VNF's
 * replication group is its guest and the f VNF guests after it, the chain seen as a ring. No
 * extra guest: the chain needs at least f+1 VNFs (the paper's extra replicas for shorter
 * chains are not deployed here; the simulator runs them). With link: direct (the default), a
 * veth straight between the first and the last VNF's guests carries the buffer's piggyback
 * messages and the front's commits to the buffer (the paper's "10 Gbps link to disseminate
 * state changes from buffer to forwarder"), made again when either guest is replaced; a
 * provider whose guests' namespaces the host cannot enter (a VM) falls back to the switch.
 * With ends: own (the default), the first and the last VNF's guests each have a middlebox's
 * CPU quota more (resources.vnf.cpus, else cpus) for the forwarder and the buffer, which the
 * paper runs on cores of their own beside those middleboxes; what the bench's per-middlebox
 * quota then bounds is each middlebox, as for none, not a middlebox plus an end. They run on a
 * thread of their own in sfcd (vnfs/sfc/vnf_ftc.h), which the host gives that quota, and the
 * middlebox's thread the other (deploy_ftc_split(): the guest's group alone let the middlebox
 * use what its end left, ~0.06 cores at length 2 in session 21), again in a replaced guest.
 * Where the host cannot move a guest's threads (kvm), the two share the guest's quota.
 *
 * The controller is the paper's orchestrator for crashes. It watches every VNF's guest (a pidfd
 * on its init: a destroyed guest is seen at once) and its role process (a pidfd on it, so a
 * killed process is seen at once too; through the guest's agent where the host cannot see the
 * guest's pids, a VM's).
 * When a guest is gone it spawns a new guest at the failed position (deploy_replace_guest():
 * the same MACs and addresses, so the ring and the SFF's path stay as they are, on new switch
 * ports the L2 flows are rerouted to); when only the role is gone, the same guest is kept. Either
 * way the next incarnation of the role starts there and fetches each of its groups' state (its
 * own from the successor, the others from the predecessors) before it takes traffic. Every
 * failed VNF's replacement starts before any is waited for (simultaneous failures). Events:
 * 'suspected', 'initialized' (new guest; role started), 'recovered' (every group fetched). */
#include <errno.h>
#include <inttypes.h>
#include <libfyaml.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "testbed/deploy/deploy.h"
#include "testbed/infra/instance.h"
#include "testbed/infra/provider.h"
#include "testbed/model/experiment.h"
#include "testbed/model/yaml.h"
#include "testbed/run/events.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/ftc/ftc.h"

#define FTC_MAX_VNFS 16

static const char *const ftc_link_choices[] = { "direct", "switch", NULL };
static const char *const ftc_ends_choices[] = { "own", "shared", NULL };

static const struct scheme_param ftc_params[] = {
    { "f", SCHEME_PARAM_UINT, "1", 1, 8, NULL,
      "failures tolerated: each VNF's state on f+1 VNF guests (the chain needs f+1 VNFs)" },
    { "partitions", SCHEME_PARAM_UINT, "1", 1, 16, NULL,
      "state partitions (dependency vectors); functions that do not say what they read "
      "depend on all of them" },
    { "threads", SCHEME_PARAM_UINT, "1", 1, 64, NULL,
      "threads running each head's packet transactions (the paper's multithreaded "
      "middleboxes; > 1 needs a transactional one: monitor, simplenat, mazunat); beyond the "
      "host's cores they only contend" },
    { "tick", SCHEME_PARAM_DURATION, "2ms", 100000, 1000000000ull, NULL,
      "retransmission, recovery retry and propagation period" },
    { "link", SCHEME_PARAM_STRING, "direct", 0, 0, ftc_link_choices,
      "the buffer's and the front's commits' path between the last and the first VNF: "
      "direct (a veth between their guests, the paper's state link; the switch where the "
      "provider cannot make one) or switch" },
    { "ends", SCHEME_PARAM_STRING, "own", 0, 0, ftc_ends_choices,
      "the forwarder's and the buffer's CPU: own (their thread a middlebox's quota of its own "
      "beside the middlebox's, in the first and the last VNF's guests: the paper's cores of "
      "their own on those middleboxes' servers) or shared (within their middlebox's quota)" },
    { "sff_window", SCHEME_PARAM_UINT, DEPLOY_SFF_WINDOW, 0, 65536, NULL,
      "the SFF's admission: new frames only while fewer are in the chain (0: none; else at "
      "least 64), as none's" },
};

/* The keys of a chain VNF's 'resiliency' map. */
static const struct scheme_param ftc_vnf_params[] = {
    { "threads", SCHEME_PARAM_UINT, "1", 1, 64, NULL,
      "this VNF's head's transaction threads (instead of the scheme's threads)" },
};

static const struct scheme_target ftc_targets[] = {
    { "vnf[N]", "the N-th VNF with its ring member (forwarder on vnf[0], buffer on the last)" },
    { "classifier[0]", "the classifier" },
    { "sff[0]", "the service function forwarder" },
    { "client[0]", "the workload's client" },
    { "server[0]", "the echo server at the chain's end" },
};

extern const struct scheme_class scheme_ftc;

/* VNF 'i''s threads: its own resiliency setting, else the scheme's. */
static unsigned
ftc_threads_of(const struct exp_point *p, size_t i)
{
    const char *s = scheme_vnf_param_value(&scheme_ftc, p, i, "threads");

    return s ? strtoul(s, NULL, 0) : 1;
}

static void
ftc_opts(const struct exp_point *p, struct deploy_chain_opts *o)
{
    *o = (struct deploy_chain_opts) {
        .replicas = 1, .ftc = true,
        .sff_window = deploy_sff_window(scheme_param_uint(&scheme_ftc, p, "sff_window")),
        .f = scheme_param_uint(&scheme_ftc, p, "f"),
        .ftc_partitions = scheme_param_uint(&scheme_ftc, p, "partitions"),
        .ftc_tick = scheme_param_value(&scheme_ftc, p, "tick"),
        .ftc_link = !strcmp(scheme_param_value(&scheme_ftc, p, "link"), "direct"),
        .ftc_end_cpus = !strcmp(scheme_param_value(&scheme_ftc, p, "ends"), "own"),
    };
    for (size_t i = 0; i < p->n_vnfs && i < DEPLOY_FTC_MAX_VNFS; i++) {
        o->ftc_threads[i] = ftc_threads_of(p, i);
    }
}

static void
ftc_check(struct yaml_doc *doc, struct fy_node *root, struct fy_node *params,
          const struct exp_point *p)
{
    uint64_t f = scheme_param_uint(&scheme_ftc, p, "f");

    if (p->n_vnfs < f + 1) {
        yaml_error(doc, params ? params : root, "ftc: f=%llu needs a chain of at least %llu "
                   "VNFs (it has %zu): each VNF's group is f+1 VNF guests",
                   (unsigned long long) f, (unsigned long long) f + 1, p->n_vnfs);
    }
    for (size_t i = 0; i < p->n_vnfs; i++) {
        const struct ftc_mbox_class *c = ftc_mbox_find(p->vnfs[i].fn);

        if (ftc_threads_of(p, i) > 1 && (!c || !c->concurrent)) {
            struct fy_node *at = params && fy_node_is_mapping(params)
                                 ? yaml_map_get(params, "threads") : NULL;

            yaml_error(doc, at ? at : params ? params : root, "ftc: threads > 1 needs the "
                       "VNF's middlebox to be a packet transaction (monitor, simplenat, "
                       "mazunat); vnf[%zu] is %s (give threads to the VNFs that are: "
                       "'resiliency: {threads: N}')", i, p->vnfs[i].fn);
            break;
        }
    }
    if (p->n_vnfs > FTC_MAX_VNFS) {
        yaml_error(doc, params ? params : root, "ftc: at most %d VNFs (it has %zu)",
                   FTC_MAX_VNFS, p->n_vnfs);
    }
}

static bool
ftc_has_target(const struct exp_point *p, const char *role, int index, int replica)
{
    return replica < 0 && scheme_chain_has_target(p, role, index);
}

static int
ftc_topology(const struct exp_point *p, struct topology **topop, char **errp)
{
    struct deploy_chain_opts o;

    ftc_opts(p, &o);
    return deploy_chain_topology(p, &o, topop, errp);
}

static int
ftc_deploy(struct instance *inst, const struct exp_point *p, const char *work_dir,
           struct deployment **dp)
{
    struct deploy_chain_opts o;

    ftc_opts(p, &o);
    return deploy_chain(inst, p, &o, work_dir, dp);
}

/* The orchestrator's recovery loop. */
struct ftc_controller {
    struct scheme_controller_ctx ctx;
    pthread_t thread;
    bool stop;
    pthread_mutex_t mutex;
    uint32_t incarnation[FTC_MAX_VNFS];
    int fd[FTC_MAX_VNFS];       /* Our own agent connections: the runner samples on the
                                 * deployment's, and one connection carries one call at a time. */
    int pidfd[FTC_MAX_VNFS];    /* The init of each VNF's guest: readable once it is gone.
                                 * -1: the provider cannot say (a VM): its guest is known dead
                                 * once destroyed. */
    int role_pidfd[FTC_MAX_VNFS];   /* Each VNF's role process: readable once it is gone.
                                     * -1: the host cannot see it (a VM): its agent says. */
    char *base[FTC_MAX_VNFS];   /* The first guest's name: replacements are BASE-N. */
    unsigned n_guests[FTC_MAX_VNFS];    /* Replacement guests made so far. */
    int old_fds[2 * 64];        /* Connections to dead guests, closed at the end (the runner */
    size_t n_old_fds;           /* may still have been in a call on one). */
};

/* One VNF's recovery in progress, between its two phases. */
struct ftc_recovery {
    struct deploy_component *vc;
    uint64_t t0;                /* When it was suspected. */
    uint64_t t_started;         /* When its replacement role was started. */
    bool started;
};

static bool
ftc_controller_stopping(struct ftc_controller *c)
{
    bool stop;

    pthread_mutex_lock(&c->mutex);
    stop = c->stop;
    pthread_mutex_unlock(&c->mutex);
    return stop;
}

/* Whether the replacement says every group is fetched (its 'ftc_state'). */
static bool
ftc_ready(int fd, int role_id)
{
    json_t *params = json_pack("{s:i}", "id", role_id), *result = NULL;
    int error = rpc_call(fd, "ftc_state", params, &result, 2000);
    bool ready = !error && json_is_true(json_object_get(result, "ready"));

    json_decref(params);
    json_decref(result);
    return ready;
}

/* Whether role 'id' still runs on the agent behind 'fd' (its "roles" answer). */
static bool
ftc_role_running(int fd, int id)
{
    json_t *result = NULL, *r;
    bool running = true;
    size_t i;

    if (rpc_call(fd, "roles", NULL, &result, 2000)) {
        return true;            /* Cannot tell: the agent is busy or slow; ask again later. */
    }
    json_array_foreach (result, i, r) {
        if (json_integer_value(json_object_get(r, "id")) == id) {
            running = json_is_true(json_object_get(r, "running"));
        }
    }
    json_decref(result);
    return running;
}

/* A pidfd on the init of the guest of 'vc', or -1 when the provider cannot give one. */
static int
ftc_guest_pidfd(struct deploy_component *vc)
{
    struct guest *g = __atomic_load_n(&vc->ig->guest, __ATOMIC_ACQUIRE);
    pid_t pid;

    if (!g || guest_host_pid(g, 1, &pid)) {
        return -1;
    }
    return syscall(SYS_pidfd_open, pid, 0);
}

/* VNF 'vc' now runs role 'role_id' ('nspid' its pid in its guest). Its deploy component says so
 * at once (the runner samples and stops the role through it, and a fault aimed at it finds the
 * process that runs now), and the controller watches that process's death. */
static void
ftc_set_role(struct ftc_controller *c, struct deploy_component *vc, int role_id, int nspid)
{
    unsigned i = vc->index;
    pid_t pid;

    __atomic_store_n(&vc->nspid, nspid, __ATOMIC_RELEASE);
    __atomic_store_n(&vc->role_id, role_id, __ATOMIC_RELEASE);
    if (c->role_pidfd[i] >= 0) {
        close(c->role_pidfd[i]);
    }
    pid = nspid > 0 ? deploy_host_pid(c->ctx.inst, vc->guest, nspid) : 0;
    c->role_pidfd[i] = pid > 0 ? syscall(SYS_pidfd_open, pid, 0) : -1;
    if (c->role_pidfd[i] < 0) {
        /* Its agent's "roles" tell then, asked every round (a VM's pids are its own). */
        log_debug("ftc: %s: its process (pid %d in its guest) is watched through its agent",
                  vc->name, nspid);
    }
}

/* Whether the role process of VNF 'vc' is gone: its pidfd readable, or (without one) its
 * guest's agent says it no longer runs. */
static bool
ftc_role_gone(struct ftc_controller *c, struct deploy_component *vc)
{
    struct pollfd pfd = { .fd = c->role_pidfd[vc->index], .events = POLLIN };

    if (pfd.fd < 0) {
        return !ftc_role_running(c->fd[vc->index], vc->role_id);
    }
    return poll(&pfd, 1, 0) == 1;
}

/* Whether the guest of VNF 'i' is gone: its init exited (or, with no pidfd, the guest was
 * destroyed). */
static bool
ftc_guest_gone(struct ftc_controller *c, struct deploy_component *vc)
{
    struct pollfd pfd = { .fd = c->pidfd[vc->index], .events = POLLIN };

    if (pfd.fd < 0) {
        return !__atomic_load_n(&vc->ig->guest, __ATOMIC_ACQUIRE);
    }
    return poll(&pfd, 1, 0) == 1;
}

/* Phase one for a VNF whose guest died: a new guest in its place (the same MACs: the ring,
 * the SFF's path and the peers know it by them), the switch rerouted to it, and the next
 * incarnation of its role started there, which fetches its groups' state. */
static int
ftc_replace_guest(struct ftc_controller *c, struct deploy_component *vc)
{
    struct deployment *d = c->ctx.dep;
    unsigned i = vc->index;
    char name[64];
    uint64_t t0 = time_mono_ns();
    int old_fd = -1, error;

    /* The injector that destroyed it may still be finishing (its cgroup): the guest's
     * entry is ours only once it let go of it. */
    for (int k = 0; k < 300 && __atomic_load_n(&vc->ig->guest, __ATOMIC_ACQUIRE); k++) {
        usleep(10000);
    }
    log_debug("ftc: %s: its guest let go of after %.1f ms", vc->name,
              (time_mono_ns() - t0) / 1e6);
    snprintf(name, sizeof name, "%s-%u", c->base[i], ++c->n_guests[i]);
    error = deploy_replace_guest(d, vc, name, &old_fd);
    if (old_fd >= 0 && c->n_old_fds < ARRAY_SIZE(c->old_fds)) {
        c->old_fds[c->n_old_fds++] = old_fd;
    }
    if (error) {
        return error;
    }
    if (c->fd[i] >= 0 && c->n_old_fds < ARRAY_SIZE(c->old_fds)) {
        c->old_fds[c->n_old_fds++] = c->fd[i];
    }
    c->fd[i] = -1;
    error = instance_mgmt_connect(c->ctx.inst, vc->ig->mgmt_addr, INSTANCE_AGENT_PORT, 5000,
                                  &c->fd[i]);
    if (error) {
        return error;
    }
    if (c->pidfd[i] >= 0) {
        close(c->pidfd[i]);
    }
    c->pidfd[i] = ftc_guest_pidfd(vc);
    run_events_addf(c->ctx.events, 0, "initialized", vc->name,
                    "ftc: new guest %s in %.1f ms (same MACs and addresses, rerouted)", name,
                    (time_mono_ns() - t0) / 1e6);
    return 0;
}

/* Phase one of a recovery: the replacement started (in a new guest when the old one is gone,
 * else in the same guest as the next incarnation). */
static int
ftc_recovery_start(struct ftc_controller *c, struct ftc_recovery *r, bool guest_gone)
{
    struct deploy_component *vc = r->vc, tmp;
    unsigned i = vc->index;
    int error;

    if (guest_gone) {
        error = ftc_replace_guest(c, vc);
        if (error) {
            log_err("ftc: %s: no new guest (%s)", vc->name, strerror(error));
            return error;
        }
    }
    tmp = *vc;
    tmp.agent_fd = c->fd[i];
    error = deploy_start_vnf(c->ctx.dep, &tmp, ++c->incarnation[i]);
    if (error) {
        log_err("ftc: %s: no replacement (%s)", vc->name, strerror(error));
        return error;
    }
    ftc_set_role(c, vc, tmp.role_id, tmp.nspid);
    r->t_started = time_mono_ns();
    r->started = true;
    run_events_addf(c->ctx.events, 0, "initialized", vc->name,
                    "ftc: incarnation %"PRIu32" started on %s, %.1f ms after the suspicion",
                    c->incarnation[i], vc->guest, (r->t_started - r->t0) / 1e6);
    return 0;
}

static void *
ftc_controller_main(void *c_)
{
    struct ftc_controller *c = c_;
    struct deployment *d = c->ctx.dep;
    /* Recoveries under way, by VNF index: each is waited for without holding up the others,
     * so a failure during another's recovery is seen at once (the first may need the second's
     * replacement to fetch from). */
    struct ftc_recovery rec[FTC_MAX_VNFS] = { { 0 } };

    while (!ftc_controller_stopping(c)) {
        struct deploy_component *failed[FTC_MAX_VNFS];
        bool gone[FTC_MAX_VNFS];
        struct pollfd pfds[2 * FTC_MAX_VNFS];
        size_t n_failed = 0, n_pfds = 0;
        bool waiting = false;

        /* Every failure first (simultaneous ones are suspected together), then every
         * replacement starts before any is waited for, as the paper's orchestrator waits for
         * all of them. */
        for (size_t i = 0; i < d->n_comps; i++) {
            struct deploy_component *vc = &d->comps[i];

            if (strcmp(vc->role, "vnf") || vc->index >= FTC_MAX_VNFS || c->fd[vc->index] < 0) {
                continue;
            }
            gone[n_failed] = ftc_guest_gone(c, vc);
            if (!gone[n_failed] && !ftc_role_gone(c, vc)) {
                continue;
            }
            run_events_add(c->ctx.events, 0, "suspected", vc->name,
                           gone[n_failed] ? "ftc: guest gone" : "ftc: role gone");
            rec[vc->index] = (struct ftc_recovery) { .vc = vc, .t0 = time_mono_ns() };
            failed[n_failed++] = vc;
        }
        for (size_t j = 0; j < n_failed; j++) {
            ftc_recovery_start(c, &rec[failed[j]->index], gone[j]);
        }
        /* Each replacement says when every group it is in is fetched. */
        for (size_t i = 0; i < FTC_MAX_VNFS; i++) {
            struct deploy_component *vc = rec[i].vc;

            if (!vc || !rec[i].started || c->fd[i] < 0) {
                continue;
            }
            if (ftc_ready(c->fd[i], vc->role_id)) {
                uint64_t now = time_mono_ns();

                run_events_addf(c->ctx.events, 0, "recovered", vc->name,
                                "ftc: every group's state fetched in %.1f ms (%.1f ms from "
                                "the suspicion)", (now - rec[i].t_started) / 1e6,
                                (now - rec[i].t0) / 1e6);
                rec[i].started = false;
            } else {
                waiting = true;
            }
        }
        /* Sleep until a guest or a role process dies, or 20 ms (5 while a replacement
         * fetches; without a pidfd a death is seen by asking). */
        for (size_t i = 0; i < FTC_MAX_VNFS; i++) {
            if (c->pidfd[i] >= 0) {
                pfds[n_pfds++] = (struct pollfd) { .fd = c->pidfd[i], .events = POLLIN };
            }
            if (c->role_pidfd[i] >= 0) {
                pfds[n_pfds++] = (struct pollfd) { .fd = c->role_pidfd[i], .events = POLLIN };
            }
        }
        if (poll(pfds, n_pfds, waiting ? 5 : 20) < 0 && errno != EINTR) {
            usleep(20000);
        }
    }
    return NULL;
}

static int
ftc_controller_start(const struct scheme_controller_ctx *ctx, void **statep)
{
    struct ftc_controller *c = xzalloc(sizeof *c);
    int error;

    c->ctx = *ctx;
    for (size_t i = 0; i < FTC_MAX_VNFS; i++) {
        c->fd[i] = -1;
        c->pidfd[i] = -1;
        c->role_pidfd[i] = -1;
    }
    for (size_t i = 0; i < ctx->dep->n_comps; i++) {
        struct deploy_component *vc = &ctx->dep->comps[i];

        if (strcmp(vc->role, "vnf") || vc->index >= FTC_MAX_VNFS) {
            continue;
        }
        c->base[vc->index] = xstrdup(vc->guest);
        c->pidfd[vc->index] = ftc_guest_pidfd(vc);
        ftc_set_role(c, vc, vc->role_id, vc->nspid);
        if (instance_mgmt_connect(ctx->inst, vc->ig->mgmt_addr, INSTANCE_AGENT_PORT, 5000,
                                  &c->fd[vc->index])) {
            log_err("ftc: %s: no agent connection: crashes will not be recovered", vc->name);
        }
    }
    pthread_mutex_init(&c->mutex, NULL);
    error = pthread_create(&c->thread, NULL, ftc_controller_main, c);
    if (error) {
        pthread_mutex_destroy(&c->mutex);
        for (size_t i = 0; i < FTC_MAX_VNFS; i++) {
            int fds[] = { c->fd[i], c->pidfd[i], c->role_pidfd[i] };

            for (size_t k = 0; k < ARRAY_SIZE(fds); k++) {
                if (fds[k] >= 0) {
                    close(fds[k]);
                }
            }
            free(c->base[i]);
        }
        free(c);
        return error;
    }
    *statep = c;
    return 0;
}

static void
ftc_controller_stop(void *c_)
{
    struct ftc_controller *c = c_;

    pthread_mutex_lock(&c->mutex);
    c->stop = true;
    pthread_mutex_unlock(&c->mutex);
    pthread_join(c->thread, NULL);
    pthread_mutex_destroy(&c->mutex);
    for (size_t i = 0; i < FTC_MAX_VNFS; i++) {
        if (c->fd[i] >= 0) {
            close(c->fd[i]);
        }
        if (c->pidfd[i] >= 0) {
            close(c->pidfd[i]);
        }
        if (c->role_pidfd[i] >= 0) {
            close(c->role_pidfd[i]);
        }
        free(c->base[i]);
    }
    for (size_t i = 0; i < c->n_old_fds; i++) {
        close(c->old_fds[i]);
    }
    free(c);
}

const struct scheme_class scheme_ftc = {
    .name = "ftc",
    .summary = "FTC: each VNF's state replicated on the f VNF guests after it (the chain as a "
               "ring), piggybacked on the packets; a buffer releases after f+1 copies",
    .guests = "client, classifier, SFF, server, one per VNF (each also a replica of the f "
              "before it); the chain needs f+1 VNFs",
    .params = ftc_params,
    .n_params = ARRAY_SIZE(ftc_params),
    .vnf_params = ftc_vnf_params,
    .n_vnf_params = ARRAY_SIZE(ftc_vnf_params),
    .targets = ftc_targets,
    .n_targets = ARRAY_SIZE(ftc_targets),
    .check = ftc_check,
    .has_target = ftc_has_target,
    .topology = ftc_topology,
    .deploy = ftc_deploy,
    .stop = deploy_stop,
    .controller_start = ftc_controller_start,
    .controller_stop = ftc_controller_stop,
};
