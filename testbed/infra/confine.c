#include "testbed/infra/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vnfs/lib/util.h"

/* What packet I/O and the roles need: raw sockets (AF_PACKET, ping, tcpdump), their own
 * network namespace's configuration (promiscuous mode, routes, qdiscs, net sysctls), DNS on
 * port 53, locked memory for packet rings, and the file and identity capabilities of an
 * ordinary root process in its own directory (tcpdump drops to its own user). Docker's default
 * set without MKNOD, SETFCAP, SETPCAP, SYS_CHROOT and AUDIT_WRITE, plus NET_ADMIN and IPC_LOCK. */
#define CAPBIT(c) (1ull << (c))
static const uint64_t default_caps =
    CAPBIT(CAP_CHOWN) | CAPBIT(CAP_DAC_OVERRIDE) | CAPBIT(CAP_FOWNER) | CAPBIT(CAP_FSETID)
    | CAPBIT(CAP_KILL) | CAPBIT(CAP_SETGID) | CAPBIT(CAP_SETUID) | CAPBIT(CAP_NET_BIND_SERVICE)
    | CAPBIT(CAP_NET_RAW) | CAPBIT(CAP_NET_ADMIN) | CAPBIT(CAP_IPC_LOCK);

/* Host top-level entries seen read-only (symlinks, as /bin -> usr/bin, are copied as links). */
static const char *const ro_dirs[] = {
    "usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc",
};

/* Secrets under /etc, hidden by a bind of /dev/null (files) or an empty read-only tmpfs. */
static const char *const etc_secrets[] = {
    "/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/ssh",
    "/etc/ssl/private", "/etc/sudoers", "/etc/sudoers.d", "/etc/security/opasswd",
    "/etc/libvirt", "/etc/openvswitch",
};

/* /proc entries that tell about or act on the whole host (as runc's masked paths). */
static const char *const proc_masked[] = {
    "/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/kallsyms",
    "/proc/sysrq-trigger",
};

static const char *const dev_nodes[] = {
    "null", "zero", "full", "random", "urandom", "tty",
};

#define CONFINE_MAX_LINKS 16
#define CONFINE_PATH (2 * PATH_MAX + 64)

struct confine_plan {
    char root[PATH_MAX];                /* The staging directory. */
    char sfcd[PATH_MAX];
    char private_dir[PATH_MAX];
    /* Top-level symlinks of the host to copy, e.g. bin -> usr/bin. */
    char link_name[CONFINE_MAX_LINKS][32];
    char link_target[CONFINE_MAX_LINKS][PATH_MAX];
    int n_links;
    bool dir_exists[ARRAY_SIZE(ro_dirs)];
    bool secret_is_dir[ARRAY_SIZE(etc_secrets)];
    bool secret_exists[ARRAY_SIZE(etc_secrets)];
    bool sfcd_visible;                  /* Already under a read-only bind. */
};

int
confine_plan_create(const char *staging_dir, const char *sfcd, const char *private_dir,
                    struct confine_plan **planp)
{
    struct confine_plan *p;

    if (strlen(staging_dir) >= PATH_MAX - 64 || strlen(sfcd) >= PATH_MAX - 64
        || strlen(private_dir) >= PATH_MAX - 64 || sfcd[0] != '/' || private_dir[0] != '/') {
        return EINVAL;
    }
    p = xzalloc(sizeof *p);
    strcpy(p->root, staging_dir);
    strcpy(p->sfcd, sfcd);
    strcpy(p->private_dir, private_dir);
    for (size_t i = 0; i < ARRAY_SIZE(ro_dirs); i++) {
        char path[64], target[PATH_MAX];
        struct stat st;
        ssize_t n;

        snprintf(path, sizeof path, "/%s", ro_dirs[i]);
        if (lstat(path, &st)) {
            continue;
        }
        if (S_ISLNK(st.st_mode)) {
            n = readlink(path, target, sizeof target - 1);
            if (n > 0 && p->n_links < CONFINE_MAX_LINKS) {
                target[n] = '\0';
                strcpy(p->link_name[p->n_links], ro_dirs[i]);
                strcpy(p->link_target[p->n_links], target);
                p->n_links++;
            }
        } else if (S_ISDIR(st.st_mode)) {
            p->dir_exists[i] = true;
            size_t len = strlen(path);
            if (!strncmp(sfcd, path, len) && sfcd[len] == '/') {
                p->sfcd_visible = true;
            }
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(etc_secrets); i++) {
        struct stat st;
        if (!lstat(etc_secrets[i], &st)) {
            p->secret_exists[i] = true;
            p->secret_is_dir[i] = S_ISDIR(st.st_mode);
        }
    }
    *planp = p;
    return 0;
}

void
confine_plan_free(struct confine_plan *p)
{
    free(p);
}

/* mkdir -p, within 'buf' (modified in place and restored). */
static int
make_dirs(char *path, mode_t mode)
{
    for (char *s = path + 1; ; s++) {
        if (*s == '/' || !*s) {
            char c = *s;
            *s = '\0';
            int r = mkdir(path, mode);
            *s = c;
            if (r && errno != EEXIST) {
                return errno;
            }
            if (!c) {
                return 0;
            }
        }
    }
}

static int
make_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

    if (fd < 0) {
        return errno;
    }
    close(fd);
    return 0;
}

/* Binds 'src' on 'dst' (which must exist), read-only unless 'rw'. */
static int
bind_path(const char *src, const char *dst, bool rw, unsigned long extra)
{
    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL)) {
        return errno;
    }
    if (mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | extra | (rw ? 0 : MS_RDONLY),
              NULL)) {
        return errno;
    }
    return 0;
}

/* Joins root and 'rel' (which starts with '/') into 'buf'. */
static char *
under(char buf[CONFINE_PATH], const char *root, const char *rel)
{
    snprintf(buf, CONFINE_PATH, "%s%s", root, rel);
    return buf;
}

int
confine_apply(const struct confine_plan *p)
{
    const unsigned long nodev = MS_NOSUID | MS_NODEV;
    char path[CONFINE_PATH], path2[CONFINE_PATH];
    int error;

    if (mount("sfclab-root", p->root, "tmpfs", nodev, "mode=0755,size=4m")) {
        return errno;
    }
    for (int i = 0; i < p->n_links; i++) {
        snprintf(path, sizeof path, "%s/%s", p->root, p->link_name[i]);
        if (symlink(p->link_target[i], path)) {
            return errno;
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(ro_dirs); i++) {
        if (!p->dir_exists[i]) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", p->root, ro_dirs[i]);
        snprintf(path2, sizeof path2, "/%s", ro_dirs[i]);
        if (mkdir(path, 0755) || (error = bind_path(path2, path, false, 0))) {
            return errno ? errno : error;
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(etc_secrets); i++) {
        if (!p->secret_exists[i]) {
            continue;
        }
        under(path, p->root, etc_secrets[i]);
        if (p->secret_is_dir[i]) {
            if (mount("masked", path, "tmpfs", nodev | MS_RDONLY, "size=4k,mode=0500")) {
                return errno;
            }
        } else if ((error = bind_path("/dev/null", path, false, 0))) {
            return error;
        }
    }

    /* /dev: the harmless nodes only. */
    under(path, p->root, "/dev");
    if (mkdir(path, 0755) || mount("dev", path, "tmpfs", MS_NOSUID, "mode=0755,size=64k")) {
        return errno;
    }
    for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
        snprintf(path, sizeof path, "%s/dev/%s", p->root, dev_nodes[i]);
        snprintf(path2, sizeof path2, "/dev/%s", dev_nodes[i]);
        if ((error = make_file(path)) || (error = bind_path(path2, path, true, 0))) {
            return error;
        }
    }
    snprintf(path, sizeof path, "%s/dev/shm", p->root);
    if (mkdir(path, 01777)
        || mount("shm", path, "tmpfs", nodev | MS_NOEXEC, "mode=1777,size=64m")) {
        return errno;
    }
    snprintf(path, sizeof path, "%s/dev/fd", p->root);
    if (symlink("/proc/self/fd", path)) {
        return errno;
    }
    static const char *const std_names[] = { "stdin", "stdout", "stderr" };
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/dev/%s", p->root, std_names[i]);
        snprintf(path2, sizeof path2, "/proc/self/fd/%d", i);
        if (symlink(path2, path)) {
            return errno;
        }
    }

    /* Writable: a private /tmp (charged to the guest's memory) and the guest's directory. */
    under(path, p->root, "/tmp");
    if (mkdir(path, 01777) || mount("tmp", path, "tmpfs", nodev, "mode=1777,size=64m")) {
        return errno;
    }
    under(path, p->root, "/run");
    if (mkdir(path, 0755) || mount("run", path, "tmpfs", nodev, "mode=0755,size=1m")) {
        return errno;
    }
    under(path, p->root, p->private_dir);
    if ((error = make_dirs(path, 0755)) || (error = bind_path(p->private_dir, path, true, MS_NODEV))) {
        return error;
    }
    under(path, p->root, "/var");
    if (mkdir(path, 0755)) {
        return errno;
    }
    under(path, p->root, "/var/tmp");
    under(path2, p->root, "/var/run");
    if (symlink("/tmp", path) || symlink("/run", path2)) {
        return errno;
    }
    if (!p->sfcd_visible) {
        under(path, p->root, p->sfcd);
        char *slash = strrchr(path, '/');
        *slash = '\0';
        error = make_dirs(path, 0755);
        *slash = '/';
        if (error || (error = make_file(path)) || (error = bind_path(p->sfcd, path, false, 0))) {
            return error;
        }
    }
    under(path, p->root, "/proc");
    under(path2, p->root, "/sys");
    if (mkdir(path, 0555) || mkdir(path2, 0555)) {
        return errno;
    }
    under(path, p->root, "/.old");
    if (mkdir(path, 0700)) {
        return errno;
    }

    /* In: the host's tree goes away entirely. */
    if (syscall(SYS_pivot_root, p->root, path) || chdir("/")) {
        return errno;
    }
    if (umount2("/.old", MNT_DETACH) || rmdir("/.old")) {
        return errno;
    }
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | nodev, "mode=0755,size=4m")) {
        return errno;
    }
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) {
        return errno;
    }
    /* Kernel-wide knobs read-only; the namespace's own network ones stay writable. */
    if ((error = bind_path("/proc/sys", "/proc/sys", false, MS_NODEV | MS_NOEXEC))
        || (error = bind_path("/proc/sys/net", "/proc/sys/net", true, MS_NODEV | MS_NOEXEC))) {
        return error;
    }
    for (size_t i = 0; i < ARRAY_SIZE(proc_masked); i++) {
        if (!access(proc_masked[i], F_OK) && (error = bind_path("/dev/null", proc_masked[i], false, 0))) {
            return error;
        }
    }
    if (mount("sysfs", "/sys", "sysfs", MS_RDONLY | nodev | MS_NOEXEC, NULL)) {
        return errno;
    }
    return 0;
}

/* System calls no capability guards that a guest has no use for and that reach what the host
 * shares with it: keyrings (without a user namespace a guest's root is the host's root, and
 * shares its user keyring), userfaultfd and io_uring (favourite tools of kernel exploits),
 * perf events. The rest of Docker's default profile is what the dropped capabilities already
 * forbid (mount, setns, unshare of namespaces, modules, kexec, bpf, raw I/O, reboot...). */
static const int denied_syscalls[] = {
    __NR_keyctl, __NR_add_key, __NR_request_key, __NR_userfaultfd, __NR_perf_event_open,
    __NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register,
};

/* Installs the filter: EPERM for denied_syscalls, and for the x32 ABI and any architecture
 * but the native one (so that no second syscall table goes around the list). */
static int
deny_syscalls(void)
{
#if defined(__x86_64__)
    enum { N = ARRAY_SIZE(denied_syscalls) };
    const uint32_t deny = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
    /* 0 arch; 1 native?; 2 deny; 3 nr; 4 x32?; 5..5+N-1 each denied nr; 5+N allow; 6+N deny.
     * A jump's offset counts from the next instruction. */
    struct sock_filter filter[7 + N];
    struct sock_fprog prog = { .len = ARRAY_SIZE(filter), .filter = filter };
    size_t n = 0;

    filter[n++] = (struct sock_filter) BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                                offsetof(struct seccomp_data, arch));
    filter[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64,
                                                1, 0);
    filter[n++] = (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, deny);
    filter[n++] = (struct sock_filter) BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                                offsetof(struct seccomp_data, nr));
    /* x32 system calls have bit 30 set: all of them denied. */
    filter[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000,
                                                N + 1, 0);
    for (size_t i = 0; i < N; i++) {
        filter[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                                    denied_syscalls[i], N - i, 0);
    }
    filter[n++] = (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    filter[n++] = (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, deny);
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0)) {
        return errno;
    }
#endif
    return 0;
}

uint64_t
confine_default_caps(void)
{
    return default_caps;
}

int
confine_caps(uint64_t keep)
{
    for (int cap = 0; cap < 64; cap++) {
        if (keep & (1ull << cap)) {
            continue;
        }
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)) {
            if (errno == EINVAL) {
                break;          /* Past the kernel's last capability. */
            }
            return errno;
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL) {
        return errno;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
        return errno;
    }
    return deny_syscalls();
}

int
confine_read_bounding(pid_t pid, uint64_t *caps)
{
    char path[64], line[256];
    int error = ENOENT;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%ld/status", (long) pid);
    f = fopen(path, "re");
    if (!f) {
        return errno;
    }
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "CapBnd:", 7)) {
            *caps = strtoull(line + 7, NULL, 16);
            error = 0;
            break;
        }
    }
    fclose(f);
    return error;
}
