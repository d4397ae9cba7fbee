/*
 * test_interop.c: handle passing between C and a real Node.js, both ways.
 *
 *   - Node master, C workers: node/main.js listens, spawns
 *     ./handle-passing-worker with an 'ipc' channel on fd 3 and sends it the
 *     net.Server. The C workers must acknowledge it and serve the port.
 *   - C master, Node workers: ./handle-passing -- node node/sub.js. The Node
 *     children must get a net.Server for the master's socket and serve it.
 *
 * Each runs for every kind of handle Node passes: a net.Server, a
 * dgram.Socket (a UDP socket; the envelope names its family, udp4), and the
 * bare fds net.Native and dgram.Native. For UDP, datagrams take the place
 * of connections: each is answered by one worker.
 *
 * And connections, both ways: the C master with --rr accepts and sends each
 * connection to the next Node worker as a net.Socket (--rr --native: as a
 * net.Native); node/main.js does the same for C workers, as a net.Socket
 * (conn) or a net.Native (conn-native).
 *
 * Both check from outside, in /proc, that the answering processes hold the
 * very socket the master bound, and that it is non-blocking there; and that
 * SIGTERM stops every worker through its channel, never with SIGKILL.
 * Skipped, with a message, when `node` is not on PATH.
 *
 *   make test        (or: build/test_interop, from the chapter dir)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testkit.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 15000 /* Node takes a while to start on a loaded machine */

static char node_path[4096];

/* Find `node` in PATH, as a shell would; 0 if it is not there. */
static int find_node(void)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        return 0;
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(node_path, sizeof node_path, "%.*s/node", (int)n, path);
        if (n > 0 && access(node_path, X_OK) == 0)
            return 1;
        path += n;
        if (*path == ':')
            path++;
    }
    return 0;
}

static int skip_without_node(void)
{
    if (find_node())
        return 0;
    print_message("node is not on PATH: skipping the Node interop test\n");
    return 1;
}

static int holds_socket(int pid, const char *id)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", pid);
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        char path[320], link[128];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, link, sizeof link - 1);
        if (n > 0) {
            link[n] = '\0';
            found = strcmp(link, id) == 0;
        }
    }
    closedir(d);
    return found;
}

/* Is fd `fd` of process `pid` non-blocking? The "flags:" line of
 * /proc/PID/fdinfo/FD is the open file's status flags, in octal. -1 if it
 * cannot be read. */
static int nonblocking_in(int pid, int fd)
{
    char path[64], line[128];
    snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", pid, fd);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    int answer = -1;
    unsigned long flags;
    while (answer == -1 && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "flags: %lo", &flags) == 1)
            answer = (flags & O_NONBLOCK) != 0;
    fclose(f);
    return answer;
}

/* One datagram to 127.0.0.1:port; the pid in the answer, or -1. */
static int ask_pid_udp(int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(send(fd, "hello\n", 6, 0), 6);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    char buf[128];
    ssize_t n = poll(&pf, 1, WAIT_MS) == 1 ? recv(fd, buf, sizeof buf - 1, 0) : -1;
    close(fd);
    int pid;
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return sscanf(buf, "child data, pid %d\n", &pid) == 1 ? pid : -1;
}

static int ask_pid(int port, int udp)
{
    if (udp)
        return ask_pid_udp(port);
    int fd = tk_connect("127.0.0.1", port, WAIT_MS);
    if (fd == -1)
        return -1;
    char buf[128];
    ssize_t n = tk_read_all(fd, buf, sizeof buf, WAIT_MS);
    close(fd);
    int pid;
    if (n <= 0 || sscanf(buf, "child data, pid %d\n", &pid) != 1)
        return -1;
    return pid;
}

static int wait_count(tk_proc *p, const char *needle, int n)
{
    long long deadline = tk_now_ms() + WAIT_MS;
    while (tk_count_output(p, needle) < n && tk_now_ms() < deadline)
        tk_wait_output(p, "\n", 20);
    return tk_count_output(p, needle);
}

/* The pids and fd numbers in lines "<tag> <pid>] got the server as fd N ->
 * ID"; checks that each ID is `id`. Returns how many. */
static int worker_pids(tk_proc *p, const char *tag, const char *id, int *pids, int *fds,
                       int max)
{
    int n = 0;
    const char *s = p->out;
    size_t tl = strlen(tag);
    while ((s = strstr(s, tag)) != NULL && n < max) {
        int pid, fd;
        char got[64];
        if (sscanf(s + tl, "%d] got the server as fd %d -> %63s", &pid, &fd, got) == 3) {
            assert_string_equal(got, id);
            fds[n] = fd;
            pids[n++] = pid;
        }
        s += tl;
    }
    return n;
}

static void expect_served_by(int port, int udp, const int *pids, int n, const char *id)
{
    for (int i = 0; i < 6; i++) {
        int pid = ask_pid(port, udp);
        int ok = 0;
        for (int k = 0; k < n; k++)
            ok |= pid == pids[k];
        assert_true(ok);
        assert_true(holds_socket(pid, id));
    }
}

/* A Node master sends its server to C workers: kind is node/main.js's KIND
 * (tcp, udp, tcp-native, udp-native); `seen` is what the C worker must say
 * it got, after the socket's name ("" for a net.Server). */
static void node_master_c_workers(const char *kind, const char *seen)
{
    if (skip_without_node()) {
        skip();
        return;
    }
    int udp = strncmp(kind, "udp", 3) == 0;
    tk_proc *p = tk_start((const char *[]){node_path, "node/main.js",
                                           "./handle-passing-worker", "2", kind, NULL},
                          (const char *[]){"PORT=0", "HOST=127.0.0.1", NULL});
    assert_non_null(p);
    int port = tk_wait_listening(p, WAIT_MS);
    assert_true(port > 0);
    const char *line = tk_wait_output(p, "the server is fd ", WAIT_MS);
    assert_non_null(line);
    int master_fd;
    char id[64];
    assert_int_equal(sscanf(line, "the server is fd %d -> %63s", &master_fd, id), 2);
    assert_int_equal(wait_count(p, "got the server as fd", 2), 2);
    /* The master's copy goes once both envelopes are written. */
    assert_int_equal(wait_count(p, "closed its own copy", 1), 1);

    int pids[2], fds[2];
    assert_int_equal(worker_pids(p, "[worker ", id, pids, fds, 2), 2);
    if (*seen != '\0')
        assert_int_equal(tk_count_output(p, seen), 2);
    for (int i = 0; i < 2; i++)
        assert_int_equal(nonblocking_in(pids[i], fds[i]), 1);
    /* The C workers reported back over the channel, in JSON, to Node. */
    assert_int_equal(wait_count(p, "says {\"pid\":", 2), 2);
    expect_served_by(port, udp, pids, 2, id);

    int status = tk_stop(p, SIGTERM, WAIT_MS);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(tk_count_output(p, "the master closed the channel; exiting"), 2);
    tk_free(p);
}

static void test_node_master_c_workers(void **state)
{
    (void)state;
    node_master_c_workers("tcp", "");
}

/* The envelope carries "dgramType":"udp4"; the C worker answers datagrams. */
static void test_node_master_c_workers_dgram_socket(void **state)
{
    (void)state;
    node_master_c_workers("udp", "(dgram.Socket, udp4)");
}

static void test_node_master_c_workers_net_native(void **state)
{
    (void)state;
    node_master_c_workers("tcp-native", "(net.Native)");
}

static void test_node_master_c_workers_dgram_native(void **state)
{
    (void)state;
    node_master_c_workers("udp-native", "(dgram.Native)");
}

/* The C master sends the server to Node children; flag is -u, --native or
 * NULL, and udp says whether the server is a UDP socket. */
static void c_master_node_workers(const char *flag1, const char *flag2, int udp)
{
    if (skip_without_node()) {
        skip();
        return;
    }
    const char *argv[12] = {"./handle-passing", "-p", "0", "-w", "2"};
    int a = 5;
    if (flag1 != NULL)
        argv[a++] = flag1;
    if (flag2 != NULL)
        argv[a++] = flag2;
    argv[a++] = "--";
    argv[a++] = node_path;
    argv[a++] = "node/sub.js";
    argv[a] = NULL;
    tk_proc *p = tk_start(argv, (const char *[]){"PORT", "HOST", NULL});
    assert_non_null(p);
    int port = tk_wait_listening(p, WAIT_MS);
    assert_true(port > 0);
    const char *line = tk_wait_output(p, "the server is fd ", WAIT_MS);
    assert_non_null(line);
    int master_fd;
    char id[64];
    assert_int_equal(sscanf(line, "the server is fd %d -> %63s", &master_fd, id), 2);
    /* Node answered NODE_HANDLE_ACK to the C master, twice. */
    assert_non_null(tk_wait_output(p, "handoff complete: 2 workers", WAIT_MS));
    assert_non_null(strstr(p->out, "the master holds 0 fds for it"));
    assert_int_equal(wait_count(p, "got the server as fd", 2), 2);

    int pids[2], fds[2];
    assert_int_equal(worker_pids(p, "[node-worker ", id, pids, fds, 2), 2);
    assert_int_equal(wait_count(p, "the same socket", 2), 2);
    /* Node never makes a socket it receives non-blocking: libuv takes every
     * handle to be so already, as every socket it creates is. A blocking
     * listener leaves the Node worker that loses the race for a connection
     * stuck in accept(2) until the next one, deaf to its channel; if no
     * connection comes, the stop below needs SIGKILL. That happens in about
     * 1 stop in 5 only, so the cause is checked here, every time. */
    for (int i = 0; i < 2; i++)
        assert_int_equal(nonblocking_in(pids[i], fds[i]), 1);
    expect_served_by(port, udp, pids, 2, id);

    int status = tk_stop(p, SIGTERM, WAIT_MS);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(p->out, "all 2 workers have exited; bye"));
    /* Both left because the channel closed, not because the master's grace
     * period ran out and it killed them. */
    assert_null(strstr(p->out, "did not exit; SIGKILL"));
    assert_int_equal(tk_count_output(p, "the master closed the channel; exiting"), 2);
    tk_free(p);
}

static void test_c_master_node_workers(void **state)
{
    (void)state;
    c_master_node_workers(NULL, NULL, 0);
}

/* Node builds a dgram.Socket from the envelope's dgramType and reads it. */
static void test_c_master_node_workers_dgram_socket(void **state)
{
    (void)state;
    c_master_node_workers("-u", NULL, 1);
}

static void test_c_master_node_workers_net_native(void **state)
{
    (void)state;
    c_master_node_workers("--native", NULL, 0);
}

static void test_c_master_node_workers_dgram_native(void **state)
{
    (void)state;
    c_master_node_workers("-u", "--native", 1);
}

/* One connection that sends a request first, as curl does, and reads the
 * answer up to the end of file; the pid in it, or -1. */
static int ask_pid_with_request(int port)
{
    int fd = tk_connect("127.0.0.1", port, WAIT_MS);
    if (fd == -1)
        return -1;
    char buf[128];
    ssize_t n = -1;
    if (tk_send_str(fd, "GET / HTTP/1.0\r\n\r\n") == 0)
        n = tk_read_all(fd, buf, sizeof buf, WAIT_MS);
    close(fd);
    int pid;
    if (n <= 0 || sscanf(buf, "child data, pid %d\n", &pid) != 1)
        return -1;
    return pid;
}

/* The pids in "started worker N" lines, in the order they were started. */
static int started_pids(tk_proc *p, int *pids, int max)
{
    int n = 0;
    const char *s = p->out;
    while ((s = strstr(s, "started worker ")) != NULL && n < max) {
        s += strlen("started worker ");
        pids[n++] = atoi(s);
    }
    return n;
}

/* Wait until process pid holds `want` fds again. */
static int fds_back_to(int pid, int want)
{
    long long deadline = tk_now_ms() + WAIT_MS;
    while (tk_count_fds(pid) != want && tk_now_ms() < deadline)
        poll(NULL, 0, 20);
    return tk_count_fds(pid);
}

/* The master accepts and sends each connection to the next worker in turn:
 * connection i is answered by worker i % 2, and each worker says it got
 * its connections as `seen`. Once they are all answered, the master holds
 * as many fds as before: none for a connection it sent. */
static void expect_connections_in_turn(tk_proc *p, const char *seen)
{
    int port = tk_wait_listening(p, WAIT_MS);
    assert_true(port > 0);
    assert_non_null(tk_wait_output(p, "the master accepts", WAIT_MS));
    int pids[2];
    assert_int_equal(started_pids(p, pids, 2), 2);
    int before = tk_count_fds(p->pid);
    for (int i = 0; i < 6; i++)
        assert_int_equal(ask_pid_with_request(port), pids[i % 2]);
    assert_int_equal(wait_count(p, seen, 6), 6);
    assert_int_equal(fds_back_to(p->pid, before), before);

    int status = tk_stop(p, SIGTERM, WAIT_MS);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(tk_count_output(p, "the master closed the channel; exiting"), 2);
    assert_null(strstr(p->out, "did not exit; SIGKILL"));
    tk_free(p);
}

/* A Node master sends each connection to C workers: kind conn or
 * conn-native, `seen` what the C worker says it got. */
static void node_master_sends_connections(const char *kind, const char *seen)
{
    if (skip_without_node()) {
        skip();
        return;
    }
    tk_proc *p = tk_start((const char *[]){node_path, "node/main.js",
                                           "./handle-passing-worker", "2", kind, NULL},
                          (const char *[]){"PORT=0", "HOST=127.0.0.1", NULL});
    assert_non_null(p);
    expect_connections_in_turn(p, seen);
}

static void test_node_master_c_workers_connections_net_socket(void **state)
{
    (void)state;
    node_master_sends_connections("conn", "(net.Socket)");
}

static void test_node_master_c_workers_connections_net_native(void **state)
{
    (void)state;
    node_master_sends_connections("conn-native", "(net.Native)");
}

/* ./handle-passing --rr with Node workers: Node turns a net.Socket envelope
 * into a net.Socket itself; a net.Native (--native) arrives in node/sub.js
 * as a bare TCP handle, which it tells from a listener and wraps in a
 * net.Socket. */
static void c_master_rr_node_workers(const char *native, const char *seen)
{
    if (skip_without_node()) {
        skip();
        return;
    }
    const char *argv[] = {
        "./handle-passing", "-p",          "0",  "-w", "2", "--rr", "--",
        node_path,          "node/sub.js", NULL, NULL};
    if (native != NULL) { /* before the "--" */
        memmove(&argv[7], &argv[6], 4 * sizeof argv[0]);
        argv[6] = native;
    }
    tk_proc *p = tk_start(argv, (const char *[]){"PORT", "HOST", NULL});
    assert_non_null(p);
    expect_connections_in_turn(p, seen);
}

static void test_c_master_rr_node_workers(void **state)
{
    (void)state;
    c_master_rr_node_workers(NULL, "(net.Socket)");
}

static void test_c_master_rr_native_node_workers(void **state)
{
    (void)state;
    c_master_rr_node_workers("--native", "(net.Native, a bare TCP handle)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_master_c_workers),
        cmocka_unit_test(test_node_master_c_workers_dgram_socket),
        cmocka_unit_test(test_node_master_c_workers_net_native),
        cmocka_unit_test(test_node_master_c_workers_dgram_native),
        cmocka_unit_test(test_c_master_node_workers),
        cmocka_unit_test(test_c_master_node_workers_dgram_socket),
        cmocka_unit_test(test_c_master_node_workers_net_native),
        cmocka_unit_test(test_c_master_node_workers_dgram_native),
        cmocka_unit_test(test_node_master_c_workers_connections_net_socket),
        cmocka_unit_test(test_node_master_c_workers_connections_net_native),
        cmocka_unit_test(test_c_master_rr_node_workers),
        cmocka_unit_test(test_c_master_rr_native_node_workers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
