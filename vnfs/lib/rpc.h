/* rpc — JSON-RPC 2.0 over a stream socket (TCP or unix), one JSON object per line, with jansson.
 *
 * The server side runs on a struct loop: it accepts connections and answers each request line
 * with one response line, calling the method from a table. Handlers run on the loop thread and
 * must not block long. The client side is a plain blocking call with a timeout, for the
 * orchestrator and for the agent talking to its roles; one call at a time per fd.
 *
 * Addresses are "HOST:PORT" (IPv4, TCP), "HOST%DEV:PORT" (a server bound to device DEV: it
 * answers nothing that arrives on another interface) or "unix:PATH". Never forks, never touches
 * files other than the unix socket it was asked to create.
 *
 * A server cannot be stalled or starved by its peers: it holds at most RPC_MAX_CONNS
 * connections (the next ones get an error line and are closed; on a keyed server, peers that
 * have not authenticated yet hold at most half of them, the oldest making room for the
 * newest), lines of at most RPC_MAX_LINE
 * bytes (a VNF's exported state travels base64 in one) and RPC_MAX_BUFFERED bytes in all; it
 * never blocks on a write (a peer that does not read its answers holds up only itself), and a
 * method that must wait answers later through rpc_defer() instead of blocking the loop.
 *
 * A keyed server (rpc_server_set_key(), a libsodium crypto_auth key) talks only to peers that
 * hold the key. It greets each connection with "SFCRPC1 <challenge>" (16 random bytes, hex);
 * the peer answers "AUTH <mac>" within RPC_PREAUTH_NS and lines of RPC_PREAUTH_MAX_LINE bytes,
 * and from then on every request and every answer is "<mac> <json>": HMAC-SHA-512/256 over the
 * challenge, a 64-bit counter (1, 2, ... per request; the answer carries its request's) and a
 * direction byte, then the JSON. A line replayed, reordered, moved to another connection or
 * signed with another key is refused and the connection dropped. The client side signs on the
 * fds given to rpc_client_auth(). Main types: struct rpc_server, struct rpc_method,
 * struct rpc_deferred. */
#ifndef SFC_RPC_H
#define SFC_RPC_H 1

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/buf.h"

struct loop;

#define RPC_MAX_LINE (64u << 20)
#define RPC_MAX_BUFFERED (96u << 20)
#define RPC_MAX_CONNS 64
#define RPC_PREAUTH_MAX_LINE 256
#define RPC_PREAUTH_NS 5000000000ull
#define RPC_KEY_BYTES 32            /* crypto_auth_hmacsha512256_KEYBYTES */
#define RPC_CHALLENGE_BYTES 16
#define RPC_MAC_HEX 64              /* crypto_auth_hmacsha512256_BYTES, in hex */
#define RPC_HELLO "SFCRPC1"

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
/* From now on, every connection must authenticate with 'key' (see above). */
void rpc_server_set_key(struct rpc_server *, const uint8_t key[RPC_KEY_BYTES]);

struct rpc_server_stats {
    size_t conns;               /* Open now. */
    size_t buffered;            /* Bytes held now. */
    uint64_t refused_conns;     /* Over RPC_MAX_CONNS. */
    uint64_t refused_memory;    /* Over a line or the buffer limit. */
    uint64_t refused_auth;      /* Without the key, or too slow to show it. */
};
void rpc_server_get_stats(const struct rpc_server *, struct rpc_server_stats *);

/* Called from a method, takes over the answer of the request being served: the method's own
 * return value and result are then ignored, and the owner answers later, exactly once, with
 * rpc_deferred_reply() (which frees the handle, and steals 'result'). NULL outside a server
 * (rpc_handle_line() for tests) or for a notification: answer as usual then. If the connection
 * closes first, the reply goes nowhere. */
struct rpc_deferred;
struct rpc_deferred *rpc_defer(void);
void rpc_deferred_reply(struct rpc_deferred *, int error, json_t *result, const char *errmsg);
bool rpc_deferred_connected(const struct rpc_deferred *);

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
/* Authenticates the connection 'fd' to a keyed server with 'key' (reads the challenge and
 * answers it); rpc_call() on 'fd' then signs every request and checks every answer. Forget the
 * fd with rpc_client_forget() when closing it (a stale entry is also dropped on its own). */
int rpc_client_auth(int fd, const uint8_t key[RPC_KEY_BYTES], int timeout_ms);
void rpc_client_forget(int fd);
/* Calls 'method' with 'params' (borrowed, may be NULL) and waits up to 'timeout_ms' for the
 * answer. Returns 0 with '*result' a new reference, ETIMEDOUT, EPROTO for a malformed answer,
 * EREMOTEIO if the server answered with an error (logged), or a socket errno. After
 * ETIMEDOUT the connection stays usable: the late answer is skipped by the next call. */
int rpc_call(int fd, const char *method, json_t *params, json_t **result, int timeout_ms);
/* As rpc_call(), but on EREMOTEIO gives the server's message in '*errmsg' (malloc'd). */
int rpc_call_err(int fd, const char *method, json_t *params, json_t **result, int timeout_ms,
                 char **errmsg);

/* The two halves of a keyed line, "<mac> <body>" (see above; 'dir' is 'Q' for a request, 'R'
 * for its answer): exposed for tests and fuzzing. rpc_auth_check() returns true and points
 * '*bodyp' at the body if 'line' carries the right MAC, false for anything else. */
void rpc_auth_sign(const uint8_t key[RPC_KEY_BYTES], const uint8_t challenge[RPC_CHALLENGE_BYTES],
                   uint64_t counter, char dir, const void *body, size_t len,
                   char mac_hex[RPC_MAC_HEX + 1]);
bool rpc_auth_check(const uint8_t key[RPC_KEY_BYTES],
                    const uint8_t challenge[RPC_CHALLENGE_BYTES], uint64_t counter, char dir,
                    const uint8_t *line, size_t len, const uint8_t **bodyp, size_t *body_lenp);

/* base64 (RFC 4648, with padding), for binary payloads inside JSON. */
char *rpc_base64_encode(const void *, size_t);
/* Returns 0 or EINVAL on a malformed string. */
int rpc_base64_decode(const char *, struct buf *out);

#endif
