/*
 * handle.c: the NODE_HANDLE envelope and its ACK, over chapter 04's channel
 * (see handle.h for the protocol and the API).
 *
 * The file reads in this order:
 *   1. per-channel state, found from the chan_t through a short list;
 *   2. receiving: the layer's recv reads with recvmsg (fdpass_recv) and
 *      remembers which message lines an fd may belong to; its internal
 *      function gives the fd to its NODE_HANDLE envelope, answers ACK or
 *      NACK and delivers the inner message;
 *   3. sending: the envelope, sent with the fd as its attachment (the
 *      layer's send_attached puts it on the line's first byte), the queue
 *      that holds everything back until the ACK, and retransmission after a
 *      NACK;
 *   4. handle_attach(), which plugs all this into the channel as one
 *      chan_layer (chan.h).
 *
 * Which line does an fd belong to? The kernel delivers an fd together with
 * the bytes of the sendmsg(2) that carried it, and a stream read stops right
 * after those bytes. Both Node and chapter 04's channel start that sendmsg
 * at the first byte of the envelope line. So the fd belongs to a line that
 * *starts* inside the chunk that brought it. The channel numbers every line
 * it parses (chan_messages_received), so recv_layer notes the range of
 * line numbers that start in the chunk; the first NODE_HANDLE line in that
 * range takes the fd. When the range has passed and nobody took the fd, it
 * came with some other message: it is closed, never leaked.
 */
#include "handle.h"

#include "fdpass.h"
#include "net.h" /* fd flags, from 01-event-loop */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* An fd that arrived and waits for its envelope line. */
typedef struct {
    int fd;
    uint64_t first, last; /* numbers of the lines that start in its chunk */
} arrived_fd;

/* A message held back until the ACK of the handle in flight. */
typedef struct {
    json_value *msg; /* an envelope, or a plain message */
    int fd;          /* our dup of the handle, or -1 for a plain message */
} queued_msg;

/* At most this many fds waiting for their lines. One is normal; two happen
 * when a second envelope's fd arrives before the line of the first one was
 * parsed (both in one read). More than that only from a misbehaving peer:
 * further fds are refused (fdpass_recv closes them). */
#define MAX_ARRIVED 4

typedef struct hstate {
    chan_t *ch;
    handle_callbacks cb;
    void *arg;
    struct hstate *next;

    /* receiving */
    int at_line_start; /* the last chunk ended with '\n' (or none came yet) */
    arrived_fd arrived[MAX_ARRIVED];
    size_t narrived;
    loop_timer_t *expire_timer;
    const char *delivering_type;
    char type_buf[32];
    const char *delivering_dgram_type; /* "udp4"/"udp6" of a dgram.Socket */
    char dgram_type_buf[8];

    /* sending */
    int waiting_ack;
    json_value *inflight_env; /* kept for a retransmission */
    int inflight_fd;          /* the envelope's attachment (chan.h) */
    int retransmissions;
    queued_msg *queue;
    size_t qhead, qlen, qcap;
    int disconnect_requested;
} hstate;

/* ---- 1. state -------------------------------------------------------------- */

/* The handle state of every channel that has one. A process has a handful
 * of channels (a master: one per worker), so a list is plenty. */
static hstate *states;

static hstate *find(const chan_t *ch)
{
    for (hstate *h = states; h != NULL; h = h->next)
        if (h->ch == ch)
            return h;
    return NULL;
}

/* Report a problem with fds that the channel survives, through the user's
 * on_warning or on stderr. (Not err.h's warn(): that one names errno and
 * always writes to stderr.) */
static void warning(hstate *h, const char *fmt, ...)
{
    char text[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (h->cb.on_warning != NULL)
        h->cb.on_warning(h->ch, text, h->arg);
    else
        fprintf(stderr, "channel %s: %s\n", chan_name(h->ch), text);
}

/* ---- 2. receiving ---------------------------------------------------------- */

/* Close every waiting fd whose lines are all parsed (numbers below `done`):
 * the line it came with was not a NODE_HANDLE envelope. */
static void expire_arrived(hstate *h, uint64_t done)
{
    size_t keep = 0;
    for (size_t i = 0; i < h->narrived; i++) {
        if (h->arrived[i].last < done) {
            close(h->arrived[i].fd);
            warning(h, "an fd came with a message that was not a NODE_HANDLE envelope; "
                       "closed it");
        } else {
            h->arrived[keep++] = h->arrived[i];
        }
    }
    h->narrived = keep;
}

/* Runs once the loop has finished the current round of reading, when every
 * complete line of the last chunk has been parsed. */
static void on_expire_timer(loop_t *loop, loop_timer_t *timer, void *arg)
{
    (void)loop;
    (void)timer;
    hstate *h = arg;
    h->expire_timer = NULL; /* a one-shot timer's handle is gone once it fires */
    expire_arrived(h, chan_messages_received(h->ch));
}

static ssize_t recv_layer(chan_t *ch, int sock, void *buf, size_t len, void *arg)
{
    hstate *h = arg;
    uint64_t parsed = chan_messages_received(ch);
    expire_arrived(h, parsed);

    /* Ask for one fd per read: a well-behaved sender attaches one fd to one
     * sendmsg. If our list is full, ask for none, so fdpass_recv closes it. */
    fdpass_in_t in;
    ssize_t n = fdpass_recv(sock, buf, len, h->narrived < MAX_ARRIVED ? 1 : 0, &in);
    int saved = errno;
    if (in.status != FDPASS_OK)
        warning(h, "%s", fdpass_status_str(in.status));
    if (n <= 0) {
        fdpass_close_all(&in); /* nothing can claim an fd at EOF */
        errno = saved;
        return n;
    }

    /* Which line numbers start in this chunk? Lines up to `parsed` - 1 are
     * done. If the previous chunk ended mid-line, that line (number
     * `parsed`) started earlier; every '\n' before the chunk's last byte
     * starts another line inside the chunk. */
    const char *b = buf;
    uint64_t first = parsed + (h->at_line_start ? 0 : 1);
    uint64_t starts = h->at_line_start ? 1 : 0;
    for (ssize_t i = 0; i + 1 < n; i++)
        if (b[i] == '\n')
            starts++;
    h->at_line_start = b[n - 1] == '\n';

    if (in.nfds == 1) {
        if (starts == 0) {
            /* No line starts here: the fd came with the middle of a line. */
            close(in.fds[0]);
            warning(h, "an fd came in the middle of a message; closed it");
        } else {
            h->arrived[h->narrived++] =
                (arrived_fd){.fd = in.fds[0], .first = first, .last = first + starts - 1};
            /* The chunk's lines are parsed right after we return; check
             * then whether one of them took the fd. */
            if (h->expire_timer == NULL)
                h->expire_timer = loop_timer_add(chan_loop(ch), 0, 0, on_expire_timer, h);
        }
    }
    return n;
}

/* The fd that came with line number `line`, or -1. */
static int claim(hstate *h, uint64_t line)
{
    for (size_t i = 0; i < h->narrived; i++) {
        if (h->arrived[i].first <= line && line <= h->arrived[i].last) {
            int fd = h->arrived[i].fd;
            memmove(&h->arrived[i], &h->arrived[i + 1],
                    (h->narrived - i - 1) * sizeof h->arrived[0]);
            h->narrived--;
            return fd;
        }
    }
    return -1;
}

static void send_internal(hstate *h, const char *text)
{
    /* ACK and NACK jump the queue: the peer is waiting for them before it
     * sends anything else, and they carry no fd. An error here (the peer
     * just left) is not worth more than the disconnect that follows, which
     * is what Node does too. */
    if (chan_send_text(h->ch, text, strlen(text)) == -1 && errno != EPIPE)
        warning(h, "sending %s: %s", text, strerror(errno));
}

static void on_envelope(hstate *h, const json_value *env, uint64_t line)
{
    int fd = claim(h, line);
    if (fd == -1) {
        /* The envelope is here but its fd is not: lost to MSG_CTRUNC or
         * never sent. Ask for it again. */
        warning(h, "a NODE_HANDLE envelope came without its fd; answering NACK");
        send_internal(h, "{\"cmd\":\"NODE_HANDLE_NACK\"}");
        return;
    }
    send_internal(h, "{\"cmd\":\"NODE_HANDLE_ACK\"}");

    const char *type = json_object_get_string(env, "type");
    snprintf(h->type_buf, sizeof h->type_buf, "%s", type != NULL ? type : "?");
    const json_value *inner = json_object_get(env, "msg");
    json_value *null_msg = NULL;
    if (inner == NULL) /* Node sends "msg" always; be lenient */
        inner = null_msg = json_new_null();
    /* A dgram.Socket names its family; a Node receiver builds a socket of
     * that kind around the fd and starts reading. A C receiver just reads
     * the fd, but may want to know. */
    const char *dgram_type = json_object_get_string(env, "dgramType");
    if (dgram_type != NULL)
        snprintf(h->dgram_type_buf, sizeof h->dgram_type_buf, "%s", dgram_type);
    h->delivering_type = h->type_buf;
    h->delivering_dgram_type = dgram_type != NULL ? h->dgram_type_buf : NULL;
    if (inner != NULL)
        chan_deliver(h->ch, inner, fd); /* the callback owns fd now */
    else
        close(fd);
    h->delivering_type = NULL;
    h->delivering_dgram_type = NULL;
    json_free(null_msg);
}

static void send_next(hstate *h);

static void on_ack(hstate *h, int nack)
{
    if (!h->waiting_ack) {
        warning(h, "a NODE_HANDLE_%s came, but no handle was waiting for one",
                nack ? "NACK" : "ACK");
        return;
    }
    if (nack) {
        if (h->retransmissions < HANDLE_MAX_RETRANSMISSIONS) {
            h->retransmissions++;
            warning(h, "the peer did not get the fd (NACK); sending it again (%d of %d)",
                    h->retransmissions, HANDLE_MAX_RETRANSMISSIONS);
            if (chan_send_attached(h->ch, h->inflight_env, &h->inflight_fd) == 0)
                return; /* still waiting */
            warning(h, "sending the handle again: %s", strerror(errno));
        } else {
            warning(h, "the handle did not reach the receiving process; giving up");
        }
    }
    close(h->inflight_fd);
    json_free(h->inflight_env);
    h->inflight_fd = -1;
    h->inflight_env = NULL;
    h->waiting_ack = 0;
    if (!nack && h->cb.on_ack != NULL)
        h->cb.on_ack(h->ch, h->arg);
    send_next(h);
}

static void internal_layer(chan_t *ch, const json_value *msg, void *arg)
{
    hstate *h = arg;
    /* This line's number: the channel counted it just before calling us. */
    uint64_t line = chan_messages_received(ch) - 1;
    expire_arrived(h, line);
    const char *cmd = json_object_get_string(msg, "cmd");
    if (strcmp(cmd, "NODE_HANDLE") == 0)
        on_envelope(h, msg, line);
    else if (strcmp(cmd, "NODE_HANDLE_ACK") == 0)
        on_ack(h, 0);
    else if (strcmp(cmd, "NODE_HANDLE_NACK") == 0)
        on_ack(h, 1);
    /* Other NODE_ messages (NODE_CLUSTER, NODE_SOCKET_*) belong to parts
     * of Node this tutorial does not build; they are dropped, as Node drops
     * internal messages nobody listens for. */
}

/* ---- 3. sending ------------------------------------------------------------ */

/* The first byte of an envelope line, with its attachment: a pointer to
 * the hstate's inflight_fd, the fd that rides on that byte. */
static ssize_t send_attached_layer(chan_t *ch, int sock, const void *buf, size_t len,
                                   void *att, void *arg)
{
    (void)ch;
    (void)arg;
    return fdpass_send(sock, buf, len, *(const int *)att);
}

/* Put the envelope and our dup of the fd on the wire; wait for the ACK. */
static int send_handle_now(hstate *h, json_value *env, int fd)
{
    h->inflight_env = env;
    h->inflight_fd = fd; /* set first: the channel holds its address */
    if (chan_send_attached(h->ch, env, &h->inflight_fd) == -1) {
        int e = errno;
        close(fd);
        json_free(env);
        h->inflight_env = NULL;
        h->inflight_fd = -1;
        errno = e;
        return -1;
    }
    h->waiting_ack = 1;
    h->retransmissions = 0;
    return 0;
}

/* After an ACK: send what waited, up to and including the next handle. */
static void send_next(hstate *h)
{
    while (!h->waiting_ack && h->qhead < h->qlen) {
        queued_msg m = h->queue[h->qhead++];
        if (m.fd != -1) {
            if (send_handle_now(h, m.msg, m.fd) == -1)
                warning(h, "sending a queued handle: %s", strerror(errno));
        } else {
            if (chan_send(h->ch, m.msg) == -1)
                warning(h, "sending a queued message: %s", strerror(errno));
            json_free(m.msg);
        }
    }
    if (h->qhead == h->qlen)
        h->qhead = h->qlen = 0;
    if (!h->waiting_ack && h->qlen == 0 && h->disconnect_requested) {
        h->disconnect_requested = 0;
        chan_disconnect(h->ch);
    }
}

/* Hold msg (ours now) back until the handle in flight is acknowledged. */
static int enqueue(hstate *h, json_value *msg, int fd)
{
    if (h->qlen == h->qcap) {
        size_t cap = h->qcap ? h->qcap * 2 : 8;
        queued_msg *q = realloc(h->queue, cap * sizeof *q);
        if (q == NULL)
            return -1;
        h->queue = q;
        h->qcap = cap;
    }
    h->queue[h->qlen++] = (queued_msg){.msg = msg, .fd = fd};
    return 0;
}

/* {"cmd":"NODE_HANDLE","type":"net.Server","msg":<msg>}, its members in
 * Node's order; a dgram.Socket adds "dgramType" last, as Node does:
 * {"cmd":"NODE_HANDLE","type":"dgram.Socket","msg":"server","dgramType":"udp4"}.
 * NULL if memory runs out. */
static json_value *envelope(const char *type_name, const json_value *msg,
                            const char *dgram_type)
{
    json_value *env = json_new_object();
    if (env == NULL ||
        json_object_set(env, "cmd", json_new_string("NODE_HANDLE")) == -1 ||
        json_object_set(env, "type", json_new_string(type_name)) == -1 ||
        json_object_set(env, "msg", json_clone(msg)) == -1 ||
        (dgram_type != NULL &&
         json_object_set(env, "dgramType", json_new_string(dgram_type)) == -1)) {
        json_free(env);
        return NULL;
    }
    return env;
}

static const char *const type_names[] = {
    [HANDLE_NET_SERVER] = "net.Server",     [HANDLE_NET_SOCKET] = "net.Socket",
    [HANDLE_NET_NATIVE] = "net.Native",     [HANDLE_DGRAM_SOCKET] = "dgram.Socket",
    [HANDLE_DGRAM_NATIVE] = "dgram.Native",
};
#define NTYPES (sizeof type_names / sizeof type_names[0])

const char *handle_type_name(handle_type_t type)
{
    return (unsigned)type < NTYPES ? type_names[type] : NULL;
}

int handle_type_from_name(const char *name, handle_type_t *type)
{
    for (unsigned i = 0; name != NULL && i < NTYPES; i++)
        if (strcmp(name, type_names[i]) == 0) {
            *type = (handle_type_t)i;
            return 0;
        }
    return -1;
}

/* The "dgramType" of a UDP socket: "udp4" or "udp6" from its family. NULL
 * with errno EINVAL if fd is no UDP socket, EBADF if it is not open. */
static const char *dgram_type_of(int fd)
{
    int so_type;
    socklen_t len = sizeof so_type;
    struct sockaddr_storage sa;
    socklen_t salen = sizeof sa;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &so_type, &len) == -1 ||
        getsockname(fd, (struct sockaddr *)&sa, &salen) == -1) {
        if (errno == ENOTSOCK)
            errno = EINVAL;
        return NULL;
    }
    if (so_type == SOCK_DGRAM && sa.ss_family == AF_INET)
        return "udp4";
    if (so_type == SOCK_DGRAM && sa.ss_family == AF_INET6)
        return "udp6";
    errno = EINVAL;
    return NULL;
}

int handle_send(chan_t *ch, const json_value *msg, handle_type_t type, int fd)
{
    hstate *h = ch != NULL ? find(ch) : NULL;
    const char *type_name = handle_type_name(type);
    if (h == NULL || msg == NULL || type_name == NULL) {
        errno = EINVAL;
        return -1;
    }
    const char *dgram_type = NULL;
    if (type == HANDLE_DGRAM_SOCKET || type == HANDLE_DGRAM_NATIVE) {
        dgram_type = dgram_type_of(fd);
        if (dgram_type == NULL)
            return -1; /* EINVAL: not a UDP socket; EBADF */
        if (type == HANDLE_DGRAM_NATIVE)
            dgram_type = NULL; /* a bare fd: Node sends no family with it */
    }
    json_value *env = envelope(type_name, msg, dgram_type);
    if (env == NULL) {
        errno = ENOMEM;
        return -1;
    }
    /* Send it as Node would have: non-blocking. Every socket libuv creates
     * is, and so a Node receiver never sets O_NONBLOCK on a handle it gets.
     * A blocking listener would leave the Node worker that lost a
     * connection to another worker blocked in accept(2), deaf to its
     * channel. The flag belongs to the open socket, which the caller, our
     * dup and every receiver share, so it is set once, here. */
    if (net_set_nonblock(fd, 1) == -1) {
        json_free(env);
        return -1; /* EBADF */
    }
    /* Our own copy, kept until the ACK: the caller may close theirs now. */
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd == -1) {
        json_free(env);
        return -1; /* EMFILE */
    }
    if (h->waiting_ack || h->qlen > 0) {
        if (enqueue(h, env, dup_fd) == -1) {
            close(dup_fd);
            json_free(env);
            errno = ENOMEM;
            return -1;
        }
        return 0;
    }
    return send_handle_now(h, env, dup_fd);
}

int handle_send_message(chan_t *ch, const json_value *msg)
{
    hstate *h = ch != NULL ? find(ch) : NULL;
    if (h == NULL || msg == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (!h->waiting_ack && h->qlen == 0)
        return chan_send(ch, msg);
    json_value *copy = json_clone(msg);
    if (copy == NULL || enqueue(h, copy, -1) == -1) {
        json_free(copy);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

int handle_disconnect(chan_t *ch)
{
    hstate *h = ch != NULL ? find(ch) : NULL;
    if (h == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (h->waiting_ack || h->qlen > 0) {
        h->disconnect_requested = 1; /* send_next() finishes the job */
        return 0;
    }
    return chan_disconnect(ch);
}

const char *handle_received_type(const chan_t *ch)
{
    hstate *h = find(ch);
    return h != NULL ? h->delivering_type : NULL;
}

const char *handle_received_dgram_type(const chan_t *ch)
{
    hstate *h = find(ch);
    return h != NULL ? h->delivering_dgram_type : NULL;
}

size_t handle_unacked(const chan_t *ch)
{
    hstate *h = find(ch);
    if (h == NULL)
        return 0;
    size_t n = h->waiting_ack ? 1 : 0;
    for (size_t i = h->qhead; i < h->qlen; i++)
        if (h->queue[i].fd != -1)
            n++;
    return n;
}

/* ---- 4. the layer ---------------------------------------------------------- */

static void close_layer(chan_t *ch, void *arg)
{
    (void)ch;
    hstate *h = arg;
    for (hstate **p = &states; *p != NULL; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            break;
        }
    if (h->expire_timer != NULL)
        loop_timer_cancel(chan_loop(h->ch), h->expire_timer);
    for (size_t i = 0; i < h->narrived; i++)
        close(h->arrived[i].fd);
    if (h->inflight_fd != -1)
        close(h->inflight_fd);
    json_free(h->inflight_env);
    for (size_t i = h->qhead; i < h->qlen; i++) {
        if (h->queue[i].fd != -1)
            close(h->queue[i].fd);
        json_free(h->queue[i].msg);
    }
    free(h->queue);
    free(h);
}

int handle_attach(chan_t *ch, const handle_callbacks *cb, void *arg)
{
    if (ch == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (find(ch) != NULL) {
        errno = EEXIST;
        return -1;
    }
    hstate *h = calloc(1, sizeof *h);
    if (h == NULL)
        return -1;
    h->ch = ch;
    if (cb != NULL)
        h->cb = *cb;
    h->arg = arg;
    h->at_line_start = 1;
    h->inflight_fd = -1;
    h->next = states;
    states = h;
    chan_layer layer = {.recv = recv_layer,
                        .send_attached = send_attached_layer,
                        .internal = internal_layer,
                        .close = close_layer};
    chan_set_layer(ch, &layer, h);
    return 0;
}
