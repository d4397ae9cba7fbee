/* Exercise 3: exponential back-off between respawns, with the crash-loop
 * guard kept as the last resort.
 *
 * hint: add uint64_t backoff_ms to sup_config_t; in handle_exit(), respawn through a loop
 * timer after the slot's delay (the retry timer already does this for a failed fork),
 * doubling it at each death; README exercise 3
 *
 * link: build/supervisor.o build/loop.o build/loop_select.o build/loop_poll.o
 * build/loop_epoll.o
 *
 * One slot whose every process exits at once, backoff_ms 100 and a guard
 * of 3 deaths: each death is followed by a respawn 100, then 200, then 400
 * ms later (measured from the supervisor's SUP_EV_EXITED to its
 * SUP_EV_SPAWNED), and the 4th death trips the guard, with no spawn after
 * it. Then sup_stop() while a delay is pending: SUP_EV_STOPPED comes, and
 * no process is started later.
 */
#include "loop.h"
#include "supervisor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
    long long exited_at; /* the last SUP_EV_EXITED */
    long long delay[8];  /* from each death to the respawn */
    int ndelays;
    int deaths;
    int spawns_after_stop;
    int crash_loop;
    int stopped;
} seen;

static long long ms_now(void)
{
    return (long long)loop_now_ms();
}

/* Every process exits with status 3 at once: a worker that crashes on start. */
static pid_t spawn(sup_t *sup, int slot, void *slot_data, void **proc_data, void *arg)
{
    (void)sup, (void)slot, (void)slot_data, (void)proc_data, (void)arg;
    pid_t pid = fork();
    if (pid == 0)
        _exit(3);
    return pid;
}

static void on_event(sup_t *sup, const sup_event_t *ev, void *arg)
{
    (void)arg;
    switch (ev->kind) {
    case SUP_EV_EXITED:
        seen.deaths++;
        seen.exited_at = ms_now();
        break;
    case SUP_EV_SPAWNED:
        if (sup_stopping(sup) || seen.crash_loop || seen.stopped)
            seen.spawns_after_stop++;
        if (ev->old_pid != 0 && seen.ndelays < 8)
            seen.delay[seen.ndelays++] = ms_now() - seen.exited_at;
        break;
    case SUP_EV_CRASH_LOOP:
        seen.crash_loop = 1;
        break;
    case SUP_EV_STOPPED:
        seen.stopped = 1;
        break;
    default:
        break;
    }
}

/* Run the loop until cond, or ms. */
static void run_for(loop_t *loop, int ms, const int *cond)
{
    long long end = ms_now() + ms;
    while ((cond == NULL || !*cond) && ms_now() < end)
        loop_run_once(loop, 20);
}

int main(void)
{
    loop_t *loop = loop_new(LOOP_POLL);
    sup_config_t cfg = {
        .nslots = 1,
        .spawn = spawn,
        .on_event = on_event,
        .backoff_ms = 100,
        .crash_max_deaths = 3,
    };
    sup_t *sup = loop ? sup_new(loop, &cfg) : NULL;
    if (sup == NULL || sup_start(sup) == -1) {
        printf("expected a supervisor with backoff_ms 100 to start, got an error\n");
        return 1;
    }
    run_for(loop, 8000, &seen.stopped);
    run_for(loop, 500, NULL); /* a respawn that should not come */
    const long long want[3] = {100, 200, 400};
    for (int i = 0; i < 3; i++) {
        if (i >= seen.ndelays || seen.delay[i] < want[i] - 5 ||
            seen.delay[i] > want[i] + 290) {
            printf("expected respawn delays of 100, 200, 400 ms (+ up to 290 on a busy "
                   "machine), got ");
            for (int j = 0; j < seen.ndelays; j++)
                printf("%s%lld", j ? ", " : "", seen.delay[j]);
            printf("%s ms\n", seen.ndelays ? "" : "none");
            return 1;
        }
    }
    if (!seen.crash_loop || seen.deaths != 4 || !seen.stopped || seen.spawns_after_stop) {
        printf(
            "expected the 4th death to trip the guard (crash_max_deaths 3) and no spawn "
            "after it, got %d deaths, crash loop %d, stopped %d, %d spawns after\n",
            seen.deaths, seen.crash_loop, seen.stopped, seen.spawns_after_stop);
        return 1;
    }
    long long d[3] = {seen.delay[0], seen.delay[1], seen.delay[2]};
    sup_free(sup); /* then the loop too: it still holds sup's SIGCHLD callback */
    loop_free(loop);

    /* sup_stop() while the 200 ms delay after the 2nd death is pending. */
    memset(&seen, 0, sizeof seen);
    cfg.crash_max_deaths = -1;
    loop = loop_new(LOOP_POLL);
    sup = loop ? sup_new(loop, &cfg) : NULL;
    if (sup == NULL || sup_start(sup) == -1) {
        printf("expected a second supervisor to start, got an error\n");
        return 1;
    }
    long long end = ms_now() + 5000;
    while (seen.deaths < 2 && ms_now() < end)
        loop_run_once(loop, 20);
    sup_stop(sup);
    run_for(loop, 1000, &seen.stopped);
    run_for(loop, 500, NULL);
    if (seen.deaths != 2 || !seen.stopped || seen.spawns_after_stop) {
        printf(
            "expected sup_stop() during a back-off delay to end it: SUP_EV_STOPPED and "
            "no more spawns, got %d deaths, stopped %d, %d spawns after\n",
            seen.deaths, seen.stopped, seen.spawns_after_stop);
        return 1;
    }
    sup_free(sup);
    loop_free(loop);
    printf("respawn delays %lld, %lld, %lld ms; the guard tripped; sup_stop() ended a "
           "pending delay\n",
           d[0], d[1], d[2]);
    return 0;
}
