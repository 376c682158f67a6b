#include "testbed/run/events.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/store/store.h"
#include "vnfs/lib/util.h"

struct run_event {
    int64_t t_us;
    char *kind, *target, *detail;
};

struct run_events {
    uint64_t mono_origin;
    pthread_mutex_t mutex;
    struct run_event *v;
    size_t n, cap;
};

struct run_events *
run_events_create(uint64_t mono_origin)
{
    struct run_events *e = xzalloc(sizeof *e);

    e->mono_origin = mono_origin;
    pthread_mutex_init(&e->mutex, NULL);
    return e;
}

static void
event_free(struct run_event *ev)
{
    free(ev->kind);
    free(ev->target);
    free(ev->detail);
}

void
run_events_destroy(struct run_events *e)
{
    if (!e) {
        return;
    }
    for (size_t i = 0; i < e->n; i++) {
        event_free(&e->v[i]);
    }
    free(e->v);
    pthread_mutex_destroy(&e->mutex);
    free(e);
}

int64_t
run_events_time_us(const struct run_events *e, uint64_t mono_ns)
{
    return ((int64_t) (mono_ns ? mono_ns : time_mono_ns()) - (int64_t) e->mono_origin) / 1000;
}

void
run_events_add(struct run_events *e, uint64_t mono_ns, const char *kind, const char *target,
               const char *detail)
{
    struct run_event ev = {
        .t_us = run_events_time_us(e, mono_ns),
        .kind = xstrdup(kind),
        .target = target ? xstrdup(target) : NULL,
        .detail = detail ? xstrdup(detail) : NULL,
    };

    pthread_mutex_lock(&e->mutex);
    if (e->n == e->cap) {
        e->v = x2nrealloc(e->v, &e->cap, sizeof *e->v);
    }
    e->v[e->n++] = ev;
    pthread_mutex_unlock(&e->mutex);
}

size_t
run_events_drain(struct run_events *e, struct store *store, int64_t run)
{
    struct run_event *v;
    size_t n;

    pthread_mutex_lock(&e->mutex);
    v = e->v;
    n = e->n;
    e->v = NULL;
    e->n = e->cap = 0;
    pthread_mutex_unlock(&e->mutex);
    for (size_t i = 0; i < n; i++) {
        store_event_add(store, run, v[i].t_us * 1000, v[i].kind, v[i].target, v[i].detail);
        event_free(&v[i]);
    }
    free(v);
    return n;
}
