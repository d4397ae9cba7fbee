# Exercise 7: a new mode, flock-lock: the workers take turns at the
# listener under a flock(2) lock, as Apache's `AcceptMutex flock` does.
# One worker holds the lock and sleeps in accept(); the others sleep
# waiting for the lock.
#
# hint: add a herd_mode flock-lock to modes.c and to herd_modes[], like
# fcntl-lock but with flock(LOCK_EX) and flock(LOCK_UN); a flock() lock
# belongs to the open file description, so each worker must open the lock
# file itself (worker_init) instead of using the one fd it inherited; README
# exercise 7
#
# timeout: 30
#
# First a run of 100 connections one at a time: all served, one return
# from the wait per connection and no failed accept (only the holder waits
# on the socket). Then the server idle (--serve): /proc/locks must show one
# FLOCK lock held by a worker and the 3 others queued behind it ("->"), and
# the holder asleep in accept (its /proc/PID/wchan). Workers that all used
# the fd they inherited would all "hold" the lock at once and all sleep in
# accept().
. "$(dirname "$0")/row.sh"

run_mode flock-lock --workers 4 --connections 100 || exit 1
all_served 100 || exit 1
if ! at_least "$ret" 0.9 || ! at_least 1.1 "$ret" || [ "$eagain" != 0 ]; then
    echo "expected one return from the wait per connection and no EAGAIN (only the" \
        "holder waits on the socket), got ret/conn $ret, EAGAIN $eagain"
    exit 1
fi

log=${GRADE_TMP:-/tmp}/serve.log
./thundering-herd --mode flock-lock --workers 4 --serve >"$log" 2>&1 &
master=$!
trap 'kill "$master" 2>/dev/null; wait "$master" 2>/dev/null' EXIT

# The workers: the master's children, once all 4 are asleep (state S).
workers=
i=0
while [ $i -lt 100 ]; do
    workers=$(awk -v m="$master" '$4 == m && $3 == "S" { print $1 }' /proc/[0-9]*/stat 2>/dev/null)
    [ "$(echo "$workers" | grep -c .)" -eq 4 ] && grep -q 'listening on' "$log" && break
    sleep 0.1
    i=$((i + 1))
done
if [ "$(echo "$workers" | grep -c .)" -ne 4 ]; then
    cat "$log"
    echo "expected 4 workers of --mode flock-lock --serve asleep within 10 s, got" \
        "$(echo "$workers" | grep -c .)"
    exit 1
fi
sleep 0.2 # a worker that fell asleep last may still be on its way to the lock

# /proc/locks: "1: FLOCK  ADVISORY  WRITE PID ..." for the holder,
# "1: -> FLOCK  ADVISORY  WRITE PID ..." for each one blocked on it.
held=0
queued=0
holder=
for w in $workers; do
    if grep -q "^[0-9]*: FLOCK  *ADVISORY  *WRITE $w " /proc/locks; then
        held=$((held + 1))
        holder=$w
    fi
    grep -q "^[0-9]*: *-> FLOCK  *ADVISORY  *WRITE $w " /proc/locks && queued=$((queued + 1))
done
if [ $held -ne 1 ] || [ $queued -ne 3 ]; then
    grep FLOCK /proc/locks | head -n 8
    echo "expected in /proc/locks one worker holding a FLOCK lock and 3 waiting for it," \
        "got $held holding and $queued waiting"
    exit 1
fi
wchan=$(cat "/proc/$holder/wchan" 2>/dev/null)
case $wchan in
*accept*) ;;
"" | 0) ;; # a kernel that does not say
*)
    echo "expected the holder of the lock asleep in accept(), got it in $wchan"
    exit 1
    ;;
esac
exit 0
