/* Exercise 8: GET /stats. The worker answers it with its own numbers:
 * {"pid":P,"requests":R,"connections":C} as application/json, where R is
 * the responses it wrote before this one and C its open connections.
 *
 * hint: in httpd.c, route "/stats" in respond() to a body formatted for
 * each request from getpid(), h->requests and h->open; README exercise 8
 *
 * link: build/testkit.o build/net.o
 *
 * With one worker: connection A sends GET / three times, connection B once,
 * then A asks GET /stats. The answer must be a 200 with Content-Type
 * application/json and the body {"pid":P,"requests":4,"connections":2},
 * P being the pid that GET / reported; HEAD /stats the same head, no body.
 */
#include "serve.h"

#include <stdlib.h>

/* One request on fd; the status, with its head and body kept. */
static int ask(int fd, const char *method, const char *path, char *head, size_t head_cap,
               char *body, size_t body_cap)
{
    char req[128];
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\n\r\n", method, path);
    if (tk_send_str(fd, req) == -1)
        return -1;
    if (strcmp(method, "HEAD") == 0) {
        /* read_response would wait for the body that HEAD never gets */
        char line[512];
        size_t used = 0;
        body[0] = '\0';
        int status = -1;
        if (tk_read_line(fd, line, sizeof line, 3000) < 0 ||
            sscanf(line, "HTTP/1.1 %d", &status) != 1)
            return -1;
        for (int n; (n = tk_read_line(fd, line, sizeof line, 3000)) > 1;)
            used += (size_t)snprintf(head + used, head_cap - used, "%s\n", line);
        return status;
    }
    int status = read_response(fd, head, head_cap, body, body_cap, 3000);
    for (char *c = body; *c; c++) /* on one line, for the report */
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    return status;
}

int main(void)
{
    tk_proc *p;
    int rc = 1;
    int port = serve(&p, "-w", "1");
    int a = port > 0 ? tk_connect(HOST, port, 2000) : -1;
    int b = port > 0 ? tk_connect(HOST, port, 2000) : -1;
    char head[1024], body[256], want[128];
    long pid = 0;
    if (a == -1 || b == -1) {
        printf("expected to connect twice, got an error\n");
        goto out;
    }
    for (int i = 0; i < 4; i++) {
        if (ask(i < 3 ? a : b, "GET", "/", head, sizeof head, body, sizeof body) != 200 ||
            sscanf(body, "{\"msg\":\"Hello World\",\"pid\":%ld}", &pid) != 1) {
            printf("expected GET / to answer 200 and its pid, got \"%s\"\n", body);
            goto out;
        }
    }
    snprintf(want, sizeof want, "{\"pid\":%ld,\"requests\":4,\"connections\":2}", pid);
    int st = ask(a, "GET", "/stats", head, sizeof head, body, sizeof body);
    if (st != 200 || strstr(head, "Content-Type: application/json") == NULL ||
        strcmp(body, want) != 0) {
        printf("expected GET /stats after 4 requests on 2 connections to answer 200 "
               "application/json %s, got %d \"%s\"\n",
               want, st, body);
        goto out;
    }
    st = ask(a, "HEAD", "/stats", head, sizeof head, body, sizeof body);
    if (st != 200 || strstr(head, "Content-Type: application/json") == NULL) {
        printf(
            "expected HEAD /stats to answer 200 application/json with no body, got %d\n",
            st);
        goto out;
    }
    rc = 0;
out:
    if (a != -1)
        close(a);
    if (b != -1)
        close(b);
    unserve(p);
    return rc;
}
