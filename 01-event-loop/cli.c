/*
 * cli.c: flags and environment values, named when they are wrong (cli.h).
 *
 * One home for this, so that every program in the tutorial answers a typo
 * the same way: one line naming the flag and the value, the usage, exit 2.
 */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *prog_name = "program";
static void (*print_usage)(FILE *out);

void cli_init(const char *prog, void (*usage)(FILE *out))
{
    prog_name = prog;
    print_usage = usage;
}

_Noreturn void cli_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (print_usage != NULL)
        print_usage(stderr);
    exit(2);
}

_Noreturn void cli_bad_arg(const char *arg)
{
    cli_fail("bad argument: %s", arg);
}

void cli_help(const char *arg)
{
    if (strcmp(arg, "-h") != 0 && strcmp(arg, "--help") != 0)
        return;
    if (print_usage != NULL)
        print_usage(stdout);
    exit(0);
}

const char *cli_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        cli_fail("%s needs a value", argv[*i]);
    return argv[++*i];
}

const char *cli_opt(int argc, char **argv, int *i, const char *name)
{
    size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) != 0)
        return NULL;
    if (argv[*i][len] == '=')
        return argv[*i] + len + 1;
    /* A one-letter flag may carry its value attached, as getopt allows:
     * -w1 is -w 1. */
    if (argv[*i][len] != '\0')
        return len == 2 && name[1] != '-' ? argv[*i] + len : NULL;
    return cli_value(argc, argv, i);
}

long cli_long(const char *what, const char *value, long min, long max)
{
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    /* strtol skips leading spaces and takes a sign; a flag's value is
     * digits only, so " 80" and "+80" are refused like "80x". */
    int digits =
        value[0] != '\0' && (value[0] == '-' || (value[0] >= '0' && value[0] <= '9'));
    if (!digits || errno != 0 || end == value || *end != '\0' || v < min || v > max)
        cli_fail("bad value for %.*s: %s (want a whole number from %ld to %ld)",
                 (int)strcspn(what, "="), what, value, min, max); /* "--port=x": --port */
    return v;
}

const char *cli_env(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : dflt;
}

long cli_env_long(const char *name, long dflt, long min, long max)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return dflt;
    return cli_long(name, v, min, max);
}
