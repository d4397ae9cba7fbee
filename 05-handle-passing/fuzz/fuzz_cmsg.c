/*
 * fuzz_cmsg.c: libFuzzer harness for fdpass_parse(), the walk over received
 * ancillary data.
 *
 * A kernel hands us well-formed control data, but the parser must not trust
 * that: any bytes at all, with any lengths in their headers, must neither
 * make it read outside the buffer (AddressSanitizer watches) nor report more
 * fds than the buffer can hold. The visitor only records; nothing is closed,
 * because the "fds" here are arbitrary integers.
 *
 *   make fuzz                     (clang; FUZZ_SECONDS=30 by default)
 */
#include "fdpass.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count(int fd, void *arg)
{
    (void)fd;
    (*(size_t *)arg)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exactly sized heap copy: a read one byte past the end is caught. */
    void *control = malloc(size ? size : 1);
    if (control == NULL)
        return 0;
    memcpy(control, data, size);
    size_t seen = 0;
    int n = fdpass_parse(control, size, count, &seen);
    if (n >= 0 && (size_t)n != seen)
        abort();
    if (seen > size / sizeof(int))
        abort();
    free(control);
    return 0;
}
