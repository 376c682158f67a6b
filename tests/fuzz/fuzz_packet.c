/* Fuzz target: packet_parse() (vnfs/lib/packet.h) and every network function (vnfs/fn/) on
 * untrusted frames.
 *
 * Each function gets its own copy of the frame. Whatever a function forwards or replies must
 * still be a frame packet_parse() accepts if the input was, with right checksums if the input's
 * were: rewrites must never break a good packet. The functions' states are capped so a long
 * run's memory stays bounded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/packet.h"
#include "vnfs/lib/state.h"
#include "vnfs/fn/nf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct nf *nfs[10];
static size_t n_nfs;

static void
add(const char *name, const char *key, const char *value)
{
    struct nf_param p = { key, value };
    char *err = NULL;
    struct nf *nf;

    if (nf_create(name, key ? &p : NULL, key ? 1 : 0, &nf, &err)) {
        abort();
    }
    state_set_limit(nf->state, 1024);
    nfs[n_nfs++] = nf;
}

static void
init(void)
{
    add("dns", "zone", "example.com=10.0.0.80,www.example.com=10.0.0.81");
    add("auth", "key", "fuzz");
    add("lb", "backends", "10.0.1.1@02:00:00:00:01:01,10.0.1.2@02:00:00:00:01:02");
    add("nat", "external", "192.0.2.1");
    add("simplenat", "external", "192.0.2.1");
    add("mazunat", "external", "192.0.2.1");
    add("monitor", "sharing", "4");
    add("firewall", "rule", "deny,proto=udp,dst=10.0.0.0/8,dport=1-100");
    add("gen", "state_size", "16");
    add("fwd", "iterations", "16");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t frame[65536 + 2048];
    struct packet_info info;

    if (!n_nfs) {
        init();
    }
    if (size > 65536) {
        return 0;
    }
    bool parsed = !packet_parse(data, size, &info);
    bool csum_ok = parsed && packet_l4_csum_ok(data, &info);
    if (parsed) {
        (void) packet_flow_hash(&info.flow);
    }

    for (size_t i = 0; i < n_nfs; i++) {
        memcpy(frame, data, size);
        struct nf_packet pkt = { .data = frame, .len = size, .cap = sizeof frame };
        enum nf_verdict v = nf_process(nfs[i], &pkt);
        if (pkt.len > pkt.cap) {
            abort();
        }
        if (v != NF_DROP && parsed) {
            struct packet_info out;
            if (packet_parse(frame, pkt.len, &out)) {
                abort();
            }
            if (csum_ok && !packet_l4_csum_ok(frame, &out)) {
                abort();
            }
        }
    }
    return 0;
}
