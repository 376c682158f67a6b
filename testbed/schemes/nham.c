/* nham — NHAM (papers/001): a resiliency mechanism per VNF, chosen in its descriptor
 * (`resiliency: {mechanism: MR-AA, checkpoint: 250ms, replicas: 3}` on a chain.vnfs entry) or
 * for the whole chain in params (sweep key `mechanism`):
 *   0R     no replica: a failed VNF is re-instantiated and restores its last checkpoint;
 *   1R-AS  one standby replica, started on failure, imports the last checkpoint;
 *   1R-AA  one running replica kept in sync: the SFF switches to it at its READY;
 *   MR-AA  'replicas' running replicas in sync: the SFF switches to any of them.
 * Hold/Release in the SFF makes the recovery lose and duplicate nothing: its protocol core is
 * vnfs/ft/nham (nham_sff, nham_vnf, nham_vsm), checked in tests/sim (scenario nham).
 *
 * Deployed on netns guests by nham_ctl.c: `sfcd nham-sff` (the nham_sff and nham_vsm cores)
 * and per VNF its copies (`sfcd nham-vnf`), with the FMS as the scheme's controller during the
 * workload. Checkpoints use the VNF's own export (backend app) or, backend vm, the whole
 * guest of the VNF's copy: the controller's worker of each VNF snapshots the running VM
 * (guest_checkpoint(), a live external memory snapshot on kvm) every 'checkpoint', tells the
 * VSM (through the SFF's role) what the image includes, and the SFF releases on the VSM's
 * word as for app; a recovery restores the VM from its last image (nham_ctl.h). vm needs a
 * provider that saves guests (kvm), mechanism 0R or 1R-AS (a restored image is the recovery;
 * 1R-AA and MR-AA keep running replicas in sync with the VNF's own export, which a VM image
 * does not feed) and an interval no shorter than NHAM_VM_MIN_CHECKPOINT (a save's cost here).
 * Backend criu does the same with the VNF copy's process alone, through libcriu (nham_criu.h,
 * CRIU >= 4.2 built by `make criu`, `criu check` passing; `sfclab check` refuses it otherwise,
 * with the reason): the controller dumps the running process every 'checkpoint' and, on its
 * failure, restores it in its guest from the last image (0R and 1R-AS, on netns guests).
 * The fault targets: replica M of VNF N (only if its mechanism has
 * it), and vnf[N], the copy active when the fault comes. */
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/deploy/deploy.h"
#include "testbed/infra/provider.h"
#include "testbed/model/experiment.h"
#include "testbed/model/topology.h"
#include "testbed/model/yaml.h"
#include "testbed/schemes/nham_criu.h"
#include "testbed/schemes/nham_ctl.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/lib/util.h"

extern const struct scheme_class scheme_nham;

#define NHAM_MAX_REPLICAS 16
/* The shortest checkpoint interval of backend vm. A checkpoint of a 256 MB kvm guest under
 * TCG costs about as much here: a live memory snapshot (72 MiB written) took 0.45 s of an idle
 * guest and 1.5-2.9 s (p50 1.8 s) of a VNF's guest under 100 pps at load 11-13, where a
 * virDomainSave took 2.3 s and a restore 2.8 s. An interval below the cost would only queue
 * checkpoints behind checkpoints, and the VNF's buffer_rx in the SFF grows with the gap. */
#define NHAM_VM_MIN_CHECKPOINT "2s"

static const char *const nham_mechanisms[] = { "0R", "1R-AS", "1R-AA", "MR-AA", NULL };
static const char *const nham_backends[] = { "app", "criu", "vm", NULL };
static const char *const nham_failovers[] = { "fast", "hold", NULL };

static const struct scheme_param nham_params[] = {
    { "mechanism", SCHEME_PARAM_STRING, "1R-AA", 0, 0, nham_mechanisms,
      "resiliency mechanism of every VNF without its own (0R, 1R-AS, 1R-AA, MR-AA)" },
    { "checkpoint", SCHEME_PARAM_DURATION, "250ms", 1000000, 60000000000ull, NULL,
      "state checkpoint interval of every VNF without its own" },
    { "replicas", SCHEME_PARAM_UINT, "3", 2, NHAM_MAX_REPLICAS, NULL,
      "running replicas of an MR-AA VNF (the paper keeps 3)" },
    { "checkpoint_backend", SCHEME_PARAM_STRING, "app", 0, 0, nham_backends,
      "how the VSM checkpoints a VNF: app (its export/import state API), criu (libcriu, "
      "needs CRIU >= 4.1: refused, see `sfclab check`), vm (its whole guest: a live libvirt "
      "snapshot of a kvm guest, restored on failure; 0R and 1R-AS, checkpoint >= "
      NHAM_VM_MIN_CHECKPOINT ")" },
    { "heartbeat", SCHEME_PARAM_DURATION, "5ms", 100000, 1000000000, NULL,
      "the shortest interval of the beats from each VNF copy to the FMS: a copy beats every "
      "min(10 x this, suspect_min / 10), at least this (a crash is known from the end of its "
      "beat stream or its pidfd, not from missing beats: these catch a hang)" },
    { "suspect_min", SCHEME_PARAM_DURATION, "500ms", 1000000, 10000000000ull, NULL,
      "the failure detector's least timeout after a beat (the adaptive one may be longer); "
      "a crashed process is known at once from its pidfd, whatever this says" },
    { "failover", SCHEME_PARAM_STRING, "fast", 0, 0, nham_failovers,
      "how a running standby (1R-AA, MR-AA) replaces a copy known dead: fast (activated at "
      "once; its READY tells the SFF, which sends the hop to it), hold (the SFF holds the hop "
      "first, one more round trip: what every other recovery does)" },
    { "state_bytes", SCHEME_PARAM_UINT, "524288", 0, 64u << 20, NULL,
      "state of each VNF, copied by each checkpoint (the paper's ~512 KB)" },
    { "buffer_bytes", SCHEME_PARAM_UINT, "8388608", 65536, 1u << 30, NULL,
      "room of each buffer_rx in the SFF: one checkpoint interval of traffic must fit" },
    { "hop_window", SCHEME_PARAM_UINT, "1024", 1, 65536, NULL,
      "packets the SFF sends a VNF beyond what the VNF has output; the rest wait in its "
      "buffer_rx (a replay or a backlog larger than the guest's socket can take would be "
      "dropped there and sent again; at 128 a VNF under a CPU quota took a period's "
      "packets in several wake-ups, and carried 5-8% less)" },
    { "sff_realtime", SCHEME_PARAM_DURATION, "50ms", 0, 500000000, NULL,
      "1R-AA, MR-AA: the FMS raises the SFF to the lowest real-time priority (SCHED_FIFO 1) for "
      "each takeover it asks of it, and the standbys it may choose one above; the SFF drops "
      "back once it has answered, the standby once it handled its TAKE; this much of a CPU per "
      "second at most for each guest (the kernel stops it beyond; 0s: they stay normal "
      "processes)" },
    { "sff_window", SCHEME_PARAM_UINT, DEPLOY_SFF_WINDOW, 0, 65536, NULL,
      "the SFF's admission: new packets only while fewer are in the chain, read after the "
      "chain's own frames (0: none; else at least 64), as scheme none's SFF" },
};

/* The keys of a chain VNF's 'resiliency' map. */
static const struct scheme_param nham_vnf_params[] = {
    { "mechanism", SCHEME_PARAM_STRING, NULL, 0, 0, nham_mechanisms,
      "this VNF's resiliency mechanism" },
    { "checkpoint", SCHEME_PARAM_DURATION, NULL, 1000000, 60000000000ull, NULL,
      "this VNF's checkpoint interval" },
    { "replicas", SCHEME_PARAM_UINT, NULL, 2, NHAM_MAX_REPLICAS, NULL,
      "this VNF's running replicas (MR-AA only)" },
};

static const struct scheme_target nham_targets[] = {
    { "vnf[N]", "the copy of the N-th VNF that is active when the fault comes (after a "
      "recovery, the one that took over)" },
    { "vnf[N].replica[M]", "copy M of the N-th VNF: 0 the active one; 1 the standby (1R-AS) "
      "or the running replica (1R-AA); 1..replicas-1 (MR-AA)" },
    { "classifier[0]", "the classifier" },
    { "sff[0]", "the SFF and its Hold/Release buffers" },
    { "client[0]", "the workload's client" },
    { "server[0]", "the echo server at the chain's end" },
};

/* Copies of VNF 'i' (the active one included) its mechanism keeps. */
static unsigned
nham_copies(const struct exp_point *p, size_t i)
{
    const char *m = scheme_vnf_param_value(&scheme_nham, p, i, "mechanism");
    const char *r;

    if (!m || !strcmp(m, "0R")) {
        return 1;
    }
    if (strcmp(m, "MR-AA")) {
        return 2;
    }
    r = scheme_vnf_param_value(&scheme_nham, p, i, "replicas");
    return r ? strtoul(r, NULL, 10) : 3;
}

/* 'replicas' belongs to MR-AA: elsewhere it would be silently ignored. */
static void
nham_check_replicas(struct yaml_doc *doc, struct fy_node *map, const char *mechanism)
{
    struct fy_node *key = map ? yaml_map_get_key(map, "replicas") : NULL;

    if (key && mechanism && strcmp(mechanism, "MR-AA")) {
        yaml_error(doc, key, "nham: 'replicas' applies to mechanism MR-AA only (this VNF's "
                   "is %s)", mechanism);
    }
}

/* The node that set VNF 'i''s resiliency key 'key' (its own, the fill's or params'), for an
 * error's position; NULL if none did. */
static struct fy_node *
nham_vnf_key_node(struct fy_node *root, struct fy_node *params, const struct exp_point *p,
                  size_t i, const char *key)
{
    struct fy_node *chain = root ? yaml_map_get(root, "chain") : NULL;
    struct fy_node *list = chain ? yaml_map_get(chain, "vnfs") : NULL;
    size_t n_listed = list && fy_node_is_sequence(list) ? yaml_list_count(list) : 0;
    struct fy_node *item = NULL, *map;

    if (p->n_vnfs >= n_listed && i >= p->n_vnfs - n_listed) {
        void *iter;
        size_t k = p->n_vnfs - n_listed;
        while ((item = yaml_list_next(list, item, &iter)) != NULL && k < i) {
            k++;
        }
    } else if (chain) {
        item = yaml_map_get(chain, "fill");
    }
    map = item && fy_node_is_mapping(item) ? yaml_map_get(item, "resiliency") : NULL;
    if (map && fy_node_is_mapping(map) && yaml_map_get_key(map, key)) {
        return yaml_map_get_key(map, key);
    }
    return params && fy_node_is_mapping(params) ? yaml_map_get_key(params, key) : NULL;
}

/* Backends vm and criu restore a VNF (its whole guest, or its process) from its last image:
 * that is the recovery of 0R and 1R-AS only; and a vm image costs seconds. */
static void
nham_check_image(struct yaml_doc *doc, struct fy_node *root, struct fy_node *params,
                 struct fy_node *at, const struct exp_point *p, const char *backend)
{
    bool vm = !strcmp(backend, "vm");

    uint64_t min_ns = 0;

    parse_duration(NHAM_VM_MIN_CHECKPOINT, &min_ns);
    for (size_t i = 0; i < p->n_vnfs; i++) {
        const char *m = scheme_vnf_param_value(&scheme_nham, p, i, "mechanism");
        const char *c = scheme_vnf_param_value(&scheme_nham, p, i, "checkpoint");
        uint64_t ns = 0;
        struct fy_node *n;

        if (m && (!strcmp(m, "1R-AA") || !strcmp(m, "MR-AA"))) {
            n = nham_vnf_key_node(root, params, p, i, "mechanism");
            yaml_error(doc, n ? n : at ? at : root, "nham: vnf[%zu]: checkpoint_backend %s "
                       "restores a VNF's %s from its last image, the recovery of 0R "
                       "and 1R-AS; %s keeps running replicas in sync with the VNF's own state "
                       "export (backend app), which %s image does not feed: use 0R or "
                       "1R-AS with %s, or app", i, backend, vm ? "whole guest" : "process", m,
                       vm ? "a VM" : "a CRIU", backend);
            return;
        }
        if (vm && c && parse_duration(c, &ns) && ns < min_ns) {
            n = nham_vnf_key_node(root, params, p, i, "checkpoint");
            yaml_error(doc, n ? n : at ? at : root, "nham: vnf[%zu]: checkpoint %s is shorter "
                       "than a whole-guest checkpoint takes here (a live snapshot of a 256 MB "
                       "kvm guest under TCG: 0.5-3 s): with checkpoint_backend vm use "
                       "checkpoint >= %s", i, c, NHAM_VM_MIN_CHECKPOINT);
            return;
        }
    }
}

static void
nham_check(struct yaml_doc *doc, struct fy_node *root, struct fy_node *params,
           const struct exp_point *p)
{
    struct fy_node *chain = root ? yaml_map_get(root, "chain") : NULL;
    struct fy_node *list = chain ? yaml_map_get(chain, "vnfs") : NULL;
    const char *dflt = scheme_param_value(&scheme_nham, p, "mechanism");
    struct fy_node *item = NULL;
    size_t n_listed = 0, guests = 4;
    void *iter;

    if (list && fy_node_is_sequence(list)) {
        n_listed = yaml_list_count(list);
    }
    /* The listed VNFs are the chain's tail (the fill VNFs come first). */
    for (size_t i = 0; list && fy_node_is_sequence(list)
                       && (item = yaml_list_next(list, item, &iter)) != NULL; i++) {
        struct fy_node *map = fy_node_is_mapping(item) ? yaml_map_get(item, "resiliency")
                                                       : NULL;
        size_t at = p && p->n_vnfs >= n_listed ? p->n_vnfs - n_listed + i : SIZE_MAX;
        const char *m = p && at < p->n_vnfs
                        ? scheme_vnf_param_value(&scheme_nham, p, at, "mechanism") : dflt;

        if (map && fy_node_is_mapping(map)) {
            nham_check_replicas(doc, map, m);
        }
    }
    if (chain && yaml_map_get(chain, "fill")) {
        struct fy_node *fill = yaml_map_get(chain, "fill");
        struct fy_node *map = fy_node_is_mapping(fill) ? yaml_map_get(fill, "resiliency")
                                                       : NULL;
        if (map && fy_node_is_mapping(map) && p && p->n_vnfs > n_listed) {
            nham_check_replicas(doc, map, scheme_vnf_param_value(&scheme_nham, p, 0,
                                                                  "mechanism"));
        }
    }
    /* A checkpoint backend that cannot run here is refused before anything is created. */
    {
        const char *backend = scheme_param_value(&scheme_nham, p, "checkpoint_backend");
        struct fy_node *at = params ? yaml_map_get(params, "checkpoint_backend") : NULL;
        const char *why = NULL;

        if (backend && !strcmp(backend, "criu") && nham_criu_probe(NULL, &why)) {
            yaml_error(doc, at ? at : root, "nham: checkpoint_backend criu is unavailable "
                       "here: %s", why);
        } else if (backend && !strcmp(backend, "criu") && p
                   && p->provider && strcmp(p->provider, "netns")) {
            yaml_error(doc, at ? at : root, "nham: checkpoint_backend criu dumps a VNF's "
                       "process from inside its guest's namespaces, which the host enters on "
                       "the netns provider only; this point's provider is %s", p->provider);
        } else if (backend && !strcmp(backend, "criu") && p) {
            nham_check_image(doc, root, params, at, p, "criu");
        } else if (backend && !strcmp(backend, "vm") && p
                   && !guest_provider_can_save(p->provider)) {
            yaml_error(doc, at ? at : root, "nham: checkpoint_backend vm saves and restores "
                       "whole guests; this point's provider, %s, cannot", p->provider);
        } else if (backend && !strcmp(backend, "vm") && p) {
            nham_check_image(doc, root, params, at, p, "vm");
        }
    }
    /* Every copy is a guest with an address on the data bridge below the service address. */
    for (size_t i = 0; p && i < p->n_vnfs; i++) {
        guests += nham_copies(p, i);
    }
    if (guests >= 250) {
        yaml_error(doc, params ? params : root, "nham: %zu guests (VNF copies included) need "
                   "more than the 245 guest addresses of the data subnet", guests);
    }
}

static bool
nham_has_target(const struct exp_point *p, const char *role, int index, int replica)
{
    if (!strcmp(role, "vnf")) {
        return scheme_chain_has_target(p, role, index)
               && (replica < 0 || !p->vnfs || (unsigned) replica < nham_copies(p, index));
    }
    return replica < 0 && scheme_chain_has_target(p, role, index);
}

static uint64_t
nham_duration(const struct exp_point *p, const char *name)
{
    uint64_t ns = 0;

    parse_duration(scheme_param_value(&scheme_nham, p, name), &ns);
    return ns;
}

static enum nham_mechanism
nham_mechanism_of(const char *m)
{
    return !m || !strcmp(m, "0R") ? NHAM_0R : !strcmp(m, "1R-AS") ? NHAM_1R_AS
           : !strcmp(m, "1R-AA") ? NHAM_1R_AA : NHAM_MR_AA;
}

/* The point's settings; 'copies' (p->n_vnfs) too. Free conf->vnfs. */
static void
nham_conf_of(const struct exp_point *p, struct nham_conf *conf, unsigned *copies)
{
    uint64_t beat;

    memset(conf, 0, sizeof *conf);
    conf->n_vnfs = p->n_vnfs;
    conf->vnfs = xcalloc(MAX(p->n_vnfs, 1), sizeof *conf->vnfs);
    for (size_t i = 0; i < p->n_vnfs; i++) {
        conf->vnfs[i].mechanism = nham_mechanism_of(scheme_vnf_param_value(&scheme_nham, p, i,
                                                                           "mechanism"));
        conf->vnfs[i].copies = nham_copies(p, i);
        conf->vnfs[i].checkpoint = scheme_vnf_param_value(&scheme_nham, p, i, "checkpoint");
        if (copies) {
            copies[i] = conf->vnfs[i].copies;
        }
    }
    conf->suspect_min_ns = nham_duration(p, "suspect_min");
    /* A crash is known at once (the beat stream's end, the pidfd); beats only catch a copy
     * that hangs, and no sooner than the least timeout after its last beat whatever their
     * interval: 10 of them within it leave the adaptive timeout its samples, while a chain
     * of 4 whose copies beat every 5 ms spent ~1.5 us more CPU per datagram at 8,000/s
     * (~1.2%: the copies' timer, ioctl and send, the FMS's read). */
    beat = nham_duration(p, "heartbeat");
    conf->beat_ns = MAX(MIN(10 * beat, conf->suspect_min_ns / 10), beat);
    conf->state_bytes = scheme_param_uint(&scheme_nham, p, "state_bytes");
    conf->buffer_bytes = scheme_param_uint(&scheme_nham, p, "buffer_bytes");
    conf->hop_window = scheme_param_uint(&scheme_nham, p, "hop_window");
    conf->sff_realtime_ns = nham_duration(p, "sff_realtime");
    conf->sff_window = deploy_sff_window(scheme_param_uint(&scheme_nham, p, "sff_window"));
    conf->backend = scheme_param_value(&scheme_nham, p, "checkpoint_backend");
    conf->fast_failover = !strcmp(scheme_param_value(&scheme_nham, p, "failover"), "fast");
}

static int
nham_topology(const struct exp_point *p, struct topology **topop, char **errp)
{
    unsigned *copies = xcalloc(MAX(p->n_vnfs, 1), sizeof *copies);
    struct nham_conf conf;
    struct deploy_chain_opts o;
    int error;

    nham_conf_of(p, &conf, copies);
    o = (struct deploy_chain_opts) { .replicas = 1, .copies = copies };
    error = deploy_chain_topology(p, &o, topop, errp);
    /* Backend vm saves the VNFs' copies whole: they must be savable (a kvm guest then has no
     * 9p share; its VNF's files stay inside, which the runner does not read). */
    for (size_t g = 0; !error && conf.backend && !strcmp(conf.backend, "vm")
                       && g < (*topop)->n_guests; g++) {
        for (size_t i = 0; i < p->n_vnfs; i++) {
            for (unsigned r = 0; r < copies[i]; r++) {
                char name[32];
                snprintf(name, sizeof name, "v%zur%u", i % 1000, r % 100);
                if (!strcmp((*topop)->guests[g].name, name)) {
                    (*topop)->guests[g].savable = true;
                }
            }
        }
    }
    free(conf.vnfs);
    free(copies);
    return error;
}

static int
nham_deploy(struct instance *inst, const struct exp_point *p, const char *work_dir,
            struct deployment **dp)
{
    unsigned *copies = xcalloc(MAX(p->n_vnfs, 1), sizeof *copies);
    struct nham_conf conf;
    struct deploy_chain_opts o;
    int error;

    nham_conf_of(p, &conf, copies);
    o = (struct deploy_chain_opts) {
        .replicas = 1, .copies = copies, .start_middle = nham_start_middle, .aux = &conf,
    };
    error = deploy_chain(inst, p, &o, work_dir, dp);
    free(conf.vnfs);
    free(copies);
    return error;
}

const struct scheme_class scheme_nham = {
    .name = "nham",
    .summary = "NHAM: failure detection, checkpoints and Hold/Release; 0R, 1R-AS, 1R-AA or "
               "MR-AA per VNF",
    .guests = "client, classifier, SFF, server, and per VNF 1 (0R), 2 (1R-AS, 1R-AA) or "
              "'replicas' (MR-AA) copies",
    .params = nham_params,
    .n_params = ARRAY_SIZE(nham_params),
    .targets = nham_targets,
    .n_targets = ARRAY_SIZE(nham_targets),
    .vnf_params = nham_vnf_params,
    .n_vnf_params = ARRAY_SIZE(nham_vnf_params),
    .check = nham_check,
    .has_target = nham_has_target,
    .topology = nham_topology,
    .deploy = nham_deploy,
    .stop = deploy_stop,
    .controller_start = nham_ctl_start,
    .controller_stop = nham_ctl_stop,
};
