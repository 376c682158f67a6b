#include "testbed/plot/plot.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>              /* Before plot.h, which uses FILE without it. */
#include <plot.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/dynlib.h"
#include "vnfs/lib/util.h"

/* libplot, loaded the first time a plot is drawn (vnfs/lib/dynlib.h): it brings about 20
 * libraries (X11's) into a process that links it, and most runs of sfclab draw nothing. */
#define DL_PLOT_FUNCS(F) \
    F(pl_alabel_r) F(pl_closepl_r) F(pl_deletepl_r) F(pl_deleteplparams) F(pl_endpath_r) \
    F(pl_erase_r) F(pl_fbox_r) F(pl_fcont_r) F(pl_ffontsize_r) F(pl_fillcolor_r) \
    F(pl_filltype_r) F(pl_flabelwidth_r) F(pl_fline_r) F(pl_flinewidth_r) F(pl_fmarker_r) \
    F(pl_fmove_r) F(pl_fontname_r) F(pl_fspace_r) F(pl_ftextangle_r) F(pl_newpl_r) \
    F(pl_newplparams) F(pl_openpl_r) F(pl_pencolor_r) F(pl_setplparam)

static struct dl_plot {
    DL_PLOT_FUNCS(DYNLIB_MEMBER)
} dl_plot;

static int
dl_plot_resolve(struct dynlib *lib, void *handle, void *table_)
{
    struct dl_plot *table = table_;
    int error = 0;

    DL_PLOT_FUNCS(DYNLIB_RESOLVE)
    return error;
}

static int
dl_plot_load(void)
{
    static struct dynlib lib = DYNLIB_INIT("libplot.so.2", "libplot2c2");

    return dynlib_load(&lib, dl_plot_resolve, &dl_plot);
}

/* Colours told apart by most readers, including most colour-blind ones (Tableau 10). */
static const unsigned palette[] = {
    0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
    0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf,
};
/* Filled circle, square, triangle, diamond, then hollow ones: lines stay apart in grey too. */
static const int markers[] = { 16, 17, 18, 19, 4, 6, 7, 8 };

#define FONT_TITLE 18.0
#define FONT_LABEL 14.0
#define FONT_TICK 12.0
#define SHADE 0xf6d2d2          /* Fault windows. */
#define GRID 0xe4e4e4

struct ticks {
    double lo, hi, step;
    int decimals;
};

struct canvas {
    plPlotter *pl;
    plPlotterParams *params;
    FILE *fp;
    bool svg;
    double w, h;
    double ax0, ay0, ax1, ay1;  /* The plot area, in canvas units (y up). */
    struct ticks x, y;
    const struct plot_frame *frame;
};

/* A legend entry: a line with a marker, or a filled swatch. */
struct legend_entry {
    const char *label;
    unsigned color;
    int marker;                 /* 0: a swatch; -1: a line alone. */
};

static void
set_pen(struct canvas *c, unsigned rgb)
{
    dl_plot.pl_pencolor_r(c->pl, ((rgb >> 16) & 0xff) * 257, ((rgb >> 8) & 0xff) * 257,
                  (rgb & 0xff) * 257);
}

static void
set_fill(struct canvas *c, unsigned rgb)
{
    dl_plot.pl_fillcolor_r(c->pl, ((rgb >> 16) & 0xff) * 257, ((rgb >> 8) & 0xff) * 257,
                   (rgb & 0xff) * 257);
}

static void
font(struct canvas *c, double size)
{
    dl_plot.pl_fontname_r(c->pl, c->svg ? "Helvetica" : "HersheySans");
    dl_plot.pl_ffontsize_r(c->pl, size);
}

static void
text(struct canvas *c, double x, double y, int hjust, int vjust, const char *s)
{
    dl_plot.pl_fmove_r(c->pl, x, y);
    dl_plot.pl_alabel_r(c->pl, hjust, vjust, s);
}

static void
filled_box(struct canvas *c, double x0, double y0, double x1, double y1, unsigned rgb)
{
    set_pen(c, rgb);
    set_fill(c, rgb);
    dl_plot.pl_filltype_r(c->pl, 1);
    dl_plot.pl_fbox_r(c->pl, x0, y0, x1, y1);
    dl_plot.pl_filltype_r(c->pl, 0);
}

/* 1, 2, 2.5 or 5 times a power of ten, about five steps over [lo, hi]. */
static void
nice_ticks(double lo, double hi, bool include_zero, struct ticks *t)
{
    double raw, mag, norm, step;

    if (include_zero) {
        lo = MIN(lo, 0);
        hi = MAX(hi, 0);
    }
    if (!(hi > lo)) {
        double pad = lo ? fabs(lo) * 0.1 : 1;
        lo -= include_zero && lo >= 0 ? 0 : pad;
        hi += pad;
    }
    raw = (hi - lo) / 5;
    mag = pow(10, floor(log10(raw)));
    norm = raw / mag;
    step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
    t->step = step;
    t->lo = floor(lo / step + 1e-9) * step;
    t->hi = ceil(hi / step - 1e-9) * step;
    /* 2.5 needs one decimal more than its power of ten: 0.25, but 250 none. */
    t->decimals = -(int) floor(log10(step) + 1e-9);
    if (fabs(step / pow(10, floor(log10(step) + 1e-9)) - 2.5) < 1e-9) {
        t->decimals++;
    }
    t->decimals = MAX(0, t->decimals);
}

static void
format_tick(double v, int decimals, char *buf, size_t size)
{
    if (fabs(v) >= 1e6 || (v && fabs(v) < 1e-4)) {
        snprintf(buf, size, "%g", v);
    } else {
        snprintf(buf, size, "%.*f", decimals, fabs(v) < 1e-12 ? 0.0 : v);
    }
}

static double
cx(const struct canvas *c, double x)
{
    return c->ax0 + (x - c->x.lo) / (c->x.hi - c->x.lo) * (c->ax1 - c->ax0);
}

static double
cy(const struct canvas *c, double y)
{
    return c->ay0 + (y - c->y.lo) / (c->y.hi - c->y.lo) * (c->ay1 - c->ay0);
}

static int
canvas_open(struct canvas *c, const char *path, const struct plot_frame *frame)
{
    const char *dot = strrchr(path, '.');
    char size[64];
    int error = 0;

    memset(c, 0, sizeof *c);
    c->frame = frame;
    c->w = frame->width > 0 ? frame->width : 800;
    c->h = frame->height > 0 ? frame->height : 560;
    if (dot && !strcmp(dot, ".svg")) {
        c->svg = true;
    } else if (!dot || strcmp(dot, ".png")) {
        log_err("%s: plots are written as .png or .svg", path);
        return EINVAL;
    }
    error = dl_plot_load();
    if (error) {
        return error;
    }
    c->fp = fopen(path, "w");
    if (!c->fp) {
        error = errno;
        log_err("%s: %s", path, strerror(error));
        return error;
    }
    c->params = dl_plot.pl_newplparams();
    if (c->svg) {
        /* SVG sizes are physical; at 96 dpi the drawing matches the PNG's pixels. */
        snprintf(size, sizeof size, "letter,xsize=%.3fin,ysize=%.3fin", c->w / 96, c->h / 96);
        dl_plot.pl_setplparam(c->params, "PAGESIZE", size);
    } else {
        snprintf(size, sizeof size, "%dx%d", (int) c->w, (int) c->h);
        dl_plot.pl_setplparam(c->params, "BITMAPSIZE", size);
    }
    dl_plot.pl_setplparam(c->params, "BG_COLOR", "white");
    c->pl = dl_plot.pl_newpl_r(c->svg ? "svg" : "png", NULL, c->fp, stderr, c->params);
    if (!c->pl || dl_plot.pl_openpl_r(c->pl) < 0) {
        log_err("%s: libplot could not open a plotter", path);
        error = EIO;
        goto out;
    }
    dl_plot.pl_fspace_r(c->pl, 0, 0, c->w, c->h);
    dl_plot.pl_erase_r(c->pl);
    dl_plot.pl_flinewidth_r(c->pl, 1);
    dl_plot.pl_filltype_r(c->pl, 0);

out:
    if (error) {
        if (c->pl) {
            dl_plot.pl_deletepl_r(c->pl);
        }
        dl_plot.pl_deleteplparams(c->params);
        fclose(c->fp);
        remove(path);
    }
    return error;
}

static int
canvas_close(struct canvas *c, const char *path)
{
    int error = 0;

    if (dl_plot.pl_closepl_r(c->pl) < 0) {
        error = EIO;
    }
    dl_plot.pl_deletepl_r(c->pl);
    dl_plot.pl_deleteplparams(c->params);
    if (fclose(c->fp) && !error) {
        error = errno;
    }
    if (error) {
        log_err("%s: writing the plot failed: %s", path, strerror(error));
        remove(path);
    }
    return error;
}

/* Lays out the plot area around the y tick labels and an optional legend on the right. */
static void
canvas_layout(struct canvas *c, const struct legend_entry *legend, size_t n_legend)
{
    double widest = 0, legend_w = 0;
    char buf[64];

    font(c, FONT_TICK);
    for (double v = c->y.lo; v <= c->y.hi + c->y.step / 2; v += c->y.step) {
        format_tick(v, c->y.decimals, buf, sizeof buf);
        widest = MAX(widest, dl_plot.pl_flabelwidth_r(c->pl, buf));
    }
    for (size_t i = 0; i < n_legend; i++) {
        legend_w = MAX(legend_w, dl_plot.pl_flabelwidth_r(c->pl, legend[i].label) + 44);
    }
    c->ax0 = 40 + widest + 10;
    c->ax1 = c->w - 24 - (n_legend ? legend_w + 12 : 0);
    c->ay0 = 64;
    c->ay1 = c->h - 52;
}

static void
draw_frame(struct canvas *c, const struct plot_frame *frame, bool y_grid)
{
    char buf[64];

    set_pen(c, 0x000000);
    font(c, FONT_TITLE);
    text(c, (c->ax0 + c->ax1) / 2, c->h - 26, 'c', 'c', frame->title ? frame->title : "");
    font(c, FONT_LABEL);
    text(c, (c->ax0 + c->ax1) / 2, 18, 'c', 'c', frame->xlabel ? frame->xlabel : "");
    dl_plot.pl_ftextangle_r(c->pl, 90);
    text(c, 18, (c->ay0 + c->ay1) / 2, 'c', 'c', frame->ylabel ? frame->ylabel : "");
    dl_plot.pl_ftextangle_r(c->pl, 0);

    font(c, FONT_TICK);
    for (double v = c->y.lo; v <= c->y.hi + c->y.step / 2; v += c->y.step) {
        double y = cy(c, v);
        if (y_grid && v > c->y.lo + c->y.step / 2) {
            set_pen(c, GRID);
            dl_plot.pl_fline_r(c->pl, c->ax0, y, c->ax1, y);
        }
        set_pen(c, 0x000000);
        dl_plot.pl_fline_r(c->pl, c->ax0 - 5, y, c->ax0, y);
        format_tick(v, c->y.decimals, buf, sizeof buf);
        text(c, c->ax0 - 8, y, 'r', 'c', buf);
    }
    set_pen(c, 0x000000);
    dl_plot.pl_fline_r(c->pl, c->ax0, c->ay0, c->ax0, c->ay1);
    dl_plot.pl_fline_r(c->pl, c->ax0, c->ay0, c->ax1, c->ay0);
}

/* Numeric x ticks: at the data's own values when they are a few integers (chain lengths,
 * f), else at nice steps. */
static void
draw_x_ticks(struct canvas *c, const double *at, size_t n_at)
{
    char buf[64];

    font(c, FONT_TICK);
    set_pen(c, 0x000000);
    if (at) {
        for (size_t i = 0; i < n_at; i++) {
            double x = cx(c, at[i]);
            dl_plot.pl_fline_r(c->pl, x, c->ay0, x, c->ay0 - 5);
            format_tick(at[i], 0, buf, sizeof buf);
            text(c, x, c->ay0 - 8, 'c', 't', buf);
        }
        return;
    }
    for (double v = c->x.lo; v <= c->x.hi + c->x.step / 2; v += c->x.step) {
        double x = cx(c, v);
        dl_plot.pl_fline_r(c->pl, x, c->ay0, x, c->ay0 - 5);
        format_tick(v, c->x.decimals, buf, sizeof buf);
        text(c, x, c->ay0 - 8, 'c', 't', buf);
    }
}

static void
draw_legend(struct canvas *c, const struct legend_entry *legend, size_t n)
{
    double x = c->ax1 + 16, y = c->ay1 - 8;

    font(c, FONT_TICK);
    for (size_t i = 0; i < n; i++, y -= 20) {
        if (legend[i].marker) {
            set_pen(c, legend[i].color);
            set_fill(c, legend[i].color);
            dl_plot.pl_flinewidth_r(c->pl, 2);
            dl_plot.pl_fline_r(c->pl, x, y, x + 28, y);
            dl_plot.pl_flinewidth_r(c->pl, 1);
            if (legend[i].marker > 0) {
                dl_plot.pl_fmarker_r(c->pl, x + 14, y, legend[i].marker, 8);
            }
        } else {
            filled_box(c, x + 4, y - 6, x + 24, y + 6, legend[i].color);
        }
        set_pen(c, 0x000000);
        text(c, x + 34, y, 'l', 'c', legend[i].label);
    }
}

/* 'y' within the frame's bounds, if it has them. */
static double
clip_y(const struct plot_frame *frame, double y)
{
    return frame->bounded ? MAX(frame->y_min, MIN(frame->y_max, y)) : y;
}

static void
whisker(struct canvas *c, double x, double y, double ci, unsigned rgb)
{
    double lo, hi;

    if (!isfinite(ci) || ci <= 0) {
        return;
    }
    lo = cy(c, clip_y(c->frame, y - ci));
    hi = cy(c, clip_y(c->frame, y + ci));
    set_pen(c, rgb);
    dl_plot.pl_fline_r(c->pl, x, lo, x, hi);
    dl_plot.pl_fline_r(c->pl, x - 5, lo, x + 5, lo);
    dl_plot.pl_fline_r(c->pl, x - 5, hi, x + 5, hi);
}

/* Category labels under bars; turned when they would run into each other. */
static void
draw_categories(struct canvas *c, const char *const *labels, size_t n)
{
    double slot = (c->ax1 - c->ax0) / n, widest = 0;
    bool turn;

    font(c, FONT_TICK);
    for (size_t i = 0; i < n; i++) {
        widest = MAX(widest, dl_plot.pl_flabelwidth_r(c->pl, labels[i] ? labels[i] : ""));
    }
    turn = widest > slot * 0.95;
    set_pen(c, 0x000000);
    dl_plot.pl_ftextangle_r(c->pl, turn ? 20 : 0);
    for (size_t i = 0; i < n; i++) {
        double x = c->ax0 + slot * (i + 0.5);
        text(c, x, c->ay0 - 8, turn ? 'r' : 'c', 't', labels[i] ? labels[i] : "");
    }
    dl_plot.pl_ftextangle_r(c->pl, 0);
}

int
plot_bars(const char *path, const struct plot_frame *frame, const struct plot_bar *bars,
          size_t n)
{
    const char **labels;
    struct canvas c;
    double lo = 0, hi = 0, slot;
    int error;

    if (!n) {
        return EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        double ci = isfinite(bars[i].ci95) ? bars[i].ci95 : 0;
        if (isfinite(bars[i].value)) {
            lo = MIN(lo, clip_y(frame, bars[i].value - ci));
            hi = MAX(hi, clip_y(frame, bars[i].value + ci));
        }
    }
    error = canvas_open(&c, path, frame);
    if (error) {
        return error;
    }
    nice_ticks(lo, hi * 1.08, true, &c.y);
    canvas_layout(&c, NULL, 0);
    draw_frame(&c, frame, true);
    slot = (c.ax1 - c.ax0) / n;
    labels = xmalloc(n * sizeof *labels);
    for (size_t i = 0; i < n; i++) {
        double x = c.ax0 + slot * (i + 0.5), half = slot * 0.3;
        char buf[32];
        bool has_ci;

        labels[i] = bars[i].label;
        if (!isfinite(bars[i].value)) {
            continue;
        }
        filled_box(&c, x - half, cy(&c, 0), x + half, cy(&c, bars[i].value),
                   palette[i % ARRAY_SIZE(palette)]);
        whisker(&c, x, bars[i].value, bars[i].ci95, 0x000000);
        /* The value on top (beside the whisker), so a reader need not guess it from the axis. */
        has_ci = isfinite(bars[i].ci95) && bars[i].ci95 > 0;
        snprintf(buf, sizeof buf, "%.3g", bars[i].value);
        set_pen(&c, 0x000000);
        font(&c, FONT_TICK);
        text(&c, x + (has_ci ? 8 : 0), cy(&c, bars[i].value) + 4, has_ci ? 'l' : 'c', 'b', buf);
    }
    draw_categories(&c, labels, n);
    free(labels);
    return canvas_close(&c, path);
}

int
plot_grouped_bars(const char *path, const struct plot_frame *frame,
                  const char *const *groups, size_t n_groups,
                  const char *const *series, size_t n_series,
                  const double *values, const double *ci95)
{
    struct legend_entry *legend;
    struct canvas c;
    double lo = 0, hi = 0, slot;
    int error;

    if (!n_groups || !n_series) {
        return EINVAL;
    }
    for (size_t i = 0; i < n_groups * n_series; i++) {
        double ci = ci95 && isfinite(ci95[i]) ? ci95[i] : 0;
        if (isfinite(values[i])) {
            lo = MIN(lo, clip_y(frame, values[i] - ci));
            hi = MAX(hi, clip_y(frame, values[i] + ci));
        }
    }
    error = canvas_open(&c, path, frame);
    if (error) {
        return error;
    }
    legend = xmalloc(n_series * sizeof *legend);
    for (size_t j = 0; j < n_series; j++) {
        legend[j] = (struct legend_entry) { series[j], palette[j % ARRAY_SIZE(palette)], 0 };
    }
    nice_ticks(lo, hi > 0 ? hi * 1.08 : 1, true, &c.y);
    canvas_layout(&c, legend, n_series);
    draw_frame(&c, frame, true);
    draw_legend(&c, legend, n_series);
    slot = (c.ax1 - c.ax0) / n_groups;
    for (size_t g = 0; g < n_groups; g++) {
        /* The group's bars share 80% of its slot, side by side in series order. */
        double w = slot * 0.8 / n_series, x0 = c.ax0 + slot * g + slot * 0.1;

        for (size_t j = 0; j < n_series; j++) {
            double v = values[g * n_series + j], x = x0 + w * (j + 0.5);

            if (!isfinite(v)) {
                continue;
            }
            filled_box(&c, x - w * 0.4, cy(&c, 0), x + w * 0.4, cy(&c, v),
                       palette[j % ARRAY_SIZE(palette)]);
            whisker(&c, x, v, ci95 ? ci95[g * n_series + j] : NAN, 0x000000);
        }
    }
    draw_categories(&c, groups, n_groups);
    free(legend);
    return canvas_close(&c, path);
}

int
plot_stacked_bars(const char *path, const struct plot_frame *frame,
                  const char *const *components, size_t n_components,
                  const struct plot_stack *stacks, size_t n)
{
    struct legend_entry *legend;
    const char **labels;
    struct canvas c;
    double hi = 0, slot;
    int error;

    if (!n || !n_components) {
        return EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        double total = 0;
        for (size_t j = 0; j < n_components; j++) {
            if (isfinite(stacks[i].parts[j]) && stacks[i].parts[j] > 0) {
                total += stacks[i].parts[j];
            }
        }
        hi = MAX(hi, total);
    }
    error = canvas_open(&c, path, frame);
    if (error) {
        return error;
    }
    legend = xmalloc(n_components * sizeof *legend);
    /* Listed top to bottom as the parts are stacked, so the legend reads like the bars. */
    for (size_t j = 0; j < n_components; j++) {
        size_t k = n_components - 1 - j;
        legend[j] = (struct legend_entry) { components[k], palette[k % ARRAY_SIZE(palette)], 0 };
    }
    nice_ticks(0, hi * 1.08, true, &c.y);
    canvas_layout(&c, legend, n_components);
    draw_frame(&c, frame, true);
    draw_legend(&c, legend, n_components);
    slot = (c.ax1 - c.ax0) / n;
    labels = xmalloc(n * sizeof *labels);
    for (size_t i = 0; i < n; i++) {
        double x = c.ax0 + slot * (i + 0.5), half = slot * 0.3, base = 0, total = 0;
        char buf[32];

        labels[i] = stacks[i].label;
        for (size_t j = 0; j < n_components; j++) {
            if (isfinite(stacks[i].parts[j]) && stacks[i].parts[j] > 0) {
                total += stacks[i].parts[j];
            }
        }
        for (size_t j = 0; j < n_components; j++) {
            double part = stacks[i].parts[j];
            if (!isfinite(part) || part <= 0) {
                continue;
            }
            filled_box(&c, x - half, cy(&c, base), x + half, cy(&c, base + part),
                       palette[j % ARRAY_SIZE(palette)]);
            if (cy(&c, base + part) - cy(&c, base) >= 16) {
                snprintf(buf, sizeof buf, "%.1f%%", 100 * part / total);
                set_pen(&c, 0xffffff);
                font(&c, FONT_TICK);
                text(&c, x, cy(&c, base + part / 2), 'c', 'c', buf);
            }
            base += part;
        }
        snprintf(buf, sizeof buf, "%.3g", total);
        set_pen(&c, 0x000000);
        font(&c, FONT_TICK);
        text(&c, x, cy(&c, total) + 4, 'c', 'b', buf);
    }
    draw_categories(&c, labels, n);
    free(labels);
    free(legend);
    return canvas_close(&c, path);
}

static int
cmp_double(const void *a_, const void *b_)
{
    double a = *(const double *) a_, b = *(const double *) b_;
    return a < b ? -1 : a > b;
}

/* The distinct x values of all series, if they are at most 12 integers; else NULL. */
static double *
integer_ticks(const struct plot_series *series, size_t n, size_t *n_at)
{
    double *at = NULL;
    size_t m = 0, cap = 0, k = 0;

    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < series[i].n; j++) {
            double x = series[i].x[j];
            if (!isfinite(x)) {
                continue;
            }
            if (x != floor(x) || m >= 64) {
                free(at);
                return NULL;
            }
            if (m >= cap) {
                at = x2nrealloc(at, &cap, sizeof *at);
            }
            at[m++] = x;
        }
    }
    if (!m) {
        free(at);
        return NULL;
    }
    qsort(at, m, sizeof *at, cmp_double);
    for (size_t i = 0; i < m; i++) {
        if (!k || at[i] != at[k - 1]) {
            at[k++] = at[i];
        }
    }
    if (k > 12) {
        free(at);
        return NULL;
    }
    *n_at = k;
    return at;
}

static int
draw_xy(const char *path, const struct plot_frame *frame, const struct plot_series *series,
        size_t n, const struct plot_window *windows, size_t n_windows, bool with_markers)
{
    double xlo = INFINITY, xhi = -INFINITY, ylo = 0, yhi = 0;
    struct legend_entry *legend;
    size_t n_legend = 0, n_at = 0;
    double *at = NULL;
    struct canvas c;
    int error;

    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < series[i].n; j++) {
            double ci = series[i].ci95 && isfinite(series[i].ci95[j]) ? series[i].ci95[j] : 0;
            if (!isfinite(series[i].x[j]) || !isfinite(series[i].y[j])) {
                continue;
            }
            xlo = MIN(xlo, series[i].x[j]);
            xhi = MAX(xhi, series[i].x[j]);
            ylo = MIN(ylo, clip_y(frame, series[i].y[j] - ci));
            yhi = MAX(yhi, clip_y(frame, series[i].y[j] + ci));
        }
    }
    if (xlo > xhi) {
        return EINVAL;          /* Nothing to draw. */
    }
    error = canvas_open(&c, path, frame);
    if (error) {
        return error;
    }
    legend = xmalloc((n + 1) * sizeof *legend);
    for (size_t i = 0; i < n; i++) {
        legend[n_legend++] = (struct legend_entry) {
            series[i].label ? series[i].label : "", palette[i % ARRAY_SIZE(palette)],
            with_markers ? markers[i % ARRAY_SIZE(markers)] : -1,
        };
    }
    if (n_windows) {
        legend[n_legend++] = (struct legend_entry) { "fault window", SHADE, 0 };
    }
    if (with_markers) {
        at = integer_ticks(series, n, &n_at);
    }
    if (at) {
        /* Half a step of room either side, so end points and whiskers are not on the axis. */
        double pad = n_at > 1 ? (at[n_at - 1] - at[0]) / (n_at - 1) / 2 : 0.5;
        c.x = (struct ticks) { at[0] - pad, at[n_at - 1] + pad, 1, 0 };
    } else {
        nice_ticks(xlo, xhi, false, &c.x);
    }
    nice_ticks(ylo, yhi * 1.05, true, &c.y);
    canvas_layout(&c, legend, n_legend);
    for (size_t i = 0; i < n_windows; i++) {
        double s = MAX(windows[i].start, c.x.lo), e = MIN(windows[i].end, c.x.hi);
        if (e > s) {
            filled_box(&c, cx(&c, s), c.ay0, cx(&c, e), c.ay1, SHADE);
        }
    }
    draw_frame(&c, frame, true);
    draw_x_ticks(&c, at, n_at);
    for (size_t i = 0; i < n; i++) {
        unsigned color = palette[i % ARRAY_SIZE(palette)];
        bool pen_down = false;

        set_pen(&c, color);
        set_fill(&c, color);
        dl_plot.pl_flinewidth_r(c.pl, 2);
        for (size_t j = 0; j < series[i].n; j++) {
            double x = series[i].x[j], y = series[i].y[j];
            if (!isfinite(x) || !isfinite(y)) {
                pen_down = false;   /* A gap: the line breaks. */
                continue;
            }
            if (pen_down) {
                dl_plot.pl_fcont_r(c.pl, cx(&c, x), cy(&c, y));
            } else {
                dl_plot.pl_endpath_r(c.pl);
                dl_plot.pl_fmove_r(c.pl, cx(&c, x), cy(&c, y));
                pen_down = true;
            }
        }
        dl_plot.pl_endpath_r(c.pl);
        dl_plot.pl_flinewidth_r(c.pl, 1);
        for (size_t j = 0; j < series[i].n; j++) {
            double x = series[i].x[j], y = series[i].y[j];
            if (!isfinite(x) || !isfinite(y)) {
                continue;
            }
            if (series[i].ci95) {
                whisker(&c, cx(&c, x), y, series[i].ci95[j], color);
            }
            if (with_markers) {
                set_pen(&c, color);
                dl_plot.pl_fmarker_r(c.pl, cx(&c, x), cy(&c, y),
                                     markers[i % ARRAY_SIZE(markers)], 9);
            }
        }
    }
    draw_legend(&c, legend, n_legend);
    free(legend);
    free(at);
    return canvas_close(&c, path);
}

int
plot_lines(const char *path, const struct plot_frame *frame, const struct plot_series *series,
           size_t n)
{
    return draw_xy(path, frame, series, n, NULL, 0, true);
}

int
plot_timeseries(const char *path, const struct plot_frame *frame,
                const struct plot_series *series, size_t n,
                const struct plot_window *windows, size_t n_windows)
{
    return draw_xy(path, frame, series, n, windows, n_windows, false);
}
