/* firewall — stateless 5-tuple rules, first match wins.
 *
 * Params: rule=ACTION[,proto=udp|tcp|icmp|N][,src=CIDR][,dst=CIDR][,sport=P[-Q]][,dport=P[-Q]]
 * (repeatable, in order; ACTION is allow or deny), default=allow|deny (allow). A rule with a
 * port condition matches only UDP/TCP packets that are not fragments. Frames that are not IPv4
 * get the default; malformed IPv4 is dropped. Keeps no state: its verdict depends on the
 * packet alone (the per-rule hit counts live in the instance, not the state). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "vnfs/lib/packet.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf-provider.h"

struct fw_rule {
    bool allow;
    int proto;                  /* -1: any. */
    uint32_t src, src_mask;     /* Host byte order. */
    uint32_t dst, dst_mask;
    uint16_t sport_min, sport_max;
    uint16_t dport_min, dport_max;
    bool has_ports;
};

struct fw_conf {
    struct fw_rule *rules;
    size_t n_rules;
    bool default_allow;
};

static bool
parse_cidr(const char *s, uint32_t *addr, uint32_t *mask)
{
    char buf[32];
    const char *slash = strchr(s, '/');
    unsigned int bits = 32;
    uint32_t ip;

    if (strlen(s) >= sizeof buf) {
        return false;
    }
    strcpy(buf, s);
    if (slash) {
        char end;
        buf[slash - s] = '\0';
        if (sscanf(slash + 1, "%u%c", &bits, &end) != 1 || bits > 32) {
            return false;
        }
    }
    if (!packet_parse_ipv4(buf, &ip)) {
        return false;
    }
    *mask = bits ? ~0u << (32 - bits) : 0;
    *addr = ntohl(ip) & *mask;
    return true;
}

static bool
parse_port_range(const char *s, uint16_t *lo, uint16_t *hi)
{
    unsigned int a, b;
    char end;
    int n = sscanf(s, "%u-%u%c", &a, &b, &end);

    if (n == 1 && !strchr(s, '-')) {
        b = a;
    } else if (n != 2) {
        return false;
    }
    if (a > b || b > 65535 || s[0] == '-' || s[0] == '+') {
        return false;
    }
    *lo = a;
    *hi = b;
    return true;
}

static int
parse_rule(const char *value, struct fw_rule *r, char **errp)
{
    char *copy = xstrdup(value), *save = NULL;
    const char *bad_item = "";
    int error = EINVAL;

    memset(r, 0, sizeof *r);
    r->proto = -1;
    r->sport_max = r->dport_max = 65535;
    char *action = strtok_r(copy, ",", &save);
    if (!action || (strcmp(action, "allow") && strcmp(action, "deny"))) {
        *errp = xasprintf("rule: '%s' does not start with allow or deny", value);
        goto out;
    }
    r->allow = !strcmp(action, "allow");
    for (char *item = strtok_r(NULL, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        bad_item = item;
        if (!eq) {
            goto bad;
        }
        *eq = '\0';
        const char *v = eq + 1;
        if (!strcmp(item, "proto")) {
            unsigned int p;
            char end;
            if (!strcmp(v, "udp")) {
                r->proto = IPPROTO_UDP;
            } else if (!strcmp(v, "tcp")) {
                r->proto = IPPROTO_TCP;
            } else if (!strcmp(v, "icmp")) {
                r->proto = IPPROTO_ICMP;
            } else if (sscanf(v, "%u%c", &p, &end) == 1 && p < 256) {
                r->proto = p;
            } else {
                goto bad;
            }
        } else if (!strcmp(item, "src")) {
            if (!parse_cidr(v, &r->src, &r->src_mask)) {
                goto bad;
            }
        } else if (!strcmp(item, "dst")) {
            if (!parse_cidr(v, &r->dst, &r->dst_mask)) {
                goto bad;
            }
        } else if (!strcmp(item, "sport")) {
            if (!parse_port_range(v, &r->sport_min, &r->sport_max)) {
                goto bad;
            }
            r->has_ports = true;
        } else if (!strcmp(item, "dport")) {
            if (!parse_port_range(v, &r->dport_min, &r->dport_max)) {
                goto bad;
            }
            r->has_ports = true;
        } else {
            goto bad;
        }
    }
    error = 0;
    goto out;

bad:
    *errp = xasprintf("rule: bad condition '%s' in '%s' (expected proto=udp|tcp|icmp|N, "
                      "src=CIDR, dst=CIDR, sport=P[-Q], dport=P[-Q])", bad_item, value);
out:
    free(copy);
    return error;
}

static int
firewall_create(const struct nf_param *params, size_t n, struct nf **nfp, char **errp)
{
    static const char *const known[] = { "rule", "default", NULL };
    struct fw_conf *c = xzalloc(sizeof *c);
    int error = nf_params_check(params, n, known, errp);

    c->default_allow = true;
    c->rules = xcalloc(n ? n : 1, sizeof *c->rules);
    for (size_t i = 0; !error && i < n; i++) {
        if (!strcmp(params[i].key, "rule")) {
            error = parse_rule(params[i].value, &c->rules[c->n_rules], errp);
            c->n_rules += !error;
        } else if (!strcmp(params[i].key, "default")) {
            if (strcmp(params[i].value, "allow") && strcmp(params[i].value, "deny")) {
                *errp = xasprintf("default: '%s' (expected allow or deny)", params[i].value);
                error = EINVAL;
            }
            c->default_allow = !strcmp(params[i].value, "allow");
        }
    }
    if (error) {
        free(c->rules);
        free(c);
        return error;
    }
    *nfp = nf_alloc(&nf_firewall_class, c);
    return 0;
}

static void
firewall_destroy(struct nf *nf)
{
    struct fw_conf *c = nf->priv;

    free(c->rules);
    free(c);
    nf_free(nf);
}

static bool
rule_matches(const struct fw_rule *r, const struct packet_info *info)
{
    const struct packet_flow *f = &info->flow;

    if ((r->proto >= 0 && r->proto != f->proto)
        || (ntohl(f->src_ip) & r->src_mask) != r->src
        || (ntohl(f->dst_ip) & r->dst_mask) != r->dst) {
        return false;
    }
    if (r->has_ports) {
        if (!info->has_ports) {
            return false;
        }
        uint16_t sport = ntohs(f->src_port), dport = ntohs(f->dst_port);
        if (sport < r->sport_min || sport > r->sport_max
            || dport < r->dport_min || dport > r->dport_max) {
            return false;
        }
    }
    return true;
}

static enum nf_verdict
firewall_process(struct nf *nf, struct nf_packet *pkt)
{
    const struct fw_conf *c = nf->priv;
    struct packet_info info;
    int error = packet_parse(pkt->data, pkt->len, &info);

    if (error == EPROTONOSUPPORT) {
        return c->default_allow ? NF_FORWARD : NF_DROP;
    } else if (error) {
        return NF_DROP;
    }
    for (size_t i = 0; i < c->n_rules; i++) {
        if (rule_matches(&c->rules[i], &info)) {
            return c->rules[i].allow ? NF_FORWARD : NF_DROP;
        }
    }
    return c->default_allow ? NF_FORWARD : NF_DROP;
}

const struct nf_class nf_firewall_class = {
    .name = "firewall",
    .create = firewall_create,
    .destroy = firewall_destroy,
    .process = firewall_process,
};
