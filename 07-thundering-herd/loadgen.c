/*
 * loadgen.c: the built-in load client (see loadgen.h).
 *
 * The whole client is one poll(2) loop over up to C connection slots. A
 * slot is started with a non-blocking connect(2) and then only ever waits
 * for POLLIN: the reply line arrives, then EOF when the worker closes. A
 * refused or reset connection shows up the same way, as an error from
 * read(2), so there is no separate "connecting" state to get wrong.
 *
 * A connection counts as done at EOF, not at the reply line: the worker
 * bumps its `served` counter between writing the line and closing, so when
 * the client has seen every EOF, every counter is final.
 *
 * tests/test_loadgen.c runs it against a tiny forked server.
 */
#include "loadgen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "counters.h" /* counters_shared_map */
#include "net.h"      /* 01-event-loop */

lg_result *lg_result_new(int total)
{
    void *mem =
        counters_shared_map(sizeof(lg_result) + (size_t)total * sizeof(lg_sample));
    if (mem == NULL)
        return NULL;
    lg_result *r = mem;
    r->total = total;
    return r;
}

void lg_result_free(lg_result *r)
{
    if (r != NULL)
        munmap(r, sizeof(lg_result) + (size_t)r->total * sizeof(lg_sample));
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

int lg_parse_reply(const char *line)
{
    const char *p = strstr(line, "worker ");
    if (p == NULL)
        return -1;
    char *end;
    long pid = strtol(p + strlen("worker "), &end, 10);
    if (end == p + strlen("worker ") || pid <= 0 || pid > 0x7fffffff)
        return -1;
    return (int)pid;
}

/* One connection in flight. */
typedef struct slot {
    int fd;         /* -1 when the slot is free */
    double started; /* just before connect() */
    double replied; /* when the line arrived, 0 before */
    char line[128]; /* the reply so far */
    size_t len;
} slot;

/* Start a non-blocking connect into s. Returns 0, or -1 if the connection
 * failed at once (refused on loopback usually shows up here). */
static int slot_start(slot *s, const struct sockaddr *addr, socklen_t addrlen)
{
    s->len = 0;
    s->replied = 0;
    s->started = now_ms();
    s->fd = net_socket(addr->sa_family, SOCK_STREAM, O_CLOEXEC | O_NONBLOCK);
    if (s->fd == -1)
        return -2; /* out of fds: the client itself is broken */
    if (connect(s->fd, addr, addrlen) == -1 && errno != EINPROGRESS) {
        close(s->fd);
        s->fd = -1;
        return -1;
    }
    return 0;
}

/* The slot's fd is readable: read what is there. Returns 1 when the
 * connection is finished (done or failed, see *ok), 0 to keep waiting. */
static int slot_read(slot *s, int *ok)
{
    char buf[128];
    ssize_t n = read(s->fd, buf, sizeof buf);
    if (n == -1 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n > 0) {
        for (ssize_t i = 0; i < n && s->replied == 0; i++) {
            if (buf[i] == '\n') {
                s->replied = now_ms();
            } else if (s->len + 1 < sizeof s->line) {
                s->line[s->len++] = buf[i];
            }
        }
        s->line[s->len] = '\0';
        return 0;
    }
    /* EOF, or an error such as ECONNREFUSED or ECONNRESET. */
    *ok = (n == 0 && s->replied != 0);
    return 1;
}

int lg_run(const char *host, int port, int clients, int total, int timeout_ms,
           lg_result *r)
{
    return lg_run_paced(host, port, clients, total, timeout_ms, r, NULL, NULL);
}

int lg_sockaddr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    /* Names and both families, through the one resolver every chapter
     * uses (01's net.c). */
    char why[256];
    if (net_resolve(host, port, 0, ss, len, why, sizeof why) == -1) {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int lg_run_paced(const char *host, int port, int clients, int total, int timeout_ms,
                 lg_result *r, void (*pace)(void *arg), void *arg)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (lg_sockaddr(host, port, &ss, &sslen) == -1)
        return -1;
    if (clients < 1 || total < 0 || total > r->total) {
        errno = EINVAL;
        return -1;
    }
    if (clients > total)
        clients = total > 0 ? total : 1;

    slot *slots = calloc((size_t)clients, sizeof *slots);
    struct pollfd *pfd = calloc((size_t)clients, sizeof *pfd);
    if (slots == NULL || pfd == NULL) {
        free(slots);
        free(pfd);
        return -1;
    }
    for (int i = 0; i < clients; i++)
        slots[i].fd = -1;

    r->done = 0;
    r->errors = 0;
    int started = 0, finished = 0, status = 0;
    double t0 = now_ms(), last = t0, paced = 0;
    while (finished < total) {
        /* Keep every free slot busy while connections remain to start. */
        for (int i = 0; i < clients && started < total; i++) {
            if (slots[i].fd != -1)
                continue;
            if (pace != NULL) {
                double before = now_ms();
                pace(arg);
                paced += now_ms() - before;
            }
            int s = slot_start(&slots[i], (struct sockaddr *)&ss, sslen);
            if (s == -2) {
                status = -1;
                goto out;
            }
            started++;
            if (s == -1) {
                r->errors++;
                finished++;
            }
        }
        /* Wait for any of them, but no longer than the oldest may wait. */
        double oldest = 0;
        for (int i = 0; i < clients; i++) {
            pfd[i].fd = slots[i].fd; /* poll ignores negative fds */
            pfd[i].events = POLLIN;
            pfd[i].revents = 0;
            if (slots[i].fd != -1 && (oldest == 0 || slots[i].started < oldest))
                oldest = slots[i].started;
        }
        if (oldest == 0)
            continue; /* everything failed at once; start more */
        double wait = oldest + timeout_ms - now_ms();
        int n = poll(pfd, (nfds_t)clients, wait < 0 ? 0 : (int)ceil(wait));
        if (n == -1 && errno != EINTR) {
            status = -1;
            goto out;
        }
        double now = now_ms();
        for (int i = 0; i < clients; i++) {
            slot *s = &slots[i];
            if (s->fd == -1)
                continue;
            int ok = 0, over = 0;
            if (pfd[i].revents != 0)
                over = slot_read(s, &ok);
            if (!over && now - s->started >= timeout_ms)
                over = 1; /* ok stays 0: a timeout is an error */
            if (!over)
                continue;
            close(s->fd);
            s->fd = -1;
            finished++;
            if (ok) {
                r->sample[r->done].latency_ms = s->replied - s->started;
                r->sample[r->done].pid = lg_parse_reply(s->line);
                r->done++;
                last = now;
            } else {
                r->errors++;
            }
        }
    }
out:
    for (int i = 0; i < clients; i++)
        if (slots[i].fd != -1)
            close(slots[i].fd);
    free(slots);
    free(pfd);
    r->elapsed_ms = last - t0 - paced;
    if (r->elapsed_ms < 0)
        r->elapsed_ms = 0;
    return status;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double lg_percentile(const lg_result *r, double p)
{
    if (r->done == 0)
        return 0;
    double *v = malloc((size_t)r->done * sizeof *v);
    if (v == NULL)
        return 0;
    for (int i = 0; i < r->done; i++)
        v[i] = r->sample[i].latency_ms;
    qsort(v, (size_t)r->done, sizeof *v, cmp_double);
    /* Nearest rank: ceil(p/100 * n), counted from 1. */
    int rank = (int)ceil(p / 100.0 * r->done);
    if (rank < 1)
        rank = 1;
    if (rank > r->done)
        rank = r->done;
    double x = v[rank - 1];
    free(v);
    return x;
}
