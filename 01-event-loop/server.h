/*
 * server.h: the accepting side of the line server, shared by both modes.
 *
 * One loop on the main thread owns the listening socket, a 1-second tick
 * timer and the SIGINT/SIGTERM handling. What happens to an accepted
 * connection depends on the mode:
 *
 *   loop mode (default)  conn.c watches it on the same loop: one thread
 *                        serves every client, the post's event-driven design;
 *   --threads            threads.c hands it to a new POSIX thread that
 *                        serves it with blocking reads and writes: the
 *                        post's "one thread per request" alternative.
 *
 * Faults the accepting side handles, so that one bad moment never stops the
 * server for everyone else:
 *   - out of fds (EMFILE/ENFILE): accept(2) fails but the listening socket
 *     stays readable, so a level-triggered loop would call accept again at
 *     once, forever, at 100% CPU. Instead the server stops watching the
 *     listener and resumes when a connection closes (or after a short
 *     timer): the waiting clients stay queued in the kernel's backlog.
 *   - a connection the mode cannot take (select cannot watch an fd >=
 *     FD_SETSIZE; no thread could be created): the client gets an error
 *     line and is closed, the reason is logged, everyone else carries on.
 */
#ifndef SERVER_H
#define SERVER_H

#include "loop.h"
#include "loop_once.h"

typedef struct server_opts {
    loop_backend_t backend; /* the loop's backend */
    int threads;            /* 1: one thread per connection */
    int tick_ms;            /* the tick line's period; 0: no tick */
} server_opts;

struct conn;

typedef struct server {
    loop_t *loop;
    const server_opts *opts;
    const char *role; /* "loop" or "threads": the log prefix */
    int listen_fd;
    int paused;           /* not accepting until fds free up */
    loop_once_t resume;   /* retries accept while paused */
    long pause_logged_at; /* s->accepted when the last pause was logged */
    int conns;            /* loop mode: open connections */
    struct conn *list;    /* loop mode: every open connection */
    long accepted;        /* connections taken since start */
    long refused;         /* closed at once with an error line */
    long refused_logged;  /* refusals already reported in the log */
    uint64_t refuse_log_ms;
    uint64_t last_tick_ms;
    long ticks;
} server_t;

/* Serve on listen_fd (bound, listening) until SIGINT or SIGTERM. Prints the
 * `listening on ...` line first. Returns 0 after a graceful stop, 1 if the
 * loop could not be set up or failed. */
int server_run(int listen_fd, const char *host, int port, const server_opts *opts);

/* Open client connections: the loop's own count in loop mode, the thread
 * count in --threads mode. */
int server_conn_count(const server_t *s);

/* Called by conn.c when a connection closes: fds are free again, so a
 * server that paused accepting resumes now. */
void server_conn_closed(server_t *s);

/* Send `why` as an error line to a connection the server cannot serve,
 * close it and log the reason (rate-limited: a wall of refusals makes one
 * line per second, with a running count). */
void server_refuse(server_t *s, int fd, const char *why);

/* printf to stdout, prefixed with "[role pid] ". Safe from any thread. */
void server_log(const server_t *s, const char *fmt, ...);

#endif
