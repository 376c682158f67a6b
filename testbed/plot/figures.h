/* figures — an experiment's charts as its file's `plots:` asks for them, drawn from the results
 * database: bar (a bar per scheme and point), stacked (a bar per point and scheme, split per
 * component: f=0 and f=1 are never merged), line (a line per scheme and other axes over x).
 * Time series are per run (`sfclab plot RUN`, figures_draw_run()).
 *
 * The plots are those of the experiment file recorded with the newest run shown, and the runs
 * are those results.h shows (one variant; repetitions pooled by its one rule). A plot's y is a
 * metric a run stores, or one of the names the files use: rtt (rtt_us), throughput (rx_pps),
 * availability (availability_ratio), rtt.split (hop_us). Reads the database, writes PNG and SVG
 * files under 'dir' (made when missing) and one line per chart to 'log'. Main function:
 * figures_draw(). */
#ifndef SFC_FIGURES_H
#define SFC_FIGURES_H 1

#include <stddef.h>
#include <stdio.h>

struct store;
struct store_run;

/* Where an experiment's charts go: DB_DIR/plots/EXPERIMENT (the name made file-safe), beside
 * the database 'db_path'. The caller frees it. */
char *figures_dir(const char *db_path, const char *experiment);

/* The metric a plot's y names. */
const char *figures_metric(const char *y);

/* Draws every plot of the experiment's recorded file. Returns 0, ENOENT when the file has no
 * plots (or no complete run exists), or the errno of drawing. '*n_drawn' gets the charts made. */
int figures_draw(FILE *log, struct store *, const char *experiment, const char *dir,
                 size_t *n_drawn);

/* One time series per series of run 'run' (mean per bin, fault windows shaded), as
 * DIR/run-ID-METRIC[-LABELS].{png,svg}. Returns 0 or the errno of reading or drawing. */
int figures_draw_run(FILE *log, struct store *, const struct store_run *run, const char *dir);

#endif
