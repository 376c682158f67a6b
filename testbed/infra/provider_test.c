/* The `test` provider, like libvirt's test:/// driver: guests that exist only in this process's
 * memory, so that the instance, deploy, scheme and injector logic can be unit-tested without
 * root. State transitions are those of a real guest (start, pause, resume, stop, crash, destroy;
 * an operation a real guest would refuse is refused with the same errno); exec records its argv
 * and starts a child that exits at once with the status the test chose, so callers wait for it
 * exactly as for a real process; interfaces, neighbours and pinning are recorded; stats are
 * deterministic (1 ms of CPU per exec, 10 ms per start; 8 MiB plus 1 MiB per interface).
 * A guest's agent is a thread per connection on one end of a socketpair, which answers the
 * agent's requests with the real JSON-RPC code (rpc_handle_line()) and records roles instead
 * of running them.
 * Guests are kept in one list by (instance, name) until destroyed: guest_release() and
 * guest_attach() only drop and take a handle to them, as for a real guest. */

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testbed/infra/manifest.h"
#include "testbed/infra/provider.h"
#include "testbed/infra/provider_test.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"

/* Registered in provider.c. */
extern const struct guest_provider guest_provider_test;

/* Every test guest of the process. `up` creates guests from several threads: the list is
 * guarded by 'guests_mutex'. */
static pthread_mutex_t guests_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct test_guest **guests;
static size_t n_guests;
static uint64_t n_role_starts;      /* Every agent's start_role, for test_role.seq. */

static struct test_guest *
find_locked(const char *instance, const char *name)
{
    for (size_t i = 0; i < n_guests; i++) {
        if (!strcmp(guests[i]->instance, instance) && !strcmp(guests[i]->name, name)) {
            return guests[i];
        }
    }
    return NULL;
}

struct test_guest *
provider_test_find(const char *instance, const char *name)
{
    struct test_guest *t;

    pthread_mutex_lock(&guests_mutex);
    t = find_locked(instance, name);
    pthread_mutex_unlock(&guests_mutex);
    return t;
}

size_t
provider_test_count(void)
{
    size_t n;

    pthread_mutex_lock(&guests_mutex);
    n = n_guests;
    pthread_mutex_unlock(&guests_mutex);
    return n;
}

void
provider_test_crash(struct test_guest *tg)
{
    if (tg->state == GUEST_RUNNING || tg->state == GUEST_PAUSED) {
        tg->state = GUEST_GONE;
    }
}

static struct test_guest *
tg(const struct guest *g)
{
    return g->priv;
}

static void
test_guest_free(struct test_guest *t)
{
    for (size_t i = 0; i < t->n_execs; i++) {
        free(t->execs[i]);
    }
    free(t->execs);
    for (size_t i = 0; i < t->n_ifaces; i++) {
        free(t->ifaces[i].ifname);
        free(t->ifaces[i].port);
    }
    free(t->ifaces);
    free(t->instance);
    free(t->name);
    free(t->saved_to);
    for (size_t i = 0; i < t->n_roles; i++) {
        free(t->roles[i].argv);
    }
    free(t->roles);
    free(t);
}

static int
test_create(const struct guest_config *cfg, struct manifest *manifest, struct guest **gp)
{
    struct guest *g = xzalloc(sizeof *g);
    struct test_guest *t;
    int error;

    error = guest_init_common(g, &guest_provider_test, cfg, manifest);
    if (error) {
        free(g);
        return error;
    }
    pthread_mutex_lock(&guests_mutex);
    if (find_locked(cfg->instance, cfg->name)) {
        pthread_mutex_unlock(&guests_mutex);
        log_err("guest %s: a test guest of that name exists in instance %s", cfg->name,
                cfg->instance);
        guest_free_common(g);
        free(g);
        return EEXIST;
    }
    t = xzalloc(sizeof *t);
    t->instance = xstrdup(cfg->instance);
    t->name = xstrdup(cfg->name);
    t->state = GUEST_STOPPED;
    t->created_in_manifest = manifest != NULL;
    t->cpu = -1;
    guests = xrealloc(guests, (n_guests + 1) * sizeof *guests);
    guests[n_guests++] = t;
    pthread_mutex_unlock(&guests_mutex);
    g->priv = t;
    *gp = g;
    return 0;
}

static char *
test_handle(const struct guest *g)
{
    if (tg(g)->state != GUEST_RUNNING && tg(g)->state != GUEST_PAUSED) {
        return NULL;
    }
    return xasprintf("test:%s/%s", g->instance, g->name);
}

static int
test_attach(const struct guest_config *cfg, const char *handle, struct guest **gp)
{
    struct guest *g;
    struct test_guest *t;
    char *expected;
    int error;

    if (!cfg->instance || !cfg->name) {
        return EINVAL;
    }
    expected = xasprintf("test:%s/%s", cfg->instance, cfg->name);
    error = strcmp(handle, expected) ? EINVAL : 0;
    free(expected);
    if (error) {
        log_err("guest %s: '%s' is not its test handle", cfg->name, handle);
        return error;
    }
    t = provider_test_find(cfg->instance, cfg->name);
    if (!t || t->state == GUEST_GONE) {
        return ESRCH;
    }
    g = xzalloc(sizeof *g);
    error = guest_init_common(g, &guest_provider_test, cfg, NULL);
    if (error) {
        free(g);
        return error;
    }
    g->priv = t;
    *gp = g;
    return 0;
}

static void
test_release(struct guest *g)
{
    guest_free_common(g);
    free(g);
}

static int
test_start(struct guest *g)
{
    struct test_guest *t = tg(g);

    if (t->state == GUEST_RUNNING || t->state == GUEST_PAUSED) {
        return EBUSY;
    }
    t->state = GUEST_RUNNING;
    t->n_starts++;
    g->started_ns = time_mono_ns();
    g->exit_status = -1;
    return 0;
}

static int
test_stop(struct guest *g, uint64_t grace_ns)
{
    struct test_guest *t = tg(g);

    if (t->state == GUEST_RUNNING || t->state == GUEST_PAUSED) {
        g->exit_status = 0;     /* As sfcd init exits on SIGTERM. */
    }
    t->state = GUEST_STOPPED;
    return 0;
}

static int
test_destroy(struct guest *g)
{
    struct test_guest *t = tg(g);

    pthread_mutex_lock(&guests_mutex);
    for (size_t i = 0; i < n_guests; i++) {
        if (guests[i] == t) {
            guests[i] = guests[--n_guests];
            break;
        }
    }
    pthread_mutex_unlock(&guests_mutex);
    test_guest_free(t);
    guest_free_common(g);
    free(g);
    return 0;
}

static bool
is_up(const struct test_guest *t)
{
    return t->state == GUEST_RUNNING || t->state == GUEST_PAUSED;
}

static int
test_exec(struct guest *g, char *const argv[], const struct guest_exec_opts *opts, pid_t *pidp)
{
    struct test_guest *t = tg(g);
    struct buf b = BUF_INITIALIZER;
    pid_t pid;

    if (!is_up(t)) {
        return ESRCH;
    }
    for (size_t i = 0; argv[i]; i++) {
        buf_printf(&b, "%s%s", i ? " " : "", argv[i]);
    }
    buf_put_u8(&b, 0);
    t->execs = xrealloc(t->execs, (t->n_execs + 1) * sizeof *t->execs);
    t->execs[t->n_execs++] = xstrdup((char *) b.data);
    buf_uninit(&b);
    /* A real child, so that the caller waits for it as for any guest's process. */
    pid = fork();
    if (pid < 0) {
        return errno;
    }
    if (!pid) {
        _exit(t->exec_status);
    }
    *pidp = pid;
    return 0;
}

static int
test_pause(struct guest *g)
{
    if (!is_up(tg(g))) {
        return ESRCH;
    }
    tg(g)->state = GUEST_PAUSED;
    return 0;
}

static int
test_resume(struct guest *g)
{
    if (!is_up(tg(g))) {
        return ESRCH;
    }
    tg(g)->state = GUEST_RUNNING;
    return 0;
}

static enum guest_state
test_state(struct guest *g)
{
    return tg(g)->state;
}

static struct test_iface *
find_iface(struct test_guest *t, const char *ifname)
{
    for (size_t i = 0; i < t->n_ifaces; i++) {
        if (!strcmp(t->ifaces[i].ifname, ifname)) {
            return &t->ifaces[i];
        }
    }
    return NULL;
}

static int
test_plug_iface(struct guest *g, struct link_ns *host, const struct guest_iface *f)
{
    struct test_guest *t = tg(g);
    struct test_iface *i;

    if (!is_up(t)) {
        return ESRCH;
    }
    if (find_iface(t, f->ifname)) {
        return EEXIST;
    }
    t->ifaces = xrealloc(t->ifaces, (t->n_ifaces + 1) * sizeof *t->ifaces);
    i = &t->ifaces[t->n_ifaces++];
    memset(i, 0, sizeof *i);
    i->ifname = xstrdup(f->ifname);
    i->port = xstrdup(f->port);
    if (f->mac) {
        memcpy(i->mac, f->mac, 6);
    }
    i->has_addr = f->has_addr;
    i->addr = f->addr;
    i->prefix_len = f->prefix_len;
    i->up = true;
    return 0;
}

static int
test_set_link(struct guest *g, const char *ifname, bool up)
{
    struct test_iface *i;

    if (!is_up(tg(g))) {
        return ESRCH;
    }
    i = find_iface(tg(g), ifname);
    if (!i) {
        return ENODEV;
    }
    i->up = up;
    return 0;
}

static int
test_neigh_add(struct guest *g, const char *ifname, struct in_addr ip, const uint8_t mac[6])
{
    if (!is_up(tg(g))) {
        return ESRCH;
    }
    if (!find_iface(tg(g), ifname)) {
        return ENODEV;
    }
    tg(g)->n_neighbours++;
    return 0;
}

static int
test_pin(struct guest *g, int cpu)
{
    if (!is_up(tg(g))) {
        return ESRCH;
    }
    tg(g)->cpu = cpu < 0 ? -1 : cpu;
    return 0;
}

static int
test_stats(const struct guest *g, struct guest_stats *st)
{
    const struct test_guest *t = tg(g);

    st->cpu_ns = t->n_execs * 1000000ull + t->n_starts * 10000000ull;
    st->mem_bytes = is_up(t) ? (8ull << 20) + (t->n_ifaces << 20) : 0;
    return 0;
}

/* As virDomainSave: the guest's state goes to 'path' and the guest stops. */
static int
test_save(struct guest *g, const char *path)
{
    struct test_guest *t = tg(g);
    FILE *f;

    if (!is_up(t)) {
        return ESRCH;
    }
    f = fopen(path, "w");
    if (!f) {
        return errno;
    }
    fprintf(f, "test-guest %s/%s %s\n", t->instance, t->name, guest_state_name(t->state));
    if (fclose(f)) {
        return errno;
    }
    free(t->saved_to);
    t->saved_to = xstrdup(path);
    t->state = GUEST_STOPPED;
    return 0;
}

static int
test_restore(struct guest *g, const char *path)
{
    struct test_guest *t = tg(g);
    char *text = NULL, *expected;
    int error;

    /* A running guest is replaced by its image (provider.h): the file is read first, so a
     * bad one leaves it running. */
    error = read_file(path, &text, NULL);
    if (error) {
        return error;
    }
    expected = xasprintf("test-guest %s/%s ", t->instance, t->name);
    if (strncmp(text, expected, strlen(expected))) {
        error = EINVAL;
    } else {
        t->state = strstr(text + strlen(expected), "paused") ? GUEST_PAUSED : GUEST_RUNNING;
    }
    free(expected);
    free(text);
    return error;
}

/* ---- The agent ---- */

/* One connection to a guest's agent. The guest is looked up by name for every request, under
 * 'guests_mutex', so a guest destroyed while a connection is open is simply gone. */
struct test_agent_conn {
    int fd;
    char *instance;
    char *name;
};

const struct test_role *
provider_test_find_role(struct test_guest *t, const char *prefix)
{
    const struct test_role *r = NULL;

    pthread_mutex_lock(&guests_mutex);
    for (size_t i = 0; !r && i < t->n_roles; i++) {
        if (!strncmp(t->roles[i].argv, prefix, strlen(prefix))) {
            r = &t->roles[i];
        }
    }
    pthread_mutex_unlock(&guests_mutex);
    return r;
}

void
provider_test_end_role(struct test_guest *t, int id)
{
    pthread_mutex_lock(&guests_mutex);
    for (size_t i = 0; i < t->n_roles; i++) {
        if (t->roles[i].id == id) {
            t->roles[i].running = false;
        }
    }
    pthread_mutex_unlock(&guests_mutex);
}

/* The running guest of 'conn' and its role 'params.id' (NULL: none asked), with
 * 'guests_mutex' held on success. */
static int
agent_lookup(struct test_agent_conn *conn, json_t *params, struct test_guest **tp,
             struct test_role **rp, char **errmsg)
{
    struct test_guest *t;

    pthread_mutex_lock(&guests_mutex);
    t = find_locked(conn->instance, conn->name);
    if (!t || t->state != GUEST_RUNNING) {
        /* A paused guest's agent would not answer at all: here it says so at once. */
        pthread_mutex_unlock(&guests_mutex);
        *errmsg = xasprintf("guest %s is %s", conn->name,
                            t ? guest_state_name(t->state) : "gone");
        return ESRCH;
    }
    t->n_agent_calls++;
    *tp = t;
    if (rp) {
        json_t *id = json_object_get(params, "id");

        *rp = NULL;
        for (size_t i = 0; json_is_integer(id) && i < t->n_roles; i++) {
            if (t->roles[i].id == json_integer_value(id)) {
                *rp = &t->roles[i];
            }
        }
        if (!*rp) {
            pthread_mutex_unlock(&guests_mutex);
            *errmsg = xstrdup("no such role");
            return EINVAL;
        }
    }
    return 0;
}

static int
agent_ping(void *conn, json_t *params, json_t **result, char **errmsg)
{
    struct test_guest *t;
    int error = agent_lookup(conn, params, &t, NULL, errmsg);

    if (!error) {
        pthread_mutex_unlock(&guests_mutex);
        *result = json_pack("{s:i}", "restarts", 0);
    }
    return error;
}

static int
agent_start_role(void *conn, json_t *params, json_t **result, char **errmsg)
{
    const char *role = json_string_value(json_object_get(params, "role"));
    json_t *args = json_object_get(params, "args");
    struct buf b = BUF_INITIALIZER;
    struct test_guest *t;
    struct test_role *r;
    int error;

    /* As the real agent checks its params. */
    if (!role || (args && !json_is_array(args))) {
        *errmsg = xstrdup("start_role: params are {role: string, args: [string], cpu: int}");
        return EINVAL;
    }
    buf_printf(&b, "%s", role);
    for (size_t i = 0; args && i < json_array_size(args); i++) {
        const char *arg = json_string_value(json_array_get(args, i));
        if (!arg) {
            buf_uninit(&b);
            *errmsg = xasprintf("start_role: args[%zu] is not a string", i);
            return EINVAL;
        }
        buf_printf(&b, " %s", arg);
    }
    buf_put_u8(&b, 0);
    error = agent_lookup(conn, params, &t, NULL, errmsg);
    if (!error && t->refuse_roles) {
        pthread_mutex_unlock(&guests_mutex);
        *errmsg = xasprintf("start_role: %s failed to start", role);
        error = EIO;
    } else if (!error) {
        t->roles = xrealloc(t->roles, (t->n_roles + 1) * sizeof *t->roles);
        r = &t->roles[t->n_roles++];
        r->id = (int) t->n_roles;
        r->seq = ++n_role_starts;
        r->argv = xstrdup((char *) b.data);
        r->running = true;
        *result = json_pack("{s:i, s:i, s:s}", "id", r->id, "pid", 0, "log", "");
        pthread_mutex_unlock(&guests_mutex);
    }
    buf_uninit(&b);
    return error;
}

/* stop_role, and wait_role: a role ends when asked to wait for it, as a client does by
 * itself. Both answer as the real agent's wait_role does (stop_role's fields and 'output'). */
static int
agent_end_role(void *conn, json_t *params, json_t **result, char **errmsg)
{
    struct test_guest *t;
    struct test_role *r;
    int error = agent_lookup(conn, params, &t, &r, errmsg);

    if (!error) {
        r->running = false;
        *result = json_pack("{s:i, s:b, s:i, s:s}", "id", r->id, "running", false,
                            "exit_code", t->role_exit_code, "output", "");
        pthread_mutex_unlock(&guests_mutex);
    }
    return error;
}

/* A running role's own answer 'answer' (forwarded to the role by the real agent). */
static int
agent_role_answer(void *conn, json_t *params, json_t **result, char **errmsg,
                  const char *answer)
{
    struct test_guest *t;
    struct test_role *r;
    int error = agent_lookup(conn, params, &t, &r, errmsg);

    if (!error) {
        bool running = r->running;

        pthread_mutex_unlock(&guests_mutex);
        if (!running) {
            *errmsg = xstrdup("the role is gone");
            return ESRCH;
        }
        *result = json_loads(answer, 0, NULL);
    }
    return error;
}

static int
agent_stats(void *conn, json_t *params, json_t **result, char **errmsg)
{
    return agent_role_answer(conn, params, result, errmsg, "{\"counters\": {}}");
}

/* FTC's VNF: every group's state fetched. */
static int
agent_ftc_state(void *conn, json_t *params, json_t **result, char **errmsg)
{
    return agent_role_answer(conn, params, result, errmsg, "{\"ready\": true}");
}

static int
agent_roles(void *conn, json_t *params, json_t **result, char **errmsg)
{
    struct test_guest *t;
    int error = agent_lookup(conn, params, &t, NULL, errmsg);

    if (!error) {
        json_t *list = json_array();

        for (size_t i = 0; i < t->n_roles; i++) {
            const struct test_role *r = &t->roles[i];
            char *role = xstrdup(r->argv);

            role[strcspn(role, " ")] = '\0';
            json_array_append_new(list, json_pack("{s:i, s:s, s:i, s:b, s:i}", "id", r->id,
                                                  "role", role, "pid", 0, "running",
                                                  r->running, "exit_code", t->role_exit_code));
            free(role);
        }
        pthread_mutex_unlock(&guests_mutex);
        *result = list;
    }
    return error;
}

static const struct rpc_method agent_methods[] = {
    { "ping", agent_ping },
    { "start_role", agent_start_role },
    { "stop_role", agent_end_role },
    { "wait_role", agent_end_role },
    { "roles", agent_roles },
    { "stats", agent_stats },
    { "ftc_state", agent_ftc_state },
};

/* Answers request lines until the orchestrator closes its end. */
static void *
agent_serve(void *conn_)
{
    struct test_agent_conn *conn = conn_;
    struct buf in = BUF_INITIALIZER, reply = BUF_INITIALIZER;
    uint8_t chunk[4096];
    ssize_t n;

    while ((n = read(conn->fd, chunk, sizeof chunk)) > 0) {
        size_t len;

        buf_put(&in, chunk, n);
        while (rpc_next_line(&in, &len)) {
            rpc_handle_line(agent_methods, ARRAY_SIZE(agent_methods), conn,
                            (const char *) in.data, len, &reply);
            rpc_consume_line(&in, len);
            if (reply.len && write_fully(conn->fd, reply.data, reply.len)) {
                goto out;
            }
            buf_clear(&reply);
        }
    }
out:
    close(conn->fd);
    buf_uninit(&in);
    buf_uninit(&reply);
    free(conn->instance);
    free(conn->name);
    free(conn);
    return NULL;
}

static int
test_agent_connect(struct guest *g, int *fdp)
{
    struct test_agent_conn *conn;
    pthread_attr_t attr;
    pthread_t thread;
    int fds[2], error;

    if (!is_up(tg(g))) {
        return ECONNREFUSED;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds)) {
        return errno;
    }
    conn = xzalloc(sizeof *conn);
    conn->fd = fds[1];
    conn->instance = xstrdup(g->instance);
    conn->name = xstrdup(g->name);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    error = pthread_create(&thread, &attr, agent_serve, conn);
    pthread_attr_destroy(&attr);
    if (error) {
        close(fds[0]);
        close(fds[1]);
        free(conn->instance);
        free(conn->name);
        free(conn);
        return error;
    }
    *fdp = fds[0];
    return 0;
}

const struct guest_provider guest_provider_test = {
    .name = "test",
    .in_memory = true,
    /* Its guests are in this process: what a scheme binds in a guest's directory for it
     * (NHAM's beat and SFF sockets) is where its roles would look. */
    .local_sockets = true,
    .create = test_create,
    .handle = test_handle,
    .attach = test_attach,
    .release = test_release,
    .start = test_start,
    .stop = test_stop,
    .destroy = test_destroy,
    .exec = test_exec,
    .pause = test_pause,
    .resume = test_resume,
    .state = test_state,
    .plug_iface = test_plug_iface,
    .set_link = test_set_link,
    .neigh_add = test_neigh_add,
    .pin = test_pin,
    .stats = test_stats,
    .save = test_save,
    .restore = test_restore,
    .agent_connect = test_agent_connect,
};
