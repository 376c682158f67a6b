/* client — the workloads an end host runs against a chain, over ordinary UDP sockets (the
 * client is an end host; only chain components use AF_PACKET).
 *
 *   dns    N real DNS queries (RFC 1035, padded to --size bytes with EDNS0 padding, RFC 7830)
 *          to DST:53, closed loop (one outstanding) or open loop at --rate; RTT of each.
 *   echo   the same over a UDP echo server (payload of --size bytes): the bare-path baseline.
 *   udp    throughput: datagrams of --size bytes at --rate (0: as fast as the socket takes
 *          them) for --duration to an echo server; sent and echoed pps and bit/s per interval.
 *          Each datagram carries a magic and its sequence number (the first 16 bytes), so the
 *          echoes tell what the chain lost, duplicated or reordered end to end; after the
 *          last send it waits up to --timeout for the missing ones (late is not lost).
 *   probe  one request (--proto dns|echo) every --interval for --duration; each success or
 *          failure is a sample, and the gaps give availability.
 *
 * Samples go to --out as TSV lines "t_ns\tmetric\tvalue\tlabels" (t_ns: CLOCK_MONOTONIC):
 *   rtt_ns  <rtt or, for a timeout, the timeout>  req=N,outcome=OUTCOME
 *   probe   1 (answered right) or 0               seq=N,outcome=OUTCOME,rtt_ns=R
 *   tx_pps / rx_pps / tx_bps / rx_bps  <per --interval>  interval_ns=I
 *   lost_packets / duplicate_packets / reordered_packets  <count, once at the end>  (no label)
 *          (udp: numbered datagrams never echoed, echoed more than once, echoed after one
 *          with a higher number)
 * and one summary line goes to stdout. OUTCOME says what came back for a request:
 *   ok         the answer the service gives (with --expect: the expected A record);
 *   forged     a well-formed answer with other content (another or no A record);
 *   corrupted  ours by id/sequence number but malformed (it does not parse, or an echo whose
 *              length or payload differs);
 *   error      a DNS error rcode: what the service said, which is not a wrong answer;
 *   timeout    nothing came back in time.
 * Exit status: 0, 1 (it could not run), 2 (bad usage), 3 (it ran and sent, but not one request
 * was answered right). "wrong" (in the summary line) is forged + corrupted. A second answer to a request already
 * answered is a duplicate: a sample "answer_duplicate 1 seq=N" (dns, echo, probe). */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/dns.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/pktio.h"
#include "vnfs/fn/auth.h"
#include "vnfs/lib/util.h"
#include "vnfs/sfc/role.h"
#include "vnfs/sfc/roles.h"

enum outcome { OUT_OK, OUT_TIMEOUT, OUT_FORGED, OUT_CORRUPTED, OUT_ERROR };
static const char *const outcome_names[] = { "ok", "timeout", "forged", "corrupted", "error" };

#define ECHO_MAGIC 0x5346434c41424543ull    /* "SFCLABEC" */
#define UDP_MAGIC 0x5346434c41425544ull     /* "SFCLABUD": a numbered udp datagram */
#define UDP_BATCH 32

struct client {
    const char *workload;
    bool dns;                       /* Requests are DNS queries (else echo payloads). */
    int fd;
    struct sockaddr_in dst;
    uint64_t count;
    size_t size;
    double rate;                    /* Requests (or datagrams) per second; 0: closed loop. */
    double capacity_loss;           /* udp: search for the capacity at this loss; < 0: no. */
    uint64_t window_ns;             /* udp --capacity: how long each rate is held. */
    uint64_t duration_ns;
    uint64_t timeout_ns;
    uint64_t interval_ns;
    const char *name;
    bool have_expect;
    uint32_t expect;                /* Network byte order. */
    FILE *out;
    const char *auth_key;           /* dns: present the `auth` VNF's token for our flow. */
    uint8_t token[AUTH_TOKEN_LEN];
    bool have_token;
    uint64_t *sent_at;              /* Per request; 0: not sent yet. */
    bool *done;
    uint64_t *rtts;                 /* Of answered requests. */
    bool *answered;                 /* Per request: an answer came (a second one is a
                                     * duplicate). */
    uint64_t n_sent, n_ok, n_timeout, n_forged, n_corrupted, n_error, n_duplicate;
};

static void
sample(struct client *c, uint64_t t, const char *metric, double value, const char *fmt, ...)
    PRINTF_FORMAT(5, 6);

static void
sample(struct client *c, uint64_t t, const char *metric, double value, const char *fmt, ...)
{
    va_list args;

    if (!c->out) {
        return;
    }
    fprintf(c->out, "%llu\t%s\t%.17g\t", (unsigned long long) t, metric, value);
    va_start(args, fmt);
    vfprintf(c->out, fmt, args);
    va_end(args);
    fputc('\n', c->out);
}

static size_t
build_request(struct client *c, uint64_t seq, uint8_t *buf, size_t cap)
{
    size_t len = 0;

    if (c->dns) {
        struct dns_query_spec spec = {
            .id = seq & 0xffff, .name = c->name, .qtype = DNS_TYPE_A, .rd = true,
            .edns = true, .size = c->size,
            .token = c->have_token ? c->token : NULL,
            .token_len = c->have_token ? AUTH_TOKEN_LEN : 0,
        };
        if (dns_build_query(&spec, buf, cap, &len)) {
            return 0;
        }
        return len;
    }
    len = MAX(c->size, (size_t) 16);
    memset(buf, 0xa5, len);
    for (int i = 0; i < 8; i++) {
        buf[i] = ECHO_MAGIC >> (56 - 8 * i);
        buf[8 + i] = seq >> (56 - 8 * i);
    }
    return len;
}

/* Finds which request 'msg' answers (false: not an answer of ours) and how it went. */
static bool
match_response(struct client *c, uint64_t last_sent, const uint8_t *msg, size_t len,
               uint64_t *seqp, enum outcome *outcome)
{
    uint64_t seq = 0;

    if (c->dns) {
        struct dns_response r;
        bool parsed;
        uint16_t id;

        if (len < 2) {
            return false;
        }
        /* A message that does not parse is still ours if its id is: a corrupted answer. */
        parsed = !dns_parse_response(msg, len, &r);
        id = parsed ? r.id : (uint16_t) (msg[0] << 8 | msg[1]);
        seq = (last_sent & ~(uint64_t) 0xffff) | id;
        if (seq > last_sent) {
            if (seq < 0x10000) {
                return false;
            }
            seq -= 0x10000;
        }
        if (!parsed) {
            *outcome = OUT_CORRUPTED;
        } else if (r.rcode != DNS_RCODE_NOERROR) {
            *outcome = OUT_ERROR;
        } else if (!r.n_addrs) {
            *outcome = OUT_FORGED;
        } else if (c->have_expect) {
            bool found = false;
            for (size_t i = 0; i < r.n_addrs && i < DNS_MAX_ADDRS; i++) {
                found = found || r.addrs[i] == c->expect;
            }
            *outcome = found ? OUT_OK : OUT_FORGED;
        } else {
            *outcome = OUT_OK;
        }
    } else {
        uint64_t magic = 0;
        if (len < 16) {
            return false;
        }
        for (int i = 0; i < 8; i++) {
            magic = magic << 8 | msg[i];
            seq = seq << 8 | msg[8 + i];
        }
        if (magic != ECHO_MAGIC || seq > last_sent) {
            return false;
        }
        *outcome = len == MAX(c->size, (size_t) 16) ? OUT_OK : OUT_CORRUPTED;
        for (size_t i = 16; i < len && *outcome == OUT_OK; i++) {
            if (msg[i] != 0xa5) {
                *outcome = OUT_CORRUPTED;
            }
        }
    }
    *seqp = seq;
    return true;
}

static void
finish_request(struct client *c, uint64_t seq, enum outcome outcome, uint64_t now)
{
    uint64_t rtt = outcome == OUT_TIMEOUT ? c->timeout_ns : now - c->sent_at[seq];

    c->done[seq] = true;
    c->answered[seq] = outcome != OUT_TIMEOUT;
    switch (outcome) {
    case OUT_OK:
        c->rtts[c->n_ok++] = rtt;
        break;
    case OUT_TIMEOUT:
        c->n_timeout++;
        break;
    case OUT_FORGED:
        c->n_forged++;
        break;
    case OUT_CORRUPTED:
        c->n_corrupted++;
        break;
    case OUT_ERROR:
        c->n_error++;
        break;
    }
    if (!strcmp(c->workload, "probe")) {
        sample(c, c->sent_at[seq], "probe", outcome == OUT_OK, "seq=%llu,outcome=%s,rtt_ns=%llu",
               (unsigned long long) seq, outcome_names[outcome], (unsigned long long) rtt);
    } else {
        sample(c, c->sent_at[seq], "rtt_ns", rtt, "req=%llu,outcome=%s",
               (unsigned long long) seq, outcome_names[outcome]);
    }
}

/* Requests and answers: closed loop (rate 0) or open loop at 'rate'; stops after 'count'
 * requests or 'duration', then waits up to the timeout for the stragglers. */
static int
run_requests(struct client *c)
{
    uint64_t period = c->rate > 0 ? (uint64_t) (1e9 / c->rate) : 0;
    uint64_t start = time_mono_ns(), next_send = start, oldest = 0, next = 0;
    uint8_t buf[65536];

    c->sent_at = xcalloc(c->count, sizeof *c->sent_at);
    c->done = xcalloc(c->count, sizeof *c->done);
    c->rtts = xcalloc(c->count, sizeof *c->rtts);
    c->answered = xcalloc(c->count, sizeof *c->answered);
    for (;;) {
        uint64_t now = time_mono_ns(), wake = UINT64_MAX;
        bool sending = next < c->count && (!c->duration_ns || now - start < c->duration_ns);
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

        /* Time out what waited too long. */
        while (oldest < next && (c->done[oldest] || now - c->sent_at[oldest] >= c->timeout_ns)) {
            if (!c->done[oldest]) {
                finish_request(c, oldest, OUT_TIMEOUT, now);
            }
            oldest++;
        }
        if (!sending && oldest >= next) {
            break;
        }
        if (sending && (period ? now >= next_send : oldest == next)) {
            size_t len = build_request(c, next, buf, sizeof buf);
            if (!len) {
                log_err("cannot build a request of %zu bytes", c->size);
                return EINVAL;
            }
            c->sent_at[next] = time_mono_ns();
            if (send(c->fd, buf, len, 0) < 0 && errno != ENOBUFS && errno != EAGAIN) {
                log_err("send: %s", strerror(errno));
                return errno;
            }
            c->n_sent++;
            next++;
            next_send += period;
            continue;
        }
        if (sending && period) {
            wake = next_send;
        }
        if (oldest < next) {
            wake = MIN(wake, c->sent_at[oldest] + c->timeout_ns);
        }
        int ms = wake == UINT64_MAX ? 1000 : wake <= now ? 0 : (int) ((wake - now + 999999) / 1000000);
        /* A sub-millisecond send period is kept by spinning rather than sleeping 1 ms. */
        if (period && ms > 0 && wake - now < 1000000) {
            ms = 0;
        }
        if (poll(&pfd, 1, ms) > 0) {
            for (int i = 0; i < 64; i++) {
                ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
                uint64_t seq, t = time_mono_ns();
                enum outcome outcome;
                if (n < 0) {
                    break;
                }
                if (!next || !match_response(c, next - 1, buf, n, &seq, &outcome)) {
                    continue;
                }
                if (seq >= oldest && !c->done[seq]) {
                    finish_request(c, seq, outcome, t);
                } else if (c->answered[seq]) {
                    /* Answered already: the chain delivered this request twice. */
                    c->n_duplicate++;
                    sample(c, t, "answer_duplicate", 1, "seq=%llu", (unsigned long long) seq);
                }
            }
        }
    }
    return 0;
}

static int
cmp_u64(const void *a_, const void *b_)
{
    uint64_t a = *(const uint64_t *) a_, b = *(const uint64_t *) b_;
    return a < b ? -1 : a > b;
}

static void
print_request_summary(struct client *c)
{
    double mean = 0, sd = 0, p50 = 0, p99 = 0;
    uint64_t n = c->n_ok;

    if (n) {
        for (uint64_t i = 0; i < n; i++) {
            mean += c->rtts[i];
        }
        mean /= n;
        for (uint64_t i = 0; i < n; i++) {
            sd += (c->rtts[i] - mean) * (c->rtts[i] - mean);
        }
        sd = n > 1 ? sqrt(sd / (n - 1)) : 0;
        qsort(c->rtts, n, sizeof *c->rtts, cmp_u64);
        p50 = c->rtts[(n - 1) / 2];
        p99 = c->rtts[(uint64_t) ((n - 1) * 0.99)];
    }
    printf("%s: sent=%llu ok=%llu timeout=%llu wrong=%llu forged=%llu corrupted=%llu error=%llu "
           "duplicate=%llu rtt_us mean=%.1f ci95=%.1f p50=%.1f p99=%.1f\n", c->workload,
           (unsigned long long) c->n_sent, (unsigned long long) c->n_ok,
           (unsigned long long) c->n_timeout,
           (unsigned long long) (c->n_forged + c->n_corrupted), (unsigned long long) c->n_forged,
           (unsigned long long) c->n_corrupted, (unsigned long long) c->n_error,
           (unsigned long long) c->n_duplicate, mean / 1e3,
           n > 1 ? 1.96 * sd / sqrt(n) / 1e3 : 0, p50 / 1e3, p99 / 1e3);
}

/* What came back of the numbered datagrams: one bit per number sent. */
struct udp_seen {
    uint8_t *bits;
    size_t cap;                 /* Bytes. */
    uint64_t unique, dup, reordered, foreign;
    uint64_t highest;           /* Highest number echoed + 1; 0: none yet. */
};

static void
udp_seen_note(struct udp_seen *s, const uint8_t *p, size_t n, uint64_t tx)
{
    uint64_t seq;

    if (n < 16 || get_be64(p) != UDP_MAGIC || (seq = get_be64(p + 8)) >= tx) {
        s->foreign++;
        return;
    }
    if (seq / 8 >= s->cap) {
        size_t cap = MAX(s->cap * 2, (size_t) (seq / 8 + 1) + 4096);
        s->bits = xrealloc(s->bits, cap);
        memset(s->bits + s->cap, 0, cap - s->cap);
        s->cap = cap;
    }
    if (s->bits[seq / 8] & (1u << (seq % 8))) {
        s->dup++;
        return;
    }
    s->bits[seq / 8] |= 1u << (seq % 8);
    s->unique++;
    if (seq + 1 < s->highest) {
        s->reordered++;
    } else {
        s->highest = seq + 1;
    }
}

/* How many of the datagrams numbered 'first' to 'tx' - 1 came back. */
static uint64_t
udp_seen_count(const struct udp_seen *s, uint64_t first, uint64_t tx)
{
    uint64_t n = 0;

    if (!first) {
        return s->unique;
    }
    tx = MIN(tx, (uint64_t) s->cap * 8);
    for (uint64_t seq = first; seq < tx && seq % 8; seq++) {
        n += (s->bits[seq / 8] >> (seq % 8)) & 1;
    }
    for (uint64_t i = (first + 7) / 8; i < tx / 8; i++) {
        n += __builtin_popcount(s->bits[i]);
    }
    for (uint64_t seq = MAX(tx / 8 * 8, first); seq < tx; seq++) {
        n += (s->bits[seq / 8] >> (seq % 8)) & 1;
    }
    return n;
}

/* One udp run: its socket's batch of numbered datagrams, what came back, and the counters of
 * the current report interval. */
struct udp_run {
    struct client *c;
    size_t len;
    uint8_t *bufs;
    struct mmsghdr msgs[UDP_BATCH];
    struct iovec iovs[UDP_BATCH];
    struct udp_seen seen;
    uint64_t tx, rx, tx_i, rx_i;
    uint64_t tick;                  /* End of the current report interval. */
    uint64_t rx_first, rx_last;     /* When the first and the last echo came. */
};

/* A paced sender sleeps between its sends, at least this long: spinning to the next send (as
 * it did) took 40% of a CPU at 12,000 datagrams/s on loopback (perf stat), 10% sleeping, on a
 * 2-CPU host whose chain it measures. At that rate a wake-up sends a batch of about 3. */
#define UDP_PACE_NS 200000ull

/* Writes the interval's samples once it is over. */
static void
udp_report(struct udp_run *u, uint64_t now)
{
    struct client *c = u->c;
    double secs;

    if (now < u->tick) {
        return;
    }
    secs = (now - u->tick + c->interval_ns) / 1e9;
    sample(c, now, "tx_pps", u->tx_i / secs, "interval_ns=%llu",
           (unsigned long long) c->interval_ns);
    sample(c, now, "rx_pps", u->rx_i / secs, "interval_ns=%llu",
           (unsigned long long) c->interval_ns);
    sample(c, now, "tx_bps", u->tx_i * u->len * 8 / secs, "interval_ns=%llu",
           (unsigned long long) c->interval_ns);
    sample(c, now, "rx_bps", u->rx_i * u->len * 8 / secs, "interval_ns=%llu",
           (unsigned long long) c->interval_ns);
    u->tx_i = u->rx_i = 0;
    u->tick = now + c->interval_ns;
}

/* Takes in what the socket holds. */
static void
udp_receive(struct udp_run *u)
{
    uint8_t rbuf[65536];

    for (int i = 0; i < 1024; i++) {
        ssize_t n = recv(u->c->fd, rbuf, sizeof rbuf, MSG_DONTWAIT);
        if (n < 0) {
            break;
        }
        udp_seen_note(&u->seen, rbuf, n, u->tx);
        u->rx_last = time_mono_ns();
        if (!u->rx++) {
            u->rx_first = u->rx_last;
        }
        u->rx_i++;
    }
}

/* Sends at 'rate' datagrams per second (0: as fast as the socket takes them) until 'until',
 * taking in the echoes as they come; reports every interval while 'report'. */
static void
udp_send_until(struct udp_run *u, double rate, uint64_t until, bool report)
{
    uint64_t period = rate > 0 ? (uint64_t) (1e9 / rate) : 0;
    uint64_t next_send = time_mono_ns();

    for (;;) {
        uint64_t now = time_mono_ns();
        int burst = UDP_BATCH;

        if (report) {
            udp_report(u, now);
        }
        if (now >= until) {
            break;
        }
        if (period) {
            burst = now >= next_send ? (int) MIN((now - next_send) / period + 1,
                                                 (uint64_t) UDP_BATCH) : 0;
        }
        if (burst) {
            int n;

            for (int i = 0; i < burst; i++) {
                put_be64(u->bufs + i * u->len + 8, u->tx + i);
            }
            n = sendmmsg(u->c->fd, u->msgs, burst, MSG_DONTWAIT);
            if (n > 0) {
                u->tx += n;
                u->tx_i += n;
                next_send += n * period;
            }
        }
        udp_receive(u);
        if (period && next_send > now) {
            uint64_t wake = MIN(MAX(next_send, now + UDP_PACE_NS), until);
            struct timespec ts;

            if (report) {
                wake = MIN(wake, u->tick);
            }
            ts = (struct timespec) { (time_t) (wake / 1000000000ull),
                                     (long) (wake % 1000000000ull) };
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        }
    }
}

/* Takes in echoes until every datagram numbered 'first' or more came back (at least 'min'
 * after now) or 'deadline'; reports while before 'report_until'. Returns how many of those
 * did not come back. */
static uint64_t
udp_drain(struct udp_run *u, uint64_t first, uint64_t min, uint64_t deadline,
          uint64_t report_until)
{
    uint64_t start = time_mono_ns();

    for (;;) {
        uint64_t now = time_mono_ns();
        struct pollfd pfd = { .fd = u->c->fd, .events = POLLIN };

        if (now < report_until) {
            udp_report(u, now);
        }
        udp_receive(u);
        if (now >= deadline
            || (now >= start + min && udp_seen_count(&u->seen, first, u->tx) >= u->tx - first)) {
            return u->tx - first - udp_seen_count(&u->seen, first, u->tx);
        }
        poll(&pfd, 1, 1);
    }
}

/* Takes in echoes until none came for 'quiet' or 'deadline': the chain is idle again. */
static void
udp_settle(struct udp_run *u, uint64_t quiet, uint64_t deadline)
{
    for (;;) {
        uint64_t now = time_mono_ns();
        struct pollfd pfd = { .fd = u->c->fd, .events = POLLIN };

        udp_receive(u);
        if (now >= deadline || now - u->rx_last >= quiet) {
            return;
        }
        poll(&pfd, 1, 1);
    }
}

/* Capacity (--capacity LOSS): the highest paced rate whose datagrams come back with a loss of
 * at most LOSS, each rate held for --window and its echoes awaited (up to --timeout) before
 * the next: one window at --rate first, not judged (the chain's start: first checkpoints,
 * first flows); then up by a quarter from --rate while a rate passes (down by a third while it
 * fails); then halving the interval between the highest passing and lowest failing rates until
 * it is within 1% of the passing one, or --duration runs out. A rate fails only when it fails
 * twice in a row: on a shared host a stall of a few ms anywhere in the chain overflows a
 * queue, and one such moment made a whole search end low. After a failing rate the search
 * rests until no echo came for the wait (--timeout, at most 1 s), at most twice that: the
 * chain idle before the next rate, so that one overload does not carry into it. A rate the
 * client could not send (under 99% of it sent) fails as the client's, not the chain's, and is
 * said so: capacity is then a lower bound. Samples: one capacity_step per rate (the loss;
 * labels: rate_pps, sent_pps, pass), capacity_pps and capacity_bps (payload bits, as rx_bps)
 * at the end. */
static void
udp_capacity(struct udp_run *u)
{
    struct client *c = u->c;
    uint64_t start = time_mono_ns(), end = start + c->duration_ns;
    uint64_t rest_ns = MIN(c->timeout_ns, 1000000000ull);
    uint64_t step_ns = c->window_ns + rest_ns;
    double lo = 0, hi = 0, rate = c->rate;
    unsigned steps = 0, tries = 0;
    bool client_limited = false;

    udp_send_until(u, c->rate, start + c->window_ns, true);
    udp_drain(u, 0, 0, time_mono_ns() + rest_ns, UINT64_MAX);
    while (time_mono_ns() + step_ns <= end && rate >= 1) {
        uint64_t first = u->tx, t0 = time_mono_ns(), lost;
        double sent_pps, loss;
        bool pass;

        udp_send_until(u, rate, t0 + c->window_ns, true);
        sent_pps = (u->tx - first) / ((time_mono_ns() - t0) / 1e9);
        lost = udp_drain(u, first, 0, time_mono_ns() + c->timeout_ns, UINT64_MAX);
        loss = u->tx > first ? (double) lost / (double) (u->tx - first) : 1;
        pass = loss <= c->capacity_loss && sent_pps >= 0.99 * rate;
        if (!pass) {
            udp_settle(u, rest_ns, time_mono_ns() + 2 * rest_ns);
        }
        client_limited |= sent_pps < 0.99 * rate;
        sample(c, time_mono_ns(), "capacity_step", loss,
               "rate_pps=%.0f,sent_pps=%.0f,pass=%d,try=%u", rate, sent_pps, pass, tries + 1);
        steps++;
        if (!pass && !tries++) {
            continue;           /* Once more: a moment's stall of the host is no capacity. */
        }
        tries = 0;
        if (pass) {
            lo = rate;
        } else {
            hi = rate;
        }
        if (lo && hi && hi - lo <= lo * 0.01) {
            break;
        }
        rate = !hi ? lo * 1.25 : !lo ? hi / 1.5 : (lo + hi) / 2;
    }
    printf("udp capacity: %.0f datagrams/s (%.0f bit/s) at loss <= %g over %.1f s windows, "
           "%u steps, lowest failing %.0f%s\n", lo, lo * u->len * 8, c->capacity_loss,
           c->window_ns / 1e9, steps, hi,
           client_limited ? "; the client could not send one of the rates" : "");
    sample(c, time_mono_ns(), "capacity_pps", lo, "%s", "");
    sample(c, time_mono_ns(), "capacity_bps", lo * u->len * 8, "%s", "");
    if (client_limited) {
        sample(c, time_mono_ns(), "capacity_client_limited", 1, "%s", "");
    }
}

/* Throughput: sends for 'duration' at 'rate' (0: flat out) and counts what comes back; or,
 * with --capacity, searches for the chain's capacity. */
static int
run_udp(struct client *c)
{
    uint64_t start = time_mono_ns();
    struct udp_run u = { .c = c, .len = MAX(c->size, (size_t) 16),
                         .tick = start + c->interval_ns };

    u.bufs = xmalloc(u.len * UDP_BATCH);
    memset(u.bufs, 0x5a, u.len * UDP_BATCH);
    for (int i = 0; i < UDP_BATCH; i++) {
        u.iovs[i] = (struct iovec) { u.bufs + i * u.len, u.len };
        u.msgs[i].msg_hdr.msg_iov = &u.iovs[i];
        u.msgs[i].msg_hdr.msg_iovlen = 1;
        put_be64(u.bufs + i * u.len, UDP_MAGIC);
    }
    if (c->rate > 0) {
        /* Wake-ups on time, not up to 50 us late (the default slack): the pacing is ours. */
        prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    }
    if (c->capacity_loss >= 0) {
        udp_capacity(&u);
    } else {
        uint64_t end = start + c->duration_ns;

        udp_send_until(&u, c->rate, end, true);
        /* Late answers (a scheme that repairs a loss resends it) count until the timeout
         * after the last send; a run that got everything back ends 200 ms after it. */
        udp_drain(&u, 0, 200000000ull, end + MAX(c->timeout_ns, 200000000ull),
                  end + c->interval_ns / 2);
    }
    /* A capacity search's own length, else the sending time asked for. */
    double secs = c->capacity_loss >= 0 ? (time_mono_ns() - start) / 1e9 : c->duration_ns / 1e9;
    double rx_secs = u.rx > 1 ? (u.rx_last - u.rx_first) / 1e9 : secs;
    uint64_t now = time_mono_ns();
    printf("udp: size=%zu tx=%llu rx=%llu tx_pps=%.0f rx_pps=%.0f rx_bps=%.0f loss=%.4f "
           "lost=%llu duplicate=%llu reordered=%llu\n", u.len,
           (unsigned long long) u.tx, (unsigned long long) u.rx, u.tx / secs,
           rx_secs > 0 ? u.rx / rx_secs : 0, rx_secs > 0 ? u.rx * u.len * 8 / rx_secs : 0,
           u.tx ? 1.0 - (double) u.rx / u.tx : 0, (unsigned long long) (u.tx - u.seen.unique),
           (unsigned long long) u.seen.dup, (unsigned long long) u.seen.reordered);
    /* Unlabelled: one series per run, which the runner summarises as it is. */
    sample(c, now, "lost_packets", u.tx - u.seen.unique, "%s", "");
    sample(c, now, "duplicate_packets", u.seen.dup, "%s", "");
    sample(c, now, "reordered_packets", u.seen.reordered, "%s", "");
    c->n_sent = u.tx;
    free(u.seen.bits);
    free(u.bufs);
    return 0;
}

static void
usage(void)
{
    printf("usage: sfcd client --workload dns|echo|udp|probe --dst IP [OPTION...]\n"
           "  --dst IP         server address\n"
           "  --port P         server port (default 53 for dns, 7 otherwise)\n"
           "  --count N        requests (default 1000)\n"
           "  --size B         request size in bytes (dns: padded with EDNS0; default 64)\n"
           "  --rate R         requests/datagrams per second (default: closed loop / flat out)\n"
           "  --capacity LOSS  udp: search the highest rate lost at most LOSS (a fraction), from\n"
           "                   --rate (required) up, within --duration\n"
           "  --window T       udp --capacity: how long each rate is held (default 2s)\n"
           "  --duration T     bound on sending time (udp, probe: default 5s)\n"
           "  --timeout T      answer timeout (default 1s)\n"
           "  --interval T     udp report interval / probe period (default 1s / 10ms)\n"
           "  --name NAME      dns: name to ask for (default www.example.com)\n"
           "  --expect IP      dns: an answer without this A record is wrong\n"
           "  --auth-key KEY   dns: carry the auth VNF's token for our flow (key as its param)\n"
           "  --proto dns|echo probe: what to send (default dns)\n"
           "  --sport P        send from UDP port P (default: the kernel's choice)\n"
           "  --out FILE       samples, TSV: t_ns metric value labels\n"
           ROLE_COMMON_USAGE);
}

/* The token of our flow, as the auth VNF computes it (vnfs/fn/auth.h): the 5-tuple the kernel
 * gave the connected socket, client to server. */
static int
client_token(struct client *c)
{
    uint8_t key[AUTH_KEY_LEN];
    struct sockaddr_in self;
    socklen_t len = sizeof self;
    struct packet_flow flow;

    if (auth_key_from_string(c->auth_key, key)) {
        log_err("--auth-key: not a key (a passphrase, or hex:<64 hex digits>)");
        return EINVAL;
    }
    if (getsockname(c->fd, (struct sockaddr *) &self, &len)) {
        log_err("getsockname: %s", strerror(errno));
        return errno;
    }
    memset(&flow, 0, sizeof flow);
    flow.src_ip = self.sin_addr.s_addr;
    flow.dst_ip = c->dst.sin_addr.s_addr;
    flow.src_port = self.sin_port;
    flow.dst_port = c->dst.sin_port;
    flow.proto = IPPROTO_UDP;
    auth_token(key, &flow, c->token);
    c->have_token = true;
    return 0;
}

static bool
parse_count(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *end || errno || v > max) {
        return false;
    }
    *out = v;
    return true;
}

int
role_client(int argc, char *argv[])
{
    static const struct option options[] = {
        { "workload", required_argument, NULL, 'w' },
        { "dst", required_argument, NULL, 'd' },
        { "port", required_argument, NULL, 'P' },
        { "count", required_argument, NULL, 'n' },
        { "size", required_argument, NULL, 's' },
        { "rate", required_argument, NULL, 'r' },
        { "capacity", required_argument, NULL, 'C' },
        { "window", required_argument, NULL, 'W' },
        { "duration", required_argument, NULL, 'D' },
        { "timeout", required_argument, NULL, 't' },
        { "interval", required_argument, NULL, 'i' },
        { "name", required_argument, NULL, 'N' },
        { "expect", required_argument, NULL, 'e' },
        { "auth-key", required_argument, NULL, 'A' },
        { "proto", required_argument, NULL, 'p' },
        { "sport", required_argument, NULL, 'S' },
        { "out", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        ROLE_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    struct client c;
    struct role role;
    const char *dst = NULL, *proto = "dns", *out_path = NULL;
    uint64_t port = 0, sport = 0, v;
    bool have_duration = false, have_interval = false, have_count = false;
    int opt, error, rc = 2, bufsize = 4 << 20;

    memset(&c, 0, sizeof c);
    c.fd = -1;
    c.count = 1000;
    c.size = 64;
    c.timeout_ns = 1000000000ull;
    c.capacity_loss = -1;
    c.window_ns = 2000000000ull;
    c.name = "www.example.com";
    role_init_common(&role, "client");
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        bool ok = true;
        char *end;

        switch (opt) {
        case 'w': c.workload = optarg; break;
        case 'A': c.auth_key = optarg; break;
        case 'd': dst = optarg; break;
        case 'P': ok = parse_count(optarg, 65535, &port) && port; break;
        case 'S': ok = parse_count(optarg, 65535, &sport) && sport; break;
        case 'n': ok = parse_count(optarg, 100000000, &c.count); have_count = true; break;
        case 's': ok = parse_size(optarg, &v) && v <= 65000; c.size = v; break;
        case 'r': c.rate = strtod(optarg, &end); ok = !*end && c.rate >= 0; break;
        case 'C':
            c.capacity_loss = strtod(optarg, &end);
            ok = *optarg && !*end && c.capacity_loss >= 0 && c.capacity_loss < 1;
            break;
        case 'W': ok = parse_duration(optarg, &c.window_ns) && c.window_ns; break;
        case 'D': ok = parse_duration(optarg, &c.duration_ns); have_duration = true; break;
        case 't': ok = parse_duration(optarg, &c.timeout_ns) && c.timeout_ns; break;
        case 'i':
            ok = parse_duration(optarg, &c.interval_ns) && c.interval_ns;
            have_interval = true;
            break;
        case 'N': c.name = optarg; break;
        case 'e':
            ok = inet_pton(AF_INET, optarg, &c.expect) == 1;
            c.have_expect = true;
            break;
        case 'p': proto = optarg; ok = !strcmp(proto, "dns") || !strcmp(proto, "echo"); break;
        case 'o': out_path = optarg; break;
        default:
            if (role_parse_option(&role, opt, optarg, usage, &rc)) {
                goto out;
            }
        }
        if (!ok) {
            fprintf(stderr, "sfcd client: bad option value '%s' (see --help)\n", optarg);
            goto out;
        }
    }
    if (!c.workload || !dst || optind != argc) {
        fprintf(stderr, "sfcd client: --workload and --dst are required\n");
        goto out;
    }
    if (strcmp(c.workload, "dns") && strcmp(c.workload, "echo") && strcmp(c.workload, "udp")
        && strcmp(c.workload, "probe")) {
        fprintf(stderr, "sfcd client: unknown workload '%s' (expected dns, echo, udp, probe)\n",
                c.workload);
        goto out;
    }
    c.dst.sin_family = AF_INET;
    if (inet_pton(AF_INET, dst, &c.dst.sin_addr) != 1) {
        fprintf(stderr, "sfcd client: --dst: '%s' is not an IPv4 address\n", dst);
        goto out;
    }
    c.dns = !strcmp(c.workload, "dns") || (!strcmp(c.workload, "probe") && !strcmp(proto, "dns"));
    c.dst.sin_port = htons(port ? port : c.dns ? DNS_PORT : 7);
    if (!strcmp(c.workload, "udp")) {
        if (!have_duration) {
            c.duration_ns = 5000000000ull;
        }
        if (!have_interval) {
            c.interval_ns = 1000000000ull;
        }
        if (c.capacity_loss >= 0 && !c.rate) {
            fprintf(stderr, "sfcd client: --capacity needs a --rate to start from\n");
            goto out;
        }
    } else if (!strcmp(c.workload, "probe")) {
        if (!have_duration) {
            c.duration_ns = 5000000000ull;
        }
        if (!have_interval) {
            c.interval_ns = 10000000ull;
        }
        /* The timeout is the one asked for, even past the interval: probes overlap (open
         * loop), and a probe answered late is counted late, not lost, as the experiment says
         * (a 10 ms cap made every chain slower than 10 ms look down: NHAM's T2 at 27%). */
        c.rate = 1e9 / c.interval_ns;
        if (!have_count) {
            c.count = c.duration_ns / c.interval_ns + 1;
        }
    }
    if (c.dns) {
        struct dns_query_spec spec = { .name = c.name, .qtype = DNS_TYPE_A, .edns = true };
        size_t min;
        if (dns_query_min_size(&spec, &min)) {
            fprintf(stderr, "sfcd client: --name: '%s' is not a DNS name\n", c.name);
            goto out;
        }
        if (c.size < min) {
            c.size = min;
        }
    }
    rc = 1;
    if (role.cpu >= 0 && (error = role_pin_cpu(role.cpu))) {
        log_err("cannot pin to CPU %d: %s", role.cpu, strerror(error));
        goto out;
    }
    if (out_path) {
        c.out = fopen(out_path, "w");
        if (!c.out) {
            log_err("%s: %s", out_path, strerror(errno));
            goto out;
        }
        setvbuf(c.out, NULL, _IOFBF, 1 << 20);
    }
    c.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
        log_err("socket: %s", strerror(errno));
        goto out;
    }
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
    setsockopt(c.fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
    if (role.iface) {
        pktio_set_tx_csum(role.iface, false);
        if (setsockopt(c.fd, SOL_SOCKET, SO_BINDTODEVICE, role.iface,
                       strlen(role.iface) + 1) < 0) {
            log_err("%s: %s", role.iface, strerror(errno));
            goto out;
        }
    }
    if (sport) {
        /* A fixed source port: a NAT on the chain whose range is this port maps the flow onto
         * itself, so its answers reach us without a reverse path through it. */
        struct sockaddr_in self = { .sin_family = AF_INET, .sin_port = htons(sport) };
        int one = 1;

        setsockopt(c.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(c.fd, (struct sockaddr *) &self, sizeof self) < 0) {
            log_err("bind to port %llu: %s", (unsigned long long) sport, strerror(errno));
            goto out;
        }
    }
    /* connect() makes the kernel drop datagrams from anyone but the server. */
    if (connect(c.fd, (struct sockaddr *) &c.dst, sizeof c.dst) < 0) {
        log_err("connect %s: %s", dst, strerror(errno));
        goto out;
    }
    if (c.auth_key && (error = client_token(&c))) {
        goto out;
    }
    if (!strcmp(c.workload, "udp")) {
        error = run_udp(&c);
    } else {
        error = run_requests(&c);
        if (!error) {
            print_request_summary(&c);
        }
    }
    /* 3: it ran, but nothing was answered (a measurement, not a broken client). */
    rc = error ? 1 : c.n_sent && (c.n_ok || !strcmp(c.workload, "udp")) ? 0 : c.n_sent ? 3 : 1;
out:
    if (c.out && fclose(c.out)) {
        log_err("%s: %s", out_path, strerror(errno));
        rc = 1;
    }
    if (c.fd >= 0) {
        close(c.fd);
    }
    free(c.sent_at);
    free(c.done);
    free(c.rtts);
    free(c.answered);
    role_finish(&role);
    return rc;
}
