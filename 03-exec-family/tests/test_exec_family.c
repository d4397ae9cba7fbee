/*
 * test_exec_family.c: black-box tests of ./exec-family.
 *
 * Run with `make test` from 03-exec-family (the binary is ./exec-family).
 * Each test runs one case of the program the way a reader would and checks
 * the lines the README promises: the shell expands $HOME for exec but not
 * for exec_file, the injected command runs only through exec, the shebang
 * script runs, and the failures carry their real errno names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "testkit.h"

/* Run `./exec-family ARGS...` to completion; returns the process (already
 * exited with status 0) for its output. */
static tk_proc *run(const char *const argv[], const char *const env[])
{
    tk_proc *p = tk_start(argv, env);
    assert_non_null(p);
    int status = tk_wait_exit(p, 30000);
    assert_int_not_equal(status, -1);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    return p;
}

static void expect(tk_proc *p, const char *needle)
{
    if (strstr(p->out, needle) == NULL) {
        print_error("missing in output: %s\n--- output ---\n%s\n", needle, p->out);
        fail();
    }
}

static void test_help_and_bad_arguments(void **state)
{
    (void)state;
    tk_proc *p = tk_start((const char *[]){"./exec-family", "--help", NULL}, NULL);
    assert_non_null(p);
    int st = tk_wait_exit(p, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    expect(p, "usage: exec-family");
    tk_free(p);

    p = tk_start((const char *[]){"./exec-family", "no-such-case", NULL}, NULL);
    assert_non_null(p);
    st = tk_wait_exit(p, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    expect(p, "unknown case 'no-such-case'");
    expect(p, "usage: exec-family");
    tk_free(p);

    /* A bad value is named once with its flag or variable; exit 2, as in
     * chapter 01 (cli.c). */
    tk_expect_bad_value((const char *[]){"./exec-family", "-n", "0", "cost", NULL}, NULL,
                        "-n", "0");
    tk_expect_bad_value((const char *[]){"./exec-family", "--runs", "x", "cost", NULL},
                        NULL, "--runs", "x");
    tk_expect_bad_value((const char *[]){"./exec-family", "spawn", NULL},
                        (const char *[]){"LOOP_BACKEND=kqueue", NULL}, "LOOP_BACKEND",
                        "kqueue");
}

static void test_spawn_streams_ls_lines(void **state)
{
    (void)state;
    tk_proc *p = run((const char *[]){"./exec-family", "spawn", NULL}, NULL);
    expect(p, "spawn: started ls as pid ");
    expect(p, "got a chunk of ");
    /* ls -l of the chapter: the script and the Makefile are listed. */
    expect(p, "ls stdout line: -rwx");
    expect(p, " hello.sh\n");
    expect(p, " Makefile\n");
    expect(p, "exit event: exited with code 0");
    /* The exit event comes after the last line. */
    assert_true(strstr(p->out, "exit event") > strstr(p->out, " hello.sh\n"));
    tk_free(p);
}

static void test_exec_expands_home(void **state)
{
    (void)state;
    /* HOME=/tmp/abcd: 9 characters, 10 with the newline echo adds. */
    tk_proc *p = run((const char *[]){"./exec-family", "exec", NULL},
                     (const char *[]){"HOME=/tmp/abcd", NULL});
    expect(p, "exec 'echo $HOME | wc -c' -> error: none\n");
    expect(p, "stdout: 10\n");
    tk_free(p);
}

static void test_exec_file_prints_literally(void **state)
{
    (void)state;
    tk_proc *p = run((const char *[]){"./exec-family", "exec-file", NULL}, NULL);
    expect(p, "exec_file echo -> error: none\n");
    expect(p, "stdout: $HOME | wc -c\n");
    tk_free(p);
}

static void test_inject_only_through_the_shell(void **state)
{
    (void)state;
    tk_proc *p = run(
        (const char *[]){"./exec-family", "inject", "-i", "bob; echo PWNED", NULL}, NULL);
    /* exec: the shell ran the second command. */
    expect(p, "stdout: Hello, bob\n");
    assert_int_equal(tk_count_output(p, "stdout: PWNED\n"), 1);
    /* exec_file: the same text is one argument, printed as it is. */
    expect(p, "stdout: Hello, bob; echo PWNED\n");
    tk_free(p);
}

static void test_shebang_script(void **state)
{
    (void)state;
    tk_proc *p = run((const char *[]){"./exec-family", "shebang", NULL}, NULL);
    expect(p, "has mode 755");
    expect(p, "exec_file hello.sh -> error: none");
    expect(p, "stdout: hello from ./hello.sh (pid ");
    expect(p, "args: first arg second\n");
    tk_free(p);
}

static void test_failures_carry_errno(void **state)
{
    (void)state;
    tk_proc *p =
        run((const char *[]){"./exec-family", "eacces", "enoexec", "enoent", NULL}, NULL);
    char want[256];
    expect(p, "hello-noexec.sh has mode 644");
    snprintf(want, sizeof want,
             "exec_file hello-noexec.sh -> error: spawn failed: execve: %s (EACCES)",
             tk_strerror(EACCES));
    expect(p, want);
    snprintf(want, sizeof want,
             "exec_file no-shebang (execve) -> error: spawn failed: execve: %s (ENOEXEC)",
             tk_strerror(ENOEXEC));
    expect(p, want);
    /* POSIX has execvp run the file with /bin/sh on ENOEXEC. glibc, the BSDs
     * and macOS do; musl does not, and execvp fails as execve did. Either
     * is allowed, but it must be one of the two. */
    if (strstr(p->out, "exec_file no-shebang (execvp) -> error: none") != NULL) {
        expect(p, "stdout: no #! line, yet /bin/sh ran me");
    } else {
        snprintf(
            want, sizeof want,
            "exec_file no-shebang (execvp) -> error: spawn failed: execve: %s (ENOEXEC)",
            tk_strerror(ENOEXEC));
        expect(p, want);
    }
    snprintf(want, sizeof want,
             "exec_file no-such-program -> error: spawn failed: execve: %s (ENOENT)",
             tk_strerror(ENOENT));
    expect(p, want);
    /* Through the shell the same mistake is only an exit code. */
    expect(p, "exec 'no-such-program' -> error: exited with code 127");
    tk_free(p);
}

static void test_timeout_and_max_buffer(void **state)
{
    (void)state;
    tk_proc *p =
        run((const char *[]){"./exec-family", "timeout", "maxbuffer", NULL}, NULL);
    expect(p, "exec_file sleep 10 -> error: timed out, killed by SIGTERM");
    /* The shell exits at once; its background sleep holds the pipe. */
    expect(p, "exec (no process group) -> error: timed out after the child exited "
              "with code 0; something it started still held its output");
    expect(p, "still runs: out of reach without a process group (we stop it now)");
    expect(p, "exec (own process group) -> error: timed out after the child exited "
              "with code 0");
    expect(p, "is gone: the timeout signalled the whole group");
    expect(p, "exec_file yes -> error: stdout maxBuffer exceeded, killed by SIGTERM");
    expect(p, "(1048576 bytes in all)");
    tk_free(p);
}

static void test_exact_status(void **state)
{
    (void)state;
    tk_proc *p = run((const char *[]){"./exec-family", "status", NULL}, NULL);
    expect(p, "exec 'exit 3' -> error: exited with code 3");
    expect(p, "exec 'kill -USR1 $$' -> error: killed by signal SIGUSR1 (10)");
    tk_free(p);
}

/* The whole tour, on each loop backend: every case runs and nothing is
 * left running at the end. */
static void test_all_cases(void **state)
{
    (void)state;
    const char *backends[] = {"LOOP_BACKEND=select", "LOOP_BACKEND=poll"};
    for (size_t i = 0; i < 2; i++) {
        tk_proc *p = run((const char *[]){"./exec-family", NULL},
                         (const char *[]){backends[i], NULL});
        expect(p, "exit event: exited with code 0");
        expect(p, "(EACCES)");
        expect(p, "(ENOEXEC)");
        expect(p, "(ENOENT)");
        expect(p, "timed out");
        expect(p, "maxBuffer exceeded");
        expect(p, "done; children still running: 0");
        tk_free(p);
    }
}

/* The cost case (bench.sh runs it with 500): both medians and their ratio.
 * Only that they are printed; how fast is for the bench, not a test. */
static void test_cost_prints_both_ways(void **state)
{
    (void)state;
    tk_proc *p = run((const char *[]){"./exec-family", "-n", "5", "cost", NULL}, NULL);
    expect(p, "cost: 5 runs each of /bin/true");
    expect(p, "cost: exec_file /bin/true ");
    expect(p, "cost: exec '/bin/true' (sh -c first) ");
    expect(p, "cost: exec / exec_file = ");
    assert_int_equal(tk_count_output(p, "ms per call (median)"), 2);
    tk_free(p);
}

/* SIGTERM in the middle of the timeout case: it finishes, then exit 0. */
static void test_sigterm_stops_gracefully(void **state)
{
    (void)state;
    tk_proc *p =
        tk_start((const char *[]){"./exec-family", "timeout", "status", NULL}, NULL);
    assert_non_null(p);
    assert_non_null(tk_wait_output(p, "with a 500 ms timeout", 10000));
    int st = tk_stop(p, SIGTERM, 10000);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    expect(p, "got SIGTERM: finishing this case, then stopping");
    expect(p, "timed out, killed by SIGTERM");
    assert_null(strstr(p->out, "exec 'exit 3'")); /* status never started */
    expect(p, "done; children still running: 0");
    tk_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_bad_arguments),
        cmocka_unit_test(test_spawn_streams_ls_lines),
        cmocka_unit_test(test_exec_expands_home),
        cmocka_unit_test(test_exec_file_prints_literally),
        cmocka_unit_test(test_inject_only_through_the_shell),
        cmocka_unit_test(test_shebang_script),
        cmocka_unit_test(test_failures_carry_errno),
        cmocka_unit_test(test_timeout_and_max_buffer),
        cmocka_unit_test(test_exact_status),
        cmocka_unit_test(test_all_cases),
        cmocka_unit_test(test_cost_prints_both_ways),
        cmocka_unit_test(test_sigterm_stops_gracefully),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
