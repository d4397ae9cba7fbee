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
 *       two processes bounce one byte over two pipes; prints the time per
 *       one-way hand-over, once with both free to run on any CPU and (Linux)
 *       once with both pinned to one CPU, where every hand-over is a
 *       context switch. The figure includes a write and a read: it is what
 *       a switch costs a program, an upper bound on the switch itself.
 *
 * The --limit is capped well below kernel.pid_max: the experiment must not
 * take the last free pids of a machine that other people use.
 */
#ifdef __linux__
/* sched_setaffinity and CPU_SET, to pin both ping-pong processes to one
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
#include <sys/wait.h>
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

/* A number from a one-line /proc file, or -1 where there is none. */
static long read_proc_long(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    long v = -1;
    if (fscanf(f, "%ld", &v) != 1)
        v = -1;
    fclose(f);
    return v;
}

/* Lines of /proc/self/maps: the memory maps this process has (-1 off
 * Linux). vm.max_map_count caps this count. */
static long count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (f == NULL)
        return -1;
    long n = 0;
    int c;
    while ((c = getc(f)) != EOF)
        if (c == '\n')
            n++;
    fclose(f);
    return n;
}

/* Tasks (threads of every process) on the machine: the second number of
 * the fourth field of /proc/loadavg, "running/total". Each holds a pid. */
static long count_tasks(void)
{
    FILE *f = fopen("/proc/loadavg", "re");
    if (f == NULL)
        return -1;
    double a, b, c;
    long running, total = -1;
    if (fscanf(f, "%lf %lf %lf %ld/%ld", &a, &b, &c, &running, &total) != 5)
        total = -1;
    fclose(f);
    return total;
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

int thread_limit_main(int argc, char **argv)
{
    cli_init("event-loop thread-limit", thread_limit_usage);
    long limit = 1000, spare = -1;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            thread_limit_usage(stdout);
            return 0;
        } else if ((v = cli_opt(argc, argv, &i, "--limit")) != NULL) {
            limit = cli_long("--limit", v, 1, 20000);
        } else if ((v = cli_opt(argc, argv, &i, "--spare-maps")) != NULL) {
            spare = cli_long("--spare-maps", v, 0, 1000000);
        } else {
            cli_bad_arg(argv[i]);
        }
    }

    long threads_max = read_proc_long("/proc/sys/kernel/threads-max");
    long pid_max = read_proc_long("/proc/sys/kernel/pid_max");
    long max_maps = read_proc_long("/proc/sys/vm/max_map_count");
    long tasks = count_tasks();
    struct rlimit nproc, stack;
    if (getrlimit(RLIMIT_NPROC, &nproc) == -1)
        err(1, "getrlimit RLIMIT_NPROC");
    if (getrlimit(RLIMIT_STACK, &stack) == -1)
        err(1, "getrlimit RLIMIT_STACK");
    /* Leave at least half the free pids to everyone else. */
    if (pid_max > 0 && tasks > 0 && limit > (pid_max - tasks) / 2)
        cli_fail("bad value for --limit: %ld (this machine has %ld free pids; "
                 "take at most half)",
                 limit, pid_max - tasks);
    if (spare >= 0 && max_maps < 0)
        cli_fail("bad value for --spare-maps: %ld (no vm.max_map_count here)", spare);

    printf("kernel.threads-max  %ld\n", threads_max);
    printf("kernel.pid_max      %ld (tasks running now: %ld)\n", pid_max, tasks);
    printf("vm.max_map_count    %ld\n", max_maps);
    if (nproc.rlim_cur == RLIM_INFINITY)
        printf("RLIMIT_NPROC        unlimited\n");
    else
        printf("RLIMIT_NPROC        %llu%s\n", (unsigned long long)nproc.rlim_cur,
               geteuid() == 0 ? " (not enforced for root)" : "");
    if (stack.rlim_cur == RLIM_INFINITY)
        printf("RLIMIT_STACK        unlimited\n");
    else
        printf("RLIMIT_STACK        %llu KiB (each thread's stack)\n",
               (unsigned long long)stack.rlim_cur / 1024);

    char *filled = NULL;
    size_t filled_len = 0;
    if (spare >= 0) {
#ifdef UNDER_ASAN
        printf("--spare-maps: not run under AddressSanitizer (its runtime needs maps "
               "of its own and aborts when they run out)\n");
        return 0;
#endif
        filled_len = fill_maps(max_maps, spare, &filled);
        printf("maps filled: %ld of %ld in use, %ld left\n", count_maps(), max_maps,
               max_maps - count_maps());
    }

    if (pipe(gate) == -1)
        err(1, "pipe");
    pthread_t *tid = calloc((size_t)limit, sizeof *tid);
    if (tid == NULL)
        err(1, "calloc %ld thread ids", limit);
    /* The threads need no signals; the main thread keeps them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    long maps_before = count_maps();
    long made = 0;
    int rc = 0;
    while (made < limit &&
           (rc = pthread_create(&tid[made], NULL, wait_at_gate, NULL)) == 0)
        made++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    long maps_after = count_maps();
    long tasks_after = count_tasks();
    /* Give the map entries back before the threads exit: unmapping a
     * stack can itself need a map entry (and a sanitizer's runtime does). */
    if (filled_len > 0 && munmap(filled, filled_len) == -1)
        err(1, "munmap the filled map table");

    if (rc != 0)
        printf("created %ld threads, then pthread_create failed: %s\n", made,
               strerror(rc));
    else
        printf("created %ld threads (the --limit)\n", made);
    double per =
        made > 0 && maps_before >= 0 ? (double)(maps_after - maps_before) / made : 0;
    printf("maps: %ld before, %ld after: %.2f per thread\n", maps_before, maps_after,
           per);
    printf("tasks on the machine with them: %ld\n", tasks_after);
    if (per > 0 && max_maps > 0 && pid_max > 0)
        printf("ceilings for this process: threads-max %ld, free pids %ld, "
               "max_map_count / %.2f = %ld\n",
               threads_max, pid_max - tasks, per, (long)((max_maps - maps_before) / per));

    close(gate[1]);
    for (long i = 0; i < made; i++) {
        int e = pthread_join(tid[i], NULL);
        if (e != 0)
            errx(1, "pthread_join: %s", strerror(e));
    }
    close(gate[0]);
    free(tid);
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

#ifdef __linux__
static int pin_to_cpu0(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    return sched_setaffinity(0, sizeof set, &set);
}
#endif

/* One ping-pong run: fork a child that echoes each byte back; time
 * `rounds` round trips. Returns microseconds per one-way hand-over (half a
 * round trip). */
static double ping_pong(long rounds, int pin)
{
    int to_child[2], to_parent[2];
    if (pipe(to_child) == -1 || pipe(to_parent) == -1)
        err(1, "pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == -1)
        err(1, "fork");
    if (pid == 0) {
        close(to_child[1]);
        close(to_parent[0]);
#ifdef __linux__
        if (pin && pin_to_cpu0() == -1)
            _exit(3);
#endif
        char c;
        ssize_t n;
        for (;;) {
            n = read(to_child[0], &c, 1);
            if (n == -1 && errno == EINTR)
                continue;
            if (n != 1)
                _exit(n == 0 ? 0 : 1);
            if (write(to_parent[1], &c, 1) != 1)
                _exit(1);
        }
    }
    close(to_child[0]);
    close(to_parent[1]);
#ifdef __linux__
    cpu_set_t saved;
    if (pin) {
        if (sched_getaffinity(0, sizeof saved, &saved) == -1)
            err(1, "sched_getaffinity");
        if (pin_to_cpu0() == -1)
            err(1, "sched_setaffinity to CPU 0");
    }
#endif
    /* A few warm-up rounds, so that the child has started and both are
     * on their CPUs before the clock starts. */
    for (int i = 0; i < 100; i++) {
        full_write(to_child[1], "to the child");
        if (!full_read(to_parent[0], "from the child"))
            errx(1, "the ping-pong child quit early");
    }
    double t0 = now_s();
    for (long i = 0; i < rounds; i++) {
        full_write(to_child[1], "to the child");
        if (!full_read(to_parent[0], "from the child"))
            errx(1, "the ping-pong child quit early");
    }
    double t1 = now_s();
    close(to_child[1]);
    close(to_parent[0]);
    int status;
    while (waitpid(pid, &status, 0) == -1)
        if (errno != EINTR)
            err(1, "waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        errx(1, "the ping-pong child failed (status %d)", status);
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
            "Two processes pass one byte back and forth over two pipes N times\n"
            "(default 20000). Prints microseconds per one-way hand-over: with both\n"
            "processes free to use any CPU and, on Linux, with both pinned to CPU 0,\n"
            "where each hand-over is one context switch (plus a write and a read).\n");
}

int switch_cost_main(int argc, char **argv)
{
    cli_init("event-loop switch-cost", switch_cost_usage);
    long rounds = 20000;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            switch_cost_usage(stdout);
            return 0;
        } else if ((v = cli_opt(argc, argv, &i, "--rounds")) != NULL) {
            rounds = cli_long("--rounds", v, 1, 10000000);
        } else {
            cli_bad_arg(argv[i]);
        }
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
