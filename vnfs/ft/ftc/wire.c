/* FTC's wire format (ftc.h): encoders and strict parsers. Every length is checked before it is
 * read; counts beyond the fixed bounds are rejected rather than truncated. */
#include "vnfs/ft/ftc/ftc.h"

#include <string.h>

#include "vnfs/lib/byteorder.h"

/* Every replica parses and encodes each log and commit a packet carries: the numbers in them
 * (epochs, sequence numbers, lengths) are varints, mostly a byte or three where fixed widths
 * took 4 and 8. */
bool
ftc_log_read(struct cursor *r, struct ftc_log *l)
{
    const uint8_t *start = r->p;

    l->wire = NULL;
    l->wire_len = 0;
    l->group = cursor_u8(r);
    l->epoch = cursor_varint(r, UINT32_MAX);
    l->n_ent = cursor_u8(r);
    if (!cursor_ok(r) || l->n_ent > FTC_MAX_PARTS) {
        return cursor_fail(r);
    }
    for (size_t i = 0; i < l->n_ent; i++) {
        uint8_t pw = cursor_u8(r);

        l->ent[i].part = pw & 0x7f;
        l->ent[i].write = pw >> 7;
        l->ent[i].seq = cursor_varint(r, UINT64_MAX);
        if (l->ent[i].part >= FTC_MAX_PARTS || (i && l->ent[i].part <= l->ent[i - 1].part)) {
            return cursor_fail(r);
        }
    }
    l->upd_len = cursor_varint(r, UINT32_MAX);
    l->upd = cursor_bytes(r, l->upd_len);
    if (!cursor_ok(r)) {
        return false;
    }
    l->wire = start;
    l->wire_len = r->p - start;
    return true;
}

/* The encoders write 'p' (room for the wire length) and return the end. */
static uint8_t *
ftc_log_encode(uint8_t *p, const struct ftc_log *l)
{
    *p++ = l->group;
    p = put_varint(p, l->epoch);
    *p++ = l->n_ent;
    for (size_t i = 0; i < l->n_ent; i++) {
        *p++ = l->ent[i].part | l->ent[i].write << 7;
        p = put_varint(p, l->ent[i].seq);
    }
    p = put_varint(p, l->upd_len);
    if (l->upd_len) {
        memcpy(p, l->upd, l->upd_len);
    }
    return p + l->upd_len;
}

void
ftc_log_put(struct buf *b, const struct ftc_log *l)
{
    ftc_log_encode(buf_put_uninit(b, ftc_log_wire_len(l)), l);
}

size_t
ftc_log_wire_len(const struct ftc_log *l)
{
    size_t len = 2 + varint_len(l->epoch) + varint_len(l->upd_len) + l->upd_len;

    for (size_t i = 0; i < l->n_ent; i++) {
        len += 1 + varint_len(l->ent[i].seq);
    }
    return len;
}

/* A commit's epoch history is the same on every commit of its group from one epoch's start
 * until the next head takes over (a recovery): the first epoch (prev_epoch = epoch, start 0)
 * leaves it out. The form is whole in each frame, never relative to an earlier one, so a
 * frame lost or reordered leaves nothing for a later one to be misread against. */
#define FTC_COMMIT_PARTS 0x0f   /* n_parts - 1. */
#define FTC_COMMIT_PREV 0x10    /* prev_epoch follows (!= epoch). */
#define FTC_COMMIT_START 0x20   /* start follows (not all 0). */

static bool
ftc_commit_has_start(const struct ftc_commit *c)
{
    for (size_t i = 0; i < c->n_parts; i++) {
        if (c->start[i]) {
            return true;
        }
    }
    return false;
}

static size_t
ftc_commit_wire_len(const struct ftc_commit *c)
{
    size_t len = 2 + varint_len(c->epoch);
    bool has_start = ftc_commit_has_start(c);

    if (c->prev_epoch != c->epoch) {
        len += varint_len(c->prev_epoch);
    }
    for (size_t i = 0; i < c->n_parts; i++) {
        len += varint_len(c->max[i]) + (has_start ? varint_len(c->start[i]) : 0);
    }
    return len;
}

/* Strict: a field the short form leaves out may not be sent (the same commit has one
 * encoding, what ftc_commit_encode() gives). */
bool
ftc_commit_read(struct cursor *r, struct ftc_commit *c)
{
    const uint8_t *start = r->p;
    uint8_t flags;

    c->wire = NULL;
    c->wire_len = 0;
    c->group = cursor_u8(r);
    flags = cursor_u8(r);
    c->epoch = cursor_varint(r, UINT32_MAX);
    if (!cursor_ok(r) || flags & ~(FTC_COMMIT_PARTS | FTC_COMMIT_PREV | FTC_COMMIT_START)) {
        return cursor_fail(r);
    }
    c->n_parts = (flags & FTC_COMMIT_PARTS) + 1;
    c->prev_epoch = c->epoch;
    if (flags & FTC_COMMIT_PREV) {
        c->prev_epoch = cursor_varint(r, UINT32_MAX);
        if (c->prev_epoch == c->epoch) {
            return cursor_fail(r);
        }
    }
    memset(c->start, 0, sizeof c->start);
    for (size_t i = 0; flags & FTC_COMMIT_START && i < c->n_parts; i++) {
        c->start[i] = cursor_varint(r, UINT64_MAX);
    }
    if (flags & FTC_COMMIT_START && !ftc_commit_has_start(c)) {
        return cursor_fail(r);
    }
    for (size_t i = 0; i < c->n_parts; i++) {
        c->max[i] = cursor_varint(r, UINT64_MAX);
    }
    if (!cursor_ok(r)) {
        return false;
    }
    c->wire = start;
    c->wire_len = r->p - start;
    return true;
}

static uint8_t *
ftc_commit_encode(uint8_t *p, const struct ftc_commit *c)
{
    bool has_start = ftc_commit_has_start(c);

    p[0] = c->group;
    p[1] = (c->n_parts - 1) | (c->prev_epoch != c->epoch ? FTC_COMMIT_PREV : 0)
           | (has_start ? FTC_COMMIT_START : 0);
    p = put_varint(p + 2, c->epoch);
    if (c->prev_epoch != c->epoch) {
        p = put_varint(p, c->prev_epoch);
    }
    for (size_t i = 0; has_start && i < c->n_parts; i++) {
        p = put_varint(p, c->start[i]);
    }
    for (size_t i = 0; i < c->n_parts; i++) {
        p = put_varint(p, c->max[i]);
    }
    return p;
}

void
ftc_commit_put(struct buf *b, const struct ftc_commit *c)
{
    ftc_commit_encode(buf_put_uninit(b, ftc_commit_wire_len(c)), c);
}

/* What a log or commit parsed from a packet still says is copied as it came, else encoded:
 * writes 'p' (room for the wire length) and returns the end. */
static uint8_t *
ftc_log_place(uint8_t *p, const struct ftc_log *l, size_t wire_len)
{
    return l->wire && l->wire_len == wire_len ? mempcpy(p, l->wire, wire_len)
                                              : ftc_log_encode(p, l);
}

static uint8_t *
ftc_commit_place(uint8_t *p, const struct ftc_commit *c, size_t wire_len)
{
    return c->wire && c->wire_len == wire_len ? mempcpy(p, c->wire, wire_len)
                                              : ftc_commit_encode(p, c);
}

void
ftc_log_put_wire(struct buf *b, const struct ftc_log *l)
{
    size_t len = ftc_log_wire_len(l);

    ftc_log_place(buf_put_uninit(b, len), l, len);
}

bool
ftc_message_read(struct cursor *r, struct ftc_message *m)
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
        if (!ftc_commit_read(r, &m->commits[i])) {
            return false;
        }
    }
    return true;
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

/* A replica's whole output but the inner frame: one reservation, each part copied as it came
 * or encoded in place. */
void
ftc_message_put_refs(struct buf *b, const struct ftc_log *const *logs, size_t n_logs,
                     const struct ftc_commit *const *commits, size_t n_commits)
{
    size_t log_len[FTC_MAX_LOGS], commit_len[FTC_MAX_COMMITS];
    size_t len = 2;
    uint8_t *p;

    for (size_t i = 0; i < n_logs; i++) {
        log_len[i] = ftc_log_wire_len(logs[i]);
        len += log_len[i];
    }
    for (size_t i = 0; i < n_commits; i++) {
        commit_len[i] = ftc_commit_wire_len(commits[i]);
        len += commit_len[i];
    }
    p = buf_put_uninit(b, len);
    *p++ = n_logs;
    for (size_t i = 0; i < n_logs; i++) {
        p = ftc_log_place(p, logs[i], log_len[i]);
    }
    *p++ = n_commits;
    for (size_t i = 0; i < n_commits; i++) {
        p = ftc_commit_place(p, commits[i], commit_len[i]);
    }
}

void
ftc_packet_put_refs(struct buf *b, enum ftc_packet_type type, const struct ftc_log *const *logs,
                    size_t n_logs, const struct ftc_commit *const *commits, size_t n_commits,
                    const uint8_t *inner, size_t inner_len)
{
    buf_put_u8(b, type);
    ftc_message_put_refs(b, logs, n_logs, commits, n_commits);
    if (type != FTC_PKT_PROPAGATE) {
        buf_put(b, inner, inner_len);
    }
}

bool
ftc_packet_parse(const uint8_t *data, size_t len, enum ftc_packet_type *type,
                 struct ftc_message *m, const uint8_t **inner, size_t *inner_len)
{
    struct cursor r;
    uint8_t t;

    cursor_init(&r, data, len);
    t = cursor_u8(&r);
    if (!cursor_ok(&r) || (t != FTC_PKT_DATA && t != FTC_PKT_PROPAGATE && t != FTC_PKT_REPLY)
        || !ftc_message_read(&r, m)) {
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
