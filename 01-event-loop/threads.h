/*
 * threads.h: the --threads mode, one POSIX thread per connection.
 *
 * This is the design the post contrasts with the event loop: each client
 * gets a thread that blocks in read(2) until its client speaks, answers
 * with the same protocol (proto.h), and exits when the client leaves. The
 * code is shorter than the loop's, because the kernel keeps each client's
 * place in the conversation on that thread's stack.
 *
 * What it costs, and what `stats` lets you measure:
 *   - a stack per thread: 8 MiB of *virtual* address space by default
 *     (RLIMIT_STACK), of which only the pages touched become resident,
 *     about 17 KiB per idle thread in `make demo` (VmSize vs VmRSS);
 *   - a kernel task per thread (Threads: in /proc/self/status);
 *   - a context switch whenever a thread blocks or wakes up.
 *
 * The worker threads block every signal, so SIGINT and SIGTERM reach the
 * main thread's loop through its self-pipe.
 */
#ifndef THREADS_H
#define THREADS_H

#include "server.h"

/* Serve fd on a new detached thread. fd must be in blocking mode. Returns 0,
 * or -1 with errno set (EAGAIN: the system would not create another thread)
 * and fd left open for the caller to refuse. */
int threads_start(server_t *s, int fd);

/* Connections being served by threads right now. */
int threads_count(void);

/* At shutdown: shut down every connection so that the threads' reads return,
 * and wait up to timeout_ms for them to finish. Returns how many were still
 * running when the wait ended. */
int threads_stop(int timeout_ms);

#endif
