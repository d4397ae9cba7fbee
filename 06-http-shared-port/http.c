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
#include "json.h" /* json_hex_value, from 04-ipc */

#include <string.h>

enum {
    S_START,         /* before the request line: empty lines are skipped */
    S_START_LF,      /* a CR on such an empty line, LF expected */
    S_METHOD,        /* "GET" */
    S_TARGET_START,  /* after the space, the first byte of the target */
    S_TARGET,        /* "/index.html" */
    S_VERSION,       /* "HTTP/1.1" */
    S_LINE_LF,       /* a CR ended the request line, LF expected */
    S_HEADER_START,  /* a header name begins, or the empty line ends the head */
    S_HEADER_NAME,   /* "Content-Length" */
    S_VALUE_OWS,     /* spaces between the colon and the value */
    S_VALUE,         /* the value, up to the end of the line */
    S_VALUE_LF,      /* a CR ended the header line, LF expected */
    S_END_LF,        /* a CR on the empty line, LF expected */
    S_BODY,          /* Content-Length bytes, or a chunk's, to discard */
    S_CHUNK_SIZE,    /* the hex digits of a chunk's size */
    S_CHUNK_EXT,     /* after them: extensions, up to the CR (ext_state) */
    S_CHUNK_LF,      /* the CR of the size line, LF expected */
    S_CHUNK_CR,      /* the chunk's data is over: CR expected */
    S_CHUNK_DATA_LF, /* ... then LF */
    S_DONE,          /* a whole request: the caller resets before the next */
    S_ERROR          /* refused: req.status says why */
};

/* The headers that decide how a message is framed, whether the connection
 * stays open, or what the client waits for. Every other header is checked
 * for syntax and otherwise ignored. */
enum { H_OTHER, H_HOST, H_CONTENT_LENGTH, H_TRANSFER_ENCODING, H_CONNECTION, H_EXPECT };

/* Sub-states of a Content-Length value. */
enum { CL_EMPTY, CL_DIGITS, CL_TRAILING_SPACE };

/* Sub-states of a Transfer-Encoding value: a comma-separated list of
 * tokens, nothing else (no parameters, no empty elements). */
enum { TE_START, TE_TOKEN, TE_AFTER };

/* Sub-states of an Expect or Host value (a single item, then optional
 * trailing spaces). */
enum { ONE_VALUE, ONE_TRAILING, ONE_BAD };

/* The methods RFC 9110 defines, and PATCH (RFC 5789). */
enum {
    M_UNKNOWN,
    M_GET,
    M_HEAD,
    M_POST,
    M_PUT,
    M_DELETE,
    M_CONNECT,
    M_OPTIONS,
    M_TRACE,
    M_PATCH
};

/* Where in the request target (RFC 9112 3.2). */
enum {
    T_PATH,      /* origin-form "/a/b", or the path of an absolute-form */
    T_QUERY,     /* after '?': not kept */
    T_ASTERISK,  /* "*" (OPTIONS only) */
    T_SCHEME,    /* "http" of "http://host/a" */
    T_SLASH1,    /* "http:" */
    T_SLASH2,    /* "http:/" */
    T_AUTHORITY, /* "http://host:80" */
    T_CONNECT    /* CONNECT's authority-form: refused anyway (405) */
};

/* Where in host[:port] (RFC 3986 3.2.2). */
enum { A_START, A_REG_NAME, A_IP_LITERAL, A_IP_LITERAL_END, A_PORT };

/* Where in a chunk's size line after the digits (RFC 9112 7.1.1):
 *   chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ) */
enum {
    X_SIZE_END,    /* right after the digits */
    X_BWS,         /* spaces, which only a ';' may follow */
    X_NAME_START,  /* after ';' */
    X_NAME,        /* ext-name */
    X_NAME_BWS,    /* spaces after the name: '=' or ';' next */
    X_VALUE_START, /* after '=' */
    X_VALUE_TOKEN, /* ext-val as a token */
    X_QUOTED,      /* ext-val as a quoted-string */
    X_QUOTED_PAIR, /* after a backslash in it */
    X_QUOTED_END   /* after the closing quote */
};

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

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
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

/* ---- host[:port], in a Host value or an absolute-form target ---- */

/* RFC 3986 reg-name: unreserved, pct-encoded (its '%') and sub-delims.
 * No space, '/', '?', '@' or '"': a Host of "a/b" or "u@a" is not a host. */
static int is_reg_name_byte(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("-._~%!$&'()*+,;=", c));
}

/* One byte of host[:port]. Returns 0, or -1 if it cannot be one. */
static int authority_byte(http_parser_t *p, unsigned char c)
{
    switch (p->auth_state) {
    case A_START:
        if (c == '[') {
            p->auth_state = A_IP_LITERAL;
            return 0;
        }
        p->auth_state = A_REG_NAME;
        /* fall through */
    case A_REG_NAME:
        if (c == ':') {
            p->auth_state = A_PORT;
            return 0;
        }
        if (!is_reg_name_byte(c))
            return -1;
        p->auth_host_len++;
        return 0;
    case A_IP_LITERAL: /* "[::1]": hex digits, colons and dots */
        if (c == ']') {
            p->auth_state = A_IP_LITERAL_END;
            return p->auth_host_len > 0 ? 0 : -1;
        }
        if (json_hex_value(c) < 0 && c != ':' && c != '.')
            return -1;
        p->auth_host_len++;
        return 0;
    case A_IP_LITERAL_END:
        if (c != ':')
            return -1;
        p->auth_state = A_PORT;
        return 0;
    default: /* A_PORT: port = *DIGIT */
        return is_digit(c) ? 0 : -1;
    }
}

/* The end of host[:port]: 0 if it is whole, else -1. */
static int authority_end(const http_parser_t *p)
{
    return p->auth_state == A_IP_LITERAL ? -1 : 0;
}

/* ---- the request line ---- */

/* The space after the method: which one is it? Methods are case-sensitive
 * (RFC 9110 9.1): "get" is not GET. One too long for the buffer is none we
 * know. */
static void method_end(http_parser_t *p)
{
    static const struct {
        const char *name;
        int id;
    } known[] = {{"GET", M_GET},         {"HEAD", M_HEAD},     {"POST", M_POST},
                 {"PUT", M_PUT},         {"DELETE", M_DELETE}, {"CONNECT", M_CONNECT},
                 {"OPTIONS", M_OPTIONS}, {"TRACE", M_TRACE},   {"PATCH", M_PATCH}};
    p->method_id = M_UNKNOWN;
    if (p->method_len < sizeof p->method) {
        p->method[p->method_len] = '\0';
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (strcmp(p->method, known[i].name) == 0)
                p->method_id = known[i].id;
    }
    p->req.method = p->method_id == M_GET       ? HTTP_GET
                    : p->method_id == M_HEAD    ? HTTP_HEAD
                    : p->method_id == M_UNKNOWN ? HTTP_UNKNOWN_METHOD
                                                : HTTP_OTHER_METHOD;
}

static void path_byte(http_parser_t *p, unsigned char c)
{
    if (p->req.path_len < HTTP_PATH_MAX)
        p->req.path[p->req.path_len++] = (char)c;
    else
        p->req.path_truncated = 1;
}

/* The first byte of the target says its form (RFC 9112 3.2). */
static int target_start(http_parser_t *p, unsigned char c)
{
    if (p->method_id == M_CONNECT) {
        p->target_state = T_CONNECT;
    } else if (c == '/') {
        p->target_state = T_PATH;
        path_byte(p, c);
    } else if (c == '*') {
        p->target_state = T_ASTERISK;
    } else if (is_alpha(c)) {
        p->target_state = T_SCHEME;
    } else {
        return fail(p, 400);
    }
    return HTTP_PARSE_MORE;
}

/* One more byte of the target. Only the path is kept: the query does not
 * take part in routing, so a long query cannot push "/" out of it. */
static int target_byte(http_parser_t *p, unsigned char c)
{
    switch (p->target_state) {
    case T_PATH:
        if (c == '?')
            p->target_state = T_QUERY;
        else
            path_byte(p, c);
        return HTTP_PARSE_MORE;
    case T_QUERY:
    case T_CONNECT:
        return HTTP_PARSE_MORE;
    case T_ASTERISK:
        return fail(p, 400); /* "*x" */
    case T_SCHEME:
        if (c == ':')
            p->target_state = T_SLASH1;
        else if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.')
            return fail(p, 400);
        return HTTP_PARSE_MORE;
    case T_SLASH1:
    case T_SLASH2:
        /* "a:80" is authority-form, which only CONNECT may use; an
         * absolute-form target has "//" and a host. */
        if (c != '/')
            return fail(p, 400);
        p->target_state = p->target_state == T_SLASH1 ? T_SLASH2 : T_AUTHORITY;
        return HTTP_PARSE_MORE;
    default: /* T_AUTHORITY */
        if (c == '/' || c == '?') {
            /* RFC 9110 4.2.1: an http URI with an empty host is invalid. */
            if (p->auth_host_len == 0 || authority_end(p) == -1)
                return fail(p, 400);
            p->target_state = c == '/' ? T_PATH : T_QUERY;
            if (c == '/')
                path_byte(p, c);
            return HTTP_PARSE_MORE;
        }
        return authority_byte(p, c) == 0 ? HTTP_PARSE_MORE : fail(p, 400);
    }
}

/* The space after the target. */
static int target_end(http_parser_t *p)
{
    switch (p->target_state) {
    case T_ASTERISK:
        return p->method_id == M_OPTIONS ? HTTP_PARSE_MORE : fail(p, 400);
    case T_SCHEME:
    case T_SLASH1:
    case T_SLASH2:
        return fail(p, 400);
    case T_AUTHORITY:
        if (p->auth_host_len == 0 || authority_end(p) == -1)
            return fail(p, 400);
        break;
    default:
        break;
    }
    if (p->req.path_len == 0 && p->target_state != T_CONNECT)
        path_byte(p, '/'); /* "http://host" and "http://host?q" mean "/" */
    return HTTP_PARSE_MORE;
}

/* The end of the request line. */
static int request_line_end(http_parser_t *p)
{
    if (p->version_pos != 8)
        return fail(p, 400); /* "GET /" (HTTP/0.9) or "HTTP/1." */
    if (p->version_major != 1)
        return fail(p, 505);
    p->req.path[p->req.path_len] = '\0';
    p->state = S_HEADER_START;
    return HTTP_PARSE_MORE;
}

/* ---- headers ---- */

/* The colon ended a header name: decide which header it is. */
static int header_named(http_parser_t *p)
{
    if (p->name_len == 0)
        return fail(p, 400);
    p->header = H_OTHER;
    p->value_state = 0;
    p->token_len = 0;
    p->auth_state = A_START;
    p->auth_host_len = 0;
    if (p->name_len >= sizeof p->name || p->in_trailer)
        return HTTP_PARSE_MORE; /* too long to be a header we know, or a trailer:
                                   a trailer never changes the framing */
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
    } else if (strcmp(p->name, "expect") == 0) {
        p->header = H_EXPECT;
    }
    return HTTP_PARSE_MORE;
}

/* Keep a byte of a token (lower case), or note that it is too long to be
 * one we know by making token_len overflow the buffer. */
static void token_byte(http_parser_t *p, unsigned char c)
{
    if (p->token_len < sizeof p->token)
        p->token[p->token_len] = (char)lower(c);
    if (p->token_len <= sizeof p->token)
        p->token_len++;
}

/* Is the token just read `word`? */
static int token_is(http_parser_t *p, const char *word)
{
    if (p->token_len >= sizeof p->token)
        return 0;
    p->token[p->token_len] = '\0';
    return strcmp(p->token, word) == 0;
}

/* A Connection value is a comma-separated list of tokens; only "close" and
 * "keep-alive" matter. */
static void connection_token_end(http_parser_t *p)
{
    if (token_is(p, "close"))
        p->conn_close = 1;
    else if (token_is(p, "keep-alive"))
        p->conn_keep_alive = 1;
    p->token_len = 0;
}

/* A transfer coding's name is complete. The checks on the whole list come
 * at the end of the head, when every Transfer-Encoding line is in. */
static void coding_end(http_parser_t *p)
{
    int chunked = token_is(p, "chunked");
    p->te_codings++;
    p->te_chunked += chunked;
    p->te_last_chunked = chunked;
    p->token_len = 0;
}

/* One byte of a Transfer-Encoding value. Anything but tokens, commas and
 * spaces is refused, parameters included ("chunked;x=1"): this header
 * decides where the request ends, so it is read strictly or not at all. */
static int te_byte(http_parser_t *p, unsigned char c)
{
    int space = c == ' ' || c == '\t';
    switch (p->value_state) {
    case TE_START: /* a coding's first byte, or spaces after a comma */
        if (space && p->te_codings > 0)
            return HTTP_PARSE_MORE;
        if (!is_tchar(c))
            return fail(p, 400); /* ", chunked", "chunked, ,gzip" */
        p->value_state = TE_TOKEN;
        token_byte(p, c);
        return HTTP_PARSE_MORE;
    case TE_TOKEN:
        if (is_tchar(c)) {
            token_byte(p, c);
            return HTTP_PARSE_MORE;
        }
        if (!space && c != ',')
            return fail(p, 400); /* "chunked;x=1", "\"chunked\"" */
        coding_end(p);
        p->value_state = space ? TE_AFTER : TE_START;
        return HTTP_PARSE_MORE;
    default: /* TE_AFTER: spaces after a coding */
        if (space)
            return HTTP_PARSE_MORE;
        if (c != ',')
            return fail(p, 400); /* "chun ked" */
        p->value_state = TE_START;
        return HTTP_PARSE_MORE;
    }
}

/* One byte of a header value (after the leading spaces). */
static int value_byte(http_parser_t *p, unsigned char c)
{
    int space = c == ' ' || c == '\t';
    switch (p->header) {
    case H_CONTENT_LENGTH:
        if (is_digit(c)) {
            if (p->value_state == CL_TRAILING_SPACE)
                return fail(p, 400); /* "1 2" */
            p->value_state = CL_DIGITS;
            /* Saturate rather than overflow: anything past the body limit
             * is refused with 413 at the end of the head anyway. */
            if (p->req.content_length <= HTTP_BODY_MAX)
                p->req.content_length = p->req.content_length * 10 + (c - '0');
            return HTTP_PARSE_MORE;
        }
        if (space && p->value_state != CL_EMPTY) {
            p->value_state = CL_TRAILING_SPACE;
            return HTTP_PARSE_MORE;
        }
        return fail(p, 400); /* "-1", "12abc", "0x10", "5, 5" */
    case H_TRANSFER_ENCODING:
        return te_byte(p, c);
    case H_HOST:
        /* host[:port] and nothing else (RFC 9112 3.2): "a b" or "a/b"
         * name no host, and a server must not guess which one was meant. */
        if (space) {
            p->value_state = ONE_TRAILING;
            return HTTP_PARSE_MORE;
        }
        if (p->value_state == ONE_TRAILING || authority_byte(p, c) == -1)
            return fail(p, 400);
        return HTTP_PARSE_MORE;
    case H_EXPECT:
        /* Only "100-continue" means something; any other expectation is
         * ignored (RFC 9110 10.1.1 allows that, or a 417). */
        if (space) {
            if (p->value_state == ONE_VALUE)
                p->value_state = ONE_TRAILING;
        } else if (p->value_state == ONE_VALUE) {
            token_byte(p, c);
        } else {
            p->value_state = ONE_BAD;
        }
        return HTTP_PARSE_MORE;
    case H_CONNECTION:
        if (c == ',' || space) {
            if (p->token_len > 0)
                connection_token_end(p);
        } else {
            token_byte(p, c);
        }
        return HTTP_PARSE_MORE;
    default:
        return HTTP_PARSE_MORE;
    }
}

/* The end of a header line. */
static int value_end(http_parser_t *p)
{
    switch (p->header) {
    case H_CONTENT_LENGTH:
        if (p->value_state == CL_EMPTY)
            return fail(p, 400); /* "Content-Length:" with nothing */
        break;
    case H_TRANSFER_ENCODING:
        if (p->value_state == TE_START)
            return fail(p, 400); /* empty, or "chunked," */
        if (p->value_state == TE_TOKEN)
            coding_end(p);
        break;
    case H_HOST:
        if (authority_end(p) == -1)
            return fail(p, 400); /* "[::1" */
        break;
    case H_EXPECT:
        if (p->value_state != ONE_BAD && token_is(p, "100-continue"))
            p->expect_continue = 1;
        break;
    case H_CONNECTION:
        if (p->token_len > 0)
            connection_token_end(p);
        break;
    }
    return HTTP_PARSE_MORE;
}

/* ---- the end of the head: framing ---- */

/* A body follows the head: start reading it, after "100 Continue" if the
 * client waits for one (RFC 9110 10.1.1; an HTTP/1.0 client cannot). */
static int body_start(http_parser_t *p, int state)
{
    p->state = state;
    if (p->expect_continue && p->req.version_minor >= 1)
        return HTTP_PARSE_CONTINUE;
    return HTTP_PARSE_MORE;
}

/* The empty line after the headers: every header is known, so this is
 * where framing is decided. The order of the checks matters: a request that
 * is ambiguous about where it ends is refused before anything else. */
static int head_end(http_parser_t *p)
{
    http_request_t *r = &p->req;

    if (p->seen_transfer_encoding) {
        if (p->seen_content_length)
            return fail(p, 400); /* the classic smuggling pair (RFC 9112 6.1) */
        /* RFC 9112 6.1: HTTP/1.0 has no transfer codings, so its framing
         * is faulty; chunked must be the final coding (else the length
         * cannot be known) and is applied once. */
        if (r->version_minor == 0 || !p->te_last_chunked || p->te_chunked != 1)
            return fail(p, 400);
        if (p->te_codings > 1)
            return fail(p, 501); /* "gzip, chunked": no decoder here */
    }
    if (p->seen_host > 1 || (r->version_minor == 1 && p->seen_host == 0))
        return fail(p, 400); /* RFC 9112 3.2: exactly one Host in 1.1 */
    if (r->method == HTTP_UNKNOWN_METHOD)
        return fail(p, 501); /* RFC 9110 9.1 */
    if (r->method == HTTP_OTHER_METHOD)
        return fail(p, 405); /* known, but the resource allows GET and HEAD */
    if (r->content_length > HTTP_BODY_MAX)
        return fail(p, 413);

    if (r->version_minor >= 1)
        r->keep_alive = !p->conn_close;
    else
        r->keep_alive = p->conn_keep_alive && !p->conn_close;

    if (p->seen_transfer_encoding) {
        r->chunked = 1;
        return body_start(p, S_CHUNK_SIZE);
    }
    if (r->content_length > 0) {
        p->body_left = r->content_length;
        return body_start(p, S_BODY);
    }
    p->state = S_DONE;
    return HTTP_PARSE_DONE;
}

/* ---- chunked bodies (RFC 9112 7.1) ---- */

/* One byte of a chunk's size line, from its first digit to its CR. Every
 * byte is counted against HTTP_CHUNK_LINE_MAX: extensions are ignored, but
 * a client must not make us scan them without end. */
static int chunk_line_byte(http_parser_t *p, unsigned char c)
{
    if (c == '\r') {
        p->state = S_CHUNK_LF;
        return HTTP_PARSE_MORE;
    }
    if (++p->chunk_line > HTTP_CHUNK_LINE_MAX)
        return fail(p, 400);

    if (p->state == S_CHUNK_SIZE) {
        int d = json_hex_value(c);
        if (d >= 0) {
            /* The size so far is at most the body limit (else it was
             * refused), so this cannot overflow, whatever the number of
             * digits; leading zeros keep it at 0. */
            p->chunk_size = p->chunk_size * 16 + (uint64_t)d;
            if (p->chunk_size > HTTP_BODY_MAX - p->req.content_length)
                return fail(p, 413); /* the sum of the chunks is too much */
            return HTTP_PARSE_MORE;
        }
        if (p->chunk_line == 1)
            return fail(p, 400); /* no digits: "\r\n", " 5", "-5", "g" */
        p->state = S_CHUNK_EXT;
        p->ext_state = X_SIZE_END;
    }

    int space = c == ' ' || c == '\t';
    switch (p->ext_state) {
    case X_SIZE_END:
    case X_VALUE_TOKEN:
    case X_QUOTED_END:
        if (p->ext_state == X_VALUE_TOKEN && is_tchar(c))
            return HTTP_PARSE_MORE;
        if (c == ';')
            p->ext_state = X_NAME_START;
        else if (space)
            p->ext_state = X_BWS;
        else
            return fail(p, 400); /* "0x5", "5;a=\"x\"y", "5;a@" */
        return HTTP_PARSE_MORE;
    case X_BWS: /* BWS is allowed before a ';', and not before the CRLF */
        if (c == ';')
            p->ext_state = X_NAME_START;
        else if (!space)
            return fail(p, 400);
        return HTTP_PARSE_MORE;
    case X_NAME_START:
        if (space)
            return HTTP_PARSE_MORE;
        if (!is_tchar(c))
            return fail(p, 400);
        p->ext_state = X_NAME;
        return HTTP_PARSE_MORE;
    case X_NAME:
    case X_NAME_BWS:
        if (p->ext_state == X_NAME && is_tchar(c))
            return HTTP_PARSE_MORE;
        if (c == '=')
            p->ext_state = X_VALUE_START;
        else if (c == ';')
            p->ext_state = X_NAME_START;
        else if (space)
            p->ext_state = X_NAME_BWS;
        else
            return fail(p, 400); /* "5;a b" */
        return HTTP_PARSE_MORE;
    case X_VALUE_START:
        if (space)
            return HTTP_PARSE_MORE;
        if (c == '"')
            p->ext_state = X_QUOTED;
        else if (is_tchar(c))
            p->ext_state = X_VALUE_TOKEN;
        else
            return fail(p, 400);
        return HTTP_PARSE_MORE;
    case X_QUOTED: /* qdtext: HTAB, SP, visible ASCII but '"' and '\', obs-text */
        if (c == '"')
            p->ext_state = X_QUOTED_END;
        else if (c == '\\')
            p->ext_state = X_QUOTED_PAIR;
        else if (!is_value_byte(c))
            return fail(p, 400);
        return HTTP_PARSE_MORE;
    default: /* X_QUOTED_PAIR */
        if (!is_value_byte(c))
            return fail(p, 400);
        p->ext_state = X_QUOTED;
        return HTTP_PARSE_MORE;
    }
}

/* The CR of a size line was checked for where it may stand; now the LF. */
static int chunk_line_end(http_parser_t *p)
{
    if (p->chunk_size == 0) {
        /* The last chunk: the trailer section follows, parsed as header
         * lines (and counted against their limits), then an empty line. */
        p->in_trailer = 1;
        p->state = S_HEADER_START;
        return HTTP_PARSE_MORE;
    }
    p->req.content_length += p->chunk_size;
    p->body_left = p->chunk_size;
    p->state = S_BODY;
    return HTTP_PARSE_MORE;
}

/* A size line may end only where the grammar is complete: after the
 * digits, a token value, a quoted value, or an extension's name. */
static int chunk_cr_allowed(const http_parser_t *p)
{
    if (p->state == S_CHUNK_SIZE)
        return p->chunk_line > 0;
    return p->ext_state == X_SIZE_END || p->ext_state == X_VALUE_TOKEN ||
           p->ext_state == X_QUOTED_END || p->ext_state == X_NAME;
}

/* Count a byte of the request line against its limit. */
static int line_byte(http_parser_t *p)
{
    if (++p->line_bytes > HTTP_REQUEST_LINE_MAX)
        return fail(p, 414);
    return HTTP_PARSE_MORE;
}

/* One byte of the head (request line or headers), of a chunk's framing,
 * or of a trailer. */
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
            method_end(p);
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
    case S_TARGET: {
        if (c == ' ' && p->state == S_TARGET) {
            p->state = S_VERSION;
            if (target_end(p) != HTTP_PARSE_MORE)
                return HTTP_PARSE_ERROR;
            return line_byte(p);
        }
        /* Visible ASCII only: no spaces, controls, NUL or raw UTF-8. */
        if (c <= 0x20 || c >= 0x7f)
            return fail(p, 400);
        int r = p->state == S_TARGET_START ? target_start(p, c) : target_byte(p, c);
        if (r != HTTP_PARSE_MORE)
            return r;
        p->state = S_TARGET;
        return line_byte(p);
    }
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
            if (!is_digit(c))
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
        if (c == '\n') {
            /* A bare LF is tolerated in the head (RFC 9112 2.2), but not
             * inside a chunked body, where a proxy that disagrees about
             * it would disagree about where the body ends. */
            if (p->in_trailer)
                return fail(p, 400);
            return head_end(p);
        }
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
            if (c == '\n' && p->in_trailer)
                return fail(p, 400); /* a bare LF in a chunked body */
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
        if (p->in_trailer) {
            p->state = S_DONE; /* the end of the trailer: the request is whole */
            return HTTP_PARSE_DONE;
        }
        return head_end(p);
    case S_CHUNK_SIZE:
    case S_CHUNK_EXT:
        if (c == '\r' && !chunk_cr_allowed(p))
            return fail(p, 400); /* "5 \r\n", "5;\r\n", "5;a=\r\n", "5;a=\"x\r\n" */
        return chunk_line_byte(p, c);
    case S_CHUNK_LF:
        if (c != '\n')
            return fail(p, 400);
        return chunk_line_end(p);
    case S_CHUNK_CR: /* the chunk's data must be followed by CRLF, exactly */
        if (c != '\r')
            return fail(p, 400);
        p->state = S_CHUNK_DATA_LF;
        return HTTP_PARSE_MORE;
    case S_CHUNK_DATA_LF:
        if (c != '\n')
            return fail(p, 400);
        p->state = S_CHUNK_SIZE;
        p->chunk_line = 0;
        p->chunk_size = 0;
        return HTTP_PARSE_MORE;
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
            /* Discard the body, or a chunk's data, in one step, not byte
             * by byte. */
            size_t take = len - i;
            if (take > p->body_left)
                take = (size_t)p->body_left;
            i += take;
            p->body_left -= take;
            if (p->body_left > 0)
                continue;
            if (p->req.chunked) {
                p->state = S_CHUNK_CR;
                continue;
            }
            p->state = S_DONE;
            *used = i;
            return HTTP_PARSE_DONE;
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
