/* ovsdb — a small client of the OVSDB management protocol (RFC 7047: JSON-RPC over a unix
 * socket), enough to configure a private Open vSwitch without spawning ovs-vsctl.
 *
 * One connection, one outstanding request at a time. While waiting for a reply it answers the
 * server's "echo" requests and hands notifications ("update", "locked"...) to an optional
 * callback, so a monitor never wedges a transaction. Messages are JSON values back to back on
 * the stream with no delimiter: ovsdb_frame() finds where the first one ends, so partial reads
 * and replies of any size are reassembled before jansson parses them. Every wait is bounded by
 * the connection's timeout.
 *
 * A transaction is built as struct ovsdb_ops: the operations (RFC 7047 section 5.2) plus, per
 * operation, the row count the caller expects. The server reports a mutate of a bridge that
 * does not exist as a success that matched 0 rows; ovsdb_transact() turns that into ENOENT.
 *
 * Never forks, never knows about Open vSwitch's schema (ovs.h does). Errors are positive errno
 * values; the text of the last one is kept in the connection (ovsdb_error()). Main types:
 * struct ovsdb (a connection), struct ovsdb_ops (a transaction being built). */
#ifndef SFC_OVSDB_H
#define SFC_OVSDB_H 1

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct ovsdb;

/* Row count not checked (insert, select, comment...). */
#define OVSDB_ANY_COUNT (-1)

struct ovsdb_ops {
    char *db;                   /* Database name, e.g. "Open_vSwitch". */
    json_t *ops;                /* Array of operation objects. */
    int *expect;                /* Per operation: expected "count", or OVSDB_ANY_COUNT. */
    size_t n, cap;
};

/* Connections. */
/* Connects, retrying for at most 'timeout_ms' while the socket is absent or refuses; calls on
 * the connection then wait up to the default timeout (see ovsdb_set_timeout()). */
int ovsdb_connect(const char *sock_path, int timeout_ms, struct ovsdb **);
int ovsdb_open_fd(int fd, struct ovsdb **);     /* Takes 'fd' (e.g. one end of a socketpair). */
void ovsdb_close(struct ovsdb *);
void ovsdb_set_timeout(struct ovsdb *, int timeout_ms);
const char *ovsdb_error(const struct ovsdb *);  /* Text of the last failure, "" if none. */

/* Called with each notification received while waiting for a reply; 'params' is borrowed. */
typedef void ovsdb_notify_cb(const char *method, json_t *params, void *aux);
void ovsdb_set_notify(struct ovsdb *, ovsdb_notify_cb *, void *aux);

/* One JSON-RPC call: sends {"method", "params" (stolen), "id"} and waits for the reply with that
 * id. On success *resultp owns the "result" member. A non-null "error" member fails with
 * EPROTO (and its text). */
int ovsdb_call(struct ovsdb *, const char *method, json_t *params, json_t **resultp);

/* Sends 'ops' as one "transact" and checks the reply with ovsdb_check_reply(). On success,
 * *resultp (if nonnull) owns the result array, one element per operation. */
int ovsdb_transact(struct ovsdb *, const struct ovsdb_ops *, json_t **resultp);

/* Checks a transact result against 'ops': EINVAL with the server's text if an operation or the
 * commit failed, ENOENT if an operation's count differs from what the caller expected, EPROTO
 * if the reply is malformed. On failure *errp (if nonnull) receives an allocated message. */
int ovsdb_check_reply(const struct ovsdb_ops *, const json_t *result, char **errp);

/* Framing: if 'data' starts (after whitespace) with a complete JSON object or array, stores its
 * end offset in *lenp and returns 0; EAGAIN if more bytes are needed; EPROTO if it cannot be
 * the start of a message. Strings and escapes are honoured; nothing is allocated. */
int ovsdb_frame(const char *data, size_t n, size_t *lenp);

/* Building a transaction. ovsdb_ops_add() steals 'op' and returns its index in the reply. */
void ovsdb_ops_init(struct ovsdb_ops *, const char *db);
void ovsdb_ops_uninit(struct ovsdb_ops *);
size_t ovsdb_ops_add(struct ovsdb_ops *, json_t *op, int expect_count);

/* Operations (RFC 7047 5.2). Arguments of type json_t * are stolen; NULL 'where' is "all
 * rows", NULL 'columns' is "all columns", NULL 'uuid_name' names nothing. */
json_t *ovsdb_op_insert(const char *table, json_t *row, const char *uuid_name);
json_t *ovsdb_op_select(const char *table, json_t *where, json_t *columns);
json_t *ovsdb_op_update(const char *table, json_t *where, json_t *row);
json_t *ovsdb_op_mutate(const char *table, json_t *where, json_t *mutations);
json_t *ovsdb_op_delete(const char *table, json_t *where);
json_t *ovsdb_op_comment(const char *text);

/* Values. */
json_t *ovsdb_where_eq(const char *column, json_t *value);     /* [[column, "==", value]] */
json_t *ovsdb_mutation(const char *column, const char *mutator, json_t *value);
json_t *ovsdb_named_uuid(const char *name);                     /* ["named-uuid", name] */
json_t *ovsdb_uuid(const char *uuid);                           /* ["uuid", uuid] */
json_t *ovsdb_set(json_t *elements);                            /* ["set", elements] */
json_t *ovsdb_set1(json_t *element);                            /* ["set", [element]] */
json_t *ovsdb_map(json_t *pairs);                               /* ["map", pairs] */

/* Reading results. The rows of a select at 'index' (borrowed), or NULL. */
json_t *ovsdb_result_rows(const json_t *result, size_t index);
/* An integer column that may be an empty set (["set", []]): false if it is not an integer. */
bool ovsdb_column_int(const json_t *row, const char *column, long long *valuep);
/* The uuid string of a ["uuid", "..."] column (borrowed), or NULL. */
const char *ovsdb_column_uuid(const json_t *row, const char *column);

#endif
