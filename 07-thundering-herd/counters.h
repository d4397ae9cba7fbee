/*
 * counters.h: per-worker counters in memory that every process shares.
 *
 * The thundering herd is invisible from the outside: a client sees one reply
 * whether one worker woke up or eight did. So every worker counts what
 * happened to it, in a slot of its own, in memory that the master and all
 * workers share. The master creates the table before it forks
 * (mmap MAP_SHARED | MAP_ANONYMOUS), so the children inherit the very same
 * pages, not a copy-on-write copy: a worker's increment is what the master
 * reads.
 *
 * One slot per worker, written only by that worker:
 *   wakeups   returns from the wait (select, poll, epoll_wait, a blocking
 *             accept, or a received fd) that said "a connection is there";
 *   accepts   accept() calls that returned a connection;
 *   eagain    accept() calls that found nothing: another worker was faster;
 *   served    connections that got their one-line reply;
 *   sleeps    (Linux) how many times the worker was put to sleep and woken
 *             again while waiting: its voluntary context switches, read by
 *             the master from /proc/PID/status at the end of a run, minus
 *             the worker's own count when it started (sleeps_base) and
 *             minus its deliberate naps (naps, the stalled worker's).
 *             select(), poll() and epoll_wait() go back to sleep *inside
 *             the kernel* when a wakeup finds the listener already drained,
 *             so such a wakeup never returns to the program and `wakeups`
 *             cannot see it. The context switch counter does.
 *
 * Fields are C11 atomics: another process reads them while the worker
 * writes, and that is a data race unless the accesses are atomic. Relaxed
 * order is enough, nothing else is published through them.
 *
 * The statistics helpers (spread, Jain's index) live here too because they
 * are about "how evenly were the counts spread".
 */
#ifndef COUNTERS_H
#define COUNTERS_H

#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct counter_slot {
    atomic_int pid; /* the worker that owns the slot, 0 before it starts */
    atomic_ulong wakeups;
    atomic_ulong accepts;
    atomic_ulong eagain;
    atomic_ulong served;
    atomic_ulong naps;        /* stalls: sleeps that were not waits */
    atomic_ulong sleeps_base; /* voluntary context switches at start */
    atomic_ulong sleeps;      /* filled in by the master; see above */
} counter_slot;

typedef struct counters {
    int nslots;
    int sleeps_known;    /* 1 once the master has filled in every sleeps */
    counter_slot slot[]; /* nslots of them */
} counters;

/* size bytes of zeroed memory that the children this process forks later
 * share with it (mmap MAP_SHARED | MAP_ANONYMOUS): the one place this
 * chapter maps shared memory, for the counters, the load client's results
 * and the shared lock. NULL with errno on failure; munmap(p, size) frees. */
void *counters_shared_map(size_t size);

/* Map a zeroed table of nslots slots, shared with every child forked after
 * this call. Returns NULL with errno set on failure. */
counters *counters_new(int nslots);
/* Unmap it (in each process that holds it; children may just exit). */
void counters_free(counters *c);
/* Zero every slot, for the next run. */
void counters_reset(counters *c);

/* Add one to a field. Only the slot's own worker calls these. */
void counters_add(atomic_ulong *field);
unsigned long counters_get(const atomic_ulong *field);
void counters_set(atomic_ulong *field, unsigned long value);

/* Voluntary context switches of this process so far (getrusage), for
 * sleeps_base; and of process pid (from /proc/PID/status, Linux only).
 * Both return -1 where that is not available. */
long counters_own_switches(void);
long counters_switches_of(pid_t pid);
/* 1 if process pid is asleep (state S in /proc/PID/stat), 0 if not, -1 if
 * the system does not tell (not Linux, or no such process). */
int counters_is_asleep(pid_t pid);

/* Sum of one field over all slots; `which` is offsetof(counter_slot, f). */
unsigned long counters_sum(const counters *c, size_t which);

/* Jain's fairness index of n values: (sum x)^2 / (n * sum x^2). 1.0 when all
 * are equal, 1/n when one value holds everything. 1.0 for all zeros
 * (nothing to be unfair about), and for n == 0. */
double counters_jain(const unsigned long *x, int n);
/* max/min of n values; -1.0 when the minimum is 0 but the maximum is not
 * (unbounded: the table prints "inf"), 1.0 when all are 0 or n == 0. */
double counters_spread(const unsigned long *x, int n);

#endif
