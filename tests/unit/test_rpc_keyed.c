/* Unit tests of the keyed JSON-RPC server and client (vnfs/lib/rpc.h) over a real unix
 * socket, the server's loop on a thread of its own: only holders of the key are served, a
 * replayed or unsigned line drops the connection, strangers cannot fill the connection table
 * or the memory, a deferred answer blocks no other caller, and an answer that came too late
 * is not taken for the next call's. */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "vnfs/lib/loop.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"

struct server_ctx {
    struct loop *loop;
    struct rpc_server *server;
    char address[108];
    volatile int stop;
    struct rpc_deferred *later;
    uint64_t later_timer;
};

static const uint8_t key[RPC_KEY_BYTES] = { 's', 'e', 'c', 'r', 'e', 't' };

static int
m_echo(void *aux, json_t *params, json_t **result, char **errmsg)
{
    *result = params ? json_incref(params) : json_null();
    return 0;
}

static void
later_fire(struct loop *loop, uint64_t timer, void *ctx_)
{
    struct server_ctx *ctx = ctx_;

    rpc_deferred_reply(ctx->later, 0, json_string("late"), NULL);
    ctx->later = NULL;
}

/* Answers 300 ms later, from a timer: meanwhile the loop serves others. */
static int
m_later(void *aux, json_t *params, json_t **result, char **errmsg)
{
    struct server_ctx *ctx = aux;

    ctx->later = rpc_defer();
    assert_non_null(ctx->later);
    loop_add_timer(ctx->loop, 300000000ull, 0, later_fire, ctx);
    return 0;
}

/* An answer far larger than a socket buffer, as an exported VNF state is. */
static int
m_big(void *aux, json_t *params, json_t **result, char **errmsg)
{
    size_t n = 20u << 20;
    char *s = xmalloc(n + 1);

    memset(s, 'a', n);
    s[n] = '\0';
    *result = json_string(s);
    free(s);
    return 0;
}

static const struct rpc_method methods[] = {
    { "echo", m_echo },
    { "later", m_later },
    { "big", m_big },
};

static void
check_stop(struct loop *loop, uint64_t timer, void *ctx_)
{
    struct server_ctx *ctx = ctx_;

    if (ctx->stop) {
        loop_stop(loop);
    }
}

static void *
server_thread(void *ctx_)
{
    struct server_ctx *ctx = ctx_;

    loop_run(ctx->loop);
    return NULL;
}

static int
setup(void **state)
{
    static struct server_ctx ctx;
    static pthread_t thread;
    static void *pair[2];

    memset(&ctx, 0, sizeof ctx);
    snprintf(ctx.address, sizeof ctx.address, "unix:/tmp/test-rpc-keyed-%d.sock",
             (int) getpid());
    assert_int_equal(loop_create(&ctx.loop), 0);
    assert_int_equal(rpc_server_create(ctx.loop, ctx.address, methods, ARRAY_SIZE(methods), &ctx,
                                       &ctx.server), 0);
    rpc_server_set_key(ctx.server, key);
    loop_add_timer(ctx.loop, 10000000, 10000000, check_stop, &ctx);
    assert_int_equal(pthread_create(&thread, NULL, server_thread, &ctx), 0);
    pair[0] = &ctx;
    pair[1] = &thread;
    *state = pair;
    return 0;
}

static int
teardown(void **state)
{
    void **pair = *state;
    struct server_ctx *ctx = pair[0];

    ctx->stop = 1;
    pthread_join(*(pthread_t *) pair[1], NULL);
    rpc_server_destroy(ctx->server);
    loop_destroy(ctx->loop);
    return 0;
}

static struct server_ctx *
ctx_of(void **state)
{
    return ((void **) *state)[0];
}

static int
connect_keyed(struct server_ctx *ctx, const uint8_t *k, int *fdp)
{
    int error = rpc_connect(ctx->address, 2000, fdp);

    if (!error && k) {
        error = rpc_client_auth(*fdp, k, 2000);
    }
    return error;
}

/* Reads one line (without '\n') into 'buf'; returns its length, or -1 at EOF/error. */
static ssize_t
read_line(int fd, char *buf, size_t size)
{
    size_t n = 0;

    while (n < size - 1) {
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0) {
            return -1;
        }
        if (buf[n] == '\n') {
            buf[n] = '\0';
            return n;
        }
        n++;
    }
    return -1;
}

static void
test_keyed_call(void **state)
{
    struct server_ctx *ctx = ctx_of(state);
    json_t *params = json_pack("{s:i}", "a", 7), *result = NULL;
    int fd;

    assert_int_equal(connect_keyed(ctx, key, &fd), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rpc_call(fd, "echo", params, &result, 2000), 0);
        assert_int_equal(json_integer_value(json_object_get(result, "a")), 7);
        json_decref(result);
    }
    assert_int_equal(rpc_call(fd, "big", NULL, &result, 20000), 0);
    assert_int_equal(json_string_length(result), 20u << 20);
    json_decref(result);
    rpc_client_forget(fd);
    close(fd);
    json_decref(params);
}

static void
test_wrong_key_and_unsigned(void **state)
{
    struct server_ctx *ctx = ctx_of(state);
    uint8_t other[RPC_KEY_BYTES] = { 'o', 't', 'h', 'e', 'r' };
    const char *req = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}\n";
    json_t *result = NULL;
    char line[256];
    int fd;

    /* Another key: the server drops us at the AUTH line. */
    assert_int_equal(connect_keyed(ctx, other, &fd), 0);
    assert_int_not_equal(rpc_call(fd, "echo", NULL, &result, 2000), 0);
    rpc_client_forget(fd);
    close(fd);

    /* No key at all: a plain request is never answered. */
    assert_int_equal(connect_keyed(ctx, NULL, &fd), 0);
    assert_true(read_line(fd, line, sizeof line) > 0);
    assert_non_null(strstr(line, RPC_HELLO));
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t) strlen(req));
    assert_int_equal(read_line(fd, line, sizeof line), -1);
    close(fd);
}

static void
test_replay(void **state)
{
    struct server_ctx *ctx = ctx_of(state);
    uint8_t challenge[RPC_CHALLENGE_BYTES];
    const char *body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"}";
    char line[512], mac[RPC_MAC_HEX + 1], out[512];
    int fd;

    /* The protocol by hand: hello, AUTH, one signed request, then the same line again. */
    assert_int_equal(connect_keyed(ctx, NULL, &fd), 0);
    assert_true(read_line(fd, line, sizeof line) > 0);
    assert_int_equal(sodium_hex2bin(challenge, sizeof challenge, line + strlen(RPC_HELLO) + 1,
                                    2 * RPC_CHALLENGE_BYTES, NULL, NULL, NULL), 0);
    rpc_auth_sign(key, challenge, 0, 'H', "", 0, mac);
    snprintf(out, sizeof out, "AUTH %s\n", mac);
    assert_int_equal(write(fd, out, strlen(out)), (ssize_t) strlen(out));
    rpc_auth_sign(key, challenge, 1, 'Q', body, strlen(body), mac);
    snprintf(out, sizeof out, "%s %s\n", mac, body);
    assert_int_equal(write(fd, out, strlen(out)), (ssize_t) strlen(out));
    assert_true(read_line(fd, line, sizeof line) > 0);
    assert_non_null(strstr(line, "\"result\""));
    assert_int_equal(write(fd, out, strlen(out)), (ssize_t) strlen(out));
    assert_int_equal(read_line(fd, line, sizeof line), -1);
    close(fd);
}

static void
test_strangers_bounded(void **state)
{
    struct server_ctx *ctx = ctx_of(state);
    int fds[RPC_MAX_CONNS + 8];
    char junk[4096];
    json_t *result = NULL;
    int fd, n = 0;

    /* More idle strangers than the table holds, one of them sending a long line: the key
     * holder still gets through, and the long line costs its sender the connection. */
    memset(junk, 'x', sizeof junk);
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
        if (!rpc_connect(ctx->address, 2000, &fds[n])) {
            n++;
        }
    }
    assert_true(n > RPC_MAX_CONNS / 2);
    if (write(fds[n - 1], junk, sizeof junk) < 0) {
        /* Already pushed out: fine. */
    }
    assert_int_equal(connect_keyed(ctx, key, &fd), 0);
    assert_int_equal(rpc_call(fd, "echo", NULL, &result, 2000), 0);
    json_decref(result);
    rpc_client_forget(fd);
    close(fd);
    for (int i = 0; i < n; i++) {
        close(fds[i]);
    }
}

struct later_call {
    struct server_ctx *ctx;
    int error;
    uint64_t done_ns;
};

static void *
call_later(void *lc_)
{
    struct later_call *lc = lc_;
    json_t *result = NULL;
    int fd;

    lc->error = connect_keyed(lc->ctx, key, &fd);
    if (!lc->error) {
        lc->error = rpc_call(fd, "later", NULL, &result, 3000);
        if (!lc->error && strcmp(json_string_value(result) ?: "", "late")) {
            lc->error = EPROTO;
        }
        json_decref(result);
        rpc_client_forget(fd);
        close(fd);
    }
    lc->done_ns = time_mono_ns();
    return NULL;
}

static void
test_deferred_blocks_nobody(void **state)
{
    struct later_call lc = { .ctx = ctx_of(state) };
    json_t *result = NULL;
    uint64_t echoed_ns;
    pthread_t t;
    int fd;

    assert_int_equal(pthread_create(&t, NULL, call_later, &lc), 0);
    usleep(50000);
    assert_int_equal(connect_keyed(lc.ctx, key, &fd), 0);
    assert_int_equal(rpc_call(fd, "echo", NULL, &result, 2000), 0);
    echoed_ns = time_mono_ns();
    json_decref(result);
    rpc_client_forget(fd);
    close(fd);
    pthread_join(t, NULL);
    assert_int_equal(lc.error, 0);
    /* An order, not a duration: the echo came back while "later" still waited. */
    assert_true(echoed_ns < lc.done_ns);
}

static void
test_late_answer_skipped(void **state)
{
    struct server_ctx *ctx = ctx_of(state);
    json_t *params = json_pack("{s:i}", "a", 9), *result = NULL;
    int fd;

    /* "later" answers after 300 ms: the call gives up first. The echo that follows is
     * answered before the late answer arrives; the one after that, behind it. */
    assert_int_equal(connect_keyed(ctx, key, &fd), 0);
    assert_int_equal(rpc_call(fd, "later", NULL, &result, 50), ETIMEDOUT);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(rpc_call(fd, "echo", params, &result, 2000), 0);
        assert_int_equal(json_integer_value(json_object_get(result, "a")), 9);
        json_decref(result);
        usleep(500000);
    }
    rpc_client_forget(fd);
    close(fd);
    json_decref(params);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyed_call),
        cmocka_unit_test(test_wrong_key_and_unsigned),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_strangers_bounded),
        cmocka_unit_test(test_deferred_blocks_nobody),
        cmocka_unit_test(test_late_answer_skipped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
