/* sfclab capture: a pcap of a guest's or a deployed component's traffic (testbed/infra/capture.h). */

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testbed/cli/commands.h"
#include "testbed/infra/capture.h"
#include "testbed/infra/instance.h"
#include "vnfs/lib/util.h"

/* The guests a deployed component runs on, from the deployment's map: "vnf[0].replica[1]" is
 * one, "vnf[0]" every replica of vnf[0] (or vnf[0] itself), a bare role its first: "sff" is
 * "sff[0]". Returns how many were added to *guestsp. */
static size_t
component_guests(struct instance *inst, const char *target, char ***guestsp)
{
    char *path = xasprintf("%s/deploy.json", inst->dir);
    char *name0 = strchr(target, '[') ? xstrdup(target) : xasprintf("%s[0]", target);
    char *replicas = xasprintf("%s.replica[", name0);
    json_t *root = json_load_file(path, 0, NULL), *c;
    char **guests = NULL;
    size_t i, n = 0;

    json_array_foreach(json_object_get(root, "components"), i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *g = json_string_value(json_object_get(c, "guest"));
        if (name && g && (!strcmp(name, target) || !strcmp(name, name0)
                          || !strncmp(name, replicas, strlen(replicas)))) {
            guests = xrealloc(guests, (n + 1) * sizeof *guests);
            guests[n++] = xstrdup(g);
        }
    }
    json_decref(root);
    free(replicas);
    free(name0);
    free(path);
    *guestsp = guests;
    return n;
}

static int PRINTF_FORMAT(1, 2)
usage_error(const char *fmt, ...)
{
    va_list args;

    fprintf(stderr, "sfclab capture: ");
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fprintf(stderr, "\nusage: sfclab capture COMPONENT|GUEST -w FILE [-c COUNT] [-t SECONDS] "
            "[--bridge BRIDGE]\n");
    return 2;
}

int
cmd_capture(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct instance_opts opts = {
        .name = ctx->instance, .state_dir = ctx->state_dir, .verbose = ctx->verbose,
    };
    struct capture_opts copts = { .bridge = NULL };
    const char *target = NULL, **ports = NULL;
    struct instance *inst = NULL;
    struct capture *cap = NULL;
    char **guests = NULL;
    uint64_t duration_ns = 0, n = 0, deadline;
    size_t n_ports = 0, n_guests = 0;
    int error, status = 1;

    for (int i = 0; i < argc; i++) {
        const char *opt = argv[i], *value = NULL;
        char *end;

        if (!strcmp(opt, "-w") || !strcmp(opt, "-c") || !strcmp(opt, "-t")
            || !strcmp(opt, "--bridge")) {
            if (i + 1 >= argc) {
                return usage_error("%s needs a value", opt);
            }
            value = argv[++i];
        }
        if (!strcmp(opt, "-w")) {
            copts.path = value;
        } else if (!strcmp(opt, "-c")) {
            copts.max_packets = strtoull(value, &end, 10);
            if (*end || !copts.max_packets) {
                return usage_error("-c '%s': expected a count above 0", value);
            }
        } else if (!strcmp(opt, "-t")) {
            if (!parse_duration(value, &duration_ns) || !duration_ns) {
                return usage_error("-t '%s': expected a duration such as 5 or 500ms", value);
            }
        } else if (!strcmp(opt, "--bridge")) {
            copts.bridge = value;
        } else if (opt[0] == '-' || target) {
            return usage_error("unexpected argument '%s'", opt);
        } else {
            target = opt;
        }
    }
    if (!target || !copts.path) {
        return usage_error("%s", !target ? "which component or guest?" : "-w FILE is needed");
    }
    if (instance_open(&opts, &inst)) {
        return 1;
    }
    if (instance_find_guest(inst, target)) {
        guests = xmalloc(sizeof *guests);
        guests[n_guests++] = xstrdup(target);
    } else {
        n_guests = component_guests(inst, target, &guests);
        if (!n_guests) {
            fprintf(stderr, "sfclab capture: no guest or deployed component '%s' in instance "
                    "'%s'\n", target, inst->name);
            status = 2;
            goto out;
        }
    }
    for (size_t i = 0; i < n_guests; i++) {
        const char **more;
        size_t n_more;

        if (capture_guest_ports(inst, guests[i], copts.bridge, &more, &n_more)) {
            fprintf(stderr, "sfclab capture: %s has no port on bridge %s\n", guests[i],
                    copts.bridge ? copts.bridge : "data");
            status = 2;
            goto out;
        }
        ports = xrealloc(ports, (n_ports + n_more) * sizeof *ports);
        memcpy(&ports[n_ports], more, n_more * sizeof *more);
        n_ports += n_more;
        free(more);
    }
    copts.ports = ports;
    copts.n_ports = n_ports;
    instance_catch_interrupts();
    if (capture_start(inst, &copts, &cap)) {
        goto out;
    }
    fprintf(stderr, "capturing %s (%zu port%s of guest%s", target, n_ports,
            n_ports == 1 ? "" : "s", n_guests == 1 ? "" : "s");
    for (size_t i = 0; i < n_guests; i++) {
        fprintf(stderr, " %s", guests[i]);
    }
    fprintf(stderr, ") on %s into %s (Ctrl-C stops)\n", copts.bridge ? copts.bridge : "data",
            copts.path);
    deadline = duration_ns ? time_mono_ns() + duration_ns : UINT64_MAX;
    while (!capture_done(cap) && !instance_interrupted() && time_mono_ns() < deadline) {
        usleep(20000);
    }
    error = capture_stop(cap, &n);
    printf("%llu packets written to %s\n", (unsigned long long) n, copts.path);
    status = error ? 1 : 0;
out:
    free(ports);
    for (size_t i = 0; i < n_guests; i++) {
        free(guests[i]);
    }
    free(guests);
    instance_close(inst);
    return status;
}
