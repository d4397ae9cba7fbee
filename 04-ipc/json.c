/*
 * json.c: a strict RFC 8259 parser and a compact serializer (see json.h).
 *
 * Read it in three parts:
 *   1. values: constructors, json_free, json_clone, lookups;
 *   2. the parser: a recursive-descent parser over a byte range, one function
 *      per grammar rule (value, object, array, string, number, literal). The
 *      first error stops everything and records the offset and the reason;
 *   3. the serializer: appends to a growing buffer. Numbers are written the
 *      way JavaScript's Number.prototype.toString writes them, so a C peer
 *      produces byte-for-byte what JSON.stringify would.
 *
 * The unit tests are tests/test_json.c; fuzz/fuzz_json.c feeds the parser
 * random bytes and checks that whatever parses also survives a round trip.
 */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- 1. values ------------------------------------------------------------ */

static json_value *new_value(json_type t)
{
    json_value *v = calloc(1, sizeof *v);
    if (v != NULL)
        v->type = t;
    return v;
}

json_value *json_new_null(void)
{
    return new_value(JSON_NULL);
}

json_value *json_new_bool(int b)
{
    json_value *v = new_value(JSON_BOOL);
    if (v != NULL)
        v->u.boolean = b ? 1 : 0;
    return v;
}

json_value *json_new_number(double n)
{
    json_value *v = new_value(JSON_NUMBER);
    if (v != NULL)
        v->u.number = n;
    return v;
}

json_value *json_new_string_n(const char *s, size_t len)
{
    json_value *v = new_value(JSON_STRING);
    if (v == NULL)
        return NULL;
    v->u.string.ptr = malloc(len + 1);
    if (v->u.string.ptr == NULL) {
        free(v);
        return NULL;
    }
    if (len > 0)
        memcpy(v->u.string.ptr, s, len);
    v->u.string.ptr[len] = '\0';
    v->u.string.len = len;
    return v;
}

json_value *json_new_string(const char *s)
{
    return json_new_string_n(s, strlen(s));
}

json_value *json_new_array(void)
{
    return new_value(JSON_ARRAY);
}

json_value *json_new_object(void)
{
    return new_value(JSON_OBJECT);
}

void json_free(json_value *v)
{
    if (v == NULL)
        return;
    switch (v->type) {
    case JSON_STRING:
        free(v->u.string.ptr);
        break;
    case JSON_ARRAY:
        for (size_t i = 0; i < v->u.array.len; i++)
            json_free(v->u.array.items[i]);
        free(v->u.array.items);
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < v->u.object.len; i++) {
            free(v->u.object.items[i].key);
            json_free(v->u.object.items[i].value);
        }
        free(v->u.object.items);
        break;
    default:
        break;
    }
    free(v);
}

int json_array_push(json_value *arr, json_value *item)
{
    if (arr == NULL || arr->type != JSON_ARRAY || item == NULL) {
        json_free(item);
        return -1;
    }
    if (arr->u.array.len == arr->u.array.cap) {
        size_t cap = arr->u.array.cap ? arr->u.array.cap * 2 : 4;
        json_value **items = realloc(arr->u.array.items, cap * sizeof *items);
        if (items == NULL) {
            json_free(item);
            return -1;
        }
        arr->u.array.items = items;
        arr->u.array.cap = cap;
    }
    arr->u.array.items[arr->u.array.len++] = item;
    return 0;
}

/* Append a member whose key is already a malloc'd string; takes ownership of
 * both key and val, also on failure. Shared by json_object_set and the
 * parser. */
static int object_append(json_value *obj, char *key, size_t key_len, json_value *val)
{
    if (obj->u.object.len == obj->u.object.cap) {
        size_t cap = obj->u.object.cap ? obj->u.object.cap * 2 : 4;
        json_member *items = realloc(obj->u.object.items, cap * sizeof *items);
        if (items == NULL) {
            free(key);
            json_free(val);
            return -1;
        }
        obj->u.object.items = items;
        obj->u.object.cap = cap;
    }
    obj->u.object.items[obj->u.object.len++] =
        (json_member){.key = key, .key_len = key_len, .value = val};
    return 0;
}

int json_object_set(json_value *obj, const char *key, json_value *val)
{
    if (obj == NULL || obj->type != JSON_OBJECT || key == NULL || val == NULL) {
        json_free(val);
        return -1;
    }
    size_t len = strlen(key);
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        json_free(val);
        return -1;
    }
    memcpy(copy, key, len + 1);
    return object_append(obj, copy, len, val);
}

const json_value *json_object_get(const json_value *obj, const char *key)
{
    if (obj == NULL || obj->type != JSON_OBJECT || key == NULL)
        return NULL;
    size_t len = strlen(key);
    /* From the end: with duplicate keys the last one wins, as in JSON.parse. */
    for (size_t i = obj->u.object.len; i-- > 0;) {
        const json_member *m = &obj->u.object.items[i];
        if (m->key_len == len && memcmp(m->key, key, len) == 0)
            return m->value;
    }
    return NULL;
}

const char *json_object_get_string(const json_value *obj, const char *key)
{
    const json_value *v = json_object_get(obj, key);
    return v != NULL && v->type == JSON_STRING ? v->u.string.ptr : NULL;
}

int json_as_int(const json_value *v, long long min, long long max, long long *out)
{
    if (v == NULL || v->type != JSON_NUMBER || min > max) {
        errno = EINVAL;
        return -1;
    }
    double d = v->u.number;
    if (isnan(d)) {
        errno = EDOM;
        return -1;
    }
    /* Converting a double to an integer type that cannot hold its integer
     * part is undefined (C11 6.3.1.4), so the range test comes before the
     * cast. -2^63 and 2^63 are exact doubles, and every double in between
     * has an integer part a long long can hold. */
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) {
        errno = ERANGE;
        return -1;
    }
    long long n = (long long)d; /* truncates toward zero */
    if ((double)n != d) {
        errno = EDOM; /* it had a fraction */
        return -1;
    }
    if (n < min || n > max) {
        errno = ERANGE;
        return -1;
    }
    *out = n;
    return 0;
}

int json_object_get_int(const json_value *obj, const char *key, long long min,
                        long long max, long long *out)
{
    const json_value *v = json_object_get(obj, key);
    if (v == NULL) {
        errno = ENOENT;
        return -1;
    }
    return json_as_int(v, min, max, out);
}

json_value *json_clone(const json_value *v)
{
    if (v == NULL)
        return NULL;
    switch (v->type) {
    case JSON_NULL:
        return json_new_null();
    case JSON_BOOL:
        return json_new_bool(v->u.boolean);
    case JSON_NUMBER:
        return json_new_number(v->u.number);
    case JSON_STRING:
        return json_new_string_n(v->u.string.ptr, v->u.string.len);
    case JSON_ARRAY: {
        json_value *a = json_new_array();
        for (size_t i = 0; a != NULL && i < v->u.array.len; i++) {
            if (json_array_push(a, json_clone(v->u.array.items[i])) == -1) {
                json_free(a);
                a = NULL;
            }
        }
        return a;
    }
    case JSON_OBJECT: {
        json_value *o = json_new_object();
        for (size_t i = 0; o != NULL && i < v->u.object.len; i++) {
            const json_member *m = &v->u.object.items[i];
            char *key = malloc(m->key_len + 1);
            json_value *val = json_clone(m->value);
            if (key == NULL || val == NULL) {
                free(key);
                json_free(val);
                json_free(o);
                return NULL;
            }
            memcpy(key, m->key, m->key_len + 1);
            if (object_append(o, key, m->key_len, val) == -1) {
                json_free(o); /* object_append freed key and val */
                return NULL;
            }
        }
        return o;
    }
    }
    return NULL;
}

const char *json_type_name(json_type t)
{
    switch (t) {
    case JSON_NULL:
        return "null";
    case JSON_BOOL:
        return "boolean";
    case JSON_NUMBER:
        return "number";
    case JSON_STRING:
        return "string";
    case JSON_ARRAY:
        return "array";
    case JSON_OBJECT:
        return "object";
    }
    return "?";
}

/* ---- 2. the parser -------------------------------------------------------- */

typedef struct parser {
    const unsigned char *s;
    size_t len;
    size_t pos;
    size_t max_depth;
    json_error *err;
} parser;

/* Record the first error; returns NULL so callers can `return fail(...)`. */
static void *fail(parser *p, size_t offset, const char *reason)
{
    if (p->err->reason == NULL) {
        p->err->offset = offset;
        p->err->reason = reason;
    }
    return NULL;
}

/* RFC 8259 whitespace is exactly these four bytes (no \f, no \v). */
static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

/* A growing byte buffer, used for decoded strings and by the serializer. */
typedef struct buf {
    char *data;
    size_t len, cap;
    int oom;
} buf;

static int buf_reserve(buf *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 32;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *d = realloc(b->data, cap);
    if (d == NULL) {
        b->oom = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

static void buf_add(buf *b, const void *data, size_t n)
{
    if (buf_reserve(b, n) == -1)
        return;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_addc(buf *b, char c)
{
    buf_add(b, &c, 1);
}

int json_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at p->pos (just after "\u"); -1 if they are not there. */
static long read_hex4(parser *p)
{
    if (p->len - p->pos < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = json_hex_value(p->s[p->pos + i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    p->pos += 4;
    return v;
}

static void put_utf8(buf *b, uint32_t cp)
{
    char out[4];
    size_t n;
    if (cp < 0x80) {
        out[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_add(b, out, n);
}

/* Length of the valid UTF-8 sequence starting at s[0] (a byte >= 0x80), or 0
 * if it is not valid. The table is RFC 3629 section 4: it excludes overlong
 * forms, the surrogates U+D800..U+DFFF and anything above U+10FFFF. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c == 0xE0)
        n = 3, lo = 0xA0;
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
        n = 3;
    else if (c == 0xED)
        n = 3, hi = 0x9F;
    else if (c == 0xF0)
        n = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3)
        n = 4;
    else if (c == 0xF4)
        n = 4, hi = 0x8F;
    else
        return 0;
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

/* A string starting at the opening quote. On success the decoded bytes are in
 * *out (malloc'd, NUL-terminated) and their count in *out_len. */
static int parse_string(parser *p, char **out, size_t *out_len)
{
    buf b = {0};
    size_t start = p->pos;
    p->pos++; /* the opening quote */
    for (;;) {
        /* Copy a run of plain bytes in one go: the common case. */
        size_t run = p->pos;
        while (run < p->len && p->s[run] >= 0x20 && p->s[run] < 0x80 &&
               p->s[run] != '"' && p->s[run] != '\\')
            run++;
        if (run > p->pos) {
            buf_add(&b, p->s + p->pos, run - p->pos);
            p->pos = run;
        }
        if (p->pos >= p->len) {
            fail(p, start, "unterminated string");
            goto error;
        }
        unsigned char c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) {
            fail(p, p->pos, "control character in string (must be escaped)");
            goto error;
        }
        if (c >= 0x80) {
            size_t n = utf8_seq_len(p->s + p->pos, p->len - p->pos);
            if (n == 0) {
                fail(p, p->pos, "invalid UTF-8 in string");
                goto error;
            }
            buf_add(&b, p->s + p->pos, n);
            p->pos += n;
            continue;
        }
        /* A backslash escape. */
        size_t esc = p->pos;
        if (p->pos + 1 >= p->len) {
            fail(p, start, "unterminated string");
            goto error;
        }
        c = p->s[p->pos + 1];
        p->pos += 2;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            buf_addc(&b, (char)c);
            break;
        case 'b':
            buf_addc(&b, '\b');
            break;
        case 'f':
            buf_addc(&b, '\f');
            break;
        case 'n':
            buf_addc(&b, '\n');
            break;
        case 'r':
            buf_addc(&b, '\r');
            break;
        case 't':
            buf_addc(&b, '\t');
            break;
        case 'u': {
            long cp = read_hex4(p);
            if (cp < 0) {
                fail(p, esc, "invalid \\u escape: expected 4 hex digits");
                goto error;
            }
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail(p, esc, "unpaired low surrogate in \\u escape");
                goto error;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                /* A high surrogate: the low half must follow at once. */
                long lo = -1;
                if (p->len - p->pos >= 2 && p->s[p->pos] == '\\' &&
                    p->s[p->pos + 1] == 'u') {
                    p->pos += 2;
                    lo = read_hex4(p);
                }
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    fail(p, esc, "unpaired high surrogate in \\u escape");
                    goto error;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(&b, (uint32_t)cp);
            break;
        }
        default:
            fail(p, esc, "invalid escape in string");
            goto error;
        }
    }
    /* The empty string still needs its NUL. */
    if (buf_reserve(&b, 0) == 0)
        b.data[b.len] = '\0';
    if (b.oom) {
        fail(p, start, "out of memory");
        goto error;
    }
    *out = b.data;
    *out_len = b.len;
    return 0;
error:
    free(b.data);
    return -1;
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* number = [ minus ] int [ frac ] [ exp ]; int = zero / ( digit1-9 *DIGIT ) */
static json_value *parse_number(parser *p)
{
    size_t start = p->pos;
    const unsigned char *s = p->s;
    if (p->pos < p->len && s[p->pos] == '-')
        p->pos++;
    if (p->pos >= p->len || !is_digit(s[p->pos]))
        return fail(p, p->pos, "expected a digit");
    if (s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && is_digit(s[p->pos]))
            return fail(p, start, "leading zeros are not allowed");
    } else {
        while (p->pos < p->len && is_digit(s[p->pos]))
            p->pos++;
    }
    if (p->pos < p->len && s[p->pos] == '.') {
        p->pos++;
        if (p->pos >= p->len || !is_digit(s[p->pos]))
            return fail(p, p->pos, "expected a digit after the decimal point");
        while (p->pos < p->len && is_digit(s[p->pos]))
            p->pos++;
    }
    if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (s[p->pos] == '+' || s[p->pos] == '-'))
            p->pos++;
        if (p->pos >= p->len || !is_digit(s[p->pos]))
            return fail(p, p->pos, "expected a digit in the exponent");
        while (p->pos < p->len && is_digit(s[p->pos]))
            p->pos++;
    }
    /* The grammar is checked; strtod does the conversion. It needs a NUL, so
     * copy the number out (on the stack when it is short, as nearly all are).
     * No setlocale() call is made anywhere, so '.' is the decimal point. */
    size_t n = p->pos - start;
    char small[64];
    char *copy = n < sizeof small ? small : malloc(n + 1);
    if (copy == NULL)
        return fail(p, start, "out of memory");
    memcpy(copy, s + start, n);
    copy[n] = '\0';
    errno = 0;
    double d = strtod(copy, NULL);
    int range = errno == ERANGE && isinf(d);
    if (copy != small)
        free(copy);
    if (range)
        return fail(p, start, "number out of range");
    json_value *v = json_new_number(d);
    return v != NULL ? v : fail(p, start, "out of memory");
}

static json_value *parse_literal(parser *p, const char *word, json_value *v)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) {
        json_free(v);
        return fail(p, p->pos, "invalid literal (expected true, false or null)");
    }
    if (v == NULL)
        return fail(p, p->pos, "out of memory");
    p->pos += n;
    return v;
}

static json_value *parse_value(parser *p, size_t depth);

static json_value *parse_array(parser *p, size_t depth)
{
    size_t start = p->pos;
    if (depth > p->max_depth)
        return fail(p, start, "nesting too deep");
    json_value *arr = json_new_array();
    if (arr == NULL)
        return fail(p, start, "out of memory");
    p->pos++; /* '[' */
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return arr;
    }
    for (;;) {
        json_value *item = parse_value(p, depth);
        if (item == NULL)
            break;
        if (json_array_push(arr, item) == -1) {
            fail(p, p->pos, "out of memory");
            break;
        }
        skip_ws(p);
        if (p->pos >= p->len) {
            fail(p, p->pos, "unexpected end of input in array");
            break;
        }
        if (p->s[p->pos] == ']') {
            p->pos++;
            return arr;
        }
        if (p->s[p->pos] != ',') {
            fail(p, p->pos, "expected ',' or ']' in array");
            break;
        }
        p->pos++;
    }
    json_free(arr);
    return NULL;
}

static json_value *parse_object(parser *p, size_t depth)
{
    size_t start = p->pos;
    if (depth > p->max_depth)
        return fail(p, start, "nesting too deep");
    json_value *obj = json_new_object();
    if (obj == NULL)
        return fail(p, start, "out of memory");
    p->pos++; /* '{' */
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return obj;
    }
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len) {
            fail(p, p->pos, "unexpected end of input in object");
            break;
        }
        if (p->s[p->pos] != '"') {
            fail(p, p->pos, "expected a string key in object");
            break;
        }
        char *key;
        size_t key_len;
        if (parse_string(p, &key, &key_len) == -1)
            break;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') {
            free(key);
            fail(p, p->pos, "expected ':' after object key");
            break;
        }
        p->pos++;
        json_value *val = parse_value(p, depth);
        if (val == NULL) {
            free(key);
            break;
        }
        if (object_append(obj, key, key_len, val) == -1) {
            fail(p, p->pos, "out of memory");
            break;
        }
        skip_ws(p);
        if (p->pos >= p->len) {
            fail(p, p->pos, "unexpected end of input in object");
            break;
        }
        if (p->s[p->pos] == '}') {
            p->pos++;
            return obj;
        }
        if (p->s[p->pos] != ',') {
            fail(p, p->pos, "expected ',' or '}' in object");
            break;
        }
        p->pos++;
    }
    json_free(obj);
    return NULL;
}

/* depth counts the arrays and objects that enclose this value. */
static json_value *parse_value(parser *p, size_t depth)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, p->pos, "unexpected end of input (expected a value)");
    unsigned char c = p->s[p->pos];
    switch (c) {
    case '{':
        return parse_object(p, depth + 1);
    case '[':
        return parse_array(p, depth + 1);
    case '"': {
        char *s;
        size_t n;
        if (parse_string(p, &s, &n) == -1)
            return NULL;
        json_value *v = new_value(JSON_STRING);
        if (v == NULL) {
            free(s);
            return fail(p, p->pos, "out of memory");
        }
        v->u.string.ptr = s;
        v->u.string.len = n;
        return v;
    }
    case 't':
        return parse_literal(p, "true", json_new_bool(1));
    case 'f':
        return parse_literal(p, "false", json_new_bool(0));
    case 'n':
        return parse_literal(p, "null", json_new_null());
    default:
        if (c == '-' || is_digit(c))
            return parse_number(p);
        return fail(p, p->pos, "unexpected character (expected a value)");
    }
}

json_value *json_parse(const char *text, size_t len, const json_limits *limits,
                       json_error *err)
{
    json_error dummy;
    if (err == NULL)
        err = &dummy;
    err->offset = 0;
    err->reason = NULL;
    size_t max_depth =
        limits && limits->max_depth ? limits->max_depth : JSON_DEFAULT_MAX_DEPTH;
    size_t max_size =
        limits && limits->max_size ? limits->max_size : JSON_DEFAULT_MAX_SIZE;
    parser p = {.s = (const unsigned char *)text,
                .len = len,
                .pos = 0,
                .max_depth = max_depth,
                .err = err};
    if (len > max_size)
        return fail(&p, max_size, "text larger than the size limit");
    if (text == NULL && len > 0)
        return fail(&p, 0, "no text");
    json_value *v = parse_value(&p, 0);
    if (v == NULL)
        return NULL;
    skip_ws(&p);
    if (p.pos != p.len) {
        json_free(v);
        return fail(&p, p.pos, "unexpected characters after the value");
    }
    return v;
}

/* ---- 3. the serializer ---------------------------------------------------- */

/* Write a number as ECMAScript's Number::toString does (ECMA-262, section
 * "Number::toString"): find the shortest digit string that reads back to the
 * same double, then place the decimal point or use an exponent:
 *   1e21 and above, or below 1e-6:  1e+21, 1.5e-7
 *   otherwise plain:                 42, 0.1, 123456789012345680000
 * -0 is written as 0, and NaN/Infinity as null, as JSON.stringify does. */
static void put_number(buf *b, double d)
{
    if (!isfinite(d)) {
        buf_add(b, "null", 4);
        return;
    }
    if (d == 0) {
        buf_addc(b, '0');
        return;
    }
    char tmp[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    /* tmp is "-d.ddde+XX": collect the digits and the exponent. */
    char digits[20];
    int k = 0;
    const char *s = tmp;
    int neg = *s == '-';
    if (neg)
        s++;
    for (; *s && *s != 'e'; s++)
        if (*s != '.')
            digits[k++] = *s;
    int n = atoi(s + 1) + 1; /* position of the decimal point */
    if (neg)
        buf_addc(b, '-');
    if (k <= n && n <= 21) {
        buf_add(b, digits, (size_t)k);
        for (int i = k; i < n; i++)
            buf_addc(b, '0');
    } else if (0 < n && n <= 21) {
        buf_add(b, digits, (size_t)n);
        buf_addc(b, '.');
        buf_add(b, digits + n, (size_t)(k - n));
    } else if (-6 < n && n <= 0) {
        buf_add(b, "0.", 2);
        for (int i = 0; i < -n; i++)
            buf_addc(b, '0');
        buf_add(b, digits, (size_t)k);
    } else {
        buf_addc(b, digits[0]);
        if (k > 1) {
            buf_addc(b, '.');
            buf_add(b, digits + 1, (size_t)(k - 1));
        }
        char e[16];
        int m = snprintf(e, sizeof e, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
        buf_add(b, e, (size_t)m);
    }
}

static void put_string(buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    buf_addc(b, '"');
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        switch (c) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            if (c < 0x20) {
                memcpy(u, "\\u00", 4);
                u[4] = hex[c >> 4];
                u[5] = hex[c & 15];
                u[6] = '\0';
                esc = u;
            }
        }
        if (esc != NULL) {
            buf_add(b, s + run, i - run);
            buf_add(b, esc, strlen(esc));
            run = i + 1;
        }
    }
    buf_add(b, s + run, len - run);
    buf_addc(b, '"');
}

static void put_value(buf *b, const json_value *v)
{
    switch (v->type) {
    case JSON_NULL:
        buf_add(b, "null", 4);
        break;
    case JSON_BOOL:
        if (v->u.boolean)
            buf_add(b, "true", 4);
        else
            buf_add(b, "false", 5);
        break;
    case JSON_NUMBER:
        put_number(b, v->u.number);
        break;
    case JSON_STRING:
        put_string(b, v->u.string.ptr, v->u.string.len);
        break;
    case JSON_ARRAY:
        buf_addc(b, '[');
        for (size_t i = 0; i < v->u.array.len; i++) {
            if (i > 0)
                buf_addc(b, ',');
            put_value(b, v->u.array.items[i]);
        }
        buf_addc(b, ']');
        break;
    case JSON_OBJECT:
        buf_addc(b, '{');
        for (size_t i = 0; i < v->u.object.len; i++) {
            const json_member *m = &v->u.object.items[i];
            if (i > 0)
                buf_addc(b, ',');
            put_string(b, m->key, m->key_len);
            buf_addc(b, ':');
            put_value(b, m->value);
        }
        buf_addc(b, '}');
        break;
    }
}

char *json_serialize(const json_value *v, size_t *len_out)
{
    buf b = {0};
    if (v == NULL)
        return NULL;
    buf_reserve(&b, 64);
    put_value(&b, v);
    if (b.oom) {
        free(b.data);
        return NULL;
    }
    if (len_out != NULL)
        *len_out = b.len;
    return b.data;
}
