/* Unit tests of FTC's concurrency control (vnfs/ft/ftc/txlock.h): the wound-wait decisions of
 * strict two-phase locking step by step, and a Monitor harness on threads, whose logs a replica
 * must be able to apply in each partition's order and arrive at the head's counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/ft/ftc/ftc.h"
#include "vnfs/ft/ftc/txlock.h"
#include "vnfs/lib/util.h"

/* A test harness of the lock API under threads: a Monitor whose packet of flow F increments
 * F's counter and the counter of all packets in one transaction, 'sharing' threads per flow,
 * half of the transactions taking the two locks in the other order (threads in both orders
 * deadlock without wound-wait). Each committed transaction keeps a log with, per partition it
 * wrote, the partition's sequence number taken under its lock; a replica applies the logs in
 * each partition's order (mtmon_replay()). The head's real transactions are
 * ftc_replica's (tests/unit/test_ftc_threads.c); this one drives ftc_lock_acquire() directly.
 *
 * ftc_mtmon_init(): 'n_threads' threads (<= FTC_LOCK_MAX_TXNS), each flow shared by 'sharing'
 * of them, the counters split over 'n_parts' partitions by ftc_partition_of().
 * ftc_mtmon_packet(): thread 'thread' processes one packet of its flow, one transaction
 * retried until it commits ('reverse': the locks in the other order).
 * ftc_mtmon_run(): every thread over 'packets' packets each.
 * ftc_mtmon_replay(): applies every log in each partition's sequence order (into 'counters',
 * of n_flows + 1 entries): 0, or EPROTO if a partition's numbers are not 0, 1, 2, ... or a
 * log does not follow the value its predecessor left. */
/* A committed transaction's log: per partition written, the head's number and the values. */
struct ftc_mtlog {
    unsigned part[2];
    uint64_t seq[2];
    uint32_t key[2];                /* Counters written (flow, or FTC_MTMON_TOTAL). */
    uint64_t value[2];
    unsigned n;
};

#define FTC_MTMON_TOTAL 0xffffffffu   /* The key of the all-packets counter. */

struct ftc_mtmon {
    struct ftc_locks locks;
    unsigned n_threads, sharing, n_flows, n_parts;
    uint64_t *counters;             /* Per flow, then the total at [n_flows]. */
    uint64_t *seq;                  /* Per partition: the head's sequence numbers. */
    /* Per thread: the logs it produced, in its commit order. */
    struct ftc_mtlog **logs;
    size_t *n_logs, *cap_logs;
    bool no_locks;                  /* Tests: run without concurrency control (must break). */
};


static unsigned
mtmon_part(const struct ftc_mtmon *m, uint32_t key)
{
    return ftc_partition_of(&key, sizeof key, m->n_parts);
}

static int
ftc_mtmon_init(struct ftc_mtmon *m, unsigned n_threads, unsigned sharing, unsigned n_parts)
{
    if (!n_threads || n_threads > FTC_LOCK_MAX_TXNS || !sharing || !n_parts
        || n_parts > FTC_MAX_PARTS) {
        return EINVAL;
    }
    memset(m, 0, sizeof *m);
    m->n_threads = n_threads;
    m->sharing = sharing;
    m->n_flows = (n_threads + sharing - 1) / sharing;
    m->n_parts = n_parts;
    ftc_locks_init(&m->locks, n_parts);
    m->counters = xcalloc(m->n_flows + 1, sizeof *m->counters);
    m->seq = xcalloc(n_parts, sizeof *m->seq);
    m->logs = xcalloc(n_threads, sizeof *m->logs);
    m->n_logs = xcalloc(n_threads, sizeof *m->n_logs);
    m->cap_logs = xcalloc(n_threads, sizeof *m->cap_logs);
    return 0;
}

static void
ftc_mtmon_destroy(struct ftc_mtmon *m)
{
    for (unsigned t = 0; t < m->n_threads; t++) {
        free(m->logs[t]);
    }
    free(m->logs);
    free(m->n_logs);
    free(m->cap_logs);
    free(m->counters);
    free(m->seq);
    ftc_locks_destroy(&m->locks);
}

/* The counter of 'key' (a flow or the total). */
static uint64_t *
mtmon_counter(struct ftc_mtmon *m, uint32_t key)
{
    return &m->counters[key == FTC_MTMON_TOTAL ? m->n_flows : key];
}

/* One attempt of thread 't''s transaction: 0 (committed, '*log' filled) or ECANCELED. The
 * read-modify-write of each counter is spread out (a yield between read and write) so that
 * threads without concurrency control lose updates. */
static int
mtmon_attempt(struct ftc_mtmon *m, unsigned t, bool reverse, struct ftc_mtlog *log)
{
    uint32_t keys[2] = { t / m->sharing, FTC_MTMON_TOTAL };
    uint64_t v[2];

    if (reverse) {
        keys[0] = FTC_MTMON_TOTAL;
        keys[1] = t / m->sharing;
    }
    memset(log, 0, sizeof *log);
    for (unsigned i = 0; i < 2; i++) {
        volatile uint64_t *c;

        if (!m->no_locks && ftc_lock_acquire(&m->locks, t, mtmon_part(m, keys[i]), true)) {
            return ECANCELED;
        }
        c = mtmon_counter(m, keys[i]);
        v[i] = *c;
        sched_yield();
        *c = v[i] + 1;
        log->key[i] = keys[i];
        log->part[i] = mtmon_part(m, keys[i]);
        log->value[i] = v[i] + 1;
    }
    /* Commit point: every lock is held, so each written partition's number is the order of
     * its writers. One number per partition, even when both counters are in it. */
    log->n = 2;
    log->seq[0] = m->seq[log->part[0]]++;
    log->seq[1] = log->part[1] == log->part[0] ? log->seq[0] : m->seq[log->part[1]]++;
    return 0;
}

static void
ftc_mtmon_packet(struct ftc_mtmon *m, unsigned t, bool reverse)
{
    struct ftc_mtlog log;
    bool retry = false;

    for (;;) {
        ftc_txn_begin_mt(&m->locks, t, retry);
        if (!mtmon_attempt(m, t, reverse, &log)) {
            break;
        }
        /* Wounded: undo what this attempt wrote (strict 2PL: nobody read it), release, and
         * run again with the same age. */
        for (unsigned i = 0; i < 2 && log.value[i]; i++) {
            *mtmon_counter(m, log.key[i]) = log.value[i] - 1;
        }
        ftc_lock_release_all(&m->locks, t);
        retry = true;
    }
    ftc_lock_release_all(&m->locks, t);
    if (m->n_logs[t] == m->cap_logs[t]) {
        m->cap_logs[t] = m->cap_logs[t] ? 2 * m->cap_logs[t] : 64;
        m->logs[t] = xrealloc(m->logs[t], m->cap_logs[t] * sizeof *m->logs[t]);
    }
    m->logs[t][m->n_logs[t]++] = log;
}

struct mtmon_thread {
    struct ftc_mtmon *m;
    unsigned t, packets;
};

static void *
mtmon_main(void *a_)
{
    struct mtmon_thread *a = a_;

    for (unsigned i = 0; i < a->packets; i++) {
        ftc_mtmon_packet(a->m, a->t, (i + a->t) % 2);
    }
    return NULL;
}

static int
ftc_mtmon_run(struct ftc_mtmon *m, unsigned packets)
{
    pthread_t th[FTC_LOCK_MAX_TXNS];
    struct mtmon_thread args[FTC_LOCK_MAX_TXNS];
    unsigned started = 0;
    int error = 0;

    for (unsigned t = 0; t < m->n_threads; t++) {
        args[t] = (struct mtmon_thread) { m, t, packets };
        error = pthread_create(&th[t], NULL, mtmon_main, &args[t]);
        if (error) {
            break;
        }
        started++;
    }
    for (unsigned t = 0; t < started; t++) {
        pthread_join(th[t], NULL);
    }
    return error;
}

/* One write of a log, for sorting a partition's writes by number. */
struct mtmon_write {
    uint64_t seq;
    uint32_t key;
    uint64_t value;
};

static int
write_cmp(const void *a_, const void *b_)
{
    const struct mtmon_write *a = a_, *b = b_;

    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int
ftc_mtmon_replay(const struct ftc_mtmon *m, uint64_t *counters)
{
    size_t total = 0;
    int error = 0;

    for (unsigned t = 0; t < m->n_threads; t++) {
        total += m->n_logs[t] * 2;
    }
    memset(counters, 0, (m->n_flows + 1) * sizeof *counters);
    for (unsigned p = 0; p < m->n_parts && !error; p++) {
        struct mtmon_write *w = xcalloc(total ? total : 1, sizeof *w);
        size_t n = 0;
        uint64_t next = 0;

        for (unsigned t = 0; t < m->n_threads; t++) {
            for (size_t i = 0; i < m->n_logs[t]; i++) {
                const struct ftc_mtlog *log = &m->logs[t][i];
                for (unsigned k = 0; k < log->n; k++) {
                    if (log->part[k] == p) {
                        w[n++] = (struct mtmon_write) { log->seq[k], log->key[k],
                                                        log->value[k] };
                    }
                }
            }
        }
        qsort(w, n, sizeof *w, write_cmp);
        for (size_t i = 0; i < n && !error; i++) {
            uint64_t *c = &counters[w[i].key == FTC_MTMON_TOTAL ? m->n_flows : w[i].key];

            /* Numbers 0, 1, 2...: a transaction writing both counters here has one. */
            if (w[i].seq != next && !(i && w[i].seq == w[i - 1].seq)) {
                error = EPROTO;
            } else if (w[i].value != *c + 1) {
                error = EPROTO;     /* Not what its predecessor in the order left + 1. */
            }
            *c = w[i].value;
            next = w[i].seq + 1;
        }
        free(w);
    }
    return error;
}

/* An older transaction wounds a younger holder and waits for it; the wounded one aborts at
 * its next request and, retried, keeps its age; a younger one waits for an older holder without
 * wounding it. Fails if wound-wait is broken either way (no wound: a deadlock once both wait;
 * wounding the older: starvation). */
static void
test_wound_wait(void **state)
{
    struct ftc_locks l;

    ftc_locks_init(&l, 4);
    ftc_txn_begin(&l, 0, false);                /* T0: older. */
    ftc_txn_begin(&l, 1, false);                /* T1: younger. */
    assert_true(l.txns[0].ts < l.txns[1].ts);

    /* T1 holds A; T0 holds B; T0 wants A: T1 is wounded, T0 waits. */
    assert_int_equal(ftc_lock_try(&l, 1, 0, true), FTC_LOCK_GRANTED);
    assert_int_equal(ftc_lock_try(&l, 0, 1, true), FTC_LOCK_GRANTED);
    assert_int_equal(ftc_lock_try(&l, 0, 0, true), FTC_LOCK_WAIT);
    assert_true(l.txns[1].wounded);
    assert_false(l.txns[0].wounded);
    /* T1 now wants B (the deadlock): it aborts instead of waiting. */
    assert_int_equal(ftc_lock_try(&l, 1, 1, true), FTC_LOCK_ABORT);
    ftc_lock_release_slot(&l, 1);
    assert_int_equal(ftc_lock_try(&l, 0, 0, true), FTC_LOCK_GRANTED);

    /* T1 runs again with its old age, younger than T0: it waits for T0, wounding nobody. */
    uint64_t ts1 = l.txns[1].ts;
    ftc_txn_begin(&l, 1, true);
    assert_int_equal(l.txns[1].ts, ts1);
    assert_false(l.txns[1].wounded);
    assert_int_equal(ftc_lock_try(&l, 1, 0, true), FTC_LOCK_WAIT);
    assert_false(l.txns[0].wounded);
    ftc_lock_release_slot(&l, 0);               /* T0 commits. */
    assert_int_equal(ftc_lock_try(&l, 1, 0, true), FTC_LOCK_GRANTED);

    /* A new transaction is younger than the retried one: its age was kept. */
    ftc_txn_begin(&l, 2, false);
    assert_true(l.txns[2].ts > ts1);
    assert_int_equal(ftc_lock_try(&l, 2, 0, false), FTC_LOCK_WAIT);
    assert_false(l.txns[1].wounded);
    ftc_lock_release_slot(&l, 1);
    ftc_lock_release_slot(&l, 2);
    ftc_locks_destroy(&l);
}

/* Readers share; a writer waits for readers (wounding the younger ones); an upgrade by the only
 * reader is granted; a held lock is granted again. */
static void
test_shared_and_upgrade(void **state)
{
    struct ftc_locks l;

    ftc_locks_init(&l, 2);
    ftc_txn_begin(&l, 0, false);
    ftc_txn_begin(&l, 1, false);
    ftc_txn_begin(&l, 2, false);
    assert_int_equal(ftc_lock_try(&l, 1, 0, false), FTC_LOCK_GRANTED);
    assert_int_equal(ftc_lock_try(&l, 2, 0, false), FTC_LOCK_GRANTED);
    assert_int_equal(ftc_lock_try(&l, 0, 0, true), FTC_LOCK_WAIT);
    assert_true(l.txns[1].wounded);
    assert_true(l.txns[2].wounded);
    ftc_lock_release_slot(&l, 1);
    ftc_lock_release_slot(&l, 2);
    assert_int_equal(ftc_lock_try(&l, 0, 0, false), FTC_LOCK_GRANTED);
    assert_int_equal(ftc_lock_try(&l, 0, 0, true), FTC_LOCK_GRANTED);     /* Upgrade. */
    assert_int_equal(l.parts[0].excl, 0);
    assert_int_equal(ftc_lock_try(&l, 0, 0, false), FTC_LOCK_GRANTED);    /* Held. */
    ftc_txn_begin(&l, 1, false);
    assert_int_equal(ftc_lock_try(&l, 1, 0, false), FTC_LOCK_WAIT);       /* Younger waits. */
    assert_false(l.txns[0].wounded);
    assert_int_equal(ftc_lock_try(&l, 1, 1, false), FTC_LOCK_GRANTED);
    ftc_lock_release_slot(&l, 0);
    ftc_lock_release_slot(&l, 1);
    assert_int_equal(l.parts[0].excl, -1);
    assert_int_equal(l.parts[0].shared | l.parts[1].shared, 0);
    ftc_locks_destroy(&l);
}

/* The Monitor on 8 threads (2 per flow), half of the transactions taking the two locks in the
 * other order (a deadlock without wound-wait): every packet is counted once, and the logs,
 * applied in each partition's order, give the head's counters. Sharing levels 1, 2 and 8, over
 * 1 and 4 partitions. */
static void
test_mtmon(void **state)
{
    static const unsigned sharing[] = { 1, 2, 8 };
    static const unsigned parts[] = { 1, 4 };
    const unsigned threads = 8, packets = 120;

    for (size_t s = 0; s < sizeof sharing / sizeof *sharing; s++) {
        for (size_t p = 0; p < sizeof parts / sizeof *parts; p++) {
            struct ftc_mtmon m;
            uint64_t *replica;

            assert_int_equal(ftc_mtmon_init(&m, threads, sharing[s], parts[p]), 0);
            assert_int_equal(ftc_mtmon_run(&m, packets), 0);
            assert_int_equal(m.counters[m.n_flows], threads * packets);
            for (unsigned f = 0; f < m.n_flows; f++) {
                unsigned n = threads - f * sharing[s];
                assert_int_equal(m.counters[f], (n < sharing[s] ? n : sharing[s]) * packets);
            }
            replica = calloc(m.n_flows + 1, sizeof *replica);
            assert_int_equal(ftc_mtmon_replay(&m, replica), 0);
            for (unsigned f = 0; f <= m.n_flows; f++) {
                assert_int_equal(replica[f], m.counters[f]);
            }
            print_message("sharing %u, %u partitions: %llu waits, %llu wounds\n", sharing[s],
                          parts[p], (unsigned long long) m.locks.n_waits,
                          (unsigned long long) m.locks.n_wounds);
            free(replica);
            ftc_mtmon_destroy(&m);
        }
    }
}

/* The replica's check catches an order that does not explain the values: two logs of one
 * partition swapped. */
static void
test_replay_catches_misorder(void **state)
{
    struct ftc_mtmon m;
    uint64_t replica[2];

    assert_int_equal(ftc_mtmon_init(&m, 1, 1, 1), 0);
    ftc_mtmon_packet(&m, 0, false);
    ftc_mtmon_packet(&m, 0, true);
    assert_int_equal(ftc_mtmon_replay(&m, replica), 0);
    m.logs[0][0].seq[0] = m.logs[0][0].seq[1] = 1;
    m.logs[0][1].seq[0] = m.logs[0][1].seq[1] = 0;
    assert_int_equal(ftc_mtmon_replay(&m, replica), EPROTO);
    m.logs[0][1].seq[0] = m.logs[0][1].seq[1] = 2;     /* A gap. */
    assert_int_equal(ftc_mtmon_replay(&m, replica), EPROTO);
    assert_int_equal(ftc_mtmon_init(&m, 0, 1, 1), EINVAL);
    ftc_mtmon_destroy(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wound_wait),
        cmocka_unit_test(test_shared_and_upgrade),
        cmocka_unit_test(test_mtmon),
        cmocka_unit_test(test_replay_catches_misorder),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
