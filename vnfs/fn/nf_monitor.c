/* monitor — counts packets and bytes per flow and in shared counters.
 *
 * Params: sharing=N (1..4096, default 1): how many flow buckets share one shared counter, the
 * "sharing level" of the FTC paper's monitor. Flows hash into 4096 buckets; bucket b updates
 * shared counter b / N, so sharing=1 gives (nearly) one shared counter per flow and
 * sharing=4096 a single counter every packet updates: the higher the level, the more packets
 * contend for (and a replication scheme must order writes to) the same state.
 *
 * State: "Mf" + 5-tuple -> packets, bytes (2 x u64 big-endian); "Ms" + u16 slot -> packets
 * (u64 counter); "mon.packets" and "mon.bytes" in total. Every frame is forwarded unchanged;
 * frames that are not IPv4 count under the empty flow. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf-provider.h"

#define MONITOR_BUCKETS 4096

struct monitor_conf {
    uint32_t sharing;
};

static int
monitor_create(const struct nf_param *params, size_t n, struct nf **nfp, char **errp)
{
    static const char *const known[] = { "sharing", NULL };
    uint64_t sharing = 1;
    int error = nf_params_check(params, n, known, errp);

    if (!error) {
        error = nf_param_uint(params, n, "sharing", 1, MONITOR_BUCKETS, &sharing, errp);
    }
    if (error) {
        return error;
    }
    struct monitor_conf *c = xmalloc(sizeof *c);
    c->sharing = sharing;
    *nfp = nf_alloc(&nf_monitor_class, c);
    return 0;
}

static void
monitor_destroy(struct nf *nf)
{
    free(nf->priv);
    nf_free(nf);
}

static void
add_be64(uint8_t *p, uint64_t delta)
{
    put_be64(p, get_be64(p) + delta);
}

static enum nf_verdict
monitor_process(struct nf *nf, struct nf_packet *pkt)
{
    const struct monitor_conf *c = nf->priv;
    struct packet_info info;
    uint8_t key[2 + sizeof info.flow];

    memset(&info, 0, sizeof info);
    if (packet_parse(pkt->data, pkt->len, &info)) {
        memset(&info, 0, sizeof info);
    }
    uint32_t hash = pkt->flow_hash ? pkt->flow_hash : packet_flow_hash(&info.flow);

    key[0] = 'M';
    key[1] = 'f';
    memcpy(key + 2, &info.flow, sizeof info.flow);
    uint8_t *v;
    if (!state_write(nf->state, key, sizeof key, 16, &v)) {
        add_be64(v, 1);
        add_be64(v + 8, pkt->len);
    }

    uint16_t slot = (hash % MONITOR_BUCKETS) / c->sharing;
    uint8_t skey[4] = { 'M', 's', slot >> 8, slot };
    state_counter_add(nf->state, skey, sizeof skey, 1);
    state_counter_add(nf->state, "mon.packets", 11, 1);
    state_counter_add(nf->state, "mon.bytes", 9, pkt->len);
    return NF_FORWARD;
}

const struct nf_class nf_monitor_class = {
    .name = "monitor",
    .create = monitor_create,
    .destroy = monitor_destroy,
    .process = monitor_process,
};
