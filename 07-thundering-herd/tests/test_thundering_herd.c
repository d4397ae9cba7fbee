/*
 * test_thundering_herd.c: black-box tests of ./thundering-herd.
 *
 * These run the real program, the way the README does, and check what the
 * notes promise a reader will see: who wakes up for a connection, how the
 * connections are spread, what a stalled worker does to each strategy,
 * and that the program stops cleanly and leaves no process behind.
 *
 * The figures are read from the --csv lines (the same numbers as the
 * table). Only counts are asserted, never speed: the machine that runs the
 * tests may be busy. Tolerances are the issue's: 1 wakeup per connection
 * means 1 +- 0.1; a herd means at least WORKERS/2.
 *
 *   make test        (or ./build/test_thundering_herd from this directory)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testkit.h"

#define PROG "./thundering-herd"

enum { WORKERS = 4, MAX_FIELDS = 32 };

/* One csv line of the program's output, split into fields:
 * csv,mode,workers,served,errors,woken_per_conn,wakeups_per_conn,eagain,
 * jain,spread,conns_per_s,p50,p99,max,stall_share,accepts... */
typedef struct row {
    char buf[512];
    char *f[MAX_FIELDS];
    int n;
} row;

enum {
    F_SERVED = 3,
    F_ERRORS,
    F_WOKEN,
    F_RET,
    F_EAGAIN,
    F_JAIN,
    F_SPREAD,
    F_RATE,
    F_P50,
    F_P99,
    F_MAX,
    F_STALL_SHARE,
    F_ACCEPTS
};

static void get_row(tk_proc *p, const char *mode, row *r)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\ncsv,%s,", mode);
    const char *at = strstr(p->out, needle);
    if (at == NULL)
        fail_msg("no csv line for %s in:\n%s", mode, p->out);
    at++;
    size_t len = strcspn(at, "\n");
    assert_true(len < sizeof r->buf);
    memcpy(r->buf, at, len);
    r->buf[len] = '\0';
    r->n = 0;
    for (char *s = strtok(r->buf, ","); s != NULL && r->n < MAX_FIELDS;
         s = strtok(NULL, ","))
        r->f[r->n++] = s;
    if (r->n < F_ACCEPTS + WORKERS)
        fail_msg("short csv line for %s (%d fields)", mode, r->n);
}

static double num(const row *r, int field)
{
    return strtod(r->f[field], NULL);
}

/* The most connections one worker accepted. */
static double busiest(const row *r)
{
    double max = 0;
    for (int w = 0; w < WORKERS; w++)
        if (num(r, F_ACCEPTS + w) > max)
            max = num(r, F_ACCEPTS + w);
    return max;
}

/* Is there a node for the node-* modes (the program looks the same way)? */
static int node_installed(void)
{
    return system("command -v \"${NODE:-node}\" >/dev/null 2>&1") == 0;
}

/* Run the program to completion and return it (for its output). */
static tk_proc *run(const char *const argv[], int timeout_ms)
{
    tk_proc *p = tk_start(argv, NULL);
    assert_non_null(p);
    int status = tk_wait_exit(p, timeout_ms);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s exited with status %d; output:\n%s", argv[0], status, p->out);
    return p;
}

static void test_help_lists_every_mode(void **state)
{
    (void)state;
    tk_proc *p = run((const char *[]){PROG, "--help", NULL}, 5000);
    assert_non_null(strstr(p->out, "usage:"));
    const char *modes[] = {
        "accept",    "select",     "poll",          "epoll",       "epoll-exclusive",
        "reuseport", "fcntl-lock", "pthread-mutex", "nginx-mutex", "rr-when-served",
        "rr-on-ack", "node-rr",    "node-none"};
    for (size_t i = 0; i < sizeof modes / sizeof *modes; i++)
        assert_non_null(strstr(p->out, modes[i]));
    /* The master that waits until a worker has *served* its connection is
     * not Node's round-robin, and no longer has its name. */
    assert_null(strstr(p->out, "  round-robin "));
    assert_non_null(strstr(p->out, "NODE"));
    /* The fcntl() lock is UNP's and Apache's, not nginx's: the old name
     * and the old attribution are gone. */
    assert_null(strstr(p->out, "accept-mutex"));
    const char *line = strstr(p->out, "  fcntl-lock ");
    assert_non_null(line);
    size_t len = strcspn(line, "\n");
    char buf[256];
    assert_true(len < sizeof buf);
    memcpy(buf, line, len);
    buf[len] = '\0';
    if (strstr(buf, "nginx") != NULL)
        fail_msg("fcntl-lock is not nginx's design: %s", buf);
    assert_non_null(strstr(p->out, "--mutex-delay"));
    tk_free(p);
}

static void expect_usage_error(const char *const argv[])
{
    tk_proc *p = tk_start(argv, NULL);
    assert_non_null(p);
    int status = tk_wait_exit(p, 5000);
    assert_true(status != -1 && WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    assert_non_null(strstr(p->out, "usage:"));
    tk_free(p);
}

static void test_bad_arguments_exit_2(void **state)
{
    (void)state;
    expect_usage_error((const char *[]){PROG, "--mode", "fastest", NULL});
    expect_usage_error((const char *[]){PROG, "--workers", "0", NULL});
    expect_usage_error((const char *[]){PROG, "--connections", "ten", NULL});
    expect_usage_error((const char *[]){PROG, "--frobnicate", NULL});
    expect_usage_error((const char *[]){PROG, "--serve", NULL}); /* needs one mode */
    expect_usage_error((const char *[]){PROG, "--mutex-delay", "-1", NULL});
    expect_usage_error((const char *[]){PROG, "--mutex-delay", "soon", NULL});
    /* Each bad value named once with its flag or variable. A host the
     * resolver refuses is one line and exit 2, not one failure per mode and
     * a table of failed rows. "bad host!" is refused without a DNS query. */
    tk_expect_bad_value((const char *[]){PROG, "--host", "bad host!", NULL}, NULL,
                        "--host", "bad host!");
    tk_expect_bad_value((const char *[]){PROG, "--mode", "accept", NULL},
                        (const char *[]){"HOST=bad host!", NULL}, "HOST", "bad host!");
    tk_expect_bad_value((const char *[]){PROG, "--clients=0", NULL}, NULL, "--clients",
                        "0");
    tk_expect_bad_value((const char *[]){PROG, NULL},
                        (const char *[]){"WORKERS=many", NULL}, "WORKERS", "many");
}

/* --host takes a name, as in every chapter. */
static void test_host_by_name(void **state)
{
    (void)state;
    tk_proc *p =
        tk_start((const char *[]){PROG, "--mode", "accept", "--workers", "2",
                                  "--connections", "20", "--host", "localhost", NULL},
                 NULL);
    assert_non_null(p);
    int st = tk_wait_exit(p, 30000);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        fail_msg("--host localhost failed:\n%s", p->out);
    tk_free(p);
}

/* A port that is taken: exit 1, with a message that names the call. */
static void test_port_in_use_exits_1_naming_bind(void **state)
{
    (void)state;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd != -1);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t len = sizeof sin;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", ntohs(sin.sin_port));
    tk_proc *p = tk_start((const char *[]){PROG, "--mode", "accept", "--port", port,
                                           "--connections", "5", NULL},
                          NULL);
    assert_non_null(p);
    int status = tk_wait_exit(p, 10000);
    assert_true(status != -1 && WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    assert_non_null(strstr(p->out, "bind: "));
    tk_free(p);
    close(fd);
}

/* The main promise, sequential load: who wakes up, and how it spreads. */
static void test_sequential_all_modes(void **state)
{
    (void)state;
    tk_proc *p = run(
        (const char *[]){PROG, "--workers", "4", "--connections", "150", "--csv", NULL},
        120000);
    /* The table, with the system it ran on. */
    assert_non_null(strstr(p->out, "CPUs online"));
    assert_non_null(strstr(p->out, "woken/conn"));
    assert_non_null(strstr(p->out, "what to notice"));
#ifdef __linux__
    assert_non_null(strstr(p->out, "system: Linux "));
#endif
    /* Stopping the workers kills lock holders too; that is no takeover to
     * report. */
    assert_null(strstr(p->out, "EOWNERDEAD"));
    assert_null(strstr(p->out, "died holding"));
    row r;
    const char *all[] = {"accept",         "select",          "poll",
                         "epoll",          "epoll-exclusive", "reuseport",
                         "fcntl-lock",     "pthread-mutex",   "nginx-mutex",
                         "rr-when-served", "rr-on-ack"};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        get_row(p, all[i], &r);
        assert_int_equal((int)num(&r, F_SERVED), 150);
        assert_int_equal((int)num(&r, F_ERRORS), 0);
    }

    /* One return from the wait per connection: nobody woke for nothing. */
    const char *one[] = {"accept",         "epoll-exclusive", "reuseport",
                         "fcntl-lock",     "pthread-mutex",   "nginx-mutex",
                         "rr-when-served", "rr-on-ack"};
    for (size_t i = 0; i < sizeof one / sizeof *one; i++) {
        get_row(p, one[i], &r);
        if (num(&r, F_RET) < 0.9 || num(&r, F_RET) > 1.1)
            fail_msg("%s: %.3f returns from the wait per connection", one[i],
                     num(&r, F_RET));
        /* A blocking accept() is never woken for nothing. (epoll-exclusive
         * may be, now and then: the kernel also queues the event on idle
         * instances it does not wake, and one of them may find it still
         * ready when it next calls epoll_wait(); hence only the ratio.) */
        if (strcmp(one[i], "epoll-exclusive") != 0 && num(&r, F_EAGAIN) != 0)
            fail_msg("%s: %.0f failed accepts", one[i], num(&r, F_EAGAIN));
    }
#ifdef __linux__
    /* And the kernel agrees that only one process woke up (its count of
     * voluntary context switches) for the modes that wait exclusively, and
     * for the two master-accepts modes, whose worker polls its channel so
     * that the master reading its one-byte reply does not wake it a second
     * time. */
    const char *kernel_one[] = {"accept", "epoll-exclusive", "reuseport",
                                "rr-when-served", "rr-on-ack"};
    for (size_t i = 0; i < sizeof kernel_one / sizeof *kernel_one; i++) {
        get_row(p, kernel_one[i], &r);
        if (num(&r, F_WOKEN) < 0.9 || num(&r, F_WOKEN) > 1.1)
            fail_msg("%s: %.3f processes woken per connection", kernel_one[i],
                     num(&r, F_WOKEN));
    }
    /* The three locks, as the kernel counts them. A futex unlock wakes one
     * waiter, so pthread-mutex wakes two workers per connection whatever
     * their number: the holder, from accept(), and the waiter it hands the
     * turn to. An fcntl() lock wakes at least as many: the next holder,
     * and often waiters that find the lock taken again and sleep anew.
     * nginx's try-lock wakes the holder only; the others wake when their
     * 500 ms delay runs out, a few times in a run this short. */
    get_row(p, "pthread-mutex", &r);
    double futex = num(&r, F_WOKEN);
    if (futex < 1.5 || futex > 2.5)
        fail_msg("pthread-mutex: %.3f processes woken per connection", futex);
    /* fcntl's extra wakeups (a waiter that retries, finds the lock taken
     * and queues again wakes those queued behind it) depend on timing, so
     * its figure moves with the machine: 2.1 to 4.0 measured here, 2.8 to
     * 3.5 on another machine. Every run holds its floor: the holder and
     * the next waiter. */
    get_row(p, "fcntl-lock", &r);
    if (num(&r, F_WOKEN) < 1.9)
        fail_msg(
            "fcntl-lock: only %.3f processes woken per connection (pthread-mutex %.3f)",
            num(&r, F_WOKEN), futex);
    get_row(p, "nginx-mutex", &r);
    if (num(&r, F_WOKEN) > 1.5)
        fail_msg("nginx-mutex: %.3f processes woken per connection", num(&r, F_WOKEN));
    /* The herd: select, poll and epoll wake (nearly) every worker. */
    const char *herd[] = {"select", "poll", "epoll"};
    for (size_t i = 0; i < sizeof herd / sizeof *herd; i++) {
        get_row(p, herd[i], &r);
        if (num(&r, F_WOKEN) < WORKERS / 2.0)
            fail_msg("%s: only %.3f processes woken per connection", herd[i],
                     num(&r, F_WOKEN));
    }
#endif
    /* nginx-mutex: the holder takes the lock again as soon as it has
     * accepted, while the others wait out their delay, so with one
     * connection at a time the holder keeps it. */
    get_row(p, "nginx-mutex", &r);
    if (busiest(&r) < 75)
        fail_msg("nginx-mutex: its busiest worker took only %.0f of 150", busiest(&r));
    /* The master-accepts modes spread evenly ... */
    get_row(p, "rr-when-served", &r);
    if (num(&r, F_JAIN) < 0.95)
        fail_msg("rr-when-served: Jain %.3f", num(&r, F_JAIN));
    get_row(p, "rr-on-ack", &r);
    if (num(&r, F_JAIN) < 0.95)
        fail_msg("rr-on-ack: Jain %.3f", num(&r, F_JAIN));
    /* ... and epoll-exclusive gives most connections to one worker. */
    get_row(p, "epoll-exclusive", &r);
    if (busiest(&r) < 75)
        fail_msg("epoll-exclusive: its busiest worker took only %.0f of 150",
                 busiest(&r));
    /* Node's own cluster, when node is installed: its primary hands out
     * connections in turn (rr), or its workers share the listener, each in
     * its own libuv epoll set (none), and herd like epoll. */
    if (strstr(p->out, "\ncsv,node-rr,skipped") != NULL) {
        print_message("node-rr, node-none: skipped, node is not installed\n");
    } else {
        get_row(p, "node-rr", &r);
        assert_int_equal((int)num(&r, F_SERVED), 150);
        assert_int_equal((int)num(&r, F_ERRORS), 0);
        if (num(&r, F_JAIN) < 0.95)
            fail_msg("node-rr: Jain %.3f", num(&r, F_JAIN));
        get_row(p, "node-none", &r);
        assert_int_equal((int)num(&r, F_SERVED), 150);
        assert_int_equal((int)num(&r, F_ERRORS), 0);
#ifdef __linux__
        get_row(p, "node-rr", &r);
        if (num(&r, F_WOKEN) < 0.9 || num(&r, F_WOKEN) > 1.5)
            fail_msg("node-rr: %.3f processes woken per connection", num(&r, F_WOKEN));
        get_row(p, "node-none", &r);
        if (num(&r, F_WOKEN) < WORKERS / 2.0)
            fail_msg("node-none: only %.3f processes woken per connection",
                     num(&r, F_WOKEN));
#endif
    }
    tk_free(p);
}

/* Without node, the Node rows say so and the C modes run as before. */
static void test_node_rows_skipped_without_node(void **state)
{
    (void)state;
    tk_proc *p = tk_start(
        (const char *[]){PROG, "--workers", "4", "--connections", "6", "--csv", NULL},
        (const char *[]){"NODE=/nonexistent/node", NULL});
    assert_non_null(p);
    int status = tk_wait_exit(p, 60000);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("exited with status %d; output:\n%s", status, p->out);
    assert_non_null(strstr(p->out, "\ncsv,node-rr,skipped"));
    assert_non_null(strstr(p->out, "\ncsv,node-none,skipped"));
    assert_non_null(strstr(p->out, "node-rr          skipped: /nonexistent/node"));
    row r;
    get_row(p, "rr-on-ack", &r);
    assert_int_equal((int)num(&r, F_SERVED), 6);
    tk_free(p);
    /* Asked for by name, it is a usage error that says why. */
    p = tk_start((const char *[]){PROG, "--mode", "node-rr", NULL},
                 (const char *[]){"NODE=/nonexistent/node", NULL});
    assert_non_null(p);
    status = tk_wait_exit(p, 10000);
    assert_true(status != -1 && WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    assert_non_null(strstr(p->out, "/nonexistent/node"));
    tk_free(p);
}

/* One worker sleeps 80 ms per connection; 8 clients at once. The stall is
 * long so that even on a busy machine the other three workers serve
 * everything else long before the stalled one comes back. */
static void run_stalled(const char *mode, row *r)
{
    tk_proc *p = run((const char *[]){PROG, "--mode", mode, "--workers", "4", "--clients",
                                      "8", "--connections", "120", "--stall-worker", "80",
                                      "--csv", NULL},
                     120000);
    get_row(p, mode, r);
    assert_int_equal((int)num(r, F_SERVED), 120);
    assert_int_equal((int)num(r, F_ERRORS), 0);
    tk_free(p);
}

static void test_stalled_worker(void **state)
{
    (void)state;
    row acc, rr, rp;
    run_stalled("accept", &acc);
    run_stalled("rr-when-served", &rr);
    /* A stalled worker is not waiting, so it is passed over: it gets far
     * less than a fair quarter. */
    if (num(&acc, F_STALL_SHARE) >= 0.125)
        fail_msg("accept: the stalled worker got %.3f of the connections",
                 num(&acc, F_STALL_SHARE));
    if (num(&rr, F_STALL_SHARE) >= 0.125)
        fail_msg("rr-when-served: the stalled worker got %.3f of the connections",
                 num(&rr, F_STALL_SHARE));
#ifdef __linux__
    run_stalled("reuseport", &rp);
    /* reuseport keeps hashing connections to the stalled worker's queue... */
    if (num(&rp, F_STALL_SHARE) < 0.125)
        fail_msg("reuseport: the stalled worker got only %.3f", num(&rp, F_STALL_SHARE));
    /* ... where they wait their turn: a tail of several stalls. */
    if (num(&rp, F_P99) < 160)
        fail_msg("reuseport: p99 %.1f ms, expected queueing behind 80 ms stalls",
                 num(&rp, F_P99));
    assert_true(num(&rp, F_P99) > num(&rr, F_P99));
    assert_true(num(&rp, F_P99) > num(&acc, F_P99));
#else
    (void)rp;
#endif
}

/* Two workers, worker 0 stalls STALL_MS on every connection; four
 * connections made one after another, each given SLOW_MS to answer before
 * the next is made. Returns how many did not answer in time (they queued
 * behind the stall), and in *longest the longest any of them waited. */
enum { STALL_MS = 600, SLOW_MS = 200 };

static int queued_behind_the_stall(const char *mode, long long *longest)
{
    char stall[16];
    snprintf(stall, sizeof stall, "%d", STALL_MS);
    tk_proc *p = tk_start((const char *[]){PROG, "--mode", mode, "--serve", "--workers",
                                           "2", "--stall-worker", stall, NULL},
                          NULL);
    assert_non_null(p);
    int port = tk_wait_listening(p, 30000);
    if (port <= 0)
        fail_msg("%s did not start:\n%s", mode, p->out);
    int slow[4];
    long long sent[4];
    int nslow = 0;
    char line[128];
    for (int i = 0; i < 4; i++) {
        long long t = tk_now_ms();
        int fd = tk_connect("127.0.0.1", port, 5000);
        assert_true(fd != -1);
        if (tk_read_line(fd, line, sizeof line, SLOW_MS) > 0) {
            close(fd);
            continue;
        }
        slow[nslow] = fd;
        sent[nslow++] = t;
    }
    *longest = 0;
    for (int i = 0; i < nslow; i++) {
        if (tk_read_line(slow[i], line, sizeof line, 10 * STALL_MS) <= 0)
            fail_msg("%s: a connection queued behind the stall got no reply", mode);
        long long waited = tk_now_ms() - sent[i];
        if (waited > *longest)
            *longest = waited;
        close(slow[i]);
    }
    int status = tk_stop(p, SIGTERM, 10000);
    if (!(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0))
        fail_msg("%s: status %d after SIGTERM:\n%s", mode, status, p->out);
    tk_free(p);
    return nslow;
}

/* When is a worker free again? rr-when-served: once it has served its
 * connection, so while worker 0 stalls every other connection goes to
 * worker 1, and the one connection caught by the stall waits one stall.
 * Node's primary: once the worker has acknowledged the connection, which
 * it does before serving it. So the stalled worker is back on the free
 * list at once, takes every other connection, and the second one waits
 * for the stall in progress and then its own. rr-on-ack does what Node
 * does, and Node itself (node-rr) when node is installed. */
static void test_free_when_served_or_on_ack(void **state)
{
    (void)state;
    long long longest;
    int n = queued_behind_the_stall("rr-when-served", &longest);
    if (n != 1 || longest >= STALL_MS * 3 / 2)
        fail_msg("rr-when-served: %d connections queued, the longest waited %lld ms", n,
                 longest);
    const char *ack[] = {"rr-on-ack", "node-rr"};
    for (size_t i = 0; i < sizeof ack / sizeof *ack; i++) {
        if (strcmp(ack[i], "node-rr") == 0 && !node_installed()) {
            print_message("node-rr: skipped, node is not installed\n");
            continue;
        }
        n = queued_behind_the_stall(ack[i], &longest);
        if (n != 2 || longest < STALL_MS * 3 / 2)
            fail_msg("%s: %d connections queued, the longest waited %lld ms", ack[i], n,
                     longest);
    }
}

/* --serve: a reader's nc gets a line naming a worker; SIGTERM stops it
 * all with status 0 and the counts. */
static void test_serve_names_a_worker_and_stops_cleanly(void **state)
{
    (void)state;
    tk_proc *p = tk_start(
        (const char *[]){PROG, "--mode", "rr-on-ack", "--serve", "--workers", "2", NULL},
        NULL);
    assert_non_null(p);
    int port = tk_wait_listening(p, 10000);
    assert_true(port > 0);
    pid_t kids[8];
    int nkids = tk_list_children(p->pid, kids, 8);
    assert_int_equal(nkids, 2);
    for (int i = 0; i < 3; i++) {
        int fd = tk_connect("127.0.0.1", port, 5000);
        assert_true(fd != -1);
        char line[128];
        assert_true(tk_read_line(fd, line, sizeof line, 5000) > 0);
        int pid = atoi(strrchr(line, ' ') + 1);
        assert_non_null(strstr(line, "served by worker "));
        assert_true(pid == kids[0] || pid == kids[1]);
        close(fd);
    }
    int status = tk_stop(p, SIGTERM, 10000);
    assert_true(status != -1 && WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(p->out, "rr-on-ack "));
    for (int i = 0; i < nkids; i++)
        assert_false(tk_alive(kids[i]));
    tk_free(p);
}

/* SIGINT in the middle of a long run: stop, report what was measured,
 * exit 0, nothing left running. */
static void test_sigint_mid_run_is_graceful(void **state)
{
    (void)state;
    tk_proc *p =
        tk_start((const char *[]){PROG, "--mode", "poll", "--workers", "3",
                                  "--connections", "1000000", "--clients", "2", NULL},
                 NULL);
    assert_non_null(p);
    assert_true(tk_wait_listening(p, 10000) > 0);
    pid_t kids[8];
    int nkids = tk_list_children(p->pid, kids, 8);
    assert_true(nkids >= 3); /* 3 workers, and the client */
    int status = tk_stop(p, SIGINT, 10000);
    assert_true(status != -1 && WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(p->out, "stopping"));
    assert_non_null(strstr(p->out, "woken/conn"));
    for (int i = 0; i < nkids; i++)
        assert_false(tk_alive(kids[i]));
    tk_free(p);
}

/* A run that has failed (a worker died) and is then cut short by SIGINT
 * is both: it is a failed row, and the program stops there instead of
 * going on to the next mode of --mode all. */
static void test_sigint_after_a_failure_stops_every_mode(void **state)
{
    (void)state;
    tk_proc *p = tk_start((const char *[]){PROG, "--workers", "3", "--connections",
                                           "1000000", "--clients", "2", NULL},
                          NULL);
    assert_non_null(p);
    assert_true(tk_wait_listening(p, 10000) > 0);
    pid_t kids[8];
    int nkids = tk_list_children(p->pid, kids, 8);
    /* 3 workers, and the client once it is forked: after the workers, so
     * the lowest pid is a worker's. */
    assert_true(nkids >= 3);
    pid_t worker = kids[0];
    for (int i = 1; i < nkids; i++)
        if (kids[i] < worker)
            worker = kids[i];
    kill(worker, SIGKILL);
    assert_non_null(tk_wait_output(p, "died unexpectedly", 10000));
    int status = tk_stop(p, SIGINT, 10000);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 1 ||
        strstr(p->out, "select: listening") != NULL)
        fail_msg("SIGINT after a worker died: status %d, went on to the next mode?\n%s",
                 status, p->out);
    assert_non_null(strstr(p->out, "stopping"));
    tk_free(p);
}

/* The moment of a Ctrl-C: a plain wait, since any moment will do. */
static void pause_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int group_gone(void *arg)
{
    return tk_count_group(*(pid_t *)arg) == 0;
}

/* One Ctrl-C, as a terminal sends it: SIGINT to the program's whole
 * process group (the node primary and its workers included), wait_ms after
 * it says it listens (-1: while node is still starting). The program must
 * end within 1 s and leave no process of its group. */
static void ctrl_c_node_mode(const char *mode, int wait_ms)
{
    tk_proc *p = tk_start((const char *[]){PROG, "--mode", mode, "--workers", "4",
                                           "--connections", "1000000", NULL},
                          NULL);
    assert_non_null(p);
    if (wait_ms >= 0) {
        assert_true(tk_wait_listening(p, 30000) > 0);
        pause_ms(wait_ms);
    } else {
        pause_ms(200);
    }
    long long t0 = tk_now_ms();
    kill(-p->pid, SIGINT);
    int status = tk_wait_exit(p, 10000);
    long long took = tk_now_ms() - t0;
    if (status == -1 || took > 1000)
        fail_msg("%s, SIGINT %d ms after listening: stopped after %lld ms\n%s", mode,
                 wait_ms, took, p->out);
    pid_t group = p->pid;
    if (!tk_until(group_gone, &group, 1000))
        fail_msg("%s, SIGINT %d ms after listening: processes left in its group", mode,
                 wait_ms);
    tk_free(p);
}

/* Ctrl-C during a node-* run, at a few moments of it: stopped at once. */
static void test_ctrl_c_stops_node_modes_at_once(void **state)
{
    (void)state;
    if (!node_installed()) {
        print_message("node-rr, node-none: skipped, node is not installed\n");
        return;
    }
    const char *modes[] = {"node-rr", "node-none"};
    const int moments[] = {-1, 0, 100, 400};
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++)
        for (size_t i = 0; i < sizeof moments / sizeof *moments; i++)
            ctrl_c_node_mode(modes[m], moments[i]);
}

/* Ctrl-C while the workers are still starting: the program stops there.
 * The master stops the workers it has; their ready pipe then closes early,
 * which is its own doing, not workers that failed to start, and the modes
 * after this one do not run. 16 workers make the start long enough to hit. */
static void test_ctrl_c_while_workers_start_stops_everything(void **state)
{
    (void)state;
    tk_proc *p = tk_start(
        (const char *[]){PROG, "--workers", "16", "--connections", "1000", NULL}, NULL);
    assert_non_null(p);
    pid_t kids[4];
    long long until = tk_now_ms() + 30000;
    while (tk_list_children(p->pid, kids, 4) < 2 && tk_now_ms() < until)
        pause_ms(1);
    long long t0 = tk_now_ms();
    kill(-p->pid, SIGINT);
    int status = tk_wait_exit(p, 30000);
    long long took = tk_now_ms() - t0;
    tk_drain(p);
    if (status == -1 || took > 1000)
        fail_msg("SIGINT while the workers start: stopped after %lld ms\n%s", took,
                 p->out);
    assert_null(strstr(p->out, "workers started"));
    assert_null(strstr(p->out, "select: listening"));
    pid_t group = p->pid;
    if (!tk_until(group_gone, &group, 1000))
        fail_msg("SIGINT while the workers start: processes left in its group");
    tk_free(p);
}

/* Ctrl-C while node-rr stops (its counts are being collected, which takes
 * a moment): the signal must not be lost there, or node-none runs after it.
 * One connection: the run ends as soon as node-rr listens. */
static void test_ctrl_c_while_node_stops_is_not_lost(void **state)
{
    (void)state;
    if (!node_installed()) {
        print_message("node-rr: skipped, node is not installed\n");
        return;
    }
    int lost = 0;
    for (int i = 0; i < 8 && !lost; i++) {
        tk_proc *p = tk_start(
            (const char *[]){PROG, "--workers", "4", "--connections", "1", NULL}, NULL);
        assert_non_null(p);
        assert_non_null(tk_wait_output(p, "node-rr: listening", 120000));
        pause_ms(25 * i);
        long long t0 = tk_now_ms();
        kill(-p->pid, SIGINT);
        int status = tk_wait_exit(p, 30000);
        long long took = tk_now_ms() - t0;
        tk_drain(p);
        if (status == -1 || took > 1000 ||
            strstr(p->out, "node-none: listening") != NULL) {
            print_message("SIGINT %d ms into node-rr: stopped after %lld ms\n%s", 25 * i,
                          took, p->out);
            lost = 1;
        }
        tk_free(p);
    }
    assert_false(lost);
}

static int all_gone(void *arg)
{
    pid_t *kids = arg;
    for (int i = 0; kids[i] != 0; i++)
        if (tk_alive(kids[i]))
            return 0;
    return 1;
}

/* A master killed with SIGKILL cannot stop anybody: its workers must
 * notice by themselves (PR_SET_PDEATHSIG, the lifeline) and exit. */
static void test_workers_die_with_the_master(void **state)
{
    (void)state;
    const char *modes[] = {"accept", "select", "rr-on-ack"};
    for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
        tk_proc *p = tk_start(
            (const char *[]){PROG, "--mode", modes[m], "--serve", "--workers", "3", NULL},
            NULL);
        assert_non_null(p);
        assert_true(tk_wait_listening(p, 10000) > 0);
        pid_t kids[9] = {0};
        assert_int_equal(tk_list_children(p->pid, kids, 8), 3);
        kill(p->pid, SIGKILL);
        if (!tk_until(all_gone, kids, 10000))
            fail_msg("%s: workers outlived their master", modes[m]);
        tk_free(p);
    }
    /* Node's cluster too: the node primary is the master's child, and its
     * workers are the primary's. All of them must go. */
    if (!node_installed()) {
        print_message("node-rr: skipped, node is not installed\n");
        return;
    }
    tk_proc *p = tk_start(
        (const char *[]){PROG, "--mode", "node-rr", "--serve", "--workers", "2", NULL},
        NULL);
    assert_non_null(p);
    assert_true(tk_wait_listening(p, 30000) > 0);
    pid_t procs[4] = {0};
    assert_int_equal(tk_list_children(p->pid, procs, 1), 1);
    assert_int_equal(tk_list_children(procs[0], procs + 1, 2), 2);
    kill(p->pid, SIGKILL);
    if (!tk_until(all_gone, procs, 10000))
        fail_msg("node-rr: the node primary or its workers outlived the master");
    tk_free(p);
}

/* Voluntary context switches of a process (Linux), or -1. */
static long switches_of(pid_t pid)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long n = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
            break;
    fclose(f);
    return n;
}

typedef struct idle_workers {
    pid_t pid[3];
    long base[3];
    long woke[3];
} idle_workers;

/* True once two of the three workers have woken at least 5 times. */
static int two_woke_often(void *arg)
{
    idle_workers *iw = arg;
    int often = 0;
    for (int i = 0; i < 3; i++) {
        iw->woke[i] = switches_of(iw->pid[i]) - iw->base[i];
        often += iw->woke[i] >= 5;
    }
    return often >= 2;
}

/* nginx's accept mutex is a try-lock: while no connection comes, the
 * holder sleeps in epoll_wait() with the listener in its set, and the
 * others, which could not take the lock, wake every --mutex-delay ms to
 * try again. Nobody sleeps on the lock itself. */
static void test_nginx_mutex_losers_wake_on_their_delay(void **state)
{
    (void)state;
#ifndef __linux__
    skip(); /* the context switches come from /proc */
#endif
    tk_proc *p = tk_start((const char *[]){PROG, "--mode", "nginx-mutex", "--serve",
                                           "--workers", "3", "--mutex-delay", "20", NULL},
                          NULL);
    assert_non_null(p);
    assert_true(tk_wait_listening(p, 10000) > 0);
    idle_workers iw;
    assert_int_equal(tk_list_children(p->pid, iw.pid, 3), 3);
    for (int i = 0; i < 3; i++)
        assert_true((iw.base[i] = switches_of(iw.pid[i])) >= 0);
    if (!tk_until(two_woke_often, &iw, 10000))
        fail_msg("the workers without the lock did not wake on their delay: %ld %ld %ld",
                 iw.woke[0], iw.woke[1], iw.woke[2]);
    /* ... and the holder slept through it all. */
    int asleep = 0;
    for (int i = 0; i < 3; i++)
        asleep += iw.woke[i] <= 1;
    if (asleep != 1)
        fail_msg("expected one worker asleep with the lock: woke %ld %ld %ld", iw.woke[0],
                 iw.woke[1], iw.woke[2]);
    int status = tk_stop(p, SIGTERM, 10000);
    assert_true(status != -1 && WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    tk_free(p);
}

/* Kill every worker at once: whichever held the lock dies holding it.
 * Each lock must let the replacements go on: the kernel drops a dead
 * process's fcntl() lock; a robust pthread mutex tells the next locker
 * EOWNERDEAD; nginx's master clears a try-lock word that holds a dead
 * worker's pid. A connection made afterwards must be served. */
static void kill_the_holder(const char *mode, const char *recovered)
{
    tk_proc *p = tk_start(
        (const char *[]){PROG, "--mode", mode, "--serve", "--workers", "2", NULL}, NULL);
    assert_non_null(p);
    int port = tk_wait_listening(p, 10000);
    assert_true(port > 0);
    pid_t kids[3] = {0};
    assert_int_equal(tk_list_children(p->pid, kids, 2), 2);
    kill(kids[0], SIGKILL);
    kill(kids[1], SIGKILL);
    if (!tk_until(all_gone, kids, 10000))
        fail_msg("%s: the workers did not die", mode);
    int fd = tk_connect("127.0.0.1", port, 5000);
    assert_true(fd != -1);
    char line[128];
    if (tk_read_line(fd, line, sizeof line, 5000) <= 0)
        fail_msg("%s: nobody served a connection after the lock holder died; output:\n%s",
                 mode, p->out);
    close(fd);
    assert_non_null(strstr(line, "served by worker "));
    int pid = atoi(strrchr(line, ' ') + 1);
    assert_true(pid != kids[0] && pid != kids[1]);
    if (recovered != NULL && tk_wait_output(p, recovered, 5000) == NULL)
        fail_msg("%s: no \"%s\" line in:\n%s", mode, recovered, p->out);
    /* Exit status 1: workers died mid-run, and the program says so. */
    assert_true(tk_stop(p, SIGTERM, 10000) != -1);
    tk_free(p);
}

static void test_a_dead_lock_holder_does_not_wedge_the_others(void **state)
{
    (void)state;
    kill_the_holder("fcntl-lock", NULL);
    kill_the_holder("nginx-mutex", "died holding the accept lock");
#ifdef __linux__
    kill_the_holder("pthread-mutex", "EOWNERDEAD");
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_lists_every_mode),
        cmocka_unit_test(test_bad_arguments_exit_2),
        cmocka_unit_test(test_host_by_name),
        cmocka_unit_test(test_port_in_use_exits_1_naming_bind),
        cmocka_unit_test(test_sequential_all_modes),
        cmocka_unit_test(test_node_rows_skipped_without_node),
        cmocka_unit_test(test_stalled_worker),
        cmocka_unit_test(test_free_when_served_or_on_ack),
        cmocka_unit_test(test_serve_names_a_worker_and_stops_cleanly),
        cmocka_unit_test(test_sigint_mid_run_is_graceful),
        cmocka_unit_test(test_sigint_after_a_failure_stops_every_mode),
        cmocka_unit_test(test_ctrl_c_stops_node_modes_at_once),
        cmocka_unit_test(test_ctrl_c_while_workers_start_stops_everything),
        cmocka_unit_test(test_ctrl_c_while_node_stops_is_not_lost),
        cmocka_unit_test(test_workers_die_with_the_master),
        cmocka_unit_test(test_nginx_mutex_losers_wake_on_their_delay),
        cmocka_unit_test(test_a_dead_lock_holder_does_not_wedge_the_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
