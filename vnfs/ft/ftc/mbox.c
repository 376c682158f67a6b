/* FTC's packet transactions over a partitioned store (ftc_tx_*) and the middleboxes the core
 * can run behind a head (ftc_mbox_find): 'stamp', the auditable Monitor of ftc.h. */
#include "vnfs/ft/ftc/ftc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf.h"
#include "vnfs/ft/demo/demo.h"
#include "vnfs/ft/rng.h"

unsigned
ftc_partition_of(const void *key, size_t key_len, unsigned n_parts)
{
    return n_parts > 1 ? ft_hash_bytes(key, key_len, 0x46544350u) % n_parts : 0;
}

void
ftc_tx_begin(struct ftc_tx *tx, struct nf_state *store, unsigned n_parts)
{
    tx->store = store;
    tx->n_parts = n_parts;
    tx->read_mask = tx->write_mask = 0;
    tx->mark = state_mark(store);
}

bool
ftc_tx_get(struct ftc_tx *tx, const void *key, size_t key_len, const uint8_t **valuep,
           size_t *value_lenp)
{
    tx->read_mask |= 1u << ftc_partition_of(key, key_len, tx->n_parts);
    if (!state_get(tx->store, key, key_len, valuep, value_lenp)) {
        *valuep = NULL;
        *value_lenp = 0;
        return false;
    }
    return true;
}

int
ftc_tx_put(struct ftc_tx *tx, const void *key, size_t key_len, const void *value,
           size_t value_len)
{
    int error = state_put(tx->store, key, key_len, value, value_len);

    if (!error) {
        tx->write_mask |= 1u << ftc_partition_of(key, key_len, tx->n_parts);
    }
    return error;
}

void
ftc_tx_read_all(struct ftc_tx *tx)
{
    tx->read_mask |= (tx->n_parts >= 32 ? UINT32_MAX : (1u << tx->n_parts) - 1);
}

bool
ftc_tx_commit(struct ftc_tx *tx, uint64_t v[FTC_MAX_PARTS], struct buf *upd,
              struct ftc_log *log)
{
    uint32_t touched = tx->read_mask | tx->write_mask;
    bool wrote = state_changes_since(tx->store, tx->mark) > 0;

    if (!touched && !wrote) {
        return false;
    }
    if (wrote && !tx->write_mask) {
        /* Changed through the store directly (a vnfs/fn function): it may have touched any
         * partition. */
        touched = tx->n_parts >= 32 ? UINT32_MAX : (1u << tx->n_parts) - 1;
    }
    log->n_ent = 0;
    for (unsigned p = 0; p < tx->n_parts; p++) {
        if (touched & (1u << p)) {
            struct ftc_entry *e = &log->ent[log->n_ent++];

            e->part = p;
            e->write = wrote;
            e->seq = v[p];
            if (wrote) {
                v[p]++;
            }
        }
    }
    log->upd_len = 0;
    log->upd = NULL;
    if (wrote) {
        size_t ofs = upd->len;

        state_export_since(tx->store, tx->mark, upd);
        log->upd_len = upd->len - ofs;
        log->upd = (const uint8_t *) upd->data + ofs;
    }
    return true;
}

/* The stamp middlebox. */

uint64_t
ftc_stamp_chain(uint64_t before, uint64_t req_id)
{
    uint8_t b[16];

    for (int i = 0; i < 8; i++) {
        b[i] = before >> (56 - 8 * i);
        b[8 + i] = req_id >> (56 - 8 * i);
    }
    return ft_hash_bytes(b, sizeof b, 0x5354414d50ull) | 1;
}

bool
ftc_stamps_parse(const uint8_t *inner, size_t len, size_t *demo_len, struct ftc_stamp *stamps,
                 size_t max, size_t *n)
{
    size_t k, need;
    struct cursor r;

    if (!len) {
        return false;
    }
    k = inner[len - 1];
    need = 1 + k * FTC_STAMP_LEN;
    if (k > max || len < need + DEMO_HDR_LEN) {
        return false;
    }
    *demo_len = len - need;
    cursor_init(&r, inner + *demo_len, k * FTC_STAMP_LEN);
    for (size_t i = 0; i < k; i++) {
        stamps[i].mbox = cursor_u8(&r);
        stamps[i].key = cursor_u8(&r);
        stamps[i].write = cursor_u8(&r);
        stamps[i].count = cursor_be64(&r);
        stamps[i].before = cursor_be64(&r);
        stamps[i].after = cursor_be64(&r);
    }
    *n = k;
    return cursor_ok(&r);
}

struct stamp_mbox {
    unsigned index;
    unsigned keys;
};

static int
stamp_create(unsigned index, const char *params, void **privp, char **errp)
{
    struct stamp_mbox *s = xzalloc(sizeof *s);
    unsigned keys = 4;

    if (params && *params && (sscanf(params, "keys=%u", &keys) != 1 || !keys || keys > 255)) {
        if (errp) {
            *errp = xasprintf("stamp: bad parameters '%s' (expected keys=1..255)", params);
        }
        free(s);
        return EINVAL;
    }
    s->index = index;
    s->keys = keys;
    *privp = s;
    return 0;
}

static void
stamp_destroy(void *priv)
{
    free(priv);
}

static enum ftc_verdict
stamp_process(void *priv, struct ftc_tx *tx, struct buf *pkt)
{
    struct stamp_mbox *s = priv;
    struct ftc_stamp stamps[FTC_MAX_GROUPS], st;
    size_t demo_len, n;
    struct demo_msg m;
    uint8_t key[2] = { 'c', 0 }, val[16];
    const uint8_t *v;
    size_t vlen;
    uint8_t *p;
    bool filter;

    if (!ftc_stamps_parse(pkt->data, pkt->len, &demo_len, stamps, ARRAY_SIZE(stamps), &n)
        || n >= ARRAY_SIZE(stamps) || !demo_msg_parse(pkt->data, demo_len, &m)
        || m.body_len < 3) {
        return FTC_FILTER;
    }
    key[1] = m.body[0] % s->keys;
    st = (struct ftc_stamp) { .mbox = s->index, .key = key[1] };
    if (ftc_tx_get(tx, key, sizeof key, &v, &vlen) && vlen == 16) {
        struct cursor r;

        cursor_init(&r, v, vlen);
        st.count = cursor_be64(&r);
        st.before = cursor_be64(&r);
    }
    st.after = st.before;
    st.write = m.body[1] % 8 != 0;
    if (st.write) {
        st.count++;
        st.after = ftc_stamp_chain(st.before, m.req_id);
        for (int i = 0; i < 8; i++) {
            val[i] = st.count >> (56 - 8 * i);
            val[8 + i] = st.after >> (56 - 8 * i);
        }
        ftc_tx_put(tx, key, sizeof key, val, sizeof val);
    }
    /* Decide before the trailer grows: 'm' points into the packet's bytes. */
    filter = (m.body[2] + s->index) % 13 == 0;
    /* Rewrite the trailer: one more stamp. */
    pkt->len -= 1;
    buf_put_u8(pkt, st.mbox);
    buf_put_u8(pkt, st.key);
    buf_put_u8(pkt, st.write);
    buf_put_be64(pkt, st.count);
    buf_put_be64(pkt, st.before);
    buf_put_be64(pkt, st.after);
    p = buf_put_uninit(pkt, 1);
    *p = n + 1;
    return filter ? FTC_FILTER : FTC_FORWARD;
}

static const struct ftc_mbox_class ftc_mbox_stamp = {
    .name = "stamp",
    .summary = "Monitor with auditable per-key counters and digest chains (simulation)",
    .create = stamp_create,
    .destroy = stamp_destroy,
    .process = stamp_process,
};


/* The 'nf' middlebox: a network function of vnfs/fn (monitor, nat, firewall, gen, ...) run on
 * the group's store. Its parameters: "FN [KEY=VALUE ...]". A function does not say what it
 * reads, so every transaction depends on all partitions (ftc_tx_read_all). */
struct nf_mbox {
    struct nf *nf;
    struct nf_state *own;       /* The function's own store, swapped out while it runs. */
};

static int
nf_mbox_create(unsigned index, const char *params, void **privp, char **errp)
{
    struct nf_param list[16];
    size_t n = 0;
    char *copy = xstrdup(params ? params : ""), *save = NULL, *fn;
    struct nf_mbox *m = xzalloc(sizeof *m);
    int error = EINVAL;

    fn = strtok_r(copy, " ", &save);
    for (char *t; fn && (t = strtok_r(NULL, " ", &save)) != NULL;) {
        if (n >= ARRAY_SIZE(list) || !nf_param_parse(t, &list[n])) {
            if (errp) {
                *errp = xasprintf("nf middlebox: bad parameter '%s'", t);
            }
            goto out;
        }
        n++;
    }
    if (!fn) {
        if (errp) {
            *errp = xstrdup("nf middlebox: parameters must name the function");
        }
        goto out;
    }
    error = nf_create(fn, list, n, &m->nf, errp);
    if (!error) {
        m->own = m->nf->state;
        *privp = m;
    }
out:
    free(copy);
    if (error) {
        free(m);
    }
    (void) index;
    return error;
}

static void
nf_mbox_destroy(void *priv)
{
    struct nf_mbox *m = priv;

    m->nf->state = m->own;
    nf_destroy(m->nf);
    free(m);
}

static enum ftc_verdict
nf_mbox_process(void *priv, struct ftc_tx *tx, struct buf *pkt)
{
    struct nf_mbox *m = priv;
    struct nf_packet np;
    enum nf_verdict v;

    buf_reserve(pkt, 64);           /* Room for a function that grows the frame. */
    np.data = pkt->data;
    np.len = pkt->len;
    np.cap = pkt->cap;
    np.now_ns = 0;                  /* Deterministic: no function here keys on time. */
    np.flow_hash = 0;
    ftc_tx_read_all(tx);
    m->nf->state = tx->store;
    v = nf_process(m->nf, &np);
    m->nf->state = m->own;
    pkt->len = np.len;
    return v == NF_DROP ? FTC_FILTER : v == NF_REPLY ? FTC_REPLY : FTC_FORWARD;
}

static const struct ftc_mbox_class ftc_mbox_nf = {
    .name = "nf",
    .summary = "a vnfs/fn network function (\"FN KEY=VALUE ...\") on the group's store",
    .create = nf_mbox_create,
    .destroy = nf_mbox_destroy,
    .process = nf_mbox_process,
};

static const struct ftc_mbox_class *const ftc_mboxes[] = {
    &ftc_mbox_stamp,
    &ftc_mbox_nf,
};

const struct ftc_mbox_class *
ftc_mbox_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(ftc_mboxes); i++) {
        if (!strcmp(ftc_mboxes[i]->name, name)) {
            return ftc_mboxes[i];
        }
    }
    return NULL;
}
