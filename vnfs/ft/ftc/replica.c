/* ftc_replica — one member of FTC's ring (ftc.h): head of its middlebox's replication group,
 * replica of the f groups before it, tail of the f-th one before it.
 *
 * Per group it belongs to it keeps the group's store, its MAX vector (the head's dependency
 * vector when it is the head), the epochs the group went through (epoch, start vector), and the
 * logs it applied that no commit vector covers yet (for retransmission and for a recovering
 * member; a tail keeps none: its own commit vector covers each log it applies at once). A
 * middle replica (0 < position < f) holds a packet whose logs are not all applicable yet (up
 * to FTC_MAX_HELD) and re-examines it whenever a log is applied: its
 * successors must get the logs in order. A tail keeps such a log in its stash instead, leaves
 * it on the packet (the buffer then waits for this group's commit to cover it) and forwards the
 * packet: a loss between replicas does not stop the data behind it (with f = 1 no replica ever
 * holds). Either way the predecessor is asked for the missing logs on the spot (a tail names
 * where its stash begins, so only the gap comes back, in up to FTC_RETX_MAX_MSGS messages),
 * again as soon as the whole answer came and repaired part of it, and on ticks while something
 * waits (after a wait that doubles while nothing comes). A restarted replica drops data until
 * it has fetched every group it belongs to. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/state.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/core.h"
#include "vnfs/ft/ftc/ftc.h"
#include "vnfs/ft/ftc/ftc-private.h"
#include "vnfs/ft/ftc/txlock.h"
#include "vnfs/ft/rng.h"
#include "vnfs/ft/u64map.h"

#define FTC_MAX_HELD 4096
#define FTC_MAX_RETAINED 8192
/* Out-of-order logs a tail keeps per group while it asks for the ones before them. */
#define FTC_MAX_STASH 4096
/* The longest wait, in ticks, before asking the predecessor again for logs that did not come. */
#define FTC_RETX_WAIT_MAX 32

/* A retained log's prune key: what ftc_log_classify() asks of a commit of its own epoch for
 * FTC_LOG_APPLIED (MAX[part] >= need for each), kept beside its buffer so that a commit's prune
 * judges the oldest logs without reading them (their bytes, retained a lap of the chain ago,
 * are out of the cache: the parse was 1.3% of a middle guest's CPU under bench/ftc.sh's load,
 * session 18). A log with more entries than fit is read as before. */
#define FTC_PRUNE_KEY 2
#define FTC_PRUNE_READ UINT8_MAX    /* n_need: no key, read the log. */

struct ftc_logbuf {
    uint8_t *data;
    size_t len;
    size_t cap;                 /* Retained logs: what 'data' holds room for. */
    uint32_t epoch;
    uint8_t n_need;
    uint8_t need_part[FTC_PRUNE_KEY];
    uint64_t need[FTC_PRUNE_KEY];
};
/* A retained log's bytes are followed by the group's 'retain_need' once it was retained
 * (n_parts native u64s, ftc_retained_need()). */
/* A stashed log and where the stash's indexes find it. */
struct ftc_stashed {
    uint8_t *data;              /* NULL: applied or dead (the slot is free). */
    size_t len;
    uint64_t hash;              /* Of the bytes: its key in 'stash_index'. */
    uint64_t wait;              /* Its key in 'stash_wait'; UINT64_MAX: an epoch change. */
    size_t next;                /* The next slot waiting on the same; SIZE_MAX: none. */
};
#define FTC_STASH_WAIT(P, N) ((N) * FTC_MAX_PARTS + (P))
/* A group keeps the buffers of the logs it pruned for the next ones it retains: every packet
 * retains a log in each group it passes and a commit prunes as many, so without them each
 * packet cost a malloc and a free per group (4% of a replica's time on a chain of 5, by perf).
 * All of them, not a fixed number: on a chain whose guests run at a CPU quota commits come in
 * bursts, one pruning hundreds of logs, and with 64 kept the next hundreds retained were
 * allocated again (malloc and free ~2% of a middle guest's CPU under bench/ftc.sh's load,
 * session 18). So the buffers held are at most the most logs the group ever retained. */

struct ftc_group {
    unsigned g;                 /* The middlebox (= its head's ring index). */
    unsigned pos;               /* 0 head .. f tail. */
    /* Keeps the logs it applies (pos < f): its successors in the group may ask for them
     * again. A tail's own commit vector, which it attaches to the packet that brought the
     * log, covers each at once: retaining and pruning it again cost a copy and a parse per
     * packet for nothing. */
    bool retains;
    bool ready;
    uint32_t epoch;
    struct ftc_epoch hist[FTC_MAX_EPOCHS];
    size_t n_hist;
    uint64_t max[FTC_MAX_PARTS];
    struct nf_state *store;
    /* Retained, in the order applied: 'n_logs' from 'logs', which lies 'logs - logs_base'
     * entries into an allocation of 'cap_logs'. Dropping the oldest advances 'logs' (a commit
     * prunes a few of them per packet: moving the hundreds behind them each time cost more
     * than the packet's own work); the rest moves down once the end is reached. */
    struct ftc_logbuf *logs, *logs_base;
    size_t n_logs, cap_logs;
    struct ftc_logbuf *spare;   /* Buffers of pruned logs, for reuse. */
    size_t cap_spare;
    /* Per partition, what MAX must be for every log retained so far to be applied (a write's
     * number + 1, a read's number), raised to MAX where MAX is exact (a log applied here; a
     * fetched image's end): kept with each retained log, it rises along them, and since each
     * partition's logs are retained in the order of their numbers, no later log writes below
     * it. So a request is answered from the first log the asker lacks to the last it asked
     * for, both found by binary search, not by reading every log retained. */
    uint64_t retain_need[FTC_MAX_PARTS];
    unsigned n_parts;           /* The replica's P: the width of the vectors kept. */
    size_t n_spare;
    uint64_t log_allocs;        /* Buffers allocated (or grown) for retained logs. */
    /* Tail only: logs that do not apply yet (FUTURE), 'n_stash' of them in the first
     * 'end_stash' slots (a slot whose log applied or died is empty until the next compaction). */
    struct ftc_stashed *stash;
    size_t n_stash, end_stash, cap_stash;
    /* What keeps the stash's cost per packet from growing with it (a tail thousands of logs
     * behind at its CPU quota spent its time scanning it, then re-reading it at every hole
     * repaired: session 16): a stashed log's bytes' hash -> its slot, for the duplicate check;
     * and FTC_STASH_WAIT(p, n) -> the first slot of the logs waiting for MAX[p] to reach n, so
     * that MAX moving reads only the logs it may make READY or APPLIED. 'stash_max' is the MAX
     * they were last judged against; the epoch and history length too, as DEAD depends on
     * those (a change judges the whole stash again). */
    struct u64map stash_index;
    struct u64map stash_wait;
    /* Where the gap a request names ends (per partition the lowest number a stashed log writes,
     * UINT64_MAX if none), kept as the stash changes: read off the whole stash, it cost a pass
     * over thousands of logs per request. 'stash_writes' counts the stashed logs writing
     * FTC_STASH_WAIT(p, n); 'stash_ceil' is the highest n it has for p. */
    uint64_t stash_floor[FTC_MAX_PARTS];
    uint64_t stash_ceil[FTC_MAX_PARTS];
    struct u64map stash_writes;
    uint64_t stash_max[FTC_MAX_PARTS];
    uint32_t stash_epoch;
    size_t stash_hist;
    unsigned cand;              /* Recovering: which candidate (index into candidates). */
    bool resync;                /* Asked the predecessor for its image: it no longer has the
                                 * logs we lack (a recovered member's image is bounded). */
    uint64_t retx_ns;           /* When we last asked the predecessor for logs (or last got a
                                 * message of its answer that applied). */
    uint64_t retx_max[FTC_MAX_PARTS];   /* Our MAX when we asked. */
    uint64_t retx_wait;         /* Not asked again before retx_ns + this, unless... */
    bool retx_pending;          /* ...the answer's last message came and MAX moved. */
};

struct ftc_held {
    uint8_t *data;
    size_t len;
    uint64_t since_ns;
};

/* threads > 1: a packet that came in the batch in hand, until the batch's end. */
struct ftc_pending {
    uint8_t *data;              /* The packet as it came (what 'in''s logs point into). */
    size_t len;
    enum ftc_packet_type type;
    bool tx;                    /* Prepared, and the middlebox runs on it. */
    bool ready;                 /* Prepared (else dropped or held). */
    struct ftc_message *in;     /* 'data' parsed ('pass' points into it). */
    struct ftc_refs pass;
    struct buf pkt, upd;        /* The inner packet; the transaction's delta. */
    struct ftc_log log;
    bool has_log;
    enum ftc_verdict verdict;
    uint64_t ticket;
};

/* The head's transaction threads: 'threads' - 1 of them beside the core's own, parked on 'go'
 * between batches. A batch is published in one word, 'claim': its number (high 32 bits), its
 * transactions (16 bits) and the next one not taken (low 16 bits); a thread takes one by
 * compare-and-swap, so a thread that wakes late takes nothing of a batch already done, or
 * helps with the one in hand. The core's thread wakes only as many as the batch has
 * transactions beyond its own first, runs them too, and waits only for those taken by others
 * to finish ('finished'): not for every thread to check in, as a fork and join per batch
 * would (on a host with fewer cores than threads, a wake-up and a wait per thread per batch
 * cost more than the transactions). */
struct ftc_pool {
    pthread_t *th;
    unsigned n;
    pthread_mutex_t mutex;
    pthread_cond_t go, done;
    unsigned idle;              /* Threads waiting on 'go'. */
    bool stop;
    uint64_t claim;             /* Atomic. */
    size_t finished;            /* Atomic: transactions of this batch done. */
};

struct ftc_replica {
    struct ft_core up;
    uint32_t self;
    unsigned x, R, n, f, P;
    uint32_t ring[FTC_MAX_GROUPS];
    bool down[FTC_MAX_GROUPS];
    uint32_t next;
    uint64_t tick_ns;
    uint64_t max_msg;           /* Bytes a peer message may take (the link's MTU). */
    uint32_t incarnation;
    uint64_t now_ns;            /* Of the event being handled. */
    bool all_ready;
    struct ftc_group groups[FTC_MAX_GROUPS];
    size_t n_groups;
    /* Group number (a log's or commit's u8) -> 1 + its index in 'groups', 0: not ours. Looked
     * up for every log and commit a packet carries, several times (a scan of 'groups' each
     * time was ~3% of a middle replica's instructions). */
    uint8_t group_slot[UINT8_MAX + 1];
    const struct ftc_mbox_class *mbox;
    void *mbox_priv;
    struct ftc_held *held;            /* FTC_MAX_HELD of them. */
    size_t n_held;
    struct ftc_replica_stats stats;
    struct ftc_message *in, *tmp;           /* Scratch (large). */
    /* What of a packet goes on (ftc_replica_prepare()): the logs and commits it brought that
     * still do, pointing into 'in' (a parsed log or commit is a few hundred bytes of struct,
     * and a packet on a chain of n carries n commit vectors), then what this replica adds. */
    struct ftc_refs pass;
    struct buf pkt, upd, msg;
    /* FTC_MSG_COMMIT: where (0: not sent), whether one is due (a timer at "now": once the
     * batch of packets in hand is done), and what was last sent, per group. */
    uint32_t commit_to;
    bool commit_armed;
    bool tail_wrapped;          /* Tail of a group whose head comes later: commits to send. */
    bool tick_armed;            /* ftc_replica_arm_tick(). */
    uint64_t commit_sent[FTC_MAX_GROUPS][FTC_MAX_PARTS];
    uint32_t commit_sent_epoch[FTC_MAX_GROUPS];
    /* threads > 1. What runs in parallel: only the middlebox's transactions of the packets of
     * one batch (the packets that came in since the batch timer was armed, at most
     * FTC_MAX_PENDING), over the head's store and MAX vector, under the partition locks
     * ('locks', strict 2PL with wound-wait) and 'store_mutex' around each store operation.
     * Everything else (applying other groups' logs, holding, commits, pruning, retransmission,
     * state transfer, sending) runs on the core's thread between batches, as with one
     * thread: no other group's state is ever touched by two threads. */
    unsigned threads;
    bool late_seq;              /* Tests only: number logs after releasing the locks. */
    struct ftc_locks locks;
    pthread_mutex_t store_mutex;
    struct ftc_txcc *cc;        /* Per thread (slot). */
    struct buf *orig;           /* Per thread: the inner packet before a transaction's try. */
    uint64_t tickets;
    struct ftc_pending *pending;
    size_t n_pending;
    size_t *work;               /* This batch's pending packets with a transaction. */
    size_t n_work;
    bool batch_armed;
    struct ftc_pool pool;
};

#define FTC_REPLICA_TIMER_TICK 1
#define FTC_REPLICA_TIMER_COMMIT 2
#define FTC_REPLICA_TIMER_BATCH 3

/* threads > 1: packets of one batch, whose transactions run in parallel. */
#define FTC_MAX_PENDING 64

static struct ftc_replica *
ftc_replica_cast(const struct ft_core *core)
{
    return (struct ftc_replica *) core;
}

static struct ftc_group *
ftc_group_find(struct ftc_replica *r, unsigned g)
{
    unsigned i = g < ARRAY_SIZE(r->group_slot) ? r->group_slot[g] : 0;

    return i ? &r->groups[i - 1] : NULL;
}

static unsigned
ftc_ring_index(const struct ftc_replica *r, uint32_t endpoint)
{
    for (unsigned i = 0; i < r->R; i++) {
        if (r->ring[i] == endpoint) {
            return i;
        }
    }
    return UINT32_MAX;
}

/* Forgets the stash's indexes (its slots are free or freed). */
static void
ftc_group_stash_empty(struct ftc_group *gr)
{
    gr->n_stash = gr->end_stash = 0;
    u64map_clear(&gr->stash_index);
    u64map_clear(&gr->stash_wait);
    u64map_clear(&gr->stash_writes);
    for (size_t p = 0; p < FTC_MAX_PARTS; p++) {
        gr->stash_floor[p] = UINT64_MAX;
        gr->stash_ceil[p] = 0;
    }
}

static void
ftc_group_reset(struct ftc_replica *r, struct ftc_group *gr)
{
    for (size_t i = 0; i < gr->n_logs; i++) {
        free(gr->logs[i].data);
    }
    gr->n_logs = 0;
    gr->logs = gr->logs_base;
    memset(gr->retain_need, 0, sizeof gr->retain_need);
    for (size_t i = 0; i < gr->end_stash; i++) {
        free(gr->stash[i].data);
    }
    ftc_group_stash_empty(gr);
    if (gr->store) {
        state_destroy(gr->store);
    }
    gr->store = state_create();
    memset(gr->max, 0, sizeof gr->max);
    gr->epoch = 0;
    gr->n_hist = 1;
    memset(&gr->hist[0], 0, sizeof gr->hist[0]);
    (void) r;
}

static void ftc_replica_destroy(struct ft_core *);
static bool ftc_replica_run_work(struct ftc_replica *, unsigned slot);

#define FTC_CLAIM(batch, n, next) ((uint64_t) (batch) << 32 | (uint64_t) (n) << 16 | (next))
#define FTC_CLAIM_N(c) ((size_t) ((c) >> 16 & 0xffff))
#define FTC_CLAIM_NEXT(c) ((size_t) ((c) & 0xffff))

/* Takes the next transaction of the batch published, if one is left: true, with its index in
 * r->work and the batch's count of transactions in '*n'. */
static bool
ftc_pool_take(struct ftc_pool *pool, size_t *i, size_t *n)
{
    uint64_t c = __atomic_load_n(&pool->claim, __ATOMIC_ACQUIRE);

    while (FTC_CLAIM_NEXT(c) < FTC_CLAIM_N(c)) {
        if (__atomic_compare_exchange_n(&pool->claim, &c, c + 1, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            *i = FTC_CLAIM_NEXT(c);
            *n = FTC_CLAIM_N(c);
            return true;
        }
    }
    return false;
}

static void *
ftc_pool_main(void *arg)
{
    struct ftc_replica *r = arg;
    struct ftc_pool *pool = &r->pool;
    unsigned slot;

    pthread_mutex_lock(&pool->mutex);
    slot = 1 + pool->idle++;            /* Slot 0 is the core's own thread. */
    if (pool->idle == pool->n) {
        pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->mutex);
    for (;;) {
        bool last;

        /* Whether anything is left to take is checked under the mutex the core's thread
         * publishes a batch under, so that no batch's wake-up is missed. */
        pthread_mutex_lock(&pool->mutex);
        for (;;) {
            uint64_t c = __atomic_load_n(&pool->claim, __ATOMIC_ACQUIRE);

            if (pool->stop || FTC_CLAIM_NEXT(c) < FTC_CLAIM_N(c)) {
                break;
            }
            pthread_cond_wait(&pool->go, &pool->mutex);
        }
        if (pool->stop) {
            pthread_mutex_unlock(&pool->mutex);
            break;
        }
        pool->idle--;
        pthread_mutex_unlock(&pool->mutex);
        last = ftc_replica_run_work(r, slot);
        pthread_mutex_lock(&pool->mutex);
        pool->idle++;
        pthread_mutex_unlock(&pool->mutex);
        if (last) {
            /* The core's thread checks 'finished' under the mutex before it waits: after
             * the lock above, it either saw our count or waits for this. Signalled outside
             * the mutex, so that it does not wake only to block on it. */
            pthread_cond_signal(&pool->done);
        }
    }
    return NULL;
}

/* The locks, the per-thread contexts, the batch and the threads beside the core's own. */
static int
ftc_replica_threads_start(struct ftc_replica *r)
{
    struct ftc_pool *pool = &r->pool;
    int error = 0;

    ftc_locks_init(&r->locks, r->P);
    pthread_mutex_init(&r->store_mutex, NULL);
    r->cc = xcalloc(r->threads, sizeof *r->cc);
    r->orig = xcalloc(r->threads, sizeof *r->orig);
    for (unsigned t = 0; t < r->threads; t++) {
        ftc_txcc_init(&r->cc[t], &r->locks, &r->store_mutex, t);
        buf_init(&r->orig[t]);
    }
    r->pending = xcalloc(FTC_MAX_PENDING, sizeof *r->pending);
    for (size_t i = 0; i < FTC_MAX_PENDING; i++) {
        r->pending[i].in = xzalloc(sizeof *r->pending[i].in);
        buf_init(&r->pending[i].pkt);
        buf_init(&r->pending[i].upd);
    }
    r->work = xcalloc(FTC_MAX_PENDING, sizeof *r->work);
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->go, NULL);
    pthread_cond_init(&pool->done, NULL);
    pool->th = xcalloc(r->threads - 1, sizeof *pool->th);
    pthread_mutex_lock(&pool->mutex);
    for (unsigned t = 0; t + 1 < r->threads; t++) {
        error = pthread_create(&pool->th[t], NULL, ftc_pool_main, r);
        if (error) {
            break;
        }
        pool->n++;
    }
    /* Each takes its slot first. */
    while (pool->idle < pool->n) {
        pthread_cond_wait(&pool->done, &pool->mutex);
    }
    pthread_mutex_unlock(&pool->mutex);
    return error;
}

static void
ftc_replica_threads_stop(struct ftc_replica *r)
{
    struct ftc_pool *pool = &r->pool;

    if (!r->cc) {
        return;
    }
    pthread_mutex_lock(&pool->mutex);
    pool->stop = true;
    pthread_cond_broadcast(&pool->go);
    pthread_mutex_unlock(&pool->mutex);
    for (unsigned t = 0; t < pool->n; t++) {
        pthread_join(pool->th[t], NULL);
    }
    free(pool->th);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->go);
    pthread_cond_destroy(&pool->done);
    for (size_t i = 0; i < FTC_MAX_PENDING; i++) {
        free(r->pending[i].data);
        free(r->pending[i].in);
        buf_uninit(&r->pending[i].pkt);
        buf_uninit(&r->pending[i].upd);
    }
    free(r->pending);
    free(r->work);
    for (unsigned t = 0; t < r->threads; t++) {
        ftc_txcc_uninit(&r->cc[t]);
        buf_uninit(&r->orig[t]);
    }
    free(r->cc);
    free(r->orig);
    pthread_mutex_destroy(&r->store_mutex);
    ftc_locks_destroy(&r->locks);
}

static int
ftc_replica_create(const struct ft_config *cfg, struct ft_core **corep, char **errp)
{
    struct ftc_replica *r;
    uint64_t n, parts, tick, max_msg, commit_to, threads, late_seq;
    const char *mbox = ft_config_param(cfg, "mbox");
    const char *mbox_params = ft_config_param(cfg, "mbox_params");
    int error;

    if ((error = ft_config_u64(cfg, "n", 1, &n, errp))
        || (error = ft_config_u64(cfg, "partitions", 1, &parts, errp))
        || (error = ft_config_duration(cfg, "tick", 1000000, &tick, errp))
        || (error = ft_config_u64(cfg, "max_msg", 60000, &max_msg, errp))
        || (error = ft_config_u64(cfg, "commit_to", 0, &commit_to, errp))
        || (error = ft_config_u64(cfg, "threads", 1, &threads, errp))
        || (error = ft_config_u64(cfg, "test_late_seq", 0, &late_seq, errp))) {
        return error;
    }
    if (!threads || threads > FTC_LOCK_MAX_TXNS) {
        if (errp) {
            *errp = xasprintf("ftc_replica: threads must be 1-%d (got %"PRIu64")",
                              FTC_LOCK_MAX_TXNS, threads);
        }
        return EINVAL;
    }
    if (cfg->n_group < 1 || cfg->n_group > FTC_MAX_GROUPS || cfg->n_next != 1
        || !n || n > cfg->n_group || cfg->f + 1 > cfg->n_group || !parts
        || parts > FTC_MAX_PARTS || !tick
        || (cfg->n_group > n && cfg->n_group != cfg->f + 1)) {
        if (errp) {
            *errp = xasprintf("ftc_replica: needs the ring as group (1-%d, n <= R, f+1 <= R; "
                              "R > n only as f+1), one next hop, partitions 1-%d, tick > 0 "
                              "(got R %zu, n %"PRIu64", f %"PRIu32", next %zu, partitions "
                              "%"PRIu64")", FTC_MAX_GROUPS, FTC_MAX_PARTS, cfg->n_group, n,
                              cfg->f, cfg->n_next, parts);
        }
        return EINVAL;
    }
    r = xzalloc(sizeof *r);
    r->up.class = NULL;
    r->self = cfg->self;
    r->R = cfg->n_group;
    r->n = n;
    r->f = cfg->f;
    r->P = parts;
    r->tick_ns = tick;
    r->max_msg = MAX(max_msg, 512);
    r->commit_to = commit_to;
    memcpy(r->ring, cfg->group, r->R * sizeof *r->ring);
    r->x = ftc_ring_index(r, cfg->self);
    r->next = cfg->next[0];
    if (r->x == UINT32_MAX) {
        if (errp) {
            *errp = xasprintf("ftc_replica: self %"PRIu32" is not in the ring", cfg->self);
        }
        free(r);
        return EINVAL;
    }
    if (r->x < r->n) {
        r->mbox = ftc_mbox_find(mbox ? mbox : "stamp");
        if (!r->mbox) {
            if (errp) {
                *errp = xasprintf("ftc_replica: unknown middlebox '%s'", mbox);
            }
            free(r);
            return EINVAL;
        }
        if (threads > 1 && !r->mbox->concurrent) {
            if (errp) {
                *errp = xasprintf("ftc_replica: middlebox '%s' is not transactional: it "
                                  "runs on one thread only (threads=1)", r->mbox->name);
            }
            free(r);
            return EINVAL;
        }
        error = r->mbox->create(r->x, mbox_params, &r->mbox_priv, errp);
        if (error) {
            free(r);
            return error;
        }
        r->threads = threads;
        r->late_seq = late_seq;
    }
    /* Groups: g = x - d for d = 0..f, when g is a middlebox. */
    for (unsigned d = 0; d <= r->f; d++) {
        unsigned g = (r->x + r->R - d) % r->R;

        if (g < r->n) {
            struct ftc_group *gr = &r->groups[r->n_groups++];

            r->group_slot[g] = r->n_groups;
            gr->g = g;
            gr->pos = d;
            u64map_init(&gr->stash_index);
            u64map_init(&gr->stash_wait);
            u64map_init(&gr->stash_writes);
            gr->retains = d < r->f;
            gr->n_parts = r->P;
            gr->ready = true;
            ftc_group_reset(r, gr);
            r->tail_wrapped |= d == r->f && g > r->x;
        }
    }
    r->all_ready = true;
    r->held = xcalloc(FTC_MAX_HELD, sizeof *r->held);
    r->in = xzalloc(sizeof *r->in);
    r->tmp = xzalloc(sizeof *r->tmp);
    buf_init(&r->pkt);
    buf_init(&r->upd);
    buf_init(&r->msg);
    if (r->threads > 1) {
        error = ftc_replica_threads_start(r);
        if (error) {
            if (errp) {
                *errp = xasprintf("ftc_replica: starting %u threads: %s", r->threads,
                                  strerror(error));
            }
            ftc_replica_destroy(&r->up);
            return error;
        }
    }
    *corep = &r->up;
    return 0;
}

static void
ftc_replica_destroy(struct ft_core *core)
{
    struct ftc_replica *r = ftc_replica_cast(core);

    for (size_t i = 0; i < r->n_groups; i++) {
        struct ftc_group *gr = &r->groups[i];

        for (size_t k = 0; k < gr->n_logs; k++) {
            free(gr->logs[k].data);
        }
        free(gr->logs_base);
        for (size_t k = 0; k < gr->n_spare; k++) {
            free(gr->spare[k].data);
        }
        free(gr->spare);
        for (size_t k = 0; k < gr->end_stash; k++) {
            free(gr->stash[k].data);
        }
        free(gr->stash);
        u64map_destroy(&gr->stash_index);
        u64map_destroy(&gr->stash_wait);
        u64map_destroy(&gr->stash_writes);
        state_destroy(gr->store);
    }
    for (size_t i = 0; i < r->n_held; i++) {
        free(r->held[i].data);
    }
    free(r->held);
    ftc_replica_threads_stop(r);
    if (r->mbox) {
        r->mbox->destroy(r->mbox_priv);
    }
    free(r->in);
    free(r->tmp);
    buf_uninit(&r->pkt);
    buf_uninit(&r->upd);
    buf_uninit(&r->msg);
    free(r);
}

/* The epoch a log of 'epoch' was followed by, in 'hist'; NULL if none. */
static const struct ftc_epoch *
ftc_epoch_after(const struct ftc_epoch *hist, size_t n_hist, uint32_t epoch)
{
    for (size_t i = 0; i < n_hist; i++) {
        if (hist[i].epoch > epoch) {
            return &hist[i];
        }
    }
    return NULL;
}

enum ftc_class
ftc_log_classify(const struct ftc_epoch *hist, size_t n_hist, uint32_t epoch,
                 const uint64_t *max, const struct ftc_log *l)
{
    bool any_write = false, applied = true, ready = true, reads = true;

    if (l->epoch > epoch) {
        return FTC_LOG_FUTURE;
    }
    if (l->epoch < epoch) {
        const struct ftc_epoch *next = ftc_epoch_after(hist, n_hist, l->epoch);

        if (!next || !ftc_log_before(l, next->start)) {
            return FTC_LOG_DEAD;
        }
    }
    for (size_t i = 0; i < l->n_ent; i++) {
        const struct ftc_entry *e = &l->ent[i];
        uint64_t m = max[e->part];

        if (e->write) {
            any_write = true;
            applied &= m > e->seq;
            ready &= m == e->seq;
        } else {
            reads &= m >= e->seq;
        }
    }
    if (!any_write) {
        return reads ? FTC_LOG_APPLIED : FTC_LOG_FUTURE;
    }
    return applied ? FTC_LOG_APPLIED : ready && reads ? FTC_LOG_READY : FTC_LOG_FUTURE;
}

bool
ftc_log_before(const struct ftc_log *l, const uint64_t *start)
{
    for (size_t i = 0; i < l->n_ent; i++) {
        const struct ftc_entry *e = &l->ent[i];

        if (e->write ? e->seq >= start[e->part] : e->seq > start[e->part]) {
            return false;
        }
    }
    return true;
}

static enum ftc_class
ftc_group_classify(const struct ftc_group *gr, const struct ftc_log *l)
{
    return ftc_log_classify(gr->hist, gr->n_hist, gr->epoch, gr->max, l);
}

/* Forgets the 'k' oldest retained logs of 'gr', keeping their buffers. */
static void
ftc_group_drop_oldest(struct ftc_group *gr, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        if (gr->n_spare >= gr->cap_spare) {
            gr->spare = x2nrealloc(gr->spare, &gr->cap_spare, sizeof *gr->spare);
        }
        gr->spare[gr->n_spare++] = gr->logs[i];
    }
    if (k) {
        gr->logs += k;          /* (NULL + 0 is undefined: a group that never retained.) */
        gr->n_logs -= k;
    }
}

/* 'lb''s prune key for 'l': a write's number + 1 for each write; a log without writes, each
 * read's number (ftc_log_classify()'s FTC_LOG_APPLIED, entry by entry). */
static void
ftc_logbuf_key(struct ftc_logbuf *lb, const struct ftc_log *l)
{
    bool any_write = false;

    for (size_t e = 0; e < l->n_ent; e++) {
        any_write |= l->ent[e].write;
    }
    lb->epoch = l->epoch;
    lb->n_need = 0;
    for (size_t e = 0; e < l->n_ent; e++) {
        if (any_write && !l->ent[e].write) {
            continue;
        }
        if (lb->n_need >= FTC_PRUNE_KEY) {
            lb->n_need = FTC_PRUNE_READ;
            return;
        }
        lb->need_part[lb->n_need] = l->ent[e].part;
        lb->need[lb->n_need++] = l->ent[e].seq + l->ent[e].write;
    }
}

/* Keeps 'l' for the group's successors. 'max': the group's MAX just after 'l' where that is
 * exact (a log applied here), else NULL ('retain_need' then takes what 'l' needs). */
static void
ftc_group_retain(struct ftc_group *gr, const struct ftc_log *l, const uint64_t *max)
{
    size_t vlen = gr->n_parts * sizeof *gr->retain_need, room;
    struct ftc_logbuf *lb;

    if (gr->n_logs >= FTC_MAX_RETAINED) {
        /* Commits stopped coming: forget the oldest (a lagging successor then needs a state
         * fetch, as after a failure). */
        ftc_group_drop_oldest(gr, 1);
    }
    if ((size_t) (gr->logs - gr->logs_base) + gr->n_logs >= gr->cap_logs) {
        if (gr->n_logs) {
            memmove(gr->logs_base, gr->logs, gr->n_logs * sizeof *gr->logs);
        }
        if (2 * gr->n_logs >= gr->cap_logs) {
            /* At least half stays free: the next move is as many logs away as it moves. */
            gr->logs_base = x2nrealloc(gr->logs_base, &gr->cap_logs, sizeof *gr->logs);
        }
        gr->logs = gr->logs_base;
    }
    lb = &gr->logs[gr->n_logs];
    if (gr->n_spare) {
        *lb = gr->spare[--gr->n_spare];
    } else {
        lb->data = NULL;
        lb->cap = 0;
    }
    room = (l->wire ? l->wire_len : FTC_LOG_MAX_WIRE(l->n_ent, l->upd_len)) + vlen;
    if (lb->cap < room) {
        lb->cap = MAX(room, 2 * lb->cap);
        lb->data = xrealloc(lb->data, lb->cap);
        gr->log_allocs++;
    }
    lb->len = ftc_log_place(lb->data, l) - lb->data;
    if (max) {
        memcpy(gr->retain_need, max, vlen);
    } else {
        for (size_t e = 0; e < l->n_ent; e++) {
            uint64_t *need = &gr->retain_need[l->ent[e].part];

            *need = MAX(*need, l->ent[e].seq + l->ent[e].write);
        }
    }
    memcpy(lb->data + lb->len, gr->retain_need, vlen);  /* In 'room', past the log. */
    ftc_logbuf_key(lb, l);
    gr->n_logs++;
}

/* Applies a READY log. False (state unchanged) if its delta is malformed. */
static bool
ftc_group_apply(struct ftc_group *gr, const struct ftc_log *l)
{
    if (l->upd_len && state_import_records(gr->store, l->upd, l->upd_len)) {
        return false;
    }
    for (size_t i = 0; i < l->n_ent; i++) {
        if (l->ent[i].write) {
            gr->max[l->ent[i].part] = l->ent[i].seq + 1;
        }
    }
    if (gr->retains) {
        ftc_group_retain(gr, l, gr->max);
    }
    return true;
}

/* Partition 'p' of the 'retain_need' kept with retained log 'k'. */
static uint64_t
ftc_retained_need(const struct ftc_group *gr, size_t k, unsigned p)
{
    uint64_t need;

    memcpy(&need, gr->logs[k].data + gr->logs[k].len + p * sizeof need, sizeof need);
    return need;
}

/* The first retained log whose need is above 'v' in some partition ('above'), or at or above
 * it in every partition (else); n_logs if none. Needs only rise along the retained logs. */
static size_t
ftc_group_find_need(const struct ftc_group *gr, const uint64_t *v, bool above)
{
    size_t lo = 0, hi = gr->n_logs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        bool hit = !above;

        for (unsigned p = 0; p < gr->n_parts; p++) {
            uint64_t need = ftc_retained_need(gr, mid, p);

            if (above ? need > v[p] : need < v[p]) {
                hit = above;
                break;
            }
        }
        if (hit) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return lo;
}

/* What MAX must reach before FUTURE 'l' can be anything else (MAX only moves up, by one per
 * log applied, while the stash holds logs: a resync empties it): an entry it cannot be READY or
 * APPLIED with (a number MAX is below), else a write MAX is at while another is passed (it
 * becomes APPLIED once all are passed). UINT64_MAX: a later epoch, or nothing MAX can change. */
static uint64_t
ftc_group_stash_wait(const struct ftc_group *gr, const struct ftc_log *l)
{
    if (l->epoch > gr->epoch) {
        return UINT64_MAX;
    }
    for (size_t e = 0; e < l->n_ent; e++) {
        if (gr->max[l->ent[e].part] < l->ent[e].seq) {
            return FTC_STASH_WAIT(l->ent[e].part, l->ent[e].seq);
        }
    }
    for (size_t e = 0; e < l->n_ent; e++) {
        if (l->ent[e].write && gr->max[l->ent[e].part] == l->ent[e].seq) {
            return FTC_STASH_WAIT(l->ent[e].part, l->ent[e].seq + 1);
        }
    }
    return UINT64_MAX;
}

/* Puts slot 'i' on the list of the logs waiting on what its 'wait' says. */
static void
ftc_group_stash_list(struct ftc_group *gr, size_t i)
{
    struct ftc_stashed *s = &gr->stash[i];
    uint64_t head;

    s->next = SIZE_MAX;
    if (s->wait != UINT64_MAX) {
        if (u64map_get(&gr->stash_wait, s->wait, &head)) {
            s->next = head;
        }
        u64map_put(&gr->stash_wait, s->wait, i);
    }
}

/* Puts slot 'i' on the list of the logs waiting on what 'l', its log, waits for now. */
static void
ftc_group_stash_link(struct ftc_group *gr, size_t i, const struct ftc_log *l)
{
    gr->stash[i].wait = ftc_group_stash_wait(gr, l);
    ftc_group_stash_list(gr, i);
}

/* Moves the stashed logs to the front, in order, and indexes them again (no log is read). */
static void
ftc_group_stash_compact(struct ftc_group *gr)
{
    size_t k = 0;

    u64map_clear(&gr->stash_index);
    u64map_clear(&gr->stash_wait);
    for (size_t i = 0; i < gr->end_stash; i++) {
        if (gr->stash[i].data) {
            gr->stash[k++] = gr->stash[i];
        }
    }
    gr->end_stash = k;
    for (size_t i = 0; i < k; i++) {
        u64map_put(&gr->stash_index, gr->stash[i].hash, i);
        ftc_group_stash_list(gr, i);
    }
}

/* Counts the writes of 'l' into the stash's floor ('in') or out of it. */
static void
ftc_group_stash_count(struct ftc_group *gr, const struct ftc_log *l, bool in)
{
    for (size_t e = 0; e < l->n_ent; e++) {
        unsigned p = l->ent[e].part;
        uint64_t seq = l->ent[e].seq, n = 0;

        if (!l->ent[e].write) {
            continue;
        }
        u64map_get(&gr->stash_writes, FTC_STASH_WAIT(p, seq), &n);
        if (in) {
            u64map_put(&gr->stash_writes, FTC_STASH_WAIT(p, seq), n + 1);
            gr->stash_floor[p] = MIN(gr->stash_floor[p], seq);
            gr->stash_ceil[p] = MAX(gr->stash_ceil[p], seq);
            continue;
        }
        if (n > 1) {
            u64map_put(&gr->stash_writes, FTC_STASH_WAIT(p, seq), n - 1);
            continue;
        }
        u64map_remove(&gr->stash_writes, FTC_STASH_WAIT(p, seq), NULL);
        /* The floor moves up to the next number stashed: over the hole above it, which the
         * next request asks for anyway. */
        while (gr->stash_floor[p] <= gr->stash_ceil[p]
               && !u64map_get(&gr->stash_writes, FTC_STASH_WAIT(p, gr->stash_floor[p]), &n)) {
            gr->stash_floor[p]++;
        }
        if (gr->stash_floor[p] > gr->stash_ceil[p]) {
            gr->stash_floor[p] = UINT64_MAX;
            gr->stash_ceil[p] = 0;
        }
    }
}

/* Frees slot 'i', whose log is 'l' (applied or dead); it must be on no wait list. */
static void
ftc_group_stash_drop(struct ftc_group *gr, size_t i, const struct ftc_log *l)
{
    struct ftc_stashed *s = &gr->stash[i];
    uint64_t at;

    if (u64map_get(&gr->stash_index, s->hash, &at) && at == i) {
        u64map_remove(&gr->stash_index, s->hash, NULL);
    }
    ftc_group_stash_count(gr, l, false);
    free(s->data);
    s->data = NULL;
    gr->n_stash--;
}

/* A tail keeps a log that does not apply yet instead of holding the packet that carried it:
 * the packet goes on with the log still on it (so the buffer waits for this group's commit to
 * cover it), and the log applies here once the ones before it came. */
static void
ftc_group_stash(struct ftc_replica *r, struct ftc_group *gr, const struct ftc_log *l)
{
    uint64_t hash, i;
    struct ftc_stashed *s;
    struct buf b;

    buf_init(&b);
    ftc_log_put_wire(&b, l);
    hash = ft_hash_bytes(b.data, b.len, 0);
    if (u64map_get(&gr->stash_index, hash, &i) && gr->stash[i].len == b.len
        && !memcmp(gr->stash[i].data, b.data, b.len)) {
        buf_uninit(&b);
        return;
    }
    if (gr->n_stash >= FTC_MAX_STASH) {
        /* Asked for again when it comes around again (the buffer resends what it holds). */
        r->stats.stash_dropped++;
        buf_uninit(&b);
        return;
    }
    if (!gr->n_stash) {
        ftc_group_stash_empty(gr);
        memcpy(gr->stash_max, gr->max, sizeof gr->max);
        gr->stash_epoch = gr->epoch;
        gr->stash_hist = gr->n_hist;
    }
    if (gr->end_stash >= gr->cap_stash) {
        if (gr->cap_stash && 2 * gr->n_stash <= gr->end_stash) {
            ftc_group_stash_compact(gr);
        } else {
            gr->stash = x2nrealloc(gr->stash, &gr->cap_stash, sizeof *gr->stash);
        }
    }
    s = &gr->stash[gr->end_stash];
    s->hash = hash;
    s->data = buf_steal(&b, &s->len);
    u64map_put(&gr->stash_index, hash, gr->end_stash);
    ftc_group_stash_link(gr, gr->end_stash, l);
    ftc_group_stash_count(gr, l, true);
    gr->end_stash++;
    gr->n_stash++;
    r->stats.stashed++;
}

/* Judges stashed log 'i' again: applies it if READY, drops it if applied or dead, else puts it
 * on the list of what it now waits for. True if it applied. */
static bool
ftc_group_unstash_one(struct ftc_replica *r, struct ftc_group *gr, size_t i)
{
    struct cursor rd;
    struct ftc_log l;
    enum ftc_class cls;
    bool applied;

    cursor_init(&rd, gr->stash[i].data, gr->stash[i].len);
    ftc_log_read(&rd, &l);
    r->stats.stash_reads++;
    cls = ftc_group_classify(gr, &l);
    if (cls == FTC_LOG_FUTURE) {
        ftc_group_stash_link(gr, i, &l);
        return false;
    }
    applied = cls == FTC_LOG_READY && ftc_group_apply(gr, &l);
    ftc_group_stash_drop(gr, i, &l);
    return applied;
}

/* Applies what the stash of 'gr' now allows, drops what is applied or dead; true if a log
 * applied. */
static bool
ftc_group_unstash(struct ftc_replica *r, struct ftc_group *gr)
{
    bool any = false;

    if (!gr->n_stash) {
        return false;
    }
    if (gr->epoch != gr->stash_epoch || gr->n_hist != gr->stash_hist) {
        /* What is DEAD (or no longer of a later epoch) changed: judge every log again, in
         * stash order, until nothing more applies. */
        for (bool progress = true; progress;) {
            progress = false;
            u64map_clear(&gr->stash_wait);
            for (size_t i = 0; i < gr->end_stash; i++) {
                if (gr->stash[i].data && ftc_group_unstash_one(r, gr, i)) {
                    progress = any = true;
                }
            }
        }
        gr->stash_epoch = gr->epoch;
        gr->stash_hist = gr->n_hist;
        memcpy(gr->stash_max, gr->max, sizeof gr->max);
        ftc_group_stash_compact(gr);
        return any;
    }
    /* MAX moved one step at a time: wake the logs waiting on each step. One that applies moves
     * MAX further, maybe in a partition already gone over: start over then. */
    for (size_t p = 0; p < FTC_MAX_PARTS;) {
        uint64_t i;

        if (gr->stash_max[p] >= gr->max[p]) {
            p++;
            continue;
        }
        gr->stash_max[p]++;
        if (!u64map_remove(&gr->stash_wait, FTC_STASH_WAIT(p, gr->stash_max[p]), &i)) {
            continue;
        }
        while (i != SIZE_MAX) {
            size_t next = gr->stash[i].next;

            any |= ftc_group_unstash_one(r, gr, i);
            i = next;
        }
        p = 0;
    }
    return any;
}

static void
ftc_group_commit(const struct ftc_replica *r, const struct ftc_group *gr, struct ftc_commit *c)
{
    c->wire = NULL;             /* Built here, not parsed. */
    c->wire_len = 0;
    c->group = gr->g;
    c->epoch = gr->epoch;
    c->prev_epoch = gr->n_hist >= 2 ? gr->hist[gr->n_hist - 2].epoch : gr->epoch;
    c->n_parts = r->P;
    memcpy(c->start, gr->hist[gr->n_hist - 1].start, sizeof c->start);
    memcpy(c->max, gr->max, sizeof c->max);
}

/* Drops retained logs that commit 'c' shows applied by the tail (or dead): the oldest ones, up
 * to the first it does not cover. Logs are retained in the order applied, which is the order
 * commits cover them but for independent logs of other partitions; those wait for a later
 * commit. Judging only the front keeps a long retention (a successor slow to commit) from
 * costing a pass over all of it per packet. */
static void
ftc_group_prune(struct ftc_group *gr, const struct ftc_commit *c)
{
    size_t k = 0;

    if (c->epoch > gr->epoch) {
        return;
    }
    for (; k < gr->n_logs; k++) {
        const struct ftc_logbuf *lb = &gr->logs[k];
        struct cursor rd;
        struct ftc_log l;
        enum ftc_class cls;

        if (lb->n_need != FTC_PRUNE_READ && lb->epoch >= c->epoch) {
            /* Of a later epoch: FTC_LOG_FUTURE. (An earlier one may be dead: read.) */
            bool applied = lb->epoch == c->epoch;

            for (size_t e = 0; applied && e < lb->n_need; e++) {
                applied = c->max[lb->need_part[e]] >= lb->need[e];
            }
            if (!applied) {
                break;
            }
            continue;
        }
        cursor_init(&rd, lb->data, lb->len);
        ftc_log_read(&rd, &l);
        cls = ftc_log_classify(gr->hist, gr->n_hist, c->epoch, c->max, &l);
        if (cls != FTC_LOG_APPLIED && cls != FTC_LOG_DEAD) {
            break;
        }
    }
    ftc_group_drop_oldest(gr, k);
}

static void
ftc_send_retx_req(struct ftc_replica *r, struct ftc_group *gr, struct ft_actions *out)
{
    /* One request per gap and wait: again at once only when the whole answer came and moved
     * us on (what is still missing: beyond what its messages held, or a message lost), else
     * after a wait (a request or its answer may be lost) that doubles while nothing comes, up
     * to FTC_RETX_WAIT_MAX ticks. A storm of them on an overloaded path only loses more: a
     * head at its CPU quota answers a request in a period of its quota (100 ms), and was asked
     * every tick (session 15), then again at every message of an answer that applied, each
     * request answered with up to FTC_RETX_MAX_MSGS messages, most repeating the rest of the
     * answer on its way (session 16). */
    bool moved = memcmp(gr->retx_max, gr->max, sizeof gr->max);

    if (gr->retx_wait && r->now_ns < gr->retx_ns + gr->retx_wait
        && (gr->retx_pending || !moved)) {
        r->stats.retx_limited++;
        return;
    }
    gr->retx_wait = moved || !gr->retx_wait
                    ? r->tick_ns / 2 : MIN(2 * gr->retx_wait, FTC_RETX_WAIT_MAX * r->tick_ns);
    gr->retx_ns = r->now_ns;
    gr->retx_pending = true;
    memcpy(gr->retx_max, gr->max, sizeof gr->max);
    r->stats.retx_asked++;
    buf_clear(&r->msg);
    buf_put_u8(&r->msg, FTC_MSG_RETX_REQ);
    buf_put_u8(&r->msg, gr->g);
    buf_put_be32(&r->msg, gr->epoch);
    buf_put_u8(&r->msg, r->P);
    for (unsigned p = 0; p < r->P; p++) {
        buf_put_be64(&r->msg, gr->max[p]);
    }
    if (gr->n_stash) {
        /* Where the gap ends: the stash has the logs from there on. */
        for (unsigned p = 0; p < r->P; p++) {
            buf_put_be64(&r->msg, gr->stash_floor[p]);
        }
    }
    ft_emit_send(out, r->ring[(r->x + r->R - 1) % r->R], r->msg.data, r->msg.len);
}

static void
ftc_hist_put(struct buf *b, const struct ftc_group *gr, unsigned P)
{
    buf_put_u8(b, gr->n_hist);
    for (size_t i = 0; i < gr->n_hist; i++) {
        buf_put_be32(b, gr->hist[i].epoch);
        buf_put_u8(b, P);
        for (unsigned p = 0; p < P; p++) {
            buf_put_be64(b, gr->hist[i].start[p]);
        }
    }
}

static bool
ftc_hist_read(struct cursor *rd, struct ftc_epoch *hist, size_t *n_hist, unsigned P)
{
    size_t n = cursor_u8(rd);

    if (!cursor_ok(rd) || !n || n > FTC_MAX_EPOCHS) {
        return cursor_fail(rd);
    }
    for (size_t i = 0; i < n; i++) {
        hist[i].epoch = cursor_be32(rd);
        if (cursor_u8(rd) != P || (i && hist[i].epoch <= hist[i - 1].epoch)) {
            return cursor_fail(rd);
        }
        memset(hist[i].start, 0, sizeof hist[i].start);
        for (unsigned p = 0; p < P; p++) {
            hist[i].start[p] = cursor_be64(rd);
        }
    }
    *n_hist = n;
    return cursor_ok(rd);
}

/* Opens a new epoch of 'gr' starting at its MAX (this member serves the new head's state). */
static void
ftc_group_open_epoch(struct ftc_group *gr, uint32_t epoch)
{
    if (gr->n_hist >= FTC_MAX_EPOCHS) {
        /* Forget the oldest epoch: a log of it now classifies as dead (dropped, never
         * misapplied). */
        memmove(gr->hist, gr->hist + 1, --gr->n_hist * sizeof *gr->hist);
    }
    gr->hist[gr->n_hist].epoch = epoch;
    memcpy(gr->hist[gr->n_hist].start, gr->max, sizeof gr->max);
    gr->n_hist++;
    gr->epoch = epoch;
}

/* Adopts epochs newer than ours from 'hist' (a retransmission from the predecessor). */
static void
ftc_group_adopt_hist(struct ftc_group *gr, const struct ftc_epoch *hist, size_t n_hist)
{
    for (size_t i = 0; i < n_hist; i++) {
        if (hist[i].epoch > gr->epoch) {
            if (gr->n_hist >= FTC_MAX_EPOCHS) {
                memmove(gr->hist, gr->hist + 1, --gr->n_hist * sizeof *gr->hist);
            }
            gr->hist[gr->n_hist++] = hist[i];
            gr->epoch = hist[i].epoch;
        }
    }
}

static bool
ftc_log_is_own(const struct ftc_replica *r, const struct ftc_log *l)
{
    /* Data passes r_0 .. r_{R-1}: a log whose head is at or before us was added on this pass;
     * one whose head is after us came around through the buffer and the forwarder. */
    return l->group <= r->x;
}

/* Something now waits (a group's state, a stashed log, a held packet): the tick asks again
 * every tick_ns until it is in. Nothing waiting, no tick runs: it was a wake-up every 2 ms
 * per middlebox for nothing, busy or idle. */
static void
ftc_replica_arm_tick(struct ftc_replica *r, struct ft_actions *out)
{
    if (!r->tick_armed) {
        ft_emit_timer(out, FTC_REPLICA_TIMER_TICK, r->now_ns + r->tick_ns);
        r->tick_armed = true;
    }
}

static bool
ftc_replica_waits(const struct ftc_replica *r)
{
    for (size_t i = 0; i < r->n_groups; i++) {
        if (!r->groups[i].ready || r->groups[i].n_stash) {
            return true;
        }
    }
    return r->n_held > 0;
}

static void
ftc_hold(struct ftc_replica *r, const uint8_t *data, size_t len, struct ft_actions *out)
{
    if (r->n_held >= FTC_MAX_HELD) {
        r->stats.held_dropped++;
        ft_emit_drop(out, FT_DROP_OVERLOAD, data, len);
        return;
    }
    r->stats.held++;
    ftc_replica_arm_tick(r, out);
    r->held[r->n_held].data = xmalloc(len);
    memcpy(r->held[r->n_held].data, data, len);
    r->held[r->n_held].len = len;
    r->held[r->n_held].since_ns = r->now_ns;
    r->n_held++;
}

enum ftc_verdict_internal { FTC_DONE, FTC_HELD };

/* A propagating packet that carries no log any more (every one reached its tail here or
 * before) has nothing left for the replicas after us: the paper sends it on to the buffer for
 * the commit vectors alone. With commit_to, they go straight there instead, in one peer
 * message, and the rest of the chain is spared a pass that does no work (a closed-loop client
 * paid one such pass per request, on the same CPUs as its next request). The buffer learns
 * exactly what the packet would have told it; the replicas after us prune their retained logs
 * on the next data packet's commits instead. False (the packet goes on) if the commits do not
 * fit one message. */
static bool
ftc_replica_end_propagate(struct ftc_replica *r, const struct ftc_refs *o,
                          struct ft_actions *out)
{
    buf_clear(&r->msg);
    buf_put_u8(&r->msg, FTC_MSG_COMMIT);
    ftc_message_put_refs(&r->msg, o);
    if (r->msg.len > r->max_msg) {
        return false;
    }
    ft_emit_send(out, r->commit_to, r->msg.data, r->msg.len);
    /* Our own commits went with it: the commit timer need not send them again. */
    for (size_t i = 0; i < r->n_groups; i++) {
        struct ftc_group *gr = &r->groups[i];

        if (gr->pos == r->f && gr->ready) {
            memcpy(r->commit_sent[gr->g], gr->max, sizeof gr->max);
            r->commit_sent_epoch[gr->g] = gr->epoch;
        }
    }
    r->stats.propagate_ended++;
    return true;
}

enum ftc_prepared { FTC_PREP_DONE, FTC_PREP_HELD, FTC_PREP_READY };

/* The first half of a packet: parses it into 'in', applies the logs it carries for the groups
 * we replicate, decides (dead: dropped; missing: held) and says in 'o' what goes on (the logs
 * that do, the commits of the groups we are not the tail of, each of which prunes), pointing
 * into 'in'. FTC_PREP_READY: '*typep' and the inner packet (into 'data') say what the
 * middlebox gets. 'retx' asks the predecessor at once for the missing logs. */
static enum ftc_prepared
ftc_replica_prepare(struct ftc_replica *r, const uint8_t *data, size_t len, bool retx,
                    struct ftc_message *in, struct ftc_refs *o, enum ftc_packet_type *typep,
                    const uint8_t **innerp, size_t *inner_lenp, struct ft_actions *out)
{
    /* Per log, by bit: applied here ('done'), dead and not ours to drop for ('strip'), stashed
     * by us as its tail but still going on ('keep'). */
    uint64_t done = 0, strip = 0, keep = 0;
    bool applied = false;

    _Static_assert(FTC_MAX_LOGS <= 64, "a packet's logs fit a mask");
    /* Commits framed only: the packet carries one per middlebox, and all but those of the
     * groups we prune go on as they came, never decoded. */
    if (!ftc_packet_parse_framed(data, len, typep, in, innerp, inner_lenp)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, data, len);
        return FTC_PREP_DONE;
    }
    /* Apply what applies, again and again: one packet may carry several logs of one group
     * (the forwarder attaches what the buffer sent), each the next one's predecessor. Again
     * only while a log of ours is left that did not apply ('done': applied here, so APPLIED
     * now: judged no more). */
    for (bool progress = true, left = true; progress && left;) {
        progress = left = false;
        for (size_t i = 0; i < in->n_logs; i++) {
            const struct ftc_log *l = &in->logs[i];
            struct ftc_group *gr = ftc_group_find(r, l->group);

            if (done >> i & 1 || !gr || !gr->pos) {
                continue;
            }
            if (ftc_group_classify(gr, l) == FTC_LOG_READY) {
                if (!ftc_group_apply(gr, l)) {
                    ft_emit_drop(out, FT_DROP_MALFORMED, data, len);
                    return FTC_PREP_DONE;
                }
                done |= UINT64_C(1) << i;
                progress = applied = true;
            } else {
                left = true;
            }
        }
    }
    if (applied) {
        for (size_t i = 0; i < r->n_groups; i++) {
            ftc_group_unstash(r, &r->groups[i]);
        }
    }
    /* Then every log of ours must be in: dead ones decide, missing ones hold the packet. */
    for (size_t i = 0; i < in->n_logs; i++) {
        const struct ftc_log *l = &in->logs[i];
        struct ftc_group *gr = ftc_group_find(r, l->group);
        enum ftc_class cls;

        if (!gr || gr->pos == 0 || done >> i & 1) {
            continue;
        }
        cls = ftc_group_classify(gr, l);
        if (cls == FTC_LOG_DEAD) {
            if (ftc_log_is_own(r, l)) {
                /* Its effects died with a head: never to be released. */
                ft_emit_drop(out, FT_DROP_STALE, data, len);
                return FTC_PREP_DONE;
            }
            strip |= UINT64_C(1) << i;
        } else if (cls == FTC_LOG_FUTURE && gr->pos == r->f) {
            /* The tail: no replica after us needs it in order, so the packet need not wait. */
            ftc_group_stash(r, gr, l);
            ftc_replica_arm_tick(r, out);
            if (retx) {
                ftc_send_retx_req(r, gr, out);
            }
            keep |= UINT64_C(1) << i;
        } else if (cls == FTC_LOG_FUTURE) {
            if (retx) {
                ftc_send_retx_req(r, gr, out);
            }
            return FTC_PREP_HELD;
        }
    }

    ftc_refs_clear(o);
    for (size_t i = 0; i < in->n_logs; i++) {
        struct ftc_group *gr = ftc_group_find(r, in->logs[i].group);

        if (!(strip >> i & 1) && (keep >> i & 1 || !(gr && gr->pos == r->f))) {
            ftc_refs_add_log(o, &in->logs[i]);
        }
    }
    /* Commits: ours as tails replace what the packet carried (ftc_replica_finish); every one
     * prunes. */
    for (size_t i = 0; i < in->n_commits; i++) {
        struct ftc_commit *c = &in->commits[i];
        struct ftc_group *gr = ftc_group_find(r, c->group);

        if (gr && gr->pos == r->f) {
            continue;
        }
        if (gr && gr->ready) {
            ftc_commit_decode(c);
            ftc_group_prune(gr, c);
        }
        ftc_refs_add_commit(o, c);
    }
    return FTC_PREP_READY;
}

/* Runs the middlebox's transaction on 'pkt' (the inner packet, rewritten in place) as slot
 * 'slot': its log, if it touched state, in 'l' (its delta appended to 'upd'). With threads,
 * concurrently with the other slots: retried until it commits without being wounded; '*ticket'
 * is its place in the order commits took. */
static enum ftc_verdict
ftc_replica_tx(struct ftc_replica *r, unsigned slot, struct buf *pkt, struct buf *upd,
               struct ftc_log *l, bool *has_log, uint64_t *ticket)
{
    struct ftc_group *gr = ftc_group_find(r, r->x);
    size_t inner_len = pkt->len, upd_len = upd->len;
    enum ftc_verdict verdict;
    struct ftc_tx tx;

    buf_reserve(upd, 4096);
    if (r->threads <= 1) {
        ftc_tx_begin(&tx, gr->store, r->P);
        verdict = r->mbox->process(r->mbox_priv, &tx, pkt);
        *has_log = ftc_tx_commit(&tx, gr->max, upd, l);
        *ticket = 0;
        return verdict;
    }
    /* The packet as it came, for a retry: the middlebox may have rewritten it. */
    buf_clear(&r->orig[slot]);
    buf_put(&r->orig[slot], pkt->data, inner_len);
    for (bool retry = false;; retry = true) {
        ftc_tx_begin_cc(&tx, gr->store, r->P, &r->cc[slot], retry);
        pkt->len = 0;
        buf_put(pkt, r->orig[slot].data, inner_len);
        upd->len = upd_len;
        verdict = r->mbox->process(r->mbox_priv, &tx, pkt);
        if (!r->cc[slot].aborted) {
            break;
        }
        ftc_tx_abort(&tx);
        __atomic_fetch_add(&r->stats.tx_aborts, 1, __ATOMIC_RELAXED);
    }
    *has_log = ftc_tx_commit_cc(&tx, gr->max, &r->tickets, ticket, upd, l, r->late_seq);
    __atomic_fetch_add(&r->stats.txs, 1, __ATOMIC_RELAXED);
    return verdict;
}

/* The second half of a packet: the middlebox's log ('l', if any: completed here, in place)
 * joins what goes on, our commits as tails replace what it carried, and it is sent. */
static void
ftc_replica_finish(struct ftc_replica *r, struct ftc_refs *o, enum ftc_packet_type type,
                   enum ftc_verdict verdict, struct ftc_log *l, const uint8_t *inner,
                   size_t inner_len, struct ft_actions *out)
{
    struct ftc_commit commit;   /* One group at most has us as its tail (pos f). */
    uint8_t commit_wire[FTC_COMMIT_MAX_WIRE];

    if (l) {
        struct ftc_group *gr = ftc_group_find(r, r->x);

        l->group = r->x;
        l->epoch = gr->epoch;
        l->wire = NULL;
        if (gr->retains) {
            /* (f = 0: its own commit below covers it at once.) */
            ftc_group_retain(gr, l, NULL);
        }
        if (gr->pos != r->f && o->n_logs < FTC_MAX_LOGS) {
            if (gr->retains) {
                /* What was retained is its wire form: copied into the packet, not encoded
                 * again (only our commit, below, prunes, and not this group: pos != f). */
                l->wire = gr->logs[gr->n_logs - 1].data;
                l->wire_len = gr->logs[gr->n_logs - 1].len;
            }
            ftc_refs_add_log(o, l);
        }
    }
    for (size_t i = 0; i < r->n_groups; i++) {
        struct ftc_group *gr = &r->groups[i];

        if (gr->pos == r->f && o->n_commits < FTC_MAX_COMMITS) {
            ftc_group_commit(r, gr, &commit);
            ftc_group_prune(gr, &commit);
            ftc_commit_seal(&commit, commit_wire);
            ftc_refs_add_commit(o, &commit);
            break;
        }
    }

    if (verdict == FTC_FILTER) {
        /* The middlebox dropped the packet; its piggyback message goes on alone. */
        type = FTC_PKT_PROPAGATE;
    } else if (verdict == FTC_REPLY) {
        /* Back toward the sender: the buffer releases it on the reverse path. */
        type = FTC_PKT_REPLY;
    }
    if (type == FTC_PKT_PROPAGATE && !o->n_logs && r->commit_to
        && ftc_replica_end_propagate(r, o, out)) {
        return;
    }
    /* What the packet brought and goes on unchanged is copied, not encoded again, straight
     * into the step's actions (not built apart and copied there). */
    ftc_packet_refs_place(ft_emit_forward_space(out, r->next,
                                                ftc_packet_refs_len(type, o, inner_len)),
                          type, o, inner, inner_len);
}

/* Processes one packet at once; FTC_HELD if some log of ours is not applicable yet (the caller
 * keeps it). 'retx' asks the predecessor at once for the missing logs. */
static enum ftc_verdict_internal
ftc_replica_packet(struct ftc_replica *r, const uint8_t *data, size_t len, bool retx,
                   struct ft_actions *out)
{
    enum ftc_verdict verdict = FTC_FORWARD;
    enum ftc_packet_type type;
    const uint8_t *inner;
    size_t inner_len;
    struct ftc_log l;
    bool has_log = false;
    uint64_t ticket;

    switch (ftc_replica_prepare(r, data, len, retx, r->in, &r->pass, &type, &inner, &inner_len,
                                out)) {
    case FTC_PREP_DONE:
        return FTC_DONE;
    case FTC_PREP_HELD:
        return FTC_HELD;
    case FTC_PREP_READY:
        break;
    }
    buf_clear(&r->upd);
    if (type == FTC_PKT_DATA && r->mbox) {
        buf_clear(&r->pkt);
        buf_put(&r->pkt, inner, inner_len);
        verdict = ftc_replica_tx(r, 0, &r->pkt, &r->upd, &l, &has_log, &ticket);
        inner = r->pkt.data;
        inner_len = r->pkt.len;
    }
    ftc_replica_finish(r, &r->pass, type, verdict, has_log ? &l : NULL, inner, inner_len, out);
    return FTC_DONE;
}

/* A thread's share of the batch: the next transaction not taken, until none is left. Returns
 * whether it finished the batch's last transaction. */
static bool
ftc_replica_run_work(struct ftc_replica *r, unsigned slot)
{
    bool last = false;
    size_t i, n;

    while (ftc_pool_take(&r->pool, &i, &n)) {
        struct ftc_pending *p = &r->pending[r->work[i]];

        p->verdict = ftc_replica_tx(r, slot, &p->pkt, &p->upd, &p->log, &p->has_log,
                                    &p->ticket);
        last = __atomic_add_fetch(&r->pool.finished, 1, __ATOMIC_RELEASE) == n;
    }
    return last;
}

static int
ftc_pending_cmp(const void *a_, const void *b_)
{
    const struct ftc_pending *a = *(const struct ftc_pending *const *) a_;
    const struct ftc_pending *b = *(const struct ftc_pending *const *) b_;

    return a->ticket < b->ticket ? -1 : a->ticket > b->ticket;
}

static void ftc_replica_drain(struct ftc_replica *, struct ft_actions *);

/* threads > 1, the batch's end: every packet prepared in arrival order (on this thread), the
 * transactions of those that go to the middlebox run on all threads, then each packet goes on:
 * first those without a transaction, then the others in the order their transactions committed
 * (a partition's logs leave in its number order, as the successor applies them). */
static void
ftc_replica_flush(struct ftc_replica *r, struct ft_actions *out)
{
    struct ftc_pending *order[FTC_MAX_PENDING];
    struct ftc_pool *pool = &r->pool;
    size_t n_order = 0;

    r->n_work = 0;
    for (size_t i = 0; i < r->n_pending; i++) {
        struct ftc_pending *p = &r->pending[i];
        const uint8_t *inner;
        size_t inner_len;

        p->ready = p->tx = false;
        if (!r->all_ready) {
            ft_emit_drop(out, FT_DROP_STALE, p->data, p->len);
            continue;
        }
        switch (ftc_replica_prepare(r, p->data, p->len, true, p->in, &p->pass, &p->type,
                                    &inner, &inner_len, out)) {
        case FTC_PREP_DONE:
            continue;
        case FTC_PREP_HELD:
            ftc_hold(r, p->data, p->len, out);
            continue;
        case FTC_PREP_READY:
            break;
        }
        p->ready = true;
        p->verdict = FTC_FORWARD;
        p->has_log = false;
        p->ticket = 0;
        buf_clear(&p->pkt);
        buf_put(&p->pkt, inner, inner_len);
        buf_clear(&p->upd);
        if (p->type == FTC_PKT_DATA && r->mbox) {
            p->tx = true;
            r->work[r->n_work++] = i;
        }
    }
    if (r->n_work) {
        unsigned wake;

        __atomic_store_n(&pool->finished, 0, __ATOMIC_RELAXED);
        pthread_mutex_lock(&pool->mutex);
        __atomic_store_n(&pool->claim, FTC_CLAIM(r->stats.batches + 1, r->n_work, 0),
                         __ATOMIC_RELEASE);
        wake = MIN(pool->idle, r->n_work - 1);
        pthread_mutex_unlock(&pool->mutex);
        for (unsigned t = 0; t < wake; t++) {
            pthread_cond_signal(&pool->go);
        }
        r->stats.tx_wakeups += wake;
        ftc_replica_run_work(r, 0);
        /* Every transaction is taken: wait for those others run to finish. */
        if (__atomic_load_n(&pool->finished, __ATOMIC_ACQUIRE) < r->n_work) {
            pthread_mutex_lock(&pool->mutex);
            while (__atomic_load_n(&pool->finished, __ATOMIC_ACQUIRE) < r->n_work) {
                pthread_cond_wait(&pool->done, &pool->mutex);
            }
            pthread_mutex_unlock(&pool->mutex);
        }
        pthread_mutex_lock(&r->locks.mutex);
        r->stats.tx_waits = r->locks.n_waits;
        r->stats.tx_wounds = r->locks.n_wounds;
        pthread_mutex_unlock(&r->locks.mutex);
        r->stats.batches++;
    }
    for (size_t i = 0; i < r->n_pending; i++) {
        if (r->pending[i].ready && !r->pending[i].tx) {
            order[n_order++] = &r->pending[i];
        }
    }
    for (size_t i = 0; i < r->n_work; i++) {
        order[n_order + i] = &r->pending[r->work[i]];
    }
    qsort(order + n_order, r->n_work, sizeof *order, ftc_pending_cmp);
    n_order += r->n_work;
    for (size_t i = 0; i < n_order; i++) {
        struct ftc_pending *p = order[i];

        ftc_replica_finish(r, &p->pass, p->type, p->verdict, p->has_log ? &p->log : NULL,
                           p->pkt.data, p->pkt.len, out);
    }
    for (size_t i = 0; i < r->n_pending; i++) {
        free(r->pending[i].data);
        r->pending[i].data = NULL;
    }
    r->n_pending = r->n_work = 0;
    ftc_replica_drain(r, out);
}

/* threads > 1: keeps a packet for the batch's end (a timer at 'now' fires once the packets in
 * hand are in). */
static void
ftc_replica_enqueue(struct ftc_replica *r, const uint8_t *data, size_t len,
                    struct ft_actions *out)
{
    struct ftc_pending *p;

    if (r->n_pending == FTC_MAX_PENDING) {
        ftc_replica_flush(r, out);
    }
    p = &r->pending[r->n_pending++];
    p->data = xmalloc(len);
    memcpy(p->data, data, len);
    p->len = len;
    if (!r->batch_armed) {
        ft_emit_timer(out, FTC_REPLICA_TIMER_BATCH, r->now_ns);
        r->batch_armed = true;
    }
}

/* Re-examines held packets until none moves. */
static void
ftc_replica_drain(struct ftc_replica *r, struct ft_actions *out)
{
    bool progress = true;

    while (progress && r->n_held) {
        progress = false;
        for (size_t i = 0; i < r->n_held;) {
            struct ftc_held h = r->held[i];

            if (ftc_replica_packet(r, h.data, h.len, false, out) == FTC_DONE) {
                uint64_t us = (r->now_ns - h.since_ns) / 1000;

                r->stats.held_us += us;
                r->stats.held_us_max = MAX(r->stats.held_us_max, us);
                free(h.data);
                memmove(&r->held[i], &r->held[i + 1], (--r->n_held - i) * sizeof *r->held);
                progress = true;
            } else {
                i++;
            }
        }
    }
}

static void
ftc_send_state_req(struct ftc_replica *r, struct ftc_group *gr, struct ft_actions *out);

/* Candidates for a recovering group: the head's own from its successors, the others from the
 * nearest predecessor first (the log propagation invariant: a successor never has more). */
static unsigned
ftc_candidate(const struct ftc_replica *r, const struct ftc_group *gr, unsigned k)
{
    return gr->pos == 0 ? (r->x + 1 + k) % r->R : (r->x + r->R - 1 - k) % r->R;
}

static unsigned
ftc_n_candidates(const struct ftc_replica *r, const struct ftc_group *gr)
{
    return gr->pos == 0 ? r->f : gr->pos;
}

static void
ftc_send_state_req(struct ftc_replica *r, struct ftc_group *gr, struct ft_actions *out)
{
    unsigned n = ftc_n_candidates(r, gr);

    /* Skip candidates known to be down. */
    for (unsigned k = 0; k < n && r->down[ftc_candidate(r, gr, gr->cand % n)]; k++) {
        gr->cand = (gr->cand + 1) % n;
    }
    buf_clear(&r->msg);
    buf_put_u8(&r->msg, FTC_MSG_STATE_REQ);
    buf_put_u8(&r->msg, gr->g);
    buf_put_be32(&r->msg, gr->pos == 0 ? r->incarnation : 0);
    ft_emit_send(out, r->ring[ftc_candidate(r, gr, gr->cand % n)], r->msg.data, r->msg.len);
    ftc_replica_arm_tick(r, out);
}

static void
ftc_replica_update_ready(struct ftc_replica *r, struct ft_actions *out)
{
    bool all = true;

    for (size_t i = 0; i < r->n_groups; i++) {
        all &= r->groups[i].ready;
    }
    if (all && !r->all_ready) {
        r->all_ready = true;
        ft_emit_note(out, "ftc: r%u recovered (incarnation %"PRIu32")", r->x, r->incarnation);
    }
}

static void
ftc_replica_on_state_req(struct ftc_replica *r, uint32_t from, struct cursor *rd,
                         struct ft_actions *out)
{
    unsigned g = cursor_u8(rd);
    uint32_t epoch = cursor_be32(rd);
    struct ftc_group *gr = ftc_group_find(r, g);

    if (!cursor_done(rd) || !gr) {
        ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        return;
    }
    buf_clear(&r->msg);
    buf_put_u8(&r->msg, FTC_MSG_STATE);
    buf_put_u8(&r->msg, g);
    if (!gr->ready) {
        buf_put_u8(&r->msg, 0);
        ft_emit_send(out, from, r->msg.data, r->msg.len);
        return;
    }
    if (epoch > gr->epoch) {
        /* A new head: from now on a log of the old head that we did not apply is dead. */
        ftc_group_open_epoch(gr, epoch);
        ft_emit_note(out, "ftc: r%u opens epoch %"PRIu32" of group %u", r->x, epoch, g);
        ftc_replica_drain(r, out);
        buf_clear(&r->msg);
        buf_put_u8(&r->msg, FTC_MSG_STATE);
        buf_put_u8(&r->msg, g);
    }
    buf_put_u8(&r->msg, 1);
    ftc_hist_put(&r->msg, gr, r->P);
    buf_put_u8(&r->msg, r->P);
    for (unsigned p = 0; p < r->P; p++) {
        buf_put_be64(&r->msg, gr->max[p]);
    }
    {
        size_t ofs = r->msg.len;

        buf_put_be32(&r->msg, 0);
        state_export(gr->store, &r->msg);
        uint32_t n = r->msg.len - ofs - 4;
        r->msg.data[ofs] = n >> 24;
        r->msg.data[ofs + 1] = n >> 16;
        r->msg.data[ofs + 2] = n >> 8;
        r->msg.data[ofs + 3] = n;
    }
    {
        /* The newest logs that fit: a successor lags by the last few, never by the oldest
         * (which the tail's commits prune). */
        size_t first = gr->n_logs, room = r->msg.len + 2 < r->max_msg
                                          ? r->max_msg - r->msg.len - 2 : 0;

        while (first > 0 && gr->logs[first - 1].len <= room) {
            room -= gr->logs[--first].len;
        }
        buf_put_be16(&r->msg, gr->n_logs - first);
        for (size_t i = first; i < gr->n_logs; i++) {
            buf_put(&r->msg, gr->logs[i].data, gr->logs[i].len);
        }
    }
    ft_emit_send(out, from, r->msg.data, r->msg.len);
}

static void
ftc_replica_on_state(struct ftc_replica *r, uint32_t from, struct cursor *rd,
                     struct ft_actions *out)
{
    unsigned g = cursor_u8(rd);
    bool ready = cursor_u8(rd);
    struct ftc_group *gr = ftc_group_find(r, g);
    struct ftc_epoch hist[FTC_MAX_EPOCHS];
    size_t n_hist, n_logs;
    uint64_t max[FTC_MAX_PARTS] = { 0 };
    const uint8_t *store;
    uint32_t store_len;
    struct cursor logs;
    unsigned n = 0;

    if (!cursor_ok(rd) || !gr) {
        ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        return;
    }
    if (gr->ready ? !gr->resync || from != r->ring[(r->x + r->R - 1) % r->R]
                  : r->ring[ftc_candidate(r, gr, gr->cand % ftc_n_candidates(r, gr))] != from) {
        return;                 /* Late, or from a candidate we moved past. */
    }
    if (!ready) {
        if (gr->ready) {
            return;             /* Resync: the predecessor recovers itself; ask again later. */
        }
        if (gr->pos == 0) {
            /* A successor that recovers itself has nothing for us: the next one may. */
            gr->cand = (gr->cand + 1) % ftc_n_candidates(r, gr);
        }
        return;
    }
    if (!ftc_hist_read(rd, hist, &n_hist, r->P) || cursor_u8(rd) != r->P) {
        ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        return;
    }
    for (unsigned p = 0; p < r->P; p++) {
        max[p] = cursor_be64(rd);
    }
    store_len = cursor_be32(rd);
    store = cursor_bytes(rd, store_len);
    n_logs = cursor_be16(rd);
    logs = *rd;
    for (size_t i = 0; cursor_ok(rd) && i < n_logs; i++) {
        ftc_log_read(rd, &r->tmp->logs[0]);
    }
    if (!cursor_done(rd) || state_validate(store, store_len)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        return;
    }
    if (gr->ready) {
        /* A resync must never take us back: logs may have reached us by another way (the
         * buffer and the forwarder) since the predecessor took this image. */
        bool behind = hist[n_hist - 1].epoch < gr->epoch;

        for (unsigned p = 0; p < r->P; p++) {
            behind |= max[p] < gr->max[p];
        }
        if (behind) {
            gr->resync = false;     /* The next gap asks again. */
            return;
        }
    }
    ftc_group_reset(r, gr);
    state_import(gr->store, store, store_len);
    memcpy(gr->hist, hist, n_hist * sizeof *hist);
    gr->n_hist = n_hist;
    gr->epoch = hist[n_hist - 1].epoch;
    memcpy(gr->max, max, sizeof max);
    for (size_t i = 0; i < n_logs; i++) {
        struct ftc_log l;

        ftc_log_read(&logs, &l);
        ftc_group_retain(gr, &l, NULL);
        n++;
    }
    memcpy(gr->retain_need, gr->max, sizeof gr->max);
    if (gr->ready) {
        /* A resync: the predecessor's image replaces what we had (it has at least as much). */
        gr->resync = false;
        ft_emit_note(out, "ftc: r%u resynced group %u from its predecessor", r->x, g);
        ftc_replica_drain(r, out);
        return;
    }
    if (gr->pos == 0 && gr->epoch != r->incarnation) {
        /* The source opened our epoch on our request; if it has not (an answer to an older
         * request), open it here: same start, its MAX. */
        ftc_group_open_epoch(gr, MAX(r->incarnation, gr->epoch + 1));
    }
    gr->ready = true;
    ft_emit_note(out, "ftc: r%u fetched group %u from r%u (epoch %"PRIu32", %u logs)", r->x,
                 g, ftc_ring_index(r, from), gr->epoch, n);
    ftc_replica_update_ready(r, out);
}

/* Whether every write of 'l' is below 'upto' (in the asker's gap, not in its stash). */
static bool
ftc_log_below(const struct ftc_log *l, const uint64_t *upto)
{
    for (size_t i = 0; i < l->n_ent; i++) {
        if (l->ent[i].write && l->ent[i].seq >= upto[l->ent[i].part]) {
            return false;
        }
    }
    return true;
}

/* Retransmission messages one request may be answered with: a successor that lost a burst
 * catches up in one round trip, not one per message. */
#define FTC_RETX_MAX_MSGS 16

static void
ftc_replica_on_retx_req(struct ftc_replica *r, uint32_t from, struct cursor *rd,
                        struct ft_actions *out)
{
    unsigned g = cursor_u8(rd);
    uint32_t epoch = cursor_be32(rd);
    unsigned P = cursor_u8(rd);
    uint64_t max[FTC_MAX_PARTS] = { 0 }, upto[FTC_MAX_PARTS], lim[FTC_MAX_PARTS];
    struct ftc_group *gr = ftc_group_find(r, g);
    bool ahead = false, any = false, *done;
    size_t first, end;

    for (unsigned p = 0; p < P && p < FTC_MAX_PARTS; p++) {
        max[p] = cursor_be64(rd);
    }
    for (unsigned p = 0; p < FTC_MAX_PARTS; p++) {
        upto[p] = UINT64_MAX;
    }
    if (cursor_ok(rd) && rd->left && P <= FTC_MAX_PARTS) {
        /* A tail's stash: it has the logs from 'upto' on. */
        for (unsigned p = 0; p < P; p++) {
            upto[p] = cursor_be64(rd);
        }
    }
    if (!cursor_done(rd) || P != r->P || !gr) {
        ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        return;
    }
    if (!gr->ready || epoch > gr->epoch) {
        return;
    }
    ahead = epoch < gr->epoch;
    for (unsigned p = 0; p < r->P; p++) {
        ahead |= gr->max[p] > max[p];
    }
    /* What it asked for lies between the first log it lacks (those before are all applied
     * there: their needs are within its MAX) and the first after which nothing writes below
     * 'upto' or our MAX. Only those are read: a head at its CPU quota read every log it
     * retained (a thousand behind a slow tail) per request, and was asked at every message
     * of its answers (session 16). */
    for (unsigned p = 0; p < FTC_MAX_PARTS; p++) {
        lim[p] = MIN(upto[p], gr->max[p]);
    }
    first = ftc_group_find_need(gr, max, true);
    end = ftc_group_find_need(gr, lim, false);
    end = MAX(first, MIN(end + 1, gr->n_logs));
    /* The logs it can apply, in an order it can apply them (ours may differ: independent
     * logs apply in any order), in as many messages as it takes (up to FTC_RETX_MAX_MSGS):
     * it adopts our epochs first. */
    done = xcalloc(end - first + 1, sizeof *done);
    for (int k = 0; k < FTC_RETX_MAX_MSGS; k++) {
        size_t n_ofs, flags_ofs, n = 0;
        bool progress = true, full = false;

        buf_clear(&r->msg);
        buf_put_u8(&r->msg, FTC_MSG_RETX);
        buf_put_u8(&r->msg, g);
        flags_ofs = r->msg.len;
        buf_put_u8(&r->msg, 0);
        ftc_hist_put(&r->msg, gr, r->P);
        n_ofs = r->msg.len;
        buf_put_u8(&r->msg, 0);
        while (progress && !full) {
            progress = false;
            for (size_t i = first; i < end && !full; i++) {
                struct cursor lr;
                struct ftc_log l;
                enum ftc_class cls;
                bool below;

                if (done[i - first]) {
                    continue;
                }
                cursor_init(&lr, gr->logs[i].data, gr->logs[i].len);
                ftc_log_read(&lr, &l);
                r->stats.retx_parsed++;
                cls = ftc_log_classify(gr->hist, gr->n_hist, gr->epoch, max, &l);
                below = ftc_log_below(&l, upto);
                if (cls != FTC_LOG_READY || !below) {
                    /* Applied there, dead, or in its stash: so for the rest of this answer,
                     * and not parsed again. A head at its CPU quota parsed every log it
                     * retained (thousands behind a lagging tail) per pass and per message,
                     * and answered a tail's gap a few logs a second. */
                    done[i - first] = cls != FTC_LOG_FUTURE || !below;
                    continue;
                }
                if (n >= FTC_MAX_LOGS || r->msg.len + gr->logs[i].len > r->max_msg) {
                    full = true;
                    break;
                }
                buf_put(&r->msg, gr->logs[i].data, gr->logs[i].len);
                done[i - first] = progress = any = true;
                n++;
                for (size_t e = 0; e < l.n_ent; e++) {
                    if (l.ent[e].write) {
                        max[l.ent[e].part] = l.ent[e].seq + 1;
                    }
                }
            }
        }
        if (k && !n) {
            break;
        }
        /* We are ahead but hold nothing that applies next for it: what it lacks is older
         * than what we kept. It must take our image. */
        r->msg.data[flags_ofs] = (ahead && !any ? FTC_RETX_GAP : 0)
                                 | (full && k + 1 < FTC_RETX_MAX_MSGS ? FTC_RETX_MORE : 0);
        r->msg.data[n_ofs] = n;
        ft_emit_send(out, from, r->msg.data, r->msg.len);
        r->stats.retx_answered++;
        if (!full) {
            break;
        }
    }
    free(done);
}

/* Asks the predecessor for the logs of 'gr' a held packet or the stash still waits for, if
 * one does. */
static void
ftc_replica_ask_held(struct ftc_replica *r, struct ftc_group *gr, struct ft_actions *out)
{
    if (gr->n_stash) {
        ftc_send_retx_req(r, gr, out);
        return;
    }
    for (size_t h = 0; h < r->n_held; h++) {
        enum ftc_packet_type type;
        const uint8_t *inner;
        size_t inner_len;

        if (!ftc_packet_parse_framed(r->held[h].data, r->held[h].len, &type, r->in, &inner,
                                     &inner_len)) {
            continue;
        }
        for (size_t i = 0; i < r->in->n_logs; i++) {
            if (r->in->logs[i].group == gr->g
                && ftc_group_classify(gr, &r->in->logs[i]) == FTC_LOG_FUTURE) {
                ftc_send_retx_req(r, gr, out);
                return;
            }
        }
    }
}

static void
ftc_replica_on_retx(struct ftc_replica *r, struct cursor *rd, struct ft_actions *out)
{
    unsigned g = cursor_u8(rd);
    struct ftc_group *gr = ftc_group_find(r, g);
    struct ftc_epoch hist[FTC_MAX_EPOCHS];
    size_t n_hist, n_logs;
    struct ftc_message *m = r->tmp;
    bool progress = true, applied = false;

    uint8_t flags = cursor_u8(rd);

    if (!cursor_ok(rd) || !gr || (flags & ~(FTC_RETX_GAP | FTC_RETX_MORE))
        || !ftc_hist_read(rd, hist, &n_hist, r->P)) {
        ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        return;
    }
    n_logs = cursor_u8(rd);
    if (!cursor_ok(rd) || n_logs > FTC_MAX_LOGS) {
        ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
        return;
    }
    for (size_t i = 0; i < n_logs; i++) {
        if (!ftc_log_read(rd, &m->logs[i]) || m->logs[i].group != g) {
            ft_emit_drop(out, FT_DROP_MALFORMED, NULL, 0);
            return;
        }
    }
    if (rd->left || !gr->ready || gr->pos == 0) {
        return;
    }
    r->stats.retx_got++;
    gr->retx_pending = flags & FTC_RETX_MORE;
    if (flags & FTC_RETX_GAP) {
        r->stats.resyncs++;
        gr->resync = true;
        buf_clear(&r->msg);
        buf_put_u8(&r->msg, FTC_MSG_STATE_REQ);
        buf_put_u8(&r->msg, gr->g);
        buf_put_be32(&r->msg, 0);
        ft_emit_send(out, r->ring[(r->x + r->R - 1) % r->R], r->msg.data, r->msg.len);
        ftc_replica_arm_tick(r, out);
        return;
    }
    ftc_group_adopt_hist(gr, hist, n_hist);
    while (progress) {
        progress = false;
        for (size_t i = 0; i < n_logs; i++) {
            if (ftc_group_classify(gr, &m->logs[i]) == FTC_LOG_READY
                && ftc_group_apply(gr, &m->logs[i])) {
                progress = applied = true;
            }
        }
    }
    applied |= ftc_group_unstash(r, gr);
    ftc_replica_drain(r, out);
    if (gr->retx_pending) {
        if (applied) {
            /* The answer is coming: the rest of it is due from now on. */
            gr->retx_ns = r->now_ns;
            gr->retx_wait = r->tick_ns / 2;
        }
    } else {
        /* The answer is in: if it moved us on, ask for what is still missing now, not on the
         * next tick or the next packet, which an overloaded host may be slow to bring. */
        ftc_replica_ask_held(r, gr, out);
    }
}

static void
ftc_replica_on_tick(struct ftc_replica *r, const struct ft_event *ev, struct ft_actions *out)
{
    bool asked[FTC_MAX_GROUPS] = { false };

    r->stats.ticks++;
    r->tick_armed = false;
    for (size_t i = 0; i < r->n_groups; i++) {
        struct ftc_group *gr = &r->groups[i];

        if (!gr->ready) {
            ftc_send_state_req(r, gr, out);
        }
    }
    /* Ask again for what stashes and held packets wait on (a request or its answer may be
     * lost). */
    for (size_t i = 0; i < r->n_groups; i++) {
        struct ftc_group *gr = &r->groups[i];

        if (gr->ready && gr->n_stash) {
            asked[i] = true;
            ftc_send_retx_req(r, gr, out);
        }
    }
    for (size_t h = 0; h < r->n_held; h++) {
        enum ftc_packet_type type;
        const uint8_t *inner;
        size_t inner_len;

        if (!ftc_packet_parse_framed(r->held[h].data, r->held[h].len, &type, r->in, &inner,
                                     &inner_len)) {
            continue;
        }
        for (size_t i = 0; i < r->in->n_logs; i++) {
            struct ftc_group *gr = ftc_group_find(r, r->in->logs[i].group);

            if (gr && gr->pos && !asked[gr - r->groups]
                && ftc_group_classify(gr, &r->in->logs[i]) == FTC_LOG_FUTURE) {
                asked[gr - r->groups] = true;
                ftc_send_retx_req(r, gr, out);
            }
        }
    }
    if (ftc_replica_waits(r)) {
        ftc_replica_arm_tick(r, out);
    }
    (void) ev;
}

/* The groups this member is the tail of whose head comes later in the chain (their logs came
 * around the ring): their commit vectors straight to the buffer, when they moved. */
static void
ftc_replica_send_commits(struct ftc_replica *r, struct ft_actions *out)
{
    struct ftc_message *m = r->tmp;

    m->n_logs = 0;
    m->n_commits = 0;
    for (size_t i = 0; i < r->n_groups; i++) {
        struct ftc_group *gr = &r->groups[i];

        if (gr->pos != r->f || gr->g <= r->x || !gr->ready || m->n_commits >= FTC_MAX_COMMITS
            || (gr->epoch == r->commit_sent_epoch[gr->g]
                && !memcmp(gr->max, r->commit_sent[gr->g], sizeof gr->max))) {
            continue;
        }
        ftc_group_commit(r, gr, &m->commits[m->n_commits++]);
        memcpy(r->commit_sent[gr->g], gr->max, sizeof gr->max);
        r->commit_sent_epoch[gr->g] = gr->epoch;
    }
    if (!m->n_commits) {
        return;
    }
    buf_clear(&r->msg);
    buf_put_u8(&r->msg, FTC_MSG_COMMIT);
    ftc_message_put(&r->msg, m);
    ft_emit_send(out, r->commit_to, r->msg.data, r->msg.len);
}

static void
ftc_replica_arm_commits(struct ftc_replica *r, uint64_t now, struct ft_actions *out)
{
    /* Only a tail of wrapped groups has any (the first f members): elsewhere the timer would
     * cost a step and a loop timer per batch of packets for nothing. */
    if (r->commit_to && r->tail_wrapped && !r->commit_armed) {
        ft_emit_timer(out, FTC_REPLICA_TIMER_COMMIT, now);
        r->commit_armed = true;
    }
}

static int
ftc_replica_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct ftc_replica *r = ftc_replica_cast(core);
    unsigned from = ftc_ring_index(r, ev->from);
    struct cursor rd;

    r->now_ns = ev->now_ns;
    switch (ev->kind) {
    case FT_EV_START:
        r->incarnation = ev->incarnation;
        if (ev->incarnation) {
            r->all_ready = false;
            for (size_t i = 0; i < r->n_groups; i++) {
                r->groups[i].ready = false;
                r->groups[i].cand = 0;
            }
            for (size_t i = 0; i < r->n_groups; i++) {
                ftc_send_state_req(r, &r->groups[i], out);     /* Arms the tick. */
            }
        }
        break;
    case FT_EV_TIMER:
        if (ev->timer == FTC_REPLICA_TIMER_COMMIT) {
            r->commit_armed = false;
            ftc_replica_send_commits(r, out);
        } else if (ev->timer == FTC_REPLICA_TIMER_BATCH) {
            r->batch_armed = false;
            ftc_replica_flush(r, out);
            ftc_replica_arm_commits(r, ev->now_ns, out);
        } else {
            ftc_replica_on_tick(r, ev, out);
        }
        break;
    case FT_EV_PEER_DOWN:
    case FT_EV_PEER_UP:
        if (from < r->R) {
            r->down[from] = ev->kind == FT_EV_PEER_DOWN;
            for (size_t i = 0; ev->kind == FT_EV_PEER_DOWN && i < r->n_groups; i++) {
                struct ftc_group *gr = &r->groups[i];
                unsigned n = ftc_n_candidates(r, gr);

                if (!gr->ready && ftc_candidate(r, gr, gr->cand % n) == from) {
                    ftc_send_state_req(r, gr, out);
                }
            }
        }
        break;
    case FT_EV_PACKET:
        if (!r->all_ready) {
            /* Not routed here until recovered (the orchestrator reroutes after recovery). */
            ft_emit_drop(out, FT_DROP_STALE, ev->data, ev->len);
        } else if (r->threads > 1) {
            ftc_replica_enqueue(r, ev->data, ev->len, out);
            break;
        } else if (ftc_replica_packet(r, ev->data, ev->len, true, out) == FTC_HELD) {
            ftc_hold(r, ev->data, ev->len, out);
        } else {
            /* The logs it carried may be what held packets wait for. */
            ftc_replica_drain(r, out);
        }
        ftc_replica_arm_commits(r, ev->now_ns, out);
        break;
    case FT_EV_PEER_MSG:
        if (from >= r->R) {
            ft_emit_drop(out, FT_DROP_UNKNOWN_SENDER, ev->data, ev->len);
            break;
        }
        cursor_init(&rd, ev->data, ev->len);
        switch (cursor_u8(&rd)) {
        case FTC_MSG_STATE_REQ:
            ftc_replica_on_state_req(r, ev->from, &rd, out);
            break;
        case FTC_MSG_STATE:
            ftc_replica_on_state(r, ev->from, &rd, out);
            break;
        case FTC_MSG_RETX_REQ:
            ftc_replica_on_retx_req(r, ev->from, &rd, out);
            break;
        case FTC_MSG_RETX:
            ftc_replica_on_retx(r, &rd, out);
            break;
        default:
            ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        }
        ftc_replica_arm_commits(r, ev->now_ns, out);
        break;
    default:
        break;
    }
    return 0;
}

const struct ft_core_class ft_ftc_replica_class = {
    .name = "ftc_replica",
    .summary = "FTC: a ring member (head, replicas and tail of piggybacked state)",
    .create = ftc_replica_create,
    .destroy = ftc_replica_destroy,
    .step = ftc_replica_step,
};

const struct nf_state *
ftc_replica_store(const struct ft_core *core, unsigned g, uint64_t max[FTC_MAX_PARTS],
                  uint32_t *epoch)
{
    struct ftc_replica *r = ftc_replica_cast(core);
    const struct ftc_group *gr = ftc_group_find(r, g);

    if (!gr || !gr->ready) {
        return NULL;
    }
    memcpy(max, gr->max, sizeof gr->max);
    *epoch = gr->epoch;
    return gr->store;
}

bool
ftc_replica_ready(const struct ft_core *core)
{
    return ftc_replica_cast(core)->all_ready;
}

const struct ftc_replica_stats *
ftc_replica_stats(const struct ft_core *core)
{
    struct ftc_replica *r = ftc_replica_cast(core);

    r->stats.held_now = r->n_held;
    r->stats.log_allocs = r->stats.retained_now = 0;
    for (size_t i = 0; i < r->n_groups; i++) {
        r->stats.log_allocs += r->groups[i].log_allocs;
        r->stats.retained_now += r->groups[i].n_logs;
    }
    return &r->stats;
}
