/* FTC's per-packet path through a ring of N replicas (f = 1, Monitor, one thread each; N = 5,
 * or the argument, 2 to 8), as a chain of length N carries it: the tail's output commits return
 * on the next packet, as the forwarder piggybacks them. Run under
 * `valgrind --tool=callgrind --toggle-collect=step_middle` for the instructions a middle replica
 * (index N / 2) spends per packet (how it grows with N: a packet carries a commit vector per
 * middlebox); prints the bytes FTC adds
 * to the inner frame at each hop and the CPU time per packet of the whole ring; with
 * FTC_CHAIN_DEBUG set, what the last packet carried out of each replica (logs, commits). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/ftc/ftc.h"

#define PACKETS 20000
#define MAX_N 8
#define INNER 256

static struct ft_core *cores[MAX_N];
static struct ft_actions outs[MAX_N];

/* Stepped apart so that callgrind can count the middle replica alone. */
static void __attribute__((noinline))
step_middle(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    ft_core_step(core, ev, out);
}

/* The first forward of 'out', or NULL. */
static const struct ft_action *
forward_of(const struct ft_actions *out)
{
    for (size_t i = 0; i < out->n; i++) {
        if (out->v[i].kind == FT_ACT_FORWARD) {
            return &out->v[i];
        }
    }
    return NULL;
}

static void
make_inner(uint8_t *f, unsigned flow)
{
    static const uint8_t head[] = {
        0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 0x08, 0x00,                 /* Ethernet. */
        0x45, 0, 0, INNER - 14, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        0, 0, 0, 53, 0, INNER - 34, 0, 0,                               /* UDP. */
    };

    memset(f, 0, INNER);
    memcpy(f, head, sizeof head);
    f[34] = flow >> 8;
    f[35] = flow;
}

int
main(int argc, char *argv[])
{
    const unsigned n = argc > 1 ? (unsigned) atoi(argv[1]) : 5;
    char n_s[16];
    uint32_t ring[MAX_N], next[MAX_N];
    struct ft_param params[] = {
        { "n", n_s }, { "partitions", "1" }, { "mbox", "monitor" }, { "mbox_params", "" },
    };
    struct ftc_message *commits = xzalloc(sizeof *commits), *m = xzalloc(sizeof *m);
    size_t bytes[MAX_N] = { 0 }, done = 0;
    struct buf pkt, carry;
    uint8_t inner[INNER];
    clock_t c0;

    if (n < 2 || n > MAX_N) {
        fprintf(stderr, "usage: bench_ftc_chain [n (2-%d)]\n", MAX_N);
        return 2;
    }
    snprintf(n_s, sizeof n_s, "%u", n);
    for (unsigned i = 0; i < n; i++) {
        ring[i] = i + 1;
    }
    for (unsigned i = 0; i < n; i++) {
        struct ft_event start = { .kind = FT_EV_START };
        struct ft_config cfg = {
            .self = ring[i], .f = 1, .group = ring, .n_group = n, .next = &next[i],
            .n_next = 1, .params = params, .n_params = ARRAY_SIZE(params),
        };
        char *err = NULL;

        next[i] = i + 1 < n ? ring[i + 1] : 100;
        if (ft_core_create(ft_core_class_find("ftc_replica"), &cfg, &cores[i], &err)) {
            fprintf(stderr, "ftc_chain: %s\n", err);
            return 1;
        }
        ft_actions_init(&outs[i]);
        ft_core_step(cores[i], &start, &outs[i]);
        ft_actions_clear(&outs[i]);
    }
    buf_init(&pkt);
    buf_init(&carry);
    c0 = clock();
    for (uint64_t id = 1; id <= PACKETS; id++) {
        const struct ft_action *a;
        const uint8_t *data;
        size_t len;

        make_inner(inner, id % 64);
        buf_clear(&pkt);
        ftc_packet_put(&pkt, FTC_PKT_DATA, commits, inner, sizeof inner);
        commits->n_commits = 0;
        data = pkt.data;
        len = pkt.len;
        for (unsigned i = 0; i < n; i++) {
            struct ft_event ev = { .kind = FT_EV_PACKET, .now_ns = id * 1000,
                                   .from = i ? ring[i - 1] : 0, .data = data, .len = len };

            ft_actions_clear(&outs[i]);
            if (i == n / 2) {
                step_middle(cores[i], &ev, &outs[i]);
            } else {
                ft_core_step(cores[i], &ev, &outs[i]);
            }
            a = forward_of(&outs[i]);
            if (!a) {
                break;
            }
            bytes[i] += a->len - INNER;
            if (getenv("FTC_CHAIN_DEBUG") && id == PACKETS) {
                enum ftc_packet_type t;
                const uint8_t *in;
                size_t in_len;

                ftc_packet_parse(a->data, a->len, &t, m, &in, &in_len);
                printf("replica %u: %zu logs (", i, m->n_logs);
                for (size_t k = 0; k < m->n_logs; k++) {
                    printf(" g%u upd %u", m->logs[k].group, m->logs[k].upd_len);
                }
                printf(" ), %zu commits\n", m->n_commits);
            }
            data = a->data;
            len = a->len;
            if (i == n - 1) {
                enum ftc_packet_type type;
                const uint8_t *in;
                size_t in_len;

                /* The buffer's commits, back on the next packet through the forwarder. */
                buf_clear(&carry);
                buf_put(&carry, data, len);
                if (ftc_packet_parse(carry.data, carry.len, &type, m, &in, &in_len)) {
                    commits->n_commits = m->n_commits;
                    memcpy(commits->commits, m->commits, m->n_commits * sizeof *m->commits);
                    for (size_t k = 0; k < m->n_commits; k++) {
                        commits->commits[k].wire = NULL;
                    }
                }
                done++;
            }
        }
    }
    printf("ftc_chain: %d packets, %zu through, %.2f us CPU per packet (ring of %u)\n",
           PACKETS, done, (double) (clock() - c0) / CLOCKS_PER_SEC / PACKETS * 1e6, n);
    for (unsigned i = 0; i < n; i++) {
        printf("  out of replica %u: %.1f bytes of FTC per packet\n", i,
               (double) bytes[i] / PACKETS);
    }
    return done == PACKETS ? 0 : 1;
}
