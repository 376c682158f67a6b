/* ftc — FTC (SIGCOMM'20): each VNF's state replicated along the chain itself. Every VNF guest
 * runs its function behind FTC's ring member (vnfs/sfc/vnf_ftc.h: the cores of vnfs/ft/ftc on
 * the NSH path), the first one also the forwarder, the last one also the buffer; a VNF's
 * replication group is its guest and the f VNF guests after it, the chain seen as a ring. No
 * extra guest: the chain needs at least f+1 VNFs (the paper's extra replicas for shorter
 * chains are not deployed here; the simulator runs them).
 *
 * The controller is the paper's orchestrator for crashes: it watches every VNF's role through
 * its guest's agent and, when one is gone, starts a replacement in the same guest as the next
 * incarnation, which fetches each of its groups' state (its own from the successor, the others
 * from the predecessor) before it takes traffic; the events 'suspected' and 'recovered' go to
 * the run. A replacement in a new guest (with a new address on the ring) is not done. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testbed/deploy/deploy.h"
#include "testbed/infra/instance.h"
#include "testbed/model/experiment.h"
#include "testbed/model/yaml.h"
#include "testbed/run/events.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"

#define FTC_MAX_VNFS 16

static const struct scheme_param ftc_params[] = {
    { "f", SCHEME_PARAM_UINT, "1", 1, 8, NULL,
      "failures tolerated: each VNF's state on f+1 VNF guests (the chain needs f+1 VNFs)" },
    { "partitions", SCHEME_PARAM_UINT, "1", 1, 16, NULL,
      "state partitions (dependency vectors); functions that do not say what they read "
      "depend on all of them" },
    { "tick", SCHEME_PARAM_DURATION, "2ms", 100000, 1000000000ull, NULL,
      "retransmission, recovery retry and propagation period" },
};

static const struct scheme_target ftc_targets[] = {
    { "vnf[N]", "the N-th VNF with its ring member (forwarder on vnf[0], buffer on the last)" },
    { "classifier[0]", "the classifier" },
    { "sff[0]", "the service function forwarder" },
    { "client[0]", "the workload's client" },
    { "server[0]", "the echo server at the chain's end" },
};

extern const struct scheme_class scheme_ftc;

static void
ftc_opts(const struct exp_point *p, struct deploy_chain_opts *o)
{
    *o = (struct deploy_chain_opts) {
        .replicas = 1, .ftc = true, .f = scheme_param_uint(&scheme_ftc, p, "f"),
        .ftc_partitions = scheme_param_uint(&scheme_ftc, p, "partitions"),
        .ftc_tick = scheme_param_value(&scheme_ftc, p, "tick"),
    };
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

/* Waits until the replacement says every group is fetched (its 'ftc_state'). */
static bool
ftc_wait_ready(struct ftc_controller *c, int fd, int role_id)
{
    for (int i = 0; i < 500 && !ftc_controller_stopping(c); i++) {
        json_t *params = json_pack("{s:i}", "id", role_id), *result = NULL;
        int error = rpc_call(fd, "ftc_state", params, &result, 2000);
        bool ready = !error && json_is_true(json_object_get(result, "ready"));

        json_decref(params);
        json_decref(result);
        if (ready) {
            return true;
        }
        usleep(10000);
    }
    return false;
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

static void *
ftc_controller_main(void *c_)
{
    struct ftc_controller *c = c_;
    struct deployment *d = c->ctx.dep;

    while (!ftc_controller_stopping(c)) {
        for (size_t i = 0; i < d->n_comps; i++) {
            struct deploy_component *vc = &d->comps[i], tmp;
            char detail[96];
            int error;

            if (strcmp(vc->role, "vnf") || vc->index >= FTC_MAX_VNFS || c->fd[vc->index] < 0
                || ftc_role_running(c->fd[vc->index], vc->role_id)) {
                continue;
            }
            run_events_add(c->ctx.events, 0, "suspected", vc->name, "ftc: role gone");
            snprintf(detail, sizeof detail, "ftc: incarnation %"PRIu32" started",
                     c->incarnation[vc->index] + 1);
            tmp = *vc;
            tmp.agent_fd = c->fd[vc->index];
            error = deploy_start_ftc_vnf(d, &tmp, ++c->incarnation[vc->index]);
            if (error) {
                log_err("ftc: %s: no replacement (%s)", vc->name, strerror(error));
                continue;
            }
            vc->role_id = tmp.role_id;
            run_events_add(c->ctx.events, 0, "initialized", vc->name, detail);
            if (ftc_wait_ready(c, c->fd[vc->index], tmp.role_id)) {
                run_events_add(c->ctx.events, 0, "recovered", vc->name,
                               "ftc: every group's state fetched");
            }
        }
        usleep(20000);
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
    }
    for (size_t i = 0; i < ctx->dep->n_comps; i++) {
        struct deploy_component *vc = &ctx->dep->comps[i];

        if (!strcmp(vc->role, "vnf") && vc->index < FTC_MAX_VNFS
            && instance_mgmt_connect(ctx->inst, vc->ig->mgmt_addr, INSTANCE_AGENT_PORT, 5000,
                                     &c->fd[vc->index])) {
            log_err("ftc: %s: no agent connection: crashes will not be recovered", vc->name);
        }
    }
    pthread_mutex_init(&c->mutex, NULL);
    error = pthread_create(&c->thread, NULL, ftc_controller_main, c);
    if (error) {
        pthread_mutex_destroy(&c->mutex);
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
