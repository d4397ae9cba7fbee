/* Exercise 6: chan_set_stall_timeout(). A peer that stops answering (a
 * worker stuck in a loop, or stopped) is noticed: once we have sent a
 * message and heard nothing back for the timeout, the channel reports a
 * CHAN_ERR_TIMEOUT error and closes.
 *
 * hint: add CHAN_ERR_TIMEOUT to chan_error_kind and void chan_set_stall_timeout(chan_t
 * *ch, uint64_t ms) to chan.h; in chan.c, start a loop timer when a message is sent and
 * none runs, cancel it when bytes arrive, and when it fires report the error and finish()
 * the channel; README exercise 6
 *
 * link: build/chan.o build/json.o build/net.o build/loop.o build/loop_select.o
 * build/loop_poll.o build/loop_epoll.o
 *
 * With a timeout of 500 ms, on a socketpair whose other end the check
 * holds: a channel that sends nothing stays open for 800 ms; four messages,
 * each answered 150 ms later, keep it open (800 ms in all); then messages
 * sent every 150 ms and never answered close it between 450 and 2000 ms
 * after the first of them, on_error (kind CHAN_ERR_TIMEOUT) first, and the
 * check's end then reads EOF.
 */
#include "pair.h"

#include <stdlib.h>

#define STALL_MS 500

int main(void)
{
    struct pair p;
    if (pair_open(&p) == -1)
        return 1;
    chan_set_stall_timeout(p.ch, STALL_MS);

    /* 1. Idle is not stalled: nobody waits for an answer. */
    pair_run(&p, 800);
    if (p.ch == NULL || p.errors > 0) {
        printf("expected a channel that sent nothing to stay open for 800 ms, got it "
               "closed (%s)\n",
               p.errors ? p.text : "no error reported");
        return 1;
    }

    /* 2. A peer that answers each message within 150 ms is alive, however
     *    long the conversation lasts. */
    for (int i = 0; i < 4; i++) {
        if (pair_send(&p, "ping") == -1)
            return 1;
        pair_run(&p, 150);
        if (write(p.peer, "\"pong\"\n", 7) != 7) {
            printf("expected to answer the channel, got %s\n", strerror(errno));
            return 1;
        }
        pair_run(&p, 50);
    }
    if (p.ch == NULL || p.errors > 0) {
        printf("expected a peer that answers every message after 150 ms to keep the "
               "channel open (timeout %d ms), got it closed (%s)\n",
               STALL_MS, p.errors ? p.text : "no error reported");
        return 1;
    }

    /* 3. A peer that stops answering: we keep sending, it never answers. */
    long long start = (long long)loop_now_ms();
    while (p.ch != NULL && (long long)loop_now_ms() - start < 2000) {
        if (pair_send(&p, "are you there?") == -1)
            return 1;
        pair_run(&p, 150);
    }
    if (pair_expect_closed(&p, start, STALL_MS, "the first unanswered message") == -1)
        return 1;
    if (p.errors != 1 || p.kind != CHAN_ERR_TIMEOUT) {
        printf("expected one on_error of kind CHAN_ERR_TIMEOUT before the close, got %d "
               "errors%s%s\n",
               p.errors, p.errors ? ", the last: " : "", p.text);
        return 1;
    }
    loop_free(p.loop);
    return 0;
}
