/* Unit tests of NHAM's criu backend probe (testbed/schemes/nham_criu.h) and of what
 * `sfclab check` says of checkpoint_backend criu (testbed/schemes/nham.c), with fake `criu`
 * binaries (shell scripts) as $SFCLAB_CRIU: a CRIU older than 4.2 is refused with the reason
 * even when its `criu check` passes (4.1's does here, and its dumps fail), a failing `criu
 * check` gives its last line, and when the probe passes the scheme takes criu for 0R and 1R-AS
 * on netns guests and refuses it, with file:line:col, for 1R-AA and for another provider.
 * The probe caches its answer per process: each case runs in a child. No root. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "testbed/model/diag.h"
#include "testbed/model/experiment.h"
#include "testbed/schemes/nham_criu.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

/* A fake criu in a fresh directory: `--version` prints 'version', `check' prints 'check'
 * and exits with 'rc'. Returns its path (malloc'd). */
static char *
fake_criu(const char *version, const char *check, int rc)
{
    char dir[] = "/tmp/test_nham_criu.XXXXXX";
    char *path;
    FILE *f;

    assert_non_null(mkdtemp(dir));
    path = xasprintf("%s/criu", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\ncase \"$1\" in\n--version) echo 'Version: %s';;\n"
            "check) echo '%s'; exit %d;;\nesac\n", version, check, rc);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
    return path;
}

static void
fake_criu_remove(char *path)
{
    unlink(path);
    *strrchr(path, '/') = '\0';
    rmdir(path);
    free(path);
}

/* In a child (the probe's answer is cached per process): the probe's errno, and its reason
 * into 'why' (at most 'size' bytes). */
static int
probe_in_child(const char *criu, char *why, size_t size)
{
    int pipefd[2], status;
    pid_t pid;
    ssize_t n;

    assert_int_equal(pipe(pipefd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (!pid) {
        const char *w = NULL;
        int error;

        setenv("SFCLAB_CRIU", criu, 1);
        error = nham_criu_probe(NULL, &w);
        if (write(pipefd[1], w ? w : "", w ? strlen(w) : 0) < 0) {
            _exit(255);
        }
        _exit(error);
    }
    close(pipefd[1]);
    n = read(pipefd[0], why, size - 1);
    why[n > 0 ? n : 0] = '\0';
    close(pipefd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void
test_probe_version_floor(void **state)
{
    char *old = fake_criu("4.1.1", "Looks good.", 0);
    char *bad = fake_criu("4.2.1", "Error: no tun", 1);
    char *good = fake_criu("4.10", "Looks good.", 0);
    char why[1024], *want;

    /* 4.1's `criu check` passes here, but it cannot dump a socket on this kernel. */
    assert_int_equal(probe_in_child(old, why, sizeof why), ENOTSUP);
    want = xasprintf("%s is CRIU 4.1.1, older than 4.2 (before 4.2 a dump reads SO_PASSCRED of "
                     "every socket, which Linux >= 6.16 refuses for inet and packet sockets; "
                     "run `make criu`)", old);
    assert_string_equal(why, want);
    free(want);
    /* Recent enough, `criu check` decides: its last line is the reason. */
    assert_int_equal(probe_in_child(bad, why, sizeof why), ENOTSUP);
    want = xasprintf("`%s check` failed (exit 1): Error: no tun", bad);
    assert_string_equal(why, want);
    free(want);
    /* Versions compare as versions: 4.10 is newer than 4.2. */
    assert_int_equal(probe_in_child(good, why, sizeof why), 0);
    fake_criu_remove(old);
    fake_criu_remove(bad);
    fake_criu_remove(good);
}

/* `sfclab check` of 'text' in a child whose probe passes: its diagnostics, '|'-separated. */
static void
check_in_child(const char *criu, const char *text, char *out, size_t size)
{
    int pipefd[2], status;
    pid_t pid;
    ssize_t n;

    assert_int_equal(pipe(pipefd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (!pid) {
        struct experiment *e = NULL;
        struct diag diag;
        struct buf b = BUF_INITIALIZER;

        setenv("SFCLAB_CRIU", criu, 1);
        diag_init(&diag);
        experiment_load_string("t.yaml", text, strlen(text), &diag, &e);
        for (size_t i = 0; i < diag.n; i++) {
            buf_printf(&b, "%s%s", i ? "|" : "", diag.msgs[i]);
        }
        if (!diag.n) {
            buf_printf(&b, "%s", e ? "loaded" : "refused without a message");
        }
        if (write(pipefd[1], b.data, b.len) < 0) {
            _exit(255);
        }
        _exit(0);
    }
    close(pipefd[1]);
    n = read(pipefd[0], out, size - 1);
    out[n > 0 ? n : 0] = '\0';
    close(pipefd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && !WEXITSTATUS(status));
}

static void
test_scheme_criu(void **state)
{
    static const char zero_r[] =
        "experiment: t\nscheme: nham\nparams: {checkpoint_backend: criu, mechanism: 0R}\n"
        "chain: {vnfs: [{fn: fwd}], rules: [udp]}\nworkload: {kind: udp, duration: 1s}\n";
    static const char one_r_as[] =
        "experiment: t\nscheme: nham\nparams: {checkpoint_backend: criu, mechanism: 1R-AS}\n"
        "chain: {vnfs: [{fn: fwd}], rules: [udp]}\nworkload: {kind: udp, duration: 1s}\n";
    static const char one_r_aa[] =
        "experiment: t\nscheme: nham\nparams: {checkpoint_backend: criu, mechanism: 1R-AA}\n"
        "chain: {vnfs: [{fn: fwd}], rules: [udp]}\nworkload: {kind: udp, duration: 1s}\n";
    static const char lxc[] =
        "experiment: t\nscheme: nham\nprovider: lxc\n"
        "params: {checkpoint_backend: criu, mechanism: 0R}\n"
        "chain: {vnfs: [{fn: fwd}], rules: [udp]}\nworkload: {kind: udp, duration: 1s}\n";
    char *good = fake_criu("4.2.1", "Looks good.", 0);
    char out[2048];

    check_in_child(good, zero_r, out, sizeof out);
    assert_string_equal(out, "loaded");
    check_in_child(good, one_r_as, out, sizeof out);
    assert_string_equal(out, "loaded");
    check_in_child(good, one_r_aa, out, sizeof out);
    assert_string_equal(out, "t.yaml:3:36: nham: vnf[0]: checkpoint_backend criu restores a "
                        "VNF's process from its last image, the recovery of 0R and 1R-AS; "
                        "1R-AA keeps running replicas in sync with the VNF's own state export "
                        "(backend app), which a CRIU image does not feed: use 0R or 1R-AS "
                        "with criu, or app");
    check_in_child(good, lxc, out, sizeof out);
    assert_string_equal(out, "t.yaml:4:30: nham: checkpoint_backend criu dumps a VNF's process "
                        "from inside its guest's namespaces, which the host enters on the "
                        "netns provider only; this point's provider is lxc");
    fake_criu_remove(good);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_version_floor),
        cmocka_unit_test(test_scheme_criu),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
