/* Unit tests of injectors/schedule: fixed times, periods, simultaneous counts, heals, and the
 * MTBF schedule's statistics and reproducibility. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "injectors/schedule.h"
#include "testbed/model/experiment.h"
#include "vnfs/ft/rng.h"

#define S 1000000000ull
#define MS 1000000ull

static struct exp_fault
fault(uint64_t at, uint64_t every, uint64_t mtbf, uint64_t count, uint64_t heal_after)
{
    return (struct exp_fault) {
        .kind = "crash", .target = "vnf[0]", .at_ns = at, .every_ns = every, .mtbf_ns = mtbf,
        .count = count, .heal_after_ns = heal_after,
    };
}

static void
test_fixed_time(void **state)
{
    struct exp_fault f = fault(3 * S, 0, 0, 1, 2 * S);
    struct sched_event *ev = NULL;
    size_t n = 0;

    assert_int_equal(schedule_build(&f, 1, 10 * S, &ev, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ev[0].at_ns, 3 * S);
    assert_int_equal(ev[0].action, SCHED_INJECT);
    assert_int_equal(ev[1].at_ns, 5 * S);
    assert_int_equal(ev[1].action, SCHED_HEAL);
    assert_int_equal(ev[1].fault, ev[0].fault);
    free(ev);

    /* Past the end of the run: nothing. A heal past the end: left to the runner. */
    f.at_ns = 10 * S;
    ev = NULL;
    assert_int_equal(schedule_build(&f, 1, 10 * S, &ev, &n), 0);
    assert_int_equal(n, 0);
    assert_null(ev);
    f.at_ns = 9 * S;
    assert_int_equal(schedule_build(&f, 1, 10 * S, &ev, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ev[0].action, SCHED_INJECT);
    free(ev);
}

static void
test_every(void **state)
{
    struct exp_fault f = fault(0, 2 * S, 0, 1, 500 * MS);
    struct sched_event *ev;
    size_t n;

    assert_int_equal(schedule_build(&f, 1, 9 * S, &ev, &n), 0);
    /* Injections at 2, 4, 6, 8 s, each healed 0.5 s later. */
    assert_int_equal(n, 8);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(ev[2 * i].at_ns, (i + 1) * 2 * S);
        assert_int_equal(ev[2 * i].action, SCHED_INJECT);
        assert_int_equal(ev[2 * i].fault, i);
        assert_int_equal(ev[2 * i + 1].at_ns, (i + 1) * 2 * S + 500 * MS);
        assert_int_equal(ev[2 * i + 1].action, SCHED_HEAL);
    }
    free(ev);

    /* With `at`, the period starts there. */
    f.at_ns = 1 * S;
    assert_int_equal(schedule_build(&f, 1, 6 * S, &ev, &n), 0);
    assert_int_equal(n, 6);
    assert_int_equal(ev[0].at_ns, 1 * S);
    assert_int_equal(ev[2].at_ns, 3 * S);
    assert_int_equal(ev[4].at_ns, 5 * S);
    free(ev);
}

static void
test_heal_before_inject_at_same_time(void **state)
{
    struct exp_fault f = fault(0, 1 * S, 0, 1, 1 * S);
    struct sched_event *ev;
    size_t n;

    assert_int_equal(schedule_build(&f, 1, 4 * S, &ev, &n), 0);
    /* Inject 1, heal 2 + inject 2, heal 3 + inject 3 (its heal at 4 is past the end). */
    assert_int_equal(n, 5);
    assert_int_equal(ev[1].at_ns, 2 * S);
    assert_int_equal(ev[1].action, SCHED_HEAL);
    assert_int_equal(ev[2].at_ns, 2 * S);
    assert_int_equal(ev[2].action, SCHED_INJECT);
    free(ev);
}

static void
test_simultaneous_count(void **state)
{
    struct exp_fault f = fault(1 * S, 0, 0, 3, 0);
    struct sched_event *ev;
    size_t n;

    assert_int_equal(schedule_build(&f, 1, 5 * S, &ev, &n), 0);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(ev[i].at_ns, 1 * S);
        assert_int_equal(ev[i].action, SCHED_INJECT);
        assert_int_equal(ev[i].fault, 0);
        assert_int_equal(ev[i].slot, i);
    }
    free(ev);
}

/* The realised inter-arrival times of 1,000 injections average within 10% of the MTBF. */
static void
test_mtbf_mean(void **state)
{
    const uint64_t mtbf = 2 * S;
    uint64_t seeds[] = { 1, 42, 20261122, 0xdeadbeef };

    for (size_t s = 0; s < sizeof seeds / sizeof *seeds; s++) {
        struct exp_fault f = fault(0, 0, mtbf, 1, 0);
        struct sched_event *ev;
        double sum = 0, prev = 0;
        size_t n;

        assert_int_equal(schedule_build(&f, seeds[s], 100000 * mtbf, &ev, &n), 0);
        assert_true(n >= 1000);
        for (size_t i = 0; i < 1000; i++) {
            assert_int_equal(ev[i].action, SCHED_INJECT);
            sum += ev[i].at_ns - prev;
            prev = ev[i].at_ns;
        }
        assert_true(fabs(sum / 1000 - mtbf) < 0.1 * mtbf);
        free(ev);
    }
}

/* The draws are exponential, not just of the right mean: about 1/e of them exceed the mean. */
static void
test_exp_draw_shape(void **state)
{
    struct ft_rng rng;
    size_t above = 0;

    ft_rng_init(&rng, 7);
    for (size_t i = 0; i < 10000; i++) {
        above += schedule_exp_draw(&rng, 1000000) > 1000000;
    }
    assert_true(above > 3300 && above < 4050);     /* e^-1 = 0.368 */
}

static void
test_same_seed_same_schedule(void **state)
{
    struct exp_fault f = fault(500 * MS, 0, 3 * S, 2, 1 * S);
    struct sched_event *a, *b, *c;
    size_t na, nb, nc;

    assert_int_equal(schedule_build(&f, 99, 600 * S, &a, &na), 0);
    assert_int_equal(schedule_build(&f, 99, 600 * S, &b, &nb), 0);
    assert_int_equal(schedule_build(&f, 100, 600 * S, &c, &nc), 0);
    assert_true(na > 100);
    assert_int_equal(na, nb);
    assert_memory_equal(a, b, na * sizeof *a);
    assert_true(na != nc || memcmp(a, c, na * sizeof *a));
    /* The MTBF schedule starts at `at`: nothing before it. */
    assert_true(a[0].at_ns > 500 * MS);
    free(a);
    free(b);
    free(c);
}

static void
test_fault_seeds_differ(void **state)
{
    assert_int_equal(schedule_fault_seed(5, 0), schedule_fault_seed(5, 0));
    assert_int_not_equal(schedule_fault_seed(5, 0), schedule_fault_seed(5, 1));
    assert_int_not_equal(schedule_fault_seed(5, 0), schedule_fault_seed(6, 0));
}

static void
test_bad_input(void **state)
{
    struct exp_fault f = fault(0, 1 * S, 1 * S, 1, 0);
    struct sched_event *ev = (struct sched_event *) &f;
    size_t n = 12345;

    assert_int_equal(schedule_build(&f, 1, 10 * S, &ev, &n), EINVAL);
    assert_ptr_equal(ev, &f);
    assert_int_equal(n, 12345);
    f = fault(0, 1 * S, 0, 0, 0);
    assert_int_equal(schedule_build(&f, 1, 10 * S, &ev, &n), EINVAL);
    /* A 1 ns MTBF over an hour would be billions of events. */
    f = fault(0, 0, 1, 1, 0);
    assert_int_equal(schedule_build(&f, 1, 3600 * S, &ev, &n), E2BIG);
    assert_int_equal(n, 12345);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixed_time),
        cmocka_unit_test(test_every),
        cmocka_unit_test(test_heal_before_inject_at_same_time),
        cmocka_unit_test(test_simultaneous_count),
        cmocka_unit_test(test_mtbf_mean),
        cmocka_unit_test(test_exp_draw_shape),
        cmocka_unit_test(test_same_seed_same_schedule),
        cmocka_unit_test(test_fault_seeds_differ),
        cmocka_unit_test(test_bad_input),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
