/* ftvnf — FTvNF (Harchol, Hay, Orenstein, ANCS'18) on an instance's guests: the cores of
 * vnfs/ft/ftvnf, each on its own guest through `sfcd ftvnf` (the NSH path, vnfs/sfc/ftvnf.c).
 *
 * Placement. The chain's client, classifier, SFF and server as for every scheme; per VNF a
 * master ("vnf[N].master", guest vNr0) and a slave ("vnf[N].slave", vNr1); and four guests of
 * the scheme's own: the packet logger with the ID sequencer (plog: one process runs both
 * cores, vnfs/sfc/ftvnf.c), the D&P logger (dplog), the slaves' progress logger (proglog) and
 * the manager (mgr). Each guest a packet visits costs a crossing of the switch (tens of us
 * here, the most of FTvNF's overhead), so the packet enters the chain through one guest: the
 * classifier sends it straight to the sequencer (the SFF's path has that one hop, the SFF
 * only ends it), which tags it with its 36-bit id (NSH_TLV_PACKET_ID) and hands it, in the
 * process, to the packet logger, which stores it and sends it on to master 0 (storing is the
 * acknowledgement: vnfs/ft/ftvnf/ftvnf.h, "Logging on the path"); each master sends its output
 * through the D&P logger with its determinants (and through the packet logger with the delta
 * if it changed the packet and the version is replayed later), and the last logger sends it
 * on, straight to the next master, and feeds the master's slave (slave_feed=path); a packet
 * that touched no state goes straight on. The last stage's output goes back to the SFF at the
 * end of the path (decapsulated toward the server), or, if its function answered (dns), on the
 * SFF's reverse path toward the client. The manager feeds each slave what is still unfinished
 * (with slave_feed=manager, everything) from the packet logger every 'manager_period', with
 * its master's determinants. The loggers journal what they take (--journal).
 *
 * Endpoint ids (the same table on every guest): 1 sequencer, 2 packet logger, 3 D&P logger,
 * 4 progress logger, 5 manager, 6 the SFF's egress, 7 the SFF's reverse path, 10+N master N,
 * 30+N slave N. Master N is reached at a virtual MAC that one OpenFlow rule maps to the copy
 * that is its master now (so what an upstream sends before the manager reroutes it reaches
 * the new master).
 *
 * Controller: the masters', slaves', sequencer's and manager's processes are watched through
 * their pidfds (nham_fms.h, without heartbeats). A master's death: the manager's failure notice
 * (peer_down) first, from the failure monitor's thread straight to the manager's control
 * socket where the host reaches it (netns; through the manager's agent from the worker
 * otherwise, e.g. a VM), then `suspected`, its port fenced and its virtual MAC re-pointed at
 * the slave over the controller's own persistent OpenFlow connection, while the manager has
 * the slave catch up on M\S and take over; `notified` when the manager took the notice and
 * `recovered` at the slave's promotion (the manager's monotonic clock, the host's too), with
 * the number of packets it replayed. Then the copies trade names
 * ("vnf[N].master" is always the copy that is master, so a second failure of it is survived
 * like the first) and a new slave is made on the dead copy's guest (ftvnf_new_slave; ftvnf.h,
 * "A new slave"): `recovered` of vnf[N].slave once it joined. A dead manager is restarted on
 * its guest (it rebuilds from the loggers), and so is a dead logger (it rebuilds from its
 * journal: every record it took was appended there before it acted on it). The sequencer
 * dies with the packet logger's process (a fault on either kills it): restarted, the logger
 * rebuilds from its journal and the sequencer is its next incarnation, with a fresh sequencer
 * id; both names are suspected and recovered. A slave's death: the manager is told (the
 * master runs alone) and a new slave is made on its guest the same way. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testbed/deploy/deploy.h"
#include "testbed/infra/instance.h"
#include "testbed/infra/openflow.h"
#include "testbed/infra/ovs.h"
#include "testbed/infra/provider.h"
#include "testbed/model/experiment.h"
#include "testbed/model/yaml.h"
#include "testbed/run/ctl_workers.h"
#include "testbed/run/events.h"
#include "testbed/schemes/nham_fms.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"

#define FTVNF_MAX_VNFS 16               /* FTVNF_MAX_STAGES */
#define FTVNF_EP_SEQ 1
#define FTVNF_EP_PLOG 2
#define FTVNF_EP_DPLOG 3
#define FTVNF_EP_PROGLOG 4
#define FTVNF_EP_MANAGER 5
#define FTVNF_EP_EGRESS 6
#define FTVNF_EP_REPLY 7
#define FTVNF_EP_MASTER(N) (10 + (N))
#define FTVNF_EP_SLAVE(N) (30 + (N))
#define FTVNF_PRIO_STEER 100
#define FTVNF_PRIO_FENCE 300
#define FTVNF_RPC_MS 5000
#define FTVNF_NOTICE_MS 1000            /* The failure monitor's thread waits no longer. */
#define FTVNF_RECOVER_TIMEOUT_NS (30ull * 1000000000ull)
#define DATA_BRIDGE "data"
#define FTVNF_ID_EXTRA0 6000            /* Timestamp ids of the scheme's own guests. */

extern const struct scheme_class scheme_ftvnf;

static const char *const ftvnf_feeds[] = { "path", "manager", NULL };

static const struct scheme_param ftvnf_params[] = {
    { "manager_period", SCHEME_PARAM_DURATION, "5ms", 100000, 10000000000ull, NULL,
      "how often the manager feeds the slaves and cleans the loggers (with slave_feed=manager "
      "it bounds M\\S, so the recovery time)" },
    { "slave_feed", SCHEME_PARAM_STRING, "path", 0, 0, ftvnf_feeds,
      "path: the last logger of each packet feeds the slave at once (a hop behind its "
      "master); manager: only the manager's rounds do (the paper's)" },
};

static const struct scheme_target ftvnf_targets[] = {
    { "vnf[N].master", "the N-th VNF's master copy (logs its determinants)" },
    { "vnf[N].slave", "the N-th VNF's slave copy (replays them)" },
    { "vnf[N]", "the copy that is the N-th VNF's master when the fault comes" },
    { "sequencer[0]", "the ID sequencer at the chain's ingress, in the packet logger's "
      "process (restarted with it, with a fresh id)" },
    { "packet-logger[0]", "the packet logger (and the sequencer in its process)" },
    { "dp-logger[0]", "the determinant and progress (D&P) logger" },
    { "progress-logger[0]", "the slaves' progress logger" },
    { "manager[0]", "the manager (stateless: restarted, it rebuilds from the loggers)" },
    { "classifier[0]", "the classifier" },
    { "sff[0]", "the service function forwarder" },
    { "client[0]", "the workload's client" },
    { "server[0]", "the echo server at the chain's end" },
};

/* The scheme's own components, in the order of their endpoint ids 1..5: the sequencer on the
 * packet logger's guest, in its process. */
#define FTVNF_EXTRA_SEQ 0
#define FTVNF_EXTRA_PLOG 1
#define FTVNF_EXTRA_MANAGER 4
static const struct deploy_extra ftvnf_extra[] = {
    { "sequencer", "plog" }, { "packet-logger", "plog" }, { "dp-logger", "dplog" },
    { "progress-logger", "proglog" }, { "manager", "mgr" },
};
static const char *const ftvnf_cores[] = {
    "ftvnf_sequencer", "ftvnf_packet_logger", "ftvnf_dp_logger", "ftvnf_progress_logger",
    "ftvnf_manager",
};

static const unsigned ftvnf_two[FTVNF_MAX_VNFS] = {
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

static void
ftvnf_check(struct yaml_doc *doc, struct fy_node *root, struct fy_node *params,
            const struct exp_point *p)
{
    if (p->n_vnfs > FTVNF_MAX_VNFS || !p->n_vnfs) {
        yaml_error(doc, params ? params : root, "ftvnf: 1 to %d VNFs (it has %zu)",
                   FTVNF_MAX_VNFS, p->n_vnfs);
    }
    for (size_t i = 0; i + 1 < p->n_vnfs; i++) {
        if (!strcmp(p->vnfs[i].fn, "dns")) {
            yaml_error(doc, params ? params : root, "ftvnf: a function that answers (dns) "
                       "must be the chain's last (vnf[%zu] is dns)", i);
        }
    }
}

static bool
ftvnf_has_target(const struct exp_point *p, const char *role, int index, int replica)
{
    if (!strcmp(role, "vnf")) {
        return scheme_chain_has_target(p, role, index) && replica <= 1;
    }
    for (size_t i = 0; i < ARRAY_SIZE(ftvnf_extra); i++) {
        if (!strcmp(role, ftvnf_extra[i].role)) {
            return index == 0 && replica < 0;
        }
    }
    return replica < 0 && scheme_chain_has_target(p, role, index);
}

/* What deploy leaves for the controller (deployment.scheme_data). */
struct ftvnf_dep {
    size_t n_vnfs;
    uint8_t vmac[FTVNF_MAX_VNFS][6];
    struct deploy_args args[ARRAY_SIZE(ftvnf_extra)];   /* To restart them (none for the
                                                         * sequencer: the logger's runs it). */
};

static void
ftvnf_dep_free(void *fd_)
{
    struct ftvnf_dep *fd = fd_;

    for (size_t i = 0; fd && i < ARRAY_SIZE(fd->args); i++) {
        deploy_args_free(&fd->args[i]);
    }
    free(fd);
}

/* The steering rule of master N's virtual MAC to the copy 'c'. */
static void
ftvnf_steer_flow(const uint8_t vmac[6], const struct deploy_component *c, struct of_flow *f)
{
    struct instance_iface *iface = deploy_data_iface(c->ig);

    memset(f, 0, sizeof *f);
    f->priority = FTVNF_PRIO_STEER;
    of_match_eth_dst(&f->match, vmac);
    of_match_eth_dst(of_actions_set_field(&f->actions), iface->mac);
    of_actions_output(&f->actions, iface->ofport);
}

static struct deploy_component *
ftvnf_copy(struct deployment *d, size_t i, bool slave)
{
    char name[48];

    snprintf(name, sizeof name, "vnf[%zu].%s", i, slave ? "slave" : "master");
    return deploy_find(d, name, NULL);
}

/* Every role's common arguments: its interface, key, and the endpoint table. */
static void
ftvnf_common_args(struct deployment *d, const struct ftvnf_dep *fd,
                  const struct deploy_component *c, struct deploy_args *a)
{
    struct deploy_component *sff = deploy_find(d, "sff[0]", NULL);
    char mac[18];

    deploy_args_add(a, "--iface");
    deploy_args_add(a, "%s", deploy_data_iface(c->ig)->ifname);
    deploy_args_add(a, "--key");
    deploy_args_add(a, "%s/guests/%s/ft.key", d->inst->dir, c->guest);
    for (size_t k = 0; k < ARRAY_SIZE(ftvnf_extra); k++) {
        char name[48];
        snprintf(name, sizeof name, "%s[0]", ftvnf_extra[k].role);
        deploy_args_add(a, "--endpoint");
        deploy_args_add(a, "%zu=%s", k + 1, deploy_mac_string(
                            deploy_data_iface(deploy_find(d, name, NULL)->ig)->mac, mac));
    }
    for (size_t i = 0; i < fd->n_vnfs; i++) {
        deploy_args_add(a, "--endpoint");
        deploy_args_add(a, "%d=%s", FTVNF_EP_MASTER((int) i),
                        deploy_mac_string(fd->vmac[i], mac));
        deploy_args_add(a, "--endpoint");
        deploy_args_add(a, "%d=%s", FTVNF_EP_SLAVE((int) i), deploy_mac_string(
                            deploy_data_iface(ftvnf_copy(d, i, true)->ig)->mac, mac));
    }
    deploy_mac_string(deploy_data_iface(sff->ig)->mac, mac);
    deploy_args_add(a, "--egress");
    deploy_args_add(a, "%d=%s", FTVNF_EP_EGRESS, mac);
    deploy_args_add(a, "--reply");
    deploy_args_add(a, "%d=%s", FTVNF_EP_REPLY, mac);
    deploy_args_add(a, "--spi");
    deploy_args_add(a, "%u", d->spi);
    /* Its id in the timestamps it adds (the run's hop_us/link_us per component). */
    deploy_args_add(a, "--id");
    deploy_args_add(a, "%u", c->id);
}

/* "1,10,11,30,31": who writes to the loggers, and the manager's group. */
static void
ftvnf_writers(const struct ftvnf_dep *fd, struct deploy_args *a)
{
    struct buf b = BUF_INITIALIZER;

    buf_printf(&b, "%d", FTVNF_EP_SEQ);
    for (size_t i = 0; i < fd->n_vnfs; i++) {
        buf_printf(&b, ",%d", FTVNF_EP_MASTER((int) i));
    }
    for (size_t i = 0; i < fd->n_vnfs; i++) {
        buf_printf(&b, ",%d", FTVNF_EP_SLAVE((int) i));
    }
    buf_put_u8(&b, 0);
    deploy_args_add(a, "%s", (char *) b.data);
    buf_uninit(&b);
}

static bool
ftvnf_feed_on_path(const struct deployment *d)
{
    return !strcmp(scheme_param_value(&scheme_ftvnf, d->point, "slave_feed"), "path");
}

/* The arguments of the copy of VNF 'i' ('slave' or its master) at endpoint 'self'; 'join': a
 * new slave, waiting for its master's image. */
static void
ftvnf_vnf_args(struct deployment *d, const struct ftvnf_dep *fd, size_t i, bool slave,
               int self, bool join, const struct deploy_component *c, struct deploy_args *a)
{
    const struct exp_vnf *v = &d->point->vnfs[i];

    ftvnf_common_args(d, fd, c, a);
    deploy_args_add(a, "--self");
    deploy_args_add(a, "%d", self);
    if (join) {
        deploy_args_add(a, "--param");
        deploy_args_add(a, "join=1");
    }
    deploy_args_add(a, "--core");
    deploy_args_add(a, "ftvnf_vnf");
    deploy_args_add(a, "--next");
    deploy_args_add(a, "%d", i + 1 < fd->n_vnfs ? FTVNF_EP_MASTER((int) i + 1)
                                                : FTVNF_EP_EGRESS);
    deploy_args_add(a, "--peers");
    deploy_args_add(a, "%d,%d,%d,%d", FTVNF_EP_PLOG, FTVNF_EP_DPLOG, FTVNF_EP_PROGLOG,
                    FTVNF_EP_MANAGER);
    deploy_args_add(a, "--param");
    deploy_args_add(a, "role=%s", slave ? "slave" : "master");
    deploy_args_add(a, "--param");
    deploy_args_add(a, "stage=%zu", i);
    deploy_args_add(a, "--param");
    deploy_args_add(a, "fn=%s", v->fn);
    deploy_args_add(a, "--param");
    deploy_args_add(a, "reply=%d", FTVNF_EP_REPLY);
    if (!slave && self == FTVNF_EP_MASTER((int) i) && ftvnf_feed_on_path(d)) {
        /* The slave fed by the last logger at once (at the other endpoint: a master started
         * there later has its slave named by the manager's SYNC once one joins). */
        deploy_args_add(a, "--param");
        deploy_args_add(a, "sync=%d", FTVNF_EP_SLAVE((int) i));
    }
    if (i + 1 == fd->n_vnfs) {
        deploy_args_add(a, "--param");
        deploy_args_add(a, "last=1");
    }
    for (size_t j = 0; j < v->n_params; j++) {
        deploy_args_add(a, "--param");
        deploy_args_add(a, "fn.%s=%s", v->params[j].key, v->params[j].value);
    }
}

/* The arguments of core k of the scheme's own (0 sequencer ... 4 manager), after --core. */
static void
ftvnf_core_args(struct deployment *d, const struct ftvnf_dep *fd, size_t k,
                const struct deploy_component *c, struct deploy_args *a)
{
    const char *period = scheme_param_value(&scheme_ftvnf, d->point, "manager_period");

    deploy_args_add(a, "--core");
    deploy_args_add(a, "%s", ftvnf_cores[k]);
    deploy_args_add(a, "--self");
    deploy_args_add(a, "%zu", k + 1);
    switch (k) {
    case FTVNF_EXTRA_SEQ:
        deploy_args_add(a, "--next");
        deploy_args_add(a, "%d", FTVNF_EP_MASTER(0));
        deploy_args_add(a, "--peers");
        deploy_args_add(a, "%d,%d", FTVNF_EP_PLOG, FTVNF_EP_MANAGER);
        deploy_args_add(a, "--param");
        deploy_args_add(a, "sequencer_id=1");
        break;
    case 1: case 2: case 3:
        deploy_args_add(a, "--group");
        ftvnf_writers(fd, a);
        deploy_args_add(a, "--peers");
        deploy_args_add(a, "%d", FTVNF_EP_MANAGER);
        /* Persistent: what a logger took is in its journal first; restarted, it rebuilds
         * from it (sfcd ftvnf --journal: write(2) before the core, fdatasync every 10 ms). */
        deploy_args_add(a, "--journal");
        deploy_args_add(a, "%s/guests/%s/%s.journal", d->inst->dir, c->guest, ftvnf_cores[k]);
        break;
    default:
        deploy_args_add(a, "--group");
        ftvnf_writers(fd, a);
        deploy_args_add(a, "--peers");
        deploy_args_add(a, "%d,%d,%d", FTVNF_EP_PLOG, FTVNF_EP_DPLOG, FTVNF_EP_PROGLOG);
        deploy_args_add(a, "--param");
        deploy_args_add(a, "stages=%zu", fd->n_vnfs);
        deploy_args_add(a, "--param");
        deploy_args_add(a, "manager_period=%s", period);
        /* The masters log on the path: their loggers send on whatever was logged, so a
         * takeover re-forwards nothing and a finished packet need not stay. With
         * slave_feed=path the loggers feed the slaves at once, and the manager what is still
         * unfinished 20 ms after it read it (a loss on the way, or a slave that did not run). */
        deploy_args_add(a, "--param");
        deploy_args_add(a, "retain=50ms");
        deploy_args_add(a, "--param");
        deploy_args_add(a, "reforward=0");
        deploy_args_add(a, "--param");
        deploy_args_add(a, "feed_after=%s", ftvnf_feed_on_path(d) ? "20ms" : "0");
        deploy_args_add(a, "--param");
        deploy_args_add(a, "sync=%d", ftvnf_feed_on_path(d));
        break;
    }
}

/* The arguments of the process on the guest of component k (1 packet logger ... 4 manager):
 * the packet logger's runs the sequencer too. */
static void
ftvnf_extra_args(struct deployment *d, const struct ftvnf_dep *fd, size_t k,
                 const struct deploy_component *c, struct deploy_args *a)
{
    ftvnf_common_args(d, fd, c, a);
    ftvnf_core_args(d, fd, k, c, a);
    if (k == FTVNF_EXTRA_PLOG) {
        ftvnf_core_args(d, fd, FTVNF_EXTRA_SEQ, c, a);
    }
}

/* A nat's external address is where the server answers: nobody owns it, so the server has a
 * neighbour entry for it (the client's MAC, which the answer needs once translated back) and
 * the switch steers what the server sends there into the chain (the classifier), where the
 * nat's master translates it back like every packet, logged and replayable. */
static int
ftvnf_return_path(struct deployment *d)
{
    struct deploy_component *server = deploy_find(d, "server[0]", NULL);
    struct deploy_component *client = deploy_find(d, "client[0]", NULL);
    struct deploy_component *sc = deploy_find(d, "classifier[0]", NULL);
    struct instance_iface *f_server = deploy_data_iface(server->ig);
    int error = 0;

    for (size_t i = 0; !error && i < d->point->n_vnfs; i++) {
        const struct exp_vnf *v = &d->point->vnfs[i];
        struct in_addr ext;

        for (size_t j = 0; !error && j < v->n_params; j++) {
            struct of_flow f = { .priority = 200 };

            if (strcmp(v->fn, "nat") || strcmp(v->params[j].key, "external")
                || !inet_aton(v->params[j].value, &ext)) {
                continue;
            }
            error = guest_neigh_add(server->ig->guest, f_server->ifname, ext,
                                    deploy_data_iface(client->ig)->mac);
            if (!error) {
                of_match_in_port(&f.match, f_server->ofport);
                of_match_ipv4_dst(&f.match, ext.s_addr, 32);
                of_actions_output(&f.actions, deploy_data_iface(sc->ig)->ofport);
                error = instance_flow_add(d->inst, DATA_BRIDGE, &f);
            }
        }
    }
    return error;
}

/* deploy_chain_opts.start_middle: the loggers and the manager, the slaves, the masters, the
 * sequencer, the SFF (a path of one hop: the sequencer), and the masters' steering. */
static int
ftvnf_start_middle(struct deployment *d, const struct deploy_chain_opts *o)
{
    struct ftvnf_dep *fd = xzalloc(sizeof *fd);
    struct deploy_component *sff = deploy_find(d, "sff[0]", NULL);
    struct deploy_args a = { 0 };
    uint8_t key[crypto_auth_KEYBYTES];
    char mac[18], *path = NULL;
    int error = 0;

    d->scheme_data = fd;
    d->scheme_data_free = ftvnf_dep_free;
    fd->n_vnfs = d->point->n_vnfs;
    /* The copies by their names: "vnf[N].master" and "vnf[N].slave". */
    for (size_t k = 0; k < d->n_comps; k++) {
        struct deploy_component *c = &d->comps[k];
        if (!strcmp(c->role, "vnf") && c->replica >= 0) {
            free(c->name);
            c->name = xasprintf("vnf[%d].%s", c->index, c->replica ? "slave" : "master");
            /* A slave's output goes nowhere: a man in the middle aimed at the VNF goes after
             * its master (the names follow the roles at a takeover, ftvnf_swap_copies()). */
            deploy_set_idle(c, c->replica != 0);
        }
    }
    /* The scheme's own guests stamp the frames they send on too (their ids name them in the
     * run's hop_us/link_us): ids of their own, after the ones deploy gives. The sequencer's
     * are the packet logger's (one process). */
    for (size_t e = FTVNF_EXTRA_PLOG; e < ARRAY_SIZE(ftvnf_extra); e++) {
        char name[48];
        snprintf(name, sizeof name, "%s[0]", ftvnf_extra[e].role);
        struct deploy_component *c = deploy_find(d, name, NULL);
        if (c && !c->id) {
            c->id = FTVNF_ID_EXTRA0 + e;
        }
    }
    for (size_t i = 0; i < fd->n_vnfs; i++) {
        memcpy(fd->vmac[i], (uint8_t[6]) { 0x02, 0x46, 0x56, 0, 0, i }, 6);
    }
    /* One key for every core of the scheme: they seal their messages to each other. */
    if (sodium_init() < 0) {
        return EIO;
    }
    randombytes_buf(key, sizeof key);
    for (size_t k = 0; !error && k < d->n_comps; k++) {
        struct deploy_component *c = &d->comps[k];
        bool ours = !strcmp(c->role, "vnf") && c->replica >= 0;

        for (size_t e = FTVNF_EXTRA_PLOG; e < ARRAY_SIZE(ftvnf_extra); e++) {
            ours |= !strcmp(c->role, ftvnf_extra[e].role);
        }
        if (ours) {
            error = deploy_write_key(d, c, key, &path);
            free(path);
        }
    }
    sodium_memzero(key, sizeof key);
    /* The loggers (the sequencer with the packet logger) and the manager first, then the
     * slaves and the masters. */
    for (size_t e = FTVNF_EXTRA_PLOG; !error && e < ARRAY_SIZE(ftvnf_extra); e++) {
        char name[48];
        struct deploy_component *c;

        snprintf(name, sizeof name, "%s[0]", ftvnf_extra[e].role);
        c = deploy_find(d, name, NULL);
        ftvnf_extra_args(d, fd, e, c, &fd->args[e]);
        error = deploy_start_role(c, "ftvnf", fd->args[e].v);
    }
    for (size_t i = 0; !error && i < 2 * fd->n_vnfs; i++) {
        bool slave = i < fd->n_vnfs;
        struct deploy_component *c = ftvnf_copy(d, i % fd->n_vnfs, slave);

        ftvnf_vnf_args(d, fd, i % fd->n_vnfs, slave,
                       slave ? FTVNF_EP_SLAVE((int) (i % fd->n_vnfs))
                             : FTVNF_EP_MASTER((int) (i % fd->n_vnfs)), false, c, &a);
        error = deploy_start_role(c, "ftvnf", a.v);
        deploy_args_free(&a);
    }
    if (error) {
        return error;
    }
    deploy_args_add(&a, "--iface");
    deploy_args_add(&a, "%s", deploy_data_iface(sff->ig)->ifname);
    deploy_args_add(&a, "--id");
    deploy_args_add(&a, "%u", sff->id);
    /* The path of one hop, the sequencer, which the classifier sends to straight (no visit
     * to the SFF before it): the SFF ends it. */
    d->entry = deploy_find(d, "sequencer[0]", NULL);
    deploy_args_add(&a, "--path");
    deploy_args_add(&a, "%u:%s", d->spi, deploy_mac_string(
                        deploy_data_iface(d->entry->ig)->mac, mac));
    /* No --egress-mac: a decapsulated frame keeps its inner destination, the server's for
     * the client's requests and the client's for what comes back through a nat (below).
     * What a new master re-forwards after a takeover leaves only once, by packet id. */
    deploy_args_add(&a, "--drop-copies");
    deploy_args_add(&a, "65536");
    /* The hops' timestamps (every FTvNF stage adds its own): hop_us/link_us per component. */
    deploy_args_add(&a, "--trace");
    deploy_args_add(&a, "%s/guests/%s/hops.tsv", d->inst->dir, sff->guest);
    error = deploy_start_role(sff, "sff", a.v);
    deploy_args_free(&a);
    instance_changes_lock(d->inst);
    if (!error) {
        error = ftvnf_return_path(d);
    }

    /* Each master's virtual MAC goes to its master copy (through the instance's switch, as
     * deploy's own steering). */
    for (size_t i = 0; !error && i < fd->n_vnfs; i++) {
        struct of_flow f;
        ftvnf_steer_flow(fd->vmac[i], ftvnf_copy(d, i, false), &f);
        error = instance_flow_add(d->inst, DATA_BRIDGE, &f);
    }
    /* Also after a refusal: what was queued goes now. */
    int error2 = instance_flow_barrier(d->inst, DATA_BRIDGE);
    error = error ? error : error2;
    instance_changes_unlock(d->inst);
    if (error) {
        log_err("ftvnf: steering: %s", strerror(error));
    }
    (void) o;
    return error;
}

static void
ftvnf_opts(const struct exp_point *p, struct deploy_chain_opts *o)
{
    *o = (struct deploy_chain_opts) {
        .replicas = 1, .copies = ftvnf_two, .start_middle = ftvnf_start_middle,
        .extra = ftvnf_extra, .n_extra = ARRAY_SIZE(ftvnf_extra),
    };
}

static int
ftvnf_topology(const struct exp_point *p, struct topology **topop, char **errp)
{
    struct deploy_chain_opts o;

    ftvnf_opts(p, &o);
    return deploy_chain_topology(p, &o, topop, errp);
}

static int
ftvnf_deploy(struct instance *inst, const struct exp_point *p, const char *work_dir,
             struct deployment **dp)
{
    struct deploy_chain_opts o;

    ftvnf_opts(p, &o);
    return deploy_chain(inst, p, &o, work_dir, dp);
}

/* ---- The controller ---- */

enum ftvnf_watch { W_MASTER, W_SLAVE, W_MANAGER, W_LOGGER };

struct ftvnf_target {
    enum ftvnf_watch kind;
    size_t vnf;
    struct deploy_component *c;
    size_t fms_idx;
    int ep;                     /* W_MASTER: the endpoint of the copy watched now (atomic: the
                                 * failure monitor's thread names it in its notice). */
};

struct ftvnf_job {
    size_t target;
    uint64_t at_ns;
    uint64_t notice_ns;         /* A master's death: when the failure monitor's thread sent the
                                 * manager its notice (0: it could not; the worker sends it). */
};

struct ftvnf_ctl {
    struct scheme_controller_ctx ctx;
    struct ftvnf_dep *fd;
    struct fms *fms;
    struct of_conn *of;
    struct ftvnf_target *targets;
    size_t n_targets;
    int *fds;                   /* Our own agent connection per target (-1: none yet). */
    int mgr_fd;                 /* To the manager's agent. */
    int mgr_direct_fd;          /* The worker's, straight to the manager's control socket... */
    int mgr_direct_role;        /* ...of this role of it (remade after a restart). */
    int notice_fd;              /* The same, the failure monitor thread's own. */
    int notice_role;
    struct ctl_workers *workers;    /* One: recoveries one at a time. */
    char **home;                /* Per VNF: the guest of its first master. A copy there is
                                 * endpoint FTVNF_EP_MASTER (reached at the virtual MAC), a
                                 * copy on the other guest FTVNF_EP_SLAVE (its own MAC). */
    uint32_t incarnation[ARRAY_SIZE(ftvnf_extra)];
    uint64_t slave_told_ns[FTVNF_MAX_VNFS];    /* A dead slave the master's recovery told the
                                                 * manager of: its own job, if queued, is done. */
    unsigned stage_jobs[FTVNF_MAX_VNFS];        /* Per VNF, its copies' deaths queued or being
                                                 * recovered (under the workers' lock). */
    bool slave_gone[FTVNF_MAX_VNFS];            /* The failure monitor saw the slave watched
                                                 * now die (atomic; its job may be queued). */
};

/* A call on the agent of 'c' over our connection '*fdp' (opened on first use). */
static int
ftvnf_agent_call(struct ftvnf_ctl *ctl, const struct deploy_component *c, int *fdp,
                 const char *method, json_t *params, json_t **result)
{
    json_t *res = NULL;
    char *errmsg = NULL;
    int error = 0;

    if (*fdp < 0) {
        error = instance_mgmt_connect(ctl->ctx.inst, c->ig->mgmt_addr, INSTANCE_AGENT_PORT,
                                      FTVNF_RPC_MS, fdp);
    }
    if (!error) {
        error = rpc_call_err(*fdp, method, params, &res, FTVNF_RPC_MS, &errmsg);
        if (error && error != EREMOTEIO) {
            close(*fdp);
            *fdp = -1;
        }
    }
    if (error) {
        log_err("ftvnf: %s on %s: %s", method, c->name, errmsg ? errmsg : strerror(error));
    }
    free(errmsg);
    json_decref(params);
    if (result) {
        *result = res;
    } else {
        json_decref(res);
    }
    return error;
}

/* A call of the manager's own 'method' over '*fdp', a connection straight to its control
 * socket (netns guests: the host reaches it in the guest's directory), made for its role
 * '*rolep' and remade when the manager was restarted as another role. Does not take 'args'.
 * ENOTSUP when the host cannot reach that socket (a VM): the caller goes through the agent. */
static int
ftvnf_manager_direct(struct ftvnf_ctl *ctl, int *fdp, int *rolep, const char *method,
                     json_t *args, json_t **result, int timeout_ms)
{
    struct deploy_component *m = deploy_find(ctl->ctx.dep, "manager[0]", NULL);
    int role_id = __atomic_load_n(&m->role_id, __ATOMIC_ACQUIRE);
    char *errmsg = NULL;
    json_t *res = NULL, *empty;
    int error;

    if (*fdp >= 0 && *rolep != role_id) {
        close(*fdp);
        *fdp = -1;
    }
    if (*fdp < 0) {
        error = deploy_role_ctl_connect(ctl->ctx.inst, m->guest, role_id, timeout_ms, fdp);
        if (error) {
            goto out;
        }
        *rolep = role_id;
    }
    empty = args ? NULL : json_object();
    error = rpc_call_err(*fdp, method, args ? args : empty, &res, timeout_ms, &errmsg);
    json_decref(empty);
    if (error && error != EREMOTEIO) {
        close(*fdp);
        *fdp = -1;
    }
    if (error == EREMOTEIO) {
        log_err("ftvnf: %s on the manager: %s", method, errmsg ? errmsg : "refused");
    }
out:
    free(errmsg);
    if (result && !error) {
        *result = res;
    } else {
        json_decref(res);
    }
    return error;
}

static int
ftvnf_manager_call(struct ftvnf_ctl *ctl, const char *method, json_t *args, json_t **result)
{
    struct deploy_component *m = deploy_find(ctl->ctx.dep, "manager[0]", NULL);
    int error;

    error = ftvnf_manager_direct(ctl, &ctl->mgr_direct_fd, &ctl->mgr_direct_role, method, args,
                                 result, FTVNF_RPC_MS);
    if (!error || error == EREMOTEIO) {
        json_decref(args);
        return error;
    }
    return ftvnf_agent_call(ctl, m, &ctl->mgr_fd, "call_role",
                            json_pack("{s:i, s:s, s:o}", "id", m->role_id, "method", method,
                                      "params", args ? args : json_object()), result);
}

static int
ftvnf_of(struct ftvnf_ctl *ctl, const struct of_flow *f)
{
    int error = of_flow_add(ctl->of, f), e2 = of_barrier(ctl->of);

    error = error ? error : e2;
    if (error) {
        log_err("ftvnf: OpenFlow: %s", of_conn_error(ctl->of));
    }
    return error;
}

/* The endpoint of VNF i's copy on 'guest' (ftvnf_ctl.home). */
static int
ftvnf_ep(const struct ftvnf_ctl *ctl, size_t i, const char *guest)
{
    return !strcmp(guest, ctl->home[i]) ? FTVNF_EP_MASTER((int) i) : FTVNF_EP_SLAVE((int) i);
}

static struct ftvnf_target *
ftvnf_find_target(struct ftvnf_ctl *ctl, enum ftvnf_watch kind, size_t vnf)
{
    for (size_t k = 0; k < ctl->n_targets; k++) {
        if (ctl->targets[k].kind == kind && ctl->targets[k].vnf == vnf) {
            return &ctl->targets[k];
        }
    }
    return NULL;
}

/* After a takeover: "vnf[i].master" and "vnf[i].slave" trade guests and roles (the fault
 * plan's next "vnf[i].master" is the new master), and the failure monitor follows. */
static void
ftvnf_swap_copies(struct ftvnf_ctl *ctl, size_t i)
{
    struct deploy_component *m = ftvnf_copy(ctl->ctx.dep, i, false);
    struct deploy_component *s = ftvnf_copy(ctl->ctx.dep, i, true);
    char *mg = xstrdup(m->guest);
    int role_id = s->role_id, nspid = s->nspid;

    deploy_set_guest(ctl->ctx.dep, m, s->guest);
    deploy_set_guest(ctl->ctx.dep, s, mg);
    __atomic_store_n(&s->role_id, -1, __ATOMIC_RELEASE);
    __atomic_store_n(&s->nspid, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&m->role_id, role_id, __ATOMIC_RELEASE);
    __atomic_store_n(&m->nspid, nspid, __ATOMIC_RELEASE);
    __atomic_store_n(&ftvnf_find_target(ctl, W_MASTER, i)->ep, ftvnf_ep(ctl, i, m->guest),
                     __ATOMIC_RELEASE);
    fms_reset_target(ctl->fms, ftvnf_find_target(ctl, W_MASTER, i)->fms_idx,
                     deploy_host_pid(ctl->ctx.inst, m->guest, nspid), true);
    __atomic_store_n(&ctl->slave_gone[i], false, __ATOMIC_RELEASE);
    fms_reset_target(ctl->fms, ftvnf_find_target(ctl, W_SLAVE, i)->fms_idx, 0, true);
    free(mg);
}

/* A role call on 'c' over a connection of its own (the guests of the copies change). */
static int
ftvnf_role_call(struct ftvnf_ctl *ctl, const struct deploy_component *c, const char *method,
                json_t *args, json_t **result)
{
    int fd = -1, error;

    error = ftvnf_agent_call(ctl, c, &fd, "call_role",
                             json_pack("{s:i, s:s, s:o}", "id", c->role_id, "method", method,
                                       "params", args ? args : json_object()), result);
    if (fd >= 0) {
        close(fd);
    }
    return error;
}

/* Starts the ftvnf role with arguments 'a' (freed) on copy 'c', and watches its process as
 * FMS target 'fms_idx'. */
static int
ftvnf_start_copy(struct ftvnf_ctl *ctl, struct deploy_component *c, struct deploy_args *a,
                 size_t fms_idx)
{
    json_t *params = json_pack("{s:s, s:[]}", "role", "ftvnf", "args"), *res = NULL;
    int fd = -1, error;

    for (size_t k = 0; k < a->n; k++) {
        json_array_append_new(json_object_get(params, "args"), json_string(a->v[k]));
    }
    deploy_args_free(a);
    error = ftvnf_agent_call(ctl, c, &fd, "start_role", params, &res);
    if (fd >= 0) {
        close(fd);
    }
    if (!error) {
        int nspid = json_integer_value(json_object_get(res, "pid"));

        __atomic_store_n(&c->role_id, (int) json_integer_value(json_object_get(res, "id")),
                         __ATOMIC_RELEASE);
        __atomic_store_n(&c->nspid, nspid, __ATOMIC_RELEASE);
        fms_reset_target(ctl->fms, fms_idx, deploy_host_pid(ctl->ctx.inst, c->guest, nspid),
                         true);
    }
    json_decref(res);
    return error;
}

/* VNF i runs on its master alone (after a takeover, or its slave's death): a new slave on
 * the other copy's guest (ftvnf.h, "A new slave"). Its endpoint is that guest's; the manager
 * hears of it (it stops deleting), the slave gets the master's image, and joins once it took
 * it: recorded as `recovered` of vnf[i].slave. */
static void
ftvnf_new_slave(struct ftvnf_ctl *ctl, size_t i)
{
    struct deploy_component *m = ftvnf_copy(ctl->ctx.dep, i, false);
    struct deploy_component *s = ftvnf_copy(ctl->ctx.dep, i, true);
    struct of_flow unfence = { .table_id = OF_TABLE_ALL, .priority = FTVNF_PRIO_FENCE }, steer;
    uint64_t t0 = time_mono_ns(), deadline = t0 + FTVNF_RECOVER_TIMEOUT_NS;
    int self = ftvnf_ep(ctl, i, s->guest), error;
    struct deploy_args a = { 0 };
    json_t *res = NULL;
    char *image = NULL;

    /* The copy's port speaks again (its process is dead: nothing stale comes from it), now:
     * the switch's cached datapath flows may follow the change a while after its barrier. */
    of_match_in_port(&unfence.match, deploy_data_iface(s->ig)->ofport);
    error = of_flow_delete(ctl->of, &unfence, true);
    error = error ? error : of_barrier(ctl->of);
    /* Once the stage runs alone: its upstream sends to the new master's own endpoint, and
     * the master's in-flight packets are resent, so nothing for the master is on its way to
     * the virtual MAC when that moves to a copy that may be the new slave. */
    error = error ? error : ETIMEDOUT;
    while (error == ETIMEDOUT && !ctl_workers_stopping(ctl->workers)
           && time_mono_ns() < deadline) {
        json_t *st;
        bool alone = !ftvnf_manager_call(ctl, "ftvnf_stages", NULL, &res)
                     && (st = json_array_get(json_object_get(res, "stages"), i))
                     && !strcmp(json_string_value(json_object_get(st, "state")) ?: "", "alone");

        json_decref(res);
        res = NULL;
        if (alone) {
            error = 0;
            break;
        }
        poll(NULL, 0, 10);
    }
    /* The virtual MAC reaches FTVNF_EP_MASTER's guest. */
    if (!error && self == FTVNF_EP_MASTER((int) i)) {
        ftvnf_steer_flow(ctl->fd->vmac[i], s, &steer);
        error = ftvnf_of(ctl, &steer);
    }
    if (!error) {
        ftvnf_vnf_args(ctl->ctx.dep, ctl->fd, i, true, self, true, s, &a);
        __atomic_store_n(&ctl->slave_gone[i], false, __ATOMIC_RELEASE);
        error = ftvnf_start_copy(ctl, s, &a, ftvnf_find_target(ctl, W_SLAVE, i)->fms_idx);
    }
    if (!error) {
        error = ftvnf_manager_call(ctl, "peer_up", json_pack("{s:i}", "peer", self), NULL);
    }
    if (!error) {
        error = ftvnf_role_call(ctl, m, "ftvnf_image", NULL, &res);
        image = error ? NULL : xstrdup(json_string_value(json_object_get(res, "image")) ?: "");
        json_decref(res);
        res = NULL;
    }
    if (!error) {
        error = ftvnf_role_call(ctl, s, "ftvnf_join", json_pack("{s:s}", "image", image), NULL);
    }
    while (!error && !ctl_workers_stopping(ctl->workers) && time_mono_ns() < deadline) {
        json_t *st;

        int pid = deploy_host_pid(ctl->ctx.inst, s->guest, s->nspid);

        if (pid > 0 && kill(pid, 0) && errno == ESRCH) {
            /* Dead before it joined: its death is the next job (a new one again). */
            error = ESRCH;
            break;
        }
        if (!ftvnf_manager_call(ctl, "ftvnf_stages", NULL, &res)
            && (st = json_array_get(json_object_get(res, "stages"), i))
            && !strcmp(json_string_value(json_object_get(st, "state")) ?: "", "normal")
            && json_integer_value(json_object_get(st, "slave")) == self) {
            json_decref(res);
            run_events_addf(ctl->ctx.events, 0, "recovered", s->name,
                            "a new slave (endpoint %d, on %s) took its master's image and "
                            "joined %.3f ms after the stage was left alone", self, s->guest,
                            (time_mono_ns() - t0) / 1e6);
            free(image);
            return;
        }
        json_decref(res);
        res = NULL;
        poll(NULL, 0, 10);
    }
    free(image);
    int mpid = deploy_host_pid(ctl->ctx.inst, m->guest, m->nspid);
    if (error && (mpid <= 0 || (kill(mpid, 0) && errno == ESRCH))) {
        /* Its master died before it gave its image: the master's recovery (queued behind
         * this job) restarts the stage and makes the next slave. */
        return;
    }
    run_events_addf(ctl->ctx.events, 0, "recovery-failed", s->name, "no new slave: %s",
                    error == ESRCH ? "it died before it joined"
                    : error ? strerror(error) : "it never joined");
}

/* Whether stage 'st' (of ftvnf_stages) had a failure notice at 't_notice' or later and its
 * slave took over after it: the stage may have had takeovers before (a new slave each time). */
static bool
ftvnf_promoted_after(const json_t *st, uint64_t t_notice)
{
    uint64_t failed = json_integer_value(json_object_get(st, "failed_ns"));
    uint64_t promoted = json_integer_value(json_object_get(st, "promoted_ns"));

    return failed >= t_notice && promoted >= failed;
}

/* Master 'i' died at 'at_ns' with no slave to take over (the stage alone, or its new slave
 * still joining; ftvnf.h, "A master that dies with no slave"): a master with empty state on
 * the dead one's guest, at its endpoint, its order numbers after 'last_order', then a new
 * slave. The function's state is lost, which the event says. */
static void
ftvnf_restart_master(struct ftvnf_ctl *ctl, struct ftvnf_target *t, uint64_t at_ns,
                     uint64_t last_order, const char *alias)
{
    struct deploy_component *m = t->c, *s = ftvnf_copy(ctl->ctx.dep, t->vnf, true);
    struct deploy_args a = { 0 };
    int fd = -1, error = 0;

    if (s->role_id >= 0) {
        /* A new slave that waits for an image the dead master never gave: stopped, and
         * unwatched first, so its end is no failure of its own. */
        fms_reset_target(ctl->fms, ftvnf_find_target(ctl, W_SLAVE, t->vnf)->fms_idx, 0, true);
        error = ftvnf_agent_call(ctl, s, &fd, "stop_role", json_pack("{s:i}", "id", s->role_id),
                                 NULL);
        if (fd >= 0) {
            close(fd);
            fd = -1;
        }
        __atomic_store_n(&s->role_id, -1, __ATOMIC_RELEASE);
        __atomic_store_n(&s->nspid, 0, __ATOMIC_RELEASE);
        error = error == EREMOTEIO ? 0 : error;     /* it had ended already */
    }
    ftvnf_vnf_args(ctl->ctx.dep, ctl->fd, t->vnf, false, ftvnf_ep(ctl, t->vnf, m->guest), false,
                   m, &a);
    /* Past anything the dead master may have logged that the manager had not read yet. */
    deploy_args_add(&a, "--param");
    deploy_args_add(&a, "order=%llu", (unsigned long long) last_order + (1ull << 20));
    if (!error) {
        error = ftvnf_start_copy(ctl, m, &a, t->fms_idx);
    } else {
        deploy_args_free(&a);
    }
    if (!error) {
        uint64_t now = time_mono_ns();

        for (int k = 0; k < 2; k++) {
            run_events_addf(ctl->ctx.events, now, "recovered", k ? alias : m->name,
                            "restarted with empty state %.3f ms after detection: it died with "
                            "no slave, its function's state is lost",
                            now > at_ns ? (now - at_ns) / 1e6 : 0.0);
        }
    }
    if (error) {
        run_events_addf(ctl->ctx.events, 0, "recovery-failed", m->name,
                        "no master restarted: %s", strerror(error));
        return;
    }
    ftvnf_new_slave(ctl, t->vnf);
}

/* Whether VNF 'vnf''s slave is dead; tells the manager then. The failure monitor may have
 * seen it die (its job queued behind this one: the process may be reaped already, and no pid
 * of its guest names it any more); else a process killed with its master may still be a
 * zombie: that is dead too. */
static bool
ftvnf_tell_dead_slave(struct ftvnf_ctl *ctl, size_t vnf, struct deploy_component *slave)
{
    bool dead = __atomic_load_n(&ctl->slave_gone[vnf], __ATOMIC_ACQUIRE);
    int spid = !dead && slave->role_id >= 0
               ? deploy_host_pid(ctl->ctx.inst, slave->guest, slave->nspid) : 0;

    if (spid > 0) {
        char path[64], *stat = NULL, *state;

        snprintf(path, sizeof path, "/proc/%d/stat", spid);
        if (read_file(path, &stat, NULL)) {
            dead = errno == ENOENT || (kill(spid, 0) && errno == ESRCH);
        } else if ((state = strrchr(stat, ')')) != NULL) {
            dead = state[1] == ' ' && (state[2] == 'Z' || state[2] == 'X');
        }
        free(stat);
    }
    if (dead) {
        ctl->slave_told_ns[vnf] = time_mono_ns();
        ftvnf_manager_call(ctl, "peer_down",
                           json_pack("{s:i}", "peer", ftvnf_ep(ctl, vnf, slave->guest)), NULL);
        run_events_addf(ctl->ctx.events, 0, "suspected", slave->name,
                        "its process died (found at its master's death)");
    }
    return dead;
}

/* Whether the manager found stage 'vnf' without a copy since 't_notice' (its master died with
 * no slave to take over); '*last' its last order number then. */
static bool
ftvnf_stage_lost(struct ftvnf_ctl *ctl, size_t vnf, uint64_t t_notice, uint64_t *last)
{
    json_t *res = NULL, *st;
    bool lost = false;

    if (!ftvnf_manager_call(ctl, "ftvnf_stages", NULL, &res)
        && (st = json_array_get(json_object_get(res, "stages"), vnf))
        && (uint64_t) json_integer_value(json_object_get(st, "lost_ns")) >= t_notice) {
        *last = json_integer_value(json_object_get(st, "last_order"));
        lost = true;
    }
    json_decref(res);
    return lost;
}

/* Master 'i' died at 'at_ns': the slave catches up on M\S and takes over. 'notice_ns': when
 * the failure monitor's thread gave the manager its failure notice (0: not yet: given here). */
static void
ftvnf_recover_master(struct ftvnf_ctl *ctl, struct ftvnf_target *t, uint64_t at_ns,
                     uint64_t notice_ns)
{
    struct deploy_component *slave = ftvnf_copy(ctl->ctx.dep, t->vnf, true);
    struct of_flow fence = { .priority = FTVNF_PRIO_FENCE }, steer;
    uint64_t t_notice = notice_ns ? notice_ns : time_mono_ns(), last;
    uint64_t deadline = t_notice + FTVNF_RECOVER_TIMEOUT_NS;
    bool slave_dead;
    char alias[32];
    int error = 0;

    snprintf(alias, sizeof alias, "vnf[%zu]", t->vnf);
    for (int k = 0; k < 2; k++) {
        run_events_addf(ctl->ctx.events, at_ns, "suspected", k ? alias : t->c->name,
                        "its process died");
    }
    /* Both copies dead (the slave's death still queued behind this job, or not seen yet):
     * the manager hears of the slave's first, so that it does not wait for a takeover by a
     * dead slave; the slave's own job then has nothing left to do. */
    slave_dead = ftvnf_tell_dead_slave(ctl, t->vnf, slave);
    /* The manager first: the takeover needs nothing from the switch (the slave is promoted,
     * then its upstream is rerouted to the slave's own address). The switch's flow table
     * changes take tens of ms under load, so they run meanwhile: nothing the dead copy's port
     * might still send enters the chain, and what upstream sends to master i's virtual MAC
     * goes to the slave. The failure monitor's thread told the manager already where it can
     * reach it (ftvnf_notice_master()); the slave's death above, if any, comes after it then,
     * which the manager takes as a slave that died while taking over. */
    if (!notice_ns) {
        t_notice = time_mono_ns();
        error = ftvnf_manager_call(ctl, "peer_down",
                                   json_pack("{s:i}", "peer",
                                             ftvnf_ep(ctl, t->vnf, t->c->guest)), NULL);
    }
    /* The manager decided at the notice whether a slave can take over. */
    if (!error && ftvnf_stage_lost(ctl, t->vnf, t_notice, &last)) {
        ftvnf_restart_master(ctl, t, at_ns, last, alias);
        return;
    }
    of_match_in_port(&fence.match, deploy_data_iface(t->c->ig)->ofport);
    ftvnf_steer_flow(ctl->fd->vmac[t->vnf], slave, &steer);
    error = error ? error : ftvnf_of(ctl, &fence);
    error = error ? error : ftvnf_of(ctl, &steer);
    while (!error && !ctl_workers_stopping(ctl->workers) && time_mono_ns() < deadline) {
        json_t *res = NULL, *st;

        if (!ftvnf_manager_call(ctl, "ftvnf_stages", NULL, &res)
            && (st = json_array_get(json_object_get(res, "stages"), t->vnf))
            && ftvnf_promoted_after(st, t_notice)) {
            uint64_t at = json_integer_value(json_object_get(st, "promoted_ns"));
            uint64_t failed = json_integer_value(json_object_get(st, "failed_ns"));
            json_int_t n = json_integer_value(json_object_get(st, "catchup"));
            struct deploy_component *a = deploy_find(ctl->ctx.dep, alias, NULL);

            json_decref(res);
            if (a) {
                deploy_set_guest(ctl->ctx.dep, a, slave->guest);
            }
            /* Where the time went (every guest reads the host's monotonic clock): detection,
             * the notice sent, the manager's taking it (its own clock), the promotion. */
            run_events_addf(ctl->ctx.events, failed, "notified", t->c->name,
                            "the manager took the failure notice %.3f ms after detection (sent "
                            "after %.3f ms %s)", failed > at_ns ? (failed - at_ns) / 1e6 : 0.0,
                            t_notice > at_ns ? (t_notice - at_ns) / 1e6 : 0.0,
                            notice_ns ? "by the failure monitor's thread to its control socket"
                                      : "by the controller's worker through its agent");
            for (int k = 0; k < 2; k++) {
                run_events_addf(ctl->ctx.events, at, "recovered", k ? alias : t->c->name,
                                "%s took over after replaying M\\S (%lld packets listed) %.3f ms "
                                "after detection, %.3f ms after the manager's notice",
                                slave->name, (long long) n,
                                at > at_ns ? (at - at_ns) / 1e6 : 0.0,
                                at > failed ? (at - failed) / 1e6 : 0.0);
            }
            /* The names follow the roles: vnf[i].master is the new master's guest now, and
             * vnf[i].slave the dead copy's, where the new slave goes. */
            ftvnf_swap_copies(ctl, t->vnf);
            ftvnf_new_slave(ctl, t->vnf);
            return;
        }
        json_decref(res);
        /* The slave died too, seen only now (killed with its master): no takeover comes.
         * The master restarts where it was: its port unfenced, the hop steered back. */
        if (!slave_dead && (slave_dead = ftvnf_tell_dead_slave(ctl, t->vnf, slave))
            && ftvnf_stage_lost(ctl, t->vnf, t_notice, &last)) {
            fence.table_id = OF_TABLE_ALL;
            ftvnf_steer_flow(ctl->fd->vmac[t->vnf], t->c, &steer);
            error = of_flow_delete(ctl->of, &fence, true);
            error = error ? error : ftvnf_of(ctl, &steer);
            if (!error) {
                ftvnf_restart_master(ctl, t, at_ns, last, alias);
                return;
            }
            break;
        }
        /* The promotion's time is the manager's own clock: asking more often would only
         * take the manager's CPU from the recovery it times. */
        poll(NULL, 0, 10);
    }
    run_events_addf(ctl->ctx.events, 0, "recovery-failed", t->c->name, "%s",
                    error ? strerror(error) : "the slave never took over");
}

/* The manager or a logger died: restarted on its guest (the manager rebuilds from the
 * loggers; a logger from its journal; the sequencer in the packet logger's process as its next
 * incarnation: a fresh sequencer id). The events name the sequencer too then: a fault aimed
 * at either name killed both. */
static void
ftvnf_restart(struct ftvnf_ctl *ctl, struct ftvnf_target *t, uint64_t at_ns)
{
    size_t e = t->kind == W_MANAGER ? FTVNF_EXTRA_MANAGER : t->vnf;
    const char *names[2] = { t->c->name, e == FTVNF_EXTRA_PLOG ? "sequencer[0]" : NULL };
    struct deploy_args *a = &ctl->fd->args[e];
    json_t *params = json_pack("{s:s, s:[]}", "role", "ftvnf", "args"), *res = NULL;
    int *fdp = &ctl->fds[t - ctl->targets];
    int error;

    for (size_t k = 0; k < 2 && names[k]; k++) {
        run_events_addf(ctl->ctx.events, at_ns, "suspected", names[k], "its process died");
    }
    for (size_t i = 0; i < a->n; i++) {
        json_array_append_new(json_object_get(params, "args"), json_string(a->v[i]));
    }
    json_array_append_new(json_object_get(params, "args"), json_string("--incarnation"));
    json_array_append_new(json_object_get(params, "args"),
                          json_sprintf("%u", ++ctl->incarnation[e]));
    error = ftvnf_agent_call(ctl, t->c, fdp, "start_role", params, &res);
    if (!error) {
        int nspid = json_integer_value(json_object_get(res, "pid"));
        /* The component is the new role now: its counters, the manager's calls and the
         * deployment's stop take it. */
        __atomic_store_n(&t->c->role_id, (int) json_integer_value(json_object_get(res, "id")),
                         __ATOMIC_RELEASE);
        fms_reset_target(ctl->fms, t->fms_idx, deploy_host_pid(ctl->ctx.inst, t->c->guest,
                                                               nspid), true);
    }
    for (size_t k = 0; k < 2 && names[k]; k++) {
        if (!error) {
            run_events_addf(ctl->ctx.events, 0, "recovered", names[k],
                            "restarted as incarnation %u", ctl->incarnation[e]);
        } else {
            run_events_addf(ctl->ctx.events, 0, "recovery-failed", names[k], "%s",
                            strerror(error));
        }
    }
    json_decref(res);
}

/* A worker's job, with the workers' lock held. */
static void
ftvnf_ctl_job(void *ctl_, size_t worker, void *job_)
{
    struct ftvnf_ctl *ctl = ctl_;
    struct ftvnf_job *job = job_;
    struct ftvnf_target *t = &ctl->targets[job->target];

    ctl_workers_unlock(ctl->workers);
    switch (t->kind) {
    case W_MASTER:
        ftvnf_recover_master(ctl, t, job->at_ns, job->notice_ns);
        break;
    case W_SLAVE:
        if (job->at_ns <= ctl->slave_told_ns[t->vnf]) {
            break;      /* Done by its master's recovery (ftvnf_recover_master). */
        }
        run_events_addf(ctl->ctx.events, job->at_ns, "suspected", t->c->name,
                        "its process died");
        if (!ftvnf_manager_call(ctl, "peer_down",
                                json_pack("{s:i}", "peer", ftvnf_ep(ctl, t->vnf, t->c->guest)),
                                NULL)) {
            ftvnf_new_slave(ctl, t->vnf);
        }
        break;
    case W_MANAGER:
    case W_LOGGER:
        ftvnf_restart(ctl, t, job->at_ns);
        break;
    }
    ctl_workers_lock(ctl->workers);
    if (t->kind == W_MASTER || t->kind == W_SLAVE) {
        ctl->stage_jobs[t->vnf]--;
    }
}

/* From the failure monitor's thread, the moment it saw master copy 't' die: the manager's
 * failure notice, straight to its control socket (netns guests), before anything else. Through
 * the worker it would wait for that thread's wake-up, then cross the management network to
 * the manager's agent, which connects to the same socket: three more processes to be
 * scheduled before the takeover starts, most of the time from detection to promotion on a
 * loaded host (12-37 ms medians, against 0.4 ms of the manager's own). Returns when it was
 * sent, 0 if it could not be (a VM's manager, one restarting): the worker sends it then. */
static uint64_t
ftvnf_notice_master(struct ftvnf_ctl *ctl, struct ftvnf_target *t)
{
    uint64_t sent = time_mono_ns();
    int ep = __atomic_load_n(&t->ep, __ATOMIC_ACQUIRE);

    return ftvnf_manager_direct(ctl, &ctl->notice_fd, &ctl->notice_role, "peer_down",
                                json_pack("{s:i}", "peer", ep), NULL, FTVNF_NOTICE_MS)
           ? 0 : sent;
}

/* From the FMS's thread: only deaths (no heartbeats here). */
static void
ftvnf_on_fms(void *ctl_, size_t idx, const char *name, enum fms_event_kind kind,
             uint64_t at_ns, uint64_t gap_ns)
{
    struct ftvnf_ctl *ctl = ctl_;
    struct ftvnf_target *t = &ctl->targets[idx];
    struct ftvnf_job job = { .target = idx, .at_ns = at_ns };
    bool busy = false;

    if (kind != FMS_EV_DEAD) {
        return;
    }
    if (t->kind == W_SLAVE) {
        __atomic_store_n(&ctl->slave_gone[t->vnf], true, __ATOMIC_RELEASE);
    }
    if (t->kind == W_MASTER || t->kind == W_SLAVE) {
        ctl_workers_lock(ctl->workers);
        busy = ctl->stage_jobs[t->vnf]++ > 0;
        ctl_workers_unlock(ctl->workers);
    }
    /* Only when nothing else of the stage is under way: the worker tells the manager of a
     * slave's death (first) and has a new slave join (peer_up), and a notice ahead of those
     * would be one the manager takes in another state than the worker expects (a master that
     * died with its slave would wait for a takeover that never comes). */
    if (t->kind == W_MASTER && !busy) {
        job.notice_ns = ftvnf_notice_master(ctl, t);
    }
    ctl_workers_lock(ctl->workers);
    ctl_workers_push(ctl->workers, 0, &job);
    ctl_workers_unlock(ctl->workers);
}

static void
ftvnf_ctl_stop(void *ctl_)
{
    struct ftvnf_ctl *ctl = ctl_;

    if (!ctl) {
        return;
    }
    ctl_workers_stop(ctl->workers);
    fms_destroy(ctl->fms);          /* No callback after this. */
    ctl_workers_destroy(ctl->workers);
    for (size_t i = 0; i < ctl->n_targets; i++) {
        if (ctl->fds[i] >= 0) {
            close(ctl->fds[i]);
        }
    }
    if (ctl->mgr_fd >= 0) {
        close(ctl->mgr_fd);
    }
    if (ctl->mgr_direct_fd >= 0) {
        close(ctl->mgr_direct_fd);
    }
    if (ctl->notice_fd >= 0) {
        close(ctl->notice_fd);
    }
    if (ctl->of) {
        of_conn_close(ctl->of);
    }
    for (size_t i = 0; ctl->home && i < ctl->fd->n_vnfs; i++) {
        free(ctl->home[i]);
    }
    free(ctl->home);
    free(ctl->fds);
    free(ctl->targets);
    free(ctl);
}

static void
ftvnf_ctl_watch(struct ftvnf_ctl *ctl, enum ftvnf_watch kind, size_t vnf,
                struct deploy_component *c)
{
    struct ftvnf_target *t;

    ctl->targets = xrealloc(ctl->targets, (ctl->n_targets + 1) * sizeof *ctl->targets);
    ctl->fds = xrealloc(ctl->fds, (ctl->n_targets + 1) * sizeof *ctl->fds);
    ctl->fds[ctl->n_targets] = -1;
    t = &ctl->targets[ctl->n_targets++];
    *t = (struct ftvnf_target) { .kind = kind, .vnf = vnf, .c = c,
                                 .ep = kind == W_MASTER ? FTVNF_EP_MASTER((int) vnf) : 0 };
}

static int
ftvnf_ctl_start(const struct scheme_controller_ctx *ctx, void **statep)
{
    struct ftvnf_ctl *ctl = xzalloc(sizeof *ctl);
    struct fms_config fc = FMS_CONFIG_DEFAULT;
    char *path;
    int error;

    ctl->ctx = *ctx;
    ctl->fd = ctx->dep->scheme_data;
    ctl->mgr_fd = ctl->mgr_direct_fd = ctl->notice_fd = -1;
    ctl->workers = ctl_workers_create(1, sizeof(struct ftvnf_job), ftvnf_ctl_job, NULL, ctl);
    path = xasprintf("%s/%s.mgmt", ovs_run_dir(ctx->inst->ovs), DATA_BRIDGE);
    error = of_conn_open(path, FTVNF_RPC_MS, &ctl->of);
    free(path);
    if (error) {
        log_err("ftvnf: no OpenFlow connection to the data bridge (%s)", strerror(error));
        goto out;
    }
    error = fms_create(&fc, ftvnf_on_fms, ctl, &ctl->fms);
    if (error) {
        goto out;
    }
    ctl->home = xcalloc(ctl->fd->n_vnfs, sizeof *ctl->home);
    for (size_t i = 0; i < ctl->fd->n_vnfs; i++) {
        ctl->home[i] = xstrdup(ftvnf_copy(ctx->dep, i, false)->guest);
        ftvnf_ctl_watch(ctl, W_MASTER, i, ftvnf_copy(ctx->dep, i, false));
        ftvnf_ctl_watch(ctl, W_SLAVE, i, ftvnf_copy(ctx->dep, i, true));
    }
    ftvnf_ctl_watch(ctl, W_MANAGER, 0, deploy_find(ctx->dep, "manager[0]", NULL));
    for (size_t e = FTVNF_EXTRA_PLOG; e < FTVNF_EXTRA_MANAGER; e++) {
        /* A logger rebuilds from its journal. */
        char name[48];
        snprintf(name, sizeof name, "%s[0]", ftvnf_extra[e].role);
        ftvnf_ctl_watch(ctl, W_LOGGER, e, deploy_find(ctx->dep, name, NULL));
    }
    for (size_t i = 0; !error && i < ctl->n_targets; i++) {
        struct ftvnf_target *t = &ctl->targets[i];
        error = fms_add_target(ctl->fms, t->c->name,
                               deploy_host_pid(ctx->inst, t->c->guest, t->c->nspid), -1,
                               &t->fms_idx);
    }
    if (!error) {
        /* Connected now, not at the first failure: a connection made then costs a TCP
         * handshake with a guest's agent on a loaded host, inside the recovery time. */
        json_t *res = NULL;
        if (!ftvnf_manager_call(ctl, "ftvnf_stages", NULL, &res)) {
            json_decref(res);
        }
        /* The failure monitor's own connection (not yet used by its thread). */
        if (!ftvnf_manager_direct(ctl, &ctl->notice_fd, &ctl->notice_role, "ftvnf_stages",
                                  NULL, &res, FTVNF_RPC_MS)) {
            json_decref(res);
        }
        error = ctl_workers_start(ctl->workers);
    }
    if (!error) {
        error = fms_start(ctl->fms);
    }
out:
    if (error) {
        ftvnf_ctl_stop(ctl);
    } else {
        *statep = ctl;
    }
    return error;
}

const struct scheme_class scheme_ftvnf = {
    .name = "ftvnf",
    .summary = "FTvNF: sequencer, packet and D&P loggers, master and slave copies, manager",
    .guests = "client, classifier, SFF, server, per VNF a master and a slave, and the "
              "packet logger (with the sequencer), D&P logger, progress logger and manager",
    .params = ftvnf_params,
    .n_params = ARRAY_SIZE(ftvnf_params),
    .targets = ftvnf_targets,
    .n_targets = ARRAY_SIZE(ftvnf_targets),
    .check = ftvnf_check,
    .has_target = ftvnf_has_target,
    .topology = ftvnf_topology,
    .deploy = ftvnf_deploy,
    .stop = deploy_stop,
    .controller_start = ftvnf_ctl_start,
    .controller_stop = ftvnf_ctl_stop,
};
