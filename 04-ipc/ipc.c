/*
 * ipc.c: the master of chapter 04, the post's master.js in C.
 *
 *   ./ipc                         start ./ipc-worker and talk to it
 *   ./ipc node node-worker.js     the same master, with a Node.js worker
 *   ./ipc -h                      usage
 *
 * Run it in one terminal; the worker inherits our stdout, so both speak in
 * the same window. What you should see, in this order (lines of the two
 * processes interleave differently from run to run):
 *
 *   [master 4211] socketpair(AF_UNIX, SOCK_STREAM): fd 5 is ours, fd 6 is ...
 *   [master 4211] started ./ipc-worker as pid 4212: its end became fd 3, ...
 *   [master 4211] send: "some msg"
 *   [worker 4212] got message: "some msg"
 *   [master 4211] got message: {"name":"Bruce","pid":4212,"echo":"some msg"}
 *   ...
 *   [master 4211] both replies are in: disconnect
 *   [worker 4212] the master disconnected: exiting
 *   [master 4211] worker 4212 exited with code 0
 *
 * How a Node parent gives its child an IPC channel (strace shows exactly
 * these calls for child_process.fork; see NOTES.md):
 *
 *   1. socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC) BEFORE forking. The two
 *      sockets are born connected to each other: nothing listens, nothing
 *      connects, and no name exists in the file system.
 *   2. fork(). The child holds both ends too (fork copies the fd table).
 *   3. In the child: dup2(child_end, 3). dup2 clears close-on-exec on fd 3,
 *      so fd 3 is the one socket that survives the exec; every other fd of
 *      ours is close-on-exec and vanishes.
 *   4. In the child: the environment gets NODE_CHANNEL_FD=3 and
 *      NODE_CHANNEL_SERIALIZATION_MODE=json, and execve() starts the worker
 *      program. The fd number is the only thing the new program needs to
 *      know, and the environment is how it is told.
 *   5. In the parent: close(child_end). Otherwise we would hold both ends,
 *      and the worker's death would never show up as EOF on ours.
 *
 * Steps 2 to 4 are chapter 03's proc_spawn() (proc.c): we hand it the
 * socket as proc_fd_t{child_end, 3} and the environment, and it does the
 * fork, the dup2 and the execve, and reports an exec failure back to us.
 *
 * Then both sides speak newline-delimited JSON (chan.c): we send a string
 * and an object, the worker answers each with an object, we print the
 * replies and disconnect, the worker exits on the disconnect, we reap it.
 * Nobody stays behind: the post's master.js keeps both processes alive
 * forever, and a --timeout (default 10 s) guards against a silent worker.
 */
#include <errno.h>
#include <err.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "chan.h"
#include "cli.h" /* 01-event-loop */
#include "json.h"
#include "loop.h"
#include "net.h" /* 01-event-loop */
#include "proc.h"
#include "stats.h" /* the median, from 02-fork */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ipc [-t MS] [-r LINE] [-n N] [WORKER [ARG...]]\n"
            "\n"
            "Start WORKER with an IPC channel on fd 3 (NODE_CHANNEL_FD=3), send it a\n"
            "string and an object as JSON lines, print its replies, disconnect, and\n"
            "wait for it to exit. WORKER defaults to ipc-worker beside this program;\n"
            "a Node.js script works too:  ipc node node-worker.js\n"
            "\n"
            "  -t, --timeout MS   give up after MS ms (default 10000; env IPC_TIMEOUT)\n"
            "                     and stop the worker: SIGTERM, then SIGKILL if it\n"
            "                     is still running 2 s later (SIGINT/SIGTERM to the\n"
            "                     master stop the worker the same way)\n"
            "  -r, --raw LINE     first send LINE as it is, unchecked: a way to show\n"
            "                     what the worker does with a line that is not JSON\n"
            "  -n, --rounds N     after the two replies, N round trips one at a time\n"
            "                     ({\"ping\":i}), each timed from send to reply, then\n"
            "                     their median (a Node worker against ours)\n"
            "  -h, --help         this text\n");
}

struct master {
    loop_t *loop;
    chan_t *ch;
    proc_t *worker;
    pid_t worker_pid;
    int sent;
    int replies;
    int worker_done; /* reaped */
    int worker_ok;   /* exited with code 0 */
    int failed;      /* something the reader was promised did not happen */
    int stopped;     /* SIGINT/SIGTERM asked us to stop: that is a clean exit */
    loop_timer_t *timeout;
    loop_timer_t *kill_timer; /* SIGKILL due if SIGTERM was not enough */
    int rounds;               /* --rounds N: timed round trips after the two replies */
    int rounds_done;
    double *rtt_ms; /* one per round */
    struct timespec ping_sent;
};

/* How long a worker has to exit after SIGTERM before it gets SIGKILL. A
 * worker may catch or ignore SIGTERM (`trap '' TERM`); without a second
 * step it would hold the master for as long as it likes. */
#define KILL_GRACE_MS 2000

static void maybe_stop(struct master *m)
{
    /* Done when the channel is closed and the worker is reaped. */
    if (m->ch == NULL && m->worker_done)
        loop_stop(m->loop);
}

static int send_and_log(struct master *m, json_value *msg);

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
           (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* --rounds: a reply to a ping has just arrived (or the two replies of the
 * conversation, when none is out yet). Time it and send the next ping, one
 * at a time so that each is a whole round trip; after the last, print the
 * median. Returns 1 while a ping is out. */
static int next_round(struct master *m)
{
    if (m->rounds_done > 0)
        m->rtt_ms[m->rounds_done - 1] = ms_since(&m->ping_sent);
    if (m->rounds_done == m->rounds) {
        double lo = m->rtt_ms[0], hi = m->rtt_ms[0];
        for (int i = 1; i < m->rounds; i++) {
            if (m->rtt_ms[i] < lo)
                lo = m->rtt_ms[i];
            if (m->rtt_ms[i] > hi)
                hi = m->rtt_ms[i];
        }
        printf("[master %d] round trip: median %.3f ms over %d (min %.3f, max %.3f)\n",
               (int)getpid(), stats_median(m->rtt_ms, m->rounds), m->rounds, lo, hi);
        return 0;
    }
    json_value *ping = json_new_object();
    json_object_set(ping, "ping", json_new_number(m->rounds_done++));
    clock_gettime(CLOCK_MONOTONIC, &m->ping_sent);
    return send_and_log(m, ping) == 0;
}

static void on_message(chan_t *ch, const json_value *msg, int fd, void *user)
{
    struct master *m = user;
    if (fd != -1)
        close(fd); /* no handles in this chapter */
    char *text = json_serialize(msg, NULL);
    printf("[master %d] got message: %s\n", (int)getpid(), text ? text : "?");
    free(text);
    if (++m->replies == m->sent) {
        /* Node's worker.disconnect(): the channel closes, the worker sees
         * EOF and, having nothing else to do, exits. */
        if (m->rounds > 0 && next_round(m)) /* not while a ping is out */
            return;
        printf("[master %d] both replies are in: disconnect\n", (int)getpid());
        if (chan_disconnect(ch) == -1)
            fprintf(stderr, "[master %d] chan_disconnect: %s\n", (int)getpid(),
                    strerror(errno));
    }
}

static void on_error(chan_t *ch, const chan_error *e, void *user)
{
    (void)ch;
    struct master *m = user;
    fprintf(stderr, "[master %d] %s\n", (int)getpid(), e->text);
    m->failed = 1;
}

static void on_disconnect(chan_t *ch, void *user)
{
    (void)ch;
    struct master *m = user;
    printf("[master %d] channel closed\n", (int)getpid());
    m->ch = NULL; /* freed when this returns */
    if (m->replies < m->sent) {
        fprintf(stderr, "[master %d] the worker went away after %d of %d replies\n",
                (int)getpid(), m->replies, m->sent);
        m->failed = 1;
    }
    maybe_stop(m);
}

static void on_kill_grace_over(loop_t *loop, loop_timer_t *t, void *arg)
{
    (void)loop;
    (void)t;
    struct master *m = arg;
    m->kill_timer = NULL;
    if (m->worker == NULL)
        return;
    fprintf(stderr,
            "[master %d] worker %d still running %d ms after SIGTERM: sending SIGKILL\n",
            (int)getpid(), (int)m->worker_pid, KILL_GRACE_MS);
    if (proc_kill(m->worker, SIGKILL) == -1)
        fprintf(stderr, "[master %d] kill: %s\n", (int)getpid(), strerror(errno));
}

/* SIGTERM now, SIGKILL after KILL_GRACE_MS if the worker is still there. */
static void stop_worker(struct master *m)
{
    if (m->worker == NULL || m->kill_timer != NULL)
        return;
    if (proc_kill(m->worker, SIGTERM) == -1)
        fprintf(stderr, "[master %d] kill: %s\n", (int)getpid(), strerror(errno));
    m->kill_timer = loop_timer_add(m->loop, KILL_GRACE_MS, 0, on_kill_grace_over, m);
    if (m->kill_timer == NULL)
        err(1, "loop_timer_add");
}

static void on_worker_exit(proc_t *p, const proc_status_t *st, void *arg)
{
    (void)p;
    struct master *m = arg;
    if (m->kill_timer != NULL) {
        loop_timer_cancel(m->loop, m->kill_timer);
        m->kill_timer = NULL;
    }
    char how[160];
    printf("[master %d] worker %d %s\n", (int)getpid(), (int)m->worker_pid,
           proc_status_str(st, how, sizeof how));
    m->worker = NULL;
    m->worker_done = 1;
    m->worker_ok = st->how == PROC_EXITED && st->code == 0;
    /* If the worker died first, its end is closed and our channel will see
     * EOF on its own; nothing to do here but wait for that. */
    maybe_stop(m);
}

static void on_timeout(loop_t *loop, loop_timer_t *t, void *arg)
{
    (void)loop;
    (void)t;
    struct master *m = arg;
    m->timeout = NULL;
    fprintf(stderr, "[master %d] timed out with %d of %d replies: stopping the worker\n",
            (int)getpid(), m->replies, m->sent);
    m->failed = 1;
    if (m->ch != NULL) {
        chan_close(m->ch);
        m->ch = NULL;
    }
    stop_worker(m);
    maybe_stop(m);
}

static void on_stop_signal(loop_t *loop, int signo, void *arg)
{
    (void)loop;
    struct master *m = arg;
    printf("[master %d] got %s: disconnecting and stopping the worker\n", (int)getpid(),
           proc_signal_name(signo));
    m->stopped = 1;
    if (m->ch != NULL) {
        chan_close(m->ch);
        m->ch = NULL;
    }
    stop_worker(m);
    maybe_stop(m);
}

/* ipc-worker in the directory this program was started from, so that
 * `../04-ipc/ipc` still finds its worker; plain "ipc-worker" (a PATH
 * search) if we were started by a PATH search ourselves. */
static char *default_worker(const char *argv0)
{
    const char *slash = strrchr(argv0, '/');
    size_t dir = slash ? (size_t)(slash - argv0 + 1) : 0;
    char *path = malloc(dir + sizeof "ipc-worker");
    if (path == NULL)
        err(1, "malloc");
    memcpy(path, argv0, dir);
    memcpy(path + dir, "ipc-worker", sizeof "ipc-worker");
    return path;
}

static int send_and_log(struct master *m, json_value *msg)
{
    char *text = json_serialize(msg, NULL);
    printf("[master %d] send: %s\n", (int)getpid(), text ? text : "?");
    free(text);
    int r = chan_send(m->ch, msg);
    json_free(msg);
    if (r == -1)
        fprintf(stderr, "[master %d] chan_send: %s\n", (int)getpid(), strerror(errno));
    else
        m->sent++;
    return r;
}

struct options {
    long timeout_ms;
    const char *raw; /* -r LINE, or NULL */
    int rounds;      /* -n N */
    char **wargv;    /* the worker's argv */
    char *own;       /* our default worker's path, to free */
    char *own_argv[2];
};

/* Flags stop at the first other word, so `ipc node -e ...` passes -e to
 * node. Without a WORKER, ours. Bad values exit 2 (01's cli.c). */
static void parse_args(int argc, char *argv[], struct options *o)
{
    cli_init("ipc", usage);
    *o = (struct options){.timeout_ms = cli_env_long("IPC_TIMEOUT", 10000, 1, 86400000L)};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-t") == 0 || strcmp(a, "--timeout") == 0) {
            o->timeout_ms = cli_long(a, cli_value(argc, argv, &i), 1, 86400000L);
        } else if (strcmp(a, "-r") == 0 || strcmp(a, "--raw") == 0) {
            o->raw = cli_value(argc, argv, &i);
        } else if (strcmp(a, "-n") == 0 || strcmp(a, "--rounds") == 0) {
            o->rounds = (int)cli_long(a, cli_value(argc, argv, &i), 1, 1000000L);
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else {
            cli_bad_arg(a);
        }
    }
    o->wargv = argv + i;
    if (i == argc) {
        o->own_argv[0] = o->own = default_worker(argv[0]);
        o->wargv = o->own_argv;
    }
}

/* The loop LOOP_BACKEND names, stopping the worker on SIGINT/SIGTERM. The
 * same lines start 02's fork.c and 05's handle-passing.c, on purpose: their
 * home would be 01's cli.c, which must link without the loop (07's
 * wake-order uses it alone). */
static loop_t *new_loop(struct master *m)
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

/* Steps 1 to 5 (see the top of this file): a socketpair, the worker started
 * with its end as fd 3. Returns our end. */
static int spawn_worker(struct master *m, char **wargv)
{
    /* Step 1: the channel exists before the child does. */
    int sv[2];
    if (net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv) == -1)
        err(1, "socketpair");
    printf("[master %d] socketpair(AF_UNIX, SOCK_STREAM): fd %d is ours, fd %d is the "
           "worker's\n",
           (int)getpid(), sv[0], sv[1]);

    /* Steps 2-4: fork, dup2(sv[1], 3), set the environment, execve. */
    char **env = chan_child_environ();
    if (env == NULL)
        err(1, "chan_child_environ");
    proc_fd_t fd3 = {.parent_fd = sv[1], .child_fd = 3};
    proc_options_t opts = {.env = env,
                           .stdio = {PROC_INHERIT, PROC_INHERIT, PROC_INHERIT},
                           .fds = &fd3,
                           .nfds = 1};
    m->worker = proc_spawn(m->loop, wargv[0], wargv, &opts, NULL, on_worker_exit, m);
    if (m->worker == NULL)
        err(1, "spawn %s", wargv[0]);
    m->worker_pid = proc_pid(m->worker);
    free(env);
    printf("[master %d] started %s as pid %d: its end became fd 3, NODE_CHANNEL_FD=3, "
           "NODE_CHANNEL_SERIALIZATION_MODE=json\n",
           (int)getpid(), wargv[0], (int)m->worker_pid);

    /* Step 5: only the worker holds that end now. */
    if (close(sv[1]) == -1)
        err(1, "close");
    return sv[0];
}

static void open_channel(struct master *m, int fd)
{
    chan_callbacks cb = {
        .on_message = on_message, .on_error = on_error, .on_disconnect = on_disconnect};
    m->ch = chan_open(m->loop, fd, &cb, m);
    if (m->ch == NULL)
        err(1, "chan_open");
    char name[32];
    snprintf(name, sizeof name, "worker %d", (int)m->worker_pid);
    chan_set_name(m->ch, name);
}

/* master.js: work.send('some msg'), and an object, as the issue asks.
 * Neither waits for the worker to be ready: the bytes sit in the socket
 * buffer until the worker reads them. */
static void send_messages(struct master *m, const char *raw)
{
    if (raw != NULL) {
        /* chan_send_text trusts its caller to pass JSON; here we break that
         * promise on purpose. No reply is expected for this line. */
        printf("[master %d] send raw: %s\n", (int)getpid(), raw);
        if (chan_send_text(m->ch, raw, strlen(raw)) == -1)
            fprintf(stderr, "[master %d] chan_send_text: %s\n", (int)getpid(),
                    strerror(errno));
    }
    send_and_log(m, json_new_string("some msg"));
    json_value *obj = json_new_object();
    json_value *list = json_new_array();
    json_array_push(list, json_new_number(1));
    json_array_push(list, json_new_number(2.5));
    json_array_push(list, json_new_bool(1));
    json_array_push(list, json_new_null());
    json_object_set(obj, "greeting", json_new_string("你好"));
    json_object_set(obj, "list", list);
    send_and_log(m, obj);
}

int main(int argc, char *argv[])
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct options o;
    parse_args(argc, argv, &o);
    struct master m = {.rounds = o.rounds};
    if (m.rounds > 0 && (m.rtt_ms = calloc((size_t)m.rounds, sizeof *m.rtt_ms)) == NULL)
        err(1, "calloc");
    m.loop = new_loop(&m);

    /* The socketpair, and the worker with its end as fd 3 (proc.c, 03). */
    int fd = spawn_worker(&m, o.wargv);
    /* Our end becomes the channel: JSON lines both ways (chan.c). */
    open_channel(&m, fd);
    send_messages(&m, o.raw);
    m.timeout = loop_timer_add(m.loop, (uint64_t)o.timeout_ms, 0, on_timeout, &m);
    if (m.timeout == NULL)
        err(1, "loop_timer_add");

    /* The replies, the disconnect and the worker's exit arrive as events. */
    if (loop_run(m.loop) == -1)
        err(1, "loop_run");

    if (m.timeout != NULL)
        loop_timer_cancel(m.loop, m.timeout);
    if (m.kill_timer != NULL)
        loop_timer_cancel(m.loop, m.kill_timer);
    loop_free(m.loop);
    free(m.rtt_ms);
    free(o.own);
    if (m.stopped)
        return 0;
    int ok = !m.failed && m.worker_ok && m.replies == m.sent;
    return ok ? 0 : 1;
}
