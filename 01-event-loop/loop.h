/*
 * loop.h: a small reactor. One thread, many file descriptors.
 *
 * This is the heart of chapter 01 and of every server after it. A loop
 * watches file descriptors for "readable" and "writable", runs timers, and
 * turns signals into ordinary events. Each iteration asks the kernel one
 * question ("which of these fds are ready, or when does the next timer
 * fire?") and then calls the callbacks for the answer. Node's libuv is the
 * same idea, larger.
 *
 * Three backends ask that question in three ways, with identical behaviour,
 * each in a file of its own behind loop_backend.h (loop_select.c,
 * loop_poll.c, loop_epoll.c); loop.c, the core, is the same for all three:
 *
 *   select(2)  the default, and the subject of chapter 01. Portable, but it
 *              cannot watch an fd >= FD_SETSIZE (1024 on Linux), and each
 *              call copies and scans the whole set: O(highest fd).
 *   poll(2)    no FD_SETSIZE wall; still O(number of fds) per call.
 *   epoll(7)   Linux only. The kernel keeps the interest list, so a call
 *              costs O(ready fds): the C10K answer.
 *
 * The backend comes from loop_new()'s argument, or from the environment
 * variable LOOP_BACKEND=select|poll|epoll via loop_backend_default().
 *
 * Rules a caller can rely on:
 *   - A callback may add, change or remove any watcher or timer, including
 *     its own, and may close the fd after loop_unwatch(). A removed watcher
 *     is never called again, not even for readiness gathered earlier in the
 *     same iteration; a new watcher on a reused fd number is not called for
 *     the old fd's readiness.
 *   - Timers fire in order of their due time; ties fire in the order they
 *     were added. A repeating timer is rescheduled from its due time, so it
 *     does not drift, but a loop blocked for longer than the period fires it
 *     once, late, and not a burst of catch-up calls.
 *   - Signals: loop_on_signal() installs a handler that writes the signal
 *     number into a self-pipe; the loop reads it and calls the callback as
 *     an ordinary event, outside signal context. Only one loop in a process
 *     may handle signals (handlers are process-wide).
 *   - loop_stop() (from a callback, or from loop_stop_on_signal()) makes
 *     loop_run() return after the current iteration.
 *
 * Run: make test. tests/test_loop.c runs the same suite on every backend,
 * and cmocka prints one group per backend (loop/select, loop/poll,
 * loop/epoll), each with the same test names passing.
 *
 * After fork(): the child inherits the loop's fds. In particular an epoll
 * instance is shared with the parent, so the child must not change it. A
 * child that wants a loop of its own calls loop_free() on the inherited one
 * first; loop_free() only closes fds and restores signal dispositions, it
 * never touches the shared epoll interest list. All the loop's fds are
 * close-on-exec.
 */
#ifndef LOOP_H
#define LOOP_H

#include <stdint.h>

typedef struct loop loop_t;
typedef struct loop_timer loop_timer_t;

typedef enum { LOOP_SELECT, LOOP_POLL, LOOP_EPOLL } loop_backend_t;

/* Interest and readiness bits. LOOP_ERROR is only ever reported, never
 * asked for: it means the kernel flagged an error or hang-up on the fd
 * (POLLERR/POLLHUP/EPOLLERR/EPOLLHUP). A callback that gets it should read
 * or write to learn what happened (EOF, ECONNRESET, ...). */
enum { LOOP_READ = 1, LOOP_WRITE = 2, LOOP_ERROR = 4 };

typedef void (*loop_io_cb)(loop_t *loop, int fd, int events, void *arg);
typedef void (*loop_timer_cb)(loop_t *loop, loop_timer_t *timer, void *arg);
typedef void (*loop_signal_cb)(loop_t *loop, int signo, void *arg);

/* The backend named by LOOP_BACKEND, or select if it is unset. Sets *out and
 * returns 0, or returns -1 if the variable names no backend (or epoll where
 * there is none). */
int loop_backend_default(loop_backend_t *out);
/* "select", "poll" or "epoll" to a backend; -1 if unknown or unavailable. */
int loop_backend_parse(const char *name, loop_backend_t *out);
const char *loop_backend_name(loop_backend_t backend);

/* Create a loop. Returns NULL with errno set on failure (ENOSYS for epoll
 * on a system without it). */
loop_t *loop_new(loop_backend_t backend);
/* Close the loop's fds, free its timers and restore the dispositions of the
 * signals it handled. Watched fds are not closed: they belong to the caller. */
void loop_free(loop_t *loop);
loop_backend_t loop_backend(const loop_t *loop);

/* Watch fd for `events` (LOOP_READ | LOOP_WRITE), calling cb(loop, fd,
 * ready, arg). Calling it again for a watched fd replaces the events, the
 * callback and the argument. events == 0 keeps the watcher but asks for
 * nothing (a paused fd). Returns 0, or -1 with errno set:
 *   ERANGE  the select backend cannot watch fd >= FD_SETSIZE
 *   EBADF   fd is negative
 *   others  from epoll_ctl or memory allocation. */
int loop_watch(loop_t *loop, int fd, int events, loop_io_cb cb, void *arg);
/* Change only the events of a watched fd. -1 with ENOENT if not watched. */
int loop_modify(loop_t *loop, int fd, int events);
/* Stop watching fd. Call it before close(fd). -1 with ENOENT if not watched. */
int loop_unwatch(loop_t *loop, int fd);
/* Stop watching fd (if it is watched) and close it; returns close()'s
 * result. Use it only when this fd is the last reference to its open file:
 * not dup()ed, not inherited by a child that still has it. Then the close
 * itself takes the fd out of epoll's kernel-side list, and loop_close()
 * skips the epoll_ctl that loop_unwatch() makes (one system call less per
 * connection). With another reference alive, epoll would keep reporting
 * the closed fd: use loop_unwatch() and close() there. */
int loop_close(loop_t *loop, int fd);
/* How many fds are watched (signal plumbing not counted). */
int loop_watch_count(const loop_t *loop);

/* Run cb after delay_ms, then every repeat_ms if repeat_ms > 0. Returns a
 * handle valid until the timer is cancelled or (one-shot) has fired; NULL
 * with errno set on failure. */
loop_timer_t *loop_timer_add(loop_t *loop, uint64_t delay_ms, uint64_t repeat_ms,
                             loop_timer_cb cb, void *arg);
/* Cancel a pending timer, also from inside its own callback. Never call it
 * for a one-shot timer that has already fired: its handle is gone. */
void loop_timer_cancel(loop_t *loop, loop_timer_t *timer);
/* Move a pending timer to fire delay_ms from now (an idle timeout that is
 * pushed back whenever there is activity). */
void loop_timer_reset(loop_t *loop, loop_timer_t *timer, uint64_t delay_ms);

/* Call cb from the loop whenever signo arrives. Several deliveries of one
 * signal between two iterations may arrive as one call, as with any
 * signal: a SIGCHLD callback must reap in a waitpid(WNOHANG) loop. Returns
 * 0 or -1 with errno set. */
int loop_on_signal(loop_t *loop, int signo, loop_signal_cb cb, void *arg);
/* Shorthand: stop the loop when signo arrives. */
int loop_stop_on_signal(loop_t *loop, int signo);

/* Run until loop_stop(). Returns 0, or -1 with errno set if the backend's
 * wait fails with something other than EINTR. */
int loop_run(loop_t *loop);
/* Run one iteration, waiting at most timeout_ms (-1: until something
 * happens). For tests and for code that drives the loop itself. */
int loop_run_once(loop_t *loop, int timeout_ms);
void loop_stop(loop_t *loop);

/* What the loop has asked of the kernel so far. `waits` counts the calls
 * that wait for readiness (select, poll or epoll_wait); `interest_changes`
 * counts the calls that edit a kernel-side interest list (epoll_ctl), and
 * stays 0 on select and poll, which hand the whole set to every wait
 * instead. A watcher whose events do not change costs no call: tests hold
 * the loop to that, and a reader can compare the backends' costs. */
typedef struct loop_counts {
    uint64_t waits;
    uint64_t interest_changes;
} loop_counts_t;
loop_counts_t loop_counts(const loop_t *loop);

/* Milliseconds on the monotonic clock, as the loop measures time. */
uint64_t loop_now_ms(void);

#endif
