/*
 * fuzz_chan.c: libFuzzer harness for the channel's framing and receive path.
 *
 *   make fuzz
 *
 * The input is what a hostile peer writes on the socket. The first byte
 * picks a chunk size, so the same bytes arrive in different splits; the
 * maximum message size is set low (64 bytes) so oversized lines happen
 * often. The loop runs after every chunk. Whatever arrives, the channel
 * must not crash, must deliver no more messages than there were complete
 * lines, and must end in exactly one disconnect when the peer closes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan.h"
#include "loop.h"
#include "net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct counts {
    size_t messages, errors, disconnects;
};

static void on_message(chan_t *ch, const json_value *msg, int fd, void *user)
{
    (void)ch;
    (void)fd;
    struct counts *c = user;
    char *s = json_serialize(msg, NULL); /* touch the value */
    free(s);
    c->messages++;
}

static void on_error(chan_t *ch, const chan_error *e, void *user)
{
    (void)ch;
    struct counts *c = user;
    if (e->reason == NULL || e->text[0] == '\0')
        abort();
    c->errors++;
}

static void on_disconnect(chan_t *ch, void *user)
{
    (void)ch;
    struct counts *c = user;
    c->disconnects++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    size_t chunk = (size_t)data[0] % 32 + 1;
    data++;
    size--;
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += data[i] == '\n';

    loop_t *loop = loop_new(LOOP_POLL);
    int sv[2];
    if (loop == NULL || net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv) == -1)
        abort();
    struct counts c = {0};
    chan_callbacks cb = {
        .on_message = on_message, .on_error = on_error, .on_disconnect = on_disconnect};
    chan_t *ch = chan_open(loop, sv[0], &cb, &c);
    if (ch == NULL)
        abort();
    chan_set_max_message(ch, 64);

    for (size_t off = 0; off < size && c.disconnects == 0; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (write(sv[1], data + off, n) != (ssize_t)n)
            break; /* the channel hung up (oversized): EPIPE */
        loop_run_once(loop, 0);
    }
    close(sv[1]);
    for (int i = 0; i < 100 && c.disconnects == 0; i++)
        loop_run_once(loop, 10);
    if (c.disconnects != 1 || c.messages > lines)
        abort();
    loop_free(loop);
    return 0;
}
