/* The infrastructure commands: up, down, status, exec, clean, agent. */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testbed/cli/commands.h"
#include "testbed/infra/cgroup.h"
#include "testbed/infra/instance.h"
#include "testbed/infra/manifest.h"
#include "testbed/infra/provider.h"
#include "testbed/model/topology.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"

static struct instance_opts
opts_from_ctx(const struct cli_ctx *ctx)
{
    return (struct instance_opts) {
        .name = ctx->instance,
        .state_dir = ctx->state_dir,
        .verbose = ctx->verbose,
        .agents = true,
    };
}

int
cmd_up(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct instance_opts opts = opts_from_ctx(ctx);
    struct topology *topo = NULL;
    struct instance *inst = NULL;
    struct diag diag;
    int error;

    diag_init(&diag);
    error = topology_load(argv[0], &diag, &topo);
    if (error) {
        diag_print(&diag, stderr);
        if (!diag_has_errors(&diag)) {
            fprintf(stderr, "%s: %s\n", argv[0], strerror(error));
        }
        diag_uninit(&diag);
        return 2;
    }
    diag_uninit(&diag);
    if (argc > 1) {
        const char *provider = argc == 3 && !strcmp(argv[1], "--provider") ? argv[2] : NULL;
        if (!provider) {
            fprintf(stderr, "usage: sfclab up TOPOLOGY [--provider NAME]\n");
            topology_free(topo);
            return 2;
        }
        if (!guest_provider_find(provider)) {
            fprintf(stderr, "sfclab up: unknown provider '%s' (expected one of: %s)\n",
                    provider, guest_provider_names());
            topology_free(topo);
            return 2;
        }
        /* An override of the file: every guest, whatever it or the file's top level says. */
        for (size_t i = 0; i < topo->n_guests; i++) {
            free(topo->guests[i].provider);
            topo->guests[i].provider = xstrdup(provider);
        }
    }
    instance_catch_interrupts();
    error = instance_up(&opts, topo, &inst);
    if (error) {
        fprintf(stderr, "sfclab up: %s\n", strerror(error));
        topology_free(topo);
        return 1;
    }
    printf("instance '%s' up: %zu guests, %zu bridges in %.0f ms (%.1f ms per guest)\n",
           inst->name, inst->n_guests, inst->n_bridges, inst->up_ms,
           inst->n_guests ? inst->up_ms / inst->n_guests : 0.0);
    if (ctx->verbose) {
        for (size_t i = 0; i < inst->n_guests; i++) {
            const struct instance_guest *ig = &inst->guests[i];
            char *handle = guest_handle(ig->guest);
            printf("  %-16s %-16s", ig->name, handle ? handle : "-");
            free(handle);
            for (size_t j = 1; j < ig->n_ifaces; j++) {
                if (ig->ifaces[j].has_addr) {
                    printf(" %s/%d", inet_ntoa(ig->ifaces[j].addr), ig->ifaces[j].prefix_len);
                }
            }
            printf("\n");
        }
    }
    instance_close(inst);
    topology_free(topo);
    return 0;
}

/* Removes the state directory itself once no instance is left in it: it is ours by name. */
static void
remove_empty_state_dir(const char *state_dir)
{
    rmdir(state_dir);
}

int
cmd_down(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct instance_opts opts = opts_from_ctx(ctx);
    struct instance *inst;
    uint64_t t0 = time_mono_ns();
    int error;

    error = instance_open(&opts, &inst);
    if (error) {
        /* Half there: the manifest still knows what exists. */
        if (error != ENOENT) {
            fprintf(stderr, "sfclab down: falling back to the manifest\n");
        }
        error = instance_clean(ctx->state_dir, ctx->instance, ctx->verbose);
        remove_empty_state_dir(ctx->state_dir);
        return error ? 1 : 0;
    }
    error = instance_down(inst);
    remove_empty_state_dir(ctx->state_dir);
    if (error) {
        fprintf(stderr, "sfclab down: %s (run `sfclab clean`)\n", strerror(error));
        return 1;
    }
    printf("instance '%s' down in %.0f ms\n", ctx->instance, (time_mono_ns() - t0) / 1e6);
    return 0;
}

int
cmd_clean(struct cli_ctx *ctx, int argc, char *argv[])
{
    int error = instance_clean(ctx->state_dir, ctx->instance, ctx->verbose);

    remove_empty_state_dir(ctx->state_dir);
    if (error) {
        fprintf(stderr, "sfclab clean: %s\n", strerror(error));
        return 1;
    }
    return 0;
}

int
cmd_status(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct instance_opts opts = opts_from_ctx(ctx);
    struct instance *inst;

    if (instance_open(&opts, &inst)) {
        return 1;
    }
    printf("instance %s: switch %s, namespace %s, bridges", inst->name,
           instance_switch_name(inst), inst->netns_path ? inst->netns_path : "none");
    for (size_t i = 0; i < inst->n_bridges; i++) {
        printf(" %s", inst->bridges[i]);
    }
    printf("\n%-16s %-16s %-8s %-14s %10s %10s  %s\n", "GUEST", "HANDLE", "STATE", "AGENT",
           "CPU(ms)", "MEM(MiB)", "INTERFACES");
    for (size_t i = 0; i < inst->n_guests; i++) {
        struct instance_guest *ig = &inst->guests[i];
        uint64_t cpu_ns = 0, mem = 0;

        if (!ig->guest) {
            printf("%-16s %-16s %-8s\n", ig->name, "-", "gone");
            continue;
        }
        enum guest_state state = guest_state(ig->guest);
        char *handle = guest_handle(ig->guest);
        char agent[32] = "-";
        int restarts = 0;

        /* The agent's own word: a guest can run while its agent is dead (or restarted). */
        if (state == GUEST_RUNNING && inst->agents) {
            if (instance_agent_ping(inst, ig, 1000, &restarts)) {
                snprintf(agent, sizeof agent, "down");
            } else if (restarts) {
                snprintf(agent, sizeof agent, "up (%d restart%s)", restarts,
                         restarts == 1 ? "" : "s");
            } else {
                snprintf(agent, sizeof agent, "up");
            }
        }
        guest_read_stats(ig->guest, &cpu_ns, &mem);
        printf("%-16s %-16s %-8s %-14s %10.1f %10.1f ", ig->name, handle ? handle : "-",
               guest_state_name(state), agent, cpu_ns / 1e6, mem / 1048576.0);
        free(handle);
        for (size_t j = 0; j < ig->n_ifaces; j++) {
            struct instance_iface *f = &ig->ifaces[j];
            printf(" %s@%s", f->ifname, f->bridge);
            if (f->has_addr) {
                printf("=%s/%d", inet_ntoa(f->addr), f->prefix_len);
            }
        }
        printf("\n");
    }
    instance_close(inst);
    return 0;
}

int
cmd_exec(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct instance_opts opts = opts_from_ctx(ctx);
    struct instance *inst;
    int status = 0;
    int error;

    if (instance_open(&opts, &inst)) {
        return 1;
    }
    if (!instance_find_guest(inst, argv[0])) {
        fprintf(stderr, "sfclab exec: no guest '%s' in instance '%s'\n", argv[0], inst->name);
        instance_close(inst);
        return 2;
    }
    /* The command's own exit status is ours, as with `ip netns exec`. */
    signal(SIGINT, SIG_IGN);
    error = instance_exec(inst, argv[0], argv + 1, &status);
    instance_close(inst);
    if (error) {
        fprintf(stderr, "sfclab exec: %s: %s\n", argv[1], strerror(error));
        return 127;
    }
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* `sfclab agent GUEST METHOD [PARAMS]`: one authenticated call to a guest's agent, as the
 * orchestrator makes them; prints the result as JSON. */
int
cmd_agent(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct instance_opts opts = opts_from_ctx(ctx);
    struct instance_guest *ig;
    struct instance *inst;
    json_t *params = NULL, *result = NULL;
    json_error_t jerr;
    char *errmsg = NULL, *text;
    int fd = -1, rc = 1, error;

    if (argc > 2) {
        params = json_loads(argv[2], 0, &jerr);
        if (!params) {
            fprintf(stderr, "sfclab agent: params:%d:%d: %s\n", jerr.line, jerr.column,
                    jerr.text);
            return 2;
        }
    }
    if (instance_open(&opts, &inst)) {
        json_decref(params);
        return 1;
    }
    ig = instance_find_guest(inst, argv[0]);
    if (!ig) {
        fprintf(stderr, "sfclab agent: no guest '%s' in instance '%s'\n", argv[0], inst->name);
        rc = 2;
        goto out;
    }
    error = instance_mgmt_connect(inst, ig->mgmt_addr, INSTANCE_AGENT_PORT, 5000, &fd);
    if (error) {
        fprintf(stderr, "sfclab agent: %s: %s\n", argv[0], strerror(error));
        goto out;
    }
    error = rpc_call_err(fd, argv[1], params, &result, 30000, &errmsg);
    if (error) {
        fprintf(stderr, "sfclab agent: %s %s: %s\n", argv[0], argv[1],
                errmsg ? errmsg : strerror(error));
        goto out;
    }
    text = json_dumps(result, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    printf("%s\n", text ? text : "null");
    free(text);
    rc = 0;
out:
    if (fd >= 0) {
        rpc_client_forget(fd);
        close(fd);
    }
    free(errmsg);
    json_decref(result);
    json_decref(params);
    instance_close(inst);
    return rc;
}
/* "data" or "data=10.0.0.9/24". */
static bool
parse_link(char *s, struct instance_link_spec *l)
{
    char *eq = strchr(s, '='), *slash;

    memset(l, 0, sizeof *l);
    l->bridge = s;
    if (!eq) {
        return true;
    }
    *eq = '\0';
    slash = strchr(eq + 1, '/');
    if (!slash) {
        return false;
    }
    *slash = '\0';
    l->has_addr = inet_aton(eq + 1, &l->addr);
    l->prefix_len = atoi(slash + 1);
    return l->has_addr && l->prefix_len > 0 && l->prefix_len <= 32;
}

int
cmd_add_guest(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct instance_opts opts = opts_from_ctx(ctx);
    struct instance_link_spec *links = xcalloc(argc, sizeof *links);
    struct instance_guest_spec spec = { .name = argv[0], .links = links, .cpus = 1,
                                        .memory = 256 << 20 };
    struct instance *inst = NULL;
    uint64_t period;
    int rc = 2, error;

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        char *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (!val) {
            fprintf(stderr, "sfclab add-guest: %s needs a value\n", opt);
            goto out;
        }
        i++;
        if (!strcmp(opt, "--provider")) {
            spec.provider = val;
        } else if (!strcmp(opt, "--cpus")) {
            spec.cpus = atof(val);
            if (!(spec.cpus > 0 && spec.cpus <= 64)) {
                fprintf(stderr, "sfclab add-guest: --cpus %s is not in (0, 64]\n", val);
                goto out;
            }
        } else if (!strcmp(opt, "--memory")) {
            if (!parse_size(val, &spec.memory) || spec.memory < (16 << 20)) {
                fprintf(stderr, "sfclab add-guest: --memory %s: a size of 16M or more\n", val);
                goto out;
            }
        } else if (!strcmp(opt, "--period")) {
            uint64_t ns;

            if (!parse_duration(val, &ns) || !cgroup_period_ok(ns / 1000)) {
                fprintf(stderr, "sfclab add-guest: --period %s: a duration of 1ms to 1s (the "
                        "kernel's range)\n", val);
                goto out;
            }
            spec.cpu_period_us = ns / 1000;
        } else if (!strcmp(opt, "--link")) {
            if (!parse_link(val, &links[spec.n_links++])) {
                fprintf(stderr, "sfclab add-guest: --link %s: expected BRIDGE or "
                        "BRIDGE=ADDR/LEN\n", argv[i]);
                goto out;
            }
        } else {
            fprintf(stderr, "sfclab add-guest: unknown option '%s'\n", opt);
            goto out;
        }
    }
    period = spec.cpu_period_us ? spec.cpu_period_us : CGROUP_PERIOD_DEFAULT_US;
    if (cgroup_quota_us(spec.cpus, period) < CGROUP_QUOTA_MIN_US) {
        /* Said here: cgroup.c would raise such a quota to the kernel's least unasked. */
        fprintf(stderr, "sfclab add-guest: %g cores per %" PRIu64 "us is a quota under the "
                "kernel's least (1ms): give a longer --period\n", spec.cpus, period);
        goto out;
    }
    rc = 1;
    if (instance_open(&opts, &inst)) {
        goto out;
    }
    instance_catch_interrupts();
    error = instance_add_guest(inst, &spec);
    if (error) {
        fprintf(stderr, "sfclab add-guest: %s\n", strerror(error));
        rc = error == EEXIST || error == ENOENT || error == EINVAL ? 2 : 1;
        goto out;
    }
    printf("guest '%s' added to instance '%s' (management %s)\n", spec.name, inst->name,
           inet_ntoa(instance_find_guest(inst, spec.name)->mgmt_addr));
    rc = 0;
out:
    instance_close(inst);
    free(links);
    return rc;
}

int
cmd_remove_guest(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct instance_opts opts = opts_from_ctx(ctx);
    struct instance *inst;
    int error;

    if (instance_open(&opts, &inst)) {
        return 1;
    }
    error = instance_remove_guest(inst, argv[0]);
    instance_close(inst);
    if (error) {
        fprintf(stderr, "sfclab remove-guest: %s\n", strerror(error));
        return error == ENOENT ? 2 : 1;
    }
    return 0;
}
