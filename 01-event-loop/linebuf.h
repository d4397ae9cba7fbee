/*
 * linebuf.h: cut a byte stream into lines, with a limit on line length.
 *
 * TCP delivers bytes, not lines: one read(2) may return half a line, or
 * three lines and the start of a fourth. A line buffer keeps the bytes that
 * arrived but do not yet end in '\n', and hands out complete lines one by
 * one. Both servers of this chapter (the loop and --threads) frame their
 * input with it, so they speak exactly the same protocol.
 *
 *     linebuf_t lb;
 *     linebuf_init(&lb, LINEBUF_MAX);
 *     ... n = read(fd, tmp, sizeof tmp);  linebuf_append(&lb, tmp, n);
 *     const char *line; size_t len;
 *     while ((r = linebuf_next(&lb, &line, &len)) == 1)
 *         handle(line, len);           // valid until the next linebuf call
 *     if (r == -1) -> the peer sent a line longer than the limit
 *
 * A line ends at '\n'; a '\r' just before it is dropped too, so telnet and
 * nc -C clients work. The limit is on the line without its terminator. It is
 * enforced as soon as the buffered bytes exceed it, without waiting for a
 * newline that may never come: a client cannot make the server buffer more
 * than the limit plus one read.
 *
 * Memory: an empty buffer owns no memory. Storage is allocated when bytes
 * arrive and freed as soon as every byte has been consumed, so an idle
 * connection costs nothing here. That is what keeps 1000 idle connections
 * cheap for the loop server.
 */
#ifndef LINEBUF_H
#define LINEBUF_H

#include <stddef.h>

/* The protocol's limit: a line of up to 64 KiB is served, a longer one
 * closes the connection with an error line. */
#define LINEBUF_MAX 65536

typedef struct linebuf {
    char *buf;    /* NULL while empty */
    size_t start; /* first unconsumed byte */
    size_t len;   /* bytes stored, from buf[0] */
    size_t cap;
    size_t max;  /* longest line accepted */
    size_t scan; /* bytes after start already known to hold no '\n' */
} linebuf_t;

void linebuf_init(linebuf_t *lb, size_t max_line);
/* Release the storage. The buffer may be used again afterwards (empty). */
void linebuf_free(linebuf_t *lb);

/* Append n bytes. Returns 0, or -1 with errno ENOMEM. */
int linebuf_append(linebuf_t *lb, const void *data, size_t n);

/* Take the next complete line. Returns 1 and points *line / *len at it
 * (without '\n' or "\r\n"; not NUL-terminated; valid until the next call on
 * this buffer), 0 if no complete line is buffered yet, or -1 if the line
 * being received is longer than the limit (the buffer is then useless:
 * close the connection). */
int linebuf_next(linebuf_t *lb, const char **line, size_t *len);

/* Bytes received but not yet returned as lines. */
size_t linebuf_pending(const linebuf_t *lb);

#endif
