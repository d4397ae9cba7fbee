/*
 * test_fdpass.c: unit tests of the fdpass module, over a real socketpair.
 *
 * Each test sends descriptors the way the kernel really delivers them and
 * checks what the reader is promised in fdpass.h: the receiver gets a new
 * number for the same open file, several fds keep their order, an fd nobody
 * asked for is closed, MSG_CTRUNC closes the partial set, and the bytes of
 * the stream are never lost because of an fd problem. "No leak" is checked
 * by counting this process's open descriptors before and after.
 *
 *   make test        (or: build/test_fdpass)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "fdpass.h"
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Open descriptors of this process, counted with fcntl so it works without
 * /proc. The tests never open more than a few dozen. */
static int count_open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

static void make_pair(int sv[2])
{
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
}

/* Two fds name the same open file when device and inode agree. */
static int same_file(int a, int b)
{
    struct stat sa, sb;
    if (fstat(a, &sa) == -1 || fstat(b, &sb) == -1)
        return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* An fdpass_parse visitor: seen[0] counts, seen[1..] are the fds. */
static void collect(int fd, void *arg)
{
    int *seen = arg;
    seen[1 + seen[0]++] = fd;
}

/* Send n fds with raw sendmsg, bypassing fdpass_send_fds's limit, so a test
 * can send more than the receiver has room for. */
static void raw_send_fds(int sock, const char *data, const int *fds, size_t n)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * 64)];
    } control;
    assert_true(n <= 64);
    memset(&control, 0, sizeof control);
    struct iovec iov = {.iov_base = (void *)data, .iov_len = strlen(data)};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    assert_int_equal(sendmsg(sock, &msg, 0), (ssize_t)strlen(data));
}

/* The basic promise: a new number in the receiver, the same open file, and
 * it works: what we write into the received pipe end comes out of the
 * original read end. */
static void test_one_fd_is_a_dup(void **state)
{
    (void)state;
    int sv[2], p[2];
    make_pair(sv);
    assert_int_equal(pipe(p), 0);
    /* Occupy a few numbers so the receiver's new fd cannot coincide. */
    int filler = dup(p[0]);
    assert_int_equal(fdpass_send(sv[0], "x", 1, p[1]), 1);

    char buf[16];
    fdpass_in_t in;
    assert_int_equal(fdpass_recv(sv[1], buf, sizeof buf, 1, &in), 1);
    assert_int_equal(buf[0], 'x');
    assert_int_equal(in.status, FDPASS_OK);
    assert_int_equal(in.nfds, 1);
    int got = in.fds[0];
    assert_int_not_equal(got, p[1]);
    assert_true(same_file(got, p[1]));
    assert_true(fcntl(got, F_GETFD) & FD_CLOEXEC);

    /* Close the sender's copy: the open file lives on through ours. */
    close(p[1]);
    assert_int_equal(write(got, "hi", 2), 2);
    assert_int_equal(read(p[0], buf, sizeof buf), 2);
    assert_memory_equal(buf, "hi", 2);

    close(got);
    close(filler);
    close(p[0]);
    close(sv[0]);
    close(sv[1]);
}

static void test_several_fds_keep_their_order(void **state)
{
    (void)state;
    int sv[2], a[2], b[2], c[2];
    make_pair(sv);
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    assert_int_equal(pipe(c), 0);
    int fds[3] = {c[0], a[0], b[0]};
    assert_int_equal(fdpass_send_fds(sv[0], "three", 5, fds, 3), 5);

    char buf[16];
    fdpass_in_t in;
    assert_int_equal(fdpass_recv(sv[1], buf, sizeof buf, 3, &in), 5);
    assert_int_equal(in.status, FDPASS_OK);
    assert_int_equal(in.nfds, 3);
    assert_true(same_file(in.fds[0], c[0]));
    assert_true(same_file(in.fds[1], a[0]));
    assert_true(same_file(in.fds[2], b[0]));
    fdpass_close_all(&in);
    int pipes[] = {a[0], a[1], b[0], b[1], c[0], c[1], sv[0], sv[1]};
    for (size_t i = 0; i < sizeof pipes / sizeof pipes[0]; i++)
        close(pipes[i]);
}

/* An fd the receiver did not ask for is closed, never left open; the bytes
 * that carried it are still delivered. */
static void test_unexpected_fd_is_closed(void **state)
{
    (void)state;
    int sv[2], p[2];
    make_pair(sv);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(fdpass_send(sv[0], "hello\n", 6, p[0]), 6);
    int before = count_open_fds();

    char buf[16];
    fdpass_in_t in;
    assert_int_equal(fdpass_recv(sv[1], buf, sizeof buf, 0, &in), 6);
    assert_memory_equal(buf, "hello\n", 6);
    assert_int_equal(in.status, FDPASS_UNEXPECTED);
    assert_int_equal(in.nfds, 0);
    assert_int_equal(in.nclosed, 1);
    assert_int_equal(count_open_fds(), before);

    /* Proof that it was our reference that went, not the sender's: the
     * pipe still has its read end open, so a write succeeds. */
    assert_int_equal(write(p[1], "y", 1), 1);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

/* More than wanted: the first `want` are kept, the rest closed. */
static void test_extra_fds_are_closed(void **state)
{
    (void)state;
    int sv[2], p[2];
    make_pair(sv);
    assert_int_equal(pipe(p), 0);
    int fds[3] = {p[0], p[1], p[0]};
    assert_int_equal(fdpass_send_fds(sv[0], "m", 1, fds, 3), 1);
    int before = count_open_fds();

    char buf[4];
    fdpass_in_t in;
    assert_int_equal(fdpass_recv(sv[1], buf, sizeof buf, 1, &in), 1);
    assert_int_equal(in.status, FDPASS_UNEXPECTED);
    assert_int_equal(in.nfds, 1);
    assert_int_equal(in.nclosed, 2);
    assert_true(same_file(in.fds[0], p[0]));
    assert_int_equal(count_open_fds(), before + 1);
    fdpass_close_all(&in);
    assert_int_equal(count_open_fds(), before);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

/* MSG_CTRUNC, produced the honest way: offer the kernel a control buffer
 * with room for one fd while three are on their way. CMSG_SPACE rounds up
 * to the alignment of the headers, so on 64-bit Linux the "one fd" buffer
 * actually holds two: the kernel installs the ones that fit, drops the rest
 * and sets MSG_CTRUNC; fdpass_take() must close the ones that arrived. */
static void test_ctrunc_small_control_buffer(void **state)
{
    (void)state;
    int sv[2], p[2];
    make_pair(sv);
    assert_int_equal(pipe(p), 0);
    int fds[3] = {p[0], p[1], p[0]};
    raw_send_fds(sv[0], "abc", fds, 3);
    int before = count_open_fds();

    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    char buf[8];
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof buf};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    assert_int_equal(recvmsg(sv[1], &msg, MSG_CMSG_CLOEXEC), 3);
    assert_true(msg.msg_flags & MSG_CTRUNC);
    /* The kernel did install some (not all) of them in this process... */
    int seen[8] = {0};
    int arrived = fdpass_parse(control.buf, msg.msg_controllen, collect, seen);
    assert_true(arrived >= 1 && arrived < 3);
    assert_int_equal(count_open_fds(), before + arrived);
    for (int i = 0; i < arrived; i++)
        assert_true(is_open(seen[1 + i]));

    fdpass_in_t in;
    fdpass_take(control.buf, msg.msg_controllen, msg.msg_flags, 3, &in);
    assert_int_equal(in.status, FDPASS_TRUNCATED);
    assert_int_equal(in.nfds, 0);
    assert_int_equal(in.nclosed, (size_t)arrived);
    /* ...and fdpass_take() closed every one of them. */
    for (int i = 0; i < arrived; i++)
        assert_false(is_open(seen[1 + i]));
    assert_int_equal(count_open_fds(), before);
    assert_memory_equal(buf, "abc", 3);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

/* The same through fdpass_recv(): a sender that sends more fds than
 * FDPASS_MAX_FDS overflows its control buffer. */
static void test_ctrunc_too_many_fds(void **state)
{
    (void)state;
    int sv[2], p[2];
    make_pair(sv);
    assert_int_equal(pipe(p), 0);
    int fds[FDPASS_MAX_FDS + 4];
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        fds[i] = p[i % 2];
    raw_send_fds(sv[0], "many", fds, sizeof fds / sizeof fds[0]);
    int before = count_open_fds();

    char buf[8];
    fdpass_in_t in;
    assert_int_equal(fdpass_recv(sv[1], buf, sizeof buf, FDPASS_MAX_FDS, &in), 4);
    assert_memory_equal(buf, "many", 4);
    assert_int_equal(in.status, FDPASS_TRUNCATED);
    assert_int_equal(in.nfds, 0);
    assert_int_equal(in.nclosed, FDPASS_MAX_FDS);
    assert_int_equal(count_open_fds(), before);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

/* Two sends, each with an fd, are not merged by one recvmsg: the kernel
 * stops a stream read at a message that carries fds. Node counts on this
 * ("SCM_RIGHTS messages don't get coalesced"), and so does the handle
 * layer: each fd arrives with the start of its own envelope. */
static void test_fd_messages_do_not_coalesce(void **state)
{
    (void)state;
    int sv[2], a[2], b[2];
    make_pair(sv);
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    assert_int_equal(fdpass_send(sv[0], "first\n", 6, a[0]), 6);
    assert_int_equal(fdpass_send(sv[0], "second\n", 7, b[0]), 7);

    char buf[64];
    fdpass_in_t in;
    assert_int_equal(fdpass_recv(sv[1], buf, sizeof buf, 1, &in), 6);
    assert_memory_equal(buf, "first\n", 6);
    assert_int_equal(in.nfds, 1);
    assert_true(same_file(in.fds[0], a[0]));
    fdpass_close_all(&in);
    assert_int_equal(fdpass_recv(sv[1], buf, sizeof buf, 1, &in), 7);
    assert_memory_equal(buf, "second\n", 7);
    assert_int_equal(in.nfds, 1);
    assert_true(same_file(in.fds[0], b[0]));
    fdpass_close_all(&in);
    int all[] = {a[0], a[1], b[0], b[1], sv[0], sv[1]};
    for (size_t i = 0; i < 6; i++)
        close(all[i]);
}

/* Plain data before an fd message may share a read with it; the fd then
 * comes with the last bytes of that read. */
static void test_plain_bytes_then_fd(void **state)
{
    (void)state;
    int sv[2], p[2];
    make_pair(sv);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(fdpass_send(sv[0], "plain\n", 6, -1), 6);
    assert_int_equal(fdpass_send(sv[0], "withfd\n", 7, p[0]), 7);
    char buf[64];
    fdpass_in_t in;
    ssize_t n = fdpass_recv(sv[1], buf, sizeof buf, 1, &in);
    /* Linux returns both in one read; other kernels may stop earlier. */
    assert_true(n == 6 || n == 13);
    if (n == 6) {
        assert_int_equal(in.nfds, 0);
        assert_int_equal(fdpass_recv(sv[1], buf + 6, sizeof buf - 6, 1, &in), 7);
    }
    assert_memory_equal(buf, "plain\nwithfd\n", 13);
    assert_int_equal(in.nfds, 1);
    fdpass_close_all(&in);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

static void test_send_needs_a_byte(void **state)
{
    (void)state;
    int sv[2], p[2];
    make_pair(sv);
    assert_int_equal(pipe(p), 0);
    errno = 0;
    assert_int_equal(fdpass_send(sv[0], "", 0, p[0]), -1);
    assert_int_equal(errno, EINVAL);
    int many[FDPASS_MAX_FDS + 1] = {0};
    errno = 0;
    assert_int_equal(fdpass_send_fds(sv[0], "x", 1, many, FDPASS_MAX_FDS + 1), -1);
    assert_int_equal(errno, EINVAL);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

static void test_eof_and_errors(void **state)
{
    (void)state;
    int sv[2];
    make_pair(sv);
    close(sv[0]);
    char buf[8];
    fdpass_in_t in;
    assert_int_equal(fdpass_recv(sv[1], buf, sizeof buf, 1, &in), 0);
    assert_int_equal(in.nfds, 0);
    assert_int_equal(in.status, FDPASS_OK);
    /* Sending to a closed peer is EPIPE, not a SIGPIPE that kills us. */
    errno = 0;
    assert_int_equal(fdpass_send(sv[1], "x", 1, -1), -1);
    assert_int_equal(errno, EPIPE);
    close(sv[1]);

    make_pair(sv);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    errno = 0;
    assert_int_equal(fdpass_recv(sv[1], buf, sizeof buf, 1, &in), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(in.nfds, 0);
    close(sv[0]);
    close(sv[1]);
}

/* fdpass_parse on hand-made control data: lengths that lie are refused,
 * headers of other types are skipped, several SCM_RIGHTS headers are all
 * visited. */

static size_t put_header(unsigned char *at, int level, int type, const int *fds, size_t n)
{
    struct cmsghdr h;
    memset(&h, 0, sizeof h);
    h.cmsg_level = level;
    h.cmsg_type = type;
    h.cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(at, &h, sizeof h);
    memcpy(at + CMSG_LEN(0), fds, sizeof(int) * n);
    return CMSG_SPACE(sizeof(int) * n);
}

static void test_parse(void **state)
{
    (void)state;
    union {
        struct cmsghdr align;
        unsigned char buf[512];
    } c;
    memset(&c, 0, sizeof c);
    int seen[32];
    int a[2] = {7, 8}, b[1] = {9}, other[3] = {1, 2, 3};

    size_t len = put_header(c.buf, SOL_SOCKET, SCM_RIGHTS, a, 2);
    len += put_header(c.buf + len, SOL_SOCKET, 99, other, 3);
    len += put_header(c.buf + len, SOL_SOCKET, SCM_RIGHTS, b, 1);
    seen[0] = 0;
    assert_int_equal(fdpass_parse(c.buf, len, collect, seen), 3);
    assert_int_equal(seen[1], 7);
    assert_int_equal(seen[2], 8);
    assert_int_equal(seen[3], 9);

    /* Empty or too short to hold a header: nothing. */
    seen[0] = 0;
    assert_int_equal(fdpass_parse(c.buf, 0, collect, seen), 0);
    assert_int_equal(fdpass_parse(c.buf, sizeof(struct cmsghdr) - 1, collect, seen), 0);

    /* A header claiming more bytes than there are. */
    struct cmsghdr h;
    memcpy(&h, c.buf, sizeof h);
    h.cmsg_len = 4096;
    memcpy(c.buf, &h, sizeof h);
    seen[0] = 0;
    assert_int_equal(fdpass_parse(c.buf, len, collect, seen), -1);
    assert_int_equal(seen[0], 0);

    /* A header claiming less than its own size. */
    h.cmsg_len = 1;
    memcpy(c.buf, &h, sizeof h);
    assert_int_equal(fdpass_parse(c.buf, len, collect, seen), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_fd_is_a_dup),
        cmocka_unit_test(test_several_fds_keep_their_order),
        cmocka_unit_test(test_unexpected_fd_is_closed),
        cmocka_unit_test(test_extra_fds_are_closed),
        cmocka_unit_test(test_ctrunc_small_control_buffer),
        cmocka_unit_test(test_ctrunc_too_many_fds),
        cmocka_unit_test(test_fd_messages_do_not_coalesce),
        cmocka_unit_test(test_plain_bytes_then_fd),
        cmocka_unit_test(test_send_needs_a_byte),
        cmocka_unit_test(test_eof_and_errors),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
