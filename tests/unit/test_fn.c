#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/ft/rng.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/dns.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/state.h"
#include "vnfs/fn/auth.h"
#include "vnfs/fn/nf-provider.h"
#include "vnfs/fn/nf.h"
#include "vnfs/fn/det.h"

#define CLIENT_IP 0x0a000001    /* 10.0.0.1 */
#define SERVER_IP 0x0a000035    /* 10.0.0.53 */

static const uint8_t client_mac[6] = { 2, 0, 0, 0, 0, 1 };
static const uint8_t server_mac[6] = { 2, 0, 0, 0, 0, 0x35 };

struct frame {
    uint8_t data[2048];
    size_t len;
};

static void
udp_frame(struct frame *f, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
          const void *payload, size_t len)
{
    assert_int_equal(packet_build_udp(f->data, sizeof f->data, client_mac, server_mac, src, dst,
                                      sport, dport, payload, len, &f->len), 0);
}

static void
dns_frame(struct frame *f, uint16_t sport, const char *name, const uint8_t *token,
          size_t size)
{
    struct dns_query_spec spec = { .id = sport, .name = name, .qtype = DNS_TYPE_A, .rd = true,
                                   .edns = true, .size = size, .token = token,
                                   .token_len = token ? AUTH_TOKEN_LEN : 0 };
    uint8_t msg[1500];
    size_t len;

    assert_int_equal(dns_build_query(&spec, msg, sizeof msg, &len), 0);
    udp_frame(f, CLIENT_IP, sport, SERVER_IP, DNS_PORT, msg, len);
}

static enum nf_verdict
run(struct nf *nf, struct frame *f)
{
    struct nf_packet pkt = { .data = f->data, .len = f->len, .cap = sizeof f->data };
    enum nf_verdict v = nf_process(nf, &pkt);

    f->len = pkt.len;
    return v;
}

static struct nf *
make(const char *name, const char *const *args)
{
    struct nf_param params[16] = { { NULL, NULL } };
    char *copies[16];
    size_t n = 0;
    struct nf *nf = NULL;
    char *err = NULL;

    for (; args && args[n]; n++) {
        copies[n] = strdup(args[n]);
        assert_true(nf_param_parse(copies[n], &params[n]));
    }
    int error = nf_create(name, params, n, &nf, &err);
    if (error) {
        fail_msg("%s: %s", name, err);
    }
    for (size_t i = 0; i < n; i++) {
        free(copies[i]);
    }
    return nf;
}

/* The frame parses, its checksums are right, and its flow is returned. */
static struct packet_info
check_frame(const struct frame *f)
{
    struct packet_info info;

    assert_int_equal(packet_parse(f->data, f->len, &info), 0);
    assert_true(packet_l4_csum_ok(f->data, &info));
    return info;
}

static void
test_registry(void **state)
{
    struct nf *nf;
    char *err = NULL;
    struct nf_param bad = { "zome", "x" };

    assert_non_null(nf_class_find("dns"));
    assert_non_null(nf_class_find("fwd"));
    assert_null(nf_class_find("dnss"));
    assert_int_equal(nf_create("dnss", NULL, 0, &nf, &err), ENOENT);
    assert_non_null(strstr(err, "dnss"));
    free(err);
    assert_int_equal(nf_create("dns", &bad, 1, &nf, &err), EINVAL);
    assert_non_null(strstr(err, "zome"));
    free(err);
    struct nf_param badzone = { "zone", "example.com=10.0.0.300" };
    assert_int_equal(nf_create("dns", &badzone, 1, &nf, &err), EINVAL);
    assert_non_null(strstr(err, "10.0.0.300"));
    free(err);
    struct nf_param badsize = { "state_size", "lots" };
    assert_int_equal(nf_create("gen", &badsize, 1, &nf, &err), EINVAL);
    free(err);
    struct nf_param noauthkey = { "port", "53" };
    assert_int_equal(nf_create("auth", &noauthkey, 1, &nf, &err), EINVAL);
    assert_non_null(strstr(err, "key"));
    free(err);
}

static void
test_dns_answers(void **state)
{
    static const char *const args[] = {
        "zone=example.com=10.0.0.80,www.example.com=10.0.0.81", "ttl=60", NULL };
    struct nf *nf = make("dns", args);
    struct frame f;
    struct dns_response r;

    dns_frame(&f, 40000, "WWW.example.com", NULL, 512);
    assert_int_equal(f.len, PACKET_UDP_HLEN + 512);
    assert_int_equal(run(nf, &f), NF_REPLY);
    struct packet_info info = check_frame(&f);
    assert_int_equal(info.flow.src_ip, htonl(SERVER_IP));
    assert_int_equal(info.flow.dst_ip, htonl(CLIENT_IP));
    assert_int_equal(ntohs(info.flow.src_port), 53);
    assert_int_equal(ntohs(info.flow.dst_port), 40000);
    assert_memory_equal(f.data, client_mac, 6);
    assert_memory_equal(f.data + 6, server_mac, 6);
    assert_int_equal(dns_parse_response(f.data + info.l7_ofs, info.l7_len, &r), 0);
    assert_int_equal(r.id, 40000);
    assert_int_equal(r.rcode, DNS_RCODE_NOERROR);
    assert_int_equal(r.n_addrs, 1);
    assert_int_equal(r.addrs[0], htonl(0x0a000051));
    assert_int_equal(r.ttls[0], 60);

    dns_frame(&f, 40001, "nope.example.com", NULL, 0);
    assert_int_equal(run(nf, &f), NF_REPLY);
    info = check_frame(&f);
    assert_int_equal(dns_parse_response(f.data + info.l7_ofs, info.l7_len, &r), 0);
    assert_int_equal(r.rcode, DNS_RCODE_NXDOMAIN);
    assert_int_equal(r.n_addrs, 0);

    /* Not DNS: forwarded untouched. Malformed DNS: dropped. */
    udp_frame(&f, CLIENT_IP, 1000, SERVER_IP, 9999, "hello", 5);
    struct frame copy = f;
    assert_int_equal(run(nf, &f), NF_FORWARD);
    assert_memory_equal(f.data, copy.data, f.len);
    udp_frame(&f, CLIENT_IP, 1000, SERVER_IP, 53, "\x12\x34\x01\x00\x00\x02", 6);
    assert_int_equal(run(nf, &f), NF_DROP);

    assert_int_equal(state_counter_get(nf->state, "dns.queries", 11), 2);
    assert_int_equal(state_counter_get(nf->state, "dns.nxdomain", 12), 1);
    assert_int_equal(nf->n_in, 4);
    assert_int_equal(nf->n_reply, 2);
    nf_destroy(nf);
}

static void
test_dns_truncates(void **state)
{
    char zone[2048] = "zone=";
    for (int i = 0; i < 32; i++) {
        snprintf(zone + strlen(zone), sizeof zone - strlen(zone), "%sbig.example.com=10.0.2.%d",
                 i ? "," : "", i);
    }
    const char *const args[] = { zone, NULL };
    struct nf *nf = make("dns", args);
    struct frame f;
    struct dns_response r;
    struct dns_query_spec spec = { .id = 1, .name = "big.example.com", .qtype = DNS_TYPE_A };
    uint8_t msg[512];
    size_t len;

    /* No EDNS: 512 bytes hold 29 records after the 33-byte header and question. */
    assert_int_equal(dns_build_query(&spec, msg, sizeof msg, &len), 0);
    udp_frame(&f, CLIENT_IP, 3333, SERVER_IP, DNS_PORT, msg, len);
    assert_int_equal(run(nf, &f), NF_REPLY);
    struct packet_info info = check_frame(&f);
    assert_true(info.l7_len <= 512);
    assert_int_equal(dns_parse_response(f.data + info.l7_ofs, info.l7_len, &r), 0);
    assert_true(r.flags & DNS_FLAG_TC);
    assert_int_equal(r.n_addrs, 29);

    /* With EDNS all 32 fit. */
    dns_frame(&f, 3334, "big.example.com", NULL, 0);
    assert_int_equal(run(nf, &f), NF_REPLY);
    info = check_frame(&f);
    assert_int_equal(dns_parse_response(f.data + info.l7_ofs, info.l7_len, &r), 0);
    assert_false(r.flags & DNS_FLAG_TC);
    assert_int_equal(r.n_addrs, 32);
    nf_destroy(nf);
}

static void
test_auth(void **state)
{
    static const char *const args[] = { "key=sesame", NULL };
    struct nf *nf = make("auth", args);
    uint8_t key[AUTH_KEY_LEN], token[AUTH_TOKEN_LEN];
    struct packet_flow flow;
    struct frame f;

    assert_int_equal(auth_key_from_string("sesame", key), 0);
    packet_flow_init(&flow, CLIENT_IP, SERVER_IP, 40000, DNS_PORT, IPPROTO_UDP);
    auth_token(key, &flow, token);

    /* No token, then a token for another flow: dropped. */
    dns_frame(&f, 40000, "example.com", NULL, 0);
    assert_int_equal(run(nf, &f), NF_DROP);
    dns_frame(&f, 40001, "example.com", token, 0);
    assert_int_equal(run(nf, &f), NF_DROP);
    uint8_t bad[AUTH_TOKEN_LEN];
    memcpy(bad, token, sizeof bad);
    bad[0] ^= 1;
    dns_frame(&f, 40000, "example.com", bad, 0);
    assert_int_equal(run(nf, &f), NF_DROP);
    assert_int_equal(state_counter_get(nf->state, "auth.denied", 11), 3);

    /* The right token lets the flow in, and later packets need none. */
    dns_frame(&f, 40000, "example.com", token, 0);
    assert_int_equal(run(nf, &f), NF_FORWARD);
    dns_frame(&f, 40000, "example.com", NULL, 0);
    assert_int_equal(run(nf, &f), NF_FORWARD);

    /* A replica that imports the state accepts the flow too; a fresh one does not. */
    struct nf *replica = make("auth", args), *fresh = make("auth", args);
    struct buf b = BUF_INITIALIZER;
    state_export(nf->state, &b);
    assert_int_equal(state_import(replica->state, b.data, b.len), 0);
    dns_frame(&f, 40000, "example.com", NULL, 0);
    assert_int_equal(run(replica, &f), NF_FORWARD);
    dns_frame(&f, 40000, "example.com", NULL, 0);
    assert_int_equal(run(fresh, &f), NF_DROP);
    buf_uninit(&b);
    nf_destroy(nf);
    nf_destroy(replica);
    nf_destroy(fresh);
}

static void
test_lb_round_robin(void **state)
{
    static const char *const args[] = {
        "backends=10.0.1.1@02:00:00:00:01:01,10.0.1.2@02:00:00:00:01:02,"
        "10.0.1.3@02:00:00:00:01:03", NULL };
    struct nf *nf = make("lb", args);
    struct frame f;

    for (int i = 0; i < 7; i++) {
        udp_frame(&f, CLIENT_IP, 1000 + i, SERVER_IP, 80, "payload", 7);
        assert_int_equal(run(nf, &f), NF_FORWARD);
        struct packet_info info = check_frame(&f);
        assert_int_equal(info.flow.dst_ip, htonl(0x0a000101 + i % 3));
        assert_int_equal(f.data[5], 1 + i % 3);
        assert_int_equal(info.flow.src_ip, htonl(CLIENT_IP));
    }
    assert_int_equal(state_counter_get(nf->state, "lb.next", 7), 7);
    assert_int_equal(state_counter_get(nf->state, "lb.backend.0", 12), 3);
    assert_int_equal(state_counter_get(nf->state, "lb.backend.2", 12), 2);
    nf_destroy(nf);
}

static void
test_nat_translates_and_back(void **state)
{
    static const char *const args[] = { "external=192.0.2.1", "ports=20000-20009", NULL };
    struct nf *nf = make("nat", args);
    struct frame f;

    udp_frame(&f, CLIENT_IP, 5555, SERVER_IP, 53, "q", 1);
    assert_int_equal(run(nf, &f), NF_FORWARD);
    struct packet_info out = check_frame(&f);
    assert_int_equal(out.flow.src_ip, htonl(0xc0000201));
    uint16_t ext = ntohs(out.flow.src_port);
    assert_true(ext >= 20000 && ext <= 20009);
    assert_int_equal(out.flow.dst_ip, htonl(SERVER_IP));

    /* The same endpoint keeps its port; another gets another. */
    udp_frame(&f, CLIENT_IP, 5555, SERVER_IP + 1, 53, "q", 1);
    assert_int_equal(run(nf, &f), NF_FORWARD);
    assert_int_equal(ntohs(check_frame(&f).flow.src_port), ext);
    udp_frame(&f, CLIENT_IP + 1, 5555, SERVER_IP, 53, "q", 1);
    assert_int_equal(run(nf, &f), NF_FORWARD);
    uint16_t ext2 = ntohs(check_frame(&f).flow.src_port);
    assert_int_not_equal(ext2, ext);

    /* The reply comes back to the inside endpoint. */
    udp_frame(&f, SERVER_IP, 53, 0xc0000201, ext, "r", 1);
    assert_int_equal(run(nf, &f), NF_FORWARD);
    struct packet_info in = check_frame(&f);
    assert_int_equal(in.flow.dst_ip, htonl(CLIENT_IP));
    assert_int_equal(ntohs(in.flow.dst_port), 5555);

    /* Unknown inbound port: dropped. */
    udp_frame(&f, SERVER_IP, 53, 0xc0000201, 20009, "r", 1);
    assert_int_equal(run(nf, &f), NF_DROP);

    /* A replica with the imported state translates the reply alike. */
    struct nf *replica = make("nat", args);
    struct buf b = BUF_INITIALIZER;
    state_export(nf->state, &b);
    assert_int_equal(state_import(replica->state, b.data, b.len), 0);
    udp_frame(&f, SERVER_IP, 53, 0xc0000201, ext2, "r", 1);
    assert_int_equal(run(replica, &f), NF_FORWARD);
    assert_int_equal(check_frame(&f).flow.dst_ip, htonl(CLIENT_IP + 1));
    buf_uninit(&b);

    /* The range has 10 ports: the 11th endpoint finds none. */
    for (int i = 2; i < 10; i++) {
        udp_frame(&f, CLIENT_IP + i, 5555, SERVER_IP, 53, "q", 1);
        assert_int_equal(run(nf, &f), NF_FORWARD);
    }
    udp_frame(&f, CLIENT_IP + 10, 5555, SERVER_IP, 53, "q", 1);
    assert_int_equal(run(nf, &f), NF_DROP);
    nf_destroy(nf);
    nf_destroy(replica);
}

static void
test_monitor_counts(void **state)
{
    static const char *const shared_args[] = { "sharing=4096", NULL };
    struct nf *nf = make("monitor", NULL), *shared = make("monitor", shared_args);
    struct frame f;

    for (int i = 0; i < 5; i++) {
        udp_frame(&f, CLIENT_IP, i < 3 ? 1111 : 2222, SERVER_IP, 80, "abcd", 4);
        assert_int_equal(run(nf, &f), NF_FORWARD);
        assert_int_equal(run(shared, &f), NF_FORWARD);
    }
    uint8_t key[2 + sizeof(struct packet_flow)] = { 'M', 'f' };
    struct packet_flow flow;
    packet_flow_init(&flow, CLIENT_IP, SERVER_IP, 1111, 80, IPPROTO_UDP);
    memcpy(key + 2, &flow, sizeof flow);
    const uint8_t *v;
    size_t len;
    assert_true(state_get(nf->state, key, sizeof key, &v, &len));
    assert_int_equal(len, 16);
    assert_int_equal(v[7], 3);                  /* packets */
    assert_int_equal(v[15], 3 * (PACKET_UDP_HLEN + 4));   /* bytes */
    assert_int_equal(state_counter_get(nf->state, "mon.packets", 11), 5);
    /* One shared slot at the highest sharing level counts every packet. */
    assert_int_equal(state_counter_get(shared->state, "Ms\0\0", 4), 5);
    /* Two flows + 2 slots (or 1 if they collide) + 2 totals. */
    assert_true(state_count(nf->state) >= 5);
    nf_destroy(nf);
    nf_destroy(shared);
}

static void
test_firewall(void **state)
{
    static const char *const args[] = {
        "rule=deny,proto=udp,src=10.0.0.0/24,dport=53",
        "rule=allow,proto=udp,dport=1-1024",
        "default=deny", NULL };
    struct nf *nf = make("firewall", args);
    struct frame f;

    udp_frame(&f, CLIENT_IP, 1000, SERVER_IP, 53, "x", 1);
    assert_int_equal(run(nf, &f), NF_DROP);
    udp_frame(&f, 0x0a000101, 1000, SERVER_IP, 53, "x", 1);   /* Outside the /24. */
    assert_int_equal(run(nf, &f), NF_FORWARD);
    udp_frame(&f, CLIENT_IP, 1000, SERVER_IP, 80, "x", 1);
    assert_int_equal(run(nf, &f), NF_FORWARD);
    udp_frame(&f, CLIENT_IP, 1000, SERVER_IP, 8080, "x", 1);
    assert_int_equal(run(nf, &f), NF_DROP);             /* Default. */
    assert_int_equal(state_count(nf->state), 0);        /* Stateless. */
    nf_destroy(nf);

    struct nf_param bad = { "rule", "allow,port=5" };
    char *err = NULL;
    assert_int_equal(nf_create("firewall", &bad, 1, &nf, &err), EINVAL);
    assert_non_null(strstr(err, "port"));
    free(err);
}

static void
test_gen_writes_n_bytes(void **state)
{
    static const char *const args[] = { "state_size=100", NULL };
    struct nf *nf = make("gen", args);
    struct frame f;
    struct buf b = BUF_INITIALIZER;

    udp_frame(&f, CLIENT_IP, 1000, SERVER_IP, 80, "x", 1);
    assert_int_equal(run(nf, &f), NF_FORWARD);
    assert_int_equal(state_count(nf->state), 1);
    assert_int_equal(state_bytes(nf->state), 5 + 100);

    uint64_t mark = state_mark(nf->state);
    uint8_t before[STATE_DIGEST_LEN], after[STATE_DIGEST_LEN];
    state_digest(nf->state, before);
    assert_int_equal(run(nf, &f), NF_FORWARD);
    state_digest(nf->state, after);
    assert_memory_not_equal(before, after, sizeof before);
    state_export_since(nf->state, mark, &b);
    assert_int_equal(b.len, 28 + 8 + 5 + 100);     /* Header, one record of 100 bytes. */
    buf_uninit(&b);
    nf_destroy(nf);
}

static void
test_fwd(void **state)
{
    static const char *const args[] = { "state_size=32", "iterations=5000", NULL };
    struct nf *a = make("fwd", args), *b = make("fwd", args);
    struct frame f, copy;
    uint8_t da[STATE_DIGEST_LEN], db[STATE_DIGEST_LEN];

    udp_frame(&f, CLIENT_IP, 1000, SERVER_IP, 80, "some bytes", 10);
    copy = f;
    assert_int_equal(run(a, &f), NF_FORWARD);
    assert_int_equal(f.len, copy.len);
    assert_memory_equal(f.data, copy.data, f.len);
    assert_int_equal(run(b, &f), NF_FORWARD);
    state_digest(a->state, da);
    state_digest(b->state, db);
    assert_memory_equal(da, db, sizeof da);     /* Deterministic work. */
    assert_int_equal(nf_fwd_iterations(a), 5000);

    static const char *const work[] = { "work=5us", NULL };
    struct nf *c = make("fwd", work);
    assert_true(nf_fwd_iterations(c) > 0);
    nf_destroy(a);
    nf_destroy(b);
    nf_destroy(c);
}

/* forwarder_state: per packet, NHAM's VNF's work (ft_forwarder_absorb()) on the frame the
 * function sees, so that NHAM's baseline runs the same VNF. */
static void
test_fwd_forwarder_state(void **state)
{
    static const char *const args[] = { "forwarder_state=4K", NULL };
    struct nf *a = make("fwd", args), *b = make("fwd", args), *plain = make("fwd", NULL);
    struct ft_forwarder want = { .state = calloc(4096, 1), .state_len = 4096 };
    struct frame f1, f2, copy;
    uint64_t count, digest, count_b, digest_b;

    udp_frame(&f1, CLIENT_IP, 1000, SERVER_IP, 80, "some bytes", 10);
    udp_frame(&f2, CLIENT_IP, 1000, SERVER_IP, 80, "other bytes", 11);
    copy = f1;
    assert_int_equal(run(a, &f1), NF_FORWARD);
    assert_memory_equal(f1.data, copy.data, copy.len);     /* Forwarded unchanged. */
    ft_forwarder_absorb(&want, f1.data, f1.len);
    assert_int_equal(run(a, &f2), NF_FORWARD);
    ft_forwarder_absorb(&want, f2.data, f2.len);
    nf_fwd_forwarder(a, &count, &digest);
    assert_int_equal(count, 2);
    assert_int_equal(digest, want.digest);
    /* Every byte, in order: the same packets the other way round give another digest. */
    assert_int_equal(run(b, &f2), NF_FORWARD);
    assert_int_equal(run(b, &f1), NF_FORWARD);
    nf_fwd_forwarder(b, &count_b, &digest_b);
    assert_int_equal(count_b, 2);
    assert_true(digest_b != digest);
    nf_fwd_forwarder(plain, &count, &digest);
    assert_int_equal(count, 0);                             /* Off by default. */
    free(want.state);
    nf_destroy(a);
    nf_destroy(b);
    nf_destroy(plain);
}

static void
test_replica_digest_equality(void **state)
{
    /* The same packets through two instances, or through one and an import, agree. */
    static const char *const args[] = { "sharing=16", NULL };
    struct nf *a = make("monitor", args), *b = make("monitor", args);
    struct nf *c = make("monitor", args);
    struct frame f;
    uint8_t da[STATE_DIGEST_LEN], db[STATE_DIGEST_LEN], dc[STATE_DIGEST_LEN];
    struct buf out = BUF_INITIALIZER;

    for (int i = 0; i < 200; i++) {
        udp_frame(&f, CLIENT_IP + i % 7, 1000 + i % 13, SERVER_IP, 80, "p", 1);
        run(a, &f);
        run(b, &f);
    }
    state_export(a->state, &out);
    assert_int_equal(state_import(c->state, out.data, out.len), 0);
    state_digest(a->state, da);
    state_digest(b->state, db);
    state_digest(c->state, dc);
    assert_memory_equal(da, db, sizeof da);
    assert_memory_equal(da, dc, sizeof da);
    buf_uninit(&out);
    nf_destroy(a);
    nf_destroy(b);
    nf_destroy(c);
}

static enum nf_verdict
run_at(struct nf *nf, struct frame *f, uint64_t now)
{
    struct nf_packet pkt = { .data = f->data, .len = f->len, .cap = sizeof f->data,
                             .now_ns = now };
    enum nf_verdict v = nf_process(nf, &pkt);

    f->len = pkt.len;
    return v;
}

/* nat with a timeout: an idle mapping expires and the flow gets another port (random
 * allocation); the clock is read through the determinant interface. */
static void
test_nat_expiry_and_random_ports(void **state)
{
    static const char *const args[] = { "external=192.0.2.1", "ports=30000-39999",
                                        "alloc=random", "timeout=1s", NULL };
    struct nf *nf = make("nat", args);
    struct frame f;

    ft_rng_init(&nf->det.rng, 42);
    udp_frame(&f, CLIENT_IP, 5555, SERVER_IP, 53, "q", 1);
    assert_int_equal(run_at(nf, &f, 1000000000), NF_FORWARD);
    uint16_t ext = ntohs(check_frame(&f).flow.src_port);
    udp_frame(&f, CLIENT_IP, 5555, SERVER_IP, 53, "q", 1);
    assert_int_equal(run_at(nf, &f, 1500000000), NF_FORWARD);
    assert_int_equal(ntohs(check_frame(&f).flow.src_port), ext);
    /* Idle 3 s: the reply to the old port is dropped, the flow gets a new port. */
    udp_frame(&f, SERVER_IP, 53, 0xc0000201, ext, "r", 1);
    assert_int_equal(run_at(nf, &f, 4500000000ull), NF_DROP);
    udp_frame(&f, CLIENT_IP, 5555, SERVER_IP, 53, "q", 1);
    assert_int_equal(run_at(nf, &f, 4600000000ull), NF_FORWARD);
    assert_int_not_equal(ntohs(check_frame(&f).flow.src_port), ext);
    nf_destroy(nf);
}

/* FTvNF's contract: a slave replaying its master's determinants reaches the master's state
 * whatever its own clock and generator; without them (the broken slave) it does not. */
static void
det_master_slave(const char *fn, const char *const *args)
{
    struct nf *master = make(fn, args), *slave = make(fn, args), *broken = make(fn, args);
    uint8_t dm[STATE_DIGEST_LEN], ds[STATE_DIGEST_LEN], db[STATE_DIGEST_LEN];

    ft_rng_init(&master->det.rng, 1);
    ft_rng_init(&slave->det.rng, 2);
    ft_rng_init(&broken->det.rng, 3);
    nf_det_set_mode(&master->det, NF_DET_RECORD);
    nf_det_set_mode(&slave->det, NF_DET_REPLAY);
    for (int i = 0; i < 50; i++) {
        struct frame f, g, h;
        struct buf wire = BUF_INITIALIZER;
        struct nf_pad *pads;
        size_t n_pads;

        udp_frame(&f, CLIENT_IP + i % 7, 4000 + i % 3, SERVER_IP, 53, "q", 1);
        g = f;
        h = f;
        nf_det_begin(&master->det, NULL, 0);
        run_at(master, &f, 1000000 * (uint64_t) i);
        /* The PADs cross the wire, as they do to the D&P logger. */
        nf_pads_put(&wire, master->det.log, master->det.n_log);
        assert_int_equal(nf_pads_parse(wire.data, wire.len, &pads, &n_pads), wire.len);
        nf_det_begin(&slave->det, pads, n_pads);
        run_at(slave, &g, 7777 + 3 * (uint64_t) i);
        assert_true(nf_det_end_ok(&slave->det));
        assert_memory_equal(f.data, g.data, f.len);
        run_at(broken, &h, 7777 + 3 * (uint64_t) i);
        free(pads);
        buf_uninit(&wire);
    }
    state_digest(master->state, dm);
    state_digest(slave->state, ds);
    state_digest(broken->state, db);
    assert_memory_equal(dm, ds, sizeof dm);
    assert_memory_not_equal(dm, db, sizeof dm);
    nf_destroy(master);
    nf_destroy(slave);
    nf_destroy(broken);
}

static void
test_det_replay_nat(void **state)
{
    static const char *const args[] = { "external=192.0.2.1", "alloc=random", "timeout=60s",
                                        NULL };
    det_master_slave("nat", args);
}

static void
test_det_replay_lb(void **state)
{
    static const char *const args[] = {
        "backends=198.51.100.1@02:00:00:00:01:01,198.51.100.2@02:00:00:00:01:02,"
        "198.51.100.3@02:00:00:00:01:03", "choice=random", NULL };
    det_master_slave("lb", args);
}

/* A setter is applied once: a packet replayed twice does not update a shared variable twice,
 * and a getter returns the master's value, not the slave's. */
static void
test_det_setter_once(void **state)
{
    static const char *const args[] = { "external=192.0.2.1", NULL };
    struct nf *master = make("nat", args), *slave = make("nat", args);
    struct nf_pad pads[2];

    nf_det_set_mode(&master->det, NF_DET_RECORD);
    nf_det_begin(&master->det, NULL, 0);
    assert_int_equal(nf_det_get(master, 9, 41), 41);
    assert_true(nf_det_set(master, 9));
    assert_int_equal(master->det.n_log, 2);
    memcpy(pads, master->det.log, sizeof pads);
    assert_int_equal(pads[0].kind, NF_PAD_GET);
    assert_int_equal(pads[1].kind, NF_PAD_SET);
    assert_true(pads[1].seq > pads[0].seq);

    nf_det_set_mode(&slave->det, NF_DET_REPLAY);
    for (int round = 0; round < 2; round++) {
        nf_det_begin(&slave->det, pads, 2);
        assert_int_equal(nf_det_get(slave, 9, 7), 41);
        assert_true(nf_det_set(slave, 9) == (round == 0));
        assert_true(nf_det_end_ok(&slave->det));
    }
    /* A read the master did not make: the replay diverged. */
    nf_det_begin(&slave->det, pads, 2);
    nf_det_clock(slave, &(struct nf_packet) { .now_ns = 5 });
    assert_false(nf_det_end_ok(&slave->det));
    nf_destroy(master);
    nf_destroy(slave);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_dns_answers),
        cmocka_unit_test(test_dns_truncates),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_lb_round_robin),
        cmocka_unit_test(test_nat_translates_and_back),
        cmocka_unit_test(test_monitor_counts),
        cmocka_unit_test(test_firewall),
        cmocka_unit_test(test_gen_writes_n_bytes),
        cmocka_unit_test(test_fwd),
        cmocka_unit_test(test_fwd_forwarder_state),
        cmocka_unit_test(test_replica_digest_equality),
        cmocka_unit_test(test_nat_expiry_and_random_ports),
        cmocka_unit_test(test_det_replay_nat),
        cmocka_unit_test(test_det_replay_lb),
        cmocka_unit_test(test_det_setter_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
