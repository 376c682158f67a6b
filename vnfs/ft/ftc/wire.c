/* FTC's wire format (ftc.h): encoders and strict parsers. Every length is checked before it is
 * read; counts beyond the fixed bounds are rejected rather than truncated. */
#include "vnfs/ft/ftc/ftc.h"

#include <string.h>

void
ftc_reader_init(struct ftc_reader *r, const uint8_t *p, size_t n)
{
    r->p = p;
    r->n = n;
    r->ok = true;
}

const uint8_t *
ftc_get_bytes(struct ftc_reader *r, size_t n)
{
    const uint8_t *p;

    if (!r->ok || r->n < n) {
        r->ok = false;
        return NULL;
    }
    p = r->p;
    r->p += n;
    r->n -= n;
    return p;
}

uint8_t
ftc_get8(struct ftc_reader *r)
{
    const uint8_t *p = ftc_get_bytes(r, 1);

    return p ? p[0] : 0;
}

uint16_t
ftc_get16(struct ftc_reader *r)
{
    const uint8_t *p = ftc_get_bytes(r, 2);

    return p ? (uint16_t) (p[0] << 8 | p[1]) : 0;
}

uint32_t
ftc_get32(struct ftc_reader *r)
{
    const uint8_t *p = ftc_get_bytes(r, 4);

    return p ? (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3] : 0;
}

uint64_t
ftc_get64(struct ftc_reader *r)
{
    uint64_t hi = ftc_get32(r);

    return hi << 32 | ftc_get32(r);
}

bool
ftc_log_read(struct ftc_reader *r, struct ftc_log *l)
{
    l->group = ftc_get8(r);
    l->epoch = ftc_get32(r);
    l->n_ent = ftc_get8(r);
    if (!r->ok || l->n_ent > FTC_MAX_PARTS) {
        return r->ok = false;
    }
    for (size_t i = 0; i < l->n_ent; i++) {
        uint8_t w;

        l->ent[i].part = ftc_get16(r);
        w = ftc_get8(r);
        l->ent[i].seq = ftc_get64(r);
        if (!r->ok || l->ent[i].part >= FTC_MAX_PARTS || w > 1
            || (i && l->ent[i].part <= l->ent[i - 1].part)) {
            return r->ok = false;
        }
        l->ent[i].write = w;
    }
    l->upd_len = ftc_get32(r);
    l->upd = ftc_get_bytes(r, l->upd_len);
    return r->ok;
}

void
ftc_log_put(struct buf *b, const struct ftc_log *l)
{
    buf_put_u8(b, l->group);
    buf_put_be32(b, l->epoch);
    buf_put_u8(b, l->n_ent);
    for (size_t i = 0; i < l->n_ent; i++) {
        buf_put_be16(b, l->ent[i].part);
        buf_put_u8(b, l->ent[i].write);
        buf_put_be64(b, l->ent[i].seq);
    }
    buf_put_be32(b, l->upd_len);
    buf_put(b, l->upd, l->upd_len);
}

size_t
ftc_log_wire_len(const struct ftc_log *l)
{
    return 1 + 4 + 1 + (size_t) l->n_ent * 11 + 4 + l->upd_len;
}

bool
ftc_commit_read(struct ftc_reader *r, struct ftc_commit *c)
{
    c->group = ftc_get8(r);
    c->epoch = ftc_get32(r);
    c->prev_epoch = ftc_get32(r);
    c->n_parts = ftc_get8(r);
    if (!r->ok || !c->n_parts || c->n_parts > FTC_MAX_PARTS) {
        return r->ok = false;
    }
    for (size_t i = 0; i < c->n_parts; i++) {
        c->start[i] = ftc_get64(r);
    }
    for (size_t i = 0; i < c->n_parts; i++) {
        c->max[i] = ftc_get64(r);
    }
    return r->ok;
}

void
ftc_commit_put(struct buf *b, const struct ftc_commit *c)
{
    buf_put_u8(b, c->group);
    buf_put_be32(b, c->epoch);
    buf_put_be32(b, c->prev_epoch);
    buf_put_u8(b, c->n_parts);
    for (size_t i = 0; i < c->n_parts; i++) {
        buf_put_be64(b, c->start[i]);
    }
    for (size_t i = 0; i < c->n_parts; i++) {
        buf_put_be64(b, c->max[i]);
    }
}

bool
ftc_message_read(struct ftc_reader *r, struct ftc_message *m)
{
    m->n_logs = ftc_get8(r);
    if (!r->ok || m->n_logs > FTC_MAX_LOGS) {
        return r->ok = false;
    }
    for (size_t i = 0; i < m->n_logs; i++) {
        if (!ftc_log_read(r, &m->logs[i])) {
            return false;
        }
    }
    m->n_commits = ftc_get8(r);
    if (!r->ok || m->n_commits > FTC_MAX_COMMITS) {
        return r->ok = false;
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

bool
ftc_packet_parse(const uint8_t *data, size_t len, enum ftc_packet_type *type,
                 struct ftc_message *m, const uint8_t **inner, size_t *inner_len)
{
    struct ftc_reader r;
    uint8_t t;

    ftc_reader_init(&r, data, len);
    t = ftc_get8(&r);
    if (!r.ok || (t != FTC_PKT_DATA && t != FTC_PKT_PROPAGATE) || !ftc_message_read(&r, m)) {
        return false;
    }
    if (t == FTC_PKT_PROPAGATE && r.n) {
        return false;
    }
    *type = t;
    *inner = r.p;
    *inner_len = r.n;
    return true;
}

void
ftc_packet_put(struct buf *b, enum ftc_packet_type type, const struct ftc_message *m,
               const uint8_t *inner, size_t inner_len)
{
    buf_put_u8(b, type);
    ftc_message_put(b, m);
    if (type == FTC_PKT_DATA) {
        buf_put(b, inner, inner_len);
    }
}
