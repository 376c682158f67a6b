/* FTC's multithreaded head alone (ftc_replica with threads > 1, vnfs/ft/ftc): Monitor packets
 * (the paper's Fig. 6 middlebox, with its sharing level) through a head of 1, 2, 4 and 8
 * threads, a batch's end (the batch timer) after every 1, 4 or 64 packets: the batches the chain
 * hands a head below saturation, at a moderate load and at its most (FTC_MAX_PENDING). Prints
 * transactions per second (wall) and CPU time per transaction (the process's, every thread's),
 * each beside its ratio to one thread. No successor: the logs are not applied (test_ftc_threads
 * checks them). The host's CPU count and load average are printed first: threads beyond the
 * host's CPUs cannot run at once, and what they cost per batch is what this shows then. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/demo/demo.h"
#include "vnfs/ft/ftc/ftc.h"

#define PACKETS 100000
#define BATCH_TIMER 3           /* FTC_REPLICA_TIMER_BATCH. */

static double
now(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t
count_forwards(struct ft_actions *out)
{
    size_t n = 0;

    for (size_t i = 0; i < out->n; i++) {
        n += out->v[i].kind == FT_ACT_FORWARD;
    }
    ft_actions_clear(out);
    return n;
}

/* One head: PACKETS packets in batches of 'batch'; '*pps' and '*cpu_us' per transaction.
 * Returns 0, or 1 if a packet did not come out. */
static int
run_head(unsigned threads, unsigned sharing, unsigned batch, double *pps, double *cpu_us)
{
    static const uint32_t ring[2] = { 1, 2 };
    uint32_t next = 2;
    char threads_s[16], sharing_s[32];
    struct ft_param params[] = {
        { "n", "2" }, { "partitions", "16" }, { "mbox", "monitor" }, { "mbox_params", sharing_s },
        { "threads", threads_s },
    };
    struct ft_config cfg = {
        .self = 1, .f = 1, .group = ring, .n_group = 2, .next = &next, .n_next = 1,
        .params = params, .n_params = ARRAY_SIZE(params),
    };
    uint8_t body[3] = { 1, 1, 1 };
    struct demo_msg m = { .req_id = 1, .client = 1, .body = body, .body_len = sizeof body };
    struct ft_event start = { .kind = FT_EV_START };
    struct ftc_message empty = { 0 };
    struct ft_core *core = NULL;
    struct ft_actions out;
    struct buf pkt, inner;
    size_t sent = 0;
    double w0, c0;
    char *err = NULL;

    snprintf(threads_s, sizeof threads_s, "%u", threads);
    snprintf(sharing_s, sizeof sharing_s, "sharing=%u", sharing);
    if (ft_core_create(ft_core_class_find("ftc_replica"), &cfg, &core, &err)) {
        fprintf(stderr, "ftc_head: %s\n", err);
        free(err);
        return 1;
    }
    ft_actions_init(&out);
    buf_init(&pkt);
    buf_init(&inner);
    demo_msg_put(&inner, &m);
    buf_put_u8(&inner, 0);
    ftc_packet_put(&pkt, FTC_PKT_DATA, &empty, inner.data, inner.len);
    ft_core_step(core, &start, &out);
    ft_actions_clear(&out);

    w0 = now(CLOCK_MONOTONIC);
    c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    for (uint64_t id = 1; id <= PACKETS;) {
        struct ft_event tick = { .kind = FT_EV_TIMER, .timer = BATCH_TIMER };

        for (unsigned i = 0; i < batch && id <= PACKETS; i++, id++) {
            struct ft_event ev = { .kind = FT_EV_PACKET, .now_ns = id, .from = 0,
                                   .data = pkt.data, .len = pkt.len };

            ft_core_step(core, &ev, &out);
            sent += count_forwards(&out);
        }
        tick.now_ns = id;
        ft_core_step(core, &tick, &out);
        sent += count_forwards(&out);
    }
    *pps = PACKETS / (now(CLOCK_MONOTONIC) - w0);
    *cpu_us = (now(CLOCK_PROCESS_CPUTIME_ID) - c0) / PACKETS * 1e6;

    ft_core_destroy(core);
    ft_actions_uninit(&out);
    buf_uninit(&pkt);
    buf_uninit(&inner);
    return sent == PACKETS ? 0 : 1;
}

int
main(void)
{
    static const unsigned threads[] = { 1, 2, 4, 8 }, sharings[] = { 1, 8 };
    static const unsigned batches[] = { 1, 4, 64 };
    double load[3] = { 0 };
    int failed = 0;

    if (getloadavg(load, 3) < 0) {
        load[0] = -1;
    }
    printf("ftc_head: %d packets per point, host CPUs %ld, load %.2f\n", PACKETS,
           sysconf(_SC_NPROCESSORS_ONLN), load[0]);
    for (size_t s = 0; s < ARRAY_SIZE(sharings); s++) {
        for (size_t b = 0; b < ARRAY_SIZE(batches); b++) {
            double pps1 = 0, cpu1 = 0;

            for (size_t t = 0; t < ARRAY_SIZE(threads); t++) {
                double pps, cpu;

                if (run_head(threads[t], sharings[s], batches[b], &pps, &cpu)) {
                    printf("  threads %u sharing %u batch %u: FAILED (packets lost)\n",
                           threads[t], sharings[s], batches[b]);
                    failed = 1;
                    continue;
                }
                if (t == 0) {
                    pps1 = pps;
                    cpu1 = cpu;
                }
                printf("  sharing %u batch %2u threads %u: %9.0f tx/s (x%.2f), "
                       "%6.2f us CPU/tx (x%.2f)\n", sharings[s], batches[b], threads[t], pps,
                       pps / pps1, cpu, cpu / cpu1);
            }
        }
    }
    return failed;
}
