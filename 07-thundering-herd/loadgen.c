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

/* One run of the client: the slots, the address, and the counts so far. */
typedef struct client {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    slot *slots;
    struct pollfd *pfd; /* one per slot, rebuilt before every poll() */
    int nslots, total, timeout_ms;
    int started, finished;
    double t0, last, paced; /* start, last reply, and time spent in pace() */
    void (*pace)(void *arg);
    void *arg;
    lg_result *r;
} client;

/* Keep every free slot busy while connections remain to start. -1 if the
 * client itself is broken (out of fds). */
static int start_free_slots(client *c)
{
    for (int i = 0; i < c->nslots && c->started < c->total; i++) {
        if (c->slots[i].fd != -1)
            continue;
        if (c->pace != NULL) {
            double before = now_ms();
            c->pace(c->arg);
            c->paced += now_ms() - before;
        }
        int s = slot_start(&c->slots[i], (struct sockaddr *)&c->addr, c->addrlen);
        if (s == -2)
            return -1;
        c->started++;
        if (s == -1) {
            c->r->errors++;
            c->finished++;
        }
    }
    return 0;
}

/* Wait for any slot to become readable, but no longer than the oldest may
 * wait. -1 if poll() failed. */
static int wait_for_slots(client *c)
{
    double oldest = 0;
    for (int i = 0; i < c->nslots; i++) {
        c->pfd[i].fd = c->slots[i].fd; /* poll ignores negative fds */
        c->pfd[i].events = POLLIN;
        c->pfd[i].revents = 0;
        if (c->slots[i].fd != -1 && (oldest == 0 || c->slots[i].started < oldest))
            oldest = c->slots[i].started;
    }
    if (oldest == 0)
        return 0; /* everything failed at once; start more */
    double wait = oldest + c->timeout_ms - now_ms();
    int n = poll(c->pfd, (nfds_t)c->nslots, wait < 0 ? 0 : (int)ceil(wait));
    return n == -1 && errno != EINTR ? -1 : 0;
}

/* A connection is over: a sample if it got its reply, else an error. */
static void finish_slot(client *c, slot *s, int ok, double now)
{
    close(s->fd);
    s->fd = -1;
    c->finished++;
    lg_result *r = c->r;
    if (!ok) {
        r->errors++;
        return;
    }
    r->sample[r->done].latency_ms = s->replied - s->started;
    r->sample[r->done].pid = lg_parse_reply(s->line);
    r->done++;
    c->last = now;
}

/* Read what poll() said is there; finish the slots that are done or out of
 * time. */
static void read_slots(client *c)
{
    double now = now_ms();
    for (int i = 0; i < c->nslots; i++) {
        slot *s = &c->slots[i];
        if (s->fd == -1)
            continue;
        int ok = 0, over = 0;
        if (c->pfd[i].revents != 0)
            over = slot_read(s, &ok);
        if (!over && now - s->started >= c->timeout_ms)
            over = 1; /* ok stays 0: a timeout is an error */
        if (over)
            finish_slot(c, s, ok, now);
    }
}

/* The client's slots and poll set, all free. -1 with errno if out of
 * memory. */
static int client_alloc(client *c)
{
    c->slots = calloc((size_t)c->nslots, sizeof *c->slots);
    c->pfd = calloc((size_t)c->nslots, sizeof *c->pfd);
    if (c->slots == NULL || c->pfd == NULL) {
        free(c->slots);
        free(c->pfd);
        return -1;
    }
    for (int i = 0; i < c->nslots; i++)
        c->slots[i].fd = -1;
    return 0;
}

static void client_free(client *c)
{
    for (int i = 0; i < c->nslots; i++)
        if (c->slots[i].fd != -1)
            close(c->slots[i].fd);
    free(c->slots);
    free(c->pfd);
}

int lg_run_paced(const char *host, int port, int clients, int total, int timeout_ms,
                 lg_result *r, void (*pace)(void *arg), void *arg)
{
    client c = {
        .total = total, .timeout_ms = timeout_ms, .pace = pace, .arg = arg, .r = r};
    if (lg_sockaddr(host, port, &c.addr, &c.addrlen) == -1)
        return -1;
    if (clients < 1 || total < 0 || total > r->total) {
        errno = EINVAL;
        return -1;
    }
    c.nslots = clients <= total ? clients : total > 0 ? total : 1;
    if (client_alloc(&c) == -1)
        return -1;
    r->done = 0;
    r->errors = 0;
    c.t0 = c.last = now_ms();
    int status = 0;
    while (status == 0 && c.finished < total) {
        if (start_free_slots(&c) == -1 || wait_for_slots(&c) == -1)
            status = -1;
        else
            read_slots(&c);
    }
    client_free(&c);
    r->elapsed_ms = c.last - c.t0 - c.paced;
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
