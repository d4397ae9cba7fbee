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

. "$(dirname "$0")/../testkit/demo-lib.sh"
lib_init fork-demo ./fork
show_output=1 # read_until shows the program's lines behind "    | "

fail() {
    echo
    echo "DEMO FAILED: $*"
    exit 1
}

# wait_for TEXT...: show the program's output until a line contains one of
# the TEXTs (left in $line).
wait_for() {
    read_until "$@" || fail "the program ended before printing a line with: $*"
}

# PID from a `listening on HOST:PORT (pid N)` line in $line.
line_pid() { printf '%s\n' "$line" | sed -n 's/.*listening on .* (pid \([0-9]*\)).*/\1/p'; }

# One GET / per port: with curl if the machine has it, else with the tiny
# client built into ./fork.
request() {
    if command -v curl >/dev/null 2>&1; then
        show_cmd curl -s --max-time 5 "http://127.0.0.1:$1/"
        body=$(curl -s --max-time 5 "http://127.0.0.1:$1/")
    else
        show_cmd ./fork get "$1"
        body=$(./fork get "$1" | sed -n '$p')
    fi
    echo "  $body"
    [ "$body" = "Hello World." ] || fail "port $1 did not answer Hello World."
}

# ---------------------------------------------------------------------------
step "Step 1. A master forks 2 workers. Each binds port 0, so the kernel picks" \
    "a free port, and prints the port it got. Notice the three pids."
# The output goes through a named pipe, so the script can read it line by
# line while the master keeps running.
show_cmd ./fork --workers 2
start_fifo ./fork --workers 2
master=$bg_pid
# A watchdog, so that a broken build can never hang a class or CI.
watchdog 60

wait_for 'listening on'
port1=$(port_in "$line")
pid1=$(line_pid)
wait_for 'listening on'
port2=$(port_in "$line")
pid2=$(line_pid)
[ "$port1" != "$port2" ] || fail "two workers on one port"

echo
say "Each worker answers on its own port (the post's work.js, done right):"
request "$port1"
wait_for "[worker $pid1] GET / "
request "$port2"
wait_for "[worker $pid2] GET / "

# ---------------------------------------------------------------------------
step "Step 2. kill -9 worker $pid1. The master hears SIGCHLD through its event" \
    "loop, reaps the worker and forks a replacement, naming both pids."
run kill -9 "$pid1" || fail "kill -9 $pid1"
# After the fork, the new worker's `listening on` line and the master's
# `replaced` line race each other: wait for both, in whichever order.
new=
port3=
while [ -z "$new" ] || [ -z "$port3" ]; do
    wait_for "replaced: pid $pid1 -> pid" "listening on"
    case $line in
    *"replaced: pid $pid1 -> pid"*)
        new=$(printf '%s\n' "$line" | sed -n 's/.*-> pid \([0-9]*\).*/\1/p') ;;
    *)
        port3=$(port_in "$line")
        pid3=$(line_pid) ;;
    esac
done
[ "$pid3" = "$new" ] || fail "the worker listening ($pid3) is not the replacement ($new)"
echo
say "The new worker $pid3 serves on its own new port:"
request "$port3"
wait_for "[worker $pid3] GET / "

# ---------------------------------------------------------------------------
step "Step 3. SIGTERM to the master. It sends SIGTERM to each worker, reaps" \
    "them (it would SIGKILL any still running after 5 s) and exits with 0."
run kill -TERM "$master" || fail "kill -TERM $master"
read_until || : # the rest of its output, to the end
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
step "Step 4. What a fork costs. The post says 'at least 30mm 10MB', garbled from" \
    "old Node docs (30 ms and 10 MB to start a whole new Node). A C fork copies" \
    "page tables, not memory, so its cost grows with the parent's size, while" \
    "vfork and posix_spawn stay flat. Then copy-on-write: right after fork the" \
    "child's Private_Dirty is about 0, and it grows by exactly what it writes."
set -- ./fork cost --sizes 1,512
show_cmd "$@"
"$@" >"$tmp/cost" 2>&1
status=$?
pid_tag=$(sed -n 's/^\(\[cost [0-9]*\]\).*/\1/p' "$tmp/cost" | head -n 1)
echo "(its output, without the $pid_tag at the start of each line, so that the tables fit)"
sed 's/^\[cost [0-9]*\] \{0,1\}//; s/^/  | /' "$tmp/cost" | fit '^  \| '
[ "$status" -eq 0 ] || fail "fork cost exited with $status"
# The CPU the parent spends inside fork() (column 9): unlike the wall time,
# it does not include waiting for the child to get a CPU on a busy machine.
small=$(awk '$3 == "1" && $4 == "MiB" { print $9 }' "$tmp/cost")
big=$(awk '$3 == "512" && $4 == "MiB" { print $9 }' "$tmp/cost")
[ -n "$small" ] && [ -n "$big" ] || fail "fork cost did not print both rows"
ratio=$(awk -v a="$big" -v b="$small" 'BEGIN { printf "%.0f", a / b }')
echo
say "Inside fork() the parent spent $big ms of CPU at 512 MiB, $ratio times" \
    "the $small ms at 1 MiB: copying page tables."
awk -v a="$big" -v b="$small" 'BEGIN { exit !(a > b) }' ||
    fail "fork did not cost more with the bigger parent"

echo
echo "Demo complete."
