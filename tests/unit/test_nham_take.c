/* The SFF's takeover decisions (vnfs/ft/nham/take.h): which standby the SFF takes for a hop
 * whose active copy died, and what a standby does with a TAKE. The simulator runs them in
 * whole chains (scenario nham-take); these are the cases one by one, among them the one the
 * simulator found (a copy that serves the hop must not be taken again on an ACK of its process,
 * even one that arrives after it took over) and the one behind session 12's MR-AA fallback (a
 * checkpoint saved while the standbys' ACKs of its image were on their way). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/byteorder.h"
#include "vnfs/ft/nham/take.h"

#define N_COPIES 3

static const uint8_t mac1[6] = { 2, 0, 0, 0, 0, 1 };
static const uint8_t mac2[6] = { 2, 0, 0, 0, 0, 2 };

/* An image's first bytes (its id: epoch, counter, count, digest), then some state. */
static void
image(uint8_t *img, size_t len, uint32_t epoch, uint64_t counter)
{
    memset(img, 0, len);
    put_be32(img, epoch);
    put_be64(img + 4, counter);
    put_be64(img + 12, counter * 3);
    put_be64(img + 20, counter * 0x9e3779b97f4a7c15ull);
}

/* Copy 'copy''s ACK (sequence number 'seq') of 'img' from its process 'nonce', into 'acks'. */
static bool
ack(struct nham_take_ack *acks, size_t copy, uint64_t seq, uint64_t nonce, const uint8_t *img,
    size_t len)
{
    struct buf b = BUF_INITIALIZER;
    bool ok;

    nham_take_ack_put(&b, nonce, img, len);
    assert_true(nham_take_is_ack(b.data, b.len));
    ok = nham_take_ack_update(&acks[copy], seq, b.data, b.len);
    buf_uninit(&b);
    return ok;
}

static void
test_choose(void **state)
{
    struct nham_take_ack acks[N_COPIES];
    uint8_t old[64], saved[64];
    struct nham_take_hop hop = { .warmed = saved, .warmed_len = sizeof saved, .saved = 200,
                                 .addressed = true, .addressed_epoch = 1, .acks = acks,
                                 .n_copies = N_COPIES };
    const char *why;
    uint64_t counter = 0;
    size_t k = 99;

    memset(acks, 0, sizeof acks);
    image(old, sizeof old, 1, 100);
    image(saved, sizeof saved, 1, 200);
    /* No ACK yet: refused, the FMS activates a standby itself. */
    assert_int_equal(nham_take_choose(&hop, 2, 6, &k, &counter, &why), ENOENT);
    /* Copy 1 holds an older image, copy 2 the saved one: copy 2. */
    assert_true(ack(acks, 1, 10, 0x11, old, sizeof old));
    assert_int_equal(nham_take_choose(&hop, 2, 6, &k, &counter, &why), ENOENT);
    assert_true(ack(acks, 2, 10, 0x22, saved, sizeof saved));
    assert_int_equal(nham_take_choose(&hop, 2, 6, &k, &counter, &why), 0);
    assert_int_equal(k, 2);
    assert_int_equal(counter, 200);
    /* Not a copy the FMS left out of its mask. */
    assert_int_equal(nham_take_choose(&hop, 2, 2, &k, &counter, &why), ENOENT);
    /* An incarnation not above the hop's. */
    assert_int_equal(nham_take_choose(&hop, 1, 6, &k, &counter, &why), ESTALE);
    assert_int_equal(nham_take_choose(&hop, 0, 6, &k, &counter, &why), EINVAL);
    /* A replayed ACK of the older image does not undo the newer one. */
    assert_false(ack(acks, 2, 9, 0x22, old, sizeof old));
    assert_int_equal(nham_take_choose(&hop, 2, 6, &k, &counter, &why), 0);
    /* The standbys were given an image, but the VSM saved a later checkpoint whose image
     * never reached them: the replay from theirs would miss what buffer_rx released. */
    hop.saved = 300;
    assert_int_equal(nham_take_choose(&hop, 2, 6, &k, &counter, &why), ENOENT);
}

/* A checkpoint saved while its image is on its way to the standbys: the SFF's core is told only
 * once one of them says it holds it, and meanwhile one that holds the image before can take
 * over from that one (the replay from it then loses nothing). */
static void
test_defer_and_prev(void **state)
{
    struct nham_take_ack acks[N_COPIES];
    uint8_t w1[64], w2[64];
    struct nham_take_hop hop = { .warmed = w2, .warmed_len = sizeof w2, .prev = w1,
                                 .prev_len = sizeof w1, .saved = 100, .acks = acks,
                                 .n_copies = N_COPIES };
    const char *why;
    uint64_t counter;
    size_t k;

    memset(acks, 0, sizeof acks);
    image(w1, sizeof w1, 1, 100);
    image(w2, sizeof w2, 1, 200);
    /* No standby said anything: nothing to wait for. */
    assert_false(nham_take_defer(acks, N_COPIES, 0, w2, sizeof w2));
    /* Copy 0 is the active one: its ACK (of an earlier life) is no reason. */
    assert_true(ack(acks, 0, 5, 0x10, w1, sizeof w1));
    assert_false(nham_take_defer(acks, N_COPIES, 0, w2, sizeof w2));
    /* Copy 1 holds the image before: wait. */
    assert_true(ack(acks, 1, 10, 0x11, w1, sizeof w1));
    assert_true(nham_take_defer(acks, N_COPIES, 0, w2, sizeof w2));
    /* Meanwhile (saved still 100) copy 1 takes over from the image before. */
    assert_int_equal(nham_take_choose(&hop, 2, 6, &k, &counter, &why), 0);
    assert_int_equal(k, 1);
    assert_int_equal(counter, 100);
    /* Copy 2 holds the last: preferred, from its own counter; no more waiting. */
    assert_true(ack(acks, 2, 11, 0x22, w2, sizeof w2));
    assert_false(nham_take_defer(acks, N_COPIES, 0, w2, sizeof w2));
    assert_int_equal(nham_take_choose(&hop, 2, 6, &k, &counter, &why), 0);
    assert_int_equal(k, 2);
    assert_int_equal(counter, 200);
    /* Once the core released buffer_rx up to 200, the image before is of no use. */
    hop.saved = 200;
    assert_int_equal(nham_take_choose(&hop, 2, 2, &k, &counter, &why), ENOENT);
    assert_int_equal(nham_take_choose(&hop, 2, 6, &k, &counter, &why), 0);
    assert_int_equal(k, 2);
}

/* A copy taken over (or addressed by its READY) serves the hop: its process's ACKs, even one
 * already on its way, no longer make it a standby; a new process in its place does. */
static void
test_active_copy_not_taken_again(void **state)
{
    struct nham_take_ack acks[N_COPIES];
    uint8_t saved[64];
    struct nham_take_hop hop = { .warmed = saved, .warmed_len = sizeof saved, .saved = 200,
                                 .acks = acks, .n_copies = N_COPIES };
    const char *why;
    uint64_t counter;
    size_t k;

    memset(acks, 0, sizeof acks);
    image(saved, sizeof saved, 1, 200);
    assert_true(ack(acks, 1, 10, 0x11, saved, sizeof saved));
    assert_int_equal(nham_take_choose(&hop, 2, 2, &k, &counter, &why), 0);
    assert_int_equal(k, 1);
    nham_take_ack_active(&acks[1]);
    hop.addressed = true;
    hop.addressed_epoch = 2;
    /* The FMS, not yet told, asks again as incarnation 3 with that copy in its mask. */
    assert_int_equal(nham_take_choose(&hop, 3, 2, &k, &counter, &why), ENOENT);
    /* An ACK it sent just before its TAKE, late. */
    assert_false(ack(acks, 1, 11, 0x11, saved, sizeof saved));
    assert_int_equal(nham_take_choose(&hop, 3, 2, &k, &counter, &why), ENOENT);
    /* Its process died and a standby was started in its place. */
    assert_true(ack(acks, 1, 20, 0x99, saved, sizeof saved));
    assert_int_equal(nham_take_choose(&hop, 3, 2, &k, &counter, &why), 0);
    assert_int_equal(k, 1);
}

static void
test_judge(void **state)
{
    struct nham_take_ack acks[N_COPIES];
    uint8_t saved[64], other[64];
    struct nham_take_hop hop = { .warmed = saved, .warmed_len = sizeof saved, .saved = 200,
                                 .acks = acks, .n_copies = N_COPIES };
    struct nham_take_msg t;
    struct buf b = BUF_INITIALIZER;

    memset(acks, 0, sizeof acks);
    image(saved, sizeof saved, 1, 200);
    image(other, sizeof other, 1, 180);
    assert_true(ack(acks, 1, 10, 0x11, saved, sizeof saved));
    nham_take_put(&b, &hop, 1, 2, mac1);
    assert_int_equal(b.len, NHAM_TAKE_LEN);
    assert_true(nham_take_parse(b.data, b.len, &t));
    assert_false(nham_take_parse(b.data, b.len - 1, &t));
    assert_int_equal(t.inc, 2);
    assert_int_equal(nham_take_judge(&t, true, 0x11, mac1, saved, sizeof saved, NULL, 0),
                     NHAM_TAKE_FROM_IMAGE);
    /* Not a standby, another process (a TAKE from before it started), another MAC. */
    assert_int_equal(nham_take_judge(&t, false, 0x11, mac1, saved, sizeof saved, NULL, 0),
                     NHAM_TAKE_NOT_MINE);
    assert_int_equal(nham_take_judge(&t, true, 0x12, mac1, saved, sizeof saved, NULL, 0),
                     NHAM_TAKE_NOT_MINE);
    assert_int_equal(nham_take_judge(&t, true, 0x11, mac2, saved, sizeof saved, NULL, 0),
                     NHAM_TAKE_NOT_MINE);
    /* Another image, or none: it activates and asks the VSM. */
    assert_int_equal(nham_take_judge(&t, true, 0x11, mac1, other, sizeof other, NULL, 0),
                     NHAM_TAKE_ACTIVATE);
    assert_int_equal(nham_take_judge(&t, true, 0x11, mac1, NULL, 0, NULL, 0),
                     NHAM_TAKE_ACTIVATE);
    /* It took a newer image since its ACK: it still holds the one named, as the one before. */
    assert_int_equal(nham_take_judge(&t, true, 0x11, mac1, other, sizeof other, saved,
                                     sizeof saved), NHAM_TAKE_FROM_PREV);
    /* Its READY stays with it, unless the replay of that incarnation came first. */
    assert_true(nham_take_keeps_ready(2, 1));
    assert_false(nham_take_keeps_ready(2, 2));
    buf_uninit(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_choose),
        cmocka_unit_test(test_defer_and_prev),
        cmocka_unit_test(test_active_copy_not_taken_again),
        cmocka_unit_test(test_judge),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
