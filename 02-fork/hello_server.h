/*
 * hello_server.h: the tiny HTTP server each worker of `fork` runs.
 *
 * It is the C twin of the post's work.js: every request gets
 * `Hello World.` as text/plain. Unlike work.js it binds port 0, so the
 * kernel picks a free port (never a privileged one, never one already in
 * use), and it prints the port it really got, read back with getsockname(2):
 *
 *   [worker 4213] listening on 127.0.0.1:40123 (pid 4213)
 *
 * It runs on an event loop of its own (chapter 01) and stops when:
 *   - SIGTERM arrives (the master asks it to stop, or, on Linux, the
 *     kernel sends it because the master died: PR_SET_PDEATHSIG);
 *   - the lifeline pipe from the master reports EOF (the master died;
 *     the portable way to notice).
 * SIGINT is ignored: a Ctrl-C in the terminal reaches the whole process
 * group, and it is the master's job to decide how the workers stop.
 */
#ifndef HELLO_SERVER_H
#define HELLO_SERVER_H

#include "loop.h"

/* Serve on host:0 until told to stop (see above). lifeline_fd is the read
 * end of the master's lifeline pipe, or -1 for none. Returns the exit status
 * for the worker: 0 after a clean stop, 1 if setting up failed (a message
 * naming the call is printed). Closes lifeline_fd. */
int hello_serve(loop_t *loop, const char *host, int lifeline_fd);

#endif
