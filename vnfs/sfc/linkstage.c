#include "vnfs/sfc/linkstage.h"

#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/util.h"

struct slot {
    uint64_t due;
    uint64_t seq;               /* Arrival order: equal due times leave first come first out. */
    uint32_t len;
    uint8_t data[LINKSTAGE_SLOT];
};

struct linkstage_dir {
    struct linkstage_spec spec;
    uint64_t rng;
    uint64_t seq;
    struct slot *slots;
    uint32_t *free;             /* Stack of free slot indices. */
    size_t n_free;
    uint32_t *heap;             /* Slot indices, a min-heap by (due, seq). */
    size_t n_heap;
    int64_t released;           /* Slot handed out by the last pop, freed at the next call. */
    uint64_t busy_until;        /* With a rate: when the emulated wire is free again. */
    struct linkstage_stats stats;
};

static bool
parse_fraction(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);

    if (end == s || strcmp(end, "%") || !(v >= 0 && v <= 100)) {
        return false;
    }
    *out = v / 100;
    return true;
}

bool
linkstage_parse_spec(const char *text, struct linkstage_spec *spec)
{
    char *copy = xstrdup(text), *save = NULL;
    struct linkstage_spec s = { 0 };
    bool ok = true;

    for (char *kv = strtok_r(copy, ",", &save); kv && ok; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');

        if (!eq) {
            ok = false;
            break;
        }
        *eq++ = '\0';
        if (!strcmp(kv, "delay")) {
            ok = parse_duration(eq, &s.delay_ns);
        } else if (!strcmp(kv, "jitter")) {
            ok = parse_duration(eq, &s.jitter_ns);
        } else if (!strcmp(kv, "duplicate")) {
            ok = parse_fraction(eq, &s.duplicate);
        } else if (!strcmp(kv, "reorder")) {
            ok = parse_fraction(eq, &s.reorder);
        } else if (!strcmp(kv, "loss")) {
            ok = parse_fraction(eq, &s.loss);
        } else if (!strcmp(kv, "rate")) {
            ok = parse_rate(eq, &s.rate_bps) && s.rate_bps;
        } else if (!strcmp(kv, "queue")) {
            char *end;
            unsigned long q = strtoul(eq, &end, 10);
            ok = *eq && !*end && q >= 1 && q <= 1000000;
            s.queue = q;
        } else {
            ok = false;
        }
    }
    free(copy);
    if (ok) {
        *spec = s;
    }
    return ok;
}

/* xorshift64*: fast, and plenty for drawing delays and coin flips. */
static uint64_t
rng_next(struct linkstage_dir *d)
{
    d->rng ^= d->rng >> 12;
    d->rng ^= d->rng << 25;
    d->rng ^= d->rng >> 27;
    return d->rng * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, 1). */
static double
rng_unit(struct linkstage_dir *d)
{
    return (rng_next(d) >> 11) * (1.0 / 9007199254740992.0);
}

struct linkstage_dir *
linkstage_dir_create(const struct linkstage_spec *spec, uint64_t seed)
{
    struct linkstage_dir *d = xzalloc(sizeof *d);
    size_t n;

    d->spec = *spec;
    if (!d->spec.queue) {
        d->spec.queue = LINKSTAGE_QUEUE_DEFAULT;
    }
    n = d->spec.queue;
    d->rng = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
    if (!d->rng) {
        d->rng = 1;
    }
    d->slots = xcalloc(n, sizeof *d->slots);
    d->free = xcalloc(n, sizeof *d->free);
    d->heap = xcalloc(n, sizeof *d->heap);
    for (size_t i = 0; i < n; i++) {
        d->free[d->n_free++] = n - 1 - i;
    }
    d->released = -1;
    return d;
}

void
linkstage_dir_destroy(struct linkstage_dir *d)
{
    if (d) {
        free(d->slots);
        free(d->free);
        free(d->heap);
        free(d);
    }
}

void
linkstage_dir_set_spec(struct linkstage_dir *d, const struct linkstage_spec *spec)
{
    uint32_t queue = d->spec.queue;

    d->spec = *spec;
    d->spec.queue = queue;
}

static bool
before(const struct linkstage_dir *d, uint32_t a, uint32_t b)
{
    const struct slot *x = &d->slots[a], *y = &d->slots[b];
    return x->due < y->due || (x->due == y->due && x->seq < y->seq);
}

static void
heap_push(struct linkstage_dir *d, uint32_t idx)
{
    size_t i = d->n_heap++;

    while (i && before(d, idx, d->heap[(i - 1) / 2])) {
        d->heap[i] = d->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    d->heap[i] = idx;
}

static uint32_t
heap_pop(struct linkstage_dir *d)
{
    uint32_t top = d->heap[0], last = d->heap[--d->n_heap];
    size_t i = 0;

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= d->n_heap) {
            break;
        }
        if (c + 1 < d->n_heap && before(d, d->heap[c + 1], d->heap[c])) {
            c++;
        }
        if (!before(d, d->heap[c], last)) {
            break;
        }
        d->heap[i] = d->heap[c];
        i = c;
    }
    if (d->n_heap) {
        d->heap[i] = last;
    }
    return top;
}

static void
release_last(struct linkstage_dir *d)
{
    if (d->released >= 0) {
        d->free[d->n_free++] = d->released;
        d->released = -1;
    }
}

static void
enqueue(struct linkstage_dir *d, const void *frame, size_t len, uint64_t now)
{
    const struct linkstage_spec *s = &d->spec;
    struct slot *slot;
    uint64_t due = now;
    uint32_t idx;

    if (!d->n_free) {
        d->stats.overflow++;
        return;
    }
    if (s->reorder && rng_unit(d) < s->reorder) {
        d->stats.reordered++;               /* Sent now: it overtakes the delayed ones. */
    } else {
        int64_t delay = s->delay_ns;
        if (s->jitter_ns) {
            delay += (int64_t) (rng_unit(d) * (2.0 * s->jitter_ns + 1)) - (int64_t) s->jitter_ns;
        }
        due = now + (delay > 0 ? (uint64_t) delay : 0);
    }
    if (s->rate_bps) {
        due = MAX(due, d->busy_until) + (uint64_t) len * 8 * 1000000000ull / s->rate_bps;
        d->busy_until = due;
    }
    idx = d->free[--d->n_free];
    slot = &d->slots[idx];
    slot->due = due;
    slot->seq = d->seq++;
    slot->len = len;
    memcpy(slot->data, frame, len);
    heap_push(d, idx);
}

void
linkstage_push(struct linkstage_dir *d, const void *frame, size_t len, uint64_t now_ns)
{
    release_last(d);
    if (len > LINKSTAGE_SLOT) {
        d->stats.oversize++;
        return;
    }
    d->stats.in++;
    if (d->spec.loss && rng_unit(d) < d->spec.loss) {
        d->stats.lost++;
        return;
    }
    enqueue(d, frame, len, now_ns);
    if (d->spec.duplicate && rng_unit(d) < d->spec.duplicate) {
        d->stats.duplicated++;
        enqueue(d, frame, len, now_ns);
    }
}

uint64_t
linkstage_next_due(const struct linkstage_dir *d)
{
    return d->n_heap ? d->slots[d->heap[0]].due : UINT64_MAX;
}

const uint8_t *
linkstage_pop(struct linkstage_dir *d, uint64_t now_ns, size_t *lenp)
{
    uint32_t idx;

    release_last(d);
    if (!d->n_heap || d->slots[d->heap[0]].due > now_ns) {
        return NULL;
    }
    idx = heap_pop(d);
    d->released = idx;
    d->stats.out++;
    *lenp = d->slots[idx].len;
    return d->slots[idx].data;
}

const struct linkstage_stats *
linkstage_stats(const struct linkstage_dir *d)
{
    return &d->stats;
}
