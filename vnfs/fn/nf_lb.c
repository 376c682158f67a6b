/* lb — load balancer over backends, round-robin or random choice.
 *
 * Params: backends=IP@MAC[,IP@MAC...] (required), choice=roundrobin|random (roundrobin),
 * answer=0|1 (0). With answer=1 the function ends the chain itself: it picks the backend as
 * usual, then turns the UDP/TCP packet around (NF_REPLY, payload untouched) with the chosen
 * backend as its source address, so the answer says which backend a request got. That is how
 * FIT-SFC's Figure 7 chain (one lb VNF) answers its client through the replicated return path:
 * replicas that disagree on the rotation disagree on the answer, and are outvoted.
 * Every IPv4 packet goes to the next backend, or to one drawn at random: destination IP and
 * MAC rewritten (checksums updated incrementally). The round-robin position is one global
 * counter in the state ("lb.next"), a variable every packet shares, so replicas that share the
 * state share the rotation; per-backend packet counters "lb.backend.<i>". Both the random
 * draw and the shared position are read through the determinant interface (vnfs/fn/det.h):
 * FTvNF's slaves replay exactly the choices their master made. Non-IPv4 frames are forwarded
 * unchanged; malformed IPv4 is dropped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/packet.h"
#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf-provider.h"

struct lb_backend {
    uint32_t ip;                /* Network byte order. */
    uint8_t mac[ETH_ADDR_LEN];
};

struct lb_conf {
    struct lb_backend *backends;
    size_t n_backends;
    bool random;                /* choice=random */
    bool answer;                /* answer=1 */
};

/* Determinant variable ids. */
enum {
    LB_VAR_NEXT = 1,
    LB_VAR_RANDOM = 2,
};

static int
lb_create(const struct nf_param *params, size_t n, struct nf **nfp, char **errp)
{
    static const char *const known[] = { "backends", "choice", "answer", NULL };
    struct lb_conf *c = xzalloc(sizeof *c);
    char *copy = NULL, *save = NULL;
    size_t allocated = 0;
    int error = nf_params_check(params, n, known, errp);

    if (error) {
        goto out;
    }
    const char *value = nf_param_find(params, n, "backends");
    if (!value) {
        *errp = xasprintf("backends: missing (expected backends=IP@MAC[,IP@MAC...])");
        error = EINVAL;
        goto out;
    }
    const char *choice = nf_param_find(params, n, "choice");
    if (choice && strcmp(choice, "roundrobin") && strcmp(choice, "random")) {
        *errp = xasprintf("choice: '%s' (expected roundrobin or random)", choice);
        error = EINVAL;
        goto out;
    }
    c->random = choice && !strcmp(choice, "random");
    const char *answer = nf_param_find(params, n, "answer");
    if (answer && strcmp(answer, "0") && strcmp(answer, "1")) {
        *errp = xasprintf("answer: '%s' (expected 0 or 1)", answer);
        error = EINVAL;
        goto out;
    }
    c->answer = answer && !strcmp(answer, "1");
    copy = xstrdup(value);
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *at = strchr(item, '@');
        struct lb_backend b;
        if (at) {
            *at = '\0';
        }
        if (!at || !packet_parse_ipv4(item, &b.ip) || !packet_parse_mac(at + 1, b.mac)) {
            *errp = xasprintf("backends: '%s%s%s' is not IP@MAC", item, at ? "@" : "",
                              at ? at + 1 : "");
            error = EINVAL;
            goto out;
        }
        if (c->n_backends >= allocated) {
            c->backends = x2nrealloc(c->backends, &allocated, sizeof *c->backends);
        }
        c->backends[c->n_backends++] = b;
    }
    if (!c->n_backends) {
        *errp = xasprintf("backends: empty list");
        error = EINVAL;
        goto out;
    }
    *nfp = nf_alloc(&nf_lb_class, c);
    c = NULL;
out:
    if (c) {
        free(c->backends);
        free(c);
    }
    free(copy);
    return error;
}

static void
lb_destroy(struct nf *nf)
{
    struct lb_conf *c = nf->priv;

    free(c->backends);
    free(c);
    nf_free(nf);
}

static enum nf_verdict
lb_process(struct nf *nf, struct nf_packet *pkt)
{
    const struct lb_conf *c = nf->priv;
    struct packet_info info;
    int error = packet_parse(pkt->data, pkt->len, &info);

    if (error == EPROTONOSUPPORT) {
        return NF_FORWARD;
    } else if (error) {
        return NF_DROP;
    }
    size_t i;
    if (c->random) {
        i = nf_det_random(nf, LB_VAR_RANDOM, c->n_backends);
    } else {
        uint64_t live = state_counter_get(nf->state, "lb.next", 7);
        uint64_t turn = nf_det_get(nf, LB_VAR_NEXT, live);
        if (nf_det_set(nf, LB_VAR_NEXT)) {
            state_counter_add(nf->state, "lb.next", 7, turn + 1 - live);
        }
        i = turn % c->n_backends;
    }
    char key[32];
    int key_len = snprintf(key, sizeof key, "lb.backend.%zu", i);
    state_counter_add(nf->state, key, key_len, 1);

    if (c->answer && info.has_ports) {
        packet_swap_endpoints(pkt->data, &info);
        packet_set_ipv4(pkt->data, &info, false, c->backends[i].ip);
        packet_set_eth(pkt->data, false, c->backends[i].mac);
        return NF_REPLY;
    }
    packet_set_ipv4(pkt->data, &info, true, c->backends[i].ip);
    packet_set_eth(pkt->data, true, c->backends[i].mac);
    return NF_FORWARD;
}

const struct nf_class nf_lb_class = {
    .name = "lb",
    .consistency = NF_GLOBAL,
    .create = lb_create,
    .destroy = lb_destroy,
    .process = lb_process,
};
