/* serve.h: what 06's checks share: start the server from the chapter's
 * folder with one worker and some flags, talk HTTP to it, stop it. Included,
 * not linked: testkit/grade compiles each check as one file, with
 * build/testkit.o (tk_start, tk_connect, ...). Inline, so that a check that
 * uses only some of them is not warned about the rest. */
#ifndef GRADE_SERVE_H
#define GRADE_SERVE_H

#include "testkit.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define HOST "127.0.0.1"

/* Start ./http-shared-port -p 0 -w 1 FLAG VALUE and return its port, or -1
 * after saying why (the flag refused, or no "listening on" line). */
static inline int serve(tk_proc **out, const char *flag, const char *value)
{
    const char *argv[] = {"./http-shared-port", "-p", "0", "-w", "1", flag, value, NULL};
    tk_proc *p = tk_start(argv, NULL);
    *out = p;
    if (p == NULL) {
        printf("expected ./http-shared-port to start, got an error\n");
        return -1;
    }
    int port = tk_wait_listening(p, 10000);
    if (port > 0)
        return port;
    int st = tk_wait_exit(p, 2000);
    tk_drain(p);
    printf("%s", p->out);
    if (st != -1 && WIFEXITED(st))
        printf("expected the server to start with %s %s, got exit status %d\n", flag,
               value, WEXITSTATUS(st));
    else
        printf("expected the server to start with %s %s, got no \"listening on\" line\n",
               flag, value);
    return -1;
}

/* Stop it (SIGTERM, then its whole group) and free it. */
static inline void unserve(tk_proc *p)
{
    if (p == NULL)
        return;
    if (!p->exited)
        tk_stop(p, SIGTERM, 5000);
    tk_free(p);
}

/* Read until EOF, a reset or timeout_ms; returns the bytes read
 * (NUL-terminated) and sets *how to "EOF", "a reset" or "nothing more". */
static inline size_t read_until_end(int fd, char *buf, size_t cap, int timeout_ms,
                                    const char **how)
{
    long long end = tk_now_ms() + timeout_ms;
    size_t got = 0;
    *how = "nothing more";
    while (got + 1 < cap) {
        long long left = end - tk_now_ms();
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pf, 1, (int)left) != 1)
            break;
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n == -1 && errno == EINTR)
            continue;
        if (n == 0)
            *how = "EOF";
        else if (n == -1)
            *how = errno == ECONNRESET ? "a reset" : "an error";
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return got;
}

/* Read one response: its head (lines kept in head[], NUL-terminated) and
 * its body (Content-Length bytes, into body[]). Returns the status, or -1
 * on EOF or timeout. */
static inline int read_response(int fd, char *head, size_t head_cap, char *body,
                                size_t body_cap, int timeout_ms)
{
    char line[1024];
    int status = -1;
    long len = 0;
    size_t used = 0;
    head[0] = body[0] = '\0';
    if (tk_read_line(fd, line, sizeof line, timeout_ms) < 0 ||
        sscanf(line, "HTTP/1.1 %d", &status) != 1)
        return -1;
    for (;;) {
        int n = tk_read_line(fd, line, sizeof line, timeout_ms);
        if (n < 0)
            return -1;
        if (n <= 1) /* "\r" alone: the end of the head */
            break;
        if (strncmp(line, "Content-Length: ", 16) == 0)
            len = atol(line + 16);
        used += (size_t)snprintf(head + used, head_cap - used, "%s\n", line);
        if (used >= head_cap)
            used = head_cap - 1;
    }
    if (len < 0 || (size_t)len >= body_cap ||
        (len > 0 && tk_read_n(fd, body, (size_t)len, timeout_ms) < 0))
        return -1;
    body[len] = '\0';
    return status;
}

/* How many times needle occurs in the string hay. */
static inline int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *at = strstr(hay, needle); at != NULL; at = strstr(at + 1, needle))
        n++;
    return n;
}

#endif
