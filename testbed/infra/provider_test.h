/* provider_test — what the `test` provider's in-memory guests did, for unit tests.
 *
 * The `test` provider (provider_test.c), like libvirt's test:/// driver, keeps its guests in
 * this process's memory: no root, no namespaces, no guest processes. A guest lives from create
 * to destroy, whatever guest_release() and guest_attach() do in between, so an instance closed
 * and opened again in the same process finds its guests as they were. This header lets a test
 * look at a guest and change what it will do; nothing outside tests includes it.
 * Main type: struct test_guest. */
#ifndef SFC_PROVIDER_TEST_H
#define SFC_PROVIDER_TEST_H 1

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "testbed/infra/provider.h"

struct test_iface {
    char *ifname;
    char *port;
    uint8_t mac[6];
    bool has_addr;
    struct in_addr addr;
    int prefix_len;
    bool up;
};

struct test_guest {
    char *instance;
    char *name;
    enum guest_state state;
    bool created_in_manifest;   /* create() was given a manifest. */
    int exec_status;            /* What every exec'd process exits with (default 0). */
    char **execs;               /* Each exec's argv, joined with spaces. */
    size_t n_execs;
    struct test_iface *ifaces;
    size_t n_ifaces;
    size_t n_neighbours;
    int cpu;                    /* guest_pin()'s last cpu; -1: never pinned or every CPU. */
    uint64_t n_starts;
    char *saved_to;             /* guest_save()'s last path. */
};

/* The guest 'name' of instance 'instance', or NULL if none was created (or it was destroyed). */
struct test_guest *provider_test_find(const char *instance, const char *name);
/* Makes the guest's init die as in a crash: its state becomes GUEST_GONE. */
void provider_test_crash(struct test_guest *);
/* How many test guests exist in this process. */
size_t provider_test_count(void);

#endif
