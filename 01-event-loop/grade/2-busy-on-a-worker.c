/* Exercise 2: `busy` runs on a worker thread and its reply comes back to
 * the loop through a pipe, so the loop keeps serving everyone else.
 *
 * hint: in conn.c, hand a valid `busy MS` line to a new thread (pthread_create) that
 * computes the reply, and have the thread write() a pointer to the finished job into a
 * pipe that the loop watches; stop answering that connection's next lines until its
 * reply is queued, so that replies keep their order; README exercise 2
 *
 * The check starts ./event-loop --tick 200. Client A sends "busy 1500" and
 * "after" in one write; 300 ms later client B pings. B must be answered
 * within 600 ms, at least 3 tick lines must be printed while A waits, and
 * A must get "busy 1500 ms done" and then "after", in that order.
 */
#include "run.h"

int main(void)
{
    int port = srv_start((const char *[]){"--tick", "200", NULL});
    if (port == -1)
        return 1;
    int a = srv_connect(port), b = srv_connect(port);
    if (a == -1 || b == -1)
        return 1;
    char got[256];
    /* Both connections accepted and served once before the test starts. */
    if (send_str(a, "hi\n") == -1 || read_line(a, got, sizeof got, 3000) < 0 ||
        send_str(b, "hi\n") == -1 || read_line(b, got, sizeof got, 3000) < 0) {
        printf("expected an echo of \"hi\" on both connections, got none\n");
        return 1;
    }
    long long t0 = now_ms();
    if (send_str(a, "busy 1500\nafter\n") == -1)
        return 1;
    while (now_ms() - t0 < 300)
        srv_read(10); /* keep the server's output flowing meanwhile */
    long long t1 = now_ms();
    if (send_str(b, "ping\n") == -1)
        return 1;
    int n = read_line(b, got, sizeof got, 5000);
    long long ping_ms = now_ms() - t1;
    if (n < 0 || strstr(got, ": ping") == NULL) {
        printf("expected B's \"ping\" echoed, got %s\n", n < 0 ? "nothing" : got);
        return 1;
    }
    if (ping_ms > 600) {
        printf("expected B answered within 600 ms while A's busy 1500 runs, got %lld ms "
               "(the loop was blocked)\n",
               ping_ms);
        return 1;
    }
    n = read_line(a, got, sizeof got, 8000);
    long long done = now_ms();
    if (n < 0 || strstr(got, "busy 1500 ms done") == NULL) {
        printf("expected \"pid N: busy 1500 ms done\" on A first, got \"%s\"\n",
               n < 0 ? "nothing" : got);
        return 1;
    }
    n = read_line(a, got, sizeof got, 3000);
    if (n < 0 || strstr(got, ": after") == NULL) {
        printf("expected \"pid N: after\" on A after the busy reply, got \"%s\"\n",
               n < 0 ? "nothing" : got);
        return 1;
    }
    int ticks = srv_count("] tick ", t0, done - 20);
    if (ticks < 3) {
        printf("expected at least 3 tick lines (every 200 ms) while busy 1500 ran, got "
               "%d\n",
               ticks);
        return 1;
    }
    close(a);
    close(b);
    srv_stop();
    return 0;
}
