/*
 * test_notice.c: unit tests of the computed sentences (notice.c).
 *
 * Run with `make test` from report/. Each rule is given a small table and
 * its sentence is compared word for word: the figures in it must be the
 * ones the data gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notice.h"

static struct table t;
static char text_out[2048];

static void load(const char *tsv)
{
    char why[256];
    FILE *in = fmemopen((void *)tsv, strlen(tsv), "r");
    assert_non_null(in);
    assert_int_equal(table_read(in, &t, why, sizeof why), 0);
    fclose(in);
}

static int say(const char *rules, const char *x_label)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    int status = notice_write(mem, rules, &t, x_label);
    fclose(mem);
    snprintf(text_out, sizeof text_out, "%s", text);
    free(text);
    return status;
}

static void test_growth_from_first_to_last_x(void **state)
{
    (void)state;
    load("size\tfork\tvfork\tspawn\n1\t1\t0.2\t2\n64\t10\t0.2\t2.2\n1024\t40\t-\t2.4\n");
    assert_int_equal(say("growth", "MiB"), 0);
    assert_string_equal(text_out,
                        "From 1 to 1024 MiB: fork grows 40x, vfork 1.0x (from 1 to 64), "
                        "spawn 1.2x. fork grows the most, vfork the least. ");
}

static void test_ratio_per_category_and_at_the_last_x(void **state)
{
    (void)state;
    load("load\tours\tnginx\tnode\nkeep-alive\t1000\t1500\t400\nclose\t500\t-\t50\n");
    assert_int_equal(say("ratio", ""), 0);
    assert_string_equal(text_out, "keep-alive: nginx is 1.5x ours, node is 0.4x ours. "
                                  "close: node is 0.1x ours. ");
    load("conns\tloop\tthreads\n50\t2\t3\n500\t2\t20\n");
    assert_int_equal(say("ratio-last", "connections"), 0);
    assert_string_equal(text_out, "At 500 connections: threads is 10x loop. ");
}

static void test_extremes_and_range(void **state)
{
    (void)state;
    load("mode\twoken/conn\naccept\t1.06\nselect\t3.06\nnode-rr\t1\n");
    assert_int_equal(say("extremes", ""), 0);
    assert_string_equal(text_out,
                        "woken/conn: highest select (3.06), lowest node-rr (1). ");
    load("runs\tlargest\tsmallest\n1\t30\t10\n2\t45\t2\n3\t25\t12\n");
    assert_int_equal(say("range", ""), 0);
    assert_string_equal(text_out, "largest ranges from 25 to 45 over 3 runs. "
                                  "smallest ranges from 2 to 12 over 3 runs. ");
}

static void test_too_little_data_says_nothing(void **state)
{
    (void)state;
    load("x\ta\tb\n1\t2\t-\n");
    assert_int_equal(say("growth,extremes,range", "x"), 0);
    assert_string_equal(text_out, "");
    load("x\ta\tb\n1\t0\t5\n");
    assert_int_equal(say("ratio", ""), 0); /* no ratio to a zero */
    assert_string_equal(text_out, "");
}

static void test_unknown_rule_is_an_error(void **state)
{
    (void)state;
    load("x\ta\n1\t2\n2\t3\n");
    assert_int_equal(say("growth,sparkle", "x"), -1);
    assert_non_null(strstr(text_out, "grows"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_growth_from_first_to_last_x),
        cmocka_unit_test(test_ratio_per_category_and_at_the_last_x),
        cmocka_unit_test(test_extremes_and_range),
        cmocka_unit_test(test_too_little_data_says_nothing),
        cmocka_unit_test(test_unknown_rule_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
