/* txlock — FTC's concurrency control for a multithreaded head (SIGCOMM'20 §4.2): each packet
 * transaction takes the locks of the state partitions it reads (shared) or writes (exclusive)
 * and keeps them to its end (strict two-phase locking); deadlocks are prevented by wound-wait.
 * Every transaction has a timestamp, kept across its retries so that it ages: an older
 * transaction that wants a lock a younger one holds wounds it (the younger aborts at its next
 * lock request, or at once if it is waiting, releases everything and runs again); a younger one
 * that wants a lock an older one holds waits. Waits only ever go from younger to older, so there
 * is no cycle.
 *
 * Two layers. ftc_lock_try() is the deterministic decision (granted, wait, abort) over the
 * table, for a caller that already serializes access to it (unit tests drive it step by step).
 * ftc_lock_acquire() and ftc_lock_release_all() are the threaded API around it: one mutex for
 * the table, one condition variable, a blocked transaction waking on every release and wound.
 *
 * The head's transactions take these locks through struct ftc_txcc (vnfs/ft/ftc/ftc.h,
 * ftc_replica's 'threads').
 *
 * Not thread-safe beyond what is said: ftc_lock_try() needs the caller's serialization.
 * Main types: struct ftc_locks, struct ftc_txn. */
#ifndef SFC_FT_FTC_TXLOCK_H
#define SFC_FT_FTC_TXLOCK_H 1

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FTC_LOCK_MAX_TXNS 64        /* Transactions in progress at once (threads). */

enum ftc_lock_result {
    FTC_LOCK_GRANTED,
    FTC_LOCK_WAIT,                  /* A conflicting holder is older (or wounded, not gone). */
    FTC_LOCK_ABORT,                 /* The requester was wounded: release all and retry. */
};

/* One transaction's slot in the table. */
struct ftc_txn {
    uint64_t ts;                    /* Its age: smaller is older. Kept across retries. */
    bool wounded;
    bool active;
    uint64_t wounds, aborts;        /* Given to others; suffered. */
};

struct ftc_lock_part {
    uint64_t shared;                /* Bitmask of transaction slots holding it shared. */
    int excl;                       /* The slot holding it exclusive, or -1. */
};

struct ftc_locks {
    unsigned n_parts;
    struct ftc_lock_part *parts;
    struct ftc_txn txns[FTC_LOCK_MAX_TXNS];
    uint64_t next_ts;
    pthread_mutex_t mutex;
    pthread_cond_t changed;
    uint64_t n_wounds, n_waits;
};

void ftc_locks_init(struct ftc_locks *, unsigned n_parts);
void ftc_locks_destroy(struct ftc_locks *);

/* Slot 'slot' starts a new transaction (a fresh timestamp), or retries its current one
 * ('retry': the same timestamp, no longer wounded). Caller-serialized. */
void ftc_txn_begin(struct ftc_locks *, int slot, bool retry);
/* The decision for 'slot' asking partition 'part' ('excl': to write). A conflicting younger
 * holder is wounded when the requester is older. Caller-serialized. */
enum ftc_lock_result ftc_lock_try(struct ftc_locks *, int slot, unsigned part, bool excl);
/* Releases every lock of 'slot' (commit or abort); its transaction ends. Caller-serialized. */
void ftc_lock_release_slot(struct ftc_locks *, int slot);

/* Threaded: blocks until granted (0) or the transaction is wounded (ECANCELED: call
 * ftc_lock_release_all() and retry it with ftc_txn_begin_mt(..., true)). */
int ftc_lock_acquire(struct ftc_locks *, int slot, unsigned part, bool excl);
void ftc_lock_release_all(struct ftc_locks *, int slot);
void ftc_txn_begin_mt(struct ftc_locks *, int slot, bool retry);

#endif
