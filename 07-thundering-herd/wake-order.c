/*
 * wake-order: when N processes wait on one listening socket and one
 * connection comes, which of them gets it?
 *
 * It is often said that epoll wakes "the most recently waiting" process
 * first (LIFO) and blocking accept() the longest waiting (FIFO). Two orders
 * are mixed up in that sentence: the order in which the processes *register*
 * the socket with their epoll instances (epoll_ctl ADD, once) and the order
 * in which they *start waiting* (epoll_wait or accept, every time). This
 * program varies the two separately and asks the kernel.
 *
 * For every trial it forks N fresh processes that inherit one listening
 * socket. The master tells them, one at a time, in a chosen order, to
 * register (each with an epoll instance of its own); then, in another
 * chosen order, to start waiting: process k is told only once process k-1
 * is surely asleep in its wait (state S in /proc/PID/stat, and
 * /proc/PID/wchan names the epoll or accept sleep, not the pipe read it
 * waited in before). Then the master makes one connection, reads which
 * process accepted it, and ends them all. Three ways to wait:
 *
 *   epoll-exclusive  an epoll instance each, the listener added with
 *                    EPOLLEXCLUSIVE (Linux 4.5+), then a non-blocking accept()
 *   epoll            the same without EPOLLEXCLUSIVE
 *   accept           a blocking accept(); there is nothing to register
 *
 * Run it (one terminal, from this directory):
 *
 *   make
 *   ./wake-order                          4 processes, 20 trials per row
 *   ./wake-order --workers 6 --trials 50 --mode epoll
 *
 * What you should see: one row per (mode, registration order, waiting
 * order), the winner of each trial as one digit, and a summary per mode of
 * how often the winner was the first or last to register and the first or
 * last to wait. On Linux 6.18: with EPOLLEXCLUSIVE the first to register
 * wins every trial, whatever the waiting order; without it every process
 * wakes and the last to register usually wins the race; a blocking
 * accept() serves the first to wait, every trial. NOTES.md (07) explains
 * why from the kernel's wait queues.
 *
 * Linux only: epoll, and /proc to see that a process sleeps.
 */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h" /* flags, as in every chapter (01-event-loop) */
#include "net.h" /* fd flags (01-event-loop) */

static void usage(FILE *out)
{
    fprintf(out, "usage: wake-order [options]\n"
                 "  --mode MODE   epoll-exclusive, epoll, accept or all (default all)\n"
                 "  --workers N   how many processes wait on the socket, two to ten\n"
                 "                (env WORKERS, default 4)\n"
                 "  --trials K    connections per row, one at a time, each to N fresh\n"
                 "                processes (default 20)\n"
                 "  -h, --help    this text\n"
                 "Linux only.\n");
}

typedef struct mode {
    const char *name;
    int use_epoll;
    int exclusive; /* EPOLLEXCLUSIVE */
} mode;

enum { MAX_PROCS = 10 }; /* one digit each in the table */

static const mode modes[] = {
    {"epoll-exclusive", 1, 1},
    {"epoll", 1, 0},
    {"accept", 0, 0},
};
enum { NMODES = sizeof modes / sizeof modes[0] };

#ifdef __linux__

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#include "counters.h" /* counters_is_asleep: state S in /proc/PID/stat */

enum { TIMEOUT_MS = 5000 };

#ifdef EPOLLEXCLUSIVE
#define EXCLUSIVE_FLAG EPOLLEXCLUSIVE
#else
#define EXCLUSIVE_FLAG 0 /* headers older than Linux 4.5: the mode is skipped */
#endif

/* ---- a process that waits --------------------------------------------------- */

/* In a forked child: report and _exit, never err(), which would flush the
 * stdio buffers it inherited. */
static _Noreturn void child_fail(int k, const char *call)
{
    dprintf(STDERR_FILENO, "[waiter %d] process %d: %s: %s\n", (int)getpid(), k, call,
            strerror(errno));
    _exit(1);
}

static char read_token(int k, int fd)
{
    char c;
    ssize_t n;
    while ((n = read(fd, &c, 1)) == -1 && errno == EINTR)
        ;
    if (n != 1)
        child_fail(k, "read from the master");
    return c;
}

static void report(int k, int fd)
{
    char c = (char)('0' + k);
    if (write(fd, &c, 1) != 1)
        child_fail(k, "write to the master");
}

/* Process k: register when told 'r', start waiting when told 'w', and say
 * so each time (its digit on the report pipe); when it accepts the
 * connection, report its digit once more and exit. The losers are ended by
 * the master. */
static _Noreturn void waiter(int k, const mode *m, int lfd, int go, int rep, pid_t master)
{
    /* No orphans: if the master dies, so does this process (and if it died
     * before prctl, getppid() has changed already). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
        child_fail(k, "prctl(PR_SET_PDEATHSIG)");
    if (getppid() != master)
        _exit(1);
    if (read_token(k, go) != 'r')
        _exit(1);
    int ep = -1;
    if (m->use_epoll) {
        /* Made after the fork: an instance made before it would be one
         * instance shared by all, not one each. */
        ep = epoll_create1(EPOLL_CLOEXEC);
        if (ep == -1)
            child_fail(k, "epoll_create1");
        uint32_t flags = m->exclusive ? (uint32_t)EXCLUSIVE_FLAG : 0;
        struct epoll_event ev = {.events = EPOLLIN | flags, .data.fd = lfd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) == -1)
            child_fail(k, "epoll_ctl(ADD)");
    }
    report(k, rep);
    if (read_token(k, go) != 'w')
        _exit(1);
    report(k, rep);
    for (;;) {
        if (ep != -1) {
            struct epoll_event ev;
            if (epoll_wait(ep, &ev, 1, -1) == -1 && errno != EINTR)
                child_fail(k, "epoll_wait");
        }
        int c = accept(lfd, NULL, NULL);
        if (c == -1) {
            /* Woken, but another process took it first (plain epoll):
             * back to the wait, as an event loop would. */
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                continue;
            child_fail(k, "accept");
        }
        report(k, rep);
        close(c);
        _exit(0);
    }
}

/* ---- the master ------------------------------------------------------------- */

/* The next digit a process reported, or -1 after TIMEOUT_MS. */
static int next_report(int rep)
{
    struct pollfd pfd = {.fd = rep, .events = POLLIN};
    int n;
    while ((n = poll(&pfd, 1, TIMEOUT_MS)) == -1 && errno == EINTR)
        ;
    if (n == -1)
        err(1, "poll");
    char c;
    if (n == 0 || read(rep, &c, 1) != 1)
        return -1;
    return c - '0';
}

static void expect_report(int rep, int k, const char *what)
{
    int got = next_report(rep);
    if (got != k)
        errx(1, "process %d did not report %s (got %d)", k, what, got);
}

/* Wait until process pid sleeps in the wait itself. "Asleep" alone is not
 * enough: a moment ago it slept in read() on its pipe from the master, and
 * the state letter is the same. /proc/PID/wchan names the kernel function
 * it sleeps in (do_epoll_wait, inet_csk_accept on 6.18); where the kernel
 * hides it ("0"), the report it wrote just before the call must do. */
static void wait_until_asleep(pid_t pid, int k, const mode *m)
{
    char path[64], wchan[64] = "";
    snprintf(path, sizeof path, "/proc/%d/wchan", (int)pid);
    for (int waited_us = 0; waited_us < TIMEOUT_MS * 1000; waited_us += 100) {
        int asleep = counters_is_asleep(pid);
        if (asleep == -1)
            errx(1, "process %d (pid %d): no /proc/PID/stat", k, (int)pid);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            err(1, "%s", path);
        size_t n = fread(wchan, 1, sizeof wchan - 1, f);
        fclose(f);
        wchan[n] = '\0';
        int in_wait = m->use_epoll ? strstr(wchan, "epoll") != NULL ||
                                         strstr(wchan, "ep_poll") != NULL
                                   : strstr(wchan, "accept") != NULL;
        if (asleep && (in_wait || strcmp(wchan, "0") == 0))
            return;
        struct timespec us100 = {0, 100000L};
        nanosleep(&us100, NULL);
    }
    errx(1, "process %d (pid %d) did not fall asleep in %s (wchan: %s)", k, (int)pid,
         m->name, wchan);
}

/* A listening socket on 127.0.0.1, port chosen by the kernel. Blocking for
 * accept; non-blocking for the epoll modes, whose losers must get EAGAIN
 * instead of blocking in accept(). O_NONBLOCK belongs to the open file
 * description, so every process sees the same setting. */
static int make_listener(int nonblocking, struct sockaddr_in *addr)
{
    int fd = net_socket(AF_INET, SOCK_STREAM, O_CLOEXEC);
    if (fd == -1)
        err(1, "socket");
    *addr = (struct sockaddr_in){.sin_family = AF_INET};
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof *addr;
    if (bind(fd, (struct sockaddr *)addr, len) == -1)
        err(1, "bind");
    if (listen(fd, 16) == -1)
        err(1, "listen");
    if (getsockname(fd, (struct sockaddr *)addr, &len) == -1)
        err(1, "getsockname");
    if (nonblocking && net_set_nonblock(fd, 1) == -1)
        err(1, "fcntl(O_NONBLOCK)");
    return fd;
}

static void cloexec_pipe(int p[2])
{
    if (pipe(p) == -1)
        err(1, "pipe");
    if (fcntl(p[0], F_SETFD, FD_CLOEXEC) == -1 || fcntl(p[1], F_SETFD, FD_CLOEXEC) == -1)
        err(1, "fcntl(FD_CLOEXEC)");
}

static void tell(int fd, char token)
{
    if (write(fd, &token, 1) != 1)
        err(1, "write to a process");
}

/* One trial: n fresh processes register in the order reg_order[] (ignored for
 * accept), start waiting in the order wait_order[], one connection. Returns the
 * process that accepted it. */
static int trial(const mode *m, int lfd, const struct sockaddr_in *addr, int n,
                 const int *reg_order, const int *wait_order)
{
    int rep[2], go[MAX_PROCS][2];
    pid_t pid[MAX_PROCS];
    cloexec_pipe(rep);
    pid_t master = getpid();
    fflush(stdout); /* nothing buffered may be copied into the children */
    for (int k = 0; k < n; k++) {
        cloexec_pipe(go[k]);
        pid[k] = fork();
        if (pid[k] == -1)
            err(1, "fork");
        if (pid[k] == 0)
            waiter(k, m, lfd, go[k][0], rep[1], master);
        close(go[k][0]);
    }
    close(rep[1]);

    for (int i = 0; i < n; i++) {
        tell(go[reg_order[i]][1], 'r');
        expect_report(rep[0], reg_order[i], "that it registered");
    }
    for (int i = 0; i < n; i++) {
        tell(go[wait_order[i]][1], 'w');
        expect_report(rep[0], wait_order[i], "that it is going to wait");
        wait_until_asleep(pid[wait_order[i]], wait_order[i], m);
    }

    int c = net_socket(AF_INET, SOCK_STREAM, O_CLOEXEC);
    if (c == -1)
        err(1, "socket");
    if (connect(c, (const struct sockaddr *)addr, sizeof *addr) == -1)
        err(1, "connect");
    int winner = next_report(rep[0]);
    if (winner < 0 || winner >= n)
        errx(1, "%s: nobody accepted the connection", m->name);
    close(c);

    /* The winner exits by itself; the others still wait, and are ended. */
    for (int k = 0; k < n; k++) {
        if (k != winner && kill(pid[k], SIGTERM) == -1)
            err(1, "kill");
        int status;
        while (waitpid(pid[k], &status, 0) == -1)
            if (errno != EINTR)
                err(1, "waitpid");
        int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        int ended = WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM;
        if (!(k == winner ? clean : ended))
            errx(1, "process %d ended with status %d", k, status);
        close(go[k][1]);
    }
    close(rep[0]);
    return winner;
}

/* How often the winner of a mode's trials held each role. */
typedef struct tally {
    int total, first_reg, last_reg, first_wait, last_wait;
} tally;

static void order_text(char *out, const int *order, int n)
{
    for (int i = 0; i < n; i++)
        out[i] = (char)('0' + order[i]);
    out[n] = '\0';
}

/* One row: `trials` trials with one pair of orders. */
static void row(const mode *m, int n, int trials, const int *reg_order,
                const int *wait_order, tally *t)
{
    struct sockaddr_in addr;
    int lfd = make_listener(m->use_epoll, &addr);
    char winners[1024];
    for (int i = 0; i < trials; i++) {
        int w = trial(m, lfd, &addr, n, reg_order, wait_order);
        winners[i] = (char)('0' + w);
        t->total++;
        t->first_reg += w == reg_order[0];
        t->last_reg += w == reg_order[n - 1];
        t->first_wait += w == wait_order[0];
        t->last_wait += w == wait_order[n - 1];
    }
    winners[trials] = '\0';
    close(lfd);
    char r[MAX_PROCS + 1] = "-", wt[MAX_PROCS + 1];
    if (m->use_epoll)
        order_text(r, reg_order, n);
    order_text(wt, wait_order, n);
    printf("%-16s %-10s %-10s %s\n", m->name, r, wt, winners);
}

static void print_header(int n, int trials)
{
    struct utsname u;
    if (uname(&u) == -1)
        err(1, "uname");
    printf("kernel: %s %s, %ld CPUs online\n", u.sysname, u.release, net_cpu_count());
    printf("%d processes on one listening socket, %d trials per row, each trial with "
           "fresh processes and one connection\n",
           n, trials);
    printf("register: the order of their epoll_ctl(ADD); wait: the order in which "
           "they go to sleep, each once the one before sleeps\n");
    printf("%-16s %-10s %-10s %s\n", "mode", "register", "wait", "winner of each trial");
}

/* Who won, per mode, by role. */
static void print_summary(const tally *t)
{
    printf("who won:\n");
    for (int i = 0; i < NMODES; i++) {
        if (t[i].total == 0)
            continue;
        if (modes[i].use_epoll)
            printf("  %s: of %d connections, the first to register won %d, the last to "
                   "register %d, the first to wait %d, the last to wait %d\n",
                   modes[i].name, t[i].total, t[i].first_reg, t[i].last_reg,
                   t[i].first_wait, t[i].last_wait);
        else
            printf("  %s: of %d connections, the first to wait won %d, the last to wait "
                   "%d\n",
                   modes[i].name, t[i].total, t[i].first_wait, t[i].last_wait);
    }
}

/* Every mode (chosen == -1) or one, n processes, `trials` per row. */
static int run(int n, int trials, int chosen)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    print_header(n, trials);
    /* Forward and backward: the first to register is then the first or the
     * last to wait, and process 0 (forked first) is not always first. */
    int fwd[MAX_PROCS], rev[MAX_PROCS];
    for (int k = 0; k < n; k++) {
        fwd[k] = k;
        rev[k] = n - 1 - k;
    }
    const int *orders[2] = {fwd, rev};
    tally t[NMODES] = {{0}};
    for (int i = 0; i < NMODES; i++) {
        const mode *m = &modes[i];
        if (chosen != -1 && chosen != i)
            continue;
        if (m->exclusive && EXCLUSIVE_FLAG == 0) {
            printf("%-16s (no EPOLLEXCLUSIVE in these headers: skipped)\n", m->name);
            continue;
        }
        /* accept() registers nothing: only the waiting order varies. */
        for (int r = 0; r < (m->use_epoll ? 2 : 1); r++)
            for (int w = 0; w < 2; w++)
                row(m, n, trials, orders[r], orders[w], &t[i]);
    }
    print_summary(t);
    return 0;
}

#endif

/* The mode --mode names: its index in modes[], or -1 for all. Exits 2 if
 * there is no such mode. */
static int mode_index(const char *name)
{
    for (int i = 0; i < NMODES; i++)
        if (strcmp(name, modes[i].name) == 0)
            return i;
    if (strcmp(name, "all") != 0)
        cli_fail("bad value for --mode: %s (want epoll-exclusive, epoll, accept or all)",
                 name);
    return -1;
}

int main(int argc, char **argv)
{
    cli_init("wake-order", usage);
    int n = (int)cli_env_long("WORKERS", 4, 2, MAX_PROCS);
    int trials = 20;
    const char *mode_name = "all";
    for (int i = 1; i < argc; i++) {
        const char *v;
        cli_help(argv[i]);
        if ((v = cli_opt(argc, argv, &i, "--mode")) != NULL)
            mode_name = v;
        else if ((v = cli_opt(argc, argv, &i, "--workers")) != NULL)
            n = (int)cli_long("--workers", v, 2, MAX_PROCS);
        else if ((v = cli_opt(argc, argv, &i, "--trials")) != NULL)
            trials = (int)cli_long("--trials", v, 1, 1000);
        else
            cli_bad_arg(argv[i]);
    }
    int chosen = mode_index(mode_name);
#ifdef __linux__
    return run(n, trials, chosen);
#else
    (void)n;
    (void)trials;
    (void)chosen;
    printf("wake-order: needs Linux (epoll, /proc/PID/wchan): nothing to do here\n");
    return 0;
#endif
}
