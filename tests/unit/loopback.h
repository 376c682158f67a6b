/* loopback — a network namespace of the test's own, its loopback up: for the unit tests that
 * run a role on a real AF_PACKET socket (root only; they skip otherwise).
 *
 * Header-only, every function static, as golden.h: each tests/unit/test_*.c is a binary of its
 * own. */
#ifndef TESTS_UNIT_LOOPBACK_H
#define TESTS_UNIT_LOOPBACK_H 1

#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Moves the test into a namespace of its own with its loopback up; false if it may not. */
static bool
own_loopback(void)
{
    struct ifreq ifr = { .ifr_name = "lo" };
    bool ok = false;
    int fd;

    if (unshare(CLONE_NEWNET)) {
        return false;
    }
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && !ioctl(fd, SIOCGIFFLAGS, &ifr)) {
        ifr.ifr_flags |= IFF_UP;
        ok = !ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

#endif
