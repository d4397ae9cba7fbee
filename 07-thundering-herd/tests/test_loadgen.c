/*
 * test_loadgen.c: unit tests of the load client (loadgen.h).
 *
 * A tiny server forked by the test (blocking accept, one line, close)
 * stands in for the workers, so the client is tested on its own: every
 * connection made and answered, the pid parsed from the reply, errors
 * counted when nobody listens, percentiles by nearest rank.
 *
 *   make test        (or ./build/test_loadgen from this directory)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "loadgen.h"

/* A listening socket on 127.0.0.1 and an ephemeral port. */
static int listen_any(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd != -1);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(fd, 64), 0);
    socklen_t len = sizeof sin;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* Serve n connections the way a worker does, then exit. */
static pid_t start_server(int lfd, int n)
{
    pid_t pid = fork();
    assert_true(pid != -1);
    if (pid == 0) {
        signal(SIGPIPE, SIG_IGN);
        for (int i = 0; i < n; i++) {
            int c = accept(lfd, NULL, NULL);
            if (c == -1)
                _exit(1);
            char line[64];
            int len = snprintf(line, sizeof line, "served by worker %d\n", (int)getpid());
            if (write(c, line, (size_t)len) != len)
                _exit(1);
            close(c);
        }
        _exit(0);
    }
    return pid;
}

static void run_against_server(int clients, int total)
{
    int port;
    int lfd = listen_any(&port);
    pid_t server = start_server(lfd, total);
    close(lfd);
    lg_result *r = lg_result_new(total);
    assert_non_null(r);
    assert_int_equal(lg_run("127.0.0.1", port, clients, total, 5000, r), 0);
    assert_int_equal(r->done, total);
    assert_int_equal(r->errors, 0);
    assert_true(r->elapsed_ms > 0);
    for (int i = 0; i < r->done; i++) {
        assert_int_equal(r->sample[i].pid, server);
        assert_true(r->sample[i].latency_ms >= 0);
    }
    int status;
    assert_int_equal(waitpid(server, &status, 0), server);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    lg_result_free(r);
}

static void test_sequential(void **state)
{
    (void)state;
    run_against_server(1, 30);
}

static void test_concurrent(void **state)
{
    (void)state;
    run_against_server(8, 60);
}

/* Nobody listens: every connection is refused and counted as an error,
 * and lg_run still returns 0 (the client itself worked). */
static void test_refused_counts_errors(void **state)
{
    (void)state;
    /* A socket that is bound but not listening: the port stays ours (no
     * other program can take it meanwhile) and connections are refused. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd != -1);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    socklen_t len = sizeof sin;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    lg_result *r = lg_result_new(10);
    assert_non_null(r);
    assert_int_equal(lg_run("127.0.0.1", ntohs(sin.sin_port), 3, 10, 2000, r), 0);
    assert_int_equal(r->done, 0);
    assert_int_equal(r->errors, 10);
    lg_result_free(r);
    close(fd);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    lg_result *r = lg_result_new(5);
    assert_non_null(r);
    assert_int_equal(lg_run("not-an-address", 80, 1, 5, 1000, r), -1);
    assert_int_equal(lg_run("127.0.0.1", 80, 1, 6, 1000, r), -1); /* more than r holds */
    assert_int_equal(lg_run("127.0.0.1", 80, 0, 5, 1000, r), -1);
    lg_result_free(r);
}

static void count_calls(void *arg)
{
    (*(int *)arg)++;
}

/* The pacer runs once before every connection. */
static void test_pacer_runs_before_each_connection(void **state)
{
    (void)state;
    int port;
    int lfd = listen_any(&port);
    pid_t server = start_server(lfd, 12);
    close(lfd);
    lg_result *r = lg_result_new(12);
    assert_non_null(r);
    int calls = 0;
    assert_int_equal(lg_run_paced("127.0.0.1", port, 1, 12, 5000, r, count_calls, &calls),
                     0);
    assert_int_equal(r->done, 12);
    assert_int_equal(calls, 12);
    waitpid(server, NULL, 0);
    lg_result_free(r);
}

static void test_parse_reply(void **state)
{
    (void)state;
    assert_int_equal(lg_parse_reply("served by worker 4213"), 4213);
    assert_int_equal(lg_parse_reply("served by worker "), -1);
    assert_int_equal(lg_parse_reply("hello"), -1);
    assert_int_equal(lg_parse_reply("served by worker -5"), -1);
}

static void test_percentile_nearest_rank(void **state)
{
    (void)state;
    lg_result *r = lg_result_new(100);
    assert_non_null(r);
    assert_float_equal(lg_percentile(r, 50), 0.0, 1e-9); /* no samples */
    /* 1..100 in reverse order: the percentile sorts. */
    for (int i = 0; i < 100; i++)
        r->sample[i].latency_ms = 100 - i;
    r->done = 100;
    assert_float_equal(lg_percentile(r, 50), 50.0, 1e-9);
    assert_float_equal(lg_percentile(r, 99), 99.0, 1e-9);
    assert_float_equal(lg_percentile(r, 100), 100.0, 1e-9);
    r->done = 3; /* 100, 99, 98 */
    assert_float_equal(lg_percentile(r, 50), 99.0, 1e-9);
    assert_float_equal(lg_percentile(r, 99), 100.0, 1e-9);
    lg_result_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequential),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_refused_counts_errors),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_pacer_runs_before_each_connection),
        cmocka_unit_test(test_parse_reply),
        cmocka_unit_test(test_percentile_nearest_rank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
