#include "vnfs/sfc/role.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "vnfs/lib/loop.h"
#include "vnfs/lib/pktio.h"
#include "vnfs/lib/util.h"
#include "vnfs/sfc/hop.h"

void
role_init_common(struct role *role, const char *name)
{
    memset(role, 0, sizeof *role);
    role->name = name;
    role->cpu = -1;
}

int
role_parse_common(struct role *role, int opt, const char *arg)
{
    char *end;
    long v;

    switch (opt) {
    case ROLE_OPT_IFACE:
        free(role->iface);
        role->iface = xstrdup(arg);
        return 0;
    case ROLE_OPT_CPU:
        v = strtol(arg, &end, 10);
        if (*end || v < 0 || v >= CPU_SETSIZE) {
            fprintf(stderr, "sfcd %s: --cpu: '%s' is not a CPU number\n", role->name, arg);
            return EINVAL;
        }
        role->cpu = v;
        return 0;
    case ROLE_OPT_CTL:
        free(role->ctl_path);
        role->ctl_path = xstrdup(arg);
        return 0;
    case ROLE_OPT_STATS:
        free(role->stats_path);
        role->stats_path = xstrdup(arg);
        return 0;
    case ROLE_OPT_ID:
        v = strtol(arg, &end, 0);
        if (*end || v < 0 || v > UINT32_MAX) {
            fprintf(stderr, "sfcd %s: --id: '%s' is not a 32-bit number\n", role->name, arg);
            return EINVAL;
        }
        role->id = v;
        role->id_set = true;
        return 0;
    }
    return ENOENT;
}

bool
role_parse_option(struct role *role, int opt, const char *arg, void (*usage)(void), int *rc)
{
    int error;

    if (opt == 'h') {
        usage();
        *rc = 0;
        return true;
    }
    error = role_parse_common(role, opt, arg);
    if (error == ENOENT) {
        usage();
    }
    if (error) {
        *rc = 2;
        return true;
    }
    return false;
}

void
role_add_counter(struct role *role, const char *name, const uint64_t *value)
{
    if (role->n_counters < ROLE_MAX_COUNTERS) {
        role->counters[role->n_counters++] = (struct role_counter) { name, value };
    }
}

void
role_add_method(struct role *role, const char *name, rpc_method_cb *cb)
{
    if (role->n_methods < ROLE_MAX_METHODS) {
        role->methods[role->n_methods++] = (struct rpc_method) { name, cb };
    }
}

void
role_add_drops_counter(struct role *role, const char *name, struct pktio *io)
{
    if (role->n_drop_ios < ARRAY_SIZE(role->drop_ios)) {
        role->drop_ios[role->n_drop_ios++] = io;
        role_add_counter(role, name, &pktio_stats(io)->rx_dropped);
    }
}

/* The receive path reads the kernel's drops only now and then: whoever looks gets them now. */
static void
read_drops(struct role *role)
{
    for (size_t i = 0; i < role->n_drop_ios; i++) {
        pktio_read_drops(role->drop_ios[i]);
    }
}

json_t *
role_counters_json(const struct role *role)
{
    json_t *counters = json_object();

    for (size_t i = 0; i < role->n_counters; i++) {
        json_object_set_new(counters, role->counters[i].name,
                            json_integer((json_int_t) *role->counters[i].value));
    }
    return counters;
}

int
role_param_index(const json_t *params, const char *key, json_int_t limit,
                 const char *expected, json_int_t *v, char **errmsg)
{
    json_t *j = params ? json_object_get(params, key) : NULL;

    if (!json_is_integer(j) || json_integer_value(j) < 0 || json_integer_value(j) >= limit) {
        *errmsg = xstrdup(expected);
        return EINVAL;
    }
    *v = json_integer_value(j);
    return 0;
}

static int
ctl_stats(void *role_, json_t *params, json_t **result, char **errmsg)
{
    struct role *role = role_;

    read_drops(role);
    *result = json_pack("{s:s, s:i, s:I, s:o}", "role", role->name, "pid", (int) getpid(),
                        "uptime_ns", (json_int_t) (time_mono_ns() - role->started_ns),
                        "counters", role_counters_json(role));
    return 0;
}

static void
print_counters(const struct role *role, FILE *stream)
{
    fprintf(stream, "%s:", role->name);
    for (size_t i = 0; i < role->n_counters; i++) {
        fprintf(stream, " %s=%llu", role->counters[i].name,
                (unsigned long long) *role->counters[i].value);
    }
    fputc('\n', stream);
    fflush(stream);
}

static void
role_signal(struct loop *loop, int signo, void *role_)
{
    if (signo == SIGUSR1) {
        read_drops(role_);
        print_counters(role_, stderr);
    } else {
        loop_stop(loop);
    }
}

int
role_pin_cpu(int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) < 0 ? errno : 0;
}

/* Every method of the control socket gets the role, not its aux: the role's own methods find
 * their state in role->aux. */
int
role_start(struct role *role)
{
    static const int signals[] = { SIGTERM, SIGINT, SIGUSR1, SIGHUP };
    int error;

    role->started_ns = time_mono_ns();
    /* The kernel may defer a timed wake-up by the thread's slack (50 us by default), a third
     * of a 125 us timer: 1 us keeps the loop's sub-millisecond timers on time where it waits
     * with a timeout (no timerfd: loop.c). */
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    if (role->cpu >= 0) {
        error = role_pin_cpu(role->cpu);
        if (error) {
            log_err("cannot pin to CPU %d (%s)", role->cpu, strerror(error));
            return error;
        }
    }
    error = loop_create(&role->loop);
    if (error) {
        return error;
    }
    role_add_counter(role, "loop_step_max_us", &loop_stats(role->loop)->step_max_us);
    role_add_counter(role, "loop_steps_slow", &loop_stats(role->loop)->n_slow);
    error = loop_add_signals(role->loop, signals, ARRAY_SIZE(signals), role_signal, role);
    if (error) {
        return error;
    }
    if (role->ctl_path) {
        char *address = xasprintf("unix:%s", role->ctl_path);
        role_add_method(role, "stats", ctl_stats);
        error = rpc_server_create(role->loop, address, role->methods, role->n_methods, role,
                                  &role->ctl);
        free(address);
        if (error) {
            log_err("control socket %s: %s", role->ctl_path, strerror(error));
            return error;
        }
    }
    return 0;
}

static void
write_stats(const struct role *role)
{
    json_t *stats = json_pack("{s:s, s:i, s:I, s:o}", "role", role->name, "pid", (int) getpid(),
                              "uptime_ns", (json_int_t) (time_mono_ns() - role->started_ns),
                              "counters", role_counters_json(role));
    char *tmp = xasprintf("%s.tmp", role->stats_path);

    if (json_dump_file(stats, tmp, JSON_COMPACT) || rename(tmp, role->stats_path)) {
        log_warn("cannot write %s", role->stats_path);
        unlink(tmp);
    }
    free(tmp);
    json_decref(stats);
}

int
role_run(struct role *role)
{
    int error = loop_run(role->loop);

    if (error) {
        log_err("event loop: %s", strerror(error));
    }
    read_drops(role);
    if (role->stats_path) {
        write_stats(role);
    }
    print_counters(role, stdout);
    return error ? 1 : 0;
}

void
role_finish(struct role *role)
{
    pktio_close(role->io);
    rpc_server_destroy(role->ctl);
    loop_destroy(role->loop);
    free(role->iface);
    free(role->ctl_path);
    free(role->stats_path);
}

int
role_open_pktio(struct role *role, bool promisc)
{
    int error;

    pktio_set_tx_csum(role->iface, false);
    error = pktio_open(role->iface, promisc, &role->io);
    if (error) {
        log_err("%s: %s", role->iface, strerror(error));
        return error;
    }
    if (!role->id_set) {
        role->id = hop_default_id(pktio_mac(role->io));
    }
    return 0;
}

static int
serve(struct role *role, int fd, loop_fd_cb *cb, void *aux)
{
    int error = role_start(role);

    if (!error && role->on_start) {
        error = role->on_start(role);
    }
    if (!error && !(role->rx_elsewhere && role->io && fd == pktio_fd(role->io))) {
        error = loop_add_fd(role->loop, fd, EPOLLIN, cb, aux);
    }
    if (error) {
        log_err("cannot start: %s", strerror(error));
        return 1;
    }
    return role_run(role);
}

int
role_serve_fd(struct role *role, int fd, loop_fd_cb *cb)
{
    return serve(role, fd, cb, role->aux);
}

size_t
role_drain_pktio(struct role *role, int rounds)
{
    struct pktio_pkt pkts[PKTIO_BATCH];
    size_t n, total = 0;

    for (int round = 0; round < rounds; round++) {
        if (pktio_recv_batch(role->io, pkts, PKTIO_BATCH, &n) || !n) {
            break;
        }
        uint64_t t_in = time_mono_ns();
        for (size_t i = 0; i < n; i++) {
            role->frame_cb(role->aux, &pkts[i], t_in);
        }
        pktio_flush(role->io);
        total += n;
        if (n < PKTIO_BATCH) {
            /* The queue ran dry: a further read would find nothing (a system call a wake-up),
             * and epoll is level-triggered, so what arrives meanwhile wakes the loop at once,
             * after its due timers. */
            break;
        }
    }
    return total;
}

/* At most 8 batches a wake-up, so that the control socket and signals get their turn under
 * load. */
static void
role_readable(struct loop *loop, int fd, uint32_t events, void *role_)
{
    struct role *role = role_;

    role_drain_pktio(role, 8);
    if (role->frames_done) {
        role->frames_done(role->aux);
    }
}

int
role_serve_pktio(struct role *role, role_frame_cb *cb, void (*done)(void *aux))
{
    role_add_counter(role, "rx_packets", &pktio_stats(role->io)->rx_packets);
    role_add_counter(role, "tx_packets", &pktio_stats(role->io)->tx_packets);
    role_add_counter(role, "tx_errors", &pktio_stats(role->io)->tx_errors);
    role_add_drops_counter(role, "rx_dropped", role->io);
    role->frame_cb = cb;
    role->frames_done = done;
    return serve(role, pktio_fd(role->io), role_readable, role);
}
