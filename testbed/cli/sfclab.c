/* sfclab — the host CLI: one command table, unique-prefix matching, help generated from it. */

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/cli/commands.h"
#include "vnfs/lib/util.h"

struct cli_command {
    const char *name;
    int min_args;
    int max_args;               /* -1: any number. */
    const char *usage;
    const char *help;
    int (*handler)(struct cli_ctx *, int argc, char *argv[]);
};

static const struct cli_command commands[] = {
    { "check", 1, -1, "FILE...", "validate topology and experiment descriptors", cmd_check },
    { "up", 1, 3, "TOPOLOGY [--provider NAME]",
      "bring up a topology's guests, bridges and links (--provider: every guest on NAME)",
      cmd_up },
    { "down", 0, 0, "", "tear the instance down (what its manifest lists)", cmd_down },
    { "status", 0, 0, "", "show the instance's guests, bridges and processes", cmd_status },
    { "exec", 2, -1, "GUEST CMD [ARG...]", "run a command inside a guest", cmd_exec },
    { "agent", 2, 3, "GUEST METHOD [PARAMS-JSON]", "call a guest's agent (authenticated)",
      cmd_agent },
    { "clean", 0, 0, "", "undo whatever a crashed or killed instance left behind", cmd_clean },
    { "add-guest", 1, -1, "NAME [--provider P] [--cpus N] [--period DURATION] [--memory SIZE] "
      "[--link BRIDGE[=ADDR/LEN]]...", "add a guest to the running instance", cmd_add_guest },
    { "remove-guest", 1, 1, "NAME", "destroy a guest of the running instance", cmd_remove_guest },
    { "run", 1, -1, "EXPERIMENT [--set K=V...] [--quick] [--fresh] [--keep] [--pin CPU|--no-pin]"
      " [--datapath afxdp|system] [--pmd-sleep US] [--halt-poll US] [--switch-rx on|off]",
      "run an experiment", cmd_run },
    { "compare", 1, -1, "EXPERIMENT [RUN OPTIONS] [--no-run] [--tsv FILE] | --from FILE.tsv "
      "[--no-plots]", "run every scheme of a file, then a scorecard per fault model, a summary "
      "and charts", cmd_compare },
    { "inject", 2, -1, "TARGET KIND [MODE] [--heal] [--fraction F] [--attacker GUEST] "
      "[--spoof-ip IP] [--role-id N] [--seed N]", "inject or heal a fault in a running instance",
      cmd_inject },
    { "link", 2, -1, "GUEST[:IFACE] set K=V... | show",
      "change a running link's impairments (delay=10ms loss=1% egress.rate=10mbit)", cmd_link },
    { "runs", 0, 1, "[EXPERIMENT]", "list past runs", cmd_runs },
    { "report", 0, 1, "[EXPERIMENT|RUN]", "print results beside the published numbers",
      cmd_report },
    { "capture", 3, 8, "COMPONENT|GUEST -w FILE [-c COUNT] [-t SECONDS] [--bridge BRIDGE]",
      "write a pcap of a component's or guest's traffic (through an OVS mirror)", cmd_capture },
    { "plot", 1, 1, "RUN|EXPERIMENT", "redraw a run's plots from the database", cmd_plot },
    { "export", 1, 2, "RUN [--csv]", "write a run's samples as CSV", cmd_export },
    { "schemes", 0, 1, "[--all|--markdown]", "list the schemes, their parameters and targets",
      cmd_schemes },
};

static const char global_options[] =
    "  -i, --instance NAME   testbed instance (default: default)\n"
    "      --state-dir DIR   where manifests live (default: /run/sfclab)\n"
    "      --db FILE         results database (default: results/sfclab.db)\n"
    "  -v, --verbose         say more\n"
    "  -h, --help            this text\n";

static void
usage(FILE *stream)
{
    fprintf(stream,
            "usage: sfclab [OPTIONS] COMMAND [ARG...]\n"
            "Testbed for fault-tolerant service function chains.\n\n"
            "Commands (any unique prefix works):\n");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        char synopsis[160];
        snprintf(synopsis, sizeof synopsis, "%s %s", commands[i].name, commands[i].usage);
        if (strlen(synopsis) > 44) {
            fprintf(stream, "  %s\n  %-44s %s\n", synopsis, "", commands[i].help);
        } else {
            fprintf(stream, "  %-44s %s\n", synopsis, commands[i].help);
        }
    }
    fprintf(stream,
            "\nOptions (before or after the command):\n%s"
            "\nExit codes: 0 ok, 1 the operation or experiment failed, 2 bad usage or input.\n",
            global_options);
}

static void
command_usage(FILE *stream, const struct cli_command *cmd)
{
    fprintf(stream, "usage: sfclab [OPTIONS] %s %s\n%c%s.\n\nOptions:\n%s", cmd->name,
            cmd->usage, toupper((unsigned char) cmd->help[0]), cmd->help + 1, global_options);
}

/* The global options given after the command name (`sfclab run X.yaml --db F -i NAME`) are
 * taken out of its arguments, up to "--" and, for a command whose tail is another program's
 * argv, up to its first argument. "-h"/"--help" there asks for the command's help (*helpp).
 * Returns 0, or 2 for an option missing its value. */
static int
take_global_options(struct cli_ctx *ctx, const struct cli_command *cmd, int *argcp,
                    char *argv[], bool *helpp)
{
    static const struct { const char *s, *l; const char **field; } valued[] = {
        { "-i", "--instance", NULL }, { NULL, "--state-dir", NULL }, { NULL, "--db", NULL },
    };
    const char **fields[] = { &ctx->instance, &ctx->state_dir, &ctx->db_path };
    /* After exec's first argument comes another program's argv: its options are not ours. */
    bool argv_tail = cmd->handler == cmd_exec;
    int argc = *argcp, out = 0, i;

    for (i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        size_t k;

        if (!strcmp(arg, "--") || (argv_tail && arg[0] != '-')) {
            break;
        }
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            *helpp = true;
            continue;
        }
        if (!strcmp(arg, "-v") || !strcmp(arg, "--verbose")) {
            ctx->verbose = true;
            log_threshold = LOG_DEBUG;
            continue;
        }
        for (k = 0; k < ARRAY_SIZE(valued); k++) {
            size_t llen = strlen(valued[k].l);
            if ((valued[k].s && !strcmp(arg, valued[k].s)) || !strcmp(arg, valued[k].l)) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "sfclab %s: option %s needs a value\n", cmd->name, arg);
                    return 2;
                }
                value = argv[++i];
                break;
            }
            if (!strncmp(arg, valued[k].l, llen) && arg[llen] == '=') {
                value = arg + llen + 1;
                break;
            }
            if (valued[k].s && !strncmp(arg, valued[k].s, 2) && arg[2]) {
                value = arg + 2;        /* -iNAME */
                break;
            }
        }
        if (value) {
            *fields[k] = value;
            continue;
        }
        argv[out++] = argv[i];
    }
    for (; i < argc; i++) {
        argv[out++] = argv[i];
    }
    argv[out] = NULL;
    *argcp = out;
    return 0;
}

/* Exact match first, then a unique prefix. */
static const struct cli_command *
find_command(const char *name)
{
    const struct cli_command *match = NULL;
    size_t len = strlen(name);

    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        if (!strcmp(commands[i].name, name)) {
            return &commands[i];
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        if (!strncmp(commands[i].name, name, len)) {
            if (match) {
                fprintf(stderr, "sfclab: '%s' is ambiguous (%s, %s, ...)\n",
                        name, match->name, commands[i].name);
                return NULL;
            }
            match = &commands[i];
        }
    }
    if (!match) {
        fprintf(stderr, "sfclab: unknown command '%s' (try --help)\n", name);
    }
    return match;
}

int
main(int argc, char *argv[])
{
    static const struct option options[] = {
        { "instance", required_argument, NULL, 'i' },
        { "state-dir", required_argument, NULL, 'S' },
        { "db", required_argument, NULL, 'D' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct cli_ctx ctx = {
        .instance = getenv("SFCLAB_INSTANCE") ? getenv("SFCLAB_INSTANCE") : "default",
        .state_dir = getenv("SFCLAB_STATE_DIR") ? getenv("SFCLAB_STATE_DIR") : "/run/sfclab",
        .db_path = getenv("SFCLAB_DB") ? getenv("SFCLAB_DB") : "results/sfclab.db",
    };
    const struct cli_command *cmd;
    bool help = false;
    int nargs, c;

    log_set_program("sfclab");
    /* '+': stop at the command name, so its own options (exec's CMD -x) stay its own. */
    while ((c = getopt_long(argc, argv, "+i:vh", options, NULL)) != -1) {
        switch (c) {
        case 'i':
            ctx.instance = optarg;
            break;
        case 'S':
            ctx.state_dir = optarg;
            break;
        case 'D':
            ctx.db_path = optarg;
            break;
        case 'v':
            ctx.verbose = true;
            log_threshold = LOG_DEBUG;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    cmd = find_command(argv[optind]);
    if (!cmd) {
        return 2;
    }
    nargs = argc - optind - 1;
    if (take_global_options(&ctx, cmd, &nargs, argv + optind + 1, &help)) {
        return 2;
    }
    if (help) {
        command_usage(stdout, cmd);
        return 0;
    }
    if (nargs < cmd->min_args || (cmd->max_args >= 0 && nargs > cmd->max_args)) {
        fprintf(stderr, "usage: sfclab %s %s\n", cmd->name, cmd->usage);
        return 2;
    }
    return cmd->handler(&ctx, nargs, argv + optind + 1);
}
