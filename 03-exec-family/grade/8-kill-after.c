/* Exercise 8: kill_after_ms. A child that ignores the timeout's kill_signal
 * gets SIGKILL kill_after_ms later, so the callback cannot be held up.
 *
 * hint: add int kill_after_ms to proc_options_t; after kill_for() sends kill_signal,
 * arm a timer that sends SIGKILL if the child is not reaped by then; README exercise 8
 *
 * link: build/proc.o build/loop.o build/loop_select.o build/loop_poll.o
 * build/loop_epoll.o
 *
 * The child is this program again, run with --ignore-term (it ignores
 * SIGTERM and sleeps) or --sleep (it does not). With timeout_ms 200 and
 * kill_after_ms 300, the first must be reported about 500 ms after the
 * start, killed by SIGKILL; the second at about 200 ms, by SIGTERM.
 */
#include "proc.h"

#include "loop.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct result {
    int done;
    long long ms;
    proc_status_t st;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void on_done(const proc_status_t *error, const char *out, size_t out_len,
                    const char *err, size_t err_len, void *arg)
{
    (void)out, (void)out_len, (void)err, (void)err_len;
    struct result *r = arg;
    r->done = 1;
    r->ms = now_ms();
    if (error)
        r->st = *error;
}

/* Run self with mode; 0 when it was reported in [lo, hi] ms, killed by want. */
static int run(loop_t *loop, const char *self, const char *mode, int want, long lo,
               long hi)
{
    char *argv[] = {(char *)self, (char *)mode, NULL};
    proc_options_t o = {0};
    o.timeout_ms = 200;
    o.kill_after_ms = 300;
    o.process_group = 1; /* so that nothing outlives the check */
    struct result r = {0};
    long long start = now_ms();
    if (proc_exec_file(loop, self, argv, &o, on_done, &r) == -1) {
        printf("expected proc_exec_file to start %s, got an error\n", mode);
        return -1;
    }
    while (!r.done && now_ms() - start < 4000)
        loop_run_once(loop, 100);
    if (!r.done) {
        printf("expected the child that ignores SIGTERM to be reported about 500 ms "
               "after its start (timeout 200 + kill_after 300), got nothing after 4 s\n");
        return -1;
    }
    long ms = (long)(r.ms - start);
    if (r.st.how != PROC_TIMED_OUT || r.st.signo != want || ms < lo || ms > hi) {
        printf("expected %s: timed out, killed by %s after %ld-%ld ms, got how %d, "
               "signal %d, after %ld ms\n",
               mode, proc_signal_name(want), lo, hi, (int)r.st.how, r.st.signo, ms);
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
    loop_t *loop = loop_new(LOOP_POLL);
    if (loop == NULL)
        return 1;
    if (run(loop, argv[0], "--sleep", SIGTERM, 150, 1200) == -1 ||
        run(loop, argv[0], "--ignore-term", SIGKILL, 450, 2500) == -1)
        return 1;
    loop_free(loop);
    return 0;
}
