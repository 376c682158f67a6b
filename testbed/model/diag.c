#include "testbed/model/diag.h"

#include <stdarg.h>
#include <stdlib.h>

void
diag_init(struct diag *d)
{
    d->msgs = NULL;
    d->pos = NULL;
    d->n = d->cap = 0;
    d->n_dropped = 0;
}

void
diag_uninit(struct diag *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->msgs[i]);
    }
    free(d->msgs);
    free(d->pos);
    diag_init(d);
}

void
diag_error(struct diag *d, const struct loc *loc, const char *fmt, ...)
{
    va_list args;
    char *msg;

    if (d->n >= DIAG_MAX_MSGS) {
        d->n_dropped++;
        return;
    }
    va_start(args, fmt);
    msg = xvasprintf(fmt, args);
    va_end(args);
    if (d->n >= d->cap) {
        d->msgs = x2nrealloc(d->msgs, &d->cap, sizeof *d->msgs);
        d->pos = xrealloc(d->pos, d->cap * sizeof *d->pos);
    }
    d->pos[d->n].line = loc ? loc->line : 0;
    d->pos[d->n].col = loc && loc->line ? loc->col : 0;
    if (loc && loc->line) {
        d->msgs[d->n++] = xasprintf("%s:%d:%d: %s", loc->file, loc->line, loc->col, msg);
    } else if (loc && loc->file) {
        d->msgs[d->n++] = xasprintf("%s: %s", loc->file, msg);
    } else {
        d->msgs[d->n++] = xstrdup(msg);
    }
    free(msg);
}

bool
diag_has_errors(const struct diag *d)
{
    return d->n > 0 || d->n_dropped > 0;
}

void
diag_print(const struct diag *d, FILE *stream)
{
    for (size_t i = 0; i < d->n; i++) {
        fprintf(stream, "%s\n", d->msgs[i]);
    }
    if (d->n_dropped) {
        fprintf(stream, "... and %zu more problems not shown\n", d->n_dropped);
    }
}

struct diag_entry {
    char *msg;
    struct diag_pos pos;
    size_t order;
};

static int
diag_entry_cmp(const void *a_, const void *b_)
{
    const struct diag_entry *a = a_, *b = b_;

    if (a->pos.line != b->pos.line) {
        return a->pos.line < b->pos.line ? -1 : 1;
    }
    if (a->pos.col != b->pos.col) {
        return a->pos.col < b->pos.col ? -1 : 1;
    }
    return a->order < b->order ? -1 : a->order > b->order;
}

void
diag_sort(struct diag *d, size_t from)
{
    struct diag_entry *entries;
    size_t n;

    if (from >= d->n) {
        return;
    }
    n = d->n - from;
    entries = xmalloc(n * sizeof *entries);
    for (size_t i = 0; i < n; i++) {
        entries[i] = (struct diag_entry) { d->msgs[from + i], d->pos[from + i], i };
    }
    qsort(entries, n, sizeof *entries, diag_entry_cmp);
    for (size_t i = 0; i < n; i++) {
        d->msgs[from + i] = entries[i].msg;
        d->pos[from + i] = entries[i].pos;
    }
    free(entries);
}
