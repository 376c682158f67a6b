/* sfclab check FILE... — validates descriptors without touching the host.
 *
 * Each file is parsed once and handed to the checker of its kind, chosen by a top-level key
 * (a file with 'experiment:' is an experiment; anything else is a topology). Every problem of
 * every file goes to stderr as "file:line:col: message"; the exit code is 2 if any file had one. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "testbed/cli/commands.h"
#include "testbed/model/topology.h"
#include "testbed/model/yaml.h"
#include "vnfs/core/buf.h"

struct descriptor_checker {
    const char *key;            /* Top-level key that marks the kind; NULL: the fallback. */
    const char *kind;
    /* Validates 'doc' (problems go to doc->diag); on success prints the one-line summary. */
    int (*check)(struct cli_ctx *, struct yaml_doc *);
};

static int
check_topology(struct cli_ctx *ctx, struct yaml_doc *doc)
{
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

static int
check_experiment(struct cli_ctx *ctx, struct yaml_doc *doc)
{
    yaml_error(doc, yaml_map_get_key(doc->root, "experiment"),
               "experiment descriptors cannot be checked yet");
    return EINVAL;
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
            error = find_checker(doc)->check(ctx, doc);
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
