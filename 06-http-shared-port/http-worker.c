/*
 * http-worker.c: one worker of http-shared-port, the C twin of the post's
 * work.js.
 *
 * You do not run it by hand: http-shared-port (the master) forks and execs
 * one per CPU, the way Node's fork() starts work.js. It finds its IPC
 * channel the way a Node child does, as fd 3 named by NODE_CHANNEL_FD
 * (chapter 04), and waits on it for the message "server" with the listening
 * socket attached (chapter 05's handle passing). From then on it serves HTTP
 * on that socket (httpd.h) on chapter 01's loop, with the epoll backend on
 * Linux. What it prints, each line starting with its role and pid:
 *
 *   [worker 4213] serving on the listener it was passed (fd 8)
 *   [worker 4213] shutdown asked: stopped accepting; 2 connection(s) to finish or close
 *   [worker 4213] done: 51234 requests
 *
 * Messages on the channel, one JSON object per line:
 *   master -> worker  "server" + the listener      start serving
 *                     {"cmd":"shutdown"}           graceful stop
 *                     {"cmd":"report"}             send your count now
 *   worker -> master  {"cmd":"ready"}              serving; the master may
 *                                                  retire the worker it replaces
 *                     {"cmd":"stats","requests":N} every second while it
 *                                                  changes, on request and
 *                                                  last thing before exit
 *
 * It stops (gracefully: httpd_drain) on {"cmd":"shutdown"}, on SIGTERM, and
 * when the master dies: channel EOF, lifeline EOF, or on Linux the
 * PR_SET_PDEATHSIG signal the master arranged (SIGTERM). SIGINT is ignored:
 * Ctrl-C reaches the whole process group, and the master decides.
 */
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chan.h"
#include "cli.h"
#include "handle.h"
#include "httpd.h"
#include "json.h"
#include "loop.h"

typedef struct worker {
    loop_t *loop;
    chan_t *ch;
    httpd_t *httpd;
    httpd_config_t cfg;
    int lifeline;
    int stopping;
    uint64_t reported; /* the count last sent to the master */
} worker_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: http-worker [--lifeline-fd N] [--header-timeout MS] "
               "[--idle-timeout MS]\n"
               "Started by http-shared-port with its IPC channel as fd 3 "
               "(NODE_CHANNEL_FD=3);\nit is not meant to be run by hand.\n");
}

static void send_cmd(worker_t *w, const char *cmd, int with_count)
{
    if (w->ch == NULL)
        return;
    json_value *m = json_new_object();
    if (m == NULL || json_object_set(m, "cmd", json_new_string(cmd)) == -1)
        goto out;
    if (with_count) {
        uint64_t n = w->httpd ? httpd_requests(w->httpd) : 0;
        if (json_object_set(m, "requests", json_new_number((double)n)) == -1)
            goto out;
        w->reported = n;
    }
    if (handle_send_message(w->ch, m) == -1)
        printf("[worker %d] send %s: %s\n", (int)getpid(), cmd, strerror(errno));
out:
    json_free(m);
}

static void on_drained(httpd_t *h, void *arg)
{
    worker_t *w = arg;
    unsigned long long n = httpd_requests(h);
    printf("[worker %d] done: %llu request%s\n", (int)getpid(), n, n == 1 ? "" : "s");
    send_cmd(w, "stats", 1);
    /* Flush the last message, then close; on_disconnect stops the loop. */
    if (w->ch == NULL || handle_disconnect(w->ch) == -1)
        loop_stop(w->loop);
}

static void stop(worker_t *w, const char *why)
{
    if (w->stopping)
        return;
    w->stopping = 1;
    if (w->httpd == NULL) {
        printf("[worker %d] %s before serving: exiting\n", (int)getpid(), why);
        loop_stop(w->loop);
        return;
    }
    /* Requests in flight finish; idle connections close after a short grace. */
    httpd_drain(w->httpd, on_drained, w);
    printf("[worker %d] %s: stopped accepting; %d connection(s) to finish or close\n",
           (int)getpid(), why, httpd_connections(w->httpd));
}

static void on_message(chan_t *ch, const json_value *msg, int fd, void *arg)
{
    worker_t *w = arg;
    (void)ch;
    if (fd != -1) {
        /* The post: process.on('message', (type, tcp) => ...) with type
         * 'server'. Anything else with an fd is not for us. */
        if (msg->type != JSON_STRING || strcmp(msg->u.string.ptr, "server") != 0 ||
            w->httpd != NULL || w->stopping) {
            close(fd);
            return;
        }
        w->httpd = httpd_new(w->loop, fd, &w->cfg);
        if (w->httpd == NULL && errno == ENOTSOCK)
            errx(1, "the server it was passed (fd %d) is not a listening socket", fd);
        if (w->httpd == NULL)
            err(1, "httpd_new");
        printf("[worker %d] serving on the listener it was passed (fd %d)\n",
               (int)getpid(), fd);
        send_cmd(w, "ready", 0);
        return;
    }
    const char *cmd = json_object_get_string(msg, "cmd");
    if (cmd == NULL)
        return;
    if (strcmp(cmd, "shutdown") == 0)
        stop(w, "shutdown asked");
    else if (strcmp(cmd, "report") == 0)
        send_cmd(w, "stats", 1);
}

static void on_disconnect(chan_t *ch, void *arg)
{
    worker_t *w = arg;
    (void)ch;
    w->ch = NULL;
    if (w->stopping && (w->httpd == NULL || httpd_connections(w->httpd) == 0))
        loop_stop(w->loop); /* our own handle_disconnect() finished */
    else
        stop(w, "channel closed (the master is gone)");
}

static void on_lifeline(loop_t *loop, int fd, int events, void *arg)
{
    worker_t *w = arg;
    (void)events;
    /* Only the master holds the write end: readable means EOF, it died. */
    loop_unwatch(loop, fd);
    close(fd);
    w->lifeline = -1;
    stop(w, "lifeline closed (the master is gone)");
}

static void on_sigterm(loop_t *loop, int signo, void *arg)
{
    (void)loop;
    (void)signo;
    stop(arg, "SIGTERM");
}

/* Every second, tell the master the count if it changed, so that the
 * numbers of a worker that is killed are at most a second old. */
static void on_stats_timer(loop_t *loop, loop_timer_t *t, void *arg)
{
    worker_t *w = arg;
    (void)loop;
    (void)t;
    if (w->httpd && !w->stopping && httpd_requests(w->httpd) != w->reported)
        send_cmd(w, "stats", 1);
}

int main(int argc, char *argv[])
{
    worker_t w = {.lifeline = -1};
    setvbuf(stdout, NULL, _IOLBF, 0);
    cli_init("http-worker", usage);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if ((v = cli_opt(argc, argv, &i, "--lifeline-fd"))) {
            w.lifeline = (int)cli_long("--lifeline-fd", v, 0, INT_MAX);
        } else if ((v = cli_opt(argc, argv, &i, "--header-timeout"))) {
            w.cfg.header_timeout_ms =
                (uint64_t)cli_long("--header-timeout", v, 1, 86400000);
        } else if ((v = cli_opt(argc, argv, &i, "--idle-timeout"))) {
            w.cfg.idle_timeout_ms = (uint64_t)cli_long("--idle-timeout", v, 1, 86400000);
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            cli_bad_arg(a);
        }
    }

    /* A client that vanishes must be an EPIPE from send(), not a signal that
     * kills the worker (httpd also uses MSG_NOSIGNAL). */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR || signal(SIGINT, SIG_IGN) == SIG_ERR)
        err(1, "signal");

    int fd = chan_fd_from_env();
    if (fd == -1 && errno == ENOENT)
        errx(1, "NODE_CHANNEL_FD is not set: start http-shared-port, not the worker");
    if (fd == -1)
        err(1, "NODE_CHANNEL_FD (start http-shared-port, not the worker)");

#ifdef __linux__
    w.loop = loop_new(LOOP_EPOLL); /* the C10K backend (chapter 01) */
#else
    w.loop = loop_new(LOOP_POLL);
#endif
    if (w.loop == NULL)
        err(1, "loop_new");
    chan_callbacks cb = {.on_message = on_message, .on_disconnect = on_disconnect};
    w.ch = chan_open(w.loop, fd, &cb, &w);
    if (w.ch == NULL)
        err(1, "chan_open");
    if (handle_attach(w.ch, NULL, NULL) == -1)
        err(1, "handle_attach");
    if (w.lifeline != -1 &&
        loop_watch(w.loop, w.lifeline, LOOP_READ, on_lifeline, &w) == -1)
        err(1, "watch lifeline fd %d", w.lifeline);
    if (loop_on_signal(w.loop, SIGTERM, on_sigterm, &w) == -1)
        err(1, "loop_on_signal");
    if (loop_timer_add(w.loop, 1000, 1000, on_stats_timer, &w) == NULL)
        err(1, "loop_timer_add");

    if (loop_run(w.loop) == -1)
        err(1, "loop_run");

    httpd_free(w.httpd);
    if (w.ch)
        chan_close(w.ch);
    if (w.lifeline != -1)
        close(w.lifeline);
    loop_free(w.loop);
    return 0;
}
