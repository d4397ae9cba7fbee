/*
 * test_report.c: unit tests of the table (report.h).
 *
 * The table is what the reader looks at, so its figures must be the right
 * ones: the load described in the header, per-connection ratios, bars
 * scaled to the busiest worker, "inf" when a worker got nothing, the
 * stalled worker marked, skipped and failed rows said in words, and "what
 * to notice" naming the right modes.
 *
 *   make test        (or ./build/test_report from this directory)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report.h"

static const unsigned long even[4] = {50, 50, 50, 50};
static const unsigned long one[4] = {200, 0, 0, 0};
static const unsigned long stalled[4] = {2, 66, 66, 66};

static report_row row(const char *mode, const unsigned long *acc, unsigned long wakeups,
                      unsigned long sleeps)
{
    report_row r = {
        .mode = mode,
        .workers = 4,
        .accepts = acc,
        .wakeups = wakeups,
        .served = 200,
        .sleeps = sleeps,
        .sleeps_known = 1,
        .done = 200,
        .elapsed_ms = 100,
        .p50 = 0.05,
        .p99 = 0.5,
        .max = 1.0,
    };
    return r;
}

/* Run one of the printers into a string (through a temporary file). */
static char *capture(void (*print)(FILE *, const report_info *, const report_row *, int),
                     const report_info *info, const report_row *rows, int n)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    print(f, info, rows, n);
    long len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

static void test_ratios(void **state)
{
    (void)state;
    report_row r = row("select", even, 220, 800);
    assert_float_equal(report_wakeups_per_conn(&r), 1.1, 1e-9);
    assert_float_equal(report_woken_per_conn(&r), 4.0, 1e-9);
    r.sleeps_known = 0;
    assert_float_equal(report_woken_per_conn(&r), -1.0, 1e-9);
    r.served = 0;
    assert_float_equal(report_wakeups_per_conn(&r), 0.0, 1e-9);
    report_row s = row("accept", stalled, 200, 200);
    assert_float_equal(report_share(&s, 0), 0.01, 1e-9);
    assert_float_equal(report_share(&s, -1), 0.0, 1e-9); /* no stalled worker */
}

static void test_table(void **state)
{
    (void)state;
    report_info info = {
        .workers = 4, .connections = 200, .clients = 1, .stall_worker = -1};
    report_row rows[4] = {row("accept", even, 200, 204),
                          row("epoll-exclusive", one, 200, 204),
                          row("reuseport", even, 0, 0), row("round-robin", even, 0, 0)};
    rows[2].skipped = 1;
    rows[3].failed = 1;
    char *out = capture(report_table, &info, rows, 4);
    const char *acc = strstr(out, "\naccept ");
    assert_non_null(acc);
    /* woken 1.02, returns 1.00, even bars, max/min 1.00, Jain 1.00, 2000 conns/s */
    assert_non_null(strstr(acc, "1.02     1.00"));
    assert_non_null(strstr(acc, "###### ###### ###### ######"));
    assert_non_null(strstr(acc, " 2000 "));
    const char *ex = strstr(out, "\nepoll-exclusive ");
    assert_non_null(ex);
    assert_non_null(strstr(ex, "###### ...... ...... ......"));
    assert_non_null(strstr(ex, "inf"));
    assert_non_null(strstr(ex, "0.25"));
    assert_non_null(strstr(out, "reuseport        skipped: Linux-only"));
    assert_non_null(strstr(out, "round-robin      failed"));
    free(out);
}

/* The length of the longest line of TEXT. */
static size_t longest_line(const char *text)
{
    size_t longest = 0;
    while (*text != '\0') {
        size_t len = strcspn(text, "\n");
        if (len > longest)
            longest = len;
        text += len + (text[len] == '\n');
    }
    return longest;
}

/* The narrow layout (--narrow, what the demo prints) fits 100 columns with
 * 4 workers, and keeps the counts, the stall mark and the tail latencies. */
static void test_narrow_table_fits_100_columns(void **state)
{
    (void)state;
    report_info info = {
        .workers = 4, .connections = 200, .clients = 8, .stall_worker = 0, .narrow = 1};
    report_row rows[2] = {row("epoll-exclusive", one, 200, 204),
                          row("accept", even, 200, 204)};
    rows[0].p99 = 123.45;
    rows[0].max = 456.78;
    char *out = capture(report_table, &info, rows, 2);
    assert_null(strstr(out, "##"));
    assert_null(strstr(out, "p50"));
    assert_true(longest_line(out) <= 100);
    assert_non_null(strstr(out, "p99 ms"));
    assert_non_null(strstr(out, "  200* "));
    assert_non_null(strstr(out, " 123.45  456.78"));
    free(out);
}

static void test_stalled_worker_is_marked_and_named(void **state)
{
    (void)state;
    report_info info = {.workers = 4,
                        .connections = 200,
                        .clients = 8,
                        .stall_worker = 0,
                        .stall_ms = 20};
    static const unsigned long fed[4] = {50, 50, 50, 50};
    report_row rows[2] = {row("accept", stalled, 200, 200),
                          row("reuseport", fed, 200, 200)};
    char *table = capture(report_table, &info, rows, 2);
    assert_non_null(strstr(table, "    2*"));
    free(table);
    char *notice = capture(report_notice, &info, rows, 2);
    assert_non_null(
        strstr(notice, "at least half of a fair share (12.5%) from: reuseport;"));
    assert_non_null(strstr(notice, "passed over by: accept."));
    free(notice);
}

/* A worker counted free before it has served (rr-on-ack, Node's rr) is
 * handed connections while it stalls: they wait for the stall in progress
 * and then their own. The share alone does not show it; the longest wait
 * does, and the notice names the modes where it passed 1.5 stalls. */
static void test_notice_names_waits_behind_a_stall(void **state)
{
    (void)state;
    report_info info = {.workers = 4,
                        .connections = 200,
                        .clients = 8,
                        .stall_worker = 0,
                        .stall_ms = 20};
    report_row rows[3] = {row("accept", stalled, 200, 200),
                          row("rr-on-ack", stalled, 200, 200),
                          row("node-rr", stalled, 0, 150)};
    rows[0].max = 21.0;
    rows[1].max = 41.0;
    rows[2].max = 49.8;
    rows[2].no_wakeups = 1;
    char *notice = capture(report_notice, &info, rows, 3);
    assert_non_null(strstr(notice, "passed over by: accept, rr-on-ack and node-rr."));
    assert_non_null(strstr(notice, "longer than one stall (max above 30 ms): rr-on-ack "
                                   "and node-rr"));
    free(notice);
    /* Node's workers cannot count their returns from the wait: "-". */
    char *table = capture(report_table, &info, rows, 3);
    const char *line = strstr(table, "\nnode-rr ");
    assert_non_null(line);
    assert_non_null(strstr(line, "   0.75        -      -  "));
    free(table);
    char *csv = capture(report_csv, &info, rows, 3);
    assert_non_null(strstr(csv, "\ncsv,node-rr,4,200,0,0.750,-1.000,-1,"));
    free(csv);
}

/* A skipped row says why. */
static void test_skipped_row_says_why(void **state)
{
    (void)state;
    report_info info = {
        .workers = 4, .connections = 200, .clients = 1, .stall_worker = -1};
    report_row rows[1] = {row("node-rr", even, 0, 0)};
    rows[0].skipped = 1;
    rows[0].skip_why = "node not found";
    char *table = capture(report_table, &info, rows, 1);
    assert_non_null(strstr(table, "node-rr          skipped: node not found\n"));
    free(table);
}

static void test_notice_names_the_herd(void **state)
{
    (void)state;
    report_info info = {
        .workers = 4, .connections = 200, .clients = 1, .stall_worker = -1};
    report_row rows[3] = {row("accept", even, 200, 204), row("select", even, 200, 804),
                          row("poll", even, 200, 790)};
    char *notice = capture(report_notice, &info, rows, 3);
    assert_non_null(strstr(notice, "woke about one worker per connection (woken/conn "
                                   "below 1.5): accept (1.02).\n"));
    assert_non_null(strstr(notice, "woke several workers per connection, a herd (1.5 or "
                                   "more): select (4.02) and poll (3.95).\n"));
    /* Sequential: every connection met the whole herd asleep, so nothing
     * needs explaining about busy workers. */
    assert_null(strstr(notice, "can be below 1."));
    free(notice);
}

/* The line of `notice` that starts with `start`, as its own string. */
static char *notice_line(const char *notice, const char *start)
{
    const char *s = strstr(notice, start);
    assert_non_null(s);
    const char *e = strchr(s, '\n');
    assert_non_null(e);
    char *line = malloc((size_t)(e - s) + 1);
    assert_non_null(line);
    memcpy(line, s, (size_t)(e - s));
    line[e - s] = '\0';
    return line;
}

/* Every mode lands in exactly one of the two lists, with its figure, on
 * either side of one threshold (1.5): values between the old thresholds
 * (1.1 to 1.5) used to land in neither list. */
static void check_lists(const report_info *info, const char *one_start,
                        const char *herd_start)
{
    static const struct {
        const char *mode;
        unsigned long sleeps; /* per 200 connections */
        const char *shown;
        int herd;
    } cases[] = {
        {"m032", 64, "m032 (0.32)", 0},  {"m095", 190, "m095 (0.95)", 0},
        {"m108", 216, "m108 (1.08)", 0}, {"m110", 220, "m110 (1.10)", 0},
        {"m130", 260, "m130 (1.30)", 0}, {"m149", 298, "m149 (1.49)", 0},
        {"m150", 300, "m150 (1.50)", 1}, {"m234", 468, "m234 (2.34)", 1},
        {"m400", 800, "m400 (4.00)", 1},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    report_row rows[N + 2];
    for (int i = 0; i < N; i++)
        rows[i] = row(cases[i].mode, even, 200, cases[i].sleeps);
    /* Rows without figures are in neither list. */
    rows[N] = row("skipped-mode", even, 0, 0);
    rows[N].skipped = 1;
    rows[N + 1] = row("failed-mode", even, 0, 0);
    rows[N + 1].failed = 1;
    char *notice = capture(report_notice, info, rows, N + 2);
    char *one_line = notice_line(notice, one_start);
    char *herd_line = notice_line(notice, herd_start);
    for (int i = 0; i < N; i++) {
        const char *in = cases[i].herd ? herd_line : one_line;
        const char *out = cases[i].herd ? one_line : herd_line;
        if (strstr(in, cases[i].shown) == NULL || strstr(out, cases[i].mode) != NULL)
            fail_msg("%s is not (only) in the %s list:\n%s", cases[i].mode,
                     cases[i].herd ? "herd" : "one-worker", notice);
    }
    assert_null(strstr(notice, "skipped-mode"));
    assert_null(strstr(notice, "failed-mode"));
    free(one_line);
    free(herd_line);
    free(notice);
}

static void test_notice_lists_every_mode_once_sequential(void **state)
{
    (void)state;
    report_info info = {
        .workers = 4, .connections = 200, .clients = 1, .stall_worker = -1};
    check_lists(&info, "  - woke about one worker per connection",
                "  - woke several workers per connection");
}

/* Under concurrent load a worker still busy with one connection is not
 * woken for the next: it finds it queued. woken/conn then counts the
 * sleeps a connection ended, and can be below 1; the sentences must say
 * that, not "woke one worker per connection". */
static void test_notice_lists_every_mode_once_concurrent(void **state)
{
    (void)state;
    report_info info = {
        .workers = 4, .connections = 200, .clients = 8, .stall_worker = -1};
    check_lists(&info, "  - about one wakeup per connection or fewer",
                "  - more than one wakeup per connection");
    report_row rows[2] = {row("accept", even, 200, 64), row("epoll", even, 200, 468)};
    char *notice = capture(report_notice, &info, rows, 2);
    assert_null(strstr(notice, "woke one worker per connection"));
    assert_non_null(strstr(notice, "a busy worker takes the next connection without "
                                   "sleeping, so woken/conn can be below 1"));
    assert_non_null(strstr(notice, "or fewer (woken/conn below 1.5): accept (0.32).\n"));
    assert_non_null(strstr(notice, "a herd (1.5 or more): epoll (2.34).\n"));
    free(notice);
}

/* report_header in the shape capture() takes. */
static void header(FILE *out, const report_info *info, const report_row *rows, int n)
{
    (void)rows;
    (void)n;
    report_header(out, info);
}

/* The header says what ran: the system, then the load in words. */
static void test_header_describes_the_load(void **state)
{
    (void)state;
    report_info single = {
        .workers = 1, .connections = 200, .clients = 1, .stall_worker = -1};
    char *out = capture(header, &single, NULL, 0);
    assert_non_null(strstr(out, "system: "));
    assert_non_null(strstr(out, " CPUs online\n"));
    assert_non_null(strstr(out, "\nload: 1 worker, 200 connections, sequential ("));
    free(out);
    report_info stall = {.workers = 4,
                         .connections = 400,
                         .clients = 8,
                         .stall_worker = 0,
                         .stall_ms = 50};
    out = capture(header, &stall, NULL, 0);
    assert_non_null(strstr(out, "\nload: 4 workers, 400 connections, concurrent (8 "
                                "clients at once), worker 0 sleeps 50 ms per "
                                "connection (marked *)\n"));
    free(out);
}

static void test_csv(void **state)
{
    (void)state;
    report_info info = {
        .workers = 4, .connections = 200, .clients = 1, .stall_worker = -1};
    report_row rows[2] = {row("accept", even, 200, 204), row("epoll", even, 0, 0)};
    rows[1].skipped = 1;
    char *out = capture(report_csv, &info, rows, 2);
    assert_non_null(strstr(out, "\ncsv,accept,4,200,0,1.020,1.000,0,1.000,1.00,2000,"));
    assert_non_null(strstr(out, ",50,50,50,50\n"));
    assert_non_null(strstr(out, "\ncsv,epoll,skipped\n"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratios),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_narrow_table_fits_100_columns),
        cmocka_unit_test(test_stalled_worker_is_marked_and_named),
        cmocka_unit_test(test_notice_names_waits_behind_a_stall),
        cmocka_unit_test(test_skipped_row_says_why),
        cmocka_unit_test(test_notice_names_the_herd),
        cmocka_unit_test(test_notice_lists_every_mode_once_sequential),
        cmocka_unit_test(test_notice_lists_every_mode_once_concurrent),
        cmocka_unit_test(test_header_describes_the_load),
        cmocka_unit_test(test_csv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
