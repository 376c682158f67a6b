/* linkstage — the delay line of an impaired link: what `sfcd link` runs between a guest's veth
 * and the switch port, in each direction.
 *
 * A direction holds at most 'queue' frames, each due at a time drawn when it arrived: now +
 * delay + uniform(-jitter, +jitter), or now for a fraction 'reorder' of them (they overtake the
 * delayed ones, as netem's reorder does); a fraction 'duplicate' is queued twice, each copy
 * with its own delay. With a loss, a fraction is dropped on arrival; with a rate, frames are
 * also serialised as a link of that rate would (a frame leaves no earlier than the previous one
 * plus its own transmission time): the stage does these itself only where the kernel's filter
 * and tbf cannot, for traffic it tells apart by destination (points of presence). Frames leave
 * in order of due time (a binary heap keyed by due time, then
 * arrival). The core does no I/O and reads no clock: times come in as arguments and randomness
 * from its seeded generator, so unit tests drive it exactly. Main types: struct linkstage_spec,
 * struct linkstage_dir. */
#ifndef SFC_LINKSTAGE_H
#define SFC_LINKSTAGE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LINKSTAGE_SLOT 2048     /* Bytes per frame: an MTU-1500 Ethernet frame and a VLAN tag. */
#define LINKSTAGE_QUEUE_DEFAULT 1000

struct linkstage_spec {
    uint64_t rate_bps;          /* 0: no serialisation. */
    double loss;                /* Fraction dropped on arrival. */
    uint64_t delay_ns;
    uint64_t jitter_ns;
    double duplicate;           /* Fractions, 0..1. */
    double reorder;
    uint32_t queue;             /* Frames; 0: LINKSTAGE_QUEUE_DEFAULT. */
};

struct linkstage_stats {
    uint64_t in, out;           /* Frames accepted, frames released. */
    uint64_t duplicated, reordered;
    uint64_t overflow;          /* Dropped: the queue was full. */
    uint64_t lost;              /* Dropped: the loss draw. */
    uint64_t oversize;          /* Dropped: longer than LINKSTAGE_SLOT. */
};

struct linkstage_dir;

/* Parses "delay=10ms,jitter=1ms,duplicate=1%,reorder=10%,queue=100,loss=1%,rate=10mbit" ("" is
 * a pass-through).
 * Returns false on an unknown key or a bad value. */
bool linkstage_parse_spec(const char *, struct linkstage_spec *);

struct linkstage_dir *linkstage_dir_create(const struct linkstage_spec *, uint64_t seed);
void linkstage_dir_destroy(struct linkstage_dir *);
/* Changes delay, jitter, duplicate and reorder from now on (frames queued keep their due
 * times; the queue length stays). */
void linkstage_dir_set_spec(struct linkstage_dir *, const struct linkstage_spec *);

/* Takes a copy of a frame that arrived at 'now_ns'. */
void linkstage_push(struct linkstage_dir *, const void *frame, size_t len, uint64_t now_ns);
/* The due time of the next frame, or UINT64_MAX when empty. */
uint64_t linkstage_next_due(const struct linkstage_dir *);
/* The next frame due at or before 'now_ns' (valid until the next call), or NULL. */
const uint8_t *linkstage_pop(struct linkstage_dir *, uint64_t now_ns, size_t *lenp);
const struct linkstage_stats *linkstage_stats(const struct linkstage_dir *);

#endif
