/* NHAM on guests: deployment and the FMS controller (nham_ctl.h). */
#include "testbed/schemes/nham_ctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testbed/infra/instance.h"
#include "testbed/infra/netns.h"
#include "testbed/infra/openflow.h"
#include "testbed/infra/provider.h"
#include "testbed/infra/ovs.h"
#include "testbed/model/experiment.h"
#include "testbed/run/events.h"
#include "testbed/schemes/nham_fms.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"

#define NHAM_BEAT_PORT 7071             /* The copies' source port (vnfs/sfc/nham.c). */
#define NHAM_RPC_MS 5000
#define NHAM_READY_TIMEOUT_NS (30ull * 1000000000ull)
#define NHAM_PRIO_STEER 100
#define NHAM_PRIO_FENCE 300
#define DATA_BRIDGE "data"

const char *
nham_mechanism_name(enum nham_mechanism m)
{
    static const char *const names[] = { "0R", "1R-AS", "1R-AA", "MR-AA" };

    return m <= NHAM_MR_AA ? names[m] : "?";
}

struct nham_copy {
    char *name;                 /* "vnf[1].replica[0]" */
    char *guest;
    struct in_addr mgmt;
    uint8_t mac[6];
    uint32_t ofport;
    uint32_t id;                /* Its NSH component id. */
    int hb_fd;                  /* The orchestrator's end of its heartbeats. */
    uint16_t hb_port;
    int role_id;                /* -1: no process. */
    pid_t nspid;                /* Its process, in its guest's PID namespace. */
    size_t fms_idx;
    bool needs_rearm;           /* Failed and not yet a standby again. */
    bool silent;                /* Replaced on a heartbeat timeout, not known dead: retired
                                 * only once its beats come back (a false suspicion). */
};

struct nham_vnf {
    size_t index;
    char name[32];              /* "vnf[i]" */
    struct nham_vnf_conf conf;
    uint8_t vmac[6];
    struct nham_copy *copies;
    size_t n_copies;
    size_t active;
    uint32_t incarnation;
};

/* What deploy leaves for the controller (deployment.scheme_data). */
struct nham_dep {
    struct instance *inst;
    struct nham_conf conf;
    struct nham_vnf *vnfs;
    size_t n_vnfs;
    char *sff_guest;
    struct in_addr sff_mgmt;
    uint8_t sff_mac[6];
    int sff_role_id;
};

static void
nham_dep_free(void *nd_)
{
    struct nham_dep *nd = nd_;

    if (!nd) {
        return;
    }
    for (size_t i = 0; i < nd->n_vnfs; i++) {
        for (size_t c = 0; c < nd->vnfs[i].n_copies; c++) {
            struct nham_copy *cp = &nd->vnfs[i].copies[c];
            if (cp->hb_fd >= 0) {
                close(cp->hb_fd);
            }
            free(cp->name);
            free(cp->guest);
        }
        free(nd->vnfs[i].copies);
    }
    free(nd->vnfs);
    free(nd->conf.vnfs);
    free(nd->sff_guest);
    free(nd);
}

static const char *
nham_mac(const uint8_t mac[6], char s[18])
{
    snprintf(s, 18, "%02x:%02x:%02x:%02x:%02x:%02x",
             mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    return s;
}

/* A UDP socket of the orchestrator that takes beats from 'guest' only (connected to its
 * management address and the copies' source port; the management bridge lets no guest send
 * with another's address). */
static int
nham_beat_socket(struct instance *inst, struct in_addr guest, int *fdp, uint16_t *portp)
{
    struct sockaddr_in me = { .sin_family = AF_INET, .sin_addr = inst->orchestrator_addr };
    struct sockaddr_in peer = { .sin_family = AF_INET, .sin_addr = guest,
                                .sin_port = htons(NHAM_BEAT_PORT) };
    socklen_t len = sizeof me;
    int fd, error;

    error = netns_socket(inst->netns_path, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0, &fd);
    if (error) {
        return error;
    }
    if (bind(fd, (struct sockaddr *) &me, sizeof me)
        || getsockname(fd, (struct sockaddr *) &me, &len)
        || connect(fd, (struct sockaddr *) &peer, sizeof peer)) {
        error = errno;
        close(fd);
        return error;
    }
    *fdp = fd;
    *portp = ntohs(me.sin_port);
    return 0;
}

/* The arguments of copy 'cp' of 'v': 'incarnation' 0 first start, n a restart, UINT32_MAX
 * a warm standby. */
static json_t *
nham_vnf_args(const struct nham_dep *nd, const struct nham_vnf *v, const struct nham_copy *cp,
              uint32_t incarnation)
{
    struct instance_guest *ig = instance_find_guest(nd->inst, cp->guest);
    json_t *a = json_array();
    char mac[18];

    json_array_append_new(a, json_string("--iface"));
    json_array_append_new(a, json_string(ig ? deploy_data_iface(ig)->ifname : "eth1"));
    json_array_append_new(a, json_string("--hop"));
    json_array_append_new(a, json_sprintf("%zu", v->index));
    json_array_append_new(a, json_string("--sff-mac"));
    json_array_append_new(a, json_string(nham_mac(nd->sff_mac, mac)));
    json_array_append_new(a, json_string("--key"));
    json_array_append_new(a, json_sprintf("%s/guests/%s/ft.key", nd->inst->dir, cp->guest));
    json_array_append_new(a, json_string("--id"));
    json_array_append_new(a, json_sprintf("%u", cp->id));
    json_array_append_new(a, json_string("--heartbeat"));
    json_array_append_new(a, json_sprintf("%s:%u", inet_ntoa(nd->inst->orchestrator_addr),
                                          cp->hb_port));
    json_array_append_new(a, json_string("--beat-interval"));
    json_array_append_new(a, json_sprintf("%" PRIu64, nd->conf.beat_ns));
    json_array_append_new(a, json_string("--param"));
    json_array_append_new(a, json_sprintf("state_bytes=%" PRIu64, nd->conf.state_bytes));
    if (incarnation == UINT32_MAX) {
        json_array_append_new(a, json_string("--standby"));
    } else if (incarnation) {
        json_array_append_new(a, json_string("--incarnation"));
        json_array_append_new(a, json_sprintf("%u", incarnation));
    }
    return a;
}

/* start_role on 'fd'; '*idp' gets the role's id, '*nspidp' (may be NULL) its pid in its guest. */
static int
nham_start_role(int fd, const char *guest, const char *role, json_t *args, int *idp,
                pid_t *nspidp)
{
    json_t *params = json_pack("{s:s, s:o}", "role", role, "args", args), *result = NULL;
    char *errmsg = NULL;
    int error;

    error = rpc_call_err(fd, "start_role", params, &result, NHAM_RPC_MS, &errmsg);
    if (!error) {
        *idp = json_integer_value(json_object_get(result, "id"));
        if (nspidp) {
            *nspidp = json_integer_value(json_object_get(result, "pid"));
        }
    } else {
        log_err("nham: cannot start %s on %s: %s", role, guest,
                errmsg ? errmsg : strerror(error));
    }
    free(errmsg);
    json_decref(params);
    json_decref(result);
    return error;
}

/* The rule that sends hop 'v''s traffic to copy 'cp'. */
static void
nham_steer_flow(const struct nham_vnf *v, const struct nham_copy *cp, struct of_flow *f)
{
    memset(f, 0, sizeof *f);
    f->priority = NHAM_PRIO_STEER;
    of_match_eth_dst(&f->match, v->vmac);
    of_match_eth_dst(of_actions_set_field(&f->actions), cp->mac);
    of_actions_output(&f->actions, cp->ofport);
}

int
nham_start_middle(struct deployment *d, const struct deploy_chain_opts *o)
{
    const struct nham_conf *conf = o->aux;
    struct nham_dep *nd = xzalloc(sizeof *nd);
    struct deploy_component *sff = deploy_find(d, "sff[0]", NULL);
    struct deploy_component *server = deploy_find(d, "server[0]", NULL);
    uint8_t key[crypto_auth_KEYBYTES];
    json_t *sff_args = json_array();
    struct of_conn *of = NULL;
    char *path = NULL, mac[18];
    int error = 0;

    d->scheme_data = nd;
    d->scheme_data_free = nham_dep_free;
    nd->inst = d->inst;
    nd->conf = *conf;
    nd->conf.vnfs = xmalloc(MAX(conf->n_vnfs, 1) * sizeof *conf->vnfs);
    memcpy(nd->conf.vnfs, conf->vnfs, conf->n_vnfs * sizeof *conf->vnfs);
    nd->n_vnfs = d->point->n_vnfs;
    nd->vnfs = xcalloc(nd->n_vnfs, sizeof *nd->vnfs);
    nd->sff_guest = xstrdup(sff->guest);
    nd->sff_mgmt = sff->ig->mgmt_addr;
    memcpy(nd->sff_mac, deploy_data_iface(sff->ig)->mac, 6);
    randombytes_buf(key, sizeof key);

    error = deploy_write_key(d, sff, key, &path);
    free(path);
    for (size_t i = 0; !error && i < nd->n_vnfs; i++) {
        struct nham_vnf *v = &nd->vnfs[i];

        v->index = i;
        snprintf(v->name, sizeof v->name, "vnf[%zu]", i);
        v->conf = conf->vnfs[i];
        memcpy(v->vmac, (uint8_t[6]) { 0x02, 0x4e, 0x48, 0, i >> 8, i & 0xff }, 6);
        for (size_t k = 0; k < d->n_comps; k++) {
            struct deploy_component *c = &d->comps[k];
            struct nham_copy *cp;

            if (strcmp(c->role, "vnf") || c->index != (int) i || c->replica < 0) {
                continue;
            }
            v->copies = xrealloc(v->copies, (v->n_copies + 1) * sizeof *v->copies);
            cp = &v->copies[v->n_copies++];
            memset(cp, 0, sizeof *cp);
            cp->name = xstrdup(c->name);
            cp->guest = xstrdup(c->guest);
            cp->mgmt = c->ig->mgmt_addr;
            memcpy(cp->mac, deploy_data_iface(c->ig)->mac, 6);
            cp->ofport = deploy_data_iface(c->ig)->ofport;
            cp->id = c->id;
            cp->role_id = -1;
            cp->hb_fd = -1;
            error = deploy_write_key(d, c, key, &path);
            free(path);
            if (!error) {
                error = nham_beat_socket(d->inst, cp->mgmt, &cp->hb_fd, &cp->hb_port);
            }
            if (error) {
                log_err("nham: %s: %s", c->name, strerror(error));
                break;
            }
        }
    }
    sodium_memzero(key, sizeof key);
    if (error) {
        goto out;
    }

    /* The copies: the active one, and the standbys per mechanism. */
    for (size_t i = 0; !error && i < nd->n_vnfs; i++) {
        struct nham_vnf *v = &nd->vnfs[i];
        for (size_t c = 0; !error && c < v->n_copies; c++) {
            struct nham_copy *cp = &v->copies[c];
            struct deploy_component *comp = deploy_find(d, cp->name, NULL);
            uint32_t inc = c == 0 ? 0 : UINT32_MAX;

            if (c > 0 && v->conf.mechanism == NHAM_1R_AS) {
                continue;           /* A cold standby: a guest, no process until needed. */
            }
            error = nham_start_role(comp->agent_fd, comp->guest, "nham-vnf",
                                    nham_vnf_args(nd, v, cp, inc), &cp->role_id, &cp->nspid);
            comp->role_id = cp->role_id;
        }
        json_array_append_new(sff_args, json_string("--hop"));
        struct buf b = BUF_INITIALIZER;
        buf_printf(&b, "%s=", nham_mac(v->vmac, mac));
        for (size_t c = 0; c < v->n_copies; c++) {
            buf_printf(&b, "%s%s", c ? "+" : "", nham_mac(v->copies[c].mac, mac));
        }
        json_array_append_new(sff_args, json_stringn((char *) b.data, b.len));
        buf_uninit(&b);
        if (v->conf.checkpoint) {
            json_array_append_new(sff_args, json_string("--param"));
            json_array_append_new(sff_args, json_sprintf("checkpoint.%zu=%s", i,
                                                         v->conf.checkpoint));
        }
    }
    if (error) {
        goto out;
    }
    json_array_append_new(sff_args, json_string("--iface"));
    json_array_append_new(sff_args, json_string(deploy_data_iface(sff->ig)->ifname));
    json_array_append_new(sff_args, json_string("--id"));
    json_array_append_new(sff_args, json_sprintf("%u", sff->id));
    json_array_append_new(sff_args, json_string("--key"));
    json_array_append_new(sff_args, json_sprintf("%s/guests/%s/ft.key", d->inst->dir,
                                                 sff->guest));
    json_array_append_new(sff_args, json_string("--egress-mac"));
    json_array_append_new(sff_args, json_string(nham_mac(deploy_data_iface(server->ig)->mac,
                                                         mac)));
    json_array_append_new(sff_args, json_string("--param"));
    json_array_append_new(sff_args, json_sprintf("buffer_bytes=%" PRIu64,
                                                 conf->buffer_bytes));
    error = nham_start_role(sff->agent_fd, sff->guest, "nham-sff", sff_args, &sff->role_id,
                            NULL);
    sff_args = NULL;
    nd->sff_role_id = sff->role_id;
    if (error) {
        goto out;
    }

    /* Each hop's virtual MAC goes to its active copy. */
    error = ovs_openflow(d->inst->ovs, DATA_BRIDGE, &of);
    for (size_t i = 0; !error && i < nd->n_vnfs; i++) {
        struct of_flow f;
        nham_steer_flow(&nd->vnfs[i], &nd->vnfs[i].copies[0], &f);
        error = of_flow_add(of, &f);
    }
    if (of) {
        int e2 = of_barrier(of);
        error = error ? error : e2;
        if (error) {
            log_err("nham: steering: %s", of_conn_error(of));
        }
    }
out:
    json_decref(sff_args);
    return error;
}

/* ---- The controller ---- */

struct nham_agent {
    char *guest;
    struct in_addr addr;
    int fd;                     /* -1: reconnect before the next call. */
    pthread_mutex_t mutex;
};

enum nham_job_kind { NHAM_JOB_FAIL, NHAM_JOB_FALSE };

struct nham_job {
    enum nham_job_kind kind;
    size_t copy;
    uint64_t at_ns;
    bool dead;                  /* FAIL: its process died (else: it fell silent). */
};

struct nham_worker {
    struct nham_ctl *ctl;
    size_t vnf;
    pthread_t thread;
    bool started;
    struct nham_job *jobs;
    size_t n_jobs;
    bool recovering;
};

struct nham_ctl {
    struct instance *inst;
    struct deployment *dep;
    struct run_events *events;
    struct nham_dep *nd;
    struct fms *fms;
    struct of_conn *of;
    pthread_mutex_t of_mutex;
    struct nham_agent sff;
    struct nham_agent ***agents;    /* [vnf][copy] */
    struct nham_worker *workers;
    struct { size_t vnf, copy; } *targets;  /* By FMS index. */
    pthread_mutex_t mutex;          /* Jobs, 'active', 'stopping'. */
    pthread_cond_t cond;
    bool stopping;
};

static int
nham_agent_call(struct nham_ctl *ctl, struct nham_agent *a, const char *method,
                json_t *params, json_t **result, char **errmsg)
{
    int error = 0;

    pthread_mutex_lock(&a->mutex);
    if (a->fd < 0) {
        error = instance_mgmt_connect(ctl->inst, a->addr, INSTANCE_AGENT_PORT, NHAM_RPC_MS,
                                      &a->fd);
    }
    if (!error) {
        error = rpc_call_err(a->fd, method, params, result, NHAM_RPC_MS, errmsg);
        if (error && error != EREMOTEIO) {
            /* A late answer must not be taken for the next call's. */
            close(a->fd);
            a->fd = -1;
        }
    }
    pthread_mutex_unlock(&a->mutex);
    return error;
}

static int
nham_call_role(struct nham_ctl *ctl, struct nham_agent *a, int role_id, const char *method,
               json_t *args, json_t **result)
{
    json_t *params = json_pack("{s:i, s:s, s:o}", "id", role_id, "method", method,
                               "params", args ? args : json_object());
    json_t *res = NULL;
    char *errmsg = NULL;
    int error = nham_agent_call(ctl, a, "call_role", params, &res, &errmsg);

    if (error) {
        log_err("nham: %s on %s: %s", method, a->guest, errmsg ? errmsg : strerror(error));
    }
    if (result) {
        *result = res;
    } else {
        json_decref(res);
    }
    free(errmsg);
    json_decref(params);
    return error;
}

/* start_role of `nham-vnf` for copy 'cp' of 'v' on its own agent connection. */
static int
nham_agent_start_vnf(struct nham_ctl *ctl, struct nham_agent *a, const struct nham_vnf *v,
                     struct nham_copy *cp, uint32_t incarnation)
{
    int error = 0;

    pthread_mutex_lock(&a->mutex);
    if (a->fd < 0) {
        error = instance_mgmt_connect(ctl->inst, a->addr, INSTANCE_AGENT_PORT, NHAM_RPC_MS,
                                      &a->fd);
    }
    if (!error) {
        error = nham_start_role(a->fd, cp->guest, "nham-vnf",
                                nham_vnf_args(ctl->nd, v, cp, incarnation), &cp->role_id,
                                &cp->nspid);
        if (error && error != EREMOTEIO) {
            close(a->fd);
            a->fd = -1;
        }
    }
    pthread_mutex_unlock(&a->mutex);
    if (!error) {
        fms_reset_target(ctl->fms, cp->fms_idx,
                         deploy_host_pid(ctl->inst, cp->guest, cp->nspid));
    }
    return error;
}

static void
nham_stop_role(struct nham_ctl *ctl, struct nham_agent *a, int role_id)
{
    json_t *params = json_pack("{s:i}", "id", role_id), *result = NULL;
    char *errmsg = NULL;

    nham_agent_call(ctl, a, "stop_role", params, &result, &errmsg);
    free(errmsg);
    json_decref(params);
    json_decref(result);
}

static int
nham_counter(struct nham_ctl *ctl, struct nham_agent *a, int role_id, const char *name,
             uint64_t *valuep)
{
    json_t *params = json_pack("{s:i}", "id", role_id), *result = NULL;
    char *errmsg = NULL;
    int error = nham_agent_call(ctl, a, "stats", params, &result, &errmsg);
    json_t *v = json_object_get(json_object_get(result, "counters"), name);

    if (!error && !json_is_integer(v)) {
        error = EPROTO;
    }
    if (!error) {
        *valuep = json_integer_value(v);
    }
    free(errmsg);
    json_decref(params);
    json_decref(result);
    return error;
}

/* Over the controller's own OpenFlow connection, one barrier per change. */
static int
nham_of(struct nham_ctl *ctl, const struct of_flow *add, const struct of_flow *del)
{
    int error, e2;

    pthread_mutex_lock(&ctl->of_mutex);
    error = add ? of_flow_add(ctl->of, add) : of_flow_delete(ctl->of, del, true);
    e2 = of_barrier(ctl->of);
    error = error ? error : e2;
    if (error) {
        log_err("nham: OpenFlow: %s", of_conn_error(ctl->of));
    }
    pthread_mutex_unlock(&ctl->of_mutex);
    return error;
}

/* A falsely suspected copy must not send into the chain once it is replaced. */
static int
nham_fence(struct nham_ctl *ctl, const struct nham_copy *cp, bool on)
{
    struct of_flow f = { .priority = NHAM_PRIO_FENCE };

    of_match_in_port(&f.match, cp->ofport);
    return on ? nham_of(ctl, &f, NULL) : nham_of(ctl, NULL, &f);
}

static void
nham_event(struct nham_ctl *ctl, uint64_t at_ns, const char *kind, const char *target,
           const char *fmt, ...) PRINTF_FORMAT(5, 6);

static void
nham_event(struct nham_ctl *ctl, uint64_t at_ns, const char *kind, const char *target,
           const char *fmt, ...)
{
    va_list ap;
    char *detail;

    va_start(ap, fmt);
    detail = xvasprintf(fmt, ap);
    va_end(ap);
    run_events_add(ctl->events, at_ns, kind, target, detail);
    free(detail);
}

/* Makes copy 'c' of 'v' a standby again after its failure (its process killed if it still
 * runs, its fence lifted). 0 when done; an errno to try again later (its guest is frozen). */
static int
nham_rearm(struct nham_ctl *ctl, struct nham_vnf *v, size_t c)
{
    struct nham_copy *cp = &v->copies[c];
    struct nham_agent *a = ctl->agents[v->index][c];
    json_t *ping = NULL;
    char *errmsg = NULL;
    int error;

    error = nham_agent_call(ctl, a, "ping", json_object(), &ping, &errmsg);
    json_decref(ping);
    free(errmsg);
    if (error) {
        return error;
    }
    /* Its old process's death is not news: forget it before it dies. */
    fms_reset_target(ctl->fms, cp->fms_idx, 0);
    if (cp->role_id >= 0) {
        nham_stop_role(ctl, a, cp->role_id);
        cp->role_id = -1;
    }
    error = nham_fence(ctl, cp, false);
    if (!error && v->conf.mechanism != NHAM_1R_AS && v->conf.mechanism != NHAM_0R) {
        error = nham_agent_start_vnf(ctl, a, v, cp, UINT32_MAX);
    }
    if (!error) {
        cp->needs_rearm = false;
        nham_event(ctl, 0, "standby-restored", cp->name, "%s: a standby again",
                   nham_mechanism_name(v->conf.mechanism));
    }
    return error;
}

/* The recovery of VNF 'v' whose active copy 'a' failed (detected at 'at_ns'). */
static void
nham_recover(struct nham_ctl *ctl, struct nham_vnf *v, size_t a, uint64_t at_ns, bool dead)
{
    struct nham_copy *old = &v->copies[a], *nw;
    enum nham_mechanism m = v->conf.mechanism;
    uint32_t inc = v->incarnation + 1;
    size_t b = a;
    uint64_t ready0 = 0, ready = 0, ready_ns = 0, deadline;
    struct nham_agent *ag;
    struct of_flow f;
    int error;

    /* 1. The SFF holds the hop's packets from now until READY. */
    error = nham_call_role(ctl, &ctl->sff, ctl->nd->sff_role_id, "nham_down",
                           json_pack("{s:i}", "vnf", (int) v->index), NULL);
    /* 2-4. The replacement per mechanism, steered to, then started, restarted or activated:
     * it restores the last checkpoint and says READY. A standby that cannot take over (it
     * died unnoticed, its guest is frozen) is set aside for the next; with none left, the
     * failed copy restarts in place, as 0R does. */
    for (;;) {
        b = a;
        if (!error && m != NHAM_0R) {
            for (size_t k = 1; k < v->n_copies; k++) {
                size_t c = (a + k) % v->n_copies;
                bool running = v->copies[c].role_id >= 0;
                if (!v->copies[c].needs_rearm && (m == NHAM_1R_AS ? !running : running)) {
                    b = c;
                    break;
                }
            }
            if (b == a) {
                log_err("nham: %s: no standby left: restarting it in place", old->name);
            }
        }
        nw = &v->copies[b];
        ag = ctl->agents[v->index][b];
        if (!error && b != a && !old->needs_rearm) {
            error = nham_fence(ctl, old, true);
            old->needs_rearm = true;
            old->silent = !dead;
        }
        if (!error) {
            nham_steer_flow(v, nw, &f);
            error = nham_of(ctl, &f, NULL);
        }
        if (error) {
            break;
        }
        if (b == a) {
            fms_reset_target(ctl->fms, old->fms_idx, 0);
            if (old->role_id >= 0) {
                nham_stop_role(ctl, ag, old->role_id);
                old->role_id = -1;
            }
            if (old->needs_rearm) {
                nham_fence(ctl, old, false);
                old->needs_rearm = false;
            }
            error = nham_agent_start_vnf(ctl, ag, v, nw, inc);
            break;
        }
        if (m == NHAM_1R_AS) {
            error = nham_agent_start_vnf(ctl, ag, v, nw, inc);
        } else {
            ready0 = 0;
            nham_counter(ctl, ag, nw->role_id, "ready", &ready0);
            error = nham_call_role(ctl, ag, nw->role_id, "nham_activate",
                                   json_pack("{s:i}", "incarnation", (int) inc), NULL);
        }
        if (!error || ctl->stopping) {
            break;
        }
        nw->needs_rearm = true;     /* Try the next one. */
        error = 0;
    }
    pthread_mutex_lock(&ctl->mutex);
    v->active = b;
    v->incarnation = inc;
    pthread_mutex_unlock(&ctl->mutex);
    /* 5. Recovered when the new copy says READY (its own clock, the host's monotonic one). */
    deadline = time_mono_ns() + NHAM_READY_TIMEOUT_NS;
    while (!error && !ctl->stopping && time_mono_ns() < deadline) {
        if (!nham_counter(ctl, ag, nw->role_id, "ready", &ready) && ready > ready0
            && !nham_counter(ctl, ag, nw->role_id, "ready_ns", &ready_ns)) {
            break;
        }
        poll(NULL, 0, 1);
    }
    if (!error && ready > ready0 && ready_ns) {
        struct deploy_component *alias = deploy_find(ctl->dep, v->name, NULL);

        if (alias && strcmp(alias->guest, nw->guest)) {
            deploy_set_guest(ctl->dep, alias, nw->guest);
        }
        for (int k = 0; k < 2; k++) {
            nham_event(ctl, ready_ns, "recovered", k ? v->name : old->name, "%s: %s took over "
                       "as incarnation %u (%.3f ms after detection)", nham_mechanism_name(m),
                       nw->name, inc, ready_ns > at_ns ? (ready_ns - at_ns) / 1e6 : 0.0);
        }
    } else {
        nham_event(ctl, 0, "recovery-failed", old->name, "%s: %s", nham_mechanism_name(m),
                   error ? strerror(error) : "no READY in time");
    }
}

static void *
nham_worker_main(void *w_)
{
    struct nham_worker *w = w_;
    struct nham_ctl *ctl = w->ctl;
    struct nham_vnf *v = &ctl->nd->vnfs[w->vnf];

    pthread_mutex_lock(&ctl->mutex);
    while (!ctl->stopping) {
        struct nham_job job;
        bool rearm = false;

        for (size_t c = 0; c < v->n_copies; c++) {
            rearm |= v->copies[c].needs_rearm && !v->copies[c].silent;
        }
        if (!w->n_jobs) {
            if (rearm) {
                /* Failed copies become standbys again when their guests answer. */
                pthread_mutex_unlock(&ctl->mutex);
                for (size_t c = 0; c < v->n_copies; c++) {
                    if (v->copies[c].needs_rearm && !v->copies[c].silent && c != v->active) {
                        nham_rearm(ctl, v, c);
                    }
                }
                pthread_mutex_lock(&ctl->mutex);
                if (!w->n_jobs && !ctl->stopping) {
                    struct timespec ts;
                    clock_gettime(CLOCK_REALTIME, &ts);
                    ts.tv_nsec += 50 * 1000000;
                    if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                    }
                    pthread_cond_timedwait(&ctl->cond, &ctl->mutex, &ts);
                }
            } else {
                pthread_cond_wait(&ctl->cond, &ctl->mutex);
            }
            continue;
        }
        job = w->jobs[0];
        memmove(w->jobs, w->jobs + 1, --w->n_jobs * sizeof *w->jobs);
        if (job.kind == NHAM_JOB_FAIL && job.copy == v->active) {
            w->recovering = true;
            pthread_mutex_unlock(&ctl->mutex);
            nham_recover(ctl, v, job.copy, job.at_ns, job.dead);
            pthread_mutex_lock(&ctl->mutex);
            w->recovering = false;
        } else if (job.kind == NHAM_JOB_FALSE && job.copy != v->active) {
            v->copies[job.copy].needs_rearm = true;
            v->copies[job.copy].silent = false;
        }
    }
    pthread_mutex_unlock(&ctl->mutex);
    return NULL;
}

/* From the FMS's thread. */
static void
nham_on_fms(void *ctl_, size_t idx, const char *name, enum fms_event_kind kind, uint64_t at_ns,
            uint64_t gap_ns)
{
    struct nham_ctl *ctl = ctl_;
    size_t vi = ctl->targets[idx].vnf, c = ctl->targets[idx].copy;
    struct nham_worker *w = &ctl->workers[vi];
    struct nham_vnf *v = &ctl->nd->vnfs[vi];
    struct nham_job job = { .copy = c, .at_ns = at_ns };
    struct fms_estimator est;
    bool queue = false;

    pthread_mutex_lock(&ctl->mutex);
    if (kind == FMS_EV_RECOVERED) {
        pthread_mutex_unlock(&ctl->mutex);
        fms_get_estimator(ctl->fms, idx, &est);
        nham_event(ctl, at_ns, "false-suspicion", name, "beats again after %.3f ms; timeout "
                   "now %.3f ms", gap_ns / 1e6, (est.penalty_ns + est.mean_ns) / 1e6);
        pthread_mutex_lock(&ctl->mutex);
        job.kind = NHAM_JOB_FALSE;
        queue = true;
    } else if (c != v->active) {
        /* A standby died or fell silent: it is made a standby again before it is chosen. */
        pthread_mutex_unlock(&ctl->mutex);
        nham_event(ctl, at_ns, "standby-failed", name, "%s",
                   kind == FMS_EV_DEAD ? "its process died" : "heartbeat timeout");
        pthread_mutex_lock(&ctl->mutex);
        job.kind = NHAM_JOB_FALSE;
        queue = true;
    } else {
        bool pending = false;
        for (size_t j = 0; j < w->n_jobs; j++) {
            pending |= w->jobs[j].kind == NHAM_JOB_FAIL && w->jobs[j].copy == c;
        }
        if (!pending) {
            pthread_mutex_unlock(&ctl->mutex);
            /* Also as the VNF's own ("vnf[i]": a fault may name the active copy so). */
            for (int k = 0; k < 2; k++) {
                nham_event(ctl, at_ns, "suspected", k ? v->name : name,
                           "%s (%.3f ms since its last beat)",
                           kind == FMS_EV_DEAD ? "its process died" : "heartbeat timeout",
                           gap_ns / 1e6);
            }
            pthread_mutex_lock(&ctl->mutex);
            job.kind = NHAM_JOB_FAIL;
            job.dead = kind == FMS_EV_DEAD;
            queue = true;
        }
    }
    if (queue) {
        w->jobs = xrealloc(w->jobs, (w->n_jobs + 1) * sizeof *w->jobs);
        w->jobs[w->n_jobs++] = job;
        pthread_cond_broadcast(&ctl->cond);
    }
    pthread_mutex_unlock(&ctl->mutex);
}

void
nham_ctl_stop(void *ctl_)
{
    struct nham_ctl *ctl = ctl_;

    if (!ctl) {
        return;
    }
    pthread_mutex_lock(&ctl->mutex);
    ctl->stopping = true;
    pthread_cond_broadcast(&ctl->cond);
    pthread_mutex_unlock(&ctl->mutex);
    fms_destroy(ctl->fms);          /* No callback after this. */
    for (size_t i = 0; ctl->workers && i < ctl->nd->n_vnfs; i++) {
        if (ctl->workers[i].started) {
            pthread_join(ctl->workers[i].thread, NULL);
        }
        free(ctl->workers[i].jobs);
    }
    /* Roles this controller started are not the deployment's: stop them here. */
    for (size_t i = 0; ctl->agents && i < ctl->nd->n_vnfs; i++) {
        for (size_t c = 0; c < ctl->nd->vnfs[i].n_copies; c++) {
            struct nham_agent *a = ctl->agents[i][c];
            struct nham_copy *cp = &ctl->nd->vnfs[i].copies[c];
            struct deploy_component *comp = deploy_find(ctl->dep, cp->name, NULL);

            if (!a) {
                continue;
            }
            if (cp->role_id >= 0 && comp && cp->role_id != comp->role_id) {
                nham_stop_role(ctl, a, cp->role_id);
            }
            if (a->fd >= 0) {
                close(a->fd);
            }
            pthread_mutex_destroy(&a->mutex);
            free(a->guest);
            free(a);
        }
        free(ctl->agents[i]);
    }
    free(ctl->agents);
    if (ctl->sff.fd >= 0) {
        close(ctl->sff.fd);
    }
    free(ctl->sff.guest);
    pthread_mutex_destroy(&ctl->sff.mutex);
    if (ctl->of) {
        of_conn_close(ctl->of);
    }
    free(ctl->workers);
    free(ctl->targets);
    pthread_mutex_destroy(&ctl->of_mutex);
    pthread_mutex_destroy(&ctl->mutex);
    pthread_cond_destroy(&ctl->cond);
    free(ctl);
}

int
nham_ctl_start(const struct scheme_controller_ctx *ctx, void **statep)
{
    struct nham_ctl *ctl = xzalloc(sizeof *ctl);
    struct nham_dep *nd = ctx->dep->scheme_data;
    struct fms_config fc = FMS_CONFIG_DEFAULT;
    size_t n_targets = 0;
    char *path;
    int error;

    ctl->inst = ctx->inst;
    ctl->dep = ctx->dep;
    ctl->events = ctx->events;
    ctl->nd = nd;
    pthread_mutex_init(&ctl->mutex, NULL);
    pthread_mutex_init(&ctl->of_mutex, NULL);
    pthread_cond_init(&ctl->cond, NULL);
    ctl->sff = (struct nham_agent) { .guest = xstrdup(nd->sff_guest), .addr = nd->sff_mgmt,
                                     .fd = -1 };
    pthread_mutex_init(&ctl->sff.mutex, NULL);
    path = xasprintf("%s/%s.mgmt", ovs_run_dir(ctx->inst->ovs), DATA_BRIDGE);
    error = of_conn_open(path, NHAM_RPC_MS, &ctl->of);
    free(path);
    if (error) {
        log_err("nham: no OpenFlow connection to the data bridge (%s)", strerror(error));
        goto out;
    }
    fc.min_timeout_ns = nd->conf.suspect_min_ns;
    /* The cap must not undercut the floor: a copy with too few beats for an estimate gets
     * the cap, and a 2 s scheduling stall of this machine is no failure when 5 s is asked. */
    fc.max_timeout_ns = MAX(fc.max_timeout_ns, 2 * fc.min_timeout_ns);
    error = fms_create(&fc, nham_on_fms, ctl, &ctl->fms);
    if (error) {
        goto out;
    }
    ctl->agents = xcalloc(nd->n_vnfs, sizeof *ctl->agents);
    ctl->workers = xcalloc(nd->n_vnfs, sizeof *ctl->workers);
    for (size_t i = 0; !error && i < nd->n_vnfs; i++) {
        struct nham_vnf *v = &nd->vnfs[i];

        ctl->agents[i] = xcalloc(v->n_copies, sizeof *ctl->agents[i]);
        for (size_t c = 0; !error && c < v->n_copies; c++) {
            struct nham_copy *cp = &v->copies[c];
            struct nham_agent *a = xzalloc(sizeof *a);

            *a = (struct nham_agent) { .guest = xstrdup(cp->guest), .addr = cp->mgmt,
                                       .fd = -1 };
            pthread_mutex_init(&a->mutex, NULL);
            ctl->agents[i][c] = a;
            error = fms_add_target(ctl->fms, cp->name,
                                   cp->role_id >= 0 ? deploy_host_pid(ctl->inst, cp->guest,
                                                                    cp->nspid) : 0,
                                   cp->hb_fd, &cp->fms_idx);
            ctl->targets = xrealloc(ctl->targets, (n_targets + 1) * sizeof *ctl->targets);
            ctl->targets[n_targets].vnf = i;
            ctl->targets[n_targets++].copy = c;
        }
        ctl->workers[i] = (struct nham_worker) { .ctl = ctl, .vnf = i };
    }
    if (error) {
        goto out;
    }
    run_events_add(ctl->events, 0, "checkpoint-backend", "vsm", nd->conf.backend);
    for (size_t i = 0; !error && i < nd->n_vnfs; i++) {
        error = pthread_create(&ctl->workers[i].thread, NULL, nham_worker_main,
                               &ctl->workers[i]);
        ctl->workers[i].started = !error;
    }
    if (!error) {
        error = fms_start(ctl->fms);
    }
out:
    if (error) {
        nham_ctl_stop(ctl);
    } else {
        *statep = ctl;
    }
    return error;
}
