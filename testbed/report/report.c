#include "testbed/report/report.h"

#include <math.h>
#include <string.h>

#include "vnfs/lib/util.h"

struct unit {
    const char *name;
    int kind;                   /* 1 time, 2 fraction. */
    double scale;               /* In seconds, or in ratio. */
};

static const struct unit units[] = {
    { "ns", 1, 1e-9 }, { "us", 1, 1e-6 }, { "ms", 1, 1e-3 }, { "s", 1, 1 },
    { "min", 1, 60 }, { "h", 1, 3600 },
    { "ratio", 2, 1 }, { "pct", 2, 0.01 }, { "%", 2, 0.01 },
    { "pps", 3, 1 }, { "kpps", 3, 1e3 }, { "Mpps", 3, 1e6 },
    { "bps", 4, 1 }, { "kbps", 4, 1e3 }, { "Mbps", 4, 1e6 }, { "Gbps", 4, 1e9 },
};

static const struct unit *
find_unit(const char *name)
{
    for (size_t i = 0; name && i < ARRAY_SIZE(units); i++) {
        if (!strcmp(units[i].name, name)) {
            return &units[i];
        }
    }
    return NULL;
}

bool
report_convert(double value, const char *from, const char *to, double *out)
{
    const struct unit *a = find_unit(from), *b = find_unit(to);

    if (!strcmp(from ? from : "", to ? to : "")) {
        *out = value;
        return true;
    }
    if (!a || !b || a->kind != b->kind) {
        return false;
    }
    *out = value * a->scale / b->scale;
    return true;
}

const char *
report_metric_unit(const char *metric)
{
    const char *us = strrchr(metric, '_');
    const struct unit *u = us ? find_unit(us + 1) : NULL;

    return u ? u->name : "";
}

static bool
both(const struct report_row *r)
{
    return isfinite(r->published) && isfinite(r->measured);
}

/* -1, 0 or 1, with differences under REPORT_FLAT of the larger magnitude counted as ties. */
static int
compare_values(double a, double b)
{
    double scale = MAX(fabs(a), fabs(b));

    if (scale == 0 || fabs(a - b) <= REPORT_FLAT * scale) {
        return 0;
    }
    return a < b ? -1 : 1;
}

static enum report_trend
trend(double first, double last)
{
    int c = compare_values(first, last);
    return c < 0 ? REPORT_RISES : c > 0 ? REPORT_FALLS : REPORT_FLAT_TREND;
}

static const char *
trend_name(enum report_trend t)
{
    return t == REPORT_RISES ? "rises" : t == REPORT_FALLS ? "falls" : "stays flat";
}

/* Under a check that failed: the explanations its rows give (each text once), or a plain
 * statement that there is none. Counts the failure either way. */
static void
note_why(struct buf *notes, struct report_shape *shape, const char *a, const char *b)
{
    shape->failed++;
    if (b && a && !strcmp(a, b)) {
        b = NULL;
    }
    if (!a && !b) {
        buf_printf(notes, "  - why: not explained (the experiment file recorded with the "
                   "runs gives no reason for this difference)\n");
        return;
    }
    shape->explained++;
    if (a) {
        buf_printf(notes, "  - why (experiment file): %s\n", a);
    }
    if (b) {
        buf_printf(notes, "  - why (experiment file): %s\n", b);
    }
}

/* The two arguments of "%s%s" that put " ms" after a number, or nothing for a count. */
#define UNIT(r) ((r)->unit && *(r)->unit ? " " : ""), ((r)->unit ? (r)->unit : "")

/* Row 'r' over the row it names ('ratio_to'): ours against the published ratio, a check of its
 * own (e.g. f=1 over f=0, which the order check only sees as "f=0 is lower"). The named row
 * missing from the table (no run of the variant shown at its point) or a side without a number
 * is said, not counted. */
static void
check_ratio(const struct report_table *t, const struct report_row *r, struct report_shape *shape,
            struct buf *notes)
{
    const struct report_row *to = NULL;
    double to_pub = NAN, to_meas = NAN, pub, ours;

    for (size_t i = 0; i < t->n && !to; i++) {
        if (t->rows[i].label && !strcmp(t->rows[i].label, r->ratio_to)) {
            to = &t->rows[i];
        }
    }
    if (!to || to == r) {
        buf_printf(notes, "- ratio %s / %s: not compared (%s)\n", r->label, r->ratio_to,
                   to ? "a row over itself" : "no such row in the runs shown");
        return;
    }
    if (!both(r) || !both(to)
        || !report_convert(to->published, to->unit, r->unit, &to_pub)
        || !report_convert(to->measured, to->unit, r->unit, &to_meas)
        || to_pub == 0 || to_meas == 0) {
        buf_printf(notes, "- ratio %s / %s: not compared (%s)\n", r->label, r->ratio_to,
                   !both(r) || !both(to) ? "a row without both numbers"
                   : isfinite(to_meas) ? "divided by 0" : "the rows' units differ");
        return;
    }
    pub = r->published / to_pub;
    ours = r->measured / to_meas;
    shape->ratios++;
    if (!compare_values(ours, pub)) {
        buf_printf(notes, "- ratio %s / %s: ours is within %.0f%% of the published ratio "
                   "(%.3gx vs %.3gx)\n", r->label, r->ratio_to, REPORT_FLAT * 100, ours, pub);
    } else {
        shape->ratios_differ++;
        buf_printf(notes, "- **ratio differs**: %s / %s is %.3gx in ours, %.3gx published\n",
                   r->label, r->ratio_to, ours, pub);
        note_why(notes, shape, r->why.ratio, NULL);
    }
}

void
report_shape(const struct report_table *t, struct report_shape *shape, struct buf *notes)
{
    const struct report_row *best_pub = NULL, *best_meas = NULL;
    size_t listed = 0;

    memset(shape, 0, sizeof *shape);
    for (size_t i = 0; i < t->n; i++) {
        const struct report_row *r = &t->rows[i];
        if (!both(r)) {
            continue;
        }
        shape->compared++;
        if (!best_pub || (t->higher_is_better ? r->published > best_pub->published
                                               : r->published < best_pub->published)) {
            best_pub = r;
        }
        if (!best_meas || (t->higher_is_better ? r->measured > best_meas->measured
                                                : r->measured < best_meas->measured)) {
            best_meas = r;
        }
    }
    if (!shape->compared) {
        buf_printf(notes, "- nothing to compare yet: no row has both a published and a "
                   "measured number\n");
        return;
    }
    /* Each row against its published value: a check where the value is itself shape, else
     * only said (where we beat the published figure, say so). */
    for (size_t i = 0; i < t->n; i++) {
        const struct report_row *r = &t->rows[i];
        int c;

        if (!both(r)) {
            continue;
        }
        c = compare_values(r->measured, r->published);
        if (r->value_checked) {
            shape->values++;
            if (!c) {
                buf_printf(notes, "- %s: ours is within %.0f%% of the published value (%.3g vs "
                           "%.3g%s%s)\n", r->label, REPORT_FLAT * 100, r->measured, r->published,
                           UNIT(r));
            } else {
                shape->values_differ++;
                buf_printf(notes, "- **%s: value differs**: ours %.3g%s%s, published %.3g%s%s\n",
                           r->label, r->measured, UNIT(r), r->published, UNIT(r));
                note_why(notes, shape, r->why.value, NULL);
            }
        } else if (c && (c > 0) == t->higher_is_better) {
            buf_printf(notes, "- ours beats the published %s for %s (%.3g vs %.3g%s%s)\n",
                       r->derived ? "(derived) value" : "value", r->label, r->measured,
                       r->published, UNIT(r));
        } else if (!c) {
            buf_printf(notes, "- %s: ours is within %.0f%% of the published value\n", r->label,
                       REPORT_FLAT * 100);
        } else {
            buf_printf(notes, "- %s: ours is %s than published (%.3g vs %.3g%s%s)\n", r->label,
                       t->higher_is_better ? "lower" : "higher", r->measured, r->published,
                       UNIT(r));
        }
    }
    for (size_t i = 0; i < t->n; i++) {
        if (t->rows[i].ratio_to) {
            check_ratio(t, &t->rows[i], shape, notes);
        }
    }
    shape->best_published = best_pub->label;
    shape->best_measured = best_meas->label;
    if (shape->compared > 1) {
        const char *word = t->higher_is_better ? "highest" : "lowest";
        if (best_pub == best_meas) {
            buf_printf(notes, "- best (%s) in both: %s\n", word, best_pub->label);
        } else if (!compare_values(best_pub->published, best_meas->published)
                   || !compare_values(best_pub->measured, best_meas->measured)) {
            /* Two rows within REPORT_FLAT of each other on either side are a tie, as in the
             * order below: which one is "best" then says nothing. */
            buf_printf(notes, "- best (%s): published %s, ours %s, a tie within %.0f%% on one "
                       "side\n", word, best_pub->label, best_meas->label, REPORT_FLAT * 100);
        } else {
            buf_printf(notes, "- **best differs**: published %s is %s (%.3g%s%s), ours is %s "
                       "(%.3g%s%s)\n", word, best_pub->label, best_pub->published,
                       UNIT(best_pub), best_meas->label, best_meas->measured,
                       UNIT(best_meas));
            note_why(notes, shape, best_pub->why.best, best_meas->why.best);
        }
    }

    for (size_t i = 0; i < t->n; i++) {
        for (size_t j = i + 1; j < t->n; j++) {
            const struct report_row *a = &t->rows[i], *b = &t->rows[j];
            int p, m;

            if (!both(a) || !both(b)) {
                continue;
            }
            p = compare_values(a->published, b->published);
            m = compare_values(a->measured, b->measured);
            if (!p || !m) {
                continue;       /* A tie on either side says nothing about order. */
            }
            shape->pairs++;
            if (p != m) {
                shape->inversions++;
                if (listed++ < 5) {
                    buf_printf(notes, "- **order differs**: published %s %s %s (%.3g %s "
                               "%.3g%s%s), ours %s %s %s (%.3g %s %.3g%s%s)\n",
                               a->label, p < 0 ? "<" : ">", b->label, a->published,
                               p < 0 ? "<" : ">", b->published, UNIT(a),
                               a->label, m < 0 ? "<" : ">", b->label, a->measured,
                               m < 0 ? "<" : ">", b->measured, UNIT(a));
                    note_why(notes, shape, a->why.order, b->why.order);
                } else {
                    shape->failed++;
                    shape->explained += a->why.order || b->why.order;
                }
            }
        }
    }
    if (shape->pairs && !shape->inversions) {
        buf_printf(notes, "- ordering matches (%zu pairs apart by more than %.0f%%)\n",
                   shape->pairs, REPORT_FLAT * 100);
    } else if (listed > 5) {
        buf_printf(notes, "- ... %zu of %zu pairs ordered differently in all\n",
                   shape->inversions, shape->pairs);
    }

    /* Trends: first and last row of each group that has both numbers, in table order. */
    for (size_t i = 0; i < t->n; i++) {
        const struct report_row *first = NULL, *last = NULL;
        const char *g = t->rows[i].group;
        bool seen = false;

        if (!g) {
            continue;
        }
        for (size_t k = 0; k < i && !seen; k++) {
            seen = t->rows[k].group && !strcmp(t->rows[k].group, g);
        }
        if (seen) {
            continue;
        }
        for (size_t k = i; k < t->n; k++) {
            if (t->rows[k].group && !strcmp(t->rows[k].group, g) && both(&t->rows[k])) {
                first = first ? first : &t->rows[k];
                last = &t->rows[k];
            }
        }
        if (!first || first == last) {
            continue;
        }
        shape->groups++;
        enum report_trend tp = trend(first->published, last->published);
        enum report_trend tm = trend(first->measured, last->measured);
        if (tp == tm) {
            buf_printf(notes, "- %s: trend matches (%s from %s to %s)\n", g, trend_name(tp),
                       first->label, last->label);
        } else {
            shape->trends_differ++;
            buf_printf(notes, "- **%s: trend differs**: published %s, ours %s (from %s to %s)\n",
                       g, trend_name(tp), trend_name(tm), first->label, last->label);
            note_why(notes, shape, first->why.trend, last->why.trend);
        }
    }

    shape->checks = (shape->values + shape->ratios + (shape->compared > 1) + shape->pairs
                     + shape->groups);
    if (shape->failed) {
        buf_printf(notes, "- %zu of %zu shape checks differ from the paper: %zu explained by the "
                   "experiment file, %zu not\n", shape->failed, shape->checks,
                   shape->explained, shape->failed - shape->explained);
    } else if (shape->checks) {
        buf_printf(notes, "- all %zu shape checks match the paper\n", shape->checks);
    }
}

static void
cell(FILE *f, double v, const char *unit)
{
    if (!isfinite(v)) {
        fputs(" — |", f);
    } else {
        fprintf(f, " %.4g%s%s |", v, unit && unit[0] ? " " : "", unit ? unit : "");
    }
}

void
report_write_markdown(FILE *f, const struct report_table *tables, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct report_table *t = &tables[i];
        struct report_shape shape;
        struct buf notes = BUF_INITIALIZER;

        fprintf(f, "## %s%s%s\n\n", t->figure ? t->figure : "",
                t->figure && t->title ? " — " : "", t->title ? t->title : "");
        fprintf(f, "| | published | value is | ours | ± 95%% CI | ours / published |\n");
        fprintf(f, "|---|---:|---|---:|---:|---:|\n");
        for (size_t j = 0; j < t->n; j++) {
            const struct report_row *r = &t->rows[j];

            fprintf(f, "| %s |", r->label ? r->label : "");
            cell(f, r->published, r->unit);
            fprintf(f, " %s |", r->derived ? "derived" : "printed");
            cell(f, r->measured, r->unit);
            cell(f, r->ci95, NULL);
            if (both(r) && r->published != 0) {
                fprintf(f, " %.2f |\n", r->measured / r->published);
            } else {
                fputs(" — |\n", f);
            }
        }
        report_shape(t, &shape, &notes);
        fprintf(f, "\nShape:\n%.*s\n", (int) notes.len, notes.data ? (char *) notes.data : "");
        buf_uninit(&notes);
    }
}
