/* pbft_wire — the parsers of PBFT's peer messages (layout in pbft.h), apart from the core so
 * that the core can be compiled twice (tests/sim/broken_pbft.c) and the fuzz target links them
 * alone. */
#include "vnfs/ft/fitsfc/pbft.h"

#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/cursor.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/demo/demo.h"

void
pbft_request_digest(const uint8_t *req, size_t len, uint8_t digest[PBFT_DIGEST_LEN])
{
    if (!len) {
        memset(digest, 0, PBFT_DIGEST_LEN);
    } else {
        demo_msg_digest(req, len, digest);
    }
}

static bool
pbft_request_matches(const uint8_t *req, size_t len, const uint8_t digest[PBFT_DIGEST_LEN])
{
    uint8_t d[PBFT_DIGEST_LEN];
    struct demo_msg m;

    /* Requests travel with their origin zeroed: the same bytes at every replica. */
    if (len && (!demo_msg_parse(req, len, &m) || m.origin)) {
        return false;
    }
    pbft_request_digest(req, len, d);
    return !memcmp(d, digest, PBFT_DIGEST_LEN);
}

bool
pbft_msg_parse(const uint8_t *data, size_t len, struct pbft_msg *m)
{
    struct cursor c;
    const uint8_t *d;

    memset(m, 0, sizeof *m);
    cursor_init(&c, data, len);
    if (cursor_be32(&c) != PBFT_MAGIC) {
        return false;
    }
    m->type = cursor_u8(&c);
    if (cursor_u8(&c) || cursor_u8(&c) || cursor_u8(&c)) {
        return false;
    }
    m->view = cursor_be64(&c);
    m->seq = cursor_be64(&c);
    if (!cursor_ok(&c)) {
        return false;
    }
    switch (m->type) {
    case PBFT_PRE_PREPARE:
    case PBFT_COMMITTED:
        d = cursor_bytes(&c, PBFT_DIGEST_LEN);
        if (!d) {
            return false;
        }
        memcpy(m->digest, d, PBFT_DIGEST_LEN);
        m->req_len = c.left;
        m->req = cursor_bytes(&c, c.left);
        return pbft_request_matches(m->req, m->req_len, m->digest);
    case PBFT_PREPARE:
    case PBFT_COMMIT:
    case PBFT_CHECKPOINT:
        d = cursor_bytes(&c, PBFT_DIGEST_LEN);
        if (!d) {
            return false;
        }
        memcpy(m->digest, d, PBFT_DIGEST_LEN);
        return cursor_done(&c);
    case PBFT_FETCH:
        m->last = cursor_be64(&c);
        return cursor_done(&c) && m->last >= m->seq;
    case PBFT_VIEW_CHANGE:
        m->body = c.p;
        m->body_len = c.left;
        return true;
    case PBFT_VC_RELAY:
        m->origin = cursor_be32(&c);
        m->body = c.p;
        m->body_len = c.left;
        return cursor_ok(&c) && m->body_len >= PBFT_HDR_LEN;
    case PBFT_NEW_VIEW:
        m->n_entries = cursor_be32(&c);
        if (!cursor_ok(&c) || m->n_entries > PBFT_MAX_GROUP
            || c.left != m->n_entries * (4 + PBFT_DIGEST_LEN)) {
            return false;
        }
        m->body = c.p;
        m->body_len = c.left;
        for (uint32_t i = 1; i < m->n_entries; i++) {
            if (get_be32(m->body + i * 20) <= get_be32(m->body + (i - 1) * 20)) {
                return false;
            }
        }
        return true;
    default:
        return false;
    }
}

void
pbft_nv_entry(const struct pbft_msg *m, uint32_t i, uint32_t *sender,
              uint8_t digest[PBFT_DIGEST_LEN])
{
    *sender = get_be32(m->body + i * 20);
    memcpy(digest, m->body + i * 20 + 4, PBFT_DIGEST_LEN);
}

void
pbft_vc_uninit(struct pbft_vc *vc)
{
    free(vc->p);
    free(vc->q);
    vc->p = vc->q = NULL;
    vc->n_p = vc->n_q = 0;
}

/* Reads n entries ('with_req': P) into '*vp', seqs increasing within (low, h + window]. */
static bool
pbft_vc_entries(struct cursor *c, const struct pbft_vc *vc, uint64_t window, bool with_req,
                struct pbft_vc_entry **vp, size_t *np)
{
    uint32_t n = cursor_be32(c);
    struct pbft_vc_entry *v;

    /* Each entry takes at least 32 bytes: a count past what is left is a lie. */
    if (!cursor_ok(c) || n > c->left / 32) {
        return cursor_fail(c);
    }
    v = xcalloc(n ? n : 1, sizeof *v);
    *vp = v;
    *np = n;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *d;

        v[i].seq = cursor_be64(c);
        v[i].view = cursor_be64(c);
        d = cursor_bytes(c, PBFT_DIGEST_LEN);
        if (!d) {
            return false;
        }
        memcpy(v[i].digest, d, PBFT_DIGEST_LEN);
        if (with_req) {
            v[i].req_len = cursor_be32(c);
            v[i].req = cursor_bytes(c, v[i].req_len);
            if (!cursor_ok(c) || !pbft_request_matches(v[i].req, v[i].req_len, v[i].digest)) {
                return cursor_fail(c);
            }
        }
        if (v[i].seq <= vc->low || v[i].seq > vc->h + window || v[i].view > vc->view
            || (i && v[i].seq <= v[i - 1].seq)) {
            return cursor_fail(c);
        }
    }
    return cursor_ok(c);
}

bool
pbft_vc_parse(const uint8_t *data, size_t len, uint64_t window, struct pbft_vc *vc)
{
    struct pbft_msg m;
    struct cursor c;

    memset(vc, 0, sizeof *vc);
    if (!pbft_msg_parse(data, len, &m) || m.type != PBFT_VIEW_CHANGE) {
        return false;
    }
    vc->view = m.view;
    vc->h = m.seq;
    cursor_init(&c, m.body, m.body_len);
    vc->low = cursor_be64(&c);
    if (!cursor_ok(&c) || vc->low > vc->h || vc->h > UINT64_MAX / 4 || window > UINT64_MAX / 4
        || !pbft_vc_entries(&c, vc, window, true, &vc->p, &vc->n_p)
        || !pbft_vc_entries(&c, vc, window, false, &vc->q, &vc->n_q) || !cursor_done(&c)) {
        pbft_vc_uninit(vc);
        return false;
    }
    return true;
}

