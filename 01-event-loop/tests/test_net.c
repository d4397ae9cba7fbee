/*
 * test_net.c: unit tests of the socket helpers in net.h that every chapter
 * reuses: writing all bytes, and the fd flags.
 *
 *   make test          (or: make && ./build/test_net)
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_all_writes_every_byte),
        cmocka_unit_test(test_send_all_to_closed_peer_is_epipe),
        cmocka_unit_test(test_set_cloexec_and_nonblock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
