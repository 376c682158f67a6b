#include "testbed/model/topology.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/infra/cgroup.h"
#include "testbed/infra/provider.h"
#include "testbed/model/yaml.h"
#include "vnfs/lib/buf.h"

#define TOPO_DEFAULT_PROVIDER GUEST_PROVIDER_DEFAULT
#define TOPO_DEFAULT_MGMT "10.254.0.0/16"
#define TOPO_DEFAULT_CPUS 1.0
#define TOPO_DEFAULT_MEMORY (256ull << 20)
#define TOPO_MIN_MEMORY (16ull << 20)
#define TOPO_MAX_CPUS 64.0
#define TOPO_MGMT_BRIDGE "mgmt"

static const char *const topology_keys[] = {
    "name", "provider", "management", "bridges", "guests", "links", "profiles", "pops", "wan",
    NULL
};
static const char *const bridge_keys[] = { "name", NULL };
static const char *const guest_keys[] = {
    "name", "provider", "cpus", "period", "memory", NULL
};
static const char *const link_keys[] = {
    "guest", "bridge", "address", IMPAIR_MAP_KEYS, NULL
};

/* One parse in progress. Items whose own fields are wrong are still kept (with what could be
 * read), so a later link naming them does not add a misleading "unknown guest". */
struct topo_parser {
    struct yaml_doc *doc;
    struct topology *topo;
    bool guests_ok;             /* 'guests' was a list: an unknown guest is really unknown. */
    bool bridges_ok;
    bool *link_resolved;        /* Per link: both of its references were found. */
    struct fy_node **link_addr_nodes;   /* Per link: where its address is, for conflicts. */
};

/* Reports a name that is empty, too long or not [a-z0-9][a-z0-9_-]*. */
static bool
check_name(struct topo_parser *p, struct fy_node *node, const char *what, const char *name,
           size_t max)
{
    size_t len = strlen(name);

    if (!len) {
        yaml_error(p->doc, node, "%s name is empty", what);
        return false;
    }
    if (len > max) {
        yaml_error(p->doc, node, "%s name '%s' is too long (%zu characters, at most %zu)",
                   what, name, len, max);
        return false;
    }
    if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789", name[0])
        || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != len) {
        yaml_error(p->doc, node, "%s name '%s' is invalid (use a-z, 0-9, '_' and '-', "
                   "starting with a letter or digit)", what, name);
        return false;
    }
    return true;
}

static bool
check_provider(struct topo_parser *p, struct fy_node *map, const char *provider)
{
    if (guest_provider_find(provider)) {
        return true;
    }
    yaml_error(p->doc, yaml_map_get(map, "provider"),
               "unknown provider '%s' (expected one of: %s)", provider, guest_provider_names());
    return false;
}

static uint32_t
prefix_mask(int prefix_len)
{
    return prefix_len ? 0xffffffffu << (32 - prefix_len) : 0;
}

/* Parses "A.B.C.D/LEN" with 0 <= LEN <= 32 and nothing else around it. */
static bool
parse_ipv4_prefix(const char *s, struct in_addr *addr, int *prefix_len)
{
    const char *slash = strchr(s, '/');
    char host[INET_ADDRSTRLEN];
    size_t host_len, len_digits;
    int len;

    if (!slash) {
        return false;
    }
    host_len = slash - s;
    len_digits = strlen(slash + 1);
    if (!host_len || host_len >= sizeof host || !len_digits || len_digits > 2
        || strspn(slash + 1, "0123456789") != len_digits) {
        return false;
    }
    memcpy(host, s, host_len);
    host[host_len] = '\0';
    len = atoi(slash + 1);
    if (len > 32 || inet_pton(AF_INET, host, addr) != 1) {
        return false;
    }
    *prefix_len = len;
    return true;
}

static void
format_ipv4_prefix(struct buf *b, struct in_addr addr, int prefix_len)
{
    char s[INET_ADDRSTRLEN];

    inet_ntop(AF_INET, &addr, s, sizeof s);
    buf_printf(b, "%s/%d", s, prefix_len);
}

/* Whether two prefixes share addresses: their networks agree under the shorter mask. */
static bool
prefixes_overlap(struct in_addr a, int a_len, struct in_addr b, int b_len)
{
    uint32_t mask = prefix_mask(MIN(a_len, b_len));

    return (ntohl(a.s_addr) & mask) == (ntohl(b.s_addr) & mask);
}

static const char *
ipv4_str(struct in_addr addr, char s[INET_ADDRSTRLEN])
{
    return inet_ntop(AF_INET, &addr, s, INET_ADDRSTRLEN);
}

static void
parse_management(struct topo_parser *p, struct fy_node *root)
{
    struct topology *topo = p->topo;
    struct fy_node *node;
    const char *text = TOPO_DEFAULT_MGMT;
    struct in_addr addr;
    uint32_t host_mask;
    int len;

    if (yaml_get_string(p->doc, root, "management", YAML_OPTIONAL, &text)) {
        return;
    }
    node = yaml_map_get(root, "management");
    if (!parse_ipv4_prefix(text, &addr, &len)) {
        yaml_error(p->doc, node, "'management' must be a subnet such as 10.254.0.0/16, not '%s'",
                   text);
        return;
    }
    if (len < 1 || len > 30) {
        yaml_error(p->doc, node, "management subnet '%s' must have a prefix length of 1 to 30",
                   text);
        return;
    }
    host_mask = ~prefix_mask(len);
    if (ntohl(addr.s_addr) & host_mask) {
        struct buf hint = BUF_INITIALIZER;
        struct in_addr net = { htonl(ntohl(addr.s_addr) & ~host_mask) };

        format_ipv4_prefix(&hint, net, len);
        buf_put_u8(&hint, '\0');
        yaml_error(p->doc, node, "management subnet '%s' has host bits set (did you mean %s?)",
                   text, (char *) hint.data);
        buf_uninit(&hint);
        return;
    }
    topo->mgmt_net = addr;
    topo->mgmt_prefix_len = len;
    topo->orchestrator_addr.s_addr = htonl((ntohl(addr.s_addr) | host_mask) - 1);
}

static void
parse_bridge(struct topo_parser *p, struct fy_node *item, size_t idx)
{
    struct topo_bridge *bridge = &p->topo->bridges[idx];
    const char *name = NULL;
    char what[32];

    yaml_node_loc(p->doc, item, &bridge->loc);
    snprintf(what, sizeof what, "bridge %zu", idx + 1);
    if (!yaml_expect_map(p->doc, item, what)) {
        return;
    }
    yaml_map_check_keys(p->doc, item, bridge_keys);
    if (!yaml_get_string(p->doc, item, "name", YAML_REQUIRED, &name) && name) {
        struct fy_node *node = yaml_map_get(item, "name");

        if (!strcmp(name, TOPO_MGMT_BRIDGE)) {
            yaml_error(p->doc, node, "bridge name '%s' is reserved for the management network",
                       name);
        } else {
            check_name(p, node, "bridge", name, TOPO_NAME_MAX);
        }
        bridge->name = xstrdup(name);
    }
}

static void
parse_guest(struct topo_parser *p, struct fy_node *item, size_t idx)
{
    struct topo_guest *guest = &p->topo->guests[idx];
    const char *name = NULL;
    char what[32];
    const char *provider = p->topo->provider;
    double cpus = TOPO_DEFAULT_CPUS;
    uint64_t memory = TOPO_DEFAULT_MEMORY;

    yaml_node_loc(p->doc, item, &guest->loc);
    guest->cpus = cpus;
    guest->memory = memory;
    snprintf(what, sizeof what, "guest %zu", idx + 1);
    if (!yaml_expect_map(p->doc, item, what)) {
        return;
    }
    yaml_map_check_keys(p->doc, item, guest_keys);
    if (!yaml_get_string(p->doc, item, "name", YAML_REQUIRED, &name) && name) {
        check_name(p, yaml_map_get(item, "name"), "guest", name, TOPO_NAME_MAX);
        guest->name = xstrdup(name);
    }
    if (!yaml_get_string(p->doc, item, "provider", YAML_OPTIONAL, &provider) && provider) {
        if (yaml_map_get(item, "provider")) {
            check_provider(p, item, provider);
        }
        guest->provider = xstrdup(provider);
    }
    if (!yaml_get_number(p->doc, item, "cpus", YAML_OPTIONAL, &cpus)) {
        if (!(cpus > 0 && cpus <= TOPO_MAX_CPUS)) {
            struct fy_node *node = yaml_map_get(item, "cpus");

            yaml_error(p->doc, node, "cpus must be greater than 0 and at most 64, not %s",
                       fy_node_get_scalar0(node));
        }
        guest->cpus = cpus;
    }
    if (!topology_get_period(p->doc, item, "period", &guest->cpu_period_us)) {
        topology_check_quota(p->doc, yaml_map_get(item, yaml_map_get(item, "period") ? "period"
                                                                                   : "cpus"),
                             guest->cpus, guest->cpu_period_us);
    }
    if (!yaml_get_size(p->doc, item, "memory", YAML_OPTIONAL, &memory)) {
        if (memory < TOPO_MIN_MEMORY) {
            struct fy_node *node = yaml_map_get(item, "memory");

            yaml_error(p->doc, node, "memory must be at least 16M, not %s",
                       fy_node_get_scalar0(node));
        }
        guest->memory = memory;
    }
}

/* Checks a link's own address: a unicast host address of its subnet. */
static bool
parse_link_address(struct topo_parser *p, struct fy_node *item, struct topo_link *link)
{
    const char *text = NULL;
    struct fy_node *node;
    struct in_addr addr;
    uint32_t host, host_mask;
    int len;

    if (yaml_get_string(p->doc, item, "address", YAML_OPTIONAL, &text) || !text) {
        return false;
    }
    node = yaml_map_get(item, "address");
    if (!parse_ipv4_prefix(text, &addr, &len)) {
        yaml_error(p->doc, node, "'address' must be an IPv4 address with a prefix length "
                   "such as 10.0.0.1/24, not '%s'", text);
        return false;
    }
    if (len < 1) {
        yaml_error(p->doc, node, "address '%s' has a prefix length of 0 (expected 1 to 32)",
                   text);
        return false;
    }
    host = ntohl(addr.s_addr);
    if ((host >> 24) == 0 || (host >> 24) == 127 || (host >> 24) >= 224) {
        yaml_error(p->doc, node, "address '%s' is not a usable unicast address", text);
        return false;
    }
    host_mask = ~prefix_mask(len);
    if (len <= 30 && !(host & host_mask)) {
        yaml_error(p->doc, node, "address '%s' is the network address of its subnet", text);
        return false;
    }
    if (len <= 30 && (host & host_mask) == host_mask) {
        yaml_error(p->doc, node, "address '%s' is the broadcast address of its subnet", text);
        return false;
    }
    link->has_addr = true;
    link->addr = addr;
    link->prefix_len = len;
    return true;
}

static void
parse_link(struct topo_parser *p, struct fy_node *item, size_t idx)
{
    struct topology *topo = p->topo;
    struct topo_link *link = &topo->links[idx];
    const char *guest = NULL, *bridge = NULL;
    bool resolved;
    char what[32];

    yaml_node_loc(p->doc, item, &link->loc);
    link->guest = link->bridge = SIZE_MAX;
    snprintf(what, sizeof what, "link %zu", idx + 1);
    if (!yaml_expect_map(p->doc, item, what)) {
        return;
    }
    yaml_map_check_keys(p->doc, item, link_keys);

    if (!yaml_get_string(p->doc, item, "guest", YAML_REQUIRED, &guest) && guest) {
        link->guest = topology_find_guest(topo, guest);
        if (link->guest == SIZE_MAX && p->guests_ok) {
            yaml_error(p->doc, yaml_map_get(item, "guest"), "unknown guest '%s'", guest);
        }
    }
    if (!yaml_get_string(p->doc, item, "bridge", YAML_REQUIRED, &bridge) && bridge) {
        link->bridge = topology_find_bridge(topo, bridge);
        if (!strcmp(bridge, TOPO_MGMT_BRIDGE)) {
            yaml_error(p->doc, yaml_map_get(item, "bridge"), "bridge 'mgmt' is the management "
                       "network: every guest joins it without a link");
        } else if (link->bridge == SIZE_MAX && p->bridges_ok) {
            yaml_error(p->doc, yaml_map_get(item, "bridge"), "unknown bridge '%s'", bridge);
        }
    }
    resolved = link->guest != SIZE_MAX && link->bridge != SIZE_MAX;

    if (parse_link_address(p, item, link)) {
        p->link_addr_nodes[idx] = yaml_map_get(item, "address");
    }
    impair_parse(p->doc, item, topo->profiles, topo->n_profiles, &link->impair);
    p->link_resolved[idx] = resolved;
}

static void
check_duplicate_names(struct topo_parser *p)
{
    struct topology *topo = p->topo;

    for (size_t i = 0; i < topo->n_bridges; i++) {
        for (size_t j = 0; j < i && topo->bridges[i].name; j++) {
            if (topo->bridges[j].name && !strcmp(topo->bridges[i].name, topo->bridges[j].name)) {
                diag_error(p->doc->diag, &topo->bridges[i].loc,
                           "duplicate bridge name '%s' (first at line %d)",
                           topo->bridges[i].name, topo->bridges[j].loc.line);
                break;
            }
        }
    }
    for (size_t i = 0; i < topo->n_guests; i++) {
        for (size_t j = 0; j < i && topo->guests[i].name; j++) {
            if (topo->guests[j].name && !strcmp(topo->guests[i].name, topo->guests[j].name)) {
                diag_error(p->doc->diag, &topo->guests[i].loc,
                           "duplicate guest name '%s' (first at line %d)",
                           topo->guests[i].name, topo->guests[j].loc.line);
                break;
            }
        }
    }
}

/* Address conflicts need every link resolved first, so they are a pass of their own. */
static void
check_addresses(struct topo_parser *p)
{
    struct topology *topo = p->topo;
    char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

    for (size_t i = 0; i < topo->n_links; i++) {
        const struct topo_link *li = &topo->links[i];
        struct fy_node *node = p->link_addr_nodes[i];

        if (!li->has_addr) {
            continue;
        }
        if (topo->mgmt_prefix_len
            && prefixes_overlap(li->addr, li->prefix_len, topo->mgmt_net, topo->mgmt_prefix_len)) {
            yaml_error(p->doc, node, "address %s/%d overlaps the management subnet %s/%d",
                       ipv4_str(li->addr, a), li->prefix_len, ipv4_str(topo->mgmt_net, b),
                       topo->mgmt_prefix_len);
            continue;
        }
        if (!p->link_resolved[i]) {
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            const struct topo_link *lj = &topo->links[j];

            if (!lj->has_addr || !p->link_resolved[j]) {
                continue;
            }
            if (li->bridge == lj->bridge && li->addr.s_addr == lj->addr.s_addr) {
                yaml_error(p->doc, node, "duplicate address %s on bridge '%s' (also at line %d)",
                           ipv4_str(li->addr, a), topo->bridges[li->bridge].name,
                           lj->loc.line);
                break;
            }
            if (li->guest == lj->guest
                && prefixes_overlap(li->addr, li->prefix_len, lj->addr, lj->prefix_len)) {
                yaml_error(p->doc, node, "guest '%s' already has an address in this subnet "
                           "(%s/%d at line %d)", topo->guests[li->guest].name,
                           ipv4_str(lj->addr, b), lj->prefix_len, lj->loc.line);
                break;
            }
        }
    }
}

/* Guests take .1, .2, ... in file order; the orchestrator the last usable address. */
static void
assign_management_addresses(struct topo_parser *p, struct fy_node *root)
{
    struct topology *topo = p->topo;
    uint64_t usable;

    if (!topo->mgmt_prefix_len) {
        return;                 /* The subnet itself was wrong, and said so. */
    }
    usable = (1ull << (32 - topo->mgmt_prefix_len)) - 2;
    if ((uint64_t) topo->n_guests + 1 > usable) {
        struct fy_node *node = yaml_map_get(root, "management");
        char net[INET_ADDRSTRLEN];

        yaml_error(p->doc, node ? node : yaml_map_get(root, "guests"),
                   "management subnet %s/%d is too small for %zu guests and the orchestrator "
                   "(it has %llu usable addresses)", ipv4_str(topo->mgmt_net, net),
                   topo->mgmt_prefix_len, topo->n_guests, (unsigned long long) usable);
        return;
    }
    for (size_t i = 0; i < topo->n_guests; i++) {
        topo->guests[i].mgmt_addr.s_addr = htonl(ntohl(topo->mgmt_net.s_addr) + i + 1);
    }
}

/* A list section: its items, or none when it is absent, null or not a list (reported). */
static struct fy_node *
get_section(struct topo_parser *p, struct fy_node *root, const char *key, enum yaml_need need,
            bool *okp)
{
    struct fy_node *list = NULL;

    *okp = !yaml_get_list(p->doc, root, key, need, &list);
    return list;
}

int
topology_parse(struct yaml_doc *doc, struct topology **topop)
{
    struct topo_parser p = { .doc = doc };
    struct fy_node *root = doc->root;
    struct fy_node *list, *item;
    struct topology *topo;
    size_t n_before = doc->diag->n;
    const char *s;
    void *iter;
    bool ok;
    size_t i;
    int error = 0;

    topo = p.topo = xzalloc(sizeof *topo);
    topo->file = xstrdup(doc->file);
    topo->provider = xstrdup(TOPO_DEFAULT_PROVIDER);
    if (yaml_node_is_null(root)) {
        yaml_error(doc, NULL, "empty file (a topology needs at least 'name' and 'guests')");
        error = EINVAL;
        goto out;
    }
    if (!yaml_expect_map(doc, root, "the top level of a topology")) {
        error = EINVAL;
        goto out;
    }
    yaml_map_check_keys(doc, root, topology_keys);

    s = NULL;
    if (!yaml_get_string(doc, root, "name", YAML_REQUIRED, &s) && s) {
        check_name(&p, yaml_map_get(root, "name"), "topology", s, TOPO_TOPOLOGY_NAME_MAX);
        topo->name = xstrdup(s);
    }
    s = NULL;
    if (!yaml_get_string(doc, root, "provider", YAML_OPTIONAL, &s) && s) {
        if (check_provider(&p, root, s)) {
            free(topo->provider);
            topo->provider = xstrdup(s);
        }
    }
    parse_management(&p, root);

    list = get_section(&p, root, "bridges", YAML_OPTIONAL, &p.bridges_ok);
    topo->bridges = xcalloc(yaml_list_count(list), sizeof *topo->bridges);
    for (item = NULL; (item = yaml_list_next(list, item, &iter)) != NULL; ) {
        parse_bridge(&p, item, topo->n_bridges++);
    }

    list = get_section(&p, root, "guests", YAML_REQUIRED, &p.guests_ok);
    topo->guests = xcalloc(yaml_list_count(list), sizeof *topo->guests);
    for (item = NULL; (item = yaml_list_next(list, item, &iter)) != NULL; ) {
        parse_guest(&p, item, topo->n_guests++);
    }
    check_duplicate_names(&p);

    {
        struct fy_node *map = NULL;     /* Before the links that name them. */
        if (!yaml_get_map(doc, root, "profiles", YAML_OPTIONAL, &map) && map) {
            impair_parse_profiles(doc, map, &topo->profiles, &topo->n_profiles);
        }
        if (!topo->profiles) {
            topo->profiles = xcalloc(1, sizeof *topo->profiles);  /* None, but links may ask. */
        }
    }
    list = get_section(&p, root, "links", YAML_OPTIONAL, &ok);
    topo->links = xcalloc(yaml_list_count(list), sizeof *topo->links);
    p.link_resolved = xcalloc(yaml_list_count(list), sizeof *p.link_resolved);
    p.link_addr_nodes = xcalloc(yaml_list_count(list), sizeof *p.link_addr_nodes);
    for (item = NULL; (item = yaml_list_next(list, item, &iter)) != NULL; ) {
        parse_link(&p, item, topo->n_links++);
    }
    topology_parse_pops(doc, root, topo);
    check_addresses(&p);
    assign_management_addresses(&p, root);

    if (doc->diag->n != n_before) {
        diag_sort(doc->diag, n_before);
        error = EINVAL;
        goto out;
    }
    /* Locations outlive the document: point them at the topology's own copy of the name. */
    for (i = 0; i < topo->n_bridges; i++) {
        topo->bridges[i].loc.file = topo->file;
    }
    for (i = 0; i < topo->n_guests; i++) {
        topo->guests[i].loc.file = topo->file;
    }
    for (i = 0; i < topo->n_links; i++) {
        topo->links[i].loc.file = topo->file;
    }

out:
    free(p.link_resolved);
    free(p.link_addr_nodes);
    if (error) {
        topology_free(topo);
    } else {
        *topop = topo;
    }
    return error;
}

int
topology_load_string(const char *name, const char *yaml, size_t len, struct diag *diag,
                     struct topology **topop)
{
    struct yaml_doc *doc;
    int error;

    error = yaml_doc_load_string(name, yaml, len, diag, &doc);
    if (!error) {
        error = topology_parse(doc, topop);
        yaml_doc_free(doc);
    }
    return error;
}

int
topology_load(const char *file, struct diag *diag, struct topology **topop)
{
    struct yaml_doc *doc;
    int error;

    error = yaml_doc_load(file, diag, &doc);
    if (!error) {
        error = topology_parse(doc, topop);
        yaml_doc_free(doc);
    }
    return error;
}

void
topology_free(struct topology *topo)
{
    if (!topo) {
        return;
    }
    for (size_t i = 0; i < topo->n_bridges; i++) {
        free(topo->bridges[i].name);
    }
    for (size_t i = 0; i < topo->n_guests; i++) {
        free(topo->guests[i].name);
        free(topo->guests[i].provider);
    }
    free(topo->bridges);
    free(topo->guests);
    free(topo->links);
    impair_profiles_free(topo->profiles, topo->n_profiles);
    topology_free_pops(topo);
    free(topo->name);
    free(topo->provider);
    free(topo->file);
    free(topo);
}

size_t
topology_find_guest(const struct topology *topo, const char *name)
{
    for (size_t i = 0; i < topo->n_guests; i++) {
        if (topo->guests[i].name && !strcmp(topo->guests[i].name, name)) {
            return i;
        }
    }
    return SIZE_MAX;
}

size_t
topology_find_bridge(const struct topology *topo, const char *name)
{
    for (size_t i = 0; i < topo->n_bridges; i++) {
        if (topo->bridges[i].name && !strcmp(topo->bridges[i].name, name)) {
            return i;
        }
    }
    return SIZE_MAX;
}

void
topology_format(const struct topology *topo, struct buf *b)
{
    char a[INET_ADDRSTRLEN];

    buf_printf(b, "name: %s\n", topo->name);
    buf_printf(b, "provider: %s\n", topo->provider);
    buf_printf(b, "management: %s/%d", ipv4_str(topo->mgmt_net, a), topo->mgmt_prefix_len);
    buf_printf(b, "  # orchestrator %s\n", ipv4_str(topo->orchestrator_addr, a));

    buf_printf(b, "bridges:%s\n", topo->n_bridges ? "" : " []");
    for (size_t i = 0; i < topo->n_bridges; i++) {
        buf_printf(b, "  - name: %s\n", topo->bridges[i].name);
    }

    buf_printf(b, "guests:%s\n", topo->n_guests ? "" : " []");
    for (size_t i = 0; i < topo->n_guests; i++) {
        const struct topo_guest *g = &topo->guests[i];

        buf_printf(b, "  - name: %s  # mgmt %s\n", g->name, ipv4_str(g->mgmt_addr, a));
        buf_printf(b, "    provider: %s\n", g->provider);
        buf_printf(b, "    cpus: ");
        yaml_format_number(b, g->cpus);
        if (g->cpu_period_us) {
            buf_printf(b, "\n    period: ");
            yaml_format_duration(b, g->cpu_period_us * 1000);
        }
        buf_printf(b, "\n    memory: ");
        yaml_format_size(b, g->memory);
        buf_printf(b, "\n");
    }

    if (topo->n_profiles) {
        buf_printf(b, "profiles:\n");
        for (size_t i = 0; i < topo->n_profiles; i++) {
            buf_printf(b, "  %s:%s\n", topo->profiles[i].name,
                       impair_is_zero(&topo->profiles[i].impair) ? " {}" : "");
            impair_format_block(&topo->profiles[i].impair, 4, b);
        }
    }
    buf_printf(b, "links:%s\n", topo->n_links ? "" : " []");
    for (size_t i = 0; i < topo->n_links; i++) {
        const struct topo_link *l = &topo->links[i];

        buf_printf(b, "  - guest: %s\n", topo->guests[l->guest].name);
        buf_printf(b, "    bridge: %s\n", topo->bridges[l->bridge].name);
        if (l->has_addr) {
            buf_printf(b, "    address: ");
            format_ipv4_prefix(b, l->addr, l->prefix_len);
            buf_printf(b, "\n");
        }
        impair_format_block(&l->impair, 4, b);
    }
    topology_format_pops(topo, b);
}

struct topology *
topology_new(const char *name, const char *provider)
{
    struct topology *topo = xzalloc(sizeof *topo);
    int len;

    topo->file = xasprintf("<%s>", name);
    topo->name = xstrdup(name);
    topo->provider = xstrdup(provider);
    parse_ipv4_prefix(TOPO_DEFAULT_MGMT, &topo->mgmt_net, &len);
    topo->mgmt_prefix_len = len;
    topo->orchestrator_addr.s_addr = htonl((ntohl(topo->mgmt_net.s_addr) | ~prefix_mask(len))
                                           - 1);
    return topo;
}

size_t
topology_add_bridge(struct topology *topo, const char *name)
{
    topo->bridges = xrealloc(topo->bridges, (topo->n_bridges + 1) * sizeof *topo->bridges);
    topo->bridges[topo->n_bridges] = (struct topo_bridge) { .name = xstrdup(name) };
    topo->bridges[topo->n_bridges].loc.file = topo->file;
    return topo->n_bridges++;
}

size_t
topology_add_guest(struct topology *topo, const char *name, double cpus,
                   uint64_t cpu_period_us, uint64_t memory)
{
    topo->guests = xrealloc(topo->guests, (topo->n_guests + 1) * sizeof *topo->guests);
    topo->guests[topo->n_guests] = (struct topo_guest) {
        .name = xstrdup(name), .provider = xstrdup(topo->provider), .cpus = cpus,
        .cpu_period_us = cpu_period_us, .memory = memory,
    };
    topo->guests[topo->n_guests].loc.file = topo->file;
    return topo->n_guests++;
}

int
topology_get_period(struct yaml_doc *doc, struct fy_node *map, const char *key,
                    uint64_t *period_us)
{
    uint64_t ns;
    int error = yaml_get_duration(doc, map, key, YAML_OPTIONAL, &ns);

    if (error || !yaml_map_get(map, key)) {
        return error;
    }
    if (!cgroup_period_ok(ns / 1000)) {
        yaml_error(doc, yaml_map_get(map, key), "%s must be 1ms to 1s (the kernel's range), "
                   "not %s", key, fy_node_get_scalar0(yaml_map_get(map, key)));
        return EINVAL;
    }
    *period_us = ns / 1000;
    return 0;
}

void
topology_check_quota(struct yaml_doc *doc, struct fy_node *node, double cpus,
                     uint64_t period_us)
{
    uint64_t period = period_us ? period_us : CGROUP_PERIOD_DEFAULT_US;
    struct buf least = BUF_INITIALIZER, given = BUF_INITIALIZER;

    if (cpus > 0 && cgroup_quota_us(cpus, period) < CGROUP_QUOTA_MIN_US) {
        yaml_format_duration(&given, period * 1000);
        yaml_format_duration(&least, (uint64_t) ceil(CGROUP_QUOTA_MIN_US / cpus) * 1000);
        yaml_error(doc, node, "%g cores per period %.*s is a quota of %lldus, under the "
                   "kernel's least (1ms): the period must be at least %.*s", cpus,
                   (int) given.len, (char *) given.data, (long long) cgroup_quota_us(cpus, period),
                   (int) least.len, (char *) least.data);
    }
    buf_uninit(&given);
    buf_uninit(&least);
}

size_t
topology_add_link(struct topology *topo, size_t guest, size_t bridge, const char *addr,
                  int prefix_len)
{
    struct topo_link *l;

    topo->links = xrealloc(topo->links, (topo->n_links + 1) * sizeof *topo->links);
    l = &topo->links[topo->n_links++];
    memset(l, 0, sizeof *l);
    l->guest = guest;
    l->bridge = bridge;
    l->loc.file = topo->file;
    if (addr) {
        l->has_addr = inet_pton(AF_INET, addr, &l->addr) == 1;
        l->prefix_len = l->has_addr ? prefix_len : 0;
    }
    return topo->n_links - 1;
}

int
topology_finish(struct topology *topo, char **errp)
{
    uint64_t usable = (1ull << (32 - topo->mgmt_prefix_len)) - 2;

    for (size_t i = 0; i < topo->n_guests; i++) {
        if (strlen(topo->guests[i].name) > TOPO_NAME_MAX) {
            *errp = xasprintf("guest name '%s' is longer than %d characters",
                              topo->guests[i].name, TOPO_NAME_MAX);
            return EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (!strcmp(topo->guests[i].name, topo->guests[j].name)) {
                *errp = xasprintf("guest '%s' given twice", topo->guests[i].name);
                return EINVAL;
            }
        }
    }
    for (size_t i = 0; i < topo->n_links; i++) {
        if (topo->links[i].guest >= topo->n_guests || topo->links[i].bridge >= topo->n_bridges) {
            *errp = xasprintf("link %zu names no guest or bridge", i);
            return EINVAL;
        }
    }
    if (topo->n_guests + 1 > usable) {
        *errp = xasprintf("%zu guests do not fit the management subnet", topo->n_guests);
        return EINVAL;
    }
    for (size_t i = 0; i < topo->n_guests; i++) {
        topo->guests[i].mgmt_addr.s_addr = htonl(ntohl(topo->mgmt_net.s_addr) + i + 1);
    }
    return 0;
}
