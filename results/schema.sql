-- sfclab results database: one history per run, Jepsen-style.
--
-- Client operations (samples) and fault events share one clock per run: t_ns counts nanoseconds
-- of CLOCK_MONOTONIC since the run's origin (runs.mono_origin_ns, taken at store_run_begin()).
-- Metrics are computed from this history afterwards (testbed/stats), never by the workload.
--
-- This file is the single source of the schema: testbed/store/store.c embeds it at build time
-- and runs it on every open, so each statement must be idempotent (IF NOT EXISTS). A change that
-- is not additive bumps user_version, and store.c refuses databases newer than it knows.

PRAGMA user_version = 1;

-- One row per (sweep point, repetition) executed.
CREATE TABLE IF NOT EXISTS runs (
    id              INTEGER PRIMARY KEY,
    experiment      TEXT NOT NULL,               -- experiment name, e.g. 'baseline-dns'
    title           TEXT NOT NULL DEFAULT '',
    scheme          TEXT NOT NULL DEFAULT 'none',
    point           TEXT NOT NULL DEFAULT '{}'   -- the sweep point's parameters, JSON object
                    CHECK (json_valid(point)),
    repetition      INTEGER NOT NULL DEFAULT 0,
    params          TEXT NOT NULL DEFAULT '{}'   -- every resolved parameter, JSON object
                    CHECK (json_valid(params)),
    experiment_file TEXT,                        -- the experiment file's content, verbatim
    host            TEXT NOT NULL DEFAULT '{}'   -- cpu model, cores, kernel, provider (JSON)
                    CHECK (json_valid(host)),
    git_rev         TEXT,
    seed            INTEGER NOT NULL DEFAULT 0,
    status          TEXT NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'complete', 'interrupted', 'failed')),
    -- Who writes the run: a 'running' row whose writer is gone (other boot, no such pid, or a
    -- pid reused by a process that started later) was interrupted.
    writer_pid      INTEGER,
    writer_start    INTEGER,                     -- /proc/PID/stat starttime, clock ticks
    writer_boot     TEXT,                        -- /proc/sys/kernel/random/boot_id
    mono_origin_ns  INTEGER NOT NULL DEFAULT 0,  -- CLOCK_MONOTONIC at t_ns = 0
    started_ns      INTEGER NOT NULL,            -- wall clock, ns since the epoch
    ended_ns        INTEGER
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs (experiment, id);

-- Fault events and phases. Kinds in use: fault-injected, healed, suspected, recovered,
-- phase-start, phase-end, agent-restarted, agent-down (a guest's agent died during the run);
-- others may be added, testbed/stats ignores what it does not know.
CREATE TABLE IF NOT EXISTS events (
    id      INTEGER PRIMARY KEY,
    run     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    t_ns    INTEGER NOT NULL,
    kind    TEXT NOT NULL CHECK (kind <> ''),
    target  TEXT NOT NULL DEFAULT '',            -- e.g. 'vnf[2].replica[0]', or a phase name
    detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS events_by_run ON events (run, t_ns);

-- A series is one metric with one set of labels in one run; samples refer to it by id so the
-- hot table holds three numbers a row (this is what keeps storage above 200,000 samples/s).
-- Read samples with their names through the samples_view view.
CREATE TABLE IF NOT EXISTS series (
    id      INTEGER PRIMARY KEY,
    run     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    metric  TEXT NOT NULL CHECK (metric <> ''),  -- unit as suffix: rtt_us, probe_ok, rx_bytes
    labels  TEXT NOT NULL DEFAULT '',            -- '' or a JSON object, e.g. {"component":"sff"}
    UNIQUE (run, metric, labels)
);

CREATE TABLE IF NOT EXISTS samples (
    series  INTEGER NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    t_ns    INTEGER NOT NULL,
    value   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_by_series ON samples (series, t_ns);

CREATE VIEW IF NOT EXISTS samples_view AS
    SELECT series.run AS run, samples.t_ns AS t_ns, series.metric AS metric,
           samples.value AS value, series.labels AS labels
    FROM samples JOIN series ON samples.series = series.id;

-- Descriptive statistics of one series (or of a derived metric such as availability).
-- ci95 is the half-width of the 95% confidence interval of the mean (NULL when n < 2);
-- percentiles are nearest-rank (see testbed/stats/stats.h).
CREATE TABLE IF NOT EXISTS summaries (
    run     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    metric  TEXT NOT NULL CHECK (metric <> ''),
    labels  TEXT NOT NULL DEFAULT '',
    n       INTEGER NOT NULL CHECK (n >= 0),
    mean    REAL,
    ci95    REAL,
    p50     REAL,
    p99     REAL,
    min     REAL,
    max     REAL,
    PRIMARY KEY (run, metric, labels)
);

-- No longer written: it kept one axis of a reference's `where` and lost its label and labels,
-- so rows collided. `sfclab report` reads the published values from the experiment file each
-- run records (runs.experiment_file). Kept so older databases still open.
CREATE TABLE IF NOT EXISTS reference_values (
    experiment  TEXT NOT NULL,
    figure      TEXT NOT NULL,                   -- e.g. 'N10', 'T2'
    metric      TEXT NOT NULL,
    scheme      TEXT NOT NULL DEFAULT '',
    axis        TEXT NOT NULL DEFAULT '',        -- sweep axis, e.g. 'chain_len'
    x           TEXT NOT NULL DEFAULT '',        -- its value, as written in the point
    value       REAL NOT NULL,
    unit        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (experiment, figure, metric, scheme, axis, x)
);
