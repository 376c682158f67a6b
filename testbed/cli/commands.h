/* commands — the handlers of the `sfclab` command table (testbed/cli/sfclab.c).
 *
 * Each handler gets the arguments after the command name (already checked against the table's
 * min/max counts) and returns the process exit code: 0 ok, 1 the operation or experiment failed,
 * 2 bad usage or bad input. Handlers print their own errors. */
#ifndef SFC_CLI_COMMANDS_H
#define SFC_CLI_COMMANDS_H 1

#include <stdbool.h>

struct cli_ctx {
    const char *instance;       /* --instance NAME, default "default". */
    const char *state_dir;      /* --state-dir DIR, default /run/sfclab. */
    const char *db_path;        /* --db FILE, default results/sfclab.db. */
    bool verbose;
};

#define CLI_HANDLER(NAME) int NAME(struct cli_ctx *, int argc, char *argv[])

CLI_HANDLER(cmd_check);
CLI_HANDLER(cmd_up);
CLI_HANDLER(cmd_down);
CLI_HANDLER(cmd_status);
CLI_HANDLER(cmd_exec);
CLI_HANDLER(cmd_agent);
CLI_HANDLER(cmd_clean);
CLI_HANDLER(cmd_add_guest);
CLI_HANDLER(cmd_remove_guest);
CLI_HANDLER(cmd_run);
CLI_HANDLER(cmd_compare);
CLI_HANDLER(cmd_inject);
CLI_HANDLER(cmd_link);
CLI_HANDLER(cmd_runs);
CLI_HANDLER(cmd_report);
CLI_HANDLER(cmd_capture);
CLI_HANDLER(cmd_plot);
CLI_HANDLER(cmd_export);
CLI_HANDLER(cmd_schemes);

#endif
