#include "testbed/infra/domxml.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "testbed/infra/cgroup.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

static void
put_escaped(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': buf_printf(b, "&amp;"); break;
        case '<': buf_printf(b, "&lt;"); break;
        case '>': buf_printf(b, "&gt;"); break;
        case '\'': buf_printf(b, "&apos;"); break;
        case '"': buf_printf(b, "&quot;"); break;
        default: buf_put_u8(b, (uint8_t) *s); break;
        }
    }
}

/* <tag>escaped text</tag> on a line of its own. */
static void
put_element(struct buf *b, const char *indent, const char *tag, const char *text)
{
    buf_printf(b, "%s<%s>", indent, tag);
    put_escaped(b, text);
    buf_printf(b, "</%s>\n", tag);
}

static int
check_common(const struct domxml_guest *g, const char *kind)
{
    if (!g->name || !g->name[0]) {
        log_err("domain XML (%s): no name", kind);
        return EINVAL;
    }
    if (g->cpus < 0 || !isfinite(g->cpus)) {
        log_err("domain %s: cpus %g is not valid", g->name, g->cpus);
        return EINVAL;
    }
    return 0;
}

/* Name, title, memory, vCPUs and the CPU quota: the same for both kinds. */
static void
put_head(struct buf *b, const struct domxml_guest *g, const char *type, uint64_t dflt_memory)
{
    uint64_t memory = g->memory ? g->memory : dflt_memory;
    unsigned int vcpus = g->vcpus ? g->vcpus : g->cpus > 0 ? (unsigned int) ceil(g->cpus) : 1;

    buf_printf(b, "<domain type='%s'>\n", type);
    put_element(b, "  ", "name", g->name);
    if (g->title) {
        put_element(b, "  ", "title", g->title);
    }
    /* libvirt's unit is KiB; round up so that a limit is never below what was asked. */
    buf_printf(b, "  <memory unit='KiB'>%llu</memory>\n",
               (unsigned long long) ((memory + 1023) / 1024));
    buf_printf(b, "  <vcpu>%u</vcpu>\n", vcpus);
    if (g->cpus > 0 && !(g->quota_after_boot && strcmp(type, "lxc"))) {
        /* Cores are a CFS quota, as the netns provider's cgroup sets it. libvirt applies it
         * to a container's whole cgroup but to each of a VM's vCPU threads. */
        double share = strcmp(type, "lxc") ? g->cpus / vcpus : g->cpus;
        unsigned long long period = g->period_us ? g->period_us : CGROUP_PERIOD_DEFAULT_US;
        buf_printf(b, "  <cputune>\n    <period>%llu</period>\n    <quota>%lld</quota>\n"
                   "  </cputune>\n", period, (long long) llround(share * (double) period));
    }
}

void
domxml_vcpu_quota(double cpus, uint64_t period, unsigned long long *period_us,
                  long long *quota_us)
{
    unsigned int vcpus = cpus > 0 ? (unsigned int) ceil(cpus) : 1;

    *period_us = period ? period : CGROUP_PERIOD_DEFAULT_US;
    *quota_us = llround(cpus / vcpus * (double) *period_us);
}

/* A guest that stops is gone: sfclab, not libvirt, decides whether it comes back. */
static void
put_lifecycle(struct buf *b)
{
    buf_printf(b, "  <clock offset='utc'/>\n"
               "  <on_poweroff>destroy</on_poweroff>\n"
               "  <on_reboot>destroy</on_reboot>\n"
               "  <on_crash>destroy</on_crash>\n");
}

void
domxml_iface(const struct domxml_iface *f, bool virtio, struct buf *b)
{
    buf_printf(b, "    <interface type='ethernet'>\n");
    if (f->mac) {
        buf_printf(b, "      <mac address='%02x:%02x:%02x:%02x:%02x:%02x'/>\n",
                   f->mac[0], f->mac[1], f->mac[2], f->mac[3], f->mac[4], f->mac[5]);
    }
    if (f->port) {
        buf_printf(b, "      <target dev='");
        put_escaped(b, f->port);
        buf_printf(b, "' managed='yes'/>\n");
    }
    if (!virtio && f->guest_dev) {
        buf_printf(b, "      <guest dev='");
        put_escaped(b, f->guest_dev);
        buf_printf(b, "'/>\n");
    }
    if (virtio) {
        buf_printf(b, "      <model type='virtio'/>\n");
    }
    buf_printf(b, "    </interface>\n");
}

char **
domxml_lxc_init_args(const char *hostname, const char *log, char *const *program)
{
    size_t n = 0, i = 0;
    char **args;

    while (program && program[n]) {
        n++;
    }
    args = xcalloc(n + 8, sizeof *args);
    args[i++] = "init";
    args[i++] = "--hostname";
    args[i++] = (char *) hostname;
    if (log) {
        args[i++] = "--log";
        args[i++] = (char *) log;
    }
    if (n) {
        args[i++] = "--";
        for (size_t j = 0; j < n; j++) {
            args[i++] = program[j];
        }
    }
    return args;
}

int
domxml_lxc(const struct domxml_guest *g, struct buf *b)
{
    int error = check_common(g, "lxc");

    if (error) {
        return error;
    }
    if (!g->init || g->init[0] != '/') {
        log_err("domain %s: the init program must be an absolute path", g->name);
        return EINVAL;
    }
    put_head(b, g, "lxc", DOMXML_LXC_DEFAULT_MEMORY);
    buf_printf(b, "  <os>\n    <type>exe</type>\n");
    put_element(b, "    ", "init", g->init);
    for (size_t i = 0; g->init_args && g->init_args[i]; i++) {
        put_element(b, "    ", "initarg", g->init_args[i]);
    }
    buf_printf(b, "  </os>\n");
    /* A network namespace of its own even before its first interface is attached. */
    buf_printf(b, "  <features>\n    <privnet/>\n  </features>\n");
    put_lifecycle(b);
    buf_printf(b, "  <devices>\n"
               "    <filesystem type='mount'>\n"
               "      <source dir='/'/>\n"
               "      <target dir='/'/>\n"
               "    </filesystem>\n");
    for (size_t i = 0; i < g->n_ifaces; i++) {
        domxml_iface(&g->ifaces[i], false, b);
    }
    buf_printf(b, "    <console type='pty'/>\n"
               "  </devices>\n"
               "</domain>\n");
    return 0;
}

int
domxml_kvm(const struct domxml_guest *g, struct buf *b)
{
    int error = check_common(g, "kvm");

    if (error) {
        return error;
    }
    if (!g->emulator || !g->kernel || !g->initrd) {
        log_err("domain %s: a VM needs an emulator, a kernel and an initramfs "
                "(make images builds the last two)", g->name);
        return EINVAL;
    }
    put_head(b, g, g->kvm ? "kvm" : "qemu", DOMXML_KVM_DEFAULT_MEMORY);
    buf_printf(b, "  <os>\n    <type arch='x86_64' machine='");
    put_escaped(b, g->machine ? g->machine : "q35");
    buf_printf(b, "'>hvm</type>\n");
    put_element(b, "    ", "kernel", g->kernel);
    put_element(b, "    ", "initrd", g->initrd);
    if (g->cmdline) {
        put_element(b, "    ", "cmdline", g->cmdline);
    }
    buf_printf(b, "  </os>\n");
    /* Without ACPI the guest never sees the power button: virDomainShutdown would hang. */
    buf_printf(b, "  <features>\n    <acpi/>\n  </features>\n");
    if (g->kvm) {
        buf_printf(b, "  <cpu mode='host-passthrough'/>\n");
    }
    put_lifecycle(b);
    buf_printf(b, "  <devices>\n");
    put_element(b, "    ", "emulator", g->emulator);
    for (size_t i = 0; i < g->n_ifaces; i++) {
        domxml_iface(&g->ifaces[i], true, b);
    }
    /* libvirt gives each PCIe device below a root port of its own, the first free one:
     * the spare ports come after those (the NICs, 9p, virtio-serial and rng). */
    if (g->spare_ports) {
        unsigned int used = (unsigned int) g->n_ifaces + (g->share_dir && g->share_tag)
                            + !!g->channel + 1;
        buf_printf(b, "    <controller type='pci' index='0' model='pcie-root'/>\n");
        for (unsigned int i = 1; i <= used + g->spare_ports; i++) {
            buf_printf(b, "    <controller type='pci' index='%u' model='pcie-root-port'/>\n",
                       i);
        }
    }
    if (g->console_log) {
        buf_printf(b, "    <serial type='file'>\n      <source path='");
        put_escaped(b, g->console_log);
        buf_printf(b, "'/>\n      <target port='0'/>\n    </serial>\n");
    } else {
        buf_printf(b, "    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n");
    }
    if (g->share_dir && g->share_tag) {
        /* squash: QEMU, not root, owns what the guest writes there; nothing fails for it. */
        buf_printf(b, "    <filesystem type='mount' accessmode='squash'>\n      <source dir='");
        put_escaped(b, g->share_dir);
        buf_printf(b, "'/>\n      <target dir='");
        put_escaped(b, g->share_tag);
        buf_printf(b, "'/>\n    </filesystem>\n");
    }
    if (g->channel) {
        buf_printf(b, "    <channel type='unix'>\n      <source mode='bind'/>\n"
                   "      <target type='virtio' name='");
        put_escaped(b, g->channel);
        buf_printf(b, "'/>\n    </channel>\n");
    }
    /* Entropy from the host: without it the guest kernel's random pool is seeded by timer
     * jitter, a busy loop that under TCG took seconds of CPU before sfcd's first getrandom()
     * (libsodium's) returned, and the agent with it. */
    buf_printf(b, "    <rng model='virtio'>\n"
               "      <backend model='random'>/dev/urandom</backend>\n"
               "    </rng>\n");
    /* Nothing the guest does not use: each device is boot time under TCG (libvirt would
     * add a USB controller, which the kernel then enumerates). */
    buf_printf(b, "    <controller type='usb' model='none'/>\n"
               "    <memballoon model='none'/>\n"
               "  </devices>\n"
               "</domain>\n");
    return 0;
}
