#include <stdio.h>

#include "testbed/cli/commands.h"

int
cmd_run(struct cli_ctx *ctx, int argc, char *argv[])
{
    fprintf(stderr, "sfclab run: not built yet\n");
    return 2;
}

int
cmd_compare(struct cli_ctx *ctx, int argc, char *argv[])
{
    fprintf(stderr, "sfclab compare: not built yet\n");
    return 2;
}

int
cmd_inject(struct cli_ctx *ctx, int argc, char *argv[])
{
    fprintf(stderr, "sfclab inject: not built yet\n");
    return 2;
}
