#include "testbed/infra/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testbed/infra/manifest.h"
#include "vnfs/lib/util.h"

#define NETNS_RUN_DIR "/run/netns"

/* Makes NETNS_RUN_DIR a shared mount point of its own, as 'ip netns add' does, but only while
 * nothing is mounted under it. 'ip netns add' run later (by a user or a test) finds it is one
 * and only marks it shared; when it is not one, iproute2 bind-mounts the directory over itself
 * and every namespace already mounted under it ends up hidden below: their unmount misses and
 * their unlink fails with EBUSY, so `down` and `clean` cannot undo them (seen: two experiments
 * stopped when a namespace was added by hand). A directory that already has mounts is left
 * alone, since a new layer would hide those. Left in place on teardown, as iproute2 leaves
 * it: others' namespaces may be under it by then. */
static void
netns_share_run_dir(void)
{
    bool is_mount = false, has_mounts = false;
    size_t len = strlen(NETNS_RUN_DIR);
    char *line = NULL;
    size_t size = 0;
    FILE *f;

    f = fopen("/proc/self/mountinfo", "re");
    if (!f) {
        return;
    }
    while (getline(&line, &size, f) > 0) {
        char point[4096];

        /* ID PARENT MAJ:MIN ROOT POINT ... (paths escape blanks, so %s reads them whole) */
        if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1
            || strncmp(point, NETNS_RUN_DIR, len)) {
            continue;
        }
        if (point[len] == '\0') {
            is_mount = true;
        } else if (point[len] == '/') {
            has_mounts = true;
        }
    }
    free(line);
    fclose(f);
    if (!is_mount && !has_mounts) {
        is_mount = !mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL);
    }
    if (is_mount) {
        /* Unmounting a namespace then unmounts its copies in other mount namespaces too. */
        mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL);
    }
}

int
netns_create(struct manifest *m, const char *name, char **pathp)
{
    char *path = xasprintf("%s/%s", NETNS_RUN_DIR, name);
    int saved = -1;
    int error;
    int fd;

    if (mkdir(NETNS_RUN_DIR, 0755) && errno != EEXIST) {
        error = errno;
        goto out;
    }
    netns_share_run_dir();
    if (!access(path, F_OK)) {
        error = EEXIST;
        goto out;
    }
    error = manifest_record_netns(m, path);
    if (error) {
        goto out;
    }
    fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd < 0) {
        error = errno;
        goto out;
    }
    close(fd);

    saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (saved < 0) {
        error = errno;
        goto out;
    }
    if (unshare(CLONE_NEWNET)) {
        error = errno;
        close(saved);
        saved = -1;
        goto out;
    }
    if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL)) {
        error = errno;
    }
    netns_leave(saved);
    saved = -1;
    if (!error) {
        *pathp = path;
        path = NULL;
    }
out:
    free(path);
    return error;
}

int
netns_enter_fd(int fd, int *savedp)
{
    int saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

    if (saved < 0) {
        return errno;
    }
    if (setns(fd, CLONE_NEWNET)) {
        int error = errno;
        close(saved);
        return error;
    }
    *savedp = saved;
    return 0;
}

int
netns_enter(const char *path, int *savedp)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int error;

    if (fd < 0) {
        return errno;
    }
    error = netns_enter_fd(fd, savedp);
    close(fd);
    return error;
}

void
netns_leave(int saved)
{
    if (setns(saved, CLONE_NEWNET)) {
        sfc_abort("cannot return to the original network namespace (%s)", strerror(errno));
    }
    close(saved);
}

int
netns_socket(const char *path, int domain, int type, int protocol, int *fdp)
{
    int saved, error, fd;

    error = netns_enter(path, &saved);
    if (error) {
        return error;
    }
    fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    error = fd < 0 ? errno : 0;
    netns_leave(saved);
    if (!error) {
        *fdp = fd;
    }
    return error;
}
