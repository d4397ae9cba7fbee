#!/bin/sh
# demo.sh: the classroom tour of chapter 02, in four steps.
#
#   make demo        (or: sh ./demo.sh, from this directory, after make)
#
#   1. a master with 2 workers; each worker's port is requested once;
#   2. kill -9 on one worker: the master reaps it and forks a replacement;
#   3. SIGTERM to the master: the workers stop, are reaped, exit status 0;
#   4. fork cost with the parent at 1 MiB and at 512 MiB.
#
# The program's own output is shown indented behind "|". The script waits
# for the lines it needs (it never sleeps to synchronise), stops every
# process it started, and exits non-zero if something it shows did not
# happen. It gives up after 60 seconds.

set -u
cd "$(dirname "$0")" || exit 1

master=
watchdog=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fork-demo.XXXXXX") || exit 1

cleanup() {
    if [ -n "$master" ]; then kill -KILL "$master" 2>/dev/null; fi
    if [ -n "$watchdog" ]; then kill "$watchdog" 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
    echo
    echo "DEMO FAILED: $*"
    exit 1
}

say() { # a paragraph: a blank line, then each argument on a line of its own
    echo
    for l in "$@"; do echo "$l"; done
}

# Read the program's output line by line, showing each, until a line
# matches the extended regular expression $1. The line is left in $line.
wait_for() {
    while IFS= read -r line <&3; do
        echo "    | $line"
        if printf '%s\n' "$line" | grep -Eq -- "$1"; then
            return 0
        fi
    done
    fail "the program ended before printing a line like: $1"
}

field() { # field PORT|PID  -- from a `listening on HOST:PORT (pid N)` line
    case $1 in
    PORT) printf '%s\n' "$line" | sed -n 's/.*listening on .*:\([0-9]*\) (pid [0-9]*).*/\1/p' ;;
    PID) printf '%s\n' "$line" | sed -n 's/.*listening on .* (pid \([0-9]*\)).*/\1/p' ;;
    esac
}

# One GET / per port: with curl if the machine has it, else with the tiny
# client built into ./fork.
request() {
    if command -v curl >/dev/null 2>&1; then
        echo "  \$ curl -s http://127.0.0.1:$1/"
        body=$(curl -s --max-time 5 "http://127.0.0.1:$1/")
    else
        echo "  \$ ./fork get $1"
        body=$(./fork get "$1" | sed -n '$p')
    fi
    echo "  $body"
    [ "$body" = "Hello World." ] || fail "port $1 did not answer Hello World."
}

[ -x ./fork ] || fail "./fork is not built: run make first"

# The output goes through a named pipe, so the script can read it line by
# line while the master keeps running.
mkfifo "$tmp/out" || fail "mkfifo"

# ---------------------------------------------------------------------------
say "Step 1. A master forks 2 workers. Each binds port 0, so the kernel picks" \
    "a free port, and prints the port it got. Notice the three pids."
echo "  \$ ./fork --workers 2"
./fork --workers 2 >"$tmp/out" 2>&1 &
master=$!
exec 3<"$tmp/out"

# A watchdog, so that a broken build can never hang a class or CI.
(
    sleep 60 >/dev/null 2>&1 &
    s=$!
    trap 'kill $s 2>/dev/null; exit 0' TERM
    wait $s
    echo "demo: no progress for 60 s; stopping the master" >&2
    kill -KILL "$master" 2>/dev/null
) &
watchdog=$!

wait_for 'listening on'
port1=$(field PORT)
pid1=$(field PID)
wait_for 'listening on'
port2=$(field PORT)
pid2=$(field PID)
[ "$port1" != "$port2" ] || fail "two workers on one port"

say "Each worker answers on its own port (the post's work.js, done right):"
request "$port1"
wait_for "\\[worker $pid1\\] GET / "
request "$port2"
wait_for "\\[worker $pid2\\] GET / "

# ---------------------------------------------------------------------------
say "Step 2. kill -9 worker $pid1. The master hears SIGCHLD through its event" \
    "loop, reaps the worker and forks a replacement, naming both pids."
echo "  \$ kill -9 $pid1"
kill -9 "$pid1" || fail "kill -9 $pid1"
# After the fork, the new worker's `listening on` line and the master's
# `replaced` line race each other: wait for both, in whichever order.
new=
port3=
while [ -z "$new" ] || [ -z "$port3" ]; do
    wait_for "replaced: pid $pid1 -> pid|listening on"
    case $line in
    *"replaced: pid $pid1 -> pid"*)
        new=$(printf '%s\n' "$line" | sed -n 's/.*-> pid \([0-9]*\).*/\1/p') ;;
    *)
        port3=$(field PORT)
        pid3=$(field PID) ;;
    esac
done
[ "$pid3" = "$new" ] || fail "the worker listening ($pid3) is not the replacement ($new)"
say "The new worker $pid3 serves on its own new port:"
request "$port3"
wait_for "\\[worker $pid3\\] GET / "

# ---------------------------------------------------------------------------
say "Step 3. SIGTERM to the master. It sends SIGTERM to each worker, reaps" \
    "them (it would SIGKILL any still running after 5 s) and exits with 0."
echo "  \$ kill -TERM $master"
kill -TERM "$master" || fail "kill -TERM $master"
while IFS= read -r line <&3; do
    echo "    | $line"
done
wait "$master"
status=$?
master=
exec 3<&-
echo "  exit status of the master: $status"
[ "$status" -eq 0 ] || fail "the master exited with $status, not 0"
for p in "$pid2" "$pid3"; do
    if kill -0 "$p" 2>/dev/null; then
        fail "worker $p is still running"
    fi
done
echo "  no worker left running: kill -0 $pid2 and kill -0 $pid3 both fail."

# ---------------------------------------------------------------------------
say "Step 4. What a fork costs. The post says 'at least 30mm 10MB', garbled from" \
    "old Node docs (30 ms and 10 MB to start a whole new Node). A C fork copies" \
    "page tables, not memory, so its cost grows with the parent's size, while" \
    "vfork and posix_spawn stay flat. Then copy-on-write: right after fork the" \
    "child's Private_Dirty is about 0, and it grows by exactly what it writes."
echo "  \$ ./fork cost --sizes 1,512"
./fork cost --sizes 1,512 >"$tmp/cost" 2>&1
status=$?
sed 's/^/    | /' "$tmp/cost"
[ "$status" -eq 0 ] || fail "fork cost exited with $status"
# The CPU the parent spends inside fork() (column 9): unlike the wall time,
# it does not include waiting for the child to get a CPU on a busy machine.
small=$(awk '$3 == "1" && $4 == "MiB" { print $9 }' "$tmp/cost")
big=$(awk '$3 == "512" && $4 == "MiB" { print $9 }' "$tmp/cost")
[ -n "$small" ] && [ -n "$big" ] || fail "fork cost did not print both rows"
ratio=$(awk -v a="$big" -v b="$small" 'BEGIN { printf "%.0f", a / b }')
say "Inside fork() the parent spent $big ms of CPU at 512 MiB, $ratio times" \
    "the $small ms at 1 MiB: copying page tables."
awk -v a="$big" -v b="$small" 'BEGIN { exit !(a > b) }' ||
    fail "fork did not cost more with the bigger parent"

echo
echo "Demo complete."
