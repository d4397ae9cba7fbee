/*
 * fork_cost.c: `fork cost`, timing four ways to create a process and
 * watching copy-on-write happen (see fork_cost.h).
 *
 *   ./fork cost --sizes 1,512
 *
 * What to notice in the table: the fork columns grow with the parent's size
 * (the kernel copies the page tables: 8 bytes per 4 KiB page, 2 MiB of them
 * per GiB, plus bookkeeping for each page); vfork and posix_spawn do not
 * (the child borrows the parent's memory until it execs or exits). In the
 * copy-on-write table: right after fork the child's Private_Dirty is close
 * to zero although its Rss is the whole buffer (every page is shared with
 * the parent); it grows by exactly what the child writes.
 */
/* vfork(2) and MAP_ANONYMOUS are not in POSIX.1-2008 (vfork was removed,
 * MAP_ANONYMOUS came only in POSIX.1-2024); glibc shows them with this. */
#define _DEFAULT_SOURCE
#include "fork_cost.h"

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"
#include "net.h" /* net_cpu_count, from 01-event-loop */

extern char **environ;

enum { MIB = 1024 * 1024 };

static double now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
        err(1, "clock_gettime");
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* CPU time (user + system) this process has used, in milliseconds. */
static double cpu_now_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == -1)
        err(1, "clock_gettime");
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void reap(pid_t pid, const char *what)
{
    int status;
    while (waitpid(pid, &status, 0) == -1)
        if (errno != EINTR)
            err(1, "waitpid (%s)", what);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        errx(1, "%s: the child did not exit with status 0 (wait status %#x)", what,
             (unsigned)status);
}

/* ---------------------------------------------------------------------- */
/* The four ways, each timed from just before creation to after the reap   */

/* Also returns, in *cpu_ms, the CPU time this process spent inside fork()
 * itself. That is where the kernel copies the page tables, and unlike the
 * wall time it does not include waiting for the child to be scheduled,
 * which on a busy machine can take longer than the fork. */
static double time_fork(double *cpu_ms)
{
    double c0 = cpu_now_ms();
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == -1)
        err(1, "fork");
    if (pid == 0)
        _exit(0);
    *cpu_ms = cpu_now_ms() - c0;
    reap(pid, "fork");
    return now_ms() - t0;
}

static double time_vfork(void)
{
    double t0 = now_ms();
    /* The parent is suspended until the child execs or exits, and the
     * child runs in the parent's memory: it may do nothing but that. */
    pid_t pid = vfork();
    if (pid == -1)
        err(1, "vfork");
    if (pid == 0)
        _exit(0);
    reap(pid, "vfork");
    return now_ms() - t0;
}

static double time_spawn(const char *prog)
{
    char *const argv[] = {(char *)prog, NULL};
    pid_t pid;
    double t0 = now_ms();
    /* posix_spawn returns the exec error itself (glibc uses clone with
     * CLONE_VM|CLONE_VFORK and passes errno back), never a fake 127. */
    int e = posix_spawn(&pid, prog, NULL, NULL, argv, environ);
    if (e != 0) {
        errno = e;
        err(1, "posix_spawn %s", prog);
    }
    reap(pid, "posix_spawn");
    return now_ms() - t0;
}

static double time_fork_exec(const char *prog)
{
    char *const argv[] = {(char *)prog, NULL};
    /* A close-on-exec pipe tells us whether exec worked: a successful exec
     * closes the child's end (EOF); a failed one sends errno first. */
    int p[2];
    if (pipe(p) == -1)
        err(1, "pipe");
    if (fcntl(p[0], F_SETFD, FD_CLOEXEC) == -1 || fcntl(p[1], F_SETFD, FD_CLOEXEC) == -1)
        err(1, "fcntl");
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == -1)
        err(1, "fork");
    if (pid == 0) {
        execv(prog, argv);
        int e = errno;
        ssize_t w = write(p[1], &e, sizeof e);
        (void)w; /* nothing better to do if even this fails */
        _exit(127);
    }
    close(p[1]);
    int e;
    ssize_t n;
    while ((n = read(p[0], &e, sizeof e)) == -1 && errno == EINTR)
        ;
    close(p[0]);
    if (n == (ssize_t)sizeof e) {
        errno = e;
        err(1, "execv %s (in the child)", prog);
    }
    reap(pid, "fork+exec");
    return now_ms() - t0;
}

/* ---------------------------------------------------------------------- */
/* Memory                                                                  */

/* Anonymous private memory with every page written, so it is resident and
 * private to us: the kind of memory a big parent really has.
 *
 * In 4 KiB pages. Where transparent huge pages are on for every mapping
 * (/sys/kernel/mm/transparent_hugepage/enabled says [always], the default
 * of some distributions), Linux would back this buffer with 2 MiB pages,
 * and fork would copy one entry per 2 MiB instead of one per 4 KiB: here
 * the CPU in fork() at 1 GiB fell from about 15 ms to about 1 ms with
 * MADV_HUGEPAGE. That is real, and worth knowing, but it would hide what
 * this table is about, so we opt out (Linux-only, hence the #ifdef). */
static char *make_resident(size_t mib)
{
    char *buf =
        mmap(NULL, mib * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        err(1, "mmap %zu MiB", mib);
#ifdef MADV_NOHUGEPAGE
    if (madvise(buf, mib * MIB, MADV_NOHUGEPAGE) == -1)
        warn("madvise MADV_NOHUGEPAGE (the fork times may come out flat)");
#endif
    memset(buf, 0x5a, mib * MIB);
    return buf;
}

/* Our resident size in MiB from /proc/self/statm (Linux); -1 elsewhere. */
static double rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    long size, resident;
    int ok = fscanf(f, "%ld %ld", &size, &resident) == 2;
    fclose(f);
    return ok ? (double)resident * (double)sysconf(_SC_PAGESIZE) / MIB : -1;
}

struct rollup {
    long rss_kb, shared_dirty_kb, private_dirty_kb;
};

/* The sums over all of a process's mappings (Linux 4.14+). */
static int read_rollup(pid_t pid, struct rollup *r)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    memset(r, 0, sizeof *r);
    char line[256];
    while (fgets(line, sizeof line, f) != NULL) {
        sscanf(line, "Rss: %ld kB", &r->rss_kb);
        sscanf(line, "Shared_Dirty: %ld kB", &r->shared_dirty_kb);
        sscanf(line, "Private_Dirty: %ld kB", &r->private_dirty_kb);
    }
    fclose(f);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Copy-on-write, seen from /proc                                          */

static void full_read(int fd, void *buf, size_t n, const char *what)
{
    ssize_t r;
    while ((r = read(fd, buf, n)) == -1 && errno == EINTR)
        ;
    if (r != (ssize_t)n)
        errx(1, "copy-on-write view: the child stopped answering (%s)", what);
}

static void full_write(int fd, const void *buf, size_t n)
{
    ssize_t w;
    while ((w = write(fd, buf, n)) == -1 && errno == EINTR)
        ;
    if (w != (ssize_t)n)
        err(1, "write to the child");
}

static void cow_view(size_t mib, int me)
{
    static const unsigned char stages[] = {0, 25, 50, 100};
    char *buf = make_resident(mib);
    /* Two pipes: "go" tells the child to write the next stage, "ack" says
     * it has. Close-on-exec like every pipe here, though nobody execs. */
    int go[2], ack[2];
    if (pipe(go) == -1 || pipe(ack) == -1)
        err(1, "pipe");
    for (int i = 0; i < 2; i++)
        if (fcntl(go[i], F_SETFD, FD_CLOEXEC) == -1 ||
            fcntl(ack[i], F_SETFD, FD_CLOEXEC) == -1)
            err(1, "fcntl");
    struct rollup before;
    int have_rollup = read_rollup(getpid(), &before) == 0;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == -1)
        err(1, "fork");
    if (pid == 0) {
        /* The child: say "forked", then for each stage write one byte into
         * every page of the first pct% of the buffer and say "done". Each
         * first write to a page makes the kernel copy that page for us. */
        close(go[1]);
        close(ack[0]);
        unsigned char pct = 0;
        long page = sysconf(_SC_PAGESIZE);
        do {
            size_t upto = mib * MIB / 100 * pct;
            for (size_t off = 0; off < upto; off += (size_t)page)
                buf[off] ^= 1;
            if (write(ack[1], &pct, 1) != 1)
                _exit(1);
        } while (read(go[0], &pct, 1) == 1);
        _exit(0);
    }
    close(go[0]);
    close(ack[1]);

    printf("[cost %d]\n", me);
    printf("[cost %d] copy-on-write: the parent holds %zu MiB (written, resident).\n", me,
           mib);
    if (!have_rollup) {
        printf("[cost %d]   (no /proc/PID/smaps_rollup here: it needs Linux 4.14+)\n",
               me);
    } else {
        printf(
            "[cost %d] Before fork the parent's Private_Dirty is %.1f MiB. Then, from\n"
            "[cost %d] /proc/PID/smaps_rollup, as the child writes into that memory:\n",
            me, before.private_dirty_kb / 1024.0, me);
        printf("[cost %d]   child has written   child: Rss   Shared_Dirty  Private_Dirty"
               "   parent: Private_Dirty\n",
               me);
    }
    for (size_t i = 0; have_rollup && i < sizeof stages; i++) {
        unsigned char pct = stages[i];
        if (i > 0)
            full_write(go[1], &pct, 1);
        unsigned char got;
        full_read(ack[0], &got, 1, "stage");
        struct rollup c, p;
        if (read_rollup(pid, &c) == -1 || read_rollup(getpid(), &p) == -1)
            err(1, "read /proc/PID/smaps_rollup");
        char label[32];
        if (pct == 0)
            snprintf(label, sizeof label, "nothing (forked)");
        else
            snprintf(label, sizeof label, "%3u%% = %zu MiB", pct, mib * pct / 100);
        printf("[cost %d]   %-18s %8.1f MiB  %8.1f MiB   %8.1f MiB       %8.1f MiB\n", me,
               label, c.rss_kb / 1024.0, c.shared_dirty_kb / 1024.0,
               c.private_dirty_kb / 1024.0, p.private_dirty_kb / 1024.0);
    }
    close(go[1]); /* EOF: the child exits */
    close(ack[0]);
    reap(pid, "copy-on-write child");
    if (munmap(buf, mib * MIB) == -1)
        err(1, "munmap");
}

/* ---------------------------------------------------------------------- */

int cost_run(const cost_opts *o)
{
    int me = (int)getpid();
    if (access(o->prog, X_OK) == -1)
        err(1, "access %s", o->prog);
    /* t[0] fork wall, t[1] fork CPU, t[2] vfork, t[3] posix_spawn,
     * t[4] fork+exec */
    double *t[5];
    for (int m = 0; m < 5; m++)
        if ((t[m] = calloc((size_t)o->runs, sizeof(double))) == NULL)
            err(1, "calloc");

    printf("[cost %d] how long it takes to create a process and reap it: the median of\n"
           "[cost %d] %d runs, with the parent holding each size of written memory.\n"
           "[cost %d] %ld CPUs online; the trivial program is %s. \"CPU in fork()\" is\n"
           "[cost %d] the parent's CPU time inside fork() alone, mostly copying page "
           "tables.\n",
           me, me, o->runs, me, net_cpu_count(), o->prog, me);
    printf("[cost %d]  touched  parent RSS     fork+_exit  CPU in fork()    vfork+_exit"
           "    posix_spawn      fork+exec\n",
           me);
    size_t largest = 0;
    for (int s = 0; s < o->nsizes; s++) {
        size_t mib = o->sizes_mib[s];
        if (mib > largest)
            largest = mib;
        char *buf = make_resident(mib);
        double rss = rss_mib();
        double unused;
        /* One untimed round first (page cache, lazy binding), then the
         * methods interleaved so that a burst of load elsewhere on the
         * machine hits them all alike. */
        fflush(stdout);
        time_fork(&unused);
        time_spawn(o->prog);
        for (int r = 0; r < o->runs; r++) {
            t[0][r] = time_fork(&t[1][r]);
            t[2][r] = o->no_vfork ? 0 : time_vfork();
            t[3][r] = time_spawn(o->prog);
            t[4][r] = time_fork_exec(o->prog);
        }
        char vf[32];
        if (o->no_vfork)
            snprintf(vf, sizeof vf, "%8s ms", "-");
        else
            snprintf(vf, sizeof vf, "%8.3f ms", stats_median(t[2], o->runs));
        printf("[cost %d] %5zu MiB  %6.1f MiB    %8.3f ms    %8.3f ms    %s    %8.3f ms"
               "    %8.3f ms\n",
               me, mib, rss, stats_median(t[0], o->runs), stats_median(t[1], o->runs), vf,
               stats_median(t[3], o->runs), stats_median(t[4], o->runs));
        if (munmap(buf, mib * MIB) == -1)
            err(1, "munmap");
    }
    for (int m = 0; m < 5; m++)
        free(t[m]);

    cow_view(o->cow_mib ? o->cow_mib : largest, me);
    return 0;
}
