/* Unit tests of the NSH-path stage of protocol cores (vnfs/sfc/ftstage.c): sealed peer messages
 * (forged, replayed, misaddressed, malformed ones counted and dropped before the core), key
 * files only their owner may read, the demo voter deciding through the stage, the SFF's
 * replicated hops in --path, and a core's timers due now run without the loop. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sodium.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/loop.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/demo/demo.h"
#include "vnfs/ft/ftc/ftc.h"
#include "vnfs/sfc/ftstage.h"
#include "vnfs/sfc/path.h"

static const uint8_t key[FTSTAGE_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

static void
seal(struct buf *b, const uint8_t *k, uint32_t from, uint32_t to, uint64_t seq, const char *text)
{
    struct ftstage_msg m = { from, to, seq, FT_EV_PEER_MSG, (const uint8_t *) text,
                             strlen(text) };

    b->len = 0;
    ftstage_msg_seal(b, k, &m);
}

static void
test_seal_open(void **state)
{
    struct buf b = BUF_INITIALIZER;
    uint8_t other[FTSTAGE_KEY_LEN] = { 9 };
    struct ftstage_msg m;

    seal(&b, key, 7, 8, 42, "hello");
    assert_int_equal(b.len, FTSTAGE_MSG_HDR_LEN + 5 + FTSTAGE_TAG_LEN);
    /* The tag is keyed BLAKE2b's of the whole message, whose keyed state the seal starts
     * from a copy of. */
    uint8_t tag[FTSTAGE_TAG_LEN];
    crypto_generichash(tag, sizeof tag, b.data, b.len - FTSTAGE_TAG_LEN, key, FTSTAGE_KEY_LEN);
    assert_memory_equal(tag, b.data + b.len - FTSTAGE_TAG_LEN, FTSTAGE_TAG_LEN);
    assert_int_equal(ftstage_msg_open(b.data, b.len, key, &m), 0);
    assert_int_equal(m.from, 7);
    assert_int_equal(m.to, 8);
    assert_int_equal(m.seq, 42);
    assert_int_equal(m.kind, FT_EV_PEER_MSG);
    assert_memory_equal(m.payload, "hello", 5);
    /* Another key, a flipped byte anywhere, a cut message. */
    assert_int_equal(ftstage_msg_open(b.data, b.len, other, &m), EBADMSG);
    for (size_t i = 4; i < b.len; i++) {
        if (i >= 20 && i < 28) {
            continue;       /* kind, padding and length: malformed before the tag is read */
        }
        b.data[i] ^= 0x10;
        assert_int_equal(ftstage_msg_open(b.data, b.len, key, &m), EBADMSG);
        b.data[i] ^= 0x10;
    }
    b.data[21] = 1;
    assert_int_equal(ftstage_msg_open(b.data, b.len, key, &m), EINVAL);
    b.data[21] = 0;
    assert_int_equal(ftstage_msg_open(b.data, b.len - 1, key, &m), EINVAL);
    assert_int_equal(ftstage_msg_open(b.data, 10, key, &m), EINVAL);
    buf_uninit(&b);
}

struct sink {
    size_t n_delivered;
    uint8_t last[256];
    size_t last_len;
};

static void
sink_deliver(void *aux, const uint8_t *data, size_t len)
{
    struct sink *s = aux;

    s->n_delivered++;
    s->last_len = MIN(len, sizeof s->last);
    memcpy(s->last, data, s->last_len);
}

static struct ftstage *
voter_stage(struct sink *sink, const uint8_t *k)
{
    static const uint32_t group[3] = { 1, 2, 3 };
    static const struct ftstage_ops ops = { .deliver = sink_deliver };
    struct ftstage_config cfg = {
        .class = ft_core_class_find("voter"),
        .core = { .self = 9, .f = 1, .group = group, .n_group = 3 },
        .key = k,
    };
    struct ftstage *st = NULL;
    char *err = NULL;

    ft_rng_init(&cfg.core.rng, 1);
    assert_int_equal(ftstage_create(&cfg, &ops, sink, &st, &err), 0);
    assert_int_equal(ftstage_start(st, 0), 0);
    return st;
}

static void
copy(struct ftstage *st, uint32_t from, uint64_t req, const char *body)
{
    struct demo_msg m = { req, 0, from, (const uint8_t *) body, strlen(body) };
    struct buf b = BUF_INITIALIZER;

    demo_msg_put(&b, &m);
    assert_int_equal(ftstage_packet(st, from, b.data, b.len, 1000), 0);
    buf_uninit(&b);
}

/* The demo voter, unchanged, decides through the stage: f+1 identical copies of 2f+1. */
static void
test_voter_through_stage(void **state)
{
    struct sink sink = { 0 };
    struct ftstage *st = voter_stage(&sink, NULL);
    struct demo_msg m;

    copy(st, 1, 5, "flipped");
    copy(st, 2, 5, "answer");
    assert_int_equal(sink.n_delivered, 0);
    copy(st, 3, 5, "answer");
    assert_int_equal(sink.n_delivered, 1);
    assert_true(demo_msg_parse(sink.last, sink.last_len, &m));
    assert_int_equal(m.req_id, 5);
    assert_memory_equal(m.body, "answer", 6);
    /* A crashed replica: two copies suffice. */
    copy(st, 2, 6, "x");
    copy(st, 3, 6, "x");
    assert_int_equal(sink.n_delivered, 2);
    copy(st, 1, 6, "x");            /* late: dropped as a duplicate */
    assert_int_equal(sink.n_delivered, 2);
    assert_int_equal(ftstage_stats(st)->drops[FT_DROP_DUPLICATE], 1);
    /* Not a replica. */
    copy(st, 7, 8, "x");
    assert_int_equal(ftstage_stats(st)->drops[FT_DROP_UNKNOWN_SENDER], 1);
    ftstage_destroy(st);
}

/* FIT-SFC's voter through the same stage the SFF runs: 2f+1 = 3 identical copies of the 3f+1 = 4
 * replicas decide; a split (Figure 2) halts, and the stage counts it. */
static void
test_bft_voter_through_stage(void **state)
{
    static const uint32_t group[4] = { 1, 2, 3, 4 };
    static const struct ftstage_ops ops = { .deliver = sink_deliver };
    struct ft_param max_pending = { "max_pending", "2" };
    struct ftstage_config cfg = {
        .class = ft_core_class_find("bft_voter"),
        .core = { .self = 9, .f = 1, .group = group, .n_group = 4, .params = &max_pending,
                  .n_params = 1 },
    };
    struct sink sink = { 0 };
    struct ftstage *st = NULL;
    struct demo_msg m;
    char *err = NULL;

    ft_rng_init(&cfg.core.rng, 1);
    assert_int_equal(ftstage_create(&cfg, &ops, &sink, &st, &err), 0);
    assert_int_equal(ftstage_start(st, 0), 0);
    copy(st, 1, 5, "spoofed");
    copy(st, 2, 5, "answer");
    copy(st, 3, 5, "answer");
    assert_int_equal(sink.n_delivered, 0);
    copy(st, 4, 5, "answer");
    assert_int_equal(sink.n_delivered, 1);
    assert_true(demo_msg_parse(sink.last, sink.last_len, &m));
    assert_memory_equal(m.body, "answer", 6);
    copy(st, 1, 6, "#1");
    copy(st, 2, 6, "#1");
    copy(st, 3, 6, "#2");
    copy(st, 4, 6, "#2");
    assert_int_equal(sink.n_delivered, 1);
    assert_int_equal(ftstage_stats(st)->drops[FT_DROP_NO_QUORUM], 1);
    /* Replica 1 may hold two undecided copies, no more. */
    copy(st, 1, 7, "a");
    copy(st, 1, 8, "a");
    copy(st, 1, 9, "a");
    assert_int_equal(ftstage_stats(st)->drops[FT_DROP_OVERLOAD], 1);
    ftstage_destroy(st);
}

static void
test_peer_messages_counted(void **state)
{
    struct sink sink = { 0 };
    struct ftstage *st = voter_stage(&sink, key), *nokey = voter_stage(&sink, NULL);
    uint8_t other[FTSTAGE_KEY_LEN] = { 7 };
    struct buf b = BUF_INITIALIZER;
    const struct ftstage_stats *s = ftstage_stats(st);

    seal(&b, key, 1, 9, 1, "m1");
    ftstage_peer_message(st, b.data, b.len, 0);
    assert_int_equal(s->peer_rx, 1);
    ftstage_peer_message(st, b.data, b.len, 0);         /* replayed */
    assert_int_equal(s->peer_replayed, 1);
    seal(&b, key, 1, 9, 100, "m2");                      /* far ahead: accepted */
    ftstage_peer_message(st, b.data, b.len, 0);
    seal(&b, key, 1, 9, 99, "m3");                       /* inside the window, unseen */
    ftstage_peer_message(st, b.data, b.len, 0);
    assert_int_equal(s->peer_rx, 3);
    seal(&b, key, 1, 9, 20, "m4");                       /* behind the window */
    ftstage_peer_message(st, b.data, b.len, 0);
    assert_int_equal(s->peer_replayed, 2);
    seal(&b, key, 2, 9, 1, "m5");                        /* another sender's own window */
    ftstage_peer_message(st, b.data, b.len, 0);
    assert_int_equal(s->peer_rx, 4);
    seal(&b, other, 1, 9, 200, "forged");
    ftstage_peer_message(st, b.data, b.len, 0);
    assert_int_equal(s->peer_forged, 1);
    seal(&b, key, 1, 10, 201, "elsewhere");
    ftstage_peer_message(st, b.data, b.len, 0);
    assert_int_equal(s->peer_misaddressed, 1);
    ftstage_peer_message(st, b.data, 7, 0);
    assert_int_equal(s->peer_malformed, 1);
    /* The link says sender 2 sent it: sealed as 1 (any key holder can), it is not believed;
     * sealed as 2, it is. */
    seal(&b, key, 1, 9, 400, "as 1");
    ftstage_peer_message_from(st, b.data, b.len, 2, 0);
    assert_int_equal(s->peer_impersonated, 1);
    assert_int_equal(s->peer_rx, 4);
    seal(&b, key, 2, 9, 401, "as 2");
    ftstage_peer_message_from(st, b.data, b.len, 2, 0);
    assert_int_equal(s->peer_impersonated, 1);
    assert_int_equal(s->peer_rx, 5);
    /* Without a key nothing is believed. */
    seal(&b, key, 1, 9, 300, "m6");
    ftstage_peer_message(nokey, b.data, b.len, 0);
    assert_int_equal(ftstage_stats(nokey)->peer_forged, 1);
    assert_int_equal(ftstage_stats(nokey)->peer_rx, 0);
    assert_int_equal(s->peer_rx, 5);
    buf_uninit(&b);
    ftstage_destroy(st);
    ftstage_destroy(nokey);
}

struct recorder {
    size_t n_forward, n_send;
    uint32_t last_to;
    uint8_t msg[256];
    size_t msg_len;
};

static void
rec_forward(void *aux, uint32_t to, const uint8_t *data, size_t len)
{
    struct recorder *r = aux;

    r->n_forward++;
    r->last_to = to;
}

static bool
rec_send(void *aux, uint32_t to, const uint8_t *msg, size_t len)
{
    struct recorder *r = aux;

    r->n_send++;
    r->last_to = to;
    r->msg_len = MIN(len, sizeof r->msg);
    memcpy(r->msg, msg, r->msg_len);
    return true;
}

/* Actions leave through the host role's callbacks: the `none` core forwards each packet to its
 * next hop; a state request from a peer is answered with a sealed message. */
static void
test_actions_leave_through_the_role(void **state)
{
    static const uint32_t next[1] = { 77 };
    static const struct ftstage_ops ops = { .forward = rec_forward, .send = rec_send };
    struct ftstage_config cfg = {
        .class = ft_core_class_find("none"),
        .core = { .self = 9, .next = next, .n_next = 1 },
        .key = key,
    };
    struct recorder rec = { 0 };
    struct buf b = BUF_INITIALIZER;
    struct ftstage_msg m = { 5, 9, 1, FT_EV_STATE_REQUEST, NULL, 0 };
    struct ftstage *st = NULL;
    char *err = NULL;

    ft_rng_init(&cfg.core.rng, 1);
    assert_int_equal(ftstage_create(&cfg, &ops, &rec, &st, &err), 0);
    ftstage_start(st, 0);
    assert_int_equal(ftstage_packet(st, 1, (const uint8_t *) "abc", 3, 10), 0);
    assert_int_equal(rec.n_forward, 1);
    assert_int_equal(rec.last_to, 77);
    ftstage_msg_seal(&b, key, &m);
    ftstage_peer_message(st, b.data, b.len, 20);
    assert_int_equal(ftstage_stats(st)->peer_rx, 1);
    assert_int_equal(rec.n_send, 1);
    assert_int_equal(rec.last_to, 5);
    assert_int_equal(ftstage_stats(st)->sent, 1);
    /* Sealed under the stage's key as any holder of it would (its own keyed state). */
    assert_int_equal(ftstage_msg_open(rec.msg, rec.msg_len, key, &m), 0);
    assert_int_equal(m.kind, FT_EV_STATE);
    assert_int_equal(m.to, 5);
    buf_uninit(&b);
    ftstage_destroy(st);
}

static void
test_key_file(void **state)
{
    char path[] = "/tmp/sfct-key-XXXXXX";
    uint8_t k[FTSTAGE_KEY_LEN];
    char *err = NULL;
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, key, sizeof key), (ssize_t) sizeof key);
    close(fd);
    chmod(path, 0600);
    assert_int_equal(ftstage_key_load(path, k, &err), 0);
    assert_memory_equal(k, key, sizeof key);
    chmod(path, 0644);
    assert_int_equal(ftstage_key_load(path, k, &err), EPERM);
    assert_non_null(strstr(err, "nobody else"));
    free(err);
    err = NULL;
    chmod(path, 0600);
    truncate(path, 5);
    assert_int_equal(ftstage_key_load(path, k, &err), EINVAL);
    free(err);
    unlink(path);
}

static void
test_path_replicas(void **state)
{
    struct path_table t = { NULL, 0 };
    const struct path *p;
    struct path *parsed = malloc(sizeof *parsed);
    static const uint8_t b2[6] = { 2, 0, 0, 0, 0, 0xb2 };
    size_t k, r;
    char *err = NULL;

    assert_int_equal(path_parse("5:02:00:00:00:00:a1+02:00:00:00:00:a2+02:00:00:00:00:a3,"
                                "02:00:00:00:00:b1+02:00:00:00:00:b2+02:00:00:00:00:b3",
                                parsed, &err), 0);
    assert_int_equal(parsed->n_hops, 2);
    assert_int_equal(parsed->n_replicas[0], 3);
    assert_int_equal(path_table_add(&t, parsed), 0);
    assert_int_equal(path_lookup_hop(&t, 5, 254, &p, &k), PATH_FORWARD);
    assert_int_equal(k, 1);
    assert_true(path_find_replica(&t, b2, &p, &k, &r));
    assert_int_equal(k, 1);
    assert_int_equal(r, 1);
    assert_int_equal(path_parse("5:02:00:00:00:00:a1++02:00:00:00:00:a2", parsed, &err), 0);
    assert_int_equal(path_parse("5:02:00:00:00:00:a1+zz", parsed, &err), EINVAL);
    free(err);
    path_table_destroy(&t);
    free(parsed);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_open),
        cmocka_unit_test(test_voter_through_stage),
        cmocka_unit_test(test_bft_voter_through_stage),
        cmocka_unit_test(test_peer_messages_counted),
        cmocka_unit_test(test_actions_leave_through_the_role),
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_path_replicas),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
