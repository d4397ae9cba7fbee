/*
 * test_linebuf.c: unit tests of the line framer (linebuf.h).
 *
 *   make test          (or: make && ./build/test_linebuf)
 *
 * TCP splits and joins writes as it likes, so the cases here are the ones
 * a server meets: a line in pieces, several lines in one read, "\r\n", an
 * empty line, and the limit, both exactly at it and one byte past it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "linebuf.h"

static void expect_line(linebuf_t *lb, const char *want)
{
    const char *line;
    size_t len;
    assert_int_equal(linebuf_next(lb, &line, &len), 1);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(line, want, len);
}

static void expect_none(linebuf_t *lb)
{
    const char *line;
    size_t len;
    assert_int_equal(linebuf_next(lb, &line, &len), 0);
}

static void test_pieces_and_batches(void **state)
{
    (void)state;
    linebuf_t lb;
    linebuf_init(&lb, 100);
    expect_none(&lb);
    assert_int_equal(linebuf_append(&lb, "hel", 3), 0);
    expect_none(&lb);
    assert_int_equal(linebuf_append(&lb, "lo\nwor", 6), 0);
    expect_line(&lb, "hello");
    expect_none(&lb);
    assert_int_equal(linebuf_pending(&lb), 3);
    assert_int_equal(linebuf_append(&lb, "ld\r\n\nthree\n", 11), 0);
    expect_line(&lb, "world"); /* the \r went with the \n */
    expect_line(&lb, "");
    expect_line(&lb, "three");
    expect_none(&lb);
    assert_int_equal(linebuf_pending(&lb), 0);
    linebuf_free(&lb);
}

/* An idle buffer owns no memory: that is what makes idle connections cheap. */
static void test_empty_buffer_is_freed(void **state)
{
    (void)state;
    linebuf_t lb;
    linebuf_init(&lb, 100);
    assert_null(lb.buf);
    assert_int_equal(linebuf_append(&lb, "x\n", 2), 0);
    assert_non_null(lb.buf);
    expect_line(&lb, "x");
    expect_none(&lb);
    assert_null(lb.buf);
    linebuf_free(&lb);
}

/* A buffer that never held a byte (or gave its memory back) has buf ==
 * NULL. Asking it for a line must not compute NULL + 0, which is undefined
 * behaviour in C: clang's UBSan (make CC=clang check) aborts on it. */
static void test_next_on_buffer_without_memory(void **state)
{
    (void)state;
    linebuf_t lb;
    linebuf_init(&lb, 100);
    expect_none(&lb);
    expect_none(&lb);
    assert_null(lb.buf);
    assert_int_equal(linebuf_pending(&lb), 0);
    assert_int_equal(linebuf_append(&lb, "", 0), 0); /* an empty read adds nothing */
    expect_none(&lb);
    assert_null(lb.buf);
    linebuf_free(&lb);
}

static void test_limit(void **state)
{
    (void)state;
    enum { MAX = 10 };
    linebuf_t lb;
    linebuf_init(&lb, MAX);
    /* Exactly MAX bytes is a line; with \r\n too. */
    assert_int_equal(linebuf_append(&lb, "0123456789\n", 11), 0);
    expect_line(&lb, "0123456789");
    assert_int_equal(linebuf_append(&lb, "0123456789\r", 11), 0);
    expect_none(&lb); /* the \r may be the start of \r\n: wait */
    assert_int_equal(linebuf_append(&lb, "\n", 1), 0);
    expect_line(&lb, "0123456789");
    /* MAX + 1 bytes without a newline is refused at once. */
    assert_int_equal(linebuf_append(&lb, "0123456789A", 11), 0);
    const char *line;
    size_t len;
    assert_int_equal(linebuf_next(&lb, &line, &len), -1);
    linebuf_free(&lb);

    /* Also when the overlong line arrives with its newline in one piece. */
    linebuf_init(&lb, MAX);
    assert_int_equal(linebuf_append(&lb, "ok\n0123456789AB\n", 16), 0);
    expect_line(&lb, "ok");
    assert_int_equal(linebuf_next(&lb, &line, &len), -1);
    linebuf_free(&lb);
}

/* The protocol's real limit, fed in small reads as TCP would. */
static void test_64k(void **state)
{
    (void)state;
    linebuf_t lb;
    linebuf_init(&lb, LINEBUF_MAX);
    char *big = malloc(LINEBUF_MAX + 2);
    assert_non_null(big);
    memset(big, 'a', LINEBUF_MAX + 1);
    big[LINEBUF_MAX] = '\n';
    for (size_t off = 0; off < LINEBUF_MAX + 1; off += 1000) {
        size_t n = LINEBUF_MAX + 1 - off < 1000 ? LINEBUF_MAX + 1 - off : 1000;
        assert_int_equal(linebuf_append(&lb, big + off, n), 0);
        if (off + n < LINEBUF_MAX + 1)
            expect_none(&lb);
    }
    const char *line;
    size_t len;
    assert_int_equal(linebuf_next(&lb, &line, &len), 1);
    assert_int_equal(len, LINEBUF_MAX);
    big[LINEBUF_MAX] = 'a';
    assert_int_equal(linebuf_append(&lb, big, LINEBUF_MAX + 1), 0);
    assert_int_equal(linebuf_next(&lb, &line, &len), -1);
    free(big);
    linebuf_free(&lb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pieces_and_batches),
        cmocka_unit_test(test_empty_buffer_is_freed),
        cmocka_unit_test(test_next_on_buffer_without_memory),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_64k),
    };
    return cmocka_run_group_tests_name("linebuf", tests, NULL, NULL);
}
