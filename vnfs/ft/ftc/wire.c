/* FTC's wire format (ftc.h): encoders and strict parsers. Every length is checked before it is
 * read; counts beyond the fixed bounds are rejected rather than truncated. */
#include "vnfs/ft/ftc/ftc.h"

#include <string.h>

#include "vnfs/lib/byteorder.h"

/* Every replica reads each log and commit a packet carries (a commit of a group it does not
 * prune only framed: ftc_commit_frame()), so their forms leave out what is usual (epoch 0, the
 * first epoch's history) and take numbers in 4 bytes where they fit (flags say which), each
 * block still read with one length check, in place. A form
 * depends on its log or commit alone, never on an earlier frame. The parsers take each in its
 * one form only (a flag set for what could be left out is rejected), so what a replica parsed
 * re-encodes to the same bytes. */
#define FTC_LOG_N 0x1f          /* Entries (0 .. FTC_MAX_PARTS). */
#define FTC_LOG_EPOCH 0x20      /* u32 epoch follows (not 0). */
#define FTC_LOG_WIDE 0x40       /* Sequence numbers in u64 (one is >= 2^32), else u32. */
#define FTC_LOG_LONG 0x80       /* Delta length in u32 (>= 2^16), else u16. */
_Static_assert(FTC_MAX_PARTS <= FTC_LOG_N && FTC_MAX_PARTS <= 0x7f,
               "a log's entry count and each entry's partition fit their bits");

static uint8_t
ftc_log_flags(const struct ftc_log *l)
{
    uint8_t flags = l->n_ent | (l->epoch ? FTC_LOG_EPOCH : 0)
                    | (l->upd_len > UINT16_MAX ? FTC_LOG_LONG : 0);

    for (size_t i = 0; i < l->n_ent; i++) {
        if (l->ent[i].seq > UINT32_MAX) {
            flags |= FTC_LOG_WIDE;
        }
    }
    return flags;
}

/* The bytes after group and flags, up to the delta. */
static size_t
ftc_log_fixed_len(uint8_t flags)
{
    return (flags & FTC_LOG_EPOCH ? 4 : 0) + (flags & FTC_LOG_N) * (flags & FTC_LOG_WIDE ? 9 : 5)
           + (flags & FTC_LOG_LONG ? 4 : 2);
}

static size_t
ftc_log_len__(const struct ftc_log *l, uint8_t flags)
{
    return 2 + ftc_log_fixed_len(flags) + l->upd_len;
}

size_t
ftc_log_wire_len(const struct ftc_log *l)
{
    return ftc_log_len__(l, ftc_log_flags(l));
}

bool
ftc_log_read(struct cursor *r, struct ftc_log *l)
{
    const uint8_t *start = r->p, *p;
    uint8_t flags;

    l->wire = NULL;
    l->wire_len = 0;
    p = cursor_bytes(r, 2);
    if (!p || (p[1] & FTC_LOG_N) > FTC_MAX_PARTS) {
        return cursor_fail(r);
    }
    l->group = p[0];
    flags = p[1];
    l->n_ent = flags & FTC_LOG_N;
    p = cursor_bytes(r, ftc_log_fixed_len(flags));
    if (!p) {
        return false;
    }
    l->epoch = 0;
    if (flags & FTC_LOG_EPOCH) {
        l->epoch = get_be32(p);
        p += 4;
    }
    for (size_t i = 0; i < l->n_ent; i++) {
        l->ent[i].part = p[0] & 0x7f;
        l->ent[i].write = p[0] >> 7;
        if (flags & FTC_LOG_WIDE) {
            l->ent[i].seq = get_be64(p + 1);
            p += 9;
        } else {
            l->ent[i].seq = get_be32(p + 1);
            p += 5;
        }
        if (l->ent[i].part >= FTC_MAX_PARTS || (i && l->ent[i].part <= l->ent[i - 1].part)) {
            return cursor_fail(r);
        }
    }
    l->upd_len = flags & FTC_LOG_LONG ? get_be32(p) : get_be16(p);
    if (flags & ~FTC_LOG_N && ftc_log_flags(l) != flags) {
        return cursor_fail(r);
    }
    l->upd = cursor_bytes(r, l->upd_len);
    if (!cursor_ok(r)) {
        return false;
    }
    l->wire = start;
    l->wire_len = r->p - start;
    return true;
}

/* The encoders write 'p' (room for the wire length) in the form 'flags' says (the log's or
 * commit's own, which the caller computed for that length) and return the end. */
static uint8_t *
ftc_log_encode(uint8_t *p, const struct ftc_log *l, uint8_t flags)
{
    *p++ = l->group;
    *p++ = flags;
    if (flags & FTC_LOG_EPOCH) {
        put_be32(p, l->epoch);
        p += 4;
    }
    for (size_t i = 0; i < l->n_ent; i++) {
        *p = l->ent[i].part | l->ent[i].write << 7;
        if (flags & FTC_LOG_WIDE) {
            put_be64(p + 1, l->ent[i].seq);
            p += 9;
        } else {
            put_be32(p + 1, l->ent[i].seq);
            p += 5;
        }
    }
    if (flags & FTC_LOG_LONG) {
        put_be32(p, l->upd_len);
        p += 4;
    } else {
        put_be16(p, l->upd_len);
        p += 2;
    }
    if (l->upd_len) {
        memcpy(p, l->upd, l->upd_len);
    }
    return p + l->upd_len;
}

void
ftc_log_put(struct buf *b, const struct ftc_log *l)
{
    uint8_t flags = ftc_log_flags(l);

    ftc_log_encode(buf_put_uninit(b, ftc_log_len__(l, flags)), l, flags);
}

/* A commit's history (prev_epoch, start) is the same from one epoch's start until the next
 * head takes over (a recovery): the first epoch (prev_epoch = epoch, start 0) leaves it out. */
#define FTC_COMMIT_PARTS 0x0f   /* n_parts - 1. */
#define FTC_COMMIT_EPOCH 0x10   /* u32 epoch follows (not 0). */
#define FTC_COMMIT_PREV 0x20    /* u32 prev_epoch follows (not epoch). */
#define FTC_COMMIT_START 0x40   /* n_parts x u64 start follow (not all 0). */
#define FTC_COMMIT_WIDE 0x80    /* MAX in u64 (one is >= 2^32), else u32. */
_Static_assert(FTC_MAX_PARTS <= FTC_COMMIT_PARTS + 1, "a commit's n_parts - 1 fits its bits");

static uint8_t
ftc_commit_flags(const struct ftc_commit *c)
{
    uint8_t flags = (c->n_parts - 1) | (c->epoch ? FTC_COMMIT_EPOCH : 0)
                    | (c->prev_epoch != c->epoch ? FTC_COMMIT_PREV : 0);

    for (size_t i = 0; i < c->n_parts; i++) {
        flags |= (c->start[i] ? FTC_COMMIT_START : 0)
                 | (c->max[i] > UINT32_MAX ? FTC_COMMIT_WIDE : 0);
    }
    return flags;
}

/* The bytes after group and flags. */
static size_t
ftc_commit_fixed_len(uint8_t flags)
{
    size_t n = (flags & FTC_COMMIT_PARTS) + 1;

    return (flags & FTC_COMMIT_EPOCH ? 4 : 0) + (flags & FTC_COMMIT_PREV ? 4 : 0)
           + (flags & FTC_COMMIT_START ? 8 * n : 0) + (flags & FTC_COMMIT_WIDE ? 8 : 4) * n;
}

size_t
ftc_commit_wire_len(const struct ftc_commit *c)
{
    return 2 + ftc_commit_fixed_len(ftc_commit_flags(c));
}

/* The short form (a chain without recovery sends nothing else): MAX alone, in u32s. Any bytes
 * of the length are a valid one, so it is checked by framing alone. */
static bool
ftc_commit_is_short(uint8_t flags)
{
    return !(flags & ~FTC_COMMIT_PARTS);
}

/* ftc_commit_frame() of any form. */
static bool
ftc_commit_frame_any(struct cursor *r, struct ftc_commit *c)
{
    const uint8_t *start = r->p, *p;
    bool any_start = false, any_wide = false;
    uint8_t flags;

    c->wire = NULL;
    c->wire_len = 0;
    p = cursor_bytes(r, 2);
    if (!p) {
        return false;
    }
    c->group = p[0];
    flags = p[1];
    c->n_parts = (flags & FTC_COMMIT_PARTS) + 1;
    p = cursor_bytes(r, ftc_commit_fixed_len(flags));
    if (!p) {
        return false;
    }
    c->wire = start;
    c->wire_len = r->p - start;
    if (ftc_commit_is_short(flags)) {
        return true;
    }
    /* Another form is decoded here: whether it is the commit's one form depends on its
     * values. */
    c->epoch = 0;
    if (flags & FTC_COMMIT_EPOCH) {
        c->epoch = get_be32(p);
        p += 4;
    }
    c->prev_epoch = c->epoch;
    if (flags & FTC_COMMIT_PREV) {
        c->prev_epoch = get_be32(p);
        p += 4;
    }
    for (size_t i = 0; i < c->n_parts; i++) {
        c->start[i] = 0;
        if (flags & FTC_COMMIT_START) {
            c->start[i] = get_be64(p);
            any_start |= c->start[i] != 0;
            p += 8;
        }
    }
    for (size_t i = 0; i < c->n_parts; i++) {
        if (flags & FTC_COMMIT_WIDE) {
            c->max[i] = get_be64(p);
            any_wide |= c->max[i] > UINT32_MAX;
            p += 8;
        } else {
            c->max[i] = get_be32(p);
            p += 4;
        }
    }
    if ((flags & FTC_COMMIT_EPOCH && !c->epoch)
        || (flags & FTC_COMMIT_PREV && c->prev_epoch == c->epoch)
        || (flags & FTC_COMMIT_START && !any_start) || (flags & FTC_COMMIT_WIDE && !any_wide)) {
        c->wire = NULL;
        c->wire_len = 0;
        return cursor_fail(r);
    }
    return true;
}

/* The short form, which a chain without recovery sends alone, in a few instructions (inline in
 * the message's loop: a packet carries a commit per middlebox). */
static inline bool
ftc_commit_frame__(struct cursor *r, struct ftc_commit *c)
{
    const uint8_t *p = r->p;
    size_t left = r->left, n, len;

    if (r->bad || left < 2 || !ftc_commit_is_short(p[1])) {
        return ftc_commit_frame_any(r, c);
    }
    n = (p[1] & FTC_COMMIT_PARTS) + 1;
    len = 2 + 4 * n;
    if (left < len) {
        return ftc_commit_frame_any(r, c);
    }
    /* The cursor moved before the bytes are stored (they may alias it). */
    r->p = p + len;
    r->left = left - len;
    c->group = p[0];
    c->n_parts = n;
    c->wire = p;
    c->wire_len = len;
    return true;
}

bool
ftc_commit_frame(struct cursor *r, struct ftc_commit *c)
{
    return ftc_commit_frame__(r, c);
}

void
ftc_commit_decode(struct ftc_commit *c)
{
    if (!ftc_commit_is_short(c->wire[1])) {
        return;                 /* Decoded by ftc_commit_frame(). */
    }
    c->epoch = c->prev_epoch = 0;
    for (size_t i = 0; i < c->n_parts; i++) {
        c->start[i] = 0;
        c->max[i] = get_be32(c->wire + 2 + 4 * i);
    }
}

bool
ftc_commit_read(struct cursor *r, struct ftc_commit *c)
{
    if (!ftc_commit_frame__(r, c)) {
        return false;
    }
    ftc_commit_decode(c);
    return true;
}

static uint8_t *
ftc_commit_encode(uint8_t *p, const struct ftc_commit *c, uint8_t flags)
{
    *p++ = c->group;
    *p++ = flags;
    if (flags & FTC_COMMIT_EPOCH) {
        put_be32(p, c->epoch);
        p += 4;
    }
    if (flags & FTC_COMMIT_PREV) {
        put_be32(p, c->prev_epoch);
        p += 4;
    }
    for (size_t i = 0; flags & FTC_COMMIT_START && i < c->n_parts; i++, p += 8) {
        put_be64(p, c->start[i]);
    }
    for (size_t i = 0; i < c->n_parts; i++) {
        if (flags & FTC_COMMIT_WIDE) {
            put_be64(p, c->max[i]);
            p += 8;
        } else {
            put_be32(p, c->max[i]);
            p += 4;
        }
    }
    return p;
}

void
ftc_commit_seal(struct ftc_commit *c, uint8_t *p)
{
    c->wire = p;
    c->wire_len = ftc_commit_encode(p, c, ftc_commit_flags(c)) - p;
}

void
ftc_commit_put(struct buf *b, const struct ftc_commit *c)
{
    uint8_t flags = ftc_commit_flags(c);

    ftc_commit_encode(buf_put_uninit(b, 2 + ftc_commit_fixed_len(flags)), c, flags);
}

void
ftc_log_put_wire(struct buf *b, const struct ftc_log *l)
{
    if (l->wire) {
        buf_put(b, l->wire, l->wire_len);
    } else {
        ftc_log_put(b, l);
    }
}

uint8_t *
ftc_log_place(uint8_t *p, const struct ftc_log *l)
{
    return l->wire ? mempcpy(p, l->wire, l->wire_len) : ftc_log_encode(p, l, ftc_log_flags(l));
}

/* ftc_message_read() and ftc_message_read_framed(). */
static bool
ftc_message_read__(struct cursor *r, struct ftc_message *m, bool decode)
{
    m->n_logs = cursor_u8(r);
    if (!cursor_ok(r) || m->n_logs > FTC_MAX_LOGS) {
        return cursor_fail(r);
    }
    for (size_t i = 0; i < m->n_logs; i++) {
        if (!ftc_log_read(r, &m->logs[i])) {
            return false;
        }
    }
    m->n_commits = cursor_u8(r);
    if (!cursor_ok(r) || m->n_commits > FTC_MAX_COMMITS) {
        return cursor_fail(r);
    }
    for (size_t i = 0; i < m->n_commits; i++) {
        if (!ftc_commit_frame__(r, &m->commits[i])) {
            return false;
        }
        if (decode) {
            ftc_commit_decode(&m->commits[i]);
        }
    }
    return true;
}

bool
ftc_message_read(struct cursor *r, struct ftc_message *m)
{
    return ftc_message_read__(r, m, true);
}

bool
ftc_message_read_framed(struct cursor *r, struct ftc_message *m)
{
    return ftc_message_read__(r, m, false);
}

void
ftc_message_put(struct buf *b, const struct ftc_message *m)
{
    buf_put_u8(b, m->n_logs);
    for (size_t i = 0; i < m->n_logs; i++) {
        ftc_log_put(b, &m->logs[i]);
    }
    buf_put_u8(b, m->n_commits);
    for (size_t i = 0; i < m->n_commits; i++) {
        ftc_commit_put(b, &m->commits[i]);
    }
}

/* Bytes copied as they came, adjacent ones in one copy: a replica passes a packet's commits
 * on in the order they came but for the one it replaces, so most go in one run. */
struct ftc_run {
    const uint8_t *p;
    size_t len;
};

static uint8_t *
ftc_run_flush(uint8_t *p, struct ftc_run *run)
{
    if (run->len) {
        p = mempcpy(p, run->p, run->len);
        run->len = 0;
    }
    return p;
}

static uint8_t *
ftc_run_add(uint8_t *p, struct ftc_run *run, const uint8_t *wire, size_t len)
{
    if (run->len && run->p + run->len == wire) {
        run->len += len;
        return p;
    }
    p = ftc_run_flush(p, run);
    run->p = wire;
    run->len = len;
    return p;
}

/* A replica's whole output but the inner frame: each part copied as it came or encoded in
 * place. */
static uint8_t *
ftc_message_refs_place(uint8_t *p, const struct ftc_refs *o)
{
    struct ftc_run run = { NULL, 0 };

    *p++ = o->n_logs;
    for (size_t i = 0; i < o->n_logs; i++) {
        const struct ftc_log *l = o->logs[i];

        if (l->wire) {
            p = ftc_run_add(p, &run, l->wire, l->wire_len);
        } else {
            p = ftc_log_place(ftc_run_flush(p, &run), l);
        }
    }
    p = ftc_run_flush(p, &run);
    *p++ = o->n_commits;
    for (size_t i = 0; i < o->n_commits; i++) {
        const struct ftc_commit *c = o->commits[i];

        if (c->wire) {
            p = ftc_run_add(p, &run, c->wire, c->wire_len);
        } else {
            p = ftc_commit_encode(ftc_run_flush(p, &run), c, ftc_commit_flags(c));
        }
    }
    return ftc_run_flush(p, &run);
}

void
ftc_message_put_refs(struct buf *b, const struct ftc_refs *o)
{
    ftc_message_refs_place(buf_put_uninit(b, 2 + o->len), o);
}

size_t
ftc_packet_refs_len(enum ftc_packet_type type, const struct ftc_refs *o, size_t inner_len)
{
    return 3 + o->len + (type != FTC_PKT_PROPAGATE ? inner_len : 0);
}

void
ftc_packet_refs_place(uint8_t *p, enum ftc_packet_type type, const struct ftc_refs *o,
                      const uint8_t *inner, size_t inner_len)
{
    *p++ = type;
    p = ftc_message_refs_place(p, o);
    if (type != FTC_PKT_PROPAGATE && inner_len) {
        memcpy(p, inner, inner_len);
    }
}

void
ftc_packet_put_refs(struct buf *b, enum ftc_packet_type type, const struct ftc_refs *o,
                    const uint8_t *inner, size_t inner_len)
{
    ftc_packet_refs_place(buf_put_uninit(b, ftc_packet_refs_len(type, o, inner_len)), type, o,
                          inner, inner_len);
}

/* ftc_packet_parse() and ftc_packet_parse_framed(). */
static bool
ftc_packet_parse__(const uint8_t *data, size_t len, enum ftc_packet_type *type,
                   struct ftc_message *m, const uint8_t **inner, size_t *inner_len, bool decode)
{
    struct cursor r;
    uint8_t t;

    cursor_init(&r, data, len);
    t = cursor_u8(&r);
    if (!cursor_ok(&r) || (t != FTC_PKT_DATA && t != FTC_PKT_PROPAGATE && t != FTC_PKT_REPLY)
        || !ftc_message_read__(&r, m, decode)) {
        return false;
    }
    if (t == FTC_PKT_PROPAGATE && r.left) {
        return false;
    }
    *type = t;
    *inner = r.p;
    *inner_len = r.left;
    return true;
}

bool
ftc_packet_parse(const uint8_t *data, size_t len, enum ftc_packet_type *type,
                 struct ftc_message *m, const uint8_t **inner, size_t *inner_len)
{
    return ftc_packet_parse__(data, len, type, m, inner, inner_len, true);
}

bool
ftc_packet_parse_framed(const uint8_t *data, size_t len, enum ftc_packet_type *type,
                        struct ftc_message *m, const uint8_t **inner, size_t *inner_len)
{
    return ftc_packet_parse__(data, len, type, m, inner, inner_len, false);
}

void
ftc_packet_put_encoded(struct buf *b, enum ftc_packet_type type, const struct buf *logs,
                       size_t n_logs, const struct ftc_message *m, const uint8_t *inner,
                       size_t inner_len)
{
    buf_put_u8(b, type);
    buf_put_u8(b, n_logs);
    for (size_t i = 0; i < n_logs; i++) {
        buf_put(b, logs[i].data, logs[i].len);
    }
    buf_put_u8(b, m->n_commits);
    for (size_t i = 0; i < m->n_commits; i++) {
        ftc_commit_put(b, &m->commits[i]);
    }
    if (type != FTC_PKT_PROPAGATE) {
        buf_put(b, inner, inner_len);
    }
}

void
ftc_packet_put(struct buf *b, enum ftc_packet_type type, const struct ftc_message *m,
               const uint8_t *inner, size_t inner_len)
{
    buf_put_u8(b, type);
    ftc_message_put(b, m);
    if (type != FTC_PKT_PROPAGATE) {
        buf_put(b, inner, inner_len);
    }
}
