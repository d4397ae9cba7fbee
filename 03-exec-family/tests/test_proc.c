/*
 * test_proc.c: unit tests of the proc module (spawn, exec, exec_file).
 *
 * Run with `make test` from 03-exec-family. Each test makes its own loop,
 * starts real children (sh, echo, ls, sleep, head) and runs the loop until
 * the callbacks it expects have run, with a deadline instead of a sleep.
 * What they pin down: exact exit codes and signals; errno of a failed start
 * (ENOENT, EACCES, ENOEXEC) instead of exit 127; timeout and max_buffer
 * kills; 10 MiB on both streams at once; 100 concurrent execs; no fd that
 * leaks into a child; extra fds at the numbers asked for; and that proc
 * never reaps a child it did not start.
 */
/* _GNU_SOURCE: usleep(), which POSIX.1-2008 dropped. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop.h"
#include "net.h"
#include "proc.h"
#include "testkit.h"

/* ---- helpers ------------------------------------------------------------- */

static loop_t *new_loop(void)
{
    loop_backend_t b;
    assert_int_equal(loop_backend_default(&b), 0);
    loop_t *l = loop_new(b);
    assert_non_null(l);
    return l;
}

/* Run the loop until *count reaches want, or fail after timeout_ms. */
static void run_until(loop_t *l, const int *count, int want, int timeout_ms)
{
    long long end = tk_now_ms() + timeout_ms;
    while (*count < want && tk_now_ms() < end)
        assert_int_not_equal(loop_run_once(l, 100), -1);
    assert_int_equal(*count, want);
}

/* What an exec callback received. */
struct result {
    int calls;
    int ok;
    proc_status_t st;
    char *out, *err;
    size_t out_len, err_len;
};

static char *copy(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    assert_non_null(d);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static void on_result(const proc_status_t *error, const char *out, size_t out_len,
                      const char *err, size_t err_len, void *arg)
{
    struct result *r = arg;
    r->calls++;
    r->ok = error == NULL;
    if (error)
        r->st = *error;
    free(r->out);
    free(r->err);
    r->out = copy(out, out_len);
    r->err = copy(err, err_len);
    r->out_len = out_len;
    r->err_len = err_len;
}

static void result_free(struct result *r)
{
    free(r->out);
    free(r->err);
}

/* exec a command line to completion. */
static void exec_sync(const char *cmd, const proc_options_t *o, struct result *r)
{
    loop_t *l = new_loop();
    memset(r, 0, sizeof *r);
    assert_int_equal(proc_exec(l, cmd, o, on_result, r), 0);
    assert_int_equal(r->calls, 0); /* never called before proc_exec returns */
    run_until(l, &r->calls, 1, 20000);
    loop_free(l);
}

static void exec_file_sync(const char *file, char *const argv[], const proc_options_t *o,
                           struct result *r)
{
    loop_t *l = new_loop();
    memset(r, 0, sizeof *r);
    assert_int_equal(proc_exec_file(l, file, argv, o, on_result, r), 0);
    assert_int_equal(r->calls, 0);
    run_until(l, &r->calls, 1, 20000);
    loop_free(l);
}

/* A scratch directory with the files the spawn-failure tests need. */
static char tmpdir[64];

static const char *tmp_path(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static void write_file(const char *name, const char *text, mode_t mode)
{
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static int setup_files(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_proc.XXXXXX");
    if (mkdtemp(tmpdir) == NULL)
        return -1;
    write_file("script.sh", "#!/bin/sh\necho script ran with $1\n", 0755);
    write_file("noexec.sh", "#!/bin/sh\necho should not run\n", 0644);
    write_file("noshebang", "echo no shebang ran with $1\n", 0755);
    return 0;
}

static int teardown_files(void **state)
{
    (void)state;
    const char *names[] = {"script.sh", "noexec.sh", "noshebang"};
    for (size_t i = 0; i < 3; i++)
        unlink(tmp_path(names[i]));
    rmdir(tmpdir);
    return 0;
}

/* ---- exec: output, exit codes and signals -------------------------------- */

static void test_exec_collects_stdout_and_stderr(void **state)
{
    (void)state;
    struct result r;
    exec_sync("echo out; echo err >&2", NULL, &r);
    assert_int_equal(r.calls, 1);
    assert_true(r.ok);
    assert_string_equal(r.out, "out\n");
    assert_string_equal(r.err, "err\n");
    result_free(&r);
}

static void test_exec_uses_the_shell(void **state)
{
    (void)state;
    struct result r;
    exec_sync("printf '%s' \"$HOME\" | wc -c", NULL, &r);
    assert_true(r.ok);
    assert_int_equal(atoi(r.out), (int)strlen(getenv("HOME")));
    result_free(&r);
}

static void test_exec_file_has_no_shell(void **state)
{
    (void)state;
    struct result r;
    char *argv[] = {"echo", "$HOME", "|", "wc", "`id`", "*", NULL};
    exec_file_sync("echo", argv, NULL, &r);
    assert_true(r.ok);
    assert_string_equal(r.out, "$HOME | wc `id` *\n");
    result_free(&r);
}

static void test_exact_exit_codes(void **state)
{
    (void)state;
    int codes[] = {1, 2, 3, 42, 126, 127, 255};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char cmd[32];
        snprintf(cmd, sizeof cmd, "exit %d", codes[i]);
        struct result r;
        exec_sync(cmd, NULL, &r);
        assert_false(r.ok);
        assert_int_equal(r.st.how, PROC_EXITED);
        assert_int_equal(r.st.code, codes[i]);
        assert_int_equal(r.st.signo, 0);
        result_free(&r);
    }
}

static void test_exact_signals(void **state)
{
    (void)state;
    int sigs[] = {SIGKILL, SIGTERM, SIGUSR1, SIGINT, SIGSEGV};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        char cmd[32];
        snprintf(cmd, sizeof cmd, "kill -%d $$", sigs[i]);
        struct result r;
        exec_sync(cmd, NULL, &r);
        assert_false(r.ok);
        assert_int_equal(r.st.how, PROC_SIGNALED);
        assert_int_equal(r.st.signo, sigs[i]);
        assert_int_equal(r.st.code, -1);
        result_free(&r);
    }
}

/* A parent that ignores SIGPIPE (as servers do) must not pass that on. */
static void test_child_gets_default_signals(void **state)
{
    (void)state;
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigemptyset(&ign.sa_mask);
    assert_int_equal(sigaction(SIGPIPE, &ign, &old), 0);
    sigset_t usr1, oldmask;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    assert_int_equal(sigprocmask(SIG_BLOCK, &usr1, &oldmask), 0);

    struct result r;
    exec_sync("kill -PIPE $$; echo survived", NULL, &r);
    assert_int_equal(r.st.how, PROC_SIGNALED);
    assert_int_equal(r.st.signo, SIGPIPE);
    result_free(&r);
    exec_sync("kill -USR1 $$; echo survived", NULL, &r); /* not blocked */
    assert_int_equal(r.st.how, PROC_SIGNALED);
    assert_int_equal(r.st.signo, SIGUSR1);
    result_free(&r);

    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    sigaction(SIGPIPE, &old, NULL);
}

/* ---- spawn failures: the real errno, never "exit 127" ------------------ */

static void expect_spawn_failure(const char *file, char *const argv[],
                                 const proc_options_t *o, int err, const char *step)
{
    /* proc_spawn: NULL and errno, synchronously, no callback. */
    loop_t *l = new_loop();
    errno = 0;
    assert_null(proc_spawn(l, file, argv, o, NULL, NULL, NULL));
    assert_int_equal(errno, err);
    assert_int_equal(proc_running(), 0);
    loop_free(l);

    /* exec_file: the callback, from the loop, with PROC_SPAWN_FAILED. */
    struct result r;
    exec_file_sync(file, argv, o, &r);
    assert_false(r.ok);
    assert_int_equal(r.st.how, PROC_SPAWN_FAILED);
    assert_int_equal(r.st.err, err);
    assert_string_equal(r.st.step, step);
    assert_int_equal(r.st.code, -1);
    result_free(&r);
    assert_int_equal(tk_count_zombies(getpid()), 0);
}

static void test_enoent(void **state)
{
    (void)state;
    char *argv[] = {"no-such-program-here", NULL};
    expect_spawn_failure("no-such-program-here", argv, NULL, ENOENT, "execve");
    expect_spawn_failure("/no/such/dir/prog", argv, NULL, ENOENT, "execve");
}

static void test_eacces_without_execute_bit(void **state)
{
    (void)state;
    char *argv[] = {"noexec.sh", NULL};
    expect_spawn_failure(tmp_path("noexec.sh"), argv, NULL, EACCES, "execve");
}

static void test_enoexec_without_shebang(void **state)
{
    (void)state;
    char *argv[] = {"noshebang", "x", NULL};
    expect_spawn_failure(tmp_path("noshebang"), argv, NULL, ENOEXEC, "execve");
}

static void test_execvp_falls_back_to_sh(void **state)
{
    (void)state;
    char *argv[] = {"noshebang", "x", NULL};
    proc_options_t o = {0};
    o.execvp = 1;
    struct result r;
    exec_file_sync(tmp_path("noshebang"), argv, &o, &r);
    assert_true(r.ok);
    assert_string_equal(r.out, "no shebang ran with x\n");
    result_free(&r);
}

static void test_shebang_script_runs(void **state)
{
    (void)state;
    char *argv[] = {"script.sh", "arg1", NULL};
    struct result r;
    exec_file_sync(tmp_path("script.sh"), argv, NULL, &r);
    assert_true(r.ok);
    assert_string_equal(r.out, "script ran with arg1\n");
    result_free(&r);
}

/* PATH is searched like execvp: the options' env PATH if given; a directory
 * with a non-executable match gives EACCES only if nothing later runs. */
static void test_path_search(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "PATH=/nonexistent:%s", tmpdir);
    char *env[] = {path, NULL};
    proc_options_t o = {0};
    o.env = env;
    char *argv[] = {"script.sh", "found", NULL};
    struct result r;
    exec_file_sync("script.sh", argv, &o, &r);
    assert_true(r.ok);
    assert_string_equal(r.out, "script ran with found\n");
    result_free(&r);

    char *argv2[] = {"noexec.sh", NULL};
    exec_file_sync("noexec.sh", argv2, &o, &r);
    assert_int_equal(r.st.how, PROC_SPAWN_FAILED);
    assert_int_equal(r.st.err, EACCES);
    result_free(&r);

    char *env2[] = {"PATH=/nonexistent", NULL};
    o.env = env2;
    char *argv3[] = {"sh", "-c", "true", NULL};
    exec_file_sync("sh", argv3, &o, &r);
    assert_int_equal(r.st.how, PROC_SPAWN_FAILED);
    assert_int_equal(r.st.err, ENOENT);
    result_free(&r);
}

/* ---- options: cwd, env -------------------------------------------------- */

static void test_cwd(void **state)
{
    (void)state;
    proc_options_t o = {0};
    o.cwd = "/";
    struct result r;
    exec_sync("pwd", &o, &r);
    assert_string_equal(r.out, "/\n");
    result_free(&r);

    o.cwd = "/no/such/dir";
    exec_sync("pwd", &o, &r);
    assert_int_equal(r.st.how, PROC_SPAWN_FAILED);
    assert_int_equal(r.st.err, ENOENT);
    assert_string_equal(r.st.step, "chdir");
    result_free(&r);
}

static void test_env_is_the_whole_environment(void **state)
{
    (void)state;
    char *env[] = {"GREETING=hello", "OTHER=x y", NULL};
    proc_options_t o = {0};
    o.env = env;
    char *argv[] = {"env", NULL};
    struct result r;
    exec_file_sync("/usr/bin/env", argv, &o, &r);
    assert_true(r.ok);
    assert_string_equal(r.out, "GREETING=hello\nOTHER=x y\n");
    result_free(&r);
}

/* ---- timeout and max_buffer --------------------------------------------- */

static void test_timeout_kills_with_sigterm(void **state)
{
    (void)state;
    proc_options_t o = {0};
    o.timeout_ms = 200;
    char *argv[] = {"sleep", "30", NULL};
    long long t0 = tk_now_ms();
    struct result r;
    exec_file_sync("sleep", argv, &o, &r);
    long long took = tk_now_ms() - t0;
    assert_int_equal(r.st.how, PROC_TIMED_OUT);
    assert_int_equal(r.st.signo, SIGTERM);
    assert_true(took >= 190 && took < 10000); /* loaded box: generous */
    result_free(&r);

    o.kill_signal = SIGKILL;
    exec_file_sync("sleep", argv, &o, &r);
    assert_int_equal(r.st.how, PROC_TIMED_OUT);
    assert_int_equal(r.st.signo, SIGKILL);
    result_free(&r);
}

/* A child that finishes in time is not "timed out", and its timer is gone. */
static void test_timeout_not_reached(void **state)
{
    (void)state;
    proc_options_t o = {0};
    o.timeout_ms = 20000;
    struct result r;
    exec_sync("echo quick", &o, &r);
    assert_true(r.ok);
    assert_string_equal(r.out, "quick\n");
    result_free(&r);
}

/* ---- a timeout when a grandchild holds the output pipe --------------------
 *
 * `sh -c "sleep 20 & echo started"`: the shell exits at once, but the
 * background sleep inherited the shell's stdout, our pipe. EOF comes only
 * when the sleep ends, so a timeout that only kills the child (already gone)
 * used to do nothing: the callback came 20 s later and said "success". Each
 * command below writes the grandchild's pid to a file, so the test can check
 * what happened to it and the teardown can remove it whatever the outcome.
 */

#define GRANDCHILD_FILE "grandchild.pid"

static pid_t grandchild_pid(void)
{
    FILE *f = fopen(tmp_path(GRANDCHILD_FILE), "r");
    if (f == NULL)
        return -1;
    int pid = -1;
    if (fscanf(f, "%d", &pid) != 1)
        pid = -1;
    fclose(f);
    return pid;
}

static int has_grandchild_pid(void *arg)
{
    (void)arg;
    return grandchild_pid() > 0;
}

/* Teardown: kill the grandchild if it still runs (checking its name first,
 * so a recycled pid is left alone) and remove the file. */
static int kill_grandchild(void **state)
{
    (void)state;
    pid_t pid = grandchild_pid();
    if (pid > 0 && tk_alive(pid)) {
        char path[64], comm[32] = "";
        snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            if (fgets(comm, sizeof comm, f) == NULL)
                comm[0] = '\0';
            fclose(f);
        }
        if (strncmp(comm, "sleep", 5) == 0 || strncmp(comm, "yes", 3) == 0)
            kill(pid, SIGKILL);
    }
    unlink(tmp_path(GRANDCHILD_FILE));
    return 0;
}

/* Run a command line (with %s for the pid file) under options o, for at most
 * 8 s. Returns how long the callback took, and checks what must hold
 * whatever the command: one callback, no fd left open, no zombie, no child. */
static long long exec_with_grandchild(const char *fmt, const proc_options_t *o,
                                      struct result *r)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, fmt, tmp_path(GRANDCHILD_FILE));
    unlink(tmp_path(GRANDCHILD_FILE));
    int fds = tk_count_fds(getpid());
    long long t0 = tk_now_ms();
    loop_t *l = new_loop();
    memset(r, 0, sizeof *r);
    assert_int_equal(proc_exec(l, cmd, o, on_result, r), 0);
    while (r->calls == 0 && tk_now_ms() - t0 < 8000)
        assert_int_not_equal(loop_run_once(l, 100), -1);
    long long took = tk_now_ms() - t0;
    loop_free(l);
    assert_int_equal(r->calls, 1);
    assert_int_equal(tk_count_fds(getpid()), fds);
    assert_int_equal(tk_count_zombies(getpid()), 0);
    assert_int_equal(tk_count_children(getpid()), 0);
    assert_true(tk_until(has_grandchild_pid, NULL, 3000));
    return took;
}

/* The child still runs at the deadline, and so does its background job:
 * the child is killed, the pipes are closed, and the callback does not wait
 * for the background job's EOF. */
static void test_timeout_with_the_child_still_running(void **state)
{
    (void)state;
    proc_options_t o = {0};
    o.timeout_ms = 300;
    struct result r;
    long long took =
        exec_with_grandchild("sleep 20 & echo $! > %s; echo started; sleep 20", &o, &r);
    assert_true(took >= 290 && took < 4000);
    assert_int_equal(r.st.how, PROC_TIMED_OUT);
    assert_int_equal(r.st.signo, SIGTERM);
    assert_int_equal(r.st.exited_first, 0);
    assert_string_equal(r.out, "started\n");
    result_free(&r);
}

/* The child exited at once; a grandchild holds the pipe: the callback comes
 * at the deadline, says "timed out" (the output may be incomplete), carries
 * what was read, and the child's own exit code 0. */
static void test_timeout_with_a_grandchild_holding_the_pipe(void **state)
{
    (void)state;
    proc_options_t o = {0};
    o.timeout_ms = 300;
    struct result r;
    long long took =
        exec_with_grandchild("sleep 20 & echo $! > %s; echo started", &o, &r);
    assert_true(took >= 290 && took < 4000);
    assert_false(r.ok);
    assert_int_equal(r.st.how, PROC_TIMED_OUT);
    assert_int_equal(r.st.code, 0);
    assert_int_equal(r.st.signo, 0);
    assert_int_equal(r.st.exited_first, 1);
    assert_string_equal(r.out, "started\n");
    /* Without a process group of its own, the sleep is out of reach: it
     * runs on, holding nothing of ours (the teardown removes it). */
    assert_true(tk_alive(grandchild_pid()));
    result_free(&r);
}

/* A daemon (setsid: a session and a process group of its own) keeps the
 * pipe and is out of any group proc could signal: the callback still comes
 * at the deadline. */
static void test_timeout_with_a_daemonised_grandchild(void **state)
{
    (void)state;
    proc_options_t o = {0};
    o.timeout_ms = 300;
    struct result r;
    long long took = exec_with_grandchild(
        "setsid sh -c 'echo $$ > %s; exec sleep 20' & echo started", &o, &r);
    assert_true(took >= 290 && took < 4000);
    assert_int_equal(r.st.how, PROC_TIMED_OUT);
    assert_string_equal(r.out, "started\n");
    pid_t gc = grandchild_pid();
    assert_true(tk_alive(gc)); /* out of reach: the teardown removes it */
    result_free(&r);
}

static int grandchild_gone(void *arg)
{
    return !tk_alive(*(pid_t *)arg);
}

/* process_group: the timeout reaches the background job too, both while
 * the child still runs and after it has exited. */
static void test_timeout_reaches_the_process_group(void **state)
{
    (void)state;
    proc_options_t o = {0};
    o.timeout_ms = 300;
    o.process_group = 1;
    struct result r;
    long long took =
        exec_with_grandchild("sleep 20 & echo $! > %s; echo started; sleep 20", &o, &r);
    assert_true(took >= 290 && took < 4000);
    assert_int_equal(r.st.how, PROC_TIMED_OUT);
    assert_int_equal(r.st.signo, SIGTERM);
    assert_int_equal(r.st.exited_first, 0);
    assert_string_equal(r.out, "started\n");
    pid_t gc = grandchild_pid();
    assert_true(tk_until(grandchild_gone, &gc, 3000));
    result_free(&r);

    took = exec_with_grandchild("sleep 20 & echo $! > %s; echo started", &o, &r);
    assert_true(took >= 290 && took < 4000);
    assert_int_equal(r.st.how, PROC_TIMED_OUT);
    assert_int_equal(r.st.exited_first, 1);
    assert_int_equal(r.st.code, 0);
    assert_string_equal(r.out, "started\n");
    gc = grandchild_pid();
    assert_true(tk_until(grandchild_gone, &gc, 3000));
    char buf[200];
    assert_string_equal(proc_status_str(&r.st, buf, sizeof buf),
                        "timed out after the child exited with code 0; something it "
                        "started still held its output");
    result_free(&r);
}

/* The same for max_buffer: a grandchild that floods the pipe after the
 * child has exited used to be read (and dropped) forever. */
static void test_max_buffer_with_a_grandchild_flooding(void **state)
{
    (void)state;
    proc_options_t o = {0};
    o.max_buffer = 4096;
    o.timeout_ms = 20000; /* not what ends it */
    struct result r;
    long long took = exec_with_grandchild("yes & echo $! > %s; exit 0", &o, &r);
    assert_true(took < 4000);
    assert_int_equal(r.st.how, PROC_MAX_BUFFER);
    assert_int_equal(r.st.stream, 1);
    assert_int_equal(r.out_len, 4096);
    result_free(&r);
}

static void test_max_buffer(void **state)
{
    (void)state;
    proc_options_t o = {0};
    o.max_buffer = 1000;
    struct result r;
    exec_sync("head -c 5000 /dev/zero", &o, &r);
    assert_int_equal(r.st.how, PROC_MAX_BUFFER);
    assert_int_equal(r.st.stream, 1);
    assert_int_equal(r.out_len, 1000);
    result_free(&r);

    exec_sync("head -c 5000 /dev/zero >&2", &o, &r);
    assert_int_equal(r.st.how, PROC_MAX_BUFFER);
    assert_int_equal(r.st.stream, 2);
    assert_int_equal(r.err_len, 1000);
    result_free(&r);

    /* Exactly max_buffer bytes is within the limit. */
    exec_sync("head -c 1000 /dev/zero", &o, &r);
    assert_true(r.ok);
    assert_int_equal(r.out_len, 1000);
    result_free(&r);
}

static void test_max_buffer_default_is_1_mib(void **state)
{
    (void)state;
    struct result r;
    char *argv[] = {"yes", NULL};
    exec_file_sync("yes", argv, NULL, &r);
    assert_int_equal(r.st.how, PROC_MAX_BUFFER);
    assert_int_equal(r.st.signo, SIGTERM);
    assert_int_equal(r.out_len, 1024 * 1024);
    result_free(&r);
}

/* ---- both streams at once, many children at once ------------------------ */

/* Two writers fill stdout and stderr at the same time. A parent that read
 * stdout to EOF before looking at stderr would hang: the stderr writer
 * blocks on a full pipe, and it holds stdout open too. */
static void test_10_mib_on_both_streams(void **state)
{
    (void)state;
    proc_options_t o = {0};
    o.max_buffer = 64 * 1024 * 1024;
    struct result r;
    exec_sync("head -c 10485760 /dev/zero & head -c 10485760 /dev/zero >&2; wait", &o,
              &r);
    assert_true(r.ok);
    assert_int_equal(r.out_len, 10485760);
    assert_int_equal(r.err_len, 10485760);
    result_free(&r);
}

struct many {
    int calls;
    int seen[100];
    int wrong;
};

struct one {
    struct many *m;
    int i;
};

static void on_one(const proc_status_t *error, const char *out, size_t out_len,
                   const char *err, size_t err_len, void *arg)
{
    (void)err, (void)err_len, (void)out_len;
    struct one *o = arg;
    o->m->calls++;
    o->m->seen[o->i]++;
    if (error != NULL || atoi(out) != o->i)
        o->m->wrong++;
}

static void test_100_concurrent_execs(void **state)
{
    (void)state;
    int fds_before = tk_count_fds(getpid());
    loop_t *l = new_loop();
    struct many m = {0};
    struct one ones[100];
    for (int i = 0; i < 100; i++) {
        char cmd[32];
        snprintf(cmd, sizeof cmd, "echo %d", i);
        ones[i] = (struct one){&m, i};
        assert_int_equal(proc_exec(l, cmd, NULL, on_one, &ones[i]), 0);
    }
    run_until(l, &m.calls, 100, 60000);
    /* A few more turns: a second callback for anyone would show up here. */
    for (int i = 0; i < 5; i++)
        loop_run_once(l, 10);
    assert_int_equal(m.calls, 100);
    assert_int_equal(m.wrong, 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(m.seen[i], 1);
    assert_int_equal(proc_running(), 0);
    assert_int_equal(tk_count_zombies(getpid()), 0);
    loop_free(l);
    assert_int_equal(tk_count_fds(getpid()), fds_before);
}

/* ---- file descriptors ----------------------------------------------------- */

/* Which fds does a child see? ls -l /proc/self/fd, minus the one ls opens
 * to read that directory. Returns a bitmask of fd numbers < 64 and counts
 * any fd >= 64 in bit 63. */
static uint64_t child_fds(const proc_options_t *o)
{
    if (access("/proc/self/fd", F_OK) != 0) {
        print_message("no /proc/self/fd (it is Linux's): skipped\n");
        skip();
    }
    char *argv[] = {"ls", "-l", "/proc/self/fd/", NULL};
    struct result r;
    exec_file_sync("ls", argv, o, &r);
    assert_true(r.ok);
    uint64_t mask = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        char *arrow = strstr(line, " -> ");
        if (arrow == NULL)
            continue;
        if (strncmp(arrow + 4, "/proc/", 6) == 0)
            continue; /* ls's own directory fd */
        char *p = arrow;
        while (p > line && p[-1] != ' ')
            p--;
        int fd = atoi(p);
        mask |= (uint64_t)1 << (fd < 63 ? fd : 63);
    }
    result_free(&r);
    return mask;
}

static void test_no_fd_leaks_into_children(void **state)
{
    (void)state;
    /* Fds opened WITHOUT close-on-exec, as careless code would. */
    int leaky = open("/dev/null", O_RDONLY);
    int p[2];
    assert_true(leaky >= 3);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(child_fds(NULL), 0x7); /* 0, 1, 2 and nothing else */

    proc_options_t o = {0};
    o.stdio[0] = PROC_IGNORE;
    o.stdio[2] = PROC_IGNORE;
    assert_int_equal(child_fds(&o), 0x7);
    close(leaky);
    close(p[0]);
    close(p[1]);
}

static void test_extra_fd_at_the_number_asked(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(net_pipe(p, O_CLOEXEC), 0);
    proc_fd_t extra[] = {{p[1], 5}};
    proc_options_t o = {0};
    o.fds = extra;
    o.nfds = 1;
    assert_int_equal(child_fds(&o), 0x7 | 1 << 5);
    close(p[0]);
    close(p[1]);
}

/* Chapter 04's use: a socketpair end as fd 3, extra environment, stdio
 * inherited. The child writes to fd 3 and we read it on our end. */
static void test_socketpair_end_as_fd_3(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
    char *env[] = {"NODE_CHANNEL_FD=3", "NODE_CHANNEL_SERIALIZATION_MODE=json",
                   "PATH=/usr/bin:/bin", NULL};
    proc_fd_t extra[] = {{sv[1], 3}};
    proc_options_t o = {0};
    o.env = env;
    o.fds = extra;
    o.nfds = 1;
    o.stdio[0] = o.stdio[1] = o.stdio[2] = PROC_INHERIT;

    loop_t *l = new_loop();
    char *argv[] = {"sh", "-c",
                    "echo "
                    "\"{\\\"fd\\\":$NODE_CHANNEL_FD,\\\"mode\\\":\\\"$NODE_CHANNEL_"
                    "SERIALIZATION_MODE\\\"}\" >&3",
                    NULL};
    proc_t *c = proc_spawn(l, "/bin/sh", argv, &o, NULL, NULL, NULL);
    assert_non_null(c);
    close(sv[1]); /* the child has it now; keep only our end */
    char line[128];
    assert_true(tk_read_line(sv[0], line, sizeof line, 10000) > 0);
    assert_string_equal(line, "{\"fd\":3,\"mode\":\"json\"}");
    /* EOF once the child is gone: nobody else held its end. */
    assert_int_equal(tk_read_all(sv[0], line, sizeof line, 10000), 0);
    while (proc_running() > 0)
        loop_run_once(l, 100);
    close(sv[0]);
    loop_free(l);
}

/* Two mappings whose sources and targets cross: our fd A must become the
 * child's fd B and our fd B the child's fd A. Done naively (dup2 in
 * order), the second dup2 would copy the already-overwritten fd. */
static void test_crossed_fd_mappings(void **state)
{
    (void)state;
    int a[2], b[2];
    assert_int_equal(net_pipe(a, O_CLOEXEC), 0);
    assert_int_equal(net_pipe(b, O_CLOEXEC), 0);
    proc_fd_t extra[] = {{a[1], b[1]}, {b[1], a[1]}};
    proc_options_t o = {0};
    o.fds = extra;
    o.nfds = 2;
    char cmd[100];
    /* Write "to-a" into the child's fd b[1], which is our pipe a. */
    snprintf(cmd, sizeof cmd, "echo to-a >&%d; echo to-b >&%d", b[1], a[1]);
    struct result r;
    exec_sync(cmd, &o, &r);
    assert_true(r.ok);
    result_free(&r);
    close(a[1]);
    close(b[1]);
    char line[64];
    assert_true(tk_read_all(a[0], line, sizeof line, 5000) > 0);
    assert_string_equal(line, "to-a\n");
    assert_true(tk_read_all(b[0], line, sizeof line, 5000) > 0);
    assert_string_equal(line, "to-b\n");
    close(a[0]);
    close(b[0]);
}

/* ---- proc_start: fork + exec for callers that reap their own children --- */

/* Wait for pid (ours, not proc's), with a deadline instead of a hang. */
static int reap_within(pid_t pid, int timeout_ms)
{
    int st = -1;
    for (int waited = 0; waited < timeout_ms; waited += 10) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        assert_int_equal(r, 0);
        usleep(10000);
    }
    fail_msg("child %d still running after %d ms", (int)pid, timeout_ms);
    return -1;
}

static void test_start_fd_map_with_overlapping_numbers(void **state)
{
    (void)state;
    int a[2], b[2], c[2];
    assert_int_equal(net_pipe(a, O_CLOEXEC), 0);
    assert_int_equal(net_pipe(b, O_CLOEXEC), 0);
    assert_int_equal(net_pipe(c, O_CLOEXEC), 0);
    /* Each source number is the other's target, and stdout is in the map
     * too: a naive dup2 in order would hand both numbers the same pipe. */
    proc_fd_t fds[] = {{a[1], b[1]}, {b[1], a[1]}, {c[1], 1}};
    char cmd[100];
    snprintf(cmd, sizeof cmd, "echo to-a >&%d; echo to-b >&%d; echo out", b[1], a[1]);
    char *argv[] = {"sh", "-c", cmd, NULL};
    proc_start_t s = {.file = "/bin/sh", .argv = argv, .fds = fds, .nfds = 3};
    const char *step = NULL;
    pid_t pid = proc_start(&s, &step);
    assert_true(pid > 0);
    close(a[1]);
    close(b[1]);
    close(c[1]);
    char line[64];
    assert_true(tk_read_all(a[0], line, sizeof line, 5000) > 0);
    assert_string_equal(line, "to-a\n");
    assert_true(tk_read_all(b[0], line, sizeof line, 5000) > 0);
    assert_string_equal(line, "to-b\n");
    assert_true(tk_read_all(c[0], line, sizeof line, 5000) > 0);
    assert_string_equal(line, "out\n");
    int st = reap_within(pid, 5000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(a[0]);
    close(b[0]);
    close(c[0]);
}

static int hook_calls_in_parent;

/* Runs in the child: write our pid (async-signal-safe calls only). */
static int hook_report_pid(void *arg)
{
    hook_calls_in_parent++; /* the child's copy: the parent's stays 0 */
    pid_t me = getpid();
    return write(*(int *)arg, &me, sizeof me) == (ssize_t)sizeof me ? 0 : -1;
}

static int hook_refuse(void *arg)
{
    (void)arg;
    errno = EPERM;
    return -1;
}

static void test_start_reports_the_exec_errno(void **state)
{
    (void)state;
    char *argv[] = {"nope", NULL};
    proc_start_t s = {.file = tmp_path("missing"), .argv = argv};
    const char *step = NULL;
    errno = 0;
    assert_int_equal(proc_start(&s, &step), -1);
    assert_int_equal(errno, ENOENT);
    assert_non_null(step);
    assert_string_equal(step, "execve");
    /* The failed child was reaped by proc_start, not left as a zombie. */
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);

    /* Without path_search the file is a path, as for execve: "sh" is
     * ./sh, which does not exist here. */
    s.file = "sh";
    s.cwd = tmp_path("");
    assert_int_equal(proc_start(&s, &step), -1);
    assert_int_equal(errno, ENOENT);

    /* A hook that fails stops the start, with its errno and step. */
    s.file = "/bin/true";
    s.cwd = NULL;
    s.before_exec = hook_refuse;
    assert_int_equal(proc_start(&s, &step), -1);
    assert_int_equal(errno, EPERM);
    assert_string_equal(step, "before_exec");
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

static void test_start_resets_signals_and_runs_the_hook(void **state)
{
    (void)state;
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigemptyset(&ign.sa_mask);
    assert_int_equal(sigaction(SIGPIPE, &ign, &old), 0);
    sigset_t usr1, oldmask;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    assert_int_equal(sigprocmask(SIG_BLOCK, &usr1, &oldmask), 0);

    /* An ignored SIGPIPE would let the shell run on to exit 3. */
    char *pipe_argv[] = {"sh", "-c", "kill -PIPE $$; exit 3", NULL};
    proc_start_t s = {.file = "/bin/sh", .argv = pipe_argv};
    pid_t pid = proc_start(&s, NULL);
    assert_true(pid > 0);
    int st = reap_within(pid, 5000);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGPIPE);

    /* A blocked SIGUSR1 would stay pending; with the hook on, too. */
    int hp[2];
    assert_int_equal(net_pipe(hp, O_CLOEXEC), 0);
    char *usr1_argv[] = {"sh", "-c", "kill -USR1 $$; exit 3", NULL};
    s.argv = usr1_argv;
    s.before_exec = hook_report_pid;
    s.before_exec_arg = &hp[1];
    pid = proc_start(&s, NULL);
    assert_true(pid > 0);
    st = reap_within(pid, 5000);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGUSR1);
    close(hp[1]);
    pid_t hook_pid = 0;
    assert_int_equal(read(hp[0], &hook_pid, sizeof hook_pid), (ssize_t)sizeof hook_pid);
    assert_int_equal(hook_pid, pid);           /* it ran in the child ... */
    assert_int_equal(hook_calls_in_parent, 0); /* ... and only there */
    close(hp[0]);

    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    sigaction(SIGPIPE, &old, NULL);
}

/* ---- spawn: streaming, stdin, exit event, kill -------------------------- */

struct stream {
    char out[256];
    size_t len;
    int chunks, eof[3], exits, eof_before_exit;
    proc_status_t st;
};

static void s_data(proc_t *p, int stream, const char *data, size_t len, void *arg)
{
    (void)p;
    struct stream *s = arg;
    if (len == 0) {
        s->eof[stream]++;
        return;
    }
    s->chunks++;
    if (stream == 1 && s->len + len < sizeof s->out) {
        memcpy(s->out + s->len, data, len);
        s->len += len;
    }
}

static void s_exit(proc_t *p, const proc_status_t *st, void *arg)
{
    (void)p;
    struct stream *s = arg;
    s->exits++;
    s->st = *st;
    s->eof_before_exit = s->eof[1] == 1 && s->eof[2] == 1;
}

static void test_spawn_stdin_to_stdout(void **state)
{
    (void)state;
    loop_t *l = new_loop();
    struct stream s = {0};
    char *argv[] = {"tr", "a-z", "A-Z", NULL};
    proc_t *p = proc_spawn(l, "tr", argv, NULL, s_data, s_exit, &s);
    assert_non_null(p);
    assert_true(proc_pid(p) > 0);
    assert_int_equal(write(proc_stdin(p), "hello spawn\n", 12), 12);
    proc_close_stdin(p);
    assert_int_equal(proc_stdin(p), -1);
    run_until(l, &s.exits, 1, 10000);
    s.out[s.len] = '\0';
    assert_string_equal(s.out, "HELLO SPAWN\n");
    assert_true(s.eof_before_exit);
    assert_int_equal(s.st.how, PROC_EXITED);
    assert_int_equal(s.st.code, 0);
    loop_free(l);
}

/* Data arrives while the child still runs, not all at the end. */
static void test_spawn_streams_before_exit(void **state)
{
    (void)state;
    loop_t *l = new_loop();
    struct stream s = {0};
    char *argv[] = {"sh", "-c", "echo first; read x; echo second", NULL};
    proc_t *p = proc_spawn(l, "sh", argv, NULL, s_data, s_exit, &s);
    assert_non_null(p);
    run_until(l, &s.chunks, 1, 10000); /* "first" while sh waits for us */
    assert_int_equal(s.exits, 0);
    s.out[s.len] = '\0';
    assert_string_equal(s.out, "first\n");
    proc_close_stdin(p); /* read gets EOF; sh goes on */
    run_until(l, &s.exits, 1, 10000);
    s.out[s.len] = '\0';
    assert_string_equal(s.out, "first\nsecond\n");
    loop_free(l);
}

static void test_spawn_kill_reports_signal(void **state)
{
    (void)state;
    loop_t *l = new_loop();
    struct stream s = {0};
    char *argv[] = {"sleep", "30", NULL};
    proc_options_t o = {0};
    o.stdio[1] = o.stdio[2] = PROC_IGNORE;
    proc_t *p = proc_spawn(l, "sleep", argv, &o, NULL, s_exit, &s);
    assert_non_null(p);
    assert_int_equal(proc_kill(p, SIGKILL), 0);
    run_until(l, &s.exits, 1, 10000);
    assert_int_equal(s.st.how, PROC_SIGNALED);
    assert_int_equal(s.st.signo, SIGKILL);
    loop_free(l);
}

/* The child leads its own group only when asked; proc_kill then signals
 * the whole group. */
static void test_process_group_option(void **state)
{
    (void)state;
    loop_t *l = new_loop();
    struct stream s = {0};
    char *sleep_argv[] = {"sleep", "30", NULL};
    proc_options_t o = {0};
    o.stdio[1] = o.stdio[2] = PROC_IGNORE;
    proc_t *p = proc_spawn(l, "sleep", sleep_argv, &o, NULL, s_exit, &s);
    assert_non_null(p);
    assert_int_equal(getpgid(proc_pid(p)), getpgrp()); /* ours, as by default */
    assert_int_equal(proc_kill(p, SIGKILL), 0);
    run_until(l, &s.exits, 1, 10000);

    char *argv[] = {"sh", "-c", "sleep 30 & wait", NULL};

    o.process_group = 1;
    memset(&s, 0, sizeof s);
    p = proc_spawn(l, "sh", argv, &o, NULL, s_exit, &s);
    assert_non_null(p);
    pid_t pid = proc_pid(p);
    assert_int_equal(getpgid(pid), pid);
    long long end = tk_now_ms() + 5000;
    while (tk_count_group(pid) < 2 && tk_now_ms() < end)
        assert_int_not_equal(loop_run_once(l, 10), -1);
    assert_int_equal(tk_count_group(pid), 2); /* sh and its sleep */
    assert_int_equal(proc_kill(p, SIGTERM), 0);
    run_until(l, &s.exits, 1, 10000);
    assert_int_equal(s.st.how, PROC_SIGNALED);
    assert_int_equal(s.st.signo, SIGTERM);
    end = tk_now_ms() + 3000;
    while (tk_count_group(pid) > 0 && tk_now_ms() < end)
        assert_int_not_equal(loop_run_once(l, 10), -1);
    assert_int_equal(tk_count_group(pid), 0); /* the sleep went too */
    loop_free(l);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    loop_t *l = new_loop();
    char *argv[] = {"true", NULL};
    char *noargv[] = {NULL};
    proc_fd_t low[] = {{0, 2}};
    proc_options_t o = {0};
    o.fds = low;
    o.nfds = 1;
    errno = 0;
    assert_null(proc_spawn(l, "true", noargv, NULL, NULL, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(proc_spawn(l, "true", argv, &o, NULL, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    assert_int_equal(proc_exec(l, NULL, NULL, on_result, NULL), -1);
    assert_int_equal(proc_exec(l, "true", NULL, NULL, NULL), -1);
    loop_free(l);
}

/* ---- reaping only our own children ---------------------------------------- */

/* A child forked by other code in the same process must still be there
 * for that code to reap, with its own exit status. */
static void test_leaves_other_children_alone(void **state)
{
    (void)state;
    pid_t mine = fork();
    assert_true(mine != -1);
    if (mine == 0)
        _exit(7);
    struct result r;
    exec_sync("sleep 0.2; echo done", NULL, &r);
    assert_true(r.ok);
    result_free(&r);
    int status;
    assert_int_equal(waitpid(mine, &status, 0), mine);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 7);
}

static void test_status_strings(void **state)
{
    (void)state;
    char buf[200];
    proc_status_t st = {
        .how = PROC_SPAWN_FAILED, .err = ENOEXEC, .step = "execve", .code = -1};
    assert_non_null(strstr(proc_status_str(&st, buf, sizeof buf), "(ENOEXEC)"));
    st = (proc_status_t){.how = PROC_EXITED, .code = 3};
    assert_string_equal(proc_status_str(&st, buf, sizeof buf), "exited with code 3");
    st = (proc_status_t){.how = PROC_SIGNALED, .code = -1, .signo = SIGKILL};
    assert_string_equal(proc_status_str(&st, buf, sizeof buf),
                        "killed by signal SIGKILL (9)");
    st = (proc_status_t){.how = PROC_TIMED_OUT, .code = -1, .signo = SIGTERM};
    assert_string_equal(proc_status_str(&st, buf, sizeof buf),
                        "timed out, killed by SIGTERM");
    st = (proc_status_t){
        .how = PROC_MAX_BUFFER, .code = -1, .signo = SIGTERM, .stream = 2};
    assert_string_equal(proc_status_str(&st, buf, sizeof buf),
                        "stderr maxBuffer exceeded, killed by SIGTERM");
}

/* On the select backend an output pipe numbered FD_SETSIZE or more cannot
 * be watched. spawn must fail with the reason (ERANGE from loop_watch), and
 * leave no child, zombie or fd behind, instead of starting a child whose
 * output nobody reads. */
static void test_unwatchable_pipe_fails_cleanly(void **state)
{
    (void)state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    struct rlimit saved = rl;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < FD_SETSIZE + 64)
        skip(); /* cannot open fds past FD_SETSIZE here */
    rl.rlim_cur = FD_SETSIZE + 64;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    loop_t *l = loop_new(LOOP_SELECT);
    assert_non_null(l);
    /* One ordinary spawn first, so the loop's SIGCHLD self-pipe exists
     * below FD_SETSIZE and only the output pipes land above it. */
    char *true_argv[] = {"true", NULL};
    assert_non_null(proc_spawn(l, "/bin/true", true_argv, NULL, NULL, NULL, NULL));
    long long end = tk_now_ms() + 5000;
    while (proc_running() > 0 && tk_now_ms() < end)
        assert_int_not_equal(loop_run_once(l, 100), -1);
    assert_int_equal(proc_running(), 0);
    /* Fill every free fd below FD_SETSIZE, so the pipes land above it. */
    int filler[FD_SETSIZE];
    int nfill = 0;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_int_not_equal(fd, -1);
        if (fd >= FD_SETSIZE) {
            close(fd);
            break;
        }
        filler[nfill++] = fd;
    }
    int before = tk_count_fds(getpid());
    char *argv[] = {"echo", "hi", NULL};
    errno = 0;
    proc_t *p = proc_spawn(l, "/bin/echo", argv, NULL, NULL, NULL, NULL);
    int e = errno;
    assert_null(p);
    assert_int_equal(e, ERANGE);
    assert_int_equal(tk_count_fds(getpid()), before);
    assert_int_equal(tk_count_children(getpid()), 0);
    assert_int_equal(tk_count_zombies(getpid()), 0);
    for (int i = 0; i < nfill; i++)
        close(filler[i]);
    loop_free(l);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exec_collects_stdout_and_stderr),
        cmocka_unit_test(test_exec_uses_the_shell),
        cmocka_unit_test(test_exec_file_has_no_shell),
        cmocka_unit_test(test_exact_exit_codes),
        cmocka_unit_test(test_exact_signals),
        cmocka_unit_test(test_child_gets_default_signals),
        cmocka_unit_test(test_enoent),
        cmocka_unit_test(test_eacces_without_execute_bit),
        cmocka_unit_test(test_enoexec_without_shebang),
        cmocka_unit_test(test_execvp_falls_back_to_sh),
        cmocka_unit_test(test_shebang_script_runs),
        cmocka_unit_test(test_path_search),
        cmocka_unit_test(test_cwd),
        cmocka_unit_test(test_env_is_the_whole_environment),
        cmocka_unit_test(test_timeout_kills_with_sigterm),
        cmocka_unit_test(test_timeout_not_reached),
        cmocka_unit_test_teardown(test_timeout_with_the_child_still_running,
                                  kill_grandchild),
        cmocka_unit_test_teardown(test_timeout_with_a_grandchild_holding_the_pipe,
                                  kill_grandchild),
        cmocka_unit_test_teardown(test_timeout_with_a_daemonised_grandchild,
                                  kill_grandchild),
        cmocka_unit_test_teardown(test_max_buffer_with_a_grandchild_flooding,
                                  kill_grandchild),
        cmocka_unit_test_teardown(test_timeout_reaches_the_process_group,
                                  kill_grandchild),
        cmocka_unit_test(test_process_group_option),
        cmocka_unit_test(test_max_buffer),
        cmocka_unit_test(test_max_buffer_default_is_1_mib),
        cmocka_unit_test(test_10_mib_on_both_streams),
        cmocka_unit_test(test_100_concurrent_execs),
        cmocka_unit_test(test_no_fd_leaks_into_children),
        cmocka_unit_test(test_extra_fd_at_the_number_asked),
        cmocka_unit_test(test_socketpair_end_as_fd_3),
        cmocka_unit_test(test_crossed_fd_mappings),
        cmocka_unit_test(test_start_fd_map_with_overlapping_numbers),
        cmocka_unit_test(test_start_reports_the_exec_errno),
        cmocka_unit_test(test_start_resets_signals_and_runs_the_hook),
        cmocka_unit_test(test_spawn_stdin_to_stdout),
        cmocka_unit_test(test_spawn_streams_before_exit),
        cmocka_unit_test(test_spawn_kill_reports_signal),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_leaves_other_children_alone),
        cmocka_unit_test(test_status_strings),
        cmocka_unit_test(test_unwatchable_pipe_fails_cleanly),
    };
    return cmocka_run_group_tests(tests, setup_files, teardown_files);
}
