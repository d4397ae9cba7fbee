/*
 * svg.h: a tiny SVG writer for the report page: a line chart (several
 * series over a numeric x) and a grouped bar chart (several series over
 * named categories), each with a title, axes with nice ticks and their
 * units, and a legend. The output is plain SVG 1.1 text that a browser
 * draws inline in an HTML page, with no script and no external file.
 *
 * Every chart is SVG_WIDTH pixels wide (it fits a 900-pixel page) and
 * carries a viewBox, so a narrower page scales it down instead of
 * overflowing. A value that is NAN is missing: a line skips it (the line
 * breaks there), a bar is not drawn. A chart with no points at all still
 * draws its title and says "no data".
 */
#ifndef SVG_H
#define SVG_H

#include <stddef.h>
#include <stdio.h>

enum { SVG_WIDTH = 880, SVG_MAX_SERIES = 8, SVG_MAX_TICKS = 16 };

struct svg_chart {
    const char *title;
    const char *x_label; /* with its unit: "parent RSS (MiB)" */
    const char *y_label; /* with its unit: "time per call (ms)" */
    size_t n_points;
    const double *x;                      /* line chart: the n_points x values */
    const char *const *labels;            /* bar chart: the n_points category names */
    size_t n_series;                      /* at most SVG_MAX_SERIES */
    const char *names[SVG_MAX_SERIES];    /* one legend entry each */
    const double *values[SVG_MAX_SERIES]; /* n_points each; NAN: missing */
};

/* Write the chart as one <svg> element. Return 0, or -1 if the chart is
 * malformed (too many series, no x or labels for its points) or the
 * stream failed. */
int svg_line_chart(FILE *out, const struct svg_chart *c);
int svg_bar_chart(FILE *out, const struct svg_chart *c);

/* Write s with &, <, >, " and ' escaped, so that any text is safe inside
 * an element or an attribute (of SVG and of HTML alike). */
void svg_escape(FILE *out, const char *s);

/* Nice axis ticks that cover [lo, hi]: multiples of 1, 2 or 5 times a
 * power of ten, about `want` of them (at least 2), stored in ticks[] (cap
 * entries at most). Returns how many; the first is <= lo and the last
 * >= hi. lo == hi gives a range around the value. */
size_t svg_nice_ticks(double lo, double hi, size_t want, double *ticks, size_t cap);

/* A value as a reader wants it (the number above a bar, the figures of
 * the sentences under the charts): 3 significant digits, and no exponent
 * below a million: 48400, not 4.84e+04. */
void svg_number(char *buf, size_t size, double v);

/* The tick's text: as many decimals as the step between ticks needs. */
void svg_tick_label(char *buf, size_t size, double value, double step);

#endif
