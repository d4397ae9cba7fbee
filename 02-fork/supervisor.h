/*
 * supervisor.h: keep N worker processes alive, and stop them cleanly.
 *
 * This is the part of a master that the post's master.js leaves out. The
 * post forks one worker per CPU and then forgets them: nobody reaps them, a
 * worker that crashes is gone for good, and when the master dies the
 * workers live on as orphans. A supervisor does four things:
 *
 *   reap      it learns of every exit through the event loop (SIGCHLD turned
 *             into an ordinary event by loop_on_signal(), chapter 01) and
 *             reaps with waitpid(pid, WNOHANG) for each pid it started. It
 *             never calls waitpid(-1): other modules in the same process
 *             (chapter 03's proc module) have children of their own, and
 *             reaping theirs would steal their exit status.
 *   respawn   a worker that dies without being asked to is replaced at once,
 *             and the event says which pid replaced which.
 *   guard     a crash loop is stopped: more than `crash_max_deaths` deaths in
 *             `crash_window_ms` (default 5 in 10 s) and the supervisor stops
 *             every worker and reports SUP_EV_CRASH_LOOP, then SUP_EV_STOPPED.
 *   stop      sup_stop() asks every worker to stop (SIGTERM by default, or the
 *             caller's hook, for example a {"cmd":"shutdown"} message), waits
 *             up to `stop_timeout_ms` (default 5 s) and then SIGKILLs those
 *             still running. SUP_EV_STOPPED comes when the last one is reaped.
 *
 * Two small primitives let a later chapter build more on top without
 * touching this module: sup_respawn() gives a slot a new process while its
 * old one keeps running, and sup_stop_pid() asks one process to stop, with
 * the same deadline. Chapter 06 makes its rolling restart and its readiness
 * deadline of them (06-http-shared-port/rolling.c).
 *
 * Slots and processes. The supervisor has `nslots` slots (0 .. nslots-1). A
 * slot is a job ("worker 2"); a process is one pid doing that job. A slot has
 * one current process, and after sup_respawn() also the old one until it
 * exits. The caller can attach data to a slot (sup_set_slot_data(),
 * e.g. per-slot statistics) and to each process (the spawn hook's
 * *proc_data, e.g. the channel to that process); both come back in every
 * hook and event.
 *
 * Typical use (chapter 02's master):
 *
 *   static pid_t spawn(sup_t *sup, int slot, void *slot_data,
 *                      void **proc_data, void *arg)
 *   {
 *       fflush(stdout);                  // nothing buffered gets printed twice
 *       pid_t pid = fork();
 *       if (pid == 0) {
 *           int lifeline = sup_child_init(sup, SIGTERM);
 *           if (lifeline == -1)
 *               _exit(1);                // the master is already gone
 *           loop_free(master_loop);      // its fds and handlers are not ours
 *           worker_main(lifeline);       // never returns
 *       }
 *       return pid;                      // -1 with errno on failure
 *   }
 *
 *   sup_config_t cfg = {.nslots = 4, .spawn = spawn, .on_event = log_event};
 *   sup_t *sup = sup_new(loop, &cfg);
 *   sup_start(sup);
 *   // SIGTERM -> sup_stop(sup); SUP_EV_STOPPED -> loop_stop(loop)
 *   loop_run(loop);
 *   int crashed = sup_crashed(sup);
 *   sup_free(sup);
 *
 * A master that execs its workers (chapter 06) does the same in its spawn
 * hook, but between fork and exec it calls sup_child_guard() (async-signal-
 * safe) and hands the child sup_lifeline_fd() under a known number.
 *
 * Signals across fork. Until a new child drops the master's loop, it has the
 * master's signal handlers. Chapter 01's handler takes the default action in
 * any process but the one that installed it, so a SIGTERM that reaches a
 * brand-new worker ends that worker; it never lands in the master's
 * self-pipe. A child that will exec needs nothing more: execve resets
 * handled signals to their defaults.
 *
 * No orphans. When the master dies, even by SIGKILL, its workers must exit
 * too. Two mechanisms, because each has a gap:
 *   - PR_SET_PDEATHSIG (Linux only): the kernel sends the worker a signal
 *     when its parent dies. It is set in the child after fork, so the parent
 *     may already be dead by then; the child checks getppid() right after
 *     prctl() to close that race. It fires when the *thread* that forked the
 *     child exits, which is the same thing in a single-threaded master.
 *   - the lifeline (portable): the supervisor makes one pipe; the master
 *     holds the only write end, every worker watches the read end. When the
 *     master dies, the kernel closes its write end and every worker sees EOF.
 *     For this to work no worker may keep a write end: sup_child_init()
 *     closes the inherited copy, and the write end is close-on-exec.
 *
 * Ownership and lifetime: the supervisor registers one SIGCHLD callback and
 * some timers on the caller's loop. The loop has no way to remove a signal
 * callback, so free the supervisor only when that loop will not run again
 * (after loop_run() returns, before loop_free()), and never from inside a
 * hook or an event. Callbacks run from the loop, never in signal context.
 */
#ifndef SUPERVISOR_H
#define SUPERVISOR_H

#include <stdint.h>
#include <sys/types.h>

#include "loop.h"

typedef struct sup sup_t;

/* Start a process for `slot`. Return its pid, or -1 with errno set. The hook
 * may store per-process data in *proc_data (it starts as NULL); it is passed
 * back to the stop hook and in every event about this process. */
typedef pid_t (*sup_spawn_fn)(sup_t *sup, int slot, void *slot_data, void **proc_data,
                              void *arg);

/* Ask a process to stop. Optional: without it the supervisor sends SIGTERM.
 * Whatever it does, the supervisor SIGKILLs the process if it has not exited
 * stop_timeout_ms later. */
typedef void (*sup_stop_fn)(sup_t *sup, int slot, pid_t pid, void *slot_data,
                            void *proc_data, void *arg);

typedef enum {
    /* `slot` has a new process `pid`; old_pid is the one it replaces (0 at
     * first start). */
    SUP_EV_SPAWNED,
    /* The on-exit hook: `pid` was reaped; `status` is its wait(2) status,
     * or SUP_STATUS_LOST if other code in this process reaped it first
     * (ECHILD) and the status is gone; `expected` is 1 if it had been asked
     * to stop. The process record goes away after this event: free
     * proc_data here. */
    SUP_EV_EXITED,
    /* `pid` ignored the request to stop for stop_timeout_ms and was sent
     * SIGKILL. SUP_EV_EXITED follows when it is reaped. */
    SUP_EV_KILLED,
    /* The spawn hook failed for `slot` with `error` (an errno). It is
     * retried after 100 ms and counts as a death for the crash-loop guard. */
    SUP_EV_SPAWN_FAILED,
    /* `deaths` unexpected deaths within crash_window_ms: every process is
     * being stopped, and SUP_EV_STOPPED follows. */
    SUP_EV_CRASH_LOOP,
    /* After sup_stop() or a crash loop: no process of ours is left. */
    SUP_EV_STOPPED,
} sup_event_kind_t;

typedef struct sup_event {
    sup_event_kind_t kind;
    int slot; /* -1 for events about the whole supervisor */
    pid_t pid;
    pid_t old_pid;
    int status;   /* SUP_EV_EXITED */
    int expected; /* SUP_EV_EXITED */
    int error;    /* SUP_EV_SPAWN_FAILED */
    int deaths;   /* SUP_EV_CRASH_LOOP */
    void *slot_data;
    void *proc_data;
} sup_event_t;

typedef void (*sup_event_fn)(sup_t *sup, const sup_event_t *ev, void *arg);

typedef struct sup_config {
    /* How many workers (slots), at least 1. */
    int nslots;
    /* Required: starts one process. */
    sup_spawn_fn spawn;
    /* Optional: asks one process to stop; NULL sends SIGTERM. */
    sup_stop_fn stop;
    /* Optional: told of everything that happens, in order. */
    sup_event_fn on_event;
    /* Passed to every hook. */
    void *arg;
    /* How long a process may take to stop before SIGKILL; 0 means 5000. */
    uint64_t stop_timeout_ms;
    /* More unexpected deaths than crash_max_deaths within crash_window_ms
     * trip the crash-loop guard. crash_max_deaths: 0 means 5, -1 disables
     * the guard. crash_window_ms: 0 means 10000. */
    int crash_max_deaths;
    uint64_t crash_window_ms;
} sup_config_t;

/* Create a supervisor on `loop` (it installs a SIGCHLD callback there and
 * creates the lifeline pipe). Starts nothing. NULL with errno on failure
 * (EINVAL for a bad config). */
sup_t *sup_new(loop_t *loop, const sup_config_t *cfg);

/* Spawn a process for every slot. Returns 0, or -1 with errno from the first
 * spawn that failed (the processes already started keep running; call
 * sup_stop()). */
int sup_start(sup_t *sup);

/* Ask every process to stop and stop respawning. SIGKILL after the stop
 * timeout; SUP_EV_STOPPED once the last one is reaped (from the loop, also
 * when nothing was running). Calling it again changes nothing. */
void sup_stop(sup_t *sup);

/* Start a new process for `slot` now (SUP_EV_SPAWNED with the old pid). The
 * slot's current process keeps running but no longer holds the slot: it is
 * not replaced when it exits, and its exit is a death unless it was asked to
 * stop. A spawn that fails is retried, as after a death. Returns 0, or -1
 * with EINVAL (bad slot), ECANCELED (stopping) or the spawn hook's errno. */
int sup_respawn(sup_t *sup, int slot);

/* Ask one process to stop, as sup_stop() asks each (stop hook or SIGTERM,
 * SIGKILL after stop_timeout_ms); its exit is then expected. Asking twice
 * changes nothing. Returns 0, or -1 with ESRCH if the pid is not ours. */
int sup_stop_pid(sup_t *sup, pid_t pid);

/* Reap whatever of ours has exited. The SIGCHLD callback calls it; a caller
 * may call it too (for example from a test that drives the loop itself). */
void sup_reap(sup_t *sup);

/* Queries. */
int sup_nslots(const sup_t *sup);
pid_t sup_pid(const sup_t *sup, int slot);        /* current process, 0 if none */
int sup_slot_of(const sup_t *sup, pid_t pid);     /* -1 if not ours */
void *sup_proc_data(const sup_t *sup, pid_t pid); /* NULL if not ours */
int sup_running(const sup_t *sup);                /* processes not yet reaped */
int sup_crashed(const sup_t *sup);                /* 1 once the guard tripped */
int sup_stopping(const sup_t *sup);               /* 1 after sup_stop() */
void sup_set_slot_data(sup_t *sup, int slot, void *data);
void *sup_slot_data(const sup_t *sup, int slot);

/* An EXITED event's status when the real one is lost: no wait(2) status
 * is -1, so it cannot be mistaken for a clean exit. */
#define SUP_STATUS_LOST (-1)

/* Put a wait(2) status into words for a log line: "exit status 3",
 * "killed by signal 9 (Killed)", or "status lost (reaped elsewhere)".
 * Returns buf. */
const char *sup_status_str(int status, char *buf, size_t cap);

/* Free the supervisor. It does not stop or reap anything: call it after
 * SUP_EV_STOPPED. It closes the lifeline, which tells any process still
 * watching it that the master is gone. See "Ownership and lifetime". */
void sup_free(sup_t *sup);

/* --- Master side of the lifeline ------------------------------------- */

/* The read end of the lifeline pipe (close-on-exec). A master that execs its
 * workers dup2()s it to a known fd in the child before exec and tells the
 * new program which fd that is. */
int sup_lifeline_fd(const sup_t *sup);

/* --- Child side --------------------------------------------------------- */

/* For a child that will exec: call it between fork and exec with the
 * master's pid (taken before fork). Async-signal-safe. On Linux it asks the
 * kernel to send `signo` when the parent dies (PR_SET_PDEATHSIG survives
 * execve, except into set-user-ID programs); then, everywhere, it checks
 * that getppid() is still `master`. Returns 0, or -1 if the master is
 * already gone (the child should _exit at once). */
int sup_child_guard(pid_t master, int signo);

/* For a child that does not exec (a forked worker running the master's own
 * code): sup_child_guard() with the master's pid, then close the inherited
 * write end of the lifeline. Returns the lifeline read fd for the worker to
 * watch (readable = EOF = the master is gone), or -1 if the master is
 * already gone. The worker should then loop_free() the master's loop it
 * inherited and make its own. */
int sup_child_init(sup_t *sup, int signo);

#endif
