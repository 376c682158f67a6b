/* crash — a component stops: its processes SIGKILLed, its links cut, or its guest destroyed. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "injectors/inject.h"
#include "testbed/infra/instance.h"
#include "testbed/infra/provider.h"
#include "vnfs/lib/util.h"

static const char *const crash_modes[] = { "kill", "links", "destroy", NULL };
static const char *const crash_lasting_modes[] = { "kill", "destroy", NULL };

static int
crash_check(struct inject_fault *f)
{
    if (!f->ig->guest) {
        log_err("%s: guest %s is already gone", f->target, f->guest);
        return ESRCH;
    }
    if (!strcmp(f->mode, "links") && !inject_data_iface(f->ig)) {
        log_err("%s: guest %s has no data interface to cut", f->target, f->guest);
        return EINVAL;
    }
    return 0;
}

/* SIGKILL from inside the guest: the agent's pids are those of the guest's PID namespace. */
static int
kill_in_guest(struct inject_fault *f, long long pid)
{
    char arg[32];
    char *argv[] = { "kill", "-KILL", arg, NULL };
    int status, error;

    snprintf(arg, sizeof arg, "%lld", pid);
    error = guest_exec_wait(f->ig->guest, argv, NULL, &status);
    if (!error && status) {
        error = ESRCH;
    }
    return error;
}

/* The guest's process 'nspid' as a pidfd of the host (-1: it cannot be had, a VM's). */
static int
host_pidfd(struct inject_fault *f, long long nspid)
{
    pid_t pid;

    if (guest_host_pid(f->ig->guest, nspid, &pid)) {
        return -1;
    }
    return syscall(SYS_pidfd_open, pid, 0);
}

/* SIGKILL to the roles: from the host through pidfds when the guest shares its kernel (the
 * time of the fault is that of the signal, not of the look-ups before it), from inside the
 * guest otherwise. */
static int
crash_kill(struct inject_fault *f)
{
    json_t *roles = NULL, *r, *killed = json_array();
    int pidfds[64];
    size_t i, n = 0;
    int error;

    error = inject_agent_call(f, f->ig, "roles", NULL, &roles);
    if (error) {
        goto out;
    }
    json_array_foreach (roles, i, r) {
        int id = json_integer_value(json_object_get(r, "id"));
        long long nspid = json_integer_value(json_object_get(r, "pid"));
        int fd;

        if (!json_is_true(json_object_get(r, "running"))
            || (f->role_id >= 0 && id != f->role_id)) {
            continue;
        }
        fd = n < ARRAY_SIZE(pidfds) ? host_pidfd(f, nspid) : -1;
        if (fd >= 0) {
            pidfds[n++] = fd;
        } else {
            error = kill_in_guest(f, nspid);
            if (error == ESRCH) {
                /* It ended since the agent listed it (a scheme's own recovery may stop a
                 * copy it suspects): not ours to kill. */
                error = 0;
                continue;
            }
        }
        if (error) {
            log_err("%s: cannot kill role %d on %s (%s)", f->target, id, f->guest,
                    strerror(error));
            goto out;
        }
        json_array_append_new(killed, json_integer(id));
    }
    if (n && n == json_array_size(killed)) {
        f->at.mono_ns = time_mono_ns();
        f->at.wall_ns = time_wall_ns();
        f->has_at = true;
    }
    for (i = 0; i < n; i++) {
        if (syscall(SYS_pidfd_send_signal, pidfds[i], SIGKILL, NULL, 0) && errno != ESRCH
            && !error) {
            error = errno;
            log_err("%s: cannot kill a role on %s (%s)", f->target, f->guest,
                    strerror(error));
        }
    }
    if (!json_array_size(killed)) {
        log_err("%s: no %s runs on guest %s to kill", f->target,
                f->role_id >= 0 ? "such role" : "role", f->guest);
        error = ESRCH;
        goto out;
    }
    if (!error) {
        json_object_set(f->saved, "killed", killed);
    }
out:
    for (i = 0; i < n; i++) {
        close(pidfds[i]);
    }
    json_decref(killed);
    json_decref(roles);
    return error;
}

static int
set_links(struct inject_fault *f, bool up)
{
    int error = 0;

    for (size_t i = 1; !error && i < f->ig->n_ifaces; i++) {
        error = guest_set_link(f->ig->guest, f->ig->ifaces[i].ifname, up);
        if (error) {
            log_err("%s: cannot set %s %s (%s)", f->guest, f->ig->ifaces[i].ifname,
                    up ? "up" : "down", strerror(error));
        }
    }
    return error;
}

static int
crash_apply(struct inject_fault *f)
{
    int error;

    if (!strcmp(f->mode, "kill")) {
        return crash_kill(f);
    } else if (!strcmp(f->mode, "links")) {
        return set_links(f, false);
    }
    error = guest_destroy(f->ig->guest);
    if (error) {
        log_err("%s: cannot destroy guest %s (%s)", f->target, f->guest, strerror(error));
        return error;
    }
    f->ig->guest = NULL;
    return 0;
}

static int
crash_heal(struct inject_fault *f)
{
    if (!strcmp(f->mode, "links")) {
        return set_links(f, true);
    }
    /* kill and destroy: recovery is the scheme's (or the next run's) job. */
    return 0;
}

const struct inject_kind inject_crash = {
    .name = "crash",
    .modes = crash_modes,
    .check = crash_check,
    .apply = crash_apply,
    .heal = crash_heal,
    .lasting_modes = crash_lasting_modes,
};
