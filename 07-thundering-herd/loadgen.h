/*
 * loadgen.h: the built-in load client.
 *
 * To compare strategies fairly, every mode gets the same load from the
 * same client. The client opens M connections to HOST:PORT in all, at most
 * C at a time:
 *
 *   C == 1   sequential: one connection, wait for the reply, the next one.
 *            Only one connection is ever waiting, so whatever else wakes up
 *            woke up for nothing: the pure herd.
 *   C > 1    concurrent: C connections in flight, a new one started as soon
 *            as one finishes, like C users clicking at once.
 *
 * The server writes one line naming the worker that served the connection
 * ("served by worker 4213") and closes. For each connection the client
 * records the latency from just before connect(2) to the arrival of that
 * line, and the worker's pid. A connection that is refused, reset, or not
 * answered within the timeout counts as an error.
 *
 * One process, one thread: non-blocking sockets and poll(2), so C can be
 * hundreds without hundreds of threads. lg_run() runs in the calling
 * process; the results live in shared memory (lg_result_new) so that a
 * forked client can hand them to its parent just by writing them.
 */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <sys/socket.h>
#include <sys/types.h>

typedef struct lg_sample {
    double latency_ms; /* connect to reply line */
    int pid;           /* the worker named in the reply */
} lg_sample;

typedef struct lg_result {
    int total;         /* connections asked for */
    int done;          /* connections that got their reply: sample[0..done) */
    int errors;        /* connections that failed */
    double elapsed_ms; /* from the first connect to the last reply */
    lg_sample sample[];
} lg_result;

/* Map a zeroed result for up to `total` connections in memory shared with
 * children forked afterwards. NULL with errno set on failure. */
lg_result *lg_result_new(int total);
void lg_result_free(lg_result *r);

/* Run the load: `total` connections to host:port (a numeric address), at
 * most `clients` at once, each given up to timeout_ms. Fills *r (whose
 * total must be >= total). Returns 0 when every connection was tried (some
 * may have failed: see r->errors), or -1 with errno set if the client
 * itself could not run (bad address, out of fds). */
int lg_run(const char *host, int port, int clients, int total, int timeout_ms,
           lg_result *r);

/* lg_run() with a pacer: pace(arg) is called before every connection is
 * started, and may wait (the herd driver uses it in sequential runs to wait
 * until every worker is asleep again, so each connection meets the whole
 * herd idle). Time spent in pace() is left out of elapsed_ms. pace may be
 * NULL. */
int lg_run_paced(const char *host, int port, int clients, int total, int timeout_ms,
                 lg_result *r, void (*pace)(void *arg), void *arg);

/* Fill *ss with the numeric IPv4 or IPv6 address `host` and `port`, and
 * *len with its size. The workers' listener and the client both use it.
 * Returns 0, or -1 with errno EINVAL if host is not a numeric address. */
int lg_sockaddr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len);

/* The p-th percentile (0 < p <= 100) of the latencies, nearest rank:
 * the smallest latency that at least p% of the samples do not exceed.
 * 0 when there are no samples. */
double lg_percentile(const lg_result *r, double p);

/* Parse the worker pid out of a reply line "served by worker 4213".
 * Returns the pid, or -1 if the line names none. */
int lg_parse_reply(const char *line);

#endif
