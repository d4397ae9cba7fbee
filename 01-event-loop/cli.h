/*
 * cli.h: reading a program's flags and environment, one convention for all
 * the chapters' programs.
 *
 * A bad value is named once, with the flag (or variable) and the value, and
 * the program exits 2 after printing its usage:
 *
 *   $ ./event-loop --port abc
 *   event-loop: bad value for --port: abc (want a whole number from 0 to 65535)
 *   usage: ...
 *
 * Runtime failures are not this module's business: they exit 1 with err(3).
 *
 * Use:
 *   cli_init("event-loop", usage);          // first thing in main
 *   for (int i = 1; i < argc; i++) {
 *       cli_help(argv[i]);                  // -h, --help: usage, exit 0
 *       if (strcmp(argv[i], "--port") == 0)
 *           port = cli_long("--port", cli_value(argc, argv, &i), 0, 65535);
 *       ...
 *       else
 *           cli_bad_arg(argv[i]);
 *   }
 */
#ifndef CLI_H
#define CLI_H

#include <stdio.h>

/* The program's name for messages, and the function that prints its usage
 * text (to stdout for --help, to stderr after an error). */
void cli_init(const char *prog, void (*usage)(FILE *out));

/* If arg is -h or --help: print the usage text to stdout and exit 0.
 * Otherwise return, so that the caller goes on to its own flags. */
void cli_help(const char *arg);

/* The value after flag argv[*i]; advances *i. Exits 2 if there is none. */
const char *cli_value(int argc, char **argv, int *i);

/* If argv[*i] is the flag `name`, as `name VALUE` or `name=VALUE` (or, for a
 * one-letter flag like -w, `-wVALUE`), return
 * VALUE and leave *i on the last word used; NULL if argv[*i] is something
 * else. Exits 2 if the flag has no value. */
const char *cli_opt(int argc, char **argv, int *i, const char *name);

/* value as a whole number in [min, max] (decimal, nothing else on the
 * line). `what` names where it came from: "--port" or "PORT". Exits 2 with
 * both named if it is not one. */
long cli_long(const char *what, const char *value, long min, long max);

/* The environment variable `name` as a number in [min, max], or dflt when it
 * is unset or empty. Exits 2 naming the variable and its value if bad. */
long cli_env_long(const char *name, long dflt, long min, long max);

/* The environment variable `name`, or dflt when it is unset or empty. */
const char *cli_env(const char *name, const char *dflt);

/* "PROG: bad argument: ARG" (or "PROG: bad value for FLAG: VALUE" style
 * messages through cli_fail), then the usage text; exit 2. */
_Noreturn void cli_bad_arg(const char *arg);

/* "PROG: <message>", then the usage text; exit 2. For a bad value that
 * is not a number: cli_fail("bad value for --mode: %s (want ...)", v). */
_Noreturn void cli_fail(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

#endif
