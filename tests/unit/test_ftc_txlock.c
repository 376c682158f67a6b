/* Unit tests of FTC's concurrency control (vnfs/ft/ftc/txlock.h): the wound-wait decisions of
 * strict two-phase locking step by step, and the multithreaded Monitor, whose logs a replica
 * must be able to apply in each partition's order and arrive at the head's counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>

#include "vnfs/ft/ftc/txlock.h"

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
