#include "testbed/store/store.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "testbed/infra/provider.h"
#include "vnfs/lib/util.h"

/* results/schema.sql, NUL-terminated. .incbin keeps the .sql the one readable source with no
 * generator step; bench/bench.mk makes store.o depend on it, since -MMD cannot see .incbin. */
__asm__(".section .rodata\n"
        ".global store_schema_sql\n"
        ".hidden store_schema_sql\n"
        "store_schema_sql:\n"
        ".incbin \"results/schema.sql\"\n"
        ".byte 0\n"
        ".previous\n");
extern const char store_schema_sql[] __attribute__((visibility("hidden")));

/* One (run, metric, labels) seen by this process. 'id' is 0 until a flush has written it. */
struct series_entry {
    int64_t run;
    char *metric;
    char *labels;
    uint32_t hash;
    int64_t id;
};

struct pending_sample {
    uint32_t series;            /* Index into store->series. */
    int64_t t_ns;
    double value;
};

struct pending_event {
    int64_t run;
    int64_t t_ns;
    char *kind, *target, *detail;
};

struct store {
    sqlite3 *db;
    char *path;
    bool readonly;

    sqlite3_stmt *ins_sample;
    sqlite3_stmt *ins_series;
    sqlite3_stmt *sel_series;
    sqlite3_stmt *ins_event;

    struct series_entry *series;
    size_t n_series, cap_series;
    uint32_t *buckets;          /* Open addressing: index + 1, 0 empty. */
    size_t n_buckets;

    struct pending_sample *samples;
    size_t n_samples, cap_samples;
    size_t batch;

    struct pending_event *events;
    size_t n_events, cap_events;
};

static const char *status_names[] = {
    [STORE_RUNNING] = "running",
    [STORE_COMPLETE] = "complete",
    [STORE_INTERRUPTED] = "interrupted",
    [STORE_FAILED] = "failed",
};

const char *
store_status_to_string(enum store_status status)
{
    return (unsigned) status < ARRAY_SIZE(status_names) ? status_names[status] : "unknown";
}

bool
store_status_from_string(const char *s, enum store_status *status)
{
    for (size_t i = 0; i < ARRAY_SIZE(status_names); i++) {
        if (s && !strcmp(s, status_names[i])) {
            *status = i;
            return true;
        }
    }
    return false;
}

/* Logs SQLite's reason and turns its result code into an errno. */
static int
db_error(const struct store *s, int rc, const char *what)
{
    log_err("%s: %s: %s", s->path, what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return EBUSY;
    case SQLITE_NOMEM:
        return ENOMEM;
    case SQLITE_READONLY:
        return EROFS;
    case SQLITE_FULL:
        return ENOSPC;
    case SQLITE_CANTOPEN:
        return ENOENT;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return EACCES;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
        return EINVAL;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return EILSEQ;
    default:
        return EIO;
    }
}

static int
exec_sql(struct store *s, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);

    sqlite3_free(msg);
    return rc == SQLITE_OK ? 0 : db_error(s, rc, sql);
}

static int
prepare(struct store *s, const char *sql, sqlite3_stmt **stmt)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, stmt, NULL);
    return rc == SQLITE_OK ? 0 : db_error(s, rc, "preparing a statement");
}

static char *
column_strdup(sqlite3_stmt *stmt, int col)
{
    const unsigned char *text = sqlite3_column_text(stmt, col);
    return xstrdup(text ? (const char *) text : "");
}

static double
column_double(sqlite3_stmt *stmt, int col)
{
    return sqlite3_column_type(stmt, col) == SQLITE_NULL ? NAN : sqlite3_column_double(stmt, col);
}

static void
bind_double(sqlite3_stmt *stmt, int col, double v)
{
    if (isfinite(v)) {
        sqlite3_bind_double(stmt, col, v);
    } else {
        sqlite3_bind_null(stmt, col);
    }
}

static int
schema_version(struct store *s, int *version)
{
    sqlite3_stmt *stmt;
    int error = prepare(s, "PRAGMA user_version", &stmt);

    if (!error) {
        if (sqlite3_step(stmt) == SQLITE_ROW) {
            *version = sqlite3_column_int(stmt, 0);
        } else {
            error = db_error(s, sqlite3_errcode(s->db), "reading the schema version");
        }
        sqlite3_finalize(stmt);
    }
    return error;
}

int
store_open(const char *path, bool readonly, struct store **storep)
{
    struct store *s = xzalloc(sizeof *s);
    int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int version = 0;
    int error, rc;

    s->path = xstrdup(path);
    s->readonly = readonly;
    s->batch = STORE_BATCH_DEFAULT;
    if (readonly && access(path, F_OK)) {
        error = errno;
        log_err("%s: %s", path, strerror(error));
        goto out;
    }
    rc = sqlite3_open_v2(path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        error = db_error(s, rc, "opening the database");
        goto out;
    }
    sqlite3_busy_timeout(s->db, 5000);
    /* NORMAL in WAL mode syncs at checkpoints only: a killed process loses nothing it committed,
     * which is the guarantee asked of us; FULL would cost a fsync per batch. */
    error = exec_sql(s, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;");
    if (!error) {
        error = schema_version(s, &version);
    }
    if (error) {
        goto out;
    }
    if (version > STORE_SCHEMA_VERSION) {
        log_err("%s: schema version %d is newer than this sfclab's %d", path, version,
                STORE_SCHEMA_VERSION);
        error = EPROTO;
        goto out;
    }
    if (!readonly) {
        error = exec_sql(s, "PRAGMA journal_mode = WAL;");
        if (!error) {
            error = exec_sql(s, store_schema_sql);
        }
        if (!error) {
            error = prepare(s, "INSERT INTO samples (series, t_ns, value) VALUES (?, ?, ?)",
                            &s->ins_sample);
        }
        if (!error) {
            error = prepare(s, "INSERT OR IGNORE INTO series (run, metric, labels) "
                            "VALUES (?, ?, ?)", &s->ins_series);
        }
        if (!error) {
            error = prepare(s, "SELECT id FROM series WHERE run = ? AND metric = ? "
                            "AND labels = ?", &s->sel_series);
        }
        if (!error) {
            error = prepare(s, "INSERT INTO events (run, t_ns, kind, target, detail) "
                            "VALUES (?, ?, ?, ?, ?)", &s->ins_event);
        }
        if (!error) {
            error = store_reap(s, NULL);
        }
    } else if (version == 0) {
        log_err("%s: not an sfclab results database", path);
        error = EPROTO;
    }

out:
    if (error) {
        store_close(s);
    } else {
        *storep = s;
    }
    return error;
}

static void
pending_events_clear(struct store *s)
{
    for (size_t i = 0; i < s->n_events; i++) {
        free(s->events[i].kind);
        free(s->events[i].target);
        free(s->events[i].detail);
    }
    s->n_events = 0;
}

void
store_close(struct store *s)
{
    if (!s) {
        return;
    }
    if (s->db && (s->n_samples || s->n_events)) {
        int error = store_flush(s);
        if (error) {
            log_err("%s: %zu samples and %zu events lost on close: %s", s->path,
                    s->n_samples, s->n_events, strerror(error));
        }
    }
    sqlite3_finalize(s->ins_sample);
    sqlite3_finalize(s->ins_series);
    sqlite3_finalize(s->sel_series);
    sqlite3_finalize(s->ins_event);
    sqlite3_close(s->db);
    for (size_t i = 0; i < s->n_series; i++) {
        free(s->series[i].metric);
        free(s->series[i].labels);
    }
    free(s->series);
    free(s->buckets);
    free(s->samples);
    pending_events_clear(s);
    free(s->events);
    free(s->path);
    free(s);
}

void
store_set_batch_size(struct store *s, size_t n)
{
    s->batch = n ? n : STORE_BATCH_DEFAULT;
}

/* Writers: identifying the process that writes a run, and whether it still lives. */

static bool
read_boot_id(char *buf, size_t size)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    bool ok = f && fgets(buf, size, f);

    if (f) {
        fclose(f);
    }
    if (ok) {
        buf[strcspn(buf, "\n")] = '\0';
    }
    return ok;
}

/* Reads the start time (clock ticks since boot) and state letter of 'pid'. False if no such
 * process. */
static bool
read_proc_start(long pid, long long *start, char *state)
{
    char path[64], buf[1024];
    const char *p;
    FILE *f;
    size_t n;

    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (!f) {
        return false;
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: fields resume after the last ')'. */
    p = strrchr(buf, ')');
    if (!p) {
        return false;
    }
    p++;
    *state = p[1];
    for (int field = 3; field < 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p) {
            return false;
        }
    }
    return sscanf(p, " %lld", start) == 1;
}

static bool
writer_alive(long pid, long long start, const char *boot)
{
    char my_boot[64], state;
    long long now_start;

    if (!read_boot_id(my_boot, sizeof my_boot) || strcmp(my_boot, boot ? boot : "")) {
        return false;
    }
    if (!read_proc_start(pid, &now_start, &state)) {
        return false;
    }
    /* A zombie has stopped writing: it only waits for its parent to notice. */
    return now_start == start && state != 'Z' && state != 'X';
}

int
store_reap(struct store *s, size_t *np)
{
    sqlite3_stmt *sel = NULL, *upd = NULL;
    size_t n = 0;
    int error, rc;

    if (s->readonly) {
        error = EROFS;
        goto out;
    }
    error = prepare(s, "SELECT id, writer_pid, writer_start, writer_boot FROM runs "
                    "WHERE status = 'running'", &sel);
    if (!error) {
        error = prepare(s, "UPDATE runs SET status = 'interrupted' "
                        "WHERE id = ? AND status = 'running'", &upd);
    }
    if (error) {
        goto out;
    }
    while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
        const char *boot = (const char *) sqlite3_column_text(sel, 3);
        if (writer_alive(sqlite3_column_int64(sel, 1), sqlite3_column_int64(sel, 2), boot)) {
            continue;
        }
        sqlite3_bind_int64(upd, 1, sqlite3_column_int64(sel, 0));
        if (sqlite3_step(upd) != SQLITE_DONE) {
            error = db_error(s, sqlite3_errcode(s->db), "marking a dead run interrupted");
            goto out;
        }
        n += sqlite3_changes(s->db);
        sqlite3_reset(upd);
    }
    if (rc != SQLITE_DONE) {
        error = db_error(s, rc, "listing running runs");
        goto out;
    }
    if (n) {
        log_info("%s: %zu run(s) whose writer died marked interrupted", s->path, n);
    }
    if (np) {
        *np = n;
    }

out:
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    return error;
}

/* Runs. */

int
store_run_begin(struct store *s, const struct store_run_info *info, int64_t *runp)
{
    sqlite3_stmt *stmt = NULL;
    char boot[64] = "";
    long long start = 0;
    char state;
    char *host = NULL;
    int error, rc;

    if (!info->experiment || !info->experiment[0]) {
        log_err("%s: a run needs an experiment name", s->path);
        return EINVAL;
    }
    read_boot_id(boot, sizeof boot);
    read_proc_start(getpid(), &start, &state);
    if (!info->host) {
        host = store_host_facts(GUEST_PROVIDER_DEFAULT);
    }
    error = prepare(s, "INSERT INTO runs (experiment, title, scheme, point, repetition, params, "
                    "experiment_file, host, git_rev, seed, status, writer_pid, writer_start, "
                    "writer_boot, mono_origin_ns, started_ns) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)", &stmt);
    if (error) {
        goto out;
    }
    sqlite3_bind_text(stmt, 1, info->experiment, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, info->title ? info->title : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, info->scheme ? info->scheme : "none", -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 4, info->point ? info->point : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 5, info->repetition);
    sqlite3_bind_text(stmt, 6, info->params ? info->params : "{}", -1, SQLITE_STATIC);
    if (info->experiment_file) {
        sqlite3_bind_text(stmt, 7, info->experiment_file, -1, SQLITE_STATIC);
    }
    sqlite3_bind_text(stmt, 8, info->host ? info->host : host, -1, SQLITE_STATIC);
    if (info->git_rev) {
        sqlite3_bind_text(stmt, 9, info->git_rev, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(stmt, 10, (int64_t) info->seed);
    sqlite3_bind_int64(stmt, 11, getpid());
    sqlite3_bind_int64(stmt, 12, start);
    sqlite3_bind_text(stmt, 13, boot, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 14, (int64_t) time_mono_ns());
    sqlite3_bind_int64(stmt, 15, (int64_t) time_wall_ns());
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) {
        /* The CHECKs catch point/params/host that are not JSON. */
        error = db_error(s, rc, "starting a run");
        goto out;
    }
    *runp = sqlite3_last_insert_rowid(s->db);

out:
    sqlite3_finalize(stmt);
    free(host);
    return error;
}

int
store_run_end(struct store *s, int64_t run, enum store_status status)
{
    sqlite3_stmt *stmt = NULL;
    int error = store_flush(s);

    if (!error) {
        error = prepare(s, "UPDATE runs SET status = ?, ended_ns = ? WHERE id = ?", &stmt);
    }
    if (error) {
        goto out;
    }
    sqlite3_bind_text(stmt, 1, store_status_to_string(status), -1, SQLITE_STATIC);
    if (status == STORE_RUNNING) {
        sqlite3_bind_null(stmt, 2);
    } else {
        sqlite3_bind_int64(stmt, 2, (int64_t) time_wall_ns());
    }
    sqlite3_bind_int64(stmt, 3, run);
    if (sqlite3_step(stmt) != SQLITE_DONE) {
        error = db_error(s, sqlite3_errcode(s->db), "ending a run");
    } else if (!sqlite3_changes(s->db)) {
        log_err("%s: no run %lld", s->path, (long long) run);
        error = ENOENT;
    }

out:
    sqlite3_finalize(stmt);
    return error;
}

/* Runs the one-row query 'sql' with 'run' bound to its first parameter and returns column 0. */
static int
query_int64(struct store *s, const char *sql, int64_t run, int64_t *value)
{
    sqlite3_stmt *stmt;
    int error = prepare(s, sql, &stmt);
    int rc;

    if (error) {
        return error;
    }
    sqlite3_bind_int64(stmt, 1, run);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *value = sqlite3_column_int64(stmt, 0);
    } else if (rc == SQLITE_DONE) {
        error = ENOENT;
    } else {
        error = db_error(s, rc, sql);
    }
    sqlite3_finalize(stmt);
    return error;
}

int
store_run_clock(struct store *s, int64_t run, int64_t *t_ns)
{
    int64_t origin;
    int error = query_int64(s, "SELECT mono_origin_ns FROM runs WHERE id = ?", run, &origin);

    if (!error) {
        *t_ns = (int64_t) time_mono_ns() - origin;
    }
    return error;
}

/* Samples and events: buffered, written by store_flush(). */

static uint32_t
hash_series(int64_t run, const char *metric, const char *labels)
{
    uint32_t h = 2166136261u ^ (uint32_t) run;     /* FNV-1a */

    for (const char *p = metric; *p; p++) {
        h = (h ^ (uint8_t) *p) * 16777619u;
    }
    h = (h ^ 0xff) * 16777619u;
    for (const char *p = labels; *p; p++) {
        h = (h ^ (uint8_t) *p) * 16777619u;
    }
    return h;
}

static void
series_rehash(struct store *s)
{
    size_t n = s->n_buckets ? s->n_buckets * 2 : 64;

    free(s->buckets);
    s->buckets = xcalloc(n, sizeof *s->buckets);
    s->n_buckets = n;
    for (size_t i = 0; i < s->n_series; i++) {
        size_t b = s->series[i].hash & (n - 1);
        while (s->buckets[b]) {
            b = (b + 1) & (n - 1);
        }
        s->buckets[b] = i + 1;
    }
}

/* Finds or adds the series; adding checks that the run exists, so one bad id cannot poison
 * every later batch with a foreign-key failure. */
static int
series_lookup(struct store *s, int64_t run, const char *metric, const char *labels,
              uint32_t *idx)
{
    uint32_t h = hash_series(run, metric, labels);
    struct series_entry *e;
    int64_t exists;
    size_t b;
    int error;

    if (s->n_buckets) {
        for (b = h & (s->n_buckets - 1); s->buckets[b]; b = (b + 1) & (s->n_buckets - 1)) {
            e = &s->series[s->buckets[b] - 1];
            if (e->hash == h && e->run == run && !strcmp(e->metric, metric)
                && !strcmp(e->labels, labels)) {
                *idx = s->buckets[b] - 1;
                return 0;
            }
        }
    }
    if (!metric[0]) {
        log_err("%s: a sample needs a metric name", s->path);
        return EINVAL;
    }
    error = query_int64(s, "SELECT id FROM runs WHERE id = ?", run, &exists);
    if (error) {
        if (error == ENOENT) {
            log_err("%s: no run %lld", s->path, (long long) run);
        }
        return error;
    }
    if (s->n_series >= s->cap_series) {
        s->series = x2nrealloc(s->series, &s->cap_series, sizeof *s->series);
    }
    e = &s->series[s->n_series++];
    *e = (struct series_entry) {
        .run = run, .metric = xstrdup(metric), .labels = xstrdup(labels), .hash = h,
    };
    if (s->n_series * 2 > s->n_buckets) {
        series_rehash(s);
    } else {
        for (b = h & (s->n_buckets - 1); s->buckets[b]; b = (b + 1) & (s->n_buckets - 1)) {
            continue;
        }
        s->buckets[b] = s->n_series;
    }
    *idx = s->n_series - 1;
    return 0;
}

int
store_sample_add(struct store *s, int64_t run, const char *metric, const char *labels,
                 int64_t t_ns, double value)
{
    uint32_t idx;
    int error;

    if (!isfinite(value)) {
        log_err("%s: sample of '%s' is not a finite number", s->path, metric);
        return EINVAL;
    }
    if (s->n_samples >= s->batch) {
        error = store_flush(s);
        if (error) {
            return error;
        }
    }
    error = series_lookup(s, run, metric, labels ? labels : "", &idx);
    if (error) {
        return error;
    }
    if (s->n_samples >= s->cap_samples) {
        s->samples = x2nrealloc(s->samples, &s->cap_samples, sizeof *s->samples);
    }
    s->samples[s->n_samples++] = (struct pending_sample) { idx, t_ns, value };
    return 0;
}

int
store_event_add(struct store *s, int64_t run, int64_t t_ns, const char *kind,
                const char *target, const char *detail)
{
    if (!kind || !kind[0]) {
        log_err("%s: an event needs a kind", s->path);
        return EINVAL;
    }
    if (s->n_events >= s->cap_events) {
        s->events = x2nrealloc(s->events, &s->cap_events, sizeof *s->events);
    }
    s->events[s->n_events++] = (struct pending_event) {
        .run = run, .t_ns = t_ns, .kind = xstrdup(kind),
        .target = xstrdup(target ? target : ""), .detail = xstrdup(detail ? detail : ""),
    };
    return 0;
}

static int
step_done(struct store *s, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);

    sqlite3_reset(stmt);
    return rc == SQLITE_DONE ? 0 : db_error(s, rc, what);
}

static int
flush_series(struct store *s, struct series_entry *e)
{
    int error;
    int rc;

    sqlite3_bind_int64(s->ins_series, 1, e->run);
    sqlite3_bind_text(s->ins_series, 2, e->metric, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->ins_series, 3, e->labels, -1, SQLITE_STATIC);
    error = step_done(s, s->ins_series, "adding a series");
    if (error) {
        return error;
    }
    /* Another writer may have made the same series: read the id rather than trust rowid. */
    sqlite3_bind_int64(s->sel_series, 1, e->run);
    sqlite3_bind_text(s->sel_series, 2, e->metric, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->sel_series, 3, e->labels, -1, SQLITE_STATIC);
    rc = sqlite3_step(s->sel_series);
    if (rc == SQLITE_ROW) {
        e->id = sqlite3_column_int64(s->sel_series, 0);
    } else {
        error = db_error(s, rc, "reading a series id");
    }
    sqlite3_reset(s->sel_series);
    return error;
}

int
store_flush(struct store *s)
{
    size_t first_new = s->n_series;
    int error;

    if (!s->n_samples && !s->n_events) {
        return 0;
    }
    if (s->readonly) {
        return EROFS;
    }
    /* IMMEDIATE takes the write lock now, so a busy database fails here, before any work. */
    error = exec_sql(s, "BEGIN IMMEDIATE");
    if (error) {
        return error;
    }
    for (size_t i = 0; i < s->n_samples && !error; i++) {
        struct pending_sample *p = &s->samples[i];
        struct series_entry *e = &s->series[p->series];

        if (!e->id) {
            first_new = MIN(first_new, p->series);
            error = flush_series(s, e);
            if (error) {
                break;
            }
        }
        sqlite3_bind_int64(s->ins_sample, 1, e->id);
        sqlite3_bind_int64(s->ins_sample, 2, p->t_ns);
        sqlite3_bind_double(s->ins_sample, 3, p->value);
        error = step_done(s, s->ins_sample, "adding a sample");
    }
    for (size_t i = 0; i < s->n_events && !error; i++) {
        struct pending_event *ev = &s->events[i];

        sqlite3_bind_int64(s->ins_event, 1, ev->run);
        sqlite3_bind_int64(s->ins_event, 2, ev->t_ns);
        sqlite3_bind_text(s->ins_event, 3, ev->kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->ins_event, 4, ev->target, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->ins_event, 5, ev->detail, -1, SQLITE_STATIC);
        error = step_done(s, s->ins_event, "adding an event");
    }
    if (!error) {
        error = exec_sql(s, "COMMIT");
    }
    if (error) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        /* The rolled-back series rows are gone: write them again next time. */
        for (size_t i = first_new; i < s->n_series; i++) {
            s->series[i].id = 0;
        }
        return error;
    }
    s->n_samples = 0;
    pending_events_clear(s);
    return 0;
}

/* Summaries and references. */

int
store_summary_put(struct store *s, int64_t run, const char *metric, const char *labels,
                  const struct store_summary *sum)
{
    sqlite3_stmt *stmt;
    int error = prepare(s, "INSERT OR REPLACE INTO summaries (run, metric, labels, n, mean, "
                        "ci95, p50, p99, min, max) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        &stmt);

    if (error) {
        return error;
    }
    sqlite3_bind_int64(stmt, 1, run);
    sqlite3_bind_text(stmt, 2, metric, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, labels ? labels : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 4, (int64_t) sum->n);
    bind_double(stmt, 5, sum->mean);
    bind_double(stmt, 6, sum->ci95);
    bind_double(stmt, 7, sum->p50);
    bind_double(stmt, 8, sum->p99);
    bind_double(stmt, 9, sum->min);
    bind_double(stmt, 10, sum->max);
    error = step_done(s, stmt, "storing a summary");
    sqlite3_finalize(stmt);
    return error;
}

int
store_summary_get(struct store *s, int64_t run, const char *metric, const char *labels,
                  struct store_summary *sum)
{
    sqlite3_stmt *stmt;
    int error = prepare(s, "SELECT n, mean, ci95, p50, p99, min, max FROM summaries "
                        "WHERE run = ? AND metric = ? AND labels = ?", &stmt);
    int rc;

    if (error) {
        return error;
    }
    sqlite3_bind_int64(stmt, 1, run);
    sqlite3_bind_text(stmt, 2, metric, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, labels ? labels : "", -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        sum->n = sqlite3_column_int64(stmt, 0);
        sum->mean = column_double(stmt, 1);
        sum->ci95 = column_double(stmt, 2);
        sum->p50 = column_double(stmt, 3);
        sum->p99 = column_double(stmt, 4);
        sum->min = column_double(stmt, 5);
        sum->max = column_double(stmt, 6);
    } else {
        error = rc == SQLITE_DONE ? ENOENT : db_error(s, rc, "reading a summary");
    }
    sqlite3_finalize(stmt);
    return error;
}

/* Reading runs back. */

#define RUN_COLUMNS \
    "r.id, r.experiment, r.title, r.scheme, r.point, r.params, r.experiment_file, r.host, " \
    "r.git_rev, r.repetition, r.seed, r.status, r.started_ns, r.ended_ns, r.mono_origin_ns, " \
    "r.writer_pid, r.writer_start, r.writer_boot, " \
    "(SELECT count(*) FROM samples WHERE series IN (SELECT id FROM series WHERE run = r.id))"

static void
run_from_row(sqlite3_stmt *stmt, struct store_run *run)
{
    const char *status = (const char *) sqlite3_column_text(stmt, 11);

    *run = (struct store_run) {
        .id = sqlite3_column_int64(stmt, 0),
        .experiment = column_strdup(stmt, 1),
        .title = column_strdup(stmt, 2),
        .scheme = column_strdup(stmt, 3),
        .point = column_strdup(stmt, 4),
        .params = column_strdup(stmt, 5),
        .experiment_file = column_strdup(stmt, 6),
        .host = column_strdup(stmt, 7),
        .git_rev = column_strdup(stmt, 8),
        .repetition = sqlite3_column_int(stmt, 9),
        .seed = (uint64_t) sqlite3_column_int64(stmt, 10),
        .status = STORE_FAILED,
        .started_ns = sqlite3_column_int64(stmt, 12),
        .ended_ns = sqlite3_column_int64(stmt, 13),
        .mono_origin_ns = sqlite3_column_int64(stmt, 14),
        .n_samples = sqlite3_column_int64(stmt, 18),
    };
    store_status_from_string(status, &run->status);
    /* A read-only reader cannot mark it, but shows what it is. */
    if (run->status == STORE_RUNNING
        && !writer_alive(sqlite3_column_int64(stmt, 15), sqlite3_column_int64(stmt, 16),
                         (const char *) sqlite3_column_text(stmt, 17))) {
        run->status = STORE_INTERRUPTED;
    }
}

int
store_runs_list(struct store *s, const char *experiment, struct store_run **runsp, size_t *np)
{
    struct store_run *runs = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *stmt;
    int error, rc;

    if (!s->readonly) {
        error = store_reap(s, NULL);
        if (error) {
            return error;
        }
    }
    error = prepare(s, experiment
                    ? "SELECT " RUN_COLUMNS " FROM runs r WHERE r.experiment = ? ORDER BY r.id"
                    : "SELECT " RUN_COLUMNS " FROM runs r ORDER BY r.id", &stmt);
    if (error) {
        return error;
    }
    if (experiment) {
        sqlite3_bind_text(stmt, 1, experiment, -1, SQLITE_STATIC);
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n >= cap) {
            runs = x2nrealloc(runs, &cap, sizeof *runs);
        }
        run_from_row(stmt, &runs[n++]);
    }
    if (rc != SQLITE_DONE) {
        error = db_error(s, rc, "listing runs");
        store_runs_free(runs, n);
    } else {
        *runsp = runs;
        *np = n;
    }
    sqlite3_finalize(stmt);
    return error;
}

int
store_run_get(struct store *s, int64_t id, struct store_run *run)
{
    sqlite3_stmt *stmt;
    int error = prepare(s, "SELECT " RUN_COLUMNS " FROM runs r WHERE r.id = ?", &stmt);
    int rc;

    if (error) {
        return error;
    }
    sqlite3_bind_int64(stmt, 1, id);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        run_from_row(stmt, run);
    } else {
        error = rc == SQLITE_DONE ? ENOENT : db_error(s, rc, "reading a run");
    }
    sqlite3_finalize(stmt);
    return error;
}

char *
store_run_variant(const struct store_run *run)
{
    json_t *params = run->params ? json_loads(run->params, 0, NULL) : NULL;
    const char *v = json_string_value(json_object_get(params, "variant"));
    char *variant = xstrdup(v ? v : "unrecorded");

    json_decref(params);
    return variant;
}

void
store_run_uninit(struct store_run *run)
{
    free(run->experiment);
    free(run->title);
    free(run->scheme);
    free(run->point);
    free(run->params);
    free(run->experiment_file);
    free(run->host);
    free(run->git_rev);
}

void
store_runs_free(struct store_run *runs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        store_run_uninit(&runs[i]);
    }
    free(runs);
}

int
store_samples_read(struct store *s, int64_t run, const char *metric, const char *labels,
                   struct store_point **pointsp, size_t *np)
{
    struct store_point *points = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *stmt;
    int error, rc;

    error = prepare(s, "SELECT t_ns, value FROM samples WHERE series = "
                    "(SELECT id FROM series WHERE run = ? AND metric = ? AND labels = ?) "
                    "ORDER BY t_ns", &stmt);
    if (error) {
        return error;
    }
    sqlite3_bind_int64(stmt, 1, run);
    sqlite3_bind_text(stmt, 2, metric, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, labels ? labels : "", -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n >= cap) {
            points = x2nrealloc(points, &cap, sizeof *points);
        }
        points[n++] = (struct store_point) {
            sqlite3_column_int64(stmt, 0), sqlite3_column_double(stmt, 1),
        };
    }
    if (rc != SQLITE_DONE) {
        error = db_error(s, rc, "reading samples");
        free(points);
    } else {
        *pointsp = points;
        *np = n;
    }
    sqlite3_finalize(stmt);
    return error;
}

int
store_samples_foreach(struct store *s, int64_t run, const char *metric,
                      int (*cb)(const struct store_sample *, void *aux), void *aux)
{
    sqlite3_stmt *stmt;
    int error, rc;

    error = prepare(s, "SELECT se.metric, se.labels, sa.t_ns, sa.value FROM series se "
                    "JOIN samples sa ON sa.series = se.id "
                    "WHERE se.run = ?1 AND (?2 IS NULL OR se.metric = ?2) "
                    "ORDER BY se.id, sa.t_ns", &stmt);
    if (error) {
        return error;
    }
    sqlite3_bind_int64(stmt, 1, run);
    if (metric) {
        sqlite3_bind_text(stmt, 2, metric, -1, SQLITE_STATIC);
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct store_sample sample = {
            .metric = (const char *) sqlite3_column_text(stmt, 0),
            .labels = (const char *) sqlite3_column_text(stmt, 1),
            .t_ns = sqlite3_column_int64(stmt, 2),
            .value = sqlite3_column_double(stmt, 3),
        };
        error = cb(&sample, aux);
        if (error) {
            break;
        }
    }
    if (!error && rc != SQLITE_DONE) {
        error = db_error(s, rc, "reading samples");
    }
    sqlite3_finalize(stmt);
    return error;
}

int
store_series_list(struct store *s, int64_t run, bool summaries,
                  struct store_series_name **namesp, size_t *np)
{
    struct store_series_name *names = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *stmt;
    int error, rc;

    error = prepare(s, summaries
                    ? "SELECT metric, labels FROM summaries WHERE run = ? ORDER BY metric, labels"
                    : "SELECT metric, labels FROM series WHERE run = ? ORDER BY metric, labels",
                    &stmt);
    if (error) {
        return error;
    }
    sqlite3_bind_int64(stmt, 1, run);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n >= cap) {
            names = x2nrealloc(names, &cap, sizeof *names);
        }
        names[n].metric = column_strdup(stmt, 0);
        names[n].labels = column_strdup(stmt, 1);
        n++;
    }
    if (rc != SQLITE_DONE) {
        error = db_error(s, rc, "listing series");
        store_series_names_free(names, n);
    } else {
        *namesp = names;
        *np = n;
    }
    sqlite3_finalize(stmt);
    return error;
}

void
store_series_names_free(struct store_series_name *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(names[i].metric);
        free(names[i].labels);
    }
    free(names);
}

int
store_events_read(struct store *s, int64_t run, struct store_event **eventsp, size_t *np)
{
    struct store_event *events = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *stmt;
    int error, rc;

    error = prepare(s, "SELECT t_ns, kind, target, detail FROM events WHERE run = ? "
                    "ORDER BY t_ns, id", &stmt);
    if (error) {
        return error;
    }
    sqlite3_bind_int64(stmt, 1, run);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (n >= cap) {
            events = x2nrealloc(events, &cap, sizeof *events);
        }
        events[n++] = (struct store_event) {
            .t_ns = sqlite3_column_int64(stmt, 0), .kind = column_strdup(stmt, 1),
            .target = column_strdup(stmt, 2), .detail = column_strdup(stmt, 3),
        };
    }
    if (rc != SQLITE_DONE) {
        error = db_error(s, rc, "reading events");
        store_events_free(events, n);
    } else {
        *eventsp = events;
        *np = n;
    }
    sqlite3_finalize(stmt);
    return error;
}

void
store_events_free(struct store_event *events, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(events[i].kind);
        free(events[i].target);
        free(events[i].detail);
    }
    free(events);
}

/* Host facts. */

static char *
cpu_model(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    char *model = NULL;

    while (f && !model && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            char *p = strchr(line, ':');
            if (p) {
                p += strspn(p + 1, " \t") + 1;
                p[strcspn(p, "\n")] = '\0';
                model = xstrdup(p);
            }
        }
    }
    if (f) {
        fclose(f);
    }
    return model ? model : xstrdup("unknown");
}

char *
store_host_facts(const char *provider)
{
    struct utsname uts;
    char *model = cpu_model();
    json_t *obj;
    char *s;

    if (uname(&uts)) {
        memset(&uts, 0, sizeof uts);
    }
    obj = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s}",
                    "cpu_model", model,
                    "cores", (json_int_t) sysconf(_SC_NPROCESSORS_ONLN),
                    "memory_bytes",
                    (json_int_t) sysconf(_SC_PHYS_PAGES) * (json_int_t) sysconf(_SC_PAGESIZE),
                    "kernel", uts.release, "arch", uts.machine,
                    "provider", provider ? provider : "");
    s = obj ? json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(obj);
    free(model);
    if (!s) {
        sfc_abort("out of memory building host facts");
    }
    /* json_dumps() allocates with malloc, so free() releases it like our own strings. */
    return s;
}
