/* NHAM on guests: deployment and the FMS controller (nham_ctl.h). */
#include "testbed/schemes/nham_ctl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "testbed/infra/instance.h"
#include "testbed/infra/manifest.h"
#include "testbed/infra/netns.h"
#include "testbed/infra/openflow.h"
#include "testbed/infra/provider.h"
#include "testbed/infra/ovs.h"
#include "testbed/model/experiment.h"
#include "testbed/run/ctl_workers.h"
#include "testbed/run/events.h"
#include "testbed/schemes/nham_criu.h"
#include "testbed/schemes/nham_fms.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/ft/nham/take.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"

#define NHAM_BEAT_PORT 7071             /* The copies' source port (vnfs/sfc/nham.c). */
#define NHAM_RPC_MS 5000
#define NHAM_READY_TIMEOUT_NS (30ull * 1000000000ull)
#define NHAM_PRIO_STEER 100
#define NHAM_PRIO_FENCE 300
#define DATA_BRIDGE "data"
#define NHAM_CRIU_MAX_EXT 8     /* External unix streams of a VNF's process: its beat stream
                                 * and its agent's control connections. */

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
    uint16_t hb_port;           /* UDP: its port; */
    char *hb_path;              /* or a listening stream socket in the guest's own directory. */
    char *ctl_path;             /* Its process's control socket (NULL: agent calls only). */
    int role_id;                /* -1: no process. */
    pid_t nspid;                /* Its process, in its guest's PID namespace. */
    size_t fms_idx;
    bool needs_rearm;           /* Failed and not yet a standby again. */
    bool silent;                /* Replaced on a heartbeat timeout, not known dead: retired
                                 * only once its beats come back (a false suspicion). */
    bool standby_lost;          /* A standby that failed: made one again is its recovery
                                 * (recorded as such). Its VNF's worker's only. */
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
    json_t *fn_args;            /* --fn and --fn-param of its copies: the chain's function. */
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
    pid_t sff_nspid;            /* The SFF's process, in its guest's PID namespace. */
    char *sff_ctl_path;         /* The SFF's control socket (NULL: agent calls only). */
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
            if (cp->hb_path) {
                unlink(cp->hb_path);
                free(cp->hb_path);
            }
            free(cp->ctl_path);
            free(cp->name);
            free(cp->guest);
        }
        free(nd->vnfs[i].copies);
        json_decref(nd->vnfs[i].fn_args);
    }
    free(nd->vnfs);
    free(nd->conf.vnfs);
    free(nd->sff_guest);
    free(nd->sff_ctl_path);
    free(nd);
}

/* Whether VNF 'v' is checkpointed as a whole guest (backend vm; `sfclab check` allows it
 * for 0R and 1R-AS only). */
static bool
nham_backend_vm(const struct nham_dep *nd, const struct nham_vnf *v)
{
    return nd->conf.backend && !strcmp(nd->conf.backend, "vm")
           && (v->conf.mechanism == NHAM_0R || v->conf.mechanism == NHAM_1R_AS);
}

/* Whether VNF 'v''s process is checkpointed by CRIU (backend criu; the same mechanisms). */
static bool
nham_backend_criu(const struct nham_dep *nd, const struct nham_vnf *v)
{
    return nd->conf.backend && !strcmp(nd->conf.backend, "criu")
           && (v->conf.mechanism == NHAM_0R || v->conf.mechanism == NHAM_1R_AS);
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

/* A socket of the orchestrator at 'path' (in the directory of the copy's guest, which the
 * guest sees at the same path and no other guest sees), of 'type': SOCK_DGRAM, or
 * SOCK_SEQPACKET listening. The beats go from the copy's process to the FMS's socket
 * directly, without the management network. Beats over the network share the switch and the
 * orchestrator's network stack with everything else: on a loaded machine they were held up
 * for seconds, every copy at once, while every copy ran and beat (their counters said so),
 * and the FMS suspected them all. They come on a stream (SOCK_SEQPACKET): its end tells the
 * FMS of the copy's death first (nham_fms.h). */
static int
nham_unix_bind(struct instance *inst, const char *path, int type, int *fdp)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd, error;

    if (strlen(path) >= sizeof sun.sun_path) {
        return ENAMETOOLONG;
    }
    strcpy(sun.sun_path, path);
    error = manifest_record_file(inst->manifest, path);
    if (error) {
        return error;
    }
    unlink(path);
    fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return errno;
    }
    if (bind(fd, (struct sockaddr *) &sun, sizeof sun) || chmod(path, 0600)
        || (type == SOCK_SEQPACKET && listen(fd, 8))) {
        error = errno;
        close(fd);
        unlink(path);
        return error;
    }
    *fdp = fd;
    return 0;
}

/* "<instance>/guests/<guest>/<what>-<id>.sock" if it fits a socket address (else NULL). */
static char *
nham_local_path(const struct instance *inst, const char *guest, const char *what, unsigned id)
{
    char *path = xasprintf("%s/guests/%s/%s-%u.sock", inst->dir, guest, what, id);

    if (strlen(path) >= sizeof ((struct sockaddr_un *) NULL)->sun_path
        || manifest_record_file(inst->manifest, path)) {
        free(path);
        return NULL;
    }
    return path;
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
    if (cp->hb_path) {
        json_array_append_new(a, json_sprintf("unix:%s", cp->hb_path));
    } else {
        json_array_append_new(a, json_sprintf("%s:%u",
                                              inet_ntoa(nd->inst->orchestrator_addr),
                                              cp->hb_port));
    }
    json_array_append_new(a, json_string("--beat-interval"));
    json_array_append_new(a, json_sprintf("%" PRIu64, nd->conf.beat_ns));
    json_array_append_new(a, json_string("--param"));
    json_array_append_new(a, json_sprintf("state_bytes=%" PRIu64, nd->conf.state_bytes));
    if (v->fn_args) {
        json_array_extend(a, v->fn_args);
    }
    if (cp->ctl_path) {
        json_array_append_new(a, json_string("--control"));
        json_array_append_new(a, json_string(cp->ctl_path));
    }
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
        if (i < d->point->n_vnfs) {
            /* Each copy runs the chain's function itself: a dns answers in place. */
            const struct exp_vnf *ev = &d->point->vnfs[i];

            v->fn_args = json_array();
            json_array_append_new(v->fn_args, json_string("--fn"));
            json_array_append_new(v->fn_args, json_string(ev->fn));
            for (size_t j = 0; j < ev->n_params; j++) {
                json_array_append_new(v->fn_args, json_string("--fn-param"));
                json_array_append_new(v->fn_args, json_sprintf("%s=%s", ev->params[j].key,
                                                               ev->params[j].value));
            }
        }
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
            /* A guest that shares the host's kernel and sees its own directory at its host
             * path (provider local_sockets) takes a local socket for its beats. Elsewhere (a VM)
             * they take the management network. */
            if (!error && c->ig->guest->provider->local_sockets) {
                cp->hb_path = xasprintf("%s/guests/%s/nham-beat-%u.sock", d->inst->dir,
                                        c->guest, c->id);
                error = nham_unix_bind(d->inst, cp->hb_path, SOCK_SEQPACKET, &cp->hb_fd);
                if (error == ENAMETOOLONG) {
                    free(cp->hb_path);
                    cp->hb_path = NULL;
                    error = 0;
                }
            }
            if (!error && cp->hb_fd < 0) {
                error = nham_beat_socket(d->inst, cp->mgmt, &cp->hb_fd, &cp->hb_port);
            }
            if (!error && cp->hb_path) {
                /* The same guests take the FMS's commands on a socket of their own. */
                cp->ctl_path = nham_local_path(d->inst, c->guest, "nham-ctl", c->id);
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

            deploy_set_idle(comp, c != v->active);
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
        if (v->conf.mechanism == NHAM_1R_AA || v->conf.mechanism == NHAM_MR_AA) {
            /* Its standbys run: they get every stored image (a failover sends none). */
            json_array_append_new(sff_args, json_string("--warm"));
            json_array_append_new(sff_args, json_sprintf("%zu", i));
        }
        if (nham_backend_vm(nd, v) || nham_backend_criu(nd, v)) {
            /* Not asked by the VSM: the controller saves the copy's whole guest (vm) or
             * its process (criu). */
            json_array_append_new(sff_args, json_string("--param"));
            json_array_append_new(sff_args, json_sprintf("checkpoint.%zu=0s", i));
        } else if (v->conf.checkpoint) {
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
    json_array_append_new(sff_args, json_string("--param"));
    json_array_append_new(sff_args, json_sprintf("window=%u", conf->hop_window));
    if (conf->sff_window) {
        json_array_append_new(sff_args, json_string("--window"));
        json_array_append_new(sff_args, json_sprintf("%u", conf->sff_window));
    }
    if (sff->ig->guest->provider->local_sockets) {
        nd->sff_ctl_path = nham_local_path(d->inst, sff->guest, "nham-ctl", sff->id);
    }
    if (nd->sff_ctl_path) {
        json_array_append_new(sff_args, json_string("--control"));
        json_array_append_new(sff_args, json_string(nd->sff_ctl_path));
    }
    error = nham_start_role(sff->agent_fd, sff->guest, "nham-sff", sff_args, &sff->role_id,
                            &nd->sff_nspid);
    sff_args = NULL;
    nd->sff_role_id = sff->role_id;
    if (error) {
        goto out;
    }

    /* Each hop's virtual MAC goes to its active copy (through the instance's switch, as
     * deploy's own steering). */
    instance_changes_lock(d->inst);
    for (size_t i = 0; !error && i < nd->n_vnfs; i++) {
        struct of_flow f;
        nham_steer_flow(&nd->vnfs[i], &nd->vnfs[i].copies[0], &f);
        error = instance_flow_add(d->inst, DATA_BRIDGE, &f);
    }
    /* Also after a refusal: what was queued goes now. */
    int error2 = instance_flow_barrier(d->inst, DATA_BRIDGE);
    error = error ? error : error2;
    instance_changes_unlock(d->inst);
    if (error) {
        log_err("nham: steering: %s", strerror(error));
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
    bool standby;               /* FALSE: a standby failed (not a copy that was replaced). */
    char take[80];              /* FAIL: the takeover the FMS's thread asked of the SFF
                                 * (nham_take()), whose answer this worker waits for ("":
                                 * none), and when its command was out. */
    uint64_t take_ns;
};

struct nham_worker {
    struct nham_ctl *ctl;
    size_t vnf;
    /* Under the controller's mutex, during a recovery: */
    bool recovering;
    size_t failing;             /* The copy it recovers from: a second notice of its failure
                                 * (silent, then dead) is nothing new. */
    size_t taking_over;         /* The copy that takes over (SIZE_MAX: not chosen yet): its
                                 * failure before READY interrupts the recovery. */
    bool interrupted;
    unsigned failures;          /* Recoveries in a row that failed: retried, up to a bound. */
    int hold_fd;                /* Its socket for the SFF's answers (-1: agent calls). */
    char *hold_path;
    unsigned long long seq;
    /* Backend vm: the active copy's whole guest is checkpointed every 'vm_interval_ns' (by
     * this worker, when it has no job) and restored from 'vm_image' on its failure. Backend
     * criu ('criu'): the same with its process, 'vm_image' and 'vm_tmp' directories. */
    bool vm;
    bool criu;
    unsigned long criu_ext[NHAM_CRIU_MAX_EXT];     /* The image's external unix streams, */
    size_t n_criu_ext;
    unsigned long criu_tmp_ext[NHAM_CRIU_MAX_EXT]; /* and the new image's. */
    size_t n_criu_tmp_ext;
    uint64_t vm_interval_ns;
    uint64_t vm_next_ns;        /* When the next checkpoint is due. */
    char *vm_image;             /* The last image (renamed from 'vm_tmp' once known good). */
    char *vm_tmp;
    size_t vm_image_copy;       /* Whose guest 'vm_image' is (SIZE_MAX: none yet). */
    uint32_t vm_image_inc;      /* Its VNF's incarnation then. */
};

#define NHAM_RETRIES 20
#define NHAM_RESUME_WAIT_NS (2000ull * 1000000)     /* Milliseconds normally; a new failure
                                                     * ends the wait at once. Not longer: the
                                                     * failed copy becomes a standby again only
                                                     * after it (a hop with no traffic outputs
                                                     * nothing), and a machine that stalls its
                                                     * guests for seconds gets no sample. */
#define NHAM_RETRY_NS (100ull * 1000000)
#define NHAM_TAKE_WAIT_NS (100ull * 1000000)    /* A standby the SFF took over with that
                                                 * has not said READY by then (its TAKE
                                                 * lost) is activated as before. */

/* A process the FMS raises to a real-time priority for a takeover (nham_rt_raise()):
 * its host pid and a pidfd of it, so that a pid it no longer has is raised never (0, -1:
 * none). */
struct nham_rt {
    pid_t pid;
    int pidfd;
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
    struct {
        size_t vnf, copy;
        struct nham_rt rt;          /* Its process (the copy's standby: nham_take()). Under
                                     * the workers' lock. */
    } *targets;                     /* By FMS index. */
    size_t n_targets;
    int cmd_fd;                     /* Unbound: commands that need no answer. */
    struct ctl_workers *threads;    /* One per VNF; their lock guards the jobs and 'active'. */
    /* The SFF's process, raised to SCHED_FIFO for each takeover (pid 0: it is not,
     * nham_realtime()). */
    struct nham_rt sff_rt;
};

static bool nham_rt_raise(const struct nham_rt *, int priority);
static void nham_rt_raise_copies(struct nham_ctl *, const struct nham_vnf *, uint64_t mask,
                                 int priority);
static void nham_rt_watch(struct nham_rt *, pid_t);

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

/* Copy 'cp' now runs role 'role_id' (-1: none; 'nspid' its pid in its guest). Its deploy
 * component says so too, at once: the runner samples its counters and stops it at the end
 * through it, and a fault aimed at the copy finds the process that runs now, not one this
 * controller replaced. (The VNF's own name, "vnf[i]", keeps no role id: its agent connection
 * is to its first guest; it follows the active copy by guest, nham_follow().) */
static void
nham_set_role(struct nham_ctl *ctl, struct nham_copy *cp, int role_id, pid_t nspid)
{
    struct deploy_component *comp = deploy_find(ctl->dep, cp->name, NULL);

    cp->role_id = role_id;
    cp->nspid = role_id >= 0 ? nspid : 0;
    if (comp) {
        __atomic_store_n(&comp->nspid, cp->nspid, __ATOMIC_RELEASE);
        __atomic_store_n(&comp->role_id, role_id, __ATOMIC_RELEASE);
    }
}

/* start_role of `nham-vnf` for copy 'cp' of 'v' on its own agent connection. */
static int
nham_agent_start_vnf(struct nham_ctl *ctl, struct nham_agent *a, const struct nham_vnf *v,
                     struct nham_copy *cp, uint32_t incarnation)
{
    pid_t nspid = 0;
    int error = 0, id = -1;

    pthread_mutex_lock(&a->mutex);
    if (a->fd < 0) {
        error = instance_mgmt_connect(ctl->inst, a->addr, INSTANCE_AGENT_PORT, NHAM_RPC_MS,
                                      &a->fd);
    }
    if (!error) {
        error = nham_start_role(a->fd, cp->guest, "nham-vnf",
                                nham_vnf_args(ctl->nd, v, cp, incarnation), &id, &nspid);
        if (error && error != EREMOTEIO) {
            close(a->fd);
            a->fd = -1;
        }
    }
    pthread_mutex_unlock(&a->mutex);
    if (!error) {
        pid_t pid = deploy_host_pid(ctl->inst, cp->guest, nspid);

        if (!pid) {
            /* No death notice for it then: its heartbeats alone tell (a process gone before
             * it could be found, or a guest whose pids the host cannot see). */
            log_info("nham: %s: its process (pid %d in its guest) is not to be watched",
                     cp->name, (int) nspid);
        }
        nham_set_role(ctl, cp, id, nspid);
        fms_reset_target(ctl->fms, cp->fms_idx, pid, true);
        ctl_workers_lock(ctl->threads);
        nham_rt_watch(&ctl->targets[cp->fms_idx].rt, pid);
        ctl_workers_unlock(ctl->threads);
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

/* Over the controller's own OpenFlow connection, one barrier per change; 'add2' (may be NULL)
 * goes in the same change, after 'add'. */
static int
nham_of2(struct nham_ctl *ctl, const struct of_flow *add, const struct of_flow *add2,
         const struct of_flow *del)
{
    int error, e2;

    pthread_mutex_lock(&ctl->of_mutex);
    error = add ? of_flow_add(ctl->of, add) : of_flow_delete(ctl->of, del, true);
    if (!error && add2) {
        error = of_flow_add(ctl->of, add2);
    }
    e2 = of_barrier(ctl->of);
    error = error ? error : e2;
    if (error) {
        log_err("nham: OpenFlow: %s", of_conn_error(ctl->of));
    }
    pthread_mutex_unlock(&ctl->of_mutex);
    return error;
}

static int
nham_of(struct nham_ctl *ctl, const struct of_flow *add, const struct of_flow *del)
{
    return nham_of2(ctl, add, NULL, del);
}

static void
nham_fence_flow(const struct nham_copy *cp, struct of_flow *f)
{
    memset(f, 0, sizeof *f);
    f->priority = NHAM_PRIO_FENCE;
    of_match_in_port(&f->match, cp->ofport);
}

/* A falsely suspected copy must not send into the chain once it is replaced. */
static int
nham_fence(struct nham_ctl *ctl, const struct nham_copy *cp, bool on)
{
    struct of_flow f;

    nham_fence_flow(cp, &f);
    return on ? nham_of(ctl, &f, NULL) : nham_of(ctl, NULL, &f);
}

/* The switch's part of a takeover of 'v' by 'nw' from 'old', one change: 'old' fenced if
 * 'fence' and the hop's virtual MAC sent to 'nw'. The hop's data does not wait for it: the
 * SFF sends it to the copy that said READY, at its own MAC (vnfs/sfc/nham.c). It fences: a
 * falsely suspected copy must not reach the chain when it wakes up. */
static int
nham_switch_over(struct nham_ctl *ctl, const struct nham_vnf *v, const struct nham_copy *old,
                 const struct nham_copy *nw, bool fence)
{
    struct of_flow f, fence_flow;

    nham_fence_flow(old, &fence_flow);
    nham_steer_flow(v, nw, &f);
    return fence ? nham_of2(ctl, &fence_flow, &f, NULL) : nham_of(ctl, &f, NULL);
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
    fms_reset_target(ctl->fms, cp->fms_idx, 0, false);
    if (cp->role_id >= 0) {
        int id = cp->role_id;

        nham_set_role(ctl, cp, -1, 0);      /* Nobody samples it while it stops. */
        nham_stop_role(ctl, a, id);
    }
    error = nham_fence(ctl, cp, false);
    if (!error && v->conf.mechanism != NHAM_1R_AS && v->conf.mechanism != NHAM_0R) {
        error = nham_agent_start_vnf(ctl, a, v, cp, UINT32_MAX);
    }
    if (!error) {
        cp->needs_rearm = false;
        run_events_addf(ctl->events, 0, "standby-restored", cp->name, "%s: a standby again",
                        nham_mechanism_name(v->conf.mechanism));
        if (cp->standby_lost) {
            /* The end of the standby's own failure episode: without it, the runner paired
             * a crash of a standby with the copy's next recovery, whenever that came (the
             * "stalls" of 13.9-38.6 s in compare-crash were standbys back within 40 ms). */
            cp->standby_lost = false;
            run_events_addf(ctl->events, 0, "recovered", cp->name, "%s: a standby again",
                            nham_mechanism_name(v->conf.mechanism));
        }
    }
    return error;
}

#define NHAM_COMMAND_MS 1000

/* Sends 'cmd' to the control socket at 'path' from 'fd'. 0 or an errno. */
static int
nham_command_send(int fd, const char *path, const char *cmd)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };

    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    return sendto(fd, cmd, strlen(cmd), MSG_DONTWAIT, (struct sockaddr *) &sun,
                  sizeof sun) < 0 ? errno : 0;
}

/* Waits up to 'reply_ms' on 'fd' for the answer to 'cmd' ("ok CMD", then " -> " and what the
 * role tells, copied into 'info' when not NULL). 0, EREMOTEIO if the role refused (its reason,
 * after "error CMD: ", in 'info'), or ETIMEDOUT. */
static int
nham_command_wait(int fd, const char *cmd, int reply_ms, char *info, size_t info_len)
{
    uint64_t deadline = time_mono_ns() + reply_ms * 1000000ull;
    size_t cmd_len = strlen(cmd);
    char buf[320];

    for (;;) {
        uint64_t now = time_mono_ns();
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (now >= deadline) {
            return ETIMEDOUT;
        }
        if (poll(&p, 1, (deadline - now + 999999) / 1000000) <= 0) {
            continue;
        }
        n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
        if (n <= 0) {
            continue;
        }
        buf[n] = '\0';
        if (!strncmp(buf, "ok ", 3) && !strncmp(buf + 3, cmd, cmd_len)
            && (!buf[3 + cmd_len] || !strncmp(buf + 3 + cmd_len, " -> ", 4))) {
            if (info) {
                snprintf(info, info_len, "%s", buf[3 + cmd_len] ? buf + 7 + cmd_len : "");
            }
            return 0;
        }
        if (!strncmp(buf, "error ", 6) && !strncmp(buf + 6, cmd, cmd_len)) {
            log_err("nham: %s", buf);
            if (info) {
                snprintf(info, info_len, "%s", !strncmp(buf + 6 + cmd_len, ": ", 2)
                                               ? buf + 8 + cmd_len : buf + 6 + cmd_len);
            }
            return EREMOTEIO;
        }
    }
}

/* Sends 'cmd' to the control socket at 'path' from 'fd'; with 'reply_ms' > 0, waits that long
 * for the answer to this very command ("ok CMD"). 0 when done; EREMOTEIO if the role refused;
 * another errno when it could not be asked (the caller asks through the agent instead). */
static int
nham_command(int fd, const char *path, const char *cmd, int reply_ms)
{
    char buf[320];
    int error;

    while (reply_ms && recv(fd, buf, sizeof buf, MSG_DONTWAIT) >= 0) {
        continue;               /* An answer that came after its wait ended. */
    }
    error = nham_command_send(fd, path, cmd);
    return error || !reply_ms ? error : nham_command_wait(fd, cmd, reply_ms, NULL, 0);
}

/* 1. of a recovery: the SFF holds hop 'v''s packets from now until its READY. */
static int
nham_hold(struct nham_ctl *ctl, struct nham_worker *w, const struct nham_vnf *v)
{
    if (w->hold_fd >= 0) {
        char cmd[64];

        snprintf(cmd, sizeof cmd, "down %zu %llu", v->index, ++w->seq);
        if (!nham_command(w->hold_fd, ctl->nd->sff_ctl_path, cmd, NHAM_COMMAND_MS)) {
            return 0;
        }
        log_err("nham: %s: the SFF's control socket did not answer: through its agent",
                v->name);
    }
    return nham_call_role(ctl, &ctl->sff, ctl->nd->sff_role_id, "nham_down",
                          json_pack("{s:i}", "vnf", (int) v->index), NULL);
}

/* A running standby 'cp' takes over as incarnation 'inc'. */
static int
nham_activate(struct nham_ctl *ctl, struct nham_agent *ag, struct nham_copy *cp, uint32_t inc)
{
    if (ctl->cmd_fd >= 0 && cp->ctl_path) {
        char cmd[32];

        snprintf(cmd, sizeof cmd, "activate %u", inc);
        if (!nham_command(ctl->cmd_fd, cp->ctl_path, cmd, 0)) {
            return 0;
        }
    }
    return nham_call_role(ctl, ag, cp->role_id, "nham_activate",
                          json_pack("{s:i}", "incarnation", (int) inc), NULL);
}

/* Records that the active copy 'c' of 'v' failed and queues its recovery, unless one is queued
 * already. Under the controller's mutex. */
static void
nham_queue_fail(struct nham_ctl *ctl, struct nham_worker *w, size_t c, uint64_t at_ns,
                bool dead, const char *why, uint64_t gap_ns, const char *take, uint64_t take_ns)
{
    struct nham_job job = { .kind = NHAM_JOB_FAIL, .copy = c, .at_ns = at_ns, .dead = dead };
    struct nham_vnf *v = &ctl->nd->vnfs[w->vnf];

    size_t n_jobs;
    struct nham_job *jobs = ctl_workers_jobs(ctl->threads, w->vnf, &n_jobs);

    for (size_t j = 0; j < n_jobs; j++) {
        if (jobs[j].kind == NHAM_JOB_FAIL && jobs[j].copy == c) {
            return;
        }
    }
    /* Also as the VNF's own ("vnf[i]": a fault may name the active copy so). */
    for (int k = 0; k < 2; k++) {
        run_events_addf(ctl->events, at_ns, "suspected", k ? v->name : v->copies[c].name,
                        "%s (%.3f ms since its last beat)", why, gap_ns / 1e6);
    }
    if (take) {
        snprintf(job.take, sizeof job.take, "%s", take);
        job.take_ns = take_ns;
    }
    ctl_workers_push(ctl->threads, w->vnf, &job);
}

/* The runner's fault injector finds the VNF's copy by its name "vnf[i]": it names the copy
 * the switch sends to from the moment the rule points at it. */
static void
nham_follow(struct nham_ctl *ctl, struct nham_vnf *v, const struct nham_copy *cp)
{
    struct deploy_component *alias = deploy_find(ctl->dep, v->name, NULL);

    ctl_workers_lock(ctl->threads);    /* Workers of several VNFs may move theirs at once. */
    if (alias && strcmp(alias->guest, cp->guest)) {
        deploy_set_guest(ctl->dep, alias, cp->guest);
    }
    ctl_workers_unlock(ctl->threads);
}

static void
nham_taking_over(struct nham_ctl *ctl, struct nham_worker *w, size_t c)
{
    ctl_workers_lock(ctl->threads);
    w->taking_over = c;
    w->interrupted = false;
    ctl_workers_unlock(ctl->threads);
}

/* Where the SFF sends hop 'v''s frames now: '*copyp' (an index in v->copies) since '*nsp',
 * chosen by the READY of incarnation '*epochp'. ENOENT before any READY. */
static int
nham_sff_addressed(struct nham_ctl *ctl, const struct nham_vnf *v, size_t *copyp,
                   uint32_t *epochp, uint64_t *nsp)
{
    json_t *res = NULL;
    int error;

    error = nham_call_role(ctl, &ctl->sff, ctl->nd->sff_role_id, "nham_addressed",
                           json_pack("{s:i}", "vnf", (int) v->index), &res);
    if (!error && !json_is_true(json_object_get(res, "addressed"))) {
        error = ENOENT;
    }
    if (!error) {
        *copyp = json_integer_value(json_object_get(res, "copy"));
        *epochp = json_integer_value(json_object_get(res, "epoch"));
        *nsp = json_integer_value(json_object_get(res, "ns"));
    }
    json_decref(res);
    return error;
}

/* After copy 'nw' of 'v' took over from 'old' as incarnation 'inc' (its READY seen): records
 * `steered` when the SFF began to send the hop's frames to 'nw' and no longer to the failed
 * copy (what NHAM's paper times for MR-AA, "the update of the group of replicas"). After the
 * SFF's own takeover ('took', nham_take()): when its TAKE to 'nw' was handed to the SFF's
 * socket (the SFF's clock, as its send began); from the death notice on the FMS's thread
 * that includes its command to the SFF's control socket, the SFF's wake-up, its choice of a
 * standby and the TAKE sealed; not the replay of buffer_rx the SFF queues behind the TAKE
 * (the event `recovered` tells when that was handed to the socket: "replayed"), nor the
 * standby's wake-up. Otherwise the SFF sends to the copy whose READY it took, so this is that
 * READY's arrival there (not for a copy restarted in place, 'moved' false: its address is the
 * failed one's). And `resumed` when 'nw' output its first packet (the hop serves again: the
 * outage the chain sees ends one hop later). Waits for that output at most
 * NHAM_RESUME_WAIT_NS, and not once another job of this
 * VNF (a new failure) waits. All after READY: off the recovery's path. */
static void
nham_record_resumed(struct nham_ctl *ctl, struct nham_worker *w, const struct nham_vnf *v,
                    const struct nham_copy *old, const struct nham_copy *nw,
                    struct nham_agent *ag, uint32_t inc, bool moved, bool took,
                    uint64_t at_ns)
{
    uint64_t deadline = time_mono_ns() + NHAM_RESUME_WAIT_NS;
    uint64_t out_ns = 0, data_ns = 0, steer_ns = 0;
    bool new_job = false;
    uint32_t epoch = 0;
    size_t copy = SIZE_MAX;

    while (!ctl_workers_stopping(ctl->threads) && time_mono_ns() < deadline) {
        size_t n_jobs;

        if (!nham_counter(ctl, ag, nw->role_id, "out_first_ns", &out_ns) && out_ns) {
            break;
        }
        ctl_workers_lock(ctl->threads);
        ctl_workers_jobs(ctl->threads, w->vnf, &n_jobs);
        ctl_workers_unlock(ctl->threads);
        if (n_jobs) {
            new_job = true;
            break;
        }
        poll(NULL, 0, 1);
    }
    /* Its output came after the SFF sent to it, so after the SFF took its READY. */
    if (moved && !nham_sff_addressed(ctl, v, &copy, &epoch, &steer_ns)
        && copy == (size_t) (nw - v->copies) && epoch == inc && steer_ns >= at_ns
        && steer_ns <= time_mono_ns()) {
        for (int k = 0; k < 2; k++) {
            run_events_addf(ctl->events, steer_ns, "steered", k ? v->name : old->name,
                            "%s: the SFF sends the hop to %s, %s (%.3f ms after detection)",
                            nham_mechanism_name(v->conf.mechanism), nw->name,
                            took ? "its takeover" : "which said READY",
                            (steer_ns - at_ns) / 1e6);
        }
    }
    if (new_job || !out_ns || nham_counter(ctl, ag, nw->role_id, "data_first_ns", &data_ns)
        || out_ns < at_ns || out_ns > time_mono_ns()) {
        return;                 /* None yet, or not on the host's clock (a VM's own). */
    }
    for (int k = 0; k < 2; k++) {
        run_events_addf(ctl->events, out_ns, "resumed", k ? v->name : old->name,
                        "%s: %s output its first packet %.3f ms after detection (the first "
                        "reached it after %.3f ms)", nham_mechanism_name(v->conf.mechanism),
                        nw->name, (out_ns - at_ns) / 1e6,
                        data_ns >= at_ns ? (data_ns - at_ns) / 1e6 : 0.0);
    }
}

/* ---- Backend vm: the VNF's whole guest as its checkpoint ----
 *
 * The checkpoint of copy 'a' (the active one), by its VNF's worker:
 *   1. c0 = the copy's `last_counter` (every packet up to c0 has been output by its VNF);
 *   2. guest_checkpoint() to vm_tmp: the running guest written whole (kvm: a live external
 *      memory snapshot), its state then including every packet up to c0 at least;
 *   3. the copy's role still runs, the same process (a process dead before the snapshot
 *      would be in the image dead, and a death is for good: alive after is alive then);
 *   4. vm_tmp renamed to vm_image: the VNF's one image, replaced only by a newer good one;
 *   5. nham_saved {vnf, epoch, c0} to the SFF's role: the VSM stores that as the VNF's
 *      checkpoint and the SFF releases buffer_rx up to c0 (never past what came back out).
 * A failure between 4 and 5 restores an image newer than what was released: the SFF replays
 * from the counter the restored VNF says READY at, and holds everything after c0's
 * predecessor. The recovery (0R, and 1R-AS in place: an image carries its copy's MACs and
 * addresses, which the standby guest does not have) restores vm_image over the failed guest
 * (instance_restore_guest(): its ports back on the switch under the same numbers), opens new
 * agent connections (the old ones' TCP state is not the image's), and tells the restored
 * process nham_restored {incarnation}: it says READY at the counter its state includes. With
 * no image yet (a failure before the first checkpoint) the VNF restarts as 0R/1R-AS do on
 * app, from the initial state: nothing was released. */

/* ---- Backend criu: the VNF's process as its checkpoint ----
 *
 * The same steps with the active copy's process alone, through libcriu (nham_criu.h): step 2
 * dumps the running process (`criu dump --leave-running`, from inside its guest's namespaces)
 * into the directory vm_tmp, which then takes vm_image's place; the recovery stops what is
 * left of the failed copy's process and restores the image in its guest (the same pid there,
 * its sockets, its control socket and its state as at the dump), the agent adopts it as the
 * copy's role again, and nham_restored {incarnation} follows as for vm. Its beat stream to the
 * FMS (a unix stream to this process) is external to the image: the restored process gets a
 * dead one in its place and connects again, as it does whenever the FMS drops its stream. */

/* Removes image 'path': a file (vm) or a flat directory of files (criu). */
static void
nham_image_remove(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;

    if (!d) {
        unlink(path);
        return;
    }
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            unlinkat(dirfd(d), de->d_name, 0);
        }
    }
    closedir(d);
    rmdir(path);
}

/* The bytes of image 'path' (a file or a flat directory). */
static double
nham_image_bytes(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    struct stat st;
    double bytes = 0;

    if (!d) {
        return stat(path, &st) ? 0 : st.st_size;
    }
    while ((de = readdir(d))) {
        if (!fstatat(dirfd(d), de->d_name, &st, 0) && S_ISREG(st.st_mode)) {
            bytes += st.st_size;
        }
    }
    closedir(d);
    return bytes;
}

/* Image 'tmp' becomes 'image' at once (the old one, if any, is removed after). */
static int
nham_image_commit(const char *tmp, const char *image, bool dir)
{
    if (!dir) {
        return rename(tmp, image) ? errno : 0;
    }
    if (!renameat2(AT_FDCWD, tmp, AT_FDCWD, image, RENAME_EXCHANGE)) {
        nham_image_remove(tmp);
        return 0;
    }
    return errno == ENOENT && !rename(tmp, image) ? 0 : errno;
}

/* The inodes of the unix streams process 'hpid' holds connected at fd NHAM_BEAT_FD_MIN (512)
 * or above: its beat stream to the FMS, whose peer is outside any dump of it. Not its agent's
 * connections to its control socket: they come and go, and one whose peer has just closed
 * is not external to CRIU (it dumps it with a fake peer), while an inherited descriptor in
 * its place at the restore leaves that fake peer waiting forever (measured: criu hung in
 * "Opening standalone"). A dump that meets a live one fails ("External socket is used") and
 * is tried again. At most 'max' into 'inos'; returns how many, or SIZE_MAX if there are more. */
static size_t
nham_criu_ext_streams(pid_t hpid, unsigned long *inos, size_t max)
{
    char path[64], link[64], *text = NULL, *line;
    struct dirent *de;
    size_t n = 0, len = 0;
    DIR *d;

    snprintf(path, sizeof path, "/proc/%d/net/unix", (int) hpid);
    if (read_file(path, &text, &len)) {
        return 0;
    }
    snprintf(path, sizeof path, "/proc/%d/fd", (int) hpid);
    d = opendir(path);
    while (d && (de = readdir(d))) {
        unsigned long ino;
        ssize_t k = readlinkat(dirfd(d), de->d_name, link, sizeof link - 1);

        if (k <= 0) {
            continue;
        }
        link[k] = '\0';
        if (atoi(de->d_name) < 512 || sscanf(link, "socket:[%lu]", &ino) != 1) {
            continue;
        }
        /* "Num RefCount Protocol Flags Type St Inode [Path]": a stream (1) or seqpacket (5)
         * socket in state 3 (connected). */
        for (line = strchr(text, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
            unsigned int type, st;
            unsigned long lino;

            if (sscanf(line + 1, "%*s %*s %*s %*s %x %x %lu", &type, &st, &lino) == 3
                && lino == ino && (type == 1 || type == 5) && st == 3) {
                if (n == max) {
                    n = SIZE_MAX;
                    goto out;
                }
                inos[n++] = ino;
                break;
            }
        }
    }
out:
    if (d) {
        closedir(d);
    }
    free(text);
    return n;
}

/* The criu binary, where copy 'cp''s guest sees it (installed at the controller's start). */
static char *
nham_criu_service(const struct nham_ctl *ctl, const struct nham_copy *cp)
{
    return xasprintf("%s/guests/%s/criu", ctl->inst->dir, cp->guest);
}

/* Step 2 of backend criu: copy 'cp''s running process dumped into 'w->vm_tmp'. */
static int
nham_criu_checkpoint(struct nham_ctl *ctl, struct nham_worker *w, struct nham_copy *cp,
                     char **whyp)
{
    pid_t hpid = deploy_host_pid(ctl->inst, cp->guest, cp->nspid);
    pid_t init = deploy_host_pid(ctl->inst, cp->guest, 1);
    char *service = nham_criu_service(ctl, cp);
    struct nham_criu_req req = {
        .guest_init = init, .service = service, .nspid = cp->nspid, .leave_running = true,
    };
    int rc = 0, error = 0;

    if (!hpid || !init) {
        error = ESRCH;
    } else if (mkdir(w->vm_tmp, 0700)) {
        error = errno;
    } else if ((req.dir_fd = open(w->vm_tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        error = errno;
    }
    if (!error) {
        w->n_criu_tmp_ext = nham_criu_ext_streams(hpid, w->criu_tmp_ext, NHAM_CRIU_MAX_EXT);
        for (int tries = 0; !error && w->n_criu_tmp_ext != SIZE_MAX; tries++) {
            req.ext_inos = w->criu_tmp_ext;
            req.n_ext = w->n_criu_tmp_ext;
            error = nham_criu_run_req(&req, &rc, whyp);
            if (!error || tries == 2 || !*whyp || !strstr(*whyp, "External socket")) {
                break;
            }
            /* A connection to its control socket (its agent's, sampling its counters) was
             * open: once more, once it is closed. */
            free(*whyp);
            *whyp = NULL;
            error = 0;
            poll(NULL, 0, 2);
            w->n_criu_tmp_ext = nham_criu_ext_streams(hpid, w->criu_tmp_ext,
                                                      NHAM_CRIU_MAX_EXT);
        }
        if (!error && w->n_criu_tmp_ext == SIZE_MAX) {
            error = E2BIG;
        }
        close(req.dir_fd);
    }
    free(service);
    return error;
}

/* Copy 'cp''s process restored from 'w->vm_image' in its guest and adopted by its agent as
 * its role again. */
static int
nham_criu_restore(struct nham_ctl *ctl, struct nham_worker *w, struct nham_copy *cp,
                  struct nham_agent *ag, char **whyp)
{
    pid_t init = deploy_host_pid(ctl->inst, cp->guest, 1);
    char *service = nham_criu_service(ctl, cp);
    struct nham_criu_req req = {
        .guest_init = init, .service = service, .restore = true, .dir_fd = -1,
        .ext_inos = w->criu_ext, .n_ext = w->n_criu_ext,
    };
    int ends[NHAM_CRIU_MAX_EXT][2], fds[NHAM_CRIU_MAX_EXT], rc = 0, error = 0;
    size_t n_ends = 0;

    char *in_use = xasprintf("/proc/%d/root/proc/%d", (int) init, (int) cp->nspid);

    /* What is left of the failed process (a silent one runs on) holds the image's pid until
     * the guest's init has reaped it (its death is known before that: its sockets close
     * first). The guest's own /proc says when the pid is free. */
    nham_stop_role(ctl, ag, cp->role_id);
    for (int i = 0; init && i < 1000 && !access(in_use, F_OK); i++) {
        poll(NULL, 0, 1);
    }
    free(in_use);
    if (!init) {
        error = ESRCH;
    } else if ((req.dir_fd = open(w->vm_image, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        error = errno;
    }
    /* Each external stream of the image comes back as one end of a pair whose other end is
     * closed: the restored process finds it ended (nham.c connects its beats again, the
     * control server drops the connection). */
    for (; !error && n_ends < w->n_criu_ext; n_ends++) {
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends[n_ends])) {
            error = errno;
            break;
        }
        fds[n_ends] = ends[n_ends][0];
    }
    for (int tries = 0; !error; tries++) {
        req.ext_fds = fds;
        error = nham_criu_run_req(&req, &rc, whyp);
        if (!error || tries == 10 || !*whyp || !strstr(*whyp, "File exists")) {
            break;
        }
        /* Its pid is still taken ("Can't fork for N: File exists"), though the guest's
         * /proc had no such process any more (seen once in 24 restores): a little later. */
        free(*whyp);
        *whyp = NULL;
        error = 0;
        poll(NULL, 0, 5);
    }
    for (size_t i = 0; i < n_ends; i++) {
        close(ends[i][0]);
        close(ends[i][1]);
    }
    if (req.dir_fd >= 0) {
        close(req.dir_fd);
    }
    if (!error) {
        json_t *params = json_pack("{s:i, s:i}", "id", cp->role_id, "pid", rc), *res = NULL;
        char *errmsg = NULL;

        error = nham_agent_call(ctl, ag, "adopt_role", params, &res, &errmsg);
        if (error) {
            *whyp = xasprintf("its agent did not adopt pid %d: %s", rc,
                              errmsg ? errmsg : strerror(error));
        } else {
            cp->nspid = rc;
        }
        free(errmsg);
        json_decref(params);
        json_decref(res);
    }
    free(service);
    return error;
}

static void
nham_vm_checkpoint(struct nham_ctl *ctl, struct nham_worker *w, struct nham_vnf *v, size_t a,
                   uint32_t inc, int role)
{
    struct nham_copy *cp = &v->copies[a];
    struct nham_agent *ag = ctl->agents[v->index][a];
    struct instance_guest *ig = instance_find_guest(ctl->inst, cp->guest);
    uint64_t c0 = 0, c1 = 0, t0, t1;
    const char *kind = w->criu ? "criu-checkpoint" : "vm-checkpoint";
    char *why = NULL;
    pid_t hpid = 0;
    int error;

    if (!ig || !ig->guest) {
        return;
    }
    error = nham_counter(ctl, ag, role, "last_counter", &c0);
    if (error) {
        return;                 /* Dead, or its agent busy: the next time. */
    }
    nham_image_remove(w->vm_tmp);
    /* A snapshot stops the guest (under TCG a live one barely lets it run: measured, its
     * beats stopped for 12 s of a 13 s snapshot at load 10): its silence is ours, not a
     * failure. Watched again after; a death meanwhile is found by the check below. */
    if (w->criu) {
        /* A dump freezes the process for tens of milliseconds: its silence is ours too. Its
         * pid stays watched, and its beat stream kept (the FMS drops a stream of a process
         * it does not watch, and the process would connect again mid-dump). */
        hpid = deploy_host_pid(ctl->inst, cp->guest, cp->nspid);
    }
    fms_reset_target(ctl->fms, cp->fms_idx, hpid, w->criu);
    t0 = time_mono_ns();
    error = w->criu ? nham_criu_checkpoint(ctl, w, cp, &why)
                    : guest_checkpoint(ig->guest, w->vm_tmp);
    t1 = time_mono_ns();
    if (!error) {
        error = nham_counter(ctl, ag, role, "last_counter", &c1);
    }
    fms_reset_target(ctl->fms, cp->fms_idx, hpid, true);
    ctl_workers_lock(ctl->threads);
    if (error == EREMOTEIO && v->active == a && cp->role_id == role) {
        /* Its process is gone (the agent says it runs no more): a failure, at once. */
        nham_queue_fail(ctl, w, a, time_mono_ns(), true, "its process was gone after a "
                        "checkpoint of its guest", 0, NULL, 0);
    }
    if (!error && (c1 < c0 || v->active != a || v->incarnation != inc || cp->role_id != role)) {
        error = ESTALE;
    }
    ctl_workers_unlock(ctl->threads);
    if (!error) {
        error = nham_image_commit(w->vm_tmp, w->vm_image, w->criu);
    }
    if (!error) {
        memcpy(w->criu_ext, w->criu_tmp_ext, sizeof w->criu_ext);
        w->n_criu_ext = w->n_criu_tmp_ext;
        w->vm_image_copy = a;
        w->vm_image_inc = inc;
        error = nham_call_role(ctl, &ctl->sff, ctl->nd->sff_role_id, "nham_saved",
                               json_pack("{s:i, s:i, s:I}", "vnf", (int) v->index,
                                         "epoch", (int) inc, "counter", (json_int_t) c0),
                               NULL);
    }
    if (error) {
        nham_image_remove(w->vm_tmp);
        run_events_addf(ctl->events, 0, w->criu ? "criu-checkpoint-failed"
                        : "vm-checkpoint-failed", cp->name, "%.1f ms: %s",
                        (t1 - t0) / 1e6, error == ESTALE ? "its process did not run on "
                        "through the snapshot: image discarded" : why ? why : strerror(error));
        free(why);
        return;
    }
    run_events_addf(ctl->events, 0, kind, cp->name, "%.1f ms: its %s checkpointed "
                    "(%.1f MiB) with every packet up to %" PRIu64
                    " output: the SFF releases up to it", (t1 - t0) / 1e6,
                    w->criu ? "process" : "guest whole",
                    nham_image_bytes(w->vm_image) / 1048576.0, c0);
}

/* A checkpoint of VNF 'vi''s active copy if one is due; how long until the next. Under the
 * workers' lock (dropped around the work). Due every interval from the start of the last,
 * or at its end when it took longer: checkpoints never overlap. */
static uint64_t
nham_vm_tick(struct nham_ctl *ctl, size_t vi)
{
    struct nham_worker *w = &ctl->workers[vi];
    struct nham_vnf *v = &ctl->nd->vnfs[vi];
    uint64_t now = time_mono_ns(), now2;
    size_t a = v->active;
    int role = v->copies[a].role_id;
    uint32_t inc = v->incarnation;

    if (now < w->vm_next_ns) {
        return w->vm_next_ns - now;
    }
    if (role >= 0 && !v->copies[a].needs_rearm) {
        ctl_workers_unlock(ctl->threads);
        nham_vm_checkpoint(ctl, w, v, a, inc, role);
        ctl_workers_lock(ctl->threads);
    }
    now2 = time_mono_ns();
    w->vm_next_ns = MAX(now + w->vm_interval_ns, now2);
    return w->vm_next_ns > now2 ? w->vm_next_ns - now2 : 1;
}

/* Copy 'cp' (failed, VNF 'v''s active one) replaced by its guest's last image, its process
 * made incarnation 'inc'; '*ready0p' gets its READY count as of the image. */
static int
nham_vm_restore(struct nham_ctl *ctl, struct nham_worker *w, struct nham_vnf *v,
                struct nham_copy *cp, struct nham_agent *ag, uint32_t inc, uint64_t *ready0p)
{
    struct instance_guest *ig = instance_find_guest(ctl->inst, cp->guest);
    uint64_t t0 = time_mono_ns(), t1, deadline;
    int error;

    char *why = NULL;

    error = w->criu ? nham_criu_restore(ctl, w, cp, ag, &why)
                    : instance_restore_guest(ctl->inst, cp->guest, w->vm_image);
    t1 = time_mono_ns();
    if (!w->criu) {
        /* Connections to its agent are the image's now, out of step with ours: new ones. */
        pthread_mutex_lock(&ag->mutex);
        if (ag->fd >= 0) {
            close(ag->fd);
            ag->fd = -1;
        }
        pthread_mutex_unlock(&ag->mutex);
    }
    for (size_t i = 0; !error && !w->criu && ig && i < ctl->dep->n_comps; i++) {
        struct deploy_component *comp = &ctl->dep->comps[i];
        int fd;

        if (comp->ig == ig && comp->agent_fd >= 0 && !ctl_workers_stopping(ctl->threads)
            && !instance_mgmt_connect(ctl->inst, ig->mgmt_addr, INSTANCE_AGENT_PORT, 10000,
                                      &fd)) {
            ctl_workers_lock(ctl->threads);
            deploy_replace_agent_fd(ctl->dep, comp, fd);
            ctl_workers_unlock(ctl->threads);
        }
    }
    deadline = time_mono_ns() + NHAM_READY_TIMEOUT_NS;
    while (!error) {
        error = nham_counter(ctl, ag, cp->role_id, "ready", ready0p);
        if (!error || error == EREMOTEIO || time_mono_ns() >= deadline
            || ctl_workers_stopping(ctl->threads)) {
            break;
        }
        poll(NULL, 0, 20);
    }
    if (!error) {
        error = nham_call_role(ctl, ag, cp->role_id, "nham_restored",
                               json_pack("{s:i}", "incarnation", (int) inc), NULL);
    }
    if (!error) {
        /* criu: the restored process is watched (vm: its guest's pids are the image's). */
        fms_reset_target(ctl->fms, cp->fms_idx, w->criu ? deploy_host_pid(ctl->inst,
                                                                         cp->guest, cp->nspid)
                                                        : 0, true);
    }
    if (w->criu) {
        run_events_addf(ctl->events, 0, error ? "criu-restore-failed" : "criu-restore",
                        cp->name, "%.1f ms: %s: its process restored from its image of "
                        "incarnation %u%s%s%s", (t1 - t0) / 1e6,
                        nham_mechanism_name(v->conf.mechanism), w->vm_image_inc,
                        v->conf.mechanism == NHAM_1R_AS ? " in place (its packet socket is "
                        "bound to this copy's interface)" : "", error ? ": " : "",
                        error ? why ? why : strerror(error) : "");
    } else {
        run_events_addf(ctl->events, 0, error ? "vm-restore-failed" : "vm-restore", cp->name,
                        "%.1f ms: %s: its guest restored from its image of incarnation %u%s%s%s",
                        (t1 - t0) / 1e6, nham_mechanism_name(v->conf.mechanism),
                        w->vm_image_inc, v->conf.mechanism == NHAM_1R_AS ? " in place (the "
                        "image carries this copy's MACs and addresses: the standby guest "
                        "cannot take it)" : "", error ? ": " : "", error ? strerror(error) : "");
    }
    free(why);
    return error;
}

/* The recovery of VNF 'v' whose active copy 'a' failed (detected at 'at_ns'). Returns 0 when
 * a copy said READY, EINTR when the copy taking over failed before it did (its own recovery
 * is queued), ECHILD when the process started in its place ended as it started (the caller
 * queues the next recovery, a bounded number of times), or an errno. */
static int
nham_recover(struct nham_ctl *ctl, struct nham_worker *w, size_t a, uint64_t at_ns, bool dead,
             const char *take, uint64_t take_ns)
{
    struct nham_vnf *v = &ctl->nd->vnfs[w->vnf];
    struct nham_copy *old = &v->copies[a], *nw;
    enum nham_mechanism m = v->conf.mechanism;
    uint32_t inc = v->incarnation + 1;
    size_t b = a;
    uint64_t ready0 = 0, ready = 0, ready_ns = 0, deadline;
    /* Backend vm with an image of this copy's guest: restored in place. */
    bool vm_restore = (w->vm || w->criu) && w->vm_image_copy == a;
    uint64_t t_hold, t_switch = 0, t_start = 0;
    struct nham_agent *ag;
    bool interrupted = false, died_starting = false, held, switch_late, fence_old = false;
    /* The SFF's takeover (nham_take()): the copy it chose, and when it sent it the hop. */
    bool took = false;
    size_t take_copy = SIZE_MAX;
    unsigned long long take_sent_ns = 0, take_rx_ns = 0, take_replayed_ns = 0;
    int error;

    if (take && take[0]) {
        char info[96];
        int e = nham_command_wait(w->hold_fd, take, NHAM_COMMAND_MS, info, sizeof info);

        took = !e && sscanf(info, "copy %zu ns %llu rx %llu replayed %llu", &take_copy,
                            &take_sent_ns, &take_rx_ns, &take_replayed_ns) >= 3
               && take_copy < v->n_copies && take_copy != a;
        if (!took) {
            log_info("nham: %s: the SFF did not take over (%s): activating a standby",
                     old->name, e && e != EREMOTEIO ? strerror(e) : info);
            /* Recorded: a fallback costs milliseconds, and its cause was not kept before (the
             * 1 in 201 MR-AA kills of session 12). */
            run_events_addf(ctl->events, 0, "takeover-refused", old->name, "%s",
                            e && e != EREMOTEIO ? strerror(e) : info);
            nham_rt_raise(&ctl->sff_rt, 0); /* If the SFF never answered, it may still be. */
        }
    }

    /* 1. The SFF holds the hop's packets from now until READY. Not when a running standby
     * replaces a copy known dead (1R-AA, MR-AA): the copy's READY alone moves the SFF to its
     * epoch and replays everything after its checkpoint (nham_sff_on_ready(); the simulator's
     * silent crashes check it), and what the SFF sends meanwhile reaches a dead copy or one of
     * another epoch, which drops it, and stays in buffer_rx. The hold's round trip to the SFF
     * (0.1-1.9 ms at load) is then off the path to READY. A copy that only fell silent may
     * wake up: it is held as before. A hold after the READY would stall the hop until the
     * next one, so there is none later either. After the SFF's own takeover ('took',
     * nham_take()) the SFF has moved the hop already: the standby it chose is the new copy. */
    held = !took && !(ctl->nd->conf.fast_failover && dead
                      && (m == NHAM_1R_AA || m == NHAM_MR_AA));
    error = held ? nham_hold(ctl, w, v) : 0;
    t_hold = time_mono_ns();
    /* 2-4. The replacement per mechanism, started, restarted or activated: it restores the
     * last checkpoint and says READY, and the SFF sends the hop's frames to it from that READY
     * on. The switch's change (nham_switch_over()) only fences: before the replacement runs
     * when the failed copy may wake up; when it is dead, at the end, once the new copy serves
     * (its barrier took 0.8 ms p50, a quarter of a 1R-AA takeover, and ovs-vswitchd's work on
     * it shares the guests' CPU: done beside the takeover, it delayed READY's way to the SFF
     * by ~1 ms). A standby that cannot take over
     * (it died unnoticed, its guest is frozen) is set aside for the next; with none left, the
     * failed copy restarts in place, as 0R does. */
    switch_late = dead;
    for (;;) {
        b = a;
        if (took) {
            /* The SFF took over already: its standby 'take_copy' is the VNF now. */
            b = take_copy;
            nw = &v->copies[b];
            ag = ctl->agents[v->index][b];
            old->needs_rearm = true;
            old->silent = false;
            fence_old = true;
            nham_follow(ctl, v, nw);
            nham_taking_over(ctl, w, b);
            t_start = time_mono_ns();
            break;
        }
        if (!error && m != NHAM_0R && !vm_restore) {
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
            /* Fenced by the switch's change: a standby again only once unfenced
             * (nham_rearm()). */
            old->needs_rearm = true;
            old->silent = !dead;
            fence_old = true;
        }
        if (!error && !switch_late) {
            error = nham_switch_over(ctl, v, old, nw, fence_old && nw != old);
            t_switch = time_mono_ns();
        }
        if (error) {
            break;
        }
        if (m != NHAM_1R_AS || b == a) {
            /* A running standby is the VNF from now on: a crash aimed at the VNF hits it
             * (and interrupts this recovery). A cold one (1R-AS) only once its process is
             * started: until then a crash finds the VNF down already (no new failure). */
            nham_follow(ctl, v, nw);
        }
        if (b == a && vm_restore) {
            fms_reset_target(ctl->fms, old->fms_idx, 0, false);
            error = nham_vm_restore(ctl, w, v, old, ag, inc, &ready0);
            nham_taking_over(ctl, w, b);
            t_start = time_mono_ns();
            if (error == EREMOTEIO) {
                /* Its restored process ended (a crash aimed at the copy found it). */
                died_starting = interrupted = true;
                error = 0;
            }
            break;
        }
        if (b == a) {
            /* Its old process's death is no news; what the FMS says of this copy once its
             * new process is watched is about the copy taking over (the old process's last
             * beats, before that, are not). */
            fms_reset_target(ctl->fms, old->fms_idx, 0, false);
            if (old->role_id >= 0) {
                int id = old->role_id;

                nham_set_role(ctl, old, -1, 0);
                nham_stop_role(ctl, ag, id);
            }
            if (old->needs_rearm) {
                nham_fence(ctl, old, false);
                old->needs_rearm = false;
            }
            error = nham_agent_start_vnf(ctl, ag, v, nw, inc);
            nham_taking_over(ctl, w, b);
            t_start = time_mono_ns();
            if (error == EREMOTEIO) {
                /* Its new process ended as it started (a crash aimed at the copy found it
                 * starting): the copy taking over failed, not this recovery. */
                died_starting = interrupted = true;
                error = 0;
            }
            break;
        }
        nham_taking_over(ctl, w, b);
        if (m == NHAM_1R_AS) {
            error = nham_agent_start_vnf(ctl, ag, v, nw, inc);
            if (!error) {
                nham_follow(ctl, v, nw);
            }
        } else {
            /* A standby is a process that never was active (a failed copy is restarted
             * before it is a standby again): its 'ready' counter is 0. */
            error = nham_activate(ctl, ag, nw, inc);
        }
        t_start = time_mono_ns();
        if (!error || ctl_workers_stopping(ctl->threads)) {
            break;
        }
        nw->needs_rearm = true;     /* Try the next one. */
        error = 0;
    }
    switch_late &= !error;
    ctl_workers_lock(ctl->threads);
    v->active = b;
    v->incarnation = inc;
    ctl_workers_unlock(ctl->threads);
    /* A man in the middle aimed at the VNF's copies finds the one that carries its traffic. */
    for (size_t c = 0; c < v->n_copies; c++) {
        struct deploy_component *comp = deploy_find(ctl->dep, v->copies[c].name, NULL);

        if (comp) {
            deploy_set_idle(comp, c != b);
        }
    }
    /* 5. Recovered when the new copy says READY (its own clock, the host's monotonic one);
     * not if it fails first (the FMS says so, or its agent says it no longer runs). */
    deadline = time_mono_ns() + NHAM_READY_TIMEOUT_NS;
    while (!error && !interrupted && !ctl_workers_stopping(ctl->threads)
           && time_mono_ns() < deadline) {
        int e = nham_counter(ctl, ag, nw->role_id, "ready", &ready);

        if (took && !e && !ready && time_mono_ns() > t_start + NHAM_TAKE_WAIT_NS) {
            log_info("nham: %s: no READY %llu ms after the SFF's takeover: activating it",
                     nw->name, NHAM_TAKE_WAIT_NS / 1000000);
            /* Recorded, as a refusal is: it costs NHAM_TAKE_WAIT_NS. */
            run_events_addf(ctl->events, 0, "takeover-unanswered", nw->name, "no READY %llu ms "
                            "after the SFF's takeover: activated by the FMS",
                            NHAM_TAKE_WAIT_NS / 1000000);
            nham_activate(ctl, ag, nw, inc);    /* Refused by a copy active already. */
            took = false;
        }

        ctl_workers_lock(ctl->threads);
        interrupted = w->interrupted;
        ctl_workers_unlock(ctl->threads);
        if (interrupted || e == EREMOTEIO) {
            interrupted = true;
            break;
        }
        if (!e && ready > ready0 && !nham_counter(ctl, ag, nw->role_id, "ready_ns", &ready_ns)) {
            uint64_t seen = time_mono_ns();

            if (ready_ns < at_ns || ready_ns > seen) {
                /* Not on the host's clock (a VM's monotonic clock is its own): READY
                 * happened at the latest when it was seen. */
                ready_ns = seen;
            }
            break;
        }
        poll(NULL, 0, 1);
    }
    ctl_workers_lock(ctl->threads);
    if (take && take[0]) {
        /* The standbys nham_take() raised: the one that took over dropped back itself as
         * it handled its TAKE, unless it never got one. */
        nham_rt_raise_copies(ctl, v, ~(1ull << a), 0);
    }
    w->taking_over = SIZE_MAX;
    w->interrupted = false;
    if (interrupted && !died_starting && !ctl_workers_stopping(ctl->threads)) {
        /* The FMS may not have seen it (no pidfd, no beat yet): its recovery comes next. */
        nham_queue_fail(ctl, w, b, time_mono_ns(), true,
                        "it failed before it was ready", 0, NULL, 0);
    }
    ctl_workers_unlock(ctl->threads);
    if (interrupted) {
        run_events_addf(ctl->events, 0, "recovery-interrupted", old->name, "%s: %s failed before "
                        "it was ready: recovering again", nham_mechanism_name(m), nw->name);
        error = died_starting ? ECHILD : EINTR;
    } else if (!error && ready > ready0 && ready_ns) {
        char split[192] = "", sw[32];
        uint64_t act_ns = 0, hit_ns = 0;

        /* A running standby's takeover, split on the host's clock: after the SFF's own
         * takeover, when the FMS's thread had handed its command to the socket, when the
         * SFF began to handle it, when it sent the TAKE
         * and when it had handed the replay behind it to its socket; the activation handled
         * (the copy's TAKE or the FMS's command), its checkpoint confirmed by the SFF (HIT;
         * not after a TAKE: it held it), then READY. Read after READY: off the recovery's
         * path. */
        if (take_rx_ns >= at_ns && take_sent_ns >= take_rx_ns) {
            snprintf(split, sizeof split, ", the FMS's command %.3f, the SFF's takeover asked "
                     "%.3f, sent %.3f", (take_ns - at_ns) / 1e6, (take_rx_ns - at_ns) / 1e6,
                     (take_sent_ns - at_ns) / 1e6);
            if (take_replayed_ns >= take_sent_ns) {
                snprintf(split + strlen(split), sizeof split - strlen(split),
                         ", replayed %.3f", (take_replayed_ns - at_ns) / 1e6);
            }
        }
        if (b != a && (m == NHAM_1R_AA || m == NHAM_MR_AA)
            && !nham_counter(ctl, ag, nw->role_id, "activated_ns", &act_ns)
            && !nham_counter(ctl, ag, nw->role_id, "hit_ns", &hit_ns)
            && act_ns >= at_ns && act_ns <= ready_ns) {
            snprintf(split + strlen(split), sizeof split - strlen(split), ", activated %.3f",
                     (act_ns - at_ns) / 1e6);
            if (hit_ns >= act_ns && hit_ns <= ready_ns) {
                snprintf(split + strlen(split), sizeof split - strlen(split),
                         ", checkpoint confirmed %.3f", (hit_ns - at_ns) / 1e6);
            }
        }
        if (switch_late) {
            snprintf(sw, sizeof sw, "after it serves");
        } else {
            snprintf(sw, sizeof sw, "%.3f", (t_switch - at_ns) / 1e6);
        }
        for (int k = 0; k < 2; k++) {
            run_events_addf(ctl->events, ready_ns, "recovered", k ? v->name : old->name,
                            "%s: %s took over as incarnation %u (%.3f ms after detection: %s "
                            "%.3f, switch %s, started %.3f%s, ready %.3f)",
                            nham_mechanism_name(m), nw->name, inc,
                            ready_ns > at_ns ? (ready_ns - at_ns) / 1e6 : 0.0,
                            held ? "held" : "not held", (t_hold - at_ns) / 1e6, sw,
                            (t_start - at_ns) / 1e6, split, (ready_ns - at_ns) / 1e6);
        }
        nham_record_resumed(ctl, w, v, old, nw, ag, inc, b != a, take_sent_ns != 0, at_ns);
    } else {
        run_events_addf(ctl->events, 0, "recovery-failed", old->name, "%s: %s",
                        nham_mechanism_name(m), error ? strerror(error) : "no READY in time");
        error = error ? error : ETIMEDOUT;
    }
    if (switch_late && !ctl_workers_stopping(ctl->threads)) {
        /* Whatever became of the takeover: its copy is fenced and steered to before the next
         * recovery or rearm of this VNF (the same worker). A refusal fails nothing: the hop's
         * data does not take these rules, and a dead copy sends nothing. */
        int e = nham_switch_over(ctl, v, old, nw, fence_old && nw != old);

        if (e) {
            run_events_addf(ctl->events, 0, "switch-failed", old->name, "%s: the switch did "
                            "not take the change to %s: %s", nham_mechanism_name(m), nw->name,
                            strerror(e));
        }
    }
    return error;
}

/* With no job: failed copies become standbys again when their guests answer. Under the
 * workers' lock. */
static uint64_t
nham_worker_idle(void *ctl_, size_t vi)
{
    struct nham_ctl *ctl = ctl_;
    struct nham_vnf *v = &ctl->nd->vnfs[vi];
    uint64_t vm_wait = ctl->workers[vi].vm || ctl->workers[vi].criu ? nham_vm_tick(ctl, vi)
                                                                     : 0;
    bool rearm = false;

    for (size_t c = 0; c < v->n_copies; c++) {
        rearm |= v->copies[c].needs_rearm && !v->copies[c].silent;
    }
    if (!rearm) {
        return vm_wait;
    }
    ctl_workers_unlock(ctl->threads);
    for (size_t c = 0; c < v->n_copies; c++) {
        if (v->copies[c].needs_rearm && !v->copies[c].silent && c != v->active) {
            nham_rearm(ctl, v, c);
        }
    }
    ctl_workers_lock(ctl->threads);
    return vm_wait ? MIN(vm_wait, 50 * 1000000) : 50 * 1000000;
}

/* A job of VNF 'vi''s worker, under the workers' lock. */
static void
nham_worker_job(void *ctl_, size_t vi, void *job_)
{
    struct nham_ctl *ctl = ctl_;
    struct nham_worker *w = &ctl->workers[vi];
    struct nham_vnf *v = &ctl->nd->vnfs[vi];
    struct nham_job *job = job_;

    if (job->kind == NHAM_JOB_FAIL && job->copy == v->active) {
        int error;

        w->recovering = true;
        w->failing = job->copy;
        w->taking_over = SIZE_MAX;
        w->interrupted = false;
        ctl_workers_unlock(ctl->threads);
        error = nham_recover(ctl, w, job->copy, job->at_ns, job->dead, job->take,
                             job->take_ns);
        ctl_workers_lock(ctl->threads);
        w->recovering = false;
        w->failing = SIZE_MAX;
        if (!error || error == EINTR) {
            w->failures = 0;
        } else if (error == ECHILD) {
            /* A new failure, not this recovery's: at once, as long as starts that die at
             * once (a process that cannot start at all) are not endless. */
            if (!ctl_workers_stopping(ctl->threads) && ++w->failures <= NHAM_RETRIES) {
                nham_queue_fail(ctl, w, v->active, time_mono_ns(), true,
                                "it ended as it started", 0, NULL, 0);
            }
        } else if (!ctl_workers_stopping(ctl->threads) && ++w->failures <= NHAM_RETRIES) {
            /* A VNF must not stay down: try again a little later (its agent or the
             * SFF's did not answer in time on a loaded machine). */
            ctl_workers_wait(ctl->threads, NHAM_RETRY_NS);
            if (!ctl_workers_stopping(ctl->threads)) {
                nham_queue_fail(ctl, w, v->active, time_mono_ns(), job->dead,
                                "its recovery failed: once more", 0, NULL, 0);
            }
        }
    } else if (job->kind == NHAM_JOB_FALSE && job->copy != v->active) {
        v->copies[job->copy].needs_rearm = true;
        v->copies[job->copy].silent = false;
        v->copies[job->copy].standby_lost |= job->standby;
    }
}

/* The takeover's wake-ups: the FMS's command to the SFF lay 0.1-2.2 ms (p50 0.14, p90 0.6, 41
 * kills at load 3) in the SFF's socket while the SFF, a normal process on 2 CPUs shared with
 * the guests, the switch and the client, waited for a CPU; and once the SFF's takeover was
 * real-time, the standby's wake-up for its TAKE was the longest step left (sent to handled:
 * p50 0.46 ms, 4.6 ms at most over 51 1R-AA kills; a trace showed it woken 0.1 ms after the
 * TAKE and run only once the SFF, on the guests' same CPU, had handed over the replay behind
 * the TAKE, 0.05-0.9 ms: a checkpoint interval of packets). So the FMS's thread, itself
 * real-time, raises the standbys the SFF may choose to NHAM_RT_STANDBY and the SFF to
 * NHAM_RT_SFF just before it sends the command (syscalls, within the time `steered`
 * measures; nham_take()). On the command the SFF raises itself to the standbys' priority
 * (none of them, woken by another frame, preempts it before its TAKE is out: 30 us seen),
 * and once its TAKE is out it steps down for the replay, which the standby that got the
 * TAKE then preempts. Each drops back to a normal process once it has done its part
 * (vnfs/sfc/nham.c, nham_realtime_drop(): the SFF once it has answered, the standby once it
 * handled its TAKE), and the VNF's worker puts back those not chosen: they are real-time for
 * one takeover, their data paths stay normal processes'. Their guests may run real-time for
 * 'sff_realtime' per second at most (their cgroups' budget): the kernel stops them beyond,
 * whatever goes wrong. 'priority' 0 puts one back. True if it was changed. */
static bool
nham_rt_raise(const struct nham_rt *rt, int priority)
{
    struct pollfd p = { .fd = rt->pidfd, .events = POLLIN };

    if (rt->pid <= 0 || poll(&p, 1, 0) != 0) {
        return false;           /* None, or it is gone (its pid may be another's). */
    }
    return !sched_setscheduler(rt->pid, priority ? SCHED_FIFO : SCHED_OTHER,
                               &(struct sched_param) { .sched_priority = priority });
}

/* nham_rt_raise() of the copies of 'v' in 'mask'. Under the workers' lock. */
static void
nham_rt_raise_copies(struct nham_ctl *ctl, const struct nham_vnf *v, uint64_t mask,
                     int priority)
{
    for (size_t k = 0; k < v->n_copies && k < 64; k++) {
        if (mask >> k & 1) {
            nham_rt_raise(&ctl->targets[v->copies[k].fms_idx].rt, priority);
        }
    }
}

/* 'rt' is process 'pid' on the host from now on (0: none). */
static void
nham_rt_watch(struct nham_rt *rt, pid_t pid)
{
    if (rt->pidfd >= 0) {
        close(rt->pidfd);
    }
    rt->pidfd = pid > 0 ? syscall(SYS_pidfd_open, pid, 0) : -1;
    rt->pid = rt->pidfd >= 0 ? pid : 0;
}

/* Gives the SFF's guest and the standbys' guests of the VNFs the SFF takes over their
 * real-time budget, and checks that the SFF can be raised now (nham_rt_raise()), once before
 * the workload; the run's events say what came of it. */
static void
nham_realtime(struct nham_ctl *ctl)
{
    struct nham_dep *nd = ctl->nd;
    struct instance_guest *ig = instance_find_guest(ctl->inst, nd->sff_guest);
    uint64_t us = nd->conf.sff_realtime_ns / 1000;
    bool takes_over = false;
    pid_t pid = 0;
    int error, sb_error = 0;

    for (size_t i = 0; i < nd->n_vnfs; i++) {
        takes_over |= nd->vnfs[i].conf.mechanism == NHAM_1R_AA
                      || nd->vnfs[i].conf.mechanism == NHAM_MR_AA;
    }
    if (!us || !takes_over || !nd->conf.fast_failover || !nd->sff_ctl_path) {
        return;                 /* No takeover of the SFF's own to hurry. */
    }
    if (!ig || !ig->guest) {
        error = ESRCH;
        goto out;
    }
    error = guest_set_rt_runtime(ig->guest, us);
    if (error == ENOTSUP) {
        error = 0;              /* No budget to give: the kernel's global throttling only. */
    }
    for (size_t i = 0; !error && !sb_error && i < nd->n_vnfs; i++) {
        const struct nham_vnf *v = &nd->vnfs[i];

        for (size_t c = 0; !sb_error && c < v->n_copies && (v->conf.mechanism == NHAM_1R_AA
                                                            || v->conf.mechanism == NHAM_MR_AA);
             c++) {
            struct instance_guest *cg = instance_find_guest(ctl->inst, v->copies[c].guest);

            sb_error = cg && cg->guest ? guest_set_rt_runtime(cg->guest, us) : ESRCH;
            sb_error = sb_error == ENOTSUP ? 0 : sb_error;
        }
    }
    pid = deploy_host_pid(ctl->inst, nd->sff_guest, nd->sff_nspid);
    if (!error && pid <= 0) {
        error = ESRCH;
    }
    if (!error) {
        nham_rt_watch(&ctl->sff_rt, pid);
        error = ctl->sff_rt.pid ? 0 : errno;
    }
    if (!error) {
        if (!nham_rt_raise(&ctl->sff_rt, NHAM_RT_SFF)) {
            error = errno ? errno : ESRCH;
            nham_rt_watch(&ctl->sff_rt, 0);
        } else {
            nham_rt_raise(&ctl->sff_rt, 0);
        }
    }
out:
    if (error) {
        run_events_addf(ctl->events, 0, "sff-realtime", "sff[0]", "none: %s (its takeovers "
                        "wait for a CPU as a normal process)", strerror(error));
    } else {
        /* A standby that cannot be raised waits for a CPU as before (its raise fails). */
        run_events_addf(ctl->events, 0, "sff-realtime", "sff[0]", "SCHED_FIFO %d-%d for each "
                        "takeover, at most %"PRIu64" us of CPU per second; the standbys %d: %s",
                        NHAM_RT_SFF, NHAM_RT_STANDBY, us, NHAM_RT_STANDBY,
                        sb_error ? strerror(sb_error) : "the same budget");
    }
}

/* The SFF's takeover of 'w''s VNF from its active copy 'c', whose process died at 'at_ns'
 * (vnfs/sfc/nham.c, "The SFF's takeover"), asked here on the FMS's thread the moment it
 * learns of the death: no wake-up of the VNF's worker, no agent and no OpenFlow change lies
 * between the death notice and the SFF sending the hop to a standby that holds its last
 * checkpoint. The SFF picks the standby among the copies this controller knows to run as
 * standbys ('mask'); the worker waits for its answer (nham_recover()) and falls back to an
 * activation of its own when the SFF refused. Only for a copy known dead, and only with no
 * recovery of the VNF under way or queued: a copy that fell silent may wake up, and goes the
 * way that fences it first. False when not asked; else 'cmd' is the request and '*sent_ns'
 * when it was out. Under the workers' lock. */
static bool
nham_take(struct nham_ctl *ctl, struct nham_worker *w, size_t c, uint64_t at_ns, char *cmd,
          size_t cmd_len, uint64_t *sent_ns)
{
    struct nham_vnf *v = &ctl->nd->vnfs[w->vnf];
    unsigned mask = 0;
    size_t n_jobs;
    bool raised;

    ctl_workers_jobs(ctl->threads, w->vnf, &n_jobs);
    if (!ctl->nd->conf.fast_failover || w->recovering || n_jobs || c != v->active
        || (v->conf.mechanism != NHAM_1R_AA && v->conf.mechanism != NHAM_MR_AA)
        || w->hold_fd < 0 || !ctl->nd->sff_ctl_path || w->vm || w->criu) {
        return false;
    }
    for (size_t k = 0; k < v->n_copies; k++) {
        if (k != c && v->copies[k].role_id >= 0 && !v->copies[k].needs_rearm) {
            mask |= 1u << k;
        }
    }
    if (!mask) {
        return false;
    }
    snprintf(cmd, cmd_len, "takeover %zu %"PRIu32" %u %"PRIu64, v->index, v->incarnation + 1,
             mask, at_ns);
    /* Both before the command, so that neither can be raised after its part is done. The
     * SFF to the FMS's own priority: above it, the SFF, often runnable with its data path,
     * took this thread's CPU before the command was out (43 us seen); it raises itself
     * above on the command (vnfs/sfc/nham.c, nham_sff_control()). */
    nham_rt_raise_copies(ctl, v, mask, NHAM_RT_STANDBY);
    raised = nham_rt_raise(&ctl->sff_rt, NHAM_RT_SFF);
    if (nham_command_send(w->hold_fd, ctl->nd->sff_ctl_path, cmd)) {
        nham_rt_raise_copies(ctl, v, mask, 0);
        if (raised) {
            nham_rt_raise(&ctl->sff_rt, 0);
        }
        return false;
    }
    *sent_ns = time_mono_ns();
    return true;
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
    const char *why = kind == FMS_EV_DEAD ? "its process died" : "heartbeat timeout";
    struct fms_estimator est;
    bool queue_false = false, standby = false, took = false;

    if (kind == FMS_EV_RECOVERED) {
        fms_get_estimator(ctl->fms, idx, &est);
        run_events_addf(ctl->events, at_ns, "false-suspicion", name, "beats again after %.3f ms; "
                        "timeout now %.3f ms", gap_ns / 1e6, (est.penalty_ns + est.mean_ns) / 1e6);
    }
    ctl_workers_lock(ctl->threads);
    if (kind == FMS_EV_RECOVERED) {
        queue_false = true;
    } else if (w->recovering && c == w->taking_over) {
        /* The copy taking over failed before it was ready: that recovery stops, this one
         * comes next. */
        w->interrupted = true;
        nham_queue_fail(ctl, w, c, at_ns, kind == FMS_EV_DEAD, why, gap_ns, NULL, 0);
    } else if (w->recovering && c == w->failing) {
        /* The copy under recovery, again (silent, then dead): nothing new, but a dead
         * copy is no longer one that may wake up. */
        queue_false = kind == FMS_EV_DEAD;
    } else if (c != v->active) {
        /* A standby died or fell silent: it is made a standby again before it is chosen. */
        run_events_addf(ctl->events, at_ns, "standby-failed", name, "%s", why);
        /* In the runner's words too: a fault on the standby was detected (the episode ends
         * when it is a standby again, nham_rearm()). */
        run_events_addf(ctl->events, at_ns, "suspected", name, "%s (a standby; %.3f ms since "
                        "its last beat)", why, gap_ns / 1e6);
        queue_false = standby = true;
    } else {
        char take[sizeof ((struct nham_job *) NULL)->take];
        uint64_t take_ns = 0;

        took = kind == FMS_EV_DEAD && nham_take(ctl, w, c, at_ns, take, sizeof take, &take_ns);
        if (!took) {
            take[0] = '\0';
        }
        nham_queue_fail(ctl, w, c, at_ns, kind == FMS_EV_DEAD, why, gap_ns, take, take_ns);
    }
    if (queue_false) {
        ctl_workers_push(ctl->threads, vi, &(struct nham_job) { .kind = NHAM_JOB_FALSE,
                                                                .copy = c, .at_ns = at_ns,
                                                                .standby = standby });
    }
    ctl_workers_unlock(ctl->threads);
    if (took) {
        /* The SFF, woken by the command at this thread's own real-time priority, waits for
         * this CPU when it is the one its guest is pinned to: what the FMS does after a death
         * (the death's events, the dead copy's sockets closed: 20-40 us) comes after the
         * SFF's takeover, not before it. */
        sched_yield();
    }
}

void
nham_ctl_stop(void *ctl_)
{
    struct nham_ctl *ctl = ctl_;

    if (!ctl) {
        return;
    }
    ctl_workers_stop(ctl->threads);
    fms_destroy(ctl->fms);          /* No callback after this. */
    ctl_workers_destroy(ctl->threads);
    for (size_t i = 0; ctl->workers && i < ctl->nd->n_vnfs; i++) {
        if (ctl->workers[i].hold_fd >= 0) {
            close(ctl->workers[i].hold_fd);
            unlink(ctl->workers[i].hold_path);
        }
        free(ctl->workers[i].hold_path);
        if (ctl->workers[i].vm_image) {
            nham_image_remove(ctl->workers[i].vm_image);
            nham_image_remove(ctl->workers[i].vm_tmp);
        }
        free(ctl->workers[i].vm_image);
        free(ctl->workers[i].vm_tmp);
    }
    if (ctl->cmd_fd >= 0) {
        close(ctl->cmd_fd);
    }
    nham_rt_watch(&ctl->sff_rt, 0);
    for (size_t t = 0; t < ctl->n_targets; t++) {
        nham_rt_watch(&ctl->targets[t].rt, 0);
    }
    /* Roles this controller started are the deployment's (nham_set_role()), which stops
     * them; one it does not know of (none, normally) is stopped here. */
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
    free(ctl);
}

int
nham_ctl_start(const struct scheme_controller_ctx *ctx, void **statep)
{
    struct nham_ctl *ctl = xzalloc(sizeof *ctl);
    struct nham_dep *nd = ctx->dep->scheme_data;
    struct fms_config fc = FMS_CONFIG_DEFAULT;
    char *path;
    int error;

    ctl->inst = ctx->inst;
    ctl->dep = ctx->dep;
    ctl->cmd_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ctl->sff_rt.pidfd = -1;
    ctl->events = ctx->events;
    ctl->nd = nd;
    ctl->threads = ctl_workers_create(nd->n_vnfs, sizeof(struct nham_job), nham_worker_job,
                                      nham_worker_idle, ctl);
    pthread_mutex_init(&ctl->of_mutex, NULL);
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
    for (size_t i = 0; i < nd->n_vnfs; i++) {
        ctl->workers[i].hold_fd = -1;
    }
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
            pid_t pid = cp->role_id >= 0 ? deploy_host_pid(ctl->inst, cp->guest, cp->nspid)
                                         : 0;

            error = fms_add_target(ctl->fms, cp->name, pid, cp->hb_fd, &cp->fms_idx);
            ctl->targets = xrealloc(ctl->targets, (ctl->n_targets + 1) * sizeof *ctl->targets);
            ctl->targets[ctl->n_targets].vnf = i;
            ctl->targets[ctl->n_targets].copy = c;
            ctl->targets[ctl->n_targets].rt.pidfd = -1;
            nham_rt_watch(&ctl->targets[ctl->n_targets++].rt, pid);
        }
        ctl->workers[i] = (struct nham_worker) { .ctl = ctl, .vnf = i, .failing = SIZE_MAX,
                                                 .taking_over = SIZE_MAX, .hold_fd = -1,
                                                 .vm_image_copy = SIZE_MAX };
        if (nham_backend_vm(nd, v) || nham_backend_criu(nd, v)) {
            struct nham_worker *w = &ctl->workers[i];
            uint64_t ns = 0;

            w->vm = nham_backend_vm(nd, v);
            w->criu = !w->vm;
            w->vm_interval_ns = v->conf.checkpoint && parse_duration(v->conf.checkpoint, &ns)
                                && ns ? ns : 2000000000ull;
            /* The first at once: until a VNF has an image, its recovery is a restart from
             * the initial state (measured: a crash 8 s into a run at load 13 came before the
             * first image). The workers run in parallel; each VM checkpoints its own. */
            w->vm_next_ns = time_mono_ns();
            w->vm_image = xasprintf("%s/nham-%s-%zu.img", ctl->inst->dir,
                                    w->vm ? "vm" : "criu", i);
            w->vm_tmp = xasprintf("%s/nham-%s-%zu.new", ctl->inst->dir,
                                  w->vm ? "vm" : "criu", i);
            if (w->vm) {
                error = manifest_record_file(ctl->inst->manifest, w->vm_image);
                error = error ? error : manifest_record_file(ctl->inst->manifest, w->vm_tmp);
            } else {
                error = manifest_record_dir(ctl->inst->manifest, w->vm_image);
                error = error ? error : manifest_record_dir(ctl->inst->manifest, w->vm_tmp);
            }
            /* The criu binary where each copy's guest sees it (libcriu runs it there). */
            for (size_t c = 0; !error && w->criu && c < v->n_copies; c++) {
                char *service = nham_criu_service(ctl, &v->copies[c]);
                error = nham_criu_install(service);
                free(service);
            }
        }
        if (nd->sff_ctl_path) {
            /* Its own socket for the SFF's answers, where the SFF's guest can send. */
            struct nham_worker *w = &ctl->workers[i];

            w->hold_path = xasprintf("%s/guests/%s/nham-fms-%zu.sock", ctl->inst->dir,
                                     nd->sff_guest, i);
            if (nham_unix_bind(ctl->inst, w->hold_path, SOCK_DGRAM, &w->hold_fd)) {
                w->hold_fd = -1;
            }
        }
    }
    if (error) {
        goto out;
    }
    run_events_add(ctl->events, 0, "checkpoint-backend", "vsm", nd->conf.backend);
    nham_realtime(ctl);
    /* A recovery starts on its VNF's worker, queued by the FMS's real-time thread: a normal
     * thread took 0-4 ms to wake up on a loaded machine (load 9-14), as long as everything
     * else before READY. The workers block in calls and polls and run for microseconds at a
     * time, as the FMS's thread does: the same priority, the lowest real-time one. */
    ctl_workers_set_realtime(ctl->threads, 1);
    error = ctl_workers_start(ctl->threads);
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
