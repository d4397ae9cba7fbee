/*
 * herd.c: the driver that runs one strategy (see herd.h).
 *
 * The master's side of a run, in order:
 *   1. mode->setup        the listening socket(s) and whatever else is shared
 *   2. sup_start          fork the workers (chapter 02's supervisor reaps
 *                         them and makes sure none outlives the master)
 *   3. on_worker_ready    wait until every worker writes "I am waiting" on
 *                         the ready pipe, then print the listening line
 *   4. start_client       fork the load (loadgen.h) into a process of its
 *                         own, so the master is free to dispatch in the
 *                         rr-* modes
 *   5. loop_run           chapter 01's loop waits for the client to finish,
 *                         or for SIGINT/SIGTERM; the rr-* masters do their
 *                         accepting there too
 *   6. on_client_done     let the counters settle, read each worker's
 *                         context switches, then sup_stop: SIGTERM to every
 *                         worker, reap them all
 *   7. mode->teardown     close what setup made
 *
 * An external mode (node-rr, node-none) skips 2 and 3: its setup has
 * started the server (node node/cluster.js) and waited for its workers,
 * and at 6 its server_stop stops it instead of sup_stop.
 *
 * A worker's side is worker_main(): wait for a connection the mode's way,
 * write one line naming itself, close, repeat. Its SIGTERM is left at the
 * default action: a worker holds nothing that needs saving between
 * connections, so dying on SIGTERM *is* its graceful stop.
 *
 * ./thundering-herd drives it; tests/test_modes.c calls herd_run() directly
 * for every mode and checks that nothing leaks.
 */
#define _DEFAULT_SOURCE /* SO_REUSEPORT: Linux 3.9+ and the BSDs, not POSIX.1-2008 */
#include "herd.h"

#include <arpa/inet.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net.h" /* net_socket, net_accept: 01-event-loop */

const herd_mode *herd_mode_find(const char *name)
{
    for (int i = 0; herd_modes[i] != NULL; i++)
        if (strcmp(herd_modes[i]->name, name) == 0)
            return herd_modes[i];
    return NULL;
}

/* Would execvp() find `prog`? The same search: a name with a slash is a
 * path, any other is looked for in each directory of PATH. */
static int installed(const char *prog)
{
    if (strchr(prog, '/') != NULL)
        return access(prog, X_OK) == 0;
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/bin:/bin";
    while (*path != '\0') {
        size_t len = strcspn(path, ":");
        char file[4096];
        if (snprintf(file, sizeof file, "%.*s/%s", (int)len, len > 0 ? path : ".", prog) <
                (int)sizeof file &&
            access(file, X_OK) == 0)
            return 1;
        path += len + (path[len] == ':');
    }
    return 0;
}

const char *herd_mode_missing(const herd_mode *mode, const herd_config *cfg)
{
    static char why[256];
    if (!mode->available)
        return "Linux-only";
    if (mode->needs != NULL && strcmp(mode->needs, "node") == 0 &&
        !installed(cfg->node)) {
        snprintf(why, sizeof why, "%s not found (set NODE to the node program)",
                 cfg->node);
        return why;
    }
    return NULL;
}

/* ---- sockets ------------------------------------------------------------ */

int herd_listen(const char *host, int port, int reuseport, int *bound_port,
                const char **call)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (lg_sockaddr(host, port, &ss, &len) == -1) {
        *call = "getaddrinfo (HOST does not resolve)";
        return -1;
    }
    int fd = net_socket(ss.ss_family, SOCK_STREAM, O_CLOEXEC);
    if (fd == -1) {
        *call = "socket";
        return -1;
    }
    int one = 1;
    /* SO_REUSEADDR: a rerun may bind the port while old connections of the
     * previous run are still in TIME_WAIT. */
    *call = "setsockopt(SO_REUSEADDR)";
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
        goto fail;
#ifdef SO_REUSEPORT
    /* SO_REUSEPORT: several sockets may bind the same address, and on Linux
     * the kernel spreads incoming connections over them (socket(7)). */
    *call = "setsockopt(SO_REUSEPORT)";
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1)
        goto fail;
#else
    if (reuseport) {
        *call = "SO_REUSEPORT";
        errno = ENOPROTOOPT;
        goto fail;
    }
#endif
    *call = "bind";
    if (bind(fd, (struct sockaddr *)&ss, len) == -1)
        goto fail;
    *call = "listen";
    if (listen(fd, SOMAXCONN) == -1)
        goto fail;
    len = sizeof ss;
    *call = "getsockname";
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
        goto fail;
    *bound_port =
        ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                      : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
fail:;
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}

int herd_accept(int listen_fd)
{
    return net_accept(listen_fd, O_CLOEXEC);
}

/* ---- the worker ----------------------------------------------------------- */

/* Answer one connection: sleep first if this is the stalled worker, then
 * one line naming ourselves, then close. The served counter goes up before
 * close(), so by the time the client sees EOF the count is final. */
static void serve(herd *h, int w, int conn)
{
    const herd_config *cfg = h->cfg;
    if (w == cfg->stall_worker && cfg->stall_ms > 0) {
        /* Busy with something slow (a long computation, a blocking disk
         * read): the worker is not waiting for connections meanwhile. */
        counters_add(&h->count->slot[w].naps); /* a sleep, but not a wait */
        struct timespec ts = {cfg->stall_ms / 1000,
                              (long)(cfg->stall_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
            ;
    }
    char line[64];
    int len = snprintf(line, sizeof line, "served by worker %d\n", (int)getpid());
    const char *p = line;
    while (len > 0) {
        ssize_t n = write(conn, p, (size_t)len);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            break; /* the client went away (EPIPE, ECONNRESET): nothing to do */
        p += n;
        len -= (int)n;
    }
    if (len == 0)
        counters_add(&h->count->slot[w].served);
    close(conn);
}

/* Called in every child right after fork(), with all signals still
 * blocked (see fork_quietly): drop the master's loop, which puts back the
 * signal dispositions it had taken over, then choose our own and unblock. */
static void child_signals(herd *h, const sigset_t *mask)
{
    loop_free(h->loop);
    /* The terminal's Ctrl-C goes to the whole process group; the master
     * decides when children stop (SIGTERM), so they ignore SIGINT. A
     * client that vanishes must not kill a worker with SIGPIPE. */
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, SIG_DFL);
    sigprocmask(SIG_SETMASK, mask, NULL);
}

/* fork() with every signal blocked. Until the child has freed the master's
 * loop, it still has the loop's signal handler, and that handler writes
 * into the master's self-pipe, which the child shares: a SIGTERM sent to
 * a child that had just been born would reach the master's loop as if the
 * master had been sent SIGTERM. Blocked, the signal waits until the child
 * has its own dispositions. The parent's mask is restored at once; *old
 * is the mask for the child to restore. */
static pid_t fork_quietly(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, old);
    fflush(NULL); /* nothing buffered gets printed twice */
    pid_t pid = fork();
    if (pid != 0) {
        int e = errno;
        sigprocmask(SIG_SETMASK, old, NULL);
        errno = e;
    }
    return pid;
}

static _Noreturn void worker_main(herd *h, int w)
{
    atomic_store(&h->count->slot[w].pid, (int)getpid());
    if (h->mode->worker_init(h, w) == -1) {
        warn("[worker %d] %s: worker_init", (int)getpid(), h->mode->name);
        _exit(1);
    }
    if (h->cfg->verbose)
        printf("[worker %d] %s: waiting (%s)%s\n", (int)getpid(), h->mode->name,
               h->mode->how,
               w == h->cfg->stall_worker ? ", stalls on every connection" : "");
    /* From here on every voluntary context switch is a sleep in the wait
     * (or a nap of the stalled worker, counted apart): see counters.h. */
    long base = counters_own_switches();
    if (base >= 0)
        counters_set(&h->count->slot[w].sleeps_base, (unsigned long)base);
    /* Tell the master we are about to wait: the load starts only when
     * every worker waits, or the first connections would find some of them
     * not yet born. */
    if (h->ready[1] != -1) {
        while (write(h->ready[1], "w", 1) == -1 && errno == EINTR)
            ;
        close(h->ready[1]);
    }
    for (;;) {
        int conn = h->mode->worker_wait(h, w);
        if (conn == HERD_AGAIN)
            continue;
        if (conn == HERD_STOP)
            break;
        serve(h, w, conn);
        if (h->mode->worker_done != NULL)
            h->mode->worker_done(h, w);
    }
    /* _exit, not exit: this process is a fork of the master and must not
     * run its atexit handlers or flush its stdio buffers a second time. */
    _exit(0);
}

/* ---- the master: supervisor hooks ---------------------------------------- */

static pid_t spawn_worker(sup_t *sup, int slot, void *slot_data, void **proc_data,
                          void *arg)
{
    (void)slot_data;
    (void)proc_data;
    herd *h = arg;
    if (h->mode->spawn_prepare != NULL && h->mode->spawn_prepare(h, slot) == -1)
        return -1;
    sigset_t mask;
    pid_t pid = fork_quietly(&mask);
    if (pid == 0) {
        /* PR_SET_PDEATHSIG (Linux) plus the lifeline pipe: a worker must
         * not outlive its master (see supervisor.h). */
        h->lifeline = sup_child_init(sup, SIGTERM);
        if (h->lifeline == -1)
            _exit(1);
        child_signals(h, &mask);
        if (h->client_fd != -1)
            close(h->client_fd);
        if (h->ready[0] != -1)
            close(h->ready[0]);
        worker_main(h, slot);
    }
    int e = errno;
    if (h->mode->spawn_done != NULL)
        h->mode->spawn_done(h, slot, pid);
    errno = e;
    return pid;
}

/* The end of a run: stop the workers. The supervisor's are stopped and
 * reaped, and its SUP_EV_STOPPED ends the loop; an external server is
 * stopped by its mode, which collects the counts on the way. */
static void stop_workers(herd *h)
{
    h->stopped = 1;
    if (h->mode->server_stop == NULL) {
        sup_stop(h->sup);
        return;
    }
    if (h->server != 0 && h->mode->server_stop(h) == -1)
        h->failed = 1;
    loop_stop(h->loop);
}

static void on_sup_event(sup_t *sup, const sup_event_t *ev, void *arg)
{
    (void)sup;
    herd *h = arg;
    switch (ev->kind) {
    case SUP_EV_EXITED:
        if (!ev->expected) {
            /* A worker that dies mid-run falsifies the counts: say so. The
             * supervisor starts a new one in its slot. */
            char how[96];
            fprintf(stderr, "[master %d] worker %d (slot %d) died unexpectedly: %s\n",
                    (int)getpid(), (int)ev->pid, ev->slot,
                    sup_status_str(ev->status, how, sizeof how));
            h->failed = 1;
        }
        break;
    case SUP_EV_CRASH_LOOP:
        fprintf(stderr, "[master %d] workers keep dying; giving up\n", (int)getpid());
        h->failed = 1;
        break;
    case SUP_EV_STOPPED:
        loop_stop(h->loop);
        break;
    default:
        break;
    }
}

/* The counts are final when every wakeup has been followed by its
 * accept() result. A worker that lost the race for the very last
 * connection may still be on its way from select() to accept() when the
 * client finishes; give it a moment (bounded), so that its EAGAIN counts. */
static void settle_counters(herd *h)
{
    for (int tries = 0; tries < 200; tries++) {
        int settled = 1;
        for (int w = 0; w < h->count->nslots; w++) {
            counter_slot *s = &h->count->slot[w];
            if (counters_get(&s->wakeups) >
                counters_get(&s->accepts) + counters_get(&s->eagain))
                settled = 0;
        }
        if (settled)
            return;
        struct timespec ms = {0, 1000000L};
        nanosleep(&ms, NULL);
    }
}

/* Read how often each worker went to sleep, before the workers are
 * stopped (afterwards /proc has forgotten them). */
static void count_sleeps(herd *h)
{
    int known = 1;
    for (int w = 0; w < h->count->nslots; w++) {
        counter_slot *s = &h->count->slot[w];
        int pid = atomic_load(&s->pid);
        long now = pid > 0 ? counters_switches_of(pid) : -1;
        if (now < 0) {
            known = 0;
            continue;
        }
        long sleeps =
            now - (long)counters_get(&s->sleeps_base) - (long)counters_get(&s->naps);
        counters_set(&s->sleeps, sleeps > 0 ? (unsigned long)sleeps : 0);
    }
    h->count->sleeps_known = known;
}

static void on_client_done(loop_t *loop, int fd, int events, void *arg)
{
    (void)events;
    herd *h = arg;
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n == -1 && (errno == EINTR || errno == EAGAIN))
        return;
    /* EOF: the client has exited (or is exiting). */
    loop_unwatch(loop, fd);
    close(fd);
    h->client_fd = -1;
    int status;
    pid_t r;
    while ((r = waitpid(h->client, &status, 0)) == -1 && errno == EINTR)
        ;
    h->client = 0;
    if (r == -1) {
        warn("[master %d] waitpid (load client)", (int)getpid());
        h->failed = 1;
    } else if (!h->interrupted && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "[master %d] the load client failed (status %d)\n", (int)getpid(),
                status);
        h->failed = 1;
    }
    settle_counters(h);
    count_sleeps(h);
    stop_workers(h);
}

static void on_stop_signal(loop_t *loop, int signo, void *arg)
{
    (void)loop;
    herd *h = arg;
    printf("[master %d] %s: stopping\n", (int)getpid(), strsignal(signo));
    h->interrupted = 1;
    if (h->client != 0) {
        kill(h->client, SIGTERM); /* its EOF then stops the workers */
    } else if (!h->stopped) {
        count_sleeps(h);
        stop_workers(h);
    }
}

/* The sequential client's pacer: before each connection, wait until every
 * worker is asleep again. Losers of the previous connection that are still
 * on their way back to their wait would otherwise not be woken by the next
 * one (they are awake already), and a busy machine would hide part of the
 * herd. Bounded: after 100 ms the connection goes anyway. Where /proc does
 * not tell, it does not wait. */
static void wait_until_workers_sleep(void *arg)
{
    herd *h = arg;
    for (int tries = 0; tries < 2000; tries++) {
        int all = 1;
        for (int w = 0; w < h->count->nslots && all; w++) {
            int pid = atomic_load(&h->count->slot[w].pid);
            int asleep = pid > 0 ? counters_is_asleep(pid) : -1;
            if (asleep == -1)
                return;
            all = asleep;
        }
        if (all)
            return;
        struct timespec us50 = {0, 50000L};
        nanosleep(&us50, NULL);
    }
}

/* The load client's process: drop what it inherited, run the load, exit.
 * Its results are written straight into shared memory; its exit closes
 * the write end of the done pipe, and the master sees EOF. */
static _Noreturn void client_main(herd *h, lg_result *res, pid_t master,
                                  const sigset_t *mask)
{
    if (sup_child_guard(master, SIGTERM) == -1)
        _exit(1);
    child_signals(h, mask);
    h->mode->teardown(h); /* the client holds no listener or channel */
    const herd_config *cfg = h->cfg;
    int r =
        lg_run_paced(cfg->host, h->port, cfg->clients, cfg->connections, cfg->timeout_ms,
                     res, cfg->clients == 1 ? wait_until_workers_sleep : NULL, h);
    if (r == -1) {
        warn("[client %d] lg_run", (int)getpid());
        _exit(1);
    }
    _exit(0);
}

/* Step 4, the load client: a child of the master that runs lg_run() and
 * exits. Returns 0, or -1 with errno set and h->call naming the call that
 * failed. */
static int start_client(herd *h, lg_result *res)
{
    int done[2];
    h->call = "pipe";
    if (net_pipe(done, O_CLOEXEC) == -1)
        return -1;
    pid_t master = getpid();
    sigset_t mask;
    h->call = "fork";
    pid_t pid = fork_quietly(&mask);
    if (pid == 0) {
        close(done[0]);
        client_main(h, res, master, &mask);
    }
    close(done[1]);
    if (pid == -1) {
        close(done[0]);
        return -1;
    }
    h->client = pid;
    h->client_fd = done[0];
    h->call = "loop_watch";
    return loop_watch(h->loop, done[0], LOOP_READ, on_client_done, h);
}

/* Every worker waits: say we are listening and start the load. */
static void all_waiting(herd *h)
{
    printf("[master %d] %s: listening on %s:%d (pid %d)\n", (int)getpid(), h->mode->name,
           h->cfg->host, h->port, (int)getpid());
    if (h->cfg->connections > 0 && start_client(h, h->res) == -1) {
        warn("[master %d] load client: %s", (int)getpid(), h->call);
        h->failed = 1;
        stop_workers(h);
    }
}

/* A worker is waiting. When all are, say we are listening and start the
 * load. EOF before that means workers died before they got there. */
static void on_worker_ready(loop_t *loop, int fd, int events, void *arg)
{
    (void)events;
    herd *h = arg;
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == -1 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n > 0)
        h->nready += (int)n;
    if (n > 0 && h->nready < h->cfg->workers)
        return;
    loop_unwatch(loop, fd);
    close(fd);
    h->ready[0] = -1;
    /* SIGINT or SIGTERM while they started: on_stop_signal has stopped
     * them, which closed the pipe early; no failure, and no load to start. */
    if (h->interrupted)
        return;
    if (h->nready < h->cfg->workers) {
        fprintf(stderr, "[master %d] %s: only %d of %d workers started\n", (int)getpid(),
                h->mode->name, h->nready, h->cfg->workers);
        h->failed = 1;
        sup_stop(h->sup);
        return;
    }
    all_waiting(h);
}

/* ---- the master: one run, step by step ------------------------------------- */

/* n ints, each -1 (nothing open yet). */
static int *per_worker(int n)
{
    int *a = malloc((size_t)n * sizeof *a);
    if (a == NULL)
        err(1, "malloc");
    for (int i = 0; i < n; i++)
        a[i] = -1;
    return a;
}

/* The state of a run before step 1: nothing open, the counts zeroed. */
static herd herd_new(const herd_mode *mode, const herd_config *cfg, counters *count,
                     lg_result *res)
{
    counters_reset(count);
    res->done = res->errors = 0;
    res->elapsed_ms = 0;
    return (herd){
        .mode = mode,
        .cfg = cfg,
        .count = count,
        .lifeline = -1,
        .listen_fd = -1,
        .lock_fd = -1,
        .fds = per_worker(cfg->workers),
        .peer = per_worker(cfg->workers),
        .epfd = -1,
        .free_q = per_worker(cfg->workers),
        .client_fd = -1,
        .ready = {-1, -1},
        .res = res,
        .server_in = -1,
        .server_out = -1,
    };
}

/* The master's loop (chapter 01), which also hears SIGINT and SIGTERM.
 * NULL after a message. */
static loop_t *master_loop(herd *h)
{
    loop_backend_t backend;
    if (loop_backend_default(&backend) == -1)
        backend = LOOP_POLL;
    loop_t *loop = loop_new(backend);
    if (loop == NULL) {
        warn("[master %d] loop_new", (int)getpid());
        return NULL;
    }
    if (loop_on_signal(loop, SIGINT, on_stop_signal, h) == -1 ||
        loop_on_signal(loop, SIGTERM, on_stop_signal, h) == -1) {
        warn("[master %d] loop_on_signal", (int)getpid());
        loop_free(loop);
        return NULL;
    }
    return loop;
}

/* herd_run's answer for how the run went: 0 done, 1 interrupted, -1
 * failed, -2 failed and interrupted (the caller stops too). */
static int run_status(const herd *h)
{
    if (h->failed)
        return h->interrupted ? -2 : -1;
    return h->interrupted ? 1 : 0;
}

/* Step 5: wait in the loop until the run is over (run_status). */
static int run_loop(herd *h)
{
    if (loop_run(h->loop) == -1)
        warn("[master %d] loop_run", (int)getpid());
    return run_status(h);
}

static void start_failed(herd *h, const char *what)
{
    warn("[master %d] %s: %s", (int)getpid(), h->mode->name, what);
    h->failed = 1;
    sup_stop(h->sup);
}

/* Steps 2 and 3: fork the workers, then have the loop listen on the ready
 * pipe for each to say it waits (on_worker_ready starts the load). */
static void start_workers(herd *h)
{
    int started = sup_start(h->sup);
    /* Only the first workers report; a replacement finds ready[1] closed. */
    close(h->ready[1]);
    h->ready[1] = -1;
    if (started == -1)
        start_failed(h, "starting the workers");
    else if (h->mode->master_start != NULL && h->mode->master_start(h) == -1)
        start_failed(h, "master_start");
    else if (loop_watch(h->loop, h->ready[0], LOOP_READ, on_worker_ready, h) == -1)
        start_failed(h, "loop_watch");
}

/* Steps 2 to 6 for a mode whose workers are forked here, under chapter
 * 02's supervisor. */
static int run_workers(herd *h)
{
    sup_config_t sc = {
        .nslots = h->cfg->workers,
        .spawn = spawn_worker,
        .on_event = on_sup_event,
        .arg = h,
        .stop_timeout_ms = 3000,
    };
    h->sup = sup_new(h->loop, &sc);
    if (h->sup == NULL) {
        warn("[master %d] sup_new", (int)getpid());
        return -1;
    }
    int status = -1;
    if (net_pipe(h->ready, O_CLOEXEC) == -1) {
        warn("[master %d] pipe", (int)getpid());
    } else {
        start_workers(h);
        status = run_loop(h);
    }
    sup_free(h->sup);
    if (h->ready[0] != -1)
        close(h->ready[0]);
    return status;
}

/* Steps 4 to 6 for an external mode: its setup has started the server, and
 * its workers wait. */
static int run_external(herd *h)
{
    all_waiting(h);
    int status = run_loop(h);
    /* server_stop waits for node inside the loop's last callback, for a
     * good part of a second; a SIGINT that came meanwhile is still in the
     * loop's signal pipe. One more turn, without waiting, takes it, so
     * that Ctrl-C there stops the program instead of being lost. */
    if (status == 0 && loop_run_once(h->loop, 0) != -1 && h->interrupted)
        status = run_status(h);
    return status;
}

/* Steps 2 to 6, in the master's loop. */
static int run_in_loop(herd *h)
{
    h->loop = master_loop(h);
    if (h->loop == NULL)
        return -1;
    int status = h->mode->server_stop != NULL ? run_external(h) : run_workers(h);
    if (h->client_fd != -1)
        close(h->client_fd);
    loop_free(h->loop);
    return status;
}

/* Step 7. An external server still running (the run failed before its
 * end) is stopped first, so that it leaves nothing behind. */
static int teardown(herd *h, int status)
{
    if (h->mode->server_stop != NULL && h->server != 0 && h->mode->server_stop(h) == -1)
        status = h->interrupted ? -2 : -1;
    h->mode->teardown(h);
    return status;
}

int herd_run(const herd_mode *mode, const herd_config *cfg, counters *count,
             lg_result *res)
{
    herd h = herd_new(mode, cfg, count, res);
    int status = -1;
    if (mode->setup(&h) == -1) {
        warn("[master %d] %s: %s", (int)getpid(), mode->name,
             h.call != NULL ? h.call : "setup");
        /* A setup that failed part-way may have opened some of its fds
         * (reuseport: the sockets before the one that failed). teardown
         * closes them: every mode's teardown closes only what is open
         * (herd_new starts every field at -1 or NULL), so it is right on a
         * half-done setup too, and each setup can stay a plain sequence
         * that returns at its first failure. Without this the master
         * keeps them into the next mode of `--mode all`. */
        mode->teardown(&h);
    } else {
        status = teardown(&h, run_in_loop(&h));
    }
    free(h.fds);
    free(h.peer);
    free(h.free_q);
    return status;
}
