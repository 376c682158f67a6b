/* fitsfc — FIT-SFC (papers/000): every component of the IETF SFC architecture replicated 3f+1
 * times on distinct guests, a `bft_voter` (vnfs/ft/fitsfc/bft_voter.c) in front of every SFF,
 * VNF and client input that decides on 2f+1 identical copies from distinct replicas of the
 * stage before (the client: f+1), deployed by deploy_fitsfc() (testbed/deploy/deploy.h):
 *
 *   client --(wrapper: every request to every classifier)--> classifier[3f+1]
 *     --all to all--> sff[3f+1] (entry vote) --all to all--> vnf[N][3f+1] (vote, function)
 *     --all to all--> sff[3f+1] (return vote) --all to all--> wrapper (f+1) --> client
 *
 * The same voter core runs in tests/sim (scenarios fitsfc-f1, fitsfc-f2), which proves the
 * rules below over 1,000 seeds each with up to f faulty replicas per component.
 *
 * Decisions:
 *  - The client wrapper's acceptance rule is f+1 identical replies from distinct SFF replicas
 *    (bft_voter quorum=f+1, own_only=1). Each correct SFF replica sends the final destination
 *    only what its own 2f+1 vote decided, so f+1 identical replies include a correct one; the
 *    2f+1 rule of the inner voters exists for agreement among the replicas of the next stage
 *    (Figure 2), and the client has no next stage. Proved by the fitsfc-f1/f2 scenarios (with f
 *    colluding liars); with quorum f the client accepts forged replies (measured: fitsfc-f1
 *    seed 8, fitsfc-f2 seed 33).
 *  - The counter's carrier (vnfs/sfc/wrap.h): the wrapper sends each classifier replica the
 *    client's own frame behind a wrap header (client id, counter); the classifiers put
 *    (client id << 32 | counter) in NSH_TLV_REQUEST_ID and strip the header, so the inner
 *    packet reaches the VNFs unchanged (dig's and dnsperf's DNS ids are theirs, 16 bits and
 *    reused, so they cannot name a request), and every correct classifier names a request the
 *    same way, which is what lets the SFF voters compare copies from different classifiers.
 *  - Copies are compared on everything but the sender's own timestamp (vnfs/sfc/nshvote.h).
 *  - f = 0 deploys the same chain with one replica each and quorum-1 voters: FIT-SFC's code
 *    path without replication, Figure 5's baseline.
 *
 *  - Consistency by service type, chosen by the function (nf_class.consistency): a globally
 *    stateful VNF (lb, nat) orders what its replicas' voters decided by PBFT among its 3f+1
 *    replicas (vnfs/ft/fitsfc/pbft.c; tests/sim scenarios pbft-f1/f2) before the function
 *    runs; each VNF's replicas get one instance key for those messages (crypto_auth).
 *    view_change_timeout is PBFT's request/view-change timeout.
 *  - A chain must end in a function that answers: dns, or lb with answer=1 (the lb answers
 *    the request itself, naming the backend it chose): replies come back through the replicas.
 *    A per-flow stateful VNF (auth) hands its function each client's requests in counter
 *    order (vnfs/ft/fitsfc/flow_order.c, each replica on its own, behind its voter).
 *
 *  - Recovery (the controller, with `recover: 1`, the default): a replica that masks a fault
 *    is still one of the f the chain can mask, and crashes accumulate over a run. The
 *    controller watches every replica's role through its pidfd (nham_fms.h, no heartbeats)
 *    and starts a dead one again on its guest, with the arguments it was deployed with
 *    (`suspected`, then `recovered` once the agent answers). A dead VNF replica's siblings
 *    are told first (order_peer_down): if it was PBFT's primary, they change the view at
 *    once rather than after view_change_timeout. A stateless replica (classifier,
 *    SFF, dns) is whole at once; a replica of a globally stateful VNF starts as the next
 *    incarnation of its PBFT core, which fetches what the others ordered meanwhile, window
 *    after window, and learns the view from their answers (Castro and Liskov's recovery by
 *    state transfer, here as a replay of the log the others keep: deploy_fitsfc() has them
 *    keep DEPLOY_FITSFC_PBFT_KEEP entries; no image of the function's state is sent). A
 *    per-flow stateful replica (auth) restarts with an empty flow table. The wrapper (the
 *    client's guest) is not restarted. */
#include <errno.h>
#include <libfyaml.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "testbed/deploy/deploy.h"
#include "testbed/infra/instance.h"
#include "testbed/model/experiment.h"
#include "testbed/model/yaml.h"
#include "testbed/run/events.h"
#include "testbed/schemes/nham_fms.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"

#define FITSFC_MAX_F 8

static const struct scheme_param fitsfc_params[] = {
    { "f", SCHEME_PARAM_UINT, "1", 0, FITSFC_MAX_F, NULL,
      "faults or intrusions tolerated per component: 3f+1 replicas of each" },
    { "timeout", SCHEME_PARAM_DURATION, "1s", 1000000, 60000000000ull, NULL,
      "a voter halts a packet that has no 2f+1 identical copies by then" },
    { "view_change_timeout", SCHEME_PARAM_DURATION, "500ms", 1000000, 60000000000ull, NULL,
      "PBFT's view change timeout (the replicas of globally stateful VNFs: lb, nat)" },
    { "recover", SCHEME_PARAM_UINT, "1", 0, 1, NULL,
      "1: a crashed replica is started again on its guest (PBFT replicas catch up); 0: "
      "crashes accumulate" },
};

static const struct scheme_target fitsfc_targets[] = {
    { "classifier[0].replica[M]", "replica M (0..3f) of the classifier" },
    { "sff[0].replica[M]", "replica M (0..3f) of the SFF and its voters" },
    { "vnf[N].replica[M]", "replica M (0..3f) of the N-th VNF and its voter" },
    { "client[0]", "the workload's client (and its wrapper)" },
};

static unsigned
fitsfc_f(const struct exp_point *p)
{
    extern const struct scheme_class scheme_fitsfc;

    return scheme_param_uint(&scheme_fitsfc, p, "f");
}

/* Whether the chain's last function turns requests into answers. */
static bool
fitsfc_answers(const struct exp_vnf *v)
{
    if (!strcmp(v->fn, "dns")) {
        return true;
    }
    for (size_t i = 0; !strcmp(v->fn, "lb") && i < v->n_params; i++) {
        if (!strcmp(v->params[i].key, "answer") && !strcmp(v->params[i].value, "1")) {
            return true;
        }
    }
    return false;
}

static void
fitsfc_check(struct yaml_doc *doc, struct fy_node *root, struct fy_node *params,
             const struct exp_point *p)
{
    uint64_t n = 3 * (uint64_t) fitsfc_f(p) + 1;

    /* Client, server and the replicas of classifier, SFF and each VNF need data addresses
     * below the service address. */
    if (2 + n * (2 + p->n_vnfs) >= 250) {
        yaml_error(doc, params ? params : root, "fitsfc: %zu VNFs with 3f+1 = %llu replicas of "
                   "every component need more than the 245 guest addresses of the data subnet",
                   p->n_vnfs, (unsigned long long) n);
    }
    if (n > 17) {
        yaml_error(doc, params ? params : root, "fitsfc: 3f+1 = %llu replicas, at most 17 "
                   "(f <= 5)", (unsigned long long) n);
    }
    if (p->vnfs && (!p->n_vnfs || !fitsfc_answers(&p->vnfs[p->n_vnfs - 1]))) {
        struct fy_node *chain = root && fy_node_is_mapping(root) ? yaml_map_get(root, "chain")
                                                                 : NULL;
        struct fy_node *vnfs = chain && fy_node_is_mapping(chain) ? yaml_map_get(chain, "vnfs")
                                                                  : NULL;

        yaml_error(doc, vnfs ? vnfs : chain ? chain : root, "fitsfc: the chain must end in a "
                   "function that answers (dns, or lb with answer=1): replies come back "
                   "through the replicas");
    }
}

static bool
fitsfc_has_target(const struct exp_point *p, const char *role, int index, int replica)
{
    int n = 3 * (int) fitsfc_f(p) + 1;

    if (!strcmp(role, "classifier") || !strcmp(role, "sff") || !strcmp(role, "vnf")) {
        return replica >= 0 && replica < n && scheme_chain_has_target(p, role, index);
    }
    return replica < 0 && !strcmp(role, "client") && index == 0;
}

static int
fitsfc_topology(const struct exp_point *p, struct topology **topop, char **errp)
{
    return deploy_fitsfc_topology(p, fitsfc_f(p), topop, errp);
}

static int
fitsfc_deploy(struct instance *inst, const struct exp_point *p, const char *work_dir,
              struct deployment **dp)
{
    extern const struct scheme_class scheme_fitsfc;

    return deploy_fitsfc(inst, p, fitsfc_f(p), scheme_param_value(&scheme_fitsfc, p, "timeout"),
                         scheme_param_value(&scheme_fitsfc, p, "view_change_timeout"),
                         work_dir, dp);
}

/* ---- The controller: crashed replicas are started again. ---- */

#define FITSFC_RPC_MS 5000

struct fitsfc_target {
    struct deploy_component *c;
    size_t fms_idx;
    int fd;                     /* Our own connection to its agent (-1: none yet). */
    uint32_t incarnation;
};

struct fitsfc_ctl {
    struct scheme_controller_ctx ctx;
    struct fms *fms;
    struct fitsfc_target *targets;
    size_t n_targets;
    pthread_t thread;
    bool started;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    size_t *jobs;               /* Targets whose role died, in order. */
    uint64_t *job_at;
    size_t n_jobs;
    bool stopping;
};

/* A call of 't''s agent over our own connection (opened on first use). */
static int
fitsfc_agent_call(struct fitsfc_ctl *ctl, struct fitsfc_target *t, const char *method,
                  json_t *params, json_t **res, char **errmsg)
{
    int error = 0;

    if (t->fd < 0) {
        error = instance_mgmt_connect(ctl->ctx.inst, t->c->ig->mgmt_addr, INSTANCE_AGENT_PORT,
                                      FITSFC_RPC_MS, &t->fd);
    }
    if (!error) {
        error = rpc_call_err(t->fd, method, params, res, FITSFC_RPC_MS, errmsg);
        if (error && error != EREMOTEIO) {
            rpc_client_forget(t->fd);
            close(t->fd);
            t->fd = -1;
        }
    }
    return error;
}

/* VNF replica 'dead' died: its siblings' ordering cores are told (PBFT changes a dead
 * primary at once instead of after view_change_timeout). A function that orders nothing
 * answers ENOENT, which is fine. */
static void
fitsfc_tell_siblings(struct fitsfc_ctl *ctl, const struct fitsfc_target *dead)
{
    for (size_t i = 0; i < ctl->n_targets; i++) {
        struct fitsfc_target *t = &ctl->targets[i];
        json_t *params, *res = NULL;
        char *errmsg = NULL;

        if (t == dead || strcmp(t->c->role, "vnf") || t->c->index != dead->c->index) {
            continue;
        }
        params = json_pack("{s:i, s:s, s:{s:i}}", "id", t->c->role_id,
                           "method", "order_peer_down", "params", "index", dead->c->replica);
        fitsfc_agent_call(ctl, t, "call_role", params, &res, &errmsg);
        free(errmsg);
        json_decref(params);
        json_decref(res);
    }
}

/* Starts target 't''s role again, as its next incarnation. */
static void
fitsfc_restart(struct fitsfc_ctl *ctl, struct fitsfc_target *t, uint64_t at_ns)
{
    json_t *params = json_pack("{s:[]}", "args"), *res = NULL, *args;
    uint64_t t0 = time_mono_ns();
    char *const *argv;
    const char *role;
    char *errmsg = NULL;
    int error = 0;

    run_events_addf(ctl->ctx.events, at_ns, "suspected", t->c->name, "its process died");
    if (!deploy_fitsfc_role_args(ctl->ctx.dep, t->c, &role, &argv)) {
        error = ENOENT;
        goto out;
    }
    json_object_set_new(params, "role", json_string(role));
    args = json_object_get(params, "args");
    for (size_t i = 0; argv[i]; i++) {
        json_array_append_new(args, json_string(argv[i]));
    }
    t->incarnation++;
    if (!strcmp(role, "vnf")) {
        fitsfc_tell_siblings(ctl, t);
        json_array_append_new(args, json_string("--order-incarnation"));
        json_array_append_new(args, json_sprintf("%u", t->incarnation));
    }
    error = fitsfc_agent_call(ctl, t, "start_role", params, &res, &errmsg);
    if (!error) {
        int nspid = json_integer_value(json_object_get(res, "pid"));

        /* The component is the new role now: the run's counters and the deployment's stop
         * take it. */
        t->c->role_id = json_integer_value(json_object_get(res, "id"));
        t->c->nspid = nspid;
        fms_reset_target(ctl->fms, t->fms_idx,
                         deploy_host_pid(ctl->ctx.inst, t->c->guest, nspid), true);
        run_events_addf(ctl->ctx.events, 0, "recovered", t->c->name,
                        "started again as incarnation %u, %.1f ms after the notice",
                        t->incarnation, (time_mono_ns() - t0) / 1e6);
    }
out:
    if (error) {
        run_events_addf(ctl->ctx.events, 0, "recovery-failed", t->c->name, "%s",
                        errmsg ? errmsg : strerror(error));
    }
    free(errmsg);
    json_decref(params);
    json_decref(res);
}

static void *
fitsfc_ctl_main(void *ctl_)
{
    struct fitsfc_ctl *ctl = ctl_;

    pthread_mutex_lock(&ctl->mutex);
    while (!ctl->stopping) {
        size_t target;
        uint64_t at;

        if (!ctl->n_jobs) {
            pthread_cond_wait(&ctl->cond, &ctl->mutex);
            continue;
        }
        target = ctl->jobs[0];
        at = ctl->job_at[0];
        ctl->n_jobs--;
        memmove(ctl->jobs, ctl->jobs + 1, ctl->n_jobs * sizeof *ctl->jobs);
        memmove(ctl->job_at, ctl->job_at + 1, ctl->n_jobs * sizeof *ctl->job_at);
        pthread_mutex_unlock(&ctl->mutex);
        fitsfc_restart(ctl, &ctl->targets[target], at);
        pthread_mutex_lock(&ctl->mutex);
    }
    pthread_mutex_unlock(&ctl->mutex);
    return NULL;
}

/* From the monitor's thread: only deaths (no heartbeats). */
static void
fitsfc_on_fms(void *ctl_, size_t idx, const char *name, enum fms_event_kind kind,
              uint64_t at_ns, uint64_t gap_ns)
{
    struct fitsfc_ctl *ctl = ctl_;

    if (kind != FMS_EV_DEAD) {
        return;
    }
    pthread_mutex_lock(&ctl->mutex);
    ctl->jobs = xrealloc(ctl->jobs, (ctl->n_jobs + 1) * sizeof *ctl->jobs);
    ctl->job_at = xrealloc(ctl->job_at, (ctl->n_jobs + 1) * sizeof *ctl->job_at);
    ctl->jobs[ctl->n_jobs] = idx;
    ctl->job_at[ctl->n_jobs++] = at_ns;
    pthread_cond_broadcast(&ctl->cond);
    pthread_mutex_unlock(&ctl->mutex);
}

static void
fitsfc_ctl_stop(void *ctl_)
{
    struct fitsfc_ctl *ctl = ctl_;

    if (!ctl) {
        return;
    }
    pthread_mutex_lock(&ctl->mutex);
    ctl->stopping = true;
    pthread_cond_broadcast(&ctl->cond);
    pthread_mutex_unlock(&ctl->mutex);
    fms_destroy(ctl->fms);          /* No callback after this. */
    if (ctl->started) {
        pthread_join(ctl->thread, NULL);
    }
    for (size_t i = 0; i < ctl->n_targets; i++) {
        if (ctl->targets[i].fd >= 0) {
            rpc_client_forget(ctl->targets[i].fd);
            close(ctl->targets[i].fd);
        }
    }
    free(ctl->targets);
    free(ctl->jobs);
    free(ctl->job_at);
    pthread_mutex_destroy(&ctl->mutex);
    pthread_cond_destroy(&ctl->cond);
    free(ctl);
}

static int
fitsfc_ctl_start(const struct scheme_controller_ctx *ctx, void **statep)
{
    extern const struct scheme_class scheme_fitsfc;
    struct fms_config fc = FMS_CONFIG_DEFAULT;
    struct fitsfc_ctl *ctl;
    int error;

    *statep = NULL;
    if (!scheme_param_uint(&scheme_fitsfc, ctx->point, "recover")) {
        return 0;
    }
    ctl = xzalloc(sizeof *ctl);
    ctl->ctx = *ctx;
    pthread_mutex_init(&ctl->mutex, NULL);
    pthread_cond_init(&ctl->cond, NULL);
    error = fms_create(&fc, fitsfc_on_fms, ctl, &ctl->fms);
    for (size_t i = 0; !error && i < ctx->dep->n_comps; i++) {
        struct deploy_component *c = &ctx->dep->comps[i];
        struct fitsfc_target *t;
        const char *role;
        char *const *argv;

        if (!deploy_fitsfc_role_args(ctx->dep, c, &role, &argv) || c->replica < 0) {
            continue;
        }
        ctl->targets = xrealloc(ctl->targets, (ctl->n_targets + 1) * sizeof *ctl->targets);
        t = &ctl->targets[ctl->n_targets++];
        *t = (struct fitsfc_target) { .c = c, .fd = -1 };
        error = fms_add_target(ctl->fms, c->name, deploy_host_pid(ctx->inst, c->guest, c->nspid),
                               -1, &t->fms_idx);
    }
    if (!error) {
        error = pthread_create(&ctl->thread, NULL, fitsfc_ctl_main, ctl);
        ctl->started = !error;
    }
    if (!error) {
        error = fms_start(ctl->fms);
    }
    if (error) {
        fitsfc_ctl_stop(ctl);
    } else {
        *statep = ctl;
    }
    return error;
}

const struct scheme_class scheme_fitsfc = {
    .name = "fitsfc",
    .summary = "FIT-SFC: 3f+1 replicas of classifier, SFF and VNFs, 2f+1 voters, a client "
               "wrapper accepting f+1 identical replies, PBFT among the replicas of globally "
               "stateful VNFs",
    .guests = "client (and its wrapper), 3f+1 each of classifier, SFF and every VNF (and an "
              "attacker for mitm faults)",
    .params = fitsfc_params,
    .n_params = ARRAY_SIZE(fitsfc_params),
    .targets = fitsfc_targets,
    .n_targets = ARRAY_SIZE(fitsfc_targets),
    .check = fitsfc_check,
    .has_target = fitsfc_has_target,
    .topology = fitsfc_topology,
    .deploy = fitsfc_deploy,
    .stop = deploy_stop,
    .controller_start = fitsfc_ctl_start,
    .controller_stop = fitsfc_ctl_stop,
};
