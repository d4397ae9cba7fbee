/* Exercise 4: ./handle-passing -m TEXT sends the server with the message
 * TEXT instead of "server". A worker sent a handle it does not expect closes
 * it: nobody leaks the listener, so the port goes dark while every process
 * still runs.
 *
 * hint: add -m/--message TEXT to parse_args (default "server") and send it in
 * start_worker in place of "server"; the worker already closes a handle whose
 * message is not "server"; README exercise 4
 *
 * timeout: 30
 *
 * With -m hello -w 2 it waits for the handoff (every worker acknowledged),
 * then expects: the master and both workers alive, none of them holding an
 * fd for the server (/proc/PID/fd, where there is one), and a connection to
 * the port refused within 3 s. With -m server the port must still answer.
 */
#include "run.h"

/* 0 when connections to m's port are refused within ms. */
static int refused_within(const struct master *m, int ms)
{
    long long end = run_now_ms() + ms;
    for (;;) {
        int pid = run_ask(m, 1000);
        if (pid == -1)
            return 0;
        if (run_now_ms() > end) {
            printf("expected the port to refuse connections once every worker closed "
                   "the handle it did not expect, got %s\n",
                   pid > 0 ? "an answer from a worker" : "a connection that hangs");
            return -1;
        }
        run_sleep_ms(50);
    }
}

static int unexpected(void)
{
    struct master m;
    char id[64];
    int pids[2];
    if (run_handoff(&m, (const char *[]){"-m", "hello", "-w", "2", NULL}) == -1)
        return -1;
    if (run_socket_id(&m, id, sizeof id) == -1 || run_started_pids(&m, pids, 2) != 2) {
        printf("expected two \"started worker PID\" lines, got fewer\n");
        return -1;
    }
    if (refused_within(&m, 3000) == -1)
        return -1;
    int all[3] = {m.pid, pids[0], pids[1]};
    for (int i = 0; i < 3; i++) {
        if (kill(all[i], 0) == -1 || waitpid(m.pid, NULL, WNOHANG) != 0) {
            printf("expected the master and its workers to run on after the handle "
                   "came with \"hello\", got pid %d gone\n",
                   all[i]);
            return -1;
        }
        int n = run_fds_naming(all[i], id);
        if (n > 0) {
            printf("expected no fd for the server (%s) in pid %d, got %d\n", id, all[i],
                   n);
            return -1;
        }
    }
    return 0;
}

static int expected(void)
{
    struct master m;
    if (run_handoff(&m, (const char *[]){"-m", "server", "-w", "1", NULL}) == -1)
        return -1;
    if (run_ask(&m, 5000) <= 0) {
        printf("expected -m server to serve the port as before, got no answer\n");
        return -1;
    }
    return 0;
}

int main(void)
{
    return run_parts((int (*const[])(void)){unexpected, expected, NULL});
}
