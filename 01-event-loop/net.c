/*
 * net.c: addresses, listening sockets, fd flags and writing all bytes (net.h),
 * and the one home for the calls beyond POSIX.1-2008 with their fallbacks
 * (compat.h holds the constants).
 *
 * getaddrinfo(3) takes names and both address families, so `--host
 * localhost` and `--host ::1` work wherever `--host 127.0.0.1` does.
 */
/* pipe2(2) and accept4(2): glibc and musl declare them under _GNU_SOURCE
 * (they are in POSIX.1-2024, not in the 2008 edition this tutorial builds
 * against); FreeBSD shows them by default. */
#define _GNU_SOURCE
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int net_resolve(const char *host, int port, int passive, struct sockaddr_storage *sa,
                socklen_t *len, char *why, size_t whylen)
{
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {0}, *res;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    int e = getaddrinfo(host, service, &hints, &res);
    if (e != 0) {
        snprintf(why, whylen, "getaddrinfo %s: %s", host,
                 e == EAI_SYSTEM ? strerror(errno) : gai_strerror(e));
        return -1;
    }
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int net_set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl == -1)
        return -1;
    return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

int net_set_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl == -1)
        return -1;
    return fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

#ifndef NET_HAVE_PIPE2_ACCEPT4
/* The portable path: fcntl(2) after the call, and close on failure. */
static int set_flags(int fd, int flags)
{
    if (((flags & O_CLOEXEC) && net_set_cloexec(fd) == -1) ||
        ((flags & O_NONBLOCK) && net_set_nonblock(fd, 1) == -1)) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* set_flags on both ends of a pipe or socket pair; both closed on failure. */
static int set_flags_both(int fds[2], int flags)
{
    if (set_flags(fds[0], flags) == -1) {
        close(fds[1]);
        return -1;
    }
    if (set_flags(fds[1], flags) == -1) {
        close(fds[0]);
        return -1;
    }
    return 0;
}
#endif

/* SO_NOSIGPIPE where it exists (macOS, FreeBSD): no SIGPIPE from this
 * socket even where MSG_NOSIGNAL is missing (compat.h). */
static int no_sigpipe(int fd)
{
#ifdef SO_NOSIGPIPE
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one) == -1) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
#endif
    return fd;
}

#ifdef NET_HAVE_SOCK_FLAGS
/* O_CLOEXEC and O_NONBLOCK as socket(2)'s SOCK_CLOEXEC and SOCK_NONBLOCK. */
static int sock_flags(int flags)
{
    return ((flags & O_CLOEXEC) ? SOCK_CLOEXEC : 0) |
           ((flags & O_NONBLOCK) ? SOCK_NONBLOCK : 0);
}
#endif

int net_socket(int domain, int type, int flags)
{
#ifdef NET_HAVE_SOCK_FLAGS
    int fd = socket(domain, type | sock_flags(flags), 0);
#else
    int fd = socket(domain, type, 0);
    if (fd != -1)
        fd = set_flags(fd, flags);
#endif
    return fd == -1 ? -1 : no_sigpipe(fd);
}

int net_socketpair(int domain, int type, int flags, int sv[2])
{
#ifdef NET_HAVE_SOCK_FLAGS
    if (socketpair(domain, type | sock_flags(flags), 0, sv) == -1)
        return -1;
#else
    if (socketpair(domain, type, 0, sv) == -1 || set_flags_both(sv, flags) == -1)
        return -1;
#endif
    if (no_sigpipe(sv[0]) == -1) {
        close(sv[1]);
        return -1;
    }
    if (no_sigpipe(sv[1]) == -1) {
        close(sv[0]);
        return -1;
    }
    return 0;
}

int net_pipe(int fds[2], int flags)
{
#ifdef NET_HAVE_PIPE2_ACCEPT4
    return pipe2(fds, flags);
#else
    if (pipe(fds) == -1)
        return -1;
    return set_flags_both(fds, flags);
#endif
}

int net_accept(int lfd, int flags)
{
#ifdef NET_HAVE_PIPE2_ACCEPT4
    int fd = accept4(lfd, NULL, NULL, sock_flags(flags));
#else
    int fd = accept(lfd, NULL, NULL);
    if (fd != -1)
        fd = set_flags(fd, flags);
#endif
    return fd == -1 ? -1 : no_sigpipe(fd);
}

long net_cpu_count(void)
{
#if defined(_SC_NPROCESSORS_ONLN) && !defined(NET_FORCE_FALLBACKS)
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
#else
    return 1;
#endif
}

int net_send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == -1)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int net_local_port(int fd)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) == -1)
        return -1;
    if (sa.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&sa)->sin_port);
    if (sa.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
    errno = EAFNOSUPPORT;
    return -1;
}

/* Fill why with "CALL HOST port PORT: strerror", close fd, return -1. */
static int fail(int fd, const char *call, const char *host, int port, char *why,
                size_t whylen)
{
    int saved = errno;
    snprintf(why, whylen, "%s %s port %d: %s", call, host, port, strerror(saved));
    if (fd != -1)
        close(fd);
    errno = saved;
    return -1;
}

int net_listen(const char *host, int port, int backlog, int *bound_port, char *why,
               size_t whylen)
{
    struct sockaddr_storage sa;
    socklen_t len;
    if (net_resolve(host, port, 1, &sa, &len, why, whylen) == -1)
        return -1;
    int fd = net_socket(sa.ss_family, SOCK_STREAM, O_CLOEXEC);
    if (fd == -1)
        return fail(-1, "socket", host, port, why, whylen);
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1)
        return fail(fd, "setsockopt SO_REUSEADDR", host, port, why, whylen);
    if (bind(fd, (struct sockaddr *)&sa, len) == -1)
        return fail(fd, "bind", host, port, why, whylen);
    if (listen(fd, backlog) == -1)
        return fail(fd, "listen", host, port, why, whylen);
    if (bound_port != NULL && (*bound_port = net_local_port(fd)) == -1)
        return fail(fd, "getsockname", host, port, why, whylen);
    return fd;
}
