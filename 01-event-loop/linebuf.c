/*
 * linebuf.c: line framing with a length limit (see linebuf.h).
 *
 * The buffer is one array. Lines are handed out from `start`; when every
 * byte has been consumed the array is freed, and when a new append would
 * not fit, the unconsumed tail is first moved to the front. `scan` remembers
 * how far we already looked for '\n', so a long line that arrives in many
 * small reads is scanned once, not once per read.
 *
 * Run: make test (tests/test_linebuf.c), or make fuzz (fuzz/fuzz_linebuf.c).
 */
#include "linebuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void linebuf_init(linebuf_t *lb, size_t max_line)
{
    memset(lb, 0, sizeof *lb);
    lb->max = max_line;
}

void linebuf_free(linebuf_t *lb)
{
    free(lb->buf);
    size_t max = lb->max;
    linebuf_init(lb, max);
}

size_t linebuf_pending(const linebuf_t *lb)
{
    return lb->len - lb->start;
}

int linebuf_append(linebuf_t *lb, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    if (lb->start > 0 && lb->len + n > lb->cap) {
        /* Slide the unconsumed tail to the front before growing. */
        memmove(lb->buf, lb->buf + lb->start, lb->len - lb->start);
        lb->len -= lb->start;
        lb->start = 0;
    }
    if (lb->len + n > lb->cap) {
        size_t cap = lb->cap ? lb->cap : 256;
        while (cap < lb->len + n)
            cap *= 2;
        char *grown = realloc(lb->buf, cap);
        if (grown == NULL) {
            errno = ENOMEM;
            return -1;
        }
        lb->buf = grown;
        lb->cap = cap;
    }
    memcpy(lb->buf + lb->len, data, n);
    lb->len += n;
    return 0;
}

int linebuf_next(linebuf_t *lb, const char **line, size_t *len)
{
    size_t pending = lb->len - lb->start;
    if (pending == 0) {
        /* Checked before any pointer arithmetic: an idle buffer's buf is
         * NULL, and even NULL + 0 is undefined behaviour in C. */
        if (lb->buf != NULL)
            linebuf_free(lb); /* idle: give the memory back */
        return 0;
    }
    char *from = lb->buf + lb->start;
    char *nl =
        pending > lb->scan ? memchr(from + lb->scan, '\n', pending - lb->scan) : NULL;
    if (nl == NULL) {
        lb->scan = pending;
        /* No newline yet. More than max bytes (or max + the '\r' of a
         * "\r\n" still to come) can never become an acceptable line. */
        if (pending > lb->max + 1 || (pending == lb->max + 1 && from[lb->max] != '\r'))
            return -1;
        return 0;
    }
    size_t n = (size_t)(nl - from);
    size_t consumed = n + 1;
    if (n > 0 && from[n - 1] == '\r')
        n--;
    if (n > lb->max)
        return -1;
    *line = from;
    *len = n;
    lb->start += consumed;
    lb->scan = 0;
    /* The storage is freed on the next call that finds nothing pending,
     * not here: *line still points into it. */
    return 1;
}
