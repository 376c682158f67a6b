/* Unit tests of testbed/infra/ovsdb: framing, reply checking, and the JSON-RPC exchange against
 * a scripted peer on a socketpair (no ovsdb-server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testbed/infra/ovsdb.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

/* Framing. */

static void
test_frame_complete_and_partial(void **state)
{
    const char *msg = " \n{\"a\":[1,{\"b\":\"}]\\\"{\"}],\"c\":\"\\\\\"}{\"next\":1}";
    size_t full = strlen(" \n{\"a\":[1,{\"b\":\"}]\\\"{\"}],\"c\":\"\\\\\"}");
    size_t len = 0;

    assert_int_equal(ovsdb_frame(msg, strlen(msg), &len), 0);
    assert_int_equal(len, full);
    /* Every proper prefix is incomplete, never a wrong frame. */
    for (size_t i = 0; i < full; i++) {
        len = 12345;
        assert_int_equal(ovsdb_frame(msg, i, &len), EAGAIN);
        assert_int_equal(len, 12345);
    }
    /* The second message follows directly. */
    assert_int_equal(ovsdb_frame(msg + full, strlen(msg) - full, &len), 0);
    assert_int_equal(len, strlen("{\"next\":1}"));
}

static void
test_frame_rejects_junk(void **state)
{
    size_t len;

    assert_int_equal(ovsdb_frame("hello", 5, &len), EPROTO);
    assert_int_equal(ovsdb_frame("42", 2, &len), EPROTO);
    assert_int_equal(ovsdb_frame("\"str\"", 5, &len), EPROTO);
    assert_int_equal(ovsdb_frame("]", 1, &len), EPROTO);
    assert_int_equal(ovsdb_frame("   ", 3, &len), EAGAIN);
    assert_int_equal(ovsdb_frame("[]", 2, &len), 0);
    assert_int_equal(len, 2);
}

/* Random nested JSON, dumped by jansson: the frame found must be the whole document, and
 * random bytes must never be read out of bounds (ASan watches). */
static json_t *
random_json(unsigned *seed, int depth)
{
    static const char *const strings[] = { "", "x", "}", "]", "\\", "\"", "{[", "a\"b}" };
    int kind = rand_r(seed) % (depth > 3 ? 3 : 5);

    switch (kind) {
    case 0: return json_integer(rand_r(seed) % 1000);
    case 1: return json_string(strings[rand_r(seed) % ARRAY_SIZE(strings)]);
    case 2: return json_null();
    case 3: {
        json_t *a = json_array();
        for (int i = rand_r(seed) % 4; i > 0; i--) {
            json_array_append_new(a, random_json(seed, depth + 1));
        }
        return a;
    }
    default: {
        json_t *o = json_object();
        for (int i = rand_r(seed) % 4; i > 0; i--) {
            char key[32];
            snprintf(key, sizeof key, "%s%d", strings[rand_r(seed) % ARRAY_SIZE(strings)], i);
            json_object_set_new(o, key, random_json(seed, depth + 1));
        }
        return o;
    }
    }
}

static void
test_frame_random(void **state)
{
    unsigned seed = 7;

    for (int iter = 0; iter < 2000; iter++) {
        json_t *doc = json_object();
        char *text, *bytes;
        size_t len, n;

        json_object_set_new(doc, "v", random_json(&seed, 0));
        text = json_dumps(doc, iter % 2 ? JSON_COMPACT : JSON_INDENT(1));
        n = strlen(text);
        assert_int_equal(ovsdb_frame(text, n, &len), 0);
        assert_int_equal(len, n);
        assert_int_equal(ovsdb_frame(text, n - 1 - rand_r(&seed) % n, &len), EAGAIN);
        free(text);
        json_decref(doc);

        /* Junk: only the return codes are defined; a frame must lie inside the input. */
        n = rand_r(&seed) % 64;
        bytes = xmalloc(n);
        for (size_t i = 0; i < n; i++) {
            bytes[i] = "{}[]\"\\ a"[rand_r(&seed) % 8];
        }
        if (!ovsdb_frame(bytes, n, &len)) {
            assert_true(len <= n);
        }
        free(bytes);
    }
}

/* Reply checking. */

static void
build_ops(struct ovsdb_ops *ops)
{
    ovsdb_ops_init(ops, "Open_vSwitch");
    ovsdb_ops_add(ops, ovsdb_op_insert("Interface", json_pack("{ss}", "name", "p0"), "i0"),
                  OVSDB_ANY_COUNT);
    ovsdb_ops_add(ops, ovsdb_op_mutate("Bridge", ovsdb_where_eq("name", json_string("data")),
                                       json_pack("[o]", ovsdb_mutation("ports", "insert",
                                                                       ovsdb_set1(ovsdb_named_uuid("i0"))))),
                  1);
}

static int
check(const struct ovsdb_ops *ops, const char *reply, char **errp)
{
    json_t *result = json_loads(reply, 0, NULL);
    int error;

    assert_non_null(result);
    error = ovsdb_check_reply(ops, result, errp);
    json_decref(result);
    return error;
}

static void
test_check_reply(void **state)
{
    struct ovsdb_ops ops;
    char *err = NULL;

    build_ops(&ops);
    assert_int_equal(ops.n, 2);

    assert_int_equal(check(&ops, "[{\"uuid\":[\"uuid\",\"1\"]},{\"count\":1}]", &err), 0);
    assert_null(err);

    /* A wrong bridge name: the server says success, with count 0. */
    assert_int_equal(check(&ops, "[{\"uuid\":[\"uuid\",\"1\"]},{\"count\":0}]", &err), ENOENT);
    assert_non_null(strstr(err, "operation 1 (mutate on Bridge) matched 0 rows, expected 1"));
    free(err);

    /* An operation's error, and the null results after it. */
    assert_int_equal(check(&ops, "[{\"error\":\"constraint violation\",\"details\":\"dup\"},null]",
                           &err), EINVAL);
    assert_non_null(strstr(err, "operation 0 (insert on Interface) failed: "
                                "constraint violation: dup"));
    free(err);

    /* The commit's error comes as an extra element. */
    assert_int_equal(check(&ops, "[{\"uuid\":[\"uuid\",\"1\"]},{\"count\":1},"
                                 "{\"error\":\"referential integrity violation\"}]", &err),
                     EINVAL);
    assert_non_null(strstr(err, "commit failed: referential integrity violation"));
    free(err);

    /* Malformed replies. */
    assert_int_equal(check(&ops, "{\"count\":1}", &err), EPROTO);
    free(err);
    assert_int_equal(check(&ops, "[{\"uuid\":[\"uuid\",\"1\"]}]", &err), EPROTO);
    free(err);
    assert_int_equal(check(&ops, "[{\"uuid\":[\"uuid\",\"1\"]},{}]", &err), EPROTO);
    free(err);
    assert_int_equal(check(&ops, "[{\"uuid\":[\"uuid\",\"1\"]},3]", NULL), EPROTO);

    ovsdb_ops_uninit(&ops);
}

static void
test_result_helpers(void **state)
{
    json_t *result = json_loads("[{\"rows\":[{\"_uuid\":[\"uuid\",\"abc\"],\"ofport\":3,"
                                "\"name\":\"p\",\"none\":[\"set\",[]]}]},{\"count\":1}]",
                                0, NULL);
    json_t *rows = ovsdb_result_rows(result, 0);
    long long v = -5;

    assert_non_null(rows);
    assert_null(ovsdb_result_rows(result, 1));
    assert_null(ovsdb_result_rows(result, 7));
    assert_string_equal(ovsdb_column_uuid(json_array_get(rows, 0), "_uuid"), "abc");
    assert_null(ovsdb_column_uuid(json_array_get(rows, 0), "name"));
    assert_true(ovsdb_column_int(json_array_get(rows, 0), "ofport", &v));
    assert_int_equal(v, 3);
    assert_false(ovsdb_column_int(json_array_get(rows, 0), "none", &v));
    assert_int_equal(v, 3);
    json_decref(result);
}

/* The exchange, against a scripted peer. */

struct peer {
    int fd;
    const char *const *before;  /* Messages sent before the reply (notifications, echo). */
    const char *reply;          /* "@ID@" stands for the request's id. NULL: no reply. */
    size_t chunk;               /* Write the reply this many bytes at a time. */
    bool close_after;           /* Close instead of replying. */
    /* What the peer saw. */
    char *request_method;
    json_t *request_params;
    json_t *echo_reply;
};

static json_t *
peer_read(struct peer *p, struct buf *rx)
{
    for (;;) {
        size_t len;
        json_t *msg;
        ssize_t n;

        if (rx->len && !ovsdb_frame((char *) rx->data, rx->len, &len)) {
            msg = json_loadb((char *) rx->data, len, 0, NULL);
            memmove(rx->data, rx->data + len, rx->len - len);
            rx->len -= len;
            return msg;
        }
        buf_reserve(rx, 4096);
        n = read(p->fd, rx->data + rx->len, rx->cap - rx->len);
        if (n <= 0) {
            return NULL;
        }
        rx->len += n;
    }
}

/* 'reply' with its "@ID@" replaced by the request's id. */
static char *
with_id(const char *reply, long long id)
{
    const char *at = strstr(reply, "@ID@");
    return at ? xasprintf("%.*s%lld%s", (int) (at - reply), reply, id, at + 4)
              : xstrdup(reply);
}

static void *
peer_main(void *p_)
{
    struct peer *p = p_;
    struct buf rx = BUF_INITIALIZER;
    json_t *req = peer_read(p, &rx);
    bool sent_echo = false;
    char *reply;

    if (!req) {
        goto out;
    }
    p->request_method = xstrdup(json_string_value(json_object_get(req, "method")) ?: "");
    p->request_params = json_incref(json_object_get(req, "params"));
    for (const char *const *m = p->before; m && *m; m++) {
        write_fully(p->fd, *m, strlen(*m));
        sent_echo |= strstr(*m, "\"echo\"") != NULL;
    }
    if (p->close_after) {
        shutdown(p->fd, SHUT_RDWR);
        goto out;
    }
    if (p->reply) {
        reply = with_id(p->reply, json_integer_value(json_object_get(req, "id")));
        for (size_t ofs = 0, n = strlen(reply); ofs < n; ofs += p->chunk) {
            write_fully(p->fd, reply + ofs, MIN(p->chunk, n - ofs));
        }
        free(reply);
    }
    if (sent_echo) {
        p->echo_reply = peer_read(p, &rx);
    }
out:
    json_decref(req);
    buf_uninit(&rx);
    return NULL;
}

struct exchange {
    struct ovsdb *db;
    struct peer peer;
    pthread_t thread;
    int notifications;
};

static void
count_notification(const char *method, json_t *params, void *aux)
{
    struct exchange *x = aux;
    if (!strcmp(method, "update")) {
        x->notifications++;
    }
}

static void
exchange_start(struct exchange *x, const struct peer *script)
{
    int fds[2];

    memset(x, 0, sizeof *x);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    assert_int_equal(ovsdb_open_fd(fds[0], &x->db), 0);
    ovsdb_set_notify(x->db, count_notification, x);
    ovsdb_set_timeout(x->db, 5000);
    x->peer = *script;
    x->peer.fd = fds[1];
    if (!x->peer.chunk) {
        x->peer.chunk = 1 << 20;
    }
    assert_int_equal(pthread_create(&x->thread, NULL, peer_main, &x->peer), 0);
}

static void
exchange_finish(struct exchange *x)
{
    /* Closing our end first unblocks a peer still waiting to read. */
    ovsdb_close(x->db);
    pthread_join(x->thread, NULL);
    close(x->peer.fd);
    free(x->peer.request_method);
    json_decref(x->peer.request_params);
    json_decref(x->peer.echo_reply);
}

static void
test_transact_interleaved_partial(void **state)
{
    static const char *const before[] = {
        "{\"method\":\"update\",\"params\":[null,{}],\"id\":null}",
        "{\"method\":\"echo\",\"params\":[\"ping\"],\"id\":\"echo\"}",
        /* A stale reply to some earlier request is dropped. */
        "{\"result\":[],\"error\":null,\"id\":99999}",
        NULL,
    };
    struct peer script = {
        .before = before,
        .reply = "{\"id\":@ID@,\"error\":null,\"result\":"
                 "[{\"uuid\":[\"uuid\",\"u1\"]},{\"count\":1}]}",
        .chunk = 1,
    };
    struct exchange x;
    struct ovsdb_ops ops;
    json_t *result = NULL;

    build_ops(&ops);
    exchange_start(&x, &script);
    assert_int_equal(ovsdb_transact(x.db, &ops, &result), 0);
    assert_int_equal(json_array_size(result), 2);
    assert_int_equal(x.notifications, 1);
    ovsdb_close(x.db);
    x.db = NULL;
    pthread_join(x.thread, NULL);

    /* The request was one transact of the database and both operations. */
    assert_string_equal(x.peer.request_method, "transact");
    assert_int_equal(json_array_size(x.peer.request_params), 3);
    assert_string_equal(json_string_value(json_array_get(x.peer.request_params, 0)),
                        "Open_vSwitch");
    /* The echo was answered with its own id and params. */
    assert_non_null(x.peer.echo_reply);
    assert_string_equal(json_string_value(json_object_get(x.peer.echo_reply, "id")), "echo");
    assert_string_equal(json_string_value(json_array_get(
                            json_object_get(x.peer.echo_reply, "result"), 0)), "ping");

    close(x.peer.fd);
    free(x.peer.request_method);
    json_decref(x.peer.request_params);
    json_decref(x.peer.echo_reply);
    json_decref(result);
    ovsdb_ops_uninit(&ops);
}

static void
test_transact_count_mismatch(void **state)
{
    struct peer script = {
        .reply = "{\"id\":@ID@,\"error\":null,\"result\":"
                 "[{\"uuid\":[\"uuid\",\"u1\"]},{\"count\":0}]}",
    };
    struct exchange x;
    struct ovsdb_ops ops;
    json_t *result = NULL;

    build_ops(&ops);
    exchange_start(&x, &script);
    assert_int_equal(ovsdb_transact(x.db, &ops, &result), ENOENT);
    assert_null(result);
    assert_non_null(strstr(ovsdb_error(x.db), "matched 0 rows, expected 1"));
    exchange_finish(&x);
    ovsdb_ops_uninit(&ops);
}

static void
test_transact_error_reply(void **state)
{
    struct peer script = {
        .reply = "{\"id\":@ID@,\"result\":null,\"error\":{\"error\":\"unknown database\","
                 "\"details\":\"get_schema: unknown database\"}}",
    };
    struct exchange x;
    struct ovsdb_ops ops;
    json_t *result = NULL;

    build_ops(&ops);
    exchange_start(&x, &script);
    assert_int_equal(ovsdb_transact(x.db, &ops, &result), EPROTO);
    assert_non_null(strstr(ovsdb_error(x.db), "unknown database"));
    exchange_finish(&x);
    ovsdb_ops_uninit(&ops);
}

static void
test_transact_op_error(void **state)
{
    struct peer script = {
        .reply = "{\"id\":@ID@,\"error\":null,\"result\":[{\"error\":\"constraint violation\","
                 "\"details\":\"duplicate name\"},null]}",
    };
    struct exchange x;
    struct ovsdb_ops ops;

    build_ops(&ops);
    exchange_start(&x, &script);
    assert_int_equal(ovsdb_transact(x.db, &ops, NULL), EINVAL);
    assert_non_null(strstr(ovsdb_error(x.db), "duplicate name"));
    exchange_finish(&x);
    ovsdb_ops_uninit(&ops);
}

/* A reply far larger than a socket buffer arrives in many reads. */
static void
test_transact_large_reply(void **state)
{
    struct buf fmt = BUF_INITIALIZER;
    struct exchange x;
    struct ovsdb_ops ops;
    json_t *result = NULL;
    struct peer script;
    const int n_rows = 40000;

    buf_printf(&fmt, "{\"id\":@ID@,\"error\":null,\"result\":[{\"rows\":[");
    for (int i = 0; i < n_rows; i++) {
        buf_printf(&fmt, "%s{\"name\":\"port%d\",\"ofport\":%d}", i ? "," : "", i, i + 1);
    }
    buf_printf(&fmt, "]}]}");
    buf_put_u8(&fmt, 0);
    memset(&script, 0, sizeof script);
    script.reply = (char *) fmt.data;
    script.chunk = 65536 + 17;

    ovsdb_ops_init(&ops, "Open_vSwitch");
    ovsdb_ops_add(&ops, ovsdb_op_select("Interface", NULL, NULL), OVSDB_ANY_COUNT);
    exchange_start(&x, &script);
    assert_int_equal(ovsdb_transact(x.db, &ops, &result), 0);
    assert_int_equal(json_array_size(ovsdb_result_rows(result, 0)), n_rows);
    exchange_finish(&x);
    json_decref(result);
    ovsdb_ops_uninit(&ops);
    buf_uninit(&fmt);
}

static void
test_transact_timeout_and_close(void **state)
{
    struct peer silent = { .reply = NULL };
    struct peer closing = { .close_after = true };
    struct exchange x;
    struct ovsdb_ops ops;

    build_ops(&ops);
    exchange_start(&x, &silent);
    ovsdb_set_timeout(x.db, 50);
    assert_int_equal(ovsdb_transact(x.db, &ops, NULL), ETIMEDOUT);
    assert_non_null(strstr(ovsdb_error(x.db), "timed out"));
    exchange_finish(&x);

    exchange_start(&x, &closing);
    assert_int_equal(ovsdb_transact(x.db, &ops, NULL), ECONNRESET);
    exchange_finish(&x);

    /* Junk on the wire is a protocol error, not a hang. */
    {
        static const char *const junk[] = { "HTTP/1.1 400 Bad Request\r\n", NULL };
        struct peer p = { .before = junk };
        exchange_start(&x, &p);
        assert_int_equal(ovsdb_transact(x.db, &ops, NULL), EPROTO);
        exchange_finish(&x);
    }
    ovsdb_ops_uninit(&ops);
}

static void
test_connect_missing_socket(void **state)
{
    struct ovsdb *db = NULL;
    char path[] = "/tmp/sfct-ovs-unit-XXXXXX";
    char *sock;

    assert_non_null(mkdtemp(path));
    sock = xasprintf("%s/db.sock", path);
    assert_int_equal(ovsdb_connect(sock, 20, &db), ENOENT);
    assert_null(db);
    free(sock);
    rmdir(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_complete_and_partial),
        cmocka_unit_test(test_frame_rejects_junk),
        cmocka_unit_test(test_frame_random),
        cmocka_unit_test(test_check_reply),
        cmocka_unit_test(test_result_helpers),
        cmocka_unit_test(test_transact_interleaved_partial),
        cmocka_unit_test(test_transact_count_mismatch),
        cmocka_unit_test(test_transact_error_reply),
        cmocka_unit_test(test_transact_op_error),
        cmocka_unit_test(test_transact_large_reply),
        cmocka_unit_test(test_transact_timeout_and_close),
        cmocka_unit_test(test_connect_missing_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
