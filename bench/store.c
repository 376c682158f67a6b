/* bench_store — samples stored per second by testbed/store, the runner's own overhead.
 *
 * Writes RUNS rounds of N samples spread over a few series (as a workload does: rtt per request,
 * probe outcomes, cpu and memory), in the store's default batches, into a fresh database on
 * /tmp, and prints the median rate. The baseline is a bare SQLite insert loop of the same rows
 * into a one-table database in the same run, so the ratio shows what the store itself costs. */

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testbed/store/store.h"
#include "vnfs/lib/util.h"

#define N_SAMPLES 500000
#define ROUNDS 5

static const char *metrics[] = { "rtt_us", "probe_ok", "cpu_usage_usec", "memory_current" };

static void
remove_db(const char *path)
{
    const char *suffixes[] = { "", "-wal", "-shm" };

    for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
        char *p = xasprintf("%s%s", path, suffixes[i]);
        unlink(p);
        free(p);
    }
}

static double
store_round(const char *path)
{
    struct store *s;
    struct store_run_info info = { .experiment = "bench-store" };
    uint64_t start;
    int64_t run;
    int error;

    remove_db(path);
    error = store_open(path, false, &s);
    if (!error) {
        error = store_run_begin(s, &info, &run);
    }
    if (error) {
        sfc_abort("bench_store: %s", strerror(error));
    }
    start = time_mono_ns();
    for (int i = 0; i < N_SAMPLES && !error; i++) {
        error = store_sample_add(s, run, metrics[i & 3], NULL, i * 1000ll, i * 0.5);
    }
    if (!error) {
        error = store_run_end(s, run, STORE_COMPLETE);
    }
    if (error) {
        sfc_abort("bench_store: %s", strerror(error));
    }
    double secs = (time_mono_ns() - start) / 1e9;
    store_close(s);
    return N_SAMPLES / secs;
}

/* The floor: the same rows into one plain table with one prepared statement. */
static double
sqlite_round(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    uint64_t start;

    remove_db(path);
    if (sqlite3_open(path, &db) != SQLITE_OK
        || sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; "
                        "CREATE TABLE t (series INTEGER, t_ns INTEGER, value REAL)",
                        NULL, NULL, NULL) != SQLITE_OK
        || sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?, ?, ?)", -1, &stmt, NULL)
           != SQLITE_OK) {
        sfc_abort("bench_store: sqlite baseline: %s", sqlite3_errmsg(db));
    }
    start = time_mono_ns();
    for (int i = 0; i < N_SAMPLES; i += STORE_BATCH_DEFAULT) {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        for (int j = i; j < MIN(N_SAMPLES, i + STORE_BATCH_DEFAULT); j++) {
            sqlite3_bind_int64(stmt, 1, j & 3);
            sqlite3_bind_int64(stmt, 2, j * 1000ll);
            sqlite3_bind_double(stmt, 3, j * 0.5);
            sqlite3_step(stmt);
            sqlite3_reset(stmt);
        }
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    double secs = (time_mono_ns() - start) / 1e9;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return N_SAMPLES / secs;
}

static int
cmp_double(const void *a_, const void *b_)
{
    double a = *(const double *) a_, b = *(const double *) b_;
    return a < b ? -1 : a > b;
}

int
main(void)
{
    char dir[] = "/tmp/sfct-store-bench-XXXXXX";
    double store_rates[ROUNDS], base_rates[ROUNDS];
    char *path;

    if (!mkdtemp(dir)) {
        sfc_abort("bench_store: mkdtemp: %s", strerror(errno));
    }
    path = xasprintf("%s/bench.db", dir);
    for (int r = 0; r < ROUNDS; r++) {
        base_rates[r] = sqlite_round(path);
        store_rates[r] = store_round(path);
    }
    remove_db(path);
    rmdir(dir);
    free(path);
    qsort(store_rates, ROUNDS, sizeof *store_rates, cmp_double);
    qsort(base_rates, ROUNDS, sizeof *base_rates, cmp_double);
    printf("store: %d samples x %d rounds, batches of %d\n", N_SAMPLES, ROUNDS,
           STORE_BATCH_DEFAULT);
    printf("  bare sqlite insert loop   %10.0f samples/s (median)\n", base_rates[ROUNDS / 2]);
    printf("  store_sample_add + flush  %10.0f samples/s (median; min %.0f, max %.0f)\n",
           store_rates[ROUNDS / 2], store_rates[0], store_rates[ROUNDS - 1]);
    printf("  ratio to bare sqlite      %10.2f\n", store_rates[ROUNDS / 2] / base_rates[ROUNDS / 2]);
    printf("  target 200000 samples/s:  %s\n", store_rates[ROUNDS / 2] > 200000 ? "met" : "MISSED");
    return 0;
}
