/*
 * test_supervisor.c: unit tests of the supervisor module (supervisor.h).
 *
 * Each test makes a loop and a supervisor whose spawn hook forks a tiny
 * child that behaves in one chosen way (waits for a signal, ignores
 * SIGTERM, crashes at once...), then drives the loop until the events it
 * expects have happened or a timeout passes. Nothing sleeps to synchronise.
 *
 *   make test        (or ./build/test_supervisor from this directory)
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"
#include "supervisor.h"
#include "testkit.h"

/* How the children of a test behave. */
enum mode {
    WAIT_FOR_SIGNAL, /* pause() until a signal's default action ends it */
    IGNORE_TERM,     /* ignore SIGTERM: only SIGKILL ends it */
    CRASH,           /* _exit(3) at once */
};

enum { MAX_EVENTS = 256 };

struct fixture {
    loop_t *loop;
    sup_t *sup;
    enum mode mode;
    int fail_spawns; /* the spawn hook fails this many more times */
    int spawns;
    int stop_hook_calls;
    void *stop_hook_data;
    sup_event_t ev[MAX_EVENTS];
    int nev;
};

static pid_t spawn_child(sup_t *sup, int slot, void *slot_data, void **proc_data,
                         void *arg)
{
    (void)sup;
    (void)slot_data;
    struct fixture *f = arg;
    if (f->fail_spawns > 0) {
        f->fail_spawns--;
        errno = EAGAIN;
        return -1;
    }
    f->spawns++;
    /* Per-process data: the test checks it comes back in events. */
    *proc_data = (void *)(intptr_t)(1000 + slot);
    fflush(stdout);
    pid_t self = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Die with the test process, whatever happens to it. */
        if (sup_child_guard(self, SIGKILL) == -1)
            _exit(1);
        switch (f->mode) {
        case CRASH:
            _exit(3);
        case IGNORE_TERM:
            signal(SIGTERM, SIG_IGN);
            break;
        case WAIT_FOR_SIGNAL:
            signal(SIGTERM, SIG_DFL);
            break;
        }
        /* SIGCHLD's handler belongs to the test's loop: not ours. */
        signal(SIGCHLD, SIG_DFL);
        for (;;)
            pause();
    }
    return pid;
}

static void record(sup_t *sup, const sup_event_t *ev, void *arg)
{
    struct fixture *f = arg;
    (void)sup;
    if (f->nev < MAX_EVENTS)
        f->ev[f->nev++] = *ev;
}

static int count(const struct fixture *f, sup_event_kind_t kind)
{
    int n = 0;
    for (int i = 0; i < f->nev; i++)
        n += f->ev[i].kind == kind;
    return n;
}

static const sup_event_t *find_event(const struct fixture *f, sup_event_kind_t kind,
                                     pid_t pid)
{
    for (int i = 0; i < f->nev; i++)
        if (f->ev[i].kind == kind && (pid == 0 || f->ev[i].pid == pid))
            return &f->ev[i];
    return NULL;
}

/* Drive the loop until `kind` has been seen `n` times, or timeout_ms. */
static int run_until(struct fixture *f, sup_event_kind_t kind, int n, int timeout_ms)
{
    long long deadline = tk_now_ms() + timeout_ms;
    while (count(f, kind) < n) {
        long long left = deadline - tk_now_ms();
        if (left <= 0)
            return 0;
        loop_run_once(f->loop, left < 50 ? (int)left : 50);
    }
    return 1;
}

static struct fixture *setup(enum mode mode, sup_config_t cfg)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->mode = mode;
    f->loop = loop_new(LOOP_SELECT);
    assert_non_null(f->loop);
    cfg.spawn = spawn_child;
    cfg.on_event = record;
    cfg.arg = f;
    f->sup = sup_new(f->loop, &cfg);
    assert_non_null(f->sup);
    return f;
}

/* Stop whatever is left, then free. Every test ends with no child left. */
static void teardown(struct fixture *f)
{
    if (!sup_stopping(f->sup))
        sup_stop(f->sup);
    assert_true(run_until(f, SUP_EV_STOPPED, 1, 10000));
    assert_int_equal(sup_running(f->sup), 0);
    assert_int_equal(tk_count_children(getpid()), 0);
    assert_int_equal(tk_count_zombies(getpid()), 0);
    sup_free(f->sup);
    loop_free(f->loop);
    free(f);
}

/* ---------------------------------------------------------------------- */

static void test_start_and_stop(void **state)
{
    (void)state;
    struct fixture *f = setup(WAIT_FOR_SIGNAL, (sup_config_t){.nslots = 3});
    assert_int_equal(sup_start(f->sup), 0);
    assert_int_equal(count(f, SUP_EV_SPAWNED), 3);
    assert_int_equal(sup_running(f->sup), 3);
    pid_t p0 = sup_pid(f->sup, 0), p1 = sup_pid(f->sup, 1), p2 = sup_pid(f->sup, 2);
    assert_true(p0 > 0 && p1 > 0 && p2 > 0);
    assert_true(p0 != p1 && p1 != p2 && p0 != p2);
    assert_int_equal(sup_slot_of(f->sup, p1), 1);
    assert_int_equal(sup_slot_of(f->sup, getpid()), -1);
    assert_ptr_equal(sup_proc_data(f->sup, p2), (void *)(intptr_t)1002);
    assert_int_equal(find_event(f, SUP_EV_SPAWNED, p0)->old_pid, 0);

    sup_stop(f->sup);
    assert_true(run_until(f, SUP_EV_STOPPED, 1, 10000));
    /* Each exit was expected, by SIGTERM, and reported with its data. */
    assert_int_equal(count(f, SUP_EV_EXITED), 3);
    for (int i = 0; i < f->nev; i++) {
        const sup_event_t *e = &f->ev[i];
        if (e->kind != SUP_EV_EXITED)
            continue;
        assert_true(e->expected);
        assert_true(WIFSIGNALED(e->status) && WTERMSIG(e->status) == SIGTERM);
        assert_ptr_equal(e->proc_data, (void *)(intptr_t)(1000 + e->slot));
    }
    assert_int_equal(count(f, SUP_EV_KILLED), 0);
    assert_false(sup_crashed(f->sup));
    /* STOPPED is the last event. */
    assert_int_equal(f->ev[f->nev - 1].kind, SUP_EV_STOPPED);
    teardown(f);
}

static void test_respawn_logs_both_pids(void **state)
{
    (void)state;
    struct fixture *f = setup(WAIT_FOR_SIGNAL, (sup_config_t){.nslots = 2});
    assert_int_equal(sup_start(f->sup), 0);
    pid_t victim = sup_pid(f->sup, 1);
    assert_int_equal(kill(victim, SIGKILL), 0);
    assert_true(run_until(f, SUP_EV_SPAWNED, 3, 5000));
    const sup_event_t *ex = find_event(f, SUP_EV_EXITED, victim);
    assert_non_null(ex);
    assert_false(ex->expected);
    assert_int_equal(ex->slot, 1);
    assert_true(WIFSIGNALED(ex->status) && WTERMSIG(ex->status) == SIGKILL);
    const sup_event_t *sp = &f->ev[f->nev - 1];
    assert_int_equal(sp->kind, SUP_EV_SPAWNED);
    assert_int_equal(sp->old_pid, victim);
    assert_int_equal(sp->slot, 1);
    assert_int_equal(sup_pid(f->sup, 1), sp->pid);
    assert_true(sp->pid != victim);
    assert_int_equal(sup_running(f->sup), 2);
    assert_int_equal(tk_count_zombies(getpid()), 0);
    teardown(f);
}

static void test_crash_loop_guard_trips(void **state)
{
    (void)state;
    struct fixture *f = setup(CRASH, (sup_config_t){.nslots = 2});
    assert_int_equal(sup_start(f->sup), 0);
    assert_true(run_until(f, SUP_EV_STOPPED, 1, 10000));
    assert_int_equal(count(f, SUP_EV_CRASH_LOOP), 1);
    assert_true(sup_crashed(f->sup));
    /* Default guard: more than 5 deaths in 10 s, so the sixth trips it. */
    assert_int_equal(find_event(f, SUP_EV_CRASH_LOOP, 0)->deaths, 6);
    int unexpected = 0;
    for (int i = 0; i < f->nev && f->ev[i].kind != SUP_EV_CRASH_LOOP; i++)
        unexpected += f->ev[i].kind == SUP_EV_EXITED && !f->ev[i].expected;
    assert_int_equal(unexpected, 6);
    /* Nothing was spawned after the guard tripped. */
    int after = 0, seen = 0;
    for (int i = 0; i < f->nev; i++) {
        seen |= f->ev[i].kind == SUP_EV_CRASH_LOOP;
        after += seen && f->ev[i].kind == SUP_EV_SPAWNED;
    }
    assert_int_equal(after, 0);
    teardown(f);
}

static void test_crash_guard_respects_window(void **state)
{
    (void)state;
    /* At most 2 deaths per 50 ms; deaths 300 ms apart never trip it. */
    struct fixture *f =
        setup(WAIT_FOR_SIGNAL,
              (sup_config_t){.nslots = 1, .crash_max_deaths = 2, .crash_window_ms = 50});
    assert_int_equal(sup_start(f->sup), 0);
    for (int i = 0; i < 4; i++) {
        long long until = tk_now_ms() + 300;
        while (tk_now_ms() < until)
            loop_run_once(f->loop, 50);
        assert_int_equal(kill(sup_pid(f->sup, 0), SIGKILL), 0);
        assert_true(run_until(f, SUP_EV_SPAWNED, 2 + i, 5000));
    }
    assert_false(sup_crashed(f->sup));
    assert_int_equal(count(f, SUP_EV_CRASH_LOOP), 0);
    teardown(f);
}

static void test_crash_guard_disabled(void **state)
{
    (void)state;
    struct fixture *f = setup(CRASH, (sup_config_t){.nslots = 1, .crash_max_deaths = -1});
    assert_int_equal(sup_start(f->sup), 0);
    assert_true(run_until(f, SUP_EV_EXITED, 20, 10000));
    assert_false(sup_crashed(f->sup));
    teardown(f);
}

static void test_stop_deadline_sigkills(void **state)
{
    (void)state;
    struct fixture *f =
        setup(IGNORE_TERM, (sup_config_t){.nslots = 2, .stop_timeout_ms = 200});
    assert_int_equal(sup_start(f->sup), 0);
    /* Let the children install SIG_IGN before they are asked to stop. */
    for (int i = 0; i < 2; i++) {
        pid_t pid = sup_pid(f->sup, i);
        long long until = tk_now_ms() + 5000;
        char path[64], line[256];
        int ignoring = 0;
        snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
        while (!ignoring && tk_now_ms() < until) {
            FILE *st = fopen(path, "r");
            if (st == NULL)
                break; /* not Linux: the deadline still has to work */
            while (fgets(line, sizeof line, st) != NULL) {
                unsigned long long mask;
                if (sscanf(line, "SigIgn: %llx", &mask) == 1)
                    ignoring = (mask >> (SIGTERM - 1)) & 1;
            }
            fclose(st);
        }
    }
    long long t0 = tk_now_ms();
    sup_stop(f->sup);
    assert_true(run_until(f, SUP_EV_STOPPED, 1, 10000));
    assert_true(tk_now_ms() - t0 >= 150);
    assert_int_equal(count(f, SUP_EV_KILLED), 2);
    for (int i = 0; i < f->nev; i++)
        if (f->ev[i].kind == SUP_EV_EXITED)
            assert_true(WIFSIGNALED(f->ev[i].status) &&
                        WTERMSIG(f->ev[i].status) == SIGKILL && f->ev[i].expected);
    teardown(f);
}

static void usr1_stop(sup_t *sup, int slot, pid_t pid, void *slot_data, void *proc_data,
                      void *arg)
{
    (void)sup;
    (void)slot;
    (void)slot_data;
    struct fixture *f = arg;
    f->stop_hook_calls++;
    f->stop_hook_data = proc_data;
    kill(pid, SIGUSR1);
}

static void test_custom_stop_hook(void **state)
{
    (void)state;
    struct fixture *f =
        setup(WAIT_FOR_SIGNAL, (sup_config_t){.nslots = 1, .stop = usr1_stop});
    assert_int_equal(sup_start(f->sup), 0);
    sup_stop(f->sup);
    assert_true(run_until(f, SUP_EV_STOPPED, 1, 10000));
    assert_int_equal(f->stop_hook_calls, 1);
    assert_ptr_equal(f->stop_hook_data, (void *)(intptr_t)1000);
    const sup_event_t *ex = find_event(f, SUP_EV_EXITED, 0);
    assert_true(WIFSIGNALED(ex->status) && WTERMSIG(ex->status) == SIGUSR1);
    teardown(f);
}

static void test_reaps_only_its_own(void **state)
{
    (void)state;
    struct fixture *f = setup(WAIT_FOR_SIGNAL, (sup_config_t){.nslots = 1});
    assert_int_equal(sup_start(f->sup), 0);
    /* A child that is not the supervisor's, as chapter 03's proc module
     * would have. Its exit status must still be there for its owner. */
    pid_t other = fork();
    assert_true(other != -1);
    if (other == 0)
        _exit(42);
    assert_int_equal(kill(sup_pid(f->sup, 0), SIGKILL), 0);
    assert_true(run_until(f, SUP_EV_SPAWNED, 2, 5000));
    /* Wait for the other child to be a zombie, and run the loop once more
     * so a SIGCHLD for it reaches the supervisor too. */
    long long until = tk_now_ms() + 5000;
    while (tk_count_zombies(getpid()) < 1 && tk_now_ms() < until)
        loop_run_once(f->loop, 10);
    loop_run_once(f->loop, 50);
    sup_reap(f->sup);
    int status;
    assert_int_equal(waitpid(other, &status, WNOHANG), other);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 42);
    assert_null(find_event(f, SUP_EV_EXITED, other));
    teardown(f);
}

/* The other way round: other code reaped one of ours first. The process
 * is gone and is replaced, but its status is reported as lost, never as a
 * clean exit. */
static void test_status_lost_to_other_reaper(void **state)
{
    (void)state;
    struct fixture *f = setup(WAIT_FOR_SIGNAL, (sup_config_t){.nslots = 1});
    assert_int_equal(sup_start(f->sup), 0);
    pid_t victim = sup_pid(f->sup, 0);
    assert_int_equal(kill(victim, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(victim, &status, 0), victim); /* we steal it */
    assert_true(run_until(f, SUP_EV_SPAWNED, 2, 5000));
    const sup_event_t *ev = find_event(f, SUP_EV_EXITED, victim);
    assert_non_null(ev);
    assert_int_equal(ev->status, SUP_STATUS_LOST);
    char how[64];
    assert_string_equal(sup_status_str(ev->status, how, sizeof how),
                        "status lost (reaped elsewhere)");
    assert_string_equal(sup_status_str(0, how, sizeof how), "exit status 0");
    teardown(f);
}

static void test_spawn_failure_is_retried(void **state)
{
    (void)state;
    struct fixture *f = setup(WAIT_FOR_SIGNAL, (sup_config_t){.nslots = 1});
    assert_int_equal(sup_start(f->sup), 0);
    pid_t victim = sup_pid(f->sup, 0);
    f->fail_spawns = 2;
    assert_int_equal(kill(victim, SIGKILL), 0);
    assert_true(run_until(f, SUP_EV_SPAWNED, 2, 5000));
    assert_int_equal(count(f, SUP_EV_SPAWN_FAILED), 2);
    assert_int_equal(find_event(f, SUP_EV_SPAWN_FAILED, 0)->error, EAGAIN);
    assert_int_equal(f->ev[f->nev - 1].old_pid, victim);
    assert_false(sup_crashed(f->sup));
    teardown(f);
}

/* The seam chapter 06's rolling restart stands on: a new process for a
 * slot now, the old one running on until asked to stop, and not replaced
 * when it exits. */
static void test_respawn_now_and_stop_one(void **state)
{
    (void)state;
    struct fixture *f = setup(WAIT_FOR_SIGNAL, (sup_config_t){.nslots = 2});
    assert_int_equal(sup_start(f->sup), 0);
    pid_t old0 = sup_pid(f->sup, 0), old1 = sup_pid(f->sup, 1);
    assert_int_equal(sup_respawn(f->sup, 0), 0);
    assert_int_equal(count(f, SUP_EV_SPAWNED), 3);
    const sup_event_t *sp = &f->ev[f->nev - 1];
    assert_int_equal(sp->kind, SUP_EV_SPAWNED);
    assert_int_equal(sp->old_pid, old0);
    pid_t new0 = sup_pid(f->sup, 0);
    assert_true(new0 != old0);
    assert_int_equal(sup_slot_of(f->sup, old0), 0); /* still ours, still running */
    assert_true(tk_alive(old0));
    assert_int_equal(sup_running(f->sup), 3);

    assert_int_equal(sup_stop_pid(f->sup, old0), 0);
    assert_true(run_until(f, SUP_EV_EXITED, 1, 5000));
    const sup_event_t *ex = find_event(f, SUP_EV_EXITED, old0);
    assert_non_null(ex);
    assert_true(ex->expected);
    assert_true(WIFSIGNALED(ex->status) && WTERMSIG(ex->status) == SIGTERM);
    /* Not replaced: slot 0 already has its new process. */
    for (int i = 0; i < 10; i++)
        loop_run_once(f->loop, 10);
    assert_int_equal(count(f, SUP_EV_SPAWNED), 3);
    assert_int_equal(sup_pid(f->sup, 0), new0);
    assert_int_equal(sup_pid(f->sup, 1), old1);
    assert_int_equal(sup_running(f->sup), 2);
    teardown(f);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_SELECT);
    assert_non_null(loop);
    sup_config_t none = {.nslots = 0, .spawn = spawn_child};
    errno = 0;
    assert_null(sup_new(loop, &none));
    assert_int_equal(errno, EINVAL);
    sup_config_t nospawn = {.nslots = 1};
    assert_null(sup_new(loop, &nospawn));
    loop_free(loop);

    struct fixture *f = setup(WAIT_FOR_SIGNAL, (sup_config_t){.nslots = 1});
    assert_int_equal(sup_respawn(f->sup, 5), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(sup_stop_pid(f->sup, getpid()), -1);
    assert_int_equal(errno, ESRCH);
    assert_int_equal(sup_pid(f->sup, 7), 0);
    sup_set_slot_data(f->sup, 0, f);
    assert_ptr_equal(sup_slot_data(f->sup, 0), f);
    /* Stopping with nothing running still reports STOPPED, from the loop. */
    sup_stop(f->sup);
    assert_int_equal(count(f, SUP_EV_STOPPED), 0);
    assert_int_equal(sup_respawn(f->sup, 0), -1);
    assert_int_equal(errno, ECANCELED);
    teardown(f);
}

/* waitpid with a deadline, so a broken supervisor fails a test instead of
 * hanging it. Returns 1 and the status, or 0 on timeout. */
static int wait_child(pid_t pid, int *status, int timeout_ms)
{
    long long deadline = tk_now_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 1;
        if (r == -1 || tk_now_ms() > deadline)
            return 0;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* ---------------------------------------------------------------------- */
/* The child side: no orphans                                              */

/* The lifeline alone: a child that watches it exits when the master's
 * write end closes, with the master still alive (so no PDEATHSIG). */
static pid_t lifeline_child(sup_t *sup, int slot, void *slot_data, void **proc_data,
                            void *arg)
{
    (void)slot;
    (void)slot_data;
    (void)proc_data;
    (void)arg;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = sup_child_init(sup, SIGKILL);
        if (fd == -1)
            _exit(1);
        char c;
        ssize_t n;
        while ((n = read(fd, &c, 1)) == -1 && errno == EINTR)
            ;
        _exit(n == 0 ? 7 : 1); /* 7: saw EOF */
    }
    return pid;
}

static void test_lifeline_eof(void **state)
{
    (void)state;
    loop_t *loop = loop_new(LOOP_SELECT);
    assert_non_null(loop);
    sup_config_t cfg = {.nslots = 2, .spawn = lifeline_child};
    sup_t *sup = sup_new(loop, &cfg);
    assert_non_null(sup);
    assert_int_equal(sup_start(sup), 0);
    pid_t a = sup_pid(sup, 0), b = sup_pid(sup, 1);
    loop_run_once(loop, 50);
    assert_true(tk_alive(a) && tk_alive(b));
    /* Freeing the supervisor closes the write end: the only one left, as
     * each child closed its inherited copy. */
    sup_free(sup);
    loop_free(loop);
    int sa = 0, sb = 0;
    int got_a = wait_child(a, &sa, 5000), got_b = wait_child(b, &sb, 5000);
    if (!got_a || !got_b) { /* leave nothing behind for the next tests */
        kill(a, SIGKILL);
        kill(b, SIGKILL);
        wait_child(a, &sa, 5000);
        wait_child(b, &sb, 5000);
    }
    assert_true(got_a && got_b);
    assert_true(WIFEXITED(sa) && WEXITSTATUS(sa) == 7);
    assert_true(WIFEXITED(sb) && WEXITSTATUS(sb) == 7);
}

static void test_guard_sees_dead_master(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid != -1);
    if (pid == 0) {
        /* Pretend our master was some other pid: it is "gone". */
        int r1 = sup_child_guard(getppid() + 1, SIGTERM);
        int r2 = sup_child_guard(getppid(), SIGTERM);
        _exit(r1 == -1 && r2 == 0 ? 0 : 1);
    }
    int status;
    assert_true(wait_child(pid, &status, 5000));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

#ifdef __linux__
/* PR_SET_PDEATHSIG alone: a middle process plays the master, starts a
 * worker that never looks at the lifeline, and is SIGKILLed. */
static pid_t pdeath_child(sup_t *sup, int slot, void *slot_data, void **proc_data,
                          void *arg)
{
    (void)slot;
    (void)slot_data;
    (void)proc_data;
    (void)arg;
    pid_t pid = fork();
    if (pid == 0) {
        if (sup_child_init(sup, SIGKILL) == -1)
            _exit(1);
        for (;;)
            pause();
    }
    return pid;
}

static int gone(void *arg)
{
    return !tk_alive(*(pid_t *)arg);
}

static void test_pdeathsig(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t master = fork();
    assert_true(master != -1);
    if (master == 0) {
        close(p[0]);
        loop_t *loop = loop_new(LOOP_SELECT);
        sup_config_t cfg = {.nslots = 1, .spawn = pdeath_child};
        sup_t *sup = loop ? sup_new(loop, &cfg) : NULL;
        if (sup == NULL || sup_start(sup) == -1)
            _exit(1);
        pid_t w = sup_pid(sup, 0);
        if (write(p[1], &w, sizeof w) != sizeof w)
            _exit(1);
        /* Wait to be killed. Our death also closes the lifeline, but this
         * worker never reads it: only PR_SET_PDEATHSIG can end it. */
        for (;;)
            pause();
    }
    close(p[1]);
    pid_t worker;
    assert_int_equal(read(p[0], &worker, sizeof worker), sizeof worker);
    close(p[0]);
    assert_true(tk_alive(worker));
    assert_int_equal(kill(master, SIGKILL), 0);
    assert_int_equal(waitpid(master, NULL, 0), master);
    int died = tk_until(gone, &worker, 2000);
    if (!died)
        kill(worker, SIGKILL);
    assert_true(died);
}
#endif

/* After every test, failed or not: no child of ours may survive into the
 * next test (a failed assertion skips the test's own teardown). */
static int kill_leftovers(void **state)
{
    (void)state;
    pid_t kids[64];
    int n = tk_list_children(getpid(), kids, 64);
    for (int i = 0; i < n; i++)
        kill(kids[i], SIGKILL);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    for (int i = 0; i < n; i++)
        waitpid(kids[i], NULL, 0);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_start_and_stop, kill_leftovers),
        cmocka_unit_test_teardown(test_respawn_logs_both_pids, kill_leftovers),
        cmocka_unit_test_teardown(test_crash_loop_guard_trips, kill_leftovers),
        cmocka_unit_test_teardown(test_crash_guard_respects_window, kill_leftovers),
        cmocka_unit_test_teardown(test_crash_guard_disabled, kill_leftovers),
        cmocka_unit_test_teardown(test_stop_deadline_sigkills, kill_leftovers),
        cmocka_unit_test_teardown(test_custom_stop_hook, kill_leftovers),
        cmocka_unit_test_teardown(test_reaps_only_its_own, kill_leftovers),
        cmocka_unit_test_teardown(test_status_lost_to_other_reaper, kill_leftovers),
        cmocka_unit_test_teardown(test_spawn_failure_is_retried, kill_leftovers),
        cmocka_unit_test_teardown(test_respawn_now_and_stop_one, kill_leftovers),
        cmocka_unit_test_teardown(test_bad_arguments, kill_leftovers),
        cmocka_unit_test_teardown(test_lifeline_eof, kill_leftovers),
        cmocka_unit_test_teardown(test_guard_sees_dead_master, kill_leftovers),
#ifdef __linux__
        cmocka_unit_test_teardown(test_pdeathsig, kill_leftovers),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
