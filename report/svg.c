/*
 * svg.c: the report's charts as SVG text (see svg.h).
 *
 * Both charts share one frame, drawn by chart_open: the title on top, the
 * plot area with its y axis (ticks from 0, or from below the smallest
 * value when there is a negative one), the axis labels with their units,
 * and the legend in a column at the right, one entry per series. Then
 * svg_line_chart draws a <path> per series through its points and
 * svg_bar_chart a group of <rect>s per series. Every series is one element
 * of class "series", every legend entry one of class "legend-entry", so a
 * test (or a reader of the page source) can count them.
 */
#include "svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The frame, in pixels. The legend column takes the right-hand side. */
enum {
    HEIGHT_LINE = 400,
    HEIGHT_BAR = 440,
    PLOT_LEFT = 78,
    PLOT_TOP = 48,
    PLOT_RIGHT = SVG_WIDTH - 210,
    LEGEND_X = SVG_WIDTH - 195,
    BOTTOM_LINE = 60, /* below the plot: tick labels and the x label */
    BOTTOM_BAR = 110, /* room for slanted category names */
    SLANT_ABOVE = 6,  /* more categories than this: slant their names */
    MAX_BAR = 90,     /* the widest bar */
};

/* Colours that stay apart for colour-blind readers (Okabe and Ito). */
static const char *const palette[SVG_MAX_SERIES] = {
    "#0072B2", "#D55E00", "#009E73", "#CC79A7",
    "#E69F00", "#56B4E9", "#000000", "#999999",
};

void svg_escape(FILE *out, const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

/* The step between ticks: 1, 2 or 5 times a power of ten, the first that
 * needs no more than `want` intervals to cover span. */
static double nice_step(double span, size_t want)
{
    double rough = span / (double)want;
    double mag = pow(10.0, floor(log10(rough)));
    static const double mults[] = {1.0, 2.0, 5.0, 10.0};
    for (size_t i = 0; i < sizeof mults / sizeof mults[0]; i++) {
        if (mults[i] * mag >= rough)
            return mults[i] * mag;
    }
    return 10.0 * mag;
}

size_t svg_nice_ticks(double lo, double hi, size_t want, double *ticks, size_t cap)
{
    if (cap < 2 || !isfinite(lo) || !isfinite(hi))
        return 0;
    if (hi < lo) {
        double t = lo;
        lo = hi;
        hi = t;
    }
    if (hi == lo) { /* one value: a range around it */
        double pad = lo == 0.0 ? 1.0 : fabs(lo) * 0.5;
        lo -= pad;
        hi += pad;
    }
    if (want < 2)
        want = 2;
    if (want > cap - 1)
        want = cap - 1;
    double step = nice_step(hi - lo, want);
    double first = floor(lo / step) * step;
    size_t n = 0;
    /* Each tick is computed from its index, not summed: no drift. */
    for (double t = first; n < cap; t = first + (double)n * step) {
        ticks[n++] = fabs(t) < step * 1e-9 ? 0.0 : t;
        if (t >= hi - step * 1e-9)
            break;
    }
    return n;
}

void svg_number(char *buf, size_t size, double v)
{
    if (fabs(v) >= 1000.0 && fabs(v) < 1e6)
        snprintf(buf, size, "%.0f", v);
    else
        snprintf(buf, size, "%.3g", v);
}

void svg_tick_label(char *buf, size_t size, double value, double step)
{
    int decimals = 0;
    if (step > 0 && step < 1)
        decimals = (int)ceil(-log10(step) - 1e-9);
    if (decimals > 6)
        decimals = 6;
    snprintf(buf, size, "%.*f", decimals, value);
}

/* What the frame needs to place a value. */
struct frame {
    int height, bottom; /* the plot's bottom edge, in pixels */
    double ylo, yhi;
};

static double y_pixel(const struct frame *f, double v)
{
    return f->bottom - (v - f->ylo) / (f->yhi - f->ylo) * (f->bottom - PLOT_TOP);
}

/* The smallest and largest finite value of every series; 0 if none. */
static int value_range(const struct svg_chart *c, double *lo, double *hi)
{
    int any = 0;
    *lo = 0.0;
    *hi = 0.0;
    for (size_t s = 0; s < c->n_series; s++) {
        for (size_t i = 0; i < c->n_points; i++) {
            double v = c->values[s][i];
            if (!isfinite(v))
                continue;
            if (!any || v < *lo)
                *lo = v;
            if (!any || v > *hi)
                *hi = v;
            any = 1;
        }
    }
    return any;
}

static void text(FILE *out, double x, double y, const char *attrs, const char *s)
{
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" %s>", x, y, attrs);
    svg_escape(out, s);
    fputs("</text>\n", out);
}

static void legend(FILE *out, const struct svg_chart *c)
{
    for (size_t s = 0; s < c->n_series; s++) {
        int y = PLOT_TOP + 4 + 22 * (int)s;
        fprintf(out,
                "<g class=\"legend-entry\"><rect x=\"%d\" y=\"%d\" width=\"14\" "
                "height=\"14\" "
                "fill=\"%s\"/>",
                LEGEND_X, y, palette[s]);
        text(out, LEGEND_X + 20, y + 12, "font-size=\"13\"", c->names[s]);
        fputs("</g>\n", out);
    }
}

/* The y axis: gridlines and tick labels from ylo to yhi, 0 included. */
static void y_axis(FILE *out, struct frame *f, double lo, double hi)
{
    double ticks[SVG_MAX_TICKS];
    size_t n = svg_nice_ticks(lo < 0 ? lo : 0.0, hi, 6, ticks, SVG_MAX_TICKS);
    f->ylo = ticks[0];
    f->yhi = ticks[n - 1];
    double step = n > 1 ? ticks[1] - ticks[0] : 1.0;
    for (size_t i = 0; i < n; i++) {
        char label[32];
        double y = y_pixel(f, ticks[i]);
        svg_tick_label(label, sizeof label, ticks[i], step);
        fprintf(out,
                "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                PLOT_LEFT, y, PLOT_RIGHT, y);
        text(out, PLOT_LEFT - 6, y + 4, "font-size=\"12\" text-anchor=\"end\"", label);
    }
    fprintf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#333\"/>\n",
            PLOT_LEFT, PLOT_TOP, PLOT_LEFT, f->bottom);
    fprintf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#333\"/>\n",
            PLOT_LEFT, y_pixel(f, f->ylo < 0 ? 0.0 : f->ylo), PLOT_RIGHT,
            y_pixel(f, f->ylo < 0 ? 0.0 : f->ylo));
}

/* The frame around either chart: <svg>, title, axis labels, legend. Sets
 * *f; returns 0 if there is nothing to plot (the chart then says so). */
static int chart_open(FILE *out, const struct svg_chart *c, int height, int bottom_room,
                      struct frame *f)
{
    f->height = height;
    f->bottom = height - bottom_room;
    fprintf(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"%d\" "
        "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" role=\"img\">\n",
        SVG_WIDTH, height, SVG_WIDTH, height);
    fputs("<title>", out);
    svg_escape(out, c->title);
    fputs("</title>\n", out);
    fprintf(out, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", SVG_WIDTH, height);
    text(out, SVG_WIDTH / 2.0, 26,
         "font-size=\"16\" font-weight=\"bold\" text-anchor=\"middle\"", c->title);
    text(out, (PLOT_LEFT + PLOT_RIGHT) / 2.0, height - 12,
         "font-size=\"13\" text-anchor=\"middle\"", c->x_label);
    char attrs[128];
    double mid = (PLOT_TOP + f->bottom) / 2.0;
    snprintf(attrs, sizeof attrs,
             "font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 18 %.1f)\"",
             mid);
    text(out, 18, mid, attrs, c->y_label);
    legend(out, c);
    double lo, hi;
    if (!value_range(c, &lo, &hi)) {
        text(out, (PLOT_LEFT + PLOT_RIGHT) / 2.0, mid,
             "font-size=\"14\" text-anchor=\"middle\"", "no data");
        return 0;
    }
    y_axis(out, f, lo, hi);
    return 1;
}

static int chart_close(FILE *out)
{
    fputs("</svg>\n", out);
    return ferror(out) ? -1 : 0;
}

static int malformed(const struct svg_chart *c)
{
    if (c->n_series > SVG_MAX_SERIES)
        return 1;
    for (size_t s = 0; s < c->n_series; s++) {
        if (c->n_points > 0 && c->values[s] == NULL)
            return 1;
    }
    return 0;
}

int svg_line_chart(FILE *out, const struct svg_chart *c)
{
    if (malformed(c) || (c->n_points > 0 && c->x == NULL))
        return -1;
    struct frame f;
    if (!chart_open(out, c, HEIGHT_LINE, BOTTOM_LINE, &f)) {
        /* Still one (empty) series element per legend entry. */
        for (size_t s = 0; s < c->n_series; s++)
            fputs("<path class=\"series\" d=\"\"/>\n", out);
        return chart_close(out);
    }
    double xlo = c->x[0], xhi = c->x[0];
    for (size_t i = 1; i < c->n_points; i++) {
        if (c->x[i] < xlo)
            xlo = c->x[i];
        if (c->x[i] > xhi)
            xhi = c->x[i];
    }
    double ticks[SVG_MAX_TICKS];
    size_t n = svg_nice_ticks(xlo, xhi, 8, ticks, SVG_MAX_TICKS);
    double x0 = ticks[0], x1 = ticks[n - 1];
    double step = n > 1 ? ticks[1] - ticks[0] : 1.0;
#define XPIX(v) (PLOT_LEFT + ((v)-x0) / (x1 - x0) * (PLOT_RIGHT - PLOT_LEFT))
    for (size_t i = 0; i < n; i++) {
        char label[32];
        svg_tick_label(label, sizeof label, ticks[i], step);
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#333\"/>\n",
                XPIX(ticks[i]), f.bottom, XPIX(ticks[i]), f.bottom + 5);
        text(out, XPIX(ticks[i]), f.bottom + 20,
             "font-size=\"12\" text-anchor=\"middle\"", label);
    }
    for (size_t s = 0; s < c->n_series; s++) {
        /* A path that breaks (a new M) wherever a value is missing. */
        fprintf(out,
                "<path class=\"series\" fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" "
                "d=\"",
                palette[s]);
        int pen_down = 0;
        for (size_t i = 0; i < c->n_points; i++) {
            double v = c->values[s][i];
            if (!isfinite(v)) {
                pen_down = 0;
                continue;
            }
            fprintf(out, "%s%.1f %.1f ", pen_down ? "L" : "M", XPIX(c->x[i]),
                    y_pixel(&f, v));
            pen_down = 1;
        }
        fputs("\"/>\n", out);
        for (size_t i = 0; i < c->n_points; i++) {
            double v = c->values[s][i];
            if (!isfinite(v))
                continue;
            fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n",
                    XPIX(c->x[i]), y_pixel(&f, v), palette[s]);
        }
    }
#undef XPIX
    return chart_close(out);
}

int svg_bar_chart(FILE *out, const struct svg_chart *c)
{
    if (malformed(c) || (c->n_points > 0 && c->labels == NULL))
        return -1;
    struct frame f;
    int slant = c->n_points > SLANT_ABOVE;
    int drawn = slant ? chart_open(out, c, HEIGHT_BAR, BOTTOM_BAR, &f)
                      : chart_open(out, c, HEIGHT_LINE, BOTTOM_LINE, &f);
    double group =
        c->n_points > 0 ? (double)(PLOT_RIGHT - PLOT_LEFT) / (double)c->n_points : 0;
    double bar = c->n_series > 0 ? group * 0.8 / (double)c->n_series : 0;
    if (bar > MAX_BAR)
        bar = MAX_BAR; /* a few wide bars read as blocks */
    double inset = (group - bar * (double)c->n_series) / 2; /* centre each group */
    /* Values above the bars only while they have room to be read. */
    int values_shown = c->n_points * c->n_series <= 16;
    for (size_t s = 0; s < c->n_series; s++) {
        fprintf(out, "<g class=\"series\" fill=\"%s\">\n", palette[s]);
        for (size_t i = 0; drawn && i < c->n_points; i++) {
            double v = c->values[s][i];
            if (!isfinite(v))
                continue;
            double x = PLOT_LEFT + group * (double)i + inset + bar * (double)s;
            double base = y_pixel(&f, f.ylo < 0 ? 0.0 : f.ylo), top = y_pixel(&f, v);
            double y = top < base ? top : base, h = fabs(base - top);
            fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
                    x, y, bar, h < 0.5 ? 0.5 : h);
            if (values_shown) {
                char label[32];
                svg_number(label, sizeof label, v);
                text(out, x + bar / 2, y - 4,
                     "font-size=\"11\" text-anchor=\"middle\" fill=\"#333\"", label);
            }
        }
        fputs("</g>\n", out);
    }
    for (size_t i = 0; drawn && i < c->n_points; i++) {
        double cx = PLOT_LEFT + group * ((double)i + 0.5);
        if (slant) {
            char attrs[128];
            snprintf(
                attrs, sizeof attrs,
                "font-size=\"12\" text-anchor=\"end\" transform=\"rotate(-35 %.1f %d)\"",
                cx, f.bottom + 16);
            text(out, cx, f.bottom + 16, attrs, c->labels[i]);
        } else {
            text(out, cx, f.bottom + 18, "font-size=\"12\" text-anchor=\"middle\"",
                 c->labels[i]);
        }
    }
    return chart_close(out);
}
