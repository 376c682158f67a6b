/* Fuzz target for what an OpenFlow switch sends sfclab (testbed/infra/openflow.c): the bytes
 * are split into messages and each decoded (errors described in words), then replayed as the
 * whole conversation of a connection (HELLO, FEATURES, then a flow_mod and a barrier) over a
 * socketpair whose far end has already said everything and hung up, so nothing waits. Every
 * length inside a message must be checked before it is trusted. Our xids start at 1, so an
 * input can answer them. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testbed/infra/openflow.h"
#include "vnfs/lib/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
parse_all(const uint8_t *data, size_t size)
{
    size_t len;

    while (!of_msg_frame(data, size, &len)) {
        struct of_msg msg;
        char text[160];

        if (!of_msg_parse(data, len, &msg)) {
            if (msg.type == OF_ERROR) {
                of_error_describe(&msg.u.error, text, sizeof text);
                of_msg_type_name(msg.u.error.failed_type);
            }
            of_msg_type_name(msg.type);
        }
        data += len;
        size -= len;
    }
}

static void
converse(const uint8_t *data, size_t size)
{
    struct of_conn *conn;
    struct of_flow f = { .priority = 1 };
    int fds[2];

    /* The socket buffer must hold the whole input: the far end never reads or writes again. */
    if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds)) {
        return;
    }
    if (write_fully(fds[1], data, size) || shutdown(fds[1], SHUT_WR)) {
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (!of_conn_open_fd(fds[0], 50, &conn)) {
        of_match_in_port(&f.match, 1);
        of_actions_output(&f.actions, 2);
        of_flow_add(conn, &f);
        of_barrier(conn);
        of_conn_run(conn);
        of_conn_close(conn);
    }
    close(fds[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_all(data, size);
    converse(data, size);
    return 0;
}
