/* nham_criu — whether NHAM's `criu` checkpoint backend can run on this machine, and why not.
 *
 * The backend needs CRIU >= 4.1 on kernels >= 6.13 (Debian 12's 3.17 fails with a vDSO error),
 * built inside the build directory by `make criu` (testbed/infra/criu.mk). The binary is
 * $SFCLAB_CRIU if set, else the newest build/criu/criu-* /criu/criu under the current
 * directory; `criu check` decides. Forks `criu check` once per process and caches the answer.
 * Must not: fall back on the system's criu (its version decides nothing on this kernel).
 * Only the probe: dumping and restoring a guest through it is not built yet. */
#ifndef SFC_NHAM_CRIU_H
#define SFC_NHAM_CRIU_H 1

/* 0 when `criu check` says "Looks good."; else ENOENT (no binary) or ENOTSUP, with '*whyp'
 * (static) saying why. '*pathp' (may be NULL) gets the binary's path or NULL. */
int nham_criu_probe(const char **pathp, const char **whyp);

#endif
