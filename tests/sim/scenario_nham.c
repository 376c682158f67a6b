/* Scenario "nham": Hold/Release (vnfs/ft/nham) in a stateful chain of 1-6 nham_vnf, an SFF
 * and the VSM checkpointing every 1-20 ms. VNFs fail in 1-4 rounds; in each a random subset of
 * them (one up to all) crashes at the same instant, often while a checkpoint is in flight
 * (just after the VSM's tick), sometimes again while still recovering; each restarts after
 * the failure notice (the FMS's detection) plus a recovery delay, empty, and restores its last
 * checkpoint from the VSM. Half the crashes are silent (no failure notice: the SFF keeps
 * sending to the dead VNF and learns of its new incarnation only from its READY), as when the
 * FMS replaces a dead copy by a running standby without a hold. Links are FIFO and lossless, as the veth pairs through the switch
 * are; what a crash loses is what the dead VNF held.
 *
 * At the end of the chain a checker (this file's test-only core) reads each packet's stamps:
 * the count every VNF's state had reached after processing it. In a chain where no state lost
 * or repeated a packet, every stamp equals the SFF's counter id; if not, the checker hands
 * the client a corrupted reply. Invariants at the client: every reply is one a correct chain
 * gives (states consistent), nothing is lost, nothing arrives twice. */
#include "tests/sim/scenario.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/util.h"
#include "vnfs/ft/nham/nham.h"

#define NHAM_SIM_MAX_VNFS 6

/* The checker: next = [client]; parameter 'vnfs'. */
struct nham_check {
    struct ft_core up;
    uint32_t client;
    uint64_t n_vnfs;
};

static int
nham_check_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct nham_check *c;
    uint64_t n;
    int error = ft_config_u64(cfg, "vnfs", 1, &n, errp);

    if (error) {
        return error;
    }
    if (cfg->n_next != 1) {
        return EINVAL;
    }
    c = xzalloc(sizeof *c);
    c->client = cfg->next[0];
    c->n_vnfs = n;
    *corep = &c->up;
    return 0;
}

static void
nham_check_destroy(struct ft_core *core)
{
    free(core);
}

static int
nham_check_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct nham_check *c = (struct nham_check *) core;
    struct nham_data d;
    bool ok;

    if (ev->kind != FT_EV_PACKET) {
        return 0;
    }
    if (!nham_data_parse(ev->data, ev->len, &d) || !d.payload_len) {
        ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        return 0;
    }
    ok = d.n_stamps == c->n_vnfs;
    for (size_t i = 0; ok && i < d.n_stamps; i++) {
        ok = d.stamps[i] == d.counter;
    }
    if (ok) {
        ft_emit_forward(out, c->client, d.payload, d.payload_len);
    } else {
        ft_emit_note(out, "packet %"PRIu64": a VNF's state lost or repeated a packet "
                     "(stamps disagree with the counter)", d.counter);
        sim_scenario_forward_spoiled(out, c->client, d.payload, d.payload_len);
    }
    return 0;
}

const struct ft_core_class sim_nham_check_class = {
    .name = "nham-check",
    .summary = "test: end-of-chain checker of NHAM's per-VNF stamps",
    .create = nham_check_create,
    .destroy = nham_check_destroy,
    .step = nham_check_step,
};

/* The chain: client -> sff -> vnfs[0..n) -> egress checker -> client, the VSM checkpointing
 * every 'interval'; 'retransmit' (NULL: the core's default) is the SFF's go-back-N period.
 * Adds the endpoints in this order and draws the VNFs' state size from sim_rng(). */
static void
nham_make_chain(struct sim *sim, bool broken, size_t n, uint64_t interval,
                const char *retransmit, uint32_t *clientp, uint32_t *sffp, uint32_t vnfs[])
{
    struct ft_rng *rng = sim_rng(sim);
    uint32_t client, sff, vsm, check;
    char interval_s[32], n_s[8], state_s[16];

    ft_core_class_register(&sim_nham_check_class);
    client = sim_add_endpoint(sim, "client");
    sff = sim_add_endpoint(sim, "sff");
    vsm = sim_add_endpoint(sim, "vsm");
    check = sim_add_endpoint(sim, "egress");
    sim_scenario_add_endpoints(sim, "vnf", vnfs, n);

    snprintf(interval_s, sizeof interval_s, "%"PRIu64"us", (uint64_t) (interval / SIM_US));
    snprintf(n_s, sizeof n_s, "%zu", n);
    snprintf(state_s, sizeof state_s, "%"PRIu64, (uint64_t) ft_rng_below(rng, 257));
    {
        uint32_t sff_peers[2] = { vsm, check };
        uint32_t vnf_peers[2] = { sff, vsm };
        struct ft_param sff_params[] = { { "retransmit", retransmit } };
        struct ft_param vsm_params[] = { { "checkpoint", interval_s } };
        struct ft_param vnf_params[] = { { "state_bytes", state_s } };
        struct ft_param check_params[] = { { "vnfs", n_s } };
        struct sim_core_spec sff_spec = {
            .class = ft_core_class_find(broken ? "nham_sff-broken" : "nham_sff"),
            .next = vnfs, .n_next = n, .peers = sff_peers, .n_peers = 2,
            .params = sff_params, .n_params = retransmit ? 1 : 0,
        };
        struct sim_core_spec vsm_spec = {
            .class = ft_core_class_find("nham_vsm"), .group = vnfs, .n_group = n,
            .peers = &sff, .n_peers = 1, .params = vsm_params, .n_params = 1,
        };
        struct sim_core_spec check_spec = {
            .class = &sim_nham_check_class, .next = &client, .n_next = 1,
            .params = check_params, .n_params = 1,
        };

        sim_make_core(sim, sff, &sff_spec);
        sim_make_core(sim, vsm, &vsm_spec);
        sim_make_core(sim, check, &check_spec);
        for (size_t i = 0; i < n; i++) {
            struct sim_core_spec vnf_spec = {
                .class = ft_core_class_find("nham_vnf"), .peers = vnf_peers, .n_peers = 2,
                .params = vnf_params, .n_params = 1,
            };
            sim_make_core(sim, vnfs[i], &vnf_spec);
        }
    }
    sim_make_client(sim, client, &sff, 1);
    *clientp = client;
    *sffp = sff;
}

static uint64_t
nham_setup(struct sim *sim, bool broken)
{
    struct ft_rng *rng = sim_rng(sim);
    struct sim_net_config net = *sim_net(sim);
    size_t n = ft_rng_range(rng, 1, NHAM_SIM_MAX_VNFS), n_requests, n_rounds;
    uint32_t client, sff, vnfs[NHAM_SIM_MAX_VNFS], order[NHAM_SIM_MAX_VNFS];
    uint64_t interval = ft_rng_range(rng, 1, 20) * SIM_MS, t, end, last = 0;
    uint64_t busy_until[NHAM_SIM_MAX_VNFS] = { 0 };

    /* FIFO and lossless: one fixed delay per message, no spike, no duplicate, no loss. */
    net.delay_min_ns = net.delay_max_ns = ft_rng_range(rng, 10, 300) * SIM_US;
    net.spike_prob = 0;
    net.dup_prob = 0;
    net.loss_prob = 0;
    net.authenticated = true;
    net.detect_ns = ft_rng_range(rng, 50, 10000) * SIM_US;
    sim_set_net(sim, &net);
    nham_make_chain(sim, broken, n, interval, NULL, &client, &sff, vnfs);

    n_requests = ft_rng_range(rng, 50, 400);
    end = n_requests * 150 * SIM_US;

    /* Rounds of simultaneous failures. */
    n_rounds = ft_rng_range(rng, 1, 4);
    t = ft_rng_below(rng, end / 2);
    for (size_t r = 0; r < n_rounds; r++) {
        size_t k = ft_rng_range(rng, 1, n);
        uint64_t at = t;

        if (ft_rng_chance(rng, 0.5)) {
            /* During a checkpoint: just after a tick, before the image is back and saved. */
            at = (t / interval + 1) * interval + ft_rng_below(rng, 4 * net.delay_min_ns + 1);
        }
        sim_scenario_order(sim, order, n);
        for (size_t i = 0; i < k; i++) {
            size_t v = order[i];
            uint64_t crash = MAX(at, busy_until[v]);
            uint64_t restart = crash + net.detect_ns + ft_rng_below(rng, 10 * SIM_MS);

            /* Half of them silent: the FMS sends the SFF no failure notice when a running
             * standby replaces a dead copy (1R-AA, MR-AA); its READY alone must do. */
            if (ft_rng_chance(rng, 0.5)) {
                sim_crash_silent_at(sim, vnfs[v], crash);
            } else {
                sim_crash_at(sim, vnfs[v], crash);
            }
            sim_restart_at(sim, vnfs[v], restart);
            busy_until[v] = restart + 1;
            last = MAX(last, restart);
        }
        /* The next round: sometimes while this one still recovers. */
        t = ft_rng_chance(rng, 0.3) ? at + net.detect_ns + ft_rng_below(rng, 12 * SIM_MS)
                                    : at + ft_rng_range(rng, 1, 40) * SIM_MS;
    }

    sim_scenario_requests(sim, client, n_requests, 48, 300 * SIM_US);
    return MAX(end, last) + 200 * SIM_MS;
}

bool
sim_nham_check(const struct sim *sim, struct buf *why)
{
    const struct sim_history *h = sim_history(sim);

    return sim_check_valid(h, why) && sim_check_no_duplicates(h, why)
           && sim_check_no_loss(h, why);
}

const struct sim_scenario sim_scenario_nham = {
    .name = "nham",
    .summary = "NHAM Hold/Release: stateful chain of 1-6 VNFs, simultaneous crashes (also "
               "during checkpoints and recovery), restore from the VSM: no loss, no duplicate, "
               "states consistent",
    .broken = "the SFF releases buffer_rx when it asks for a checkpoint, before it is saved",
    .setup = nham_setup,
    .check = sim_nham_check,
};

/* Scenario "nham-gbn": the SFF's go-back-N on the same chain with no crash, its period
 * ('retransmit') 1-6 ms and never under four round trips of a hop. Requests come in bursts
 * after idle gaps of one to four periods, so that retransmission ticks fall while a burst's
 * first packets are on their way to a hop that was idle during the whole period before.
 * Half the runs lose messages between the SFF and some VNFs for a while, and go-back-N
 * must recover every loss; in a run that lost nothing, nothing may be sent to a VNF twice
 * (each hop answered within the period: a retransmission there is a spurious one, and the
 * VNF answers a second time). */
static uint64_t
nham_gbn_setup(struct sim *sim, bool broken)
{
    struct ft_rng *rng = sim_rng(sim);
    struct sim_net_config net = *sim_net(sim);
    size_t n = ft_rng_range(rng, 1, NHAM_SIM_MAX_VNFS), n_bursts;
    uint32_t client, sff, vnfs[NHAM_SIM_MAX_VNFS];
    uint64_t interval = ft_rng_range(rng, 1, 20) * SIM_MS, delay, period, t = 0;
    char period_s[32];

    delay = ft_rng_range(rng, 10, 300) * SIM_US;
    period = MAX(ft_rng_range(rng, 1, 6) * SIM_MS, 8 * delay);
    net.delay_min_ns = net.delay_max_ns = delay;
    net.spike_prob = 0;
    net.dup_prob = 0;
    net.loss_prob = 0;
    net.authenticated = true;
    sim_set_net(sim, &net);
    snprintf(period_s, sizeof period_s, "%"PRIu64"us", (uint64_t) (period / SIM_US));
    nham_make_chain(sim, broken, n, interval, period_s, &client, &sff, vnfs);

    n_bursts = ft_rng_range(rng, 3, 20);
    for (size_t b = 0; b < n_bursts; b++) {
        size_t k = ft_rng_range(rng, 1, 30);

        t += ft_rng_range(rng, period, 4 * period);
        for (size_t i = 0; i < k; i++) {
            uint8_t body[SIM_SCENARIO_BODY_MAX];
            size_t len = ft_rng_range(rng, 1, 48);

            for (size_t j = 0; j < len; j++) {
                body[j] = ft_rng_u64(rng);
            }
            t += ft_rng_below(rng, 100 * SIM_US);
            sim_request_at(sim, client, t, body, len);
        }
    }
    if (ft_rng_chance(rng, 0.5)) {
        /* Lossy links to and from some VNFs for the first half of the run. */
        size_t k = ft_rng_range(rng, 1, n);
        uint32_t order[NHAM_SIM_MAX_VNFS];

        sim_scenario_order(sim, order, n);
        for (size_t i = 0; i < k; i++) {
            double p = ft_rng_range(rng, 1, 20) / 100.0;

            sim_link_loss(sim, sff, vnfs[order[i]], p, t / 2);
            sim_link_loss(sim, vnfs[order[i]], sff, p, t / 2);
        }
    }
    return t + 200 * SIM_MS;
}

static bool
nham_gbn_check(const struct sim *sim, struct buf *why)
{
    const struct sim_stats *st = sim_stats(sim);

    if (!sim_nham_check(sim, why)) {
        return false;
    }
    if (!st->lost && st->drops[FT_DROP_DUPLICATE]) {
        buf_printf(why, "nothing was lost, yet %"PRIu64" packets came twice to a VNF or from "
                   "it (a spurious go-back-N retransmission)", st->drops[FT_DROP_DUPLICATE]);
        return false;
    }
    return true;
}

const struct sim_scenario sim_scenario_nham_gbn = {
    .name = "nham-gbn",
    .summary = "NHAM go-back-N: bursts after idle periods, lossy SFF<->VNF links half the "
               "time: no loss, no duplicate, and no retransmission where nothing was lost",
    .setup = nham_gbn_setup,
    .check = nham_gbn_check,
    .check_seeds = 1000,
};
