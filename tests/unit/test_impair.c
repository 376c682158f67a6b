/* Unit tests of link impairments: the stage's delay line (vnfs/sfc/linkstage.h) driven with
 * exact times, the `sfclab link set` assignments and the stage's argument (testbed/model/
 * impair.h, testbed/infra/shaper.h), and the eBPF loss classifier run by the kernel itself
 * (BPF_PROG_TEST_RUN; skipped without the privilege to load it). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "testbed/infra/shaper.h"
#include "testbed/model/impair.h"
#include "vnfs/lib/util.h"
#include "vnfs/sfc/linkstage.h"

#define MS 1000000ull

static void
test_spec_parse(void **state)
{
    struct linkstage_spec s;

    assert_true(linkstage_parse_spec("", &s));
    assert_int_equal(s.delay_ns, 0);
    assert_true(linkstage_parse_spec("delay=10ms,jitter=1ms,duplicate=1%,reorder=25%,queue=7",
                                     &s));
    assert_int_equal(s.delay_ns, 10 * MS);
    assert_int_equal(s.jitter_ns, MS);
    assert_true(s.duplicate > 0.0099 && s.duplicate < 0.0101);
    assert_true(s.reorder > 0.2499 && s.reorder < 0.2501);
    assert_int_equal(s.queue, 7);
    assert_false(linkstage_parse_spec("delay", &s));
    assert_false(linkstage_parse_spec("bogus=1%", &s));
    assert_true(linkstage_parse_spec("loss=1%,rate=8mbit", &s));
    assert_true(s.loss > 0.0099 && s.loss < 0.0101);
    assert_int_equal(s.rate_bps, 8000000);
    assert_false(linkstage_parse_spec("rate=0bit", &s));
    assert_false(linkstage_parse_spec("duplicate=101%", &s));
    assert_false(linkstage_parse_spec("queue=0", &s));
    assert_false(linkstage_parse_spec("delay=fast", &s));
}

/* A constant delay keeps order and holds every frame exactly that long. */
static void
test_delay_exact(void **state)
{
    struct linkstage_spec s = { .delay_ns = 10 * MS };
    struct linkstage_dir *d = linkstage_dir_create(&s, 1);
    const uint8_t *f;
    size_t len;

    for (uint8_t i = 0; i < 5; i++) {
        linkstage_push(d, &i, 1, i * MS);
    }
    assert_int_equal(linkstage_next_due(d), 10 * MS);
    assert_null(linkstage_pop(d, 10 * MS - 1, &len));
    for (uint8_t i = 0; i < 5; i++) {
        f = linkstage_pop(d, 100 * MS, &len);
        assert_non_null(f);
        assert_int_equal(len, 1);
        assert_int_equal(f[0], i);
    }
    assert_null(linkstage_pop(d, 100 * MS, &len));
    assert_int_equal(linkstage_next_due(d), UINT64_MAX);
    linkstage_dir_destroy(d);
}

/* Jitter stays within +-jitter, averages to the delay, and reorders frames. */
static void
test_jitter_bounds(void **state)
{
    struct linkstage_spec s = { .delay_ns = 10 * MS, .jitter_ns = 2 * MS, .queue = 10000 };
    struct linkstage_dir *d = linkstage_dir_create(&s, 7);
    uint64_t sum = 0, lo = UINT64_MAX, hi = 0;
    const int n = 5000;

    for (int i = 0; i < n; i++) {
        linkstage_push(d, &i, sizeof i, 0);
    }
    for (int i = 0; i < n; i++) {
        uint64_t due = linkstage_next_due(d);
        size_t len;
        assert_non_null(linkstage_pop(d, due, &len));
        sum += due;
        lo = MIN(lo, due);
        hi = MAX(hi, due);
    }
    assert_true(lo >= 8 * MS && hi <= 12 * MS);
    assert_true(lo < 8 * MS + MS / 10 && hi > 12 * MS - MS / 10);
    assert_true(sum / n > 10 * MS - MS / 10 && sum / n < 10 * MS + MS / 10);
    linkstage_dir_destroy(d);
}

/* Reordered frames leave at once; duplicated ones twice; the rest after the delay. */
static void
test_reorder_duplicate_fractions(void **state)
{
    struct linkstage_spec s = { .delay_ns = 5 * MS, .reorder = 0.25, .duplicate = 0.1,
                                .queue = 30000 };
    struct linkstage_dir *d = linkstage_dir_create(&s, 3);
    const struct linkstage_stats *st = linkstage_stats(d);
    size_t len, now = 0;
    const int n = 20000;

    for (int i = 0; i < n; i++) {
        linkstage_push(d, &i, sizeof i, 0);
    }
    while (linkstage_pop(d, 0, &len)) {
        now++;
    }
    assert_int_equal(st->in, n);
    /* Each copy of a duplicated frame draws its own fate. */
    assert_true(st->reordered > (n + st->duplicated) / 4 - 400
                && st->reordered < (n + st->duplicated) / 4 + 400);
    assert_true(st->duplicated > n / 10 - 300 && st->duplicated < n / 10 + 300);
    assert_int_equal(now, st->reordered);        /* Only the reordered ones at time 0. */
    while (linkstage_pop(d, 5 * MS, &len)) {
        now++;
    }
    assert_int_equal(now, n + st->duplicated);
    linkstage_dir_destroy(d);
}

/* A full queue drops and counts; a frame too long for a slot is refused. */
static void
test_queue_overflow(void **state)
{
    struct linkstage_spec s = { .delay_ns = MS, .queue = 3 };
    struct linkstage_dir *d = linkstage_dir_create(&s, 1);
    static uint8_t big[LINKSTAGE_SLOT + 1];
    size_t len;

    for (int i = 0; i < 5; i++) {
        linkstage_push(d, &i, sizeof i, 0);
    }
    linkstage_push(d, big, sizeof big, 0);
    assert_int_equal(linkstage_stats(d)->overflow, 2);
    assert_int_equal(linkstage_stats(d)->oversize, 1);
    /* Popping frees the slot for the next push. */
    assert_non_null(linkstage_pop(d, MS, &len));
    linkstage_push(d, big, 10, MS);
    assert_int_equal(linkstage_stats(d)->overflow, 2);
    linkstage_dir_destroy(d);
}

/* A rate serialises: 1000-byte frames at 8 Mbit/s leave 1 ms apart; a loss drops its share. */
static void
test_rate_and_loss(void **state)
{
    struct linkstage_spec s = { .rate_bps = 8000000, .queue = 100 };
    struct linkstage_dir *d = linkstage_dir_create(&s, 5);
    static uint8_t frame[1000];
    size_t len;

    for (int i = 0; i < 10; i++) {
        linkstage_push(d, frame, sizeof frame, 0);
    }
    for (int i = 0; i < 10; i++) {
        assert_int_equal(linkstage_next_due(d), (uint64_t) (i + 1) * MS);
        assert_non_null(linkstage_pop(d, UINT64_MAX, &len));
    }
    linkstage_dir_destroy(d);

    s = (struct linkstage_spec) { .loss = 0.3, .queue = 20000 };
    d = linkstage_dir_create(&s, 9);
    for (int i = 0; i < 20000; i++) {
        linkstage_push(d, frame, 64, 0);
    }
    assert_true(linkstage_stats(d)->lost > 6000 - 300 && linkstage_stats(d)->lost < 6000 + 300);
    linkstage_dir_destroy(d);
}

/* Same seed, same draws: the stage is reproducible. */
static void
test_seeded(void **state)
{
    struct linkstage_spec s = { .delay_ns = 10 * MS, .jitter_ns = 5 * MS };
    struct linkstage_dir *a = linkstage_dir_create(&s, 42), *b = linkstage_dir_create(&s, 42);

    for (int i = 0; i < 100; i++) {
        linkstage_push(a, &i, sizeof i, 0);
        linkstage_push(b, &i, sizeof i, 0);
        assert_int_equal(linkstage_next_due(a), linkstage_next_due(b));
    }
    linkstage_dir_destroy(a);
    linkstage_dir_destroy(b);
}

static void
test_set_kv(void **state)
{
    struct impair imp = { 0 };
    char *err = NULL;

    assert_int_equal(impair_set_kv(&imp, "delay=10ms", &err), 0);
    assert_int_equal(imp.egress.delay_ns, 10 * MS);
    assert_int_equal(imp.ingress.delay_ns, 10 * MS);
    assert_int_equal(impair_set_kv(&imp, "egress.loss=1%", &err), 0);
    assert_true(imp.egress.loss > 0.0099 && imp.ingress.loss == 0);
    assert_int_equal(impair_set_kv(&imp, "ingress.rate=10mbit", &err), 0);
    assert_int_equal(imp.ingress.rate_bps, 10000000);
    assert_int_equal(impair_set_kv(&imp, "rate=0", &err), 0);
    assert_int_equal(imp.ingress.rate_bps, 0);
    assert_int_equal(impair_set_kv(&imp, "speed=1", &err), EINVAL);
    assert_non_null(strstr(err, "unknown key 'speed'"));
    free(err);
    assert_int_equal(impair_set_kv(&imp, "loss=1", &err), EINVAL);
    free(err);
    assert_int_equal(impair_set_kv(&imp, "loss", &err), EINVAL);
    free(err);
    assert_int_equal(impair_set_kv(&imp, "queue=0", &err), EINVAL);
    free(err);
}

static void
test_stage_spec(void **state)
{
    struct impair_dir d = { .rate_bps = 1000000, .loss = 0.5 };
    char *s = shaper_stage_spec(&d);
    struct linkstage_spec ls;

    assert_string_equal(s, "");         /* rate and loss are the kernel's: no stage. */
    free(s);
    d.delay_ns = 10 * MS;
    d.jitter_ns = 1500000;
    d.reorder = 0.1;
    d.queue = 20;
    s = shaper_stage_spec(&d);
    assert_string_equal(s, "delay=10ms,jitter=1500us,reorder=10%,queue=20");
    assert_true(linkstage_parse_spec(s, &ls));
    assert_int_equal(ls.jitter_ns, 1500000);
    free(s);
}

/* The classifier itself, run by the kernel on a dummy frame: it drops the asked fraction. */
static void
test_loss_prog(void **state)
{
    uint8_t frame[64] = { 0 };
    int fd, drops = 0;
    const int n = 20000;

    if (shaper_loss_prog(0.2, &fd)) {
        skip();
    }
    for (int i = 0; i < n; i++) {
        union bpf_attr a;
        memset(&a, 0, sizeof a);
        a.test.prog_fd = fd;
        a.test.data_in = (uintptr_t) frame;
        a.test.data_size_in = sizeof frame;
        a.test.repeat = 1;
        assert_int_equal(syscall(__NR_bpf, BPF_PROG_TEST_RUN, &a, sizeof a), 0);
        assert_true(a.test.retval == TC_ACT_SHOT || a.test.retval == TC_ACT_OK);
        drops += a.test.retval == TC_ACT_SHOT;
    }
    close(fd);
    /* 4000 expected; the binomial's standard deviation is 57. */
    assert_true(drops > 3700 && drops < 4300);
    assert_int_equal(shaper_loss_prog(1.0, &fd), 0);
    {
        union bpf_attr a;
        memset(&a, 0, sizeof a);
        a.test.prog_fd = fd;
        a.test.data_in = (uintptr_t) frame;
        a.test.data_size_in = sizeof frame;
        a.test.repeat = 1;
        assert_int_equal(syscall(__NR_bpf, BPF_PROG_TEST_RUN, &a, sizeof a), 0);
        assert_int_equal(a.test.retval, TC_ACT_SHOT);
    }
    close(fd);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_parse),
        cmocka_unit_test(test_delay_exact),
        cmocka_unit_test(test_jitter_bounds),
        cmocka_unit_test(test_reorder_duplicate_fractions),
        cmocka_unit_test(test_queue_overflow),
        cmocka_unit_test(test_rate_and_loss),
        cmocka_unit_test(test_seeded),
        cmocka_unit_test(test_set_kv),
        cmocka_unit_test(test_stage_spec),
        cmocka_unit_test(test_loss_prog),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
