/* run.h: what 01's checks share: start ./event-loop on a port the kernel
 * picks, keep what it prints (with the time each line came), talk to it
 * over TCP, and stop it. Included, not linked: testkit/grade compiles each
 * check as one file. The server runs in a process group of its own, which
 * the check kills however it ends (exit, or timeout's SIGTERM), so nothing
 * is left behind. */
#ifndef GRADE_RUN_H
#define GRADE_RUN_H

#include <arpa/inet.h>
#include <errno.h>
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

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* The server: its pid (and group), its output pipe, and the lines it
 * printed so far, each with the time the check read it. */
static pid_t srv_pid = -1;
static int srv_out = -1;
static char srv_log[1 << 16];
static size_t srv_len;
#define SRV_LINES 512
static long long srv_line_ms[SRV_LINES]; /* when line k was read */
static const char *srv_line[SRV_LINES];
static int srv_lines;

static void srv_kill(void)
{
    if (srv_pid > 0) {
        kill(-srv_pid, SIGKILL);
        waitpid(srv_pid, NULL, 0);
        srv_pid = -1;
    }
}

static void on_term(int signo)
{
    (void)signo;
    if (srv_pid > 0)
        kill(-srv_pid, SIGKILL);
    _exit(1);
}

/* Read what the server printed, waiting at most wait_ms for some. Returns
 * 0, or -1 at EOF (the server exited). */
static int srv_read(int wait_ms)
{
    struct pollfd pf = {.fd = srv_out, .events = POLLIN};
    if (poll(&pf, 1, wait_ms) <= 0)
        return 0;
    if (srv_len + 1 >= sizeof srv_log)
        srv_len = 0; /* a check reads far less than 64 KiB; never overflow */
    ssize_t n = read(srv_out, srv_log + srv_len, sizeof srv_log - 1 - srv_len);
    if (n <= 0)
        return -1;
    size_t start = srv_len;
    srv_len += (size_t)n;
    srv_log[srv_len] = '\0';
    for (size_t i = start; i < srv_len; i++) {
        if (srv_log[i] != '\n' || srv_lines >= SRV_LINES)
            continue;
        size_t b = i;
        while (b > 0 && srv_log[b - 1] != '\n')
            b--;
        srv_line[srv_lines] = srv_log + b;
        srv_line_ms[srv_lines++] = now_ms();
    }
    return 0;
}

/* Start ./event-loop --port 0 ARGS...; the port it listens on, or -1 after
 * saying what it printed instead. */
static int srv_start(const char *const args[])
{
    const char *argv[32] = {"./event-loop", "--port", "0"};
    int n = 3;
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int p[2];
    if (pipe(p) == -1) {
        printf("expected a pipe, got %s\n", strerror(errno));
        return -1;
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    signal(SIGPIPE, SIG_IGN);
    atexit(srv_kill);
    srv_pid = fork();
    if (srv_pid == 0) {
        setpgid(0, 0);
        dup2(p[1], 1);
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    srv_out = p[0];
    long long t0 = now_ms();
    while (now_ms() - t0 < 5000) {
        const char *at = strstr(srv_log, "listening on ");
        const char *colon = at ? strchr(at, ':') : NULL;
        if (colon && strchr(colon, '\n'))
            return atoi(colon + 1);
        if (srv_read(100) == -1)
            break;
    }
    char cmd[256] = "";
    for (int i = 0; argv[i]; i++)
        snprintf(cmd + strlen(cmd), sizeof cmd - strlen(cmd), "%s%s", i ? " " : "",
                 argv[i]);
    const char *nl = strchr(srv_log, '\n');
    printf("expected `%s` to print `listening on`, got \"%.*s\"\n", cmd,
           nl ? (int)(nl - srv_log) : (int)srv_len, srv_log);
    return -1;
}

/* Lines the server printed that contain needle, read between from and to
 * (ms on now_ms's clock). */
static int srv_count(const char *needle, long long from, long long to)
{
    int k = 0;
    for (int i = 0; i < srv_lines; i++) {
        const char *end = strchr(srv_line[i], '\n');
        const char *hit = strstr(srv_line[i], needle);
        if (hit && hit < end && srv_line_ms[i] >= from && srv_line_ms[i] <= to)
            k++;
    }
    return k;
}

/* A TCP connection to the server, or -1. */
static int srv_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
        printf("expected to connect to port %d, got %s\n", port, strerror(errno));
        if (fd != -1)
            close(fd);
        return -1;
    }
    return fd;
}

static int send_str(int fd, const char *s)
{
    return send(fd, s, strlen(s), MSG_NOSIGNAL) == (ssize_t)strlen(s) ? 0 : -1;
}

/* Read one line from fd (no newline kept) within wait_ms, reading the
 * server's output meanwhile. Returns its length, -1 on timeout, -2 at EOF
 * or on an error. */
static int read_line(int fd, char *buf, size_t cap, int wait_ms)
{
    size_t n = 0;
    long long t0 = now_ms();
    for (;;) {
        long long left = wait_ms - (now_ms() - t0);
        if (left <= 0)
            return -1;
        struct pollfd pf[2] = {{.fd = fd, .events = POLLIN},
                               {.fd = srv_out, .events = POLLIN}};
        if (poll(pf, srv_out != -1 ? 2 : 1, (int)left) <= 0)
            continue;
        if (pf[1].revents && srv_read(0) == -1) {
            close(srv_out); /* the server is gone: only fd is left */
            srv_out = -1;
        }
        if (!pf[0].revents)
            continue;
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r <= 0)
            return -2;
        if (ch == '\n') {
            buf[n] = '\0';
            return (int)n;
        }
        if (n + 1 < cap)
            buf[n++] = ch;
    }
}

/* Stop the server with SIGTERM (SIGKILL after 3 s). */
static void srv_stop(void)
{
    if (srv_pid <= 0)
        return;
    kill(srv_pid, SIGTERM);
    for (int i = 0; i < 30 && waitpid(srv_pid, NULL, WNOHANG) == 0; i++)
        srv_read(100);
    srv_kill();
}

#endif
