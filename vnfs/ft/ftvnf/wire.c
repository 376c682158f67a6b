/* FTvNF's wire formats: ids, D&P records, deltas between packet versions. */
#include "vnfs/ft/ftvnf/ftvnf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/core/util.h"

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
ftvnf_rd_init(struct ftvnf_rd *rd, const uint8_t *p, size_t len)
{
    rd->p = p;
    rd->left = len;
    rd->bad = false;
}

const uint8_t *
ftvnf_rd_bytes(struct ftvnf_rd *rd, size_t n)
{
    const uint8_t *p;

    if (rd->bad || rd->left < n) {
        rd->bad = true;
        return NULL;
    }
    p = rd->p;
    rd->p += n;
    rd->left -= n;
    return p;
}

uint64_t
ftvnf_rd_uint(struct ftvnf_rd *rd, size_t bytes)
{
    const uint8_t *p = ftvnf_rd_bytes(rd, bytes);
    uint64_t v = 0;

    for (size_t i = 0; p && i < bytes; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

void
ftvnf_dp_put(struct buf *b, const struct ftvnf_dp *dp)
{
    buf_put_u8(b, dp->stage);
    buf_put_be64(b, dp->id_in);
    buf_put_be64(b, dp->id_out);
    buf_put_u8(b, dp->verdict);
    nf_pads_put(b, dp->pads, dp->n_pads);
}

size_t
ftvnf_dp_parse(const uint8_t *data, size_t len, struct ftvnf_dp *dp)
{
    struct ftvnf_rd rd;
    struct ftvnf_dp d;
    size_t used;

    ftvnf_rd_init(&rd, data, len);
    d.stage = ftvnf_rd_uint(&rd, 1);
    d.id_in = ftvnf_rd_uint(&rd, 8);
    d.id_out = ftvnf_rd_uint(&rd, 8);
    d.verdict = ftvnf_rd_uint(&rd, 1);
    if (rd.bad || d.stage >= FTVNF_MAX_STAGES || d.verdict > FTVNF_DROPPED
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
    struct ftvnf_rd rd;
    size_t new_len, n;

    ftvnf_rd_init(&rd, delta, len);
    new_len = ftvnf_rd_uint(&rd, 4);
    n = ftvnf_rd_uint(&rd, 2);
    if (rd.bad || new_len > 65536) {
        return EINVAL;
    }
    /* Check every range before touching the packet. */
    struct ftvnf_rd chk = rd;
    for (size_t i = 0; i < n; i++) {
        size_t ofs = ftvnf_rd_uint(&chk, 4), rlen = ftvnf_rd_uint(&chk, 2);
        if (!ftvnf_rd_bytes(&chk, rlen) || ofs + rlen > new_len) {
            return EINVAL;
        }
    }
    if (chk.bad || chk.left) {
        return EINVAL;
    }
    if (new_len > b->len) {
        memset(buf_put_uninit(b, new_len - b->len), 0, new_len - b->len);
    }
    b->len = new_len;
    for (size_t i = 0; i < n; i++) {
        size_t ofs = ftvnf_rd_uint(&rd, 4), rlen = ftvnf_rd_uint(&rd, 2);
        memcpy(b->data + ofs, ftvnf_rd_bytes(&rd, rlen), rlen);
    }
    return 0;
}
