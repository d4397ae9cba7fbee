/*
 * ipc-worker.c: the worker of chapter 04, the post's work.js in C.
 *
 * It is not meant to be started by hand: a parent starts it with an IPC
 * channel on fd 3 and NODE_CHANNEL_FD=3 in its environment. Two parents can:
 *
 *   ./ipc                       chapter 04's C master
 *   node node-master.js         a Node.js master (child_process.fork with
 *                               execPath, or spawn with an 'ipc' stdio entry)
 *
 * Started by hand it says what is missing and exits 1.
 *
 * What it does, like work.js: for every message, print it and answer with an
 * object, {"name":NAME,"pid":...,"echo":<the message>}; NAME is the optional
 * argument, Bruce by default. Then, unlike work.js (which never exits
 * because the channel keeps Node's event loop alive), it exits as soon as
 * the master disconnects:
 *
 *   [worker 4212] channel on fd 3; NODE_CHANNEL_FD and ... are now unset
 *   [worker 4212] got message: "some msg"
 *   [worker 4212] reply: {"name":"Bruce","pid":4212,"echo":"some msg"}
 *   ...
 *   [worker 4212] the master disconnected: exiting
 *
 * A line that is not JSON is reported (with its offset and the reason) and
 * skipped; the conversation goes on. A line over 1 MiB (or IPC_MAX_MESSAGE
 * bytes) ends the channel, and the worker exits 1.
 */
#include <errno.h>
#include <err.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "chan.h"
#include "json.h"
#include "loop.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ipc-worker [NAME]\n"
            "\n"
            "The worker end of an IPC channel. Start it from ./ipc or from Node.js\n"
            "(child_process.fork with execPath, or spawn with stdio [..., 'ipc']); it\n"
            "reads the channel's fd from NODE_CHANNEL_FD, answers every message with\n"
            "{\"name\":NAME,...} (NAME defaults to Bruce) and exits when the parent\n"
            "disconnects.\n");
}

/* IPC_MAX_MESSAGE lowers (or raises) the 1 MiB limit, so the demo can show
 * an oversized message without sending a megabyte. Only digits: strtoull
 * alone would take "-1" as the largest number there is and so remove the
 * limit without a word. Returns 0 if the variable is unset. */
#define MAX_MESSAGE_CEILING (1024ul * 1024 * 1024) /* 1 GiB: a buffer we may allocate */

static size_t max_message_from_env(void)
{
    const char *s = getenv("IPC_MAX_MESSAGE");
    if (s == NULL)
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v == 0 ||
        v > MAX_MESSAGE_CEILING)
        errx(2, "IPC_MAX_MESSAGE=%s: must be a whole number of bytes from 1 to %lu", s,
             MAX_MESSAGE_CEILING);
    return (size_t)v;
}

struct worker {
    const char *name; /* answered in every reply */
    loop_t *loop;
    chan_t *ch;       /* NULL once the channel has closed (and freed itself) */
    int failed;       /* the channel ended with an error */
    json_value *held; /* a reply the full send queue refused, sent on drain */
    int send_failed;  /* said once that replies cannot be sent */
};

/* A reply that cannot go out: say so once, not once per message (a master
 * that left with 200 messages unread would get 200 lines). */
static void reply_dropped(struct worker *w)
{
    if (!w->send_failed)
        fprintf(stderr, "[worker %d] chan_send: %s; dropping replies from now on\n",
                (int)getpid(), strerror(errno));
    w->send_failed = 1;
}

static void on_message(chan_t *ch, const json_value *msg, int fd, void *user)
{
    struct worker *w = user;
    if (fd != -1)
        close(fd); /* no handles in this chapter */
    char *text = json_serialize(msg, NULL);
    printf("[worker %d] got message: %s\n", (int)getpid(), text ? text : "?");
    free(text);

    /* work.js answers with process.send({ name: 'Bruce' }); we add our pid
     * and echo the message so the master can see who answered what. */
    json_value *reply = json_new_object();
    json_object_set(reply, "name", json_new_string(w->name));
    json_object_set(reply, "pid", json_new_number(getpid()));
    json_object_set(reply, "echo", json_clone(msg));
    text = json_serialize(reply, NULL);
    printf("[worker %d] reply: %s\n", (int)getpid(), text ? text : "?");
    free(text);
    if (chan_send(ch, reply) == 0) {
        json_free(reply);
        return;
    }
    if (errno == EAGAIN && w->held == NULL) {
        /* Backpressure: the master is not reading our replies, and the send
         * queue toward it is full. Keep this reply and stop reading its
         * messages until the queue has drained: its own sends then back up
         * in the socket, and nothing grows here. (Dropping the reply would
         * bound memory too, but the master would wait for it forever.) */
        printf("[worker %d] the master is not reading: %zu bytes wait for it; pausing "
               "reading until it catches up\n",
               (int)getpid(), chan_pending_bytes(ch));
        w->held = reply;
        chan_pause_reading(ch);
        return;
    }
    reply_dropped(w);
    json_free(reply);
}

/* The queue that refused a reply is empty again: send it, read again. */
static void on_drain(chan_t *ch, void *user)
{
    struct worker *w = user;
    if (w->held == NULL)
        return;
    if (chan_send(ch, w->held) == -1)
        reply_dropped(w);
    json_free(w->held);
    w->held = NULL;
    printf("[worker %d] caught up: reading again\n", (int)getpid());
    chan_resume_reading(ch);
}

static void on_error(chan_t *ch, const chan_error *e, void *user)
{
    (void)ch;
    struct worker *w = user;
    fprintf(stderr, "[worker %d] %s\n", (int)getpid(), e->text);
    if (e->kind != CHAN_ERR_MALFORMED)
        w->failed = 1;
}

static void on_disconnect(chan_t *ch, void *user)
{
    (void)ch;
    struct worker *w = user;
    if (w->failed)
        printf("[worker %d] channel closed after an error: exiting\n", (int)getpid());
    else
        printf("[worker %d] the master disconnected: exiting\n", (int)getpid());
    w->ch = NULL;
    loop_stop(w->loop);
}

/* One optional argument, the name to answer with. It is also what makes
 * Node's fork() work: fork(modulePath, [], { execPath: 'ipc-worker' }) runs
 * `ipc-worker modulePath`, so the "module" becomes our name. */
static const char *parse_args(int argc, char *argv[])
{
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        exit(0);
    }
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        usage(stderr);
        exit(2);
    }
    return argc == 2 ? argv[1] : "Bruce";
}

/* What Node does at start-up in a child: read NODE_CHANNEL_FD and delete
 * it and NODE_CHANNEL_SERIALIZATION_MODE from the environment. */
static int channel_fd(void)
{
    int fd = chan_fd_from_env();
    if (fd == -1) {
        if (errno == ENOENT)
            errx(1, "NODE_CHANNEL_FD is not set: start me from ./ipc, or from Node's "
                    "child_process with an 'ipc' channel");
        err(1, "NODE_CHANNEL_FD");
    }
    printf("[worker %d] channel on fd %d; NODE_CHANNEL_FD and "
           "NODE_CHANNEL_SERIALIZATION_MODE are now %s\n",
           (int)getpid(), fd,
           getenv("NODE_CHANNEL_FD") || getenv("NODE_CHANNEL_SERIALIZATION_MODE")
               ? "still set (a bug)"
               : "unset");
    return fd;
}

/* Linux only: if the master dies, the kernel sends us SIGTERM. The
 * channel's EOF would tell us too, unless someone else still held the
 * master's end; this covers that case. If the master is already gone (we
 * were reparented), leave now. */
static void die_with_master(void)
{
#ifdef __linux__
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1)
        err(1, "prctl(PR_SET_PDEATHSIG)");
    if (getppid() == 1)
        errx(1, "the master is already gone");
#endif
}

/* The loop LOOP_BACKEND names; SIGTERM and SIGINT stop it. */
static loop_t *new_loop(void)
{
    loop_backend_t backend;
    if (loop_backend_default(&backend) == -1)
        errx(2, "LOOP_BACKEND names no backend this system has");
    loop_t *loop = loop_new(backend);
    if (loop == NULL)
        err(1, "loop_new");
    if (loop_stop_on_signal(loop, SIGTERM) == -1 ||
        loop_stop_on_signal(loop, SIGINT) == -1)
        err(1, "loop_stop_on_signal");
    return loop;
}

static void open_channel(struct worker *w, int fd, size_t max_message)
{
    chan_callbacks cb = {.on_message = on_message,
                         .on_error = on_error,
                         .on_disconnect = on_disconnect,
                         .on_drain = on_drain};
    w->ch = chan_open(w->loop, fd, &cb, w);
    if (w->ch == NULL)
        err(1, "chan_open");
    chan_set_name(w->ch, "master");
    if (max_message != 0)
        chan_set_max_message(w->ch, max_message);
}

int main(int argc, char *argv[])
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct worker w = {.name = parse_args(argc, argv)};
    size_t max_message = max_message_from_env();

    /* The fd our parent gave us, the channel on it, and the loop that
     * delivers its messages to on_message. */
    int fd = channel_fd();
    die_with_master();
    w.loop = new_loop();
    open_channel(&w, fd, max_message);
    if (loop_run(w.loop) == -1)
        err(1, "loop_run");

    /* A signal stopped the loop while the channel was still open. */
    if (w.ch != NULL)
        chan_close(w.ch);
    json_free(w.held);
    loop_free(w.loop);
    return w.failed ? 1 : 0;
}
