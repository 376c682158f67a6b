/* Bench: time to create+start and destroy 32 netns guests (median of 3 rounds), alone and with
 * one wired link each (veth from the host namespace, address, offload off, up), against a
 * baseline measured in the same run: a plain fork+exec+wait of `sfcd --help`. Root only. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testbed/infra/link.h"
#include "testbed/infra/manifest.h"
#include "testbed/infra/netns.h"
#include "testbed/infra/provider.h"
#include "vnfs/lib/util.h"

#define N_GUESTS 32
#define N_ROUNDS 3

struct ctx {
    char dir[64];
    char instance[32];
    char *sfcd;
    struct manifest *manifest;
    struct link_ns *host;
};

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static uint64_t
median(uint64_t *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_u64);
    return v[n / 2];
}

/* One round; returns the elapsed ns of up and of down, or an errno. */
static int
round_once(struct ctx *c, bool wire, uint64_t *up_ns, uint64_t *down_ns)
{
    struct guest *g[N_GUESTS] = { NULL };
    char name[16], host_end[16], cidr[32];
    int error = 0;

    uint64_t t0 = time_mono_ns();
    for (int i = 0; i < N_GUESTS && !error; i++) {
        snprintf(name, sizeof name, "b%d", i);
        struct guest_config cfg = {
            .name = name, .cpus = 0.5, .memory = 64 << 20, .instance = c->instance,
            .sfcd = c->sfcd,
        };
        error = guest_create("netns", &cfg, c->manifest, &g[i]);
        if (!error) {
            error = guest_start(g[i]);
        }
        if (!error && wire) {
            struct link_ns *ns;
            int fd;
            snprintf(host_end, sizeof host_end, "sfct-gb%d", i);
            snprintf(cidr, sizeof cidr, "10.79.%d.%d/16", i / 250, i % 250 + 1);
            struct link_veth veth = { host_end, "eth0", NULL, NULL, 0 };
            error = guest_netns_fd(g[i], &fd);
            if (!error) {
                error = link_ns_open(fd, &ns);
                close(fd);
            }
            if (!error) {
                error = link_veth_add(c->host, ns, &veth);
                if (!error) error = link_addr_add(ns, "eth0", cidr);
                if (!error) error = link_offload_off(ns, "eth0");
                if (!error) error = link_set_up(ns, "eth0", true);
                if (!error) error = link_set_up(c->host, host_end, true);
                link_ns_close(ns);
            }
        }
    }
    uint64_t t1 = time_mono_ns();
    for (int i = 0; i < N_GUESTS; i++) {
        if (g[i]) {
            int e = guest_destroy(g[i]);
            error = error ? error : e;
        }
    }
    uint64_t t2 = time_mono_ns();
    if (wire) {
        /* The host ends go when the kernel's netns work queue gets to them; wait (bounded) so
         * that the next round can reuse their names. */
        for (int tries = 0; tries < 1000; tries++) {
            bool any = false;
            for (int i = 0; i < N_GUESTS && !any; i++) {
                snprintf(host_end, sizeof host_end, "sfct-gb%d", i);
                any = link_exists(c->host, host_end);
            }
            if (!any) {
                break;
            }
            usleep(5000);
        }
    }
    *up_ns = t1 - t0;
    *down_ns = t2 - t1;
    return error;
}

static uint64_t
baseline_ns(const char *sfcd)
{
    uint64_t v[N_ROUNDS];

    for (int r = 0; r < N_ROUNDS; r++) {
        uint64_t t0 = time_mono_ns();
        for (int i = 0; i < N_GUESTS; i++) {
            pid_t pid = fork();
            if (pid == 0) {
                int null = open("/dev/null", O_WRONLY);
                dup2(null, 1);
                execl(sfcd, "sfcd", "--help", (char *) NULL);
                _exit(127);
            }
            waitpid(pid, NULL, 0);
        }
        v[r] = time_mono_ns() - t0;
    }
    return median(v, N_ROUNDS);
}

int
main(void)
{
    struct ctx c;
    char *host_path = NULL;
    int host_fd = -1;
    int error = 0;

    if (geteuid()) {
        printf("bench_guest: skipped (needs root)\n");
        return 0;
    }
    memset(&c, 0, sizeof c);
    c.sfcd = realpath(getenv("SFCD") ? getenv("SFCD") : "bin/sfcd", NULL);
    if (!c.sfcd) {
        fprintf(stderr, "bench_guest: no bin/sfcd\n");
        return 1;
    }
    snprintf(c.dir, sizeof c.dir, "/tmp/sfct-guestbench-%ld", (long) getpid());
    snprintf(c.instance, sizeof c.instance, "sfct-gbench-%ld", (long) getpid());
    error = manifest_open(c.dir, &c.manifest);
    if (!error) {
        error = netns_create(c.manifest, c.instance, &host_path);
    }
    if (!error) {
        host_fd = open(host_path, O_RDONLY | O_CLOEXEC);
        error = host_fd < 0 ? errno : link_ns_open(host_fd, &c.host);
    }
    if (error) {
        fprintf(stderr, "bench_guest: setup: %s\n", strerror(error));
        goto out;
    }

    uint64_t base = baseline_ns(c.sfcd);
    printf("baseline: fork+exec+wait of sfcd x%d: %.2f ms (%.3f ms each)\n", N_GUESTS,
           base / 1e6, base / 1e6 / N_GUESTS);
    for (int wire = 0; wire <= 1 && !error; wire++) {
        uint64_t up[N_ROUNDS], down[N_ROUNDS], total[N_ROUNDS];
        for (int r = 0; r < N_ROUNDS && !error; r++) {
            error = round_once(&c, wire, &up[r], &down[r]);
            total[r] = up[r] + down[r];
        }
        if (error) {
            fprintf(stderr, "bench_guest: %s\n", strerror(error));
            break;
        }
        uint64_t t = median(total, N_ROUNDS), u = median(up, N_ROUNDS);
        uint64_t d = median(down, N_ROUNDS);
        printf("%d guests%s, median of %d: create+start %.1f ms (%.2f ms/guest), destroy "
               "%.1f ms (%.2f ms/guest), total %.1f ms (%.2f ms/guest, %.1fx baseline)\n",
               N_GUESTS, wire ? " + veth/address/offload/up" : "", N_ROUNDS, u / 1e6,
               u / 1e6 / N_GUESTS, d / 1e6, d / 1e6 / N_GUESTS, t / 1e6,
               t / 1e6 / N_GUESTS, (double) t / (double) base);
    }

out:
    link_ns_close(c.host);
    if (host_fd >= 0) {
        close(host_fd);
    }
    free(host_path);
    if (c.manifest) {
        manifest_close(c.manifest);
        manifest_undo(c.dir, false);
    }
    free(c.sfcd);
    return error ? 1 : 0;
}
