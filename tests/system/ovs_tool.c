/* ovs-tool — drives testbed/infra/ovs.h from shell for tests/system/ovs.sh and bench/ovs-start.
 *
 * Each subcommand is one library call (or one batch), so the system test exercises exactly what
 * `sfclab up/down` will: start in one process, configure and stop from others (ovs_open).
 * Exit status: 0 ok, 1 the call failed, 2 bad usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testbed/infra/manifest.h"
#include "testbed/infra/ovs.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

static int
fail(const char *what, int error)
{
    fprintf(stderr, "ovs-tool: %s: %s\n", what, strerror(error));
    return 1;
}

static int
open_or_fail(const char *run_dir, struct ovs **ovsp)
{
    int error = ovs_open(run_dir, ovsp);
    if (error) {
        fail("ovs_open", error);
    }
    return error;
}

static char *
read_stdin(void)
{
    struct buf b = BUF_INITIALIZER;
    char chunk[4096];
    size_t n;

    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) {
        buf_put(&b, chunk, n);
    }
    buf_put_u8(&b, 0);
    return (char *) buf_steal(&b, NULL);
}

/* start RUN_DIR NETNS_PATH|- [MANIFEST_DIR] */
static int
cmd_start(int argc, char *argv[])
{
    struct manifest *m = NULL;
    struct ovs *ovs;
    int error;

    if (argc > 4) {
        error = manifest_open(argv[4], &m);
        if (error) {
            return fail("manifest_open", error);
        }
    }
    error = ovs_start(argv[2], strcmp(argv[3], "-") ? argv[3] : NULL, m, &ovs);
    manifest_close(m);
    if (error) {
        return fail("ovs_start", error);
    }
    printf("ready_ms=%.1f\n", ovs_ready_ms(ovs));
    ovs_close(ovs);
    return 0;
}

/* add-br RUN_DIR BRIDGE secure|standalone [PORT TYPE]... : one transaction */
static int
cmd_add_br(int argc, char *argv[])
{
    struct ovs_txn *txn;
    struct ovs *ovs;
    int error;

    if (open_or_fail(argv[2], &ovs)) {
        return 1;
    }
    txn = ovs_txn_create(ovs);
    ovs_txn_add_bridge(txn, argv[3], !strcmp(argv[4], "secure") ? OVS_FAIL_SECURE
                                                                 : OVS_FAIL_STANDALONE);
    for (int i = 5; i + 1 < argc; i += 2) {
        ovs_txn_add_port(txn, argv[3], argv[i], strcmp(argv[i + 1], "-") ? argv[i + 1] : "");
    }
    error = ovs_txn_commit(txn);
    ovs_close(ovs);
    return error ? fail("ovs_txn_commit", error) : 0;
}

/* add-ports RUN_DIR BRIDGE PORT... : one transaction of system ports, then prints ofports */
static int
cmd_add_ports(int argc, char *argv[])
{
    int n = argc - 4;
    int *ofports = xcalloc(n, sizeof *ofports);
    struct ovs_txn *txn;
    struct ovs *ovs;
    int error;

    if (open_or_fail(argv[2], &ovs)) {
        free(ofports);
        return 1;
    }
    txn = ovs_txn_create(ovs);
    for (int i = 0; i < n; i++) {
        ovs_txn_add_port(txn, argv[3], argv[4 + i], "");
    }
    error = ovs_txn_commit(txn);
    if (!error) {
        error = ovs_get_ofports(ovs, (const char *const *) &argv[4], n, ofports);
    }
    for (int i = 0; !error && i < n; i++) {
        printf("%d%c", ofports[i], i + 1 < n ? ' ' : '\n');
    }
    ovs_close(ovs);
    free(ofports);
    return error ? fail("add-ports", error) : 0;
}

/* del-port RUN_DIR BRIDGE PORT ; del-br RUN_DIR BRIDGE */
static int
cmd_del(int argc, char *argv[])
{
    struct ovs_txn *txn;
    struct ovs *ovs;
    int error;

    if (open_or_fail(argv[2], &ovs)) {
        return 1;
    }
    txn = ovs_txn_create(ovs);
    if (argc > 4) {
        ovs_txn_del_port(txn, argv[3], argv[4]);
    } else {
        ovs_txn_del_bridge(txn, argv[3]);
    }
    error = ovs_txn_commit(txn);
    ovs_close(ovs);
    return error ? fail("delete", error) : 0;
}

/* ofports RUN_DIR NAME... */
static int
cmd_ofports(int argc, char *argv[])
{
    int n = argc - 3;
    int *ofports = xcalloc(n, sizeof *ofports);
    struct ovs *ovs;
    int error;

    if (open_or_fail(argv[2], &ovs)) {
        free(ofports);
        return 1;
    }
    error = ovs_get_ofports(ovs, (const char *const *) &argv[3], n, ofports);
    for (int i = 0; !error && i < n; i++) {
        printf("%d%c", ofports[i], i + 1 < n ? ' ' : '\n');
    }
    ovs_close(ovs);
    free(ofports);
    return error ? fail("ovs_get_ofports", error) : 0;
}

/* flows|groups|meters add|del RUN_DIR BRIDGE [MATCH]; specs to add come on stdin */
static int
cmd_openflow(int argc, char *argv[])
{
    const char *kind = argv[1], *op = argv[2];
    const char *match = argc > 5 ? argv[5] : NULL;
    bool add = !strcmp(op, "add");
    char *text = add ? read_stdin() : NULL;
    struct ovs *ovs;
    int error;

    if (open_or_fail(argv[3], &ovs)) {
        free(text);
        return 1;
    }
    if (!strcmp(kind, "flows")) {
        error = add ? ovs_flows_add(ovs, argv[4], text) : ovs_flows_del(ovs, argv[4], match);
    } else if (!strcmp(kind, "groups")) {
        error = add ? ovs_groups_add(ovs, argv[4], text) : ovs_groups_del(ovs, argv[4], match);
    } else {
        error = add ? ovs_meters_add(ovs, argv[4], text) : ovs_meters_del(ovs, argv[4], match);
    }
    ovs_close(ovs);
    free(text);
    return error ? fail(kind, error) : 0;
}

/* dump-flows RUN_DIR BRIDGE */
static int
cmd_dump_flows(int argc, char *argv[])
{
    struct ovs *ovs;
    char *text = NULL;
    int error;

    if (open_or_fail(argv[2], &ovs)) {
        return 1;
    }
    error = ovs_flows_dump(ovs, argv[3], &text);
    if (!error) {
        fputs(text, stdout);
    }
    free(text);
    ovs_close(ovs);
    return error ? fail("ovs_flows_dump", error) : 0;
}

/* stats RUN_DIR BRIDGE OFPORT */
static int
cmd_stats(int argc, char *argv[])
{
    struct ovs_port_stats s;
    struct ovs *ovs;
    int error;

    if (open_or_fail(argv[2], &ovs)) {
        return 1;
    }
    error = ovs_port_stats(ovs, argv[3], atoi(argv[4]), &s);
    if (!error) {
        printf("rx_packets=%llu tx_packets=%llu rx_bytes=%llu tx_bytes=%llu\n",
               (unsigned long long) s.rx_packets, (unsigned long long) s.tx_packets,
               (unsigned long long) s.rx_bytes, (unsigned long long) s.tx_bytes);
    }
    ovs_close(ovs);
    return error ? fail("ovs_port_stats", error) : 0;
}

/* stop RUN_DIR */
static int
cmd_stop(int argc, char *argv[])
{
    struct ovs *ovs;
    int error;

    if (open_or_fail(argv[2], &ovs)) {
        return 1;
    }
    error = ovs_stop(ovs);
    return error ? fail("ovs_stop", error) : 0;
}

/* undo MANIFEST_DIR */
static int
cmd_undo(int argc, char *argv[])
{
    int error = manifest_undo(argv[2], false);
    return error ? fail("manifest_undo", error) : 0;
}

/* Expects 'error' to be 'expected'; says so either way. */
static bool
expect(const char *what, int error, int expected)
{
    if (error != expected) {
        fprintf(stderr, "ovs-tool: %s: got %s, expected %s\n", what,
                error ? strerror(error) : "success", expected ? strerror(expected) : "success");
        return false;
    }
    printf("ok: %s -> %s\n", what, error ? strerror(error) : "success");
    return true;
}

/* errors RUN_DIR BRIDGE : the failures a caller must see, against a live instance */
static int
cmd_errors(int argc, char *argv[])
{
    const char *bridge = argv[3];
    const char *missing[] = { "sfct-nosuch0" };
    struct ovs_txn *txn;
    struct ovs *ovs;
    int ofport;
    bool ok = true;

    if (open_or_fail(argv[2], &ovs)) {
        return 1;
    }
    txn = ovs_txn_create(ovs);
    ovs_txn_add_port(txn, "sfct-nobridge", "sfct-p0", "internal");
    ok &= expect("add port to a missing bridge", ovs_txn_commit(txn), ENOENT);

    txn = ovs_txn_create(ovs);
    ovs_txn_del_port(txn, bridge, "sfct-nosuch0");
    ok &= expect("delete a missing port", ovs_txn_commit(txn), ENOENT);

    txn = ovs_txn_create(ovs);
    ovs_txn_add_port(txn, bridge, "name/with/slashes", "");
    ok &= expect("bad port name", ovs_txn_commit(txn), EINVAL);

    txn = ovs_txn_create(ovs);
    ovs_txn_add_bridge(txn, bridge, OVS_FAIL_SECURE);
    ok &= expect("a bridge that exists already", ovs_txn_commit(txn), EINVAL);

    ok &= expect("ofport of a missing interface",
                 ovs_get_ofports(ovs, missing, 1, &ofport), ENOENT);
    ok &= expect("a bad flow", ovs_flows_add(ovs, bridge, "in_port=1,actions=frobnicate\n"),
                 EIO);

    /* An internal port added and deleted in separate batches leaves no trace. */
    txn = ovs_txn_create(ovs);
    ovs_txn_add_port_ext(txn, bridge, "sfct-int0", "internal", 77, NULL);
    ok &= expect("add internal port with ofport_request", ovs_txn_commit(txn), 0);
    {
        const char *names[] = { "sfct-int0" };
        ok &= expect("its ofport", ovs_get_ofports(ovs, names, 1, &ofport), 0);
        if (ofport != 77) {
            fprintf(stderr, "ovs-tool: ofport %d, asked for 77\n", ofport);
            ok = false;
        }
    }
    txn = ovs_txn_create(ovs);
    ovs_txn_del_port(txn, bridge, "sfct-int0");
    ok &= expect("delete it", ovs_txn_commit(txn), 0);
    ok &= expect("it is gone", ovs_get_ofports(ovs, (const char *[]) { "sfct-int0" }, 1,
                                               &ofport), ENOENT);
    ovs_close(ovs);
    return ok ? 0 : 1;
}

/* scale RUN_DIR BRIDGE N : N internal ports in one transaction; all must get distinct
 * ofports. Prints the time of the commit and of the ofport lookup. */
static int
cmd_scale(int argc, char *argv[])
{
    int n = atoi(argv[4]);
    char **names = xcalloc(n > 0 ? n : 1, sizeof *names);
    int *ofports = xcalloc(n > 0 ? n : 1, sizeof *ofports);
    struct ovs_txn *txn;
    struct ovs *ovs = NULL;
    uint64_t t0, t1, t2;
    int error = 0;

    if (n <= 0 || n > 1000) {
        fprintf(stderr, "ovs-tool: scale: N must be 1..1000\n");
        error = EINVAL;
        goto out;
    }
    if (open_or_fail(argv[2], &ovs)) {
        error = ENOENT;
        goto out;
    }
    txn = ovs_txn_create(ovs);
    for (int i = 0; i < n; i++) {
        names[i] = xasprintf("sfct-s%d", i);
        ovs_txn_add_port(txn, argv[3], names[i], "internal");
    }
    t0 = time_mono_ns();
    error = ovs_txn_commit(txn);
    t1 = time_mono_ns();
    if (!error) {
        error = ovs_get_ofports(ovs, (const char *const *) names, n, ofports);
    }
    t2 = time_mono_ns();
    for (int i = 0; !error && i < n; i++) {
        for (int j = 0; j < i; j++) {
            if (ofports[i] <= 0 || ofports[i] == ofports[j]) {
                fprintf(stderr, "ovs-tool: %s and %s share ofport %d\n", names[i], names[j],
                        ofports[i]);
                error = EEXIST;
                break;
            }
        }
    }
    if (!error) {
        txn = ovs_txn_create(ovs);
        for (int i = 0; i < n; i++) {
            ovs_txn_del_port(txn, argv[3], names[i]);
        }
        error = ovs_txn_commit(txn);
    }
    if (!error) {
        printf("%d ports: one transaction applied in %.1f ms, ofports known %.1f ms later\n",
               n, (t1 - t0) / 1e6, (t2 - t1) / 1e6);
    }
    /* The baseline, measured in the same run: one transaction per port, as a loop of
     * `ovs-vsctl add-port` would do (without its fork/exec). */
    if (!error && argc > 5 && !strcmp(argv[5], "compare")) {
        uint64_t b0 = time_mono_ns(), b1;

        for (int i = 0; !error && i < n; i++) {
            txn = ovs_txn_create(ovs);
            ovs_txn_add_port(txn, argv[3], names[i], "internal");
            error = ovs_txn_commit(txn);
        }
        b1 = time_mono_ns();
        txn = ovs_txn_create(ovs);
        for (int i = 0; !error && i < n; i++) {
            ovs_txn_del_port(txn, argv[3], names[i]);
        }
        error = error ? error : ovs_txn_commit(txn);
        if (!error) {
            printf("%d ports: one transaction per port took %.1f ms; batching is %.1fx faster\n",
                   n, (b1 - b0) / 1e6, (double) (b1 - b0) / (t1 - t0));
        }
    }
out:
    for (int i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    free(ofports);
    ovs_close(ovs);
    return error ? fail("scale", error) : 0;
}

static int
compare_double(const void *a_, const void *b_)
{
    double a = *(const double *) a_, b = *(const double *) b_;
    return a < b ? -1 : a > b;
}

/* bench N NETNS_PATH|- : start, one bridge, stop; medians of N. No manifest, nothing left. */
static int
cmd_bench(int argc, char *argv[])
{
    int n = atoi(argv[2]);
    const char *netns = strcmp(argv[3], "-") ? argv[3] : NULL;
    double *ready = xcalloc(n > 0 ? n : 1, sizeof *ready);
    double *bridge = xcalloc(n > 0 ? n : 1, sizeof *bridge);
    double *stop = xcalloc(n > 0 ? n : 1, sizeof *stop);
    int error = 0;

    if (n <= 0 || n > 100) {
        fprintf(stderr, "ovs-tool: bench: N must be 1..100\n");
        error = EINVAL;
        goto out;
    }
    for (int i = 0; i < n && !error; i++) {
        char *dir = xasprintf("/tmp/sfct-ovs-bench-%d-%d", (int) getpid(), i);
        struct ovs_txn *txn;
        struct ovs *ovs;
        uint64_t t0;

        error = ovs_start(dir, netns, NULL, &ovs);
        if (!error) {
            txn = ovs_txn_create(ovs);
            ovs_txn_add_bridge(txn, "data", OVS_FAIL_SECURE);
            error = ovs_txn_commit(txn);
            ready[i] = ovs_ready_ms(ovs);
            bridge[i] = ovs_bridge_ready_ms(ovs);
            t0 = time_mono_ns();
            error = ovs_stop(ovs) ? EIO : error;
            stop[i] = (time_mono_ns() - t0) / 1e6;
        }
        for (const char *const *f = (const char *const[]) { "ovsdb-server.log",
                                                            "ovs-vswitchd.log", NULL };
             *f; f++) {
            char *path = xasprintf("%s/%s", dir, *f);
            unlink(path);
            free(path);
        }
        rmdir(dir);
        free(dir);
    }
    if (!error) {
        qsort(ready, n, sizeof *ready, compare_double);
        qsort(bridge, n, sizeof *bridge, compare_double);
        qsort(stop, n, sizeof *stop, compare_double);
        printf("ovs-start: daemons ready %.1f ms, bridge usable %.1f ms, stop %.1f ms "
               "(medians of %d; min/max bridge %.1f/%.1f ms)\n",
               ready[n / 2], bridge[n / 2], stop[n / 2], n, bridge[0], bridge[n - 1]);
    }
out:
    free(ready);
    free(bridge);
    free(stop);
    return error ? fail("bench", error) : 0;
}

static const struct {
    const char *name;
    int min_args, max_args;     /* After the subcommand. */
    int (*handler)(int argc, char *argv[]);
    const char *usage;
} commands[] = {
    { "start", 2, 3, cmd_start, "RUN_DIR NETNS_PATH|- [MANIFEST_DIR]" },
    { "add-br", 3, 99, cmd_add_br, "RUN_DIR BRIDGE secure|standalone [PORT TYPE|-]..." },
    { "add-ports", 3, 99, cmd_add_ports, "RUN_DIR BRIDGE PORT..." },
    { "del-port", 3, 3, cmd_del, "RUN_DIR BRIDGE PORT" },
    { "del-br", 2, 2, cmd_del, "RUN_DIR BRIDGE" },
    { "ofports", 2, 99, cmd_ofports, "RUN_DIR NAME..." },
    { "flows", 3, 4, cmd_openflow, "add|del RUN_DIR BRIDGE [MATCH]" },
    { "groups", 3, 4, cmd_openflow, "add|del RUN_DIR BRIDGE [MATCH]" },
    { "meters", 3, 4, cmd_openflow, "add|del RUN_DIR BRIDGE [MATCH]" },
    { "dump-flows", 2, 2, cmd_dump_flows, "RUN_DIR BRIDGE" },
    { "stats", 3, 3, cmd_stats, "RUN_DIR BRIDGE OFPORT" },
    { "stop", 1, 1, cmd_stop, "RUN_DIR" },
    { "undo", 1, 1, cmd_undo, "MANIFEST_DIR" },
    { "errors", 2, 2, cmd_errors, "RUN_DIR BRIDGE" },
    { "scale", 3, 4, cmd_scale, "RUN_DIR BRIDGE N [compare]" },
    { "bench", 2, 2, cmd_bench, "N NETNS_PATH|-" },
};

int
main(int argc, char *argv[])
{
    log_set_program("ovs-tool");
    for (size_t i = 0; argc > 1 && i < ARRAY_SIZE(commands); i++) {
        if (!strcmp(argv[1], commands[i].name)) {
            if (argc - 2 < commands[i].min_args || argc - 2 > commands[i].max_args) {
                fprintf(stderr, "usage: ovs-tool %s %s\n", commands[i].name,
                        commands[i].usage);
                return 2;
            }
            return commands[i].handler(argc, argv);
        }
    }
    fprintf(stderr, "usage: ovs-tool COMMAND ARGS (commands:");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        fprintf(stderr, " %s", commands[i].name);
    }
    fprintf(stderr, ")\n");
    return 2;
}
