/* Exercise 4: an idle timer per connection. A client that says nothing is
 * closed after the idle time; one that keeps talking, however slowly, is
 * served.
 *
 * hint: add --idle-timeout MS to ./fork and pass it to hello_serve(); give each
 * connection a loop_timer_add() timer that closes it, and loop_timer_reset() it whenever
 * bytes arrive; README exercise 4
 *
 * timeout: 20
 *
 * It runs ./fork --workers 1 --idle-timeout 500 and opens two connections
 * at once: the silent one must be closed by the worker 500 ms after it
 * connected (450 to 1800 ms), while the other sends its request in pieces,
 * one every 200 ms for 1.6 s, and must get `Hello World.`.
 */
#include "run.h"

enum { IDLE = 500, PIECES = 8, GAP = 200 };

int main(void)
{
    const char *argv[] = {"./fork", "--workers", "1", "--idle-timeout", "500", NULL};
    int port;
    pid_t pid;
    if (start_workers(argv, "--idle-timeout 500", 1, &port, &pid) == -1)
        return 1;
    long long t0 = now_ms();
    int silent = connect_port(port);
    int talker = connect_port(port);
    if (silent == -1 || talker == -1) {
        printf("expected to connect to the worker on port %d, got %s\n", port,
               strerror(errno));
        return 1;
    }
    const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n\r\n";
    size_t piece = (sizeof req - 1 + PIECES - 1) / PIECES, sent = 0;
    long long closed_at = -1;
    for (int i = 0; i < PIECES; i++) {
        /* Until the next piece is due, watch the silent client for EOF. */
        long long due = t0 + (long long)(i + 1) * GAP;
        while (closed_at == -1 && now_ms() < due) {
            struct pollfd pfd = {.fd = silent, .events = POLLIN};
            if (poll(&pfd, 1, (int)(due - now_ms())) == 1) {
                char b;
                if (read(silent, &b, 1) <= 0)
                    closed_at = now_ms() - t0;
            }
        }
        if (now_ms() < due)
            sleep_ms(due - now_ms());
        size_t n = sizeof req - 1 - sent < piece ? sizeof req - 1 - sent : piece;
        if (send(talker, req + sent, n, MSG_NOSIGNAL) != (ssize_t)n) {
            printf("expected a client that sends a piece every %d ms to stay connected, "
                   "got closed after %lld ms (%s)\n",
                   GAP, now_ms() - t0, strerror(errno));
            return 1;
        }
        sent += n;
    }
    char buf[1024] = "";
    if (read_all(talker, buf, sizeof buf, 3000) <= 0 ||
        strstr(buf, "Hello World.") == NULL) {
        printf("expected a client that sends a piece every %d ms (idle time %d) to get "
               "Hello World., got %s\n",
               GAP, IDLE, buf[0] ? "something else" : "nothing");
        return 1;
    }
    if (closed_at == -1) {
        struct pollfd pfd = {.fd = silent, .events = POLLIN};
        char b;
        if (poll(&pfd, 1, 200) == 1 && read(silent, &b, 1) <= 0)
            closed_at = now_ms() - t0;
    }
    if (closed_at < IDLE - 50 || closed_at > IDLE + 1300) {
        printf(
            "expected a silent client to be closed about %d ms after it connected, got "
            "%s%lld ms\n",
            IDLE, closed_at == -1 ? "still open after " : "closed after ",
            closed_at == -1 ? now_ms() - t0 : closed_at);
        return 1;
    }
    printf("the silent client was closed after %lld ms; the slow one was served\n",
           closed_at);
    return 0;
}
