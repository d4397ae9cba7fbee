/*
 * exec-family.c: Node's spawn, exec and execFile, in C, one case at a time.
 *
 * Run it from this directory, in one terminal:
 *
 *     make
 *     ./exec-family                 every case below, in order
 *     ./exec-family exec exec-file  only those cases
 *     ./exec-family inject -i 'x; echo INJECTED'
 *
 * The cases:
 *   spawn      `ls -l` with proc_spawn: its output arrives in chunks, and
 *              we print it line by line as it comes, then the exit event.
 *   exec       `echo $HOME | wc -c` with proc_exec: /bin/sh -c runs it, so
 *              $HOME is expanded and the pipe works.
 *   exec-file  echo with the arguments `$HOME`, `|`, `wc`, `-c` via
 *              proc_exec_file: no shell, so they are printed literally.
 *   inject     user input built into a command line: exec runs whatever
 *              the input smuggles in, exec_file does not.
 *   shebang    ./hello.sh run directly: the kernel honours its #! line.
 *   eacces     a copy of hello.sh without the execute bit: EACCES.
 *   enoexec    ./no-shebang (no #! line): execve gives ENOEXEC; execvp
 *              runs it with /bin/sh instead, as POSIX asks, where the libc
 *              does so (glibc, the BSDs, macOS; musl does not).
 *   enoent     a missing program: ENOENT from execve, not "exit 127";
 *              through the shell, though, it IS exit 127.
 *   timeout    `sleep 10` with a 500 ms timeout: killed by SIGTERM. Then
 *              `sleep 5 & echo $!`, whose shell exits at once while the
 *              background sleep holds the output pipe: the timeout still
 *              fires at 500 ms, and with process_group it stops the sleep.
 *   maxbuffer  `yes` with the default 1 MiB max_buffer: killed, and the
 *              output is cut at exactly 1048576 bytes.
 *   status     `exit 3` and `kill -USR1 $$`: exit code and signal, exactly.
 *   cost       (only when named; bench.sh runs it) the time to start
 *              /bin/true and get its callback, with and without the shell.
 *
 * Every line the program prints starts with [parent PID]; lines that came
 * from a child say which child (by pid) and which stream.
 */
#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"  /* taught in 01-event-loop */
#include "loop.h" /* taught in 01-event-loop */
#include "proc.h"
#include "stats.h" /* the median, from 02-fork */

static loop_t *loop;
static int pending;    /* children of the current case not yet reported */
static int stopping;   /* SIGINT/SIGTERM: finish this case, then stop */
static char dir[1024]; /* where this program and its scripts live */
static const char *input = "nobody; echo INJECTED: the shell ran a second command";

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("[parent %d] ", (int)getpid());
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
}

/* Run the loop until every child started by the current case is reported. */
static void wait_for_children(void)
{
    while (pending > 0)
        if (loop_run_once(loop, -1) == -1)
            err(1, "loop_run_once");
}

/* A path next to the program: ./exec-family finds ./hello.sh. */
static const char *here(const char *name)
{
    static char path[2][1100];
    static int which;
    which ^= 1;
    snprintf(path[which], sizeof path[which], "%s/%s", dir, name);
    return path[which];
}

/* Print up to `max` lines of a child's output, and how much there was. */
static void print_lines(const char *label, const char *s, size_t len, int max)
{
    int shown = 0, total = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (s + i)) : len - i;
        if (shown < max) {
            say("  %s: %.*s", label, (int)n, s + i);
            shown++;
        }
        total++;
        i += n + 1;
    }
    if (total > shown)
        say("  %s: ... %d more lines (%zu bytes in all)", label, total - shown, len);
}

/* The one callback of exec and exec_file: (error, stdout, stderr). */
static void report(const proc_status_t *error, const char *out, size_t out_len,
                   const char *errout, size_t err_len, void *arg)
{
    const char *what = arg;
    char why[200];
    say("%s -> error: %s", what,
        error ? proc_status_str(error, why, sizeof why) : "none");
    print_lines("stdout", out, out_len, 4);
    print_lines("stderr", errout, err_len, 4);
    pending--;
}

/* ---- spawn: data as it arrives, then an exit event ---------------------- */

struct line_buf {
    char text[4096];
    size_t len;
};

static void ls_data(proc_t *p, int stream, const char *data, size_t len, void *arg)
{
    struct line_buf *lb = &((struct line_buf *)arg)[stream];
    const char *name = stream == 1 ? "stdout" : "stderr";
    if (len > 0)
        say("ls (pid %d) %s: got a chunk of %zu bytes", (int)proc_pid(p), name, len);
    else
        say("ls (pid %d) %s: EOF", (int)proc_pid(p), name);
    /* A chunk is whatever one read() returned: it may end mid-line. Keep the
     * partial line until its newline arrives (or EOF, len == 0). */
    for (size_t i = 0; i < len || (len == 0 && lb->len > 0); i++) {
        if (len == 0 || data[i] == '\n' || lb->len == sizeof lb->text - 1) {
            say("  ls %s line: %.*s", name, (int)lb->len, lb->text);
            lb->len = 0;
            if (len == 0)
                break;
        } else {
            lb->text[lb->len++] = data[i];
        }
    }
}

static void ls_exit(proc_t *p, const proc_status_t *st, void *arg)
{
    (void)arg;
    char why[200];
    say("ls (pid %d) exit event: %s", (int)proc_pid(p),
        proc_status_str(st, why, sizeof why));
    pending--;
}

static void case_spawn(void)
{
    static struct line_buf lines[3]; /* [1] stdout, [2] stderr */
    char *argv[] = {"ls", "-l", NULL};
    say("spawn: ls -l (no shell; output streamed as it arrives)");
    proc_t *p = proc_spawn(loop, "ls", argv, NULL, ls_data, ls_exit, lines);
    if (p == NULL)
        err(1, "proc_spawn ls");
    say("spawn: started ls as pid %d", (int)proc_pid(p));
    proc_close_stdin(p); /* ls reads nothing; give it EOF at once */
    pending = 1;
    wait_for_children();
}

/* ---- exec versus exec_file ---------------------------------------------- */

static void case_exec(void)
{
    const char *home = getenv("HOME") ? getenv("HOME") : "";
    say("exec: /bin/sh -c 'echo $HOME | wc -c'   (HOME=%s: %zu characters + newline = "
        "%zu)",
        home, strlen(home), strlen(home) + 1);
    if (proc_exec(loop, "echo $HOME | wc -c", NULL, report,
                  "exec 'echo $HOME | wc -c'") == -1)
        err(1, "proc_exec");
    pending = 1;
    wait_for_children();
}

static void case_exec_file(void)
{
    char *argv[] = {"echo", "$HOME", "|", "wc", "-c", NULL};
    say("exec_file: echo with 4 arguments: $HOME | wc -c   (no shell)");
    if (proc_exec_file(loop, "echo", argv, NULL, report, "exec_file echo") == -1)
        err(1, "proc_exec_file");
    pending = 1;
    wait_for_children();
}

static void case_inject(void)
{
    /* The classic mistake: paste user input into a command line. */
    char line[1200];
    snprintf(line, sizeof line, "echo Hello, %s", input);
    say("inject: user input is \"%s\"", input);
    say("inject: exec(\"%s\")", line);
    if (proc_exec(loop, line, NULL, report, "exec with input pasted in") == -1)
        err(1, "proc_exec");
    char *argv[] = {"echo", "Hello,", (char *)input, NULL};
    say("inject: exec_file(\"echo\", [\"echo\", \"Hello,\", input])");
    if (proc_exec_file(loop, "echo", argv, NULL, report,
                       "exec_file with input as one argument") == -1)
        err(1, "proc_exec_file");
    pending = 2;
    wait_for_children();
}

/* ---- the shebang, and what goes wrong without it ------------------------ */

static void show_mode(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == -1)
        say("  stat %s: %s", path, strerror(errno));
    else
        say("  %s has mode %03o", path, (unsigned)(sb.st_mode & 0777));
}

static void case_shebang(void)
{
    const char *script = here("hello.sh");
    char *argv[] = {(char *)script, "first arg", "second", NULL};
    say("shebang: exec_file %s (no shell, the kernel reads #!/bin/sh)", script);
    show_mode(script);
    if (proc_exec_file(loop, script, argv, NULL, report, "exec_file hello.sh") == -1)
        err(1, "proc_exec_file");
    pending = 1;
    wait_for_children();
}

static void case_eacces(void)
{
    const char *script = here("build/hello-noexec.sh");
    char *argv[] = {(char *)script, NULL};
    say("eacces: exec_file %s, a copy of hello.sh without the execute bit", script);
    show_mode(script);
    if (proc_exec_file(loop, script, argv, NULL, report, "exec_file hello-noexec.sh") ==
        -1)
        err(1, "proc_exec_file");
    pending = 1;
    wait_for_children();
}

static void case_enoexec(void)
{
    const char *file = here("no-shebang");
    char *argv[] = {(char *)file, "x", NULL};
    say("enoexec: exec_file %s, executable but with no #! line", file);
    show_mode(file);
    if (proc_exec_file(loop, file, argv, NULL, report, "exec_file no-shebang (execve)") ==
        -1)
        err(1, "proc_exec_file");
    pending = 1;
    wait_for_children();

    proc_options_t o = {0};
    o.execvp = 1; /* the child calls the libc's execvp(3) instead */
    say("enoexec: the same file through execvp(3), which POSIX has retry it with /bin/sh "
        "(musl's does not)");
    if (proc_exec_file(loop, file, argv, &o, report, "exec_file no-shebang (execvp)") ==
        -1)
        err(1, "proc_exec_file");
    pending = 1;
    wait_for_children();
}

static void case_enoent(void)
{
    char *argv[] = {"no-such-program", NULL};
    say("enoent: exec_file no-such-program (searched in PATH, not found)");
    if (proc_exec_file(loop, "no-such-program", argv, NULL, report,
                       "exec_file no-such-program") == -1)
        err(1, "proc_exec_file");
    pending = 1;
    wait_for_children();
    say("enoent: the same through the shell: sh starts fine, then exits 127 itself");
    if (proc_exec(loop, "no-such-program", NULL, report, "exec 'no-such-program'") == -1)
        err(1, "proc_exec");
    pending = 1;
    wait_for_children();
}

/* ---- the limits: timeout and max_buffer --------------------------------- */

static uint64_t started_ms;

static void report_timed(const proc_status_t *error, const char *out, size_t out_len,
                         const char *errout, size_t err_len, void *arg)
{
    say("after %llu ms:", (unsigned long long)(loop_now_ms() - started_ms));
    report(error, out, out_len, errout, err_len, arg);
}

static void case_timeout_grandchild(void);

static void case_timeout(void)
{
    char *argv[] = {"sleep", "10", NULL};
    proc_options_t o = {0};
    o.timeout_ms = 500; /* kill_signal 0 means SIGTERM, as in Node */
    say("timeout: exec_file sleep 10, with a 500 ms timeout");
    started_ms = loop_now_ms();
    if (proc_exec_file(loop, "sleep", argv, &o, report_timed, "exec_file sleep 10") == -1)
        err(1, "proc_exec_file");
    pending = 1;
    wait_for_children();
    if (!stopping)
        case_timeout_grandchild();
}

/* 1 if pid runs (a zombie does not count). kill(pid, 0) also finds a
 * zombie, and an orphan stays one until init reaps it, which some inits
 * (in containers) do late; on Linux /proc tells the two apart. */
static int runs(pid_t pid)
{
    if (kill(pid, 0) == -1)
        return 0;
#ifdef __linux__
    char path[64], state = '?';
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    /* "pid (comm) S ...": the state follows the last ')'. */
    char line[512];
    if (fgets(line, sizeof line, f) != NULL) {
        char *rp = strrchr(line, ')');
        if (rp != NULL && rp[1] == ' ')
            state = rp[2];
    }
    fclose(f);
    return state != 'Z' && state != 'X';
#else
    return 1;
#endif
}

/* The shell has exited; its background sleep (pid in the output) holds our
 * pipe. Say whether it is still running, then make sure it is not. */
static void report_grandchild(const proc_status_t *error, const char *out, size_t out_len,
                              const char *errout, size_t err_len, void *arg)
{
    report_timed(error, out, out_len, errout, err_len, arg);
    pid_t sleeper = (pid_t)atoi(out);
    if (sleeper <= 0)
        return;
    /* The signal may take a moment to land: give it up to 300 ms. */
    int alive = 1;
    for (int i = 0; i < 30 && (alive = runs(sleeper)); i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    if (alive) {
        say("  the background sleep %d still runs: out of reach without a process "
            "group (we stop it now)",
            (int)sleeper);
        kill(sleeper, SIGTERM);
    } else {
        say("  the background sleep %d is gone: the timeout signalled the whole group",
            (int)sleeper);
    }
}

static void case_timeout_grandchild(void)
{
    proc_options_t o = {0};
    o.timeout_ms = 500;
    say("timeout: exec 'sleep 5 & echo $!' with a 500 ms timeout: the shell exits at "
        "once, its background sleep holds our pipe for 5 s");
    started_ms = loop_now_ms();
    if (proc_exec(loop, "sleep 5 & echo $!", &o, report_grandchild,
                  "exec (no process group)") == -1)
        err(1, "proc_exec");
    pending = 1;
    wait_for_children();
    say("timeout: the same with process_group = 1 (the child leads its own group)");
    o.process_group = 1;
    started_ms = loop_now_ms();
    if (proc_exec(loop, "sleep 5 & echo $!", &o, report_grandchild,
                  "exec (own process group)") == -1)
        err(1, "proc_exec");
    pending = 1;
    wait_for_children();
}

static void case_maxbuffer(void)
{
    char *argv[] = {"yes", NULL};
    say("maxbuffer: exec_file yes (endless output), default max_buffer %d bytes",
        PROC_MAX_BUFFER_DEFAULT);
    if (proc_exec_file(loop, "yes", argv, NULL, report, "exec_file yes") == -1)
        err(1, "proc_exec_file");
    pending = 1;
    wait_for_children();
}

static void case_status(void)
{
    say("status: exec 'exit 3' and exec 'kill -USR1 $$' at the same time");
    if (proc_exec(loop, "exit 3", NULL, report, "exec 'exit 3'") == -1 ||
        proc_exec(loop, "kill -USR1 $$", NULL, report, "exec 'kill -USR1 $$'") == -1)
        err(1, "proc_exec");
    pending = 2;
    wait_for_children();
}

/* ---- cost: what the shell adds (not part of the tour; bench.sh runs it) - */

static int cost_runs = 200;
static int cost_done;

static void count_done(const proc_status_t *error, const char *out, size_t out_len,
                       const char *errout, size_t err_len, void *arg)
{
    (void)out, (void)out_len, (void)errout, (void)err_len, (void)arg;
    if (error != NULL) {
        char why[200];
        errx(1, "cost: a child failed: %s", proc_status_str(error, why, sizeof why));
    }
    cost_done = 1;
}

/* The loop's clock counts whole milliseconds; one start takes less. */
static double now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
        err(1, "clock_gettime");
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Milliseconds from one call to its callback: /bin/true started directly
 * (exec_file) or through /bin/sh -c (exec). */
static double time_call(int use_shell)
{
    char *argv[] = {"/bin/true", NULL};
    double t0 = now_ms();
    cost_done = 0;
    if (use_shell) {
        if (proc_exec(loop, "/bin/true", NULL, count_done, NULL) == -1)
            err(1, "proc_exec");
    } else {
        if (proc_exec_file(loop, "/bin/true", argv, NULL, count_done, NULL) == -1)
            err(1, "proc_exec_file");
    }
    while (!cost_done)
        if (loop_run_once(loop, -1) == -1)
            err(1, "loop_run_once");
    return now_ms() - t0;
}

static void case_cost(void)
{
    say("cost: %d runs each of /bin/true, one call at a time, exec_file and exec "
        "taking turns",
        cost_runs);
    double *file = calloc((size_t)cost_runs, sizeof *file);
    double *shell = calloc((size_t)cost_runs, sizeof *shell);
    if (file == NULL || shell == NULL)
        err(1, "calloc");
    /* Taking turns, so that a burst of load elsewhere on the machine slows
     * both alike; the median, so that a few slow calls do not count. */
    int n = 0;
    for (; n < cost_runs && !stopping; n++) {
        file[n] = time_call(0);
        shell[n] = time_call(1);
    }
    if (n < cost_runs)
        say("cost: stopped after %d runs", n);
    double f = stats_median(file, n), s = stats_median(shell, n);
    say("cost: exec_file /bin/true            %.3f ms per call (median)", f);
    say("cost: exec '/bin/true' (sh -c first) %.3f ms per call (median)", s);
    say("cost: exec / exec_file = %.2f", s / f);
    free(file);
    free(shell);
}

/* ---- main ---------------------------------------------------------------- */

static const struct {
    const char *name;
    void (*run)(void);
    int in_tour; /* run when no case is named */
} cases[] = {
    {"spawn", case_spawn, 1},         {"exec", case_exec, 1},
    {"exec-file", case_exec_file, 1}, {"inject", case_inject, 1},
    {"shebang", case_shebang, 1},     {"eacces", case_eacces, 1},
    {"enoexec", case_enoexec, 1},     {"enoent", case_enoent, 1},
    {"timeout", case_timeout, 1},     {"maxbuffer", case_maxbuffer, 1},
    {"status", case_status, 1},       {"cost", case_cost, 0},
};
#define NCASES (sizeof cases / sizeof cases[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: exec-family [-i INPUT] [-n RUNS] [CASE...]\n"
               "  Runs each CASE (default: all but cost, in this order):\n   ");
    for (size_t i = 0; i < NCASES; i++)
        fprintf(f, " %s", cases[i].name);
    fprintf(f, "\n  -i, --input TEXT   the user input for the inject case\n"
               "  -n, --runs N       how many times the cost case starts /bin/true\n"
               "                     each way (200)\n"
               "  -h, --help         this help\n");
}

static void on_stop(loop_t *l, int signo, void *arg)
{
    (void)l, (void)arg;
    say("got %s: finishing this case, then stopping", proc_signal_name(signo));
    stopping = 1;
}

/* The case named a, or exit 2: every name is checked before any case runs. */
static const char *case_name(const char *a)
{
    for (size_t k = 0; k < NCASES; k++)
        if (strcmp(a, cases[k].name) == 0)
            return a;
    cli_fail("unknown case '%s'", a);
}

/* Flags may come before or after the CASE names. Fills named[] (argc
 * entries) and returns how many cases were named. */
static int parse_args(int argc, char *argv[], const char **named)
{
    int nnamed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        cli_help(a);
        if (strcmp(a, "-i") == 0 || strcmp(a, "--input") == 0)
            input = cli_value(argc, argv, &i);
        else if (strcmp(a, "-n") == 0 || strcmp(a, "--runs") == 0)
            cost_runs = (int)cli_long(a, cli_value(argc, argv, &i), 1, 1000000);
        else if (a[0] == '-')
            cli_bad_arg(a);
        else
            named[nnamed++] = case_name(a);
    }
    return nnamed;
}

/* The scripts sit next to the program: dir is argv[0]'s folder. */
static void find_dir(const char *argv0)
{
    const char *slash = strrchr(argv0, '/');
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - argv0), argv0);
    else
        snprintf(dir, sizeof dir, ".");
}

/* The loop LOOP_BACKEND names, which SIGINT and SIGTERM stop. */
static loop_backend_t new_loop(void)
{
    loop_backend_t backend;
    if (loop_backend_default(&backend) == -1)
        cli_fail("bad value for LOOP_BACKEND: %s (want select, poll or epoll)",
                 getenv("LOOP_BACKEND"));
    loop = loop_new(backend);
    if (loop == NULL)
        err(1, "loop_new");
    if (loop_on_signal(loop, SIGINT, on_stop, NULL) == -1 ||
        loop_on_signal(loop, SIGTERM, on_stop, NULL) == -1)
        err(1, "loop_on_signal");
    return backend;
}

/* Case k runs if it was named, or, with no names, if it is on the tour. */
static int wanted(size_t k, const char **named, int nnamed)
{
    int yes = nnamed == 0 && cases[k].in_tour;
    for (int i = 0; i < nnamed; i++)
        yes |= strcmp(named[i], cases[k].name) == 0;
    return yes;
}

int main(int argc, char *argv[])
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    cli_init("exec-family", usage);
    const char **named = calloc((size_t)argc, sizeof *named);
    if (named == NULL)
        err(1, "calloc");
    int nnamed = parse_args(argc, argv, named);
    find_dir(argv[0]);
    loop_backend_t backend = new_loop();

    say("exec-family: spawn, exec and exec_file on a %s loop",
        loop_backend_name(backend));
    for (size_t k = 0; k < NCASES && !stopping; k++) {
        if (wanted(k, named, nnamed)) {
            putchar('\n');
            cases[k].run();
        }
    }
    say("done; children still running: %d", proc_running());
    loop_free(loop);
    free(named);
    return 0;
}
