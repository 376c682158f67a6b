#include <stdio.h>

#include "testbed/cli/commands.h"

int
cmd_up(struct cli_ctx *ctx, int argc, char *argv[])
{
    fprintf(stderr, "sfclab up: not built yet\n");
    return 2;
}

int
cmd_down(struct cli_ctx *ctx, int argc, char *argv[])
{
    fprintf(stderr, "sfclab down: not built yet\n");
    return 2;
}

int
cmd_status(struct cli_ctx *ctx, int argc, char *argv[])
{
    fprintf(stderr, "sfclab status: not built yet\n");
    return 2;
}

int
cmd_exec(struct cli_ctx *ctx, int argc, char *argv[])
{
    fprintf(stderr, "sfclab exec: not built yet\n");
    return 2;
}

int
cmd_clean(struct cli_ctx *ctx, int argc, char *argv[])
{
    fprintf(stderr, "sfclab clean: not built yet\n");
    return 2;
}
