/* confine — what a guest of the netns provider may see and do on the host, as a container
 * runtime confines a container.
 *
 * A confined guest gets its own root filesystem: a tmpfs, made read-only once built, holding
 * read-only binds of the host's /usr, /bin, /sbin, /lib* and /etc (minus its secrets: shadow
 * and gshadow files, ssh host keys, TLS private keys, sudoers), the sfcd binary alone at its
 * host path, a /dev with only null, zero, full, random, urandom and tty, a fresh /proc of its
 * PID namespace (kernel-wide knobs read-only, /proc/sys/net its own), a read-only sysfs of its
 * network namespace, a private /tmp, and one writable directory of the host (the guest's agent
 * directory, bound at its host path, so the orchestrator reads what roles write there). It does
 * not see /root, /home, /run (other than that directory), the repository, results/, the OVS
 * sockets, /run/netns or any other guest. Its processes, and those `sfclab exec` starts in it,
 * keep only the capabilities packet I/O and the roles need in their bounding set (no
 * CAP_SYS_ADMIN: no mount, no setns, no unshare, no module loading), run with no_new_privs and
 * a seccomp filter that denies the few unguarded system calls that reach what the host shares
 * with them (keyrings, userfaultfd, io_uring, perf events) and every non-native ABI.
 *
 * The plan is computed before clone(); confine_apply() runs in the child between clone and
 * exec and allocates nothing. Main type: struct confine_plan. */
#ifndef SFC_CONFINE_H
#define SFC_CONFINE_H 1

#include <stdint.h>
#include <sys/types.h>

struct confine_plan;

/* A plan for a guest whose new root is built on 'staging_dir' (an empty directory, the same
 * for every guest: the tmpfs is mounted on it in the guest's mount namespace only), that
 * runs 'sfcd' and writes into 'private_dir'. */
int confine_plan_create(const char *staging_dir, const char *sfcd, const char *private_dir,
                        struct confine_plan **);
void confine_plan_free(struct confine_plan *);

/* In a child in a new mount and PID namespace, with mounts already private: builds the root,
 * pivots into it and mounts /proc. Returns 0 or an errno. */
int confine_apply(const struct confine_plan *);

/* Keeps only 'keep' in the bounding set (a mask of CAP_* bits as from confine_default_caps(),
 * or init's own for `exec`), clears the ambient set, sets no_new_privs and installs the
 * seccomp filter: what the process then execs has no other capability. Async-signal-safe. */
int confine_caps(uint64_t keep);
uint64_t confine_default_caps(void);
/* The bounding set of process 'pid' (from /proc/PID/status), for `exec` to give a process
 * the same as the guest's init. Returns 0 or an errno. */
int confine_read_bounding(pid_t pid, uint64_t *caps);

#endif
