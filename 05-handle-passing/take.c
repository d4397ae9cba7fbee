/*
 * take.c: `handle-passing take [-n COUNT] PID FD`, taking a socket from a
 * running process instead of being sent it.
 *
 * Everything else in this chapter passes an fd: the holder sends it with
 * SCM_RIGHTS and the receiver must be listening on a channel. Linux 5.6 added
 * a second way, in the other direction: pidfd_open(2) gives a descriptor for
 * the process PID, and pidfd_getfd(2) installs in the caller a duplicate of
 * that process's fd FD, the same open socket, as dup(2) would. The holder
 * takes no part and is not told. The caller needs the right to ptrace the
 * holder (same user and a permissive kernel.yama.ptrace_scope, or
 * CAP_SYS_PTRACE).
 *
 *   terminal 1:  ./handle-passing -w 1       # note the worker's pid and fd
 *   terminal 2:  ./handle-passing take -n 3 WORKER_PID 6
 *   terminal 3:  kill -STOP WORKER_PID; ./handle-passing client -p PORT -n 3
 *
 * With the worker stopped, the three answers come from the taker's pid.
 * It answers COUNT connections (default 3) like a worker, then exits.
 */
#ifdef __linux__
/* syscall(2) and SYS_pidfd_open / SYS_pidfd_getfd: glibc before 2.36 has no
 * wrappers, and syscall() is declared only outside strict POSIX. */
#define _GNU_SOURCE
#include <sys/syscall.h>
#endif
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "take.h"

static void take_usage(FILE *to)
{
    fprintf(to,
            "usage: handle-passing take [-n COUNT] PID FD\n"
            "\n"
            "Take a copy of fd FD of the running process PID with pidfd_getfd(2)\n"
            "(Linux 5.6+), and if it is a listening socket, answer COUNT connections\n"
            "on it (default 3) with `child data, pid N`, then exit.\n");
}

int take_main(int argc, char **argv)
{
    cli_init("handle-passing take", take_usage);
    long count = 3, pid = -1, fd = -1;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            take_usage(stdout);
            return 0;
        } else if ((v = cli_opt(argc, argv, &i, "-n")) != NULL ||
                   (v = cli_opt(argc, argv, &i, "--count")) != NULL) {
            count = cli_long("--count", v, 1, 1000000);
        } else if (pid == -1) {
            pid = cli_long("PID", argv[i], 1, 4194304);
        } else if (fd == -1) {
            fd = cli_long("FD", argv[i], 0, 1048576);
        } else {
            cli_bad_arg(argv[i]);
        }
    }
    if (fd == -1)
        cli_fail("take needs a PID and an FD");
#if defined(__linux__) && defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
    int me = (int)getpid();
    long pidfd = syscall(SYS_pidfd_open, (int)pid, 0);
    if (pidfd == -1)
        err(1, "pidfd_open %ld", pid);
    long lfd = syscall(SYS_pidfd_getfd, (int)pidfd, (int)fd, 0);
    if (lfd == -1)
        err(1, "pidfd_getfd fd %ld of pid %ld", fd, pid);
    close((int)pidfd);
    /* pidfd_getfd sets close-on-exec on the new fd, as it should. */
    char link[64], target[256] = "?";
    snprintf(link, sizeof link, "/proc/self/fd/%ld", lfd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n >= 0)
        target[n] = '\0';
    printf("[take %d] took fd %ld of pid %ld as my fd %ld -> %s\n", me, fd, pid, lfd,
           target);
    int acc = 0;
    socklen_t len = sizeof acc;
    if (getsockopt((int)lfd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) == -1 || !acc)
        errx(1, "fd %ld of pid %ld is not a listening socket", fd, pid);
    /* The socket is shared with its holder, O_NONBLOCK included: when the
     * holder gets there first, accept says EAGAIN; wait and try again. */
    for (long served = 0; served < count;) {
        int c = accept((int)lfd, NULL, NULL);
        if (c == -1) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                usleep(10000);
                continue;
            }
            err(1, "accept");
        }
        char line[64];
        int k = snprintf(line, sizeof line, "child data, pid %d\n", me);
        if (write(c, line, (size_t)k) != k)
            warn("write");
        close(c);
        served++;
        printf("[take %d] answered connection %ld of %ld\n", me, served, count);
    }
    close((int)lfd);
    return 0;
#else
    (void)count;
    errx(1, "take: pidfd_getfd(2) is Linux-only (5.6+)");
#endif
}
