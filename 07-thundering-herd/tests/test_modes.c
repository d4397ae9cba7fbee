/*
 * test_modes.c: every strategy through the driver, in this process.
 *
 * For each mode, herd_run() forks 3 workers and a client, serves 30
 * connections and tears everything down. Whatever the strategy, the
 * bookkeeping must add up: every connection answered by one of *our*
 * workers, as many accepts as connections, no child left behind, no fd
 * left open. The herd figures themselves are the black-box test's job
 * (test_thundering_herd.c).
 *
 *   make test        (or ./build/test_modes from this directory)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "herd.h"
#include "testkit.h"

enum { WORKERS = 3, CONNS = 30 };

static void test_every_mode_has_the_interface(void **state)
{
    (void)state;
    int n = 0;
    for (int i = 0; herd_modes[i] != NULL; i++, n++) {
        const herd_mode *m = herd_modes[i];
        assert_non_null(m->name);
        assert_non_null(m->how);
        assert_ptr_equal(herd_mode_find(m->name), m);
        if (!m->available)
            continue;
        assert_non_null(m->setup);
        assert_non_null(m->worker_init);
        assert_non_null(m->worker_wait);
        assert_non_null(m->teardown);
    }
    assert_int_equal(n, 10);
    assert_null(herd_mode_find("fastest"));
    /* The fcntl() lock around accept() was once called "accept-mutex" and
     * credited to nginx; nginx's accept_mutex is a try-lock (nginx-mutex).
     * Only a mode named after nginx may say it works as nginx does. */
    assert_null(herd_mode_find("accept-mutex"));
    for (int i = 0; herd_modes[i] != NULL; i++)
        if (strstr(herd_modes[i]->how, "nginx") != NULL)
            assert_non_null(strstr(herd_modes[i]->name, "nginx"));
#ifdef __linux__
    assert_true(herd_mode_find("epoll")->available);
    assert_true(herd_mode_find("reuseport")->available);
    assert_true(herd_mode_find("pthread-mutex")->available);
#endif
    assert_true(herd_mode_find("nginx-mutex")->available); /* poll() elsewhere */
}

static void run_mode(const char *name, int clients)
{
    const herd_mode *m = herd_mode_find(name);
    assert_non_null(m);
    if (!m->available)
        skip();
    herd_config cfg = {
        .host = "127.0.0.1",
        .workers = WORKERS,
        .stall_worker = -1,
        .connections = CONNS,
        .clients = clients,
        .timeout_ms = 10000,
    };
    counters *count = counters_new(WORKERS);
    lg_result *res = lg_result_new(CONNS);
    assert_non_null(count);
    assert_non_null(res);
    int fds_before = tk_count_fds(getpid());

    assert_int_equal(herd_run(m, &cfg, count, res), 0);

    assert_int_equal(res->done, CONNS);
    assert_int_equal(res->errors, 0);
    assert_int_equal(counters_sum(count, offsetof(counter_slot, served)), CONNS);
    assert_int_equal(counters_sum(count, offsetof(counter_slot, accepts)), CONNS);
    /* Every reply names one of this run's workers. */
    for (int i = 0; i < res->done; i++) {
        int found = 0;
        for (int w = 0; w < WORKERS; w++)
            found |= res->sample[i].pid == atomic_load(&count->slot[w].pid);
        assert_true(found);
    }
    /* At least one wakeup per accept, and every wakeup accounted for. */
    unsigned long wakeups = counters_sum(count, offsetof(counter_slot, wakeups));
    unsigned long eagain = counters_sum(count, offsetof(counter_slot, eagain));
    assert_true(wakeups >= CONNS);
    assert_true(wakeups <= CONNS + eagain);
    /* Everything reaped and closed. */
    assert_int_equal(tk_count_children(getpid()), 0);
    assert_int_equal(tk_count_zombies(getpid()), 0);
    assert_int_equal(tk_count_fds(getpid()), fds_before);
    lg_result_free(res);
    counters_free(count);
}

#define MODE_TEST(fn, name)                                                              \
    static void fn(void **state)                                                         \
    {                                                                                    \
        (void)state;                                                                     \
        run_mode(name, 1);                                                               \
        run_mode(name, 6);                                                               \
    }
MODE_TEST(test_accept, "accept")
MODE_TEST(test_select, "select")
MODE_TEST(test_poll, "poll")
MODE_TEST(test_epoll, "epoll")
MODE_TEST(test_epoll_exclusive, "epoll-exclusive")
MODE_TEST(test_reuseport, "reuseport")
MODE_TEST(test_fcntl_lock, "fcntl-lock")
MODE_TEST(test_pthread_mutex, "pthread-mutex")
MODE_TEST(test_nginx_mutex, "nginx-mutex")
MODE_TEST(test_round_robin, "round-robin")

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_mode_has_the_interface),
        cmocka_unit_test(test_accept),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_poll),
        cmocka_unit_test(test_epoll),
        cmocka_unit_test(test_epoll_exclusive),
        cmocka_unit_test(test_reuseport),
        cmocka_unit_test(test_fcntl_lock),
        cmocka_unit_test(test_pthread_mutex),
        cmocka_unit_test(test_nginx_mutex),
        cmocka_unit_test(test_round_robin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
