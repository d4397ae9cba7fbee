/*
 * costs.c: two small experiments behind the chapter's claims about what
 * threads cost. Each is a subcommand of ./event-loop and ends by itself.
 *
 *   ./event-loop thread-limit --limit 2000
 *       creates up to 2000 threads that wait, then prints how many it got,
 *       the error that stopped it (if any), how many memory maps each thread
 *       cost, and the ceilings the kernel's settings put on threads here:
 *       kernel.threads-max, kernel.pid_max (less the tasks already running)
 *       and vm.max_map_count (divided by the maps one thread costs).
 *
 *   ./event-loop thread-limit --limit 2000 --spare-maps 400
 *       first fills this process's map table until only 400 maps are left,
 *       then does the same: thread creation fails near 400 / maps-per-thread,
 *       which is where vm.max_map_count stops threads, reached without
 *       creating 32,000 threads on a shared machine.
 *
 *   ./event-loop switch-cost --rounds 20000
 *       two threads bounce one byte over two pipes; prints the time per
 *       one-way hand-over, once with both free to run on any CPU and (Linux)
 *       once with both pinned to one CPU, where every hand-over is a
 *       context switch. The figure includes a write and a read: it is what
 *       a switch costs a program, an upper bound on the switch itself.
 *       Threads, because a switch between threads is what a thread per
 *       client pays and the loop does not.
 *
 * The --limit is capped well below kernel.pid_max: the experiment must not
 * take the last free pids of a machine that other people use.
 */
#ifdef __linux__
/* sched_setaffinity and CPU_SET, to pin both ping-pong threads to one
 * CPU, are GNU extensions. */
#define _GNU_SOURCE
#endif
#include <err.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sched.h>
#endif

#include "cli.h"
#include "compat.h" /* MAP_ANONYMOUS where it is MAP_ANON */
#include "costs.h"

/* AddressSanitizer maps shadow memory for every new thread and aborts when
 * it cannot: under it, --spare-maps would test the sanitizer, not us. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* ---- thread-limit ---------------------------------------------------- */

/* Open a /proc file and read a number from it with `parse`; -1 where
 * there is no such file (off Linux). */
static long from_proc(const char *path, long (*parse)(FILE *f))
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    long v = parse(f);
    fclose(f);
    return v;
}

/* The number a one-line file such as /proc/sys/kernel/pid_max holds. */
static long first_number(FILE *f)
{
    long v;
    return fscanf(f, "%ld", &v) == 1 ? v : -1;
}

static long line_count(FILE *f)
{
    long n = 0;
    int c;
    while ((c = getc(f)) != EOF)
        if (c == '\n')
            n++;
    return n;
}

/* The second number of the fourth field of /proc/loadavg,
 * "running/total": tasks (threads of every process) on the machine. */
static long total_tasks(FILE *f)
{
    double a, b, c;
    long running, total;
    if (fscanf(f, "%lf %lf %lf %ld/%ld", &a, &b, &c, &running, &total) != 5)
        return -1;
    return total;
}

static long read_proc_long(const char *path)
{
    return from_proc(path, first_number);
}

/* Lines of /proc/self/maps: the memory maps this process has (-1 off
 * Linux). vm.max_map_count caps this count. */
static long count_maps(void)
{
    return from_proc("/proc/self/maps", line_count);
}

/* Tasks on the machine. Each holds a pid. */
static long count_tasks(void)
{
    return from_proc("/proc/loadavg", total_tasks);
}

static int gate[2] = {-1, -1};

/* Each thread waits for the gate to close (read returns 0 at EOF): it
 * stays alive, costing its stack and its task, until the count is done. */
static void *wait_at_gate(void *arg)
{
    (void)arg;
    char c;
    while (read(gate[0], &c, 1) == -1 && errno == EINTR)
        ;
    return NULL;
}

/* Use up this process's map table until `spare` maps are left below
 * max_map_count. One PROT_NONE region is cut into single pages of
 * alternating protection, so the kernel cannot merge them: each is a map of
 * its own. Nothing is touched, so this costs no memory, only map entries.
 * Returns the region's length (0 if none was needed) and sets *region. */
static size_t fill_maps(long max_maps, long spare, char **region)
{
    long have = count_maps();
    long want = max_maps - spare - have;
    if (want <= 0)
        return 0;
    long page = sysconf(_SC_PAGESIZE);
    size_t len = (size_t)want * (size_t)page;
    char *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        err(1, "mmap %zu bytes to fill the map table", len);
    for (long i = 1; i < want; i += 2)
        if (mprotect(p + i * page, (size_t)page, PROT_READ) == -1)
            err(1, "mprotect page %ld to split the map table", i);
    *region = p;
    return len;
}

static void thread_limit_usage(FILE *to)
{
    fprintf(to,
            "usage: event-loop thread-limit [--limit N] [--spare-maps M]\n"
            "\n"
            "Create up to N waiting threads (default 1000, at most 20000 and at most\n"
            "half the free pids), print how many were created and why creation\n"
            "stopped, the maps each thread cost, and the ceilings from the sysctls.\n"
            "  --spare-maps M  first fill the map table until only M maps are left\n"
            "                  below vm.max_map_count (Linux), so that the map limit\n"
            "                  stops the threads early\n");
}

static void thread_limit_flags(int argc, char **argv, long *limit, long *spare)
{
    for (int i = 1; i < argc; i++) {
        const char *v;
        cli_help(argv[i]);
        if ((v = cli_opt(argc, argv, &i, "--limit")) != NULL)
            *limit = cli_long("--limit", v, 1, 20000);
        else if ((v = cli_opt(argc, argv, &i, "--spare-maps")) != NULL)
            *spare = cli_long("--spare-maps", v, 0, 1000000);
        else
            cli_bad_arg(argv[i]);
    }
}

/* What the kernel's settings allow, read before any thread is made. */
struct ceilings {
    long threads_max, pid_max, max_maps, tasks;
};

static void read_ceilings(struct ceilings *c)
{
    c->threads_max = read_proc_long("/proc/sys/kernel/threads-max");
    c->pid_max = read_proc_long("/proc/sys/kernel/pid_max");
    c->max_maps = read_proc_long("/proc/sys/vm/max_map_count");
    c->tasks = count_tasks();
}

/* Refuse what would crowd the machine or cannot be done here. */
static void check_flags(const struct ceilings *c, long limit, long spare)
{
    /* Leave at least half the free pids to everyone else. */
    if (c->pid_max > 0 && c->tasks > 0 && limit > (c->pid_max - c->tasks) / 2)
        cli_fail("bad value for --limit: %ld (this machine has %ld free pids; "
                 "take at most half)",
                 limit, c->pid_max - c->tasks);
    if (spare >= 0 && c->max_maps < 0)
        cli_fail("bad value for --spare-maps: %ld (no vm.max_map_count here)", spare);
}

static void print_ceilings(const struct ceilings *c, const struct rlimit *nproc,
                           const struct rlimit *stack)
{
    printf("kernel.threads-max  %ld\n", c->threads_max);
    printf("kernel.pid_max      %ld (tasks running now: %ld)\n", c->pid_max, c->tasks);
    printf("vm.max_map_count    %ld\n", c->max_maps);
    if (nproc->rlim_cur == RLIM_INFINITY)
        printf("RLIMIT_NPROC        unlimited\n");
    else
        printf("RLIMIT_NPROC        %llu%s\n", (unsigned long long)nproc->rlim_cur,
               geteuid() == 0 ? " (not enforced for root)" : "");
    if (stack->rlim_cur == RLIM_INFINITY)
        printf("RLIMIT_STACK        unlimited\n");
    else
        printf("RLIMIT_STACK        %llu KiB (each thread's stack)\n",
               (unsigned long long)stack->rlim_cur / 1024);
}

/* The waiting threads and what making them cost. */
struct crowd {
    pthread_t *tid;
    long made;
    int rc; /* pthread_create's error when it stopped early, else 0 */
    long maps_before, maps_after, tasks_after;
};

static void create_threads(long limit, struct crowd *cr)
{
    if (pipe(gate) == -1)
        err(1, "pipe");
    cr->tid = calloc((size_t)limit, sizeof *cr->tid);
    if (cr->tid == NULL)
        err(1, "calloc %ld thread ids", limit);
    /* The threads need no signals; the main thread keeps them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    cr->maps_before = count_maps();
    cr->made = 0;
    cr->rc = 0;
    while (cr->made < limit &&
           (cr->rc = pthread_create(&cr->tid[cr->made], NULL, wait_at_gate, NULL)) == 0)
        cr->made++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    cr->maps_after = count_maps();
    cr->tasks_after = count_tasks();
}

static void report_threads(const struct ceilings *c, const struct crowd *cr)
{
    if (cr->rc != 0)
        printf("created %ld threads, then pthread_create failed: %s\n", cr->made,
               strerror(cr->rc));
    else
        printf("created %ld threads (the --limit)\n", cr->made);
    double per = cr->made > 0 && cr->maps_before >= 0
                     ? (double)(cr->maps_after - cr->maps_before) / cr->made
                     : 0;
    printf("maps: %ld before, %ld after: %.2f per thread\n", cr->maps_before,
           cr->maps_after, per);
    printf("tasks on the machine with them: %ld\n", cr->tasks_after);
    if (per > 0 && c->max_maps > 0 && c->pid_max > 0)
        printf("ceilings for this process: threads-max %ld, free pids %ld, "
               "max_map_count / %.2f = %ld\n",
               c->threads_max, c->pid_max - c->tasks, per,
               (long)((c->max_maps - cr->maps_before) / per));
}

/* Close the gate: every thread returns; join them all. */
static void release_threads(struct crowd *cr)
{
    close(gate[1]);
    for (long i = 0; i < cr->made; i++) {
        int e = pthread_join(cr->tid[i], NULL);
        if (e != 0)
            errx(1, "pthread_join: %s", strerror(e));
    }
    close(gate[0]);
    free(cr->tid);
}

int thread_limit_main(int argc, char **argv)
{
    cli_init("event-loop thread-limit", thread_limit_usage);
    long limit = 1000, spare = -1;
    thread_limit_flags(argc, argv, &limit, &spare);
    struct ceilings c;
    read_ceilings(&c);
    struct rlimit nproc, stack;
    if (getrlimit(RLIMIT_NPROC, &nproc) == -1)
        err(1, "getrlimit RLIMIT_NPROC");
    if (getrlimit(RLIMIT_STACK, &stack) == -1)
        err(1, "getrlimit RLIMIT_STACK");
    check_flags(&c, limit, spare);
    print_ceilings(&c, &nproc, &stack);

    char *filled = NULL;
    size_t filled_len = 0;
    if (spare >= 0) {
#ifdef UNDER_ASAN
        printf("--spare-maps: not run under AddressSanitizer (its runtime needs maps "
               "of its own and aborts when they run out)\n");
        return 0;
#endif
        filled_len = fill_maps(c.max_maps, spare, &filled);
        printf("maps filled: %ld of %ld in use, %ld left\n", count_maps(), c.max_maps,
               c.max_maps - count_maps());
    }

    struct crowd cr;
    create_threads(limit, &cr);
    /* Give the map entries back before the threads exit: unmapping a
     * stack can itself need a map entry (and a sanitizer's runtime does). */
    if (filled_len > 0 && munmap(filled, filled_len) == -1)
        err(1, "munmap the filled map table");
    report_threads(&c, &cr);
    release_threads(&cr);
    return 0;
}

/* ---- switch-cost ----------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
        err(1, "clock_gettime");
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void full_write(int fd, const char *what)
{
    char c = 'x';
    ssize_t n;
    while ((n = write(fd, &c, 1)) == -1 && errno == EINTR)
        ;
    if (n != 1)
        err(1, "write %s", what);
}

/* 1 if a byte came, 0 at EOF. */
static int full_read(int fd, const char *what)
{
    char c;
    ssize_t n;
    while ((n = read(fd, &c, 1)) == -1 && errno == EINTR)
        ;
    if (n == -1)
        err(1, "read %s", what);
    return n == 1;
}

/* The two pipes of one ping-pong: the timing thread writes on ping and
 * reads the echo from pong. */
struct pipes {
    int ping[2], pong[2];
};

/* The other thread: echo every byte back until the ping pipe closes. */
static void *echo(void *arg)
{
    const struct pipes *p = arg;
    while (full_read(p->ping[0], "from the timing thread"))
        full_write(p->pong[1], "to the timing thread");
    return NULL;
}

/* n round trips: one byte to the echo thread and back. */
static void bounce(const struct pipes *p, long n)
{
    for (long i = 0; i < n; i++) {
        full_write(p->ping[1], "to the echo thread");
        if (!full_read(p->pong[0], "from the echo thread"))
            errx(1, "the echo thread quit early");
    }
}

#ifdef __linux__
/* Pin the calling thread to CPU 0, keeping its CPU set in *saved. A
 * thread it creates afterwards inherits the pin. */
static void pin_to_cpu0(cpu_set_t *saved)
{
    if (sched_getaffinity(0, sizeof *saved, saved) == -1)
        err(1, "sched_getaffinity");
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    if (sched_setaffinity(0, sizeof set, &set) == -1)
        err(1, "sched_setaffinity to CPU 0");
}
#endif

/* One ping-pong run: start a thread that echoes each byte back; time
 * `rounds` round trips. Returns microseconds per one-way hand-over (half a
 * round trip). */
static double ping_pong(long rounds, int pin)
{
    struct pipes p;
    if (pipe(p.ping) == -1 || pipe(p.pong) == -1)
        err(1, "pipe");
#ifdef __linux__
    cpu_set_t saved;
    if (pin)
        pin_to_cpu0(&saved); /* before the echo thread: it inherits the pin */
#else
    (void)pin;
#endif
    pthread_t tid;
    int e = pthread_create(&tid, NULL, echo, &p);
    if (e != 0)
        errx(1, "pthread_create: %s", strerror(e));
    /* A few warm-up rounds, so that the echo thread has started and both
     * are on their CPUs before the clock starts. */
    bounce(&p, 100);
    double t0 = now_s();
    bounce(&p, rounds);
    double t1 = now_s();
    close(p.ping[1]); /* end of file: the echo thread returns */
    if ((e = pthread_join(tid, NULL)) != 0)
        errx(1, "pthread_join: %s", strerror(e));
    close(p.ping[0]);
    close(p.pong[0]);
    close(p.pong[1]);
#ifdef __linux__
    if (pin && sched_setaffinity(0, sizeof saved, &saved) == -1)
        err(1, "sched_setaffinity back");
#endif
    return (t1 - t0) / (double)rounds / 2 * 1e6;
}

static void switch_cost_usage(FILE *to)
{
    fprintf(to,
            "usage: event-loop switch-cost [--rounds N]\n"
            "\n"
            "Two threads pass one byte back and forth over two pipes N times\n"
            "(default 20000). Prints microseconds per one-way hand-over: with both\n"
            "threads free to use any CPU and, on Linux, with both pinned to CPU 0,\n"
            "where each hand-over is one context switch (plus a write and a read).\n");
}

int switch_cost_main(int argc, char **argv)
{
    cli_init("event-loop switch-cost", switch_cost_usage);
    long rounds = 20000;
    for (int i = 1; i < argc; i++) {
        const char *v;
        cli_help(argv[i]);
        if ((v = cli_opt(argc, argv, &i, "--rounds")) != NULL)
            rounds = cli_long("--rounds", v, 1, 10000000);
        else
            cli_bad_arg(argv[i]);
    }
    printf("any CPU:  %.2f us per hand-over (%ld round trips)\n", ping_pong(rounds, 0),
           rounds);
#ifdef __linux__
    printf("one CPU:  %.2f us per hand-over = per context switch, write and read "
           "included (%ld round trips)\n",
           ping_pong(rounds, 1), rounds);
#else
    printf("one CPU:  not measured (pinning to a CPU is Linux-only here)\n");
#endif
    return 0;
}
