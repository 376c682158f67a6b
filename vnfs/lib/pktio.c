#include "vnfs/lib/pktio.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vnfs/lib/util.h"

#define SLOT_SIZE (PKTIO_HEADROOM + PKTIO_FRAME_MAX)

struct pktio {
    int fd;
    int ifindex;
    char name[IF_NAMESIZE];
    uint8_t mac[6];
    uint8_t *slots;                     /* PKTIO_BATCH receive slots of SLOT_SIZE bytes. */
    struct mmsghdr rx_msgs[PKTIO_BATCH];
    struct iovec rx_iov[PKTIO_BATCH];
    struct mmsghdr tx_msgs[PKTIO_BATCH];
    struct iovec tx_iov[PKTIO_BATCH];
    size_t n_tx;
    uint8_t *tx_copies;                 /* PKTIO_BATCH copies of PKTIO_FRAME_MAX bytes, made on
                                         * the first pktio_queue_copy(). */
    struct pktio_stats stats;
    bool rx_backlog;                    /* The last receive filled its batch. */
};

static int
ifreq_ioctl(const char *ifname, unsigned long req, struct ifreq *ifr)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int error = 0;

    if (fd < 0) {
        return errno;
    }
    if (strlen(ifname) >= sizeof ifr->ifr_name) {
        error = ENAMETOOLONG;
        goto out;
    }
    strcpy(ifr->ifr_name, ifname);
    if (ioctl(fd, req, ifr) < 0) {
        error = errno;
    }
out:
    close(fd);
    return error;
}

int
pktio_get_mac(const char *ifname, uint8_t mac[6])
{
    struct ifreq ifr;
    int error;

    memset(&ifr, 0, sizeof ifr);
    error = ifreq_ioctl(ifname, SIOCGIFHWADDR, &ifr);
    if (!error) {
        memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    }
    return error;
}

int
pktio_set_tx_csum(const char *ifname, bool on)
{
    struct ethtool_value ev = { .cmd = ETHTOOL_STXCSUM, .data = on };
    struct ifreq ifr;

    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_data = (void *) &ev;
    return ifreq_ioctl(ifname, SIOCETHTOOL, &ifr);
}

bool
pktio_parse_mac(const char *s, uint8_t mac[6])
{
    unsigned int b[6];
    char extra;

    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
               &extra) != 6 || strlen(s) != 17) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = b[i];
    }
    return true;
}

char *
pktio_format_mac(const uint8_t mac[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x",
             mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
    return out;
}

static int
pktio_attach_filter(int fd, const struct sock_fprog *prog)
{
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, prog, sizeof *prog) ? errno : 0;
}

/* 'filter' (may be NULL) is attached before the socket is bound to its protocol: a socket
 * made with protocol 0 receives nothing until then, so no frame reaches its queue unfiltered
 * (one that came between a bind and a later filter stayed there: an SFF's entry socket read a
 * guest's IPv6 multicast of its start-up as an entry and counted it admitted). */
static int
pktio_open__(const char *ifname, bool promisc, uint16_t ethertype,
             const struct sock_fprog *filter, struct pktio **pp)
{
    struct sockaddr_ll sll;
    struct pktio *p = NULL;
    int one = 1, bufsize = 4 << 20;
    int fd = -1, error;

    if (strlen(ifname) >= IF_NAMESIZE) {
        return ENAMETOOLONG;
    }
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return errno;
    }
    p = xzalloc(sizeof *p);
    p->fd = fd;
    strcpy(p->name, ifname);
    p->ifindex = if_nametoindex(ifname);
    if (!p->ifindex) {
        error = errno;
        goto out;
    }
    error = pktio_get_mac(ifname, p->mac);
    if (error) {
        goto out;
    }
    error = filter ? pktio_attach_filter(fd, filter) : 0;
    if (error) {
        goto out;
    }
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ethertype);
    sll.sll_ifindex = p->ifindex;
    if (bind(fd, (struct sockaddr *) &sll, sizeof sll) < 0) {
        error = errno;
        goto out;
    }
    if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) {
        error = errno;
        goto out;
    }
    /* Best effort: a larger buffer absorbs bursts, bypassing the qdisc saves a lock per frame;
     * neither changes what is delivered. */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    if (promisc) {
        struct packet_mreq mr = { .mr_ifindex = p->ifindex, .mr_type = PACKET_MR_PROMISC };
        if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
            error = errno;
            goto out;
        }
    }
    p->slots = xmalloc((size_t) PKTIO_BATCH * SLOT_SIZE);
    for (size_t i = 0; i < PKTIO_BATCH; i++) {
        p->rx_iov[i].iov_base = p->slots + i * SLOT_SIZE + PKTIO_HEADROOM;
        p->rx_iov[i].iov_len = PKTIO_FRAME_MAX;
        p->rx_msgs[i].msg_hdr.msg_iov = &p->rx_iov[i];
        p->rx_msgs[i].msg_hdr.msg_iovlen = 1;
    }
    /* Frames go out with no address: to the device and protocol the socket is bound to, which
     * the kernel keeps at hand. With one (the same), it looked the device up by its index for
     * every frame (dev_get_by_index(): 1% of a VNF's time). */
    for (size_t i = 0; i < PKTIO_BATCH; i++) {
        p->tx_msgs[i].msg_hdr.msg_iov = &p->tx_iov[i];
        p->tx_msgs[i].msg_hdr.msg_iovlen = 1;
    }
    *pp = p;
    p = NULL;
    fd = -1;
out:
    if (p) {
        free(p->slots);
        free(p);
    }
    if (fd >= 0) {
        close(fd);
    }
    return error;
}

int
pktio_open(const char *ifname, bool promisc, struct pktio **pp)
{
    return pktio_open__(ifname, promisc, ETH_P_ALL, NULL, pp);
}

int
pktio_open_ethertype(const char *ifname, bool promisc, uint16_t ethertype, struct pktio **pp)
{
    return pktio_open__(ifname, promisc, ethertype, NULL, pp);
}

void
pktio_close(struct pktio *p)
{
    if (p) {
        pktio_flush(p);
        close(p->fd);
        free(p->slots);
        free(p->tx_copies);
        free(p);
    }
}

int
pktio_drop_ethertype(struct pktio *p, uint16_t ethertype)
{
    struct sock_filter code[] = {
        { BPF_LD | BPF_H | BPF_ABS, 0, 0, 12 },             /* The Ethernet type: */
        { BPF_JMP | BPF_JEQ | BPF_K, 0, 1, ethertype },     /* this one */
        { BPF_RET | BPF_K, 0, 0, 0 },                       /* is dropped, */
        { BPF_RET | BPF_K, 0, 0, 0xffffffff },              /* the rest kept whole. */
    };
    struct sock_fprog prog = { .len = ARRAY_SIZE(code), .filter = code };

    return pktio_attach_filter(p->fd, &prog);
}

#define NSH_ENTRIES_LEN 8

/* The classic BPF of pktio_open_entries(): 'entries' true keeps only a path's entries, false
 * everything else. */
static void
nsh_entries_code(bool entries, struct sock_filter code[NSH_ENTRIES_LEN])
{
    /* NSH base header at 14: SPI in bytes 18-20 (the reverse bit is 18's top bit), SI at 21. */
    uint32_t in = entries ? 0xffffffff : 0, out = entries ? 0 : 0xffffffff;
    const struct sock_filter c[NSH_ENTRIES_LEN] = {
        { BPF_LD | BPF_H | BPF_ABS, 0, 0, 12 },
        { BPF_JMP | BPF_JEQ | BPF_K, 0, 4, 0x894f },        /* Not NSH: no entry. */
        { BPF_LD | BPF_B | BPF_ABS, 0, 0, 21 },
        { BPF_JMP | BPF_JEQ | BPF_K, 0, 2, 0xff },          /* SI below 255: on a path. */
        { BPF_LD | BPF_B | BPF_ABS, 0, 0, 18 },
        { BPF_JMP | BPF_JSET | BPF_K, 0, 1, 0x80 },         /* Reverse: a reply, on a path. */
        { BPF_RET | BPF_K, 0, 0, out },
        { BPF_RET | BPF_K, 0, 0, in },
    };

    memcpy(code, c, sizeof c);
}

int
pktio_fd(const struct pktio *p)
{
    return p->fd;
}

const uint8_t *
pktio_mac(const struct pktio *p)
{
    return p->mac;
}

const char *
pktio_name(const struct pktio *p)
{
    return p->name;
}

const struct pktio_stats *
pktio_stats(const struct pktio *p)
{
    return &p->stats;
}

void
pktio_read_drops(struct pktio *p)
{
    struct tpacket_stats st;
    socklen_t len = sizeof st;

    /* Reading the count resets the kernel's. */
    if (!getsockopt(p->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len)) {
        p->stats.rx_dropped += st.tp_drops;
    }
}

int
pktio_recv_batch(struct pktio *p, struct pktio_pkt *pkts, size_t max, size_t *np)
{
    size_t n_out = 0;
    int n;

    max = MIN(max, (size_t) PKTIO_BATCH);
    for (size_t i = 0; i < max; i++) {
        p->rx_msgs[i].msg_hdr.msg_flags = 0;
    }
    n = recvmmsg(p->fd, p->rx_msgs, max, MSG_DONTWAIT | MSG_TRUNC, NULL);
    p->stats.rx_calls++;
    /* The kernel drops only into a full queue, which the next receives find as full batches:
     * its count is read when such a backlog ends, and every 64 batches of one that lasts, not
     * on every wake-up of a quiet socket. pktio_read_drops() makes it exact whenever. */
    if ((p->rx_backlog && n < (int) max) || !(p->stats.rx_calls % 64)) {
        int saved = errno;

        pktio_read_drops(p);
        errno = saved;
    }
    p->rx_backlog = n == (int) max;
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            *np = 0;
            return 0;
        }
        return errno;
    }
    for (int i = 0; i < n; i++) {
        size_t len = p->rx_msgs[i].msg_len;
        if (len > PKTIO_FRAME_MAX || p->rx_msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
            p->stats.rx_truncated++;
            continue;
        }
        p->stats.rx_packets++;
        p->stats.rx_bytes += len;
        pkts[n_out].data = p->rx_iov[i].iov_base;
        pkts[n_out].len = len;
        pkts[n_out].room = PKTIO_HEADROOM;
        pkts[n_out].cap = PKTIO_FRAME_MAX;
        n_out++;
    }
    *np = n_out;
    return 0;
}

void
pktio_flush(struct pktio *p)
{
    size_t done = 0;

    while (done < p->n_tx) {
        int n = sendmmsg(p->fd, p->tx_msgs + done, p->n_tx - done, MSG_DONTWAIT);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            /* The frame at 'done' was refused: drop it and go on with the rest. */
            p->stats.tx_errors++;
            done++;
            continue;
        }
        for (int i = 0; i < n; i++) {
            p->stats.tx_packets++;
            p->stats.tx_bytes += p->tx_iov[done + i].iov_len;
        }
        done += n;
    }
    p->n_tx = 0;
}

void
pktio_queue(struct pktio *p, const void *frame, size_t len)
{
    if (p->n_tx >= PKTIO_BATCH) {
        pktio_flush(p);
    }
    p->tx_iov[p->n_tx].iov_base = (void *) frame;
    p->tx_iov[p->n_tx].iov_len = len;
    p->n_tx++;
}

void
pktio_queue_copy(struct pktio *p, const void *frame, size_t len)
{
    uint8_t *copy;

    if (len > PKTIO_FRAME_MAX) {
        pktio_send(p, frame, len);      /* The kernel refuses it and it is counted there. */
        return;
    }
    if (p->n_tx >= PKTIO_BATCH) {
        pktio_flush(p);
    }
    if (!p->tx_copies) {
        p->tx_copies = xmalloc((size_t) PKTIO_BATCH * PKTIO_FRAME_MAX);
    }
    copy = p->tx_copies + p->n_tx * PKTIO_FRAME_MAX;
    memcpy(copy, frame, len);
    pktio_queue(p, copy, len);
}

int
pktio_send(struct pktio *p, const void *frame, size_t len)
{
    ssize_t n = send(p->fd, frame, len, MSG_DONTWAIT);

    if (n < 0) {
        p->stats.tx_errors++;
        return errno;
    }
    p->stats.tx_packets++;
    p->stats.tx_bytes += len;
    return 0;
}

int
pktio_open_entries(struct pktio *io, struct pktio **entriesp)
{
    struct sock_filter code[NSH_ENTRIES_LEN];
    struct sock_fprog prog = { .len = NSH_ENTRIES_LEN, .filter = code };
    struct pktio *entries = NULL;
    int error;

    nsh_entries_code(true, code);
    error = pktio_open__(pktio_name(io), false, ETH_P_ALL, &prog, &entries);
    if (!error) {
        /* 'io' was bound long before: an entry queued there until now is forwarded as a
         * frame already on a path, outside the window (none come before the SFF is up). */
        nsh_entries_code(false, code);
        error = pktio_attach_filter(io->fd, &prog);
        if (error) {
            pktio_close(entries);
            entries = NULL;
        }
    }
    *entriesp = entries;
    return error;
}
