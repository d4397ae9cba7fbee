/*
 * test_counters.c: unit tests of the shared counters (counters.h).
 *
 * The counters are only useful if a child's increment is what the parent
 * reads, if the fairness figures mean what the table says, and if the
 * context-switch count really moves when a process sleeps. Each test
 * checks one of those.
 *
 *   make test        (or ./build/test_counters from this directory)
 */
#include <poll.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "counters.h"
#include "testkit.h"

static void test_new_is_zeroed_and_reset_zeroes(void **state)
{
    (void)state;
    counters *c = counters_new(3);
    assert_non_null(c);
    assert_int_equal(c->nslots, 3);
    assert_int_equal(counters_sum(c, offsetof(counter_slot, wakeups)), 0);
    counters_add(&c->slot[2].wakeups);
    counters_add(&c->slot[2].wakeups);
    counters_add(&c->slot[0].wakeups);
    assert_int_equal(counters_sum(c, offsetof(counter_slot, wakeups)), 3);
    assert_int_equal(counters_get(&c->slot[2].wakeups), 2);
    counters_reset(c);
    assert_int_equal(counters_sum(c, offsetof(counter_slot, wakeups)), 0);
    counters_free(c);
}

/* The reason for MAP_SHARED: children write, the parent reads. */
static void test_children_write_parent_reads(void **state)
{
    (void)state;
    counters *c = counters_new(4);
    assert_non_null(c);
    pid_t pids[4];
    for (int w = 0; w < 4; w++) {
        pids[w] = fork();
        assert_true(pids[w] != -1);
        if (pids[w] == 0) {
            atomic_store(&c->slot[w].pid, (int)getpid());
            for (int i = 0; i <= w * 10; i++)
                counters_add(&c->slot[w].served);
            _exit(0);
        }
    }
    for (int w = 0; w < 4; w++) {
        int status;
        assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    for (int w = 0; w < 4; w++) {
        assert_int_equal(atomic_load(&c->slot[w].pid), pids[w]);
        assert_int_equal(counters_get(&c->slot[w].served), w * 10 + 1);
    }
    assert_int_equal(counters_sum(c, offsetof(counter_slot, served)), 1 + 11 + 21 + 31);
    counters_free(c);
}

static void test_jain(void **state)
{
    (void)state;
    unsigned long even[4] = {50, 50, 50, 50};
    unsigned long one[4] = {200, 0, 0, 0};
    unsigned long two[4] = {100, 100, 0, 0};
    unsigned long zero[4] = {0, 0, 0, 0};
    assert_float_equal(counters_jain(even, 4), 1.0, 1e-9);
    assert_float_equal(counters_jain(one, 4), 0.25, 1e-9); /* 1/n */
    assert_float_equal(counters_jain(two, 4), 0.5, 1e-9);  /* k/n when k share */
    assert_float_equal(counters_jain(zero, 4), 1.0, 1e-9);
    assert_float_equal(counters_jain(NULL, 0), 1.0, 1e-9);
}

static void test_spread(void **state)
{
    (void)state;
    unsigned long a[4] = {28, 52, 56, 64};
    unsigned long b[3] = {7, 0, 3};
    unsigned long z[2] = {0, 0};
    assert_float_equal(counters_spread(a, 4), 64.0 / 28.0, 1e-9);
    assert_float_equal(counters_spread(b, 3), -1.0, 1e-9); /* unbounded */
    assert_float_equal(counters_spread(z, 2), 1.0, 1e-9);
}

/* A process that blocks in poll() gives up the CPU: one more voluntary
 * context switch, both by getrusage and (Linux) by /proc. */
static void test_switches_move_when_sleeping(void **state)
{
    (void)state;
    long before = counters_own_switches();
    assert_true(before >= 0);
    poll(NULL, 0, 20);
    long after = counters_own_switches();
    assert_true(after > before);
#ifdef __linux__
    long proc = counters_switches_of(getpid());
    assert_true(proc >= after);
    assert_int_equal(counters_switches_of(0x7ffffff0), -1); /* no such process */
#endif
}

#ifdef __linux__
static int child_asleep(void *arg)
{
    return counters_is_asleep(*(pid_t *)arg) == 1;
}
#endif

/* The sequential client waits for "every worker asleep": that must mean
 * blocked in a wait, not running. */
static void test_is_asleep(void **state)
{
    (void)state;
#ifdef __linux__
    assert_int_equal(counters_is_asleep(getpid()), 0); /* we are running */
    pid_t child = fork();
    assert_true(child != -1);
    if (child == 0) {
        poll(NULL, 0, 10000);
        _exit(0);
    }
    assert_true(tk_until(child_asleep, &child, 5000));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    assert_int_equal(counters_is_asleep(child), -1); /* gone */
#else
    assert_int_equal(counters_is_asleep(getpid()), -1);
#endif
}

/* The shared map every 07 module uses: zeroed, and a child's writes are
 * seen by the parent (a private map would leave the parent reading 0). */
static void test_shared_map_is_zeroed_and_shared(void **state)
{
    (void)state;
    size_t size = 3 * 4096 + 8;
    unsigned char *p = counters_shared_map(size);
    assert_non_null(p);
    for (size_t i = 0; i < size; i++)
        assert_int_equal(p[i], 0);
    pid_t pid = fork();
    assert_true(pid != -1);
    if (pid == 0) {
        p[0] = 42;
        p[size - 1] = 7;
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(p[0], 42);
    assert_int_equal(p[size - 1], 7);
    assert_int_equal(munmap(p, size), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_map_is_zeroed_and_shared),
        cmocka_unit_test(test_new_is_zeroed_and_reset_zeroes),
        cmocka_unit_test(test_children_write_parent_reads),
        cmocka_unit_test(test_jain),
        cmocka_unit_test(test_spread),
        cmocka_unit_test(test_switches_move_when_sleeping),
        cmocka_unit_test(test_is_asleep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
