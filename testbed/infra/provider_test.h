/* provider_test — what the `test` provider's in-memory guests did, for unit tests.
 *
 * The `test` provider (provider_test.c), like libvirt's test:/// driver, keeps its guests in
 * this process's memory: no root, no namespaces, no guest processes. A guest lives from create
 * to destroy, whatever guest_release() and guest_attach() do in between, so an instance closed
 * and opened again in the same process finds its guests as they were. Each guest's agent
 * answers the orchestrator on an in-process stream (start_role, stop_role, wait_role, stats,
 * roles, ping) and records the roles it was asked to run, so deploy and the schemes can be
 * tested without guests that run anything. This header lets a test look at a guest and change
 * what it will do; nothing outside tests includes it.
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

/* A role its agent was asked to start (start_role). */
struct test_role {
    int id;
    uint64_t seq;               /* Process-wide order of the starts, from 1. */
    char *argv;                 /* The role and its arguments, joined with spaces. */
    bool running;               /* Until stop_role. */
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
    /* Its agent (guest_agent_connect()): the roles started through it, in order, and the
     * exit code wait_role reports for each. What a role answers itself through the agent
     * (stats, ftc_state) is that of a role that is idle and ready. */
    struct test_role *roles;
    size_t n_roles;
    size_t n_agent_calls;       /* Every request it answered. */
    int role_exit_code;
    bool refuse_roles;          /* Its agent refuses start_role (as it refuses a role that
                                 * fails to start). */
};

/* The guest 'name' of instance 'instance', or NULL if none was created (or it was destroyed). */
struct test_guest *provider_test_find(const char *instance, const char *name);
/* Makes the guest's init die as in a crash: its state becomes GUEST_GONE. */
void provider_test_crash(struct test_guest *);
/* The first role of guest 't' whose argv starts with 'prefix' ("sff ", "vnf --iface"), or
 * NULL. */
const struct test_role *provider_test_find_role(struct test_guest *t, const char *prefix);
/* Makes role 'id' of guest 't' end by itself (as a crashed role: its agent says it no longer
 * runs). */
void provider_test_end_role(struct test_guest *t, int id);
/* How many test guests exist in this process. */
size_t provider_test_count(void);

#endif
