/*
 * fuzz_linebuf.c: libFuzzer harness for the line framer (linebuf.h).
 *
 *   make fuzz                       (clang; FUZZ_SECONDS=30 by default)
 *
 * The input is split into reads at the positions its first bytes choose,
 * as TCP might split it, and fed to a small-limit buffer. Every line handed
 * out must be within the limit, contain no '\n', and together with the
 * terminators account for exactly the bytes consumed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "linebuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max = 1 + data[0] % 64;
    size_t step = 1 + data[1] % 17;
    data += 2;
    size -= 2;
    linebuf_t lb;
    linebuf_init(&lb, max);
    size_t fed = 0, taken = 0;
    while (fed < size) {
        size_t n = size - fed < step ? size - fed : step;
        if (linebuf_append(&lb, data + fed, n) == -1)
            abort();
        fed += n;
        const char *line;
        size_t len;
        int r;
        while ((r = linebuf_next(&lb, &line, &len)) == 1) {
            if (len > max || memchr(line, '\n', len) != NULL)
                abort();
            taken += len + 1;
            if (data[taken - 1] != '\n') {
                if (data[taken - 1] != '\r' || data[taken] != '\n')
                    abort(); /* the terminator was \r\n */
                taken++;
            }
        }
        if (r == -1)
            break;
        if (taken + linebuf_pending(&lb) != fed)
            abort();
    }
    linebuf_free(&lb);
    return 0;
}
