/*
 * test_handle_passing.c: black-box tests of ./handle-passing and its worker.
 *
 * Each test runs the real programs, as a reader would, and checks what the
 * chapter promises:
 *   - the workers hold the master's socket under other fd numbers, and it is
 *     the same socket (the same socket:[inode] in /proc/PID/fd);
 *   - after the handoff the master holds no fd for it, yet a second bind on
 *     the port still fails: the socket lives on in the workers;
 *   - several pids answer on one port, and the built-in client says so;
 *   - a worker killed with SIGKILL does not stop the others serving;
 *   - a worker out of fds pauses accepting instead of spinning, and serves
 *     the waiting client once fds are available again;
 *   - SIGTERM stops everything with status 0 and leaves no process behind;
 *   - fd numbers in a worker's report that are no fd (1e300, -1, 1.5) are
 *     refused and logged, never cast.
 *
 *   make test        (or: build/test_handle_passing, from the chapter dir)
 */
/* prlimit(2), to lower a running worker's fd limit from outside, is a
 * Linux call that glibc declares only under _GNU_SOURCE. */
#ifdef __linux__
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "net.h" /* 01-event-loop */
#include "testkit.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 10000 /* generous: a loaded 2-core machine */

typedef struct {
    tk_proc *p;
    int port;
    int master_fd;
    char socket_id[64]; /* "socket:[16054]" */
    int nworkers;
    int pids[8];
    int fds[8];
} run_t;

/* Wait until needle has appeared n times in everything p printed. */
static int wait_count(tk_proc *p, const char *needle, int n)
{
    long long deadline = tk_now_ms() + WAIT_MS;
    while (tk_count_output(p, needle) < n && tk_now_ms() < deadline)
        tk_wait_output(p, "\n", 20); /* read whatever comes, briefly */
    return tk_count_output(p, needle);
}

/* Start the master with n workers (and flag, -u or NULL) and wait until the
 * handoff is complete; collect what it and its workers printed about the
 * server. */
static void start_with(run_t *r, int n, const char *flag)
{
    char nbuf[8];
    snprintf(nbuf, sizeof nbuf, "%d", n);
    memset(r, 0, sizeof *r);
    r->p =
        tk_start((const char *[]){"./handle-passing", "-p", "0", "-w", nbuf, flag, NULL},
                 (const char *[]){"NODE_CHANNEL_FD", "PORT", "HOST", NULL});
    assert_non_null(r->p);
    r->port = tk_wait_listening(r->p, WAIT_MS);
    assert_true(r->port > 0);
    const char *line = tk_wait_output(r->p, "the server is fd ", WAIT_MS);
    assert_non_null(line);
    assert_int_equal(
        sscanf(line, "the server is fd %d -> %63s", &r->master_fd, r->socket_id), 2);
    assert_non_null(tk_wait_output(r->p, "handoff complete", WAIT_MS));
    /* The worker lines may come before or after the master's; wait until
     * every worker has spoken. */
    assert_int_equal(wait_count(r->p, "got the server as fd", n), n);
    const char *s = r->p->out;
    while ((s = strstr(s, "[worker ")) != NULL && r->nworkers < n) {
        int pid, fd;
        char id[64];
        if (sscanf(s, "[worker %d] got the server as fd %d -> %63s", &pid, &fd, id) ==
            3) {
            assert_string_equal(id, r->socket_id);
            r->pids[r->nworkers] = pid;
            r->fds[r->nworkers] = fd;
            r->nworkers++;
        }
        s++;
    }
    assert_int_equal(r->nworkers, n);
}

static void start(run_t *r, int n)
{
    start_with(r, n, NULL);
}

static void stop(run_t *r)
{
    int status = tk_stop(r->p, SIGTERM, WAIT_MS);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    tk_free(r->p);
}

/* The fd numbers in process pid whose /proc link reads `id`. Returns how
 * many, and stores the first in *first. */
static int fds_in_proc(int pid, const char *id, int *first)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[320], link[128];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n < 0)
            continue;
        link[n] = '\0';
        if (strcmp(link, id) == 0) {
            if (count++ == 0 && first != NULL)
                *first = atoi(e->d_name);
        }
    }
    closedir(d);
    return count;
}

/* Connect once and return the pid in "child data, pid N", or -1. */
static int ask_pid(int port)
{
    int fd = tk_connect("127.0.0.1", port, WAIT_MS);
    if (fd == -1)
        return -1;
    char buf[128];
    ssize_t n = tk_read_all(fd, buf, sizeof buf, WAIT_MS);
    close(fd);
    int pid;
    if (n <= 0 || sscanf(buf, "child data, pid %d\n", &pid) != 1)
        return -1;
    return pid;
}

static int is_worker(const run_t *r, int pid)
{
    for (int i = 0; i < r->nworkers; i++)
        if (r->pids[i] == pid)
            return 1;
    return 0;
}

/* FACTS 15-16: other fd numbers, the same socket. Checked from outside, in
 * /proc, not only from what the programs print. */
static void test_fd_numbers_differ_socket_is_same(void **state)
{
    (void)state;
    run_t r;
    start(&r, 3);
    for (int i = 0; i < r.nworkers; i++) {
        int fd = -1;
        assert_int_equal(fds_in_proc(r.pids[i], r.socket_id, &fd), 1);
        assert_int_equal(fd, r.fds[i]);
        assert_int_not_equal(fd, r.master_fd);
        /* and the worker is a child of the master */
        pid_t kids[8];
        int nk = tk_list_children(r.p->pid, kids, 8);
        int found = 0;
        for (int k = 0; k < nk; k++)
            found |= kids[k] == r.pids[i];
        assert_true(found);
    }
    assert_int_equal(wait_count(r.p, "another fd number, the same socket", 3), 3);
    stop(&r);
}

/* The post's server.close(): once every worker has acknowledged, the master
 * holds no fd for the socket. The socket is alive all the same: a second
 * socket still cannot bind the port (EADDRINUSE), and clients are served. */
static void test_master_keeps_no_copy(void **state)
{
    (void)state;
    run_t r;
    start(&r, 2);
    assert_non_null(strstr(r.p->out, "the master holds 0 fds for it"));
    assert_int_equal(fds_in_proc(r.p->pid, r.socket_id, NULL), 0);

    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r.port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    errno = 0;
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), -1);
    assert_int_equal(errno, EADDRINUSE);
    close(s);

    assert_true(is_worker(&r, ask_pid(r.port)));
    stop(&r);
}

/* Several processes answer on one port. Which worker wins a given accept
 * is the scheduler's choice (chapter 07 measures it), and on an idle machine
 * one worker may well win every time. So make it certain: freeze all the
 * workers but one with SIGSTOP; a frozen process cannot accept, so the one
 * left must answer, on the same port. Do that for each worker in turn. */
static void freeze_all_but(const run_t *r, int keep, int sig)
{
    for (int i = 0; i < r->nworkers; i++)
        if (i != keep)
            assert_int_equal(kill(r->pids[i], sig), 0);
}

static void test_several_pids_one_port(void **state)
{
    (void)state;
    run_t r;
    start(&r, 3);
    for (int i = 0; i < r.nworkers; i++) {
        freeze_all_but(&r, i, SIGSTOP);
        int pid = ask_pid(r.port);
        freeze_all_but(&r, i, SIGCONT);
        assert_int_equal(pid, r.pids[i]);
    }

    /* The built-in client: 10 connections, each answered. */
    char port[16];
    snprintf(port, sizeof port, "%d", r.port);
    tk_proc *c =
        tk_start((const char *[]){"./handle-passing", "client", "-p", port, NULL}, NULL);
    assert_non_null(c);
    int status = tk_wait_exit(c, WAIT_MS);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(tk_count_output(c, "child data, pid "), 10);
    assert_non_null(strstr(c->out, "10 connections served by "));
    tk_free(c);
    stop(&r);
}

/* Run `handle-passing client -u -p PORT -n N`; its output, which the caller
 * frees with tk_free. */
static tk_proc *udp_client(int port, const char *n)
{
    char pbuf[16];
    snprintf(pbuf, sizeof pbuf, "%d", port);
    tk_proc *c = tk_start(
        (const char *[]){"./handle-passing", "client", "-u", "-p", pbuf, "-n", n, NULL},
        NULL);
    assert_non_null(c);
    int status = tk_wait_exit(c, WAIT_MS);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    return c;
}

/* -u: one UDP socket, sent as a dgram.Socket to every worker. Each
 * datagram is read by one of them: with all but worker i stopped, worker i
 * answers; with all running, every datagram is answered once. */
static void test_udp_socket_shared(void **state)
{
    (void)state;
    run_t r;
    start_with(&r, 3, "-u");
    assert_int_equal(tk_count_output(r.p, "(dgram.Socket, udp4)"), 3);
    for (int i = 0; i < r.nworkers; i++) {
        freeze_all_but(&r, i, SIGSTOP);
        tk_proc *c = udp_client(r.port, "1");
        freeze_all_but(&r, i, SIGCONT);
        char want[64];
        snprintf(want, sizeof want, "child data, pid %d", r.pids[i]);
        assert_non_null(strstr(c->out, want));
        tk_free(c);
    }
    tk_proc *c = udp_client(r.port, "20");
    assert_int_equal(tk_count_output(c, "child data, pid "), 20);
    assert_non_null(strstr(c->out, "20 datagrams served by "));
    tk_free(c);
    stop(&r);
}

#ifdef __linux__
/* One datagram from fd (a connected UDP socket); the pid that answered, or
 * -1 if no answer came. */
static int udp_ask_pid(int fd)
{
    char buf[256];
    if (send(fd, "hello\n", 6, 0) != 6)
        return -1;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    if (poll(&pf, 1, WAIT_MS) != 1)
        return -1;
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *p = strstr(buf, "pid ");
    return p != NULL ? atoi(p + 4) : -1;
}

/* -u --reuseport: a UDP socket per worker, all on one port. The kernel
 * picks the socket by a hash of the sender's address and port: datagrams
 * from many source ports (the client opens a socket per datagram) reach
 * more than one worker, and every datagram from one source port reaches
 * the same worker. */
static void test_udp_reuseport(void **state)
{
    (void)state;
    tk_proc *m = tk_start((const char *[]){"./handle-passing", "-p", "0", "-w", "3", "-u",
                                           "--reuseport", NULL},
                          (const char *[]){"NODE_CHANNEL_FD", "PORT", "HOST", NULL});
    assert_non_null(m);
    int port = tk_wait_listening(m, WAIT_MS);
    assert_true(port > 0);
    assert_non_null(tk_wait_output(m, "handoff complete", WAIT_MS));
    assert_int_equal(wait_count(m, "its own socket on the same port (--reuseport)", 2),
                     2);

    tk_proc *c = udp_client(port, "60");
    assert_int_equal(tk_count_output(c, "child data, pid "), 60);
    assert_non_null(strstr(c->out, "60 datagrams served by "));
    assert_null(strstr(c->out, "served by 1 process:"));
    tk_free(c);

    for (int src = 0; src < 3; src++) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
        int first = udp_ask_pid(fd);
        assert_true(first > 0);
        for (int i = 0; i < 20; i++)
            assert_int_equal(udp_ask_pid(fd), first);
        close(fd);
    }

    int status = tk_stop(m, SIGTERM, WAIT_MS);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    tk_free(m);
}
#endif

/* --rr: the master keeps the listener, accepts, and sends each connection
 * to the next worker in turn, as a net.Socket (Node's child.send('socket',
 * socket)) or with --native as a net.Native (Node's cluster primary in
 * round-robin mode). 30 connections over 3 workers: 10 each, every one
 * answered, in the envelope asked for. Once every worker has acknowledged
 * its connections the master holds no fd for any of them: as many fds as
 * before the clients. */
static void check_round_robin(const char *native, const char *seen)
{
    tk_proc *m = tk_start(
        (const char *[]){"./handle-passing", "-p", "0", "-w", "3", "--rr", native, NULL},
        (const char *[]){"NODE_CHANNEL_FD", "PORT", "HOST", NULL});
    assert_non_null(m);
    int port = tk_wait_listening(m, WAIT_MS);
    assert_true(port > 0);
    assert_non_null(tk_wait_output(m, "the master accepts", WAIT_MS));
    int before = tk_count_fds(m->pid);
    assert_true(before > 0);

    char pbuf[16];
    snprintf(pbuf, sizeof pbuf, "%d", port);
    tk_proc *c = tk_start(
        (const char *[]){"./handle-passing", "client", "-p", pbuf, "-n", "30", NULL},
        NULL);
    assert_non_null(c);
    int status = tk_wait_exit(c, WAIT_MS);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(tk_count_output(c, "child data, pid "), 30);
    const char *line = strstr(c->out, "30 connections served by 3 processes:");
    assert_non_null(line);
    assert_int_equal(tk_count_output(c, " x10"), 3);
    tk_free(c);

    assert_int_equal(wait_count(m, "acknowledged connection", 30), 30);
    assert_int_equal(wait_count(m, seen, 30), 30);
    assert_int_equal(tk_count_fds(m->pid), before);
    int st = tk_stop(m, SIGTERM, WAIT_MS);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    tk_free(m);
}

static void test_round_robin_connections(void **state)
{
    (void)state;
    check_round_robin(NULL, "(net.Socket)");
}

static void test_round_robin_connections_native(void **state)
{
    (void)state;
    check_round_robin("--native", "(net.Native)");
}

#ifdef __linux__
/* The lowest fd number process pid does not use. */
static int lowest_free_fd(int pid)
{
    char path[64];
    for (int fd = 0;; fd++) {
        snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
        if (access(path, F_OK) == -1)
            return fd;
    }
}
#endif

/* --rr: a master out of fds pauses accepting instead of spinning on a
 * listener that stays readable, and serves the waiting client once fds are
 * available again (the worker's test above, for the master). */
static void test_rr_master_out_of_fds_pauses_accept(void **state)
{
    (void)state;
#ifdef __linux__
    tk_proc *m =
        tk_start((const char *[]){"./handle-passing", "-p", "0", "-w", "1", "--rr", NULL},
                 (const char *[]){"NODE_CHANNEL_FD", "PORT", "HOST", NULL});
    assert_non_null(m);
    int port = tk_wait_listening(m, WAIT_MS);
    assert_true(port > 0);
    assert_non_null(tk_wait_output(m, "the master accepts", WAIT_MS));
    struct rlimit old, low;
    assert_int_equal(prlimit(m->pid, RLIMIT_NOFILE, NULL, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)lowest_free_fd(m->pid);
    assert_int_equal(prlimit(m->pid, RLIMIT_NOFILE, &low, NULL), 0);

    int c = tk_connect("127.0.0.1", port, WAIT_MS); /* waits in the backlog */
    assert_true(c >= 0);
    char want[160];
    snprintf(want, sizeof want, "accept: %s", tk_strerror(EMFILE));
    assert_non_null(tk_wait_output(m, want, WAIT_MS));
    long cpu0 = tk_cpu_ms(m->pid);
    assert_null(tk_wait_output(m, tk_strerror(EMFILE), 1000));
    long cpu1 = tk_cpu_ms(m->pid);
    assert_true(cpu0 >= 0 && cpu1 >= 0);
    if (cpu1 - cpu0 > 300)
        fail_msg("master used %ld ms of CPU in 1 s while paused", cpu1 - cpu0);

    assert_int_equal(prlimit(m->pid, RLIMIT_NOFILE, &old, NULL), 0);
    char buf[128];
    ssize_t n = tk_read_all(c, buf, sizeof buf, WAIT_MS);
    close(c);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "child data, pid "));
    int st = tk_stop(m, SIGTERM, WAIT_MS);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    tk_free(m);
#else
    skip(); /* prlimit(2) is Linux-only */
#endif
}

/* A client whose request is still unread when the worker has answered
 * (here: it is sent while the worker is stopped, so it is waiting when the
 * worker accepts) must read the answer and then an end of file. A close()
 * with unread input makes the kernel send a reset instead of a FIN, and
 * the client sees "Connection reset by peer" after the answer, as curl did
 * now and then. */
static void test_answer_ends_in_eof_not_reset(void **state)
{
    (void)state;
    run_t r;
    start(&r, 1);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(kill(r.pids[0], SIGSTOP), 0);
        int fd = tk_connect("127.0.0.1", r.port, WAIT_MS);
        assert_true(fd >= 0);
        assert_int_equal(tk_send_str(fd, "GET / HTTP/1.0\r\nHost: t\r\n\r\n"), 0);
        assert_int_equal(kill(r.pids[0], SIGCONT), 0);
        char buf[256];
        size_t len = 0;
        int reset = 0;
        for (;;) {
            struct pollfd pf = {.fd = fd, .events = POLLIN};
            if (poll(&pf, 1, WAIT_MS) != 1)
                fail_msg("round %d: no answer and no end within %d ms", round, WAIT_MS);
            ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
            if (n == -1 && errno == EINTR)
                continue;
            if (n == -1) {
                reset = errno == ECONNRESET;
                if (!reset)
                    fail_msg("round %d: read: %s", round, strerror(errno));
                break;
            }
            if (n == 0)
                break;
            len += (size_t)n;
        }
        buf[len] = '\0';
        close(fd);
        assert_non_null(strstr(buf, "child data, pid "));
        if (reset)
            fail_msg("round %d: the answer was followed by a reset, not an end of file",
                     round);
    }
    stop(&r);
}

/* One worker killed outright: the master reaps it and reports it; the
 * others go on serving the port, and no connection reaches the dead one. */
static void test_killed_worker_others_serve(void **state)
{
    (void)state;
    run_t r;
    start(&r, 3);
    int victim = r.pids[0];
    assert_int_equal(kill(victim, SIGKILL), 0);
    char needle[64];
    snprintf(needle, sizeof needle, "worker %d killed by signal", victim);
    assert_non_null(tk_wait_output(r.p, needle, WAIT_MS));
    assert_non_null(tk_wait_output(r.p, "2 workers still serve the port", WAIT_MS));
    assert_int_equal(tk_count_zombies(r.p->pid), 0);
    for (int i = 0; i < 10; i++) {
        int pid = ask_pid(r.port);
        assert_true(is_worker(&r, pid));
        assert_int_not_equal(pid, victim);
    }
    stop(&r);
}

/* A worker that runs out of fds must not spin. The listener stays readable
 * while a client waits in the backlog, so a worker that only returns from
 * its accept callback on EMFILE is called again at once, for ever, at 100%
 * CPU. Lower the worker's fd limit from outside (prlimit) so that its next
 * accept() fails with EMFILE, connect a client, and check that the worker
 * reports it once and then stays quiet and idle; raise the limit again and
 * the waiting client gets its answer. */
static void test_worker_out_of_fds_pauses_accept(void **state)
{
    (void)state;
#ifdef __linux__
    run_t r;
    start(&r, 1);
    pid_t wpid = r.pids[0];
    /* The server is the worker's highest fd and 0..fd are all in use, so a
     * soft limit of fd + 1 leaves no number for a new connection. */
    assert_int_equal(tk_count_fds(wpid), r.fds[0] + 1);
    struct rlimit old, low;
    assert_int_equal(prlimit(wpid, RLIMIT_NOFILE, NULL, &old), 0);
    low = old;
    low.rlim_cur = (rlim_t)r.fds[0] + 1;
    assert_int_equal(prlimit(wpid, RLIMIT_NOFILE, &low, NULL), 0);

    int c = tk_connect("127.0.0.1", r.port, WAIT_MS); /* waits in the backlog */
    assert_true(c >= 0);
    char want[160];
    snprintf(want, sizeof want, "accept: %s", tk_strerror(EMFILE));
    assert_non_null(tk_wait_output(r.p, want, WAIT_MS));
    /* For the next second: no second report (a spinning worker prints one
     * per failed accept) and almost no CPU (a spinning one burns it all). */
    long cpu0 = tk_cpu_ms(wpid);
    assert_null(tk_wait_output(r.p, tk_strerror(EMFILE), 1000));
    long cpu1 = tk_cpu_ms(wpid);
    assert_true(cpu0 >= 0 && cpu1 >= 0);
    if (cpu1 - cpu0 > 300)
        fail_msg("worker %d used %ld ms of CPU in 1 s while paused", (int)wpid,
                 cpu1 - cpu0);

    /* fds available again: within a retry period the client is served. */
    assert_int_equal(prlimit(wpid, RLIMIT_NOFILE, &old, NULL), 0);
    char buf[128];
    ssize_t n = tk_read_all(c, buf, sizeof buf, WAIT_MS);
    close(c);
    assert_true(n > 0);
    int pid = 0;
    assert_int_equal(sscanf(buf, "child data, pid %d", &pid), 1);
    assert_int_equal(pid, wpid);
    stop(&r);
#else
    skip(); /* prlimit(2) is Linux-only */
#endif
}

/* SIGTERM: the master disconnects, the workers exit on EOF, the master
 * reaps them and exits 0. Nothing of the group is left. */
static void test_sigterm_stops_everything(void **state)
{
    (void)state;
    run_t r;
    start(&r, 2);
    pid_t pgid = r.p->pid;
    int status = tk_stop(r.p, SIGTERM, WAIT_MS);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(tk_count_output(r.p, "the master closed the channel; exiting"), 2);
    assert_non_null(strstr(r.p->out, "all 2 workers have exited; bye"));
    assert_int_equal(tk_count_group(pgid), 0);
    tk_free(r.p);
}

/* A worker's report names its fd as a JSON number, a double it chooses.
 * 1e300, -1 and 1.5 are no fd: each is refused and logged. Cast to int
 * instead, 1e300 is undefined behaviour (UBSan aborts the master under
 * make check) and 1.5 is reported as fd 1. */
static void test_bad_fd_numbers_are_refused(void **state)
{
    (void)state;
    tk_proc *p = tk_start((const char *[]){"./handle-passing", "-p", "0", "-w", "1", "--",
                                           "sh", "tests/bad-fd-worker", NULL},
                          (const char *[]){"NODE_CHANNEL_FD", "PORT", "HOST", NULL});
    assert_non_null(p);
    assert_non_null(tk_wait_output(p, "handoff complete", WAIT_MS));
    const char *bad[] = {"\"fd\":1e+300,", "\"fd\":-1,", "\"fd\":1.5,"};
    for (int i = 0; i < 3; i++) {
        char want[128];
        snprintf(want, sizeof want, "%s\"socket\":\"socket:[1]\"}: \"fd\" must be",
                 bad[i]);
        if (wait_count(p, want, 1) != 1) {
            tk_drain(p);
            fail_msg("no \"%s\"; output:\n%s", want, p->out);
        }
    }
    assert_int_equal(tk_count_output(p, "holds the server as fd"), 0);
    int status = tk_stop(p, SIGTERM, WAIT_MS);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    tk_free(p);
}

static void test_usage(void **state)
{
    (void)state;
    tk_proc *p = tk_start((const char *[]){"./handle-passing", "--help", NULL}, NULL);
    assert_non_null(p);
    int status = tk_wait_exit(p, WAIT_MS);
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(p->out, "usage: handle-passing"));
    tk_free(p);

    p = tk_start((const char *[]){"./handle-passing", "--bogus", "1", NULL}, NULL);
    status = tk_wait_exit(p, WAIT_MS);
    assert_int_equal(WEXITSTATUS(status), 2);
    tk_free(p);

    p = tk_start((const char *[]){"./handle-passing", "client", NULL},
                 (const char *[]){"PORT", NULL});
    status = tk_wait_exit(p, WAIT_MS);
    assert_int_equal(WEXITSTATUS(status), 2);
    tk_free(p);

    /* The worker, run by hand without a channel, says why it cannot run. */
    p = tk_start((const char *[]){"./handle-passing-worker", NULL},
                 (const char *[]){"NODE_CHANNEL_FD", NULL});
    status = tk_wait_exit(p, WAIT_MS);
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_non_null(strstr(p->out, "NODE_CHANNEL_FD"));
    /* ...and only that: errno is not part of the reason. */
    if (strstr(p->out, tk_strerror(ENOENT)) != NULL)
        fail_msg("a meaningless errno in:\n%s", p->out);
    tk_free(p);

    /* Each bad value named once, with its flag or variable (01's cli.c);
     * "bad host!" is refused by the resolver without a DNS query. */
    tk_expect_bad_value((const char *[]){"./handle-passing", "-p", "http", NULL}, NULL,
                        "-p", "http");
    tk_expect_bad_value((const char *[]){"./handle-passing", NULL},
                        (const char *[]){"WORKERS=lots", NULL}, "WORKERS", "lots");
    tk_expect_bad_value((const char *[]){"./handle-passing", NULL},
                        (const char *[]){"PORT=-1", NULL}, "PORT", "-1");
    tk_expect_bad_value((const char *[]){"./handle-passing", "--host", "bad host!", NULL},
                        NULL, "--host", "bad host!");
    tk_expect_bad_value((const char *[]){"./handle-passing", "client", "-n", "0", NULL},
                        NULL, "-n", "0");

    /* --rr sends connections: a UDP socket has none. */
    p = tk_start((const char *[]){"./handle-passing", "--rr", "-u", NULL}, NULL);
    status = tk_wait_exit(p, WAIT_MS);
    assert_int_equal(WEXITSTATUS(status), 2);
    assert_non_null(strstr(p->out, "--rr"));
    assert_non_null(strstr(p->out, "-u"));
    tk_free(p);
}

/* A client with no server says so once, not once per connection. */
static void test_client_without_server(void **state)
{
    (void)state;
    /* A port nothing listens on: bind one, note it, close it. */
    int port;
    char why[256];
    int fd = net_listen("127.0.0.1", 0, 1, &port, why, sizeof why);
    assert_true(fd >= 0);
    close(fd);
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    tk_proc *p = tk_start(
        (const char *[]){"./handle-passing", "client", "-p", port_s, "-n", "10", NULL},
        NULL);
    int status = tk_wait_exit(p, WAIT_MS);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
    if (tk_count_output(p, tk_strerror(ECONNREFUSED)) != 1)
        fail_msg("want one '%s' line, got:\n%s", tk_strerror(ECONNREFUSED), p->out);
    tk_free(p);
}

/* --host takes a name, as in every chapter (01's net.c). */
static void test_host_by_name(void **state)
{
    (void)state;
    tk_proc *m = tk_start(
        (const char *[]){"./handle-passing", "-w", "1", "--host", "localhost", NULL},
        NULL);
    assert_non_null(m);
    int port = tk_wait_listening(m, WAIT_MS);
    if (port <= 0)
        fail_msg("no listening line:\n%s", m->out);
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    tk_proc *c = tk_start((const char *[]){"./handle-passing", "client", "-H",
                                           "localhost", "-p", port_s, "-n", "2", NULL},
                          NULL);
    int status = tk_wait_exit(c, WAIT_MS);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        fail_msg("client by name failed:\n%s", c->out);
    tk_free(c);
    status = tk_stop(m, SIGTERM, WAIT_MS);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tk_free(m);
}

/* spread.sh, the repeated run behind the notes' distribution: every run
 * prints each worker's share, the shares add up to the connections made,
 * and the summary line gives the ranges. */
static void test_spread_script(void **state)
{
    (void)state;
    tk_proc *p =
        tk_start((const char *[]){"/bin/sh", "./spread.sh", "3", "2", "20", NULL}, NULL);
    assert_non_null(p);
    int status = tk_wait_exit(p, 60000);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        fail_msg("spread.sh failed:\n%s", p->out);
    for (int r = 1; r <= 3; r++) {
        char tag[16];
        snprintf(tag, sizeof tag, "run %2d:", r);
        const char *line = strstr(p->out, tag);
        if (line == NULL)
            fail_msg("no \"%s\" in:\n%s", tag, p->out);
        char *end;
        long a = strtol(line + strlen(tag), &end, 10);
        long b = strtol(end, NULL, 10);
        if (a + b != 20 || a < b)
            fail_msg("want two shares, largest first, adding up to 20:\n%s", p->out);
    }
    assert_non_null(strstr(p->out, "over 3 runs: largest share "));
    tk_free(p);
}

#ifdef __linux__
/* take: a process that was sent nothing takes the worker's listening socket
 * with pidfd_getfd(2), the same socket (same inode), and with the worker
 * frozen it answers the port itself. */
static void test_take_with_pidfd_getfd(void **state)
{
    (void)state;
    run_t r;
    start(&r, 1);
    char pid[16], fd[16];
    snprintf(pid, sizeof pid, "%d", r.pids[0]);
    snprintf(fd, sizeof fd, "%d", r.fds[0]);
    tk_proc *t = tk_start(
        (const char *[]){"./handle-passing", "take", "-n", "2", pid, fd, NULL}, NULL);
    assert_non_null(t);
    const char *line = tk_wait_output(t, "took fd ", WAIT_MS);
    if (line == NULL)
        fail_msg("take did not take the socket:\n%s", t->out);
    assert_non_null(strstr(line, r.socket_id));
    assert_int_equal(kill(r.pids[0], SIGSTOP), 0);
    int a = ask_pid(r.port), b = ask_pid(r.port);
    kill(r.pids[0], SIGCONT);
    assert_int_equal(a, t->pid);
    assert_int_equal(b, t->pid);
    int status = tk_wait_exit(t, WAIT_MS);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tk_free(t);
    stop(&r);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_numbers_differ_socket_is_same),
        cmocka_unit_test(test_master_keeps_no_copy),
        cmocka_unit_test(test_several_pids_one_port),
        cmocka_unit_test(test_udp_socket_shared),
#ifdef __linux__
        cmocka_unit_test(test_udp_reuseport),
#endif
        cmocka_unit_test(test_killed_worker_others_serve),
        cmocka_unit_test(test_worker_out_of_fds_pauses_accept),
        cmocka_unit_test(test_sigterm_stops_everything),
        cmocka_unit_test(test_bad_fd_numbers_are_refused),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_answer_ends_in_eof_not_reset),
        cmocka_unit_test(test_round_robin_connections),
        cmocka_unit_test(test_round_robin_connections_native),
        cmocka_unit_test(test_rr_master_out_of_fds_pauses_accept),
        cmocka_unit_test(test_client_without_server),
        cmocka_unit_test(test_host_by_name),
        cmocka_unit_test(test_spread_script),
#ifdef __linux__
        cmocka_unit_test(test_take_with_pidfd_getfd),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
