#include "testbed/model/diag.h"

#include <stdarg.h>
#include <stdlib.h>

void
diag_init(struct diag *d)
{
    d->msgs = NULL;
    d->n = d->cap = 0;
}

void
diag_uninit(struct diag *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->msgs[i]);
    }
    free(d->msgs);
    diag_init(d);
}

void
diag_error(struct diag *d, const struct loc *loc, const char *fmt, ...)
{
    va_list args;
    char *msg;

    va_start(args, fmt);
    msg = xvasprintf(fmt, args);
    va_end(args);
    if (d->n >= d->cap) {
        d->msgs = x2nrealloc(d->msgs, &d->cap, sizeof *d->msgs);
    }
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
    return d->n > 0;
}

void
diag_print(const struct diag *d, FILE *stream)
{
    for (size_t i = 0; i < d->n; i++) {
        fprintf(stream, "%s\n", d->msgs[i]);
    }
}
