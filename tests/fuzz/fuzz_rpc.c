/* Fuzz target for the JSON-RPC request handling every agent and role control socket runs on
 * whatever the management network delivers (vnfs/core/rpc.c): any line must get exactly one
 * well-formed JSON reply line (or none, for a notification), and splitting a byte stream into
 * lines must stay in bounds. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/core/buf.h"
#include "vnfs/core/rpc.h"

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
    struct buf in = BUF_INITIALIZER, reply = BUF_INITIALIZER;
    size_t len;

    buf_put(&in, data, size);
    while (rpc_next_line(&in, &len)) {
        size_t before = reply.len;

        if (len > in.len) {
            abort();
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
