/*
 * test_ipc.c: black-box tests of ./ipc and ./ipc-worker.
 *
 *   make test        (run from the chapter directory, after make)
 *
 * The first group runs ./ipc as a reader would and checks the conversation
 * it prints, its exit status, and that nobody is left behind.
 *
 * The second group plays the master itself: it makes the socketpair, starts
 * ./ipc-worker with its end in NODE_CHANNEL_FD (testkit passes on fds that
 * are not close-on-exec), and then writes raw bytes on the wire, so it can
 * check the exact wire format and send what no well-behaved master would:
 * a broken line, a line that never ends, an EOF.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h" /* 01-event-loop */
#include "testkit.h"

static int exited_with(int status, int code)
{
    return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == code;
}

static void test_ipc_conversation(void **state)
{
    (void)state;
    tk_proc *p = tk_start((const char *[]){"./ipc", NULL}, NULL);
    assert_non_null(p);
    int status = tk_wait_exit(p, 10000);
    tk_drain(p);
    assert_true(exited_with(status, 0));
    const char *out = p->out;

    /* The steps, in the order the reader is told. */
    const char *sp = strstr(out, "] socketpair(AF_UNIX, SOCK_STREAM)");
    const char *st =
        strstr(out, "NODE_CHANNEL_FD=3, NODE_CHANNEL_SERIALIZATION_MODE=json");
    const char *dis = strstr(out, "both replies are in: disconnect");
    const char *wexit = strstr(out, "the master disconnected: exiting");
    const char *reaped = strstr(out, "exited with code 0");
    assert_non_null(sp);
    assert_non_null(st);
    assert_non_null(dis);
    assert_non_null(wexit);
    assert_non_null(reaped);
    assert_true(sp < st && st < dis && dis < wexit && wexit < reaped);

    /* The worker's pid as the master reports it is the pid in the worker's
     * own lines and in its replies. */
    int wpid = 0;
    const char *as = strstr(out, " as pid ");
    assert_non_null(as);
    assert_int_equal(sscanf(as, " as pid %d", &wpid), 1);
    char want[128];
    snprintf(want, sizeof want, "[worker %d] got message: \"some msg\"", wpid);
    assert_non_null(strstr(out, want));
    snprintf(
        want, sizeof want,
        "[worker %d] got message: {\"greeting\":\"你好\",\"list\":[1,2.5,true,null]}",
        wpid);
    assert_non_null(strstr(out, want));
    snprintf(want, sizeof want,
             "got message: {\"name\":\"Bruce\",\"pid\":%d,\"echo\":\"some msg\"}", wpid);
    assert_non_null(strstr(out, want));
    assert_int_equal(tk_count_output(p, "] got message: {\"name\":\"Bruce\""), 2);
    /* The worker removed the variables, as Node does. */
    assert_non_null(strstr(out, "NODE_CHANNEL_SERIALIZATION_MODE are now unset"));
    /* Nobody hangs around: the master's process group is empty. */
    assert_int_equal(tk_count_group(p->pid), 0);
    tk_free(p);
}

static void test_ipc_raw_line_is_reported_and_skipped(void **state)
{
    (void)state;
    tk_proc *p = tk_start((const char *[]){"./ipc", "--raw", "{\"a\":1,}", NULL}, NULL);
    assert_true(exited_with(tk_wait_exit(p, 10000), 0));
    tk_drain(p);
    assert_non_null(strstr(p->out,
                           "malformed message at byte 7 of the line at stream byte "
                           "0: expected a string key in object"));
    assert_int_equal(tk_count_output(p, "] got message: {\"name\":\"Bruce\""), 2);
    tk_free(p);
}

static void test_ipc_worker_message_limit(void **state)
{
    (void)state;
    tk_proc *p =
        tk_start((const char *[]){"./ipc", "--raw",
                                  "\"this line is longer than thirty-two bytes\"", NULL},
                 (const char *[]){"IPC_MAX_MESSAGE=32", NULL});
    assert_true(exited_with(tk_wait_exit(p, 10000), 1));
    tk_drain(p);
    assert_non_null(strstr(p->out, "is larger than the maximum of 32 bytes"));
    assert_non_null(strstr(p->out, "channel closed after an error: exiting"));
    /* 0 replies; how many messages were sent before the worker's close
     * arrived (and the next send failed with EPIPE) is a race. */
    assert_non_null(strstr(p->out, "the worker went away after 0 of "));
    assert_non_null(strstr(p->out, "exited with code 1"));
    assert_int_equal(tk_count_group(p->pid), 0);
    tk_free(p);
}

/* A bad limit is refused by name, with its value, and exit 2: "-1" once
 * wrapped around to the largest size and silently removed the limit. */
static void test_worker_refuses_a_bad_message_limit(void **state)
{
    (void)state;
    const char *bad[] = {
        "-1", "0", "12abc", "", " 5", "+5", "99999999999999999999999", "2147483649"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char env[64];
        snprintf(env, sizeof env, "IPC_MAX_MESSAGE=%s", bad[i]);
        tk_proc *p =
            tk_start((const char *[]){"./ipc", NULL}, (const char *[]){env, NULL});
        assert_non_null(p);
        assert_true(exited_with(tk_wait_exit(p, 10000), 1));
        tk_drain(p);
        char want[96];
        snprintf(want, sizeof want, "IPC_MAX_MESSAGE=%s:", bad[i]);
        if (strstr(p->out, want) == NULL)
            fail_msg("IPC_MAX_MESSAGE=\"%s\" was not refused by name:\n%s", bad[i],
                     p->out);
        assert_non_null(strstr(p->out, "exited with code 2"));
        assert_int_equal(tk_count_output(p, "IPC_MAX_MESSAGE="), 1); /* said once */
        tk_free(p);
    }
}

/* The worker inherits exactly 0, 1, 2 and the channel as 3: every other fd
 * of the master (its end of the pair, the loop's pipes) is close-on-exec.
 * A shell as the "worker" lists its own fds and shows the variables. */
static void test_worker_gets_only_fds_0_to_3(void **state)
{
    (void)state;
    if (access("/proc/self/fd", F_OK) != 0)
        skip(); /* no /proc (not Linux) */
    /* ls writes its whole listing in one write(2), so the master's own lines
     * cannot land in the middle of it. The shell exits at once, which closes
     * fd 3: the master sees EOF, reaps it and exits 1 (no replies). */
    tk_proc *p = tk_start((const char *[]){"./ipc", "--timeout", "5000", "sh", "-c",
                                           "ls /proc/$$/fd; readlink /proc/$$/fd/3; "
                                           "echo \"env $NODE_CHANNEL_FD "
                                           "$NODE_CHANNEL_SERIALIZATION_MODE\"",
                                           NULL},
                          NULL);
    assert_true(exited_with(tk_wait_exit(p, 10000), 1));
    tk_drain(p);
    const char *fds = strstr(p->out, "\n0\n1\n2\n3\n");
    assert_non_null(fds);
    assert_true(strncmp(fds + 9, "4\n", 2) != 0); /* and nothing after 3 */
    assert_non_null(strstr(p->out, "\nsocket:["));
    assert_non_null(strstr(p->out, "\nenv 3 json\n"));
    tk_free(p);
}

/* --rounds N: after the conversation, N more messages one at a time, each
 * timed from send to reply, and one line with their median round trip. */
static void test_ipc_rounds_times_each_round_trip(void **state)
{
    (void)state;
    tk_proc *p = tk_start((const char *[]){"./ipc", "--rounds", "5", NULL}, NULL);
    assert_true(exited_with(tk_wait_exit(p, 10000), 0));
    tk_drain(p);
    assert_int_equal(tk_count_output(p, "got message: {\"ping\":"), 5);
    assert_non_null(strstr(p->out, "round trip: median "));
    assert_non_null(strstr(p->out, " ms over 5 (min "));
    assert_non_null(strstr(p->out, "both replies are in: disconnect"));
    tk_free(p);
    tk_expect_bad_value((const char *[]){"./ipc", "--rounds", "many", NULL}, NULL,
                        "--rounds", "many");
}

static void test_ipc_help_and_bad_args(void **state)
{
    (void)state;
    tk_proc *p = tk_start((const char *[]){"./ipc", "--help", NULL}, NULL);
    assert_true(exited_with(tk_wait_exit(p, 5000), 0));
    tk_drain(p);
    assert_non_null(strstr(p->out, "usage: ipc"));
    tk_free(p);
    p = tk_start((const char *[]){"./ipc", "--bogus", NULL}, NULL);
    assert_true(exited_with(tk_wait_exit(p, 5000), 2));
    tk_free(p);
    p = tk_start((const char *[]){"./ipc", "--timeout", "soon", NULL}, NULL);
    assert_true(exited_with(tk_wait_exit(p, 5000), 2));
    tk_free(p);
    /* The environment default is checked like the flag: "5s" is not 5 ms. */
    p = tk_start((const char *[]){"./ipc", NULL},
                 (const char *[]){"IPC_TIMEOUT=5s", NULL});
    assert_true(exited_with(tk_wait_exit(p, 5000), 2));
    tk_drain(p);
    assert_non_null(strstr(p->out, "IPC_TIMEOUT"));
    tk_free(p);
    /* Each bad value named once with its flag or variable (01's cli.c). */
    tk_expect_bad_value((const char *[]){"./ipc", "--timeout", "soon", NULL}, NULL,
                        "--timeout", "soon");
    tk_expect_bad_value((const char *[]){"./ipc", "-t", "-5", NULL}, NULL, "-t", "-5");
    tk_expect_bad_value((const char *[]){"./ipc", NULL},
                        (const char *[]){"IPC_TIMEOUT=5s", NULL}, "IPC_TIMEOUT", "5s");
    tk_expect_bad_value((const char *[]){"./ipc", NULL},
                        (const char *[]){"LOOP_BACKEND=kqueue", NULL}, "LOOP_BACKEND",
                        "kqueue");
    p = tk_start((const char *[]){"./ipc-worker", "-h", NULL}, NULL);
    assert_true(exited_with(tk_wait_exit(p, 5000), 0));
    tk_drain(p);
    assert_non_null(strstr(p->out, "usage: ipc-worker"));
    tk_free(p);
    p = tk_start((const char *[]){"./ipc-worker", "a", "b", NULL}, NULL);
    assert_true(exited_with(tk_wait_exit(p, 5000), 2));
    tk_free(p);
}

static void test_ipc_reports_a_worker_that_cannot_start(void **state)
{
    (void)state;
    tk_proc *p = tk_start((const char *[]){"./ipc", "./no-such-worker", NULL}, NULL);
    assert_true(exited_with(tk_wait_exit(p, 5000), 1));
    tk_drain(p);
    char want[160];
    snprintf(want, sizeof want, "spawn ./no-such-worker: %s", tk_strerror(ENOENT));
    assert_non_null(strstr(p->out, want));
    tk_free(p);
}

/* A worker that never answers: the master gives up, kills it, reaps it. */
static void test_ipc_timeout_with_a_silent_worker(void **state)
{
    (void)state;
    tk_proc *p = tk_start(
        (const char *[]){"./ipc", "--timeout", "300", "sleep", "30", NULL}, NULL);
    int status = tk_wait_exit(p, 10000);
    tk_drain(p);
    assert_true(exited_with(status, 1));
    assert_non_null(strstr(p->out, "timed out with 0 of 2 replies"));
    assert_non_null(strstr(p->out, "killed by signal SIGTERM"));
    assert_int_equal(tk_count_group(p->pid), 0);
    tk_free(p);
}

/* A worker that ignores SIGTERM cannot hold the master: SIGKILL follows
 * after the grace period (2 s). `exec` makes the worker the sleep itself,
 * so nothing is left in the group to count. */
static void test_ipc_timeout_follows_with_sigkill(void **state)
{
    (void)state;
    long long t0 = tk_now_ms();
    tk_proc *p = tk_start((const char *[]){"./ipc", "--timeout", "300", "sh", "-c",
                                           "trap '' TERM; exec sleep 20", NULL},
                          NULL);
    assert_non_null(p);
    int status = tk_wait_exit(p, 8000);
    long long took = tk_now_ms() - t0;
    tk_drain(p);
    assert_true(exited_with(status, 1));
    /* 300 ms + 2000 ms of grace, and room for a loaded machine. */
    assert_true(took >= 2200 && took < 6000);
    assert_non_null(strstr(p->out, "timed out with 0 of 2 replies"));
    assert_non_null(
        strstr(p->out, "still running 2000 ms after SIGTERM: sending SIGKILL"));
    assert_non_null(strstr(p->out, "killed by signal SIGKILL"));
    assert_int_equal(tk_count_group(p->pid), 0);
    tk_free(p);
}

/* The same for a stop asked by a signal: SIGTERM to the master reaches the
 * worker as SIGTERM, and SIGKILL follows; the master still exits 0. */
static void test_ipc_stop_follows_with_sigkill(void **state)
{
    (void)state;
    tk_proc *p =
        tk_start((const char *[]){"./ipc", "sh", "-c",
                                  "trap '' TERM; echo ready; exec sleep 20", NULL},
                 NULL);
    assert_non_null(p);
    assert_non_null(tk_wait_output(p, "ready", 5000));
    long long t0 = tk_now_ms();
    int status = tk_stop(p, SIGTERM, 8000);
    long long took = tk_now_ms() - t0;
    assert_true(exited_with(status, 0));
    assert_true(took >= 1900 && took < 6000);
    assert_non_null(strstr(p->out, "killed by signal SIGKILL"));
    assert_int_equal(tk_count_group(p->pid), 0);
    tk_free(p);
}

static void test_ipc_sigterm_is_a_clean_stop(void **state)
{
    (void)state;
    tk_proc *p = tk_start((const char *[]){"./ipc", "sleep", "30", NULL}, NULL);
    assert_non_null(tk_wait_output(p, "send: {\"greeting\"", 5000));
    int status = tk_stop(p, SIGTERM, 5000);
    assert_true(exited_with(status, 0));
    assert_non_null(strstr(p->out, "got SIGTERM"));
    assert_non_null(strstr(p->out, "killed by signal SIGTERM")); /* and reaped */
    assert_int_equal(tk_count_group(p->pid), 0);
    tk_free(p);
}

static void test_worker_without_a_channel(void **state)
{
    (void)state;
    tk_proc *p = tk_start((const char *[]){"./ipc-worker", NULL},
                          (const char *[]){"NODE_CHANNEL_FD", NULL});
    assert_true(exited_with(tk_wait_exit(p, 5000), 1));
    tk_drain(p);
    assert_non_null(strstr(p->out, "NODE_CHANNEL_FD is not set"));
    tk_free(p);
    p = tk_start((const char *[]){"./ipc-worker", NULL},
                 (const char *[]){"NODE_CHANNEL_FD=1", NULL}); /* a pipe, not a socket */
    assert_true(exited_with(tk_wait_exit(p, 5000), 1));
    tk_drain(p);
    char want[160];
    snprintf(want, sizeof want, "NODE_CHANNEL_FD: %s", tk_strerror(ENOTSOCK));
    assert_non_null(strstr(p->out, want));
    tk_free(p);
}

/* ---- the test as the master, on the raw wire ------------------------------ */

typedef struct raw {
    tk_proc *p;
    int fd; /* our end */
} raw;

static raw start_worker(const char *name)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fcntl(sv[0], F_SETFD, FD_CLOEXEC); /* ours stays here */
    char env[32];
    snprintf(env, sizeof env, "NODE_CHANNEL_FD=%d", sv[1]);
    raw r;
    r.p = tk_start((const char *[]){"./ipc-worker", name, NULL},
                   (const char *[]){env, "NODE_CHANNEL_SERIALIZATION_MODE=json", NULL});
    assert_non_null(r.p);
    close(sv[1]);
    r.fd = sv[0];
    assert_non_null(tk_wait_output(r.p, "are now unset", 5000));
    return r;
}

/* Read one reply line and check it is {"name":NAME,"pid":PID,"echo":ECHO}. */
static void expect_reply(raw *r, const char *name, const char *echo_json)
{
    char line[4096];
    int n = tk_read_line(r->fd, line, sizeof line, 5000);
    assert_true(n > 0);
    char want[4096];
    snprintf(want, sizeof want, "{\"name\":\"%s\",\"pid\":%d,\"echo\":%s}", name,
             (int)r->p->pid, echo_json);
    assert_string_equal(line, want);
}

static void test_worker_wire_format(void **state)
{
    (void)state;
    raw r = start_worker("Carol");
    /* Exactly what Node writes: JSON text and '\n'. Two messages in one write,
     * then one split across two writes. */
    assert_int_equal(tk_send_str(r.fd, "\"some msg\"\n{\"a\":[1,{}]}\n"), 0);
    expect_reply(&r, "Carol", "\"some msg\"");
    expect_reply(&r, "Carol", "{\"a\":[1,{}]}");
    assert_int_equal(tk_send_str(r.fd, "{\"emoji\":\"\\ud83d"), 0);
    assert_int_equal(tk_send_str(r.fd, "\\ude00\"}\n"), 0);
    expect_reply(&r, "Carol", "{\"emoji\":\"\xf0\x9f\x98\x80\"}");
    close(r.fd);
    assert_true(exited_with(tk_wait_exit(r.p, 5000), 0));
    tk_free(r.p);
}

static void test_worker_survives_a_malformed_line(void **state)
{
    (void)state;
    raw r = start_worker("Dan");
    assert_int_equal(tk_send_str(r.fd, "{\"a\":1,}\n[2]\n"), 0);
    expect_reply(&r, "Dan", "[2]"); /* the good line after the bad one */
    assert_non_null(tk_wait_output(r.p,
                                   "malformed message at byte 7 of the line at stream "
                                   "byte 0: expected a string key in object",
                                   5000));
    close(r.fd);
    assert_true(exited_with(tk_wait_exit(r.p, 5000), 0));
    tk_free(r.p);
}

static void test_worker_hangs_up_on_an_oversized_message(void **state)
{
    (void)state;
    raw r = start_worker("Eve");
    /* 1 MiB + 1 bytes without a newline: over the default maximum. */
    size_t n = 1024 * 1024 + 1;
    char *big = malloc(n);
    memset(big, '7', n);
    (void)tk_send(r.fd, big, n); /* may fail halfway once the worker hangs up */
    free(big);
    assert_true(exited_with(tk_wait_exit(r.p, 5000), 1));
    tk_drain(r.p);
    assert_non_null(strstr(r.p->out, "larger than the maximum of 1048576 bytes"));
    char c;
    assert_true(read(r.fd, &c, 1) <= 0); /* our end sees the hang-up */
    close(r.fd);
    tk_free(r.p);
}

/* VmRSS of a process in kB, or -1. */
static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* A master that sends and never reads the replies. The worker's replies
 * queue up toward it; once its queue is full (chan's bound, 1 MiB) it stops
 * reading, so our own sends stall after a bounded amount instead of the
 * worker growing without end (30 MB in 6 s before). When we read at last,
 * every reply arrives: none was dropped. */
static void test_worker_stops_reading_a_master_that_does_not_read(void **state)
{
    (void)state;
    raw r = start_worker("Gus");
    long rss0 = rss_kb(r.p->pid);
    assert_true(rss0 > 0);
    int fl = fcntl(r.fd, F_GETFL);
    assert_int_equal(fcntl(r.fd, F_SETFL, fl | O_NONBLOCK), 0);

    char msg[1100];
    int n = snprintf(msg, sizeof msg, "{\"seq\":0,\"pad\":\"");
    memset(msg + n, 'x', 1000);
    size_t len = (size_t)n + 1000;
    memcpy(msg + len, "\"}\n", 3);
    len += 3;

    /* Send until the worker has not taken a byte for 1 s (or 24 MB: the
     * worker never stopped reading, which fails below). The worker's log
     * is drained all along, so it is never blocked on its stdout. */
    size_t sent = 0, off = 0, cap = 24u << 20;
    int messages = 0; /* whole messages sent */
    while (sent < cap) {
        ssize_t k = send(r.fd, msg + off, len - off, MSG_NOSIGNAL);
        if (k > 0) {
            sent += (size_t)k;
            off += (size_t)k;
            if (off == len)
                off = 0, messages++;
            continue;
        }
        assert_true(k == -1 && (errno == EAGAIN || errno == EWOULDBLOCK));
        tk_drain(r.p);
        struct pollfd pfd = {.fd = r.fd, .events = POLLOUT};
        long long until = tk_now_ms() + 1000;
        int ready = 0;
        while (!ready && tk_now_ms() < until) {
            ready = poll(&pfd, 1, 50) == 1;
            tk_drain(r.p);
        }
        if (!ready)
            break;
    }
    long rss1 = rss_kb(r.p->pid);
    tk_drain(r.p);
    /* The queue (1 MiB) and two socket buffers, not the 24 MB offered. */
    assert_true(sent < (6u << 20));
    assert_non_null(strstr(r.p->out, "the master is not reading"));
    assert_non_null(strstr(r.p->out, "pausing reading until it catches up"));
    /* Generous: sanitizer builds keep freed memory in quarantine. */
    assert_true(rss1 - rss0 < 16 * 1024);

    /* Now read. Every whole message gets its reply, in order; the rest of a
     * message cut short by the stall is sent as the worker reads again. */
    char *acc = malloc(1u << 16);
    size_t acc_len = 0;
    int replies = 0, want = messages + (off > 0);
    long long end = tk_now_ms() + 20000;
    while (replies < want && tk_now_ms() < end) {
        if (off > 0) {
            ssize_t k = send(r.fd, msg + off, len - off, MSG_NOSIGNAL);
            if (k > 0 && (off += (size_t)k) == len)
                off = 0;
        }
        ssize_t k = read(r.fd, acc + acc_len, (1u << 16) - acc_len);
        if (k > 0) {
            acc_len += (size_t)k;
            char *nl, *start = acc;
            while ((nl = memchr(start, '\n', acc_len - (size_t)(start - acc))) != NULL) {
                assert_non_null(strstr(start, "\"echo\":{\"seq\":0,"));
                replies++;
                start = nl + 1;
            }
            acc_len -= (size_t)(start - acc);
            memmove(acc, start, acc_len);
        } else {
            struct pollfd pfd = {.fd = r.fd, .events = POLLIN};
            poll(&pfd, 1, 50);
        }
        tk_drain(r.p);
    }
    free(acc);
    assert_int_equal(replies, want);
    assert_non_null(strstr(r.p->out, "caught up: reading again"));
    close(r.fd);
    assert_true(exited_with(tk_wait_exit(r.p, 5000), 0));
    tk_free(r.p);
}

static void test_worker_exits_when_the_master_goes(void **state)
{
    (void)state;
    raw r = start_worker("Fay");
    /* A master that dies closes its end as surely as one that disconnects:
     * the kernel closes the fds of a dead process. */
    close(r.fd);
    assert_true(exited_with(tk_wait_exit(r.p, 5000), 0));
    tk_drain(r.p);
    assert_non_null(strstr(r.p->out, "the master disconnected: exiting"));
    tk_free(r.p);
}

int main(void)
{
    /* The raw tests write to a worker that may already have hung up. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipc_conversation),
        cmocka_unit_test(test_ipc_raw_line_is_reported_and_skipped),
        cmocka_unit_test(test_ipc_worker_message_limit),
        cmocka_unit_test(test_worker_refuses_a_bad_message_limit),
        cmocka_unit_test(test_worker_gets_only_fds_0_to_3),
        cmocka_unit_test(test_ipc_help_and_bad_args),
        cmocka_unit_test(test_ipc_rounds_times_each_round_trip),
        cmocka_unit_test(test_ipc_reports_a_worker_that_cannot_start),
        cmocka_unit_test(test_ipc_timeout_with_a_silent_worker),
        cmocka_unit_test(test_ipc_sigterm_is_a_clean_stop),
        cmocka_unit_test(test_ipc_timeout_follows_with_sigkill),
        cmocka_unit_test(test_ipc_stop_follows_with_sigkill),
        cmocka_unit_test(test_worker_without_a_channel),
        cmocka_unit_test(test_worker_wire_format),
        cmocka_unit_test(test_worker_survives_a_malformed_line),
        cmocka_unit_test(test_worker_hangs_up_on_an_oversized_message),
        cmocka_unit_test(test_worker_exits_when_the_master_goes),
        cmocka_unit_test(test_worker_stops_reading_a_master_that_does_not_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
