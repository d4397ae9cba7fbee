/*
 * handle-passing.c: the post's main.js in C. One port, many processes.
 *
 * The master creates the server, starts the workers, and *sends them the
 * server*; then it closes its own copy (the post's server.close()). Each
 * worker accepts connections on the socket it was sent. No worker ever calls
 * bind(2): they all use the one socket the master bound, which is why they
 * can "listen on the same port" (the post's explanation, that their fds are
 * "the same", is wrong: see NOTES.md).
 *
 * Run it (terminal 1), then talk to it (terminal 2):
 *
 *   $ ./handle-passing -p 1234 -w 3
 *   [master 4211] listening on 127.0.0.1:1234 (pid 4211)
 *   [master 4211] the server is fd 3 -> socket:[16054]
 *   [master 4211] started worker 4213 (./handle-passing-worker) with the channel as fd 3
 *   [master 4211] sent the server to worker 4213 (NODE_HANDLE)
 *   ...
 *   [master 4211] closed its own copy of the server (fd 3), like server.close()
 *   [worker 4213] got the server as fd 6 -> socket:[16054]
 *   [master 4211] worker 4213 acknowledged the server (NODE_HANDLE_ACK)
 *   [master 4211] worker 4213 holds the server as fd 6 -> socket:[16054]; mine was
 *                 fd 3 -> socket:[16054]: another fd number, the same socket
 *   [master 4211] handoff complete: 3 workers hold the server, the master holds
 *                 0 fds for it
 *
 *   $ ./handle-passing client -p 1234        # or: nc 127.0.0.1 1234
 *   [client 4300] connection 1: child data, pid 4213
 *   [client 4300] connection 2: child data, pid 4215
 *   ...
 *   [client 4300] 10 connections served by 3 processes: pid 4213 x4, ...
 *
 * Ctrl-C (or SIGTERM) stops the master gracefully: it disconnects from the
 * workers, they exit on the channel's EOF, it reaps them and exits 0.
 *
 * `./handle-passing -- node node/sub.js` runs Node workers instead: the C
 * master sends the server to Node, on the wire exactly as Node would.
 */
#define _DEFAULT_SOURCE /* SO_REUSEPORT: Linux 3.9+ and the BSDs, not POSIX.1-2008 */
#include "take.h"
#include "loop_once.h" /* 01-event-loop: a one-shot timer */
#include "cli.h"
#include "fdpass.h"
#include "handle.h"
#include "net.h"
#include "proc.h"

#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define STOP_GRACE_MS 5000 /* after this, workers that did not exit get SIGKILL */
#define RESUME_MS 250      /* --rr: accepting paused for want of fds, retried after */

struct master;

typedef struct worker {
    struct master *m;
    proc_t *proc; /* NULL once reaped */
    pid_t pid;
    chan_t *ch; /* NULL once the channel closed */
} worker_t;

typedef struct master {
    loop_t *loop;
    int pid;
    worker_t *workers;
    int nworkers;
    int live;  /* workers not yet reaped */
    int acked; /* workers that acknowledged the server */
    int listen_fd_number;
    /* How the server is sent (net.Server unless -u or --native), or with
     * --rr each connection (net.Socket unless --native). */
    handle_type_t htype;
    int *udp_fds;         /* --reuseport: worker i's own UDP socket; NULL without */
    int rr;               /* --rr: the master accepts, the workers get connections */
    int rr_fd;            /* --rr: the listener the master keeps and accepts on; -1 */
    int next;             /* --rr: the worker the next connection goes to */
    long conns;           /* --rr: connections sent */
    loop_once_t resume;   /* --rr: pending while accepting is paused */
    long pause_logged_at; /* --rr: `conns` when a pause was last reported */
    char listen_id[64];   /* "socket:[16054]" */
    int stopping;
    loop_timer_t *kill_timer;
} master_t;

static void usage(FILE *to)
{
    fprintf(
        to,
        "usage: handle-passing [-u | --rr] [--native] [-p PORT] [-H HOST] [-w WORKERS]\n"
        "                      [-- WORKER [ARGS...]]\n"
        "       handle-passing client [-u] [-p PORT] [-H HOST] [-n COUNT]\n"
        "       handle-passing take [-n COUNT] PID FD\n"
        "\n"
        "The master listens on HOST:PORT, starts WORKERS workers with an IPC channel\n"
        "on fd 3, sends each the listening socket (a NODE_HANDLE message with the fd\n"
        "attached), then closes its own copy. The workers answer every connection\n"
        "with `child data, pid N`.\n"
        "\n"
        "  -p, --port PORT     port (env PORT; default 0: the kernel picks one)\n"
        "  -H, --host HOST     name or address (env HOST; default 127.0.0.1)\n"
        "  -w, --workers N     number of workers (env WORKERS; default: online CPUs)\n"
        "  -- WORKER [ARGS]    run this worker instead of ./handle-passing-worker,\n"
        "                      e.g. `-- node node/sub.js` for Node workers\n"
        "\n"
        "client: connect COUNT times (default 10) and show which pid answered.\n"
        "  -n, --count COUNT   number of connections\n"
        "\n"
        "UDP and the bare types:\n"
        "  -u, --udp           the master binds a UDP socket and sends it as a\n"
        "                      dgram.Socket; the workers answer every datagram.\n"
        "                      The client sends COUNT datagrams instead.\n"
        "      --native        send the socket as a bare fd, net.Native or\n"
        "                      dgram.Native, as Node's cluster primary does\n"
        "      --reuseport     with -u: one UDP socket per worker on the port,\n"
        "                      each bound with SO_REUSEPORT (Linux)\n"
        "      --rr            round robin: the master keeps the listener, accepts,\n"
        "                      and sends each connection to the next worker as a\n"
        "                      net.Socket; with --native as a net.Native, as\n"
        "                      Node's cluster primary does\n"
        "\n"
        "take: take fd FD of the running process PID with pidfd_getfd(2) (Linux\n"
        "5.6+) and answer COUNT connections on it (default 3).\n");
}

typedef struct {
    const char *host;
    long port;
    long workers;
    long count;
    char **worker_argv;           /* after "--", or NULL */
    struct sockaddr_storage addr; /* host and port, resolved */
    socklen_t addrlen;
    /* -u: a UDP socket, a dgram.Socket; --native: a net.Native or dgram.Native */
    int udp, native;
    int reuseport; /* --reuseport: a UDP socket per worker, SO_REUSEPORT */
    int rr;        /* --rr: the master accepts; each connection to the next worker */
} options_t;

/* Flags override the environment, which overrides the defaults. A bad
 * value is named with its flag or variable, and exits 2 (01's cli.c). */
static void parse_args(int argc, char *argv[], int first, int client, options_t *o)
{
    cli_init(client ? "handle-passing client" : "handle-passing", usage);
    o->udp = o->native = o->reuseport = o->rr = 0;
    o->host = cli_env("HOST", "127.0.0.1");
    const char *host_from = "HOST";
    o->port = cli_env_long("PORT", 0, 0, 65535);
    long cpus = net_cpu_count();
    o->workers = cli_env_long("WORKERS", cpus > 0 ? cpus : 1, 1, 64);
    o->count = 10;
    o->worker_argv = NULL;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--") == 0 && !client) {
            if (i + 1 >= argc)
                cli_fail("-- needs a WORKER to run");
            o->worker_argv = &argv[i + 1];
            break;
        } else if (strcmp(a, "-u") == 0 || strcmp(a, "--udp") == 0) {
            o->udp = 1;
        } else if (!client && strcmp(a, "--native") == 0) {
            o->native = 1;
        } else if (!client && strcmp(a, "--reuseport") == 0) {
            o->reuseport = 1;
        } else if (!client && strcmp(a, "--rr") == 0) {
            o->rr = 1;
        } else if (strcmp(a, "-p") == 0 || strcmp(a, "--port") == 0) {
            o->port = cli_long(a, cli_value(argc, argv, &i), 0, 65535);
        } else if (strcmp(a, "-H") == 0 || strcmp(a, "--host") == 0) {
            o->host = cli_value(argc, argv, &i);
            host_from = a;
        } else if (!client && (strcmp(a, "-w") == 0 || strcmp(a, "--workers") == 0)) {
            o->workers = cli_long(a, cli_value(argc, argv, &i), 1, 64);
        } else if (client && (strcmp(a, "-n") == 0 || strcmp(a, "--count") == 0)) {
            o->count = cli_long(a, cli_value(argc, argv, &i), 1, 100000);
        } else {
            cli_bad_arg(a);
        }
    }
    char why[256];
    if (net_resolve(o->host, (int)o->port, !client, &o->addr, &o->addrlen, why,
                    sizeof why) == -1)
        cli_fail("bad value for %s: %s (%s)", host_from, o->host, why);
#ifndef __linux__
    if (o->reuseport)
        cli_fail("--reuseport needs Linux (SO_REUSEPORT spreading UDP datagrams)");
#endif
    if (o->reuseport && !o->udp)
        cli_fail("--reuseport goes with -u");
    if (o->rr && o->udp)
        cli_fail("--rr sends TCP connections: not with -u");
    if (client && o->port == 0)
        cli_fail("which port? (-p PORT, the one the master's listening line names)");
}

/* ---- the client ------------------------------------------------------------ */

/* One connection: what the worker says, up to its close or 5 s, as a line
 * in buf ("" if nothing came). -1 if the connection is refused. */
static int ask(const options_t *o, char *buf, size_t cap)
{
    int fd = net_socket(o->addr.ss_family, SOCK_STREAM, O_CLOEXEC);
    if (fd == -1)
        err(1, "socket");
    if (connect(fd, (const struct sockaddr *)&o->addr, o->addrlen) == -1) {
        close(fd);
        return -1;
    }
    size_t len = 0;
    for (;;) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int r = poll(&pf, 1, 5000);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n <= 0 || (len += (size_t)n) == cap - 1)
            break;
    }
    close(fd);
    buf[len] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

/* One datagram: what a worker sends back, up to 5 s, as a line in buf (""
 * if nothing came). -1 if the port is closed (ECONNREFUSED: the kernel got
 * an ICMP "port unreachable" for it). connect(2) on a UDP socket sends
 * nothing: it fixes the peer, so that only its answers are received. */
static int ask_udp(const options_t *o, char *buf, size_t cap)
{
    int fd = net_socket(o->addr.ss_family, SOCK_DGRAM, O_CLOEXEC);
    if (fd == -1)
        err(1, "socket");
    if (connect(fd, (const struct sockaddr *)&o->addr, o->addrlen) == -1)
        err(1, "connect");
    ssize_t n = -1;
    if (send(fd, "hello\n", 6, 0) == 6) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 5000) == 1)
            n = recv(fd, buf, cap - 1, 0);
    }
    int refused = n == -1 && errno == ECONNREFUSED;
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\r\n")] = '\0';
    return refused ? -1 : 0;
}

/* Connect `count` times, one after the other; print each answer and, at the
 * end, how many different processes answered. Exit 1 if any connection got
 * no answer. */
static int run_client(const options_t *o)
{
    int me = (int)getpid();
    const char *what = o->udp ? "datagram" : "connection";
    struct {
        long pid, n;
    } *seen = calloc((size_t)o->count, sizeof *seen);
    if (seen == NULL)
        err(1, "calloc");
    long nseen = 0, failures = 0;
    for (long i = 1; i <= o->count; i++) {
        char buf[256];
        if ((o->udp ? ask_udp(o, buf, sizeof buf) : ask(o, buf, sizeof buf)) == -1) {
            /* Nothing listens there (or the network says no): every
             * further try would say the same, so say it once. */
            warn("connect to %s:%ld (is the master running there?)", o->host, o->port);
            free(seen);
            return 1;
        }
        long pid;
        const char *p = strstr(buf, "pid ");
        if (p == NULL || (pid = strtol(p + 4, NULL, 10)) <= 0) {
            printf("[client %d] %s %ld: no answer\n", me, what, i);
            failures++;
            continue;
        }
        printf("[client %d] %s %ld: %s\n", me, what, i, buf);
        long k = 0;
        while (k < nseen && seen[k].pid != pid)
            k++;
        if (k == nseen)
            seen[nseen++].pid = pid;
        seen[k].n++;
    }
    printf("[client %d] %ld %s served by %ld process%s", me, o->count - failures,
           o->udp ? "datagrams" : "connections", nseen, nseen == 1 ? "" : "es");
    for (long k = 0; k < nseen; k++)
        printf("%s pid %ld x%ld", k ? "," : ":", seen[k].pid, seen[k].n);
    printf("\n");
    free(seen);
    return failures == 0 ? 0 : 1;
}

/* ---- the master ------------------------------------------------------------ */

/* How many of this process's fds name the socket `id`. After the handoff
 * the answer must be 0: the master kept no copy. */
static int fds_naming(const char *id)
{
    long max = sysconf(_SC_OPEN_MAX);
    if (max <= 0 || max > 4096)
        max = 4096; /* a master has a few fds per worker, far below this */
    int n = 0;
    char buf[64];
    for (int fd = 0; fd < max; fd++)
        if (strcmp(fdpass_describe(fd, buf, sizeof buf), id) == 0)
            n++;
    return n;
}

static void maybe_done(master_t *m)
{
    if (m->live > 0)
        return;
    if (m->stopping)
        printf("[master %d] all %d workers have exited; bye\n", m->pid, m->nworkers);
    else
        printf("[master %d] every worker has exited; nothing serves the port now\n",
               m->pid);
    loop_stop(m->loop);
}

static void on_worker_exit(proc_t *p, const proc_status_t *st, void *arg)
{
    (void)p;
    worker_t *w = arg;
    master_t *m = w->m;
    char how[128];
    printf("[master %d] worker %d %s\n", m->pid, (int)w->pid,
           proc_status_str(st, how, sizeof how));
    w->proc = NULL;
    if (w->ch != NULL) {
        chan_close(w->ch); /* no more news from it; close without callbacks */
        w->ch = NULL;
    }
    m->live--;
    if (!m->stopping && m->live > 0)
        printf("[master %d] %d worker%s still serve%s the port\n", m->pid, m->live,
               m->live == 1 ? "" : "s", m->live == 1 ? "s" : "");
    maybe_done(m);
}

static void on_worker_message(chan_t *ch, const json_value *msg, int fd, void *user)
{
    (void)ch;
    worker_t *w = user;
    master_t *m = w->m;
    if (fd != -1)
        close(fd); /* workers send no handles; refuse it */
    /* The worker's report: {"pid":4213,"fd":6,"socket":"socket:[16054]"} */
    const json_value *wfd = json_object_get(msg, "fd");
    const char *id = json_object_get_string(msg, "socket");
    if (wfd != NULL && wfd->type == JSON_NUMBER && id != NULL) {
        /* The fd is a double the worker chose: casting 1e300 to int is
         * undefined behaviour, and 1.5 is no fd. Take only a whole number
         * an fd can be; refuse anything else and say so. */
        long long fdnum;
        if (json_as_int(wfd, 0, INT_MAX, &fdnum) == -1) {
            char *text = json_serialize(msg, NULL);
            printf("[master %d] worker %d sent %s: \"fd\" must be a whole number from 0 "
                   "to %d; ignored\n",
                   m->pid, (int)w->pid, text ? text : "a report", INT_MAX);
            free(text);
            return;
        }
        int same = strcmp(id, m->listen_id) == 0;
        printf("[master %d] worker %d holds the server as fd %d -> %s; mine was fd %d -> "
               "%s: %s\n",
               m->pid, (int)w->pid, (int)fdnum, id, m->listen_fd_number, m->listen_id,
               same         ? ((int)fdnum == m->listen_fd_number
                                   ? "the same fd number by chance, the same socket"
                                   : "another fd number, the same socket")
               : m->udp_fds ? "its own socket on the same port (--reuseport)"
                            : "A DIFFERENT SOCKET");
        return;
    }
    char *text = json_serialize(msg, NULL);
    printf("[master %d] worker %d says %s\n", m->pid, (int)w->pid, text ? text : "?");
    free(text);
}

static void on_worker_error(chan_t *ch, const chan_error *e, void *user)
{
    (void)ch;
    fprintf(stderr, "[master %d] %s\n", ((worker_t *)user)->m->pid, e->text);
}

static void on_worker_disconnect(chan_t *ch, void *user)
{
    (void)ch;
    worker_t *w = user;
    w->ch = NULL; /* freed when this returns */
}

static void on_ack(chan_t *ch, void *arg)
{
    (void)ch;
    worker_t *w = arg;
    master_t *m = w->m;
    if (m->rr) {
        printf("[master %d] worker %d acknowledged connection (NODE_HANDLE_ACK); the "
               "master holds no fd for it now\n",
               m->pid, (int)w->pid);
        return;
    }
    m->acked++;
    printf("[master %d] worker %d acknowledged the server (NODE_HANDLE_ACK)\n", m->pid,
           (int)w->pid);
    if (m->acked == m->nworkers)
        printf("[master %d] handoff complete: %d workers hold the server, the master "
               "holds %d fds for it\n",
               m->pid, m->nworkers, fds_naming(m->listen_id));
}

static void on_kill_timer(loop_t *loop, loop_timer_t *timer, void *arg)
{
    (void)loop;
    (void)timer;
    master_t *m = arg;
    m->kill_timer = NULL;
    for (int i = 0; i < m->nworkers; i++)
        if (m->workers[i].proc != NULL) {
            printf("[master %d] worker %d did not exit; SIGKILL\n", m->pid,
                   (int)m->workers[i].pid);
            proc_kill(m->workers[i].proc, SIGKILL);
        }
}

/* ---- --rr: the master accepts, the workers answer -------------------------
 *
 * Node's cluster primary in round-robin mode (lib/internal/cluster/
 * round_robin_handle.js) keeps the listener, accepts every connection
 * itself and sends it to a worker as a bare TCP handle, which
 * child_process names net.Native. Here the same, on this chapter's API,
 * with --native; without it, each connection goes as a net.Socket, the
 * type a Node program's own child.send('socket', socket) uses. */

/* The next worker in turn that still has a channel, or NULL. */
static worker_t *next_worker(master_t *m)
{
    for (int k = 0; k < m->nworkers; k++) {
        worker_t *w = &m->workers[m->next];
        m->next = (m->next + 1) % m->nworkers;
        if (w->ch != NULL)
            return w;
    }
    return NULL;
}

/* Send connection c to the next worker, in the envelope Node's
 * child.send('socket', socket) writes, {"cmd":"NODE_HANDLE","type":
 * "net.Socket","msg":"socket"} (Node adds a "key" naming its server, which
 * we have not got), or with --native the one child.send('socket',
 * socket._handle) writes, "type":"net.Native". handle_send() keeps a dup
 * of c until the worker's ACK (as Node's sender keeps the handle until
 * NODE_HANDLE_ACK), so our own fd can go at once. */
static void send_connection(master_t *m, int c)
{
    worker_t *w = next_worker(m);
    json_value *msg = json_new_string("socket");
    if (w == NULL || msg == NULL || handle_send(w->ch, msg, m->htype, c) == -1)
        warnx("connection %ld: no worker took it; closed", m->conns + 1);
    else
        printf("[master %d] sent connection %ld (fd %d) to worker %d as a %s\n", m->pid,
               ++m->conns, c, (int)w->pid, handle_type_name(m->htype));
    json_free(msg);
    close(c);
}

static void on_resume(void *arg)
{
    master_t *m = arg;
    if (loop_modify(m->loop, m->rr_fd, LOOP_READ) == -1)
        err(1, "loop_modify on the server");
}

/* accept(2) failed with the connection still waiting (out of fds or
 * memory). The listener stays readable, so a level-triggered loop would
 * call on_connection again at once, fail again, and spin: stop watching it
 * for RESUME_MS instead, as the worker's pause_accept() does. */
static void pause_accepting(master_t *m, int error)
{
    if (loop_modify(m->loop, m->rr_fd, 0) == -1)
        err(1, "loop_modify on the server");
    if (loop_once_start(m->loop, &m->resume, RESUME_MS, on_resume, m) == -1)
        err(1, "loop_timer_add");
    if (m->pause_logged_at != m->conns) { /* once per episode */
        m->pause_logged_at = m->conns;
        fprintf(stderr,
                "[master %d] accept: %s; pausing accept, trying again every %d ms\n",
                m->pid, strerror(error), RESUME_MS);
    }
}

/* The listener is readable: accept every waiting connection (the listener
 * is non-blocking, so EAGAIN ends the round) and pass each one on. */
static void on_connection(loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)events;
    master_t *m = arg;
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c == -1 && (errno == EINTR || errno == ECONNABORTED))
            continue;
        if (c == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
            pause_accepting(m, errno); /* EMFILE, ENFILE, ENOBUFS, ENOMEM */
        if (c == -1)
            return;
        if (net_set_cloexec(c) == -1)
            err(1, "fcntl FD_CLOEXEC");
        send_connection(m, c);
    }
}

static void start_accepting(master_t *m)
{
    if (net_set_nonblock(m->rr_fd, 1) == -1)
        err(1, "fcntl O_NONBLOCK");
    if (loop_watch(m->loop, m->rr_fd, LOOP_READ, on_connection, m) == -1)
        err(1, "loop_watch on the server");
    printf("[master %d] the master accepts; each connection goes to the next worker "
           "in turn\n",
           m->pid);
}

static void stop_accepting(master_t *m)
{
    if (m->rr_fd == -1)
        return;
    loop_once_cancel(m->loop, &m->resume);
    if (loop_unwatch(m->loop, m->rr_fd) == -1)
        warn("loop_unwatch");
    close(m->rr_fd);
    m->rr_fd = -1;
}

/* SIGINT/SIGTERM: close the channels (Node's disconnect()); each worker sees
 * EOF and exits; we reap them and stop when the last one is gone. */
static void on_stop_signal(loop_t *loop, int signo, void *arg)
{
    master_t *m = arg;
    if (m->stopping)
        return;
    m->stopping = 1;
    stop_accepting(m);
    printf("[master %d] %s: disconnecting from %d worker%s\n", m->pid,
           signo == SIGINT ? "SIGINT" : "SIGTERM", m->live, m->live == 1 ? "" : "s");
    for (int i = 0; i < m->nworkers; i++) {
        worker_t *w = &m->workers[i];
        if (w->proc == NULL)
            continue;
        if (w->ch == NULL || handle_disconnect(w->ch) == -1)
            proc_kill(w->proc, SIGTERM);
    }
    m->kill_timer = loop_timer_add(loop, STOP_GRACE_MS, 0, on_kill_timer, m);
    maybe_done(m);
}

/* Start one worker with its end of a fresh socketpair as fd 3, open our end
 * as a channel, and send the server down it. */
static void start_worker(master_t *m, worker_t *w, char **wargv, char **env,
                         int listen_fd)
{
    int sv[2];
    if (net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv) == -1)
        err(1, "socketpair");
    proc_fd_t extra = {.parent_fd = sv[1], .child_fd = 3};
    proc_options_t opts = {.env = env,
                           .stdio = {PROC_IGNORE, PROC_INHERIT, PROC_INHERIT},
                           .fds = &extra,
                           .nfds = 1};
    w->m = m;
    w->proc = proc_spawn(m->loop, wargv[0], wargv, &opts, NULL, on_worker_exit, w);
    if (w->proc == NULL)
        err(1, "spawn %s", wargv[0]);
    w->pid = proc_pid(w->proc);
    m->live++;
    /* Our copy of the child's end must go, or we would never see EOF. */
    if (close(sv[1]) == -1)
        err(1, "close");
    printf("[master %d] started worker %d (%s) with the channel as fd 3\n", m->pid,
           (int)w->pid, wargv[0]);

    chan_callbacks cb = {.on_message = on_worker_message,
                         .on_error = on_worker_error,
                         .on_disconnect = on_worker_disconnect};
    w->ch = chan_open(m->loop, sv[0], &cb, w);
    if (w->ch == NULL)
        err(1, "chan_open");
    char name[32];
    snprintf(name, sizeof name, "worker %d", (int)w->pid);
    chan_set_name(w->ch, name);
    handle_callbacks hcb = {.on_ack = on_ack};
    if (handle_attach(w->ch, &hcb, w) == -1)
        err(1, "handle_attach");

    if (m->rr)
        return; /* --rr: the connections go out one by one (on_connection) */
    /* The post's `child.send('server', server)`. */
    json_value *msg = json_new_string("server");
    if (msg == NULL)
        err(1, "json_new_string");
    /* A worker that died at once (EPIPE) is not fatal for the others: it
     * is reaped and reported like any worker that exits. */
    if (handle_send(w->ch, msg, m->htype,
                    m->udp_fds ? m->udp_fds[w - m->workers] : listen_fd) == -1)
        warn("handle_send to worker %d", (int)w->pid);
    else
        printf("[master %d] sent the server to worker %d (NODE_HANDLE)\n", m->pid,
               (int)w->pid);
    json_free(msg);
}

/* The default worker lives beside this program. */
static char *default_worker(const char *argv0)
{
    const char *slash = strrchr(argv0, '/');
    size_t dir = slash ? (size_t)(slash - argv0) : 1;
    const char *base = slash ? argv0 : ".";
    char *path = malloc(dir + sizeof "/handle-passing-worker");
    if (path == NULL)
        err(1, "malloc");
    memcpy(path, base, dir);
    strcpy(path + dir, "/handle-passing-worker");
    return path;
}

/* -u: a UDP socket bound to HOST:PORT, and the port it got. There is no
 * listen(2) and no backlog: datagrams queue on the socket itself. With
 * --reuseport the socket allows others on the same port (SO_REUSEPORT), and
 * *port, if not 0, is the port to bind (the first socket's). */
static int bind_udp(const options_t *o, int *port)
{
    int fd = net_socket(o->addr.ss_family, SOCK_DGRAM, O_CLOEXEC);
    if (fd == -1)
        err(1, "socket");
    struct sockaddr_storage sa = o->addr;
#ifdef __linux__
    int one = 1;
    if (o->reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1)
        err(1, "setsockopt SO_REUSEPORT");
    if (o->reuseport && *port != 0 && sa.ss_family == AF_INET)
        ((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)*port);
    else if (o->reuseport && *port != 0)
        ((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)*port);
#endif
    if (bind(fd, (const struct sockaddr *)&sa, o->addrlen) == -1)
        err(1, "bind %s:%ld (udp)", o->host, o->port);
    *port = net_local_port(fd);
    return fd;
}

/* 1. The master creates the server: the only bind(2) in this chapter.
 * SO_REUSEADDR (net.c) only lets a restarted master bind while old
 * connections sit in TIME_WAIT. It is not SO_REUSEPORT: a second bind on
 * this port still fails with EADDRINUSE, which is the point of this
 * chapter. */
static int create_server(master_t *m, const options_t *o)
{
    char why[256];
    int port = 0;
    int listen_fd = o->udp
                        ? bind_udp(o, &port)
                        : net_listen(o->host, (int)o->port, 128, &port, why, sizeof why);
    if (listen_fd == -1)
        errx(1, "%s", why);
    if (o->udp)
        m->htype = o->native ? HANDLE_DGRAM_NATIVE : HANDLE_DGRAM_SOCKET;
    else if (o->rr) /* the listener stays here; each connection goes */
        m->htype = o->native ? HANDLE_NET_NATIVE : HANDLE_NET_SOCKET;
    else
        m->htype = o->native ? HANDLE_NET_NATIVE : HANDLE_NET_SERVER;
    printf("[master %d] listening on %s:%d (pid %d)%s\n", m->pid, o->host, port, m->pid,
           o->udp ? " for UDP datagrams" : "");
    if (m->htype != HANDLE_NET_SERVER && !o->rr)
        printf("[master %d] it goes to the workers as a %s\n", m->pid,
               handle_type_name(m->htype));
    m->listen_fd_number = listen_fd;
    if (o->reuseport) {
        /* Worker 0 gets this socket; each other one a socket of its own,
         * bound to the same port. handle.c keeps a copy of each until its
         * worker has it, so main() closes ours after sending them. */
        if ((m->udp_fds = calloc((size_t)m->nworkers, sizeof *m->udp_fds)) == NULL)
            err(1, "calloc");
        m->udp_fds[0] = listen_fd;
        for (int i = 1; i < m->nworkers; i++)
            m->udp_fds[i] = bind_udp(o, &port);
    }
    fdpass_describe(listen_fd, m->listen_id, sizeof m->listen_id);
    printf("[master %d] the server is fd %d -> %s\n", m->pid, listen_fd, m->listen_id);
    return listen_fd;
}

/* 4. The post's server.close(): drop the master's reference. The socket
 * lives on in handle.c's copies until the workers have it, and then in the
 * workers. The master never accepts, so no client can get stuck in a
 * master that has no handler (FACTS item 13). */
static void close_server(master_t *m, int listen_fd)
{
    if (close(listen_fd) == -1)
        err(1, "close");
    printf("[master %d] closed its own copy of the server (fd %d), like server.close()\n",
           m->pid, listen_fd);
    for (int i = 1; m->udp_fds != NULL && i < m->nworkers; i++)
        if (close(m->udp_fds[i]) == -1)
            err(1, "close");
}

/* The loop LOOP_BACKEND names; SIGINT and SIGTERM stop the workers. The
 * same lines start 02's fork.c and 04's ipc.c, on purpose: their home would
 * be 01's cli.c, which must link without the loop (07's wake-order uses it
 * alone). */
static loop_t *new_loop(master_t *m)
{
    loop_backend_t backend;
    if (loop_backend_default(&backend) == -1)
        cli_fail("bad value for LOOP_BACKEND: %s (want select, poll or epoll)",
                 getenv("LOOP_BACKEND"));
    loop_t *loop = loop_new(backend);
    if (loop == NULL)
        err(1, "loop_new");
    if (loop_on_signal(loop, SIGINT, on_stop_signal, m) == -1 ||
        loop_on_signal(loop, SIGTERM, on_stop_signal, m) == -1)
        err(1, "loop_on_signal");
    return loop;
}

/* 2 and 3. Start the workers (ours, beside this program, unless the command
 * line names one) and send each one the server. */
static void start_workers(master_t *m, char **worker_argv, const char *argv0,
                          int listen_fd)
{
    char *own_argv[2] = {NULL, NULL};
    char **wargv = worker_argv;
    if (wargv == NULL) {
        own_argv[0] = default_worker(argv0);
        wargv = own_argv;
    }
    m->workers = calloc((size_t)m->nworkers, sizeof *m->workers);
    if (m->workers == NULL)
        err(1, "calloc");
    char **env = chan_child_environ();
    if (env == NULL)
        err(1, "chan_child_environ");
    for (int i = 0; i < m->nworkers; i++)
        start_worker(m, &m->workers[i], wargv, env, listen_fd);
    free(env);
    free(own_argv[0]);
}

int main(int argc, char *argv[])
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    options_t o;
    if (argc > 1 && strcmp(argv[1], "take") == 0)
        return take_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "client") == 0) {
        parse_args(argc, argv, 2, 1, &o);
        return run_client(&o);
    }
    parse_args(argc, argv, 1, 0, &o);
    master_t m = {.pid = (int)getpid(),
                  .nworkers = (int)o.workers,
                  .rr_fd = -1,
                  .pause_logged_at = -1};
    /* Writes to a closed client or channel must be EPIPE, not death. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        err(1, "signal SIGPIPE");

    int listen_fd = create_server(&m, &o); /* 1. */
    m.loop = new_loop(&m);
    if ((m.rr = o.rr))
        m.rr_fd = listen_fd; /* kept: the master accepts (on_connection) */
    start_workers(&m, o.worker_argv, argv[0], listen_fd); /* 2 and 3. */
    if (o.rr)
        start_accepting(&m);
    else
        close_server(&m, listen_fd); /* 4. */

    if (loop_run(m.loop) == -1)
        err(1, "loop_run");
    free(m.udp_fds);
    stop_accepting(&m);
    for (int i = 0; i < m.nworkers; i++)
        chan_close(m.workers[i].ch);
    if (m.kill_timer != NULL)
        loop_timer_cancel(m.loop, m.kill_timer);
    loop_free(m.loop);
    free(m.workers);
    return m.stopping ? 0 : 1;
}
