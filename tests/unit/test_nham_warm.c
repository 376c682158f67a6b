/* A warm standby's image (vnfs/sfc/nhamfrag.h, nham_warm_take()) against replays: the SFF's
 * WARM and DELTA messages are sealed as the role seals them (the instance's key, sequence
 * number 0), opened as the standby opens them, and the standby keeps the newest image it was
 * given. A man in the middle (or a late frame) that sends an old one again, authentic as it
 * is, must neither replace a newer image nor make the standby drop it. And the image before
 * the one held, which the role keeps by the last DELTA's runs (nham_warm_keep()). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/byteorder.h"
#include "vnfs/sfc/ftstage.h"
#include "vnfs/sfc/nhamfrag.h"

#define STATE_LEN 4096
#define ID_VSM 2                /* The ids nham.c gives the VSM and hop 0. */
#define ID_HOP0 100

static const uint8_t key[FTSTAGE_KEY_LEN] = { 7, 1, 2, 3 };

/* A nham_vnf image: epoch(4) counter(8) count(8) digest(8) n(4) state(n), its state bytes
 * drawn from 'counter' at a few places (a packet touches a few bytes). */
static void
image(struct buf *b, uint32_t epoch, uint64_t counter)
{
    uint8_t state[STATE_LEN];

    memset(state, 0, sizeof state);
    for (int k = 0; k < 8; k++) {
        state[(counter * 131 + k * 509) % STATE_LEN] = counter + k;
    }
    buf_clear(b);
    buf_put_be32(b, epoch);
    buf_put_be64(b, counter);
    buf_put_be64(b, counter * 2);                   /* count */
    buf_put_be64(b, counter * 0x9e3779b97f4a7c15);  /* digest */
    buf_put_be32(b, STATE_LEN);
    buf_put(b, state, STATE_LEN);
}

/* The sealed message as the SFF sends it to the standbys (nham_sff_watch()). */
static void
seal(struct buf *out, const struct buf *payload)
{
    struct ftstage_msg m = { .from = ID_VSM, .to = ID_HOP0, .seq = 0, .kind = FT_EV_PEER_MSG,
                             .payload = payload->data, .len = payload->len };

    buf_clear(out);
    ftstage_msg_seal(out, key, &m);
}

static void
sealed_warm(struct buf *out, const struct buf *img)
{
    struct buf p = BUF_INITIALIZER;

    buf_put(&p, NHAM_WARM_MAGIC, NHAM_MAGIC_LEN);
    buf_put(&p, img->data, img->len);
    seal(out, &p);
    buf_uninit(&p);
}

static void
sealed_delta(struct buf *out, const struct buf *from, const struct buf *to)
{
    struct buf p = BUF_INITIALIZER;

    buf_put(&p, NHAM_DELTA_MAGIC, NHAM_MAGIC_LEN);
    buf_put(&p, from->data, NHAM_IMAGE_ID);
    buf_put_be32(&p, to->len);
    buf_put(&p, to->data, NHAM_IMAGE_ID);
    assert_true(nham_delta_encode(from->data, to->data, to->len, to->len / 4, &p) > 0);
    seal(out, &p);
    buf_uninit(&p);
}

/* What the standby's role does with a frame's message: open it, then take it. */
static enum nham_warm_result
receive(struct buf *held, const struct buf *msg)
{
    struct ftstage_msg m;

    assert_int_equal(ftstage_msg_open_max(msg->data, msg->len, key, NHAM_MAX_MESSAGE, &m), 0);
    assert_int_equal(m.from, ID_VSM);
    return nham_warm_take(held, m.payload, m.len);
}

static void
assert_holds(const struct buf *held, const struct buf *img)
{
    assert_int_equal(held->len, img->len);
    assert_memory_equal(held->data, img->data, img->len);
}

/* WARM 1, DELTA 1->2, DELTA 2->3, each kept; then every old message sent again changes
 * nothing, and the next DELTA still applies (the standby did not lose its image). */
static void
test_replayed_old_images_rejected(void **state)
{
    struct buf i1 = BUF_INITIALIZER, i2 = BUF_INITIALIZER, i3 = BUF_INITIALIZER;
    struct buf i4 = BUF_INITIALIZER, held = BUF_INITIALIZER;
    struct buf w1 = BUF_INITIALIZER, w2 = BUF_INITIALIZER, d12 = BUF_INITIALIZER;
    struct buf d23 = BUF_INITIALIZER, d34 = BUF_INITIALIZER;

    (void) state;
    image(&i1, 1, 100);
    image(&i2, 1, 200);
    image(&i3, 2, 150);         /* A takeover: a newer incarnation, from an older counter. */
    image(&i4, 2, 300);
    sealed_warm(&w1, &i1);
    sealed_warm(&w2, &i2);
    sealed_delta(&d12, &i1, &i2);
    sealed_delta(&d23, &i2, &i3);
    sealed_delta(&d34, &i3, &i4);

    assert_int_equal(receive(&held, &w1), NHAM_WARM_KEPT);
    assert_holds(&held, &i1);
    assert_int_equal(receive(&held, &d12), NHAM_WARM_KEPT);
    assert_holds(&held, &i2);

    /* The first image, whole, again: it replaced the newer one. */
    assert_int_equal(receive(&held, &w1), NHAM_WARM_STALE);
    assert_holds(&held, &i2);

    assert_int_equal(receive(&held, &d23), NHAM_WARM_KEPT);
    assert_holds(&held, &i3);

    /* Older DELTAs and WARMs again (one of them the very one that made 'held'): before, a
     * DELTA of another base emptied the image and the standby asked for a whole one. */
    assert_int_equal(receive(&held, &d12), NHAM_WARM_STALE);
    assert_holds(&held, &i3);
    assert_int_equal(receive(&held, &d23), NHAM_WARM_STALE);
    assert_holds(&held, &i3);
    assert_int_equal(receive(&held, &w2), NHAM_WARM_STALE);
    assert_holds(&held, &i3);

    assert_int_equal(receive(&held, &d34), NHAM_WARM_KEPT);
    assert_holds(&held, &i4);

    buf_uninit(&i1), buf_uninit(&i2), buf_uninit(&i3), buf_uninit(&i4), buf_uninit(&held);
    buf_uninit(&w1), buf_uninit(&w2), buf_uninit(&d12), buf_uninit(&d23), buf_uninit(&d34);
}

/* What the standby must still do: take any image when it holds none, a newer one whole, the
 * same one again, and ask for a whole one (MISS, 'held' emptied) for a newer DELTA of a base
 * it lacks. */
static void
test_newer_images_taken(void **state)
{
    struct buf i1 = BUF_INITIALIZER, i2 = BUF_INITIALIZER, i3 = BUF_INITIALIZER;
    struct buf held = BUF_INITIALIZER, msg = BUF_INITIALIZER;

    (void) state;
    image(&i1, 3, 10);
    image(&i2, 3, 20);
    image(&i3, 3, 30);

    sealed_delta(&msg, &i1, &i2);
    assert_int_equal(receive(&held, &msg), NHAM_WARM_MISS);     /* Holds nothing. */
    assert_int_equal(held.len, 0);

    sealed_warm(&msg, &i2);
    assert_int_equal(receive(&held, &msg), NHAM_WARM_KEPT);
    assert_int_equal(receive(&held, &msg), NHAM_WARM_KEPT);     /* The same: harmless. */
    assert_holds(&held, &i2);

    sealed_delta(&msg, &i1, &i3);       /* Newer, but of a base it does not hold. */
    assert_int_equal(receive(&held, &msg), NHAM_WARM_MISS);
    assert_int_equal(held.len, 0);

    sealed_warm(&msg, &i3);
    assert_int_equal(receive(&held, &msg), NHAM_WARM_KEPT);
    assert_holds(&held, &i3);

    /* Not a warm image at all. */
    assert_int_equal(nham_warm_take(&held, (const uint8_t *) "NHAMHIT!xxxx", 12),
                     NHAM_WARM_OTHER);
    assert_int_equal(nham_warm_take(&held, (const uint8_t *) "NHAM", 4), NHAM_WARM_OTHER);
    assert_holds(&held, &i3);

    buf_uninit(&i1), buf_uninit(&i2), buf_uninit(&i3), buf_uninit(&held), buf_uninit(&msg);
}

/* What nham_warm_keep() gives the role: after every image kept, 'held' is it and 'prev' the
 * one it replaced, also when 'prev' follows by the last DELTA's runs instead of a copy; a
 * replay, a MISS and a WARM between them leave both as they must. */
static void
keep(struct buf *held, struct buf *prev, struct buf *runs, struct buf *scratch,
     const struct buf *msg, enum nham_warm_result want)
{
    struct ftstage_msg m;

    assert_int_equal(ftstage_msg_open_max(msg->data, msg->len, key, NHAM_MAX_MESSAGE, &m), 0);
    assert_int_equal(nham_warm_keep(held, prev, runs, scratch, m.payload, m.len), want);
}

static void
test_previous_image_kept(void **state)
{
    struct buf img[6], msg[6], held = BUF_INITIALIZER, prev = BUF_INITIALIZER;
    struct buf runs = BUF_INITIALIZER, scratch = BUF_INITIALIZER;

    (void) state;
    for (int k = 0; k < 6; k++) {
        img[k] = (struct buf) BUF_INITIALIZER;
        msg[k] = (struct buf) BUF_INITIALIZER;
        image(&img[k], 1, 100 + k * 10);
    }
    sealed_warm(&msg[0], &img[0]);
    for (int k = 1; k < 5; k++) {
        sealed_delta(&msg[k], &img[k - 1], &img[k]);
    }
    keep(&held, &prev, &runs, &scratch, &msg[0], NHAM_WARM_KEPT);
    assert_holds(&held, &img[0]);
    assert_int_equal(prev.len, 0);
    for (int k = 1; k < 4; k++) {
        keep(&held, &prev, &runs, &scratch, &msg[k], NHAM_WARM_KEPT);
        assert_holds(&held, &img[k]);
        assert_holds(&prev, &img[k - 1]);
    }
    /* A replay changes neither. */
    keep(&held, &prev, &runs, &scratch, &msg[2], NHAM_WARM_STALE);
    assert_holds(&held, &img[3]);
    assert_holds(&prev, &img[2]);
    /* A WARM between DELTAs: the next DELTA's 'prev' is still the image it replaced. */
    sealed_warm(&msg[5], &img[4]);
    keep(&held, &prev, &runs, &scratch, &msg[5], NHAM_WARM_KEPT);
    assert_holds(&held, &img[4]);
    assert_holds(&prev, &img[3]);
    image(&img[5], 1, 200);
    sealed_delta(&msg[5], &img[4], &img[5]);
    keep(&held, &prev, &runs, &scratch, &msg[5], NHAM_WARM_KEPT);
    assert_holds(&held, &img[5]);
    assert_holds(&prev, &img[4]);
    /* A DELTA of a base it lacks: 'held' emptied, 'prev' as it was; then whole again. */
    keep(&held, &prev, &runs, &scratch, &msg[1], NHAM_WARM_STALE);
    image(&img[0], 2, 10);
    image(&img[1], 2, 20);
    image(&img[2], 2, 30);
    sealed_delta(&msg[1], &img[0], &img[1]);
    keep(&held, &prev, &runs, &scratch, &msg[1], NHAM_WARM_MISS);
    assert_int_equal(held.len, 0);
    assert_holds(&prev, &img[4]);
    sealed_warm(&msg[0], &img[1]);
    keep(&held, &prev, &runs, &scratch, &msg[0], NHAM_WARM_KEPT);
    assert_holds(&held, &img[1]);
    assert_int_equal(prev.len, 0);
    sealed_delta(&msg[2], &img[1], &img[2]);
    keep(&held, &prev, &runs, &scratch, &msg[2], NHAM_WARM_KEPT);
    assert_holds(&held, &img[2]);
    assert_holds(&prev, &img[1]);

    for (int k = 0; k < 6; k++) {
        buf_uninit(&img[k]), buf_uninit(&msg[k]);
    }
    buf_uninit(&held), buf_uninit(&prev), buf_uninit(&runs), buf_uninit(&scratch);
}

/* Epoch first: a newer incarnation's image is newer whatever its counter. */
static void
test_image_order(void **state)
{
    struct buf a = BUF_INITIALIZER, b = BUF_INITIALIZER;

    (void) state;
    image(&a, 1, 1000);
    image(&b, 2, 5);
    assert_true(nham_image_cmp(a.data, b.data) < 0);
    assert_true(nham_image_cmp(b.data, a.data) > 0);
    image(&b, 1, 999);
    assert_true(nham_image_cmp(b.data, a.data) < 0);
    assert_int_equal(nham_image_cmp(a.data, a.data), 0);
    buf_uninit(&a), buf_uninit(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replayed_old_images_rejected),
        cmocka_unit_test(test_newer_images_taken),
        cmocka_unit_test(test_image_order),
        cmocka_unit_test(test_previous_image_kept),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
