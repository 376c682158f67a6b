/* bench_fn — what each network function costs per packet, on the CPU alone (no I/O), as a
 * ratio to the cheapest forwarder (`fwd` with no state and no work) measured in the same run;
 * and how fast the state store exports and imports (what a checkpoint or a state transfer
 * costs per entry). Median of 5 runs each. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/dns.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/auth.h"
#include "vnfs/fn/nf.h"

#define RUNS 5
#define N 200000
#define FLOWS 1024

static const uint8_t mac_c[6] = { 2, 0, 0, 0, 0, 1 }, mac_s[6] = { 2, 0, 0, 0, 0, 2 };

struct fn_case {
    const char *label;
    const char *fn;
    const char *params[3];
    bool dns;                   /* Send DNS queries (with tokens), else 64-byte UDP. */
};

static const struct fn_case cases[] = {
    { "fwd (baseline)", "fwd", { NULL }, false },
    { "fwd state_size=64", "fwd", { "state_size=64", NULL }, false },
    { "fwd work=1us", "fwd", { "work=1us", NULL }, false },
    { "firewall 2 rules", "firewall", { "rule=deny,proto=tcp", "rule=allow,proto=udp,dport=1-1024", NULL }, false },
    { "monitor", "monitor", { "sharing=1", NULL }, false },
    { "gen state_size=64", "gen", { "state_size=64", NULL }, false },
    { "lb 4 backends", "lb", { "backends=10.0.1.1@02:00:00:00:01:01,10.0.1.2@02:00:00:00:01:02,"
                               "10.0.1.3@02:00:00:00:01:03,10.0.1.4@02:00:00:00:01:04", NULL }, false },
    { "nat", "nat", { "external=192.0.2.1", NULL }, false },
    { "auth (accepted flows)", "auth", { "key=bench", NULL }, true },
    { "dns (512-byte query)", "dns", { "zone=www.example.com=10.0.0.80", NULL }, true },
};

static uint8_t frames[FLOWS][1024];
static size_t frame_lens[FLOWS];

static void
make_frames(bool dns)
{
    uint8_t key[AUTH_KEY_LEN], token[AUTH_TOKEN_LEN], msg[512];
    size_t len;

    auth_key_from_string("bench", key);
    for (int i = 0; i < FLOWS; i++) {
        uint16_t sport = 10000 + i;
        if (dns) {
            struct packet_flow flow;
            packet_flow_init(&flow, 0x0a000001, 0x0a000035, sport, 53, IPPROTO_UDP);
            auth_token(key, &flow, token);
            struct dns_query_spec spec = { .id = i, .name = "www.example.com",
                                           .qtype = DNS_TYPE_A, .size = 512, .token = token,
                                           .token_len = sizeof token };
            if (dns_build_query(&spec, msg, sizeof msg, &len)) {
                sfc_abort("query");
            }
        } else {
            memset(msg, 0x5a, 22);
            len = 22;               /* 64-byte frames */
        }
        packet_build_udp(frames[i], sizeof frames[i], mac_c, mac_s, 0x0a000001, 0x0a000035,
                         sport, dns ? 53 : 80, msg, len, &frame_lens[i]);
    }
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return (x > y) - (x < y);
}

static double
run_case(const struct fn_case *c)
{
    struct nf_param params[3];
    char *copies[3];
    size_t n = 0;
    struct nf *nf;
    char *err;
    static uint8_t work[2048];
    uint64_t t[RUNS];

    for (; c->params[n]; n++) {
        copies[n] = xstrdup(c->params[n]);
        nf_param_parse(copies[n], &params[n]);
    }
    if (nf_create(c->fn, params, n, &nf, &err)) {
        sfc_abort("%s: %s", c->label, err);
    }
    make_frames(c->dns);
    for (int r = 0; r < RUNS; r++) {
        uint64_t t0 = time_mono_ns();
        for (int i = 0; i < N; i++) {
            int f = i % FLOWS;
            /* dns rewrites its frame into the reply: work on a copy, as a VNF's RX buffer. */
            memcpy(work, frames[f], frame_lens[f]);
            struct nf_packet pkt = { .data = work, .len = frame_lens[f], .cap = sizeof work };
            if (nf_process(nf, &pkt) == NF_DROP) {
                sfc_abort("%s dropped a packet", c->label);
            }
        }
        t[r] = time_mono_ns() - t0;
    }
    nf_destroy(nf);
    for (size_t i = 0; i < n; i++) {
        free(copies[i]);
    }
    qsort(t, RUNS, sizeof *t, cmp_u64);
    return (double) t[RUNS / 2] / N;
}

static void
bench_state(void)
{
    const int entries = 100000;
    struct nf_state *a = state_create(), *b = state_create();
    struct buf out = BUF_INITIALIZER;
    uint64_t te[RUNS], ti[RUNS], td[RUNS];
    uint8_t digest[STATE_DIGEST_LEN];

    for (int i = 0; i < entries; i++) {
        struct packet_flow f;
        packet_flow_init(&f, 0x0a000000 + i, 0x0a000035, 1000 + i % 50000, 53, IPPROTO_UDP);
        state_write(a, &f, sizeof f, 16, &(uint8_t *){ NULL });
    }
    for (int r = 0; r < RUNS; r++) {
        buf_clear(&out);
        uint64_t t0 = time_mono_ns();
        state_export(a, &out);
        uint64_t t1 = time_mono_ns();
        if (state_import(b, out.data, out.len)) {
            sfc_abort("import");
        }
        uint64_t t2 = time_mono_ns();
        state_digest(b, digest);
        uint64_t t3 = time_mono_ns();
        te[r] = t1 - t0;
        ti[r] = t2 - t1;
        td[r] = t3 - t2;
    }
    qsort(te, RUNS, sizeof *te, cmp_u64);
    qsort(ti, RUNS, sizeof *ti, cmp_u64);
    qsort(td, RUNS, sizeof *td, cmp_u64);
    printf("state store, %d entries of 16+16 bytes (%zu bytes exported), median of %d:\n",
           entries, out.len, RUNS);
    printf("  export %6.1f ns/entry  import %6.1f ns/entry  digest %6.1f ns/entry\n",
           (double) te[RUNS / 2] / entries, (double) ti[RUNS / 2] / entries,
           (double) td[RUNS / 2] / entries);
    buf_uninit(&out);
    state_destroy(a);
    state_destroy(b);
}

int
main(void)
{
    double base = 0;

    printf("network functions, ns per packet over %d flows, median of %d x %d:\n", FLOWS, RUNS,
           N);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double ns = run_case(&cases[i]);
        if (!i) {
            base = ns;
        }
        printf("  %-24s %8.1f ns  %6.2fx fwd\n", cases[i].label, ns, ns / base);
    }
    bench_state();
    return 0;
}
