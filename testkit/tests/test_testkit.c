/*
 * test_testkit.c: tests of testkit itself, the harness every chapter's
 * black-box tests stand on.
 *
 *   make -C testkit test     (or: make -C testkit && cd testkit && ./build/test_testkit)
 *
 * The promises checked here are the ones the chapters' tests rely on without
 * saying so: a program tk_start() runs inherits no fd a plain fork and exec
 * would not give it (so "no leaked fds" counts from a clean baseline), sees
 * the environment it was given, and is gone, with every process it forked,
 * once the test that started it ends, whether the test passed, failed an
 * assertion or was interrupted by Ctrl-C.
 *
 * The binary is its own helper program. With an argument it is not a test
 * suite but one of the small programs the tests start:
 *
 *   pause          print "ready" and wait for a signal
 *   fork-pause     fork a worker, print "worker PID" and "ready", wait
 *   env NAME...    print NAME=value (or NAME unset) for each NAME
 *   failing-suite  a cmocka suite whose first test starts fork-pause and
 *                  fails; the second test asserts that program is gone
 *   failing-suite-group-state  the same, under a group setup that sets a
 *                  group state
 *   interrupted-suite  a cmocka suite whose test starts fork-pause and then
 *                  waits to be killed by a signal
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net.h" /* 01-event-loop */
#include "testkit.h"

#define T 5000 /* ms: the usual wait for a line */

static const char *self; /* this binary, to start it as a helper */

/* ---- the helper programs ---- */

static int helper_pause(void)
{
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
    return 0; /* not reached: a signal ends it */
}

/* A program with a worker, like the tutorial's masters: the worker holds
 * the read end of a pipe whose write end only its parent has, and exits at
 * EOF, which comes when the parent dies however it dies (06's lifeline). */
static int helper_fork_pause(void)
{
    int lifeline[2];
    if (pipe(lifeline) == -1) {
        perror("pipe");
        return 1;
    }
    fflush(stdout);
    pid_t w = fork();
    if (w == -1) {
        perror("fork");
        return 1;
    }
    if (w == 0) {
        close(lifeline[1]);
        char c;
        while (read(lifeline[0], &c, 1) == -1 && errno == EINTR)
            ;
        _exit(0);
    }
    close(lifeline[0]);
    printf("worker %d\n", (int)w);
    return helper_pause();
}

static int helper_env(int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        const char *v = getenv(argv[i]);
        if (v != NULL)
            printf("%s=%s\n", argv[i], v);
        else
            printf("%s unset\n", argv[i]);
    }
    return 0;
}

/* Start `self fork-pause` and return it with the worker's pid in *worker. */
static tk_proc *start_fork_pause(pid_t *worker)
{
    tk_proc *p = tk_start((const char *[]){self, "fork-pause", NULL}, NULL);
    assert_non_null(p);
    const char *w = tk_wait_output(p, "worker ", T);
    assert_non_null(w);
    *worker = (pid_t)atoi(w + strlen("worker "));
    assert_non_null(tk_wait_output(p, "ready\n", T));
    return p;
}

static pid_t inner_pid, inner_worker;
static int inner_setups, inner_teardowns;
static int group_marker;
static void *inner_expected_state; /* what cmocka should hand the test */

/* The test's own fixtures: testkit wraps them and must still run them,
 * with the state cmocka would have given them. */
static int inner_setup(void **state)
{
    assert_ptr_equal(*state, inner_expected_state);
    inner_setups++;
    return 0;
}

static int inner_teardown(void **state)
{
    assert_ptr_equal(*state, inner_expected_state);
    inner_teardowns++;
    return 0;
}

static int inner_group_setup(void **state)
{
    *state = &group_marker;
    return 0;
}

/* Fails halfway, with a program and its worker running: cmocka jumps out
 * of the test and the test's own tk_free is never reached. */
static void inner_fails_with_a_program_running(void **state)
{
    assert_ptr_equal(*state, inner_expected_state);
    tk_proc *p = start_fork_pause(&inner_worker);
    inner_pid = p->pid;
    printf("started %d %d\n", (int)inner_pid, (int)inner_worker);
    fflush(stdout);
    fail_msg("failing on purpose");
    tk_free(p); /* never reached */
}

static int gone(void *arg)
{
    return !tk_alive(*(pid_t *)arg);
}

/* Runs right after the failed test: what it started must be gone already,
 * not only when the whole suite exits, and its own fixtures ran. */
static void inner_previous_programs_are_gone(void **state)
{
    assert_ptr_equal(*state,
                     inner_expected_state == &group_marker ? &group_marker : NULL);
    assert_true(inner_pid > 0);
    assert_true(tk_until(gone, &inner_pid, 2000));
    assert_true(tk_until(gone, &inner_worker, 2000));
    assert_int_equal(inner_setups, 1);
    assert_int_equal(inner_teardowns, 1);
}

/* The same two tests, once with a state of the test's own and once with a
 * group state, which cmocka hands every test instead. */
static int helper_failing_suite(int with_group_state)
{
    static int own_state;
    inner_expected_state = with_group_state ? (void *)&group_marker : (void *)&own_state;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate_setup_teardown(inner_fails_with_a_program_running,
                                                 inner_setup, inner_teardown, &own_state),
        cmocka_unit_test(inner_previous_programs_are_gone),
    };
    return cmocka_run_group_tests(tests, with_group_state ? inner_group_setup : NULL,
                                  NULL);
}

static void inner_waits_for_a_signal(void **state)
{
    (void)state;
    pid_t worker;
    tk_proc *p = start_fork_pause(&worker);
    printf("started %d %d\n", (int)p->pid, (int)worker);
    fflush(stdout);
    for (;;)
        pause();
}

static int helper_interrupted_suite(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inner_waits_for_a_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* ---- the tests ---- */

/* Start `self pause` with a plain fork and exec, stdin from /dev/null and
 * stdout and stderr into a pipe, as tk_start promises to, and count its
 * fds once it runs. Everything else it has, it inherited from this test
 * process, and a program under tk_start inherits the same. */
static int plain_fd_count(void)
{
    int pfd[2];
    assert_int_equal(net_pipe(pfd, O_CLOEXEC), 0);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(null >= 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(null, 0);
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        execl(self, self, "pause", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    close(null);
    char buf[16] = {0};
    assert_true(read(pfd[0], buf, sizeof buf - 1) > 0);
    assert_string_equal(buf, "ready\n");
    int n = tk_count_fds(pid);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(pfd[0]);
    return n;
}

static void test_started_program_has_no_extra_fd(void **state)
{
    (void)state;
    int plain = plain_fd_count();
    assert_true(plain >= 3);
    tk_proc *p = tk_start((const char *[]){self, "pause", NULL}, NULL);
    assert_non_null(p);
    assert_non_null(tk_wait_output(p, "ready\n", T));
    assert_int_equal(tk_count_fds(p->pid), plain);
    tk_free(p);
}

static void test_started_program_gets_its_environment(void **state)
{
    (void)state;
    setenv("TK_KEEP", "kept", 1);
    setenv("TK_DROP", "dropped", 1);
    setenv("TK_CHANGE", "old", 1);
    tk_proc *p = tk_start(
        (const char *[]){self, "env", "TK_KEEP", "TK_DROP", "TK_CHANGE", "TK_NEW", NULL},
        (const char *[]){"TK_DROP", "TK_CHANGE=new", "TK_NEW=a=b", NULL});
    assert_non_null(p);
    int status = tk_wait_exit(p, T);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tk_drain(p);
    assert_string_equal(p->out,
                        "TK_KEEP=kept\nTK_DROP unset\nTK_CHANGE=new\nTK_NEW=a=b\n");
    tk_free(p);
    /* and the test process's own environment is untouched */
    assert_string_equal(getenv("TK_DROP"), "dropped");
    assert_string_equal(getenv("TK_CHANGE"), "old");
    assert_null(getenv("TK_NEW"));
}

/* Read "started PID WORKER" from an inner suite's output. */
static void read_started(tk_proc *inner, pid_t *pid, pid_t *worker)
{
    const char *s = tk_wait_output(inner, "started ", T);
    assert_non_null(s);
    int a = 0, b = 0;
    assert_int_equal(sscanf(s, "started %d %d", &a, &b), 2);
    assert_true(a > 0 && b > 0);
    *pid = a;
    *worker = b;
}

static void check_failed_test_leaves_nothing(const char *suite)
{
    tk_proc *inner = tk_start((const char *[]){self, suite, NULL}, NULL);
    assert_non_null(inner);
    pid_t pid, worker;
    read_started(inner, &pid, &worker);
    int status = tk_wait_exit(inner, T);
    assert_true(status != -1);
    tk_drain(inner);
    /* exactly the deliberate failure, and the check after it passed */
    if (strstr(inner->out, "[  FAILED  ] 1 test(s)") == NULL ||
        strstr(inner->out, "[       OK ] inner_previous_programs_are_gone") == NULL)
        fail_msg("inner suite:\n%s", inner->out);
    assert_true(tk_until(gone, &pid, 2000));
    assert_true(tk_until(gone, &worker, 2000));
    tk_free(inner);
}

/* tk_strerror: our libc's wording, unless TK_STRERROR names a helper, which
 * is then asked, once per errno (echo stands in for it: its line is the
 * number). The helper itself answers as strerror does. */
static void test_strerror_asks_the_helper(void **state)
{
    (void)state;
    assert_int_equal(unsetenv("TK_STRERROR"), 0);
    assert_string_equal(tk_strerror(EADDRINUSE), strerror(EADDRINUSE));
    char want[16];
    snprintf(want, sizeof want, "%d", EDOM);
    assert_int_equal(setenv("TK_STRERROR", "/bin/echo", 1), 0);
    assert_string_equal(tk_strerror(EDOM), want);
    assert_int_equal(setenv("TK_STRERROR", "build/strerror", 1), 0);
    assert_string_equal(tk_strerror(ENOENT), strerror(ENOENT));
    assert_int_equal(unsetenv("TK_STRERROR"), 0);
}

static void test_failed_test_leaves_nothing_running(void **state)
{
    (void)state;
    check_failed_test_leaves_nothing("failing-suite");
}

static void test_failed_test_leaves_nothing_with_group_state(void **state)
{
    (void)state;
    check_failed_test_leaves_nothing("failing-suite-group-state");
}

/* Ctrl-C reaches the test process (it runs in the terminal's foreground
 * group) but not the programs it started, which run in groups of their own;
 * timeout(1) sends SIGTERM. Either way they must not outlive the test. */
static void check_signal_leaves_nothing(int signo)
{
    tk_proc *inner = tk_start((const char *[]){self, "interrupted-suite", NULL}, NULL);
    assert_non_null(inner);
    pid_t pid, worker;
    read_started(inner, &pid, &worker);
    assert_true(tk_alive(pid));
    assert_true(tk_alive(worker));
    long long t0 = tk_now_ms();
    int status = tk_stop(inner, signo, T);
    long long took = tk_now_ms() - t0;
    /* it dies of the signal, as a program without testkit would */
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), signo);
    assert_true(took < 2000);
    assert_true(tk_until(gone, &pid, 2000));
    assert_true(tk_until(gone, &worker, 2000));
    tk_free(inner);
}

static void test_sigint_leaves_nothing_running(void **state)
{
    (void)state;
    check_signal_leaves_nothing(SIGINT);
}

static void test_sigterm_leaves_nothing_running(void **state)
{
    (void)state;
    check_signal_leaves_nothing(SIGTERM);
}

/* SIGKILL (timeout -k, the OOM killer) runs no handler: the program must
 * still not outlive the test process. */
static void test_sigkill_leaves_nothing_running(void **state)
{
    (void)state;
    tk_proc *inner = tk_start((const char *[]){self, "interrupted-suite", NULL}, NULL);
    assert_non_null(inner);
    pid_t pid, worker;
    read_started(inner, &pid, &worker);
    int status = tk_stop(inner, SIGKILL, T);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    int left = !tk_until(gone, &pid, 2000);
    left += !tk_until(gone, &worker, 2000);
    if (left) {
        kill(pid, SIGKILL);
        kill(worker, SIGKILL);
        fail_msg("the program %d or its worker %d outlived a SIGKILLed test", (int)pid,
                 (int)worker);
    }
    tk_free(inner);
}

int main(int argc, char **argv)
{
    self = argv[0];
    if (argc > 1) {
        if (strcmp(argv[1], "pause") == 0)
            return helper_pause();
        if (strcmp(argv[1], "fork-pause") == 0)
            return helper_fork_pause();
        if (strcmp(argv[1], "env") == 0)
            return helper_env(argc, argv);
        if (strcmp(argv[1], "failing-suite") == 0)
            return helper_failing_suite(0);
        if (strcmp(argv[1], "failing-suite-group-state") == 0)
            return helper_failing_suite(1);
        if (strcmp(argv[1], "interrupted-suite") == 0)
            return helper_interrupted_suite();
        fprintf(stderr, "test_testkit: unknown helper %s\n", argv[1]);
        return 2;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_started_program_has_no_extra_fd),
        cmocka_unit_test(test_started_program_gets_its_environment),
        cmocka_unit_test(test_strerror_asks_the_helper),
        cmocka_unit_test(test_failed_test_leaves_nothing_running),
        cmocka_unit_test(test_failed_test_leaves_nothing_with_group_state),
        cmocka_unit_test(test_sigint_leaves_nothing_running),
        cmocka_unit_test(test_sigterm_leaves_nothing_running),
        cmocka_unit_test(test_sigkill_leaves_nothing_running),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
