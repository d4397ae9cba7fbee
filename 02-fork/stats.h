/*
 * stats.h: the median of a set of timings, the one home for it.
 *
 * Chapter 02's fork cost reports it first; chapter 03's exec cost reuses it
 * by path. The median, not the mean, so that a few runs slowed by the
 * scheduler or a page-cache miss do not move the figure.
 */
#ifndef STATS_H
#define STATS_H

/* The median of v[0..n-1], n >= 1: the middle value, or the mean of the two
 * middle values when n is even. Sorts v in place. */
double stats_median(double *v, int n);

#endif
