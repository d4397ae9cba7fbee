#!/bin/sh
# demo.sh: the thundering herd, in three tables.
#
#   make demo        (or: sh ./demo.sh, from this directory)
#
# Every mode runs with the same 4 workers and the same load, three times:
#   1. sequential: one connection at a time, so every extra wakeup is waste;
#   2. concurrent: 8 clients at once;
#   3. concurrent, with worker 0 sleeping 50 ms on every connection.
# Each table is followed by the program's own "what to notice" (computed
# from the figures it just measured) and a line in plain words. The demo
# then checks that what it told you really happened, and exits 1 if not.
# It takes a few seconds; every process it starts has exited when it ends.

. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init herd-demo ./thundering-herd
PROG=./thundering-herd
failures=0
linux=0
[ "$(uname -s)" = Linux ] && linux=1

# Run the program, show its table (not its csv lines), keep the csv lines.
# Its notes are wrapped to 100 columns; the table is the narrow one
# (--narrow: no bars, no p50), whose rows fit 100 columns and are not wrapped.
show() {
    set -- "$PROG" --workers 4 --narrow --csv "$@"
    show_cmd "$@"
    echo "(its csv lines and its workers' listening lines are kept for the checks, not shown)"
    out=$("$@") || { echo "demo: $* failed"; exit 1; }
    printf '%s\n' "$out" | grep -v '^csv,' | grep -v 'listening on' |
        fit '^(mode  |[a-z-]+  +[0-9-])'
    csv=$(printf '%s\n' "$out" | grep '^csv,')
}

# field MODE N: field N of MODE's csv line (see report_csv in report.c):
# 4 served, 5 errors, 6 woken/conn, 7 ret/conn, 8 EAGAIN, 9 Jain,
# 13 p99, 15 stalled worker's share, 16.. accepts per worker.
field() {
    printf '%s\n' "$csv" | awk -F, -v m="$1" -v f="$2" '$2 == m { print $f }'
}

# check "what we claimed" AWK-CONDITION VALUE
check() {
    if awk -v x="$3" "BEGIN { exit !($2) }"; then
        echo "  ok: $1 ($3)"
    else
        echo "  NOT SEEN: $1 ($3)"
        failures=$((failures + 1))
    fi
}

step "=== 1. sequential: 200 connections, one at a time"
say "The tables below are the narrow ones (--narrow, to fit the screen): woken is woken/conn," \
    "ret is ret/conn; without --narrow the program adds a bar per worker and the p50."
show --connections 200
echo "In plain words: for each connection select, poll and epoll woke every idle"
echo "worker (woken/conn near 4, counted by the kernel), yet the program itself saw"
echo "far fewer returns (ret/conn between 1 and 2; EAGAIN counts the workers that"
echo "came back for nothing): most of the woken workers found the connection gone"
echo "and went back to sleep inside the kernel, without returning."
echo "Blocking accept, EPOLLEXCLUSIVE, SO_REUSEPORT and the rr-* masters woke exactly one."
echo "epoll-exclusive gave nearly everything to one worker; the rr-* masters and accept"
echo "took turns."
echo "The locks: a pthread mutex is a futex, whose unlock wakes one waiter (2: the"
echo "holder and that waiter). The fcntl() lock woke 2 or more (2.1 to 4.0 over runs"
echo "measured for the notes; it moves with the machine): its waiters queue behind one"
echo "another, and one that wakes and finds the lock taken again queues anew and wakes"
echo "those behind it, who sleep again too."
echo "nginx's try-lock woke only its holder (1), which kept the lock and took every"
echo "connection while the others waited out their delay."
echo
echo "checking what the table showed:"
if [ $linux = 1 ]; then
    for m in select poll epoll; do
        check "$m woke at least half of the 4 workers per connection" 'x >= 2' "$(field $m 6)"
    done
    for m in accept epoll-exclusive reuseport rr-when-served rr-on-ack; do
        check "$m woke one worker per connection" 'x >= 0.9 && x <= 1.1' "$(field $m 6)"
    done
    e=$(printf '%s\n' "$csv" | awk -F, '$2 == "epoll-exclusive" {
        m = 0; for (i = 16; i <= NF; i++) if ($i > m) m = $i; print m / $4 }')
    check "epoll-exclusive gave most connections to one worker" 'x >= 0.5' "$e"
    check "fcntl-lock woke the holder and at least the next waiter" 'x >= 1.9' \
        "$(field fcntl-lock 6)"
    check "pthread-mutex woke the holder and one waiter" 'x >= 1.5 && x <= 2.5' \
        "$(field pthread-mutex 6)"
    check "nginx-mutex woke one worker per connection" 'x <= 1.5' "$(field nginx-mutex 6)"
fi
for m in rr-when-served rr-on-ack; do
    check "$m spread them evenly (Jain index)" 'x >= 0.95' "$(field $m 9)"
done

step "=== 2. concurrent: 400 connections, 8 clients at once"
show --connections 400 --clients 8
echo "In plain words: under load a worker often finds the next connection already"
echo "queued and does not sleep at all, so every woken/conn figure drops, some below 1:"
echo "it now counts the sleeps that connections ended, not the workers each one woke."
echo "Which modes stay above 1.5 changes with the machine's load; the lines above"
echo "sort this run's figures."
echo
echo "checking what the table showed:"
locks="fcntl-lock nginx-mutex"
[ $linux = 1 ] && locks="$locks pthread-mutex"
for m in accept select poll rr-when-served rr-on-ack $locks; do
    check "$m answered all 400 connections" 'x == 400' "$(field $m 4)"
done

step "=== 3. concurrent, worker 0 stalls 50 ms on every connection"
show --connections 200 --clients 8 --stall-worker 50
echo "In plain words: a stalled worker is not waiting for connections, so every"
echo "mode where workers come and ask (accept, select, epoll, the blocking locks,"
echo "the master's free list in rr-when-served) passes it over. SO_REUSEPORT decides by a"
echo "hash of the client's address and port, keeps queueing a quarter of the"
echo "connections to the stalled worker, and those wait: look at its p99."
echo "nginx-mutex may feed it too: if the stalled worker holds the try-lock, it takes"
echo "it again after every connection until another worker's delay runs out."
echo "rr-on-ack, like Node's own primary (node-rr, when node is installed), counts a"
echo "worker free once it has acknowledged a connection, before serving it: the"
echo "stalled worker is handed the next one while it stalls, and that one waits for"
echo "the stall in progress and then its own (max ms about two stalls)."
echo
echo "checking what the table showed:"
for m in accept rr-when-served; do
    check "$m sent the stalled worker less than half a fair share" 'x < 0.125' "$(field $m 15)"
done
if [ $linux = 1 ]; then
    check "reuseport kept sending it connections" 'x >= 0.125' "$(field reuseport 15)"
    check "reuseport's p99 latency is several stalls long (ms)" 'x >= 100' "$(field reuseport 13)"
fi
echo

if [ "$failures" -gt 0 ]; then
    echo "demo: $failures thing(s) the tables should have shown did not happen"
    exit 1
fi
echo "demo: everything the tables showed was checked"
