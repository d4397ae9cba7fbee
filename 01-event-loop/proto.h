/*
 * proto.h: the line protocol both servers of this chapter speak.
 *
 * One request per line, one reply line per request:
 *
 *   any line      ->  pid N: <the line>            (an echo, N = server pid)
 *   busy MS       ->  pid N: busy MS ms done       after burning MS ms of CPU
 *   busy x / -1   ->  error: busy wants ...        (MS must be 0..60000)
 *   stats         ->  stats mode=loop backend=select conns=3 threads=1 rss_kib=1480
 *                     vsz_kib=2520 ctxsw_voluntary=12 ctxsw_involuntary=1
 *
 * and one reply that ends the conversation, sent by the servers themselves
 * (proto_reply never sees such a line, the framing rejects it first):
 *
 *   a line over LINEBUF_MAX bytes  ->  PROTO_TOO_LONG, then the server closes
 *
 * `busy` burns CPU in whichever thread reads the line. In the loop server
 * that thread is the only one, so every other client waits: the weak point
 * of an event loop, made visible. In the --threads server only the busy
 * client's own thread is occupied.
 *
 * The stats are those of the whole server process: its open client
 * connections (counted by the server), its thread count, resident and
 * virtual memory (/proc/self/status: Threads, VmRSS, VmSize; Linux only,
 * -1 elsewhere), and the voluntary and involuntary context switches of all
 * its threads (getrusage(RUSAGE_SELF)).
 *
 * The protocol has no state: proto_reply() maps one line to one reply, so
 * it is easy to test and both servers share it unchanged.
 */
#ifndef PROTO_H
#define PROTO_H

#include <stddef.h>

#include "linebuf.h"

/* Room proto_reply() may need: the longest echo plus its prefix. */
#define PROTO_REPLY_MAX (LINEBUF_MAX + 64)
/* The longest busy request served, in milliseconds. */
#define PROTO_BUSY_MAX 60000
/* The last line a client that sent a line over LINEBUF_MAX bytes gets. */
#define PROTO_TOO_LONG "error: line longer than 65536 bytes, closing\n"
_Static_assert(LINEBUF_MAX == 65536, "PROTO_TOO_LONG names the limit");

/* What the server tells the protocol about itself, for `stats`. */
typedef struct proto_info {
    const char *mode;    /* "loop" or "threads" */
    const char *backend; /* the loop backend watching the clients, or "-" */
    int conns;           /* open client connections */
} proto_info;

typedef struct proto_stats {
    long threads; /* -1 where /proc is missing */
    long rss_kib; /* resident set size */
    long vsz_kib; /* virtual size: includes every thread's reserved stack */
    long nvcsw;   /* voluntary context switches: the thread waited */
    long nivcsw;  /* involuntary: the scheduler took the CPU away */
} proto_stats;

/* Write the reply to one line (len bytes, no newline) into out, which has
 * room for cap >= PROTO_REPLY_MAX bytes. Returns the reply's length,
 * newline included. A `busy` line burns CPU before it returns. */
size_t proto_reply(const char *line, size_t len, const proto_info *info, char *out,
                   size_t cap);

/* Parse the argument of `busy`. Returns 0 and sets *ms, or -1. */
int proto_parse_busy(const char *arg, size_t len, long *ms);

/* The milliseconds a valid `busy MS` line asks for, or -1 for any other
 * line. Servers use it to log "the loop is blocked" before the reply. */
long proto_busy_ms(const char *line, size_t len);

/* Spin on the CPU for ms milliseconds (not sleep: a sleeping thread would
 * let the loop run). */
void proto_burn_cpu(long ms);

/* Open what `stats` reads (/proc/self/status) while fds are plentiful,
 * so stats still work after the server has run out of them. Optional:
 * without it each stats call opens the file. Call before starting threads. */
void proto_init(void);

/* This process's numbers. Returns 0; fields it cannot read are -1. */
int proto_read_stats(proto_stats *st);

#endif
