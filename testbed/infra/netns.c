#include "testbed/infra/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testbed/infra/manifest.h"
#include "vnfs/lib/util.h"

#define NETNS_RUN_DIR "/run/netns"

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
