/*
 * report.c: write the report page, one self-contained HTML file with a
 * chart per measurement, drawn as inline SVG (svg.c); no script, no
 * external file, so it opens the same in any browser, offline.
 *
 *   ./report -o build/report.html [-n NOTES] DIR/01-rss DIR/02-fork ...
 *
 * `make report` (collect.sh) measures every chapter and then runs this.
 * Each CHART argument names two files:
 *   CHART.meta  key=value lines: title, kind (line or bar), x and y (axis
 *               labels with units), chapter, command (the exact command
 *               that measured it), notice (the rules of notice.h), and any
 *               number of note lines (shown under the chart)
 *   CHART.tsv   the data (table.h); if it is missing, the chart's section
 *               says it was not measured, with its notes (a peer that is
 *               not installed, say)
 * NOTES is a file of lines shown at the top of the page (skipped peers).
 * The machine line (CPUs, kernel) comes from this machine, where the
 * measurements ran.
 */
#include <err.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "notice.h"
#include "svg.h"
#include "table.h"

enum { META_MAX_NOTES = 8, META_TEXT = 512 };

struct meta {
    char title[META_TEXT], kind[16], x[META_TEXT], y[META_TEXT];
    char chapter[META_TEXT], command[META_TEXT], notice[META_TEXT];
    size_t n_notes;
    char notes[META_MAX_NOTES][META_TEXT];
};

static void usage(FILE *to, int status)
{
    fputs("usage: report -o OUT.html [-n NOTES] CHART...\n"
          "Write one HTML page with a chart per CHART (CHART.meta and CHART.tsv):\n"
          "see the top of report.c for the two files' format.\n",
          to);
    exit(status);
}

/* One key=value line into m; unknown keys are an error (a typo would
 * otherwise silently drop a label). */
static int meta_line(struct meta *m, const char *line)
{
    const char *eq = strchr(line, '=');
    if (eq == NULL)
        return -1;
    size_t klen = (size_t)(eq - line);
    const char *v = eq + 1;
    struct {
        const char *key;
        char *dst;
        size_t size;
    } keys[] = {
        {"title", m->title, sizeof m->title},
        {"kind", m->kind, sizeof m->kind},
        {"x", m->x, sizeof m->x},
        {"y", m->y, sizeof m->y},
        {"chapter", m->chapter, sizeof m->chapter},
        {"command", m->command, sizeof m->command},
        {"notice", m->notice, sizeof m->notice},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strlen(keys[i].key) == klen && strncmp(line, keys[i].key, klen) == 0) {
            snprintf(keys[i].dst, keys[i].size, "%s", v);
            return 0;
        }
    }
    if (klen == 4 && strncmp(line, "note", 4) == 0 && m->n_notes < META_MAX_NOTES) {
        snprintf(m->notes[m->n_notes++], META_TEXT, "%s", v);
        return 0;
    }
    return -1;
}

static void meta_read(const char *path, struct meta *m)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        err(1, "%s", path);
    memset(m, 0, sizeof *m);
    char line[META_TEXT + 32];
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if (meta_line(m, line) != 0)
            errx(1, "%s: not a known key=value line: %s", path, line);
    }
    fclose(f);
    if (strcmp(m->kind, "line") != 0 && strcmp(m->kind, "bar") != 0)
        errx(1, "%s: kind must be line or bar, not '%s'", path, m->kind);
}

/* The machine the figures come from: CPUs online, the kernel. */
static void machine_line(char *buf, size_t size)
{
    struct utsname u;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (uname(&u) == -1)
        err(1, "uname");
    snprintf(buf, size, "%ld CPUs online, %s %s (%s)", cpus, u.sysname, u.release,
             u.machine);
}

static void page_open(FILE *out, const char *machine)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<title>Unix multi-process servers: the report of this machine</title>\n"
          "<style>\n"
          "body { font-family: sans-serif; max-width: 900px; margin: 0 auto; padding: 0 "
          "10px;"
          " color: #222; }\n"
          "section { border-top: 1px solid #ccc; padding: 8px 0 16px; }\n"
          "svg.chart { max-width: 100%; height: auto; display: block; }\n"
          "code { background: #f3f3f3; padding: 1px 3px; overflow-wrap: anywhere; }\n"
          "p.notice { font-weight: bold; }\n"
          "p.note { color: #8a4b00; }\n"
          "p.meta { color: #555; font-size: 90%; }\n"
          "</style>\n</head>\n<body>\n"
          "<h1>Unix multi-process servers: the report of this machine</h1>\n",
          out);
    fputs("<p>Each chart is a short run of a chapter's own measurement on this machine "
          "(<code>make report</code>). Absolute figures drift with the machine and its "
          "load; "
          "compare within a chart.</p>\n<p class=\"meta\">Machine: ",
          out);
    svg_escape(out, machine);
    fputs("</p>\n", out);
}

static void page_notes(FILE *out, const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        err(1, "%s", path);
    char line[META_TEXT];
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue;
        fputs("<p class=\"note\">", out);
        svg_escape(out, line);
        fputs("</p>\n", out);
    }
    fclose(f);
}

/* The chart itself and its computed sentence; 0 if there was no data. */
static int chart_body(FILE *out, const struct meta *m, const char *tsv_path)
{
    FILE *f = fopen(tsv_path, "r");
    if (f == NULL)
        return 0;
    static struct table t;
    char why[256];
    if (table_read(f, &t, why, sizeof why) != 0)
        errx(1, "%s: %s", tsv_path, why);
    fclose(f);
    const char *labels[TABLE_MAX_ROWS];
    for (size_t r = 0; r < t.n_rows; r++)
        labels[r] = t.labels[r];
    struct svg_chart c = {.title = m->title, .x_label = m->x, .y_label = m->y};
    table_chart(&t, &c, labels);
    int line = strcmp(m->kind, "line") == 0;
    for (size_t r = 0; line && r < t.n_rows; r++) {
        if (!isfinite(t.x[r]))
            errx(1, "%s: a line chart needs numbers in its first column", tsv_path);
    }
    if ((line ? svg_line_chart(out, &c) : svg_bar_chart(out, &c)) != 0)
        errx(1, "%s: cannot draw this chart", tsv_path);
    /* The sentence goes through a memory stream so that it is escaped. */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (mem == NULL)
        err(1, "open_memstream");
    if (notice_write(mem, m->notice, &t, m->x) != 0)
        errx(1, "unknown notice rule in: %s", m->notice);
    fclose(mem);
    if (len > 0) {
        fputs("<p class=\"notice\">What to notice: ", out);
        svg_escape(out, text);
        fputs("</p>\n", out);
    }
    free(text);
    return 1;
}

static void chart_section(FILE *out, const char *chart, const char *machine)
{
    char path[4096];
    struct meta m;
    snprintf(path, sizeof path, "%s.meta", chart);
    meta_read(path, &m);
    fputs("<section>\n<h2>", out);
    svg_escape(out, m.chapter);
    fputs(": ", out);
    svg_escape(out, m.title);
    fputs("</h2>\n", out);
    snprintf(path, sizeof path, "%s.tsv", chart);
    if (!chart_body(out, &m, path))
        fputs("<p class=\"note\">Not measured on this machine.</p>\n", out);
    for (size_t i = 0; i < m.n_notes; i++) {
        fputs("<p class=\"note\">", out);
        svg_escape(out, m.notes[i]);
        fputs("</p>\n", out);
    }
    fputs("<p class=\"meta\">Command: <code>", out);
    svg_escape(out, m.command);
    fputs("</code><br>Machine: ", out);
    svg_escape(out, machine);
    fputs("</p>\n</section>\n", out);
}

/* The page being written, removed if the program exits before it is
 * complete (errx on a bad chart file), so that no half page is left. */
static char tmp_path[4096];

static void remove_half_page(void)
{
    if (tmp_path[0] != '\0')
        unlink(tmp_path);
}

int main(int argc, char **argv)
{
    const char *out_path = NULL, *notes = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            usage(stdout, 0);
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out_path = argv[++i];
        else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            notes = argv[++i];
        else
            usage(stderr, 2);
    }
    if (out_path == NULL || i == argc)
        usage(stderr, 2);
    char machine[512];
    machine_line(machine, sizeof machine);
    /* Write beside the page, then rename: a failed run leaves no half page. */
    snprintf(tmp_path, sizeof tmp_path, "%s.tmp", out_path);
    FILE *out = fopen(tmp_path, "w");
    if (out == NULL)
        err(1, "%s", tmp_path);
    if (atexit(remove_half_page) != 0)
        errx(1, "atexit failed");
    if (atexit(remove_half_page) != 0)
        errx(1, "atexit failed");
    page_open(out, machine);
    if (notes != NULL)
        page_notes(out, notes);
    for (; i < argc; i++)
        chart_section(out, argv[i], machine);
    fputs("</body>\n</html>\n", out);
    if (fclose(out) != 0)
        err(1, "%s", tmp_path);
    if (rename(tmp_path, out_path) == -1)
        err(1, "rename %s", out_path);
    tmp_path[0] = '\0';
    printf("report: wrote %s\n", out_path);
    return 0;
}
