/* Exercise 6: --send-timeout MS. A client that stops reading its responses
 * is closed once it has taken no output for about MS.
 *
 * hint: add --send-timeout MS to http-shared-port and pass it on to each
 * http-worker, which sets httpd_config_t's send_timeout_ms (httpd.c already
 * uses it; a short one also needs the sweep timer to run often enough);
 * README exercise 6
 *
 * link: build/testkit.o build/net.o
 *
 * timeout: 40
 *
 * Two servers, one worker each: --send-timeout 300 and --send-timeout
 * 6000. On each, a client pipelines 80,000 requests (11 MB of responses,
 * more than the kernels' buffers hold), reads nothing for 2.5 s, then reads
 * to the end. The first server must have given up on it: fewer than 80,000
 * responses, then EOF. The second must deliver all 80,000, for 2.5 s is
 * within its 6 s.
 */
#include "serve.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>

enum { N = 80000, PAUSE_MS = 2500 };

static const char get[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

typedef struct {
    int fd;
    char *out; /* the N requests */
    size_t out_len, sent;
    char *in; /* what came back */
    size_t in_cap, got;
    int ended; /* EOF or a reset */
} client_t;

static int client_open(client_t *c, int port)
{
    memset(c, 0, sizeof *c);
    c->out_len = N * (sizeof get - 1);
    c->in_cap = (size_t)N * 256;
    c->out = malloc(c->out_len);
    c->in = calloc(1, c->in_cap);
    c->fd = tk_connect(HOST, port, 2000);
    if (c->out == NULL || c->in == NULL || c->fd == -1) {
        printf("expected to connect, got an error\n");
        return -1;
    }
    for (int i = 0; i < N; i++)
        memcpy(c->out + (size_t)i * (sizeof get - 1), get, sizeof get - 1);
    /* A receive buffer of a fixed size: the kernel does not grow it to hold
     * every response on a machine with large buffers. */
    int rcvbuf = 65536;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    return 0;
}

/* Send what the socket takes; read too if `reading`. */
static void client_step(client_t *c, int reading)
{
    if (c->sent < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->sent, c->out_len - c->sent, MSG_NOSIGNAL);
        if (n > 0)
            c->sent += (size_t)n;
    }
    if (reading && !c->ended && c->got + 1 < c->in_cap) {
        ssize_t n = read(c->fd, c->in + c->got, c->in_cap - 1 - c->got);
        if (n > 0)
            c->got += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            c->ended = 1;
        c->in[c->got] = '\0'; /* a string, for count_of */
    }
}

static void client_close(client_t *c)
{
    if (c->fd != -1)
        close(c->fd);
    free(c->out);
    free(c->in);
}

int main(void)
{
    tk_proc *quick, *slow = NULL;
    client_t a = {.fd = -1}, b = {.fd = -1};
    int rc = 1;
    int port_a = serve(&quick, "--send-timeout", "300");
    int port_b = port_a > 0 ? serve(&slow, "--send-timeout", "6000") : -1;
    if (port_b <= 0 || client_open(&a, port_a) == -1 || client_open(&b, port_b) == -1)
        goto out;
    /* Pipeline without reading for PAUSE_MS, then read until both end. */
    long long t0 = tk_now_ms();
    while (tk_now_ms() - t0 < PAUSE_MS) {
        client_step(&a, 0);
        client_step(&b, 0);
        poll(NULL, 0, 5);
    }
    while ((!a.ended || !b.ended) && tk_now_ms() - t0 < 15000) {
        client_step(&a, 1);
        client_step(&b, 1);
        /* All of b's answers are in: nothing more will come. */
        if (!b.ended && b.got >= (size_t)N * 100 &&
            count_of(b.in, "HTTP/1.1 200 OK") == N)
            b.ended = 1;
        struct pollfd pf[2] = {{.fd = a.fd, .events = POLLIN},
                               {.fd = b.fd, .events = POLLIN}};
        poll(pf, 2, 20);
    }
    int got_a = count_of(a.in, "HTTP/1.1 200 OK");
    int got_b = count_of(b.in, "HTTP/1.1 200 OK");
    printf("# --send-timeout 300: %d of %d responses; --send-timeout 6000: %d\n", got_a,
           N, got_b);
    if (got_b != N)
        printf("expected a client that paused %d ms to get all %d responses with "
               "--send-timeout 6000, got %d\n",
               PAUSE_MS, N, got_b);
    else if (got_a >= N || !a.ended)
        printf(
            "expected a client that paused %d ms to be closed (fewer than %d responses, "
            "then EOF) with --send-timeout 300, got %d responses%s\n",
            PAUSE_MS, N, got_a, a.ended ? "" : " and no EOF");
    else
        rc = 0;
out:
    client_close(&a);
    client_close(&b);
    unserve(quick);
    unserve(slow);
    return rc;
}
