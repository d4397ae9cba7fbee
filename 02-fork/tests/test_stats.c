/*
 * test_stats.c: unit tests of the median (stats.h), which 02's fork cost and
 * 03's exec cost report.
 *
 *   make test          (or: make && ./build/test_stats)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "stats.h"

static void test_median_odd_even_and_one(void **state)
{
    (void)state;
    double odd[] = {9.0, 1.0, 5.0, 100.0, 2.0}; /* one slow outlier */
    assert_true(stats_median(odd, 5) == 5.0);
    double even[] = {4.0, 1.0, 3.0, 2.0};
    assert_true(stats_median(even, 4) == 2.5);
    double one[] = {7.25};
    assert_true(stats_median(one, 1) == 7.25);
}

/* The median sorts in place: callers pass timings they no longer need in
 * their measured order. */
static void test_median_sorts_in_place(void **state)
{
    (void)state;
    double v[] = {3.0, -1.0, 2.0};
    assert_true(stats_median(v, 3) == 2.0);
    assert_true(v[0] == -1.0 && v[1] == 2.0 && v[2] == 3.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_median_odd_even_and_one),
        cmocka_unit_test(test_median_sorts_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
