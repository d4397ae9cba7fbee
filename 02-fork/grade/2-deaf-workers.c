/* Exercise 2: the stop deadline is a flag, and a worker deaf to SIGTERM
 * gets SIGKILL when that deadline passes, not before and not 5 s later.
 *
 * hint: add --stop-timeout MS (into sup_config_t's stop_timeout_ms) and --deaf (a worker
 * that stays running on SIGTERM) to ./fork; README exercise 2
 *
 * timeout: 20
 *
 * It runs ./fork --workers 2 --stop-timeout 800 --deaf and sends the master
 * SIGTERM. A deaf worker must still answer GET / 300 ms later; the master
 * must then SIGKILL both at the deadline, log each as "killed by signal 9",
 * and exit 0 about 800 ms after the SIGTERM.
 */
#include "run.h"

enum { DEADLINE = 800 };

int main(void)
{
    const char *argv[] = {"./fork", "--workers", "2", "--stop-timeout",
                          "800",    "--deaf",    NULL};
    int ports[2];
    pid_t pids[2];
    if (start_workers(argv, "--stop-timeout 800 --deaf", 2, ports, pids) == -1)
        return 1;
    long long t0 = now_ms();
    kill(prog.pid, SIGTERM);
    sleep_ms(300);
    for (int i = 0; i < 2; i++) {
        if (!says_hello(ports[i])) {
            printf("expected worker %d (pid %d), deaf to SIGTERM, to answer GET / 300 ms "
                   "after the master's SIGTERM, got no answer\n",
                   i + 1, (int)pids[i]);
            return 1;
        }
    }
    int st = prog_exit(8000);
    long long ms = now_ms() - t0;
    if (st == -1 || ms < DEADLINE - 20 || ms > DEADLINE + 2700) {
        printf("expected the master to exit about %d ms after SIGTERM (the deadline, "
               "--stop-timeout %d), got %s after %lld ms\n",
               DEADLINE, DEADLINE, st == -1 ? "no exit" : "an exit", ms);
        return 1;
    }
    int killed = 0;
    for (const char *o = prog.out; (o = strstr(o, "killed by signal 9")) != NULL; o++)
        killed++;
    if (killed != 2 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("expected both workers \"killed by signal 9\" and exit status 0, got %d "
               "killed and %s %d\n",
               killed, WIFEXITED(st) ? "exit status" : "signal",
               WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        return 1;
    }
    printf("deaf workers answered after SIGTERM; the master exited %lld ms after it\n",
           ms);
    return 0;
}
