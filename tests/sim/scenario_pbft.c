/* Scenarios "pbft-f1" and "pbft-f2": the 3f+1 replicas of a globally stateful VNF order a
 * client's requests with PBFT (vnfs/ft/fitsfc/pbft.c) and each answers every request it
 * executes; the client accepts a reply on f+1 identical copies (a bft_voter with quorum f+1, as
 * FIT-SFC's wrapper does). The client sends each request to every replica, as the voters in front
 * of the VNF replicas hand each of them the decided request.
 *
 * Up to f replicas are faulty, the primary of view 0 among them half of the time, so that view
 * changes happen, sometimes in a row (a faulty next primary too). Each fails one way: crash
 * (maybe restarted, empty), omission (its outgoing messages lost with probability p, for good),
 * any Byzantine strategy of byzantine.h, or 'swap', a PBFT-aware liar: as primary it tells the
 * replicas of odd endpoint id a different order (it swaps the requests of two consecutive
 * sequence numbers, both genuine) and sends them matching COMMITs, the equivocation PBFT's
 * quorums exist for. The network delays, reorders and duplicates; it loses nothing (PBFT
 * assumes links that eventually deliver: omission is a faulty replica's); links are
 * authenticated, as ftstage's MAC makes them on guests.
 *
 * Invariants: correct replicas apply the same sequence, all of it (agreement, complete), none
 * twice; the client accepts only replies a correct service gives, once each, and every one.
 * --broken: replicas are prepared on f prepares and commit on f+1 commits; the 'swap' primary
 * then makes two groups of correct replicas commit different orders. */
#include "tests/sim/scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/demo/demo.h"
#include "vnfs/ft/fitsfc/pbft.h"

#define PBFT_SIM_MAX_N 7

/* A replica's answer: the request as it is, with its own origin. */
static void
pbft_sim_reply(uint32_t self, const uint8_t *pkt, size_t len, struct buf *out)
{
    struct demo_msg m;

    if (demo_msg_parse(pkt, len, &m)) {
        m.origin = self;
        demo_msg_put(out, &m);
    }
}

static void
pbft_sim_send_commit(struct sim *sim, uint32_t self, uint32_t dst, uint64_t view, uint64_t seq,
                     const uint8_t digest[PBFT_DIGEST_LEN])
{
    uint8_t msg[PBFT_HDR_LEN + PBFT_DIGEST_LEN];

    put_be32(msg, PBFT_MAGIC);
    msg[4] = PBFT_COMMIT;
    msg[5] = msg[6] = msg[7] = 0;
    put_be64(msg + 8, view);
    put_be64(msg + 16, seq);
    memcpy(msg + PBFT_HDR_LEN, digest, PBFT_DIGEST_LEN);
    sim_net_send(sim, self, self, dst, FT_EV_PEER_MSG, msg, sizeof msg);
}

/* Sends pre-prepare 'data' renumbered to 'seq', and a COMMIT that matches it. */
static void
pbft_sim_send_as(struct sim *sim, uint32_t self, uint32_t dst, const uint8_t *data, size_t len,
                 uint64_t seq)
{
    uint8_t *copy = xmalloc(len);

    memcpy(copy, data, len);
    put_be64(copy + 16, seq);
    sim_net_send(sim, self, self, dst, FT_EV_PEER_MSG, copy, len);
    pbft_sim_send_commit(sim, self, dst, get_be64(data + 8), seq, data + PBFT_HDR_LEN);
    free(copy);
}

static void
pbft_sim_swap(struct sim *sim, uint32_t self, struct sim_byz_state *st, uint32_t dst,
              enum ft_event_kind kind, const uint8_t *data, size_t len)
{
    struct pbft_msg m;

    st->n_sent++;
    if (kind != FT_EV_PEER_MSG || !(dst & 1) || !pbft_msg_parse(data, len, &m)) {
        sim_net_send(sim, self, self, dst, kind, data, len);
        return;
    }
    if (m.type == PBFT_COMMIT) {
        return;                 /* Odd replicas hear only the commits that match their lie. */
    }
    if (m.type != PBFT_PRE_PREPARE) {
        sim_net_send(sim, self, self, dst, kind, data, len);
        return;
    }
    for (size_t i = 0; i < st->ring_n; i++) {
        struct sim_byz_msg *held = &st->ring[i];

        if (held->dst == dst) {
            uint64_t held_seq = get_be64(held->data + 16);

            sim_trace(sim, self, "byzantine swap: tells %s seqs %llu and %llu swapped",
                      sim_endpoint_name(sim, dst), (unsigned long long) held_seq,
                      (unsigned long long) m.seq);
            pbft_sim_send_as(sim, self, dst, data, len, held_seq);
            pbft_sim_send_as(sim, self, dst, held->data, held->len, m.seq);
            free(held->data);
            *held = st->ring[--st->ring_n];
            return;
        }
    }
    if (st->ring_n < SIM_BYZ_RING) {
        struct sim_byz_msg *held = &st->ring[st->ring_n++];

        held->dst = dst;
        held->kind = kind;
        held->data = xmalloc(len);
        memcpy(held->data, data, len);
        held->len = len;
    }
}

static const struct sim_byzantine pbft_sim_byz_swap = {
    .name = "swap",
    .summary = "PBFT primary that gives odd replicas two consecutive requests swapped",
    .on_send = pbft_sim_swap,
};

/* How the replicas fail: up to f of them for good (pbft-f1/f2), or every replica in turn,
 * crashed and restarted empty (pbft-recover-f1/f2). */
enum pbft_faults { PBFT_FAULTS_LASTING, PBFT_FAULTS_ROLLING };

static void pbft_rolling_crashes(struct sim *, const uint32_t *ids, size_t n, uint64_t end,
                                 bool restart);

static uint64_t
pbft_setup(struct sim *sim, uint32_t f, bool broken, enum pbft_faults faults)
{
    struct ft_rng *rng = sim_rng(sim);
    struct sim_net_config net = *sim_net(sim);
    size_t n = 3 * f + 1, n_faulty, n_requests;
    uint32_t client, ids[PBFT_SIM_MAX_N], order[PBFT_SIM_MAX_N];
    char timeout[32], cp[16], window[16], keep[16], quorum[16];
    uint64_t end;

    net.delay_min_ns = ft_rng_range(rng, 20, 200) * SIM_US;
    net.delay_max_ns = net.delay_min_ns + ft_rng_below(rng, 2 * SIM_MS);
    net.spike_prob = ft_rng_unit(rng) * 0.05;
    net.spike_max_ns = 5 * SIM_MS;
    net.dup_prob = ft_rng_unit(rng) * 0.1;
    net.loss_prob = 0;
    net.stable_ns = 0;
    net.authenticated = true;
    net.detect_ns = ft_rng_range(rng, 1, 20) * SIM_MS;
    sim_set_net(sim, &net);

    client = sim_add_endpoint(sim, "client");
    sim_scenario_add_endpoints(sim, "r", ids, n);

    uint64_t interval = ft_rng_chance(rng, 0.5) ? 4 : 8;
    snprintf(timeout, sizeof timeout, "%llums", (unsigned long long) ft_rng_range(rng, 10, 40));
    snprintf(cp, sizeof cp, "%llu", (unsigned long long) interval);
    snprintf(window, sizeof window, "%llu", (unsigned long long) interval * 4);
    /* Rolling: the survivors keep their whole log, as the guests do (deploy_fitsfc()), so that
     * a restarted replica can replay all of it. */
    snprintf(keep, sizeof keep, "%llu",
             (unsigned long long) (faults == PBFT_FAULTS_ROLLING ? 4096 : interval * 8));
    struct ft_param params[] = {
        { "timeout", timeout }, { "checkpoint", cp }, { "window", window }, { "keep", keep },
    };
    for (size_t i = 0; i < n; i++) {
        struct sim_core_spec spec = {
            .class = ft_core_class_find(broken && faults == PBFT_FAULTS_LASTING ? "pbft-broken"
                                                                                : "pbft"),
            .f = f,
            .group = ids, .n_group = n, .next = &client, .n_next = 1,
            .params = params, .n_params = ARRAY_SIZE(params), .agreement_group = 1,
            .consumer = pbft_sim_reply,
        };
        sim_make_core(sim, ids[i], &spec);
    }
    snprintf(quorum, sizeof quorum, "%u", f + 1);
    struct ft_param client_params[] = {
        { "timeout", "60s" }, { "quorum", quorum }, { "own_only", "1" },
    };
    struct sim_core_spec c_spec = {
        .class = ft_core_class_find("bft_voter"), .f = f, .group = ids, .n_group = n,
        .params = client_params, .n_params = ARRAY_SIZE(client_params),
    };
    sim_make_core(sim, client, &c_spec);
    sim_make_client(sim, client, ids, n);

    n_requests = f == 1 ? ft_rng_range(rng, 20, 120) : ft_rng_range(rng, 15, 50);
    if (faults == PBFT_FAULTS_ROLLING) {
        /* Long enough for the log to be collected past what a restarted replica's first
         * fetch reaches, and for more than f replicas to fail, one after the other. */
        n_requests = ft_rng_range(rng, 60, 120);
    }
    end = n_requests * 300 * SIM_US;
    if (faults == PBFT_FAULTS_ROLLING) {
        /* Requests 3 ms apart on average: ordered before the next crash, so that each one
         * meets one fault at a time. (Under a backlog, a request can outlive two crashes of
         * replicas that held it: a restarted replica does not fetch the requests still
         * pending elsewhere, and the client does not resend.) */
        end = n_requests * 3 * SIM_MS;
        pbft_rolling_crashes(sim, ids, n, end, !broken);
        sim_scenario_requests(sim, client, n_requests, 32, 6 * SIM_MS);
        return 60 * SIM_S;
    }

    /* Which replicas fail: the primary of view 0 (r0) half of the time. */
    n_faulty = ft_rng_below(rng, f + 1);
    sim_scenario_order(sim, order, n);
    if (n_faulty && ft_rng_chance(rng, 0.5)) {
        for (size_t i = 0; i < n; i++) {
            if (order[i] == 0) {
                order[i] = order[0];
                order[0] = 0;
            }
        }
    }
    for (size_t i = 0; i < n_faulty; i++) {
        uint32_t r = ids[order[i]];
        uint64_t at = ft_rng_below(rng, end);
        double p = 0.2 + 0.8 * ft_rng_unit(rng);

        switch (ft_rng_below(rng, 4)) {
        case 0:
            sim_crash_at(sim, r, at);
            if (ft_rng_chance(rng, 0.5)) {
                sim_restart_at(sim, r, at + ft_rng_range(rng, 1, 30) * SIM_MS);
            }
            break;
        case 1:
            for (size_t k = 0; k < n; k++) {
                if (ids[k] != r) {
                    sim_link_loss(sim, r, ids[k], p, UINT64_MAX);
                }
            }
            sim_link_loss(sim, r, client, p, UINT64_MAX);
            sim_mark_faulty(sim, r);
            break;
        case 2:
            sim_set_byzantine(sim, r, sim_byzantine_pick(rng));
            break;
        default:
            sim_set_byzantine(sim, r, &pbft_sim_byz_swap);
            break;
        }
    }

    sim_scenario_requests(sim, client, n_requests, 32, 600 * SIM_US);
    return 60 * SIM_S;
}

/* Every replica crashes once, in a random order, one at a time: each is restarted empty
 * 1-30 ms later (unless 'restart' is false: the broken variant, replicas never replaced) and
 * the next crash comes 40-100 ms after that restart. More replicas fail over the run than f,
 * never more than one at once: only replicas that recover (catch up on the log and the view)
 * keep 2f+1 of them working. */
static void
pbft_rolling_crashes(struct sim *sim, const uint32_t *ids, size_t n, uint64_t end, bool restart)
{
    struct ft_rng *rng = sim_rng(sim);
    uint32_t order[PBFT_SIM_MAX_N];
    uint64_t at = ft_rng_range(rng, 5, 40) * SIM_MS;

    sim_scenario_order(sim, order, n);
    for (size_t i = 0; i < n && at < end; i++) {
        uint64_t back = at + ft_rng_range(rng, 1, 30) * SIM_MS;

        sim_crash_at(sim, ids[order[i]], at);
        if (restart) {
            sim_restart_at(sim, ids[order[i]], back);
        }
        at = back + ft_rng_range(rng, 40, 100) * SIM_MS;
    }
}

static uint64_t
pbft_setup_f1(struct sim *sim, bool broken)
{
    return pbft_setup(sim, 1, broken, PBFT_FAULTS_LASTING);
}

static uint64_t
pbft_setup_f2(struct sim *sim, bool broken)
{
    return pbft_setup(sim, 2, broken, PBFT_FAULTS_LASTING);
}

static uint64_t
pbft_setup_recover_f1(struct sim *sim, bool broken)
{
    return pbft_setup(sim, 1, broken, PBFT_FAULTS_ROLLING);
}

static uint64_t
pbft_setup_recover_f2(struct sim *sim, bool broken)
{
    return pbft_setup(sim, 2, broken, PBFT_FAULTS_ROLLING);
}

static bool
pbft_check(const struct sim *sim, struct buf *why)
{
    const struct sim_history *h = sim_history(sim);

    return sim_check_agreement(h, true, why) && sim_check_seq_unique(h, why)
           && sim_check_valid(h, why) && sim_check_no_duplicates(h, why)
           && sim_check_live_after(h, 0, why);
}

#define PBFT_SUMMARY(F) \
    "PBFT among 3f+1 replicas of a globally stateful VNF, f=" F ": up to f faulty (crash, " \
    "omission, every Byzantine strategy, an equivocating primary), view changes: total order"
#define PBFT_BROKEN "prepared on f prepares, committed on f+1 commits"

const struct sim_scenario sim_scenario_pbft_f1 = {
    .name = "pbft-f1",
    .summary = PBFT_SUMMARY("1"),
    .broken = PBFT_BROKEN,
    .setup = pbft_setup_f1,
    .check = pbft_check,
    .check_seeds = 1000,
};

const struct sim_scenario sim_scenario_pbft_f2 = {
    .name = "pbft-f2",
    .summary = PBFT_SUMMARY("2"),
    .broken = PBFT_BROKEN,
    .setup = pbft_setup_f2,
    .check = pbft_check,
    .check_seeds = 1000,
};

#define PBFT_RECOVER_SUMMARY(F) \
    "PBFT, f=" F ": every replica crashes in turn, one at a time, and is restarted empty; " \
    "it catches up (FETCH, window after window, and the view) so every request completes"
#define PBFT_RECOVER_BROKEN "crashed replicas are never restarted (crashes accumulate past f)"

const struct sim_scenario sim_scenario_pbft_recover_f1 = {
    .name = "pbft-recover-f1",
    .summary = PBFT_RECOVER_SUMMARY("1"),
    .broken = PBFT_RECOVER_BROKEN,
    .setup = pbft_setup_recover_f1,
    .check = pbft_check,
    /* 1,000 seeds pass by hand (build/sim/sim); 300 keep test_sim (ASan) within its time. */
    .check_seeds = 300,
};

const struct sim_scenario sim_scenario_pbft_recover_f2 = {
    .name = "pbft-recover-f2",
    .summary = PBFT_RECOVER_SUMMARY("2"),
    .broken = PBFT_RECOVER_BROKEN,
    .setup = pbft_setup_recover_f2,
    .check = pbft_check,
    /* 1,000 seeds pass by hand (build/sim/sim); 300 keep test_sim (ASan) within its time. */
    .check_seeds = 300,
};
