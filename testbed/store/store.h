/* store — the results database: one history per run (runs, events, samples, summaries) in SQLite.
 *
 * The schema is results/schema.sql, embedded at build time. The database runs in WAL mode with
 * synchronous=NORMAL, foreign keys on and a busy timeout, so a writer killed by SIGKILL leaves a
 * database that passes integrity_check and holds every batch it committed (power loss may lose
 * the last batches; a killed process cannot). Samples and events are buffered and written in one
 * transaction per batch through prepared statements: store_flush() writes the buffer, and
 * store_sample_add() flushes by itself when the batch is full.
 *
 * A run left 'running' by a writer that is gone (pid, its start time and the boot id are stored
 * with the run) is marked 'interrupted' by store_open() and by the queries that list runs.
 *
 * The store computes nothing (testbed/stats does) and never prints except through log_*.
 * Main types: struct store (an open database), struct store_run_info (what a run is, given at
 * its start), struct store_run (a run read back), struct store_point, struct store_event,
 * struct store_summary. Strings returned in these structs are owned by the caller and freed by
 * the matching *_free() function. */
#ifndef SFC_STORE_H
#define SFC_STORE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_SCHEMA_VERSION 1
#define STORE_BATCH_DEFAULT 8192

enum store_status {
    STORE_RUNNING,
    STORE_COMPLETE,
    STORE_INTERRUPTED,
    STORE_FAILED,
};

const char *store_status_to_string(enum store_status);
bool store_status_from_string(const char *, enum store_status *);

/* Opens (creating if needed, and its schema) the database at 'path'. With 'readonly', never
 * creates or writes: a missing file is ENOENT. Returns 0 or an errno; the reason is logged. */
int store_open(const char *path, bool readonly, struct store **);
/* Flushes what is buffered (logging a failure) and closes. Accepts NULL. */
void store_close(struct store *);
/* Samples buffered before a flush; 0 restores the default. */
void store_set_batch_size(struct store *, size_t);

/* What the runner knows of a run when it starts it. NULL strings take their defaults ('' or
 * '{}'); 'host' NULL means "this host" (store_host_facts() with provider 'netns'). */
struct store_run_info {
    const char *experiment;     /* Required. */
    const char *title;
    const char *scheme;
    const char *point;          /* JSON object: the sweep point's parameters. */
    int repetition;
    const char *params;         /* JSON object: every resolved parameter. */
    const char *experiment_file;/* The file's content. */
    const char *host;           /* JSON object. */
    const char *git_rev;
    uint64_t seed;
};

/* Starts a run: records it as 'running' with this process as its writer and takes the run's
 * clock origin now. On success stores the new id in '*run'. */
int store_run_begin(struct store *, const struct store_run_info *, int64_t *run);
/* Flushes and sets the run's final status and end time. */
int store_run_end(struct store *, int64_t run, enum store_status);
/* Nanoseconds since the run's origin: the t_ns to give samples and events taken now. */
int store_run_clock(struct store *, int64_t run, int64_t *t_ns);
/* Marks every 'running' run whose writer is gone as 'interrupted'; '*n' (if nonnull) gets how
 * many were. */
int store_reap(struct store *, size_t *n);

/* Buffers one sample of 'metric' (labels: NULL, '' or a JSON object) at 't_ns' of 'run'. */
int store_sample_add(struct store *, int64_t run, const char *metric, const char *labels,
                     int64_t t_ns, double value);
/* Buffers one event; 'target' and 'detail' may be NULL. */
int store_event_add(struct store *, int64_t run, int64_t t_ns, const char *kind,
                    const char *target, const char *detail);
/* Writes every buffered sample and event in one transaction: all or none of them. */
int store_flush(struct store *);

struct store_summary {
    uint64_t n;
    double mean, ci95, p50, p99, min, max;      /* NaN is stored as NULL and read back as NaN. */
};

/* Inserts or replaces the summary of (run, metric, labels). */
int store_summary_put(struct store *, int64_t run, const char *metric, const char *labels,
                      const struct store_summary *);
/* Reads it back; ENOENT when there is none. */
int store_summary_get(struct store *, int64_t run, const char *metric, const char *labels,
                      struct store_summary *);


/* A run read back. */
struct store_run {
    int64_t id;
    char *experiment, *title, *scheme, *point, *params, *experiment_file, *host, *git_rev;
    int repetition;
    uint64_t seed;
    enum store_status status;
    int64_t started_ns, ended_ns;       /* Wall clock; ended_ns 0 while running. */
    int64_t mono_origin_ns;
    int64_t n_samples;
};

/* Lists runs in id order, all or one experiment's ('experiment' NULL for all). */
int store_runs_list(struct store *, const char *experiment, struct store_run **, size_t *n);
int store_run_get(struct store *, int64_t id, struct store_run *);
void store_run_uninit(struct store_run *);
/* What the command line changed in a run (params.variant, see runner.h): "full", "quick",
 * "quick --set K=V"...; "unrecorded" for runs made before it was recorded. Caller frees.
 * Runs of different variants are never pooled, nor taken one for another on resume. */
char *store_run_variant(const struct store_run *);
void store_runs_free(struct store_run *, size_t n);

struct store_point {
    int64_t t_ns;
    double value;
};

/* Reads the samples of one series of 'run' in time order. */
int store_samples_read(struct store *, int64_t run, const char *metric, const char *labels,
                       struct store_point **, size_t *n);

/* Visits every sample of 'run' (of 'metric' only, if nonnull) in series then time order; a
 * nonzero return from 'cb' stops the walk and is returned. */
struct store_sample {
    const char *metric;
    const char *labels;
    int64_t t_ns;
    double value;
};
int store_samples_foreach(struct store *, int64_t run, const char *metric,
                          int (*cb)(const struct store_sample *, void *aux), void *aux);

/* The distinct (metric, labels) of a run's series, or of its summaries. */
struct store_series_name {
    char *metric;
    char *labels;
};
int store_series_list(struct store *, int64_t run, bool summaries,
                      struct store_series_name **, size_t *n);
void store_series_names_free(struct store_series_name *, size_t n);

struct store_event {
    int64_t t_ns;
    char *kind, *target, *detail;
};
/* Reads a run's events in time order. */
int store_events_read(struct store *, int64_t run, struct store_event **, size_t *n);
void store_events_free(struct store_event *, size_t n);

/* This host's facts as a JSON object (cpu model, cores, kernel, provider). Caller frees. */
char *store_host_facts(const char *provider);

#endif
