/* Exercise 8: kill_after_ms. A child that ignores the timeout's kill_signal
 * gets SIGKILL kill_after_ms later, so the callback cannot be held up.
 *
 * hint: add int kill_after_ms to proc_options_t; after kill_for() sends kill_signal, arm
 * a timer that sends SIGKILL if the child is not reaped by then; README exercise 8
 *
 * link: build/proc.o build/net.o build/loop.o build/loop_select.o build/loop_poll.o
 * build/loop_epoll.o
 *
 * The child is this program again, run with --ignore-term (it ignores
 * SIGTERM and sleeps) or --sleep (it does not). With timeout_ms 200 and
 * kill_after_ms 300, the first must be reported about 500 ms after the
 * start, killed by SIGKILL; the second at about 200 ms, by SIGTERM.
 */
#include "run.h"

#include <signal.h>
#include <unistd.h>

/* Run self with mode; 0 when it was reported in [lo, hi] ms, killed by want. */
static int check(const char *self, const char *mode, int want, long lo, long hi)
{
    const char *argv[] = {self, mode, NULL};
    proc_options_t o = {0};
    o.timeout_ms = 200;
    o.kill_after_ms = 300;
    o.process_group = 1; /* so that nothing outlives the check */
    struct run r;
    if (run(argv, &o, &r, 4000) == -1) {
        printf("expected the child %s to be reported about 500 ms after its start "
               "(timeout 200 + kill_after 300), got nothing after 4 s\n",
               mode);
        return -1;
    }
    if (r.st.how != PROC_TIMED_OUT || r.st.signo != want || r.ms < lo || r.ms > hi) {
        printf("expected %s: timed out, killed by %s after %ld-%ld ms, got \"%s\" after "
               "%lld ms\n",
               mode, proc_signal_name(want), lo, hi, r.status, r.ms);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--ignore-term") == 0)
        signal(SIGTERM, SIG_IGN);
    if (argc == 2) {
        sleep(6);
        return 0;
    }
    if (check(argv[0], "--sleep", SIGTERM, 150, 1200) == -1 ||
        check(argv[0], "--ignore-term", SIGKILL, 450, 2500) == -1)
        return 1;
    return 0;
}
