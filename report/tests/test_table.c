/*
 * test_table.c: unit tests of the TSV reader (table.c).
 *
 * Run with `make test` from report/. The input comes from fmemopen: a
 * header and rows, missing cells, a cell that is not a number, too many
 * series.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "table.h"

static struct table t;
static char why[256];

static int read_text(const char *text)
{
    FILE *in = fmemopen((void *)text, strlen(text), "r");
    assert_non_null(in);
    int status = table_read(in, &t, why, sizeof why);
    fclose(in);
    return status;
}

static void test_reads_header_rows_and_missing_cells(void **state)
{
    (void)state;
    assert_int_equal(
        read_text("size\tfork\tvfork\n1\t0.5\t-\n\n256\t9.5\t0.1\r\n64\t2\n"), 0);
    assert_string_equal(t.x_name, "size");
    assert_int_equal(t.n_series, 2);
    assert_string_equal(t.names[1], "vfork");
    assert_int_equal(t.n_rows, 3);
    assert_string_equal(t.labels[1], "256");
    assert_float_equal(t.x[1], 256, 0);
    assert_float_equal(t.values[0][1], 9.5, 0);
    assert_true(isnan(t.values[1][0]));
    assert_true(isnan(t.values[1][2])); /* a short row */
}

static void test_category_names_are_kept_as_text(void **state)
{
    (void)state;
    assert_int_equal(read_text("load\tours\tnginx\nkeep-alive\t1000\t1200\n"), 0);
    assert_string_equal(t.labels[0], "keep-alive");
    assert_true(isnan(t.x[0]));
}

static void test_refuses_bad_input(void **state)
{
    (void)state;
    assert_int_equal(read_text(""), -1);
    assert_non_null(strstr(why, "header"));
    assert_int_equal(read_text("x\ty\n1\tabc\n"), -1);
    assert_non_null(strstr(why, "abc"));
    assert_int_equal(read_text("x\ty\n1\t2.5ms\n"), -1);
    assert_int_equal(read_text("x\t1\t2\t3\t4\t5\t6\t7\t8\t9\n"), -1);
    assert_non_null(strstr(why, "series"));
}

static void test_chart_points_into_the_table(void **state)
{
    (void)state;
    assert_int_equal(read_text("x\ta\tb\n1\t2\t3\n2\t4\t6\n"), 0);
    const char *labels[TABLE_MAX_ROWS] = {t.labels[0], t.labels[1]};
    struct svg_chart c = {0};
    table_chart(&t, &c, labels);
    assert_int_equal(c.n_points, 2);
    assert_int_equal(c.n_series, 2);
    assert_string_equal(c.names[1], "b");
    assert_float_equal(c.values[1][1], 6, 0);
    assert_float_equal(c.x[1], 2, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_header_rows_and_missing_cells),
        cmocka_unit_test(test_category_names_are_kept_as_text),
        cmocka_unit_test(test_refuses_bad_input),
        cmocka_unit_test(test_chart_points_into_the_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
