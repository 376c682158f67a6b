/* FTvNF's wire formats: ids, D&P records, deltas between packet versions. */
#include "vnfs/ft/ftvnf/ftvnf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/util.h"

bool
ftvnf_id_vlan_ok(uint64_t id)
{
    for (int i = 0; i < 3; i++) {
        unsigned third = (id >> (12 * i)) & 0xfff;

        if (third == 0 || third == 0xfff) {
            return false;
        }
    }
    return true;
}

void
ftvnf_dp_put(struct buf *b, const struct ftvnf_dp *dp)
{
    buf_put_u8(b, dp->stage);
    buf_put_be64(b, dp->id_in);
    buf_put_be64(b, dp->id_out);
    buf_put_u8(b, dp->verdict | (dp->stateless ? FTVNF_DP_STATELESS : 0));
    buf_put_be64(b, dp->order);
    nf_pads_put(b, dp->pads, dp->n_pads);
}

size_t
ftvnf_dp_parse(const uint8_t *data, size_t len, struct ftvnf_dp *dp)
{
    struct cursor rd;
    struct ftvnf_dp d;
    size_t used;

    cursor_init(&rd, data, len);
    d.stage = cursor_u8(&rd);
    d.id_in = cursor_be64(&rd);
    d.id_out = cursor_be64(&rd);
    d.verdict = cursor_u8(&rd);
    d.stateless = d.verdict & FTVNF_DP_STATELESS;
    d.verdict &= ~FTVNF_DP_STATELESS;
    d.order = cursor_be64(&rd);
    if (!cursor_ok(&rd) || d.stage >= FTVNF_MAX_STAGES || d.verdict > FTVNF_REPLY
        || d.id_in >> FTVNF_ID_BITS || d.id_out >> FTVNF_ID_BITS) {
        return 0;
    }
    used = nf_pads_parse(rd.p, rd.left, &d.pads, &d.n_pads);
    if (!used) {
        return 0;
    }
    *dp = d;
    return len - rd.left + used;
}

void
ftvnf_delta_make(struct buf *b, const uint8_t *old, size_t old_len, const uint8_t *new_,
                 size_t new_len)
{
    size_t n_ofs, n = 0;

    buf_put_be32(b, new_len);
    n_ofs = b->len;
    buf_put_be16(b, 0);
    for (size_t i = 0; i < new_len;) {
        if (i < old_len && old[i] == new_[i]) {
            i++;
            continue;
        }
        /* A run of changed bytes; a gap of fewer than 8 equal bytes does not end it (a new
         * range costs 6 bytes of header). */
        size_t start = i, end = i + 1;
        for (size_t j = i + 1; j < new_len && j - end < 8 && j - start < UINT16_MAX; j++) {
            if (!(j < old_len && old[j] == new_[j])) {
                end = j + 1;
            }
        }
        buf_put_be32(b, start);
        buf_put_be16(b, end - start);
        buf_put(b, new_ + start, end - start);
        n++;
        i = end;
    }
    b->data[n_ofs] = n >> 8;
    b->data[n_ofs + 1] = n;
}

int
ftvnf_delta_apply(struct buf *b, const uint8_t *delta, size_t len)
{
    struct cursor rd;
    size_t new_len, n;

    cursor_init(&rd, delta, len);
    new_len = cursor_be32(&rd);
    n = cursor_be16(&rd);
    if (!cursor_ok(&rd) || new_len > 65536) {
        return EINVAL;
    }
    /* Check every range before touching the packet. */
    struct cursor chk = rd;
    for (size_t i = 0; i < n; i++) {
        size_t ofs = cursor_be32(&chk), rlen = cursor_be16(&chk);
        if (!cursor_bytes(&chk, rlen) || ofs + rlen > new_len) {
            return EINVAL;
        }
    }
    if (!cursor_done(&chk)) {
        return EINVAL;
    }
    if (new_len > b->len) {
        memset(buf_put_uninit(b, new_len - b->len), 0, new_len - b->len);
    }
    b->len = new_len;
    for (size_t i = 0; i < n; i++) {
        size_t ofs = cursor_be32(&rd), rlen = cursor_be16(&rd);
        memcpy(b->data + ofs, cursor_bytes(&rd, rlen), rlen);
    }
    return 0;
}

void
ftvnf_carry_put(struct buf *b, const struct ftvnf_carry *c)
{
    buf_put_be64(b, FTVNF_CARRY | c->id);
    buf_put_be32(b, c->to);
    buf_put_be32(b, c->sync);
    buf_put_u8(b, c->n_recs);
    for (size_t i = 0; i < c->n_recs; i++) {
        buf_put_be32(b, c->recs[i].logger);
        buf_put_u8(b, c->recs[i].type);
        buf_put_be16(b, c->recs[i].len);
        buf_put(b, c->recs[i].body, c->recs[i].len);
    }
    buf_put_be64(b, c->id);
    buf_put(b, c->payload, c->len);
}

bool
ftvnf_carry_parse(const uint8_t *data, size_t len, struct ftvnf_carry *cp)
{
    struct ftvnf_carry c;
    struct cursor rd;
    uint64_t word;

    cursor_init(&rd, data, len);
    word = cursor_be64(&rd);
    c.id = word & ~FTVNF_CARRY;
    c.to = cursor_be32(&rd);
    c.sync = cursor_be32(&rd);
    c.n_recs = cursor_u8(&rd);
    if (!cursor_ok(&rd) || !(word & FTVNF_CARRY) || c.id >> FTVNF_ID_BITS
        || c.n_recs > FTVNF_CARRY_MAX_RECS) {
        return false;
    }
    for (size_t i = 0; i < c.n_recs; i++) {
        struct ftvnf_carry_rec *r = &c.recs[i];

        r->logger = cursor_be32(&rd);
        r->type = cursor_u8(&rd);
        r->len = cursor_be16(&rd);
        r->body = cursor_bytes(&rd, r->len);
        if (!r->body || (r->type != FTVNF_LOG_BASE && r->type != FTVNF_LOG_PKT
                         && r->type != FTVNF_LOG_DP)) {
            return false;
        }
    }
    c.plain_ofs = len - rd.left;
    if (cursor_be64(&rd) != c.id || !cursor_ok(&rd)) {
        return false;
    }
    c.payload = rd.p;
    c.len = rd.left;
    *cp = c;
    return true;
}
