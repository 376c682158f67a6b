/* Unit tests of the hop trace's sampler (vnfs/sfc/hop.h): every request of the first
 * HOP_TRACE_ALL, then half as many more for each doubling, evenly spaced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vnfs/sfc/hop.h"

static void
test_sampler_thins_by_doubling(void **state)
{
    struct hop_sampler s = { 0 };
    uint64_t taken = 0, last = 0, gap_max = 0;

    for (uint64_t i = 0; i < 8 * HOP_TRACE_ALL; i++) {
        if (hop_sampler_take(&s)) {
            taken++;
            gap_max = i - last > gap_max ? i - last : gap_max;
            last = i;
        }
        if (i + 1 == HOP_TRACE_ALL) {
            assert_int_equal(taken, HOP_TRACE_ALL);
        }
    }
    /* All of the first N, then N/2 for each of three doublings. */
    assert_int_equal(taken, HOP_TRACE_ALL + 3 * HOP_TRACE_ALL / 2);
    /* Spread over the run: in the last doubling one request in 8. */
    assert_int_equal(gap_max, 8);
    assert_true(last >= 8 * HOP_TRACE_ALL - 8);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sampler_thins_by_doubling),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
