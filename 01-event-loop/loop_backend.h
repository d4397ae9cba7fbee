/*
 * loop_backend.h: what the loop's core (loop.c) asks of a backend.
 *
 * A backend is one way of asking the kernel "which of these fds are
 * ready?". There are three, each in a file of its own:
 *
 *   loop_select.c  select(2), the subject of chapter 01
 *   loop_poll.c    poll(2), no FD_SETSIZE wall
 *   loop_epoll.c   epoll(7), Linux only: the C10K step
 *
 * The core tells a backend every change of interest as it happens, then
 * asks it to wait; the backend hands back each ready fd through
 * loop_ready(). How the interest reaches the kernel is the backend's
 * business: select and poll keep their own copy and pass all of it on
 * every wait, epoll edits a list the kernel keeps. The core never sees the
 * difference, which is why the three behave the same.
 *
 * Internal to loop.c and the backends; programs include loop.h.
 */
#ifndef LOOP_BACKEND_H
#define LOOP_BACKEND_H

#include "loop.h"

struct loop_backend_ops {
    const char *name; /* as loop_backend_parse() spells it */
    int fd_limit;     /* the core refuses to watch fd >= fd_limit (ERANGE) */

    /* The backend's state, or NULL with errno set. `counts` is where it
     * counts the calls that edit a kernel-side interest list (loop_counts()).
     * create is NULL for a backend this system does not have. */
    void *(*create)(loop_counts_t *counts);
    /* Free the state and close its fds. It must not edit any kernel-side
     * interest list: after fork() the parent may share it. */
    void (*destroy)(void *state);

    /* From now on fd asks for `events` (LOOP_READ | LOOP_WRITE); 0 asks
     * for nothing, for a paused watcher and for a removed one alike.
     * Returns 0, or -1 with errno set and the interest left as it was. */
    int (*set)(void *state, int fd, int events);

    /* fd is about to be closed, and closing it takes it out of any
     * kernel-side list (the last reference): forget it without a system
     * call. NULL where set(state, fd, 0) makes no call anyway. */
    void (*forget)(void *state, int fd);

    /* Wait at most timeout_ms (-1: no limit) and call loop_ready() once
     * for each ready fd. Returns 0, or -1 with errno set (EINTR included:
     * the core decides what an interrupted wait means). */
    int (*wait)(void *state, loop_t *loop, int timeout_ms);
};

extern const struct loop_backend_ops loop_select_ops;
extern const struct loop_backend_ops loop_poll_ops;
extern const struct loop_backend_ops loop_epoll_ops;

/* Record that fd is ready for `events` (LOOP_READ, LOOP_WRITE, LOOP_ERROR).
 * Called by a backend's wait; the core delivers them after the wait
 * returns. 0, or -1 with errno set (out of memory). */
int loop_ready(loop_t *loop, int fd, int events);

#endif
