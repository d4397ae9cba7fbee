/* pair.h: what 04's channel checks share: a channel on one end of a
 * socketpair, callbacks that record what they saw, and a raw peer fd on the
 * other end that the check reads and writes as it pleases. Included, not
 * linked: testkit/grade compiles each check as one file (inline: a check
 * need not use every helper). */
#ifndef GRADE_PAIR_H
#define GRADE_PAIR_H

#include "chan.h"

#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct pair {
    loop_t *loop;
    chan_t *ch;        /* NULL once on_disconnect has run (the channel is freed) */
    int peer;          /* the other end, blocking */
    int messages;      /* on_message calls */
    char message[256]; /* the last message, serialized */
    int errors;
    chan_error_kind kind; /* of the last error */
    char text[256];       /* its text */
    long long closed_ms;  /* loop_now_ms() at on_disconnect, 0 before */
};

static void pair_on_message(chan_t *ch, const json_value *msg, int fd, void *user)
{
    (void)ch;
    struct pair *p = user;
    if (fd != -1)
        close(fd);
    p->messages++;
    char *text = json_serialize(msg, NULL);
    snprintf(p->message, sizeof p->message, "%s", text ? text : "?");
    free(text);
}

static void pair_on_error(chan_t *ch, const chan_error *e, void *user)
{
    (void)ch;
    struct pair *p = user;
    p->errors++;
    p->kind = e->kind;
    snprintf(p->text, sizeof p->text, "%s", e->text);
}

static void pair_on_disconnect(chan_t *ch, void *user)
{
    (void)ch;
    struct pair *p = user;
    p->ch = NULL;
    p->closed_ms = (long long)loop_now_ms();
}

/* A channel on a new socketpair; -1 (and says why) if it cannot be made. */
static inline int pair_open(struct pair *p)
{
    memset(p, 0, sizeof *p);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1 ||
        (p->loop = loop_new(LOOP_POLL)) == NULL) {
        printf("expected a socketpair and a loop, got %s\n", strerror(errno));
        return -1;
    }
    chan_callbacks cb = {.on_message = pair_on_message,
                         .on_error = pair_on_error,
                         .on_disconnect = pair_on_disconnect};
    if ((p->ch = chan_open(p->loop, sv[0], &cb, p)) == NULL) {
        printf("expected chan_open to open a channel, got %s\n", strerror(errno));
        return -1;
    }
    p->peer = sv[1];
    return 0;
}

/* Run the loop for ms, or until the channel has closed. */
static inline void pair_run(struct pair *p, int ms)
{
    long long end = (long long)loop_now_ms() + ms;
    long long left;
    while (p->ch != NULL && (left = end - (long long)loop_now_ms()) > 0)
        loop_run_once(p->loop, (int)left);
}

/* Send one small message; -1 (and says why) if chan_send refuses it. */
static inline int pair_send(struct pair *p, const char *text)
{
    json_value *msg = json_new_string(text);
    int r = msg != NULL ? chan_send(p->ch, msg) : -1;
    if (r == -1)
        printf("expected chan_send to take \"%s\", got %s\n", text, strerror(errno));
    json_free(msg);
    return r;
}

/* Read the peer's end until EOF or wait_ms without a byte: the bytes read;
 * in *eof whether the channel's end was closed, in *lines the '\n' read. */
static inline size_t pair_drain_peer(struct pair *p, int wait_ms, int *eof, size_t *lines)
{
    char buf[65536];
    size_t total = 0;
    *eof = 0;
    *lines = 0;
    struct pollfd pfd = {.fd = p->peer, .events = POLLIN};
    while (poll(&pfd, 1, wait_ms) == 1) {
        ssize_t n = read(p->peer, buf, sizeof buf);
        if (n <= 0) {
            *eof = n == 0;
            break;
        }
        for (ssize_t i = 0; i < n; i++)
            *lines += buf[i] == '\n';
        total += (size_t)n;
    }
    return total;
}

/* 0 if on_disconnect came ms after start (from ms - 50 on; the caller
 * waited 2000 ms) and the channel's socket is closed: the peer reads EOF.
 * Otherwise -1, and says what was expected ms after `after_what`. */
static inline int pair_expect_closed(struct pair *p, long long start, int ms,
                                     const char *after_what)
{
    long long after = p->closed_ms - start;
    if (p->ch != NULL || after < ms - 50) {
        printf("expected on_disconnect %d ms after %s (%d-2000 ms), got %s%lld ms\n", ms,
               after_what, ms - 50, p->ch != NULL ? "none after " : "it after ",
               p->ch != NULL ? 2000LL : after);
        return -1;
    }
    int eof;
    size_t lines;
    pair_drain_peer(p, 1000, &eof, &lines);
    if (!eof) {
        printf("expected the channel's socket closed (EOF at the other end), got none\n");
        return -1;
    }
    return 0;
}

#endif
