/* FTC's wire format (ftc.h): encoders and strict parsers. Every length is checked before it is
 * read; counts beyond the fixed bounds are rejected rather than truncated. */
#include "vnfs/ft/ftc/ftc.h"

#include <string.h>

#include "vnfs/lib/byteorder.h"

bool
ftc_log_read(struct cursor *r, struct ftc_log *l)
{
    const uint8_t *start = r->p;

    l->wire = NULL;
    l->wire_len = 0;
    l->group = cursor_u8(r);
    l->epoch = cursor_be32(r);
    l->n_ent = cursor_u8(r);
    if (!cursor_ok(r) || l->n_ent > FTC_MAX_PARTS) {
        return cursor_fail(r);
    }
    for (size_t i = 0; i < l->n_ent; i++) {
        uint8_t w;

        l->ent[i].part = cursor_be16(r);
        w = cursor_u8(r);
        l->ent[i].seq = cursor_be64(r);
        if (!cursor_ok(r) || l->ent[i].part >= FTC_MAX_PARTS || w > 1
            || (i && l->ent[i].part <= l->ent[i - 1].part)) {
            return cursor_fail(r);
        }
        l->ent[i].write = w;
    }
    l->upd_len = cursor_be32(r);
    l->upd = cursor_bytes(r, l->upd_len);
    if (!cursor_ok(r)) {
        return false;
    }
    l->wire = start;
    l->wire_len = r->p - start;
    return true;
}

/* Every replica encodes its middlebox's log and its tail's commit vector once per packet: one
 * reservation and stores, not a call per field. */
void
ftc_log_put(struct buf *b, const struct ftc_log *l)
{
    uint8_t *p = buf_put_uninit(b, ftc_log_wire_len(l) - l->upd_len);

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
    buf_put(b, l->upd, l->upd_len);
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
    const uint8_t *start = r->p;

    c->wire = NULL;
    c->wire_len = 0;
    c->group = cursor_u8(r);
    c->epoch = cursor_be32(r);
    c->prev_epoch = cursor_be32(r);
    c->n_parts = cursor_u8(r);
    if (!cursor_ok(r) || !c->n_parts || c->n_parts > FTC_MAX_PARTS) {
        return cursor_fail(r);
    }
    for (size_t i = 0; i < c->n_parts; i++) {
        c->start[i] = cursor_be64(r);
    }
    for (size_t i = 0; i < c->n_parts; i++) {
        c->max[i] = cursor_be64(r);
    }
    if (!cursor_ok(r)) {
        return false;
    }
    c->wire = start;
    c->wire_len = r->p - start;
    return true;
}

void
ftc_commit_put(struct buf *b, const struct ftc_commit *c)
{
    uint8_t *p = buf_put_uninit(b, ftc_commit_wire_len(c));

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
}

void
ftc_log_put_wire(struct buf *b, const struct ftc_log *l)
{
    if (l->wire && l->wire_len == ftc_log_wire_len(l)) {
        buf_put(b, l->wire, l->wire_len);
    } else {
        ftc_log_put(b, l);
    }
}

static void
ftc_commit_put_wire(struct buf *b, const struct ftc_commit *c)
{
    if (c->wire && c->wire_len == ftc_commit_wire_len(c)) {
        buf_put(b, c->wire, c->wire_len);
    } else {
        ftc_commit_put(b, c);
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

void
ftc_message_put_refs(struct buf *b, const struct ftc_log *const *logs, size_t n_logs,
                     const struct ftc_commit *const *commits, size_t n_commits)
{
    buf_put_u8(b, n_logs);
    for (size_t i = 0; i < n_logs; i++) {
        ftc_log_put_wire(b, logs[i]);
    }
    buf_put_u8(b, n_commits);
    for (size_t i = 0; i < n_commits; i++) {
        ftc_commit_put_wire(b, commits[i]);
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
