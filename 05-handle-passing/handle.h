/*
 * handle.h: Node's handle passing on chapter 04's IPC channel.
 *
 * In Node, `child.send('server', server)` sends a message *and* a handle (a
 * listening server, a connected socket). This module does the same in C, on
 * the wire exactly as Node v20 does it, so a C process and a Node process can
 * pass handles to each other:
 *
 *   1. The sender wraps the message in an envelope, one JSON line:
 *        {"cmd":"NODE_HANDLE","type":"net.Server","msg":<the message>}
 *      and sends the line with the socket's fd attached to its first byte
 *      (sendmsg + SCM_RIGHTS, see fdpass.h).
 *   2. The receiver's kernel installs a new fd for the same socket. The
 *      receiver answers {"cmd":"NODE_HANDLE_ACK"} at once, then hands the
 *      inner message and the fd to its ordinary message callback. NODE_*
 *      messages themselves never reach that callback.
 *   3. Until that ACK arrives the sender sends nothing else on the channel
 *      except ACKs of its own: later handles *and* later plain messages wait
 *      in a queue, so the order of messages is kept and at most one fd is in
 *      flight. (Node: the _handleQueue in lib/internal/child_process.js.)
 *   4. If the envelope arrives without its fd (the receiver's control buffer
 *      was too small: MSG_CTRUNC), the receiver answers
 *      {"cmd":"NODE_HANDLE_NACK"} and the sender sends it again, at most 3
 *      more times, as Node does.
 *
 * Using it:
 *
 *   chan_t *ch = chan_open(loop, fd, &callbacks, user);   // chapter 04
 *   handle_attach(ch, NULL, NULL);                         // now it can pass fds
 *
 *   // sender: the channel keeps its own copies; close yours when you like
 *   handle_send(ch, msg, HANDLE_NET_SERVER, listen_fd);
 *
 *   // receiver: in the chan on_message callback
 *   void on_message(chan_t *ch, const json_value *msg, int fd, void *user)
 *   {
 *       if (fd != -1)   // a handle came with msg; it is yours to close
 *           printf("%s as fd %d\n", handle_received_type(ch), fd);
 *   }
 *
 * Everything the receiver did not ask for is closed, never leaked: an fd that
 * came with a plain message, a second fd in one message, the fds of a
 * truncated control message. Each such event is reported through
 * on_warning (or on stderr).
 *
 * The five handle types Node sends (handle_type_t) all travel this way;
 * only dgram.Socket adds a member: "dgramType", "udp4" or "udp6", which a
 * Node receiver needs to build its dgram.Socket around the fd (and then
 * starts reading it: no bind(2) happens, the socket is bound already). The
 * "Native" types are bare fds: Node sends a libuv handle that is not
 * wrapped in a net or dgram object that way, as its cluster primary does
 * with every connection it hands to a worker. Node also attaches a "key"
 * to sockets that came from a net.Server so that server.close() in the
 * sender can count connections in the receivers (NODE_SOCKET_* messages);
 * this module does not.
 */
#ifndef HANDLE_H
#define HANDLE_H

#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "json.h"

typedef enum {
    HANDLE_NET_SERVER,   /* a listening TCP socket ("net.Server"; chapter 06) */
    HANDLE_NET_SOCKET,   /* a connected TCP socket ("net.Socket"; chapter 07) */
    HANDLE_NET_NATIVE,   /* a bare TCP (or Unix) fd, listening or connected */
    HANDLE_DGRAM_SOCKET, /* a bound UDP socket, with its "dgramType" */
    HANDLE_DGRAM_NATIVE  /* a bare UDP fd */
} handle_type_t;

/* How many times a NACKed handle is sent again before giving up (Node's
 * MAX_HANDLE_RETRANSMISSIONS). */
#define HANDLE_MAX_RETRANSMISSIONS 3

typedef struct handle_callbacks {
    /* A handle this side sent was acknowledged by the peer. Called once per
     * handle, in the order they were sent. May be NULL. */
    void (*on_ack)(chan_t *ch, void *arg);
    /* Something about fds went wrong but the channel carries on: an
     * unexpected fd was closed, an envelope came without its fd (a NACK was
     * sent), a handle was given up after its retransmissions. text is one
     * line without the channel name. NULL: printed on stderr. */
    void (*on_warning)(chan_t *ch, const char *text, void *arg);
} handle_callbacks;

/* Enable handle passing on an open channel: plugs this module in as the
 * channel's layer (chan_set_layer, chan.h). Call it right after
 * chan_open(), before the loop runs. cb is copied and may be NULL. The
 * state lives as long as the channel. Returns 0, or -1 with errno (ENOMEM,
 * EEXIST if already attached). */
int handle_attach(chan_t *ch, const handle_callbacks *cb, void *arg);

/* Send msg with fd as a handle of the given type. The fd is dup()ed: the
 * caller may close its own copy at once (the post's server.close()); the
 * dup is kept until the peer's ACK, for a retransmission, and then closed.
 * The socket is made non-blocking (O_NONBLOCK), for the caller too, since
 * the flag belongs to the socket that sender and receivers share: a Node
 * receiver takes every handle to be non-blocking, as all of Node's own are,
 * and would block in accept(2) or read(2) on one that is not.
 * A dgram type needs a UDP socket (SOCK_DGRAM, AF_INET or AF_INET6): the
 * dgram.Socket envelope names its family, "udp4" or "udp6".
 * Returns 0 once the envelope is sent or queued, or -1 with errno (EINVAL:
 * no handle state on ch, bad type, a dgram type on another socket; EBADF: fd not open;
 * EMFILE: no fd for the dup; EPIPE: the channel is closing; others from
 * chan_send_attached). */
int handle_send(chan_t *ch, const json_value *msg, handle_type_t type, int fd);

/* Send a plain message, in order with the handles: while a handle waits for
 * its ACK, the message waits behind it. Use this instead of chan_send() on
 * a channel that passes handles. Returns as chan_send(). */
int handle_send_message(chan_t *ch, const json_value *msg);

/* Node's disconnect() on a channel that passes handles: wait until every
 * queued handle has been sent and acknowledged, then chan_disconnect(). */
int handle_disconnect(chan_t *ch);

/* Inside on_message, while a handle is being delivered: its type as the
 * envelope named it ("net.Server", "net.Socket", ...). NULL otherwise. */
const char *handle_received_type(const chan_t *ch);

/* Inside on_message, while a dgram.Socket is being delivered: its
 * "dgramType" ("udp4" or "udp6"), as the envelope named it. NULL otherwise. */
const char *handle_received_dgram_type(const chan_t *ch);

/* The type a received envelope named, as a handle_type_t: 0, or -1 if the
 * name is none of the five (name may be NULL). */
int handle_type_from_name(const char *name, handle_type_t *type);

/* Handles sent (or queued) on ch whose ACK has not arrived yet. */
size_t handle_unacked(const chan_t *ch);

/* "net.Server", "net.Socket", "net.Native", "dgram.Socket", "dgram.Native";
 * NULL for a value outside the enum. */
const char *handle_type_name(handle_type_t type);

#endif
