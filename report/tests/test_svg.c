/*
 * test_svg.c: unit tests of the SVG writer (svg.c).
 *
 * Run with `make test` from report/. Each chart is written into a memory
 * stream (open_memstream) and the text is checked: nice ticks, escaped
 * text, one path (or bar group) and one legend entry per series, missing
 * values and empty charts drawn without a crash and still as one <svg>.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svg.h"

/* ---- helpers ------------------------------------------------------------- */

/* Draw c with draw into a string (the caller frees it); assert status. */
static char *draw_text(int (*draw)(FILE *, const struct svg_chart *),
                       const struct svg_chart *c, int want_status)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    assert_non_null(mem);
    assert_int_equal(draw(mem, c), want_status);
    assert_int_equal(fclose(mem), 0);
    return text;
}

static size_t count(const char *haystack, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(haystack, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

static const double xs[] = {1, 64, 256};
static const double ys_a[] = {1.0, 2.0, 3.0};
static const double ys_b[] = {0.5, NAN, 4.5};
static const double ys_c[] = {10.0, 20.0, 30.0};
static const char *const cats[] = {"keep-alive", "close", "<&>"};

static struct svg_chart three_series(void)
{
    struct svg_chart c = {
        .title = "T",
        .x_label = "x (MiB)",
        .y_label = "y (ms)",
        .n_points = 3,
        .x = xs,
        .labels = cats,
        .n_series = 3,
        .names = {"a", "b", "c"},
        .values = {ys_a, ys_b, ys_c},
    };
    return c;
}

/* ---- ticks --------------------------------------------------------------- */

static void test_ticks_are_nice_and_cover_the_range(void **state)
{
    (void)state;
    double t[SVG_MAX_TICKS];
    size_t n = svg_nice_ticks(0, 93, 6, t, SVG_MAX_TICKS);
    assert_true(n >= 3 && n <= 7);
    assert_true(t[0] <= 0 && t[n - 1] >= 93);
    assert_float_equal(t[1] - t[0], 20.0, 1e-9); /* 93/6 = 15.5 -> 20 */
    for (size_t i = 1; i < n; i++)
        assert_float_equal(t[i] - t[i - 1], 20.0, 1e-9);

    n = svg_nice_ticks(0.013, 0.047, 5, t, SVG_MAX_TICKS);
    assert_float_equal(t[1] - t[0], 0.01, 1e-12);
    assert_float_equal(t[0], 0.01, 1e-12);
    assert_float_equal(t[n - 1], 0.05, 1e-12);
}

static void test_ticks_of_one_value_and_of_a_reversed_range(void **state)
{
    (void)state;
    double t[SVG_MAX_TICKS];
    size_t n = svg_nice_ticks(5, 5, 6, t, SVG_MAX_TICKS);
    assert_true(n >= 2);
    assert_true(t[0] < 5 && t[n - 1] > 5);
    n = svg_nice_ticks(0, 0, 6, t, SVG_MAX_TICKS);
    assert_true(n >= 2 && t[0] <= 0 && t[n - 1] > 0);
    n = svg_nice_ticks(100, 0, 6, t, SVG_MAX_TICKS);
    assert_true(t[0] <= 0 && t[n - 1] >= 100);
    assert_int_equal(svg_nice_ticks(NAN, 1, 6, t, SVG_MAX_TICKS), 0);
}

static void test_ticks_never_pass_the_cap(void **state)
{
    (void)state;
    double t[4];
    size_t n = svg_nice_ticks(0, 1e6, 50, t, 4);
    assert_true(n >= 2 && n <= 4);
}

static void test_tick_labels_have_the_decimals_the_step_needs(void **state)
{
    (void)state;
    char buf[32];
    svg_tick_label(buf, sizeof buf, 40, 20);
    assert_string_equal(buf, "40");
    svg_tick_label(buf, sizeof buf, 0.5, 0.5);
    assert_string_equal(buf, "0.5");
    svg_tick_label(buf, sizeof buf, 0.02, 0.01);
    assert_string_equal(buf, "0.02");
    svg_tick_label(buf, sizeof buf, 1500, 500);
    assert_string_equal(buf, "1500");
}

static void test_numbers_read_plainly(void **state)
{
    (void)state;
    char buf[32];
    svg_number(buf, sizeof buf, 12345.6);
    assert_string_equal(buf, "12346");
    svg_number(buf, sizeof buf, 0.01234);
    assert_string_equal(buf, "0.0123");
    svg_number(buf, sizeof buf, 48412.0);
    assert_string_equal(buf, "48412");
    svg_number(buf, sizeof buf, 3.06);
    assert_string_equal(buf, "3.06");
}

/* ---- escaping ------------------------------------------------------------ */

static void test_escape_makes_any_text_safe(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    svg_escape(mem, "a<b & \"c\" 'd'> 你好");
    svg_escape(mem, NULL);
    fclose(mem);
    assert_string_equal(text, "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt; 你好");
    free(text);
}

static void test_labels_and_names_are_escaped_in_the_chart(void **state)
{
    (void)state;
    struct svg_chart c = three_series();
    c.title = "p99 < 5 ms & more";
    c.names[0] = "\"ours\"";
    char *svg = draw_text(svg_bar_chart, &c, 0);
    assert_non_null(strstr(svg, "p99 &lt; 5 ms &amp; more"));
    assert_non_null(strstr(svg, "&quot;ours&quot;"));
    assert_non_null(strstr(svg, "&lt;&amp;&gt;")); /* a category name */
    assert_null(strstr(svg, "<&>"));
    free(svg);
}

/* ---- charts -------------------------------------------------------------- */

static void test_line_chart_has_a_path_and_a_legend_entry_per_series(void **state)
{
    (void)state;
    struct svg_chart c = three_series();
    char *svg = draw_text(svg_line_chart, &c, 0);
    assert_int_equal(count(svg, "<svg "), 1);
    assert_int_equal(count(svg, "</svg>"), 1);
    assert_int_equal(count(svg, "class=\"series\""), 3);
    assert_int_equal(count(svg, "class=\"legend-entry\""), 3);
    assert_non_null(strstr(svg, "x (MiB)"));
    assert_non_null(strstr(svg, "y (ms)"));
    /* Eight points: series b misses one; its path starts over after it. */
    assert_int_equal(count(svg, "<circle "), 8);
    assert_int_equal(count(svg, "\"M"), 3);
    free(svg);
}

static void test_bar_chart_has_a_group_and_a_legend_entry_per_series(void **state)
{
    (void)state;
    struct svg_chart c = three_series();
    char *svg = draw_text(svg_bar_chart, &c, 0);
    assert_int_equal(count(svg, "class=\"series\""), 3);
    assert_int_equal(count(svg, "class=\"legend-entry\""), 3);
    /* 9 cells, one missing: 8 bars, plus the background and 3 swatches. */
    assert_int_equal(count(svg, "<rect "), 8 + 1 + 3);
    assert_non_null(strstr(svg, "keep-alive"));
    free(svg);
}

static void test_bar_values_have_no_exponent(void **state)
{
    (void)state;
    static const double big[] = {48412.0, 10000.0};
    static const char *const two[] = {"keep-alive", "close"};
    struct svg_chart c = {.title = "t",
                          .x_label = "x",
                          .y_label = "y",
                          .n_points = 2,
                          .labels = two,
                          .n_series = 1,
                          .names = {"ours"},
                          .values = {big}};
    char *svg = draw_text(svg_bar_chart, &c, 0);
    assert_non_null(strstr(svg, ">48412<"));
    assert_non_null(strstr(svg, ">10000<"));
    assert_null(strstr(svg, "e+0"));
    free(svg);
}

static void test_chart_fits_its_width(void **state)
{
    (void)state;
    struct svg_chart c = three_series();
    char *svg = draw_text(svg_line_chart, &c, 0);
    char want[64];
    snprintf(want, sizeof want, "width=\"%d\"", SVG_WIDTH);
    assert_non_null(strstr(svg, want));
    assert_non_null(strstr(svg, "viewBox=\"0 0 "));
    assert_true(SVG_WIDTH <= 900);
    free(svg);
}

static void test_empty_charts_say_no_data(void **state)
{
    (void)state;
    struct svg_chart c = {.title = "empty", .x_label = "x", .y_label = "y"};
    char *svg = draw_text(svg_line_chart, &c, 0);
    assert_non_null(strstr(svg, "no data"));
    assert_int_equal(count(svg, "</svg>"), 1);
    free(svg);
    svg = draw_text(svg_bar_chart, &c, 0);
    assert_non_null(strstr(svg, "no data"));
    free(svg);

    /* Series whose every value is missing: legend kept, nothing plotted. */
    static const double none[] = {NAN, NAN, NAN};
    struct svg_chart d = three_series();
    d.values[0] = d.values[1] = d.values[2] = none;
    svg = draw_text(svg_line_chart, &d, 0);
    assert_non_null(strstr(svg, "no data"));
    assert_int_equal(count(svg, "class=\"legend-entry\""), 3);
    assert_int_equal(count(svg, "<circle "), 0);
    free(svg);
}

static void test_malformed_charts_are_refused(void **state)
{
    (void)state;
    struct svg_chart c = three_series();
    c.n_series = SVG_MAX_SERIES + 1;
    char *svg = draw_text(svg_line_chart, &c, -1);
    free(svg);
    c = three_series();
    c.x = NULL;
    svg = draw_text(svg_line_chart, &c, -1);
    free(svg);
    c = three_series();
    c.labels = NULL;
    svg = draw_text(svg_bar_chart, &c, -1);
    free(svg);
}

static void test_many_categories_are_slanted(void **state)
{
    (void)state;
    static const char *const many[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    static const double v[] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct svg_chart c = {.title = "t",
                          .x_label = "x",
                          .y_label = "y",
                          .n_points = 8,
                          .labels = many,
                          .n_series = 1,
                          .names = {"v"},
                          .values = {v}};
    char *svg = draw_text(svg_bar_chart, &c, 0);
    assert_int_equal(count(svg, "rotate(-35"), 8);
    free(svg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ticks_are_nice_and_cover_the_range),
        cmocka_unit_test(test_ticks_of_one_value_and_of_a_reversed_range),
        cmocka_unit_test(test_ticks_never_pass_the_cap),
        cmocka_unit_test(test_tick_labels_have_the_decimals_the_step_needs),
        cmocka_unit_test(test_numbers_read_plainly),
        cmocka_unit_test(test_escape_makes_any_text_safe),
        cmocka_unit_test(test_labels_and_names_are_escaped_in_the_chart),
        cmocka_unit_test(test_line_chart_has_a_path_and_a_legend_entry_per_series),
        cmocka_unit_test(test_bar_chart_has_a_group_and_a_legend_entry_per_series),
        cmocka_unit_test(test_bar_values_have_no_exponent),
        cmocka_unit_test(test_chart_fits_its_width),
        cmocka_unit_test(test_empty_charts_say_no_data),
        cmocka_unit_test(test_malformed_charts_are_refused),
        cmocka_unit_test(test_many_categories_are_slanted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
