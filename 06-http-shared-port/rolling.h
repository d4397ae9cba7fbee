/*
 * rolling.h: a rolling restart, and a deadline for "ready", on top of
 * chapter 02's supervisor (02-fork/supervisor.h).
 *
 * A server that must never refuse a connection cannot stop all its workers
 * and start new ones. roll_replace() goes one slot at a time: it starts a new
 * worker for the slot (sup_respawn()), waits until that worker says it is
 * ready (roll_ready()), asks the old one to stop (sup_stop_pid()), waits for
 * it to exit, and only then goes on to the next slot. At every moment each
 * slot has at least one worker serving.
 *
 * Waiting for "ready" has a deadline (`ready_timeout_ms`, default 5 s). A
 * process that starts but never says it is ready would otherwise hold its
 * slot forever: connections queue with nobody to answer them, and a rolling
 * restart waits for it without end. At the deadline this module reports
 * ROLL_EV_READY_TIMEOUT and sends SIGKILL (it has served nothing, so there is
 * nothing to finish gracefully); its exit counts as a death, so the
 * supervisor replaces it, and a worker that never gets ready trips the
 * crash-loop guard like one that crashes. The guard counts deaths in a
 * window, though: with the defaults (5 s deadline, 5 deaths in 10 s) one
 * slot loses a worker only every 5 s, never trips the guard, and is retried
 * for as long as it fails. A shorter deadline, or more slots failing
 * together, trips it.
 *
 * Use: fill a sup_config_t as for sup_new(), and hand it to roll_new(), which
 * makes the supervisor (roll_sup()) with its own hooks in front of yours;
 * yours are called as before, with your arg.
 *
 *   roll_config_t rc = {.wait_ready = 1, .on_event = log_roll_event};
 *   roll_t *r = roll_new(loop, &sup_cfg, &rc);
 *   sup_start(roll_sup(r));
 *   // worker says {"cmd":"ready"} -> roll_ready(r, pid)
 *   // SIGHUP -> roll_replace(r, -1)
 *   loop_run(loop);
 *   roll_free(r);                   // frees the supervisor too
 */
#ifndef ROLLING_H
#define ROLLING_H

#include <stdint.h>
#include <sys/types.h>

#include "loop.h"
#include "supervisor.h"

typedef struct roll roll_t;

typedef enum {
    /* `pid` did not become ready within ready_timeout_ms (wait_ready only).
     * It is sent SIGKILL right after this event; the supervisor's
     * SUP_EV_EXITED follows, as an unexpected death, and the slot is
     * respawned. */
    ROLL_EV_READY_TIMEOUT,
    /* `slot`'s old process `old_pid` has exited and `pid` serves in its
     * place. */
    ROLL_EV_REPLACED,
    /* Every slot asked for by roll_replace() has been replaced. */
    ROLL_EV_DONE,
} roll_event_kind_t;

typedef struct roll_event {
    roll_event_kind_t kind;
    int slot; /* -1 for ROLL_EV_DONE */
    pid_t pid;
    pid_t old_pid; /* ROLL_EV_REPLACED */
    void *slot_data;
    void *proc_data;
} roll_event_t;

typedef void (*roll_event_fn)(roll_t *r, const roll_event_t *ev, void *arg);

typedef struct roll_config {
    /* 1: a new process serves only once the caller says so with
     * roll_ready(), and a rolling restart waits for that. 0: it serves as
     * soon as it is spawned. */
    int wait_ready;
    /* With wait_ready: how long a new process may take to become ready
     * before it is SIGKILLed (ROLL_EV_READY_TIMEOUT); 0 means 5000. */
    uint64_t ready_timeout_ms;
    /* Optional: told of this module's events; gets the supervisor's arg. */
    roll_event_fn on_event;
} roll_config_t;

/* Make the supervisor described by `sup_cfg` (see sup_new()), with this
 * module watching it. NULL with errno on failure. */
roll_t *roll_new(loop_t *loop, const sup_config_t *sup_cfg, const roll_config_t *cfg);

/* The supervisor: sup_start(), sup_stop() and the queries work as usual. */
sup_t *roll_sup(const roll_t *r);

/* Rolling restart of one slot, or of every slot when slot == -1, one slot at
 * a time (see the top of this file). A slot already queued is not queued
 * twice. Returns 0, or -1 with EINVAL (bad slot) or ECANCELED (stopping). */
int roll_replace(roll_t *r, int slot);

/* Process `pid` is ready to serve (when wait_ready is set; harmless
 * otherwise). Returns 0, or -1 with ESRCH if the pid is not one of ours, or
 * ETIMEDOUT if it missed its deadline and is being killed. */
int roll_ready(roll_t *r, pid_t pid);

/* Free this module and its supervisor: after SUP_EV_STOPPED, after
 * loop_run() returned (see "Ownership and lifetime" in supervisor.h). */
void roll_free(roll_t *r);

#endif
