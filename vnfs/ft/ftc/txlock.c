/* txlock — strict two-phase locking with wound-wait over FTC's state partitions, and the
 * multithreaded Monitor on it (see txlock.h). */
#include "vnfs/ft/ftc/txlock.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/ft/ftc/ftc.h"
#include "vnfs/lib/util.h"

void
ftc_locks_init(struct ftc_locks *l, unsigned n_parts)
{
    memset(l, 0, sizeof *l);
    l->n_parts = n_parts;
    l->parts = xcalloc(n_parts, sizeof *l->parts);
    for (unsigned p = 0; p < n_parts; p++) {
        l->parts[p].excl = -1;
    }
    l->next_ts = 1;
    pthread_mutex_init(&l->mutex, NULL);
    pthread_cond_init(&l->changed, NULL);
}

void
ftc_locks_destroy(struct ftc_locks *l)
{
    free(l->parts);
    pthread_mutex_destroy(&l->mutex);
    pthread_cond_destroy(&l->changed);
}

void
ftc_txn_begin(struct ftc_locks *l, int slot, bool retry)
{
    struct ftc_txn *t = &l->txns[slot];

    if (!retry || !t->ts) {
        t->ts = l->next_ts++;
    }
    t->wounded = false;
    t->active = true;
}

/* The requester 'slot' meets holder 'h': wounds it when the requester is older. */
static void
meet(struct ftc_locks *l, int slot, int h)
{
    struct ftc_txn *t = &l->txns[slot], *o = &l->txns[h];

    if (t->ts < o->ts && !o->wounded) {
        o->wounded = true;
        t->wounds++;
        l->n_wounds++;
    }
}

enum ftc_lock_result
ftc_lock_try(struct ftc_locks *l, int slot, unsigned part, bool excl)
{
    struct ftc_lock_part *p = &l->parts[part];
    uint64_t me = 1ull << slot;
    uint64_t others = p->shared & ~me;
    bool conflict = false;

    if (l->txns[slot].wounded) {
        return FTC_LOCK_ABORT;
    }
    if (p->excl == slot) {
        return FTC_LOCK_GRANTED;                    /* Held already, the strongest mode. */
    }
    if (p->excl >= 0) {
        meet(l, slot, p->excl);
        conflict = true;
    }
    if (excl && others) {
        for (int h = 0; h < FTC_LOCK_MAX_TXNS; h++) {
            if (others & (1ull << h)) {
                meet(l, slot, h);
            }
        }
        conflict = true;
    }
    if (conflict) {
        l->n_waits++;
        return FTC_LOCK_WAIT;
    }
    if (excl) {
        p->shared &= ~me;                           /* An upgrade. */
        p->excl = slot;
    } else {
        p->shared |= me;
    }
    return FTC_LOCK_GRANTED;
}

void
ftc_lock_release_slot(struct ftc_locks *l, int slot)
{
    uint64_t me = 1ull << slot;

    for (unsigned p = 0; p < l->n_parts; p++) {
        l->parts[p].shared &= ~me;
        if (l->parts[p].excl == slot) {
            l->parts[p].excl = -1;
        }
    }
    l->txns[slot].active = false;
}

void
ftc_txn_begin_mt(struct ftc_locks *l, int slot, bool retry)
{
    pthread_mutex_lock(&l->mutex);
    ftc_txn_begin(l, slot, retry);
    pthread_mutex_unlock(&l->mutex);
}

int
ftc_lock_acquire(struct ftc_locks *l, int slot, unsigned part, bool excl)
{
    enum ftc_lock_result r;
    uint64_t wounds;

    pthread_mutex_lock(&l->mutex);
    for (;;) {
        wounds = l->n_wounds;
        r = ftc_lock_try(l, slot, part, excl);
        if (r != FTC_LOCK_WAIT) {
            break;
        }
        if (l->n_wounds != wounds) {
            /* A holder we wounded may be blocked itself: it must wake to abort. */
            pthread_cond_broadcast(&l->changed);
        }
        pthread_cond_wait(&l->changed, &l->mutex);
    }
    if (r == FTC_LOCK_ABORT) {
        l->txns[slot].aborts++;
    }
    pthread_mutex_unlock(&l->mutex);
    return r == FTC_LOCK_GRANTED ? 0 : ECANCELED;
}

void
ftc_lock_release_all(struct ftc_locks *l, int slot)
{
    pthread_mutex_lock(&l->mutex);
    ftc_lock_release_slot(l, slot);
    pthread_cond_broadcast(&l->changed);
    pthread_mutex_unlock(&l->mutex);
}

/* The multithreaded Monitor. */

static unsigned
mtmon_part(const struct ftc_mtmon *m, uint32_t key)
{
    return ftc_partition_of(&key, sizeof key, m->n_parts);
}

int
ftc_mtmon_init(struct ftc_mtmon *m, unsigned n_threads, unsigned sharing, unsigned n_parts)
{
    if (!n_threads || n_threads > FTC_LOCK_MAX_TXNS || !sharing || !n_parts
        || n_parts > FTC_MAX_PARTS) {
        return EINVAL;
    }
    memset(m, 0, sizeof *m);
    m->n_threads = n_threads;
    m->sharing = sharing;
    m->n_flows = (n_threads + sharing - 1) / sharing;
    m->n_parts = n_parts;
    ftc_locks_init(&m->locks, n_parts);
    m->counters = xcalloc(m->n_flows + 1, sizeof *m->counters);
    m->seq = xcalloc(n_parts, sizeof *m->seq);
    m->logs = xcalloc(n_threads, sizeof *m->logs);
    m->n_logs = xcalloc(n_threads, sizeof *m->n_logs);
    m->cap_logs = xcalloc(n_threads, sizeof *m->cap_logs);
    return 0;
}

void
ftc_mtmon_destroy(struct ftc_mtmon *m)
{
    for (unsigned t = 0; t < m->n_threads; t++) {
        free(m->logs[t]);
    }
    free(m->logs);
    free(m->n_logs);
    free(m->cap_logs);
    free(m->counters);
    free(m->seq);
    ftc_locks_destroy(&m->locks);
}

/* The counter of 'key' (a flow or the total). */
static uint64_t *
mtmon_counter(struct ftc_mtmon *m, uint32_t key)
{
    return &m->counters[key == FTC_MTMON_TOTAL ? m->n_flows : key];
}

/* One attempt of thread 't''s transaction: 0 (committed, '*log' filled) or ECANCELED. The
 * read-modify-write of each counter is spread out (a yield between read and write) so that
 * threads without concurrency control lose updates. */
static int
mtmon_attempt(struct ftc_mtmon *m, unsigned t, bool reverse, struct ftc_mtlog *log)
{
    uint32_t keys[2] = { t / m->sharing, FTC_MTMON_TOTAL };
    uint64_t v[2];

    if (reverse) {
        keys[0] = FTC_MTMON_TOTAL;
        keys[1] = t / m->sharing;
    }
    memset(log, 0, sizeof *log);
    for (unsigned i = 0; i < 2; i++) {
        volatile uint64_t *c;

        if (!m->no_locks && ftc_lock_acquire(&m->locks, t, mtmon_part(m, keys[i]), true)) {
            return ECANCELED;
        }
        c = mtmon_counter(m, keys[i]);
        v[i] = *c;
        sched_yield();
        *c = v[i] + 1;
        log->key[i] = keys[i];
        log->part[i] = mtmon_part(m, keys[i]);
        log->value[i] = v[i] + 1;
    }
    /* Commit point: every lock is held, so each written partition's number is the order of
     * its writers. One number per partition, even when both counters are in it. */
    log->n = 2;
    log->seq[0] = m->seq[log->part[0]]++;
    log->seq[1] = log->part[1] == log->part[0] ? log->seq[0] : m->seq[log->part[1]]++;
    return 0;
}

void
ftc_mtmon_packet(struct ftc_mtmon *m, unsigned t, bool reverse)
{
    struct ftc_mtlog log;
    bool retry = false;

    for (;;) {
        ftc_txn_begin_mt(&m->locks, t, retry);
        if (!mtmon_attempt(m, t, reverse, &log)) {
            break;
        }
        /* Wounded: undo what this attempt wrote (strict 2PL: nobody read it), release, and
         * run again with the same age. */
        for (unsigned i = 0; i < 2 && log.value[i]; i++) {
            *mtmon_counter(m, log.key[i]) = log.value[i] - 1;
        }
        ftc_lock_release_all(&m->locks, t);
        retry = true;
    }
    ftc_lock_release_all(&m->locks, t);
    if (m->n_logs[t] == m->cap_logs[t]) {
        m->cap_logs[t] = m->cap_logs[t] ? 2 * m->cap_logs[t] : 64;
        m->logs[t] = xrealloc(m->logs[t], m->cap_logs[t] * sizeof *m->logs[t]);
    }
    m->logs[t][m->n_logs[t]++] = log;
}

struct mtmon_thread {
    struct ftc_mtmon *m;
    unsigned t, packets;
};

static void *
mtmon_main(void *a_)
{
    struct mtmon_thread *a = a_;

    for (unsigned i = 0; i < a->packets; i++) {
        ftc_mtmon_packet(a->m, a->t, (i + a->t) % 2);
    }
    return NULL;
}

int
ftc_mtmon_run(struct ftc_mtmon *m, unsigned packets)
{
    pthread_t th[FTC_LOCK_MAX_TXNS];
    struct mtmon_thread args[FTC_LOCK_MAX_TXNS];
    unsigned started = 0;
    int error = 0;

    for (unsigned t = 0; t < m->n_threads; t++) {
        args[t] = (struct mtmon_thread) { m, t, packets };
        error = pthread_create(&th[t], NULL, mtmon_main, &args[t]);
        if (error) {
            break;
        }
        started++;
    }
    for (unsigned t = 0; t < started; t++) {
        pthread_join(th[t], NULL);
    }
    return error;
}

/* One write of a log, for sorting a partition's writes by number. */
struct mtmon_write {
    uint64_t seq;
    uint32_t key;
    uint64_t value;
};

static int
write_cmp(const void *a_, const void *b_)
{
    const struct mtmon_write *a = a_, *b = b_;

    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

int
ftc_mtmon_replay(const struct ftc_mtmon *m, uint64_t *counters)
{
    size_t total = 0;
    int error = 0;

    for (unsigned t = 0; t < m->n_threads; t++) {
        total += m->n_logs[t] * 2;
    }
    memset(counters, 0, (m->n_flows + 1) * sizeof *counters);
    for (unsigned p = 0; p < m->n_parts && !error; p++) {
        struct mtmon_write *w = xcalloc(total ? total : 1, sizeof *w);
        size_t n = 0;
        uint64_t next = 0;

        for (unsigned t = 0; t < m->n_threads; t++) {
            for (size_t i = 0; i < m->n_logs[t]; i++) {
                const struct ftc_mtlog *log = &m->logs[t][i];
                for (unsigned k = 0; k < log->n; k++) {
                    if (log->part[k] == p) {
                        w[n++] = (struct mtmon_write) { log->seq[k], log->key[k],
                                                        log->value[k] };
                    }
                }
            }
        }
        qsort(w, n, sizeof *w, write_cmp);
        for (size_t i = 0; i < n && !error; i++) {
            uint64_t *c = &counters[w[i].key == FTC_MTMON_TOTAL ? m->n_flows : w[i].key];

            /* Numbers 0, 1, 2...: a transaction writing both counters here has one. */
            if (w[i].seq != next && !(i && w[i].seq == w[i - 1].seq)) {
                error = EPROTO;
            } else if (w[i].value != *c + 1) {
                error = EPROTO;     /* Not what its predecessor in the order left + 1. */
            }
            *c = w[i].value;
            next = w[i].seq + 1;
        }
        free(w);
    }
    return error;
}
