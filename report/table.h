/*
 * table.h: the report's data files. One chart's data is a TSV file: a
 * header line naming the columns, then one row per point. The first column
 * is the point's x (a number, for a line chart) or its category name (for
 * a bar chart); each further column is one series. A cell that is "-" or
 * empty is a missing value (NAN).
 *
 *   size_mib	fork	vfork	posix_spawn
 *   1	0.61	0.05	0.40
 *   256	9.80	0.05	0.44
 */
#ifndef TABLE_H
#define TABLE_H

#include <stddef.h>
#include <stdio.h>

#include "svg.h"

enum { TABLE_MAX_ROWS = 64, TABLE_MAX_TEXT = 64 };

struct table {
    char x_name[TABLE_MAX_TEXT];
    size_t n_series; /* at most SVG_MAX_SERIES */
    char names[SVG_MAX_SERIES][TABLE_MAX_TEXT];
    size_t n_rows;
    char labels[TABLE_MAX_ROWS][TABLE_MAX_TEXT]; /* the first column, as text */
    double x[TABLE_MAX_ROWS]; /* ... and as a number (NAN if not one) */
    double values[SVG_MAX_SERIES][TABLE_MAX_ROWS];
};

/* Read a TSV from in. Returns 0, or -1 with a reason in err (no header,
 * too many columns or rows, a cell that is not a number). */
int table_read(FILE *in, struct table *t, char *err, size_t err_size);

/* A chart over t's data, pointing into t (keep t alive while it is used). */
void table_chart(const struct table *t, struct svg_chart *c, const char *const *labels);

#endif
