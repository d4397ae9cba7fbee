/*
 * fuzz_reply.c: libFuzzer harness for lg_parse_reply() (loadgen.c).
 *
 * The load client parses whatever line the server sent back; a server is
 * another process and may send anything. The parser must never read past
 * the line and must return either -1 or a positive pid.
 *
 *   make fuzz        (clang; FUZZ_SECONDS=30 by default)
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The client keeps at most 127 bytes of a reply, NUL-terminated. */
    char line[128];
    size_t n = size < sizeof line - 1 ? size : sizeof line - 1;
    memcpy(line, data, n);
    line[n] = '\0';
    int pid = lg_parse_reply(line);
    if (pid != -1 && pid <= 0)
        abort();
    return 0;
}
