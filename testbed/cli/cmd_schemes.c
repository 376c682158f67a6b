/* sfclab schemes [--all|--markdown] — the scheme registry (testbed/schemes) as a user reads it:
 * each scheme with its summary, parameters and fault targets; --all adds the schemes that are
 * known but not deployable yet; --markdown prints the section experiments/README.md carries
 * (tests/system/model-check.sh fails when the two drift apart). */
#include <stdio.h>
#include <string.h>

#include "testbed/cli/commands.h"
#include "testbed/schemes/scheme.h"
#include "vnfs/lib/buf.h"

int
cmd_schemes(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct buf b = BUF_INITIALIZER;

    if (argc && strcmp(argv[0], "--all") && strcmp(argv[0], "--markdown")) {
        fprintf(stderr, "usage: sfclab schemes [--all|--markdown]\n");
        return 2;
    }
    if (argc && !strcmp(argv[0], "--markdown")) {
        scheme_format_markdown(&b);
    } else {
        scheme_format_list(&b, argc > 0);
    }
    fwrite(b.data, 1, b.len, stdout);
    buf_uninit(&b);
    return 0;
}
