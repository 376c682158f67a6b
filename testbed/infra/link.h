/* link — network interfaces, addresses, routes, neighbours and rate limits, through netlink
 * (libnl-route-3) and a few ioctls, in any network namespace, without spawning `ip`.
 *
 * A struct link_ns is a netlink socket plus an ioctl socket, both made while the calling thread
 * was briefly setns()'d into the namespace: a socket stays bound to the namespace it was made in,
 * so every later call acts there whatever namespace the thread is in. The thread always returns
 * to the namespace it came from (saved as an fd first; failing to go back aborts, since the
 * thread could otherwise make the host's own interfaces). Nothing here is recorded in a
 * manifest: a veth dies with either of its namespaces, and namespaces are the manifest's
 * business. Interface names are at most 15 bytes. Main types: struct link_ns, struct
 * link_veth. */
#ifndef SFC_LINK_H
#define SFC_LINK_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct link_ns;

/* Opens sockets in the namespace 'netns_fd' refers to (-1: the calling thread's own). The fd
 * is duplicated; the caller keeps its own. */
int link_ns_open(int netns_fd, struct link_ns **);
void link_ns_close(struct link_ns *);

/* Calls fn(aux) with the calling thread inside 'netns_fd' (-1: where it is), then returns it
 * to its own namespace. Returns what fn returns, or an errno if the namespace cannot be
 * entered. */
int link_run_in_netns(int netns_fd, int (*fn)(void *aux), void *aux);

/* A veth pair: 'name' is made in namespace A and 'peer_name' directly in namespace B. */
struct link_veth {
    const char *name;
    const char *peer_name;
    const uint8_t *mac;         /* 6 bytes, or NULL: the kernel picks one. */
    const uint8_t *peer_mac;
    unsigned int mtu;           /* Both ends; 0: the default (1500). */
};

int link_veth_add(struct link_ns *a, struct link_ns *b, const struct link_veth *);
/* Deletes an interface (and so its veth peer). ENODEV if there is none. */
int link_delete(struct link_ns *, const char *name);
int link_set_up(struct link_ns *, const char *name, bool up);
/* True if 'name' exists in the namespace. */
bool link_exists(struct link_ns *, const char *name);
int link_get_mac(struct link_ns *, const char *name, uint8_t mac[6]);
/* The name of the interface whose MAC is 'mac' (ENODEV if none): for interfaces that another
 * program (libvirt) made and named. */
int link_find_by_mac(struct link_ns *, const uint8_t mac[6], char name[16]);
/* Moves interface 'name' from namespace 'from' into namespace 'to'. */
int link_move(struct link_ns *from, const char *name, struct link_ns *to);

/* Adds "10.0.0.1/24" (or an IPv6 CIDR) to interface 'name'. */
int link_addr_add(struct link_ns *, const char *name, const char *cidr);
/* Adds a route to 'dst' ("10.1.0.0/16" or "default") via 'gateway' (NULL: on-link) out of
 * interface 'dev' (NULL: the kernel finds it from the gateway). */
int link_route_add(struct link_ns *, const char *dst, const char *gateway, const char *dev);
/* Adds or replaces a permanent neighbour entry ip -> mac on 'dev' (static ARP). */
int link_neigh_add(struct link_ns *, const char *dev, const char *ip, const uint8_t mac[6]);

/* Turns off TX checksum offload (and GSO/TSO/SG, which depend on it) on 'name'. Frames that
 * cross OVS's userspace datapath otherwise reach the peer with checksums never filled in. */
int link_offload_off(struct link_ns *, const char *name);
/* Has every frame the interfaces 'names' receive processed on the CPUs of 'cpu_mask' (RPS:
 * their receive queues' rps_cpus), not on the CPU of whoever sent it: a veth's peer sends,
 * and a frame's receive path, switch included, ran in the sender's time. Written through
 * sysfs, which shows a namespace's interfaces only to a mount made inside it: one child
 * process enters the namespace and a mount namespace of its own for all of them. */
int link_set_rps(struct link_ns *, const char *const names[], size_t n_names,
                 uint64_t cpu_mask);
/* Limits the egress of 'name' to 'rate_bps' bits per second with a tbf root qdisc (burst of
 * 10 ms at that rate, at most 50 ms of queue); 0 removes the limit. */
int link_set_rate(struct link_ns *, const char *name, uint64_t rate_bps);
/* The same with a queue of at most 'limit_bytes' (0: 50 ms of it, as link_set_rate()). */
int link_set_tbf(struct link_ns *, const char *name, uint64_t rate_bps, uint32_t limit_bytes);
/* Renames an interface (which must be down). */
int link_rename(struct link_ns *, const char *name, const char *new_name);
/* Adds (or deletes) the clsact qdisc of 'name', where tc filters of both directions hang;
 * adding one that is there is fine. */
int link_tc_clsact(struct link_ns *, const char *name, bool add);
/* Attaches BPF program 'prog_fd' (BPF_PROG_TYPE_SCHED_CLS, direct action) as the one filter of
 * the clsact ingress or egress hook of 'name', replacing what was there; 'prog_fd' < 0 removes
 * it. The filter holds its own reference: the caller may close the fd. */
int link_tc_bpf(struct link_ns *, const char *name, bool ingress, int prog_fd,
                const char *prog_name);
/* True if the kernel accepts a root qdisc of 'kind' ("netem") on 'name' (added, then removed). */
bool link_qdisc_supported(struct link_ns *, const char *name, const char *kind);
/* netem as the root qdisc of 'name' (and a tbf under it for a rate), for hosts that have it. */
struct link_netem {
    uint64_t rate_bps, delay_ns, jitter_ns;
    double loss, duplicate, reorder;    /* Fractions. */
    uint32_t limit;                     /* Packets; 0: 1000. */
};
int link_set_netem(struct link_ns *, const char *name, const struct link_netem *);
/* Reads back the tbf rate of 'name' in bits per second (0: none). */
int link_get_rate(struct link_ns *, const char *name, uint64_t *rate_bps);

#endif
