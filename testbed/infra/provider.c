#include "testbed/infra/provider.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testbed/infra/cgroup.h"
#include "testbed/infra/link.h"
#include "vnfs/lib/util.h"

/* The registry. Adding a provider is adding its file (provider_NAME.c, which defines
 * guest_provider_NAME) and its name here, in the declaration and in the table; nothing else
 * knows a provider by its struct. */
extern const struct guest_provider guest_provider_netns, guest_provider_lxc, guest_provider_kvm,
    guest_provider_test;
static const struct guest_provider *const providers[] = {
    &guest_provider_netns,
    &guest_provider_lxc,
    &guest_provider_kvm,
    &guest_provider_test,
};

const struct guest_provider *
guest_provider_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(providers); i++) {
        if (!strcmp(providers[i]->name, name)) {
            return providers[i];
        }
    }
    return NULL;
}

bool
guest_provider_usable(const char *name, char **whyp)
{
    const struct guest_provider *p = guest_provider_find(name);

    if (!p) {
        *whyp = xasprintf("provider '%s' is not built into this sfclab (built: %s)", name,
                          guest_provider_names());
        return false;
    }
    return !p->usable || p->usable(whyp);
}

bool
guest_provider_can_save(const char *name)
{
    const struct guest_provider *p = guest_provider_find(name);

    return p && p->save && p->restore;
}

bool
guest_provider_host_fact(const char *name, const char **keyp, const char **valuep)
{
    const struct guest_provider *p = guest_provider_find(name);

    if (!p || !p->host_fact) {
        return false;
    }
    *keyp = p->host_fact_name;
    *valuep = p->host_fact();
    return true;
}

const char *
guest_provider_names(void)
{
    static char names[256];

    if (!names[0]) {
        for (size_t i = 0; i < ARRAY_SIZE(providers); i++) {
            if (i) {
                strncat(names, ", ", sizeof names - strlen(names) - 1);
            }
            strncat(names, providers[i]->name, sizeof names - strlen(names) - 1);
        }
    }
    return names;
}

const char *
guest_state_name(enum guest_state state)
{
    switch (state) {
    case GUEST_STOPPED: return "stopped";
    case GUEST_RUNNING: return "running";
    case GUEST_PAUSED:  return "paused";
    case GUEST_GONE:    return "gone";
    }
    return "unknown";
}

static bool
valid_name(const char *name)
{
    size_t n = strlen(name);

    if (!n || n > 63 || name[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '-' || c == '_' || c == '.')) {
            return false;
        }
    }
    return true;
}

int
guest_init_common(struct guest *g, const struct guest_provider *provider,
                  const struct guest_config *cfg, struct manifest *manifest)
{
    if (!cfg->name || !valid_name(cfg->name)) {
        log_err("guest name '%s' is not valid (1-63 of [A-Za-z0-9_.-])",
                cfg->name ? cfg->name : "");
        return EINVAL;
    }
    if (!cfg->instance || !valid_name(cfg->instance)) {
        log_err("guest %s: instance name '%s' is not valid", cfg->name,
                cfg->instance ? cfg->instance : "");
        return EINVAL;
    }
    if (!cfg->sfcd || cfg->sfcd[0] != '/') {
        log_err("guest %s: the path of sfcd must be absolute", cfg->name);
        return EINVAL;
    }
    if (cfg->cpus < 0 || cfg->cpus > 1024) {
        log_err("guest %s: cpus %g is out of range", cfg->name, cfg->cpus);
        return EINVAL;
    }
    if (cfg->cpu_period_us && !cgroup_period_ok(cfg->cpu_period_us)) {
        log_err("guest %s: a CPU period of %" PRIu64 " us is out of range", cfg->name,
                cfg->cpu_period_us);
        return EINVAL;
    }
    memset(g, 0, sizeof *g);
    g->provider = provider;
    g->name = xstrdup(cfg->name);
    g->hostname = xstrdup(cfg->hostname ? cfg->hostname : cfg->name);
    g->instance = xstrdup(cfg->instance);
    g->cpus = cfg->cpus;
    g->cpu_period_us = cfg->cpu_period_us;
    g->memory = cfg->memory;
    g->savable = cfg->savable;
    g->sfcd = xstrdup(cfg->sfcd);
    g->run_dir = cfg->run_dir ? xstrdup(cfg->run_dir) : NULL;
    if (cfg->init_args) {
        size_t n = 0;
        while (cfg->init_args[n]) {
            n++;
        }
        g->init_args = xcalloc(n + 1, sizeof *g->init_args);
        for (size_t i = 0; i < n; i++) {
            g->init_args[i] = xstrdup(cfg->init_args[i]);
        }
    }
    g->init_restart = cfg->init_restart;
    if (cfg->init_secret) {
        memcpy(g->init_secret, cfg->init_secret, GUEST_SECRET_BYTES);
        g->has_init_secret = true;
    }
    if (cfg->private_dir && cfg->staging_dir) {
        g->private_dir = xstrdup(cfg->private_dir);
        g->staging_dir = xstrdup(cfg->staging_dir);
    }
    g->manifest = manifest;
    g->exit_status = -1;
    return 0;
}

void
guest_free_common(struct guest *g)
{
    free(g->name);
    free(g->hostname);
    free(g->instance);
    free(g->sfcd);
    free(g->run_dir);
    free(g->private_dir);
    free(g->staging_dir);
    memset(g->init_secret, 0, sizeof g->init_secret);
    if (g->init_args) {
        for (size_t i = 0; g->init_args[i]; i++) {
            free(g->init_args[i]);
        }
        free(g->init_args);
    }
}

int
guest_create(const char *provider_name, const struct guest_config *cfg,
             struct manifest *manifest, struct guest **gp)
{
    const struct guest_provider *provider = guest_provider_find(provider_name);

    if (!provider) {
        log_err("unknown guest provider '%s' (expected one of: %s)", provider_name,
                guest_provider_names());
        return EINVAL;
    }
    return provider->create(cfg, manifest, gp);
}

int
guest_start(struct guest *g)
{
    return g->provider->start(g);
}

int
guest_stop(struct guest *g, uint64_t grace_ns)
{
    return g->provider->stop(g, grace_ns);
}

char *
guest_handle(const struct guest *g)
{
    return g->provider->handle(g);
}

int
guest_attach(const char *provider_name, const struct guest_config *cfg, const char *handle,
             struct guest **gp)
{
    const struct guest_provider *provider = guest_provider_find(provider_name);

    if (!provider) {
        log_err("unknown guest provider '%s' (expected one of: %s)", provider_name,
                guest_provider_names());
        return EINVAL;
    }
    if (!handle) {
        return ESRCH;
    }
    return provider->attach(cfg, handle, gp);
}

void
guest_release(struct guest *g)
{
    if (g) {
        g->provider->release(g);
    }
}

int
guest_destroy(struct guest *g)
{
    return g ? g->provider->destroy(g) : 0;
}

int
guest_exec(struct guest *g, char *const argv[], const struct guest_exec_opts *opts,
           pid_t *pidp)
{
    if (!argv || !argv[0]) {
        return EINVAL;
    }
    return g->provider->exec(g, argv, opts, pidp);
}

int
guest_exec_wait(struct guest *g, char *const argv[], const struct guest_exec_opts *opts,
                int *statusp)
{
    int status;
    pid_t pid;
    int error;

    error = guest_exec(g, argv, opts, &pid);
    if (error) {
        return error;
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return errno;
        }
    }
    *statusp = status;
    return 0;
}

int
guest_pause(struct guest *g)
{
    return g->provider->pause(g);
}

int
guest_resume(struct guest *g)
{
    return g->provider->resume(g);
}

enum guest_state
guest_state(struct guest *g)
{
    return g->provider->state(g);
}

int
guest_plug_iface(struct guest *g, struct link_ns *host, const struct guest_iface *iface)
{
    return g->provider->plug_iface(g, host, iface);
}

int
guest_set_link(struct guest *g, const char *ifname, bool up)
{
    struct link_ns *gns;
    int error;

    if (g->provider->set_link) {
        return g->provider->set_link(g, ifname, up);
    }
    error = g->provider->link_ns(g, &gns);
    return error ? error : link_set_up(gns, ifname, up);
}

int
guest_neigh_add(struct guest *g, const char *ifname, struct in_addr ip, const uint8_t mac[6])
{
    char addr[INET_ADDRSTRLEN];
    struct link_ns *gns;
    int error;

    if (g->provider->neigh_add) {
        return g->provider->neigh_add(g, ifname, ip, mac);
    }
    error = g->provider->link_ns(g, &gns);
    if (!error) {
        inet_ntop(AF_INET, &ip, addr, sizeof addr);
        error = link_neigh_add(gns, ifname, addr, mac);
    }
    return error;
}

int
guest_link_ns_open(struct guest *g, struct link_ns **cache, struct link_ns **nsp)
{
    int fd, error;

    if (!*cache) {
        error = g->provider->netns_fd(g, &fd);
        if (error) {
            return error;
        }
        error = link_ns_open(fd, cache);
        close(fd);
        if (error) {
            return error;
        }
    }
    *nsp = *cache;
    return 0;
}

int
guest_iface_up(struct link_ns *gns, struct link_ns *host, const struct guest_iface *f)
{
    char cidr[32];
    int error = 0;

    if (gns) {
        error = link_offload_off(gns, f->ifname);
        if (!error && f->has_addr) {
            snprintf(cidr, sizeof cidr, "%s/%d", inet_ntoa(f->addr), f->prefix_len);
            error = link_addr_add(gns, f->ifname, cidr);
        }
        if (!error) {
            error = link_set_up(gns, f->ifname, true);
        }
    }
    if (!error) {
        error = link_offload_off(host, f->port);
    }
    if (!error) {
        error = link_set_up(host, f->port, true);
    }
    return error;
}

int
guest_pin(struct guest *g, int cpu)
{
    return g->provider->pin(g, cpu);
}

int
guest_set_rt_runtime(struct guest *g, uint64_t runtime_us)
{
    return g->provider->set_rt_runtime ? g->provider->set_rt_runtime(g, runtime_us) : ENOTSUP;
}

int
guest_split_threads(struct guest *g, pid_t pid, const char *thread, double cpus,
                    uint64_t period_us)
{
    return g->provider->split_threads ? g->provider->split_threads(g, pid, thread, cpus,
                                                                   period_us)
                                      : ENOTSUP;
}

int
guest_stats(const struct guest *g, struct guest_stats *st)
{
    return g->provider->stats(g, st);
}

int
guest_read_stats(const struct guest *g, uint64_t *cpu_ns, uint64_t *mem_bytes)
{
    struct guest_stats st;
    int error = guest_stats(g, &st);

    if (!error) {
        *cpu_ns = st.cpu_ns;
        *mem_bytes = st.mem_bytes;
    }
    return error;
}

int
guest_netns_fd(const struct guest *g, int *fdp)
{
    return g->provider->netns_fd ? g->provider->netns_fd(g, fdp) : ENOTSUP;
}

int
guest_host_pid(const struct guest *g, pid_t nspid, pid_t *pidp)
{
    struct stat want, st;
    struct dirent *de;
    pid_t found = 0;
    DIR *dir;
    int fd, error;

    if (nspid <= 0) {
        return ESRCH;
    }
    error = guest_netns_fd(g, &fd);
    if (error) {
        return error;
    }
    if (fstat(fd, &want)) {
        error = errno;
        close(fd);
        return error;
    }
    close(fd);
    dir = opendir("/proc");
    while (dir && !found && (de = readdir(dir)) != NULL) {
        char path[300], line[256];
        FILE *f;

        if (de->d_name[0] < '1' || de->d_name[0] > '9') {
            continue;
        }
        snprintf(path, sizeof path, "/proc/%s/ns/net", de->d_name);
        if (stat(path, &st) || st.st_ino != want.st_ino || st.st_dev != want.st_dev) {
            continue;
        }
        snprintf(path, sizeof path, "/proc/%s/status", de->d_name);
        f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f)) {
            if (!strncmp(line, "NSpid:", 6)) {
                char *last = strrchr(line, '\t');
                if (last && atoi(last + 1) == nspid) {
                    found = atoi(de->d_name);
                }
                break;
            }
        }
        if (f) {
            fclose(f);
        }
    }
    if (dir) {
        closedir(dir);
    }
    if (!found) {
        return ESRCH;
    }
    *pidp = found;
    return 0;
}

bool
guest_can_save(const struct guest *g)
{
    return g->provider->save && g->provider->restore;
}

int
guest_agent_connect(struct guest *g, int *fdp)
{
    return g->provider->agent_connect ? g->provider->agent_connect(g, fdp) : ENOTSUP;
}

int
guest_put_file(struct guest *g, const char *path, const void *data, size_t len)
{
    int fd, error;

    if (len > GUEST_FILE_MAX_BYTES) {
        return EFBIG;
    }
    if (g && g->provider->put_file) {
        return g->provider->put_file(g, path, data, len);
    }
    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return errno;
    }
    error = write_fully(fd, data, len);
    if (close(fd) && !error) {
        error = errno;
    }
    if (error) {
        unlink(path);
    }
    return error;
}

int
guest_save(struct guest *g, const char *path)
{
    return g->provider->save ? g->provider->save(g, path) : ENOTSUP;
}

int
guest_checkpoint(struct guest *g, const char *path)
{
    return g->provider->checkpoint ? g->provider->checkpoint(g, path) : ENOTSUP;
}

int
guest_restore(struct guest *g, const char *path)
{
    return g->provider->restore ? g->provider->restore(g, path) : ENOTSUP;
}

int
guest_secret_pipe(const uint8_t secret[GUEST_SECRET_BYTES], int *fdp)
{
    int p[2];
    int error = 0;

    if (pipe2(p, O_CLOEXEC)) {
        return errno;
    }
    if (write(p[1], secret, GUEST_SECRET_BYTES) != GUEST_SECRET_BYTES) {
        error = errno ? errno : EIO;
    }
    close(p[1]);
    if (error) {
        close(p[0]);
        return error;
    }
    *fdp = p[0];
    return 0;
}

int
guest_pin_process(pid_t pid, int cpu)
{
    struct proc_task *tasks = NULL;
    cpu_set_t set;
    size_t n = 0;
    int error;

    CPU_ZERO(&set);
    if (cpu >= 0) {
        CPU_SET(cpu, &set);
    } else {
        for (long c = 0; c < CPU_SETSIZE && c < sysconf(_SC_NPROCESSORS_CONF); c++) {
            CPU_SET(c, &set);
        }
    }
    error = proc_tasks(pid, &tasks, &n);
    for (size_t i = 0; i < n; i++) {
        if (sched_setaffinity(tasks[i].tid, sizeof set, &set) && !error && errno != ESRCH) {
            error = errno;
        }
    }
    free(tasks);
    return error;
}

int
guest_run_in_netns(const struct guest *g, int (*fn)(void *aux), void *aux)
{
    int error, fd;

    error = guest_netns_fd(g, &fd);
    if (error) {
        return error;
    }
    error = link_run_in_netns(fd, fn, aux);
    close(fd);
    return error;
}
