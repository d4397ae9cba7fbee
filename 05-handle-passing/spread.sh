#!/bin/sh
# spread.sh: how evenly the kernel spreads connections over workers that
# share one listening socket, as a distribution over repeated runs.
#
#   sh ./spread.sh [RUNS] [WORKERS] [CONNS]     (defaults 10, 3, 200; after make)
#   LOOP_BACKEND=epoll sh ./spread.sh           (the workers' loop backend)
#
# Each run starts a fresh ./handle-passing -w WORKERS, makes CONNS
# connections one after another with `./handle-passing client`, and prints
# each worker's share, largest first. Then one summary line: the range of
# the largest and of the smallest share, and the range of Jain's fairness
# index (1 = perfectly even, 1/WORKERS = one worker took everything).
#
# What to notice: the same command gives a different split every run, from
# nearly even to one worker starved. Who wins a connection is a race between
# the workers the kernel woke (all of them: none waits exclusively), so the
# split follows the scheduler: how many CPUs there are for how many workers,
# what else runs, and that this client makes one connection at a time, so
# the worker that just served is often still busy when the next one comes.
# Chapter 07 measures each way of waiting.
#
# It stops every server it starts and gives up after 120 seconds. (The runs
# loop is a pipeline's subshell: on Ctrl-C its server gets the terminal's
# SIGINT as well.)
. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init spread ./handle-passing
runs=${1:-10}
workers=${2:-3}
conns=${3:-200}
for v in "$runs" "$workers" "$conns"; do
    case $v in '' | *[!0-9]* | 0) echo "spread.sh: bad value: $v (want a whole number > 0)" >&2; exit 2 ;; esac
done
watchdog 120

echo "spread.sh: $runs runs of ./handle-passing -w $workers, $conns connections each (backend ${LOOP_BACKEND:-select})"
r=1
while [ "$r" -le "$runs" ]; do
    start_log "$tmp/log" "handoff complete" ./handle-passing -w "$workers" -p 0 || exit 1
    ./handle-passing client -p "$port" -n "$conns" >"$out" 2>&1 || { cat "$out"; exit 1; }
    kill -TERM "$bg_pid"
    wait "$bg_pid"
    # "... served by 3 processes: pid 1 x5, pid 2 x6, pid 3 x9" -> counts,
    # padded with zeros for workers that served none.
    grep "connections served by" "$out" | tr ',' '\n' | sed -n 's/.* x\([0-9]*\)$/\1/p' |
        awk -v w="$workers" -v r="$r" '{ c[NR] = $1 } END {
            for (i = NR + 1; i <= w; i++) c[i] = 0
            n = w; for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (c[j] > c[i]) { t = c[i]; c[i] = c[j]; c[j] = t }
            s = 0; q = 0; line = ""
            for (i = 1; i <= n; i++) { s += c[i]; q += c[i] * c[i]; line = line sprintf(" %4d", c[i]) }
            printf "run %2d:%s   Jain %.2f\n", r, line, (s * s) / (n * q)
        }'
    r=$((r + 1))
done | tee "$tmp/runs"
awk -v w="$workers" '{
        max = $3; min = $(2 + w); j = $NF
        if (NR == 1 || max > hi) hi = max; if (NR == 1 || max < lo) lo = max
        if (NR == 1 || min > mhi) mhi = min; if (NR == 1 || min < mlo) mlo = min
        if (NR == 1 || j > jhi) jhi = j; if (NR == 1 || j < jlo) jlo = j
    } END {
        printf "over %d runs: largest share %d..%d, smallest share %d..%d, Jain %.2f..%.2f\n", NR, lo, hi, mlo, mhi, jlo, jhi
    }' "$tmp/runs"
