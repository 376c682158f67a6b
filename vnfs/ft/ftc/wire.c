/* FTC's wire format (ftc.h): encoders and strict parsers. Every length is checked before it is
 * read; counts beyond the fixed bounds are rejected rather than truncated. */
#include "vnfs/ft/ftc/ftc.h"

#include <string.h>

#include "vnfs/lib/byteorder.h"

/* Every replica parses each log and commit a packet carries: each fixed-size block is taken
 * with one length check and read in place, not field by field through the cursor. */
bool
ftc_log_read(struct cursor *r, struct ftc_log *l)
{
    const uint8_t *start = r->p, *p;

    l->wire = NULL;
    l->wire_len = 0;
    p = cursor_bytes(r, 6);
    if (!p || p[5] > FTC_MAX_PARTS) {
        return cursor_fail(r);
    }
    l->group = p[0];
    l->epoch = get_be32(p + 1);
    l->n_ent = p[5];
    p = cursor_bytes(r, (size_t) l->n_ent * 11 + 4);
    if (!p) {
        return false;
    }
    for (size_t i = 0; i < l->n_ent; i++, p += 11) {
        l->ent[i].part = get_be16(p);
        l->ent[i].write = p[2];
        l->ent[i].seq = get_be64(p + 3);
        if (l->ent[i].part >= FTC_MAX_PARTS || p[2] > 1
            || (i && l->ent[i].part <= l->ent[i - 1].part)) {
            return cursor_fail(r);
        }
    }
    l->upd_len = get_be32(p);
    l->upd = cursor_bytes(r, l->upd_len);
    if (!cursor_ok(r)) {
        return false;
    }
    l->wire = start;
    l->wire_len = r->p - start;
    return true;
}

/* Every replica encodes its middlebox's log and its tail's commit vector once per packet: one
 * reservation and stores, not a call per field. The encoders write 'p' (room for the wire
 * length) and return the end. */
static uint8_t *
ftc_log_encode(uint8_t *p, const struct ftc_log *l)
{
    p[0] = l->group;
    put_be32(p + 1, l->epoch);
    p[5] = l->n_ent;
    p += 6;
    for (size_t i = 0; i < l->n_ent; i++, p += 11) {
        put_be16(p, l->ent[i].part);
        p[2] = l->ent[i].write;
        put_be64(p + 3, l->ent[i].seq);
    }
    put_be32(p, l->upd_len);
    if (l->upd_len) {
        memcpy(p + 4, l->upd, l->upd_len);
    }
    return p + 4 + l->upd_len;
}

void
ftc_log_put(struct buf *b, const struct ftc_log *l)
{
    ftc_log_encode(buf_put_uninit(b, ftc_log_wire_len(l)), l);
}

size_t
ftc_log_wire_len(const struct ftc_log *l)
{
    return 1 + 4 + 1 + (size_t) l->n_ent * 11 + 4 + l->upd_len;
}

static size_t
ftc_commit_wire_len(const struct ftc_commit *c)
{
    return 1 + 4 + 4 + 1 + (size_t) c->n_parts * 16;
}

bool
ftc_commit_read(struct cursor *r, struct ftc_commit *c)
{
    const uint8_t *start = r->p, *p;

    c->wire = NULL;
    c->wire_len = 0;
    p = cursor_bytes(r, 10);
    if (!p || !p[9] || p[9] > FTC_MAX_PARTS) {
        return cursor_fail(r);
    }
    c->group = p[0];
    c->epoch = get_be32(p + 1);
    c->prev_epoch = get_be32(p + 5);
    c->n_parts = p[9];
    p = cursor_bytes(r, (size_t) c->n_parts * 16);
    if (!p) {
        return false;
    }
    for (size_t i = 0; i < c->n_parts; i++) {
        c->start[i] = get_be64(p + 8 * i);
        c->max[i] = get_be64(p + 8 * (c->n_parts + i));
    }
    c->wire = start;
    c->wire_len = r->p - start;
    return true;
}

static uint8_t *
ftc_commit_encode(uint8_t *p, const struct ftc_commit *c)
{
    p[0] = c->group;
    put_be32(p + 1, c->epoch);
    put_be32(p + 5, c->prev_epoch);
    p[9] = c->n_parts;
    p += 10;
    for (size_t i = 0; i < c->n_parts; i++, p += 8) {
        put_be64(p, c->start[i]);
    }
    for (size_t i = 0; i < c->n_parts; i++, p += 8) {
        put_be64(p, c->max[i]);
    }
    return p;
}

void
ftc_commit_put(struct buf *b, const struct ftc_commit *c)
{
    ftc_commit_encode(buf_put_uninit(b, ftc_commit_wire_len(c)), c);
}

/* What a log or commit parsed from a packet still says is copied as it came. */
static bool
ftc_log_has_wire(const struct ftc_log *l)
{
    return l->wire && l->wire_len == ftc_log_wire_len(l);
}

static bool
ftc_commit_has_wire(const struct ftc_commit *c)
{
    return c->wire && c->wire_len == ftc_commit_wire_len(c);
}

void
ftc_log_put_wire(struct buf *b, const struct ftc_log *l)
{
    if (ftc_log_has_wire(l)) {
        buf_put(b, l->wire, l->wire_len);
    } else {
        ftc_log_put(b, l);
    }
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
    size_t len = 2;
    uint8_t *p;

    for (size_t i = 0; i < n_logs; i++) {
        len += ftc_log_wire_len(logs[i]);
    }
    for (size_t i = 0; i < n_commits; i++) {
        len += ftc_commit_wire_len(commits[i]);
    }
    p = buf_put_uninit(b, len);
    *p++ = n_logs;
    for (size_t i = 0; i < n_logs; i++) {
        const struct ftc_log *l = logs[i];

        if (ftc_log_has_wire(l)) {
            p = mempcpy(p, l->wire, l->wire_len);
        } else {
            p = ftc_log_encode(p, l);
        }
    }
    *p++ = n_commits;
    for (size_t i = 0; i < n_commits; i++) {
        const struct ftc_commit *c = commits[i];

        if (ftc_commit_has_wire(c)) {
            p = mempcpy(p, c->wire, c->wire_len);
        } else {
            p = ftc_commit_encode(p, c);
        }
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
