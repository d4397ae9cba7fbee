/*
 * test_json.c: unit tests of the JSON module (json.h).
 *
 *   make test        (or ./build/test_json from the chapter directory)
 *
 * What is promised and checked here: every RFC 8259 construct parses; every
 * departure from the grammar fails with the byte offset and reason named in
 * the table below; \u escapes including surrogate pairs decode to UTF-8;
 * bad UTF-8 is refused; the depth and size limits hold; the serializer
 * writes what JSON.stringify would, byte for byte, numbers included; and a
 * number is read as an integer only when it is one and fits the range asked
 * for (1e300, -1 and 1.5 are refused, never cast).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Parse and serialize again: the canonical compact form of a text. */
static char *roundtrip(const char *text)
{
    json_error e;
    json_value *v = json_parse(text, strlen(text), NULL, &e);
    if (v == NULL) {
        fail_msg("parse of %s failed at %zu: %s", text, e.offset, e.reason);
        return NULL;
    }
    char *out = json_serialize(v, NULL);
    json_free(v);
    return out;
}

static void expect_roundtrip(const char *in, const char *out)
{
    char *s = roundtrip(in);
    assert_non_null(s);
    assert_string_equal(s, out);
    free(s);
}

/* \uXXXX digits; 06's HTTP parser uses the same function for percent-escapes
 * and IPv6 literals. */
static void test_hex_value(void **state)
{
    (void)state;
    const char *digits = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        assert_int_equal(json_hex_value((unsigned char)digits[i]), i);
        if (i >= 10)
            assert_int_equal(json_hex_value((unsigned char)(digits[i] - 'a' + 'A')), i);
    }
    const char *not_hex = "gG/:@`xz -\x80\xff";
    for (const char *c = not_hex; *c != '\0'; c++)
        assert_int_equal(json_hex_value((unsigned char)*c), -1);
    assert_int_equal(json_hex_value('\0'), -1);
}

static void test_scalars(void **state)
{
    (void)state;
    json_value *v = json_parse("null", 4, NULL, NULL);
    assert_non_null(v);
    assert_int_equal(v->type, JSON_NULL);
    json_free(v);

    v = json_parse(" true ", 6, NULL, NULL);
    assert_int_equal(v->type, JSON_BOOL);
    assert_int_equal(v->u.boolean, 1);
    json_free(v);

    v = json_parse("\t\r\nfalse", 8, NULL, NULL);
    assert_int_equal(v->type, JSON_BOOL);
    assert_int_equal(v->u.boolean, 0);
    json_free(v);

    const struct {
        const char *text;
        double value;
    } nums[] = {{"0", 0},      {"-0", 0},      {"42", 42},
                {"-17", -17},  {"1.5", 1.5},   {"-0.25", -0.25},
                {"1e3", 1000}, {"1E+3", 1000}, {"12.5e-3", 0.0125},
                {"2e-400", 0}};
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        v = json_parse(nums[i].text, strlen(nums[i].text), NULL, NULL);
        assert_non_null(v);
        assert_int_equal(v->type, JSON_NUMBER);
        assert_true(v->u.number == nums[i].value);
        json_free(v);
    }

    v = json_parse("\"some msg\"", 10, NULL, NULL);
    assert_int_equal(v->type, JSON_STRING);
    assert_int_equal(v->u.string.len, 8);
    assert_string_equal(v->u.string.ptr, "some msg");
    json_free(v);
}

static void test_escapes(void **state)
{
    (void)state;
    const char *text = "\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u00e9 \\u20AC\"";
    json_value *v = json_parse(text, strlen(text), NULL, NULL);
    assert_non_null(v);
    assert_string_equal(v->u.string.ptr, "q\" b\\ s/ \b\f\n\r\t \xc3\xa9 \xe2\x82\xac");
    json_free(v);

    /* A surrogate pair is one code point: U+1F600 is F0 9F 98 80 in UTF-8. */
    text = "\"\\ud83d\\ude00\"";
    v = json_parse(text, strlen(text), NULL, NULL);
    assert_non_null(v);
    assert_int_equal(v->u.string.len, 4);
    assert_memory_equal(v->u.string.ptr, "\xf0\x9f\x98\x80", 4);
    json_free(v);

    /* \u0000 is a real NUL inside the string: len counts it. */
    text = "\"a\\u0000b\"";
    v = json_parse(text, strlen(text), NULL, NULL);
    assert_non_null(v);
    assert_int_equal(v->u.string.len, 3);
    assert_memory_equal(v->u.string.ptr, "a\0b", 3);
    char *out = json_serialize(v, NULL);
    assert_string_equal(out, "\"a\\u0000b\"");
    free(out);
    json_free(v);

    /* Raw UTF-8 passes through untouched. */
    expect_roundtrip("\"\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80\"",
                     "\"\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80\"");
}

/* Every way a text can be wrong, with where and why. */
static void test_errors_name_offset_and_reason(void **state)
{
    (void)state;
    const struct {
        const char *text;
        size_t len; /* 0: strlen */
        size_t offset;
        const char *reason; /* a substring of the reason */
    } bad[] = {
        {"", 0, 0, "unexpected end of input"},
        {"   ", 0, 3, "unexpected end of input"},
        {"01", 0, 0, "leading zeros"},
        {"-", 0, 1, "expected a digit"},
        {"-a", 0, 1, "expected a digit"},
        {"1.", 0, 2, "after the decimal point"},
        {".5", 0, 0, "unexpected character"},
        {"+1", 0, 0, "unexpected character"},
        {"1e", 0, 2, "exponent"},
        {"1e+", 0, 3, "exponent"},
        {"1e400", 0, 0, "out of range"},
        {"-1e400", 0, 0, "out of range"},
        {"NaN", 0, 0, "unexpected character"},
        {"Infinity", 0, 0, "unexpected character"},
        {"tru", 0, 0, "invalid literal"},
        {"nul", 0, 0, "invalid literal"},
        {"falsey", 0, 5, "after the value"},
        {"[1,]", 0, 3, "unexpected character"},
        {"[1 2]", 0, 3, "expected ',' or ']'"},
        {"[", 0, 1, "unexpected end of input"},
        {"[1", 0, 2, "end of input in array"},
        {"{", 0, 1, "end of input in object"},
        {"{\"a\":1,}", 0, 7, "expected a string key"},
        {"{'a':1}", 0, 1, "expected a string key"},
        {"{1:2}", 0, 1, "expected a string key"},
        {"{\"a\" 1}", 0, 5, "expected ':'"},
        {"{\"a\":1 \"b\":2}", 0, 7, "expected ',' or '}'"},
        {"1 2", 0, 2, "after the value"},
        {"\"abc", 0, 0, "unterminated string"},
        {"\"a\tb\"", 0, 2, "control character"},
        {"\"a\nb\"", 0, 2, "control character"},
        {"\"\\x\"", 0, 1, "invalid escape"},
        {"\"\\u12\"", 0, 1, "4 hex digits"},
        {"\"\\u12G4\"", 0, 1, "4 hex digits"},
        {"\"x\\ud83d\"", 0, 2, "unpaired high surrogate"},
        {"\"\\ud83d\\u0041\"", 0, 1, "unpaired high surrogate"},
        {"\"\\ude00\"", 0, 1, "unpaired low surrogate"},
        {"\"\xc0\x80\"", 0, 1, "invalid UTF-8"},         /* overlong NUL */
        {"\"\xed\xa0\x80\"", 0, 1, "invalid UTF-8"},     /* encoded surrogate */
        {"\"\xf4\x90\x80\x80\"", 0, 1, "invalid UTF-8"}, /* above U+10FFFF */
        {"\"ab\xe2\x82\"", 0, 3, "invalid UTF-8"},       /* cut short */
        {"\"\xff\"", 0, 1, "invalid UTF-8"},
        {"\xef\xbb\xbf{}", 0, 0, "unexpected character"}, /* a BOM */
        {"[1]\0", 4, 3, "after the value"},
        {"/* c */ 1", 0, 0, "unexpected character"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_error e = {0};
        size_t len = bad[i].len ? bad[i].len : strlen(bad[i].text);
        json_value *v = json_parse(bad[i].text, len, NULL, &e);
        if (v != NULL || e.reason == NULL || e.offset != bad[i].offset ||
            strstr(e.reason, bad[i].reason) == NULL)
            fail_msg("text #%zu %s: got offset %zu reason %s; want %zu, %s", i,
                     bad[i].text, e.offset, e.reason ? e.reason : "(none)", bad[i].offset,
                     bad[i].reason);
        json_free(v);
    }
}

static char *nested(size_t depth)
{
    char *s = malloc(2 * depth + 1);
    for (size_t i = 0; i < depth; i++) {
        s[i] = '[';
        s[2 * depth - 1 - i] = ']';
    }
    s[2 * depth] = '\0';
    return s;
}

static void test_depth_limit(void **state)
{
    (void)state;
    char *ok = nested(JSON_DEFAULT_MAX_DEPTH);
    json_value *v = json_parse(ok, strlen(ok), NULL, NULL);
    assert_non_null(v);
    json_free(v);
    free(ok);

    char *deep = nested(JSON_DEFAULT_MAX_DEPTH + 1);
    json_error e;
    v = json_parse(deep, strlen(deep), NULL, &e);
    assert_null(v);
    assert_int_equal(e.offset, JSON_DEFAULT_MAX_DEPTH); /* the first '[' too many */
    assert_string_equal(e.reason, "nesting too deep");
    free(deep);

    /* A hostile peer's 100000 brackets fail fast, without a deep recursion. */
    char *huge = nested(100000);
    v = json_parse(huge, strlen(huge), NULL, &e);
    assert_null(v);
    assert_string_equal(e.reason, "nesting too deep");
    free(huge);

    json_limits lim = {.max_depth = 2};
    v = json_parse("{\"a\":[1]}", 9, &lim, &e);
    assert_non_null(v);
    json_free(v);
    v = json_parse("{\"a\":[[1]]}", 11, &lim, &e);
    assert_null(v);
    assert_int_equal(e.offset, 6);
}

static void test_size_limit(void **state)
{
    (void)state;
    json_limits lim = {.max_size = 8};
    json_error e;
    json_value *v = json_parse("\"123456\"", 8, &lim, &e);
    assert_non_null(v);
    json_free(v);
    v = json_parse("\"1234567\"", 9, &lim, &e);
    assert_null(v);
    assert_int_equal(e.offset, 8);
    assert_non_null(strstr(e.reason, "size limit"));
}

/* What JSON.stringify prints for these numbers in Node v20 (checked with
 * node -p 'JSON.stringify([...])'). */
static void test_numbers_serialize_like_javascript(void **state)
{
    (void)state;
    const struct {
        double d;
        const char *js;
    } nums[] = {
        {0, "0"},
        {-0.0, "0"},
        {1, "1"},
        {-1, "-1"},
        {42, "42"},
        {0.1, "0.1"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1.5, "1.5"},
        {100, "100"},
        {123.456, "123.456"},
        {1e21, "1e+21"},
        {1e20, "100000000000000000000"},
        {123456789012345680000.0, "123456789012345680000"},
        {1.5e300, "1.5e+300"},
        {0.000001, "0.000001"},
        {1e-7, "1e-7"},
        {1.25e-7, "1.25e-7"},
        {-2.5e-10, "-2.5e-10"},
        {9007199254740992.0, "9007199254740992"},
        {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {NAN, "null"},
        {INFINITY, "null"},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        json_value *v = json_new_number(nums[i].d);
        char *s = json_serialize(v, NULL);
        if (strcmp(s, nums[i].js) != 0)
            fail_msg("number #%zu: got %s, want %s", i, s, nums[i].js);
        free(s);
        json_free(v);
    }
}

static void test_serialize_compact(void **state)
{
    (void)state;
    expect_roundtrip(
        " { \"name\" : \"Bruce\" , \"list\" : [ 1 , true , null , { } , [ ] ] } ",
        "{\"name\":\"Bruce\",\"list\":[1,true,null,{},[]]}");
    /* Escapes as JSON.stringify writes them: short forms where they exist,
     * lowercase \u00XX for other control characters, '/' and DEL as is. */
    expect_roundtrip(
        "\"\\u0008\\u000C\\u000a\\u000D\\u0009\\u001F\\u0022\\u005C\\/\x7f\"",
        "\"\\b\\f\\n\\r\\t\\u001f\\\"\\\\/\x7f\"");
    expect_roundtrip("[1E2,-0.5e1,0.0]", "[100,-5,0]");

    /* Builders and the length out-parameter. */
    json_value *o = json_new_object();
    assert_int_equal(json_object_set(o, "hello", json_new_string("world")), 0);
    json_value *a = json_new_array();
    assert_int_equal(json_array_push(a, json_new_number(1)), 0);
    assert_int_equal(json_array_push(a, json_new_bool(0)), 0);
    assert_int_equal(json_array_push(a, json_new_null()), 0);
    assert_int_equal(json_object_set(o, "a", a), 0);
    assert_int_equal(json_object_set(o, "nl", json_new_string("two\nlines")), 0);
    size_t len;
    char *s = json_serialize(o, &len);
    assert_string_equal(
        s, "{\"hello\":\"world\",\"a\":[1,false,null],\"nl\":\"two\\nlines\"}");
    assert_int_equal(len, strlen(s));
    free(s);

    json_value *c = json_clone(o);
    json_free(o);
    s = json_serialize(c, NULL);
    assert_string_equal(
        s, "{\"hello\":\"world\",\"a\":[1,false,null],\"nl\":\"two\\nlines\"}");
    free(s);
    json_free(c);

    /* Builders refuse the wrong container and free what they were given. */
    json_value *n = json_new_null();
    assert_int_equal(json_array_push(n, json_new_string("leak?")), -1);
    assert_int_equal(json_object_set(n, "k", json_new_string("leak?")), -1);
    json_free(n);
}

static void test_object_lookup(void **state)
{
    (void)state;
    const char *text = "{\"cmd\":\"NODE_HANDLE\",\"a\":1,\"a\":2,\"k\\u0000\":3}";
    json_value *v = json_parse(text, strlen(text), NULL, NULL);
    assert_non_null(v);
    assert_string_equal(json_object_get_string(v, "cmd"), "NODE_HANDLE");
    assert_null(json_object_get_string(v, "a"));         /* a number, not a string */
    assert_true(json_object_get(v, "a")->u.number == 2); /* the last one wins */
    assert_null(json_object_get(v, "missing"));
    assert_null(json_object_get(NULL, "a"));
    assert_int_equal(v->u.object.len, 4); /* duplicates are kept, in order */
    assert_int_equal(v->u.object.items[3].key_len, 2);
    char *s = json_serialize(v, NULL);
    assert_string_equal(s, "{\"cmd\":\"NODE_HANDLE\",\"a\":1,\"a\":2,\"k\\u0000\":3}");
    free(s);
    json_free(v);
    assert_string_equal(json_type_name(JSON_OBJECT), "object");
}

/* Read `text` as one JSON value and ask for it as an integer in [min, max].
 * Returns json_as_int's result; errno and *out as it left them. */
static int int_of(const char *text, long long min, long long max, long long *out)
{
    json_value *v = json_parse(text, strlen(text), NULL, NULL);
    if (v == NULL)
        fail_msg("parse of %s failed", text);
    errno = 0;
    int r = json_as_int(v, min, max, out);
    int saved = errno;
    json_free(v);
    errno = saved;
    return r;
}

static void test_integers_are_range_checked(void **state)
{
    (void)state;
    const struct {
        const char *text;
        long long min, max;
        long long want; /* when err == 0 */
        int err;        /* expected errno, 0 for success */
    } cases[] = {
        {"42", 0, JSON_MAX_SAFE_INT, 42, 0},
        {"-0", 0, 10, 0, 0},
        {"1e3", 0, JSON_MAX_SAFE_INT, 1000, 0},
        {"2e-400", 0, 10, 0, 0}, /* underflows to 0, an integer */
        {"-17", -100, 100, -17, 0},
        {"9007199254740991", 0, JSON_MAX_SAFE_INT, JSON_MAX_SAFE_INT, 0},
        {"9007199254740992", 0, JSON_MAX_SAFE_INT, 0, ERANGE},
        {"-9223372036854775808", LLONG_MIN, LLONG_MAX, LLONG_MIN, 0},
        /* 2^63: one past long long; a plain cast is undefined here. */
        {"9223372036854775808", LLONG_MIN, LLONG_MAX, 0, ERANGE},
        {"1e300", 0, JSON_MAX_SAFE_INT, 0, ERANGE},
        {"-1e300", LLONG_MIN, LLONG_MAX, 0, ERANGE},
        {"-1", 0, JSON_MAX_SAFE_INT, 0, ERANGE},
        {"11", 0, 10, 0, ERANGE},
        {"1.5", 0, JSON_MAX_SAFE_INT, 0, EDOM},
        {"-0.5", -10, 10, 0, EDOM},
        {"\"5\"", 0, 10, 0, EINVAL}, /* a string is not a number */
        {"null", 0, 10, 0, EINVAL},
        {"5", 10, 0, 0, EINVAL}, /* an empty range */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long long out = 12345;
        int r = int_of(cases[i].text, cases[i].min, cases[i].max, &out);
        if (cases[i].err == 0) {
            if (r != 0)
                fail_msg("%s: refused (errno %d)", cases[i].text, errno);
            assert_true(out == cases[i].want);
        } else {
            if (r != -1 || errno != cases[i].err)
                fail_msg("%s: got %d errno %d, want -1 errno %d", cases[i].text, r, errno,
                         cases[i].err);
            assert_true(out == 12345); /* untouched on failure */
        }
    }

    /* Values no parser makes, but a builder can. */
    long long out = 0;
    json_value *v = json_new_number(NAN);
    errno = 0;
    assert_int_equal(json_as_int(v, LLONG_MIN, LLONG_MAX, &out), -1);
    assert_int_equal(errno, EDOM);
    json_free(v);
    v = json_new_number(INFINITY);
    errno = 0;
    assert_int_equal(json_as_int(v, LLONG_MIN, LLONG_MAX, &out), -1);
    assert_int_equal(errno, ERANGE);
    json_free(v);
    errno = 0;
    assert_int_equal(json_as_int(NULL, 0, 10, &out), -1);
    assert_int_equal(errno, EINVAL);

    /* The member form, as a master reads {"cmd":"stats","requests":N}. */
    const char *text = "{\"cmd\":\"stats\",\"requests\":7,\"bad\":1e300}";
    v = json_parse(text, strlen(text), NULL, NULL);
    assert_non_null(v);
    assert_int_equal(json_object_get_int(v, "requests", 0, JSON_MAX_SAFE_INT, &out), 0);
    assert_true(out == 7);
    errno = 0;
    assert_int_equal(json_object_get_int(v, "bad", 0, JSON_MAX_SAFE_INT, &out), -1);
    assert_int_equal(errno, ERANGE);
    errno = 0;
    assert_int_equal(json_object_get_int(v, "missing", 0, 10, &out), -1);
    assert_int_equal(errno, ENOENT);
    errno = 0;
    assert_int_equal(json_object_get_int(v, "cmd", 0, 10, &out), -1);
    assert_int_equal(errno, EINVAL);
    assert_true(out == 7);
    json_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_errors_name_offset_and_reason),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_numbers_serialize_like_javascript),
        cmocka_unit_test(test_serialize_compact),
        cmocka_unit_test(test_object_lookup),
        cmocka_unit_test(test_integers_are_range_checked),
        cmocka_unit_test(test_hex_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
