/*
 * threads.c: one POSIX thread per connection (see threads.h).
 *
 * serve() and converse() are the whole per-client program: read
 * (read_some), cut lines, answer and write (answer), until the client
 * leaves. It blocks freely, because blocking one thread
 * blocks only its own client. Compare it with conn.c, which has to keep the
 * same conversation as explicit state because it must never block.
 *
 * The only shared state is the list of open connections (for `stats` and
 * for shutdown), behind one mutex.
 *
 * Run: ./event-loop --threads, then ./event-loop load --conns 100 --msgs 0.
 * The stats line at the end shows threads=102: main, one per connection
 * and one for the load client's stats connection.
 */
#include "threads.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "linebuf.h"
#include "net.h"
#include "proto.h"

struct tconn {
    server_t *srv;
    int fd;
    struct tconn *prev, *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_gone = PTHREAD_COND_INITIALIZER;
static struct tconn *list;
static int count;

int threads_count(void)
{
    pthread_mutex_lock(&lock);
    int n = count;
    pthread_mutex_unlock(&lock);
    return n;
}

/* Take t off the list of live connections; the caller holds the lock. */
static void unlink_locked(struct tconn *t)
{
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        list = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    count--;
}

static void unregister(struct tconn *t)
{
    pthread_mutex_lock(&lock);
    unlink_locked(t);
    close(t->fd); /* under the lock, so threads_stop never shuts down a reused fd */
    if (count == 0)
        pthread_cond_broadcast(&all_gone);
    pthread_mutex_unlock(&lock);
}

/* Read what the client sent into `in`, blocking. 1 if bytes came, 0 when
 * the conversation is over: the client closed, vanished (logged) or sent
 * more than we can hold (logged). */
static int read_some(server_t *s, int fd, linebuf_t *in)
{
    char buf[16384];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) == -1 && errno == EINTR)
        ;
    if (n == 0)
        return 0; /* the client closed */
    if (n == -1) {
        server_log(s, "fd %d: read: %s: client vanished, closing", fd, strerror(errno));
        return 0;
    }
    if (linebuf_append(in, buf, (size_t)n) == -1) {
        server_log(s, "fd %d: out of memory, closing", fd);
        return 0;
    }
    return 1;
}

/* One line, one reply, written before the next line is read. -1 if the
 * client vanished mid-write (logged). */
static int answer(server_t *s, int fd, const char *line, size_t len, char *reply)
{
    long ms = proto_busy_ms(line, len);
    if (ms > 0)
        server_log(s, "fd %d: busy %ld: only this client's thread is busy", fd, ms);
    proto_info info = {"threads", "-", threads_count()};
    size_t rlen = proto_reply(line, len, &info, reply, PROTO_REPLY_MAX);
    if (net_send_all(fd, reply, rlen) == -1) {
        server_log(s, "fd %d: send: %s: client vanished mid-write, closing", fd,
                   strerror(errno));
        return -1;
    }
    return 0;
}

/* A line longer than LINEBUF_MAX: send the error line, then close gently. */
static void refuse_long_line(server_t *s, int fd)
{
    static const char msg[] = PROTO_TOO_LONG;
    server_log(s, "fd %d: line longer than %d bytes, closing", fd, LINEBUF_MAX);
    if (net_send_all(fd, msg, sizeof msg - 1) == 0) {
        /* As in conn.c: FIN after the error line, then discard what is
         * already queued so close(2) sends no reset. */
        shutdown(fd, SHUT_WR);
        struct timeval tv = {0, 100 * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char drop[16384];
        for (int i = 0; i < 64 && read(fd, drop, sizeof drop) > 0; i++)
            ;
    }
}

/* The whole conversation: read, answer every complete line, until the
 * client leaves or sends a line too long. */
static void converse(server_t *s, int fd, linebuf_t *in, char *reply)
{
    while (read_some(s, fd, in)) {
        const char *line;
        size_t len;
        int r;
        while ((r = linebuf_next(in, &line, &len)) == 1)
            if (answer(s, fd, line, len, reply) == -1)
                return;
        if (r == -1) {
            refuse_long_line(s, fd);
            return;
        }
    }
}

static void *serve(void *arg)
{
    struct tconn *t = arg;
    linebuf_t in;
    linebuf_init(&in, LINEBUF_MAX);
    char *reply = malloc(PROTO_REPLY_MAX);
    if (reply == NULL)
        server_log(t->srv, "fd %d: out of memory, closing", t->fd);
    else
        converse(t->srv, t->fd, &in, reply);
    free(reply);
    linebuf_free(&in);
    unregister(t);
    free(t);
    return NULL;
}

int threads_start(server_t *s, int fd)
{
    struct tconn *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -1;
    t->srv = s;
    t->fd = fd;

    pthread_mutex_lock(&lock);
    t->next = list;
    if (list != NULL)
        list->prev = t;
    list = t;
    count++;
    pthread_mutex_unlock(&lock);

    /* Detached: nobody joins a connection thread, it cleans up after
     * itself. The stack size is left at the default on purpose: that
     * default (8 MiB of address space) is what the chapter measures. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* The new thread inherits our signal mask: block everything while
     * creating it, so signals are only ever handled by the main thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t tid;
    int e = pthread_create(&tid, &attr, serve, t);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (e != 0) {
        pthread_mutex_lock(&lock);
        unlink_locked(t); /* fd stays open: the caller refuses it */
        pthread_mutex_unlock(&lock);
        free(t);
        errno = e;
        return -1;
    }
    return 0;
}

int threads_stop(int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&lock);
    /* shutdown(2), not close(2): it wakes a thread blocked in read on that
     * socket (read returns 0), and the thread still owns the fd. */
    for (struct tconn *t = list; t != NULL; t = t->next)
        shutdown(t->fd, SHUT_RDWR);
    while (count > 0)
        if (pthread_cond_timedwait(&all_gone, &lock, &deadline) == ETIMEDOUT)
            break;
    int left = count;
    pthread_mutex_unlock(&lock);
    return left;
}
