/* NHAM's VNF core (vnfs/ft/nham/vnf.c) on its fault-free path: each output is its input with
 * the VNF's stamp added, built in one copy; a retransmission of a packet already processed is
 * answered with the very bytes of its first output, from the stamps it keeps (not the whole
 * outputs); its state is ft_forwarder_absorb()'s over the payloads, which fwd's
 * forwarder_state runs without NHAM (the baseline of NHAM's overhead); and a checkpoint, given
 * in place, is the whole export. Failures and recoveries are tests/sim's (scenarios nham,
 * nham-take). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/nham/nham.h"

#define ID_SFF 1
#define ID_VSM 2
#define ID_VNF 100
#define STATE_BYTES 4096

struct fixture {
    struct ft_core *core;
    struct ft_actions out;
};

static void
fixture_make(struct fixture *fx)
{
    static const uint32_t peers[2] = { ID_SFF, ID_VSM };
    static const struct ft_param params[] = { { "state_bytes", "4096" } };
    struct ft_config cfg = { .self = ID_VNF, .peers = peers, .n_peers = 2,
                             .params = params, .n_params = 1 };
    struct ft_event start = { .kind = FT_EV_START, .from = FT_ENDPOINT_NONE };

    assert_int_equal(ft_core_create(ft_core_class_find("nham_vnf"), &cfg, &fx->core, NULL), 0);
    ft_actions_init(&fx->out);
    assert_int_equal(ft_core_step(fx->core, &start, &fx->out), 0);
}

static void
fixture_free(struct fixture *fx)
{
    ft_core_destroy(fx->core);
    ft_actions_uninit(&fx->out);
}

/* DATA 'counter' of epoch 0 with two stamps before (two VNFs passed) and a payload that
 * depends on the counter. */
static void
data_make(struct buf *b, uint64_t counter, struct nham_data *d, uint8_t *payload, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        payload[i] = (uint8_t) (counter * 31 + i * 7);
    }
    *d = (struct nham_data) { .epoch = 0, .counter = counter, .n_stamps = 2,
                              .stamps = { counter, counter }, .payload = payload,
                              .payload_len = len };
    buf_clear(b);
    nham_data_put(b, d);
}

/* Steps DATA 'b' in; the one action it gives must be a forward to the SFF: its bytes in 'o'. */
static void
step_data(struct fixture *fx, const struct buf *b, struct buf *o)
{
    struct ft_event ev = { .kind = FT_EV_PACKET, .from = ID_SFF, .data = b->data,
                           .len = b->len };

    assert_int_equal(ft_core_step(fx->core, &ev, &fx->out), 0);
    assert_int_equal(fx->out.n, 1);
    assert_int_equal(fx->out.v[0].kind, FT_ACT_FORWARD);
    assert_int_equal(fx->out.v[0].to, ID_SFF);
    buf_clear(o);
    buf_put(o, fx->out.v[0].data, fx->out.v[0].len);
    ft_actions_clear(&fx->out);
}

static void
test_output_is_input_stamped(void **state)
{
    struct fixture fx;
    struct buf in = BUF_INITIALIZER, out = BUF_INITIALIZER, want = BUF_INITIALIZER;
    struct ft_forwarder fw = { .state = calloc(STATE_BYTES, 1), .state_len = STATE_BYTES };
    uint8_t payload[1070];
    struct nham_data d;
    struct nham_image im;

    fixture_make(&fx);
    for (uint64_t c = 1; c <= 50; c++) {
        data_make(&in, c, &d, payload, sizeof payload - c);
        step_data(&fx, &in, &out);
        /* What nham_data_put() gives with the VNF's count as a third stamp. */
        d.stamps[d.n_stamps++] = c;
        buf_clear(&want);
        nham_data_put(&want, &d);
        assert_int_equal(out.len, want.len);
        assert_memory_equal(out.data, want.data, want.len);
        ft_forwarder_absorb(&fw, payload, sizeof payload - c);
    }
    /* Its state is the forwarder's over the payloads, in order. */
    buf_clear(&out);
    assert_int_equal(ft_core_export_state(fx.core, &out), 0);
    assert_true(nham_image_parse(out.data, out.len, &im));
    assert_int_equal(im.counter, 50);
    assert_int_equal(im.count, fw.count);
    assert_int_equal(im.digest, fw.digest);
    assert_int_equal(im.state_len, STATE_BYTES);
    assert_memory_equal(im.state, fw.state, STATE_BYTES);
    free(fw.state);
    buf_uninit(&in);
    buf_uninit(&out);
    buf_uninit(&want);
    fixture_free(&fx);
}

/* A driver's room (struct ft_actions' space): every other output is refused room, which
 * leaves it to the arena; or, with 'input' set, the 8 bytes before the input itself (the VNF
 * role gives its receive slot's headroom), where the output is built over the input, only the
 * header moving. */
struct room {
    uint8_t frames[4][2048];
    size_t n_asked;
    const uint8_t *given;       /* The last room given, NULL if refused. */
    const uint8_t *input;
    size_t len;
};

static uint8_t *
room_give(void *room_, uint32_t to, size_t len)
{
    struct room *r = room_;

    assert_int_equal(to, ID_SFF);
    if (r->input) {
        assert_int_equal(len, r->len + 8);
        r->n_asked++;
        r->given = r->input - 8;
    } else {
        r->given = r->n_asked++ % 2 && len <= 2048 - 14 ? r->frames[r->n_asked % 4] + 14 : NULL;
    }
    return (uint8_t *) r->given;
}

/* With room from the driver the output is built there, the action refers to it, and its
 * bytes are those built in the arena without it. */
static void
test_output_built_in_driver_room(void **state)
{
    uint8_t slot[64 + 2048];

    for (int over_input = 0; over_input < 2; over_input++) {
        struct fixture fx;
        struct room room = { .n_asked = 0 };
        struct buf in = BUF_INITIALIZER, want = BUF_INITIALIZER;
        uint8_t payload[1070];
        struct nham_data d;

        fixture_make(&fx);
        fx.out.space = room_give;
        fx.out.space_aux = &room;
        for (uint64_t c = 1; c <= 8; c++) {
            struct ft_event ev = { .kind = FT_EV_PACKET, .from = ID_SFF };

            data_make(&in, c, &d, payload, sizeof payload - c);
            ev.data = in.data;
            ev.len = in.len;
            if (over_input) {
                memcpy(slot + 64, in.data, in.len);
                ev.data = room.input = slot + 64;
                room.len = in.len;
            }
            d.stamps[d.n_stamps++] = c;
            buf_clear(&want);
            nham_data_put(&want, &d);
            assert_int_equal(ft_core_step(fx.core, &ev, &fx.out), 0);
            assert_int_equal(fx.out.n, 1);
            assert_int_equal(fx.out.v[0].kind, FT_ACT_FORWARD);
            assert_ptr_equal(fx.out.v[0].data, room.given ? room.given : fx.out.arena.data);
            assert_int_equal(fx.out.v[0].len, want.len);
            assert_memory_equal(fx.out.v[0].data, want.data, want.len);
            ft_actions_clear(&fx.out);
        }
        assert_int_equal(room.n_asked, 8);
        buf_uninit(&in);
        buf_uninit(&want);
        fixture_free(&fx);
    }
}

static void
test_retransmission_answered_alike(void **state)
{
    struct fixture fx;
    struct buf in = BUF_INITIALIZER, out = BUF_INITIALIZER;
    struct buf first[8];
    uint8_t payload[1024];
    struct nham_data d;
    struct ft_event ev = { .kind = FT_EV_PACKET, .from = ID_SFF };

    fixture_make(&fx);
    for (uint64_t c = 1; c <= 8; c++) {
        buf_init(&first[c - 1]);
        data_make(&in, c, &d, payload, sizeof payload);
        step_data(&fx, &in, &first[c - 1]);
    }
    /* Sent again (its output lost on the way back): the same bytes, the state untouched. */
    for (uint64_t c = 3; c <= 8; c++) {
        data_make(&in, c, &d, payload, sizeof payload);
        step_data(&fx, &in, &out);
        assert_int_equal(out.len, first[c - 1].len);
        assert_memory_equal(out.data, first[c - 1].data, out.len);
    }
    /* The next one still gets the next count: nothing was absorbed twice. */
    data_make(&in, 9, &d, payload, sizeof payload);
    step_data(&fx, &in, &out);
    assert_true(nham_data_parse(out.data, out.len, &d));
    assert_int_equal(d.n_stamps, 3);
    assert_int_equal(d.stamps[2], 9);
    /* Past the log (2048 outputs back): a duplicate, dropped. */
    for (uint64_t c = 10; c <= 2100; c++) {
        data_make(&in, c, &d, payload, 64);
        step_data(&fx, &in, &out);
    }
    data_make(&in, 3, &d, payload, sizeof payload);
    ev.data = in.data;
    ev.len = in.len;
    assert_int_equal(ft_core_step(fx.core, &ev, &fx.out), 0);
    assert_int_equal(fx.out.n, 1);
    assert_int_equal(fx.out.v[0].kind, FT_ACT_DROP);
    assert_int_equal(fx.out.v[0].reason, FT_DROP_DUPLICATE);
    ft_actions_clear(&fx.out);
    for (size_t i = 0; i < 8; i++) {
        buf_uninit(&first[i]);
    }
    buf_uninit(&in);
    buf_uninit(&out);
    fixture_free(&fx);
}

/* A checkpoint's image is the state in place, its header written then: byte for byte the whole
 * export, after many packets, none, one, a few, and after an import. */
static void
test_checkpoint_is_whole_export(void **state)
{
    static const uint32_t peers[2] = { ID_SFF, ID_VSM };
    static const struct ft_param params[] = { { "state_bytes", "4100" } };
    struct ft_config cfg = { .self = ID_VNF, .peers = peers, .n_peers = 2,
                             .params = params, .n_params = 1 };
    struct ft_event start = { .kind = FT_EV_START, .from = FT_ENDPOINT_NONE };
    struct ft_event req = { .kind = FT_EV_STATE_REQUEST, .from = ID_VSM };
    struct buf in = BUF_INITIALIZER, out = BUF_INITIALIZER, whole = BUF_INITIALIZER;
    struct buf image = BUF_INITIALIZER;
    uint8_t payload[256];
    struct nham_data d;
    struct fixture fx;
    uint64_t c = 0;

    assert_int_equal(ft_core_create(ft_core_class_find("nham_vnf"), &cfg, &fx.core, NULL), 0);
    ft_actions_init(&fx.out);
    assert_int_equal(ft_core_step(fx.core, &start, &fx.out), 0);
    ft_actions_clear(&fx.out);
    for (int round = 0; round < 6; round++) {
        /* 700, 700, 0, 1, 7 and 1 packets. */
        int n = round == 2 ? 0 : round == 3 || round == 5 ? 1 : round == 4 ? 7 : 700;

        if (round == 5) {
            /* An import (a restore) replaces the whole state, here by round 0's. */
            assert_int_equal(ft_core_import_state(fx.core, image.data, image.len), 0);
            c = 700;
        }
        for (int i = 0; i < n; i++) {
            c++;
            data_make(&in, c, &d, payload, sizeof payload - c % 200);
            step_data(&fx, &in, &out);
        }
        assert_int_equal(ft_core_step(fx.core, &req, &fx.out), 0);
        assert_int_equal(fx.out.n, 1);
        assert_int_equal(fx.out.v[0].kind, FT_ACT_STATE);
        buf_clear(&whole);
        assert_int_equal(ft_core_export_state(fx.core, &whole), 0);
        assert_int_equal(fx.out.v[0].len, whole.len);
        assert_memory_equal(fx.out.v[0].data, whole.data, whole.len);
        if (!round) {
            buf_put(&image, whole.data, whole.len);
        }
        ft_actions_clear(&fx.out);
    }
    buf_uninit(&in);
    buf_uninit(&out);
    buf_uninit(&whole);
    buf_uninit(&image);
    fixture_free(&fx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_is_whole_export),
        cmocka_unit_test(test_output_is_input_stamped),
        cmocka_unit_test(test_output_built_in_driver_room),
        cmocka_unit_test(test_retransmission_answered_alike),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
