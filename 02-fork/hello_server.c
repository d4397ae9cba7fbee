/*
 * hello_server.c: a worker's tiny HTTP server (see hello_server.h).
 *
 * Each connection is read until the end of the request head (an empty
 * line), answered with one fixed response, and closed: HTTP/1.1 with
 * `Connection: close`, which every client understands. Sockets are
 * non-blocking and driven by the loop, so one slow client never holds up
 * the others; a response the kernel takes only in part (a short write) is
 * finished when the socket becomes writable again.
 *
 * Run it through the master:  ./fork --workers 2
 * and in a second terminal:   curl http://127.0.0.1:PORT/   (PORT as printed)
 */
#include "hello_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

static const char RESPONSE[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 12\r\n"
                               "Connection: close\r\n"
                               "\r\n"
                               "Hello World.";

/* A request head larger than this is refused: a hello server has no use
 * for big headers, and a limit keeps a client from growing our memory. */
enum { HEAD_MAX = 8192 };

struct hello_conn {
    struct hello_conn *next;
    struct hello_server *srv;
    int fd;
    size_t len;  /* bytes of the request head read so far */
    size_t sent; /* bytes of RESPONSE written so far */
    int writing;
    char head[HEAD_MAX];
};

struct hello_server {
    loop_t *loop;
    int listen_fd;
    int lifeline_fd;
    long served;
    struct hello_conn *conns;
};

static void conn_close(struct hello_conn *c)
{
    struct hello_server *srv = c->srv;
    loop_unwatch(srv->loop, c->fd);
    close(c->fd);
    for (struct hello_conn **pp = &srv->conns; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    free(c);
}

/* Write what is left of the response; close when it is all out. */
static void conn_write(struct hello_conn *c)
{
    size_t total = sizeof RESPONSE - 1;
    while (c->sent < total) {
        /* MSG_NOSIGNAL: a client that hung up gives EPIPE, not a SIGPIPE
         * that would kill the worker (SIGPIPE is ignored too). */
        ssize_t n = send(c->fd, RESPONSE + c->sent, total - c->sent, MSG_NOSIGNAL);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            loop_modify(c->srv->loop, c->fd, LOOP_WRITE);
            return; /* a short write: the rest when the socket drains */
        }
        if (n == -1) {
            conn_close(c); /* the client vanished (EPIPE, ECONNRESET) */
            return;
        }
        c->sent += (size_t)n;
    }
    c->srv->served++;
    conn_close(c);
}

static void on_conn(loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    struct hello_conn *c = arg;
    if (c->writing) {
        conn_write(c);
        return;
    }
    for (;;) {
        if (c->len == sizeof c->head - 1) {
            conn_close(c); /* head too large */
            return;
        }
        ssize_t n = read(c->fd, c->head + c->len, sizeof c->head - 1 - c->len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; /* wait for more of the head */
        if (n <= 0) {
            conn_close(c); /* EOF or error before a whole request */
            return;
        }
        c->len += (size_t)n;
        c->head[c->len] = '\0';
        if (strstr(c->head, "\r\n\r\n") != NULL || strstr(c->head, "\n\n") != NULL)
            break;
    }
    /* Whatever was asked (GET /, GET /favicon.ico, ...), the answer is the
     * same, as in the post's work.js. Log the request line. */
    size_t line = strcspn(c->head, "\r\n");
    printf("[worker %d] %.*s -> 200 Hello World.\n", (int)getpid(),
           (int)(line < 200 ? line : 200), c->head);
    c->writing = 1;
    conn_write(c);
}

static void on_listen(loop_t *loop, int fd, int events, void *arg)
{
    (void)events;
    struct hello_server *srv = arg;
    for (;;) {
        int cfd = accept(fd, NULL, NULL);
        if (cfd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                fprintf(stderr, "[worker %d] accept: %s\n", (int)getpid(),
                        strerror(errno));
            return;
        }
        /* accept(2) gives neither flag (accept4 is not in POSIX.1-2008; it
         * came in POSIX.1-2024): set both. */
        struct hello_conn *c = calloc(1, sizeof *c);
        if (c == NULL || net_set_nonblock(cfd, 1) == -1 ||
            fcntl(cfd, F_SETFD, FD_CLOEXEC) == -1 ||
            loop_watch(loop, cfd, LOOP_READ, on_conn, c) == -1) {
            /* ERANGE: the select backend cannot watch an fd this high. */
            fprintf(stderr, "[worker %d] cannot serve a connection: %s\n", (int)getpid(),
                    strerror(errno));
            free(c);
            close(cfd);
            continue;
        }
        c->srv = srv;
        c->fd = cfd;
        c->next = srv->conns;
        srv->conns = c;
    }
}

/* The master is gone: the lifeline pipe reached EOF. */
static void on_lifeline(loop_t *loop, int fd, int events, void *arg)
{
    (void)fd;
    (void)events;
    (void)arg;
    printf("[worker %d] the master is gone (lifeline EOF); exiting\n", (int)getpid());
    loop_stop(loop);
}

static void on_term(loop_t *loop, int signo, void *arg)
{
    (void)signo;
    (void)arg;
    printf("[worker %d] SIGTERM: stopping\n", (int)getpid());
    loop_stop(loop);
}

int hello_serve(loop_t *loop, const char *host, int lifeline_fd)
{
    struct hello_server srv = {.loop = loop, .listen_fd = -1, .lifeline_fd = lifeline_fd};
    int status = 1;
    int me = (int)getpid();

    /* See hello_server.h: Ctrl-C is for the master to handle. */
    if (signal(SIGINT, SIG_IGN) == SIG_ERR || signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        fprintf(stderr, "[worker %d] signal: %s\n", me, strerror(errno));
        goto out;
    }
    if (loop_on_signal(loop, SIGTERM, on_term, NULL) == -1) {
        fprintf(stderr, "[worker %d] loop_on_signal: %s\n", me, strerror(errno));
        goto out;
    }
    if (lifeline_fd != -1 &&
        loop_watch(loop, lifeline_fd, LOOP_READ, on_lifeline, NULL) == -1) {
        fprintf(stderr, "[worker %d] loop_watch: %s\n", me, strerror(errno));
        goto out;
    }

    /* Port 0: the kernel picks a free ephemeral port. This is what the
     * post's Math.random()*1000 should have been: no port below 1024, no
     * two workers on one port. */
    char why[256];
    int port;
    srv.listen_fd = net_listen(host, 0, 128, &port, why, sizeof why);
    if (srv.listen_fd == -1) {
        fprintf(stderr, "[worker %d] %s\n", me, why);
        goto out;
    }
    if (net_set_nonblock(srv.listen_fd, 1) == -1) {
        fprintf(stderr, "[worker %d] fcntl O_NONBLOCK: %s\n", me, strerror(errno));
        goto out;
    }
    if (loop_watch(loop, srv.listen_fd, LOOP_READ, on_listen, &srv) == -1) {
        fprintf(stderr, "[worker %d] loop_watch: %s\n", me, strerror(errno));
        goto out;
    }
    printf("[worker %d] listening on %s:%d (pid %d)\n", me, host, port, me);

    if (loop_run(loop) == -1) {
        fprintf(stderr, "[worker %d] loop_run: %s\n", me, strerror(errno));
        goto out;
    }
    printf("[worker %d] stopped after %ld request%s\n", me, srv.served,
           srv.served == 1 ? "" : "s");
    status = 0;

out:
    while (srv.conns != NULL)
        conn_close(srv.conns);
    if (srv.listen_fd != -1) {
        loop_unwatch(loop, srv.listen_fd);
        close(srv.listen_fd);
    }
    if (lifeline_fd != -1) {
        loop_unwatch(loop, lifeline_fd);
        close(lifeline_fd);
    }
    return status;
}
