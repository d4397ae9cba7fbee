/*
 * test_net.c: unit tests of the socket helpers in net.h that every chapter
 * reuses: writing all bytes, the fd flags, and the sockets and pipes made
 * with their flags (net_socket, net_socketpair, net_pipe, net_accept).
 *
 *   make test          (or: make && ./build/test_net)
 *   make fallback-test the same tests with the portable fallbacks compiled
 *                      in (FALLBACKS=1): socket() + fcntl(), pipe() + fcntl()
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

/* More than a socketpair's buffer holds, so net_send_all must make several
 * send() calls while the reader drains the other end. */
#define BIG (4 * 1024 * 1024)

struct reader {
    int fd;
    char *got;
    size_t len;
};

static void *read_all(void *arg)
{
    struct reader *r = arg;
    for (;;) {
        ssize_t n = read(r->fd, r->got + r->len, BIG - r->len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            return NULL;
        r->len += (size_t)n;
    }
}

static void test_send_all_writes_every_byte(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    char *buf = malloc(BIG);
    struct reader r = {sv[1], calloc(1, BIG), 0};
    assert_non_null(buf);
    assert_non_null(r.got);
    for (size_t i = 0; i < BIG; i++)
        buf[i] = (char)(i * 7 + i / 4096);
    pthread_t tid;
    assert_int_equal(pthread_create(&tid, NULL, read_all, &r), 0);
    assert_int_equal(net_send_all(sv[0], buf, BIG), 0);
    close(sv[0]);
    pthread_join(tid, NULL);
    assert_int_equal(r.len, BIG);
    assert_memory_equal(r.got, buf, BIG);
    close(sv[1]);
    free(buf);
    free(r.got);
}

/* A peer that hung up is an error the caller sees (EPIPE), not a SIGPIPE
 * that kills the process: this test would die with the default action. */
static void test_send_all_to_closed_peer_is_epipe(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    errno = 0;
    assert_int_equal(net_send_all(sv[0], "hello\n", 6), -1);
    assert_int_equal(errno, EPIPE);
    close(sv[0]);
}

static void test_set_cloexec_and_nonblock(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(fcntl(p[0], F_GETFD) & FD_CLOEXEC, 0);
    assert_int_equal(net_set_cloexec(p[0]), 0);
    assert_int_not_equal(fcntl(p[0], F_GETFD) & FD_CLOEXEC, 0);
    assert_int_equal(fcntl(p[1], F_GETFD) & FD_CLOEXEC, 0); /* only the fd asked */

    assert_int_equal(net_set_nonblock(p[0], 1), 0);
    assert_int_not_equal(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
    assert_int_equal(net_set_nonblock(p[0], 0), 0);
    assert_int_equal(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
    assert_int_not_equal(fcntl(p[0], F_GETFD) & FD_CLOEXEC, 0); /* left alone */

    assert_int_equal(net_set_cloexec(-1), -1);
    assert_int_equal(errno, EBADF);
    close(p[0]);
    close(p[1]);
}

/* Whether fd has FD_CLOEXEC and O_NONBLOCK set: 1 each, 0 if not. */
static int is_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    assert_int_not_equal(fl, -1);
    return (fl & FD_CLOEXEC) != 0;
}

static int is_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    assert_int_not_equal(fl, -1);
    return (fl & O_NONBLOCK) != 0;
}

static void test_socket_gets_the_flags_asked(void **state)
{
    (void)state;
    int a = net_socket(AF_INET, SOCK_STREAM, O_CLOEXEC);
    int b = net_socket(AF_INET, SOCK_STREAM, O_CLOEXEC | O_NONBLOCK);
    int c = net_socket(AF_INET, SOCK_STREAM, 0);
    assert_true(a >= 0 && b >= 0 && c >= 0);
    assert_int_equal(is_cloexec(a), 1);
    assert_int_equal(is_nonblock(a), 0);
    assert_int_equal(is_cloexec(b), 1);
    assert_int_equal(is_nonblock(b), 1);
    assert_int_equal(is_cloexec(c), 0);
    assert_int_equal(is_nonblock(c), 0);
    close(a);
    close(b);
    close(c);
}

static void test_socketpair_and_pipe_get_the_flags_on_both_ends(void **state)
{
    (void)state;
    int sv[2], p[2], q[2];
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC | O_NONBLOCK, sv), 0);
    assert_int_equal(net_pipe(p, O_CLOEXEC), 0);
    assert_int_equal(net_pipe(q, O_CLOEXEC | O_NONBLOCK), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(is_cloexec(sv[i]), 1);
        assert_int_equal(is_nonblock(sv[i]), 1);
        assert_int_equal(is_cloexec(p[i]), 1);
        assert_int_equal(is_nonblock(p[i]), 0);
        assert_int_equal(is_cloexec(q[i]), 1);
        assert_int_equal(is_nonblock(q[i]), 1);
    }
    /* A pipe still carries bytes from its write end to its read end. */
    assert_int_equal(write(p[1], "x", 1), 1);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    assert_int_equal(c, 'x');
    for (int i = 0; i < 2; i++) {
        close(sv[i]);
        close(p[i]);
        close(q[i]);
    }
}

static void test_accept_gets_the_flags_asked(void **state)
{
    (void)state;
    char why[256];
    int port;
    int lfd = net_listen("127.0.0.1", 0, 8, &port, why, sizeof why);
    assert_true(lfd >= 0);
    struct sockaddr_storage sa;
    socklen_t len;
    assert_int_equal(net_resolve("127.0.0.1", port, 0, &sa, &len, why, sizeof why), 0);
    int c1 = net_socket(AF_INET, SOCK_STREAM, O_CLOEXEC);
    int c2 = net_socket(AF_INET, SOCK_STREAM, O_CLOEXEC);
    assert_int_equal(connect(c1, (struct sockaddr *)&sa, len), 0);
    assert_int_equal(connect(c2, (struct sockaddr *)&sa, len), 0);

    int a = net_accept(lfd, O_CLOEXEC);
    int b = net_accept(lfd, O_CLOEXEC | O_NONBLOCK);
    assert_true(a >= 0 && b >= 0);
    assert_int_equal(is_cloexec(a), 1);
    assert_int_equal(is_nonblock(a), 0);
    assert_int_equal(is_cloexec(b), 1);
    assert_int_equal(is_nonblock(b), 1);
    /* Nothing more is waiting: a non-blocking listener says EAGAIN. */
    assert_int_equal(net_set_nonblock(lfd, 1), 0);
    assert_int_equal(net_accept(lfd, O_CLOEXEC), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    close(a);
    close(b);
    close(c1);
    close(c2);
    close(lfd);
}

static void test_cpu_count_is_at_least_one(void **state)
{
    (void)state;
    assert_true(net_cpu_count() >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_all_writes_every_byte),
        cmocka_unit_test(test_send_all_to_closed_peer_is_epipe),
        cmocka_unit_test(test_set_cloexec_and_nonblock),
        cmocka_unit_test(test_socket_gets_the_flags_asked),
        cmocka_unit_test(test_socketpair_and_pipe_get_the_flags_on_both_ends),
        cmocka_unit_test(test_accept_gets_the_flags_asked),
        cmocka_unit_test(test_cpu_count_is_at_least_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
