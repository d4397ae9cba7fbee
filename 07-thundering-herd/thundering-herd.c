/*
 * thundering-herd: every way N processes can wait on one port, measured.
 *
 * The post ends by asking why, when many processes listen on one port, only
 * one of them handles each connection, and answers that an fd can be used
 * by only one process at a time, so one lucky process wins. That is not
 * what happens. All of them hold the socket at once; what happens to a
 * connection depends on *how* they wait for it. This program runs each way
 * of waiting with the same workers and the same load, and counts.
 *
 * Run it (one terminal, from this directory):
 *
 *   make
 *   ./thundering-herd --workers 4                      every mode, sequential load
 *   ./thundering-herd --workers 4 --clients 8          concurrent load
 *   ./thundering-herd --workers 4 --clients 8 --connections 400 --stall-worker 20
 *   ./thundering-herd --mode epoll --workers 4         one mode, workers say hello
 *   ./thundering-herd --mode accept --serve            serve until Ctrl-C;
 *       in a second terminal: nc 127.0.0.1 PORT   (the PORT it printed)
 *
 * What you should see: a table with one row per mode. "woken/conn" is how
 * many times the kernel woke a worker per connection (their context
 * switches): about all of them for select, poll and epoll, one for accept,
 * epoll-exclusive, reuseport, nginx-mutex, the rr-* masters and Node's rr, two for
 * pthread-mutex (a futex unlock wakes one waiter) and about three with 4
 * workers for fcntl-lock (its release wakes several). "ret/conn" is how
 * often a worker came back from its wait: about one everywhere, because
 * most woken workers find the connection gone and go back to sleep inside
 * the kernel. epoll-exclusive and nginx-mutex hand nearly everything to one
 * worker when connections come one at a time; the rr-* masters, Node's rr
 * and accept spread them evenly; Node's none herds like epoll. With a
 * stalled worker, reuseport keeps queueing to it and its p99 latency
 * jumps; rr-on-ack and Node's rr hand it one connection per stall, which
 * waits for the stall in progress (max ms about two stalls); the others
 * pass it over. The node-* rows need node (env NODE), and are skipped
 * without it.
 *
 * The strategies are in modes.c behind the interface in herd.h; herd.c runs
 * one of them; counters.h, loadgen.h and report.h are the measuring.
 */
#include <err.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h" /* flags, as in every chapter (01-event-loop) */
#include "counters.h"
#include "herd.h"
#include "loadgen.h"
#include "net.h" /* the resolver (01-event-loop) */
#include "report.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: thundering-herd [options]\n"
        "  --mode MODE         one of the modes below, or all (default all)\n"
        "  --workers N         worker processes (env WORKERS, default: online CPUs)\n"
        "  --host ADDR         numeric address to listen on (env HOST, default "
        "127.0.0.1)\n"
        "  --port PORT         port (env PORT, default 0: the kernel picks)\n"
        "  --connections M     connections the built-in client makes (default 200)\n"
        "  --clients C         connections in flight at once (default 1: sequential)\n"
        "  --stall-worker MS   worker 0 sleeps MS ms on every connection it serves\n"
        "  --timeout MS        give up on a connection after MS ms (default 10000)\n"
        "  --mutex-delay MS    nginx-mutex: a worker without the lock tries again\n"
        "                      after MS ms (default 500, nginx's accept_mutex_delay)\n"
        "  --serve             no built-in client: serve until SIGINT/SIGTERM, then\n"
        "                      print the counts (one mode only)\n"
        "  --csv               also print the figures as csv lines\n"
        "  --narrow            a table that fits 100 columns (up to 5 workers):\n"
        "                      no bars, no p50, woken and ret for woken/conn, ret/conn\n"
        "  -h, --help          this text\n"
        "env NODE: the node program for the node-* modes (default node, from PATH);\n"
        "  without it those modes are skipped\n"
        "modes:\n");
    for (int i = 0; herd_modes[i] != NULL; i++)
        fprintf(out, "  %-16s %s%s\n", herd_modes[i]->name, herd_modes[i]->how,
                herd_modes[i]->available ? "" : " [not available here]");
}

/* node/cluster.js beside this program: the node-* modes run it. */
static const char *script_beside(const char *argv0)
{
    static char path[4096];
    const char *slash = strrchr(argv0, '/');
    if (slash == NULL || slash - argv0 > (ptrdiff_t)sizeof path - 32)
        return "node/cluster.js"; /* run from PATH: look in the current directory */
    snprintf(path, sizeof path, "%.*s/node/cluster.js", (int)(slash - argv0), argv0);
    return path;
}

/* What the flags ask for: the herd's configuration, and what to run and
 * print. */
typedef struct options {
    herd_config cfg;
    const char *host_from; /* "HOST" or "--host", for a message about it */
    const char *mode_name; /* a mode, or "all" */
    int serve, csv, narrow;
} options;

/* The defaults, then the environment (HOST, PORT, WORKERS, NODE). */
static options default_options(const char *argv0)
{
    options o = {
        .cfg =
            {
                .host = cli_env("HOST", "127.0.0.1"),
                .port = (int)cli_env_long("PORT", 0, 0, 65535),
                .stall_worker = -1,
                .connections = 200,
                .clients = 1,
                .timeout_ms = 10000,
                .mutex_delay_ms = 500,
                .node = cli_env("NODE", "node"),
                .node_script = script_beside(argv0),
            },
        .host_from = "HOST",
        .mode_name = "all",
    };
    long cpus = net_cpu_count();
    int workers = cpus < 1 ? 1 : cpus > 1024 ? 1024 : (int)cpus;
    o.cfg.workers = (int)cli_env_long("WORKERS", workers, 1, 1024);
    return o;
}

/* One flag at argv[*i] (and its value, which advances *i). */
static void parse_flag(int argc, char **argv, int *i, options *o)
{
    herd_config *cfg = &o->cfg;
    const char *v;
    if ((v = cli_opt(argc, argv, i, "--mode")) != NULL) {
        o->mode_name = v;
    } else if ((v = cli_opt(argc, argv, i, "--workers")) != NULL) {
        cfg->workers = (int)cli_long("--workers", v, 1, 1024);
    } else if ((v = cli_opt(argc, argv, i, "--host")) != NULL) {
        cfg->host = v;
        o->host_from = "--host";
    } else if ((v = cli_opt(argc, argv, i, "--port")) != NULL) {
        cfg->port = (int)cli_long("--port", v, 0, 65535);
    } else if ((v = cli_opt(argc, argv, i, "--connections")) != NULL) {
        cfg->connections = (int)cli_long("--connections", v, 1, 1000000);
    } else if ((v = cli_opt(argc, argv, i, "--clients")) != NULL) {
        cfg->clients = (int)cli_long("--clients", v, 1, 10000);
    } else if ((v = cli_opt(argc, argv, i, "--stall-worker")) != NULL) {
        cfg->stall_ms = (int)cli_long("--stall-worker", v, 0, 60000);
        cfg->stall_worker = cfg->stall_ms > 0 ? 0 : -1;
    } else if ((v = cli_opt(argc, argv, i, "--timeout")) != NULL) {
        cfg->timeout_ms = (int)cli_long("--timeout", v, 1, INT_MAX / 2);
    } else if ((v = cli_opt(argc, argv, i, "--mutex-delay")) != NULL) {
        cfg->mutex_delay_ms = (int)cli_long("--mutex-delay", v, 1, 60000);
    } else if (strcmp(argv[*i], "--serve") == 0) {
        o->serve = 1;
    } else if (strcmp(argv[*i], "--csv") == 0) {
        o->csv = 1;
    } else if (strcmp(argv[*i], "--narrow") == 0) {
        o->narrow = 1;
    } else {
        cli_bad_arg(argv[*i]);
    }
}

/* Environment first, flags override. A bad value exits 2 (cli.h). */
static options parse_options(int argc, char **argv)
{
    options o = default_options(argv[0]);
    for (int i = 1; i < argc; i++) {
        cli_help(argv[i]);
        parse_flag(argc, argv, &i, &o);
    }
    /* Every mode binds HOST: a host the resolver refuses is one error
     * here, not one per mode and a table of failed rows. */
    struct sockaddr_storage sa;
    socklen_t salen;
    char why[256];
    if (net_resolve(o.cfg.host, o.cfg.port, 1, &sa, &salen, why, sizeof why) == -1)
        cli_fail("bad value for %s: %s (%s)", o.host_from, o.cfg.host, why);
    return o;
}

/* The mode --mode names, or NULL for all; exits 2 if it is unknown or
 * cannot run here. */
static const herd_mode *chosen_mode(const options *o)
{
    if (strcmp(o->mode_name, "all") == 0) {
        if (o->serve)
            cli_fail("--serve needs one --mode, not %s", o->mode_name);
        return NULL;
    }
    const herd_mode *one = herd_mode_find(o->mode_name);
    if (one == NULL)
        cli_fail("bad value for --mode: %s (the modes are listed below)", o->mode_name);
    const char *missing = herd_mode_missing(one, &o->cfg);
    if (missing != NULL) {
        fprintf(stderr, "thundering-herd: mode %s cannot run here: %s (%s)\n", one->name,
                missing, one->how);
        exit(2);
    }
    return one;
}

/* The herds to build: the chosen mode, or every one; *n of them. */
static const herd_mode **pick_modes(options *o, int *n)
{
    const herd_mode *one = chosen_mode(o);
    if (o->serve)
        o->cfg.connections = 0;
    o->cfg.verbose =
        one != NULL; /* a single mode: let the workers introduce themselves */
    int nmodes = 0;
    while (herd_modes[nmodes] != NULL)
        nmodes++;
    const herd_mode **run = calloc((size_t)nmodes, sizeof *run);
    if (run == NULL)
        err(1, "calloc");
    *n = 0;
    for (int i = 0; i < nmodes; i++)
        if (one == NULL || herd_modes[i] == one)
            run[(*n)++] = herd_modes[i];
    return run;
}

/* What the runs measured: one row per mode, and the shared memory the
 * workers and the client write their counts into, made once and reused
 * by every run. */
typedef struct results {
    const herd_config *cfg;
    counters *count;        /* the workers' counters */
    lg_result *res;         /* the client's samples */
    report_row *rows;       /* one per mode run so far */
    unsigned long *accepts; /* rows[i].accepts points into it */
    int n;                  /* rows filled */
    int failed;             /* a run failed */
} results;

static results results_new(const herd_config *cfg, int nmodes)
{
    results r = {.cfg = cfg};
    r.rows = calloc((size_t)nmodes, sizeof *r.rows);
    r.accepts = calloc((size_t)nmodes * (size_t)cfg->workers, sizeof *r.accepts);
    if (r.rows == NULL || r.accepts == NULL)
        err(1, "calloc");
    r.count = counters_new(cfg->workers);
    if (r.count == NULL)
        err(1, "mmap (counters)");
    r.res = lg_result_new(cfg->connections > 0 ? cfg->connections : 1);
    if (r.res == NULL)
        err(1, "mmap (client results)");
    return r;
}

static void results_free(results *r)
{
    lg_result_free(r->res);
    counters_free(r->count);
    free(r->accepts);
    free(r->rows);
}

/* The next row, for mode, its accepts pointing into r->accepts. */
static report_row *next_row(results *r, const herd_mode *mode)
{
    report_row *row = &r->rows[r->n];
    row->mode = mode->name;
    row->workers = r->cfg->workers;
    row->accepts = &r->accepts[(size_t)r->n * (size_t)r->cfg->workers];
    r->n++;
    return row;
}

/* Copy what a completed run counted into its row; accepts is the row's. */
static void record(report_row *row, unsigned long *accepts, const results *r)
{
    const counters *count = r->count;
    for (int w = 0; w < r->cfg->workers; w++)
        accepts[w] = counters_get(&count->slot[w].accepts);
    row->wakeups = counters_sum(count, offsetof(counter_slot, wakeups));
    row->eagain = counters_sum(count, offsetof(counter_slot, eagain));
    row->served = counters_sum(count, offsetof(counter_slot, served));
    row->sleeps = counters_sum(count, offsetof(counter_slot, sleeps));
    row->sleeps_known = count->sleeps_known;
    row->done = r->res->done;
    row->errors = r->res->errors;
    row->elapsed_ms = r->res->elapsed_ms;
    row->p50 = lg_percentile(r->res, 50);
    row->p99 = lg_percentile(r->res, 99);
    row->max = lg_percentile(r->res, 100);
}

/* Build mode's herd and run the load against it (herd_run), into the next
 * row. Returns herd_run's answer: 0 done (or skipped: the mode cannot run
 * here), 1 interrupted by SIGINT or SIGTERM (the row is valid), -1 failed,
 * -2 failed and interrupted. */
static int run_mode(const herd_mode *mode, results *r)
{
    unsigned long *accepts = &r->accepts[(size_t)r->n * (size_t)r->cfg->workers];
    report_row *row = next_row(r, mode);
    const char *missing = herd_mode_missing(mode, r->cfg);
    if (missing != NULL) {
        row->skipped = 1;
        row->skip_why = missing;
        printf("[master %d] %s: skipped, %s\n", (int)getpid(), mode->name, missing);
        return 0;
    }
    int status = herd_run(mode, r->cfg, r->count, r->res);
    if (status < 0) {
        row->failed = r->failed = 1;
        return status;
    }
    /* Node's workers cannot see their returns from epoll_wait. */
    row->no_wakeups = mode->server_stop != NULL;
    record(row, accepts, r);
    return status;
}

static void print_report(const options *o, const results *r)
{
    const herd_config *cfg = &o->cfg;
    report_info info = {cfg->workers,      cfg->connections, cfg->clients,
                        cfg->stall_worker, cfg->stall_ms,    o->narrow};
    printf("\n");
    if (!o->serve)
        report_header(stdout, &info);
    report_table(stdout, &info, r->rows, r->n);
    if (r->n > 1 || info.stall_worker >= 0)
        report_notice(stdout, &info, r->rows, r->n);
    if (o->csv)
        report_csv(stdout, &info, r->rows, r->n);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    cli_init("thundering-herd", usage);

    /* 1. Options: environment first, flags override. */
    options o = parse_options(argc, argv);

    /* 2. The herds to build: the chosen mode, or every one. */
    int nmodes;
    const herd_mode **modes = pick_modes(&o, &nmodes);

    /* 3. For each, build the herd and run the load against it, until
     * SIGINT or SIGTERM cuts a run short (then report what we have). */
    results r = results_new(&o.cfg, nmodes);
    for (int i = 0; i < nmodes; i++) {
        int status = run_mode(modes[i], &r);
        if (status == 1 || status == -2) /* Ctrl-C stops, failed run or not */
            break;
    }

    /* 4. The table, and what to notice in it. */
    print_report(&o, &r);
    results_free(&r);
    free(modes);
    return r.failed ? 1 : 0;
}
