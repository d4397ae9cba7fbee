/*
 * net.h: one home for turning HOST and PORT into a TCP socket address and a
 * listening socket, for socket and fd flags, and for writing all bytes, for
 * every chapter's servers and clients.
 *
 * HOST is a name ("localhost") or a numeric IPv4 or IPv6 address; PORT 0
 * lets the kernel pick a free port, which net_listen reports back. Errors
 * come back as a sentence in `why` (naming the call and the reason), so a
 * program can say it once and exit, and a test can print it.
 */
#ifndef NET_H
#define NET_H

#include "compat.h" /* MSG_NOSIGNAL and the other constants' fallbacks */

#include <fcntl.h> /* O_CLOEXEC, O_NONBLOCK for the flags below */
#include <stddef.h>
#include <sys/socket.h>

/* Sockets, pipes and accepted connections with their fd flags set at birth.
 * `flags` is O_CLOEXEC and/or O_NONBLOCK (POSIX names, like pipe2's). Where
 * the system takes them in one call (SOCK_CLOEXEC, pipe2, accept4: Linux,
 * FreeBSD) they are atomic; elsewhere (macOS) fcntl(2) sets them right
 * after, which leaves a window in which a concurrent fork + exec in another
 * thread could inherit the fd. Where SO_NOSIGPIPE exists it is set on every
 * socket, so MSG_NOSIGNAL's fallback (compat.h) loses nothing. Each returns
 * what the system call returns, with errno. */
int net_socket(int domain, int type, int flags);
int net_socketpair(int domain, int type, int flags, int sv[2]);
int net_pipe(int fds[2], int flags);
int net_accept(int lfd, int flags);

/* The number of CPUs online (sysconf(_SC_NPROCESSORS_ONLN), an extension
 * Linux, macOS and FreeBSD all have), or 1 where it is unknown. */
long net_cpu_count(void);

/* Resolve host:port for a TCP socket; passive != 0 for bind(2) (a listener),
 * 0 for connect(2). Returns 0, or -1 with the reason in why. */
int net_resolve(const char *host, int port, int passive, struct sockaddr_storage *sa,
                socklen_t *len, char *why, size_t whylen);

/* A listening TCP socket on host:port: close-on-exec, SO_REUSEADDR (so a
 * restarted server can bind while old connections sit in TIME_WAIT; it does
 * not let two servers share the port), listen(2) with `backlog`. Stores the
 * port really bound in *bound_port when it is not NULL. Returns the fd, or -1
 * with the reason in why. */
int net_listen(const char *host, int port, int backlog, int *bound_port, char *why,
               size_t whylen);

/* Set (on != 0) or clear O_NONBLOCK on fd. Returns 0, or -1 with errno. */
int net_set_nonblock(int fd, int on);

/* Set FD_CLOEXEC on fd, for an fd that was made without it (accept(2),
 * pipe(2), a received descriptor), so a later exec does not leak it.
 * Returns 0, or -1 with errno. */
int net_set_cloexec(int fd);

/* Write all len bytes of buf to a connected socket, retrying after EINTR
 * and short writes; for blocking sockets (on a non-blocking one EAGAIN is an
 * error like any other). MSG_NOSIGNAL: a peer that hung up is EPIPE, not a
 * SIGPIPE that kills the process. Returns 0, or -1 with errno. */
int net_send_all(int fd, const void *buf, size_t len);

/* The local port of a bound socket, or -1 with errno set. */
int net_local_port(int fd);

#endif
