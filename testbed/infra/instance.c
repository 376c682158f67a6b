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
#include "testbed/infra/ovs.h"
#include "testbed/infra/provider.h"
#include "testbed/infra/shaper.h"
#include "testbed/model/topology.h"
#include "vnfs/core/rpc.h"
#include "vnfs/core/util.h"

#define MGMT_BRIDGE "mgmt"

/* The tmpfs of STATE/NAME/guests: at most this much, and each guest within its memory limit. */
#define INSTANCE_GUESTS_SIZE "1g"

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

void
instance_close(struct instance *inst)
{
    if (!inst) {
        return;
    }
    for (size_t i = 0; i < inst->n_guests; i++) {
        struct instance_guest *ig = &inst->guests[i];
        for (size_t j = 0; j < ig->n_ifaces; j++) {
            iface_uninit(&ig->ifaces[j]);
        }
        free(ig->ifaces);
        guest_release(ig->guest);
        free(ig->name);
        free(ig->provider);
    }
    free(inst->guests);
    for (size_t i = 0; i < inst->n_bridges; i++) {
        free(inst->bridges[i]);
    }
    free(inst->bridges);
    if (inst->ovs) {
        ovs_close(inst->ovs);
    }
    manifest_close(inst->manifest);
    free(inst->name);
    free(inst->dir);
    free(inst->netns_path);
    free(inst->sfcd);
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
    json_object_set_new(root, "netns", json_string(inst->netns_path));
    json_object_set_new(root, "sfcd", json_string(inst->sfcd));
    json_object_set_new(root, "orchestrator", json_string(inet_ntoa(inst->orchestrator_addr)));
    for (size_t i = 0; i < inst->n_bridges; i++) {
        json_array_append_new(bridges, json_string(inst->bridges[i]));
    }
    json_object_set_new(root, "bridges", bridges);
    for (size_t i = 0; i < inst->n_guests; i++) {
        const struct instance_guest *ig = &inst->guests[i];
        json_t *g = json_object(), *ifaces = json_array();

        json_object_set_new(g, "name", json_string(ig->name));
        json_object_set_new(g, "provider", json_string(ig->provider));
        json_object_set_new(g, "pid", json_integer(ig->guest->init_pid));
        json_object_set_new(g, "start", json_integer(ig->guest->init_start));
        json_object_set_new(g, "cpus", json_real(ig->guest->cpus));
        json_object_set_new(g, "memory", json_integer(ig->guest->memory));
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
    UP_TREE, UP_CREATE, UP_START, UP_NETNS, UP_VETH, UP_OFFLOAD, UP_ADDR, UP_LINK_UP,
    UP_N_PHASES
};
static const char *const up_phase_names[UP_N_PHASES] = {
    "agent dirs", "guest create (cgroups)", "guest start", "guest netns open",
    "veth add", "offload off", "addresses", "links up",
};
static uint64_t up_phase_ns[UP_N_PHASES];

static void
up_phase_end(enum up_phase phase, uint64_t *t)
{
    uint64_t now = time_mono_ns();

    up_phase_ns[phase] += now - *t;
    *t = now;
}

/* Pins every thread of 'pid' to 'cpu'. Processes it starts later inherit the mask, so pinning
 * a guest's init pins the agent and every role. On this kind of machine (a VM with 2 vCPUs) a
 * packet that crosses from one CPU to the other pays a wake-up each time: one CPU for the
 * switch and the guests halves the latency of a hop through OVS (measured: 90 vs 154 us p50
 * for a UDP echo). */
static int
pin_to_cpu(pid_t pid, int cpu)
{
    char path[64];
    cpu_set_t set;
    DIR *dir;
    struct dirent *de;
    int error = 0;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    snprintf(path, sizeof path, "/proc/%d/task", (int) pid);
    dir = opendir(path);
    if (!dir) {
        return errno;
    }
    while ((de = readdir(dir))) {
        pid_t tid = atoi(de->d_name);
        if (tid > 0 && sched_setaffinity(tid, sizeof set, &set) && !error) {
            error = errno;
        }
    }
    closedir(dir);
    return error;
}

/* Creates guest 'gi' and its interfaces (management first, then its data links in file
 * order). */
static int
instance_add_guest(struct instance *inst, const struct instance_opts *opts,
                   const struct topology *topo, size_t gi, struct link_ns *host)
{
    const struct topo_guest *tg = &topo->guests[gi];
    struct instance_guest *ig = &inst->guests[gi];
    char agent_listen[48];
    char *agent_dir = xasprintf("%s/guests/%s", inst->dir, tg->name);
    char *staging = xasprintf("%s/root", inst->dir);
    char *init_args[] = { "agent", "--listen", agent_listen, "--dir", agent_dir,
                          "--key-fd", "3", NULL };
    uint8_t key[INSTANCE_KEY_BYTES];
    struct guest_config cfg = {
        .name = tg->name,
        .cpus = tg->cpus,
        .memory = tg->memory,
        .instance = inst->name,
        .sfcd = inst->sfcd,
        .init_args = opts->agents ? init_args : NULL,
        /* A dead agent comes back (with its key), and says how often it did. */
        .init_restart = opts->agents,
        .init_secret = key,
        .private_dir = agent_dir,
        .staging_dir = staging,
    };
    struct link_ns *gns = NULL;
    char *log_dir = xasprintf("%s/guests", inst->dir);
    int netns_fd = -1;
    uint64_t t = time_mono_ns();
    int error;

    /* The management address only, bound to the management interface (eth0): the agent
     * answers nothing that comes from the data network. */
    snprintf(agent_listen, sizeof agent_listen, "%s%%eth0:%d", inet_ntoa(tg->mgmt_addr),
             INSTANCE_AGENT_PORT);
    instance_guest_key(inst, tg->name, key);
    cfg.run_dir = log_dir;
    ig->name = xstrdup(tg->name);
    ig->provider = xstrdup(tg->provider);
    ig->mgmt_addr = tg->mgmt_addr;
    /* The agent keeps its roles' logs, sockets and outputs there. */
    error = manifest_make_tree(inst->manifest, agent_dir);
    if (error) {
        log_err("%s: %s", agent_dir, strerror(error));
        goto out;
    }
    up_phase_end(UP_TREE, &t);
    error = guest_create(tg->provider, &cfg, inst->manifest, &ig->guest);
    if (error) {
        log_err("%s: cannot create guest (%s)", tg->name, strerror(error));
        goto out;
    }
    {
        /* The provider writes the guest's log there: ours to remove. */
        char *log = xasprintf("%s/%s.log", log_dir, tg->name);
        error = manifest_record_file(inst->manifest, log);
        free(log);
    }
    up_phase_end(UP_CREATE, &t);
    if (!error) {
        error = guest_start(ig->guest);
    }
    if (!error && opts->pin) {
        error = pin_to_cpu(ig->guest->init_pid, opts->pin_cpu);
    }
    if (error) {
        log_err("%s: cannot start guest (%s)", tg->name, strerror(error));
        goto out;
    }
    up_phase_end(UP_START, &t);
    error = guest_netns_fd(ig->guest, &netns_fd);
    if (!error) {
        error = link_ns_open(netns_fd, &gns);
    }
    if (error) {
        log_err("%s: cannot enter the guest's network namespace (%s)", tg->name,
                strerror(error));
        goto out;
    }
    up_phase_end(UP_NETNS, &t);

    ig->ifaces = xcalloc(1 + topo->n_links, sizeof *ig->ifaces);
    for (size_t li = SIZE_MAX; li == SIZE_MAX || li < topo->n_links; li++) {
        const struct topo_link *tl = li == SIZE_MAX ? NULL : &topo->links[li];
        struct instance_iface *f;
        struct link_veth veth;
        char cidr[32];

        if (tl && tl->guest != gi) {
            continue;
        }
        f = &ig->ifaces[ig->n_ifaces];
        f->ifname = xasprintf("eth%zu", ig->n_ifaces);
        f->port = host_port_name(tg->name, gi, f->ifname);
        f->bridge = xstrdup(tl ? topo->bridges[tl->bridge].name : MGMT_BRIDGE);
        make_mac(f->mac, inst->name, gi, ig->n_ifaces);
        f->has_addr = tl ? tl->has_addr : true;
        f->addr = tl ? tl->addr : tg->mgmt_addr;
        f->prefix_len = tl ? tl->prefix_len : topo->mgmt_prefix_len;
        f->ofport = -1;
        ig->n_ifaces++;

        veth = (struct link_veth) { .name = f->port, .peer_name = f->ifname,
                                    .peer_mac = f->mac };
        error = link_veth_add(host, gns, &veth);
        up_phase_end(UP_VETH, &t);
        if (!error) {
            error = link_offload_off(gns, f->ifname);
        }
        if (!error) {
            error = link_offload_off(host, f->port);
        }
        up_phase_end(UP_OFFLOAD, &t);
        if (!error && f->has_addr) {
            snprintf(cidr, sizeof cidr, "%s/%d", inet_ntoa(f->addr), f->prefix_len);
            error = link_addr_add(gns, f->ifname, cidr);
        }
        up_phase_end(UP_ADDR, &t);
        if (!error) {
            error = link_set_up(gns, f->ifname, true);
        }
        if (!error) {
            error = link_set_up(host, f->port, true);
        }
        up_phase_end(UP_LINK_UP, &t);
        if (!error && tl && (!impair_is_zero(&tl->impair) || tl->pop_wan)) {
            struct shaper_env env = { inst->manifest, inst->netns_path, inst->sfcd, inst->dir,
                                      opts->pin ? opts->pin_cpu : -1 };
            struct shaper_port port = { tg->name, f->ifname, f->port, (unsigned) li,
                                        tl->pop_wan };
            error = shaper_apply(&env, host, gns, &port, &tl->impair, NULL);
        }
        if (error) {
            log_err("%s: cannot set up %s (%s)", tg->name, f->ifname, strerror(error));
            goto out;
        }
    }
out:
    sodium_memzero(key, sizeof key);
    link_ns_close(gns);
    if (netns_fd >= 0) {
        close(netns_fd);
    }
    free(log_dir);
    free(agent_dir);
    free(staging);
    return error;
}

/* The orchestrator's own address on the management bridge: its local (internal) port. */
static int
instance_setup_mgmt_port(struct instance *inst, const struct topology *topo,
                         struct link_ns *host)
{
    char cidr[32];
    int error;

    snprintf(cidr, sizeof cidr, "%s/%d", inet_ntoa(topo->orchestrator_addr),
             topo->mgmt_prefix_len);
    error = link_addr_add(host, MGMT_BRIDGE, cidr);
    if (!error) {
        error = link_set_up(host, MGMT_BRIDGE, true);
    }
    if (!error) {
        error = link_set_up(host, "lo", true);
    }
    return error;
}

/* The management bridge carries the orchestrator's talk with each agent and nothing else: a
 * guest's frames go to the orchestrator's port only (and only with the guest's own MAC and
 * address: no spoofing another guest), the orchestrator's go to the one guest they are for
 * (ARP requests too, by target address: no guest learns of another), and everything else is
 * dropped. No NORMAL action, so nothing floods and nothing is learned. */
static int
instance_isolate_mgmt(struct instance *inst)
{
    struct buf flows = BUF_INITIALIZER;
    char orch[INET_ADDRSTRLEN];
    int error;

    inet_ntop(AF_INET, &inst->orchestrator_addr, orch, sizeof orch);
    buf_printf(&flows, "priority=0,actions=drop\n");
    for (size_t i = 0; i < inst->n_guests; i++) {
        const struct instance_guest *ig = &inst->guests[i];
        const struct instance_iface *f = ig->n_ifaces ? &ig->ifaces[0] : NULL;
        char addr[INET_ADDRSTRLEN], mac[18];

        if (!f || strcmp(f->bridge, MGMT_BRIDGE) || f->ofport <= 0) {
            continue;
        }
        inet_ntop(AF_INET, &ig->mgmt_addr, addr, sizeof addr);
        snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x",
                 f->mac[0], f->mac[1], f->mac[2], f->mac[3], f->mac[4], f->mac[5]);
        buf_printf(&flows, "priority=100,in_port=%d,dl_src=%s,arp,arp_spa=%s,"
                   "actions=output:LOCAL\n", f->ofport, mac, addr);
        buf_printf(&flows, "priority=100,in_port=%d,dl_src=%s,ip,nw_src=%s,nw_dst=%s,"
                   "actions=output:LOCAL\n", f->ofport, mac, addr, orch);
        buf_printf(&flows, "priority=100,in_port=LOCAL,dl_dst=%s,actions=output:%d\n",
                   mac, f->ofport);
        buf_printf(&flows, "priority=100,in_port=LOCAL,arp,arp_tpa=%s,actions=output:%d\n",
                   addr, f->ofport);
    }
    buf_put_u8(&flows, '\0');
    error = ovs_flows_del(inst->ovs, MGMT_BRIDGE, NULL);
    if (!error) {
        error = ovs_flows_add(inst->ovs, MGMT_BRIDGE, (const char *) flows.data);
    }
    buf_uninit(&flows);
    return error;
}

/* Data ports are AF_PACKET sockets served by vswitchd's main loop, or, with 'afxdp', AF_XDP
 * sockets busy-polled by a PMD thread on a CPU of their own: measured here, a UDP echo through
 * the switch takes 45 us p50 instead of 90 (same CPU) or 154 (across CPUs). The management
 * bridge stays on AF_PACKET: it carries no measured traffic. */
static int
instance_wire_ovs(struct instance *inst, const struct instance_opts *opts)
{
    struct ovs_txn *txn;
    const char **names = NULL;
    int *ofports = NULL;
    size_t n = 0;
    int error;

    if (opts->afxdp) {
        char mask[32];
        snprintf(mask, sizeof mask, "0x%llx", 1ull << opts->pmd_cpu);
        error = ovs_set_other_config(inst->ovs, "pmd-cpu-mask", mask);
        if (error) {
            return error;
        }
    }
    txn = ovs_txn_create(inst->ovs);
    for (size_t i = 0; i < inst->n_bridges; i++) {
        ovs_txn_add_bridge(txn, inst->bridges[i], OVS_FAIL_STANDALONE);
    }
    for (size_t i = 0; i < inst->n_guests; i++) {
        n += inst->guests[i].n_ifaces;
    }
    names = xcalloc(n ? n : 1, sizeof *names);
    ofports = xcalloc(n ? n : 1, sizeof *ofports);
    n = 0;
    for (size_t i = 0; i < inst->n_guests; i++) {
        for (size_t j = 0; j < inst->guests[i].n_ifaces; j++) {
            struct instance_iface *f = &inst->guests[i].ifaces[j];
            if (opts->afxdp && strcmp(f->bridge, MGMT_BRIDGE)) {
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
    if (!error) {
        n = 0;
        for (size_t i = 0; i < inst->n_guests; i++) {
            for (size_t j = 0; j < inst->guests[i].n_ifaces; j++) {
                inst->guests[i].ifaces[j].ofport = ofports[n++];
            }
        }
    }
    free(names);
    free(ofports);
    return error;
}

int
instance_up(const struct instance_opts *opts, const struct topology *topo,
            struct instance **instp)
{
    uint64_t t0 = time_mono_ns();
    struct instance *inst = xzalloc(sizeof *inst);
    struct link_ns *host = NULL;
    int lock_fd = -1;
    char *path = NULL, *ovs_dir = NULL, *netns_name = NULL, *log_dir = NULL;
    char *yaml = NULL;
    int error;

    inst->name = xstrdup(opts->name);
    inst->dir = instance_dir(opts->state_dir, opts->name);
    inst->sfcd = opts->sfcd ? xstrdup(opts->sfcd) : default_sfcd();
    inst->orchestrator_addr = topo->orchestrator_addr;
    if (!instance_name_ok(opts->name)) {
        log_err("instance name '%s' must be 1 to 32 of [a-z0-9_-]", opts->name);
        error = EINVAL;
        goto out_free;
    }
    if (access(inst->sfcd, X_OK)) {
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

    netns_name = xasprintf("sfclab-%s", inst->name);
    error = netns_create(inst->manifest, netns_name, &inst->netns_path);
    if (error) {
        log_err("cannot create network namespace %s (%s)", netns_name, strerror(error));
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

    {
        int fd = open(inst->netns_path, O_RDONLY | O_CLOEXEC);
        error = fd < 0 ? errno : link_ns_open(fd, &host);
        if (fd >= 0) {
            close(fd);
        }
        if (error) {
            goto out_undo;
        }
    }
    inst->guests = xcalloc(topo->n_guests ? topo->n_guests : 1, sizeof *inst->guests);
    for (size_t i = 0; i < topo->n_guests; i++) {
        inst->n_guests++;
        error = instance_add_guest(inst, opts, topo, i, host);
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
    /* OVS starts after the guests: a running vswitchd would chase every veth as it appears. */
    ovs_dir = xasprintf("%s/ovs", inst->dir);
    error = ovs_start(ovs_dir, inst->netns_path, inst->manifest, &inst->ovs);
    if (!error && opts->pin) {
        pid_t pids[2];
        ovs_daemon_pids(inst->ovs, pids);
        for (int i = 0; i < 2 && !error; i++) {
            error = pids[i] ? pin_to_cpu(pids[i], opts->pin_cpu) : 0;
        }
    }
    if (error) {
        log_err("cannot start Open vSwitch (%s); its logs are in %s", strerror(error), ovs_dir);
        goto out_undo;
    }

    log_debug("ovs started: %.1f ms", (time_mono_ns() - t0) / 1e6);
    error = instance_wire_ovs(inst, opts);
    log_debug("ovs ports: %.1f ms", (time_mono_ns() - t0) / 1e6);
    if (!error) {
        error = instance_setup_mgmt_port(inst, topo, host);
    }
    if (!error) {
        error = instance_isolate_mgmt(inst);
        if (error) {
            log_err("cannot install the management bridge's flows (%s)", strerror(error));
        }
    }
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
    if (error == EINTR) {
        log_err("interrupted: undoing what was made");
    }
    if (inst->ovs) {
        ovs_close(inst->ovs);
        inst->ovs = NULL;
    }
    manifest_close(inst->manifest);
    inst->manifest = NULL;
    if (manifest_undo(inst->dir, opts->verbose)) {
        log_err("could not undo everything: run `sfclab clean -i %s`", inst->name);
    }
out_free:
    if (lock_fd >= 0) {
        close(lock_fd);
    }
    link_ns_close(host);
    instance_close(inst);
    free(path);
    free(ovs_dir);
    free(netns_name);
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
    struct instance *inst = xzalloc(sizeof *inst);
    char *path = NULL;
    json_error_t jerr;
    json_t *root = NULL, *guests, *bridges, *g;
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
    inst->netns_path = xstrdup(json_string_value(json_object_get(root, "netns")) ?: "");
    inst->sfcd = xstrdup(json_string_value(json_object_get(root, "sfcd")) ?: "sfcd");
    inet_aton(json_string_value(json_object_get(root, "orchestrator")) ?: "0.0.0.0",
              &inst->orchestrator_addr);
    bridges = json_object_get(root, "bridges");
    inst->bridges = xcalloc(json_array_size(bridges) + 1, sizeof *inst->bridges);
    json_array_foreach(bridges, i, g) {
        inst->bridges[inst->n_bridges++] = xstrdup(json_string_value(g) ?: "");
    }
    guests = json_object_get(root, "guests");
    inst->guests = xcalloc(json_array_size(guests) + 1, sizeof *inst->guests);
    json_array_foreach(guests, i, g) {
        struct instance_guest *ig = &inst->guests[inst->n_guests++];
        json_t *ifaces = json_object_get(g, "ifaces"), *jf;
        struct guest_config cfg = {
            .name = json_string_value(json_object_get(g, "name")),
            .cpus = json_number_value(json_object_get(g, "cpus")),
            .memory = json_integer_value(json_object_get(g, "memory")),
            .instance = inst->name,
            .sfcd = inst->sfcd,
        };
        char *agent_dir = xasprintf("%s/guests/%s", inst->dir, cfg.name ?: "");
        char *staging = xasprintf("%s/root", inst->dir);
        size_t j;

        /* Confined: what `exec` starts there gets no more than the guest's init. */
        cfg.private_dir = agent_dir;
        cfg.staging_dir = staging;

        ig->name = xstrdup(cfg.name ?: "");
        ig->provider = xstrdup(json_string_value(json_object_get(g, "provider")) ?: "netns");
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
                             json_integer_value(json_object_get(g, "pid")),
                             json_integer_value(json_object_get(g, "start")), &ig->guest);
        free(agent_dir);
        free(staging);
        if (error == ESRCH) {
            /* Destroyed since (a crash injected on purpose): the rest still works. */
            ig->guest = NULL;
            error = 0;
        } else if (error) {
            log_err("%s: cannot find guest %s again (%s)", path, ig->name, strerror(error));
            goto out;
        }
    }
    if (instance_load_key(inst)) {
        log_warn("%s/key: unreadable: the agents will refuse us", inst->dir);
    }
    error = manifest_open(inst->dir, &inst->manifest);
    if (!error) {
        char *ovs_dir = xasprintf("%s/ovs", inst->dir);
        error = ovs_open(ovs_dir, &inst->ovs);
        free(ovs_dir);
        if (error) {
            log_err("instance '%s': its Open vSwitch does not answer (%s); `sfclab clean`?",
                    inst->name, strerror(error));
        }
    }
out:
    if (error) {
        instance_close(inst);
    } else {
        *instp = inst;
    }
    json_decref(root);
    free(path);
    return error;
}

/* Teardown runs the slow waits side by side: vswitchd's exit --cleanup (closing each port's
 * socket waits for the kernel, ~8 ms a port here) and the guests' SIGTERM-and-wait, a few
 * threads over the guests. Each thread touches only its own guests or the OVS handle; nothing
 * here records into the manifest. */
#define DOWN_STOP_THREADS 8

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
            guest_stop(ctx->inst->guests[i].guest, 200 * 1000 * 1000);
        }
    }
}

static void *
down_stop_ovs(void *ovs)
{
    ovs_stop(ovs);
    return NULL;
}

int
instance_down(struct instance *inst)
{
    pthread_t threads[DOWN_STOP_THREADS], ovs_thread;
    struct down_ctx ctx = { .inst = inst };
    size_t n_threads = 0;
    bool ovs_threaded = false;
    uint64_t t0 = time_mono_ns();
    char *dir = xstrdup(inst->dir);
    int error;

    /* Graceful first: OVS removes its datapath, guests get SIGTERM. The manifest then undoes
     * whatever is left, exactly as `clean` would. A thread that cannot start leaves its work
     * to this one. */
    atomic_init(&ctx.next_guest, 0);
    if (inst->ovs && !pthread_create(&ovs_thread, NULL, down_stop_ovs, inst->ovs)) {
        ovs_threaded = true;
        inst->ovs = NULL;
    }
    while (n_threads < DOWN_STOP_THREADS && n_threads + 1 < inst->n_guests
           && !pthread_create(&threads[n_threads], NULL, down_stop_guests, &ctx)) {
        n_threads++;
    }
    down_stop_guests(&ctx);
    for (size_t i = 0; i < n_threads; i++) {
        pthread_join(threads[i], NULL);
    }
    log_debug("guests stopped: %.1f ms", (time_mono_ns() - t0) / 1e6);
    if (ovs_threaded) {
        pthread_join(ovs_thread, NULL);
    } else if (inst->ovs) {
        ovs_stop(inst->ovs);
        inst->ovs = NULL;
    }
    log_debug("ovs stopped: %.1f ms", (time_mono_ns() - t0) / 1e6);
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

int
instance_mgmt_connect(struct instance *inst, struct in_addr addr, uint16_t port,
                      int timeout_ms, int *fdp)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr = addr };
    uint64_t deadline = time_mono_ns() + (uint64_t) timeout_ms * 1000000;
    int error;

    /* The agent may not be listening yet right after `up`: retry until the deadline. */
    for (;;) {
        int fd;

        error = netns_socket(inst->netns_path, AF_INET, SOCK_STREAM, 0, &fd);
        if (error) {
            return error;
        }
        if (!connect(fd, (struct sockaddr *) &sin, sizeof sin)) {
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
                                           && error != ENETUNREACH)) {
            return error;
        }
        poll(NULL, 0, 10);
    }
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
