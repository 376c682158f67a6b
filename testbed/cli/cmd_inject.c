/* sfclab inject — a fault applied to, or healed on, a running instance by hand:
 *   sfclab inject TARGET KIND [MODE] [--heal] [--fraction F] [--attacker GUEST]
 *                 [--spoof-ip IP] [--role-id N] [--seed N]
 * TARGET is a deployed component ("vnf[1]", "random(vnf)") or a guest name. The target and
 * every parameter are checked before anything is touched (exit 2 when they are wrong). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "injectors/inject.h"
#include "testbed/cli/commands.h"
#include "testbed/infra/instance.h"
#include "vnfs/lib/util.h"

static void
inject_usage(void)
{
    fprintf(stderr,
            "usage: sfclab inject TARGET KIND [MODE] [--heal] [--fraction F] "
            "[--attacker GUEST]\n"
            "                     [--spoof-ip IP] [--role-id N] [--seed N]\n"
            "  KIND MODE (the first mode is the default):\n");
    for (size_t i = 0; inject_kind_at(i); i++) {
        fprintf(stderr, "    %-10s %s\n", inject_kind_at(i)->name,
                inject_mode_names(inject_kind_at(i)));
    }
}

int
cmd_inject(struct cli_ctx *ctx, int argc, char *argv[])
{
    static const struct option options[] = {
        { "heal", no_argument, NULL, 'H' },
        { "fraction", required_argument, NULL, 'f' },
        { "attacker", required_argument, NULL, 'a' },
        { "spoof-ip", required_argument, NULL, 's' },
        { "role-id", required_argument, NULL, 'r' },
        { "seed", required_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 },
    };
    struct inject_params p = { .role_id = -1 };
    struct instance_opts opts = {
        .name = ctx->instance, .state_dir = ctx->state_dir, .verbose = ctx->verbose,
        .agents = true,
    };
    struct inject_fault *f = NULL;
    struct instance *inst = NULL;
    const char *pos[3] = { NULL, NULL, NULL };
    uint64_t seed = time_mono_ns();
    struct inject_time t;
    size_t n_pos = 0;
    bool heal = false;
    char *end;
    int opt, error, rc = 2;

    /* Our argv starts at TARGET: give getopt a program name to skip. */
    char **args = xcalloc(argc + 2, sizeof *args);
    args[0] = "inject";
    memcpy(args + 1, argv, argc * sizeof *argv);
    optind = 0;
    while ((opt = getopt_long(argc + 1, args, "", options, NULL)) != -1) {
        switch (opt) {
        case 'H':
            heal = true;
            break;
        case 'f':
            p.fraction = strtod(optarg, &end);
            if (*end || end == optarg || !(p.fraction > 0 && p.fraction <= 1)) {
                fprintf(stderr, "sfclab inject: --fraction: '%s' is not in (0, 1]\n", optarg);
                goto out;
            }
            break;
        case 'a':
            p.attacker = optarg;
            break;
        case 's':
            p.spoof_ip = optarg;
            break;
        case 'r':
            p.role_id = strtol(optarg, &end, 10);
            if (*end || end == optarg || p.role_id < 0) {
                fprintf(stderr, "sfclab inject: --role-id: '%s' is not a role id\n", optarg);
                goto out;
            }
            break;
        case 'S':
            seed = strtoull(optarg, &end, 0);
            if (*end || end == optarg) {
                fprintf(stderr, "sfclab inject: --seed: '%s' is not a number\n", optarg);
                goto out;
            }
            break;
        default:
            inject_usage();
            goto out;
        }
    }
    for (int i = optind; i < argc + 1; i++) {
        if (n_pos == ARRAY_SIZE(pos)) {
            inject_usage();
            goto out;
        }
        pos[n_pos++] = args[i];
    }
    if (n_pos < 2) {
        inject_usage();
        goto out;
    }
    p.mode = pos[2];
    if (!inject_kind_find(pos[1])) {
        fprintf(stderr, "sfclab inject: unknown fault kind '%s' (kinds: %s)\n", pos[1],
                inject_kind_names());
        goto out;
    }
    error = instance_open(&opts, &inst);
    if (error) {
        fprintf(stderr, "sfclab inject: instance '%s' is not up (%s)\n", ctx->instance,
                strerror(error));
        rc = 1;
        goto out;
    }
    if (heal) {
        error = inject_fault_load(inst, pos[0], pos[1], &f);
    } else {
        error = inject_fault_create(inst, pos[0], pos[1], &p, &seed, &f);
    }
    if (error) {
        rc = error == ENOENT || error == EINVAL ? 2 : 1;
        goto out;
    }
    error = heal ? inject_heal(f, &t) : inject_apply(f, &t);
    if (error) {
        fprintf(stderr, "sfclab inject: %s %s on %s failed: %s\n", heal ? "healing" : "applying",
                f->kind->name, f->target,
                error == EALREADY ? "the target is down already" : strerror(error));
        rc = 1;
        goto out;
    }
    printf("%s %s %s on %s (guest %s) at wall %llu.%09llu mono %llu.%09llu\n",
           heal ? "healed" : "injected", f->kind->name, f->mode, f->target, f->guest,
           (unsigned long long) (t.wall_ns / 1000000000), (unsigned long long) (t.wall_ns % 1000000000),
           (unsigned long long) (t.mono_ns / 1000000000), (unsigned long long) (t.mono_ns % 1000000000));
    rc = 0;
out:
    inject_fault_free(f);
    instance_close(inst);
    free(args);
    return rc;
}
