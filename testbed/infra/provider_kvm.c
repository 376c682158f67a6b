/* The `kvm` provider: a guest is a virtual machine of libvirt's QEMU driver, a transient domain
 * named sfclab-INSTANCE-GUEST that boots sfclab's kernel and initramfs (`make images`) straight
 * into `sfcd vminit`, which becomes the same `sfcd init` (and agent) as in every other guest.
 *
 * Acceleration: KVM where the host has hardware virtualization (vmx/svm and kvm_intel or
 * kvm_amd); TCG otherwise, and on hosts whose /dev/kvm is PVM (kvm_pvm: a stock kernel hangs
 * on it, as measured here). libvirtd_kvm_accel() says which and why; the run records it.
 *
 * Its NICs are virtio-net on type='ethernet' taps that libvirt makes (in the instance's
 * namespace when the daemon is the instance's own), hot-plugged by plug_iface and configured
 * inside through the guest's control channel (a virtio-serial port, see vnfs/sfc/vminit.c): the
 * management network is one of those NICs, so it cannot carry its own configuration. exec goes
 * to the agent over the management network; stats come through the channel; save/restore are
 * virDomainSave/virDomainRestore, and a checkpoint that lets the guest go on is a live external
 * memory snapshot that restore takes back (NHAM's `vm` checkpoint backend).
 *
 * The NICs the caller names at create (guest_config.ifaces) are in the domain's XML: the VM
 * boots with them, and plug_iface only moves the tap where it belongs and configures the NIC
 * inside. A NIC plugged later is hot-plugged (ACPI PCI hot-plug: 1-5 s under TCG on a loaded
 * host, against 0.05-0.4 s for one the VM booted with).
 *
 * Measured here (TCG, 2 shared cores, load from other builds): `up` of one guest to an
 * answered exec 6.2-8.7 s at load 4-5 (it was 8.4-10.2 s before the NICs were cold-plugged
 * and the boot trimmed, same run), 20-32 s at load 13-16, where the host's load, not the
 * guest, sets the time: QEMU's CPU for a boot itself grows from 2.5 s on a free core to 5-7 s
 * on a busy one. libvirt takes 0.7-3.7 s of it to start QEMU; destroy ≈0.1 s. */

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "testbed/infra/dl_virt.h"
#include "testbed/infra/domxml.h"
#include "testbed/infra/libvirtd.h"
#include "testbed/infra/link.h"
#include "testbed/infra/manifest.h"
#include "testbed/infra/netns.h"
#include "testbed/infra/provider.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"
#include "vnfs/lib/vmchan.h"

extern const struct guest_provider guest_provider_kvm;

#define KVM_EMULATOR "/usr/bin/qemu-system-x86_64"
#define KVM_CHANNEL "org.sfclab.ctl"
#define KVM_AGENT_PORT 7070
/* Boot to a serving control channel: ≈10 s under TCG here, far more on a loaded host. */
#define KVM_BOOT_TIMEOUT_MS 180000
/* Above vminit.c's wait for a hot-plugged NIC, so that its answer is the one heard. */
#define KVM_CHANNEL_TIMEOUT_MS 75000
#define KVM_GONE_TIMEOUT_MS 10000

/* A NIC the caller named at create (guest_config.ifaces): the domain boots with it. Those
 * hot-plugged later are added: a restore makes every tap again. */
struct kvm_nic {
    char *port;                 /* The tap, its host end. */
    uint8_t mac[6];
    bool configured;            /* plug_iface has named and addressed it inside. */
};

struct kvm_guest {
    struct libvirtd_domain d;
    struct kvm_nic *nics;       /* Cold-plugged at start, in the domain's XML. */
    size_t n_nics;
    char *netns_path;           /* The instance's host namespace: where the agents answer. */
    int ctl_fd;                 /* The control channel, -1 until connected. */
    pthread_mutex_t ctl_mutex;  /* Guards ctl_fd: the runner samples stats through it while
                                 * NHAM's controller may restore the guest (which closes it). */
    bool has_mgmt;              /* The first interface plugged with an address: the agent's. */
    bool shared;                /* The agent's directory is a 9p export. */
    struct in_addr mgmt_addr;
    enum guest_state stopped_state;
};

static struct kvm_guest *
kg_of(const struct guest *g)
{
    return g->priv;
}

/* Where `make images` put the kernel and the initramfs: SFCLAB_IMAGES, else build/images
 * beside the bin/ that holds sfcd. */
static char *
image_path(const char *sfcd, const char *name)
{
    const char *env = getenv("SFCLAB_IMAGES");
    char *copy, *path;

    if (env && *env) {
        return xasprintf("%s/%s", env, name);
    }
    copy = xstrdup(sfcd);
    path = xasprintf("%s/../build/images/%s", dirname(copy), name);
    free(copy);
    return path;
}

static void
ctl_close_locked(struct kvm_guest *kg)
{
    if (kg->ctl_fd >= 0) {
        close(kg->ctl_fd);
        kg->ctl_fd = -1;
    }
}

static void
ctl_close(struct kvm_guest *kg)
{
    pthread_mutex_lock(&kg->ctl_mutex);
    ctl_close_locked(kg);
    pthread_mutex_unlock(&kg->ctl_mutex);
}

static void
kvm_free(struct guest *g)
{
    struct kvm_guest *kg = kg_of(g);

    if (kg) {
        ctl_close(kg);
        libvirtd_domain_close(&kg->d);
        for (size_t i = 0; i < kg->n_nics; i++) {
            free(kg->nics[i].port);
        }
        free(kg->nics);
        free(kg->netns_path);
        pthread_mutex_destroy(&kg->ctl_mutex);
        free(kg);
    }
    guest_free_common(g);
    free(g);
}

static int
kvm_new(const struct guest_config *cfg, struct manifest *manifest, bool start_daemon,
        struct guest **gp)
{
    struct guest *g = xzalloc(sizeof *g);
    struct kvm_guest *kg;
    int error;

    error = guest_init_common(g, &guest_provider_kvm, cfg, manifest);
    if (error) {
        free(g);
        return error;
    }
    kg = g->priv = xzalloc(sizeof *kg);
    kg->ctl_fd = -1;
    pthread_mutex_init(&kg->ctl_mutex, NULL);
    kg->stopped_state = GUEST_STOPPED;
    kg->netns_path = xasprintf("/run/netns/sfclab-%s", cfg->instance);
    if (cfg->n_ifaces) {
        kg->nics = xcalloc(cfg->n_ifaces, sizeof *kg->nics);
    }
    for (size_t i = 0; i < cfg->n_ifaces; i++) {
        const struct guest_iface *f = &cfg->ifaces[i];
        if (f->port && f->mac) {
            struct kvm_nic *n = &kg->nics[kg->n_nics++];
            n->port = xstrdup(f->port);
            memcpy(n->mac, f->mac, 6);
        }
    }
    error = libvirtd_domain_open(&kg->d, "qemu", cfg, manifest, start_daemon);
    if (error) {
        kvm_free(g);
    } else {
        *gp = g;
    }
    return error;
}

/* The kernel to boot: `make images` unpacks the bzImage's payload into vmlinux, an ELF that
 * QEMU boots through its PVH entry point. Under TCG the bzImage's own xz decompression and
 * the BIOS's real-mode path before it took most of a boot: the first kernel line came 24.6 s
 * after QEMU started against 2.1 s for vmlinux (same load of 15 on 2 cores). An older
 * build/images without it still boots the bzImage. */
static char *
boot_kernel(const char *sfcd)
{
    char *path = image_path(sfcd, "vmlinux");

    if (access(path, R_OK)) {
        free(path);
        path = image_path(sfcd, "vmlinuz");
    }
    return path;
}

static int
kvm_create(const struct guest_config *cfg, struct manifest *manifest, struct guest **gp)
{
    const char *images[] = { "vmlinuz", "initrd.img" };
    struct guest *g;
    int error;

    for (size_t i = 0; cfg->sfcd && i < ARRAY_SIZE(images); i++) {
        char *path = image_path(cfg->sfcd, images[i]);
        bool ok = !access(path, R_OK);
        if (!ok) {
            log_err("guest %s: %s is missing (`make images` builds it)", cfg->name, path);
        }
        free(path);
        if (!ok) {
            return ENOENT;
        }
    }
    if (access(KVM_EMULATOR, X_OK)) {
        log_err("guest %s: %s not installed (make deps installs qemu-system-x86)", cfg->name,
                KVM_EMULATOR);
        return ENOENT;
    }
    error = kvm_new(cfg, manifest, true, &g);
    if (error) {
        return error;
    }
    error = libvirtd_domain_unused(&kg_of(g)->d, cfg->instance);
    if (error) {
        kvm_free(g);
        return error;
    }
    *gp = g;
    return 0;
}

/* The host path of the domain's control channel: libvirt places it under its own
 * /var/lib/libvirt, which for the instance's own daemon is INSTANCE_DIR/libvirt/lib. */
static char *
channel_path(struct kvm_guest *kg)
{
    char *xml = dl_virt.virDomainGetXMLDesc(kg->d.dom, 0);
    char *path = NULL, *p, *end;
    const char *key = "path='";

    if (!xml) {
        return NULL;
    }
    for (p = xml; (p = strstr(p, key)); p++) {
        p += strlen(key);
        end = strchr(p, '\'');
        if (end && end - p > (ptrdiff_t) strlen(KVM_CHANNEL)
            && !strncmp(end - strlen(KVM_CHANNEL), KVM_CHANNEL, strlen(KVM_CHANNEL))) {
            path = xasprintf("%.*s", (int) (end - p), p);
            break;
        }
    }
    free(xml);
    if (path && strstr(kg->d.uri, "?socket=") && !strncmp(path, "/var/lib/libvirt/", 17)) {
        char *host = xasprintf("%s/libvirt/lib/%s", kg->d.inst_dir, path + 17);
        free(path);
        path = host;
    }
    return path;
}

static int
ctl_connect(struct kvm_guest *kg)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    char *path;
    int fd, dir_fd = -1, error = 0;

    if (kg->ctl_fd >= 0) {
        return 0;
    }
    path = channel_path(kg);
    if (!path) {
        return ENOENT;
    }
    if (strlen(path) >= sizeof sun.sun_path) {
        /* Deep under an instance directory the path outgrows sun_path: reach the socket
         * through an fd of its directory instead. */
        char *slash = strrchr(path, '/');
        *slash = '\0';
        dir_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0) {
            error = errno;
            goto out;
        }
        snprintf(sun.sun_path, sizeof sun.sun_path, "/proc/self/fd/%d/%s", dir_fd, slash + 1);
    } else {
        strcpy(sun.sun_path, path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *) &sun, sizeof sun)) {
        error = errno;
        if (fd >= 0) {
            close(fd);
        }
    } else {
        kg->ctl_fd = fd;
    }
out:
    if (dir_fd >= 0) {
        close(dir_fd);
    }
    free(path);
    return error;
}

/* One request over the control channel; 'reply' (may be NULL) gets the guest's answer,
 * which is parsed as the untrusted input it is. */
static int
ctl_request_locked(struct kvm_guest *kg, const char *request, int timeout_ms,
                   struct vmchan_reply *reply)
{
    uint64_t deadline = time_mono_ns() + (uint64_t) timeout_ms * 1000000;
    char line[VMCHAN_MAX_LINE + 2];
    struct vmchan_reply r;
    size_t len = 0;
    int error;

    error = ctl_connect(kg);
    if (!error) {
        error = write_fully(kg->ctl_fd, request, strlen(request));
    }
    while (!error) {
        struct pollfd pfd = { kg->ctl_fd, POLLIN, 0 };
        uint64_t now = time_mono_ns();
        char *nl;
        ssize_t n;
        if (now >= deadline) {
            error = ETIMEDOUT;
            break;
        }
        if (poll(&pfd, 1, (int) ((deadline - now) / 1000000 + 1)) <= 0) {
            continue;
        }
        n = read(kg->ctl_fd, line + len, sizeof line - 1 - len);
        if (n <= 0) {
            error = n < 0 ? errno : ECONNRESET;
            break;
        }
        len += n;
        nl = memchr(line, '\n', len);
        if (nl) {
            if (nl + 1 != line + len || vmchan_parse_reply(line, nl - line, &r)) {
                error = EPROTO;     /* More than one line, or not a reply. */
                break;
            }
            if (r.error) {
                /* The command word only: a key's line must not reach a log. */
                log_debug("kvm: '%.*s' -> error %d", (int) strcspn(request, " \n"), request,
                          r.error);
            } else if (reply) {
                *reply = r;
            }
            return r.error;
        }
        if (len == sizeof line - 1) {
            error = EPROTO;
        }
    }
    /* A torn exchange leaves the stream out of step: start again on a new connection. */
    ctl_close_locked(kg);
    return error;
}

static int
ctl_request(struct kvm_guest *kg, const char *request, int timeout_ms,
            struct vmchan_reply *reply)
{
    int error;

    pthread_mutex_lock(&kg->ctl_mutex);
    error = ctl_request_locked(kg, request, timeout_ms, reply);
    pthread_mutex_unlock(&kg->ctl_mutex);
    return error;
}

/* The end of a guest's console log, logged: a run's directory (and the log) is gone by the
 * time anyone reads why a CI run failed. */
static void
log_console_tail(const struct guest *g)
{
    char *path = g->run_dir ? xasprintf("%s/%s.log", g->run_dir, g->name) : NULL;
    char tail[1025];
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;

    if (fd >= 0) {
        off_t end = lseek(fd, 0, SEEK_END);
        ssize_t n = pread(fd, tail, sizeof tail - 1, end > 1024 ? end - 1024 : 0);
        if (n > 0) {
            tail[n] = '\0';
            log_err("guest %s: the end of its console:\n%s", g->name, tail);
        }
        close(fd);
    }
    free(path);
}

/* Until vminit serves the channel: the guest has booted and can be wired. */
static int
wait_booted(struct guest *g)
{
    struct kvm_guest *kg = kg_of(g);
    uint64_t deadline = time_mono_ns() + (uint64_t) KVM_BOOT_TIMEOUT_MS * 1000000;

    for (;;) {
        /* One request, awaited until the deadline: QEMU keeps what the host wrote until the
         * guest opens its port, so a request sent again after a shorter wait was answered
         * twice once the guest came up, and the second answer was read as the key's (a
         * "Protocol error" at the key's handover under TCG, once in CI). A QEMU that ends
         * closes the channel, which ends the wait as well. */
        uint64_t now = time_mono_ns();
        int error = ctl_request(kg, "stats\n",
                                now < deadline ? (int) ((deadline - now) / 1000000 + 1) : 1, NULL);
        if (!error) {
            return 0;
        }
        if (!libvirtd_domain_active(&kg->d)) {
            log_err("guest %s: the VM stopped while booting (see %s/%s.log)", g->name,
                    g->run_dir ? g->run_dir : ".", g->name);
            log_console_tail(g);
            return ESRCH;
        }
        if (time_mono_ns() >= deadline) {
            log_err("guest %s: no answer on its control channel after %d s (see %s/%s.log)",
                    g->name, KVM_BOOT_TIMEOUT_MS / 1000, g->run_dir ? g->run_dir : ".",
                    g->name);
            return ETIMEDOUT;
        }
        ctl_close(kg);
        usleep(100000);
    }
}

/* The agent's key, to vminit over the control channel (a host socket only root can open, and
 * in the guest a port its own root opens): vminit accepts one key and passes it to init on a
 * pipe. */
_Static_assert(GUEST_SECRET_BYTES == VMCHAN_KEY_BYTES, "the agent's key is the channel's");

static int
kvm_send_key(struct guest *g)
{
    struct kvm_guest *kg = kg_of(g);
    char line[8 + 2 * GUEST_SECRET_BYTES];
    size_t n = 0;
    int error;

    n += snprintf(line, sizeof line, "key ");
    for (size_t i = 0; i < GUEST_SECRET_BYTES; i++) {
        n += snprintf(line + n, sizeof line - n, "%02x", g->init_secret[i]);
    }
    snprintf(line + n, sizeof line - n, "\n");
    error = ctl_request(kg, line, 5000, NULL);
    if (error) {
        log_err("guest %s: cannot hand its agent's key over: %s", g->name, strerror(error));
    }
    sodium_memzero(line, sizeof line);
    return error;
}

/* A file for the guest's roles, written by vminit over the control channel: QEMU reads the
 * 9p export as libvirt-qemu and cannot open what root wrote there mode 0600, and a guest
 * started without the export (SFCLAB_KVM_SHARE=0) sees no host file at all. Only into the
 * guest's own directory, the one vminit knows. */
static int
kvm_put_file(struct guest *g, const char *path, const void *data, size_t len)
{
    const uint8_t *bytes = data;
    const char *slash = strrchr(path, '/');
    char line[8 + 64 + 2 * GUEST_FILE_MAX_BYTES];
    size_t n;
    int error;

    _Static_assert(GUEST_FILE_MAX_BYTES <= VMCHAN_FILE_MAX_BYTES, "a file fits one request");
    if (!g->private_dir || !slash || strlen(g->private_dir) != (size_t) (slash - path)
        || strncmp(path, g->private_dir, slash - path) || strlen(slash + 1) > 63 || !len
        || len > GUEST_FILE_MAX_BYTES) {
        log_err("guest %s: %s is not a file vminit can write in its directory %s", g->name,
                path, g->private_dir ? g->private_dir : "(none)");
        return EINVAL;
    }
    n = (size_t) snprintf(line, sizeof line, "file %s ", slash + 1);
    for (size_t i = 0; i < len; i++) {
        n += (size_t) snprintf(line + n, sizeof line - n, "%02x", bytes[i]);
    }
    snprintf(line + n, sizeof line - n, "\n");
    error = ctl_request(kg_of(g), line, KVM_CHANNEL_TIMEOUT_MS, NULL);
    sodium_memzero(line, sizeof line);
    if (error) {
        log_err("guest %s: vminit cannot write %s: %s", g->name, path, strerror(error));
    }
    return error;
}

/* The guest's CPU quota, left out of its XML so that it boots at full speed (domxml.h). */
static int
set_vcpu_quota(struct guest *g)
{
    struct kvm_guest *kg = kg_of(g);
    virTypedParameter params[2];
    unsigned long long period;
    long long quota;

    domxml_vcpu_quota(g->cpus, g->cpu_period_us, &period, &quota);
    memset(params, 0, sizeof params);
    snprintf(params[0].field, sizeof params[0].field, "%s", VIR_DOMAIN_SCHEDULER_VCPU_PERIOD);
    params[0].type = VIR_TYPED_PARAM_ULLONG;
    params[0].value.ul = period;
    snprintf(params[1].field, sizeof params[1].field, "%s", VIR_DOMAIN_SCHEDULER_VCPU_QUOTA);
    params[1].type = VIR_TYPED_PARAM_LLONG;
    params[1].value.l = quota;
    if (dl_virt.virDomainSetSchedulerParametersFlags(kg->d.dom, params, 2,
                                                     VIR_DOMAIN_AFFECT_LIVE) < 0) {
        log_err("guest %s: cannot set its CPU quota (%.2f cores): %s", g->name, g->cpus,
                libvirtd_last_error());
        return EIO;
    }
    return 0;
}

/* True if QEMU, running as libvirt-qemu (testbed/infra/libvirtd.c), can read 'path': a build
 * tree below a directory only root may enter (a clone in /root, or in `mktemp -d`) is not. */
static bool
kvm_qemu_can_read(const char *path)
{
    struct passwd *pw = getpwnam("libvirt-qemu");
    int status;
    pid_t pid;

    if (!pw) {
        return true;                /* libvirtd's start makes it, and says so if it cannot. */
    }
    pid = fork();
    if (!pid) {
        _exit(setgroups(0, NULL) || setgid(pw->pw_gid) || setuid(pw->pw_uid)
              || access(path, R_OK) ? 1 : 0);
    }
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status)
           && !WEXITSTATUS(status);
}

#define KVM_COPY_CHUNK (1 << 20)

/* '*pathp' (a boot image) where QEMU can read it: as it is if it can, else copied into
 * 'dir' (the guests' directory, which sfclab made for QEMU to reach) once for the guests
 * that share it, recorded in 'manifest' (the undo of any of them removes it; a guest started
 * after copies it again), '*pathp' then naming the copy. */
static int
kvm_reachable_image(const char *dir, struct manifest *manifest, char **pathp)
{
    const char *slash = strrchr(*pathp, '/');
    char *copy = NULL, *tmp = NULL, *chunk = NULL;
    int from = -1, to = -1, error = 0;
    struct stat st;

    if (kvm_qemu_can_read(*pathp)) {
        return 0;
    }
    if (!dir) {
        log_err("%s: QEMU (as libvirt-qemu) cannot read it, and the guest has no directory "
                "to copy it to", *pathp);
        return EACCES;
    }
    copy = xasprintf("%s/boot-%s", dir, slash ? slash + 1 : *pathp);
    if (!stat(copy, &st)) {
        goto out;                   /* Another guest of the instance copied it. */
    }
    tmp = xasprintf("%s.%d.tmp", copy, (int) gettid());      /* Guests start on threads. */
    error = manifest_record_file(manifest, tmp);
    if (!error) {
        error = manifest_record_file(manifest, copy);
    }
    if (error) {
        log_err("%s: cannot record its copy for QEMU: %s", *pathp, strerror(error));
        goto out;
    }
    from = open(*pathp, O_RDONLY | O_CLOEXEC);
    to = from < 0 ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    error = from < 0 || to < 0 || fstat(from, &st) ? errno : 0;
    /* read/write: copy_file_range() refuses to cross from the build tree to /run's tmpfs. */
    chunk = xmalloc(KVM_COPY_CHUNK);
    for (off_t left = st.st_size; !error && left > 0;) {
        ssize_t n = read(from, chunk, KVM_COPY_CHUNK);

        error = n < 0 ? errno : !n ? EIO : write_fully(to, chunk, n);
        left -= n;
    }
    if (!error && rename(tmp, copy)) {
        error = errno;
    }
    if (error) {
        log_err("%s: cannot copy it to %s for QEMU: %s", *pathp, copy, strerror(error));
        unlink(tmp);
    } else {
        log_info("%s: QEMU (as libvirt-qemu) cannot reach it: booting a copy, %s", *pathp,
                 copy);
    }
out:
    if (!error) {
        free(*pathp);
        *pathp = copy;
        copy = NULL;
    }
    if (from >= 0) {
        close(from);
    }
    if (to >= 0) {
        close(to);
    }
    free(chunk);
    free(tmp);
    free(copy);
    return error;
}

static int
kvm_start(struct guest *g)
{
    struct kvm_guest *kg = kg_of(g);
    char *kernel = boot_kernel(g->sfcd);
    char *initrd = image_path(g->sfcd, "initrd.img");
    char *log = g->run_dir ? xasprintf("%s/%s.log", g->run_dir, g->name) : NULL;
    char *title = xasprintf("sfclab instance %s, guest %s", g->instance, g->name);
    struct buf cmdline = BUF_INITIALIZER, xml = BUF_INITIALIZER;
    struct domxml_iface *nics = xcalloc(kg->n_nics + 1, sizeof *nics);
    const char *why, *share = NULL;
    bool accel = libvirtd_kvm_accel(&why);
    uint64_t t0, t1;
    int error = 0;

    if (kg->d.dom) {
        error = EBUSY;
        goto out;
    }
    error = kvm_reachable_image(g->run_dir, g->manifest, &kernel);
    if (!error) {
        error = kvm_reachable_image(g->run_dir, g->manifest, &initrd);
    }
    if (error) {
        goto out;
    }
    for (size_t i = 0; i < kg->n_nics; i++) {
        nics[i] = (struct domxml_iface) { .port = kg->nics[i].port, .mac = kg->nics[i].mac };
        kg->nics[i].configured = false;
    }
    /* quiet: under TCG every console line costs; panic=-1: when init ends, the kernel reboots
     * and libvirt (on_reboot destroy) ends the domain; cryptomgr.notests: the crypto self-tests
     * were the two slowest initcalls (2.4 s of 12 under TCG, initcall_debug), testing
     * algorithms this guest does not use. Counted in guest instructions to a serving channel
     * (-icount): rodata=off skips write-protecting the kernel and checking every mapping for
     * W+X (0.13 G of 0.94 G); kdf108's self-test (keyctl's DH KDF) and kprobe events, which
     * nothing here uses, were 0.13 G and 0.45 s. */
    buf_printf(&cmdline, "console=ttyS0 quiet panic=-1 cryptomgr.notests rodata=off "
               "initcall_blacklist=crypto_kdf108_init,init_kprobe_trace rdinit=/sfcd vminit "
               "sfc.hostname=%s", g->hostname);
    /* An emulated CPU does not speculate: under TCG the guest's Spectre-class mitigations
     * only cost, first in patching every return and indirect call site at boot (0.5-1 s of
     * wall time on a loaded host, where self-modifying code is dear to the emulator), then
     * at every kernel entry. Under KVM the CPU is real, and so are they. */
    if (!accel) {
        buf_printf(&cmdline, " mitigations=off");
    }
    for (size_t i = 0; g->init_args && g->init_args[i]; i++) {
        if (strpbrk(g->init_args[i], " ,\"'\n") || !*g->init_args[i]) {
            log_err("guest %s: init argument '%s' cannot go on a kernel command line", g->name,
                    g->init_args[i]);
            error = EINVAL;
            goto out;
        }
        buf_printf(&cmdline, "%s%s", i ? "," : " sfc.init=", g->init_args[i]);
    }
    /* Only that a key will come: the key itself goes over the control channel (kvm_send_key),
     * never on a command line the guest or the host's `ps` can read. */
    if (g->has_init_secret) {
        buf_printf(&cmdline, " sfc.key=1");
    }
    if (g->init_restart) {
        buf_printf(&cmdline, " sfc.restart=1");
    }
    buf_put_u8(&cmdline, '\0');
    /* The agent's directory (its roles' logs and outputs, which the runner reads on the host)
     * is shared with the guest over 9p and mounted there at the same path. QEMU runs as
     * libvirt-qemu: the directory, made by sfclab for this guest, becomes its. QEMU refuses
     * to save a VM with a 9p export mounted: SFCLAB_KVM_SHARE=0 starts guests without it,
     * for the `vm` checkpoint backend (their roles' outputs then stay inside). */
    const char *share_env = getenv("SFCLAB_KVM_SHARE");
    bool want_share = (!share_env || strcmp(share_env, "0")) && !g->savable;
    for (size_t i = 0; want_share && g->init_args && g->init_args[i] && g->init_args[i + 1];
         i++) {
        struct passwd *pw = getpwnam("libvirt-qemu");
        if (!strcmp(g->init_args[i], "--dir") && pw
            && !chown(g->init_args[i + 1], pw->pw_uid, pw->pw_gid)) {
            share = g->init_args[i + 1];
        }
    }
    {
        struct domxml_guest dg = {
            .name = kg->d.name, .title = title, .cpus = g->cpus,
            .period_us = g->cpu_period_us, .memory = g->memory,
            .kvm = accel, .emulator = KVM_EMULATOR, .kernel = kernel,
            .initrd = initrd, .cmdline = (const char *) cmdline.data, .console_log = log,
            .channel = KVM_CHANNEL, .share_dir = share, .share_tag = share ? "sfcdir" : NULL,
            .ifaces = nics, .n_ifaces = kg->n_nics, .quota_after_boot = true,
            /* q35 boots on 15-20% less of QEMU's CPU than i440FX (pc) under TCG, alternated
             * at load 9-12; two vCPUs cost more on either, and libvirt 9 puts no virtio
             * device on microvm ("No PCI buses available"). SFCLAB_KVM_MACHINE and
             * SFCLAB_KVM_VCPUS are for measuring that again. */
            .machine = getenv("SFCLAB_KVM_MACHINE"),
            /* NICs not named at create are hot-plugged, each into a root port of its own. */
            .spare_ports = kg->n_nics ? 0 : 2,
            .vcpus = getenv("SFCLAB_KVM_VCPUS") ? (unsigned) atoi(getenv("SFCLAB_KVM_VCPUS")) : 0,
        };
        error = domxml_kvm(&dg, &xml);
    }
    if (error) {
        goto out;
    }
    buf_put_u8(&xml, '\0');
    log_debug("guest %s: %s", g->name, why);
    error = manifest_record_domain(g->manifest, kg->d.uri, kg->d.name);
    if (error) {
        goto out;
    }
    t0 = time_mono_ns();
    kg->d.dom = dl_virt.virDomainCreateXML(kg->d.conn, (const char *) xml.data, 0);
    if (!kg->d.dom) {
        log_err("guest %s: libvirt cannot start %s: %s", g->name, kg->d.name,
                libvirtd_last_error());
        error = EIO;
        goto out;
    }
    t1 = time_mono_ns();
    kg->shared = share != NULL;
    error = wait_booted(g);
    {
        /* What a boot costs, which the host's load does not change much: QEMU's CPU time. */
        virDomainInfo info;
        double cpu_ms = dl_virt.virDomainGetInfo(kg->d.dom, &info) ? -1 : info.cpuTime / 1e6;
        log_debug("guest %s: libvirt started QEMU in %.0f ms, the guest served its channel "
                  "%.0f ms later; QEMU used %.0f ms of CPU", g->name, (t1 - t0) / 1e6,
                  (time_mono_ns() - t1) / 1e6, cpu_ms);
    }
    if (!error && g->has_init_secret) {
        error = kvm_send_key(g);
    }
    if (!error && g->cpus > 0) {
        error = set_vcpu_quota(g);
    }
    if (error) {
        dl_virt.virDomainDestroy(kg->d.dom);
        libvirtd_domain_forget(&kg->d);
        goto out;
    }
    g->exit_status = -1;
    g->started_ns = time_mono_ns();
    kg->stopped_state = GUEST_STOPPED;
out:
    buf_uninit(&cmdline);
    buf_uninit(&xml);
    free(nics);
    free(kernel);
    free(initrd);
    free(log);
    free(title);
    return error;
}

static void
forget_domain(struct kvm_guest *kg, enum guest_state state)
{
    ctl_close(kg);
    libvirtd_domain_forget(&kg->d);
    kg->stopped_state = state;
}

/* init stops every process, then the kernel reboots and libvirt ends the domain. */
static int
kvm_shutdown(void *kg)
{
    return ctl_request(kg, "halt\n", 1000, NULL);
}

static int
kvm_stop(struct guest *g, uint64_t grace_ns)
{
    struct kvm_guest *kg = kg_of(g);
    int error;

    if (!kg->d.dom) {
        return 0;
    }
    error = libvirtd_domain_stop(&kg->d, kvm_shutdown, kg, grace_ns,
                                 (uint64_t) KVM_GONE_TIMEOUT_MS * 1000000);
    if (!error) {
        forget_domain(kg, GUEST_STOPPED);
    }
    return error;
}

static int
kvm_destroy(struct guest *g)
{
    int error = libvirtd_domain_destroy(&kg_of(g)->d);

    kvm_free(g);
    return error;
}

/* The helper process of exec: asks the agent to run argv, relays its output and exits with
 * its exit code. */
static int
exec_helper(struct guest *g, char *const argv[], int out_fd, int err_fd)
{
    struct kvm_guest *kg = kg_of(g);
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(KVM_AGENT_PORT),
                               .sin_addr = kg->mgmt_addr };
    json_t *params = json_object(), *jargv = json_array(), *result = NULL;
    struct buf out = BUF_INITIALIZER, err = BUF_INITIALIZER;
    int fd = -1, error, code = 127;

    for (size_t i = 0; argv[i]; i++) {
        json_array_append_new(jargv, json_string(argv[i]));
    }
    json_object_set_new(params, "argv", jargv);
    error = netns_socket(kg->netns_path, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, &fd);
    if (!error && connect(fd, (struct sockaddr *) &sin, sizeof sin)) {
        error = errno;
    }
    if (!error && g->has_init_secret) {
        /* The agent serves only callers that hold its key. */
        error = rpc_client_auth(fd, g->init_secret, 5000);
    }
    if (!error) {
        error = rpc_call(fd, "exec", params, &result, 600000);
    }
    if (error) {
        fprintf(stderr, "sfclab: exec through the agent at %s: %s\n",
                inet_ntoa(kg->mgmt_addr), strerror(error));
        goto out;
    }
    code = json_integer_value(json_object_get(result, "exit_code"));
    if (!rpc_base64_decode(json_string_value(json_object_get(result, "stdout")) ?: "", &out)) {
        write_fully(out_fd >= 0 ? out_fd : 1, out.data, out.len);
    }
    if (!rpc_base64_decode(json_string_value(json_object_get(result, "stderr")) ?: "", &err)) {
        write_fully(err_fd >= 0 ? err_fd : 2, err.data, err.len);
    }
out:
    if (fd >= 0) {
        rpc_client_forget(fd);
        close(fd);
    }
    json_decref(params);
    json_decref(result);
    buf_uninit(&out);
    buf_uninit(&err);
    return code;
}

static int
kvm_exec(struct guest *g, char *const argv[], const struct guest_exec_opts *opts, pid_t *pidp)
{
    struct kvm_guest *kg = kg_of(g);
    pid_t pid;

    if (!libvirtd_domain_active(&kg->d)) {
        return ESRCH;
    }
    if (!kg->has_mgmt) {
        log_err("guest %s: exec needs the agent's management address", g->name);
        return ENOTCONN;
    }
    pid = fork();
    if (pid < 0) {
        return errno;
    }
    if (!pid) {
        _exit(exec_helper(g, argv, opts ? opts->stdout_fd : -1, opts ? opts->stderr_fd : -1));
    }
    *pidp = pid;
    return 0;
}

static int
kvm_pause(struct guest *g)
{
    return libvirtd_domain_pause(&kg_of(g)->d);
}

static int
kvm_resume(struct guest *g)
{
    return libvirtd_domain_resume(&kg_of(g)->d);
}

static enum guest_state
kvm_state(struct guest *g)
{
    struct kvm_guest *kg = kg_of(g);
    enum guest_state state;

    if (!kg->d.dom) {
        return kg->stopped_state;
    }
    if (libvirtd_domain_state(&kg->d, &state)) {
        forget_domain(kg, GUEST_GONE);
        return GUEST_GONE;
    }
    return state;
}

/* A virtio NIC whose tap (f->port) is the host end; vminit names and addresses the guest's
 * end, found by MAC, on a request over the control channel. */
static int
kvm_plug_iface(struct guest *g, struct link_ns *host, const struct guest_iface *f)
{
    struct kvm_guest *kg = kg_of(g);
    struct kvm_nic *nic = NULL;
    char request[128], cidr[32] = "-";
    int error;

    for (size_t i = 0; f->mac && f->port && i < kg->n_nics; i++) {
        if (!kg->nics[i].configured && !strcmp(kg->nics[i].port, f->port)
            && !memcmp(kg->nics[i].mac, f->mac, 6)) {
            nic = &kg->nics[i];
            break;
        }
    }
    /* A NIC the domain booted with needs only its host end in the instance's namespace (the
     * host's libvirtd made it in its own); any other is hot-plugged. */
    error = nic ? libvirtd_domain_adopt_tap(&kg->d, host, f->port)
                : libvirtd_domain_plug(&kg->d, host, f, true);
    if (!error) {
        error = guest_iface_up(NULL, host, f);
    }
    if (error) {
        return error;
    }
    if (f->has_addr) {
        snprintf(cidr, sizeof cidr, "%s/%d", inet_ntoa(f->addr), f->prefix_len);
    }
    snprintf(request, sizeof request, "iface %02x:%02x:%02x:%02x:%02x:%02x %s %s\n",
             f->mac[0], f->mac[1], f->mac[2], f->mac[3], f->mac[4], f->mac[5], f->ifname,
             cidr);
    error = ctl_request(kg, request, KVM_CHANNEL_TIMEOUT_MS, NULL);
    if (error) {
        log_err("guest %s: cannot configure %s inside: %s", g->name, f->ifname,
                strerror(error));
        return error;
    }
    if (!nic) {
        kg->nics = xrealloc(kg->nics, (kg->n_nics + 1) * sizeof *kg->nics);
        nic = &kg->nics[kg->n_nics++];
        memset(nic, 0, sizeof *nic);
        nic->port = xstrdup(f->port);
        memcpy(nic->mac, f->mac, 6);
    }
    nic->configured = true;
    if (!kg->has_mgmt && f->has_addr) {
        kg->has_mgmt = true;
        kg->mgmt_addr = f->addr;
    }
    return 0;
}

static int
kvm_set_link(struct guest *g, const char *ifname, bool up)
{
    char request[64];

    snprintf(request, sizeof request, "link %s %s\n", ifname, up ? "up" : "down");
    return ctl_request(kg_of(g), request, KVM_CHANNEL_TIMEOUT_MS, NULL);
}

static int
kvm_neigh_add(struct guest *g, const char *ifname, struct in_addr ip, const uint8_t mac[6])
{
    char request[96];

    snprintf(request, sizeof request, "neigh %s %s %02x:%02x:%02x:%02x:%02x:%02x\n", ifname,
             inet_ntoa(ip), mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    return ctl_request(kg_of(g), request, KVM_CHANNEL_TIMEOUT_MS, NULL);
}

/* Every vCPU and QEMU's own threads on one host CPU. */
static int
kvm_pin(struct guest *g, int cpu)
{
    struct kvm_guest *kg = kg_of(g);
    int n_cpus = dl_virt.virNodeGetCPUMap(kg->d.conn, NULL, NULL, 0);
    int maplen = VIR_CPU_MAPLEN(n_cpus > 0 ? n_cpus : 1);
    unsigned char *map = xzalloc(maplen);
    virDomainInfo info;
    int error = 0;

    if (!libvirtd_domain_active(&kg->d) || dl_virt.virDomainGetInfo(kg->d.dom, &info) < 0) {
        free(map);
        return ESRCH;
    }
    for (int i = 0; i < n_cpus; i++) {
        if (cpu < 0 || i == cpu) {
            VIR_USE_CPU(map, i);
        }
    }
    for (unsigned int v = 0; v < info.nrVirtCpu; v++) {
        if (dl_virt.virDomainPinVcpu(kg->d.dom, v, map, maplen) < 0) {
            error = EIO;
        }
    }
    if (dl_virt.virDomainPinEmulator(kg->d.dom, map, maplen, VIR_DOMAIN_AFFECT_LIVE) < 0) {
        error = EIO;
    }
    if (error) {
        log_warn("guest %s: cannot pin to CPU %d: %s", g->name, cpu, libvirtd_last_error());
    }
    free(map);
    return error;
}

static int
kvm_stats(const struct guest *g, struct guest_stats *st)
{
    struct vmchan_reply reply;
    int error;

    error = ctl_request(kg_of(g), "stats\n", KVM_CHANNEL_TIMEOUT_MS, &reply);
    if (error) {
        return error;
    }
    if (reply.n_values != 2) {
        return EPROTO;
    }
    st->cpu_ns = reply.values[0];
    st->mem_bytes = reply.values[1];
    return 0;
}

/* "DOMAIN MGMT": the domain to look up, and where its agent answers. */
static char *
kvm_handle(const struct guest *g)
{
    struct kvm_guest *kg = kg_of(g);

    if (!kg->d.dom) {
        return NULL;
    }
    return xasprintf("%s %s", kg->d.name, kg->has_mgmt ? inet_ntoa(kg->mgmt_addr) : "-");
}

static int
kvm_attach(const struct guest_config *cfg, const char *handle, struct guest **gp)
{
    char dom_name[256], mgmt[32];
    struct kvm_guest *kg;
    struct guest *g;
    int error;

    if (sscanf(handle, "%255s %31s", dom_name, mgmt) != 2) {
        log_err("guest %s: '%s' is not a kvm guest handle (DOMAIN MGMT)",
                cfg->name ? cfg->name : "", handle);
        return EINVAL;
    }
    error = kvm_new(cfg, NULL, false, &g);
    if (error) {
        return error;
    }
    kg = kg_of(g);
    if (strcmp(dom_name, kg->d.name)) {
        log_err("guest %s: handle names domain %s, expected %s", cfg->name, dom_name,
                kg->d.name);
        kvm_free(g);
        return EINVAL;
    }
    kg->has_mgmt = inet_aton(mgmt, &kg->mgmt_addr);
    if (libvirtd_domain_lookup(&kg->d)) {
        kvm_free(g);
        return ESRCH;
    }
    g->exit_status = -1;
    kg->stopped_state = GUEST_GONE;
    *gp = g;
    return 0;
}

static void
kvm_release(struct guest *g)
{
    kvm_free(g);
}

/* The whole machine, memory and devices, to 'path'; the domain is gone afterwards. */
static int
kvm_save(struct guest *g, const char *path)
{
    struct kvm_guest *kg = kg_of(g);

    if (!libvirtd_domain_active(&kg->d)) {
        return ESRCH;
    }
    ctl_close(kg);
    if (dl_virt.virDomainSave(kg->d.dom, path) < 0) {
        log_err("guest %s: cannot save to %s: %s%s", g->name, path, libvirtd_last_error(),
                kg->shared ? " (a VM with the agent's directory shared over 9p cannot be "
                "saved: start it with SFCLAB_KVM_SHARE=0)" : "");
        return EIO;
    }
    forget_domain(kg, GUEST_STOPPED);
    return 0;
}

/* The whole machine to 'path' as kvm_save writes it, and the machine goes on: an external
 * memory-only snapshot (the guest has no disk), taken live (QEMU copies the memory while the
 * guest runs and pauses it only for what changed meanwhile) unless SFCLAB_KVM_SNAPSHOT_LIVE=0
 * (paused for the whole copy). Without metadata: libvirt keeps no snapshot object for
 * `clean` to find, the file is all there is, and kvm_restore() takes it as a saved image
 * (the same format). A VM with the 9p export refuses, as for a save. */
static int
kvm_checkpoint(struct guest *g, const char *path)
{
    struct kvm_guest *kg = kg_of(g);
    const char *live = getenv("SFCLAB_KVM_SNAPSHOT_LIVE");
    unsigned flags = VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA;
    virDomainSnapshotPtr snap;
    char *xml;

    if (!libvirtd_domain_active(&kg->d)) {
        return ESRCH;
    }
    if (strpbrk(path, "<>&'\"")) {
        return EINVAL;
    }
    if (!live || strcmp(live, "0")) {
        flags |= VIR_DOMAIN_SNAPSHOT_CREATE_LIVE;
    }
    xml = xasprintf("<domainsnapshot><memory snapshot='external' file='%s'/>"
                    "</domainsnapshot>", path);
    snap = dl_virt.virDomainSnapshotCreateXML(kg->d.dom, xml, flags);
    free(xml);
    if (!snap) {
        log_err("guest %s: cannot checkpoint to %s: %s%s", g->name, path,
                libvirtd_last_error(), kg->shared ? " (a VM with the agent's directory shared "
                "over 9p cannot be saved: guest_config.savable)" : "");
        return EIO;
    }
    dl_virt.virDomainSnapshotFree(snap);
    return 0;
}

static int
kvm_restore(struct guest *g, const char *path)
{
    struct kvm_guest *kg = kg_of(g);
    int error;

    if (libvirtd_domain_active(&kg->d)) {
        /* Replaced by its image (a recovery): what runs now goes first. */
        error = libvirtd_domain_destroy(&kg->d);
        if (error) {
            return error;
        }
    }
    forget_domain(kg, GUEST_STOPPED);
    if (dl_virt.virDomainRestore(kg->d.conn, path) < 0) {
        log_err("guest %s: cannot restore from %s: %s", g->name, path, libvirtd_last_error());
        return EIO;
    }
    error = libvirtd_domain_lookup(&kg->d);
    if (error) {
        return error;
    }
    g->started_ns = time_mono_ns();
    /* QEMU came back with new taps under the old names (the guest's side of each NIC, its
     * name and address, came back with its memory): each host end goes where plug_iface put
     * it, up and without offloads. They are new devices: whoever had them in a switch adds
     * them again. */
    if (kg->n_nics) {
        struct link_ns *host = NULL;
        int fd = open(kg->netns_path, O_RDONLY | O_CLOEXEC);

        error = fd < 0 ? errno : link_ns_open(fd, &host);
        for (size_t i = 0; !error && i < kg->n_nics; i++) {
            struct guest_iface f = { .port = kg->nics[i].port, .mac = kg->nics[i].mac };
            error = libvirtd_domain_adopt_tap(&kg->d, host, f.port);
            if (!error) {
                error = guest_iface_up(NULL, host, &f);
            }
        }
        if (error) {
            log_err("guest %s: restored, but its taps are not back in %s: %s", g->name,
                    kg->netns_path, strerror(error));
        }
        link_ns_close(host);
        if (fd >= 0) {
            close(fd);
        }
    }
    return error;
}

/* Besides libvirt's QEMU driver, a kvm guest boots sfclab's own kernel and initramfs: without
 * `make images` every run would fail at `up`, after its run row was written. */
static bool
kvm_usable(char **whyp)
{
    char self[PATH_MAX], *sfcd, *slash;
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    bool ok = true;

    if (!libvirtd_usable("qemu", whyp)) {
        return false;
    }
    if (access("/usr/bin/qemu-system-x86_64", X_OK)) {
        *whyp = xstrdup("qemu-system-x86_64 is not installed (make deps)");
        return false;
    }
    self[n > 0 ? n : 0] = '\0';
    slash = strrchr(self, '/');
    if (slash) {
        *slash = '\0';
    }
    sfcd = xasprintf("%s/sfcd", self);
    for (size_t i = 0; ok && i < 2; i++) {
        char *path = image_path(sfcd, i ? "initrd.img" : "vmlinuz");
        if (access(path, R_OK)) {
            *whyp = xasprintf("%s is missing (`make images` builds it)", path);
            ok = false;
        }
        free(path);
    }
    free(sfcd);
    return ok;
}

/* KVM or TCG changes every number a VM gives: each run says which, and why. */
static const char *
kvm_host_fact(void)
{
    const char *why;

    libvirtd_kvm_accel(&why);
    return why;
}

const struct guest_provider guest_provider_kvm = {
    .usable = kvm_usable,
    .name = "kvm",
    .agent_timeout_ms = 30000,
    .host_fact_name = "kvm_accel",
    .host_fact = kvm_host_fact,
    .create = kvm_create,
    .handle = kvm_handle,
    .attach = kvm_attach,
    .release = kvm_release,
    .start = kvm_start,
    .stop = kvm_stop,
    .destroy = kvm_destroy,
    .exec = kvm_exec,
    .pause = kvm_pause,
    .resume = kvm_resume,
    .state = kvm_state,
    .plug_iface = kvm_plug_iface,
    .set_link = kvm_set_link,
    .neigh_add = kvm_neigh_add,
    .pin = kvm_pin,
    .stats = kvm_stats,
    .save = kvm_save,
    .restore = kvm_restore,
    .checkpoint = kvm_checkpoint,
    .put_file = kvm_put_file,
};
