/* pause — a slow replica: the guest's cgroup freezer stops its processes (its kernel stack
 * still answers ARP and queues packets), and thawing lets them catch up. */
#include <errno.h>
#include <string.h>

#include "injectors/inject.h"
#include "testbed/infra/instance.h"
#include "testbed/infra/provider.h"
#include "vnfs/lib/util.h"

static const char *const pause_modes[] = { "freeze", NULL };

static int
pause_check(struct inject_fault *f)
{
    if (!f->ig->guest || guest_state(f->ig->guest) == GUEST_GONE) {
        log_err("%s: guest %s is not running", f->target, f->guest);
        return ESRCH;
    }
    return 0;
}

static int
pause_apply(struct inject_fault *f)
{
    int error = guest_pause(f->ig->guest);

    if (error) {
        log_err("%s: cannot freeze guest %s (%s)", f->target, f->guest, strerror(error));
    }
    return error;
}

static int
pause_heal(struct inject_fault *f)
{
    int error = guest_resume(f->ig->guest);

    if (error) {
        log_err("%s: cannot thaw guest %s (%s)", f->target, f->guest, strerror(error));
    }
    return error;
}

const struct inject_kind inject_pause = {
    .name = "pause",
    .modes = pause_modes,
    .check = pause_check,
    .apply = pause_apply,
    .heal = pause_heal,
};
