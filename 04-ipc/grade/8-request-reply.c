/* Exercise 8: chan_request(), Node cluster's seq/ack on our channel. A
 * request goes out with a "seq" number; the peer's reply carries it back as
 * "ack", and reaches the callback given with that request, in whatever
 * order the replies come.
 *
 * hint: add int chan_request(chan_t *ch, const json_value *msg, void (*cb)(chan_t *,
 * const json_value *, void *), void *arg) to chan.h; in chan.c send a copy of msg with
 * "seq" added, keep (seq, cb, arg) in a list, and in handle_line give a message whose
 * "ack" matches one to its callback instead of on_message; README exercise 8
 *
 * link: build/chan.o build/json.o build/net.o build/loop.o build/loop_select.o
 * build/loop_poll.o build/loop_epoll.o
 *
 * On a socketpair whose other end the check holds: three requests
 * {"n":1}, {"n":2}, {"n":3} must arrive there as those objects with a
 * whole-number "seq" each, all different. The check answers in reverse
 * order, {"ack":SEQ,"n":N}: each callback must get its own reply once, and
 * on_message none of them. Then a message whose "ack" matches no pending
 * request (the first one's again: it has had its answer) and a message
 * without "ack" both go to on_message.
 */
#include "pair.h"

#include <limits.h>

struct call {
    int calls;
    long long n; /* the "n" of the reply it got */
};

static void on_reply(chan_t *ch, const json_value *reply, void *arg)
{
    (void)ch;
    struct call *c = arg;
    c->calls++;
    if (json_object_get_int(reply, "n", 0, 100, &c->n) == -1)
        c->n = -1;
}

/* Read one line from the peer's end (within 2 s) into line. */
static int read_line(int fd, char *line, size_t size)
{
    size_t len = 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (len + 1 < size && poll(&pfd, 1, 2000) == 1 && read(fd, line + len, 1) == 1) {
        if (line[len] == '\n') {
            line[len] = '\0';
            return 0;
        }
        len++;
    }
    line[len] = '\0';
    printf("expected a request line at the other end, got \"%s\"\n", line);
    return -1;
}

static int answer(struct pair *p, const char *text)
{
    size_t len = strlen(text);
    if (write(p->peer, text, len) != (ssize_t)len) {
        printf("expected to answer the channel, got %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

int main(void)
{
    struct pair p;
    if (pair_open(&p) == -1)
        return 1;
    struct call calls[3] = {{0}};
    long long seq[3];
    for (int i = 0; i < 3; i++) {
        json_value *msg = json_new_object();
        json_object_set(msg, "n", json_new_number(i + 1));
        if (chan_request(p.ch, msg, on_reply, &calls[i]) == -1) {
            printf("expected chan_request to send {\"n\":%d}, got %s\n", i + 1,
                   strerror(errno));
            return 1;
        }
        json_free(msg);
    }
    pair_run(&p, 50);

    /* What went on the wire: each object, with a seq of its own. */
    for (int i = 0; i < 3; i++) {
        char line[512];
        if (read_line(p.peer, line, sizeof line) == -1)
            return 1;
        json_value *req = json_parse(line, strlen(line), NULL, NULL);
        long long n = 0;
        if (req == NULL || json_object_get_int(req, "n", 0, 100, &n) == -1 ||
            n != i + 1 ||
            json_object_get_int(req, "seq", LLONG_MIN, LLONG_MAX, &seq[i]) == -1) {
            printf("expected request %d as {\"n\":%d,\"seq\":NUMBER}, got %s\n", i + 1,
                   i + 1, line);
            return 1;
        }
        json_free(req);
        for (int j = 0; j < i; j++)
            if (seq[j] == seq[i]) {
                printf("expected a different seq for each pending request, got %lld "
                       "twice\n",
                       seq[i]);
                return 1;
            }
    }

    /* The replies, last request first. */
    for (int i = 2; i >= 0; i--) {
        char reply[128];
        snprintf(reply, sizeof reply, "{\"ack\":%lld,\"n\":%d}\n", seq[i], i + 1);
        if (answer(&p, reply) == -1)
            return 1;
    }
    pair_run(&p, 300);
    for (int i = 0; i < 3; i++)
        if (calls[i].calls != 1 || calls[i].n != i + 1) {
            printf("expected request %d's callback called once with its reply "
                   "{\"ack\":%lld,\"n\":%d}, got %d calls (n %lld)%s%s\n",
                   i + 1, seq[i], i + 1, calls[i].calls, calls[i].n,
                   p.messages ? "; on_message got " : "", p.messages ? p.message : "");
            return 1;
        }
    if (p.messages != 0) {
        printf("expected no reply to reach on_message, got %s\n", p.message);
        return 1;
    }

    /* What is not an answer to a pending request is a message. */
    char again[128];
    snprintf(again, sizeof again, "{\"ack\":%lld,\"n\":1}\n\"hello\"\n", seq[0]);
    if (answer(&p, again) == -1)
        return 1;
    pair_run(&p, 300);
    if (calls[0].calls != 1 || p.messages != 2) {
        printf("expected an answered request's ack again, then \"hello\", at on_message "
               "(2 messages), got %d messages and %d calls of request 1's callback\n",
               p.messages, calls[0].calls);
        return 1;
    }
    chan_close(p.ch);
    close(p.peer);
    loop_free(p.loop);
    return 0;
}
