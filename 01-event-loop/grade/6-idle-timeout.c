/* Exercise 6: an idle timeout per connection. With --idle-timeout MS, a
 * connection that sends nothing for MS ms gets one line and is closed; one
 * that keeps talking stays open.
 *
 * hint: add --idle-timeout MS to server_flags() in event-loop.c and a field to
 * server_opts; in conn.c give each connection a timer (loop_timer_add), push it back
 * with loop_timer_reset() whenever bytes arrive, and when it fires send "error: idle
 * timeout, closing" and close; README exercise 6
 *
 * The check starts ./event-loop --idle-timeout 600. Client A says hello
 * and then nothing: it must get a line starting "error: idle" and then the
 * end of the connection, 450 to 2500 ms after its hello. Then client B
 * pings every 150 ms for 1.8 s: every ping must be answered, with no error
 * line; once it stops, it too must be told and closed, 450 to 2500 ms after
 * its last ping.
 */
#include "run.h"

/* fd is told it was idle, then closed, within [lo, hi] ms of since. */
static int expect_idle_close(int fd, const char *who, long long since, int lo, int hi)
{
    char got[256];
    int n = read_line(fd, got, sizeof got, hi + 500);
    long long ms = now_ms() - since;
    if (n < 0 || strncmp(got, "error: idle", 11) != 0) {
        printf("expected \"error: idle ...\" on %s after --idle-timeout 600, got %s\n",
               who,
               n == -1   ? "nothing"
               : n == -2 ? "the connection closed"
                         : got);
        return -1;
    }
    if (ms < lo || ms > hi) {
        printf("expected %s's idle line %d-%d ms after its last line, got it after %lld "
               "ms\n",
               who, lo, hi, ms);
        return -1;
    }
    n = read_line(fd, got, sizeof got, 2000);
    if (n != -2) {
        printf("expected %s closed after its idle line, got %s\n", who,
               n == -1 ? "nothing for 2 s" : got);
        return -1;
    }
    return 0;
}

int main(void)
{
    int port = srv_start((const char *[]){"--idle-timeout", "600", "--tick", "0", NULL});
    if (port == -1)
        return 1;
    int a = srv_connect(port);
    char got[256];
    if (a == -1 || send_str(a, "hello\n") == -1 ||
        read_line(a, got, sizeof got, 2000) < 0) {
        printf("expected A's hello echoed, got nothing\n");
        return 1;
    }
    if (expect_idle_close(a, "A", now_ms(), 450, 2500) == -1)
        return 1;
    int b = srv_connect(port);
    if (b == -1)
        return 1;
    long long t0 = now_ms(), b_said = t0;
    while (now_ms() - t0 < 1800) {
        b_said = now_ms();
        int n = send_str(b, "ping\n") == -1 ? -2 : read_line(b, got, sizeof got, 2000);
        if (n < 0 || strstr(got, ": ping") == NULL) {
            printf("expected B, which pings every 150 ms, answered after %lld ms, got "
                   "%s\n",
                   now_ms() - t0,
                   n == -1   ? "nothing"
                   : n == -2 ? "the connection closed"
                             : got);
            return 1;
        }
        while (now_ms() - b_said < 150)
            srv_read(10);
    }
    if (expect_idle_close(b, "B", b_said, 450, 2500) == -1)
        return 1;
    close(a);
    close(b);
    srv_stop();
    return 0;
}
