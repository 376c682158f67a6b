#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/state.h"

static void
test_put_get_delete(void **state)
{
    struct nf_state *st = state_create();
    const uint8_t *v;
    size_t len;

    assert_false(state_get(st, "k", 1, &v, &len));
    assert_int_equal(state_put(st, "k", 1, "hello", 5), 0);
    assert_true(state_get(st, "k", 1, &v, &len));
    assert_int_equal(len, 5);
    assert_memory_equal(v, "hello", 5);
    assert_int_equal(state_put(st, "k", 1, "hi", 2), 0);
    assert_true(state_get(st, "k", 1, &v, &len));
    assert_int_equal(len, 2);
    assert_int_equal(state_count(st), 1);
    assert_int_equal(state_bytes(st), 3);
    assert_true(state_delete(st, "k", 1));
    assert_false(state_delete(st, "k", 1));
    assert_false(state_get(st, "k", 1, &v, &len));
    assert_int_equal(state_count(st), 0);
    assert_int_equal(state_bytes(st), 0);

    /* Empty keys are refused; empty values are fine. */
    assert_int_equal(state_put(st, "", 0, "x", 1), EINVAL);
    assert_int_equal(state_put(st, "e", 1, NULL, 0), 0);
    assert_true(state_get(st, "e", 1, &v, &len));
    assert_int_equal(len, 0);
    state_destroy(st);
}

static void
test_write_and_counters(void **state)
{
    struct nf_state *st = state_create();
    uint8_t *w;
    const uint8_t *v;
    size_t len;

    assert_int_equal(state_write(st, "buf", 3, 4, &w), 0);
    assert_memory_equal(w, "\0\0\0\0", 4);
    memcpy(w, "abcd", 4);
    assert_int_equal(state_write(st, "buf", 3, 8, &w), 0);
    assert_memory_equal(w, "abcd\0\0\0\0", 8);
    assert_true(state_get(st, "buf", 3, &v, &len));
    assert_int_equal(len, 8);

    assert_int_equal(state_counter_get(st, "c", 1), 0);
    assert_int_equal(state_counter_add(st, "c", 1, 5), 5);
    assert_int_equal(state_counter_add(st, "c", 1, UINT64_MAX), 4);
    assert_int_equal(state_counter_get(st, "c", 1), 4);
    assert_true(state_get(st, "c", 1, &v, &len));
    assert_memory_equal(v, "\0\0\0\0\0\0\0\4", 8);    /* Big-endian on the wire. */
    state_destroy(st);
}

static void
test_limit(void **state)
{
    struct nf_state *st = state_create();

    state_set_limit(st, 2);
    assert_int_equal(state_put(st, "a", 1, "1", 1), 0);
    assert_int_equal(state_put(st, "b", 1, "1", 1), 0);
    assert_int_equal(state_put(st, "c", 1, "1", 1), ENOSPC);
    assert_int_equal(state_put(st, "a", 1, "22", 2), 0);  /* Updates still work. */
    assert_int_equal(state_counter_add(st, "d", 1, 1), 0);
    assert_true(state_delete(st, "b", 1));
    assert_int_equal(state_put(st, "c", 1, "1", 1), 0);
    state_destroy(st);
}

static void
fill(struct nf_state *st, int n, int order)
{
    for (int i = 0; i < n; i++) {
        int j = order ? n - 1 - i : i;
        char key[32], value[64];
        int klen = snprintf(key, sizeof key, "key-%d", j);
        int vlen = snprintf(value, sizeof value, "value-%d-%d", j, j * 7);
        assert_int_equal(state_put(st, key, klen, value, vlen), 0);
    }
}

static void
test_export_import_round_trip(void **state)
{
    struct nf_state *a = state_create(), *b = state_create();
    uint8_t da[STATE_DIGEST_LEN], db[STATE_DIGEST_LEN];
    struct buf out = BUF_INITIALIZER;

    fill(a, 5000, 0);
    state_counter_add(a, "total", 5, 12345);
    state_put(b, "stale", 5, "x", 1);   /* A full import replaces it. */
    state_export(a, &out);
    assert_int_equal(state_validate(out.data, out.len), 0);
    assert_int_equal(state_import(b, out.data, out.len), 0);
    assert_int_equal(state_count(b), 5001);
    assert_int_equal(state_counter_get(b, "total", 5), 12345);
    state_digest(a, da);
    state_digest(b, db);
    assert_memory_equal(da, db, sizeof da);

    /* A change shows in the digest. */
    state_counter_add(b, "total", 5, 1);
    state_digest(b, db);
    assert_memory_not_equal(da, db, sizeof da);
    buf_uninit(&out);
    state_destroy(a);
    state_destroy(b);
}

static void
test_digest_ignores_history(void **state)
{
    struct nf_state *a = state_create(), *b = state_create();
    uint8_t da[STATE_DIGEST_LEN], db[STATE_DIGEST_LEN];

    fill(a, 300, 0);
    fill(b, 300, 1);
    state_put(b, "gone", 4, "x", 1);
    state_delete(b, "gone", 4);
    state_digest(a, da);
    state_digest(b, db);
    assert_memory_equal(da, db, sizeof da);

    /* Key/value boundaries count: "ab"="c" is not "a"="bc". */
    struct nf_state *c = state_create(), *d = state_create();
    state_put(c, "ab", 2, "c", 1);
    state_put(d, "a", 1, "bc", 2);
    state_digest(c, da);
    state_digest(d, db);
    assert_memory_not_equal(da, db, sizeof da);
    state_destroy(a);
    state_destroy(b);
    state_destroy(c);
    state_destroy(d);
}

static void
test_delta(void **state)
{
    struct nf_state *primary = state_create(), *backup = state_create();
    uint8_t dp[STATE_DIGEST_LEN], db[STATE_DIGEST_LEN];
    struct buf out = BUF_INITIALIZER;

    fill(primary, 100, 0);
    state_export(primary, &out);
    assert_int_equal(state_import(backup, out.data, out.len), 0);
    uint64_t mark = state_mark(primary);
    assert_int_equal(state_changes_since(primary, mark), 0);

    state_put(primary, "key-3", 5, "new", 3);
    state_delete(primary, "key-4", 5);
    state_counter_add(primary, "pkts", 4, 2);
    assert_int_equal(state_changes_since(primary, mark), 3);

    buf_clear(&out);
    state_export_since(primary, mark, &out);
    assert_int_equal(state_import(backup, out.data, out.len), 0);
    state_digest(primary, dp);
    state_digest(backup, db);
    assert_memory_equal(dp, db, sizeof dp);
    assert_int_equal(state_count(backup), 100);   /* -1 deleted, +1 counter. */

    /* Compacting drops the tombstone: later deltas no longer carry it. */
    state_compact(primary, state_mark(primary));
    assert_int_equal(state_changes_since(primary, mark), 2);
    buf_uninit(&out);
    state_destroy(primary);
    state_destroy(backup);
}

/* A bare delta (FTC's logs) is a delta's records without its header: it applies the same,
 * and one cut short or with a record's bytes left over changes nothing. */
static void
test_bare_delta(void **state)
{
    struct nf_state *primary = state_create(), *backup = state_create();
    uint8_t dp[STATE_DIGEST_LEN], db[STATE_DIGEST_LEN];
    struct buf full = BUF_INITIALIZER, bare = BUF_INITIALIZER;
    const uint8_t *keys[2] = { (const uint8_t *) "key-3", (const uint8_t *) "pkts" };
    const size_t key_lens[2] = { 5, 4 };

    (void) state;
    fill(primary, 10, 0);
    fill(backup, 10, 0);
    uint64_t mark = state_mark(primary);
    state_put(primary, "key-3", 5, "new", 3);
    state_delete(primary, "key-4", 5);
    state_counter_add(primary, "pkts", 4, 2);
    state_export_since(primary, mark, &full);
    state_export_records_since(primary, mark, &bare);
    assert_int_equal(bare.len, full.len - 28);
    assert_memory_equal(bare.data, full.data + 28, bare.len);

    state_digest(backup, db);
    assert_int_equal(state_import_records(backup, bare.data, bare.len - 1), EINVAL);
    buf_put_u8(&bare, 0);
    assert_int_equal(state_import_records(backup, bare.data, bare.len), EINVAL);
    state_digest(backup, dp);
    assert_memory_equal(dp, db, sizeof dp);
    assert_int_equal(state_import_records(backup, bare.data, bare.len - 1), 0);
    state_digest(primary, dp);
    state_digest(backup, db);
    assert_memory_equal(dp, db, sizeof dp);
    assert_int_equal(state_import_records(backup, NULL, 0), 0);

    buf_clear(&full);
    buf_clear(&bare);
    state_export_keys(primary, keys, key_lens, 2, &full);
    state_export_records_keys(primary, keys, key_lens, 2, &bare);
    assert_int_equal(bare.len, full.len - 28);
    assert_memory_equal(bare.data, full.data + 28, bare.len);
    buf_uninit(&full);
    buf_uninit(&bare);
    state_destroy(primary);
    state_destroy(backup);
}

/* The key of 'len' bytes 'a' but for a 'b' at 'i' (i == len: all 'a'). */
static void
one_off_key(uint8_t *key, size_t len, size_t i)
{
    memset(key, 'a', len);
    if (i < len) {
        key[i] = 'b';
    }
}

/* Keys of every length from 1 to 40 bytes that differ from each other in one byte (at every
 * position) are distinct entries: the store hashes and compares short keys by words, the
 * bytes past the whole words picked by loads of their own. Each keeps its value through a
 * bare delta too. */
static void
test_keys_by_length(void **state)
{
    struct nf_state *st = state_create(), *copy = state_create();
    uint8_t ds[STATE_DIGEST_LEN], dc[STATE_DIGEST_LEN];
    struct buf out = BUF_INITIALIZER;
    size_t n = 0;

    (void) state;
    for (size_t len = 1; len <= 40; len++) {
        for (size_t i = 0; i <= len; i++) {
            uint8_t key[40];
            uint32_t value = len << 8 | i;

            one_off_key(key, len, i);
            assert_int_equal(state_put(st, key, len, &value, sizeof value), 0);
            n++;
        }
    }
    assert_int_equal(state_count(st), n);
    for (size_t len = 1; len <= 40; len++) {
        for (size_t i = 0; i <= len; i++) {
            uint8_t key[40];
            uint32_t value = len << 8 | i;
            const uint8_t *v;
            size_t vlen;

            one_off_key(key, len, i);
            assert_true(state_get(st, key, len, &v, &vlen));
            assert_int_equal(vlen, sizeof value);
            assert_memory_equal(v, &value, sizeof value);
        }
    }
    state_export_records_since(st, 0, &out);
    assert_int_equal(state_import_records(copy, out.data, out.len), 0);
    assert_int_equal(state_count(copy), n);
    state_digest(st, ds);
    state_digest(copy, dc);
    assert_memory_equal(ds, dc, sizeof ds);
    buf_uninit(&out);
    state_destroy(st);
    state_destroy(copy);
}

/* Bare deltas of 1 to 20 records (a packet's few are parsed in one pass, more counted first)
 * apply as their store had them; one with a key twice, early or late, is refused whole. */
static void
test_bare_delta_sizes(void **state)
{
    (void) state;
    for (int n = 1; n <= 20; n++) {
        struct nf_state *primary = state_create(), *backup = state_create();
        uint8_t dp[STATE_DIGEST_LEN], db[STATE_DIGEST_LEN];
        struct buf out = BUF_INITIALIZER, dup = BUF_INITIALIZER;

        fill(primary, n, 0);
        state_export_records_since(primary, 0, &out);
        state_put(backup, "mine", 4, "keep", 4);
        state_digest(backup, db);

        /* The first record again, at the end, and the last record again, after the first. */
        size_t first_len = 8 + get_be16(out.data + 2) + get_be32(out.data + 4);
        buf_put(&dup, out.data, out.len);
        buf_put(&dup, out.data, first_len);
        assert_int_equal(state_import_records(backup, dup.data, dup.len), EINVAL);
        buf_clear(&dup);
        buf_put(&dup, out.data, first_len);
        buf_put(&dup, out.data, out.len);
        assert_int_equal(state_import_records(backup, dup.data, dup.len), EINVAL);
        state_digest(backup, dp);
        assert_memory_equal(dp, db, sizeof dp);

        assert_int_equal(state_import_records(backup, out.data, out.len), 0);
        state_delete(backup, "mine", 4);
        state_digest(primary, dp);
        state_digest(backup, db);
        assert_memory_equal(dp, db, sizeof dp);
        buf_uninit(&out);
        buf_uninit(&dup);
        state_destroy(primary);
        state_destroy(backup);
    }
}

/* Deltas since a recent mark (a packet's transaction: up to 16 changes) come from the store's
 * list of recent changes, not a pass over every bucket: the same records as a pass would give,
 * each key once however often it changed, tombstones included, and none after a compaction
 * (which forgets the list). Checked against a backup that imports each delta, and against
 * the changes made, over rounds of 1-24 changes to a few keys of a large store. */
static void
test_delta_recent(void **state)
{
    struct nf_state *primary = state_create(), *backup = state_create();
    uint8_t dp[STATE_DIGEST_LEN], db[STATE_DIGEST_LEN];
    struct buf out = BUF_INITIALIZER;
    uint32_t rng = 12345;

    fill(primary, 2000, 0);
    state_export(primary, &out);
    assert_int_equal(state_import(backup, out.data, out.len), 0);
    for (int round = 0; round < 400; round++) {
        uint64_t mark = state_mark(primary);
        bool touched[8] = { false };
        size_t n_touched = 0, n_ops;

        rng = rng * 1103515245 + 12345;
        n_ops = 1 + (rng >> 16) % 24;
        for (size_t i = 0; i < n_ops; i++) {
            char key[16];
            int k, klen;

            rng = rng * 1103515245 + 12345;
            k = (rng >> 16) % 8;
            klen = snprintf(key, sizeof key, "key-%d", k);
            switch ((rng >> 24) % 3) {
            case 0:
                state_put(primary, key, klen, &rng, sizeof rng);
                break;
            case 1:
                if (!state_delete(primary, key, klen)) {
                    continue;
                }
                break;
            default:
                state_counter_add(primary, key, klen, 1);
                break;
            }
            n_touched += !touched[k];
            touched[k] = true;
        }
        assert_int_equal(state_changes_since(primary, mark), n_touched);
        buf_clear(&out);
        state_export_since(primary, mark, &out);
        assert_int_equal(state_import(backup, out.data, out.len), 0);
        state_digest(primary, dp);
        state_digest(backup, db);
        assert_memory_equal(dp, db, sizeof dp);
        if (round % 50 == 49) {
            /* Tombstones freed: a mark from before stays right (by a pass). */
            uint64_t before = state_mark(primary);

            state_counter_add(primary, "key-0", 5, 1);
            state_compact(primary, state_mark(primary));
            assert_int_equal(state_changes_since(primary, before), 1);
            buf_clear(&out);
            state_export_since(primary, before, &out);
            assert_int_equal(state_import(backup, out.data, out.len), 0);
        }
    }
    assert_int_equal(state_count(primary), state_count(backup));
    buf_uninit(&out);
    state_destroy(primary);
    state_destroy(backup);
}

/* A delta of named keys: each live one once (named twice or not), absent and deleted ones not
 * at all; a backup that imports it has the keys' values. */
static void
test_export_keys(void **state)
{
    struct nf_state *primary = state_create(), *backup = state_create();
    const uint8_t *keys[] = { (const uint8_t *) "key-1", (const uint8_t *) "key-2",
                              (const uint8_t *) "key-1", (const uint8_t *) "nope",
                              (const uint8_t *) "key-3" };
    size_t lens[] = { 5, 5, 5, 4, 5 };
    struct buf out = BUF_INITIALIZER;
    const uint8_t *v;
    size_t vlen;

    fill(primary, 10, 0);
    state_delete(primary, "key-3", 5);
    state_export_keys(primary, keys, lens, 5, &out);
    assert_int_equal(state_validate(out.data, out.len), 0);
    assert_int_equal(state_import(backup, out.data, out.len), 0);
    assert_int_equal(state_count(backup), 2);
    assert_true(state_get(backup, "key-1", 5, &v, &vlen));
    assert_int_equal(vlen, 9);
    assert_memory_equal(v, "value-1-7", 9);
    assert_true(state_get(backup, "key-2", 5, &v, &vlen));
    assert_false(state_get(backup, "key-3", 5, &v, &vlen));
    buf_uninit(&out);
    state_destroy(primary);
    state_destroy(backup);
}

static void
test_import_malformed(void **state)
{
    struct nf_state *a = state_create(), *b = state_create();
    uint8_t before[STATE_DIGEST_LEN], after[STATE_DIGEST_LEN];
    struct buf out = BUF_INITIALIZER;

    fill(a, 20, 0);
    state_put(b, "mine", 4, "keep", 4);
    state_digest(b, before);
    state_export(a, &out);

    /* Every truncation fails and leaves 'b' unchanged. */
    for (size_t n = 0; n < out.len; n++) {
        assert_int_not_equal(state_import(b, out.data, n), 0);
    }
    state_digest(b, after);
    assert_memory_equal(before, after, sizeof before);

    uint8_t *m = out.data;
    m[0] = 'X';
    assert_int_equal(state_import(b, m, out.len), EINVAL);
    m[0] = 'S';
    m[4] = 2;
    assert_int_equal(state_import(b, m, out.len), EPROTONOSUPPORT);
    m[4] = 1;
    m[5] = 3;
    assert_int_equal(state_import(b, m, out.len), EINVAL);
    m[5] = 1;
    m[28] = 9;                  /* First record's op. */
    assert_int_equal(state_import(b, m, out.len), EINVAL);
    m[28] = 2;                  /* Delete inside a full export. */
    assert_int_equal(state_import(b, m, out.len), EINVAL);
    m[28] = 1;
    m[27] += 1;                 /* One record more than present. */
    assert_int_equal(state_import(b, m, out.len), EINVAL);
    m[27] -= 1;
    buf_put_u8(&out, 0);        /* Trailing byte. */
    assert_int_equal(state_import(b, out.data, out.len), EINVAL);
    out.len--;
    assert_int_equal(state_import(b, out.data, out.len), 0);

    /* The same key twice. */
    struct nf_state *c = state_create();
    struct buf dup = BUF_INITIALIZER;
    state_put(c, "k", 1, "v", 1);
    state_export(c, &dup);
    dup.data[27] = 2;
    buf_put(&dup, dup.data + 28, dup.len - 28);
    assert_int_equal(state_import(b, dup.data, dup.len), EINVAL);

    /* Over the limit: refused whole. */
    struct nf_state *small = state_create();
    state_set_limit(small, 5);
    assert_int_equal(state_import(small, out.data, out.len), ENOSPC);
    assert_int_equal(state_count(small), 0);

    buf_uninit(&dup);
    buf_uninit(&out);
    state_destroy(a);
    state_destroy(b);
    state_destroy(c);
    state_destroy(small);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_delete),
        cmocka_unit_test(test_write_and_counters),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_export_import_round_trip),
        cmocka_unit_test(test_digest_ignores_history),
        cmocka_unit_test(test_delta),
        cmocka_unit_test(test_bare_delta),
        cmocka_unit_test(test_keys_by_length),
        cmocka_unit_test(test_bare_delta_sizes),
        cmocka_unit_test(test_delta_recent),
        cmocka_unit_test(test_export_keys),
        cmocka_unit_test(test_import_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
