/*
 * test_proto.c: unit tests of the line protocol (proto.h).
 *
 *   make test          (or: make && ./build/test_proto)
 *
 * The protocol maps one line to one reply, so it is tested without any
 * socket: echo, the busy argument (valid, non-numeric, negative, too big),
 * that busy really burns CPU time, and that stats reports this process.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

static char out[PROTO_REPLY_MAX];
static const proto_info info = {"loop", "poll", 3};

static const char *reply(const char *line)
{
    size_t n = proto_reply(line, strlen(line), &info, out, sizeof out);
    assert_true(n > 0 && n < sizeof out);
    assert_int_equal(out[n - 1], '\n');
    out[n - 1] = '\0';
    return out;
}

static void test_echo(void **state)
{
    (void)state;
    char want[64];
    snprintf(want, sizeof want, "pid %ld: hello world", (long)getpid());
    assert_string_equal(reply("hello world"), want);
    snprintf(want, sizeof want, "pid %ld: ", (long)getpid());
    assert_string_equal(reply(""), want);
    /* Words that only start like a command are echoed. */
    snprintf(want, sizeof want, "pid %ld: busybox", (long)getpid());
    assert_string_equal(reply("busybox"), want);
    snprintf(want, sizeof want, "pid %ld: stats please", (long)getpid());
    assert_string_equal(reply("stats please"), want);
}

/* The server's pid is looked up once, not once per reply; a process forked
 * after that lookup must still answer with its own pid, not its parent's. */
static void test_pid_after_fork(void **state)
{
    (void)state;
    char want[64];
    snprintf(want, sizeof want, "pid %ld: before", (long)getpid());
    assert_string_equal(reply("before"), want);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_int_not_equal(pid, -1);
    if (pid == 0) {
        close(p[0]);
        size_t n = proto_reply("child", 5, &info, out, sizeof out);
        _exit(write(p[1], out, n) == (ssize_t)n ? 0 : 1);
    }
    close(p[1]);
    char got[64] = {0};
    ssize_t n = read(p[0], got, sizeof got - 1);
    close(p[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_true(n > 0);
    snprintf(want, sizeof want, "pid %ld: child\n", (long)pid);
    assert_string_equal(got, want);
    /* And the parent still answers as itself. */
    snprintf(want, sizeof want, "pid %ld: after", (long)getpid());
    assert_string_equal(reply("after"), want);
}

static void test_busy_errors(void **state)
{
    (void)state;
    const char *bad[] = {"busy",    "busy ",    "busy abc",
                         "busy -5", "busy 1e3", "busy 60001",
                         "busy 5 ", "busy  5",  "busy 999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(proto_busy_ms(bad[i], strlen(bad[i])), -1);
        const char *r = reply(bad[i]);
        assert_true(strncmp(r, "error: busy wants", 17) == 0);
    }
    long ms;
    assert_int_equal(proto_parse_busy("60000", 5, &ms), 0);
    assert_int_equal(ms, 60000);
    assert_int_equal(proto_busy_ms("busy 0", 6), 0);
}

static long cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 +
           ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000;
}

/* busy must burn CPU (a sleep would let a loop run other clients). */
static void test_busy_burns_cpu(void **state)
{
    (void)state;
    struct timespec t0, t1;
    struct rusage ru0, ru1;
    assert_int_equal(getrusage(RUSAGE_SELF, &ru0), 0);
    long cpu0 = cpu_ms();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char want[64];
    snprintf(want, sizeof want, "pid %ld: busy 200 ms done", (long)getpid());
    assert_string_equal(reply("busy 200"), want);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(getrusage(RUSAGE_SELF, &ru1), 0);
    long wall = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(wall >= 200);
    /* It spun, it did not sleep: a sleep is a voluntary context switch, and
     * there was none. That holds however loaded the machine is; the CPU
     * time does not (with two CPU hogs on two cores and a load average
     * of 9, this process got under a quarter of the 200 ms), so it is only
     * asked to be clearly above zero. */
    assert_int_equal(ru1.ru_nvcsw - ru0.ru_nvcsw, 0);
    assert_true(cpu_ms() - cpu0 >= 10);
}

static void test_stats(void **state)
{
    (void)state;
    const char *r = reply("stats");
    assert_true(strncmp(r, "stats mode=loop backend=poll conns=3 threads=", 45) == 0);
    long threads = -2, rss = -2, vsz = -2, vol = -2, invol = -2;
    const char *p = strstr(r, "threads=");
    assert_non_null(p);
    assert_int_equal(sscanf(p,
                            "threads=%ld rss_kib=%ld vsz_kib=%ld ctxsw_voluntary=%ld "
                            "ctxsw_involuntary=%ld",
                            &threads, &rss, &vsz, &vol, &invol),
                     5);
#ifdef __linux__
    assert_int_equal(threads, 1);
    assert_true(rss > 0);
    assert_true(vsz >= rss);
#endif
    assert_true(vol >= 0);
    assert_true(invol >= 0);
}

/* The longest line the framer lets through still fits in a reply. */
static void test_longest_echo(void **state)
{
    (void)state;
    char *line = malloc(LINEBUF_MAX);
    assert_non_null(line);
    memset(line, 'z', LINEBUF_MAX);
    size_t n = proto_reply(line, LINEBUF_MAX, &info, out, sizeof out);
    assert_true(n > LINEBUF_MAX);
    assert_int_equal(out[n - 1], '\n');
    assert_int_equal(out[n - 2], 'z');
    free(line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo),        cmocka_unit_test(test_pid_after_fork),
        cmocka_unit_test(test_busy_errors), cmocka_unit_test(test_busy_burns_cpu),
        cmocka_unit_test(test_stats),       cmocka_unit_test(test_longest_echo),
    };
    return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
