#include "testbed/deploy/deploy.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "testbed/infra/instance.h"
#include "testbed/infra/link.h"
#include "testbed/infra/manifest.h"
#include "testbed/infra/openflow.h"
#include "testbed/infra/ovs.h"
#include "testbed/infra/provider.h"
#include "testbed/model/experiment.h"
#include "testbed/model/topology.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/rng.h"
#include "vnfs/sfc/vnf_ftc.h"

#define DEPLOY_RPC_TIMEOUT_MS 5000
#define DEPLOY_SPI 1
#define DATA_BRIDGE "data"

/* Component ids in NSH timestamps; the runner maps them back to names. */
#define DEPLOY_ID_CLASSIFIER 1
#define DEPLOY_ID_SFF 2
#define DEPLOY_ID_VNF0 10
#define DEPLOY_ID_FTMB_LOGGER 5000

static struct instance_iface *data_iface(struct instance_guest *);
static int write_key(struct deployment *, const struct deploy_component *, char **pathp);

/* The guests of a chain, in the order they get data addresses 10.0.0.1, .2, ... */
static const char *const fixed_guests[] = { "client", "sc", "sff", "server" };

/* Ids of replicas in NSH timestamps: vnf[i].replica[r]. */
#define DEPLOY_ID_REPLICA(I, R) (1000 + (I) * 100 + (R))

/* An attacker guest joins the chain's bridge when a fault needs one (mitm, or omission of a
 * fraction: both steer the target's traffic through `sfcd mitm`). */
static bool
needs_attacker(const struct exp_point *p)
{
    for (size_t i = 0; i < p->n_faults; i++) {
        const struct exp_fault *f = &p->faults[i];
        if (!strcmp(f->kind, "mitm")
            || (!strcmp(f->kind, "omission") && f->fraction > 0 && f->fraction < 1)) {
            return true;
        }
    }
    return false;
}

/* The CPU quota of VNF 'i''s guest: a middlebox's, and under FTC with ftc_end_cpus one more
 * for each of the forwarder and the buffer it runs beside its middlebox (their own cores on
 * the paper's servers, as an in-line FTMB logger has its own guest): split between their
 * thread and the middlebox's by deploy_ftc_split(). */
static double
vnf_guest_cpus(const struct exp_point *p, const struct deploy_chain_opts *o, size_t i)
{
    unsigned roles = 1;

    if (o->ftc && o->ftc_end_cpus) {
        roles += (i == 0) + (i + 1 == p->n_vnfs);
    }
    return exp_point_vnf_cpus(p) * roles;
}

/* The guest of VNF 'i' (replica 'r' of a replicated chain). */
static unsigned
vnf_copies(const struct deploy_chain_opts *o, size_t i)
{
    return o->copies ? MAX(o->copies[i], 1u) : MAX(o->replicas, 1u);
}

static void
vnf_guest_name(const struct deploy_chain_opts *o, size_t i, unsigned r, char name[32])
{
    if (o->replicas > 1 || o->copies) {
        snprintf(name, 32, "v%zur%u", i % 1000, r % 100);
    } else {
        snprintf(name, 32, "v%zu", i);
    }
}

/* The point's `network:` on every data link of the chain (testbed/infra/shaper.h realises it).
 * A degrade fault may add a delay at run time: that needs every link's stage from the start
 * (an explicit queue asks for one). */
static void
chain_network(const struct exp_point *p, struct topology *topo)
{
    struct impair network = p->network;

    for (size_t i = 0; i < p->n_faults; i++) {
        if (!strcmp(p->faults[i].kind, "degrade")) {
            network.egress.queue = network.egress.queue ? network.egress.queue
                                                        : IMPAIR_QUEUE_DEFAULT;
            network.ingress.queue = network.ingress.queue ? network.ingress.queue
                                                          : IMPAIR_QUEUE_DEFAULT;
        }
    }
    for (size_t i = 0; i < topo->n_links; i++) {
        topo->links[i].impair = network;
    }
}

int
deploy_chain_topology(const struct exp_point *p, const struct deploy_chain_opts *o,
                      struct topology **topop, char **errp)
{
    struct topology *topo = topology_new("chain", p->provider);
    size_t bridge = topology_add_bridge(topo, DATA_BRIDGE), n_addr = 0;
    char addr[INET_ADDRSTRLEN], name[32];
    int error;

    for (size_t i = 0; i < ARRAY_SIZE(fixed_guests); i++) {
        size_t g = topology_add_guest(topo, fixed_guests[i], p->cpus, p->cpu_period_us,
                                      p->memory);
        snprintf(addr, sizeof addr, "10.0.0.%zu", ++n_addr);
        topology_add_link(topo, g, bridge, addr, 24);
    }
    for (size_t i = 0; i < p->n_vnfs; i++) {
        for (unsigned r = 0; r < vnf_copies(o, i); r++) {
            vnf_guest_name(o, i, r, name);
            size_t g = topology_add_guest(topo, name, vnf_guest_cpus(p, o, i),
                                          exp_point_vnf_period(p), p->memory);
            /* Past .249 the addresses would meet the service address: only MACs matter on the
             * chain's path, so a large replicated chain does without. */
            snprintf(addr, sizeof addr, "10.0.0.%zu", ++n_addr);
            topology_add_link(topo, g, bridge, n_addr < 250 ? addr : NULL, 24);
        }
    }
    for (size_t i = 0; i < o->n_extra; i++) {
        bool made = false;

        for (size_t j = 0; j < i; j++) {
            made |= !strcmp(o->extra[j].guest, o->extra[i].guest);
        }
        if (made) {
            continue;       /* Another component on an extra's guest. */
        }
        size_t g = topology_add_guest(topo, o->extra[i].guest, p->cpus, p->cpu_period_us,
                                      p->memory);
        snprintf(addr, sizeof addr, "10.0.0.%zu", ++n_addr);
        topology_add_link(topo, g, bridge, n_addr < 250 ? addr : NULL, 24);
    }
    chain_network(p, topo);
    if (needs_attacker(p)) {
        size_t g = topology_add_guest(topo, "attacker", p->cpus, p->cpu_period_us,
                                      p->memory);
        topology_add_link(topo, g, bridge, "10.0.0.254", 24);
    }
    if (o->ftmb && o->ftmb_in_line) {
        /* A logger per middlebox: the paper's FTMB gives each its IL and OL's own server. */
        for (size_t i = 0; i < p->n_vnfs; i++) {
            snprintf(name, sizeof name, "l%zu", i);
            size_t g = topology_add_guest(topo, name, exp_point_vnf_cpus(p),
                                          exp_point_vnf_period(p), p->memory);
            /* Only its MAC matters (the path's hop); no address to collide with a function's
             * (a NAT's external one). */
            topology_add_link(topo, g, bridge, NULL, 24);
        }
    } else if (o->ftmb) {
        size_t g = topology_add_guest(topo, "logger", p->cpus, p->cpu_period_us, p->memory);
        topology_add_link(topo, g, bridge, "10.0.0.253", 24);
    }
    error = topology_finish(topo, errp);
    if (error) {
        topology_free(topo);
    } else {
        *topop = topo;
    }
    return error;
}

const char *
deploy_mac_string(const uint8_t mac[6], char s[18])
{
    snprintf(s, 18, "%02x:%02x:%02x:%02x:%02x:%02x",
             mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    return s;
}

void
deploy_set_guest(struct deployment *d, struct deploy_component *c, const char *guest)
{
    struct instance_guest *ig = instance_find_guest(d->inst, guest);

    d->old_names = xrealloc(d->old_names, (d->n_old_names + 1) * sizeof *d->old_names);
    d->old_names[d->n_old_names++] = c->guest;
    __atomic_store_n(&c->ig, ig, __ATOMIC_RELEASE);
    __atomic_store_n(&c->guest, xstrdup(guest), __ATOMIC_RELEASE);
}

void
deploy_replace_agent_fd(struct deployment *d, struct deploy_component *c, int fd)
{
    int old = __atomic_exchange_n(&c->agent_fd, fd, __ATOMIC_ACQ_REL);

    if (old >= 0) {
        d->old_fds = xrealloc(d->old_fds, (d->n_old_fds + 1) * sizeof *d->old_fds);
        d->old_fds[d->n_old_fds++] = old;
    }
}

struct instance_iface *
deploy_data_iface(struct instance_guest *ig)
{
    return data_iface(ig);
}

/* The guest's interface on the data bridge. */
static struct instance_iface *
data_iface(struct instance_guest *ig)
{
    for (size_t i = 0; i < ig->n_ifaces; i++) {
        if (!strcmp(ig->ifaces[i].bridge, DATA_BRIDGE)) {
            return &ig->ifaces[i];
        }
    }
    return NULL;
}

static struct deploy_component *
add_component(struct deployment *d, const char *role, int index, const char *guest)
{
    struct deploy_component *c;

    d->comps = xrealloc(d->comps, (d->n_comps + 1) * sizeof *d->comps);
    c = &d->comps[d->n_comps++];
    memset(c, 0, sizeof *c);
    c->role = xstrdup(role);
    c->index = index;
    c->replica = -1;
    c->name = xasprintf("%s[%d]", role, index);
    c->guest = xstrdup(guest);
    c->ig = instance_find_guest(d->inst, guest);
    c->agent_fd = -1;
    c->role_id = -1;
    return c;
}

const struct deploy_component *
deploy_find_id(const struct deployment *d, uint32_t id)
{
    for (size_t i = 0; d && id && i < d->n_comps; i++) {
        if (d->comps[i].id == id) {
            return &d->comps[i];
        }
    }
    return NULL;
}

int
deploy_start_role(struct deploy_component *c, const char *role, char *const args[])
{
    json_t *params = json_pack("{s:s, s:[]}", "role", role, "args"), *result = NULL;
    json_t *jargs = json_object_get(params, "args");
    char *errmsg = NULL;
    int error;

    for (size_t i = 0; args[i]; i++) {
        json_array_append_new(jargs, json_string(args[i]));
    }
    error = rpc_call_err(c->agent_fd, "start_role", params, &result, DEPLOY_RPC_TIMEOUT_MS,
                         &errmsg);
    if (!error) {
        c->role_id = json_integer_value(json_object_get(result, "id"));
        c->nspid = json_integer_value(json_object_get(result, "pid"));
    } else {
        log_err("%s: cannot start %s on %s: %s", c->name, role, c->guest,
                errmsg ? errmsg : strerror(error));
    }
    free(errmsg);
    json_decref(params);
    json_decref(result);
    return error;
}

int
deploy_role_counters(struct deployment *d, struct deploy_component *c, json_t **countersp)
{
    int role_id = __atomic_load_n(&c->role_id, __ATOMIC_ACQUIRE);
    json_t *result = NULL, *counters;
    char *errmsg = NULL;
    int error = ESRCH, fd;

    /* A role that runs no more (crashed: a fault's doing) has no counters: not a warning.
     * Connected for this call alone, as the agent did: a connection kept open is a socket to a
     * peer outside the role's processes, and CRIU refuses to dump the role then. */
    if (role_id >= 0) {
        error = deploy_role_ctl_connect(d->inst, c->guest, role_id, DEPLOY_RPC_TIMEOUT_MS, &fd);
    }
    if (!error) {
        json_t *params = json_object();

        error = rpc_call_err(fd, "stats", params, &result, DEPLOY_RPC_TIMEOUT_MS, &errmsg);
        close(fd);
        json_decref(params);
    } else if (error == ENOTSUP && c->agent_fd >= 0) {
        json_t *params = json_pack("{s:i}", "id", role_id);

        error = rpc_call_err(c->agent_fd, "stats", params, &result, DEPLOY_RPC_TIMEOUT_MS,
                             &errmsg);
        json_decref(params);
    } else if (error == ENOTSUP) {
        error = ESRCH;
    }
    counters = json_object_get(result, "counters");
    if (!error && json_is_object(counters)) {
        *countersp = json_incref(counters);
    } else if (!error) {
        error = EPROTO;
    }
    free(errmsg);
    json_decref(result);
    return error;
}

int
deploy_host_pid(struct instance *inst, const char *guest, int nspid)
{
    struct instance_guest *ig = instance_find_guest(inst, guest);
    pid_t pid = 0;

    if (!ig || !ig->guest || guest_host_pid(ig->guest, nspid, &pid)) {
        return 0;
    }
    return pid;
}

char *
deploy_role_ctl_path(struct instance *inst, const char *guest, int role_id)
{
    struct instance_guest *ig = instance_find_guest(inst, guest);
    char *path;

    if (!ig || !ig->guest || !ig->guest->provider->local_sockets || role_id < 0) {
        return NULL;
    }
    /* The agent's naming (vnfs/sfc/agent.c): its --dir is the instance's guests/NAME. */
    path = xasprintf("%s/guests/%s/role-%d.sock", inst->dir, guest, role_id);
    if (strlen(path) >= sizeof ((struct sockaddr_un *) NULL)->sun_path) {
        free(path);
        return NULL;
    }
    return path;
}

int
deploy_role_ctl_connect(struct instance *inst, const char *guest, int role_id, int timeout_ms,
                        int *fdp)
{
    char *path = deploy_role_ctl_path(inst, guest, role_id);
    char *address;
    int error;

    if (!path) {
        return ENOTSUP;
    }
    address = xasprintf("unix:%s", path);
    error = rpc_connect(address, timeout_ms, fdp);
    free(address);
    free(path);
    return error;
}

int
deploy_wait_role(struct deploy_component *c, int timeout_ms, int *exit_codep)
{
    json_t *params = json_pack("{s:i, s:i}", "id", c->role_id, "timeout_ms", timeout_ms);
    json_t *result = NULL;
    char *errmsg = NULL;
    int error;

    error = rpc_call_err(c->agent_fd, "wait_role", params, &result, timeout_ms + 5000,
                         &errmsg);
    if (!error) {
        json_t *code = json_object_get(result, "exit_code");
        if (json_is_true(json_object_get(result, "running")) || !json_is_integer(code)) {
            error = ETIMEDOUT;
        } else if (exit_codep) {
            *exit_codep = json_integer_value(code);
        }
    } else {
        log_err("%s: waiting for it failed: %s", c->name, errmsg ? errmsg : strerror(error));
    }
    free(errmsg);
    json_decref(params);
    json_decref(result);
    return error;
}

static void
stop_component(struct deploy_component *c)
{
    if (c->role_id >= 0 && c->agent_fd >= 0) {
        json_t *params = json_pack("{s:i}", "id", c->role_id), *result = NULL;
        rpc_call(c->agent_fd, "stop_role", params, &result, DEPLOY_RPC_TIMEOUT_MS);
        json_decref(params);
        json_decref(result);
        c->role_id = -1;
    }
}

void
deploy_stop(struct deployment *d)
{
    if (!d) {
        return;
    }
    for (size_t i = d->n_comps; i-- > 0; ) {
        struct deploy_component *c = &d->comps[i];
        stop_component(c);
        if (c->agent_fd >= 0) {
            close(c->agent_fd);
        }
        free(c->role);
        free(c->name);
        free(c->guest);
        free(c->fn);
    }
    free(d->comps);
    free(d->work_dir);
    free(d->ftc_key);
    free(d->ftc_ring);
    free(d->ftmb_logger);
    for (size_t i = 0; i < d->n_old_names; i++) {
        free(d->old_names[i]);
    }
    free(d->old_names);
    for (size_t i = 0; i < d->n_old_fds; i++) {
        close(d->old_fds[i]);
    }
    free(d->old_fds);
    if (d->scheme_data_free) {
        d->scheme_data_free(d->scheme_data);
    }
    free(d);
}

void
deploy_set_idle(struct deploy_component *c, bool idle)
{
    __atomic_store_n(&c->idle, idle, __ATOMIC_RELEASE);
}

bool
deploy_is_idle(const struct deploy_component *c)
{
    return __atomic_load_n(&c->idle, __ATOMIC_ACQUIRE);
}

/* Whether 'c' is one of random(ROLE[index])'s candidates. */
static bool
deploy_random_candidate(const struct deploy_component *c, const char *role, int index,
                        bool busy_only)
{
    return !strcmp(c->role, role) && (index < 0 || c->index == index)
           && !(busy_only && deploy_is_idle(c));
}

struct deploy_component *
deploy_find(struct deployment *d, const char *target, uint64_t *rng)
{
    return deploy_find_busy(d, target, rng, false);
}

struct deploy_component *
deploy_find_busy(struct deployment *d, const char *target, uint64_t *rng, bool busy_only)
{
    char role[32];
    int index = -1, replica = -1;
    size_t n_match = 0;

    if (sscanf(target, "random(%31[a-z_-]", role) == 1) {
        /* random(ROLE), or random(ROLE[N]): one of the components of ROLE (index N), a
         * replica or the component itself, whatever the scheme made of it. */
        const char *rest = target + 7 + strlen(role);
        int n = 0;

        if (strcmp(rest, ")") && (sscanf(rest, "[%d])%n", &index, &n) != 1 || rest[n])) {
            return NULL;
        }
        for (size_t i = 0; i < d->n_comps; i++) {
            n_match += deploy_random_candidate(&d->comps[i], role, index, busy_only);
        }
        if (!n_match || !rng) {
            return NULL;
        }
        size_t pick = ft_splitmix64(rng) % n_match;
        for (size_t i = 0; i < d->n_comps; i++) {
            if (deploy_random_candidate(&d->comps[i], role, index, busy_only) && !pick--) {
                return &d->comps[i];
            }
        }
        return NULL;
    }
    for (size_t i = 0; i < d->n_comps; i++) {
        if (!strcmp(d->comps[i].name, target)) {
            return &d->comps[i];
        }
    }
    if (sscanf(target, "%31[a-z_-][%d].replica[%d]", role, &index, &replica) < 2) {
        return NULL;
    }
    for (size_t i = 0; i < d->n_comps; i++) {
        struct deploy_component *c = &d->comps[i];
        if (!strcmp(c->role, role) && c->index == index && c->replica == replica) {
            return c;
        }
    }
    return NULL;
}

void
deploy_args_add(struct deploy_args *a, const char *fmt, ...)
{
    va_list ap;

    if (a->n + 2 > a->cap) {
        a->v = x2nrealloc(a->v, &a->cap, sizeof *a->v);
    }
    va_start(ap, fmt);
    a->v[a->n++] = xvasprintf(fmt, ap);
    va_end(ap);
    a->v[a->n] = NULL;
}

void
deploy_args_free(struct deploy_args *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i]);
    }
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* Static L2 flows for every data MAC, and the steering that sends the client's requests for the
 * service address to the classifier. With the MAC table fixed, a frame an attacker re-injects
 * can never teach the switch a wrong port. Through the instance's switch (over the bridge's
 * persistent OpenFlow connection), one barrier for the batch. */
/* FIT-SFC's voters count each sender once by its source MAC: a replica that could send as
 * another would vote twice. So every data port may send only with its own MAC, to any other
 * guest's (priority 60), and nothing else (55: not even broadcasts; nothing on the chain needs
 * them). The attacker guest is the injectors' agent: it re-injects what it intercepts as the
 * target sent it, so its port may carry any source. The mitm and omission steering (300)
 * still comes first. */
static int
install_anti_spoofing(struct deployment *d)
{
    int error = 0;

    for (size_t i = 0; !error && i < d->inst->n_guests; i++) {
        struct instance_guest *from = &d->inst->guests[i];
        struct instance_iface *f = data_iface(from);
        bool attacker = !strcmp(from->name, "attacker");

        for (size_t j = 0; f && !error && j < d->inst->n_guests; j++) {
            struct instance_iface *t = data_iface(&d->inst->guests[j]);
            struct of_flow flow = { .priority = 60 };

            if (!t || i == j) {
                continue;
            }
            of_match_in_port(&flow.match, f->ofport);
            if (!attacker) {
                of_match_eth_src(&flow.match, f->mac);
            }
            of_match_eth_dst(&flow.match, t->mac);
            of_actions_output(&flow.actions, t->ofport);
            error = instance_flow_add(d->inst, DATA_BRIDGE, &flow);
        }
        if (f && !error && !attacker) {
            struct of_flow flow = { .priority = 55 };
            of_match_in_port(&flow.match, f->ofport);
            error = instance_flow_add(d->inst, DATA_BRIDGE, &flow);    /* No action: drop. */
        }
    }
    return error;
}

static int
install_steering(struct deployment *d, struct instance_iface *client,
                 struct instance_iface *classifier)
{
    /* FIT-SFC (no classifier given): the client's wrapper sends to each classifier replica's
     * MAC itself; the static L2 flows, and no port may send as another. */
    int error = 0, error2;

    instance_changes_lock(d->inst);
    for (size_t i = 0; !error && i < d->inst->n_guests; i++) {
        struct instance_iface *f = data_iface(&d->inst->guests[i]);
        if (f) {
            struct of_flow flow = { .priority = 50 };
            of_match_eth_dst(&flow.match, f->mac);
            of_actions_output(&flow.actions, f->ofport);
            error = instance_flow_add(d->inst, DATA_BRIDGE, &flow);
        }
    }
    if (!error && !classifier) {
        error = install_anti_spoofing(d);
    }
    if (!error && classifier) {
        struct of_flow flow = { .priority = 200 };
        of_match_in_port(&flow.match, client->ofport);
        of_match_ipv4_dst(&flow.match, d->service_addr.s_addr, 32);
        of_actions_output(&flow.actions, classifier->ofport);
        error = instance_flow_add(d->inst, DATA_BRIDGE, &flow);
    }
    /* Also after a refusal: what was queued goes now. */
    error2 = instance_flow_barrier(d->inst, DATA_BRIDGE);
    instance_changes_unlock(d->inst);
    return error ? error : error2;
}

/* The client reaches the service address through a neighbour entry we set: nobody answers ARP
 * for it, and the steering flow takes the frame to the classifier whatever its MAC. */
static int
client_neighbour(struct deployment *d, struct instance_guest *client)
{
    return guest_neigh_add(client->guest, data_iface(client)->ifname, d->service_addr,
                           d->service_mac);
}

/* deploy.json: the component map the injectors read to resolve "vnf[1]" by hand. */
static int
save_map(struct deployment *d)
{
    char *path = xasprintf("%s/deploy.json", d->inst->dir);
    char *tmp = xasprintf("%s.tmp", path);
    json_t *root = json_object(), *comps = json_array();
    int error;

    /* Readers (an injector resolving a target) see the old map or the new, whole. */
    instance_changes_lock(d->inst);
    error = manifest_record_file(d->inst->manifest, path);
    if (!error) {
        error = manifest_record_file(d->inst->manifest, tmp);
    }

    for (size_t i = 0; i < d->n_comps; i++) {
        struct deploy_component *c = &d->comps[i];
        json_array_append_new(comps, json_pack("{s:s, s:s, s:i, s:i, s:s, s:i}",
                                               "name", c->name, "role", c->role,
                                               "index", c->index, "replica", c->replica,
                                               "guest", c->guest, "role_id", c->role_id));
    }
    json_object_set_new(root, "components", comps);
    json_object_set_new(root, "service", json_string(inet_ntoa(d->service_addr)));
    if (!error && json_dump_file(root, tmp, JSON_INDENT(2))) {
        error = EIO;
    }
    if (!error && rename(tmp, path)) {
        error = errno;
    }
    instance_changes_unlock(d->inst);
    json_decref(root);
    free(tmp);
    free(path);
    return error;
}

int
deploy_write_key(struct deployment *d, const struct deploy_component *c,
                 const uint8_t key[crypto_auth_KEYBYTES], char **pathp)
{
    char *path = xasprintf("%s/guests/%s/ft.key", d->inst->dir, c->guest);
    int error;

    error = manifest_record_file(d->inst->manifest, path);
    if (error) {
        free(path);
        return error;
    }
    /* The guest's provider writes it where the guest's roles can read it: a VM reads its
     * directory through its emulator's user, not root. */
    error = guest_put_file(c->ig ? c->ig->guest : NULL, path, key, crypto_auth_KEYBYTES);
    if (error) {
        log_err("%s: %s", path, strerror(error));
        free(path);
        return error;
    }
    *pathp = path;
    return 0;
}

/* The instance's key for the protocol cores' peer messages, for the guest of 'c': fresh random
 * bytes in a file only its owner reads, recorded in the manifest before it exists. */
static int
write_key(struct deployment *d, const struct deploy_component *c, char **pathp)
{
    uint8_t key[crypto_auth_KEYBYTES];
    int error;

    if (sodium_init() < 0) {
        return EIO;
    }
    randombytes_buf(key, sizeof key);
    error = deploy_write_key(d, c, key, pathp);
    sodium_memzero(key, sizeof key);
    return error;
}

/* FTC's state path from the buffer back to the forwarder: a veth straight between the guests
 * of the chain's first and last VNF, named FTC_LINK in both, each end with its guest's data
 * MAC. The paper gives this path a link of its own; through the switch a commit round trip
 * crossed its main loop twice (≈90 us each). Nothing to clean: a veth dies with either of its
 * namespaces, and so with either guest. Made again when one of the guests was replaced (its
 * end died with the old one). 0, or an errno when a guest's namespace cannot be reached (a
 * VM's: the members send through the switch then). */
#define FTC_LINK "ftcl"

static struct deploy_component *
find_comp(struct deployment *d, const char *role, size_t index)
{
    for (size_t i = 0; i < d->n_comps; i++) {
        if (!strcmp(d->comps[i].role, role) && d->comps[i].index == (int) index) {
            return &d->comps[i];
        }
    }
    return NULL;
}

static struct deploy_component *
find_vnf(struct deployment *d, size_t index)
{
    return find_comp(d, "vnf", index);
}

static int
ftc_link(struct deployment *d)
{
    struct deploy_component *ends[2] = { find_vnf(d, 0), find_vnf(d, d->point->n_vnfs - 1) };
    struct link_ns *ns[2] = { NULL, NULL };
    bool exists[2];
    int error = 0;

    if (d->point->n_vnfs < 2 || !ends[0] || !ends[1]) {
        return ENOENT;
    }
    for (int k = 0; k < 2 && !error; k++) {
        struct instance_guest *ig = __atomic_load_n(&ends[k]->ig, __ATOMIC_ACQUIRE);
        struct guest *g = ig ? __atomic_load_n(&ig->guest, __ATOMIC_ACQUIRE) : NULL;
        int fd;

        error = !g || !data_iface(ig) ? ENOENT : guest_netns_fd(g, &fd);
        if (!error) {
            error = link_ns_open(fd, &ns[k]);
            close(fd);
        }
        if (!error) {
            exists[k] = link_exists(ns[k], FTC_LINK);
        }
    }
    if (!error && !(exists[0] && exists[1])) {
        /* One end alone is the old pair's, going away with the other guest's namespace. */
        for (int k = 0; k < 2; k++) {
            if (exists[k]) {
                link_delete(ns[k], FTC_LINK);
            }
        }
        struct link_veth veth = {
            .name = FTC_LINK, .peer_name = FTC_LINK,
            .mac = data_iface(ends[0]->ig)->mac, .peer_mac = data_iface(ends[1]->ig)->mac,
        };
        error = link_veth_add(ns[0], ns[1], &veth);
        for (int k = 0; k < 2 && !error; k++) {
            error = link_set_up(ns[k], FTC_LINK, true);
        }
    }
    if (error) {
        log_debug("ftc: no link between %s and %s (%s): their peer messages go through the "
                  "switch", ends[0]->guest, ends[1]->guest, strerror(error));
    }
    link_ns_close(ns[0]);
    link_ns_close(ns[1]);
    return error;
}

/* The arguments of VNF component 'c' (its function, and FTC's when the chain has it). */
static void
vnf_args(struct deployment *d, const struct deploy_component *c, uint32_t incarnation,
         struct deploy_args *a)
{
    const struct exp_vnf *v = &d->point->vnfs[c->index];

    deploy_args_add(a, "--iface");
    deploy_args_add(a, "%s", data_iface(c->ig)->ifname);
    deploy_args_add(a, "--fn");
    deploy_args_add(a, "%s", v->fn);
    deploy_args_add(a, "--id");
    deploy_args_add(a, "%u", c->id);
    for (size_t j = 0; j < v->n_params; j++) {
        deploy_args_add(a, "--param");
        deploy_args_add(a, "%s=%s", v->params[j].key, v->params[j].value);
    }
    if (d->opts.ftc) {
        deploy_args_add(a, "--ftc-ring");
        deploy_args_add(a, "%s", d->ftc_ring);
        deploy_args_add(a, "--ftc-index");
        deploy_args_add(a, "%d", c->index);
        deploy_args_add(a, "--ftc-f");
        deploy_args_add(a, "%u", d->opts.f);
        deploy_args_add(a, "--ftc-incarnation");
        deploy_args_add(a, "%"PRIu32, incarnation);
        /* The same key, in the guest's own directory (the only one it sees). */
        deploy_args_add(a, "--key");
        deploy_args_add(a, "%s/guests/%s/ft.key", d->inst->dir, c->guest);
        if (d->opts.ftc_partitions) {
            deploy_args_add(a, "--ftc-partitions");
            deploy_args_add(a, "%u", d->opts.ftc_partitions);
        }
        if (c->index < DEPLOY_FTC_MAX_VNFS && d->opts.ftc_threads[c->index]) {
            deploy_args_add(a, "--ftc-threads");
            deploy_args_add(a, "%u", d->opts.ftc_threads[c->index]);
        }
        if (d->opts.ftc_tick) {
            deploy_args_add(a, "--ftc-tick");
            deploy_args_add(a, "%s", d->opts.ftc_tick);
        }
        if (d->opts.ftc_link && (c->index == 0 || c->index + 1 == (int) d->point->n_vnfs)
            && !ftc_link(d)) {
            deploy_args_add(a, "--ftc-link");
            deploy_args_add(a, FTC_LINK);
        }
    }
    if (d->opts.ftmb && d->opts.ftmb_in_line) {
        struct deploy_component *lg = find_comp(d, "logger", c->index);
        char mac[18];

        deploy_args_add(a, "--ftmb-logger");
        deploy_args_add(a, "%s", deploy_mac_string(data_iface(lg->ig)->mac, mac));
        deploy_args_add(a, "--ftmb-in-line");
    } else if (d->opts.ftmb) {
        deploy_args_add(a, "--ftmb-logger");
        deploy_args_add(a, "%s", d->ftmb_logger);
    }
    if (d->opts.ftmb) {
        if (d->opts.ftmb_snapshot) {
            deploy_args_add(a, "--ftmb-snapshot");
            deploy_args_add(a, "%s", d->opts.ftmb_snapshot);
        }
        if (d->opts.ftmb_stall) {
            deploy_args_add(a, "--ftmb-stall");
            deploy_args_add(a, "%s", d->opts.ftmb_stall);
        }
        /* A middlebox with a quota of its own (the paper's server per middlebox): its
         * stalls spend that server's time, as a sleep under a quota would not. */
        if (d->point->vnf_cpus > 0) {
            deploy_args_add(a, "--ftmb-stall-cpus");
            deploy_args_add(a, "%g", d->point->vnf_cpus);
        }
    }
}

/* Under FTC with ftc_end_cpus, the first and the last VNF's guest has a middlebox's quota for
 * its middlebox and one for FTC's end beside it (vnf_guest_cpus()). A quota is the group's:
 * the middlebox would use what the end leaves (at length 2 FTC's middleboxes had ~0.06 cores
 * where none's had 0.04; session 21). So the end's thread (VNF_FTC_THREAD_NAME, which sfcd
 * starts with its loop: waited for briefly) gets a middlebox's quota of its own and the
 * role's other threads another, the guest's group keeping their sum. A provider that cannot
 * (kvm, whose guests' threads are its kernel's; lxc; cgroup v2) leaves the guest's quota
 * shared, as before. At length 1, where one thread has both ends, too. */
static int
deploy_ftc_split(struct deployment *d, const struct deploy_component *c)
{
    double cpus = exp_point_vnf_cpus(d->point);
    struct instance_guest *ig;
    int error = ENOENT;
    pid_t pid;

    if (!d->opts.ftc || !d->opts.ftc_end_cpus || cpus <= 0 || d->point->n_vnfs < 2
        || (c->index != 0 && c->index + 1 != (int) d->point->n_vnfs)) {
        return 0;
    }
    ig = instance_find_guest(d->inst, c->guest);
    pid = deploy_host_pid(d->inst, c->guest, c->nspid);
    if (!pid || !ig) {
        error = ENOTSUP;        /* The host does not see the guest's processes. */
    }
    for (int tries = 0; error == ENOENT && tries < 200; tries++) {
        error = guest_split_threads(ig->guest, pid, VNF_FTC_THREAD_NAME, cpus,
                                    exp_point_vnf_period(d->point));
        if (error == ENOENT) {
            usleep(10000);
        }
    }
    if (error == ENOTSUP) {
        log_debug("%s: the guest's quota stays shared by FTC's end and its middlebox", c->name);
        error = 0;
    } else if (error) {
        log_err("%s: cannot give FTC's end a quota of its own: %s", c->name, strerror(error));
    }
    return error;
}

int
deploy_start_vnf(struct deployment *d, struct deploy_component *c, uint32_t incarnation)
{
    struct deploy_args a = { 0 };
    int error;

    vnf_args(d, c, incarnation, &a);
    error = deploy_start_role(c, "vnf", a.v);
    deploy_args_free(&a);
    return error ? error : deploy_ftc_split(d, c);
}

int
deploy_replace_guest(struct deployment *d, struct deploy_component *c, const char *new_guest,
                     int *old_fdp)
{
    struct instance_guest *ig = c->ig;
    uint8_t key[crypto_auth_KEYBYTES];
    bool has_key = false, locked = false;
    char *kp = NULL;
    int fd = -1, error, error2;

    /* The chain's key first, from a survivor's file (the dead guest's directory may be
     * gone with it). */
    if (d->ftc_key) {
        int kfd = open(d->ftc_key, O_RDONLY | O_CLOEXEC);

        has_key = kfd >= 0 && read(kfd, key, sizeof key) == (ssize_t) sizeof key;
        if (kfd >= 0) {
            close(kfd);
        }
        if (!has_key) {
            log_err("%s: cannot read the chain's key %s", c->name, d->ftc_key);
            return EIO;
        }
    }
    uint64_t t0 = time_mono_ns();
    /* The replacement and the flows to its new ports are one change of the instance: a fault
     * injected meanwhile (a mitm's steering) lands before or after it, never in between. */
    instance_changes_lock(d->inst);
    locked = true;
    /* The failed guest's quota (a destroyed guest's own record is gone with it). */
    bool mbox = !strcmp(c->role, "vnf");
    error = instance_replace_guest(d->inst, c->guest, new_guest,
                                   mbox ? vnf_guest_cpus(d->point, &d->opts, c->index)
                                        : d->point->cpus,
                                   mbox ? exp_point_vnf_period(d->point)
                                        : d->point->cpu_period_us,
                                   d->point->memory);
    log_debug("%s: new guest %s made in %.1f ms", c->name, new_guest,
              (time_mono_ns() - t0) / 1e6);
    if (error) {
        goto out;
    }
    deploy_set_guest(d, c, new_guest);
    if (!data_iface(ig)) {
        error = ENOENT;
        goto out;
    }
    /* Rerouting: the MAC the chain knows now leads to the new port. */
    for (size_t i = 1; i < ig->n_ifaces; i++) {
        struct of_flow flow = { .priority = 50 };

        of_match_eth_dst(&flow.match, ig->ifaces[i].mac);
        of_actions_output(&flow.actions, ig->ifaces[i].ofport);
        error = error ? error : instance_flow_add(d->inst, ig->ifaces[i].bridge, &flow);
    }
    error2 = instance_flow_barrier(d->inst, DATA_BRIDGE);
    error = error ? error : error2;
    c->role_id = -1;
    if (!error) {
        error = save_map(d);        /* The component's new guest, with the guest itself. */
    }
    instance_changes_unlock(d->inst);
    locked = false;
    if (error) {
        goto out;
    }
    error = instance_mgmt_connect(d->inst, ig->mgmt_addr, INSTANCE_AGENT_PORT,
                                  strcmp(ig->provider, "kvm") ? 5000 : 30000, &fd);
    if (error) {
        log_err("%s: no agent answers on the new guest %s (%s)", c->name, new_guest,
                strerror(error));
        goto out;
    }
    log_debug("%s: its agent answers after %.1f ms", c->name, (time_mono_ns() - t0) / 1e6);
    /* Someone may be in a call on the old connection (the runner's sampling): it is the
     * caller's to close once nobody can be. */
    *old_fdp = __atomic_exchange_n(&c->agent_fd, fd, __ATOMIC_ACQ_REL);
    if (!error && has_key) {
        error = deploy_write_key(d, c, key, &kp);
        if (!error) {
            free(d->ftc_key);
            d->ftc_key = kp;
        }
    }
out:
    if (locked) {
        instance_changes_unlock(d->inst);
    }
    sodium_memzero(key, sizeof key);
    return error;
}

/* Connects to the agent of every component's guest, each of which must be on the data
 * bridge. */
static int
connect_agents(struct deployment *d)
{
    for (size_t i = 0; i < d->n_comps; i++) {
        struct deploy_component *c = &d->comps[i];
        int error;

        if (!c->ig || !data_iface(c->ig)) {
            log_err("deploy: guest %s is missing from the instance", c->guest);
            return ENOENT;
        }
        /* The deadline is reached only when something is wrong; the provider says how slow
         * its agents may be. */
        int timeout_ms = c->ig->guest->provider->agent_timeout_ms;
        error = instance_mgmt_connect(d->inst, c->ig->mgmt_addr, INSTANCE_AGENT_PORT,
                                      timeout_ms ? timeout_ms : 5000, &c->agent_fd);
        if (error) {
            log_err("deploy: no agent answers on %s (%s)", c->guest, strerror(error));
            return error;
        }
    }
    return 0;
}

int
deploy_chain(struct instance *inst, const struct exp_point *p,
             const struct deploy_chain_opts *o, const char *work_dir, struct deployment **dp)
{
    unsigned replicas = MAX(o->replicas, 1u);
    char *key_path = NULL;
    struct deployment *d = xzalloc(sizeof *d);
    struct deploy_component *sc, *sff, *client, *server;
    struct instance_iface *f_sc, *f_sff, *f_client, *f_server;
    struct deploy_args a = { 0 };
    struct buf path = BUF_INITIALIZER;
    char mac[18];
    bool terminal;
    int error = 0;

    d->inst = inst;
    d->point = p;
    d->spi = DEPLOY_SPI;
    d->work_dir = xstrdup(work_dir);
    d->opts = *o;
    add_component(d, "client", 0, "client");
    add_component(d, "classifier", 0, "sc")->id = DEPLOY_ID_CLASSIFIER;
    add_component(d, "sff", 0, "sff")->id = DEPLOY_ID_SFF;
    add_component(d, "server", 0, "server");
    for (size_t i = 0; i < p->n_vnfs; i++) {
        for (unsigned r = 0; r < vnf_copies(o, i); r++) {
            char guest[32];
            struct deploy_component *c;

            vnf_guest_name(o, i, r, guest);
            c = add_component(d, "vnf", i, guest);
            c->fn = xstrdup(p->vnfs[i].fn);
            if (replicas > 1 || o->copies) {
                c->replica = r;
                free(c->name);
                c->name = xasprintf("vnf[%zu].replica[%u]", i, r);
                c->id = DEPLOY_ID_REPLICA(i, r);
            } else {
                c->id = DEPLOY_ID_VNF0 + i;
            }
        }
    }
    /* A scheme that moves a VNF between its copies (NHAM) also names the VNF itself,
     * "vnf[i]": the copy active now, which the scheme keeps pointing at (its guest). */
    for (size_t i = 0; o->copies && o->start_middle && i < p->n_vnfs; i++) {
        char guest[32];

        vnf_guest_name(o, i, 0, guest);
        add_component(d, "vnf", i, guest)->fn = xstrdup(p->vnfs[i].fn);
    }
    for (size_t i = 0; i < o->n_extra; i++) {
        add_component(d, o->extra[i].role, 0, o->extra[i].guest);
    }
    for (size_t i = 0; o->ftmb && o->ftmb_in_line && i < p->n_vnfs; i++) {
        char guest[32];

        snprintf(guest, sizeof guest, "l%zu", i);
        add_component(d, "logger", i, guest)->id = DEPLOY_ID_FTMB_LOGGER + i;
    }
    if (o->ftmb && !o->ftmb_in_line) {
        add_component(d, "logger", 0, "logger")->id = DEPLOY_ID_FTMB_LOGGER;
    }
    /* Only now: the array moves as it grows. */
    client = &d->comps[0];
    sc = &d->comps[1];
    sff = &d->comps[2];
    server = &d->comps[3];
    error = connect_agents(d);
    if (error) {
        goto out;
    }
    f_client = data_iface(client->ig);
    f_sc = data_iface(sc->ig);
    f_sff = data_iface(sff->ig);
    f_server = data_iface(server->ig);

    /* A chain that ends in a function that answers (dns) is the service itself: the client
     * asks a virtual address. Otherwise the server at the end answers. */
    terminal = p->n_vnfs && !strcmp(p->vnfs[p->n_vnfs - 1].fn, "dns");
    if (terminal) {
        inet_aton("10.0.0.250", &d->service_addr);
        memcpy(d->service_mac, (uint8_t[6]) { 0x02, 0x5f, 0, 0, 0, 0xfa }, 6);
    } else {
        d->service_addr = f_server->addr;
        memcpy(d->service_mac, f_server->mac, 6);
    }

    /* Server side first, so that nothing the classifier sends finds a hole. */
    deploy_args_add(&a, "--iface");
    deploy_args_add(&a, "%s", f_server->ifname);
    deploy_args_add(&a, "--port");
    deploy_args_add(&a, "7");
    error = deploy_start_role(server, "echo", a.v);
    deploy_args_free(&a);
    if (!error && o->ftc) {
        /* One key for the whole ring (its members seal messages to each other), and the
         * ring's addresses, before any member starts. */
        uint8_t key[crypto_auth_KEYBYTES];
        struct buf ring = BUF_INITIALIZER;

        if (sodium_init() < 0) {
            error = EIO;
        }
        randombytes_buf(key, sizeof key);
        for (size_t i = 0; !error && i < d->n_comps; i++) {
            struct deploy_component *c = &d->comps[i];
            char *kp = NULL;

            if (strcmp(c->role, "vnf")) {
                continue;
            }
            buf_printf(&ring, "%s%s", ring.len ? "," : "", deploy_mac_string(data_iface(c->ig)->mac, mac));
            error = deploy_write_key(d, c, key, &kp);
            free(d->ftc_key);
            d->ftc_key = kp;
        }
        sodium_memzero(key, sizeof key);
        buf_put_u8(&ring, 0);
        d->ftc_ring = (char *) buf_steal(&ring, NULL);
    }
    /* FTMB's loggers before the VNFs, which send them their records from the first packet. */
    for (size_t i = 0; !error && o->ftmb && i < d->n_comps; i++) {
        struct deploy_component *lg = &d->comps[i];

        if (strcmp(lg->role, "logger")) {
            continue;
        }
        if (!o->ftmb_in_line) {
            d->ftmb_logger = xstrdup(deploy_mac_string(data_iface(lg->ig)->mac, mac));
        }
        deploy_args_add(&a, "--iface");
        deploy_args_add(&a, "%s", data_iface(lg->ig)->ifname);
        deploy_args_add(&a, "--id");
        deploy_args_add(&a, "%u", lg->id);
        if (o->ftmb_in_line) {
            /* The IL and OL of VNF i: the path's hop for it. */
            deploy_args_add(&a, "--mbox");
            deploy_args_add(&a, "%s", deploy_mac_string(
                data_iface(find_vnf(d, lg->index)->ig)->mac, mac));
        }
        error = deploy_start_role(lg, "ftmb-logger", a.v);
        deploy_args_free(&a);
    }
    if (!error && o->start_middle) {
        error = o->start_middle(d, o);
        goto classifier;
    }
    for (size_t i = 0; !error && i < d->n_comps; i++) {
        struct deploy_component *c = &d->comps[i];

        if (strcmp(c->role, "vnf")) {
            continue;
        }
        error = deploy_start_vnf(d, c, 0);
        /* Replicas of one VNF are one hop: "MAC+MAC+MAC". FTMB in line: its logger is. */
        struct deploy_component *hop = o->ftmb && o->ftmb_in_line
                                       ? find_comp(d, "logger", c->index) : c;
        buf_printf(&path, "%s%s", !path.len ? "" : c->replica > 0 ? "+" : ",",
                   deploy_mac_string(data_iface(hop->ig)->mac, mac));
    }
    if (error) {
        goto out;
    }

    deploy_args_add(&a, "--iface");
    deploy_args_add(&a, "%s", f_sff->ifname);
    deploy_args_add(&a, "--id");
    deploy_args_add(&a, "%d", DEPLOY_ID_SFF);
    deploy_args_add(&a, "--path");
    deploy_args_add(&a, "%u:%.*s", d->spi, (int) path.len, path.len ? (char *) path.data : "");
    deploy_args_add(&a, "--egress-mac");
    deploy_args_add(&a, "%s", deploy_mac_string(f_server->mac, mac));
    if (!p->workload.capacity) {
        /* Not under a capacity search: two lines a hop for every datagram were the plain
         * SFF's largest cost of its own (NHAM's SFF writes none), and the capacity of the
         * chain is what is measured, not the trace's. */
        deploy_args_add(&a, "--trace");
        deploy_args_add(&a, "%s/guests/%s/hops.tsv", inst->dir, sff->guest);
    }
    if (o->sff_window) {
        deploy_args_add(&a, "--window");
        deploy_args_add(&a, "%u", o->sff_window);
    }
    if (replicas > 1) {
        error = write_key(d, sff, &key_path);
        if (error) {
            deploy_args_free(&a);
            goto out;
        }
        deploy_args_add(&a, "--vote");
        deploy_args_add(&a, "%s", o->vote_core);
        deploy_args_add(&a, "--f");
        deploy_args_add(&a, "%u", o->f);
        if (o->vote_timeout) {
            deploy_args_add(&a, "--vote-param");
            deploy_args_add(&a, "timeout=%s", o->vote_timeout);
        }
        deploy_args_add(&a, "--key");
        deploy_args_add(&a, "%s", key_path);
    }
    error = deploy_start_role(sff, "sff", a.v);
    deploy_args_free(&a);
classifier:
    if (error) {
        goto out;
    }

    deploy_args_add(&a, "--iface");
    deploy_args_add(&a, "%s", f_sc->ifname);
    deploy_args_add(&a, "--id");
    deploy_args_add(&a, "%d", DEPLOY_ID_CLASSIFIER);
    deploy_args_add(&a, "--sff-mac");
    deploy_args_add(&a, "%s", deploy_mac_string(d->entry ? data_iface(d->entry->ig)->mac
                                                         : f_sff->mac, mac));
    deploy_args_add(&a, "--spi");
    deploy_args_add(&a, "%u", d->spi);
    deploy_args_add(&a, "--promisc");
    deploy_args_add(&a, "--timestamps");
    for (size_t i = 0; i < p->n_rules; i++) {
        deploy_args_add(&a, "--rule");
        deploy_args_add(&a, "%s", p->rules[i]);
    }
    error = deploy_start_role(sc, "classifier", a.v);
    deploy_args_free(&a);
    if (!error && terminal) {
        error = client_neighbour(d, client->ig);
    }
    if (!error) {
        error = install_steering(d, f_client, f_sc);
    }
    if (!error) {
        error = save_map(d);
    }
out:
    buf_uninit(&path);
    free(key_path);
    if (error) {
        deploy_stop(d);
    } else {
        *dp = d;
    }
    return error;
}

/* FIT-SFC: component ids in NSH timestamps. */
#define DEPLOY_FITSFC_PBFT_KEEP 16384
#define DEPLOY_ID_FITSFC_CLASSIFIER(R) (2000 + (R))
#define DEPLOY_ID_FITSFC_SFF(R) (3000 + (R))
#define DEPLOY_ID_FITSFC_WRAPPER 4000

int
deploy_fitsfc_topology(const struct exp_point *p, unsigned f, struct topology **topop,
                       char **errp)
{
    struct topology *topo = topology_new("fitsfc", p->provider);
    size_t bridge = topology_add_bridge(topo, DATA_BRIDGE), n_addr = 0, g;
    unsigned n = 3 * f + 1;
    char addr[INET_ADDRSTRLEN], name[32];
    int error;

    g = topology_add_guest(topo, "client", p->cpus, p->cpu_period_us, p->memory);
    snprintf(addr, sizeof addr, "10.0.0.%zu", ++n_addr);
    topology_add_link(topo, g, bridge, addr, 24);
    for (size_t k = 0; k < 2 + p->n_vnfs; k++) {
        for (unsigned r = 0; r < n; r++) {
            if (k == 0) {
                snprintf(name, sizeof name, "scr%u", r);
            } else if (k == 1) {
                snprintf(name, sizeof name, "sffr%u", r);
            } else {
                snprintf(name, sizeof name, "v%zur%u", (k - 2) % 1000, r % 100);
            }
            g = topology_add_guest(topo, name, k >= 2 ? exp_point_vnf_cpus(p) : p->cpus,
                                   k >= 2 ? exp_point_vnf_period(p) : p->cpu_period_us,
                                   p->memory);
            snprintf(addr, sizeof addr, "10.0.0.%zu", ++n_addr);
            topology_add_link(topo, g, bridge, n_addr < 250 ? addr : NULL, 24);
        }
    }
    chain_network(p, topo);
    if (needs_attacker(p)) {
        g = topology_add_guest(topo, "attacker", p->cpus, p->cpu_period_us, p->memory);
        topology_add_link(topo, g, bridge, "10.0.0.254", 24);
    }
    error = topology_finish(topo, errp);
    if (error) {
        topology_free(topo);
    } else {
        *topop = topo;
    }
    return error;
}

/* "MAC+MAC+..." of the replicas of 'role' (index 'index'). */
static void
group_macs(const struct deployment *d, const char *role, int index, struct buf *b)
{
    char mac[18];

    b->len = 0;
    for (size_t i = 0; i < d->n_comps; i++) {
        const struct deploy_component *c = &d->comps[i];
        if (!strcmp(c->role, role) && c->index == index) {
            buf_printf(b, "%s%s", b->len ? "+" : "", deploy_mac_string(data_iface(c->ig)->mac, mac));
        }
    }
    buf_put_u8(b, '\0');
    b->len--;
}

static struct deploy_component *
add_replica(struct deployment *d, const char *role, int index, unsigned r, const char *guest,
            uint32_t id)
{
    struct deploy_component *c = add_component(d, role, index, guest);

    c->replica = r;
    free(c->name);
    c->name = xasprintf("%s[%d].replica[%u]", role, index, r);
    c->id = id;
    return c;
}

/* What every FIT-SFC role on a replica's guest is told first: its data interface and its id. */
static void
fitsfc_role_args(struct deploy_args *a, const struct deploy_component *c)
{
    deploy_args_add(a, "--iface");
    deploy_args_add(a, "%s", data_iface(c->ig)->ifname);
    deploy_args_add(a, "--id");
    deploy_args_add(a, "%u", c->id);
}

/* A FIT-SFC voter's arguments: its vote (none for the wrapper, whose vote is fixed), f and,
 * when the experiment sets one, the vote's timeout. */
static void
fitsfc_vote_args(struct deploy_args *a, const char *vote, unsigned f, const char *vote_timeout)
{
    if (vote) {
        deploy_args_add(a, "--vote");
        deploy_args_add(a, "%s", vote);
    }
    deploy_args_add(a, "--f");
    deploy_args_add(a, "%u", f);
    if (vote_timeout) {
        deploy_args_add(a, "--vote-param");
        deploy_args_add(a, "timeout=%s", vote_timeout);
    }
}

/* How each replica's role was started (index: the component's), for the scheme's controller
 * to start it again. */
struct fitsfc_roles {
    char **role;
    struct deploy_args *args;
    size_t n;
};

static void
fitsfc_roles_free(void *roles_)
{
    struct fitsfc_roles *roles = roles_;

    for (size_t i = 0; roles && i < roles->n; i++) {
        free(roles->role[i]);
        deploy_args_free(&roles->args[i]);
    }
    if (roles) {
        free(roles->role);
        free(roles->args);
        free(roles);
    }
}

/* Keeps 'role' and 'a' (as they are now) for component 'c'. */
static void
fitsfc_record(struct deployment *d, const struct deploy_component *c, const char *role,
              const struct deploy_args *a)
{
    struct fitsfc_roles *roles = d->scheme_data;
    size_t i = c - d->comps;

    if (!roles) {
        roles = xzalloc(sizeof *roles);
        roles->n = d->n_comps;
        roles->role = xcalloc(roles->n, sizeof *roles->role);
        roles->args = xcalloc(roles->n, sizeof *roles->args);
        d->scheme_data = roles;
        d->scheme_data_free = fitsfc_roles_free;
    }
    free(roles->role[i]);
    deploy_args_free(&roles->args[i]);
    roles->role[i] = xstrdup(role);
    for (size_t k = 0; k < a->n; k++) {
        deploy_args_add(&roles->args[i], "%s", a->v[k]);
    }
}

bool
deploy_fitsfc_role_args(const struct deployment *d, const struct deploy_component *c,
                        const char **rolep, char *const **argvp)
{
    const struct fitsfc_roles *roles = d->scheme_data_free == fitsfc_roles_free
                                       ? d->scheme_data : NULL;
    size_t i = c - d->comps;

    if (!roles || i >= roles->n || !roles->role[i]) {
        return false;
    }
    *rolep = roles->role[i];
    *argvp = roles->args[i].v;
    return true;
}

/* Starts 'role' on 'c' with 'a', its hops traced into the guest 'trace_guest''s hops.tsv;
 * frees 'a' for the next role. What a restart needs is kept, without the trace (a restarted
 * role would truncate the file that the run reads at its end). */
static int
fitsfc_start_role(struct deployment *d, struct deploy_component *c, const char *role,
                  const char *trace_guest, struct deploy_args *a)
{
    const struct instance *inst = d->inst;
    int error;

    fitsfc_record(d, c, role, a);
    deploy_args_add(a, "--trace");
    deploy_args_add(a, "%s/guests/%s/hops.tsv", inst->dir, trace_guest);
    error = deploy_start_role(c, role, a->v);
    deploy_args_free(a);
    return error;
}

int
deploy_fitsfc(struct instance *inst, const struct exp_point *p, unsigned f,
              const char *vote_timeout, const char *order_timeout, const char *work_dir,
              struct deployment **dp)
{
    struct deployment *d = xzalloc(sizeof *d);
    struct deploy_component *client, *wrapper;
    struct buf cls = BUF_INITIALIZER, sffs = BUF_INITIALIZER, vnfs = BUF_INITIALIZER;
    struct buf path = BUF_INITIALIZER;
    struct deploy_args a = { 0 };
    unsigned n = 3 * f + 1;
    char mac[18], guest[32];
    int error = 0;

    d->inst = inst;
    d->point = p;
    d->spi = DEPLOY_SPI;
    d->work_dir = xstrdup(work_dir);
    add_component(d, "client", 0, "client");
    add_component(d, "wrapper", 0, "client")->id = DEPLOY_ID_FITSFC_WRAPPER;
    for (unsigned r = 0; r < n; r++) {
        snprintf(guest, sizeof guest, "scr%u", r);
        add_replica(d, "classifier", 0, r, guest, DEPLOY_ID_FITSFC_CLASSIFIER(r));
    }
    for (unsigned r = 0; r < n; r++) {
        snprintf(guest, sizeof guest, "sffr%u", r);
        add_replica(d, "sff", 0, r, guest, DEPLOY_ID_FITSFC_SFF(r));
    }
    for (size_t i = 0; i < p->n_vnfs; i++) {
        for (unsigned r = 0; r < n; r++) {
            snprintf(guest, sizeof guest, "v%zur%u", i % 1000, r % 100);
            add_replica(d, "vnf", i, r, guest, DEPLOY_ID_REPLICA(i, r))->fn
                = xstrdup(p->vnfs[i].fn);
        }
    }
    /* Only now: the array moves as it grows. */
    client = &d->comps[0];
    wrapper = &d->comps[1];
    error = connect_agents(d);
    if (error) {
        goto out;
    }
    /* The chain answers (the scheme's check: its last function replies): the client asks a
     * virtual address, which its wrapper owns. */
    inet_aton("10.0.0.250", &d->service_addr);
    memcpy(d->service_mac, (uint8_t[6]) { 0x02, 0x5f, 0, 0, 0, 0xfa }, 6);
    group_macs(d, "classifier", 0, &cls);
    group_macs(d, "sff", 0, &sffs);
    for (size_t i = 0; i < p->n_vnfs; i++) {
        group_macs(d, "vnf", i, &vnfs);
        buf_printf(&path, "%s%s", i ? "," : "", (char *) vnfs.data);
    }
    buf_put_u8(&path, '\0');

    /* Server side first, so that nothing the classifiers send finds a hole. Each VNF's
     * replicas share a key for their peer messages: a globally stateful function (lb, nat)
     * orders its requests by PBFT among them (the guest decides, by the function's
     * consistency; vnfs/sfc/vnf.c). */
    uint8_t order_key[crypto_auth_KEYBYTES];
    for (size_t i = 0; !error && i < d->n_comps; i++) {
        struct deploy_component *c = &d->comps[i];
        struct buf replicas = BUF_INITIALIZER;
        uint8_t key[crypto_auth_KEYBYTES];
        char *kp = NULL;

        if (strcmp(c->role, "vnf")) {
            continue;
        }
        if (c->replica == 0) {
            if (sodium_init() < 0) {
                error = EIO;
                break;
            }
            randombytes_buf(order_key, sizeof order_key);
        }
        memcpy(key, order_key, sizeof key);
        error = deploy_write_key(d, c, key, &kp);
        sodium_memzero(key, sizeof key);
        if (error) {
            break;
        }
        vnf_args(d, c, 0, &a);
        deploy_args_add(&a, "--from");
        deploy_args_add(&a, "%s", (char *) sffs.data);
        group_macs(d, "vnf", c->index, &replicas);
        deploy_args_add(&a, "--order-group");
        deploy_args_add(&a, "%s", (char *) replicas.data);
        deploy_args_add(&a, "--order-index");
        deploy_args_add(&a, "%u", c->replica);
        deploy_args_add(&a, "--key");
        deploy_args_add(&a, "%s", kp);
        if (order_timeout) {
            deploy_args_add(&a, "--order-param");
            deploy_args_add(&a, "timeout=%s", order_timeout);
        }
        /* PBFT keeps this many executed entries below its stable checkpoint: a replica the
         * scheme's controller restarts replays them all (FETCH), so a run's whole log. */
        deploy_args_add(&a, "--order-param");
        deploy_args_add(&a, "keep=%u", DEPLOY_FITSFC_PBFT_KEEP);
        buf_uninit(&replicas);
        free(kp);
        fitsfc_vote_args(&a, "bft_voter", f, vote_timeout);
        deploy_args_add(&a, "--timestamps");
        error = fitsfc_start_role(d, c, "vnf", c->guest, &a);
    }
    for (size_t i = 0; !error && i < d->n_comps; i++) {
        struct deploy_component *c = &d->comps[i];

        if (strcmp(c->role, "sff")) {
            continue;
        }
        fitsfc_role_args(&a, c);
        deploy_args_add(&a, "--path");
        deploy_args_add(&a, "%u:%s", d->spi, (char *) path.data);
        deploy_args_add(&a, "--entry");
        deploy_args_add(&a, "%s", (char *) cls.data);
        deploy_args_add(&a, "--egress-nsh");
        deploy_args_add(&a, "%s", deploy_mac_string(data_iface(client->ig)->mac, mac));
        fitsfc_vote_args(&a, "bft_voter", f, vote_timeout);
        deploy_args_add(&a, "--timestamps");
        error = fitsfc_start_role(d, c, "sff", c->guest, &a);
    }
    for (size_t i = 0; !error && i < d->n_comps; i++) {
        struct deploy_component *c = &d->comps[i];

        if (strcmp(c->role, "classifier")) {
            continue;
        }
        fitsfc_role_args(&a, c);
        deploy_args_add(&a, "--sff-mac");
        deploy_args_add(&a, "%s", (char *) sffs.data);
        deploy_args_add(&a, "--spi");
        deploy_args_add(&a, "%u", d->spi);
        deploy_args_add(&a, "--wrapped");
        deploy_args_add(&a, "--timestamps");
        for (size_t j = 0; j < p->n_rules; j++) {
            deploy_args_add(&a, "--rule");
            deploy_args_add(&a, "%s", p->rules[j]);
        }
        fitsfc_record(d, c, "classifier", &a);
        error = deploy_start_role(c, "classifier", a.v);
        deploy_args_free(&a);
    }
    sodium_memzero(order_key, sizeof order_key);
    if (error) {
        goto out;
    }
    deploy_args_add(&a, "--iface");
    deploy_args_add(&a, "%s", data_iface(client->ig)->ifname);
    deploy_args_add(&a, "--id");
    deploy_args_add(&a, "%u", wrapper->id);
    deploy_args_add(&a, "--listen");
    /* A DNS chain answers on 53; any other (lb answer=1) echoes on 7, as the client asks. */
    deploy_args_add(&a, "%s:%d", inet_ntoa(d->service_addr),
                    p->n_vnfs && !strcmp(p->vnfs[p->n_vnfs - 1].fn, "dns") ? 53 : 7);
    deploy_args_add(&a, "--classifiers");
    deploy_args_add(&a, "%s", (char *) cls.data);
    deploy_args_add(&a, "--sffs");
    deploy_args_add(&a, "%s", (char *) sffs.data);
    deploy_args_add(&a, "--service-mac");
    deploy_args_add(&a, "%s", deploy_mac_string(d->service_mac, mac));
    deploy_args_add(&a, "--client-id");
    deploy_args_add(&a, "1");
    fitsfc_vote_args(&a, NULL, f, vote_timeout);
    error = fitsfc_start_role(d, wrapper, "wrapper", client->guest, &a);
    if (!error) {
        error = install_steering(d, data_iface(client->ig), NULL);
    }
    if (!error) {
        error = save_map(d);
    }
out:
    buf_uninit(&cls);
    buf_uninit(&sffs);
    buf_uninit(&vnfs);
    buf_uninit(&path);
    if (error) {
        deploy_stop(d);
    } else {
        *dp = d;
    }
    return error;
}
