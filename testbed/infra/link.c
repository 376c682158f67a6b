#include "testbed/infra/link.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/ethtool.h>
#include <linux/if.h>
#include <linux/neighbour.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <netlink/addr.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/netem.h>
#include <netlink/route/qdisc/tbf.h>
#include <netlink/route/route.h>
#include <netlink/route/tc.h>
#include <netlink/socket.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <arpa/inet.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testbed/infra/netns.h"
#include "vnfs/lib/util.h"

struct link_ns {
    int netns_fd;               /* Ours (a dup), for moving veth peers here. */
    struct nl_sock *nl;         /* NETLINK_ROUTE, bound to the namespace. */
    int ioctl_fd;               /* AF_INET datagram socket, bound to the namespace. */
};

/* libnl speaks NLE_* codes; the rest of sfclab speaks errno. */
static int
nl_to_errno(int nle)
{
    switch (nle < 0 ? -nle : nle) {
    case 0: return 0;
    case NLE_EXIST: return EEXIST;
    case NLE_NODEV: return ENODEV;
    case NLE_OBJ_NOTFOUND: return ENOENT;
    case NLE_NOADDR: return EADDRNOTAVAIL;
    case NLE_PERM: return EPERM;
    case NLE_NOACCESS: return EACCES;
    case NLE_INVAL: return EINVAL;
    case NLE_BUSY: return EBUSY;
    case NLE_NOMEM: return ENOMEM;
    case NLE_RANGE: return ERANGE;
    case NLE_OPNOTSUPP: return EOPNOTSUPP;
    case NLE_AF_NOSUPPORT: return EAFNOSUPPORT;
    case NLE_AGAIN: return EAGAIN;
    case NLE_INTR: return EINTR;
    default: return EIO;
    }
}

static int
nl_fail(const char *what, const char *name, int nle)
{
    log_debug("%s %s: %s", what, name ? name : "", nl_geterror(nle));
    return nl_to_errno(nle);
}

int
link_run_in_netns(int netns_fd, int (*fn)(void *aux), void *aux)
{
    int error, saved = -1;

    if (netns_fd < 0) {
        return fn(aux);
    }
    error = netns_enter_fd(netns_fd, &saved);
    if (error) {
        return error;
    }
    error = fn(aux);
    netns_leave(saved);
    return error;
}

struct ns_open_ctx {
    struct nl_sock *nl;
    int ioctl_fd;
};

static int
open_sockets(void *ctx_)
{
    struct ns_open_ctx *ctx = ctx_;
    int nle;

    ctx->ioctl_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (ctx->ioctl_fd < 0) {
        return errno;
    }
    ctx->nl = nl_socket_alloc();
    if (!ctx->nl) {
        close(ctx->ioctl_fd);
        return ENOMEM;
    }
    nle = nl_connect(ctx->nl, NETLINK_ROUTE);
    if (nle < 0) {
        nl_socket_free(ctx->nl);
        close(ctx->ioctl_fd);
        return nl_to_errno(nle);
    }
    return 0;
}

int
link_ns_open(int netns_fd, struct link_ns **nsp)
{
    struct ns_open_ctx ctx;
    struct link_ns *ns;
    int own_fd;
    int error;

    own_fd = netns_fd >= 0 ? fcntl(netns_fd, F_DUPFD_CLOEXEC, 3)
             : open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (own_fd < 0) {
        return errno;
    }
    error = link_run_in_netns(netns_fd, open_sockets, &ctx);
    if (error) {
        close(own_fd);
        return error;
    }
    ns = xzalloc(sizeof *ns);
    ns->netns_fd = own_fd;
    ns->nl = ctx.nl;
    ns->ioctl_fd = ctx.ioctl_fd;
    *nsp = ns;
    return 0;
}

void
link_ns_close(struct link_ns *ns)
{
    if (ns) {
        nl_socket_free(ns->nl);
        close(ns->ioctl_fd);
        close(ns->netns_fd);
        free(ns);
    }
}

static int
fill_ifreq(struct ifreq *ifr, const char *name)
{
    if (!name || strlen(name) >= IFNAMSIZ || !*name) {
        return EINVAL;
    }
    memset(ifr, 0, sizeof *ifr);
    strcpy(ifr->ifr_name, name);
    return 0;
}

static int
ifindex_of(struct link_ns *ns, const char *name, int *ifindexp)
{
    struct ifreq ifr;
    int error = fill_ifreq(&ifr, name);

    if (error) {
        return error;
    }
    if (ioctl(ns->ioctl_fd, SIOCGIFINDEX, &ifr) < 0) {
        return errno;
    }
    *ifindexp = ifr.ifr_ifindex;
    return 0;
}

bool
link_exists(struct link_ns *ns, const char *name)
{
    int ifindex;
    return !ifindex_of(ns, name, &ifindex);
}

static struct nl_addr *
mac_addr(const uint8_t mac[6])
{
    return nl_addr_build(AF_LLC, mac, 6);
}

int
link_veth_add(struct link_ns *a, struct link_ns *b, const struct link_veth *veth)
{
    struct rtnl_link *link, *peer;
    struct nl_addr *addr;
    int error = 0;
    int nle;

    if (!veth->name || strlen(veth->name) >= IFNAMSIZ || !veth->peer_name
        || strlen(veth->peer_name) >= IFNAMSIZ) {
        return EINVAL;
    }
    link = rtnl_link_veth_alloc();
    if (!link) {
        return ENOMEM;
    }
    peer = rtnl_link_veth_get_peer(link);
    rtnl_link_set_name(link, veth->name);
    rtnl_link_set_name(peer, veth->peer_name);
    if (veth->mac) {
        addr = mac_addr(veth->mac);
        rtnl_link_set_addr(link, addr);
        nl_addr_put(addr);
    }
    if (veth->peer_mac) {
        addr = mac_addr(veth->peer_mac);
        rtnl_link_set_addr(peer, addr);
        nl_addr_put(addr);
    }
    if (veth->mtu) {
        rtnl_link_set_mtu(link, veth->mtu);
        rtnl_link_set_mtu(peer, veth->mtu);
    }
    if (b != a) {
        /* The peer is born in B: it never exists in A under its name, so every guest's end can
         * be called eth0 without colliding in the instance's namespace. */
        rtnl_link_set_ns_fd(peer, b->netns_fd);
    }
    nle = rtnl_link_add(a->nl, link, NLM_F_CREATE | NLM_F_EXCL);
    if (nle < 0) {
        error = nl_fail("veth add", veth->name, nle);
    }
    rtnl_link_put(peer);
    rtnl_link_veth_release(link);
    return error;
}

int
link_delete(struct link_ns *ns, const char *name)
{
    struct rtnl_link *link;
    int ifindex, error, nle;

    error = ifindex_of(ns, name, &ifindex);
    if (error) {
        return error;
    }
    link = rtnl_link_alloc();
    rtnl_link_set_ifindex(link, ifindex);
    nle = rtnl_link_delete(ns->nl, link);
    rtnl_link_put(link);
    return nle < 0 ? nl_fail("link delete", name, nle) : 0;
}

int
link_set_up(struct link_ns *ns, const char *name, bool up)
{
    struct rtnl_link *orig, *change;
    int ifindex, error, nle;

    error = ifindex_of(ns, name, &ifindex);
    if (error) {
        return error;
    }
    orig = rtnl_link_alloc();
    change = rtnl_link_alloc();
    rtnl_link_set_ifindex(orig, ifindex);
    if (up) {
        rtnl_link_set_flags(change, IFF_UP);
    } else {
        rtnl_link_unset_flags(change, IFF_UP);
    }
    nle = rtnl_link_change(ns->nl, orig, change, 0);
    rtnl_link_put(orig);
    rtnl_link_put(change);
    return nle < 0 ? nl_fail("link up/down", name, nle) : 0;
}

int
link_get_mac(struct link_ns *ns, const char *name, uint8_t mac[6])
{
    struct ifreq ifr;
    int error = fill_ifreq(&ifr, name);

    if (error) {
        return error;
    }
    if (ioctl(ns->ioctl_fd, SIOCGIFHWADDR, &ifr) < 0) {
        return errno;
    }
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    return 0;
}

static int
parse_addr(const char *s, int family, struct nl_addr **addrp)
{
    int nle = nl_addr_parse(s, family, addrp);
    if (nle < 0) {
        log_err("link: '%s' is not an address", s);
        return EINVAL;
    }
    return 0;
}

int
link_addr_add(struct link_ns *ns, const char *name, const char *cidr)
{
    struct nl_addr *local = NULL;
    struct rtnl_addr *addr;
    int ifindex, error, nle;

    error = ifindex_of(ns, name, &ifindex);
    if (!error) {
        error = parse_addr(cidr, AF_UNSPEC, &local);
    }
    if (error) {
        return error;
    }
    addr = rtnl_addr_alloc();
    rtnl_addr_set_ifindex(addr, ifindex);
    rtnl_addr_set_family(addr, nl_addr_get_family(local));
    nle = rtnl_addr_set_local(addr, local);
    if (nle >= 0) {
        nle = rtnl_addr_add(ns->nl, addr, NLM_F_EXCL);
    }
    rtnl_addr_put(addr);
    nl_addr_put(local);
    return nle < 0 ? nl_fail("address add", cidr, nle) : 0;
}

int
link_route_add(struct link_ns *ns, const char *dst, const char *gateway, const char *dev)
{
    struct nl_addr *dst_addr = NULL, *gw_addr = NULL;
    struct rtnl_nexthop *nh;
    struct rtnl_route *route;
    int ifindex = 0;
    int error, nle;

    if (!gateway && !dev) {
        return EINVAL;
    }
    error = dev ? ifindex_of(ns, dev, &ifindex) : 0;
    if (!error && gateway) {
        error = parse_addr(gateway, AF_UNSPEC, &gw_addr);
    }
    if (!error) {
        error = parse_addr(dst, gw_addr ? nl_addr_get_family(gw_addr) : AF_INET, &dst_addr);
    }
    if (error) {
        nl_addr_put(gw_addr);
        return error;
    }
    route = rtnl_route_alloc();
    rtnl_route_set_family(route, nl_addr_get_family(dst_addr));
    rtnl_route_set_dst(route, dst_addr);
    rtnl_route_set_table(route, RT_TABLE_MAIN);
    rtnl_route_set_protocol(route, RTPROT_STATIC);
    rtnl_route_set_type(route, RTN_UNICAST);
    rtnl_route_set_scope(route, gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
    nh = rtnl_route_nh_alloc();
    if (ifindex) {
        rtnl_route_nh_set_ifindex(nh, ifindex);
    }
    if (gw_addr) {
        rtnl_route_nh_set_gateway(nh, gw_addr);
    }
    rtnl_route_add_nexthop(route, nh);      /* The route owns nh now. */
    nle = rtnl_route_add(ns->nl, route, NLM_F_EXCL);
    rtnl_route_put(route);
    nl_addr_put(dst_addr);
    nl_addr_put(gw_addr);
    return nle < 0 ? nl_fail("route add", dst, nle) : 0;
}

int
link_neigh_add(struct link_ns *ns, const char *dev, const char *ip, const uint8_t mac[6])
{
    struct nl_addr *dst = NULL, *ll;
    struct rtnl_neigh *neigh;
    int ifindex, error, nle;

    error = ifindex_of(ns, dev, &ifindex);
    if (!error) {
        error = parse_addr(ip, AF_UNSPEC, &dst);
    }
    if (error) {
        return error;
    }
    ll = mac_addr(mac);
    neigh = rtnl_neigh_alloc();
    rtnl_neigh_set_ifindex(neigh, ifindex);
    rtnl_neigh_set_family(neigh, nl_addr_get_family(dst));
    rtnl_neigh_set_dst(neigh, dst);
    rtnl_neigh_set_lladdr(neigh, ll);
    rtnl_neigh_set_state(neigh, NUD_PERMANENT);
    nle = rtnl_neigh_add(ns->nl, neigh, NLM_F_CREATE | NLM_F_REPLACE);
    rtnl_neigh_put(neigh);
    nl_addr_put(ll);
    nl_addr_put(dst);
    return nle < 0 ? nl_fail("neighbour add", ip, nle) : 0;
}

static int
ethtool_set(struct link_ns *ns, const char *name, uint32_t cmd, uint32_t value)
{
    struct ethtool_value ev = { .cmd = cmd, .data = value };
    struct ifreq ifr;
    int error = fill_ifreq(&ifr, name);

    if (error) {
        return error;
    }
    ifr.ifr_data = (void *) &ev;
    return ioctl(ns->ioctl_fd, SIOCETHTOOL, &ifr) < 0 ? errno : 0;
}

int
link_offload_off(struct link_ns *ns, const char *name)
{
    static const uint32_t dependent[] = { ETHTOOL_SSG, ETHTOOL_STSO, ETHTOOL_SGSO };
    int error;

    error = ethtool_set(ns, name, ETHTOOL_STXCSUM, 0);
    if (error) {
        return error;
    }
    for (size_t i = 0; i < ARRAY_SIZE(dependent); i++) {
        error = ethtool_set(ns, name, dependent[i], 0);
        if (error && error != EOPNOTSUPP) {
            return error;
        }
    }
    return 0;
}

/* The child of link_set_rps(): its exit status is 0 or an errno. */
static int
rps_write(int netns_fd, const char *const names[], size_t n_names, uint64_t cpu_mask)
{
    char path[128], mask[32];
    int fd, n;

    if (setns(netns_fd, CLONE_NEWNET) || unshare(CLONE_NEWNS)
        || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)
        || mount("sysfs", "/sys", "sysfs", 0, NULL)) {
        return errno;
    }
    n = snprintf(mask, sizeof mask, "%llx", (unsigned long long) cpu_mask);
    for (size_t i = 0; i < n_names; i++) {
        for (int q = 0; ; q++) {
            snprintf(path, sizeof path, "/sys/class/net/%s/queues/rx-%d/rps_cpus", names[i], q);
            fd = open(path, O_WRONLY | O_CLOEXEC);
            if (fd < 0) {
                if (q) {
                    break;
                }
                return errno;
            }
            if (write(fd, mask, n) != n) {
                int error = errno;
                close(fd);
                return error;
            }
            close(fd);
        }
    }
    return 0;
}

int
link_set_rps(struct link_ns *ns, const char *const names[], size_t n_names, uint64_t cpu_mask)
{
    int status, error;
    pid_t pid;

    pid = fork();
    if (pid < 0) {
        return errno;
    }
    if (!pid) {
        _exit(rps_write(ns->netns_fd, names, n_names, cpu_mask));
    }
    while ((error = waitpid(pid, &status, 0) < 0 ? errno : 0) == EINTR) {
        continue;
    }
    if (!error) {
        error = WIFEXITED(status) ? WEXITSTATUS(status) : ECHILD;
    }
    return error;
}

int
link_set_rate(struct link_ns *ns, const char *name, uint64_t rate_bps)
{
    struct rtnl_qdisc *qdisc;
    int ifindex, error, nle;

    error = ifindex_of(ns, name, &ifindex);
    if (error) {
        return error;
    }
    uint64_t bytes_per_s = rate_bps / 8;
    if (rate_bps && (bytes_per_s == 0 || bytes_per_s > INT_MAX)) {
        return ERANGE;          /* libnl's tbf takes an int of bytes per second. */
    }
    qdisc = rtnl_qdisc_alloc();
    rtnl_tc_set_ifindex(TC_CAST(qdisc), ifindex);
    rtnl_tc_set_parent(TC_CAST(qdisc), TC_H_ROOT);
    if (!rate_bps) {
        nle = rtnl_qdisc_delete(ns->nl, qdisc);
        rtnl_qdisc_put(qdisc);
        /* No root qdisc of ours to delete is what was asked for. */
        return nle < 0 && nle != -NLE_OBJ_NOTFOUND && nle != -NLE_INVAL
               ? nl_fail("qdisc delete", name, nle) : 0;
    }
    rtnl_tc_set_handle(TC_CAST(qdisc), TC_HANDLE(1, 0));
    nle = rtnl_tc_set_kind(TC_CAST(qdisc), "tbf");
    if (nle >= 0) {
        /* 10 ms of traffic per burst, and never less than two full frames. */
        int bucket = (int) MAX(bytes_per_s / 100, 2 * 1514);
        rtnl_qdisc_tbf_set_rate(qdisc, (int) bytes_per_s, bucket, 0);
        nle = rtnl_qdisc_tbf_set_limit_by_latency(qdisc, 50000);
    }
    if (nle >= 0) {
        nle = rtnl_qdisc_add(ns->nl, qdisc, NLM_F_CREATE | NLM_F_REPLACE);
    }
    rtnl_qdisc_put(qdisc);
    return nle < 0 ? nl_fail("tbf add", name, nle) : 0;
}

int
link_get_rate(struct link_ns *ns, const char *name, uint64_t *rate_bps)
{
    struct nl_cache *cache;
    struct rtnl_qdisc *qdisc;
    int ifindex, error, nle;

    error = ifindex_of(ns, name, &ifindex);
    if (error) {
        return error;
    }
    nle = rtnl_qdisc_alloc_cache(ns->nl, &cache);
    if (nle < 0) {
        return nl_fail("qdisc list", name, nle);
    }
    uint64_t rate = 0;
    qdisc = rtnl_qdisc_get_by_parent(cache, ifindex, TC_H_ROOT);
    if (qdisc) {
        const char *kind = rtnl_tc_get_kind(TC_CAST(qdisc));
        if (kind && !strcmp(kind, "tbf")) {
            int r = rtnl_qdisc_tbf_get_rate(qdisc);
            rate = r > 0 ? (uint64_t) r * 8 : 0;
        }
        rtnl_qdisc_put(qdisc);
    }
    nl_cache_free(cache);
    *rate_bps = rate;
    return 0;
}

int
link_set_tbf(struct link_ns *ns, const char *name, uint64_t rate_bps, uint32_t limit_bytes)
{
    struct rtnl_qdisc *qdisc;
    uint64_t bytes_per_s = rate_bps / 8;
    int ifindex, error, nle;

    if (!limit_bytes) {
        return link_set_rate(ns, name, rate_bps);
    }
    error = ifindex_of(ns, name, &ifindex);
    if (error) {
        return error;
    }
    if (bytes_per_s == 0 || bytes_per_s > INT_MAX) {
        return ERANGE;
    }
    qdisc = rtnl_qdisc_alloc();
    rtnl_tc_set_ifindex(TC_CAST(qdisc), ifindex);
    rtnl_tc_set_parent(TC_CAST(qdisc), TC_H_ROOT);
    rtnl_tc_set_handle(TC_CAST(qdisc), TC_HANDLE(1, 0));
    nle = rtnl_tc_set_kind(TC_CAST(qdisc), "tbf");
    if (nle >= 0) {
        int bucket = (int) MAX(bytes_per_s / 100, 2 * 1514);
        rtnl_qdisc_tbf_set_rate(qdisc, (int) bytes_per_s, bucket, 0);
        rtnl_qdisc_tbf_set_limit(qdisc, (int) MIN(limit_bytes, INT_MAX));
        nle = rtnl_qdisc_add(ns->nl, qdisc, NLM_F_CREATE | NLM_F_REPLACE);
    }
    rtnl_qdisc_put(qdisc);
    return nle < 0 ? nl_fail("tbf add", name, nle) : 0;
}

int
link_rename(struct link_ns *ns, const char *name, const char *new_name)
{
    struct rtnl_link *link = NULL, *change;
    int nle;

    nle = rtnl_link_get_kernel(ns->nl, 0, name, &link);
    if (nle < 0) {
        return nl_fail("link get", name, nle);
    }
    change = rtnl_link_alloc();
    rtnl_link_set_name(change, new_name);
    nle = rtnl_link_change(ns->nl, link, change, 0);
    rtnl_link_put(change);
    rtnl_link_put(link);
    return nle < 0 ? nl_fail("link rename", name, nle) : 0;
}

/* Sends one tc request built by the caller and waits for the kernel's answer. */
static int
tc_request(struct link_ns *ns, int type, int flags, const struct tcmsg *tcm,
           int (*fill)(struct nl_msg *, const void *), const void *aux, const char *what,
           const char *name)
{
    struct nl_msg *msg = nlmsg_alloc_simple(type, flags | NLM_F_ACK);
    int nle;

    if (!msg) {
        return ENOMEM;
    }
    nle = nlmsg_append(msg, (void *) tcm, sizeof *tcm, NLMSG_ALIGNTO);
    if (nle >= 0 && fill) {
        nle = fill(msg, aux);
    }
    if (nle >= 0) {
        nle = nl_send_auto(ns->nl, msg);
    }
    if (nle >= 0) {
        nle = nl_wait_for_ack(ns->nl);
    }
    nlmsg_free(msg);
    return nle < 0 ? nl_fail(what, name, nle) : 0;
}

static int
fill_clsact(struct nl_msg *msg, const void *aux)
{
    return nla_put_string(msg, TCA_KIND, "clsact");
}

int
link_tc_clsact(struct link_ns *ns, const char *name, bool add)
{
    struct tcmsg tcm = { .tcm_family = AF_UNSPEC, .tcm_parent = TC_H_CLSACT,
                         .tcm_handle = TC_H_MAKE(TC_H_CLSACT, 0) };
    int ifindex, error;

    error = ifindex_of(ns, name, &ifindex);
    if (error) {
        return error;
    }
    tcm.tcm_ifindex = ifindex;
    error = tc_request(ns, add ? RTM_NEWQDISC : RTM_DELQDISC, add ? NLM_F_CREATE : 0, &tcm,
                       fill_clsact, NULL, add ? "clsact add" : "clsact delete", name);
    /* One is enough: both directions' filters hang off the same clsact. */
    return add && error == EEXIST ? 0 : error;
}

struct bpf_filter_args {
    int prog_fd;
    const char *prog_name;
};

static int
fill_bpf_filter(struct nl_msg *msg, const void *aux_)
{
    const struct bpf_filter_args *a = aux_;
    struct nlattr *opts;
    int nle;

    nle = nla_put_string(msg, TCA_KIND, "bpf");
    if (nle < 0 || !(opts = nla_nest_start(msg, TCA_OPTIONS))) {
        return nle < 0 ? nle : -NLE_NOMEM;
    }
    nle = nla_put_u32(msg, TCA_BPF_FD, a->prog_fd);
    if (nle >= 0) {
        nle = nla_put_string(msg, TCA_BPF_NAME, a->prog_name);
    }
    if (nle >= 0) {
        nle = nla_put_u32(msg, TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT);
    }
    nla_nest_end(msg, opts);
    return nle;
}

int
link_tc_bpf(struct link_ns *ns, const char *name, bool ingress, int prog_fd,
            const char *prog_name)
{
    struct bpf_filter_args a = { prog_fd, prog_name };
    struct tcmsg tcm = {
        .tcm_family = AF_UNSPEC,
        .tcm_parent = TC_H_MAKE(TC_H_CLSACT, ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS),
        .tcm_handle = 1,
        .tcm_info = TC_H_MAKE(1 << 16, htons(ETH_P_ALL)),
    };
    int ifindex, error;

    error = ifindex_of(ns, name, &ifindex);
    if (error) {
        return error;
    }
    tcm.tcm_ifindex = ifindex;
    if (prog_fd < 0) {
        error = tc_request(ns, RTM_DELTFILTER, 0, &tcm, NULL, NULL, "bpf filter delete", name);
        return error == ENOENT || error == EINVAL ? 0 : error;
    }
    return tc_request(ns, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_REPLACE, &tcm, fill_bpf_filter,
                      &a, "bpf filter add", name);
}

bool
link_qdisc_supported(struct link_ns *ns, const char *name, const char *kind)
{
    struct rtnl_qdisc *qdisc;
    int ifindex, nle;

    if (ifindex_of(ns, name, &ifindex)) {
        return false;
    }
    qdisc = rtnl_qdisc_alloc();
    rtnl_tc_set_ifindex(TC_CAST(qdisc), ifindex);
    rtnl_tc_set_parent(TC_CAST(qdisc), TC_H_ROOT);
    rtnl_tc_set_handle(TC_CAST(qdisc), TC_HANDLE(0x7fff, 0));
    nle = rtnl_tc_set_kind(TC_CAST(qdisc), kind);
    if (nle >= 0 && !strcmp(kind, "netem")) {
        rtnl_netem_set_limit(qdisc, 1000);
    }
    if (nle >= 0) {
        nle = rtnl_qdisc_add(ns->nl, qdisc, NLM_F_CREATE | NLM_F_EXCL);
    }
    if (nle >= 0) {
        rtnl_qdisc_delete(ns->nl, qdisc);
    }
    rtnl_qdisc_put(qdisc);
    return nle >= 0;
}

/* netem's probabilities are fractions of 2^32 - 1; libnl passes the int on as a u32. */
static int
netem_prob(double fraction)
{
    return (int) (uint32_t) (fraction >= 1 ? UINT32_MAX : fraction * UINT32_MAX);
}

int
link_set_netem(struct link_ns *ns, const char *name, const struct link_netem *nm)
{
    struct rtnl_qdisc *qdisc;
    int ifindex, error, nle;

    error = ifindex_of(ns, name, &ifindex);
    if (error) {
        return error;
    }
    qdisc = rtnl_qdisc_alloc();
    rtnl_tc_set_ifindex(TC_CAST(qdisc), ifindex);
    rtnl_tc_set_parent(TC_CAST(qdisc), TC_H_ROOT);
    rtnl_tc_set_handle(TC_CAST(qdisc), TC_HANDLE(1, 0));
    nle = rtnl_tc_set_kind(TC_CAST(qdisc), "netem");
    if (nle >= 0) {
        rtnl_netem_set_limit(qdisc, nm->limit ? (int) nm->limit : 1000);
        rtnl_netem_set_delay(qdisc, (int) (nm->delay_ns / 1000));
        rtnl_netem_set_jitter(qdisc, (int) (nm->jitter_ns / 1000));
        rtnl_netem_set_loss(qdisc, netem_prob(nm->loss));
        rtnl_netem_set_duplicate(qdisc, netem_prob(nm->duplicate));
        if (nm->reorder > 0) {
            rtnl_netem_set_gap(qdisc, 1);       /* As tc does: reorder needs a gap. */
            rtnl_netem_set_reorder_probability(qdisc, netem_prob(nm->reorder));
        }
        nle = rtnl_qdisc_add(ns->nl, qdisc, NLM_F_CREATE | NLM_F_REPLACE);
    }
    rtnl_qdisc_put(qdisc);
    if (nle < 0) {
        return nl_fail("netem add", name, nle);
    }
    if (nm->rate_bps) {
        /* netem's one class takes the rate limiter as its child. */
        uint64_t bytes_per_s = nm->rate_bps / 8;
        if (!bytes_per_s || bytes_per_s > INT_MAX) {
            return ERANGE;
        }
        qdisc = rtnl_qdisc_alloc();
        rtnl_tc_set_ifindex(TC_CAST(qdisc), ifindex);
        rtnl_tc_set_parent(TC_CAST(qdisc), TC_HANDLE(1, 1));
        rtnl_tc_set_handle(TC_CAST(qdisc), TC_HANDLE(10, 0));
        nle = rtnl_tc_set_kind(TC_CAST(qdisc), "tbf");
        if (nle >= 0) {
            rtnl_qdisc_tbf_set_rate(qdisc, (int) bytes_per_s,
                                    (int) MAX(bytes_per_s / 100, 2 * 1514), 0);
            nle = rtnl_qdisc_tbf_set_limit_by_latency(qdisc, 50000);
        }
        if (nle >= 0) {
            nle = rtnl_qdisc_add(ns->nl, qdisc, NLM_F_CREATE | NLM_F_REPLACE);
        }
        rtnl_qdisc_put(qdisc);
    }
    return nle < 0 ? nl_fail("netem tbf add", name, nle) : 0;
}

/* Interfaces made by someone else (libvirt's type='ethernet' veths and taps) are found by the
 * MAC they were given, then renamed and moved where sfclab wants them. */
int
link_find_by_mac(struct link_ns *ns, const uint8_t mac[6], char name[16])
{
    struct nl_cache *cache = NULL;
    int error = ENODEV, nle;

    nle = rtnl_link_alloc_cache(ns->nl, AF_UNSPEC, &cache);
    if (nle < 0) {
        return nl_fail("link list", NULL, nle);
    }
    for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
        struct rtnl_link *l = (struct rtnl_link *) o;
        struct nl_addr *a = rtnl_link_get_addr(l);
        if (a && nl_addr_get_len(a) == 6 && !memcmp(nl_addr_get_binary_addr(a), mac, 6)) {
            snprintf(name, 16, "%s", rtnl_link_get_name(l));
            error = 0;
            break;
        }
    }
    nl_cache_free(cache);
    return error;
}

int
link_move(struct link_ns *from, const char *name, struct link_ns *to)
{
    struct rtnl_link *orig, *change;
    int ifindex, error, nle;

    error = ifindex_of(from, name, &ifindex);
    if (error) {
        return error;
    }
    orig = rtnl_link_alloc();
    change = rtnl_link_alloc();
    rtnl_link_set_ifindex(orig, ifindex);
    rtnl_link_set_ns_fd(change, to->netns_fd);
    nle = rtnl_link_change(from->nl, orig, change, 0);
    rtnl_link_put(orig);
    rtnl_link_put(change);
    return nle < 0 ? nl_fail("link move", name, nle) : 0;
}
