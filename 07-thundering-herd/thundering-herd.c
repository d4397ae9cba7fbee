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

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    cli_init("thundering-herd", usage);

    /* Environment first, flags override. */
    herd_config cfg = {
        .host = "127.0.0.1",
        .port = 0,
        .workers = 1,
        .stall_worker = -1,
        .connections = 200,
        .clients = 1,
        .timeout_ms = 10000,
        .mutex_delay_ms = 500,
    };
    long cpus = net_cpu_count();
    if (cpus > 0)
        cfg.workers = cpus > 1024 ? 1024 : (int)cpus;
    cfg.host = cli_env("HOST", cfg.host);
    const char *host_from = "HOST";
    cfg.port = (int)cli_env_long("PORT", cfg.port, 0, 65535);
    cfg.workers = (int)cli_env_long("WORKERS", cfg.workers, 1, 1024);
    cfg.node = cli_env("NODE", "node");
    cfg.node_script = script_beside(argv[0]);
    const char *mode_name = "all";
    int serve = 0, csv = 0;

    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((v = cli_opt(argc, argv, &i, "--mode")) != NULL) {
            mode_name = v;
        } else if ((v = cli_opt(argc, argv, &i, "--workers")) != NULL) {
            cfg.workers = (int)cli_long("--workers", v, 1, 1024);
        } else if ((v = cli_opt(argc, argv, &i, "--host")) != NULL) {
            cfg.host = v;
            host_from = "--host";
        } else if ((v = cli_opt(argc, argv, &i, "--port")) != NULL) {
            cfg.port = (int)cli_long("--port", v, 0, 65535);
        } else if ((v = cli_opt(argc, argv, &i, "--connections")) != NULL) {
            cfg.connections = (int)cli_long("--connections", v, 1, 1000000);
        } else if ((v = cli_opt(argc, argv, &i, "--clients")) != NULL) {
            cfg.clients = (int)cli_long("--clients", v, 1, 10000);
        } else if ((v = cli_opt(argc, argv, &i, "--stall-worker")) != NULL) {
            cfg.stall_ms = (int)cli_long("--stall-worker", v, 0, 60000);
            cfg.stall_worker = cfg.stall_ms > 0 ? 0 : -1;
        } else if ((v = cli_opt(argc, argv, &i, "--timeout")) != NULL) {
            cfg.timeout_ms = (int)cli_long("--timeout", v, 1, INT_MAX / 2);
        } else if ((v = cli_opt(argc, argv, &i, "--mutex-delay")) != NULL) {
            cfg.mutex_delay_ms = (int)cli_long("--mutex-delay", v, 1, 60000);
        } else if (strcmp(argv[i], "--serve") == 0) {
            serve = 1;
        } else if (strcmp(argv[i], "--csv") == 0) {
            csv = 1;
        } else {
            cli_bad_arg(argv[i]);
        }
    }

    /* Every mode binds HOST: a host the resolver refuses is one error
     * here, not one per mode and a table of failed rows. */
    struct sockaddr_storage sa;
    socklen_t salen;
    char why[256];
    if (net_resolve(cfg.host, cfg.port, 1, &sa, &salen, why, sizeof why) == -1)
        cli_fail("bad value for %s: %s (%s)", host_from, cfg.host, why);

    /* Which modes to run. */
    const herd_mode *one = NULL;
    if (strcmp(mode_name, "all") != 0) {
        one = herd_mode_find(mode_name);
        if (one == NULL)
            cli_fail("bad value for --mode: %s (the modes are listed below)", mode_name);
        const char *missing = herd_mode_missing(one, &cfg);
        if (missing != NULL) {
            fprintf(stderr, "thundering-herd: mode %s cannot run here: %s (%s)\n",
                    one->name, missing, one->how);
            return 2;
        }
    } else if (serve) {
        cli_fail("--serve needs one --mode, not %s", mode_name);
    }
    if (serve)
        cfg.connections = 0;
    cfg.verbose = one != NULL; /* a single mode: let the workers introduce themselves */

    int nmodes = 0;
    while (herd_modes[nmodes] != NULL)
        nmodes++;
    const herd_mode **run = calloc((size_t)nmodes, sizeof *run);
    report_row *rows = calloc((size_t)nmodes, sizeof *rows);
    unsigned long *accepts =
        calloc((size_t)nmodes * (size_t)cfg.workers, sizeof *accepts);
    if (run == NULL || rows == NULL || accepts == NULL)
        err(1, "calloc");
    int n = 0;
    for (int i = 0; i < nmodes; i++)
        if (one == NULL || herd_modes[i] == one)
            run[n++] = herd_modes[i];

    /* Shared memory for the workers' counters and the client's samples,
     * made once and reused by every run. */
    counters *count = counters_new(cfg.workers);
    if (count == NULL)
        err(1, "mmap (counters)");
    lg_result *res = lg_result_new(cfg.connections > 0 ? cfg.connections : 1);
    if (res == NULL)
        err(1, "mmap (client results)");

    report_info info = {cfg.workers, cfg.connections, cfg.clients, cfg.stall_worker,
                        cfg.stall_ms};
    int failed = 0, done = 0;
    for (; done < n; done++) {
        const herd_mode *mode = run[done];
        report_row *row = &rows[done];
        row->mode = mode->name;
        row->workers = cfg.workers;
        row->accepts = &accepts[(size_t)done * (size_t)cfg.workers];
        const char *missing = herd_mode_missing(mode, &cfg);
        if (missing != NULL) {
            row->skipped = 1;
            row->skip_why = missing;
            printf("[master %d] %s: skipped, %s\n", (int)getpid(), mode->name, missing);
            continue;
        }
        /* Node's workers cannot see their returns from epoll_wait. */
        row->no_wakeups = mode->server_stop != NULL;
        int r = herd_run(mode, &cfg, count, res);
        if (r == -1) {
            row->failed = 1;
            failed = 1;
            continue;
        }
        for (int w = 0; w < cfg.workers; w++)
            accepts[(size_t)done * (size_t)cfg.workers + (size_t)w] =
                counters_get(&count->slot[w].accepts);
        row->wakeups = counters_sum(count, offsetof(counter_slot, wakeups));
        row->eagain = counters_sum(count, offsetof(counter_slot, eagain));
        row->served = counters_sum(count, offsetof(counter_slot, served));
        row->sleeps = counters_sum(count, offsetof(counter_slot, sleeps));
        row->sleeps_known = count->sleeps_known;
        row->done = res->done;
        row->errors = res->errors;
        row->elapsed_ms = res->elapsed_ms;
        row->p50 = lg_percentile(res, 50);
        row->p99 = lg_percentile(res, 99);
        row->max = lg_percentile(res, 100);
        if (r == 1) { /* interrupted: report what we have and stop */
            done++;
            break;
        }
    }

    printf("\n");
    if (!serve)
        report_header(stdout, &info);
    report_table(stdout, &info, rows, done);
    if (done > 1 || info.stall_worker >= 0)
        report_notice(stdout, &info, rows, done);
    if (csv)
        report_csv(stdout, &info, rows, done);

    lg_result_free(res);
    counters_free(count);
    free(accepts);
    free(rows);
    free(run);
    return failed ? 1 : 0;
}
