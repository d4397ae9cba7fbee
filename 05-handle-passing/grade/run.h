/* run.h: what 05's checks share: start ./handle-passing in a process group
 * of its own, read what it and its workers print, talk to the port it
 * names, and kill the whole group when the check ends, however it ends.
 * Included, not linked: testkit/grade compiles each check as one file. */
#ifndef GRADE_RUN_H
#define GRADE_RUN_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct master {
    pid_t pid; /* also its process group */
    int out;   /* its stdout and stderr, and its workers' */
    char text[32768];
    size_t len;
    size_t scan; /* where run_wait looks from next */
    int port;
};

static pid_t run_group; /* killed at exit */

static inline long long run_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static inline void run_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static inline void run_kill_group(void)
{
    if (run_group > 0) {
        kill(-run_group, SIGKILL);
        while (waitpid(run_group, NULL, 0) == -1 && errno == EINTR)
            ;
        run_group = 0;
    }
}

static inline void run_on_signal(int signo)
{
    (void)signo;
    if (run_group > 0)
        kill(-run_group, SIGKILL);
    _exit(1);
}

/* Read what is there within ms; 0 on EOF or timeout. */
static inline int run_read(struct master *m, int ms)
{
    struct pollfd pf = {.fd = m->out, .events = POLLIN};
    if (poll(&pf, 1, ms) <= 0)
        return 0;
    ssize_t n = read(m->out, m->text + m->len, sizeof m->text - 1 - m->len);
    if (n <= 0)
        return 0;
    m->len += (size_t)n;
    m->text[m->len] = '\0';
    return 1;
}

/* Wait up to ms for needle after the previous match; a pointer to it or NULL. */
static inline const char *run_wait(struct master *m, const char *needle, int ms)
{
    long long end = run_now_ms() + ms;
    for (;;) {
        const char *hit = strstr(m->text + m->scan, needle);
        if (hit != NULL) {
            m->scan = (size_t)(hit - m->text) + 1;
            return hit;
        }
        long long left = end - run_now_ms();
        if (left <= 0 || !run_read(m, (int)left))
            return NULL;
    }
}

/* Read for ms more, whatever comes. */
static inline void run_collect(struct master *m, int ms)
{
    long long end = run_now_ms() + ms;
    while (run_now_ms() < end)
        run_read(m, (int)(end - run_now_ms()));
}

/* Start ./handle-passing -p 0 ARGS... and wait for its listening line.
 * 0, or -1 having said what went wrong. */
static inline int run_master(struct master *m, const char *const args[])
{
    const char *argv[32] = {"./handle-passing", "-p", "0"};
    int n = 3;
    for (int i = 0; args[i] != NULL && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    memset(m, 0, sizeof *m);
    int p[2];
    if (pipe(p) == -1)
        return perror("pipe"), -1;
    signal(SIGINT, run_on_signal);
    signal(SIGTERM, run_on_signal);
    signal(SIGPIPE, SIG_IGN);
    atexit(run_kill_group);
    m->pid = fork();
    if (m->pid == -1)
        return perror("fork"), -1;
    if (m->pid == 0) {
        setpgid(0, 0);
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        unsetenv("NODE_CHANNEL_FD");
        unsetenv("PORT");
        unsetenv("HOST");
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    setpgid(m->pid, m->pid);
    run_group = m->pid;
    close(p[1]);
    m->out = p[0];
    const char *l = run_wait(m, "listening on 127.0.0.1:", 10000);
    if (l == NULL || sscanf(l, "listening on 127.0.0.1:%d", &m->port) != 1) {
        run_collect(m, 300);
        char cmd[256] = "";
        for (int i = 0; argv[i] != NULL; i++)
            snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), "%s%s", i ? " " : "",
                     argv[i]);
        printf("expected `%s` to print \"listening on 127.0.0.1:PORT\", got \"%.*s\"\n",
               cmd, (int)strcspn(m->text, "\n"), m->text);
        return -1;
    }
    return 0;
}

/* Run each part of a check in turn, each killing the master it started
 * before the next; 1 as soon as one fails, 0 if none did. */
static inline int run_parts(int (*const parts[])(void))
{
    for (int i = 0; parts[i] != NULL; i++) {
        if (parts[i]() == -1)
            return 1;
        run_kill_group();
    }
    return 0;
}

/* Start the master with args and wait until every worker has acknowledged
 * the server. 0, or -1 having said what went wrong. */
static inline int run_handoff(struct master *m, const char *const args[])
{
    if (run_master(m, args) == -1)
        return -1;
    if (run_wait(m, "handoff complete", 10000) == NULL) {
        printf("expected every worker to acknowledge the server (\"handoff complete\"), "
               "got none in 10 s\n");
        return -1;
    }
    return 0;
}

/* Connect to the master's port and read the answer ("child data, pid N")
 * for up to ms. The pid, 0 if no answer came, -1 if the port refused. */
static inline int run_ask(const struct master *m, int ms)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)m->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd == -1)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == -1) {
        close(fd);
        return -1;
    }
    char buf[128];
    size_t len = 0;
    long long end = run_now_ms() + ms;
    while (len < sizeof buf - 1 && run_now_ms() < end) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, (int)(end - run_now_ms())) <= 0)
            break;
        ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    int pid = 0;
    return sscanf(buf, "child data, pid %d", &pid) == 1 ? pid : 0;
}

/* How many fds of process pid name `id` ("socket:[16054]"); -1 without /proc.
 * A worker has a handful of fds, far below 1024. */
static inline int run_fds_naming(int pid, const char *id)
{
    char path[64], link[128];
    snprintf(path, sizeof path, "/proc/%d/fd", pid);
    if (access(path, F_OK) == -1)
        return -1;
    int count = 0;
    for (int fd = 0; fd < 1024; fd++) {
        snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, fd);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n > 0) {
            link[n] = '\0';
            count += strcmp(link, id) == 0;
        }
    }
    return count;
}

/* The pids of the workers that said "got the server", in order; how many. */
static inline int run_worker_pids(const struct master *m, int *pids, int max)
{
    int n = 0;
    for (const char *s = m->text; (s = strstr(s, "[worker ")) != NULL && n < max; s++) {
        int pid, end = 0;
        if (sscanf(s, "[worker %d] got the server%n", &pid, &end) == 1 && end > 0)
            pids[n++] = pid;
    }
    return n;
}

/* The pids of the workers the master says it started, in order; how many. */
static inline int run_started_pids(const struct master *m, int *pids, int max)
{
    int n = 0;
    for (const char *s = m->text; (s = strstr(s, "] started worker ")) != NULL && n < max;
         s++)
        if (sscanf(s, "] started worker %d", &pids[n]) == 1)
            n++;
    return n;
}

/* The kernel's name for the master's server, "socket:[16054]", into id. */
static inline int run_socket_id(const struct master *m, char *id, size_t cap)
{
    const char *s = strstr(m->text, "the server is fd ");
    char fmt[32];
    snprintf(fmt, sizeof fmt, "the server is fd %%*d -> %%%zus", cap - 1);
    return s != NULL && sscanf(s, fmt, id) == 1 ? 0 : -1;
}

#endif
