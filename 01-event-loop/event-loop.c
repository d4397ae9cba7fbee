/*
 * event-loop.c: a TCP line server on one thread, and the clients to test it.
 *
 * The post's first section says a server can serve many clients on one
 * thread with an event loop, instead of a thread per request, and that the
 * loop's weak point is CPU-bound work. This program lets you see all of it:
 *
 *   terminal 1:  ./event-loop                    # loop, select backend, port 7000
 *   terminal 2:  nc 127.0.0.1 7000               # type: hello / stats / busy 1000
 *   terminal 3:  ./event-loop client ping        # replies in well under 1 ms...
 *                                                # ...unless terminal 2 is busy
 *
 * Terminal 1 prints a tick line every second; during `busy` the ticks stop,
 * because the one thread is burning CPU instead of running the loop.
 *
 *   ./event-loop --threads                       # same protocol, thread per client
 *   ./event-loop --backend epoll                 # or LOOP_BACKEND=epoll
 *   ./event-loop load --conns 1000 --msgs 10     # round trips p50/p99/max + stats
 *
 * The protocol is in proto.h; the server is server.c (accepting), conn.c
 * (loop mode) and threads.c (--threads); the clients are in load.c.
 */
#include <err.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "load.h"
#include "loop.h"
#include "server.h"

static void usage(FILE *to)
{
    fprintf(
        to,
        "usage: event-loop [--host H] [--port P] [--backend select|poll|epoll]\n"
        "                  [--threads] [--tick MS] [--max-fds N|max]\n"
        "       event-loop client [--host H] [--port P] [--count N] [--interval MS]\n"
        "                  [--timeout MS] LINE...\n"
        "       event-loop load [--host H] [--port P] [--conns N] [--msgs M]\n"
        "                  [--interval MS] [--timeout S]\n"
        "\n"
        "The server answers one line with one line:\n"
        "  any line   -> pid N: <line>\n"
        "  busy MS    -> burns MS ms of CPU (0..60000) inside the server, then replies\n"
        "  stats      -> open connections, threads, RSS, context switches\n"
        "\n"
        "  --backend     how the loop waits (default: $LOOP_BACKEND or select)\n"
        "  --threads     one thread per connection instead of the loop\n"
        "  --tick MS     print a tick line every MS ms (default 1000, 0: none)\n"
        "  --max-fds N   set the soft RLIMIT_NOFILE to N first (max: the hard limit)\n"
        "Environment: HOST (default 127.0.0.1), PORT (default 7000; 0: any free port),\n"
        "LOOP_BACKEND. `client` sends each LINE and prints the reply and its round\n"
        "trip; `load` opens N connections, sends M pings on each, prints p50/p99/max\n"
        "round trips and then the server's stats.\n");
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Bind and listen on host:port. The port is reported by getsockname, so
 * port 0 (any free port) prints the port the kernel picked. Exits 1 with
 * the port named if it is taken. */
static int open_listener(const char *host, long port, int *bound_port)
{
    char service[16];
    snprintf(service, sizeof service, "%ld", port);
    struct addrinfo hints = {0}, *res;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int e = getaddrinfo(host, service, &hints, &res);
    if (e != 0)
        errx(1, "getaddrinfo %s: %s", host, gai_strerror(e));
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd == -1)
        err(1, "socket");
    /* SO_REUSEADDR lets a restarted server bind while old connections sit
     * in TIME_WAIT. It does not let two servers listen on one port. */
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
        err(1, "setsockopt SO_REUSEADDR");
    if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
        err(1, "bind %s port %ld", host, port);
    freeaddrinfo(res);
    if (listen(fd, SOMAXCONN) == -1)
        err(1, "listen port %ld", port);
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) == -1)
        err(1, "getsockname");
    char h[64], p[16];
    e = getnameinfo((struct sockaddr *)&sa, len, h, sizeof h, p, sizeof p,
                    NI_NUMERICHOST | NI_NUMERICSERV);
    if (e != 0)
        errx(1, "getnameinfo: %s", gai_strerror(e));
    *bound_port = atoi(p);
    return fd;
}

/* --max-fds: lower (or raise, up to the hard limit) how many fds this
 * process may open; n == -1 means the hard limit. The tests use it to run
 * out of fds on purpose. */
static void set_max_fds(long n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
        err(1, "getrlimit RLIMIT_NOFILE");
    rl.rlim_cur = n == -1 ? rl.rlim_max : (rlim_t)n;
    if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
        err(1, "setrlimit RLIMIT_NOFILE to %ld", n);
}

/* The flags that take a value, so that a bad one is named with its value. */
static int takes_value(const char *flag)
{
    static const char *const with_value[] = {"--host", "--port", "--backend", "--tick",
                                             "--max-fds"};
    for (size_t i = 0; i < sizeof with_value / sizeof with_value[0]; i++)
        if (strcmp(flag, with_value[i]) == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && strcmp(argv[1], "client") == 0)
        return client_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "load") == 0)
        return load_main(argc - 1, argv + 1);

    const char *host = getenv("HOST") && *getenv("HOST") ? getenv("HOST") : "127.0.0.1";
    long port = 7000;
    if (getenv("PORT") && *getenv("PORT") &&
        parse_long(getenv("PORT"), 0, 65535, &port) == -1) {
        fprintf(stderr, "event-loop: PORT=%s is not a port number\n", getenv("PORT"));
        return 2;
    }
    server_opts opts = {.tick_ms = 1000};
    if (loop_backend_default(&opts.backend) == -1) {
        fprintf(stderr, "event-loop: LOOP_BACKEND=%s is not a backend here\n",
                getenv("LOOP_BACKEND"));
        return 2;
    }
    long max_fds = 0; /* 0: leave the limit alone; -1: the hard limit */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--threads") == 0) {
            opts.threads = 1;
        } else if (strcmp(a, "--host") == 0 && v) {
            host = v;
            i++;
        } else if (strcmp(a, "--port") == 0 && v && parse_long(v, 0, 65535, &port) == 0) {
            i++;
        } else if (strcmp(a, "--backend") == 0 && v &&
                   loop_backend_parse(v, &opts.backend) == 0) {
            i++;
        } else if (strcmp(a, "--tick") == 0 && v && parse_long(v, 0, 3600000, &n) == 0) {
            opts.tick_ms = (int)n;
            i++;
        } else if (strcmp(a, "--max-fds") == 0 && v &&
                   (strcmp(v, "max") == 0 || parse_long(v, 8, 10000000, &n) == 0)) {
            max_fds = strcmp(v, "max") == 0 ? -1 : n;
            i++;
        } else {
            if (!takes_value(a))
                fprintf(stderr, "event-loop: bad argument: %s\n", a);
            else if (v == NULL)
                fprintf(stderr, "event-loop: %s needs a value\n", a);
            else
                fprintf(stderr, "event-loop: bad value for %s: %s\n", a, v);
            usage(stderr);
            return 2;
        }
    }
    if (max_fds != 0)
        set_max_fds(max_fds);

    /* A client that disconnects while we write to it must cost us an
     * EPIPE error, not the whole process. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        err(1, "signal SIGPIPE");

    int bound_port;
    int lfd = open_listener(host, port, &bound_port);
    int status = server_run(lfd, host, bound_port, &opts);
    close(lfd);
    return status;
}
