/* Exercise 9: 405 after the body, on a connection that stays open. A
 * method the server knows but does not serve (POST, DELETE, ...) gets its
 * 405 once its body was read and discarded, and the connection goes on to
 * the client's next request, as after any answer.
 *
 * hint: in http.c's head_end(), stop refusing HTTP_OTHER_METHOD at the head
 * (but for Expect: 100-continue); let the body be read as for GET, and
 * answer 405 with Allow: GET, HEAD in httpd.c's respond(); then update the
 * tests that expected the old close; README exercise 9
 *
 * link: build/testkit.o build/net.o
 *
 * One connection sends, in one go, a POST with an 11-byte body, then a
 * DELETE with a chunked body, then GET /. It must read a 405 with "Allow:
 * GET, HEAD" and no "Connection: close" for each of the first two, then a
 * 200: the bodies were read as bodies, not as the next request line.
 */
#include "serve.h"

int main(void)
{
    static const char reqs[] = "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n"
                               "hello world"
                               "DELETE /x HTTP/1.1\r\nHost: t\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n"
                               "5\r\nhello\r\n0\r\n\r\n"
                               "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    static const char *const what[] = {"the POST", "the chunked DELETE",
                                       "the GET after them"};
    tk_proc *p;
    int rc = 1;
    int port = serve(&p, "-w", "1");
    int fd = port > 0 ? tk_connect(HOST, port, 2000) : -1;
    if (fd == -1 || tk_send_str(fd, reqs) == -1) {
        printf("expected to connect and send, got an error\n");
        goto out;
    }
    for (int i = 0; i < 3; i++) {
        char head[1024], body[256];
        int want = i < 2 ? 405 : 200;
        int st = read_response(fd, head, sizeof head, body, sizeof body, 3000);
        int closes = st != -1 && strstr(head, "Connection: close") != NULL;
        int allow = st != -1 && strstr(head, "Allow: GET, HEAD") != NULL;
        if (st != want || closes || (want == 405 && !allow)) {
            char got[96] = "no answer (the connection ended)";
            if (st != -1)
                snprintf(got, sizeof got, "%d%s%s", st, allow ? " with Allow" : "",
                         closes ? " and Connection: close" : "");
            printf("expected %s on a keep-alive connection to get %d%s and no "
                   "Connection: close, got %s\n",
                   what[i], want, want == 405 ? " with Allow: GET, HEAD" : "", got);
            goto out;
        }
    }
    rc = 0;
out:
    if (fd != -1)
        close(fd);
    unserve(p);
    return rc;
}
