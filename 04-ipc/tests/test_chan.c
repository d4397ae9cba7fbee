/*
 * test_chan.c: unit tests of the channel module (chan.h).
 *
 *   make test        (or ./build/test_chan from the chapter directory)
 *
 * Each test makes a socketpair: one end is a channel on a loop, the other is
 * either a second channel or a raw fd that the test writes bytes into
 * exactly as it pleases (one byte at a time, many lines in one write, a
 * broken line, a huge line, nothing at all and then EOF). The callbacks
 * record what they saw; the assertions compare that with what chan.h
 * promises.
 *
 * The last tests exercise the seam chapter 05 plugs into (chan_layer), with
 * a small layer written here: its send_attached records each attachment and
 * the bytes it came with, its recv counts reads, its internal function
 * unwraps a NODE_HANDLE envelope and delivers the payload. No fds: what an
 * attachment is belongs to chapter 05.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "chan.h"
#include "net.h"
#include "loop.h"

#define MAXREC 4096

/* Everything the callbacks saw. */
typedef struct rec {
    int nmsg;
    char *msgs[MAXREC]; /* each message, serialized again */
    int fds[MAXREC];    /* the fd that came with it */
    int nerr;
    chan_error errs[8];
    int ndisc;
    int nint;
    char *ints[16];   /* internal messages seen by the layer */
    int close_on_msg; /* chan_close() from inside on_message */
    int disconnect_on_msg;
    int disc_inside_cb;
    int nclose; /* calls of the layer's close */
    int ndrain;
    int pause_on_msg; /* chan_pause_reading() from inside on_message */
} rec;

static void on_message(chan_t *ch, const json_value *msg, int fd, void *user)
{
    rec *r = user;
    if (r->nmsg < MAXREC) {
        r->fds[r->nmsg] = fd;
        r->msgs[r->nmsg++] = json_serialize(msg, NULL);
    }
    if (r->pause_on_msg)
        chan_pause_reading(ch);
    if (r->close_on_msg)
        chan_close(ch);
    if (r->disconnect_on_msg) {
        chan_disconnect(ch);
        r->disc_inside_cb += r->ndisc; /* must stay 0: not called from in here */
    }
}

static void on_error(chan_t *ch, const chan_error *e, void *user)
{
    (void)ch;
    rec *r = user;
    if (r->nerr < 8)
        r->errs[r->nerr++] = *e;
}

static void on_disconnect(chan_t *ch, void *user)
{
    (void)ch;
    rec *r = user;
    r->ndisc++;
}

static void on_internal(chan_t *ch, const json_value *msg, void *arg)
{
    (void)ch;
    rec *r = arg;
    if (r->nint < 16)
        r->ints[r->nint++] = json_serialize(msg, NULL);
}

static void on_close(chan_t *ch, void *arg)
{
    (void)ch;
    rec *r = arg;
    r->nclose++;
}

static void on_drain(chan_t *ch, void *user)
{
    (void)ch;
    rec *r = user;
    r->ndrain++;
}

static const chan_callbacks CB = {on_message, on_error, on_disconnect, on_drain};

static void rec_free(rec *r)
{
    for (int i = 0; i < r->nmsg; i++) {
        free(r->msgs[i]);
        if (r->fds[i] != -1)
            close(r->fds[i]);
    }
    for (int i = 0; i < r->nint; i++)
        free(r->ints[i]);
    memset(r, 0, sizeof *r);
}

typedef struct fixture {
    loop_t *loop;
    int sv[2];
    chan_t *ch; /* on sv[0]; sv[1] is the raw peer */
    rec r;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    f->loop = loop_new(LOOP_SELECT);
    assert_non_null(f->loop);
    assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, f->sv), 0);
    f->ch = chan_open(f->loop, f->sv[0], &CB, &f->r);
    assert_non_null(f->ch);
    chan_set_name(f->ch, "test");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->r.ndisc == 0)
        chan_close(f->ch);
    if (f->sv[1] != -1)
        close(f->sv[1]);
    rec_free(&f->r);
    loop_free(f->loop);
    free(f);
    return 0;
}

static void put(int fd, const char *s, size_t n)
{
    assert_int_equal(write(fd, s, n), (ssize_t)n);
}

/* Run the loop until cond holds (or 3 s pass: the test then fails). */
static void run_until(loop_t *loop, int (*cond)(void *), void *arg)
{
    uint64_t end = loop_now_ms() + 3000;
    while (!cond(arg)) {
        assert_true(loop_now_ms() < end);
        loop_run_once(loop, 50);
    }
}

static int got_disc(void *arg)
{
    return ((rec *)arg)->ndisc > 0;
}

/* ---- receiving ------------------------------------------------------------ */

static void test_message_both_ways(void **state)
{
    fixture *f = *state;
    /* A second channel on the raw end: a real conversation. */
    rec r2 = {0};
    chan_t *peer = chan_open(f->loop, f->sv[1], &CB, &r2);
    assert_non_null(peer);
    f->sv[1] = -1; /* the peer channel owns it now */

    json_value *s = json_new_string("some msg");
    assert_int_equal(chan_send(f->ch, s), 0);
    json_free(s);
    json_value *o = json_new_object();
    json_object_set(o, "name", json_new_string("Bruce"));
    assert_int_equal(chan_send(f->ch, o), 0);
    json_free(o);
    const char *text = "{\"hello\":\"from the worker\"}";
    assert_int_equal(chan_send_text(peer, text, strlen(text)), 0);

    for (int i = 0; i < 20 && (r2.nmsg < 2 || f->r.nmsg < 1); i++)
        loop_run_once(f->loop, 100);
    assert_int_equal(r2.nmsg, 2);
    assert_string_equal(r2.msgs[0], "\"some msg\"");
    assert_string_equal(r2.msgs[1], "{\"name\":\"Bruce\"}");
    assert_int_equal(r2.fds[0], -1);
    assert_int_equal(f->r.nmsg, 1);
    assert_string_equal(f->r.msgs[0], "{\"hello\":\"from the worker\"}");
    assert_int_equal(chan_messages_received(peer), 2);
    assert_int_equal(chan_bytes_received(peer),
                     strlen("\"some msg\"\n{\"name\":\"Bruce\"}\n"));

    chan_close(peer);
    rec_free(&r2);
}

static void test_partial_reads_byte_by_byte(void **state)
{
    fixture *f = *state;
    const char *wire = "{\"a\":[1,2,\"x\\n\"]}\n\"\xe2\x82\xac\"\n";
    size_t n = strlen(wire);
    for (size_t i = 0; i < n; i++) {
        put(f->sv[1], wire + i, 1);
        loop_run_once(f->loop, 1000); /* exactly one byte is there to read */
        /* A message appears exactly when its '\n' has arrived, not before. */
        size_t first_nl = (size_t)(strchr(wire, '\n') - wire);
        int want = (i >= first_nl) + (i == n - 1);
        assert_int_equal(f->r.nmsg, want);
    }
    assert_string_equal(f->r.msgs[0], "{\"a\":[1,2,\"x\\n\"]}");
    assert_string_equal(f->r.msgs[1], "\"\xe2\x82\xac\"");
    assert_int_equal(chan_bytes_received(f->ch), n);
}

static void test_many_messages_in_one_read(void **state)
{
    fixture *f = *state;
    char wire[8192];
    size_t len = 0;
    for (int i = 0; i < 300; i++)
        len += (size_t)snprintf(wire + len, sizeof wire - len, "{\"n\":%d}\n", i);
    put(f->sv[1], wire, len);
    loop_run_once(f->loop, 1000); /* one readable event, one read */
    assert_int_equal(f->r.nmsg, 300);
    for (int i = 0; i < 300; i++) {
        char want[32];
        snprintf(want, sizeof want, "{\"n\":%d}", i);
        assert_string_equal(f->r.msgs[i], want);
    }
}

static void test_malformed_line_is_reported_and_dropped(void **state)
{
    fixture *f = *state;
    /* The bad line starts at stream byte 8; the parser stops at its byte 1. */
    const char *wire = "{\"n\":1}\n{bad}\n{\"n\":2}\n";
    put(f->sv[1], wire, strlen(wire));
    loop_run_once(f->loop, 1000);
    assert_int_equal(f->r.nmsg, 2);
    assert_string_equal(f->r.msgs[0], "{\"n\":1}");
    assert_string_equal(f->r.msgs[1], "{\"n\":2}");
    assert_int_equal(f->r.nerr, 1);
    assert_int_equal(f->r.errs[0].kind, CHAN_ERR_MALFORMED);
    assert_int_equal(f->r.errs[0].line_offset, 8);
    assert_int_equal(f->r.errs[0].offset, 1);
    assert_string_equal(f->r.errs[0].reason, "expected a string key in object");
    assert_non_null(strstr(f->r.errs[0].text, "channel test"));
    assert_non_null(strstr(f->r.errs[0].text, "byte 1"));
    assert_non_null(strstr(f->r.errs[0].text, "stream byte 8"));
    assert_int_equal(f->r.ndisc, 0);

    /* An empty line and invalid UTF-8 are malformed too; the channel still
     * carries on afterwards. */
    put(f->sv[1], "\n\"\xff\"\n[3]\n", 9);
    loop_run_once(f->loop, 1000);
    assert_int_equal(f->r.nerr, 3);
    assert_int_equal(f->r.errs[2].offset, 1);
    assert_string_equal(f->r.errs[2].reason, "invalid UTF-8 in string");
    assert_int_equal(f->r.nmsg, 3);
    assert_string_equal(f->r.msgs[2], "[3]");
    assert_int_equal(f->r.ndisc, 0);
}

static void test_oversized_message_closes_the_channel(void **state)
{
    fixture *f = *state;
    chan_set_max_message(f->ch, 16);
    put(f->sv[1], "\"0123456789abc\"\n", 16); /* 15 bytes + '\n': fine */
    loop_run_once(f->loop, 1000);
    assert_int_equal(f->r.nmsg, 1);
    /* 17 bytes and no newline yet: no need to wait for the rest. */
    put(f->sv[1], "\"0123456789abcdef", 17);
    loop_run_once(f->loop, 1000);
    assert_int_equal(f->r.nerr, 1);
    assert_int_equal(f->r.errs[0].kind, CHAN_ERR_OVERSIZED);
    assert_int_equal(f->r.errs[0].line_offset, 16);
    assert_non_null(strstr(f->r.errs[0].text, "larger than the maximum of 16 bytes"));
    assert_int_equal(f->r.ndisc, 1);
    /* The channel closed its end: the peer reads EOF. */
    char c;
    assert_int_equal(read(f->sv[1], &c, 1), 0);
}

static void test_oversized_complete_line(void **state)
{
    fixture *f = *state;
    chan_set_max_message(f->ch, 8);
    put(f->sv[1], "[1]\n[1,2,3,4,5]\n[2]\n", 20);
    loop_run_once(f->loop, 1000);
    assert_int_equal(f->r.nmsg, 1); /* [2] is never delivered: the channel is gone */
    assert_int_equal(f->r.nerr, 1);
    assert_int_equal(f->r.errs[0].kind, CHAN_ERR_OVERSIZED);
    assert_int_equal(f->r.errs[0].line_offset, 4);
    assert_int_equal(f->r.ndisc, 1);
}

static void test_default_max_is_one_mib(void **state)
{
    fixture *f = *state;
    assert_int_equal(chan_max_message(f->ch), 1024 * 1024);
    /* Sending a line the peer would refuse fails here, at once. */
    size_t n = 1024 * 1024 + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    big[0] = '1';
    assert_int_equal(chan_send_text(f->ch, big, n), -1);
    assert_int_equal(errno, EMSGSIZE);
    assert_int_equal(chan_send_text(f->ch, big, n - 1), 0);
    free(big);
}

static void test_eof_is_disconnect(void **state)
{
    fixture *f = *state;
    put(f->sv[1], "[1]\n", 4);
    close(f->sv[1]);
    f->sv[1] = -1;
    run_until(f->loop, got_disc, &f->r);
    assert_int_equal(f->r.nmsg, 1); /* the last message still arrives first */
    assert_int_equal(f->r.nerr, 0);
    assert_int_equal(f->r.ndisc, 1);
}

static void test_eof_in_the_middle_of_a_message(void **state)
{
    fixture *f = *state;
    put(f->sv[1], "[1]\n{\"cut", 9);
    close(f->sv[1]);
    f->sv[1] = -1;
    run_until(f->loop, got_disc, &f->r);
    assert_int_equal(f->r.nmsg, 1);
    assert_int_equal(f->r.nerr, 1);
    assert_int_equal(f->r.errs[0].kind, CHAN_ERR_MALFORMED);
    assert_int_equal(f->r.errs[0].line_offset, 4);
    assert_non_null(strstr(f->r.errs[0].reason, "cut short"));
}

static void test_node_messages_go_to_the_layer(void **state)
{
    fixture *f = *state;
    const char *wire = "{\"cmd\":\"NODE_HANDLE_ACK\"}\n"
                       "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Server\",\"msg\":\"x\"}\n"
                       "{\"cmd\":\"node_lowercase\"}\n"
                       "{\"cmd\":\"NODE\"}\n"
                       "{\"cmd\":42}\n"
                       "[\"NODE_in_an_array\"]\n";
    /* Without a layer, internal messages are dropped. */
    put(f->sv[1], wire, strlen(wire));
    loop_run_once(f->loop, 1000);
    assert_int_equal(f->r.nmsg, 4);
    assert_string_equal(f->r.msgs[0], "{\"cmd\":\"node_lowercase\"}");
    assert_int_equal(f->r.nint, 0);
    assert_int_equal(chan_messages_received(f->ch), 6);

    chan_set_layer(f->ch, &(chan_layer){.internal = on_internal}, &f->r);
    put(f->sv[1], wire, strlen(wire));
    loop_run_once(f->loop, 1000);
    assert_int_equal(f->r.nmsg, 8); /* on_message still sees only the 4 */
    assert_int_equal(f->r.nint, 2);
    assert_string_equal(f->r.ints[0], "{\"cmd\":\"NODE_HANDLE_ACK\"}");
    assert_string_equal(
        f->r.ints[1], "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Server\",\"msg\":\"x\"}");
}

static void test_close_inside_the_message_callback(void **state)
{
    fixture *f = *state;
    f->r.close_on_msg = 1;
    chan_set_layer(f->ch, &(chan_layer){.close = on_close}, &f->r);
    put(f->sv[1], "[1]\n[2]\n[3]\n", 12);
    loop_run_once(f->loop, 1000);
    assert_int_equal(f->r.nmsg, 1); /* nothing after the close */
    assert_int_equal(f->r.ndisc, 0);
    assert_int_equal(f->r.nclose, 1);
    f->r.ndisc = 1; /* already freed: keep teardown from closing it again */
    char c;
    assert_int_equal(read(f->sv[1], &c, 1), 0);
}

/* ---- sending -------------------------------------------------------------- */

static int drain_lines(int fd, char *acc, size_t *acc_len, size_t cap)
{
    ssize_t n = read(fd, acc + *acc_len, cap - *acc_len);
    if (n > 0)
        *acc_len += (size_t)n;
    return (int)n;
}

static void test_queue_under_a_full_socket_buffer(void **state)
{
    fixture *f = *state;
    int small = 4096;
    assert_int_equal(setsockopt(f->sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small),
                     0);
    assert_int_equal(setsockopt(f->sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small),
                     0);

    /* Nobody reads: sends still succeed, the rest waits in the queue. */
    char line[1024];
    int count = 1000;
    for (int i = 0; i < count; i++) {
        int n = snprintf(line, sizeof line, "{\"seq\":%d,\"pad\":\"", i);
        memset(line + n, 'x', 900);
        memcpy(line + n + 900, "\"}", 3);
        assert_int_equal(chan_send_text(f->ch, line, strlen(line)), 0);
    }
    size_t queued = chan_pending_bytes(f->ch);
    assert_true(queued > 100000); /* far more than the socket holds */

    /* Now read from the peer while the loop writes the queue out. */
    int fl = fcntl(f->sv[1], F_GETFL);
    fcntl(f->sv[1], F_SETFL, fl | O_NONBLOCK);
    size_t cap = (size_t)count * 1000;
    char *acc = malloc(cap);
    size_t acc_len = 0;
    uint64_t end = loop_now_ms() + 5000;
    int lines = 0;
    while (lines < count && loop_now_ms() < end) {
        loop_run_once(f->loop, 10);
        while (drain_lines(f->sv[1], acc, &acc_len, cap) > 0)
            ;
        lines = 0;
        for (size_t i = 0; i < acc_len; i++)
            lines += acc[i] == '\n';
    }
    assert_int_equal(lines, count);
    assert_int_equal(chan_pending_bytes(f->ch), 0);
    /* In order, and each line intact. */
    char *p = acc;
    for (int i = 0; i < count; i++) {
        char want[32];
        int n = snprintf(want, sizeof want, "{\"seq\":%d,", i);
        assert_memory_equal(p, want, (size_t)n);
        char *nl = memchr(p, '\n', acc_len - (size_t)(p - acc));
        assert_non_null(nl);
        json_value *v = json_parse(p, (size_t)(nl - p), NULL, NULL);
        assert_non_null(v);
        json_free(v);
        p = nl + 1;
    }
    free(acc);
}

/* A 1 KiB line for the queue tests. */
static size_t kib_line(char *line, int seq)
{
    int n = snprintf(line, 1100, "{\"seq\":%d,\"pad\":\"", seq);
    memset(line + n, 'q', 1000);
    memcpy(line + n + 1000, "\"}", 3);
    return (size_t)n + 1002;
}

/* A peer that never reads: the queue stops at its bound and chan_send says
 * so with EAGAIN, instead of growing for as long as we keep sending. */
static void test_send_queue_is_bounded(void **state)
{
    fixture *f = *state;
    char line[1100];
    int sent = 0;
    for (; sent < 64 * 1024; sent++) {
        size_t len = kib_line(line, sent);
        if (chan_send_text(f->ch, line, len) == -1)
            break;
    }
    assert_int_not_equal(sent, 64 * 1024); /* 64 MiB were not all taken */
    assert_int_equal(errno, EAGAIN);
    assert_true(chan_pending_bytes(f->ch) <= CHAN_DEFAULT_MAX_QUEUE);
    assert_true(chan_pending_bytes(f->ch) > CHAN_DEFAULT_MAX_QUEUE - 1100);
    assert_int_equal(chan_max_queue(f->ch), CHAN_DEFAULT_MAX_QUEUE);
    /* Refused means not queued: the count stays, and the channel lives. */
    size_t before = chan_pending_bytes(f->ch);
    assert_int_equal(chan_send_text(f->ch, line, kib_line(line, 0)), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(chan_pending_bytes(f->ch), before);
    assert_int_equal(f->r.ndisc, 0);
}

/* A smaller bound, a message bigger than it (always taken into an empty
 * queue, so any message within max_message can be sent), and on_drain once
 * the peer has read everything after a refusal. */
static void test_drain_after_a_refusal(void **state)
{
    fixture *f = *state;
    chan_set_max_queue(f->ch, 8192);
    assert_int_equal(chan_max_queue(f->ch), 8192);
    int small = 4096;
    setsockopt(f->sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(f->sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);

    char big[20000];
    memset(big, '7', sizeof big);
    int sent = 0;
    while (chan_send_text(f->ch, big, sizeof big) == 0)
        sent++;
    assert_int_equal(errno, EAGAIN);
    assert_true(sent >= 1);
    assert_true(chan_pending_bytes(f->ch) > 0);
    loop_run_once(f->loop, 10);
    assert_int_equal(f->r.ndrain, 0); /* nobody read yet */

    /* The peer reads everything; the queue empties; on_drain comes once. */
    int fl = fcntl(f->sv[1], F_GETFL);
    fcntl(f->sv[1], F_SETFL, fl | O_NONBLOCK);
    char buf[65536];
    size_t total = 0;
    uint64_t end = loop_now_ms() + 5000;
    while (f->r.ndrain == 0 && loop_now_ms() < end) {
        loop_run_once(f->loop, 10);
        ssize_t n;
        while ((n = read(f->sv[1], buf, sizeof buf)) > 0)
            total += (size_t)n;
    }
    assert_int_equal(f->r.ndrain, 1);
    assert_int_equal(total, (size_t)sent * (sizeof big + 1));
    assert_int_equal(chan_pending_bytes(f->ch), 0);
    for (int i = 0; i < 5; i++)
        loop_run_once(f->loop, 10);
    assert_int_equal(f->r.ndrain, 1); /* once per refusal, not per write */
    assert_int_equal(chan_send_text(f->ch, big, sizeof big), 0);
}

/* on_message pauses reading: the lines already received wait, the peer's
 * writes stall once the socket buffer is full, and chan_resume_reading
 * delivers the waiting lines without new data arriving. */
static void test_pause_and_resume_reading(void **state)
{
    fixture *f = *state;
    f->r.pause_on_msg = 1;
    put(f->sv[1], "[1]\n[2]\n[3]\n", 12);
    for (int i = 0; i < 5; i++)
        loop_run_once(f->loop, 10);
    assert_int_equal(f->r.nmsg, 1);
    /* Paused: the peer can fill the socket buffer, and then no more. */
    int fl = fcntl(f->sv[1], F_GETFL);
    fcntl(f->sv[1], F_SETFL, fl | O_NONBLOCK);
    char line[1100];
    size_t stalled_after = 0;
    for (int i = 0; i < 64 * 1024; i++) {
        size_t len = kib_line(line, i);
        line[len++] = '\n';
        ssize_t n = write(f->sv[1], line, len);
        if (n < (ssize_t)len)
            break;
        stalled_after += len;
        if (i % 64 == 0)
            loop_run_once(f->loop, 0);
    }
    assert_true(stalled_after < (8u << 20));
    assert_int_equal(f->r.nmsg, 1);

    f->r.pause_on_msg = 0;
    chan_resume_reading(f->ch);
    chan_resume_reading(f->ch); /* harmless twice */
    for (int i = 0; i < 5 && f->r.nmsg < 3; i++)
        loop_run_once(f->loop, 10);
    assert_true(f->r.nmsg >= 3);
    assert_string_equal(f->r.msgs[1], "[2]");
    assert_string_equal(f->r.msgs[2], "[3]");
}

/* Paused with replies queued, and the peer goes away: the pause cannot
 * wait for a reader that is gone, so the channel reads on, sees EOF and
 * closes, instead of hanging open forever. */
static void test_pause_ends_when_the_peer_goes(void **state)
{
    fixture *f = *state;
    chan_set_max_queue(f->ch, 4096);
    int small = 4096;
    setsockopt(f->sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(f->sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    char big[5000];
    memset(big, '8', sizeof big);
    while (chan_send_text(f->ch, big, sizeof big) == 0)
        ;
    chan_pause_reading(f->ch);
    close(f->sv[1]);
    f->sv[1] = -1;
    run_until(f->loop, got_disc, &f->r);
    assert_int_equal(f->r.ndisc, 1);
}

static void test_disconnect_flushes_then_closes(void **state)
{
    fixture *f = *state;
    int small = 4096;
    setsockopt(f->sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    char pad[2000];
    memset(pad, 'y', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    json_value *v = json_new_string(pad);
    for (int i = 0; i < 100; i++)
        assert_int_equal(chan_send(f->ch, v), 0);
    json_free(v);
    assert_true(chan_pending_bytes(f->ch) > 0);
    assert_int_equal(chan_disconnect(f->ch), 0);
    assert_int_equal(chan_disconnect(f->ch), -1);
    assert_int_equal(errno, EALREADY);
    v = json_new_null();
    assert_int_equal(chan_send(f->ch, v), -1); /* too late */
    assert_int_equal(errno, EPIPE);
    json_free(v);

    /* The peer reads everything, then EOF; on_disconnect comes after. */
    int fl = fcntl(f->sv[1], F_GETFL);
    fcntl(f->sv[1], F_SETFL, fl | O_NONBLOCK);
    size_t total = 0, want = 100 * (sizeof pad - 1 + 3);
    char buf[65536];
    uint64_t end = loop_now_ms() + 5000;
    int eof = 0;
    while (!eof && loop_now_ms() < end) {
        loop_run_once(f->loop, 10);
        ssize_t n;
        while ((n = read(f->sv[1], buf, sizeof buf)) > 0)
            total += (size_t)n;
        eof = n == 0;
    }
    assert_true(eof);
    assert_int_equal(total, want);
    run_until(f->loop, got_disc, &f->r);
    assert_int_equal(f->r.ndisc, 1);
    assert_int_equal(f->r.nerr, 0);
}

static void test_disconnect_from_a_callback_with_nothing_queued(void **state)
{
    fixture *f = *state;
    f->r.disconnect_on_msg = 1;
    put(f->sv[1], "[1]\n[2]\n", 8);
    loop_run_once(f->loop, 1000);
    assert_int_equal(f->r.nmsg, 1); /* no messages after disconnect(), as in Node */
    run_until(f->loop, got_disc, &f->r);
    assert_int_equal(f->r.disc_inside_cb, 0); /* not from inside the callback ... */
    assert_int_equal(f->r.ndisc, 1);          /* ... but from the loop, once */
    char c;
    assert_int_equal(read(f->sv[1], &c, 1), 0);
}

static void test_send_to_a_vanished_peer(void **state)
{
    fixture *f = *state;
    close(f->sv[1]);
    f->sv[1] = -1;
    json_value *v = json_new_string("anyone?");
    /* MSG_NOSIGNAL: an EPIPE error, not a SIGPIPE that kills the test. */
    assert_int_equal(chan_send(f->ch, v), -1);
    assert_int_equal(errno, EPIPE);
    assert_int_equal(chan_send(f->ch, v), -1);
    json_free(v);
    run_until(f->loop, got_disc, &f->r);
}

static void test_send_attached_needs_a_layer(void **state)
{
    fixture *f = *state;
    json_value *v = json_new_null();
    int att = 0;
    assert_int_equal(chan_send_attached(f->ch, v, &att), -1);
    assert_int_equal(errno, ENOTSUP);
    const char *t = "a\nb";
    assert_int_equal(chan_send_text(f->ch, t, 3), -1);
    assert_int_equal(errno, EINVAL);
    json_free(v);
}

/* ---- the seam for chapter 05: a small layer ------------------------------ */

struct layer_rec {
    int sends;        /* calls of send_attached, EAGAIN ones too */
    int eagain_first; /* refuse the first call, as a full socket would */
    void *atts[8];    /* the attachment of each call that wrote */
    size_t lens[8];   /* the bytes it was offered */
    char firsts[8];   /* and the first of them */
    int nwrites;
    int reads; /* calls of recv */
};

static ssize_t layer_send(chan_t *ch, int sock, const void *buf, size_t len, void *att,
                          void *arg)
{
    (void)ch;
    struct layer_rec *l = arg;
    if (l->sends++ == 0 && l->eagain_first) {
        errno = EAGAIN;
        return -1;
    }
    ssize_t n = send(sock, buf, len, MSG_NOSIGNAL);
    if (n > 0 && l->nwrites < 8) {
        l->atts[l->nwrites] = att;
        l->lens[l->nwrites] = len;
        l->firsts[l->nwrites++] = *(const char *)buf;
    }
    return n;
}

static ssize_t layer_recv(chan_t *ch, int sock, void *buf, size_t len, void *arg)
{
    (void)ch;
    struct layer_rec *l = arg;
    l->reads++;
    return read(sock, buf, len);
}

/* NODE_HANDLE: deliver the payload, as chapter 05 does (with no fd here). */
static void layer_internal(chan_t *ch, const json_value *msg, void *arg)
{
    (void)arg;
    if (strcmp(json_object_get_string(msg, "cmd"), "NODE_HANDLE") == 0)
        chan_deliver(ch, json_object_get(msg, "msg"), -1);
}

static json_value *parse(const char *text)
{
    json_value *v = json_parse(text, strlen(text), NULL, NULL);
    assert_non_null(v);
    return v;
}

static void test_an_attachment_leaves_with_its_line(void **state)
{
    fixture *f = *state;
    rec r2 = {0};
    chan_t *peer = chan_open(f->loop, f->sv[1], &CB, &r2);
    f->sv[1] = -1;
    struct layer_rec sender = {.eagain_first = 1}, receiver = {0};
    chan_set_layer(f->ch, &(chan_layer){.send_attached = layer_send}, &sender);
    chan_set_layer(peer, &(chan_layer){.recv = layer_recv, .internal = layer_internal},
                   &receiver);

    /* A plain line, two attached envelopes back to back, a plain line. The
     * first call of send_attached says EAGAIN, so all of them queue up, and
     * the writer must still cut the queue at each attached line: the first
     * envelope alone with its attachment, then the second with the rest. */
    const char *env_a = "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":\"a\"}";
    const char *env_b = "{\"cmd\":\"NODE_HANDLE\",\"type\":\"net.Native\",\"msg\":\"b\"}";
    int att_a = 1, att_b = 2;
    json_value *a = parse(env_a), *b = parse(env_b), *before = parse("\"before\""),
               *after = parse("\"after\"");
    assert_int_equal(chan_send(f->ch, before), 0);
    assert_int_equal(chan_send_attached(f->ch, a, &att_a), 0);
    assert_int_equal(chan_pending_bytes(f->ch), strlen(env_a) + 1); /* EAGAIN */
    assert_int_equal(chan_send_attached(f->ch, b, &att_b), 0);
    assert_int_equal(chan_send(f->ch, after), 0);

    for (int i = 0; i < 20 && r2.nmsg < 4; i++)
        loop_run_once(f->loop, 100);
    assert_int_equal(sender.nwrites, 2);
    assert_ptr_equal(sender.atts[0], &att_a);
    assert_int_equal(sender.firsts[0], '{');
    assert_int_equal(sender.lens[0], strlen(env_a) + 1); /* not into b's line */
    assert_ptr_equal(sender.atts[1], &att_b);
    assert_int_equal(sender.firsts[1], '{');
    assert_true(sender.lens[1] >= strlen(env_b) + 1);
    assert_true(receiver.reads > 0);
    assert_int_equal(r2.nmsg, 4);
    assert_string_equal(r2.msgs[0], "\"before\"");
    assert_string_equal(r2.msgs[1], "\"a\"");
    assert_string_equal(r2.msgs[2], "\"b\"");
    assert_string_equal(r2.msgs[3], "\"after\"");
    json_free(a);
    json_free(b);
    json_free(before);
    json_free(after);
    chan_close(peer);
    rec_free(&r2);
}

static void test_fd_from_env(void **state)
{
    fixture *f = *state;
    char num[16];
    snprintf(num, sizeof num, "%d", f->sv[1]);
    setenv("NODE_CHANNEL_FD", num, 1);
    setenv("NODE_CHANNEL_SERIALIZATION_MODE", "json", 1);
    assert_int_equal(fcntl(f->sv[1], F_SETFD, 0), 0); /* as it comes through exec */
    assert_int_equal(chan_fd_from_env(), f->sv[1]);
    assert_null(getenv("NODE_CHANNEL_FD")); /* removed, as Node does */
    assert_null(getenv("NODE_CHANNEL_SERIALIZATION_MODE"));
    assert_true(fcntl(f->sv[1], F_GETFD) & FD_CLOEXEC);

    assert_int_equal(chan_fd_from_env(), -1);
    assert_int_equal(errno, ENOENT);
    setenv("NODE_CHANNEL_FD", "3x", 1);
    assert_int_equal(chan_fd_from_env(), -1);
    assert_int_equal(errno, EINVAL);
    setenv("NODE_CHANNEL_FD", num, 1);
    setenv("NODE_CHANNEL_SERIALIZATION_MODE", "advanced", 1);
    assert_int_equal(chan_fd_from_env(), -1);
    assert_int_equal(errno, ENOTSUP);
    assert_null(getenv("NODE_CHANNEL_FD"));

    int p[2];
    assert_int_equal(pipe(p), 0);
    snprintf(num, sizeof num, "%d", p[0]);
    setenv("NODE_CHANNEL_FD", num, 1);
    assert_int_equal(chan_fd_from_env(), -1);
    assert_int_equal(errno, ENOTSOCK);
    close(p[0]);
    close(p[1]);
    setenv("NODE_CHANNEL_FD", num, 1); /* now closed */
    assert_int_equal(chan_fd_from_env(), -1);
    assert_int_equal(errno, EBADF);
}

/* The parent's side: the child's environment announces fd 3 in json mode,
 * and a channel we were given ourselves is not passed on. */
static void test_child_environ(void **state)
{
    (void)state;
    setenv("NODE_CHANNEL_FD", "7", 1); /* as if we were a Node child */
    setenv("TEST_CHAN_KEEP", "yes", 1);
    char **env = chan_child_environ();
    assert_non_null(env);
    int fd3 = 0, json = 0, keep = 0, other_fd = 0;
    for (size_t i = 0; env[i] != NULL; i++) {
        fd3 += strcmp(env[i], "NODE_CHANNEL_FD=3") == 0;
        other_fd += strcmp(env[i], "NODE_CHANNEL_FD=7") == 0;
        json += strcmp(env[i], "NODE_CHANNEL_SERIALIZATION_MODE=json") == 0;
        keep += strcmp(env[i], "TEST_CHAN_KEEP=yes") == 0;
    }
    assert_int_equal(fd3, 1);
    assert_int_equal(other_fd, 0);
    assert_int_equal(json, 1);
    assert_int_equal(keep, 1);
    free(env);
    unsetenv("NODE_CHANNEL_FD");
    unsetenv("TEST_CHAN_KEEP");
}

/* The same conversation on the poll and epoll backends. */
static void test_other_backends(void **state)
{
    (void)state;
    loop_backend_t backends[] = {LOOP_POLL, LOOP_EPOLL};
    for (size_t b = 0; b < 2; b++) {
        loop_t *loop = loop_new(backends[b]);
        if (loop == NULL)
            continue; /* no epoll on this system */
        int sv[2];
        assert_int_equal(net_socketpair(AF_UNIX, SOCK_STREAM, O_CLOEXEC, sv), 0);
        rec r1 = {0}, r2 = {0};
        chan_t *a = chan_open(loop, sv[0], &CB, &r1);
        chan_t *c = chan_open(loop, sv[1], &CB, &r2);
        assert_int_equal(chan_send_text(a, "[\"ping\"]", 8), 0);
        for (int i = 0; i < 20 && r2.nmsg < 1; i++)
            loop_run_once(loop, 100);
        assert_int_equal(r2.nmsg, 1);
        assert_int_equal(chan_disconnect(a), 0);
        for (int i = 0; i < 20 && (r1.ndisc < 1 || r2.ndisc < 1); i++)
            loop_run_once(loop, 100);
        assert_int_equal(r1.ndisc, 1); /* our own disconnect() */
        assert_int_equal(r2.ndisc, 1); /* the peer's EOF */
        (void)c;
        rec_free(&r1);
        rec_free(&r2);
        assert_int_equal(loop_watch_count(loop), 0);
        loop_free(loop);
    }
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_message_both_ways),
        T(test_partial_reads_byte_by_byte),
        T(test_many_messages_in_one_read),
        T(test_malformed_line_is_reported_and_dropped),
        T(test_oversized_message_closes_the_channel),
        T(test_oversized_complete_line),
        T(test_default_max_is_one_mib),
        T(test_eof_is_disconnect),
        T(test_eof_in_the_middle_of_a_message),
        T(test_node_messages_go_to_the_layer),
        T(test_close_inside_the_message_callback),
        T(test_queue_under_a_full_socket_buffer),
        T(test_send_queue_is_bounded),
        T(test_drain_after_a_refusal),
        T(test_pause_and_resume_reading),
        T(test_pause_ends_when_the_peer_goes),
        T(test_disconnect_flushes_then_closes),
        T(test_disconnect_from_a_callback_with_nothing_queued),
        T(test_send_to_a_vanished_peer),
        T(test_send_attached_needs_a_layer),
        T(test_an_attachment_leaves_with_its_line),
        T(test_fd_from_env),
        cmocka_unit_test(test_child_environ),
        cmocka_unit_test(test_other_backends),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
