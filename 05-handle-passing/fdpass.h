/*
 * fdpass.h: pass open file descriptors between processes over a UNIX socket.
 *
 * This is the mechanism under Node's "send a server to a child". The post
 * says the master writes the fd, "an int", into the pipe. It does not: an fd
 * number means nothing in another process. What travels is a reference to
 * the open file itself, as SCM_RIGHTS ancillary data attached to an ordinary
 * sendmsg(2) on an AF_UNIX socket (unix(7)). The kernel installs a new fd in
 * the receiver, exactly as if the receiver had called dup(2) on the sender's
 * fd: usually a different number, always the same open socket.
 *
 * Rules the kernel imposes, and what this module does about them:
 *   - On a SOCK_STREAM socket the fds must ride along with at least one byte
 *     of real data; fdpass_send() refuses len == 0 (EINVAL).
 *   - The receiver must offer a control buffer big enough for the fds. If it
 *     is too small the kernel installs what fits, drops the rest and sets
 *     MSG_CTRUNC. fdpass_recv() then closes the ones that did arrive (a
 *     partial set is useless) and reports FDPASS_TRUNCATED.
 *   - An fd that arrives where the caller expected none would otherwise sit
 *     open in the process forever. fdpass_recv() closes it and reports
 *     FDPASS_UNEXPECTED: a confused or hostile peer cannot leak fds into us.
 *   - Received fds are close-on-exec from birth (MSG_CMSG_CLOEXEC on Linux
 *     and the BSDs), so an exec'd child never inherits one by accident.
 *
 * Run the tests (tests/test_fdpass.c) to see each rule happen:
 *   make test
 */
#ifndef FDPASS_H
#define FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/* The most fds one fdpass_recv() accepts. Its control buffer has room for
 * exactly this many, so a sender that sends more causes MSG_CTRUNC. The
 * kernel's own limit per message is 253 (SCM_MAX_FD). */
#define FDPASS_MAX_FDS 16

typedef enum {
    FDPASS_OK = 0,     /* all fds that arrived were wanted and are in fds[] */
    FDPASS_TRUNCATED,  /* MSG_CTRUNC: some were lost; all that arrived were closed */
    FDPASS_UNEXPECTED, /* more arrived than wanted; the extra ones were closed */
    FDPASS_MALFORMED,  /* control data that does not parse; any fds in it closed */
} fdpass_status_t;

/* What came with a received message besides its bytes. */
typedef struct fdpass_in {
    int fds[FDPASS_MAX_FDS]; /* the fds kept, in the order they were sent */
    size_t nfds;             /* how many of fds[] are valid */
    size_t nclosed;          /* how many arrived but were closed by the policy */
    fdpass_status_t status;
} fdpass_in_t;

/* Send len >= 1 bytes from buf on the connected AF_UNIX socket sock, with
 * nfds (0..FDPASS_MAX_FDS) descriptors attached, in one sendmsg(2) with
 * MSG_NOSIGNAL. The fds are attached to the first byte: if the call returns
 * n < len, the fds went with those n bytes and the rest must be sent without
 * them. Returns the number of bytes sent, or -1 with errno set (EAGAIN on a
 * full non-blocking socket: nothing, not even the fds, was sent; EINVAL for
 * len == 0 or too many fds). EINTR is returned, not retried. */
ssize_t fdpass_send_fds(int sock, const void *buf, size_t len, const int *fds,
                        size_t nfds);
/* The common case: one fd (or none when fd == -1). */
ssize_t fdpass_send(int sock, const void *buf, size_t len, int fd);

/* Receive up to cap bytes from sock with one recvmsg(2), collecting any fds
 * that came with them. `want` is how many fds the caller is prepared to take
 * (0 when it expects none). Fills *in (always, even on error) and returns the
 * number of bytes read, 0 at EOF, or -1 with errno set (EAGAIN, ECONNRESET,
 * ...). The bytes are never thrown away because of an fd problem: they belong
 * to the stream; the fd problem is reported in in->status. */
ssize_t fdpass_recv(int sock, void *buf, size_t cap, size_t want, fdpass_in_t *in);

/* The two halves of fdpass_recv(), for callers that do their own recvmsg(2)
 * (and for the tests and the fuzzer).
 *
 * fdpass_parse() walks ancillary data without touching any fd: it calls
 * visit(fd, arg) for every descriptor in every SCM_RIGHTS header, in order,
 * and skips other header types. It checks every length against controllen
 * before reading, so arbitrary bytes cannot make it read outside the buffer.
 * `control` must be aligned for struct cmsghdr (recvmsg's buffer is). Returns
 * the number of fds visited, or -1 if a header's length is impossible (the
 * fds visited before that point were visited). */
int fdpass_parse(const void *control, size_t controllen, void (*visit)(int fd, void *arg),
                 void *arg);

/* Apply the policy to what recvmsg(2) returned in msg (its msg_control,
 * msg_controllen and msg_flags): keep up to `want` fds in *in, close the
 * rest, close everything on MSG_CTRUNC or malformed data. Marks every kept
 * fd close-on-exec where recvmsg could not. */
void fdpass_take(const void *control, size_t controllen, int msg_flags, size_t want,
                 fdpass_in_t *in);

/* Close every fd kept in *in (a caller that decides it cannot use them). */
void fdpass_close_all(fdpass_in_t *in);

/* What an fd refers to, for showing that two fds in two processes are one
 * open socket. On Linux the kernel's own name from /proc/self/fd, like
 * "socket:[16054]"; elsewhere "inode 16054" from fstat(2). Writes into buf
 * and returns it ("?" if fd is not open). */
const char *fdpass_describe(int fd, char *buf, size_t cap);

/* A short English phrase for a status ("control data truncated", ...). */
const char *fdpass_status_str(fdpass_status_t status);

#endif
