/* Tests of vnfs/lib/dynlib.h: a table loaded from a real library calls into it, a missing
 * library and a missing function are refused with their own errors, and a failed load is
 * remembered rather than retried. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vnfs/lib/dl_pcap.h"
#include "vnfs/lib/dynlib.h"

/* Declared, never defined: only its type and its name are used, for a lookup that fails. */
double sfct_no_such_function(double);
double cbrt(double);

#define TEST_FUNCS(F) F(cbrt)
#define TEST_MISSING_FUNCS(F) F(cbrt) F(sfct_no_such_function)

struct test_table {
    TEST_MISSING_FUNCS(DYNLIB_MEMBER)
};

static int
resolve_present(struct dynlib *lib, void *handle, void *table_)
{
    struct test_table *table = table_;
    int error = 0;

    TEST_FUNCS(DYNLIB_RESOLVE)
    return error;
}

static int
resolve_missing(struct dynlib *lib, void *handle, void *table_)
{
    struct test_table *table = table_;
    int error = 0;

    TEST_MISSING_FUNCS(DYNLIB_RESOLVE)
    return error;
}

static int n_resolves;

static int
resolve_counted(struct dynlib *lib, void *handle, void *table)
{
    n_resolves++;
    return resolve_present(lib, handle, table);
}

static void
test_loads_and_calls(void **state)
{
    struct dynlib lib = DYNLIB_INIT("libm.so.6", "libc6");
    struct test_table t = { 0 };

    assert_int_equal(dynlib_load(&lib, resolve_present, &t), 0);
    assert_non_null(t.cbrt);
    assert_true(t.cbrt(27.0) > 2.999 && t.cbrt(27.0) < 3.001);
}

static void
test_missing_library(void **state)
{
    struct dynlib lib = DYNLIB_INIT("libsfct-nonexistent.so.9", "sfct-none");
    struct test_table t = { 0 };

    n_resolves = 0;
    assert_int_equal(dynlib_load(&lib, resolve_counted, &t), ELIBACC);
    /* Remembered: the same answer, without another attempt. */
    assert_int_equal(dynlib_load(&lib, resolve_counted, &t), ELIBACC);
    assert_int_equal(n_resolves, 0);
    assert_null(t.cbrt);
}

static void
test_missing_function(void **state)
{
    struct dynlib lib = DYNLIB_INIT("libm.so.6", "libc6");
    struct test_table t = { 0 };

    assert_int_equal(dynlib_load(&lib, resolve_missing, &t), ENOENT);
    assert_int_equal(dynlib_load(&lib, resolve_missing, &t), ENOENT);
    assert_null(t.sfct_no_such_function);
}

static void
test_loaded_once(void **state)
{
    struct dynlib lib = DYNLIB_INIT("libm.so.6", "libc6");
    struct test_table t = { 0 };

    n_resolves = 0;
    assert_int_equal(dynlib_load(&lib, resolve_counted, &t), 0);
    assert_int_equal(dynlib_load(&lib, resolve_counted, &t), 0);
    assert_int_equal(n_resolves, 1);
}

/* The real table of a user: libpcap, not linked into this test, answers through it. */
static void
test_pcap_table(void **state)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p;

    assert_int_equal(dl_pcap_load(), 0);
    p = dl_pcap.pcap_create("lo", errbuf);
    assert_non_null(p);
    dl_pcap.pcap_close(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loads_and_calls),
        cmocka_unit_test(test_missing_library),
        cmocka_unit_test(test_missing_function),
        cmocka_unit_test(test_loaded_once),
        cmocka_unit_test(test_pcap_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
