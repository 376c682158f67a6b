#include "tests/sim/history.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/util.h"

void
sim_history_init(struct sim_history *h)
{
    memset(h, 0, sizeof *h);
}

void
sim_history_uninit(struct sim_history *h)
{
    for (size_t i = 0; i < h->n_seqs; i++) {
        free(h->seqs[i].items);
    }
    free(h->seqs);
    free(h->ops);
    free(h->accepts);
    free(h->decisions);
    memset(h, 0, sizeof *h);
}

struct sim_op *
sim_history_add_op(struct sim_history *h, uint32_t client, uint64_t expect_hash)
{
    struct sim_op *op;

    if (h->n_ops >= h->cap_ops) {
        h->ops = x2nrealloc(h->ops, &h->cap_ops, sizeof *h->ops);
    }
    op = &h->ops[h->n_ops++];
    memset(op, 0, sizeof *op);
    op->req_id = h->n_ops;
    op->client = client;
    op->expect_hash = expect_hash;
    return op;
}

void
sim_history_add_accept(struct sim_history *h, uint32_t client, uint64_t req_id,
                       uint64_t at_ns, uint64_t value_hash)
{
    if (h->n_accepts >= h->cap_accepts) {
        h->accepts = x2nrealloc(h->accepts, &h->cap_accepts, sizeof *h->accepts);
    }
    h->accepts[h->n_accepts++] = (struct sim_accept) {
        .client = client, .req_id = req_id, .at_ns = at_ns, .value_hash = value_hash,
    };
}

struct sim_seq *
sim_history_seq(struct sim_history *h, uint32_t endpoint)
{
    if (endpoint >= h->n_seqs) {
        size_t n = endpoint + 1;
        h->seqs = xrealloc(h->seqs, n * sizeof *h->seqs);
        for (size_t i = h->n_seqs; i < n; i++) {
            memset(&h->seqs[i], 0, sizeof h->seqs[i]);
            h->seqs[i].endpoint = i;
            h->seqs[i].correct = true;
        }
        h->n_seqs = n;
    }
    return &h->seqs[endpoint];
}

void
sim_seq_append(struct sim_seq *s, uint64_t item)
{
    if (s->n >= s->cap) {
        s->items = x2nrealloc(s->items, &s->cap, sizeof *s->items);
    }
    s->items[s->n++] = item;
}

static const struct sim_op *
history_op(const struct sim_history *h, uint64_t req_id)
{
    return req_id >= 1 && req_id <= h->n_ops ? &h->ops[req_id - 1] : NULL;
}

bool
sim_check_valid(const struct sim_history *h, struct buf *why)
{
    for (size_t i = 0; i < h->n_accepts; i++) {
        const struct sim_accept *a = &h->accepts[i];
        const struct sim_op *op = history_op(h, a->req_id);

        if (!op || !op->sent || op->client != a->client) {
            buf_printf(why, "invalid: client %"PRIu32" accepted a reply to request %"PRIu64
                       " at %"PRIu64" ns, which it never sent\n", a->client, a->req_id, a->at_ns);
            return false;
        }
        if (a->value_hash != op->expect_hash) {
            buf_printf(why, "invalid: client %"PRIu32" accepted for request %"PRIu64" at %"PRIu64
                       " ns a value no correct service gives (hash %016"PRIx64", expected %016"
                       PRIx64")\n", a->client, a->req_id, a->at_ns, a->value_hash,
                       op->expect_hash);
            return false;
        }
    }
    return true;
}

/* Counts accepts per operation; index 0 collects ids that name no operation. */
static uint32_t *
history_accept_counts(const struct sim_history *h)
{
    uint32_t *counts = xcalloc(h->n_ops + 1, sizeof *counts);

    for (size_t i = 0; i < h->n_accepts; i++) {
        const struct sim_op *op = history_op(h, h->accepts[i].req_id);
        counts[op ? op->req_id : 0]++;
    }
    return counts;
}

bool
sim_check_no_duplicates(const struct sim_history *h, struct buf *why)
{
    uint32_t *counts = history_accept_counts(h);
    bool ok = true;

    for (size_t i = 1; i <= h->n_ops; i++) {
        if (counts[i] > 1) {
            buf_printf(why, "duplicate: request %zu accepted %"PRIu32" times\n", i, counts[i]);
            ok = false;
            break;
        }
    }
    free(counts);
    return ok;
}

static bool
history_check_accepted(const struct sim_history *h, uint64_t from_ns, bool correct_only,
                       const char *what, struct buf *why)
{
    uint32_t *counts = history_accept_counts(h);
    size_t n_missing = 0, first = 0;

    for (size_t i = 1; i <= h->n_ops; i++) {
        const struct sim_op *op = &h->ops[i - 1];
        if (correct_only && op->client < h->n_seqs && !h->seqs[op->client].correct) {
            continue;
        }
        if (op->sent && op->sent_ns >= from_ns && !counts[i]) {
            first = first ? first : i;
            n_missing++;
        }
    }
    if (n_missing) {
        buf_printf(why, "%s: %zu request(s) sent%s never accepted, first %zu (sent at %"PRIu64
                   " ns)\n", what, n_missing, from_ns ? " after the network stabilised" : "",
                   first, h->ops[first - 1].sent_ns);
    }
    free(counts);
    return !n_missing;
}

bool
sim_check_no_loss(const struct sim_history *h, struct buf *why)
{
    return history_check_accepted(h, 0, false, "loss", why);
}

bool
sim_check_live_after(const struct sim_history *h, uint64_t stable_ns, struct buf *why)
{
    return history_check_accepted(h, stable_ns, false, "liveness", why);
}

bool
sim_check_correct_clients_live_after(const struct sim_history *h, uint64_t stable_ns,
                                     struct buf *why)
{
    return history_check_accepted(h, stable_ns, true, "liveness", why);
}

static int
history_cmp_u64(const void *a_, const void *b_)
{
    uint64_t a = *(const uint64_t *) a_, b = *(const uint64_t *) b_;
    return a < b ? -1 : a > b;
}

bool
sim_check_seq_unique(const struct sim_history *h, struct buf *why)
{
    for (size_t i = 0; i < h->n_seqs; i++) {
        const struct sim_seq *s = &h->seqs[i];
        uint64_t *sorted;
        bool ok = true;

        if (!s->correct || s->n < 2) {
            continue;
        }
        sorted = xmalloc(s->n * sizeof *sorted);
        memcpy(sorted, s->items, s->n * sizeof *sorted);
        qsort(sorted, s->n, sizeof *sorted, history_cmp_u64);
        for (size_t k = 1; k < s->n && ok; k++) {
            if (sorted[k] == sorted[k - 1]) {
                buf_printf(why, "duplicate: %s delivered item %016"PRIx64" twice\n",
                           s->name ? s->name : "?", sorted[k]);
                ok = false;
            }
        }
        free(sorted);
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool
sim_check_agreement(const struct sim_history *h, bool complete, struct buf *why)
{
    for (size_t i = 0; i < h->n_seqs; i++) {
        const struct sim_seq *a = &h->seqs[i];
        if (!a->group || !a->correct) {
            continue;
        }
        for (size_t j = i + 1; j < h->n_seqs; j++) {
            const struct sim_seq *b = &h->seqs[j];
            size_t n = MIN(a->n, b->n);
            if (b->group != a->group || !b->correct) {
                continue;
            }
            for (size_t k = 0; k < n; k++) {
                if (a->items[k] != b->items[k]) {
                    buf_printf(why, "agreement: %s and %s differ at position %zu of group %"
                               PRIu32" (%016"PRIx64" vs %016"PRIx64")\n",
                               a->name ? a->name : "?", b->name ? b->name : "?", k, a->group,
                               a->items[k], b->items[k]);
                    return false;
                }
            }
            if (complete && a->n != b->n) {
                buf_printf(why, "agreement: %s applied %zu, %s applied %zu in group %"PRIu32"\n",
                           a->name ? a->name : "?", a->n, b->name ? b->name : "?", b->n,
                           a->group);
                return false;
            }
        }
    }
    return true;
}

void
sim_history_add_decision(struct sim_history *h, const struct sim_decision *d)
{
    if (h->n_decisions >= h->cap_decisions) {
        h->decisions = x2nrealloc(h->decisions, &h->cap_decisions, sizeof *h->decisions);
    }
    h->decisions[h->n_decisions++] = *d;
}

static int
history_cmp_decision(const void *a_, const void *b_)
{
    const struct sim_decision *a = a_, *b = b_;

    if (a->stage != b->stage) {
        return a->stage < b->stage ? -1 : 1;
    }
    if (a->client != b->client) {
        return a->client < b->client ? -1 : 1;
    }
    if (a->req_id != b->req_id) {
        return a->req_id < b->req_id ? -1 : 1;
    }
    return a->endpoint < b->endpoint ? -1 : a->endpoint > b->endpoint;
}

static bool
history_endpoint_correct(const struct sim_history *h, uint32_t endpoint)
{
    return endpoint >= h->n_seqs || h->seqs[endpoint].correct;
}

bool
sim_check_stage_agreement(const struct sim_history *h, struct buf *why)
{
    struct sim_decision *d = xmalloc((h->n_decisions ? h->n_decisions : 1) * sizeof *d);
    size_t n = 0;
    bool ok = true;

    for (size_t i = 0; i < h->n_decisions; i++) {
        if (history_endpoint_correct(h, h->decisions[i].endpoint)) {
            d[n++] = h->decisions[i];
        }
    }
    qsort(d, n, sizeof *d, history_cmp_decision);
    for (size_t i = 1; i < n && ok; i++) {
        const struct sim_decision *a = &d[i - 1], *b = &d[i];

        if (a->stage != b->stage || a->client != b->client || a->req_id != b->req_id) {
            continue;
        }
        if (a->endpoint == b->endpoint) {
            buf_printf(why, "stage agreement: endpoint %"PRIu32" of stage %"PRIu32" decided "
                       "client %"PRIu32" request %"PRIu64" twice\n", a->endpoint, a->stage,
                       a->client, a->req_id);
            ok = false;
        } else if (a->value_hash != b->value_hash) {
            buf_printf(why, "stage agreement: correct endpoints %"PRIu32" and %"PRIu32" of "
                       "stage %"PRIu32" decided different values for client %"PRIu32
                       " request %"PRIu64" (%016"PRIx64" vs %016"PRIx64")\n", a->endpoint,
                       b->endpoint, a->stage, a->client, a->req_id, a->value_hash,
                       b->value_hash);
            ok = false;
        }
    }
    free(d);
    return ok;
}
