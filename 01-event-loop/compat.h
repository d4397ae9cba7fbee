/*
 * compat.h: the one home for the constants beyond POSIX.1-2008 that the
 * chapters use, on every system the tutorial targets (Linux with glibc or
 * musl, macOS, FreeBSD). Each one either has a fallback here or stops the
 * build with a sentence naming what the system lacks. The calls that need
 * more than a constant (socket and pipe flags, accept4, the CPU count) are
 * functions in net.c (net.h).
 *
 * common.mk's feature macros make the BSD and Darwin extensions visible;
 * these fallbacks cover what is still missing after that.
 *
 * NET_FORCE_FALLBACKS (`make FALLBACKS=1`) compiles the portable paths even
 * where the system does not need them, so that Linux can test them.
 */
#ifndef COMPAT_H
#define COMPAT_H

#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>

/* SOCK_CLOEXEC and SOCK_NONBLOCK in socket(2)'s type: Linux 2.6.27,
 * FreeBSD 10; macOS has neither, so net.c sets the flags with fcntl(2). */
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK) && !defined(NET_FORCE_FALLBACKS)
#define NET_HAVE_SOCK_FLAGS 1
#endif

/* pipe2(2) and accept4(2): Linux (glibc, musl) and FreeBSD 10+; not macOS.
 * No macro announces them, so the system decides. */
#if defined(NET_HAVE_SOCK_FLAGS) && (defined(__linux__) || defined(__FreeBSD__))
#define NET_HAVE_PIPE2_ACCEPT4 1
#endif

/* MSG_NOSIGNAL: a send(2) to a peer that hung up fails with EPIPE instead of
 * raising SIGPIPE. Where a system has only the socket option SO_NOSIGPIPE,
 * it is 0 here, and net.c sets SO_NOSIGPIPE on every socket it makes. */
#ifndef MSG_NOSIGNAL
#ifdef SO_NOSIGPIPE
#define MSG_NOSIGNAL 0
#else
#error                                                                                   \
    "neither MSG_NOSIGNAL nor SO_NOSIGPIPE: a send to a closed peer would raise SIGPIPE"
#endif
#endif

/* MSG_DONTWAIT: one non-blocking send or recv on a blocking socket. Linux,
 * macOS and FreeBSD all have it; 0 would silently block, so no fallback. */
#ifndef MSG_DONTWAIT
#error "no MSG_DONTWAIT: on macOS or FreeBSD, build with common.mk's feature macros"
#endif

/* CMSG_SPACE and CMSG_LEN (the size of ancillary data, for SCM_RIGHTS): in
 * POSIX only since 2024; macOS and FreeBSD show them with their extensions.
 * Their alignment differs between systems, so no guessed fallback. */
#if !defined(CMSG_SPACE) || !defined(CMSG_LEN)
#error                                                                                   \
    "no CMSG_SPACE/CMSG_LEN: on macOS or FreeBSD, build with common.mk's feature macros"
#endif

/* NSIG: one more than the largest signal number. glibc and musl hide it
 * under plain POSIX.1-2008; SIGRTMAX + 1 is the same number there. */
#if !defined(NSIG) || defined(NET_FORCE_FALLBACKS)
#undef NSIG
#ifdef SIGRTMAX
#define NSIG (SIGRTMAX + 1)
#else
#define NSIG 65
#endif
#endif

/* MAP_ANONYMOUS: memory backed by no file. POSIX only since 2024; older
 * BSDs call it MAP_ANON. glibc shows it under _DEFAULT_SOURCE, which the
 * files that map memory define. */
#if !defined(MAP_ANONYMOUS) && defined(MAP_ANON)
#define MAP_ANONYMOUS MAP_ANON
#endif

#endif
