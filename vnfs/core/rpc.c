#include "vnfs/core/rpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vnfs/core/loop.h"
#include "vnfs/core/util.h"

struct rpc_conn {
    struct rpc_server *server;
    int fd;
    struct buf in;
};

struct rpc_server {
    struct loop *loop;
    int fd;
    char *unix_path;
    const struct rpc_method *methods;
    size_t n_methods;
    void *aux;
    struct rpc_conn **conns;
    size_t n_conns, allocated_conns;
};

/* Parses "HOST:PORT" or "unix:PATH" into a sockaddr. */
static int
parse_address(const char *address, struct sockaddr_storage *ss, socklen_t *lenp)
{
    memset(ss, 0, sizeof *ss);
    if (!strncmp(address, "unix:", 5)) {
        struct sockaddr_un *sun = (struct sockaddr_un *) ss;
        if (strlen(address + 5) >= sizeof sun->sun_path || !address[5]) {
            return EINVAL;
        }
        sun->sun_family = AF_UNIX;
        strcpy(sun->sun_path, address + 5);
        *lenp = sizeof *sun;
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *) ss;
        const char *colon = strrchr(address, ':');
        char host[64];
        char *end;
        long port;

        if (!colon || (size_t) (colon - address) >= sizeof host) {
            return EINVAL;
        }
        memcpy(host, address, colon - address);
        host[colon - address] = '\0';
        port = strtol(colon + 1, &end, 10);
        if (*end || end == colon + 1 || port < 0 || port > 65535) {
            return EINVAL;
        }
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        if (!host[0] || !strcmp(host, "*")) {
            sin->sin_addr.s_addr = htonl(INADDR_ANY);
        } else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
            return EINVAL;
        }
        *lenp = sizeof *sin;
    }
    return 0;
}

bool
rpc_next_line(const struct buf *in, size_t *len)
{
    const uint8_t *nl = in->len ? memchr(in->data, '\n', in->len) : NULL;

    if (!nl) {
        return false;
    }
    *len = nl - in->data;
    return true;
}

void
rpc_consume_line(struct buf *in, size_t len)
{
    size_t n = MIN(len + 1, in->len);

    memmove(in->data, in->data + n, in->len - n);
    in->len -= n;
}

static void
put_json_line(struct buf *reply, json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);

    if (s) {
        buf_put(reply, s, strlen(s));
        buf_put_u8(reply, '\n');
        free(s);
    }
}

static void
put_error(struct buf *reply, json_t *id, int code, const char *message)
{
    json_t *msg = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0",
                            "id", id ? id : json_null(), "error",
                            "code", code, "message", message);
    put_json_line(reply, msg);
    json_decref(msg);
}

void
rpc_handle_line(const struct rpc_method *methods, size_t n_methods, void *aux,
                const char *line, size_t len, struct buf *reply)
{
    json_t *req, *id, *params, *result = NULL;
    const char *method;
    json_error_t jerr;
    char *errmsg = NULL;
    int error;

    req = json_loadb(line, len, 0, &jerr);
    if (!req) {
        put_error(reply, NULL, RPC_PARSE_ERROR, jerr.text);
        return;
    }
    id = json_object_get(req, "id");
    params = json_object_get(req, "params");
    method = json_string_value(json_object_get(req, "method"));
    if (!json_is_object(req) || !method
        || !json_is_string(json_object_get(req, "jsonrpc"))
        || strcmp(json_string_value(json_object_get(req, "jsonrpc")), "2.0")
        || (params && !json_is_object(params) && !json_is_array(params))) {
        put_error(reply, id, RPC_INVALID_REQUEST, "invalid JSON-RPC 2.0 request");
        goto out;
    }
    for (size_t i = 0; i < n_methods; i++) {
        if (!strcmp(methods[i].name, method)) {
            error = methods[i].cb(aux, params, &result, &errmsg);
            if (!id) {
                /* A notification: no answer, whatever happened. */
            } else if (error) {
                put_error(reply, id, error == EINVAL ? RPC_INVALID_PARAMS : RPC_SERVER_ERROR,
                          errmsg ? errmsg : strerror(error));
            } else {
                json_t *msg = json_pack("{s:s, s:O, s:O}", "jsonrpc", "2.0", "id", id,
                                        "result", result ? result : json_null());
                put_json_line(reply, msg);
                json_decref(msg);
            }
            goto out;
        }
    }
    if (id) {
        char *msg = xasprintf("unknown method '%s'", method);
        put_error(reply, id, RPC_METHOD_NOT_FOUND, msg);
        free(msg);
    }
out:
    json_decref(result);
    free(errmsg);
    json_decref(req);
}

static void
conn_close(struct rpc_conn *conn)
{
    struct rpc_server *server = conn->server;

    for (size_t i = 0; i < server->n_conns; i++) {
        if (server->conns[i] == conn) {
            server->conns[i] = server->conns[--server->n_conns];
            break;
        }
    }
    loop_del_fd(server->loop, conn->fd);
    close(conn->fd);
    buf_uninit(&conn->in);
    free(conn);
}

static void
conn_readable(struct loop *loop, int fd, uint32_t events, void *conn_)
{
    struct rpc_conn *conn = conn_;
    struct rpc_server *server = conn->server;
    struct buf reply = BUF_INITIALIZER;
    size_t len;
    ssize_t n;

    buf_reserve(&conn->in, 65536);
    n = read(fd, conn->in.data + conn->in.len, conn->in.cap - conn->in.len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        conn_close(conn);
        return;
    }
    conn->in.len += n;
    while (rpc_next_line(&conn->in, &len)) {
        rpc_handle_line(server->methods, server->n_methods, server->aux,
                        (const char *) conn->in.data, len, &reply);
        rpc_consume_line(&conn->in, len);
    }
    if (conn->in.len > RPC_MAX_LINE) {
        log_warn("rpc: dropping a client whose line exceeds %u bytes", RPC_MAX_LINE);
        conn_close(conn);
        goto out;
    }
    /* The socket is blocking for writes: answers are small or awaited by a blocking caller. */
    if (reply.len && write_fully(fd, reply.data, reply.len)) {
        conn_close(conn);
    }
out:
    buf_uninit(&reply);
}

static void
server_acceptable(struct loop *loop, int fd, uint32_t events, void *server_)
{
    struct rpc_server *server = server_;
    struct rpc_conn *conn;
    int cfd, one = 1;

    cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (cfd < 0) {
        return;
    }
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn = xzalloc(sizeof *conn);
    conn->server = server;
    conn->fd = cfd;
    buf_init(&conn->in);
    if (loop_add_fd(loop, cfd, EPOLLIN, conn_readable, conn)) {
        close(cfd);
        free(conn);
        return;
    }
    if (server->n_conns >= server->allocated_conns) {
        server->conns = x2nrealloc(server->conns, &server->allocated_conns,
                                   sizeof *server->conns);
    }
    server->conns[server->n_conns++] = conn;
}

int
rpc_server_create(struct loop *loop, const char *address, const struct rpc_method *methods,
                  size_t n_methods, void *aux, struct rpc_server **serverp)
{
    struct sockaddr_storage ss;
    struct rpc_server *server;
    socklen_t sslen;
    int fd = -1, one = 1, error;

    error = parse_address(address, &ss, &sslen);
    if (error) {
        return error;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return errno;
    }
    if (ss.ss_family == AF_UNIX) {
        struct stat st;
        const char *path = ((struct sockaddr_un *) &ss)->sun_path;
        if (!lstat(path, &st) && S_ISSOCK(st.st_mode)) {
            unlink(path);
        }
    } else {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    if (bind(fd, (struct sockaddr *) &ss, sslen) < 0 || listen(fd, 64) < 0) {
        error = errno;
        goto out;
    }
    server = xzalloc(sizeof *server);
    server->loop = loop;
    server->fd = fd;
    server->methods = methods;
    server->n_methods = n_methods;
    server->aux = aux;
    if (ss.ss_family == AF_UNIX) {
        server->unix_path = xstrdup(((struct sockaddr_un *) &ss)->sun_path);
    }
    error = loop_add_fd(loop, fd, EPOLLIN, server_acceptable, server);
    if (error) {
        if (server->unix_path) {
            unlink(server->unix_path);
        }
        free(server->unix_path);
        free(server);
        goto out;
    }
    *serverp = server;
    fd = -1;
out:
    if (fd >= 0) {
        close(fd);
    }
    return error;
}

void
rpc_server_destroy(struct rpc_server *server)
{
    if (!server) {
        return;
    }
    while (server->n_conns) {
        conn_close(server->conns[0]);
    }
    loop_del_fd(server->loop, server->fd);
    close(server->fd);
    if (server->unix_path) {
        unlink(server->unix_path);
        free(server->unix_path);
    }
    free(server->conns);
    free(server);
}

static int
wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = time_mono_ns();
        struct pollfd pfd = { .fd = fd, .events = events };
        int n;

        if (now >= deadline) {
            return ETIMEDOUT;
        }
        n = poll(&pfd, 1, (int) MIN((deadline - now + 999999) / 1000000, (uint64_t) INT32_MAX));
        if (n > 0) {
            return 0;
        }
        if (n < 0 && errno != EINTR) {
            return errno;
        }
    }
}

int
rpc_connect(const char *address, int timeout_ms, int *fdp)
{
    uint64_t deadline = time_mono_ns() + (uint64_t) timeout_ms * 1000000;
    struct sockaddr_storage ss;
    socklen_t sslen, elen = sizeof(int);
    int fd, error, soerr = 0, one = 1;

    error = parse_address(address, &ss, &sslen);
    if (error) {
        return error;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return errno;
    }
    if (connect(fd, (struct sockaddr *) &ss, sslen) < 0) {
        if (errno != EINPROGRESS) {
            error = errno;
            goto out;
        }
        error = wait_fd(fd, POLLOUT, deadline);
        if (error) {
            goto out;
        }
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &elen);
        if (soerr) {
            error = soerr;
            goto out;
        }
    }
    if (ss.ss_family == AF_INET) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    /* Blocking from here on: rpc_call() bounds its waits with poll(). */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    *fdp = fd;
    fd = -1;
out:
    if (fd >= 0) {
        close(fd);
    }
    return error;
}

int
rpc_call_err(int fd, const char *method, json_t *params, json_t **resultp, int timeout_ms,
             char **errmsgp)
{
    static json_int_t next_id = 1;
    uint64_t deadline = time_mono_ns() + (uint64_t) timeout_ms * 1000000;
    json_int_t id = next_id++;
    struct buf in = BUF_INITIALIZER;
    json_t *req, *resp = NULL, *error_obj;
    char *line = NULL;
    size_t len;
    int error;

    req = json_pack("{s:s, s:s, s:I}", "jsonrpc", "2.0", "method", method, "id", id);
    if (params) {
        json_object_set(req, "params", params);
    }
    line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!line) {
        return ENOMEM;
    }
    len = strlen(line);
    line[len] = '\n';
    error = write_fully(fd, line, len + 1);
    free(line);
    if (error) {
        return error;
    }
    while (!rpc_next_line(&in, &len)) {
        ssize_t n;
        error = wait_fd(fd, POLLIN, deadline);
        if (error) {
            goto out;
        }
        buf_reserve(&in, 65536);
        n = read(fd, in.data + in.len, in.cap - in.len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            error = n < 0 ? errno : ECONNRESET;
            goto out;
        }
        in.len += n;
        if (in.len > RPC_MAX_LINE) {
            error = EPROTO;
            goto out;
        }
    }
    resp = json_loadb((const char *) in.data, len, 0, NULL);
    if (!json_is_object(resp)
        || json_integer_value(json_object_get(resp, "id")) != id) {
        error = EPROTO;
        goto out;
    }
    error_obj = json_object_get(resp, "error");
    if (error_obj) {
        const char *msg = json_string_value(json_object_get(error_obj, "message"));
        if (errmsgp) {
            *errmsgp = xstrdup(msg ? msg : "(no message)");
        } else {
            log_warn("rpc: %s: %s", method, msg ? msg : "(no message)");
        }
        error = EREMOTEIO;
        goto out;
    }
    if (!json_object_get(resp, "result")) {
        error = EPROTO;
        goto out;
    }
    *resultp = json_incref(json_object_get(resp, "result"));
out:
    json_decref(resp);
    buf_uninit(&in);
    return error;
}

int
rpc_call(int fd, const char *method, json_t *params, json_t **resultp, int timeout_ms)
{
    return rpc_call_err(fd, method, params, resultp, timeout_ms, NULL);
}

char *
rpc_base64_encode(const void *data, size_t len)
{
    size_t n = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char *s = xmalloc(n);

    sodium_bin2base64(s, n, data, len, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

int
rpc_base64_decode(const char *s, struct buf *out)
{
    size_t slen = strlen(s), max = slen / 4 * 3 + 3, n;
    uint8_t *p;

    buf_reserve(out, max);
    p = out->data + out->len;
    if (sodium_base642bin(p, max, s, slen, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL)) {
        return EINVAL;
    }
    out->len += n;
    return 0;
}
