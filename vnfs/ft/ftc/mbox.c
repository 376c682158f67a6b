/* FTC's packet transactions over a partitioned store (ftc_tx_*) and the middleboxes the core
 * can run behind a head (ftc_mbox_find): 'stamp', the auditable Monitor of ftc.h; the paper's
 * Monitor, SimpleNAT and MazuNAT; 'nf', any vnfs/fn function on one thread. */
#include "vnfs/ft/ftc/ftc.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/fn/nf.h"
#include "vnfs/fn/txnat.h"
#include "vnfs/ft/demo/demo.h"
#include "vnfs/ft/ftc/txlock.h"
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
    tx->cc = NULL;
    tx->thread = 0;
}

void
ftc_txcc_init(struct ftc_txcc *cc, struct ftc_locks *locks, pthread_mutex_t *store_mutex,
              int slot)
{
    memset(cc, 0, sizeof *cc);
    cc->locks = locks;
    cc->store_mutex = store_mutex;
    cc->slot = slot;
    buf_init(&cc->val);
    buf_init(&cc->undo);
    buf_init(&cc->keys);
}

void
ftc_txcc_uninit(struct ftc_txcc *cc)
{
    buf_uninit(&cc->val);
    buf_uninit(&cc->undo);
    buf_uninit(&cc->keys);
}

void
ftc_tx_begin_cc(struct ftc_tx *tx, struct nf_state *store, unsigned n_parts,
                struct ftc_txcc *cc, bool retry)
{
    tx->store = store;
    tx->n_parts = n_parts;
    tx->read_mask = tx->write_mask = 0;
    tx->mark = 0;
    tx->cc = cc;
    tx->thread = cc->slot;
    cc->aborted = false;
    buf_clear(&cc->undo);
    buf_clear(&cc->keys);
    ftc_txn_begin_mt(cc->locks, cc->slot, retry);
}

/* Takes the lock of 'part' for a concurrent transaction: false once it is wounded. */
static bool
ftc_tx_lock(struct ftc_tx *tx, unsigned part, bool excl)
{
    struct ftc_txcc *cc = tx->cc;

    if (!cc->aborted && ftc_lock_acquire(cc->locks, cc->slot, part, excl)) {
        cc->aborted = true;
    }
    return !cc->aborted;
}

static bool
ftc_tx_get__(struct ftc_tx *tx, const void *key, size_t key_len, bool excl,
             const uint8_t **valuep, size_t *value_lenp)
{
    unsigned part = ftc_partition_of(key, key_len, tx->n_parts);
    bool found;

    *valuep = NULL;
    *value_lenp = 0;
    if (!tx->cc) {
        tx->read_mask |= 1u << part;
        return state_get(tx->store, key, key_len, valuep, value_lenp);
    }
    if (!ftc_tx_lock(tx, part, excl)) {
        return false;
    }
    tx->read_mask |= 1u << part;
    /* A copy: another thread's insert may move the store's entries. */
    pthread_mutex_lock(tx->cc->store_mutex);
    found = state_get(tx->store, key, key_len, valuep, value_lenp);
    buf_clear(&tx->cc->val);
    if (found) {
        buf_put(&tx->cc->val, *valuep, *value_lenp);
    }
    pthread_mutex_unlock(tx->cc->store_mutex);
    *valuep = found ? tx->cc->val.data : NULL;
    return found;
}

bool
ftc_tx_get(struct ftc_tx *tx, const void *key, size_t key_len, const uint8_t **valuep,
           size_t *value_lenp)
{
    return ftc_tx_get__(tx, key, key_len, false, valuep, value_lenp);
}

bool
ftc_tx_get_for_write(struct ftc_tx *tx, const void *key, size_t key_len,
                     const uint8_t **valuep, size_t *value_lenp)
{
    return ftc_tx_get__(tx, key, key_len, true, valuep, value_lenp);
}

int
ftc_tx_put(struct ftc_tx *tx, const void *key, size_t key_len, const void *value,
           size_t value_len)
{
    unsigned part = ftc_partition_of(key, key_len, tx->n_parts);
    struct ftc_txcc *cc = tx->cc;
    const uint8_t *old;
    size_t old_len;
    bool had;
    int error;

    if (!cc) {
        error = state_put(tx->store, key, key_len, value, value_len);
        if (!error) {
            tx->write_mask |= 1u << part;
        }
        return error;
    }
    if (key_len > UINT16_MAX) {
        return EINVAL;
    }
    if (!ftc_tx_lock(tx, part, true)) {
        return ECANCELED;
    }
    pthread_mutex_lock(cc->store_mutex);
    had = state_get(tx->store, key, key_len, &old, &old_len);
    buf_put_be16(&cc->undo, key_len);
    buf_put(&cc->undo, key, key_len);
    buf_put_u8(&cc->undo, had);
    buf_put_be32(&cc->undo, had ? old_len : 0);
    if (had) {
        buf_put(&cc->undo, old, old_len);
    }
    error = state_put(tx->store, key, key_len, value, value_len);
    pthread_mutex_unlock(cc->store_mutex);
    if (!error) {
        buf_put_be16(&cc->keys, key_len);
        buf_put(&cc->keys, key, key_len);
        tx->write_mask |= 1u << part;
    }
    return error;
}

void
ftc_tx_read_all(struct ftc_tx *tx)
{
    tx->read_mask |= (tx->n_parts >= 32 ? UINT32_MAX : (1u << tx->n_parts) - 1);
}

/* The undo records of 'cc', newest first: restores each key to what the write replaced. */
static void
ftc_tx_undo(struct ftc_tx *tx)
{
    struct ftc_txcc *cc = tx->cc;
    const uint8_t **rec = NULL;
    size_t n = 0, cap = 0;
    struct cursor r;

    cursor_init(&r, cc->undo.data, cc->undo.len);
    while (r.left && cursor_ok(&r)) {
        const uint8_t *at = r.p;
        uint16_t kl = cursor_be16(&r);

        cursor_bytes(&r, kl + 1);
        cursor_bytes(&r, cursor_be32(&r));
        if (n == cap) {
            rec = x2nrealloc(rec, &cap, sizeof *rec);
        }
        rec[n++] = at;
    }
    pthread_mutex_lock(cc->store_mutex);
    while (n--) {
        struct cursor u;
        uint16_t kl;
        const uint8_t *key;
        bool had;
        uint32_t vl;

        cursor_init(&u, rec[n], SIZE_MAX);
        kl = cursor_be16(&u);
        key = cursor_bytes(&u, kl);
        had = cursor_u8(&u);
        vl = cursor_be32(&u);
        if (had) {
            state_put(tx->store, key, kl, cursor_bytes(&u, vl), vl);
        } else {
            state_delete(tx->store, key, kl);
        }
    }
    pthread_mutex_unlock(cc->store_mutex);
    free(rec);
}

void
ftc_tx_abort(struct ftc_tx *tx)
{
    /* Strict 2PL: nobody read what this attempt wrote, so putting it back is the whole undo. */
    ftc_tx_undo(tx);
    buf_clear(&tx->cc->undo);
    buf_clear(&tx->cc->keys);
    ftc_lock_release_all(tx->cc->locks, tx->cc->slot);
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
    log->wire = NULL;
    log->wire_len = 0;
    if (wrote) {
        size_t ofs = upd->len;

        state_export_records_since(tx->store, tx->mark, upd);
        log->upd_len = upd->len - ofs;
        log->upd = (const uint8_t *) upd->data + ofs;
    }
    return true;
}

/* Numbers the log of a concurrent transaction from 'v': see ftc_tx_commit_cc(). */
static void
ftc_tx_number(const struct ftc_tx *tx, uint64_t v[FTC_MAX_PARTS], struct ftc_log *log)
{
    uint32_t touched = tx->read_mask | tx->write_mask;

    log->n_ent = 0;
    for (unsigned p = 0; p < tx->n_parts; p++) {
        if (touched & (1u << p)) {
            struct ftc_entry *e = &log->ent[log->n_ent++];

            e->part = p;
            e->write = (tx->write_mask >> p) & 1;
            e->seq = v[p];
            if (e->write) {
                v[p]++;
            }
        }
    }
}

/* Keys a concurrent transaction's delta is exported from the store directly (more: through a
 * store of their own, which deduplicates them). */
#define FTC_TX_FEW_KEYS 16

bool
ftc_tx_commit_cc(struct ftc_tx *tx, uint64_t v[FTC_MAX_PARTS], uint64_t *ticket_counter,
                 uint64_t *ticket, struct buf *upd, struct ftc_log *log, bool late_seq)
{
    struct ftc_txcc *cc = tx->cc;
    bool any = (tx->read_mask | tx->write_mask) != 0;

    log->upd_len = 0;
    log->upd = NULL;
    log->wire = NULL;
    log->wire_len = 0;
    if (tx->write_mask) {
        /* The delta: the values this transaction left, which no one else can have changed
         * since (it holds their partitions exclusively). A transaction writes a few keys:
         * exported from the store itself; many (a copy deduplicates them): through a
         * store of their own. */
        const uint8_t *keys[FTC_TX_FEW_KEYS];
        size_t key_lens[FTC_TX_FEW_KEYS], n = 0;
        struct nf_state *delta = NULL;
        struct cursor r;
        size_t ofs = upd->len;

        pthread_mutex_lock(cc->store_mutex);
        cursor_init(&r, cc->keys.data, cc->keys.len);
        while (r.left && cursor_ok(&r)) {
            uint16_t kl = cursor_be16(&r);
            const uint8_t *key = cursor_bytes(&r, kl);
            const uint8_t *val;
            size_t vl;

            if (!key) {
                break;
            }
            if (!delta && n < FTC_TX_FEW_KEYS) {
                keys[n] = key;
                key_lens[n++] = kl;
                continue;
            }
            if (!delta) {
                delta = state_create();
                for (size_t i = 0; i < n; i++) {
                    if (state_get(tx->store, keys[i], key_lens[i], &val, &vl)) {
                        state_put(delta, keys[i], key_lens[i], val, vl);
                    }
                }
            }
            if (state_get(tx->store, key, kl, &val, &vl)) {
                state_put(delta, key, kl, val, vl);
            }
        }
        if (delta) {
            state_export_records_since(delta, 0, upd);
            state_destroy(delta);
        } else {
            state_export_records_keys(tx->store, keys, key_lens, n, upd);
        }
        pthread_mutex_unlock(cc->store_mutex);
        log->upd_len = upd->len - ofs;
        log->upd = (const uint8_t *) upd->data + ofs;
    }
    if (!late_seq) {
        /* Under every lock it took: a partition's next writer waits for this one's number,
         * and the ticket orders this commit after every one it depends on. */
        ftc_tx_number(tx, v, log);
        *ticket = __atomic_fetch_add(ticket_counter, 1, __ATOMIC_SEQ_CST);
    }
    ftc_lock_release_all(cc->locks, cc->slot);
    if (late_seq) {
        /* The broken order: another writer of the partition may number itself first. */
        sched_yield();
        pthread_mutex_lock(cc->store_mutex);
        ftc_tx_number(tx, v, log);
        *ticket = __atomic_fetch_add(ticket_counter, 1, __ATOMIC_SEQ_CST);
        pthread_mutex_unlock(cc->store_mutex);
    }
    return any;
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
    st.write = m.body[1] % 8 != 0;
    if ((st.write ? ftc_tx_get_for_write : ftc_tx_get)(tx, key, sizeof key, &v, &vlen)
        && vlen == 16) {
        struct cursor r;

        cursor_init(&r, v, vlen);
        st.count = cursor_be64(&r);
        st.before = cursor_be64(&r);
    }
    st.after = st.before;
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
    .concurrent = true,
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

/* The 'monitor' middlebox: the paper's Monitor as a packet transaction, so that it runs on
 * the head's threads (vnfs/fn/nf_monitor.c's Monitor writes its store directly, and a store
 * shared by threads needs every access to go through the partition locks). Its sharing level
 * is the paper's: how many of the head's threads share one state variable. Thread t counts a
 * packet in its sharing group's records, g = t / sharing: the flow's "Mf" + 5-tuple + u16 g
 * (packets, bytes: 2 x u64) and the group's "Ms" + u16 g (packets: u64). Sharing 1: each thread
 * writes only its own records (no lock waits for another); sharing >= threads: every packet
 * writes the same two (every transaction in one queue). Which thread counted a packet is the
 * head's choice, and the log carries what it wrote: replicas need not know. A flow's count
 * is the sum over the groups, all packets the sum of the "Ms" counters (there is no
 * all-packets record: one record every packet writes would serialize every sharing level).
 * With one thread (or scheme none's nf_monitor) there is one group. Parameters:
 * "[sharing=N]" (1..4096). Frames that are not IPv4 count under the empty flow. */
#define FTC_MONITOR_MAX_SHARING 4096

struct monitor_mbox {
    unsigned sharing;
};

static int
monitor_create(unsigned index, const char *params, void **privp, char **errp)
{
    struct monitor_mbox *m = xzalloc(sizeof *m);
    unsigned sharing = 1;
    char end;

    if (params && *params
        && (sscanf(params, "sharing=%u%c", &sharing, &end) != 1 || !sharing
            || sharing > FTC_MONITOR_MAX_SHARING)) {
        if (errp) {
            *errp = xasprintf("monitor: bad parameters '%s' (expected sharing=1..%d)", params,
                              FTC_MONITOR_MAX_SHARING);
        }
        free(m);
        return EINVAL;
    }
    m->sharing = sharing;
    *privp = m;
    (void) index;
    return 0;
}

static void
monitor_destroy(void *priv)
{
    free(priv);
}

/* Adds 'deltas' to the 'n' big-endian u64 counters of the record of 'key' (from zero if it is not
 * there or has another length), read and written in the transaction. On the head's only thread,
 * one store lookup that updates the record in place (state_write()): a get and a put were two,
 * and a replica's store lookups were the largest part of its own work per packet. The Monitor's
 * records never have another length. */
static void
monitor_add(struct ftc_tx *tx, const uint8_t *key, size_t key_len, const uint64_t *deltas,
            size_t n)
{
    uint8_t rec[16] = { 0 };
    const uint8_t *v;
    size_t vlen;

    if (!tx->cc) {
        unsigned part = ftc_partition_of(key, key_len, tx->n_parts);
        uint8_t *w;

        tx->read_mask |= 1u << part;
        if (!state_write(tx->store, key, key_len, 8 * n, &w)) {
            tx->write_mask |= 1u << part;
            for (size_t i = 0; i < n; i++) {
                put_be64(w + 8 * i, get_be64(w + 8 * i) + deltas[i]);
            }
        }
        return;
    }
    if (ftc_tx_get_for_write(tx, key, key_len, &v, &vlen) && vlen == 8 * n) {
        memcpy(rec, v, vlen);
    }
    for (size_t i = 0; i < n; i++) {
        put_be64(rec + 8 * i, get_be64(rec + 8 * i) + deltas[i]);
    }
    ftc_tx_put(tx, key, key_len, rec, 8 * n);
}

static enum ftc_verdict
monitor_process(void *priv, struct ftc_tx *tx, struct buf *pkt)
{
    const struct monitor_mbox *m = priv;
    struct packet_info info;
    uint16_t g = tx->thread / m->sharing;
    uint8_t key[2 + sizeof info.flow + 2];
    uint8_t skey[4] = { 'M', 's', g >> 8, g };
    uint64_t flow[2] = { 1, pkt->len }, one = 1;

    memset(&info, 0, sizeof info);
    if (packet_parse(pkt->data, pkt->len, &info)) {
        memset(&info, 0, sizeof info);
    }
    key[0] = 'M';
    key[1] = 'f';
    memcpy(key + 2, &info.flow, sizeof info.flow);
    key[2 + sizeof info.flow] = g >> 8;
    key[3 + sizeof info.flow] = g;
    monitor_add(tx, key, sizeof key, flow, 2);
    monitor_add(tx, skey, sizeof skey, &one, 1);
    return FTC_FORWARD;
}

static const struct ftc_mbox_class ftc_mbox_monitor = {
    .name = "monitor",
    .summary = "the paper's Monitor as a transaction: counters shared by 'sharing' threads",
    .concurrent = true,
    .create = monitor_create,
    .destroy = monitor_destroy,
    .process = monitor_process,
};

/* The paper's 'simplenat' and 'mazunat' (vnfs/fn/txnat.h) as transactions: the same code as
 * the vnfs/fn functions of those names, its gets and puts through the transaction (so through
 * the partition locks on the head's threads). A packet of a known flow reads one mapping (a
 * read-only transaction: its log names the partition read, no delta); a new flow writes its
 * mappings and the shared allocator record (SimpleNAT's cursor, MazuNAT's table size), which
 * new flows on different threads take in turn. Replicas apply the written records, so a
 * replica or a recovered head translates every known flow as the head did. Parameters: the
 * functions' own, "KEY=VALUE ...". */
struct txnat_mbox {
    struct txnat_conf conf;
};

static bool
txnat_mbox_get(void *aux, const void *key, size_t key_len, bool for_write,
               const uint8_t **valuep, size_t *value_lenp)
{
    return (for_write ? ftc_tx_get_for_write : ftc_tx_get)(aux, key, key_len, valuep,
                                                           value_lenp);
}

static int
txnat_mbox_put(void *aux, const void *key, size_t key_len, const void *value,
               size_t value_len)
{
    return ftc_tx_put(aux, key, key_len, value, value_len);
}

static int
txnat_mbox_create(enum txnat_kind kind, const char *params, void **privp, char **errp)
{
    struct nf_param list[8];
    char *copy = xstrdup(params ? params : ""), *save = NULL;
    struct txnat_mbox *m = xzalloc(sizeof *m);
    char *err = NULL;
    size_t n = 0;
    int error = EINVAL;

    for (char *t = strtok_r(copy, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (n >= ARRAY_SIZE(list) || !nf_param_parse(t, &list[n])) {
            err = xasprintf("bad parameter '%s'", t);
            goto out;
        }
        n++;
    }
    error = txnat_conf_parse(kind, list, n, &m->conf, &err);
out:
    if (error) {
        if (errp) {
            *errp = xasprintf("%s: %s", kind == TXNAT_MAZU ? "mazunat" : "simplenat", err);
        }
        free(m);
    } else {
        *privp = m;
    }
    free(err);
    free(copy);
    return error;
}

static int
simplenat_mbox_create(unsigned index, const char *params, void **privp, char **errp)
{
    (void) index;
    return txnat_mbox_create(TXNAT_SIMPLE, params, privp, errp);
}

static int
mazunat_mbox_create(unsigned index, const char *params, void **privp, char **errp)
{
    (void) index;
    return txnat_mbox_create(TXNAT_MAZU, params, privp, errp);
}

static void
txnat_mbox_destroy(void *priv)
{
    free(priv);
}

static enum ftc_verdict
txnat_mbox_process(void *priv, struct ftc_tx *tx, struct buf *pkt)
{
    const struct txnat_mbox *m = priv;
    const struct txnat_store s = { txnat_mbox_get, txnat_mbox_put, tx };

    return txnat_process(&m->conf, &s, pkt->data, pkt->len) == NF_DROP ? FTC_FILTER
                                                                      : FTC_FORWARD;
}

static const struct ftc_mbox_class ftc_mbox_simplenat = {
    .name = "simplenat",
    .summary = "the paper's SimpleNAT as a transaction: new flows share one port cursor",
    .concurrent = true,
    .create = simplenat_mbox_create,
    .destroy = txnat_mbox_destroy,
    .process = txnat_mbox_process,
};

static const struct ftc_mbox_class ftc_mbox_mazunat = {
    .name = "mazunat",
    .summary = "the paper's MazuNAT as a transaction: per-connection mappings, a shared table",
    .concurrent = true,
    .create = mazunat_mbox_create,
    .destroy = txnat_mbox_destroy,
    .process = txnat_mbox_process,
};

static const struct ftc_mbox_class *const ftc_mboxes[] = {
    &ftc_mbox_stamp,
    &ftc_mbox_nf,
    &ftc_mbox_monitor,
    &ftc_mbox_simplenat,
    &ftc_mbox_mazunat,
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
