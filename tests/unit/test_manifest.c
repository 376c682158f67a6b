#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testbed/infra/manifest.h"
#include "vnfs/lib/util.h"

static char *
make_tmpdir(void)
{
    char tmpl[] = "/tmp/sfct-manifest-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    return xstrdup(tmpl);
}

static int
sleeper(void *aux)
{
    execlp("sleep", "sleep", "60", (char *) NULL);
    return 127;
}

static void
test_undo_removes_what_was_recorded(void **state)
{
    char *base = make_tmpdir();
    char *dir = xasprintf("%s/inst", base);
    char *file = xasprintf("%s/inst/file", base);
    char *sub = xasprintf("%s/inst/sub", base);
    struct manifest *m;
    pid_t pid;
    int fd;

    assert_int_equal(manifest_open(dir, &m), 0);
    assert_int_equal(manifest_record_dir(m, sub), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(manifest_record_file(m, file), 0);
    fd = open(file, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(manifest_spawn(m, "process", "sleeper", 0, sleeper, NULL, &pid), 0);
    assert_true(proc_starttime(pid) != 0);
    manifest_close(m);

    assert_int_equal(manifest_undo(dir, false), 0);
    assert_int_equal(access(file, F_OK), -1);
    assert_int_equal(access(sub, F_OK), -1);
    assert_int_equal(access(dir, F_OK), -1);
    assert_int_equal(proc_starttime(pid), 0);
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);   /* Already reaped by undo. */

    rmdir(base);
    free(base);
    free(dir);
    free(file);
    free(sub);
}

/* A recorded pid whose start time no longer matches is somebody else's process now. */
static void
test_recycled_pid_is_left_alone(void **state)
{
    char *base = make_tmpdir();
    char *dir = xasprintf("%s/inst", base);
    char *path = xasprintf("%s/manifest", dir);
    struct manifest *m;
    pid_t bystander;
    FILE *f;

    bystander = fork();
    if (!bystander) {
        execlp("sleep", "sleep", "60", (char *) NULL);
        _exit(127);
    }
    assert_int_equal(manifest_open(dir, &m), 0);
    manifest_close(m);
    f = fopen(path, "a");
    assert_non_null(f);
    fprintf(f, "process %ld %llu bystander\n", (long) bystander,
            (unsigned long long) proc_starttime(bystander) + 1);
    fclose(f);

    assert_int_equal(manifest_undo(dir, false), 0);
    assert_true(proc_starttime(bystander) != 0);
    kill(bystander, SIGKILL);
    waitpid(bystander, NULL, 0);
    rmdir(base);
    free(base);
    free(dir);
    free(path);
}

/* A torn last line (killed mid-write) and objects that are already gone are not errors. */
static void
test_torn_and_missing_entries(void **state)
{
    char *base = make_tmpdir();
    char *dir = xasprintf("%s/inst", base);
    char *path = xasprintf("%s/manifest", dir);
    struct manifest *m;
    FILE *f;

    assert_int_equal(manifest_open(dir, &m), 0);
    assert_int_equal(manifest_record_file(m, "/tmp/sfct-manifest-never-made"), 0);
    assert_int_equal(manifest_record_cgroup(m, "/sys/fs/cgroup/cpu/sfct-never-made"), 0);
    manifest_close(m);
    f = fopen(path, "a");
    fputs("proc", f);
    fclose(f);
    assert_int_equal(manifest_undo(dir, false), 0);
    assert_int_equal(access(dir, F_OK), -1);
    rmdir(base);
    free(base);
    free(dir);
    free(path);
}

static void
test_refuses_unrecordable_paths(void **state)
{
    char *base = make_tmpdir();
    char *dir = xasprintf("%s/inst", base);
    struct manifest *m;

    assert_int_equal(manifest_open("relative/dir", &m), EINVAL);
    assert_int_equal(manifest_open(dir, &m), 0);
    assert_int_equal(manifest_record_file(m, "/tmp/with space"), EINVAL);
    assert_int_equal(manifest_record_file(m, "/tmp/new\nline"), EINVAL);
    manifest_close(m);
    assert_int_equal(manifest_undo(dir, false), 0);
    rmdir(base);
    free(base);
    free(dir);
}

/* A capture's mirror: refused when a field would break the line; undone (nothing to do) when
 * its switch is gone, which took the mirror with it, as after `down` stopped OVS first. */
static void
test_mirror_entries(void **state)
{
    char *base = make_tmpdir();
    char *dir = xasprintf("%s/inst", base);
    char *gone = xasprintf("%s/ovs-gone", base);
    struct manifest *m;

    assert_int_equal(manifest_open(dir, &m), 0);
    assert_int_equal(manifest_record_mirror(m, gone, "data", "cap 1", "cap1"), EINVAL);
    assert_int_equal(manifest_record_mirror(m, gone, "", "cap1", "cap1"), EINVAL);
    assert_int_equal(manifest_record_mirror(m, gone, "data", "cap1", "cap1\n"), EINVAL);
    assert_int_equal(manifest_record_mirror(m, gone, "data", "cap1", "cap1"), 0);
    manifest_close(m);
    assert_int_equal(manifest_undo(dir, false), 0);
    assert_int_equal(access(dir, F_OK), -1);
    rmdir(base);
    free(gone);
    free(base);
    free(dir);
}

static void
put_param(const char *path, const char *value)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fprintf(f, "%s\n", value);         /* As sysfs reads: with a newline. */
    fclose(f);
}

static void
assert_param(const char *path, const char *expected)
{
    char *value = NULL;

    assert_int_equal(read_file(path, &value, NULL), 0);
    value[strcspn(value, "\n")] = '\0';
    assert_string_equal(value, expected);
    free(value);
}

/* A kernel parameter (here a file standing in for one) set by two instances: the second
 * shares the first's value, another value is refused, and whichever goes last writes back
 * what was there before the first, in either order, unless someone changed it since; an
 * instance whose undo stopped half-way (its manifest kept) no longer holds it. */
static void
test_shared_param(void **state)
{
    char *base = make_tmpdir();
    char *a = xasprintf("%s/a", base), *b = xasprintf("%s/b", base);
    char *c = xasprintf("%s/c", base);
    char *param = xasprintf("%s/param", base);
    char *sub = xasprintf("%s/sub", a), *inside = xasprintf("%s/sub/x", a);
    struct manifest *ma, *mb, *mc;

    for (int order = 0; order < 2; order++) {
        put_param(param, "0");
        assert_int_equal(manifest_open(a, &ma), 0);
        assert_int_equal(manifest_open(b, &mb), 0);
        assert_int_equal(manifest_open(c, &mc), 0);
        assert_int_equal(manifest_set_param(ma, param, "200000"), 0);
        assert_param(param, "200000");
        assert_int_equal(manifest_set_param(mb, param, "200000"), 0);
        assert_int_equal(manifest_set_param(mc, param, "100"), EBUSY);
        assert_param(param, "200000");
        manifest_close(ma);
        manifest_close(mb);
        manifest_close(mc);

        assert_int_equal(manifest_undo(c, false), 0);
        assert_param(param, "200000");
        assert_int_equal(manifest_undo(order ? b : a, false), 0);
        assert_param(param, "200000");         /* The other still holds it. */
        assert_int_equal(manifest_undo(order ? a : b, false), 0);
        assert_param(param, "0");
    }

    /* a's undo lets go of the parameter, then fails on a directory that is not empty: its
     * manifest stays, but b's undo, the last, restores the parameter all the same. */
    assert_int_equal(manifest_open(a, &ma), 0);
    assert_int_equal(manifest_open(b, &mb), 0);
    assert_int_equal(manifest_record_dir(ma, sub), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    put_param(inside, "not recorded");
    assert_int_equal(manifest_set_param(ma, param, "200000"), 0);
    assert_int_equal(manifest_set_param(mb, param, "200000"), 0);
    manifest_close(ma);
    manifest_close(mb);
    assert_int_equal(manifest_undo(a, false), ENOTEMPTY);
    assert_param(param, "200000");
    assert_int_equal(manifest_undo(b, false), 0);
    assert_param(param, "0");
    assert_int_equal(unlink(inside), 0);
    assert_int_equal(manifest_undo(a, false), 0);

    /* Changed by someone else since: left as it is. */
    assert_int_equal(manifest_open(a, &ma), 0);
    assert_int_equal(manifest_set_param(ma, param, "200000"), 0);
    manifest_close(ma);
    put_param(param, "5");
    assert_int_equal(manifest_undo(a, false), 0);
    assert_param(param, "5");

    assert_int_equal(manifest_open(a, &ma), 0);
    assert_int_equal(manifest_set_param(ma, base, "1"), EISDIR);
    assert_int_equal(manifest_set_param(ma, param, "1 2"), EINVAL);
    manifest_close(ma);
    assert_int_equal(manifest_undo(a, false), 0);

    unlink(param);
    assert_int_equal(rmdir(base), 0);
    free(base);
    free(a);
    free(b);
    free(c);
    free(param);
    free(sub);
    free(inside);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_undo_removes_what_was_recorded),
        cmocka_unit_test(test_recycled_pid_is_left_alone),
        cmocka_unit_test(test_torn_and_missing_entries),
        cmocka_unit_test(test_refuses_unrecordable_paths),
        cmocka_unit_test(test_mirror_entries),
        cmocka_unit_test(test_shared_param),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
