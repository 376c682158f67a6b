/* `sfclab link GUEST[:IFACE] set K=V...` and `sfclab link GUEST[:IFACE] show`: a running link's
 * impairments (testbed/infra/shaper.h), changed in place. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/cli/commands.h"
#include "testbed/infra/instance.h"
#include "testbed/infra/shaper.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

/* GUEST[:IFACE]: the interface, or the guest's first data interface. */
static struct instance_iface *
find_iface(struct instance *inst, const char *spec, struct instance_guest **igp, size_t *idxp)
{
    char *guest = xstrdup(spec), *colon = strchr(guest, ':');
    struct instance_guest *ig;
    struct instance_iface *f = NULL;

    if (colon) {
        *colon = '\0';
    }
    ig = instance_find_guest(inst, guest);
    for (size_t i = 1; ig && i < ig->n_ifaces && !f; i++) {
        if (!colon || !strcmp(ig->ifaces[i].ifname, colon + 1)) {
            f = &ig->ifaces[i];
            *idxp = i;
        }
    }
    if (!f) {
        fprintf(stderr, "sfclab link: no %s '%s' in instance '%s'\n",
                ig ? "data interface" : "guest", ig && colon ? colon + 1 : guest, inst->name);
    }
    *igp = ig;
    free(guest);
    return f;
}

int
cmd_link(struct cli_ctx *ctx, int argc, char *argv[])
{
    struct instance_opts opts = { .name = ctx->instance, .state_dir = ctx->state_dir,
                                  .verbose = ctx->verbose };
    struct instance *inst = NULL;
    struct instance_guest *ig;
    struct instance_iface *f;
    struct buf mech = BUF_INITIALIZER;
    int status = 1, error;
    size_t idx = 0;

    if (strcmp(argv[1], "set") && strcmp(argv[1], "show")) {
        fprintf(stderr, "sfclab link: expected 'set' or 'show', not '%s'\n", argv[1]);
        return 2;
    }
    if (!strcmp(argv[1], "set") && argc < 3) {
        fprintf(stderr, "sfclab link: set what? (e.g. delay=10ms loss=1%% egress.rate=10mbit)\n");
        return 2;
    }
    if (instance_open(&opts, &inst)) {
        return 1;
    }
    f = find_iface(inst, argv[0], &ig, &idx);
    if (!f) {
        status = 2;
        goto out;
    }
    if (!strcmp(argv[1], "show")) {
        char *path = xasprintf("%s/links/%s-%s", inst->dir, ig->name, f->ifname), *text = NULL;
        if (read_file(path, &text, NULL)) {
            printf("%s:%s: bare (no impairment)\n", ig->name, f->ifname);
        } else {
            printf("%s:%s:\n%s", ig->name, f->ifname, text);
        }
        free(text);
        free(path);
        status = 0;
        goto out;
    }
    error = shaper_update_instance(inst, ig->name, f->ifname, argv + 2, argc - 2, &mech);
    if (!error) {
        fwrite(mech.data, 1, mech.len, stdout);
        status = 0;
    } else {
        status = error == EINVAL ? 2 : 1;
    }
out:
    buf_uninit(&mech);
    instance_close(inst);
    return status;
}
