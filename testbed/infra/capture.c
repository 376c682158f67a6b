#include "testbed/infra/capture.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testbed/infra/instance.h"
#include "testbed/infra/link.h"
#include "testbed/infra/manifest.h"
#include "testbed/infra/ovs.h"
#include "vnfs/lib/dl_pcap.h"
#include "vnfs/lib/util.h"

#define CAPTURE_DEFAULT_BRIDGE "data"
#define CAPTURE_SNAPLEN 65535
#define CAPTURE_POLL_MS 50              /* How soon a stop is seen when nothing arrives. */

struct capture {
    struct instance *inst;
    char *bridge;
    char name[16];                      /* The mirror and its port. */
    char *path;
    uint64_t max_packets;
    pcap_t *pcap;
    pcap_dumper_t *dumper;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    atomic_bool done;
    atomic_uint_fast64_t n_packets;
    int error;                          /* The reader's, once it has ended. */
};

int
capture_guest_ports(struct instance *inst, const char *guest, const char *bridge,
                    const char ***portsp, size_t *n_portsp)
{
    struct instance_guest *ig = instance_find_guest(inst, guest);
    const char **ports = NULL;
    size_t n = 0;

    bridge = bridge ? bridge : CAPTURE_DEFAULT_BRIDGE;
    for (size_t i = 0; ig && i < ig->n_ifaces; i++) {
        if (!strcmp(ig->ifaces[i].bridge, bridge)) {
            ports = xrealloc(ports, (n + 1) * sizeof *ports);
            ports[n++] = ig->ifaces[i].port;
        }
    }
    if (!n) {
        free(ports);
        return ENOENT;
    }
    *portsp = ports;
    *n_portsp = n;
    return 0;
}

/* Brings the capture port up (a tap that is down makes the switch's writes fail) and keeps
 * the kernel from talking on it (IPv6 autoconfiguration): done inside the instance's
 * namespace, on the reader's thread, which stays there. */
static int
prepare_port(struct capture *cap)
{
    struct link_ns *ns = NULL;
    char *sysctl;
    int fd, error;

    fd = open(cap->inst->netns_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    if (setns(fd, CLONE_NEWNET)) {
        error = errno;
        close(fd);
        return error;
    }
    error = link_ns_open(fd, &ns);
    close(fd);
    if (!error) {
        error = link_set_up(ns, cap->name, true);
    }
    link_ns_close(ns);
    sysctl = xasprintf("/proc/sys/net/ipv6/conf/%s/disable_ipv6", cap->name);
    fd = open(sysctl, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, "1", 1) != 1) {
            log_debug("capture: %s: %s", sysctl, strerror(errno));
        }
        close(fd);
    }
    free(sysctl);
    return error;
}

static void
on_frame(u_char *cap_, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct capture *cap = (struct capture *) cap_;

    if (cap->max_packets && atomic_load(&cap->n_packets) >= cap->max_packets) {
        return;
    }
    dl_pcap.pcap_dump((u_char *) cap->dumper, h, bytes);
    if (atomic_fetch_add(&cap->n_packets, 1) + 1 == cap->max_packets) {
        atomic_store(&cap->done, true);
    }
}

struct start_sync {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    bool ready;
    int error;
};

struct reader_arg {
    struct capture *cap;
    struct start_sync *sync;
};

static void
signal_ready(struct start_sync *sync, int error)
{
    pthread_mutex_lock(&sync->mutex);
    sync->ready = true;
    sync->error = error;
    pthread_cond_signal(&sync->cond);
    pthread_mutex_unlock(&sync->mutex);
}

static void *
reader_main(void *arg_)
{
    struct reader_arg *arg = arg_;
    struct capture *cap = arg->cap;
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    int error = prepare_port(cap);

    if (error) {
        log_err("capture: cannot bring port %s up: %s", cap->name, strerror(error));
        signal_ready(arg->sync, error);
        return NULL;
    }
    error = dl_pcap_load();
    if (error) {
        signal_ready(arg->sync, error);
        return NULL;
    }
    cap->pcap = dl_pcap.pcap_create(cap->name, errbuf);
    if (!cap->pcap
        || dl_pcap.pcap_set_snaplen(cap->pcap, CAPTURE_SNAPLEN)
        || dl_pcap.pcap_set_immediate_mode(cap->pcap, 1)
        || dl_pcap.pcap_set_timeout(cap->pcap, CAPTURE_POLL_MS)
        || dl_pcap.pcap_activate(cap->pcap) < 0
        || dl_pcap.pcap_setdirection(cap->pcap, PCAP_D_IN)) {
        log_err("capture: cannot open %s: %s", cap->name,
                cap->pcap ? dl_pcap.pcap_geterr(cap->pcap) : errbuf);
        signal_ready(arg->sync, EIO);
        return NULL;
    }
    cap->dumper = dl_pcap.pcap_dump_open(cap->pcap, cap->path);
    if (!cap->dumper) {
        log_err("capture: cannot write %s: %s", cap->path, dl_pcap.pcap_geterr(cap->pcap));
        signal_ready(arg->sync, EIO);
        return NULL;
    }
    signal_ready(arg->sync, 0);         /* 'arg' is gone after this. */

    while (!atomic_load(&cap->stop) && !atomic_load(&cap->done)) {
        int n = dl_pcap.pcap_dispatch(cap->pcap, -1, on_frame, (u_char *) cap);
        if (n == PCAP_ERROR_BREAK) {
            break;                      /* capture_stop() */
        }
        if (n < 0) {
            log_err("capture: reading %s: %s", cap->name, dl_pcap.pcap_geterr(cap->pcap));
            cap->error = EIO;
            atomic_store(&cap->done, true);
            break;
        }
        dl_pcap.pcap_dump_flush(cap->dumper);
    }
    return NULL;
}

static int
capture_free(struct capture *cap)
{
    int error = 0;

    if (cap->dumper) {
        dl_pcap.pcap_dump_close(cap->dumper);
    }
    if (cap->pcap) {
        dl_pcap.pcap_close(cap->pcap);
    }
    if (*cap->name) {
        error = ovs_mirror_del(cap->inst->ovs, cap->bridge, cap->name, cap->name);
    }
    free(cap->bridge);
    free(cap->path);
    free(cap);
    return error;
}

int
capture_start(struct instance *inst, const struct capture_opts *opts, struct capture **capp)
{
    static unsigned int seq;
    struct capture *cap = xzalloc(sizeof *cap);
    struct start_sync sync = { .mutex = PTHREAD_MUTEX_INITIALIZER,
                               .cond = PTHREAD_COND_INITIALIZER };
    struct reader_arg arg = { cap, &sync };
    int error;

    cap->inst = inst;
    cap->bridge = xstrdup(opts->bridge ? opts->bridge : CAPTURE_DEFAULT_BRIDGE);
    cap->path = xstrdup(opts->path);
    cap->max_packets = opts->max_packets;
    /* A port name is a kernel interface name: 15 bytes at most. */
    snprintf(cap->name, sizeof cap->name, "cap%u_%u", (unsigned int) getpid() % 1000000,
             seq++ % 1000);

    error = manifest_record_mirror(inst->manifest, ovs_run_dir(inst->ovs), cap->bridge,
                                   cap->name, cap->name);
    if (!error) {
        error = ovs_mirror_add(inst->ovs, cap->bridge, cap->name, opts->ports, opts->n_ports,
                               cap->name);
    }
    if (error) {
        log_err("capture: cannot mirror %s to a capture port: %s", cap->bridge,
                strerror(error));
        *cap->name = '\0';              /* Nothing of ours to remove. */
        goto out;
    }
    error = pthread_create(&cap->thread, NULL, reader_main, &arg);
    if (error) {
        goto out;
    }
    cap->thread_started = true;
    pthread_mutex_lock(&sync.mutex);
    while (!sync.ready) {
        pthread_cond_wait(&sync.cond, &sync.mutex);
    }
    pthread_mutex_unlock(&sync.mutex);
    error = sync.error;
out:
    if (error) {
        if (cap->thread_started) {
            pthread_join(cap->thread, NULL);
        }
        capture_free(cap);
    } else {
        *capp = cap;
    }
    return error;
}

bool
capture_done(const struct capture *cap)
{
    return atomic_load(&cap->done);
}

int
capture_stop(struct capture *cap, uint64_t *n_packetsp)
{
    int error, error2;

    atomic_store(&cap->stop, true);
    dl_pcap.pcap_breakloop(cap->pcap);
    pthread_join(cap->thread, NULL);
    if (n_packetsp) {
        *n_packetsp = atomic_load(&cap->n_packets);
    }
    error = cap->error;
    error2 = capture_free(cap);
    return error ? error : error2;
}

const char *
capture_path(const struct capture *cap)
{
    return cap->path;
}

int
capture_start_run(struct instance *inst, const char *db_path, const char *experiment,
                  long long run, struct capture **capp)
{
    char *dir = xstrdup(db_path), *slash = strrchr(dir, '/'), *pcaps, *path;
    int error = 0;

    if (slash) {
        *slash = '\0';
    }
    pcaps = xasprintf("%s/pcaps", slash ? dir : ".");
    if (mkdir(pcaps, 0755) && errno != EEXIST) {
        error = errno;
        log_err("capture: cannot make %s: %s", pcaps, strerror(error));
    }
    path = xasprintf("%s/%s-run%lld.pcap", pcaps, experiment, run);
    if (!error) {
        error = capture_start(inst, &(struct capture_opts) { .path = path }, capp);
    }
    free(path);
    free(pcaps);
    free(dir);
    return error;
}
