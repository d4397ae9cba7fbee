/*
 * table.c: read one chart's TSV (see table.h).
 */
#include "table.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Copy the next tab-separated cell of *line into cell and advance *line
 * past it. Returns 0 at the end of the line. */
static int next_cell(char **line, char *cell, size_t size)
{
    if (*line == NULL)
        return 0;
    char *tab = strchr(*line, '\t');
    size_t len = tab != NULL ? (size_t)(tab - *line) : strlen(*line);
    if (len >= size)
        len = size - 1;
    memcpy(cell, *line, len);
    cell[len] = '\0';
    *line = tab != NULL ? tab + 1 : NULL;
    return 1;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

/* A cell as a number: "-" or empty is missing (NAN); else the whole cell
 * must be a finite number. */
static int parse_value(const char *cell, double *v)
{
    if (cell[0] == '\0' || strcmp(cell, "-") == 0) {
        *v = NAN;
        return 0;
    }
    char *end;
    errno = 0;
    *v = strtod(cell, &end);
    if (errno != 0 || *end != '\0' || !isfinite(*v))
        return -1;
    return 0;
}

int table_read(FILE *in, struct table *t, char *err, size_t err_size)
{
    char buf[1024], cell[TABLE_MAX_TEXT];
    memset(t, 0, sizeof *t);
    if (fgets(buf, sizeof buf, in) == NULL) {
        snprintf(err, err_size, "no header line");
        return -1;
    }
    chomp(buf);
    char *p = buf;
    next_cell(&p, t->x_name, sizeof t->x_name);
    while (next_cell(&p, cell, sizeof cell)) {
        if (t->n_series == SVG_MAX_SERIES) {
            snprintf(err, err_size, "more than %d series", SVG_MAX_SERIES);
            return -1;
        }
        strcpy(t->names[t->n_series++], cell);
    }
    while (fgets(buf, sizeof buf, in) != NULL) {
        chomp(buf);
        if (buf[0] == '\0')
            continue;
        if (t->n_rows == TABLE_MAX_ROWS) {
            snprintf(err, err_size, "more than %d rows", TABLE_MAX_ROWS);
            return -1;
        }
        size_t r = t->n_rows++;
        p = buf;
        next_cell(&p, t->labels[r], sizeof t->labels[r]);
        if (parse_value(t->labels[r], &t->x[r]) != 0)
            t->x[r] = NAN;
        for (size_t s = 0; s < t->n_series; s++) {
            if (!next_cell(&p, cell, sizeof cell))
                cell[0] = '\0';
            if (parse_value(cell, &t->values[s][r]) != 0) {
                snprintf(err, err_size, "row %zu, column %s: not a number: %s", r + 1,
                         t->names[s], cell);
                return -1;
            }
        }
    }
    return 0;
}

void table_chart(const struct table *t, struct svg_chart *c, const char *const *labels)
{
    c->n_points = t->n_rows;
    c->x = t->x;
    c->labels = labels;
    c->n_series = t->n_series;
    for (size_t s = 0; s < t->n_series; s++) {
        c->names[s] = t->names[s];
        c->values[s] = t->values[s];
    }
}
