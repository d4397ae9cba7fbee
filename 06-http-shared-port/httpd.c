/*
 * httpd.c: one worker's HTTP service, as declared in httpd.h.
 *
 * Read it in this order:
 *   on_listener   accepts new connections (bounded per wake, errors pause);
 *   on_conn       a connection is readable or writable;
 *   process       feeds the bytes read to the parser and answers each
 *                 complete request in order (pipelining);
 *   flush         writes the answers, keeping what the socket would not take;
 *   on_sweep      closes connections past their deadline (slowloris, idle);
 *   httpd_drain   the graceful stop.
 *
 * Every connection is a conn_t in h->conns, indexed by its fd: the fd that
 * the loop hands to a callback finds its connection without a search and
 * without a pointer that could go stale when the array grows.
 */
#include "httpd.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "net.h" /* fd flags and writing all bytes, from 01-event-loop */

#define READ_BUF 16384         /* one read(2), shared by all connections */
#define OUT_BUF 65536          /* responses formatted before one write */
#define RESPONSE_MAX 512       /* the largest response this server formats */
#define PEND_PAUSE (64 * 1024) /* stop reading a client this far behind */
#define EMFILE_PAUSE_MS 100    /* how long the listener rests after accept fails */
#define DRAIN_GRACE_MS 300     /* idle connections live this long into a drain */
#define EARLY_MISSES 2         /* first reads finding nothing before we stop trying */
#define EARLY_PROBE 16         /* ... and then one new connection in this many tries */

/* A lingering close (see start_linger) reads and drops what the client still
 * sends, so that it can read our last words. It ends when the client closes,
 * or it has been silent for LINGER_IDLE_MS, or LINGER_MAX_MS have passed
 * (LINGER_IDLE_MS after a timeout), or it sent LINGER_MAX_BYTES more; during
 * a drain, after LINGER_DRAIN_MS. */
#define LINGER_IDLE_MS 2000
#define LINGER_MAX_MS 30000
#define LINGER_MAX_BYTES (4 * 1024 * 1024)
#define LINGER_DRAIN_MS 1000

enum { C_FREE, C_READING, C_IDLE, C_LINGER };

typedef struct conn {
    int state;
    int watched;       /* registered with the loop yet */
    int events;        /* what the loop watches for: LOOP_READ / LOOP_WRITE */
    int want_close;    /* close once everything is written */
    int want_linger;   /* ... by a lingering close (after a refusal) */
    uint64_t deadline; /* loop_now_ms() after which the sweep closes it */
    int send_clock;    /* the deadline is about the client reading, not sending */
    uint64_t sent_at;  /* ... counted from then: the last write that went out */
    char *pend;        /* output the socket did not take yet (rare) */
    size_t pend_off, pend_len, pend_cap;

    /* While lingering (C_LINGER): */
    uint64_t linger_end; /* it ends then at the latest */
    size_t linger_bytes; /* what the client sent since, dropped */

    http_parser_t parser;
} conn_t;

struct httpd {
    loop_t *loop;
    httpd_config_t cfg;
    int lfd;              /* the listener, -1 once we stop accepting */
    loop_timer_t *resume; /* EMFILE pause */
    loop_timer_t *sweep;
    loop_timer_t *done_timer;
    loop_timer_t *grace; /* the drain's grace period */
    void (*done)(httpd_t *h, void *arg);
    void *done_arg;
    int draining;
    int emfile_logged;
    int early_misses;       /* first reads in a row that found no request yet */
    unsigned early_skipped; /* new connections not read at once since then */
    conn_t *conns;          /* indexed by fd */
    int conns_cap;
    int open;
    uint64_t now;
    uint64_t requests;
    http_date_t date;
    char body[64]; /* {"msg":"Hello World","pid":N} */
    size_t body_len;
    size_t out_len;
    char in[READ_BUF];
    char out[OUT_BUF];
};

static void on_conn(loop_t *loop, int fd, int events, void *arg);

/* ---- connections ---------------------------------------------------------- */

static void fire_done(loop_t *loop, loop_timer_t *t, void *arg)
{
    httpd_t *h = arg;
    (void)loop;
    (void)t;
    h->done_timer = NULL;
    h->done(h, h->done_arg);
}

/* When draining and the last connection goes, call done() from the loop
 * (not from deep inside a connection's callback, which done() may free). */
static void check_drained(httpd_t *h)
{
    if (h->draining && h->open == 0 && h->done && h->done_timer == NULL)
        h->done_timer = loop_timer_add(h->loop, 0, 0, fire_done, h);
}

static void conn_close(httpd_t *h, int fd)
{
    conn_t *c = &h->conns[fd];
    /* The worker holds the only reference to an accepted socket (it never
     * forks, and the fd is close-on-exec), so the close takes it out of
     * epoll's list: loop_close() skips the epoll_ctl DEL of loop_unwatch(). */
    loop_close(h->loop, fd);
    free(c->pend);
    c->pend = NULL;
    c->state = C_FREE;
    h->open--;
    check_drained(h);
}

/* Ask the loop to watch fd for `events`. A connection is watched only from
 * the first time it has to wait (see on_listener). Returns -1 if the loop
 * refuses it: the select backend cannot watch fd >= FD_SETSIZE (ERANGE),
 * and such a connection must be closed rather than overflow an fd_set. */
static int set_events(httpd_t *h, int fd, conn_t *c, int events)
{
    if (c->watched && c->events == events)
        return 0;
    if (c->watched ? loop_modify(h->loop, fd, events)
                   : loop_watch(h->loop, fd, events, on_conn, h))
        return -1;
    c->watched = 1;
    c->events = events;
    return 0;
}

static int conn_add(httpd_t *h, int fd)
{
    if (fd >= h->conns_cap) {
        int cap = h->conns_cap ? h->conns_cap : 64;
        while (cap <= fd)
            cap *= 2;
        conn_t *c = realloc(h->conns, (size_t)cap * sizeof *c);
        if (c == NULL)
            return -1;
        memset(c + h->conns_cap, 0, (size_t)(cap - h->conns_cap) * sizeof *c);
        h->conns = c;
        h->conns_cap = cap;
    }
    conn_t *c = &h->conns[fd];
    memset(c, 0, offsetof(conn_t, parser));
    http_parser_init(&c->parser);
    c->state = C_READING;
    c->deadline = h->now + h->cfg.header_timeout_ms;
    h->open++;
    return 0;
}

/* ---- writing -------------------------------------------------------------- */

static int pend_append(conn_t *c, const char *data, size_t len)
{
    if (c->pend_off > 0 && c->pend_off == c->pend_len)
        c->pend_off = c->pend_len = 0;
    if (c->pend_len + len > c->pend_cap) {
        size_t cap = c->pend_cap ? c->pend_cap : 4096;
        while (cap < c->pend_len + len)
            cap *= 2;
        char *p = realloc(c->pend, cap);
        if (p == NULL)
            return -1;
        c->pend = p;
        c->pend_cap = cap;
    }
    memcpy(c->pend + c->pend_len, data, len);
    c->pend_len += len;
    return 0;
}

/* Write one buffer; returns bytes written (0 if the socket is full) or -1. */
static ssize_t write_some(int fd, const char *data, size_t len)
{
    for (;;) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -1; /* EPIPE, ECONNRESET: the client is gone */
    }
}

/* Lingering close: say we are done (FIN, after everything already handed
 * to the kernel), then read and drop what the client still sends until it
 * closes too, within the LINGER_ bounds. Closing with unread bytes would
 * make the kernel send a reset instead, and the client's kernel would throw
 * away the responses it had received but the client not yet read: the
 * refusal, or megabytes of pipelined answers. Output not yet handed to the
 * kernel is dropped. It lasts max_ms at most. Returns 0, or -1 if the
 * connection was closed. */
static int start_linger(httpd_t *h, int fd, conn_t *c, uint64_t max_ms)
{
    free(c->pend);
    c->pend = NULL;
    c->pend_off = c->pend_len = c->pend_cap = 0;
    c->send_clock = 0;
    c->state = C_LINGER;
    c->deadline = h->now + LINGER_IDLE_MS;
    if (h->draining && max_ms > LINGER_DRAIN_MS)
        max_ms = LINGER_DRAIN_MS;
    c->linger_end = h->now + max_ms;
    if (c->deadline > c->linger_end)
        c->deadline = c->linger_end;
    c->linger_bytes = 0;
    if (shutdown(fd, SHUT_WR) == -1 || set_events(h, fd, c, LOOP_READ) == -1) {
        conn_close(h, fd); /* ENOTCONN: the client is gone already */
        return -1;
    }
    return 0;
}

/* Write what this connection has to say, as far as the socket takes it:
 * its backlog first, then the responses just formatted into h->out; keep
 * the rest in the backlog. Returns 1 if some output went out, 0 if none, -1
 * on an error (the caller closes the connection). */
static int write_out(httpd_t *h, int fd, conn_t *c)
{
    ssize_t n = 0;
    if (c->pend_len > c->pend_off) {
        /* Behind already: what is new goes after the backlog. */
        if (h->out_len > 0 && pend_append(c, h->out, h->out_len) == -1) {
            h->out_len = 0;
            return -1;
        }
        h->out_len = 0;
        n = write_some(fd, c->pend + c->pend_off, c->pend_len - c->pend_off);
        if (n > 0)
            c->pend_off += (size_t)n;
    } else if (h->out_len > 0) {
        /* The common case: one write(2) for every response of this read. */
        n = write_some(fd, h->out, h->out_len);
        if (n != -1 && (size_t)n < h->out_len &&
            pend_append(c, h->out + n, h->out_len - (size_t)n) == -1)
            n = -1;
    }
    h->out_len = 0;
    return n == -1 ? -1 : n > 0;
}

/* Which clock runs: while we wait for the client to read (`behind` bytes
 * wait for it), the send deadline; once we read it again, the header or
 * idle deadline. `wrote`: some output went out just now. */
static void set_deadline(httpd_t *h, conn_t *c, size_t behind, int reading, int wrote)
{
    if (behind > 0 && (!reading || c->state == C_IDLE)) {
        /* We wait for the client to read, not to send: either we stopped
         * reading it, or it has no request under way. Its header and idle
         * deadlines must not run now (the requests we do not read are not
         * late, and a connection with responses to deliver is not idle).
         * What is timed instead is its reading: some of our output must
         * go out every send_timeout_ms. */
        if (!c->send_clock || wrote)
            c->sent_at = h->now;
        c->send_clock = 1;
        c->deadline = c->sent_at + h->cfg.send_timeout_ms;
    } else if (c->send_clock) {
        /* Reading again: the request (or the wait for one) starts its
         * clock now. An idle connection in a drain gets the drain's grace
         * (see httpd_drain), not a full idle timeout. */
        c->send_clock = 0;
        uint64_t wait = c->state != C_IDLE ? h->cfg.header_timeout_ms
                        : h->draining      ? DRAIN_GRACE_MS
                                           : h->cfg.idle_timeout_ms;
        c->deadline = h->now + wait;
    }
}

/* Write what this connection has to say, then decide what to watch for, or
 * close. Returns 0, or -1 if the connection was closed. */
static int flush(httpd_t *h, int fd, conn_t *c)
{
    int wrote = write_out(h, fd, c);
    if (wrote == -1) {
        conn_close(h, fd);
        return -1;
    }
    /* While the client is far behind, stop reading its requests, so it
     * cannot make us buffer without end. */
    size_t behind = c->pend_len - c->pend_off;
    int reading = behind < PEND_PAUSE && !c->want_close && c->state != C_LINGER;
    set_deadline(h, c, behind, reading, wrote);
    if (behind > 0) {
        /* Wait until the client reads. */
        int ev = LOOP_WRITE | (reading ? LOOP_READ : 0);
        if (set_events(h, fd, c, ev) == -1) {
            conn_close(h, fd);
            return -1;
        }
        return 0;
    }
    if (c->pend != NULL) { /* caught up: give the memory back */
        free(c->pend);
        c->pend = NULL;
        c->pend_off = c->pend_len = c->pend_cap = 0;
    }
    if (c->want_close && c->state != C_LINGER) {
        if (!c->want_linger) {
            conn_close(h, fd);
            return -1;
        }
        return start_linger(h, fd, c, LINGER_MAX_MS);
    }
    if (set_events(h, fd, c, LOOP_READ) == -1) {
        conn_close(h, fd);
        return -1;
    }
    return 0;
}

/* ---- answering ------------------------------------------------------------ */

/* The parser keeps only the target's path ("/" for "/?x=1" and for
 * "http://host/?x", RFC 9112 3.2.2), so routing is a comparison. */
static int is_root(const http_request_t *req)
{
    return !req->path_truncated && strcmp(req->path, "/") == 0;
}

/* Make room in h->out for one more response. Returns -1 if the connection
 * was closed while writing. */
static int reserve(httpd_t *h, int fd, conn_t *c)
{
    if (OUT_BUF - h->out_len >= RESPONSE_MAX)
        return 0;
    return flush(h, fd, c);
}

static const char *date_now(httpd_t *h)
{
    return http_date_get(&h->date, time(NULL));
}

static int respond(httpd_t *h, int fd, conn_t *c, const http_request_t *req)
{
    static const char not_found[] = "Not Found\n";
    if (reserve(h, fd, c) == -1)
        return -1;
    http_response_t r = {.keep_alive = req->keep_alive && !h->draining,
                         .client_minor = req->version_minor,
                         .head_only = req->method == HTTP_HEAD,
                         .date = date_now(h)};
    if (is_root(req)) {
        r.status = 200;
        r.content_type = "application/json";
        r.body = h->body;
        r.body_len = h->body_len;
    } else {
        r.status = 404;
        r.content_type = "text/plain";
        r.body = not_found;
        r.body_len = sizeof not_found - 1;
    }
    h->out_len += http_response_write(h->out + h->out_len, OUT_BUF - h->out_len, &r);
    h->requests++;
    if (!r.keep_alive)
        c->want_close = 1;
    return 0;
}

/* The client asked to be told before it sends the body (Expect:
 * 100-continue) and the head is acceptable: say so, or it waits (curl for
 * a second) before sending the body anyway. */
static int say_continue(httpd_t *h, int fd, conn_t *c)
{
    if (reserve(h, fd, c) == -1)
        return -1;
    memcpy(h->out + h->out_len, HTTP_CONTINUE, sizeof HTTP_CONTINUE - 1);
    h->out_len += sizeof HTTP_CONTINUE - 1;
    return 0;
}

static int refuse(httpd_t *h, int fd, conn_t *c, int status)
{
    char body[64];
    if (reserve(h, fd, c) == -1)
        return -1;
    int n = snprintf(body, sizeof body, "%s\n", http_reason(status));
    http_response_t r = {.status = status,
                         .content_type = "text/plain",
                         .body = body,
                         .body_len = (size_t)n,
                         .keep_alive = 0,
                         .client_minor = 1,
                         .date = date_now(h),
                         .allow = status == 405 ? "GET, HEAD" : NULL};
    h->out_len += http_response_write(h->out + h->out_len, OUT_BUF - h->out_len, &r);
    h->requests++;
    c->want_close = 1;
    c->want_linger = 1;
    return 0;
}

/* Parse n bytes just read and answer every request they complete. Returns
 * -1 if the connection was closed. */
static int process(httpd_t *h, int fd, conn_t *c, const char *buf, size_t n)
{
    size_t off = 0;
    while (off < n && !c->want_close) {
        if (c->state == C_IDLE) {
            /* The first byte of the next request: its headers are now on
             * the clock. */
            c->state = C_READING;
            c->deadline = h->now + h->cfg.header_timeout_ms;
        }
        size_t used;
        int r = http_parse(&c->parser, buf + off, n - off, &used);
        off += used;
        if (r == HTTP_PARSE_MORE)
            break;
        if (r == HTTP_PARSE_ERROR)
            return refuse(h, fd, c, c->parser.req.status);
        if (r == HTTP_PARSE_CONTINUE) {
            if (say_continue(h, fd, c) == -1)
                return -1;
            continue;
        }
        if (respond(h, fd, c, &c->parser.req) == -1)
            return -1;
        http_parser_reset(&c->parser);
        c->state = C_IDLE;
        c->deadline = h->now + h->cfg.idle_timeout_ms;
    }
    /* Bytes after a "Connection: close" request: close slowly, as after a
     * refusal, so they do not turn our close into a reset. */
    if (c->want_close && off < n)
        c->want_linger = 1;
    return 0;
}

/* Returns 0 if the first read found nothing (EAGAIN), else 1. */
static int read_and_answer(httpd_t *h, int fd, conn_t *c)
{
    /* A few reads per wake at most: one busy client must not starve the
     * others. Level-triggered readiness brings us back for the rest. */
    for (int i = 0; i < 4; i++) {
        ssize_t n = read(fd, h->in, sizeof h->in);
        if (n == -1) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (i == 0) {
                    flush(h, fd, c);
                    return 0;
                }
                break;
            }
            conn_close(h, fd); /* ECONNRESET and friends */
            return 1;
        }
        if (n == 0) {
            if (c->state == C_LINGER) {
                conn_close(h, fd); /* the client closed too: done */
                return 1;
            }
            /* EOF. What was asked before it is still answered (a client may
             * shut down its side and wait for the reply, as `nc -N` does);
             * flush() closes once that is written. */
            c->want_close = 1;
            c->want_linger = 0;
            break;
        }
        if (c->state == C_LINGER) {
            /* Dropped: we already said goodbye. The client is still
             * sending (a refused upload, say): give it more time, within
             * the bounds. */
            c->linger_bytes += (size_t)n;
            if (c->linger_bytes > LINGER_MAX_BYTES) {
                conn_close(h, fd);
                return 1;
            }
            c->deadline = h->now + LINGER_IDLE_MS;
            if (c->deadline > c->linger_end)
                c->deadline = c->linger_end;
            continue;
        }
        if (process(h, fd, c, h->in, (size_t)n) == -1)
            return 1;
        if (c->want_close || (size_t)n < sizeof h->in)
            break;
    }
    flush(h, fd, c);
    return 1;
}

/* h->out is shared by every connection, but what it holds belongs to one:
 * the connection being read, and only until this call returns. By then the
 * responses were written (flush), or the connection was closed on the way
 * (a read that fails after requests were answered: the client reset), and
 * they are thrown away here. Kept, they would go out in front of the next
 * connection's own responses, to the wrong client. */
static int on_readable(httpd_t *h, int fd, conn_t *c)
{
    int found = read_and_answer(h, fd, c);
    h->out_len = 0;
    return found;
}

static void on_conn(loop_t *loop, int fd, int events, void *arg)
{
    httpd_t *h = arg;
    conn_t *c = &h->conns[fd];
    (void)loop;
    h->now = loop_now_ms();
    if ((events & LOOP_WRITE) && !(events & LOOP_READ)) {
        flush(h, fd, c);
        return;
    }
    on_readable(h, fd, c);
}

/* ---- accepting ------------------------------------------------------------ */

static void on_listener(loop_t *loop, int fd, int events, void *arg);

static void resume_accepting(loop_t *loop, loop_timer_t *t, void *arg)
{
    httpd_t *h = arg;
    (void)t;
    h->resume = NULL;
    if (h->lfd != -1)
        loop_modify(loop, h->lfd, LOOP_READ);
}

static int accept_one(int lfd)
{
    return net_accept(lfd, O_CLOEXEC | O_NONBLOCK);
}

/* A new connection. Read at once, before asking the loop to watch it: if
 * the request is there already, a connection that is answered and closed
 * in this call (Connection: close) never costs an epoll_ctl or a wake-up.
 * If nothing is there yet, read() says EAGAIN and flush() starts watching
 * it: a read for nothing. Whether the request beats the accept is a race
 * with the client (it wins when the server is the slower side), so after
 * EARLY_MISSES misses in a row new connections go straight to the loop,
 * and one in EARLY_PROBE tries again to learn whether the race turned. */
static void serve_new(httpd_t *h, int fd)
{
    conn_t *c = &h->conns[fd];
    if (h->early_misses >= EARLY_MISSES && ++h->early_skipped % EARLY_PROBE != 0) {
        flush(h, fd, c);
        return;
    }
    if (on_readable(h, fd, c))
        h->early_misses = 0;
    else if (h->early_misses < EARLY_MISSES)
        h->early_misses++;
}

static void on_listener(loop_t *loop, int lfd, int events, void *arg)
{
    httpd_t *h = arg;
    (void)events;
    h->now = loop_now_ms();
    for (int i = 0; i < h->cfg.accepts_per_wake; i++) {
        int fd = accept_one(lfd);
        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue; /* that one client gave up; try the next */
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return; /* another worker took it, or the backlog is empty */
            /* Out of fds or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM: the
             * connection waits in the backlog), or an error that should not
             * happen (EINVAL: the socket stopped listening, and then it
             * hangs up, readable for ever). Either way the listener stays
             * readable and retrying now would fail again, as fast as the
             * loop can spin. Rest the listener instead; connections wait
             * in the backlog (or go to another worker). Chapter 05's
             * worker rests the same way. */
            if (!h->emfile_logged) /* once per episode, not 10 times a second */
                printf("[worker %d] accept: %s; pausing accepts for %d ms at a time\n",
                       (int)getpid(), strerror(errno), EMFILE_PAUSE_MS);
            h->emfile_logged = 1;
            loop_modify(loop, lfd, 0);
            if (h->resume == NULL)
                h->resume = loop_timer_add(loop, EMFILE_PAUSE_MS, 0, resume_accepting, h);
            return;
        }
        h->emfile_logged = 0;
        if (conn_add(h, fd) == -1) {
            close(fd);
            continue;
        }
        serve_new(h, fd);
    }
}

/* ---- timeouts ------------------------------------------------------------- */

/* 1 if the client sent bytes we have not read. */
static int unread_input(int fd)
{
    char byte;
    return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* A connection is past its deadline: slowloris, idle keep-alive, a client
 * that does not read its responses, or a lingering close that is over.
 * Close it; but if it sent bytes we never read (pipelined requests behind
 * the ones we answered), close it by lingering, or the close would be a
 * reset that destroys the responses it was sent. A short linger: unlike a
 * refused client, this one has had its time. */
static void expire(httpd_t *h, int fd, conn_t *c)
{
    if (c->state == C_LINGER || !unread_input(fd))
        conn_close(h, fd);
    else
        start_linger(h, fd, c, LINGER_IDLE_MS);
}

static void on_sweep(loop_t *loop, loop_timer_t *t, void *arg)
{
    httpd_t *h = arg;
    (void)loop;
    (void)t;
    h->now = loop_now_ms();
    for (int fd = 0; fd < h->conns_cap; fd++)
        if (h->conns[fd].state != C_FREE && h->now >= h->conns[fd].deadline)
            expire(h, fd, &h->conns[fd]);
}

/* ---- the public side ------------------------------------------------------ */

httpd_t *httpd_new(loop_t *loop, int listen_fd, const httpd_config_t *cfg)
{
    /* Anything but a listening socket (a pipe, a connected or unbound
     * socket) could never accept: refuse it here, where the caller can say
     * what is wrong, rather than fail in every accept later. */
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(listen_fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == -1 ||
        !listening) {
        errno = ENOTSOCK;
        return NULL;
    }
    if (net_set_nonblock(listen_fd, 1) == -1)
        return NULL;
    httpd_t *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->loop = loop;
    h->cfg = *cfg;
    if (h->cfg.header_timeout_ms == 0)
        h->cfg.header_timeout_ms = 10000;
    if (h->cfg.idle_timeout_ms == 0)
        h->cfg.idle_timeout_ms = 5000;
    if (h->cfg.send_timeout_ms == 0)
        h->cfg.send_timeout_ms = 60000;
    if (h->cfg.accepts_per_wake <= 0)
        h->cfg.accepts_per_wake = 64;
    h->lfd = listen_fd;
    h->now = loop_now_ms();
    h->body_len = (size_t)snprintf(h->body, sizeof h->body,
                                   "{\"msg\":\"Hello World\",\"pid\":%d}", (int)getpid());
    /* The sweep runs often enough that a deadline is missed by at most a
     * quarter of the shorter timeout (and at most a second). */
    uint64_t shortest = h->cfg.header_timeout_ms < h->cfg.idle_timeout_ms
                            ? h->cfg.header_timeout_ms
                            : h->cfg.idle_timeout_ms;
    uint64_t period = shortest / 4;
    if (period > 1000)
        period = 1000;
    if (period < 10)
        period = 10;
    h->sweep = loop_timer_add(loop, period, period, on_sweep, h);
    if (h->sweep == NULL ||
        loop_watch(loop, listen_fd, LOOP_READ, on_listener, h) == -1) {
        int e = errno;
        if (h->sweep)
            loop_timer_cancel(loop, h->sweep);
        free(h);
        errno = e;
        return NULL;
    }
    return h;
}

static void stop_accepting(httpd_t *h)
{
    if (h->lfd == -1)
        return;
    loop_unwatch(h->loop, h->lfd);
    close(h->lfd); /* our reference only: the other workers keep serving */
    h->lfd = -1;
    if (h->resume) {
        loop_timer_cancel(h->loop, h->resume);
        h->resume = NULL;
    }
}

static void on_grace_over(loop_t *loop, loop_timer_t *t, void *arg)
{
    httpd_t *h = arg;
    h->grace = NULL; /* fired: the handle is gone */
    on_sweep(loop, t, h);
}

void httpd_drain(httpd_t *h, void (*done)(httpd_t *h, void *arg), void *arg)
{
    if (h->draining)
        return;
    h->draining = 1;
    h->done = done;
    h->done_arg = arg;
    stop_accepting(h);
    h->now = loop_now_ms();
    for (int fd = 0; fd < h->conns_cap; fd++) {
        conn_t *c = &h->conns[fd];
        if (c->state == C_LINGER && c->linger_end > h->now + LINGER_DRAIN_MS) {
            /* Lingering stays bounded by the master's stop timeout. */
            c->linger_end = h->now + LINGER_DRAIN_MS;
            if (c->deadline > c->linger_end)
                c->deadline = c->linger_end;
        }
        if (c->state == C_FREE || c->state == C_LINGER)
            continue;
        if (c->send_clock)
            continue; /* still delivering: idle only once caught up (flush) */
        if (c->state == C_IDLE ||
            (c->state == C_READING && !http_parser_started(&c->parser))) {
            /* Idle as far as we know. But a busy keep-alive client sends
             * its next request the moment it has read a response: closing
             * now would lose a request that is already on its way (and
             * turn the close into a reset). So read what is there, and
             * give idle connections a short grace: a request in it is
             * answered with "Connection: close" (the clean way to end a
             * keep-alive connection), and the sweep closes the rest. */
            on_readable(h, fd, c);
            if (c->state != C_FREE && c->state != C_LINGER &&
                c->deadline > h->now + DRAIN_GRACE_MS)
                c->deadline = h->now + DRAIN_GRACE_MS;
        }
        /* A request in flight is answered with "Connection: close" (see
         * respond()), and then the connection closes. */
    }
    h->grace = loop_timer_add(h->loop, DRAIN_GRACE_MS, 0, on_grace_over, h);
    check_drained(h);
}

uint64_t httpd_requests(const httpd_t *h)
{
    return h->requests;
}

int httpd_connections(const httpd_t *h)
{
    return h->open;
}

void httpd_free(httpd_t *h)
{
    if (h == NULL)
        return;
    for (int fd = 0; fd < h->conns_cap; fd++)
        if (h->conns[fd].state != C_FREE)
            conn_close(h, fd);
    stop_accepting(h);
    if (h->sweep)
        loop_timer_cancel(h->loop, h->sweep);
    if (h->done_timer)
        loop_timer_cancel(h->loop, h->done_timer);
    if (h->grace)
        loop_timer_cancel(h->loop, h->grace);
    free(h->conns);
    free(h);
}
