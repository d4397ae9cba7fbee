/*
 * loop_poll.c: the poll(2) backend.
 *
 * poll takes an array of struct pollfd, one per watched fd, and writes the
 * answer into a separate field (revents), so the request survives the call.
 * There is no FD_SETSIZE wall: any fd number can be watched.
 *
 * What it shows: poll removes select's limit but not its cost. The whole
 * array still crosses into the kernel on every call, and both the kernel
 * and we walk all of it to find the few ready fds: O(watched fds) per wait.
 * epoll (loop_epoll.c) is the step that removes that cost.
 *
 * The backend keeps the interest in a table indexed by fd and builds the
 * array from it on each wait, in fd order, so fds are reported in the same
 * order as with select.
 */
#include "loop_backend.h"

#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

struct poll_state {
    short *want; /* indexed by fd: POLLIN | POLLOUT asked for, 0 if nothing */
    int want_cap;
    struct pollfd *pfds; /* the array handed to poll(), rebuilt each wait */
    int pfds_cap;
};

static void *poll_create(loop_counts_t *counts)
{
    (void)counts; /* poll has no interest list in the kernel to edit */
    return calloc(1, sizeof(struct poll_state));
}

static void poll_destroy(void *state)
{
    struct poll_state *p = state;
    free(p->want);
    free(p->pfds);
    free(p);
}

static int poll_set(void *state, int fd, int events)
{
    struct poll_state *p = state;
    if (fd >= p->want_cap) {
        if (events == 0)
            return 0; /* never asked for anything: nothing to clear */
        int cap = p->want_cap ? p->want_cap : 64;
        while (cap <= fd)
            cap = cap > INT_MAX / 2 ? INT_MAX : cap * 2;
        short *w = realloc(p->want, (size_t)cap * sizeof *w);
        if (w == NULL)
            return -1;
        memset(w + p->want_cap, 0, (size_t)(cap - p->want_cap) * sizeof *w);
        p->want = w;
        p->want_cap = cap;
    }
    p->want[fd] = (short)(((events & LOOP_READ) ? POLLIN : 0) |
                          ((events & LOOP_WRITE) ? POLLOUT : 0));
    return 0;
}

static int poll_wait(void *state, loop_t *loop, int timeout_ms)
{
    struct poll_state *p = state;
    int count = 0;
    for (int fd = 0; fd < p->want_cap; fd++) {
        if (p->want[fd] == 0)
            continue;
        if (count == p->pfds_cap) {
            int cap = p->pfds_cap ? p->pfds_cap * 2 : 64;
            struct pollfd *a = realloc(p->pfds, (size_t)cap * sizeof *a);
            if (a == NULL)
                return -1;
            p->pfds = a;
            p->pfds_cap = cap;
        }
        p->pfds[count].fd = fd;
        p->pfds[count].events = p->want[fd];
        p->pfds[count].revents = 0;
        count++;
    }
    int r = poll(p->pfds, (nfds_t)count, timeout_ms);
    if (r <= 0)
        return r;
    for (int i = 0; i < count; i++) {
        short re = p->pfds[i].revents;
        if (re == 0)
            continue;
        int ev = 0;
        if (re & POLLIN)
            ev |= LOOP_READ;
        if (re & POLLOUT)
            ev |= LOOP_WRITE;
        /* Reported whether asked for or not: an error, a hang-up, or an
         * fd that is not open. */
        if (re & (POLLERR | POLLHUP | POLLNVAL))
            ev |= LOOP_ERROR;
        if (loop_ready(loop, p->pfds[i].fd, ev) == -1)
            return -1;
    }
    return 0;
}

const struct loop_backend_ops loop_poll_ops = {
    .name = "poll",
    .fd_limit = INT_MAX,
    .create = poll_create,
    .destroy = poll_destroy,
    .set = poll_set,
    .wait = poll_wait,
};
