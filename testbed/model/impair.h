/* impair — link impairments as descriptors write them: rate, delay, jitter, loss, duplication,
 * reordering and queue length, per direction, and named profiles of them.
 *
 * One syntax serves topologies (a `links:` entry, a `profiles:` entry) and experiments (the
 * `network:` map): the keys below apply to both directions, and an `egress:` or `ingress:` map
 * of the same keys overrides one direction. Egress is what the guest sends (guest -> switch),
 * ingress what it receives. `profile: NAME` starts from a named profile; keys written beside it
 * override it.
 *
 *   rate: 100mbit   delay: 20ms   jitter: 2ms   loss: 0.5%   duplicate: 1%   reorder: 10%
 *   queue: 1000     # packets the link may hold per direction (tbf limit, delay line length)
 *   egress: {loss: 1%}
 *
 * As in netem, `reorder: P` sends a fraction P of packets without their delay, so they overtake
 * the delayed ones: it needs a delay. Jitter needs a delay too and may not exceed it (delays
 * never go negative). impair_parse() only reads and validates (every problem reported at its
 * node, file:line:col); what realises an impairment on a host is testbed/infra/impair.h. Main
 * types: struct impair_dir, struct impair, struct impair_profile. */
#ifndef SFC_IMPAIR_H
#define SFC_IMPAIR_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "testbed/model/diag.h"

struct buf;
struct fy_node;
struct yaml_doc;

#define IMPAIR_QUEUE_DEFAULT 1000       /* Packets, as netem's default limit. */
#define IMPAIR_QUEUE_MAX 100000
#define IMPAIR_DELAY_MAX (10ull * 1000000000ull)        /* 10 s: past that it is a cut. */

/* The keys of one direction; impair_parse() also takes IMPAIR_MAP_KEYS. */
#define IMPAIR_DIR_KEYS "rate", "delay", "jitter", "loss", "duplicate", "reorder", "queue"
#define IMPAIR_MAP_KEYS IMPAIR_DIR_KEYS, "egress", "ingress", "profile"

struct impair_dir {
    uint64_t rate_bps;          /* 0: unlimited. */
    uint64_t delay_ns;
    uint64_t jitter_ns;         /* Uniform in [delay - jitter, delay + jitter]. */
    double loss;                /* Fractions, 0 <= x <= 1. */
    double duplicate;
    double reorder;
    uint32_t queue;             /* Packets; 0: IMPAIR_QUEUE_DEFAULT. */
};

struct impair {
    struct impair_dir egress;   /* Guest -> switch. */
    struct impair_dir ingress;  /* Switch -> guest. */
};

struct impair_profile {
    char *name;
    struct impair impair;
    struct loc loc;
};

/* True if 'd' changes nothing and asks for nothing (no stage, filter or qdisc is needed); an
 * explicit queue asks for the stage. */
bool impair_dir_is_zero(const struct impair_dir *);
bool impair_is_zero(const struct impair *);
/* True if the direction needs the userspace stage (delay, jitter, duplicate, reorder). */
bool impair_dir_needs_stage(const struct impair_dir *);

/* Reads the impairment keys of 'map' (other keys are the caller's to check) into '*out', on
 * top of what '*out' already holds, resolving `profile:` among 'profiles' (NULL: the caller
 * takes no `profile:` key, and checks the keys of 'map' itself). Reports every
 * problem through the document's diag and returns EINVAL (leaving '*out' partly written), or
 * 0. */
int impair_parse(struct yaml_doc *, struct fy_node *map, const struct impair_profile *profiles,
                 size_t n_profiles, struct impair *out);

/* Parses a `profiles:` map (name -> impairment map) into a new array, the caller's to free
 * with impair_profiles_free() even on EINVAL (it then holds the profiles that were valid).
 * Profiles may name earlier profiles. Problems as impair_parse(). */
int impair_parse_profiles(struct yaml_doc *, struct fy_node *map,
                          struct impair_profile **profilesp, size_t *np);
void impair_profiles_free(struct impair_profile *, size_t n);

/* Appends the keys of 'imp' as YAML flow-map members ("rate: 1mbit, delay: 1ms, egress: {...}")
 * with a leading ", " before each, or nothing when it is zero: impair_parse() reads them back to
 * the same value. */
void impair_format_flow(const struct impair *, struct buf *);
/* The same as block-map lines indented by 'indent' spaces. */
void impair_format_block(const struct impair *, int indent, struct buf *);
/* "rate=1mbit delay=1ms loss=1%" for one direction ("none" when zero). */
void impair_format_dir(const struct impair_dir *, struct buf *);

/* Profiles every descriptor and command knows without defining them: the modes of the
 * `degrade` fault (injectors/degrade.c), a partial network fault rather than a cut.
 *   lossy      loss 5%
 *   wan        delay 20ms, jitter 2ms, rate 100mbit
 *   congested  delay 50ms, jitter 10ms, loss 1%
 *   slow       rate 10mbit
 * IMPAIR_BUILTIN_NAMES lists them, the first being the default; impair_builtin() gives one's
 * assignments ("loss=5%", ...; NULL-terminated, static) or NULL. */
#define IMPAIR_BUILTIN_NAMES "lossy", "wan", "congested", "slow"
const char *const *impair_builtin(const char *name);

/* The rules across keys (jitter and reorder need a delay; jitter at most the delay) for an
 * impairment that did not come from a file. Returns 0, or EINVAL with a message in '*errp'. */
int impair_check(const struct impair *, char **errp);

/* Parses "key=value" (a direction key, optionally prefixed by "egress." or "ingress.") into
 * 'imp', for `sfclab link ... set`. Returns 0, or EINVAL with a message in '*errp' (the
 * caller frees it). */
int impair_set_kv(struct impair *, const char *assignment, char **errp);

#endif
