/*
 * loop.c: the reactor behind loop.h, the part every backend shares.
 *
 * Read this file from the top: first the watcher table and the timer heap,
 * then the signal self-pipe, and last loop_run_once(), which ties them
 * together:
 *
 *     wait for I/O, at most until the next timer is due
 *     call the I/O callbacks for what is ready
 *     call the timer callbacks for what is due
 *
 * Nothing here is clever. The one subtle part is that callbacks may change
 * the watchers while we are walking the list of ready fds: every watcher
 * carries a generation number, and readiness gathered for an older
 * generation of the same fd number is dropped instead of delivered.
 *
 * How to ask the kernel "what is ready?" is a backend's job, behind the
 * small interface in loop_backend.h: loop_select.c is the one to read next;
 * loop_poll.c and loop_epoll.c are the C10K step. This file tells the
 * backend each change of interest and asks it to wait, and nothing more.
 */
#include "loop.h"
#include "loop_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct watcher {
    int active;   /* 1 while watched */
    int internal; /* the signal pipe: not counted by loop_watch_count */
    int events;   /* LOOP_READ | LOOP_WRITE asked for */
    uint64_t gen; /* changes each time the fd number is watched anew */
    loop_io_cb cb;
    void *arg;
};

/* Readiness as the backend reported it, before any callback ran. */
struct ready {
    int fd;
    int events;
    uint64_t gen;
};

enum timer_state { T_PENDING, T_BATCH, T_FIRING, T_CANCELLED };

struct loop_timer {
    uint64_t due;    /* loop_now_ms() at which it fires */
    uint64_t period; /* 0 for one-shot */
    uint64_t seq;    /* tie-break: the order timers were added */
    size_t heap_idx; /* where it sits in the heap while pending */
    enum timer_state state;
    int in_batch; /* run_timers() still holds a pointer to it */
    loop_timer_cb cb;
    void *arg;
};

struct sig_handler {
    int signo;
    loop_signal_cb cb;
    void *arg;
};

struct loop {
    loop_backend_t backend;
    const struct loop_backend_ops *ops;
    void *be; /* the backend's state */
    int stopped;

    struct watcher *w; /* indexed by fd */
    int w_cap;
    int nwatch; /* user watchers */
    uint64_t next_gen;

    struct ready *ready; /* filled by the backend's wait, through loop_ready() */
    int nready;
    int ready_cap;

    loop_timer_t **heap; /* min-heap on (due, seq) */
    size_t heap_len;
    size_t heap_cap;
    uint64_t next_seq;

    loop_counts_t counts; /* kernel calls, for loop_counts() */

    int sig_rfd; /* self-pipe, read end; -1 until a signal is handled */
    struct sig_handler *sigs;
    int nsigs;
    struct {
        int signo;
        struct sigaction old;
    } saved[64];
    int nsaved;
};

uint64_t loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---------------------------------------------------------------------- */
/* Backends                                                               */

/* Indexed by loop_backend_t. A backend this system lacks has no create. */
static const struct loop_backend_ops *const backends[] = {
    [LOOP_SELECT] = &loop_select_ops,
    [LOOP_POLL] = &loop_poll_ops,
    [LOOP_EPOLL] = &loop_epoll_ops,
};
enum { NBACKENDS = sizeof backends / sizeof backends[0] };

const char *loop_backend_name(loop_backend_t backend)
{
    if ((unsigned)backend >= NBACKENDS)
        return "?";
    return backends[backend]->name;
}

int loop_backend_parse(const char *name, loop_backend_t *out)
{
    for (unsigned b = 0; b < NBACKENDS; b++) {
        if (backends[b]->create != NULL && strcmp(name, backends[b]->name) == 0) {
            *out = (loop_backend_t)b;
            return 0;
        }
    }
    return -1;
}

int loop_backend_default(loop_backend_t *out)
{
    const char *env = getenv("LOOP_BACKEND");
    if (env == NULL || *env == '\0') {
        *out = LOOP_SELECT;
        return 0;
    }
    return loop_backend_parse(env, out);
}

loop_backend_t loop_backend(const loop_t *loop)
{
    return loop->backend;
}

loop_counts_t loop_counts(const loop_t *loop)
{
    return loop->counts;
}

/* ---------------------------------------------------------------------- */
/* Creating and freeing                                                   */

loop_t *loop_new(loop_backend_t backend)
{
    if ((unsigned)backend >= NBACKENDS) {
        errno = EINVAL;
        return NULL;
    }
    if (backends[backend]->create == NULL) {
        errno = ENOSYS;
        return NULL;
    }
    loop_t *loop = calloc(1, sizeof *loop);
    if (loop == NULL)
        return NULL;
    loop->backend = backend;
    loop->ops = backends[backend];
    loop->sig_rfd = -1;
    loop->be = loop->ops->create(&loop->counts);
    if (loop->be == NULL) {
        int saved = errno;
        free(loop);
        errno = saved;
        return NULL;
    }
    return loop;
}

/* The two values the signal handler reads. C lets a handler touch a
 * static object only if it is `volatile sig_atomic_t` (or a lock-free
 * atomic): volatile makes the compiler really load it when the handler runs
 * and store it when we assign, and sig_atomic_t is read and written whole,
 * never half-updated when a signal lands between two instructions. An fd
 * and a pid are both ints, which sig_atomic_t holds on every system we
 * build on; the assertion checks it.
 *
 * Both are set before sigaction() installs the handler and cleared only
 * after loop_free() has put the old dispositions back, so a handler never
 * sees them change under it. That reasoning is about one thread: a handler
 * running on another thread while loop_free() runs would race it, which is
 * why a program with threads blocks the loop's signals in them (threads.c
 * does, for its client threads). */
_Static_assert(SIG_ATOMIC_MAX >= INT_MAX && sizeof(pid_t) <= sizeof(int),
               "sig_atomic_t holds an fd and a pid");
static volatile sig_atomic_t sig_wfd = -1; /* the self-pipe's write end */
static volatile sig_atomic_t sig_owner;    /* the pid whose loop reads it */

void loop_free(loop_t *loop)
{
    if (loop == NULL)
        return;
    /* Put the signal dispositions back first, so no handler can write to
     * a pipe we are about to close. */
    for (int i = loop->nsaved - 1; i >= 0; i--)
        sigaction(loop->saved[i].signo, &loop->saved[i].old, NULL);
    if (loop->sig_rfd != -1) {
        close(loop->sig_rfd);
        close(sig_wfd);
        sig_wfd = -1;
    }
    /* Only frees and closes: a parent that shares a kernel-side interest
     * list with us after fork() keeps it as it was. */
    loop->ops->destroy(loop->be);
    for (size_t i = 0; i < loop->heap_len; i++)
        free(loop->heap[i]);
    free(loop->heap);
    free(loop->w);
    free(loop->ready);
    free(loop->sigs);
    free(loop);
}

/* ---------------------------------------------------------------------- */
/* Watchers                                                               */

static int grow_watchers(loop_t *loop, int fd)
{
    if (fd < loop->w_cap)
        return 0;
    int cap = loop->w_cap ? loop->w_cap : 64;
    while (cap <= fd)
        cap *= 2;
    struct watcher *w = realloc(loop->w, (size_t)cap * sizeof *w);
    if (w == NULL)
        return -1;
    memset(w + loop->w_cap, 0, (size_t)(cap - loop->w_cap) * sizeof *w);
    loop->w = w;
    loop->w_cap = cap;
    return 0;
}

static int watch(loop_t *loop, int fd, int events, loop_io_cb cb, void *arg, int internal)
{
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    if (fd >= loop->ops->fd_limit) {
        /* select's fd_set has no room for it (loop_select.c). */
        errno = ERANGE;
        return -1;
    }
    if (grow_watchers(loop, fd) == -1)
        return -1;
    struct watcher *w = &loop->w[fd];
    events &= LOOP_READ | LOOP_WRITE;
    if (loop->ops->set(loop->be, fd, events) == -1)
        return -1;
    if (!w->active) {
        w->active = 1;
        w->internal = internal;
        w->gen = ++loop->next_gen;
        if (!internal)
            loop->nwatch++;
    }
    w->events = events;
    w->cb = cb;
    w->arg = arg;
    return 0;
}

int loop_watch(loop_t *loop, int fd, int events, loop_io_cb cb, void *arg)
{
    return watch(loop, fd, events, cb, arg, 0);
}

int loop_modify(loop_t *loop, int fd, int events)
{
    if (fd < 0 || fd >= loop->w_cap || !loop->w[fd].active) {
        errno = ENOENT;
        return -1;
    }
    struct watcher *w = &loop->w[fd];
    events &= LOOP_READ | LOOP_WRITE;
    if (loop->ops->set(loop->be, fd, events) == -1)
        return -1;
    w->events = events;
    return 0;
}

/* Forget fd's watcher. `closing`: the caller closes the fd next, and the
 * close tells the kernel, so the backend need not. */
static int unwatch(loop_t *loop, int fd, int closing)
{
    if (fd < 0 || fd >= loop->w_cap || !loop->w[fd].active) {
        errno = ENOENT;
        return -1;
    }
    struct watcher *w = &loop->w[fd];
    if (closing && loop->ops->forget != NULL)
        loop->ops->forget(loop->be, fd);
    else
        loop->ops->set(loop->be, fd, 0); /* an fd closed first is no error */
    if (!w->internal)
        loop->nwatch--;
    memset(w, 0, sizeof *w);
    return 0;
}

int loop_unwatch(loop_t *loop, int fd)
{
    return unwatch(loop, fd, 0);
}

int loop_close(loop_t *loop, int fd)
{
    unwatch(loop, fd, 1); /* ENOENT: not watched, just closed */
    return close(fd);
}

int loop_watch_count(const loop_t *loop)
{
    return loop->nwatch;
}

/* ---------------------------------------------------------------------- */
/* Timers: a binary min-heap ordered by (due, seq)                        */

static int timer_before(const loop_timer_t *a, const loop_timer_t *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_set(loop_t *loop, size_t i, loop_timer_t *t)
{
    loop->heap[i] = t;
    t->heap_idx = i;
}

static void heap_up(loop_t *loop, size_t i)
{
    loop_timer_t *t = loop->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(t, loop->heap[parent]))
            break;
        heap_set(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_set(loop, i, t);
}

static void heap_down(loop_t *loop, size_t i)
{
    loop_timer_t *t = loop->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= loop->heap_len)
            break;
        if (child + 1 < loop->heap_len &&
            timer_before(loop->heap[child + 1], loop->heap[child]))
            child++;
        if (!timer_before(loop->heap[child], t))
            break;
        heap_set(loop, i, loop->heap[child]);
        i = child;
    }
    heap_set(loop, i, t);
}

static int heap_push(loop_t *loop, loop_timer_t *t)
{
    if (loop->heap_len == loop->heap_cap) {
        size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
        loop_timer_t **h = realloc(loop->heap, cap * sizeof *h);
        if (h == NULL)
            return -1;
        loop->heap = h;
        loop->heap_cap = cap;
    }
    heap_set(loop, loop->heap_len++, t);
    heap_up(loop, loop->heap_len - 1);
    t->state = T_PENDING;
    return 0;
}

static void heap_remove(loop_t *loop, loop_timer_t *t)
{
    size_t i = t->heap_idx;
    loop_timer_t *last = loop->heap[--loop->heap_len];
    if (last != t) {
        heap_set(loop, i, last);
        heap_up(loop, i);
        heap_down(loop, last->heap_idx);
    }
}

loop_timer_t *loop_timer_add(loop_t *loop, uint64_t delay_ms, uint64_t repeat_ms,
                             loop_timer_cb cb, void *arg)
{
    loop_timer_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->due = loop_now_ms() + delay_ms;
    t->period = repeat_ms;
    t->seq = loop->next_seq++;
    t->cb = cb;
    t->arg = arg;
    if (heap_push(loop, t) == -1) {
        free(t);
        return NULL;
    }
    return t;
}

void loop_timer_cancel(loop_t *loop, loop_timer_t *t)
{
    if (t == NULL)
        return;
    if (t->state == T_PENDING)
        heap_remove(loop, t);
    if (t->state == T_PENDING && !t->in_batch) {
        free(t);
    } else {
        /* It is firing, or waiting in this iteration's batch, or it was
         * reset back into the heap by a callback of this batch: the batch
         * still points at it, and frees it when it gets there. */
        t->state = T_CANCELLED;
    }
}

void loop_timer_reset(loop_t *loop, loop_timer_t *t, uint64_t delay_ms)
{
    if (t->state == T_CANCELLED)
        return;
    if (t->state == T_PENDING)
        heap_remove(loop, t);
    t->due = loop_now_ms() + delay_ms;
    t->seq = loop->next_seq++;
    if (heap_push(loop, t) == -1) {
        /* Only possible for a timer that is firing or in the batch, when
         * the heap cannot grow: it cannot be rescheduled, so it is
         * cancelled (and freed by the batch) rather than left dangling. */
        t->state = T_CANCELLED;
    }
}

/* Fire every timer that is due. They are first popped into a batch, so a
 * callback that adds a zero-delay timer does not starve the I/O: the new
 * timer waits for the next iteration. */
static void run_timers(loop_t *loop)
{
    uint64_t now = loop_now_ms();
    loop_timer_t *batch_small[64];
    loop_timer_t **batch = batch_small;
    size_t n = 0, cap = 64;
    while (loop->heap_len > 0 && loop->heap[0]->due <= now) {
        loop_timer_t *t = loop->heap[0];
        heap_remove(loop, t);
        t->state = T_BATCH;
        t->in_batch = 1;
        if (n == cap) {
            loop_timer_t **bigger = malloc(cap * 2 * sizeof *bigger);
            if (bigger == NULL) {
                t->in_batch = 0;
                heap_push(loop, t); /* try again next iteration */
                break;
            }
            memcpy(bigger, batch, n * sizeof *bigger);
            if (batch != batch_small)
                free(batch);
            batch = bigger;
            cap *= 2;
        }
        batch[n++] = t;
    }
    for (size_t i = 0; i < n; i++) {
        loop_timer_t *t = batch[i];
        if (t->state == T_CANCELLED) {
            free(t);
            continue;
        }
        if (t->state != T_BATCH) {
            t->in_batch = 0; /* reset by an earlier callback: back in the heap */
            continue;
        }
        t->state = T_FIRING;
        t->cb(loop, t, t->arg);
        t->in_batch = 0;
        if (t->state == T_CANCELLED) {
            free(t);
        } else if (t->state == T_PENDING) {
            /* the callback reset it: it is already rescheduled */
        } else if (t->period > 0) {
            /* Keep the cadence, but after a long stall fire once, late,
             * rather than a burst of catch-up calls. */
            t->due += t->period;
            uint64_t after = loop_now_ms();
            if (t->due <= after)
                t->due = after + t->period;
            if (heap_push(loop, t) == -1)
                free(t);
        } else {
            free(t);
        }
    }
    if (batch != batch_small)
        free(batch);
}

/* Milliseconds until the next timer, 0 if one is due, -1 if there is none. */
static int next_timeout(loop_t *loop)
{
    if (loop->heap_len == 0)
        return -1;
    uint64_t now = loop_now_ms();
    uint64_t due = loop->heap[0]->due;
    if (due <= now)
        return 0;
    uint64_t left = due - now;
    return left > 24u * 3600 * 1000 ? 24 * 3600 * 1000 : (int)left;
}

/* ---------------------------------------------------------------------- */
/* Signals through a self-pipe                                            */

/* The handler does the one thing that is safe in a handler: write(2) a
 * byte. The loop reads it later and calls the callback in normal context,
 * where it may allocate, print and take locks.
 *
 * A child forked from the loop's process inherits this handler and the
 * pipe. Until it calls loop_free() or execs, a signal sent to the child
 * (a master's SIGTERM that arrives just after fork) would write into the
 * *parent's* pipe, and the parent would act on a signal it never got. So
 * in any other process the handler behaves as if it were not installed:
 * default action, re-raised. getpid(), signal() and raise() are all
 * async-signal-safe. */
static void on_signal(int signo)
{
    int saved = errno;
    if (getpid() != (pid_t)sig_owner) {
        signal(signo, SIG_DFL);
        raise(signo);
        errno = saved;
        return;
    }
    unsigned char b = (unsigned char)signo;
    int fd = sig_wfd; /* one load: the fd tested is the fd written */
    if (fd != -1 && write(fd, &b, 1) == -1) {
        /* The pipe is full: the loop has unread bytes and will wake up
         * anyway. Nothing to do. */
    }
    errno = saved;
}

static void on_sig_pipe(loop_t *loop, int fd, int events, void *arg)
{
    (void)events;
    (void)arg;
    unsigned char buf[256];
    int seen[256] = {0};
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            seen[buf[i]] = 1;
    /* Each handler runs once per iteration for a signal that arrived at
     * least once: signals do not queue, so neither do these calls. */
    for (int s = 1; s < 256; s++) {
        if (!seen[s])
            continue;
        for (int i = 0; i < loop->nsigs; i++)
            if (loop->sigs[i].signo == s)
                loop->sigs[i].cb(loop, s, loop->sigs[i].arg);
    }
}

static int set_flags(int fd, int fdflags, int flflags)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl == -1 || fcntl(fd, F_SETFD, fl | fdflags) == -1)
        return -1;
    fl = fcntl(fd, F_GETFL);
    if (fl == -1 || fcntl(fd, F_SETFL, fl | flflags) == -1)
        return -1;
    return 0;
}

int loop_on_signal(loop_t *loop, int signo, loop_signal_cb cb, void *arg)
{
    if (signo <= 0 || signo >= 256) {
        errno = EINVAL;
        return -1;
    }
    if (loop->sig_rfd == -1) {
        if (sig_wfd != -1) {
            errno = EBUSY; /* another loop in this process owns signals */
            return -1;
        }
        int p[2];
        if (pipe(p) == -1)
            return -1;
        /* Both ends non-blocking: the handler must never block, and the
         * loop drains the pipe until EAGAIN. */
        if (set_flags(p[0], FD_CLOEXEC, O_NONBLOCK) == -1 ||
            set_flags(p[1], FD_CLOEXEC, O_NONBLOCK) == -1 ||
            watch(loop, p[0], LOOP_READ, on_sig_pipe, NULL, 1) == -1) {
            int saved = errno;
            close(p[0]);
            close(p[1]);
            errno = saved;
            return -1;
        }
        loop->sig_rfd = p[0];
        sig_wfd = p[1];
        sig_owner = (sig_atomic_t)getpid();
    }
    struct sig_handler *s = realloc(loop->sigs, (size_t)(loop->nsigs + 1) * sizeof *s);
    if (s == NULL)
        return -1;
    loop->sigs = s;
    int installed = 0;
    for (int i = 0; i < loop->nsaved; i++)
        installed |= loop->saved[i].signo == signo;
    if (!installed) {
        if (loop->nsaved == (int)(sizeof loop->saved / sizeof loop->saved[0])) {
            errno = ENOSPC;
            return -1;
        }
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        /* SA_RESTART: a signal should not make unrelated blocking calls
         * fail with EINTR. SA_NOCLDSTOP: only exits matter for SIGCHLD. */
        sa.sa_flags = SA_RESTART | (signo == SIGCHLD ? SA_NOCLDSTOP : 0);
        if (sigaction(signo, &sa, &loop->saved[loop->nsaved].old) == -1)
            return -1;
        loop->saved[loop->nsaved++].signo = signo;
    }
    loop->sigs[loop->nsigs].signo = signo;
    loop->sigs[loop->nsigs].cb = cb;
    loop->sigs[loop->nsigs].arg = arg;
    loop->nsigs++;
    return 0;
}

static void stop_cb(loop_t *loop, int signo, void *arg)
{
    (void)signo;
    (void)arg;
    loop_stop(loop);
}

int loop_stop_on_signal(loop_t *loop, int signo)
{
    return loop_on_signal(loop, signo, stop_cb, NULL);
}

/* ---------------------------------------------------------------------- */
/* Running                                                                */

int loop_ready(loop_t *loop, int fd, int events)
{
    if (loop->nready == loop->ready_cap) {
        int cap = loop->ready_cap ? loop->ready_cap * 2 : 64;
        struct ready *r = realloc(loop->ready, (size_t)cap * sizeof *r);
        if (r == NULL)
            return -1;
        loop->ready = r;
        loop->ready_cap = cap;
    }
    /* Remember which watcher the readiness is for, before any callback
     * can remove it or watch the fd number anew. */
    struct ready *r = &loop->ready[loop->nready++];
    r->fd = fd;
    r->events = events;
    r->gen = fd < loop->w_cap ? loop->w[fd].gen : 0;
    return 0;
}

int loop_run_once(loop_t *loop, int timeout_ms)
{
    int wait = next_timeout(loop);
    if (timeout_ms >= 0 && (wait < 0 || timeout_ms < wait))
        wait = timeout_ms;
    if (loop->stopped)
        wait = 0;

    loop->nready = 0;
    loop->counts.waits++;
    /* EINTR is no failure: the signal's byte waits in the self-pipe, and
     * the next iteration reads it. */
    if (loop->ops->wait(loop->be, loop, wait) == -1 && errno != EINTR)
        return -1;

    for (int i = 0; i < loop->nready; i++) {
        struct ready r = loop->ready[i];
        if (r.fd >= loop->w_cap)
            continue;
        struct watcher *w = &loop->w[r.fd];
        /* Removed by an earlier callback, or removed and watched anew
         * (the fd number was reused): not this watcher's readiness. */
        if (!w->active || w->gen != r.gen || w->events == 0)
            continue;
        int ev = r.events & (w->events | LOOP_ERROR);
        if (ev == 0)
            continue;
        w->cb(loop, r.fd, ev, w->arg);
    }
    run_timers(loop);
    return 0;
}

int loop_run(loop_t *loop)
{
    while (!loop->stopped)
        if (loop_run_once(loop, -1) == -1)
            return -1;
    loop->stopped = 0; /* so the loop can be run again */
    return 0;
}

void loop_stop(loop_t *loop)
{
    loop->stopped = 1;
}
