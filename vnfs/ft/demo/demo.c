#include "vnfs/ft/demo/demo.h"

#include <sodium.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"

bool
demo_msg_parse(const uint8_t *data, size_t len, struct demo_msg *m)
{
    if (len < DEMO_HDR_LEN) {
        return false;
    }
    m->req_id = get_be64(data);
    m->client = get_be32(data + 8);
    m->origin = get_be32(data + DEMO_ORIGIN_OFS);
    m->body = data + DEMO_HDR_LEN;
    m->body_len = len - DEMO_HDR_LEN;
    return true;
}

void
demo_msg_put(struct buf *b, const struct demo_msg *m)
{
    buf_put_be64(b, m->req_id);
    buf_put_be32(b, m->client);
    buf_put_be32(b, m->origin);
    buf_put(b, m->body, m->body_len);
}

void
demo_msg_digest(const uint8_t *data, size_t len, uint8_t digest[16])
{
    crypto_generichash_state st;

    /* The caller has parsed 'data', so len >= DEMO_HDR_LEN. */
    crypto_generichash_init(&st, NULL, 0, 16);
    crypto_generichash_update(&st, data, DEMO_ORIGIN_OFS);
    crypto_generichash_update(&st, data + DEMO_HDR_LEN, len - DEMO_HDR_LEN);
    crypto_generichash_final(&st, digest, 16);
}
