/* NHAM's wire format (nham.h): encoders and strict parsers. Every length is checked before it
 * is read; a message with trailing bytes where none belong is rejected. */
#include "vnfs/ft/nham/nham.h"

#include <string.h>

#include "vnfs/lib/byteorder.h"

bool
nham_data_parse(const uint8_t *p, size_t len, struct nham_data *d)
{
    size_t need = NHAM_DATA_HDR;

    if (len < need || p[0] != NHAM_DATA) {
        return false;
    }
    d->epoch = get_be32(p + 1);
    d->counter = get_be64(p + 5);
    d->n_stamps = p[13];
    if (d->n_stamps > NHAM_MAX_STAMPS || len - need < (size_t) d->n_stamps * 8) {
        return false;
    }
    for (size_t i = 0; i < d->n_stamps; i++) {
        d->stamps[i] = get_be64(p + need + 8 * i);
    }
    need += (size_t) d->n_stamps * 8;
    d->payload = p + need;
    d->payload_len = len - need;
    return true;
}

size_t
nham_data_len(const struct nham_data *d)
{
    return NHAM_DATA_HDR + 8 * (size_t) d->n_stamps + d->payload_len;
}

void
nham_data_write(uint8_t *p, const struct nham_data *d)
{
    p[0] = NHAM_DATA;
    put_be32(p + 1, d->epoch);
    put_be64(p + 5, d->counter);
    p[13] = d->n_stamps;
    p += NHAM_DATA_HDR;
    for (size_t i = 0; i < d->n_stamps; i++, p += 8) {
        put_be64(p, d->stamps[i]);
    }
    if (d->payload_len) {
        memcpy(p, d->payload, d->payload_len);
    }
}

/* In place, reserved once: a put per field and per stamp, each reserving, was 4% of the SFF's
 * user time (it encodes every packet at every hop). */
void
nham_data_put(struct buf *b, const struct nham_data *d)
{
    nham_data_write(buf_put_uninit(b, nham_data_len(d)), d);
}

void
nham_data_stamp(uint8_t *out, const uint8_t *data, const struct nham_data *d, uint64_t stamp)
{
    size_t head = NHAM_DATA_HDR + (size_t) d->n_stamps * 8;

    memmove(out, data, head);
    out[13] = d->n_stamps + 1;
    put_be64(out + head, stamp);
    if (out + head + 8 != d->payload) {
        memcpy(out + head + 8, d->payload, d->payload_len);
    }
}

bool
nham_ctl_parse(const uint8_t *p, size_t len, struct nham_ctl *c)
{
    memset(c, 0, sizeof *c);
    if (len < 1) {
        return false;
    }
    c->type = p[0];
    p++, len--;
    switch (c->type) {
    case NHAM_CKPT_REQ:
        if (len != 4) {
            return false;
        }
        c->vnf = get_be32(p);
        return true;
    case NHAM_CKPT_STORE:
        if (len < 16) {
            return false;
        }
        c->vnf = get_be32(p);
        c->epoch = get_be32(p + 4);
        c->counter = get_be64(p + 8);
        c->image = p + 16;
        c->image_len = len - 16;
        return true;
    case NHAM_CKPT_SAVED:
        if (len != 12) {
            return false;
        }
        c->vnf = get_be32(p);
        c->counter = get_be64(p + 4);
        return true;
    case NHAM_READY:
        if (len != 12) {
            return false;
        }
        c->epoch = get_be32(p);
        c->counter = get_be64(p + 4);
        return true;
    case NHAM_RESTORE_REQ:
        if (len != 4) {
            return false;
        }
        c->epoch = get_be32(p);
        return true;
    case NHAM_DATA:
    default:
        return false;
    }
}

void
nham_ctl_put(struct buf *b, const struct nham_ctl *c)
{
    buf_put_u8(b, c->type);
    switch (c->type) {
    case NHAM_CKPT_REQ:
        buf_put_be32(b, c->vnf);
        break;
    case NHAM_CKPT_STORE:
        buf_put_be32(b, c->vnf);
        buf_put_be32(b, c->epoch);
        buf_put_be64(b, c->counter);
        buf_put(b, c->image, c->image_len);
        break;
    case NHAM_CKPT_SAVED:
        buf_put_be32(b, c->vnf);
        buf_put_be64(b, c->counter);
        break;
    case NHAM_READY:
        buf_put_be32(b, c->epoch);
        buf_put_be64(b, c->counter);
        break;
    case NHAM_RESTORE_REQ:
        buf_put_be32(b, c->epoch);
        break;
    case NHAM_DATA:
    default:
        break;
    }
}

bool
nham_image_parse(const uint8_t *p, size_t len, struct nham_image *im)
{
    if (len < 32) {
        return false;
    }
    im->epoch = get_be32(p);
    im->counter = get_be64(p + 4);
    im->count = get_be64(p + 12);
    im->digest = get_be64(p + 20);
    im->state_len = get_be32(p + 28);
    if (len - 32 != im->state_len) {
        return false;
    }
    im->state = p + 32;
    return true;
}
