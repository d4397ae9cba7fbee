/*
 * http.h: an incremental HTTP/1.1 request parser and a response writer.
 *
 * This is the HTTP half of chapter 06. The post's worker hands each socket to
 * Node's http module; here the worker feeds the bytes it reads to this parser
 * and writes the responses this module formats. The module does no I/O at
 * all, so its tests can feed it any byte sequence, split anywhere.
 *
 * The parser is a byte-at-a-time state machine (the design of nginx's and of
 * Node's own llhttp parser). It never needs the whole request in memory: it
 * keeps only what it must decide on (the method, the first bytes of the
 * path, the version and the few headers that change framing), so a request
 * may arrive split at any byte, and a connection needs no input buffer of
 * its own. Typical use, once per read(2):
 *
 *   size_t off = 0;
 *   while (off < n) {
 *       size_t used;
 *       int r = http_parse(&conn->parser, buf + off, n - off, &used);
 *       off += used;
 *       if (r == HTTP_PARSE_MORE) break;                  // wait for more bytes
 *       if (r == HTTP_PARSE_ERROR) { refuse(conn->parser.req.status); break; }
 *       if (r == HTTP_PARSE_CONTINUE) { say(HTTP_CONTINUE); continue; }
 *       answer(&conn->parser.req);                        // HTTP_PARSE_DONE
 *       if (!conn->parser.req.keep_alive) break;          // then close
 *       http_parser_reset(&conn->parser);                 // next pipelined request
 *   }
 *
 * What it accepts (RFC 9112):
 *   - a request line and headers split across reads at any byte;
 *   - lines ending in CRLF or in a bare LF, and empty lines before a request;
 *   - HTTP/1.1 (keep-alive unless "Connection: close") and HTTP/1.0
 *     (keep-alive only with "Connection: keep-alive");
 *   - targets in origin-form ("/a?b", the path kept, the query not) and
 *     absolute-form ("http://host/a", the path "/a" kept);
 *   - request bodies with Content-Length or "Transfer-Encoding: chunked"
 *     (chunk extensions and trailers parsed and ignored), which it reads and
 *     discards; with "Expect: 100-continue" it returns HTTP_PARSE_CONTINUE
 *     at the end of the head, so that the caller says "100 Continue"
 *     before the client sends the body (RFC 9110 10.1.1);
 *   - pipelined requests: it stops at the end of each one and says how many
 *     bytes it used, so the caller answers in order and parses the rest.
 *
 * What it refuses, setting req.status (the caller answers and then closes):
 *   400  malformed syntax, NUL or other control bytes, obs-fold, a space
 *        before the colon, HTTP/1.1 without exactly one Host, a Host that
 *        is not host[:port], a target in no form the method allows (an
 *        absolute-form without a host, authority-form but for CONNECT,
 *        "*" but for OPTIONS), a chunked body that breaks RFC 9112 7.1
 *        in any way (bare LF, spaces after the size, an extension that is
 *        not name[=value], a chunk longer than its size, a size line over
 *        HTTP_CHUNK_LINE_MAX), and the request smuggling guard:
 *        Content-Length together with Transfer-Encoding, a repeated
 *        Content-Length, or one that is empty, negative or not a number,
 *        a Transfer-Encoding whose last coding is not chunked, that names
 *        chunked twice, that is not a clean comma-separated token list
 *        ("chunked, identity", "xchunked", ", chunked", "chunked;x=1"),
 *        or that comes in an HTTP/1.0 request;
 *   405  a method RFC 9110 defines, other than GET or HEAD (the caller
 *        adds "Allow: GET, HEAD");
 *   413  a Content-Length, or a sum of chunk sizes, over HTTP_BODY_MAX,
 *        refused at the size that crosses it;
 *   414  a request line over HTTP_REQUEST_LINE_MAX bytes;
 *   431  header lines (and trailer lines) over HTTP_HEADERS_MAX bytes in
 *        total, or more than HTTP_HEADER_COUNT_MAX of them;
 *   501  a method it does not know ("get", "BREW"), and a coding before
 *        chunked ("gzip, chunked": it decodes none);
 *   505  an HTTP major version other than 1.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Limits, as the issue for this chapter sets them (nginx's defaults are of
 * the same order: 8 KiB buffers for long lines, 1 MiB of body). */
#define HTTP_REQUEST_LINE_MAX 8192  /* bytes before the line's end, else 414 */
#define HTTP_HEADERS_MAX 16384      /* bytes of header lines in total, else 431 */
#define HTTP_HEADER_COUNT_MAX 100   /* header lines, else 431 */
#define HTTP_BODY_MAX (1024 * 1024) /* Content-Length we will read, else 413 */
#define HTTP_PATH_MAX 128           /* bytes of the target's path kept for routing */
#define HTTP_CHUNK_LINE_MAX 1024    /* bytes of a chunk's size line, else 400 */

/* GET and HEAD are served. HTTP_OTHER_METHOD is a method RFC 9110 defines
 * (or PATCH) that this server knows but refuses (405); anything else is
 * HTTP_UNKNOWN_METHOD (501). */
typedef enum {
    HTTP_GET,
    HTTP_HEAD,
    HTTP_OTHER_METHOD,
    HTTP_UNKNOWN_METHOD
} http_method_t;

/* What the parser learned about one request. Valid after HTTP_PARSE_DONE;
 * after HTTP_PARSE_ERROR only `status` (and what was parsed so far) is. */
typedef struct http_request {
    http_method_t method;
    int version_minor;            /* 0 for HTTP/1.0, 1 for HTTP/1.1 (and 1.x) */
    int keep_alive;               /* 1 if the connection may serve another request */
    char path[HTTP_PATH_MAX + 1]; /* the target's path, NUL-terminated: no query,
                                     and "/x" for "http://host/x" */
    size_t path_len;
    int path_truncated;      /* the path was longer than HTTP_PATH_MAX */
    int chunked;             /* the body came with Transfer-Encoding: chunked */
    uint64_t content_length; /* body bytes (read and discarded); for a chunked
                                body, the sum of its chunks so far */
    int status;              /* the refusal after HTTP_PARSE_ERROR, else 0 */
} http_request_t;

/* The parser's state. Plain data: no allocation, no pointers, so a
 * connection embeds one and http_parser_reset() is a cheap memset. */
typedef struct http_parser {
    int state;
    size_t line_bytes;   /* bytes of the request line so far */
    size_t header_bytes; /* bytes of header (and trailer) lines so far */
    int header_count;
    int blank_lines; /* empty lines skipped before the request line */
    char method[8];  /* enough to recognise the methods RFC 9110 defines */
    size_t method_len;
    int method_id;    /* which one (see http.c) */
    int target_state; /* which form of request target, how far in (http.c) */
    int auth_state;   /* host[:port] of a Host value or an absolute-form target */
    size_t auth_host_len;
    int version_pos; /* position inside "HTTP/x.y" */
    int version_major;
    /* the header being parsed */
    char name[24]; /* its name, if short enough to be one we know */
    size_t name_len;
    int header;      /* which known header (see http.c), or none */
    int value_state; /* per-header sub-state while scanning the value */
    char token[16];  /* the current token of a Connection, Transfer-Encoding
                        or Expect value */
    size_t token_len;
    /* what the headers said */
    int seen_host, seen_content_length, seen_transfer_encoding;
    int conn_close, conn_keep_alive;
    int te_codings;      /* transfer codings listed, over all TE lines */
    int te_chunked;      /* how many of them were "chunked" */
    int te_last_chunked; /* the last one was */
    int expect_continue; /* "Expect: 100-continue" */
    /* the body */
    uint64_t body_left; /* bytes still to discard: the body, or this chunk */
    int in_trailer;     /* header states are parsing a chunked body's trailer */
    int ext_state;      /* where in a chunk's size line */
    size_t chunk_line;  /* bytes of the chunk's size line so far */
    uint64_t chunk_size;
    http_request_t req;
} http_parser_t;

enum {
    HTTP_PARSE_MORE = 0,    /* every byte was used; feed the next read */
    HTTP_PARSE_DONE = 1,    /* one whole request (and its body) was parsed */
    HTTP_PARSE_ERROR = -1,  /* refuse with req.status, then close */
    HTTP_PARSE_CONTINUE = 2 /* the head asked "Expect: 100-continue" and a body
                               follows: send "HTTP/1.1 100 Continue", then go
                               on feeding */
};

/* Make a parser ready for the first request of a connection. */
void http_parser_init(http_parser_t *p);
/* Ready for the next request on the same connection (after DONE). */
void http_parser_reset(http_parser_t *p);
/* Feed len bytes. Sets *used to how many were consumed: all of them for
 * MORE; up to the end of the request for DONE (the rest belongs to the next
 * pipelined request); up to the offending byte for ERROR. Once it returned
 * ERROR it keeps returning ERROR. */
int http_parse(http_parser_t *p, const char *data, size_t len, size_t *used);
/* True if the request has begun (some byte of it was seen): a connection
 * with a started request is "reading headers", not "idle". */
int http_parser_started(const http_parser_t *p);

/* The interim response that HTTP_PARSE_CONTINUE asks for. */
#define HTTP_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/* The reason phrase of a status code ("OK", "Not Found", ...). */
const char *http_reason(int status);

/* The Date header's value (RFC 9110 IMF-fixdate, 29 characters), cached:
 * http_date_get() formats it only when the second changes, so a server
 * answering 100,000 requests a second formats it once a second. */
#define HTTP_DATE_LEN 29
typedef struct http_date {
    time_t second; /* the second that text[] shows */
    char text[HTTP_DATE_LEN + 1];
    unsigned long formats; /* how many times it was formatted */
} http_date_t;
void http_date_format(time_t t, char out[HTTP_DATE_LEN + 1]);
const char *http_date_get(http_date_t *d, time_t now);

/* One response to write. */
typedef struct http_response {
    int status;
    const char *content_type; /* NULL: no Content-Type header */
    const char *body;         /* may be NULL when body_len is 0 */
    size_t body_len;
    int head_only;     /* HEAD: the headers (with the body's
                          Content-Length) but not the body */
    int keep_alive;    /* 0: "Connection: close" */
    int client_minor;  /* the request's HTTP/1.x: a 1.0 client that
                          keeps alive is told "Connection: keep-alive" */
    const char *date;  /* the Date value, or NULL for none */
    const char *allow; /* an Allow header's value (405), or NULL */
} http_response_t;

/* Format r into buf. Returns the bytes written, or 0 if it does not fit in
 * cap (nothing useful is left in buf then). No allocation, no stdio. */
size_t http_response_write(char *buf, size_t cap, const http_response_t *r);

#endif
