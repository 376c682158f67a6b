/* domxml — libvirt domain XML for sfclab's guests, generated from a guest's description.
 *
 * Two kinds: an LXC container (`lxc` provider) whose init is `sfcd init` on the host's own root
 * filesystem (so sfcd, the agent's directory and the tools a test runs are where they are on the
 * host), with a private network namespace and a PTY console; and a QEMU machine (`kvm`
 * provider) booting sfclab's kernel and initramfs (`make images`) directly, KVM or TCG, with
 * ACPI (without it a graceful shutdown never ends) and its serial console in a file.
 * Interfaces are type='ethernet': libvirt makes the host end (a veth for LXC, a tap for QEMU)
 * and sfclab adds it to its own switch (libvirt's Open vSwitch hook would call ovs-vsctl against
 * the system database, not the instance's).
 *
 * Pure text: never talks to libvirt, never reads the host; the same description always gives
 * the same bytes (tests/fixtures/domain/ holds golden files). Every string is XML-escaped.
 * Main types: struct domxml_guest, struct domxml_iface. */
#ifndef SFC_DOMXML_H
#define SFC_DOMXML_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* Defaults when a guest's descriptor sets no memory: an LXC limit, a VM's RAM. */
#define DOMXML_LXC_DEFAULT_MEMORY (1024ULL << 20)
#define DOMXML_KVM_DEFAULT_MEMORY (256ULL << 20)

struct domxml_iface {
    const char *port;           /* Host end (target dev), at most 15 bytes. */
    const char *guest_dev;      /* Name inside an LXC guest (eth0...); ignored for QEMU. */
    const uint8_t *mac;         /* 6 bytes, or NULL: libvirt picks one. */
};

struct domxml_guest {
    const char *name;           /* The domain's name (sfclab-INSTANCE-GUEST). */
    const char *title;          /* Free text shown by `virsh list --title`, or NULL. */
    double cpus;                /* CPU quota in cores; 0: no quota (one vCPU for a VM). */
    uint64_t period_us;         /* The quota's CFS period; 0: the kernel's 100 ms. */
    uint64_t memory;            /* Bytes; 0: the kind's default. */

    /* LXC: the init program and its arguments. */
    const char *init;
    char *const *init_args;     /* NULL-terminated, or NULL. */

    /* QEMU. */
    bool kvm;                   /* Hardware acceleration; else TCG. */
    const char *emulator;       /* e.g. /usr/bin/qemu-system-x86_64. */
    const char *kernel;
    const char *initrd;
    const char *cmdline;
    const char *console_log;    /* The serial console's file, or NULL: a PTY. */
    const char *channel;        /* Name of a virtio-serial port whose host end is a unix
                                 * socket libvirt places, or NULL. */
    const char *share_dir;      /* A host directory the guest mounts (virtio 9p) under the */
    const char *share_tag;      /* tag 'share_tag', or NULL. */

    const struct domxml_iface *ifaces;   /* Interfaces present from the start. */
    size_t n_ifaces;

    /* QEMU: no <cputune> quota in the XML; the provider sets it once the guest has booted
     * (domxml_vcpu_quota()): under TCG a 0.5-core quota doubled a boot that is emulation
     * overhead, not the guest's work. */
    bool quota_after_boot;
    /* QEMU: the machine type (NULL: "q35"; see provider_kvm.c for why) and the vCPUs (0:
     * ceil(cpus), at least 1). On q35 a hot-plugged NIC needs an empty PCIe root port:
     * 'spare_ports' of them (each one is a device the guest's kernel probes at boot). */
    const char *machine;
    unsigned int vcpus;
    unsigned int spare_ports;
};

/* The per-vCPU CFS period and quota (microseconds) that give a VM 'cpus' cores in all over
 * ceil(cpus) vCPUs, per 'period' (0: the kernel's 100 ms): what <cputune> says, for
 * virDomainSetSchedulerParameters. */
void domxml_vcpu_quota(double cpus, uint64_t period, unsigned long long *period_us,
                       long long *quota_us);

/* Appends the XML of a container or a machine to 'b'. EINVAL (with a message) if a required
 * field is missing. */
int domxml_lxc(const struct domxml_guest *, struct buf *);
int domxml_kvm(const struct domxml_guest *, struct buf *);
/* The arguments of `sfcd init` as a container's init: its hostname (libvirt names a container
 * after its domain), its log (else its output goes to a console nobody reads), then the
 * program it starts (NULL: none). A NULL-terminated array of pointers into the inputs; free()
 * the array only. */
char **domxml_lxc_init_args(const char *hostname, const char *log, char *const *program);
/* Appends one <interface type='ethernet'> for attaching to a running domain. 'virtio': the
 * model of a QEMU NIC. */
void domxml_iface(const struct domxml_iface *, bool virtio, struct buf *);

#endif
