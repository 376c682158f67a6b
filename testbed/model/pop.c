/* pop — points of presence in a topology: `pops:` puts guests in places, `wan:` joins two
 * places by an impaired link (the NIEP shape: PoPs, and a WAN between them). Part of the
 * topology module (testbed/model/topology.h); its parser, dump and lookups. The link shaper
 * realises a WAN in the stage of each PoP guest's link, by destination (testbed/infra/
 * shaper.h): a frame to a guest of the other PoP crosses the WAN's impairment once. */
#include <errno.h>
#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/model/topology.h"
#include "testbed/model/yaml.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

static const char *const pop_keys[] = { "name", "guests", NULL };
static const char *const wan_keys[] = { "between", IMPAIR_MAP_KEYS, NULL };

size_t
topology_guest_pop(const struct topology *topo, size_t gi)
{
    for (size_t p = 0; p < topo->n_pops; p++) {
        for (size_t i = 0; i < topo->pops[p].n_guests; i++) {
            if (topo->pops[p].guests[i] == gi) {
                return p;
            }
        }
    }
    return SIZE_MAX;
}

static size_t
find_pop(const struct topology *topo, const char *name)
{
    for (size_t p = 0; p < topo->n_pops; p++) {
        if (topo->pops[p].name && !strcmp(topo->pops[p].name, name)) {
            return p;
        }
    }
    return SIZE_MAX;
}

static void
parse_pop(struct yaml_doc *doc, struct fy_node *item, struct topology *topo)
{
    struct topo_pop *pop = &topo->pops[topo->n_pops];
    struct fy_node *list = NULL, *g = NULL;
    const char *name = NULL;
    void *iter;

    yaml_node_loc(doc, item, &pop->loc);
    if (!yaml_expect_map(doc, item, "a PoP")) {
        return;
    }
    yaml_map_check_keys(doc, item, pop_keys);
    if (!yaml_get_string(doc, item, "name", YAML_REQUIRED, &name) && name) {
        size_t len = strlen(name);
        if (!len || len > TOPO_NAME_MAX
            || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != len) {
            yaml_error(doc, yaml_map_get(item, "name"), "PoP name '%s' is invalid (1 to %d of "
                       "a-z, 0-9, '_' and '-')", name, TOPO_NAME_MAX);
        } else if (find_pop(topo, name) != SIZE_MAX) {
            yaml_error(doc, yaml_map_get(item, "name"), "duplicate PoP name '%s'", name);
        } else {
            pop->name = xstrdup(name);
        }
    }
    if (yaml_get_list(doc, item, "guests", YAML_REQUIRED, &list) || !list) {
        topo->n_pops++;
        return;
    }
    pop->guests = xcalloc(yaml_list_count(list) + 1, sizeof *pop->guests);
    for (g = NULL; (g = yaml_list_next(list, g, &iter)) != NULL; ) {
        const char *gname = yaml_scalar(doc, g, "a guest name");
        size_t gi, other;

        if (!gname) {
            continue;
        }
        gi = topology_find_guest(topo, gname);
        if (gi == SIZE_MAX) {
            yaml_error(doc, g, "unknown guest '%s'", gname);
            continue;
        }
        other = topology_guest_pop(topo, gi);
        for (size_t i = 0; i < pop->n_guests && other == SIZE_MAX; i++) {
            other = pop->guests[i] == gi ? topo->n_pops : SIZE_MAX;     /* This one. */
        }
        if (other != SIZE_MAX && topo->pops[other].name) {
            yaml_error(doc, g, "guest '%s' is already in PoP '%s'", gname,
                       topo->pops[other].name);
            continue;
        } else if (other != SIZE_MAX) {
            yaml_error(doc, g, "guest '%s' is already in the PoP at line %d", gname,
                       topo->pops[other].loc.line);
            continue;
        }
        pop->guests[pop->n_guests++] = gi;
    }
    topo->n_pops++;
}

static void
parse_wan(struct yaml_doc *doc, struct fy_node *item, struct topology *topo)
{
    struct topo_wan *wan = &topo->wans[topo->n_wans];
    struct fy_node *between = NULL;
    size_t ends[2] = { SIZE_MAX, SIZE_MAX };
    void *iter;

    yaml_node_loc(doc, item, &wan->loc);
    if (!yaml_expect_map(doc, item, "a WAN link")) {
        return;
    }
    yaml_map_check_keys(doc, item, wan_keys);
    if (!yaml_get_list(doc, item, "between", YAML_REQUIRED, &between) && between) {
        struct fy_node *e = NULL;
        size_t n = 0;

        if (yaml_list_count(between) != 2) {
            yaml_error(doc, between, "'between' names two PoPs, not %zu",
                       yaml_list_count(between));
        }
        for (e = NULL; n < 2 && (e = yaml_list_next(between, e, &iter)) != NULL; n++) {
            const char *name = yaml_scalar(doc, e, "a PoP name");
            if (name && (ends[n] = find_pop(topo, name)) == SIZE_MAX) {
                yaml_error(doc, e, "unknown PoP '%s'", name);
            }
        }
        if (ends[0] != SIZE_MAX && ends[0] == ends[1]) {
            yaml_error(doc, between, "a WAN link joins two different PoPs");
            ends[1] = SIZE_MAX;
        }
        for (size_t i = 0; i < topo->n_wans && ends[0] != SIZE_MAX && ends[1] != SIZE_MAX; i++) {
            const struct topo_wan *w = &topo->wans[i];
            if ((w->a == ends[0] && w->b == ends[1]) || (w->a == ends[1] && w->b == ends[0])) {
                yaml_error(doc, between, "PoPs '%s' and '%s' are joined already (line %d)",
                           topo->pops[ends[0]].name, topo->pops[ends[1]].name, w->loc.line);
                ends[1] = SIZE_MAX;
            }
        }
    }
    if (!impair_parse(doc, item, topo->profiles, topo->n_profiles, &wan->impair)
        && impair_is_zero(&wan->impair)) {
        yaml_error(doc, item, "this WAN link impairs nothing (give it a profile or keys such "
                   "as delay)");
    }
    if (ends[0] != SIZE_MAX && ends[1] != SIZE_MAX) {
        wan->a = ends[0];
        wan->b = ends[1];
        topo->n_wans++;
    }
}

void
topology_parse_pops(struct yaml_doc *doc, struct fy_node *root, struct topology *topo)
{
    struct fy_node *list = NULL, *item;
    void *iter;

    if (!yaml_get_list(doc, root, "pops", YAML_OPTIONAL, &list) && list) {
        topo->pops = xcalloc(yaml_list_count(list) + 1, sizeof *topo->pops);
        for (item = NULL; (item = yaml_list_next(list, item, &iter)) != NULL; ) {
            parse_pop(doc, item, topo);
        }
    }
    list = NULL;
    if (!yaml_get_list(doc, root, "wan", YAML_OPTIONAL, &list) && list) {
        if (!topo->n_pops) {
            yaml_error(doc, list, "'wan' joins PoPs, and there are no 'pops'");
            return;
        }
        topo->wans = xcalloc(yaml_list_count(list) + 1, sizeof *topo->wans);
        for (item = NULL; (item = yaml_list_next(list, item, &iter)) != NULL; ) {
            parse_wan(doc, item, topo);
        }
    }
    for (size_t li = 0; li < topo->n_links; li++) {
        size_t p = topo->links[li].guest == SIZE_MAX
                   ? SIZE_MAX : topology_guest_pop(topo, topo->links[li].guest);
        for (size_t w = 0; p != SIZE_MAX && w < topo->n_wans; w++) {
            if (topo->wans[w].a == p || topo->wans[w].b == p) {
                topo->links[li].pop_wan = true;
            }
        }
    }
}

void
topology_format_pops(const struct topology *topo, struct buf *b)
{
    if (topo->n_pops) {
        buf_printf(b, "pops:\n");
    }
    for (size_t p = 0; p < topo->n_pops; p++) {
        buf_printf(b, "  - name: %s\n    guests: [", topo->pops[p].name);
        for (size_t i = 0; i < topo->pops[p].n_guests; i++) {
            buf_printf(b, "%s%s", i ? ", " : "", topo->guests[topo->pops[p].guests[i]].name);
        }
        buf_printf(b, "]\n");
    }
    if (topo->n_wans) {
        buf_printf(b, "wan:\n");
    }
    for (size_t w = 0; w < topo->n_wans; w++) {
        buf_printf(b, "  - between: [%s, %s]\n", topo->pops[topo->wans[w].a].name,
                   topo->pops[topo->wans[w].b].name);
        impair_format_block(&topo->wans[w].impair, 4, b);
    }
}

void
topology_free_pops(struct topology *topo)
{
    for (size_t p = 0; p < topo->n_pops; p++) {
        free(topo->pops[p].name);
        free(topo->pops[p].guests);
    }
    free(topo->pops);
    free(topo->wans);
}
