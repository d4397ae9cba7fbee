/*
 * modes.c: the ways N workers can wait on one port (see herd.h): eleven
 * written here, and Node's own cluster run beside them.
 *
 * Read them in order; each is a few functions filling in a herd_mode.
 * Each worker_wait counts its own *wakeups*: the moments the worker comes
 * back from its wait saying "a connection is there". For a blocking
 * accept() that is accept() returning; for select(), poll() and
 * epoll_wait() it is the call returning with the listener ready, whether
 * or not the accept() that follows finds anything (EAGAIN: another worker
 * was faster). That is what a program can see of the thundering herd. The
 * kernel wakes more than that: a woken select() that finds the connection
 * already taken goes back to sleep without returning. The driver counts
 * those too, from the workers' context switches (counters.h).
 *
 * Every mode has the same shape, and the likeness is deliberate: a few
 * functions, then its herd_mode table with the same fields in the same
 * order (or, where the mode cannot run, a table with only its name and
 * how). The driver sees nothing but the table (herd.h), and a reader
 * compares two modes field by field. What really is the same logic lives
 * once, in the first section: the shared listener, counting a wakeup and
 * an accept (woken, listener_woke), a failed wait (wait_failed), and the
 * teardown every mode uses (close_everything).
 *
 * See one mode at work with ./thundering-herd --mode NAME --workers 4;
 * tests/test_modes.c runs each through the driver.
 */
#include "herd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/epoll.h>
#endif

#include "fdpass.h" /* SCM_RIGHTS, taught in chapter 05 */
#include "net.h"    /* fd flags, from chapter 01 */

/* ---- shared by several modes ----------------------------------------------- */

/* One listening socket for everybody, made by the master before the fork so
 * that every worker inherits it (FACTS item 19: after a plain fork nothing
 * needs passing). Non-blocking for the modes that wait first and accept
 * after: O_NONBLOCK belongs to the open file description, so setting it
 * once in the master sets it for every worker. */
static int shared_listener(herd *h, int nonblocking)
{
    h->listen_fd = herd_listen(h->cfg->host, h->cfg->port, 0, &h->port, &h->call);
    if (h->listen_fd == -1)
        return -1;
    if (nonblocking) {
        h->call = "fcntl(O_NONBLOCK)";
        if (net_set_nonblock(h->listen_fd, 1) == -1)
            return -1;
    }
    return 0;
}

/* Count what accept() returned. A connection: one more accept. EAGAIN:
 * another worker took it first. ECONNABORTED: the client gave up while
 * the connection sat in the queue; also nothing for us. */
static int counted_accept(herd *h, int w, int fd)
{
    counter_slot *s = &h->count->slot[w];
    if (fd != -1) {
        counters_add(&s->accepts);
        return fd;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED) {
        counters_add(&s->eagain);
        return HERD_AGAIN;
    }
    fprintf(stderr, "[worker %d] accept: %s\n", (int)getpid(), strerror(errno));
    return HERD_STOP;
}

/* The worker is back from its wait saying "a connection is there": one
 * wakeup. Then what its accept() gave: fd, or -1 with errno. */
static int woken(herd *h, int w, int fd)
{
    counters_add(&h->count->slot[w].wakeups);
    return counted_accept(h, w, fd);
}

/* A blocking accept() returned: the wakeup, unless a signal interrupted
 * it (then wait again). */
static int accept_returned(herd *h, int w, int fd)
{
    if (fd == -1 && errno == EINTR)
        return HERD_AGAIN;
    return woken(h, w, fd);
}

/* A wait that watches the listener and the lifeline returned: the master
 * is gone (stop), the listener is not ready (wait again), or it is (one
 * wakeup, and the accept). */
static int listener_woke(herd *h, int w, int lifeline_ready, int listener_ready)
{
    if (lifeline_ready)
        return HERD_STOP;
    if (!listener_ready)
        return HERD_AGAIN;
    return woken(h, w, herd_accept(h->listen_fd));
}

/* The wait itself (select, poll, epoll_wait, a lock) failed: a signal
 * means wait again; anything else ends the worker, named by `call`. */
static int wait_failed(const char *call)
{
    if (errno == EINTR)
        return HERD_AGAIN;
    fprintf(stderr, "[worker %d] %s: %s\n", (int)getpid(), call, strerror(errno));
    return HERD_STOP;
}

/* pthread-mutex and nginx-mutex keep their lock in memory that every
 * worker shares: mapped by the master before the fork, like the counters. */
typedef struct shared_lock {
#ifdef __linux__
    pthread_mutex_t mutex; /* pthread-mutex */
#endif
    atomic_int owner; /* nginx-mutex: the holder's pid, 0 when free */
} shared_lock;

static int nothing_to_init(herd *h, int w)
{
    (void)h;
    (void)w;
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd != -1)
        close(*fd);
    *fd = -1;
}

/* Every mode's teardown: close whatever it opened. Also used by the load
 * client, which inherited all of it and needs none. */
static void close_everything(herd *h)
{
    close_fd(&h->listen_fd);
    close_fd(&h->lock_fd);
    /* Only unmapped, never pthread_mutex_destroy()ed: the load client runs
     * this too, while the workers still use the mutex. The memory goes
     * away with the last process that maps it. */
    if (h->lock_mem != NULL)
        munmap(h->lock_mem, sizeof(shared_lock));
    h->lock_mem = NULL;
    for (int i = 0; i < h->cfg->workers; i++) {
        close_fd(&h->fds[i]);
        close_fd(&h->peer[i]);
    }
    for (int i = 0; i < h->pending_len; i++) /* rr-on-ack's queue */
        close(h->pending[(h->pending_head + i) % h->pending_cap]);
    free(h->pending);
    h->pending = NULL;
    h->pending_len = h->pending_cap = h->pending_head = 0;
    close_fd(&h->server_in);
    close_fd(&h->server_out);
}

/* ---- accept: block in accept() on the shared socket ------------------------ */
/*
 * Every worker sleeps inside accept() on the same socket. Since Linux 2.4
 * the kernel queues them as *exclusive* waiters and wakes only one per
 * connection, the one that has waited longest (the BSDs wake one too): no
 * herd, and a fair spread. This is the classic pre-forked
 * server (Apache prefork, UNP ch. 30). Its limit: a worker blocked in
 * accept() can wait for nothing else, not a timer, not a second socket.
 */

static int accept_setup(herd *h)
{
    return shared_listener(h, 0);
}

static int accept_wait(herd *h, int w)
{
    return accept_returned(h, w, herd_accept(h->listen_fd));
}

static const herd_mode mode_accept = {
    .name = "accept",
    .how = "blocking accept() on the shared socket",
    .available = 1,
    .setup = accept_setup,
    .worker_init = nothing_to_init,
    .worker_wait = accept_wait,
    .teardown = close_everything,
};

/* ---- select and poll: wait for readability, then accept() ------------------ */
/*
 * An event loop cannot block in accept(): it asks "which of my fds are
 * ready?" and accepts only when the listener is. select() and poll() put a
 * *non-exclusive* entry on the socket's wait queue, so a new connection
 * wakes every worker sleeping in them. Each re-checks the listener; those
 * that still find it ready return and rush to accept(): one wins, the
 * others get EAGAIN. The rest, too late, sleep again inside the kernel.
 * UNP ch. 30 calls this "select collision".
 *
 * Both also watch the lifeline (supervisor.h): EOF there means the master
 * is gone and the worker should exit.
 */

static int select_setup(herd *h)
{
    if (shared_listener(h, 1) == -1)
        return -1;
    if (h->listen_fd >= FD_SETSIZE) {
        h->call = "select (listener fd >= FD_SETSIZE)";
        errno = EMFILE; /* FD_SET beyond FD_SETSIZE would write out of bounds */
        return -1;
    }
    return 0;
}

static int select_init(herd *h, int w)
{
    (void)w;
    if (h->lifeline >= FD_SETSIZE) {
        errno = EMFILE;
        return -1;
    }
    return 0;
}

static int select_wait(herd *h, int w)
{
    fd_set readable;
    FD_ZERO(&readable);
    FD_SET(h->listen_fd, &readable);
    FD_SET(h->lifeline, &readable);
    int maxfd = h->listen_fd > h->lifeline ? h->listen_fd : h->lifeline;
    if (select(maxfd + 1, &readable, NULL, NULL, NULL) == -1)
        return wait_failed("select");
    return listener_woke(h, w, FD_ISSET(h->lifeline, &readable),
                         FD_ISSET(h->listen_fd, &readable));
}

static const herd_mode mode_select = {
    .name = "select",
    .how = "select() on the shared socket, then a non-blocking accept()",
    .available = 1,
    .setup = select_setup,
    .worker_init = select_init,
    .worker_wait = select_wait,
    .teardown = close_everything,
};

/* poll, epoll and epoll-exclusive: the shared socket, non-blocking, since a
 * worker that loses the race must get EAGAIN, not hang in accept(). */
static int nonblocking_setup(herd *h)
{
    return shared_listener(h, 1);
}

static int poll_wait(herd *h, int w)
{
    struct pollfd pfd[2] = {
        {.fd = h->listen_fd, .events = POLLIN},
        {.fd = h->lifeline, .events = POLLIN},
    };
    if (poll(pfd, 2, -1) == -1)
        return wait_failed("poll");
    return listener_woke(h, w, pfd[1].revents != 0, pfd[0].revents != 0);
}

static const herd_mode mode_poll = {
    .name = "poll",
    .how = "poll() on the shared socket, then a non-blocking accept()",
    .available = 1,
    .setup = nonblocking_setup,
    .worker_init = nothing_to_init,
    .worker_wait = poll_wait,
    .teardown = close_everything,
};

/* ---- epoll and epoll-exclusive (Linux) ------------------------------------- */
/*
 * What libuv, and so every Node worker sharing a server handle, does: each
 * worker has its own epoll instance with the listener in it,
 * level-triggered. Each instance hangs its own non-exclusive entry on the
 * socket's wait queue, so epoll herds exactly like select.
 *
 * EPOLLEXCLUSIVE (Linux 4.5) makes those entries exclusive: the kernel
 * wakes one instance whose owner is waiting in epoll_wait(). It tries them
 * in the order the workers *registered* the listener (epoll_ctl ADD), not
 * the order they started waiting (./wake-order shows it), so when
 * connections come one at a time the first-registered worker gets all of
 * them: no herd, and no balance either. nginx uses it since 1.11.3 and,
 * since 1.21.6, re-adds its listener every 16 accepts to move its entry to
 * the back of that order.
 *
 * The instance is made in the worker, after the fork: an epoll instance
 * created before fork() would be one instance shared by every worker.
 */
#ifdef __linux__

static int epoll_init_with(herd *h, uint32_t listener_flags)
{
    h->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (h->epfd == -1)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN | listener_flags, .data.fd = h->listen_fd};
    if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->listen_fd, &ev) == -1)
        return -1;
    struct epoll_event life = {.events = EPOLLIN, .data.fd = h->lifeline};
    return epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->lifeline, &life);
}

static int epoll_init(herd *h, int w)
{
    (void)w;
    return epoll_init_with(h, 0);
}

static int epoll_wait_conn(herd *h, int w)
{
    struct epoll_event ev[2];
    int n = epoll_wait(h->epfd, ev, 2, -1);
    if (n == -1)
        return wait_failed("epoll_wait");
    int lifeline = 0, listener = 0;
    for (int i = 0; i < n; i++) {
        if (ev[i].data.fd == h->lifeline)
            lifeline = 1;
        else
            listener = 1;
    }
    return listener_woke(h, w, lifeline, listener);
}

static const herd_mode mode_epoll = {
    .name = "epoll",
    .how = "its own level-triggered epoll instance, then a non-blocking accept()",
    .available = 1,
    .setup = nonblocking_setup,
    .worker_init = epoll_init,
    .worker_wait = epoll_wait_conn,
    .teardown = close_everything,
};

#ifdef EPOLLEXCLUSIVE
static int epoll_exclusive_init(herd *h, int w)
{
    (void)w;
    return epoll_init_with(h, EPOLLEXCLUSIVE);
}
#define EPOLL_EXCLUSIVE_AVAILABLE 1
#else
#define epoll_exclusive_init NULL
#define EPOLL_EXCLUSIVE_AVAILABLE 0
#endif

static const herd_mode mode_epoll_exclusive = {
    .name = "epoll-exclusive",
    .how = "its own epoll instance with EPOLLEXCLUSIVE (Linux 4.5+), then accept()",
    .available = EPOLL_EXCLUSIVE_AVAILABLE,
    .setup = nonblocking_setup,
    .worker_init = epoll_exclusive_init,
    .worker_wait = epoll_wait_conn,
    .teardown = close_everything,
};

#else /* not Linux: listed, never run */

static const herd_mode mode_epoll = {
    .name = "epoll",
    .how = "its own level-triggered epoll instance (Linux only)",
};
static const herd_mode mode_epoll_exclusive = {
    .name = "epoll-exclusive",
    .how = "its own epoll instance with EPOLLEXCLUSIVE (Linux 4.5+ only)",
};

#endif

/* ---- reuseport: one socket per worker (Linux) ------------------------------ */
/*
 * Every worker gets a listening socket of its own, all bound to the same
 * port with SO_REUSEPORT. On Linux (3.9+) the kernel picks the socket for
 * each new connection by a hash of its addresses and ports, and queues it
 * there, whatever that worker is doing. No herd: nobody else is waiting on
 * that socket. But a busy worker keeps receiving its share, and those
 * connections wait in its queue: Cloudflare's tail-latency finding. (The
 * BSDs accept the option but do not balance the same way, so the mode is
 * Linux-only here.)
 *
 * The master binds all of them, so that PORT=0 can become one real port:
 * the first socket gets it from the kernel, the others bind to it.
 */
#ifdef __linux__

static int reuseport_setup(herd *h)
{
    h->port = h->cfg->port;
    for (int i = 0; i < h->cfg->workers; i++) {
        h->fds[i] = herd_listen(h->cfg->host, h->port, 1, &h->port, &h->call);
        if (h->fds[i] == -1)
            return -1;
    }
    return 0;
}

static int reuseport_init(herd *h, int w)
{
    for (int i = 0; i < h->cfg->workers; i++)
        if (i != w)
            close_fd(&h->fds[i]);
    return 0;
}

static int reuseport_wait(herd *h, int w)
{
    return accept_returned(h, w, herd_accept(h->fds[w]));
}

static const herd_mode mode_reuseport = {
    .name = "reuseport",
    .how = "blocking accept() on its own SO_REUSEPORT socket (Linux 3.9+)",
    .available = 1,
    .setup = reuseport_setup,
    .worker_init = reuseport_init,
    .worker_wait = reuseport_wait,
    .teardown = close_everything,
};

#else

static const herd_mode mode_reuseport = {
    .name = "reuseport",
    .how = "its own SO_REUSEPORT socket (Linux 3.9+ balancing only)",
};

#endif

/* ---- three locks: take turns at the listener -------------------------------- */
/*
 * Only the worker that holds a lock may accept; the others wait for their
 * turn. There is no herd on the socket, because only one worker waits on
 * it; the question is what waiting for the lock costs. Three locks, three
 * answers.
 *
 * fcntl-lock and pthread-mutex block: the holder sleeps in accept(), the
 * others sleep on the lock, and the holder lets go as soon as accept()
 * returns, so that the next one waits while it serves. nginx-mutex never
 * blocks on the lock: it is nginx's try-lock (see below).
 */

/* fcntl-lock and pthread-mutex: take the lock, block in accept(), let go.
 * lock() returns 0, HERD_AGAIN or HERD_STOP; unlock() 0 or HERD_STOP; both
 * print what failed. */
static int accept_in_turn(herd *h, int w, int (*lock)(herd *), int (*unlock)(herd *))
{
    int r = lock(h);
    if (r != 0)
        return r;
    int fd = herd_accept(h->listen_fd);
    int e = errno;
    if (unlock(h) != 0) {
        if (fd != -1)
            close(fd);
        return HERD_STOP;
    }
    errno = e;
    return accept_returned(h, w, fd);
}

static int map_lock(herd *h)
{
    h->call = "mmap (the lock)";
    void *p = counters_shared_map(sizeof(shared_lock));
    if (p == NULL)
        return -1;
    h->lock_mem = p;
    atomic_init(&((shared_lock *)p)->owner, 0);
    return 0;
}

/* ---- fcntl-lock: a record lock around accept() (UNP, Apache) ---------------- */
/*
 * UNP's serv03 (ch. 30) and Apache's `AcceptMutex fcntl`. The lock is an
 * fcntl() record lock on a temporary file: it works across processes, and
 * the kernel releases it when its holder dies, so a crashed worker cannot
 * block the others. (Record locks belong to a process and are not inherited
 * by fork(), which is exactly right here.) The file is unlinked at once;
 * the open fd keeps it alive.
 *
 * The herd has moved from the socket to the lock: releasing a record lock
 * wakes the waiters queued on it (the kernel's __locks_wake_up_blocks), one
 * of them gets it and the others go back to sleep. The more workers wait,
 * the more wake per connection: compare woken/conn with --workers 4 and 8.
 */

static int fcntl_setup(herd *h)
{
    if (shared_listener(h, 0) == -1)
        return -1;
    const char *dir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/thundering-herd.lock.XXXXXX",
             dir != NULL && *dir != '\0' ? dir : "/tmp");
    h->call = "mkstemp";
    h->lock_fd = mkstemp(path);
    if (h->lock_fd == -1)
        return -1;
    unlink(path);
    h->call = "fcntl(FD_CLOEXEC)";
    return net_set_cloexec(h->lock_fd);
}

static int lock_file(int fd, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
    return fcntl(fd, F_SETLKW, &fl);
}

static int fcntl_lock(herd *h)
{
    if (lock_file(h->lock_fd, F_WRLCK) == 0)
        return 0;
    return wait_failed("fcntl(F_SETLKW)");
}

static int fcntl_unlock(herd *h)
{
    if (lock_file(h->lock_fd, F_UNLCK) == 0)
        return 0;
    fprintf(stderr, "[worker %d] fcntl(F_UNLCK): %s\n", (int)getpid(), strerror(errno));
    return HERD_STOP;
}

static int fcntl_wait(herd *h, int w)
{
    return accept_in_turn(h, w, fcntl_lock, fcntl_unlock);
}

static const herd_mode mode_fcntl_lock = {
    .name = "fcntl-lock",
    .how = "an fcntl() lock around a blocking accept() (UNP serv03, Apache)",
    .available = 1,
    .setup = fcntl_setup,
    .worker_init = nothing_to_init,
    .worker_wait = fcntl_wait,
    .teardown = close_everything,
};

/* ---- pthread-mutex: a robust process-shared mutex around accept() ---------- */
/*
 * UNP's serv04: the same turns, with a pthread mutex in the shared memory,
 * made PTHREAD_PROCESS_SHARED so that processes, not only threads, may use
 * it. On Linux it is a futex: a free mutex is taken with one atomic
 * instruction and no system call, and an unlock wakes at most one waiter.
 * So a connection wakes two workers, whatever their number: the holder,
 * from accept(), and the one waiter its unlock hands the turn to.
 *
 * A plain mutex whose holder dies stays locked for ever, and every other
 * worker waits for ever. PTHREAD_MUTEX_ROBUST makes the kernel mark the
 * mutex when its holder dies, and the next pthread_mutex_lock() returns
 * EOWNERDEAD, with the lock taken. The lock guards nothing that a death
 * could leave half-done (an accept() either gave the dead worker its
 * connection or did not), so the new holder declares the mutex consistent
 * and goes on.
 *
 * Robust process-shared mutexes are POSIX.1-2008, but not every system has
 * them (macOS has neither); the mode runs on Linux here (glibc and musl).
 */
#ifdef __linux__

static int pthread_setup(herd *h)
{
    if (shared_listener(h, 0) == -1 || map_lock(h) == -1)
        return -1;
    shared_lock *l = h->lock_mem;
    pthread_mutexattr_t attr;
    int e = pthread_mutexattr_init(&attr);
    h->call = "pthread_mutexattr_init";
    if (e == 0) {
        h->call = "pthread_mutexattr_setpshared";
        e = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
        if (e == 0) {
            h->call = "pthread_mutexattr_setrobust";
            e = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
        }
        if (e == 0) {
            h->call = "pthread_mutex_init";
            e = pthread_mutex_init(&l->mutex, &attr);
        }
        pthread_mutexattr_destroy(&attr);
    }
    errno = e; /* pthread calls return the error instead of setting errno */
    return e == 0 ? 0 : -1;
}

static int pthread_lock(herd *h)
{
    shared_lock *l = h->lock_mem;
    int e = pthread_mutex_lock(&l->mutex);
    if (e == EOWNERDEAD) {
        h->owner_died = 1;
        e = pthread_mutex_consistent(&l->mutex);
    }
    if (e == 0)
        return 0;
    fprintf(stderr, "[worker %d] pthread_mutex_lock: %s\n", (int)getpid(), strerror(e));
    return HERD_STOP;
}

static int pthread_unlock(herd *h)
{
    shared_lock *l = h->lock_mem;
    int e = pthread_mutex_unlock(&l->mutex);
    if (e == 0)
        return 0;
    fprintf(stderr, "[worker %d] pthread_mutex_unlock: %s\n", (int)getpid(), strerror(e));
    return HERD_STOP;
}

/* Say so when a connection came through a lock taken over from a dead
 * holder. Not before: when the master stops the workers, the holder may die
 * first and hand its lock to a waiter that is about to be stopped too. */
static int pthread_wait(herd *h, int w)
{
    int fd = accept_in_turn(h, w, pthread_lock, pthread_unlock);
    if (fd >= 0 && h->owner_died) {
        printf("[worker %d] pthread-mutex: EOWNERDEAD: took the lock over from a "
               "holder that died, and accepted\n",
               (int)getpid());
        h->owner_died = 0;
    }
    return fd;
}

static const herd_mode mode_pthread_mutex = {
    .name = "pthread-mutex",
    .how =
        "a robust process-shared pthread mutex around a blocking accept() (UNP serv04)",
    .available = 1,
    .setup = pthread_setup,
    .worker_init = nothing_to_init,
    .worker_wait = pthread_wait,
    .teardown = close_everything,
};

#else

static const herd_mode mode_pthread_mutex = {
    .name = "pthread-mutex",
    .how = "a robust process-shared pthread mutex around accept() (Linux only here)",
};

#endif

/* ---- nginx-mutex: nginx's accept_mutex, a try-lock -------------------------- */
/*
 * What nginx does with `accept_mutex on` (its default until 1.11.3). Nobody
 * sleeps on this lock and nobody blocks in accept(). Every worker runs an
 * event loop (epoll on Linux, as nginx does there; poll elsewhere), and
 * each time round it *tries* the lock, a word in the shared memory taken by
 * one compare-and-swap from 0 to the worker's pid (ngx_trylock_accept_mutex):
 *
 *   - got it: put the listener into its own epoll set, if it is not there
 *     yet, and wait for as long as it likes; accept what comes, and let go
 *     of the lock before serving (nginx unlocks once its accept events are
 *     handled);
 *   - did not: take the listener out of its set, if it was there, and wait
 *     for its own events at most accept_mutex_delay (500 ms, --mutex-delay),
 *     then try again.
 *
 * Only one set holds the listener, so a connection wakes one worker. The
 * others wake when their delay runs out, connection or not: those are their
 * wakeups. And the holder tries again as soon as it has accepted, while
 * the others are still waiting out their delay, so under light load one
 * worker takes nearly everything (README exercise 4).
 *
 * nginx falls back to a lock file only where it has no atomic operations,
 * and even then it only *tries* the lock (F_SETLK, never F_SETLKW).
 *
 * A worker that dies holding the word would hold it for ever: nginx's
 * master clears the word when it reaps a worker whose pid is in it
 * (ngx_unlock_mutexes). Here spawn_prepare does that, before it forks the
 * dead worker's replacement.
 */

static int nginx_setup(herd *h)
{
    /* Non-blocking: the holder accepts when its event loop says so. */
    if (shared_listener(h, 1) == -1)
        return -1;
    return map_lock(h);
}

static int nginx_spawn_prepare(herd *h, int w)
{
    shared_lock *l = h->lock_mem;
    int dead = atomic_load(&h->count->slot[w].pid); /* 0 at the first start */
    int expected = dead;
    if (dead > 0 && atomic_compare_exchange_strong(&l->owner, &expected, 0))
        printf("[master %d] nginx-mutex: worker %d died holding the accept lock; "
               "released it\n",
               (int)getpid(), dead);
    return 0;
}

static int nginx_trylock(herd *h, int me)
{
    shared_lock *l = h->lock_mem;
    int free_word = 0;
    /* Look before the compare-and-swap, as nginx does: a plain load does
     * not claim the cache line for writing. */
    return atomic_load(&l->owner) == 0 &&
           atomic_compare_exchange_strong(&l->owner, &free_word, me);
}

static void nginx_unlock(herd *h, int me)
{
    shared_lock *l = h->lock_mem;
    atomic_compare_exchange_strong(&l->owner, &me, 0);
}

#ifdef __linux__

static int nginx_init(herd *h, int w)
{
    (void)w;
    h->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (h->epfd == -1)
        return -1;
    struct epoll_event life = {.events = EPOLLIN, .data.fd = h->lifeline};
    return epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->lifeline, &life);
}

/* Put the listener into this worker's set, or take it out
 * (ngx_enable_accept_events, ngx_disable_accept_events). */
static int nginx_watch(herd *h, int on)
{
    if (h->held == on)
        return 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = h->listen_fd};
    if (epoll_ctl(h->epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, h->listen_fd, &ev) == -1) {
        fprintf(stderr, "[worker %d] epoll_ctl: %s\n", (int)getpid(), strerror(errno));
        return -1;
    }
    h->held = on;
    return 0;
}

/* One turn of the event loop: which of the lifeline and the listener (if
 * it is in the set) became readable within timeout_ms. -1 on error. */
static int nginx_events(herd *h, int timeout_ms, int *listener, int *lifeline)
{
    struct epoll_event ev[2];
    int n = epoll_wait(h->epfd, ev, 2, timeout_ms);
    for (int i = 0; i < n; i++) {
        if (ev[i].data.fd == h->lifeline)
            *lifeline = 1;
        else
            *listener = 1;
    }
    return n == -1 ? -1 : 0;
}

#else /* poll(): the set is rebuilt on every call, so h->held says it all */

#define nginx_init nothing_to_init

static int nginx_watch(herd *h, int on)
{
    h->held = on;
    return 0;
}

static int nginx_events(herd *h, int timeout_ms, int *listener, int *lifeline)
{
    struct pollfd pfd[2] = {
        {.fd = h->lifeline, .events = POLLIN},
        {.fd = h->held ? h->listen_fd : -1, .events = POLLIN}, /* -1: ignored */
    };
    int n = poll(pfd, 2, timeout_ms);
    *lifeline = n > 0 && pfd[0].revents != 0;
    *listener = n > 0 && pfd[1].revents != 0;
    return n == -1 ? -1 : 0;
}

#endif

static int nginx_wait(herd *h, int w)
{
    int me = atomic_load(&h->count->slot[w].pid);
    int locked = nginx_trylock(h, me);
    if (nginx_watch(h, locked) == -1) {
        if (locked)
            nginx_unlock(h, me);
        return HERD_STOP;
    }
    int delay = h->cfg->mutex_delay_ms > 0 ? h->cfg->mutex_delay_ms : 500;
    int listener = 0, lifeline = 0;
    int r = nginx_events(h, locked ? -1 : delay, &listener, &lifeline);
    int e = errno;
    int fd = -1;
    if (r == 0 && listener && !lifeline) {
        fd = herd_accept(h->listen_fd);
        e = errno;
    }
    if (locked)
        nginx_unlock(h, me);
    errno = e;
    if (r == -1)
        return wait_failed("waiting for events");
    if (lifeline)
        return HERD_STOP;
    if (!listener)
        return HERD_AGAIN; /* the delay ran out: try the lock again */
    return woken(h, w, fd);
}

static const herd_mode mode_nginx_mutex = {
    .name = "nginx-mutex",
#ifdef __linux__
    .how = "nginx's accept_mutex: a try-lock; only the holder epolls the listener",
#else
    .how = "nginx's accept_mutex: a try-lock; only the holder polls the listener",
#endif
    .available = 1,
    .setup = nginx_setup,
    .spawn_prepare = nginx_spawn_prepare,
    .worker_init = nginx_init,
    .worker_wait = nginx_wait,
    .teardown = close_everything,
};

/* ---- rr-when-served, rr-on-ack: the master accepts and hands out ----------- */
/*
 * The master alone listens and accepts; each connection goes to the next
 * *free* worker as an SCM_RIGHTS message (chapter 05's fdpass) on that
 * worker's channel, a socketpair, and the worker answers with one byte.
 * Nobody else wakes, and the spread is even. The price: every connection
 * crosses the master, one more hop and one more process that must keep
 * up. The two modes differ in what "free" means, and so in what a stalled
 * worker does:
 *
 *   rr-when-served  the worker's byte says "served": it is free again once
 *                   it has answered the connection. A stalled worker is not
 *                   free, so it is passed over. While no worker is free the
 *                   master stops accepting, and connections wait in the
 *                   kernel's queue.
 *   rr-on-ack       what Node's primary does (RoundRobinHandle in
 *                   lib/internal/cluster/round_robin_handle.js): the byte
 *                   is the worker's acknowledgement ({"accepted": true} in
 *                   Node), sent as soon as the connection arrives, before
 *                   it is served. The master accepts whatever comes and
 *                   queues it (Node's handles[]); a worker that acks is
 *                   handed the next queued connection at once, or joins the
 *                   free list (Node's free[]). So a stalled worker is free
 *                   again the moment its stall begins, and the next
 *                   connection waits in its channel until the stall ends.
 */

static void free_push(herd *h, int w)
{
    h->free_q[(h->free_head + h->free_len) % h->cfg->workers] = w;
    h->free_len++;
}

static int free_pop(herd *h)
{
    int w = h->free_q[h->free_head];
    h->free_head = (h->free_head + 1) % h->cfg->workers;
    h->free_len--;
    return w;
}

/* Forget worker w in the free queue (its process is being replaced):
 * rotate the ring once, putting back everyone else in order. */
static void free_remove(herd *h, int w)
{
    int n = h->free_len;
    for (int i = 0; i < n; i++) {
        int x = free_pop(h);
        if (x != w)
            free_push(h, x);
    }
}

static int rr_setup(herd *h)
{
    /* Non-blocking: the master accepts from its event loop and must not
     * hang if a connection is aborted between "readable" and accept(). */
    return shared_listener(h, 1);
}

/* Pass connection conn to worker w, and drop the master's reference. */
static void rr_send(herd *h, int w, int conn)
{
    /* One byte of data carries the fd: SCM_RIGHTS needs some. */
    if (fdpass_send(h->fds[w], "c", 1, conn) != 1)
        fprintf(stderr, "[master %d] fdpass_send to worker slot %d: %s\n", (int)getpid(),
                w, strerror(errno));
    close(conn); /* the worker has its own reference now */
}

/* rr-on-ack: worker w is free. Give it the oldest queued connection, or
 * put it on the free list (RoundRobinHandle.handoff). */
static void ack_handoff(herd *h, int w)
{
    if (h->pending_len == 0) {
        free_push(h, w);
        return;
    }
    int conn = h->pending[h->pending_head];
    h->pending_head = (h->pending_head + 1) % h->pending_cap;
    h->pending_len--;
    rr_send(h, w, conn);
}

/* rr-on-ack: queue a connection; if a worker is free, hand out the oldest
 * (RoundRobinHandle.distribute). Node's queue has no bound; this one grows. */
static int ack_distribute(herd *h, int conn)
{
    if (h->pending_len == h->pending_cap) {
        int cap = h->pending_cap > 0 ? 2 * h->pending_cap : 16;
        int *q = malloc((size_t)cap * sizeof *q);
        if (q == NULL)
            return -1;
        for (int i = 0; i < h->pending_len; i++)
            q[i] = h->pending[(h->pending_head + i) % h->pending_cap];
        free(h->pending);
        h->pending = q;
        h->pending_head = 0;
        h->pending_cap = cap;
    }
    h->pending[(h->pending_head + h->pending_len) % h->pending_cap] = conn;
    h->pending_len++;
    if (h->free_len > 0)
        ack_handoff(h, free_pop(h));
    return 0;
}

static int on_ack(const herd *h)
{
    return h->mode->worker_done == NULL;
}

static void rr_on_listener(loop_t *loop, int fd, int events, void *arg);

static void rr_on_channel(loop_t *loop, int fd, int events, void *arg)
{
    (void)events;
    herd *h = arg;
    int w = 0;
    while (w < h->cfg->workers && h->fds[w] != fd)
        w++;
    char bytes[64];
    ssize_t n = read(fd, bytes, sizeof bytes);
    if (n == -1 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        /* The worker is gone; the supervisor reaps it and makes another. */
        loop_unwatch(loop, fd);
        close_fd(&h->fds[w]);
        free_remove(h, w);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (on_ack(h))
            ack_handoff(h, w); /* one byte per connection acknowledged */
        else
            free_push(h, w); /* one byte per connection served */
    }
    if (h->paused && h->free_len > 0) {
        h->paused = 0;
        loop_modify(loop, h->listen_fd, LOOP_READ);
    }
}

static int rr_spawn_prepare(herd *h, int w)
{
    if (h->fds[w] != -1) { /* a replacement: drop the dead worker's channel */
        loop_unwatch(h->loop, h->fds[w]);
        close_fd(&h->fds[w]);
        free_remove(h, w);
    }
    int sv[2];
    if (net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv) == -1) {
        h->call = "socketpair";
        return -1;
    }
    h->fds[w] = sv[0];
    h->peer[w] = sv[1];
    return 0;
}

static void rr_spawn_done(herd *h, int w, pid_t pid)
{
    close_fd(&h->peer[w]); /* the worker's end is the worker's */
    if (pid == -1) {
        close_fd(&h->fds[w]);
        return;
    }
    if (loop_watch(h->loop, h->fds[w], LOOP_READ, rr_on_channel, h) == -1)
        fprintf(stderr, "[master %d] loop_watch: %s\n", (int)getpid(), strerror(errno));
    if (on_ack(h))
        ack_handoff(h, w); /* RoundRobinHandle.add: in case some are queued */
    else
        free_push(h, w);
}

static int rr_master_start(herd *h)
{
    return loop_watch(h->loop, h->listen_fd, LOOP_READ, rr_on_listener, h);
}

static void rr_on_listener(loop_t *loop, int fd, int events, void *arg)
{
    (void)events;
    herd *h = arg;
    /* rr-on-ack accepts whatever comes, as Node's primary does;
     * rr-when-served only while a worker is free. */
    while (on_ack(h) || h->free_len > 0) {
        int conn = herd_accept(fd);
        if (conn == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                fprintf(stderr, "[master %d] accept: %s\n", (int)getpid(),
                        strerror(errno));
            return;
        }
        if (!on_ack(h)) {
            rr_send(h, free_pop(h), conn);
        } else if (ack_distribute(h, conn) == -1) {
            fprintf(stderr, "[master %d] malloc: %s\n", (int)getpid(), strerror(errno));
            close(conn);
        }
    }
    /* rr-when-served, nobody free: stop accepting. New connections wait in
     * the kernel's queue until a worker reports back. */
    h->paused = 1;
    loop_modify(loop, fd, 0);
}

static int rr_worker_init(herd *h, int w)
{
    /* A worker needs its own channel end only: not the listener (that is
     * the master's job here), not the master's ends of any channel, not
     * connections the master has queued. */
    close_fd(&h->listen_fd);
    for (int i = 0; i < h->cfg->workers; i++) {
        close_fd(&h->fds[i]);
        if (i != w)
            close_fd(&h->peer[i]);
    }
    for (int i = 0; i < h->pending_len; i++)
        close(h->pending[(h->pending_head + i) % h->pending_cap]);
    h->pending_len = 0;
    return 0;
}

/* The worker waits for its channel to become readable with poll(), and only
 * then calls recvmsg(), as an event loop (libuv's, in a Node worker) does.
 * A worker blocked in recvmsg() itself would be woken a second time per
 * connection: when the master reads the worker's one-byte reply, the
 * kernel frees that byte's buffer and wakes every sleeper on the worker's
 * socket to say "you may write again". A sleeper in recvmsg() is woken
 * whatever the reason; poll() (like epoll) hears only the events it asked
 * for, POLLIN here, and stays asleep. */
static int rr_wait(herd *h, int w)
{
    struct pollfd pfd = {.fd = h->peer[w], .events = POLLIN};
    if (poll(&pfd, 1, -1) == -1)
        return wait_failed("poll");
    char byte;
    fdpass_in_t in;
    ssize_t n = fdpass_recv(h->peer[w], &byte, 1, 1, &in);
    if (n == -1 && errno == EINTR)
        return HERD_AGAIN;
    if (n <= 0)
        return HERD_STOP; /* EOF: the master is gone */
    if (in.nfds != 1)
        return HERD_AGAIN;
    counter_slot *s = &h->count->slot[w];
    counters_add(&s->wakeups);
    counters_add(&s->accepts);
    return in.fds[0];
}

/* A byte to the master: "free again". */
static void rr_reply(herd *h, int w)
{
    while (write(h->peer[w], "r", 1) == -1 && errno == EINTR)
        ;
}

/* rr-on-ack: acknowledge at once, then serve (Node's child.js sends
 * {ack, accepted: true} before it emits 'connection'). */
static int rr_ack_wait(herd *h, int w)
{
    int conn = rr_wait(h, w);
    if (conn >= 0)
        rr_reply(h, w);
    return conn;
}

static const herd_mode mode_rr_when_served = {
    .name = "rr-when-served",
    .how = "the master accepts and passes each connection to the next worker that "
           "has served its last",
    .available = 1,
    .setup = rr_setup,
    .spawn_prepare = rr_spawn_prepare,
    .spawn_done = rr_spawn_done,
    .master_start = rr_master_start,
    .worker_init = rr_worker_init,
    .worker_wait = rr_wait,
    .worker_done = rr_reply,
    .teardown = close_everything,
};

static const herd_mode mode_rr_on_ack = {
    .name = "rr-on-ack",
    .how = "the same, but a worker is free once it acknowledges a connection, "
           "before serving it (Node's RoundRobinHandle)",
    .available = 1,
    .setup = rr_setup,
    .spawn_prepare = rr_spawn_prepare,
    .spawn_done = rr_spawn_done,
    .master_start = rr_master_start,
    .worker_init = rr_worker_init,
    .worker_wait = rr_ack_wait,
    .teardown = close_everything,
};

/* ---- node-rr, node-none: Node's own cluster, measured from outside --------- */
/*
 * The real thing beside the models: node node/cluster.js, a Node primary
 * with N cluster workers that answer exactly as the C workers do (one line
 * naming the worker, then close), under the same load client. Node picks
 * its scheduling from NODE_CLUSTER_SCHED_POLICY: rr (its default but on
 * Windows: the primary accepts and hands out, as rr-on-ack does) or none
 * (every worker has the listener in its own libuv epoll set, as the epoll
 * mode does).
 *
 * The counts come from outside the Node code that is measured: each worker
 * counts its 'connection' events (accepts), its replies (served) and its
 * stalls (naps), and reports them to the primary at the end; the driver
 * reads the workers' context switches from /proc, as for its own. What a
 * Node worker cannot see is how often it returned from epoll_wait for
 * nothing: libuv swallows the EAGAIN of a lost race. So these rows have
 * no ret/conn and no EAGAIN.
 *
 * The conversation, on the node primary's stdin and stdout:
 *   node prints, once every worker listens,
 *     [primary PID] POLICY: listening on HOST:PORT (pid PID); workers P1 P2 ...
 *   EOF on its stdin asks for the counts; it prints one line per worker,
 *     [primary PID] worker P: accepts A served S naps N
 *   stops its workers and exits 0.
 * EOF on stdin is also what it gets when this process dies, even by
 * SIGKILL; and on Linux PR_SET_PDEATHSIG kills it outright. Its workers
 * exit when their channel to it closes (Node's cluster does that).
 */

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* One line from the node primary, without its newline, waiting at most
 * until deadline (CLOCK_MONOTONIC ms). Byte by byte: a handful of short
 * lines, and nothing read past the line is lost. 1, 0 at EOF, -1 on
 * timeout or error. */
static int node_line(herd *h, char *line, size_t cap, double deadline)
{
    size_t len = 0;
    for (;;) {
        struct pollfd pfd = {.fd = h->server_out, .events = POLLIN};
        double left = deadline - mono_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        int r = poll(&pfd, 1, (int)left + 1);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = ETIMEDOUT;
            return -1;
        }
        char c;
        ssize_t n = read(h->server_out, &c, 1);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return -1;
        if (n == 0 || c == '\n') {
            line[len] = '\0';
            if (n == 1 && h->cfg->verbose)
                printf("%s\n", line);
            return n == 0 && len == 0 ? 0 : 1;
        }
        if (len + 1 < cap)
            line[len++] = c;
    }
}

/* Reap the node primary: at most 5 s for it to exit on its own, then
 * SIGKILL (its workers follow, their channel closed). Its status, or -1. */
static int node_reap(herd *h)
{
    int status = -1;
    for (int tries = 0; tries < 500; tries++) {
        pid_t r = waitpid(h->server, &status, WNOHANG);
        if (r == h->server)
            goto out;
        if (r == -1 && errno != EINTR)
            goto out;
        struct timespec ms10 = {0, 10000000L};
        nanosleep(&ms10, NULL);
    }
    fprintf(stderr, "[master %d] node %d did not stop; killing it\n", (int)getpid(),
            (int)h->server);
    kill(h->server, SIGKILL);
    while (waitpid(h->server, &status, 0) == -1 && errno == EINTR)
        ;
out:
    h->server = 0;
    return status;
}

/* node_start's three pipes, close-on-exec (the child dup2()s the ends it
 * keeps onto 0 and 1, which clears the flag on the copies): all or none. */
static int node_pipes(int in[2], int out[2], int ex[2])
{
    if (net_pipe(in, O_CLOEXEC) == -1)
        return -1;
    if (net_pipe(out, O_CLOEXEC) == -1)
        goto close_in;
    if (net_pipe(ex, O_CLOEXEC) == -1)
        goto close_out;
    return 0;
close_out:
    close(out[0]);
    close(out[1]);
close_in:
    close(in[0]);
    close(in[1]);
    return -1;
}

/* In the forked child: stdin from `in`, stdout to `out`, then exec node
 * node/cluster.js with the run's flags. If that fails, the errno goes to
 * the master on `ex`. Between fork and exec: _exit only. snprintf() and
 * setenv() are safe here because this process has one thread. */
static _Noreturn void node_exec(const herd_config *cfg, const char *policy, pid_t master,
                                int in, int out, int ex)
{
    char workers[16], port[16], stall[16];
    snprintf(workers, sizeof workers, "%d", cfg->workers);
    snprintf(port, sizeof port, "%d", cfg->port);
    snprintf(stall, sizeof stall, "%d", cfg->stall_worker >= 0 ? cfg->stall_ms : 0);
    char *argv[] = {(char *)cfg->node,
                    (char *)cfg->node_script,
                    "--workers",
                    workers,
                    "--host",
                    (char *)cfg->host,
                    "--port",
                    port,
                    "--stall-worker",
                    stall,
                    NULL};
    if (sup_child_guard(master, SIGKILL) != -1 && dup2(in, 0) != -1 &&
        dup2(out, 1) != -1 && setenv("NODE_CLUSTER_SCHED_POLICY", policy, 1) != -1)
        execvp(cfg->node, argv);
    int e = errno;
    while (write(ex, &e, sizeof e) == -1 && errno == EINTR)
        ;
    _exit(127);
}

/* The exec-failure pipe: EOF means exec succeeded (the pipe was
 * close-on-exec); an errno means it did not, and the child is reaped. */
static int node_exec_result(herd *h, int ex)
{
    int e;
    ssize_t n;
    while ((n = read(ex, &e, sizeof e)) == -1 && errno == EINTR)
        ;
    close(ex);
    if (n != (ssize_t)sizeof e)
        return 0;
    node_reap(h);
    errno = e;
    h->call = "exec (NODE)";
    return -1;
}

/* Start node node/cluster.js with NODE_CLUSTER_SCHED_POLICY=policy; its
 * stdin and stdout become h->server_in and h->server_out. */
static int node_start(herd *h, const char *policy)
{
    int in[2], out[2], ex[2];
    h->call = "pipe";
    if (node_pipes(in, out, ex) == -1)
        return -1;
    pid_t master = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        node_exec(h->cfg, policy, master, in[0], out[1], ex[1]);
    int e = errno;
    close(in[0]);
    close(out[1]);
    close(ex[1]);
    if (pid == -1) {
        close(in[1]);
        close(out[0]);
        close(ex[0]);
        errno = e;
        h->call = "fork";
        return -1;
    }
    h->server = pid;
    h->server_in = in[1];
    h->server_out = out[0];
    return node_exec_result(h, ex[0]);
}

/* Wait (bounded) until every node worker sleeps: they have started, but a
 * Node process keeps doing startup work for a moment after 'listening'. */
static void node_settle(herd *h)
{
    for (int tries = 0; tries < 200; tries++) {
        int all = 1;
        for (int w = 0; w < h->cfg->workers && all; w++)
            all = counters_is_asleep(atomic_load(&h->count->slot[w].pid)) == 1;
        if (all)
            return;
        struct timespec ms5 = {0, 5000000L};
        nanosleep(&ms5, NULL);
    }
}

/* The node primary's line
 *   [primary PID] POLICY: listening on HOST:PORT (pid PID); workers P1 P2 ...
 * gives the port and the workers' pids. 1 if line was it, 0 if it is some
 * other line, -1 (errno EPROTO) if the pids are not there. */
static int node_listening(herd *h, const char *line)
{
    const char *at = strstr(line, ": listening on ");
    const char *pidp = at != NULL ? strstr(at, " (pid ") : NULL;
    const char *ws = pidp != NULL ? strstr(pidp, "; workers ") : NULL;
    if (ws == NULL)
        return 0;
    const char *colon = pidp;
    while (colon > at && *colon != ':')
        colon--;
    h->port = atoi(colon + 1);
    const char *p = ws + strlen("; workers ");
    for (int w = 0; w < h->cfg->workers; w++) {
        char *end;
        long pid = strtol(p, &end, 10);
        if (end == p || pid <= 0) {
            h->call = "reading the node workers' pids";
            errno = EPROTO;
            return -1;
        }
        atomic_store(&h->count->slot[w].pid, (int)pid);
        p = end;
    }
    return 1;
}

/* Once the node workers sleep: their context switches so far, the base
 * their sleeps are counted from. */
static void node_sleeps_base(herd *h)
{
    node_settle(h);
    for (int w = 0; w < h->cfg->workers; w++) {
        long base = counters_switches_of(atomic_load(&h->count->slot[w].pid));
        counters_set(&h->count->slot[w].sleeps_base, base > 0 ? (unsigned long)base : 0);
    }
}

/* Start node with policy and read its output until it listens. */
static int node_setup_policy(herd *h, const char *policy)
{
    if (node_start(h, policy) == -1)
        return -1;
    char line[1024];
    double deadline = mono_ms() + 60000; /* N node processes starting on a busy machine */
    int r, found = 0;
    while (found == 0 && (r = node_line(h, line, sizeof line, deadline)) == 1)
        found = node_listening(h, line);
    if (found == 1) {
        node_sleeps_base(h);
        return 0;
    }
    if (found == 0) {
        h->call = r == 0 ? "node exited before listening" : "waiting for node to listen";
        if (r == 0)
            errno = EPIPE;
    }
    int e = errno;
    close_fd(&h->server_in);
    close_fd(&h->server_out);
    node_reap(h);
    errno = e;
    return -1;
}

static int node_rr_setup(herd *h)
{
    return node_setup_policy(h, "rr");
}

static int node_none_setup(herd *h)
{
    return node_setup_policy(h, "none");
}

static int node_stop(herd *h)
{
    close_fd(&h->server_in); /* EOF: "your counts, please" */
    char line[256];
    int reported = 0, r;
    double deadline = mono_ms() + 10000;
    while ((r = node_line(h, line, sizeof line, deadline)) == 1) {
        int pid;
        unsigned long accepts, served, naps;
        const char *at = strstr(line, "] worker ");
        if (at == NULL || sscanf(at, "] worker %d: accepts %lu served %lu naps %lu", &pid,
                                 &accepts, &served, &naps) != 4)
            continue;
        for (int w = 0; w < h->cfg->workers; w++) {
            counter_slot *s = &h->count->slot[w];
            if (atomic_load(&s->pid) != pid)
                continue;
            counters_set(&s->accepts, accepts);
            counters_set(&s->served, served);
            counters_set(&s->naps, naps);
            /* The naps arrive only now: take them out of the sleeps the
             * driver read from /proc before it stopped us. */
            unsigned long sleeps = counters_get(&s->sleeps);
            counters_set(&s->sleeps, sleeps > naps ? sleeps - naps : 0);
            reported++;
        }
    }
    if (r == -1)
        fprintf(stderr, "[master %d] %s: reading the counts: %s\n", (int)getpid(),
                h->mode->name, strerror(errno));
    close_fd(&h->server_out);
    int status = node_reap(h);
    if (reported == h->cfg->workers && status != -1 && WIFEXITED(status) &&
        WEXITSTATUS(status) == 0)
        return 0;
    fprintf(stderr,
            "[master %d] %s: node reported %d of %d workers' counts (status %d)\n",
            (int)getpid(), h->mode->name, reported, h->cfg->workers, status);
    return -1;
}

static const herd_mode mode_node_rr = {
    .name = "node-rr",
    .how = "Node's own cluster, NODE_CLUSTER_SCHED_POLICY=rr: its primary accepts and "
           "hands out (node/cluster.js)",
    .available = 1,
    .needs = "node",
    .setup = node_rr_setup,
    .server_stop = node_stop,
    .teardown = close_everything,
};

static const herd_mode mode_node_none = {
    .name = "node-none",
    .how = "Node's own cluster, NODE_CLUSTER_SCHED_POLICY=none: each worker epolls the "
           "shared listener",
    .available = 1,
    .needs = "node",
    .setup = node_none_setup,
    .server_stop = node_stop,
    .teardown = close_everything,
};

const herd_mode *const herd_modes[] = {
    &mode_accept,
    &mode_select,
    &mode_poll,
    &mode_epoll,
    &mode_epoll_exclusive,
    &mode_reuseport,
    &mode_fcntl_lock,
    &mode_pthread_mutex,
    &mode_nginx_mutex,
    &mode_rr_when_served,
    &mode_rr_on_ack,
    &mode_node_rr,
    &mode_node_none,
    NULL,
};
