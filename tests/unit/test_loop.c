/* Unit tests of the event loop (vnfs/lib/loop.h): a callback that keeps the loop's thread busy
 * is counted as a slow step, with its length; the loop's wait keeps a timer's nanoseconds; a
 * timer sooner than the one the wait was armed for ends it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <unistd.h>

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

/* A 125 us timer (FTC's carry) waits 125 us, not a rounded-up millisecond; none: no timeout;
 * a deadline past: no wait. */
static void
test_wait_time_ns(void **state)
{
    struct timespec ts;

    assert_ptr_equal(loop_wait_time(1000125000, 1000000000, &ts), &ts);
    assert_int_equal(ts.tv_sec, 0);
    assert_int_equal(ts.tv_nsec, 125000);
    assert_ptr_equal(loop_wait_time(3500000001, 1000000000, &ts), &ts);
    assert_int_equal(ts.tv_sec, 2);
    assert_int_equal(ts.tv_nsec, 500000001);
    assert_ptr_equal(loop_wait_time(5, 7, &ts), &ts);
    assert_int_equal(ts.tv_sec, 0);
    assert_int_equal(ts.tv_nsec, 0);
    assert_null(loop_wait_time(UINT64_MAX, 7, &ts));
}

static void
fail_cb(struct loop *loop, uint64_t timer, void *aux)
{
    fail_msg("the wait armed for the 5 s timer outlasted a 1 ms one added during it");
}

static void
stop_cb(struct loop *loop, uint64_t timer, void *stopped)
{
    *(bool *) stopped = true;
    loop_stop(loop);
}

static void
add_sooner(struct loop *loop, int fd, uint32_t events, void *stopped)
{
    char c;

    assert_int_equal(read(fd, &c, 1), 1);
    loop_del_fd(loop, fd);
    loop_add_timer(loop, 1000000, 0, stop_cb, stopped);
}

/* The loop's first wait is armed for a 5 s timer; an fd's callback then adds a 1 ms one. */
static void
test_sooner_timer_ends_wait(void **state)
{
    bool stopped = false;
    struct loop *loop;
    int p[2];

    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(loop_create(&loop), 0);
    loop_add_timer(loop, 5000000000ull, 0, fail_cb, NULL);
    assert_int_equal(loop_add_fd(loop, p[0], EPOLLIN, add_sooner, &stopped), 0);
    assert_int_equal(loop_run(loop), 0);
    assert_true(stopped);
    loop_destroy(loop);
    close(p[0]);
    close(p[1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_step_counted),
        cmocka_unit_test(test_wait_time_ns),
        cmocka_unit_test(test_sooner_timer_ends_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
