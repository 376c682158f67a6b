/* scheme — the host side of a fault-tolerance scheme as one class, like Open vSwitch's
 * netdev_class: one file per scheme in this folder, one line in the registry (scheme.c).
 *
 * A class says what the scheme is (name, summary), what it takes (a table of parameters, each
 * checked here against its type and range and reported as `file:line:col` through the model's
 * yaml reporter, plus the scheme's own checks), the guests a sweep point needs (built as a
 * struct topology, no YAML text), how it is deployed on them and stopped, which fault targets
 * it exposes ("vnf[N].replica[M]": the names the injectors resolve), and optionally a
 * host-side controller that runs during the workload and records what it sees through the
 * runner's event API (run_events_add(): microseconds on the run's clock).
 *
 * Everything that names a scheme (the experiment model, `sfclab check`, `sfclab schemes`, the
 * runner, the error messages, experiments/README.md) asks this registry; nothing keeps its own
 * list. A scheme that is known but cannot be deployed yet has no deploy(): it is validated like
 * the others and refused by `sfclab run` with exit 2 before anything is created.
 *
 * Must not: touch the host outside deploy/stop/controller, or know which provider its guests
 * run on. Main types: struct scheme_class, struct scheme_param, struct scheme_target,
 * struct scheme_controller_ctx. */
#ifndef SFC_SCHEME_H
#define SFC_SCHEME_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct deployment;
struct exp_point;
struct fy_node;
struct instance;
struct run_events;
struct topology;
struct yaml_doc;

enum scheme_param_type {
    SCHEME_PARAM_UINT,          /* An integer in [min, max]. */
    SCHEME_PARAM_DURATION,      /* "50ms" etc., in [min, max] nanoseconds. */
    SCHEME_PARAM_STRING,        /* One of 'choices' (NULL-terminated) or anything if NULL. */
};

struct scheme_param {
    const char *name;
    enum scheme_param_type type;
    const char *dflt;           /* As it would be written in the file. */
    uint64_t min, max;
    const char *const *choices;
    const char *help;
};

/* A kind of fault target, with the pattern a user writes. */
struct scheme_target {
    const char *pattern;        /* "vnf[N].replica[M]" */
    const char *help;
};

/* What a controller gets while the workload runs. */
struct scheme_controller_ctx {
    struct instance *inst;
    struct deployment *dep;
    const struct exp_point *point;
    struct run_events *events;  /* run_events_add() from any thread. */
};

struct scheme_class {
    const char *name;
    const char *summary;
    const char *guests;         /* What a point deploys, in words (for `sfclab schemes`). */
    const struct scheme_param *params;
    size_t n_params;
    const struct scheme_target *targets;
    size_t n_targets;
    /* The keys of a chain VNF's 'resiliency' map, checked like 'params' (defaults: the
     * scheme-wide parameter of the same name). None: the scheme takes no per-VNF settings,
     * and a VNF that has some is an error. */
    const struct scheme_param *vnf_params;
    size_t n_vnf_params;

    /* Checks beyond the parameter table (may be NULL): 'params' is the point's params map
     * (NULL when absent), 'root' the point's document. Reports with yaml_error(). */
    void (*check)(struct yaml_doc *, struct fy_node *root, struct fy_node *params,
                  const struct exp_point *);
    /* Whether the point's chain has component ROLE[INDEX] (.replica[REPLICA], -1: none). */
    bool (*has_target)(const struct exp_point *, const char *role, int index, int replica);
    /* The guests and links of one point (NULL deploy: not deployable yet). */
    int (*topology)(const struct exp_point *, struct topology **, char **errp);
    int (*deploy)(struct instance *, const struct exp_point *, const char *work_dir,
                  struct deployment **);
    void (*stop)(struct deployment *);
    /* Optional controller: started when the workload starts, stopped when it ends. */
    int (*controller_start)(const struct scheme_controller_ctx *, void **statep);
    void (*controller_stop)(void *state);
};

/* The registry. */
const struct scheme_class *scheme_find(const char *name);
size_t scheme_count(void);
const struct scheme_class *scheme_at(size_t i);
bool scheme_deployable(const struct scheme_class *);
/* "none, nmr, fitsfc, ..." (static). */
const char *scheme_names(void);
/* "none, nmr" (static). */
const char *scheme_deployable_names(void);
/* Every role any scheme's targets name ("classifier, sff, vnf, ..."), for messages; and
 * whether 'role' is one. */
const char *scheme_role_names(void);
bool scheme_role_known(const char *role);

/* Checks the point's params map against the class's table and the class's own check(). */
void scheme_params_check(const struct scheme_class *, struct yaml_doc *, struct fy_node *root,
                         struct fy_node *params, const struct exp_point *);
/* A parameter's value for a point: as written, else its default. */
const char *scheme_param_value(const struct scheme_class *, const struct exp_point *,
                               const char *name);
uint64_t scheme_param_uint(const struct scheme_class *, const struct exp_point *,
                           const char *name);
/* A VNF's own setting from its 'resiliency' map, else the scheme-wide parameter. */
const char *scheme_vnf_param_value(const struct scheme_class *, const struct exp_point *,
                                   size_t vnf, const char *name);

/* `sfclab schemes`: every scheme (or only the deployable ones) as text, or as the Markdown
 * section of experiments/README.md. */
void scheme_format_list(struct buf *, bool all);
void scheme_format_markdown(struct buf *);

/* Shared by the schemes of this folder: the chain's own targets (classifier[0], sff[0],
 * client[0], server[0], vnf[N] with N in the chain). */
bool scheme_chain_has_target(const struct exp_point *, const char *role, int index);

#endif
