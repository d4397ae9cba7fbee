/*
 * counters.c: per-worker counters in shared memory (see counters.h).
 *
 * MAP_ANONYMOUS is not in POSIX.1-2008, but every system this tutorial runs
 * on has it (Linux, the BSDs, macOS), and it is the simplest way to share
 * memory between a parent and the children it forks: no file, no name.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include "counters.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "compat.h" /* MAP_ANONYMOUS where it is MAP_ANON: 01-event-loop */

void *counters_shared_map(size_t size)
{
    /* MAP_SHARED is the whole point: MAP_PRIVATE would give every child
     * its own copy-on-write copy, and the master would read zeros. */
    void *mem =
        mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return mem == MAP_FAILED ? NULL : mem;
}

counters *counters_new(int nslots)
{
    void *mem =
        counters_shared_map(sizeof(counters) + (size_t)nslots * sizeof(counter_slot));
    if (mem == NULL)
        return NULL;
    counters *c = mem; /* anonymous mappings start zeroed */
    c->nslots = nslots;
    counters_reset(c);
    return c;
}

void counters_free(counters *c)
{
    if (c != NULL)
        munmap(c, sizeof(counters) + (size_t)c->nslots * sizeof(counter_slot));
}

void counters_reset(counters *c)
{
    c->sleeps_known = 0;
    for (int i = 0; i < c->nslots; i++) {
        atomic_init(&c->slot[i].pid, 0);
        atomic_init(&c->slot[i].wakeups, 0);
        atomic_init(&c->slot[i].accepts, 0);
        atomic_init(&c->slot[i].eagain, 0);
        atomic_init(&c->slot[i].served, 0);
        atomic_init(&c->slot[i].naps, 0);
        atomic_init(&c->slot[i].sleeps_base, 0);
        atomic_init(&c->slot[i].sleeps, 0);
    }
}

void counters_add(atomic_ulong *field)
{
    atomic_fetch_add_explicit(field, 1, memory_order_relaxed);
}

unsigned long counters_get(const atomic_ulong *field)
{
    return atomic_load_explicit(field, memory_order_relaxed);
}

void counters_set(atomic_ulong *field, unsigned long value)
{
    atomic_store_explicit(field, value, memory_order_relaxed);
}

long counters_own_switches(void)
{
    /* ru_nvcsw is not in POSIX's struct rusage, but Linux and the BSDs
     * fill it in: "the process gave up the CPU to wait for something". */
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == -1)
        return -1;
    return ru.ru_nvcsw;
}

long counters_switches_of(pid_t pid)
{
#ifdef __linux__
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[256];
    long n = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
            break;
    fclose(f);
    return n;
#else
    (void)pid;
    return -1;
#endif
}

int counters_is_asleep(pid_t pid)
{
#ifdef __linux__
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) S ...": comm may contain anything, even ") ", so the
     * state is the field after the *last* ')'. */
    char *paren = strrchr(buf, ')');
    if (paren == NULL || paren[1] != ' ')
        return -1;
    return paren[2] == 'S';
#else
    (void)pid;
    return -1;
#endif
}

unsigned long counters_sum(const counters *c, size_t which)
{
    unsigned long sum = 0;
    for (int i = 0; i < c->nslots; i++) {
        const char *base = (const char *)&c->slot[i];
        sum += counters_get((const atomic_ulong *)(const void *)(base + which));
    }
    return sum;
}

double counters_jain(const unsigned long *x, int n)
{
    double sum = 0, sumsq = 0;
    for (int i = 0; i < n; i++) {
        sum += (double)x[i];
        sumsq += (double)x[i] * (double)x[i];
    }
    if (n == 0 || sumsq == 0)
        return 1.0;
    return sum * sum / ((double)n * sumsq);
}

double counters_spread(const unsigned long *x, int n)
{
    if (n == 0)
        return 1.0;
    unsigned long lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo)
            lo = x[i];
        if (x[i] > hi)
            hi = x[i];
    }
    if (lo == 0)
        return hi == 0 ? 1.0 : -1.0;
    return (double)hi / (double)lo;
}
