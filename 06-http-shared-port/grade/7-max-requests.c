/* Exercise 7: --max-requests N. A keep-alive connection is closed after
 * its Nth response, which says "Connection: close"; requests pipelined
 * after it get no answer. The count is per connection.
 *
 * hint: add --max-requests N to http-shared-port (passed on to each
 * http-worker) and int max_requests to httpd_config_t; count the responses
 * of each connection and answer the Nth with keep_alive = 0; README
 * exercise 7
 *
 * link: build/testkit.o build/net.o
 *
 * With --max-requests 3 and one worker, a client pipelines 5 requests in
 * one send: it must read exactly 3 responses, only the last of them with
 * "Connection: close", then an EOF (not a reset). A second connection then
 * gets 2 answers, one request at a time, neither saying close.
 */
#include "serve.h"

static const char get[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

static int first_connection(int port)
{
    int fd = tk_connect(HOST, port, 2000);
    char req[5 * sizeof get], buf[8192];
    size_t len = 0;
    for (int i = 0; i < 5; i++, len += sizeof get - 1)
        memcpy(req + len, get, sizeof get - 1);
    if (fd == -1 || tk_send(fd, req, len) == -1) {
        printf("expected to connect and send 5 requests, got an error\n");
        return -1;
    }
    const char *how;
    read_until_end(fd, buf, sizeof buf, 5000, &how);
    close(fd);
    int ok = count_of(buf, "HTTP/1.1 200 OK");
    int closes = count_of(buf, "Connection: close");
    const char *last = strstr(buf, "HTTP/1.1 200 OK");
    for (const char *p = last; p; p = strstr(p + 1, "HTTP/1.1 200 OK"))
        last = p;
    int last_closes = last && strstr(last, "Connection: close") != NULL;
    if (ok != 3 || closes != 1 || !last_closes || strcmp(how, "EOF") != 0) {
        printf("expected 5 pipelined requests with --max-requests 3 to get 3 answers, "
               "the third (only) with Connection: close, then EOF; got %d answers, %d "
               "with Connection: close%s, then %s\n",
               ok, closes, closes && !last_closes ? " (not the last)" : "", how);
        return -1;
    }
    return 0;
}

static int second_connection(int port)
{
    int fd = tk_connect(HOST, port, 2000);
    for (int i = 0; i < 2; i++) {
        char head[1024], body[256];
        int st = fd == -1 || tk_send_str(fd, get) == -1
                     ? -1
                     : read_response(fd, head, sizeof head, body, sizeof body, 3000);
        if (st != 200 || strstr(head, "Connection: close")) {
            printf("expected request %d of 2 on a new connection to get a keep-alive 200 "
                   "(the limit counts per connection), got %s\n",
                   i + 1,
                   st == -1    ? "no answer"
                   : st != 200 ? "another status"
                               : "a close");
            if (fd != -1)
                close(fd);
            return -1;
        }
    }
    close(fd);
    return 0;
}

int main(void)
{
    tk_proc *p;
    int port = serve(&p, "--max-requests", "3");
    int rc = port > 0 && first_connection(port) == 0 && second_connection(port) == 0;
    unserve(p);
    return rc ? 0 : 1;
}
