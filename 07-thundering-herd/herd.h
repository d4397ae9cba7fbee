/*
 * herd.h: N workers waiting on one port, one strategy at a time.
 *
 * Every strategy answers the same two questions: what does the master set
 * up before it forks, and how does a worker wait for its next connection?
 * So every strategy is one herd_mode, a table of function pointers with the
 * same shape, and the driver (herd_run) never knows which one it runs.
 * Node's cluster module is built the same way: a SharedHandle (the workers
 * share the listening socket and race for connections) and a
 * RoundRobinHandle (the primary accepts and hands connections out) behind
 * one interface. In Node's terms: setup is the handle's constructor (it
 * listens), spawn_prepare and spawn_done are add(worker), master_start and
 * rr-on-ack's callbacks in the master's loop are distribute() and
 * handoff() (the next *free* worker gets the connection), worker_wait is
 * the worker's side, and teardown is what remove(worker) does when the
 * last worker has gone: close the listening handle.
 *
 *   mode             how a worker waits for a connection
 *   accept           blocking accept() on the shared socket
 *   select           select() on the shared socket, then a non-blocking accept()
 *   poll             poll(), then a non-blocking accept()
 *   epoll            its own level-triggered epoll instance (as libuv does),
 *                    then a non-blocking accept()
 *   epoll-exclusive  the same with EPOLLEXCLUSIVE (Linux 4.5+)
 *   reuseport        blocking accept() on its own SO_REUSEPORT socket (Linux 3.9+)
 *   fcntl-lock       waits for an fcntl() lock, then a blocking accept(), then
 *                    unlocks (UNP's serv03, Apache's AcceptMutex fcntl)
 *   pthread-mutex    the same with a robust process-shared pthread mutex in
 *                    shared memory (UNP's serv04)
 *   nginx-mutex      nginx's accept_mutex: a try-lock in shared memory; the
 *                    holder puts the listener in its own epoll set, the others
 *                    take it out and wait at most --mutex-delay ms
 *   rr-when-served   receives a connection from the master over SCM_RIGHTS;
 *                    the master counts it free again once it has served it
 *   rr-on-ack        the same, but free again once it has acknowledged the
 *                    connection, before serving it (Node's RoundRobinHandle)
 *   node-rr          Node's own cluster, NODE_CLUSTER_SCHED_POLICY=rr
 *   node-none        Node's own cluster, NODE_CLUSTER_SCHED_POLICY=none
 *
 * epoll, epoll-exclusive, reuseport and pthread-mutex are Linux-only here;
 * elsewhere they are listed but skipped (herd_mode.available is 0). The
 * node modes need the node program; without it they are skipped too
 * (herd_mode_missing says why).
 *
 * One run (herd_run): the master sets the mode up, forks the workers under
 * chapter 02's supervisor (it reaps them, and they die with the master),
 * forks the load client (loadgen.h) and waits in chapter 01's event loop,
 * where the rr-* modes also do their dispatching. When the client is done
 * the master stops and reaps the workers and tears the mode down.
 * Everything the workers did is in the shared counters (counters.h).
 *
 * The node modes are *external*: the server is another program (node
 * node/cluster.js), so setup starts it and learns its port and its
 * workers' pids from its output, no worker is forked here, and
 * server_stop asks it for the counts its workers kept. The driver reads
 * their context switches from /proc as it does for its own workers.
 */
#ifndef HERD_H
#define HERD_H

#include <sys/types.h>

#include "counters.h"
#include "loadgen.h"
#include "loop.h"
#include "supervisor.h"

/* What worker_wait returns when it has no connection for the caller. */
enum {
    HERD_AGAIN = -2, /* woken for nothing (EAGAIN, EINTR): wait again */
    HERD_STOP = -3,  /* the master is gone or the mode broke: exit */
};

typedef struct herd_config {
    const char *host;
    int port; /* 0: the kernel picks one (a new one every run) */
    int workers;
    int stall_worker;   /* index of the worker that stalls, -1 for none */
    int stall_ms;       /* how long it sleeps per connection */
    int connections;    /* M for the load client; 0: no client, serve until a signal */
    int clients;        /* C, connections in flight at once (1: sequential) */
    int timeout_ms;     /* per connection, for the client */
    int mutex_delay_ms; /* nginx-mutex: how long a worker without the lock
                           waits before it tries again (nginx's
                           accept_mutex_delay); 0: 500 ms, nginx's default */
    int verbose;        /* workers announce themselves */
    const char *node;   /* node-*: the node program (env NODE, default node) */
    const char *node_script; /* node-*: the path of node/cluster.js */
} herd_config;

typedef struct herd_mode herd_mode;

/* The state of one run. The modes keep theirs in the generic fields below;
 * after fork() each worker has its own copy and changes only that. */
typedef struct herd {
    const herd_mode *mode;
    const herd_config *cfg;
    int port;        /* the real port, after setup */
    counters *count; /* shared with every worker */
    loop_t *loop;    /* the master's loop */
    sup_t *sup;      /* the master's supervisor of the workers */
    int lifeline;    /* in a worker: readable (EOF) once the master is gone */
    int listen_fd;   /* the shared listening socket, -1 if none */
    int lock_fd;     /* fcntl-lock: the file the lock is taken on */
    void *lock_mem;  /* pthread-mutex, nginx-mutex: the lock, in memory
                        shared by every worker; NULL if none */
    int held;        /* nginx-mutex, in a worker: the listener is in its set */
    int owner_died;  /* pthread-mutex, in a worker: it took the lock over from
                        a holder that died, and has not said so yet */
    int *fds;        /* per worker: its SO_REUSEPORT socket, or the master's
                        end of its rr-* channel; -1 where unused */
    int *peer;       /* rr-*: the worker's end, while it is forked */
    int epfd;        /* in a worker: its own epoll instance */
    int *free_q;     /* rr-*: ring of idle workers, oldest first */
    int free_head, free_len;
    int paused;   /* rr-when-served: listener unwatched, no worker free */
    int *pending; /* rr-on-ack: ring of accepted connections no worker
                     has yet (Node's handles[]) */
    int pending_head, pending_len, pending_cap;
    pid_t server;     /* node-*: the node primary, 0 when none runs */
    int server_in;    /* node-*: its stdin; closing it asks for the counts */
    int server_out;   /* node-*: its stdout, where the counts come */
    pid_t client;     /* the load client, 0 when none runs */
    int client_fd;    /* EOF when the client has exited */
    int ready[2];     /* each new worker writes one byte here once it waits */
    int nready;       /* how many have */
    lg_result *res;   /* where the client writes its samples */
    int interrupted;  /* SIGINT or SIGTERM arrived */
    int stopped;      /* the workers (or the node server) were told to stop */
    int failed;       /* a worker died unexpectedly */
    const char *call; /* setup: the call that failed, for the message */
} herd;

struct herd_mode {
    const char *name;
    const char *how;   /* one line, for --help and the table's footnotes */
    int available;     /* 0: Linux-only and this is not Linux */
    const char *needs; /* a program it runs ("node"), or NULL */

    /* Master, once, before any worker: listening socket(s), lock file.
     * Returns 0, or -1 with errno set (the message names the call). */
    int (*setup)(herd *h);
    /* Master, around fork() of worker w; optional. The rr-* modes make the
     * worker's channel before and closes the worker's end after;
     * nginx-mutex frees the lock if the slot's previous worker died
     * holding it. */
    int (*spawn_prepare)(herd *h, int w);
    void (*spawn_done)(herd *h, int w, pid_t pid);
    /* Master, once the workers run; optional (the rr-* modes watch the
     * listener and the channels in h->loop). */
    int (*master_start)(herd *h);
    /* Worker w, right after fork: drop what is not its own, make its own
     * epoll instance. 0, or -1 with errno set. */
    int (*worker_init)(herd *h, int w);
    /* Worker w: wait for one connection and return its fd, or HERD_AGAIN /
     * HERD_STOP. It counts wakeups, accepts and failed accepts itself,
     * because only it knows what "woke up" means for its way of waiting. */
    int (*worker_wait)(herd *h, int w);
    /* Worker w, after it served a connection; optional (rr-when-served
     * tells the master it is free again). */
    void (*worker_done)(herd *h, int w);
    /* External modes only (NULL for the others, which have worker_init and
     * worker_wait instead): the master, once the load is done and the
     * workers' context switches are read. Stop the server, fill in each
     * worker's accepts, served and naps from what it reports, and reap it.
     * 0, or -1 after a message. */
    int (*server_stop)(herd *h);
    /* Master, at the end: close everything setup made; also after a setup
     * that failed part-way, so it closes only what is open. The load client
     * calls it too, right after its fork, to drop what it inherited: it
     * closes, it never stops anything. */
    void (*teardown)(herd *h);
};

/* Every mode, in the order the table lists them, NULL-terminated. */
extern const herd_mode *const herd_modes[];
/* The mode called `name`, or NULL. */
const herd_mode *herd_mode_find(const char *name);
/* NULL if mode can run here with cfg, else why not, for a "skipped: ..."
 * line: "Linux-only", or that cfg->node is not installed. */
const char *herd_mode_missing(const herd_mode *mode, const herd_config *cfg);

/* Run one mode with cfg's workers and load: the counters are zeroed first
 * and hold the workers' counts afterwards; res (big enough for
 * cfg->connections) holds the client's samples. Prints
 * `[master PID] MODE: listening on HOST:PORT (pid PID)` once the workers
 * are forked. Returns 0 when the run completed, 1 when SIGINT or SIGTERM cut
 * it short (the results so far are valid), -1 when it failed (a message
 * has been printed), -2 when it failed and SIGINT or SIGTERM came too (a
 * failed run the caller stops after, as for 1). */
int herd_run(const herd_mode *mode, const herd_config *cfg, counters *count,
             lg_result *res);

/* Used by the modes (modes.c), defined in herd.c: */
/* A listening TCP socket on host:port, close-on-exec; SO_REUSEPORT too if
 * reuseport. Sets *bound_port to the real port. -1 with errno on failure,
 * and *call names the call that failed, for the message. */
int herd_listen(const char *host, int port, int reuseport, int *bound_port,
                const char **call);
/* accept() that makes the new socket close-on-exec. */
int herd_accept(int listen_fd);

#endif
