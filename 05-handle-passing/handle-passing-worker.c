/*
 * handle-passing-worker.c: the post's sub.js, in C.
 *
 * This program is not started by hand. A master starts it with an IPC
 * channel as fd 3 (NODE_CHANNEL_FD=3), exactly as Node starts a child:
 *   - ./handle-passing does, with chapter 03's proc_spawn;
 *   - a Node master can too: node/main.js spawns it with an 'ipc' stdio
 *     entry and sends it a net.Server with child.send('server', server).
 *
 * It waits for the message "server" with a handle, then accepts connections
 * on that socket and answers each one with `child data, pid N\n` before
 * closing it (the post's sub.js calls socket.send(), which net.Socket does
 * not have; the answer here is an ordinary write, and the close waits for
 * the client's end, as socket.end() does: close_after_answer). It tells its master which
 * fd the server arrived as, and what that fd is ("socket:[16054]"): the
 * master prints that next to its own fd for the same socket.
 *
 * What you see (inside the master's output):
 *   [worker 4213] got the server as fd 6 -> socket:[16054]
 *   [worker 4213] served connection 1
 *   [worker 4213] the master closed the channel; exiting after 5 connections
 *
 * If accept() fails for want of fds (EMFILE), it says so once and pauses
 * accepting instead of spinning on a listener that stays readable; the
 * README shows it with `prlimit --nofile`.
 *
 * It exits when the channel closes (its master is gone or disconnected), on
 * SIGINT/SIGTERM, and, on Linux, when its parent dies (PR_SET_PDEATHSIG).
 */
#include "loop_once.h" /* 01-event-loop: a one-shot timer */
#include "fdpass.h"
#include "handle.h"
#include "net.h"

#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/* How long accepting stays paused after accept(2) failed for want of fds
 * or memory, before the worker asks the kernel again. */
#define RESUME_MS 250

/* How long an answered connection may keep sending before it is closed
 * anyway (see close_after_answer). */
#define LINGER_MS 2000

typedef struct {
    loop_t *loop;
    chan_t *ch;
    int listen_fd; /* -1 until the server arrives: a listener or a UDP socket */
    long served;
    int pid;
    loop_timer_t *resume; /* pending while accepting is paused */
    long pause_logged_at; /* `served` when a pause was last reported */
} worker_t;

static void usage(FILE *to, int status)
{
    fprintf(to,
            "usage: handle-passing-worker\n"
            "\n"
            "The worker of handle-passing. Its master starts it with an IPC channel\n"
            "on fd 3 (NODE_CHANNEL_FD=3) and sends it a listening socket; it then\n"
            "answers every connection with `child data, pid N`. Run ./handle-passing\n"
            "(or node node/main.js) instead of running this by hand.\n");
    exit(status);
}

static void on_resume(loop_t *loop, loop_timer_t *timer, void *arg)
{
    (void)timer;
    worker_t *w = arg;
    w->resume = NULL; /* a one-shot timer's handle is gone once it fires */
    if (loop_modify(loop, w->listen_fd, LOOP_READ) == -1)
        err(1, "loop_modify on the server");
}

/* ---- closing after the answer ----------------------------------------------
 *
 * The worker never reads the client's request: the answer is the same
 * whatever was asked. But a close() while the client's bytes sit unread
 * makes the kernel send a reset (RST) instead of an end of file (FIN), and
 * the client gets "Connection reset by peer" after the answer, or instead
 * of it if the reset arrives first. So, as Node does for socket.end() (a
 * half-close, then the socket closes when the client's own end arrives):
 * shut down our sending side, which sends the FIN after the answer, then
 * read and drop whatever the client still sends until its end of file, for
 * LINGER_MS at most. */
typedef struct {
    loop_t *loop;
    int fd;
    loop_once_t timer; /* LINGER_MS at most (01's loop_once.h) */
} closing_t;

static void finish_close(closing_t *c)
{
    if (loop_unwatch(c->loop, c->fd) == -1)
        warn("loop_unwatch");
    loop_once_cancel(c->loop, &c->timer);
    close(c->fd);
    free(c);
}

static void on_linger_input(loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)events;
    char drop[4096];
    ssize_t n = read(fd, drop, sizeof drop); /* readable: this does not block */
    if (n > 0 || (n == -1 && errno == EINTR))
        return;        /* dropped; wait for the client's end */
    finish_close(arg); /* end of file, or an error such as a reset */
}

static void on_linger_timeout(void *arg)
{
    finish_close(arg);
}

static void close_after_answer(worker_t *w, int fd)
{
    closing_t *c = malloc(sizeof *c);
    if (c == NULL || shutdown(fd, SHUT_WR) == -1) {
        free(c); /* ENOTCONN: the client is gone already; nothing to wait for */
        close(fd);
        return;
    }
    *c = (closing_t){.loop = w->loop, .fd = fd};
    if (loop_watch(w->loop, fd, LOOP_READ, on_linger_input, c) == -1) {
        warn("loop_watch");
        close(fd);
        free(c);
        return;
    }
    if (loop_once_start(w->loop, &c->timer, LINGER_MS, on_linger_timeout, c) == -1) {
        warn("loop_timer_add");
        finish_close(c);
    }
}

/* accept(2) failed with the connection still waiting: out of fds (EMFILE,
 * ENFILE) or memory. The listener stays readable, so a level-triggered loop
 * would call on_accept again at once, fail again, and spin at 100% CPU.
 * Instead stop asking for a while: the client waits in the backlog, and
 * every RESUME_MS the worker tries again: by then the answered connections
 * it was closing (close_after_answer) may have ended, or a limit been
 * raised, or a system-wide shortage ended. Chapter 01's server pauses the
 * same way. */
static void pause_accept(worker_t *w, int error)
{
    if (loop_modify(w->loop, w->listen_fd, 0) == -1)
        err(1, "loop_modify on the server");
    w->resume = loop_timer_add(w->loop, RESUME_MS, 0, on_resume, w);
    if (w->resume == NULL)
        err(1, "loop_timer_add");
    if (w->pause_logged_at != w->served) {
        /* Once per episode, not once per retry. */
        w->pause_logged_at = w->served;
        fprintf(stderr,
                "[worker %d] accept: %s; pausing accept, trying again every %d ms "
                "(clients wait in the backlog)\n",
                w->pid, strerror(error), RESUME_MS);
    }
}

/* The shared listening socket is readable: a connection is waiting. Every
 * worker holding the socket may be woken for the same connection; one wins
 * the accept() and the others get EAGAIN (chapter 07 measures this). */
static void on_accept(loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)events;
    worker_t *w = arg;
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c == -1) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue; /* that client gave up between SYN and accept */
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return; /* another worker took it, or none is left */
            /* EMFILE, ENFILE, ENOBUFS, ENOMEM: the connection is still
             * there, and asking again at once would fail again. */
            pause_accept(w, errno);
            return;
        }
        /* accept(2) gives a blocking socket on Linux (a BSD kernel copies
         * O_NONBLOCK from the listener, so clear it to be sure). The answer
         * is a few bytes into an empty send buffer: it cannot block. */
        if (net_set_nonblock(c, 0) == -1 || net_set_cloexec(c) == -1) {
            warn("fcntl on a new connection");
            close(c);
            continue;
        }
        char reply[64];
        int len = snprintf(reply, sizeof reply, "child data, pid %d\n", w->pid);
        if (net_send_all(c, reply, (size_t)len) == -1) {
            warn("send");
            close(c);
        } else {
            close_after_answer(w, c);
        }
        w->served++;
        printf("[worker %d] served connection %ld\n", w->pid, w->served);
    }
}

/* The shared UDP socket is readable: datagrams wait. There is no accept and
 * no connection: each recvfrom(2) takes one datagram off the socket's one
 * queue, and whichever worker calls it first gets it; the others find the
 * queue empty (EAGAIN). The answer goes back to the address the datagram
 * came from, from the one port all the workers share. */
static void on_datagram(loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)events;
    worker_t *w = arg;
    for (;;) {
        char buf[2048];
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fromlen);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                warn("recvfrom"); /* e.g. ECONNREFUSED from an earlier answer */
            return;
        }
        char reply[64];
        int len = snprintf(reply, sizeof reply, "child data, pid %d\n", w->pid);
        if (sendto(fd, reply, (size_t)len, 0, (struct sockaddr *)&from, fromlen) == -1)
            warn("sendto");
        w->served++;
        printf("[worker %d] answered datagram %ld\n", w->pid, w->served);
    }
}

/* A connection of its own (net.Socket, or net.Native as Node's cluster
 * primary sends them): answer it as on_accept answers one. */
static void serve_connection(worker_t *w, int c)
{
    char reply[64];
    int len = snprintf(reply, sizeof reply, "child data, pid %d\n", w->pid);
    if (net_set_nonblock(c, 0) == -1 || net_send_all(c, reply, (size_t)len) == -1) {
        warn("answering a connection");
        close(c);
        return;
    }
    close_after_answer(w, c);
    w->served++;
    printf("[worker %d] served connection %ld\n", w->pid, w->served);
}

/* What a received socket is, asked of the kernel: the envelope's type says
 * what the sender meant, but a "Native" one may be a listener or a
 * connection, and any type may lie. */
typedef enum { KIND_OTHER, KIND_LISTENER, KIND_CONNECTION, KIND_UDP } kind_t;

static kind_t socket_kind(int fd)
{
    int type, acc;
    socklen_t len = sizeof type, alen = sizeof acc;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1)
        return KIND_OTHER;
    if (type == SOCK_DGRAM)
        return KIND_UDP;
    if (type != SOCK_STREAM ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) == -1)
        return KIND_OTHER;
    return acc ? KIND_LISTENER : KIND_CONNECTION;
}

/* Does the envelope's type fit what the socket is? net.Server is a
 * listener, net.Socket a connection, dgram.* a UDP socket; net.Native is
 * either TCP kind. */
static int type_fits(handle_type_t t, kind_t k)
{
    switch (t) {
    case HANDLE_NET_SERVER:
        return k == KIND_LISTENER;
    case HANDLE_NET_SOCKET:
        return k == KIND_CONNECTION;
    case HANDLE_NET_NATIVE:
        return k == KIND_LISTENER || k == KIND_CONNECTION;
    case HANDLE_DGRAM_SOCKET:
    case HANDLE_DGRAM_NATIVE:
        return k == KIND_UDP;
    }
    return 0;
}

/* Tell the master which fd the server became here and what it is, so the
 * master can print it beside its own. */
static void report_server(worker_t *w, int fd, const char *id)
{
    json_value *m = json_new_object();
    if (m == NULL || json_object_set(m, "pid", json_new_number(w->pid)) == -1 ||
        json_object_set(m, "fd", json_new_number(fd)) == -1 ||
        json_object_set(m, "socket", json_new_string(id)) == -1) {
        json_free(m);
        warnx("out of memory");
        return;
    }
    if (handle_send_message(w->ch, m) == -1)
        warn("sending to the master");
    json_free(m);
}

static void refuse(worker_t *w, const json_value *msg, int fd, const char *why)
{
    char *text = json_serialize(msg, NULL);
    printf("[worker %d] message %s%s%s\n", w->pid, text ? text : "?",
           fd != -1 ? " with a handle I have no use for (closed)" : "", why);
    free(text);
    if (fd != -1)
        close(fd);
}

static void on_message(chan_t *ch, const json_value *msg, int fd, void *user)
{
    worker_t *w = user;
    handle_type_t type;
    if (fd == -1 || handle_type_from_name(handle_received_type(ch), &type) == -1) {
        refuse(w, msg, fd, "");
        return;
    }
    kind_t kind = socket_kind(fd);
    if (!type_fits(type, kind)) {
        refuse(w, msg, fd, ": its type does not match the socket");
        return;
    }
    if (kind == KIND_CONNECTION) {
        printf("[worker %d] got a connection as fd %d (%s)\n", w->pid, fd,
               handle_type_name(type));
        serve_connection(w, fd);
        return;
    }
    int is_server = msg->type == JSON_STRING && strcmp(msg->u.string.ptr, "server") == 0;
    if (!is_server || w->listen_fd != -1) {
        refuse(w, msg, fd, "");
        return;
    }
    char id[64];
    fdpass_describe(fd, id, sizeof id);
    if (type == HANDLE_NET_SERVER)
        printf("[worker %d] got the server as fd %d -> %s\n", w->pid, fd, id);
    else
        printf("[worker %d] got the server as fd %d -> %s (%s%s%s)\n", w->pid, fd, id,
               handle_type_name(type), handle_received_dgram_type(ch) ? ", " : "",
               handle_received_dgram_type(ch) ? handle_received_dgram_type(ch) : "");

    /* Non-blocking: when another worker wins the race for a connection or
     * a datagram, our accept() or recvfrom() must return EAGAIN instead of
     * blocking the loop. */
    if (net_set_nonblock(fd, 1) == -1)
        err(1, "fcntl O_NONBLOCK");
    if (loop_watch(w->loop, fd, LOOP_READ, kind == KIND_UDP ? on_datagram : on_accept,
                   w) == -1)
        err(1, "loop_watch on fd %d", fd);
    w->listen_fd = fd;
    report_server(w, fd, id);
}

static void on_error(chan_t *ch, const chan_error *e, void *user)
{
    (void)ch;
    fprintf(stderr, "[worker %d] %s\n", ((worker_t *)user)->pid, e->text);
}

static void on_disconnect(chan_t *ch, void *user)
{
    (void)ch;
    worker_t *w = user;
    w->ch = NULL; /* freed when this returns */
    printf("[worker %d] the master closed the channel; exiting after %ld connections\n",
           w->pid, w->served);
    loop_stop(w->loop);
}

static void on_signal(loop_t *loop, int signo, void *arg)
{
    worker_t *w = arg;
    printf("[worker %d] %s: exiting after %ld connections\n", w->pid,
           signo == SIGINT ? "SIGINT" : "SIGTERM", w->served);
    loop_stop(loop);
}

/* Node's child reads NODE_CHANNEL_FD and removes it from the environment;
 * so do we (chapter 04). */
static int channel_fd(void)
{
    int fd = chan_fd_from_env();
    if (fd == -1 && errno == ENOENT)
        errx(1, "NODE_CHANNEL_FD is not set: start me from ./handle-passing, or from "
                "node/main.js");
    if (fd == -1)
        err(1, "NODE_CHANNEL_FD"); /* set, but not an open socket fd */
    return fd;
}

static loop_t *new_loop(worker_t *w)
{
    loop_backend_t backend;
    if (loop_backend_default(&backend) == -1)
        errx(2, "bad value for LOOP_BACKEND: %s (want select, poll or epoll)",
             getenv("LOOP_BACKEND"));
    loop_t *loop = loop_new(backend);
    if (loop == NULL)
        err(1, "loop_new");
    if (loop_on_signal(loop, SIGINT, on_signal, w) == -1 ||
        loop_on_signal(loop, SIGTERM, on_signal, w) == -1)
        err(1, "loop_on_signal");
    return loop;
}

/* The channel, as in chapter 04, and handle passing on it (handle.c). */
static void open_channel(worker_t *w, int fd)
{
    chan_callbacks cb = {
        .on_message = on_message, .on_error = on_error, .on_disconnect = on_disconnect};
    w->ch = chan_open(w->loop, fd, &cb, w);
    if (w->ch == NULL)
        err(1, "chan_open on fd %d", fd);
    chan_set_name(w->ch, "master");
    if (handle_attach(w->ch, NULL, NULL) == -1)
        err(1, "handle_attach");
}

int main(int argc, char *argv[])
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
        usage(stdout, 0);
    if (argc > 1)
        usage(stderr, 2);

    worker_t w = {.listen_fd = -1, .pid = (int)getpid(), .pause_logged_at = -1};
#ifdef __linux__
    /* If the master dies without closing the channel (SIGKILL), the kernel
     * sends us SIGTERM: no orphan keeps serving the port. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
        err(1, "prctl PR_SET_PDEATHSIG");
#endif
    int fd = channel_fd();
    w.loop = new_loop(&w);
    open_channel(&w, fd);
    /* The server arrives as a message with an fd: on_message, then on_accept. */
    if (loop_run(w.loop) == -1)
        err(1, "loop_run");

    if (w.resume != NULL)
        loop_timer_cancel(w.loop, w.resume);
    if (w.listen_fd != -1) {
        loop_unwatch(w.loop, w.listen_fd);
        close(w.listen_fd);
    }
    chan_close(w.ch);
    loop_free(w.loop);
    return 0;
}
