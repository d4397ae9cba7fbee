/*
 * http.c: the incremental HTTP/1.1 request parser and the response writer
 * declared in http.h.
 *
 * Read http_parse() first: it moves the parser through the states below one
 * byte at a time, and every decision is taken on the byte where it becomes
 * certain. That is what makes a request split at any byte parse exactly as
 * the same request in one piece: nothing depends on where a read ended.
 *
 * There is no I/O here and no allocation: tests/test_http.c drives it with
 * strings, and fuzz/fuzz_http.c with whatever libFuzzer invents.
 */
#include "http.h"

#include <string.h>

enum {
    S_START,        /* before the request line: empty lines are skipped */
    S_START_LF,     /* a CR on such an empty line, LF expected */
    S_METHOD,       /* "GET" */
    S_TARGET_START, /* after the space, the first byte of the target */
    S_TARGET,       /* "/index.html" */
    S_VERSION,      /* "HTTP/1.1" */
    S_LINE_LF,      /* a CR ended the request line, LF expected */
    S_HEADER_START, /* a header name begins, or the empty line ends the head */
    S_HEADER_NAME,  /* "Content-Length" */
    S_VALUE_OWS,    /* spaces between the colon and the value */
    S_VALUE,        /* the value, up to the end of the line */
    S_VALUE_LF,     /* a CR ended the header line, LF expected */
    S_END_LF,       /* a CR on the empty line, LF expected */
    S_BODY,         /* Content-Length bytes to discard */
    S_DONE,         /* a whole request: the caller resets before the next */
    S_ERROR         /* refused: req.status says why */
};

/* The headers that decide how a message is framed or whether the
 * connection stays open. Every other header is checked for syntax and
 * otherwise ignored. */
enum { H_OTHER, H_HOST, H_CONTENT_LENGTH, H_TRANSFER_ENCODING, H_CONNECTION };

/* Sub-states of a Content-Length value. */
enum { CL_EMPTY, CL_DIGITS, CL_TRAILING_SPACE };

#define BLANK_LINES_MAX 8 /* empty lines tolerated before a request line */

void http_parser_init(http_parser_t *p)
{
    memset(p, 0, sizeof *p);
    p->state = S_START;
}

void http_parser_reset(http_parser_t *p)
{
    http_parser_init(p);
}

int http_parser_started(const http_parser_t *p)
{
    return p->state != S_START || p->blank_lines > 0;
}

/* RFC 9110 tchar: the bytes allowed in a method and a header name. */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field values: visible ASCII, space, tab and obs-text (bytes >= 0x80).
 * NUL, DEL and the other control bytes are refused: a NUL in particular
 * would cut the value short in any C code downstream. */
static int is_value_byte(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

static int fail(http_parser_t *p, int status)
{
    p->state = S_ERROR;
    p->req.status = status;
    return HTTP_PARSE_ERROR;
}

/* The colon ended a header name: decide which header it is. */
static int header_named(http_parser_t *p)
{
    if (p->name_len == 0)
        return fail(p, 400);
    p->header = H_OTHER;
    p->value_state = CL_EMPTY;
    p->token_len = 0;
    if (p->name_len >= sizeof p->name)
        return HTTP_PARSE_MORE; /* too long to be a header we know */
    p->name[p->name_len] = '\0';
    if (strcmp(p->name, "host") == 0) {
        p->header = H_HOST;
        p->seen_host++;
    } else if (strcmp(p->name, "content-length") == 0) {
        /* Two Content-Length headers are how one request gets read as two
         * by a proxy and a server that pick different ones: refuse. */
        if (p->seen_content_length)
            return fail(p, 400);
        p->header = H_CONTENT_LENGTH;
        p->seen_content_length = 1;
    } else if (strcmp(p->name, "transfer-encoding") == 0) {
        p->header = H_TRANSFER_ENCODING;
        p->seen_transfer_encoding = 1;
    } else if (strcmp(p->name, "connection") == 0) {
        p->header = H_CONNECTION;
    }
    return HTTP_PARSE_MORE;
}

/* A Connection value is a comma-separated list of tokens; only "close" and
 * "keep-alive" matter. */
static void connection_token_end(http_parser_t *p)
{
    if (p->token_len < sizeof p->token) {
        p->token[p->token_len] = '\0';
        if (strcmp(p->token, "close") == 0)
            p->conn_close = 1;
        else if (strcmp(p->token, "keep-alive") == 0)
            p->conn_keep_alive = 1;
    }
    p->token_len = 0;
}

/* One byte of a header value (after the leading spaces). */
static int value_byte(http_parser_t *p, unsigned char c)
{
    if (p->header == H_CONTENT_LENGTH) {
        if (c >= '0' && c <= '9') {
            if (p->value_state == CL_TRAILING_SPACE)
                return fail(p, 400); /* "1 2" */
            p->value_state = CL_DIGITS;
            /* Saturate rather than overflow: anything past the body limit
             * is refused with 413 at the end of the head anyway. */
            if (p->req.content_length <= HTTP_BODY_MAX)
                p->req.content_length = p->req.content_length * 10 + (c - '0');
            return HTTP_PARSE_MORE;
        }
        if ((c == ' ' || c == '\t') && p->value_state != CL_EMPTY) {
            p->value_state = CL_TRAILING_SPACE;
            return HTTP_PARSE_MORE;
        }
        return fail(p, 400); /* "-1", "12abc", "0x10", "5, 5" */
    }
    if (p->header == H_CONNECTION) {
        if (c == ',' || c == ' ' || c == '\t') {
            if (p->token_len > 0)
                connection_token_end(p);
        } else if (p->token_len < sizeof p->token) {
            p->token[p->token_len++] = (char)lower(c);
        }
    }
    return HTTP_PARSE_MORE;
}

/* The end of a header line. */
static int value_end(http_parser_t *p)
{
    if (p->header == H_CONTENT_LENGTH && p->value_state == CL_EMPTY)
        return fail(p, 400); /* "Content-Length:" with nothing */
    if (p->header == H_CONNECTION && p->token_len > 0)
        connection_token_end(p);
    return HTTP_PARSE_MORE;
}

/* The end of the request line. */
static int request_line_end(http_parser_t *p)
{
    if (p->version_pos != 8)
        return fail(p, 400); /* "GET /" (HTTP/0.9) or "HTTP/1." */
    if (p->version_major != 1)
        return fail(p, 505);
    /* Methods are case-sensitive (RFC 9110 9.1): "get" is not GET. A
     * method too long for the buffer is none we serve. */
    p->req.method = HTTP_OTHER_METHOD;
    if (p->method_len < sizeof p->method) {
        p->method[p->method_len] = '\0';
        if (strcmp(p->method, "GET") == 0)
            p->req.method = HTTP_GET;
        else if (strcmp(p->method, "HEAD") == 0)
            p->req.method = HTTP_HEAD;
    }
    p->req.path[p->req.path_len] = '\0';
    p->state = S_HEADER_START;
    return HTTP_PARSE_MORE;
}

/* The empty line after the headers: every header is known, so this is
 * where framing is decided. The order of the checks matters: a request that
 * is ambiguous about where it ends is refused before anything else. */
static int head_end(http_parser_t *p)
{
    http_request_t *r = &p->req;

    if (p->seen_transfer_encoding && p->seen_content_length)
        return fail(p, 400); /* the classic smuggling pair (RFC 9112 6.1) */
    if (p->seen_host > 1 || (r->version_minor == 1 && p->seen_host == 0))
        return fail(p, 400); /* RFC 9112 3.2: exactly one Host in 1.1 */
    if (p->seen_transfer_encoding)
        return fail(p, 501); /* chunked bodies are not implemented */
    if (r->method == HTTP_OTHER_METHOD)
        return fail(p, 405);
    if (r->content_length > HTTP_BODY_MAX)
        return fail(p, 413);

    if (r->version_minor >= 1)
        r->keep_alive = !p->conn_close;
    else
        r->keep_alive = p->conn_keep_alive && !p->conn_close;

    if (r->content_length > 0) {
        p->body_left = r->content_length;
        p->state = S_BODY;
        return HTTP_PARSE_MORE;
    }
    p->state = S_DONE;
    return HTTP_PARSE_DONE;
}

/* Count a byte of the request line against its limit. */
static int line_byte(http_parser_t *p)
{
    if (++p->line_bytes > HTTP_REQUEST_LINE_MAX)
        return fail(p, 414);
    return HTTP_PARSE_MORE;
}

/* One byte of the head (request line or headers). */
static int step(http_parser_t *p, unsigned char c)
{
    /* Header lines count against their limit, terminators included. */
    if (p->state >= S_HEADER_START && p->state <= S_VALUE_LF &&
        ++p->header_bytes > HTTP_HEADERS_MAX)
        return fail(p, 431);

    switch (p->state) {
    case S_START:
        if (c == '\r' || c == '\n') {
            if (++p->blank_lines > BLANK_LINES_MAX)
                return fail(p, 400);
            if (c == '\r')
                p->state = S_START_LF;
            return HTTP_PARSE_MORE;
        }
        /* This byte is the method's first. */
        p->state = S_METHOD;
        /* fall through */
    case S_METHOD:
        if (c == ' ') {
            if (p->method_len == 0)
                return fail(p, 400);
            p->state = S_TARGET_START;
            return line_byte(p);
        }
        if (!is_tchar(c))
            return fail(p, 400);
        if (p->method_len < sizeof p->method)
            p->method[p->method_len] = (char)c;
        p->method_len++;
        return line_byte(p);
    case S_START_LF:
        if (c != '\n')
            return fail(p, 400);
        p->state = S_START;
        return HTTP_PARSE_MORE;
    case S_TARGET_START:
    case S_TARGET:
        if (c == ' ' && p->state == S_TARGET) {
            p->state = S_VERSION;
            return line_byte(p);
        }
        /* Visible ASCII only: no spaces, controls, NUL or raw UTF-8. */
        if (c <= 0x20 || c >= 0x7f)
            return fail(p, 400);
        p->state = S_TARGET;
        if (p->req.path_len < HTTP_PATH_MAX)
            p->req.path[p->req.path_len++] = (char)c;
        else
            p->req.path_truncated = 1;
        return line_byte(p);
    case S_VERSION:
        if (c == '\r' || c == '\n') {
            int r = request_line_end(p);
            if (r == HTTP_PARSE_MORE && c == '\r')
                p->state = S_LINE_LF;
            return r;
        }
        if (p->version_pos < 5) {
            if (c != (unsigned char)"HTTP/"[p->version_pos])
                return fail(p, 400);
        } else if (p->version_pos == 5 || p->version_pos == 7) {
            if (c < '0' || c > '9')
                return fail(p, 400);
            if (p->version_pos == 5)
                p->version_major = c - '0';
            else
                p->req.version_minor = c > '0' ? 1 : 0; /* 1.x answers as 1.1 */
        } else if (p->version_pos == 6) {
            if (c != '.')
                return fail(p, 400);
        } else {
            return fail(p, 400); /* "HTTP/1.10", "HTTP/1.1 " */
        }
        p->version_pos++;
        return line_byte(p);
    case S_LINE_LF:
    case S_VALUE_LF:
        if (c != '\n')
            return fail(p, 400); /* a bare CR */
        p->state = S_HEADER_START;
        return HTTP_PARSE_MORE;
    case S_HEADER_START:
        if (c == '\r') {
            p->state = S_END_LF;
            return HTTP_PARSE_MORE;
        }
        if (c == '\n')
            return head_end(p);
        if (c == ' ' || c == '\t')
            return fail(p, 400); /* obs-fold: RFC 9112 5.2 lets us refuse */
        if (++p->header_count > HTTP_HEADER_COUNT_MAX)
            return fail(p, 431);
        p->name_len = 0;
        /* This byte is the name's first. */
        p->state = S_HEADER_NAME;
        /* fall through */
    case S_HEADER_NAME:
        if (c == ':') {
            p->state = S_VALUE_OWS;
            return header_named(p);
        }
        /* Anything but a tchar, a space before the colon included, is a
         * 400 (RFC 9112 5.1): lenient parsing here is a smuggling vector. */
        if (!is_tchar(c))
            return fail(p, 400);
        if (p->name_len < sizeof p->name)
            p->name[p->name_len] = (char)lower(c);
        p->name_len++;
        return HTTP_PARSE_MORE;
    case S_VALUE_OWS:
        if (c == ' ' || c == '\t')
            return HTTP_PARSE_MORE;
        p->state = S_VALUE;
        /* fall through */
    case S_VALUE:
        if (c == '\r' || c == '\n') {
            int r = value_end(p);
            if (r == HTTP_PARSE_MORE)
                p->state = c == '\r' ? S_VALUE_LF : S_HEADER_START;
            return r;
        }
        if (!is_value_byte(c))
            return fail(p, 400);
        return value_byte(p, c);
    case S_END_LF:
        if (c != '\n')
            return fail(p, 400);
        return head_end(p);
    default:
        return fail(p, 400);
    }
}

int http_parse(http_parser_t *p, const char *data, size_t len, size_t *used)
{
    size_t i = 0;

    if (p->state == S_ERROR || p->state == S_DONE) {
        *used = 0;
        return p->state == S_ERROR ? HTTP_PARSE_ERROR : HTTP_PARSE_DONE;
    }
    while (i < len) {
        if (p->state == S_BODY) {
            /* Discard the body in one step, not byte by byte. */
            size_t take = len - i;
            if (take > p->body_left)
                take = (size_t)p->body_left;
            i += take;
            p->body_left -= take;
            if (p->body_left == 0) {
                p->state = S_DONE;
                *used = i;
                return HTTP_PARSE_DONE;
            }
            continue;
        }
        int r = step(p, (unsigned char)data[i++]);
        if (r != HTTP_PARSE_MORE) {
            *used = i;
            return r;
        }
    }
    *used = i;
    return HTTP_PARSE_MORE;
}

/* The statuses this server sends, and no others: a slow client is simply
 * closed (no 408), and nothing here can fail with a 5xx but 501 and 505. */
const char *http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* IMF-fixdate by hand: strftime's %a and %b follow the locale, and HTTP
 * dates are always English. */
void http_date_format(time_t t, char out[HTTP_DATE_LEN + 1])
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL)
        memset(&tm, 0, sizeof tm);
    int year = tm.tm_year + 1900;
    char *o = out;
    memcpy(o, days[tm.tm_wday % 7], 3);
    o += 3;
    *o++ = ',';
    *o++ = ' ';
    *o++ = (char)('0' + tm.tm_mday / 10);
    *o++ = (char)('0' + tm.tm_mday % 10);
    *o++ = ' ';
    memcpy(o, months[tm.tm_mon % 12], 3);
    o += 3;
    *o++ = ' ';
    *o++ = (char)('0' + year / 1000 % 10);
    *o++ = (char)('0' + year / 100 % 10);
    *o++ = (char)('0' + year / 10 % 10);
    *o++ = (char)('0' + year % 10);
    *o++ = ' ';
    *o++ = (char)('0' + tm.tm_hour / 10);
    *o++ = (char)('0' + tm.tm_hour % 10);
    *o++ = ':';
    *o++ = (char)('0' + tm.tm_min / 10);
    *o++ = (char)('0' + tm.tm_min % 10);
    *o++ = ':';
    *o++ = (char)('0' + tm.tm_sec / 10);
    *o++ = (char)('0' + tm.tm_sec % 10);
    memcpy(o, " GMT", 5); /* with the NUL */
}

const char *http_date_get(http_date_t *d, time_t now)
{
    if (d->formats == 0 || d->second != now) {
        http_date_format(now, d->text);
        d->second = now;
        d->formats++;
    }
    return d->text;
}

/* The writer appends into a bounded buffer; `ok` turns 0 on overflow. */
typedef struct {
    char *at, *end;
    int ok;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (!o->ok || (size_t)(o->end - o->at) < n) {
        o->ok = 0;
        return;
    }
    memcpy(o->at, s, n);
    o->at += n;
}

static void put_str(out_t *o, const char *s)
{
    put(o, s, strlen(s));
}

static void put_uint(out_t *o, uint64_t v)
{
    char digits[24];
    size_t n = sizeof digits;
    do {
        digits[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    put(o, digits + n, sizeof digits - n);
}

size_t http_response_write(char *buf, size_t cap, const http_response_t *r)
{
    out_t o = {buf, buf + cap, 1};

    /* A server answers with its own version, whatever the client spoke. */
    put_str(&o, "HTTP/1.1 ");
    put_uint(&o, (uint64_t)r->status);
    put(&o, " ", 1);
    put_str(&o, http_reason(r->status));
    put(&o, "\r\n", 2);
    if (r->date) {
        put_str(&o, "Date: ");
        put(&o, r->date, HTTP_DATE_LEN);
        put(&o, "\r\n", 2);
    }
    if (r->content_type) {
        put_str(&o, "Content-Type: ");
        put_str(&o, r->content_type);
        put(&o, "\r\n", 2);
    }
    /* HEAD gets the Content-Length that GET would have (RFC 9110 9.3.2). */
    put_str(&o, "Content-Length: ");
    put_uint(&o, r->body_len);
    put(&o, "\r\n", 2);
    if (r->allow) {
        put_str(&o, "Allow: ");
        put_str(&o, r->allow);
        put(&o, "\r\n", 2);
    }
    if (!r->keep_alive)
        put_str(&o, "Connection: close\r\n");
    else if (r->client_minor == 0)
        put_str(&o, "Connection: keep-alive\r\n"); /* 1.0 closes unless told */
    put(&o, "\r\n", 2);
    if (!r->head_only && r->body_len > 0)
        put(&o, r->body, r->body_len);
    return o.ok ? (size_t)(o.at - buf) : 0;
}
