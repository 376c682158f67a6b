#include "testbed/infra/ovsdb.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

/* A reply bigger than this is a broken server, not a big database: ours hold a few hundred
 * rows. */
#define OVSDB_MAX_MSG (64u << 20)
#define OVSDB_DEFAULT_TIMEOUT_MS 10000

struct ovsdb {
    int fd;
    struct buf rx;              /* Received bytes; rx_ofs..rx.len not yet parsed. */
    size_t rx_ofs;
    long long next_id;
    int timeout_ms;
    char *error;
    ovsdb_notify_cb *notify;
    void *notify_aux;
};

static void PRINTF_FORMAT(2, 3)
set_error(struct ovsdb *db, const char *fmt, ...)
{
    va_list args;

    free(db->error);
    va_start(args, fmt);
    db->error = xvasprintf(fmt, args);
    va_end(args);
}

int
ovsdb_open_fd(int fd, struct ovsdb **dbp)
{
    struct ovsdb *db = xzalloc(sizeof *db);
    /* Bounds writes too: a server that stops reading must not hang us forever. */
    struct timeval tv = { OVSDB_DEFAULT_TIMEOUT_MS / 1000, 0 };

    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    db->fd = fd;
    buf_init(&db->rx);
    db->timeout_ms = OVSDB_DEFAULT_TIMEOUT_MS;
    db->error = xstrdup("");
    *dbp = db;
    return 0;
}

/* The server may not have created its socket yet (we start it a moment before): ENOENT and
 * ECONNREFUSED are retried until the deadline. */
int
ovsdb_connect(const char *sock_path, int timeout_ms, struct ovsdb **dbp)
{
    uint64_t deadline = time_mono_ns() + (uint64_t) timeout_ms * 1000000;
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int error;
    int fd = -1;

    if (strlen(sock_path) >= sizeof sun.sun_path) {
        return ENAMETOOLONG;
    }
    strcpy(sun.sun_path, sock_path);
    for (;;) {
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            return errno;
        }
        if (!connect(fd, (struct sockaddr *) &sun, sizeof sun)) {
            break;
        }
        error = errno;
        close(fd);
        if ((error != ENOENT && error != ECONNREFUSED) || time_mono_ns() >= deadline) {
            return error;
        }
        usleep(2000);
    }
    /* 'timeout_ms' bounds the connecting only: calls keep the default (ovsdb_set_timeout()
     * changes it), or a caller that polls for the socket with a short timeout would leave
     * every later transaction that short, and a busy vswitchd would fail them. */
    return ovsdb_open_fd(fd, dbp);
}

void
ovsdb_close(struct ovsdb *db)
{
    if (db) {
        close(db->fd);
        buf_uninit(&db->rx);
        free(db->error);
        free(db);
    }
}

void
ovsdb_set_timeout(struct ovsdb *db, int timeout_ms)
{
    db->timeout_ms = timeout_ms;
}

const char *
ovsdb_error(const struct ovsdb *db)
{
    return db->error;
}

void
ovsdb_set_notify(struct ovsdb *db, ovsdb_notify_cb *cb, void *aux)
{
    db->notify = cb;
    db->notify_aux = aux;
}

int
ovsdb_frame(const char *data, size_t n, size_t *lenp)
{
    size_t depth = 0;
    bool in_string = false;
    bool escape = false;
    size_t i = 0;

    while (i < n && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n')) {
        i++;
    }
    if (i == n) {
        return EAGAIN;
    }
    if (data[i] != '{' && data[i] != '[') {
        return EPROTO;
    }
    for (; i < n; i++) {
        char c = data[i];

        if (in_string) {
            if (escape) {
                escape = false;
            } else if (c == '\\') {
                escape = true;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (!depth) {
                return EPROTO;
            }
            if (!--depth) {
                *lenp = i + 1;
                return 0;
            }
        }
    }
    return EAGAIN;
}

static int
remaining_ms(uint64_t deadline)
{
    uint64_t now = time_mono_ns();
    return now >= deadline ? 0 : (int) ((deadline - now + 999999) / 1000000);
}

/* Receives the next whole message into *msgp. */
static int
ovsdb_recv(struct ovsdb *db, json_t **msgp, uint64_t deadline)
{
    for (;;) {
        const char *start = (const char *) db->rx.data + db->rx_ofs;
        size_t avail = db->rx.len - db->rx_ofs;
        json_error_t jerr;
        struct pollfd pfd;
        size_t len;
        ssize_t got;
        int error;

        error = avail ? ovsdb_frame(start, avail, &len) : EAGAIN;
        if (!error) {
            json_t *msg = json_loadb(start, len, 0, &jerr);

            db->rx_ofs += len;
            if (!msg) {
                set_error(db, "malformed JSON from server: %s", jerr.text);
                return EPROTO;
            }
            *msgp = msg;
            return 0;
        } else if (error != EAGAIN) {
            set_error(db, "server sent something that is not a JSON-RPC message");
            return error;
        }
        if (avail >= OVSDB_MAX_MSG) {
            set_error(db, "message from server exceeds %u bytes", OVSDB_MAX_MSG);
            return EMSGSIZE;
        }

        /* Make room at the end without letting consumed bytes pile up. */
        if (db->rx_ofs) {
            memmove(db->rx.data, db->rx.data + db->rx_ofs, avail);
            db->rx.len = avail;
            db->rx_ofs = 0;
        }
        buf_reserve(&db->rx, 65536);

        pfd.fd = db->fd;
        pfd.events = POLLIN;
        error = poll(&pfd, 1, remaining_ms(deadline));
        if (error < 0) {
            if (errno == EINTR) {
                continue;
            }
            error = errno;
            set_error(db, "poll: %s", strerror(error));
            return error;
        } else if (!error) {
            set_error(db, "timed out waiting for the server");
            return ETIMEDOUT;
        }
        got = read(db->fd, db->rx.data + db->rx.len, db->rx.cap - db->rx.len);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            error = errno;
            set_error(db, "read: %s", strerror(error));
            return error;
        } else if (!got) {
            set_error(db, "server closed the connection");
            return ECONNRESET;
        }
        db->rx.len += got;
    }
}

static int
ovsdb_send(struct ovsdb *db, json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    int error = 0;

    if (!s) {
        set_error(db, "cannot encode request");
        return EINVAL;
    }
    /* send(MSG_NOSIGNAL), not write(): a server that died must be an error, not SIGPIPE. */
    for (size_t ofs = 0, len = strlen(s); ofs < len; ) {
        ssize_t n = send(db->fd, s + ofs, len - ofs, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            error = errno == EAGAIN ? ETIMEDOUT : errno;
            set_error(db, "send: %s", strerror(error));
            break;
        }
        ofs += n;
    }
    free(s);
    return error;
}

/* Answers an echo, passes a notification on, drops a stale reply. */
static int
ovsdb_handle_other(struct ovsdb *db, json_t *msg, const char *method)
{
    json_t *params = json_object_get(msg, "params");
    json_t *id = json_object_get(msg, "id");
    int error = 0;

    if (method && !strcmp(method, "echo") && id && !json_is_null(id)) {
        json_t *reply = json_pack("{sosnsO}", "result",
                                  params ? json_incref(params) : json_array(), "error", "id", id);
        error = ovsdb_send(db, reply);
        json_decref(reply);
    } else if (method && (!id || json_is_null(id))) {
        if (db->notify) {
            db->notify(method, params, db->notify_aux);
        }
    } else if (method) {
        /* A request we do not serve: say so, as RFC 7047 asks of every peer. */
        json_t *reply = json_pack("{snsssO}", "result", "error", "unknown method", "id", id);
        error = ovsdb_send(db, reply);
        json_decref(reply);
    } else {
        log_debug("ovsdb: dropping reply to an earlier request");
    }
    return error;
}

int
ovsdb_call(struct ovsdb *db, const char *method, json_t *params, json_t **resultp)
{
    uint64_t deadline = time_mono_ns() + (uint64_t) db->timeout_ms * 1000000;
    long long id = db->next_id++;
    json_t *request = json_pack("{sssosI}", "method", method, "params", params, "id",
                                (json_int_t) id);
    json_t *msg = NULL;
    int error;

    if (!request) {
        set_error(db, "cannot build %s request", method);
        return EINVAL;
    }
    error = ovsdb_send(db, request);
    if (error) {
        goto out;
    }
    for (;;) {
        json_t *reply_id, *err, *method_j;

        json_decref(msg);
        msg = NULL;
        error = ovsdb_recv(db, &msg, deadline);
        if (error) {
            goto out;
        }
        if (!json_is_object(msg)) {
            set_error(db, "server sent a message that is not an object");
            error = EPROTO;
            goto out;
        }
        method_j = json_object_get(msg, "method");
        reply_id = json_object_get(msg, "id");
        if (method_j || !json_is_integer(reply_id) || json_integer_value(reply_id) != id) {
            error = ovsdb_handle_other(db, msg, json_string_value(method_j));
            if (error) {
                goto out;
            }
            continue;
        }
        err = json_object_get(msg, "error");
        if (err && !json_is_null(err)) {
            char *text = json_dumps(err, JSON_COMPACT | JSON_ENCODE_ANY);
            set_error(db, "%s failed: %s", method, text ? text : "?");
            free(text);
            error = EPROTO;
            goto out;
        }
        if (!json_object_get(msg, "result")) {
            set_error(db, "reply to %s has no result", method);
            error = EPROTO;
            goto out;
        }
        if (resultp) {
            *resultp = json_incref(json_object_get(msg, "result"));
        }
        break;
    }
out:
    json_decref(msg);
    json_decref(request);
    return error;
}

static const char *
op_name(const struct ovsdb_ops *ops, size_t i, char *buf, size_t size)
{
    json_t *op = json_array_get(ops->ops, i);
    const char *kind = json_string_value(json_object_get(op, "op"));
    const char *table = json_string_value(json_object_get(op, "table"));

    snprintf(buf, size, "operation %zu (%s%s%s)", i, kind ? kind : "?",
             table ? " on " : "", table ? table : "");
    return buf;
}

static char *
error_text(const json_t *element)
{
    const char *error = json_string_value(json_object_get(element, "error"));
    const char *details = json_string_value(json_object_get(element, "details"));

    return details ? xasprintf("%s: %s", error ? error : "error", details)
                   : xstrdup(error ? error : "error");
}

int
ovsdb_check_reply(const struct ovsdb_ops *ops, const json_t *result, char **errp)
{
    char *msg = NULL;
    char name[128];
    size_t n_result;
    int error = 0;

    if (!json_is_array(result)) {
        msg = xstrdup("transact result is not an array");
        error = EPROTO;
        goto out;
    }
    n_result = json_array_size(result);

    /* An error anywhere (an operation's, or the commit's in an extra element) wins over a
     * count mismatch: it is the real reason and the later elements are null. */
    for (size_t i = 0; i < n_result; i++) {
        json_t *element = json_array_get(result, i);

        if (json_is_object(element) && json_object_get(element, "error")) {
            char *text = error_text(element);
            msg = i < ops->n ? xasprintf("%s failed: %s", op_name(ops, i, name, sizeof name), text)
                             : xasprintf("commit failed: %s", text);
            free(text);
            error = EINVAL;
            goto out;
        }
    }
    if (n_result < ops->n) {
        msg = xasprintf("transact result has %zu elements for %zu operations",
                        n_result, ops->n);
        error = EPROTO;
        goto out;
    }
    for (size_t i = 0; i < ops->n; i++) {
        json_t *element = json_array_get(result, i);
        json_t *count;

        if (!json_is_object(element)) {
            msg = xasprintf("%s: result is not an object", op_name(ops, i, name, sizeof name));
            error = EPROTO;
            goto out;
        }
        if (ops->expect[i] == OVSDB_ANY_COUNT) {
            continue;
        }
        count = json_object_get(element, "count");
        if (!json_is_integer(count)) {
            msg = xasprintf("%s: result has no count", op_name(ops, i, name, sizeof name));
            error = EPROTO;
            goto out;
        }
        if (json_integer_value(count) != ops->expect[i]) {
            msg = xasprintf("%s matched %lld rows, expected %d",
                            op_name(ops, i, name, sizeof name),
                            (long long) json_integer_value(count), ops->expect[i]);
            error = ENOENT;
            goto out;
        }
    }
out:
    if (errp) {
        *errp = msg;
    } else {
        free(msg);
    }
    return error;
}

int
ovsdb_transact(struct ovsdb *db, const struct ovsdb_ops *ops, json_t **resultp)
{
    json_t *params = json_array();
    json_t *result = NULL;
    char *msg = NULL;
    int error;

    json_array_append_new(params, json_string(ops->db));
    json_array_extend(params, ops->ops);
    error = ovsdb_call(db, "transact", params, &result);
    if (error) {
        goto out;
    }
    error = ovsdb_check_reply(ops, result, &msg);
    if (error) {
        set_error(db, "%s", msg);
        goto out;
    }
    if (resultp) {
        *resultp = result;
        result = NULL;
    }
out:
    free(msg);
    json_decref(result);
    return error;
}

void
ovsdb_ops_init(struct ovsdb_ops *ops, const char *db)
{
    ops->db = xstrdup(db);
    ops->ops = json_array();
    ops->expect = NULL;
    ops->n = ops->cap = 0;
}

void
ovsdb_ops_uninit(struct ovsdb_ops *ops)
{
    if (ops) {
        free(ops->db);
        json_decref(ops->ops);
        free(ops->expect);
        ops->db = NULL;
        ops->ops = NULL;
        ops->expect = NULL;
        ops->n = ops->cap = 0;
    }
}

size_t
ovsdb_ops_add(struct ovsdb_ops *ops, json_t *op, int expect_count)
{
    if (!op) {
        sfc_abort("ovsdb_ops_add: null operation");
    }
    if (ops->n == ops->cap) {
        ops->expect = x2nrealloc(ops->expect, &ops->cap, sizeof *ops->expect);
    }
    json_array_append_new(ops->ops, op);
    ops->expect[ops->n] = expect_count;
    return ops->n++;
}

/* Builds {"op": kind, "table": table} and adds 'key': 'value' (stolen) pairs until NULL. */
static json_t *
op_new(const char *kind, const char *table, ...)
{
    json_t *op = json_pack("{ssss}", "op", kind, "table", table);
    const char *key;
    va_list args;

    va_start(args, table);
    while ((key = va_arg(args, const char *)) != NULL) {
        json_t *value = va_arg(args, json_t *);
        json_object_set_new(op, key, value);
    }
    va_end(args);
    return op;
}

json_t *
ovsdb_op_insert(const char *table, json_t *row, const char *uuid_name)
{
    json_t *op = op_new("insert", table, "row", row ? row : json_object(), (char *) NULL);
    if (uuid_name) {
        json_object_set_new(op, "uuid-name", json_string(uuid_name));
    }
    return op;
}

json_t *
ovsdb_op_select(const char *table, json_t *where, json_t *columns)
{
    json_t *op = op_new("select", table, "where", where ? where : json_array(), (char *) NULL);
    if (columns) {
        json_object_set_new(op, "columns", columns);
    }
    return op;
}

json_t *
ovsdb_op_update(const char *table, json_t *where, json_t *row)
{
    return op_new("update", table, "where", where ? where : json_array(), "row", row,
                  (char *) NULL);
}

json_t *
ovsdb_op_mutate(const char *table, json_t *where, json_t *mutations)
{
    return op_new("mutate", table, "where", where ? where : json_array(),
                  "mutations", mutations, (char *) NULL);
}

json_t *
ovsdb_op_delete(const char *table, json_t *where)
{
    return op_new("delete", table, "where", where ? where : json_array(), (char *) NULL);
}

json_t *
ovsdb_op_comment(const char *text)
{
    return json_pack("{ssss}", "op", "comment", "comment", text);
}

json_t *
ovsdb_where_eq(const char *column, json_t *value)
{
    return json_pack("[[sso]]", column, "==", value);
}

json_t *
ovsdb_mutation(const char *column, const char *mutator, json_t *value)
{
    return json_pack("[sso]", column, mutator, value);
}

json_t *
ovsdb_named_uuid(const char *name)
{
    return json_pack("[ss]", "named-uuid", name);
}

json_t *
ovsdb_uuid(const char *uuid)
{
    return json_pack("[ss]", "uuid", uuid);
}

json_t *
ovsdb_set(json_t *elements)
{
    return json_pack("[so]", "set", elements);
}

json_t *
ovsdb_set1(json_t *element)
{
    return json_pack("[s[o]]", "set", element);
}

json_t *
ovsdb_map(json_t *pairs)
{
    return json_pack("[so]", "map", pairs);
}

json_t *
ovsdb_result_rows(const json_t *result, size_t index)
{
    json_t *rows = json_object_get(json_array_get(result, index), "rows");
    return json_is_array(rows) ? rows : NULL;
}

bool
ovsdb_column_int(const json_t *row, const char *column, long long *valuep)
{
    json_t *value = json_object_get(row, column);

    if (!json_is_integer(value)) {
        return false;
    }
    *valuep = json_integer_value(value);
    return true;
}

const char *
ovsdb_column_uuid(const json_t *row, const char *column)
{
    json_t *value = json_object_get(row, column);

    if (!json_is_array(value) || json_array_size(value) != 2
        || strcmp(json_string_value(json_array_get(value, 0)) ?: "", "uuid")) {
        return NULL;
    }
    return json_string_value(json_array_get(value, 1));
}
