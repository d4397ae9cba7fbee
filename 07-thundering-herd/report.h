/*
 * report.h: the comparison table, and what to notice in it.
 *
 * One row per mode, all from the same load:
 *
 *   woken/conn  times a worker was woken, per connection served, counted
 *               by the kernel (the workers' voluntary context switches,
 *               Linux): 1.00 is ideal, N means every worker woke up. Where
 *               no worker wakes twice for one connection, it is the number
 *               of processes woken
 *   ret/conn    returns from the wait per connection: the wakeups the
 *               program itself saw (a woken select() that finds the
 *               listener drained goes back to sleep without returning)
 *   EAGAIN      accept() calls that found nothing: the woken losers
 *   accepts     connections per worker, as counts and as bars scaled to the
 *               busiest worker of that row ("*" marks the stalled worker)
 *   max/min     busiest over idlest worker ("inf" when one got none)
 *   Jain        Jain's fairness index: 1.00 even, 1/N all on one worker
 *   conns/s     connections completed per second of the run
 *   p50 p99 max connect-to-reply latency in milliseconds
 *
 * With report_info.narrow (--narrow) the table fits 100 columns up to 5
 * workers: no bars and no p50, and woken/conn, ret/conn are headed woken, ret.
 *
 * report_csv() prints the same figures one line per mode for scripts and
 * tests; report_notice() turns them into a few plain sentences.
 */
#ifndef REPORT_H
#define REPORT_H

#include <stdio.h>

typedef struct report_row {
    const char *mode;
    int skipped;          /* not available on this system */
    const char *skip_why; /* why, for the table ("Linux-only" if NULL) */
    int no_wakeups;       /* ret/conn and EAGAIN unknown (Node's workers: libuv
                             keeps its returns from epoll_wait to itself) */
    int failed;           /* the run failed; figures are meaningless */
    int workers;
    const unsigned long *accepts; /* per worker: connections served */
    unsigned long wakeups, eagain, served;
    unsigned long sleeps; /* voluntary context switches while waiting */
    int sleeps_known;     /* 0 where the system does not tell */
    int done, errors;     /* the client's view */
    double elapsed_ms, p50, p99, max;
} report_row;

typedef struct report_info {
    int workers;
    int connections;
    int clients;
    int stall_worker; /* -1 for none */
    int stall_ms;
    int narrow; /* the table's narrow layout (--narrow): no bars, no p50 */
} report_info;

/* Processes woken per served connection, from sleeps (0 when nothing was
 * served; -1 when the system does not tell). */
double report_woken_per_conn(const report_row *r);
/* Returns from the wait per served connection (0 when nothing was served;
 * -1 when the workers cannot tell, as Node's cannot). */
double report_wakeups_per_conn(const report_row *r);
/* The stalled worker's share of the connections, 0..1. */
double report_share(const report_row *r, int worker);

/* The first lines: system (kernel release, CPUs) and the load. */
void report_header(FILE *out, const report_info *info);
void report_table(FILE *out, const report_info *info, const report_row *rows, int n);
void report_csv(FILE *out, const report_info *info, const report_row *rows, int n);
void report_notice(FILE *out, const report_info *info, const report_row *rows, int n);

#endif
