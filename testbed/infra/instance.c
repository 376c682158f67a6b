#include "testbed/infra/instance.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testbed/infra/link.h"
#include "testbed/infra/manifest.h"
#include "testbed/infra/netns.h"
#include "testbed/infra/openflow.h"
#include "testbed/infra/ovs.h"
#include "testbed/infra/provider.h"
#include "testbed/infra/shaper.h"
#include "testbed/model/topology.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"

#define MGMT_BRIDGE "mgmt"

/* The tmpfs of STATE/NAME/guests: at most this much, and each guest within its memory limit. */
#define INSTANCE_GUESTS_SIZE "1g"
/* The instance's switch: where the host ends of guests' interfaces go. A backend behind a small
 * struct of function pointers, as the providers are:
 *   ovs     a network namespace of the instance's own and a private Open vSwitch in it;
 *   memory  for instances whose guests all live in memory (the test provider): no namespace,
 *           no daemons, OpenFlow port numbers given in order; needs no root. */
struct instance_switch {
    const char *name;
    /* Before the guests: where their host ends will go. */
    int (*create)(struct instance *);
    /* Optional: `up` is about to make the guests (inst->guests and inst->bridges are set),
     * and made guest 'i'. The switch may start beside them. */
    void (*launch)(struct instance *);
    void (*guest_made)(struct instance *, size_t i);
    /* After the guests: the switch, its bridges, and the ports of every guest so far. */
    int (*start)(struct instance *, const struct instance_opts *);
    /* instance_open(): finds the running switch again. */
    int (*open)(struct instance *);
    /* Netlink in the host namespace for guest_plug_iface(), or NULL: the instance's (for the
     * main thread), or one of the caller's own that it closes (for the threads of `up`). */
    int (*host_ns)(struct instance *, struct link_ns **);
    int (*open_host_ns)(struct instance *, struct link_ns **);
    /* Puts the ports of guests [first, last) on their bridges and learns their numbers. */
    int (*add_ports)(struct instance *, size_t first, size_t last);
    int (*del_ports)(struct instance *, const struct instance_guest *);
    /* Optional: guest 'ig''s host ends are new devices under the old names (a restored VM):
     * off the switch and on again, each under its old OpenFlow number. */
    int (*replug_ports)(struct instance *, struct instance_guest *);
    /* `down`, before the guests stop and the manifest is undone. Consumes inst->ovs. */
    void (*stop)(struct instance *);
    /* Steering: queues a FLOW_MOD (OF_FC_ADD, OF_FC_DELETE, OF_FC_DELETE_STRICT), and sends
     * what is queued and waits for the switch (instance_flow_barrier()). */
    int (*flow_mod)(struct instance *, const char *bridge, const struct of_flow *, int command);
    int (*barrier)(struct instance *, const char *bridge);
    /* Queues a GROUP_MOD (OF_GC_ADD, OF_GC_MODIFY, OF_GC_DELETE of g->group_id). */
    int (*group_mod)(struct instance *, const char *bridge, const struct of_group *,
                     int command);
    /* Forgets the MAC addresses the bridge learned. */
    int (*fdb_flush)(struct instance *, const char *bridge);
};

static int remove_guest(struct instance *, struct instance_guest *, bool ports);

static volatile sig_atomic_t interrupted;

void
instance_interrupt(void)
{
    interrupted = 1;
}

bool
instance_interrupted(void)
{
    return interrupted;
}

static void
on_interrupt(int sig)
{
    instance_interrupt();
}

void
instance_catch_interrupts(void)
{
    struct sigaction sa = { .sa_handler = on_interrupt };

    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static char *
instance_dir(const char *state_dir, const char *name)
{
    return xasprintf("%s/%s", state_dir ? state_dir : "/run/sfclab", name);
}

static bool
instance_name_ok(const char *name)
{
    size_t len = strlen(name);

    if (!len || len > 32) {
        return false;
    }
    for (const char *p = name; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_')) {
            return false;
        }
    }
    return true;
}

/* The instance's key: made at `up`, kept in STATE/NAME/key (0600; no guest sees STATE). Each
 * guest's agent key is derived from it and the guest's name, so that a guest that reads its
 * own key from its agent's memory holds no other guest's. */
static int
instance_load_key(struct instance *inst)
{
    char *path = xasprintf("%s/key", inst->dir);
    char *text = NULL;
    size_t len = 0;
    int error = read_file(path, &text, &len);

    if (!error && len != sizeof inst->key) {
        error = EINVAL;
    }
    if (!error) {
        memcpy(inst->key, text, sizeof inst->key);
        inst->has_key = true;
    }
    if (text) {
        sodium_memzero(text, len);
    }
    free(text);
    free(path);
    return error;
}

static int
instance_make_key(struct instance *inst)
{
    char *path = xasprintf("%s/key", inst->dir);
    int error = manifest_record_file(inst->manifest, path);
    int fd = -1;

    if (!error) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        error = fd < 0 ? errno : 0;
    }
    if (!error) {
        randombytes_buf(inst->key, sizeof inst->key);
        error = write_fully(fd, inst->key, sizeof inst->key);
        inst->has_key = !error;
    }
    if (fd >= 0) {
        close(fd);
    }
    free(path);
    return error;
}

void
instance_guest_key(const struct instance *inst, const char *guest,
                   uint8_t key[INSTANCE_KEY_BYTES])
{
    crypto_generichash(key, INSTANCE_KEY_BYTES, (const uint8_t *) guest, strlen(guest),
                       inst->key, sizeof inst->key);
}

/* The instance's lock: a POSIX record lock on STATE/NAME/lock, held by the `up` that makes
 * the instance. Unlike flock(), a record lock belongs to the process, not to the descriptor:
 * the processes `up` starts never hold it, so it goes with the sfclab that took it (a guest
 * still between clone and exec must not make `clean` believe an `up` is running). EBUSY if
 * another process holds it. */
static int
instance_lock(const char *dir, bool create, int *fdp)
{
    char *path = xasprintf("%s/lock", dir);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0600);
    int error = 0;

    if (fd < 0) {
        error = errno;
    } else if (fcntl(fd, F_SETLK, &fl)) {
        error = errno == EACCES || errno == EAGAIN ? EBUSY : errno;
        close(fd);
        fd = -1;
    }
    *fdp = fd;
    free(path);
    return error;
}

/* Removes the lock file (ours, or nobody's) and lets go of 'fd' (-1: not held). */
static void
instance_unlock_remove(const char *dir, int fd)
{
    char *path = xasprintf("%s/lock", dir);

    unlink(path);
    if (fd >= 0) {
        close(fd);
    }
    free(path);
}

/* bin/sfcd beside the running bin/sfclab. */
static char *
default_sfcd(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    char *slash;

    if (n <= 0) {
        return xstrdup("sfcd");
    }
    self[n] = '\0';
    slash = strrchr(self, '/');
    *slash = '\0';
    return xasprintf("%s/sfcd", self);
}

/* A MAC that names what it belongs to: locally administered, instance hash, guest, interface. */
static void
make_mac(uint8_t mac[6], const char *instance, size_t guest, size_t iface)
{
    uint32_t h = 2166136261u;

    for (const char *p = instance; *p; p++) {
        h = (h ^ (uint8_t) *p) * 16777619u;
    }
    mac[0] = 0x02;
    mac[1] = h;
    mac[2] = guest >> 8;
    mac[3] = guest;
    mac[4] = iface;
    mac[5] = 0x01;
}

static char *
host_port_name(const char *guest, size_t guest_idx, const char *ifname)
{
    if (strlen(guest) + 1 + strlen(ifname) <= 15) {
        return xasprintf("%s-%s", guest, ifname);
    }
    return xasprintf("g%zu-%s", guest_idx, ifname);
}

static void
iface_uninit(struct instance_iface *i)
{
    free(i->ifname);
    free(i->port);
    free(i->bridge);
}

static void
guest_uninit(struct instance_guest *ig)
{
    for (size_t j = 0; j < ig->n_ifaces; j++) {
        iface_uninit(&ig->ifaces[j]);
    }
    free(ig->ifaces);
    guest_release(ig->guest);
    free(ig->name);
    free(ig->provider);
}

/* A zeroed instance with its lock (recursive: a locked sequence calls the locking
 * functions), its CPUs unset. */
static struct instance *
instance_alloc(void)
{
    struct instance *inst = xzalloc(sizeof *inst);
    pthread_mutexattr_t attr;

    inst->switch_rx_cpu = -1;

    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&inst->changes, &attr);
    pthread_mutexattr_destroy(&attr);
    return inst;
}

void
instance_close(struct instance *inst)
{
    if (!inst) {
        return;
    }
    for (size_t i = 0; i < inst->n_guests; i++) {
        guest_uninit(&inst->guests[i]);
    }
    free(inst->guests);
    for (size_t i = 0; i < inst->n_replaced; i++) {
        guest_uninit(&inst->replaced[i]);
    }
    free(inst->replaced);
    for (size_t i = 0; i < inst->n_bridges; i++) {
        free(inst->bridges[i]);
    }
    free(inst->bridges);
    if (inst->ovs) {
        ovs_close(inst->ovs);
    }
    for (size_t i = 0; i < inst->n_flows; i++) {
        free(inst->flows[i].bridge);
        free(inst->flows[i].flow);
    }
    free(inst->flows);
    for (size_t i = 0; i < inst->n_groups; i++) {
        free(inst->groups[i].bridge);
        free(inst->groups[i].group);
    }
    free(inst->groups);
    link_ns_close(inst->host);
    manifest_close(inst->manifest);
    free(inst->name);
    free(inst->dir);
    free(inst->netns_path);
    free(inst->sfcd);
    pthread_mutex_destroy(&inst->changes);
    free(inst);
}

/* instance.json: what instance_open() needs to find everything again. */
static int
instance_save(const struct instance *inst)
{
    json_t *root = json_object(), *guests = json_array(), *bridges = json_array();
    char *path = xasprintf("%s/instance.json", inst->dir);
    char *tmp = xasprintf("%s.tmp", path);
    int error = 0;

    json_object_set_new(root, "name", json_string(inst->name));
    json_object_set_new(root, "switch", json_string(inst->sw->name));
    json_object_set_new(root, "netns", inst->netns_path ? json_string(inst->netns_path)
                                                        : json_null());
    json_object_set_new(root, "sfcd", json_string(inst->sfcd));
    json_object_set_new(root, "orchestrator", json_string(inet_ntoa(inst->orchestrator_addr)));
    json_object_set_new(root, "mgmt_prefix", json_integer(inst->mgmt_prefix_len));
    json_object_set_new(root, "agents", json_boolean(inst->agents));
    json_object_set_new(root, "pin_cpu", json_integer(inst->pin_cpu));
    json_object_set_new(root, "afxdp", json_boolean(inst->afxdp));
    if (inst->afxdp) {
        json_object_set_new(root, "pmd_sleep_us", json_integer(inst->pmd_sleep_us));
        json_object_set_new(root, "pmd_sched", json_string(inst->pmd_realtime ? "fifo"
                                                                               : "other"));
        if (inst->switch_rx_cpu >= 0) {
            json_object_set_new(root, "switch_rx_cpu", json_integer(inst->switch_rx_cpu));
        }
    }
    for (size_t i = 0; i < inst->n_bridges; i++) {
        json_array_append_new(bridges, json_string(inst->bridges[i]));
    }
    json_object_set_new(root, "bridges", bridges);
    for (size_t i = 0; i < inst->n_guests; i++) {
        const struct instance_guest *ig = &inst->guests[i];
        json_t *g = json_object(), *ifaces = json_array();
        char *handle = ig->guest ? guest_handle(ig->guest) : NULL;

        json_object_set_new(g, "name", json_string(ig->name));
        json_object_set_new(g, "provider", json_string(ig->provider));
        /* The provider's own words for finding the guest again; null once it is gone. */
        json_object_set_new(g, "handle", handle ? json_string(handle) : json_null());
        free(handle);
        if (ig->guest) {
            json_object_set_new(g, "cpus", json_real(ig->guest->cpus));
            if (ig->guest->cpu_period_us) {
                json_object_set_new(g, "cpu_period_us", json_integer(ig->guest->cpu_period_us));
            }
            json_object_set_new(g, "memory", json_integer(ig->guest->memory));
        }
        json_object_set_new(g, "mgmt", json_string(inet_ntoa(ig->mgmt_addr)));
        for (size_t j = 0; j < ig->n_ifaces; j++) {
            const struct instance_iface *f = &ig->ifaces[j];
            char mac[18];

            snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x",
                     f->mac[0], f->mac[1], f->mac[2], f->mac[3], f->mac[4], f->mac[5]);
            json_array_append_new(ifaces, json_pack(
                "{s:s, s:s, s:s, s:s, s:s?, s:i, s:i}",
                "ifname", f->ifname, "port", f->port, "bridge", f->bridge, "mac", mac,
                "addr", f->has_addr ? inet_ntoa(f->addr) : NULL, "prefix", f->prefix_len,
                "ofport", f->ofport));
        }
        json_object_set_new(g, "ifaces", ifaces);
        json_array_append_new(guests, g);
    }
    json_object_set_new(root, "guests", guests);
    if (json_dump_file(root, tmp, JSON_INDENT(2)) || rename(tmp, path)) {
        error = errno ? errno : EIO;
    }
    json_decref(root);
    free(path);
    free(tmp);
    return error;
}

/* Where `up` spends its time, summed over guests: printed under -v, so the next person who
 * makes it faster starts from numbers. */
enum up_phase {
    UP_TREE, UP_CREATE, UP_START, UP_PLUG, UP_N_PHASES
};
static const char *const up_phase_names[UP_N_PHASES] = {
    "agent dirs", "guest create", "guest start", "interfaces plugged",
};
static uint64_t up_phase_ns[UP_N_PHASES];

static void
up_phase_end(enum up_phase phase, uint64_t *t)
{
    uint64_t now = time_mono_ns();

    __atomic_fetch_add(&up_phase_ns[phase], now - *t, __ATOMIC_RELAXED);
    *t = now;
}

/* `up` starts the switch on a thread of its own while the guests are made: its daemons (their
 * start is mostly waiting: exec, the database, vswitchd's first run), then the ports of the
 * guests made so far, a few guests to a transaction, so that vswitchd opens them (AF_XDP
 * sockets: its slowest work in `up`) while later guests are still being made. Before its
 * bridges exist, each veth appearing in vswitchd's namespace wakes it for an empty
 * reconfiguration; after, only its own ports concern it. */
#define UP_WIRE_BATCH 8

struct instance_switch_start {
    pthread_t thread;
    bool threaded;              /* Else it all ran in ovs_switch_launch(). */
    int error;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    bool *made;                 /* Per guest: made, its ports may go on the bridges. */
    bool guests_done;           /* No more will be made (all made, or `up` failed). */
    size_t wired;               /* Guests [0, wired) have their ports. */
};

static int ovs_switch_wire(struct instance *, size_t first, size_t end, bool bridges);

/* The next guests whose ports may be added: [wired, *endp), waiting for a batch of them (or
 * the last). False once there will be none. */
static bool
ovs_switch_next_batch(struct instance *inst, size_t *endp)
{
    struct instance_switch_start *s = inst->sw_start;
    size_t end;

    pthread_mutex_lock(&s->mutex);
    for (;;) {
        end = s->wired;
        while (end < inst->n_guests && s->made[end]) {
            end++;
        }
        if (s->guests_done || end == inst->n_guests || end >= s->wired + UP_WIRE_BATCH) {
            break;
        }
        pthread_cond_wait(&s->cond, &s->mutex);
    }
    pthread_mutex_unlock(&s->mutex);
    *endp = end;
    return end > s->wired;
}

static void *
ovs_switch_daemons(void *inst_)
{
    struct instance *inst = inst_;
    struct instance_switch_start *s = inst->sw_start;
    char *ovs_dir = xasprintf("%s/ovs", inst->dir);
    uint64_t t0 = time_mono_ns();
    size_t end;
    int error;

    error = ovs_start(ovs_dir, inst->netns_path, inst->manifest, &inst->ovs);
    /* With AF_XDP ports the data path is the PMD thread's, on its own CPU (below): the
     * daemons' own threads carry the management network and the slow path. Pinned beside
     * the guests, on a CPU the guests keep busy, vswitchd's main thread went without a time
     * slice for seconds and every agent with it (run-nham's faults found no agent to reach);
     * left to the scheduler, it takes whichever CPU is free. */
    if (!error && inst->pin_cpu >= 0 && !inst->afxdp) {
        pid_t pids[2];
        ovs_daemon_pids(inst->ovs, pids);
        for (int i = 0; i < 2 && !error; i++) {
            error = pids[i] ? guest_pin_process(pids[i], inst->pin_cpu) : 0;
        }
    }
    if (error) {
        log_err("cannot start Open vSwitch (%s); its logs are in %s", strerror(error), ovs_dir);
        goto out;
    }
    log_debug("ovs started: %.1f ms", (time_mono_ns() - t0) / 1e6);
    if (inst->afxdp) {
        char mask[32];
        snprintf(mask, sizeof mask, "0x%llx", 1ull << inst->pmd_cpu);
        error = ovs_set_other_config(inst->ovs, "pmd-cpu-mask", mask);
        if (!error && inst->pmd_sleep_us) {
            char us[16];
            snprintf(us, sizeof us, "%u", inst->pmd_sleep_us);
            error = ovs_set_other_config(inst->ovs, "pmd-maxsleep", us);
        }
    }
    while (!error && ovs_switch_next_batch(inst, &end)) {
        error = ovs_switch_wire(inst, s->wired, end, !s->wired);
        log_debug("ovs: ports of guests %zu to %zu: %.1f ms", s->wired, end - 1,
                  (time_mono_ns() - t0) / 1e6);
        s->wired = end;
    }
out:
    free(ovs_dir);
    s->error = error;
    return NULL;
}

/* `up` made guest 'i': its ports may go on the bridges. */
static void
ovs_switch_guest_made(struct instance *inst, size_t i)
{
    struct instance_switch_start *s = inst->sw_start;

    if (s) {
        pthread_mutex_lock(&s->mutex);
        s->made[i] = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->mutex);
    }
}

/* No more guests will be made: waits for the switch's thread, if any; its error, and in
 * '*wiredp' (if not NULL) how many guests have their ports. */
static int
ovs_switch_join(struct instance *inst, size_t *wiredp)
{
    struct instance_switch_start *s = inst->sw_start;
    int error = 0;

    if (s) {
        pthread_mutex_lock(&s->mutex);
        s->guests_done = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->mutex);
        if (s->threaded) {
            pthread_join(s->thread, NULL);
        }
        error = s->error;
        if (wiredp) {
            *wiredp = s->wired;
        }
        pthread_mutex_destroy(&s->mutex);
        pthread_cond_destroy(&s->cond);
        free(s->made);
        free(s);
        inst->sw_start = NULL;
    }
    return error;
}

/* Starts the switch's thread, once inst->guests and inst->bridges are set. With 'inline_'
 * (the guests are made already), or if no thread can be had, does its work here. */
static void
ovs_switch_launch(struct instance *inst, bool inline_)
{
    struct instance_switch_start *s = xzalloc(sizeof *s);

    pthread_mutex_init(&s->mutex, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->made = xcalloc(inst->n_guests + 1, sizeof *s->made);
    inst->sw_start = s;
    s->threaded = !inline_ && !pthread_create(&s->thread, NULL, ovs_switch_daemons, inst);
    if (!s->threaded) {
        for (size_t i = 0; i < inst->n_guests; i++) {
            s->made[i] = true;
        }
        s->guests_done = true;
        ovs_switch_daemons(inst);
    }
}

static void
ovs_switch_launch_thread(struct instance *inst)
{
    ovs_switch_launch(inst, false);
}

static int
ovs_switch_create(struct instance *inst)
{
    char *netns_name = xasprintf("sfclab-%s", inst->name);
    int error;

    error = netns_create(inst->manifest, netns_name, &inst->netns_path);
    if (error) {
        log_err("cannot create network namespace %s (%s)", netns_name, strerror(error));
    }
    free(netns_name);
    return error;
}

/* Netlink in the host namespace, the caller's own: a netlink socket serves one thread. */
static int
ovs_switch_open_host_ns(struct instance *inst, struct link_ns **nsp)
{
    int fd = open(inst->netns_path, O_RDONLY | O_CLOEXEC);
    int error = fd < 0 ? errno : link_ns_open(fd, nsp);

    if (fd >= 0) {
        close(fd);
    }
    if (error) {
        log_err("%s: cannot enter the instance's namespace (%s)", inst->netns_path,
                strerror(error));
    }
    return error;
}

static int
ovs_switch_host_ns(struct instance *inst, struct link_ns **nsp)
{
    if (!inst->host) {
        int error = ovs_switch_open_host_ns(inst, &inst->host);
        if (error) {
            return error;
        }
    }
    *nsp = inst->host;
    return 0;
}

/* The management bridge carries the orchestrator's talk with each agent and nothing else: a
 * guest's frames go to the orchestrator's port only (and only with the guest's own MAC and
 * address: no spoofing another guest), the orchestrator's go to the one guest they are for
 * (ARP requests too, by target address: no guest learns of another), and everything else is
 * dropped. No NORMAL action, so nothing floods and nothing is learned. */
/* Over the bridge's persistent OpenFlow connection, one barrier for the whole table: two
 * `ovs-ofctl` forks cost 0.9 s of a star32 `up` at load 13. */
static int
instance_isolate_mgmt_except(struct instance *inst, const struct instance_guest *except)
{
    struct of_flow *flow = xzalloc(sizeof *flow);  /* 3 kB of actions: not on the stack. */
    struct of_conn *of;
    int error, error2;

    error = ovs_openflow(inst->ovs, MGMT_BRIDGE, &of);
    if (error) {
        free(flow);
        return error;
    }
    flow->table_id = OF_TABLE_ALL;
    error = of_flow_delete(of, flow, false);
    memset(flow, 0, sizeof *flow);
    if (!error) {
        error = of_flow_add(of, flow);                  /* priority=0, no action: drop. */
    }
    for (size_t i = 0; !error && i < inst->n_guests; i++) {
        const struct instance_guest *ig = &inst->guests[i];
        const struct instance_iface *f = ig->n_ifaces ? &ig->ifaces[0] : NULL;

        if (ig == except || !f || strcmp(f->bridge, MGMT_BRIDGE) || f->ofport <= 0) {
            continue;
        }
        /* From the guest, with its own MAC and address: ARP, and IP to the orchestrator. */
        memset(flow, 0, sizeof *flow);
        flow->priority = 100;
        of_match_in_port(&flow->match, f->ofport);
        of_match_eth_src(&flow->match, f->mac);
        of_match_arp_spa(&flow->match, ig->mgmt_addr.s_addr);
        of_actions_output(&flow->actions, OF_PORT_LOCAL);
        error = of_flow_add(of, flow);

        memset(&flow->match, 0, sizeof flow->match);
        of_match_in_port(&flow->match, f->ofport);
        of_match_eth_src(&flow->match, f->mac);
        of_match_ipv4_src(&flow->match, ig->mgmt_addr.s_addr, 32);
        of_match_ipv4_dst(&flow->match, inst->orchestrator_addr.s_addr, 32);
        error = error ? error : of_flow_add(of, flow);

        /* From the orchestrator, to this guest only: by MAC, and ARP by target address. */
        memset(flow, 0, sizeof *flow);
        flow->priority = 100;
        of_match_in_port(&flow->match, OF_PORT_LOCAL);
        of_match_eth_dst(&flow->match, f->mac);
        of_actions_output(&flow->actions, f->ofport);
        error = error ? error : of_flow_add(of, flow);

        memset(&flow->match, 0, sizeof flow->match);
        of_match_in_port(&flow->match, OF_PORT_LOCAL);
        of_match_arp_tpa(&flow->match, ig->mgmt_addr.s_addr);
        error = error ? error : of_flow_add(of, flow);
    }
    error2 = of_barrier(of);            /* Also after a refusal: what was queued goes now. */
    if (error || error2) {
        log_err("%s: OpenFlow: %s", MGMT_BRIDGE, of_conn_error(of));
    }
    free(flow);
    return error ? error : error2;
}

static int
instance_isolate_mgmt(struct instance *inst)
{
    return instance_isolate_mgmt_except(inst, NULL);
}

/* The data ports of guests [first, end) held to less than a CPU receive on the switch's CPU
 * (instance_opts.switch_rx). */
static int
ovs_switch_rx_cpu(struct instance *inst, size_t first, size_t end)
{
    const char **ports = NULL;
    struct link_ns *host;
    size_t n = 0;
    int error = ovs_switch_host_ns(inst, &host);

    for (size_t i = first; !error && i < end; i++) {
        const struct instance_guest *ig = &inst->guests[i];

        if (!ig->guest || ig->guest->cpus <= 0 || ig->guest->cpus >= 1) {
            continue;
        }
        for (size_t j = 0; j < ig->n_ifaces; j++) {
            if (strcmp(ig->ifaces[j].bridge, MGMT_BRIDGE)) {
                ports = xrealloc(ports, (n + 1) * sizeof *ports);
                ports[n++] = ig->ifaces[j].port;
            }
        }
    }
    if (!error && n) {
        error = link_set_rps(host, ports, n, 1ull << inst->switch_rx_cpu);
        if (error) {
            log_err("%s and %zu other port(s): cannot receive on CPU %d (%s)", ports[0], n - 1,
                    inst->switch_rx_cpu, strerror(error));
        }
    }
    free(ports);
    return error;
}

/* Data ports are AF_PACKET sockets served by vswitchd's main loop, or, with 'afxdp', AF_XDP
 * sockets busy-polled by a PMD thread on a CPU of their own: measured here, a UDP echo through
 * the switch takes 45 us p50 instead of 90 (same CPU) or 154 (across CPUs). The management
 * bridge stays on AF_PACKET: it carries no measured traffic. With 'bridges', the bridges go in
 * the same transaction (one round trip for all of `up`). */
static int
ovs_switch_wire(struct instance *inst, size_t first, size_t end, bool bridges)
{
    struct ovs_txn *txn;
    const char **names = NULL;
    int *ofports = NULL;
    size_t n = 0;
    int error;

    txn = ovs_txn_create(inst->ovs);
    for (size_t i = 0; bridges && i < inst->n_bridges; i++) {
        ovs_txn_add_bridge(txn, inst->bridges[i], OVS_FAIL_STANDALONE);
    }
    for (size_t i = first; i < end; i++) {
        n += inst->guests[i].n_ifaces;
    }
    names = xcalloc(n ? n : 1, sizeof *names);
    ofports = xcalloc(n ? n : 1, sizeof *ofports);
    n = 0;
    for (size_t i = first; i < end; i++) {
        for (size_t j = 0; j < inst->guests[i].n_ifaces; j++) {
            struct instance_iface *f = &inst->guests[i].ifaces[j];
            if (inst->afxdp && strcmp(f->bridge, MGMT_BRIDGE)) {
                ovs_txn_add_port_ext(txn, f->bridge, f->port, "afxdp", 0, "xdp-mode=generic");
            } else {
                ovs_txn_add_port(txn, f->bridge, f->port, "");
            }
            names[n++] = f->port;
        }
    }
    error = ovs_txn_commit(txn);
    if (!error) {
        error = ovs_get_ofports(inst->ovs, names, n, ofports);
    }
    if (!error && inst->switch_rx_cpu >= 0) {
        error = ovs_switch_rx_cpu(inst, first, end);
    }
    if (!error) {
        n = 0;
        for (size_t i = first; i < end; i++) {
            for (size_t j = 0; j < inst->guests[i].n_ifaces; j++) {
                inst->guests[i].ifaces[j].ofport = ofports[n++];
            }
        }
    }
    free(names);
    free(ofports);
    return error;
}

/* A guest added at run time gets its management flows like the others (the whole table is
 * rewritten: it is one bridge's few lines per guest). */
static int
ovs_switch_add_ports(struct instance *inst, size_t first, size_t last)
{
    int error = ovs_switch_wire(inst, first, last, false);

    if (!error) {
        error = instance_isolate_mgmt(inst);
    }
    return error;
}

/* 'ig' is still in inst->guests: its flows go with the rewrite below, which leaves it out. */
static int
ovs_switch_del_ports(struct instance *inst, const struct instance_guest *ig)
{
    struct ovs_txn *txn = ovs_txn_create(inst->ovs);
    int error;

    for (size_t j = 0; j < ig->n_ifaces; j++) {
        ovs_txn_del_port(txn, ig->ifaces[j].bridge, ig->ifaces[j].port);
    }
    error = ovs_txn_commit(txn);
    if (!error) {
        error = instance_isolate_mgmt_except(inst, ig);
    }
    return error;
}

/* The switch's sockets are bound to the devices it opened: a tap QEMU made again under the
 * same name is another device, so its port is deleted and added again. Each asks for its old
 * OpenFlow number, free once the deletion is committed: every rule naming it holds. */
static int
ovs_switch_replug_ports(struct instance *inst, struct instance_guest *ig)
{
    const char **names = xcalloc(ig->n_ifaces + 1, sizeof *names);
    int *ofports = xcalloc(ig->n_ifaces + 1, sizeof *ofports);
    struct ovs_txn *txn = ovs_txn_create(inst->ovs);
    int error;

    for (size_t j = 0; j < ig->n_ifaces; j++) {
        ovs_txn_del_port(txn, ig->ifaces[j].bridge, ig->ifaces[j].port);
    }
    error = ovs_txn_commit(txn);
    if (!error) {
        txn = ovs_txn_create(inst->ovs);
        for (size_t j = 0; j < ig->n_ifaces; j++) {
            struct instance_iface *f = &ig->ifaces[j];
            bool xdp = inst->afxdp && strcmp(f->bridge, MGMT_BRIDGE);

            ovs_txn_add_port_ext(txn, f->bridge, f->port, xdp ? "afxdp" : "",
                                 f->ofport > 0 ? f->ofport : 0,
                                 xdp ? "xdp-mode=generic" : NULL);
            names[j] = f->port;
        }
        error = ovs_txn_commit(txn);
    }
    if (!error) {
        error = ovs_get_ofports(inst->ovs, names, ig->n_ifaces, ofports);
    }
    for (size_t j = 0; !error && j < ig->n_ifaces; j++) {
        if (ofports[j] != ig->ifaces[j].ofport) {
            log_err("%s: port %s came back as OpenFlow port %d, not %d", ig->name,
                    ig->ifaces[j].port, ofports[j], ig->ifaces[j].ofport);
            error = EADDRINUSE;
        }
    }
    if (!error) {
        error = instance_isolate_mgmt(inst);
    }
    free(names);
    free(ofports);
    return error;
}

/* The orchestrator's own address on the management bridge: its local (internal) port. */
static int
ovs_switch_setup_mgmt_port(struct instance *inst)
{
    struct link_ns *host;
    char cidr[32];
    int error;

    error = ovs_switch_host_ns(inst, &host);
    if (error) {
        return error;
    }
    snprintf(cidr, sizeof cidr, "%s/%d", inet_ntoa(inst->orchestrator_addr),
             inst->mgmt_prefix_len);
    error = link_addr_add(host, MGMT_BRIDGE, cidr);
    if (!error) {
        error = link_set_up(host, MGMT_BRIDGE, true);
    }
    if (!error) {
        error = link_set_up(host, "lo", true);
    }
    return error;
}

/* Puts vswitchd's PMD thread(s) at the lowest real-time priority, as the link stage is
 * (vnfs/sfc/link.c). Why: every instance's PMD shares 'pmd_cpu' with other instances' PMDs and
 * whatever else runs there. A busy-polling thread never sleeps, so the scheduler never treats
 * it as woken: a frame that arrives while it is descheduled waits for its next slice.
 * Measured at load 14 with four PMDs on CPU 1, tcpdump on both sides of the switch: 4.7 ms per
 * traversal on average (19 ms at most), against 70 us with this and pmd-maxsleep 100 (0.17 ms
 * at most). A nice of -20 or a 100 us EEVDF slice left a mean of 0.4-1 ms. It costs an idle
 * PMD about 15% of its CPU (wake-ups every 100 us) instead of all of its share; a PMD that
 * gets 16 or more frames per poll stops sleeping, and the kernel's real-time throttling keeps
 * 5% of that CPU for others. The threads exist once the first port is added: wait for them
 * briefly. Without the privilege the PMD stays an ordinary thread (logged, not an error). */
static void
ovs_switch_pmd_realtime(struct instance *inst)
{
    pid_t pids[2];
    int found = 0;

    ovs_daemon_pids(inst->ovs, pids);
    if (!pids[1]) {
        return;
    }
    for (int tries = 0; tries < 100 && !found; tries++) {
        struct proc_task *tasks = NULL;
        size_t n = 0;

        proc_tasks(pids[1], &tasks, &n);
        for (size_t i = 0; i < n; i++) {
            struct sched_param sp = { .sched_priority = 1 };

            if (strncmp(tasks[i].name, "pmd", 3)) {
                continue;
            }
            found++;
            if (sched_setscheduler(tasks[i].tid, SCHED_FIFO, &sp)) {
                log_info("PMD thread %d: no real-time priority (%s): frames will wait for its "
                         "time slices on a busy host", (int) tasks[i].tid, strerror(errno));
            } else {
                inst->pmd_realtime = true;
            }
        }
        free(tasks);
        if (!found) {
            usleep(10000);
        }
    }
    if (!found) {
        log_info("vswitchd %d has no PMD thread after 1 s: left as it is", (int) pids[1]);
    }
}

int
instance_set_pmd_sleep(struct instance *inst, unsigned int us)
{
    char value[16];

    if (!inst->afxdp || !inst->ovs) {
        return ENOTSUP;
    }
    snprintf(value, sizeof value, "%u", us);
    return ovs_set_other_config(inst->ovs, "pmd-maxsleep", value);
}

/* OVS names a PMD thread "pmd-cNN/id:M", NN its CPU. */
bool
instance_pmd_cpu_shared(const struct instance *inst)
{
    pid_t ours[2] = { 0, 0 };
    char prefix[16];
    DIR *proc;
    struct dirent *de;
    bool shared = false;

    if (inst->ovs) {
        ovs_daemon_pids(inst->ovs, ours);
    }
    snprintf(prefix, sizeof prefix, "pmd-c%02d/", inst->pmd_cpu);
    proc = opendir("/proc");
    while (proc && !shared && (de = readdir(proc))) {
        pid_t pid = atoi(de->d_name);
        struct proc_task *tasks = NULL;
        char path[64], *comm = NULL;
        size_t n = 0;

        snprintf(path, sizeof path, "/proc/%d/comm", (int) pid);
        if (pid <= 0 || pid == ours[1] || read_file(path, &comm, NULL)
            || strcmp(comm, "ovs-vswitchd\n")) {
            free(comm);
            continue;
        }
        free(comm);
        proc_tasks(pid, &tasks, &n);
        for (size_t i = 0; i < n && !shared; i++) {
            shared = !strncmp(tasks[i].name, prefix, strlen(prefix));
        }
        free(tasks);
    }
    if (proc) {
        closedir(proc);
    }
    return shared;
}

/* Once the guests are made: their ports go on the bridges in one transaction (the daemons
 * started beside the guests, ovs_switch_create()). */
static int
ovs_switch_start(struct instance *inst, const struct instance_opts *opts)
{
    uint64_t t0 = time_mono_ns();
    int error;

    size_t wired = 0;

    if (!inst->sw_start) {
        ovs_switch_launch(inst, true);
    }
    error = ovs_switch_join(inst, &wired);
    if (!error && (wired < inst->n_guests || !wired)) {    /* !wired: no bridges yet. */
        error = ovs_switch_wire(inst, wired, inst->n_guests, !wired);
    }
    if (error) {
        goto out;
    }
    log_debug("ovs joined: %.1f ms", (time_mono_ns() - t0) / 1e6);
    if (!error && opts->afxdp && opts->pmd_sleep_us) {
        ovs_switch_pmd_realtime(inst);
    }
    log_debug("ovs ports: %.1f ms", (time_mono_ns() - t0) / 1e6);
    if (!error) {
        error = ovs_switch_setup_mgmt_port(inst);
    }
    log_debug("ovs management port: %.1f ms", (time_mono_ns() - t0) / 1e6);
    if (!error) {
        error = instance_isolate_mgmt(inst);
        if (error) {
            log_err("cannot install the management bridge's flows (%s)", strerror(error));
        }
    }
out:
    return error;
}

static int
ovs_switch_open(struct instance *inst)
{
    char *ovs_dir = xasprintf("%s/ovs", inst->dir);
    int error = ovs_open(ovs_dir, &inst->ovs);

    free(ovs_dir);
    if (error) {
        log_err("instance '%s': its Open vSwitch does not answer (%s); `sfclab clean`?",
                inst->name, strerror(error));
    }
    return error;
}

/* The whole instance goes: its namespace, and the devices vswitchd opened in it, with it. */
static void
ovs_switch_stop(struct instance *inst)
{
    ovs_stop_now(inst->ovs);
    inst->ovs = NULL;
}

static int
ovs_switch_flow_mod(struct instance *inst, const char *bridge, const struct of_flow *flow,
                    int command)
{
    struct of_conn *of;
    int error = ovs_openflow(inst->ovs, bridge, &of);

    if (error) {
        return error;
    }
    return (command == OF_FC_ADD ? of_flow_add(of, flow)
            : of_flow_delete(of, flow, command == OF_FC_DELETE_STRICT));
}

static int
ovs_switch_barrier(struct instance *inst, const char *bridge)
{
    struct of_conn *of;
    int error = ovs_openflow(inst->ovs, bridge, &of);

    if (!error) {
        error = of_barrier(of);
        if (error) {
            log_err("%s: OpenFlow: %s", bridge, of_conn_error(of));
        }
    }
    return error;
}

static int
ovs_switch_group_mod(struct instance *inst, const char *bridge, const struct of_group *g,
                     int command)
{
    struct of_conn *of;
    int error = ovs_openflow(inst->ovs, bridge, &of);

    if (error) {
        return error;
    }
    return (command == OF_GC_ADD ? of_group_add(of, g)
            : command == OF_GC_MODIFY ? of_group_modify(of, g)
            : of_group_delete(of, g->group_id));
}

static int
ovs_switch_fdb_flush(struct instance *inst, const char *bridge)
{
    return ovs_fdb_flush(inst->ovs, bridge);
}

static const struct instance_switch switch_ovs = {
    .name = "ovs",
    .create = ovs_switch_create,
    .launch = ovs_switch_launch_thread,
    .guest_made = ovs_switch_guest_made,
    .start = ovs_switch_start,
    .open = ovs_switch_open,
    .host_ns = ovs_switch_host_ns,
    .open_host_ns = ovs_switch_open_host_ns,
    .add_ports = ovs_switch_add_ports,
    .replug_ports = ovs_switch_replug_ports,
    .del_ports = ovs_switch_del_ports,
    .stop = ovs_switch_stop,
    .flow_mod = ovs_switch_flow_mod,
    .barrier = ovs_switch_barrier,
    .group_mod = ovs_switch_group_mod,
    .fdb_flush = ovs_switch_fdb_flush,
};

static int
memory_switch_create(struct instance *inst)
{
    return 0;
}

static int
memory_switch_host_ns(struct instance *inst, struct link_ns **nsp)
{
    *nsp = NULL;
    return 0;
}

/* Port numbers as OVS gives them: per bridge, from 1, never reused while the switch runs. */
static int
memory_switch_add_ports(struct instance *inst, size_t first, size_t last)
{
    for (size_t i = first; i < last; i++) {
        for (size_t j = 0; j < inst->guests[i].n_ifaces; j++) {
            struct instance_iface *f = &inst->guests[i].ifaces[j];
            int max = 0;

            for (size_t k = 0; k < inst->n_guests; k++) {
                for (size_t l = 0; l < inst->guests[k].n_ifaces; l++) {
                    const struct instance_iface *o = &inst->guests[k].ifaces[l];
                    if (!strcmp(o->bridge, f->bridge) && o->ofport > max) {
                        max = o->ofport;
                    }
                }
            }
            f->ofport = max + 1;
        }
    }
    return 0;
}

static int
memory_switch_start(struct instance *inst, const struct instance_opts *opts)
{
    return memory_switch_add_ports(inst, 0, inst->n_guests);
}

static int
memory_switch_del_ports(struct instance *inst, const struct instance_guest *ig)
{
    return 0;
}

static void
memory_switch_stop(struct instance *inst)
{
}

/* Whether every field 'm' matches on, 'f' matches on too, with the same value: the flows a
 * non-strict delete of 'm' removes (OpenFlow 1.3 §6.4). */
static bool
memory_match_covers(const struct of_match *m, const struct of_match *f)
{
    uint32_t fields = m->fields & ~m->implied;

    return ((f->fields & fields) == fields
            && (!(fields & OF_F_IN_PORT) || m->in_port == f->in_port)
            && (!(fields & OF_F_ETH_DST) || !memcmp(m->eth_dst, f->eth_dst, 6))
            && (!(fields & OF_F_ETH_SRC) || !memcmp(m->eth_src, f->eth_src, 6))
            && (!(fields & OF_F_ETH_TYPE) || m->eth_type == f->eth_type)
            && (!(fields & OF_F_IP_PROTO) || m->ip_proto == f->ip_proto)
            && (!(fields & OF_F_IPV4_SRC) || ((f->ipv4_src & m->ipv4_src_mask) == m->ipv4_src
                                              && (f->ipv4_src_mask & m->ipv4_src_mask)
                                                 == m->ipv4_src_mask))
            && (!(fields & OF_F_IPV4_DST) || ((f->ipv4_dst & m->ipv4_dst_mask) == m->ipv4_dst
                                              && (f->ipv4_dst_mask & m->ipv4_dst_mask)
                                                 == m->ipv4_dst_mask))
            && (!(fields & OF_F_UDP_SRC) || m->udp_src == f->udp_src)
            && (!(fields & OF_F_UDP_DST) || m->udp_dst == f->udp_dst)
            && (!(fields & OF_F_NSH_SPI) || m->nsh_spi == f->nsh_spi)
            && (!(fields & OF_F_NSH_SI) || m->nsh_si == f->nsh_si)
            && (!(fields & OF_F_ARP_SPA) || m->arp_spa == f->arp_spa)
            && (!(fields & OF_F_ARP_TPA) || m->arp_tpa == f->arp_tpa));
}

static bool
memory_match_equal(const struct of_match *a, const struct of_match *b)
{
    return memory_match_covers(a, b) && memory_match_covers(b, a);
}

static bool
memory_has_bridge(const struct instance *inst, const char *bridge)
{
    for (size_t i = 0; i < inst->n_bridges; i++) {
        if (!strcmp(inst->bridges[i], bridge)) {
            return true;
        }
    }
    log_err("%s: no such bridge", bridge);
    return false;
}

static struct instance_group *
memory_find_group(struct instance *inst, const char *bridge, uint32_t group_id)
{
    for (size_t i = 0; i < inst->n_groups; i++) {
        if (!strcmp(inst->groups[i].bridge, bridge)
            && inst->groups[i].group->group_id == group_id) {
            return &inst->groups[i];
        }
    }
    return NULL;
}

/* With 'missing': whether 'acts' outputs to a group that 'bridge' does not have (the switch's
 * OFPBAC_BAD_OUT_GROUP). Else: whether it outputs to group 'group_id' (OF_GROUP_ALL: any). */
static bool
memory_actions_reach_group(struct instance *inst, const char *bridge,
                           const struct of_actions *acts, uint32_t group_id, bool missing)
{
    for (size_t i = 0; i < acts->n; i++) {
        if (acts->a[i].type == OF_ACTION_GROUP
            && (missing ? !memory_find_group(inst, bridge, acts->a[i].arg)
                : group_id == OF_GROUP_ALL || acts->a[i].arg == group_id)) {
            return true;
        }
    }
    return false;
}

/* The changes since the last barrier form one batch, as on the `ovs` switch's OpenFlow
 * connection, where a barrier answers for whatever was queued before it. Counted as
 * unserialized: a change or a barrier from another thread than the one whose batch is open
 * (two writers' batches mixed), and a batch still open when the outermost holder of
 * instance_changes_lock() lets go of it (a caller did not hold it across its steps, so another
 * thread's change could have come in between). */
static void
memory_switch_batch(struct instance *inst, bool barrier)
{
    pthread_t self = pthread_self();

    if (inst->batch_open && !pthread_equal(inst->batch_owner, self)) {
        inst->n_interleaved++;
    }
    inst->batch_open = !barrier;
    inst->batch_owner = self;
}

/* As the switch's tables: an add replaces the flow of the same table, priority and match; a
 * delete removes what it covers (strict: the same priority and match). A flow that outputs to
 * a group the bridge does not have is refused, as the switch refuses it. */
static int
memory_switch_flow_mod(struct instance *inst, const char *bridge, const struct of_flow *flow,
                       int command)
{
    bool strict = command != OF_FC_DELETE;
    size_t i, n = 0;

    memory_switch_batch(inst, false);
    if (!memory_has_bridge(inst, bridge)) {
        return ENOENT;
    }
    if (command == OF_FC_ADD
        && memory_actions_reach_group(inst, bridge, &flow->actions, OF_GROUP_ANY, true)) {
        log_err("%s: output to a group that does not exist", bridge);
        return ENOENT;
    }
    for (i = 0; i < inst->n_flows; i++) {
        struct instance_flow *f = &inst->flows[i];
        bool hit = (!strcmp(f->bridge, bridge)
                    && (flow->table_id == OF_TABLE_ALL || f->flow->table_id == flow->table_id)
                    && (!strict || f->flow->priority == flow->priority)
                    && (command == OF_FC_ADD || !flow->cookie_mask
                        || !((f->flow->cookie ^ flow->cookie) & flow->cookie_mask))
                    && (strict ? memory_match_equal(&flow->match, &f->flow->match)
                        : memory_match_covers(&flow->match, &f->flow->match)));
        if (hit) {
            free(f->bridge);
            free(f->flow);
        } else {
            inst->flows[n++] = *f;
        }
    }
    inst->n_flows = n;
    if (command == OF_FC_ADD) {
        inst->flows = xrealloc(inst->flows, (n + 1) * sizeof *inst->flows);
        inst->flows[n].bridge = xstrdup(bridge);
        inst->flows[n].flow = xmalloc(sizeof *flow);
        *inst->flows[n].flow = *flow;
        inst->n_flows++;
    }
    return 0;
}

/* As the switch's group table: an add of an id in use is refused, as is a modify of one not
 * in use; a delete also takes the flows that output to the group (OF_GROUP_ALL: every group
 * of the bridge). */
static int
memory_switch_group_mod(struct instance *inst, const char *bridge, const struct of_group *g,
                        int command)
{
    struct instance_group *found;
    size_t n = 0;

    memory_switch_batch(inst, false);
    if (!memory_has_bridge(inst, bridge)) {
        return ENOENT;
    }
    found = g->group_id == OF_GROUP_ALL ? NULL : memory_find_group(inst, bridge, g->group_id);
    if (command == OF_GC_ADD) {
        if (found) {
            return EEXIST;
        }
        inst->groups = xrealloc(inst->groups, (inst->n_groups + 1) * sizeof *inst->groups);
        inst->groups[inst->n_groups].bridge = xstrdup(bridge);
        inst->groups[inst->n_groups].group = xmalloc(sizeof *g);
        *inst->groups[inst->n_groups].group = *g;
        inst->n_groups++;
        return 0;
    }
    if (command == OF_GC_MODIFY) {
        if (!found) {
            return ENOENT;
        }
        *found->group = *g;
        return 0;
    }
    for (size_t i = 0; i < inst->n_flows; i++) {
        struct instance_flow *f = &inst->flows[i];
        if (!strcmp(f->bridge, bridge)
            && memory_actions_reach_group(inst, bridge, &f->flow->actions, g->group_id, false)) {
            free(f->bridge);
            free(f->flow);
        } else {
            inst->flows[n++] = *f;
        }
    }
    inst->n_flows = n;
    n = 0;
    for (size_t i = 0; i < inst->n_groups; i++) {
        struct instance_group *ig = &inst->groups[i];
        if (!strcmp(ig->bridge, bridge)
            && (g->group_id == OF_GROUP_ALL || ig->group->group_id == g->group_id)) {
            free(ig->bridge);
            free(ig->group);
        } else {
            inst->groups[n++] = *ig;
        }
    }
    inst->n_groups = n;
    return 0;
}

static int
memory_switch_barrier(struct instance *inst, const char *bridge)
{
    memory_switch_batch(inst, true);
    return 0;
}

/* It carries no packets: it learns nothing. */
static int
memory_switch_fdb_flush(struct instance *inst, const char *bridge)
{
    return 0;
}

static const struct instance_switch switch_memory = {
    .name = "memory",
    .create = memory_switch_create,
    .start = memory_switch_start,
    .open = memory_switch_create,
    .host_ns = memory_switch_host_ns,
    .open_host_ns = memory_switch_host_ns,
    .add_ports = memory_switch_add_ports,
    .del_ports = memory_switch_del_ports,
    .stop = memory_switch_stop,
    .flow_mod = memory_switch_flow_mod,
    .barrier = memory_switch_barrier,
    .group_mod = memory_switch_group_mod,
    .fdb_flush = memory_switch_fdb_flush,
};

static const struct instance_switch *const switches[] = { &switch_ovs, &switch_memory };

static const struct instance_switch *
switch_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(switches); i++) {
        if (!strcmp(switches[i]->name, name)) {
            return switches[i];
        }
    }
    return NULL;
}

/* `memory` if every guest's provider keeps its guests in memory, `ovs` if none does; a mix
 * cannot be wired (an in-memory guest has nothing to plug into a real switch). */
static int
switch_choose(const struct topology *topo, const struct instance_switch **swp)
{
    size_t n_memory = 0;

    for (size_t i = 0; i < topo->n_guests; i++) {
        const struct guest_provider *p = guest_provider_find(topo->guests[i].provider);

        if (!p) {
            log_err("guest %s: unknown provider '%s' (expected one of: %s)",
                    topo->guests[i].name, topo->guests[i].provider, guest_provider_names());
            return EINVAL;
        }
        n_memory += p->in_memory;
    }
    if (n_memory && n_memory != topo->n_guests) {
        log_err("in-memory guests (provider test) cannot share an instance with real ones");
        return EINVAL;
    }
    *swp = n_memory ? &switch_memory : &switch_ovs;
    return 0;
}

/* The guest's interfaces' MACs and port names carry an index unique in the instance: the
 * topology's order at `up`, the next unused one for a guest added later. */
static size_t
next_guest_index(const struct instance *inst)
{
    size_t next = 0;

    for (size_t i = 0; i < inst->n_guests; i++) {
        for (size_t j = 0; j < inst->guests[i].n_ifaces; j++) {
            const uint8_t *mac = inst->guests[i].ifaces[j].mac;
            size_t idx = (size_t) mac[2] << 8 | mac[3];
            next = MAX(next, idx + 1);
        }
    }
    return next;
}

/* Impairments of a link just plugged (testbed/infra/shaper.h): tbf and filters in the guest's
 * network namespace, the `sfcd link` stage in the instance's. A guest with no Linux network
 * namespace the host can enter (ENOTSUP: a kvm VM) is shaped from its tap, the host end; an
 * in-memory guest carries no packets and no impairments. 'gns' is opened on first use, for the
 * caller to close. The shaper is not made for threads: one link at a time. */
static int
instance_shape(struct instance *inst, struct instance_guest *ig, struct link_ns *host,
               struct link_ns **gns, const struct instance_iface *f,
               const struct instance_link_spec *l, unsigned int id)
{
    static pthread_mutex_t shaper_mutex = PTHREAD_MUTEX_INITIALIZER;
    static const struct impair bare;
    struct shaper_env env = { inst->manifest, inst->netns_path, inst->sfcd, inst->dir,
                              inst->pin_cpu };
    struct shaper_port port = { ig->name, f->ifname, f->port, id, l->pop_wan };
    int error = 0;

    if (!host) {
        log_debug("%s: %s: no impairments on in-memory guests", ig->name, f->ifname);
        return 0;
    }
    if (!*gns) {
        int fd;

        error = guest_netns_fd(ig->guest, &fd);
        if (!error) {
            error = link_ns_open(fd, gns);
            close(fd);
        } else if (error == ENOTSUP) {
            error = 0;          /* A VM: shaped from its tap, the host end (shaper.c). */
        }
        if (error) {
            log_err("%s: %s: cannot impair the link (%s)", ig->name, f->ifname,
                    strerror(error));
            return error;
        }
    }
    pthread_mutex_lock(&shaper_mutex);
    error = shaper_apply(&env, host, *gns, &port, l->impair ? l->impair : &bare, NULL);
    pthread_mutex_unlock(&shaper_mutex);
    return error;
}

/* Creates and starts guest 'ig' of 'inst' from 'spec', and plugs in its interfaces
 * (management first, then its data links in order) through 'host' (NULL: the instance's). */
static int
instance_make_guest(struct instance *inst, struct instance_guest *ig,
                    const struct instance_guest_spec *spec, size_t idx, struct link_ns *host)
{
    char agent_listen[48];
    char *agent_dir = xasprintf("%s/guests/%s", inst->dir, spec->name);
    char *staging = xasprintf("%s/root", inst->dir);
    char *init_args[] = { "agent", "--listen", agent_listen, "--dir", agent_dir,
                          "--key-fd", "3", NULL };
    uint8_t key[INSTANCE_KEY_BYTES];
    struct guest_config cfg = {
        .name = spec->name,
        .cpus = spec->cpus,
        .cpu_period_us = spec->cpu_period_us,
        .memory = spec->memory,
        .instance = inst->name,
        .sfcd = inst->sfcd,
        .init_args = inst->agents ? init_args : NULL,
        /* A dead agent comes back (with its key), and says how often it did. */
        .init_restart = inst->agents,
        .init_secret = key,
        .private_dir = agent_dir,
        .staging_dir = staging,
        .savable = spec->savable,
    };
    char *log_dir = xasprintf("%s/guests", inst->dir);
    size_t n_planned = 1 + spec->n_links;
    struct guest_iface *planned = xcalloc(n_planned, sizeof *planned);
    struct link_ns *gns = NULL;
    uint64_t t = time_mono_ns();
    int error;

    /* The management address only, bound to the management interface (eth0): the agent
     * answers nothing that comes from the data network. */
    snprintf(agent_listen, sizeof agent_listen, "%s%%eth0:%d", inet_ntoa(spec->mgmt_addr),
             INSTANCE_AGENT_PORT);
    instance_guest_key(inst, spec->name, key);
    cfg.run_dir = log_dir;
    ig->name = xstrdup(spec->name);
    ig->provider = xstrdup(spec->provider ? spec->provider : GUEST_PROVIDER_DEFAULT);
    ig->mgmt_addr = spec->mgmt_addr;
    ig->ifaces = xcalloc(n_planned, sizeof *ig->ifaces);
    /* Its interfaces, management first, then its data links in order: known before it is
     * created, so that a provider can make them at start (cfg.ifaces). ig->n_ifaces counts
     * those plugged. */
    for (size_t k = 0; k < n_planned; k++) {
        const struct instance_link_spec *l = k ? &spec->links[k - 1] : NULL;
        struct instance_iface *f = &ig->ifaces[k];

        f->ifname = xasprintf("eth%zu", k);
        f->port = host_port_name(spec->name, idx, f->ifname);
        f->bridge = xstrdup(l ? l->bridge : MGMT_BRIDGE);
        make_mac(f->mac, inst->name, idx, k);
        f->has_addr = l ? l->has_addr : true;
        f->addr = l ? l->addr : spec->mgmt_addr;
        f->prefix_len = l ? l->prefix_len : inst->mgmt_prefix_len;
        f->ofport = -1;
        planned[k] = (struct guest_iface) {
            .ifname = f->ifname, .port = f->port, .mac = f->mac, .has_addr = f->has_addr,
            .addr = f->addr, .prefix_len = f->prefix_len,
        };
    }
    cfg.ifaces = planned;
    cfg.n_ifaces = n_planned;
    /* The agent keeps its roles' logs, sockets and outputs there. */
    error = manifest_make_tree(inst->manifest, agent_dir);
    if (error) {
        log_err("%s: %s", agent_dir, strerror(error));
        goto out;
    }
    up_phase_end(UP_TREE, &t);
    error = guest_create(ig->provider, &cfg, inst->manifest, &ig->guest);
    if (error) {
        log_err("%s: cannot create guest (%s)", spec->name, strerror(error));
        goto out;
    }
    {
        /* The provider writes the guest's log there: ours to remove. */
        char *log = xasprintf("%s/%s.log", log_dir, spec->name);
        error = manifest_record_file(inst->manifest, log);
        free(log);
    }
    up_phase_end(UP_CREATE, &t);
    if (!error) {
        error = guest_start(ig->guest);
    }
    if (!error && inst->pin_cpu >= 0) {
        error = guest_pin(ig->guest, inst->pin_cpu);
    }
    if (error) {
        log_err("%s: cannot start guest (%s)", spec->name, strerror(error));
        goto out;
    }
    up_phase_end(UP_START, &t);
    if (!host) {
        error = inst->sw->host_ns(inst, &host);
        if (error) {
            goto out;
        }
    }
    for (size_t li = SIZE_MAX; li == SIZE_MAX || li < spec->n_links; li++) {
        const struct instance_link_spec *l = li == SIZE_MAX ? NULL : &spec->links[li];
        struct instance_iface *f = &ig->ifaces[ig->n_ifaces];

        error = guest_plug_iface(ig->guest, host, &planned[ig->n_ifaces++]);
        if (!error && l && ((l->impair && !impair_is_zero(l->impair)) || l->pop_wan)) {
            error = instance_shape(inst, ig, host, &gns, f, l, idx * 16 + li);
        }
        if (error) {
            log_err("%s: cannot set up %s (%s)", spec->name, f->ifname, strerror(error));
            goto out;
        }
    }
    up_phase_end(UP_PLUG, &t);
out:
    /* What was planned but never plugged is not the guest's. */
    for (size_t k = ig->n_ifaces; ig->ifaces && k < n_planned; k++) {
        struct instance_iface *f = &ig->ifaces[k];
        free(f->ifname);
        free(f->port);
        free(f->bridge);
        memset(f, 0, sizeof *f);
    }
    free(planned);
    sodium_memzero(key, sizeof key);
    link_ns_close(gns);
    free(log_dir);
    free(agent_dir);
    free(staging);
    return error;
}

#define UP_THREADS 4

struct up_ctx {
    struct instance *inst;
    const struct topology *topo;
    atomic_size_t next;         /* The next guest to make. */
    atomic_int error;           /* The first failure: everybody stops. */
};

static void *
up_make_guests(void *ctx_)
{
    struct up_ctx *ctx = ctx_;
    struct instance *inst = ctx->inst;
    const struct topology *topo = ctx->topo;
    struct instance_link_spec *links = xcalloc(topo->n_links + 1, sizeof *links);
    struct link_ns *host = NULL;
    int error = inst->sw->open_host_ns(inst, &host);

    while (!error && !atomic_load(&ctx->error) && !interrupted) {
        size_t i = atomic_fetch_add(&ctx->next, 1);
        const struct topo_guest *tg = &topo->guests[i];
        struct instance_guest_spec spec;

        if (i >= topo->n_guests) {
            break;
        }
        spec = (struct instance_guest_spec) {
            .name = tg->name, .provider = tg->provider, .cpus = tg->cpus,
            .cpu_period_us = tg->cpu_period_us, .memory = tg->memory,
            .mgmt_addr = tg->mgmt_addr, .links = links,
            .savable = tg->savable,
        };
        for (size_t li = 0; li < topo->n_links; li++) {
            const struct topo_link *tl = &topo->links[li];
            if (tl->guest == i) {
                links[spec.n_links++] = (struct instance_link_spec) {
                    .bridge = topo->bridges[tl->bridge].name, .has_addr = tl->has_addr,
                    .addr = tl->addr, .prefix_len = tl->prefix_len, .impair = &tl->impair,
                    .pop_wan = tl->pop_wan,
                };
            }
        }
        error = instance_make_guest(inst, &inst->guests[i], &spec, i, host);
        if (!error && inst->sw->guest_made) {
            inst->sw->guest_made(inst, i);
        }
    }
    if (error) {
        int none = 0;
        atomic_compare_exchange_strong(&ctx->error, &none, error);
    }
    link_ns_close(host);
    free(links);
    return NULL;
}

int
instance_up(const struct instance_opts *opts, const struct topology *topo,
            struct instance **instp)
{
    uint64_t t0 = time_mono_ns();
    struct instance *inst = instance_alloc();
    int lock_fd = -1;
    char *path = NULL, *log_dir = NULL;
    char *yaml = NULL;
    int error;

    inst->name = xstrdup(opts->name);
    inst->dir = instance_dir(opts->state_dir, opts->name);
    inst->sfcd = opts->sfcd ? xstrdup(opts->sfcd) : default_sfcd();
    inst->orchestrator_addr = topo->orchestrator_addr;
    inst->mgmt_prefix_len = topo->mgmt_prefix_len;
    inst->agents = opts->agents;
    inst->pin_cpu = opts->pin ? opts->pin_cpu : -1;
    inst->afxdp = opts->afxdp;
    inst->pmd_sleep_us = opts->pmd_sleep_us;
    inst->pmd_cpu = opts->pmd_cpu;
    inst->switch_rx_cpu = opts->afxdp && opts->switch_rx ? opts->pmd_cpu : -1;
    if (!instance_name_ok(opts->name)) {
        log_err("instance name '%s' must be 1 to 32 of [a-z0-9_-]", opts->name);
        error = EINVAL;
        goto out_free;
    }
    error = switch_choose(topo, &inst->sw);
    if (error) {
        goto out_free;
    }
    if (access(inst->sfcd, X_OK) && inst->sw != &switch_memory) {
        log_err("%s: not executable (%s); run make first", inst->sfcd, strerror(errno));
        error = ENOENT;
        goto out_free;
    }
    if (opts->state_dir && mkdir(opts->state_dir, 0755) && errno != EEXIST) {
        error = errno;
        log_err("%s: %s", opts->state_dir, strerror(error));
        goto out_free;
    }
    if (!opts->state_dir) {
        mkdir("/run/sfclab", 0755);
    }
    /* The instance is whoever makes its directory: mkdir is atomic, so of two `up` at once
     * exactly one goes on, and the other touches nothing (not even the winner's manifest). The
     * winner then holds the instance's lock until it is done, which `clean` and `down`
     * respect. */
    if (mkdir(inst->dir, 0755)) {
        error = errno;
        if (error == EEXIST) {
            log_err("instance '%s' already exists or is being brought up (sfclab down, or "
                    "sfclab clean if it crashed)", inst->name);
        } else {
            log_err("%s: %s", inst->dir, strerror(error));
        }
        goto out_free;
    }
    error = instance_lock(inst->dir, true, &lock_fd);
    if (error) {
        log_err("%s: cannot lock (%s)", inst->dir, strerror(error));
        instance_unlock_remove(inst->dir, lock_fd);
        lock_fd = -1;
        rmdir(inst->dir);
        goto out_free;
    }
    error = manifest_open(inst->dir, &inst->manifest);
    if (!error) {
        /* manifest_open() found the directory there: it is ours to remove all the same. */
        error = manifest_record_dir(inst->manifest, inst->dir);
    }
    if (!error) {
        char *lock = xasprintf("%s/lock", inst->dir);
        error = manifest_record_file(inst->manifest, lock);
        free(lock);
    }
    if (error) {
        log_err("%s: cannot create the instance's manifest (%s)", inst->dir, strerror(error));
        if (inst->manifest) {
            goto out_undo;
        }
        rmdir(inst->dir);
        goto out_free;
    }
    error = instance_make_key(inst);
    if (error) {
        log_err("%s: cannot make the instance's key (%s)", inst->dir, strerror(error));
        goto out_undo;
    }
    if (inst->switch_rx_cpu >= 0) {
        /* The VNFs' frames to the switch now queue on one CPU's backlog, where 1000 (the
         * kernel's default) dropped bursts of a chain (session 29, when every guest's did):
         * frames to a VNF lost, sent again a window at a time. */
        error = manifest_set_param(inst->manifest, INSTANCE_BACKLOG_PARAM,
                                   INSTANCE_SWITCH_RX_BACKLOG);
        if (error) {
            log_err("switch rx: %s: %s", INSTANCE_BACKLOG_PARAM,
                    error == EBUSY ? "another instance set it to another value"
                    : strerror(error));
            goto out_undo;
        }
    }
    if (opts->halt_poll_us) {
        char ns[24];

        snprintf(ns, sizeof ns, "%llu", opts->halt_poll_us * 1000ULL);
        error = manifest_set_param(inst->manifest, INSTANCE_HALT_POLL_PARAM, ns);
        if (error) {
            log_err("halt polling: %s: %s", INSTANCE_HALT_POLL_PARAM,
                    error == ENOENT ? "not here (the idle driver is not a KVM guest's haltpoll)"
                    : error == EBUSY ? "another instance set it to another value"
                    : strerror(error));
            goto out_undo;
        }
    }

    /* From here on, every failure undoes the manifest. */
    free(path);
    path = xasprintf("%s/topology.yaml", inst->dir);
    if (topo->file && !read_file(topo->file, &yaml, NULL)) {
        FILE *f;
        error = manifest_record_file(inst->manifest, path);
        if (!error && (f = fopen(path, "w"))) {
            fputs(yaml, f);
            fclose(f);
        }
    }
    log_dir = xasprintf("%s/guests", inst->dir);
    if (!error) {
        error = manifest_record_dir(inst->manifest, log_dir);
    }
    if (!error && mkdir(log_dir, 0755)) {
        error = errno;
    }
    /* Guests write there (their agent directories, their logs): a tmpfs, whose pages are
     * charged to the memory cgroup of the guest that writes them, so that no guest can fill
     * the host's disk, and from which nothing can be executed. */
    if (!error) {
        error = manifest_record_mount(inst->manifest, log_dir);
    }
    if (!error && mount("sfclab-guests", log_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                        "size=" INSTANCE_GUESTS_SIZE ",mode=0755")) {
        error = errno;
    }
    if (!error) {
        /* Where each confined guest builds its root (in its own mount namespace): empty. */
        char *staging = xasprintf("%s/root", inst->dir);
        error = manifest_make_tree(inst->manifest, staging);
        free(staging);
    }
    if (error) {
        goto out_undo;
    }

    log_debug("state directory: %.1f ms", (time_mono_ns() - t0) / 1e6);
    error = inst->sw->create(inst);
    log_debug("switch created: %.1f ms", (time_mono_ns() - t0) / 1e6);
    if (error) {
        goto out_undo;
    }
    if (interrupted) {
        error = EINTR;
        goto out_undo;
    }

    inst->bridges = xcalloc(topo->n_bridges + 1, sizeof *inst->bridges);
    for (size_t i = 0; i < topo->n_bridges; i++) {
        inst->bridges[inst->n_bridges++] = xstrdup(topo->bridges[i].name);
    }
    inst->bridges[inst->n_bridges++] = xstrdup(MGMT_BRIDGE);

    /* A few threads side by side: making a guest is mostly waiting (for its init to exec,
     * for the kernel to make its namespaces), and the waits overlap. */
    inst->guests = xcalloc(topo->n_guests ? topo->n_guests : 1, sizeof *inst->guests);
    inst->n_guests = topo->n_guests;
    {
        struct up_ctx ctx = { .inst = inst, .topo = topo };
        pthread_t threads[UP_THREADS];
        size_t n_threads = 0;

        atomic_init(&ctx.next, 0);
        atomic_init(&ctx.error, 0);
        if (inst->sw->launch) {
            inst->sw->launch(inst);
        }
        while (n_threads < UP_THREADS && (n_threads + 1) * 2 < topo->n_guests
               && !pthread_create(&threads[n_threads], NULL, up_make_guests, &ctx)) {
            n_threads++;
        }
        up_make_guests(&ctx);
        for (size_t i = 0; i < n_threads; i++) {
            pthread_join(threads[i], NULL);
        }
        error = atomic_load(&ctx.error);
        if (error || interrupted) {
            error = error ? error : EINTR;
            goto out_undo;
        }
    }
    if (topo->n_wans) {
        struct shaper_env env = { inst->manifest, inst->netns_path, inst->sfcd, inst->dir,
                                  opts->pin ? opts->pin_cpu : -1 };
        error = shaper_apply_pops(&env, inst, topo);    /* Every guest's MAC is known now. */
        if (error) {
            goto out_undo;
        }
    }
    log_debug("guests and links: %.1f ms", (time_mono_ns() - t0) / 1e6);
    for (int p = 0; p < UP_N_PHASES; p++) {
        log_debug("  %-24s %8.1f ms", up_phase_names[p], up_phase_ns[p] / 1e6);
    }
    error = inst->sw->start(inst, opts);
    log_debug("switch started: %.1f ms", (time_mono_ns() - t0) / 1e6);
    if (!error) {
        char *json = xasprintf("%s/instance.json", inst->dir);
        char *tmp = xasprintf("%s.tmp", json);
        error = manifest_record_file(inst->manifest, json);
        if (!error) {
            error = manifest_record_file(inst->manifest, tmp);
        }
        if (!error) {
            error = instance_save(inst);
        }
        free(json);
        free(tmp);
    }
    if (error || interrupted) {
        error = error ? error : EINTR;
        goto out_undo;
    }
    inst->up_ms = (time_mono_ns() - t0) / 1e6;
    *instp = inst;
    inst = NULL;
    goto out_free;

out_undo:
    if (interrupted) {
        /* What failed after a Ctrl-C failed because of it: the daemons in our process group
         * got the signal too (a "connection timed out" from a dead ovsdb-server is that). */
        error = EINTR;
    }
    if (error == EINTR) {
        log_err("interrupted: undoing what was made");
    }
    ovs_switch_join(inst, NULL);
    if (inst->ovs) {
        ovs_close(inst->ovs);
        inst->ovs = NULL;
    }
    /* Destroyed through their providers first (the manifest knows only what is on the host:
     * not an in-memory guest); our sockets in their namespaces go with them. */
    for (size_t i = 0; i < inst->n_guests; i++) {
        guest_destroy(inst->guests[i].guest);
        inst->guests[i].guest = NULL;
        guest_uninit(&inst->guests[i]);
    }
    inst->n_guests = 0;
    link_ns_close(inst->host);
    inst->host = NULL;
    manifest_close(inst->manifest);
    inst->manifest = NULL;
    if (manifest_undo(inst->dir, opts->verbose)) {
        log_err("could not undo everything: run `sfclab clean -i %s`", inst->name);
    }
out_free:
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    instance_close(inst);
    free(path);
    free(log_dir);
    free(yaml);
    return error;
}

static int
parse_mac(const char *s, uint8_t mac[6])
{
    unsigned int b[6];

    if (!s || sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) {
        return EINVAL;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = b[i];
    }
    return 0;
}

int
instance_open(const struct instance_opts *opts, struct instance **instp)
{
    struct instance *inst = instance_alloc();
    char *path = NULL, *guests_dir = NULL;
    json_error_t jerr;
    json_t *root = NULL, *guests, *bridges, *g;
    const char *sw;
    size_t i;
    int error = 0;

    inst->name = xstrdup(opts->name);
    inst->dir = instance_dir(opts->state_dir, opts->name);
    path = xasprintf("%s/instance.json", inst->dir);
    root = json_load_file(path, 0, &jerr);
    if (!root) {
        error = access(path, F_OK) ? ENOENT : EINVAL;
        if (error == ENOENT) {
            log_err("no instance '%s' is up (see `sfclab up`)", inst->name);
        } else {
            log_err("%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        }
        goto out;
    }
    sw = json_string_value(json_object_get(root, "switch")) ?: "ovs";
    inst->sw = switch_find(sw);
    if (!inst->sw) {
        log_err("%s: unknown switch '%s'", path, sw);
        error = EINVAL;
        goto out;
    }
    if (json_string_value(json_object_get(root, "netns"))) {
        inst->netns_path = xstrdup(json_string_value(json_object_get(root, "netns")));
    }
    inst->sfcd = xstrdup(json_string_value(json_object_get(root, "sfcd")) ?: "sfcd");
    inet_aton(json_string_value(json_object_get(root, "orchestrator")) ?: "0.0.0.0",
              &inst->orchestrator_addr);
    inst->mgmt_prefix_len = json_integer_value(json_object_get(root, "mgmt_prefix"));
    inst->agents = json_is_true(json_object_get(root, "agents"));
    inst->pin_cpu = json_object_get(root, "pin_cpu")
                    ? json_integer_value(json_object_get(root, "pin_cpu")) : -1;
    inst->afxdp = json_is_true(json_object_get(root, "afxdp"));
    inst->pmd_sleep_us = json_integer_value(json_object_get(root, "pmd_sleep_us"));
    inst->pmd_realtime = !strcmp(json_string_value(json_object_get(root, "pmd_sched")) ?: "",
                                 "fifo");
    inst->switch_rx_cpu = json_object_get(root, "switch_rx_cpu")
                          ? json_integer_value(json_object_get(root, "switch_rx_cpu")) : -1;
    bridges = json_object_get(root, "bridges");
    inst->bridges = xcalloc(json_array_size(bridges) + 1, sizeof *inst->bridges);
    json_array_foreach(bridges, i, g) {
        inst->bridges[inst->n_bridges++] = xstrdup(json_string_value(g) ?: "");
    }
    if (instance_load_key(inst)) {
        log_warn("%s/key: unreadable: the agents will refuse us", inst->dir);
    }
    guests = json_object_get(root, "guests");
    /* As instance_up() gave it: providers find the instance's other state beside it. */
    guests_dir = xasprintf("%s/guests", inst->dir);
    inst->guests = xcalloc(json_array_size(guests) + 1, sizeof *inst->guests);
    json_array_foreach(guests, i, g) {
        struct instance_guest *ig = &inst->guests[inst->n_guests++];
        json_t *ifaces = json_object_get(g, "ifaces"), *jf;
        struct guest_config cfg = {
            .name = json_string_value(json_object_get(g, "name")),
            .cpus = json_number_value(json_object_get(g, "cpus")),
            .cpu_period_us = json_integer_value(json_object_get(g, "cpu_period_us")),
            .memory = json_integer_value(json_object_get(g, "memory")),
            .instance = inst->name,
            .sfcd = inst->sfcd,
            .run_dir = guests_dir,
        };
        char *agent_dir = xasprintf("%s/guests/%s", inst->dir, cfg.name ?: "");
        char *staging = xasprintf("%s/root", inst->dir);
        uint8_t agent_key[INSTANCE_KEY_BYTES];
        size_t j;

        /* Confined: what `exec` starts there gets no more than the guest's init. */
        cfg.private_dir = agent_dir;
        cfg.staging_dir = staging;
        /* Its agent's key: a provider that reaches the guest only through its agent (kvm's
         * exec) must authenticate like the orchestrator. */
        if (inst->has_key && cfg.name) {
            instance_guest_key(inst, cfg.name, agent_key);
            cfg.init_secret = agent_key;
        }

        ig->name = xstrdup(cfg.name ?: "");
        ig->provider = xstrdup(json_string_value(json_object_get(g, "provider")) ?: GUEST_PROVIDER_DEFAULT);
        inet_aton(json_string_value(json_object_get(g, "mgmt")) ?: "0.0.0.0", &ig->mgmt_addr);
        ig->ifaces = xcalloc(json_array_size(ifaces) + 1, sizeof *ig->ifaces);
        json_array_foreach(ifaces, j, jf) {
            struct instance_iface *f = &ig->ifaces[ig->n_ifaces++];
            const char *addr = json_string_value(json_object_get(jf, "addr"));

            f->ifname = xstrdup(json_string_value(json_object_get(jf, "ifname")) ?: "");
            f->port = xstrdup(json_string_value(json_object_get(jf, "port")) ?: "");
            f->bridge = xstrdup(json_string_value(json_object_get(jf, "bridge")) ?: "");
            parse_mac(json_string_value(json_object_get(jf, "mac")), f->mac);
            f->has_addr = addr && inet_aton(addr, &f->addr);
            f->prefix_len = json_integer_value(json_object_get(jf, "prefix"));
            f->ofport = json_integer_value(json_object_get(jf, "ofport"));
        }
        error = guest_attach(ig->provider, &cfg,
                             json_string_value(json_object_get(g, "handle")), &ig->guest);
        free(agent_dir);
        free(staging);
        sodium_memzero(agent_key, sizeof agent_key);
        if (error == ESRCH) {
            /* Destroyed since (a crash injected on purpose): the rest still works. */
            ig->guest = NULL;
            error = 0;
        } else if (error) {
            log_err("%s: cannot find guest %s again (%s)", path, ig->name, strerror(error));
            goto out;
        }
    }
    error = manifest_open(inst->dir, &inst->manifest);
    if (!error) {
        error = inst->sw->open(inst);
    }
out:
    if (error) {
        instance_close(inst);
    } else {
        *instp = inst;
    }
    json_decref(root);
    free(guests_dir);
    free(path);
    return error;
}

/* The lowest address of the management subnet above every one in use, below the
 * orchestrator's (the subnet's last). */
static int
next_mgmt_addr(const struct instance *inst, struct in_addr *addrp)
{
    uint32_t next = 0, top = ntohl(inst->orchestrator_addr.s_addr);

    for (size_t i = 0; i < inst->n_guests; i++) {
        next = MAX(next, ntohl(inst->guests[i].mgmt_addr.s_addr) + 1);
    }
    if (!next || next >= top) {
        return ENOSPC;
    }
    addrp->s_addr = htonl(next);
    return 0;
}

static int
add_guest(struct instance *inst, const struct instance_guest_spec *spec_)
{
    struct instance_guest_spec spec = *spec_;
    struct instance_guest *ig;
    const struct guest_provider *p;
    bool ports = false;
    size_t idx;
    int error;

    if (instance_find_guest(inst, spec.name)) {
        log_err("instance '%s' already has a guest '%s'", inst->name, spec.name);
        return EEXIST;
    }
    p = guest_provider_find(spec.provider ? spec.provider : GUEST_PROVIDER_DEFAULT);
    if (!p || p->in_memory != (inst->sw == &switch_memory)) {
        log_err("guest %s: provider '%s' cannot join instance '%s' (switch %s)", spec.name,
                spec.provider ? spec.provider : GUEST_PROVIDER_DEFAULT, inst->name, inst->sw->name);
        return EINVAL;
    }
    for (size_t i = 0; i < spec.n_links; i++) {
        bool known = false;
        for (size_t b = 0; b < inst->n_bridges; b++) {
            known |= !strcmp(inst->bridges[b], spec.links[i].bridge);
        }
        if (!known || !strcmp(spec.links[i].bridge, MGMT_BRIDGE)) {
            log_err("guest %s: instance '%s' has no data bridge '%s'", spec.name, inst->name,
                    spec.links[i].bridge);
            return ENOENT;
        }
    }
    if (!spec.mgmt_addr.s_addr) {
        error = next_mgmt_addr(inst, &spec.mgmt_addr);
        if (error) {
            log_err("guest %s: no management address is left", spec.name);
            return error;
        }
    }
    idx = next_guest_index(inst);
    inst->guests = xrealloc(inst->guests, (inst->n_guests + 1) * sizeof *inst->guests);
    ig = &inst->guests[inst->n_guests++];
    memset(ig, 0, sizeof *ig);
    error = instance_make_guest(inst, ig, &spec, idx, NULL);
    if (!error) {
        error = inst->sw->add_ports(inst, inst->n_guests - 1, inst->n_guests);
        ports = !error;
    }
    if (!error) {
        error = instance_save(inst);
    }
    if (error) {
        remove_guest(inst, &inst->guests[inst->n_guests - 1], ports);
        instance_save(inst);
    }
    return error;
}

/* Destroys guest 'ig' and takes it out of the instance; 'ports': its ports are on the switch. */
static int
remove_guest(struct instance *inst, struct instance_guest *ig, bool ports)
{
    char *agent_dir = xasprintf("%s/guests/%s", inst->dir, ig->name);
    int error = 0, error2;

    /* Off the switch first: vswitchd would otherwise keep polling a port whose device is
     * going away. */
    if (ports) {
        error = inst->sw->del_ports(inst, ig);
    }
    if (ig->guest) {
        guest_stop(ig->guest, 200 * 1000 * 1000);
        error2 = guest_destroy(ig->guest);
        ig->guest = NULL;
        error = error ? error : error2;
    }
    /* The manifest keeps its line: undo finds the tree gone. */
    error2 = manifest_remove_tree(agent_dir);
    error = error ? error : error2;
    free(agent_dir);
    guest_uninit(ig);
    memmove(ig, ig + 1, (inst->guests + inst->n_guests - (ig + 1)) * sizeof *ig);
    inst->n_guests--;
    return error;
}

static int
remove_guest_named(struct instance *inst, const char *name)
{
    struct instance_guest *ig = instance_find_guest(inst, name);
    int error, error2;

    if (!ig) {
        log_err("instance '%s' has no guest '%s'", inst->name, name);
        return ENOENT;
    }
    error = remove_guest(inst, ig, true);
    error2 = instance_save(inst);
    return error ? error : error2;
}

/* The guest's index among the instance's: what its MACs and port names carry. */
static size_t
guest_index(const struct instance_guest *ig)
{
    const uint8_t *mac = ig->n_ifaces ? ig->ifaces[0].mac : NULL;

    return mac ? (size_t) mac[2] << 8 | mac[3] : 0;
}

static int
replace_guest(struct instance *inst, const char *name, const char *new_name, double cpus,
              uint64_t cpu_period_us, uint64_t memory)
{
    struct instance_guest *ig = instance_find_guest(inst, name), fresh, old;
    struct instance_link_spec *links = NULL;
    struct instance_guest_spec spec;
    size_t slot, idx;
    int error;

    if (!ig) {
        log_err("instance '%s' has no guest '%s'", inst->name, name);
        return ENOENT;
    }
    if (instance_find_guest(inst, new_name)) {
        log_err("instance '%s' already has a guest '%s'", inst->name, new_name);
        return EEXIST;
    }
    slot = ig - inst->guests;
    idx = guest_index(ig);
    links = xcalloc(ig->n_ifaces ? ig->n_ifaces : 1, sizeof *links);
    spec = (struct instance_guest_spec) {
        .name = new_name, .provider = ig->provider, .cpus = cpus,
        .cpu_period_us = cpu_period_us, .memory = memory, .mgmt_addr = ig->mgmt_addr,
        .links = links,
    };
    for (size_t j = 1; j < ig->n_ifaces; j++) {
        links[spec.n_links++] = (struct instance_link_spec) {
            .bridge = ig->ifaces[j].bridge, .has_addr = ig->ifaces[j].has_addr,
            .addr = ig->ifaces[j].addr, .prefix_len = ig->ifaces[j].prefix_len,
        };
    }
    /* Fenced first: whatever is left of the old one must not answer on its addresses. */
    if (ig->guest) {
        guest_stop(ig->guest, 200 * 1000 * 1000);
        guest_destroy(ig->guest);
        __atomic_store_n(&ig->guest, NULL, __ATOMIC_RELEASE);
    }
    uint64_t phases[UP_N_PHASES];
    memcpy(phases, up_phase_ns, sizeof phases);
    memset(&fresh, 0, sizeof fresh);
    error = instance_make_guest(inst, &fresh, &spec, idx, NULL);
    for (int p = 0; p < UP_N_PHASES; p++) {
        log_debug("%s: %-24s %8.1f ms", new_name, up_phase_names[p],
                  (up_phase_ns[p] - phases[p]) / 1e6);
    }
    if (error) {
        guest_destroy(fresh.guest);
        fresh.guest = NULL;
        guest_uninit(&fresh);
        goto out;
    }
    /* Into the old one's place, field by field: other threads hold 'ig' (deployments,
     * injectors) and may read it now. What the old one owned stays allocated until the
     * instance is closed. */
    old = *ig;
    __atomic_store_n(&ig->ifaces, fresh.ifaces, __ATOMIC_RELEASE);
    __atomic_store_n(&ig->n_ifaces, fresh.n_ifaces, __ATOMIC_RELEASE);
    __atomic_store_n(&ig->provider, fresh.provider, __ATOMIC_RELEASE);
    __atomic_store_n(&ig->guest, fresh.guest, __ATOMIC_RELEASE);
    __atomic_store_n(&ig->name, fresh.name, __ATOMIC_RELEASE);
    old.guest = NULL;
    inst->replaced = xrealloc(inst->replaced, (inst->n_replaced + 1) * sizeof *inst->replaced);
    inst->replaced[inst->n_replaced++] = old;
    uint64_t t = time_mono_ns();
    error = inst->sw->add_ports(inst, slot, slot + 1);
    log_debug("%s: ports on the switch in %.1f ms", new_name, (time_mono_ns() - t) / 1e6);
    /* The old ports (other names) only now: the new guest's are what recovery waits for. */
    if (!error) {
        t = time_mono_ns();
        error = inst->sw->del_ports(inst, &inst->replaced[inst->n_replaced - 1]);
        log_debug("%s: old ports off the switch in %.1f ms", name, (time_mono_ns() - t) / 1e6);
    }
    if (!error) {
        error = instance_save(inst);
    }
    if (error) {
        log_err("%s: the new guest %s is not wired (%s)", name, new_name, strerror(error));
    }
out:
    free(links);
    return error;
}

/* Teardown: the switch first, killed outright (ovs_stop_now: a graceful exit --cleanup closes
 * its ports one at a time, 0.9 s for star32's 64), and only then the guests, a few threads
 * over them, each killed outright. In that order because a vswitchd killed while the guests'
 * namespaces (and so the veths its sockets are bound to) are being torn down takes up to 0.6 s
 * to exit instead of 4 ms: both wait on the kernel's device teardown. Each thread touches only
 * its own guests; nothing here records into the manifest. */
#define DOWN_STOP_THREADS 32

struct down_ctx {
    struct instance *inst;
    atomic_size_t next_guest;
};

static void *
down_stop_guests(void *ctx_)
{
    struct down_ctx *ctx = ctx_;

    for (;;) {
        size_t i = atomic_fetch_add(&ctx->next_guest, 1);

        if (i >= ctx->inst->n_guests) {
            return NULL;
        }
        if (ctx->inst->guests[i].guest) {
            /* Killed outright, as the switch: the instance goes with all it holds, so nothing
             * a role would write on a polite stop outlives it. */
            guest_destroy(ctx->inst->guests[i].guest);
            ctx->inst->guests[i].guest = NULL;
        }
    }
}

int
instance_down(struct instance *inst)
{
    pthread_t threads[DOWN_STOP_THREADS];
    struct down_ctx ctx = { .inst = inst };
    size_t n_threads = 0;
    uint64_t t0 = time_mono_ns();
    char *dir = xstrdup(inst->dir);
    int error;

    /* Guests get SIGTERM. The manifest then undoes whatever is left, exactly as `clean`
     * would. A thread that cannot start leaves its work to this one. */
    inst->sw->stop(inst);
    log_debug("switch stopped: %.1f ms", (time_mono_ns() - t0) / 1e6);
    atomic_init(&ctx.next_guest, 0);
    while (n_threads < DOWN_STOP_THREADS && n_threads + 1 < inst->n_guests
           && !pthread_create(&threads[n_threads], NULL, down_stop_guests, &ctx)) {
        n_threads++;
    }
    down_stop_guests(&ctx);
    for (size_t i = 0; i < n_threads; i++) {
        pthread_join(threads[i], NULL);
    }
    log_debug("guests stopped: %.1f ms", (time_mono_ns() - t0) / 1e6);
    manifest_close(inst->manifest);
    inst->manifest = NULL;
    instance_close(inst);
    error = manifest_undo(dir, false);
    log_debug("manifest undone: %.1f ms", (time_mono_ns() - t0) / 1e6);
    free(dir);
    return error;
}

int
instance_clean(const char *state_dir, const char *name, bool verbose)
{
    char *dir = instance_dir(state_dir, name);
    char *netns = xasprintf("/run/netns/sfclab-%s", name);
    int lock_fd = -1;
    int error;

    /* An `up` in progress holds the lock: leave it be. No lock file: an instance that never
     * got that far, or none. */
    error = instance_lock(dir, false, &lock_fd);
    if (error == EBUSY) {
        log_err("instance '%s' is being brought up by another sfclab", name);
        goto out;
    }
    /* Ours now, or nobody's: the file goes first, so that the directory can go with the
     * manifest even if the lock was made before the manifest knew of it. */
    instance_unlock_remove(dir, -1);
    error = manifest_undo(dir, verbose);
    /* A directory left without a manifest (an `up` killed before it wrote one). */
    rmdir(dir);
    /* A namespace no manifest lists (left by an older sfclab that lost a race of two `up`):
     * ours by its name, and no instance of that name exists any more. */
    if (!error && access(dir, F_OK) && !access(netns, F_OK)) {
        if (verbose) {
            log_info("removing stray namespace %s", netns);
        }
        if (umount2(netns, MNT_DETACH) && errno != EINVAL) {
            error = errno;
        } else if (unlink(netns)) {
            error = errno;
        }
    }
out:
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    free(netns);
    free(dir);
    return error;
}

const char *
instance_switch_name(const struct instance *inst)
{
    return inst->sw->name;
}

struct instance_guest *
instance_find_guest(struct instance *inst, const char *name)
{
    for (size_t i = 0; i < inst->n_guests; i++) {
        if (!strcmp(inst->guests[i].name, name)) {
            return &inst->guests[i];
        }
    }
    return NULL;
}

int
instance_exec(struct instance *inst, const char *name, char *const argv[], int *statusp)
{
    struct instance_guest *ig = instance_find_guest(inst, name);
    struct guest_exec_opts io = { .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1 };

    if (!ig) {
        return ENOENT;
    }
    if (!ig->guest) {
        return ESRCH;
    }
    return guest_exec_wait(ig->guest, argv, &io, statusp);
}

/* Proves to the agent at 'addr' that we hold its key; rpc_call() on 'fd' then signs. */
static int
instance_mgmt_auth(struct instance *inst, struct in_addr addr, int fd, uint64_t deadline)
{
    uint8_t key[INSTANCE_KEY_BYTES];
    uint64_t now = time_mono_ns();
    int error = ENOENT;

    for (size_t i = 0; i < inst->n_guests; i++) {
        if (inst->guests[i].mgmt_addr.s_addr == addr.s_addr) {
            if (!inst->has_key) {
                return EACCES;
            }
            instance_guest_key(inst, inst->guests[i].name, key);
            /* At least a second: a busy agent greets late, and the greeting is the first
             * thing it writes. */
            error = rpc_client_auth(fd, key, (int) MAX((int64_t) (deadline - MIN(now, deadline))
                                                        / 1000000, 1000));
            sodium_memzero(key, sizeof key);
            break;
        }
    }
    return error;
}

/* connect() that gives up at 'deadline' (ETIMEDOUT in errno): a guest's port that has just
 * joined the switch may lose the first SYN, and the kernel would send the next one only a
 * second later. Leaves 'fd' blocking. */
static int
connect_within(int fd, const struct sockaddr_in *sin, uint64_t deadline)
{
    int flags = fcntl(fd, F_GETFL), error = 0;
    socklen_t len = sizeof error;

    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    if (connect(fd, (const struct sockaddr *) sin, sizeof *sin)) {
        struct pollfd pfd = { .fd = fd, .events = POLLOUT };
        uint64_t now = time_mono_ns();
        int ms = now < deadline ? (int) ((deadline - now + 999999) / 1000000) : 0;

        if (errno != EINPROGRESS) {
            return -1;
        }
        if (poll(&pfd, 1, ms) != 1) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) || error) {
            errno = error ? error : errno;
            return -1;
        }
    }
    fcntl(fd, F_SETFL, flags);
    return 0;
}

int
instance_mgmt_connect(struct instance *inst, struct in_addr addr, uint16_t port,
                      int timeout_ms, int *fdp)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = addr };
    uint64_t deadline = time_mono_ns() + (uint64_t) timeout_ms * 1000000;
    int error;

    uint64_t try_ns = 100 * 1000000ull;

    /* The agent may not be listening yet right after `up`: retry until the deadline. */
    for (;; try_ns = MIN(2 * try_ns, 1000 * 1000000ull)) {
        int fd;

        if (!inst->netns_path) {
            /* The memory switch carries no packets: an in-memory guest's agent is reached
             * through its provider. */
            for (size_t i = 0; i < inst->n_guests; i++) {
                if (inst->guests[i].mgmt_addr.s_addr == addr.s_addr && inst->guests[i].guest
                    && port == INSTANCE_AGENT_PORT) {
                    error = guest_agent_connect(inst->guests[i].guest, fdp);
                    return error == ENOTSUP ? ENETUNREACH : error;
                }
            }
            return ENETUNREACH;
        }
        error = netns_socket(inst->netns_path, AF_INET, SOCK_STREAM, 0, &fd);
        if (error) {
            return error;
        }
        /* 100 ms for a first try, doubling up to a second: a slow guest (a VM under TCG)
         * still gets the time it needs. */
        if (!connect_within(fd, &sin, MIN(deadline, time_mono_ns() + try_ns))) {
            error = instance_mgmt_auth(inst, addr, fd, deadline);
            if (error) {
                close(fd);
                return error;
            }
            *fdp = fd;
            return 0;
        }
        error = errno;
        close(fd);
        if (time_mono_ns() >= deadline || (error != ECONNREFUSED && error != EHOSTUNREACH
                                           && error != ENETUNREACH && error != ETIMEDOUT)) {
            return error;
        }
        poll(NULL, 0, 10);
    }
}

void
instance_changes_lock(struct instance *inst)
{
    pthread_mutex_lock(&inst->changes);
    inst->changes_depth++;
}

void
instance_changes_unlock(struct instance *inst)
{
    /* The outermost holder lets go: its change must be whole by then (see
     * memory_switch_batch()). */
    if (!--inst->changes_depth && inst->batch_open) {
        inst->n_interleaved++;
        inst->batch_open = false;
    }
    pthread_mutex_unlock(&inst->changes);
}

int
instance_add_guest(struct instance *inst, const struct instance_guest_spec *spec)
{
    int error;

    instance_changes_lock(inst);
    error = add_guest(inst, spec);
    instance_changes_unlock(inst);
    return error;
}

int
instance_remove_guest(struct instance *inst, const char *name)
{
    int error;

    instance_changes_lock(inst);
    error = remove_guest_named(inst, name);
    instance_changes_unlock(inst);
    return error;
}

int
instance_restore_guest(struct instance *inst, const char *name, const char *path)
{
    struct instance_guest *ig;
    int error;

    instance_changes_lock(inst);
    ig = instance_find_guest(inst, name);
    if (!ig || !ig->guest) {
        error = ENOENT;
    } else {
        error = guest_restore(ig->guest, path);
        if (!error && inst->sw->replug_ports) {
            error = inst->sw->replug_ports(inst, ig);
        }
    }
    instance_changes_unlock(inst);
    return error;
}

int
instance_replace_guest(struct instance *inst, const char *name, const char *new_name,
                       double cpus, uint64_t cpu_period_us, uint64_t memory)
{
    int error;

    instance_changes_lock(inst);
    error = replace_guest(inst, name, new_name, cpus, cpu_period_us, memory);
    instance_changes_unlock(inst);
    return error;
}

int
instance_flow_add(struct instance *inst, const char *bridge, const struct of_flow *flow)
{
    int error;

    instance_changes_lock(inst);
    error = inst->sw->flow_mod(inst, bridge, flow, OF_FC_ADD);
    instance_changes_unlock(inst);
    return error;
}

int
instance_flow_delete(struct instance *inst, const char *bridge, const struct of_flow *flow,
                     bool strict)
{
    int error;

    instance_changes_lock(inst);
    error = inst->sw->flow_mod(inst, bridge, flow, strict ? OF_FC_DELETE_STRICT : OF_FC_DELETE);
    instance_changes_unlock(inst);
    return error;
}

int
instance_flow_barrier(struct instance *inst, const char *bridge)
{
    int error;

    instance_changes_lock(inst);
    error = inst->sw->barrier(inst, bridge);
    instance_changes_unlock(inst);
    return error;
}

int
instance_group_add(struct instance *inst, const char *bridge, const struct of_group *g)
{
    int error;

    instance_changes_lock(inst);
    error = inst->sw->group_mod(inst, bridge, g, OF_GC_ADD);
    instance_changes_unlock(inst);
    return error;
}

int
instance_group_modify(struct instance *inst, const char *bridge, const struct of_group *g)
{
    int error;

    instance_changes_lock(inst);
    error = inst->sw->group_mod(inst, bridge, g, OF_GC_MODIFY);
    instance_changes_unlock(inst);
    return error;
}

int
instance_group_delete(struct instance *inst, const char *bridge, uint32_t group_id)
{
    /* Only the id travels in a delete: no 66 kB of buckets on the stack. */
    struct of_group *g = xzalloc(sizeof *g);
    int error;

    g->group_id = group_id;
    instance_changes_lock(inst);
    error = inst->sw->group_mod(inst, bridge, g, OF_GC_DELETE);
    instance_changes_unlock(inst);
    free(g);
    return error;
}

uint32_t
instance_ofport(const struct instance *inst, const char *guest, const char *bridge)
{
    for (size_t i = 0; i < inst->n_guests; i++) {
        const struct instance_guest *ig = &inst->guests[i];
        if (strcmp(ig->name, guest)) {
            continue;
        }
        for (size_t j = 0; j < ig->n_ifaces; j++) {
            if (!strcmp(ig->ifaces[j].bridge, bridge) && ig->ifaces[j].ofport > 0) {
                return ig->ifaces[j].ofport;
            }
        }
    }
    return 0;
}

const struct instance_group *
instance_memory_groups(const struct instance *inst, size_t *n)
{
    *n = inst->n_groups;
    return inst->groups;
}

int
instance_fdb_flush(struct instance *inst, const char *bridge)
{
    int error;

    instance_changes_lock(inst);
    error = inst->sw->fdb_flush(inst, bridge);
    instance_changes_unlock(inst);
    return error;
}

uint64_t
instance_memory_unserialized(const struct instance *inst)
{
    return inst->n_interleaved;
}

const struct instance_flow *
instance_memory_flows(const struct instance *inst, size_t *n)
{
    *n = inst->n_flows;
    return inst->flows;
}

bool
instance_exists(const char *state_dir, const char *name)
{
    char *dir = instance_dir(state_dir, name);
    bool exists = !access(dir, F_OK);

    free(dir);
    return exists;
}

int
instance_agent_ping(struct instance *inst, const struct instance_guest *ig, int timeout_ms,
                    int *restartsp)
{
    json_t *result = NULL;
    int fd = -1;
    int error;

    error = instance_mgmt_connect(inst, ig->mgmt_addr, INSTANCE_AGENT_PORT, timeout_ms, &fd);
    if (!error) {
        error = rpc_call(fd, "ping", NULL, &result, timeout_ms);
    }
    if (!error) {
        *restartsp = json_integer_value(json_object_get(result, "restarts"));
    }
    if (fd >= 0) {
        rpc_client_forget(fd);
        close(fd);
    }
    json_decref(result);
    return error;
}
