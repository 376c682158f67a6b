/* Tests of testbed/store: round trips, batch atomicity, and a writer killed mid-run. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testbed/store/store.h"
#include "vnfs/lib/util.h"

struct fixture {
    char dir[64];
    char *path;
};

static int
setup(void **state)
{
    struct fixture *f = xzalloc(sizeof *f);

    strcpy(f->dir, "/tmp/sfct-store-XXXXXX");
    if (!mkdtemp(f->dir)) {
        return -1;
    }
    f->path = xasprintf("%s/results.db", f->dir);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    const char *suffixes[] = { "", "-wal", "-shm" };

    for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
        char *p = xasprintf("%s%s", f->path, suffixes[i]);
        unlink(p);
        free(p);
    }
    rmdir(f->dir);
    free(f->path);
    free(f);
    return 0;
}

static int64_t
begin_run(struct store *s, const char *scheme)
{
    struct store_run_info info = {
        .experiment = "unit", .title = "a unit test", .scheme = scheme,
        .point = "{\"chain_len\":2}", .params = "{\"chain_len\":2,\"count\":10}",
        .experiment_file = "name: unit\n", .git_rev = "abc123", .seed = 42,
    };
    int64_t run = -1;

    assert_int_equal(store_run_begin(s, &info, &run), 0);
    assert_true(run > 0);
    return run;
}

/* Runs one SQL statement on a connection of its own: what another tool would see. */
static void
raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg);
    }
    sqlite3_close(db);
}

static int64_t
raw_count(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    int64_t n;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
}

static char *
raw_text(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    char *s;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    s = xstrdup((const char *) sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return s;
}

static void
test_round_trip(void **state)
{
    struct fixture *f = *state;
    struct store *s;
    struct store_point *pts;
    struct store_event *evs;
    struct store_run *runs;
    struct store_run run_back;
    struct store_summary sum = { 3, 2.0, 1.5, 2.0, 3.0, 1.0, 3.0 }, sum_back;
    size_t n;
    int64_t run;

    assert_int_equal(store_open(f->path, false, &s), 0);
    run = begin_run(s, "nham-1r-aa");
    /* Out of time order on purpose: reads come back sorted. */
    assert_int_equal(store_sample_add(s, run, "rtt_us", NULL, 2000, 20.5), 0);
    assert_int_equal(store_sample_add(s, run, "rtt_us", NULL, 1000, 10.25), 0);
    assert_int_equal(store_sample_add(s, run, "rtt_us", "{\"component\":\"sff\"}", 1000, 7), 0);
    assert_int_equal(store_event_add(s, run, 1500, "fault-injected", "vnf[0]", "crash"), 0);
    assert_int_equal(store_event_add(s, run, 1200, "phase-start", "measure", NULL), 0);
    assert_int_equal(store_flush(s), 0);
    assert_int_equal(store_summary_put(s, run, "rtt_us", NULL, &sum), 0);
    sum.ci95 = NAN;
    assert_int_equal(store_summary_put(s, run, "rtt_us", "{\"component\":\"sff\"}", &sum), 0);
    assert_int_equal(store_run_end(s, run, STORE_COMPLETE), 0);

    assert_int_equal(store_samples_read(s, run, "rtt_us", "", &pts, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(pts[0].t_ns, 1000);
    assert_true(pts[0].value == 10.25);
    assert_int_equal(pts[1].t_ns, 2000);
    assert_true(pts[1].value == 20.5);
    free(pts);

    assert_int_equal(store_events_read(s, run, &evs, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(evs[0].kind, "phase-start");
    assert_string_equal(evs[0].target, "measure");
    assert_string_equal(evs[0].detail, "");
    assert_string_equal(evs[1].kind, "fault-injected");
    assert_string_equal(evs[1].detail, "crash");
    store_events_free(evs, n);

    assert_int_equal(store_summary_get(s, run, "rtt_us", "", &sum_back), 0);
    assert_int_equal(sum_back.n, 3);
    assert_true(sum_back.mean == 2.0 && sum_back.ci95 == 1.5 && sum_back.p99 == 3.0);
    assert_int_equal(store_summary_get(s, run, "rtt_us", "{\"component\":\"sff\"}", &sum_back), 0);
    assert_true(isnan(sum_back.ci95));
    assert_int_equal(store_summary_get(s, run, "nope", "", &sum_back), ENOENT);

    assert_int_equal(store_runs_list(s, "unit", &runs, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].id, run);
    assert_string_equal(runs[0].scheme, "nham-1r-aa");
    assert_string_equal(runs[0].point, "{\"chain_len\":2}");
    assert_string_equal(runs[0].experiment_file, "name: unit\n");
    assert_string_equal(runs[0].git_rev, "abc123");
    assert_int_equal(runs[0].seed, 42);
    assert_int_equal(runs[0].status, STORE_COMPLETE);
    assert_int_equal(runs[0].n_samples, 3);
    assert_true(runs[0].ended_ns >= runs[0].started_ns);
    assert_non_null(strstr(runs[0].host, "\"cores\":"));
    store_runs_free(runs, n);
    assert_int_equal(store_runs_list(s, "other", &runs, &n), 0);
    assert_int_equal(n, 0);
    store_runs_free(runs, n);

    assert_int_equal(store_run_get(s, run + 100, &run_back), ENOENT);
    store_close(s);

    /* Another reader sees it all, read-only, and the view names the samples. */
    assert_int_equal(store_open(f->path, true, &s), 0);
    assert_int_equal(store_run_get(s, run, &run_back), 0);
    assert_int_equal(run_back.status, STORE_COMPLETE);
    store_run_uninit(&run_back);
    store_close(s);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM samples_view "
                               "WHERE metric = 'rtt_us' AND run = 1"), 3);
}

static void
test_bad_input(void **state)
{
    struct fixture *f = *state;
    struct store_run_info info = { .experiment = "unit", .point = "{not json" };
    struct store *s;
    int64_t run = -7;

    assert_int_equal(store_open(f->path, true, &s), ENOENT);
    assert_int_equal(store_open(f->path, false, &s), 0);
    assert_int_equal(store_run_begin(s, &info, &run), EINVAL);
    assert_int_equal(run, -7);
    info.point = NULL;
    info.experiment = "";
    assert_int_equal(store_run_begin(s, &info, &run), EINVAL);
    assert_int_equal(store_sample_add(s, 99, "rtt_us", NULL, 0, 1.0), ENOENT);
    run = begin_run(s, NULL);
    assert_int_equal(store_sample_add(s, run, "", NULL, 0, 1.0), EINVAL);
    assert_int_equal(store_sample_add(s, run, "rtt_us", NULL, 0, NAN), EINVAL);
    assert_int_equal(store_event_add(s, run, 0, "", NULL, NULL), EINVAL);
    assert_int_equal(store_run_end(s, run + 1, STORE_COMPLETE), ENOENT);
    store_close(s);

    /* A database from a newer sfclab is refused, not scribbled on. */
    raw_exec(f->path, "PRAGMA user_version = 99");
    assert_int_equal(store_open(f->path, false, &s), EPROTO);
    assert_int_equal(raw_count(f->path, "PRAGMA user_version"), 99);
}

/* A batch that fails half-way leaves nothing of itself, and the same buffer commits later. */
static void
test_batch_atomicity(void **state)
{
    struct fixture *f = *state;
    struct store *s;
    int64_t run;

    assert_int_equal(store_open(f->path, false, &s), 0);
    run = begin_run(s, NULL);
    store_set_batch_size(s, 100);
    raw_exec(f->path, "CREATE TRIGGER boom BEFORE INSERT ON samples WHEN NEW.value = 666 "
             "BEGIN SELECT RAISE(ABORT, 'boom'); END");
    assert_int_equal(store_sample_add(s, run, "a", NULL, 1, 1), 0);
    assert_int_equal(store_sample_add(s, run, "b", NULL, 2, 2), 0);
    assert_int_equal(store_event_add(s, run, 2, "suspected", "x", NULL), 0);
    assert_int_equal(store_sample_add(s, run, "a", NULL, 3, 666), 0);
    assert_int_equal(store_sample_add(s, run, "c", NULL, 4, 4), 0);
    assert_int_not_equal(store_flush(s), 0);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM samples"), 0);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM series"), 0);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM events"), 0);

    raw_exec(f->path, "DROP TRIGGER boom");
    assert_int_equal(store_flush(s), 0);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM samples"), 4);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM series"), 3);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM events"), 1);

    /* A full batch flushes by itself: 250 samples with a batch of 100 commit 200 at once. */
    for (int i = 0; i < 250; i++) {
        assert_int_equal(store_sample_add(s, run, "d", NULL, i, i), 0);
    }
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM samples_view WHERE metric = 'd'"),
                     200);
    store_close(s);             /* Flushes the rest. */
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM samples_view WHERE metric = 'd'"),
                     250);
}

/* A 'running' run is interrupted when its writer is gone or is another process by that pid. */
static void
test_reap(void **state)
{
    struct fixture *f = *state;
    struct store_run run_back;
    struct store *s;
    int64_t live, stale;
    size_t n;

    assert_int_equal(store_open(f->path, false, &s), 0);
    live = begin_run(s, NULL);
    stale = begin_run(s, NULL);
    raw_exec(f->path, "UPDATE runs SET writer_start = writer_start + 1 WHERE id = 2");
    assert_int_equal(store_reap(s, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(store_run_get(s, live, &run_back), 0);
    assert_int_equal(run_back.status, STORE_RUNNING);
    store_run_uninit(&run_back);
    assert_int_equal(store_run_get(s, stale, &run_back), 0);
    assert_int_equal(run_back.status, STORE_INTERRUPTED);
    store_run_uninit(&run_back);
    store_close(s);
}

#define KILL_BATCH 1000

/* The child writes batches of KILL_BATCH samples valued by batch number and reports each commit
 * on a pipe; the parent SIGKILLs it mid-stream. Every reported batch must be there, whole. */
static void
test_sigkill_writer(void **state)
{
    struct fixture *f = *state;
    int64_t run = 0, acked = -1, batch, n_samples;
    struct store_run run_back;
    struct store *s;
    int fds[2], status;
    char *check;
    pid_t pid;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (!pid) {
        close(fds[0]);
        if (store_open(f->path, false, &s)) {
            _exit(1);
        }
        store_set_batch_size(s, KILL_BATCH * 2);
        struct store_run_info info = { .experiment = "killed" };
        if (store_run_begin(s, &info, &run) || write(fds[1], &run, sizeof run) != sizeof run) {
            _exit(1);
        }
        /* Bounded: the parent kills us long before. */
        for (batch = 0; batch < 100000; batch++) {
            for (int i = 0; i < KILL_BATCH; i++) {
                if (store_sample_add(s, run, i % 2 ? "odd" : "even", NULL,
                                     batch * KILL_BATCH + i, (double) batch)) {
                    _exit(1);
                }
            }
            if (store_event_add(s, run, batch * KILL_BATCH, "phase-end", "batch", NULL)
                || store_flush(s) || write(fds[1], &batch, sizeof batch) != sizeof batch) {
                _exit(1);
            }
        }
        _exit(2);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &run, sizeof run), sizeof run);
    while (acked < 20 && read(fds[0], &batch, sizeof batch) == sizeof batch) {
        acked = batch;
    }
    kill(pid, SIGKILL);
    /* Commits reported before the kill landed still count. */
    while (read(fds[0], &batch, sizeof batch) == sizeof batch) {
        acked = batch;
    }
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_true(acked >= 20);

    check = raw_text(f->path, "PRAGMA integrity_check");
    assert_string_equal(check, "ok");
    free(check);
    n_samples = raw_count(f->path, "SELECT count(*) FROM samples");
    assert_true(n_samples >= (acked + 1) * KILL_BATCH);
    assert_int_equal(n_samples % KILL_BATCH, 0);
    assert_int_equal(raw_count(f->path, "SELECT count(DISTINCT value) FROM samples"),
                     n_samples / KILL_BATCH);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM events"), n_samples / KILL_BATCH);
    assert_int_equal(raw_count(f->path, "SELECT max(value) FROM samples"),
                     n_samples / KILL_BATCH - 1);

    assert_int_equal(store_open(f->path, false, &s), 0);
    assert_int_equal(store_run_get(s, run, &run_back), 0);
    assert_int_equal(run_back.status, STORE_INTERRUPTED);
    assert_int_equal(run_back.n_samples, n_samples);
    store_run_uninit(&run_back);
    store_close(s);
    check = raw_text(f->path, "SELECT status FROM runs WHERE id = 1");
    assert_string_equal(check, "interrupted");
    free(check);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_atomicity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_writer, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
