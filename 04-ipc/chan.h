/*
 * chan.h: Node's IPC channel in C. Newline-delimited JSON over a connected
 * AF_UNIX stream socket, driven by chapter 01's event loop.
 *
 * What travels on the wire is exactly what Node's child_process sends in its
 * default "json" serialization: each message is JSON.stringify(msg) followed
 * by one '\n'. Nothing else: no length prefix, no header. So a C process on
 * one end and a Node process on the other understand each other.
 *
 * How the two ends get a channel (see ipc.c and ipc-worker.c):
 *   1. the parent calls socketpair(AF_UNIX, SOCK_STREAM) before it forks: the
 *      two fds are already connected, nothing listens and nothing connects;
 *   2. the child dup2()s its end to fd 3, sets NODE_CHANNEL_FD=3 and
 *      NODE_CHANNEL_SERIALIZATION_MODE=json, and execs the worker program;
 *   3. the worker calls chan_fd_from_env() to learn the fd (and remove the
 *      two variables, as Node does), then chan_open() on it.
 *
 * Using it, on either end:
 *
 *   static void on_message(chan_t *ch, const json_value *msg, int fd, void *u)
 *   { ... msg is valid during the call; fd is -1 unless a handle came ... }
 *
 *   chan_callbacks cb = {.on_message = on_message,
 *                        .on_error = on_error,
 *                        .on_disconnect = on_disconnect};
 *   chan_t *ch = chan_open(loop, fd, &cb, user);
 *   chan_send(ch, msg);            // queued if the socket is full
 *   loop_run(loop);                // events arrive as callbacks
 *   chan_disconnect(ch);           // flush, close, then on_disconnect
 *
 * Receiving is incremental: a read may end in the middle of a message, or hold
 * many. Bytes are buffered until a '\n' completes a line; each complete line
 * is parsed and delivered in order.
 *
 * Events:
 *   on_message     one parsed message. Messages whose "cmd" member is a string
 *                  starting with "NODE_" are Node's internal messages (handle
 *                  passing, cluster): they go to the layer (below) instead and
 *                  never reach on_message, as in Node.
 *   on_error       something went wrong; the chan_error says what and where.
 *                  A malformed line (not JSON, or bad UTF-8) is reported with
 *                  its offsets and dropped, and the channel carries on. An
 *                  oversized message (a line longer than the maximum, default
 *                  CHAN_DEFAULT_MAX_MESSAGE) or an I/O error is fatal: the
 *                  channel closes right after on_error, and on_disconnect
 *                  follows.
 *   on_disconnect  the channel is closed: the peer closed its end (EOF), a
 *                  fatal error happened, or chan_disconnect() finished. Called
 *                  once. The channel is freed when it returns; do not use the
 *                  pointer afterwards.
 *
 * Any callback may send, call chan_disconnect() or chan_close().
 *
 * Sending never blocks. chan_send() writes at once what the socket takes and
 * queues the rest; the loop writes the queue as the socket drains. Writes use
 * MSG_NOSIGNAL, so a vanished peer is an EPIPE error, never a SIGPIPE.
 *
 * Backpressure. The queue is bounded (chan_set_max_queue, default
 * CHAN_DEFAULT_MAX_QUEUE): a peer that stops reading cannot make us hold
 * everything we ever meant to send it. A message that would take the queue
 * past its bound is refused: chan_send returns -1 with errno EAGAIN and
 * queues nothing, and on_drain is called once the queue has been written
 * out, so the caller knows when to try again. A message is always taken
 * into an empty queue, so any message within the size limit can be sent.
 * Node has no such bound: its send() queues without limit (it only returns
 * false), and a child that never reads grows its parent's memory for ever.
 *
 * What to do with a refused message is the caller's choice: drop it, keep
 * it for on_drain, or stop taking in work. For the last, chan_pause_reading()
 * stops reading the peer's messages (they wait in the socket, whose buffer
 * fills, so the peer's own sends back up: the pressure travels on) and
 * chan_resume_reading() starts again. chan never pauses by itself: if both
 * ends paused whenever their queue was full, two peers that each send more
 * than the other reads would each wait for the other for ever. Pause on the
 * side that only answers (a worker), never on both. If writing fails while
 * paused (the peer is gone), the pause ends by itself, so that the EOF is
 * read and the channel closes.
 *
 * How a later layer plugs in (chapter 05 passes fds this way; nothing here
 * knows about fds): chan_set_layer() gives the channel four functions, all
 * optional. recv replaces read(2); internal gets the NODE_* messages and may
 * chan_deliver() a message of its own; close runs when the channel is freed.
 * chan_send_attached() queues a message with an opaque attachment; the write
 * that starts with that line's first byte goes through send_attached, with
 * the attachment: this is how Node sends a line and an fd in one sendmsg.
 */
#ifndef CHAN_H
#define CHAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "json.h"
#include "loop.h"

#define CHAN_DEFAULT_MAX_MESSAGE (1024u * 1024u) /* bytes per line, '\n' excluded */
#define CHAN_DEFAULT_MAX_QUEUE (1024u * 1024u)   /* bytes waiting to be written */

typedef struct chan chan_t;

typedef enum {
    CHAN_ERR_MALFORMED, /* a line is not valid JSON: dropped, channel carries on */
    CHAN_ERR_OVERSIZED, /* a line exceeds the maximum: the channel closes */
    CHAN_ERR_IO         /* read/write failed (errno in sys_errno): channel closes */
} chan_error_kind;

typedef struct chan_error {
    chan_error_kind kind;
    uint64_t line_offset; /* stream offset of the line's first byte: bytes
                             received on this channel before it */
    size_t offset;        /* MALFORMED: byte offset within the line where the
                             JSON parser gave up; OVERSIZED: bytes seen so far */
    const char *reason;   /* plain words: "expected ':' after object key" */
    int sys_errno;        /* IO: the errno of the failed call, else 0 */
    char text[256];       /* one ready-made line naming the channel, e.g.
                             "channel worker 4213: malformed message at byte 7
                             of the line at stream byte 0: invalid literal" */
} chan_error;

typedef void (*chan_message_cb)(chan_t *ch, const json_value *msg, int fd, void *user);
typedef void (*chan_error_cb)(chan_t *ch, const chan_error *e, void *user);
typedef void (*chan_disconnect_cb)(chan_t *ch, void *user);
typedef void (*chan_drain_cb)(chan_t *ch, void *user);

typedef struct chan_callbacks {
    /* msg is owned by the channel and valid only during the call (json_clone
     * it to keep it). fd is -1 unless the handle layer delivers one with the
     * message; then the callback owns it and must close it. If on_message is
     * NULL, messages are dropped (and any fd closed). */
    chan_message_cb on_message;
    chan_error_cb on_error;           /* may be NULL */
    chan_disconnect_cb on_disconnect; /* may be NULL */
    /* The send queue is empty again after chan_send refused a message with
     * EAGAIN: called once per such episode, from the loop. May be NULL. */
    chan_drain_cb on_drain;
} chan_callbacks;

/* Open a channel on a connected stream socket (the channel now owns fd and
 * closes it). Makes fd non-blocking and close-on-exec, and watches it in
 * `loop`. `cb` is copied. Returns NULL with errno set on failure (the fd is
 * then left open: still the caller's). ERANGE: the select backend cannot
 * watch an fd >= FD_SETSIZE. */
chan_t *chan_open(loop_t *loop, int fd, const chan_callbacks *cb, void *user);

/* Send msg as one line of compact JSON. Returns 0 once the message is written
 * or queued, or -1 with errno:
 *   EAGAIN    the send queue is full (see "Backpressure"): nothing was
 *             queued; on_drain says when to try again
 *   EPIPE     the channel is disconnecting or its peer is gone
 *   EMSGSIZE  the line would exceed the peer's default maximum message size
 *             (this channel's maximum is used as the estimate)
 *   ENOMEM    out of memory
 *   others    from send(2). */
int chan_send(chan_t *ch, const json_value *msg);
/* Send ready-made JSON text (len bytes, without the '\n', which the channel
 * adds). The text is sent as is: the caller vouches that it is one valid JSON
 * text. EINVAL if it contains a '\n'. Otherwise as chan_send. */
int chan_send_text(chan_t *ch, const char *json_text, size_t len);

/* Graceful close, Node's disconnect(): stop reading, write out everything
 * queued, close the socket, then call on_disconnect from the loop. Further
 * sends fail with EPIPE. Returns 0, or -1 with EALREADY if the channel is
 * already disconnecting. */
int chan_disconnect(chan_t *ch);

/* Immediate close: stop watching, close the fd, drop queued output (any
 * attachments in it stay the layer's), free the channel. No callback is called.
 * Safe inside a callback (the channel is then freed when the callback
 * returns) and on NULL. */
void chan_close(chan_t *ch);

/* Accessors. */
loop_t *chan_loop(const chan_t *ch);
int chan_fd(const chan_t *ch);
void *chan_user(const chan_t *ch);
void chan_set_user(chan_t *ch, void *user);
/* A name used in error texts ("worker 4213"); copied. Default "fd N". */
void chan_set_name(chan_t *ch, const char *name);
const char *chan_name(const chan_t *ch);
/* Maximum bytes per message line, '\n' excluded, in both directions. */
void chan_set_max_message(chan_t *ch, size_t max);
size_t chan_max_message(const chan_t *ch);
/* Bytes waiting in the send queue (0 when everything has been written). */
size_t chan_pending_bytes(const chan_t *ch);
/* The bound on the send queue in bytes (see "Backpressure"); 0 is taken as
 * the default. A queue already past a new, lower bound keeps its bytes. */
void chan_set_max_queue(chan_t *ch, size_t max);
size_t chan_max_queue(const chan_t *ch);
/* Stop delivering messages and reading the socket; lines already received
 * wait. Takes effect after the message being delivered, if called from
 * on_message. */
void chan_pause_reading(chan_t *ch);
/* Read again; lines that waited are delivered from the loop, never from
 * inside this call. Harmless if not paused. */
void chan_resume_reading(chan_t *ch);
/* Counters, for tests and for the curious. */
uint64_t chan_bytes_received(const chan_t *ch);
uint64_t chan_messages_received(const chan_t *ch); /* all parsed lines, NODE_ too */

/* ---- how a later layer plugs in (chapter 05) ---- */

typedef struct chan_layer {
    /* Reads from the socket instead of read(2), with its contract: bytes
     * read, 0 at EOF, -1 with errno (EAGAIN when there is nothing now). */
    ssize_t (*recv)(chan_t *ch, int sock, void *buf, size_t len, void *arg);
    /* Writes the start of a line sent with chan_send_attached, buf[0] being
     * its first byte: at least one byte of buf, with att, returning the bytes
     * written or -1 with errno (EAGAIN: nothing went; it is called again with
     * the same att). buf never reaches the next attached line; the rest of
     * a short write goes out with plain send(2). */
    ssize_t (*send_attached)(chan_t *ch, int sock, const void *buf, size_t len, void *att,
                             void *arg);
    /* Gets every NODE_* message (never passed to on_message); valid during
     * the call. Without it they are dropped. */
    void (*internal)(chan_t *ch, const json_value *msg, void *arg);
    /* Runs once, just before the channel is freed (whatever the reason). */
    void (*close)(chan_t *ch, void *arg);
} chan_layer;

/* Install a layer (copied; NULL members keep the default). arg goes to each
 * of its functions. */
void chan_set_layer(chan_t *ch, const chan_layer *layer, void *arg);

/* As chan_send, with att handed to the layer's send_attached along with the
 * line's first byte. The channel only carries att: it stays the layer's, and
 * must stay valid until that byte is written or the channel closes. ENOTSUP
 * without a send_attached. */
int chan_send_attached(chan_t *ch, const json_value *msg, void *att);

/* Hand msg (and fd, or -1) to on_message as if it had just arrived. The
 * callee owns fd; without on_message, fd is closed. For the layer's internal
 * function, e.g. to deliver the payload of a NODE_HANDLE envelope. */
void chan_deliver(chan_t *ch, const json_value *msg, int fd);

/* ---- the parent's side of the handoff ---- */

/* The environment for a child that will open the channel on fd 3: a copy of
 * ours without any NODE_CHANNEL_* variable we were given ourselves (that
 * channel is ours, not the child's), plus NODE_CHANNEL_FD=3 and
 * NODE_CHANNEL_SERIALIZATION_MODE=json, exactly what Node's fork() sets.
 * The array is NULL-terminated; its strings point into environ or are
 * constants, so free() only the array. NULL with errno on failure. */
char **chan_child_environ(void);

/* ---- the child's side of the handoff ---- */

/* Read NODE_CHANNEL_FD (and NODE_CHANNEL_SERIALIZATION_MODE, which must be
 * unset or "json"), remove both from the environment as Node does, and mark
 * the fd close-on-exec so it does not leak into our own children. Returns the
 * fd, or -1 with errno: ENOENT (no NODE_CHANNEL_FD), EINVAL (not a number),
 * EBADF (not an open fd), ENOTSOCK (not a socket), ENOTSUP (another
 * serialization mode, such as "advanced"). */
int chan_fd_from_env(void);

#endif
