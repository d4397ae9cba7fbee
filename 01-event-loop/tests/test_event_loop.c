/*
 * test_event_loop.c: black-box tests of ./event-loop.
 *
 *   make test          (or: make && ./build/test_event_loop, from the chapter)
 *
 * Each test starts the real program on an ephemeral port (--port 0), waits
 * for its `listening on` line, talks to it over TCP like a reader's client
 * would, and stops it with SIGTERM, expecting a clean exit 0. Nothing
 * sleeps to synchronise: the tests wait for lines, with timeouts. Where a
 * delay is the point (busy), it is asserted as a generous lower bound or as
 * an order of events, never as a speed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "testkit.h"

#define T 5000 /* ms: the usual wait for a line */

struct server {
    tk_proc *p;
    int port;
};

/* Every program a test starts goes through started(), which fails the test
 * if it could not start. testkit frees whatever a test started when the
 * test ends, even when it fails halfway (cmocka then jumps out of the test
 * function, past its own cleanup). */
static tk_proc *started(tk_proc *p)
{
    assert_non_null(p);
    return p;
}

/* Start ./event-loop with extra arguments (NULL-terminated) and env. */
static struct server start(const char *const *extra, const char *const *env)
{
    const char *argv[32] = {"./event-loop", "--port", "0"};
    int n = 3;
    for (int i = 0; extra && extra[i]; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    struct server s;
    s.p = started(tk_start(argv, env));
    s.port = tk_wait_listening(s.p, 10000);
    if (s.port <= 0)
        fail_msg("no listening line; output:\n%s", s.p->out);
    return s;
}

/* SIGTERM must stop the server gracefully: exit status 0. */
static void stop(struct server *s)
{
    int status = tk_stop(s->p, SIGTERM, 10000);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        fail_msg("server did not exit 0 on SIGTERM (status %d); output:\n%s", status,
                 s->p->out);
    assert_non_null(strstr(s->p->out, "stopping:"));
    tk_free(s->p);
    s->p = NULL;
}

static int conn(const struct server *s)
{
    int fd = tk_connect("127.0.0.1", s->port, T);
    assert_true(fd >= 0);
    return fd;
}

/* Send one line and return the reply line (static buffer). */
static const char *ask(int fd, const char *line)
{
    static char buf[1024];
    assert_int_equal(tk_send_str(fd, line), 0);
    assert_int_equal(tk_send_str(fd, "\n"), 0);
    int n = tk_read_line(fd, buf, sizeof buf, 20000);
    if (n < 0)
        fail_msg("no reply to \"%s\"", line);
    return buf;
}

static void expect_echo(int fd, pid_t pid, const char *line)
{
    char want[512];
    snprintf(want, sizeof want, "pid %ld: %s", (long)pid, line);
    assert_string_equal(ask(fd, line), want);
}

static void raise_nofile(long want)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= (rlim_t)want
                          ? (rlim_t)want
                          : rl.rlim_max;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
}

static long nofile_soft(void)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur == RLIM_INFINITY ? 1L << 20 : (long)rl.rlim_cur;
}

/* ---------------------------------------------------------------------- */

/* Echo, busy's error lines and stats, on every backend, chosen both by
 * flag and by LOOP_BACKEND. */
static void test_echo_every_backend(void **state)
{
    (void)state;
    const char *by_flag[][3] = {{"--backend", "select", NULL},
                                {"--backend", "poll", NULL},
#ifdef __linux__
                                {"--backend", "epoll", NULL},
#endif
                                {NULL}};
    const char *by_env[][2] = {{"LOOP_BACKEND=poll", NULL},
#ifdef __linux__
                               {"LOOP_BACKEND=epoll", NULL},
#endif
                               {"LOOP_BACKEND", NULL}};
    int runs = (int)(sizeof by_flag / sizeof by_flag[0]) - 1;
    int envs = (int)(sizeof by_env / sizeof by_env[0]);
    for (int i = 0; i < runs + envs; i++) {
        const char *const *extra = i < runs ? by_flag[i] : NULL;
        const char *const *env = i < runs ? NULL : by_env[i - runs];
        struct server s = start(extra, env);
        const char *backend = i < runs ? by_flag[i][1]
                              : strcmp(by_env[i - runs][0], "LOOP_BACKEND") == 0
                                  ? "select"
                                  : strchr(by_env[i - runs][0], '=') + 1;
        int fd = conn(&s);
        expect_echo(fd, s.p->pid, "hello");
        expect_echo(fd, s.p->pid, "");
        expect_echo(fd, s.p->pid, "two  spaces and a tab\t");
        assert_true(strncmp(ask(fd, "busy abc"), "error: busy wants", 17) == 0);
        assert_true(strncmp(ask(fd, "busy -5"), "error: busy wants", 17) == 0);
        expect_echo(fd, s.p->pid, "still served after an error");
        char want[128];
        snprintf(want, sizeof want, "stats mode=loop backend=%s conns=1 threads=1 ",
                 backend);
        const char *st = ask(fd, "stats");
        if (strncmp(st, want, strlen(want)) != 0)
            fail_msg("stats: got \"%s\", want it to start with \"%s\"", st, want);
        close(fd);
        stop(&s);
    }
}

/* 200 clients at once, each with several lines in flight: every client
 * gets its own replies, in order, and nobody else's. */
static void test_200_clients(void **state)
{
    (void)state;
    enum { N = 200, M = 5 };
    raise_nofile(N + 64);
    struct server s = start(NULL, NULL);
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = conn(&s);
    /* Everyone sends all their lines before anyone reads. */
    for (int k = 0; k < M; k++)
        for (int i = 0; i < N; i++) {
            char line[64];
            snprintf(line, sizeof line, "client %d line %d\n", i, k);
            assert_int_equal(tk_send_str(fds[i], line), 0);
        }
    for (int i = 0; i < N; i++)
        for (int k = 0; k < M; k++) {
            char got[128], want[128];
            assert_true(tk_read_line(fds[i], got, sizeof got, T) > 0);
            snprintf(want, sizeof want, "pid %ld: client %d line %d", (long)s.p->pid, i,
                     k);
            assert_string_equal(got, want);
        }
    const char *st = ask(fds[0], "stats");
    assert_non_null(strstr(st, "conns=200 "));
    for (int i = 0; i < N; i++)
        close(fds[i]);
    stop(&s);
}

static double ms_since(long long t0)
{
    return (double)(tk_now_ms() - t0);
}

/* Client A asks for busy; client B's ping then waits for the loop, and the
 * tick line reports the stall. */
static void test_busy_blocks_the_loop(void **state)
{
    (void)state;
    const char *extra[] = {"--tick", "100", NULL};
    struct server s = start(extra, NULL);
    int a = conn(&s), b = conn(&s);
    expect_echo(b, s.p->pid, "warm up");
    assert_int_equal(tk_send_str(a, "busy 1000\n"), 0);
    /* The server logs before it starts burning: now B's line can only be
     * read once the busy request is done. */
    assert_non_null(tk_wait_output(s.p, "busy 1000: the loop is blocked", T));
    long long t0 = tk_now_ms();
    expect_echo(b, s.p->pid, "ping");
    double waited = ms_since(t0);
    print_message("ping during busy 1000 took %.0f ms\n", waited);
    assert_true(waited >= 500); /* most of the second, whatever the load */
    char got[128], want[128];
    assert_true(tk_read_line(a, got, sizeof got, T) > 0);
    snprintf(want, sizeof want, "pid %ld: busy 1000 ms done", (long)s.p->pid);
    assert_string_equal(got, want);
    /* The 100 ms tick could not run either, and says so. */
    assert_non_null(tk_wait_output(s.p, "the loop was blocked", T));
    close(a);
    close(b);
    stop(&s);
}

/* --threads: the same protocol; busy occupies only its own client's thread,
 * so B is answered while A is still busy. */
static void test_threads_same_protocol(void **state)
{
    (void)state;
    const char *extra[] = {"--threads", NULL};
    struct server s = start(extra, NULL);
    int a = conn(&s), b = conn(&s);
    expect_echo(a, s.p->pid, "hello");
    expect_echo(b, s.p->pid, "");
    assert_true(strncmp(ask(a, "busy x"), "error: busy wants", 17) == 0);
    const char *st = ask(b, "stats");
    long conns = -1, threads = -1;
    const char *p = strstr(st, "conns=");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "conns=%ld threads=%ld", &conns, &threads), 2);
    assert_true(strncmp(st, "stats mode=threads ", 19) == 0);
    assert_int_equal(conns, 2);
#ifdef __linux__
    assert_int_equal(threads, 3); /* main + one per client */
#endif

    assert_int_equal(tk_send_str(a, "busy 2000\n"), 0);
    assert_non_null(tk_wait_output(s.p, "busy 2000: only this client's thread", T));
    expect_echo(b, s.p->pid, "ping");
    /* B has its answer; A's busy request is still running. */
    struct pollfd pf = {.fd = a, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 0), 0);
    char got[128];
    assert_true(tk_read_line(a, got, sizeof got, T) > 0);
    assert_non_null(strstr(got, "busy 2000 ms done"));

    /* Many clients at once, as with the loop. */
    enum { N = 50 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = conn(&s);
        char line[32];
        snprintf(line, sizeof line, "t%d\n", i);
        assert_int_equal(tk_send_str(fds[i], line), 0);
    }
    for (int i = 0; i < N; i++) {
        char want[64];
        snprintf(want, sizeof want, "pid %ld: t%d", (long)s.p->pid, i);
        assert_true(tk_read_line(fds[i], got, sizeof got, T) > 0);
        assert_string_equal(got, want);
        close(fds[i]);
    }
    close(a);
    close(b);
    stop(&s);
}

/* select cannot watch fd >= FD_SETSIZE: such connections get an error line
 * and are closed, the reason is logged, and everyone else is still served. */
static void test_fd_setsize_refusal(void **state)
{
    (void)state;
    enum { N = FD_SETSIZE + 60 };
    raise_nofile(N + 200);
    if (nofile_soft() < N + 100)
        skip(); /* the hard RLIMIT_NOFILE is too low to reach FD_SETSIZE */
    const char *extra[] = {"--backend", "select", "--max-fds", "max",
                           "--tick",    "0",      NULL};
    struct server s = start(extra, NULL);
    static int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = conn(&s);
    int served = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        char got[256];
        assert_int_equal(tk_send_str(fds[i], "hi\n"), 0);
        int n = tk_read_line(fds[i], got, sizeof got, T);
        if (n < 0)
            fail_msg("connection %d: no reply at all", i);
        if (strncmp(got, "pid ", 4) == 0)
            served++;
        else if (strstr(got,
                        "error: server cannot serve this connection: select() cannot "
                        "watch fd") == got)
            refused++;
        else
            fail_msg("connection %d: unexpected reply \"%s\"", i, got);
    }
    print_message("select: %d served, %d refused\n", served, refused);
    assert_true(refused > 0);
    assert_true(served > FD_SETSIZE - 64);
    assert_non_null(tk_wait_output(s.p, "refused a connection", T));
    /* The first clients are still served after the wall was hit. */
    expect_echo(fds[0], s.p->pid, "after the wall");
    expect_echo(fds[served / 2], s.p->pid, "after the wall");
    for (int i = 0; i < N; i++)
        close(fds[i]);
    stop(&s);
}

/* Out of fds: accept(2) fails with EMFILE while clients wait in the
 * backlog. The server must not spin, and must serve them once fds free up:
 * the loop resumes when a connection closes, --threads when its retry
 * timer fires. */
static void no_emfile_spin(const char *mode)
{
    enum { N = 60 };
    const char *extra[] = {"--max-fds", "40", "--tick", "0", mode, NULL};
    struct server s = start(extra, NULL);
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = conn(&s); /* the kernel completes the handshake for the backlog */
        char line[32];
        snprintf(line, sizeof line, "c%d\n", i);
        assert_int_equal(tk_send_str(fds[i], line), 0);
    }
    const char *hit = tk_wait_output(s.p, "pausing accept", T);
    assert_non_null(hit);
    const char *open_at = strstr(hit, "(");
    assert_non_null(open_at);
    int open = atoi(open_at + 1);
    print_message("served %d before running out of fds\n", open);
    assert_true(open > 10 && open < N - 10);
    /* The first `open` clients are served... */
    for (int i = 0; i < open; i++) {
        char got[64], want[64];
        snprintf(want, sizeof want, "pid %ld: c%d", (long)s.p->pid, i);
        assert_true(tk_read_line(fds[i], got, sizeof got, T) > 0);
        assert_string_equal(got, want);
    }
    /* ...the rest wait, and the server does not burn CPU meanwhile: a
     * spinning accept loop would use nearly all of the second. */
    long cpu0 = tk_cpu_ms(s.p->pid);
    /* A one-second measurement window that keeps reading the server's
     * output, so a server that logs in a loop cannot stall on a full pipe
     * (and look idle). The needle is never printed. */
    tk_wait_output(s.p, "(this text is never printed)", 1000);
    long cpu1 = tk_cpu_ms(s.p->pid);
    print_message("server CPU while out of fds: %ld ms in 1 s\n", cpu1 - cpu0);
    assert_true(cpu1 - cpu0 < 150);
    struct pollfd pf = {.fd = fds[open], .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 0), 0);
    /* A served client can still ask for stats: the server reads them
     * without needing a new fd. */
    const char *st = ask(fds[open - 1], "stats");
    assert_null(strstr(st, "=-1"));
    /* Free ten fds: ten waiting clients are served. */
    for (int i = 0; i < 10; i++)
        close(fds[i]);
    for (int i = open; i < open + 10; i++) {
        char got[64], want[64];
        snprintf(want, sizeof want, "pid %ld: c%d", (long)s.p->pid, i);
        if (tk_read_line(fds[i], got, sizeof got, T) <= 0)
            fail_msg("waiting client %d was not served after fds were freed", i);
        assert_string_equal(got, want);
    }
    for (int i = 10; i < N; i++)
        close(fds[i]);
    stop(&s);
}

static void test_no_emfile_spin(void **state)
{
    (void)state;
    no_emfile_spin(NULL);
    no_emfile_spin("--threads");
}

/* A line over 64 KiB: an error line, then the connection is closed; other
 * clients carry on. A line of exactly 64 KiB is fine. Both modes. */
static void too_long_line(const char *const *extra)
{
    struct server s = start(extra, NULL);
    int other = conn(&s);
    int fd = conn(&s);
    size_t max = 65536;
    char *big = malloc(max + 16);
    char *got = malloc(max + 128);
    assert_non_null(big);
    assert_non_null(got);
    memset(big, 'a', max);
    big[max] = '\n';
    assert_int_equal(tk_send(fd, big, max + 1), 0);
    int n = tk_read_line(fd, got, max + 128, T);
    assert_int_equal(n, (int)(max + strlen("pid : ")) +
                            snprintf(NULL, 0, "%ld", (long)s.p->pid));

    big[max] = 'a';
    big[max + 1] = '\n';
    tk_send(fd, big, max + 2); /* may fail part-way: the server hangs up */
    assert_true(tk_read_line(fd, got, max + 128, T) > 0);
    assert_string_equal(got, "error: line longer than 65536 bytes, closing");
    assert_true(tk_read_all(fd, got, 64, T) == 0); /* then EOF */
    assert_non_null(tk_wait_output(s.p, "line longer than 65536 bytes, closing", T));
    expect_echo(other, s.p->pid, "unaffected");
    free(big);
    free(got);
    close(fd);
    close(other);
    stop(&s);
}

static void test_too_long_line(void **state)
{
    (void)state;
    too_long_line(NULL);
    const char *threads[] = {"--threads", NULL};
    too_long_line(threads);
}

/* A client that floods requests without reading and then vanishes with a
 * reset: logged, and nobody else notices. */
static void test_vanished_client(void **state)
{
    (void)state;
    struct server s = start(NULL, NULL);
    int other = conn(&s);
    int fd = conn(&s);
    char line[200];
    memset(line, 'v', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    /* Enough requests that replies pile up unread on both sides. */
    for (int i = 0; i < 2000; i++)
        if (send(fd, line, sizeof line, MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
            break;
    struct linger lg = {1, 0}; /* close(2) now sends a reset */
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(fd);
    assert_non_null(tk_wait_output(s.p, "client vanished", T));
    expect_echo(other, s.p->pid, "unaffected");
    close(other);
    stop(&s);
}

/* A client that sends and never reads: once 1 MiB of replies waits for it,
 * the server stops reading from it (backpressure), so the client's sends
 * block instead of growing the server's memory without end. Then that
 * client vanishes in the middle of the server's write. */
static void test_backpressure(void **state)
{
    (void)state;
    struct server s = start(NULL, NULL);
    int other = conn(&s);
    int fd = conn(&s);
    char line[100];
    memset(line, 'b', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    char chunk[100 * 100];
    for (size_t i = 0; i < sizeof chunk; i += sizeof line)
        memcpy(chunk + i, line, sizeof line);
    long long sent = 0, limit = 64LL << 20;
    int paused = 0;
    long long deadline = tk_now_ms() + 20000;
    /* Send until the server says it holds 1 MiB of replies for this client
     * and has stopped reading from it. */
    while (!paused && sent < limit && tk_now_ms() < deadline) {
        ssize_t n = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += n;
            continue;
        }
        assert_true(n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK));
        /* Full for now: the server has paused us, or it will read soon. */
        paused = tk_wait_output(s.p, "pausing its input until they drain", 100) != NULL;
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        poll(&pf, 1, 100);
    }
    print_message("the server paused this client after %lld KiB\n", sent >> 10);
    assert_true(paused);
    /* And it really stopped reading: once the kernel's buffers between us
     * are full, no room comes back for a whole second (the kernel may still
     * shuffle a little, so a few refills are allowed; a server that still
     * read would take all 64 MiB). */
    int blocked = 0;
    while (!blocked && sent < limit && tk_now_ms() < deadline) {
        ssize_t n = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += n;
            continue;
        }
        assert_true(n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK));
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        blocked = poll(&pf, 1, 1000) == 0;
    }
    print_message("the server stopped reading after %lld KiB\n", sent >> 10);
    assert_true(blocked);
    const char *st = ask(other, "stats");
    long rss = -1;
    const char *p = strstr(st, "rss_kib=");
    assert_non_null(p);
    rss = atol(p + 8);
#ifdef __linux__
    print_message("server RSS %ld KiB\n", rss);
    /* Far below the 64 MiB of replies an unthrottled server would queue;
     * generous, because a sanitizer build keeps freed memory for a while. */
    assert_true(rss > 0 && rss < 48 * 1024);
#endif
    expect_echo(other, s.p->pid, "unaffected");

    /* Now the client vanishes while the server still holds 1 MiB of its
     * replies: the write fails, and that costs this connection only. */
    struct linger lg = {1, 0}; /* close(2) now sends a reset */
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(fd);
    assert_non_null(tk_wait_output(s.p, "client vanished mid-write", T));
    expect_echo(other, s.p->pid, "still unaffected");
    close(other);
    stop(&s);
}

/* Ctrl-C (SIGINT) stops the server as gracefully as SIGTERM: it closes the
 * open connections (the client reads EOF), prints its summary and exits 0.
 * Both modes. */
static void test_sigint_stops_gracefully(void **state)
{
    (void)state;
    const char *modes[][2] = {{NULL}, {"--threads", NULL}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        struct server s = start(modes[i], NULL);
        int fd = conn(&s);
        expect_echo(fd, s.p->pid, "about to stop");
        int status = tk_stop(s.p, SIGINT, 10000);
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
            fail_msg("server did not exit 0 on SIGINT (status %d); output:\n%s", status,
                     s.p->out);
        assert_non_null(strstr(s.p->out, "stopping: 1 connections open, 1 accepted"));
        char rest[64];
        assert_int_equal(tk_read_all(fd, rest, sizeof rest, T), 0); /* EOF */
        close(fd);
        tk_free(s.p);
    }
}

/* A port in use: exit 1, naming the port. */
static void test_port_in_use(void **state)
{
    (void)state;
    struct server s = start(NULL, NULL);
    char port[16];
    snprintf(port, sizeof port, "%d", s.port);
    tk_proc *second =
        started(tk_start((const char *[]){"./event-loop", "--port", port, NULL}, NULL));
    int status = tk_wait_exit(second, T);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    char want[160];
    snprintf(want, sizeof want, "port %s: %s", port, tk_strerror(EADDRINUSE));
    if (strstr(second->out, want) == NULL)
        fail_msg("want \"%s\" in:\n%s", want, second->out);
    tk_free(second);
    stop(&s);
}

static void test_usage(void **state)
{
    (void)state;
    tk_proc *p =
        started(tk_start((const char *[]){"./event-loop", "--help", NULL}, NULL));
    int status = tk_wait_exit(p, T);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_non_null(strstr(p->out, "usage: event-loop"));
    tk_free(p);
    /* Each bad argument is named, with its value, above the usage. */
    const char *bad[][4] = {{"./event-loop", "--bogus", NULL},
                            {"./event-loop", "--backend", "kqueue", NULL},
                            {"./event-loop", "--port", "70000", NULL},
                            {"./event-loop", "--max-fds", NULL},
                            {"./event-loop", "load", "--conns", NULL}};
    const char *why[] = {"bad argument: --bogus", "bad value for --backend: kqueue",
                         "bad value for --port: 70000", "--max-fds needs a value",
                         "--conns needs a value"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = started(tk_start(bad[i], NULL));
        status = tk_wait_exit(p, T);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 2);
        assert_non_null(strstr(p->out, "usage:"));
        if (strstr(p->out, why[i]) == NULL)
            fail_msg("want \"%s\" in:\n%s", why[i], p->out);
        tk_free(p);
    }
}

/* Every bad value is named once, with the flag or variable it came from, and
 * the program exits 2: flags, the environment, and the two subcommands. The
 * host "bad host!" is refused by the resolver itself, so no DNS query leaves
 * the machine. */
static void test_bad_values_named(void **state)
{
    (void)state;
    tk_expect_bad_value((const char *[]){"./event-loop", "--port", "abc", NULL}, NULL,
                        "--port", "abc");
    tk_expect_bad_value((const char *[]){"./event-loop", NULL},
                        (const char *[]){"PORT=7x", NULL}, "PORT", "7x");
    tk_expect_bad_value((const char *[]){"./event-loop", "--host", "bad host!", NULL},
                        NULL, "--host", "bad host!");
    tk_expect_bad_value((const char *[]){"./event-loop", NULL},
                        (const char *[]){"HOST=bad host!", NULL}, "HOST", "bad host!");
    tk_expect_bad_value((const char *[]){"./event-loop", "load", "--conns", "-5", NULL},
                        NULL, "--conns", "-5");
    tk_expect_bad_value(
        (const char *[]){"./event-loop", "client", "--count", "x", "ping", NULL}, NULL,
        "--count", "x");
    tk_expect_bad_value((const char *[]){"./event-loop", "client", "ping", NULL},
                        (const char *[]){"PORT=99999", NULL}, "PORT", "99999");
}

/* The built-in load client: N connections, M pings each, the percentiles
 * and the server's stats; and the one-shot client. */
static void test_load_and_client(void **state)
{
    (void)state;
    const char *extra[] = {"--backend", "poll", NULL};
    struct server s = start(extra, NULL);
    char port[16];
    snprintf(port, sizeof port, "%d", s.port);
    tk_proc *l = started(tk_start((const char *[]){"./event-loop", "load", "--port", port,
                                                   "--conns", "100", "--msgs", "5", NULL},
                                  NULL));
    int status = tk_wait_exit(l, 30000);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        fail_msg("load failed:\n%s", l->out);
    assert_non_null(strstr(l->out, "100 asked, 100 served, 0 refused, 0 failed"));
    assert_non_null(strstr(l->out, "round trips: 500 in"));
    assert_non_null(strstr(l->out, "p99"));
    /* the stats were taken with all 100 connections open, plus its own */
    assert_non_null(strstr(l->out, "server: stats mode=loop backend=poll conns=101 "));
    tk_free(l);

    tk_proc *c = started(tk_start((const char *[]){"./event-loop", "client", "--port",
                                                   port, "hello", "busy 10", NULL},
                                  NULL));
    status = tk_wait_exit(c, T);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char want[64];
    snprintf(want, sizeof want, " ms  pid %ld: hello\n", (long)s.p->pid);
    assert_non_null(strstr(c->out, want));
    assert_non_null(strstr(c->out, "busy 10 ms done"));
    tk_free(c);
    stop(&s);
}

/* thread-limit: the threads it asked for are created, each costs the maps
 * the chapter's arithmetic uses (a stack and its guard page), and with the
 * map table filled up to a few spare maps, creation stops at the map limit
 * (vm.max_map_count) with the error named, long before the --limit. */
static void test_thread_limit(void **state)
{
    (void)state;
    tk_proc *p = started(tk_start(
        (const char *[]){"./event-loop", "thread-limit", "--limit", "50", NULL}, NULL));
    int status = tk_wait_exit(p, 30000);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        fail_msg("thread-limit failed:\n%s", p->out);
    assert_non_null(strstr(p->out, "created 50 threads (the --limit)"));
    assert_non_null(strstr(p->out, "kernel.pid_max"));
    const char *m = strstr(p->out, "after: ");
    assert_non_null(m);
    double per = strtod(m + strlen("after: "), NULL);
    if (per < 2.0)
        fail_msg("want at least 2 maps per thread (stack + guard):\n%s", p->out);
    tk_free(p);

    p = started(tk_start((const char *[]){"./event-loop", "thread-limit", "--limit",
                                          "5000", "--spare-maps", "200", NULL},
                         NULL));
    status = tk_wait_exit(p, 30000);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        fail_msg("thread-limit --spare-maps failed:\n%s", p->out);
    if (strstr(p->out, "not run under AddressSanitizer") != NULL) {
        tk_free(p); /* `make check`: the sanitizer cannot run out of maps */
        goto bad_values;
    }
    const char *c = strstr(p->out, "created ");
    assert_non_null(c);
    long made = strtol(c + strlen("created "), NULL, 10);
    /* 200 spare maps hold 100 threads at 2 maps each, and one more at most:
     * mmap refuses only once the count is already over vm.max_map_count, so
     * the libc's order of mmap and mprotect decides whether the 101st fits
     * (glibc stops at 100, musl at 101). */
    if (made > 101 || strstr(p->out, "then pthread_create failed: ") == NULL)
        fail_msg("want creation to stop at the map limit:\n%s", p->out);
    tk_free(p);

bad_values:
    tk_expect_bad_value(
        (const char *[]){"./event-loop", "thread-limit", "--limit", "0", NULL}, NULL,
        "--limit", "0");
    tk_expect_bad_value(
        (const char *[]){"./event-loop", "thread-limit", "--spare-maps", "x", NULL}, NULL,
        "--spare-maps", "x");
}

/* switch-cost: both ping-pong runs report a positive time per hand-over. */
static void test_switch_cost(void **state)
{
    (void)state;
    tk_proc *p = started(tk_start(
        (const char *[]){"./event-loop", "switch-cost", "--rounds", "2000", NULL}, NULL));
    int status = tk_wait_exit(p, 30000);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        fail_msg("switch-cost failed:\n%s", p->out);
    const char *a = strstr(p->out, "any CPU:  ");
    assert_non_null(a);
    assert_true(strtod(a + strlen("any CPU:  "), NULL) > 0);
    assert_non_null(strstr(p->out, "one CPU:  "));
    assert_non_null(strstr(p->out, "(2000 round trips)"));
    tk_free(p);
    tk_expect_bad_value(
        (const char *[]){"./event-loop", "switch-cost", "--rounds", "-1", NULL}, NULL,
        "--rounds", "-1");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_every_backend),
        cmocka_unit_test(test_200_clients),
        cmocka_unit_test(test_busy_blocks_the_loop),
        cmocka_unit_test(test_threads_same_protocol),
        cmocka_unit_test(test_fd_setsize_refusal),
        cmocka_unit_test(test_no_emfile_spin),
        cmocka_unit_test(test_too_long_line),
        cmocka_unit_test(test_vanished_client),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_sigint_stops_gracefully),
        cmocka_unit_test(test_port_in_use),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_bad_values_named),
        cmocka_unit_test(test_load_and_client),
        cmocka_unit_test(test_thread_limit),
        cmocka_unit_test(test_switch_cost),
    };
    return cmocka_run_group_tests_name("event-loop", tests, NULL, NULL);
}
