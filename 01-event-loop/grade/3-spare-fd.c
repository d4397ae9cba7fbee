/* Exercise 3: the spare-fd trick. Out of fds, the server still accepts each
 * waiting client, tells it that it is full and closes it, instead of
 * leaving it in the backlog.
 *
 * hint: in server.c, keep an fd open on /dev/null; when accept() fails with EMFILE,
 * close it, accept, server_refuse() that client, and open the spare again; README
 * exercise 3
 *
 * The check starts ./event-loop --max-fds 32 and connects clients one at a
 * time, each saying "hello". Every client must get, within 2 s, either its
 * echo or a line starting "error: server cannot serve this connection:"
 * followed by the end of the connection; once they are refused, three more
 * in a row must be refused too (the spare comes back after each). Then two
 * served clients leave, and a new client must be served again.
 */
#include "run.h"

#define REFUSED "error: server cannot serve this connection:"

/* Connect, say hello, and read the answer: 1 served, 0 refused (and then
 * closed), -1 after saying what went wrong. *fd keeps a served socket. */
static int try_client(int port, int k, int *fd)
{
    *fd = srv_connect(port);
    if (*fd == -1)
        return -1;
    char got[256];
    int n = send_str(*fd, "hello\n") == -1 ? -2 : read_line(*fd, got, sizeof got, 2000);
    if (n >= 0 && strstr(got, ": hello") != NULL)
        return 1;
    if (n >= 0 && strncmp(got, REFUSED, strlen(REFUSED)) == 0) {
        n = read_line(*fd, got, sizeof got, 2000);
        close(*fd);
        *fd = -1;
        if (n != -2) {
            printf("expected client %d closed after the refusal, got %s\n", k,
                   n == -1 ? "nothing for 2 s" : got);
            return -1;
        }
        return 0;
    }
    printf("expected client %d to get its echo or \"%s ...\" within 2 s, got %s\n", k,
           REFUSED,
           n == -1   ? "nothing (it waits in the backlog)"
           : n == -2 ? "the connection closed"
                     : got);
    return -1;
}

int main(void)
{
    int port = srv_start((const char *[]){"--max-fds", "32", "--tick", "0", NULL});
    if (port == -1)
        return 1;
    int fds[64], served = 0, refused = 0;
    for (int k = 0; k < 64 && refused < 4; k++) {
        int fd, r = try_client(port, k, &fd);
        if (r == -1)
            return 1;
        if (r == 1 && refused > 0) {
            printf("expected client %d refused like the one before it, got it served\n",
                   k);
            return 1;
        }
        if (r == 1)
            fds[served++] = fd;
        refused += r == 0;
    }
    if (refused < 4) {
        printf("expected the server to run out of fds within 64 clients, got %d served\n",
               served);
        return 1;
    }
    close(fds[0]);
    close(fds[1]);
    /* The server notices the two closes in its own time: give it a moment. */
    int fd = -1, r = 0;
    for (int i = 0; i < 20 && r == 0; i++) {
        srv_read(50);
        r = try_client(port, served + refused + i, &fd);
    }
    if (r != 1) {
        if (r == 0)
            printf("expected a client served after two served ones left, got refused\n");
        return 1;
    }
    close(fd);
    for (int i = 2; i < served; i++)
        close(fds[i]);
    srv_stop();
    return 0;
}
