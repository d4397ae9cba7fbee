/*
 * fuzz_json.c: libFuzzer harness for the JSON parser and serializer.
 *
 *   make fuzz                      (clang; FUZZ_SECONDS=30 by default)
 *
 * Every input is parsed with small limits (so the depth and size checks are
 * reached too). Whatever parses must serialize, and the serialized text must
 * parse again and serialize to the very same bytes: the serializer writes
 * only what the parser accepts, and a round trip is stable. Whatever fails
 * must name a reason and an offset inside the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_limits lim = {.max_depth = 16, .max_size = 4096};
    json_error e;
    json_value *v = json_parse((const char *)data, size, &lim, &e);
    if (v == NULL) {
        if (e.reason == NULL || e.offset > size)
            abort();
        return 0;
    }
    size_t len1;
    char *s1 = json_serialize(v, &len1);
    if (s1 == NULL)
        abort();
    json_value *v2 = json_parse(s1, len1, NULL, &e);
    if (v2 == NULL)
        abort(); /* we wrote something we cannot read */
    size_t len2;
    char *s2 = json_serialize(v2, &len2);
    if (s2 == NULL || len1 != len2 || memcmp(s1, s2, len1) != 0)
        abort(); /* the round trip is not stable */
    json_value *c = json_clone(v2);
    char *s3 = json_serialize(c, NULL);
    if (s3 == NULL || strcmp(s3, s2) != 0)
        abort();
    free(s1);
    free(s2);
    free(s3);
    json_free(v);
    json_free(v2);
    json_free(c);
    return 0;
}
