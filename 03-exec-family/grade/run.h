/* run.h: what 03's checks share: run a child with proc_exec_file on a loop
 * of their own and keep what its callback received. Included, not linked:
 * testkit/grade compiles each check as one file. */
#ifndef GRADE_RUN_H
#define GRADE_RUN_H

#include "proc.h"

#include "loop.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

struct run {
    int done;
    long long ms;     /* from the start to the callback */
    proc_status_t st; /* how: PROC_EXITED and code 0 when error was NULL */
    char out[512];    /* stdout, cut to fit */
    char err[256];    /* the first line of stderr */
    char status[128]; /* proc_status_str(error), "" when it was NULL */
};

static long long run_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static long long run_start;

static void run_done(const proc_status_t *error, const char *out, size_t out_len,
                     const char *err, size_t err_len, void *arg)
{
    struct run *r = arg;
    r->done = 1;
    r->ms = run_now_ms() - run_start;
    if (error) {
        r->st = *error;
        proc_status_str(error, r->status, sizeof r->status);
    }
    snprintf(r->out, sizeof r->out, "%.*s", (int)out_len, out_len ? out : "");
    const char *nl = err_len ? memchr(err, '\n', err_len) : NULL;
    snprintf(r->err, sizeof r->err, "%.*s", nl ? (int)(nl - err) : (int)err_len,
             err_len ? err : "");
}

/* Run argv (argv[0] the file) with o; 0 once the callback came, -1 if it
 * could not start or did not call back within wait_ms (then says so). */
static int run(const char *const argv[], const proc_options_t *o, struct run *r,
               int wait_ms)
{
    static loop_t *loop;
    if (loop == NULL && (loop = loop_new(LOOP_POLL)) == NULL) {
        printf("expected a loop, got none\n");
        return -1;
    }
    memset(r, 0, sizeof *r);
    run_start = run_now_ms();
    if (proc_exec_file(loop, argv[0], (char *const *)argv, o, run_done, r) == -1) {
        printf("expected proc_exec_file to start %s, got an error\n", argv[0]);
        return -1;
    }
    while (!r->done && run_now_ms() - run_start < wait_ms)
        loop_run_once(loop, 100);
    if (!r->done)
        printf("expected %s to be reported, got nothing after %d ms\n", argv[0], wait_ms);
    return r->done ? 0 : -1;
}

#endif
