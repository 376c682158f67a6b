/* ftudp — the `sfcd ft` role: runs one protocol core of a fault-tolerance scheme
 * (vnfs/ft/core.h) over the adapter's own UDP header (vnfs/ft/adapter.h), where ftstage.c runs
 * one on the NSH path: `sfcd ft --core voter --self 4 --peer 1=10.0.1.2:7000 ... --group 1,2,3`.
 * The control socket adds peer_down/peer_up (failure notices from a manager or a test, since
 * the adapter has no failure detector) and export_state (base64) to the common stats. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "vnfs/lib/loop.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/adapter.h"
#include "vnfs/sfc/role.h"
#include "vnfs/sfc/roles.h"

#define FTUDP_MAX_IDS 64

struct ftudp {
    struct role role;
    struct ft_adapter *adapter;
};

struct ftudp_ids {
    uint32_t v[FTUDP_MAX_IDS];
    size_t n;
};

static void
usage(void)
{
    printf("usage: sfcd ft --core NAME --self ID --peer ID=IP:PORT... [OPTION...]\n"
           "  --core NAME         protocol core class (see --list)\n"
           "  --self ID           this endpoint's id (its --peer entry is the bound address)\n"
           "  --peer ID=IP:PORT   an endpoint's address (repeat; include self)\n"
           "  --endpoints FILE    addresses from a file: one ID=IP:PORT a line, # comments\n"
           "  --group ID,ID,...   the core's replication group\n"
           "  --next ID,...       downstream endpoints\n"
           "  --peers ID,...      other endpoints the core talks to\n"
           "  --f N               fault bound (default 0)\n"
           "  --param KEY=VALUE   core parameter (repeat)\n"
           "  --deliver IP:PORT|FILE  local consumer: raw UDP datagrams, or lines\n"
           "                      'deliver LEN HEX' appended to FILE\n"
           "  --seed N            seed of the core's generator (default: from the clock)\n"
           "  --incarnation N     restarts so far (FT_EV_START)\n"
           "  --byzantine corrupt flip one byte of every outgoing packet (fault tests)\n"
           "  --journal FILE      append every datagram to FILE before the core sees it, and\n"
           "                      rebuild the core from FILE at start (FTvNF's loggers)\n"
           "  --journal-sync always|none  fdatasync each record first (default always)\n"
           "  --list              list core classes\n"
           "The adapter trusts the source address of each datagram as its sender's identity.\n"
           ROLE_COMMON_USAGE);
}

static void
print_class(const struct ft_core_class *class, void *aux)
{
    printf("%-16s %s\n", class->name, class->summary);
}

static int
parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    unsigned long long v;
    char *end;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (!*s || *end || errno || v > max || *s == '-' || *s == '+') {
        return EINVAL;
    }
    *out = v;
    return 0;
}

static int
parse_ids(const char *opt, const char *s, struct ftudp_ids *ids)
{
    char *copy = xstrdup(s), *save = NULL;
    int error = 0;

    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (ids->n >= FTUDP_MAX_IDS) {
            fprintf(stderr, "sfcd ft: %s: at most %d ids\n", opt, FTUDP_MAX_IDS);
            error = EINVAL;
            goto out;
        }
        if (parse_u32(tok, FT_ENDPOINT_NONE - 1, &ids->v[ids->n])) {
            fprintf(stderr, "sfcd ft: %s: '%s' is not an endpoint id\n", opt, tok);
            error = EINVAL;
            goto out;
        }
        ids->n++;
    }
out:
    free(copy);
    return error;
}

static int
ctl_notify(void *role_, json_t *params, json_t **result, char **errmsg,
           enum ft_event_kind kind)
{
    struct ftudp *fc = ((struct role *) role_)->aux;
    json_int_t v;
    int error;

    error = role_param_index(params, "peer", FT_ENDPOINT_NONE,
                             "expected {\"peer\": ENDPOINT_ID}", &v, errmsg);
    if (error) {
        return error;
    }
    error = ft_adapter_notify(fc->adapter, kind, v);
    if (!error) {
        *result = json_true();
    }
    return error;
}

static int
ctl_peer_down(void *role, json_t *params, json_t **result, char **errmsg)
{
    return ctl_notify(role, params, result, errmsg, FT_EV_PEER_DOWN);
}

static int
ctl_peer_up(void *role, json_t *params, json_t **result, char **errmsg)
{
    return ctl_notify(role, params, result, errmsg, FT_EV_PEER_UP);
}

static int
ctl_export_state(void *role_, json_t *params, json_t **result, char **errmsg)
{
    struct ftudp *fc = ((struct role *) role_)->aux;
    struct buf image = BUF_INITIALIZER;
    char *b64;
    int error;

    error = ft_adapter_export_state(fc->adapter, &image);
    if (!error) {
        b64 = rpc_base64_encode(image.data, image.len);
        *result = json_pack("{s:s}", "state", b64);
        free(b64);
    }
    buf_uninit(&image);
    return error;
}

static void
add_counters(struct ftudp *fc)
{
    const struct ft_adapter_stats *s = ft_adapter_stats(fc->adapter);
    static const char *const drop_names[FT_DROP_N_REASONS] = {
        "drop_malformed", "drop_unknown_sender", "drop_duplicate", "drop_no_quorum",
        "drop_stale", "drop_overload", "drop_outvoted",
    };

    role_add_counter(&fc->role, "rx", &s->rx);
    role_add_counter(&fc->role, "rx_malformed", &s->rx_malformed);
    role_add_counter(&fc->role, "rx_unknown_source", &s->rx_unknown_source);
    role_add_counter(&fc->role, "rx_spoofed", &s->rx_spoofed);
    role_add_counter(&fc->role, "tx", &s->tx);
    role_add_counter(&fc->role, "tx_errors", &s->tx_errors);
    role_add_counter(&fc->role, "tx_unknown_dest", &s->tx_unknown_dest);
    role_add_counter(&fc->role, "delivered", &s->delivered);
    role_add_counter(&fc->role, "deliver_errors", &s->deliver_errors);
    role_add_counter(&fc->role, "timers_fired", &s->timers_fired);
    role_add_counter(&fc->role, "suspects", &s->suspects);
    role_add_counter(&fc->role, "notes", &s->notes);
    role_add_counter(&fc->role, "steps", &s->steps);
    role_add_counter(&fc->role, "step_errors", &s->step_errors);
    role_add_counter(&fc->role, "journal_records", &s->journal_records);
    role_add_counter(&fc->role, "journal_replayed", &s->journal_replayed);
    role_add_counter(&fc->role, "journal_errors", &s->journal_errors);
    for (size_t i = 0; i < FT_DROP_N_REASONS; i++) {
        role_add_counter(&fc->role, drop_names[i], &s->drops[i]);
    }
}

static void
add_endpoint(struct ft_endpoint_addr **eps, size_t *n, const struct ft_endpoint_addr *ep)
{
    *eps = xrealloc(*eps, (*n + 1) * sizeof **eps);
    (*eps)[(*n)++] = *ep;
}

/* Reads the endpoint table from 'path': one ID=IP:PORT per line, blank lines and '#' comments
 * ignored. Errors name the file and line. */
static int
read_endpoints(const char *path, struct ft_endpoint_addr **eps, size_t *n)
{
    char *text = NULL, *err = NULL;
    size_t len, lineno = 0;
    int error;

    error = read_file(path, &text, &len);
    if (error) {
        fprintf(stderr, "sfcd ft: --endpoints: %s: %s\n", path, strerror(error));
        goto out;
    }
    for (char *line = text, *next; line; line = next) {
        struct ft_endpoint_addr ep;
        char *hash = NULL, *end;

        next = strchr(line, '\n');
        if (next) {
            *next++ = '\0';
        }
        lineno++;
        hash = strchr(line, '#');
        if (hash) {
            *hash = '\0';
        }
        line += strspn(line, " \t\r");
        end = line + strlen(line);
        while (end > line && strchr(" \t\r", end[-1])) {
            *--end = '\0';
        }
        if (!*line) {
            continue;
        }
        if (ft_endpoint_parse(line, &ep, &err)) {
            fprintf(stderr, "%s:%zu: %s\n", path, lineno, err);
            error = EINVAL;
            goto out;
        }
        add_endpoint(eps, n, &ep);
    }
out:
    free(err);
    free(text);
    return error;
}

/* "IP:PORT" is a UDP consumer; anything else is a file. */
static int
parse_deliver(const char *s, struct ft_adapter_config *cfg)
{
    struct ft_endpoint_addr ep;
    char *spec = xasprintf("0=%s", s);
    bool is_addr = !ft_endpoint_parse(spec, &ep, NULL);

    free(spec);
    if (is_addr) {
        cfg->deliver = FT_DELIVER_UDP;
        cfg->deliver_addr = ep.addr;
    } else {
        if (!*s) {
            fprintf(stderr, "sfcd ft: --deliver: empty\n");
            return EINVAL;
        }
        cfg->deliver = FT_DELIVER_FILE;
        cfg->deliver_path = s;
    }
    return 0;
}

int
role_ft(int argc, char *argv[])
{
    enum { OPT_CORE = 1, OPT_SELF, OPT_PEER, OPT_GROUP, OPT_NEXT, OPT_PEERS, OPT_F, OPT_PARAM,
           OPT_DELIVER, OPT_SEED, OPT_INCARNATION, OPT_BYZANTINE, OPT_LIST,
           OPT_ENDPOINTS, OPT_JOURNAL, OPT_JOURNAL_SYNC };
    static const struct option options[] = {
        { "core", required_argument, NULL, OPT_CORE },
        { "self", required_argument, NULL, OPT_SELF },
        { "peer", required_argument, NULL, OPT_PEER },
        { "group", required_argument, NULL, OPT_GROUP },
        { "next", required_argument, NULL, OPT_NEXT },
        { "peers", required_argument, NULL, OPT_PEERS },
        { "f", required_argument, NULL, OPT_F },
        { "param", required_argument, NULL, OPT_PARAM },
        { "deliver", required_argument, NULL, OPT_DELIVER },
        { "seed", required_argument, NULL, OPT_SEED },
        { "incarnation", required_argument, NULL, OPT_INCARNATION },
        { "byzantine", required_argument, NULL, OPT_BYZANTINE },
        { "list", no_argument, NULL, OPT_LIST },
        { "endpoints", required_argument, NULL, OPT_ENDPOINTS },
        { "journal", required_argument, NULL, OPT_JOURNAL },
        { "journal-sync", required_argument, NULL, OPT_JOURNAL_SYNC },
        { "help", no_argument, NULL, 'h' },
        ROLE_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    struct ft_adapter_config cfg;
    struct ftudp_ids group = { .n = 0 }, next = { .n = 0 }, peers = { .n = 0 };
    struct ft_endpoint_addr *eps = NULL;
    struct ft_param *params = NULL;
    size_t n_eps = 0, n_params = 0;
    const char *core_name = NULL;
    bool self_set = false, journal_sync_none = false;
    uint64_t seed = time_mono_ns() ^ ((uint64_t) getpid() << 32);
    int opt, error, rc = 2;
    struct ftudp fc;
    char *err = NULL, *end;

    memset(&fc, 0, sizeof fc);
    memset(&cfg, 0, sizeof cfg);
    role_init_common(&fc.role, "ft");
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_CORE:
            core_name = optarg;
            break;
        case OPT_SELF:
            if (parse_u32(optarg, FT_ENDPOINT_NONE - 1, &cfg.core.self)) {
                fprintf(stderr, "sfcd ft: --self: '%s' is not an endpoint id\n", optarg);
                goto out;
            }
            self_set = true;
            break;
        case OPT_PEER: {
            struct ft_endpoint_addr ep;
            if (ft_endpoint_parse(optarg, &ep, &err)) {
                fprintf(stderr, "sfcd ft: --peer: %s\n", err);
                goto out;
            }
            add_endpoint(&eps, &n_eps, &ep);
            break;
        }
        case OPT_ENDPOINTS:
            if (read_endpoints(optarg, &eps, &n_eps)) {
                goto out;
            }
            break;
        case OPT_GROUP:
        case OPT_NEXT:
        case OPT_PEERS:
            if (parse_ids(opt == OPT_GROUP ? "--group" : opt == OPT_NEXT ? "--next" : "--peers",
                          optarg,
                          opt == OPT_GROUP ? &group : opt == OPT_NEXT ? &next : &peers)) {
                goto out;
            }
            break;
        case OPT_F:
            if (parse_u32(optarg, 1000, &cfg.core.f)) {
                fprintf(stderr, "sfcd ft: --f: '%s' is not a fault bound\n", optarg);
                goto out;
            }
            break;
        case OPT_PARAM: {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "sfcd ft: --param: '%s' is not KEY=VALUE\n", optarg);
                goto out;
            }
            *eq = '\0';
            params = xrealloc(params, (n_params + 1) * sizeof *params);
            params[n_params].key = optarg;
            params[n_params].value = eq + 1;
            n_params++;
            break;
        }
        case OPT_DELIVER:
            if (parse_deliver(optarg, &cfg)) {
                goto out;
            }
            break;
        case OPT_SEED:
            errno = 0;
            seed = strtoull(optarg, &end, 0);
            if (!*optarg || *end || errno) {
                fprintf(stderr, "sfcd ft: --seed: '%s' is not a number\n", optarg);
                goto out;
            }
            break;
        case OPT_INCARNATION:
            if (parse_u32(optarg, UINT32_MAX, &cfg.incarnation)) {
                fprintf(stderr, "sfcd ft: --incarnation: '%s' is not a number\n", optarg);
                goto out;
            }
            break;
        case OPT_JOURNAL:
            cfg.journal_path = optarg;
            cfg.journal_sync = true;
            break;
        case OPT_JOURNAL_SYNC:
            if (strcmp(optarg, "always") && strcmp(optarg, "none")) {
                fprintf(stderr, "sfcd ft: --journal-sync: '%s' (expected: always or none)\n",
                        optarg);
                goto out;
            }
            journal_sync_none = !strcmp(optarg, "none");
            break;
        case OPT_BYZANTINE:
            if (strcmp(optarg, "corrupt")) {
                fprintf(stderr, "sfcd ft: --byzantine: '%s' (expected: corrupt)\n", optarg);
                goto out;
            }
            cfg.byzantine_corrupt = true;
            break;
        case OPT_LIST:
            ft_core_class_for_each(print_class, NULL);
            rc = 0;
            goto out;
        case 'h':
            usage();
            rc = 0;
            goto out;
        default:
            error = role_parse_common(&fc.role, opt, optarg);
            if (error == ENOENT) {
                usage();
            }
            if (error) {
                goto out;
            }
        }
    }
    if (optind != argc || !core_name || !self_set) {
        fprintf(stderr, "sfcd ft: --core and --self are required (see --help)\n");
        goto out;
    }
    cfg.class = ft_core_class_find(core_name);
    if (!cfg.class) {
        fprintf(stderr, "sfcd ft: --core: no core class '%s' (see --list)\n", core_name);
        goto out;
    }
    cfg.core.group = group.v;
    cfg.core.n_group = group.n;
    cfg.core.next = next.v;
    cfg.core.n_next = next.n;
    cfg.core.peers = peers.v;
    cfg.core.n_peers = peers.n;
    cfg.core.params = params;
    cfg.core.n_params = n_params;
    ft_rng_init(&cfg.core.rng, seed);
    cfg.endpoints = eps;
    cfg.n_endpoints = n_eps;

    rc = 1;
    fc.role.aux = &fc;
    role_add_method(&fc.role, "peer_down", ctl_peer_down);
    role_add_method(&fc.role, "peer_up", ctl_peer_up);
    role_add_method(&fc.role, "export_state", ctl_export_state);
    error = role_start(&fc.role);
    if (error) {
        log_err("cannot start: %s", strerror(error));
        goto out;
    }
    if (journal_sync_none) {
        cfg.journal_sync = false;
    }
    error = ft_adapter_create(fc.role.loop, &cfg, &fc.adapter, &err);
    if (error) {
        log_err("%s", err ? err : strerror(error));
        rc = error == EINVAL ? 2 : 1;
        goto out;
    }
    add_counters(&fc);
    log_info("core %s as endpoint %"PRIu32" on port %u (incarnation %"PRIu32")",
             cfg.class->name, cfg.core.self, ft_adapter_port(fc.adapter), cfg.incarnation);
    error = ft_adapter_start(fc.adapter);
    if (error) {
        goto out;
    }
    rc = role_run(&fc.role);
out:
    ft_adapter_destroy(fc.adapter);     /* Before the loop it is watched by. */
    role_finish(&fc.role);
    free(eps);
    free(params);
    free(err);
    return rc;
}
