/* sfclab check FILE... — validates descriptors without touching the host.
 *
 * Each file is parsed once and handed to the checker of its kind, chosen by a top-level key
 * (a file with 'experiment:' is an experiment; anything else is a topology). Every problem of
 * every file goes to stderr as "file:line:col: message"; the exit code is 2 if any file had one. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/cli/commands.h"
#include "testbed/infra/provider.h"
#include "testbed/model/experiment.h"
#include "testbed/model/topology.h"
#include "testbed/model/yaml.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/lib/buf.h"

struct descriptor_checker {
    const char *key;            /* Top-level key that marks the kind; NULL: the fallback. */
    const char *kind;
    /* Validates '*docp' (problems go to its diag); on success prints the one-line summary. It
     * may take the document over, setting '*docp' to NULL. */
    int (*check)(struct cli_ctx *, struct yaml_doc **docp);
};

static int
check_topology(struct cli_ctx *ctx, struct yaml_doc **docp)
{
    struct yaml_doc *doc = *docp;
    struct topology *topo;
    int error;

    error = topology_parse(doc, &topo);
    if (error) {
        return error;
    }
    printf("%s: ok (%zu guests, %zu bridges, %zu links)\n",
           doc->file, topo->n_guests, topo->n_bridges, topo->n_links);
    if (ctx->verbose) {
        struct buf dump = BUF_INITIALIZER;

        topology_format(topo, &dump);
        fwrite(dump.data, 1, dump.len, stdout);
        buf_uninit(&dump);
    }
    topology_free(topo);
    return 0;
}

/* "scheme none" or, when the sweep varies it, "schemes none, fitsfc (not deployable yet)": what
 * the registry (testbed/schemes) says `sfclab run` would do with it. */
static void
format_schemes(const struct exp_point *pts, size_t n, struct buf *b)
{
    size_t n_distinct = 0;

    for (size_t i = 0; i < n; i++) {
        bool seen = false;

        for (size_t j = 0; j < i && !seen; j++) {
            seen = !strcmp(pts[j].scheme, pts[i].scheme);
        }
        if (!seen) {
            buf_printf(b, "%s%s%s", n_distinct++ ? ", " : "", pts[i].scheme,
                       scheme_deployable(scheme_find(pts[i].scheme)) ? ""
                       : " (not deployable yet)");
        }
    }
    buf_put_u8(b, '\0');
}

static int
check_experiment(struct cli_ctx *ctx, struct yaml_doc **docp)
{
    struct diag *diag = (*docp)->diag;
    struct buf schemes = BUF_INITIALIZER;
    struct experiment *e;
    struct exp_point *pts;
    size_t n;
    int error;

    error = experiment_parse(docp, &e);
    if (error) {
        return error;
    }
    error = experiment_points(e, diag, &pts, &n);
    for (size_t i = 0; !error && i < n; i++) {
        /* A file this host or build cannot run fails here, not after a run row is written. */
        char *why = NULL;
        bool seen = false;

        for (size_t j = 0; j < i && !seen; j++) {
            seen = !strcmp(pts[j].provider, pts[i].provider);
        }
        if (!seen && !guest_provider_usable(pts[i].provider, &why)) {
            struct fy_node *node = yaml_map_get(e->yd->root, "provider");

            yaml_error(e->yd, node, "%s cannot run here: %s", pts[i].label[0] ? pts[i].label
                       : "this experiment", why);
            error = ENOTSUP;
        }
        free(why);
    }
    if (error == ENOTSUP) {
        exp_points_free(pts, n);
    } else if (!error) {
        format_schemes(pts, n, &schemes);
        printf("%s: ok (%zu point%s x %llu repetition%s, scheme%s %s, %zu VNF%s at the first "
               "point)\n", e->file, n, n == 1 ? "" : "s",
               (unsigned long long) pts[0].repetitions, pts[0].repetitions == 1 ? "" : "s",
               strchr((char *) schemes.data, ',') ? "s" : "", (char *) schemes.data,
               pts[0].n_vnfs, pts[0].n_vnfs == 1 ? "" : "s");
        if (ctx->verbose) {
            struct buf dump = BUF_INITIALIZER;

            experiment_format_points(e, pts, n, &dump);
            fwrite(dump.data, 1, dump.len, stdout);
            buf_uninit(&dump);
        }
        exp_points_free(pts, n);
    }
    buf_uninit(&schemes);
    experiment_free(e);
    return error;
}

static const struct descriptor_checker checkers[] = {
    { "experiment", "experiment", check_experiment },
    { NULL, "topology", check_topology },
};

static const struct descriptor_checker *
find_checker(struct yaml_doc *doc)
{
    for (size_t i = 0; i < ARRAY_SIZE(checkers); i++) {
        if (!checkers[i].key || yaml_map_has(doc->root, checkers[i].key)) {
            return &checkers[i];
        }
    }
    return &checkers[ARRAY_SIZE(checkers) - 1];
}

int
cmd_check(struct cli_ctx *ctx, int argc, char *argv[])
{
    int status = 0;

    for (int i = 0; i < argc; i++) {
        struct yaml_doc *doc;
        struct diag diag;
        int error;

        diag_init(&diag);
        error = yaml_doc_load(argv[i], &diag, &doc);
        if (!error) {
            error = find_checker(doc)->check(ctx, &doc);
            yaml_doc_free(doc);
        }
        if (error) {
            diag_print(&diag, stderr);
            status = 2;
        }
        diag_uninit(&diag);
    }
    fflush(stdout);
    return status;
}
