/*
 * json.h: a small JSON value module (RFC 8259), enough for Node's IPC channel.
 *
 * Node sends every IPC message as JSON.stringify(msg) followed by '\n', so a
 * C process that wants to sit on the other end of the channel needs three
 * things: a value type, a strict parser and a compact serializer. That is
 * all this module is.
 *
 *   json_error e;
 *   json_value *v = json_parse("{\"name\":\"Bruce\"}", 16, NULL, &e);
 *   if (v == NULL)
 *       printf("bad JSON at byte %zu: %s\n", e.offset, e.reason);
 *   const json_value *name = json_object_get(v, "name");   // a JSON_STRING
 *   char *text = json_serialize(v, NULL);                  // {"name":"Bruce"}
 *   free(text);
 *   json_free(v);
 *
 * What "strict" means here:
 *   - exactly the grammar of RFC 8259: no comments, no trailing commas, no
 *     single quotes, no leading zeros, no "+1", no ".5", no NaN/Infinity;
 *   - one value per text, optionally surrounded by the four whitespace
 *     characters (space, tab, LF, CR), and nothing after it;
 *   - text must be valid UTF-8 (RFC 8259 section 8.1): no overlong forms,
 *     no encoded surrogates, nothing above U+10FFFF;
 *   - \uXXXX escapes are decoded to UTF-8, and a high surrogate must be
 *     followed by a \u low surrogate (a pair encodes one code point above
 *     U+FFFF). A lone surrogate is rejected: it has no UTF-8 form. (JSON.
 *     stringify can produce one from a broken JS string; that message is
 *     reported as malformed rather than silently altered.)
 *   - a number that overflows a double (1e400) is rejected; one that
 *     underflows becomes 0 or a subnormal, as in JavaScript.
 *   - duplicate object keys are kept in order; json_object_get() returns the
 *     last one, which is what JSON.parse does.
 *
 * Limits keep a hostile peer from exhausting the stack or memory: nesting
 * depth (default JSON_DEFAULT_MAX_DEPTH) and input size (default
 * JSON_DEFAULT_MAX_SIZE). The parser is recursive only to max_depth.
 *
 * Every failure names the byte offset (from 0, into the text given to
 * json_parse) where the parser gave up and a reason in plain words.
 *
 * Numbers are C doubles, as in JavaScript. The serializer writes integers in
 * the safe range (|n| < 2^53) without a fraction and other numbers with the
 * fewest significant digits that read back to the same double; non-finite
 * numbers become null, as JSON.stringify does.
 */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>

typedef enum {
    JSON_NULL,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT
} json_type;

typedef struct json_value json_value;

typedef struct json_member {
    char *key; /* UTF-8, NUL-terminated; key_len excludes the NUL */
    size_t key_len;
    json_value *value;
} json_member;

struct json_value {
    json_type type;
    union {
        int boolean;   /* JSON_BOOL: 0 or 1 */
        double number; /* JSON_NUMBER */
        struct {       /* JSON_STRING: UTF-8, NUL-terminated; may contain */
            char *ptr; /* "\u0000", so trust len, not strlen() */
            size_t len;
        } string;
        struct { /* JSON_ARRAY */
            json_value **items;
            size_t len, cap;
        } array;
        struct { /* JSON_OBJECT, members in the order they were added */
            json_member *items;
            size_t len, cap;
        } object;
    } u;
};

#define JSON_DEFAULT_MAX_DEPTH 64
#define JSON_DEFAULT_MAX_SIZE (1024u * 1024u)

typedef struct json_limits {
    size_t max_depth; /* arrays/objects nested deeper fail; 0 = default */
    size_t max_size;  /* longer input fails at once; 0 = default */
} json_limits;

typedef struct json_error {
    size_t offset;      /* byte offset into the text where parsing failed */
    const char *reason; /* a static string, e.g. "expected ':' after key" */
} json_error;

/* Parse exactly one JSON text of `len` bytes (it need not be NUL-terminated).
 * `limits` may be NULL for the defaults, `err` may be NULL. Returns a new
 * value to be freed with json_free(), or NULL with *err filled in. Out of
 * memory is reported as an error with reason "out of memory". */
json_value *json_parse(const char *text, size_t len, const json_limits *limits,
                       json_error *err);

/* Free a value and everything it owns. Safe on NULL. */
void json_free(json_value *v);

/* A deep copy, or NULL if memory runs out. */
json_value *json_clone(const json_value *v);

/* Builders. Each returns a new value, or NULL if memory runs out. */
json_value *json_new_null(void);
json_value *json_new_bool(int b);
json_value *json_new_number(double n);
json_value *json_new_string(const char *s); /* copies a NUL-terminated string */
json_value *json_new_string_n(const char *s, size_t len);
json_value *json_new_array(void);
json_value *json_new_object(void);

/* Append `item` to an array. Takes ownership of item, also on failure (it is
 * freed then). Returns 0, or -1 if memory runs out or arr is not an array. */
int json_array_push(json_value *arr, json_value *item);
/* Append a member to an object (no check for an existing key). Takes
 * ownership of val as above; copies key. Returns 0 or -1. */
int json_object_set(json_value *obj, const char *key, json_value *val);

/* The last member named `key` of an object, or NULL (also if obj is NULL or
 * not an object). */
const json_value *json_object_get(const json_value *obj, const char *key);
/* The string of a member if it is a JSON string, else NULL. */
const char *json_object_get_string(const json_value *obj, const char *key);

/* Numbers as integers. A JSON number is a double, and a peer chooses it: a
 * plain cast of 1e300 (or of -1 into an unsigned type) is undefined
 * behaviour, and 1.5 would be truncated without a word. So a number is read
 * as an integer only when it is one and lies in [min, max]:
 *
 *   long long n;
 *   if (json_object_get_int(msg, "requests", 0, JSON_MAX_SAFE_INT, &n) == -1)
 *       ...refuse the message, and say why...
 *
 * json_as_int() returns 0 and stores the value in *out, or returns -1 with
 * *out untouched and errno set to:
 *   EINVAL  v is NULL or not a number, or min > max
 *   EDOM    v has a fractional part (1.5), or is NaN
 *   ERANGE  v is an integer outside [min, max] (1e300; -1 when min is 0)
 * json_object_get_int() does the same for the member `key` of obj, and
 * fails with ENOENT when there is no such member. */
int json_as_int(const json_value *v, long long min, long long max, long long *out);
int json_object_get_int(const json_value *obj, const char *key, long long min,
                        long long max, long long *out);

/* 2^53 - 1, JavaScript's Number.MAX_SAFE_INTEGER: above it a double cannot
 * hold every integer, so a count that a Node peer could send is exact only
 * up to here. */
#define JSON_MAX_SAFE_INT 9007199254740991LL

/* Compact JSON text of v, NUL-terminated, to be freed with free(); its length
 * (without the NUL) goes to *len_out if that is not NULL. Strings are escaped
 * as JSON.stringify does: \" \\ \b \f \n \r \t and \u00XX for the other
 * control characters; everything else is written as UTF-8. NULL if memory
 * runs out. */
char *json_serialize(const json_value *v, size_t *len_out);

/* "null", "boolean", "number", "string", "array" or "object". */
const char *json_type_name(json_type t);

/* The value of one hex digit (0-9, a-f, A-F), or -1: the digits of a \uXXXX
 * escape. Public because 06's HTTP parser, which compiles this file, reads
 * percent-escapes and IPv6 literals with the same rule. */
int json_hex_value(unsigned char c);

#endif
