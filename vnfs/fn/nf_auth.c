/* auth — per-flow token check in front of dns.
 *
 * Params: key=PASSPHRASE | key=hex:64HEX (required), port=N (53). A UDP packet of a flow
 * already accepted is forwarded. Otherwise it must be a DNS query to 'port' carrying the
 * flow's token (vnfs/fn/auth.h) in its EDNS0 token option: then the flow is accepted (kept in
 * the state, so a replica that imports it lets the flow through too) and the packet
 * forwarded. Everything else is dropped: no token, a wrong token, other protocols, malformed
 * frames. State: one entry per accepted flow ("A" + 5-tuple -> packets seen, u64), counters
 * auth.accepted and auth.denied. */
#include "vnfs/fn/auth.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "vnfs/lib/dns.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf-provider.h"

int
auth_key_from_string(const char *s, uint8_t key[AUTH_KEY_LEN])
{
    if (!*s) {
        return EINVAL;
    }
    if (sodium_init() < 0) {
        sfc_abort("libsodium failed to initialise");
    }
    if (!strncmp(s, "hex:", 4)) {
        size_t bin_len;
        const char *end;
        uint8_t k[AUTH_KEY_LEN];
        if (strlen(s + 4) != 2 * AUTH_KEY_LEN
            || sodium_hex2bin(k, sizeof k, s + 4, strlen(s + 4), NULL, &bin_len, &end)
            || bin_len != AUTH_KEY_LEN || *end) {
            return EINVAL;
        }
        memcpy(key, k, AUTH_KEY_LEN);
        return 0;
    }
    crypto_generichash(key, AUTH_KEY_LEN, (const uint8_t *) s, strlen(s), NULL, 0);
    return 0;
}

void
auth_token(const uint8_t key[AUTH_KEY_LEN], const struct packet_flow *flow,
           uint8_t token[AUTH_TOKEN_LEN])
{
    uint8_t mac[crypto_auth_hmacsha256_BYTES];

    crypto_auth_hmacsha256(mac, (const uint8_t *) flow, sizeof *flow, key);
    memcpy(token, mac, AUTH_TOKEN_LEN);
}

bool
auth_token_ok(const uint8_t key[AUTH_KEY_LEN], const struct packet_flow *flow,
              const uint8_t *token, size_t token_len)
{
    uint8_t expected[AUTH_TOKEN_LEN];

    if (!token || token_len != AUTH_TOKEN_LEN) {
        return false;
    }
    auth_token(key, flow, expected);
    return !sodium_memcmp(expected, token, AUTH_TOKEN_LEN);
}

struct auth_conf {
    uint8_t key[AUTH_KEY_LEN];
    uint16_t port;
};

static int
auth_create(const struct nf_param *params, size_t n, struct nf **nfp, char **errp)
{
    static const char *const known[] = { "key", "port", NULL };
    struct auth_conf *c = xzalloc(sizeof *c);
    uint64_t port = DNS_PORT;
    int error = nf_params_check(params, n, known, errp);

    if (!error) {
        error = nf_param_uint(params, n, "port", 1, 65535, &port, errp);
    }
    if (!error) {
        const char *key = nf_param_find(params, n, "key");
        if (!key || auth_key_from_string(key, c->key)) {
            *errp = xasprintf("key: %s (expected key=PASSPHRASE or key=hex:<64 hex digits>)",
                              key ? "malformed" : "missing");
            error = EINVAL;
        }
    }
    if (error) {
        sodium_memzero(c, sizeof *c);
        free(c);
        return error;
    }
    c->port = port;
    *nfp = nf_alloc(&nf_auth_class, c);
    return 0;
}

static void
auth_destroy(struct nf *nf)
{
    sodium_memzero(nf->priv, sizeof(struct auth_conf));
    free(nf->priv);
    nf_free(nf);
}

static enum nf_verdict
auth_process(struct nf *nf, struct nf_packet *pkt)
{
    const struct auth_conf *c = nf->priv;
    struct packet_info info;
    struct dns_query q;
    uint8_t key[1 + sizeof info.flow];

    if (packet_parse(pkt->data, pkt->len, &info) || !info.has_ports
        || info.flow.proto != IPPROTO_UDP) {
        goto deny;
    }
    key[0] = 'A';
    memcpy(key + 1, &info.flow, sizeof info.flow);
    if (state_counter_get(nf->state, key, sizeof key)) {
        state_counter_add(nf->state, key, sizeof key, 1);
        return NF_FORWARD;
    }
    if (ntohs(info.flow.dst_port) != c->port
        || dns_parse_query(pkt->data + info.l7_ofs, info.l7_len, &q)
        || !auth_token_ok(c->key, &info.flow, q.token, q.token_len)) {
        goto deny;
    }
    if (state_counter_add(nf->state, key, sizeof key, 1) != 1) {
        goto deny;              /* The flow table is full. */
    }
    state_counter_add(nf->state, "auth.accepted", 13, 1);
    return NF_FORWARD;

deny:
    state_counter_add(nf->state, "auth.denied", 11, 1);
    return NF_DROP;
}

const struct nf_class nf_auth_class = {
    .name = "auth",
    .consistency = NF_PER_FLOW,
    .create = auth_create,
    .destroy = auth_destroy,
    .process = auth_process,
};
