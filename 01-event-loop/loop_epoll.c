/*
 * loop_epoll.c: the epoll(7) backend, Linux only: the C10K step.
 *
 * select and poll hand the kernel the whole interest set on every wait, so
 * each wait costs as much as the number of watched fds. epoll keeps the
 * interest list in the kernel instead: epoll_ctl() edits it when a watcher
 * changes, and epoll_wait() returns only the fds that are ready, so a wait
 * costs as much as the number of ready fds, whether 10 or 10,000 are
 * watched.
 *
 * The price is one system call per change of interest. The backend
 * remembers what it registered for each fd and makes no call when nothing
 * changes: a server typically restates its interest after every reply
 * ("read, and write if output is queued"), and without this check epoll
 * would pay one epoll_ctl per reply, more than select and poll pay for the
 * whole set. loop_counts() counts the calls, and the tests hold the loop
 * to it.
 *
 * After fork() the child shares the epoll instance, interest list and all,
 * with the parent: destroy only closes our copy of the fd, which never
 * changes the list, where EPOLL_CTL_DEL would.
 *
 * Elsewhere this file defines the backend with no create function, which
 * the core reads as "not on this system" (loop_new() fails with ENOSYS).
 */
#include "loop_backend.h"

#ifdef __linux__

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

struct epoll_state {
    int epfd;
    int *registered; /* indexed by fd: the events in the kernel's list, 0 if absent */
    int cap;
    loop_counts_t *counts;
};

static void *epoll_create_state(loop_counts_t *counts)
{
    struct epoll_state *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->counts = counts;
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (e->epfd == -1) {
        int saved = errno;
        free(e);
        errno = saved;
        return NULL;
    }
    return e;
}

static void epoll_destroy(void *state)
{
    struct epoll_state *e = state;
    close(e->epfd);
    free(e->registered);
    free(e);
}

static int grow(struct epoll_state *e, int fd)
{
    if (fd < e->cap)
        return 0;
    int cap = e->cap ? e->cap : 64;
    while (cap <= fd)
        cap = cap > INT_MAX / 2 ? INT_MAX : cap * 2;
    int *r = realloc(e->registered, (size_t)cap * sizeof *r);
    if (r == NULL)
        return -1;
    memset(r + e->cap, 0, (size_t)(cap - e->cap) * sizeof *r);
    e->registered = r;
    e->cap = cap;
    return 0;
}

/* A watcher that asks for nothing is taken out of the list altogether,
 * because epoll reports EPOLLHUP and EPOLLERR even when nothing was asked
 * for, and a paused, hung-up fd would wake the loop forever. */
static int epoll_set(void *state, int fd, int events)
{
    struct epoll_state *e = state;
    int had = fd < e->cap ? e->registered[fd] : 0;
    if (events == had)
        return 0; /* the kernel's list already says so: no call */
    struct epoll_event ev = {0};
    ev.data.fd = fd;
    if (events & LOOP_READ)
        ev.events |= EPOLLIN;
    if (events & LOOP_WRITE)
        ev.events |= EPOLLOUT;
    if (events == 0) {
        e->counts->interest_changes++;
        /* EBADF or ENOENT: the fd was closed first, which took it out of
         * the list already. */
        if (epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, &ev) == -1 && errno != EBADF &&
            errno != ENOENT)
            return -1;
        e->registered[fd] = 0;
        return 0;
    }
    if (grow(e, fd) == -1)
        return -1;
    e->counts->interest_changes++;
    if (epoll_ctl(e->epfd, had ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) == -1)
        return -1;
    e->registered[fd] = events;
    return 0;
}

/* close() of the last reference to an fd takes it out of every epoll
 * list: only our record of it has to go. */
static void epoll_forget(void *state, int fd)
{
    struct epoll_state *e = state;
    if (fd < e->cap)
        e->registered[fd] = 0;
}

static int epoll_wait_ready(void *state, loop_t *loop, int timeout_ms)
{
    struct epoll_state *e = state;
    struct epoll_event evs[256];
    int r = epoll_wait(e->epfd, evs, 256, timeout_ms);
    if (r <= 0)
        return r;
    for (int i = 0; i < r; i++) {
        int ev = 0;
        if (evs[i].events & EPOLLIN)
            ev |= LOOP_READ;
        if (evs[i].events & EPOLLOUT)
            ev |= LOOP_WRITE;
        if (evs[i].events & (EPOLLERR | EPOLLHUP))
            ev |= LOOP_ERROR;
        if (loop_ready(loop, evs[i].data.fd, ev) == -1)
            return -1;
    }
    return 0;
}

const struct loop_backend_ops loop_epoll_ops = {
    .name = "epoll",
    .fd_limit = INT_MAX,
    .create = epoll_create_state,
    .destroy = epoll_destroy,
    .set = epoll_set,
    .forget = epoll_forget,
    .wait = epoll_wait_ready,
};

#else /* no epoll on this system */

#include <limits.h>
#include <stddef.h>

const struct loop_backend_ops loop_epoll_ops = {
    .name = "epoll",
    .fd_limit = INT_MAX,
    .create = NULL, /* loop_new(LOOP_EPOLL) fails with ENOSYS */
};

#endif
