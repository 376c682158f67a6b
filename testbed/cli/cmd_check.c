#include <stdio.h>

#include "testbed/cli/commands.h"

int
cmd_check(struct cli_ctx *ctx, int argc, char *argv[])
{
    fprintf(stderr, "sfclab check: not built yet\n");
    return 2;
}
