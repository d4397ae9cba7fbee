/*
 * load.c: `event-loop client` and `event-loop load` (see load.h).
 *
 * The load client is itself an event loop (loop.h), so it can hold
 * thousands of connections on one thread too. Each connection walks
 * through these states:
 *
 *   CONNECTING --connected--> HELLO --"pid N: hello"--> READY
 *                                   --"error: ..."----> refused (closed)
 *   READY --all N connected--> WAIT (ping sent) --reply--> WAIT ... DONE
 *
 * Round trips are measured from just before send(2) to the callback that
 * reads the reply, so they include the client's own loop delay too: on a
 * 2-core machine the client and server share the CPUs.
 *
 * Run: ./event-loop --port 0 (terminal 1, note the port), then
 * ./event-loop load --port PORT --conns 1000 --msgs 10 (terminal 2): three
 * lines, connections, round trips and the server's stats.
 */
#include "load.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "linebuf.h"
#include "loop.h"
#include "loop_once.h"
#include "net.h"

/* Connections being set up at once: enough to fill the server's backlog
 * quickly, few enough not to overflow it. */
#define MAX_CONNECTING 256

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The server's address, resolved once. */
struct target {
    struct sockaddr_storage sa;
    socklen_t len;
    int family;
};

/* Resolve the server's address once (net.c), or exit 2 naming --host. */
static void resolve(const char *host, long port, struct target *t)
{
    char why[256];
    if (net_resolve(host, (int)port, 0, &t->sa, &t->len, why, sizeof why) == -1)
        cli_fail("bad value for --host: %s (%s)", host, why);
    t->family = t->sa.ss_family;
}

/* A blocking connection, for `client` and for the load client's stats
 * connection. The waits for replies are bounded (read_line); connect(2)
 * itself is not, but on a listening port it returns as soon as the kernel
 * has queued the connection in the backlog, before the server accepts it
 * (it waits only while the backlog is full). */
static int connect_blocking(const struct target *t)
{
    int fd = net_socket(t->family, SOCK_STREAM, O_CLOEXEC);
    if (fd == -1)
        return -1;
    if (connect(fd, (const struct sockaddr *)&t->sa, t->len) == -1) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Where the server is: the flags `client` and `load` share. */
struct where {
    const char *host;
    long port;
};

static void where_from_env(struct where *w)
{
    w->host = cli_env("HOST", "127.0.0.1");
    w->port = cli_env_long("PORT", 7000, 1, 65535);
}

/* 1 if argv[*i] is --host or --port (its value now in w), 0 if not. */
static int where_flag(int argc, char **argv, int *i, struct where *w)
{
    const char *a = argv[*i];
    if (strcmp(a, "--host") == 0)
        w->host = cli_value(argc, argv, i);
    else if (strcmp(a, "--port") == 0)
        w->port = cli_long(a, cli_value(argc, argv, i), 1, 65535);
    else
        return 0;
    return 1;
}

/* Resolve w into *t (exit 2 naming --host if it does not resolve) and
 * connect to it, blocking. Returns the fd, or -1 after saying why on
 * stderr as `prog`. */
static int connect_where(const struct where *w, struct target *t, const char *prog)
{
    resolve(w->host, w->port, t);
    int fd = connect_blocking(t);
    if (fd == -1)
        fprintf(stderr, "%s: connect %s port %ld: %s\n", prog, w->host, w->port,
                strerror(errno));
    return fd;
}

/* Read one line into out (NUL-terminated, newline dropped), waiting at most
 * timeout_ms. Returns its length, or -1 (errno ETIMEDOUT, or 0 for EOF). */
static int read_line(int fd, linebuf_t *lb, char *out, size_t cap, int timeout_ms)
{
    uint64_t deadline = now_us() + (uint64_t)timeout_ms * 1000u;
    for (;;) {
        const char *line;
        size_t len;
        int r = linebuf_next(lb, &line, &len);
        if (r == 1) {
            if (len >= cap)
                len = cap - 1;
            memcpy(out, line, len);
            out[len] = '\0';
            return (int)len;
        }
        if (r == -1) {
            errno = EMSGSIZE;
            return -1;
        }
        uint64_t now = now_us();
        if (now >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int p = poll(&pf, 1, (int)((deadline - now + 999) / 1000));
        if (p == -1 && errno == EINTR)
            continue;
        if (p == -1)
            return -1;
        if (p == 0)
            continue;
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = 0;
            return -1;
        }
        if (linebuf_append(lb, buf, (size_t)n) == -1)
            return -1;
    }
}

/* ---------------------------------------------------------------------- */
/* event-loop client                                                      */

static void client_usage(FILE *to)
{
    fprintf(to, "usage: event-loop client [--host H] [--port P] [--count N] "
                "[--interval MS] [--timeout MS] LINE...\n");
}

struct client_opts {
    struct where at;
    long count, interval, timeout;
};

/* A flag that takes a whole number in [min, max]. */
struct num_flag {
    const char *name;
    long *value;
    long min, max;
};

/* 1 if argv[*i] is one of the n flags (its value now read), 0 if not. */
static int num_flag(int argc, char **argv, int *i, const struct num_flag *f, size_t n)
{
    const char *a = argv[*i];
    for (size_t k = 0; k < n; k++)
        if (strcmp(a, f[k].name) == 0) {
            *f[k].value = cli_long(a, cli_value(argc, argv, i), f[k].min, f[k].max);
            return 1;
        }
    return 0;
}

/* Options first; the first other word starts the lines to send. Returns
 * its index. */
static int client_flags(int argc, char **argv, struct client_opts *o)
{
    const struct num_flag nums[] = {
        {"--count", &o->count, 1, 1000000},
        {"--interval", &o->interval, 0, 3600000},
        {"--timeout", &o->timeout, 1, 3600000},
    };
    int i = 1;
    for (; i < argc && (strncmp(argv[i], "--", 2) == 0 || strcmp(argv[i], "-h") == 0);
         i++) {
        cli_help(argv[i]);
        if (!where_flag(argc, argv, &i, &o->at) && !num_flag(argc, argv, &i, nums, 3))
            cli_bad_arg(argv[i]);
    }
    if (i == argc)
        cli_fail("no LINE to send");
    return i;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* pacing, not synchronisation */
}

/* Send `line` and wait for its reply; print both with the round trip.
 * Returns the round trip in ms, or -1 after saying why on stderr. */
static double ask(int fd, linebuf_t *lb, const char *line, long timeout)
{
    static char reply[LINEBUF_MAX + 128];
    char *msg = malloc(strlen(line) + 2);
    if (msg == NULL) {
        fprintf(stderr, "event-loop client: out of memory\n");
        exit(1);
    }
    sprintf(msg, "%s\n", line);
    uint64_t t0 = now_us();
    int sent = net_send_all(fd, msg, strlen(msg));
    free(msg);
    if (sent == -1) {
        fprintf(stderr, "event-loop client: send: %s\n", strerror(errno));
        return -1;
    }
    if (read_line(fd, lb, reply, sizeof reply, (int)timeout) == -1) {
        fprintf(stderr, "event-loop client: no reply to \"%s\": %s\n", line,
                errno == 0 ? "the server closed the connection" : strerror(errno));
        return -1;
    }
    double ms = (double)(now_us() - t0) / 1000.0;
    printf("[client %ld] %.3f ms  %s\n", (long)getpid(), ms, reply);
    return ms;
}

int client_main(int argc, char **argv)
{
    cli_init("event-loop client", client_usage);
    struct client_opts o = {.count = 1, .interval = 0, .timeout = 70000};
    where_from_env(&o.at);
    int first = client_flags(argc, argv, &o);
    struct target t;
    int fd = connect_where(&o.at, &t, "event-loop client");
    if (fd == -1)
        return 1;
    linebuf_t lb;
    linebuf_init(&lb, LINEBUF_MAX + 64);
    double worst = 0;
    int status = 0;
    long replies = 0;
    for (long k = 0; k < o.count && status == 0; k++) {
        for (int j = first; j < argc && status == 0; j++) {
            if (replies > 0 && o.interval > 0)
                pause_ms(o.interval);
            double ms = ask(fd, &lb, argv[j], o.timeout);
            if (ms < 0) {
                status = 1;
            } else {
                worst = ms > worst ? ms : worst;
                replies++;
            }
        }
    }
    if (replies > 1)
        printf("[client %ld] %ld replies, slowest %.3f ms\n", (long)getpid(), replies,
               worst);
    linebuf_free(&lb);
    close(fd);
    return status;
}

/* ---------------------------------------------------------------------- */
/* event-loop load                                                        */

enum lstate { L_IDLE, L_CONNECTING, L_HELLO, L_READY, L_WAIT, L_DONE, L_GONE };

struct lconn {
    struct load *ld;
    int id;
    int fd;
    enum lstate st;
    long sent;   /* pings sent */
    uint64_t t0; /* when the last ping was sent, µs */
    linebuf_t in;
    loop_once_t ping; /* --interval: the next ping */
};

struct load {
    loop_t *loop;
    struct target target;
    long conns, msgs, interval;
    struct lconn *c;
    long next;       /* next connection to open */
    long connecting; /* in progress */
    long resolved;   /* served + refused + failed */
    long served, refused, failed, dropped, finished, mismatched;
    char first_refusal[256];
    char first_failure[256];
    uint32_t *rtt; /* µs */
    long nrtt;
    int timed_out;
    int opening; /* inside open_more() */
};

static void on_lconn(loop_t *loop, int fd, int events, void *arg);

static void lconn_close(struct lconn *c)
{
    if (c->fd != -1) {
        loop_unwatch(c->ld->loop, c->fd);
        close(c->fd);
        c->fd = -1;
    }
    loop_once_cancel(c->ld->loop, &c->ping);
    linebuf_free(&c->in);
    c->st = L_GONE;
}

static void note(char *slot, size_t cap, const char *what)
{
    if (slot[0] == '\0')
        snprintf(slot, cap, "%s", what);
}

static void start_pings(struct load *ld);
static void open_more(struct load *ld);

/* A connection reached its end in the set-up phase. */
static void resolved_one(struct load *ld)
{
    ld->resolved++;
    if (ld->resolved == ld->conns)
        start_pings(ld);
}

static void fail(struct lconn *c, const char *why)
{
    struct load *ld = c->ld;
    enum lstate st = c->st;
    lconn_close(c);
    if (st == L_CONNECTING || st == L_HELLO) {
        ld->failed++;
        note(ld->first_failure, sizeof ld->first_failure, why);
        if (st == L_CONNECTING) {
            ld->connecting--;
            /* Open the next one, unless open_more() is the caller: it goes
             * on by itself, and recursing once per failed connect could
             * exhaust the stack when thousands fail at once. */
            if (!ld->opening)
                open_more(ld);
        }
        resolved_one(ld);
    } else {
        /* lost after it was served: counts against the round trips */
        ld->dropped++;
        note(ld->first_failure, sizeof ld->first_failure, why);
        if (st == L_WAIT || st == L_READY) {
            ld->finished++;
            if (ld->finished == ld->served)
                loop_stop(ld->loop);
        }
    }
}

static int send_ping(struct lconn *c)
{
    char msg[64];
    int n = snprintf(msg, sizeof msg, "ping %d %ld\n", c->id, c->sent);
    c->t0 = now_us();
    /* A line this short always fits in an empty socket buffer, and a
     * connection never has more than one ping outstanding. */
    if (send(c->fd, msg, (size_t)n, MSG_NOSIGNAL) != n) {
        fail(c, "send failed");
        return -1;
    }
    c->st = L_WAIT;
    return 0;
}

static void on_ping_timer(void *arg)
{
    send_ping(arg);
}

static void start_pings(struct load *ld)
{
    if (ld->msgs == 0 || ld->served == 0) {
        loop_stop(ld->loop);
        return;
    }
    for (long i = 0; i < ld->conns; i++) {
        struct lconn *c = &ld->c[i];
        if (c->st != L_READY)
            continue;
        if (ld->interval > 0) {
            /* Spread the first pings over one interval, so that N
             * connections do not all fire in the same millisecond. */
            uint64_t delay = (uint64_t)(ld->interval * i / ld->conns);
            if (loop_once_start(ld->loop, &c->ping, delay, on_ping_timer, c) == -1)
                fail(c, "loop_timer_add failed");
        } else {
            send_ping(c);
        }
    }
}

static void open_more(struct load *ld)
{
    ld->opening = 1;
    while (ld->connecting < MAX_CONNECTING && ld->next < ld->conns) {
        struct lconn *c = &ld->c[ld->next++];
        c->st = L_CONNECTING;
        ld->connecting++;
        c->fd = net_socket(ld->target.family, SOCK_STREAM, O_CLOEXEC | O_NONBLOCK);
        char why[128];
        if (c->fd == -1) {
            snprintf(why, sizeof why, "socket: %s", strerror(errno));
            fail(c, why);
            continue;
        }
        if (connect(c->fd, (struct sockaddr *)&ld->target.sa, ld->target.len) == -1 &&
            errno != EINPROGRESS) {
            snprintf(why, sizeof why, "connect: %s", strerror(errno));
            fail(c, why);
            continue;
        }
        if (loop_watch(ld->loop, c->fd, LOOP_WRITE, on_lconn, c) == -1) {
            snprintf(why, sizeof why, "loop_watch: %s", strerror(errno));
            fail(c, why);
        }
    }
    ld->opening = 0;
}

/* One reply line arrived on c. */
static void on_line(struct lconn *c, const char *line, size_t len)
{
    struct load *ld = c->ld;
    if (c->st == L_HELLO) {
        if (len >= 6 && memcmp(line, "error:", 6) == 0) {
            char what[256];
            snprintf(what, sizeof what, "%.*s", (int)len, line);
            note(ld->first_refusal, sizeof ld->first_refusal, what);
            ld->refused++;
            lconn_close(c);
        } else {
            ld->served++;
            c->st = L_READY;
        }
        resolved_one(ld);
        return;
    }
    if (c->st != L_WAIT)
        return;
    uint64_t rtt = now_us() - c->t0;
    ld->rtt[ld->nrtt++] = rtt > UINT32_MAX ? UINT32_MAX : (uint32_t)rtt;
    /* Our own reply is "pid N: ping <our id> <our count>". */
    char want[64];
    int n = snprintf(want, sizeof want, ": ping %d %ld", c->id, c->sent);
    if (len < (size_t)n || memcmp(line + len - (size_t)n, want, (size_t)n) != 0)
        ld->mismatched++;
    c->sent++;
    if (c->sent == ld->msgs) {
        c->st = L_DONE;
        ld->finished++;
        if (ld->finished == ld->served)
            loop_stop(ld->loop);
    } else if (ld->interval > 0) {
        c->st = L_READY;
        if (loop_once_start(ld->loop, &c->ping, (uint64_t)ld->interval, on_ping_timer,
                            c) == -1)
            fail(c, "loop_timer_add failed");
    } else {
        send_ping(c);
    }
}

static void on_lconn(loop_t *loop, int fd, int events, void *arg)
{
    (void)events;
    struct lconn *c = arg;
    struct load *ld = c->ld;
    char why[128];
    if (c->st == L_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
            err = errno;
        if (err != 0) {
            snprintf(why, sizeof why, "connect: %s", strerror(err));
            fail(c, why);
            return;
        }
        ld->connecting--;
        c->st = L_HELLO;
        if (send(fd, "hello\n", 6, MSG_NOSIGNAL) != 6 ||
            loop_modify(loop, fd, LOOP_READ) == -1) {
            snprintf(why, sizeof why, "send hello: %s", strerror(errno));
            fail(c, why);
        }
        open_more(ld);
        return;
    }
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n > 0 && linebuf_append(&c->in, buf, (size_t)n) == -1)
        n = -1;
    const char *line;
    size_t len;
    while (n > 0 && c->st != L_GONE && linebuf_next(&c->in, &line, &len) == 1)
        on_line(c, line, len);
    if (n <= 0 && c->st != L_GONE) {
        snprintf(why, sizeof why, "%s",
                 n == 0 ? "the server closed the connection" : strerror(errno));
        fail(c, why);
    }
}

static void on_deadline(loop_t *loop, loop_timer_t *t, void *arg)
{
    (void)t;
    struct load *ld = arg;
    ld->timed_out = 1;
    loop_stop(loop);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const uint32_t *v, long n, int pct)
{
    long i = (n - 1) * pct / 100;
    return v[i] / 1000.0;
}

/* Make sure this process may open `need` fds, raising the soft limit up to
 * the hard one if it must. */
static int ensure_fds(long need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
        return -1;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)need) {
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)need) {
            fprintf(stderr,
                    "event-loop load: %ld connections need %ld fds, but the hard "
                    "RLIMIT_NOFILE is %lld\n",
                    need - 16, need, (long long)rl.rlim_max);
            return -1;
        }
        rl.rlim_cur = (rlim_t)need;
        if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
            fprintf(stderr, "event-loop load: setrlimit RLIMIT_NOFILE: %s\n",
                    strerror(errno));
            return -1;
        }
    }
    return 0;
}

static void load_usage(FILE *to)
{
    fprintf(to, "usage: event-loop load [--host H] [--port P] [--conns N] [--msgs M] "
                "[--interval MS] [--timeout S]\n");
}

struct load_opts {
    struct where at;
    long conns, msgs, interval, timeout;
};

static void load_flags(int argc, char **argv, struct load_opts *o)
{
    const struct num_flag nums[] = {
        {"--conns", &o->conns, 1, 100000},
        {"--msgs", &o->msgs, 0, 1000000},
        {"--interval", &o->interval, 0, 60000},
        {"--timeout", &o->timeout, 1, 3600},
    };
    for (int i = 1; i < argc; i++) {
        cli_help(argv[i]);
        if (!where_flag(argc, argv, &i, &o->at) && !num_flag(argc, argv, &i, nums, 4))
            cli_bad_arg(argv[i]);
    }
}

/* The load client's own loop and its connections' table, all idle. */
static int load_setup(struct load *ld)
{
#ifdef __linux__
    loop_backend_t backend = LOOP_EPOLL;
#else
    loop_backend_t backend = LOOP_POLL;
#endif
    ld->loop = loop_new(backend);
    ld->c = calloc((size_t)ld->conns, sizeof *ld->c);
    ld->rtt = malloc((size_t)(ld->conns * ld->msgs + 1) * sizeof *ld->rtt);
    if (ld->loop == NULL || ld->c == NULL || ld->rtt == NULL) {
        fprintf(stderr, "event-loop load: setting up: %s\n", strerror(errno));
        return -1;
    }
    for (long i = 0; i < ld->conns; i++) {
        ld->c[i].ld = ld;
        ld->c[i].id = (int)i;
        ld->c[i].fd = -1;
        linebuf_init(&ld->c[i].in, 1024);
    }
    return 0;
}

/* Open every connection, send every ping, until all are done or the
 * deadline passes. Returns the seconds it took, or -1 if the loop failed. */
static double load_run(struct load *ld, long timeout)
{
    loop_timer_t *deadline =
        loop_timer_add(ld->loop, (uint64_t)timeout * 1000, 0, on_deadline, ld);
    uint64_t t_start = now_us();
    open_more(ld);
    if (loop_run(ld->loop) == -1) {
        fprintf(stderr, "event-loop load: loop_run: %s\n", strerror(errno));
        return -1;
    }
    if (!ld->timed_out && deadline != NULL)
        loop_timer_cancel(ld->loop, deadline);
    return (double)(now_us() - t_start) / 1e6;
}

static void print_results(struct load *ld, double secs, long timeout)
{
    long me = (long)getpid();
    printf("[load %ld] connections: %ld asked, %ld served, %ld refused, %ld failed\n", me,
           ld->conns, ld->served, ld->refused, ld->failed);
    if (ld->first_refusal[0])
        printf("[load %ld] first refusal: %s\n", me, ld->first_refusal);
    if (ld->first_failure[0])
        printf("[load %ld] first failure: %s\n", me, ld->first_failure);
    if (ld->msgs > 0 && ld->nrtt > 0) {
        qsort(ld->rtt, (size_t)ld->nrtt, sizeof *ld->rtt, cmp_u32);
        printf("[load %ld] round trips: %ld in %.2f s, p50 %.3f ms, p99 %.3f ms, max "
               "%.3f ms\n",
               me, ld->nrtt, secs, pct_ms(ld->rtt, ld->nrtt, 50),
               pct_ms(ld->rtt, ld->nrtt, 99), ld->rtt[ld->nrtt - 1] / 1000.0);
    }
    if (ld->mismatched > 0)
        printf("[load %ld] %ld replies were not the connection's own\n", me,
               ld->mismatched);
    if (ld->dropped > 0)
        printf("[load %ld] %ld connections were lost after being served\n", me,
               ld->dropped);
    if (ld->timed_out)
        printf("[load %ld] timed out after %ld s\n", me, timeout);
}

/* Ask the server for its own numbers, while every connection is still
 * open, and print them. Returns 0, or 1 if there were none. */
static int print_server_stats(int ctl)
{
    int status = 0;
    linebuf_t lb;
    linebuf_init(&lb, 4096);
    char reply[1024];
    if (net_send_all(ctl, "stats\n", 6) == -1 ||
        read_line(ctl, &lb, reply, sizeof reply, 10000) == -1) {
        printf("[load %ld] server: no stats: %s\n", (long)getpid(),
               errno ? strerror(errno) : "connection closed");
        status = 1;
    } else {
        printf("[load %ld] server: %s\n", (long)getpid(), reply);
    }
    linebuf_free(&lb);
    return status;
}

/* Close everything; 1 if the run fell short (not all served, a timeout, a
 * wrong or missing reply), else 0. */
static int load_finish(struct load *ld)
{
    for (long i = 0; i < ld->conns; i++)
        lconn_close(&ld->c[i]);
    loop_free(ld->loop);
    int short_of = ld->served != ld->conns || ld->timed_out || ld->mismatched > 0 ||
                   ld->dropped > 0 || ld->nrtt != ld->served * ld->msgs;
    free(ld->c);
    free(ld->rtt);
    return short_of;
}

int load_main(int argc, char **argv)
{
    cli_init("event-loop load", load_usage);
    struct load_opts o = {.conns = 100, .msgs = 10, .interval = 0, .timeout = 60};
    where_from_env(&o.at);
    load_flags(argc, argv, &o);
    if (o.conns * o.msgs > 50000000L) {
        fprintf(stderr, "event-loop load: --conns times --msgs is too large\n");
        return 2;
    }
    if (ensure_fds(o.conns + 16) == -1)
        return 1;
    struct load ld;
    memset(&ld, 0, sizeof ld);
    ld.conns = o.conns;
    ld.msgs = o.msgs;
    ld.interval = o.interval;
    /* The stats connection comes first, so it has a low fd on the server
     * and is served even by a select server that refuses the others. */
    int ctl = connect_where(&o.at, &ld.target, "event-loop load");
    if (ctl == -1 || load_setup(&ld) == -1)
        return 1;
    double secs = load_run(&ld, o.timeout);
    if (secs < 0)
        return 1;
    print_results(&ld, secs, o.timeout);
    int status = print_server_stats(ctl);
    close(ctl);
    if (load_finish(&ld))
        status = 1;
    return status;
}
