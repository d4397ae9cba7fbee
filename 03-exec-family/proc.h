/*
 * proc.h: start other programs from an event loop, the way Node's
 * child_process does: spawn, exec and execFile.
 *
 * Chapter 03 teaches this module; chapter 04 reuses it to start its worker
 * with an IPC socket as fd 3, and chapter 06's master starts its workers
 * with proc_start() (below), because chapter 02's supervisor reaps them.
 * Everything runs on one loop_t (chapter 01): the child's output pipes are
 * loop watchers, a timeout is a loop timer, and the child's exit arrives as
 * SIGCHLD through loop_on_signal().
 *
 * The three entry points, as in Node:
 *
 *   proc_spawn      argv, no shell. You get the child's output as it arrives
 *                   (on_data) and one exit event with the exit code or the
 *                   signal (on_exit). Nothing is buffered for you.
 *   proc_exec       one command line, run by `/bin/sh -c`. So pipes, globs and
 *                   $VARIABLES work, and so does shell injection if the line
 *                   contains untrusted text. stdout and stderr are collected
 *                   and handed to one callback (error, stdout, stderr).
 *   proc_exec_file  like proc_exec, but the file is executed directly with an
 *                   argument vector: no shell, so "$HOME" or "|" are just
 *                   bytes. A file name without '/' is searched in PATH as
 *                   execvp(3) does.
 *
 * Starting a child is fork(2) + execve(2), in proc_start(), which callers
 * that reap their own children may also call directly. Failures before or
 * in execve (ENOENT, EACCES, ENOEXEC, a bad cwd...) travel back to the
 * parent over a close-on-exec pipe: the pipe closes by itself when execve
 * succeeds, or the child writes its errno into it and _exits. So a missing
 * program is an error with errno ENOENT, never a child that "exited with
 * 127".
 *
 * Unlike execvp(3), the PATH search here does NOT retry a file that fails
 * with ENOEXEC (no "#!" line) under /bin/sh; it reports ENOEXEC, so the
 * caller learns that the file is not a program. Set proc_options_t.execvp
 * to get glibc's execvp(3) behaviour instead, which Node v20's execFile
 * shares (NOTES.md shows it running such a file with /bin/sh).
 *
 * File descriptors: the child gets 0, 1 and 2 (as opts->stdio says) plus the
 * fds listed in opts->fds, and nothing else. All of this module's own fds
 * are close-on-exec, and in the child every other fd >= 3 is marked
 * close-on-exec before execve, so even an fd the caller forgot to open with
 * O_CLOEXEC does not leak.
 *
 * Reaping: proc adds a SIGCHLD callback to the loop the first time it starts
 * a child on it. The callback calls waitpid(pid, WNOHANG) for each child proc
 * started, and never waitpid(-1), so children that other code in the process
 * started are left for that code to reap. loop_on_signal() calls every
 * callback added for a signal, so other code may have a SIGCHLD callback of
 * its own on the same loop, as long as it too reaps only its own children.
 *
 * Signals: the parent blocks all signals around fork(); the child resets
 * every handled or ignored signal to its default and clears the signal mask
 * before execve, so a server that ignores SIGPIPE does not start children
 * that ignore it too.
 */
#ifndef PROC_H
#define PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "loop.h"

/* What each of the child's fds 0, 1, 2 is (Node's `stdio` option). */
typedef enum {
    PROC_PIPE = 0, /* a pipe to the parent (the default, as in Node) */
    PROC_INHERIT,  /* the parent's own fd 0/1/2 */
    PROC_IGNORE    /* /dev/null */
} proc_stdio_t;

/* Hand the parent's fd `parent_fd` to the child as fd number `child_fd`
 * (child_fd >= 3). The parent keeps its fd; close it after the spawn if the
 * parent has no use for it (for a socketpair, the parent's copy of the
 * child's end must be closed, or the parent never sees EOF). */
typedef struct {
    int parent_fd;
    int child_fd;
} proc_fd_t;

/* Options. A zero-initialised struct (`proc_options_t o = {0};`) means:
 * pipes for 0, 1, 2; the parent's cwd and environment; no extra fds; no
 * timeout; max_buffer 1 MiB. Pass NULL for the same defaults. */
typedef struct {
    const char *cwd;       /* chdir here in the child; NULL: parent's */
    char *const *env;      /* the child's whole environment, NULL-terminated
                              "NAME=value" strings; NULL: inherit environ */
    proc_stdio_t stdio[3]; /* for fds 0, 1, 2 */
    const proc_fd_t *fds;  /* extra fds for the child ... */
    int nfds;              /* ... and how many */
    uint64_t timeout_ms;   /* > 0: the deadline; see "Timeouts" below */
    int kill_signal;       /* what a timeout or max_buffer kill sends;
                              0: SIGTERM */
    int process_group;     /* 1: the child leads a new process group
                              (setpgid), and every signal proc sends goes
                              to the whole group; see "Timeouts" */
    size_t max_buffer;     /* exec/exec_file: bytes kept per stream; past it
                              the child is killed; 0: PROC_MAX_BUFFER_DEFAULT */
    int execvp;            /* 1: exec with execvp(3), whose ENOEXEC fallback
                              runs the file with /bin/sh (glibc); env must
                              then be NULL */
} proc_options_t;

#define PROC_MAX_BUFFER_DEFAULT (1024 * 1024)

/* Timeouts. A timeout is a deadline for the whole job, output included, and
 * it fires at the deadline even when the child itself is long gone. At
 * timeout_ms proc
 *   1. sends kill_signal to the child, or, with process_group, to its whole
 *      process group: a shell's background jobs and pipelines go too, even
 *      when the shell itself has already exited;
 *   2. closes the output pipes at once, keeping what was read so far. A
 *      process the child started may hold them open for hours (`sleep 60 &`
 *      in a shell, a daemon); waiting for their EOF is waiting for it;
 *   3. reports PROC_TIMED_OUT as soon as the child is reaped: at once if it
 *      had exited already (status.exited_first is then 1, with its own code),
 *      else when kill_signal has ended it. A child that catches or ignores
 *      kill_signal delays the report until it exits; use SIGKILL if that
 *      must not happen.
 * Without process_group, what the child started is out of proc's reach: it
 * runs on (reparented to init) after the report, holding nothing of ours. A
 * daemon (setsid) leaves any group, so it runs on in both cases. max_buffer
 * stops a child the same way.
 *
 * The price of process_group: the child is no longer in the terminal's
 * foreground process group, so Ctrl-C at the terminal does not reach it
 * (stop it from the parent's SIGINT handler instead), and if it reads the
 * terminal it is stopped by SIGTTIN. GNU timeout(1) makes the same trade by
 * default; its --foreground option makes the other one. */

/* How a child ended, or why it never started. */
typedef enum {
    PROC_EXITED,      /* exited by itself; `code` is its exit status */
    PROC_SIGNALED,    /* killed by a signal proc did not send; `signo` */
    PROC_TIMED_OUT,   /* proc sent kill_signal after timeout_ms */
    PROC_MAX_BUFFER,  /* proc sent kill_signal: `stream` passed max_buffer */
    PROC_SPAWN_FAILED /* never ran: `err` is the errno of call `step` */
} proc_how_t;

typedef struct {
    proc_how_t how;
    int code;         /* exit status if the child exited, else -1 */
    int signo;        /* signal that terminated it, else 0 */
    int err;          /* PROC_SPAWN_FAILED: the errno (ENOENT, EACCES, ...) */
    const char *step; /* PROC_SPAWN_FAILED: "execve", "chdir", "fork", ... */
    int stream;       /* PROC_MAX_BUFFER: 1 (stdout) or 2 (stderr) */
    int exited_first; /* PROC_TIMED_OUT, PROC_MAX_BUFFER: 1 if the child had
                         exited before that, and only its output pipes, held
                         by something it started, were still open */
} proc_status_t;

/* For PROC_TIMED_OUT and PROC_MAX_BUFFER, code and signo are what wait(2)
 * reported: a child that catches the kill signal and exits 0 still counts
 * as killed, with code 0 and signo 0. */

/* One line of text for a status, like "exited with code 3", "killed by
 * signal SIGKILL (9)", "spawn failed: execve: Permission denied (EACCES)",
 * "timed out, killed by SIGTERM", "stdout maxBuffer exceeded, killed by
 * SIGTERM", "timed out after the child exited with code 0; something it
 * started still held its output". Writes into buf and returns it. */
const char *proc_status_str(const proc_status_t *st, char *buf, size_t len);
/* "ENOENT", "EACCES", ... for the errnos a spawn can fail with, else "E?". */
const char *proc_errno_name(int err);
/* "SIGTERM", "SIGKILL", ... for common signals, else "SIG?". */
const char *proc_signal_name(int signo);

/* ---- spawn --------------------------------------------------------------- */

typedef struct proc proc_t;

/* Output from the child's fd `stream` (1 or 2) as it arrives; len == 0
 * (data == NULL) is EOF on that stream. */
typedef void (*proc_data_cb)(proc_t *p, int stream, const char *data, size_t len,
                             void *arg);
/* The child is gone: called once, after it was reaped and after EOF on its
 * output pipes (so every byte of output came first). If proc killed it
 * (timeout, max_buffer), the pipes are closed without waiting for EOF, since a
 * grandchild may hold them open (see "Timeouts"). p is freed when the
 * callback returns. */
typedef void (*proc_exit_cb)(proc_t *p, const proc_status_t *status, void *arg);

/* Start `file` with argv (argv[0] is the name the child sees). on_data may be
 * NULL (output read and dropped); on_exit may be NULL. Returns the child, or
 * NULL with errno set if it could not start (ENOENT, EACCES, ENOEXEC from
 * execve; or from pipe, fork, chdir, dup2, open; EINVAL for bad options: a
 * child_fd below 3, more than 64 extra fds, execvp with env; EBUSY if
 * another loop in the process already handles signals): no callback runs
 * then. */
proc_t *proc_spawn(loop_t *loop, const char *file, char *const argv[],
                   const proc_options_t *opts, proc_data_cb on_data, proc_exit_cb on_exit,
                   void *arg);

pid_t proc_pid(const proc_t *p);
/* The write end of the child's stdin pipe (blocking, close-on-exec), or -1
 * if stdin is not PROC_PIPE or was closed. */
int proc_stdin(const proc_t *p);
/* Close the stdin pipe: the child reads EOF. */
void proc_close_stdin(proc_t *p);
/* kill(2) the child (its whole group with process_group), unless it was
 * already reaped (ESRCH). Returns 0 or -1. */
int proc_kill(proc_t *p, int signo);

/* ---- exec and exec_file --------------------------------------------------- */

/* error is NULL if the child exited with code 0; otherwise it says why not.
 * out and err hold what the child wrote to stdout and stderr (at most
 * max_buffer bytes each), NUL-terminated, valid only during the call. */
typedef void (*proc_exec_cb)(const proc_status_t *error, const char *out, size_t out_len,
                             const char *err, size_t err_len, void *arg);

/* Run `/bin/sh -c command`. stdin is /dev/null unless opts->stdio[0] says
 * PROC_INHERIT; stdout and stderr are always pipes. Returns 0, and then cb is
 * called exactly once, later, from the loop, also if the child could not be
 * started (PROC_SPAWN_FAILED). Returns -1 with errno set (no callback) only
 * for bad arguments (EINVAL) or lack of memory. */
int proc_exec(loop_t *loop, const char *command, const proc_options_t *opts,
              proc_exec_cb cb, void *arg);

/* Run `file` with argv directly, no shell; otherwise as proc_exec. */
int proc_exec_file(loop_t *loop, const char *file, char *const argv[],
                   const proc_options_t *opts, proc_exec_cb cb, void *arg);

/* ---- start: fork + exec for callers that reap their own children -------- */

/* proc_spawn's own fork and exec, for code that does its own reaping (chapter
 * 06's master: chapter 02's supervisor reaps its workers). It forks, and in
 * the child resets every signal to its default and clears the mask, runs
 * before_exec, puts each fds[i].parent_fd at fds[i].child_fd (a source may be
 * another mapping's target: every source is moved above all targets first),
 * marks every other fd close-on-exec, chdirs and execs. The parent waits on a
 * close-on-exec errno pipe for the verdict. Nothing is watched, nothing is
 * reaped: the pid is the caller's to wait for. */
#define PROC_START_MAX_FDS (3 + 64)

typedef struct {
    const char *file;     /* the program: a path, as for execve(2) ... */
    int path_search;      /* ... or, with 1 and no '/' in file, searched in
                             env's PATH as proc_spawn does */
    char *const *argv;    /* argv[0] is the name the child sees */
    char *const *env;     /* NULL: inherit environ */
    const char *cwd;      /* NULL: the parent's */
    const proc_fd_t *fds; /* the child's fds; here child_fd may be 0, 1, 2 */
    int nfds;             /* at most PROC_START_MAX_FDS */
    int process_group;    /* 1: setpgid(0, 0) in the child */
    int execvp;           /* 1: execvp(3) and its ENOEXEC fallback; env NULL */
    /* In the child, after the signals are reset and before the fds move:
     * async-signal-safe calls only (no malloc, no stdio). Return -1 with
     * errno set to stop the start (step "before_exec"). May be NULL. */
    int (*before_exec)(void *arg);
    void *before_exec_arg;
} proc_start_t;

/* Start the child. Returns its pid once execve has succeeded, or -1 with
 * errno set and, if step is not NULL, *step naming the call that failed
 * ("execve", "dup2", "chdir", "before_exec", "fork", "pipe2", or "arguments"
 * with EINVAL). A child that failed was reaped before the return. Signals are
 * blocked across fork(), so no handler of the parent runs in the child. */
pid_t proc_start(const proc_start_t *s, const char **step);

/* ---- reaping -------------------------------------------------------------- */

/* Reap whichever of proc's children have exited (waitpid(pid, WNOHANG) on
 * each) and run the callbacks that are due. proc's SIGCHLD callback calls
 * it; calling it again is harmless. */
void proc_reap(void);
/* How many children proc has started and not yet reported (on_exit or the
 * exec callback not yet run). */
int proc_running(void);

#endif
