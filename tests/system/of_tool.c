/* of-tool — drives testbed/infra/openflow.h from shell, for tests/system/openflow.sh and
 * bench/openflow.sh: every request of a run goes over ONE connection to the bridge.
 *
 *   of-tool apply RUN_DIR BRIDGE       requests on stdin, one a line, then a barrier:
 *       add|mod|mod-strict|del|del-strict FLOW      (ovs-ofctl's syntax, the subset openflow.h
 *       group-add|group-mod GROUP                    encodes, e.g. "priority=5,ip,nw_dst=10.0.0.1,
 *       group-del ID|all                             actions=set_field:2->nsh_si,output:3")
 *       barrier                                     (also after the last line)
 *       sleep MS                                    (idle: the switch may drop us meanwhile)
 *   of-tool bench RUN_DIR BRIDGE N PORT_A PORT_B [channel|fork|group]
 *       the cost of one steering change (a flow re-pointed from PORT_A to PORT_B and back),
 *       confirmed by a barrier, over the persistent channel and by one `ovs-ofctl add-flow`
 *       fork; prints medians and the ratio (with a mode: that median and the opening time);
 *       group: a fast-failover group over the two ports, its preference swapped each time.
 *
 * The spec parser here is test code for trusted input; the library never parses text.
 * Exit status: 0 ok, 1 a request failed (the switch's words on stderr), 2 bad usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testbed/infra/openflow.h"
#include "vnfs/lib/util.h"

extern char **environ;

static void NO_RETURN
usage(void)
{
    fprintf(stderr, "usage: of-tool apply RUN_DIR BRIDGE < requests\n"
                    "       of-tool bench RUN_DIR BRIDGE N PORT_A PORT_B [channel|fork|group]\n");
    exit(2);
}

static bool
parse_mac(const char *s, uint8_t mac[6])
{
    unsigned int b[6];
    char end;

    if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = b[i];
    }
    return true;
}

static bool
parse_u32(const char *s, uint32_t *v)
{
    char *end;
    unsigned long long x;

    errno = 0;
    x = strtoull(s, &end, 0);
    if (errno || end == s || *end || x > UINT32_MAX) {
        return false;
    }
    *v = x;
    return true;
}

static bool
parse_port(const char *s, uint32_t *port)
{
    static const struct { const char *name; uint32_t port; } names[] = {
        { "in_port", OF_PORT_IN_PORT }, { "normal", OF_PORT_NORMAL },
        { "flood", OF_PORT_FLOOD }, { "all", OF_PORT_ALL },
        { "controller", OF_PORT_CONTROLLER }, { "local", OF_PORT_LOCAL },
    };
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if (!strcasecmp(s, names[i].name)) {
            *port = names[i].port;
            return true;
        }
    }
    return parse_u32(s, port);
}

static bool
parse_ipv4(const char *s, uint32_t *addr, int *plen)
{
    char buf[64];
    char *slash;
    struct in_addr in;

    snprintf(buf, sizeof buf, "%s", s);
    slash = strchr(buf, '/');
    *plen = 32;
    if (slash) {
        *slash = '\0';
        *plen = atoi(slash + 1);
    }
    if (!inet_aton(buf, &in)) {
        return false;
    }
    *addr = in.s_addr;
    return true;
}

/* One "key=value" (or bare "ip"/"udp") of a match, into 'm'. */
static bool
parse_match_field(struct of_match *m, const char *key, const char *value)
{
    uint32_t v;
    uint8_t mac[6];
    int plen;

    if (!strcmp(key, "ip") && !value) {
        of_match_eth_type(m, 0x0800);
    } else if (!strcmp(key, "udp") && !value) {
        of_match_ip_proto(m, 17);
    } else if (!value) {
        return false;
    } else if (!strcmp(key, "in_port")) {
        return parse_port(value, &v) && (of_match_in_port(m, v), true);
    } else if (!strcmp(key, "dl_dst") || !strcmp(key, "eth_dst")) {
        return parse_mac(value, mac) && (of_match_eth_dst(m, mac), true);
    } else if (!strcmp(key, "dl_src") || !strcmp(key, "eth_src")) {
        return parse_mac(value, mac) && (of_match_eth_src(m, mac), true);
    } else if (!strcmp(key, "dl_type") || !strcmp(key, "eth_type")) {
        return parse_u32(value, &v) && v <= 0xffff && (of_match_eth_type(m, v), true);
    } else if (!strcmp(key, "nw_proto") || !strcmp(key, "ip_proto")) {
        return parse_u32(value, &v) && v <= 0xff && (of_match_ip_proto(m, v), true);
    } else if (!strcmp(key, "nw_src") || !strcmp(key, "ip_src")) {
        return parse_ipv4(value, &v, &plen) && (of_match_ipv4_src(m, v, plen), true);
    } else if (!strcmp(key, "nw_dst") || !strcmp(key, "ip_dst")) {
        return parse_ipv4(value, &v, &plen) && (of_match_ipv4_dst(m, v, plen), true);
    } else if (!strcmp(key, "tp_src") || !strcmp(key, "udp_src")) {
        return parse_u32(value, &v) && v <= 0xffff && (of_match_udp_src(m, v), true);
    } else if (!strcmp(key, "tp_dst") || !strcmp(key, "udp_dst")) {
        return parse_u32(value, &v) && v <= 0xffff && (of_match_udp_dst(m, v), true);
    } else if (!strcmp(key, "nsh_spi")) {
        return parse_u32(value, &v) && (of_match_nsh_spi(m, v), true);
    } else if (!strcmp(key, "nsh_si")) {
        return parse_u32(value, &v) && v <= 0xff && (of_match_nsh_si(m, v), true);
    } else {
        return false;
    }
    return true;
}

/* "output:3,group:2,set_field:1->nsh_si,drop" into 'acts'. Modifies 's'. */
static bool
parse_actions(char *s, struct of_actions *acts)
{
    char *save = NULL;

    for (char *a = strtok_r(s, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        uint32_t v;

        if (!strcmp(a, "drop")) {
            continue;
        } else if (!strncmp(a, "output:", 7)) {
            if (!parse_port(a + 7, &v)) {
                return false;
            }
            of_actions_output(acts, v);
        } else if (!strncmp(a, "group:", 6)) {
            if (!parse_u32(a + 6, &v)) {
                return false;
            }
            of_actions_group(acts, v);
        } else if (!strncmp(a, "set_field:", 10)) {
            char *arrow = strstr(a, "->");
            if (!arrow) {
                return false;
            }
            *arrow = '\0';
            if (!parse_match_field(of_actions_set_field(acts), arrow + 2, a + 10)) {
                return false;
            }
        } else {
            return false;
        }
    }
    return true;
}

/* A flow in ovs-ofctl syntax; "actions=" takes the rest of the line. */
static bool
parse_flow(const char *spec, struct of_flow *f)
{
    char *copy = xstrdup(spec), *actions = strstr(copy, "actions=");
    char *save = NULL;
    bool ok = true;

    memset(f, 0, sizeof *f);
    f->priority = 32768;
    if (actions) {
        actions[-(actions > copy)] = '\0';
        ok = parse_actions(actions + 8, &f->actions);
    }
    for (char *kv = strtok_r(copy, ",", &save); ok && kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        uint32_t v;

        if (eq) {
            *eq++ = '\0';
        }
        if (!strcmp(kv, "table") && eq) {
            ok = parse_u32(eq, &v) && v <= 255;
            f->table_id = v;
        } else if (!strcmp(kv, "priority") && eq) {
            ok = parse_u32(eq, &v) && v <= 0xffff;
            f->priority = v;
        } else if (!strcmp(kv, "cookie") && eq) {
            char *slash = strchr(eq, '/');
            f->cookie_mask = UINT64_MAX;
            if (slash) {
                *slash = '\0';
                f->cookie_mask = strtoull(slash + 1, NULL, 0);
            }
            f->cookie = strtoull(eq, NULL, 0);
        } else {
            ok = parse_match_field(&f->match, kv, eq);
        }
    }
    free(copy);
    return ok;
}

/* "group_id=1,type=ff,bucket=watch_port:2,actions=output:2,bucket=..." */
static bool
parse_group(const char *spec, struct of_group *g)
{
    char *copy = xstrdup(spec), *bucket = strstr(copy, ",bucket=");
    char *save = NULL;
    bool ok = true;

    memset(g, 0, sizeof *g);
    if (bucket) {
        *bucket = '\0';
        bucket += 8;
    }
    for (char *kv = strtok_r(copy, ",", &save); ok && kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) {
            ok = false;
        } else if (*eq++ = '\0', !strcmp(kv, "group_id")) {
            ok = parse_u32(eq, &g->group_id);
        } else if (!strcmp(kv, "type")) {
            g->type = !strcmp(eq, "all") ? OF_GROUP_TYPE_ALL
                      : !strcmp(eq, "select") ? OF_GROUP_TYPE_SELECT
                      : !strcmp(eq, "indirect") ? OF_GROUP_TYPE_INDIRECT
                      : !strcmp(eq, "ff") || !strcmp(eq, "fast_failover")
                      ? OF_GROUP_TYPE_FAST_FAILOVER : 99;
            ok = g->type != 99;
        } else {
            ok = false;
        }
    }
    while (ok && bucket) {
        char *next = strstr(bucket, ",bucket="), *actions;
        struct of_bucket *b = of_group_add_bucket(g);

        if (next) {
            *next = '\0';
            next += 8;
        }
        actions = strstr(bucket, "actions=");
        if (actions) {
            actions[-(actions > bucket)] = '\0';
            ok = parse_actions(actions + 8, &b->actions);
        }
        for (char *kv = strtok_r(bucket, ",", &save); ok && kv;
             kv = strtok_r(NULL, ",", &save)) {
            uint32_t v;
            if (!strncmp(kv, "weight:", 7) && parse_u32(kv + 7, &v) && v <= 0xffff) {
                b->weight = v;
            } else if (!strncmp(kv, "watch_port:", 11)) {
                ok = parse_port(kv + 11, &b->watch_port);
            } else if (!strncmp(kv, "watch_group:", 12)) {
                ok = parse_u32(kv + 12, &b->watch_group);
            } else {
                ok = false;
            }
        }
        bucket = next;
    }
    free(copy);
    return ok;
}

static int
report(struct of_conn *conn, const char *what, int error)
{
    if (error) {
        fprintf(stderr, "of-tool: %s: %s (%s)\n", what, of_conn_error(conn), strerror(error));
    }
    return error;
}

static char *
sock_path(const char *run_dir, const char *bridge)
{
    return xasprintf("%s/%s.mgmt", run_dir, bridge);
}

static int
cmd_apply(char *argv[])
{
    char *path = sock_path(argv[2], argv[3]);
    struct of_conn *conn;
    char line[4096];
    int lineno = 0, failed = 0, error;

    error = of_conn_open(path, 5000, &conn);
    free(path);
    if (error) {
        fprintf(stderr, "of-tool: cannot open the connection: %s\n", strerror(error));
        return 1;
    }
    while (fgets(line, sizeof line, stdin)) {
        char *op = line, *arg;
        struct of_flow f;
        struct of_group g;

        lineno++;
        line[strcspn(line, "\n")] = '\0';
        arg = strchr(line, ' ');
        if (arg) {
            *arg++ = '\0';
        } else {
            arg = "";
        }
        if (!*op || *op == '#') {
            continue;
        }
        if (!strcmp(op, "barrier")) {
            failed |= report(conn, "barrier", of_barrier(conn)) != 0;
            continue;
        }
        if (!strcmp(op, "sleep")) {
            usleep(atoi(arg) * 1000);
            continue;
        }
        if (!strncmp(op, "group-", 6)) {
            if (!strcmp(op, "group-del")) {
                uint32_t id = OF_GROUP_ALL;
                if (strcmp(arg, "all") && !parse_u32(arg, &id)) {
                    goto bad;
                }
                error = of_group_delete(conn, id);
            } else if (!parse_group(arg, &g)) {
                goto bad;
            } else if (!strcmp(op, "group-add")) {
                error = of_group_add(conn, &g);
            } else if (!strcmp(op, "group-mod")) {
                error = of_group_modify(conn, &g);
            } else {
                goto bad;
            }
        } else if (!parse_flow(arg, &f)) {
            goto bad;
        } else if (!strcmp(op, "add")) {
            error = of_flow_add(conn, &f);
        } else if (!strcmp(op, "mod") || !strcmp(op, "mod-strict")) {
            error = of_flow_modify(conn, &f, !strcmp(op, "mod-strict"));
        } else if (!strcmp(op, "del") || !strcmp(op, "del-strict")) {
            if (!*arg) {
                f.table_id = OF_TABLE_ALL;
            }
            error = of_flow_delete(conn, &f, !strcmp(op, "del-strict"));
        } else {
            goto bad;
        }
        if (report(conn, op, error)) {
            failed = 1;
        }
        continue;
bad:
        fprintf(stderr, "of-tool: stdin:%d: cannot parse '%s %s'\n", lineno, op, arg);
        of_conn_close(conn);
        return 2;
    }
    failed |= report(conn, "barrier", of_barrier(conn)) != 0;
    of_conn_close(conn);
    return failed;
}

static int
compare_double(const void *a_, const void *b_)
{
    double a = *(const double *) a_, b = *(const double *) b_;
    return a < b ? -1 : a > b;
}

static double
median(double *v, int n)
{
    qsort(v, n, sizeof *v, compare_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One `ovs-ofctl add-flow`, as ovs.c runs it (environment pointing at the run dir). */
static int
ofctl_add_flow(const char *run_dir, const char *bridge, const char *flow)
{
    char *target = xasprintf("unix:%s/%s.mgmt", run_dir, bridge);
    char *argv[] = { "ovs-ofctl", "-O", "OpenFlow13", "add-flow", target, (char *) flow, NULL };
    pid_t pid;
    int status, error;

    error = posix_spawnp(&pid, "ovs-ofctl", NULL, NULL, argv, environ);
    free(target);
    if (error) {
        return error;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        continue;
    }
    return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : EIO;
}

/* Medians of 'n' steering changes over one connection and of 'n_fork' ovs-ofctl forks (0: not
 * measured), in microseconds; *open_us the connection's opening. */
static int
bench(const char *run_dir, const char *bridge, int n, int n_fork, const uint32_t ports[2],
      double *channel_us, double *fork_us, double *open_us)
{
    char *path = sock_path(run_dir, bridge);
    double *us = xcalloc(MAX(n, n_fork), sizeof *us);
    struct of_conn *conn;
    uint64_t t0;
    int error;

    t0 = time_mono_ns();
    error = of_conn_open(path, 5000, &conn);
    *open_us = (time_mono_ns() - t0) / 1e3;
    free(path);
    if (error) {
        fprintf(stderr, "of-tool: cannot open the connection: %s\n", strerror(error));
        free(us);
        return 1;
    }
    /* The steering change a scheme makes at run time: a flow re-pointed at another port. */
    for (int i = 0; !error && i < n; i++) {
        struct of_flow f = { .priority = 300, .cookie = 0xbe };
        of_match_in_port(&f.match, ports[0]);
        of_match_ipv4_dst(&f.match, htonl(0x0a0000fa), 32);
        of_actions_output(&f.actions, ports[i % 2]);
        t0 = time_mono_ns();
        error = of_flow_add(conn, &f);
        if (!error) {
            error = of_barrier(conn);
        }
        us[i] = (time_mono_ns() - t0) / 1e3;
    }
    report(conn, "persistent channel", error);
    *channel_us = error ? 0 : median(us, n);
    for (int i = 0; !error && i < n_fork; i++) {
        char flow[128];
        snprintf(flow, sizeof flow, "priority=300,cookie=0xbe,in_port=%u,ip,nw_dst=10.0.0.250,"
                 "actions=output:%u", ports[0], ports[i % 2]);
        t0 = time_mono_ns();
        error = ofctl_add_flow(run_dir, bridge, flow);
        us[i] = (time_mono_ns() - t0) / 1e3;
        if (error) {
            fprintf(stderr, "of-tool: ovs-ofctl add-flow failed\n");
        }
    }
    *fork_us = error || !n_fork ? 0 : median(us, n_fork);
    of_conn_close(conn);
    free(us);
    return error ? 1 : 0;
}

/* Median of 'n' group changes over one connection, in microseconds: a fast-failover group over
 * the two ports whose order of preference is swapped (GROUP_MOD, modify) and confirmed by a
 * barrier: what re-steering through a group costs, beside a flow's. The group is added first
 * and deleted after, outside the timing. */
static int
bench_group(const char *run_dir, const char *bridge, int n, const uint32_t ports[2],
            double *group_us, double *open_us)
{
    char *path = sock_path(run_dir, bridge);
    double *us = xcalloc(n, sizeof *us);
    struct of_group *g = xzalloc(sizeof *g);
    struct of_conn *conn;
    uint64_t t0;
    int error;

    t0 = time_mono_ns();
    error = of_conn_open(path, 5000, &conn);
    *open_us = (time_mono_ns() - t0) / 1e3;
    free(path);
    if (error) {
        fprintf(stderr, "of-tool: cannot open the connection: %s\n", strerror(error));
        free(us);
        free(g);
        return 1;
    }
    of_group_fast_failover(g, 0xbe, ports, 2);
    error = of_group_delete(conn, 0xbe);
    error = error ? error : of_group_add(conn, g);
    error = error ? error : of_barrier(conn);
    for (int i = 0; !error && i < n; i++) {
        uint32_t order[2] = { ports[(i + 1) % 2], ports[i % 2] };
        of_group_fast_failover(g, 0xbe, order, 2);
        t0 = time_mono_ns();
        error = of_group_modify(conn, g);
        if (!error) {
            error = of_barrier(conn);
        }
        us[i] = (time_mono_ns() - t0) / 1e3;
    }
    report(conn, "group change", error);
    *group_us = error ? 0 : median(us, n);
    if (!error) {
        error = of_group_delete(conn, 0xbe);
        error = error ? error : of_barrier(conn);
    }
    of_conn_close(conn);
    free(us);
    free(g);
    return error ? 1 : 0;
}

/* bench RUN_DIR BRIDGE N PORT_A PORT_B [channel|fork|group] : with a mode, one number (the
 * median, in microseconds) and the connection's opening time, for scripts. */
static int
cmd_bench(int argc, char *argv[])
{
    int n = atoi(argv[4]);
    const char *mode = argc > 7 ? argv[7] : "both";
    bool channel = strcmp(mode, "fork"), fork = strcmp(mode, "channel");
    double channel_us, fork_us, open_us;
    uint32_t ports[2];

    if (n < 1 || !parse_u32(argv[5], &ports[0]) || !parse_u32(argv[6], &ports[1])) {
        usage();
    }
    if (!strcmp(mode, "group")) {
        double group_us;
        if (bench_group(argv[2], argv[3], n, ports, &group_us, &open_us)) {
            return 1;
        }
        printf("%.1f %.1f\n", group_us, open_us);
        return 0;
    }
    if ((!channel && !fork) || (strcmp(mode, "both") && channel && fork)) {
        usage();
    }
    if (bench(argv[2], argv[3], channel ? n : 1, fork ? n : 0, ports, &channel_us, &fork_us,
              &open_us)) {
        return 1;
    }
    if (strcmp(mode, "both")) {
        printf("%.1f %.1f\n", channel ? channel_us : fork_us, open_us);
        return 0;
    }
    printf("steering change (flow_mod + barrier), median of %d:\n", n);
    printf("  persistent OpenFlow channel  %9.1f us  (connection opened once: %.1f us)\n",
           channel_us, open_us);
    printf("  ovs-ofctl add-flow fork      %9.1f us\n", fork_us);
    printf("  ratio channel/fork           %9.3f  (fork is %.0fx slower)\n",
           channel_us / fork_us, fork_us / channel_us);
    return 0;
}

int
main(int argc, char *argv[])
{
    log_set_program("of-tool");
    if (argc == 4 && !strcmp(argv[1], "apply")) {
        return cmd_apply(argv);
    }
    if ((argc == 7 || argc == 8) && !strcmp(argv[1], "bench")) {
        return cmd_bench(argc, argv);
    }
    usage();
}
