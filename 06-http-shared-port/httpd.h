/*
 * httpd.h: serve HTTP/1.1 on a listening socket from an event loop.
 *
 * This is what one worker of chapter 06 does all day, taken out of the
 * worker program so that the program reads in one sitting. It is the C
 * counterpart of the post's work.js: Node's http module parses, here the
 * parser comes from http.h; Node's libuv loop waits, here chapter 01's loop
 * does (the epoll backend on Linux).
 *
 *   httpd_config_t cfg = {.header_timeout_ms = 10000, .idle_timeout_ms = 5000};
 *   httpd_t *h = httpd_new(loop, listen_fd, &cfg);   // starts accepting
 *   loop_run(loop);
 *   ...
 *   httpd_drain(h, on_drained, arg);                  // graceful stop
 *
 * What it answers: GET / (and HEAD /) gets {"msg":"Hello World","pid":N} as
 * application/json, any other path 404 (the query does not count), and every
 * refusal of http.h its status, after which the connection is closed. A
 * request body (Content-Length or chunked) is read and discarded; when the
 * client asks "Expect: 100-continue", "100 Continue" goes out as soon as the
 * head is accepted.
 *
 * How it behaves under load and abuse:
 *   - accept: each wake of the listener accepts until EAGAIN, but at most
 *     accepts_per_wake connections, so a flood of new connections cannot
 *     starve the ones already open. A new connection is read at once, and
 *     watched by the loop only if its request is not there yet: a
 *     "Connection: close" request is then accept, read, send, close;
 *   - EMFILE/ENFILE (out of fds), and any other accept error: the listener
 *     is paused for 100 ms instead of being retried at once, which would
 *     spin at 100% CPU (level-triggered readiness stays on while the
 *     connection waits in the backlog); the other workers, or this one
 *     100 ms later, take the connection. The error is printed once;
 *   - no allocation per request: a connection is a slot in an array indexed
 *     by its fd, reused; the parser needs no input buffer (http.h); reads
 *     and responses go through two buffers shared by every connection,
 *     which hold one connection's bytes for one callback only: responses
 *     that could not be written because the client vanished are dropped
 *     with it, never sent to the next client. Only a client that does not
 *     read its responses gets a buffer of its own, for what the socket
 *     would not take;
 *   - timeouts, checked by one sweep timer per worker: a request's headers
 *     (and body) must arrive within header_timeout_ms of its first byte, or
 *     of the accept (slowloris); a keep-alive connection idle for
 *     idle_timeout_ms is closed. While the server waits for the client to
 *     read its responses (it stopped reading the client, which is 64 KiB
 *     behind, or the client has no request under way) those two clocks
 *     stop, and the client must instead take some output every
 *     send_timeout_ms. A connection that times out with requests still
 *     unread is closed by lingering (below, for 2 s at most), not by a
 *     reset that would destroy the responses it was already sent;
 *   - a refused request is answered, then the write side is shut down and
 *     what the client still sends is read and dropped before the close
 *     ("lingering close"), so that the client reads the status instead of
 *     a reset: until the client closes too, is silent for 2 s, or has sent
 *     4 MiB more, and for 30 s at most (1 s during a drain). A client
 *     still uploading a refused body can finish and read the answer.
 */
#ifndef HTTPD_H
#define HTTPD_H

#include <stdint.h>

#include "loop.h"

typedef struct httpd httpd_t;

typedef struct httpd_config {
    uint64_t header_timeout_ms; /* 0 means 10000 */
    uint64_t idle_timeout_ms;   /* 0 means 5000 */
    uint64_t send_timeout_ms;   /* 0 means 60000 */
    int accepts_per_wake;       /* 0 means 64 */
} httpd_config_t;

/* Start serving on listen_fd (made non-blocking; the httpd owns it from now
 * on and closes it when it stops accepting). Returns NULL with errno set on
 * failure (listen_fd is then still the caller's): ENOTSOCK if listen_fd is
 * not a listening socket. */
httpd_t *httpd_new(loop_t *loop, int listen_fd, const httpd_config_t *cfg);

/* Graceful stop: stop accepting (close the listener), let the requests in
 * flight finish (their responses say "Connection: close"), close idle
 * keep-alive connections after a grace of 300 ms (a request that comes in
 * the grace is answered with "Connection: close" rather than lost to the
 * close), let a client still reading its responses catch up first, and
 * call done(h, arg) from the loop once no connection is left. Calling it
 * again does nothing. */
void httpd_drain(httpd_t *h, void (*done)(httpd_t *h, void *arg), void *arg);

/* Responses written so far (every status counts), and connections open. */
uint64_t httpd_requests(const httpd_t *h);
int httpd_connections(const httpd_t *h);

/* Close every connection and the listener and free everything. Call it
 * from outside the loop's callbacks or from done(). */
void httpd_free(httpd_t *h);

#endif
