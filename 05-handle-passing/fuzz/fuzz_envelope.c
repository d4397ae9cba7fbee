/*
 * fuzz_envelope.c: libFuzzer harness for the receiving side of handle.c:
 * the NODE_HANDLE envelopes of every type (net.Server, net.Socket,
 * net.Native, dgram.Socket with its dgramType, dgram.Native) and whatever
 * else a peer may write, with an fd attached.
 *
 * The input is written, as one sendmsg(2) carrying a UDP socket's fd, into
 * a channel with handle passing attached; the loop then reads and parses
 * it. Whatever the bytes, the receiver must not crash (AddressSanitizer
 * watches) and must not leak the fd: after the channel is closed, and the
 * fd the message callback got is closed, the process holds as many fds as
 * before.
 *
 *   make fuzz                     (clang; FUZZ_SECONDS=30 by default)
 */
#include "fdpass.h"
#include "handle.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 256; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

/* Every handle delivered is closed here, as a receiver must. */
static void on_message(chan_t *ch, const json_value *msg, int fd, void *user)
{
    (void)ch;
    (void)msg;
    (void)user;
    if (fd != -1)
        close(fd);
}

/* The end of input frees the channel when this returns. */
static void on_disconnect(chan_t *ch, void *user)
{
    (void)ch;
    *(int *)user = 1;
}

static void quiet(chan_t *ch, const char *text, void *arg)
{
    (void)ch;
    (void)text;
    (void)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 4096)
        return 0;
    int before = count_fds();
    loop_t *loop = loop_new(LOOP_POLL);
    int sv[2];
    if (loop == NULL || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
        abort();
    int gone = 0;
    chan_callbacks cb = {.on_message = on_message, .on_disconnect = on_disconnect};
    chan_t *ch = chan_open(loop, sv[0], &cb, &gone);
    handle_callbacks hcb = {.on_warning = quiet};
    if (ch == NULL || handle_attach(ch, &hcb, NULL) == -1)
        abort();
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (udp == -1 || fdpass_send(sv[1], data, size, udp) != (ssize_t)size)
        abort();
    close(udp); /* the only copy left is in flight, or the receiver's */
    shutdown(sv[1], SHUT_WR);
    for (int i = 0; i < 8 && !gone; i++)
        loop_run_once(loop, 0);
    if (!gone)
        chan_close(ch);
    close(sv[1]); /* with it go any ACK or NACK the receiver wrote */
    loop_free(loop);
    if (count_fds() != before)
        abort();
    return 0;
}
