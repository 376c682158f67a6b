/* ftmb — FTMB's VNF side and its logger role (ftmb.h). */
#include "vnfs/sfc/ftmb.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/cursor.h"
#include "vnfs/lib/loop.h"
#include "vnfs/lib/nsh.h"
#include "vnfs/lib/pktio.h"
#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/sfc/hop.h"
#include "vnfs/sfc/role.h"
#include "vnfs/sfc/roles.h"

#define FTMB_FRAME_MAX 9216

bool
ftmb_msg_parse(const uint8_t *data, size_t len, struct ftmb_msg *m)
{
    struct cursor r;
    uint8_t type;

    cursor_init(&r, data, len);
    type = cursor_u8(&r);
    m->vnf = cursor_be16(&r);
    m->seq = cursor_be64(&r);
    m->pal = m->packet = NULL;
    m->pal_len = m->packet_len = 0;
    if (!cursor_ok(&r)) {
        return false;
    }
    if (type == FTMB_MSG_ACK) {
        m->type = FTMB_MSG_ACK;
        return cursor_done(&r);
    }
    if (type != FTMB_MSG_RECORD) {
        return false;
    }
    m->type = FTMB_MSG_RECORD;
    m->pal_len = cursor_be32(&r);
    m->pal = cursor_bytes(&r, m->pal_len);
    if (!cursor_ok(&r)) {
        return false;
    }
    m->packet = r.p;
    m->packet_len = r.left;
    return true;
}

void
ftmb_ol_pal(struct ftmb_ol *ol, uint64_t seq)
{
    ol->pals = MAX(ol->pals, seq);
}

uint64_t
ftmb_ol_output(struct ftmb_ol *ol)
{
    return ++ol->outputs;
}

/* --- The VNF side. */

struct ftmb_held {
    uint64_t seq;
    uint8_t *data;
    size_t len;
};

struct ftmb_vnf {
    struct role *role;
    struct ftmb_vnf_config cfg;
    uint64_t next_seq, acked;
    struct ftmb_held *held;         /* A ring of FTMB_MAX_HELD, oldest at 'head'. */
    size_t head, n_held;
    uint64_t timer;
    struct buf pal, msg;
    uint8_t frame[FTMB_FRAME_MAX];
    uint64_t n_records, n_pal_bytes, n_released, n_overload, n_acks, n_snapshots, n_too_big;
};

static uint64_t
ftmb_thread_cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* The FTC paper (Sec. 7.4) simulates FTMB's snapshots "by an artificial delay (6 ms)
 * periodically (every 50 ms)" during which "no packet is processed", each middlebox on a
 * server of its own: a stall costs that server 6 ms of every 50, 12% of what it can process,
 * whether or not it has a backlog to catch up on afterwards.
 * - On a quota of its own (cpus > 0: the bench's server per middlebox, a cgroup's CPU time
 *   per period) a sleep alone costs nothing of that: the VNF spends its whole budget after
 *   the stall. So the stall spends what the server would have done in those 6 ms,
 *   min(cpus, 1) x stall of CPU time (one thread: at most a core), spinning, then sleeps out
 *   the rest of the 6 ms: 12% of the budget, and nothing read for 6 ms, as on the paper's
 *   server. A throttled spin lasts longer than 6 ms; the server could do nothing then either.
 * - With none (the host's CPUs shared by every guest) it only sleeps: a spin would take its
 *   time from the other VNFs too (five of them stalling in turn: about 30% of the host), a
 *   penalty the paper's FTMB never paid, which would flatter FTC's ratio to it. Sleeping
 *   understates the stall there: that ratio is a bound. */
uint64_t
ftmb_stall(uint64_t stall_ns, double cpus)
{
    uint64_t t0 = time_mono_ns(), c0 = ftmb_thread_cpu_ns(), spent = 0, elapsed;
    uint64_t burn = cpus > 0 ? (uint64_t) (MIN(cpus, 1.0) * (double) stall_ns) : 0;

    /* Bounded in time too: a VNF starved of its quota for a second stops spinning. */
    while (spent < burn && time_mono_ns() - t0 < 1000000000ull) {
        spent = ftmb_thread_cpu_ns() - c0;
    }
    elapsed = time_mono_ns() - t0;
    if (elapsed < stall_ns) {
        struct timespec ts = { .tv_sec = (stall_ns - elapsed) / 1000000000ull,
                               .tv_nsec = (stall_ns - elapsed) % 1000000000ull };

        while (nanosleep(&ts, &ts) && errno == EINTR) {
            continue;
        }
    }
    return ftmb_thread_cpu_ns() - c0;
}

static void
ftmb_snapshot(struct loop *loop, uint64_t id, void *f_)
{
    struct ftmb_vnf *f = f_;

    /* The simulated snapshot: the VNF is frozen, its queue fills. */
    ftmb_stall(f->cfg.stall_ns, f->cfg.stall_cpus);
    f->n_snapshots++;
    (void) loop;
    (void) id;
}

int
ftmb_vnf_create(const struct ftmb_vnf_config *cfg, struct role *role, struct ftmb_vnf **fp)
{
    struct ftmb_vnf *f = xzalloc(sizeof *f);

    f->role = role;
    f->cfg = *cfg;
    f->next_seq = 1;
    f->held = xcalloc(FTMB_MAX_HELD, sizeof *f->held);
    buf_init(&f->pal);
    buf_init(&f->msg);
    if (cfg->snapshot_ns && cfg->stall_ns) {
        f->timer = loop_add_timer(role->loop, cfg->snapshot_ns, cfg->snapshot_ns, ftmb_snapshot,
                                  f);
    }
    *fp = f;
    return 0;
}

void
ftmb_vnf_destroy(struct ftmb_vnf *f)
{
    if (!f) {
        return;
    }
    for (size_t i = 0; i < f->n_held; i++) {
        free(f->held[(f->head + i) % FTMB_MAX_HELD].data);
    }
    free(f->held);
    if (f->timer) {
        loop_cancel_timer(f->role->loop, f->timer);
    }
    buf_uninit(&f->pal);
    buf_uninit(&f->msg);
    free(f);
}

uint64_t
ftmb_vnf_begin(const struct ftmb_vnf *f, const struct nf_state *st)
{
    (void) f;
    return st ? state_mark(st) : 0;
}

void
ftmb_vnf_output(struct ftmb_vnf *f, const struct nf_state *st, uint64_t mark,
                const uint8_t *in, size_t in_len, const uint8_t *frame, size_t len)
{
    struct ftmb_held *h;
    uint64_t seq = f->next_seq;

    if (!f->cfg.in_line && f->n_held >= FTMB_MAX_HELD) {
        f->n_overload++;        /* The logger is behind: shed, as a full queue does. */
        return;
    }
    buf_clear(&f->pal);
    if (st) {
        state_export_since(st, mark, &f->pal);
    }
    buf_clear(&f->msg);
    buf_put(&f->msg, f->cfg.logger, 6);
    buf_put(&f->msg, pktio_mac(f->role->io), 6);
    buf_put_be16(&f->msg, FTMB_ETHERTYPE);
    buf_put_u8(&f->msg, FTMB_MSG_RECORD);
    buf_put_be16(&f->msg, f->cfg.vnf);
    buf_put_be64(&f->msg, seq);
    buf_put_be32(&f->msg, f->pal.len);
    buf_put(&f->msg, f->pal.data, f->pal.len);
    if (f->cfg.in_line) {
        /* The PAL alone, a message per packet, then the output to the OL behind it (the same
         * socket and path keep them in that order). */
        pktio_queue_copy(f->role->io, f->msg.data, f->msg.len);
        pktio_queue_copy(f->role->io, frame, len);
        f->next_seq++;
        f->n_records++;
        f->n_pal_bytes += f->pal.len;
        f->n_released++;
        return;
    }
    buf_put(&f->msg, in, in_len);
    if (f->msg.len > FTMB_FRAME_MAX) {
        f->n_too_big++;
        return;
    }
    pktio_send(f->role->io, f->msg.data, f->msg.len);
    f->next_seq++;
    f->n_records++;
    f->n_pal_bytes += f->pal.len;
    h = &f->held[(f->head + f->n_held++) % FTMB_MAX_HELD];
    h->seq = seq;
    h->data = xmalloc(len);
    memcpy(h->data, frame, len);
    h->len = len;
}

bool
ftmb_vnf_frame(struct ftmb_vnf *f, const struct pktio_pkt *pkt)
{
    struct ftmb_msg m;

    if (pkt->len < HOP_ETH_LEN || hop_ethertype(pkt->data) != FTMB_ETHERTYPE
        || memcmp(pkt->data, pktio_mac(f->role->io), 6)) {
        return false;
    }
    if (!ftmb_msg_parse(pkt->data + HOP_ETH_LEN, pkt->len - HOP_ETH_LEN, &m)
        || m.type != FTMB_MSG_ACK || m.vnf != f->cfg.vnf
        || memcmp(pkt->data + 6, f->cfg.logger, 6)) {
        return true;            /* Ours, but not a valid ack from our logger: dropped. */
    }
    f->n_acks++;
    if (m.seq > f->acked) {
        f->acked = m.seq;
    }
    while (f->n_held && f->held[f->head].seq <= f->acked) {
        struct ftmb_held *h = &f->held[f->head];

        pktio_send(f->role->io, h->data, h->len);
        free(h->data);
        f->head = (f->head + 1) % FTMB_MAX_HELD;
        f->n_held--;
        f->n_released++;
    }
    return true;
}

void
ftmb_vnf_register(struct ftmb_vnf *f, struct role *role)
{
    role_add_counter(role, "ftmb_records", &f->n_records);
    role_add_counter(role, "ftmb_pal_bytes", &f->n_pal_bytes);
    role_add_counter(role, "ftmb_released", &f->n_released);
    role_add_counter(role, "ftmb_overload", &f->n_overload);
    role_add_counter(role, "ftmb_acks", &f->n_acks);
    role_add_counter(role, "ftmb_snapshots", &f->n_snapshots);
    role_add_counter(role, "ftmb_too_big", &f->n_too_big);
}

/* --- The logger role. */

#define FTMB_LOG_BYTES (16u << 20)
#define FTMB_MAX_SOURCES 64

struct ftmb_source {
    uint8_t mac[6];
    uint16_t vnf;
    uint64_t seq;
    bool dirty;
};

struct ftmb_logger {
    struct role role;
    uint8_t *log;               /* A ring of FTMB_LOG_BYTES: the newest records. */
    size_t log_pos;
    struct ftmb_source sources[FTMB_MAX_SOURCES];
    size_t n_sources;
    uint8_t frame[64];
    uint64_t n_records, n_bytes, n_acks, n_malformed, n_ignored, n_sources_full;
    /* In line (--mbox): the IL and OL of the middlebox of data MAC 'mbox'. */
    bool in_line;
    uint8_t mbox[6];
    uint8_t sff[6];             /* Where the path's frames come from, and outputs go. */
    bool have_sff;
    struct ftmb_ol ol;
    struct ftmb_held *held;     /* Outputs whose PAL is not in yet: a ring, oldest at 'head'
                                 * (its 'seq': its number, ftmb_ol_output()). */
    size_t head, n_held;
    uint64_t n_il, n_ol_released, n_ol_held, n_ol_overload;
};

static void
ftmb_log_append(struct ftmb_logger *l, const uint8_t *p, size_t n)
{
    while (n) {
        size_t k = MIN(n, FTMB_LOG_BYTES - l->log_pos);

        memcpy(l->log + l->log_pos, p, k);
        l->log_pos = (l->log_pos + k) % FTMB_LOG_BYTES;
        p += k;
        n -= k;
    }
}

/* OL: releases, in order, the outputs whose PAL is in. */
static void
ftmb_ol_release(struct ftmb_logger *l)
{
    while (l->n_held && l->held[l->head].seq <= l->ol.pals) {
        struct ftmb_held *h = &l->held[l->head];

        pktio_queue_copy(l->role.io, h->data, h->len);
        free(h->data);
        l->head = (l->head + 1) % FTMB_MAX_HELD;
        l->n_held--;
        l->n_ol_released++;
    }
}

/* In line, an NSH frame: from the SFF, the IL logs it and passes it to the middlebox; from the
 * middlebox, its output, which the OL sends on to the SFF once its PAL is in. */
static void
ftmb_logger_path(struct ftmb_logger *l, struct pktio_pkt *pkt)
{
    const uint8_t *own = pktio_mac(l->role.io);

    if (memcmp(pkt->data + 6, l->mbox, 6)) {
        memcpy(l->sff, pkt->data + 6, 6);
        l->have_sff = true;
        ftmb_log_append(l, pkt->data + HOP_ETH_LEN, pkt->len - HOP_ETH_LEN);
        l->n_il++;
        hop_set_macs(pkt->data, l->mbox, own);
        pktio_queue(l->role.io, pkt->data, pkt->len);
        return;
    }
    uint64_t seq = ftmb_ol_output(&l->ol);
    if (!l->have_sff) {
        l->n_ignored++;
        return;
    }
    hop_set_macs(pkt->data, l->sff, own);
    if (!l->n_held && seq <= l->ol.pals) {
        pktio_queue(l->role.io, pkt->data, pkt->len);
        l->n_ol_released++;
        return;
    }
    if (l->n_held >= FTMB_MAX_HELD) {
        l->n_ol_overload++;
        return;
    }
    struct ftmb_held *h = &l->held[(l->head + l->n_held++) % FTMB_MAX_HELD];

    h->seq = seq;
    h->data = xmalloc(pkt->len);
    memcpy(h->data, pkt->data, pkt->len);
    h->len = pkt->len;
    l->n_ol_held++;
}

static void
ftmb_logger_frame(void *l_, struct pktio_pkt *pkt, uint64_t t_in)
{
    struct ftmb_logger *l = l_;
    struct ftmb_source *s = NULL;
    struct ftmb_msg m;

    (void) t_in;
    if (pkt->len < HOP_ETH_LEN || memcmp(pkt->data, pktio_mac(l->role.io), 6)) {
        l->n_ignored++;
        return;
    }
    if (l->in_line && hop_ethertype(pkt->data) == NSH_ETHERTYPE) {
        ftmb_logger_path(l, pkt);
        return;
    }
    if (hop_ethertype(pkt->data) != FTMB_ETHERTYPE) {
        l->n_ignored++;
        return;
    }
    if (!ftmb_msg_parse(pkt->data + HOP_ETH_LEN, pkt->len - HOP_ETH_LEN, &m)
        || m.type != FTMB_MSG_RECORD) {
        l->n_malformed++;
        return;
    }
    for (size_t i = 0; i < l->n_sources && !s; i++) {
        if (l->sources[i].vnf == m.vnf && !memcmp(l->sources[i].mac, pkt->data + 6, 6)) {
            s = &l->sources[i];
        }
    }
    if (!s) {
        if (l->n_sources == FTMB_MAX_SOURCES) {
            l->n_sources_full++;
            return;
        }
        s = &l->sources[l->n_sources++];
        memcpy(s->mac, pkt->data + 6, 6);
        s->vnf = m.vnf;
        s->seq = 0;
    }
    ftmb_log_append(l, pkt->data + HOP_ETH_LEN, pkt->len - HOP_ETH_LEN);
    l->n_records++;
    l->n_bytes += pkt->len - HOP_ETH_LEN;
    if (l->in_line) {
        if (!memcmp(pkt->data + 6, l->mbox, 6)) {
            ftmb_ol_pal(&l->ol, m.seq);
            ftmb_ol_release(l);
        }
        return;                 /* The OL's rule is the release: nothing to acknowledge. */
    }
    if (m.seq > s->seq) {
        s->seq = m.seq;
    }
    s->dirty = true;
}

/* After each wake-up: one ack per VNF that sent records (cumulative: a lost ack costs
 * nothing once the next one comes). */
static void
ftmb_logger_done(void *l_)
{
    struct ftmb_logger *l = l_;

    for (size_t i = 0; i < l->n_sources; i++) {
        struct ftmb_source *s = &l->sources[i];
        uint8_t *f = l->frame;

        if (!s->dirty) {
            continue;
        }
        s->dirty = false;
        memcpy(f, s->mac, 6);
        memcpy(f + 6, pktio_mac(l->role.io), 6);
        put_be16(f + 12, FTMB_ETHERTYPE);
        f[14] = FTMB_MSG_ACK;
        put_be16(f + 15, s->vnf);
        put_be64(f + 17, s->seq);
        pktio_send(l->role.io, f, 25);
        l->n_acks++;
    }
}

static void
ftmb_logger_usage(void)
{
    printf("usage: sfcd ftmb-logger --iface IF [--mbox MAC]\n"
           "FTMB's input/output logger: logs each VNF's records (packet and packet access log)\n"
           "and acknowledges them, after which the VNF releases the packet's output.\n"
           "  --mbox MAC   in line: the IL and OL of the middlebox of data MAC MAC, the chain's\n"
           "               hop for it (IL -> M -> OL: each output sent on once its PAL is in)\n"
           ROLE_COMMON_USAGE);
}

int
role_ftmb_logger(int argc, char *argv[])
{
    static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "mbox", required_argument, NULL, 'm' },
        ROLE_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    struct ftmb_logger l;
    int opt, rc = 2;

    memset(&l, 0, sizeof l);
    role_init_common(&l.role, "ftmb-logger");
    l.role.aux = &l;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (opt == 'm') {
            if (!pktio_parse_mac(optarg, l.mbox)) {
                fprintf(stderr, "sfcd ftmb-logger: --mbox: '%s' is not a MAC\n", optarg);
                goto out;
            }
            l.in_line = true;
        } else if (role_parse_option(&l.role, opt, optarg, ftmb_logger_usage, &rc)) {
            goto out;
        }
    }
    if (optind != argc || !l.role.iface) {
        ftmb_logger_usage();
        goto out;
    }
    rc = 1;
    if (role_open_pktio(&l.role, false)) {
        goto out;
    }
    l.log = xmalloc(FTMB_LOG_BYTES);
    role_add_counter(&l.role, "records", &l.n_records);
    role_add_counter(&l.role, "bytes", &l.n_bytes);
    role_add_counter(&l.role, "acks", &l.n_acks);
    role_add_counter(&l.role, "malformed", &l.n_malformed);
    role_add_counter(&l.role, "ignored", &l.n_ignored);
    role_add_counter(&l.role, "sources_full", &l.n_sources_full);
    if (l.in_line) {
        l.held = xcalloc(FTMB_MAX_HELD, sizeof *l.held);
        role_add_counter(&l.role, "il_logged", &l.n_il);
        role_add_counter(&l.role, "ol_released", &l.n_ol_released);
        role_add_counter(&l.role, "ol_held", &l.n_ol_held);
        role_add_counter(&l.role, "ol_overload", &l.n_ol_overload);
    }
    rc = role_serve_pktio(&l.role, ftmb_logger_frame, ftmb_logger_done);
out:
    role_finish(&l.role);
    for (size_t i = 0; i < l.n_held; i++) {
        free(l.held[(l.head + i) % FTMB_MAX_HELD].data);
    }
    free(l.held);
    free(l.log);
    return rc;
}
