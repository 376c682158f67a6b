/* txlock — strict two-phase locking with wound-wait over FTC's state partitions (see
 * txlock.h). */
#include "vnfs/ft/ftc/txlock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
