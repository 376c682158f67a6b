/* experiment — an experiment descriptor (experiments/NAME.yaml, format in experiments/README.md) as
 * validated structs, and the expansion of its sweep into points.
 *
 * experiment_load() validates the whole file like topology_load(): every problem as
 * "file:line:col: message" through a struct diag, EINVAL and nothing allocated on failure. It
 * validates the document as written and every point of its sweep (and of its `quick:` variant),
 * so a value that is only wrong at one point of a sweep is reported once, at the location of the
 * axis value that produced it. experiment_points() resolves the points again for the runner;
 * experiment_set() and experiment_quick() change the document and validate it again, so an
 * experiment that was loaded stays valid. Never touches the host (a VNF's parameters are checked
 * by creating the network function in memory and destroying it).
 *
 * Main types: struct experiment (the file), struct exp_point (one resolved point), struct
 * exp_vnf, struct exp_workload, struct exp_fault, struct exp_plot, struct exp_reference.
 *
 * Changes to the lead's first draft: experiment.doc became the private 'yd'/'work' pair;
 * experiment_parse() and experiment_load_string(); experiment_format_points(); exp_point.index
 * and exp_workload.kind_name; exp_vnf params may repeat a key (a YAML list value); the label of
 * a point of a file without a sweep is "" (empty). Call experiment_quick() before
 * experiment_set(), so the command line wins over the file's quick overrides. */
#ifndef SFC_EXPERIMENT_H
#define SFC_EXPERIMENT_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "testbed/model/diag.h"
#include "testbed/model/impair.h"

struct buf;
struct fy_document;
struct yaml_doc;

#define EXP_NAME_MAX 63
#define EXP_MAX_POINTS 4096     /* A sweep past this is a typo, not an experiment. */
#define EXP_MAX_CHAIN 64        /* One guest per VNF. */

struct exp_kv {                 /* A parameter, as written (values are parsed by their user). */
    char *key;
    char *value;
};

struct exp_vnf {
    char *fn;                   /* dns | auth | lb | nat | monitor | firewall | gen | fwd */
    struct exp_kv *params;      /* In file order; a key given a list appears once per item. */
    size_t n_params;
    struct exp_kv *resiliency;  /* Per-VNF settings of the scheme ('resiliency: {mechanism:
                                 * 1R-AA, ...}'), checked by the scheme; NULL when absent. */
    size_t n_resiliency;
};

enum exp_workload_kind { EXP_WL_DNS, EXP_WL_UDP, EXP_WL_PROBE };

struct exp_workload {
    enum exp_workload_kind kind;
    const char *kind_name;      /* "dns", "udp", "probe" (static). */
    uint64_t count;             /* Requests (dns, probe) or packets (udp); 0: by duration. */
    uint64_t size;              /* Bytes. */
    uint64_t rate;              /* Per second; 0 = closed loop. */
    uint64_t duration_ns;       /* 0: by count. */
    uint64_t timeout_ns;
    uint64_t interval_ns;       /* probe: time between probes. */
    bool capacity;              /* udp: search the highest rate lost at most capacity_loss
                                 * (a fraction), from 'rate' up, within 'duration'. */
    double capacity_loss;
    uint64_t window_ns;         /* udp capacity: how long each rate is held; 0: 2 s. */
    uint64_t source_port;       /* The client's own UDP port; 0: the kernel's choice. A NAT
                                 * whose port range is this one port maps the flow onto itself,
                                 * so answers reach the client without a reverse path. */
};

struct exp_fault {              /* One schedule line: see injectors/. */
    char *kind;                 /* A kind of injectors/inject.h's table: crash, mitm, ... */
    char *target;               /* "vnf[0]", "sff[0]", "vnf[1].replica[2]", "random(vnf)" */
    char *mode;                 /* kind-specific, defaulted: see experiments/README.md */
    uint64_t at_ns;             /* Fixed time, or 0. */
    uint64_t every_ns;          /* Period, or 0. */
    uint64_t mtbf_ns;           /* Exponential inter-arrival, or 0. */
    uint64_t count;             /* Simultaneous targets, default 1. */
    uint64_t heal_after_ns;     /* 0: never healed by the schedule. */
    double fraction;            /* omission and mitm: fraction affected (0, 1], default 1. */
};

struct exp_plot {
    char *kind;                 /* bar | stacked | line | timeseries */
    char *x;                    /* Axis name (a sweep key) or "time"; NULL when not given. */
    char *y;                    /* Metric. */
    char *title;                /* NULL when not given. */
};

/* A published value. 'source' cites where the paper prints it (figure, table or sentence); a
 * value the paper does not print carries 'derived', the arithmetic that makes it from printed
 * ones, and the report shows it as derived. */
struct exp_reference {
    char *label;                /* Unique in the file: rows are matched by it. */
    char *metric;               /* A summary a run of this file stores, e.g. "rtt_us". */
    double value;
    char *unit;
    char *source;               /* Required: the figure, table or sentence. */
    char *derived;              /* NULL: printed as is. Else the arithmetic. */
    char *scheme;               /* NULL: any scheme of the file. */
    struct exp_kv *labels;      /* The summary's labels, e.g. component = vnf[0]. */
    size_t n_labels;
    struct exp_kv *where;       /* Sweep point it belongs to (axis name = value). */
    size_t n_where;
    char *ratio_to;             /* NULL, or the label of another reference of its table (one
                                 * metric and unit): the report checks this/that, ours against
                                 * the published ratio (e.g. f=1 over f=0). */
    struct exp_kv *why;         /* Why a shape check may differ from the paper: key = the check
                                 * it explains (EXP_WHY_CHECKS), or "*" for every check of this
                                 * reference (`why: TEXT`); value = the explanation. The report
                                 * prints it only under that check when it fails. */
    size_t n_why;
};

/* The shape checks of `sfclab report` (testbed/report/report.h) a reference's `why` can explain:
 * 'value' (this row's number against the published one; only for a value that is itself shape,
 * see experiment_reference_value_checked()), 'order' (this row against another of its table),
 * 'best' (which row of its table is best) and 'ratio' (this row over its 'ratio_to' row against
 * the published ratio; only with 'ratio_to'). */
#define EXP_WHY_CHECKS "value", "order", "best", "ratio"


/* One point of the sweep with every value resolved. */
struct exp_point {
    size_t index;               /* 0-based, in expansion order. */
    char *label;                /* "chain_len=2,scheme=none"; "" without a sweep. */
    struct exp_kv *axes;        /* The sweep values that make this point, in file order. */
    size_t n_axes;
    char *provider;
    char *scheme;
    struct exp_kv *params;      /* The scheme's parameters. */
    size_t n_params;
    double cpus;                /* Per guest. */
    /* resources.vnf.cpus: the quota of every middlebox's own guest instead (a VNF's, its
     * copies', an in-line FTMB logger's: what the papers give a server each), the other guests
     * (client, classifier, SFF, server) keeping 'cpus'; 0: 'cpus' for all. */
    double vnf_cpus;
    /* resources.period and resources.vnf.period: the CFS period of those quotas (a quota is
     * that share of each period; a guest at it is stopped for the rest), in microseconds;
     * 'vnf_cpu_period_us' 0: 'cpu_period_us' for all. */
    uint64_t cpu_period_us;
    uint64_t vnf_cpu_period_us;
    uint64_t memory;
    struct exp_vnf *vnfs;       /* The whole chain, fill VNFs first. */
    size_t n_vnfs;
    char **rules;               /* Classifier rules (vnfs/sfc/rule.h syntax), checked. */
    size_t n_rules;
    struct impair network;      /* `network:`: impairments of every data link of the chain. */
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
    char *title;                /* NULL when not given. */
    char *reproduces;           /* NULL when not given. */
    bool capture;               /* `capture: true`: a pcap of the data bridge per run. */
    struct exp_plot *plots;
    size_t n_plots;
    struct exp_reference *refs;
    size_t n_refs;

    /* Private. */
    struct yaml_doc *yd;        /* The file as parsed: its nodes carry the locations. */
    struct fy_document *work;   /* A copy with the quick and --set overrides applied. */
    char **texts;               /* What nodes made here were built from. */
    size_t n_texts, cap_texts;
};

/* Each returns 0 and an experiment the caller frees with experiment_free(), or reports every
 * problem through 'diag' and returns EINVAL (or the errno of reading) with '*expp' untouched.
 * experiment_parse() takes the document over on success ('*docp' becomes NULL) and leaves it to
 * the caller on failure; its problems go to the document's diag. */
int experiment_load(const char *file, struct diag *, struct experiment **expp);
int experiment_load_string(const char *name, const char *yaml, size_t len, struct diag *,
                           struct experiment **expp);
int experiment_parse(struct yaml_doc **docp, struct experiment **expp);
void experiment_free(struct experiment *);

/* Overrides from the command line: "key=value" sets a value (and drops a sweep axis of that
 * key); "key=v1,v2" makes or replaces a sweep axis. Keys are sweep keys (aliases or dotted
 * paths). On a problem, reports "--set key=value: message" and returns EINVAL with the
 * experiment unchanged. */
int experiment_set(struct experiment *, const char *assignment, struct diag *);
/* Applies the file's `quick:` overrides (a deep merge: maps merge, anything else replaces).
 * Nothing to do without a `quick:` map. */
int experiment_quick(struct experiment *, struct diag *);

/* Expands the sweep into points (cross product, in file order of the axes, the last axis
 * varying fastest). */
int experiment_points(struct experiment *, struct diag *, struct exp_point **, size_t *n);
void exp_points_free(struct exp_point *, size_t n);
/* The CPU quota of a middlebox's own guest (a VNF's or its copy's, an in-line FTMB logger's):
 * resources.vnf.cpus, so that each middlebox can have a server's worth of its own while the
 * client, SFF and server (the papers' traffic machines and switch) keep 'cpus'. */
double exp_point_vnf_cpus(const struct exp_point *);
/* The period of that quota: resources.vnf.period, else resources.period. */
uint64_t exp_point_vnf_period(const struct exp_point *);

/* Whether reference 'r' applies to point 'p': its scheme (if any) and every 'where' value. */
bool experiment_reference_applies(const struct exp_reference *r, const struct exp_point *p);
/* Whether the report compares 'r''s value itself with ours as a shape check: a share, a ratio
 * or a count (unit %, pct, ratio or none), which do not depend on the machine's speed. A time
 * or a rate is printed beside ours but is not a check: it comes from other hardware. */
bool experiment_reference_value_checked(const struct exp_reference *r);
/* Whether two references are rows of one table of the report, whose best and order are
 * compared: one metric, and for a metric with labels (a component's share) also one scheme
 * and one 'where' point, since components are compared within a point. */
bool experiment_references_share_table(const struct exp_reference *a,
                                       const struct exp_reference *b);
/* The explanation 'r' gives for shape check 'check' ("value", "order", "best", "ratio"), or
 * NULL. */
const char *experiment_reference_why(const struct exp_reference *r, const char *check);

/* Whether a run of 'p' stores a summary of 'metric' with these labels (see the metrics in
 * experiments/README.md). False with the reason appended to 'why' (may be NULL). */
/* The metrics a run stores as summaries, "a, b, c" (as an error message lists them). */
const char *experiment_metric_names(void);
bool experiment_point_stores(const struct exp_point *p, const char *metric,
                             const struct exp_kv *labels, size_t n_labels, struct buf *why);

/* A canonical, YAML-shaped dump of the experiment's header, every point, plots and references
 * (for golden tests and `sfclab check -v`). */
void experiment_format_points(const struct experiment *, const struct exp_point *, size_t n,
                              struct buf *);

#endif
