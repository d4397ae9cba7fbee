/* Exercise 7: proc_shell_quote() makes any input one literal word for
 * /bin/sh, so exec can take user input without running what it smuggles in.
 *
 * hint: add char *proc_shell_quote(const char *s) to proc.h and proc.c; inside single
 * quotes nothing is special to sh, but how does a ' of s get in? README exercise 7
 *
 * link: build/proc.o build/loop.o build/loop_select.o build/loop_poll.o
 * build/loop_epoll.o
 *
 * For each input, it runs proc_exec("printf %s " + quoted) and expects the
 * input back byte for byte, and no file created by a $(touch ...) inside it.
 */
#include "proc.h"

#include "loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct result {
    int done;
    char out[512];
    char err[256];
};

static void on_done(const proc_status_t *error, const char *out, size_t out_len,
                    const char *err, size_t err_len, void *arg)
{
    struct result *r = arg;
    r->done = 1;
    snprintf(r->out, sizeof r->out, "%.*s", (int)out_len, out);
    const char *nl = err_len ? memchr(err, '\n', err_len) : NULL;
    int n = nl ? (int)(nl - err) : (int)err_len;
    if (error || err_len) /* its first line */
        snprintf(r->err, sizeof r->err, ", stderr \"%.*s\"", n, err_len ? err : "");
}

static int stop_when_done(loop_t *loop, struct result *r)
{
    while (!r->done)
        if (loop_run_once(loop, 1000) == -1)
            return -1;
    return 0;
}

int main(void)
{
    const char *tmp = getenv("GRADE_TMP");
    char pwned[600], inject[1300];
    snprintf(pwned, sizeof pwned, "%s/pwned", tmp ? tmp : "/tmp");
    snprintf(inject, sizeof inject, "bob; $(touch %s) `touch %s`", pwned, pwned);
    const char *inputs[] = {"bob",  "",        "it's", "bob; echo INJECTED",
                            inject, "$HOME",   "a\nb", "-n",
                            "'''",  "\\ \" *", NULL};
    loop_t *loop = loop_new(LOOP_POLL);
    if (loop == NULL) {
        printf("expected a loop, got none\n");
        return 1;
    }
    for (int i = 0; inputs[i]; i++) {
        char *q = proc_shell_quote(inputs[i]);
        if (q == NULL) {
            printf("expected a quoted copy of \"%s\", got NULL\n", inputs[i]);
            return 1;
        }
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "printf %%s %s", q);
        struct result r = {0};
        if (proc_exec(loop, cmd, NULL, on_done, &r) == -1 ||
            stop_when_done(loop, &r) == -1) {
            printf("expected proc_exec to run, got an error\n");
            return 1;
        }
        if (strcmp(r.out, inputs[i]) != 0 || access(pwned, F_OK) == 0) {
            printf("expected \"%s\" back from sh -c 'printf %%s %s', got \"%s\"%s%s\n",
                   inputs[i], q, r.out,
                   access(pwned, F_OK) == 0 ? " and a file it touched" : "", r.err);
            return 1;
        }
        free(q);
    }
    loop_free(loop);
    return 0;
}
