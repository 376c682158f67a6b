/* dynlib — a shared library loaded with dlopen() the first time something needs it, its
 * functions resolved into a table whose members have the library's own prototypes.
 *
 * Why: a library linked at build time is mapped by every run of the binary, used or not.
 * sfclab linked libvirt (56 libraries with its dependencies) and libplot (about 20, X11's), and
 * sfcd libpcap (9, dbus's and systemd's): each run paid for loading them, and every guest
 * `up` cloned an address space holding them all, to run none of them. Now `sfclab up` of netns
 * guests maps neither, and a guest's sfcd maps libpcap only in a man in the middle.
 *
 * A user declares its table with an X-macro list of function names, DYNLIB_MEMBER() and
 * DYNLIB_RESOLVE() (so the compiler checks every call against the library's header, as a
 * direct call), and loads it once with dynlib_load() before the first call. A user built with
 * DYNLIB_STATIC defined (the static sfcd of the kvm image, which cannot dlopen) fills the same
 * table with the linked functions' addresses instead, with DYNLIB_RESOLVE() alone.
 *
 * Thread-safe; a failed load is remembered and reported the same way each time. Never
 * dlclose()s: a library, once loaded, stays for the life of the process.
 * Main type: struct dynlib. */
#ifndef SFC_DYNLIB_H
#define SFC_DYNLIB_H 1

#include <pthread.h>
#include <stdbool.h>

struct dynlib {
    const char *soname;                 /* E.g. "libvirt.so.0". */
    const char *package;                /* The Debian package that ships it, for the error. */
    pthread_mutex_t mutex;
    bool tried;
    int error;                          /* Of the one attempt: 0 or an errno. */
    char why[256];                      /* dlerror() of a failed attempt. */
};

#define DYNLIB_INIT(SONAME, PACKAGE) \
    { .soname = (SONAME), .package = (PACKAGE), .mutex = PTHREAD_MUTEX_INITIALIZER }

/* A member of a table: a pointer with the type of function 'name'. */
#define DYNLIB_MEMBER(name) __typeof__(&name) name;

#ifdef DYNLIB_STATIC
#define DYNLIB_RESOLVE(name) table->name = &name;
#else
/* Resolves 'name' into 'table' (the resolver's argument names: table, handle, lib, error). */
#define DYNLIB_RESOLVE(name) \
    table->name = (__typeof__(&name)) dynlib_sym(lib, handle, #name, &error);
#endif

/* Opens 'lib' once and calls 'resolve(lib, handle, table)' with it, which fills 'table' and
 * returns 0 or an errno. Returns 0, or the error of the first attempt (ELIBACC: the library is
 * missing, logged once with its package; ENOENT: a function is missing from it). */
int dynlib_load(struct dynlib *lib, int (*resolve)(struct dynlib *, void *handle, void *table),
                void *table);
/* For DYNLIB_RESOLVE: the address of 'name' in 'handle', or NULL with *errorp set (once). */
void *dynlib_sym(struct dynlib *, void *handle, const char *name, int *errorp);

#endif
