/* ftc-private — what FTC's cores share among themselves (the files of vnfs/ft/ftc) and with their
 * tests: epochs and the classification of a log against a replica's view. Not for drivers. */
#ifndef SFC_FT_FTC_PRIVATE_H
#define SFC_FT_FTC_PRIVATE_H 1

#include "vnfs/ft/ftc/ftc.h"

#define FTC_MAX_EPOCHS 32

/* An epoch of a group: the head incarnation that numbered its logs, and the MAX its numbers
 * started from. */
struct ftc_epoch {
    uint32_t epoch;
    uint64_t start[FTC_MAX_PARTS];
};

enum ftc_class {
    FTC_LOG_APPLIED,            /* Already in the store (or a read-only log whose reads are). */
    FTC_LOG_READY,              /* Applies now. */
    FTC_LOG_FUTURE,             /* Some log before it is missing. */
    FTC_LOG_DEAD,               /* Of a head that died before its successor had it. */
};

/* Against a view: the epochs known, the current one, and MAX. */
enum ftc_class ftc_log_classify(const struct ftc_epoch *hist, size_t n_hist, uint32_t epoch,
                                const uint64_t *max, const struct ftc_log *);
/* Whether every entry of 'l' lies before 'start' (writes below it, reads at or below it). */
bool ftc_log_before(const struct ftc_log *, const uint64_t *start);

#endif
