/* Exercise 7: chan_set_disconnect_timeout(). chan_disconnect() writes out
 * the queue before it closes; a peer that never reads would make it wait
 * for ever. With a timeout, the channel closes anyway once it runs out.
 *
 * hint: add void chan_set_disconnect_timeout(chan_t *ch, uint64_t ms) to chan.h; in
 * chan_disconnect, when bytes are still queued, arm a timer that finishes the channel
 * (the finish_timer and on_finish_timer already there do just that); README exercise 7
 *
 * link: build/chan.o build/json.o build/net.o build/loop.o build/loop_select.o
 * build/loop_poll.o build/loop_epoll.o
 *
 * On a socketpair whose other end the check holds: 1. with a timeout of
 * 1000 ms, the check's end reads from 100 ms after chan_disconnect(), and
 * gets every message queued before it, then EOF; 2. with 300 ms, the
 * check's end never reads: on_disconnect comes between 250 and 2000 ms
 * after chan_disconnect(), and then the check's end reads EOF after the
 * bytes the socket already held.
 */
#include "pair.h"

#include <stdlib.h>

#define TIMEOUT_MS 300 /* with a peer that never reads */
#define READER_MS 1000 /* with one that does, from 100 ms on: more than enough */

/* Open a channel with the timeout, and send 16 KiB messages until some of
 * them wait in its queue (the socket holds no more): how many were sent. */
static int fill(struct pair *p, uint64_t timeout_ms)
{
    static char big[16384];
    memset(big, 'x', sizeof big - 1);
    if (pair_open(p) == -1)
        return -1;
    chan_set_disconnect_timeout(p->ch, timeout_ms);
    int sent = 0;
    while (chan_pending_bytes(p->ch) == 0 && sent < 1000) {
        if (pair_send(p, big) == -1)
            return -1;
        sent++;
    }
    if (chan_disconnect(p->ch) == -1) {
        printf("expected chan_disconnect to start, got %s\n", strerror(errno));
        return -1;
    }
    return sent;
}

int main(void)
{
    struct pair p;
    int eof = 0;
    size_t lines = 0, more;

    /* 1. A peer that reads, a little late: every message queued before the
     *    disconnect reaches it, then EOF. */
    int sent = fill(&p, READER_MS);
    if (sent == -1)
        return 1;
    pair_run(&p, 100);
    long long end = (long long)loop_now_ms() + 3000;
    while (!eof && (long long)loop_now_ms() < end) {
        pair_drain_peer(&p, 0, &eof, &more); /* what the socket holds now */
        lines += more;
        pair_run(&p, 10); /* and the channel writes more */
    }
    if (p.ch != NULL || !eof || lines != (size_t)sent) {
        printf("expected a peer that reads to get all %d messages sent before "
               "chan_disconnect, then EOF and on_disconnect, got %zu messages%s%s\n",
               sent, lines, eof ? ", EOF" : ", no EOF",
               p.ch == NULL ? ", on_disconnect" : ", no on_disconnect");
        return 1;
    }
    loop_free(p.loop);
    close(p.peer);

    /* 2. A peer that never reads: the disconnect gives up after the
     *    timeout, and closes the socket. */
    if (fill(&p, TIMEOUT_MS) == -1)
        return 1;
    long long start = (long long)loop_now_ms();
    pair_run(&p, 2000);
    if (pair_expect_closed(&p, start, TIMEOUT_MS,
                           "chan_disconnect, with a peer that never reads") == -1)
        return 1;
    loop_free(p.loop);
    close(p.peer);
    return 0;
}
