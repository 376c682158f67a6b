/* adapter — one protocol core bound to a UDP socket, the monotonic clock and the loop. */
#include "vnfs/ft/adapter.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/loop.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/u64map.h"

/* A core that keeps re-arming timers in the past must not starve the socket. */
#define FT_ADAPTER_MAX_TIMERS_PER_RUN 1024
/* Datagrams read per readiness before the loop gets a turn. */
#define FT_ADAPTER_RX_BUDGET 64

struct ft_timer_entry {
    uint64_t at_ns;
    uint64_t timer;
    uint64_t gen;               /* Matches 'armed[timer]' while this entry is the live one. */
};

struct ft_adapter {
    struct loop *loop;
    struct ft_core *core;
    uint32_t self;
    struct ft_endpoint_addr *eps;
    size_t n_eps;
    int fd;
    bool watched;               /* fd is on the loop. */
    uint16_t port;
    enum ft_deliver_kind deliver;
    struct sockaddr_in deliver_addr;
    FILE *deliver_file;
    uint32_t incarnation;
    bool corrupt;
    int journal_fd;             /* -1: none. */
    bool journal_sync;
    struct ft_actions actions;
    struct buf tx;
    uint8_t *rxbuf;

    /* Timers: a min-heap of deadlines with lazy deletion; a cancelled or re-armed timer's old
     * entry stays until it reaches the top, where its stale generation gives it away. */
    struct u64map armed;        /* core timer id -> generation of its live entry. */
    struct ft_timer_entry *heap;
    size_t n_heap, cap_heap;
    uint64_t gen;
    uint64_t loop_timer;        /* 0: none. */
    uint64_t loop_timer_at;

    struct ft_adapter_stats stats;
};

static void ft_adapter_readable(struct loop *, int fd, uint32_t events, void *aux);
static void ft_adapter_timer_cb(struct loop *, uint64_t timer_id, void *aux);

bool
ft_wire_kind_valid(enum ft_event_kind kind)
{
    return kind == FT_EV_PACKET || kind == FT_EV_PEER_MSG || kind == FT_EV_STATE_REQUEST
           || kind == FT_EV_STATE;
}

void
ft_wire_encode(struct buf *b, enum ft_event_kind kind, uint32_t from, const void *payload,
               size_t len)
{
    buf_put_u8(b, FT_WIRE_VERSION);
    buf_put_u8(b, kind);
    buf_put_be16(b, 0);
    buf_put_be32(b, from);
    buf_put_be32(b, len);
    if (len) {
        buf_put(b, payload, len);
    }
}

int
ft_wire_decode(const uint8_t *data, size_t len, struct ft_wire_hdr *hdr,
               const uint8_t **payload)
{
    uint32_t plen;

    if (len < FT_WIRE_HDR_LEN || data[0] != FT_WIRE_VERSION
        || !ft_wire_kind_valid((enum ft_event_kind) data[1]) || data[2] || data[3]) {
        return EINVAL;
    }
    plen = get_be32(data + 8);
    if (plen != len - FT_WIRE_HDR_LEN || plen > FT_WIRE_MAX_PAYLOAD
        || (data[1] == FT_EV_STATE_REQUEST && plen)) {
        return EINVAL;
    }
    hdr->kind = (enum ft_event_kind) data[1];
    hdr->from = get_be32(data + 4);
    hdr->len = plen;
    *payload = data + FT_WIRE_HDR_LEN;
    return 0;
}

int
ft_endpoint_parse(const char *s, struct ft_endpoint_addr *out, char **errp)
{
    struct ft_endpoint_addr ep;
    const char *eq = strchr(s, '='), *colon = strrchr(s, ':');
    unsigned long long id;
    unsigned long port;
    char ip[INET_ADDRSTRLEN];
    char *end;

    memset(&ep, 0, sizeof ep);
    if (!eq || !colon || colon < eq || eq == s) {
        goto bad;
    }
    errno = 0;
    id = strtoull(s, &end, 10);
    if (end != eq || errno || id >= FT_ENDPOINT_NONE || *s == '-' || *s == '+') {
        goto bad;
    }
    if ((size_t) (colon - eq - 1) >= sizeof ip) {
        goto bad;
    }
    memcpy(ip, eq + 1, colon - eq - 1);
    ip[colon - eq - 1] = '\0';
    if (inet_pton(AF_INET, ip, &ep.addr.sin_addr) != 1) {
        goto bad;
    }
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || !port || port > 65535 || colon[1] == '-'
        || colon[1] == '+') {
        goto bad;
    }
    ep.id = id;
    ep.addr.sin_family = AF_INET;
    ep.addr.sin_port = htons(port);
    *out = ep;
    return 0;

bad:
    if (errp) {
        *errp = xasprintf("'%s' is not ID=IPV4:PORT (id < %u, port 1-65535)", s,
                          FT_ENDPOINT_NONE);
    }
    return EINVAL;
}

static const struct ft_endpoint_addr *
ft_adapter_find_id(const struct ft_adapter *a, uint32_t id)
{
    for (size_t i = 0; i < a->n_eps; i++) {
        if (a->eps[i].id == id) {
            return &a->eps[i];
        }
    }
    return NULL;
}

static const struct ft_endpoint_addr *
ft_adapter_find_addr(const struct ft_adapter *a, const struct sockaddr_in *sin)
{
    for (size_t i = 0; i < a->n_eps; i++) {
        if (a->eps[i].addr.sin_addr.s_addr == sin->sin_addr.s_addr
            && a->eps[i].addr.sin_port == sin->sin_port) {
            return &a->eps[i];
        }
    }
    return NULL;
}

/* --- Timers. */

static bool
ft_timer_before(const struct ft_timer_entry *x, const struct ft_timer_entry *y)
{
    return x->at_ns < y->at_ns || (x->at_ns == y->at_ns && x->gen < y->gen);
}

static void
ft_heap_push(struct ft_adapter *a, const struct ft_timer_entry *e)
{
    size_t i;

    if (a->n_heap >= a->cap_heap) {
        a->heap = x2nrealloc(a->heap, &a->cap_heap, sizeof *a->heap);
    }
    i = a->n_heap++;
    while (i > 0 && ft_timer_before(e, &a->heap[(i - 1) / 2])) {
        a->heap[i] = a->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    a->heap[i] = *e;
}

static void
ft_heap_pop(struct ft_adapter *a)
{
    struct ft_timer_entry last = a->heap[--a->n_heap];
    size_t i = 0;

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= a->n_heap) {
            break;
        }
        if (c + 1 < a->n_heap && ft_timer_before(&a->heap[c + 1], &a->heap[c])) {
            c++;
        }
        if (!ft_timer_before(&a->heap[c], &last)) {
            break;
        }
        a->heap[i] = a->heap[c];
        i = c;
    }
    if (a->n_heap) {
        a->heap[i] = last;
    }
}

static bool
ft_timer_live(const struct ft_adapter *a, const struct ft_timer_entry *e)
{
    uint64_t gen;

    return u64map_get(&a->armed, e->timer, &gen) && gen == e->gen;
}

/* Points the loop's one timer at the earliest live deadline. */
static void
ft_adapter_reschedule(struct ft_adapter *a)
{
    uint64_t now;

    while (a->n_heap && !ft_timer_live(a, &a->heap[0])) {
        ft_heap_pop(a);
    }
    if (!a->n_heap) {
        if (a->loop_timer) {
            loop_cancel_timer(a->loop, a->loop_timer);
            a->loop_timer = 0;
        }
        return;
    }
    if (a->loop_timer && a->loop_timer_at == a->heap[0].at_ns) {
        return;
    }
    if (a->loop_timer) {
        loop_cancel_timer(a->loop, a->loop_timer);
    }
    now = time_mono_ns();
    a->loop_timer_at = a->heap[0].at_ns;
    a->loop_timer = loop_add_timer(a->loop, a->loop_timer_at > now ? a->loop_timer_at - now : 0,
                                   0, ft_adapter_timer_cb, a);
}

/* --- Actions. */

static void
ft_adapter_send(struct ft_adapter *a, const struct ft_action *act)
{
    static const enum ft_event_kind arrives_as[FT_ACT_N_KINDS] = {
        [FT_ACT_FORWARD] = FT_EV_PACKET, [FT_ACT_SEND] = FT_EV_PEER_MSG,
        [FT_ACT_STATE] = FT_EV_STATE, [FT_ACT_REQUEST_STATE] = FT_EV_STATE_REQUEST,
    };
    const struct ft_endpoint_addr *ep = ft_adapter_find_id(a, act->to);
    size_t len = act->kind == FT_ACT_REQUEST_STATE ? 0 : act->len;

    if (!ep) {
        a->stats.tx_unknown_dest++;
        log_debug("ft: %s to unknown endpoint %"PRIu32, ft_action_kind_name(act->kind), act->to);
        return;
    }
    if (len > FT_WIRE_MAX_PAYLOAD) {
        a->stats.tx_errors++;
        return;
    }
    buf_clear(&a->tx);
    ft_wire_encode(&a->tx, arrives_as[act->kind], a->self, act->data, len);
    if (a->corrupt && len && (act->kind == FT_ACT_FORWARD || act->kind == FT_ACT_SEND)) {
        a->tx.data[a->tx.len - 1] ^= 1 + a->self % 255;
    }
    if (sendto(a->fd, a->tx.data, a->tx.len, 0, (const struct sockaddr *) &ep->addr,
               sizeof ep->addr) < 0) {
        a->stats.tx_errors++;
        log_debug("ft: send to %"PRIu32": %s", act->to, strerror(errno));
        return;
    }
    a->stats.tx++;
}

static void
ft_adapter_deliver(struct ft_adapter *a, const struct ft_action *act)
{
    int ok = 1;

    a->stats.delivered++;
    if (a->deliver == FT_DELIVER_UDP) {
        ok = sendto(a->fd, act->data ? (const void *) act->data : "", act->len, 0,
                    (const struct sockaddr *) &a->deliver_addr, sizeof a->deliver_addr) >= 0;
    } else if (a->deliver == FT_DELIVER_FILE) {
        ok = fprintf(a->deliver_file, "deliver %zu ", act->len) > 0;
        for (size_t i = 0; ok && i < act->len; i++) {
            ok = fprintf(a->deliver_file, "%02x", act->data[i]) > 0;
        }
        ok = ok && fputc('\n', a->deliver_file) != EOF && !fflush(a->deliver_file);
    }
    if (!ok) {
        a->stats.deliver_errors++;
    }
}

static void
ft_adapter_apply(struct ft_adapter *a)
{
    bool timers_changed = false;

    for (size_t i = 0; i < a->actions.n; i++) {
        const struct ft_action *act = &a->actions.v[i];
        struct ft_timer_entry e;

        switch (act->kind) {
        case FT_ACT_FORWARD:
        case FT_ACT_SEND:
        case FT_ACT_STATE:
        case FT_ACT_REQUEST_STATE:
            ft_adapter_send(a, act);
            break;
        case FT_ACT_DELIVER:
            ft_adapter_deliver(a, act);
            break;
        case FT_ACT_DROP:
            a->stats.drops[act->reason < FT_DROP_N_REASONS ? act->reason : 0]++;
            log_debug("ft: drop (%s)", ft_drop_reason_name(act->reason));
            break;
        case FT_ACT_TIMER_ARM:
            e.at_ns = act->at_ns;
            e.timer = act->timer;
            e.gen = ++a->gen;
            u64map_put(&a->armed, act->timer, e.gen);
            ft_heap_push(a, &e);
            timers_changed = true;
            break;
        case FT_ACT_TIMER_CANCEL:
            timers_changed |= u64map_remove(&a->armed, act->timer, NULL);
            break;
        case FT_ACT_SUSPECT:
            a->stats.suspects++;
            log_warn("ft: suspects endpoint %"PRIu32, act->to);
            break;
        case FT_ACT_NOTE:
            a->stats.notes++;
            log_info("ft: note: %.*s", (int) act->len, act->data ? (const char *) act->data : "");
            break;
        case FT_ACT_N_KINDS:
            break;
        }
    }
    if (timers_changed) {
        ft_adapter_reschedule(a);
    }
}

/* Hands one event to the core (with the current time) and carries out its actions. */
static int
ft_adapter_step(struct ft_adapter *a, struct ft_event *ev)
{
    int error;

    ev->now_ns = time_mono_ns();
    ft_actions_clear(&a->actions);
    error = ft_core_step(a->core, ev, &a->actions);
    a->stats.steps++;
    if (error) {
        a->stats.step_errors++;
        log_err("ft: core %s failed on %s: %s", a->core->class->name,
                ft_event_kind_name(ev->kind), strerror(error));
        return error;
    }
    ft_adapter_apply(a);
    return 0;
}

static void
ft_adapter_timer_cb(struct loop *loop, uint64_t timer_id, void *a_)
{
    struct ft_adapter *a = a_;

    a->loop_timer = 0;
    for (int n = 0; n < FT_ADAPTER_MAX_TIMERS_PER_RUN && a->n_heap; n++) {
        struct ft_timer_entry e = a->heap[0];
        struct ft_event ev = { .kind = FT_EV_TIMER, .from = a->self };

        if (e.at_ns > time_mono_ns()) {
            break;
        }
        ft_heap_pop(a);
        if (!ft_timer_live(a, &e)) {
            continue;
        }
        u64map_remove(&a->armed, e.timer, NULL);
        a->stats.timers_fired++;
        ev.timer = e.timer;
        ft_adapter_step(a, &ev);
    }
    ft_adapter_reschedule(a);
}

/* Appends one received datagram (as it came: wire header and payload) to the journal and,
 * with journal_sync, makes it durable before the core sees it, so nothing the core
 * acknowledges can be lost by a crash of the process (without sync) or of the host (with). */
static int
ft_adapter_journal(struct ft_adapter *a, const uint8_t *data, size_t len)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = write(a->journal_fd, data + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            a->stats.journal_errors++;
            log_err("ft: journal write: %s", n < 0 ? strerror(errno) : "short write");
            return n < 0 ? errno : EIO;
        }
        done += n;
    }
    if (a->journal_sync && fdatasync(a->journal_fd)) {
        a->stats.journal_errors++;
        log_err("ft: journal fdatasync: %s", strerror(errno));
        return errno;
    }
    a->stats.journal_records++;
    return 0;
}

/* Rebuilds the core from its journal: every record is stepped again, its actions discarded
 * (the peers already had them, or will ask again). A torn last record (the process died
 * mid-write) is cut off. */
static int
ft_adapter_journal_replay(struct ft_adapter *a)
{
    struct buf all = BUF_INITIALIZER;
    size_t ofs = 0;
    int error = 0;

    for (;;) {
        uint8_t *p = buf_put_uninit(&all, 65536);
        ssize_t n = pread(a->journal_fd, p, 65536, all.len - 65536);
        if (n < 0 && errno == EINTR) {
            all.len -= 65536;
            continue;
        }
        all.len -= 65536 - (n > 0 ? n : 0);
        if (n <= 0) {
            error = n < 0 ? errno : 0;
            break;
        }
    }
    while (!error && all.len - ofs >= FT_WIRE_HDR_LEN) {
        size_t len = FT_WIRE_HDR_LEN + get_be32(all.data + ofs + 8);
        const uint8_t *payload;
        struct ft_wire_hdr hdr;

        if (len > all.len - ofs || ft_wire_decode(all.data + ofs, len, &hdr, &payload)) {
            break;
        }
        struct ft_event ev = { .kind = hdr.kind, .from = hdr.from, .now_ns = time_mono_ns(),
                               .data = hdr.len ? payload : NULL, .len = hdr.len };
        ft_actions_clear(&a->actions);
        ft_core_step(a->core, &ev, &a->actions);
        ft_actions_clear(&a->actions);
        a->stats.journal_replayed++;
        ofs += len;
    }
    if (!error && ofs < all.len) {
        log_warn("ft: journal: cutting a torn tail of %zu bytes", all.len - ofs);
        if (ftruncate(a->journal_fd, ofs)) {
            error = errno;
        }
    }
    buf_uninit(&all);
    return error;
}

static void
ft_adapter_readable(struct loop *loop, int fd, uint32_t events, void *a_)
{
    struct ft_adapter *a = a_;

    for (int n = 0; n < FT_ADAPTER_RX_BUDGET; n++) {
        struct sockaddr_in from;
        socklen_t fromlen = sizeof from;
        const struct ft_endpoint_addr *ep;
        const uint8_t *payload;
        struct ft_wire_hdr hdr;
        struct ft_event ev;
        ssize_t len;

        len = recvfrom(fd, a->rxbuf, 65536, MSG_DONTWAIT, (struct sockaddr *) &from, &fromlen);
        if (len < 0) {
            break;
        }
        if (ft_wire_decode(a->rxbuf, len, &hdr, &payload)) {
            a->stats.rx_malformed++;
            continue;
        }
        ep = fromlen >= sizeof from && from.sin_family == AF_INET
             ? ft_adapter_find_addr(a, &from) : NULL;
        if (!ep) {
            a->stats.rx_unknown_source++;
            continue;
        }
        if (ep->id != hdr.from) {
            a->stats.rx_spoofed++;
            continue;
        }
        memset(&ev, 0, sizeof ev);
        ev.kind = hdr.kind;
        ev.from = hdr.from;
        ev.data = hdr.len ? payload : NULL;
        ev.len = hdr.len;
        a->stats.rx++;
        if (a->journal_fd >= 0 && hdr.kind != FT_EV_STATE_REQUEST
            && ft_adapter_journal(a, a->rxbuf, len)) {
            continue;           /* Not durable: the core never sees it, nothing is acked. */
        }
        ft_adapter_step(a, &ev);
    }
}

/* --- Life cycle. */

int
ft_adapter_create(struct loop *loop, const struct ft_adapter_config *cfg,
                  struct ft_adapter **ap, char **errp)
{
    const struct ft_endpoint_addr *me = NULL;
    struct ft_adapter *a = NULL;
    struct sockaddr_in bound;
    socklen_t boundlen = sizeof bound;
    int error, bufsize = 4 << 20;
    char *err = NULL;

    for (size_t i = 0; i < cfg->n_endpoints; i++) {
        for (size_t j = 0; j < i; j++) {
            if (cfg->endpoints[j].id == cfg->endpoints[i].id) {
                err = xasprintf("endpoint %"PRIu32" has two addresses", cfg->endpoints[i].id);
                error = EINVAL;
                goto out;
            }
        }
        if (cfg->endpoints[i].id == cfg->core.self) {
            me = &cfg->endpoints[i];
        }
    }
    if (!me) {
        err = xasprintf("no address for this endpoint (%"PRIu32"): add it to the table",
                        cfg->core.self);
        error = EINVAL;
        goto out;
    }
    a = xzalloc(sizeof *a);
    a->loop = loop;
    a->fd = -1;
    a->self = cfg->core.self;
    a->n_eps = cfg->n_endpoints;
    a->eps = xmalloc(a->n_eps * sizeof *a->eps);
    memcpy(a->eps, cfg->endpoints, a->n_eps * sizeof *a->eps);
    a->deliver = cfg->deliver;
    a->deliver_addr = cfg->deliver_addr;
    a->incarnation = cfg->incarnation;
    a->corrupt = cfg->byzantine_corrupt;
    a->journal_fd = -1;
    a->journal_sync = cfg->journal_sync;
    a->rxbuf = xmalloc(65536);
    ft_actions_init(&a->actions);
    u64map_init(&a->armed);

    if (cfg->deliver == FT_DELIVER_FILE) {
        a->deliver_file = fopen(cfg->deliver_path, "ae");
        if (!a->deliver_file) {
            error = errno;
            err = xasprintf("%s: %s", cfg->deliver_path, strerror(error));
            goto out;
        }
    }
    if (cfg->journal_path) {
        a->journal_fd = open(cfg->journal_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (a->journal_fd < 0) {
            error = errno;
            err = xasprintf("%s: %s", cfg->journal_path, strerror(error));
            goto out;
        }
    }
    a->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (a->fd < 0) {
        error = errno;
        err = xasprintf("socket: %s", strerror(error));
        goto out;
    }
    setsockopt(a->fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
    if (bind(a->fd, (const struct sockaddr *) &me->addr, sizeof me->addr) < 0
        || getsockname(a->fd, (struct sockaddr *) &bound, &boundlen) < 0) {
        char ip[INET_ADDRSTRLEN];
        error = errno;
        inet_ntop(AF_INET, &me->addr.sin_addr, ip, sizeof ip);
        err = xasprintf("bind %s:%u: %s", ip, ntohs(me->addr.sin_port), strerror(error));
        goto out;
    }
    a->port = ntohs(bound.sin_port);
    error = ft_core_create(cfg->class, &cfg->core, &a->core, &err);
    if (error) {
        if (!err) {
            err = xasprintf("core %s: %s", cfg->class->name, strerror(error));
        }
        goto out;
    }
    error = loop_add_fd(loop, a->fd, EPOLLIN, ft_adapter_readable, a);
    if (error) {
        err = xasprintf("epoll: %s", strerror(error));
        goto out;
    }
    a->watched = true;
    *ap = a;
    a = NULL;
out:
    if (a) {
        ft_adapter_destroy(a);
    }
    if (err && errp) {
        *errp = err;
    } else {
        free(err);
    }
    return error;
}

int
ft_adapter_start(struct ft_adapter *a)
{
    struct ft_event ev = { .kind = FT_EV_START, .from = a->self,
                           .incarnation = a->incarnation };

    if (a->journal_fd >= 0) {
        int error = ft_adapter_journal_replay(a);
        if (error) {
            log_err("ft: journal replay: %s", strerror(error));
            return error;
        }
        if (a->stats.journal_replayed) {
            log_info("ft: rebuilt from %"PRIu64" journal records", a->stats.journal_replayed);
        }
    }
    return ft_adapter_step(a, &ev);
}

int
ft_adapter_notify(struct ft_adapter *a, enum ft_event_kind kind, uint32_t peer)
{
    struct ft_event ev = { .kind = kind, .from = peer };

    if (kind != FT_EV_PEER_DOWN && kind != FT_EV_PEER_UP) {
        return EINVAL;
    }
    return ft_adapter_step(a, &ev);
}

int
ft_adapter_export_state(const struct ft_adapter *a, struct buf *b)
{
    return ft_core_export_state(a->core, b);
}

void
ft_adapter_destroy(struct ft_adapter *a)
{
    if (!a) {
        return;
    }
    if (a->loop_timer) {
        loop_cancel_timer(a->loop, a->loop_timer);
    }
    if (a->journal_fd >= 0) {
        close(a->journal_fd);
    }
    if (a->fd >= 0) {
        if (a->watched) {
            loop_del_fd(a->loop, a->fd);
        }
        close(a->fd);
    }
    if (a->core) {
        ft_core_destroy(a->core);
    }
    if (a->deliver_file) {
        fclose(a->deliver_file);
    }
    ft_actions_uninit(&a->actions);
    buf_uninit(&a->tx);
    u64map_destroy(&a->armed);
    free(a->heap);
    free(a->rxbuf);
    free(a->eps);
    free(a);
}

const struct ft_adapter_stats *
ft_adapter_stats(const struct ft_adapter *a)
{
    return &a->stats;
}

uint16_t
ft_adapter_port(const struct ft_adapter *a)
{
    return a->port;
}

size_t
ft_adapter_n_timers(const struct ft_adapter *a)
{
    return u64map_count(&a->armed);
}
