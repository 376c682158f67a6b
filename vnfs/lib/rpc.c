#include "vnfs/lib/rpc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
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

#include "vnfs/lib/loop.h"
#include "vnfs/lib/util.h"

/* One client connection of a server. */
struct rpc_conn {
    struct rpc_server *server;
    int fd;
    struct buf in;
    struct buf out;             /* Answers the peer has not read yet, from 'out_ofs' on. */
    size_t out_ofs;
    bool authed;                /* Keyed servers: the peer proved it holds the key. */
    uint8_t challenge[RPC_CHALLENGE_BYTES];
    uint64_t next_counter;      /* The counter the peer's next request must carry. */
    uint64_t accepted_ns;
    struct rpc_deferred **deferred;     /* Answers owed later (rpc_defer()). */
    size_t n_deferred, allocated_deferred;
};

struct rpc_deferred {
    struct rpc_conn *conn;      /* NULL once the connection is gone. */
    json_t *id;
    uint64_t counter;
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
    bool keyed;
    uint8_t key[RPC_KEY_BYTES];
    size_t buffered;            /* Bytes held in every connection's in and out buffers. */
    uint64_t sweep_timer;
    struct rpc_server_stats stats;
};

/* The request whose method is running, for rpc_defer(). */
static struct rpc_conn *current_conn;
static json_t *current_id;
static uint64_t current_counter;
static struct rpc_deferred *current_deferred;

/* Parses "HOST:PORT" or "unix:PATH" into a sockaddr. */
static int
parse_address(const char *address, struct sockaddr_storage *ss, socklen_t *lenp,
              char device[IF_NAMESIZE])
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
        /* "ADDR%DEV:PORT": bound to a device, as IPv6 writes a zone. */
        char *pct = strchr(host, '%');
        if (pct) {
            *pct++ = '\0';
            if (!device || !*pct || strlen(pct) >= IF_NAMESIZE) {
                return EINVAL;
            }
            strcpy(device, pct);
        }
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
            current_id = id;
            current_deferred = NULL;
            error = methods[i].cb(aux, params, &result, &errmsg);
            current_id = NULL;
            if (current_deferred) {
                /* rpc_defer() took the answer over: it comes later. */
                current_deferred = NULL;
            } else if (!id) {
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
hex_mac(char out[RPC_MAC_HEX + 1], const uint8_t key[RPC_KEY_BYTES],
        const uint8_t challenge[RPC_CHALLENGE_BYTES], uint64_t counter, char dir,
        const void *data, size_t len)
{
    crypto_auth_hmacsha512256_state st;
    uint8_t mac[crypto_auth_hmacsha512256_BYTES];
    uint8_t hdr[8 + 1];

    for (int i = 0; i < 8; i++) {
        hdr[i] = counter >> (56 - 8 * i);
    }
    hdr[8] = dir;
    crypto_auth_hmacsha512256_init(&st, key, RPC_KEY_BYTES);
    crypto_auth_hmacsha512256_update(&st, challenge, RPC_CHALLENGE_BYTES);
    crypto_auth_hmacsha512256_update(&st, hdr, sizeof hdr);
    crypto_auth_hmacsha512256_update(&st, data, len);
    crypto_auth_hmacsha512256_final(&st, mac);
    sodium_bin2hex(out, RPC_MAC_HEX + 1, mac, sizeof mac);
}

void
rpc_auth_sign(const uint8_t key[RPC_KEY_BYTES], const uint8_t challenge[RPC_CHALLENGE_BYTES],
              uint64_t counter, char dir, const void *body, size_t len,
              char mac_hex[RPC_MAC_HEX + 1])
{
    hex_mac(mac_hex, key, challenge, counter, dir, body, len);
}

bool
rpc_auth_check(const uint8_t key[RPC_KEY_BYTES], const uint8_t challenge[RPC_CHALLENGE_BYTES],
               uint64_t counter, char dir, const uint8_t *line, size_t len,
               const uint8_t **bodyp, size_t *body_lenp)
{
    char mac[RPC_MAC_HEX + 1];

    if (len < RPC_MAC_HEX + 1 || line[RPC_MAC_HEX] != ' ') {
        return false;
    }
    hex_mac(mac, key, challenge, counter, dir, line + RPC_MAC_HEX + 1, len - RPC_MAC_HEX - 1);
    if (sodium_memcmp(mac, line, RPC_MAC_HEX)) {
        return false;
    }
    *bodyp = line + RPC_MAC_HEX + 1;
    *body_lenp = len - RPC_MAC_HEX - 1;
    return true;
}

static void conn_close(struct rpc_conn *);

static size_t
conn_line_limit(const struct rpc_conn *conn)
{
    return conn->server->keyed && !conn->authed ? RPC_PREAUTH_MAX_LINE : RPC_MAX_LINE;
}

/* Writes what 'conn' owes its peer without blocking; what the socket does not take waits for
 * EPOLLOUT, and the connection reads nothing more until it is gone: a peer that does not read
 * its answers holds up only itself. Returns false if the connection was closed. */
static bool
conn_flush(struct rpc_conn *conn)
{
    struct rpc_server *server = conn->server;

    while (conn->out.len > conn->out_ofs) {
        ssize_t n = send(conn->fd, conn->out.data + conn->out_ofs,
                         conn->out.len - conn->out_ofs, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            break;
        }
        if (n <= 0) {
            conn_close(conn);
            return false;
        }
        /* An offset, not a memmove per send: an exported state is tens of MiB. */
        conn->out_ofs += n;
        server->buffered -= n;
    }
    if (conn->out_ofs == conn->out.len) {
        conn->out.len = conn->out_ofs = 0;
    }
    loop_mod_fd(server->loop, conn->fd, conn->out.len ? EPOLLOUT : EPOLLIN);
    return true;
}

/* Queues one answer line ('line' without its '\n'), signed on a keyed server. */
static void
conn_queue(struct rpc_conn *conn, uint64_t counter, const uint8_t *line, size_t len)
{
    size_t before = conn->out.len;

    if (conn->server->keyed) {
        char mac[RPC_MAC_HEX + 1];
        hex_mac(mac, conn->server->key, conn->challenge, counter, 'R', line, len);
        buf_put(&conn->out, mac, RPC_MAC_HEX);
        buf_put_u8(&conn->out, ' ');
    }
    buf_put(&conn->out, line, len);
    buf_put_u8(&conn->out, '\n');
    conn->server->buffered += conn->out.len - before;
}

struct rpc_deferred *
rpc_defer(void)
{
    struct rpc_deferred *d;

    if (!current_conn || !current_id || current_deferred) {
        return NULL;
    }
    d = xzalloc(sizeof *d);
    d->conn = current_conn;
    d->id = json_incref(current_id);
    d->counter = current_counter;
    if (current_conn->n_deferred >= current_conn->allocated_deferred) {
        current_conn->deferred = x2nrealloc(current_conn->deferred,
                                            &current_conn->allocated_deferred,
                                            sizeof *current_conn->deferred);
    }
    current_conn->deferred[current_conn->n_deferred++] = d;
    current_deferred = d;
    return d;
}

bool
rpc_deferred_connected(const struct rpc_deferred *d)
{
    return d->conn != NULL;
}

void
rpc_deferred_reply(struct rpc_deferred *d, int error, json_t *result, const char *errmsg)
{
    struct rpc_conn *conn = d->conn;

    if (conn) {
        struct buf line = BUF_INITIALIZER;

        for (size_t i = 0; i < conn->n_deferred; i++) {
            if (conn->deferred[i] == d) {
                conn->deferred[i] = conn->deferred[--conn->n_deferred];
                break;
            }
        }
        if (error) {
            put_error(&line, d->id, error == EINVAL ? RPC_INVALID_PARAMS : RPC_SERVER_ERROR,
                      errmsg ? errmsg : strerror(error));
        } else {
            json_t *msg = json_pack("{s:s, s:O, s:O}", "jsonrpc", "2.0", "id", d->id,
                                    "result", result ? result : json_null());
            put_json_line(&line, msg);
            json_decref(msg);
        }
        if (line.len) {
            conn_queue(conn, d->counter, line.data, line.len - 1);
            /* From inside one of this connection's own methods, the server flushes after
             * the method returns: flushing here could free the connection under it. */
            if (conn != current_conn) {
                conn_flush(conn);
            }
        }
        buf_uninit(&line);
    }
    json_decref(result);
    json_decref(d->id);
    free(d);
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
    /* Their owners still answer them, into the void. */
    for (size_t i = 0; i < conn->n_deferred; i++) {
        conn->deferred[i]->conn = NULL;
    }
    free(conn->deferred);
    server->buffered -= conn->in.len + conn->out.len - conn->out_ofs;
    loop_del_fd(server->loop, conn->fd);
    close(conn->fd);
    buf_uninit(&conn->in);
    buf_uninit(&conn->out);
    free(conn);
}

/* A keyed server's line: "AUTH <mac>" first, then "<mac> <request>" each time. Returns false
 * (and the connection must go) if the peer does not hold the key. */
static bool
conn_verify(struct rpc_conn *conn, const uint8_t *line, size_t len, const uint8_t **reqp,
            size_t *req_lenp)
{
    struct rpc_server *server = conn->server;
    char mac[RPC_MAC_HEX + 1];

    if (!conn->authed) {
        if (len != 5 + RPC_MAC_HEX || memcmp(line, "AUTH ", 5)) {
            return false;
        }
        hex_mac(mac, server->key, conn->challenge, 0, 'H', "", 0);
        if (sodium_memcmp(mac, line + 5, RPC_MAC_HEX)) {
            return false;
        }
        conn->authed = true;
        conn->next_counter = 1;
        *reqp = NULL;
        return true;
    }
    return rpc_auth_check(server->key, conn->challenge, conn->next_counter, 'Q', line, len,
                          reqp, req_lenp);
}

static void
conn_handle_lines(struct rpc_conn *conn)
{
    struct rpc_server *server = conn->server;
    size_t len;

    while (rpc_next_line(&conn->in, &len)) {
        const uint8_t *req = conn->in.data;
        size_t req_len = len;
        struct buf reply = BUF_INITIALIZER;
        uint64_t counter = 0;

        if (server->keyed) {
            if (!conn_verify(conn, conn->in.data, len, &req, &req_len)) {
                server->stats.refused_auth++;
                log_warn("rpc: dropping a client that does not hold the key");
                conn_close(conn);
                return;
            }
            counter = conn->next_counter;
            if (req) {
                conn->next_counter++;
            }
        }
        if (req) {
            current_conn = conn;
            current_counter = counter;
            rpc_handle_line(server->methods, server->n_methods, server->aux,
                            (const char *) req, req_len, &reply);
            current_conn = NULL;
            if (reply.len) {
                conn_queue(conn, counter, reply.data, reply.len - 1);
            }
            buf_uninit(&reply);
        }
        server->buffered -= MIN(len + 1, conn->in.len);
        rpc_consume_line(&conn->in, len);
        /* One answer at a time: the next request waits until this one is read. */
        if (conn->out.len && (!conn_flush(conn) || conn->out.len)) {
            return;
        }
    }
    conn_flush(conn);
}

static void
conn_event(struct loop *loop, int fd, uint32_t events, void *conn_)
{
    struct rpc_conn *conn = conn_;
    struct rpc_server *server = conn->server;
    size_t limit = conn_line_limit(conn);
    size_t want;
    ssize_t n;

    if (conn->out.len) {
        if (conn_flush(conn) && !conn->out.len) {
            /* Drained: requests that came meanwhile are waiting in 'in'. */
            conn_handle_lines(conn);
        }
        return;
    }
    /* Never more than the line limit per connection, nor RPC_MAX_BUFFERED in all. */
    want = MIN(65536, limit + 1 - MIN(conn->in.len, limit));
    if (server->buffered + want > RPC_MAX_BUFFERED) {
        server->stats.refused_memory++;
        log_warn("rpc: dropping a client: %zu bytes already buffered", server->buffered);
        conn_close(conn);
        return;
    }
    buf_reserve(&conn->in, want);
    n = read(fd, conn->in.data + conn->in.len, want);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        conn_close(conn);
        return;
    }
    conn->in.len += n;
    server->buffered += n;
    if (memchr(conn->in.data + conn->in.len - n, '\n', n)) {
        conn_handle_lines(conn);
        return;
    }
    if (conn->in.len > limit) {
        server->stats.refused_memory++;
        log_warn("rpc: dropping a client whose line exceeds %zu bytes", limit);
        conn_close(conn);
    }
}

/* Refuses a connection with one JSON-RPC error line, without waiting for anything. */
static void
refuse(int fd, const char *why)
{
    char *line = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":%d,"
                           "\"message\":\"%s\"}}\n", RPC_SERVER_ERROR, why);
    if (send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* It goes away either way. */
    }
    free(line);
    close(fd);
}

static void
server_acceptable(struct loop *loop, int fd, uint32_t events, void *server_)
{
    struct rpc_server *server = server_;
    struct rpc_conn *conn;
    int one = 1;

    /* Every pending connection now, so a flood cannot grow the backlog behind our back. */
    for (int i = 0; i < 256; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

        if (cfd < 0) {
            return;
        }
        if (server->keyed) {
            /* Strangers may hold at most half the slots: the newest one pushes the oldest
             * out, so a flood of idle connections never locks the orchestrator out (it
             * authenticates within a round trip of connecting). */
            struct rpc_conn *oldest = NULL;
            size_t n_strangers = 0;

            for (size_t j = 0; j < server->n_conns; j++) {
                struct rpc_conn *c = server->conns[j];
                if (!c->authed) {
                    n_strangers++;
                    if (!oldest || c->accepted_ns < oldest->accepted_ns) {
                        oldest = c;
                    }
                }
            }
            if (oldest && n_strangers >= RPC_MAX_CONNS / 2) {
                server->stats.refused_conns++;
                conn_close(oldest);
            }
        }
        if (server->n_conns >= RPC_MAX_CONNS) {
            server->stats.refused_conns++;
            refuse(cfd, "too many connections");
            continue;
        }
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn = xzalloc(sizeof *conn);
        conn->server = server;
        conn->fd = cfd;
        conn->accepted_ns = time_mono_ns();
        buf_init(&conn->in);
        buf_init(&conn->out);
        if (loop_add_fd(loop, cfd, EPOLLIN, conn_event, conn)) {
            close(cfd);
            free(conn);
            continue;
        }
        if (server->n_conns >= server->allocated_conns) {
            server->conns = x2nrealloc(server->conns, &server->allocated_conns,
                                       sizeof *server->conns);
        }
        server->conns[server->n_conns++] = conn;
        if (server->keyed) {
            char hex[2 * RPC_CHALLENGE_BYTES + 1];
            char hello[sizeof RPC_HELLO + sizeof hex + 1];

            randombytes_buf(conn->challenge, sizeof conn->challenge);
            sodium_bin2hex(hex, sizeof hex, conn->challenge, sizeof conn->challenge);
            snprintf(hello, sizeof hello, "%s %s", RPC_HELLO, hex);
            /* The hello is the challenge, not an answer: it carries no counter of its own. */
            buf_put(&conn->out, hello, strlen(hello));
            buf_put_u8(&conn->out, '\n');
            server->buffered += conn->out.len;
            conn_flush(conn);
        }
    }
}

/* Drops the connections that have not authenticated within RPC_PREAUTH_NS. */
static void
server_sweep(struct loop *loop, uint64_t timer, void *server_)
{
    struct rpc_server *server = server_;
    uint64_t now = time_mono_ns();

    for (size_t i = 0; i < server->n_conns; ) {
        struct rpc_conn *conn = server->conns[i];
        if (!conn->authed && now - conn->accepted_ns > RPC_PREAUTH_NS) {
            server->stats.refused_auth++;
            conn_close(conn);
        } else {
            i++;
        }
    }
}

int
rpc_server_create(struct loop *loop, const char *address, const struct rpc_method *methods,
                  size_t n_methods, void *aux, struct rpc_server **serverp)
{
    struct sockaddr_storage ss;
    struct rpc_server *server;
    socklen_t sslen;
    char device[IF_NAMESIZE] = "";
    int fd = -1, one = 1, error;

    error = parse_address(address, &ss, &sslen, device);
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
    /* Bound to a device, the socket answers nothing that arrives on another interface, even
     * when it is addressed to our address (Linux accepts that by default: the weak host). */
    if (device[0] && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, strlen(device)) < 0) {
        error = errno;
        goto out;
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
rpc_server_set_key(struct rpc_server *server, const uint8_t key[RPC_KEY_BYTES])
{
    memcpy(server->key, key, RPC_KEY_BYTES);
    server->keyed = true;
    if (!server->sweep_timer) {
        server->sweep_timer = loop_add_timer(server->loop, RPC_PREAUTH_NS / 4,
                                             RPC_PREAUTH_NS / 4, server_sweep, server);
    }
}

void
rpc_server_get_stats(const struct rpc_server *server, struct rpc_server_stats *stats)
{
    *stats = server->stats;
    stats->conns = server->n_conns;
    stats->buffered = server->buffered;
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
    if (server->sweep_timer) {
        loop_cancel_timer(server->loop, server->sweep_timer);
    }
    loop_del_fd(server->loop, server->fd);
    close(server->fd);
    if (server->unix_path) {
        unlink(server->unix_path);
        free(server->unix_path);
    }
    sodium_memzero(server->key, sizeof server->key);
    free(server->conns);
    free(server);
}
/* As write_fully(), but a peer that has gone away is EPIPE, not a SIGPIPE that kills us. */
static int
send_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;

    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == ENOTSOCK) {
            return write_fully(fd, p, len);
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return errno;
        }
        p += n;
        len -= n;
    }
    return 0;
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

    error = parse_address(address, &ss, &sslen, NULL);
    if (error) {
        return error;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return errno;
    }
    /* A unix socket whose backlog is full says EAGAIN at once: wait for room, as TCP does. */
    while (connect(fd, (struct sockaddr *) &ss, sslen) < 0) {
        if (errno == EAGAIN && ss.ss_family == AF_UNIX && time_mono_ns() < deadline) {
            poll(NULL, 0, 5);
            continue;
        }
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
        break;
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

/* The client's side of keyed connections, by fd: rpc_call() signs on the fds listed here. The
 * socket's inode tells a closed and reused fd number from the connection that was authenticated
 * (sockfs never hands an inode number out twice while the machine runs). */
struct rpc_client_key {
    int fd;
    ino_t ino;
    uint8_t key[RPC_KEY_BYTES];
    uint8_t challenge[RPC_CHALLENGE_BYTES];
    uint64_t counter;
};

static pthread_mutex_t client_keys_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct rpc_client_key *client_keys;
static size_t n_client_keys, allocated_client_keys;

static ino_t
socket_ino(int fd)
{
    struct stat st;

    return fstat(fd, &st) ? 0 : st.st_ino;
}

/* With client_keys_mutex held. */
static struct rpc_client_key *
client_key_find(int fd)
{
    for (size_t i = 0; i < n_client_keys; i++) {
        if (client_keys[i].fd == fd) {
            if (client_keys[i].ino == socket_ino(fd)) {
                return &client_keys[i];
            }
            /* A stale entry: that connection was closed and its number reused. */
            sodium_memzero(&client_keys[i], sizeof client_keys[i]);
            client_keys[i] = client_keys[--n_client_keys];
            return NULL;
        }
    }
    return NULL;
}

int
rpc_client_auth(int fd, const uint8_t key[RPC_KEY_BYTES], int timeout_ms)
{
    uint64_t deadline = time_mono_ns() + (uint64_t) timeout_ms * 1000000;
    char line[128], mac[RPC_MAC_HEX + 1], answer[5 + RPC_MAC_HEX + 2];
    uint8_t challenge[RPC_CHALLENGE_BYTES];
    struct rpc_client_key *k;
    size_t len = 0, hexlen = 2 * RPC_CHALLENGE_BYTES;
    int error;

    /* Byte by byte: nothing after the hello may be swallowed (there is nothing, but still). */
    while (!len || line[len - 1] != '\n') {
        ssize_t n;

        if (len >= sizeof line - 1) {
            return EPROTO;
        }
        error = wait_fd(fd, POLLIN, deadline);
        if (error) {
            return error;
        }
        n = read(fd, line + len, 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? errno : ECONNRESET;
        }
        len++;
    }
    line[--len] = '\0';
    if (len != strlen(RPC_HELLO) + 1 + hexlen || strncmp(line, RPC_HELLO " ", strlen(RPC_HELLO) + 1)
        || sodium_hex2bin(challenge, sizeof challenge, line + strlen(RPC_HELLO) + 1, hexlen,
                          NULL, NULL, NULL)) {
        return EPROTO;
    }
    hex_mac(mac, key, challenge, 0, 'H', "", 0);
    snprintf(answer, sizeof answer, "AUTH %s\n", mac);
    error = send_all(fd, answer, strlen(answer));
    if (error) {
        return error;
    }
    pthread_mutex_lock(&client_keys_mutex);
    k = client_key_find(fd);
    if (!k) {
        if (n_client_keys >= allocated_client_keys) {
            client_keys = x2nrealloc(client_keys, &allocated_client_keys, sizeof *client_keys);
        }
        k = &client_keys[n_client_keys++];
    }
    k->fd = fd;
    k->ino = socket_ino(fd);
    memcpy(k->key, key, RPC_KEY_BYTES);
    memcpy(k->challenge, challenge, sizeof challenge);
    k->counter = 1;
    pthread_mutex_unlock(&client_keys_mutex);
    return 0;
}

void
rpc_client_forget(int fd)
{
    pthread_mutex_lock(&client_keys_mutex);
    for (size_t i = 0; i < n_client_keys; i++) {
        if (client_keys[i].fd == fd) {
            sodium_memzero(&client_keys[i], sizeof client_keys[i]);
            client_keys[i] = client_keys[--n_client_keys];
            break;
        }
    }
    pthread_mutex_unlock(&client_keys_mutex);
}

/* Copies fd's key state and takes its next counter: false for a connection without a key. */
static bool
client_key_take(int fd, struct rpc_client_key *copy)
{
    struct rpc_client_key *k;

    pthread_mutex_lock(&client_keys_mutex);
    k = client_key_find(fd);
    if (k) {
        *copy = *k;
        k->counter++;
    }
    pthread_mutex_unlock(&client_keys_mutex);
    return k != NULL;
}

/* True if the line of 'len' bytes at the head of 'in' answers a call before 'id': a call on
 * this connection that timed out, answered late. Its signature (made with that call's counter)
 * is not checked: the line is only dropped. */
static bool
late_answer(const struct buf *in, size_t len, bool keyed, json_int_t id)
{
    const char *body = (const char *) in->data;
    json_t *resp;
    bool late;

    if (keyed) {
        if (len < RPC_MAC_HEX + 1 || body[RPC_MAC_HEX] != ' ') {
            return false;
        }
        body += RPC_MAC_HEX + 1;
        len -= RPC_MAC_HEX + 1;
    }
    resp = json_loadb(body, len, 0, NULL);
    late = json_is_integer(json_object_get(resp, "id"))
           && json_integer_value(json_object_get(resp, "id")) < id;
    json_decref(resp);
    return late;
}

int
rpc_call_err(int fd, const char *method, json_t *params, json_t **resultp, int timeout_ms,
             char **errmsgp)
{
    /* Ids grow across the process and its threads: an answer with a smaller id than the
     * call's is a late one (late_answer()). */
    static json_int_t next_id = 1;
    uint64_t deadline = time_mono_ns() + (uint64_t) timeout_ms * 1000000;
    json_int_t id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
    struct buf in = BUF_INITIALIZER;
    json_t *req, *resp = NULL, *error_obj;
    struct rpc_client_key k;
    const uint8_t *body;
    char *line = NULL;
    bool keyed;
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
    keyed = client_key_take(fd, &k);
    if (keyed) {
        char mac[RPC_MAC_HEX + 1];
        hex_mac(mac, k.key, k.challenge, k.counter, 'Q', line, len);
        buf_put(&in, mac, RPC_MAC_HEX);
        buf_put_u8(&in, ' ');
    }
    buf_put(&in, line, len);
    buf_put_u8(&in, '\n');
    free(line);
    error = send_all(fd, in.data, in.len);
    in.len = 0;
    if (error) {
        goto out;
    }
    /* A call that timed out on this connection may still be answered: skip that answer. */
    for (;;) {
        ssize_t n;

        if (rpc_next_line(&in, &len)) {
            if (!late_answer(&in, len, keyed, id)) {
                break;
            }
            rpc_consume_line(&in, len);
            continue;
        }
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
    body = in.data;
    if (keyed && !rpc_auth_check(k.key, k.challenge, k.counter, 'R', in.data, len, &body, &len)) {
        log_warn("rpc: %s: the answer is not signed with our key", method);
        error = EPROTO;
        goto out;
    }
    resp = json_loadb((const char *) body, len, 0, NULL);
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
    sodium_memzero(&k, sizeof k);
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
