/* Scenario "ftvnf": FTvNF (vnfs/ft/ftvnf) protecting a chain of 1-3 stateful VNFs whose
 * functions read a clock, draw random numbers and share variables: `nat` with random ports
 * and flow timestamps, `nat` with its shared sequential allocator and timestamps, `lb` with
 * random choice; and `fwd`, stateless (work alone) or writing state with no PADs. The
 * client's UDP flows enter through the ID sequencer; the manager feeds the slaves every
 * 1-10 ms. One master crashes under load (never restarted); sometimes the
 * manager crashes and restarts before that. Links are FIFO and lossless (veth pairs through
 * the switch); the failure notice comes 0.5-5 ms after the crash.
 *
 * At the end of the chain a checker (this file's test-only core, the chain's egress) drops
 * copies of a packet id, replies to the client with the UDP payload, and judges:
 *  - every copy of a VNF reports its state digest after each packet: a slave's after a
 *    packet must equal its master's after the same packet (the slave replays the master's
 *    order with the master's determinants), so after a failure the new master's state is the
 *    dead master's at the last packet it logged;
 *  - a flow keeps its translated source (address and port) for the whole run: no flow is
 *    reset by the takeover.
 * Either broken, the checker sends the client a corrupted reply. Invariants at the client:
 * every reply is right (sim_check_valid), none twice, none lost (the takeover resent what
 * the dead master never logged). Half the seeds log on the path (the loggers store a packet's
 * records as it goes through them and feed the slaves at once; ftvnf.h), half by messages.
 * Broken variant: slaves replay without determinants (their own clock and random draws). */
#include "tests/sim/scenario.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "vnfs/lib/packet.h"
#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/demo/demo.h"
#include "vnfs/ft/ftvnf/ftvnf.h"
#include "vnfs/ft/u64map.h"

#define FTVNF_SIM_MAX_STAGES 3
#define FTVNF_SIM_MAX_FLOWS 8

/* The checker: next = [client]. */
struct ftvnf_check {
    struct ft_core up;
    uint32_t client;
    struct u64map seen;         /* base id -> 1 */
    struct u64map flows;        /* flow -> translated ip << 16 | port */
    struct u64map master;       /* stage << 40 | base -> first 8 bytes of the digest */
    struct u64map slave;
    bool bad;
    struct buf last_reply;
};

static int
ftvnf_check_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct ftvnf_check *c;

    if (cfg->n_next != 1) {
        return EINVAL;
    }
    c = xzalloc(sizeof *c);
    c->client = cfg->next[0];
    u64map_init(&c->seen);
    u64map_init(&c->flows);
    u64map_init(&c->master);
    u64map_init(&c->slave);
    buf_init(&c->last_reply);
    *corep = &c->up;
    return 0;
}

static void
ftvnf_check_destroy(struct ft_core *core)
{
    struct ftvnf_check *c = (struct ftvnf_check *) core;

    u64map_destroy(&c->seen);
    u64map_destroy(&c->flows);
    u64map_destroy(&c->master);
    u64map_destroy(&c->slave);
    buf_uninit(&c->last_reply);
    free(c);
}

/* Once broken, the client hears of it: a corrupted copy of a reply it already accepted. */
static void
ftvnf_check_fail(struct ftvnf_check *c, struct ft_actions *out)
{
    if (!c->bad && c->last_reply.len) {
        c->last_reply.data[c->last_reply.len - 1] ^= 0xff;
        ft_emit_forward(out, c->client, c->last_reply.data, c->last_reply.len);
    }
    c->bad = true;
}

static void
ftvnf_check_report(struct ftvnf_check *c, const struct ft_event *ev, struct ft_actions *out)
{
    struct cursor rd;
    uint8_t who, stage;
    uint64_t base, digest, other;

    cursor_init(&rd, ev->data, ev->len);
    who = cursor_u8(&rd);
    stage = cursor_u8(&rd);
    base = cursor_be64(&rd);
    digest = cursor_be64(&rd);
    if (!cursor_ok(&rd)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        return;
    }
    uint64_t key = (uint64_t) stage << 40 | base;
    struct u64map *mine = who == 'M' ? &c->master : &c->slave;
    struct u64map *theirs = who == 'M' ? &c->slave : &c->master;
    u64map_put(mine, key, digest);
    if (u64map_get(theirs, key, &other) && other != digest) {
        ft_emit_note(out, "stage %u packet %#"PRIx64": slave's state differs from its "
                     "master's", stage, base);
        ftvnf_check_fail(c, out);
    }
}

static int
ftvnf_check_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct ftvnf_check *c = (struct ftvnf_check *) core;
    struct packet_info info;
    struct demo_msg m;
    uint64_t id = 0, flow, translated, known;

    if (ev->kind == FT_EV_PEER_MSG) {
        ftvnf_check_report(c, ev, out);
        return 0;
    }
    if (ev->kind != FT_EV_PACKET) {
        return 0;
    }
    if (ev->len < 8 || !demo_msg_parse(ev->data + 8, ev->len - 8, &m)
        || packet_parse(m.body, m.body_len, &info) || !info.has_ports
        || (size_t) info.l7_ofs + 4 > m.body_len) {
        ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        return 0;
    }
    for (int i = 0; i < 8; i++) {
        id = id << 8 | ev->data[i];
    }
    if (u64map_get(&c->seen, ftvnf_id_base(id), NULL)) {
        ft_emit_drop(out, FT_DROP_DUPLICATE, NULL, 0);
        return 0;
    }
    u64map_put(&c->seen, ftvnf_id_base(id), 1);
    const uint8_t *payload = m.body + info.l7_ofs;
    size_t payload_len = m.body_len - info.l7_ofs;
    flow = (uint64_t) payload[0] << 24 | payload[1] << 16 | payload[2] << 8 | payload[3];
    translated = (uint64_t) ntohl(info.flow.src_ip) << 16 | ntohs(info.flow.src_port);
    if (u64map_get(&c->flows, flow, &known) && known != translated) {
        ft_emit_note(out, "flow %"PRIu64" was reset: its source changed", flow);
        ftvnf_check_fail(c, out);
    }
    u64map_put(&c->flows, flow, translated);

    struct demo_msg reply = {
        .req_id = m.req_id, .client = m.client, .origin = 0,
        .body = payload, .body_len = payload_len,
    };
    buf_clear(&c->last_reply);
    demo_msg_put(&c->last_reply, &reply);
    if (c->bad) {
        c->last_reply.data[c->last_reply.len - 1] ^= 0xff;
    }
    ft_emit_forward(out, c->client, c->last_reply.data, c->last_reply.len);
    return 0;
}

static const struct ft_core_class ftvnf_check_class = {
    .name = "ftvnf-check",
    .summary = "test: FTvNF chain egress comparing slaves' states with their masters'",
    .create = ftvnf_check_create,
    .destroy = ftvnf_check_destroy,
    .step = ftvnf_check_step,
};

/* A correct chain gives back each request's UDP payload. */
static void
ftvnf_expect(const uint8_t *body, size_t len, struct buf *reply)
{
    struct packet_info info;

    if (!packet_parse(body, len, &info) && info.has_ports && (size_t) info.l7_ofs <= len) {
        buf_put(reply, body + info.l7_ofs, len - info.l7_ofs);
    }
}

static uint64_t
ftvnf_setup(struct sim *sim, bool broken)
{
    struct ft_rng *rng = sim_rng(sim);
    struct sim_net_config net = *sim_net(sim);
    size_t n = ft_rng_range(rng, 1, FTVNF_SIM_MAX_STAGES);
    size_t n_flows = ft_rng_range(rng, 1, FTVNF_SIM_MAX_FLOWS);
    size_t n_requests = ft_rng_range(rng, 40, 200);
    uint64_t gap = ft_rng_range(rng, 50, 400) * SIM_US;
    uint64_t period_ms = ft_rng_range(rng, 1, 10);
    /* Half the seeds log on the path (slaves fed by the loggers at once), half by messages
     * (the paper's round trips; slaves fed by the manager alone). */
    bool on_path = ft_rng_chance(rng, 0.5);
    const char *log = on_path ? "path" : "messages";
    uint32_t client, seq, plog, dplog, proglog, manager, check;
    uint32_t masters[FTVNF_SIM_MAX_STAGES], slaves[FTVNF_SIM_MAX_STAGES];
    uint32_t group[1 + 2 * FTVNF_SIM_MAX_STAGES], writers[1 + 2 * FTVNF_SIM_MAX_STAGES];
    char period_s[32], stages_s[24], check_s[16];

    net.delay_min_ns = net.delay_max_ns = ft_rng_range(rng, 10, 300) * SIM_US;
    net.spike_prob = 0;
    net.dup_prob = 0;
    net.loss_prob = 0;
    net.authenticated = true;
    net.detect_ns = ft_rng_range(rng, 500, 5000) * SIM_US;
    sim_set_net(sim, &net);

    client = sim_add_endpoint(sim, "client");
    seq = sim_add_endpoint(sim, "sequencer");
    plog = sim_add_endpoint(sim, "packet-logger");
    dplog = sim_add_endpoint(sim, "dp-logger");
    proglog = sim_add_endpoint(sim, "progress-logger");
    manager = sim_add_endpoint(sim, "manager");
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "vnf%zu.master", i);
        masters[i] = sim_add_endpoint(sim, name);
        snprintf(name, sizeof name, "vnf%zu.slave", i);
        slaves[i] = sim_add_endpoint(sim, name);
    }
    check = sim_add_endpoint(sim, "egress");
    snprintf(period_s, sizeof period_s, "%"PRIu64"ms", period_ms);
    snprintf(stages_s, sizeof stages_s, "%zu", n);
    snprintf(check_s, sizeof check_s, "%"PRIu32, check);

    group[0] = seq;
    writers[0] = seq;
    for (size_t i = 0; i < n; i++) {
        group[1 + i] = masters[i];
        group[1 + n + i] = slaves[i];
        writers[1 + i] = masters[i];
        writers[1 + n + i] = slaves[i];
    }
    struct ft_param seq_params[] = { { "log", log } };
    struct sim_core_spec spec = {
        .class = ft_core_class_find("ftvnf_sequencer"),
        .next = &masters[0], .n_next = 1,
        .peers = (uint32_t[]) { plog, manager }, .n_peers = 2,
        .params = seq_params, .n_params = 1,
    };
    sim_make_core(sim, seq, &spec);
    static const char *const logger_classes[] = {
        "ftvnf_packet_logger", "ftvnf_dp_logger", "ftvnf_progress_logger",
    };
    uint32_t loggers[3] = { plog, dplog, proglog };
    for (size_t i = 0; i < 3; i++) {
        spec = (struct sim_core_spec) {
            .class = ft_core_class_find(logger_classes[i]),
            .group = writers, .n_group = 1 + 2 * n,
            .peers = &manager, .n_peers = 1,
        };
        sim_make_core(sim, loggers[i], &spec);
    }
    struct ft_param mparams[] = {
        { "stages", stages_s }, { "manager_period", period_s }, { "retain", "20ms" },
        /* Detection (<= 5 ms) plus a period (<= 10 ms) is at most 15 ms. On the path, the
         * loggers send on whatever they logged: nothing to re-forward. */
        { "reforward", on_path ? "0" : "16ms" },
        { "feed_after", on_path ? "3ms" : "0" },
    };
    spec = (struct sim_core_spec) {
        .class = ft_core_class_find("ftvnf_manager"),
        .group = group, .n_group = 1 + 2 * n, .peers = loggers, .n_peers = 3,
        .params = mparams, .n_params = ARRAY_SIZE(mparams),
    };
    sim_make_core(sim, manager, &spec);

    for (size_t i = 0; i < n; i++) {
        char stage_s[24], ext[32];
        struct ft_param p[12];
        size_t np = 0;
        uint32_t next = i + 1 < n ? masters[i + 1] : check;
        char sync_s[16];

        snprintf(stage_s, sizeof stage_s, "%zu", i);
        snprintf(sync_s, sizeof sync_s, "%"PRIu32, slaves[i]);
        snprintf(ext, sizeof ext, "192.0.2.%zu", 10 + i);
        p[np++] = (struct ft_param) { "stage", stage_s };
        p[np++] = (struct ft_param) { "frame_offset", "16" };
        p[np++] = (struct ft_param) { "report", check_s };
        switch (ft_rng_below(rng, 5)) {
        case 3:
            /* Work alone: no state, no PADs: the master forwards at once (on the path). */
            p[np++] = (struct ft_param) { "fn", "fwd" };
            p[np++] = (struct ft_param) { "fn.iterations", "64" };
            break;
        case 4:
            /* State written per packet with no PADs: replayed in the master's order. */
            p[np++] = (struct ft_param) { "fn", "fwd" };
            p[np++] = (struct ft_param) { "fn.state_size", "8" };
            p[np++] = (struct ft_param) { "fn.iterations", "16" };
            break;
        case 0:
            p[np++] = (struct ft_param) { "fn", "nat" };
            p[np++] = (struct ft_param) { "fn.external", ext };
            p[np++] = (struct ft_param) { "fn.alloc", "random" };
            p[np++] = (struct ft_param) { "fn.timeout", "60s" };
            break;
        case 1:
            p[np++] = (struct ft_param) { "fn", "nat" };
            p[np++] = (struct ft_param) { "fn.external", ext };
            p[np++] = (struct ft_param) { "fn.ports", "4000-4999" };
            p[np++] = (struct ft_param) { "fn.timeout", "60s" };
            break;
        default:
            p[np++] = (struct ft_param) { "fn", "lb" };
            p[np++] = (struct ft_param) { "fn.choice", "random" };
            p[np++] = (struct ft_param) { "fn.backends", "198.51.100.1@02:00:00:00:01:01,"
                                          "198.51.100.2@02:00:00:00:01:02,"
                                          "198.51.100.3@02:00:00:00:01:03" };
            break;
        }
        uint32_t peers[4] = { plog, dplog, proglog, manager };
        for (int role = 0; role < 2; role++) {
            struct ft_param rp[16];
            size_t nrp = np;
            memcpy(rp, p, np * sizeof *p);
            rp[nrp++] = (struct ft_param) { "role", role ? "slave" : "master" };
            rp[nrp++] = (struct ft_param) { "log", log };
            if (on_path && !role) {
                rp[nrp++] = (struct ft_param) { "sync", sync_s };
            }
            if (i + 1 == n) {
                rp[nrp++] = (struct ft_param) { "last", "1" };
            }
            if (role && broken) {
                rp[nrp++] = (struct ft_param) { "broken", "1" };
            }
            spec = (struct sim_core_spec) {
                .class = ft_core_class_find("ftvnf_vnf"),
                .next = &next, .n_next = 1, .peers = peers, .n_peers = 4,
                .params = rp, .n_params = nrp,
            };
            sim_make_core(sim, role ? slaves[i] : masters[i], &spec);
        }
    }
    spec = (struct sim_core_spec) {
        .class = &ftvnf_check_class, .next = &client, .n_next = 1,
    };
    sim_make_core(sim, check, &spec);
    sim_make_client(sim, client, &seq, 1);
    sim_set_expect(sim, ftvnf_expect);

    /* The workload: n_flows UDP flows, each request one packet of one of them. */
    uint64_t t = 0, end;
    for (size_t k = 0; k < n_requests; k++) {
        static const uint8_t cmac[6] = { 2, 0, 0, 0, 0, 1 }, smac[6] = { 2, 0, 0, 0, 0, 2 };
        uint8_t frame[128], payload[16];
        uint32_t flow = ft_rng_below(rng, n_flows);
        size_t len;

        payload[0] = flow >> 24;
        payload[1] = flow >> 16;
        payload[2] = flow >> 8;
        payload[3] = flow;
        for (size_t b = 4; b < sizeof payload; b++) {
            payload[b] = ft_rng_u64(rng);
        }
        packet_build_udp(frame, sizeof frame, cmac, smac, 0x0a000001 + flow, 0xc6336401,
                         10000 + flow, 53, payload, sizeof payload, &len);
        t += ft_rng_below(rng, gap);
        sim_request_at(sim, client, t, frame, len);
    }
    end = t;

    /* One master fails under load; sometimes the manager fails and restarts before. */
    uint64_t crash_at = end / 5 + ft_rng_below(rng, end * 3 / 5 + 1);
    size_t victim = ft_rng_below(rng, n);
    if (ft_rng_chance(rng, 0.3) && crash_at > 20 * SIM_MS) {
        uint64_t m_at = ft_rng_below(rng, crash_at - 20 * SIM_MS);
        sim_crash_at(sim, manager, m_at);
        sim_restart_at(sim, manager, m_at + ft_rng_range(rng, 1, 10) * SIM_MS);
    }
    sim_crash_at(sim, masters[victim], crash_at);
    return end + 5 * SIM_S;
}

static bool
ftvnf_check(const struct sim *sim, struct buf *why)
{
    const struct sim_history *h = sim_history(sim);

    return sim_check_valid(h, why) && sim_check_no_duplicates(h, why)
           && sim_check_no_loss(h, why);
}

const struct sim_scenario sim_scenario_ftvnf = {
    .name = "ftvnf",
    .summary = "FTvNF: 1-3 non-deterministic VNFs (nat, lb) with master and slave, a master "
               "crashes under load; slave states equal masters', no flow reset, nothing lost",
    .broken = "slaves replay without determinants (their own clock and random draws)",
    .setup = ftvnf_setup,
    .check = ftvnf_check,
    /* A seed carries a few thousand simulated packets: 1,000 seeds keep the sanitised run
     * of `make check` near the other scenarios' time. */
    .check_seeds = 1000,
};
