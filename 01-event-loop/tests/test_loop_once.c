/*
 * test_loop_once.c: unit tests of the self-forgetting one-shot timer
 * (loop_once.h).
 *
 *   make test          (or: make && ./build/test_loop_once)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "loop_once.h"

struct owner {
    loop_once_t once;
    int calls;
    int pending_in_cb; /* once.timer seen from inside the callback */
};

static void on_fire(void *arg)
{
    struct owner *o = arg;
    o->calls++;
    o->pending_in_cb = o->once.timer != NULL;
}

static void run_for(loop_t *loop, int ms)
{
    uint64_t end = loop_now_ms() + (uint64_t)ms;
    while (loop_now_ms() < end)
        assert_int_equal(loop_run_once(loop, 10), 0);
}

/* A poll loop with o's timer started, due 10 ms from now. */
static loop_t *started(struct owner *o)
{
    loop_t *loop = loop_new(LOOP_POLL);
    assert_non_null(loop);
    *o = (struct owner){0};
    assert_int_equal(loop_once_start(loop, &o->once, 10, on_fire, o), 0);
    assert_non_null(o->once.timer);
    return loop;
}

/* It fires once, and its handle is already gone when the callback runs. */
static void test_fires_once_and_forgets(void **state)
{
    (void)state;
    struct owner o;
    loop_t *loop = started(&o);
    run_for(loop, 100);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.pending_in_cb, 0);
    assert_null(o.once.timer);
    loop_once_cancel(loop, &o.once); /* after it fired: nothing to do */
    loop_free(loop);
}

/* Cancelled while pending, it never fires; cancelling twice is safe. */
static void test_cancel(void **state)
{
    (void)state;
    struct owner o;
    loop_t *loop = started(&o);
    loop_once_cancel(loop, &o.once);
    assert_null(o.once.timer);
    loop_once_cancel(loop, &o.once);
    run_for(loop, 60);
    assert_int_equal(o.calls, 0);
    loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fires_once_and_forgets),
        cmocka_unit_test(test_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
