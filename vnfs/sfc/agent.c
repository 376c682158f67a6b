/* agent — runs in every guest and lets the orchestrator drive it over the management network
 * (JSON-RPC 2.0, newline-delimited, over TCP; see vnfs/lib/rpc.h). Methods:
 *   ping                          {uptime_ns, pid, roles}: the heartbeat
 *   start_role {role, args, cpu}  forks and execs `sfcd ROLE ARGS... --ctl SOCK [--cpu N]`;
 *                                 answers {id, pid, ctl, log} once the role's control socket is
 *                                 up (or its early exit, as an error with the log's tail)
 *   stop_role {id}                SIGTERM, SIGKILL after 2 s; {id, exit_code}
 *   wait_role {id, timeout_ms}    waits for a role (e.g. a client) to exit; {exit_code, output}
 *   roles                         [{id, role, pid, running, exit_code}]
 *   stats {id}                    the role's counters (its control socket's `stats`)
 *   export_vnf_state {id}         {fn, state (base64), bytes, entries, digest}
 *   import_vnf_state {id, state}  {entries}
 *   call_role {id, method, params}  the role's own control method, e.g. nham_down
 *   adopt_role {id, pid}          role 'id', ended, runs again as process 'pid' of the guest
 *                                 (restored by CRIU from the host: not our child); {id, pid}
 *   exec {argv, stdin, timeout_ms} runs argv (PATH looked up, no shell) to its end and answers
 *                                 {exit_code, stdout, stderr}, the streams base64 and at most
 *                                 1 MiB each: `sfclab exec` into guests the host cannot enter
 *                                 (kvm). The agent answers nothing else meanwhile.
 * Roles' stdout/stderr go to DIR/role-ID.log and their control sockets are DIR/role-ID.sock
 * (SOCKDIR/role-ID.sock with --sock-dir: a kvm guest's DIR is shared with the host over 9p,
 * where a unix socket cannot be bound).
 * The agent signals only the processes it started, and stops them all when it exits.
 *
 * Nobody but the orchestrator may drive it, and nobody can stall it: with --key-fd it reads
 * its key (RPC_KEY_BYTES, handed over a pipe by init, never from a file) and serves only
 * connections that hold it (vnfs/lib/rpc.h); it listens where it is told (the instance gives
 * it its management address, bound to the management interface). The methods that wait
 * (start_role until the role's socket is up, stop_role, wait_role) answer later, from the loop,
 * and block no other caller; wait_role's timeout is capped at AGENT_MAX_WAIT_MS. At most
 * AGENT_MAX_ROLES roles are kept: a role that failed to start frees its slot at once, ended
 * roles make room for new ones, oldest first. Paths given to roles (--stats, --out, --trace,
 * --deliver, --ctl) must lie in DIR (or SOCKDIR). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/loop.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"
#include "vnfs/sfc/roles.h"

#define AGENT_MAX_ROLES 256
#define AGENT_MAX_WAIT_MS 3600000       /* One hour: longer than any experiment's phase. */
#define AGENT_START_WAIT_NS 3000000000ull
#define AGENT_STOP_GRACE_NS 2000000000ull
#define AGENT_PENDING_TICK_NS 2000000ull

/* A request that answers later (rpc_defer()). */
enum agent_pending_kind { PENDING_START, PENDING_STOP, PENDING_WAIT };

struct agent_pending {
    enum agent_pending_kind kind;
    struct rpc_deferred *reply;
    int role_id;
    uint64_t deadline;
    bool killed;                    /* PENDING_STOP: SIGKILL sent. */
};

struct agent_role {
    int id;
    char *role;
    pid_t pid;
    bool running;
    int exit_code;                  /* 128 + signal if killed; -1 if adopted (unknown). */
    char *ctl;                      /* NULL for roles without a control socket. */
    char *log;
    bool adopted;                   /* Its process is not our child (adopt_role). */
    int pidfd;                      /* If adopted and running: how we learn of its end. */
};

struct agent {
    struct loop *loop;
    struct rpc_server *server;
    char *dir;
    char *sock_dir;                 /* NULL: dir. */
    char *exe;
    uint64_t started_ns;
    int restarts;                   /* How many times init restarted us (SFCD_RESTARTS). */
    struct agent_role roles[AGENT_MAX_ROLES];
    int n_roles;                    /* Slots in use: [0, n_roles). */
    int next_id;
    struct agent_pending *pending;
    size_t n_pending, allocated_pending;
    uint64_t pending_timer;
};

static void agent_pending_tick(struct loop *, uint64_t timer, void *a_);

static struct agent_role *
find_role(struct agent *a, json_t *params, char **errmsg)
{
    json_t *id = json_object_get(params, "id");

    if (!json_is_integer(id)) {
        *errmsg = xstrdup("params need an integer \"id\"");
        return NULL;
    }
    for (int i = 0; i < a->n_roles; i++) {
        if (a->roles[i].id == json_integer_value(id)) {
            return &a->roles[i];
        }
    }
    *errmsg = xasprintf("no role with id %lld", (long long) json_integer_value(id));
    return NULL;
}

static struct agent_role *
role_by_id(struct agent *a, int id)
{
    for (int i = 0; i < a->n_roles; i++) {
        if (a->roles[i].id == id) {
            return &a->roles[i];
        }
    }
    return NULL;
}

static void
role_unwatch(struct agent *a, struct agent_role *r)
{
    if (r->adopted && r->pidfd >= 0) {
        loop_del_fd(a->loop, r->pidfd);
        close(r->pidfd);
        r->pidfd = -1;
    }
}

static void
role_free(struct agent_role *r)
{
    free(r->role);
    free(r->ctl);
    free(r->log);
    memset(r, 0, sizeof *r);
}

/* Frees slot 'r' (its role has ended or never started), keeping the others in start order. */
static void
role_release(struct agent *a, struct agent_role *r)
{
    int i = r - a->roles;

    role_unwatch(a, r);
    if (r->log) {
        unlink(r->log);
    }
    if (r->ctl) {
        unlink(r->ctl);
    }
    role_free(r);
    memmove(&a->roles[i], &a->roles[i + 1], (a->n_roles - i - 1) * sizeof *r);
    a->n_roles--;
}

/* A slot for a new role: a free one, or the oldest ended role's. NULL if every role runs or
 * is awaited. */
static struct agent_role *
role_slot(struct agent *a)
{
    if (a->n_roles < AGENT_MAX_ROLES) {
        return &a->roles[a->n_roles++];
    }
    for (int i = 0; i < a->n_roles; i++) {
        struct agent_role *r = &a->roles[i];
        bool awaited = false;

        for (size_t j = 0; j < a->n_pending; j++) {
            awaited |= a->pending[j].role_id == r->id;
        }
        if (!r->running && !awaited) {
            role_release(a, r);
            return &a->roles[a->n_roles++];
        }
    }
    return NULL;
}

static void
pending_add(struct agent *a, enum agent_pending_kind kind, struct rpc_deferred *reply,
            int role_id, uint64_t deadline)
{
    if (a->n_pending >= a->allocated_pending) {
        a->pending = x2nrealloc(a->pending, &a->allocated_pending, sizeof *a->pending);
    }
    a->pending[a->n_pending++] = (struct agent_pending) {
        .kind = kind, .reply = reply, .role_id = role_id, .deadline = deadline,
    };
    if (!a->pending_timer) {
        a->pending_timer = loop_add_timer(a->loop, AGENT_PENDING_TICK_NS, AGENT_PENDING_TICK_NS,
                                          agent_pending_tick, a);
    }
}

static void
reap(struct agent *a)
{
    int status;
    pid_t pid;

    for (int i = 0; i < a->n_roles; i++) {
        struct agent_role *r = &a->roles[i];
        struct pollfd p = { .fd = r->pidfd, .events = POLLIN };

        if (r->adopted && r->running && r->pidfd >= 0 && poll(&p, 1, 0) == 1) {
            r->running = false;
            r->exit_code = -1;          /* Its parent (the guest's init) reaped it. */
            role_unwatch(a, r);
        }
    }
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < a->n_roles; i++) {
            if (a->roles[i].pid == pid && a->roles[i].running && !a->roles[i].adopted) {
                a->roles[i].running = false;
                a->roles[i].exit_code = WIFEXITED(status) ? WEXITSTATUS(status)
                                        : 128 + WTERMSIG(status);
            }
        }
    }
}

static char *
log_tail(const char *path, size_t max)
{
    char *text = NULL;
    size_t len = 0;

    if (read_file(path, &text, &len)) {
        return xstrdup("");
    }
    if (len > max) {
        memmove(text, text + len - max, max + 1);
    }
    return text;
}

/* Waits until 'r' has exited or 'deadline' passes. */
static void
wait_exit(struct agent *a, struct agent_role *r, uint64_t deadline)
{
    while (r->running && time_mono_ns() < deadline) {
        reap(a);
        if (r->running) {
            usleep(2000);
        }
    }
}

static int
agent_ping(void *a_, json_t *params, json_t **result, char **errmsg)
{
    struct agent *a = a_;
    int running = 0;

    for (int i = 0; i < a->n_roles; i++) {
        running += a->roles[i].running;
    }
    struct rpc_server_stats st;

    rpc_server_get_stats(a->server, &st);
    *result = json_pack("{s:I, s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:I}",
                        "uptime_ns", (json_int_t) (time_mono_ns() - a->started_ns),
                        "pid", (int) getpid(), "roles", a->n_roles, "running", running,
                        "restarts", a->restarts, "conns", (int) st.conns,
                        "refused_conns", (json_int_t) st.refused_conns,
                        "refused_memory", (json_int_t) st.refused_memory,
                        "refused_auth", (json_int_t) st.refused_auth);
    return 0;
}

/* Options whose value is a file a role writes or binds: confined to the agent's directory, so
 * that no caller can make a role write outside the guest's own space. */
static const char *const path_options[] = { "stats", "out", "trace", "deliver", "ctl" };

static bool
is_path_option(const char *name, size_t len)
{
    /* getopt_long() takes any unambiguous prefix of a long option. */
    for (size_t i = 0; len && i < ARRAY_SIZE(path_options); i++) {
        if (len <= strlen(path_options[i]) && !strncmp(name, path_options[i], len)) {
            return true;
        }
    }
    return false;
}

static bool
path_in_dir(const char *dir, const char *path)
{
    size_t n = strlen(dir);

    if (strncmp(path, dir, n) || path[n] != '/' || !path[n + 1]) {
        return false;
    }
    for (const char *p = path + n; (p = strstr(p, "/..")); p += 3) {
        if (p[3] == '/' || !p[3]) {
            return false;
        }
    }
    return true;
}

/* Checks the path options of 'args'; sets '*errmsg' on the first one outside a->dir (and
 * a->sock_dir, a kvm guest's own directory for sockets). */
static bool
args_confined(const struct agent *a, json_t *args, char **errmsg)
{
    size_t n = args ? json_array_size(args) : 0;

    for (size_t i = 0; i < n; i++) {
        const char *arg = json_string_value(json_array_get(args, i));
        const char *eq, *value;

        if (!strcmp(arg, "--")) {
            break;
        }
        if (strncmp(arg, "--", 2)) {
            continue;
        }
        eq = strchr(arg, '=');
        if (!is_path_option(arg + 2, eq ? (size_t) (eq - arg - 2) : strlen(arg + 2))) {
            continue;
        }
        value = eq ? eq + 1 : i + 1 < n ? json_string_value(json_array_get(args, i + 1)) : "";
        if (!path_in_dir(a->dir, value) && !(a->sock_dir && path_in_dir(a->sock_dir, value))) {
            *errmsg = xasprintf("start_role: %.*s: '%s' is outside the guest's directory %s",
                                eq ? (int) (eq - arg) : (int) strlen(arg), arg, value, a->dir);
            return false;
        }
        i += !eq;
    }
    return true;
}

static json_t *
start_result(const struct agent_role *r)
{
    return json_pack("{s:i, s:i, s:s, s:s?}", "id", r->id, "pid", (int) r->pid, "log", r->log,
                     "ctl", r->ctl);
}

static int
agent_start_role(void *a_, json_t *params, json_t **result, char **errmsg)
{
    struct agent *a = a_;
    const char *role = json_string_value(json_object_get(params, "role"));
    json_t *args = json_object_get(params, "args");
    json_t *cpu = json_object_get(params, "cpu");
    struct rpc_deferred *reply;
    struct agent_role *r;
    char **argv;
    size_t n_args, argc = 0;
    bool has_ctl;
    pid_t pid;

    reap(a);
    if (!role || (args && !json_is_array(args)) || (cpu && !json_is_integer(cpu))) {
        *errmsg = xstrdup("start_role: params are {role: string, args: [string], cpu: int}");
        return EINVAL;
    }
    if (!strcmp(role, "agent") || !strcmp(role, "init")) {
        *errmsg = xasprintf("start_role: '%s' cannot be started by an agent", role);
        return EINVAL;
    }
    n_args = args ? json_array_size(args) : 0;
    for (size_t i = 0; i < n_args; i++) {
        if (!json_is_string(json_array_get(args, i))) {
            *errmsg = xasprintf("start_role: args[%zu] is not a string", i);
            return EINVAL;
        }
    }
    if (!args_confined(a, args, errmsg)) {
        return EPERM;
    }
    r = role_slot(a);
    if (!r) {
        *errmsg = xasprintf("start_role: %d roles are running or awaited", AGENT_MAX_ROLES);
        return ENOSPC;
    }
    memset(r, 0, sizeof *r);
    r->id = ++a->next_id;
    r->role = xstrdup(role);
    r->log = xasprintf("%s/role-%d.log", a->dir, r->id);
    /* The client is a run-to-completion program without an event loop or control socket. */
    has_ctl = strcmp(role, "client") != 0;
    if (has_ctl) {
        r->ctl = xasprintf("%s/role-%d.sock", a->sock_dir ? a->sock_dir : a->dir, r->id);
        unlink(r->ctl);
    }
    argv = xcalloc(n_args + 8, sizeof *argv);
    argv[argc++] = a->exe;
    argv[argc++] = r->role;
    for (size_t i = 0; i < n_args; i++) {
        argv[argc++] = (char *) json_string_value(json_array_get(args, i));
    }
    if (has_ctl) {
        argv[argc++] = "--ctl";
        argv[argc++] = r->ctl;
    }
    char cpu_text[16];
    if (cpu) {
        snprintf(cpu_text, sizeof cpu_text, "%d", (int) json_integer_value(cpu));
        argv[argc++] = "--cpu";
        argv[argc++] = cpu_text;
    }
    argv[argc] = NULL;

    pid = fork();
    if (pid < 0) {
        int error = errno;
        free(argv);
        role_release(a, r);
        return error;
    }
    if (!pid) {
        sigset_t none;
        int fd = open(r->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        /* Stdin from the guest's own /dev/null, not the one the provider gave the agent
         * (opened on the host's /dev, a mount the guest does not have): every file a role
         * holds is then one of its guest, which a CRIU dump of the role needs. */
        int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (null_fd >= 0) {
            dup2(null_fd, 0);
        }
        execv(a->exe, argv);
        _exit(127);
    }
    free(argv);
    r->pid = pid;
    r->running = true;

    /* Answer once the role can be reached, so the orchestrator's next call finds it; the
     * loop goes on serving others meanwhile. */
    reply = has_ctl ? rpc_defer() : NULL;
    if (reply) {
        pending_add(a, PENDING_START, reply, r->id, time_mono_ns() + AGENT_START_WAIT_NS);
        return 0;
    }
    *result = start_result(r);
    return 0;
}

/* Answers a pending start_role if its role is up, gone or out of time. */
static bool
pending_start_done(struct agent *a, struct agent_pending *p, uint64_t now)
{
    struct agent_role *r = role_by_id(a, p->role_id);
    struct stat st;

    if (r && r->running && stat(r->ctl, &st) && now < p->deadline) {
        return false;
    }
    if (!r || !r->running) {
        char *tail = r ? log_tail(r->log, 2000) : xstrdup("");
        char *msg = xasprintf("role %s exited with code %d: %s", r ? r->role : "?",
                              r ? r->exit_code : -1, tail);
        rpc_deferred_reply(p->reply, EIO, NULL, msg);
        free(msg);
        free(tail);
        if (r) {
            /* It never ran: its slot is free again. */
            role_release(a, r);
        }
    } else {
        rpc_deferred_reply(p->reply, 0, start_result(r), NULL);
    }
    return true;
}

static json_t *
stop_result(const struct agent_role *r)
{
    return json_pack("{s:i, s:i, s:b}", "id", r->id, "exit_code", r->exit_code,
                     "running", r->running);
}

static int
agent_stop_role(void *a_, json_t *params, json_t **result, char **errmsg)
{
    struct agent *a = a_;
    struct agent_role *r = find_role(a, params, errmsg);
    struct rpc_deferred *reply;

    if (!r) {
        return EINVAL;
    }
    reap(a);
    if (r->running) {
        kill(r->pid, SIGTERM);
        reply = rpc_defer();
        if (reply) {
            pending_add(a, PENDING_STOP, reply, r->id, time_mono_ns() + AGENT_STOP_GRACE_NS);
            return 0;
        }
    }
    *result = stop_result(r);
    return 0;
}

static bool
pending_stop_done(struct agent *a, struct agent_pending *p, uint64_t now)
{
    struct agent_role *r = role_by_id(a, p->role_id);

    if (r && r->running && now >= p->deadline && !p->killed) {
        kill(r->pid, SIGKILL);
        p->killed = true;
        p->deadline = now + AGENT_STOP_GRACE_NS;
        return false;
    }
    if (r && r->running && now < p->deadline) {
        return false;
    }
    if (r) {
        rpc_deferred_reply(p->reply, 0, stop_result(r), NULL);
    } else {
        rpc_deferred_reply(p->reply, ESRCH, NULL, "the role is gone");
    }
    return true;
}

static json_t *
wait_result(const struct agent_role *r)
{
    char *tail = log_tail(r->log, 4096);
    json_t *result = json_pack("{s:i, s:b, s:i, s:s}", "id", r->id, "running", r->running,
                               "exit_code", r->exit_code, "output", tail);
    free(tail);
    return result;
}

static int
agent_wait_role(void *a_, json_t *params, json_t **result, char **errmsg)
{
    struct agent *a = a_;
    struct agent_role *r = find_role(a, params, errmsg);
    json_t *timeout = json_object_get(params, "timeout_ms");
    json_int_t ms = json_is_integer(timeout) ? json_integer_value(timeout) : 0;
    struct rpc_deferred *reply;

    if (!r) {
        return EINVAL;
    }
    if (ms < 0 || ms > AGENT_MAX_WAIT_MS) {
        *errmsg = xasprintf("wait_role: timeout_ms must be 0 to %d", AGENT_MAX_WAIT_MS);
        return EINVAL;
    }
    reap(a);
    if (r->running && ms > 0 && (reply = rpc_defer())) {
        pending_add(a, PENDING_WAIT, reply, r->id, time_mono_ns() + (uint64_t) ms * 1000000);
        return 0;
    }
    *result = wait_result(r);
    return 0;
}

static bool
pending_wait_done(struct agent *a, struct agent_pending *p, uint64_t now)
{
    struct agent_role *r = role_by_id(a, p->role_id);

    if (r && r->running && now < p->deadline) {
        return false;
    }
    if (r) {
        rpc_deferred_reply(p->reply, 0, wait_result(r), NULL);
    } else {
        rpc_deferred_reply(p->reply, ESRCH, NULL, "the role is gone");
    }
    return true;
}

/* Answers every pending request that can be answered now. */
static void
pending_run(struct agent *a)
{
    uint64_t now = time_mono_ns();

    reap(a);
    for (size_t i = 0; i < a->n_pending; ) {
        struct agent_pending *p = &a->pending[i];
        bool done = false;

        switch (p->kind) {
        case PENDING_START: done = pending_start_done(a, p, now); break;
        case PENDING_STOP: done = pending_stop_done(a, p, now); break;
        case PENDING_WAIT: done = pending_wait_done(a, p, now); break;
        }
        if (done) {
            a->pending[i] = a->pending[--a->n_pending];
        } else {
            i++;
        }
    }
    if (!a->n_pending && a->pending_timer) {
        loop_cancel_timer(a->loop, a->pending_timer);
        a->pending_timer = 0;
    }
}

static void
agent_pending_tick(struct loop *loop, uint64_t timer, void *a)
{
    pending_run(a);
}

static int
agent_roles(void *a_, json_t *params, json_t **result, char **errmsg)
{
    struct agent *a = a_;
    json_t *list = json_array();

    reap(a);
    for (int i = 0; i < a->n_roles; i++) {
        struct agent_role *r = &a->roles[i];
        json_array_append_new(list, json_pack("{s:i, s:s, s:i, s:b, s:i}", "id", r->id,
                                              "role", r->role, "pid", (int) r->pid,
                                              "running", r->running,
                                              "exit_code", r->exit_code));
    }
    *result = list;
    return 0;
}

/* A call forwarded to a role's control socket, answered from the loop when the role answers
 * (or after AGENT_FORWARD_TIMEOUT_NS): a slow role holds up only its own caller. */
struct agent_forward {
    struct agent *a;
    struct rpc_deferred *reply;
    int fd;
    int role_id;
    struct buf in;
    uint64_t timer;
};

#define AGENT_FORWARD_TIMEOUT_NS 10000000000ull

static void
forward_finish(struct agent_forward *f, int error, json_t *result, const char *errmsg)
{
    rpc_deferred_reply(f->reply, error, result, errmsg);
    loop_del_fd(f->a->loop, f->fd);
    close(f->fd);
    if (f->timer) {
        loop_cancel_timer(f->a->loop, f->timer);
    }
    buf_uninit(&f->in);
    free(f);
}

static void
forward_timeout(struct loop *loop, uint64_t timer, void *f_)
{
    struct agent_forward *f = f_;
    char *msg = xasprintf("role %d did not answer in %llu s", f->role_id,
                          (unsigned long long) (AGENT_FORWARD_TIMEOUT_NS / 1000000000));

    f->timer = 0;
    forward_finish(f, ETIMEDOUT, NULL, msg);
    free(msg);
}

static void
forward_readable(struct loop *loop, int fd, uint32_t events, void *f_)
{
    struct agent_forward *f = f_;
    json_t *resp, *error_obj;
    size_t len;
    ssize_t n;

    buf_reserve(&f->in, 65536);
    n = read(fd, f->in.data + f->in.len, f->in.cap - f->in.len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        forward_finish(f, EPROTO, NULL, "the role closed its control socket");
        return;
    }
    f->in.len += n;
    if (!rpc_next_line(&f->in, &len)) {
        if (f->in.len > RPC_MAX_LINE) {
            forward_finish(f, EPROTO, NULL, "the role's answer is too long");
        }
        return;
    }
    resp = json_loadb((const char *) f->in.data, len, 0, NULL);
    error_obj = json_object_get(resp, "error");
    if (!json_is_object(resp) || (!error_obj && !json_object_get(resp, "result"))) {
        forward_finish(f, EPROTO, NULL, "the role's answer is not JSON-RPC");
    } else if (error_obj) {
        const char *msg = json_string_value(json_object_get(error_obj, "message"));
        forward_finish(f, EREMOTEIO, NULL, msg ? msg : "(no message)");
    } else {
        forward_finish(f, 0, json_incref(json_object_get(resp, "result")), NULL);
    }
    json_decref(resp);
}

/* Forwards 'method' to the role's control socket; the answer comes later (rpc_defer()). */
static int
forward_to_role(struct agent *a, json_t *params, const char *method, json_t *fwd_params,
                json_t **result, char **errmsg)
{
    struct agent_role *r = find_role(a, params, errmsg);
    struct agent_forward *f;
    json_t *req;
    char *address, *line;
    int fd, error;

    if (!r) {
        return EINVAL;
    }
    if (!r->ctl || !r->running) {
        *errmsg = xasprintf("role %d (%s) is %s", r->id, r->role,
                            r->running ? "not controllable" : "not running");
        return ESRCH;
    }
    address = xasprintf("unix:%s", r->ctl);
    error = rpc_connect(address, 1000, &fd);
    free(address);
    if (error) {
        *errmsg = xasprintf("role %d control socket: %s", r->id, strerror(error));
        return error;
    }
    req = json_pack("{s:s, s:s, s:i}", "jsonrpc", "2.0", "method", method, "id", 1);
    if (fwd_params) {
        json_object_set(req, "params", fwd_params);
    }
    line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    /* The request is small, or a state the role reads as it comes: written whole now. */
    error = line ? write_fully(fd, line, strlen(line)) : ENOMEM;
    if (!error) {
        error = write_fully(fd, "\n", 1);
    }
    free(line);
    if (error) {
        close(fd);
        *errmsg = xasprintf("role %d control socket: %s", r->id, strerror(error));
        return error;
    }
    f = xzalloc(sizeof *f);
    f->a = a;
    f->fd = fd;
    f->role_id = r->id;
    buf_init(&f->in);
    f->reply = rpc_defer();
    if (!f->reply || loop_add_fd(a->loop, fd, EPOLLIN, forward_readable, f)) {
        /* Not from a server's request (or no room in the loop): nobody to answer later. */
        if (f->reply) {
            rpc_deferred_reply(f->reply, EIO, NULL, "cannot watch the role's socket");
        }
        buf_uninit(&f->in);
        free(f);
        close(fd);
        return EIO;
    }
    f->timer = loop_add_timer(a->loop, AGENT_FORWARD_TIMEOUT_NS, 0, forward_timeout, f);
    return 0;
}

static int
agent_stats(void *a, json_t *params, json_t **result, char **errmsg)
{
    return forward_to_role(a, params, "stats", NULL, result, errmsg);
}

static int
agent_export(void *a, json_t *params, json_t **result, char **errmsg)
{
    return forward_to_role(a, params, "export_state", NULL, result, errmsg);
}

/* FTC's view of a VNF's replicated groups (vnfs/sfc/vnf_ftc.h). */
static int
agent_ftc_state(void *a, json_t *params, json_t **result, char **errmsg)
{
    return forward_to_role(a, params, "ftc_state", NULL, result, errmsg);
}

static int
agent_import(void *a, json_t *params, json_t **result, char **errmsg)
{
    json_t *state = json_object_get(params, "state");
    json_t *fwd;
    int error;

    if (!json_is_string(state)) {
        *errmsg = xstrdup("import_vnf_state: params need \"state\" (base64)");
        return EINVAL;
    }
    fwd = json_pack("{s:O}", "state", state);
    error = forward_to_role(a, params, "import_state", fwd, result, errmsg);
    json_decref(fwd);
    return error;
}

/* A role's own control method (e.g. NHAM's `nham_down` on its SFF, `nham_activate` on a
 * standby VNF): the role decides what it answers; the agent only carries the call. */
static int
agent_call_role(void *a, json_t *params, json_t **result, char **errmsg)
{
    const char *method = json_string_value(json_object_get(params, "method"));
    json_t *args = json_object_get(params, "params");

    if (!method || !*method || strlen(method) > 64 || (args && !json_is_object(args))) {
        *errmsg = xstrdup("call_role: params need \"id\", \"method\" (a name) and "
                          "optionally \"params\" (an object)");
        return EINVAL;
    }
    return forward_to_role(a, params, method, args, result, errmsg);
}

#define AGENT_EXEC_MAX_OUTPUT (1 << 20)

/* Runs argv with its stdin from 'in' and collects stdout and stderr until it exits or the
 * deadline passes (then SIGKILL). Returns its exit code (128 + signal if killed). */
static int
exec_collect(char **argv, const struct buf *in, uint64_t deadline, struct buf *out,
             struct buf *err, int *exit_codep)
{
    int p_in[2] = { -1, -1 }, p_out[2] = { -1, -1 }, p_err[2] = { -1, -1 };
    size_t in_off = 0;
    int status, error = 0;
    pid_t pid;

    if (pipe2(p_in, O_CLOEXEC) || pipe2(p_out, O_CLOEXEC) || pipe2(p_err, O_CLOEXEC)) {
        error = errno;
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        error = errno;
        goto out;
    }
    if (!pid) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (dup2(p_in[0], 0) < 0 || dup2(p_out[1], 1) < 0 || dup2(p_err[1], 2) < 0) {
            _exit(127);
        }
        execvp(argv[0], argv);
        fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(p_in[0]);
    close(p_out[1]);
    close(p_err[1]);
    p_in[0] = p_out[1] = p_err[1] = -1;
    if (!in->len) {
        close(p_in[1]);
        p_in[1] = -1;
    }
    fcntl(p_in[1] >= 0 ? p_in[1] : p_out[0], F_SETFL, O_NONBLOCK);
    while (p_out[0] >= 0 || p_err[0] >= 0) {
        struct pollfd pfd[3] = { { p_out[0], POLLIN, 0 }, { p_err[0], POLLIN, 0 },
                                 { p_in[1], POLLOUT, 0 } };
        uint64_t now = time_mono_ns();
        if (now >= deadline) {
            kill(pid, SIGKILL);
            break;
        }
        if (poll(pfd, 3, (int) MIN((deadline - now) / 1000000 + 1, 1000)) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        for (int i = 0; i < 2; i++) {
            int *fd = i ? &p_err[0] : &p_out[0];
            struct buf *b = i ? err : out;
            if (*fd >= 0 && pfd[i].revents) {
                char chunk[4096];
                ssize_t n = read(*fd, chunk, sizeof chunk);
                if (n > 0) {
                    if (b->len + n <= AGENT_EXEC_MAX_OUTPUT) {
                        buf_put(b, chunk, n);
                    }
                } else if (n == 0 || errno != EINTR) {
                    close(*fd);
                    *fd = -1;
                }
            }
        }
        if (p_in[1] >= 0 && pfd[2].revents) {
            ssize_t n = write(p_in[1], in->data + in_off, in->len - in_off);
            if (n > 0) {
                in_off += n;
            }
            if ((n < 0 && errno != EAGAIN && errno != EINTR) || in_off == in->len) {
                close(p_in[1]);
                p_in[1] = -1;
            }
        }
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            error = errno;
            goto out;
        }
    }
    *exit_codep = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
out:
    for (int i = 0; i < 2; i++) {
        if (p_in[i] >= 0) {
            close(p_in[i]);
        }
        if (p_out[i] >= 0) {
            close(p_out[i]);
        }
        if (p_err[i] >= 0) {
            close(p_err[i]);
        }
    }
    return error;
}

static int
agent_exec(void *a_, json_t *params, json_t **result, char **errmsg)
{
    json_t *jargv = json_object_get(params, "argv"), *v;
    json_t *timeout = json_object_get(params, "timeout_ms");
    const char *in64 = json_string_value(json_object_get(params, "stdin"));
    struct buf in = BUF_INITIALIZER, out = BUF_INITIALIZER, err = BUF_INITIALIZER;
    char **argv = NULL;
    char *out64 = NULL, *err64 = NULL;
    int exit_code = -1, error = 0;
    size_t i;

    (void) a_;
    if (!json_is_array(jargv) || !json_array_size(jargv)) {
        *errmsg = xstrdup("params need a non-empty \"argv\" array of strings");
        return EINVAL;
    }
    argv = xcalloc(json_array_size(jargv) + 1, sizeof *argv);
    json_array_foreach(jargv, i, v) {
        if (!json_is_string(v)) {
            *errmsg = xstrdup("\"argv\" holds only strings");
            error = EINVAL;
            goto out;
        }
        argv[i] = (char *) json_string_value(v);
    }
    if (in64 && rpc_base64_decode(in64, &in)) {
        *errmsg = xstrdup("\"stdin\" is not base64");
        error = EINVAL;
        goto out;
    }
    error = exec_collect(argv, &in, time_mono_ns() + (uint64_t) (json_is_integer(timeout)
                         ? json_integer_value(timeout) : 60000) * 1000000, &out, &err,
                         &exit_code);
    if (error) {
        *errmsg = xasprintf("cannot run %s: %s", argv[0], strerror(error));
        goto out;
    }
    out64 = rpc_base64_encode(out.data, out.len);
    err64 = rpc_base64_encode(err.data, err.len);
    *result = json_pack("{s:i, s:s, s:s}", "exit_code", exit_code, "stdout", out64,
                        "stderr", err64);
out:
    free(argv);
    free(out64);
    free(err64);
    buf_uninit(&in);
    buf_uninit(&out);
    buf_uninit(&err);
    return error;
}

static void
agent_adopted_ended(struct loop *loop, int fd, uint32_t events, void *a)
{
    pending_run(a);
}

/* Role 'id', ended, runs again as process 'pid' of this guest: the host restored it from a
 * CRIU image (NHAM's criu backend), with its control socket, so the role's calls reach it
 * again. It is the guest's init's child, not ours: its end comes through a pidfd. The process
 * must be the same role's (its command line says so): the agent signals nothing it did not
 * start or adopt. */
static int
agent_adopt_role(void *a_, json_t *params, json_t **result, char **errmsg)
{
    struct agent *a = a_;
    struct agent_role *r = find_role(a, params, errmsg);
    json_t *pid_j = json_object_get(params, "pid");
    char path[64], *cmdline = NULL;
    size_t len = 0;
    pid_t pid;
    int pidfd, error;

    if (!r) {
        return ENOENT;
    }
    if (!json_is_integer(pid_j) || json_integer_value(pid_j) <= 1) {
        *errmsg = xstrdup("params need an integer \"pid\" > 1");
        return EINVAL;
    }
    pid = json_integer_value(pid_j);
    reap(a);
    if (r->running) {
        *errmsg = xasprintf("role %d still runs (pid %d)", r->id, (int) r->pid);
        return EBUSY;
    }
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int) pid);
    error = read_file(path, &cmdline, &len);
    if (!error && (len < strlen(a->exe) + 1 + strlen(r->role) + 1
                   || strcmp(cmdline, a->exe) || strcmp(cmdline + strlen(a->exe) + 1, r->role))) {
        error = EPERM;
    }
    free(cmdline);
    if (error) {
        *errmsg = xasprintf("process %d is not a `%s %s`: %s", (int) pid, a->exe, r->role,
                            strerror(error));
        return error;
    }
    pidfd = syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        error = errno;
        *errmsg = xasprintf("pidfd_open(%d): %s", (int) pid, strerror(error));
        return error;
    }
    fcntl(pidfd, F_SETFD, FD_CLOEXEC);
    error = loop_add_fd(a->loop, pidfd, EPOLLIN, agent_adopted_ended, a);
    if (error) {
        close(pidfd);
        *errmsg = xasprintf("watching pid %d: %s", (int) pid, strerror(error));
        return error;
    }
    r->pid = pid;
    r->running = true;
    r->exit_code = 0;
    r->adopted = true;
    r->pidfd = pidfd;
    *result = json_pack("{s:i, s:i}", "id", r->id, "pid", (int) pid);
    return 0;
}

static const struct rpc_method agent_methods[] = {
    { "adopt_role", agent_adopt_role },
    { "exec", agent_exec },
    { "ping", agent_ping },
    { "start_role", agent_start_role },
    { "stop_role", agent_stop_role },
    { "wait_role", agent_wait_role },
    { "roles", agent_roles },
    { "stats", agent_stats },
    { "export_vnf_state", agent_export },
    { "import_vnf_state", agent_import },
    { "ftc_state", agent_ftc_state },
    { "call_role", agent_call_role },
};

static void
agent_signal(struct loop *loop, int signo, void *a)
{
    if (signo == SIGCHLD) {
        pending_run(a);
    } else {
        loop_stop(loop);
    }
}

static void
stop_all(struct agent *a)
{
    for (int i = 0; i < a->n_roles; i++) {
        if (a->roles[i].running) {
            kill(a->roles[i].pid, SIGTERM);
        }
    }
    for (int i = 0; i < a->n_roles; i++) {
        wait_exit(a, &a->roles[i], time_mono_ns() + 2000000000ull);
        if (a->roles[i].running) {
            kill(a->roles[i].pid, SIGKILL);
            wait_exit(a, &a->roles[i], time_mono_ns() + 1000000000ull);
        }
    }
}

/* Reads the key from 'fd' (a pipe from init) and closes it: the key is never in a file. */
static int
read_key(int fd, uint8_t key[RPC_KEY_BYTES])
{
    size_t got = 0;

    while (got < RPC_KEY_BYTES) {
        ssize_t n = read(fd, key + got, RPC_KEY_BYTES - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            close(fd);
            return EIO;
        }
        got += n;
    }
    close(fd);
    return 0;
}

static void
usage(void)
{
    printf("usage: sfcd agent --listen ADDR[%%DEV]:PORT [--dir DIR] [--sock-dir DIR]\n"
           "                  [--sfcd PATH] [--key-fd N]\n"
           "  --listen ADDR:PORT  JSON-RPC endpoint on the management network (or unix:PATH);\n"
           "                      %%DEV binds it to that interface only\n"
           "  --key-fd N          read the RPC key from fd N: serve only callers that hold it\n"
           "  --dir DIR           role logs and control sockets (default /tmp/sfcd-agent-PID)\n"
           "  --sock-dir DIR      control sockets there instead\n"
           "  --sfcd PATH         the sfcd binary roles run (default: this one)\n");
}

int
role_agent(int argc, char *argv[])
{
    static const struct option options[] = {
        { "listen", required_argument, NULL, 'l' },
        { "dir", required_argument, NULL, 'd' },
        { "sock-dir", required_argument, NULL, 'S' },
        { "sfcd", required_argument, NULL, 's' },
        { "key-fd", required_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static const int signals[] = { SIGTERM, SIGINT, SIGCHLD, SIGHUP };
    const char *listen = NULL;
    uint8_t key[RPC_KEY_BYTES];
    bool keyed = false;
    int key_fd = -1;
    struct agent a;
    char exe[4096];
    int opt, error, rc = 2;
    ssize_t n;

    memset(&a, 0, sizeof a);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'l': listen = optarg; break;
        case 'd': free(a.dir); a.dir = xstrdup(optarg); break;
        case 'S': free(a.sock_dir); a.sock_dir = xstrdup(optarg); break;
        case 's': free(a.exe); a.exe = xstrdup(optarg); break;
        case 'k':
            key_fd = atoi(optarg);
            if (key_fd < 0 || read_key(key_fd, key)) {
                log_err("--key-fd %s: cannot read %d key bytes", optarg, RPC_KEY_BYTES);
                goto out;
            }
            keyed = true;
            break;
        case 'h': usage(); rc = 0; goto out;
        default: usage(); goto out;
        }
    }
    if (!listen || optind != argc) {
        fprintf(stderr, "sfcd agent: --listen is required\n");
        goto out;
    }
    rc = 1;
    if (!a.exe) {
        /* Resolved now: a rebuilt binary must not change what a running agent starts. */
        n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n < 0) {
            log_err("/proc/self/exe: %s", strerror(errno));
            goto out;
        }
        exe[n] = '\0';
        a.exe = xstrdup(exe);
    }
    if (!a.dir) {
        a.dir = xasprintf("/tmp/sfcd-agent-%d", (int) getpid());
    }
    if (mkdir(a.dir, 0755) < 0 && errno != EEXIST) {
        log_err("%s: %s", a.dir, strerror(errno));
        goto out;
    }
    if (a.sock_dir && mkdir(a.sock_dir, 0700) < 0 && errno != EEXIST) {
        log_err("%s: %s", a.sock_dir, strerror(errno));
        goto out;
    }
    a.started_ns = time_mono_ns();
    error = loop_create(&a.loop);
    if (!error) {
        error = loop_add_signals(a.loop, signals, ARRAY_SIZE(signals), agent_signal, &a);
    }
    /* The guest starts before its interfaces are plugged: until the management interface and
     * its address are there (a few ms on netns, longer through libvirt), wait for them rather
     * than die and be counted as a restart. */
    for (uint64_t deadline = time_mono_ns() + 30000000000ull; !error;) {
        error = rpc_server_create(a.loop, listen, agent_methods, ARRAY_SIZE(agent_methods), &a,
                                  &a.server);
        if ((error != ENODEV && error != EADDRNOTAVAIL) || time_mono_ns() >= deadline) {
            break;
        }
        error = 0;
        usleep(20000);
    }
    if (error) {
        log_err("cannot listen on %s: %s", listen, strerror(error));
        goto out;
    }
    if (keyed) {
        rpc_server_set_key(a.server, key);
    }
    if (getenv("SFCD_RESTARTS")) {
        a.restarts = atoi(getenv("SFCD_RESTARTS"));
    }
    log_info("listening on %s", listen);
    rc = loop_run(a.loop) ? 1 : 0;
    stop_all(&a);
out:
    for (size_t i = 0; i < a.n_pending; i++) {
        rpc_deferred_reply(a.pending[i].reply, ESHUTDOWN, NULL, "the agent is stopping");
    }
    free(a.pending);
    rpc_server_destroy(a.server);
    loop_destroy(a.loop);
    for (int i = 0; i < a.n_roles; i++) {
        role_free(&a.roles[i]);
    }
    sodium_memzero(key, sizeof key);
    free(a.dir);
    free(a.sock_dir);
    free(a.exe);
    return rc;
}
