#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/cursor.h"
#include "vnfs/lib/util.h"

static void
test_parse_size(void **state)
{
    uint64_t v;

    assert_true(parse_size("256M", &v));
    assert_int_equal(v, 256ull << 20);
    assert_true(parse_size("4096", &v));
    assert_int_equal(v, 4096);
    assert_true(parse_size("1.5K", &v));
    assert_int_equal(v, 1536);
    assert_false(parse_size("12X", &v));
    assert_false(parse_size("-1M", &v));
    assert_false(parse_size("", &v));
}

static void
test_parse_duration(void **state)
{
    uint64_t v;

    assert_true(parse_duration("250ms", &v));
    assert_int_equal(v, 250000000ull);
    assert_true(parse_duration("30us", &v));
    assert_int_equal(v, 30000);
    assert_true(parse_duration("5m", &v));
    assert_int_equal(v, 300000000000ull);
    assert_true(parse_duration("1.5", &v));
    assert_int_equal(v, 1500000000ull);
    assert_false(parse_duration("ms", &v));
    assert_false(parse_duration("3 parsecs", &v));
}

static void
test_parse_rate(void **state)
{
    uint64_t v;

    assert_true(parse_rate("100mbit", &v));
    assert_int_equal(v, 100000000ull);
    assert_true(parse_rate("1Gbit", &v));
    assert_int_equal(v, 1000000000ull);
    assert_false(parse_rate("100", &v));
}

static void
test_buf(void **state)
{
    struct buf b = BUF_INITIALIZER;

    buf_put_be16(&b, 0x894f);
    buf_put_be32(&b, 0x01020304);
    buf_printf(&b, "%d-%s", 42, "x");
    assert_int_equal(b.len, 2 + 4 + 4);
    assert_int_equal(b.data[0], 0x89);
    assert_int_equal(b.data[5], 0x04);
    assert_memory_equal(b.data + 6, "42-x", 4);
    buf_uninit(&b);
}

/* byteorder.h at odd offsets, against buf.h's appenders: the same bytes both ways, and the
 * top bit of each width survives (no sign extension through int promotion). */
static void
test_byteorder(void **state)
{
    struct buf b = BUF_INITIALIZER;
    uint8_t raw[1 + 2 + 4 + 8];

    buf_put_u8(&b, 0xaa);
    buf_put_be16(&b, 0x8f01);
    buf_put_be32(&b, 0xfedcba98u);
    buf_put_be64(&b, 0x8123456789abcdefull);
    assert_int_equal(b.len, sizeof raw);
    assert_int_equal(get_be16(b.data + 1), 0x8f01);
    assert_int_equal(get_be32(b.data + 3), 0xfedcba98u);
    assert_true(get_be64(b.data + 7) == 0x8123456789abcdefull);

    raw[0] = 0xaa;
    put_be16(raw + 1, 0x8f01);
    put_be32(raw + 3, 0xfedcba98u);
    put_be64(raw + 7, 0x8123456789abcdefull);
    assert_memory_equal(raw, b.data, sizeof raw);
    assert_int_equal(raw[7], 0x81);
    assert_int_equal(raw[14], 0xef);
    buf_uninit(&b);
}

/* cursor.h reads what buf.h wrote, in order, and ends done: nothing left, nothing short. */
static void
test_cursor_read(void **state)
{
    struct buf b = BUF_INITIALIZER;
    struct cursor c;
    const uint8_t *p;

    buf_put_u8(&b, 0xaa);
    buf_put_be16(&b, 0x8f01);
    buf_put_be32(&b, 0xfedcba98u);
    buf_put_be64(&b, 0x8123456789abcdefull);
    buf_put(&b, "xyz", 3);
    cursor_init(&c, b.data, b.len);
    assert_int_equal(cursor_u8(&c), 0xaa);
    assert_int_equal(cursor_be16(&c), 0x8f01);
    assert_int_equal(cursor_be32(&c), 0xfedcba98u);
    assert_true(cursor_be64(&c) == 0x8123456789abcdefull);
    assert_false(cursor_done(&c));
    p = cursor_bytes(&c, 3);
    assert_ptr_equal(p, b.data + 15);
    assert_true(cursor_ok(&c));
    assert_true(cursor_done(&c));
    /* Zero bytes at the end is a read that fits. */
    assert_non_null(cursor_bytes(&c, 0));
    assert_true(cursor_done(&c));
    buf_uninit(&b);
}

/* A short read poisons the cursor: it consumes nothing, returns 0, and every later read fails
 * even one that would have fitted. cursor_fail() poisons it the same way. */
static void
test_cursor_short(void **state)
{
    static const uint8_t raw[] = { 1, 2, 3, 4, 5, 6, 7 };
    struct cursor c;

    cursor_init(&c, raw, sizeof raw);
    assert_int_equal(cursor_be16(&c), 0x0102);
    assert_true(cursor_be64(&c) == 0);  /* 5 left: short. */
    assert_false(cursor_ok(&c));
    assert_int_equal(c.left, 5);
    assert_int_equal(cursor_u8(&c), 0);
    assert_int_equal(cursor_be32(&c), 0);
    assert_null(cursor_bytes(&c, 1));
    assert_false(cursor_done(&c));

    cursor_init(&c, raw, 2);
    assert_int_equal(cursor_be16(&c), 0x0102);
    assert_true(cursor_done(&c));
    assert_int_equal(cursor_u8(&c), 0);
    assert_false(cursor_ok(&c));
    assert_false(cursor_done(&c));      /* Nothing left, but a read fell short. */

    cursor_init(&c, raw, sizeof raw);
    assert_false(cursor_fail(&c));
    assert_int_equal(cursor_u8(&c), 0);
    assert_int_equal(c.left, sizeof raw);

    cursor_init(&c, NULL, 0);
    assert_true(cursor_done(&c));
    assert_null(cursor_bytes(&c, 1));
    assert_false(cursor_ok(&c));
}

/* Waits on 'p', the pipe's read end, until the test closes the write end. */
static void *
sleeper(void *p)
{
    char c;

    while (read(*(int *) p, &c, 1) < 0 && errno == EINTR) {
        continue;
    }
    return NULL;
}

static void
test_proc_tasks(void **state)
{
    struct proc_task *tasks = NULL;
    size_t n = 0, named = 0, main_seen = 0;
    pthread_t thread;
    int fds[2];

    assert_int_equal(pipe(fds), 0);
    assert_int_equal(pthread_create(&thread, NULL, sleeper, &fds[0]), 0);
    assert_int_equal(pthread_setname_np(thread, "proc-tasks"), 0);
    assert_int_equal(proc_tasks(getpid(), &tasks, &n), 0);
    for (size_t i = 0; i < n; i++) {
        named += !strcmp(tasks[i].name, "proc-tasks");
        main_seen += tasks[i].tid == getpid();
    }
    assert_int_equal(named, 1);
    assert_int_equal(main_seen, 1);
    free(tasks);
    close(fds[1]);
    assert_int_equal(pthread_join(thread, NULL), 0);
    close(fds[0]);

    /* No such process: pid_max is at most 2^22. */
    assert_int_equal(proc_tasks(1 << 23, &tasks, &n), ESRCH);
    (void) state;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_rate),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_byteorder),
        cmocka_unit_test(test_cursor_read),
        cmocka_unit_test(test_cursor_short),
        cmocka_unit_test(test_proc_tasks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
