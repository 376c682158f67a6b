/* Fuzz target for the JSON-RPC request handling every agent and role control socket runs on
 * whatever the management network delivers (vnfs/lib/rpc.c): any line must get exactly one
 * well-formed JSON reply line (or none, for a notification), and splitting a byte stream into
 * lines must stay in bounds. The keyed servers' MAC check takes the same lines: it must stay in
 * bounds, and accept a line signed for its counter and direction and nothing else. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/rpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
echo_params(void *aux, json_t *params, json_t **result, char **errmsg)
{
    if (params && !json_is_object(params) && !json_is_array(params)) {
        *errmsg = strdup("params must be structured");
        return EINVAL;
    }
    *result = params ? json_incref(params) : json_null();
    return 0;
}

static int
fail(void *aux, json_t *params, json_t **result, char **errmsg)
{
    return EIO;
}

static const struct rpc_method methods[] = {
    { "echo", echo_params },
    { "fail", fail },
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[RPC_KEY_BYTES] = { 1, 2, 3 };
    static const uint8_t challenge[RPC_CHALLENGE_BYTES] = { 4, 5, 6 };
    struct buf in = BUF_INITIALIZER, reply = BUF_INITIALIZER;
    size_t len;

    buf_put(&in, data, size);
    while (rpc_next_line(&in, &len)) {
        size_t before = reply.len;
        const uint8_t *body;
        size_t body_len;

        if (len > in.len) {
            abort();
        }
        /* A keyed server's check of the line: what it accepts, it accepts in bounds; and the
         * same body signed with the key is accepted, for this counter only. */
        if (rpc_auth_check(key, challenge, 1, 'Q', in.data, len, &body, &body_len)
            && (body < in.data || body + body_len > in.data + len)) {
            abort();
        }
        if (len > RPC_MAC_HEX + 1) {
            struct buf signed_line = BUF_INITIALIZER;
            char mac[RPC_MAC_HEX + 1];

            rpc_auth_sign(key, challenge, 7, 'Q', in.data, len, mac);
            buf_put(&signed_line, mac, RPC_MAC_HEX);
            buf_put_u8(&signed_line, ' ');
            buf_put(&signed_line, in.data, len);
            if (!rpc_auth_check(key, challenge, 7, 'Q', signed_line.data, signed_line.len,
                                &body, &body_len)
                || body_len != len
                || rpc_auth_check(key, challenge, 8, 'Q', signed_line.data, signed_line.len,
                                  &body, &body_len)
                || rpc_auth_check(key, challenge, 7, 'R', signed_line.data, signed_line.len,
                                  &body, &body_len)) {
                abort();
            }
            buf_uninit(&signed_line);
        }
        rpc_handle_line(methods, 2, NULL, (const char *) in.data, len, &reply);
        if (reply.len > before) {
            json_error_t err;
            json_t *j;

            /* One line, newline-terminated, that parses as a JSON-RPC 2.0 response. */
            if (reply.data[reply.len - 1] != '\n'
                || memchr(reply.data + before, '\n', reply.len - before - 1)) {
                abort();
            }
            j = json_loadb((const char *) reply.data + before, reply.len - before - 1, 0, &err);
            if (!j || !json_is_object(j)
                || (!json_object_get(j, "result") && !json_object_get(j, "error"))) {
                abort();
            }
            json_decref(j);
        }
        rpc_consume_line(&in, len);
    }
    buf_uninit(&in);
    buf_uninit(&reply);
    return 0;
}
