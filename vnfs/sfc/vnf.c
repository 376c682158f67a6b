/* vnf — a service function: takes NSH frames addressed to it, runs the network function
 * (vnfs/fn/nf.h) on the inner frame, decrements SI and returns the frame to the SFF that sent
 * it. A reply (NF_REPLY, e.g. dns) goes back on the reverse path (SPI | NSH_SPI_REVERSE, SI 255,
 * see nsh.h); NF_DROP drops. The control socket adds export_state / import_state (the state
 * store's binary export, base64) for the schemes and NHAM's app-level checkpoints. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>

#include "vnfs/core/loop.h"
#include "vnfs/core/nsh.h"
#include "vnfs/core/packet.h"
#include "vnfs/core/pktio.h"
#include "vnfs/core/state.h"
#include "vnfs/core/util.h"
#include "vnfs/fn/nf.h"
#include "vnfs/sfc/hop.h"
#include "vnfs/sfc/role.h"
#include "vnfs/sfc/roles.h"

struct vnf {
    struct role role;
    struct nf *nf;
    uint64_t n_forwarded, n_replies, n_dropped, n_malformed, n_ignored, n_si_exhausted;
    uint64_t n_stamp_full, n_imports;
};

static void
process(void *v_, struct pktio_pkt *pkt, uint64_t t_in)
{
    struct vnf *v = v_;
    const uint8_t *own = pktio_mac(v->role.io);
    uint8_t *nsh = pkt->data + HOP_ETH_LEN;
    struct packet_info info;
    struct nf_packet np;
    struct nsh_hdr hdr;
    bool stamp;

    if (!hop_is_nsh_for(pkt->data, pkt->len, own)) {
        v->n_ignored++;
        return;
    }
    if (nsh_decode(nsh, pkt->len - HOP_ETH_LEN, &hdr, NULL)
        || hdr.next_proto != NSH_NP_ETHERNET) {
        v->n_malformed++;
        return;
    }
    stamp = nsh_tlv_count(&hdr, NSH_CLASS_SFCLAB, NSH_TLV_TIMESTAMP) > 0;
    np.data = nsh + hdr.len;
    np.len = pkt->len - HOP_ETH_LEN - hdr.len;
    np.cap = pkt->cap - HOP_ETH_LEN - hdr.len;
    np.now_ns = t_in;
    np.flow_hash = packet_parse(np.data, np.len, &info) ? 0 : packet_flow_hash(&info.flow);
    switch (nf_process(v->nf, &np)) {
    case NF_FORWARD:
        if (!nsh_dec_si(nsh)) {
            v->n_si_exhausted++;
            return;
        }
        v->n_forwarded++;
        break;
    case NF_REPLY:
        nsh_set_spi_si(nsh, hdr.spi | NSH_SPI_REVERSE, NSH_SI_START);
        v->n_replies++;
        break;
    case NF_DROP:
    default:
        v->n_dropped++;
        return;
    }
    pkt->len = HOP_ETH_LEN + hdr.len + np.len;
    /* Back to the SFF that sent it. */
    hop_set_macs(pkt->data, pkt->data + 6, own);
    if (stamp && hop_stamp(pkt, v->role.id, t_in)) {
        v->n_stamp_full++;
    }
    pktio_queue(v->role.io, pkt->data, pkt->len);
}

static int
ctl_export_state(void *role_, json_t *params, json_t **result, char **errmsg)
{
    struct vnf *v = ((struct role *) role_)->aux;
    struct buf b = BUF_INITIALIZER;
    uint8_t digest[STATE_DIGEST_LEN];
    char *state, *hex;

    state_export(v->nf->state, &b);
    state_digest(v->nf->state, digest);
    state = rpc_base64_encode(b.data, b.len);
    hex = xmalloc(2 * sizeof digest + 1);
    for (size_t i = 0; i < sizeof digest; i++) {
        sprintf(hex + 2 * i, "%02x", digest[i]);
    }
    *result = json_pack("{s:s, s:s, s:I, s:I, s:s}", "fn", v->nf->class->name, "state", state,
                        "bytes", (json_int_t) b.len,
                        "entries", (json_int_t) state_count(v->nf->state), "digest", hex);
    free(state);
    free(hex);
    buf_uninit(&b);
    return 0;
}

static int
ctl_import_state(void *role_, json_t *params, json_t **result, char **errmsg)
{
    struct vnf *v = ((struct role *) role_)->aux;
    const char *state = json_string_value(json_object_get(params, "state"));
    struct buf b = BUF_INITIALIZER;
    int error;

    if (!state) {
        *errmsg = xstrdup("import_state: params need \"state\" (base64)");
        return EINVAL;
    }
    error = rpc_base64_decode(state, &b);
    if (error) {
        *errmsg = xstrdup("import_state: \"state\" is not base64");
        goto out;
    }
    error = state_import(v->nf->state, b.data, b.len);
    if (error) {
        *errmsg = xasprintf("import_state: the state export is malformed (%s)", strerror(error));
        goto out;
    }
    v->n_imports++;
    *result = json_pack("{s:I}", "entries", (json_int_t) state_count(v->nf->state));
out:
    buf_uninit(&b);
    return error;
}

static void
usage(void)
{
    printf("usage: sfcd vnf --iface IF --fn NAME [--param KEY=VALUE ...]\n"
           "  --fn NAME          one of: %s\n"
           "  --param KEY=VALUE  the function's parameters (see vnfs/fn/)\n"
           ROLE_COMMON_USAGE, nf_class_names());
}

int
role_vnf(int argc, char *argv[])
{
    static const struct option options[] = {
        { "fn", required_argument, NULL, 'f' },
        { "param", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        ROLE_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    struct nf_param *params = NULL;
    size_t n_params = 0;
    const char *fn = NULL;
    char *errmsg = NULL;
    struct vnf v;
    int opt, rc = 2;

    memset(&v, 0, sizeof v);
    role_init_common(&v.role, "vnf");
    v.role.aux = &v;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'f':
            fn = optarg;
            break;
        case 'p':
            params = xrealloc(params, (n_params + 1) * sizeof *params);
            /* nf_param_parse() points into optarg, which lives as long as argv. */
            if (!nf_param_parse(optarg, &params[n_params])) {
                fprintf(stderr, "sfcd vnf: --param: '%s' is not KEY=VALUE\n", optarg);
                goto out;
            }
            n_params++;
            break;
        default:
            if (role_parse_option(&v.role, opt, optarg, usage, &rc)) {
                goto out;
            }
        }
    }
    if (!v.role.iface || !fn || optind != argc) {
        fprintf(stderr, "sfcd vnf: --iface and --fn are required\n");
        goto out;
    }
    if (nf_create(fn, params, n_params, &v.nf, &errmsg)) {
        fprintf(stderr, "sfcd vnf: %s\n", errmsg);
        goto out;
    }
    /* The function's random draws (lb choice=random, nat alloc=random) are real here. */
    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed) {
        seed = time_mono_ns() ^ ((uint64_t) getpid() << 32);
    }
    ft_rng_init(&v.nf->det.rng, seed);
    rc = 1;
    if (role_open_pktio(&v.role, false)) {
        goto out;
    }
    role_add_counter(&v.role, "nf_in", &v.nf->n_in);
    role_add_counter(&v.role, "forwarded", &v.n_forwarded);
    role_add_counter(&v.role, "replies", &v.n_replies);
    role_add_counter(&v.role, "dropped", &v.n_dropped);
    role_add_counter(&v.role, "malformed", &v.n_malformed);
    role_add_counter(&v.role, "ignored", &v.n_ignored);
    role_add_counter(&v.role, "si_exhausted", &v.n_si_exhausted);
    role_add_counter(&v.role, "stamp_full", &v.n_stamp_full);
    role_add_counter(&v.role, "state_imports", &v.n_imports);
    role_add_method(&v.role, "export_state", ctl_export_state);
    role_add_method(&v.role, "import_state", ctl_import_state);
    rc = role_serve_pktio(&v.role, process, NULL);
out:
    role_finish(&v.role);
    nf_destroy(v.nf);
    free(params);
    free(errmsg);
    return rc;
}
