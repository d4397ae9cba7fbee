/* run.h: what 02's checks share: start ./fork in a process group of its
 * own, read what it prints, find its workers' ports, talk to them, and leave
 * nothing behind. Included, not linked: testkit/grade compiles each check as
 * one file. */
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

static inline long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static inline void sleep_ms(long long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* The program under test: its pid (and process group), the pipe carrying
 * its stdout and stderr, and all it printed so far. */
static struct prog {
    pid_t pid;
    int fd;
    int exited;
    int status;
    char out[1 << 16];
    size_t len;
    size_t scan; /* prog_wait looks from here */
} prog;

/* Whatever happens (a failed check, timeout(1)'s SIGTERM), the program and
 * every worker it forked go with us. */
static inline void prog_kill(void)
{
    if (prog.pid > 0 && !prog.exited) {
        kill(-prog.pid, SIGKILL);
        waitpid(prog.pid, NULL, 0);
        prog.exited = 1;
    }
    if (prog.pid > 0)
        kill(-prog.pid, SIGKILL); /* workers the master left behind */
}

static inline void on_term(int signo)
{
    (void)signo;
    prog_kill();
    _exit(1);
}

/* Start argv (./fork ...) with stdin /dev/null; 0, or -1 with a message. */
static inline int prog_start(const char *const argv[])
{
    int p[2];
    if (pipe(p) == -1) {
        printf("expected a pipe, got %s\n", strerror(errno));
        return -1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == -1) {
        printf("expected fork to work, got %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        execv(argv[0], (char *const *)argv);
        printf("cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    close(p[1]);
    prog.pid = pid;
    prog.fd = p[0];
    atexit(prog_kill);
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Read what the program prints for up to ms; 0 at EOF. */
static inline int prog_read(int ms)
{
    struct pollfd pfd = {.fd = prog.fd, .events = POLLIN};
    if (poll(&pfd, 1, ms) <= 0)
        return 1;
    ssize_t n = read(prog.fd, prog.out + prog.len, sizeof prog.out - 1 - prog.len);
    if (n <= 0)
        return 0;
    prog.len += (size_t)n;
    prog.out[prog.len] = '\0';
    return 1;
}

/* Wait up to ms for needle in the output after the last match; a pointer
 * just past it, or NULL (timeout, or the program closed its output). */
static inline const char *prog_wait(const char *needle, int ms)
{
    long long end = now_ms() + ms;
    for (;;) {
        const char *hit = strstr(prog.out + prog.scan, needle);
        if (hit != NULL) {
            prog.scan = (size_t)(hit - prog.out) + strlen(needle);
            return prog.out + prog.scan;
        }
        long long left = end - now_ms();
        if (left <= 0 || !prog_read((int)left))
            return NULL;
    }
}

/* The program's first line but the master's "forking" one, for a message:
 * a usage error, or the worker's complaint. */
static inline const char *prog_said(void)
{
    static char line[200];
    const char *o = prog.out;
    const char *nl = strchr(o, '\n');
    if (nl != NULL && strstr(o, "] forking ") != NULL && strstr(o, "] forking ") < nl)
        o = nl + 1;
    snprintf(line, sizeof line, "%.*s", (int)strcspn(o, "\n"), o);
    return line[0] ? line : "nothing";
}

/* Reap the program within ms; its wait status, or -1. */
static inline int prog_exit(int ms)
{
    long long end = now_ms() + ms;
    while (!prog.exited) {
        pid_t r = waitpid(prog.pid, &prog.status, WNOHANG);
        if (r == prog.pid) {
            prog.exited = 1;
            break;
        }
        if (now_ms() >= end)
            return -1;
        if (!prog_read(10))
            sleep_ms(10); /* at EOF, poll returns at once */
    }
    while (prog_read(0) && prog.len < sizeof prog.out - 1) {
    }
    return prog.status;
}

/* Start argv and wait for n `listening on HOST:PORT (pid N)` lines; fills
 * ports and pids. 0, or -1 with a message naming `what`. */
static inline int start_workers(const char *const argv[], const char *what, int n,
                                int *ports, pid_t *pids)
{
    if (prog_start(argv) == -1)
        return -1;
    for (int i = 0; i < n; i++) {
        const char *at = prog_wait("listening on ", 10000);
        int pid = 0;
        if (at == NULL || sscanf(at, "%*[^:]:%d (pid %d)", &ports[i], &pid) != 2) {
            int st = prog_exit(500);
            printf("expected ./fork to accept %s and start %d worker%s, got %s%s\n", what,
                   n, n == 1 ? "" : "s", st != -1 ? "it exiting: " : "", prog_said());
            return -1;
        }
        pids[i] = (pid_t)pid;
    }
    return 0;
}

/* A blocking TCP connection to 127.0.0.1:port, or -1. */
static inline int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
        if (fd != -1)
            close(fd);
        return -1;
    }
    return fd;
}

/* Read until EOF or ms; how many bytes (buf NUL-terminated), -1 on error. */
static inline ssize_t read_all(int fd, char *buf, size_t cap, int ms)
{
    size_t len = 0;
    long long end = now_ms() + ms;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        long long left = end - now_ms();
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n <= 0) {
            if (n == -1 && len == 0)
                return -1;
            break;
        }
        len += (size_t)n;
        if (len == cap - 1)
            break;
    }
    buf[len] = '\0';
    return (ssize_t)len;
}

/* GET / from port: 1 when the answer is Hello World., else 0. */
static inline int says_hello(int port)
{
    int fd = connect_port(port);
    if (fd == -1)
        return 0;
    const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[1024];
    int ok = send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof req - 1) &&
             read_all(fd, buf, sizeof buf, 3000) > 0 &&
             strstr(buf, "Hello World.") != NULL;
    close(fd);
    return ok;
}

#endif
