/*
 * test_httpd.c: unit tests of the worker's HTTP service (httpd.h), in one
 * process: the test owns the loop, runs it a few milliseconds at a time
 * ("pumping"), and plays the clients between pumps.
 *
 *   make test        (from 06-http-shared-port/)
 *
 * What only this level can check well:
 *   - backpressure: a client that pipelines thousands of requests and reads
 *     nothing makes the server stop reading, not buffer without end; when
 *     the client reads, every response arrives, in order;
 *   - the graceful drain: idle connections are closed after a short grace,
 *     a request in flight is finished with "Connection: close", a request
 *     that arrived just before the drain is answered, not lost; done()
 *     comes last;
 *   - the lingering close: a refused client that keeps sending still reads
 *     its 400 instead of a connection reset, and lingering ends after 4 MiB;
 *   - a client the server stopped reading is timed by its reading (the send
 *     timeout), not by the header and idle timeouts, and ends with an EOF;
 *   - the shared output buffer: the answer to a client that reset is not
 *     sent to the next client;
 *   - accepting: one wake of the listener accepts until EAGAIN, but at most
 *     accepts_per_wake connections; httpd_new refuses a socket that is not
 *     listening, and an unexpected accept error rests the listener instead
 *     of spinning.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd.h"
#include "loop.h"
#include "net.h"
#include "testkit.h"

typedef struct {
    loop_t *loop;
    httpd_t *h;
    int port;
    int lfd; /* the httpd's own: for tests that break it */
    int drained;
} fixture_t;

static int setup_with(void **state, int accepts_per_wake, const httpd_config_t *timeouts)
{
    fixture_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    int lfd = net_socket(AF_INET, SOCK_STREAM, O_CLOEXEC);
    assert_true(lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Small kernel buffers on the accepted sockets (they inherit the
     * listener's), so that a client that does not read fills them fast and
     * the server's own buffering is what the backpressure test sees. */
    int small = 8192;
    assert_int_equal(setsockopt(lfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 128), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    f->port = ntohs(sa.sin_port);
    f->lfd = lfd;
    f->loop = loop_new(LOOP_POLL);
    assert_non_null(f->loop);
    httpd_config_t cfg = {.header_timeout_ms = 5000,
                          .idle_timeout_ms = 5000,
                          .accepts_per_wake = accepts_per_wake};
    if (timeouts != NULL) {
        cfg.header_timeout_ms = timeouts->header_timeout_ms;
        cfg.idle_timeout_ms = timeouts->idle_timeout_ms;
        cfg.send_timeout_ms = timeouts->send_timeout_ms;
    }
    f->h = httpd_new(f->loop, lfd, &cfg);
    assert_non_null(f->h);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, 0, NULL); /* the default: 64 accepts per wake */
}

static int setup_3_accepts(void **state)
{
    return setup_with(state, 3, NULL);
}

/* Timeouts short enough to watch them fire. */
static int setup_short_timeouts(void **state)
{
    httpd_config_t t = {
        .header_timeout_ms = 200, .idle_timeout_ms = 200, .send_timeout_ms = 800};
    return setup_with(state, 0, &t);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    httpd_free(f->h);
    loop_free(f->loop);
    free(f);
    return 0;
}

/* Run the server's loop for about ms milliseconds. */
static void pump(fixture_t *f, int ms)
{
    long long end = tk_now_ms() + ms;
    while (tk_now_ms() < end)
        loop_run_once(f->loop, 2);
}

/* Read what is there now (non-blocking), pumping in between, until `want`
 * bytes or EOF or timeout_ms. Returns bytes read; *eof set at EOF/reset. */
static size_t collect(fixture_t *f, int fd, char *buf, size_t want, int timeout_ms,
                      int *eof)
{
    size_t got = 0;
    long long end = tk_now_ms() + timeout_ms;
    *eof = 0;
    while (got < want && tk_now_ms() < end) {
        pump(f, 2);
        ssize_t n = recv(fd, buf + got, want - got, MSG_DONTWAIT);
        if (n == 0 || (n == -1 && errno == ECONNRESET)) {
            *eof = 1;
            break;
        }
        if (n > 0)
            got += (size_t)n;
    }
    return got;
}

static int client(fixture_t *f)
{
    int fd = tk_connect("127.0.0.1", f->port, 2000);
    assert_true(fd >= 0);
    pump(f, 5); /* let the server accept it */
    return fd;
}

static int count(const char *hay, size_t len, const char *needle)
{
    int n = 0;
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= len; i++)
        if (memcmp(hay + i, needle, nl) == 0)
            n++;
    return n;
}

static void test_backpressure_bounds_buffering(void **state)
{
    fixture_t *f = *state;
    enum { N = 10000 };
    static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    int fd = net_socket(AF_INET, SOCK_STREAM, O_CLOEXEC);
    int small = 4096; /* a client that reads slowly, with a small window */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    connect(fd, (struct sockaddr *)&sa, sizeof sa);
    pump(f, 10);

    /* Send all N requests (pumping, since our own send buffer fills too). */
    char *all = malloc(N * (sizeof req - 1));
    assert_non_null(all);
    for (int i = 0; i < N; i++)
        memcpy(all + (size_t)i * (sizeof req - 1), req, sizeof req - 1);
    size_t off = 0, total = N * (sizeof req - 1);
    long long end = tk_now_ms() + 3000;
    while (off < total && tk_now_ms() < end) {
        ssize_t n = send(fd, all + off, total - off, MSG_NOSIGNAL);
        if (n > 0)
            off += (size_t)n;
        pump(f, 2);
    }
    pump(f, 100);
    /* The client read nothing: the server must have stopped short. */
    uint64_t answered = httpd_requests(f->h);
    printf("# answered before the client read anything: %llu of %d\n",
           (unsigned long long)answered, N);
    assert_true(answered < N);

    /* Now read everything: every response arrives, and in order. */
    size_t cap = (size_t)N * 200;
    char *got = malloc(cap);
    assert_non_null(got);
    size_t n = 0;
    end = tk_now_ms() + 10000;
    while (count(got, n, "HTTP/1.1 200 OK") < N && tk_now_ms() < end) {
        pump(f, 1);
        if (off < total) {
            ssize_t s = send(fd, all + off, total - off, MSG_NOSIGNAL);
            if (s > 0)
                off += (size_t)s;
        }
        ssize_t r = recv(fd, got + n, cap - n, MSG_DONTWAIT);
        if (r > 0)
            n += (size_t)r;
    }
    assert_int_equal(count(got, n, "HTTP/1.1 200 OK"), N);
    assert_int_equal(httpd_requests(f->h), N);
    close(fd);
    free(got);
    free(all);
}

static void on_drained(httpd_t *h, void *arg)
{
    fixture_t *f = arg;
    assert_int_equal(httpd_connections(h), 0);
    f->drained = 1;
}

static void test_drain(void **state)
{
    fixture_t *f = *state;
    char buf[1024];
    int eof;

    int idle = client(f); /* served once, now idle */
    tk_send_str(idle, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_true(collect(f, idle, buf, sizeof buf, 200, &eof) > 0);
    int fresh = client(f); /* never sent a byte */
    int half = client(f);  /* a request in flight */
    tk_send_str(half, "GET / HTTP/1.1\r\nHost: t\r\n");
    int late = client(f); /* its request arrives just before the drain */
    pump(f, 20);
    tk_send_str(late, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    /* No pump: the server has not seen `late`'s request when it drains. */
    httpd_drain(f->h, on_drained, f);

    /* The idle and fresh connections are closed after the short grace. */
    long long t0 = tk_now_ms();
    collect(f, idle, buf, sizeof buf, 2000, &eof);
    assert_true(eof);
    assert_true(tk_now_ms() - t0 >= 250);
    collect(f, fresh, buf, sizeof buf, 2000, &eof);
    assert_true(eof);
    /* The late request was answered, and then the connection closed. */
    size_t n = collect(f, late, buf, sizeof buf - 1, 1000, &eof);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
    assert_non_null(strstr(buf, "Connection: close"));
    assert_true(eof);
    /* The request in flight is finished with "Connection: close". */
    assert_false(f->drained);
    tk_send_str(half, "\r\n");
    n = collect(f, half, buf, sizeof buf - 1, 1000, &eof);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
    assert_non_null(strstr(buf, "Connection: close"));
    assert_true(eof);
    pump(f, 20);
    assert_true(f->drained);
    /* And nothing is accepted any more. */
    assert_int_equal(tk_connect("127.0.0.1", f->port, 500), -1);
    close(idle);
    close(fresh);
    close(half);
    close(late);
}

/* One wake of the listener accepts until EAGAIN, but no more than
 * accepts_per_wake connections: 10 clients waiting in the backlog are
 * taken 3 at a time by a server configured for 3, and all at once by one
 * with the default of 64. */
static void accept_in_wakes(fixture_t *f, const int *after_each_wake, int wakes)
{
    enum { N = 10 };
    int fd[N];
    for (int i = 0; i < N; i++) {
        /* On loopback the handshake is done when connect returns: the
         * connection waits in the listener's backlog, not yet accepted. */
        fd[i] = tk_connect("127.0.0.1", f->port, 2000);
        assert_true(fd[i] >= 0);
    }
    assert_int_equal(httpd_connections(f->h), 0);
    for (int w = 0; w < wakes; w++) {
        assert_true(loop_run_once(f->loop, 1000) >= 0);
        assert_int_equal(httpd_connections(f->h), after_each_wake[w]);
    }
    for (int i = 0; i < N; i++)
        close(fd[i]);
}

static void test_accepts_are_bounded_per_wake(void **state)
{
    static const int three_at_a_time[] = {3, 6, 9, 10};
    accept_in_wakes(*state, three_at_a_time, 4);
}

static void test_accepts_until_eagain(void **state)
{
    static const int all_at_once[] = {10};
    accept_in_wakes(*state, all_at_once, 1);
}

/* Silent new clients make the server stop reading new connections at once
 * (the read would find nothing); then it only watches them, and tries an
 * early read again now and then. Either way every request is answered:
 * those sent before the accept and those sent long after it. */
static void test_requests_after_silent_clients(void **state)
{
    fixture_t *f = *state;
    char buf[1024];
    int eof;
    int silent[3];
    for (int i = 0; i < 3; i++)
        silent[i] = client(f);
    for (int i = 0; i < 40; i++) {
        int fd = tk_connect("127.0.0.1", f->port, 2000);
        assert_true(fd >= 0);
        tk_send_str(fd, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        size_t n = collect(f, fd, buf, sizeof buf - 1, 2000, &eof);
        buf[n] = '\0';
        assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
        assert_true(eof);
        close(fd);
    }
    for (int i = 0; i < 3; i++) {
        tk_send_str(silent[i], "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
        size_t n = collect(f, silent[i], buf, sizeof buf - 1, 200, &eof);
        buf[n] = '\0';
        assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
        close(silent[i]);
    }
    assert_int_equal(httpd_requests(f->h), 43);
}

static void test_refusal_is_read_despite_more_data(void **state)
{
    fixture_t *f = *state;
    int fd = client(f);
    /* A bad request followed by a lot more: closing with those bytes unread
     * would reset the connection and could destroy the 400 in flight. */
    char junk[65536];
    memset(junk, 'j', sizeof junk);
    tk_send_str(fd, "BAD REQUEST LINE\r\n");
    for (int i = 0; i < 4; i++) {
        ssize_t s = send(fd, junk, sizeof junk, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)s;
        pump(f, 5);
    }
    char buf[4096];
    int eof;
    size_t n = collect(f, fd, buf, sizeof buf - 1, 2000, &eof);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "HTTP/1.1 400 Bad Request"));
    close(fd);
}

/* Client A sends exactly one read's worth (16 KiB: a request whose head and
 * body fill it) and resets the connection. The server answers the request,
 * and its next read fails with ECONNRESET before that answer is written.
 * The answer must die with A's connection: client B, served next, gets its
 * own response and nothing else. */
static void test_dead_clients_answer_goes_nowhere(void **state)
{
    fixture_t *f = *state;
    enum { READ_SIZE = 16384 };
    static char req[READ_SIZE];
    static const char prefix[] = "GET /a HTTP/1.1\r\nHost: a\r\nContent-Length: ";
    size_t body = READ_SIZE;
    int head;
    do { /* the body shrinks by the length of the head that announces it */
        body--;
        head = snprintf(req, sizeof req, "%s%zu\r\n\r\n", prefix, body);
    } while ((size_t)head + body > READ_SIZE);
    assert_int_equal((size_t)head + body, READ_SIZE);
    memset(req + head, 'x', body);

    int a = client(f);
    assert_int_equal(tk_send(a, req, READ_SIZE), 0);
    struct linger rst = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(setsockopt(a, SOL_SOCKET, SO_LINGER, &rst, sizeof rst), 0);
    close(a); /* a reset, not a FIN */
    pump(f, 50);
    assert_int_equal(httpd_requests(f->h), 1); /* A's request was answered */
    assert_int_equal(httpd_connections(f->h), 0);

    int b = client(f);
    tk_send_str(b, "GET /b HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n");
    char buf[4096];
    int eof;
    size_t n = collect(f, b, buf, sizeof buf - 1, 2000, &eof);
    buf[n] = '\0';
    assert_true(eof);
    assert_int_equal(count(buf, n, "HTTP/1.1 "), 1);
    assert_non_null(strstr(buf, "HTTP/1.1 404 Not Found"));
    assert_non_null(strstr(buf, "Connection: close"));
    close(b);
}

/* httpd_new refuses a socket that is not listening: it could never accept,
 * and a listener that cannot accept is readable (hung up) for ever. */
static void test_new_refuses_a_non_listener(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_POLL);
    assert_non_null(loop);
    httpd_config_t cfg = {0};
    int fd = net_socket(AF_INET, SOCK_STREAM, O_CLOEXEC);
    assert_true(fd >= 0);
    errno = 0;
    assert_null(httpd_new(loop, fd, &cfg));
    assert_int_equal(errno, ENOTSOCK);
    close(fd);
    int p[2];
    assert_int_equal(pipe(p), 0);
    errno = 0;
    assert_null(httpd_new(loop, p[0], &cfg));
    assert_int_equal(errno, ENOTSOCK);
    close(p[0]);
    close(p[1]);
    loop_free(loop);
}

#ifdef __linux__
/* An accept error that is none of those httpd knows (here EINVAL: the
 * listener was shut down under it, which on Linux turns it back into a
 * socket that hangs up and cannot accept) must not make the loop spin:
 * the listener rests, as it does when out of fds. Spinning, the loop would
 * come back at once, thousands of times in 300 ms. */
static void test_unknown_accept_error_does_not_spin(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(shutdown(f->lfd, SHUT_RDWR), 0);
    int turns = 0;
    long long end = tk_now_ms() + 300;
    while (tk_now_ms() < end) {
        loop_run_once(f->loop, 50);
        turns++;
    }
    printf("# loop turns in 300 ms: %d\n", turns);
    assert_true(turns < 50);
}
#endif

/* Send all of buf from a non-blocking socket, pumping the server while our
 * own send buffer is full; stops after timeout_ms. Returns bytes sent. */
static size_t send_pumping(fixture_t *f, int fd, const char *buf, size_t len,
                           int timeout_ms)
{
    size_t off = 0;
    long long end = tk_now_ms() + timeout_ms;
    while (off < len && tk_now_ms() < end) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0)
            off += (size_t)n;
        else if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
            break;
        pump(f, 2);
    }
    return off;
}

/* A client pipelines requests and reads nothing. The server stops reading
 * it; its header and idle timeouts (200 ms) do not run while the server is
 * the one not reading, but its send timeout (800 ms) does: then the server
 * says goodbye without a reset, and what it had handed to the kernel still
 * reaches the client, followed by an EOF. */
static void test_paused_reader_is_timed_by_its_reading(void **state)
{
    fixture_t *f = *state;
    enum { N = 10000 };
    static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    char *all = malloc(N * (sizeof req - 1));
    assert_non_null(all);
    for (int i = 0; i < N; i++)
        memcpy(all + (size_t)i * (sizeof req - 1), req, sizeof req - 1);
    int fd = client(f);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    long long t0 = tk_now_ms();
    send_pumping(f, fd, all, N * (sizeof req - 1), 300);
    uint64_t answered = httpd_requests(f->h);
    assert_true(answered < N); /* it stopped reading us */

    pump(f, (int)(600 - (tk_now_ms() - t0)));
    assert_int_equal(httpd_connections(f->h), 1); /* 3 header timeouts later */
    assert_int_equal(httpd_requests(f->h), answered);

    /* Past the send timeout: the write side is shut, and reading brings
     * every response the kernel had, then EOF, not ECONNRESET. */
    size_t cap = (size_t)N * 200, n = 0;
    char *got = malloc(cap);
    assert_non_null(got);
    pump(f, (int)(1300 - (tk_now_ms() - t0)));
    int eof = 0, reset = 0;
    long long end = tk_now_ms() + 3000;
    while (!eof && !reset && tk_now_ms() < end) {
        pump(f, 1);
        ssize_t r = recv(fd, got + n, cap - n, MSG_DONTWAIT);
        if (r == 0)
            eof = 1;
        else if (r == -1 && errno == ECONNRESET)
            reset = 1;
        else if (r > 0)
            n += (size_t)r;
    }
    printf("# after the send timeout: %d responses, then %s\n",
           count(got, n, "HTTP/1.1 200 OK"),
           eof     ? "EOF"
           : reset ? "a reset"
                   : "nothing");
    assert_true(eof);
    assert_true(count(got, n, "HTTP/1.1 200 OK") > 0);
    close(fd);
    pump(f, 50);
    assert_int_equal(httpd_connections(f->h), 0);
    free(got);
    free(all);
}

/* After a refusal the server drops what the client still sends, but not
 * without end: past 4 MiB it closes, however fast the client sends. */
static void test_lingering_is_bounded_by_bytes(void **state)
{
    fixture_t *f = *state;
    int fd = client(f);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    tk_send_str(fd, "BAD REQUEST LINE\r\n");
    pump(f, 20);
    assert_int_equal(httpd_connections(f->h), 1); /* lingering */
    size_t len = 6 * 1024 * 1024;
    char *junk = malloc(len);
    assert_non_null(junk);
    memset(junk, 'j', len);
    long long t0 = tk_now_ms();
    size_t sent = send_pumping(f, fd, junk, len, 1500);
    pump(f, 20);
    printf("# lingering ended after %zu bytes sent, in %lld ms\n", sent,
           tk_now_ms() - t0);
    assert_int_equal(httpd_connections(f->h), 0);
    assert_true(sent > 4 * 1024 * 1024);
    assert_true(tk_now_ms() - t0 < 1900); /* not by the 2 s of silence */
    close(fd);
    free(junk);
}

/* A drain while a client is still reading its backlog of answers (400 of
 * them: all its requests were read, and the kernel did not take all the
 * answers): they are delivered, and once the client has caught up its
 * connection is idle like any other, closed after the drain's short grace
 * (not after the idle timeout of 5 s, which would outlast the master's
 * stop timeout). */
static void test_drain_waits_for_a_slow_reader_then_closes(void **state)
{
    fixture_t *f = *state;
    enum { N = 400 };
    static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    char *all = malloc(N * (sizeof req - 1));
    assert_non_null(all);
    for (int i = 0; i < N; i++)
        memcpy(all + (size_t)i * (sizeof req - 1), req, sizeof req - 1);
    int fd = net_socket(AF_INET, SOCK_STREAM, O_CLOEXEC);
    int small = 4096; /* so that the kernels cannot take all the answers */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    assert_int_equal(send_pumping(f, fd, all, N * (sizeof req - 1), 2000),
                     N * (sizeof req - 1));
    pump(f, 50);
    assert_int_equal(httpd_requests(f->h), N);
    httpd_drain(f->h, on_drained, f);
    pump(f, 400); /* past the grace: the client is not idle, it is behind */
    assert_int_equal(httpd_connections(f->h), 1);

    size_t cap = (size_t)N * 200, n = 0;
    char *got = malloc(cap);
    assert_non_null(got);
    int eof = 0;
    long long caught_up = 0, end = tk_now_ms() + 5000;
    while (!eof && tk_now_ms() < end) {
        pump(f, 1);
        ssize_t r = recv(fd, got + n, cap - n, MSG_DONTWAIT);
        if (r == 0 || (r == -1 && errno == ECONNRESET))
            eof = 1;
        else if (r > 0)
            n += (size_t)r;
        if (!caught_up && count(got, n, "HTTP/1.1 200 OK") == (int)httpd_requests(f->h))
            caught_up = tk_now_ms();
    }
    printf("# %d answers received; closed %lld ms after the client caught up\n",
           count(got, n, "HTTP/1.1 200 OK"), caught_up ? tk_now_ms() - caught_up : -1);
    assert_true(eof);
    assert_int_equal(count(got, n, "HTTP/1.1 200 OK"), N);
    assert_true(caught_up && tk_now_ms() - caught_up < 2000);
    pump(f, 20);
    assert_true(f->drained);
    close(fd);
    free(got);
    free(all);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backpressure_bounds_buffering, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests_after_silent_clients, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refusal_is_read_despite_more_data, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dead_clients_answer_goes_nowhere, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_accepts_are_bounded_per_wake,
                                        setup_3_accepts, teardown),
        cmocka_unit_test_setup_teardown(test_accepts_until_eagain, setup, teardown),
        cmocka_unit_test(test_new_refuses_a_non_listener),
        cmocka_unit_test_setup_teardown(test_drain_waits_for_a_slow_reader_then_closes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_paused_reader_is_timed_by_its_reading,
                                        setup_short_timeouts, teardown),
        cmocka_unit_test_setup_teardown(test_lingering_is_bounded_by_bytes, setup,
                                        teardown),
#ifdef __linux__
        cmocka_unit_test_setup_teardown(test_unknown_accept_error_does_not_spin, setup,
                                        teardown),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
