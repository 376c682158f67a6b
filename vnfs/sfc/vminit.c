/* `sfcd vminit` — the first program of a `kvm` guest, run by the kernel from sfclab's initramfs
 * (`make images`; kernel command line `rdinit=/sfcd vminit sfc.hostname=NAME sfc.init=A,B,...`).
 *
 * It mounts /proc, /sys, /dev, /run and /tmp (and the agent's directory, shared by the host over
 * virtio 9p, at the same path as on the host), loads the kernel modules the image lists in
 * /lib/modules/order (virtio PCI, net and console: Debian's kernel has them as modules), brings
 * up lo, and starts the guest's control channel: a child that serves the virtio-serial port
 * named org.sfclab.ctl, through which the host's kvm provider configures interfaces it has just
 * hot-plugged (the management network cannot carry that: it is one of them). Then it becomes
 * `sfcd init --hostname NAME -- A B ...`, the same PID 1 as in every other guest.
 *
 * The channel speaks lines (vnfs/lib/vmchan.h); each request gets one reply line, "ok" or
 * "err ERRNO TEXT":
 *   iface MAC IFNAME ADDR/LEN|-    find the NIC by MAC (waiting for a hot-plug to land), name
 *                                  it, turn TX offloads off, set the address, bring it up
 *   link IFNAME up|down            a cut link
 *   neigh IFNAME IP MAC            a permanent ARP entry
 *   stats                          "ok CPU_NS MEM_BYTES" of the whole guest
 *   halt                           SIGTERM to init: the guest stops (its kernel then panics
 *                                  and reboots, which libvirt turns into the domain's end)
 *   key HEX                        with sfc.key=1: the agent's key, accepted once, written to
 *                                  the pipe init reads it from (`init --key-fd 3`); init
 *                                  waits for it before it starts its program
 * sfc.restart=1 makes it `init --restart` (a dead agent comes back).
 * It never runs outside a VM: as anything but PID 1 it refuses to start. */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vnfs/lib/util.h"
#include "vnfs/lib/vmchan.h"
#include "vnfs/sfc/roles.h"

#define VMINIT_PORT_NAME "org.sfclab.ctl"
/* How long a hot-plugged NIC may take to appear: a second when idle, but a TCG guest on a
 * loaded host gets a sliver of a CPU and its PCI hotplug then took over 10 s in CI. */
#define VMINIT_WAIT_MS 60000

static void
mount_basics(void)
{
    static const struct { const char *src, *dst, *type; unsigned long flags; } m[] = {
        { "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC },
        { "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC },
        { "devtmpfs", "/dev", "devtmpfs", MS_NOSUID },
        { "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV },
        { "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV },
    };
    for (size_t i = 0; i < ARRAY_SIZE(m); i++) {
        mkdir(m[i].dst, 0755);
        if (mount(m[i].src, m[i].dst, m[i].type, m[i].flags, NULL) && errno != EBUSY) {
            log_warn("mount %s: %s", m[i].dst, strerror(errno));
        }
    }
}

static void
load_modules(void)
{
    char *order = NULL;

    if (read_file("/lib/modules/order", &order, NULL)) {
        return;
    }
    for (char *save = NULL, *name = strtok_r(order, "\n", &save); name;
         name = strtok_r(NULL, "\n", &save)) {
        char *path = xasprintf("/lib/modules/%s", name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) && errno != EEXIST)) {
            log_warn("module %s: %s", name, strerror(errno));
        }
        if (fd >= 0) {
            close(fd);
        }
        free(path);
    }
    free(order);
}

/* The value of "KEY=VALUE" on the kernel command line, or NULL. */
static char *
cmdline_get(const char *cmdline, const char *key)
{
    size_t n = strlen(key);

    for (const char *p = cmdline; (p = strstr(p, key)); p += n) {
        if ((p == cmdline || p[-1] == ' ') && p[n] == '=') {
            const char *v = p + n + 1;
            return strndup(v, strcspn(v, " \n"));
        }
    }
    return NULL;
}

static int
ifreq_ioctl(int fd, unsigned long req, struct ifreq *ifr)
{
    return ioctl(fd, req, ifr) < 0 ? errno : 0;
}

static int
set_flags(int fd, const char *ifname, bool up)
{
    struct ifreq ifr;
    int error;

    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    error = ifreq_ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (!error) {
        if (up) {
            ifr.ifr_flags |= IFF_UP;
        } else {
            ifr.ifr_flags &= ~IFF_UP;
        }
        error = ifreq_ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    return error;
}

/* Frames leave a virtio NIC with checksums to be filled in by someone downstream; the
 * instance's userspace switch never does. */
static int
offload_off(int fd, const char *ifname)
{
    static const uint32_t cmds[] = { ETHTOOL_STXCSUM, ETHTOOL_SSG, ETHTOOL_STSO, ETHTOOL_SGSO };
    struct ifreq ifr;

    for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
        struct ethtool_value ev = { .cmd = cmds[i], .data = 0 };
        memset(&ifr, 0, sizeof ifr);
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
        ifr.ifr_data = (void *) &ev;
        if (ioctl(fd, SIOCETHTOOL, &ifr) < 0 && errno != EOPNOTSUPP) {
            return errno;
        }
    }
    return 0;
}

/* The NIC whose address is 'mac' ("02:..."), waiting for a hot-plugged one to appear. */
static int
find_by_mac(const char *mac, char name[IFNAMSIZ])
{
    uint64_t deadline = time_mono_ns() + (uint64_t) VMINIT_WAIT_MS * 1000000;

    for (;;) {
        DIR *d = opendir("/sys/class/net");
        struct dirent *de;
        while (d && (de = readdir(d))) {
            char *path, *addr = NULL;
            if (de->d_name[0] == '.') {
                continue;
            }
            path = xasprintf("/sys/class/net/%s/address", de->d_name);
            if (!read_file(path, &addr, NULL) && !strncasecmp(addr, mac, 17)
                && strlen(de->d_name) < IFNAMSIZ) {
                memcpy(name, de->d_name, strlen(de->d_name) + 1);
                free(addr);
                free(path);
                closedir(d);
                return 0;
            }
            free(addr);
            free(path);
        }
        if (d) {
            closedir(d);
        }
        if (time_mono_ns() >= deadline) {
            return ENODEV;
        }
        usleep(10000);
    }
}

static int
cmd_iface(int fd, const struct vmchan_request *req)
{
    const char *ifname = req->ifname;
    struct ifreq ifr;
    char cur[IFNAMSIZ], mac[18];
    int error;

    snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", req->mac[0], req->mac[1],
             req->mac[2], req->mac[3], req->mac[4], req->mac[5]);
    error = find_by_mac(mac, cur);
    if (!error && strcmp(cur, ifname) && if_nametoindex(ifname)) {
        /* NICs the VM booted with got the kernel's names in PCI order: the name asked for may
         * be another of them, which moves aside until it is asked for in turn. */
        memset(&ifr, 0, sizeof ifr);
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
        snprintf(ifr.ifr_newname, sizeof ifr.ifr_newname, "nic%u", if_nametoindex(ifname));
        set_flags(fd, ifname, false);
        error = ifreq_ioctl(fd, SIOCSIFNAME, &ifr);
    }
    if (!error && strcmp(cur, ifname)) {
        set_flags(fd, cur, false);
        memset(&ifr, 0, sizeof ifr);
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", cur);
        snprintf(ifr.ifr_newname, sizeof ifr.ifr_newname, "%s", ifname);
        error = ifreq_ioctl(fd, SIOCSIFNAME, &ifr);
    }
    if (!error) {
        error = offload_off(fd, ifname);
    }
    if (!error && req->has_addr) {
        struct sockaddr_in *sin = (struct sockaddr_in *) &ifr.ifr_addr;
        int len = req->prefix_len;
        memset(&ifr, 0, sizeof ifr);
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
        sin->sin_family = AF_INET;
        sin->sin_addr = req->addr;
        error = ifreq_ioctl(fd, SIOCSIFADDR, &ifr);
        if (!error) {
            sin->sin_addr.s_addr = htonl(len ? 0xffffffffu << (32 - len) : 0);
            error = ifreq_ioctl(fd, SIOCSIFNETMASK, &ifr);
        }
    }
    if (!error) {
        error = set_flags(fd, ifname, true);
    }
    return error;
}

static int
cmd_neigh(int fd, const struct vmchan_request *req)
{
    struct arpreq arp;
    struct sockaddr_in *sin = (struct sockaddr_in *) &arp.arp_pa;

    memset(&arp, 0, sizeof arp);
    sin->sin_family = AF_INET;
    sin->sin_addr = req->addr;
    arp.arp_ha.sa_family = ARPHRD_ETHER;
    memcpy(arp.arp_ha.sa_data, req->mac, 6);
    arp.arp_flags = ATF_PERM | ATF_COM;
    snprintf(arp.arp_dev, sizeof arp.arp_dev, "%s", req->ifname);
    return ioctl(fd, SIOCSARP, &arp) < 0 ? errno : 0;
}

/* CPU time of the whole guest (everything but idle and iowait) and memory in use. */
static int
guest_usage(uint64_t *cpu_ns, uint64_t *mem)
{
    char *stat = NULL, *meminfo = NULL, *p;
    unsigned long long v[10] = { 0 }, total = 0, avail = 0;
    long hz = sysconf(_SC_CLK_TCK);
    int error;

    error = read_file("/proc/stat", &stat, NULL);
    if (!error) {
        error = read_file("/proc/meminfo", &meminfo, NULL);
    }
    if (!error) {
        sscanf(stat, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
               &v[3], &v[4], &v[5], &v[6], &v[7]);
        *cpu_ns = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * (1000000000ULL / (hz > 0 ? hz : 100));
        if ((p = strstr(meminfo, "MemTotal:"))) {
            total = strtoull(p + 9, NULL, 10);
        }
        if ((p = strstr(meminfo, "MemAvailable:"))) {
            avail = strtoull(p + 13, NULL, 10);
        }
        *mem = (total - avail) * 1024;
    }
    free(stat);
    free(meminfo);
    return error;
}

/* The write end of the pipe init reads the agent's key from (sfc.key=1), until the host has
 * sent it; -1 otherwise. Only the channel's process holds it. */
static int key_fd = -1;

/* The agent's directory (its `--dir`), where `file` requests write; NULL without one. */
static char *file_dir;

/* Writes 'req' to a new 'path', mode 0600: unlinked first, never written through a link. */
static int
write_new_file(const char *path, const struct vmchan_request *req)
{
    int fd, error;

    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        return errno;
    }
    error = write_fully(fd, req->file_data, req->file_len);
    if (close(fd) && !error) {
        error = errno;
    }
    if (error) {
        unlink(path);
    }
    return error;
}

#define VMINIT_FILES_DIR "/run/sfcd-files"

/* A file for the guest's roles in the agent's directory. On the host's 9p export the guest's
 * root cannot own a file (QEMU, as libvirt-qemu, creates it, and the guest sees that owner:
 * a role refuses a key that is not its own), so the file written there, which the host reads,
 * is covered in the guest by a bind mount of a copy the guest's root owns, in its tmpfs. */
static int
cmd_file(const struct vmchan_request *req)
{
    char *path, *local = NULL;
    struct stat st;
    int error;

    if (!file_dir) {
        return ENOENT;
    }
    path = xasprintf("%s/%s", file_dir, req->file_name);
    /* Written again: the old copy's mount goes first, or the name stays busy. */
    if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) && errno != EINVAL && errno != ENOENT) {
        error = errno;
        goto out;
    }
    error = write_new_file(path, req);
    /* What the roles check: a file that is not the guest's root's (9p's statfs reports the
     * host's file system, so the owner is what tells). */
    if (!error && lstat(path, &st)) {
        error = errno;
    }
    if (error || st.st_uid == geteuid()) {
        goto out;
    }
    if (mkdir(VMINIT_FILES_DIR, 0700) && errno != EEXIST) {
        error = errno;
        goto out;
    }
    local = xasprintf("%s/%s", VMINIT_FILES_DIR, req->file_name);
    error = write_new_file(local, req);
    if (!error && mount(local, path, NULL, MS_BIND, NULL)) {
        error = errno;
    }
out:
    free(path);
    free(local);
    return error;
}

static void
serve_request(int port, int sock, const char *line)
{
    struct vmchan_request req;
    char reply[128];
    int error;

    error = vmchan_parse_request(line, strlen(line), &req);
    if (!error) {
        switch (req.cmd) {
        case VMCHAN_IFACE:
            error = cmd_iface(sock, &req);
            break;
        case VMCHAN_LINK:
            error = set_flags(sock, req.ifname, req.up);
            break;
        case VMCHAN_NEIGH:
            error = cmd_neigh(sock, &req);
            break;
        case VMCHAN_STATS: {
            uint64_t cpu = 0, mem = 0;
            error = guest_usage(&cpu, &mem);
            if (!error) {
                snprintf(reply, sizeof reply, "ok %llu %llu\n", (unsigned long long) cpu,
                         (unsigned long long) mem);
                write_fully(port, reply, strlen(reply));
                return;
            }
            break;
        }
        case VMCHAN_HALT:
            error = kill(1, SIGTERM) ? errno : 0;
            break;
        case VMCHAN_KEY:
            /* Once: a key cannot be replaced by whoever else opens the port later. */
            if (key_fd < 0) {
                error = EALREADY;
            } else {
                error = write_fully(key_fd, req.key, sizeof req.key);
                close(key_fd);
                key_fd = -1;
            }
            break;
        case VMCHAN_FILE:
            error = cmd_file(&req);
            break;
        }
        memset(req.key, 0, sizeof req.key);
        memset(req.file_data, 0, sizeof req.file_data);
    }
    if (error) {
        snprintf(reply, sizeof reply, "err %d %s\n", error, strerror(error));
    } else {
        snprintf(reply, sizeof reply, "ok\n");
    }
    write_fully(port, reply, strlen(reply));
}

/* The /dev node of the virtio-serial port named VMINIT_PORT_NAME. */
static int
open_port(void)
{
    uint64_t deadline = time_mono_ns() + (uint64_t) VMINIT_WAIT_MS * 1000000;

    for (;;) {
        DIR *d = opendir("/sys/class/virtio-ports");
        struct dirent *de;
        while (d && (de = readdir(d))) {
            char *path = xasprintf("/sys/class/virtio-ports/%s/name", de->d_name);
            char *name = NULL;
            int fd = -1;
            if (de->d_name[0] != '.' && !read_file(path, &name, NULL)
                && !strncmp(name, VMINIT_PORT_NAME, strlen(VMINIT_PORT_NAME))) {
                char *dev = xasprintf("/dev/%s", de->d_name);
                fd = open(dev, O_RDWR | O_CLOEXEC);
                free(dev);
            }
            free(name);
            free(path);
            if (fd >= 0) {
                closedir(d);
                return fd;
            }
        }
        if (d) {
            closedir(d);
        }
        if (time_mono_ns() >= deadline) {
            return -1;
        }
        usleep(10000);
    }
}

static void
serve_channel(void)
{
    int port = open_port();
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    char buf[1024];
    size_t len = 0;

    if (port < 0) {
        log_err("no virtio-serial port %s: the host cannot configure this guest",
                VMINIT_PORT_NAME);
        _exit(1);
    }
    for (;;) {
        ssize_t n = read(port, buf + len, sizeof buf - 1 - len);
        char *nl;
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            /* No host end connected yet: a virtio port reads EOF until one is. */
            usleep(20000);
            continue;
        }
        len += n;
        buf[len] = '\0';
        while ((nl = strchr(buf, '\n'))) {
            *nl = '\0';
            serve_request(port, sock, buf);
            len -= nl + 1 - buf;
            memmove(buf, nl + 1, len + 1);
        }
        if (len == sizeof buf - 1) {
            len = 0;            /* A line longer than any request: drop it. */
        }
    }
}

int
role_vminit(int argc, char *argv[])
{
    char *cmdline = NULL, *hostname, *init, *v;
    int key_pipe[2] = { -1, -1 };
    bool want_key, restart;
    char **args;
    size_t n = 0, program = 0;
    bool shared = false;
    pid_t pid;

    (void) argc;
    (void) argv;
    if (getpid() != 1) {
        fprintf(stderr, "sfcd vminit: only the first process of a VM runs this\n");
        return 2;
    }
    mount_basics();
    load_modules();
    if (read_file("/proc/cmdline", &cmdline, NULL)) {
        cmdline = xstrdup("");
    }
    hostname = cmdline_get(cmdline, "sfc.hostname");
    init = cmdline_get(cmdline, "sfc.init");
    want_key = (v = cmdline_get(cmdline, "sfc.key")) && !strcmp(v, "1");
    restart = (v = cmdline_get(cmdline, "sfc.restart")) && !strcmp(v, "1");
    /* The agent's key never goes on the kernel's command line (any process of the guest reads
     * /proc/cmdline, and the host's QEMU command line shows it): the host sends it over the
     * control channel once the guest serves it, and init reads it from this pipe, as fd 3,
     * blocking until it comes. */
    if (want_key && pipe2(key_pipe, O_CLOEXEC)) {
        log_err("cannot make the key's pipe: %s", strerror(errno));
        want_key = false;
    }
    {
        int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sock >= 0) {
            set_flags(sock, "lo", true);
            close(sock);
        }
    }
    /* The agent's directory, known to the channel's process before init mounts it below. */
    for (char *p = init ? strstr(init, "--dir,") : NULL; p; p = NULL) {
        p += strlen("--dir,");
        file_dir = xasprintf("%.*s", (int) strcspn(p, ","), p);
    }
    pid = fork();
    if (pid == 0) {
        if (want_key) {
            close(key_pipe[0]);
            key_fd = key_pipe[1];
        }
        serve_channel();
        _exit(0);
    }
    args = xcalloc(14 + (init ? strlen(init) : 0), sizeof *args);
    args[n++] = "sfcd";
    args[n++] = "init";
    if (hostname) {
        args[n++] = "--hostname";
        args[n++] = hostname;
    }
    if (want_key) {
        close(key_pipe[1]);
        if (key_pipe[0] == 3) {
            fcntl(3, F_SETFD, 0);       /* dup2() onto itself would keep O_CLOEXEC. */
        } else if (dup2(key_pipe[0], 3) < 0) {
            log_err("cannot hand the key's pipe to init: %s", strerror(errno));
        } else {
            close(key_pipe[0]);
        }
        args[n++] = "--key-fd";
        args[n++] = "3";
    }
    if (restart) {
        args[n++] = "--restart";
    }
    if (init && *init) {
        args[n++] = "--";
        program = n;
        for (char *save = NULL, *a = strtok_r(init, ",", &save); a;
             a = strtok_r(NULL, ",", &save)) {
            /* The agent's directory is the host's, shared over 9p (tag sfcdir), so that the
             * host reads what roles write there; without the share, a directory of our own. */
            if (n > 0 && !strcmp(args[n - 1], "--dir")) {
                char *p = xstrdup(a);
                for (char *s = p + 1; *s; s++) {
                    if (*s == '/') {
                        *s = '\0';
                        mkdir(p, 0755);
                        *s = '/';
                    }
                }
                mkdir(p, 0755);
                if (mount("sfcdir", p, "9p", 0, "trans=virtio,version=9p2000.L,cache=mmap")) {
                    log_warn("no shared directory for %s (%s): the host will not see it", p,
                             strerror(errno));
                } else {
                    shared = true;
                }
                free(p);
            }
            args[n++] = a;
        }
        /* Unix sockets cannot be bound on 9p: the agent's roles' go to the guest's /run. */
        if (shared && program < n && !strcmp(args[program], "agent")) {
            args[n++] = "--sock-dir";
            args[n++] = "/run/sfcd-sockets";
        }
    }
    execv("/proc/self/exe", args);
    log_err("cannot become sfcd init: %s", strerror(errno));
    return 1;
}
