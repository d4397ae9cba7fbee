/*
 * notice.h: the "what to notice" sentence under each chart, computed from
 * the chart's data (never canned text), by one or more rules that the
 * chart's metadata names:
 *
 *   growth   how much each series grows from the first x to the last:
 *            "from 1 to 1024: fork+_exit grows 41x, posix_spawn 1.1x"
 *   ratio    each series against the first, at every row (categories)
 *   ratio-last  the same, at the last row only (a line over x)
 *   extremes each series' highest and lowest row
 *   range    each series' smallest and largest value over the rows
 */
#ifndef NOTICE_H
#define NOTICE_H

#include <stdio.h>

#include "table.h"

/* Write the sentences the comma-separated rules ask for, plain text (the
 * caller escapes it). x_label names the x values (growth, ratio-last).
 * Returns -1 for an unknown rule (nothing written for it). */
int notice_write(FILE *out, const char *rules, const struct table *t,
                 const char *x_label);

#endif
