/* report — our numbers beside the published ones, as Markdown, and where the shape differs.
 *
 * Input is a list of tables (one per figure or table of a paper), each a list of rows
 * {label, group, published, measured, ci95, unit, derived} that the caller fills (results.h:
 * the recorded experiment file's references beside the stored summaries). Absolute
 * numbers come from other machines, so what is checked is the shape: which row is best, whether
 * every pair of rows is ordered the same way, and whether each group's trend (first row to last,
 * e.g. over chain length) rises, falls or stays flat in both. A row whose value is itself shape
 * (a share, a ratio, a count: 'value_checked') is also checked against the published value. A
 * row that names another of its table ('ratio_to', opt-in: e.g. f=1 over f=0) is checked as a
 * ratio: ours this/that against the published this/that, within REPORT_FLAT of the larger.
 *
 * Every check that fails is followed by the explanation its rows carry for it (the experiment
 * file's `why`, results.h), or by a plain "not explained". An explanation is printed only under
 * a failed check, after its numbers and verdict; it never changes a verdict.
 *
 * Writes only to the FILE it is given; computes no statistics of samples. Main types:
 * struct report_row, struct report_table, struct report_shape. */
#ifndef SFC_REPORT_H
#define SFC_REPORT_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "vnfs/lib/buf.h"

/* Why a check of a row may differ from the paper (NULL: not explained). */
struct report_why {
    const char *value, *order, *best, *trend, *ratio;
};

struct report_row {
    const char *label;          /* "nham-1r-aa, chain_len=4". */
    const char *group;          /* Rows of one group form a trend (e.g. one scheme); NULL: none. */
    double published;           /* NaN: nothing published. */
    double measured;            /* NaN: not measured (yet). */
    double ci95;                /* Of 'measured'; NaN: unknown. */
    const char *unit;
    const char *derived;        /* NULL: the paper prints 'published'; else how it was derived. */
    bool value_checked;         /* 'measured' against 'published' is a check (a share, a ratio,
                                 * a count); else only shown (times and rates: other hardware). */
    struct report_why why;
    const char *ratio_to;       /* NULL, or the label of another row of the table: this row
                                 * over that one is a check (published against ours). */
};

struct report_table {
    const char *figure;         /* "N10". */
    const char *title;
    bool higher_is_better;      /* Throughput, availability; false for times. */
    const struct report_row *rows;
    size_t n;
};

/* Relative change under which a trend counts as flat, and ordering differences as ties. */
#define REPORT_FLAT 0.10

enum report_trend { REPORT_FLAT_TREND, REPORT_RISES, REPORT_FALLS };

/* The shape comparison of one table. */
struct report_shape {
    size_t compared;            /* Rows with both numbers. */
    const char *best_published; /* Labels (point into the rows); NULL when compared is 0. */
    const char *best_measured;
    size_t pairs, inversions;   /* Pairs ordered differently (ties within REPORT_FLAT skipped). */
    size_t groups, trends_differ;
    size_t values, values_differ; /* Rows with 'value_checked'. */
    size_t ratios, ratios_differ; /* Rows with 'ratio_to' whose two rows have both numbers. */
    size_t checks, failed, explained; /* Every check; those that differ; of those, explained. */
};

/* Compares the shape and appends one line per finding ("- ...\n") to 'notes', each failed
 * check followed by "  - why ...: TEXT" or "  - why: not explained ...", and a last line
 * counting the checks that differ. */
void report_shape(const struct report_table *, struct report_shape *, struct buf *notes);

/* Writes every table: a Markdown table of published (marked printed or derived), ours, CI and
 * ratio, then its shape. */
void report_write_markdown(FILE *, const struct report_table *, size_t n);

/* Converts 'value' between units of time (ns, us, ms, s, min, h) or of fractions (ratio, pct,
 * %). False when they are not of one kind; an empty unit converts only to itself. */
bool report_convert(double value, const char *from, const char *to, double *out);

/* The unit a metric name carries as its suffix ("rtt_us" -> "us"), or "" when none is known. */
const char *report_metric_unit(const char *metric);

#endif
