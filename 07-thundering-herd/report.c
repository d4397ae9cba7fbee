/*
 * report.c: the comparison table (see report.h for what each column means).
 *
 * Printing only: every figure is computed from counts the workers and the
 * client collected. Run ./thundering-herd to see the table, add --csv for
 * the same figures as csv lines; tests/test_report.c checks both.
 */
#include "report.h"

#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "counters.h"
#include "net.h" /* net_cpu_count, from 01-event-loop */

enum { BAR_WIDTH = 6, BARS_MAX_WORKERS = 8 };

double report_woken_per_conn(const report_row *r)
{
    if (!r->sleeps_known)
        return -1.0;
    return r->served == 0 ? 0.0 : (double)r->sleeps / (double)r->served;
}

double report_wakeups_per_conn(const report_row *r)
{
    if (r->no_wakeups)
        return -1.0;
    return r->served == 0 ? 0.0 : (double)r->wakeups / (double)r->served;
}

double report_share(const report_row *r, int worker)
{
    if (worker < 0 || worker >= r->workers || r->served == 0)
        return 0.0;
    return (double)r->accepts[worker] / (double)r->served;
}

void report_header(FILE *out, const report_info *info)
{
    struct utsname u;
    if (uname(&u) == -1)
        strcpy(u.sysname, "?"), strcpy(u.release, "?");
    fprintf(out, "system: %s %s, %ld CPUs online\n", u.sysname, u.release,
            net_cpu_count());
    fprintf(out, "load: %d worker%s, %d connection%s, ", info->workers,
            info->workers == 1 ? "" : "s", info->connections,
            info->connections == 1 ? "" : "s");
    if (info->clients <= 1)
        fprintf(out, "sequential (one at a time, each once every worker sleeps)");
    else
        fprintf(out, "concurrent (%d clients at once)", info->clients);
    if (info->stall_worker >= 0)
        fprintf(out, ", worker %d sleeps %d ms per connection (marked *)",
                info->stall_worker, info->stall_ms);
    fprintf(out, "\n");
}

static void print_bar(FILE *out, unsigned long x, unsigned long max)
{
    int filled = max == 0 ? 0 : (int)((x * BAR_WIDTH + max / 2) / max);
    if (x > 0 && filled == 0)
        filled = 1; /* something is not nothing */
    for (int i = 0; i < BAR_WIDTH; i++)
        fputc(i < filled ? '#' : '.', out);
}

/* The table's two layouts. The wide one is the default: counts and bars,
 * and the three latencies. The narrow one (--narrow, what the demo prints)
 * fits 100 columns with up to 5 workers: no bars, no p50, tighter columns. */
typedef struct layout {
    int mode, woken, ret, eagain, count; /* column widths */
    const char *woken_name, *ret_name;
    int bars, p50;          /* print the bars, the p50 column */
    int spread, jain, rate; /* widths of max/min, Jain and conns/s */
} layout;

static const layout WIDE = {16, 10, 8, 6, 5, "woken/conn", "ret/conn", 1, 1, 7, 5, 8};
static const layout NARROW = {15, 6, 5, 6, 4, "woken", "ret", 0, 0, 6, 4, 7};

static void print_header_line(FILE *out, const report_info *info, const layout *l)
{
    int counts_width = info->workers * (l->count + 1);
    fprintf(out, "%-*s %*s %*s %*s  %-*s", l->mode, "mode", l->woken, l->woken_name,
            l->ret, l->ret_name, l->eagain, "EAGAIN", counts_width, "accepts per worker");
    if (l->bars)
        fprintf(out, " %-*s", info->workers * (BAR_WIDTH + 1), "");
    fprintf(out, " %*s %*s %*s", l->spread, "max/min", l->jain, "Jain", l->rate,
            "conns/s");
    if (l->p50)
        fprintf(out, " %7s", "p50 ms");
    fprintf(out, " %7s %7s\n", "p99 ms", "max ms");
}

/* woken/conn, ret/conn and EAGAIN; "-" where they are not known. */
static void print_wakeups(FILE *out, const report_row *r, const layout *l)
{
    if (r->sleeps_known)
        fprintf(out, "%*.2f", l->woken, report_woken_per_conn(r));
    else
        fprintf(out, "%*s", l->woken, "-");
    if (r->no_wakeups)
        fprintf(out, " %*s %*s  ", l->ret, "-", l->eagain, "-");
    else
        fprintf(out, " %*.2f %*lu  ", l->ret, report_wakeups_per_conn(r), l->eagain,
                r->eagain);
}

/* The accepts per worker, as counts, then as bars if there is room. */
static void print_accepts(FILE *out, const report_info *info, const report_row *r,
                          const layout *l)
{
    unsigned long max = 0;
    for (int w = 0; w < r->workers; w++) {
        fprintf(out, "%*lu%c", l->count, r->accepts[w],
                w == info->stall_worker ? '*' : ' ');
        if (r->accepts[w] > max)
            max = r->accepts[w];
    }
    for (int w = 0; l->bars && w < r->workers; w++) {
        fputc(' ', out);
        print_bar(out, r->accepts[w], max);
    }
}

/* max/min, Jain, and the client's figures. */
static void print_spread_and_latency(FILE *out, const report_row *r, const layout *l)
{
    double spread = counters_spread(r->accepts, r->workers);
    if (spread < 0)
        fprintf(out, "  %*s", l->spread, "inf");
    else
        fprintf(out, "  %*.2f", l->spread, spread);
    double rate = r->elapsed_ms > 0 ? r->done * 1000.0 / r->elapsed_ms : 0;
    fprintf(out, " %*.2f", l->jain, counters_jain(r->accepts, r->workers));
    if (r->done > 0) {
        fprintf(out, " %*.0f", l->rate, rate);
        if (l->p50)
            fprintf(out, " %7.2f", r->p50);
        fprintf(out, " %7.2f %7.2f", r->p99, r->max);
    } else {
        fprintf(out, " %*s", l->rate, "-"); /* no built-in client */
        if (l->p50)
            fprintf(out, " %7s", "-");
        fprintf(out, " %7s %7s", "-", "-");
    }
    if (r->errors > 0)
        fprintf(out, "  (%d failed)", r->errors);
}

static void print_row(FILE *out, const report_info *info, const report_row *r,
                      const layout *l)
{
    fprintf(out, "%-*s ", l->mode, r->mode);
    if (r->skipped) {
        fprintf(out, "skipped: %s\n", r->skip_why != NULL ? r->skip_why : "Linux-only");
        return;
    }
    if (r->failed) {
        fprintf(out, "failed (see the messages above)\n");
        return;
    }
    print_wakeups(out, r, l);
    print_accepts(out, info, r, l);
    print_spread_and_latency(out, r, l);
    fputc('\n', out);
}

void report_table(FILE *out, const report_info *info, const report_row *rows, int n)
{
    layout l = info->narrow ? NARROW : WIDE;
    if (info->workers > BARS_MAX_WORKERS)
        l.bars = 0; /* no room */
    print_header_line(out, info, &l);
    for (int i = 0; i < n; i++)
        print_row(out, info, &rows[i], &l);
}

void report_csv(FILE *out, const report_info *info, const report_row *rows, int n)
{
    fprintf(out,
            "csv,mode,workers,served,errors,woken_per_conn,wakeups_per_conn,eagain,jain,"
            "spread,conns_per_s,p50_ms,p99_ms,max_ms,stall_share,accepts...\n");
    for (int i = 0; i < n; i++) {
        const report_row *r = &rows[i];
        if (r->skipped || r->failed) {
            fprintf(out, "csv,%s,%s\n", r->mode, r->skipped ? "skipped" : "failed");
            continue;
        }
        double rate = r->elapsed_ms > 0 ? r->done * 1000.0 / r->elapsed_ms : 0;
        /* -1: not known (woken/conn off Linux; ret/conn and EAGAIN for
         * Node's workers). */
        fprintf(out, "csv,%s,%d,%lu,%d,%.3f,%.3f,%ld,%.3f,%.2f,%.0f,%.3f,%.3f,%.3f,%.3f",
                r->mode, r->workers, r->served, r->errors, report_woken_per_conn(r),
                r->no_wakeups ? -1.0 : report_wakeups_per_conn(r),
                r->no_wakeups ? -1L : (long)r->eagain,
                counters_jain(r->accepts, r->workers),
                counters_spread(r->accepts, r->workers), rate, r->p50, r->p99, r->max,
                report_share(r, info->stall_worker));
        for (int w = 0; w < r->workers; w++)
            fprintf(out, ",%lu", r->accepts[w]);
        fputc('\n', out);
    }
}

static int usable(const report_row *r)
{
    return !r->skipped && !r->failed && r->served > 0;
}

/* Has a wakeup figure to sort by: the kernel's, or the program's own. */
static int has_wakeups(const report_row *r)
{
    return r->sleeps_known || !r->no_wakeups;
}

/* The kernel's count where there is one, else what the program saw. */
static double woken(const report_row *r)
{
    return r->sleeps_known ? report_woken_per_conn(r) : report_wakeups_per_conn(r);
}

/* "a, b and c" from the modes of the rows that pass `pick`, each with its
 * woken/conn figure as the table prints it when with_wake is set; "none"
 * if no row does. */
static void list_modes(FILE *out, const report_row *rows, int n,
                       int (*pick)(const report_row *, const report_info *),
                       const report_info *info, int with_wake)
{
    int total = 0;
    for (int i = 0; i < n; i++)
        if (usable(&rows[i]) && pick(&rows[i], info))
            total++;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!usable(&rows[i]) || !pick(&rows[i], info))
            continue;
        k++;
        fprintf(out, "%s%s", k == 1 ? "" : k == total ? " and " : ", ", rows[i].mode);
        if (with_wake)
            fprintf(out, " (%.2f)", woken(&rows[i]));
    }
    if (total == 0)
        fprintf(out, "none");
}

/* One threshold splits the modes in two, so that every mode with figures
 * lands in exactly one list. Sequentially a mode wakes 1 worker (1.02 in
 * the table, the last sleep included) or most of them (2 to 4 of 4), and
 * 1.5 is far from both; under concurrent load the figures spread out (0.3
 * to 4), and 1.5 still means "more wakeups than connections, by half". */
#define HERD_WOKEN_PER_CONN 1.5

static int is_herd(const report_row *r, const report_info *info)
{
    (void)info;
    return has_wakeups(r) && woken(r) >= HERD_WOKEN_PER_CONN;
}

static int wakes_one(const report_row *r, const report_info *info)
{
    return has_wakeups(r) && !is_herd(r, info);
}

/* Gave the stalled worker less than half of a fair share. */
static int avoids_stall(const report_row *r, const report_info *info)
{
    return report_share(r, info->stall_worker) < 0.5 / info->workers;
}

static int feeds_stall(const report_row *r, const report_info *info)
{
    return !avoids_stall(r, info);
}

/* Some connection waited more than one and a half stalls: it cannot have
 * been served by the stalled worker right away, so it waited for a stall
 * that was already in progress when it was handed over (rr-on-ack and
 * Node's rr, where a worker is free again before it has served), or in a
 * queue (reuseport). */
static int waited_past_a_stall(const report_row *r, const report_info *info)
{
    return r->max > 1.5 * info->stall_ms;
}

/* The column the lists are about: the kernel's count where there is one
 * (woken() falls back to the program's own count elsewhere). */
static const char *notice_column(const report_row *rows, int n)
{
    for (int i = 0; i < n; i++)
        if (usable(&rows[i]) && !rows[i].sleeps_known)
            return "ret/conn";
    return "woken/conn";
}

/* Two lists: the modes that woke about one worker per connection, and the
 * herds. */
static void notice_wakeups(FILE *out, const report_info *info, const report_row *rows,
                           int n)
{
    const char *col = notice_column(rows, n);
    if (info->clients <= 1) {
        /* Every connection met every worker asleep: the figure is the
         * number of workers one connection woke. */
        fprintf(out, "  - woke about one worker per connection (%s below %.1f): ", col,
                HERD_WOKEN_PER_CONN);
        list_modes(out, rows, n, wakes_one, info, 1);
        fprintf(out,
                ".\n  - woke several workers per connection, a herd (%.1f or more): ",
                HERD_WOKEN_PER_CONN);
    } else {
        /* A worker still busy with one connection is not woken for the
         * next: it finds it queued. So the figure counts the sleeps that
         * connections ended, not the workers each one woke. */
        fprintf(out,
                "  - under concurrent load a busy worker takes the next connection "
                "without sleeping, so %s can be below 1.\n",
                col);
        fprintf(out,
                "  - about one wakeup per connection or fewer (%s below %.1f): ", col,
                HERD_WOKEN_PER_CONN);
        list_modes(out, rows, n, wakes_one, info, 1);
        fprintf(out,
                ".\n  - more than one wakeup per connection, a herd (%.1f or more): ",
                HERD_WOKEN_PER_CONN);
    }
    list_modes(out, rows, n, is_herd, info, 1);
    fprintf(out, ".\n");
}

/* The least and the most even spread of connections over the workers. */
static void notice_evenness(FILE *out, const report_row *rows, int n)
{
    const report_row *lo = NULL, *hi = NULL;
    for (int i = 0; i < n; i++) {
        if (!usable(&rows[i]))
            continue;
        double j = counters_jain(rows[i].accepts, rows[i].workers);
        if (lo == NULL || j < counters_jain(lo->accepts, lo->workers))
            lo = &rows[i];
        if (hi == NULL || j > counters_jain(hi->accepts, hi->workers))
            hi = &rows[i];
    }
    if (lo == NULL)
        return;
    unsigned long max = 0;
    for (int w = 0; w < lo->workers; w++)
        if (lo->accepts[w] > max)
            max = lo->accepts[w];
    fprintf(out,
            "  - least even: %s (Jain %.2f, its busiest worker took %lu of %lu); "
            "most even: %s (Jain %.2f).\n",
            lo->mode, counters_jain(lo->accepts, lo->workers), max, lo->served, hi->mode,
            counters_jain(hi->accepts, hi->workers));
}

/* Which modes fed the stalled worker, which passed it over, and where
 * connections waited for a stall already in progress. */
static void notice_stall(FILE *out, const report_info *info, const report_row *rows,
                         int n)
{
    fprintf(out,
            "  - the stalled worker %d still got at least half of a fair share "
            "(%.1f%%) from: ",
            info->stall_worker, 50.0 / info->workers);
    list_modes(out, rows, n, feeds_stall, info, 0);
    fprintf(out, ";\n    it was passed over by: ");
    list_modes(out, rows, n, avoids_stall, info, 0);
    fprintf(out, ".\n    Connections queued behind a stalled worker wait for it: "
                 "compare the p99 column.\n");
    fprintf(out,
            "    Some connections waited longer than one stall (max above %.0f ms): ",
            1.5 * info->stall_ms);
    list_modes(out, rows, n, waited_past_a_stall, info, 0);
    fprintf(out, ";\n    they were queued behind a stall already in progress.\n");
}

void report_notice(FILE *out, const report_info *info, const report_row *rows, int n)
{
    fprintf(out, "what to notice:\n");
    notice_wakeups(out, info, rows, n);
    notice_evenness(out, rows, n);
    if (info->stall_worker >= 0)
        notice_stall(out, info, rows, n);
}
