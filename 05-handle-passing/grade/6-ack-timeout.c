/* Exercise 6: ./handle-passing --ack-timeout MS. A worker that has not
 * acknowledged the server MS ms after it was sent is stopped (the master
 * says so), and the other workers go on serving the port.
 *
 * hint: add --ack-timeout MS to parse_args; in start_worker arm a loop timer
 * after handle_send, cancel it in on_ack, and when it fires proc_kill the
 * worker; README exercise 6
 *
 * timeout: 30
 *
 * The workers are grade/stall-worker: one of them (the first to get there)
 * never reads its channel, the other is the real worker. With --ack-timeout 1000 -w 2 the
 * stalled one must still run 100 ms after the real one got the server, be
 * gone 4 s after, and the real one must answer on the port, with the
 * master still running. With the real workers alone, --ack-timeout 1000
 * must stop nobody for 1.3 s after the handoff: each acknowledged in time.
 */
#include "run.h"

/* Wait up to ms until the master has said "started worker" n times. */
static int started(struct master *m, int *pids, int n, int ms)
{
    long long end = run_now_ms() + ms;
    while (run_started_pids(m, pids, n) < n && run_now_ms() < end)
        run_collect(m, 50);
    return run_started_pids(m, pids, n);
}

static int stalled(void)
{
    struct master m;
    if (run_master(&m, (const char *[]){"--ack-timeout", "1000", "-w", "2", "--", "sh",
                                        "grade/stall-worker", NULL}) == -1)
        return -1;
    int pids[2], good;
    if (run_wait(&m, "got the server", 10000) == NULL ||
        started(&m, pids, 2, 5000) != 2 || run_worker_pids(&m, &good, 1) != 1) {
        printf("expected two workers, one of them with the server, got none in 10 s\n");
        return -1;
    }
    int stuck = pids[0] == good ? pids[1] : pids[0];
    long long seen = run_now_ms(); /* the server was sent to both before this */
    run_collect(&m, 100); /* a timer of 1000 ms leaves a margin for a slow machine */
    if (kill(stuck, 0) == -1) {
        printf(
            "expected the stalled worker %d to get its --ack-timeout of 1000 ms, got it "
            "stopped within %lld ms\n",
            stuck, run_now_ms() - seen);
        return -1;
    }
    while (kill(stuck, 0) == 0 && run_now_ms() < seen + 4000)
        run_collect(&m, 50);
    if (kill(stuck, 0) == 0) {
        printf("expected the worker %d that never acknowledged the server to be stopped "
               "after --ack-timeout 1000, got it still running after 4 s\n",
               stuck);
        return -1;
    }
    int pid = run_ask(&m, 5000);
    if (pid != good || waitpid(m.pid, NULL, WNOHANG) != 0) {
        printf("expected worker %d to answer and the master to run on, got %s\n", good,
               pid == -1  ? "the port refused"
               : pid == 0 ? "no answer"
                          : "another pid");
        return -1;
    }
    return 0;
}

static int in_time(void)
{
    struct master m;
    int pids[2];
    if (run_handoff(&m, (const char *[]){"--ack-timeout", "1000", "-w", "2", NULL}) == -1)
        return -1;
    if (run_started_pids(&m, pids, 2) != 2) {
        printf("expected two \"started worker PID\" lines, got fewer\n");
        return -1;
    }
    run_collect(&m, 1300); /* past the 1000 ms a timer left running would fire */
    for (int i = 0; i < 2; i++)
        if (kill(pids[i], 0) == -1) {
            printf("expected --ack-timeout to stop no worker that acknowledged in time, "
                   "got worker %d stopped\n",
                   pids[i]);
            return -1;
        }
    return 0;
}

int main(void)
{
    return run_parts((int (*const[])(void)){stalled, in_time, NULL});
}
