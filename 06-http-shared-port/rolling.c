/*
 * rolling.c: rolling restart and the ready deadline (see rolling.h), built
 * on chapter 02's supervisor and nothing else of it but its public seam:
 * sup_respawn(), sup_stop_pid(), its events and its stop hook.
 *
 * Read it in this order: the data (the processes not yet ready, where the
 * restart is), then on_sup_event(), where the supervisor's news moves the
 * restart on, then roll_next() .. roll_finish(), the restart's steps.
 * Everything runs from the event loop, like the supervisor itself.
 */
#include "rolling.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

enum { DEFAULT_READY_MS = 5000 };

/* A process that has not said it is ready yet. */
struct waiting {
    struct waiting *next;
    roll_t *r;
    pid_t pid;
    int slot;
    int timed_out;       /* missed the deadline: SIGKILL sent */
    loop_timer_t *timer; /* SIGKILL when the ready deadline passes */
};

/* Where a rolling restart is. One slot at a time: start the new process,
 * wait until it is ready, ask the old one to stop, wait for its exit. */
enum { ROLL_IDLE, ROLL_WAIT_READY, ROLL_WAIT_OLD_EXIT };

struct roll {
    loop_t *loop;
    sup_t *sup;
    sup_config_t user; /* the caller's hooks and arg */
    roll_config_t cfg;
    struct waiting *waiting;

    int *queued; /* per slot: waiting for its turn */
    int phase;
    int active; /* a roll_replace() request is being worked through */
    int slot;
    pid_t old_pid; /* 0 once the old process is gone */
};

static void roll_next(roll_t *r);
static void roll_on_ready(roll_t *r);

static void emit(roll_t *r, roll_event_kind_t kind, int slot, pid_t pid, pid_t old_pid)
{
    roll_event_t ev = {.kind = kind, .slot = slot, .pid = pid, .old_pid = old_pid};
    ev.slot_data = sup_slot_data(r->sup, slot);
    ev.proc_data = sup_proc_data(r->sup, pid);
    if (r->cfg.on_event != NULL)
        r->cfg.on_event(r, &ev, r->user.arg);
}

/* ---------------------------------------------------------------------- */
/* Readiness and its deadline                                             */

static struct waiting *find_waiting(const roll_t *r, pid_t pid)
{
    for (struct waiting *w = r->waiting; w != NULL; w = w->next)
        if (w->pid == pid)
            return w;
    return NULL;
}

static void forget_waiting(roll_t *r, pid_t pid)
{
    for (struct waiting **pw = &r->waiting; *pw != NULL; pw = &(*pw)->next) {
        struct waiting *w = *pw;
        if (w->pid == pid) {
            *pw = w->next;
            if (w->timer != NULL)
                loop_timer_cancel(r->loop, w->timer);
            free(w);
            return;
        }
    }
}

/* The ready deadline passed: the process started but never said it serves.
 * It has served nothing, so there is nothing to finish: SIGKILL. Nobody
 * asked it to stop, so the supervisor counts its exit as a death and
 * respawns the slot. */
static void on_ready_timer(loop_t *loop, loop_timer_t *timer, void *arg)
{
    (void)loop;
    (void)timer;
    struct waiting *w = arg;
    w->timer = NULL;  /* a one-shot timer's handle is gone once it fired */
    w->timed_out = 1; /* a "ready" that comes now is too late */
    emit(w->r, ROLL_EV_READY_TIMEOUT, w->slot, w->pid, 0);
    kill(w->pid, SIGKILL);
}

/* A new process: with wait_ready, it serves only once it says so, and has
 * until the deadline to say it. If no record or timer can be made, let it
 * serve, or wait without a deadline, rather than kill a healthy process. */
static void start_waiting(roll_t *r, pid_t pid, int slot)
{
    struct waiting *w = calloc(1, sizeof *w);
    if (w == NULL)
        return;
    w->r = r;
    w->pid = pid;
    w->slot = slot;
    w->timer = loop_timer_add(r->loop, r->cfg.ready_timeout_ms, 0, on_ready_timer, w);
    w->next = r->waiting;
    r->waiting = w;
}

int roll_ready(roll_t *r, pid_t pid)
{
    if (sup_slot_of(r->sup, pid) == -1) {
        errno = ESRCH;
        return -1;
    }
    struct waiting *w = find_waiting(r, pid);
    if (w == NULL)
        return 0; /* ready already */
    if (w->timed_out) {
        errno = ETIMEDOUT;
        return -1;
    }
    int slot = w->slot;
    forget_waiting(r, pid);
    if (r->phase == ROLL_WAIT_READY && slot == r->slot && sup_pid(r->sup, slot) == pid &&
        !sup_stopping(r->sup))
        roll_on_ready(r);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* The rolling restart                                                    */

/* Take the next queued slot, lowest first, and start its new process. The
 * old one goes on serving; the supervisor no longer respawns it if it dies,
 * since its successor is already on the way. */
static void roll_next(roll_t *r)
{
    if (r->phase != ROLL_IDLE || sup_stopping(r->sup))
        return;
    int nslots = sup_nslots(r->sup), slot = -1;
    for (int i = 0; i < nslots && slot == -1; i++)
        if (r->queued[i])
            slot = i;
    if (slot == -1) {
        if (r->active) {
            r->active = 0;
            emit(r, ROLL_EV_DONE, -1, 0, 0);
        }
        return;
    }
    r->queued[slot] = 0;
    r->active = 1;
    r->slot = slot;
    r->phase = ROLL_WAIT_READY;
    r->old_pid = sup_pid(r->sup, slot);
    /* Its SUP_EV_SPAWNED moves us on (on_sup_event). A spawn that fails is
     * retried by the supervisor, whose SUP_EV_SPAWNED comes later. */
    (void)sup_respawn(r->sup, slot);
}

static void roll_finish(roll_t *r)
{
    pid_t old_pid = r->old_pid;
    r->phase = ROLL_IDLE;
    r->old_pid = 0;
    emit(r, ROLL_EV_REPLACED, r->slot, sup_pid(r->sup, r->slot), old_pid);
    roll_next(r);
}

/* The new process of the slot being replaced is ready: retire the old one.
 * Only now, so that the slot always has a process serving. */
static void roll_on_ready(roll_t *r)
{
    r->phase = ROLL_WAIT_OLD_EXIT;
    if (r->old_pid == 0 || sup_stop_pid(r->sup, r->old_pid) == -1)
        roll_finish(r); /* it had already died by itself */
}

int roll_replace(roll_t *r, int slot)
{
    int nslots = sup_nslots(r->sup);
    if (slot < -1 || slot >= nslots) {
        errno = EINVAL;
        return -1;
    }
    if (sup_stopping(r->sup)) {
        errno = ECANCELED;
        return -1;
    }
    for (int i = 0; i < nslots; i++)
        if (slot == -1 || slot == i)
            r->queued[i] = 1;
    roll_next(r);
    return 0;
}

/* Once the supervisor is stopping, no more rolling restart. */
static void give_up(roll_t *r)
{
    memset(r->queued, 0, (size_t)sup_nslots(r->sup) * sizeof *r->queued);
    r->phase = ROLL_IDLE;
    r->active = 0;
    r->old_pid = 0;
}

/* ---------------------------------------------------------------------- */
/* The supervisor's hooks: ours in front of the caller's                  */

static pid_t spawn_hook(sup_t *sup, int slot, void *slot_data, void **proc_data,
                        void *arg)
{
    roll_t *r = arg;
    return r->user.spawn(sup, slot, slot_data, proc_data, r->user.arg);
}

/* Asked to stop: from now on the stop deadline is the one that matters. */
static void stop_hook(sup_t *sup, int slot, pid_t pid, void *slot_data, void *proc_data,
                      void *arg)
{
    roll_t *r = arg;
    struct waiting *w = find_waiting(r, pid);
    if (w != NULL && w->timer != NULL) {
        loop_timer_cancel(r->loop, w->timer);
        w->timer = NULL;
    }
    if (w != NULL && w->timed_out)
        return; /* already SIGKILLed: nothing to ask */
    if (r->user.stop != NULL)
        r->user.stop(sup, slot, pid, slot_data, proc_data, r->user.arg);
    else
        kill(pid, SIGTERM);
}

static void on_sup_event(sup_t *sup, const sup_event_t *ev, void *arg)
{
    roll_t *r = arg;
    if (ev->kind == SUP_EV_SPAWNED && r->cfg.wait_ready)
        start_waiting(r, ev->pid, ev->slot);
    if (ev->kind == SUP_EV_EXITED)
        forget_waiting(r, ev->pid);
    if (r->user.on_event != NULL)
        r->user.on_event(sup, ev, r->user.arg);

    if (sup_stopping(sup)) {
        give_up(r);
        return;
    }
    /* The slot being replaced has its new process, ready at once (no
     * wait_ready, or it said so from inside the event). */
    if (ev->kind == SUP_EV_SPAWNED && r->phase == ROLL_WAIT_READY &&
        ev->slot == r->slot && find_waiting(r, ev->pid) == NULL)
        roll_on_ready(r);
    if (ev->kind == SUP_EV_EXITED && ev->pid == r->old_pid) {
        if (r->phase == ROLL_WAIT_OLD_EXIT)
            roll_finish(r);
        else
            r->old_pid = 0; /* died before its successor was ready */
    }
}

/* ---------------------------------------------------------------------- */
/* Creating and freeing                                                   */

roll_t *roll_new(loop_t *loop, const sup_config_t *sup_cfg, const roll_config_t *cfg)
{
    roll_t *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->loop = loop;
    r->user = *sup_cfg;
    r->cfg = *cfg;
    if (r->cfg.ready_timeout_ms == 0)
        r->cfg.ready_timeout_ms = DEFAULT_READY_MS;
    r->slot = -1;
    sup_config_t mine = *sup_cfg;
    if (mine.spawn != NULL) /* without one, sup_new() says EINVAL */
        mine.spawn = spawn_hook;
    mine.stop = stop_hook;
    mine.on_event = on_sup_event;
    mine.arg = r;
    r->sup = sup_new(loop, &mine);
    if (r->sup != NULL)
        r->queued = calloc((size_t)sup_cfg->nslots, sizeof *r->queued);
    if (r->queued == NULL) {
        int saved = errno;
        if (r->sup != NULL)
            sup_free(r->sup);
        free(r);
        errno = saved;
        return NULL;
    }
    return r;
}

sup_t *roll_sup(const roll_t *r)
{
    return r->sup;
}

void roll_free(roll_t *r)
{
    if (r == NULL)
        return;
    sup_free(r->sup);
    while (r->waiting != NULL)
        forget_waiting(r, r->waiting->pid);
    free(r->queued);
    free(r);
}
