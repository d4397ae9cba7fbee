/*
 * proto.c: the line protocol (see proto.h).
 *
 * proto_reply() looks at the first word of a line and answers; everything
 * it does not recognise is echoed. Its replies are built with snprintf and
 * memcpy into a buffer the caller owns, because a server writes the reply
 * to a socket that may not take it all at once.
 *
 * Run: make test (tests/test_proto.c), or talk to ./event-loop with
 * ./event-loop client LINE... and compare the replies with proto.h.
 */
#include "proto.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static int is_word(const char *line, size_t len, const char *word)
{
    size_t n = strlen(word);
    return len >= n && memcmp(line, word, n) == 0 && (len == n || line[n] == ' ');
}

int proto_parse_busy(const char *arg, size_t len, long *ms)
{
    /* Digits only: no sign, no spaces, no "1e3", nothing strtol would
     * quietly accept or stop at. */
    if (len == 0 || len > 5)
        return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (arg[i] < '0' || arg[i] > '9')
            return -1;
        v = v * 10 + (arg[i] - '0');
    }
    if (v > PROTO_BUSY_MAX)
        return -1;
    *ms = v;
    return 0;
}

void proto_burn_cpu(long ms)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    volatile unsigned long sink = 0;
    for (;;) {
        for (int i = 0; i < 10000; i++)
            sink += (unsigned long)i * 2654435761u;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed =
            (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (elapsed >= ms)
            break;
    }
    (void)sink;
}

/* Read one "Name:   value" field of /proc/self/status. */
static long status_field(const char *text, const char *name)
{
    const char *p = strstr(text, name);
    long v;
    if (p == NULL || sscanf(p + strlen(name), " %ld", &v) != 1)
        return -1;
    return v;
}

/* /proc/self/status, opened once by proto_init(): a server that has run
 * out of fds could not open it when `stats` is asked, which is exactly
 * when the numbers matter. pread() at offset 0 regenerates its text. */
static int status_fd = -1;

void proto_init(void)
{
    if (status_fd == -1)
        status_fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
}

int proto_read_stats(proto_stats *st)
{
    st->threads = st->rss_kib = st->vsz_kib = -1;
    /* /proc/self/status is Linux's. Its voluntary_ctxt_switches lines are
     * for the main thread only, so the context switches come from
     * getrusage, which sums all threads of the process. */
    int fd =
        status_fd != -1 ? status_fd : open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd != -1) {
        char text[4096];
        ssize_t n = pread(fd, text, sizeof text - 1, 0);
        if (fd != status_fd)
            close(fd);
        text[n > 0 ? n : 0] = '\0';
        st->threads = status_field(text, "\nThreads:");
        st->rss_kib = status_field(text, "\nVmRSS:");
        st->vsz_kib = status_field(text, "\nVmSize:");
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        st->nvcsw = ru.ru_nvcsw;
        st->nivcsw = ru.ru_nivcsw;
    } else {
        st->nvcsw = st->nivcsw = -1;
    }
    return 0;
}

/* Every reply names the server's pid, and getpid() is a system call: one
 * per reply, as many as the replies' send() calls, is a cost strace would
 * pin on the server. So the pid is looked up once. A cached pid goes stale
 * in a child after fork(), and fork is the subject of the next chapter:
 * pthread_atfork() refreshes it in every child fork creates, before any
 * code of the child runs. pthread_once makes the first lookup safe in the
 * --threads server, where replies are built on many threads at once. */
static pid_t self_pid;
static pthread_once_t self_pid_once = PTHREAD_ONCE_INIT;

static void refresh_pid(void)
{
    self_pid = getpid();
}

static void init_pid(void)
{
    refresh_pid();
    /* If this fails (ENOMEM), children would name their parent: then keep
     * asking the kernel every time instead. */
    if (pthread_atfork(NULL, NULL, refresh_pid) != 0)
        self_pid = 0;
}

static long my_pid(void)
{
    pthread_once(&self_pid_once, init_pid);
    return self_pid != 0 ? (long)self_pid : (long)getpid();
}

long proto_busy_ms(const char *line, size_t len)
{
    long ms;
    if (!is_word(line, len, "busy") || len < 5 ||
        proto_parse_busy(line + 5, len - 5, &ms) == -1)
        return -1;
    return ms;
}

size_t proto_reply(const char *line, size_t len, const proto_info *info, char *out,
                   size_t cap)
{
    int n;
    if (is_word(line, len, "busy")) {
        long ms;
        const char *arg = len > 5 ? line + 5 : line + len;
        if (proto_parse_busy(arg, len > 5 ? len - 5 : 0, &ms) == -1) {
            n = snprintf(out, cap,
                         "error: busy wants a whole number of milliseconds, "
                         "0 to %d\n",
                         PROTO_BUSY_MAX);
        } else {
            proto_burn_cpu(ms);
            n = snprintf(out, cap, "pid %ld: busy %ld ms done\n", my_pid(), ms);
        }
        return (size_t)n;
    }
    if (len == 5 && memcmp(line, "stats", 5) == 0) {
        proto_stats st;
        proto_read_stats(&st);
        n = snprintf(out, cap,
                     "stats mode=%s backend=%s conns=%d threads=%ld rss_kib=%ld "
                     "vsz_kib=%ld ctxsw_voluntary=%ld ctxsw_involuntary=%ld\n",
                     info->mode, info->backend, info->conns, st.threads, st.rss_kib,
                     st.vsz_kib, st.nvcsw, st.nivcsw);
        return (size_t)n;
    }
    /* Anything else is echoed, bytes as they came. */
    n = snprintf(out, cap, "pid %ld: ", my_pid());
    size_t used = (size_t)n;
    if (len > cap - used - 1)
        len = cap - used - 1; /* cannot happen with cap >= PROTO_REPLY_MAX */
    memcpy(out + used, line, len);
    used += len;
    out[used++] = '\n';
    return used;
}
