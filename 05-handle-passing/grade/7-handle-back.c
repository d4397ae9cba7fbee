/* Exercise 7: a worker sent SIGTERM hands the server back to the master
 * before it exits, and the master starts a new worker in its place with
 * that same socket. The port never goes dark, and nobody binds it again.
 *
 * hint: in the worker's on_signal, for SIGTERM, handle_send the server back
 * ("server", HANDLE_NET_SERVER) and handle_disconnect; in the master's
 * on_worker_message keep that fd instead of closing it, and in
 * on_worker_exit start_worker a new worker with it in the same slot; README
 * exercise 7
 *
 * timeout: 30
 *
 * With -w 1 it asks once (the first worker answers), sends that worker
 * SIGTERM, then asks again and again for up to 5 s: no connection may be
 * refused, and a new pid must answer, holding the same socket the master
 * bound (/proc/PID/fd, where there is one). The master runs on.
 */
#include "run.h"

int main(void)
{
    struct master m;
    int first;
    char id[64];
    if (run_handoff(&m, (const char *[]){"-w", "1", NULL}) == -1)
        return 1;
    if (run_worker_pids(&m, &first, 1) != 1 || run_socket_id(&m, id, sizeof id) == -1) {
        printf("expected the worker to say \"got the server\", got no such line\n");
        return 1;
    }
    if (run_ask(&m, 5000) != first) {
        printf("expected worker %d to answer, got no answer\n", first);
        return 1;
    }
    kill(first, SIGTERM);
    long long end = run_now_ms() + 5000;
    int pid;
    do {
        pid = run_ask(&m, 3000);
        run_collect(&m, 0);
        if (pid == -1) {
            printf("expected every connection after SIGTERM to worker %d to be answered "
                   "(the server handed back, and on to a new worker), got one refused\n",
                   first);
            return 1;
        }
    } while ((pid == first || pid == 0) && run_now_ms() < end);
    if (pid == first || pid == 0) {
        printf("expected a new worker to answer within 5 s of SIGTERM to worker %d, got "
               "%s\n",
               first, pid ? "the same worker still" : "no answer");
        return 1;
    }
    int n = run_fds_naming(pid, id);
    if (n == 0) {
        printf("expected the new worker %d to hold the socket the master bound (%s), got "
               "another socket\n",
               pid, id);
        return 1;
    }
    if (waitpid(m.pid, NULL, WNOHANG) != 0) {
        printf("expected the master to run on, got it gone\n");
        return 1;
    }
    return 0;
}
