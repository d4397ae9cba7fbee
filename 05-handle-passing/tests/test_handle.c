/*
 * test_handle.c: unit tests of the handle layer (handle.c) on real channels.
 *
 * Two kinds of peer:
 *   - a channel on each end of a socketpair, both driven by one loop in this
 *     process: does a handle arrive, with its message, type and ACK?
 *   - a channel on one end and a "raw" socket on the other, read and written
 *     by hand with fdpass: what exactly goes over the wire, and when? This
 *     is how the tests see that the second handle waits for the first ACK,
 *     that a NACK makes the sender try again, and that an fd nobody asked
 *     for is closed.
 *
 *   make test        (or: build/test_handle)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "fdpass.h"
#include "handle.h"
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static int count_open_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

static ino_t inode_of(int fd)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    return st.st_ino;
}

/* A listening TCP socket on 127.0.0.1, any port: a real net.Server. */
static int make_listener(void)
{
    int fd = net_socket(AF_INET, SOCK_STREAM, O_CLOEXEC);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 8), 0);
    return fd;
}

/* What one end of a test saw. */
typedef struct {
    int messages;
    char text[4][128]; /* each message, serialized */
    int fds[4];        /* the fd that came with it, or -1 */
    char types[4][32];
    char dgram_types[4][8]; /* handle_received_dgram_type(), or "" */
    int acks;
    int warnings;
    char last_warning[256];
    int disconnected;
} seen_t;

static void on_message(chan_t *ch, const json_value *msg, int fd, void *user)
{
    seen_t *s = user;
    if (s->messages < 4) {
        char *t = json_serialize(msg, NULL);
        snprintf(s->text[s->messages], sizeof s->text[0], "%s", t);
        free(t);
        s->fds[s->messages] = fd;
        const char *type = handle_received_type(ch);
        snprintf(s->types[s->messages], sizeof s->types[0], "%s", type ? type : "");
        const char *dt = handle_received_dgram_type(ch);
        snprintf(s->dgram_types[s->messages], sizeof s->dgram_types[0], "%s",
                 dt ? dt : "");
    } else if (fd != -1) {
        close(fd);
    }
    s->messages++;
}

static void on_disconnect(chan_t *ch, void *user)
{
    (void)ch;
    ((seen_t *)user)->disconnected = 1;
}

static void on_ack(chan_t *ch, void *arg)
{
    (void)ch;
    ((seen_t *)arg)->acks++;
}

static void on_warning(chan_t *ch, const char *text, void *arg)
{
    (void)ch;
    seen_t *s = arg;
    s->warnings++;
    snprintf(s->last_warning, sizeof s->last_warning, "%s", text);
}

static chan_t *open_chan(loop_t *loop, int fd, seen_t *s)
{
    chan_callbacks cb = {.on_message = on_message, .on_disconnect = on_disconnect};
    chan_t *ch = chan_open(loop, fd, &cb, s);
    assert_non_null(ch);
    handle_callbacks hcb = {.on_ack = on_ack, .on_warning = on_warning};
    assert_int_equal(handle_attach(ch, &hcb, s), 0);
    return ch;
}

/* Run the loop until *flag reaches want, for at most ~2 s. */
static void run_until(loop_t *loop, const int *flag, int want)
{
    for (int i = 0; i < 200 && *flag < want; i++)
        loop_run_once(loop, 10);
    assert_true(*flag >= want);
}

/* Run a few iterations so that zero-delay timers fire. */
static void settle(loop_t *loop)
{
    for (int i = 0; i < 5; i++)
        loop_run_once(loop, 5);
}

static json_value *str(const char *s)
{
    json_value *v = json_new_string(s);
    assert_non_null(v);
    return v;
}

/* ---- the raw end: read and write the wire by hand ---- */

/* Read one line (and any fd that came with it) from a blocking socket, at
 * most 2 s. Reads byte by byte up to '\n' so that nothing after the line is
 * consumed. Returns the fd or -1; line is NUL-terminated without '\n'. */
static int raw_read_line(int sock, char *line, size_t cap)
{
    size_t len = 0;
    int fd = -1;
    while (len + 1 < cap) {
        struct pollfd pf = {.fd = sock, .events = POLLIN};
        assert_int_equal(poll(&pf, 1, 2000), 1);
        fdpass_in_t in;
        ssize_t n = fdpass_recv(sock, line + len, 1, 1, &in);
        assert_int_equal(n, 1);
        if (in.nfds == 1) {
            assert_int_equal(fd, -1);
            fd = in.fds[0];
        }
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    return fd;
}

/* Nothing is waiting to be read on sock right now. */
static int raw_quiet(int sock)
{
    struct pollfd pf = {.fd = sock, .events = POLLIN};
    return poll(&pf, 1, 50) == 0;
}

static void raw_send(int sock, const char *text, int fd)
{
    ssize_t n = fdpass_send(sock, text, strlen(text), fd);
    assert_int_equal(n, (ssize_t)strlen(text));
}

/* ---- tests ---- */

/* The whole round trip, C to C: the receiver gets the inner message, a new
 * fd for the same listening socket, and the envelope's type; the sender's
 * ACK callback runs and its count of unacknowledged handles drops to 0. */
static void test_server_handle_arrives(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_POLL);
    int sv[2];
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
    seen_t a = {0}, b = {0};
    chan_t *master = open_chan(loop, sv[0], &a);
    chan_t *worker = open_chan(loop, sv[1], &b);

    int lfd = make_listener();
    json_value *msg = str("server");
    assert_int_equal(handle_send(master, msg, HANDLE_NET_SERVER, lfd), 0);
    json_free(msg);
    assert_int_equal(handle_unacked(master), 1);
    ino_t ino = inode_of(lfd);
    close(lfd); /* the post's server.close(): the channel has its own copy */

    run_until(loop, &a.acks, 1);
    assert_int_equal(b.messages, 1);
    assert_string_equal(b.text[0], "\"server\"");
    assert_string_equal(b.types[0], "net.Server");
    assert_true(b.fds[0] >= 0);
    assert_int_equal(inode_of(b.fds[0]), ino);
    assert_int_equal(handle_unacked(master), 0);
    assert_int_equal(a.warnings + b.warnings, 0);
    /* outside the callback there is no handle being delivered */
    assert_null(handle_received_type(worker));

    /* The received socket is really the listener: it accepts. */
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(b.fds[0], (struct sockaddr *)&sa, &sl), 0);
    int c = net_socket(AF_INET, SOCK_STREAM, O_CLOEXEC);
    assert_int_equal(connect(c, (struct sockaddr *)&sa, sl), 0);
    int conn = accept(b.fds[0], NULL, NULL);
    assert_true(conn >= 0);
    close(conn);
    close(c);

    close(b.fds[0]);
    chan_close(master);
    chan_close(worker);
    loop_free(loop);
}

/* Every socket Node sends is non-blocking (libuv makes all its sockets so),
 * and a Node receiver relies on it: it never sets O_NONBLOCK itself. A
 * blocking listener handed to two Node workers leaves the one that loses a
 * connection to the other blocked in accept(2), deaf to its channel. So
 * handle_send() sends a blocking socket as Node would have: non-blocking,
 * on the sender's side too, since the flag belongs to the one open socket. */
static void test_sent_socket_is_nonblocking(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_POLL);
    int sv[2];
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
    seen_t a = {0}, b = {0};
    chan_t *master = open_chan(loop, sv[0], &a);
    chan_t *worker = open_chan(loop, sv[1], &b);

    int lfd = make_listener();
    assert_int_equal(fcntl(lfd, F_GETFL) & O_NONBLOCK, 0);
    json_value *msg = str("server");
    assert_int_equal(handle_send(master, msg, HANDLE_NET_SERVER, lfd), 0);
    json_free(msg);
    run_until(loop, &a.acks, 1);
    assert_int_equal(b.messages, 1);
    assert_true(b.fds[0] >= 0);
    assert_int_not_equal(fcntl(b.fds[0], F_GETFL) & O_NONBLOCK, 0);
    assert_int_not_equal(fcntl(lfd, F_GETFL) & O_NONBLOCK, 0);
    /* So the loser of a race gets EAGAIN instead of waiting. */
    assert_int_equal(accept(b.fds[0], NULL, NULL), -1);
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);

    close(lfd);
    close(b.fds[0]);
    chan_close(master);
    chan_close(worker);
    loop_free(loop);
}

/* The exact bytes on the wire, and the wait for the ACK: two handles and a
 * plain message sent back to back leave one at a time. */
static void test_second_handle_waits_for_ack(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_POLL);
    int sv[2];
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
    seen_t a = {0};
    chan_t *master = open_chan(loop, sv[0], &a);
    int raw = sv[1];

    int l1 = make_listener(), l2 = make_listener();
    json_value *one = str("one"), *two = str("two"), *after = str("after");
    assert_int_equal(handle_send(master, one, HANDLE_NET_SERVER, l1), 0);
    assert_int_equal(handle_send(master, two, HANDLE_NET_SOCKET, l2), 0);
    assert_int_equal(handle_send_message(master, after), 0);
    json_free(one);
    json_free(two);
    json_free(after);
    assert_int_equal(handle_unacked(master), 2);

    char line[256];
    int fd = raw_read_line(raw, line, sizeof line);
    assert_string_equal(
        line, "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Server\",\"msg\":\"one\"}");
    assert_true(fd >= 0);
    assert_int_equal(inode_of(fd), inode_of(l1));
    close(fd);
    /* Without an ACK nothing else comes: not the second handle, and not
     * the plain message queued behind it. */
    settle(loop);
    assert_true(raw_quiet(raw));

    raw_send(raw, "{\"cmd\":\"NODE_HANDLE_ACK\"}\n", -1);
    run_until(loop, &a.acks, 1);
    fd = raw_read_line(raw, line, sizeof line);
    assert_string_equal(
        line, "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":\"two\"}");
    assert_int_equal(inode_of(fd), inode_of(l2));
    close(fd);
    settle(loop);
    assert_true(raw_quiet(raw));

    raw_send(raw, "{\"cmd\":\"NODE_HANDLE_ACK\"}\n", -1);
    run_until(loop, &a.acks, 2);
    fd = raw_read_line(raw, line, sizeof line);
    assert_string_equal(line, "\"after\"");
    assert_int_equal(fd, -1);
    assert_int_equal(handle_unacked(master), 0);

    close(l1);
    close(l2);
    chan_close(master);
    close(raw);
    loop_free(loop);
}

/* C to C, two handles back to back: both arrive, in order, each with its
 * own socket, and each is acknowledged. */
static void test_two_handles_in_order(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_POLL);
    int sv[2];
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
    seen_t a = {0}, b = {0};
    chan_t *master = open_chan(loop, sv[0], &a);
    chan_t *worker = open_chan(loop, sv[1], &b);

    int l1 = make_listener(), l2 = make_listener();
    json_value *m1 = json_new_object();
    json_object_set(m1, "n", json_new_number(1));
    json_value *m2 = json_new_object();
    json_object_set(m2, "n", json_new_number(2));
    assert_int_equal(handle_send(master, m1, HANDLE_NET_SERVER, l1), 0);
    assert_int_equal(handle_send(master, m2, HANDLE_NET_SERVER, l2), 0);
    json_free(m1);
    json_free(m2);

    run_until(loop, &a.acks, 2);
    assert_int_equal(b.messages, 2);
    assert_string_equal(b.text[0], "{\"n\":1}");
    assert_string_equal(b.text[1], "{\"n\":2}");
    assert_int_equal(inode_of(b.fds[0]), inode_of(l1));
    assert_int_equal(inode_of(b.fds[1]), inode_of(l2));
    assert_int_equal(a.warnings + b.warnings, 0);
    close(b.fds[0]);
    close(b.fds[1]);
    close(l1);
    close(l2);
    chan_close(master);
    chan_close(worker);
    loop_free(loop);
}

/* An fd that comes with a plain message is closed by the receiver, and the
 * message still arrives (without an fd). */
static void test_unexpected_fd_closed(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_POLL);
    int sv[2], p[2];
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
    assert_int_equal(pipe(p), 0);
    seen_t b = {0};
    chan_t *worker = open_chan(loop, sv[1], &b);
    int before = count_open_fds();

    raw_send(sv[0], "{\"hello\":1}\n", p[0]);
    run_until(loop, &b.messages, 1);
    settle(loop);
    assert_string_equal(b.text[0], "{\"hello\":1}");
    assert_int_equal(b.fds[0], -1);
    assert_int_equal(b.warnings, 1);
    assert_non_null(strstr(b.last_warning, "not a NODE_HANDLE"));
    assert_int_equal(count_open_fds(), before);

    close(p[0]);
    close(p[1]);
    close(sv[0]);
    chan_close(worker);
    loop_free(loop);
}

/* MSG_CTRUNC on the receiving side: the envelope comes with more fds than
 * the receiver has room for. They are all closed, the receiver answers
 * NACK, and a proper retransmission is then delivered and acknowledged. */
static void test_ctrunc_answers_nack(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_POLL);
    int sv[2];
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
    seen_t b = {0};
    chan_t *worker = open_chan(loop, sv[1], &b);
    int lfd = make_listener();
    int before = count_open_fds();

    const char *env = "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Server\",\"msg\":\"s\"}\n";
    int many[FDPASS_MAX_FDS + 1];
    for (size_t i = 0; i < FDPASS_MAX_FDS + 1; i++)
        many[i] = lfd;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof many)];
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = {.iov_base = (void *)env, .iov_len = strlen(env)};
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof control.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof many);
    memcpy(CMSG_DATA(c), many, sizeof many);
    assert_int_equal(sendmsg(sv[0], &mh, 0), (ssize_t)strlen(env));

    char line[128];
    for (int i = 0; i < 50 && raw_quiet(sv[0]); i++)
        loop_run_once(loop, 10);
    assert_int_equal(raw_read_line(sv[0], line, sizeof line), -1);
    assert_string_equal(line, "{\"cmd\":\"NODE_HANDLE_NACK\"}");
    assert_int_equal(b.messages, 0);
    assert_int_equal(b.warnings, 2); /* truncated; envelope without fd */
    settle(loop);
    assert_int_equal(count_open_fds(), before);

    /* The sender tries again, properly this time. */
    raw_send(sv[0], env, lfd);
    run_until(loop, &b.messages, 1);
    assert_int_equal(raw_read_line(sv[0], line, sizeof line), -1);
    assert_string_equal(line, "{\"cmd\":\"NODE_HANDLE_ACK\"}");
    assert_int_equal(inode_of(b.fds[0]), inode_of(lfd));
    close(b.fds[0]);
    close(lfd);
    close(sv[0]);
    chan_close(worker);
    loop_free(loop);
}

/* The envelope's fd arrives with its first bytes, and the rest of the line
 * comes in a later read: the fd waits for its line and is then delivered
 * with it. */
static void test_fd_waits_for_the_rest_of_its_line(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_POLL);
    int sv[2];
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
    seen_t b = {0};
    chan_t *worker = open_chan(loop, sv[1], &b);
    int lfd = make_listener();

    const char *part1 = "{\"cmd\":\"NODE_HANDLE\",\"ty";
    const char *part2 = "pe\":\"net.Server\",\"msg\":\"split\"}\n";
    assert_int_equal(fdpass_send(sv[0], part1, strlen(part1), lfd),
                     (ssize_t)strlen(part1));
    settle(loop); /* the receiver reads the first part, and the fd, alone */
    assert_int_equal(b.messages, 0);
    raw_send(sv[0], part2, -1);
    run_until(loop, &b.messages, 1);
    settle(loop);
    assert_string_equal(b.text[0], "\"split\"");
    assert_int_equal(inode_of(b.fds[0]), inode_of(lfd));
    assert_int_equal(b.warnings, 0);
    char line[64];
    assert_int_equal(raw_read_line(sv[0], line, sizeof line), -1);
    assert_string_equal(line, "{\"cmd\":\"NODE_HANDLE_ACK\"}");
    close(b.fds[0]);
    close(lfd);
    close(sv[0]);
    chan_close(worker);
    loop_free(loop);
}

/* A plain message and an envelope read in one go: the fd goes to the
 * envelope, the line before it gets none. */
static void test_fd_goes_to_its_envelope_not_the_line_before(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_POLL);
    int sv[2];
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
    seen_t b = {0};
    chan_t *worker = open_chan(loop, sv[1], &b);
    int lfd = make_listener();

    raw_send(sv[0], "{\"plain\":1}\n", -1);
    raw_send(sv[0], "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":2}\n", lfd);
    run_until(loop, &b.messages, 2);
    settle(loop);
    assert_string_equal(b.text[0], "{\"plain\":1}");
    assert_int_equal(b.fds[0], -1);
    assert_string_equal(b.text[1], "2");
    assert_string_equal(b.types[1], "net.Socket");
    assert_int_equal(inode_of(b.fds[1]), inode_of(lfd));
    assert_int_equal(b.warnings, 0);
    close(b.fds[1]);
    close(lfd);
    close(sv[0]);
    chan_close(worker);
    loop_free(loop);
}

/* The sending side of a NACK: the same envelope goes out again with the fd,
 * up to HANDLE_MAX_RETRANSMISSIONS times; then the sender gives up and moves
 * on to what was queued. */
static void test_nack_retransmits(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_POLL);
    int sv[2];
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
    seen_t a = {0};
    chan_t *master = open_chan(loop, sv[0], &a);
    int lfd = make_listener();
    json_value *m = str("s"), *next = str("next");
    assert_int_equal(handle_send(master, m, HANDLE_NET_SERVER, lfd), 0);
    assert_int_equal(handle_send_message(master, next), 0);
    json_free(m);
    json_free(next);

    char line[256];
    for (int round = 0; round <= HANDLE_MAX_RETRANSMISSIONS; round++) {
        int fd = raw_read_line(sv[1], line, sizeof line);
        assert_string_equal(
            line, "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Server\",\"msg\":\"s\"}");
        assert_int_equal(inode_of(fd), inode_of(lfd));
        close(fd);
        raw_send(sv[1], "{\"cmd\":\"NODE_HANDLE_NACK\"}\n", -1);
        int want = round + 1;
        run_until(loop, &a.warnings, want);
    }
    assert_non_null(strstr(a.last_warning, "giving up"));
    assert_int_equal(a.acks, 0);
    assert_int_equal(raw_read_line(sv[1], line, sizeof line), -1);
    assert_string_equal(line, "\"next\"");
    close(lfd);
    close(sv[1]);
    chan_close(master);
    loop_free(loop);
}

/* handle_disconnect() waits for the ACK before it closes the channel. */
static void test_disconnect_waits_for_ack(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_POLL);
    int sv[2];
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
    seen_t a = {0};
    chan_t *master = open_chan(loop, sv[0], &a);
    int lfd = make_listener();
    json_value *m = str("s");
    assert_int_equal(handle_send(master, m, HANDLE_NET_SERVER, lfd), 0);
    json_free(m);
    assert_int_equal(handle_disconnect(master), 0);

    char line[256];
    int fd = raw_read_line(sv[1], line, sizeof line);
    close(fd);
    settle(loop);
    assert_int_equal(a.disconnected, 0);
    raw_send(sv[1], "{\"cmd\":\"NODE_HANDLE_ACK\"}\n", -1);
    run_until(loop, &a.disconnected, 1);
    assert_int_equal(a.acks, 1);
    /* and the raw end sees EOF */
    char byte;
    assert_int_equal(read(sv[1], &byte, 1), 0);
    close(lfd);
    close(sv[1]);
    loop_free(loop);
}

/* Nothing is leaked when a channel closes with a handle in flight and one
 * queued: the dups the handle layer holds are closed with it. */
static void test_close_releases_everything(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_POLL);
    int before = count_open_fds();
    int sv[2];
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
    seen_t a = {0};
    chan_t *master = open_chan(loop, sv[0], &a);
    int lfd = make_listener();
    json_value *m = str("s");
    assert_int_equal(handle_send(master, m, HANDLE_NET_SERVER, lfd), 0);
    assert_int_equal(handle_send(master, m, HANDLE_NET_SERVER, lfd), 0);
    json_free(m);
    close(lfd);
    chan_close(master);
    close(sv[1]); /* the peer never read: its queued fd dies with the socket */
    assert_int_equal(count_open_fds(), before);
    loop_free(loop);
}

/* A bound UDP socket on 127.0.0.1, any port: a real dgram.Socket. */
static int make_udp(void)
{
    int fd = net_socket(AF_INET, SOCK_DGRAM, O_CLOEXEC);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* The dgram.Socket envelope, byte for byte as Node v20 writes it (strace in
 * NOTES.md): "dgramType" after "msg", the fd on the line's first byte. The
 * dgram.Native one is a bare fd: no dgramType. A TCP socket is refused. */
static void test_dgram_envelopes_on_the_wire(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_POLL);
    int sv[2];
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
    seen_t a = {0};
    chan_t *master = open_chan(loop, sv[0], &a);
    int ufd = make_udp();
    json_value *m = str("server");
    assert_int_equal(handle_send(master, m, HANDLE_DGRAM_SOCKET, ufd), 0);
    char line[256];
    int fd = raw_read_line(sv[1], line, sizeof line);
    assert_string_equal(line, "{\"cmd\":\"NODE_HANDLE\",\"type\":\"dgram.Socket\","
                              "\"msg\":\"server\",\"dgramType\":\"udp4\"}");
    assert_true(fd >= 0);
    assert_int_equal(inode_of(fd), inode_of(ufd));
    close(fd);
    raw_send(sv[1], "{\"cmd\":\"NODE_HANDLE_ACK\"}\n", -1);
    run_until(loop, &a.acks, 1);

    assert_int_equal(handle_send(master, m, HANDLE_DGRAM_NATIVE, ufd), 0);
    fd = raw_read_line(sv[1], line, sizeof line);
    assert_string_equal(
        line, "{\"cmd\":\"NODE_HANDLE\",\"type\":\"dgram.Native\",\"msg\":\"server\"}");
    close(fd);

    /* A dgram type needs a UDP socket: the envelope names its family. */
    int lfd = make_listener();
    errno = 0;
    assert_int_equal(handle_send(master, m, HANDLE_DGRAM_SOCKET, lfd), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(handle_send(master, m, HANDLE_DGRAM_NATIVE, sv[1]), -1);
    assert_int_equal(errno, EINVAL);
    close(lfd);
    json_free(m);
    close(ufd);
    chan_close(master);
    close(sv[1]);
    loop_free(loop);
}

/* A connected socket of make_listener()'s listener: the accepted end; the
 * client's end goes to *client. */
static int make_connection(int lfd, int *client)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    *client = net_socket(AF_INET, SOCK_STREAM, O_CLOEXEC);
    assert_true(*client >= 0);
    assert_int_equal(connect(*client, (struct sockaddr *)&sa, sl), 0);
    int c = accept(lfd, NULL, NULL);
    assert_true(c >= 0);
    return c;
}

/* A connection, both ways, byte for byte as Node v20 writes it (strace in
 * NOTES.md, 05): child.send('socket', socket._handle), and the cluster
 * primary in round-robin mode, send a bare TCP handle as a net.Native
 * (what ./handle-passing --rr --native sends); child.send('socket',
 * socket) sends a net.Socket with the server's "key", which the receiver
 * takes as it takes any field it has no use for. */
static void test_connection_envelopes(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_POLL);
    int sv[2], lfd = make_listener(), client;
    int conn = make_connection(lfd, &client);
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
    seen_t a = {0}, b = {0};
    chan_t *master = open_chan(loop, sv[0], &a);
    json_value *m = str("socket");
    assert_int_equal(handle_send(master, m, HANDLE_NET_NATIVE, conn), 0);
    json_free(m);
    char line[256];
    int fd = raw_read_line(sv[1], line, sizeof line);
    assert_string_equal(
        line, "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":\"socket\"}");
    assert_int_equal(inode_of(fd), inode_of(conn));
    raw_send(sv[1], "{\"cmd\":\"NODE_HANDLE_ACK\"}\n", -1);
    run_until(loop, &a.acks, 1);
    chan_close(master); /* and sv[0] */

    /* The other way: Node's net.Socket envelope into a C receiver. */
    int raw = sv[1];
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
    close(raw);
    chan_t *worker = open_chan(loop, sv[1], &b);
    raw_send(sv[0],
             "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Socket\",\"msg\":\"socket\","
             "\"key\":\"4:127.0.0.1:0\"}\n",
             fd);
    run_until(loop, &b.messages, 1);
    assert_string_equal(b.types[0], "net.Socket");
    assert_string_equal(b.text[0], "\"socket\"");
    assert_int_equal(inode_of(b.fds[0]), inode_of(conn));
    assert_int_equal(raw_read_line(sv[0], line, sizeof line), -1);
    assert_string_equal(line, "{\"cmd\":\"NODE_HANDLE_ACK\"}");
    /* The fd works: what the worker writes, the client reads. */
    assert_int_equal(write(b.fds[0], "hi", 2), 2);
    char buf[4];
    struct pollfd pf = {.fd = client, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 2000), 1);
    assert_int_equal(read(client, buf, sizeof buf), 2);
    close(b.fds[0]);
    close(fd);
    close(conn);
    close(client);
    close(lfd);
    close(sv[0]);
    chan_close(worker);
    loop_free(loop);
}

/* C to C, every type: each arrives with its type name, and a dgram.Socket
 * with its dgramType; the fds work (a datagram goes through the UDP one). */
static void test_every_type_arrives(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_POLL);
    int sv[2];
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
    seen_t a = {0}, b = {0};
    chan_t *master = open_chan(loop, sv[0], &a);
    chan_t *worker = open_chan(loop, sv[1], &b);
    int lfd = make_listener(), ufd = make_udp();
    json_value *m = str("h");
    assert_int_equal(handle_send(master, m, HANDLE_NET_NATIVE, lfd), 0);
    assert_int_equal(handle_send(master, m, HANDLE_DGRAM_SOCKET, ufd), 0);
    assert_int_equal(handle_send(master, m, HANDLE_DGRAM_NATIVE, ufd), 0);
    json_free(m);
    run_until(loop, &a.acks, 3);
    assert_int_equal(b.messages, 3);
    assert_string_equal(b.types[0], "net.Native");
    assert_string_equal(b.types[1], "dgram.Socket");
    assert_string_equal(b.types[2], "dgram.Native");
    assert_string_equal(b.dgram_types[0], "");
    assert_string_equal(b.dgram_types[1], "udp4");
    assert_string_equal(b.dgram_types[2], "");
    assert_int_equal(inode_of(b.fds[0]), inode_of(lfd));

    /* A datagram to the master's socket is read on the worker's fd. */
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    assert_int_equal(getsockname(ufd, (struct sockaddr *)&sa, &sl), 0);
    int c = net_socket(AF_INET, SOCK_DGRAM, O_CLOEXEC);
    assert_int_equal(sendto(c, "x", 1, 0, (struct sockaddr *)&sa, sl), 1);
    struct pollfd pf = {.fd = b.fds[1], .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 2000), 1);
    char buf[8];
    assert_int_equal(recv(b.fds[1], buf, sizeof buf, 0), 1);
    close(c);
    for (int i = 0; i < 3; i++)
        close(b.fds[i]);
    close(lfd);
    close(ufd);
    chan_close(master);
    chan_close(worker);
    loop_free(loop);
}

static void test_type_names(void **state)
{
    (void)state;
    const char *names[] = {"net.Server", "net.Socket", "net.Native", "dgram.Socket",
                           "dgram.Native"};
    for (int i = 0; i < 5; i++) {
        handle_type_t t;
        assert_int_equal(handle_type_from_name(names[i], &t), 0);
        assert_int_equal((int)t, i);
        assert_string_equal(handle_type_name(t), names[i]);
    }
    handle_type_t t;
    assert_int_equal(handle_type_from_name("dgram.Thing", &t), -1);
    assert_int_equal(handle_type_from_name(NULL, &t), -1);
    assert_null(handle_type_name((handle_type_t)5));
}

static void test_bad_arguments(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_POLL);
    int sv[2];
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
    chan_t *plain = chan_open(loop, sv[0], NULL, NULL);
    json_value *m = str("s");
    errno = 0;
    assert_int_equal(handle_send(plain, m, HANDLE_NET_SERVER, 0), -1);
    assert_int_equal(errno, EINVAL); /* no handle_attach() */
    assert_int_equal(handle_attach(plain, NULL, NULL), 0);
    assert_int_equal(handle_attach(plain, NULL, NULL), -1);
    assert_int_equal(errno, EEXIST);
    errno = 0;
    assert_int_equal(handle_send(plain, m, HANDLE_NET_SERVER, 1000), -1);
    assert_int_equal(errno, EBADF);
    json_free(m);
    assert_string_equal(handle_type_name(HANDLE_NET_SERVER), "net.Server");
    assert_string_equal(handle_type_name(HANDLE_NET_SOCKET), "net.Socket");
    chan_close(plain);
    close(sv[1]);
    loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_server_handle_arrives),
        cmocka_unit_test(test_sent_socket_is_nonblocking),
        cmocka_unit_test(test_second_handle_waits_for_ack),
        cmocka_unit_test(test_two_handles_in_order),
        cmocka_unit_test(test_unexpected_fd_closed),
        cmocka_unit_test(test_ctrunc_answers_nack),
        cmocka_unit_test(test_fd_waits_for_the_rest_of_its_line),
        cmocka_unit_test(test_fd_goes_to_its_envelope_not_the_line_before),
        cmocka_unit_test(test_nack_retransmits),
        cmocka_unit_test(test_disconnect_waits_for_ack),
        cmocka_unit_test(test_close_releases_everything),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_dgram_envelopes_on_the_wire),
        cmocka_unit_test(test_every_type_arrives),
        cmocka_unit_test(test_connection_envelopes),
        cmocka_unit_test(test_type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
