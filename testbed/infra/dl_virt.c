/* dl_virt: see dl_virt.h. */

#include "testbed/infra/dl_virt.h"

struct dl_virt dl_virt;
static bool loaded;

static int
resolve_virt(struct dynlib *lib, void *handle, void *table_)
{
    struct dl_virt *table = table_;
    int error = 0;

    DL_VIRT_FUNCS(DYNLIB_RESOLVE)
    return error;
}

static int
resolve_virt_lxc(struct dynlib *lib, void *handle, void *table_)
{
    struct dl_virt *table = table_;
    int error = 0;

    DL_VIRT_LXC_FUNCS(DYNLIB_RESOLVE)
    return error;
}

int
dl_virt_load(void)
{
    static struct dynlib virt = DYNLIB_INIT("libvirt.so.0", "libvirt0");
    static struct dynlib virt_lxc = DYNLIB_INIT("libvirt-lxc.so.0", "libvirt0");
    int error;

    error = dynlib_load(&virt, resolve_virt, &dl_virt);
    if (!error) {
        error = dynlib_load(&virt_lxc, resolve_virt_lxc, &dl_virt);
    }
    if (!error) {
        __atomic_store_n(&loaded, true, __ATOMIC_RELEASE);
    }
    return error;
}

bool
dl_virt_loaded(void)
{
    return __atomic_load_n(&loaded, __ATOMIC_ACQUIRE);
}
