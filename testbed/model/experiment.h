/* experiment — an experiment descriptor (experiments/*.yaml, format in experiments/README.md) as
 * validated structs, and the expansion of its sweep into points.
 *
 * experiment_load() validates the whole file like topology_load(): every problem as
 * "file:line:col: message" through a struct diag, EINVAL and nothing allocated on failure.
 * experiment_resolve() applies one sweep point's values (and --set / --quick overrides) to the
 * document and validates the result again, so a value that is only wrong at one point of a sweep
 * is reported with the location of the axis that produced it. Never touches the host.
 *
 * Main types: struct experiment (the file), struct exp_point (one resolved point), struct
 * exp_vnf, struct exp_workload, struct exp_fault, struct exp_plot, struct exp_reference. */
#ifndef SFC_EXPERIMENT_H
#define SFC_EXPERIMENT_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "testbed/model/diag.h"

struct exp_kv {                 /* A parameter, as written (values are parsed by their user). */
    char *key;
    char *value;
};

struct exp_vnf {
    char *fn;                   /* dns | auth | lb | nat | monitor | firewall | gen | fwd */
    struct exp_kv *params;
    size_t n_params;
};

enum exp_workload_kind { EXP_WL_DNS, EXP_WL_UDP, EXP_WL_PROBE };

struct exp_workload {
    enum exp_workload_kind kind;
    uint64_t count;
    uint64_t size;              /* Bytes. */
    uint64_t rate;              /* Per second; 0 = closed loop. */
    uint64_t duration_ns;
    uint64_t timeout_ns;
    uint64_t interval_ns;       /* probe: time between probes. */
};

struct exp_fault {              /* One schedule line: see injectors/. */
    char *kind;                 /* crash | omission | mitm | pause */
    char *target;               /* "vnf[0]", "sff[0]", "random(vnf)" ... */
    char *mode;                 /* kind-specific: "kill", "links", "dns-spoof", ... */
    uint64_t at_ns;             /* Fixed time, or 0. */
    uint64_t every_ns;          /* Period, or 0. */
    uint64_t mtbf_ns;           /* Exponential inter-arrival, or 0. */
    uint64_t count;             /* Simultaneous targets, default 1. */
    uint64_t heal_after_ns;     /* 0: never healed by the schedule. */
    double fraction;            /* omission: fraction dropped. */
};

struct exp_plot {
    char *kind;                 /* bar | stacked | line | timeseries */
    char *x;                    /* Axis name (a sweep key) or "time". */
    char *y;                    /* Metric. */
    char *title;
};

struct exp_reference {
    char *label;
    char *metric;               /* e.g. "rtt.mean", "availability", "recovery.total" */
    double value;
    char *unit;
    char *source;
    struct exp_kv *where;       /* Sweep point it belongs to. */
    size_t n_where;
};

/* One point of the sweep with every value resolved. */
struct exp_point {
    char *label;                /* "chain_len=2,scheme=none" */
    struct exp_kv *axes;        /* The sweep values that make this point. */
    size_t n_axes;
    char *provider;
    char *scheme;
    struct exp_kv *params;      /* The scheme's parameters. */
    size_t n_params;
    double cpus;
    uint64_t memory;
    struct exp_vnf *vnfs;       /* The whole chain, fill VNFs first. */
    size_t n_vnfs;
    char **rules;
    size_t n_rules;
    struct exp_workload workload;
    struct exp_fault *faults;
    size_t n_faults;
    uint64_t warmup;
    uint64_t repetitions;
    uint64_t seed;
};

struct experiment {
    char *file;
    char *text;                 /* The file's content, recorded with every run. */
    char *name;
    char *title;
    char *reproduces;
    struct exp_plot *plots;
    size_t n_plots;
    struct exp_reference *refs;
    size_t n_refs;
    void *doc;                  /* The parsed document, for resolving points. */
};

int experiment_load(const char *file, struct diag *, struct experiment **);
void experiment_free(struct experiment *);

/* Overrides from the command line: "key=value" or "key=v1,v2" (a sweep axis). */
int experiment_set(struct experiment *, const char *assignment, struct diag *);
/* Applies the file's `quick:` overrides. */
int experiment_quick(struct experiment *, struct diag *);

/* Expands the sweep into points (cross product, in file order of the axes). */
int experiment_points(const struct experiment *, struct diag *, struct exp_point **, size_t *n);
void exp_points_free(struct exp_point *, size_t n);

#endif
