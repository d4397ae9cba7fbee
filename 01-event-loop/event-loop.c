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
 *   ./event-loop thread-limit --limit 2000       # where thread creation stops
 *   ./event-loop switch-cost                     # what a context switch costs
 *
 * The protocol is in proto.h; the server is server.c (accepting), conn.c
 * (loop mode) and threads.c (--threads); the clients are in load.c. The
 * listener comes from net.c and the flags are read by cli.c, the two small
 * modules every later chapter reuses for the same jobs.
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

#include "cli.h"
#include "costs.h"
#include "load.h"
#include "loop.h"
#include "net.h"
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
        "       event-loop thread-limit [--limit N] [--spare-maps M]\n"
        "       event-loop switch-cost [--rounds N]\n"
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
        "round trips and then the server's stats. `thread-limit` and `switch-cost`\n"
        "measure what threads cost here (see their --help).\n");
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

/* `event-loop NAME ...` runs the subcommand NAME: 1 if argv[1] names
 * one (its exit status in *status), 0 if not. */
static int run_subcommand(int argc, char **argv, int *status)
{
    static const struct {
        const char *name;
        int (*main)(int argc, char **argv);
    } subs[] = {
        {"client", client_main},
        {"load", load_main},
        {"thread-limit", thread_limit_main},
        {"switch-cost", switch_cost_main},
    };
    for (size_t k = 0; argc > 1 && k < sizeof subs / sizeof subs[0]; k++)
        if (strcmp(argv[1], subs[k].name) == 0) {
            *status = subs[k].main(argc - 1, argv + 1);
            return 1;
        }
    return 0;
}

/* The server's settings: flags over HOST, PORT and LOOP_BACKEND. */
struct flags {
    const char *host;
    const char *host_from; /* "HOST" or "--host": named if it is bad */
    long port;
    long max_fds; /* 0: leave the limit alone; -1: the hard limit */
    server_opts opts;
};

static void server_flags(int argc, char **argv, struct flags *f)
{
    *f = (struct flags){.host = cli_env("HOST", "127.0.0.1"),
                        .host_from = "HOST",
                        .port = cli_env_long("PORT", 7000, 0, 65535),
                        .opts = {.tick_ms = 1000}};
    if (loop_backend_default(&f->opts.backend) == -1)
        cli_fail("bad value for LOOP_BACKEND: %s (want select, poll or epoll)",
                 getenv("LOOP_BACKEND"));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        cli_help(a);
        if (strcmp(a, "--threads") == 0) {
            f->opts.threads = 1;
        } else if (strcmp(a, "--host") == 0) {
            f->host = cli_value(argc, argv, &i);
            f->host_from = "--host";
        } else if (strcmp(a, "--port") == 0) {
            f->port = cli_long(a, cli_value(argc, argv, &i), 0, 65535);
        } else if (strcmp(a, "--backend") == 0) {
            const char *v = cli_value(argc, argv, &i);
            if (loop_backend_parse(v, &f->opts.backend) == -1)
                cli_fail("bad value for --backend: %s (want select, poll or epoll)", v);
        } else if (strcmp(a, "--tick") == 0) {
            f->opts.tick_ms = (int)cli_long(a, cli_value(argc, argv, &i), 0, 3600000);
        } else if (strcmp(a, "--max-fds") == 0) {
            const char *v = cli_value(argc, argv, &i);
            f->max_fds = strcmp(v, "max") == 0 ? -1 : cli_long(a, v, 8, 10000000);
        } else {
            cli_bad_arg(a);
        }
    }
}

/* A host that does not resolve is a bad value (exit 2), named with the
 * flag or variable it came from; checked before anything is changed. */
static void check_host(const struct flags *f)
{
    char why[256];
    struct sockaddr_storage sa;
    socklen_t salen;
    if (net_resolve(f->host, (int)f->port, 1, &sa, &salen, why, sizeof why) == -1)
        cli_fail("bad value for %s: %s (%s)", f->host_from, f->host, why);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int status;
    if (run_subcommand(argc, argv, &status))
        return status;

    cli_init("event-loop", usage);
    struct flags f;
    server_flags(argc, argv, &f);
    check_host(&f);
    if (f.max_fds != 0)
        set_max_fds(f.max_fds);

    /* A client that disconnects while we write to it must cost us an
     * EPIPE error, not the whole process. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        err(1, "signal SIGPIPE");

    char why[256];
    int bound_port;
    int lfd = net_listen(f.host, (int)f.port, SOMAXCONN, &bound_port, why, sizeof why);
    if (lfd == -1)
        errx(1, "%s", why);
    status = server_run(lfd, f.host, bound_port, &f.opts);
    close(lfd);
    return status;
}
