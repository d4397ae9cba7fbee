#!/bin/sh
# bench.sh: what a whole conversation costs, C worker vs Node.js worker.
# Run it with `make bench`. Figures, never pass/fail.
#
# One "conversation" is everything ./ipc does: socketpair, fork + exec of
# the worker, two messages and two replies, disconnect, the worker's exit,
# the reap. It is timed end to end, RUNS times per worker, and the median is
# printed, side by side in one run, with the ratio to the C worker. The
# difference is mostly the worker's start-up: an exec of a small C program
# against starting a JavaScript runtime (FACTS.md: a Node child needs tens
# of milliseconds and tens of MB before its first message).
. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init ipc-bench ./ipc
RUNS=${RUNS:-21}

now_us() { # microseconds on the wall clock; needs a date with %N (GNU, busybox)
    t=$(date +%s%N)
    echo $((t / 1000))
}
case $(date +%N) in *N*|'') echo "bench: this date(1) has no %N; cannot time in ms"; exit 0 ;; esac

# median_ms CMD...: run CMD RUNS times, print the median wall time in ms (x.y)
median_ms() {
    i=0
    list=
    while [ "$i" -lt "$RUNS" ]; do
        t0=$(now_us)
        "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }
        t1=$(now_us)
        list="$list $((t1 - t0))"
        i=$((i + 1))
    done
    printf '%s\n' $list | sort -n | sed -n "$(((RUNS + 1) / 2))p" |
        awk '{ printf "%.1f", $1 / 1000 }'
}

echo "cpus: $(getconf _NPROCESSORS_ONLN 2>/dev/null || echo ?)   kernel: $(uname -sr)   runs: $RUNS (median)"
c=$(median_ms ./ipc) || exit 1
printf '%-40s %8s ms   1.0x\n' "./ipc (C worker)" "$c"
if have node; then
    n=$(median_ms ./ipc node node-worker.js) || exit 1
    printf '%-40s %8s ms   %sx\n' "./ipc node node-worker.js ($(node --version))" "$n" \
        "$(awk -v a="$n" -v b="$c" 'BEGIN { printf "%.1f", a / b }')"
    m=$(median_ms node node-master.js) || exit 1
    printf '%-40s %8s ms   %sx\n' "node node-master.js (C worker)" "$m" \
        "$(awk -v a="$m" -v b="$c" 'BEGIN { printf "%.1f", a / b }')"
else
    echo "node is not on PATH: the Node.js rows are skipped"
fi
