#include "testbed/infra/provider.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testbed/infra/cgroup.h"
#include "testbed/infra/link.h"
#include "vnfs/core/util.h"

/* Adding a provider is adding its file and a line here. */
static const struct guest_provider *const providers[] = {
    &guest_provider_netns,
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
    memset(g, 0, sizeof *g);
    g->provider = provider;
    g->name = xstrdup(cfg->name);
    g->hostname = xstrdup(cfg->hostname ? cfg->hostname : cfg->name);
    g->instance = xstrdup(cfg->instance);
    g->cpus = cfg->cpus;
    g->memory = cfg->memory;
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
    g->stopped_state = GUEST_STOPPED;
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

int
guest_attach(const char *provider_name, const struct guest_config *cfg, pid_t pid,
             uint64_t start, struct guest **gp)
{
    const struct guest_provider *provider = guest_provider_find(provider_name);

    if (!provider) {
        log_err("unknown guest provider '%s' (expected one of: %s)", provider_name,
                guest_provider_names());
        return EINVAL;
    }
    return provider->attach(cfg, pid, start, gp);
}

void
guest_release(struct guest *g)
{
    if (g) {
        if (g->cgroup) {
            cgroup_free(g->cgroup);
        }
        guest_free_common(g);
        free(g);
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
guest_netns_fd(const struct guest *g, int *fdp)
{
    return g->provider->netns_fd(g, fdp);
}

int
guest_read_stats(const struct guest *g, uint64_t *cpu_ns, uint64_t *mem_bytes)
{
    return g->provider->read_stats(g, cpu_ns, mem_bytes);
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
