/*
 * notice.c: the computed "what to notice" sentences (see notice.h). Each
 * rule walks the table and says what the numbers show; a series with too
 * few values for a rule is left out of its sentence.
 */
#include "notice.h"

#include <math.h>
#include <string.h>

static void ratio_text(char *buf, size_t size, double r)
{
    snprintf(buf, size, r >= 10.0 ? "%.0fx" : r >= 0.1 ? "%.1fx" : "%.2fx", r);
}

/* The first and last rows where series s has a value; 0 if fewer than 2. */
static int ends(const struct table *t, size_t s, size_t *first, size_t *last)
{
    int found = 0;
    for (size_t r = 0; r < t->n_rows; r++) {
        if (!isfinite(t->values[s][r]))
            continue;
        if (!found)
            *first = r;
        *last = r;
        found++;
    }
    return found >= 2;
}

static void growth(FILE *out, const struct table *t, const char *x_label)
{
    const char *sep = "";
    size_t a0 = 0, b0 = 0; /* the span the sentence starts with */
    size_t most = 0, least = 0;
    double rmost = -1, rleast = -1;
    for (size_t s = 0; s < t->n_series; s++) {
        size_t a, b;
        if (!ends(t, s, &a, &b) || t->values[s][a] <= 0)
            continue;
        double r = t->values[s][b] / t->values[s][a];
        char rt[32];
        ratio_text(rt, sizeof rt, r);
        if (*sep == '\0') {
            fprintf(out, "From %s to %s %s: ", t->labels[a], t->labels[b], x_label);
            a0 = a, b0 = b;
        }
        fprintf(out, "%s%s%s %s", sep, t->names[s], *sep == '\0' ? " grows" : "", rt);
        /* A series with missing ends says over which span it grew. */
        if (a != a0 || b != b0)
            fprintf(out, " (from %s to %s)", t->labels[a], t->labels[b]);
        sep = ", ";
        if (rmost < 0 || r > rmost)
            rmost = r, most = s;
        if (rleast < 0 || r < rleast)
            rleast = r, least = s;
    }
    if (*sep == '\0')
        return;
    fputs(".", out);
    if (most != least)
        fprintf(out, " %s grows the most, %s the least.", t->names[most],
                t->names[least]);
    fputs(" ", out);
}

static void ratio_row(FILE *out, const struct table *t, size_t r, const char *prefix)
{
    double base = t->values[0][r];
    if (!isfinite(base) || base == 0 || t->n_series < 2)
        return;
    int any = 0;
    for (size_t s = 1; s < t->n_series; s++) {
        double v = t->values[s][r];
        if (!isfinite(v))
            continue;
        char rt[32];
        ratio_text(rt, sizeof rt, v / base);
        fprintf(out, "%s%s is %s %s", any ? ", " : prefix, t->names[s], rt, t->names[0]);
        any = 1;
    }
    if (any)
        fputs(". ", out);
}

static void ratio(FILE *out, const struct table *t, int last_only, const char *x_label)
{
    for (size_t r = last_only && t->n_rows > 0 ? t->n_rows - 1 : 0; r < t->n_rows; r++) {
        char prefix[TABLE_MAX_TEXT * 2 + 16];
        if (last_only)
            snprintf(prefix, sizeof prefix, "At %s %s: ", t->labels[r], x_label);
        else
            snprintf(prefix, sizeof prefix, "%s: ", t->labels[r]);
        ratio_row(out, t, r, prefix);
    }
}

static void extremes(FILE *out, const struct table *t, int range_only)
{
    for (size_t s = 0; s < t->n_series; s++) {
        size_t hi = 0, lo = 0;
        int n = 0;
        for (size_t r = 0; r < t->n_rows; r++) {
            double v = t->values[s][r];
            if (!isfinite(v))
                continue;
            if (n == 0 || v > t->values[s][hi])
                hi = r;
            if (n == 0 || v < t->values[s][lo])
                lo = r;
            n++;
        }
        if (n < 2)
            continue;
        char a[32], b[32];
        svg_number(a, sizeof a, t->values[s][hi]);
        svg_number(b, sizeof b, t->values[s][lo]);
        if (range_only)
            fprintf(out, "%s ranges from %s to %s over %d %s. ", t->names[s], b, a, n,
                    t->x_name);
        else
            fprintf(out, "%s: highest %s (%s), lowest %s (%s). ", t->names[s],
                    t->labels[hi], a, t->labels[lo], b);
    }
}

int notice_write(FILE *out, const char *rules, const struct table *t, const char *x_label)
{
    int status = 0;
    char rule[32];
    while (rules != NULL && *rules != '\0') {
        size_t len = strcspn(rules, ",");
        snprintf(rule, sizeof rule, "%.*s",
                 (int)(len < sizeof rule ? len : sizeof rule - 1), rules);
        if (strcmp(rule, "growth") == 0)
            growth(out, t, x_label);
        else if (strcmp(rule, "ratio") == 0)
            ratio(out, t, 0, x_label);
        else if (strcmp(rule, "ratio-last") == 0)
            ratio(out, t, 1, x_label);
        else if (strcmp(rule, "extremes") == 0)
            extremes(out, t, 0);
        else if (strcmp(rule, "range") == 0)
            extremes(out, t, 1);
        else
            status = -1;
        rules += len;
        if (*rules == ',')
            rules++;
    }
    return status;
}
