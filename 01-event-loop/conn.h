/*
 * conn.h: one client connection served by the loop (the default mode).
 *
 * A connection is a small state machine driven by readiness callbacks:
 *
 *   readable  -> read once, cut the bytes into lines (linebuf), answer each
 *                line (proto) into an output buffer, then try to write it;
 *   writable  -> write what is still queued (the socket took only part of
 *                it last time: a short write).
 *
 * Nothing blocks except a `busy` request, on purpose. The socket is
 * non-blocking: when the kernel will not take more output the connection
 * keeps the rest queued and asks the loop for LOOP_WRITE. Once 1 MiB waits
 * it also stops reading (and logs "pausing its input") until the queue
 * drains below that, so a client that never reads cannot make the server
 * buffer without end.
 *
 * Memory per idle connection is the struct conn alone: the line buffer and
 * the output queue are freed whenever they are empty.
 *
 * Ends of a connection, each with a log line where something went wrong:
 *   EOF from the client          closed quietly;
 *   reset / write failure        "client vanished" (ECONNRESET, EPIPE);
 *   a line over LINEBUF_MAX      error line to the client, then closed.
 */
#ifndef CONN_H
#define CONN_H

#include "server.h"

/* Start serving fd (already non-blocking and close-on-exec). Returns 0, or
 * -1 with errno set and fd left open for the caller to refuse: ERANGE when
 * the select backend cannot watch an fd this high, ENOMEM. */
int conn_open(server_t *s, int fd);

/* Close every connection (at shutdown). */
void conn_close_all(server_t *s);

#endif
