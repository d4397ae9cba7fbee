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
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fcntl.h>

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
        assert_non_null(m->teardown);
        /* Either the driver forks the workers and they wait the mode's
         * way, or the server is another program that setup starts and
         * server_stop stops (node-rr, node-none). */
        if (m->server_stop == NULL) {
            assert_non_null(m->worker_init);
            assert_non_null(m->worker_wait);
        } else {
            assert_null(m->worker_wait);
        }
    }
    assert_int_equal(n, 13);
    assert_null(herd_mode_find("fastest"));
    /* The master-accepts mode that frees a worker when it has *served* its
     * connection was once called "round-robin" and credited to Node; Node
     * frees a worker when it has *acknowledged* it (rr-on-ack). Only a mode
     * named after Node may say it is Node's. */
    assert_null(herd_mode_find("round-robin"));
    assert_non_null(herd_mode_find("rr-when-served"));
    assert_non_null(herd_mode_find("rr-on-ack"));
    for (int i = 0; herd_modes[i] != NULL; i++)
        if (strstr(herd_modes[i]->how, "Node") != NULL)
            assert_true(strstr(herd_modes[i]->name, "node") != NULL ||
                        strcmp(herd_modes[i]->name, "rr-on-ack") == 0);
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
    herd_config cfg = {
        .host = "127.0.0.1",
        .workers = WORKERS,
        .stall_worker = -1,
        .connections = CONNS,
        .clients = clients,
        .timeout_ms = 10000,
        .node = getenv("NODE") != NULL ? getenv("NODE") : "node",
        .node_script = "node/cluster.js",
    };
    const char *missing = herd_mode_missing(m, &cfg);
    if (missing != NULL) {
        print_message("%s: skipped, %s\n", name, missing);
        skip();
    }
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
    /* At least one wakeup per accept, and every wakeup accounted for.
     * (Node's workers cannot tell: libuv swallows their wakeups.) */
    unsigned long wakeups = counters_sum(count, offsetof(counter_slot, wakeups));
    unsigned long eagain = counters_sum(count, offsetof(counter_slot, eagain));
    if (m->server_stop == NULL) {
        assert_true(wakeups >= CONNS);
        assert_true(wakeups <= CONNS + eagain);
    }
    /* Everything reaped and closed; no worker left running, not even
     * Node's, which are the node primary's children, not ours. */
    for (int w = 0; w < WORKERS; w++)
        assert_false(tk_alive(atomic_load(&count->slot[w].pid)));
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
MODE_TEST(test_rr_when_served, "rr-when-served")
MODE_TEST(test_rr_on_ack, "rr-on-ack")
MODE_TEST(test_node_rr, "node-rr")
MODE_TEST(test_node_none, "node-none")

/* A setup that fails part-way must not leave what it already opened in the
 * master: `--mode all` runs every mode in this one process, so a leak here
 * would carry into the next modes. The fd limit is set so that setup gets
 * exactly `room` more fds: reuseport's third socket, or fcntl-lock's lock
 * file after its listener, fails with EMFILE. */
static void fail_setup_after(const char *name, int room)
{
    const herd_mode *m = herd_mode_find(name);
    assert_non_null(m);
    if (!m->available) {
        print_message("%s: skipped, not available here\n", name);
        return;
    }
    herd_config cfg = {
        .host = "127.0.0.1",
        .workers = WORKERS,
        .stall_worker = -1,
        .connections = CONNS,
        .clients = 1,
        .timeout_ms = 10000,
    };
    counters *count = counters_new(WORKERS);
    lg_result *res = lg_result_new(CONNS);
    assert_non_null(count);
    assert_non_null(res);
    int fds_before = tk_count_fds(getpid());

    /* Fill every hole below the highest open fd, so that the next fds are
     * numbered right after the last filler. */
    int hi = -1;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            hi = fd;
    int fillers[4096], nfill = 0, last;
    do {
        last = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(last != -1 && nfill < 4096);
        fillers[nfill++] = last;
    } while (last < hi);
    struct rlimit saved, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    low = saved;
    low.rlim_cur = (rlim_t)(last + 1 + room);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);

    int status = herd_run(m, &cfg, count, res);

    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    for (int i = 0; i < nfill; i++)
        close(fillers[i]);
    assert_int_equal(status, -1);
    assert_int_equal(tk_count_children(getpid()), 0);
    assert_int_equal(tk_count_fds(getpid()), fds_before);
    lg_result_free(res);
    counters_free(count);
}

static void test_failed_setup_leaks_nothing(void **state)
{
    (void)state;
#ifdef __linux__
    fail_setup_after("reuseport", 2);  /* the third socket fails */
    fail_setup_after("fcntl-lock", 1); /* mkstemp fails after the listener */
#else
    print_message("skipped: counts the open fds in /proc/self/fd (Linux-only)\n");
    skip();
#endif
}

/* Without node the Node rows are skipped, and say why; the C modes run. */
static void test_node_modes_without_node(void **state)
{
    (void)state;
    herd_config cfg = {.node = "/nonexistent/node", .node_script = "node/cluster.js"};
    const char *why = herd_mode_missing(herd_mode_find("node-rr"), &cfg);
    assert_non_null(why);
    assert_non_null(strstr(why, "/nonexistent/node"));
    assert_non_null(herd_mode_missing(herd_mode_find("node-none"), &cfg));
    assert_null(herd_mode_missing(herd_mode_find("accept"), &cfg));
    cfg.node = "no-such-node-program";
    assert_non_null(herd_mode_missing(herd_mode_find("node-rr"), &cfg));
}

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
        cmocka_unit_test(test_rr_when_served),
        cmocka_unit_test(test_rr_on_ack),
        cmocka_unit_test(test_node_rr),
        cmocka_unit_test(test_node_none),
        cmocka_unit_test(test_node_modes_without_node),
        cmocka_unit_test(test_failed_setup_leaks_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
