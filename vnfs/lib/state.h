/* state — the store every network function keeps its state in, and through which the
 * fault-tolerance schemes read, write, export, import and compare it.
 *
 * A hash map of keys (bytes) to values (bytes), with u64 counters as a typed helper. Every change
 * (put, in-place write, counter update, delete) stamps its entry with the store's next sequence
 * number, so "what changed since mark M" is every entry (or tombstone) stamped after M: NHAM's
 * checkpoints export the whole store, FTvNF's and FTC's deltas export only what changed since the
 * last mark. Deletes leave tombstones until state_compact() so deltas can carry them.
 *
 * The export format (version 1, all integers big-endian) crosses the network, so state_import()
 * parses it strictly and applies nothing unless the whole message is valid:
 *
 *     "SFST" u8 version=1  u8 kind (1 full, 2 delta)  u16 reserved=0
 *     u64 since (0 for full)  u64 seq (exporter's sequence number)  u32 n_records
 *     n_records x { u8 op (1 put, 2 delete)  u8 reserved=0  u16 key_len  u32 value_len
 *                   key  value }            (value_len is 0 for delete; key_len >= 1)
 *
 * A delta's records alone, without the header, make a bare delta (FTC's logs, one a packet: the
 * header's 28 bytes say nothing its importer needs; its records are as many as fill its length).
 *
 * A full import replaces the store's contents; a delta import applies on top of them. Keys are
 * unique within one message. The digest (libsodium generichash, 32 bytes) covers the live entries
 * in key order, so two replicas with the same contents have the same digest whatever their
 * insertion order or history.
 *
 * Never does I/O, never reads a clock; not thread-safe (one store per function instance). The
 * number of live entries is bounded (state_set_limit(), default STATE_DEFAULT_MAX_ENTRIES) so a
 * flow flood cannot exhaust the guest's memory: puts beyond it fail with ENOSPC.
 *
 * Main types: struct nf_state (opaque). */
#ifndef SFC_STATE_H
#define SFC_STATE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/buf.h"

#define STATE_DIGEST_LEN 32
#define STATE_MAX_KEY 65535
#define STATE_MAX_VALUE (64u << 20)
#define STATE_DEFAULT_MAX_ENTRIES (1u << 20)
#define STATE_FORMAT_VERSION 1

struct nf_state;

struct nf_state *state_create(void);
void state_destroy(struct nf_state *);
/* Removes every entry (each becomes a tombstone, so a delta carries the clear). */
void state_clear(struct nf_state *);
void state_set_limit(struct nf_state *, size_t max_entries);

/* Live entries and the bytes of their keys and values. */
size_t state_count(const struct nf_state *);
size_t state_bytes(const struct nf_state *);

/* Lookup: on success points '*valuep' into the store (valid until the next change to that key)
 * and returns true. */
bool state_get(const struct nf_state *, const void *key, size_t key_len,
               const uint8_t **valuep, size_t *value_lenp);
/* Copies 'value' in under 'key'. Returns 0, EINVAL (empty or oversized key/value) or ENOSPC. */
int state_put(struct nf_state *, const void *key, size_t key_len,
              const void *value, size_t value_len);
/* Gives writable access to the value of 'key', created zero-filled or resized to 'value_len'
 * (new bytes zero), and marks it changed: for functions that update state in place. Returns
 * 0 and sets '*valuep', or EINVAL / ENOSPC. */
int state_write(struct nf_state *, const void *key, size_t key_len, size_t value_len,
                uint8_t **valuep);
/* Returns true if 'key' was there. */
bool state_delete(struct nf_state *, const void *key, size_t key_len);

/* u64 counters, stored as 8 bytes big-endian (so exports are portable). A missing key reads 0;
 * a value of another length reads 0 and is replaced by the first add. */
uint64_t state_counter_get(const struct nf_state *, const void *key, size_t key_len);
/* Adds 'delta' (wrapping) and returns the new value; on ENOSPC returns the old value (0). */
uint64_t state_counter_add(struct nf_state *, const void *key, size_t key_len, uint64_t delta);

/* Change tracking. state_mark() returns the sequence number of the latest change; entries
 * changed afterwards are "since" it. */
uint64_t state_mark(const struct nf_state *);
/* Number of entries and tombstones changed after 'mark'. This and state_export_since() cost
 * the changes alone when 'mark' is at most 16 changes old (a packet's transaction), a pass
 * over the whole store otherwise. */
size_t state_changes_since(const struct nf_state *, uint64_t mark);
/* Drops tombstones stamped at or before 'mark' (deltas from before it can no longer be made). */
void state_compact(struct nf_state *, uint64_t mark);

/* Calls 'cb' for every live entry in unspecified order; stops and returns its value when it
 * returns nonzero. The store must not be changed from 'cb'. */
int state_foreach(const struct nf_state *,
                  int (*cb)(const uint8_t *key, size_t key_len,
                            const uint8_t *value, size_t value_len, void *aux),
                  void *aux);

/* Appends the whole store (kind full) or what changed after 'mark' (kind delta) to 'out'. */
void state_export(const struct nf_state *, struct buf *out);
void state_export_since(const struct nf_state *, uint64_t mark, struct buf *out);
/* Appends a delta holding the live values of the 'n' keys (a key named twice is exported once;
 * an absent one not at all): what changed, for a caller that knows which keys it wrote. */
void state_export_keys(const struct nf_state *, const uint8_t *const keys[],
                       const size_t key_lens[], size_t n, struct buf *out);
/* The same as bare deltas: the records alone. */
void state_export_records_since(const struct nf_state *, uint64_t mark, struct buf *out);
void state_export_records_keys(const struct nf_state *, const uint8_t *const keys[],
                               const size_t key_lens[], size_t n, struct buf *out);
/* Applies an export. Returns 0, or EINVAL (malformed: bad magic, version, kind, length,
 * duplicate key, trailing bytes), EPROTONOSUPPORT (unknown version) or ENOSPC, in which
 * cases the store is unchanged. */
int state_import(struct nf_state *, const uint8_t *data, size_t len);
/* Applies a bare delta, as state_import() (EINVAL if malformed). */
int state_import_records(struct nf_state *, const uint8_t *data, size_t len);
/* Checks an export without applying it. */
int state_validate(const uint8_t *data, size_t len);

void state_digest(const struct nf_state *, uint8_t digest[STATE_DIGEST_LEN]);

#endif
