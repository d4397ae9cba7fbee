/*
 * fdpass.c: SCM_RIGHTS fd passing over an AF_UNIX socket (see fdpass.h).
 *
 * Read it in the order the data travels: fdpass_send_fds() builds one
 * control message and hands it to sendmsg(2); fdpass_recv() offers the
 * kernel a control buffer, then fdpass_take() decides which of the fds that
 * arrived to keep, using fdpass_parse() to find them.
 */
#include "fdpass.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* MSG_NOSIGNAL (POSIX.1-2008) turns "peer went away" into EPIPE instead of
 * a SIGPIPE that would kill us. A system without it gets 0
 * from 01-event-loop's compat.h, and SO_NOSIGPIPE on the sockets net.c
 * makes instead. */
#include "compat.h"

/* MSG_CMSG_CLOEXEC (Linux 2.6.23, FreeBSD, NetBSD, OpenBSD) makes the kernel
 * install received fds close-on-exec atomically. Without it we set the flag
 * ourselves in fdpass_take(), which leaves a short window in which a
 * concurrent fork+exec in another thread could inherit the fd. */
#ifdef MSG_CMSG_CLOEXEC
#define RECV_FLAGS MSG_CMSG_CLOEXEC
#define HAVE_CMSG_CLOEXEC 1
#else
#define RECV_FLAGS 0
#define HAVE_CMSG_CLOEXEC 0
#endif

/* A control buffer with room for FDPASS_MAX_FDS descriptors. The union with
 * struct cmsghdr gives it the alignment CMSG_FIRSTHDR and CMSG_DATA need. */
typedef union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS)];
} control_buf;

ssize_t fdpass_send_fds(int sock, const void *buf, size_t len, const int *fds,
                        size_t nfds)
{
    /* On a stream socket the ancillary data is attached to data bytes;
     * with no byte to carry them the fds would not be sent at all. */
    if (len == 0 || nfds > FDPASS_MAX_FDS || (nfds > 0 && fds == NULL)) {
        errno = EINVAL;
        return -1;
    }
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    control_buf control;
    if (nfds > 0) {
        memset(&control, 0, sizeof control);
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    /* One call: either the kernel takes at least the first byte, and the
     * fds with it, or it takes nothing (-1). After this returns, the
     * receiver holds its own reference to each open file; closing ours
     * does not affect it. */
    return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

ssize_t fdpass_send(int sock, const void *buf, size_t len, int fd)
{
    return fdpass_send_fds(sock, buf, len, &fd, fd == -1 ? 0 : 1);
}

int fdpass_parse(const void *control, size_t controllen, void (*visit)(int fd, void *arg),
                 void *arg)
{
    /* The same walk as CMSG_FIRSTHDR/CMSG_NXTHDR, done with offsets and
     * memcpy so that every length is checked before it is trusted and no
     * pointer is ever formed outside the buffer. A header is followed by
     * its data (cmsg_len counts both) and then by padding up to the next
     * aligned header; CMSG_LEN(0) is the size of the header with its
     * padding, CMSG_SPACE(n) the distance to the next header. */
    const unsigned char *base = control;
    const size_t header = CMSG_LEN(0);
    size_t off = 0;
    int visited = 0;
    while (controllen - off >= sizeof(struct cmsghdr)) {
        struct cmsghdr h;
        memcpy(&h, base + off, sizeof h);
        if (h.cmsg_len < header || h.cmsg_len > controllen - off)
            return -1;
        size_t data_len = h.cmsg_len - header;
        if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS) {
            for (size_t i = 0; i + sizeof(int) <= data_len; i += sizeof(int)) {
                int fd;
                memcpy(&fd, base + off + header + i, sizeof fd);
                visit(fd, arg);
                visited++;
            }
            if (data_len % sizeof(int) != 0)
                return -1; /* a fraction of an fd: not from a sane kernel */
        }
        size_t step = CMSG_SPACE(data_len);
        if (step > controllen - off)
            break; /* the last header; its padding may be cut off */
        off += step;
    }
    return visited;
}

/* The policy, one fd at a time, as fdpass_parse() finds them. */
typedef struct {
    fdpass_in_t *in;
    size_t want;
    int keep; /* 0 once we know every fd must be closed (MSG_CTRUNC) */
} take_ctx;

static void take_one(int fd, void *arg)
{
    take_ctx *t = arg;
    if (fd < 0)
        return; /* nothing to keep or close */
    if (t->keep && t->in->nfds < t->want) {
        t->in->fds[t->in->nfds++] = fd;
        return;
    }
    /* Closing is how a received fd is refused: the receiver owns it from
     * the moment recvmsg returned, whether it wanted it or not. */
    close(fd);
    t->in->nclosed++;
    if (t->in->status == FDPASS_OK)
        t->in->status = FDPASS_UNEXPECTED;
}

void fdpass_take(const void *control, size_t controllen, int msg_flags, size_t want,
                 fdpass_in_t *in)
{
    memset(in, 0, sizeof *in);
    in->status = FDPASS_OK;
    take_ctx t = {.in = in, .want = want > FDPASS_MAX_FDS ? FDPASS_MAX_FDS : want};
    /* MSG_CTRUNC: the control buffer was too small and the kernel dropped
     * the fds that did not fit. The sender meant them as a set (one
     * message, one handle), so the part that did arrive is useless too. */
    t.keep = !(msg_flags & MSG_CTRUNC);
    if (!t.keep)
        in->status = FDPASS_TRUNCATED;
    if (control == NULL)
        controllen = 0;
    if (fdpass_parse(control, controllen, take_one, &t) == -1) {
        fdpass_close_all(in);
        in->status = FDPASS_MALFORMED;
    }
#if !HAVE_CMSG_CLOEXEC
    for (size_t i = 0; i < in->nfds; i++)
        if (fcntl(in->fds[i], F_SETFD, FD_CLOEXEC) == -1) {
            /* cannot fail for an fd we just received; keep going */
        }
#endif
}

ssize_t fdpass_recv(int sock, void *buf, size_t cap, size_t want, fdpass_in_t *in)
{
    control_buf control;
    struct iovec iov = {.iov_base = buf, .iov_len = cap};
    struct msghdr msg = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.buf,
        .msg_controllen = sizeof control.buf,
    };
    ssize_t n = recvmsg(sock, &msg, RECV_FLAGS);
    if (n == -1) {
        int saved = errno;
        fdpass_take(NULL, 0, 0, 0, in);
        errno = saved;
        return -1;
    }
    /* The kernel sets msg_controllen to what it actually filled in. */
    fdpass_take(control.buf, msg.msg_controllen, msg.msg_flags, want, in);
    return n;
}

void fdpass_close_all(fdpass_in_t *in)
{
    for (size_t i = 0; i < in->nfds; i++) {
        close(in->fds[i]);
        in->nclosed++;
    }
    in->nfds = 0;
}

const char *fdpass_describe(int fd, char *buf, size_t cap)
{
    if (cap == 0)
        return buf;
#ifdef __linux__
    /* /proc/self/fd/N is a symbolic link whose text names the open file:
     * a path for a file, "socket:[INODE]" for a socket. Two processes that
     * show the same text hold the same socket, whatever their fd numbers. */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, buf, cap - 1);
    if (n >= 0) {
        buf[n] = '\0';
        return buf;
    }
#endif
    struct stat st;
    if (fstat(fd, &st) == -1)
        snprintf(buf, cap, "?");
    else
        snprintf(buf, cap, "inode %llu", (unsigned long long)st.st_ino);
    return buf;
}

const char *fdpass_status_str(fdpass_status_t status)
{
    switch (status) {
    case FDPASS_OK:
        return "ok";
    case FDPASS_TRUNCATED:
        return "control data truncated (MSG_CTRUNC), received fds closed";
    case FDPASS_UNEXPECTED:
        return "unexpected fd received and closed";
    case FDPASS_MALFORMED:
        return "malformed control data, received fds closed";
    }
    return "unknown fdpass status";
}
