/* Exercise 7: proc_shell_quote() makes any input one literal word for
 * /bin/sh, so exec can take user input without running what it smuggles in.
 *
 * hint: add char *proc_shell_quote(const char *s) to proc.h and proc.c; inside single
 * quotes nothing is special to sh, but how does a ' of s get in? README exercise 7
 *
 * link: build/proc.o build/net.o build/loop.o build/loop_select.o build/loop_poll.o
 * build/loop_epoll.o
 *
 * For each input, it runs sh -c "printf %s QUOTED" (what proc_exec runs) and
 * expects the input back byte for byte, and no file created by the $(touch
 * ...) inside one of them.
 */
#include "run.h"

#include <stdlib.h>
#include <unistd.h>

int main(void)
{
    const char *tmp = getenv("GRADE_TMP");
    char pwned[600], inject[1300];
    snprintf(pwned, sizeof pwned, "%s/pwned", tmp ? tmp : "/tmp");
    snprintf(inject, sizeof inject, "bob; $(touch %s) `touch %s`", pwned, pwned);
    const char *inputs[] = {
        "bob", "",        "it's", "bob; echo INJECTED", inject, "$HOME", "a\nb", "-n",
        "'''", "\\ \" *", NULL,
    };
    for (int i = 0; inputs[i]; i++) {
        char *q = proc_shell_quote(inputs[i]);
        if (q == NULL) {
            printf("expected a quoted copy of \"%s\", got NULL\n", inputs[i]);
            return 1;
        }
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "printf %%s %s", q);
        const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
        struct run r;
        if (run(argv, NULL, &r, 5000) == -1)
            return 1;
        if (strcmp(r.out, inputs[i]) != 0 || access(pwned, F_OK) == 0) {
            printf(
                "expected \"%s\" back from sh -c 'printf %%s %s', got \"%s\"%s%s%s%s\n",
                inputs[i], q, r.out,
                access(pwned, F_OK) == 0 ? " and a file it touched" : "",
                r.err[0] ? ", stderr \"" : "", r.err, r.err[0] ? "\"" : "");
            return 1;
        }
        free(q);
    }
    return 0;
}
