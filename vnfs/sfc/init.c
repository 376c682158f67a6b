/* `sfcd init` — PID 1 of a guest.
 *
 *   sfcd init [--grace DURATION] [--hostname NAME] [--log FILE] [--key-fd N] [--restart]
 *             [--confine STAGING_DIR PRIVATE_DIR] [-- ROLE|PROGRAM [ARG...]]
 *
 * --hostname and --log are for guests whose init is started by someone else (libvirt's LXC
 * driver names the container after the domain and gives init a console for its output); the
 * netns provider does both itself before init runs.
 * Reaps every orphan of the guest and optionally starts one program (a bare word is an sfcd
 * role, run as this same binary: `-- agent --listen ...`; a path is run as given). With
 * --restart, a program that dies is started again (after 100 ms, doubling up to 5 s while it
 * keeps dying young), with SFCD_RESTARTS=<count> in its environment so that it can say so.
 * With --key-fd, init reads a secret (RPC_KEY_BYTES) from fd N, closes N, and hands the secret
 * to each start of the program on a fresh pipe as its fd 3: the secret lives only in memory and
 * pipes, never in a file a guest could read. Init keeps no other fd open past stdio.
 * On SIGTERM, SIGINT or SIGHUP it sends SIGTERM to every process of the guest, waits
 * up to the grace period (default 1 s) for its children, SIGKILLs what is left and exits.
 * The kernel gives PID 1 no default signal actions: without this, a polite stop would be
 * ignored and every teardown would wait for SIGKILL.
 * With --confine, init confines its guest itself (testbed/infra/confine.h) before it starts
 * anything: for an LXC container, which libvirt starts on the host's root filesystem with
 * every capability libvirt keeps, it gets the netns guest's view (its own root on a tmpfs
 * built on STAGING_DIR, PRIVATE_DIR its only writable host directory) and its capabilities,
 * no_new_privs and seccomp filter. The log is opened first, at its host path; a guest that
 * cannot be confined does not start. */

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sys/mount.h>

#include "testbed/infra/confine.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"
#include "vnfs/sfc/roles.h"

#define INIT_USAGE \
    "sfcd init [--grace DURATION] [--hostname NAME] [--log FILE] [--key-fd N] [--restart]\n" \
    "          [--confine STAGING_DIR PRIVATE_DIR] [-- ROLE|PROGRAM [ARG...]]"

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

#define INIT_KEY_FD 3

int (*sfcd_role_main)(int argc, char *argv[]);

static uint8_t init_key[RPC_KEY_BYTES];
static bool init_has_key;

static pid_t
start_program(char *argv[], const sigset_t *old_mask, int restarts)
{
    int key_pipe[2] = { -1, -1 };
    pid_t pid;

    if (init_has_key) {
        /* A pipe holds the key until the program reads it: 32 bytes never block. */
        if (pipe2(key_pipe, O_CLOEXEC)
            || write(key_pipe[1], init_key, sizeof init_key) != sizeof init_key) {
            log_err("cannot hand the key over: %s", strerror(errno));
            return -1;
        }
        close(key_pipe[1]);
    }
    fflush(NULL);               /* The child may run a role here: nothing printed twice. */
    pid = fork();
    if (pid < 0) {
        log_err("cannot fork: %s", strerror(errno));
        if (key_pipe[0] >= 0) {
            close(key_pipe[0]);
        }
        return -1;
    }
    if (pid > 0) {
        if (key_pipe[0] >= 0) {
            close(key_pipe[0]);
        }
        return pid;
    }
    if (pid == 0) {
        sodium_memzero(init_key, sizeof init_key);
        if (key_pipe[0] == INIT_KEY_FD) {
            /* dup2() onto itself would keep O_CLOEXEC. */
            fcntl(INIT_KEY_FD, F_SETFD, 0);
        } else if (key_pipe[0] >= 0 && dup2(key_pipe[0], INIT_KEY_FD) < 0) {
            _exit(127);
        }
        if (restarts) {
            char n[16];
            snprintf(n, sizeof n, "%d", restarts);
            setenv("SFCD_RESTARTS", n, 1);
        }
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
            if (sfcd_role_main) {
                _exit(sfcd_role_main(argc + 1, full));
            }
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

/* Confines this process (PID 1 of its PID namespace, in a mount namespace of its own) as the
 * netns provider confines a guest between clone and exec. */
static int
confine_self(const char *staging, const char *private_dir)
{
    struct confine_plan *plan = NULL;
    char *self = realpath("/proc/self/exe", NULL);
    int error;

    if (!self) {
        error = errno;
        goto out;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
        error = errno;
        goto out;
    }
    error = confine_plan_create(staging, self, private_dir, &plan);
    if (!error) {
        error = confine_apply(plan);
    }
    if (!error) {
        error = confine_caps(confine_default_caps());
    }
out:
    if (error) {
        log_err("cannot confine the guest (root on %s, writable %s): %s", staging,
                private_dir ? private_dir : "-", strerror(error));
    }
    confine_plan_free(plan);
    free(self);
    return error;
}

int
role_init(int argc, char *argv[])
{
    uint64_t grace_ns = 1000000000ULL;
    uint64_t backoff_ns = 0, restart_at = 0, program_started = 0;
    const char *hostname = NULL, *log_path = NULL, *staging = NULL, *private_dir = NULL;
    char **program = NULL;
    sigset_t mask, old_mask;
    pid_t program_pid = -1;
    bool restart = false;
    int restarts = 0;
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
        } else if (!strcmp(argv[i], "--key-fd") && i + 1 < argc) {
            int fd = atoi(argv[++i]);
            size_t got = 0;
            while (got < sizeof init_key) {
                ssize_t n = read(fd, init_key + got, sizeof init_key - got);
                if (n <= 0 && !(n < 0 && errno == EINTR)) {
                    fprintf(stderr, "sfcd init: --key-fd %s: cannot read the key\n", argv[i]);
                    return 2;
                }
                got += n > 0 ? n : 0;
            }
            close(fd);
            init_has_key = true;
        } else if (!strcmp(argv[i], "--restart")) {
            restart = true;
        } else if (!strcmp(argv[i], "--hostname") && i + 1 < argc) {
            hostname = argv[++i];
        } else if (!strcmp(argv[i], "--log") && i + 1 < argc) {
            log_path = argv[++i];
        } else if (!strcmp(argv[i], "--confine") && i + 2 < argc) {
            staging = argv[++i];
            private_dir = argv[++i];
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
    if (staging && confine_self(staging, private_dir)) {
        return 1;
    }

    /* Signals are taken synchronously: no handler runs at an awkward moment. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, &old_mask);

    if (program) {
        program_pid = start_program(program, &old_mask, 0);
        program_started = time_mono_ns();
    }
    for (;;) {
        siginfo_t info;
        int status = -1;
        int sig;

        if (restart_at) {
            uint64_t now = time_mono_ns();
            if (now >= restart_at) {
                restarts++;
                log_warn("restarting %s (restart %d)", program[0], restarts);
                program_pid = start_program(program, &old_mask, restarts);
                program_started = now;
                restart_at = program_pid > 0 ? 0 : now + backoff_ns;
                continue;
            }
            struct timespec ts = { (time_t) ((restart_at - now) / 1000000000),
                                   (long) ((restart_at - now) % 1000000000) };
            sig = sigtimedwait(&mask, &info, &ts);
        } else {
            sig = sigwaitinfo(&mask, &info);
        }
        if (sig < 0) {
            continue;
        }
        if (sig == SIGCHLD) {
            reap_children(program_pid, &status);
            if (status != -1) {
                int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
                program_pid = -1;
                if (!restart) {
                    log_info("%s exited with status %d; not restarting it", program[0], code);
                    continue;
                }
                /* Dying young again and again backs off; a long life resets the pace. */
                uint64_t lived = time_mono_ns() - program_started;
                backoff_ns = lived > 10000000000ull || !backoff_ns ? 100000000ull
                             : MIN(backoff_ns * 2, 5000000000ull);
                log_warn("%s exited with status %d; restarting it in %llu ms", program[0],
                         code, (unsigned long long) (backoff_ns / 1000000));
                restart_at = time_mono_ns() + backoff_ns;
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
