/* Unit tests of role (vnfs/sfc/role.h): its receive loop on a real AF_PACKET socket, the
 * loopback of a network namespace of the test's own (root only; skipped otherwise), and its
 * control calls' parameters. A batch shorter than asked means the queue ran dry, so the role
 * reads no further (epoll is level-triggered: what comes later wakes the loop). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/loopback.h"
#include "vnfs/lib/pktio.h"
#include "vnfs/sfc/role.h"

static size_t n_frames;

static void
count_frame(void *aux, struct pktio_pkt *pkt, uint64_t t_in)
{
    n_frames++;
}

static void
test_short_batch_read_once(void **state)
{
    uint8_t frame[60] = { [12] = 0x88, [13] = 0xb5 };  /* To 00:..:00, local experimental. */
    struct pktio *tx;
    struct role role;

    if (!own_loopback()) {
        skip();
    }
    role_init_common(&role, "test");
    role.frame_cb = count_frame;
    assert_int_equal(pktio_open("lo", false, &role.io), 0);
    assert_int_equal(pktio_open("lo", false, &tx), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pktio_send(tx, frame, sizeof frame), 0);
    }
    /* Three frames waiting: one short batch, one system call, no dry re-read. */
    assert_int_equal(role_drain_pktio(&role, 8), 3);
    assert_int_equal(n_frames, 3);
    assert_int_equal(pktio_stats(role.io)->rx_calls, 1);
    pktio_close(tx);
    role_finish(&role);
}

/* Only an integer within [0, limit) is taken; anything else is the caller's message. */
static void
test_param_index(void **state)
{
    static const char *const bad[] = {
        "{}", "{\"peer\": -1}", "{\"peer\": 3}", "{\"peer\": \"1\"}", "{\"peer\": 1.0}",
    };
    char *errmsg = NULL;
    json_int_t v = -1;
    json_t *p;

    p = json_loads("{\"peer\": 2}", 0, NULL);
    assert_int_equal(role_param_index(p, "peer", 3, "expected PEER", &v, &errmsg), 0);
    assert_int_equal(v, 2);
    assert_null(errmsg);
    json_decref(p);
    assert_int_equal(role_param_index(NULL, "peer", 3, "expected PEER", &v, &errmsg), EINVAL);
    assert_string_equal(errmsg, "expected PEER");
    free(errmsg);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        errmsg = NULL;
        p = json_loads(bad[i], 0, NULL);
        assert_non_null(p);
        assert_int_equal(role_param_index(p, "peer", 3, "expected PEER", &v, &errmsg), EINVAL);
        assert_string_equal(errmsg, "expected PEER");
        free(errmsg);
        json_decref(p);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_batch_read_once),
        cmocka_unit_test(test_param_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
