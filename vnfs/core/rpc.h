/* rpc — JSON-RPC 2.0 over a stream socket (TCP or unix), one JSON object per line, with jansson.
 *
 * The server side runs on a struct loop: it accepts connections and answers each request line
 * with one response line, calling the method from a table. Handlers run on the loop thread and
 * must not block long. The client side is a plain blocking call with a timeout, for the
 * orchestrator and for the agent talking to its roles; one call at a time per fd.
 *
 * Addresses are "HOST:PORT" (IPv4, TCP) or "unix:PATH". Lines are limited to RPC_MAX_LINE bytes
 * (a VNF's exported state travels base64 in one). Never forks, never touches files other than
 * the unix socket it was asked to create. Main types: struct rpc_server, struct rpc_method. */
#ifndef SFC_RPC_H
#define SFC_RPC_H 1

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "vnfs/core/buf.h"

struct loop;

#define RPC_MAX_LINE (64u << 20)

/* JSON-RPC 2.0 error codes. */
#define RPC_PARSE_ERROR      -32700
#define RPC_INVALID_REQUEST  -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS   -32602
#define RPC_SERVER_ERROR     -32000

/* A method: takes 'params' (borrowed; may be NULL), sets '*result' (a new reference) and
 * returns 0, or returns EINVAL for bad params or another errno, optionally with a malloc'd
 * message in '*errmsg'. */
typedef int rpc_method_cb(void *aux, json_t *params, json_t **result, char **errmsg);

struct rpc_method {
    const char *name;
    rpc_method_cb *cb;
};

struct rpc_server;

/* Listens on 'address' and serves 'methods' (the array must outlive the server). A unix socket
 * path is unlinked first only if it is a stale socket, and unlinked again on destroy. */
int rpc_server_create(struct loop *, const char *address, const struct rpc_method *methods,
                      size_t n_methods, void *aux, struct rpc_server **);
void rpc_server_destroy(struct rpc_server *);

/* Answers one request line: appends the response line (with its '\n') to 'reply', or nothing
 * for a notification. Exposed for tests; the server calls it for every line. */
void rpc_handle_line(const struct rpc_method *, size_t n_methods, void *aux,
                     const char *line, size_t len, struct buf *reply);

/* Splits the first complete line off 'in': returns its length (without '\n') in '*len' and true,
 * or false if no newline has arrived yet. Consume it with rpc_consume_line(). */
bool rpc_next_line(const struct buf *in, size_t *len);
void rpc_consume_line(struct buf *in, size_t len);

/* Client. */
int rpc_connect(const char *address, int timeout_ms, int *fdp);
/* Calls 'method' with 'params' (borrowed, may be NULL) and waits up to 'timeout_ms' for the
 * answer. Returns 0 with '*result' a new reference, ETIMEDOUT, EPROTO for a malformed answer,
 * EREMOTEIO if the server answered with an error (logged), or a socket errno. */
int rpc_call(int fd, const char *method, json_t *params, json_t **result, int timeout_ms);
/* As rpc_call(), but on EREMOTEIO gives the server's message in '*errmsg' (malloc'd). */
int rpc_call_err(int fd, const char *method, json_t *params, json_t **result, int timeout_ms,
                 char **errmsg);

/* base64 (RFC 4648, with padding), for binary payloads inside JSON. */
char *rpc_base64_encode(const void *, size_t);
/* Returns 0 or EINVAL on a malformed string. */
int rpc_base64_decode(const char *, struct buf *out);

#endif
