/*
 * testkit.c: the black-box test helpers (see testkit.h).
 *
 * Everything here is plain POSIX plus /proc for counting processes and fds.
 * Waits use poll(2) with a deadline; nothing sleeps to synchronise.
 */
/* cmocka.h needs these first; testkit.h then declares tk_run_group_tests */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testkit.h"

#include "net.h" /* 01-event-loop: the portable sockets and pipes */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h> /* PR_SET_PDEATHSIG */
#endif

/* cmocka needs these before it, for tk_expect_bad_value's assertions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <cmocka.h>

const char *tk_strerror(int e)
{
    static char text[256][128]; /* errno numbers are small; asked once each */
    const char *helper = getenv("TK_STRERROR");
    if (helper == NULL || *helper == '\0' || e < 0 || e >= 256)
        return strerror(e);
    if (text[e][0] != '\0')
        return text[e];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %d", helper, e);
    FILE *f = popen(cmd, "r");
    if (f == NULL)
        fail_msg("TK_STRERROR=%s: popen: %s", helper, strerror(errno));
    int ok = fgets(text[e], sizeof text[e], f) != NULL;
    if (pclose(f) != 0 || !ok)
        fail_msg("TK_STRERROR=%s: cannot run it", helper);
    text[e][strcspn(text[e], "\n")] = '\0';
    return text[e];
}

long long tk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining(long long deadline)
{
    long long left = deadline - tk_now_ms();
    return left < 0 ? 0 : (int)left;
}

/* ---- every started program, until tk_free ---------------------------------
 *
 * tk_start registers each program here and tk_free removes it, so that
 * nothing a test started can outlive it, whichever way the test ends:
 *
 *   - passed or failed: the runner below frees, when a test ends, every
 *     program the test started and has not freed (a failed assertion jumps
 *     out of the test, past its own tk_free calls);
 *   - the test process is stopped by SIGINT (Ctrl-C), SIGTERM (timeout(1)),
 *     SIGHUP or SIGQUIT: the programs run in process groups of their own,
 *     so the signal does not reach them; on_stop_signal kills them first;
 *   - it exits some other way: an atexit handler frees what is left.
 *
 * A signal handler reads the table, so the pids are sig_atomic_t, written
 * whole. The tk_proc pointers are only used outside the handler. */
#define TK_MAX_PROCS 256
static volatile sig_atomic_t reg_pid[TK_MAX_PROCS];
static tk_proc *reg_proc[TK_MAX_PROCS];
static unsigned long reg_test[TK_MAX_PROCS]; /* the test that started it */
static unsigned long test_serial;            /* the test running now */
static pid_t owner;                          /* the test process itself */

static const int stop_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define N_STOP_SIGNALS (sizeof stop_signals / sizeof stop_signals[0])

/* Kill every registered program's process group and reap the programs.
 * Only kill(2) and waitpid(2): it runs in a signal handler. */
static void kill_registered(void)
{
    for (int i = 0; i < TK_MAX_PROCS; i++) {
        pid_t pid = (pid_t)reg_pid[i];
        if (pid > 0) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
        }
    }
    for (int i = 0; i < TK_MAX_PROCS; i++) {
        pid_t pid = (pid_t)reg_pid[i];
        if (pid > 0)
            while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
                ;
    }
}

static void on_stop_signal(int signo)
{
    /* A child forked by a test (not exec'ed yet) inherits this handler;
     * the programs are not its own to kill. */
    if (getpid() == owner) {
        int saved = errno;
        kill_registered();
        errno = saved;
    }
    /* SA_RESETHAND restored the default action: die of the signal, as the
     * test process would have without testkit, once the handler returns. */
    raise(signo);
}

static void free_registered(unsigned long since_test)
{
    for (int i = 0; i < TK_MAX_PROCS; i++)
        if (reg_proc[i] != NULL && reg_test[i] >= since_test)
            tk_free(reg_proc[i]);
}

static void free_all_at_exit(void)
{
    if (getpid() == owner)
        free_registered(0);
}

/* Once per test process: the atexit handler, and handlers for the stop
 * signals the test process would otherwise die of. A signal the process
 * ignores, or handles itself, is left alone. */
static void install_cleanup(void)
{
    if (owner != 0)
        return;
    owner = getpid();
    if (atexit(free_all_at_exit) != 0) {
        fprintf(stderr, "testkit: atexit failed\n");
        exit(1);
    }
    for (size_t i = 0; i < N_STOP_SIGNALS; i++) {
        struct sigaction old;
        if (sigaction(stop_signals[i], NULL, &old) == -1 || old.sa_handler != SIG_DFL)
            continue;
        struct sigaction sa = {.sa_handler = on_stop_signal, .sa_flags = SA_RESETHAND};
        sigemptyset(&sa.sa_mask);
        sigaction(stop_signals[i], &sa, NULL);
    }
}

static void register_proc(tk_proc *p)
{
    for (int i = 0; i < TK_MAX_PROCS; i++)
        if (reg_pid[i] == 0) {
            reg_proc[i] = p;
            reg_test[i] = test_serial;
            reg_pid[i] = p->pid;
            return;
        }
    /* Would leave a program nobody can clean up. A test that keeps this
     * many programs at once is itself wrong. */
    fprintf(stderr, "testkit: more than %d programs started and not freed\n",
            TK_MAX_PROCS);
    kill(-p->pid, SIGKILL);
    abort();
}

/* p's slot in the table, or -1 if testkit does not know it (freed
 * already). Compares the pointer only: p may point to freed memory. */
static int registered_slot(const tk_proc *p)
{
    for (int i = 0; i < TK_MAX_PROCS; i++)
        if (reg_proc[i] == p)
            return i;
    return -1;
}

/* The environment of a started program: ours, with env's changes applied
 * ("NAME=value" sets, "NAME" removes). Built before fork, because setenv
 * and malloc are not async-signal-safe and the child may only call
 * functions that are. Returns a malloc'ed array of pointers into environ
 * and env (free only the array), or NULL. */
extern char **environ;

static size_t name_len(const char *entry)
{
    const char *eq = strchr(entry, '=');
    return eq ? (size_t)(eq - entry) : strlen(entry);
}

static char **build_env(const char *const env[])
{
    size_t n_env = 0, n_ours = 0;
    while (env && env[n_env])
        n_env++;
    while (environ[n_ours])
        n_ours++;
    char **out = calloc(n_ours + n_env + 1, sizeof *out);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < n_ours; i++) {
        size_t len = name_len(environ[i]);
        int replaced = 0;
        for (size_t j = 0; j < n_env && !replaced; j++)
            replaced = name_len(env[j]) == len && strncmp(env[j], environ[i], len) == 0;
        if (!replaced)
            out[n++] = environ[i];
    }
    for (size_t j = 0; j < n_env; j++)
        if (strchr(env[j], '=') != NULL)
            out[n++] = (char *)env[j];
    out[n] = NULL;
    return out;
}

/* The fds a started program is given, all close-on-exec in this process:
 * the pipe its stdout and stderr go to, a pipe that reports an exec
 * failure, and /dev/null for its stdin. */
struct child_fds {
    int out[2];
    int exec_err[2];
    int devnull;
};

static void close_child_fds(struct child_fds *f)
{
    int *fds[] = {&f->out[0], &f->out[1], &f->exec_err[0], &f->exec_err[1], &f->devnull};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (*fds[i] != -1) {
            close(*fds[i]);
            *fds[i] = -1;
        }
}

static int open_child_fds(struct child_fds *f)
{
    *f = (struct child_fds){{-1, -1}, {-1, -1}, -1};
    if (net_pipe(f->out, O_CLOEXEC) == -1) {
        perror("testkit: pipe2");
        return -1;
    }
    /* A second CLOEXEC pipe reports an exec failure to us instead of a
     * confusing exit status 127 (the closed pipe means exec worked). */
    if (net_pipe(f->exec_err, O_CLOEXEC) == -1) {
        perror("testkit: pipe2");
        close_child_fds(f);
        return -1;
    }
    /* stdin. Opened here with O_CLOEXEC: dup2 gives the child its fd 0, and
     * exec closes the original, so the program starts with 0, 1 and 2 and
     * nothing else of ours. */
    f->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (f->devnull == -1) {
        perror("testkit: /dev/null");
        close_child_fds(f);
        return -1;
    }
    return 0;
}

/* Die with the test process, however it dies. The stop-signal handler
 * kills the programs when it can, but SIGKILL (timeout -k, the OOM killer)
 * runs no handler, and nothing else would stop a program in a group of its
 * own. On Linux the kernel sends the program SIGKILL when its parent dies
 * (it survives exec); the programs' own workers watch their master (06's
 * lifeline, 05's channel), so they follow. Elsewhere only the handler and
 * the atexit cleanup remain. */
static void die_with_parent(pid_t parent)
{
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* The parent may have died before the call: the program is then
     * already someone else's child. */
    if (getppid() != parent)
        _exit(127);
#else
    (void)parent;
#endif
}

/* The child, between fork and exec: only async-signal-safe calls. */
static _Noreturn void exec_child(const char *const argv[], char **envp,
                                 const struct child_fds *f, pid_t parent)
{
    setpgid(0, 0);
    die_with_parent(parent);
    dup2(f->devnull, 0);
    dup2(f->out[1], 1);
    dup2(f->out[1], 2);
    /* The test process may have blocked or ignored signals (a shell
     * running us might), and it catches the stop signals itself; give
     * the program the defaults a terminal user would give it. */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGPIPE, &dfl, NULL);
    for (size_t i = 0; i < N_STOP_SIGNALS; i++)
        sigaction(stop_signals[i], &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(argv[0], (char *const *)argv, envp);
    int e = errno;
    if (write(f->exec_err[1], &e, sizeof e) < 0) {
        /* nothing more we can do in the child */
    }
    _exit(127);
}

/* The parent, right after fork: keep our end of the output pipe, register
 * the child so that cleanup finds it. Signals are still blocked. */
static tk_proc *adopt_child(pid_t pid, struct child_fds *f)
{
    /* Also set the group from the parent side, so there is no window in
     * which tk_free's kill(-pid) could miss the group. */
    setpgid(pid, pid);
    tk_proc *p = calloc(1, sizeof *p);
    if (p == NULL) {
        perror("testkit: calloc");
        kill(-pid, SIGKILL);
        exit(1);
    }
    p->pid = pid;
    p->out_fd = f->out[0];
    register_proc(p);
    return p;
}

/* The child's ends, closed in the parent once the child has its copies:
 * our read ends then see EOF when the program exits (or execs). */
static void close_child_ends(struct child_fds *f)
{
    close(f->out[1]);
    close(f->exec_err[1]);
    close(f->devnull);
}

/* 1 if the child reported that exec failed (named on stderr), 0 if exec
 * worked: the pipe closed on exec with nothing written. */
static int exec_failed(int efd, const char *prog)
{
    int e = 0;
    ssize_t n;
    do {
        n = read(efd, &e, sizeof e);
    } while (n == -1 && errno == EINTR);
    close(efd);
    if (n != (ssize_t)sizeof e)
        return 0;
    fprintf(stderr, "testkit: cannot exec %s: %s\n", prog, strerror(e));
    return 1;
}

tk_proc *tk_start(const char *const argv[], const char *const env[])
{
    install_cleanup();
    char **envp = build_env(env);
    if (envp == NULL) {
        perror("testkit: calloc");
        return NULL;
    }
    struct child_fds f;
    if (open_child_fds(&f) == -1) {
        free(envp);
        return NULL;
    }
    /* Block every signal until the child is registered: a Ctrl-C in
     * between would otherwise kill us before we know the child's pid, and
     * the child must not run on_stop_signal before it execs. */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == -1) {
        perror("testkit: fork");
        sigprocmask(SIG_SETMASK, &old, NULL);
        close_child_fds(&f);
        free(envp);
        return NULL;
    }
    if (pid == 0)
        exec_child(argv, envp, &f, parent);
    close_child_ends(&f);
    free(envp);
    tk_proc *p = adopt_child(pid, &f);
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (exec_failed(f.exec_err[0], argv[0])) {
        tk_free(p);
        return NULL;
    }
    p->out_cap = 4096;
    p->out = calloc(1, p->out_cap);
    if (p->out == NULL) {
        perror("testkit: calloc");
        exit(1);
    }
    return p;
}

/* Read once from the output pipe, waiting up to timeout_ms. Returns the
 * number of bytes read, 0 on EOF, -1 on timeout. */
static ssize_t read_output(tk_proc *p, int timeout_ms)
{
    if (p->out_fd == -1)
        return 0;
    struct pollfd pf = {.fd = p->out_fd, .events = POLLIN};
    int r = poll(&pf, 1, timeout_ms);
    if (r == -1 && errno == EINTR)
        return -1;
    if (r <= 0)
        return -1;
    if (p->out_len + 4096 + 1 > p->out_cap) {
        p->out_cap = (p->out_len + 4096 + 1) * 2;
        char *grown = realloc(p->out, p->out_cap);
        if (grown == NULL) {
            perror("testkit: realloc");
            exit(1);
        }
        p->out = grown;
    }
    ssize_t n = read(p->out_fd, p->out + p->out_len, 4096);
    if (n == -1 && errno == EINTR)
        return -1;
    if (n <= 0) {
        close(p->out_fd);
        p->out_fd = -1;
        return 0;
    }
    p->out_len += (size_t)n;
    p->out[p->out_len] = '\0';
    return n;
}

void tk_drain(tk_proc *p)
{
    while (read_output(p, 0) > 0)
        ;
}

const char *tk_wait_output(tk_proc *p, const char *needle, int timeout_ms)
{
    long long deadline = tk_now_ms() + timeout_ms;
    for (;;) {
        char *hit = strstr(p->out + p->scan, needle);
        if (hit != NULL) {
            p->scan = (size_t)(hit - p->out) + strlen(needle);
            return hit;
        }
        if (p->out_fd == -1 || remaining(deadline) == 0)
            return NULL;
        read_output(p, remaining(deadline));
    }
}

int tk_wait_listening(tk_proc *p, int timeout_ms)
{
    const char *hit = tk_wait_output(p, "listening on ", timeout_ms);
    if (hit == NULL)
        return -1;
    /* The line is `listening on HOST:PORT (pid N)`; the port follows the
     * last ':' before the space (HOST may be an IPv6 address). Make sure
     * the whole line has arrived first. */
    long long deadline = tk_now_ms() + timeout_ms;
    size_t off = (size_t)(hit - p->out);
    while (strchr(p->out + off, '\n') == NULL && p->out_fd != -1 &&
           remaining(deadline) > 0)
        read_output(p, remaining(deadline));
    const char *line = p->out + off;
    const char *sp = strstr(line + strlen("listening on "), " (pid");
    if (sp == NULL)
        return -1;
    const char *colon = sp;
    while (colon > line && *colon != ':')
        colon--;
    if (*colon != ':')
        return -1;
    return atoi(colon + 1);
}

int tk_count_output(tk_proc *p, const char *needle)
{
    tk_drain(p);
    int count = 0;
    const char *s = p->out;
    size_t n = strlen(needle);
    while (n > 0 && (s = strstr(s, needle)) != NULL) {
        count++;
        s += n;
    }
    return count;
}

int tk_wait_exit(tk_proc *p, int timeout_ms)
{
    if (p->exited)
        return p->status;
    long long deadline = tk_now_ms() + timeout_ms;
    for (;;) {
        int status;
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            p->exited = 1;
            p->status = status;
            /* Collect the rest of its output; workers that outlive it may
             * still hold the pipe, so do not wait for EOF for long. */
            while (read_output(p, 50) > 0)
                ;
            return status;
        }
        if (remaining(deadline) == 0)
            return -1;
        /* Read output while waiting so a chatty program never blocks on a
         * full pipe. Wait at most 10 ms per round. */
        int wait_ms = remaining(deadline) < 10 ? remaining(deadline) : 10;
        if (read_output(p, wait_ms) == 0) {
            /* EOF: poll no more on the pipe, just sleep a little */
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
}

int tk_stop(tk_proc *p, int signo, int timeout_ms)
{
    if (!p->exited)
        kill(p->pid, signo);
    int status = tk_wait_exit(p, timeout_ms);
    if (status == -1) {
        kill(-p->pid, SIGKILL);
        kill(p->pid, SIGKILL);
        tk_wait_exit(p, 5000);
        return -1;
    }
    return status;
}

void tk_free(tk_proc *p)
{
    if (p == NULL)
        return;
    int slot = registered_slot(p);
    if (slot == -1)
        return; /* freed already, when its test ended */
    /* Whatever the test did, leave nothing running. Kill and reap before
     * unregistering, so that a stop signal arriving meanwhile still finds
     * the program in the table. */
    kill(-p->pid, SIGKILL);
    if (!p->exited) {
        kill(p->pid, SIGKILL);
        while (waitpid(p->pid, NULL, 0) == -1 && errno == EINTR)
            ;
    }
    reg_pid[slot] = 0;
    reg_proc[slot] = NULL;
    if (p->out_fd != -1)
        close(p->out_fd);
    free(p->out);
    free(p);
}

/* ---- the cmocka runner: a test's programs end with the test ----------------
 *
 * testkit.h turns cmocka_run_group_tests into tk_run_group_tests, which runs
 * the same tests with each test's setup and teardown wrapped: the setup
 * starts a new test serial (every program tk_start runs from then on
 * belongs to this test), the teardown frees what the test left. cmocka
 * runs a test's teardown even when the test failed an assertion, so this is
 * the one place that sees every test end. The test's own setup, teardown
 * and initial state are kept in a tk_fixture, passed as the initial state.
 * When a group setup sets a group state, cmocka passes that to every test
 * instead (and ignores the initial states); the fixtures are then matched to
 * the tests by order, which is the order cmocka runs them in. */
struct tk_fixture {
    CMFixtureFunction setup;
    CMFixtureFunction teardown;
    void *initial_state;
};

static struct tk_fixture *fixtures;
static size_t n_fixtures, next_fixture;
static const struct tk_fixture *running;

static int tk_test_setup(void **state)
{
    uintptr_t at = (uintptr_t)*state, first = (uintptr_t)fixtures;
    struct tk_fixture *f;
    if (at >= first && at < first + n_fixtures * sizeof *fixtures) {
        f = *state;
        *state = f->initial_state;
    } else {
        f = &fixtures[next_fixture < n_fixtures ? next_fixture : n_fixtures - 1];
    }
    next_fixture = (size_t)(f - fixtures) + 1;
    running = f;
    test_serial++;
    if (running->setup != NULL && running->setup(state) != 0) {
        /* cmocka runs neither the test nor its teardown now */
        free_registered(test_serial);
        return -1;
    }
    return 0;
}

static int tk_test_teardown(void **state)
{
    int rc = running->teardown != NULL ? running->teardown(state) : 0;
    free_registered(test_serial);
    return rc;
}

int tk_run_group_tests(const char *group_name, const struct CMUnitTest *tests, size_t n,
                       CMFixtureFunction group_setup, CMFixtureFunction group_teardown)
{
    struct CMUnitTest *wrapped = calloc(n, sizeof *wrapped);
    fixtures = calloc(n, sizeof *fixtures);
    if (wrapped == NULL || fixtures == NULL) {
        perror("testkit: calloc");
        exit(1);
    }
    n_fixtures = n;
    next_fixture = 0;
    for (size_t i = 0; i < n; i++) {
        fixtures[i] = (struct tk_fixture){tests[i].setup_func, tests[i].teardown_func,
                                          tests[i].initial_state};
        wrapped[i] = tests[i];
        wrapped[i].setup_func = tk_test_setup;
        wrapped[i].teardown_func = tk_test_teardown;
        wrapped[i].initial_state = &fixtures[i];
    }
    int rc = _cmocka_run_group_tests(group_name, wrapped, n, group_setup, group_teardown);
    /* What the group setup started and the group teardown left. */
    free_registered(0);
    free(fixtures);
    fixtures = NULL;
    n_fixtures = 0;
    free(wrapped);
    return rc;
}

int tk_connect(const char *host, int port, int timeout_ms)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        errno = EINVAL;
        return -1;
    }
    int fd = net_socket(AF_INET, SOCK_STREAM, O_CLOEXEC | O_NONBLOCK);
    if (fd == -1)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
        if (errno != EINPROGRESS) {
            close(fd);
            return -1;
        }
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t len = sizeof err;
        if (poll(&pf, 1, timeout_ms) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err != 0) {
            close(fd);
            errno = err ? err : ETIMEDOUT;
            return -1;
        }
    }
    /* Back to blocking: the read helpers below bound every wait with
     * poll(2), and blocking sends keep tk_send simple. */
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

int tk_send(int fd, const void *buf, size_t len)
{
    const char *b = buf;
    while (len > 0) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

int tk_send_str(int fd, const char *s)
{
    return tk_send(fd, s, strlen(s));
}

static int wait_readable(int fd, long long deadline)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    for (;;) {
        int r = poll(&pf, 1, remaining(deadline));
        if (r == -1 && errno == EINTR)
            continue;
        return r == 1 ? 0 : -1;
    }
}

int tk_read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
    long long deadline = tk_now_ms() + timeout_ms;
    size_t len = 0;
    while (len + 1 < cap) {
        if (wait_readable(fd, deadline) == -1)
            return -1;
        /* Peek, then consume only up to the newline. */
        ssize_t n = recv(fd, buf + len, cap - 1 - len, MSG_PEEK);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        char *nl = memchr(buf + len, '\n', (size_t)n);
        size_t take = nl ? (size_t)(nl - (buf + len)) + 1 : (size_t)n;
        ssize_t got = recv(fd, buf + len, take, 0);
        if (got <= 0)
            return -1;
        len += (size_t)got;
        if (nl != NULL) {
            size_t line_len = len - 1; /* drop the '\n' */
            if (line_len > 0 && buf[line_len - 1] == '\r')
                line_len--; /* and a '\r' before it (HTTP) */
            buf[line_len] = '\0';
            return (int)line_len;
        }
    }
    return -1;
}

/* Read up to n bytes by the deadline. With eof_ends, an end of file (or a
 * reset) ends the read early; without, it is a failure. Returns the bytes
 * read, or -1 (the deadline passed, or an error). */
static ssize_t read_upto(int fd, char *buf, size_t n, long long deadline, int eof_ends)
{
    size_t got = 0;
    while (got < n) {
        if (wait_readable(fd, deadline) == -1)
            return -1;
        ssize_t r = read(fd, buf + got, n - got);
        if (r == -1 && errno == EINTR)
            continue;
        if (eof_ends && (r == 0 || (r == -1 && errno == ECONNRESET)))
            break;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

ssize_t tk_read_n(int fd, void *buf, size_t n, int timeout_ms)
{
    return read_upto(fd, buf, n, tk_now_ms() + timeout_ms, 0);
}

ssize_t tk_read_all(int fd, char *buf, size_t cap, int timeout_ms)
{
    ssize_t got = read_upto(fd, buf, cap - 1, tk_now_ms() + timeout_ms, 1);
    if (got == -1)
        return -1;
    buf[got] = '\0';
    return got;
}

/* /proc/PID/stat read into buf; returns where the fields after the
 * command name start (its closing ')'), or NULL. The name is in
 * parentheses and may contain spaces, so the last ')' ends it. */
static const char *stat_after_name(pid_t pid, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return NULL;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    return strrchr(buf, ')');
}

/* Read /proc/PID/stat: state, ppid and pgrp. */
static int read_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp)
{
    char buf[1024];
    const char *rp = stat_after_name(pid, buf, sizeof buf);
    if (rp == NULL)
        return -1;
    int pp, pg;
    char st;
    if (sscanf(rp + 1, " %c %d %d", &st, &pp, &pg) != 3)
        return -1;
    *state = st;
    *ppid = pp;
    *pgrp = pg;
    return 0;
}

enum { COUNT_LIVE_CHILDREN, COUNT_ZOMBIE_CHILDREN, COUNT_GROUP };

/* /proc is Linux's. Where it is missing, a test that counts processes or
 * fds cannot check what it means to, so it is skipped with a message
 * rather than failed on a -1. */
static void need_proc(void)
{
    if (access("/proc/self/stat", F_OK) == 0)
        return;
    print_message("testkit: no /proc here (it is Linux's): this test is skipped\n");
    skip();
}

static int scan_proc(pid_t who, int what, pid_t *pids, int max)
{
    need_proc();
    DIR *d = opendir("/proc");
    if (d == NULL)
        return -1;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        pid_t pid = atoi(e->d_name);
        char st;
        pid_t ppid, pgrp;
        if (read_stat(pid, &st, &ppid, &pgrp) == -1)
            continue;
        int zombie = (st == 'Z' || st == 'X');
        int match = 0;
        if (what == COUNT_LIVE_CHILDREN)
            match = ppid == who && !zombie;
        else if (what == COUNT_ZOMBIE_CHILDREN)
            match = ppid == who && zombie;
        else
            match = pgrp == who && !zombie;
        if (match) {
            if (pids != NULL && count < max)
                pids[count] = pid;
            count++;
        }
    }
    closedir(d);
    return count;
}

int tk_count_children(pid_t parent)
{
    return scan_proc(parent, COUNT_LIVE_CHILDREN, NULL, 0);
}

int tk_count_zombies(pid_t parent)
{
    return scan_proc(parent, COUNT_ZOMBIE_CHILDREN, NULL, 0);
}

int tk_count_group(pid_t pgid)
{
    return scan_proc(pgid, COUNT_GROUP, NULL, 0);
}

int tk_list_children(pid_t parent, pid_t *pids, int max)
{
    return scan_proc(parent, COUNT_LIVE_CHILDREN, pids, max);
}

int tk_alive(pid_t pid)
{
    char st;
    pid_t ppid, pgrp;
    if (access("/proc/self/stat", F_OK) != 0)
        return kill(pid, 0) == 0; /* no /proc: a zombie counts as alive */
    if (read_stat(pid, &st, &ppid, &pgrp) == -1)
        return 0;
    return !(st == 'Z' || st == 'X');
}

int tk_count_fds(pid_t pid)
{
    need_proc();
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            count++;
    closedir(d);
    return count;
}

long tk_cpu_ms(pid_t pid)
{
    need_proc();
    char buf[1024];
    const char *rp = stat_after_name(pid, buf, sizeof buf);
    if (rp == NULL)
        return -1;
    /* Fields after ')': state(3) ... utime(14) stime(15), in clock ticks. */
    unsigned long utime = 0, stime = 0;
    if (sscanf(rp + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
               &stime) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return (long)((utime + stime) * 1000 / (unsigned long)(hz > 0 ? hz : 100));
}

int tk_until(int (*cond)(void *arg), void *arg, int timeout_ms)
{
    long long deadline = tk_now_ms() + timeout_ms;
    for (;;) {
        if (cond(arg))
            return 1;
        if (remaining(deadline) == 0)
            return 0;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void tk_expect_bad_value(const char *const argv[], const char *const env[],
                         const char *flag, const char *value)
{
    tk_proc *p = tk_start(argv, env);
    assert_non_null(p);
    int status = tk_wait_exit(p, 5000);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 2)
        fail_msg("%s with %s %s: wanted exit 2, got %s %d; it printed:\n%s", argv[0],
                 flag, value,
                 status == -1        ? "no exit in 5 s"
                 : WIFEXITED(status) ? "exit"
                                     : "signal",
                 status == -1        ? 0
                 : WIFEXITED(status) ? WEXITSTATUS(status)
                                     : WTERMSIG(status),
                 p->out);
    /* Count the lines that name both the flag and the value. */
    int naming = 0;
    for (const char *line = p->out; *line != '\0';) {
        const char *nl = strchr(line, '\n');
        size_t len = nl != NULL ? (size_t)(nl - line) : strlen(line);
        char buf[1024];
        snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1),
                 line);
        if (strstr(buf, flag) != NULL && strstr(buf, value) != NULL)
            naming++;
        line += len + (nl != NULL);
    }
    if (naming != 1)
        fail_msg("%s with %s %s: wanted one line naming both, got %d; it printed:\n%s",
                 argv[0], flag, value, naming, p->out);
    tk_free(p);
}
