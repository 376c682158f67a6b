/* nham_criu — whether NHAM's `criu` checkpoint backend can run on this machine, and why not.
 *
 * The backend needs CRIU >= 4.2 on this kernel (6.18): Debian 12's 3.17 fails with a vDSO error,
 * and 4.1 passes `criu check` but fails to dump any inet or packet socket (SO_PASSCRED is
 * EOPNOTSUPP there since Linux 6.16). It is built inside the build directory by `make criu`
 * (testbed/infra/criu.mk). The binary is $SFCLAB_CRIU if set, else the newest
 * build/criu/criu-* /criu/criu under the current directory; its version must be at least
 * NHAM_CRIU_MIN_VERSION, then `criu check` decides. Forks `criu --version` and `criu check`
 * once per process and caches the answer.
 * Must not: fall back on the system's criu (its version decides nothing on this kernel).
 * Also: one dump or restore of a guest's process through libcriu (nham_criu_run_req()). */
#ifndef SFC_NHAM_CRIU_H
#define SFC_NHAM_CRIU_H 1

#define NHAM_CRIU_MIN_VERSION "4.2"

/* 0 when the version is recent enough and `criu check` says "Looks good."; else ENOENT (no binary) or ENOTSUP, with '*whyp'
 * (static) saying why. '*pathp' (may be NULL) gets the binary's path or NULL. */
int nham_criu_probe(const char **pathp, const char **whyp);

#include <stdbool.h>
#include <sys/types.h>

#define NHAM_CRIU_TIMEOUT_MS 10000    /* A dump or restore takes 20-200 ms at load 10. */

/* One dump or restore of a process of a guest, by libcriu from inside the guest's namespaces
 * (criu then dumps none of them) and its cgroup (cgroups are not dumped: a restored process is
 * where its restorer is). */
struct nham_criu_req {
    pid_t guest_init;           /* The guest's init, as the host sees it. */
    const char *service;        /* The criu binary, a path inside the guest. */
    int dir_fd;                 /* The images directory (on the host: any directory). */
    bool restore;
    pid_t nspid;                /* Dump: the process, as its guest sees it. */
    bool leave_running;         /* Dump: a checkpoint (the process runs on) or not. */
    /* The process's unix streams to processes outside the dump (its beat stream to the FMS,
     * a control connection from its agent): external at a dump; at a restore, each replaced
     * by ext_fds[i] (the restored process finds them closed, and connects again). */
    const unsigned long *ext_inos;
    size_t n_ext;
    const int *ext_fds;
};

/* Runs 'req'. Returns 0 with '*rcp' libcriu's answer (a restore's: the restored process's
 * pid in its guest), or an errno with '*whyp' (malloc'd) saying why: criu's errors from its
 * log in the images directory. Forks; blocks up to NHAM_CRIU_TIMEOUT_MS. */
int nham_criu_run_req(const struct nham_criu_req *, int *rcp, char **whyp);
/* Copies the probed criu binary to 'dst' (a path a guest sees) unless it is there. */
int nham_criu_install(const char *dst);

#endif
