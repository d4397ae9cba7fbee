#!/bin/sh
# syscalls.sh: how many system calls a worker makes per request, counted by
# the kernel's own tracepoints while wrk loads the server.
#
#   sh ./syscalls.sh [WORKERS] [SECONDS]      (defaults 1 and 2; after make)
#
# It starts ./http-shared-port -w WORKERS on a free port and runs two loads
# of SECONDS each with `wrk -t1 -c64`: keep-alive, then `Connection: close`.
# During each, `perf stat` counts every worker's epoll_wait, read, sendto and
# accept4 calls and the reads that failed with EAGAIN (perf counts in the
# kernel, so unlike strace it barely slows the worker and changes little of
# what it measures). It prints the counts, the requests wrk made, and
# requests per epoll_wait.
#
# What to notice: in keep-alive one read and one send per request, and one
# epoll_wait per a few requests: the busier the worker, the more requests one
# wait returns. With Connection: close, accept4 per request, and some reads
# of a new connection find nothing yet (EAGAIN).
#
# Needs wrk and perf with tracepoint access (Linux; usually root or
# kernel.perf_event_paranoid <= 1); without them it says so and exits 0.
. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init syscalls ./http-shared-port
workers=${1:-1}
secs=${2:-2}
for v in "$workers" "$secs"; do
    case $v in '' | *[!0-9]* | 0) echo "syscalls.sh: bad value: $v (want a whole number > 0)" >&2; exit 2 ;; esac
done
have wrk || { echo "syscalls.sh: skipped: wrk is not installed"; exit 0; }
have perf || { echo "syscalls.sh: skipped: perf is not installed"; exit 0; }
if ! perf stat -e syscalls:sys_enter_epoll_wait -- true >/dev/null 2>&1; then
    echo "syscalls.sh: skipped: perf cannot read the syscall tracepoints here"
    exit 0
fi
start_log "$tmp/log" "^listening on " ./http-shared-port -w "$workers" -p 0 || exit 1
pids=$(sed -n 's/.*worker \([0-9]*\) serving (slot.*/\1/p' "$tmp/log" | paste -sd, -)
echo "syscalls.sh: $workers worker(s) ($pids), wrk -t1 -c64 -d${secs}s, $(nproc 2>/dev/null || echo '?') CPUs"

measure() { # NAME, then wrk's extra arguments
    name=$1
    shift
    perf stat -x, -p "$pids" -e syscalls:sys_enter_epoll_wait -e syscalls:sys_enter_read \
        -e syscalls:sys_enter_sendto -e syscalls:sys_enter_accept4 \
        -e syscalls:sys_exit_read --filter 'ret == -11' \
        -o "$tmp/perf" -- sleep "$((secs + 1))" &
    perf=$!
    sleep 0.3 # let perf attach before the load starts; the counts are per load
    wrk -t1 -c64 -d"${secs}s" "$@" "http://127.0.0.1:$port/" >"$tmp/wrk" 2>&1
    wait "$perf"
    reqs=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$tmp/wrk")
    count() { awk -F, -v e="$1" '$3 == e { print $1 }' "$tmp/perf"; }
    ew=$(count syscalls:sys_enter_epoll_wait)
    rd=$(count syscalls:sys_enter_read)
    sd=$(count syscalls:sys_enter_sendto)
    ac=$(count syscalls:sys_enter_accept4)
    ea=$(count syscalls:sys_exit_read)
    echo "$name: $reqs requests; epoll_wait $ew, read $rd (EAGAIN $ea), sendto $sd, accept4 $ac"
    awk -v r="$reqs" -v e="$ew" 'BEGIN { if (e > 0) printf "  %.1f requests per epoll_wait\n", r / e }'
}
measure "keep-alive"
measure "Connection: close" -H "Connection: close"
