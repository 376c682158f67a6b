/* agent — runs in every guest and lets the orchestrator drive it over the management network
 * (JSON-RPC 2.0, newline-delimited, over TCP; see vnfs/core/rpc.h). Methods:
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
 *   exec {argv, stdin, timeout_ms} runs argv (PATH looked up, no shell) to its end and answers
 *                                 {exit_code, stdout, stderr}, the streams base64 and at most
 *                                 1 MiB each: `sfclab exec` into guests the host cannot enter
 *                                 (kvm). The agent answers nothing else meanwhile.
 * Roles' stdout/stderr go to DIR/role-ID.log and their control sockets are DIR/role-ID.sock
 * (SOCKDIR/role-ID.sock with --sock-dir: a kvm guest's DIR is shared with the host over 9p,
 * where a unix socket cannot be bound).
 * The agent signals only the processes it started, and stops them all when it exits. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vnfs/core/buf.h"
#include "vnfs/core/loop.h"
#include "vnfs/core/rpc.h"
#include "vnfs/core/util.h"
#include "vnfs/sfc/roles.h"

#define AGENT_MAX_ROLES 256

struct agent_role {
    int id;
    char *role;
    pid_t pid;
    bool running;
    int exit_code;                  /* 128 + signal if killed. */
    char *ctl;                      /* NULL for roles without a control socket. */
    char *log;
};

struct agent {
    struct loop *loop;
    struct rpc_server *server;
    char *dir;
    char *sock_dir;                 /* NULL: dir. */
    char *exe;
    uint64_t started_ns;
    struct agent_role roles[AGENT_MAX_ROLES];
    int n_roles;
};

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

static void
reap(struct agent *a)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < a->n_roles; i++) {
            if (a->roles[i].pid == pid && a->roles[i].running) {
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
    *result = json_pack("{s:I, s:i, s:i, s:i}",
                        "uptime_ns", (json_int_t) (time_mono_ns() - a->started_ns),
                        "pid", (int) getpid(), "roles", a->n_roles, "running", running);
    return 0;
}

static int
agent_start_role(void *a_, json_t *params, json_t **result, char **errmsg)
{
    struct agent *a = a_;
    const char *role = json_string_value(json_object_get(params, "role"));
    json_t *args = json_object_get(params, "args");
    json_t *cpu = json_object_get(params, "cpu");
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
    if (a->n_roles >= AGENT_MAX_ROLES) {
        *errmsg = xstrdup("start_role: too many roles");
        return ENOSPC;
    }
    r = &a->roles[a->n_roles];
    memset(r, 0, sizeof *r);
    r->id = a->n_roles + 1;
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
        free(r->role);
        free(r->log);
        free(r->ctl);
        return error;
    }
    if (!pid) {
        sigset_t none;
        int fd = open(r->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(a->exe, argv);
        _exit(127);
    }
    free(argv);
    r->pid = pid;
    r->running = true;
    a->n_roles++;

    /* Answer once the role can be reached, so the orchestrator's next call finds it. */
    uint64_t deadline = time_mono_ns() + 3000000000ull;
    while (has_ctl && time_mono_ns() < deadline) {
        struct stat st;
        reap(a);
        if (!r->running || !stat(r->ctl, &st)) {
            break;
        }
        usleep(1000);
    }
    reap(a);
    if (!r->running && has_ctl) {
        char *tail = log_tail(r->log, 2000);
        *errmsg = xasprintf("role %s exited with code %d: %s", role, r->exit_code, tail);
        free(tail);
        return EIO;
    }
    *result = json_pack("{s:i, s:i, s:s, s:s?}", "id", r->id, "pid", (int) pid, "log", r->log,
                        "ctl", r->ctl);
    return 0;
}

static int
agent_stop_role(void *a_, json_t *params, json_t **result, char **errmsg)
{
    struct agent *a = a_;
    struct agent_role *r = find_role(a, params, errmsg);

    if (!r) {
        return EINVAL;
    }
    reap(a);
    if (r->running) {
        kill(r->pid, SIGTERM);
        wait_exit(a, r, time_mono_ns() + 2000000000ull);
        if (r->running) {
            kill(r->pid, SIGKILL);
            wait_exit(a, r, time_mono_ns() + 2000000000ull);
        }
    }
    *result = json_pack("{s:i, s:i, s:b}", "id", r->id, "exit_code", r->exit_code,
                        "running", r->running);
    return 0;
}

static int
agent_wait_role(void *a_, json_t *params, json_t **result, char **errmsg)
{
    struct agent *a = a_;
    struct agent_role *r = find_role(a, params, errmsg);
    json_t *timeout = json_object_get(params, "timeout_ms");
    char *tail;

    if (!r) {
        return EINVAL;
    }
    wait_exit(a, r, time_mono_ns()
              + (uint64_t) (json_is_integer(timeout) ? json_integer_value(timeout) : 0) * 1000000);
    tail = log_tail(r->log, 4096);
    *result = json_pack("{s:i, s:b, s:i, s:s}", "id", r->id, "running", r->running,
                        "exit_code", r->exit_code, "output", tail);
    free(tail);
    return 0;
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

/* Forwards 'method' to the role's control socket. */
static int
forward_to_role(struct agent *a, json_t *params, const char *method, json_t *fwd_params,
                json_t **result, char **errmsg)
{
    struct agent_role *r = find_role(a, params, errmsg);
    char *address;
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
    error = rpc_call_err(fd, method, fwd_params, result, 10000, errmsg);
    close(fd);
    return error;
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

static const struct rpc_method agent_methods[] = {
    { "exec", agent_exec },
    { "ping", agent_ping },
    { "start_role", agent_start_role },
    { "stop_role", agent_stop_role },
    { "wait_role", agent_wait_role },
    { "roles", agent_roles },
    { "stats", agent_stats },
    { "export_vnf_state", agent_export },
    { "import_vnf_state", agent_import },
};

static void
agent_signal(struct loop *loop, int signo, void *a)
{
    if (signo == SIGCHLD) {
        reap(a);
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

static void
usage(void)
{
    printf("usage: sfcd agent --listen ADDR:PORT [--dir DIR] [--sock-dir DIR] [--sfcd PATH]\n"
           "  --listen ADDR:PORT  JSON-RPC endpoint on the management network (or unix:PATH)\n"
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
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static const int signals[] = { SIGTERM, SIGINT, SIGCHLD, SIGHUP };
    const char *listen = NULL;
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
    if (!error) {
        error = rpc_server_create(a.loop, listen, agent_methods, ARRAY_SIZE(agent_methods), &a,
                                  &a.server);
    }
    if (error) {
        log_err("cannot listen on %s: %s", listen, strerror(error));
        goto out;
    }
    log_info("listening on %s", listen);
    rc = loop_run(a.loop) ? 1 : 0;
    stop_all(&a);
out:
    rpc_server_destroy(a.server);
    loop_destroy(a.loop);
    for (int i = 0; i < a.n_roles; i++) {
        free(a.roles[i].role);
        free(a.roles[i].ctl);
        free(a.roles[i].log);
    }
    free(a.dir);
    free(a.sock_dir);
    free(a.exe);
    return rc;
}
