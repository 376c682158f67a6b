/* plot — the charts of sfclab, drawn with GNU libplot into PNG or SVG files.
 *
 * Five kinds, each readable without explanation (title, axis labels with units, tick labels,
 * legend): bars with 95% CI whiskers (one bar per scheme or scenario), grouped bars (a group
 * per point, a bar per scheme), stacked bars (latency split per component, shares written
 * inside), lines over an x axis (chain length, MTBF, f) with
 * one line per scheme and CI whiskers, and time series with fault windows shaded.
 *
 * The format follows the file name: ".png" or ".svg" (EINVAL otherwise). Functions only draw
 * what they are given: they read no database and compute no statistics. NaN values are left
 * out (a bar is not drawn, a line breaks, a whisker is omitted). Main types: struct plot_frame,
 * struct plot_bar, struct plot_stack, struct plot_series, struct plot_window. */
#ifndef SFC_PLOT_H
#define SFC_PLOT_H 1

#include <stdbool.h>
#include <stddef.h>

struct plot_frame {
    const char *title;
    const char *xlabel;         /* With the unit: "chain length (VNFs)". */
    const char *ylabel;         /* "RTT (ms)". */
    int width, height;          /* Pixels (PNG) or points (SVG); 0: 800 x 560. */
    /* What the quantity can be (a percentage: 0 to 100): whiskers, whose t-intervals over a
     * few repetitions can cross those bounds, and the axis stop there. */
    bool bounded;
    double y_min, y_max;
};

struct plot_bar {
    const char *label;
    double value;
    double ci95;                /* Half-width; NaN or 0: no whisker. */
};

int plot_bars(const char *path, const struct plot_frame *, const struct plot_bar *, size_t n);

/* Bars in groups: n_groups groups (labelled under the axis) of n_series bars each (one colour
 * per series, named in the legend); values[g * n_series + s], ci95 alike (may be NULL). */
int plot_grouped_bars(const char *path, const struct plot_frame *,
                      const char *const *groups, size_t n_groups,
                      const char *const *series, size_t n_series,
                      const double *values, const double *ci95);

/* One bar made of n_components parts, bottom to top in the order of 'components'. */
struct plot_stack {
    const char *label;
    const double *parts;
};

int plot_stacked_bars(const char *path, const struct plot_frame *,
                      const char *const *components, size_t n_components,
                      const struct plot_stack *, size_t n);

/* One line: n points (x[i], y[i]) with optional CI half-widths (ci95 may be NULL). */
struct plot_series {
    const char *label;
    const double *x, *y, *ci95;
    size_t n;
};

int plot_lines(const char *path, const struct plot_frame *, const struct plot_series *,
               size_t n);

/* A shaded span of the x axis, e.g. from a fault's injection to its recovery. */
struct plot_window {
    double start, end;
};

int plot_timeseries(const char *path, const struct plot_frame *, const struct plot_series *,
                    size_t n, const struct plot_window *, size_t n_windows);

#endif
