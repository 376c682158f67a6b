/* `sfcd init` — PID 1 of a guest.
 *
 *   sfcd init [--grace DURATION] [--hostname NAME] [--log FILE] [-- ROLE|PROGRAM [ARG...]]
 *
 * --hostname and --log are for guests whose init is started by someone else (libvirt's LXC
 * driver names the container after the domain and gives init a console for its output); the
 * netns provider does both itself before init runs.
 * Reaps every orphan of the guest, optionally starts one program (a bare word is an sfcd role,
 * run as this same binary: `-- agent --listen ...`; a path is run as given) and restarts
 * nothing. On SIGTERM, SIGINT or SIGHUP it sends SIGTERM to every process of the guest, waits
 * up to the grace period (default 1 s) for its children, SIGKILLs what is left and exits.
 * The kernel gives PID 1 no default signal actions: without this, a polite stop would be
 * ignored and every teardown would wait for SIGKILL. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vnfs/core/util.h"
#include "vnfs/sfc/roles.h"

#define INIT_USAGE \
    "sfcd init [--grace DURATION] [--hostname NAME] [--log FILE] [-- ROLE|PROGRAM [ARG...]]"

/* Reaps every child that has exited; returns false once there are no children at all. */
static bool
reap_children(pid_t watched, int *watched_status)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            if (pid == watched && watched_status) {
                *watched_status = status;
            }
            continue;
        }
        if (pid < 0 && errno == EINTR) {
            continue;
        }
        return !(pid < 0 && errno == ECHILD);
    }
}

static pid_t
start_program(char *argv[], const sigset_t *old_mask)
{
    pid_t pid = fork();

    if (pid < 0) {
        log_err("cannot fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, old_mask, NULL);
        if (!strchr(argv[0], '/')) {
            /* A role of this same binary: argv becomes `sfcd ROLE ARG...`. */
            int argc = 0;
            while (argv[argc]) {
                argc++;
            }
            char **full = xcalloc(argc + 2, sizeof *full);
            full[0] = "sfcd";
            memcpy(full + 1, argv, argc * sizeof *argv);
            execv("/proc/self/exe", full);
            log_err("cannot run sfcd %s: %s", argv[0], strerror(errno));
        } else {
            execv(argv[0], argv);
            log_err("cannot run %s: %s", argv[0], strerror(errno));
        }
        _exit(127);
    }
    return pid;
}

/* Sends SIGTERM to the whole guest, then SIGKILL to what is left after 'grace_ns'. */
static void
shut_down(uint64_t grace_ns, const sigset_t *mask)
{
    uint64_t deadline = time_mono_ns() + grace_ns;

    /* From PID 1 of a namespace, -1 means every other process of that namespace. */
    kill(-1, SIGTERM);
    while (reap_children(0, NULL)) {
        uint64_t now = time_mono_ns();
        if (now >= deadline) {
            break;
        }
        uint64_t left = deadline - now;
        struct timespec ts = { (time_t) (left / 1000000000), (long) (left % 1000000000) };
        sigtimedwait(mask, NULL, &ts);
    }
    kill(-1, SIGKILL);
    while (reap_children(0, NULL)) {
        struct timespec ts = { 0, 10000000 };
        sigtimedwait(mask, NULL, &ts);
    }
}

int
role_init(int argc, char *argv[])
{
    uint64_t grace_ns = 1000000000ULL;
    const char *hostname = NULL, *log_path = NULL;
    char **program = NULL;
    sigset_t mask, old_mask;
    pid_t program_pid = -1;
    int i;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            if (i + 1 < argc) {
                program = &argv[i + 1];
            }
            break;
        } else if (!strcmp(argv[i], "--grace") && i + 1 < argc) {
            if (!parse_duration(argv[++i], &grace_ns)) {
                fprintf(stderr, "sfcd init: bad --grace '%s' (e.g. 500ms, 2s)\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--hostname") && i + 1 < argc) {
            hostname = argv[++i];
        } else if (!strcmp(argv[i], "--log") && i + 1 < argc) {
            log_path = argv[++i];
        } else if (!strcmp(argv[i], "--help")) {
            printf("usage: %s\n", INIT_USAGE);
            return 0;
        } else {
            fprintf(stderr, "sfcd init: unknown option '%s'\nusage: %s\n", argv[i], INIT_USAGE);
            return 2;
        }
    }
    if (log_path) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
            fprintf(stderr, "sfcd init: %s: %s\n", log_path, strerror(errno));
            return 1;
        }
        close(fd);
    }
    if (hostname && sethostname(hostname, strlen(hostname))) {
        log_err("cannot set the hostname to %s: %s", hostname, strerror(errno));
        return 1;
    }
    if (getpid() != 1) {
        log_warn("not PID 1 of a namespace: only our own children will be stopped");
    }

    /* Signals are taken synchronously: no handler runs at an awkward moment. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, &old_mask);

    if (program) {
        program_pid = start_program(program, &old_mask);
    }
    for (;;) {
        siginfo_t info;
        int status = -1;
        int sig = sigwaitinfo(&mask, &info);

        if (sig < 0) {
            continue;
        }
        if (sig == SIGCHLD) {
            reap_children(program_pid, &status);
            if (status != -1) {
                log_info("%s exited with status %d; not restarting it", program[0],
                         WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
                program_pid = -1;
            }
            continue;
        }
        /* kill(-1) from a PID 1 never signals itself; from elsewhere it would. */
        if (getpid() == 1) {
            shut_down(grace_ns, &mask);
        } else if (program_pid > 0) {
            kill(program_pid, SIGTERM);
        }
        return 0;
    }
}
