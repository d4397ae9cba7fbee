/*
 * proc.c: spawn, exec and exec_file on top of the chapter 01 loop.
 *
 * Read it in this order:
 *   1. proc_start(): fork(2), and in the child the steps before execve(2)
 *      (child_main). An errno from any step goes back over a close-on-exec
 *      pipe, so the parent learns "ENOENT" instead of guessing from exit 127.
 *      start_child() only turns the stdio options into fds for it; callers
 *      that reap their own children call proc_start() directly.
 *   2. on_output(): the parent reads both output pipes through the loop, so
 *      a child that fills stderr while we wait on stdout cannot deadlock.
 *   3. proc_reap() and finish(): SIGCHLD arrives through the loop's self-pipe;
 *      we waitpid() each of our own children, and report the exit once the
 *      child is reaped AND its pipes reached EOF (all output comes first).
 *   4. proc_exec() and proc_exec_file(): a spawn whose on_data collects the
 *      output into two buffers, with max_buffer and a timeout, and one
 *      callback (error, stdout, stderr) at the end.
 *
 * The module is used from one thread, the loop's. Between fork() and
 * execve() the child only makes async-signal-safe calls (no malloc, no
 * stdio), so everything the child needs is prepared in the parent first.
 */

/* _GNU_SOURCE for close_range(2) (Linux 5.11+). pipe2 and NSIG, with their
 * fallbacks, come from 01-event-loop's net.h. */
#define _GNU_SOURCE
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net.h" /* net_pipe and NSIG's fallback, from 01-event-loop */

extern char **environ;

struct proc {
    loop_t *loop;
    pid_t pid;
    int stdin_fd;          /* our write end of the child's stdin, or -1 */
    int out_fd[3];         /* [1] and [2]: our read ends, -1 once closed */
    int reaped;            /* 1 once waitpid() returned the child */
    int wstatus;           /* its wait status */
    proc_how_t killed_for; /* PROC_TIMED_OUT / PROC_MAX_BUFFER if we killed it */
    int exited_first;      /* ... and it had exited before that */
    int group;             /* it leads a process group of its own */
    int kill_signal;
    int kill_stream;
    loop_timer_t *timer; /* the timeout, while pending */
    proc_data_cb on_data;
    proc_exit_cb on_exit;
    void *arg;
    proc_t *next; /* every child not yet reported */
};

static proc_t *children;     /* started and not yet reported */
static loop_t *sigchld_loop; /* where our SIGCHLD callback lives */

/* ---------------------------------------------------------------------- */
/* Names for the status line                                              */

const char *proc_errno_name(int err)
{
    switch (err) {
    case ENOENT:
        return "ENOENT";
    case EACCES:
        return "EACCES";
    case ENOEXEC:
        return "ENOEXEC";
    case ENOTDIR:
        return "ENOTDIR";
    case EISDIR:
        return "EISDIR";
    case ELOOP:
        return "ELOOP";
    case ENAMETOOLONG:
        return "ENAMETOOLONG";
    case E2BIG:
        return "E2BIG";
    case ENOMEM:
        return "ENOMEM";
    case EAGAIN:
        return "EAGAIN";
    case EMFILE:
        return "EMFILE";
    case ENFILE:
        return "ENFILE";
    case EBADF:
        return "EBADF";
    case EINVAL:
        return "EINVAL";
    case EPERM:
        return "EPERM";
    case ETXTBSY:
        return "ETXTBSY";
    default:
        return "E?";
    }
}

const char *proc_signal_name(int signo)
{
    switch (signo) {
    case SIGHUP:
        return "SIGHUP";
    case SIGINT:
        return "SIGINT";
    case SIGQUIT:
        return "SIGQUIT";
    case SIGILL:
        return "SIGILL";
    case SIGABRT:
        return "SIGABRT";
    case SIGFPE:
        return "SIGFPE";
    case SIGKILL:
        return "SIGKILL";
    case SIGSEGV:
        return "SIGSEGV";
    case SIGPIPE:
        return "SIGPIPE";
    case SIGALRM:
        return "SIGALRM";
    case SIGTERM:
        return "SIGTERM";
    case SIGUSR1:
        return "SIGUSR1";
    case SIGUSR2:
        return "SIGUSR2";
    case SIGBUS:
        return "SIGBUS";
    default:
        return "SIG?";
    }
}

const char *proc_status_str(const proc_status_t *st, char *buf, size_t len)
{
    /* How the child ended, as wait(2) saw it; used by the killed cases. */
    char ended[128];
    if (st->exited_first && st->signo != 0)
        snprintf(ended, sizeof ended,
                 " after the child was killed by %s; something it started still held "
                 "its output",
                 proc_signal_name(st->signo));
    else if (st->exited_first)
        snprintf(ended, sizeof ended,
                 " after the child exited with code %d; something it started still "
                 "held its output",
                 st->code);
    else if (st->signo != 0)
        snprintf(ended, sizeof ended, ", killed by %s", proc_signal_name(st->signo));
    else
        snprintf(ended, sizeof ended, ", then exited with code %d", st->code);

    switch (st->how) {
    case PROC_EXITED:
        snprintf(buf, len, "exited with code %d", st->code);
        break;
    case PROC_SIGNALED:
        snprintf(buf, len, "killed by signal %s (%d)", proc_signal_name(st->signo),
                 st->signo);
        break;
    case PROC_TIMED_OUT:
        snprintf(buf, len, "timed out%s", ended);
        break;
    case PROC_MAX_BUFFER:
        snprintf(buf, len, "%s maxBuffer exceeded%s",
                 st->stream == 2 ? "stderr" : "stdout", ended);
        break;
    case PROC_SPAWN_FAILED:
        snprintf(buf, len, "spawn failed: %s: %s (%s)", st->step, strerror(st->err),
                 proc_errno_name(st->err));
        break;
    }
    return buf;
}

/* ---------------------------------------------------------------------- */
/* The child, between fork() and execve()                                  */

/* Which call failed, as an index the child can write without pointers. */
enum step { STEP_SIGNALS, STEP_SETPGID, STEP_HOOK, STEP_DUP, STEP_CHDIR, STEP_EXECVE };
static const char *const step_names[] = {"sigprocmask", "setpgid", "before_exec",
                                         "dup2",        "chdir",   "execve"};

struct child_error {
    int err;
    int step;
};

/* An fd the child must have: source fd in the parent -> number in the child. */
struct fd_map {
    int from;
    int to;
};

/* Everything the child needs, prepared by the parent before fork(). */
struct plan {
    const char *file;
    char *const *argv;
    char *const *envp; /* never NULL here */
    const char *path;  /* PATH to search when file has no '/' */
    const char *cwd;
    int use_search; /* search PATH when file has no '/' */
    int use_execvp;
    int new_group; /* setpgid(0, 0): lead a process group of our own */
    int (*hook)(void *);
    void *hook_arg;
    struct fd_map map[PROC_START_MAX_FDS];
    int nmap;
    int max_to; /* the highest child fd number asked for */
};

static void child_fail(int errfd, int step)
{
    struct child_error e = {errno, step};
    /* A pipe write of a few bytes is atomic; if it fails, there is no one
     * left to tell. 127 is what a shell uses; the parent ignores it. */
    ssize_t n = write(errfd, &e, sizeof e);
    (void)n;
    _exit(127);
}

/* execvp(3) without its ENOEXEC fallback: try each PATH directory in turn,
 * remembering EACCES (a later directory may still have a runnable file),
 * and stop at any error that means "found it, but it cannot run". */
static void exec_search(const struct plan *pl)
{
    if (!pl->use_search || strchr(pl->file, '/') != NULL) {
        execve(pl->file, pl->argv, pl->envp);
        return;
    }
    size_t flen = strlen(pl->file);
    int saw_eacces = 0;
    const char *dir = pl->path;
    for (;;) {
        const char *end = strchr(dir, ':');
        size_t dlen = end ? (size_t)(end - dir) : strlen(dir);
        char full[PATH_MAX];
        if (dlen + 1 + flen + 1 <= sizeof full) {
            /* An empty PATH element means the current directory. */
            if (dlen == 0)
                full[0] = '.', dlen = 1;
            else
                memcpy(full, dir, dlen);
            full[dlen] = '/';
            memcpy(full + dlen + 1, pl->file, flen + 1);
            execve(full, pl->argv, pl->envp);
            if (errno == EACCES)
                saw_eacces = 1;
            else if (errno != ENOENT && errno != ENOTDIR && errno != ENAMETOOLONG)
                return; /* ENOEXEC, ETXTBSY, E2BIG, ...: report this one */
        }
        if (end == NULL)
            break;
        dir = end + 1;
    }
    errno = saw_eacces ? EACCES : ENOENT;
}

static void child_main(const struct plan *pl, int errfd)
{
    /* 1. Signals. Handlers the parent installed would run the parent's
     *    code here (the loop's handler writes into the parent's self-pipe),
     *    and ignored signals stay ignored across execve. Reset all of them,
     *    then unblock: the parent blocked everything around fork(). */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            sigaction(s, &dfl, NULL); /* fails harmlessly for reserved ones */
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) == -1)
        child_fail(errfd, STEP_SIGNALS);

    /* 1b. A process group of our own, if asked: then one kill(-pid) reaches
     *     us and everything we start that stays in the group (a shell's
     *     background jobs, a pipeline). Done here, before execve, so the
     *     group exists by the time the parent learns that we started. */
    if (pl->new_group && setpgid(0, 0) == -1)
        child_fail(errfd, STEP_SETPGID);

    /* 1c. The caller's own step, if any (chapter 06: PR_SET_PDEATHSIG and
     *     the check that the master is still alive). */
    if (pl->hook != NULL && pl->hook(pl->hook_arg) == -1)
        child_fail(errfd, STEP_HOOK);

    /* 2. Move every source fd (and the error pipe) above the highest target
     *    number first. Otherwise dup2(5, 3) followed by dup2(3, 4) would
     *    hand out the wrong file when one mapping's target is another's
     *    source. The copies are close-on-exec. */
    int above = pl->max_to + 1;
    int from[PROC_START_MAX_FDS];
    for (int i = 0; i < pl->nmap; i++) {
        from[i] = fcntl(pl->map[i].from, F_DUPFD_CLOEXEC, above);
        if (from[i] == -1)
            child_fail(errfd, STEP_DUP);
    }
    int e = fcntl(errfd, F_DUPFD_CLOEXEC, above);
    if (e == -1)
        child_fail(errfd, STEP_DUP);
    errfd = e;

    /* 3. Every fd from 3 up becomes close-on-exec, so nothing leaks even
     *    if the program forgot O_CLOEXEC somewhere. Only what step 4 puts in
     *    place survives execve. */
#if defined(__linux__) && defined(CLOSE_RANGE_CLOEXEC)
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == -1) /* Linux 5.11+ */
#endif
    {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = 3; fd < (max > 0 ? max : 1024); fd++)
            fcntl((int)fd, F_SETFD, FD_CLOEXEC); /* EBADF for closed fds */
    }

    /* 4. Put each fd at its number. dup2() clears close-on-exec on the new
     *    fd, which is exactly what makes it survive execve. */
    for (int i = 0; i < pl->nmap; i++)
        if (dup2(from[i], pl->map[i].to) == -1)
            child_fail(errfd, STEP_DUP);

    if (pl->cwd != NULL && chdir(pl->cwd) == -1)
        child_fail(errfd, STEP_CHDIR);

    if (pl->use_execvp)
        execvp(pl->file, pl->argv); /* ENOEXEC -> /bin/sh FILE ARGS, but not in musl */
    else
        exec_search(pl);
    child_fail(errfd, STEP_EXECVE);
}

/* ---------------------------------------------------------------------- */
/* The parent: start a child                                               */

static void on_sigchld(loop_t *loop, int signo, void *arg)
{
    (void)loop, (void)signo, (void)arg;
    proc_reap();
}

/* Add our SIGCHLD callback to this loop once. If the loop we used before
 * was freed, loop_free() put SIGCHLD back to its default: add it again. */
static int ensure_sigchld(loop_t *loop)
{
    struct sigaction cur;
    if (sigaction(SIGCHLD, NULL, &cur) == -1)
        return -1;
    int handled = cur.sa_handler != SIG_DFL && cur.sa_handler != SIG_IGN;
    if (loop == sigchld_loop && handled)
        return 0;
    if (loop_on_signal(loop, SIGCHLD, on_sigchld, NULL) == -1)
        return -1;
    sigchld_loop = loop;
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd != -1) {
        close(*fd);
        *fd = -1;
    }
}

pid_t proc_start(const proc_start_t *s, const char **step)
{
    const char *ignored;
    if (step == NULL)
        step = &ignored;
    *step = "arguments";
    if (s == NULL || s->file == NULL || s->argv == NULL || s->argv[0] == NULL ||
        s->nfds < 0 || s->nfds > PROC_START_MAX_FDS || (s->nfds > 0 && s->fds == NULL) ||
        (s->execvp && s->env != NULL)) {
        errno = EINVAL;
        return -1;
    }
    struct plan pl = {.file = s->file,
                      .argv = s->argv,
                      .cwd = s->cwd,
                      .use_search = s->path_search,
                      .use_execvp = s->execvp,
                      .new_group = s->process_group,
                      .hook = s->before_exec,
                      .hook_arg = s->before_exec_arg,
                      .max_to = 2};
    for (int i = 0; i < s->nfds; i++) {
        if (s->fds[i].parent_fd < 0 || s->fds[i].child_fd < 0) {
            errno = EINVAL;
            return -1;
        }
        pl.map[pl.nmap++] = (struct fd_map){s->fds[i].parent_fd, s->fds[i].child_fd};
        if (s->fds[i].child_fd > pl.max_to)
            pl.max_to = s->fds[i].child_fd;
    }
    pl.envp = s->env ? s->env : environ;
    pl.path = NULL;
    for (char *const *e = pl.envp; *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0)
            pl.path = *e + 5;
    if (pl.path == NULL)
        pl.path = "/bin:/usr/bin"; /* what glibc's execvp uses then */

    int errpipe[2];
    *step = "pipe2";
    if (net_pipe(errpipe, O_CLOEXEC) == -1)
        return -1;

    /* Block every signal across fork(), so that no handler of ours runs in
     * the child before child_main() has reset them. */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        child_main(&pl, errpipe[1]); /* never returns */
    int fork_errno = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(errpipe[1]);
    if (pid == -1) {
        close(errpipe[0]);
        *step = "fork";
        errno = fork_errno;
        return -1;
    }

    /* Wait for the verdict: EOF means execve succeeded (the close-on-exec
     * pipe closed), a struct child_error means it did not. Our copy of the
     * write end is closed above, or we would never see EOF. */
    struct child_error ce;
    ssize_t n;
    do
        n = read(errpipe[0], &ce, sizeof ce);
    while (n == -1 && errno == EINTR);
    close(errpipe[0]);
    if (n == (ssize_t)sizeof ce) {
        /* It _exited already; reap it now so it never shows as a zombie
         * and never reaches anyone's SIGCHLD callback. */
        while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
            ;
        *step = step_names[ce.step];
        errno = ce.err;
        return -1;
    }
    return pid;
}

/* proc_start() with the stdio options turned into fds 0, 1, 2. Returns the
 * child's pid with p->stdin_fd and p->out_fd[] set, or -1 with *fail saying
 * which call failed and why. */
static pid_t start_child(proc_t *p, const char *file, char *const argv[],
                         const proc_options_t *o, proc_status_t *fail)
{
    /* The parent's ends of the pipes, and the fds the child gets. */
    int mine[3] = {-1, -1, -1}, theirs[3] = {-1, -1, -1};
    proc_fd_t map[PROC_START_MAX_FDS];
    int nmap = 0;
    const char *step = "pipe2";
    pid_t pid = -1;

    for (int i = 0; i < 3; i++) {
        if (o->stdio[i] == PROC_PIPE) {
            int pfd[2];
            if (net_pipe(pfd, O_CLOEXEC) == -1)
                goto done;
            mine[i] = i == 0 ? pfd[1] : pfd[0];
            theirs[i] = i == 0 ? pfd[0] : pfd[1];
        } else if (o->stdio[i] == PROC_IGNORE) {
            step = "open /dev/null";
            theirs[i] = open("/dev/null", (i == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
            if (theirs[i] == -1)
                goto done;
        }
        /* PROC_INHERIT: fd i stays what it is; nothing to map. */
        if (theirs[i] != -1)
            map[nmap++] = (proc_fd_t){theirs[i], i};
    }
    for (int i = 0; i < o->nfds; i++)
        map[nmap++] = o->fds[i];
    proc_start_t s = {.file = file,
                      .path_search = 1,
                      .argv = argv,
                      .env = o->env,
                      .cwd = o->cwd,
                      .fds = map,
                      .nfds = nmap,
                      .process_group = o->process_group,
                      .execvp = o->execvp};
    pid = proc_start(&s, &step);

done:;
    int e = errno;
    for (int i = 0; i < 3; i++)
        close_fd(&theirs[i]);
    if (pid == -1) {
        for (int i = 0; i < 3; i++)
            close_fd(&mine[i]);
        memset(fail, 0, sizeof *fail);
        fail->how = PROC_SPAWN_FAILED;
        fail->err = e;
        fail->step = step;
        fail->code = -1;
        errno = e;
        return -1;
    }
    p->stdin_fd = mine[0];
    p->out_fd[0] = -1;
    p->out_fd[1] = mine[1];
    p->out_fd[2] = mine[2];
    return pid;
}

/* ---------------------------------------------------------------------- */
/* Output, exit and the timeout                                            */

static void flush_finished(void);

static void on_output(loop_t *loop, int fd, int events, void *arg)
{
    (void)events;
    proc_t *p = arg;
    int stream = fd == p->out_fd[1] ? 1 : 2;
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == -1 && (errno == EAGAIN || errno == EINTR))
        return; /* the loop will call again */
    if (n > 0) {
        if (p->on_data)
            p->on_data(p, stream, buf, (size_t)n, p->arg);
        /* on_data may have killed p (max_buffer) and closed this fd; if p
         * was reaped already, it is reported (and freed) here. */
        flush_finished();
        return;
    }
    /* EOF (or a read error, which ends the stream just the same). */
    loop_unwatch(loop, fd);
    close_fd(&p->out_fd[stream]);
    if (p->on_data)
        p->on_data(p, stream, NULL, 0, p->arg);
    flush_finished();
}

/* Stop reading: used when we killed the child, because a grandchild that
 * inherited the pipe may keep it open long after the child is gone. */
static void close_outputs(proc_t *p)
{
    for (int s = 1; s <= 2; s++)
        if (p->out_fd[s] != -1) {
            loop_unwatch(p->loop, p->out_fd[s]);
            close_fd(&p->out_fd[s]);
        }
}

/* The child, or with process_group the whole group it leads. Once the
 * child is reaped its pid is free for reuse, so then only the group is
 * signalled: POSIX does not reuse a process group id while the group has a
 * member, and if it has none kill() fails with ESRCH. */
static int signal_child(proc_t *p, int signo)
{
    if (p->group)
        return kill(-p->pid, signo);
    if (p->reaped) {
        errno = ESRCH;
        return -1;
    }
    return kill(p->pid, signo);
}

/* A timeout or max_buffer: the job is over, whoever holds the pipes. Send
 * the kill signal (to the group, if the child leads one) and stop reading at
 * once. The report follows when the child is reaped, which is now if it
 * already was: a child that exited early while something it started (a
 * background job, a daemon) still holds the pipe is not worth waiting for,
 * or a timeout could never fire. */
static void kill_for(proc_t *p, proc_how_t why, int stream)
{
    if (p->killed_for != PROC_EXITED)
        return;
    p->killed_for = why;
    p->kill_stream = stream;
    p->exited_first = p->reaped;
    (void)signal_child(p, p->kill_signal); /* ESRCH: nobody left to stop */
    close_outputs(p);
}

static void on_timeout(loop_t *loop, loop_timer_t *t, void *arg)
{
    (void)loop, (void)t;
    proc_t *p = arg;
    p->timer = NULL; /* a one-shot timer's handle is gone once it fired */
    kill_for(p, PROC_TIMED_OUT, 0);
    flush_finished(); /* p is reported (and freed) here if it was reaped */
}

static void status_of(const proc_t *p, proc_status_t *st)
{
    memset(st, 0, sizeof *st);
    st->code = WIFEXITED(p->wstatus) ? WEXITSTATUS(p->wstatus) : -1;
    st->signo = WIFSIGNALED(p->wstatus) ? WTERMSIG(p->wstatus) : 0;
    if (p->killed_for != PROC_EXITED) {
        st->how = p->killed_for;
        st->stream = p->kill_stream;
        st->exited_first = p->exited_first;
    } else {
        st->how = st->signo != 0 ? PROC_SIGNALED : PROC_EXITED;
    }
}

/* Report every child that is both reaped and done with its output. The
 * callbacks may start new children or kill others, so after each one we
 * scan again from the head of the list instead of trusting a saved `next`. */
static void flush_finished(void)
{
    for (;;) {
        proc_t **pp = &children;
        while (*pp &&
               !((*pp)->reaped && (*pp)->out_fd[1] == -1 && (*pp)->out_fd[2] == -1))
            pp = &(*pp)->next;
        proc_t *p = *pp;
        if (p == NULL)
            return;
        *pp = p->next;
        if (p->timer)
            loop_timer_cancel(p->loop, p->timer);
        close_fd(&p->stdin_fd);
        proc_status_t st;
        status_of(p, &st);
        if (p->on_exit)
            p->on_exit(p, &st, p->arg);
        free(p);
    }
}

void proc_reap(void)
{
    for (proc_t *p = children; p; p = p->next) {
        if (p->reaped)
            continue;
        pid_t r = waitpid(p->pid, &p->wstatus, WNOHANG);
        if (r == p->pid) {
            p->reaped = 1;
        } else if (r == -1 && errno == ECHILD) {
            /* Someone else reaped it (a waitpid(-1) elsewhere): the status
             * is lost. Report exit code 255 rather than waiting forever. */
            p->reaped = 1;
            p->wstatus = 0xff00; /* WIFEXITED, WEXITSTATUS 255 */
        }
    }
    flush_finished();
}

int proc_running(void)
{
    int n = 0;
    for (proc_t *p = children; p; p = p->next)
        n++;
    return n;
}

/* ---------------------------------------------------------------------- */
/* spawn                                                                   */

static int check_options(const proc_options_t *o)
{
    if (o->nfds < 0 || o->nfds > 64 || (o->nfds > 0 && o->fds == NULL))
        return -1;
    for (int i = 0; i < o->nfds; i++)
        if (o->fds[i].child_fd < 3 || o->fds[i].parent_fd < 0)
            return -1;
    for (int i = 0; i < 3; i++)
        if (o->stdio[i] != PROC_PIPE && o->stdio[i] != PROC_INHERIT &&
            o->stdio[i] != PROC_IGNORE)
            return -1;
    if (o->execvp && o->env != NULL)
        return -1;
    return 0;
}

static proc_t *spawn(loop_t *loop, const char *file, char *const argv[],
                     const proc_options_t *opts, proc_data_cb on_data,
                     proc_exit_cb on_exit, void *arg, proc_status_t *fail)
{
    static const proc_options_t defaults;
    const proc_options_t *o = opts ? opts : &defaults;
    memset(fail, 0, sizeof *fail);
    fail->how = PROC_SPAWN_FAILED;
    fail->step = "arguments";
    if (loop == NULL || file == NULL || argv == NULL || argv[0] == NULL ||
        check_options(o) == -1) {
        fail->err = errno = EINVAL;
        return NULL;
    }
    fail->step = "loop_on_signal";
    if (ensure_sigchld(loop) == -1) {
        fail->err = errno;
        return NULL;
    }
    proc_t *p = calloc(1, sizeof *p);
    if (p == NULL) {
        fail->step = "calloc";
        fail->err = errno;
        return NULL;
    }
    p->loop = loop;
    p->killed_for = PROC_EXITED; /* i.e. not killed by us */
    p->kill_signal = o->kill_signal ? o->kill_signal : SIGTERM;
    p->group = o->process_group != 0;
    p->on_data = on_data;
    p->on_exit = on_exit;
    p->arg = arg;

    p->pid = start_child(p, file, argv, o, fail);
    if (p->pid == -1) {
        free(p);
        return NULL;
    }
    /* Both output pipes are watched at once, non-blocking: whichever the
     * child fills, we drain, so it never blocks on a full pipe. */
    for (int s = 1; s <= 2; s++) {
        if (p->out_fd[s] == -1)
            continue;
        int fl = fcntl(p->out_fd[s], F_GETFL);
        if (fl == -1 || fcntl(p->out_fd[s], F_SETFL, fl | O_NONBLOCK) == -1 ||
            loop_watch(loop, p->out_fd[s], LOOP_READ, on_output, p) == -1) {
            /* We cannot read this stream (ERANGE: the select backend and
             * an fd past FD_SETSIZE). A child whose output nobody reads
             * would block on a full pipe, and a caller who asked for the
             * output would never get it, so this is a failed spawn: the
             * child is killed and reaped here, before anyone knows it. */
            fail->step = fl == -1 ? "fcntl" : "loop_watch";
            fail->err = errno;
            for (int t = 1; t <= 2; t++) {
                if (t < s && p->out_fd[t] != -1)
                    loop_unwatch(loop, p->out_fd[t]);
                close_fd(&p->out_fd[t]);
            }
            close_fd(&p->stdin_fd);
            kill(p->pid, SIGKILL);
            while (waitpid(p->pid, NULL, 0) == -1 && errno == EINTR)
                ;
            free(p);
            errno = fail->err;
            return NULL;
        }
    }
    p->next = children;
    children = p;
    if (o->timeout_ms > 0)
        p->timer = loop_timer_add(loop, o->timeout_ms, 0, on_timeout, p);
    return p;
}

proc_t *proc_spawn(loop_t *loop, const char *file, char *const argv[],
                   const proc_options_t *opts, proc_data_cb on_data, proc_exit_cb on_exit,
                   void *arg)
{
    proc_status_t fail;
    proc_t *p = spawn(loop, file, argv, opts, on_data, on_exit, arg, &fail);
    if (p == NULL)
        errno = fail.err;
    return p;
}

pid_t proc_pid(const proc_t *p)
{
    return p->pid;
}

int proc_stdin(const proc_t *p)
{
    return p->stdin_fd;
}

void proc_close_stdin(proc_t *p)
{
    close_fd(&p->stdin_fd);
}

int proc_kill(proc_t *p, int signo)
{
    if (p->reaped) {
        errno = ESRCH;
        return -1;
    }
    return signal_child(p, signo);
}

/* ---------------------------------------------------------------------- */
/* exec and exec_file: spawn + two buffers + one callback                  */

struct buf {
    char *data;
    size_t len, cap;
};

struct exec_job {
    proc_exec_cb cb;
    void *arg;
    size_t max_buffer;
    struct buf out[3];  /* [1] stdout, [2] stderr */
    proc_status_t fail; /* a spawn failure, reported from the loop */
};

static void free_job(struct exec_job *j)
{
    free(j->out[1].data);
    free(j->out[2].data);
    free(j);
}

/* Append what fits under max_buffer; 0 if all of it fit, -1 if not. */
static int buf_add(struct buf *b, const char *data, size_t n, size_t max)
{
    size_t room = max - b->len;
    size_t take = n < room ? n : room;
    if (b->len + take + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + take + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL)
            return -1; /* treated like an overflow: the child is stopped */
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, take);
    b->len += take;
    return take == n ? 0 : -1;
}

static void exec_data(proc_t *p, int stream, const char *data, size_t len, void *arg)
{
    struct exec_job *j = arg;
    if (len > 0 && buf_add(&j->out[stream], data, len, j->max_buffer) == -1)
        kill_for(p, PROC_MAX_BUFFER, stream);
}

static void exec_done(const struct exec_job *j, const proc_status_t *st)
{
    int ok = st->how == PROC_EXITED && st->code == 0;
    j->cb(ok ? NULL : st, j->out[1].data ? j->out[1].data : "", j->out[1].len,
          j->out[2].data ? j->out[2].data : "", j->out[2].len, j->arg);
}

static void exec_exit(proc_t *p, const proc_status_t *st, void *arg)
{
    (void)p;
    struct exec_job *j = arg;
    for (int s = 1; s <= 2; s++)
        if (j->out[s].data)
            j->out[s].data[j->out[s].len] = '\0';
    exec_done(j, st);
    free_job(j);
}

static void exec_failed_later(loop_t *loop, loop_timer_t *t, void *arg)
{
    (void)loop, (void)t;
    struct exec_job *j = arg;
    exec_done(j, &j->fail);
    free_job(j);
}

int proc_exec_file(loop_t *loop, const char *file, char *const argv[],
                   const proc_options_t *opts, proc_exec_cb cb, void *arg)
{
    if (cb == NULL) {
        errno = EINVAL;
        return -1;
    }
    proc_options_t o = {0};
    if (opts)
        o = *opts;
    /* stdout and stderr are what we collect; stdin gets no writer, so
     * unless the caller wants the child to share ours it reads EOF. */
    o.stdio[0] = o.stdio[0] == PROC_INHERIT ? PROC_INHERIT : PROC_IGNORE;
    o.stdio[1] = o.stdio[2] = PROC_PIPE;
    struct exec_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return -1;
    j->cb = cb;
    j->arg = arg;
    j->max_buffer = o.max_buffer ? o.max_buffer : PROC_MAX_BUFFER_DEFAULT;

    if (spawn(loop, file, argv, &o, exec_data, exec_exit, j, &j->fail) != NULL)
        return 0;
    if (j->fail.err == EINVAL && strcmp(j->fail.step, "arguments") == 0) {
        free_job(j);
        errno = EINVAL;
        return -1;
    }
    /* Like Node, a program that cannot start is reported through the
     * callback, and never before proc_exec returns: the caller's code after
     * the call has run by then, whatever happened. */
    if (loop_timer_add(loop, 0, 0, exec_failed_later, j) == NULL) {
        free_job(j);
        return -1;
    }
    return 0;
}

int proc_exec(loop_t *loop, const char *command, const proc_options_t *opts,
              proc_exec_cb cb, void *arg)
{
    if (command == NULL) {
        errno = EINVAL;
        return -1;
    }
    /* The whole command line is one argument to the shell. Every shell
     * feature applies to it: that is both the use and the danger of exec. */
    char *argv[] = {"/bin/sh", "-c", (char *)command, NULL};
    return proc_exec_file(loop, "/bin/sh", argv, opts, cb, arg);
}
