#include "testbed/infra/ovs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testbed/infra/manifest.h"
#include "testbed/infra/openflow.h"
#include "testbed/infra/ovsdb.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

#define OVS_SCHEMA "/usr/share/openvswitch/vswitch.ovsschema"
#define OVS_DB_NAME "Open_vSwitch"

/* Bounds on every wait. Measured here: both daemons ready in ~150 ms, a commit applied in a few
 * ms; these leave room for a loaded CI host without letting a wedged daemon hang a run. */
#define OVS_START_TIMEOUT_MS 15000
#define OVS_APPLY_TIMEOUT_MS 10000
/* vswitchd sets AF_XDP ports up one after the other in its main thread, each loading an XDP
 * program: measured 0.55-0.9 s per port at load 21 (13 ports of nmr-dns on lxc: 7.6 s, and
 * past 10 s at times, which failed `up`). A commit's deadline grows by this much per port. */
#define OVS_AFXDP_PORT_MS 2000
#define OVS_OFPORT_TIMEOUT_MS 5000
#define OVS_TOOL_TIMEOUT_MS 30000
#define OVS_EXIT_TIMEOUT_MS 5000
#define OVS_OPENFLOW_TIMEOUT_MS 5000
#define OVS_POLL_US 2000

extern char **environ;

struct ovs_daemon {
    const char *name;           /* "ovsdb-server", "ovs-vswitchd". */
    pid_t pid;                  /* 0 if unknown. */
    uint64_t starttime;
    bool child;                 /* Ours to reap. */
};

struct ovs {
    char *run_dir;
    char **env;                 /* Our environment with OVS_*DIR pointing at run_dir. */
    struct ovsdb *db;
    struct manifest *manifest;  /* Not owned; NULL when the daemons are not ours to record. */
    struct ovs_daemon server, vswitchd;
    uint64_t start_ns;
    double ready_ms;
    double bridge_ready_ms;
    struct ovs_openflow {       /* Persistent OpenFlow connections, one per bridge used. */
        char *bridge;
        struct of_conn *conn;
    } *ofs;
    size_t n_ofs;
};

/* The files a running instance makes in its run directory, besides BRIDGE.mgmt/.snoop. */
static const char *const run_files[] = {
    "conf.db", ".conf.db.~lock~", "db.sock", "ovsdb-server.ctl", "ovs-vswitchd.ctl",
    "ovsdb-server.pid", "ovs-vswitchd.pid",
};
static const char *const log_files[] = { "ovsdb-server.log", "ovs-vswitchd.log" };

static char *
run_path(const struct ovs *ovs, const char *name)
{
    return xasprintf("%s/%s", ovs->run_dir, name);
}

static void
free_strv(char **v)
{
    if (v) {
        for (char **p = v; *p; p++) {
            free(*p);
        }
        free(v);
    }
}

static char **
make_env(const char *run_dir)
{
    static const char *const vars[] = { "OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR",
                                        "OVS_SYSCONFDIR" };
    size_t n = 0, i = 0;
    char **env;

    while (environ && environ[n]) {
        n++;
    }
    env = xcalloc(n + ARRAY_SIZE(vars) + 1, sizeof *env);
    for (size_t j = 0; j < n; j++) {
        if (strncmp(environ[j], "OVS_", 4)) {
            env[i++] = xstrdup(environ[j]);
        }
    }
    for (size_t j = 0; j < ARRAY_SIZE(vars); j++) {
        env[i++] = xasprintf("%s=%s", vars[j], run_dir);
    }
    env[i] = NULL;
    return env;
}

/* Daemons live in /usr/sbin, which a user's PATH may lack. */
static char *
find_program(const char *name)
{
    const char *path = getenv("PATH");
    char *dirs = xasprintf("%s:/usr/sbin:/usr/bin:/sbin:/bin", path ? path : "");
    char *result = NULL;
    char *save = NULL;

    for (char *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char *candidate = xasprintf("%s/%s", dir, name);
        if (*dir == '/' && !access(candidate, X_OK)) {
            result = candidate;
            break;
        }
        free(candidate);
    }
    free(dirs);
    return result;
}

/* Runs a short-lived tool (ovs-ofctl, ovs-appctl, ovsdb-tool) with 'input' on its stdin and
 * its stdout and stderr collected in *outputp (if nonnull). Fails with EIO if it exits
 * nonzero, logging what it said. Bounded by OVS_TOOL_TIMEOUT_MS. */
static int
run_tool(const struct ovs *ovs, char *const argv[], const char *input, char **outputp)
{
    uint64_t deadline = time_mono_ns() + (uint64_t) OVS_TOOL_TIMEOUT_MS * 1000000;
    char *program = find_program(argv[0]);
    size_t in_len = input ? strlen(input) : 0, in_ofs = 0;
    struct buf out = BUF_INITIALIZER;
    int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 };
    pid_t pid = -1;
    int status = 0;
    int error = 0;

    if (!program) {
        log_err("ovs: %s: not found (is openvswitch-switch installed?)", argv[0]);
        error = ENOENT;
        goto out;
    }
    if (pipe2(in_pipe, O_CLOEXEC) || pipe2(out_pipe, O_CLOEXEC)) {
        error = errno;
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        error = errno;
        goto out;
    }
    if (!pid) {
        dup2(in_pipe[0], 0);
        dup2(out_pipe[1], 1);
        dup2(out_pipe[1], 2);
        execve(program, argv, ovs->env);
        _exit(127);
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    in_pipe[0] = out_pipe[1] = -1;
    if (!in_len) {
        close(in_pipe[1]);
        in_pipe[1] = -1;
    } else {
        fcntl(in_pipe[1], F_SETFL, O_NONBLOCK);
    }

    /* Feed stdin and drain stdout together: a tool that reports an error per line while we
     * still write would otherwise deadlock us both on full pipes. */
    while (out_pipe[0] >= 0) {
        struct pollfd pfds[2] = { { out_pipe[0], POLLIN, 0 }, { in_pipe[1], POLLOUT, 0 } };
        uint64_t now = time_mono_ns();
        int n;

        if (now >= deadline) {
            log_err("ovs: %s did not finish within %d ms", argv[0], OVS_TOOL_TIMEOUT_MS);
            kill(pid, SIGKILL);
            error = ETIMEDOUT;
            break;
        }
        n = poll(pfds, in_pipe[1] >= 0 ? 2 : 1, (int) ((deadline - now) / 1000000) + 1);
        if (n < 0 && errno != EINTR) {
            error = errno;
            kill(pid, SIGKILL);
            break;
        }
        if (n > 0 && pfds[0].revents) {
            ssize_t got;

            buf_reserve(&out, 4096);
            got = read(out_pipe[0], out.data + out.len, out.cap - out.len);
            if (got > 0) {
                out.len += got;
            } else if (!got || (errno != EINTR && errno != EAGAIN)) {
                close(out_pipe[0]);
                out_pipe[0] = -1;
            }
        }
        if (n > 0 && in_pipe[1] >= 0 && pfds[1].revents) {
            ssize_t put = write(in_pipe[1], input + in_ofs, in_len - in_ofs);

            if (put > 0) {
                in_ofs += put;
            }
            if ((put < 0 && errno != EINTR && errno != EAGAIN) || in_ofs == in_len) {
                close(in_pipe[1]);
                in_pipe[1] = -1;
            }
        }
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        continue;
    }
    while (out.len && (out.data[out.len - 1] == '\n' || out.data[out.len - 1] == ' ')) {
        out.len--;
    }
    buf_put_u8(&out, 0);
    out.len--;
    if (!error && (!WIFEXITED(status) || WEXITSTATUS(status))) {
        log_err("ovs: %s failed: %s", argv[0], out.len ? (char *) out.data : "(no output)");
        error = EIO;
    }
    if (!error && outputp) {
        *outputp = (char *) buf_steal(&out, NULL);
    }
out:
    for (int i = 0; i < 2; i++) {
        if (in_pipe[i] >= 0) {
            close(in_pipe[i]);
        }
        if (out_pipe[i] >= 0) {
            close(out_pipe[i]);
        }
    }
    buf_uninit(&out);
    free(program);
    return error;
}

struct daemon_exec {
    const char *program;
    char **argv;
    char **env;
    const char *dir;            /* Working directory: the run directory. */
    int netns_fd;               /* -1: stay in ours. */
    int log_fd;
};

/* Runs in the child, before exec: only async-signal-safe calls. */
static int
daemon_child(void *aux)
{
    const struct daemon_exec *de = aux;
    int null_fd;

    if (de->netns_fd >= 0 && setns(de->netns_fd, CLONE_NEWNET)) {
        return 126;
    }
    /* Its own session: Ctrl-C in our terminal and the end of `sfclab up` leave it running.
     * Its own directory: it must not pin the caller's (a checkout, a mount) for its life. */
    setsid();
    if (chdir(de->dir)) {
        return 126;
    }
    null_fd = open("/dev/null", O_RDWR);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(de->log_fd, 1) < 0
        || dup2(de->log_fd, 2) < 0) {
        return 126;
    }
    close_range(3, ~0U, 0);
    execve(de->program, de->argv, de->env);
    return 127;
}

static int
spawn_daemon(struct ovs *ovs, struct ovs_daemon *d, char **argv, int netns_fd)
{
    struct daemon_exec de = { .argv = argv, .env = ovs->env, .dir = ovs->run_dir,
                              .netns_fd = netns_fd };
    char *log_name = xasprintf("%s.log", d->name);
    char *log_path = run_path(ovs, log_name);
    char *program = find_program(d->name);
    pid_t pid = 0;
    int error = 0;

    de.log_fd = -1;
    if (!program) {
        log_err("ovs: %s: not found (is openvswitch-switch installed?)", d->name);
        error = ENOENT;
        goto out;
    }
    de.program = program;
    /* Messages from before the daemon opens its log (bad arguments, exec failure) land in the
     * same file; both append, so neither clobbers the other. */
    de.log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (de.log_fd < 0) {
        error = errno;
        log_err("ovs: %s: %s", log_path, strerror(error));
        goto out;
    }
    if (ovs->manifest) {
        error = manifest_spawn(ovs->manifest, "process", d->name, 0, daemon_child, &de, &pid);
    } else {
        pid = fork();
        if (pid < 0) {
            error = errno;
        } else if (!pid) {
            _exit(daemon_child(&de));
        }
    }
    if (error) {
        log_err("ovs: cannot start %s: %s", d->name, strerror(error));
        goto out;
    }
    d->pid = pid;
    d->starttime = proc_starttime(pid);
    d->child = true;
out:
    if (de.log_fd >= 0) {
        close(de.log_fd);
    }
    free(program);
    free(log_path);
    free(log_name);
    return error;
}

/* True while the daemon runs (a zombie does not). */
static bool
daemon_alive(struct ovs_daemon *d)
{
    char path[64], *stat = NULL, *p;
    bool alive;

    if (d->pid <= 0) {
        return false;
    }
    if (d->child && waitpid(d->pid, NULL, WNOHANG) == d->pid) {
        d->child = false;
        d->pid = 0;
        return false;
    }
    if (!proc_is(d->pid, d->starttime)) {
        return false;
    }
    snprintf(path, sizeof path, "/proc/%d/stat", (int) d->pid);
    if (read_file(path, &stat, NULL)) {
        return false;
    }
    p = strrchr(stat, ')');
    alive = !(p && p[1] == ' ' && p[2] == 'Z');
    free(stat);
    return alive;
}

static bool
wait_daemon_gone(struct ovs_daemon *d, int timeout_ms)
{
    uint64_t deadline = time_mono_ns() + (uint64_t) timeout_ms * 1000000;

    while (daemon_alive(d)) {
        if (time_mono_ns() >= deadline) {
            return false;
        }
        usleep(OVS_POLL_US);
    }
    return true;
}

/* Asks a daemon to exit through its control socket; signals it (the pid we verified, never a
 * name) if it does not go. */
static int
stop_daemon(struct ovs *ovs, struct ovs_daemon *d, bool cleanup)
{
    char *ctl_name = xasprintf("%s.ctl", d->name);
    char *ctl = run_path(ovs, ctl_name);
    char *argv[] = { "ovs-appctl", "-T", "10", "-t", ctl, "exit", cleanup ? "--cleanup" : NULL,
                     NULL };
    int error = 0;

    if (!daemon_alive(d)) {
        /* No pid file (deleted, or a start that failed half way) but a control socket: it
         * may still run, and asking it to exit is safe where signalling a guess is not. */
        if (!d->pid && !access(ctl, F_OK) && run_tool(ovs, argv, NULL, NULL)) {
            log_debug("ovs: %s without a pid did not take 'exit'", d->name);
        }
        goto out;
    }
    if (run_tool(ovs, argv, NULL, NULL)) {
        log_warn("ovs: %s did not take 'exit'; signalling pid %d", d->name, (int) d->pid);
    }
    if (wait_daemon_gone(d, OVS_EXIT_TIMEOUT_MS)) {
        goto out;
    }
    kill(d->pid, SIGTERM);
    if (wait_daemon_gone(d, 1000)) {
        goto out;
    }
    kill(d->pid, SIGKILL);
    if (!wait_daemon_gone(d, 2000)) {
        log_err("ovs: %s (pid %d) survives SIGKILL", d->name, (int) d->pid);
        error = EBUSY;
    }
out:
    free(ctl);
    free(ctl_name);
    return error;
}

static struct ovs *
ovs_new(const char *run_dir)
{
    struct ovs *ovs = xzalloc(sizeof *ovs);

    ovs->run_dir = xstrdup(run_dir);
    ovs->env = make_env(run_dir);
    ovs->server.name = "ovsdb-server";
    ovs->vswitchd.name = "ovs-vswitchd";
    ovs->ready_ms = -1;
    ovs->bridge_ready_ms = -1;
    return ovs;
}

static void
ovs_free(struct ovs *ovs)
{
    if (ovs) {
        for (size_t i = 0; i < ovs->n_ofs; i++) {
            of_conn_close(ovs->ofs[i].conn);
            free(ovs->ofs[i].bridge);
        }
        free(ovs->ofs);
        ovsdb_close(ovs->db);
        free_strv(ovs->env);
        free(ovs->run_dir);
        free(ovs);
    }
}

/* Connects to db.sock while watching ovsdb-server: one that dies at once (bad database,
 * socket in use) fails now with its log, not after the whole timeout. */
static int
connect_db(struct ovs *ovs, int timeout_ms)
{
    uint64_t deadline = time_mono_ns() + (uint64_t) timeout_ms * 1000000;
    char *sock = run_path(ovs, "db.sock");
    int error;

    for (;;) {
        error = ovsdb_connect(sock, 50, &ovs->db);
        if (!error || (error != ENOENT && error != ECONNREFUSED)) {
            break;
        }
        if (ovs->server.child && !daemon_alive(&ovs->server)) {
            log_err("ovs: ovsdb-server exited at startup; see %s/ovsdb-server.log",
                    ovs->run_dir);
            error = ECHILD;
            break;
        }
        if (time_mono_ns() >= deadline) {
            error = ETIMEDOUT;
            break;
        }
    }
    if (error && error != ECHILD) {
        log_err("ovs: cannot connect to %s: %s", sock, strerror(error));
    }
    free(sock);
    return error;
}

static int
transact(struct ovs *ovs, const struct ovsdb_ops *ops, json_t **resultp)
{
    int error = ovsdb_transact(ovs->db, ops, resultp);
    if (error) {
        log_err("ovs: %s", ovsdb_error(ovs->db));
    }
    return error;
}

/* What `ovs-vsctl --no-wait init` does: make sure the one Open_vSwitch row exists. */
static int
init_db(struct ovs *ovs)
{
    struct ovsdb_ops ops;
    json_t *result = NULL;
    json_t *rows;
    int error;

    ovsdb_ops_init(&ops, OVS_DB_NAME);
    ovsdb_ops_add(&ops, ovsdb_op_select("Open_vSwitch", NULL, json_pack("[s]", "_uuid")),
                  OVSDB_ANY_COUNT);
    error = transact(ovs, &ops, &result);
    if (error) {
        goto out;
    }
    rows = ovsdb_result_rows(result, 0);
    if (rows && json_array_size(rows)) {
        goto out;
    }
    ovsdb_ops_uninit(&ops);
    ovsdb_ops_init(&ops, OVS_DB_NAME);
    ovsdb_ops_add(&ops, ovsdb_op_insert("Open_vSwitch", NULL, NULL), OVSDB_ANY_COUNT);
    error = transact(ovs, &ops, NULL);
out:
    json_decref(result);
    ovsdb_ops_uninit(&ops);
    return error;
}

/* Appends the ops that make vswitchd acknowledge this transaction (as ovs-vsctl does): bump
 * next_cfg and read back its new value. Returns the index of the select. */
static size_t
add_cfg_bump(struct ovsdb_ops *ops)
{
    ovsdb_ops_add(ops, ovsdb_op_mutate("Open_vSwitch", NULL,
                                       json_pack("[o]", ovsdb_mutation("next_cfg", "+=",
                                                                       json_integer(1)))),
                  1);
    return ovsdb_ops_add(ops, ovsdb_op_select("Open_vSwitch", NULL,
                                              json_pack("[s]", "next_cfg")),
                         OVSDB_ANY_COUNT);
}

/* Waits until vswitchd reports cur_cfg >= 'next_cfg': it has applied that configuration. */
static int
wait_applied(struct ovs *ovs, long long next_cfg, int timeout_ms)
{
    uint64_t deadline = time_mono_ns() + (uint64_t) timeout_ms * 1000000;
    struct ovsdb_ops ops;
    int error;

    ovsdb_ops_init(&ops, OVS_DB_NAME);
    ovsdb_ops_add(&ops, ovsdb_op_select("Open_vSwitch", NULL, json_pack("[s]", "cur_cfg")),
                  OVSDB_ANY_COUNT);
    for (;;) {
        json_t *result = NULL;
        long long cur = 0;
        bool done;

        error = transact(ovs, &ops, &result);
        if (error) {
            break;
        }
        done = ovsdb_column_int(json_array_get(ovsdb_result_rows(result, 0), 0), "cur_cfg",
                                &cur) && cur >= next_cfg;
        json_decref(result);
        if (done) {
            break;
        }
        if (ovs->vswitchd.child && !daemon_alive(&ovs->vswitchd)) {
            log_err("ovs: ovs-vswitchd exited; see %s/ovs-vswitchd.log", ovs->run_dir);
            error = ECHILD;
            break;
        }
        if (time_mono_ns() >= deadline) {
            log_err("ovs: ovs-vswitchd did not apply configuration %lld within %d ms "
                    "(it is at %lld); see %s/ovs-vswitchd.log",
                    next_cfg, timeout_ms, cur, ovs->run_dir);
            error = ETIMEDOUT;
            break;
        }
        usleep(OVS_POLL_US);
    }
    ovsdb_ops_uninit(&ops);
    return error;
}

static int
bump_and_wait(struct ovs *ovs, int timeout_ms)
{
    struct ovsdb_ops ops;
    json_t *result = NULL;
    long long next_cfg = 0;
    size_t select;
    int error;

    ovsdb_ops_init(&ops, OVS_DB_NAME);
    select = add_cfg_bump(&ops);
    error = transact(ovs, &ops, &result);
    if (!error) {
        ovsdb_column_int(json_array_get(ovsdb_result_rows(result, select), 0), "next_cfg",
                         &next_cfg);
        error = wait_applied(ovs, next_cfg, timeout_ms);
    }
    json_decref(result);
    ovsdb_ops_uninit(&ops);
    return error;
}

static int
record_run_files(struct ovs *ovs)
{
    int error = 0;

    for (size_t i = 0; !error && i < ARRAY_SIZE(run_files); i++) {
        char *path = run_path(ovs, run_files[i]);
        error = manifest_record_file(ovs->manifest, path);
        free(path);
    }
    for (size_t i = 0; !error && i < ARRAY_SIZE(log_files); i++) {
        char *path = run_path(ovs, log_files[i]);
        error = manifest_record_file(ovs->manifest, path);
        free(path);
    }
    if (error) {
        log_err("ovs: cannot record files in the manifest: %s", strerror(error));
    }
    return error;
}

/* Unix socket paths are limited to 108 bytes; a deep run directory would fail later with a
 * confusing bind error, so say it now. */
static bool
sock_path_fits(const char *run_dir, const char *name)
{
    return strlen(run_dir) + 1 + strlen(name) < sizeof ((struct sockaddr_un *) 0)->sun_path;
}

int
ovs_start(const char *run_dir, const char *netns_path, struct manifest *manifest,
          struct ovs **ovsp)
{
    uint64_t start_ns = time_mono_ns();
    struct ovs *ovs = NULL;
    char *db_path = NULL, *remote = NULL, *unixctl_server = NULL, *unixctl_switch = NULL;
    char *log_server = NULL, *log_switch = NULL, *pid_server = NULL, *pid_switch = NULL;
    char *db_remote = NULL;
    int netns_fd = -1;
    int error;

    if (run_dir[0] != '/' || !sock_path_fits(run_dir, "ovs-vswitchd.ctl")) {
        log_err("ovs: run directory must be an absolute path of at most %zu bytes: %s",
                sizeof ((struct sockaddr_un *) 0)->sun_path - 20, run_dir);
        return EINVAL;
    }
    ovs = ovs_new(run_dir);
    ovs->manifest = manifest;
    ovs->start_ns = start_ns;

    /* A directory the caller made is the caller's to remove. */
    if (manifest && access(run_dir, F_OK)) {
        error = manifest_record_dir(manifest, run_dir);
        if (error) {
            log_err("ovs: cannot record %s: %s", run_dir, strerror(error));
            goto out;
        }
    }
    if (mkdir(run_dir, 0755) && errno != EEXIST) {
        error = errno;
        log_err("ovs: mkdir %s: %s", run_dir, strerror(error));
        goto out;
    }
    db_path = run_path(ovs, "conf.db");
    if (!access(db_path, F_OK)) {
        log_err("ovs: %s already holds an instance (conf.db exists); stop it or run "
                "`sfclab clean`", run_dir);
        error = EEXIST;
        goto out;
    }
    if (netns_path) {
        netns_fd = open(netns_path, O_RDONLY | O_CLOEXEC);
        if (netns_fd < 0) {
            error = errno;
            log_err("ovs: network namespace %s: %s", netns_path, strerror(error));
            goto out;
        }
    }
    if (manifest) {
        error = record_run_files(ovs);
        if (error) {
            goto out;
        }
    }

    {
        char *argv[] = { "ovsdb-tool", "create", db_path, OVS_SCHEMA, NULL };
        error = run_tool(ovs, argv, NULL, NULL);
        if (error) {
            goto out;
        }
    }

    remote = xasprintf("--remote=punix:%s/db.sock", run_dir);
    unixctl_server = xasprintf("--unixctl=%s/ovsdb-server.ctl", run_dir);
    log_server = xasprintf("--log-file=%s/ovsdb-server.log", run_dir);
    pid_server = xasprintf("--pidfile=%s/ovsdb-server.pid", run_dir);
    {
        char *argv[] = { "ovsdb-server", db_path, remote, unixctl_server, log_server,
                         pid_server, "-vconsole:off", NULL };
        error = spawn_daemon(ovs, &ovs->server, argv, netns_fd);
        if (error) {
            goto out;
        }
    }
    error = connect_db(ovs, OVS_START_TIMEOUT_MS);
    if (error) {
        goto out;
    }
    error = init_db(ovs);
    if (error) {
        goto out;
    }

    db_remote = xasprintf("unix:%s/db.sock", run_dir);
    unixctl_switch = xasprintf("--unixctl=%s/ovs-vswitchd.ctl", run_dir);
    log_switch = xasprintf("--log-file=%s/ovs-vswitchd.log", run_dir);
    pid_switch = xasprintf("--pidfile=%s/ovs-vswitchd.pid", run_dir);
    {
        /* --disable-system: no kernel datapath to probe (the module is not loadable here, and
         * a system one would not be ours). */
        char *argv[] = { "ovs-vswitchd", db_remote, unixctl_switch, log_switch, pid_switch,
                         "--disable-system", "-vconsole:off", NULL };
        error = spawn_daemon(ovs, &ovs->vswitchd, argv, netns_fd);
        if (error) {
            goto out;
        }
    }
    error = bump_and_wait(ovs, OVS_START_TIMEOUT_MS);
    if (error) {
        goto out;
    }
    ovs->ready_ms = (time_mono_ns() - start_ns) / 1e6;
    log_debug("ovs: %s ready in %.1f ms", run_dir, ovs->ready_ms);
out:
    if (error && ovs) {
        /* Leave nothing running behind a failed start. */
        ovsdb_close(ovs->db);
        ovs->db = NULL;
        stop_daemon(ovs, &ovs->vswitchd, true);
        stop_daemon(ovs, &ovs->server, false);
        ovs_free(ovs);
    } else {
        *ovsp = ovs;
    }
    if (netns_fd >= 0) {
        close(netns_fd);
    }
    free(db_path);
    free(remote);
    free(unixctl_server);
    free(log_server);
    free(pid_server);
    free(db_remote);
    free(unixctl_switch);
    free(log_switch);
    free(pid_switch);
    return error;
}

/* Finds a daemon of another process's instance by its pid file, and makes sure the pid is that
 * daemon (pids are recycled): its command name must match. */
static void
find_daemon(struct ovs *ovs, struct ovs_daemon *d)
{
    char *name = xasprintf("%s.pid", d->name);
    char *path = run_path(ovs, name);
    char *text = NULL, *comm = NULL;
    char comm_path[64];
    long pid;

    if (read_file(path, &text, NULL)) {
        goto out;
    }
    pid = strtol(text, NULL, 10);
    if (pid <= 0 || pid > INT_MAX) {
        goto out;
    }
    snprintf(comm_path, sizeof comm_path, "/proc/%ld/comm", pid);
    /* comm is cut at 15 characters: "ovsdb-server" and "ovs-vswitchd" both fit. */
    if (read_file(comm_path, &comm, NULL) || strncmp(comm, d->name, strlen(d->name))) {
        goto out;
    }
    d->pid = pid;
    d->starttime = proc_starttime(pid);
    d->child = false;
out:
    free(comm);
    free(text);
    free(path);
    free(name);
}

int
ovs_open(const char *run_dir, struct ovs **ovsp)
{
    struct ovs *ovs = ovs_new(run_dir);
    int error;

    find_daemon(ovs, &ovs->server);
    find_daemon(ovs, &ovs->vswitchd);
    error = connect_db(ovs, 1000);
    if (error) {
        ovs_free(ovs);
        return error;
    }
    *ovsp = ovs;
    return 0;
}

/* Closing a packet (or AF_XDP) socket waits for an RCU grace period (synchronize_net() in
 * packet_release()), and a dying process closes its sockets one after another: vswitchd's 81
 * sockets on star32 kept it dying for 0.6-0.9 s here. So its sockets are taken over first
 * (pidfd_getfd(2)): killed, it only drops its references, and the last ones, ours, are closed
 * from threads side by side, whose grace periods overlap. */
#define STEAL_THREADS 16

struct stolen_fds {
    int *fds;
    size_t n;
    size_t next;                /* Shared by the closing threads. */
    pthread_mutex_t mutex;
};

static int
steal_sockets(pid_t pid, struct stolen_fds *st)
{
    char dir[64], path[320], target[64];
    int pidfd, max;
    struct dirent *de;
    struct rlimit rl;
    DIR *d;

    pidfd = syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        return errno;
    }
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int) pid);
    d = opendir(dir);
    if (!d) {
        int error = errno;
        close(pidfd);
        return error;
    }
    /* Leave room for what we open ourselves; sockets beyond it just close the slow way. */
    max = getrlimit(RLIMIT_NOFILE, &rl) ? 256 : (int) MIN(rl.rlim_cur, 65536) - 64;
    while ((de = readdir(d)) && (int) st->n < max) {
        ssize_t n;
        int fd;

        if (de->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        n = readlink(path, target, sizeof target - 1);
        if (n <= 0 || strncmp(target, "socket:", 7)) {
            continue;
        }
        fd = syscall(SYS_pidfd_getfd, pidfd, atoi(de->d_name), 0);
        if (fd >= 0) {
            st->fds = xrealloc(st->fds, (st->n + 1) * sizeof *st->fds);
            st->fds[st->n++] = fd;
        }
    }
    closedir(d);
    close(pidfd);
    return 0;
}

static void *
close_stolen(void *st_)
{
    struct stolen_fds *st = st_;

    for (;;) {
        int fd = -1;

        pthread_mutex_lock(&st->mutex);
        if (st->next < st->n) {
            fd = st->fds[st->next++];
        }
        pthread_mutex_unlock(&st->mutex);
        if (fd < 0) {
            return NULL;
        }
        close(fd);
    }
}

/* vswitchd killed outright: its userspace datapath holds nothing the kernel keeps, and the
 * devices it opened go with the instance's namespace. */
static int
kill_daemon(struct ovs_daemon *d)
{
    struct stolen_fds st = { .fds = NULL, .mutex = PTHREAD_MUTEX_INITIALIZER };
    pthread_t threads[STEAL_THREADS];
    size_t n_threads = 0;
    int error = 0;

    if (!daemon_alive(d)) {
        return 0;
    }
    if (steal_sockets(d->pid, &st)) {
        log_debug("ovs: cannot take over %s's sockets; it closes them itself", d->name);
    }
    kill(d->pid, SIGKILL);
    if (!wait_daemon_gone(d, 2000)) {
        log_err("ovs: %s (pid %d) survives SIGKILL", d->name, (int) d->pid);
        error = EBUSY;
    }
    while (n_threads < STEAL_THREADS && n_threads * 4 < st.n
           && !pthread_create(&threads[n_threads], NULL, close_stolen, &st)) {
        n_threads++;
    }
    close_stolen(&st);
    for (size_t i = 0; i < n_threads; i++) {
        pthread_join(threads[i], NULL);
    }
    free(st.fds);
    return error;
}

static int
stop_both(struct ovs *ovs, bool now)
{
    int error, error2;

    if (!ovs) {
        return 0;
    }
    /* Our connection would otherwise keep ovsdb-server busy answering a dead peer. */
    ovsdb_close(ovs->db);
    ovs->db = NULL;
    uint64_t t0 = time_mono_ns();
    error = now ? kill_daemon(&ovs->vswitchd) : stop_daemon(ovs, &ovs->vswitchd, true);
    log_debug("ovs: vswitchd gone in %.1f ms", (time_mono_ns() - t0) / 1e6);
    /* Its database is deleted next: nothing in it is worth an orderly exit. */
    error2 = now ? kill_daemon(&ovs->server) : stop_daemon(ovs, &ovs->server, false);
    error = error ? error : error2;
    if (!error) {
        for (size_t i = 0; i < ARRAY_SIZE(run_files); i++) {
            char *path = run_path(ovs, run_files[i]);
            unlink(path);
            free(path);
        }
    }
    ovs_free(ovs);
    return error;
}

int
ovs_stop(struct ovs *ovs)
{
    return stop_both(ovs, false);
}

int
ovs_stop_now(struct ovs *ovs)
{
    return stop_both(ovs, true);
}

void
ovs_close(struct ovs *ovs)
{
    ovs_free(ovs);
}

int
ovs_set_other_config(struct ovs *ovs, const char *key, const char *value)
{
    struct ovsdb_ops ops;
    json_t *result = NULL;
    int error;

    ovsdb_ops_init(&ops, OVS_DB_NAME);
    ovsdb_ops_add(&ops, ovsdb_op_mutate(
                      "Open_vSwitch", json_array(),
                      json_pack("[o, o]",
                                ovsdb_mutation("other_config", "delete",
                                               ovsdb_set1(json_string(key))),
                                ovsdb_mutation("other_config", "insert",
                                               ovsdb_map(json_pack("[[s, s]]", key, value))))),
                  1);
    error = ovsdb_transact(ovs->db, &ops, &result);
    if (error) {
        log_err("ovs: cannot set other_config:%s=%s (%s)", key, value, ovsdb_error(ovs->db));
    }
    json_decref(result);
    ovsdb_ops_uninit(&ops);
    return error;
}

void
ovs_daemon_pids(const struct ovs *ovs, pid_t pids[2])
{
    pids[0] = ovs->server.pid > 0 ? ovs->server.pid : 0;
    pids[1] = ovs->vswitchd.pid > 0 ? ovs->vswitchd.pid : 0;
}

const char *
ovs_run_dir(const struct ovs *ovs)
{
    return ovs->run_dir;
}

struct ovsdb *
ovs_db(struct ovs *ovs)
{
    return ovs->db;
}

double
ovs_ready_ms(const struct ovs *ovs)
{
    return ovs->ready_ms;
}

double
ovs_bridge_ready_ms(const struct ovs *ovs)
{
    return ovs->bridge_ready_ms;
}

/* Transactions. */

struct ovs_del {
    char *bridge;
    char *port;                 /* NULL: delete the bridge. */
};

struct ovs_txn {
    struct ovs *ovs;
    struct ovsdb_ops ops;       /* Additions, in the order asked. */
    struct ovs_del *dels;
    size_t n_dels, cap_dels;
    char **new_bridges;
    size_t n_new_bridges, cap_new_bridges;
    int n_names;                /* For unique uuid-names. */
    int n_afxdp;                /* AF_XDP ports added: slow to apply (OVS_AFXDP_PORT_MS). */
    int error;                  /* First problem found while building. */
    char *error_msg;
};

struct ovs_txn *
ovs_txn_create(struct ovs *ovs)
{
    struct ovs_txn *txn = xzalloc(sizeof *txn);

    txn->ovs = ovs;
    ovsdb_ops_init(&txn->ops, OVS_DB_NAME);
    return txn;
}

void
ovs_txn_abort(struct ovs_txn *txn)
{
    if (!txn) {
        return;
    }
    ovsdb_ops_uninit(&txn->ops);
    for (size_t i = 0; i < txn->n_dels; i++) {
        free(txn->dels[i].bridge);
        free(txn->dels[i].port);
    }
    free(txn->dels);
    for (size_t i = 0; i < txn->n_new_bridges; i++) {
        free(txn->new_bridges[i]);
    }
    free(txn->new_bridges);
    free(txn->error_msg);
    free(txn);
}

static void PRINTF_FORMAT(3, 4)
txn_fail(struct ovs_txn *txn, int error, const char *fmt, ...)
{
    va_list args;

    if (txn->error) {
        return;
    }
    txn->error = error;
    va_start(args, fmt);
    txn->error_msg = xvasprintf(fmt, args);
    va_end(args);
}

/* Device names become kernel interfaces (the bridge's own port is a tap device). */
static bool
valid_ifname(const char *name)
{
    size_t len = strlen(name);

    if (!len || len >= 16 || !strcmp(name, ".") || !strcmp(name, "..")) {
        return false;
    }
    for (const char *p = name; *p; p++) {
        if (*p == '/' || *p == ':' || *p <= ' ' || *p == 127) {
            return false;
        }
    }
    return true;
}

static char *
txn_name(struct ovs_txn *txn, const char *kind)
{
    return xasprintf("%s%d", kind, txn->n_names++);
}

/* Port + Interface rows named 'name', and the mutation adding the port to 'bridge' unless the
 * caller inserts the port itself (the bridge's own). Returns the Port's uuid-name. */
static char *
txn_insert_port(struct ovs_txn *txn, const char *name, const char *type, int ofport_request,
                json_t *options)
{
    char *iface_id = txn_name(txn, "iface");
    char *port_id = txn_name(txn, "port");
    json_t *iface = json_pack("{ssss}", "name", name, "type", type);

    if (ofport_request > 0) {
        json_object_set_new(iface, "ofport_request", json_integer(ofport_request));
    }
    if (options) {
        json_object_set_new(iface, "options", options);
    }
    ovsdb_ops_add(&txn->ops, ovsdb_op_insert("Interface", iface, iface_id), OVSDB_ANY_COUNT);
    ovsdb_ops_add(&txn->ops,
                  ovsdb_op_insert("Port", json_pack("{ssso}", "name", name, "interfaces",
                                                    ovsdb_named_uuid(iface_id)),
                                  port_id),
                  OVSDB_ANY_COUNT);
    free(iface_id);
    return port_id;
}

void
ovs_txn_add_bridge(struct ovs_txn *txn, const char *bridge, enum ovs_fail_mode fail_mode)
{
    char *mgmt = xasprintf("%s.mgmt", bridge);
    char *port_id, *br_id;
    json_t *row;

    if (!valid_ifname(bridge)) {
        txn_fail(txn, EINVAL, "bad bridge name '%s' (1 to 15 characters, no '/', ':' or "
                 "spaces)", bridge);
        goto out;
    }
    if (!sock_path_fits(txn->ovs->run_dir, mgmt)) {
        txn_fail(txn, ENAMETOOLONG, "%s/%s is too long for a unix socket",
                 txn->ovs->run_dir, mgmt);
        goto out;
    }
    port_id = txn_insert_port(txn, bridge, "internal", 0, NULL);
    br_id = txn_name(txn, "bridge");
    row = json_pack("{sssssossso}", "name", bridge, "datapath_type", "netdev",
                    "protocols", ovsdb_set1(json_string("OpenFlow13")),
                    "fail_mode", fail_mode == OVS_FAIL_SECURE ? "secure" : "standalone",
                    "ports", ovsdb_set1(ovsdb_named_uuid(port_id)));
    ovsdb_ops_add(&txn->ops, ovsdb_op_insert("Bridge", row, br_id), OVSDB_ANY_COUNT);
    ovsdb_ops_add(&txn->ops,
                  ovsdb_op_mutate("Open_vSwitch", NULL,
                                  json_pack("[o]", ovsdb_mutation("bridges", "insert",
                                                                  ovsdb_set1(ovsdb_named_uuid(br_id))))),
                  1);
    if (txn->n_new_bridges == txn->cap_new_bridges) {
        txn->new_bridges = x2nrealloc(txn->new_bridges, &txn->cap_new_bridges,
                                      sizeof *txn->new_bridges);
    }
    txn->new_bridges[txn->n_new_bridges++] = xstrdup(bridge);
    free(port_id);
    free(br_id);
out:
    free(mgmt);
}

/* "k=v,k=v" -> ["map", [["k","v"], ...]]. */
static json_t *
parse_options(struct ovs_txn *txn, const char *options)
{
    char *copy = xstrdup(options);
    json_t *pairs = json_array();
    char *save = NULL;

    for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');

        if (!eq || eq == kv) {
            txn_fail(txn, EINVAL, "bad interface option '%s' (expected key=value)", kv);
            break;
        }
        *eq = '\0';
        json_array_append_new(pairs, json_pack("[ss]", kv, eq + 1));
    }
    free(copy);
    return ovsdb_map(pairs);
}

void
ovs_txn_add_port_ext(struct ovs_txn *txn, const char *bridge, const char *port,
                     const char *type, int ofport_request, const char *options)
{
    json_t *options_j = NULL;
    char *port_id;

    if (!valid_ifname(port)) {
        txn_fail(txn, EINVAL, "bad port name '%s' (1 to 15 characters, no '/', ':' or "
                 "spaces)", port);
        return;
    }
    if (ofport_request < 0 || ofport_request > 65279) {
        txn_fail(txn, EINVAL, "port %s: ofport_request %d out of range 1..65279", port,
                 ofport_request);
        return;
    }
    if (options && *options) {
        options_j = parse_options(txn, options);
    }
    port_id = txn_insert_port(txn, port, type ? type : "", ofport_request, options_j);
    txn->n_afxdp += type && !strcmp(type, "afxdp");
    /* Count 1: the bridge exists (a wrong name would "succeed" with count 0). */
    ovsdb_ops_add(&txn->ops,
                  ovsdb_op_mutate("Bridge", ovsdb_where_eq("name", json_string(bridge)),
                                  json_pack("[o]", ovsdb_mutation("ports", "insert",
                                                                  ovsdb_set1(ovsdb_named_uuid(port_id))))),
                  1);
    free(port_id);
}

void
ovs_txn_add_port(struct ovs_txn *txn, const char *bridge, const char *port, const char *type)
{
    ovs_txn_add_port_ext(txn, bridge, port, type, 0, NULL);
}

static void
txn_add_del(struct ovs_txn *txn, const char *bridge, const char *port)
{
    if (txn->n_dels == txn->cap_dels) {
        txn->dels = x2nrealloc(txn->dels, &txn->cap_dels, sizeof *txn->dels);
    }
    txn->dels[txn->n_dels].bridge = xstrdup(bridge);
    txn->dels[txn->n_dels].port = port ? xstrdup(port) : NULL;
    txn->n_dels++;
}

void
ovs_txn_del_bridge(struct ovs_txn *txn, const char *bridge)
{
    txn_add_del(txn, bridge, NULL);
}

void
ovs_txn_del_port(struct ovs_txn *txn, const char *bridge, const char *port)
{
    txn_add_del(txn, bridge, port);
}

/* Deleting needs the rows' uuids (a Bridge lists its ports by uuid): one select transaction
 * finds them all, then 'ops' gets the mutations that drop them. Ports and interfaces no longer
 * referenced are garbage-collected by the server. */
static int
txn_resolve_dels(struct ovs_txn *txn, struct ovsdb_ops *ops)
{
    struct ovsdb_ops lookup;
    json_t *result = NULL;
    int error;

    ovsdb_ops_init(&lookup, OVS_DB_NAME);
    for (size_t i = 0; i < txn->n_dels; i++) {
        const struct ovs_del *del = &txn->dels[i];

        ovsdb_ops_add(&lookup,
                      ovsdb_op_select(del->port ? "Port" : "Bridge",
                                      ovsdb_where_eq("name", json_string(del->port ? del->port
                                                                           : del->bridge)),
                                      json_pack("[s]", "_uuid")),
                      OVSDB_ANY_COUNT);
    }
    error = transact(txn->ovs, &lookup, &result);
    if (error) {
        goto out;
    }
    for (size_t i = 0; i < txn->n_dels; i++) {
        const struct ovs_del *del = &txn->dels[i];
        json_t *rows = ovsdb_result_rows(result, i);
        const char *uuid = json_array_size(rows) == 1
                           ? ovsdb_column_uuid(json_array_get(rows, 0), "_uuid") : NULL;
        json_t *where;

        if (!uuid) {
            log_err("ovs: cannot delete %s %s: no such %s", del->port ? "port" : "bridge",
                    del->port ? del->port : del->bridge, del->port ? "port" : "bridge");
            error = ENOENT;
            goto out;
        }
        if (del->port) {
            /* Matching on "ports includes" makes a port of another bridge a count-0 error. */
            where = json_pack("[[sss][sso]]", "name", "==", del->bridge,
                              "ports", "includes", ovsdb_set1(ovsdb_uuid(uuid)));
            ovsdb_ops_add(ops, ovsdb_op_mutate("Bridge", where,
                                               json_pack("[o]", ovsdb_mutation("ports", "delete",
                                                                               ovsdb_set1(ovsdb_uuid(uuid))))),
                          1);
        } else {
            ovsdb_ops_add(ops, ovsdb_op_mutate("Open_vSwitch", NULL,
                                               json_pack("[o]", ovsdb_mutation("bridges", "delete",
                                                                               ovsdb_set1(ovsdb_uuid(uuid))))),
                          1);
        }
    }
out:
    json_decref(result);
    ovsdb_ops_uninit(&lookup);
    return error;
}

/* Waits until vswitchd listens on BRIDGE.mgmt, so ovs-ofctl can be used at once. */
static int
wait_bridge_mgmt(struct ovs *ovs, const char *bridge)
{
    uint64_t deadline = time_mono_ns() + (uint64_t) OVS_APPLY_TIMEOUT_MS * 1000000;
    char *name = xasprintf("%s.mgmt", bridge);
    char *path = run_path(ovs, name);
    struct stat st;
    int error = 0;

    while (stat(path, &st) || !S_ISSOCK(st.st_mode)) {
        if (time_mono_ns() >= deadline) {
            log_err("ovs: bridge %s has no OpenFlow socket %s after %d ms", bridge, path,
                    OVS_APPLY_TIMEOUT_MS);
            error = ETIMEDOUT;
            break;
        }
        usleep(OVS_POLL_US);
    }
    free(path);
    free(name);
    return error;
}

int
ovs_txn_commit(struct ovs_txn *txn)
{
    struct ovs *ovs = txn->ovs;
    struct ovsdb_ops ops;
    json_t *result = NULL;
    long long next_cfg = 0;
    size_t select;
    int error;

    ovsdb_ops_init(&ops, OVS_DB_NAME);
    if (txn->error) {
        log_err("ovs: %s", txn->error_msg);
        error = txn->error;
        goto out;
    }
    if (ovs->manifest) {
        for (size_t i = 0; i < txn->n_new_bridges; i++) {
            char *mgmt = xasprintf("%s/%s.mgmt", ovs->run_dir, txn->new_bridges[i]);
            char *snoop = xasprintf("%s/%s.snoop", ovs->run_dir, txn->new_bridges[i]);

            error = manifest_record_file(ovs->manifest, mgmt);
            error = error ? error : manifest_record_file(ovs->manifest, snoop);
            free(mgmt);
            free(snoop);
            if (error) {
                log_err("ovs: cannot record bridge sockets: %s", strerror(error));
                goto out;
            }
        }
    }

    /* Deletions first, so a port can be deleted and re-added under its name in one batch. */
    if (txn->n_dels) {
        error = txn_resolve_dels(txn, &ops);
        if (error) {
            goto out;
        }
    }
    for (size_t i = 0; i < txn->ops.n; i++) {
        ovsdb_ops_add(&ops, json_incref(json_array_get(txn->ops.ops, i)), txn->ops.expect[i]);
    }
    select = add_cfg_bump(&ops);
    error = transact(ovs, &ops, &result);
    if (error) {
        goto out;
    }
    ovsdb_column_int(json_array_get(ovsdb_result_rows(result, select), 0), "next_cfg",
                     &next_cfg);
    error = wait_applied(ovs, next_cfg,
                         OVS_APPLY_TIMEOUT_MS + txn->n_afxdp * OVS_AFXDP_PORT_MS);
    for (size_t i = 0; !error && i < txn->n_new_bridges; i++) {
        error = wait_bridge_mgmt(ovs, txn->new_bridges[i]);
    }
    if (!error && txn->n_new_bridges && ovs->bridge_ready_ms < 0 && ovs->ready_ms >= 0) {
        ovs->bridge_ready_ms = (time_mono_ns() - ovs->start_ns) / 1e6;
    }
out:
    json_decref(result);
    ovsdb_ops_uninit(&ops);
    ovs_txn_abort(txn);
    return error;
}

/* Commits 'ops' with a configuration bump and waits until vswitchd has applied it. */
static int
commit_applied(struct ovs *ovs, struct ovsdb_ops *ops)
{
    size_t select = add_cfg_bump(ops);
    json_t *result = NULL;
    long long next_cfg = 0;
    int error = transact(ovs, ops, &result);

    if (!error) {
        ovsdb_column_int(json_array_get(ovsdb_result_rows(result, select), 0), "next_cfg",
                         &next_cfg);
        error = wait_applied(ovs, next_cfg, OVS_APPLY_TIMEOUT_MS);
    }
    json_decref(result);
    return error;
}

/* The _uuid of the row of 'table' named 'name': 0 and a copy in *uuidp, 0 and NULL if there is
 * none, or the transaction's error. */
static int
find_uuid(struct ovs *ovs, const char *table, const char *name, char **uuidp)
{
    struct ovsdb_ops ops;
    json_t *result = NULL, *rows;
    const char *uuid;
    int error;

    *uuidp = NULL;
    ovsdb_ops_init(&ops, OVS_DB_NAME);
    ovsdb_ops_add(&ops, ovsdb_op_select(table, ovsdb_where_eq("name", json_string(name)),
                                        json_pack("[s]", "_uuid")), OVSDB_ANY_COUNT);
    error = transact(ovs, &ops, &result);
    rows = error ? NULL : ovsdb_result_rows(result, 0);
    uuid = json_array_size(rows) == 1 ? ovsdb_column_uuid(json_array_get(rows, 0), "_uuid")
                                      : NULL;
    if (uuid) {
        *uuidp = xstrdup(uuid);
    }
    json_decref(result);
    ovsdb_ops_uninit(&ops);
    return error;
}

int
ovs_mirror_add(struct ovs *ovs, const char *bridge, const char *mirror,
               const char *const ports[], size_t n_ports, const char *out_port)
{
    json_t *selected = json_array(), *row, *iface;
    struct ovsdb_ops ops;
    int error = 0;

    ovsdb_ops_init(&ops, OVS_DB_NAME);
    if (!valid_ifname(bridge) || !valid_ifname(out_port) || !*mirror) {
        log_err("ovs: bad name for a mirror (%s, %s, %s)", bridge, mirror, out_port);
        error = EINVAL;
        goto out;
    }
    for (size_t i = 0; i < n_ports; i++) {
        char *uuid;
        error = find_uuid(ovs, "Port", ports[i], &uuid);
        if (!error && !uuid) {
            log_err("ovs: cannot mirror port %s: no such port", ports[i]);
            error = ENOENT;
        }
        if (error) {
            goto out;
        }
        json_array_append_new(selected, ovsdb_uuid(uuid));
        free(uuid);
    }
    iface = json_pack("{ssss}", "name", out_port, "type", "internal");
    ovsdb_ops_add(&ops, ovsdb_op_insert("Interface", iface, "iface"), OVSDB_ANY_COUNT);
    ovsdb_ops_add(&ops, ovsdb_op_insert("Port", json_pack("{ssso}", "name", out_port,
                                                          "interfaces",
                                                          ovsdb_named_uuid("iface")),
                                        "port"), OVSDB_ANY_COUNT);
    /* No ports named: everything the bridge carries. */
    row = json_pack("{ssso}", "name", mirror, "output_port", ovsdb_named_uuid("port"));
    if (n_ports) {
        json_object_set_new(row, "select_src_port", ovsdb_set(json_incref(selected)));
        json_object_set_new(row, "select_dst_port", ovsdb_set(json_incref(selected)));
    } else {
        json_object_set_new(row, "select_all", json_true());
    }
    ovsdb_ops_add(&ops, ovsdb_op_insert("Mirror", row, "mirror"), OVSDB_ANY_COUNT);
    ovsdb_ops_add(&ops,
                  ovsdb_op_mutate("Bridge", ovsdb_where_eq("name", json_string(bridge)),
                                  json_pack("[oo]",
                                            ovsdb_mutation("ports", "insert",
                                                           ovsdb_set1(ovsdb_named_uuid("port"))),
                                            ovsdb_mutation("mirrors", "insert",
                                                           ovsdb_set1(ovsdb_named_uuid("mirror"))))),
                  1);
    error = commit_applied(ovs, &ops);
out:
    json_decref(selected);
    ovsdb_ops_uninit(&ops);
    return error;
}

int
ovs_mirror_del(struct ovs *ovs, const char *bridge, const char *mirror, const char *out_port)
{
    char *mirror_uuid = NULL, *port_uuid = NULL;
    struct ovsdb_ops ops;
    int error;

    ovsdb_ops_init(&ops, OVS_DB_NAME);
    error = find_uuid(ovs, "Mirror", mirror, &mirror_uuid);
    if (!error) {
        error = find_uuid(ovs, "Port", out_port, &port_uuid);
    }
    if (error || (!mirror_uuid && !port_uuid)) {
        goto out;                       /* Gone already: nothing to do. */
    }
    /* The rows are garbage-collected once the bridge no longer lists them. */
    if (mirror_uuid) {
        ovsdb_ops_add(&ops, ovsdb_op_mutate("Bridge", ovsdb_where_eq("name", json_string(bridge)),
                                            json_pack("[o]", ovsdb_mutation("mirrors", "delete",
                                                                            ovsdb_set1(ovsdb_uuid(mirror_uuid))))),
                      OVSDB_ANY_COUNT);
    }
    if (port_uuid) {
        ovsdb_ops_add(&ops, ovsdb_op_mutate("Bridge", ovsdb_where_eq("name", json_string(bridge)),
                                            json_pack("[o]", ovsdb_mutation("ports", "delete",
                                                                            ovsdb_set1(ovsdb_uuid(port_uuid))))),
                      OVSDB_ANY_COUNT);
    }
    error = commit_applied(ovs, &ops);
out:
    free(mirror_uuid);
    free(port_uuid);
    ovsdb_ops_uninit(&ops);
    return error;
}

int
ovs_mirror_undo(const char *run_dir, const char *bridge, const char *mirror,
                const char *out_port)
{
    char *sock = xasprintf("%s/db.sock", run_dir);
    struct ovs *ovs;
    int error = 0;

    /* A stopped switch took its mirrors with it: no connection attempt (and its timeout). */
    if (!access(sock, F_OK) && !ovs_open(run_dir, &ovs)) {
        error = ovs_mirror_del(ovs, bridge, mirror, out_port);
        ovs_close(ovs);
    }
    free(sock);
    return error;
}

int
ovs_get_ofports(struct ovs *ovs, const char *const names[], size_t n, int ofports[])
{
    uint64_t deadline = time_mono_ns() + (uint64_t) OVS_OFPORT_TIMEOUT_MS * 1000000;
    int *found = xcalloc(n ? n : 1, sizeof *found);
    struct ovsdb_ops ops;
    int error = 0;

    ovsdb_ops_init(&ops, OVS_DB_NAME);
    for (size_t i = 0; i < n; i++) {
        ovsdb_ops_add(&ops, ovsdb_op_select("Interface",
                                            ovsdb_where_eq("name", json_string(names[i])),
                                            json_pack("[sss]", "name", "ofport", "error")),
                      OVSDB_ANY_COUNT);
    }
    for (;;) {
        json_t *result = NULL;
        const char *pending = NULL, *reason = NULL;
        char *pending_copy = NULL;

        error = transact(ovs, &ops, &result);
        if (error) {
            break;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *rows = ovsdb_result_rows(result, i);
            json_t *row = json_array_get(rows, 0);
            long long ofport;

            if (!json_array_size(rows)) {
                log_err("ovs: no interface named %s", names[i]);
                error = ENOENT;
                break;
            }
            if (ovsdb_column_int(row, "ofport", &ofport) && ofport > 0) {
                found[i] = ofport;
            } else if (!pending) {
                pending = names[i];
                reason = json_string_value(json_object_get(row, "error"));
            }
        }
        if (!error && pending && time_mono_ns() >= deadline) {
            pending_copy = xstrdup(pending);
            log_err("ovs: interface %s has no OpenFlow port after %d ms%s%s", pending_copy,
                    OVS_OFPORT_TIMEOUT_MS, reason ? ": " : "", reason ? reason : "");
            error = ETIMEDOUT;
        }
        free(pending_copy);
        json_decref(result);
        if (error || !pending) {
            break;
        }
        usleep(OVS_POLL_US);
    }
    if (!error) {
        memcpy(ofports, found, n * sizeof *ofports);
    }
    ovsdb_ops_uninit(&ops);
    free(found);
    return error;
}

int
ovs_openflow(struct ovs *ovs, const char *bridge, struct of_conn **connp)
{
    struct of_conn *conn;
    char *path;
    int error;

    for (size_t i = 0; i < ovs->n_ofs; i++) {
        if (!strcmp(ovs->ofs[i].bridge, bridge)) {
            *connp = ovs->ofs[i].conn;
            return 0;
        }
    }
    if (!valid_ifname(bridge)) {
        log_err("ovs: bad bridge name '%s'", bridge);
        return EINVAL;
    }
    path = xasprintf("%s/%s.mgmt", ovs->run_dir, bridge);
    error = of_conn_open(path, OVS_OPENFLOW_TIMEOUT_MS, &conn);
    free(path);
    if (!error) {
        ovs->ofs = xrealloc(ovs->ofs, (ovs->n_ofs + 1) * sizeof *ovs->ofs);
        ovs->ofs[ovs->n_ofs].bridge = xstrdup(bridge);
        ovs->ofs[ovs->n_ofs++].conn = conn;
        *connp = conn;
    }
    return error;
}

/* OpenFlow through ovs-ofctl. */

/* run_tool() for a tool that acts on one bridge, whose name goes into a path or argument. */
static int
run_bridge_tool(struct ovs *ovs, const char *bridge, char *argv[], const char *input,
                char **outputp)
{
    if (!valid_ifname(bridge)) {
        log_err("ovs: bad bridge name '%s'", bridge);
        return EINVAL;
    }
    return run_tool(ovs, argv, input, outputp);
}

static int
ofctl(struct ovs *ovs, const char *command, const char *bridge, const char *arg,
      const char *input, char **outputp)
{
    char *target = xasprintf("unix:%s/%s.mgmt", ovs->run_dir, bridge);
    char *argv[] = { "ovs-ofctl", "-O", "OpenFlow13", (char *) command, target,
                     (char *) arg, NULL };
    int error = run_bridge_tool(ovs, bridge, argv, input, outputp);

    free(target);
    return error;
}

int
ovs_fdb_flush(struct ovs *ovs, const char *bridge)
{
    char *ctl = run_path(ovs, "ovs-vswitchd.ctl");
    char *argv[] = { "ovs-appctl", "-T", "10", "-t", ctl, "fdb/flush", (char *) bridge, NULL };
    int error = run_bridge_tool(ovs, bridge, argv, NULL, NULL);

    free(ctl);
    return error;
}

int
ovs_flows_add(struct ovs *ovs, const char *bridge, const char *flows)
{
    return ofctl(ovs, "add-flows", bridge, "-", flows, NULL);
}

int
ovs_flows_del(struct ovs *ovs, const char *bridge, const char *match)
{
    return ofctl(ovs, "del-flows", bridge, match && *match ? match : NULL, NULL, NULL);
}

int
ovs_flows_dump(struct ovs *ovs, const char *bridge, char **textp)
{
    return ofctl(ovs, "dump-flows", bridge, NULL, NULL, textp);
}

int
ovs_groups_add(struct ovs *ovs, const char *bridge, const char *groups)
{
    return ofctl(ovs, "add-groups", bridge, "-", groups, NULL);
}

int
ovs_groups_del(struct ovs *ovs, const char *bridge, const char *match)
{
    return ofctl(ovs, "del-groups", bridge, match && *match ? match : NULL, NULL, NULL);
}

int
ovs_meters_add(struct ovs *ovs, const char *bridge, const char *meters)
{
    char *copy = xstrdup(meters);
    char *save = NULL;
    int error = 0;

    for (char *line = strtok_r(copy, "\n", &save); line && !error;
         line = strtok_r(NULL, "\n", &save)) {
        line += strspn(line, " \t");
        if (*line && *line != '#') {
            error = ofctl(ovs, "add-meter", bridge, line, NULL, NULL);
        }
    }
    free(copy);
    return error;
}

int
ovs_meters_del(struct ovs *ovs, const char *bridge, const char *match)
{
    return ofctl(ovs, "del-meters", bridge, match && *match ? match : NULL, NULL, NULL);
}

/* Reads "KEY=N" after 'from' (e.g. "pkts=12"); false if absent. */
static bool
scan_counter(const char *from, const char *key, uint64_t *valuep)
{
    const char *p = from ? strstr(from, key) : NULL;
    unsigned long long v;

    if (!p || sscanf(p + strlen(key), "=%llu", &v) != 1) {
        /* "drop=?" when the datapath does not count it. */
        return p != NULL;
    }
    *valuep = v;
    return true;
}

int
ovs_port_stats(struct ovs *ovs, const char *bridge, int ofport, struct ovs_port_stats *stats)
{
    struct ovs_port_stats s = { 0 };
    char *port = xasprintf("%d", ofport);
    char *text = NULL;
    const char *rx, *tx;
    int error;

    error = ofctl(ovs, "dump-ports", bridge, port, NULL, &text);
    if (error) {
        goto out;
    }
    rx = strstr(text, "rx pkts");
    tx = strstr(text, "tx pkts");
    if (!rx || !tx
        || !scan_counter(rx, "pkts", &s.rx_packets) || !scan_counter(rx, "bytes", &s.rx_bytes)
        || !scan_counter(rx, "drop", &s.rx_dropped) || !scan_counter(rx, "errs", &s.rx_errors)
        || !scan_counter(tx, "pkts", &s.tx_packets) || !scan_counter(tx, "bytes", &s.tx_bytes)
        || !scan_counter(tx, "drop", &s.tx_dropped) || !scan_counter(tx, "errs", &s.tx_errors)) {
        log_err("ovs: cannot read the counters of port %d on %s: %s", ofport, bridge, text);
        error = EPROTO;
        goto out;
    }
    *stats = s;
out:
    free(text);
    free(port);
    return error;
}
