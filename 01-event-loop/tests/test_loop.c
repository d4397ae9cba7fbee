/*
 * test_loop.c: unit tests of the reactor (loop.h), run against every backend.
 *
 *   make test          (or: make && ./build/test_loop)
 *
 * The same suite runs three times, once per backend (select, poll, and
 * epoll on Linux), because the point of loop.h is that the backends behave
 * identically. Each group is named after its backend in cmocka's output.
 *
 * Timing tests assert lower bounds exactly (a timer never fires early) and
 * upper bounds generously: the machine is shared and has 2 cores.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

/* Generous slack for "it fired soon enough" on a loaded machine. */
#define SLACK_MS 400

static loop_t *new_loop(void **state)
{
    loop_backend_t b = *(loop_backend_t *)*state;
    loop_t *loop = loop_new(b);
    assert_non_null(loop);
    assert_int_equal(loop_backend(loop), b);
    return loop;
}

static void make_pipe(int p[2])
{
    assert_int_equal(pipe(p), 0);
    assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
}

static void put_byte(int fd)
{
    assert_int_equal(write(fd, "x", 1), 1);
}

/* A callback that records how it was called. */
struct seen {
    int calls;
    int fd;
    int events;
};

static void record(loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    struct seen *s = arg;
    s->calls++;
    s->fd = fd;
    s->events = events;
}

/* ---------------------------------------------------------------------- */
/* Readiness                                                              */

static void test_read_readiness(void **state)
{
    loop_t *loop = new_loop(state);
    int p[2];
    make_pipe(p);
    struct seen s = {0};
    assert_int_equal(loop_watch(loop, p[0], LOOP_READ, record, &s), 0);
    assert_int_equal(loop_watch_count(loop), 1);

    assert_int_equal(loop_run_once(loop, 30), 0);
    assert_int_equal(s.calls, 0); /* nothing written yet */

    put_byte(p[1]);
    assert_int_equal(loop_run_once(loop, 2000), 0);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.fd, p[0]);
    assert_true(s.events & LOOP_READ);

    /* Level-triggered: still unread, so ready again. */
    assert_int_equal(loop_run_once(loop, 2000), 0);
    assert_int_equal(s.calls, 2);

    /* EOF is readable too. */
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    close(p[1]);
    assert_int_equal(loop_run_once(loop, 2000), 0);
    assert_int_equal(s.calls, 3);
    assert_int_equal(read(p[0], &c, 1), 0);

    assert_int_equal(loop_unwatch(loop, p[0]), 0);
    assert_int_equal(loop_watch_count(loop), 0);
    close(p[0]);
    loop_free(loop);
}

static void test_write_readiness(void **state)
{
    loop_t *loop = new_loop(state);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    struct seen s = {0};
    assert_int_equal(loop_watch(loop, sv[0], LOOP_WRITE, record, &s), 0);
    assert_int_equal(loop_run_once(loop, 2000), 0);
    assert_int_equal(s.calls, 1);
    assert_true(s.events & LOOP_WRITE);
    assert_false(s.events & LOOP_READ);

    /* Fill the socket until the kernel refuses: no longer writable. */
    char buf[4096];
    memset(buf, 'x', sizeof buf);
    while (write(sv[0], buf, sizeof buf) > 0)
        ;
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    s.calls = 0;
    assert_int_equal(loop_run_once(loop, 50), 0);
    assert_int_equal(s.calls, 0);

    /* Drain the peer: writable again. */
    assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
    while (read(sv[1], buf, sizeof buf) > 0)
        ;
    assert_int_equal(loop_run_once(loop, 2000), 0);
    assert_int_equal(s.calls, 1);

    /* loop_modify switches interest: now only reads count. */
    assert_int_equal(loop_modify(loop, sv[0], LOOP_READ), 0);
    s.calls = 0;
    assert_int_equal(loop_run_once(loop, 50), 0);
    assert_int_equal(s.calls, 0);
    put_byte(sv[1]);
    assert_int_equal(loop_run_once(loop, 2000), 0);
    assert_int_equal(s.calls, 1);
    assert_true(s.events & LOOP_READ);

    loop_unwatch(loop, sv[0]);
    close(sv[0]);
    close(sv[1]);
    loop_free(loop);
}

/* A paused watcher (events 0) is never called, even for a hung-up socket,
 * which epoll would otherwise report whether asked or not. */
static void test_paused_watcher(void **state)
{
    loop_t *loop = new_loop(state);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    struct seen s = {0};
    assert_int_equal(loop_watch(loop, sv[0], 0, record, &s), 0);
    assert_int_equal(loop_watch_count(loop), 1);
    assert_int_equal(loop_run_once(loop, 30), 0);
    assert_int_equal(s.calls, 0);
    assert_int_equal(loop_modify(loop, sv[0], LOOP_READ), 0);
    assert_int_equal(loop_run_once(loop, 2000), 0);
    assert_int_equal(s.calls, 1);
    loop_unwatch(loop, sv[0]);
    close(sv[0]);
    loop_free(loop);
}

/* Watchers come and go in any order, and each backend keeps its own copy
 * of the interest (select its sets and their highest fd, poll a table,
 * epoll the kernel's list): after the highest fd is paused or removed the
 * lower ones are still waited on, and a resumed one is waited on again. */
static void test_highest_fd_comes_and_goes(void **state)
{
    loop_t *loop = new_loop(state);
    int lo[2], hi[2];
    make_pipe(lo);
    make_pipe(hi);
    int high = fcntl(hi[0], F_DUPFD_CLOEXEC, 100); /* above lo, below FD_SETSIZE */
    assert_true(high >= 100 && high < FD_SETSIZE);
    put_byte(lo[1]);
    put_byte(hi[1]);
    struct seen sl = {0}, sh = {0};
    assert_int_equal(loop_watch(loop, lo[0], LOOP_READ, record, &sl), 0);
    assert_int_equal(loop_watch(loop, high, LOOP_READ, record, &sh), 0);

    assert_int_equal(loop_run_once(loop, 2000), 0);
    assert_int_equal(sl.calls, 1);
    assert_int_equal(sh.calls, 1);

    assert_int_equal(loop_modify(loop, high, 0), 0); /* paused: lo alone */
    assert_int_equal(loop_run_once(loop, 2000), 0);
    assert_int_equal(sl.calls, 2);
    assert_int_equal(sh.calls, 1);

    assert_int_equal(loop_modify(loop, high, LOOP_READ), 0); /* resumed */
    assert_int_equal(loop_run_once(loop, 2000), 0);
    assert_int_equal(sl.calls, 3);
    assert_int_equal(sh.calls, 2);

    assert_int_equal(loop_unwatch(loop, high), 0); /* removed: lo alone */
    assert_int_equal(loop_run_once(loop, 2000), 0);
    assert_int_equal(sl.calls, 4);
    assert_int_equal(sh.calls, 2);

    assert_int_equal(loop_unwatch(loop, lo[0]), 0); /* nothing watched */
    assert_int_equal(loop_run_once(loop, 30), 0);
    assert_int_equal(sl.calls, 4);

    close(high);
    close(hi[0]);
    close(hi[1]);
    close(lo[0]);
    close(lo[1]);
    loop_free(loop);
}

/* The loop's cost model: a wait per iteration, and on epoll one epoll_ctl
 * per real change of a watcher's events, none for a change that changes
 * nothing. A server that sets its interest after every reply (conn.c's
 * flush) would otherwise pay an epoll_ctl per reply, and strace would show
 * epoll as the expensive backend. */
static void test_unchanged_interest_costs_no_call(void **state)
{
    loop_backend_t b = *(loop_backend_t *)*state;
    loop_t *loop = new_loop(state);
    uint64_t per_change = b == LOOP_EPOLL ? 1 : 0; /* only epoll has a list */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    struct seen s = {0};

    loop_counts_t c0 = loop_counts(loop);
    assert_int_equal(c0.waits, 0);
    assert_int_equal(c0.interest_changes, 0);
    assert_int_equal(loop_watch(loop, sv[0], LOOP_READ, record, &s), 0);
    assert_int_equal(loop_counts(loop).interest_changes, per_change); /* the add */

    /* The same events again, by loop_modify or by loop_watch (which may
     * replace the callback): nothing to tell the kernel. */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(loop_modify(loop, sv[0], LOOP_READ), 0);
        assert_int_equal(loop_watch(loop, sv[0], LOOP_READ, record, &s), 0);
    }
    assert_int_equal(loop_counts(loop).interest_changes, per_change);

    /* A real change costs one call, and takes effect. */
    assert_int_equal(loop_modify(loop, sv[0], LOOP_READ | LOOP_WRITE), 0);
    assert_int_equal(loop_modify(loop, sv[0], LOOP_READ | LOOP_WRITE), 0);
    assert_int_equal(loop_counts(loop).interest_changes, 2 * per_change);
    assert_int_equal(loop_run_once(loop, 2000), 0);
    assert_int_equal(s.calls, 1);
    assert_true(s.events & LOOP_WRITE);
    assert_int_equal(loop_counts(loop).waits, 1);

    /* Pausing takes the fd out of epoll's list once; resuming puts it back. */
    assert_int_equal(loop_modify(loop, sv[0], 0), 0);
    assert_int_equal(loop_modify(loop, sv[0], 0), 0);
    assert_int_equal(loop_counts(loop).interest_changes, 3 * per_change);
    assert_int_equal(loop_modify(loop, sv[0], LOOP_READ), 0);
    assert_int_equal(loop_modify(loop, sv[0], LOOP_READ), 0);
    assert_int_equal(loop_counts(loop).interest_changes, 4 * per_change);
    s.calls = 0;
    put_byte(sv[1]);
    assert_int_equal(loop_run_once(loop, 2000), 0);
    assert_int_equal(s.calls, 1);
    assert_true(s.events & LOOP_READ);
    assert_false(s.events & LOOP_WRITE);
    assert_int_equal(loop_counts(loop).waits, 2);

    /* Removing it and watching the same fd number anew starts afresh. */
    assert_int_equal(loop_unwatch(loop, sv[0]), 0);
    assert_int_equal(loop_counts(loop).interest_changes, 5 * per_change);
    assert_int_equal(loop_watch(loop, sv[0], LOOP_READ, record, &s), 0);
    assert_int_equal(loop_counts(loop).interest_changes, 6 * per_change);
    s.calls = 0;
    assert_int_equal(loop_run_once(loop, 2000), 0);
    assert_int_equal(s.calls, 1); /* the byte is still unread */

    loop_unwatch(loop, sv[0]);
    close(sv[0]);
    close(sv[1]);
    loop_free(loop);
}

static void test_bad_arguments(void **state)
{
    loop_t *loop = new_loop(state);
    struct seen s = {0};
    errno = 0;
    assert_int_equal(loop_watch(loop, -1, LOOP_READ, record, &s), -1);
    assert_int_equal(errno, EBADF);
    assert_int_equal(loop_modify(loop, 5, LOOP_READ), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(loop_unwatch(loop, 5), -1);
    assert_int_equal(errno, ENOENT);
    loop_free(loop);
}

/* select(2) cannot represent fd >= FD_SETSIZE in an fd_set: FD_SET would
 * write past its end. The select backend refuses with ERANGE; poll and
 * epoll watch such an fd like any other. */
static void test_fd_setsize(void **state)
{
    loop_backend_t b = *(loop_backend_t *)*state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    int high = FD_SETSIZE + 10;
    if (rl.rlim_cur <= (rlim_t)high) {
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max <= (rlim_t)high)
            skip(); /* the hard limit forbids an fd this high */
        rl.rlim_cur = (rlim_t)high + 1;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    loop_t *loop = new_loop(state);
    int p[2];
    make_pipe(p);
    assert_int_equal(dup2(p[0], high), high);
    struct seen s = {0};
    errno = 0;
    int r = loop_watch(loop, high, LOOP_READ, record, &s);
    if (b == LOOP_SELECT) {
        assert_int_equal(r, -1);
        assert_int_equal(errno, ERANGE);
        assert_int_equal(loop_watch_count(loop), 0);
        /* fds below the wall still work */
        assert_int_equal(loop_watch(loop, p[0], LOOP_READ, record, &s), 0);
        put_byte(p[1]);
        assert_int_equal(loop_run_once(loop, 2000), 0);
        assert_int_equal(s.calls, 1);
        assert_int_equal(s.fd, p[0]);
        loop_unwatch(loop, p[0]);
    } else {
        assert_int_equal(r, 0);
        put_byte(p[1]);
        assert_int_equal(loop_run_once(loop, 2000), 0);
        assert_int_equal(s.calls, 1);
        assert_int_equal(s.fd, high);
        loop_unwatch(loop, high);
    }
    close(high);
    close(p[0]);
    close(p[1]);
    loop_free(loop);
}

/* ---------------------------------------------------------------------- */
/* Changing watchers inside callbacks                                     */

/* Two readable pipes, A and B. Whichever callback runs first removes the
 * other one, whose readiness the backend has already gathered in this same
 * iteration; then it closes the other pipe and opens a new one, which gets
 * the same fd number, and watches it. Neither the removed watcher nor the
 * new watcher on the reused number may be called in this iteration. */
struct swap {
    int a[2], b[2];
    int calls_a, calls_b, calls_new;
    int new_fd[2];
    int reused;    /* the new pipe got the closed fd number */
    int use_close; /* remove the other by loop_close(), not unwatch + close */
};

static void on_new(loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    struct swap *s = arg;
    s->calls_new++;
}

static void swap_other(loop_t *loop, struct swap *s, int other[2])
{
    int old = other[0];
    if (s->use_close) {
        assert_int_equal(loop_close(loop, old), 0);
    } else {
        assert_int_equal(loop_unwatch(loop, old), 0);
        close(other[0]);
    }
    close(other[1]);
    other[0] = other[1] = -1;
    assert_int_equal(pipe(s->new_fd), 0);
    s->reused = s->new_fd[0] == old;
    assert_int_equal(loop_watch(loop, s->new_fd[0], LOOP_READ, on_new, s), 0);
}

static void on_a(loop_t *loop, int fd, int events, void *arg)
{
    (void)fd;
    (void)events;
    struct swap *s = arg;
    s->calls_a++;
    if (s->calls_b == 0)
        swap_other(loop, s, s->b);
}

static void on_b(loop_t *loop, int fd, int events, void *arg)
{
    (void)fd;
    (void)events;
    struct swap *s = arg;
    s->calls_b++;
    if (s->calls_a == 0)
        swap_other(loop, s, s->a);
}

static void remove_gathered_and_reuse(void **state, int use_close)
{
    loop_t *loop = new_loop(state);
    struct swap s;
    memset(&s, 0, sizeof s);
    s.use_close = use_close;
    make_pipe(s.a);
    make_pipe(s.b);
    assert_int_equal(loop_watch(loop, s.a[0], LOOP_READ, on_a, &s), 0);
    assert_int_equal(loop_watch(loop, s.b[0], LOOP_READ, on_b, &s), 0);
    put_byte(s.a[1]);
    put_byte(s.b[1]);
    /* Let the kernel see both before one wait (a pipe write is ready at
     * once, but be sure: wait until both are reported together). */
    assert_int_equal(loop_run_once(loop, 2000), 0);
    assert_int_equal(s.calls_a + s.calls_b, 1);
    assert_true(s.reused); /* the test really reused the number */
    assert_int_equal(s.calls_new, 0);
    assert_int_equal(loop_watch_count(loop), 2);

    /* The new watcher works normally once its own pipe is readable. */
    put_byte(s.new_fd[1]);
    int survivor = s.calls_a ? s.a[0] : s.b[0];
    char c;
    assert_int_equal(read(survivor, &c, 1), 1);
    assert_int_equal(loop_run_once(loop, 2000), 0);
    assert_int_equal(s.calls_new, 1);

    loop_unwatch(loop, survivor);
    loop_unwatch(loop, s.new_fd[0]);
    for (int i = 0; i < 2; i++) {
        if (s.a[i] != -1)
            close(s.a[i]);
        if (s.b[i] != -1)
            close(s.b[i]);
        close(s.new_fd[i]);
    }
    loop_free(loop);
}

static void test_remove_gathered_and_reuse(void **state)
{
    remove_gathered_and_reuse(state, 0);
}

/* The same with loop_close(): it forgets the watcher as loop_unwatch()
 * does, readiness gathered before included, and a new fd on the same
 * number is watched afresh (on epoll: added to the kernel's list again). */
static void test_close_gathered_and_reuse(void **state)
{
    remove_gathered_and_reuse(state, 1);
}

/* loop_close() stops watching and closes, and on epoll it makes no
 * epoll_ctl: closing the last reference took the fd out of the list. */
static void test_close_costs_no_call(void **state)
{
    loop_backend_t b = *(loop_backend_t *)*state;
    loop_t *loop = new_loop(state);
    uint64_t per_change = b == LOOP_EPOLL ? 1 : 0;
    int sv[2], tv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct seen s = {0};
    assert_int_equal(loop_watch(loop, sv[0], LOOP_READ, record, &s), 0);
    put_byte(sv[1]);
    assert_int_equal(loop_close(loop, sv[0]), 0);
    assert_int_equal(fcntl(sv[0], F_GETFD), -1); /* it is closed */
    assert_int_equal(errno, EBADF);
    assert_int_equal(loop_watch_count(loop), 0);
    assert_int_equal(loop_counts(loop).interest_changes, per_change); /* the add only */

    /* The number comes back for a new socket, which is watched anew. */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, tv), 0);
    assert_int_equal(tv[0], sv[0]);
    assert_int_equal(loop_watch(loop, tv[0], LOOP_READ, record, &s), 0);
    assert_int_equal(loop_counts(loop).interest_changes, 2 * per_change);
    put_byte(tv[1]);
    assert_int_equal(loop_run_once(loop, 2000), 0);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.fd, tv[0]);

    /* An fd that is not watched is just closed. */
    assert_int_equal(loop_close(loop, sv[1]), 0);
    assert_int_equal(fcntl(sv[1], F_GETFD), -1);
    assert_int_equal(loop_close(loop, tv[0]), 0);
    close(tv[1]);
    loop_free(loop);
}

/* A callback that removes itself is not called again, even though its fd
 * stays readable; a watcher added from a callback is called once its fd is
 * ready. */
struct self_remove {
    int p[2], q[2];
    int calls_p, calls_q;
};

static void on_q(loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    struct self_remove *s = arg;
    s->calls_q++;
}

static void on_p(loop_t *loop, int fd, int events, void *arg)
{
    (void)events;
    struct self_remove *s = arg;
    s->calls_p++;
    assert_int_equal(loop_unwatch(loop, fd), 0);
    assert_int_equal(loop_watch(loop, s->q[0], LOOP_READ, on_q, s), 0);
}

static void test_remove_self_add_other(void **state)
{
    loop_t *loop = new_loop(state);
    struct self_remove s;
    memset(&s, 0, sizeof s);
    make_pipe(s.p);
    make_pipe(s.q);
    put_byte(s.p[1]);
    put_byte(s.q[1]);
    assert_int_equal(loop_watch(loop, s.p[0], LOOP_READ, on_p, &s), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(loop_run_once(loop, 200), 0);
    assert_int_equal(s.calls_p, 1);
    assert_true(s.calls_q >= 2); /* level-triggered, never read */
    assert_int_equal(loop_watch_count(loop), 1);
    loop_unwatch(loop, s.q[0]);
    close(s.p[0]);
    close(s.p[1]);
    close(s.q[0]);
    close(s.q[1]);
    loop_free(loop);
}

/* ---------------------------------------------------------------------- */
/* Timers                                                                 */

struct order {
    int fired[16];
    int n;
    uint64_t at[16];
};

struct tagged {
    struct order *o;
    int id;
};

static void on_tagged(loop_t *loop, loop_timer_t *t, void *arg)
{
    (void)loop;
    (void)t;
    struct tagged *tg = arg;
    tg->o->at[tg->o->n] = loop_now_ms();
    tg->o->fired[tg->o->n++] = tg->id;
}

static void run_until(loop_t *loop, int *flag, int want, int timeout_ms)
{
    uint64_t end = loop_now_ms() + (uint64_t)timeout_ms;
    while (*flag < want && loop_now_ms() < end)
        assert_int_equal(loop_run_once(loop, 50), 0);
}

static void test_timer_order(void **state)
{
    loop_t *loop = new_loop(state);
    struct order o;
    memset(&o, 0, sizeof o);
    /* Added out of order; two share a due time and must fire in the order
     * they were added. */
    struct tagged t[5] = {{&o, 40}, {&o, 10}, {&o, 25}, {&o, 26}, {&o, 30}};
    uint64_t delay[5] = {40, 10, 25, 25, 30};
    uint64_t start = loop_now_ms();
    for (int i = 0; i < 5; i++)
        assert_non_null(loop_timer_add(loop, delay[i], 0, on_tagged, &t[i]));
    run_until(loop, &o.n, 5, 5000);
    assert_int_equal(o.n, 5);
    int want[5] = {10, 25, 26, 30, 40};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(o.fired[i], want[i]);
        /* never early */
        assert_true(o.at[i] - start >= (uint64_t)(want[i] == 26 ? 25 : want[i]));
    }
    loop_free(loop);
}

static void test_timer_accuracy(void **state)
{
    loop_t *loop = new_loop(state);
    struct order o;
    memset(&o, 0, sizeof o);
    struct tagged one = {&o, 1};
    uint64_t start = loop_now_ms();
    assert_non_null(loop_timer_add(loop, 100, 0, on_tagged, &one));
    run_until(loop, &o.n, 1, 5000);
    assert_int_equal(o.n, 1);
    uint64_t took = o.at[0] - start;
    assert_true(took >= 100);
    assert_true(took < 100 + SLACK_MS);
    loop_free(loop);
}

/* A repeating timer keeps its cadence: five 40 ms periods take about 200 ms. */
struct repeat {
    int fires;
    int cancel_at;
    loop_timer_t *self;
};

static void on_repeat(loop_t *loop, loop_timer_t *t, void *arg)
{
    struct repeat *r = arg;
    r->fires++;
    if (r->fires == r->cancel_at)
        loop_timer_cancel(loop, t); /* cancel from its own callback */
}

static void test_timer_repeat_and_self_cancel(void **state)
{
    loop_t *loop = new_loop(state);
    struct repeat r = {0, 5, NULL};
    uint64_t start = loop_now_ms();
    assert_non_null(loop_timer_add(loop, 40, 40, on_repeat, &r));
    run_until(loop, &r.fires, 5, 5000);
    uint64_t took = loop_now_ms() - start;
    assert_int_equal(r.fires, 5);
    assert_true(took >= 200);
    assert_true(took < 200 + SLACK_MS);
    /* Cancelled: it never fires again. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(loop_run_once(loop, 60), 0);
    assert_int_equal(r.fires, 5);
    loop_free(loop);
}

/* Two timers due in the same iteration; the first cancels the second,
 * which must then not fire. */
struct pair {
    loop_timer_t *other;
    int first_calls, second_calls;
    int reset_then_cancel;
};

static void on_second(loop_t *loop, loop_timer_t *t, void *arg)
{
    (void)loop;
    (void)t;
    struct pair *p = arg;
    p->second_calls++;
}

static void on_first(loop_t *loop, loop_timer_t *t, void *arg)
{
    (void)t;
    struct pair *p = arg;
    p->first_calls++;
    if (p->reset_then_cancel)
        loop_timer_reset(loop, p->other, 50);
    loop_timer_cancel(loop, p->other);
}

static void cancel_pair(void **state, int reset_first)
{
    loop_t *loop = new_loop(state);
    struct pair p = {NULL, 0, 0, reset_first};
    assert_non_null(loop_timer_add(loop, 10, 0, on_first, &p));
    p.other = loop_timer_add(loop, 10, 0, on_second, &p);
    assert_non_null(p.other);
    /* Wait until both are due, so they fire from the same batch. */
    struct timespec wait = {0, 20 * 1000 * 1000};
    nanosleep(&wait, NULL);
    run_until(loop, &p.first_calls, 1, 2000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(loop_run_once(loop, 40), 0);
    assert_int_equal(p.first_calls, 1);
    assert_int_equal(p.second_calls, 0);
    loop_free(loop);
}

static void test_timer_cancel_other_in_batch(void **state)
{
    cancel_pair(state, 0);
}

/* The same, but the first callback reschedules the second before it
 * cancels it: the cancelled timer is still in this iteration's batch. */
static void test_timer_reset_then_cancel_in_batch(void **state)
{
    cancel_pair(state, 1);
}

/* A timer that pushes itself back and then cancels itself, from its own
 * callback (an idle timeout whose connection closes while it fires). */
static void on_reset_self_cancel(loop_t *loop, loop_timer_t *t, void *arg)
{
    int *calls = arg;
    (*calls)++;
    loop_timer_reset(loop, t, 10);
    loop_timer_cancel(loop, t);
}

static void test_timer_reset_then_cancel_self(void **state)
{
    loop_t *loop = new_loop(state);
    int calls = 0;
    assert_non_null(loop_timer_add(loop, 5, 0, on_reset_self_cancel, &calls));
    run_until(loop, &calls, 1, 2000);
    for (int i = 0; i < 3; i++)
        assert_int_equal(loop_run_once(loop, 30), 0);
    assert_int_equal(calls, 1);
    loop_free(loop);
}

/* loop_timer_reset pushes a pending timer back: an idle timeout. */
struct resetter {
    loop_timer_t *target;
};

static void on_resetter(loop_t *loop, loop_timer_t *t, void *arg)
{
    (void)t;
    struct resetter *r = arg;
    loop_timer_reset(loop, r->target, 150);
}

static void test_timer_reset(void **state)
{
    loop_t *loop = new_loop(state);
    struct order o;
    memset(&o, 0, sizeof o);
    struct tagged target = {&o, 7};
    uint64_t start = loop_now_ms();
    struct resetter r;
    r.target = loop_timer_add(loop, 60, 0, on_tagged, &target);
    assert_non_null(r.target);
    assert_non_null(loop_timer_add(loop, 20, 0, on_resetter, &r));
    run_until(loop, &o.n, 1, 5000);
    assert_int_equal(o.n, 1);
    /* Reset at ~20 ms to 150 ms from then: not before 170 ms. */
    assert_true(o.at[0] - start >= 170);
    assert_true(o.at[0] - start < 170 + SLACK_MS);
    loop_free(loop);
}

/* After a long stall, a repeating timer fires once, late, not in a burst:
 * a burst would show as one call per iteration until it caught up. */
static void test_timer_no_burst_after_stall(void **state)
{
    loop_t *loop = new_loop(state);
    struct repeat r = {0, -1, NULL};
    loop_timer_t *t = loop_timer_add(loop, 50, 50, on_repeat, &r);
    assert_non_null(t);
    struct timespec stall = {0, 400 * 1000 * 1000}; /* 8 periods */
    nanosleep(&stall, NULL);
    for (int i = 0; i < 8; i++)
        assert_int_equal(loop_run_once(loop, 0), 0);
    /* 1, or 2 if this process was preempted for a whole period between
     * two of those calls; a catch-up burst would be 8. */
    assert_true(r.fires >= 1 && r.fires <= 2);
    loop_timer_cancel(loop, t);
    loop_free(loop);
}

/* ---------------------------------------------------------------------- */
/* Stopping and signals                                                   */

static void on_stop(loop_t *loop, loop_timer_t *t, void *arg)
{
    (void)t;
    int *calls = arg;
    (*calls)++;
    loop_stop(loop);
}

static void test_stop(void **state)
{
    loop_t *loop = new_loop(state);
    int calls = 0;
    assert_non_null(loop_timer_add(loop, 10, 0, on_stop, &calls));
    assert_int_equal(loop_run(loop), 0);
    assert_int_equal(calls, 1);
    /* A stopped loop can run again. */
    assert_non_null(loop_timer_add(loop, 10, 0, on_stop, &calls));
    assert_int_equal(loop_run(loop), 0);
    assert_int_equal(calls, 2);
    loop_free(loop);
}

struct sig {
    int calls;
    int signo;
};

static void on_sig(loop_t *loop, int signo, void *arg)
{
    (void)loop;
    struct sig *s = arg;
    s->calls++;
    s->signo = signo;
}

static void raise_usr2(loop_t *loop, loop_timer_t *t, void *arg)
{
    (void)loop;
    (void)t;
    (void)arg;
    raise(SIGUSR2);
}

static void test_signals(void **state)
{
    loop_t *loop = new_loop(state);
    struct sig s = {0, 0};
    assert_int_equal(loop_on_signal(loop, SIGUSR1, on_sig, &s), 0);
    /* The handler only writes to the self-pipe; the callback runs later,
     * from the loop, in normal context. */
    raise(SIGUSR1);
    assert_int_equal(s.calls, 0);
    run_until(loop, &s.calls, 1, 2000);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.signo, SIGUSR1);
    /* The signal plumbing is not a user watcher. */
    assert_int_equal(loop_watch_count(loop), 0);

    /* loop_stop_on_signal: a signal ends loop_run. */
    assert_int_equal(loop_stop_on_signal(loop, SIGUSR2), 0);
    assert_non_null(loop_timer_add(loop, 20, 0, raise_usr2, NULL));
    assert_int_equal(loop_run(loop), 0);

    loop_free(loop);
    /* loop_free put the default dispositions back. */
    struct sigaction sa;
    assert_int_equal(sigaction(SIGUSR1, NULL, &sa), 0);
    assert_true(sa.sa_handler == SIG_DFL);
    assert_int_equal(sigaction(SIGUSR2, NULL, &sa), 0);
    assert_true(sa.sa_handler == SIG_DFL);
}

/* Only one loop may own the signals of a process. */
static void test_signals_one_loop(void **state)
{
    loop_t *a = new_loop(state);
    loop_t *b = new_loop(state);
    struct sig s = {0, 0};
    assert_int_equal(loop_on_signal(a, SIGUSR1, on_sig, &s), 0);
    errno = 0;
    assert_int_equal(loop_on_signal(b, SIGUSR1, on_sig, &s), -1);
    assert_int_equal(errno, EBUSY);
    loop_free(b);
    loop_free(a);
}

/* A child forked from a loop's process, before it has a loop of its own,
 * must not feed its signals into the parent's self-pipe: it takes the
 * default action instead, and the parent hears nothing. */
static void test_signals_after_fork(void **state)
{
    loop_t *loop = new_loop(state);
    struct sig s = {0, 0};
    assert_int_equal(loop_on_signal(loop, SIGUSR1, on_sig, &s), 0);
    pid_t pid = fork();
    assert_int_not_equal(pid, -1);
    if (pid == 0) {
        raise(SIGUSR1); /* default action: terminate */
        _exit(0);       /* reached only if the signal was swallowed */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGUSR1);
    /* Give a stray byte every chance to arrive, then check none did. */
    for (int i = 0; i < 5; i++)
        assert_int_equal(loop_run_once(loop, 20), 0);
    assert_int_equal(s.calls, 0);
    loop_free(loop);
}

/* ---------------------------------------------------------------------- */

#define SUITE(name, backend_ptr)                                                         \
    const struct CMUnitTest name[] = {                                                   \
        cmocka_unit_test_prestate(test_read_readiness, backend_ptr),                     \
        cmocka_unit_test_prestate(test_write_readiness, backend_ptr),                    \
        cmocka_unit_test_prestate(test_paused_watcher, backend_ptr),                     \
        cmocka_unit_test_prestate(test_highest_fd_comes_and_goes, backend_ptr),          \
        cmocka_unit_test_prestate(test_unchanged_interest_costs_no_call, backend_ptr),   \
        cmocka_unit_test_prestate(test_bad_arguments, backend_ptr),                      \
        cmocka_unit_test_prestate(test_fd_setsize, backend_ptr),                         \
        cmocka_unit_test_prestate(test_remove_gathered_and_reuse, backend_ptr),          \
        cmocka_unit_test_prestate(test_close_gathered_and_reuse, backend_ptr),           \
        cmocka_unit_test_prestate(test_close_costs_no_call, backend_ptr),                \
        cmocka_unit_test_prestate(test_remove_self_add_other, backend_ptr),              \
        cmocka_unit_test_prestate(test_timer_order, backend_ptr),                        \
        cmocka_unit_test_prestate(test_timer_accuracy, backend_ptr),                     \
        cmocka_unit_test_prestate(test_timer_repeat_and_self_cancel, backend_ptr),       \
        cmocka_unit_test_prestate(test_timer_cancel_other_in_batch, backend_ptr),        \
        cmocka_unit_test_prestate(test_timer_reset_then_cancel_in_batch, backend_ptr),   \
        cmocka_unit_test_prestate(test_timer_reset_then_cancel_self, backend_ptr),       \
        cmocka_unit_test_prestate(test_timer_reset, backend_ptr),                        \
        cmocka_unit_test_prestate(test_timer_no_burst_after_stall, backend_ptr),         \
        cmocka_unit_test_prestate(test_stop, backend_ptr),                               \
        cmocka_unit_test_prestate(test_signals, backend_ptr),                            \
        cmocka_unit_test_prestate(test_signals_one_loop, backend_ptr),                   \
        cmocka_unit_test_prestate(test_signals_after_fork, backend_ptr),                 \
    }

int main(void)
{
    static loop_backend_t sel = LOOP_SELECT, pol = LOOP_POLL;
    SUITE(select_tests, &sel);
    SUITE(poll_tests, &pol);
    int failed = 0;
    failed += cmocka_run_group_tests_name("loop/select", select_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("loop/poll", poll_tests, NULL, NULL);
#ifdef __linux__
    static loop_backend_t epo = LOOP_EPOLL;
    SUITE(epoll_tests, &epo);
    failed += cmocka_run_group_tests_name("loop/epoll", epoll_tests, NULL, NULL);
#endif
    return failed != 0;
}
