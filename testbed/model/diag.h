/* diag — the one reporter of errors a user must read, with where they came from.
 *
 * Descriptor errors print as "file:line:col: message" (as compilers do), so editors jump to
 * them. A struct diag collects every problem of one file before anything acts on it: parsers
 * keep going after an error so the user sees all of them at once. Never exits. */
#ifndef SFC_DIAG_H
#define SFC_DIAG_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "vnfs/lib/util.h"

struct loc {
    const char *file;           /* Not owned. */
    int line;                   /* 1-based; 0 when unknown. */
    int col;                    /* 1-based; 0 when unknown. */
};

struct diag_pos {
    int line;
    int col;
};

/* At most DIAG_MAX_MSGS messages are kept (a hostile file could make one per line); the rest
 * are counted in 'n_dropped' and diag_print() says how many. */
#define DIAG_MAX_MSGS 1000

struct diag {
    char **msgs;                /* Each "file:line:col: message". */
    struct diag_pos *pos;       /* Where msgs[i] points, for diag_sort(). */
    size_t n;
    size_t cap;
    size_t n_dropped;           /* Past DIAG_MAX_MSGS. */
};

void diag_init(struct diag *);
void diag_uninit(struct diag *);
void diag_error(struct diag *, const struct loc *, const char *fmt, ...) PRINTF_FORMAT(3, 4);
bool diag_has_errors(const struct diag *);
void diag_print(const struct diag *, FILE *);
/* Orders the messages from index 'from' on by line and column (file-wide ones first), keeping
 * the order of messages at one position: a parser checks in passes, a user reads top down. */
void diag_sort(struct diag *, size_t from);

#endif
