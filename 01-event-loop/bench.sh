#!/bin/sh
# bench.sh: the loop against a thread per client, side by side (make bench).
#
# For 100, 1000 and 5000 connections, each server design gets the same two
# runs of the built-in load client:
#   idle  N connections that each said hello once, then the server's stats
#         (RSS, threads) while all N are open;
#   echo  N connections sending 10 pings each, one after the other, all at
#         once: round-trip p99, and the server's context switches meanwhile.
# Then where threads fail: 1000 clients against a server whose address space
# is capped at 4 GiB (ulimit -v), as a 32-bit process's would be. Then the
# chapter's two targets: 1000 idle connections cost the loop under
# 2 MiB of RSS over an empty server, and epoll holds 10,000 connections
# with an echo p99 under 50 ms.
#
# Figures, not pass/fail: it always exits 0 unless it could not run. The
# load client shares the machine's CPUs with the server, so absolute numbers
# drift; compare the columns of one run. Takes under a minute on a 2-core
# machine.
. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init event-loop-bench ./event-loop
spid=

val() { printf '%s\n' "$2" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

# capped ARGS...: become ./event-loop ARGS, its address space capped at
# $vlimit KiB (ulimit -v) when that is set. Run in the background, it is a
# subshell of its own, so the cap touches nothing else.
capped() {
    if [ -n "${vlimit:-}" ]; then ulimit -v "$vlimit"; fi
    exec ./event-loop "$@"
}
start_server() {
    rm -f "$tmp/server.log"
    start_fifo capped --port 0 --tick 0 "$@"
    spid=$bg_pid
    read_until "listening on" || { echo "server did not start: $*" >&2; exit 1; }
    port=$(port_in "$line")
    # Keep draining its output (refusals, errors) into the log.
    cat <&3 >>"$tmp/server.log" &
    exec 3<&-
}
stop_server() {
    kill -TERM "$spid"
    wait "$spid"
    spid=
    wait 2>/dev/null # the drain
}
stats() { ./event-loop client --port "$port" stats | sed 's/^.*  stats/stats/'; }

hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
ulimit -n "$hard" 2>/dev/null

# The loop backend past FD_SETSIZE: epoll on Linux, poll elsewhere.
big=poll
[ "$(uname -s)" = Linux ] && big=epoll

echo "=== bench 01-event-loop: loop vs thread per connection"
echo "cpus: $(getconf _NPROCESSORS_ONLN)   kernel: $(uname -sr)   compiler: $(${CC:-cc} --version 2>/dev/null | head -1)"
nproc_limit=$(awk '/^Max processes/ { print $3 }' /proc/self/limits 2>/dev/null)
echo "fd limit: $hard   max user processes: ${nproc_limit:-?}   threads-max: $(cat /proc/sys/kernel/threads-max 2>/dev/null || echo '?')"
echo "stack per thread (ulimit -s): $(ulimit -s) KiB of address space"
echo

printf '%-14s %6s %9s %10s %12s %9s %9s %9s  %s\n' \
    server conns threads "RSS empty" "RSS N idle" "p50 ms" "p99 ms" "ctxsw" "notes"
threads_failed=
for n in 100 1000 5000; do
    for mode in select poll epoll threads; do
        case $mode in
        threads) args="--threads"; label="threads" ;;
        *) args="--backend $mode"; label="loop/$mode" ;;
        esac
        if [ $mode = epoll ] && [ $big != epoll ]; then
            printf '%-14s %6s %s\n' "$label" "$n" "  -- epoll is Linux only"
            continue
        fi
        if [ $mode = select ] && [ "$n" -ge 1000 ]; then
            printf '%-14s %6s %s\n' "$label" "$n" "  -- select cannot watch fd >= FD_SETSIZE (1024): see make demo"
            continue
        fi
        if [ $((n + 100)) -gt "$hard" ]; then
            printf '%-14s %6s %s\n' "$label" "$n" "  -- skipped: the hard fd limit is $hard"
            continue
        fi
        # shellcheck disable=SC2086
        start_server $args
        empty=$(stats)
        note=
        ./event-loop load --port "$port" --conns "$n" --msgs 0 >"$tmp/idle" 2>&1 ||
            note="idle run incomplete"
        idle=$(sed -n 's/.*server: //p' "$tmp/idle")
        before=$(stats)
        ./event-loop load --port "$port" --conns "$n" --msgs 10 --timeout 120 >"$tmp/echo" 2>&1 ||
            note="echo run incomplete: $(sed -n 's/.*connections: //p' "$tmp/echo")"
        after=$(sed -n 's/.*server: //p' "$tmp/echo")
        p50=$(sed -n 's/.* p50 \([0-9.]*\) ms.*/\1/p' "$tmp/echo")
        p99=$(sed -n 's/.* p99 \([0-9.]*\) ms.*/\1/p' "$tmp/echo")
        cs=$(( $(val ctxsw_voluntary "$after") + $(val ctxsw_involuntary "$after") \
             - $(val ctxsw_voluntary "$before") - $(val ctxsw_involuntary "$before") ))
        printf '%-14s %6s %9s %9sK %11sK %9s %9s %9s  %s\n' "$label" "$n" \
            "$(val threads "$idle")" "$(val rss_kib "$empty")" "$(val rss_kib "$idle")" \
            "${p50:--}" "${p99:--}" "$cs" "$note"
        if [ -n "$note" ] && [ $mode = threads ]; then
            threads_failed="$threads_failed
  at $n connections: $(grep -h 'first \(refusal\|failure\)' "$tmp/idle" "$tmp/echo" | head -2 | tr '\n' ' ')
  server log: $(grep -m1 'cannot create a thread' "$tmp/server.log")"
        fi
        eval "idle_${mode}_${n}=\$(( \$(val rss_kib \"\$idle\") - \$(val rss_kib \"\$empty\") ))"
        stop_server
    done
done
echo
echo "RSS N idle: the server's resident memory with N connections open; ctxsw: voluntary +"
echo "involuntary context switches of the server during the echo run (N x 10 round trips)."
if [ -n "$threads_failed" ]; then
    echo "Where one thread per connection failed:$threads_failed"
else
    echo "One thread per connection did not fail at these sizes here. What would stop it:"
    echo "the max user processes limit (threads count as processes), kernel.threads-max, and the address space"
    echo "for the stacks: 5000 x $(ulimit -s) KiB reserved, of which only touched pages are resident."
fi
echo

# Threads fail on address space long before memory: each reserves a whole
# stack. Cap the address space at 4 GiB, as a 32-bit process would have.
echo "--- where one thread per connection fails: a 4 GiB address space (ulimit -v 4194304)"
vlimit=4194304
for args in "--backend $big" "--threads"; do
    # shellcheck disable=SC2086
    start_server $args
    ./event-loop load --port "$port" --conns 1000 --msgs 1 >"$tmp/vm" 2>&1
    printf '%-16s %s\n' "${args#--backend }" "$(sed -n 's/.*connections: //p' "$tmp/vm")"
    sed -n 's/.*first refusal: /                 first refusal: /p' "$tmp/vm"
    sed -n 's/.*server: stats.*\( threads=[0-9]*\) rss_kib=\([0-9]*\) vsz_kib=\([0-9]*\).*/                \1, RSS \2 KiB, address space \3 KiB/p' "$tmp/vm"
    served=$(sed -n 's/.* asked, \([0-9]*\) served.*/\1/p' "$tmp/vm")
    case $args in --threads) vm_threads=$served ;; *) vm_loop=$served ;; esac
    stop_server
done
vlimit=
if [ "${vm_threads:-0}" -lt 1000 ]; then
    echo "The threads ran out of address space ($(ulimit -s) KiB of stack each), not of memory:"
    echo "RSS stayed small."
else
    echo "The threads did not run out here: each thread reserves only $(ulimit -s) KiB of stack."
fi
if [ "${vm_loop:-0}" -eq 1000 ]; then
    echo "The loop served every client under the same limit."
fi
echo

echo "--- targets"
d=${idle_epoll_1000:-}
if [ -n "$d" ]; then
    verdict=missed
    [ "$d" -lt 2048 ] && verdict=met
    echo "1000 idle connections cost the loop (epoll) $d KiB of RSS over an empty server (target < 2048 KiB): $verdict"
fi
d=${idle_poll_1000:-}
[ -n "$d" ] && echo "  (poll: $d KiB)"

conns=10000
if [ "$hard" -lt $((conns + 200)) ]; then
    conns=$((hard - 200))
    echo "(the hard fd limit is $hard: 10,000 scaled down to $conns)"
fi
start_server --backend $big
./event-loop load --port "$port" --conns "$conns" --msgs 5 --interval 1000 --timeout 120 >"$tmp/paced" 2>&1
./event-loop load --port "$port" --conns "$conns" --msgs 5 --timeout 120 >"$tmp/burst" 2>&1
stop_server
p99=$(sed -n 's/.* p99 \([0-9.]*\) ms.*/\1/p' "$tmp/paced")
served=$(sed -n 's/.* asked, \([0-9]*\) served.*/\1/p' "$tmp/paced")
verdict=missed
[ "$served" = "$conns" ] && [ -n "$p99" ] &&
    awk -v p="$p99" 'BEGIN { exit !(p < 50) }' && verdict=met
echo "$big, $conns connections, each sending 1 ping per second ($conns pings/s): $served served, p99 $p99 ms (target < 50 ms): $verdict"
sed 's/^/  /' "$tmp/paced"
echo "the same $conns connections all pinging back-to-back at once (a burst, not a steady load):"
sed 's/^/  /' "$tmp/burst"
echo
echo "A burst queues $conns requests behind each other on one thread: its p99 is the time"
echo "to work through the queue, not the latency of a steady load."
