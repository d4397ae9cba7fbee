/*
 * supervisor.c: reap, respawn, guard against crash loops, and stop with a
 * deadline (see supervisor.h).
 *
 * Read it in this order: the data (a list of processes, an array of slots),
 * then what happens when a process exits (handle_exit), which is where
 * respawning, the crash-loop guard and the final SUP_EV_STOPPED all meet. Everything runs
 * from the event loop: the SIGCHLD handler only writes a byte into the loop's self-pipe,
 * and the loop calls on_sigchld() as an ordinary callback, so none of this code runs in
 * signal context and none of it needs to be async-signal-safe, except sup_child_guard(),
 * which runs in a child between fork and exec.
 *
 * There is no main program here; chapter 02's `fork` and later chapters use
 * it, and tests/test_supervisor.c drives it with tiny children.
 */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/prctl.h>
#endif

enum { DEFAULT_STOP_MS = 5000, DEFAULT_MAX_DEATHS = 5, DEFAULT_WINDOW_MS = 10000 };
enum { RETRY_SPAWN_MS = 100 };

/* One process we started and have not reaped yet. Until it is reaped its pid
 * cannot be reused by another process (the zombie holds it), so sending it a
 * signal is always safe. */
struct proc {
    struct proc *next;
    sup_t *sup;
    pid_t pid;
    int slot;
    int stopping;             /* asked to stop: its exit is expected, not a death */
    void *data;               /* the spawn hook's *proc_data */
    loop_timer_t *kill_timer; /* SIGKILL when the stop deadline passes */
};

struct slot {
    sup_t *sup;
    int index;
    void *data;
    struct proc *current;      /* the process doing this slot's job */
    loop_timer_t *retry_timer; /* a failed spawn is retried later */
    pid_t retry_old_pid;       /* whom the retried spawn replaces */
};

struct sup {
    loop_t *loop;
    sup_config_t cfg;
    pid_t master;
    int life[2]; /* the lifeline pipe: workers watch [0], we hold [1] */

    struct slot *slots;
    struct proc *procs; /* every process not yet reaped */
    int nprocs;

    int stopping;
    int stopped_reported;
    loop_timer_t *stopped_timer;

    /* The crash-loop guard remembers the times of the last max+1 deaths. */
    int crashed;
    uint64_t *deaths;
    int ndeaths; /* how many recorded so far (saturates at max+1) */
    int death_next;
};

static void emit(sup_t *sup, sup_event_t ev)
{
    if (sup->cfg.on_event != NULL)
        sup->cfg.on_event(sup, &ev, sup->cfg.arg);
}

static sup_event_t event(sup_event_kind_t kind, int slot, void *slot_data)
{
    sup_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = kind;
    ev.slot = slot;
    ev.slot_data = slot_data;
    return ev;
}

static struct proc *find(const sup_t *sup, pid_t pid)
{
    for (struct proc *p = sup->procs; p != NULL; p = p->next)
        if (p->pid == pid)
            return p;
    return NULL;
}

static void unlink_proc(sup_t *sup, struct proc *dead)
{
    for (struct proc **pp = &sup->procs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == dead) {
            *pp = dead->next;
            sup->nprocs--;
            return;
        }
    }
}

/* ---------------------------------------------------------------------- */
/* Starting and stopping one process                                      */

static void cancel_timer(sup_t *sup, loop_timer_t **t)
{
    if (*t != NULL) {
        loop_timer_cancel(sup->loop, *t);
        *t = NULL;
    }
}

/* Start a process for `slot`, replacing `old_pid` (0 at first start).
 * Returns 0, or -1 with errno from the spawn hook. */
static int spawn_slot(sup_t *sup, int slot, pid_t old_pid)
{
    struct slot *s = &sup->slots[slot];
    /* Allocate first: once fork() has succeeded we must be able to record
     * the child, or it would run unsupervised. */
    struct proc *p = calloc(1, sizeof *p);
    if (p == NULL)
        return -1;
    void *data = NULL;
    errno = 0;
    pid_t pid = sup->cfg.spawn(sup, slot, s->data, &data, sup->cfg.arg);
    if (pid <= 0) {
        int saved = errno ? errno : EAGAIN;
        free(p);
        sup_event_t ev = event(SUP_EV_SPAWN_FAILED, slot, s->data);
        ev.old_pid = old_pid;
        ev.error = saved;
        emit(sup, ev);
        errno = saved;
        return -1;
    }
    p->sup = sup;
    p->pid = pid;
    p->slot = slot;
    p->data = data;
    p->next = sup->procs;
    sup->procs = p;
    sup->nprocs++;
    s->current = p;

    sup_event_t ev = event(SUP_EV_SPAWNED, slot, s->data);
    ev.pid = pid;
    ev.old_pid = old_pid;
    ev.proc_data = data;
    emit(sup, ev);
    return 0;
}

static void on_kill_timer(loop_t *loop, loop_timer_t *timer, void *arg)
{
    (void)loop;
    (void)timer;
    struct proc *p = arg;
    p->kill_timer = NULL; /* a one-shot timer's handle is gone once it fired */
    sup_event_t ev = event(SUP_EV_KILLED, p->slot, p->sup->slots[p->slot].data);
    ev.pid = p->pid;
    ev.proc_data = p->data;
    emit(p->sup, ev);
    kill(p->pid, SIGKILL);
}

/* Ask one process to stop, and arm its deadline. */
static void ask_stop(sup_t *sup, struct proc *p)
{
    if (p->stopping)
        return;
    p->stopping = 1;
    void *slot_data = sup->slots[p->slot].data;
    if (sup->cfg.stop != NULL)
        sup->cfg.stop(sup, p->slot, p->pid, slot_data, p->data, sup->cfg.arg);
    else
        kill(p->pid, SIGTERM);
    p->kill_timer =
        loop_timer_add(sup->loop, sup->cfg.stop_timeout_ms, 0, on_kill_timer, p);
    if (p->kill_timer == NULL)
        kill(p->pid, SIGKILL); /* no deadline possible: do not wait forever */
}

/* ---------------------------------------------------------------------- */
/* Stopping everything                                                    */

static void report_stopped(sup_t *sup)
{
    if (sup->stopped_reported || sup->nprocs > 0)
        return;
    sup->stopped_reported = 1;
    emit(sup, event(SUP_EV_STOPPED, -1, NULL));
}

static void on_stopped_timer(loop_t *loop, loop_timer_t *timer, void *arg)
{
    (void)loop;
    (void)timer;
    sup_t *sup = arg;
    sup->stopped_timer = NULL;
    report_stopped(sup);
}

void sup_stop(sup_t *sup)
{
    if (sup->stopping)
        return;
    sup->stopping = 1;
    /* No more respawns. */
    for (int i = 0; i < sup->cfg.nslots; i++)
        cancel_timer(sup, &sup->slots[i].retry_timer);
    for (struct proc *p = sup->procs; p != NULL; p = p->next)
        ask_stop(sup, p);
    /* Report SUP_EV_STOPPED from the loop even when nothing runs, so the
     * caller always hears it the same way, never from inside this call. */
    if (sup->nprocs == 0 && sup->stopped_timer == NULL)
        sup->stopped_timer = loop_timer_add(sup->loop, 0, 0, on_stopped_timer, sup);
}

/* ---------------------------------------------------------------------- */
/* The crash-loop guard                                                   */

/* Record one unexpected death. Trips the guard when the oldest of the last
 * max+1 deaths is no older than the window: that is "more than max deaths
 * within the window". */
static void record_death(sup_t *sup)
{
    int max = sup->cfg.crash_max_deaths;
    if (max < 0 || sup->stopping)
        return;
    uint64_t now = loop_now_ms();
    sup->deaths[sup->death_next] = now;
    sup->death_next = (sup->death_next + 1) % (max + 1);
    if (sup->ndeaths < max + 1)
        sup->ndeaths++;
    if (sup->ndeaths < max + 1)
        return;
    uint64_t oldest = sup->deaths[sup->death_next];
    if (now - oldest > sup->cfg.crash_window_ms)
        return;
    sup->crashed = 1;
    sup_event_t ev = event(SUP_EV_CRASH_LOOP, -1, NULL);
    ev.deaths = max + 1;
    emit(sup, ev);
    sup_stop(sup);
}

/* ---------------------------------------------------------------------- */
/* Respawning                                                             */

static int respawn(sup_t *sup, int slot, pid_t old_pid);

static void on_retry_timer(loop_t *loop, loop_timer_t *timer, void *arg)
{
    (void)loop;
    (void)timer;
    struct slot *s = arg;
    s->retry_timer = NULL;
    respawn(s->sup, s->index, s->retry_old_pid);
}

static void schedule_retry(sup_t *sup, int slot, pid_t old_pid)
{
    struct slot *s = &sup->slots[slot];
    if (sup->stopping || s->retry_timer != NULL)
        return;
    s->retry_old_pid = old_pid;
    s->retry_timer = loop_timer_add(sup->loop, RETRY_SPAWN_MS, 0, on_retry_timer, s);
}

/* Give `slot`, which has no process, a new one, unless we are stopping.
 * Returns 0, or -1 with errno (the spawn is then retried later). */
static int respawn(sup_t *sup, int slot, pid_t old_pid)
{
    /* The slot has a process already: nothing to do. */
    if (sup->stopping || sup->slots[slot].current != NULL)
        return 0;
    if (spawn_slot(sup, slot, old_pid) == -1) {
        int saved = errno;
        record_death(sup); /* a spawn that keeps failing is a crash loop too */
        schedule_retry(sup, slot, old_pid);
        errno = saved;
        return -1;
    }
    return 0;
}

/* The seam a later chapter builds on (06's rolling restart): a new process
 * for a slot now, while the old one goes on running until it is asked to
 * stop. Detached from its slot, the old one is not replaced when it exits. */
int sup_respawn(sup_t *sup, int slot)
{
    if (slot < 0 || slot >= sup->cfg.nslots) {
        errno = EINVAL;
        return -1;
    }
    if (sup->stopping) {
        errno = ECANCELED;
        return -1;
    }
    struct slot *s = &sup->slots[slot];
    pid_t old_pid = s->current != NULL ? s->current->pid : 0;
    s->current = NULL;
    cancel_timer(sup, &s->retry_timer); /* this spawn supersedes a pending retry */
    return respawn(sup, slot, old_pid);
}

int sup_stop_pid(sup_t *sup, pid_t pid)
{
    struct proc *p = find(sup, pid);
    if (p == NULL) {
        errno = ESRCH;
        return -1;
    }
    ask_stop(sup, p);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Reaping: where everything meets                                        */

static void handle_exit(sup_t *sup, struct proc *p, int status)
{
    unlink_proc(sup, p);
    cancel_timer(sup, &p->kill_timer);
    struct slot *s = &sup->slots[p->slot];
    int slot = p->slot;
    pid_t pid = p->pid;
    int expected = p->stopping;
    int was_current = s->current == p;
    if (was_current)
        s->current = NULL;

    sup_event_t ev = event(SUP_EV_EXITED, slot, s->data);
    ev.pid = pid;
    ev.status = status;
    ev.expected = expected;
    ev.proc_data = p->data;
    free(p);
    emit(sup, ev);

    if (!expected) {
        record_death(sup); /* may trip the guard, which calls sup_stop() */
        if (was_current)
            respawn(sup, slot, pid);
    }
    if (sup->stopping)
        report_stopped(sup);
}

const char *sup_status_str(int status, char *buf, size_t cap)
{
    if (status == SUP_STATUS_LOST)
        snprintf(buf, cap, "status lost (reaped elsewhere)");
    else if (WIFEXITED(status))
        snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, cap, "wait status %#x", (unsigned)status);
    return buf;
}

void sup_reap(sup_t *sup)
{
    /* One waitpid(pid, WNOHANG) per pid we started: never waitpid(-1),
     * which would also reap children that belong to other code in this
     * process. Events may start or stop processes and so change the list;
     * after each exit, scan again from the top. */
    int again = 1;
    while (again) {
        again = 0;
        for (struct proc *p = sup->procs; p != NULL; p = p->next) {
            int status = 0;
            pid_t r = waitpid(p->pid, &status, WNOHANG);
            if (r == 0)
                continue;
            if (r == -1 && errno == EINTR) {
                again = 1;
                break;
            }
            /* r == pid: it exited. r == -1 (ECHILD): someone else reaped
             * it, so it is gone all the same, but its status is lost; say
             * so rather than report a clean exit. */
            handle_exit(sup, p, r == p->pid ? status : SUP_STATUS_LOST);
            again = 1;
            break;
        }
    }
}

static void on_sigchld(loop_t *loop, int signo, void *arg)
{
    (void)loop;
    (void)signo;
    sup_reap(arg);
}

/* ---------------------------------------------------------------------- */
/* Creating, starting, freeing                                            */

sup_t *sup_new(loop_t *loop, const sup_config_t *cfg)
{
    if (loop == NULL || cfg == NULL || cfg->nslots < 1 || cfg->spawn == NULL ||
        cfg->crash_max_deaths < -1) {
        errno = EINVAL;
        return NULL;
    }
    sup_t *sup = calloc(1, sizeof *sup);
    if (sup == NULL)
        return NULL;
    sup->loop = loop;
    sup->cfg = *cfg;
    if (sup->cfg.stop_timeout_ms == 0)
        sup->cfg.stop_timeout_ms = DEFAULT_STOP_MS;
    if (sup->cfg.crash_max_deaths == 0)
        sup->cfg.crash_max_deaths = DEFAULT_MAX_DEATHS;
    if (sup->cfg.crash_window_ms == 0)
        sup->cfg.crash_window_ms = DEFAULT_WINDOW_MS;
    sup->master = getpid();
    sup->life[0] = sup->life[1] = -1;

    int max = sup->cfg.crash_max_deaths;
    sup->slots = calloc((size_t)cfg->nslots, sizeof *sup->slots);
    sup->deaths = calloc(max > 0 ? (size_t)max + 1 : 1, sizeof *sup->deaths);
    if (sup->slots == NULL || sup->deaths == NULL)
        goto fail;
    for (int i = 0; i < cfg->nslots; i++) {
        sup->slots[i].sup = sup;
        sup->slots[i].index = i;
    }

    /* The lifeline. Both ends close-on-exec: an exec'd worker gets the read
     * end only where its spawn hook dup2()s it on purpose, and no exec'd
     * program ever inherits the write end (which would keep the pipe open
     * after the master died). */
    if (pipe(sup->life) == -1)
        goto fail;
    if (fcntl(sup->life[0], F_SETFD, FD_CLOEXEC) == -1 ||
        fcntl(sup->life[1], F_SETFD, FD_CLOEXEC) == -1)
        goto fail;

    if (loop_on_signal(loop, SIGCHLD, on_sigchld, sup) == -1)
        goto fail;
    return sup;

fail:;
    int saved = errno;
    if (sup->life[0] != -1) {
        close(sup->life[0]);
        close(sup->life[1]);
    }
    free(sup->slots);
    free(sup->deaths);
    free(sup);
    errno = saved;
    return NULL;
}

int sup_start(sup_t *sup)
{
    for (int i = 0; i < sup->cfg.nslots; i++)
        if (sup->slots[i].current == NULL && spawn_slot(sup, i, 0) == -1)
            return -1;
    return 0;
}

void sup_free(sup_t *sup)
{
    if (sup == NULL)
        return;
    for (int i = 0; i < sup->cfg.nslots; i++)
        cancel_timer(sup, &sup->slots[i].retry_timer);
    cancel_timer(sup, &sup->stopped_timer);
    struct proc *p = sup->procs;
    while (p != NULL) {
        struct proc *next = p->next;
        cancel_timer(sup, &p->kill_timer);
        free(p);
        p = next;
    }
    close(sup->life[0]);
    close(sup->life[1]);
    free(sup->slots);
    free(sup->deaths);
    free(sup);
}

/* ---------------------------------------------------------------------- */
/* Queries                                                                */

int sup_nslots(const sup_t *sup)
{
    return sup->cfg.nslots;
}

pid_t sup_pid(const sup_t *sup, int slot)
{
    if (slot < 0 || slot >= sup->cfg.nslots || sup->slots[slot].current == NULL)
        return 0;
    return sup->slots[slot].current->pid;
}

int sup_slot_of(const sup_t *sup, pid_t pid)
{
    struct proc *p = find(sup, pid);
    return p != NULL ? p->slot : -1;
}

void *sup_proc_data(const sup_t *sup, pid_t pid)
{
    struct proc *p = find(sup, pid);
    return p != NULL ? p->data : NULL;
}

int sup_running(const sup_t *sup)
{
    return sup->nprocs;
}

int sup_crashed(const sup_t *sup)
{
    return sup->crashed;
}

int sup_stopping(const sup_t *sup)
{
    return sup->stopping;
}

void sup_set_slot_data(sup_t *sup, int slot, void *data)
{
    if (slot >= 0 && slot < sup->cfg.nslots)
        sup->slots[slot].data = data;
}

void *sup_slot_data(const sup_t *sup, int slot)
{
    if (slot < 0 || slot >= sup->cfg.nslots)
        return NULL;
    return sup->slots[slot].data;
}

int sup_lifeline_fd(const sup_t *sup)
{
    return sup->life[0];
}

/* ---------------------------------------------------------------------- */
/* Child side: no orphans                                                 */

int sup_child_guard(pid_t master, int signo)
{
#ifdef __linux__
    /* Linux only: have the kernel send `signo` when our parent dies.
     * If prctl() fails, the lifeline below still works, so carry on. */
    (void)prctl(PR_SET_PDEATHSIG, signo);
#else
    (void)signo;
#endif
    /* The master may have died between fork() and prctl(): then we were
     * already reparented (to init or a subreaper) and the death signal will
     * never come. getppid() tells. */
    if (getppid() != master)
        return -1;
    return 0;
}

int sup_child_init(sup_t *sup, int signo)
{
    /* A forked worker inherits the write end too; while any worker holds
     * it, the others would never see EOF. */
    close(sup->life[1]);
    sup->life[1] = -1;
    if (sup_child_guard(sup->master, signo) == -1)
        return -1;
    return sup->life[0];
}
