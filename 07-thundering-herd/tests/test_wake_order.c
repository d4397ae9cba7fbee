/*
 * test_wake_order.c: black-box tests of ./wake-order.
 *
 * wake-order asks the kernel one question many times: when N processes wait
 * on one listening socket and one connection comes, which of them gets it?
 * It varies the order in which the processes register with epoll and the
 * order in which they start waiting, separately. These tests run it the way
 * the README does and check what the notes promise:
 *
 *   - the table has one row per (mode, registration order, waiting order)
 *     and one winner per trial, and the summary adds up;
 *   - with EPOLLEXCLUSIVE the first process to register wins every trial,
 *     whatever the waiting order (a rule of the kernel's wait queue, so no
 *     tolerance);
 *   - a blocking accept() serves the first process to wait, every trial
 *     (the same rule);
 *   - without EPOLLEXCLUSIVE every process wakes and the winner is a race:
 *     neither of those rules decides it (checked with a wide margin).
 *
 * Linux only (epoll, /proc); elsewhere the program says so and the tests
 * are skipped with a message.
 *
 *   make test        (or ./build/test_wake_order from this directory)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "testkit.h"

#define PROG "./wake-order"

/* Run the program to completion; fail the test unless it exits 0. */
static tk_proc *run(const char *const argv[])
{
    tk_proc *p = tk_start(argv, NULL);
    assert_non_null(p);
    int status = tk_wait_exit(p, 20000);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s exited with status %d; output:\n%s", argv[0], status, p->out);
    return p;
}

/* One summary line: "  MODE: of T connections, the first to register won A,
 * the last to register B, the first to wait C, the last to wait D" (accept
 * has no registration: "the first to wait won C, the last to wait D"). */
typedef struct summary {
    int total, first_reg, last_reg, first_wait, last_wait;
} summary;

static summary get_summary(tk_proc *p, const char *mode)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\n  %s: of ", mode);
    const char *at = strstr(p->out, needle);
    if (at == NULL)
        fail_msg("no summary for %s in:\n%s", mode, p->out);
    at += strlen(needle);
    summary s = {-1, -1, -1, -1, -1};
    int n;
    if (strcmp(mode, "accept") == 0) {
        n = sscanf(at, "%d connections, the first to wait won %d, the last to wait %d",
                   &s.total, &s.first_wait, &s.last_wait);
        if (n != 3)
            fail_msg("bad summary for %s: %.200s", mode, at);
    } else {
        n = sscanf(at,
                   "%d connections, the first to register won %d, the last to "
                   "register %d, the first to wait %d, the last to wait %d",
                   &s.total, &s.first_reg, &s.last_reg, &s.first_wait, &s.last_wait);
        if (n != 5)
            fail_msg("bad summary for %s: %.200s", mode, at);
    }
    return s;
}

/* The rows of one mode: "MODE  REG  WAIT  WINNERS ..." where REG and WAIT
 * are process numbers in order ("-" for accept's REG) and WINNERS has one
 * digit per trial. Checks each row's shape and returns how many there are. */
static int check_rows(tk_proc *p, const char *mode, int procs, int trials)
{
    int rows = 0;
    for (const char *line = p->out; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        size_t mlen = strlen(mode);
        if (len > mlen && strncmp(line, mode, mlen) == 0 && line[mlen] == ' ') {
            char buf[256], reg[32], wait[32], winners[128];
            assert_true(len < sizeof buf);
            memcpy(buf, line, len);
            buf[len] = '\0';
            if (sscanf(buf + mlen, "%31s %31s %127s", reg, wait, winners) != 3)
                fail_msg("short row: %s", buf);
            if (strcmp(mode, "accept") == 0)
                assert_string_equal(reg, "-");
            else
                assert_int_equal((int)strlen(reg), procs);
            assert_int_equal((int)strlen(wait), procs);
            if ((int)strlen(winners) != trials)
                fail_msg("%d winners for %d trials: %s", (int)strlen(winners), trials,
                         buf);
            for (int i = 0; i < trials; i++)
                if (winners[i] < '0' || winners[i] >= '0' + procs)
                    fail_msg("winner %c is no process of %d: %s", winners[i], procs, buf);
            rows++;
        }
        line = end != NULL ? end + 1 : NULL;
    }
    return rows;
}

/* Skip, with a message, where the experiment cannot run. */
static void linux_only(void)
{
#ifndef __linux__
    print_message("wake-order needs Linux (epoll, /proc): skipped\n");
    skip();
#endif
}

static void test_table_has_one_winner_per_trial(void **state)
{
    (void)state;
    linux_only();
    tk_proc *p = run((const char *[]){PROG, "--workers", "3", "--trials", "3", NULL});
    assert_non_null(strstr(p->out, "kernel: Linux "));
    /* Two registration orders times two waiting orders for each epoll
     * mode; accept has only the two waiting orders. */
    assert_int_equal(check_rows(p, "epoll-exclusive", 3, 3), 4);
    assert_int_equal(check_rows(p, "epoll", 3, 3), 4);
    assert_int_equal(check_rows(p, "accept", 3, 3), 2);
    summary s = get_summary(p, "epoll");
    assert_int_equal(s.total, 12);
    /* Every winner is the first or the last to register, or neither; with
     * 3 processes the two roles are different processes. */
    assert_true(s.first_reg + s.last_reg <= s.total);
    assert_true(s.first_wait + s.last_wait <= s.total);
    assert_int_equal(get_summary(p, "accept").total, 6);
    /* Every process was reaped: nothing is left in the program's group. */
    assert_int_equal(tk_count_group(p->pid), 0);
    tk_free(p);
}

/* The deterministic findings: EPOLLEXCLUSIVE's entries sit on the socket's
 * wait queue in registration order and the first one whose owner waits is
 * woken; accept()'s waiters are queued when they start waiting and the
 * first is woken. Both hold in every trial. */
static void test_exclusive_follows_registration_accept_follows_waiting(void **state)
{
    (void)state;
    linux_only();
    tk_proc *p = run((const char *[]){PROG, "--workers", "4", "--trials", "5", NULL});
    summary ex = get_summary(p, "epoll-exclusive");
    assert_int_equal(ex.total, 20);
    if (ex.first_reg != ex.total)
        fail_msg("EPOLLEXCLUSIVE: the first to register won %d of %d:\n%s", ex.first_reg,
                 ex.total, p->out);
    /* Half the rows wait in the registration order, half in the reverse:
     * the waiting order did not matter. */
    assert_int_equal(ex.first_wait, 10);
    assert_int_equal(ex.last_wait, 10);
    summary ac = get_summary(p, "accept");
    assert_int_equal(ac.total, 10);
    if (ac.first_wait != ac.total)
        fail_msg("accept: the first to wait won %d of %d:\n%s", ac.first_wait, ac.total,
                 p->out);
    tk_free(p);
}

/* Without EPOLLEXCLUSIVE every instance is woken (from the last registered
 * to the first) and the processes race for the connection; the scheduler
 * decides who runs first. So neither rule above holds: the first to
 * register does not win every trial (it won 25% to 43% in 6 runs of
 * `./wake-order --mode epoll --trials 50` here), nor does the first to wait
 * (48% to 53%). A wide margin: the test fails only if a rule did. */
static void test_plain_epoll_is_a_race(void **state)
{
    (void)state;
    linux_only();
    tk_proc *p = run((const char *[]){PROG, "--workers", "4", "--trials", "8", "--mode",
                                      "epoll", NULL});
    assert_null(strstr(p->out, "\naccept "));
    assert_null(strstr(p->out, "\nepoll-exclusive "));
    summary s = get_summary(p, "epoll");
    assert_int_equal(s.total, 32);
    if (s.first_reg == s.total || s.first_wait == s.total)
        fail_msg("epoll: the first to register won %d of %d, the first to wait %d:\n%s",
                 s.first_reg, s.total, s.first_wait, p->out);
    tk_free(p);
}

static void test_bad_values_exit_2(void **state)
{
    (void)state;
    tk_expect_bad_value((const char *[]){PROG, "--workers", "1", NULL}, NULL, "--workers",
                        "1");
    tk_expect_bad_value((const char *[]){PROG, "--workers", "11", NULL}, NULL,
                        "--workers", "11");
    tk_expect_bad_value((const char *[]){PROG, "--trials=-5", NULL}, NULL, "--trials",
                        "-5");
    tk_expect_bad_value((const char *[]){PROG, "--mode", "select", NULL}, NULL, "--mode",
                        "select");
    tk_expect_bad_value((const char *[]){PROG, NULL},
                        (const char *[]){"WORKERS=many", NULL}, "WORKERS", "many");
    tk_proc *p = run((const char *[]){PROG, "--help", NULL});
    assert_non_null(strstr(p->out, "usage: wake-order"));
    tk_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_has_one_winner_per_trial),
        cmocka_unit_test(test_exclusive_follows_registration_accept_follows_waiting),
        cmocka_unit_test(test_plain_epoll_is_a_race),
        cmocka_unit_test(test_bad_values_exit_2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
