#include "vnfs/lib/state.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/util.h"

struct state_entry {
    struct state_entry *next;   /* In its bucket. */
    uint64_t seq;               /* Sequence number of its last change. */
    uint32_t hash;
    bool live;                  /* False: a tombstone kept for deltas. */
    uint16_t key_len;
    uint32_t value_len;
    uint32_t value_cap;
    uint8_t *value;
    uint8_t key[];
};

#define STATE_RECENT 16

struct nf_state {
    struct state_entry **buckets;
    size_t mask;                /* n_buckets - 1; n_buckets is a power of 2. */
    size_t n_entries;           /* Live entries and tombstones. */
    size_t n_live;
    size_t n_bytes;             /* Of live keys and values. */
    size_t max_entries;
    uint64_t seq;
    /* The entries of the last STATE_RECENT changes, change 's' in slot s % STATE_RECENT, for
     * changes after 'recent_floor': a delta since a recent mark (one packet's transaction)
     * then visits what changed instead of every bucket of the store. */
    struct state_entry *recent[STATE_RECENT];
    uint64_t recent_floor;
};

enum { EXPORT_FULL = 1, EXPORT_DELTA = 2 };
enum { OP_PUT = 1, OP_DELETE = 2 };
#define HEADER_LEN 28
#define RECORD_LEN 8

static inline uint64_t
load64(const uint8_t *p)
{
    uint64_t w;

    memcpy(&w, p, 8);
    return w;
}

static inline uint32_t
load32(const uint8_t *p)
{
    uint32_t w;

    memcpy(&w, p, 4);
    return w;
}

/* The end of a key of 'len' bytes as one word, the bytes that the whole words before offset
 * 'len' - 8 leave (1 to 8), loaded rather than copied by a memcpy() of a variable length (a
 * call) or a byte at a time: a key of 8 or more bytes ends with the word of its last 8
 * (overlapping the word before), a shorter one is two overlapping 4-byte loads or 3 bytes.
 * Keys of one length give distinct words, so this and the words before it compare keys
 * (key_equal()) as well as hash them. */
static inline uint64_t
key_last_word(const uint8_t *key, size_t len)
{
    if (len >= 8) {
        return load64(key + len - 8);
    } else if (len >= 4) {
        return load32(key) | (uint64_t) load32(key + len - 4) << 32;
    } else if (len) {
        return key[0] | key[len / 2] << 8 | (uint32_t) key[len - 1] << 16;
    }
    return 0;
}

/* A multiply per 8-byte word and a multiply-xorshift at the end: keys are short (flow tuples),
 * so this beats a byte-at-a-time hash; the fixed seed keeps bucket order identical across
 * replicas. */
static inline uint32_t
hash_key(const uint8_t *key, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (len * 0xff51afd7ed558ccdull);

    for (size_t i = 0; i + 8 < len; i += 8) {
        h = (h ^ load64(key + i)) * 0xc4ceb9fe1a85ec53ull;
    }
    h = (h ^ key_last_word(key, len)) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 32;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 29;
    return (uint32_t) h;
}

/* Whether two keys of 'len' bytes are equal: memcmp() is a call that costs more than the
 * compare of a flow tuple, on every store lookup. */
static inline bool
key_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
    for (size_t i = 0; i + 8 < len; i += 8) {
        if (load64(a + i) != load64(b + i)) {
            return false;
        }
    }
    return key_last_word(a, len) == key_last_word(b, len);
}

/* memcpy() of a key or value: mostly a few words (flow tuples, counters), for which the call
 * of a variable-length memcpy() costs more than the copy. 'dst' and 'src' do not overlap. */
static inline void
copy_bytes(uint8_t *dst, const uint8_t *src, size_t len)
{
    if (len >= 8 && len <= 16) {
        uint64_t a = load64(src), b = load64(src + len - 8);

        memcpy(dst, &a, 8);
        memcpy(dst + len - 8, &b, 8);
    } else if (len > 16 && len <= 32) {
        uint64_t a = load64(src), b = load64(src + 8);
        uint64_t c = load64(src + len - 16), d = load64(src + len - 8);

        memcpy(dst, &a, 8);
        memcpy(dst + 8, &b, 8);
        memcpy(dst + len - 16, &c, 8);
        memcpy(dst + len - 8, &d, 8);
    } else if (len >= 4 && len < 8) {
        uint32_t a = load32(src), b = load32(src + len - 4);

        memcpy(dst, &a, 4);
        memcpy(dst + len - 4, &b, 4);
    } else if (len) {
        memcpy(dst, src, len);
    }
}

struct nf_state *
state_create(void)
{
    struct nf_state *st = xzalloc(sizeof *st);

    if (sodium_init() < 0) {
        sfc_abort("libsodium failed to initialise");
    }
    st->mask = 63;
    st->buckets = xcalloc(st->mask + 1, sizeof *st->buckets);
    st->max_entries = STATE_DEFAULT_MAX_ENTRIES;
    return st;
}

static void
entry_free(struct state_entry *e)
{
    free(e->value);
    free(e);
}

void
state_destroy(struct nf_state *st)
{
    if (!st) {
        return;
    }
    for (size_t i = 0; i <= st->mask; i++) {
        struct state_entry *e = st->buckets[i];
        while (e) {
            struct state_entry *next = e->next;
            entry_free(e);
            e = next;
        }
    }
    free(st->buckets);
    free(st);
}

void
state_set_limit(struct nf_state *st, size_t max_entries)
{
    st->max_entries = max_entries;
}

size_t
state_count(const struct nf_state *st)
{
    return st->n_live;
}

size_t
state_bytes(const struct nf_state *st)
{
    return st->n_bytes;
}

uint64_t
state_mark(const struct nf_state *st)
{
    return st->seq;
}

static inline struct state_entry *
find(const struct nf_state *st, const uint8_t *key, size_t key_len, uint32_t hash)
{
    for (struct state_entry *e = st->buckets[hash & st->mask]; e; e = e->next) {
        if (e->hash == hash && e->key_len == key_len && key_equal(e->key, key, key_len)) {
            return e;
        }
    }
    return NULL;
}

/* Stamps 'e' with a new sequence number: a change. */
static void
stamp(struct nf_state *st, struct state_entry *e)
{
    e->seq = ++st->seq;
    st->recent[st->seq % STATE_RECENT] = e;
}

/* Whether every change after 'mark' is in 'recent'. */
static bool
recent_covers(const struct nf_state *st, uint64_t mark)
{
    return mark >= st->recent_floor && mark <= st->seq && st->seq - mark <= STATE_RECENT;
}

/* The entry of change 's' (in 'recent', recent_covers()) if 's' is its latest change, else NULL:
 * each entry changed since a mark is visited once, at its last change. */
static struct state_entry *
recent_entry(const struct nf_state *st, uint64_t s)
{
    struct state_entry *e = st->recent[s % STATE_RECENT];

    return e->seq == s ? e : NULL;
}

static void
expand(struct nf_state *st)
{
    size_t n = (st->mask + 1) * 2;
    struct state_entry **buckets = xcalloc(n, sizeof *buckets);

    for (size_t i = 0; i <= st->mask; i++) {
        struct state_entry *e = st->buckets[i];
        while (e) {
            struct state_entry *next = e->next;
            e->next = buckets[e->hash & (n - 1)];
            buckets[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(st->buckets);
    st->buckets = buckets;
    st->mask = n - 1;
}

/* entry_prepare() for an entry to create, revive or resize. */
static int
entry_reshape(struct nf_state *st, struct state_entry *e, const uint8_t *key, size_t key_len,
              uint32_t hash, size_t value_len, struct state_entry **ep)
{
    if (!key_len || key_len > STATE_MAX_KEY || value_len > STATE_MAX_VALUE) {
        return EINVAL;
    }
    if (!e || !e->live) {
        if (st->n_live >= st->max_entries) {
            return ENOSPC;
        }
    }
    if (!e) {
        e = xzalloc(sizeof *e + key_len);
        e->hash = hash;
        e->key_len = key_len;
        memcpy(e->key, key, key_len);
        e->next = st->buckets[hash & st->mask];
        st->buckets[hash & st->mask] = e;
        if (++st->n_entries > st->mask + 1) {
            expand(st);
        }
    }
    if (!e->live) {
        e->live = true;
        e->value_len = 0;
        st->n_live++;
        st->n_bytes += key_len;
    }
    if (value_len > e->value_cap) {
        e->value = xrealloc(e->value, value_len);
        e->value_cap = value_len;
    }
    if (value_len > e->value_len) {
        memset(e->value + e->value_len, 0, value_len - e->value_len);
    }
    st->n_bytes += value_len;
    st->n_bytes -= e->value_len;
    e->value_len = value_len;
    stamp(st, e);
    *ep = e;
    return 0;
}

/* Makes 'e', find()'s entry for 'key' (NULL if none; 'hash': hash_key()'s, which an import has
 * from parsing), or a new one, live with a value of 'value_len' bytes (contents of new or grown
 * bytes zeroed), stamped with a new sequence number. */
static inline int
entry_prepare(struct nf_state *st, struct state_entry *e, const uint8_t *key, size_t key_len,
              uint32_t hash, size_t value_len, struct state_entry **ep)
{
    if (e && e->live && e->value_len == value_len) {
        /* The common case, a record rewritten at its size (a counter): nothing to check. */
        stamp(st, e);
        *ep = e;
        return 0;
    }
    return entry_reshape(st, e, key, key_len, hash, value_len, ep);
}

bool
state_get(const struct nf_state *st, const void *key, size_t key_len,
          const uint8_t **valuep, size_t *value_lenp)
{
    struct state_entry *e = find(st, key, key_len, hash_key(key, key_len));

    if (!e || !e->live) {
        return false;
    }
    *valuep = e->value;
    *value_lenp = e->value_len;
    return true;
}

static inline int
put_hashed(struct nf_state *st, const uint8_t *key, size_t key_len, uint32_t hash,
           const void *value, size_t value_len)
{
    struct state_entry *e = find(st, key, key_len, hash);
    int error = entry_prepare(st, e, key, key_len, hash, value_len, &e);

    if (!error) {
        copy_bytes(e->value, value, value_len);
    }
    return error;
}

int
state_put(struct nf_state *st, const void *key, size_t key_len,
          const void *value, size_t value_len)
{
    return put_hashed(st, key, key_len, hash_key(key, key_len), value, value_len);
}

int
state_write(struct nf_state *st, const void *key, size_t key_len, size_t value_len,
            uint8_t **valuep)
{
    uint32_t hash = hash_key(key, key_len);
    struct state_entry *e = find(st, key, key_len, hash);
    int error = entry_prepare(st, e, key, key_len, hash, value_len, &e);

    if (!error) {
        *valuep = e->value;
    }
    return error;
}

bool
state_delete(struct nf_state *st, const void *key, size_t key_len)
{
    struct state_entry *e = find(st, key, key_len, hash_key(key, key_len));

    if (!e || !e->live) {
        return false;
    }
    e->live = false;
    st->n_live--;
    st->n_bytes -= e->key_len + e->value_len;
    free(e->value);             /* A tombstone keeps only its key until compacted. */
    e->value = NULL;
    e->value_len = e->value_cap = 0;
    stamp(st, e);
    return true;
}

void
state_clear(struct nf_state *st)
{
    for (size_t i = 0; i <= st->mask; i++) {
        for (struct state_entry *e = st->buckets[i]; e; e = e->next) {
            if (e->live) {
                state_delete(st, e->key, e->key_len);
            }
        }
    }
}

uint64_t
state_counter_get(const struct nf_state *st, const void *key, size_t key_len)
{
    const uint8_t *v;
    size_t len;

    return state_get(st, key, key_len, &v, &len) && len == 8 ? get_be64(v) : 0;
}

uint64_t
state_counter_add(struct nf_state *st, const void *key, size_t key_len, uint64_t delta)
{
    uint32_t hash = hash_key(key, key_len);
    struct state_entry *e = find(st, key, key_len, hash);
    uint64_t old = e && e->live && e->value_len == 8 ? get_be64(e->value) : 0;

    if (entry_prepare(st, e, key, key_len, hash, 8, &e)) {
        return old;
    }
    put_be64(e->value, old + delta);
    return old + delta;
}

size_t
state_changes_since(const struct nf_state *st, uint64_t mark)
{
    size_t n = 0;

    if (recent_covers(st, mark)) {
        for (uint64_t s = mark + 1; s <= st->seq; s++) {
            n += recent_entry(st, s) != NULL;
        }
        return n;
    }
    for (size_t i = 0; i <= st->mask; i++) {
        for (struct state_entry *e = st->buckets[i]; e; e = e->next) {
            n += e->seq > mark;
        }
    }
    return n;
}

void
state_compact(struct nf_state *st, uint64_t mark)
{
    for (size_t i = 0; i <= st->mask; i++) {
        struct state_entry **prev = &st->buckets[i];
        while (*prev) {
            struct state_entry *e = *prev;
            if (!e->live && e->seq <= mark) {
                *prev = e->next;
                st->n_entries--;
                entry_free(e);
                /* 'recent' may name it: it no longer serves marks before now. */
                st->recent_floor = st->seq;
            } else {
                prev = &e->next;
            }
        }
    }
}

int
state_foreach(const struct nf_state *st,
              int (*cb)(const uint8_t *, size_t, const uint8_t *, size_t, void *), void *aux)
{
    for (size_t i = 0; i <= st->mask; i++) {
        for (struct state_entry *e = st->buckets[i]; e; e = e->next) {
            if (e->live) {
                int r = cb(e->key, e->key_len, e->value, e->value_len, aux);
                if (r) {
                    return r;
                }
            }
        }
    }
    return 0;
}

/* A replica exports a delta per packet (FTC's logs): each entry and the header are one
 * reservation and stores in place, not a buffer call per field. */
static void
export_entry(const struct state_entry *e, struct buf *out)
{
    size_t value_len = e->live ? e->value_len : 0;
    uint8_t *p = buf_put_uninit(out, 8 + e->key_len + value_len);

    put_be64(p, (uint64_t) (e->live ? OP_PUT : OP_DELETE) << 56
                | (uint64_t) e->key_len << 32 | value_len);
    copy_bytes(p + 8, e->key, e->key_len);
    copy_bytes(p + 8 + e->key_len, e->value, value_len);
}

/* An export's header, its record count 0 until the caller patches it at the returned offset. */
static size_t
export_header(const struct nf_state *st, int kind, uint64_t mark, struct buf *out)
{
    size_t hdr_ofs = out->len;
    uint8_t *p = buf_put_uninit(out, HEADER_LEN);

    memcpy(p, "SFST", 4);
    p[4] = STATE_FORMAT_VERSION;
    p[5] = kind;
    put_be16(p + 6, 0);
    put_be64(p + 8, mark);
    put_be64(p + 16, st->seq);
    put_be32(p + 24, 0);
    return hdr_ofs + HEADER_LEN - 4;
}

/* 'bare': the records alone (state_export_records_since()). */
static void
export__(const struct nf_state *st, int kind, uint64_t mark, bool bare, struct buf *out)
{
    size_t count_ofs = bare ? 0 : export_header(st, kind, kind == EXPORT_FULL ? 0 : mark, out);
    uint32_t n = 0;

    if (kind == EXPORT_DELTA && recent_covers(st, mark)) {
        /* In the order of their last changes rather than the buckets': an import does not
         * depend on the order (a key is in a delta once). */
        for (uint64_t s = mark + 1; s <= st->seq; s++) {
            struct state_entry *e = recent_entry(st, s);

            if (e) {
                export_entry(e, out);
                n++;
            }
        }
    } else {
        for (size_t i = 0; i <= st->mask; i++) {
            for (struct state_entry *e = st->buckets[i]; e; e = e->next) {
                if (kind == EXPORT_FULL ? !e->live : e->seq <= mark) {
                    continue;
                }
                export_entry(e, out);
                n++;
            }
        }
    }
    if (!bare) {
        put_be32(out->data + count_ofs, n);
    }
}

void
state_export(const struct nf_state *st, struct buf *out)
{
    export__(st, EXPORT_FULL, 0, false, out);
}

void
state_export_since(const struct nf_state *st, uint64_t mark, struct buf *out)
{
    export__(st, EXPORT_DELTA, mark, false, out);
}

void
state_export_records_since(const struct nf_state *st, uint64_t mark, struct buf *out)
{
    export__(st, EXPORT_DELTA, mark, true, out);
}

static void
export_keys(const struct nf_state *st, const uint8_t *const keys[], const size_t key_lens[],
            size_t n, bool bare, struct buf *out)
{
    size_t count_ofs = bare ? 0 : export_header(st, EXPORT_DELTA, 0, out);
    uint32_t n_records = 0;

    for (size_t i = 0; i < n; i++) {
        struct state_entry *e = find(st, keys[i], key_lens[i], hash_key(keys[i], key_lens[i]));
        bool again = false;

        for (size_t j = 0; j < i && !again; j++) {
            again = key_lens[j] == key_lens[i] && !memcmp(keys[j], keys[i], key_lens[i]);
        }
        if (e && e->live && !again) {
            export_entry(e, out);
            n_records++;
        }
    }
    if (!bare) {
        put_be32(out->data + count_ofs, n_records);
    }
}

void
state_export_keys(const struct nf_state *st, const uint8_t *const keys[],
                  const size_t key_lens[], size_t n, struct buf *out)
{
    export_keys(st, keys, key_lens, n, false, out);
}

void
state_export_records_keys(const struct nf_state *st, const uint8_t *const keys[],
                          const size_t key_lens[], size_t n, struct buf *out)
{
    export_keys(st, keys, key_lens, n, true, out);
}

/* One record of a parsed export, pointing into the message. */
struct record {
    const uint8_t *key;
    const uint8_t *value;
    uint16_t key_len;
    uint32_t value_len;
    uint32_t hash;
    uint8_t op;
};

/* Records parsed without allocating (a transaction's delta has a few). */
#define PARSE_LOCAL 8

/* Whether two records of the same hash have the same key. */
static inline bool
records_same_key(const struct record *a, const struct record *b)
{
    return a->hash == b->hash && a->key_len == b->key_len
           && key_equal(a->key, b->key, a->key_len);
}

/* records_have_duplicate() for more than PARSE_LOCAL records, with a temporary open-addressing
 * table (linear in the message, unlike sorting). */
static bool
records_have_duplicate_many(const struct record *records, size_t n)
{
    size_t n_slots = 16;

    while (n_slots < 2 * n) {
        n_slots *= 2;
    }
    uint32_t *slots = xcalloc(n_slots, sizeof *slots);     /* Record index + 1; 0 is free. */
    bool dup = false;

    for (size_t i = 0; i < n && !dup; i++) {
        const struct record *r = &records[i];
        for (size_t s = r->hash & (n_slots - 1); ; s = (s + 1) & (n_slots - 1)) {
            if (!slots[s]) {
                slots[s] = i + 1;
                break;
            }
            if (records_same_key(&records[slots[s] - 1], r)) {
                dup = true;
                break;
            }
        }
    }
    free(slots);
    return dup;
}

/* Whether two records of one message have the same key. */
static inline bool
records_have_duplicate(const struct record *records, size_t n)
{
    if (n > PARSE_LOCAL) {
        return records_have_duplicate_many(records, n);
    }
    /* A packet's delta: a few records, compared pairwise without allocating. */
    for (size_t i = 1; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (records_same_key(&records[i], &records[j])) {
                return true;
            }
        }
    }
    return false;
}

/* Parses the record at '*ofsp' of an export of 'kind' into 'r' and moves '*ofsp' past it:
 * false if it is malformed or overruns 'len'. */
static inline bool
parse_record(const uint8_t *data, size_t len, size_t *ofsp, int kind, struct record *r)
{
    size_t ofs = *ofsp;

    if (len - ofs < RECORD_LEN) {
        return false;
    }
    const uint8_t *p = data + ofs;
    r->op = p[0];
    r->key_len = get_be16(p + 2);
    r->value_len = get_be32(p + 4);
    ofs += RECORD_LEN;
    if ((r->op != OP_PUT && r->op != OP_DELETE) || p[1] || !r->key_len
        || r->value_len > STATE_MAX_VALUE
        || (r->op == OP_DELETE && r->value_len)
        || (r->op == OP_DELETE && kind == EXPORT_FULL)
        || len - ofs < (size_t) r->key_len + r->value_len) {
        return false;
    }
    r->key = data + ofs;
    r->value = data + ofs + r->key_len;
    r->hash = hash_key(r->key, r->key_len);
    *ofsp = ofs + r->key_len + r->value_len;
    return true;
}

/* Parses the 'n' records that fill 'data' from 'ofs' to its end into 'local' (PARSE_LOCAL of
 * them) when they fit, else into an array the caller frees (records_free()). */
static int
parse_records(const uint8_t *data, size_t len, size_t ofs, int kind, uint32_t n,
              struct record *local, struct record **recordsp)
{
    struct record *records = NULL;
    int error = EINVAL;

    /* Each record takes at least RECORD_LEN + 1 bytes: bound 'n' before allocating. */
    if (n > (len - ofs) / (RECORD_LEN + 1)) {
        goto out;
    }
    records = n <= PARSE_LOCAL ? local : xcalloc(n, sizeof *records);

    for (uint32_t i = 0; i < n; i++) {
        if (!parse_record(data, len, &ofs, kind, &records[i])) {
            goto out;
        }
    }
    if (ofs != len) {
        goto out;
    }

    /* A key twice in one message would make the result depend on record order. */
    if (records_have_duplicate(records, n)) {
        goto out;
    }

    *recordsp = records;
    records = NULL;
    error = 0;
out:
    if (records && records != local) {
        free(records);
    }
    return error;
}

/* Parses an export into its kind and records (as parse_records()). */
static int
parse_export(const uint8_t *data, size_t len, int *kindp, struct record *local,
             struct record **recordsp, size_t *n_recordsp)
{
    if (len < HEADER_LEN || memcmp(data, "SFST", 4)) {
        return EINVAL;
    }
    if (data[4] != STATE_FORMAT_VERSION) {
        return EPROTONOSUPPORT;
    }
    int kind = data[5];
    if ((kind != EXPORT_FULL && kind != EXPORT_DELTA) || data[6] || data[7]) {
        return EINVAL;
    }
    uint64_t since = get_be64(data + 8);
    uint64_t seq = get_be64(data + 16);
    if ((kind == EXPORT_FULL && since) || since > seq) {
        return EINVAL;
    }
    uint32_t n = get_be32(data + 24);
    *kindp = kind;
    *n_recordsp = n;
    return parse_records(data, len, HEADER_LEN, kind, n, local, recordsp);
}

/* The records of a delta without its header (state_export_records_since()): as many as fill
 * 'len'. */
static int
parse_bare(const uint8_t *data, size_t len, struct record *local, struct record **recordsp,
           size_t *n_recordsp)
{
    size_t ofs = 0;
    uint32_t n = 0;

    /* A packet's delta (a few records) is parsed into 'local' in one pass. */
    while (ofs < len && n < PARSE_LOCAL) {
        if (!parse_record(data, len, &ofs, EXPORT_DELTA, &local[n++])) {
            return EINVAL;
        }
    }
    if (ofs == len) {
        if (records_have_duplicate(local, n)) {
            return EINVAL;
        }
        *recordsp = local;
        *n_recordsp = n;
        return 0;
    }

    /* More: counted first by their lengths alone, then parsed into an array. */
    for (ofs = 0, n = 0; ofs < len; n++) {
        if (len - ofs < RECORD_LEN || n == UINT32_MAX) {
            return EINVAL;
        }
        ofs += RECORD_LEN + get_be16(data + ofs + 2) + (size_t) get_be32(data + ofs + 4);
    }
    *n_recordsp = n;
    return parse_records(data, len, 0, EXPORT_DELTA, n, local, recordsp);
}

static void
records_free(struct record *records, const struct record *local)
{
    if (records != local) {
        free(records);
    }
}

int
state_validate(const uint8_t *data, size_t len)
{
    struct record local[PARSE_LOCAL], *records;
    size_t n;
    int kind;
    int error = parse_export(data, len, &kind, local, &records, &n);

    if (!error) {
        records_free(records, local);
    }
    return error;
}

/* Applies 'n' parsed records of an export of 'kind'; frees them. */
static int
import_records(struct nf_state *st, int kind, struct record *records, size_t n,
               const struct record *local)
{
    int error = 0;

    /* Check the limit first so that a failed import changes nothing. One that cannot reach it,
     * even if every record is a new key, needs no lookup: a lookup per record was a third of
     * what applying a transaction's delta cost (an FTC replica does it for every packet). */
    size_t live = kind == EXPORT_FULL ? 0 : st->n_live;
    bool may_exceed = live + n > st->max_entries;
    for (size_t i = 0; may_exceed && i < n; i++) {
        const uint8_t *v;
        size_t vlen;
        bool present = kind == EXPORT_DELTA
                       && state_get(st, records[i].key, records[i].key_len, &v, &vlen);
        if (records[i].op == OP_PUT) {
            live += !present;
        } else {
            live -= present;
        }
    }
    if (may_exceed && live > st->max_entries) {
        error = ENOSPC;
        goto out;
    }

    if (kind == EXPORT_FULL) {
        state_clear(st);
    }
    for (size_t i = 0; i < n; i++) {
        const struct record *r = &records[i];
        if (r->op == OP_PUT) {
            int e = put_hashed(st, r->key, r->key_len, r->hash, r->value, r->value_len);
            if (e) {
                sfc_abort("state_import: put failed after checks (%d)", e);
            }
        } else {
            state_delete(st, r->key, r->key_len);
        }
    }
out:
    records_free(records, local);
    return error;
}

int
state_import(struct nf_state *st, const uint8_t *data, size_t len)
{
    struct record local[PARSE_LOCAL], *records;
    size_t n;
    int kind;
    int error = parse_export(data, len, &kind, local, &records, &n);

    return error ? error : import_records(st, kind, records, n, local);
}

int
state_import_records(struct nf_state *st, const uint8_t *data, size_t len)
{
    struct record local[PARSE_LOCAL], *records;
    size_t n;
    int error = parse_bare(data, len, local, &records, &n);

    return error ? error : import_records(st, EXPORT_DELTA, records, n, local);
}

static int
entry_cmp(const void *a_, const void *b_)
{
    const struct state_entry *a = *(const struct state_entry *const *) a_;
    const struct state_entry *b = *(const struct state_entry *const *) b_;
    int c = memcmp(a->key, b->key, MIN(a->key_len, b->key_len));

    return c ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

void
state_digest(const struct nf_state *st, uint8_t digest[STATE_DIGEST_LEN])
{
    struct state_entry **v = xmalloc((st->n_live ? st->n_live : 1) * sizeof *v);
    crypto_generichash_state h;
    size_t n = 0;

    for (size_t i = 0; i <= st->mask; i++) {
        for (struct state_entry *e = st->buckets[i]; e; e = e->next) {
            if (e->live) {
                v[n++] = e;
            }
        }
    }
    qsort(v, n, sizeof *v, entry_cmp);

    crypto_generichash_init(&h, NULL, 0, STATE_DIGEST_LEN);
    for (size_t i = 0; i < n; i++) {
        uint8_t lens[6] = {
            v[i]->key_len >> 8, v[i]->key_len,
            v[i]->value_len >> 24, v[i]->value_len >> 16, v[i]->value_len >> 8, v[i]->value_len,
        };
        crypto_generichash_update(&h, lens, sizeof lens);
        crypto_generichash_update(&h, v[i]->key, v[i]->key_len);
        crypto_generichash_update(&h, v[i]->value, v[i]->value_len);
    }
    crypto_generichash_final(&h, digest, STATE_DIGEST_LEN);
    free(v);
}
