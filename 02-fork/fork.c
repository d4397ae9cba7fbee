/*
 * fork.c: chapter 02's program. A master forks workers and looks after them.
 *
 * The post's master.js forks one worker per CPU, and each worker serves
 * `Hello World.` on a port of its own. This master does the same, and also
 * what master.js leaves out (the supervisor module, supervisor.h):
 *   - every worker binds port 0 and prints the port it really got;
 *   - every exit is reaped, learned through the event loop, never polled;
 *   - a worker that dies is replaced, and the log shows both pids;
 *   - a crash loop (more than 5 deaths in 10 s) stops everything: exit 1;
 *   - SIGINT or SIGTERM: SIGTERM to the workers, up to 5 s, then SIGKILL,
 *     then exit 0;
 *   - if the master is SIGKILLed, the workers exit within a second
 *     (PR_SET_PDEATHSIG on Linux, and the lifeline pipe everywhere).
 *
 * Terminal 1:   ./fork --workers 2
 *               [master 4211] forking 2 workers (select loop)
 *               [worker 4212] listening on 127.0.0.1:40123 (pid 4212)
 *               [worker 4213] listening on 127.0.0.1:36017 (pid 4213)
 * Terminal 2:   curl http://127.0.0.1:40123/      -> Hello World.
 *               kill -9 4212                       -> terminal 1 shows the
 *                                                     replacement and its port
 *               kill 4211                          -> a clean stop, exit 0
 *
 * Two more subcommands: `fork cost` measures fork, vfork, posix_spawn and
 * fork+exec at several parent sizes (fork_cost.h), and `fork get PORT` is a
 * tiny HTTP client for machines without curl.
 */
#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "fork_cost.h"
#include "hello_server.h"
#include "loop.h"
#include "net.h"
#include "supervisor.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fork [-w N] [--host HOST] [--crash]\n"
            "       fork cost [--sizes MIB,MIB,...] [--runs N] [--prog PATH]\n"
            "                 [--cow-size MIB] [--no-vfork]\n"
            "       fork get PORT [HOST]\n"
            "\n"
            "fork: a master forks N workers; each serves `Hello World.` over HTTP on a\n"
            "port of its own (port 0: the kernel picks) and prints it. The master\n"
            "replaces a worker that dies, stops after more than 5 deaths in 10 s\n"
            "(exit 1), and on SIGINT/SIGTERM stops the workers (SIGTERM, then SIGKILL\n"
            "after 5 s) and exits 0.\n"
            "  -w, --workers N  how many workers (env WORKERS; default: online CPUs)\n"
            "  --host HOST      name or address the workers bind (env HOST; 127.0.0.1)\n"
            "  --crash          every worker exits with status 3 at once, to watch\n"
            "                   the crash-loop guard stop the master\n"
            "  env LOOP_BACKEND=select|poll|epoll picks the event loop (chapter 01)\n"
            "\n"
            "fork cost: the median time of fork+_exit+waitpid (and the CPU spent inside\n"
            "fork()), vfork+_exit+waitpid, posix_spawn and fork+exec of a trivial\n"
            "program, with the parent holding each size of touched memory; then\n"
            "copy-on-write seen from the child's /proc/PID/smaps_rollup (Linux).\n"
            "  --sizes LIST     parent sizes in MiB (default 1,100,1024)\n"
            "  --runs N         timings per cell, median shown (default 15)\n"
            "  --prog PATH      the trivial program (default /bin/true)\n"
            "  --cow-size MIB   size for the copy-on-write view (default: largest)\n"
            "  --no-vfork       skip the vfork column\n"
            "\n"
            "fork get PORT [HOST]: GET / from HOST:PORT (default 127.0.0.1) and print\n"
            "the response.\n");
}

/* ---------------------------------------------------------------------- */
/* The master                                                             */

/* The master's settings (from main's flags) and its state. A new option is
 * one field here, one branch in main() and its use. */
struct master {
    loop_t *loop;
    sup_t *sup;
    int workers;
    const char *host;
    int crash;
    int me;
};

/* Runs in the child: become a worker. Never returns. */
static void worker(struct master *m)
{
    /* The no-orphan setup: PR_SET_PDEATHSIG (Linux), the getppid() check
     * for a master that died already, and the lifeline. */
    int lifeline = sup_child_init(m->sup, SIGTERM);
    if (lifeline == -1)
        _exit(1);
    /* The master's loop came along with fork(): its fds and its signal
     * handlers. Chapter 01's handler takes the default action in any
     * process but the one that installed it, so a SIGTERM that reaches us
     * before this line ends us instead of landing in the master's
     * self-pipe. loop_free() restores the dispositions and closes our
     * copies of the loop's fds; then we make a loop of our own. */
    loop_backend_t backend = loop_backend(m->loop);
    loop_free(m->loop);

    if (m->crash) {
        printf("[worker %d] --crash: exiting with status 3 at once\n", (int)getpid());
        fflush(stdout);
        _exit(3);
    }
    loop_t *loop = loop_new(backend);
    if (loop == NULL) {
        fprintf(stderr, "[worker %d] loop_new: %s\n", (int)getpid(), strerror(errno));
        _exit(1);
    }
    int status = hello_serve(loop, m->host, lifeline);
    loop_free(loop);
    /* _exit, not exit: this process is a copy of the master, and exit()
     * would run the master's atexit handlers. Flush our own output first. */
    fflush(stdout);
    _exit(status);
}

/* The supervisor's spawn hook: fork one worker. */
static pid_t spawn_worker(sup_t *sup, int slot, void *slot_data, void **proc_data,
                          void *arg)
{
    (void)sup;
    (void)slot;
    (void)slot_data;
    (void)proc_data;
    struct master *m = arg;
    /* Anything still buffered would be printed twice, once by each copy. */
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0)
        worker(m);
    return pid; /* -1 with errno: the supervisor reports it and retries */
}

static void on_event(sup_t *sup, const sup_event_t *ev, void *arg)
{
    struct master *m = arg;
    char how[96];
    switch (ev->kind) {
    case SUP_EV_SPAWNED:
        if (ev->old_pid == 0)
            printf("[master %d] worker %d started: pid %d\n", m->me, ev->slot + 1,
                   (int)ev->pid);
        else
            printf("[master %d] worker %d replaced: pid %d -> pid %d\n", m->me,
                   ev->slot + 1, (int)ev->old_pid, (int)ev->pid);
        break;
    case SUP_EV_EXITED:
        sup_status_str(ev->status, how, sizeof how);
        printf("[master %d] worker %d (pid %d) %s: %s\n", m->me, ev->slot + 1,
               (int)ev->pid, ev->expected ? "stopped" : "died", how);
        break;
    case SUP_EV_KILLED:
        printf("[master %d] worker %d (pid %d) did not stop in time: SIGKILL\n", m->me,
               ev->slot + 1, (int)ev->pid);
        break;
    case SUP_EV_SPAWN_FAILED:
        printf("[master %d] fork for worker %d failed: %s (retrying)\n", m->me,
               ev->slot + 1, strerror(ev->error));
        break;
    case SUP_EV_CRASH_LOOP:
        printf("[master %d] crash loop: %d worker deaths within 10 s; stopping "
               "everything\n",
               m->me, ev->deaths);
        break;
    case SUP_EV_STOPPED:
        loop_stop(m->loop);
        break;
    }
    (void)sup;
}

static void on_stop_signal(loop_t *loop, int signo, void *arg)
{
    (void)loop;
    struct master *m = arg;
    if (sup_stopping(m->sup))
        return; /* already on the way out */
    printf("[master %d] %s: asking %d worker%s to stop (SIGTERM; SIGKILL after 5 s)\n",
           m->me, signo == SIGINT ? "SIGINT" : "SIGTERM", sup_running(m->sup),
           sup_running(m->sup) == 1 ? "" : "s");
    sup_stop(m->sup);
}

/* m holds the settings; the rest of it is filled in here. */
static int run_master(struct master *m)
{
    m->me = (int)getpid();
    loop_backend_t backend;
    if (loop_backend_default(&backend) == -1)
        cli_fail("bad value for LOOP_BACKEND: %s (want select, poll or epoll)",
                 getenv("LOOP_BACKEND"));
    m->loop = loop_new(backend);
    if (m->loop == NULL)
        err(1, "loop_new");
    /* The master writes nothing to sockets, but its stdout may be a pipe
     * whose reader has gone; a failed printf is better than a dead master
     * that leaves its workers unsupervised. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        err(1, "signal");
    if (loop_on_signal(m->loop, SIGINT, on_stop_signal, m) == -1 ||
        loop_on_signal(m->loop, SIGTERM, on_stop_signal, m) == -1)
        err(1, "loop_on_signal");

    sup_config_t cfg = {
        .nslots = m->workers,
        .spawn = spawn_worker,
        .on_event = on_event,
        .arg = m,
    };
    m->sup = sup_new(m->loop, &cfg);
    if (m->sup == NULL)
        err(1, "sup_new");

    printf("[master %d] forking %d worker%s (%s loop)\n", m->me, m->workers,
           m->workers == 1 ? "" : "s", loop_backend_name(backend));
    int status = 0;
    if (sup_start(m->sup) == -1) {
        fprintf(stderr, "[master %d] fork: %s\n", m->me, strerror(errno));
        status = 1;
        sup_stop(m->sup); /* stop the workers that did start */
    }
    if (loop_run(m->loop) == -1)
        err(1, "loop_run");

    if (sup_crashed(m->sup)) {
        fprintf(stderr,
                "[master %d] gave up: workers keep dying (more than 5 deaths in "
                "10 s)\n",
                m->me);
        status = 1;
    } else {
        printf("[master %d] all workers stopped; exiting\n", m->me);
    }
    sup_free(m->sup);
    loop_free(m->loop);
    return status;
}

/* ---------------------------------------------------------------------- */
/* fork get PORT [HOST]: a tiny HTTP client                               */

static int run_get(const char *port_s, const char *host)
{
    long port = cli_long("PORT", port_s, 1, 65535);
    struct sockaddr_storage sa;
    socklen_t salen;
    char why[256];
    if (net_resolve(host, (int)port, 0, &sa, &salen, why, sizeof why) == -1)
        cli_fail("bad value for HOST: %s (%s)", host, why);
    int fd = net_socket(sa.ss_family, SOCK_STREAM, O_CLOEXEC);
    if (fd == -1)
        err(1, "socket");
    /* A server that accepts and then says nothing must not hang us. */
    struct timeval tv = {.tv_sec = 5};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1)
        err(1, "setsockopt");
    if (connect(fd, (struct sockaddr *)&sa, salen) == -1)
        err(1, "connect to %s:%ld", host, port);
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET / HTTP/1.1\r\nHost: %s:%ld\r\nConnection: close\r\n\r\n", host,
                     port);
    if (net_send_all(fd, req, (size_t)n) == -1)
        err(1, "send");
    char buf[4096];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1)
            err(1, "read");
        if (r == 0)
            break;
        fwrite(buf, 1, (size_t)r, stdout);
    }
    printf("\n");
    close(fd);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* fork cost: argument parsing (the measuring is in fork_cost.c)           */

static void parse_sizes(const char *list, cost_opts *o)
{
    o->nsizes = 0;
    const char *p = list;
    while (*p != '\0') {
        char item[32];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof item || o->nsizes == COST_MAX_SIZES)
            cli_fail("bad value for --sizes: %s (want up to %d sizes in MiB, like 1,100)",
                     list, COST_MAX_SIZES);
        memcpy(item, p, len);
        item[len] = '\0';
        o->sizes_mib[o->nsizes++] = (size_t)cli_long("--sizes", item, 1, 1L << 20);
        p += len;
        if (*p == ',')
            p++;
    }
    if (o->nsizes == 0)
        cli_fail("bad value for --sizes: %s (an empty list)", list);
}

static int run_cost(int argc, char *argv[])
{
    cost_opts o = {
        .sizes_mib = {1, 100, 1024}, .nsizes = 3, .runs = 15, .prog = "/bin/true"};
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--no-vfork") == 0) {
            o.no_vfork = 1;
        } else if (strcmp(a, "--sizes") == 0) {
            parse_sizes(cli_value(argc, argv, &i), &o);
        } else if (strcmp(a, "--runs") == 0) {
            o.runs = (int)cli_long(a, cli_value(argc, argv, &i), 1, 100000);
        } else if (strcmp(a, "--prog") == 0) {
            o.prog = cli_value(argc, argv, &i);
        } else if (strcmp(a, "--cow-size") == 0) {
            o.cow_mib = (size_t)cli_long(a, cli_value(argc, argv, &i), 1, 1L << 20);
        } else {
            cli_bad_arg(a);
        }
    }
    return cost_run(&o);
}

int main(int argc, char *argv[])
{
    /* Line-buffered even into a pipe, so log lines from the master and the
     * workers arrive whole and in order. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    cli_init("fork", usage);
    if (argc > 1 && strcmp(argv[1], "cost") == 0)
        return run_cost(argc - 2, argv + 2);
    if (argc > 1 && strcmp(argv[1], "get") == 0) {
        if (argc < 3 || argc > 4)
            cli_fail("get takes PORT [HOST]");
        return run_get(argv[2], argc == 4 ? argv[3] : "127.0.0.1");
    }

    long ncpu = net_cpu_count();
    struct master m = {
        .workers = (int)cli_env_long("WORKERS", ncpu > 0 ? ncpu : 1, 1, 1024),
        .host = cli_env("HOST", "127.0.0.1"),
    };
    const char *host_from = "HOST";

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--crash") == 0) {
            m.crash = 1;
        } else if (strcmp(a, "-w") == 0 || strcmp(a, "--workers") == 0) {
            m.workers = (int)cli_long(a, cli_value(argc, argv, &i), 1, 1024);
        } else if (strcmp(a, "--host") == 0) {
            m.host = cli_value(argc, argv, &i);
            host_from = "--host";
        } else {
            cli_bad_arg(a);
        }
    }
    /* The workers bind; check the host here, so that a typo is one line
     * from the master and not one from every worker it keeps respawning. */
    struct sockaddr_storage sa;
    socklen_t salen;
    char why[256];
    if (net_resolve(m.host, 0, 1, &sa, &salen, why, sizeof why) == -1)
        cli_fail("bad value for %s: %s (%s)", host_from, m.host, why);
    return run_master(&m);
}
