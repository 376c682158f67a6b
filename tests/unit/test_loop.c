/* Unit tests of the event loop's step statistics (vnfs/lib/loop.h): a callback that keeps the
 * loop's thread busy is counted as a slow step, with its length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vnfs/lib/loop.h"
#include "vnfs/lib/util.h"

/* Spins one and a half slow steps, then ends the loop. */
static void
busy(struct loop *loop, uint64_t timer, void *aux)
{
    uint64_t t0 = time_mono_ns();

    while (time_mono_ns() - t0 < 3 * LOOP_SLOW_NS / 2) {
        continue;
    }
    loop_stop(loop);
}

static void
test_slow_step_counted(void **state)
{
    const struct loop_stats *st;
    struct loop *loop;

    assert_int_equal(loop_create(&loop), 0);
    st = loop_stats(loop);
    loop_add_timer(loop, 0, 0, busy, NULL);
    assert_int_equal(loop_run(loop), 0);
    assert_true(st->n_slow >= 1);
    assert_true(st->step_max_us >= 3 * LOOP_SLOW_NS / 2 / 1000);
    loop_destroy(loop);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_step_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
