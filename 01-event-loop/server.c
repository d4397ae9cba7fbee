/*
 * server.c: the accepting side, shared by the loop and --threads modes
 * (see server.h).
 *
 * Read it in this order: server_run() sets up the loop (listener, tick,
 * signals) and runs it; on_listen() accepts new connections and hands them
 * to the mode; pause_accept() and on_resume() keep EMFILE from turning into
 * a busy loop; on_tick() prints the heartbeat that shows when the loop was
 * blocked.
 *
 * Run: ./event-loop (terminal 1), then ./event-loop client stats (terminal
 * 2). Terminal 1 shows this file's lines: the listening line, a tick every
 * second, and any pause or refusal with its reason.
 */
#include "server.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "net.h"
#include "proto.h"
#include "threads.h"

/* How long to wait before trying accept again when it failed for lack of
 * fds and no connection has closed in the meantime. */
#define RESUME_MS 250
/* Accept at most this many connections per readiness event, so that a
 * flood of new clients cannot starve the ones already connected. */
#define ACCEPT_BATCH 64

void server_log(const server_t *s, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One printf per line: stdio locks the stream per call, so lines from
     * several threads never interleave mid-line. */
    printf("[%s %ld] %s\n", s->role, (long)getpid(), line);
}

int server_conn_count(const server_t *s)
{
    return s->opts->threads ? threads_count() : s->conns;
}

/* ---------------------------------------------------------------------- */
/* Accepting                                                              */

static void on_listen(loop_t *loop, int fd, int events, void *arg);

static void resume_accept(server_t *s)
{
    if (!s->paused)
        return;
    s->paused = 0;
    loop_once_cancel(s->loop, &s->resume);
    if (loop_modify(s->loop, s->listen_fd, LOOP_READ) == -1)
        server_log(s, "loop_modify(listener): %s", strerror(errno));
}

/* The retry timer: try accepting again even if no connection closed. */
static void on_resume(void *arg)
{
    resume_accept(arg);
}

/* Stop watching the listener. It stays readable while clients wait in the
 * backlog, so with a level-triggered loop the only way not to spin is not
 * to ask. A closing connection (server_conn_closed) or the timer brings
 * accepting back. */
static void pause_accept(server_t *s, int error)
{
    if (s->paused)
        return;
    if (loop_modify(s->loop, s->listen_fd, 0) == -1) {
        server_log(s, "loop_modify(listener): %s", strerror(errno));
        return;
    }
    s->paused = 1;
    if (loop_once_start(s->loop, &s->resume, RESUME_MS, on_resume, s) == -1)
        server_log(s, "loop_timer_add: %s", strerror(errno));
    if (s->pause_logged_at != s->accepted) {
        /* Log once per episode, not once per retry. */
        s->pause_logged_at = s->accepted;
        server_log(s,
                   "accept: %s; pausing accept until a connection closes "
                   "(%d open), new clients wait in the backlog",
                   strerror(error), server_conn_count(s));
    }
}

void server_conn_closed(server_t *s)
{
    resume_accept(s);
}

void server_refuse(server_t *s, int fd, const char *why)
{
    char msg[256];
    int n = snprintf(msg, sizeof msg, "error: server cannot serve this connection: %s\n",
                     why);
    /* Best effort: the socket is fresh, its buffer is empty, so a short
     * line fits; if the client is already gone there is nobody to tell. */
    if (send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == -1) {
        /* ignored on purpose, see above */
    }
    close(fd);
    s->refused++;
    uint64_t now = loop_now_ms();
    if (s->refused_logged == 0 || now - s->refuse_log_ms >= 1000) {
        server_log(s, "refused a connection (fd %d): %s; %ld refused so far", fd, why,
                   s->refused);
        s->refuse_log_ms = now;
        s->refused_logged = s->refused;
    }
}

/* Give the new connection the mode's blocking behaviour, and make sure it
 * is close-on-exec (accept(2) gives neither; accept4 came only in
 * POSIX.1-2024, and this tutorial builds against POSIX.1-2008). */
static int set_fd_mode(int fd, int nonblocking)
{
    return net_set_cloexec(fd) == -1 ? -1 : net_set_nonblock(fd, nonblocking);
}

static void take(server_t *s, int fd)
{
    char why[160];
    if (set_fd_mode(fd, !s->opts->threads) == -1) {
        snprintf(why, sizeof why, "fcntl: %s", strerror(errno));
        server_refuse(s, fd, why);
        return;
    }
    if (s->opts->threads) {
        if (threads_start(s, fd) == -1) {
            snprintf(why, sizeof why, "cannot create a thread: %s", strerror(errno));
            server_refuse(s, fd, why);
            return;
        }
    } else if (conn_open(s, fd) == -1) {
        if (errno == ERANGE)
            snprintf(why, sizeof why,
                     "select() cannot watch fd %d, FD_SETSIZE is %d (use poll or epoll)",
                     fd, FD_SETSIZE);
        else
            snprintf(why, sizeof why, "cannot watch the connection: %s", strerror(errno));
        server_refuse(s, fd, why);
        return;
    }
    s->accepted++;
}

static void on_listen(loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)events;
    server_t *s = arg;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int c = accept(fd, NULL, NULL);
        if (c == -1) {
            switch (errno) {
            case EAGAIN:
#if EWOULDBLOCK != EAGAIN
            case EWOULDBLOCK:
#endif
                return; /* the backlog is empty */
            case EINTR:
            case ECONNABORTED:
            case EPROTO:
                continue; /* that client gave up between SYN and accept */
            case EMFILE:
            case ENFILE:
            case ENOBUFS:
            case ENOMEM:
                pause_accept(s, errno);
                return;
            default:
                server_log(s, "accept: %s", strerror(errno));
                pause_accept(s, errno);
                return;
            }
        }
        take(s, c);
    }
}

/* ---------------------------------------------------------------------- */
/* The tick: a heartbeat that shows when the loop could not run           */

static void on_tick(loop_t *loop, loop_timer_t *t, void *arg)
{
    (void)loop;
    (void)t;
    server_t *s = arg;
    uint64_t now = loop_now_ms();
    uint64_t gap = now - s->last_tick_ms;
    s->last_tick_ms = now;
    s->ticks++;
    char late[96] = "";
    if (gap > (uint64_t)s->opts->tick_ms * 3 / 2)
        snprintf(late, sizeof late, ", %llu ms late: the loop was blocked",
                 (unsigned long long)(gap - (uint64_t)s->opts->tick_ms));
    char refused[64] = "";
    if (s->refused > s->refused_logged) {
        snprintf(refused, sizeof refused, ", %ld refused", s->refused);
        s->refused_logged = s->refused;
    }
    server_log(s, "tick %ld: %d conns, +%llu ms%s%s", s->ticks, server_conn_count(s),
               (unsigned long long)gap, late, refused);
}

/* ---------------------------------------------------------------------- */
/* Running                                                                */

/* The loop, watching the listener, stopping on SIGINT and SIGTERM, with
 * the tick. Returns 0, or -1 after saying which step failed. */
static int server_setup(server_t *s)
{
    s->loop = loop_new(s->opts->backend);
    if (s->loop == NULL) {
        const char *why =
            errno == ENOSYS ? "not on this system (epoll is Linux's)" : strerror(errno);
        fprintf(stderr, "event-loop: loop_new(%s): %s\n",
                loop_backend_name(s->opts->backend), why);
        return -1;
    }
    uint64_t tick = (uint64_t)s->opts->tick_ms;
    const char *failed = NULL;
    if (set_fd_mode(s->listen_fd, 1) == -1)
        failed = "fcntl(listener)";
    else if (loop_watch(s->loop, s->listen_fd, LOOP_READ, on_listen, s) == -1)
        failed = "loop_watch(listener)";
    else if (loop_stop_on_signal(s->loop, SIGINT) == -1)
        failed = "loop_stop_on_signal(SIGINT)";
    else if (loop_stop_on_signal(s->loop, SIGTERM) == -1)
        failed = "loop_stop_on_signal(SIGTERM)";
    else if (tick > 0 && loop_timer_add(s->loop, tick, tick, on_tick, s) == NULL)
        failed = "loop_timer_add";
    if (failed != NULL) {
        fprintf(stderr, "event-loop: %s: %s\n", failed, strerror(errno));
        loop_free(s->loop);
        return -1;
    }
    s->last_tick_ms = loop_now_ms();
    return 0;
}

/* The first lines of the log: the mode, then where the server listens. */
static void server_announce(const server_t *s, const char *host, int port)
{
    loop_backend_t b = s->opts->backend;
    if (s->opts->threads)
        server_log(s,
                   "one thread per connection; the main thread's loop (%s) only accepts",
                   loop_backend_name(b));
    else
        server_log(s, "one thread, backend %s%s", loop_backend_name(b),
                   b == LOOP_SELECT ? " (can watch fds 0..FD_SETSIZE-1 only)" : "");
    server_log(s, "listening on %s:%d (pid %ld)", host, port, (long)getpid());
}

/* After the loop stopped: close the connections (or give the threads two
 * seconds to finish), then the loop. */
static void server_close(server_t *s)
{
    server_log(s, "stopping: %d connections open, %ld accepted, %ld refused",
               server_conn_count(s), s->accepted, s->refused);
    if (s->opts->threads) {
        int left = threads_stop(2000);
        if (left > 0)
            server_log(s, "%d threads still busy, exiting anyway", left);
    } else {
        conn_close_all(s);
    }
    loop_unwatch(s->loop, s->listen_fd);
    loop_once_cancel(s->loop, &s->resume);
    loop_free(s->loop);
}

int server_run(int listen_fd, const char *host, int port, const server_opts *opts)
{
    /* Static, not on this stack frame: in --threads mode a connection
     * thread may still log through it while the process exits. */
    static server_t srv;
    server_t *s = &srv;
    *s = (server_t){.opts = opts,
                    .role = opts->threads ? "threads" : "loop",
                    .listen_fd = listen_fd,
                    .pause_logged_at = -1};
    proto_init();
    if (server_setup(s) == -1)
        return 1;
    server_announce(s, host, port);
    int status = 0;
    if (loop_run(s->loop) == -1) {
        server_log(s, "loop_run: %s", strerror(errno));
        status = 1;
    }
    server_close(s);
    return status;
}
