/* take — the SFF's takeover of an active-active VNF hop (1R-AA, MR-AA): what the SFF and a
 * standby decide when the FMS says the hop's active copy died. The same code runs on real
 * guests (vnfs/sfc/nham.c, which carries these payloads sealed over Ethernet) and in the
 * simulator (tests/sim/scenario_nham_take.c, which carries them over its network): nothing
 * here does I/O, reads a clock or keeps a pointer to its input.
 *
 * Each standby keeps the hop's last checkpoint image as it arrives and says which one it holds:
 *   ACK:  "NHAMWACK" nonce(8) id(NHAM_TAKE_ID) len(4), the standby to the SFF after each image
 *         it took; the nonce is random, drawn once per standby process, and the id is the
 *         image's first NHAM_TAKE_ID bytes (epoch, counter, count, digest: they name it).
 * The SFF takes a standby for the hop's next incarnation only if its last ACK names an image
 * the SFF gave the standbys whose counter is not below the one buffer_rx was released up to
 * (nham_take_choose()): the replay of buffer_rx after it then loses nothing and repeats
 * nothing. When the VSM saves a checkpoint, the standbys are given its image at once, but its
 * ACKs come a wake-up of each standby later (0.5-2 ms on a loaded host): a death in between
 * found none that had said it holds the new image, and the FMS activated a standby the old way
 * (3.2 ms instead of 0.1; 1 MR-AA kill in 201 in session 12). So the SFF's core is told that
 * checkpoint is saved, and releases buffer_rx up to it, only once a standby acknowledged its
 * image (nham_take_defer(); at the latest at the next checkpoint, or after NHAM_TAKE_DEFER_NS):
 * until then a standby that holds the image before it ('prev') can take over from that one.
 * It sends that standby, first:
 *   TAKE: "NHAMTAKE" nonce(8) incarnation(4) mac(6) id(NHAM_TAKE_ID) len(4), the nonce of the
 *         standby's last ACK, its MAC (the simulator: its endpoint id) and the image's id;
 * then the replay, as to the new incarnation whose READY (that incarnation, the image's
 * counter) the SFF gives its own core. The standby judges the TAKE (nham_take_judge()): not for
 * it (not a standby, another process or MAC); from the image it holds (its core starts from it
 * and its READY stays with it: the SFF has stated it), or, when it holds another image, an
 * activation of the old kind (its core asks the VSM, and its own READY replays again).
 *
 * Main types: struct nham_take_ack, struct nham_take_hop, struct nham_take_msg. */
#ifndef SFC_FT_NHAM_TAKE_H
#define SFC_FT_NHAM_TAKE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vnfs/lib/buf.h"

#define NHAM_TAKE_MAGIC_LEN 8
#define NHAM_TAKE_ID 28                 /* An image's name: epoch(4) counter(8) count(8)
                                         * digest(8), its first bytes (nham_image). */
#define NHAM_ACK_LEN (NHAM_TAKE_MAGIC_LEN + 8 + NHAM_TAKE_ID + 4)
#define NHAM_TAKE_LEN (NHAM_TAKE_MAGIC_LEN + 8 + 4 + 6 + NHAM_TAKE_ID + 4)

/* The takeover's SCHED_FIFO priorities on real guests, shared by the host's FMS, which raises
 * the SFF and the standbys before its command (testbed/schemes/nham_ctl.c, nham_rt_raise()),
 * and the SFF, which moves itself between them (vnfs/sfc/nham.c, nham_realtime_move()). The
 * SFF's is that of the FMS's threads and the switch's PMD: it preempts neither before the
 * command is out, and it steps back down to it once its TAKE is out; the standbys' is one
 * above, and the SFF's while it handles the command (no standby preempts it before its TAKE). */
#define NHAM_RT_SFF 1
#define NHAM_RT_STANDBY 2

/* A standby's last ACK, as the SFF keeps it per copy of a hop. */
struct nham_take_ack {
    bool valid;
    uint64_t seq;                       /* Its sequence number: not above, a replay. */
    uint64_t nonce;
    uint8_t id[NHAM_TAKE_ID];
    uint32_t len;
    bool active;                        /* The process of 'active_nonce' serves the hop (it */
    uint64_t active_nonce;              /* took a TAKE or said READY): its ACKs count no more. */
};

/* The ACK of a standby ('nonce') that holds 'image' ('len' bytes, at least NHAM_TAKE_ID). */
void nham_take_ack_put(struct buf *, uint64_t nonce, const uint8_t *image, size_t len);
/* Takes ACK payload 'p' ('len' bytes, its seal checked; 'seq' its number) into 'a'. False, 'a'
 * untouched, when it is no ACK or not newer than the one kept (replayed: it would name an image
 * the standby no longer holds). */
bool nham_take_ack_update(struct nham_take_ack *a, uint64_t seq, const uint8_t *p, size_t len);
/* True when 'p' is an ACK, whatever its number. */
bool nham_take_is_ack(const uint8_t *p, size_t len);
/* The copy of 'a' serves the hop now (the SFF sent it a TAKE, or its READY addressed the hop to
 * it): it is no standby, and the ACKs of its process, even one still on its way, name an image
 * it no longer holds. Taken again, it would drop the TAKE and the replay that follows it (the
 * incarnation they name is not its own), and the hop would stall. A standby restarted in its
 * place (another process, another nonce) counts again. */
void nham_take_ack_active(struct nham_take_ack *a);

/* How long the SFF's core may be kept from hearing of a saved checkpoint while no standby
 * acknowledged its image (a standby that died does not answer). */
#define NHAM_TAKE_DEFER_NS (10 * 1000 * 1000ull)

/* One hop, as the SFF's takeover sees it. */
struct nham_take_hop {
    const uint8_t *warmed;              /* The image its standbys were given last (NULL: none), */
    size_t warmed_len;
    const uint8_t *prev;                /* and the one before (NULL: none). */
    size_t prev_len;
    uint64_t saved;                     /* The last saved checkpoint the SFF's core was told of
                                         * (its counter): buffer_rx is released up to it. */
    bool addressed;                     /* A READY (or a TAKE) chose a copy, */
    uint32_t addressed_epoch;           /* as this incarnation. */
    const struct nham_take_ack *acks;   /* Per copy. */
    size_t n_copies;
};

/* Whether the SFF keeps from its core the word that the checkpoint whose image it just gave
 * the standbys ('warmed') is saved: when a standby ('acks', all but copy 'active') said it holds
 * an image, and none said it holds that one yet. */
bool nham_take_defer(const struct nham_take_ack *acks, size_t n_copies, size_t active,
                     const uint8_t *warmed, size_t warmed_len);
/* Whether ACK 'a' names 'image' ('len' bytes). */
bool nham_take_ack_names(const struct nham_take_ack *a, const uint8_t *image, size_t len);

/* The standby of 'hop' that becomes incarnation 'inc', among the copies in 'mask' (the FMS's
 * running standbys): the first whose last ACK names 'warmed', else the first whose last ACK
 * names 'prev', of the two those whose counter is not below 'saved'. 0 with '*copyp' and
 * '*counterp' (the image's counter: the READY the SFF gives its core) set; EINVAL for 'inc'
 * out of range, ESTALE for one not above the hop's, ENOENT when no standby is known to hold
 * such an image (the FMS activates one itself then), with '*why' saying which. */
int nham_take_choose(const struct nham_take_hop *hop, long long inc, uint64_t mask,
                     size_t *copyp, uint64_t *counterp, const char **why);

/* The TAKE to copy 'copy' of 'hop' (chosen by nham_take_choose()) as incarnation 'inc', whose
 * MAC is 'mac'. */
void nham_take_put(struct buf *, const struct nham_take_hop *hop, size_t copy, uint32_t inc,
                   const uint8_t mac[6]);

struct nham_take_msg {
    uint64_t nonce;
    uint32_t inc;
    uint8_t mac[6];
    const uint8_t *id;                  /* Into the parsed payload. */
    uint32_t len;
};

/* Parses TAKE payload 'p' ('len' bytes, its seal checked). */
bool nham_take_parse(const uint8_t *p, size_t len, struct nham_take_msg *);

enum nham_take_verdict {
    NHAM_TAKE_NOT_MINE,     /* Not a standby, or not this process or MAC: nothing. */
    NHAM_TAKE_FROM_IMAGE,   /* It holds the image named: its core starts from it. */
    NHAM_TAKE_FROM_PREV,    /* It held the image named before the one it holds (the SFF chose
                             * it while its ACK of the newer one was on its way): from that. */
    NHAM_TAKE_ACTIVATE,     /* It holds another image (or none): it activates as the FMS
                             * would have it do, its core asks the VSM. */
};

/* What a copy does with TAKE 't': 'standby' whether it is one, 'nonce' and 'mac' its own,
 * 'held' ('held_len' bytes, 0: none) the image it holds and 'prev' the one it held before. */
enum nham_take_verdict nham_take_judge(const struct nham_take_msg *t, bool standby,
                                       uint64_t nonce, const uint8_t mac[6],
                                       const uint8_t *held, size_t held_len,
                                       const uint8_t *prev, size_t prev_len);

/* Whether a standby that took over as incarnation 'inc' from its image keeps its core's READY
 * to itself (the SFF stated it): not when a DATA frame of incarnation 'inc' reached it while
 * it was still a standby ('dropped_epoch', the latest such incarnation) and was dropped, since
 * the replay overtook the TAKE (a switch does not keep the order of frames of different
 * kinds): its READY then replays again at once, not at the SFF's go-back-N a period later. */
bool nham_take_keeps_ready(uint32_t inc, uint32_t dropped_epoch);

#endif
