/*
 * testkit.h: helpers shared by the chapters' black-box tests.
 *
 * A black-box test runs the real program the way a reader would: it starts
 * the binary, waits for its `listening on HOST:PORT (pid N)` line, talks to
 * it over TCP, looks at its processes in /proc, and stops it with a signal.
 * Nothing here sleeps to synchronise: every wait is "until X or a timeout".
 *
 *   tk_proc *p = tk_start((const char *[]){"./event-loop", "--port", "0", NULL},
 *                         (const char *[]){"LOOP_BACKEND=poll", NULL});
 *   int port = tk_wait_listening(p, 5000);
 *   int fd = tk_connect("127.0.0.1", port, 2000);
 *   tk_send_str(fd, "hello\n");
 *   char line[256];
 *   tk_read_line(fd, line, sizeof line, 2000);     // "pid 4211: hello"
 *   int status = tk_stop(p, SIGTERM, 5000);          // a wait(2) status
 *   tk_free(p);
 *
 * The child runs in a process group of its own, so tk_free() can kill the
 * program and every worker it forked. A test need not free what it started
 * to leave nothing behind: testkit frees every program a test started when
 * the test ends, passed or failed (see tk_run_group_tests below), and kills
 * them all if the test process is stopped by Ctrl-C (SIGINT), timeout(1)'s
 * SIGTERM, SIGHUP or SIGQUIT, or exits.
 *
 * Include testkit.h after <cmocka.h>: it replaces cmocka_run_group_tests
 * with the version that frees each test's programs.
 */
#ifndef TESTKIT_H
#define TESTKIT_H

#include <stddef.h>
#include <sys/types.h>

typedef struct tk_proc {
    pid_t pid;  /* the program (also its process group id) */
    int out_fd; /* read end of the pipe carrying its stdout and stderr */
    char *out;  /* everything it printed so far, NUL-terminated */
    size_t out_len;
    size_t out_cap;
    size_t scan; /* where tk_wait_output looks from next */
    int exited;  /* 1 once reaped; status is then valid */
    int status;
} tk_proc;

/* Start argv[0] (a path: no PATH search) with its arguments. env lists
 * extra "NAME=value" entries, or "NAME" alone to remove a variable; it may
 * be NULL. stdin is /dev/null; stdout and stderr are captured together; the
 * program has no other fd of ours, and the default action for every signal.
 * Returns NULL (with a message on stderr) if the program cannot be started.
 * testkit keeps the program on its list until tk_free. */
tk_proc *tk_start(const char *const argv[], const char *const env[]);

/* Read what the program printed, for up to timeout_ms, until `needle` appears
 * in its output after the previous match. Returns a pointer to the match in
 * p->out (valid until the next call that reads output) or NULL on timeout or
 * EOF. */
const char *tk_wait_output(tk_proc *p, const char *needle, int timeout_ms);

/* Wait for `listening on HOST:PORT (pid N)` and return PORT, or -1. */
int tk_wait_listening(tk_proc *p, int timeout_ms);

/* Collect whatever output is available now, without waiting. */
void tk_drain(tk_proc *p);

/* Count how many times `needle` occurs in all the output so far. */
int tk_count_output(tk_proc *p, const char *needle);

/* Send `signo` to the program (not its group) and wait up to timeout_ms for it
 * to exit, collecting its output. On timeout it is killed with SIGKILL and -1
 * is returned; otherwise the wait(2) status. */
int tk_stop(tk_proc *p, int signo, int timeout_ms);

/* Wait up to timeout_ms for the program to exit by itself. Returns the wait(2)
 * status or -1 on timeout (the program is left running). */
int tk_wait_exit(tk_proc *p, int timeout_ms);

/* Kill the whole process group if anything in it still runs, reap the program
 * and free everything. Safe on NULL, and on a program testkit already freed
 * because the test that started it ended. */
void tk_free(tk_proc *p);

/* cmocka's runner with each test's programs freed when the test ends.
 * cmocka leaves a failing test by jumping out of it, past the test's own
 * tk_free() calls; it still runs the test's teardown, and this runner adds
 * "free every program this test started" to every test's teardown (after
 * the test's own, which it keeps, like its setup and state). Programs a
 * group setup starts live until the group ends. Declared only after
 * <cmocka.h>, which defines the types. */
#ifdef cmocka_run_group_tests
int tk_run_group_tests(const char *group_name, const struct CMUnitTest *tests, size_t n,
                       CMFixtureFunction group_setup, CMFixtureFunction group_teardown);
#undef cmocka_run_group_tests
#define cmocka_run_group_tests(group_tests, group_setup, group_teardown)                 \
    tk_run_group_tests(#group_tests, group_tests,                                        \
                       sizeof(group_tests) / sizeof((group_tests)[0]), group_setup,      \
                       group_teardown)
#undef cmocka_run_group_tests_name
#define cmocka_run_group_tests_name(group_name, group_tests, group_setup,                \
                                    group_teardown)                                      \
    tk_run_group_tests(group_name, group_tests,                                          \
                       sizeof(group_tests) / sizeof((group_tests)[0]), group_setup,      \
                       group_teardown)
#endif

/* TCP client side. All return -1 on error or timeout. */
int tk_connect(const char *host, int port, int timeout_ms);
int tk_send(int fd, const void *buf, size_t len);
int tk_send_str(int fd, const char *s);
/* Read one line (up to and excluding '\n') into buf, NUL-terminated. Reads
 * no byte past the newline, so the next line is still there for the next
 * call. Returns the line length, or -1 on timeout, EOF or a line too long. */
int tk_read_line(int fd, char *buf, size_t cap, int timeout_ms);
/* Read exactly n bytes. Returns n, or -1. */
ssize_t tk_read_n(int fd, void *buf, size_t n, int timeout_ms);
/* Read until EOF (or cap-1 bytes), NUL-terminated. Returns the length, or -1
 * on timeout. */
ssize_t tk_read_all(int fd, char *buf, size_t cap, int timeout_ms);

/* Process accounting from /proc (Linux). Where there is no /proc, the
 * counting functions and tk_cpu_ms skip the running test with a message;
 * tk_alive falls back to kill(pid, 0), which counts a zombie as alive. */
int tk_count_children(pid_t parent); /* live children (not zombies) */
int tk_count_zombies(pid_t parent);  /* children that are zombies */
int tk_count_fds(pid_t pid);         /* open file descriptors */
int tk_count_group(pid_t pgid);      /* live processes in a group */
int tk_list_children(pid_t parent, pid_t *pids, int max);
int tk_alive(pid_t pid); /* exists and is not a zombie */
/* CPU time (user + system) of a process, in milliseconds, or -1. */
long tk_cpu_ms(pid_t pid);

/* The text the programs under test print for errno e: strerror(e) of the C
 * library they were built with. Error wording is the library's (glibc says
 * "Address already in use", musl "Address in use"), so tests compare with
 * this, never with a literal. It is our own strerror(e), unless the
 * environment variable TK_STRERROR names a helper built with the programs'
 * compiler (testkit/strerror.c; `make musl-test` sets it), which is then
 * asked. The string stays valid until the test program exits. */
const char *tk_strerror(int e);

/* Milliseconds on the monotonic clock. */
long long tk_now_ms(void);

/* Poll `cond(arg)` every few milliseconds until it is true or timeout_ms
 * passes. Returns 1 if it became true. For "the worker is gone" style checks
 * where there is no line to wait for. */
int tk_until(int (*cond)(void *arg), void *arg, int timeout_ms);

/* A program given a bad value must refuse it the one way every program here
 * does: exit 2 within a few seconds, with exactly one line of output that
 * names both the flag (or environment variable) and the value. Fails the
 * calling test otherwise. */
void tk_expect_bad_value(const char *const argv[], const char *const env[],
                         const char *flag, const char *value);

#endif
