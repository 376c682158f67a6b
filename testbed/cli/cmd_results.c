#include <stdio.h>

#include "testbed/cli/commands.h"

int
cmd_runs(struct cli_ctx *ctx, int argc, char *argv[])
{
    fprintf(stderr, "sfclab runs: not built yet\n");
    return 2;
}

int
cmd_report(struct cli_ctx *ctx, int argc, char *argv[])
{
    fprintf(stderr, "sfclab report: not built yet\n");
    return 2;
}

int
cmd_plot(struct cli_ctx *ctx, int argc, char *argv[])
{
    fprintf(stderr, "sfclab plot: not built yet\n");
    return 2;
}

int
cmd_export(struct cli_ctx *ctx, int argc, char *argv[])
{
    fprintf(stderr, "sfclab export: not built yet\n");
    return 2;
}
