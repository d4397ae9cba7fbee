/*
 * test_rolling.c: unit tests of the rolling restart and the ready deadline
 * (rolling.h), on chapter 02's supervisor.
 *
 * Each test makes a loop and a rolling supervisor whose spawn hook forks a
 * tiny child that waits for a signal, then drives the loop until the events
 * it expects have happened or a timeout passes. Nothing sleeps to
 * synchronise. The supervisor's own tests are 02-fork/tests/test_supervisor.c.
 *
 *   make test        (or ./build/test_rolling from this directory)
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"
#include "rolling.h"
#include "supervisor.h"
#include "testkit.h"

enum { MAX_EVENTS = 256 };

/* One event as the tests see it: the supervisor's (roll == 0, kind is a
 * sup_event_kind_t) or the rolling restart's (roll == 1, a
 * roll_event_kind_t), in the order they came. */
struct seen {
    int roll;
    int kind;
    int slot;
    pid_t pid;
    pid_t old_pid;
    int status;   /* SUP_EV_EXITED */
    int expected; /* SUP_EV_EXITED */
    void *proc_data;
};

struct fixture {
    loop_t *loop;
    roll_t *roll;
    sup_t *sup;
    int ready_on_spawn; /* call roll_ready() from the SPAWNED event */
    int late_ready;     /* roll_ready()'s result from the READY_TIMEOUT event */
    int late_ready_errno;
    struct seen ev[MAX_EVENTS];
    int nev;
};

/* A child that pause()s until a signal's default action ends it. */
static pid_t spawn_child(sup_t *sup, int slot, void *slot_data, void **proc_data,
                         void *arg)
{
    (void)sup;
    (void)slot_data;
    (void)arg;
    /* Per-process data: the test checks it comes back in events. */
    *proc_data = (void *)(intptr_t)(1000 + slot);
    fflush(stdout);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* Die with the test process; take SIGTERM's and SIGCHLD's defaults
     * back from the test's loop. */
    if (sup_child_guard(parent, SIGKILL) == -1)
        _exit(1);
    signal(SIGTERM, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    for (;;)
        pause();
}

static void record(sup_t *sup, const sup_event_t *ev, void *arg)
{
    (void)sup;
    struct fixture *f = arg;
    if (f->nev < MAX_EVENTS)
        f->ev[f->nev++] = (struct seen){.kind = ev->kind,
                                        .slot = ev->slot,
                                        .pid = ev->pid,
                                        .old_pid = ev->old_pid,
                                        .status = ev->status,
                                        .expected = ev->expected,
                                        .proc_data = ev->proc_data};
    if (ev->kind == SUP_EV_SPAWNED && f->ready_on_spawn)
        roll_ready(f->roll, ev->pid);
}

static void record_roll(roll_t *r, const roll_event_t *ev, void *arg)
{
    struct fixture *f = arg;
    if (f->nev < MAX_EVENTS)
        f->ev[f->nev++] = (struct seen){.roll = 1,
                                        .kind = ev->kind,
                                        .slot = ev->slot,
                                        .pid = ev->pid,
                                        .old_pid = ev->old_pid,
                                        .proc_data = ev->proc_data};
    if (ev->kind == ROLL_EV_READY_TIMEOUT) {
        /* The worker's "ready" arriving just too late must not count. */
        errno = 0;
        f->late_ready = roll_ready(r, ev->pid);
        f->late_ready_errno = errno;
    }
}

/* How many events of one kind were seen; the first one for `pid` (any pid
 * if 0). */
static int count_of(const struct fixture *f, int roll, int kind)
{
    int n = 0;
    for (int i = 0; i < f->nev; i++)
        n += f->ev[i].roll == roll && f->ev[i].kind == kind;
    return n;
}

static const struct seen *find_of(const struct fixture *f, int roll, int kind, pid_t pid)
{
    for (int i = 0; i < f->nev; i++) {
        const struct seen *e = &f->ev[i];
        if (e->roll == roll && e->kind == kind && (pid == 0 || e->pid == pid))
            return e;
    }
    return NULL;
}

/* Drive the loop until `n` events of a kind were seen, or timeout_ms. */
static int run_until_of(struct fixture *f, int roll, int kind, int n, int timeout_ms)
{
    long long deadline = tk_now_ms() + timeout_ms;
    while (count_of(f, roll, kind) < n) {
        long long left = deadline - tk_now_ms();
        if (left <= 0)
            return 0;
        loop_run_once(f->loop, left < 50 ? (int)left : 50);
    }
    return 1;
}

/* The same, by the enum each kind comes from. */
static int count(const struct fixture *f, sup_event_kind_t k)
{
    return count_of(f, 0, (int)k);
}
static int count_roll(const struct fixture *f, roll_event_kind_t k)
{
    return count_of(f, 1, (int)k);
}
static const struct seen *find_event(const struct fixture *f, sup_event_kind_t k,
                                     pid_t pid)
{
    return find_of(f, 0, (int)k, pid);
}
static const struct seen *find_roll(const struct fixture *f, roll_event_kind_t k,
                                    pid_t pid)
{
    return find_of(f, 1, (int)k, pid);
}
static int run_until(struct fixture *f, sup_event_kind_t k, int n, int timeout_ms)
{
    return run_until_of(f, 0, (int)k, n, timeout_ms);
}
static int run_until_roll(struct fixture *f, roll_event_kind_t k, int n, int timeout_ms)
{
    return run_until_of(f, 1, (int)k, n, timeout_ms);
}

static struct fixture *setup(sup_config_t cfg, roll_config_t rc)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->loop = loop_new(LOOP_SELECT);
    assert_non_null(f->loop);
    cfg.spawn = spawn_child;
    cfg.on_event = record;
    cfg.arg = f;
    rc.on_event = record_roll;
    f->roll = roll_new(f->loop, &cfg, &rc);
    assert_non_null(f->roll);
    f->sup = roll_sup(f->roll);
    return f;
}

/* Stop whatever is left, then free. Every test ends with nothing of ours
 * left: no process, no zombie. */
static void teardown(struct fixture *f)
{
    sup_stop(f->sup); /* after a crash loop or a test's own stop: no-op */
    assert_true(run_until(f, SUP_EV_STOPPED, 1, 10000));
    pid_t me = getpid();
    assert_int_equal(sup_running(f->sup), 0);
    assert_int_equal(tk_count_children(me) + tk_count_zombies(me), 0);
    roll_free(f->roll);
    loop_free(f->loop);
    free(f);
}

/* ---------------------------------------------------------------------- */

/* A rolling restart keeps every slot served: the old process is asked to
 * stop only once its successor is ready, and slots go one at a time. */
static void test_rolling_replace(void **state)
{
    (void)state;
    struct fixture *f =
        setup((sup_config_t){.nslots = 2}, (roll_config_t){.wait_ready = 1});
    assert_int_equal(sup_start(f->sup), 0);
    pid_t old0 = sup_pid(f->sup, 0), old1 = sup_pid(f->sup, 1);
    assert_int_equal(roll_replace(f->roll, -1), 0);

    /* Slot 0 has a new process; the old one is untouched, slot 1 waits. */
    assert_int_equal(count(f, SUP_EV_SPAWNED), 3);
    pid_t new0 = sup_pid(f->sup, 0);
    assert_true(new0 != old0);
    assert_int_equal(sup_pid(f->sup, 1), old1);
    for (int i = 0; i < 10; i++)
        loop_run_once(f->loop, 10);
    assert_true(tk_alive(old0));
    assert_int_equal(sup_running(f->sup), 3);

    assert_int_equal(roll_ready(f->roll, new0), 0);
    assert_true(run_until_roll(f, ROLL_EV_REPLACED, 1, 5000));
    const struct seen *r = find_roll(f, ROLL_EV_REPLACED, new0);
    assert_non_null(r);
    assert_int_equal(r->old_pid, old0);
    assert_true(find_event(f, SUP_EV_EXITED, old0)->expected);
    assert_false(tk_alive(old0));

    /* Now slot 1. */
    pid_t new1 = sup_pid(f->sup, 1);
    assert_true(new1 != old1);
    assert_true(tk_alive(old1));
    assert_int_equal(roll_ready(f->roll, new1), 0);
    assert_true(run_until_roll(f, ROLL_EV_DONE, 1, 5000));
    assert_int_equal(count_roll(f, ROLL_EV_REPLACED), 2);
    assert_false(tk_alive(old1));
    assert_int_equal(sup_running(f->sup), 2);
    assert_int_equal(count(f, SUP_EV_CRASH_LOOP), 0);
    teardown(f);
}

static void test_rolling_replace_without_ready(void **state)
{
    (void)state;
    struct fixture *f = setup((sup_config_t){.nslots = 2}, (roll_config_t){0});
    assert_int_equal(sup_start(f->sup), 0);
    pid_t old1 = sup_pid(f->sup, 1);
    assert_int_equal(roll_replace(f->roll, 1), 0);
    assert_true(run_until_roll(f, ROLL_EV_DONE, 1, 5000));
    assert_int_equal(find_roll(f, ROLL_EV_REPLACED, 0)->old_pid, old1);
    assert_int_equal(count_roll(f, ROLL_EV_REPLACED), 1);
    teardown(f);
}

static void test_ready_from_spawn_event(void **state)
{
    (void)state;
    struct fixture *f =
        setup((sup_config_t){.nslots = 2}, (roll_config_t){.wait_ready = 1});
    f->ready_on_spawn = 1;
    assert_int_equal(sup_start(f->sup), 0);
    assert_int_equal(roll_replace(f->roll, -1), 0);
    assert_true(run_until_roll(f, ROLL_EV_DONE, 1, 5000));
    assert_int_equal(count_roll(f, ROLL_EV_REPLACED), 2);
    assert_int_equal(count_roll(f, ROLL_EV_DONE), 1);
    teardown(f);
}

/* A process that never says it is ready is killed at the deadline, counts
 * as a death, and is replaced; one that says so in time is left alone. */
static void test_ready_deadline_kills_and_respawns(void **state)
{
    (void)state;
    struct fixture *f = setup((sup_config_t){.nslots = 1},
                              (roll_config_t){.wait_ready = 1, .ready_timeout_ms = 200});
    long long t0 = tk_now_ms();
    assert_int_equal(sup_start(f->sup), 0);
    pid_t first = sup_pid(f->sup, 0);
    assert_true(run_until_roll(f, ROLL_EV_READY_TIMEOUT, 1, 5000));
    long long took = tk_now_ms() - t0;
    assert_true(took >= 150 && took < 4000);
    const struct seen *to = find_roll(f, ROLL_EV_READY_TIMEOUT, first);
    assert_non_null(to);
    assert_int_equal(to->slot, 0);
    assert_ptr_equal(to->proc_data, (void *)(intptr_t)1000);
    assert_int_equal(f->late_ready, -1);
    assert_int_equal(f->late_ready_errno, ETIMEDOUT);

    assert_true(run_until(f, SUP_EV_SPAWNED, 2, 5000));
    const struct seen *ex = find_event(f, SUP_EV_EXITED, first);
    assert_non_null(ex);
    assert_false(ex->expected); /* a death, for the guard too */
    assert_true(WIFSIGNALED(ex->status) && WTERMSIG(ex->status) == SIGKILL);
    pid_t second = sup_pid(f->sup, 0);
    assert_true(second != first);
    assert_int_equal(f->ev[f->nev - 1].old_pid, first);

    /* Ready in time: no deadline fires for it. */
    assert_int_equal(roll_ready(f->roll, second), 0);
    long long until = tk_now_ms() + 500;
    while (tk_now_ms() < until)
        loop_run_once(f->loop, 50);
    assert_int_equal(count_roll(f, ROLL_EV_READY_TIMEOUT), 1);
    assert_true(tk_alive(second));
    assert_false(sup_crashed(f->sup));
    teardown(f);
}

/* Workers that never get ready are a crash loop like any other. */
static void test_ready_deadline_trips_crash_guard(void **state)
{
    (void)state;
    struct fixture *f = setup((sup_config_t){.nslots = 2},
                              (roll_config_t){.wait_ready = 1, .ready_timeout_ms = 50});
    assert_int_equal(sup_start(f->sup), 0);
    assert_true(run_until(f, SUP_EV_STOPPED, 1, 10000));
    assert_int_equal(count(f, SUP_EV_CRASH_LOOP), 1);
    assert_true(sup_crashed(f->sup));
    assert_true(count_roll(f, ROLL_EV_READY_TIMEOUT) >= 6);
    teardown(f);
}

/* A rolling restart whose new process never gets ready does not stall and
 * does not retire the old one: the new one is killed and replaced, and the
 * restart goes on once a replacement is ready. */
static void test_rolling_replace_with_a_never_ready_successor(void **state)
{
    (void)state;
    struct fixture *f = setup((sup_config_t){.nslots = 1},
                              (roll_config_t){.wait_ready = 1, .ready_timeout_ms = 200});
    assert_int_equal(sup_start(f->sup), 0);
    pid_t old = sup_pid(f->sup, 0);
    assert_int_equal(roll_ready(f->roll, old), 0);
    assert_int_equal(roll_replace(f->roll, 0), 0);
    pid_t stuck = sup_pid(f->sup, 0);
    assert_true(stuck != old);
    assert_true(run_until_roll(f, ROLL_EV_READY_TIMEOUT, 1, 5000));
    assert_int_equal(find_roll(f, ROLL_EV_READY_TIMEOUT, 0)->pid, stuck);
    assert_true(run_until(f, SUP_EV_SPAWNED, 3, 5000));
    pid_t next = sup_pid(f->sup, 0);
    assert_true(next != stuck && next != old);
    assert_true(tk_alive(old)); /* still serving all along */
    assert_int_equal(count_roll(f, ROLL_EV_REPLACED), 0);
    assert_int_equal(roll_ready(f->roll, next), 0);
    assert_true(run_until_roll(f, ROLL_EV_DONE, 1, 5000));
    const struct seen *r = find_roll(f, ROLL_EV_REPLACED, next);
    assert_non_null(r);
    assert_int_equal(r->old_pid, old);
    assert_false(tk_alive(old));
    teardown(f);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct fixture *f = setup((sup_config_t){.nslots = 1}, (roll_config_t){0});
    assert_int_equal(roll_replace(f->roll, 5), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(roll_ready(f->roll, getpid()), -1);
    assert_int_equal(errno, ESRCH);
    sup_stop(f->sup);
    assert_int_equal(roll_replace(f->roll, 0), -1);
    assert_int_equal(errno, ECANCELED);
    teardown(f);
}

/* After every test, failed or not: no child of ours may survive into the
 * next test (a failed assertion skips the test's own teardown). */
static int kill_children(void **state)
{
    (void)state;
    pid_t kids[64];
    int n = tk_list_children(getpid(), kids, 64);
    for (int i = 0; i < n; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_rolling_replace, kill_children),
        cmocka_unit_test_teardown(test_rolling_replace_without_ready, kill_children),
        cmocka_unit_test_teardown(test_ready_from_spawn_event, kill_children),
        cmocka_unit_test_teardown(test_ready_deadline_kills_and_respawns, kill_children),
        cmocka_unit_test_teardown(test_ready_deadline_trips_crash_guard, kill_children),
        cmocka_unit_test_teardown(test_rolling_replace_with_a_never_ready_successor,
                                  kill_children),
        cmocka_unit_test_teardown(test_bad_arguments, kill_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
