/* events — the runner's event API for whatever runs beside the workload (a scheme's host-side
 * controller, the fault plan): events on the run's clock with microsecond timestamps, recorded
 * from any thread into a queue the runner drains into the store (the store is not thread-safe;
 * nothing here touches it). No polling: a controller records when it sees something.
 *
 * Main type: struct run_events. */
#ifndef SFC_RUN_EVENTS_H
#define SFC_RUN_EVENTS_H 1

#include <stddef.h>
#include <stdint.h>

struct store;
struct run_events;

/* 'mono_origin' is time_mono_ns() at the run's time 0. */
struct run_events *run_events_create(uint64_t mono_origin);
void run_events_destroy(struct run_events *);

/* Records an event that happened at monotonic time 'mono_ns' (0: now), kept with microsecond
 * resolution on the run's clock. 'target' and 'detail' may be NULL. Thread-safe. */
void run_events_add(struct run_events *, uint64_t mono_ns, const char *kind,
                    const char *target, const char *detail);
/* The same, with the detail formatted from 'fmt'. */
void run_events_addf(struct run_events *, uint64_t mono_ns, const char *kind,
                     const char *target, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Microseconds since the run's time 0 for a monotonic time (0: now). */
int64_t run_events_time_us(const struct run_events *, uint64_t mono_ns);

/* Moves what was recorded into 'run' of 'store' (the runner's thread only). Returns how many. */
size_t run_events_drain(struct run_events *, struct store *, int64_t run);

#endif
