/* echo — a UDP echo server: the far end of the benchmark's bare path (client -> switch -> echo)
 * and of chains of fwd VNFs. An ordinary UDP socket: echo is an end host, not a chain
 * component. Batches with recvmmsg/sendmmsg. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vnfs/lib/loop.h"
#include "vnfs/lib/pktio.h"
#include "vnfs/lib/util.h"
#include "vnfs/sfc/role.h"
#include "vnfs/sfc/roles.h"

#define ECHO_BATCH 32
#define ECHO_MAX 65536

struct echo {
    struct role role;
    int fd;
    uint8_t (*bufs)[ECHO_MAX];
    uint64_t n_echoed, n_bytes, n_errors;
};

static void
echo_readable(struct loop *loop, int fd, uint32_t events, void *e_)
{
    struct echo *e = e_;
    struct mmsghdr msgs[ECHO_BATCH];
    struct iovec iov[ECHO_BATCH];
    struct sockaddr_in from[ECHO_BATCH];
    /* Replies leave from the address the request was sent to (IP_PKTINFO), not the interface's
     * primary one: a guest may serve several addresses. */
    union {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
    } control[ECHO_BATCH];

    for (int round = 0; round < 8; round++) {
        int n, sent;

        memset(msgs, 0, sizeof msgs);
        for (int i = 0; i < ECHO_BATCH; i++) {
            iov[i].iov_base = e->bufs[i];
            iov[i].iov_len = ECHO_MAX;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &from[i];
            msgs[i].msg_hdr.msg_namelen = sizeof from[i];
            msgs[i].msg_hdr.msg_control = control[i].buf;
            msgs[i].msg_hdr.msg_controllen = sizeof control[i].buf;
        }
        n = recvmmsg(fd, msgs, ECHO_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            break;
        }
        for (int i = 0; i < n; i++) {
            struct cmsghdr *cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr);
            if (cm && cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
                struct in_pktinfo *pi = (struct in_pktinfo *) CMSG_DATA(cm);
                pi->ipi_spec_dst = pi->ipi_addr;
                pi->ipi_ifindex = 0;
            } else {
                msgs[i].msg_hdr.msg_control = NULL;
                msgs[i].msg_hdr.msg_controllen = 0;
            }
            iov[i].iov_len = msgs[i].msg_len;
            e->n_bytes += msgs[i].msg_len;
        }
        for (int done = 0; done < n; done += sent) {
            sent = sendmmsg(fd, msgs + done, n - done, 0);
            if (sent <= 0) {
                e->n_errors += n - done;
                break;
            }
            e->n_echoed += sent;
        }
        if (n < ECHO_BATCH) {
            break;                      /* Dry; epoll is level-triggered. */
        }
    }
}

static void
usage(void)
{
    printf("usage: sfcd echo [--iface IF] [--port P]\n"
           "  --port P        UDP port (default 7)\n"
           ROLE_COMMON_USAGE);
}

int
role_echo(int argc, char *argv[])
{
    static const struct option options[] = {
        { "port", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        ROLE_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    struct sockaddr_in sin = { .sin_family = AF_INET };
    int opt, rc = 2, bufsize = 4 << 20, one = 1;
    unsigned long port = 7;
    struct echo e;
    char *end;

    memset(&e, 0, sizeof e);
    e.fd = -1;
    role_init_common(&e.role, "echo");
    e.role.aux = &e;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'p':
            port = strtoul(optarg, &end, 10);
            if (*end || !port || port > 65535) {
                fprintf(stderr, "sfcd echo: --port: '%s' is not a port\n", optarg);
                goto out;
            }
            break;
        default:
            if (role_parse_option(&e.role, opt, optarg, usage, &rc)) {
                goto out;
            }
        }
    }
    if (optind != argc) {
        usage();
        goto out;
    }
    rc = 1;
    e.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (e.fd < 0) {
        log_err("socket: %s", strerror(errno));
        goto out;
    }
    if (e.role.iface) {
        pktio_set_tx_csum(e.role.iface, false);
        if (setsockopt(e.fd, SOL_SOCKET, SO_BINDTODEVICE, e.role.iface,
                       strlen(e.role.iface) + 1) < 0) {
            log_err("%s: %s", e.role.iface, strerror(errno));
            goto out;
        }
    }
    setsockopt(e.fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
    setsockopt(e.fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
    sin.sin_port = htons(port);
    if (bind(e.fd, (struct sockaddr *) &sin, sizeof sin) < 0) {
        log_err("bind port %lu: %s", port, strerror(errno));
        goto out;
    }
    e.bufs = xmalloc(sizeof *e.bufs * ECHO_BATCH);
    role_add_counter(&e.role, "echoed", &e.n_echoed);
    role_add_counter(&e.role, "bytes", &e.n_bytes);
    role_add_counter(&e.role, "errors", &e.n_errors);
    rc = role_serve_fd(&e.role, e.fd, echo_readable);
out:
    role_finish(&e.role);
    if (e.fd >= 0) {
        close(e.fd);
    }
    free(e.bufs);
    return rc;
}
