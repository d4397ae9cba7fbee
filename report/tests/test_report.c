/*
 * test_report.c: black-box tests of ./report, the program that writes the
 * page.
 *
 * Run with `make test` from report/. Each test writes chart files (.meta
 * and .tsv) into a fresh temporary folder, runs ./report on them and reads
 * the page it wrote: one <svg> per chart with data, "Not measured" for a
 * chart without, every text escaped, the computed sentence, the notes, no
 * script; and the refusals: usage (exit 2), an unknown key or a bad cell
 * (exit 1, and no page).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testkit.h"

static char dir[64];
static char page_path[128];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_report.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(page_path, sizeof page_path, "%s/page.html", dir);
    return 0;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* The whole page, or NULL if there is none (the caller frees it). */
static char *read_page(void)
{
    FILE *f = fopen(page_path, "r");
    if (f == NULL)
        return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

static int count(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(haystack, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Run ./report with up to 4 chart names (NULL-terminated); its status. */
static int run_report(const char *notes, const char *c1, const char *c2, const char *c3)
{
    char a[128], b[128], c[128], n[128];
    const char *argv[10] = {"./report", "-o", page_path};
    int i = 3;
    if (notes != NULL) {
        snprintf(n, sizeof n, "%s/%s", dir, notes);
        argv[i++] = "-n";
        argv[i++] = n;
    }
    const char *charts[] = {c1, c2, c3};
    char *bufs[] = {a, b, c};
    for (int k = 0; k < 3 && charts[k] != NULL; k++) {
        snprintf(bufs[k], 128, "%s/%s", dir, charts[k]);
        argv[i++] = bufs[k];
    }
    argv[i] = NULL;
    tk_proc *p = tk_start(argv, NULL);
    assert_non_null(p);
    int status = tk_wait_exit(p, 10000);
    assert_true(status != -1);
    tk_free(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_writes_a_chart_per_measured_file_and_notes_the_rest(void **state)
{
    (void)state;
    write_file("fork.meta",
               "title=Fork cost\nkind=line\nx=parent RSS (MiB)\ny=time (ms)\n"
               "chapter=02-fork\ncommand=./fork cost --sizes 1,64\nnotice=growth\n");
    write_file("fork.tsv", "size\tfork\tspawn\n1\t1\t2\n64\t8\t2.2\n");
    write_file("web.meta",
               "title=req/s\nkind=bar\nx=load\ny=requests per second\n"
               "chapter=06\ncommand=wrk -c 64 <url> && echo \"done\"\nnotice=ratio\n"
               "note=nginx is not installed\n");
    write_file("web.tsv", "load\tours\tnode\nkeep-alive\t1000\t250\n");
    write_file("gone.meta",
               "title=Not here\nkind=bar\nx=a\ny=b\nchapter=04\ncommand=true\n");
    write_file("notes", "wrk is not installed: 06 was not measured.\n");
    assert_int_equal(run_report("notes", "fork", "web", "gone"), 0);
    char *page = read_page();
    assert_non_null(page);
    assert_int_equal(count(page, "<svg "), 2);
    assert_int_equal(count(page, "<section>"), 3);
    assert_int_equal(count(page, "Not measured"), 1);
    assert_int_equal(count(page, "<script"), 0);
    assert_int_equal(count(page, "http://") -
                         count(page, "xmlns=\"http://www.w3.org/2000/svg\""),
                     0); /* no external URL but the SVG namespace */
    assert_non_null(
        strstr(page, "From 1 to 64 parent RSS (MiB): fork grows 8.0x, spawn 1.1x."));
    assert_non_null(strstr(page, "keep-alive: node is 0.2x ours."));
    assert_non_null(
        strstr(page, "wrk -c 64 &lt;url&gt; &amp;&amp; echo &quot;done&quot;"));
    assert_non_null(strstr(page, "nginx is not installed"));
    assert_non_null(strstr(page, "wrk is not installed: 06 was not measured."));
    assert_non_null(strstr(page, "CPUs online"));
    free(page);
}

static void test_usage_and_help(void **state)
{
    (void)state;
    const char *none[] = {"./report", NULL};
    tk_proc *p = tk_start(none, NULL);
    int status = tk_wait_exit(p, 10000);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    assert_non_null(tk_wait_output(p, "usage: report", 1000));
    tk_free(p);
    const char *help[] = {"./report", "--help", NULL};
    p = tk_start(help, NULL);
    status = tk_wait_exit(p, 10000);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tk_free(p);
}

/* Neither the page nor the half-written file beside it. */
static void assert_no_page(void)
{
    char tmp[160];
    assert_null(read_page());
    snprintf(tmp, sizeof tmp, "%s.tmp", page_path);
    assert_int_equal(access(tmp, F_OK), -1);
}

static void test_unknown_key_or_bad_cell_leaves_no_page(void **state)
{
    (void)state;
    write_file("typo.meta", "title=t\nkind=bar\nx=a\ny=b\ntitel=oops\n");
    assert_int_equal(run_report(NULL, "typo", NULL, NULL), 1);
    assert_no_page();
    write_file("cell.meta", "title=t\nkind=bar\nx=a\ny=b\n");
    write_file("cell.tsv", "load\tours\nkeep-alive\t12ms\n");
    assert_int_equal(run_report(NULL, "cell", NULL, NULL), 1);
    assert_no_page();
    write_file("kind.meta", "title=t\nkind=pie\nx=a\ny=b\n");
    assert_int_equal(run_report(NULL, "kind", NULL, NULL), 1);
    assert_no_page();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_writes_a_chart_per_measured_file_and_notes_the_rest, make_dir,
            remove_dir),
        cmocka_unit_test(test_usage_and_help),
        cmocka_unit_test_setup_teardown(test_unknown_key_or_bad_cell_leaves_no_page,
                                        make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
