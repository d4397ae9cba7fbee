/*
 * http-shared-port.c: the master of a pre-forked HTTP server on one port,
 * the C twin of the post's http example (main.js + work.js), with its bugs
 * fixed and a supervisor added.
 *
 * Run it in one terminal:
 *
 *   ./http-shared-port                     # PORT=8080 HOST=127.0.0.1 WORKERS=CPUs
 *
 * and from another:
 *
 *   curl -i http://127.0.0.1:8080/         # {"msg":"Hello World","pid":4213}
 *   kill -USR1 <master pid>                # the per-worker table
 *   kill -HUP <master pid>                 # rolling restart, port stays open
 *   kill -TERM <master pid>                # graceful stop, exit 0
 *
 * What happens, in the post's order:
 *   1. the master creates the listening socket (main.js: server.listen);
 *   2. it forks and execs one http-worker per CPU with an IPC channel as fd 3
 *      (Node's fork('./work.js'));
 *   3. it passes each worker the listener over its channel (sub.send('server',
 *      server)): SCM_RIGHTS, chapter 05;
 *   4. the workers accept and serve on that one socket; the master never
 *      watches it, so it never accepts a connection it cannot answer (the
 *      post's master does: FACTS 13).
 *
 * The master keeps its reference to the listener but never waits on it: a
 * worker that crashes is replaced and the replacement is passed the same
 * socket again. That reference is also why the port never refuses a
 * connection, not even while every worker is being replaced: connections
 * wait in the socket's backlog until a worker accepts them.
 *
 * What the supervisor (chapter 02's supervisor.h, and rolling.c in this
 * folder where marked) adds to the post:
 *   - a worker that dies is reaped and respawned, and gets the listener;
 *   - a crash loop (more than 5 deaths within 10 s) makes the master give
 *     up and exit 1;
 *   - SIGINT/SIGTERM: {"cmd":"shutdown"} to every worker, which finishes the
 *     responses in flight and exits; SIGKILL after --stop-timeout; exit 0;
 *   - SIGHUP (rolling.c): workers are replaced one at a time, each only
 *     after its replacement said it is serving;
 *   - (rolling.c) a new worker that has not said it is serving within
 *     --ready-timeout is SIGKILLed and counts as a death (respawned; a
 *     repeat trips the crash-loop guard), so a worker stuck in its start-up
 *     cannot leave connections queued with nobody to answer, or stall a
 *     rolling restart;
 *   - no orphans: workers exit when the master dies (lifeline pipe, channel
 *     EOF and, on Linux, PR_SET_PDEATHSIG).
 * Workers report their request counts over the channel; on SIGUSR1 and at
 * exit the master prints them per worker pid with each one's share. The
 * share shows how the kernel spread connections over processes that all
 * wait on one socket (chapter 07 explains why it is uneven).
 */
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "cli.h"
#include "handle.h"
#include "json.h"
#include "loop.h"
#include "net.h"
#include "proc.h"
#include "rolling.h"
#include "supervisor.h"

#define CHILD_CHANNEL_FD 3  /* where Node puts the IPC channel */
#define CHILD_LIFELINE_FD 4 /* where we put the supervisor's lifeline */
#define REPORT_WAIT_MS 500  /* how long SIGUSR1 waits for fresh counts */

/* One worker process. Its record lives until the process is reaped and its
 * channel has closed (the last count comes just before EOF); then its count
 * is added to the ended workers' total and the record is freed, so what the
 * master keeps stays bounded however many workers come and go. Only while
 * stopping are ended records kept, for the exit table's last rows. */
typedef struct worker {
    pid_t pid;
    int slot;
    chan_t *ch; /* NULL once the channel closed */
    uint64_t requests;
    int ready;
    int exited;
    int asked; /* a report request is outstanding */
} worker_t;

typedef struct master {
    loop_t *loop;
    roll_t *roll; /* rolling restart and ready deadline (rolling.h) */
    sup_t *sup;   /* the supervisor it drives (chapter 02) */
    int lfd;
    char addr[128]; /* HOST:PORT as bound */
    char worker_path[PATH_MAX];
    char *worker_argv[8];
    char **worker_env;
    worker_t **workers; /* workers with a record, in start order */
    int nworkers, cap_workers;
    int ended;               /* workers whose records were folded away */
    uint64_t ended_requests; /* the requests those workers served */
    uint64_t ready_ms;       /* the ready deadline, for the log */
    int announced;           /* printed "listening on" */
    int open_chans;
    int stopped; /* SUP_EV_STOPPED seen */
    int crashed;
    int report_waiting;
    loop_timer_t *report_timer;
} master_t;

static pid_t me;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: http-shared-port [-p PORT] [-H HOST] [-w WORKERS] [--worker PATH]\n"
            "                        [--header-timeout MS] [--idle-timeout MS]\n"
            "                        [--stop-timeout MS] [--ready-timeout MS]\n"
            "A pre-forked HTTP/1.1 server: the master listens on HOST:PORT, starts\n"
            "WORKERS copies of http-worker and passes each the listening socket.\n"
            "  -p, --port PORT       default $PORT or 8080; 0 lets the kernel choose\n"
            "  -H, --host HOST       default $HOST or 127.0.0.1\n"
            "  -w, --workers N       default $WORKERS or the number of online CPUs\n"
            "  --worker PATH         the worker program (default: http-worker next\n"
            "                        to this program)\n"
            "  --header-timeout MS   a request's headers must arrive within MS (10000)\n"
            "  --idle-timeout MS     close keep-alive connections idle for MS (5000)\n"
            "  --stop-timeout MS     SIGKILL workers still running MS after a stop\n"
            "                        was asked (5000)\n"
            "  --ready-timeout MS    SIGKILL and replace a new worker that has not\n"
            "                        said it is ready within MS (5000)\n"
            "Signals: INT/TERM stop gracefully, HUP restarts the workers one at a\n"
            "time, USR1 prints the requests served per worker.\n");
}

/* ---- the per-worker table ------------------------------------------------- */

/* A row per worker with a record, then one row for all the workers that
 * ended earlier (replaced, crashed, timed out), so the table has at most
 * WORKERS + 2 rows after any number of restarts. */
static void print_table(master_t *m, const char *title)
{
    uint64_t total = m->ended_requests;
    for (int i = 0; i < m->nworkers; i++)
        total += m->workers[i]->requests;
    printf("[master %d] %s\n", (int)me, title);
    printf("[master %d] %8s %12s %7s\n", (int)me, "pid", "requests", "share");
    for (int i = 0; i < m->nworkers; i++) {
        worker_t *w = m->workers[i];
        double share = total ? 100.0 * (double)w->requests / (double)total : 0.0;
        printf("[master %d] %8d %12llu %6.1f%%%s\n", (int)me, (int)w->pid,
               (unsigned long long)w->requests, share, w->exited ? "  (exited)" : "");
    }
    if (m->ended > 0) {
        double share = total ? 100.0 * (double)m->ended_requests / (double)total : 0.0;
        printf("[master %d] %8s %12llu %6.1f%%  (%d worker%s that ha%s ended)\n", (int)me,
               "earlier", (unsigned long long)m->ended_requests, share, m->ended,
               m->ended == 1 ? "" : "s", m->ended == 1 ? "s" : "ve");
    }
    printf("[master %d] %8s %12llu\n", (int)me, "total", (unsigned long long)total);
}

/* Fold a worker that is gone for good (reaped, channel closed) into the
 * ended workers' row and free its record. While stopping, keep it: the
 * exit table then shows the last workers one by one. */
static void forget_if_done(master_t *m, worker_t *w)
{
    if (!w->exited || w->ch != NULL || sup_stopping(m->sup))
        return;
    for (int i = 0; i < m->nworkers; i++) {
        if (m->workers[i] == w) {
            memmove(&m->workers[i], &m->workers[i + 1],
                    (size_t)(m->nworkers - i - 1) * sizeof *m->workers);
            m->nworkers--;
            break;
        }
    }
    m->ended++;
    m->ended_requests += w->requests;
    free(w);
}

static void report_done(master_t *m)
{
    if (m->report_timer) {
        loop_timer_cancel(m->loop, m->report_timer);
        m->report_timer = NULL;
    }
    m->report_waiting = 0;
    for (int i = 0; i < m->nworkers; i++)
        m->workers[i]->asked = 0;
    print_table(m, "requests per worker (SIGUSR1):");
}

static void on_report_timeout(loop_t *loop, loop_timer_t *t, void *arg)
{
    master_t *m = arg;
    (void)loop;
    (void)t;
    m->report_timer = NULL; /* a one-shot timer's handle is gone once it fired */
    report_done(m);
}

/* ---- messages from workers ------------------------------------------------ */

static json_value *cmd_message(const char *cmd)
{
    json_value *v = json_new_object();
    if (v && json_object_set(v, "cmd", json_new_string(cmd)) == -1) {
        json_free(v);
        return NULL;
    }
    return v;
}

static void send_cmd(worker_t *w, const char *cmd)
{
    json_value *v = cmd_message(cmd);
    if (v == NULL || w->ch == NULL || handle_send_message(w->ch, v) == -1) {
        /* No channel to ask through: SIGTERM asks the same thing. */
        if (strcmp(cmd, "shutdown") == 0)
            kill(w->pid, SIGTERM);
    }
    json_free(v);
}

static void maybe_finish(master_t *m)
{
    /* Stop once the supervisor reaped every worker and every channel has
     * delivered its last message (the final counts come just before EOF). */
    if (m->stopped && m->open_chans == 0)
        loop_stop(m->loop);
}

/* The channel's user pointer is the worker; the master is reached through
 * this static, set once in main (one master per process). */
static master_t *the_master;

static void on_worker_message(chan_t *ch, const json_value *msg, int fd, void *arg)
{
    master_t *m = the_master;
    worker_t *w = arg;
    (void)ch;
    if (fd != -1)
        close(fd); /* workers send no handles */
    const char *cmd = json_object_get_string(msg, "cmd");
    if (cmd == NULL)
        return;
    if (strcmp(cmd, "stats") == 0) {
        /* A count is a whole number; the worker chooses the double, and a
         * cast of 1e300 would be undefined behaviour. Refuse and say so. */
        long long n;
        if (json_object_get_int(msg, "requests", 0, JSON_MAX_SAFE_INT, &n) == 0) {
            w->requests = (uint64_t)n;
        } else {
            char *text = json_serialize(msg, NULL);
            printf("[master %d] worker %d sent %s: \"requests\" must be a whole number "
                   "from 0 to %lld; ignored\n",
                   (int)me, (int)w->pid, text ? text : "a stats message",
                   JSON_MAX_SAFE_INT);
            free(text);
        }
    }
    if (strcmp(cmd, "ready") == 0 && !w->ready) {
        /* Past its deadline the worker is already being killed: a "ready"
         * still in the channel then must not count it as serving. */
        if (roll_ready(m->roll, w->pid) == -1) {
            printf("[master %d] worker %d said it was ready, but %s; ignored\n", (int)me,
                   (int)w->pid,
                   errno == ETIMEDOUT ? "after its deadline" : "it has already exited");
            return;
        }
        w->ready = 1;
        printf("[master %d] worker %d serving (slot %d)\n", (int)me, (int)w->pid,
               w->slot);
        int ready = 0;
        for (int i = 0; i < m->nworkers; i++)
            ready += m->workers[i]->ready && !m->workers[i]->exited;
        if (!m->announced && ready == sup_nslots(m->sup)) {
            m->announced = 1;
            printf("listening on %s (pid %d)\n", m->addr, (int)me);
        }
    } else if (strcmp(cmd, "stats") == 0 && w->asked) {
        w->asked = 0;
        if (--m->report_waiting == 0)
            report_done(m);
    }
}

static void on_worker_disconnect(chan_t *ch, void *arg)
{
    master_t *m = the_master;
    worker_t *w = arg;
    (void)ch;
    w->ch = NULL;
    m->open_chans--;
    if (w->asked) {
        w->asked = 0;
        if (--m->report_waiting == 0)
            report_done(m);
    }
    forget_if_done(m, w);
    maybe_finish(m);
}

/* ---- starting a worker ---------------------------------------------------- */

/* In the worker, before exec: PR_SET_PDEATHSIG, and give up if the master
 * died before that could take effect. Async-signal-safe. */
static int guard_worker(void *arg)
{
    (void)arg;
    if (sup_child_guard(me, SIGTERM) == -1) {
        errno = ESRCH; /* the master is already gone */
        return -1;
    }
    return 0;
}

/* The supervisor's spawn hook: start http-worker with the channel on fd 3
 * and the lifeline on fd 4 (chapter 03's proc_start: the supervisor, not
 * proc, reaps it), then pass it the listener. */
static pid_t spawn_worker(sup_t *sup, int slot, void *slot_data, void **proc_data,
                          void *arg)
{
    master_t *m = arg;
    int sv[2];
    (void)slot_data;

    if (net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv) == -1)
        return -1;
    worker_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        errx(1, "out of memory");
    if (m->nworkers == m->cap_workers) {
        m->cap_workers = m->cap_workers * 2 + 8;
        m->workers = realloc(m->workers, (size_t)m->cap_workers * sizeof *m->workers);
        if (m->workers == NULL)
            errx(1, "out of memory");
    }

    proc_fd_t fds[] = {{sv[1], CHILD_CHANNEL_FD},
                       {sup_lifeline_fd(sup), CHILD_LIFELINE_FD}};
    proc_start_t start = {.file = m->worker_path,
                          .argv = m->worker_argv,
                          .env = m->worker_env,
                          .fds = fds,
                          .nfds = 2,
                          .before_exec = guard_worker};
    fflush(stdout);                       /* nothing buffered gets printed twice */
    pid_t pid = proc_start(&start, NULL); /* execve's errno if it failed */
    int e = errno;
    close(sv[1]);
    if (pid == -1) {
        close(sv[0]);
        free(w);
        errno = e;
        return -1;
    }

    w->pid = pid;
    w->slot = slot;
    m->workers[m->nworkers++] = w;
    *proc_data = w;
    chan_callbacks cb = {.on_message = on_worker_message,
                         .on_disconnect = on_worker_disconnect};
    w->ch = chan_open(m->loop, sv[0], &cb, w);
    if (w->ch == NULL)
        err(1, "chan_open");
    char name[32];
    snprintf(name, sizeof name, "worker %d", (int)pid);
    chan_set_name(w->ch, name);
    if (handle_attach(w->ch, NULL, NULL) == -1)
        err(1, "handle_attach");
    m->open_chans++;
    /* The post: sub.send('server', server). The handle layer dup()s the fd,
     * so our reference stays for the next worker that needs it. */
    json_value *msg = json_new_string("server");
    if (msg == NULL || handle_send(w->ch, msg, HANDLE_NET_SERVER, m->lfd) == -1) {
        /* A worker without the listener would wait for it forever and
         * never say ready. Stop it: the supervisor sees a death, respawns
         * the slot, and its crash-loop guard ends a failure that repeats. */
        printf("[master %d] handle_send of the listener to worker %d: %s; stopping it\n",
               (int)me, (int)pid, strerror(errno));
        kill(pid, SIGTERM);
    }
    json_free(msg);
    return pid;
}

/* The supervisor's stop hook: ask over the channel, as the issue asks. */
static void stop_worker(sup_t *sup, int slot, pid_t pid, void *slot_data, void *proc_data,
                        void *arg)
{
    (void)sup;
    (void)slot;
    (void)slot_data;
    (void)arg;
    worker_t *w = proc_data;
    printf("[master %d] asking worker %d to stop ({\"cmd\":\"shutdown\"})\n", (int)me,
           (int)pid);
    send_cmd(w, "shutdown");
}

static void on_sup_event(sup_t *sup, const sup_event_t *ev, void *arg)
{
    master_t *m = arg;
    worker_t *w = ev->proc_data;
    char how[96];
    (void)sup;
    switch (ev->kind) {
    case SUP_EV_SPAWNED:
        if (ev->old_pid)
            printf("[master %d] started worker %d for slot %d (replacing %d)\n", (int)me,
                   (int)ev->pid, ev->slot, (int)ev->old_pid);
        else
            printf("[master %d] started worker %d for slot %d\n", (int)me, (int)ev->pid,
                   ev->slot);
        break;
    case SUP_EV_EXITED:
        printf("[master %d] worker %d ended: %s%s\n", (int)me, (int)ev->pid,
               sup_status_str(ev->status, how, sizeof how),
               ev->expected ? "" : "; respawning");
        if (w) {
            w->exited = 1;
            forget_if_done(m, w);
        }
        break;
    case SUP_EV_KILLED:
        printf("[master %d] worker %d did not stop in time: SIGKILL\n", (int)me,
               (int)ev->pid);
        break;
    case SUP_EV_SPAWN_FAILED:
        printf("[master %d] starting a worker for slot %d: %s: %s\n", (int)me, ev->slot,
               m->worker_path, strerror(ev->error));
        break;
    case SUP_EV_CRASH_LOOP:
        printf("[master %d] crash loop: %d deaths in a short time; giving up\n", (int)me,
               ev->deaths);
        m->crashed = 1;
        break;
    case SUP_EV_STOPPED:
        m->stopped = 1;
        maybe_finish(m);
        break;
    }
}

static void on_roll_event(roll_t *r, const roll_event_t *ev, void *arg)
{
    master_t *m = arg;
    (void)r;
    switch (ev->kind) {
    case ROLL_EV_READY_TIMEOUT:
        printf("[master %d] worker %d did not say it was ready within %llu ms: SIGKILL\n",
               (int)me, (int)ev->pid, (unsigned long long)m->ready_ms);
        break;
    case ROLL_EV_REPLACED:
        printf("[master %d] slot %d: worker %d replaced %d\n", (int)me, ev->slot,
               (int)ev->pid, (int)ev->old_pid);
        break;
    case ROLL_EV_DONE:
        printf("[master %d] rolling restart done\n", (int)me);
        break;
    }
}

/* ---- signals -------------------------------------------------------------- */

static void on_stop_signal(loop_t *loop, int signo, void *arg)
{
    master_t *m = arg;
    (void)loop;
    if (sup_stopping(m->sup))
        return;
    printf("[master %d] %s: stopping the workers gracefully\n", (int)me,
           signo == SIGINT ? "SIGINT" : "SIGTERM");
    sup_stop(m->sup);
}

static void on_sighup(loop_t *loop, int signo, void *arg)
{
    master_t *m = arg;
    (void)loop;
    (void)signo;
    printf("[master %d] SIGHUP: rolling restart, one worker at a time\n", (int)me);
    if (roll_replace(m->roll, -1) == -1)
        printf("[master %d] roll_replace: %s\n", (int)me, strerror(errno));
}

static void on_sigusr1(loop_t *loop, int signo, void *arg)
{
    master_t *m = arg;
    (void)signo;
    if (m->report_waiting > 0)
        return; /* a report is already on its way */
    for (int i = 0; i < m->nworkers; i++) {
        worker_t *w = m->workers[i];
        if (w->ch && !w->exited) {
            w->asked = 1;
            m->report_waiting++;
            send_cmd(w, "report");
        }
    }
    if (m->report_waiting == 0)
        report_done(m);
    else
        m->report_timer = loop_timer_add(loop, REPORT_WAIT_MS, 0, on_report_timeout, m);
}

/* ---- setup ---------------------------------------------------------------- */

/* Bind and listen; fills m->addr with the address really bound. */
static int listen_on(master_t *m, const char *host, long port)
{
    /* SOMAXCONN is the kernel's cap; asking for more gets the cap. */
    char why[256];
    int fd = net_listen(host, (int)port, 4096, NULL, why, sizeof why);
    if (fd == -1)
        errx(1, "%s", why);
    /* Non-blocking is a property of the open socket, shared by every
     * process that holds it: a worker's accept must return EAGAIN when
     * another worker took the connection, never block. */
    if (net_set_nonblock(fd, 1) == -1)
        err(1, "fcntl O_NONBLOCK");
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char h[64], p[16]; /* NI_MAXHOST is not POSIX; numeric forms are short */
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
        err(1, "getsockname");
    int r = getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, p, sizeof p,
                        NI_NUMERICHOST | NI_NUMERICSERV);
    if (r != 0)
        errx(1, "getnameinfo: %s", gai_strerror(r));
    snprintf(m->addr, sizeof m->addr, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", h,
             p);
    return fd;
}

/* What the command line and the environment ask for. */
typedef struct options {
    const char *host;
    const char *host_from; /* where the host came from, for an error message */
    const char *worker;    /* --worker, or NULL */
    long port, workers;
    long header_ms, idle_ms; /* passed on to every worker; 0: its default */
    long stop_ms, ready_ms;
} options_t;

/* Options override the environment ($HOST, $PORT, $WORKERS), which
 * overrides the defaults. Exits on --help and on a bad value. */
static void parse_options(int argc, char *argv[], options_t *o)
{
    cli_init("http-shared-port", usage);
    long cpus = net_cpu_count();
    *o = (options_t){.host = cli_env("HOST", "127.0.0.1"),
                     .host_from = "HOST",
                     .port = cli_env_long("PORT", 8080, 0, 65535),
                     .workers = cli_env_long("WORKERS", cpus > 0 ? cpus : 1, 1, 1024),
                     .stop_ms = 5000,
                     .ready_ms = 5000};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if ((v = cli_opt(argc, argv, &i, "-p")) ||
            (v = cli_opt(argc, argv, &i, "--port"))) {
            o->port = cli_long(a, v, 0, 65535);
        } else if ((v = cli_opt(argc, argv, &i, "-H")) ||
                   (v = cli_opt(argc, argv, &i, "--host"))) {
            o->host = v;
            o->host_from = a[1] == '-' ? "--host" : "-H";
        } else if ((v = cli_opt(argc, argv, &i, "-w")) ||
                   (v = cli_opt(argc, argv, &i, "--workers"))) {
            o->workers = cli_long(a, v, 1, 1024);
        } else if ((v = cli_opt(argc, argv, &i, "--worker"))) {
            o->worker = v;
        } else if ((v = cli_opt(argc, argv, &i, "--header-timeout"))) {
            o->header_ms = cli_long("--header-timeout", v, 1, 86400000);
        } else if ((v = cli_opt(argc, argv, &i, "--idle-timeout"))) {
            o->idle_ms = cli_long("--idle-timeout", v, 1, 86400000);
        } else if ((v = cli_opt(argc, argv, &i, "--stop-timeout"))) {
            o->stop_ms = cli_long("--stop-timeout", v, 1, 86400000);
        } else if ((v = cli_opt(argc, argv, &i, "--ready-timeout"))) {
            o->ready_ms = cli_long("--ready-timeout", v, 1, 86400000);
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else {
            cli_bad_arg(a);
        }
    }
    struct sockaddr_storage sa;
    socklen_t salen;
    char why[256];
    if (net_resolve(o->host, (int)o->port, 1, &sa, &salen, why, sizeof why) == -1)
        cli_fail("bad value for %s: %s (%s)", o->host_from, o->host, why);
}

/* The program every worker runs, its arguments and its environment. */
static void worker_command(master_t *m, const options_t *o, const char *argv0)
{
    static char lifeline_arg[16], header_arg[24], idle_arg[24];
    /* --worker, or http-worker beside this program. */
    if (o->worker == NULL) {
        const char *slash = strrchr(argv0, '/');
        int dirlen = slash ? (int)(slash - argv0) : 1;
        snprintf(m->worker_path, sizeof m->worker_path, "%.*s/http-worker", dirlen,
                 slash ? argv0 : ".");
    } else {
        snprintf(m->worker_path, sizeof m->worker_path, "%s", o->worker);
    }
    int k = 0;
    m->worker_argv[k++] = "http-worker";
    snprintf(lifeline_arg, sizeof lifeline_arg, "%d", CHILD_LIFELINE_FD);
    m->worker_argv[k++] = "--lifeline-fd";
    m->worker_argv[k++] = lifeline_arg;
    if (o->header_ms) {
        snprintf(header_arg, sizeof header_arg, "--header-timeout=%ld", o->header_ms);
        m->worker_argv[k++] = header_arg;
    }
    if (o->idle_ms) {
        snprintf(idle_arg, sizeof idle_arg, "--idle-timeout=%ld", o->idle_ms);
        m->worker_argv[k++] = idle_arg;
    }
    m->worker_argv[k] = NULL;
    m->worker_env = chan_child_environ();
    if (m->worker_env == NULL)
        err(1, "chan_child_environ");
}

static loop_t *new_loop(void)
{
#ifdef __linux__
    loop_t *loop = loop_new(LOOP_EPOLL);
#else
    loop_t *loop = loop_new(LOOP_POLL);
#endif
    if (loop == NULL)
        err(1, "loop_new");
    return loop;
}

/* Chapter 02's supervisor with our spawn and stop hooks, driven by
 * rolling.c, which adds the rolling restart and the ready deadline. */
static void new_supervisor(master_t *m, const options_t *o)
{
    sup_config_t cfg = {.nslots = (int)o->workers,
                        .spawn = spawn_worker,
                        .stop = stop_worker,
                        .on_event = on_sup_event,
                        .arg = m,
                        .stop_timeout_ms = (uint64_t)o->stop_ms};
    m->ready_ms = (uint64_t)o->ready_ms;
    roll_config_t rc = {
        .wait_ready = 1, .ready_timeout_ms = m->ready_ms, .on_event = on_roll_event};
    m->roll = roll_new(m->loop, &cfg, &rc);
    if (m->roll == NULL)
        err(1, "roll_new");
    m->sup = roll_sup(m->roll);
}

static void watch_signals(master_t *m)
{
    if (loop_on_signal(m->loop, SIGINT, on_stop_signal, m) == -1 ||
        loop_on_signal(m->loop, SIGTERM, on_stop_signal, m) == -1 ||
        loop_on_signal(m->loop, SIGHUP, on_sighup, m) == -1 ||
        loop_on_signal(m->loop, SIGUSR1, on_sigusr1, m) == -1)
        err(1, "loop_on_signal");
}

/* After the loop: the last table, everything freed; the exit status. */
static int finish(master_t *m)
{
    print_table(m, "requests per worker (at exit):");
    roll_free(m->roll); /* and the supervisor */
    close(m->lfd);
    for (int i = 0; i < m->nworkers; i++) {
        if (m->workers[i]->ch)
            chan_close(m->workers[i]->ch);
        free(m->workers[i]);
    }
    free(m->workers);
    free(m->worker_env);
    loop_free(m->loop);
    if (m->crashed) {
        printf(
            "[master %d] exiting with status 1: the workers could not be kept running\n",
            (int)me);
        return 1;
    }
    printf("[master %d] bye\n", (int)me);
    return 0;
}

int main(int argc, char *argv[])
{
    static master_t m;
    options_t o;

    setvbuf(stdout, NULL, _IOLBF, 0);
    me = getpid();
    the_master = &m;
    parse_options(argc, argv, &o);
    worker_command(&m, &o, argv[0]);
    /* A worker that dies while we write to its channel is an EPIPE, not a
     * signal that kills the master. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
        err(1, "signal");

    m.lfd = listen_on(&m, o.host, o.port); /* server.listen */
    m.loop = new_loop();
    new_supervisor(&m, &o); /* spawn_worker(): fork + exec, pass the listener */
    watch_signals(&m);
    printf("[master %d] bound %s; starting %ld worker%s (%s)\n", (int)me, m.addr,
           o.workers, o.workers == 1 ? "" : "s", m.worker_path);
    if (sup_start(m.sup) == -1) {
        printf("[master %d] starting workers: %s: %s\n", (int)me, m.worker_path,
               strerror(errno));
        sup_stop(m.sup);
        m.crashed = 1;
    }
    if (loop_run(m.loop) == -1)
        err(1, "loop_run");
    return finish(&m);
}
