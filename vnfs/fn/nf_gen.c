/* gen — writes N bytes of state per packet: the knob for how much a replication scheme must
 * carry per packet.
 *
 * Params: state_size=N (bytes, 0..1M, default 64). Each packet rewrites all N bytes of its
 * flow's entry ("G" + u32 flow hash): every byte gets 1 + (a byte of the packet & 0x7f) added,
 * so every byte changes on every packet (a delta export holds exactly N value bytes per
 * touched flow) and the contents depend on the packets in order. With N = 0 it touches
 * nothing. Forwards every frame unchanged. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/packet.h"
#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf-provider.h"

struct gen_conf {
    size_t state_size;
};

static int
gen_create(const struct nf_param *params, size_t n, struct nf **nfp, char **errp)
{
    static const char *const known[] = { "state_size", NULL };
    uint64_t size = 64;
    int error = nf_params_check(params, n, known, errp);

    if (!error) {
        error = nf_param_size(params, n, "state_size", 1 << 20, &size, errp);
    }
    if (error) {
        return error;
    }
    struct gen_conf *c = xmalloc(sizeof *c);
    c->state_size = size;
    *nfp = nf_alloc(&nf_gen_class, c);
    return 0;
}

static void
gen_destroy(struct nf *nf)
{
    free(nf->priv);
    nf_free(nf);
}

static enum nf_verdict
gen_process(struct nf *nf, struct nf_packet *pkt)
{
    const struct gen_conf *c = nf->priv;
    uint32_t hash = pkt->flow_hash;
    uint8_t *v;

    if (!c->state_size) {
        return NF_FORWARD;
    }
    if (!hash) {
        struct packet_info info;
        memset(&info, 0, sizeof info);
        if (packet_parse(pkt->data, pkt->len, &info)) {
            memset(&info, 0, sizeof info);
        }
        hash = packet_flow_hash(&info.flow);
    }
    uint8_t key[5] = { 'G', hash >> 24, hash >> 16, hash >> 8, hash };
    if (state_write(nf->state, key, sizeof key, c->state_size, &v)) {
        return NF_FORWARD;      /* Store full: the packet still goes on. */
    }
    for (size_t i = 0; i < c->state_size; i++) {
        uint8_t b = pkt->len ? pkt->data[i % pkt->len] : 0;
        v[i] += 1 + (b & 0x7f);
    }
    return NF_FORWARD;
}

const struct nf_class nf_gen_class = {
    .name = "gen",
    .create = gen_create,
    .destroy = gen_destroy,
    .process = gen_process,
};
