/*
 * loop_select.c: the select(2) backend, chapter 01's way to wait.
 *
 * select takes two bit sets, "fds I want to read" and "fds I want to
 * write", and overwrites them with the answer: which of those are ready.
 * So the backend keeps its own master copy of the sets, changed as the
 * core's watchers change, and hands select a fresh copy on every wait.
 *
 * What it shows, and what chapter 01 measures: every wait copies both sets
 * into the kernel and scans them up to the highest watched fd, however few
 * fds are ready, so a call costs O(highest fd). And an fd_set holds fds
 * below FD_SETSIZE (1024 on Linux) only: FD_SET on a larger fd writes past
 * its end, the classic select overflow. fd_limit makes the core refuse
 * such fds with ERANGE, so this file never sees one.
 */
#include "loop_backend.h"

#include <stdlib.h>
#include <sys/select.h>

struct select_state {
    fd_set rd, wr; /* the interest: master copies, never given to select */
    int maxfd;     /* the highest fd in either set, -1 if none */
};

static void *select_create(loop_counts_t *counts)
{
    (void)counts; /* select has no interest list in the kernel to edit */
    struct select_state *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    FD_ZERO(&s->rd);
    FD_ZERO(&s->wr);
    s->maxfd = -1;
    return s;
}

static void select_destroy(void *state)
{
    free(state);
}

static int select_set(void *state, int fd, int events)
{
    struct select_state *s = state;
    if (events & LOOP_READ)
        FD_SET(fd, &s->rd);
    else
        FD_CLR(fd, &s->rd);
    if (events & LOOP_WRITE)
        FD_SET(fd, &s->wr);
    else
        FD_CLR(fd, &s->wr);
    if (events != 0 && fd > s->maxfd)
        s->maxfd = fd;
    /* The highest fd asks for nothing now: find the next one down. */
    while (s->maxfd >= 0 && !FD_ISSET(s->maxfd, &s->rd) && !FD_ISSET(s->maxfd, &s->wr))
        s->maxfd--;
    return 0;
}

static int select_wait(void *state, loop_t *loop, int timeout_ms)
{
    struct select_state *s = state;
    fd_set rd = s->rd, wr = s->wr; /* select overwrites them with its answer */
    int maxfd = s->maxfd;
    struct timeval tv, *tvp = NULL;
    if (timeout_ms >= 0) {
        tv.tv_sec = timeout_ms / 1000;
        tv.tv_usec = (timeout_ms % 1000) * 1000;
        tvp = &tv;
    }
    int r = select(maxfd + 1, &rd, &wr, NULL, tvp);
    if (r <= 0)
        return r;
    /* The answer says which fds are ready, not how many to look at: scan
     * every fd up to maxfd again. */
    for (int fd = 0; fd <= maxfd; fd++) {
        int ev =
            (FD_ISSET(fd, &rd) ? LOOP_READ : 0) | (FD_ISSET(fd, &wr) ? LOOP_WRITE : 0);
        if (ev && loop_ready(loop, fd, ev) == -1)
            return -1;
    }
    return 0;
}

const struct loop_backend_ops loop_select_ops = {
    .name = "select",
    .fd_limit = FD_SETSIZE,
    .create = select_create,
    .destroy = select_destroy,
    .set = select_set,
    .wait = select_wait,
};
