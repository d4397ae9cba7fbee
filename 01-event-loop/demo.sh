#!/bin/sh
# demo.sh: the classroom tour of chapter 01 (make demo). A few seconds.
#
#   1. 1000 idle clients against the loop and against --threads: memory,
#      threads and context switches of the server, side by side.
#   2. The loop's weak point: client A asks for `busy 1000`, and client B's
#      ping goes from well under a millisecond to about a second.
#   3. The FD_SETSIZE wall of select(2), then 10,000 connections on epoll.
#
# It needs only ./event-loop and a POSIX shell. Every server's output is
# read through a FIFO, so the script waits for the server's own lines
# ("listening on", "the loop is blocked") instead of sleeping. It exits
# non-zero if something it shows did not happen, and kills what it started.
. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init event-loop-demo ./event-loop
# If a line we wait for never comes, end the demo (failed) after two
# minutes rather than hang a classroom or a CI run.
watchdog 120

fail() {
    echo "DEMO FAILED: $*"
    exit 1
}
# The value of key=value in a stats line: val KEY "LINE"
val() { printf '%s\n' "$2" | sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

# start_server ARGS...: run ./event-loop on a free port with its output on
# fd 3 (a FIFO), and wait for its "listening on" line. Sets $port, $spid.
start_server() {
    start_fifo ./event-loop --port 0 "$@"
    spid=$bg_pid
    read_until "listening on" || fail "the server did not start: ./event-loop $*"
    port=$(port_in "$line")
}

stop_server() {
    kill -TERM "$spid"
    cat <&3 >>"$tmp/server.log"
    wait "$spid" || fail "the server did not exit 0 on SIGTERM"
    spid=
    exec 3<&-
}

client() { ./event-loop client --port "$port" "$@"; }

# The soft fd limit is raised to the hard one: parts 1 and 3 need more
# than the usual 1024. Children inherit it.
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
ulimit -n "$hard" 2>/dev/null || fail "ulimit -n $hard"

say "=== 01-event-loop: one thread and a loop, or a thread per client ($(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?') CPUs)"

# ---------------------------------------------------------------------------
idle=1000
if [ "$hard" -lt 1100 ]; then
    idle=$((hard - 100))
    say "(The hard fd limit is $hard: part 1 uses $idle clients instead of 1000.)"
fi
step "--- 1. $idle idle clients: the loop against one thread per client"
for mode in loop threads; do
    if [ $mode = loop ]; then start_server --tick 0; else start_server --tick 0 --threads; fi
    empty=$(client stats) || fail "stats"
    empty=${empty#*  }
    ./event-loop load --port "$port" --conns "$idle" --msgs 0 >"$tmp/load" || {
        cat "$tmp/load"
        fail "$idle clients against $mode"
    }
    full=$(sed -n 's/.*server: //p' "$tmp/load")
    eval "${mode}_empty_rss=\$(val rss_kib \"\$empty\")"
    eval "${mode}_rss=\$(val rss_kib \"\$full\")"
    eval "${mode}_vsz=\$(val vsz_kib \"\$full\")"
    eval "${mode}_threads=\$(val threads \"\$full\")"
    eval "${mode}_vcs=\$(val ctxsw_voluntary \"\$full\")"
    eval "${mode}_ics=\$(val ctxsw_involuntary \"\$full\")"
    stop_server
done
printf '%-36s %16s %16s\n' "server process, $idle idle clients" "loop" "--threads"
printf '%-36s %16s %16s\n' "threads" "$loop_threads" "$threads_threads"
printf '%-36s %16s %16s\n' "resident memory (RSS), no clients" "$(mib "$loop_empty_rss")" "$(mib "$threads_empty_rss")"
printf '%-36s %16s %16s\n' "resident memory (RSS), $idle clients" "$(mib "$loop_rss")" "$(mib "$threads_rss")"
printf '%-36s %16s %16s\n' "virtual size (VmSize), $idle clients" "$(mib "$loop_vsz")" "$(mib "$threads_vsz")"
printf '%-36s %16s %16s\n' "context switches, voluntary" "$loop_vcs" "$threads_vcs"
printf '%-36s %16s %16s\n' "context switches, involuntary" "$loop_ics" "$threads_ics"
say
say "Notice: the loop serves $idle clients on 1 thread for $(( (loop_rss - loop_empty_rss) ))" \
    "KiB more than an empty server. --threads runs $threads_threads threads: each reserved an" \
    "8 MiB stack (that is the huge virtual size), but only the pages a thread touched are" \
    "resident, so the real cost is the RSS line," \
    "$(( (threads_rss - threads_empty_rss) / idle )) KiB per thread, plus one kernel task each."
[ "$loop_threads" -eq 1 ] || fail "the loop server ran $loop_threads threads"
[ "$threads_threads" -gt "$idle" ] || fail "--threads ran only $threads_threads threads"
[ "$threads_rss" -gt "$loop_rss" ] || fail "threads did not cost more memory than the loop"

# ---------------------------------------------------------------------------
step "--- 2. CPU work blocks the loop"
# A tick every 250 ms (not the default second), so that a 1-second busy
# request always swallows several ticks, wherever it starts.
start_server --tick 250
say "client B pings the idle server:"
client ping || fail "ping"
say "client A now sends 'busy 1000' (1 s of CPU inside the server); B pings again:"
client "busy 1000" >"$tmp/a" &
apid=$!
read_until "the loop is blocked" || fail "the server did not start the busy request"
say "  server: $line"
client ping >"$tmp/b" || fail "ping during busy"
cat "$tmp/b"
wait "$apid" || fail "client A"
sed 's/^/  A got: /' "$tmp/a"
b_ms=$(sed -n 's/^\[client [0-9]*\] \([0-9]*\)\..*/\1/p' "$tmp/b")
read_until "the loop was blocked" || fail "no late tick"
say "  server: $line"
say
say "Notice: B's ping waited ${b_ms} ms for A's computation: one thread means one thing at" \
    "a time, and the server's own 250 ms tick stalled as well. With --threads, only A's" \
    "own thread would be busy (try: ./event-loop --threads)."
[ "$b_ms" -ge 500 ] || fail "B's ping was not delayed by busy (${b_ms} ms)"
stop_server

# ---------------------------------------------------------------------------
step "--- 3. The FD_SETSIZE wall, and past it"
if [ "$hard" -lt 1300 ]; then
    say "The hard fd limit here is $hard, too low to reach FD_SETSIZE: skipping part 3."
    say "(Raise it with: ulimit -Hn, or in /etc/security/limits.conf.)"
    exit 0
fi
start_server --backend select --tick 0
say "select(2) can only watch fds 0..1023. 1100 clients connect to the select server:"
./event-loop load --port "$port" --conns 1100 --msgs 1 >"$tmp/load"
sed 's/^/  /' "$tmp/load" | grep -v "first failure" | fit
refused=$(sed -n 's/.* served, \([0-9]*\) refused.*/\1/p' "$tmp/load")
read_until "refused a connection" || fail "no refusal logged"
say "  server: $line"
client ping >/dev/null || fail "the select server stopped serving after the wall"
say "  ...and the server still answers others: $(client ping)"
[ "${refused:-0}" -gt 0 ] || fail "select refused nothing"
stop_server
say

conns=10000
if [ "$hard" -lt $((conns + 200)) ]; then
    conns=$((hard - 200))
    say "(The hard fd limit is $hard: scaling 10,000 down to $conns connections.)"
fi
# epoll is Linux only; elsewhere poll(2) gets past the wall too.
if [ "$(uname -s)" = Linux ]; then
    big=epoll
    why="Linux; its interest list lives in the kernel"
else
    big=poll
    why="no FD_SETSIZE wall, but every fd crosses into the kernel on each call"
fi
start_server --backend $big --tick 0
say "Now $big ($why) with $conns clients, one echo each:"
./event-loop load --port "$port" --conns "$conns" --msgs 1 --timeout 60 >"$tmp/load" || {
    cat "$tmp/load"
    fail "$conns connections on $big"
}
sed 's/^/  /' "$tmp/load" | fit
stop_server
say
say "Notice: the same one-thread server holds $conns connections once it stops asking" \
    "select(), and costs a few MiB for them. Per-call cost: select and poll scan every fd," \
    "epoll reports only the ready ones (compare them with: make bench)."
say
say "demo: all three parts happened as described."
