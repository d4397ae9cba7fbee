/*
 * conn.c: a client connection served by the loop (see conn.h).
 *
 * on_conn() is the only callback. It writes first (queued output from last
 * time), then reads once and answers every complete line. Reading once per
 * call, not until EAGAIN, is a fairness choice: the loop is level-triggered,
 * so unread bytes make the fd ready again on the next iteration, and a
 * client that sends a lot cannot hold the loop while the others wait.
 *
 * Run: ./event-loop, then `./event-loop client hello "busy 500" stats`. Every
 * reply you see was queued by answer_lines() and written by flush().
 */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "compat.h" /* MSG_NOSIGNAL where it is missing */
#include "linebuf.h"
#include "proto.h"

/* Read size per readiness event. */
#define READ_CHUNK 16384
/* Stop reading from a client while this much output waits for it. */
#define OUT_HIGH_WATER (1024 * 1024)

struct conn {
    server_t *srv;
    int fd;
    linebuf_t in;
    char *out; /* queued replies; NULL when empty */
    size_t out_off, out_len, out_cap;
    int throttled; /* not reading: too much output waits for this client */
    struct conn *prev, *next;
};

static void on_conn(loop_t *loop, int fd, int events, void *arg);

int conn_open(server_t *s, int fd)
{
    struct conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    c->srv = s;
    c->fd = fd;
    linebuf_init(&c->in, LINEBUF_MAX);
    if (loop_watch(s->loop, fd, LOOP_READ, on_conn, c) == -1) {
        int saved = errno; /* ERANGE: select and fd >= FD_SETSIZE */
        free(c);
        errno = saved;
        return -1;
    }
    c->next = s->list;
    if (s->list != NULL)
        s->list->prev = c;
    s->list = c;
    s->conns++;
    return 0;
}

/* Unwatch before close: after close(2) the fd number can be handed to the
 * next accepted client at once, and the loop must not confuse the two. */
static void conn_close(struct conn *c)
{
    server_t *s = c->srv;
    loop_unwatch(s->loop, c->fd);
    close(c->fd);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->list = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    s->conns--;
    linebuf_free(&c->in);
    free(c->out);
    free(c);
    server_conn_closed(s);
}

void conn_close_all(server_t *s)
{
    while (s->list != NULL)
        conn_close(s->list);
}

/* Make room for one more reply in the output queue. */
static int out_reserve(struct conn *c, size_t need)
{
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + need <= c->out_cap)
        return 0;
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + need)
        cap *= 2;
    char *grown = realloc(c->out, cap);
    if (grown == NULL)
        return -1;
    c->out = grown;
    c->out_cap = cap;
    return 0;
}

/* Write what is queued. Returns 0 if the connection lives on, -1 if it
 * was closed. Sets the loop interest to match: WRITE while output waits,
 * READ unless too much output waits (and then says so in the log, once). */
static int flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break; /* the kernel's send buffer is full: a short write */
            server_log(c->srv, "fd %d: send: %s: client vanished mid-write, closing",
                       c->fd, strerror(errno));
            conn_close(c);
            return -1;
        }
        c->out_off += (size_t)n;
    }
    size_t queued = c->out_len - c->out_off;
    if (queued == 0 && c->out != NULL) {
        free(c->out); /* idle connections own no buffers */
        c->out = NULL;
        c->out_off = c->out_len = c->out_cap = 0;
    }
    int throttle = queued >= OUT_HIGH_WATER;
    int want = (queued > 0 ? LOOP_WRITE : 0) | (throttle ? 0 : LOOP_READ);
    if (loop_modify(c->srv->loop, c->fd, want) == -1) {
        server_log(c->srv, "fd %d: loop_modify: %s, closing", c->fd, strerror(errno));
        conn_close(c);
        return -1;
    }
    if (throttle && !c->throttled)
        server_log(c->srv,
                   "fd %d: %zu KiB of replies wait for this client: pausing its input "
                   "until they drain below %d KiB",
                   c->fd, queued / 1024, OUT_HIGH_WATER / 1024);
    c->throttled = throttle;
    return 0;
}

/* Answer every complete line. Returns 0, or -1 if the connection was closed. */
static int answer_lines(struct conn *c)
{
    const char *line;
    size_t len;
    int r;
    while ((r = linebuf_next(&c->in, &line, &len)) == 1) {
        if (out_reserve(c, PROTO_REPLY_MAX) == -1) {
            server_log(c->srv, "fd %d: out of memory, closing", c->fd);
            conn_close(c);
            return -1;
        }
        long ms = proto_busy_ms(line, len);
        if (ms > 0)
            server_log(c->srv, "fd %d: busy %ld: the loop is blocked, every client waits",
                       c->fd, ms);
        proto_info info = {"loop", loop_backend_name(loop_backend(c->srv->loop)),
                           c->srv->conns};
        c->out_len +=
            proto_reply(line, len, &info, c->out + c->out_len, c->out_cap - c->out_len);
    }
    if (r == -1) {
        static const char msg[] = PROTO_TOO_LONG;
        server_log(c->srv, "fd %d: line longer than %d bytes, closing", c->fd,
                   LINEBUF_MAX);
        if (out_reserve(c, sizeof msg) == 0) {
            memcpy(c->out + c->out_len, msg, sizeof msg - 1);
            c->out_len += sizeof msg - 1;
        }
        /* One last try to deliver the replies and the error, without
         * waiting: a client that sends such lines is not owed more. */
        if (c->out_len > c->out_off &&
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                 MSG_NOSIGNAL | MSG_DONTWAIT) == -1) {
            /* it is being closed either way */
        }
        /* Closing a socket with unread input makes the kernel send a reset,
         * which can destroy the error line before the client reads it. So
         * send our FIN after the data, and discard what the client has
         * already sent (a bounded amount, without waiting) before closing. */
        shutdown(c->fd, SHUT_WR);
        char sink[READ_CHUNK];
        for (int i = 0; i < 64 && read(c->fd, sink, sizeof sink) > 0; i++)
            ;
        conn_close(c);
        return -1;
    }
    return 0;
}

static void on_conn(loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    struct conn *c = arg;
    if ((events & LOOP_WRITE) && flush(c) == -1)
        return;
    if (!(events & (LOOP_READ | LOOP_ERROR)))
        return;

    char buf[READ_CHUNK];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0) {
        conn_close(c); /* the client closed: nothing to say */
        return;
    }
    if (n == -1) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        server_log(c->srv, "fd %d: read: %s: client vanished, closing", fd,
                   strerror(errno));
        conn_close(c);
        return;
    }
    if (linebuf_append(&c->in, buf, (size_t)n) == -1) {
        server_log(c->srv, "fd %d: out of memory, closing", fd);
        conn_close(c);
        return;
    }
    if (answer_lines(c) == -1)
        return;
    flush(c);
}
