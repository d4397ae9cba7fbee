/*
 * chan.c: Node's IPC channel (newline-delimited JSON on a stream socket) on
 * top of chapter 01's loop. See chan.h for the contract.
 *
 * The file reads in this order:
 *   1. the channel object and its life cycle. Callbacks may close the
 *      channel while we are still inside our own code, so every entry from
 *      the loop is bracketed by enter()/leave(): the memory is freed only
 *      when the outermost frame leaves.
 *   2. receiving: read into a buffer, cut it at each '\n', parse each line,
 *      route it (NODE_* to the layer, the rest to on_message), keep the
 *      unfinished tail for the next read;
 *   3. sending: one output buffer plus a list of "marks", the stream
 *      positions where a line with an attachment starts (chan_send_attached).
 *      The writer never writes across a mark, so each attachment leaves
 *      with its line's first byte;
 *   4. disconnecting, the accessors and the child's side of the handoff.
 */
#include "chan.h"
#include "net.h" /* fd flags, from 01-event-loop */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK 65536   /* bytes asked of each read(2) */
#define READS_PER_EVENT 16 /* then let other fds have a turn */

struct mark {
    uint64_t pos; /* stream position of the first byte of the line */
    void *att;    /* the layer's attachment for it */
};

struct chan {
    loop_t *loop;
    int fd;
    chan_callbacks cb;
    void *user;
    char name[64];
    size_t max_message;
    size_t max_queue;

    /* receive side: in[0..in_len) holds bytes not yet consumed; in[0] is at
     * stream position in_base; in[0..scanned) is known to hold no '\n'. */
    char *in;
    size_t in_len, in_cap, scanned;
    uint64_t in_base;
    uint64_t msgs_in;

    /* send side: out[out_head..out_len) is pending; out[out_head] is at
     * stream position out_written. */
    char *out;
    size_t out_head, out_len, out_cap;
    uint64_t out_written;
    struct mark *marks;
    size_t marks_head, marks_len, marks_cap;

    /* state */
    int watch_events; /* what we asked the loop for */
    int reading;      /* 0 once disconnecting or after EOF */
    int paused;       /* chan_pause_reading(): not reading for now */
    int want_drain;   /* a send was refused: call on_drain once empty */
    int write_dead;   /* a write failed: sends fail with EPIPE */
    int disconnecting;
    int closed;   /* fd closed, unwatched */
    int dead;     /* to be freed when the last frame leaves */
    int notified; /* on_disconnect has been called */
    int busy;     /* frames of our code on the stack */
    loop_timer_t *finish_timer;
    loop_timer_t *resume_timer; /* delivers lines that waited out a pause */

    chan_layer layer; /* chan.h, "how a later layer plugs in" */
    void *layer_arg;
};

static void on_io(loop_t *loop, int fd, int events, void *arg);

/* ---- 1. life cycle -------------------------------------------------------- */

chan_t *chan_open(loop_t *loop, int fd, const chan_callbacks *cb, void *user)
{
    if (loop == NULL || fd < 0) {
        errno = EINVAL;
        return NULL;
    }
    /* Non-blocking, so that neither a slow peer nor a half-written message
     * can ever stall the loop; close-on-exec, so the channel does not leak
     * into programs this process starts later. */
    if (net_set_nonblock(fd, 1) == -1 || net_set_cloexec(fd) == -1)
        return NULL;

    chan_t *ch = calloc(1, sizeof *ch);
    if (ch == NULL)
        return NULL;
    ch->loop = loop;
    ch->fd = fd;
    if (cb != NULL)
        ch->cb = *cb;
    ch->user = user;
    ch->max_message = CHAN_DEFAULT_MAX_MESSAGE;
    ch->max_queue = CHAN_DEFAULT_MAX_QUEUE;
    ch->reading = 1;
    snprintf(ch->name, sizeof ch->name, "fd %d", fd);
    if (loop_watch(loop, fd, LOOP_READ, on_io, ch) == -1) {
        int e = errno;
        free(ch);
        errno = e;
        return NULL;
    }
    ch->watch_events = LOOP_READ;
    return ch;
}

/* Close the socket and forget the queue; the object itself lives on until
 * destroy(). Idempotent. */
static void teardown(chan_t *ch)
{
    if (ch->closed)
        return;
    ch->closed = 1;
    ch->reading = 0;
    if (ch->finish_timer != NULL) {
        loop_timer_cancel(ch->loop, ch->finish_timer);
        ch->finish_timer = NULL;
    }
    if (ch->resume_timer != NULL) {
        loop_timer_cancel(ch->loop, ch->resume_timer);
        ch->resume_timer = NULL;
    }
    loop_unwatch(ch->loop, ch->fd);
    close(ch->fd);
    ch->marks_head = ch->marks_len = 0;
    ch->out_head = ch->out_len = 0;
}

static void destroy(chan_t *ch)
{
    teardown(ch);
    if (ch->layer.close != NULL)
        ch->layer.close(ch, ch->layer_arg);
    free(ch->in);
    free(ch->out);
    free(ch->marks);
    free(ch);
}

static void enter(chan_t *ch)
{
    ch->busy++;
}

/* After leave() the channel may be gone: callers must not touch it. */
static void leave(chan_t *ch)
{
    if (--ch->busy == 0 && ch->dead)
        destroy(ch);
}

void chan_close(chan_t *ch)
{
    if (ch == NULL || ch->dead)
        return;
    teardown(ch);
    ch->dead = 1;
    if (ch->busy == 0)
        destroy(ch);
}

/* The channel is over: close it and tell the user, once. Called only between
 * enter() and leave(), so the memory outlives the callback. */
static void finish(chan_t *ch)
{
    teardown(ch);
    if (!ch->notified && !ch->dead) {
        ch->notified = 1;
        if (ch->cb.on_disconnect != NULL)
            ch->cb.on_disconnect(ch, ch->user);
    }
    ch->dead = 1;
}

static void report(chan_t *ch, chan_error *e)
{
    if (ch->cb.on_error != NULL && !ch->dead)
        ch->cb.on_error(ch, e, ch->user);
}

static void report_io(chan_t *ch, const char *call, int err, const char *what)
{
    chan_error e = {.kind = CHAN_ERR_IO,
                    .line_offset = ch->in_base + ch->in_len,
                    .reason = call,
                    .sys_errno = err};
    snprintf(e.text, sizeof e.text, "channel %s: %s: %s%s", ch->name, call, strerror(err),
             what);
    report(ch, &e);
}

/* ---- 2. receiving --------------------------------------------------------- */

/* An object whose "cmd" is a string that starts with "NODE_". */
static int is_internal(const json_value *msg)
{
    const char *cmd = json_object_get_string(msg, "cmd");
    return cmd != NULL && strncmp(cmd, "NODE_", 5) == 0;
}

void chan_deliver(chan_t *ch, const json_value *msg, int fd)
{
    enter(ch);
    if (ch->cb.on_message != NULL && !ch->dead)
        ch->cb.on_message(ch, msg, fd, ch->user);
    else if (fd != -1)
        close(fd);
    leave(ch);
}

/* One complete line, without its '\n'. */
static void handle_line(chan_t *ch, const char *line, size_t len, uint64_t line_offset)
{
    json_error err;
    json_limits lim = {.max_depth = 0, .max_size = ch->max_message};
    json_value *msg = json_parse(line, len, &lim, &err);
    ch->msgs_in++;
    if (msg == NULL) {
        /* A peer bug, not a reason to hang up: say where and why, drop the
         * line, and go on with the next one. */
        chan_error e = {.kind = CHAN_ERR_MALFORMED,
                        .line_offset = line_offset,
                        .offset = err.offset,
                        .reason = err.reason};
        snprintf(e.text, sizeof e.text,
                 "channel %s: malformed message at byte %zu of the line at stream "
                 "byte %llu: %s",
                 ch->name, err.offset, (unsigned long long)line_offset, err.reason);
        report(ch, &e);
        return;
    }
    if (is_internal(msg)) {
        /* Node's own traffic (NODE_HANDLE, NODE_HANDLE_ACK, NODE_CLUSTER...).
         * It never becomes a 'message' event; without a handler it is
         * dropped, as Node drops internal messages nobody listens for. */
        if (ch->layer.internal != NULL)
            ch->layer.internal(ch, msg, ch->layer_arg);
    } else if (ch->cb.on_message != NULL) {
        ch->cb.on_message(ch, msg, -1, ch->user);
    }
    json_free(msg);
}

static void oversized(chan_t *ch, uint64_t line_offset, size_t seen)
{
    chan_error e = {.kind = CHAN_ERR_OVERSIZED,
                    .line_offset = line_offset,
                    .offset = seen,
                    .reason = "message larger than the maximum"};
    snprintf(e.text, sizeof e.text,
             "channel %s: message at stream byte %llu is larger than the maximum of "
             "%zu bytes (%zu bytes and no newline yet); closing the channel",
             ch->name, (unsigned long long)line_offset, ch->max_message, seen);
    report(ch, &e);
    finish(ch);
}

/* Deliver every complete line in the buffer, then keep the tail. */
static void process_lines(chan_t *ch)
{
    size_t start = 0;
    while (ch->reading && !ch->paused && !ch->dead) {
        char *nl = memchr(ch->in + ch->scanned, '\n', ch->in_len - ch->scanned);
        if (nl == NULL) {
            ch->scanned = ch->in_len;
            if (ch->in_len - start > ch->max_message)
                oversized(ch, ch->in_base + start, ch->in_len - start);
            break;
        }
        size_t end = (size_t)(nl - ch->in);
        uint64_t line_offset = ch->in_base + start;
        ch->scanned = end + 1;
        if (end - start > ch->max_message) {
            oversized(ch, line_offset, end - start);
            break;
        }
        handle_line(ch, ch->in + start, end - start, line_offset);
        start = end + 1;
    }
    if (ch->dead || start == 0)
        return;
    memmove(ch->in, ch->in + start, ch->in_len - start);
    ch->in_len -= start;
    ch->scanned -= start;
    ch->in_base += start;
}

static void do_read(chan_t *ch)
{
    for (int i = 0; i < READS_PER_EVENT && ch->reading && !ch->paused && !ch->dead; i++) {
        if (ch->in_cap - ch->in_len < READ_CHUNK) {
            size_t cap = ch->in_cap ? ch->in_cap * 2 : READ_CHUNK * 2;
            char *in = realloc(ch->in, cap);
            if (in == NULL) {
                report_io(ch, "realloc", ENOMEM, "; closing the channel");
                finish(ch);
                return;
            }
            ch->in = in;
            ch->in_cap = cap;
        }
        ssize_t n = ch->layer.recv != NULL
                        ? ch->layer.recv(ch, ch->fd, ch->in + ch->in_len, READ_CHUNK,
                                         ch->layer_arg)
                        : read(ch->fd, ch->in + ch->in_len, READ_CHUNK);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n == 0 || (n == -1 && errno == ECONNRESET)) {
            /* EOF: the peer closed its end (or died). ECONNRESET is the same
             * news, told more rudely: the peer closed while our last message
             * to it was still unread. A half line left over is a message
             * that was cut short. */
            if (ch->in_len > 0) {
                chan_error e = {.kind = CHAN_ERR_MALFORMED,
                                .line_offset = ch->in_base,
                                .offset = ch->in_len,
                                .reason = "message cut short by end of stream"};
                snprintf(e.text, sizeof e.text,
                         "channel %s: message at stream byte %llu cut short by end of "
                         "stream after %zu bytes",
                         ch->name, (unsigned long long)ch->in_base, ch->in_len);
                report(ch, &e);
            }
            finish(ch);
            return;
        }
        if (n == -1) {
            report_io(ch, "read", errno, "; closing the channel");
            finish(ch);
            return;
        }
        ch->in_len += (size_t)n;
        process_lines(ch);
    }
}

/* ---- 3. sending ----------------------------------------------------------- */

static size_t pending(const chan_t *ch)
{
    return ch->out_len - ch->out_head;
}

static void set_events(chan_t *ch)
{
    if (ch->closed)
        return;
    /* Writable is also what tells us to call on_drain, when a refused
     * sender waits and the queue emptied inside a later chan_send. */
    int want = (ch->reading && !ch->paused ? LOOP_READ : 0) |
               (pending(ch) > 0 || ch->want_drain ? LOOP_WRITE : 0);
    if (want != ch->watch_events && loop_modify(ch->loop, ch->fd, want) == 0)
        ch->watch_events = want;
}

/* Write as much of the queue as the socket takes now. Returns 0 (all written
 * or EAGAIN) or -1 with errno from the failed call. */
static int flush(chan_t *ch)
{
    while (pending(ch) > 0) {
        size_t chunk = pending(ch);
        const char *data = ch->out + ch->out_head;
        struct mark *m =
            ch->marks_len > ch->marks_head ? &ch->marks[ch->marks_head] : NULL;
        ssize_t n;
        if (m != NULL && m->pos == ch->out_written) {
            /* An attached line starts here. Stop before the next one, so
             * no write ever carries two attachments for two lines. */
            if (ch->marks_len - ch->marks_head > 1)
                chunk = (size_t)(ch->marks[ch->marks_head + 1].pos - ch->out_written);
            n = ch->layer.send_attached(ch, ch->fd, data, chunk, m->att, ch->layer_arg);
            if (n > 0)
                ch->marks_head++; /* it went with this line's first byte */
        } else {
            if (m != NULL)
                chunk = (size_t)(m->pos - ch->out_written);
            n = send(ch->fd, data, chunk, MSG_NOSIGNAL);
        }
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n == -1)
            return -1;
        if (n == 0) { /* a layer broke its contract; never spin on it */
            errno = EIO;
            return -1;
        }
        ch->out_head += (size_t)n;
        ch->out_written += (size_t)n;
    }
    if (ch->out_head == ch->out_len)
        ch->out_head = ch->out_len = 0;
    if (ch->marks_head == ch->marks_len)
        ch->marks_head = ch->marks_len = 0;
    return 0;
}

static void schedule_resume(chan_t *ch);

/* A write failed: nothing more can be sent. Drop the queue (attachments
 * stay the layer's). Reading goes on, because the peer's last messages and its EOF may
 * still be waiting in our receive buffer; and a pause ends, since it was
 * waiting for a reader that is gone, and would keep the EOF unread. */
static void kill_writes(chan_t *ch)
{
    ch->write_dead = 1;
    ch->want_drain = 0;
    if (ch->paused) {
        ch->paused = 0;
        schedule_resume(ch);
    }
    ch->marks_head = ch->marks_len = 0;
    ch->out_head = ch->out_len = 0;
}

static void do_write(chan_t *ch)
{
    size_t before = pending(ch);
    if (flush(ch) == -1) {
        int e = errno;
        char what[96];
        snprintf(what, sizeof what, "; %zu bytes not delivered", before);
        kill_writes(ch);
        report_io(ch, "send", e, what);
        if (e != EPIPE || ch->disconnecting) {
            finish(ch);
            return;
        }
    }
    if (ch->disconnecting && pending(ch) == 0) {
        finish(ch);
        return;
    }
    if (ch->want_drain && pending(ch) == 0) {
        ch->want_drain = 0;
        if (ch->cb.on_drain != NULL && !ch->dead)
            ch->cb.on_drain(ch, ch->user);
        if (ch->dead)
            return;
    }
    set_events(ch);
}

/* Why the line cannot be queued now, as an errno; 0 if it can. */
static int refusal(chan_t *ch, const char *text, size_t len, void *att)
{
    if (ch->closed || ch->disconnecting || ch->write_dead)
        return EPIPE;
    if (memchr(text, '\n', len) != NULL)
        return EINVAL;
    if (len > ch->max_message)
        return EMSGSIZE;
    if (att != NULL && ch->layer.send_attached == NULL)
        return ENOTSUP;
    /* The bound. An empty queue takes any message, so that every message
     * within max_message can be sent; after that, what would pass the bound
     * is refused and the caller hears about it. */
    if (pending(ch) > 0 && pending(ch) + len + 1 > ch->max_queue) {
        ch->want_drain = 1;
        set_events(ch);
        return EAGAIN;
    }
    return 0;
}

/* Room for `len` more bytes in the output buffer and, if `att`, one more
 * mark. -1 if memory runs out. */
static int reserve(chan_t *ch, size_t len, void *att)
{
    if (ch->out_len + len > ch->out_cap) {
        if (ch->out_head > 0) { /* slide the pending bytes to the front */
            memmove(ch->out, ch->out + ch->out_head, pending(ch));
            ch->out_len -= ch->out_head;
            ch->out_head = 0;
        }
        size_t cap = ch->out_cap ? ch->out_cap : 4096;
        while (cap < ch->out_len + len)
            cap *= 2;
        if (cap != ch->out_cap) {
            char *out = realloc(ch->out, cap);
            if (out == NULL)
                return -1;
            ch->out = out;
            ch->out_cap = cap;
        }
    }
    if (att != NULL && ch->marks_len == ch->marks_cap) {
        size_t cap = ch->marks_cap ? ch->marks_cap * 2 : 8;
        struct mark *marks = realloc(ch->marks, cap * sizeof *marks);
        if (marks == NULL)
            return -1;
        ch->marks = marks;
        ch->marks_cap = cap;
    }
    return 0;
}

static int enqueue(chan_t *ch, const char *text, size_t len, void *att)
{
    int e = refusal(ch, text, len, att);
    if (e != 0) {
        errno = e;
        return -1;
    }
    if (reserve(ch, len + 1, att) == -1)
        return -1;
    if (att != NULL)
        ch->marks[ch->marks_len++] =
            (struct mark){.pos = ch->out_written + pending(ch), .att = att};
    memcpy(ch->out + ch->out_len, text, len);
    ch->out[ch->out_len + len] = '\n';
    ch->out_len += len + 1;

    /* Try to write now: with an empty queue this is the common case, and the
     * message leaves without a trip through the loop. Errors are returned
     * to the caller here rather than reported through on_error. */
    if (flush(ch) == -1) {
        e = errno;
        kill_writes(ch);
        errno = e;
        return -1;
    }
    set_events(ch);
    return 0;
}

int chan_send_text(chan_t *ch, const char *json_text, size_t len)
{
    if (ch == NULL || (json_text == NULL && len > 0)) {
        errno = EINVAL;
        return -1;
    }
    return enqueue(ch, json_text, len, NULL);
}

/* One message as one line: serialize it and queue it, with att if any. */
static int send_json(chan_t *ch, const json_value *msg, void *att)
{
    if (ch == NULL || msg == NULL) {
        errno = EINVAL;
        return -1;
    }
    size_t len;
    char *text = json_serialize(msg, &len);
    if (text == NULL) {
        errno = ENOMEM;
        return -1;
    }
    /* The serializer escapes every '\n' inside strings, so the line holds
     * exactly one message: this is why JSON-plus-newline framing works. */
    int r = enqueue(ch, text, len, att);
    int e = errno;
    free(text);
    errno = e;
    return r;
}

int chan_send(chan_t *ch, const json_value *msg)
{
    return send_json(ch, msg, NULL);
}

int chan_send_attached(chan_t *ch, const json_value *msg, void *att)
{
    return send_json(ch, msg, att);
}

/* The loop's callback for our fd. */
static void on_io(loop_t *loop, int fd, int events, void *arg)
{
    (void)loop;
    (void)fd;
    chan_t *ch = arg;
    enter(ch);
    /* LOOP_ERROR (a hang-up) is answered by reading, which returns the EOF
     * or the error, or by writing, which fails with EPIPE. */
    if (ch->reading && (events & (LOOP_READ | LOOP_ERROR)))
        do_read(ch);
    if (!ch->dead && (events & (LOOP_WRITE | LOOP_ERROR)) &&
        (pending(ch) > 0 || ch->want_drain))
        do_write(ch);
    if (!ch->dead)
        set_events(ch);
    leave(ch);
}

/* ---- 4. disconnecting, accessors, the child's side ----------------------- */

static void on_finish_timer(loop_t *loop, loop_timer_t *timer, void *arg)
{
    (void)loop;
    (void)timer;
    chan_t *ch = arg;
    ch->finish_timer = NULL; /* a one-shot timer's handle is gone once it fires */
    enter(ch);
    finish(ch);
    leave(ch);
}

int chan_disconnect(chan_t *ch)
{
    if (ch == NULL || ch->disconnecting || ch->closed) {
        errno = EALREADY;
        return -1;
    }
    ch->disconnecting = 1;
    ch->reading = 0; /* no 'message' events after disconnect(), as in Node */
    if (pending(ch) > 0) {
        set_events(ch); /* write-only now; do_write finishes when drained */
        return 0;
    }
    /* Nothing to flush: close now, but tell the user from the loop, never
     * from inside this call (the caller may be in the middle of a callback
     * that still uses the channel). */
    loop_unwatch(ch->loop, ch->fd);
    ch->watch_events = 0;
    ch->finish_timer = loop_timer_add(ch->loop, 0, 0, on_finish_timer, ch);
    if (ch->finish_timer == NULL) {
        teardown(ch);
        return -1;
    }
    return 0;
}

loop_t *chan_loop(const chan_t *ch)
{
    return ch->loop;
}

int chan_fd(const chan_t *ch)
{
    return ch->fd;
}

void *chan_user(const chan_t *ch)
{
    return ch->user;
}

void chan_set_user(chan_t *ch, void *user)
{
    ch->user = user;
}

void chan_set_name(chan_t *ch, const char *name)
{
    snprintf(ch->name, sizeof ch->name, "%s", name);
}

const char *chan_name(const chan_t *ch)
{
    return ch->name;
}

void chan_set_max_message(chan_t *ch, size_t max)
{
    ch->max_message = max;
}

size_t chan_max_message(const chan_t *ch)
{
    return ch->max_message;
}

size_t chan_pending_bytes(const chan_t *ch)
{
    return pending(ch);
}

void chan_set_max_queue(chan_t *ch, size_t max)
{
    ch->max_queue = max ? max : CHAN_DEFAULT_MAX_QUEUE;
}

size_t chan_max_queue(const chan_t *ch)
{
    return ch->max_queue;
}

void chan_pause_reading(chan_t *ch)
{
    if (ch->paused || !ch->reading || ch->write_dead)
        return;
    ch->paused = 1;
    set_events(ch);
}

/* Lines that arrived before the pause are already in our buffer, and no
 * read event will come for them: deliver them from a timer, never from
 * inside chan_resume_reading (whose caller may be in the middle of a
 * callback, even on_message, with process_lines below it on the stack). */
static void on_resume_timer(loop_t *loop, loop_timer_t *timer, void *arg)
{
    (void)loop;
    (void)timer;
    chan_t *ch = arg;
    ch->resume_timer = NULL;
    enter(ch);
    if (!ch->dead && !ch->paused && ch->reading) {
        ch->scanned = 0; /* look at the buffered bytes again from the start */
        process_lines(ch);
    }
    if (!ch->dead)
        set_events(ch);
    leave(ch);
}

static void schedule_resume(chan_t *ch)
{
    if (ch->resume_timer == NULL && ch->in_len > 0)
        ch->resume_timer = loop_timer_add(ch->loop, 0, 0, on_resume_timer, ch);
    /* If the timer cannot be added (no memory), the lines wait for the next
     * read event; there is nothing better to do. */
    set_events(ch);
}

void chan_resume_reading(chan_t *ch)
{
    if (!ch->paused)
        return;
    ch->paused = 0;
    schedule_resume(ch);
}

uint64_t chan_bytes_received(const chan_t *ch)
{
    return ch->in_base + ch->in_len;
}

uint64_t chan_messages_received(const chan_t *ch)
{
    return ch->msgs_in;
}

void chan_set_layer(chan_t *ch, const chan_layer *layer, void *arg)
{
    ch->layer = *layer;
    ch->layer_arg = arg;
}

char **chan_child_environ(void)
{
    extern char **environ;
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **env = calloc(n + 3, sizeof *env);
    if (env == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "NODE_CHANNEL_", 13) != 0)
            env[k++] = environ[i];
    env[k++] = "NODE_CHANNEL_FD=3";
    env[k++] = "NODE_CHANNEL_SERIALIZATION_MODE=json";
    env[k] = NULL;
    return env;
}

int chan_fd_from_env(void)
{
    const char *fd_str = getenv("NODE_CHANNEL_FD");
    const char *mode = getenv("NODE_CHANNEL_SERIALIZATION_MODE");
    int fd = -1, err = 0;
    if (fd_str == NULL) {
        err = ENOENT;
    } else {
        char *end;
        errno = 0;
        long v = strtol(fd_str, &end, 10);
        if (errno != 0 || end == fd_str || *end != '\0' || v < 0 || v > INT_MAX)
            err = EINVAL;
        else
            fd = (int)v;
    }
    if (err == 0 && mode != NULL && strcmp(mode, "json") != 0)
        err = ENOTSUP; /* "advanced" is V8's structured clone: not spoken here */
    /* Node deletes both variables at start-up, so that a grandchild started
     * with this environment does not think the channel is its own. */
    unsetenv("NODE_CHANNEL_FD");
    unsetenv("NODE_CHANNEL_SERIALIZATION_MODE");
    if (err != 0) {
        errno = err;
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) == -1)
        return -1; /* EBADF: the parent did not hand us that fd */
    if (!S_ISSOCK(st.st_mode)) {
        errno = ENOTSOCK;
        return -1;
    }
    /* The fd came to us through exec, so it is not close-on-exec; make it so,
     * or our own children would hold the channel open. */
    if (net_set_cloexec(fd) == -1)
        return -1;
    return fd;
}
