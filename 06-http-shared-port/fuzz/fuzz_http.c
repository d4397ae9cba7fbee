/*
 * fuzz_http.c: libFuzzer harness for the HTTP parser (http.h).
 *
 *   make fuzz                   (needs clang; runs FUZZ_SECONDS, default 30)
 *
 * Each input is parsed as a stream of pipelined requests twice: once in
 * one piece, and once cut into pieces whose sizes come from the input's
 * first byte. Both runs must see the same requests with the same results:
 * the parser's promise that a split never changes the outcome (the result,
 * including HTTP_PARSE_CONTINUE, the status, and where each request and
 * its Content-Length or chunked body ended). Any crash,
 * overflow (ASan) or undefined behaviour (UBSan) is a finding too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EVENTS 256

typedef struct {
    int result;
    int status;
    int method;
    int keep_alive;
    int chunked;
    uint64_t content_length;
    size_t end; /* offset in the input where the request ended */
} event_t;

/* Field by field: memcmp would compare the padding too. */
static int same(const event_t *x, const event_t *y)
{
    return x->result == y->result && x->status == y->status && x->method == y->method &&
           x->keep_alive == y->keep_alive && x->chunked == y->chunked &&
           x->content_length == y->content_length && x->end == y->end;
}

/* Parse data in pieces of `piece` bytes (0: all at once). Returns the
 * number of events recorded. */
static int run(const uint8_t *data, size_t size, size_t piece, event_t *ev)
{
    http_parser_t p;
    size_t off = 0;
    int n = 0;

    http_parser_init(&p);
    while (off < size && n < MAX_EVENTS) {
        size_t len = size - off;
        if (piece > 0 && len > piece)
            len = piece;
        size_t used = 0;
        int r = http_parse(&p, (const char *)data + off, len, &used);
        if (used > len)
            abort();
        off += used;
        if (r == HTTP_PARSE_MORE) {
            if (used != len)
                abort();
            continue;
        }
        if (p.req.path_len > HTTP_PATH_MAX || strlen(p.req.path) > p.req.path_len)
            abort();
        if (r != HTTP_PARSE_ERROR && p.req.content_length > HTTP_BODY_MAX)
            abort(); /* a body over the limit was accepted */
        ev[n++] = (event_t){r,
                            p.req.status,
                            p.req.method,
                            p.req.keep_alive,
                            p.req.chunked,
                            p.req.content_length,
                            off};
        if (r == HTTP_PARSE_ERROR)
            break;
        if (r == HTTP_PARSE_CONTINUE)
            continue; /* the head of a request whose body follows */
        /* Exercise the writer with what was parsed. */
        char out[512];
        http_response_t resp = {.status = 200,
                                .body = "{}",
                                .body_len = 2,
                                .head_only = p.req.method == HTTP_HEAD,
                                .keep_alive = p.req.keep_alive,
                                .client_minor = p.req.version_minor};
        if (http_response_write(out, sizeof out, &resp) == 0)
            abort();
        http_parser_reset(&p);
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static event_t whole[MAX_EVENTS], split[MAX_EVENTS];
    if (size == 0)
        return 0;
    size_t piece = (size_t)(data[0] % 7) + 1;
    data++;
    size--;
    int a = run(data, size, 0, whole);
    int b = run(data, size, piece, split);
    if (a != b)
        abort();
    for (int i = 0; i < a; i++)
        if (!same(&whole[i], &split[i]))
            abort();
    return 0;
}
