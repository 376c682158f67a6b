/* Scenarios "fitsfc-f1" and "fitsfc-f2": FIT-SFC's whole replicated chain (Figures 1 and 3) with
 * one VNF, f = 1 or 2, every component 3f+1 times:
 *
 *   client --each request to every--> classifier[3f+1] --> sff[3f+1] (voter) --> vnf[3f+1]
 *   (voter, then the service) --> sff[3f+1] (voter, return path) --> client (voter, f+1)
 *
 * Every arrow is all-to-all; every voter is a `bft_voter` over the 3f+1 replicas of the stage
 * before it. An SFF replica is two endpoints here (its forward and its return voter), failing
 * together. In each component up to f replicas are faulty, each in one way: crash (maybe with a
 * restart, empty), omission (a lossy output), a partition from its next stage, or Byzantine with
 * any strategy of byzantine.h, including Figure 2's 'split' and 'collude' (the f liars
 * of a component tell the same lie, against every quorum at once). With probability 1/2 a second,
 * malicious client sends its own requests, telling even classifiers one thing and odd ones
 * another (split), or lying otherwise. The network delays, reorders, duplicates, and loses
 * messages until it stabilises; links are authenticated.
 *
 * The client wrapper's acceptance rule: a reply is accepted on f+1 identical copies (same
 * digest, distinct SFF replicas). Why not 2f+1: the 2f+1 rule inside the chain is for agreement
 * among the replicas of the next stage (Figure 2); the client is the last decider, and a
 * correct SFF replica emits a reply only after its own 2f+1 vote, so f+1 identical replies
 * contain one from a correct replica, i.e. the correct reply. It is tight: with quorum f (the
 * config refuses it; forced by hand) these scenarios catch forged replies accepted, at f=1 by
 * seed 8 and at f=2 by seed 33 of 1,000, when f SFF replicas collude. Liveness is the same (2f+1
 * correct SFF replicas answer), latency lower (the (f+1)-th copy, not the (2f+1)-th).
 *
 * Invariants: the correct client never accepts a reply no correct chain gives, never accepts
 * one twice, and accepts every request it sent once the network is stable; correct voters of
 * one stage never decide different values for one packet (even with the malicious client).
 * --broken: the SFF and VNF voters decide on f+1 instead of 2f+1 (Figure 2's counter-example):
 * correct SFF replicas then diverge on the malicious client's requests. */
#include "tests/sim/scenario.h"

#include <stdio.h>

#include "vnfs/lib/util.h"
#include "vnfs/ft/demo/demo.h"

#define FITSFC_MAX_N 7          /* 3f+1 for f = 2. */

enum { FITSFC_STAGE_SFF_IN = 1, FITSFC_STAGE_VNF, FITSFC_STAGE_SFF_OUT };

/* What each correct VNF replica computes: a function of the body alone. */
static void
fitsfc_service_body(const uint8_t *body, size_t len, struct buf *out)
{
    uint8_t *p = buf_put_uninit(out, len);

    for (size_t i = 0; i < len; i++) {
        p[i] = body[len - 1 - i] * 13 + i + 3;
    }
}

/* A replica passes the packet on as its own copy: same name and content, its own origin. */
static void
fitsfc_relay(uint32_t self, const uint8_t *pkt, size_t len, struct buf *out)
{
    struct demo_msg m;

    if (demo_msg_parse(pkt, len, &m)) {
        m.origin = self;
        demo_msg_put(out, &m);
    }
}

static void
fitsfc_vnf(uint32_t self, const uint8_t *pkt, size_t len, struct buf *out)
{
    struct buf body = BUF_INITIALIZER;
    struct demo_msg m;

    if (demo_msg_parse(pkt, len, &m)) {
        fitsfc_service_body(m.body, m.body_len, &body);
        m.origin = self;
        m.body = body.data;
        m.body_len = body.len;
        demo_msg_put(out, &m);
    }
    buf_uninit(&body);
}

struct fitsfc_chain {
    uint32_t f;
    size_t n;
    uint32_t client, evil;      /* evil: FT_ENDPOINT_NONE if there is no malicious client. */
    uint32_t cls[FITSFC_MAX_N], sff_in[FITSFC_MAX_N], vnf[FITSFC_MAX_N], sff_out[FITSFC_MAX_N];
};

static void
fitsfc_add_replicas(struct sim *sim, const char *what, size_t n, uint32_t *ids)
{
    for (size_t i = 0; i < n; i++) {
        char name[48];
        snprintf(name, sizeof name, "%s[%zu]", what, i);
        ids[i] = sim_add_endpoint(sim, name);
    }
}

static void
fitsfc_make_voters(struct sim *sim, const struct fitsfc_chain *c, const uint32_t *ids,
                   const uint32_t *from, const uint32_t *to, size_t n_to, sim_service_fn *fn,
                   uint32_t stage, bool broken)
{
    static const struct ft_param params[] = { { "timeout", "50ms" } };
    const struct ft_core_class *class = ft_core_class_find(broken ? "bft_voter-broken"
                                                                  : "bft_voter");

    for (size_t i = 0; i < c->n; i++) {
        struct sim_core_spec spec = {
            .class = class, .f = c->f, .group = from, .n_group = c->n,
            .next = to, .n_next = n_to, .params = params, .n_params = ARRAY_SIZE(params),
            .consumer = fn, .decision_stage = stage,
        };
        sim_make_core(sim, ids[i], &spec);
    }
}

/* One faulty replica of a component: 'ids' are its endpoints (two for an SFF), 'next' the
 * stage its output goes to. */
static void
fitsfc_fail(struct sim *sim, const uint32_t *ids, size_t n_ids, const uint32_t *next,
            size_t n_next, uint64_t end, bool collude)
{
    struct ft_rng *rng = sim_rng(sim);
    uint64_t at = ft_rng_below(rng, end);
    uint64_t back = at + ft_rng_range(rng, 1, 20) * SIM_MS;
    bool restart = ft_rng_chance(rng, 0.5);
    double p = 0.2 + 0.8 * ft_rng_unit(rng);
    unsigned how = collude ? 1 : ft_rng_below(rng, 4);
    unsigned which = ft_rng_below(rng, 7);
    const struct sim_byzantine *byz = collude || which == 1 ? &sim_byz_collude
                                      : which == 0 ? &sim_byz_split
                                      : sim_byzantine_pick(rng);

    for (size_t k = 0; k < n_ids; k++) {
        switch (how) {
        case 0:
            sim_crash_at(sim, ids[k], at);
            if (restart) {
                sim_restart_at(sim, ids[k], back);
            }
            break;
        case 1:
            sim_set_byzantine(sim, ids[k], byz);
            break;
        case 2:
            /* Omission: a lossy output, for good. */
            for (size_t j = 0; j < n_next; j++) {
                sim_link_loss(sim, ids[k], next[j], p, UINT64_MAX);
            }
            sim_mark_faulty(sim, ids[k]);
            break;
        default:
            for (size_t j = 0; j < n_next; j++) {
                sim_partition(sim, ids[k], next[j], at, back + 30 * SIM_MS);
            }
            sim_mark_faulty(sim, ids[k]);
            break;
        }
    }
}

static uint64_t
fitsfc_setup(struct sim *sim, uint32_t f, bool broken)
{
    struct ft_rng *rng = sim_rng(sim);
    struct sim_net_config net = *sim_net(sim);
    struct fitsfc_chain c = { .f = f, .n = 3 * f + 1, .evil = FT_ENDPOINT_NONE };
    char quorum[16];
    uint64_t end;
    size_t n_requests;

    net.delay_min_ns = ft_rng_range(rng, 20, 200) * SIM_US;
    net.delay_max_ns = net.delay_min_ns + ft_rng_below(rng, SIM_MS);
    net.spike_prob = ft_rng_unit(rng) * 0.05;
    net.spike_max_ns = 5 * SIM_MS;
    net.dup_prob = ft_rng_unit(rng) * 0.2;
    net.loss_prob = ft_rng_unit(rng) * 0.05;
    net.stable_ns = ft_rng_below(rng, 30 * SIM_MS);
    net.authenticated = true;
    net.detect_ns = 5 * SIM_MS;
    sim_set_net(sim, &net);

    c.client = sim_add_endpoint(sim, "client");
    if (ft_rng_chance(rng, 0.5)) {
        c.evil = sim_add_endpoint(sim, "evil-client");
    }
    fitsfc_add_replicas(sim, "classifier", c.n, c.cls);
    fitsfc_add_replicas(sim, "sff-in", c.n, c.sff_in);
    fitsfc_add_replicas(sim, "vnf", c.n, c.vnf);
    fitsfc_add_replicas(sim, "sff-out", c.n, c.sff_out);

    for (size_t i = 0; i < c.n; i++) {
        sim_make_service(sim, c.cls[i], fitsfc_relay, c.sff_in, c.n);
    }
    fitsfc_make_voters(sim, &c, c.sff_in, c.cls, c.vnf, c.n, fitsfc_relay,
                       FITSFC_STAGE_SFF_IN, broken);
    fitsfc_make_voters(sim, &c, c.vnf, c.sff_in, c.sff_out, c.n, fitsfc_vnf,
                       FITSFC_STAGE_VNF, broken);
    fitsfc_make_voters(sim, &c, c.sff_out, c.vnf, &c.client, 1, fitsfc_relay,
                       FITSFC_STAGE_SFF_OUT, broken);

    /* The client wrapper: f+1 identical replies from distinct SFF replicas. */
    snprintf(quorum, sizeof quorum, "%u", f + 1);
    struct ft_param client_params[] = {
        { "timeout", "50ms" }, { "quorum", quorum }, { "own_only", "1" },
    };
    struct sim_core_spec client_spec = {
        .class = ft_core_class_find("bft_voter"), .f = f, .group = c.sff_out, .n_group = c.n,
        .params = client_params, .n_params = ARRAY_SIZE(client_params),
    };
    sim_make_core(sim, c.client, &client_spec);
    sim_make_client(sim, c.client, c.cls, c.n);
    sim_set_expect(sim, fitsfc_service_body);

    n_requests = ft_rng_range(rng, 10, 40);
    end = n_requests * 200 * SIM_US;

    /* Up to f faulty replicas in each component. */
    const struct { uint32_t *ids, *ids2, *next; } comp[] = {
        { c.cls, NULL, c.sff_in },
        { c.sff_in, c.sff_out, c.vnf },
        { c.vnf, NULL, c.sff_out },
    };
    for (size_t k = 0; k < ARRAY_SIZE(comp); k++) {
        uint32_t order[FITSFC_MAX_N];
        size_t n_faulty = ft_rng_below(rng, f + 1);
        /* Sometimes all f liars of a component agree on one lie: the strongest attack on a
         * quorum (the client's f+1 included). */
        bool collude = ft_rng_chance(rng, 0.25);

        sim_scenario_order(sim, order, c.n);
        for (size_t i = 0; i < n_faulty; i++) {
            uint32_t ids[2] = { comp[k].ids[order[i]] };
            size_t n_ids = 1;

            if (comp[k].ids2) {
                ids[n_ids++] = comp[k].ids2[order[i]];
            }
            fitsfc_fail(sim, ids, n_ids, comp[k].next, c.n, end, collude);
        }
    }

    sim_scenario_requests(sim, c.client, n_requests, 48, 400 * SIM_US);
    if (c.evil != FT_ENDPOINT_NONE) {
        /* Figure 2 mostly; sometimes any other lie. */
        sim_make_client(sim, c.evil, c.cls, c.n);
        sim_set_byzantine(sim, c.evil, ft_rng_chance(rng, 0.75) ? &sim_byz_split
                                                                 : sim_byzantine_pick(rng));
        sim_scenario_requests(sim, c.evil, ft_rng_range(rng, 5, 20), 48, 400 * SIM_US);
    }
    return 60 * SIM_S;
}

static uint64_t
fitsfc_setup_f1(struct sim *sim, bool broken)
{
    return fitsfc_setup(sim, 1, broken);
}

static uint64_t
fitsfc_setup_f2(struct sim *sim, bool broken)
{
    return fitsfc_setup(sim, 2, broken);
}

static bool
fitsfc_check(const struct sim *sim, struct buf *why)
{
    const struct sim_history *h = sim_history(sim);

    return sim_check_valid(h, why) && sim_check_no_duplicates(h, why)
           && sim_check_correct_clients_live_after(h, sim_net(sim)->stable_ns, why)
           && sim_check_stage_agreement(h, why);
}

#define FITSFC_SUMMARY(F) \
    "FIT-SFC chain, f=" F ": 3f+1 classifiers, SFFs, VNFs; up to f faulty per component " \
    "(crash, omission, partition, every Byzantine strategy), maybe a malicious client"
/* A whole chain is 4(3f+1)+2 endpoints: 1,000 seeds per f (the floor) keep make check
 * under a minute with sanitizers; `make soak` runs more. */
#define FITSFC_CHECK_SEEDS 1000
#define FITSFC_BROKEN "SFF and VNF voters decide on f+1 identical copies instead of 2f+1"

const struct sim_scenario sim_scenario_fitsfc_f1 = {
    .name = "fitsfc-f1",
    .summary = FITSFC_SUMMARY("1"),
    .broken = FITSFC_BROKEN,
    .setup = fitsfc_setup_f1,
    .check = fitsfc_check,
    .check_seeds = FITSFC_CHECK_SEEDS,
};

const struct sim_scenario sim_scenario_fitsfc_f2 = {
    .name = "fitsfc-f2",
    .summary = FITSFC_SUMMARY("2"),
    .broken = FITSFC_BROKEN,
    .setup = fitsfc_setup_f2,
    .check = fitsfc_check,
    .check_seeds = FITSFC_CHECK_SEEDS,
};
