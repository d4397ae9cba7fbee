/*
 * strerror: print strerror(N) for each errno number N given, one per line.
 *
 *   testkit/build/strerror 98      # glibc: Address already in use
 *                                  # musl:  Address in use
 *
 * The wording of an errno is the C library's, not the kernel's, so a test
 * cannot hard-code it. A test built with one libc that checks programs built
 * with another (`make musl-test`) asks this helper, built with the programs'
 * compiler, for the programs' wording: see tk_strerror in testkit.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        printf("%s\n", strerror(atoi(argv[i])));
    return 0;
}
