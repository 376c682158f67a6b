/* dynlib: see dynlib.h. */

#include "vnfs/lib/dynlib.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

#include "vnfs/lib/util.h"

void *
dynlib_sym(struct dynlib *lib, void *handle, const char *name, int *errorp)
{
    void *p = dlsym(handle, name);

    if (!p && !*errorp) {
        snprintf(lib->why, sizeof lib->why, "%s: no function %s", lib->soname, name);
        *errorp = ENOENT;
    }
    return p;
}

int
dynlib_load(struct dynlib *lib, int (*resolve)(struct dynlib *, void *, void *), void *table)
{
    void *handle = NULL;
    int error;

    pthread_mutex_lock(&lib->mutex);
    if (lib->tried) {
        error = lib->error;
        goto out;
    }
    lib->tried = true;
    /* RTLD_LOCAL: its symbols stay out of the global scope, so that a library loaded later
     * binds only to what it links itself. */
    handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char *why = dlerror();
        snprintf(lib->why, sizeof lib->why, "%s", why ? why : lib->soname);
        lib->error = ELIBACC;
        goto report;
    }
    lib->error = resolve(lib, handle, table);
report:
    if (lib->error) {
        log_err("cannot load %s (package %s; `make deps` installs it): %s", lib->soname,
                lib->package, lib->why);
    }
    error = lib->error;
out:
    pthread_mutex_unlock(&lib->mutex);
    return error;
}
